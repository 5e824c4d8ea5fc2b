/*
 * producer_opts: the producer flags shared by `produce`, `log import` and
 * `replay`, parsed once into an ot_producer_options, with the same ranges,
 * defaults and messages in every command:
 *
 *   --to ENDPOINT        the consumer (each command sets its own default)
 *   --batch N            events and figures per batch, 1..10000 (default 1000)
 *   --timeout-ms T       wait for one answer per attempt, 1..86400000 (5000)
 *   --retries R          resends of an unanswered batch, 0..1000 (3)
 *   --window W           batches in flight, 1..1024 (8)
 *   --curve-secret FILE  this client's key pair, with --server-key FILE
 *   --max-msg-size B     the consumer's --max-msg-size (4194304): batches stay
 *                        within it, a bigger event is rejected locally
 *
 * A command lists OT_CLI_PRODUCER_OPTIONS in its getopt_long() table, hands
 * every value c with OT_CLI_PRODUCER_FLAG(c) to ot_cli_popt_opt(), and opens
 * its producer with ot_cli_popt_open(). Its --help includes
 * OT_CLI_PRODUCER_HELP.
 */
#ifndef OT_CLI_PRODUCER_OPTS_H
#define OT_CLI_PRODUCER_OPTS_H

#include <getopt.h>

#include "ot_keys.h"
#include "ot_producer.h"

enum {
    OT_CLI_PO_TO = 0x100,
    OT_CLI_PO_BATCH,
    OT_CLI_PO_TIMEOUT_MS,
    OT_CLI_PO_RETRIES,
    OT_CLI_PO_WINDOW,
    OT_CLI_PO_CURVE_SECRET,
    OT_CLI_PO_SERVER_KEY,
    OT_CLI_PO_MAX_MSG_SIZE,
    OT_CLI_PO_END
};

#define OT_CLI_PRODUCER_OPTIONS \
    { "to", required_argument, NULL, OT_CLI_PO_TO }, \
    { "batch", required_argument, NULL, OT_CLI_PO_BATCH }, \
    { "timeout-ms", required_argument, NULL, OT_CLI_PO_TIMEOUT_MS }, \
    { "retries", required_argument, NULL, OT_CLI_PO_RETRIES }, \
    { "window", required_argument, NULL, OT_CLI_PO_WINDOW }, \
    { "curve-secret", required_argument, NULL, OT_CLI_PO_CURVE_SECRET }, \
    { "server-key", required_argument, NULL, OT_CLI_PO_SERVER_KEY }, \
    { "max-msg-size", required_argument, NULL, OT_CLI_PO_MAX_MSG_SIZE }

/* True when getopt value c is one of the shared producer flags. */
#define OT_CLI_PRODUCER_FLAG(c) ((c) >= OT_CLI_PO_TO && (c) < OT_CLI_PO_END)

/* The --help lines of the flags above but --to (its default differs per
 * command), aligned on column 21. */
#define OT_CLI_PRODUCER_HELP \
"  --batch N          events and figures per batch, 1..10000 (default 1000)\n" \
"  --timeout-ms T     wait for an answer per attempt, ms, 1..86400000\n" \
"                     (default 5000)\n" \
"  --retries R        resends of an unanswered batch, 0..1000 (default 3)\n" \
"  --window W         batches in flight, 1..1024 (default 8)\n" \
"  --max-msg-size B   the consumer's --max-msg-size, bytes, 1024..\n" \
"                     9223372036854775807 (default 4194304): batches stay within\n" \
"                     it; an event too big for one message is rejected here\n" \
"                     (STRING_TOO_LONG) and the rest is sent\n" \
"  --curve-secret FILE  this client's key pair (optally keygen) for a CURVE\n" \
"                     consumer; with --server-key FILE, the consumer's .pub\n" \
"                     (env OPTALLY_CURVE_SECRET, OPTALLY_SERVER_KEY)\n"

typedef struct ot_cli_popt {
    ot_producer_options opt;   /* the flags' values; on_result and ctx are the command's */
    const char *curve_secret;  /* --curve-secret FILE, borrowed from argv */
    const char *server_key;    /* --server-key FILE, borrowed from argv */
    ot_keypair me, server;     /* read by ot_cli_popt_keys, wiped by ot_cli_popt_open */
} ot_cli_popt;

/* The defaults: endpoint (may be NULL: then --to is required by the
 * command), batch 1000, timeout 5000 ms, 3 retries, window 8, no keys. */
void
ot_cli_popt_init(ot_cli_popt *po, const char *endpoint);

/* Take flag c (OT_CLI_PRODUCER_FLAG) with its value arg. Values are
 * borrowed: argv must outlive po. Returns 0, or OT_EXIT_USAGE after
 * printing "PROG: --FLAG takes LO..HI, not 'ARG'". */
int
ot_cli_popt_opt(ot_cli_popt *po, const char *prog, int c, const char *arg);

/* Read the CURVE keys the flags or the environment name (cli_keys.h) into
 * po->opt. Returns 0, or OT_EXIT_USAGE after printing what is wrong. */
int
ot_cli_popt_keys(ot_cli_popt *po, const char *prog);

/* Open the producer, then wipe po's copy of the secret key (the producer
 * keeps its own). OUT: *out. Returns 0, or an exit code after printing:
 * OT_EXIT_USAGE for an endpoint ZeroMQ does not understand, OT_EXIT_FAILURE
 * when the connection cannot be set up. */
int
ot_cli_popt_open(ot_cli_popt *po, const char *prog, ot_producer **out);

#endif
