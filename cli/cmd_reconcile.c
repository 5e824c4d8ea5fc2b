/*
 * cmd_reconcile: `optally reconcile`, what was reported (aggregates: period
 * totals as a release publishes them) beside what was observed (operation
 * events), per key of one view, and the parts of each aggregate checked
 * against their parent.
 *
 * NAME
 *     optally reconcile - reported vs observed tallies, per key of a view
 *
 * SYNOPSIS
 *     optally reconcile [--data DIR] --view V [--format table|json|csv]
 *     optally reconcile [--data DIR] [--view V] --check-parts [--format table|json]
 *
 * Invariants:
 *  1. Rows come in key order (the stores' order: bytes, then length), one per
 *     key present in the observed or the reported tallies of the view, or
 *     holding an aggregate that counts there; a side without the key is all
 *     zeros. difference = observed - reported, counter by counter.
 *  2. "aggregates" of a row are exactly the aggregates whose sums make its
 *     "reported" (counted there, not shadowed by an ancestor), in event_id
 *     order; every aggregate the view cannot place is in the final
 *     {"view":V,"unplaced":[...]} row, printed in JSON even when empty.
 *  3. The observed, reported and placement walks are each one read
 *     transaction; beside a live consumer a commit may fall between them
 *     (run it again, or stop the consumer, for a figure to the unit).
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
#include "ot_view.h"
#include "store_arg.h"
#include "tally_key.h"
#include "tally_print.h"

#define S_PROG "optally reconcile"

typedef enum { S_TABLE, S_JSON, S_CSV } s_format;

/* Every field any view has, in column order for CSV (as query). */
static const char *const s_all_fields[] = { "country", "quarter", "month", "partner_force" };
#define S_NFIELDS (sizeof s_all_fields / sizeof s_all_fields[0])

/* The three sides of a row, in output order. */
static const char *const s_sides[] = { "reported", "observed", "difference" };

typedef struct s_args {
    const char *data;
    const char *view_name;  /* --view as given; NULL: none */
    const ot_view *view;    /* --view resolved in vs once the store is open */
    const ot_viewset *vs;   /* the store's views (built-in and declared) */
    s_format fmt;
    bool check_parts;
} s_args;

/* A tally of the view, key copied out of the walk. */
typedef struct s_tally {
    char *key;
    size_t len;
    ot_counts c;
} s_tally;

/* An aggregate counted in a key (id copied out); ord keeps the walk's
 * event_id order through the sort by key. */
typedef struct s_agg {
    char *key;
    size_t len;
    char *id;
    size_t ord;
} s_agg;

/* What the walks collected; each array owns its strings. */
typedef struct s_data {
    const ot_view *view;
    const ot_viewset *vs;   /* the store's views, to split keys */
    s_tally *obs, *rep;
    size_t nobs, nrep, capobs, caprep;
    s_agg *aggs;
    size_t naggs, capaggs;
    char **unplaced;
    size_t nunplaced, capunplaced;
} s_data;

