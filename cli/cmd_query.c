/*
 * optally query / optally rejects: read the store in read transactions
 * while the consumer runs (LMDB readers never block the writer).
 *
 * query prints the tallies of every view of the store (built-in and
 * declared), now (one read transaction: ot_store_tally_snapshot_at, so the
 * log seq it prints on stderr is exactly what the rows are as of), or as
 * of a log seq or ingest time (ot_timeline_as_of: a replay of the log).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ot_error.h"
#include "ot_json.h"
#include "ot_store.h"
#include "ot_view.h"
#include "ot_fields.h"
#include "ot_timeline.h"
#include "ot_wire.h"
#include "progress.h"
#include "store_arg.h"
#include "tally_key.h"
#include "tally_print.h"

typedef enum { S_TABLE, S_JSON, S_CSV } s_format;

/* The fields every built-in view has, in column order for CSV; declared
 * views' other dimensions follow in the order their views come. */
static const char *const s_builtin_fields[] = { "country", "quarter", "month", "partner_force" };
#define S_NBUILTIN_FIELDS (sizeof s_builtin_fields / sizeof s_builtin_fields[0])
#define S_MAX_COLUMNS 16   /* every dimension a view can have (ot_view.h) fits */

/* The output of one run of query or rejects. */
typedef struct s_rows {
    s_format fmt;
    const ot_viewset *vs;       /* query: the store's views */
    const ot_view *only;        /* query --view (in vs); NULL: every view */
    const ot_view *last_view;   /* query table: the view whose header was printed */
    const char *cols[S_MAX_COLUMNS];   /* query csv: the field columns */
    size_t ncols;
    ot_progress *prog;          /* as-of: erased before the first row */
    ot_buf line;
    size_t rows;
} s_rows;

/* A row as CSV: view, then every field column (empty when this view has
 * none), then the counters. */
static int
s_csv_row(ot_buf *b, const s_rows *q, const ot_view *v, const char *const *vals,
          const ot_counts *c)
{
    int64_t n[OT_COUNTS_N];
    ot_counts_to_array(c, n);
    int rc = ot_cli_csv_field(b, v->name);
    for (size_t f = 0; rc == 0 && f < q->ncols; f++) {
        rc = ot_buf_append(b, ",", 1);
        for (int i = 0; rc == 0 && i < v->nfields; i++)
            if (!strcmp(v->fields[i], q->cols[f]))
                rc = ot_cli_csv_field(b, vals[i]);
    }
    for (int i = 0; rc == 0 && i < OT_COUNTS_N; i++)
        rc = ot_buf_printf(b, ",%" PRId64, n[i]);
    return rc;
}

static int
s_tally_row(void *ctx, const char *key, size_t len, const ot_counts *c)
{
    s_rows *q = ctx;
    const ot_view *v;
    const char *vals[OT_VIEW_MAX_FIELDS];
    char valbuf[OT_VIEW_KEY_MAX];
    if (ot_viewset_key_split(q->vs, key, len, &v, vals, valbuf, sizeof valbuf) != 0)
        return 0;   /* a key of a view the store does not know (any more): skip */
    if (q->only && strcmp(v->name, q->only->name) != 0)
        return 0;
    if (q->prog)
        ot_progress_clear(q->prog);
    size_t nf = (size_t)v->nfields;
    int rc = 0;
    q->line.len = 0;
    if (q->fmt == S_TABLE) {
        if (q->last_view != v)
            ot_cli_tally_table_header(stdout, q->rows == 0, v->name, v->fields, nf);
        q->last_view = v;
        if (ot_cli_tally_table_row(stdout, &q->line, vals, nf, c) != 0)
            return ENOMEM;
        q->rows++;
        return 0;
    }
    if (q->fmt == S_JSON) {
        rc = ot_cli_tally_json(&q->line, v->name, v->fields, vals, nf, c);
        if (rc == 0)
            rc = ot_buf_append(&q->line, "}\n", 2);
    } else {
        rc = s_csv_row(&q->line, q, v, vals, c);
        if (rc == 0)
            rc = ot_buf_append(&q->line, "\n", 1);
    }
    if (rc != 0)
        return ENOMEM;
    fwrite(q->line.data, 1, q->line.len, stdout);
    q->rows++;
    return 0;
}

