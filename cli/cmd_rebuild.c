/*
 * cmd_rebuild: `optally rebuild`, tallies recomputed from the event log; a
 * thin layer over store/ot_rebuild.
 *
 * NAME
 *     optally rebuild - recompute tallies from the log, or check them
 *
 * SYNOPSIS
 *     optally rebuild [--data DIR] [--views V,...] [--check]
 *                     [--source-rank LIST] [--format table|json] [--quiet]
 *
 * Invariants:
 *  1. A repair holds the writer lock for its whole run (the store is opened
 *     as a maintenance writer): no consumer commits between the computation
 *     and the write, and none starts meanwhile. A check takes no lock.
 *  2. Every difference found is printed, in key order, whether it is being
 *     repaired or only reported; stdout holds nothing else in json format.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ot_event.h"
#include "ot_error.h"
#include "ot_json.h"
#include "ot_rebuild.h"
#include "ot_store.h"
#include "ot_view.h"
#include "progress.h"
#include "store_arg.h"
#include "tally_key.h"
#include "tally_print.h"

#define S_PROG "optally rebuild"

typedef struct s_args {
    const char *data;
    const char *source_rank;    /* --source-rank; NULL: keep the stored one */
    const char *views;  /* --views as written: parsed against the store's views */
    bool check, json, quiet;
} s_args;

typedef struct s_out {
    const s_args *a;
    ot_buf line;
    ot_progress prog;
} s_out;

static void
s_help(FILE *f)
{
    fprintf(f,
"usage: optally rebuild [--data DIR] [--views V,...] [--check]\n"
"                       [--source-rank LIST] [--format table|json] [--quiet]\n"
"\n"
"Recompute every tally from the event log: an event counts when its log record\n"
"is the last one of its event_id (its current revision) and is not retracted;\n"
"the observed tallies (operations, an incident once), the reported ones\n"
"(aggregates) and the indexes of aggregates, incidents and figures alike.\n"
"Differences from the stored tallies are written in ONE write transaction:\n"
"readers (query, subscribers' snapshots) see the old tallies until it commits,\n"
"the new ones after. Each changed tally bumps the update sequences, so live\n"
"subscribers re-snapshot. Also fills a newly added view with history.\n"
"\n"
"  --data DIR       data directory (default $OPTALLY_DATA, else ./optally-data)\n"
"  --views V,...    only these views (default: all). Names contain commas\n"
"                   (country,quarter): each part is the longest view name that\n"
"                   matches. Views:%s, and those declared with\n"
"                   `optally view add`\n"
"  --check          compute and compare only, write nothing; needs no lock, so\n"
"                   it runs beside a live consumer (on one consistent snapshot)\n"
"  --source-rank LIST\n"
"                   set the store's source ranking (CENTCOM,SDF,...: the sources\n"
"                   of an incident, best first; \"\" ranks none) and recount\n"
"                   every incident with it. The way to change the ranking of a\n"
"                   store that holds incidents: a consumer refuses to start with\n"
"                   another one. Not with --check\n"
"  --format F       table (default) or json: each difference as JSON Lines,\n"
"                   {\"key\":K,\"view\":V,\"stored\":{counters}|null,\n"
"                    \"rebuilt\":{counters}|null} (an observed tally); a reported\n"
"                   tally adds \"db\":\"reported\" after view; an entry of an\n"
"                   index has \"db\" (aggregates, children, incidents, figures),\n"
"                   no view, and stored and rebuilt true or false (present;\n"
"                   both true: the values differ)\n"
"  -q, --quiet      no progress, no summary\n"
"  -h, --help       this text\n"
"\n"
"A repair needs the writer lock: stop the consumer first. Keys of views the\n"
"store does not know are left alone.\n"
"\n"
"Output: each difference (stored vs rebuilt) on stdout, a reported tally or an\n"
"index entry marked [DB] in the table; then, unless --quiet, a summary (stdout\n"
"for table, stderr for json).\n"
"\n"
"Exit status: 0 no difference (--check) or rebuilt; 1 --check found\n"
"differences; 2 store missing or unreadable, a consumer holds the directory\n"
"(repair), a log record does not decode, or another failure; 64 usage error.\n",
            ot_cli_view_names());
}