static void
s_help(FILE *f)
{
    fprintf(f,
"usage: optally reconcile [--data DIR] --view V [--format table|json|csv]\n"
"       optally reconcile [--data DIR] [--view V] --check-parts [--format table|json]\n"
"\n"
"Set what was reported beside what was observed, per key of view V. Reported:\n"
"the AGGREGATE events (period totals as a release publishes them), each in the\n"
"key its scope determines (a country view needs a single country, a quarter or\n"
"month needs the whole span inside it), a parent and its own children never\n"
"both in one key (the parent counts, its parts are its breakdown). Observed:\n"
"the tallies of `optally query` (OPERATION events, an incident once).\n"
"difference = observed - reported, counter by counter (events counts reports:\n"
"one aggregate against many operations; compare operations, killed, ...).\n"
"\n"
"  --data DIR      data directory (default $OPTALLY_DATA, else ./optally-data)\n"
"  --view V        the view; views:%s\n"
"  --format F      table (default), json (JSON Lines), csv\n"
"  --check-parts   check every aggregate that has parts (children: aggregates\n"
"                  whose parent_id names it) against the sum of its current,\n"
"                  non-retracted parts, and list each parent whose sums differ\n"
"                  on operations, killed, detained, wounded, killed_low or\n"
"                  killed_high (events is not compared); with --view, after\n"
"                  the rows of the view. Exit 1 when one differs.\n"
"  -h, --help      this text\n"
"\n"
"JSON Lines rows, in key order, for each key observed or reported:\n"
"  {\"view\":V,FIELD:VALUE,...,\"reported\":{COUNTS},\"observed\":{COUNTS},\n"
"   \"difference\":{COUNTS},\"aggregates\":[event_id,...]}\n"
"COUNTS is the counter object of `optally query` rows ({\"events\":N,\n"
"\"operations\":N,\"killed\":N,\"detained\":N,\"wounded\":N,\"killed_low\":N,\n"
"\"killed_high\":N}); aggregates lists those counted in the key. Then one row\n"
"  {\"view\":V,\"unplaced\":[event_id,...]}\n"
"with the aggregates whose scope fits no key of the view (always printed).\n"
"--check-parts rows: {\"parent\":ID,\"counts\":{COUNTS},\"children_sum\":{COUNTS},\n"
"\"children\":[event_id,...]}, one per parent that differs.\n"
"CSV: one line per key: view, the fields of every view, reported_COUNTER...,\n"
"observed_COUNTER..., difference_COUNTER..., aggregates (ids, space-separated);\n"
"the unplaced aggregates are told on stderr.\n"
"\n"
OT_CLI_CELL_HELP OT_CLI_CSV_HELP
"\n"
"Each walk (observed, reported, placements) is one read transaction; beside\n"
"a live consumer a commit may fall between them.\n"
"\n"
"Exit status: 0 ok; 1 --check-parts found parts that differ from their\n"
"parent; 2 store missing or unreadable; 64 usage error.\n", ot_cli_view_names());
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
        int code = ot_cli_view_name_check(S_PROG, arg);
        if (code != 0)
            return code;
        a->view_name = arg;
        return -1;
    }
    case 'p':
        a->check_parts = true;
        return -1;
    case 'f': {
        static const char *const formats[] = { "table", "json", "csv", NULL };   /* s_format's order */
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

/* Returns -1 to go on, or the exit code. */
static int
s_parse(int argc, char **argv, s_args *a)
{
    static const struct option longs[] = {
        { "data", required_argument, NULL, 'd' },
        { "view", required_argument, NULL, 'v' },
        { "format", required_argument, NULL, 'f' },
        { "check-parts", no_argument, NULL, 'p' },
        { NULL, 0, NULL, 0 },
    };
    static const ot_cli_parser parser = { S_PROG, "", longs, s_flag, s_help };
    int code = ot_cli_parse(&parser, argc, argv, a, NULL);
    if (code >= 0)
        return code;
    /* No store: no declared views (told before opening, as ever). */
    if (a->view_name && !ot_view_find(a->view_name) && !ot_cli_store_exists(a->data))
        return ot_cli_usage_error(S_PROG, "unknown view '%s'; views:%s (no store in %s, so no "
                                  "declared views)", a->view_name, ot_cli_view_names(), a->data);
    if (!a->view_name && !a->check_parts)
        return ot_cli_usage_error(S_PROG, "which view? --view V (views:%s), or --check-parts",
                                  ot_cli_view_names());
    if (a->check_parts && a->fmt == S_CSV)
        return ot_cli_usage_error(S_PROG, "--check-parts prints table or json, not csv");
    return -1;
}

/* ---- collecting ------------------------------------------------------------ */

/* Make room for one more element of size sz in *arr (n used, *cap
 * allocated). Returns 0 or ENOMEM (*arr unchanged). */
static int
s_grow(void **arr, size_t n, size_t *cap, size_t sz)
{
    if (n < *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 64;
    void *p = realloc(*arr, ncap * sz);
    if (!p)
        return ENOMEM;
    *arr = p;
    *cap = ncap;
    return 0;
}

static char *
s_dup(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

/* True when key (len bytes) is a key of view v of vs. */
static bool
s_in_view(const ot_viewset *vs, const ot_view *v, const char *key, size_t len)
{
    const ot_view *kv;
    const char *vals[OT_VIEW_MAX_FIELDS];
    char valbuf[OT_VIEW_KEY_MAX];
    return ot_viewset_key_split(vs, key, len, &kv, vals, valbuf, sizeof valbuf) == 0 &&
           kv == v;
}

/* A tally walk's row, kept when it is a key of the view (the view's name
 * is a prefix of other views' keys too: "country" of "country,quarter/"). */
static int
s_keep_tally(s_data *d, bool reported, const char *key, size_t len, const ot_counts *c)
{
    if (!s_in_view(d->vs, d->view, key, len))
        return 0;
    s_tally **arr = reported ? &d->rep : &d->obs;
    size_t *n = reported ? &d->nrep : &d->nobs;
    size_t *cap = reported ? &d->caprep : &d->capobs;
    if (s_grow((void **)arr, *n, cap, sizeof **arr) != 0)
        return ENOMEM;
    s_tally *t = &(*arr)[*n];
    if (!(t->key = s_dup(key, len)))
        return ENOMEM;
    t->len = len;
    t->c = *c;
    (*n)++;
    return 0;
}

static int
s_on_observed(void *ctx, const char *key, size_t len, const ot_counts *c)
{
    return s_keep_tally(ctx, false, key, len, c);
}

static int
s_on_reported(void *ctx, const char *key, size_t len, const ot_counts *c)
{
    return s_keep_tally(ctx, true, key, len, c);
}

static int
s_on_placement(void *ctx, const Optally__OperationEvent *ev, uint64_t seq, ot_placement where,
               const char *key, size_t len)
{
    (void)seq;
    s_data *d = ctx;
    if (where == OT_PLACED_UNPLACED) {
        if (s_grow((void **)&d->unplaced, d->nunplaced, &d->capunplaced, sizeof *d->unplaced))
            return ENOMEM;
        if (!(d->unplaced[d->nunplaced] = s_dup(ev->event_id, strlen(ev->event_id))))
            return ENOMEM;
        d->nunplaced++;
        return 0;
    }
    if (where != OT_PLACED_COUNTED || !key)
        return 0;   /* shadowed: its ancestor counts in this key (invariant 2) */
    if (s_grow((void **)&d->aggs, d->naggs, &d->capaggs, sizeof *d->aggs) != 0)
        return ENOMEM;
    s_agg *g = &d->aggs[d->naggs];
    g->key = s_dup(key, len);
    g->id = g->key ? s_dup(ev->event_id, strlen(ev->event_id)) : NULL;
    if (!g->id) {
        free(g->key);
        return ENOMEM;
    }
    g->len = len;
    g->ord = d->naggs++;
    return 0;
}

/* Key order of the store: bytes, then the shorter first. */
static int
s_keycmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c != 0)
        return c;
    return alen < blen ? -1 : alen > blen;
}

static int
s_agg_cmp(const void *pa, const void *pb)
{
    const s_agg *a = pa, *b = pb;
    int c = s_keycmp(a->key, a->len, b->key, b->len);
    return c ? c : (a->ord > b->ord) - (a->ord < b->ord);
}

static void
s_data_free(s_data *d)
{
    for (size_t i = 0; i < d->nobs; i++)
        free(d->obs[i].key);
    for (size_t i = 0; i < d->nrep; i++)
        free(d->rep[i].key);
    for (size_t i = 0; i < d->naggs; i++) {
        free(d->aggs[i].key);
        free(d->aggs[i].id);
    }
    for (size_t i = 0; i < d->nunplaced; i++)
        free(d->unplaced[i]);
    free(d->obs);
    free(d->rep);
    free(d->aggs);
    free(d->unplaced);
    memset(d, 0, sizeof *d);
}

/* The three walks (invariant 3). Returns 0 or the error. */
static int
s_collect(ot_store *s, s_data *d)
{
    int rc = ot_store_tally_foreach(s, d->view->name, s_on_observed, d);
    if (rc == 0)
        rc = ot_store_reported_foreach(s, d->view->name, s_on_reported, d);
    if (rc == 0)
        rc = ot_store_aggregate_placements(s, d->view->name, s_on_placement, d);
    if (rc == 0 && d->naggs > 1)
        qsort(d->aggs, d->naggs, sizeof *d->aggs, s_agg_cmp);
    return rc;
}

/* ---- printing -------------------------------------------------------------- */

/* One key's row, its three sides and its aggregates [ag, ag + nag). */
typedef struct s_row {
    const char *key;
    size_t len;
    ot_counts side[3];      /* reported, observed, difference */
    const s_agg *ag;
    size_t nag;
} s_row;

typedef struct s_out {
    const s_args *a;
    ot_buf line;
    size_t rows;
} s_out;

static int
s_json_ids(ot_buf *b, const char *name, const s_agg *ag, char *const *ids, size_t n)
{
    int rc = ot_buf_printf(b, ",\"%s\":[", name);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const char *id = ag ? ag[i].id : ids[i];
        if (i)
            rc = ot_buf_append(b, ",", 1);
        if (rc == 0)
            rc = ot_buf_json_text(b, id, strlen(id));
    }
    return rc == 0 ? ot_buf_append(b, "]", 1) : rc;
}

