/*
 * optally query / optally rejects: read the store in read transactions
 * while the consumer runs (LMDB readers never block the writer).
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
#include "ot_wire.h"
#include "store_arg.h"
#include "tally_print.h"

typedef enum { S_TABLE, S_JSON, S_CSV } s_format;

/* Every field any view has, in column order for CSV. */
static const char *const s_all_fields[] = { "country", "quarter", "month", "partner_force" };
#define S_NFIELDS (sizeof s_all_fields / sizeof s_all_fields[0])


/* The output of one run of query or rejects. */
typedef struct s_rows {
    s_format fmt;
    const ot_view *only;        /* query --view; NULL: every view */
    const ot_view *last_view;   /* query table: the view whose header was printed */
    ot_buf line;
    size_t rows;
} s_rows;

/* A row as CSV: view, then every field any view has (empty when this view
 * has none), then the counters. */
static int
s_csv_row(ot_buf *b, const ot_view *v, const char *const *vals, const ot_counts *c)
{
    int64_t n[OT_COUNTS_N];
    ot_counts_to_array(c, n);
    int rc = ot_cli_csv_field(b, v->name);
    for (size_t f = 0; rc == 0 && f < S_NFIELDS; f++) {
        rc = ot_buf_append(b, ",", 1);
        for (int i = 0; rc == 0 && i < v->nfields; i++)
            if (!strcmp(v->fields[i], s_all_fields[f]))
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
    if (ot_view_key_split(key, len, &v, vals, valbuf, sizeof valbuf) != 0)
        return 0;   /* a key of a view this build does not know: skip */
    if (q->only && v != q->only)
        return 0;
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
        rc = s_csv_row(&q->line, v, vals, c);
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
        "usage: optally query [--data DIR] [--view V] [--format table|json|csv]\n\n"
        "Print the observed tallies: for each key of each view, the counters events,\n"
        "operations, killed, detained, wounded, killed_low, killed_high over the\n"
        "current revision of every distinct stored, non-retracted OPERATION event;\n"
        "the events of one incident count once, with the counts of its counted\n"
        "member (the best-ranked source: `optally disagreements`). killed_low and\n"
        "killed_high sum the estimates (killed where an event gives none).\n"
        "Aggregates (period totals as published) are not here: `optally reconcile`\n"
        "sets them beside these. Reads the store in one read transaction (a\n"
        "consistent view) while the consumer runs.\n\n"
        "options:\n"
        "  --data DIR        data directory (default ./optally-data; env OPTALLY_DATA)\n"
        "  --view V          one view only; views:%s\n"
        "  --format F        table (default), json (JSON Lines, one object per tally),\n"
        "                    csv (header: view,country,quarter,month,partner_force,counters)\n"
        "  -h, --help        this text\n\n"
        OT_CLI_CELL_HELP OT_CLI_CSV_HELP "\n"
        "exit codes: 0 ok; 2 store missing or unreadable; 64 usage error.\n", ot_cli_view_names());
}

/* The command line of query (or rejects: no --view, no csv). */
typedef struct s_args {
    const char *prog;           /* "optally query" or "optally rejects" */
    bool query;
    const char *data;
    s_format fmt;
    const ot_view *only;        /* --view; NULL: every view */
} s_args;

static void s_rejects_help(FILE *f);

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
    case 'v':
        if (!(a->only = ot_view_find(arg)))
            return ot_cli_usage_error(a->prog, "unknown view '%s'; views:%s", arg,
                                      ot_cli_view_names());
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

static void
s_csv_header(void)
{
    printf("view");
    for (size_t f = 0; f < S_NFIELDS; f++)
        printf(",%s", s_all_fields[f]);
    for (int i = 0; i < OT_COUNTS_N; i++)
        printf(",%s", ot_counts_names[i]);
    printf("\n");
}

/* query's walk: every tally (of --view), CSV after its header. */
static int
s_walk_tallies(ot_store *s, s_rows *o)
{
    if (o->fmt == S_CSV)
        s_csv_header();
    /* The view name plus "/" (or the whole key for total) is a key prefix. */
    return ot_store_tally_foreach(s, o->only ? o->only->name : "", s_tally_row, o);
}

/* The body of query and rejects: the store opened read-only, walked by
 * walk, each row printed. Returns the exit code. */
static int
s_main(int argc, char **argv, s_args *a, int (*walk)(ot_store *s, s_rows *o))
{
    int code = s_parse(argc, argv, a);
    if (code >= 0)
        return code;
    ot_store *s;
    ot_store_options so = { .readonly = true };   /* readers never block the consumer */
    if (ot_cli_store_open(a->prog, a->data, &so, &s) != 0)
        return OT_EXIT_FAILURE;
    s_rows o = { .fmt = a->fmt, .only = a->only };
    int rc = walk(s, &o);
    ot_buf_free(&o.line);
    ot_store_close(&s);
    if (rc != 0) {
        fprintf(stderr, "%s: %s\n", a->prog, ot_strerror(rc));
        return OT_EXIT_FAILURE;
    }
    if (a->query && o.fmt == S_TABLE && o.rows == 0)
        fprintf(stderr, "%s: no tallies yet\n", a->prog);
    return fflush(stdout) == 0 ? OT_EXIT_OK : OT_EXIT_FAILURE;
}

int
ot_cmd_query(int argc, char **argv)
{
    s_args a = { .prog = "optally query", .query = true, .data = ot_cli_data_default() };
    return s_main(argc, argv, &a, s_walk_tallies);
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

static int
s_walk_rejects(ot_store *s, s_rows *o)
{
    return ot_store_reject_foreach(s, s_reject_row, o);
}

int
ot_cmd_rejects(int argc, char **argv)
{
    s_args a = { .prog = "optally rejects", .query = false, .data = ot_cli_data_default() };
    return s_main(argc, argv, &a, s_walk_rejects);
}