static void
s_query_help(FILE *f)
{
    fprintf(f,
        "usage: optally query [--data DIR] [--view V] [--format table|json|csv]\n"
        "                     [--as-of-seq N | --as-of-time T] [--quiet]\n\n"
        "Print the observed tallies: for each key of each view, the counters events,\n"
        "operations, killed, detained, wounded, killed_low, killed_high over the\n"
        "current revision of every distinct stored, non-retracted OPERATION event;\n"
        "the events of one incident count once, with the counts of its counted\n"
        "member (the best-ranked source: `optally disagreements`). killed_low and\n"
        "killed_high sum the estimates (killed where an event gives none).\n"
        "Aggregates (period totals as published) are not here: `optally reconcile`\n"
        "sets them beside these. Reads the store in one read transaction (a\n"
        "consistent view) while the consumer runs, and says on stderr which log\n"
        "seq the tallies are as of: \"as of log seq N\".\n\n"
        "options:\n"
        "  --data DIR        data directory (default ./optally-data; env OPTALLY_DATA)\n"
        "  --view V          one view only: a built-in one (%s) or one\n"
        "                    declared with `optally view add` (`optally view list`)\n"
        "  --format F        table (default), json (JSON Lines, one object per tally),\n"
        "                    csv (header: view,country,quarter,month,partner_force,\n"
        "                    then the other dimensions of declared views, counters;\n"
        "                    with --view of a declared view: view, its dimensions,\n"
        "                    counters)\n"
        "  --as-of-seq N     the tallies as they stood after log seq N was committed\n"
        "                    (`optally status` tells the last seq): a replay of the\n"
        "                    log up to N with today's views and source ranking\n"
        "  --as-of-time T    the same for the last record ingested at or before T:\n"
        "                    RFC 3339 (2024-05-01T12:00:00Z) or unix ms\n"
        "  --quiet           no \"as of log seq N\" line, no progress display\n"
        "  -h, --help        this text\n\n"
        OT_CLI_CELL_HELP OT_CLI_CSV_HELP "\n"
        "exit codes: 0 ok; 2 store missing or unreadable; 64 usage error (unknown\n"
        "view, a seq beyond the log, a malformed time).\n", ot_cli_view_names() + 1);
}

/* The command line of query (or rejects: no --view, no csv, no as-of). */
typedef struct s_args {
    const char *prog;           /* "optally query" or "optally rejects" */
    bool query;
    const char *data;
    s_format fmt;
    const char *view;           /* --view; NULL: every view */
    bool as_of;                 /* --as-of-seq or --as-of-time given */
    uint64_t as_of_seq;         /* --as-of-seq */
    const char *as_of_time;     /* --as-of-time, as written */
    int64_t as_of_ms;           /* --as-of-time parsed */
    bool quiet;
} s_args;

static void s_rejects_help(FILE *f);

/* --as-of-seq / --as-of-time: one of them, once. Returns -1 or 64. */
static int
s_flag_as_of(s_args *a, int c, const char *arg)
{
    if (a->as_of)
        return ot_cli_usage_error(a->prog, "one of --as-of-seq and --as-of-time, once");
    a->as_of = true;
    if (c == 'S') {
        if (ot_cli_parse_u64(arg, &a->as_of_seq) != 0)
            return ot_cli_usage_error(a->prog, "--as-of-seq takes a log seq (a number, see "
                                      "`optally status`), not '%s'", arg);
        return -1;
    }
    a->as_of_time = arg;
    if (ot_cli_time_parse(arg, &a->as_of_ms) != 0)
        return ot_cli_usage_error(a->prog, "--as-of-time takes RFC 3339 "
                                  "(2024-05-01T12:00:00Z, 2024-05-01T14:00:00+02:00) or unix "
                                  "ms, not '%s'", arg);
    return -1;
}

/* One flag c (what getopt_long returned) with its value arg: an
 * ot_cli_flag_fn (args.h). */
static int
s_flag(void *ctx, int c, const char *arg)
{
    s_args *a = ctx;
    switch (c) {
    case 'd':
        a->data = arg;
        return -1;
    case 'v': {
        int code = ot_cli_view_name_check(a->prog, arg);
        if (code != 0)
            return code;
        a->view = arg;
        return -1;
    }
    case 'S':
    case 'T':
        return s_flag_as_of(a, c, arg);
    case 'q':
        a->quiet = true;
        return -1;
    case 'f': {
        /* s_format's order; rejects has no csv */
        static const char *const formats[] = { "table", "json", "csv", NULL };
        static const char *const rejects_formats[] = { "table", "json", NULL };
        int i;
        if (ot_cli_flag_choice(a->prog, "--format", arg, a->query ? formats : rejects_formats, &i))
            return OT_EXIT_USAGE;
        a->fmt = (s_format)i;
        return -1;
    }
    default:
        return OT_CLI_FLAG_UNKNOWN;
    }
}