static int
s_row_json(s_out *o, const ot_view *v, const char *const *vals, const s_row *r)
{
    int rc = ot_cli_key_json(&o->line, v->name, v->fields, vals, (size_t)v->nfields);
    for (int i = 0; rc == 0 && i < 3; i++) {
        rc = ot_buf_printf(&o->line, ",\"%s\":", s_sides[i]);
        if (rc == 0)
            rc = ot_cli_counts_json(&o->line, &r->side[i]);
    }
    if (rc == 0)
        rc = s_json_ids(&o->line, "aggregates", r->ag, NULL, r->nag);
    return rc == 0 ? ot_buf_append(&o->line, "}\n", 2) : rc;
}

static int
s_row_csv(s_out *o, const ot_view *v, const char *const *vals, const s_row *r)
{
    int rc = ot_cli_csv_field(&o->line, v->name);
    for (size_t f = 0; rc == 0 && ot_view_is_declared(v) && f < (size_t)v->nfields; f++) {
        rc = ot_buf_append(&o->line, ",", 1);
        if (rc == 0)
            rc = ot_cli_csv_field(&o->line, vals[f]);
    }
    for (size_t f = 0; rc == 0 && !ot_view_is_declared(v) && f < S_NFIELDS; f++) {
        rc = ot_buf_append(&o->line, ",", 1);
        for (int i = 0; rc == 0 && i < v->nfields; i++)
            if (!strcmp(v->fields[i], s_all_fields[f]))
                rc = ot_cli_csv_field(&o->line, vals[i]);
    }
    for (int side = 0; rc == 0 && side < 3; side++) {
        int64_t n[OT_COUNTS_N];
        ot_counts_to_array(&r->side[side], n);
        for (int i = 0; rc == 0 && i < OT_COUNTS_N; i++)
            rc = ot_buf_printf(&o->line, ",%" PRId64, n[i]);
    }
    ot_buf ids = { NULL, 0, 0 };
    for (size_t i = 0; rc == 0 && i < r->nag; i++) {
        if (i)
            rc = ot_buf_append(&ids, " ", 1);
        if (rc == 0)
            rc = ot_buf_append(&ids, r->ag[i].id, strlen(r->ag[i].id));
    }
    if (rc == 0)
        rc = ot_buf_append(&o->line, ",", 1);
    if (rc == 0)
        rc = ot_cli_csv_field(&o->line, ids.data ? ids.data : "");
    ot_buf_free(&ids);
    return rc == 0 ? ot_buf_append(&o->line, "\n", 1) : rc;
}

