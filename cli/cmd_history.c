/*
 * cmd_history: `optally history`, each change of one observed tally over
 * ingest (ot_timeline_history): the log seq and ingest time of the record
 * that moved it, the counters after it and the change.
 *
 *   json:  {"seq":N,"received_at":MS,"after":{COUNTS},"delta":{COUNTS}}
 *   csv:   seq,received_at,events,...,killed_high,delta_events,...,delta_killed_high
 *          (received_at in unix ms, as in JSON)
 *   table: seq, received_at (RFC 3339), the counters after, the change
 *
 * Invariant: the last row's "after" is the tally query prints, and the
 * deltas sum to it (the timeline's replay is the store's fold rule).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "ot_error.h"
#include "ot_json.h"
#include "ot_store.h"
#include "ot_timeline.h"
#include "ot_view.h"
#include "store_arg.h"
#include "tally_key.h"
#include "tally_print.h"

#define S_PROG "optally history"

typedef enum { S_TABLE, S_JSON, S_CSV } s_format;

typedef struct s_args {
    const char *data;
    const char *view;
    const char *key;
    s_format fmt;
} s_args;

typedef struct s_out {
    const s_args *a;
    ot_buf line;
    uint64_t rows;
} s_out;

static void
s_help(FILE *f)
{
    fprintf(f,
"usage: optally history [--data DIR] [--view V] --key K [--format table|json|csv]\n"
"\n"
"Each change of one observed tally over ingest, in log order: the log seq and\n"
"ingest time of the record that changed it, the counters after it and the\n"
"change (delta), for a chart or a spreadsheet. The last row is the tally now.\n"
"Reads the log in one read transaction (a pass over it) beside a running\n"
"consumer.\n"
"\n"
"  --data DIR        data directory (default ./optally-data; env OPTALLY_DATA)\n"
"  --key K           the tally: its key as query prints it\n"
"                    (country,month/SY/2024-01), or dim=value,... naming every\n"
"                    dimension of --view\n"
"  --view V          the view; a dim=value key without it is of the one view\n"
"                    grouping by exactly those dimensions\n"
"  --format F        table (default); json (JSON Lines {\"seq\",\"received_at\"\n"
"                    (unix ms),\"after\":{...},\"delta\":{...}}); csv (seq,\n"
"                    received_at (unix ms), the counters after, delta_COUNTER...)\n"
"\n"
"exit codes: 0 ok; 2 store missing or unreadable; 64 usage error (unknown\n"
"view, malformed key).\n");
}

static int
s_flag(void *ctx, int c, const char *arg)
{
    s_args *a = ctx;
    switch (c) {
    case 'd': a->data = arg; return -1;
    case 'v': a->view = arg; return -1;
    case 'k': a->key = arg; return -1;
    case 'f': {
        static const char *const formats[] = { "table", "json", "csv", NULL };
        int i;
        if (ot_cli_flag_choice(S_PROG, "--format", arg, formats, &i))
            return OT_EXIT_USAGE;
        a->fmt = (s_format)i;
        return -1;
    }
    default:
        return OT_CLI_FLAG_UNKNOWN;
    }
}

static void
s_header(s_format fmt)
{
    if (fmt == S_CSV) {
        printf("seq,received_at");
        for (int i = 0; i < OT_COUNTS_N; i++)
            printf(",%s", ot_counts_names[i]);
        for (int i = 0; i < OT_COUNTS_N; i++)
            printf(",delta_%s", ot_counts_names[i]);
        printf("\n");
    } else if (fmt == S_TABLE) {
        printf("%-8s %-24s", "seq", "received_at");
        for (int i = 0; i < OT_COUNTS_N; i++)
            printf("%12s", ot_counts_names[i]);
        printf("  change\n");
    }
}

/* The non-zero counters of d as "+1 events, -3 killed", appended to b. */
static int
s_change_text(ot_buf *b, const ot_counts *d)
{
    int64_t n[OT_COUNTS_N];
    ot_counts_to_array(d, n);
    int rc = 0;
    bool any = false;
    for (int i = 0; rc == 0 && i < OT_COUNTS_N; i++) {
        if (n[i] == 0)
            continue;
        rc = ot_buf_printf(b, "%s%+" PRId64 " %s", any ? ", " : "", n[i], ot_counts_names[i]);
        any = true;
    }
    return rc == 0 && !any ? ot_buf_append(b, "0", 1) : rc;
}