/* Returns -1 to go on, or the exit code. */
static int
s_parse(int argc, char **argv, s_args *a)
{
    static const struct option query_opts[] = {
        { "data", required_argument, NULL, 'd' },
        { "view", required_argument, NULL, 'v' },
        { "format", required_argument, NULL, 'f' },
        { "as-of-seq", required_argument, NULL, 'S' },
        { "as-of-time", required_argument, NULL, 'T' },
        { "quiet", no_argument, NULL, 'q' },
        { NULL, 0, NULL, 0 },
    };
    static const struct option rejects_opts[] = {
        { "data", required_argument, NULL, 'd' },
        { "format", required_argument, NULL, 'f' },
        { NULL, 0, NULL, 0 },
    };
    const ot_cli_parser parser = { a->prog, "", a->query ? query_opts : rejects_opts, s_flag,
                                   a->query ? s_query_help : s_rejects_help };
    return ot_cli_parse(&parser, argc, argv, a, NULL);
}

/* The CSV field columns of o (built-in fields, then the other dimensions
 * of declared views; --view of a declared view: its dimensions). */
static void
s_csv_columns(s_rows *o)
{
    o->ncols = 0;
    if (o->only && ot_view_is_declared(o->only)) {
        for (int i = 0; i < o->only->nfields; i++)
            o->cols[o->ncols++] = o->only->fields[i];
        return;
    }
    for (size_t i = 0; i < S_NBUILTIN_FIELDS; i++)
        o->cols[o->ncols++] = s_builtin_fields[i];
    for (size_t s = 0; !o->only && s < ot_viewset_count(o->vs); s++) {
        const ot_view *v = ot_viewset_at(o->vs, s);
        for (int i = 0; v && i < v->nfields; i++) {
            bool seen = false;
            for (size_t c = 0; c < o->ncols; c++)
                seen = seen || !strcmp(o->cols[c], v->fields[i]);
            if (!seen && o->ncols < S_MAX_COLUMNS)
                o->cols[o->ncols++] = v->fields[i];
        }
    }
}

static void
s_csv_header(const s_rows *o)
{
    printf("view");
    for (size_t f = 0; f < o->ncols; f++)
        printf(",%s", o->cols[f]);
    for (int i = 0; i < OT_COUNTS_N; i++)
        printf(",%s", ot_counts_names[i]);
    printf("\n");
}

/* ot_store_progress_fn over ot_progress. */
static void
s_progress(void *ctx, uint64_t done, uint64_t total)
{
    ot_progress_update(ctx, done, total);
}

/* The log seq an as-of query replays to. OUT: *seq. Returns -1 to go on,
 * or the exit code after printing why. */
static int
s_as_of_seq(ot_store *s, const s_args *a, uint64_t *seq)
{
    uint64_t last = 0;
    int rc = ot_store_log_last(s, &last);
    if (rc == 0 && a->as_of_time)
        rc = ot_timeline_seq_at_time(s, a->as_of_ms, seq);
    else
        *seq = a->as_of_seq;
    if (rc != 0) {
        fprintf(stderr, "%s: %s\n", a->prog, ot_strerror(rc));
        return OT_EXIT_FAILURE;
    }
    if (*seq > last)
        return ot_cli_usage_error(a->prog, "log seq %" PRIu64 " is beyond the log (its last seq "
                                  "is %" PRIu64 ": `optally status`)", *seq, last);
    return -1;
}

/* query's walk: every tally (of --view), CSV after its header; now, or as
 * of a log seq. OUT: *seq, the log seq the tallies are as of. */
static int
s_walk_tallies(ot_store *s, const s_args *a, s_rows *o, uint64_t *seq)
{
    s_csv_columns(o);
    if (o->fmt == S_CSV)
        s_csv_header(o);
    /* The view name (the whole key for total) is a key prefix. */
    const char *prefix = o->only ? o->only->name : "";
    if (!a->as_of) {
        ot_store_seqs seqs;
        return ot_store_tally_snapshot_at(s, prefix, s_tally_row, o, &seqs, seq);
    }
    if (*seq == 0)
        return 0;   /* before the first record: no tallies */
    ot_progress prog;
    ot_progress_init(&prog, "as-of", "log records", a->quiet);
    o->prog = &prog;
    int rc = ot_timeline_as_of(s, *seq, prefix, s_tally_row, o, s_progress, &prog);
    ot_progress_clear(&prog);
    o->prog = NULL;
    return rc;
}

