/*
 * cmd_disagreements: `optally disagreements`, the incidents (one real
 * operation reported by several sources) whose reports differ on a
 * counter, with each report's counts and the one that counts.
 *
 * NAME
 *     optally disagreements - incidents whose reports differ
 *
 * SYNOPSIS
 *     optally disagreements [--data DIR] [--format table|json]
 *
 * Invariants:
 *  1. An incident is listed when at least two of its members are not
 *     retracted and their counts (ot_counts_of: events, operations, killed,
 *     detained, wounded, killed_low, killed_high) are not all equal.
 *  2. Members are its non-retracted members (the ones compared), in
 *     first-stored order; "counted" names the member whose counts the
 *     observed tallies hold (the store's rule: best-ranked source, then the
 *     earliest stored). Incidents in incident order, all read in one read
 *     transaction (ot_store_incident_foreach).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ot_error.h"
#include "ot_json.h"
#include "ot_store.h"
#include "store_arg.h"
#include "tally_print.h"

#define S_PROG "optally disagreements"

typedef struct s_args {
    const char *data;
    bool json;
} s_args;

typedef struct s_out {
    const s_args *a;
    ot_buf line;
    size_t rows;            /* incidents listed */
    size_t incidents;       /* incidents seen */
} s_out;

static void
s_help(FILE *f)
{
    fputs(
"usage: optally disagreements [--data DIR] [--format table|json]\n"
"\n"
"List the incidents whose reports disagree: events with the same `incident`\n"
"report one real operation (CENTCOM's and the SDF's account of one raid) and\n"
"count once in the tallies, with the counts of one of them: the report of the\n"
"best-ranked source (`optally consume --source-rank CENTCOM,SDF,...`;\n"
"unranked sources after ranked ones), the earliest stored among equals. An\n"
"incident is listed when two of its non-retracted reports differ on any\n"
"counter (events, operations, killed, detained, wounded, killed_low,\n"
"killed_high), with each report's counts.\n"
"\n"
"  --data DIR      data directory (default $OPTALLY_DATA, else ./optally-data)\n"
"  --format F      table (default) or json (JSON Lines, one object per incident)\n"
"  -h, --help      this text\n"
"\n"
"JSON Lines rows, in incident order:\n"
"  {\"incident\":ID,\"counted\":EVENT_ID,\"members\":[{\"event_id\":..,\"source\":..,\n"
"   \"revision\":N,\"counts\":{COUNTS}},...]}\n"
"members: the non-retracted reports, in the order they were first stored;\n"
"COUNTS: the counter object of `optally query` rows. The table marks the\n"
"counted report with *.\n"
"\n"
OT_CLI_CELL_HELP
"\n"
"Exit status: 0 ok (disagreements are data, not a failure); 2 store missing\n"
"or unreadable; 64 usage error.\n", f);
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

/* Returns -1 to go on, or the exit code. */
static int
s_parse(int argc, char **argv, s_args *a)
{
    static const struct option longs[] = {
        { "data", required_argument, NULL, 'd' },
        { "format", required_argument, NULL, 'f' },
        { NULL, 0, NULL, 0 },
    };
    static const ot_cli_parser parser = { S_PROG, "", longs, s_flag, s_help };
    return ot_cli_parse(&parser, argc, argv, a, NULL);
}

/* True when the non-retracted members of m differ on a counter
 * (invariant 1). */
static bool
s_disagree(const ot_incident_member *m, size_t n)
{
    const ot_incident_member *first = NULL;
    ot_counts a, b;
    for (size_t i = 0; i < n; i++) {
        if (m[i].ev->retracted)
            continue;
        if (!first) {
            first = &m[i];
            ot_counts_of(first->ev, &a);
            continue;
        }
        ot_counts_of(m[i].ev, &b);
        if (memcmp(&a, &b, sizeof a) != 0)
            return true;
    }
    return false;
}

static int
s_row_json(ot_buf *b, const char *incident, size_t len, const ot_incident_member *m, size_t n,
           long counted)
{
    int rc = ot_buf_append(b, "{\"incident\":", 12);
    if (rc == 0)
        rc = ot_buf_json_text(b, incident, len);
    if (rc == 0)
        rc = ot_buf_append(b, ",\"counted\":", 11);
    if (rc == 0 && counted >= 0)
        rc = ot_buf_json_text(b, m[counted].ev->event_id, strlen(m[counted].ev->event_id));
    else if (rc == 0)
        rc = ot_buf_append(b, "null", 4);
    if (rc == 0)
        rc = ot_buf_append(b, ",\"members\":[", 12);
    bool first = true;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const Optally__OperationEvent *ev = m[i].ev;
        ot_counts c;
        if (ev->retracted)
            continue;
        ot_counts_of(ev, &c);
        rc = ot_buf_append(b, first ? "{\"event_id\":" : ",{\"event_id\":", first ? 12 : 13);
        first = false;
        if (rc == 0)
            rc = ot_buf_json_text(b, ev->event_id, strlen(ev->event_id));
        if (rc == 0)
            rc = ot_buf_append(b, ",\"source\":", 10);
        if (rc == 0)
            rc = ot_buf_json_text(b, ev->source, strlen(ev->source));
        if (rc == 0)
            rc = ot_buf_printf(b, ",\"revision\":%" PRIu32 ",\"counts\":", ev->revision);
        if (rc == 0)
            rc = ot_cli_counts_json(b, &c);
        if (rc == 0)
            rc = ot_buf_append(b, "}", 1);
    }
    return rc == 0 ? ot_buf_append(b, "]}\n", 3) : rc;
}

