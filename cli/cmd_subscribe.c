/*
 * cmd_subscribe: `optally subscribe`, live tallies; a thin layer over
 * subscriber/ot_subscriber (which keeps the stream consistent).
 *
 * NAME
 *     optally subscribe - follow the tallies as the consumer commits changes
 *
 * SYNOPSIS
 *     optally subscribe [--from PUB,SNAPSHOT] [--view V | --prefix P]
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
 * EXIT STATUS
 *     0 after --once, or on SIGINT/SIGTERM; 2 the snapshot service never
 *     answered (--once, after the retries) or another runtime failure;
 *     64 usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "ot_event.h"
#include "ot_error.h"
#include "ot_json.h"
#include "ot_subscriber.h"
#include "ot_view.h"

#define S_ONCE_TRIES     3      /* snapshot attempts of --once before exit 2 */
#define S_WAIT_MS        250    /* longest wait in next(): signals, redraws */
#define S_REDRAW_MS      100    /* a terminal table redraws at most this often */

static volatile sig_atomic_t s_stop;

static void
s_on_signal(int sig)
{
    (void)sig;
    s_stop = 1;
}


/* One tally held for the live terminal table. */
typedef struct s_row {
    char *key;          /* owned */
    ot_counts c;
} s_row;

typedef struct s_out {
    bool json;
    bool live_table;    /* a table redrawn in place (stdout is a terminal) */
    bool once;
    const char *what;   /* the filter, for the status line */
    ot_buf line;
    /* plain table: the view whose header was printed, rows printed so far */
    char *last_view;    /* owned copy */
    size_t printed;
    size_t snap_rows;   /* rows of the snapshot being received */
    /* live table */
    s_row *rows;        /* sorted by key */
    size_t nrows, caprows;
    bool in_snapshot;   /* between a (re)start and SNAPSHOT_END: do not draw */
    bool dirty;
    int64_t drawn_at;
    uint64_t seq;
    uint64_t changes;
    char note[160];     /* the last resync, shown above the table */
} s_out;



/* ---- json ----------------------------------------------------------------- */

/* A row or update as a query row, plus the stream's keys. */
static void
s_json_row(s_out *o, const ot_sub_event *ev)
{
    ot_buf *b = &o->line;
    int64_t n[5], d[5];
    ot_counts_to_array(&ev->counts, n);
    ot_counts_to_array(&ev->delta, d);
    b->len = 0;
    ot_buf_append(b, "{\"view\":", 8);
    ot_buf_json_string(b, ev->view, strlen(ev->view));
    for (size_t i = 0; i < ev->nfields; i++) {
        ot_buf_append(b, ",", 1);
        ot_buf_json_string(b, ev->fields[i], strlen(ev->fields[i]));
        ot_buf_append(b, ":", 1);
        ot_buf_json_string(b, ev->values[i], strlen(ev->values[i]));
    }
    for (int i = 0; i < 5; i++)
        ot_buf_printf(b, ",\"%s\":%" PRId64, ot_counts_names[i], n[i]);
    if (ev->kind == OT_SUB_ROW) {
        ot_buf_printf(b, ",\"kind\":\"snapshot\",\"seq\":%" PRIu64 "}", ev->seq);
    } else {
        ot_buf_printf(b, ",\"kind\":\"update\",\"seq\":%" PRIu64 ",\"view_seq\":%" PRIu64
                      ",\"committed_at\":%" PRId64 ",\"delta\":{", ev->seq, ev->view_seq,
                      ev->committed_at);
        for (int i = 0; i < 5; i++)
            ot_buf_printf(b, "%s\"%s\":%" PRId64, i ? "," : "", ot_counts_names[i], d[i]);
        ot_buf_append(b, "}}", 2);
    }
}