/* The CSV header: view, the fields of every built-in view (as query), or
 * a declared view's own dimensions, then the sides. */
static void
s_csv_header(const ot_view *v)
{
    printf("view");
    for (size_t f = 0; ot_view_is_declared(v) && f < (size_t)v->nfields; f++)
        printf(",%s", v->fields[f]);
    for (size_t f = 0; !ot_view_is_declared(v) && f < S_NFIELDS; f++)
        printf(",%s", s_all_fields[f]);
    for (int side = 0; side < 3; side++)
        for (int i = 0; i < OT_COUNTS_N; i++)
            printf(",%s_%s", s_sides[side], ot_counts_names[i]);
    printf(",aggregates\n");
}

/* Pad the line to column col (bytes from start). */
static int
s_pad(ot_buf *b, size_t start, size_t col)
{
    int rc = 0;
    while (rc == 0 && b->len - start < col)
        rc = ot_buf_append(b, " ", 1);
    return rc;
}

/* Table: three lines per key (reported, observed, difference) under the
 * key's cells, then its aggregates. */
static int
s_row_table(s_out *o, const ot_view *v, const char *const *vals, const s_row *r)
{
    int rc = 0;
    if (o->rows == 0) {
        printf("%s\n", v->name);
        for (int i = 0; i < v->nfields; i++)
            printf("%-16s", v->fields[i]);
        printf("%-12s", "");
        for (int i = 0; i < OT_COUNTS_N; i++)
            printf("%12s", ot_counts_names[i]);
        printf("\n");
    }
    for (int side = 0; rc == 0 && side < 3; side++) {
        for (int i = 0; rc == 0 && i < v->nfields; i++) {
            size_t cell = o->line.len;
            if (side == 0)
                rc = ot_cli_cell(&o->line, vals[i], strlen(vals[i]));
            if (rc == 0)
                rc = s_pad(&o->line, cell, 16);
        }
        if (rc == 0)
            rc = ot_buf_printf(&o->line, "%-12s", s_sides[side]);
        int64_t n[OT_COUNTS_N];
        ot_counts_to_array(&r->side[side], n);
        for (int i = 0; rc == 0 && i < OT_COUNTS_N; i++)
            rc = ot_buf_printf(&o->line, "%12" PRId64, n[i]);
        if (rc == 0)
            rc = ot_buf_append(&o->line, "\n", 1);
    }
    if (rc == 0 && r->nag) {
        size_t start = o->line.len;
        rc = s_pad(&o->line, start, 16 * (size_t)v->nfields);
        if (rc == 0)
            rc = ot_buf_append(&o->line, "aggregates:", 11);
        for (size_t i = 0; rc == 0 && i < r->nag; i++) {
            rc = ot_buf_append(&o->line, " ", 1);
            if (rc == 0)
                rc = ot_cli_cell(&o->line, r->ag[i].id, strlen(r->ag[i].id));
        }
        if (rc == 0)
            rc = ot_buf_append(&o->line, "\n", 1);
    }
    return rc;
}

