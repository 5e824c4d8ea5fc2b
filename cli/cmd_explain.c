/*
 * cmd_explain: `optally explain`, the events that make up one tally now
 * (ot_timeline_explain): each current, non-retracted event of the key with
 * its contribution, an incident's counted member only, then their sum.
 *
 * JSON Lines: one row per event
 *   {"event_id":..,"revision":N,"source":..,"source_url":..,"occurred_on":..,
 *    "seq":N,"contribution":{COUNTS},"incident":"..","members":N}
 * then {"kind":"total","counts":{COUNTS},"events":N}: the sum over every
 * event (--limit caps the event rows only), equal to the tally query prints.
 *
 * Invariant: usage errors that need no store (flags, a --view name that can
 * be no view, a missing --key) are told before the store is opened.
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

#define S_PROG "optally explain"

typedef struct s_args {
    const char *data;
    const char *view;           /* --view; NULL: the printed key names it */
    const char *key;            /* --key as written */
    bool json;
    uint64_t limit;             /* --limit; 0: every event */
} s_args;

/* The output of one run. */
typedef struct s_out {
    const s_args *a;
    ot_buf line;
    uint64_t rows;              /* event rows seen (printed or not) */
} s_out;

static void
s_help(FILE *f)
{
    fprintf(f,
"usage: optally explain [--data DIR] [--view V] --key K [--format table|json]\n"
"                       [--limit N]\n"
"\n"
"Every event that makes up one observed tally now, in log order: its event_id,\n"
"revision (the current one), source, source_url, occurred_on, log seq and\n"
"what it contributes; for an incident, the member that counts (the best-ranked\n"
"source) and how many members it has. Then the total of them all: it equals\n"
"the tally `optally query` prints. Reads the log in one read transaction (a\n"
"pass over it), beside a running consumer.\n"
"\n"
"  --data DIR        data directory (default ./optally-data; env OPTALLY_DATA)\n"
"  --key K           the tally: its key as query prints it\n"
"                    (country,quarter/IQ/2024-Q1), or dim=value,... naming every\n"
"                    dimension of --view (country=IQ,quarter=2024-Q1; a comma or\n"
"                    %% inside a value as %%2C, %%25)\n"
"  --view V          the view; a dim=value key without it is of the one view\n"
"                    grouping by exactly those dimensions\n"
"  --format F        table (default) or json (JSON Lines: a row per event, then\n"
"                    {\"kind\":\"total\",\"counts\":{...},\"events\":N})\n"
"  --limit N         print at most N event rows (the total still covers all)\n"
"\n"
OT_CLI_CELL_HELP "\n"
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
    case 'l':
        if (ot_cli_parse_u64(arg, &a->limit) != 0 || a->limit == 0)
            return ot_cli_usage_error(S_PROG, "--limit takes a number of rows >= 1, not '%s'",
                                      arg);
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

/* A table cell padded to width. */
static int
s_cell(ot_buf *b, const char *s, size_t width)
{
    size_t start = b->len;
    int rc = ot_cli_cell(b, s, strlen(s));
    while (rc == 0 && b->len - start < width)
        rc = ot_buf_append(b, " ", 1);
    return rc == 0 ? ot_buf_append(b, " ", 1) : rc;
}

/* One event row in o->line. Returns 0 or ENOMEM. */
static int
s_row_text(s_out *o, const ot_explain_row *r)
{
    const Optally__OperationEvent *ev = r->ev;
    ot_buf *b = &o->line;
    int rc;
    if (o->a->json) {
        rc = ot_buf_append(b, "{\"event_id\":", 12);
        if (rc == 0)
            rc = ot_buf_json_text(b, ev->event_id, strlen(ev->event_id));
        if (rc == 0)
            rc = ot_buf_printf(b, ",\"revision\":%" PRIu32 ",\"source\":", ev->revision);
        if (rc == 0)
            rc = ot_buf_json_text(b, ev->source, strlen(ev->source));
        if (rc == 0)
            rc = ot_buf_append(b, ",\"source_url\":", 14);
        if (rc == 0)
            rc = ot_buf_json_text(b, ev->source_url, strlen(ev->source_url));
        if (rc == 0)
            rc = ot_buf_append(b, ",\"occurred_on\":", 15);
        if (rc == 0)
            rc = ot_buf_json_text(b, ev->occurred_on, strlen(ev->occurred_on));
        if (rc == 0)
            rc = ot_buf_printf(b, ",\"seq\":%" PRIu64 ",\"contribution\":", r->seq);
        if (rc == 0)
            rc = ot_cli_counts_json(b, &r->contribution);
        if (rc == 0)
            rc = ot_buf_append(b, ",\"incident\":", 12);
        if (rc == 0)
            rc = ot_buf_json_text(b, r->incident, strlen(r->incident));
        if (rc == 0)
            rc = ot_buf_printf(b, ",\"members\":%zu}\n", r->incident_members);
        return rc;
    }
    int64_t n[OT_COUNTS_N];
    ot_counts_to_array(&r->contribution, n);
    rc = ot_buf_printf(b, "%-8" PRIu64 " ", r->seq);
    if (rc == 0)
        rc = s_cell(b, ev->event_id, 24);
    if (rc == 0)
        rc = ot_buf_printf(b, "%4" PRIu32 " ", ev->revision);
    if (rc == 0)
        rc = s_cell(b, ev->source, 12);
    if (rc == 0)
        rc = s_cell(b, ev->occurred_on, 10);
    for (int i = 0; rc == 0 && i < OT_COUNTS_N; i++)
        rc = ot_buf_printf(b, "%12" PRId64, n[i]);
    if (rc == 0 && r->incident[0]) {
        rc = ot_buf_append(b, "  ", 2);
        if (rc == 0)
            rc = ot_cli_cell(b, r->incident, strlen(r->incident));
        if (rc == 0)
            rc = ot_buf_printf(b, " (counted of %zu)", r->incident_members);
    }
    return rc == 0 ? ot_buf_append(b, "\n", 1) : rc;
}

static void
s_table_header(void)
{
    printf("%-8s %-24s %4s %-12s %-10s", "seq", "event_id", "rev", "source", "occurred_on");
    for (int i = 0; i < OT_COUNTS_N; i++)
        printf("%12s", ot_counts_names[i]);
    printf("  incident\n");
}

/* An ot_explain_fn: print the row unless past --limit. */
static int
s_row(void *ctx, const ot_explain_row *r)
{
    s_out *o = ctx;
    if (o->a->limit && o->rows >= o->a->limit) {
        o->rows++;
        return 0;
    }
    if (!o->a->json && o->rows == 0)
        s_table_header();
    o->line.len = 0;
    if (s_row_text(o, r) != 0)
        return ENOMEM;
    fwrite(o->line.data, 1, o->line.len, stdout);
    o->rows++;
    return 0;
}

/* The total row. Returns 0 or ENOMEM. */
static int
s_total(s_out *o, const ot_counts *total, uint64_t events)
{
    ot_buf *b = &o->line;
    int rc;
    b->len = 0;
    if (o->a->json) {
        rc = ot_buf_append(b, "{\"kind\":\"total\",\"counts\":", 25);
        if (rc == 0)
            rc = ot_cli_counts_json(b, total);
        if (rc == 0)
            rc = ot_buf_printf(b, ",\"events\":%" PRIu64 "}\n", events);
    } else {
        int64_t n[OT_COUNTS_N];
        ot_counts_to_array(total, n);
        rc = 0;
        if (o->a->limit && events > o->a->limit)
            rc = ot_buf_printf(b, "... %" PRIu64 " more events not shown (--limit %" PRIu64 ")\n",
                               events - o->a->limit, o->a->limit);
        if (rc == 0)
            rc = ot_buf_printf(b, "%-8s %-24s %4s %-12s %-10s", "total", "", "", "", "");
        for (int i = 0; rc == 0 && i < OT_COUNTS_N; i++)
            rc = ot_buf_printf(b, "%12" PRId64, n[i]);
        if (rc == 0)
            rc = ot_buf_printf(b, "  %" PRIu64 " event%s\n", events, events == 1 ? "" : "s");
    }
    if (rc == 0)
        fwrite(b->data, 1, b->len, stdout);
    return rc;
}

int
ot_cmd_explain(int argc, char **argv)
{
    static const struct option opts[] = {
        { "data", required_argument, NULL, 'd' },
        { "view", required_argument, NULL, 'v' },
        { "key", required_argument, NULL, 'k' },
        { "format", required_argument, NULL, 'f' },
        { "limit", required_argument, NULL, 'l' },
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
    ot_counts total = { 0 };
    uint64_t events = 0;
    if (rc == 0)
        rc = ot_timeline_explain(s, key, len, s_row, &o, &total, &events);
    if (rc == 0)
        rc = s_total(&o, &total, events);
    ot_buf_free(&o.line);
    ot_viewset_free(&vs);
    ot_store_close(&s);
    if (rc != 0) {
        fprintf(stderr, "%s: %s\n", S_PROG, ot_strerror(rc));
        return OT_EXIT_FAILURE;
    }
    return fflush(stdout) == 0 ? OT_EXIT_OK : OT_EXIT_FAILURE;
}