static void
s_json_event(s_out *o, const ot_sub_event *ev)
{
    ot_buf *b = &o->line;
    switch (ev->kind) {
    case OT_SUB_ROW:
        o->snap_rows++;
        s_json_row(o, ev);
        break;
    case OT_SUB_UPDATE:
        s_json_row(o, ev);
        break;
    case OT_SUB_SNAPSHOT_END:
        b->len = 0;
        ot_buf_printf(b, "{\"kind\":\"snapshot_end\",\"seq\":%" PRIu64 ",\"view_seq\":%" PRIu64
                      ",\"rows\":%zu}", ev->seq, ev->view_seq, o->snap_rows);
        o->snap_rows = 0;
        break;
    case OT_SUB_RESYNC:
        b->len = 0;
        ot_buf_append(b, "{\"kind\":\"resync\",\"reason\":", 26);
        ot_buf_json_string(b, ev->reason, strlen(ev->reason));
        ot_buf_append(b, "}", 1);
        o->snap_rows = 0;
        break;
    default:
        return;     /* heartbeats: nothing changed */
    }
    if (b->data) {
        fwrite(b->data, 1, b->len, stdout);
        fputc('\n', stdout);
    }
}

/* ---- plain table (not a terminal, or --once) --------------------------------- */

/* A snapshot row in `optally query`'s table layout. */
static void
s_plain_row(s_out *o, const ot_sub_event *ev)
{
    if (!o->last_view || strcmp(o->last_view, ev->view) != 0) {
        printf("%s%s\n", o->printed ? "\n" : "", ev->view);
        for (size_t i = 0; i < ev->nfields; i++)
            printf("%-16s", ev->fields[i]);
        for (int i = 0; i < 5; i++)
            printf("%12s", ot_counts_names[i]);
        printf("\n");
        /* The view name lives in the subscriber's message: keep a copy. */
        free(o->last_view);
        o->last_view = strdup(ev->view);
    }
    int64_t n[5];
    ot_counts_to_array(&ev->counts, n);
    for (size_t i = 0; i < ev->nfields; i++)
        printf("%-16s", ev->values[i][0] ? ev->values[i] : "-");
    for (int i = 0; i < 5; i++)
        printf("%12" PRId64, n[i]);
    printf("\n");
    o->printed++;
}

static void
s_plain_event(s_out *o, const ot_sub_event *ev)
{
    int64_t n[5], d[5];
    switch (ev->kind) {
    case OT_SUB_ROW:
        s_plain_row(o, ev);
        o->snap_rows++;
        break;
    case OT_SUB_SNAPSHOT_END:
        if (o->snap_rows == 0 && o->once)
            fprintf(stderr, "optally subscribe: no tallies yet\n");
        if (!o->once)
            printf("# snapshot as of seq %" PRIu64 ": %zu tallies; updates follow\n",
                   ev->seq, o->snap_rows);
        o->snap_rows = 0;
        break;
    case OT_SUB_UPDATE:
        ot_counts_to_array(&ev->counts, n);
        ot_counts_to_array(&ev->delta, d);
        printf("seq %" PRIu64 " %s", ev->seq, ev->key);
        for (int i = 0; i < 5; i++) {
            printf(" %s=%" PRId64, ot_counts_names[i], n[i]);
            if (d[i])
                printf("(%+" PRId64 ")", d[i]);
        }
        printf("\n");
        break;
    case OT_SUB_RESYNC:
        /* --once: stdout stays exactly the query's table (stderr says it). */
        if (!o->once)
            printf("# resync: %s\n", ev->reason);
        free(o->last_view);
        o->last_view = NULL;
        o->printed = 0;
        o->snap_rows = 0;
        break;
    default:
        break;
    }
}

/* ---- live table (a terminal) ----------------------------------------------- */

static void
s_rows_clear(s_out *o)
{
    for (size_t i = 0; i < o->nrows; i++)
        free(o->rows[i].key);
    o->nrows = 0;
}