static int
s_print_row(s_out *o, const ot_view *v, const s_row *r)
{
    const ot_view *kv;
    const char *vals[OT_VIEW_MAX_FIELDS];
    char valbuf[OT_VIEW_KEY_MAX];
    int rc = ot_viewset_key_split(o->a->vs, r->key, r->len, &kv, vals, valbuf, sizeof valbuf);
    if (rc != 0)
        return rc == ENOSPC ? rc : OT_ECORRUPT;   /* a placement key the view does not split */
    o->line.len = 0;
    switch (o->a->fmt) {
    case S_JSON: rc = s_row_json(o, v, vals, r); break;
    case S_CSV: rc = s_row_csv(o, v, vals, r); break;
    default: rc = s_row_table(o, v, vals, r); break;
    }
    if (rc != 0)
        return ENOMEM;
    fwrite(o->line.data, 1, o->line.len, stdout);
    o->rows++;
    return 0;
}

/* Merge the three sorted lists into rows (invariant 1). */
static int
s_print_rows(s_out *o, const s_data *d)
{
    size_t io = 0, ir = 0, ia = 0;
    int rc = 0;
    if (o->a->fmt == S_CSV)
        s_csv_header(d->view);
    while (rc == 0 && (io < d->nobs || ir < d->nrep || ia < d->naggs)) {
        s_row r = { 0 };
        /* the least key among the heads */
        if (io < d->nobs) {
            r.key = d->obs[io].key;
            r.len = d->obs[io].len;
        }
        if (ir < d->nrep && (!r.key || s_keycmp(d->rep[ir].key, d->rep[ir].len, r.key, r.len) < 0)) {
            r.key = d->rep[ir].key;
            r.len = d->rep[ir].len;
        }
        if (ia < d->naggs && (!r.key || s_keycmp(d->aggs[ia].key, d->aggs[ia].len, r.key, r.len) < 0)) {
            r.key = d->aggs[ia].key;
            r.len = d->aggs[ia].len;
        }
        if (io < d->nobs && !s_keycmp(d->obs[io].key, d->obs[io].len, r.key, r.len))
            r.side[1] = d->obs[io++].c;
        if (ir < d->nrep && !s_keycmp(d->rep[ir].key, d->rep[ir].len, r.key, r.len))
            r.side[0] = d->rep[ir++].c;
        r.ag = d->aggs + ia;
        while (ia < d->naggs && !s_keycmp(d->aggs[ia].key, d->aggs[ia].len, r.key, r.len)) {
            ia++;
            r.nag++;
        }
        r.side[2] = r.side[1];
        ot_counts_add(&r.side[2], &r.side[0], -1);
        rc = s_print_row(o, d->view, &r);
    }
    return rc;
}

