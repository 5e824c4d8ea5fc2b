/*
 * cli_keys: the client side of CurveZMQ for the commands that connect to a
 * consumer (produce, log import, replay, subscribe): --curve-secret FILE
 * (this client's key pair) and --server-key FILE (the consumer's public
 * key), or env OPTALLY_CURVE_SECRET / OPTALLY_SERVER_KEY.
 */
#ifndef OT_CLI_KEYS_H
#define OT_CLI_KEYS_H

#include "ot_keys.h"

/* Read the client keys. cmd names the subcommand in messages ("produce").
 * OUT: *me, *server (zeroed when none are read). Returns 0 when none are
 * configured, 1 when both were read, -1 after printing what is wrong (a
 * usage error: exit 64). The caller wipes *me (explicit_bzero) once used.
 * What is printed (ot_keys_error_text gives each REASON):
 *   optally CMD: refusing key pair: permissions 0644 for 'F' are too open:
 *       a secret key must be readable by its owner only; chmod 600 F
 *   optally CMD: cannot read key pair F: REASON (make one with `optally keygen`)
 *   optally CMD: cannot read server key F: REASON */
int
ot_cli_client_keys(const char *cmd, const char *secret_file, const char *server_file,
                   ot_keypair *me, ot_keypair *server);

#endif