/* Split a --views list into view bits of the slots of vs: view names hold
 * commas, so at each position take the longest run of comma-separated parts
 * that names a view. Returns 0, or OT_ENOTFOUND with *bad pointing at the
 * part that fits none. */
static int
s_parse_views(const ot_viewset *vs, const char *list, uint64_t *bits, const char **bad)
{
    const char *p = list;
    while (*p) {
        size_t best = 0;
        long view = -1;
        for (const char *q = p;; q++) {
            if (*q == ',' || *q == '\0') {
                for (size_t i = 0; i < ot_viewset_count(vs); i++) {
                    const ot_view *v = ot_viewset_at(vs, i);
                    if (v && strlen(v->name) == (size_t)(q - p) &&
                        memcmp(v->name, p, (size_t)(q - p)) == 0) {
                        best = (size_t)(q - p);
                        view = (long)i;
                    }
                }
            }
            if (*q == '\0')
                break;
        }
        if (view < 0) {
            *bad = p;
            return OT_ENOTFOUND;
        }
        *bits |= (uint64_t)1 << view;
        p += best;
        if (*p == ',')
            p++;
    }
    return 0;
}

/* A ranking is "" (none) or source names separated by single commas.
 * Returns 0, or EINVAL with *bad at the empty name. */
static int
s_rank_check(const char *list, const char **bad)
{
    if (*list == '\0')
        return 0;
    for (const char *p = list;; p++) {
        if ((*p == ',' || *p == '\0') && (p == list || p[-1] == ',')) {
            *bad = p == list ? list : p - 1;
            return EINVAL;
        }
        if (*p == '\0')
            return 0;
    }
}

/* One flag c (what getopt_long returned) with its value arg: an
 * ot_cli_flag_fn (args.h). */
static int
s_flag(void *ctx, int c, const char *arg)
{
    s_args *a = ctx;
    const char *bad;
    switch (c) {
    case 'd': a->data = arg; return -1;
    case 'c': a->check = true; return -1;
    case 'q': a->quiet = true; return -1;
    case 'r':
        if (s_rank_check(arg, &bad) != 0)
            return ot_cli_usage_error(S_PROG, "--source-rank: an empty source name at '%s'"
                                      " (give NAME,NAME,... or \"\" for none)", bad);
        a->source_rank = arg;
        return -1;
    case 'v':
        a->views = arg;
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
        { "views", required_argument, NULL, 'v' },
        { "check", no_argument, NULL, 'c' },
        { "format", required_argument, NULL, 'f' },
        { "quiet", no_argument, NULL, 'q' },
        { "source-rank", required_argument, NULL, 'r' },
        { NULL, 0, NULL, 0 },
    };
    static const ot_cli_parser parser = { S_PROG, "q", longs, s_flag, s_help };
    int code = ot_cli_parse(&parser, argc, argv, a, NULL);
    if (code >= 0)
        return code;
    if (a->check && a->source_rank)
        return ot_cli_usage_error(S_PROG, "--source-rank changes the store: not with --check");
    return -1;
}



static int
s_side(ot_buf *b, bool json, bool present, const ot_counts *c)
{
    int64_t n[OT_COUNTS_N];
    int rc = 0;
    if (!present)
        return ot_buf_append(b, json ? "null" : "absent", json ? 4 : 6);
    ot_counts_to_array(c, n);
    if (json)
        rc = ot_buf_append(b, "{", 1);
    for (int i = 0; rc == 0 && i < OT_COUNTS_N; i++)
        rc = ot_buf_printf(b, json ? "%s\"%s\":%" PRId64 : "%s%s=%" PRId64,
                           i ? (json ? "," : " ") : "", ot_counts_names[i], n[i]);
    if (rc == 0 && json)
        rc = ot_buf_append(b, "}", 1);
    return rc;
}

