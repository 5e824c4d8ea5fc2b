/*
 * cli_keys: the client CURVE keys of a subcommand (contract in cli_keys.h).
 */
#include "cli_keys.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
ot_cli_client_keys(const char *cmd, const char *secret_file, const char *server_file,
                   ot_keypair *me, ot_keypair *server)
{
    memset(me, 0, sizeof *me);
    memset(server, 0, sizeof *server);
    if (!secret_file)
        secret_file = getenv("OPTALLY_CURVE_SECRET");
    if (!server_file)
        server_file = getenv("OPTALLY_SERVER_KEY");
    if (!secret_file && !server_file)
        return 0;
    if (!secret_file || !server_file) {
        fprintf(stderr, "optally %s: CURVE needs both --curve-secret (your NAME.key) and "
                "--server-key (the consumer's .pub)\n", cmd);
        return -1;
    }
    char why[512];
    int rc = ot_keys_read(secret_file, 1, me);
    if (rc == EPERM) {      /* the whole sentence, with the chmod that fixes it */
        fprintf(stderr, "optally %s: refusing key pair: %s\n", cmd,
                ot_keys_error_text(secret_file, 1, rc, why, sizeof why));
        return -1;
    }
    if (rc != 0) {
        fprintf(stderr, "optally %s: cannot read key pair %s: %s (make one with `optally keygen`)\n",
                cmd, secret_file, ot_keys_error_text(secret_file, 1, rc, why, sizeof why));
        return -1;
    }
    rc = ot_keys_read(server_file, 0, server);
    if (rc != 0) {
        fprintf(stderr, "optally %s: cannot read server key %s: %s\n", cmd, server_file,
                ot_keys_error_text(server_file, 0, rc, why, sizeof why));
        explicit_bzero(me, sizeof *me);
        return -1;
    }
    return 1;
}
