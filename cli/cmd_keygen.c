/*
 * optally keygen: make a CURVE key pair for a consumer, a producer or a
 * subscriber. NAME.key holds both keys (0600); NAME.pub the public one, to
 * hand to the other side (a consumer's --allow-keys directory, or a
 * client's --server-key).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

#include "cli.h"
#include "ot_keys.h"

static void
s_help(FILE *f)
{
    fprintf(f,
        "usage: optally keygen NAME\n\n"
        "Write a CurveZMQ key pair: NAME.key (public and secret key, mode 0600, never\n"
        "overwritten) and NAME.pub (public key only, to share).\n\n"
        "  consumer:   optally consume --curve-secret server.key --allow-keys clients/\n"
        "  producer:   optally produce --curve-secret me.key --server-key server.pub ...\n"
        "  subscriber: optally subscribe --curve-secret me.key --server-key server.pub ...\n"
        "Copy each client's NAME.pub into the consumer's --allow-keys directory: only\n"
        "files named NAME.pub are read there (rename one, e.g. to NAME.pub.revoked, to\n"
        "take its key out). Keep NAME.key 0600: a key file that group or others may\n"
        "read is refused (as ssh does), with the chmod that fixes it.\n\n"
        "exit codes: 0 written; 2 cannot write (NAME.key exists, permissions); 64 usage.\n");
}

#define S_PROG "optally keygen"

/* keygen has no flag but --help. */
static int
s_flag(void *ctx, int c, const char *arg)
{
    (void)ctx;
    (void)c;
    (void)arg;
    return OT_CLI_FLAG_UNKNOWN;
}

/* Returns -1 to go on (NAME is argv[*name]), or the exit code. */
static int
s_parse(int argc, char **argv, int *name)
{
    static const struct option opts[] = { { NULL, 0, NULL, 0 } };
    static const ot_cli_parser parser = { S_PROG, "", opts, s_flag, s_help };
    int code = ot_cli_parse(&parser, argc, argv, NULL, name);
    if (code >= 0)
        return code;
    if (*name == argc)
        return ot_cli_usage_error(S_PROG, "which NAME? (writes NAME.key and NAME.pub)");
    if (*name < argc - 1)
        return ot_cli_usage_error(S_PROG, "unexpected argument '%s'", argv[*name + 1]);
    return -1;
}

int
ot_cmd_keygen(int argc, char **argv)
{
    int name;
    int code = s_parse(argc, argv, &name);
    if (code >= 0)
        return code;
    const char *base = argv[name];
    ot_keypair kp;
    if (zmq_curve_keypair(kp.public_key, kp.secret_key) != 0) {
        fprintf(stderr, "optally keygen: this libzmq has no CURVE support: %s\n", zmq_strerror(errno));
        return OT_EXIT_FAILURE;
    }
    int rc = ot_keys_write(base, &kp);
    explicit_bzero(&kp, sizeof kp);
    if (rc != 0) {
        fprintf(stderr, "optally keygen: cannot write %s.key / %s.pub: %s%s\n", base, base, strerror(rc),
                rc == EEXIST ? " (refusing to overwrite a key; remove it first)" : "");
        return OT_EXIT_FAILURE;
    }
    printf("wrote %s.key (secret, 0600) and %s.pub (public)\n", base, base);
    return OT_EXIT_OK;
}
