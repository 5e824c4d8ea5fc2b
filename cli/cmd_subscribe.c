/*
 * cmd_subscribe: `optally subscribe`, live tallies; a thin layer over
 * subscriber/ot_subscriber (which keeps the stream consistent). Here: the
 * options and the loop; the output formats are in sub_print.c.
 *
 * NAME
 *     optally subscribe - follow the tallies as the consumer commits changes
 *
 * SYNOPSIS
 *     optally subscribe [--from PUB,SNAPSHOT] [--view V | --prefix P | --figures]
 *                       [--format table|json] [--once]
 *                       [--snapshot-timeout-ms T] [--hwm N]
 *                       [--curve-secret FILE --server-key FILE]
 *
 * DESCRIPTION
 *     Takes a snapshot of the selected tallies from the consumer's snapshot
 *     service, then applies the consumer's published updates, in order.
 *     A gap in the update sequence, a silent stream (consumer down) or a
 *     sequence going backwards makes it re-snapshot on its own; stderr says
 *     why. So the rows printed since the last snapshot, with each update
 *     applied, always equal `optally query` as of the last sequence printed.
 *
 * OUTPUT
 *     json: JSON Lines. Each tally row (kind "snapshot") and each change
 *     (kind "update") is an object whose view, key fields and counters are
 *     exactly those of an `optally query --format json` row; extra keys
 *     carry the stream: kind, seq, and for updates view_seq, committed_at
 *     and delta. An update with all counters zero: the tally is gone.
 *     {"kind":"snapshot_end","seq":N,...} closes each snapshot;
 *     {"kind":"resync","reason":"..."} says the rows so far are void and a
 *     new snapshot follows.
 *     table: on a terminal, the query table redrawn in place; otherwise the
 *     snapshot as `optally query` prints it, then one line per change.
 *
 *     --figures: point-in-time figures instead of tallies, as the consumer
 *     stores (or supersedes) them; there is no snapshot. json: the row of
 *     `optally figures --format json` plus "kind":"figure", "log_seq",
 *     "figure_seq", "committed_at"; table: one line per figure,
 *         figure_seq N METRIC SCOPE AS_OF VALUE QUALIFIER [low=N] [high=N]
 *         UNIT source=SOURCE id=FIGURE_ID log_seq=N
 *     A figure_seq that is not the last one + 1 (figures missed) is said on
 *     stderr: "optally subscribe: figure_seq gap: expected N, got M (...)".
 *
 * EXIT STATUS
 *     0 after --once, or on SIGINT/SIGTERM; 2 the snapshot service never
 *     answered (--once, after the retries) or another runtime failure;
 *     64 usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cli_keys.h"
#include "ot_error.h"
#include "ot_subscriber.h"
#include "ot_view.h"
#include "sub_print.h"
#include "tally_print.h"

#define S_PROG           "optally subscribe"
#define S_ONCE_TRIES     3      /* snapshot attempts of --once before exit 2 */
#define S_WAIT_MS        250    /* longest wait in next(): signals, redraws */

static volatile sig_atomic_t s_stop;

static void
s_on_signal(int sig)
{
    (void)sig;
    s_stop = 1;
}

/* The command line. */
typedef struct s_args {
    ot_subscriber_options so;
    char from[1024];                /* --from's copy, split at the comma */
    const char *curve_secret, *server_key;
    bool json, once;
} s_args;

