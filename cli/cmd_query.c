/*
 * optally query / optally rejects: read the store in read transactions
 * while the consumer runs (LMDB readers never block the writer).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ot_event.h"
#include "ot_error.h"
#include "ot_json.h"
#include "ot_store.h"
#include "ot_view.h"
#include "ot_wire.h"

typedef enum { S_TABLE, S_JSON, S_CSV } s_format;

/* Every field any view has, in column order for CSV. */
static const char *const s_all_fields[] = { "country", "quarter", "month", "partner_force" };
#define S_NFIELDS (sizeof s_all_fields / sizeof s_all_fields[0])


typedef struct s_query {
    s_format fmt;
    const ot_view *only;        /* NULL: every view */
    const ot_view *last_view;   /* table: the view whose header was printed */
    ot_buf line;
    size_t rows;
} s_query;

static int
s_parse_format(const char *s, bool csv_ok, s_format *out)
{
    if (!strcmp(s, "table")) *out = S_TABLE;
    else if (!strcmp(s, "json")) *out = S_JSON;
    else if (csv_ok && !strcmp(s, "csv")) *out = S_CSV;
    else return -1;
    return 0;
}


static void
s_csv_field(ot_buf *b, const char *s)
{
    if (strpbrk(s, ",\"\n\r")) {
        ot_buf_append(b, "\"", 1);
        for (const char *p = s; *p; p++) {
            if (*p == '"')
                ot_buf_append(b, "\"", 1);
            ot_buf_append(b, p, 1);
        }
        ot_buf_append(b, "\"", 1);
    } else {
        ot_buf_append(b, s, strlen(s));
    }
}

static int
s_tally_row(void *ctx, const char *key, size_t len, const ot_counts *c)
{
    s_query *q = ctx;
    const ot_view *v;
    const char *vals[OT_VIEW_MAX_FIELDS];
    char valbuf[OT_VIEW_KEY_MAX];
    int rc = ot_view_key_split(key, len, &v, vals, valbuf, sizeof valbuf);
    if (rc != 0)
        return 0;   /* a key of a view this build does not know: skip */
    if (q->only && v != q->only)
        return 0;
    int64_t n[5];
    ot_counts_to_array(c, n);
    q->line.len = 0;
    if (q->fmt == S_JSON) {
        ot_buf_append(&q->line, "{\"view\":", 8);
        ot_buf_json_string(&q->line, v->name, strlen(v->name));
        for (int i = 0; i < v->nfields; i++) {
            ot_buf_printf(&q->line, ",\"%s\":", v->fields[i]);
            ot_buf_json_string(&q->line, vals[i], strlen(vals[i]));
        }
        for (int i = 0; i < 5; i++)
            ot_buf_printf(&q->line, ",\"%s\":%" PRId64, ot_counts_names[i], n[i]);
        ot_buf_append(&q->line, "}", 1);
    } else if (q->fmt == S_CSV) {
        s_csv_field(&q->line, v->name);
        for (size_t f = 0; f < S_NFIELDS; f++) {
            ot_buf_append(&q->line, ",", 1);
            for (int i = 0; i < v->nfields; i++)
                if (!strcmp(v->fields[i], s_all_fields[f]))
                    s_csv_field(&q->line, vals[i]);
        }
        for (int i = 0; i < 5; i++)
            ot_buf_printf(&q->line, ",%" PRId64, n[i]);
    } else {
        if (q->last_view != v) {
            printf("%s%s\n", q->rows ? "\n" : "", v->name);
            for (int i = 0; i < v->nfields; i++)
                printf("%-16s", v->fields[i]);
            for (int i = 0; i < 5; i++)
                printf("%12s", ot_counts_names[i]);
            printf("\n");
            q->last_view = v;
        }
        for (int i = 0; i < v->nfields; i++)
            ot_buf_printf(&q->line, "%-16s", vals[i][0] ? vals[i] : "-");
        for (int i = 0; i < 5; i++)
            ot_buf_printf(&q->line, "%12" PRId64, n[i]);
    }
    if (!q->line.data)
        return ENOMEM;
    fwrite(q->line.data, 1, q->line.len, stdout);
    fputc('\n', stdout);
    q->rows++;
    return 0;
}