static int
s_print_unplaced(s_out *o, const s_data *d)
{
    o->line.len = 0;
    int rc = 0;
    if (o->a->fmt == S_JSON) {
        rc = ot_buf_append(&o->line, "{\"view\":", 8);
        if (rc == 0)
            rc = ot_buf_json_string(&o->line, d->view->name, strlen(d->view->name));
        if (rc == 0)
            rc = s_json_ids(&o->line, "unplaced", NULL, d->unplaced, d->nunplaced);
        if (rc == 0)
            rc = ot_buf_append(&o->line, "}\n", 2);
    } else if (d->nunplaced) {
        rc = ot_buf_printf(&o->line, "%sunplaced (%zu aggregate%s whose scope fits no key of %s):",
                           o->a->fmt == S_TABLE && o->rows ? "\n" : "",
                           d->nunplaced, d->nunplaced == 1 ? "" : "s", d->view->name);
        for (size_t i = 0; rc == 0 && i < d->nunplaced; i++) {
            rc = ot_buf_append(&o->line, " ", 1);
            if (rc == 0)
                rc = ot_cli_cell(&o->line, d->unplaced[i], strlen(d->unplaced[i]));
        }
        if (rc == 0)
            rc = ot_buf_append(&o->line, "\n", 1);
    }
    if (rc != 0)
        return ENOMEM;
    /* CSV has no row shape for it: told on stderr (see --help) */
    fwrite(o->line.data, 1, o->line.len, o->a->fmt == S_CSV ? stderr : stdout);
    return 0;
}

/* The rows of --view. Returns 0 or the error (told by the caller). */
static int
s_reconcile(ot_store *s, s_out *o)
{
    s_data d = { .view = o->a->view, .vs = o->a->vs };
    int rc = s_collect(s, &d);
    if (rc == 0)
        rc = s_print_rows(o, &d);
    if (rc == 0)
        rc = s_print_unplaced(o, &d);
    if (rc == 0 && o->a->fmt == S_TABLE && o->rows == 0 && d.nunplaced == 0)
        fprintf(stderr, S_PROG ": nothing reported or observed in view %s\n", d.view->name);
    s_data_free(&d);
    return rc;
}

/* ---- --check-parts --------------------------------------------------------- */

/* A current aggregate: what the parts check needs of it. */
typedef struct s_part {
    char *id, *parent_id;
    bool retracted;
    ot_counts c;
    ot_counts sum;          /* its current non-retracted children, summed */
    size_t nchildren;
} s_part;

typedef struct s_parts {
    s_part *v;
    size_t n, cap;
} s_parts;