static void
s_help(FILE *f)
{
    fprintf(f,
        "usage: optally subscribe [--from PUB,SNAPSHOT] [--view V | --prefix P | --figures]\n"
        "                         [--format table|json] [--once] [--snapshot-timeout-ms T]\n"
        "                         [--hwm N] [--curve-secret FILE --server-key FILE]\n\n"
        "Follow the tallies live: take a consistent snapshot from the consumer's\n"
        "snapshot service, then apply every committed change it publishes, in order.\n"
        "A gap in the update sequence (a dropped update), a silent stream (consumer\n"
        "down or restarted) or a sequence going backwards makes it re-snapshot by\n"
        "itself, saying why on stderr; the output then always equals `optally query`.\n\n"
        "options:\n"
        "  --from PUB,SNAPSHOT  the consumer's update (PUB) and snapshot endpoints (default\n"
        "                       tcp://127.0.0.1:7711,tcp://127.0.0.1:7712; env\n"
        "                       OPTALLY_PUBLISH and OPTALLY_SNAPSHOT)\n"
        "  --view V             one view only; views:%s, and those declared\n"
        "                       with `optally view add` (the consumer refuses a view it\n"
        "                       does not have: exit 64 with its message)\n"
        "  --prefix P           only tallies whose key starts with P, e.g.\n"
        "                       'country,quarter/IQ/' (keys: view/value/value)\n"
        "  --figures            point-in-time figures instead of tallies, each as it is\n"
        "                       stored or superseded (no snapshot: `optally figures` has\n"
        "                       the current ones). json: the row of `optally figures\n"
        "                       --format json` plus kind \"figure\", log_seq, figure_seq,\n"
        "                       committed_at; table: one line per figure. A gap in\n"
        "                       figure_seq (figures missed) is said on stderr\n"
        "  --format F           table (default: redrawn in place on a terminal, else the\n"
        "                       snapshot as query prints it and one line per change) or\n"
        "                       json (JSON Lines: rows shaped as `optally query --format\n"
        "                       json` rows plus kind \"snapshot\"|\"update\", seq; for updates\n"
        "                       view_seq, committed_at, delta; then {\"kind\":\"snapshot_end\",\n"
        "                       \"seq\":N} after each snapshot, {\"kind\":\"resync\",\"reason\":..}\n"
        "                       before a new one; an update with all counters 0: tally gone)\n"
        "  --once               print the snapshot (the rows query prints) and exit\n"
        "  --snapshot-timeout-ms T  wait for a snapshot this long before asking again on a\n"
        "                       fresh connection (default 2000; --once tries %d times)\n"
        "  --hwm N              updates queued on the update socket before they are dropped\n"
        "                       (then re-snapshot); default 100000\n"
        "  --curve-secret FILE  this client's key pair (optally keygen) for a CURVE consumer;\n"
        "                       with --server-key FILE, the consumer's .pub (env\n"
        "                       OPTALLY_CURVE_SECRET, OPTALLY_SERVER_KEY); the consumer must\n"
        "                       allow the key for subscribers\n"
        "  -h, --help           this text\n\n"
        OT_CLI_CELL_HELP "\n"
        "exit codes: 0 after --once, or on SIGINT/SIGTERM; 2 the snapshot service never\n"
        "answered (--once) or another runtime failure; 64 usage error (also an unknown view\n"
        "or a prefix no key can start with, as the consumer says).\n", ot_cli_view_names(),
        S_ONCE_TRIES);
}

/* --from PUB,SNAPSHOT into a->from. Returns 0 or OT_EXIT_USAGE (told). */
static int
s_parse_from(s_args *a, const char *arg)
{
    const char *comma = strchr(arg, ',');
    if (!comma || comma == arg || !comma[1] || strchr(comma + 1, ',') ||
        strlen(arg) >= sizeof a->from)
        return ot_cli_usage_error(S_PROG, "--from takes PUB_ENDPOINT,SNAPSHOT_ENDPOINT, not '%s'",
                                  arg);
    memcpy(a->from, arg, strlen(arg) + 1);
    a->from[comma - arg] = 0;
    a->so.updates = a->from;
    a->so.snapshot = a->from + (comma - arg) + 1;
    return 0;
}

/* A flag with an int value in [lo, hi]. Returns 0 or OT_EXIT_USAGE. */
static int
s_int_flag(const char *flag, const char *arg, long lo, long hi, int *out)
{
    long v;
    if (ot_cli_flag_long(S_PROG, flag, arg, lo, hi, &v))
        return OT_EXIT_USAGE;
    *out = (int)v;
    return 0;
}

/* One flag c (what getopt_long returned) with its value arg: an
 * ot_cli_flag_fn (args.h). */
static int
s_flag(void *ctx, int c, const char *arg)
{
    s_args *a = ctx;
    int code = 0;
    switch (c) {
    case 'f': code = s_parse_from(a, arg); break;
    case 'p': a->so.prefix = arg; break;
    case 'o': a->once = true; break;
    case 'g': a->so.figures = true; break;
    case 'C': a->curve_secret = arg; break;
    case 'S': a->server_key = arg; break;
    case 't':
        code = s_int_flag("--snapshot-timeout-ms", arg, 1, 3600000, &a->so.snapshot_timeout_ms);
        break;
    case 'H':
        code = s_int_flag("--hwm", arg, 1, 100000000, &a->so.rcvhwm);
        break;
    case 'v':
        /* A view declared with `optally view add` is known to the consumer
         * only: its snapshot service refuses a name it does not have. */
        a->so.view = arg;
        break;
    case 'F': {
        static const char *const formats[] = { "table", "json", NULL };
        int i = 0;
        code = ot_cli_flag_choice(S_PROG, "--format", arg, formats, &i);
        a->json = i == 1;
        break;
    }
    default:
        return OT_CLI_FLAG_UNKNOWN;
    }
    return code ? code : -1;
}