static void
s_query_help(FILE *f)
{
    fprintf(f,
        "usage: optally query [--data DIR] [--view V] [--format table|json|csv]\n\n"
        "Print the tallies: for each key of each view, the counters events,\n"
        "operations, killed, detained, wounded over the current revision of every\n"
        "distinct stored, non-retracted event. Reads the store in one read\n"
        "transaction (a consistent view) while the consumer runs.\n\n"
        "options:\n"
        "  --data DIR        data directory (default ./optally-data; env OPTALLY_DATA)\n"
        "  --view V          one view only; views:");
    for (size_t i = 0; i < ot_view_count(); i++)
        fprintf(f, " %s", ot_view_at(i)->name);
    fprintf(f, "\n"
        "  --format F        table (default), json (JSON Lines, one object per tally),\n"
        "                    csv (header: view,country,quarter,month,partner_force,counters)\n"
        "  -h, --help        this text\n\n"
        "exit codes: 0 ok; 2 store missing or unreadable; 64 usage error.\n");
}

static const char *
s_data_default(void)
{
    const char *d = getenv("OPTALLY_DATA");
    return d ? d : "./optally-data";
}

static int
s_open_reader(const char *cmd, const char *data, ot_store **s)
{
    ot_store_options so = { .readonly = true };
    int rc = ot_store_open(data, &so, s);
    if (rc == OT_ENOTFOUND)
        fprintf(stderr, "optally %s: no store in %s (run `optally consume --data %s` first, or pass --data)\n",
                cmd, data, data);
    else if (rc != 0)
        fprintf(stderr, "optally %s: cannot open store in %s: %s\n", cmd, data, ot_strerror(rc));
    return rc;
}