/* True when d is an entry of an index DB (aggregates, children, incidents,
 * figures): no view, no counters, only present or not. */
static bool
s_is_index(const ot_rebuild_diff *d)
{
    return d->db && strcmp(d->db, "tallies") != 0 && strcmp(d->db, "reported") != 0;
}

/* An index entry's side: present or absent (both present: the values
 * differ). */
static int
s_index_side(ot_buf *b, bool json, bool present)
{
    if (json)
        return present ? ot_buf_append(b, "true", 4) : ot_buf_append(b, "false", 5);
    return present ? ot_buf_append(b, "present", 7) : ot_buf_append(b, "absent", 6);
}

/* The line of one difference in o->line:
 *   table: [DB] KEY  stored ...  rebuilt ...   (no [DB] for observed tallies)
 *   json:  {"key":K,"view":V,"db":DB,"stored":{..}|null,"rebuilt":{..}|null}
 *          (an index entry: no view; stored/rebuilt true or false) */
static int
s_diff_line(s_out *o, const ot_rebuild_diff *d)
{
    bool json = o->a->json, index = s_is_index(d);
    const char *db = d->db ? d->db : "tallies";
    int rc = 0;
    o->line.len = 0;
    if (json) {
        rc = ot_buf_append(&o->line, "{\"key\":", 7);
        if (rc == 0)
            rc = ot_buf_json_text(&o->line, d->key, d->len);
        if (rc == 0 && !index)
            rc = ot_buf_printf(&o->line, ",\"view\":\"%s\"",
                               d->view_name ? d->view_name : ot_view_at(d->view)->name);
        /* an observed tally's row stays as it always was: no "db" */
        if (rc == 0 && strcmp(db, "tallies") != 0)
            rc = ot_buf_printf(&o->line, ",\"db\":\"%s\"", db);
        if (rc == 0)
            rc = ot_buf_append(&o->line, ",\"stored\":", 10);
    } else {
        if (strcmp(db, "tallies") != 0)
            rc = ot_buf_printf(&o->line, "[%s] ", db);
        if (rc == 0)
            rc = ot_cli_cell(&o->line, d->key, d->len);   /* a key may hold any text */
        if (rc == 0)
            rc = ot_buf_append(&o->line, "  stored ", 9);
    }
    if (rc == 0)
        rc = index ? s_index_side(&o->line, json, d->stored_present)
                   : s_side(&o->line, json, d->stored_present, &d->stored);
    if (rc == 0)
        rc = ot_buf_append(&o->line, json ? ",\"rebuilt\":" : "  rebuilt ", json ? 11 : 10);
    if (rc == 0)
        rc = index ? s_index_side(&o->line, json, d->rebuilt_present)
                   : s_side(&o->line, json, d->rebuilt_present, &d->rebuilt);
    if (rc == 0)
        rc = ot_buf_append(&o->line, json ? "}\n" : "\n", json ? 2 : 1);
    return rc;
}

static int
s_on_diff(void *ctx, const ot_rebuild_diff *d)
{
    s_out *o = ctx;
    if (s_diff_line(o, d) != 0)
        return ENOMEM;
    ot_progress_clear(&o->prog);
    fwrite(o->line.data, 1, o->line.len, stdout);
    return 0;
}

static void
s_on_progress(void *ctx, uint64_t done, uint64_t total)
{
    s_out *o = ctx;
    ot_progress_update(&o->prog, done, total);
}

/* Open for a check (read-only, beside a live consumer) or a repair (the
 * writer lock, invariant 1). Reports failures; returns 0 or the code. */
static int
s_open(const s_args *a, ot_store **s)
{
    ot_store_options so = { .readonly = a->check, .maintenance = !a->check,
                            .source_rank = a->source_rank };
    int rc = ot_cli_store_open(S_PROG, a->data, &so, s);
    if (rc == OT_ELOCKED)
        fprintf(stderr, S_PROG ": a consumer holds %s (its writer.lock): stop the consumer first;"
                " `optally rebuild --check` runs beside it\n", a->data);
    return rc;
}