/* The --view of query in vs. OUT: o->only. Returns -1 or the exit code. */
static int
s_resolve_view(const s_args *a, const ot_viewset *vs, s_rows *o)
{
    if (!a->view)
        return -1;
    int code = ot_cli_view_lookup(a->prog, vs, a->view, &o->only, NULL);
    return code ? code : -1;
}

/* query: the store opened read-only, its views, the walk. Returns the
 * exit code. */
static int
s_query(ot_store *s, const s_args *a, s_rows *o)
{
    ot_viewset *vs = NULL;
    uint64_t seq = 0;
    int rc = ot_store_views(s, &vs), code = -1;
    o->vs = vs;
    if (rc == 0)
        code = s_resolve_view(a, vs, o);
    if (rc == 0 && code < 0 && a->as_of)
        code = s_as_of_seq(s, a, &seq);
    if (rc == 0 && code < 0)
        rc = s_walk_tallies(s, a, o, &seq);
    ot_viewset_free(&vs);
    o->vs = NULL;
    if (code >= 0)
        return code;
    if (rc == OT_ENOTFOUND && a->as_of)
        return ot_cli_usage_error(a->prog, "log seq %" PRIu64 " is beyond the log", seq);
    if (rc != 0) {
        fprintf(stderr, "%s: %s\n", a->prog, ot_strerror(rc));
        return OT_EXIT_FAILURE;
    }
    if (fflush(stdout) != 0)
        return OT_EXIT_FAILURE;
    if (o->fmt == S_TABLE && o->rows == 0)
        fprintf(stderr, "%s: no tallies %s\n", a->prog, a->as_of ? "then" : "yet");
    if (!a->quiet)
        fprintf(stderr, "as of log seq %" PRIu64 "\n", seq);
    return OT_EXIT_OK;
}

int
ot_cmd_query(int argc, char **argv)
{
    s_args a = { .prog = "optally query", .query = true, .data = ot_cli_data_default() };
    int code = s_parse(argc, argv, &a);
    if (code >= 0)
        return code;
    /* No store: no declared views, so a name that is no built-in view is a
     * usage error, as it was before views could be declared. */
    if (a.view && !ot_view_find(a.view) && !ot_cli_store_exists(a.data))
        return ot_cli_usage_error(a.prog, "unknown view '%s'; views:%s (no store in %s, so no "
                                  "declared views)", a.view, ot_cli_view_names(), a.data);
    ot_store *s;
    ot_store_options so = { .readonly = true };   /* readers never block the consumer */
    if (ot_cli_store_open(a.prog, a.data, &so, &s) != 0)
        return OT_EXIT_FAILURE;
    s_rows o = { .fmt = a.fmt };
    code = s_query(s, &a, &o);
    ot_buf_free(&o.line);
    ot_store_close(&s);
    return code;
}

/* ---- rejects ---------------------------------------------------------- */

static const char *
s_reject_name(const Optally__RejectRecord *r)
{
    const ProtobufCEnumValue *ev;
    if (r->batch_error)
        ev = protobuf_c_enum_descriptor_get_value(&optally__batch_error__descriptor, r->batch_error);
    else
        ev = protobuf_c_enum_descriptor_get_value(&optally__reject_reason__descriptor, r->reason);
    return ev ? ev->name : "UNKNOWN";
}

/* The id inside a kept raw event or figure: its event_id, or figure_id for
 * a refused figure (RejectRecord.figure). OUT: *id, *n (borrowed from r).
 * Returns false when there is none (a message refused whole, a record
 * that does not decode as far as its id, or an empty one). */
static bool
s_reject_event_id(const Optally__RejectRecord *r, const char **id, size_t *n)
{
    const uint8_t *p;
    uint32_t field = r->figure ? OT_F_FIGURE_ID : OT_F_EVENT_ID;
    if (r->batch_error || r->raw.len == 0 ||
        ot_wire_find_bytes(r->raw.data, r->raw.len, field, &p, n) != 0 || *n == 0)
        return false;
    *id = (const char *)p;
    return true;
}

/* A table row of rejects in q->line: seq, reason, event_id ("-" for none)
 * and text, each value a cell (tally_print.h). Returns 0 or ENOMEM. */