/* Index of key in o->rows, or where it would go. OUT: *found. */
static size_t
s_rows_find(const s_out *o, const char *key, bool *found)
{
    size_t lo = 0, hi = o->nrows;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(o->rows[mid].key, key);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

/* Set key's counters (all zero: remove it). Returns 0 or ENOMEM. */
static int
s_rows_set(s_out *o, const char *key, const ot_counts *c)
{
    bool found;
    size_t i = s_rows_find(o, key, &found);
    if (ot_counts_zero(c)) {
        if (found) {
            free(o->rows[i].key);
            memmove(&o->rows[i], &o->rows[i + 1], (o->nrows - i - 1) * sizeof *o->rows);
            o->nrows--;
        }
        return 0;
    }
    if (found) {
        o->rows[i].c = *c;
        return 0;
    }
    if (o->nrows == o->caprows) {
        size_t cap = o->caprows ? 2 * o->caprows : 256;
        s_row *r = realloc(o->rows, cap * sizeof *r);
        if (!r)
            return ENOMEM;
        o->rows = r;
        o->caprows = cap;
    }
    char *k = strdup(key);
    if (!k)
        return ENOMEM;
    memmove(&o->rows[i + 1], &o->rows[i], (o->nrows - i) * sizeof *o->rows);
    o->rows[i].key = k;
    o->rows[i].c = *c;
    o->nrows++;
    return 0;
}

/* Clear the screen and print the held rows in the query table layout. */
static void
s_draw(s_out *o)
{
    char when[32] = "";
    time_t t = time(NULL);
    struct tm tm;
    if (localtime_r(&t, &tm))
        strftime(when, sizeof when, "%H:%M:%S", &tm);
    printf("\033[H\033[2J");
    printf("optally subscribe %s: seq %" PRIu64 ", %zu tallies, %" PRIu64 " changes, %s"
           " (Ctrl-C quits)\n", o->what, o->seq, o->nrows, o->changes, when);
    if (o->note[0])
        printf("last resync: %s\n", o->note);
    const ot_view *last = NULL;
    for (size_t r = 0; r < o->nrows; r++) {
        const ot_view *v;
        const char *vals[OT_VIEW_MAX_FIELDS];
        char valbuf[OT_VIEW_KEY_MAX];
        int64_t n[5];
        ot_counts_to_array(&o->rows[r].c, n);
        if (ot_view_key_split(o->rows[r].key, strlen(o->rows[r].key), &v, vals, valbuf,
                              sizeof valbuf) != 0)
            continue;   /* a view this build does not know */
        if (v != last) {
            printf("\n%s\n", v->name);
            for (int i = 0; i < v->nfields; i++)
                printf("%-16s", v->fields[i]);
            for (int i = 0; i < 5; i++)
                printf("%12s", ot_counts_names[i]);
            printf("\n");
            last = v;
        }
        for (int i = 0; i < v->nfields; i++)
            printf("%-16s", vals[i][0] ? vals[i] : "-");
        for (int i = 0; i < 5; i++)
            printf("%12" PRId64, n[i]);
        printf("\n");
    }
    fflush(stdout);
    o->dirty = false;
    o->drawn_at = ot_cli_mono_ms();
}

static int
s_live_event(s_out *o, const ot_sub_event *ev)
{
    int rc = 0;
    switch (ev->kind) {
    case OT_SUB_ROW:
        rc = s_rows_set(o, ev->key, &ev->counts);
        break;
    case OT_SUB_SNAPSHOT_END:
        o->in_snapshot = false;
        o->seq = ev->seq;
        o->dirty = true;
        break;
    case OT_SUB_UPDATE:
        rc = s_rows_set(o, ev->key, &ev->counts);
        o->seq = ev->seq;
        o->changes++;
        o->dirty = true;
        break;
    case OT_SUB_RESYNC:
        s_rows_clear(o);
        o->in_snapshot = true;
        snprintf(o->note, sizeof o->note, "%s", ev->reason);
        break;
    default:
        break;
    }
    if (o->dirty && !o->in_snapshot && ot_cli_mono_ms() - o->drawn_at >= S_REDRAW_MS)
        s_draw(o);
    return rc;
}

/* ---- command ------------------------------------------------------------------- */

static void
s_help(FILE *f)
{
    fprintf(f,
        "usage: optally subscribe [--from PUB,SNAPSHOT] [--view V | --prefix P]\n"
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
        "  --view V             one view only; views:");
    for (size_t i = 0; i < ot_view_count(); i++)
        fprintf(f, " %s", ot_view_at(i)->name);
    fprintf(f, "\n"
        "  --prefix P           only tallies whose key starts with P, e.g.\n"
        "                       'country,quarter/IQ/' (keys: view/value/value)\n"
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
        "exit codes: 0 after --once, or on SIGINT/SIGTERM; 2 the snapshot service never\n"
        "answered (--once) or another runtime failure; 64 usage error.\n", S_ONCE_TRIES);
}

static void
s_list_views(void)
{
    for (size_t i = 0; i < ot_view_count(); i++)
        fprintf(stderr, " %s", ot_view_at(i)->name);
    fprintf(stderr, "\n");
}

static int
s_parse_int(const char *s, const char *flag, long min, long max, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max) {
        fprintf(stderr, "optally subscribe: %s needs an integer from %ld to %ld, got '%s'\n",
                flag, min, max, s);
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* Split "PUB,SNAPSHOT" into buf (cap bytes). OUT: *pub, *snap (into buf).
 * Returns 0 or -1 (message printed). */
static int
s_parse_from(const char *arg, char *buf, size_t cap, const char **pub, const char **snap)
{
    const char *comma = strchr(arg, ',');
    if (!comma || comma == arg || !comma[1] || strchr(comma + 1, ',') || strlen(arg) >= cap) {
        fprintf(stderr, "optally subscribe: --from takes PUB_ENDPOINT,SNAPSHOT_ENDPOINT, got '%s'\n",
                arg);
        return -1;
    }
    memcpy(buf, arg, strlen(arg) + 1);
    buf[comma - arg] = 0;
    *pub = buf;
    *snap = buf + (comma - arg) + 1;
    return 0;
}

/* Act on one event. Returns 0 or ENOMEM. */
static int
s_event(s_out *o, const ot_sub_event *ev)
{
    if (ev->kind == OT_SUB_RESYNC)
        fprintf(stderr, "optally subscribe: %s\n", ev->reason);
    if (o->json) {
        s_json_event(o, ev);
        return o->line.data || o->line.len == 0 ? 0 : ENOMEM;
    }
    if (o->live_table)
        return s_live_event(o, ev);
    s_plain_event(o, ev);
    return 0;
}

/* Follow the stream until --once is done, a signal, or an error.
 * Returns the exit code. */
static int
s_run(ot_subscriber *sub, s_out *o)
{
    for (;;) {
        if (s_stop)
            return OT_EXIT_OK;
        ot_sub_event ev;
        int rc = ot_subscriber_next(sub, 0, &ev);
        if (rc == EAGAIN) {
            /* Nothing at hand: show what we have before waiting. */
            if (o->live_table && o->dirty && !o->in_snapshot)
                s_draw(o);
            if (fflush(stdout) != 0)
                return OT_EXIT_FAILURE;
            rc = ot_subscriber_next(sub, S_WAIT_MS, &ev);
        }
        if (rc == EAGAIN || rc == EINTR)
            continue;
        if (rc != 0) {
            fprintf(stderr, "optally subscribe: %s\n", ot_subscriber_error(sub)[0]
                    ? ot_subscriber_error(sub) : ot_strerror(rc));
            return OT_EXIT_FAILURE;
        }
        if (s_event(o, &ev) != 0) {
            fprintf(stderr, "optally subscribe: out of memory\n");
            return OT_EXIT_FAILURE;
        }
        if (ferror(stdout))
            return OT_EXIT_FAILURE;
        if (o->once && ev.kind == OT_SUB_SNAPSHOT_END)
            return fflush(stdout) == 0 ? OT_EXIT_OK : OT_EXIT_FAILURE;
    }
}

int
ot_cmd_subscribe(int argc, char **argv)
{
    static const struct option opts[] = {
        { "from", required_argument, NULL, 'f' },
        { "view", required_argument, NULL, 'v' },
        { "prefix", required_argument, NULL, 'p' },
        { "format", required_argument, NULL, 'F' },
        { "once", no_argument, NULL, 'o' },
        { "snapshot-timeout-ms", required_argument, NULL, 't' },
        { "hwm", required_argument, NULL, 'H' },
        { "curve-secret", required_argument, NULL, 'C' },
        { "server-key", required_argument, NULL, 'S' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    ot_subscriber_options so = { 0 };
    so.updates = getenv("OPTALLY_PUBLISH");
    so.snapshot = getenv("OPTALLY_SNAPSHOT");
    s_out o = { .in_snapshot = true };
    char from[1024];
    const char *curve_secret = NULL, *server_key = NULL;
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'f':
            if (s_parse_from(optarg, from, sizeof from, &so.updates, &so.snapshot) != 0)
                return OT_EXIT_USAGE;
            break;
        case 'v':
            so.view = optarg;
            if (!ot_view_find(optarg)) {
                fprintf(stderr, "optally subscribe: unknown view '%s'; views:", optarg);
                s_list_views();
                return OT_EXIT_USAGE;
            }
            break;
        case 'p': so.prefix = optarg; break;
        case 'F':
            if (strcmp(optarg, "json") && strcmp(optarg, "table")) {
                fprintf(stderr, "optally subscribe: --format is table or json, not '%s'\n", optarg);
                return OT_EXIT_USAGE;
            }
            o.json = !strcmp(optarg, "json");
            break;
        case 'o': o.once = true; break;
        case 't':
            if (s_parse_int(optarg, "--snapshot-timeout-ms", 1, 3600000, &so.snapshot_timeout_ms))
                return OT_EXIT_USAGE;
            break;
        case 'H':
            if (s_parse_int(optarg, "--hwm", 1, 100000000, &so.rcvhwm))
                return OT_EXIT_USAGE;
            break;
        case 'C': curve_secret = optarg; break;
        case 'S': server_key = optarg; break;
        case 'h': s_help(stdout); return OT_EXIT_OK;
        default: s_help(stderr); return OT_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "optally subscribe: unexpected argument '%s'\n", argv[optind]);
        return OT_EXIT_USAGE;
    }
    if (so.view && so.prefix) {
        fprintf(stderr, "optally subscribe: --view and --prefix exclude each other "
                        "(a prefix names its view: 'country,quarter/IQ/')\n");
        return OT_EXIT_USAGE;
    }
    if ((so.updates && !strcmp(so.updates, "none")) || (so.snapshot && !strcmp(so.snapshot, "none"))) {
        fprintf(stderr, "optally subscribe: OPTALLY_PUBLISH/OPTALLY_SNAPSHOT say 'none' (the consumer "
                        "does not publish); pass --from PUB,SNAPSHOT\n");
        return OT_EXIT_USAGE;
    }
    ot_keypair me, server;
    int kc = ot_cli_client_keys("subscribe", curve_secret, server_key, &me, &server);
    if (kc < 0)
        return OT_EXIT_USAGE;
    if (kc > 0) {
        so.server_key = server.public_key;
        so.client_public = me.public_key;
        so.client_secret = me.secret_key;
    }
    so.snapshot_only = o.once;
    so.snapshot_tries = o.once ? S_ONCE_TRIES : 0;
    o.live_table = !o.json && !o.once && isatty(STDOUT_FILENO);
    o.what = so.view ? so.view : so.prefix ? so.prefix : "(all views)";

    ot_subscriber *sub;
    int rc = ot_subscriber_open(&so, &sub);
    explicit_bzero(&me, sizeof me);     /* the subscriber keeps its own copy */
    if (rc == OT_ENOTFOUND) {
        fprintf(stderr, "optally subscribe: no tally key can start with '%s' (keys are view/value/...); "
                        "views:", so.prefix ? so.prefix : "");
        s_list_views();
        return OT_EXIT_USAGE;
    }
    if (rc != 0) {
        fprintf(stderr, "optally subscribe: cannot connect to %s / %s: %s\n",
                so.updates ? so.updates : OT_SUBSCRIBER_DEFAULT_UPDATES,
                so.snapshot ? so.snapshot : OT_SUBSCRIBER_DEFAULT_SNAPSHOT,
                rc == EINVAL ? "endpoint not understood" : ot_strerror(rc));
        return rc == EINVAL || rc == OT_EUSAGE ? OT_EXIT_USAGE : OT_EXIT_FAILURE;
    }
    /* No SA_RESTART: a signal must end the wait in ot_subscriber_next. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    int code = s_run(sub, &o);
    ot_subscriber_close(&sub);
    ot_buf_free(&o.line);
    free(o.last_view);
    s_rows_clear(&o);
    free(o.rows);
    if (code == OT_EXIT_OK && fflush(stdout) != 0)
        code = OT_EXIT_FAILURE;
    return code;
}
