/*
 * producer_opts: the shared producer flags (contract in producer_opts.h).
 */
#include "producer_opts.h"

#include <errno.h>
#include <stdio.h>
#include <limits.h>
#include <string.h>

#include "args.h"
#include "cli.h"
#include "cli_keys.h"
#include "ot_error.h"
#include "ot_event.h"

/* The range of each numeric flag, by its getopt value. */
typedef struct s_range {
    int flag;
    const char *name;
    long lo, hi;
} s_range;

static const s_range s_ranges[] = {
    { OT_CLI_PO_BATCH, "--batch", 1, OT_BATCH_MAX_EVENTS },
    { OT_CLI_PO_TIMEOUT_MS, "--timeout-ms", 1, 86400000 },
    { OT_CLI_PO_RETRIES, "--retries", 0, 1000 },
    { OT_CLI_PO_WINDOW, "--window", 1, 1024 },
    { OT_CLI_PO_MAX_MSG_SIZE, "--max-msg-size", OT_PRODUCER_MIN_MAX_MSG, LONG_MAX },
};

void
ot_cli_popt_init(ot_cli_popt *po, const char *endpoint)
{
    memset(po, 0, sizeof *po);
    po->opt.endpoint = endpoint;
    po->opt.batch = 1000;
    po->opt.timeout_ms = 5000;
    po->opt.retries = 3;
    po->opt.window = 8;
}

/* A numeric flag: its value checked against s_ranges. */
static int
s_number(ot_cli_popt *po, const char *prog, int c, const char *arg)
{
    const s_range *r = s_ranges;
    while (r->flag != c)
        r++;
    long v;
    if (ot_cli_flag_long(prog, r->name, arg, r->lo, r->hi, &v))
        return OT_EXIT_USAGE;
    if (c == OT_CLI_PO_BATCH)
        po->opt.batch = (size_t)v;
    else if (c == OT_CLI_PO_TIMEOUT_MS)
        po->opt.timeout_ms = (int)v;
    else if (c == OT_CLI_PO_RETRIES)
        po->opt.retries = (int)v;
    else if (c == OT_CLI_PO_MAX_MSG_SIZE)
        po->opt.max_msg_size = v;
    else
        po->opt.window = (int)v;
    return 0;
}

int
ot_cli_popt_opt(ot_cli_popt *po, const char *prog, int c, const char *arg)
{
    switch (c) {
    case OT_CLI_PO_TO:
        po->opt.endpoint = arg;
        return 0;
    case OT_CLI_PO_CURVE_SECRET:
        po->curve_secret = arg;
        return 0;
    case OT_CLI_PO_SERVER_KEY:
        po->server_key = arg;
        return 0;
    default:
        return s_number(po, prog, c, arg);
    }
}

int
ot_cli_popt_keys(ot_cli_popt *po, const char *prog)
{
    /* cli_keys names the subcommand: "optally produce" -> "produce". */
    const char *cmd = strncmp(prog, "optally ", 8) == 0 ? prog + 8 : prog;
    int kc = ot_cli_client_keys(cmd, po->curve_secret, po->server_key, &po->me, &po->server);
    if (kc < 0)
        return OT_EXIT_USAGE;
    if (kc > 0) {
        po->opt.server_key = po->server.public_key;
        po->opt.client_public = po->me.public_key;
        po->opt.client_secret = po->me.secret_key;
    }
    return 0;
}

int
ot_cli_popt_open(ot_cli_popt *po, const char *prog, ot_producer **out)
{
    int rc = ot_producer_open(&po->opt, out);
    explicit_bzero(&po->me, sizeof po->me);   /* the producer keeps its own copy */
    po->opt.client_secret = NULL;
    if (rc == EINVAL)
        return ot_cli_usage_error(prog, "bad endpoint '%s'", po->opt.endpoint);
    if (rc != 0) {
        fprintf(stderr, "%s: cannot connect to %s: %s\n", prog, po->opt.endpoint, ot_strerror(rc));
        return OT_EXIT_FAILURE;
    }
    return 0;
}