static int
s_reject_table_row(s_rows *q, const Optally__RejectRecord *r, const char *id, size_t idlen,
                   bool has_id)
{
    int rc = ot_buf_printf(&q->line, "%-8" PRIu64 " %-16s ", r->seq, s_reject_name(r));
    size_t start = q->line.len;
    if (rc == 0)
        rc = has_id ? ot_cli_cell(&q->line, id, idlen) : ot_buf_append(&q->line, "-", 1);
    while (rc == 0 && q->line.len - start < 28)
        rc = ot_buf_append(&q->line, " ", 1);
    if (rc == 0)
        rc = ot_buf_append(&q->line, " ", 1);
    if (rc == 0)
        rc = ot_cli_cell(&q->line, r->reason_text, strlen(r->reason_text));
    return rc;
}

static int
s_reject_row(void *ctx, const Optally__RejectRecord *r)
{
    s_rows *q = ctx;
    const char *id = NULL;
    size_t idlen = 0;
    bool has_id = s_reject_event_id(r, &id, &idlen);
    int rc;
    q->line.len = 0;
    if (q->fmt == S_JSON) {
        rc = ot_buf_printf(&q->line, "{\"seq\":%" PRIu64 ",\"received_at\":%" PRId64
                           ",\"reason\":\"%s\",\"text\":", r->seq, r->received_at,
                           s_reject_name(r));
        if (rc == 0)
            rc = ot_buf_json_text(&q->line, r->reason_text, strlen(r->reason_text));
        if (rc == 0 && has_id)
            rc = r->figure ? ot_buf_append(&q->line, ",\"figure_id\":", 13)
                           : ot_buf_append(&q->line, ",\"event_id\":", 12);
        if (rc == 0 && has_id)
            rc = ot_buf_json_text(&q->line, id, idlen);
        if (rc == 0)
            rc = ot_buf_printf(&q->line, ",\"raw_bytes\":%zu}", r->raw.len);
    } else {
        if (q->rows == 0)
            printf("%-8s %-16s %-28s %s\n", "seq", "reason", "event_id", "text");
        rc = s_reject_table_row(q, r, id, idlen, has_id);
    }
    if (rc != 0)
        return ENOMEM;
    fwrite(q->line.data, 1, q->line.len, stdout);
    fputc('\n', stdout);
    q->rows++;
    return 0;
}

static void
s_rejects_help(FILE *f)
{
    fprintf(f,
        "usage: optally rejects [--data DIR] [--format table|json]\n\n"
        "List what the consumer refused, in arrival order: each rejected event\n"
        "with its reason (UNKNOWN_COUNTRY, BAD_DATE, CONFLICT, ...) and each\n"
        "message refused whole (UNDECODABLE, TOO_MANY_EVENTS, ...). The raw bytes\n"
        "are kept in the store (up to 64 KiB a message): bad input is not lost.\n"
        "Refused point-in-time figures are listed the same way, by their figure_id.\n"
        "JSON Lines rows: seq, received_at (unix ms), reason, text, event_id (when\n"
        "the event decoded) or figure_id (a figure), raw_bytes. The table's event_id\n"
        "column shows the event_id or figure_id, - when there is none.\n\n"
        "options:\n"
        "  --data DIR        data directory (default ./optally-data; env OPTALLY_DATA)\n"
        "  --format F        table (default) or json (JSON Lines, one object per row)\n"
        "  -h, --help        this text\n\n"
        OT_CLI_CELL_HELP "\n"
        "exit codes: 0 ok; 2 store missing or unreadable; 64 usage error.\n");
}

int
ot_cmd_rejects(int argc, char **argv)
{
    s_args a = { .prog = "optally rejects", .query = false, .data = ot_cli_data_default() };
    int code = s_parse(argc, argv, &a);
    if (code >= 0)
        return code;
    ot_store *s;
    ot_store_options so = { .readonly = true };   /* readers never block the consumer */
    if (ot_cli_store_open(a.prog, a.data, &so, &s) != 0)
        return OT_EXIT_FAILURE;
    s_rows o = { .fmt = a.fmt };
    int rc = ot_store_reject_foreach(s, s_reject_row, &o);
    ot_buf_free(&o.line);
    ot_store_close(&s);
    if (rc != 0) {
        fprintf(stderr, "%s: %s\n", a.prog, ot_strerror(rc));
        return OT_EXIT_FAILURE;
    }
    return fflush(stdout) == 0 ? OT_EXIT_OK : OT_EXIT_FAILURE;
}