static int
s_on_aggregate(void *ctx, const Optally__OperationEvent *ev, uint64_t seq)
{
    (void)seq;
    s_parts *p = ctx;
    if (s_grow((void **)&p->v, p->n, &p->cap, sizeof *p->v) != 0)
        return ENOMEM;
    s_part *a = &p->v[p->n];
    memset(a, 0, sizeof *a);
    a->id = s_dup(ev->event_id, strlen(ev->event_id));
    a->parent_id = a->id ? s_dup(ev->parent_id, strlen(ev->parent_id)) : NULL;
    if (!a->parent_id) {
        free(a->id);
        return ENOMEM;
    }
    a->retracted = ev->retracted;
    ot_counts_of(ev, &a->c);
    p->n++;
    return 0;
}

static int
s_part_cmp(const void *key, const void *elem)
{
    return strcmp(key, ((const s_part *)elem)->id);
}

/* The parent of a (its parent_id, a current non-retracted aggregate), or
 * NULL. p->v is in event_id order (the walk's). */
static s_part *
s_parent_of(const s_parts *p, const s_part *a)
{
    if (a->retracted || a->parent_id[0] == '\0')
        return NULL;
    s_part *par = bsearch(a->parent_id, p->v, p->n, sizeof *p->v, s_part_cmp);
    return par && !par->retracted ? par : NULL;
}

/* True when the sums differ on a compared counter (all but events). */
static bool
s_sums_differ(const ot_counts *a, const ot_counts *b)
{
    int64_t x[OT_COUNTS_N], y[OT_COUNTS_N];
    ot_counts_to_array(a, x);
    ot_counts_to_array(b, y);
    for (int i = 1; i < OT_COUNTS_N; i++)   /* [0] is events: 1 against N, not compared */
        if (x[i] != y[i])
            return true;
    return false;
}

/* The children's ids of par, appended to b: JSON strings or table cells. */
static int
s_children(ot_buf *b, const s_parts *p, const s_part *par, bool json)
{
    int rc = 0;
    size_t k = 0;
    for (size_t i = 0; rc == 0 && i < p->n; i++) {
        if (s_parent_of(p, &p->v[i]) != par)
            continue;
        const char *id = p->v[i].id;
        if (k++ > 0)
            rc = ot_buf_append(b, json ? "," : " ", 1);
        if (rc == 0)
            rc = json ? ot_buf_json_text(b, id, strlen(id)) : ot_cli_cell(b, id, strlen(id));
    }
    return rc;
}

static int
s_print_part(s_out *o, const s_parts *p, const s_part *par)
{
    bool json = o->a->fmt == S_JSON;
    int rc;
    o->line.len = 0;
    if (json) {
        rc = ot_buf_append(&o->line, "{\"parent\":", 10);
        if (rc == 0)
            rc = ot_buf_json_text(&o->line, par->id, strlen(par->id));
        if (rc == 0)
            rc = ot_buf_append(&o->line, ",\"counts\":", 10);
        if (rc == 0)
            rc = ot_cli_counts_json(&o->line, &par->c);
        if (rc == 0)
            rc = ot_buf_append(&o->line, ",\"children_sum\":", 16);
        if (rc == 0)
            rc = ot_cli_counts_json(&o->line, &par->sum);
        if (rc == 0)
            rc = ot_buf_append(&o->line, ",\"children\":[", 13);
        if (rc == 0)
            rc = s_children(&o->line, p, par, true);
        if (rc == 0)
            rc = ot_buf_append(&o->line, "]}\n", 3);
    } else {
        int64_t x[OT_COUNTS_N], y[OT_COUNTS_N];
        ot_counts_to_array(&par->c, x);
        ot_counts_to_array(&par->sum, y);
        rc = ot_buf_printf(&o->line, "%sparent ", o->rows ? "\n" : "");
        if (rc == 0)
            rc = ot_cli_cell(&o->line, par->id, strlen(par->id));
        if (rc == 0)
            rc = ot_buf_printf(&o->line, ": its %zu part%s add up to other sums\n%-16s",
                               par->nchildren, par->nchildren == 1 ? "" : "s", "");
        for (int i = 0; rc == 0 && i < OT_COUNTS_N; i++)
            rc = ot_buf_printf(&o->line, "%12s", ot_counts_names[i]);
        if (rc == 0)
            rc = ot_buf_printf(&o->line, "\n%-16s", "parent");
        for (int i = 0; rc == 0 && i < OT_COUNTS_N; i++)
            rc = ot_buf_printf(&o->line, "%12" PRId64, x[i]);
        if (rc == 0)
            rc = ot_buf_printf(&o->line, "\n%-16s", "parts (sum)");
        for (int i = 0; rc == 0 && i < OT_COUNTS_N; i++)
            rc = ot_buf_printf(&o->line, "%12" PRId64, y[i]);
        if (rc == 0)
            rc = ot_buf_append(&o->line, "\nparts: ", 8);
        if (rc == 0)
            rc = s_children(&o->line, p, par, false);
        if (rc == 0)
            rc = ot_buf_append(&o->line, "\n", 1);
    }
    if (rc != 0)
        return ENOMEM;
    fwrite(o->line.data, 1, o->line.len, stdout);
    o->rows++;
    return 0;
}