/* What the flags say together. Returns -1 to go on, or OT_EXIT_USAGE. */
static int
s_check(const s_args *a)
{
    const ot_subscriber_options *so = &a->so;
    if (so->view && so->prefix)
        return ot_cli_usage_error(S_PROG, "--view and --prefix exclude each other "
                                  "(a prefix names its view: 'country,quarter/IQ/')");
    if (so->figures && (so->view || so->prefix || a->once))
        return ot_cli_usage_error(S_PROG, "--figures follows figures, not tallies: it takes no "
                                  "--view, --prefix or --once (`optally figures` lists the "
                                  "current ones)");
    if ((so->updates && !strcmp(so->updates, "none")) ||
        (so->snapshot && !strcmp(so->snapshot, "none")))
        return ot_cli_usage_error(S_PROG, "OPTALLY_PUBLISH/OPTALLY_SNAPSHOT say 'none' (the "
                                  "consumer does not publish); pass --from PUB,SNAPSHOT");
    return -1;
}

/* Flags and environment (OPTALLY_PUBLISH, OPTALLY_SNAPSHOT; --from wins)
 * into *a. Returns -1 to go on, or the exit code. */
static int
s_parse(int argc, char **argv, s_args *a)
{
    static const struct option longs[] = {
        { "from", required_argument, NULL, 'f' },
        { "view", required_argument, NULL, 'v' },
        { "prefix", required_argument, NULL, 'p' },
        { "format", required_argument, NULL, 'F' },
        { "once", no_argument, NULL, 'o' },
        { "figures", no_argument, NULL, 'g' },
        { "snapshot-timeout-ms", required_argument, NULL, 't' },
        { "hwm", required_argument, NULL, 'H' },
        { "curve-secret", required_argument, NULL, 'C' },
        { "server-key", required_argument, NULL, 'S' },
        { NULL, 0, NULL, 0 },
    };
    a->so.updates = getenv("OPTALLY_PUBLISH");
    a->so.snapshot = getenv("OPTALLY_SNAPSHOT");
    static const ot_cli_parser parser = { S_PROG, "", longs, s_flag, s_help };
    int code = ot_cli_parse(&parser, argc, argv, a, NULL);
    return code >= 0 ? code : s_check(a);
}

/* Open the subscriber (keys read and wiped here). OUT: *sub. Returns 0 or
 * the exit code (told). */
static int
s_open(s_args *a, ot_subscriber **sub)
{
    ot_keypair me, server;
    int kc = ot_cli_client_keys("subscribe", a->curve_secret, a->server_key, &me, &server);
    if (kc < 0)
        return OT_EXIT_USAGE;
    if (kc > 0) {
        a->so.server_key = server.public_key;
        a->so.client_public = me.public_key;
        a->so.client_secret = me.secret_key;
    }
    a->so.snapshot_only = a->once;
    a->so.snapshot_tries = a->once ? S_ONCE_TRIES : 0;
    int rc = ot_subscriber_open(&a->so, sub);
    explicit_bzero(&me, sizeof me);     /* the subscriber keeps its own copy */
    a->so.client_secret = NULL;
    if (rc == OT_ENOTFOUND && a->so.view)
        return ot_cli_usage_error(S_PROG, "unknown view '%s': a view name is one of%s or a "
                                  "declared one ([A-Za-z0-9_.-], 1..64 bytes; `optally view "
                                  "list`)", a->so.view, ot_cli_view_names());
    if (rc == OT_ENOTFOUND)
        return ot_cli_usage_error(S_PROG, "no tally key can start with '%s' (keys are "
                                  "view/value/...); views:%s", a->so.prefix ? a->so.prefix : "",
                                  ot_cli_view_names());
    if (rc == EINVAL || rc == OT_EUSAGE)
        return ot_cli_usage_error(S_PROG, "cannot connect to %s / %s: endpoint not understood",
                                  a->so.updates ? a->so.updates : OT_SUBSCRIBER_DEFAULT_UPDATES,
                                  a->so.snapshot ? a->so.snapshot : OT_SUBSCRIBER_DEFAULT_SNAPSHOT);
    if (rc != 0)
        fprintf(stderr, S_PROG ": cannot connect to %s / %s: %s\n",
                a->so.updates ? a->so.updates : OT_SUBSCRIBER_DEFAULT_UPDATES,
                a->so.snapshot ? a->so.snapshot : OT_SUBSCRIBER_DEFAULT_SNAPSHOT, ot_strerror(rc));
    return rc ? OT_EXIT_FAILURE : 0;
}