static int
s_row_text(s_out *o, const ot_history_row *r)
{
    ot_buf *b = &o->line;
    int64_t after[OT_COUNTS_N], delta[OT_COUNTS_N];
    int rc;
    ot_counts_to_array(&r->after, after);
    ot_counts_to_array(&r->delta, delta);
    switch (o->a->fmt) {
    case S_JSON:
        rc = ot_buf_printf(b, "{\"seq\":%" PRIu64 ",\"received_at\":%" PRId64 ",\"after\":",
                           r->seq, r->received_at);
        if (rc == 0)
            rc = ot_cli_counts_json(b, &r->after);
        if (rc == 0)
            rc = ot_buf_append(b, ",\"delta\":", 9);
        if (rc == 0)
            rc = ot_cli_counts_json(b, &r->delta);
        return rc == 0 ? ot_buf_append(b, "}\n", 2) : rc;
    case S_CSV:
        rc = ot_buf_printf(b, "%" PRIu64 ",%" PRId64, r->seq, r->received_at);
        for (int i = 0; rc == 0 && i < OT_COUNTS_N; i++)
            rc = ot_buf_printf(b, ",%" PRId64, after[i]);
        for (int i = 0; rc == 0 && i < OT_COUNTS_N; i++)
            rc = ot_buf_printf(b, ",%" PRId64, delta[i]);
        return rc == 0 ? ot_buf_append(b, "\n", 1) : rc;
    default: {
        char when[48];
        rc = ot_buf_printf(b, "%-8" PRIu64 " %-24s", r->seq,
                           ot_cli_time_text(r->received_at, when, sizeof when));
        for (int i = 0; rc == 0 && i < OT_COUNTS_N; i++)
            rc = ot_buf_printf(b, "%12" PRId64, after[i]);
        if (rc == 0)
            rc = ot_buf_append(b, "  ", 2);
        if (rc == 0)
            rc = s_change_text(b, &r->delta);
        return rc == 0 ? ot_buf_append(b, "\n", 1) : rc;
    }
    }
}

/* An ot_history_fn. */
static int
s_row(void *ctx, const ot_history_row *r)
{
    s_out *o = ctx;
    o->line.len = 0;
    if (s_row_text(o, r) != 0)
        return ENOMEM;
    fwrite(o->line.data, 1, o->line.len, stdout);
    o->rows++;
    return 0;
}

int
ot_cmd_history(int argc, char **argv)
{
    static const struct option opts[] = {
        { "data", required_argument, NULL, 'd' },
        { "view", required_argument, NULL, 'v' },
        { "key", required_argument, NULL, 'k' },
        { "format", required_argument, NULL, 'f' },
        { NULL, 0, NULL, 0 },
    };
    s_args a = { .data = ot_cli_data_default() };
    const ot_cli_parser p = { S_PROG, "", opts, s_flag, s_help };
    int code = ot_cli_parse(&p, argc, argv, &a, NULL);
    if (code >= 0)
        return code;
    ot_store *s;
    ot_viewset *vs;
    char key[OT_VIEW_KEY_MAX];
    size_t len = 0;
    if ((code = ot_cli_open_tally_key(S_PROG, a.data, a.view, a.key, &s, &vs, key, sizeof key,
                                      &len)) >= 0)
        return code;
    int rc = 0;
    s_out o = { .a = &a };
    if (rc == 0)
        s_header(a.fmt);
    if (rc == 0)
        rc = ot_timeline_history(s, key, len, s_row, &o);
    ot_buf_free(&o.line);
    ot_viewset_free(&vs);
    ot_store_close(&s);
    if (rc != 0) {
        fprintf(stderr, "%s: %s\n", S_PROG, ot_strerror(rc));
        return OT_EXIT_FAILURE;
    }
    if (a.fmt == S_TABLE && o.rows == 0)
        fprintf(stderr, "%s: the tally %s never changed\n", S_PROG, key);
    return fflush(stdout) == 0 ? OT_EXIT_OK : OT_EXIT_FAILURE;
}