/* The parts check. OUT: *differ, parents whose parts differ. Returns 0 or
 * the error. */
static int
s_check_parts(ot_store *s, s_out *o, size_t *differ)
{
    s_parts p = { 0 };
    size_t parents = 0;
    int rc = ot_store_aggregate_foreach(s, s_on_aggregate, &p);
    for (size_t i = 0; rc == 0 && i < p.n; i++) {
        s_part *par = s_parent_of(&p, &p.v[i]);
        if (par) {
            ot_counts_add(&par->sum, &p.v[i].c, 1);
            par->nchildren++;
        }
    }
    o->rows = 0;
    *differ = 0;
    for (size_t i = 0; rc == 0 && i < p.n; i++) {
        if (p.v[i].nchildren == 0)
            continue;
        parents++;
        if (!s_sums_differ(&p.v[i].c, &p.v[i].sum))
            continue;
        (*differ)++;
        rc = s_print_part(o, &p, &p.v[i]);
    }
    if (rc == 0)
        fprintf(o->a->fmt == S_JSON ? stderr : stdout,
                "check-parts: %zu aggregate%s with parts, %zu whose parts differ\n",
                parents, parents == 1 ? "" : "s", *differ);
    for (size_t i = 0; i < p.n; i++) {
        free(p.v[i].id);
        free(p.v[i].parent_id);
    }
    free(p.v);
    return rc;
}

int
ot_cmd_reconcile(int argc, char **argv)
{
    s_args a = { .data = ot_cli_data_default() };
    int code = s_parse(argc, argv, &a);
    if (code >= 0)
        return code;
    ot_store *s;
    ot_store_options so = { .readonly = true };   /* readers never block the consumer */
    if (ot_cli_store_open(S_PROG, a.data, &so, &s) != 0)
        return OT_EXIT_FAILURE;
    ot_viewset *vs = NULL;
    int rc = ot_store_views(s, &vs);
    if (rc == 0 && a.view_name && (code = ot_cli_view_lookup(S_PROG, vs, a.view_name, &a.view,
                                                             NULL)) != 0) {
        ot_viewset_free(&vs);
        ot_store_close(&s);
        return code;
    }
    a.vs = vs;
    s_out o = { .a = &a };
    size_t differ = 0;
    if (rc == 0 && a.view)
        rc = s_reconcile(s, &o);
    if (rc == 0 && a.check_parts) {
        if (a.view && a.fmt == S_TABLE)
            printf("\n");
        rc = s_check_parts(s, &o, &differ);
    }
    ot_buf_free(&o.line);
    ot_viewset_free(&vs);
    ot_store_close(&s);
    if (rc != 0) {
        fprintf(stderr, S_PROG ": %s\n", ot_strerror(rc));
        return OT_EXIT_FAILURE;
    }
    if (fflush(stdout) != 0)
        return OT_EXIT_FAILURE;
    return differ ? OT_EXIT_PROBLEM : OT_EXIT_OK;
}
