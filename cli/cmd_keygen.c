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
        "Copy each client's NAME.pub into the consumer's --allow-keys directory.\n\n"
        "exit codes: 0 written; 2 cannot write (NAME.key exists, permissions); 64 usage.\n");
}

int
ot_cmd_keygen(int argc, char **argv)
{
    static const struct option opts[] = {
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (ch == 'h') {
            s_help(stdout);
            return OT_EXIT_OK;
        }
        s_help(stderr);
        return OT_EXIT_USAGE;
    }
    if (optind != argc - 1) {
        s_help(stderr);
        return OT_EXIT_USAGE;
    }
    const char *base = argv[optind];
    ot_keypair kp;
    if (zmq_curve_keypair(kp.public_key, kp.secret_key) != 0) {
        fprintf(stderr, "optally keygen: this libzmq has no CURVE support: %s\n", zmq_strerror(errno));
        return OT_EXIT_FAILURE;
    }
    int rc = ot_keys_write(base, &kp);
    memset(&kp, 0, sizeof kp);
    if (rc != 0) {
        fprintf(stderr, "optally keygen: cannot write %s.key / %s.pub: %s%s\n", base, base, strerror(rc),
                rc == EEXIST ? " (refusing to overwrite a key; remove it first)" : "");
        return OT_EXIT_FAILURE;
    }
    printf("wrote %s.key (secret, 0600) and %s.pub (public)\n", base, base);
    return OT_EXIT_OK;
}