int
ot_cmd_query(int argc, char **argv)
{
    static const struct option opts[] = {
        { "data", required_argument, NULL, 'd' },
        { "view", required_argument, NULL, 'v' },
        { "format", required_argument, NULL, 'f' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *data = s_data_default();
    s_query q = { 0 };
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'd': data = optarg; break;
        case 'v':
            q.only = ot_view_find(optarg);
            if (!q.only) {
                fprintf(stderr, "optally query: unknown view '%s'; views:", optarg);
                for (size_t i = 0; i < ot_view_count(); i++)
                    fprintf(stderr, " %s", ot_view_at(i)->name);
                fprintf(stderr, "\n");
                return OT_EXIT_USAGE;
            }
            break;
        case 'f':
            if (s_parse_format(optarg, true, &q.fmt) != 0) {
                fprintf(stderr, "optally query: --format is table, json or csv, not '%s'\n", optarg);
                return OT_EXIT_USAGE;
            }
            break;
        case 'h': s_query_help(stdout); return OT_EXIT_OK;
        default: s_query_help(stderr); return OT_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "optally query: unexpected argument '%s'\n", argv[optind]);
        return OT_EXIT_USAGE;
    }
    ot_store *s;
    if (s_open_reader("query", data, &s) != 0)
        return OT_EXIT_FAILURE;
    if (q.fmt == S_CSV) {
        printf("view");
        for (size_t f = 0; f < S_NFIELDS; f++)
            printf(",%s", s_all_fields[f]);
        for (int i = 0; i < 5; i++)
            printf(",%s", ot_counts_names[i]);
        printf("\n");
    }
    /* The view name plus "/" (or the whole key for total) is a key prefix. */
    char prefix[128] = "";
    if (q.only)
        snprintf(prefix, sizeof prefix, "%s", q.only->name);
    int rc = ot_store_tally_foreach(s, prefix, s_tally_row, &q);
    ot_buf_free(&q.line);
    ot_store_close(&s);
    if (rc != 0) {
        fprintf(stderr, "optally query: %s\n", ot_strerror(rc));
        return OT_EXIT_FAILURE;
    }
    if (q.fmt == S_TABLE && q.rows == 0)
        fprintf(stderr, "optally query: no tallies yet\n");
    return fflush(stdout) == 0 ? OT_EXIT_OK : OT_EXIT_FAILURE;
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

/* The event_id inside a kept raw event, when it is printable. */
static bool
s_reject_event_id(const Optally__RejectRecord *r, char *out, size_t cap)
{
    const uint8_t *id;
    size_t n;
    if (r->batch_error || r->raw.len == 0 ||
        ot_wire_find_bytes(r->raw.data, r->raw.len, 1, &id, &n) != 0 || n == 0 || n >= cap)
        return false;
    for (size_t i = 0; i < n; i++)
        if (id[i] < 0x20 || id[i] > 0x7e)
            return false;
    memcpy(out, id, n);
    out[n] = 0;
    return true;
}

typedef struct s_rejects {
    s_format fmt;
    ot_buf line;
    size_t rows;
} s_rejects;

static int
s_reject_row(void *ctx, const Optally__RejectRecord *r)
{
    s_rejects *q = ctx;
    char id[160];
    bool has_id = s_reject_event_id(r, id, sizeof id);
    q->line.len = 0;
    if (q->fmt == S_JSON) {
        ot_buf_printf(&q->line, "{\"seq\":%" PRIu64 ",\"received_at\":%" PRId64 ",\"reason\":\"%s\",\"text\":",
                      r->seq, r->received_at, s_reject_name(r));
        ot_buf_json_string(&q->line, r->reason_text, strlen(r->reason_text));
        if (has_id) {
            ot_buf_append(&q->line, ",\"event_id\":", 12);
            ot_buf_json_string(&q->line, id, strlen(id));
        }
        ot_buf_printf(&q->line, ",\"raw_bytes\":%zu}", r->raw.len);
    } else {
        if (q->rows == 0)
            printf("%-8s %-16s %-28s %s\n", "seq", "reason", "event_id", "text");
        ot_buf_printf(&q->line, "%-8" PRIu64 " %-16s %-28s %s", r->seq, s_reject_name(r),
                      has_id ? id : "-", r->reason_text);
    }
    if (!q->line.data)
        return ENOMEM;
    fwrite(q->line.data, 1, q->line.len, stdout);
    fputc('\n', stdout);
    q->rows++;
    return 0;
}

int
ot_cmd_rejects(int argc, char **argv)
{
    static const struct option opts[] = {
        { "data", required_argument, NULL, 'd' },
        { "format", required_argument, NULL, 'f' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *data = s_data_default();
    s_rejects q = { 0 };
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'd': data = optarg; break;
        case 'f':
            if (s_parse_format(optarg, false, &q.fmt) != 0) {
                fprintf(stderr, "optally rejects: --format is table or json, not '%s'\n", optarg);
                return OT_EXIT_USAGE;
            }
            break;
        case 'h':
            printf("usage: optally rejects [--data DIR] [--format table|json]\n\n"
                   "List what the consumer refused, in arrival order: each rejected event\n"
                   "with its reason (UNKNOWN_COUNTRY, BAD_DATE, CONFLICT, ...) and each\n"
                   "message refused whole (UNDECODABLE, TOO_MANY_EVENTS, ...). The raw bytes\n"
                   "are kept in the store (up to 64 KiB a message): bad input is not lost.\n"
                   "JSON Lines rows: seq, received_at (unix ms), reason, text, event_id (when\n"
                   "the event decoded), raw_bytes.\n\n"
                   "exit codes: 0 ok; 2 store missing or unreadable; 64 usage error.\n");
            return OT_EXIT_OK;
        default:
            fprintf(stderr, "usage: optally rejects [--data DIR] [--format table|json]\n");
            return OT_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "optally rejects: unexpected argument '%s'\n", argv[optind]);
        return OT_EXIT_USAGE;
    }
    ot_store *s;
    if (s_open_reader("rejects", data, &s) != 0)
        return OT_EXIT_FAILURE;
    int rc = ot_store_reject_foreach(s, s_reject_row, &q);
    ot_buf_free(&q.line);
    ot_store_close(&s);
    if (rc != 0) {
        fprintf(stderr, "optally rejects: %s\n", ot_strerror(rc));
        return OT_EXIT_FAILURE;
    }
    return fflush(stdout) == 0 ? OT_EXIT_OK : OT_EXIT_FAILURE;
}