/* A text cell padded to width w, then a space. */
static int
s_cell(ot_buf *b, const char *s, size_t n, size_t w)
{
    size_t start = b->len;
    int rc = ot_cli_cell(b, s, n);
    while (rc == 0 && b->len - start < w)
        rc = ot_buf_append(b, " ", 1);
    return rc == 0 ? ot_buf_append(b, " ", 1) : rc;
}

static int
s_row_table(ot_buf *b, bool first, const char *incident, size_t len,
            const ot_incident_member *m, size_t n, long counted)
{
    int rc = ot_buf_append(b, first ? "incident " : "\nincident ", first ? 9 : 10);
    if (rc == 0)
        rc = ot_cli_cell(b, incident, len);
    if (rc == 0)
        rc = ot_buf_printf(b, "\n  %-36s %-12s %8s", "event_id", "source", "revision");
    for (int i = 0; rc == 0 && i < OT_COUNTS_N; i++)
        rc = ot_buf_printf(b, "%12s", ot_counts_names[i]);
    if (rc == 0)
        rc = ot_buf_append(b, "\n", 1);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const Optally__OperationEvent *ev = m[i].ev;
        if (ev->retracted)
            continue;
        ot_counts c;
        int64_t v[OT_COUNTS_N];
        ot_counts_of(ev, &c);
        ot_counts_to_array(&c, v);
        rc = ot_buf_append(b, (long)i == counted ? "* " : "  ", 2);
        if (rc == 0)
            rc = s_cell(b, ev->event_id, strlen(ev->event_id), 36);
        if (rc == 0)
            rc = s_cell(b, ev->source, strlen(ev->source), 12);
        if (rc == 0)
            rc = ot_buf_printf(b, "%8" PRIu32, ev->revision);
        for (int k = 0; rc == 0 && k < OT_COUNTS_N; k++)
            rc = ot_buf_printf(b, "%12" PRId64, v[k]);
        if (rc == 0)
            rc = ot_buf_append(b, "\n", 1);
    }
    return rc;
}

static int
s_on_incident(void *ctx, const char *incident, size_t len, const ot_incident_member *m, size_t n,
              long counted)
{
    s_out *o = ctx;
    o->incidents++;
    if (!s_disagree(m, n))
        return 0;
    o->line.len = 0;
    int rc = o->a->json ? s_row_json(&o->line, incident, len, m, n, counted)
                        : s_row_table(&o->line, o->rows == 0, incident, len, m, n, counted);
    if (rc != 0)
        return ENOMEM;
    fwrite(o->line.data, 1, o->line.len, stdout);
    o->rows++;
    return 0;
}

int
ot_cmd_disagreements(int argc, char **argv)
{
    s_args a = { .data = ot_cli_data_default() };
    int code = s_parse(argc, argv, &a);
    if (code >= 0)
        return code;
    ot_store *s;
    ot_store_options so = { .readonly = true };   /* readers never block the consumer */
    if (ot_cli_store_open(S_PROG, a.data, &so, &s) != 0)
        return OT_EXIT_FAILURE;
    s_out o = { .a = &a };
    int rc = ot_store_incident_foreach(s, s_on_incident, &o);
    ot_buf_free(&o.line);
    ot_store_close(&s);
    if (rc != 0) {
        fprintf(stderr, S_PROG ": %s\n", ot_strerror(rc));
        return OT_EXIT_FAILURE;
    }
    if (!a.json)
        printf("%s%zu incident%s, %zu with reports that disagree\n", o.rows ? "\n" : "",
               o.incidents, o.incidents == 1 ? "" : "s", o.rows);
    return fflush(stdout) == 0 ? OT_EXIT_OK : OT_EXIT_FAILURE;
}