/* The next event, waiting at most S_WAIT_MS; before a wait the output is
 * brought up to date. Returns as ot_subscriber_next, or EIO when stdout
 * cannot be written. */
static int
s_next(ot_subscriber *sub, ot_cli_sub_out *o, ot_sub_event *ev)
{
    int rc = ot_subscriber_next(sub, 0, ev);
    if (rc != EAGAIN)
        return rc;
    ot_cli_sub_out_idle(o);     /* nothing at hand: show what we have */
    if (fflush(stdout) != 0)
        return EIO;
    return ot_subscriber_next(sub, S_WAIT_MS, ev);
}

/* Follow the stream until --once is done, a signal, or an error.
 * Returns the exit code. */
/* "optally subscribe: TEXT" on stderr, TEXT as a table cell (tally_print.h):
 * a reason may quote what a consumer sent, which must not drive the
 * terminal. */
static void
s_say(const char *text)
{
    ot_buf b = {NULL, 0, 0};
    if (ot_cli_cell(&b, text, strlen(text)) == 0)
        fprintf(stderr, S_PROG ": %s\n", b.data ? b.data : "");
    ot_buf_free(&b);
}

static int
s_run(ot_subscriber *sub, ot_cli_sub_out *o, bool once)
{
    while (!s_stop) {
        ot_sub_event ev;
        int rc = s_next(sub, o, &ev);
        if (rc == EAGAIN || rc == EINTR)
            continue;
        if (rc == EIO)
            return OT_EXIT_FAILURE;
        if (rc != 0) {
            s_say(ot_subscriber_error(sub)[0] ? ot_subscriber_error(sub) : ot_strerror(rc));
            /* The consumer refused what was asked (an unknown view, a
             * prefix no key starts with): a usage error. */
            return rc == OT_ENOTFOUND ? OT_EXIT_USAGE : OT_EXIT_FAILURE;
        }
        if (ev.kind == OT_SUB_RESYNC ||
            ((ev.kind == OT_SUB_FIGURE || ev.kind == OT_SUB_HEARTBEAT) && ev.reason))
            s_say(ev.reason);
        if (ot_cli_sub_out_event(o, &ev) != 0) {
            fprintf(stderr, S_PROG ": out of memory\n");
            return OT_EXIT_FAILURE;
        }
        if (ferror(stdout))
            return OT_EXIT_FAILURE;
        if (once && ev.kind == OT_SUB_SNAPSHOT_END)
            break;
    }
    return fflush(stdout) == 0 ? OT_EXIT_OK : OT_EXIT_FAILURE;
}

int
ot_cmd_subscribe(int argc, char **argv)
{
    s_args a = { 0 };
    int code = s_parse(argc, argv, &a);
    if (code >= 0)
        return code;
    ot_cli_sub_format fmt = a.json ? OT_CLI_SUB_JSON
                          : !a.once && !a.so.figures && isatty(STDOUT_FILENO) ? OT_CLI_SUB_LIVE
                          : OT_CLI_SUB_PLAIN;
    const char *what = a.so.figures ? "figures" : a.so.view ? a.so.view
                     : a.so.prefix ? a.so.prefix : "(all views)";
    ot_cli_sub_out *o = NULL;
    ot_subscriber *sub = NULL;
    if ((code = s_open(&a, &sub)) != 0)
        return code;
    if (ot_cli_sub_out_new(fmt, a.once, what, &o) != 0) {
        fprintf(stderr, S_PROG ": out of memory\n");
        code = OT_EXIT_FAILURE;
    } else {
        /* No SA_RESTART: a signal must end the wait in ot_subscriber_next. */
        struct sigaction sa = { .sa_handler = s_on_signal };
        sigemptyset(&sa.sa_mask);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        code = s_run(sub, o, a.once);
    }
    ot_subscriber_close(&sub);
    ot_cli_sub_out_free(&o);
    return code;
}
