/*
 * cli_keys: the client side of CurveZMQ for the commands that connect to a
 * consumer (produce, log import, replay, subscribe): --curve-secret FILE
 * (this client's key pair) and --server-key FILE (the consumer's public
 * key), or env OPTALLY_CURVE_SECRET / OPTALLY_SERVER_KEY.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

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
    int rc = ot_keys_read(secret_file, 1, me);
    if (rc != 0) {
        fprintf(stderr, "optally %s: cannot read key pair %s: %s (make one with `optally keygen`)\n",
                cmd, secret_file, rc == EINVAL ? "no public-key/secret-key lines" : strerror(rc));
        return -1;
    }
    rc = ot_keys_read(server_file, 0, server);
    if (rc != 0) {
        fprintf(stderr, "optally %s: cannot read server key %s: %s\n", cmd, server_file,
                rc == EINVAL ? "no public-key line" : strerror(rc));
        memset(me, 0, sizeof *me);
        return -1;
    }
    return 1;
}