/* --views as bits of the store's view slots. OUT: *bits. Returns -1 to go
 * on, or the exit code after printing why. */
static int
s_views(const s_args *a, ot_store *s, uint64_t *bits)
{
    ot_viewset *vs = NULL;
    const char *bad;
    char names[1024];
    if (!a->views)
        return -1;
    int rc = ot_store_views(s, &vs), code = -1;
    if (rc != 0) {
        fprintf(stderr, S_PROG ": cannot read the store's views: %s\n", ot_strerror(rc));
        return OT_EXIT_FAILURE;
    }
    if (s_parse_views(vs, a->views, bits, &bad) != 0)
        code = ot_cli_usage_error(S_PROG, "--views: no view at '%s'; views:%s", bad,
                                  ot_cli_viewset_names(vs, names, sizeof names));
    ot_viewset_free(&vs);
    return code;
}

static void
s_summary(const s_args *a, const ot_rebuild_stats *st, double secs)
{
    if (a->quiet)
        return;
    FILE *f = a->json ? stderr : stdout;
    fprintf(f, "%s: %" PRIu64 " difference%s; %" PRIu64 " tallies rebuilt from %" PRIu64
            " log records (%" PRIu64 " event ids, %" PRIu64 " counted) in %.2f s, %.0f records/s",
            a->check ? "check" : "rebuild", st->diffs, st->diffs == 1 ? "" : "s",
            st->tallies, st->records, st->ids, st->counted, secs,
            secs > 0 ? (double)st->records / secs : 0.0);
    if (st->reported || st->aggregates || st->members || st->figures)
        fprintf(f, "; also %" PRIu64 " reported tallies (%" PRIu64 " aggregates), %" PRIu64
                " incident members, %" PRIu64 " figures", st->reported, st->aggregates,
                st->members, st->figures);
    fputc('\n', f);
    if (!a->check && st->diffs)
        fprintf(f, "rebuild: %" PRIu64 " tallies written in one transaction\n", st->diffs);
}

int
ot_cmd_rebuild(int argc, char **argv)
{
    s_args a = { .data = ot_cli_data_default() };
    int code = s_parse(argc, argv, &a);
    if (code >= 0)
        return code;
    ot_store *s = NULL;
    if (s_open(&a, &s) != 0)
        return OT_EXIT_FAILURE;
    uint64_t views = 0;
    if ((code = s_views(&a, s, &views)) >= 0) {
        ot_store_close(&s);
        return code;
    }
    s_out o = { .a = &a };
    ot_progress_init(&o.prog, a.check ? "check" : "rebuild", "records", a.quiet);
    ot_rebuild_options ro = {
        .views = views, .check = a.check,
        .on_diff = s_on_diff, .diff_ctx = &o,
        .on_progress = s_on_progress, .progress_ctx = &o,
    };
    ot_rebuild_stats st;
    int rc = ot_rebuild_run(s, &ro, &st);
    ot_progress_clear(&o.prog);
    double secs = (double)ot_progress_elapsed_ms(&o.prog) / 1000.0;
    ot_store_close(&s);
    ot_buf_free(&o.line);
    if (rc == OT_ECORRUPT && st.bad_seq)
        fprintf(stderr, S_PROG ": log record %" PRIu64 " does not decode as a valid event;"
                " nothing written\n", st.bad_seq);
    else if (rc == ENOMEM)
        fprintf(stderr, S_PROG ": out of memory; nothing written\n");
    else if (rc != 0)
        fprintf(stderr, S_PROG ": %s; nothing written\n", ot_strerror(rc));
    if (rc != 0)
        return OT_EXIT_FAILURE;
    s_summary(&a, &st, secs);
    if (fflush(stdout) != 0)
        return OT_EXIT_FAILURE;
    return a.check && st.diffs ? OT_EXIT_PROBLEM : OT_EXIT_OK;
}
