/*
 * cmd_status: `optally status`, the state of a store in one read
 * transaction (ot_store_status_get): how far the log goes, what ingest
 * counted, the views, the groups, the file.
 *
 * JSON (one object): {"log_seq":N,"last_received_at":MS,"stored":..,
 * "duplicate":..,"superseded":..,"stale":..,"rejected":..,"log_entries":..,
 * "distinct_ids":..,"rejects":..,"update_seq":..,"figure_seq":..,"views":n,
 * "declared_views":[NAME,...],"figures":..,"aggregates":..,"incidents":..,
 * "file_bytes":..,"map_size":..,"source_rank":"A,B"}. The table prints the
 * same names, one per line, times as RFC 3339 too.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "ot_error.h"
#include "ot_json.h"
#include "ot_store.h"
#include "ot_view.h"
#include "store_arg.h"
#include "tally_print.h"

#define S_PROG "optally status"

typedef struct s_args {
    const char *data;
    bool json;
} s_args;

static void
s_help(FILE *f)
{
    fprintf(f,
"usage: optally status [--data DIR] [--format table|json]\n"
"\n"
"The state of the store, read in one read transaction beside a running\n"
"consumer: log_seq (the last log record: what `query --as-of-seq` takes),\n"
"last_received_at (its ingest time, unix ms in JSON), what ingest counted\n"
"(stored, duplicate, superseded, stale, rejected), log_entries, distinct_ids,\n"
"rejects kept, the update sequences, the views (built-in and declared), the\n"
"current figures, aggregates and incidents, the file's size and the source\n"
"ranking in force.\n"
"\n"
"  --data DIR        data directory (default ./optally-data; env OPTALLY_DATA)\n"
"  --format F        table (default) or json (one object)\n"
"\n"
"exit codes: 0 ok; 2 store missing or unreadable; 64 usage error.\n");
}

static int
s_flag(void *ctx, int c, const char *arg)
{
    s_args *a = ctx;
    switch (c) {
    case 'd':
        a->data = arg;
        return -1;
    case 'f': {
        static const char *const formats[] = { "table", "json", NULL };
        int i;
        if (ot_cli_flag_choice(S_PROG, "--format", arg, formats, &i))
            return OT_EXIT_USAGE;
        a->json = i == 1;
        return -1;
    }
    default:
        return OT_CLI_FLAG_UNKNOWN;
    }
}

/* The numbers of st as (name, value) pairs, in output order. */
typedef struct s_num {
    const char *name;
    uint64_t v;
} s_num;

static size_t
s_numbers(const ot_store_status *st, s_num *out)
{
    const ot_store_stats *x = &st->stats;
    const s_num all[] = {
        { "stored", x->stored }, { "duplicate", x->duplicate },
        { "superseded", x->superseded }, { "stale", x->stale }, { "rejected", x->rejected },
        { "log_entries", x->log_entries }, { "distinct_ids", x->distinct_ids },
        { "rejects", x->rejects }, { "update_seq", st->seqs.seq },
        { "figure_seq", st->seqs.figure_seq },
    };
    memcpy(out, all, sizeof all);
    return sizeof all / sizeof all[0];
}

/* The status as JSON in b. Returns 0 or ENOMEM. */
static int
s_json(ot_buf *b, const ot_store_status *st, const ot_viewset *vs, const char *rank)
{
    s_num nums[16];
    size_t n = s_numbers(st, nums);
    int rc = ot_buf_printf(b, "{\"log_seq\":%" PRIu64 ",\"last_received_at\":%" PRId64,
                           st->log_seq, st->last_received_at);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = ot_buf_printf(b, ",\"%s\":%" PRIu64, nums[i].name, nums[i].v);
    if (rc == 0)
        rc = ot_buf_printf(b, ",\"views\":%zu,\"declared_views\":[", st->views);
    bool first = true;
    for (size_t i = 0; rc == 0 && i < ot_viewset_count(vs); i++) {
        const ot_view *v = ot_viewset_at(vs, i);
        if (!v || !ot_view_is_declared(v))
            continue;
        rc = first ? 0 : ot_buf_append(b, ",", 1);
        if (rc == 0)
            rc = ot_buf_json_string(b, v->name, strlen(v->name));
        first = false;
    }
    if (rc == 0)
        rc = ot_buf_printf(b, "],\"figures\":%" PRIu64 ",\"aggregates\":%" PRIu64
                           ",\"incidents\":%" PRIu64 ",\"file_bytes\":%" PRIu64
                           ",\"map_size\":%" PRIu64 ",\"source_rank\":",
                           st->figures, st->aggregates, st->incidents, st->file_bytes,
                           st->stats.map_size);
    if (rc == 0)
        rc = ot_buf_json_text(b, rank, strlen(rank));
    return rc == 0 ? ot_buf_append(b, "}\n", 2) : rc;
}

/* The status as a table in b. Returns 0 or ENOMEM. */
static int
s_table(ot_buf *b, const ot_store_status *st, const ot_viewset *vs, const char *rank)
{
    char when[48];
    s_num nums[16];
    size_t n = s_numbers(st, nums);
    int rc = ot_buf_printf(b, "%-18s %" PRIu64 "\n%-18s %s (%" PRId64 ")\n", "log_seq",
                           st->log_seq, "last_received_at",
                           ot_cli_time_text(st->last_received_at, when, sizeof when),
                           st->last_received_at);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = ot_buf_printf(b, "%-18s %" PRIu64 "\n", nums[i].name, nums[i].v);
    if (rc == 0)
        rc = ot_buf_printf(b, "%-18s %zu\n%-18s", "views", st->views, "declared_views");
    size_t declared = 0;
    for (size_t i = 0; rc == 0 && i < ot_viewset_count(vs); i++) {
        const ot_view *v = ot_viewset_at(vs, i);
        if (v && ot_view_is_declared(v)) {
            rc = ot_buf_append(b, " ", 1);
            if (rc == 0)
                rc = ot_cli_cell(b, v->name, strlen(v->name));
            declared++;
        }
    }
    if (rc == 0)
        rc = ot_buf_printf(b, "%s\n%-18s %" PRIu64 "\n%-18s %" PRIu64 "\n%-18s %" PRIu64
                           "\n%-18s %" PRIu64 "\n%-18s %" PRIu64 "\n%-18s ",
                           declared ? "" : " -", "figures", st->figures, "aggregates",
                           st->aggregates, "incidents", st->incidents, "file_bytes",
                           st->file_bytes, "map_size", st->stats.map_size, "source_rank");
    if (rc == 0)
        rc = *rank ? ot_cli_cell(b, rank, strlen(rank)) : ot_buf_append(b, "-", 1);
    return rc == 0 ? ot_buf_append(b, "\n", 1) : rc;
}

int
ot_cmd_status(int argc, char **argv)
{
    static const struct option opts[] = {
        { "data", required_argument, NULL, 'd' },
        { "format", required_argument, NULL, 'f' },
        { NULL, 0, NULL, 0 },
    };
    s_args a = { .data = ot_cli_data_default() };
    const ot_cli_parser p = { S_PROG, "", opts, s_flag, s_help };
    int code = ot_cli_parse(&p, argc, argv, &a, NULL);
    if (code >= 0)
        return code;
    ot_store *s;
    ot_store_options so = { .readonly = true };
    if (ot_cli_store_open(S_PROG, a.data, &so, &s) != 0)
        return OT_EXIT_FAILURE;
    ot_store_status st;
    ot_viewset *vs = NULL;
    char rank[4096] = "";
    ot_buf out = { NULL, 0, 0 };
    int rc = ot_store_status_get(s, &st);
    if (rc == 0)
        rc = ot_store_views(s, &vs);
    if (rc == 0)
        rc = ot_store_source_rank(s, rank, sizeof rank);
    ot_store_close(&s);
    if (rc == 0)
        rc = a.json ? s_json(&out, &st, vs, rank) : s_table(&out, &st, vs, rank);
    ot_viewset_free(&vs);
    if (rc == 0)
        fwrite(out.data, 1, out.len, stdout);
    ot_buf_free(&out);
    if (rc != 0) {
        fprintf(stderr, "%s: %s\n", S_PROG, ot_strerror(rc));
        return OT_EXIT_FAILURE;
    }
    return fflush(stdout) == 0 ? OT_EXIT_OK : OT_EXIT_FAILURE;
}
