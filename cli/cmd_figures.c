/*
 * cmd_figures: `optally figures`, the point-in-time figures of the store
 * ("about 2,500 fighters at large"): never summed, the latest of each
 * (metric, scope, source) standing.
 *
 * NAME
 *     optally figures - the latest value of each figure, or their history
 *
 * SYNOPSIS
 *     optally figures [--data DIR] [--metric M] [--scope CC] [--as-of DATE]
 *                     [--history] [--format table|json|csv]
 *
 * Invariants:
 *  1. Only current revisions that are not retracted are shown (a retracted
 *     figure_id is gone, as a retracted event leaves the tallies).
 *  2. Without --history, one row per (metric, scope as a set of codes,
 *     source): the figure with the latest as_of (on or before --as-of);
 *     equal as_of: the one stored last (the highest log seq). Rows in
 *     metric, scope, source order.
 *  3. With --history, every such figure, in as_of order (then metric, scope,
 *     source, log seq).
 *  4. JSON rows are ot_json_figure_row's (lib/ot_json.h): one owner of the
 *     form.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ot_country.h"
#include "ot_error.h"
#include "ot_figure.h"
#include "ot_json.h"
#include "ot_store.h"
#include "store_arg.h"
#include "tally_print.h"

#define S_PROG "optally figures"

typedef enum { S_TABLE, S_JSON, S_CSV } s_format;

typedef struct s_args {
    const char *data;
    const char *metric;     /* NULL: every metric */
    const char *scope;      /* NULL: any scope; else a code the scope must hold */
    const char *as_of;      /* NULL: no bound */
    bool history;
    s_format fmt;
} s_args;

/* A figure kept by the walk: a copy of it (unpacked from its packed bytes,
 * owned), its log seq, and its scope as a set ("IQ,SY", codes sorted). */
typedef struct s_fig {
    Optally__Figure *f;
    uint64_t seq;
    char *scope_set;
} s_fig;

typedef struct s_figs {
    const s_args *a;
    s_fig *v;
    size_t n, cap;
} s_figs;

static void
s_help(FILE *f)
{
    fputs(
"usage: optally figures [--data DIR] [--metric M] [--scope CC] [--as-of DATE]\n"
"                       [--history] [--format table|json|csv]\n"
"\n"
"Print the point-in-time figures of the store (\"approximately 2,500 fighters\n"
"at large\"): stocks at a moment, never summed. For each (metric, scope,\n"
"source) the figure with the latest as_of stands; two with the same as_of:\n"
"the one stored last. A scope is a set of country codes (IQ,SY = SY,IQ).\n"
"Retracted figures are left out.\n"
"\n"
"  --data DIR      data directory (default $OPTALLY_DATA, else ./optally-data)\n"
"  --metric M      only this metric (lower_snake_case, e.g. fighters_at_large)\n"
"  --scope CC      only figures whose scope includes country CC (ISO 3166-1)\n"
"  --as-of DATE    the figures as they stood on DATE (YYYY-MM-DD): as_of on or\n"
"                  before it\n"
"  --history       every current figure, not only the latest, in as_of order\n"
"  --format F      table (default), json (JSON Lines), csv\n"
"  -h, --help      this text\n"
"\n"
"JSON Lines rows, always these keys in this order:\n"
"  {\"metric\":\"fighters_at_large\",\"scope\":[\"IQ\",\"SY\"],\"as_of\":\"2024-04-05\",\n"
"   \"value\":2500,\"qualifier\":\"APPROX\",\"low\":0,\"high\":0,\"unit\":\"fighters\",\n"
"   \"source\":\"CENTCOM\",\"figure_id\":\"...\"}\n"
"qualifier: EXACT, APPROX (about), AT_LEAST (over, more than), AT_MOST; low and\n"
"high bound an estimate (0: none). CSV: the same columns, scope codes\n"
"space-separated.\n"
"\n"
OT_CLI_CELL_HELP OT_CLI_CSV_HELP
"\n"
"Exit status: 0 ok; 2 store missing or unreadable; 64 usage error.\n", f);
}

/* True when m is a metric name as validation allows ([a-z][a-z0-9_]*,
 * at most OT_FIGURE_METRIC_MAX bytes). */
static bool
s_metric_ok(const char *m)
{
    size_t n = strlen(m);
    if (n == 0 || n > OT_FIGURE_METRIC_MAX || m[0] < 'a' || m[0] > 'z')
        return false;
    for (size_t i = 1; i < n; i++)
        if (!((m[i] >= 'a' && m[i] <= 'z') || (m[i] >= '0' && m[i] <= '9') || m[i] == '_'))
            return false;
    return true;
}

/* One flag c (what getopt_long returned) with its value arg: an
 * ot_cli_flag_fn (args.h). */
static int
s_flag(void *ctx, int c, const char *arg)
{
    s_args *a = ctx;
    int32_t days;
    switch (c) {
    case 'd':
        a->data = arg;
        return -1;
    case 'm':
        if (!s_metric_ok(arg))
            return ot_cli_usage_error(S_PROG, "--metric takes a lower_snake_case name of at most %d"
                                      " bytes (e.g. fighters_at_large), not '%s'",
                                      OT_FIGURE_METRIC_MAX, arg);
        a->metric = arg;
        return -1;
    case 's':
        if (!ot_country_known(arg))
            return ot_cli_usage_error(S_PROG, "--scope takes an ISO 3166-1 alpha-2 country code"
                                      " (e.g. SY), not '%s'", arg);
        a->scope = arg;
        return -1;
    case 'a':
        if (ot_date_parse(arg, &days) != 0)
            return ot_cli_usage_error(S_PROG, "--as-of takes a date YYYY-MM-DD, not '%s'", arg);
        a->as_of = arg;
        return -1;
    case 'H':
        a->history = true;
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
        { "metric", required_argument, NULL, 'm' },
        { "scope", required_argument, NULL, 's' },
        { "as-of", required_argument, NULL, 'a' },
        { "history", no_argument, NULL, 'H' },
        { "format", required_argument, NULL, 'f' },
        { NULL, 0, NULL, 0 },
    };
    static const ot_cli_parser parser = { S_PROG, "", longs, s_flag, s_help };
    return ot_cli_parse(&parser, argc, argv, a, NULL);
}

/* ---- collecting ------------------------------------------------------------ */

static int
s_strp_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The scope of f as a set: its codes sorted, joined by ','. Returns a
 * malloc'd string or NULL (ENOMEM). */
static char *
s_scope_set(const Optally__Figure *f)
{
    size_t n = f->n_scope, len = 1;
    char **codes = malloc((n ? n : 1) * sizeof *codes);
    if (!codes)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        codes[i] = f->scope[i];
        len += strlen(f->scope[i]) + 1;
    }
    qsort(codes, n, sizeof *codes, s_strp_cmp);
    char *out = malloc(len);
    if (out) {
        out[0] = '\0';
        for (size_t i = 0; i < n; i++) {
            if (i)
                strcat(out, ",");
            strcat(out, codes[i]);
        }
    }
    free(codes);
    return out;
}

/* True when f passes the filters of a. */
static bool
s_wanted(const s_args *a, const Optally__Figure *f)
{
    if (f->retracted)
        return false;   /* invariant 1 */
    if (a->metric && strcmp(f->metric, a->metric) != 0)
        return false;
    if (a->as_of && strcmp(f->as_of, a->as_of) > 0)   /* YYYY-MM-DD: text order is date order */
        return false;
    if (!a->scope)
        return true;
    for (size_t i = 0; i < f->n_scope; i++)
        if (!strcmp(f->scope[i], a->scope))
            return true;
    return false;
}

/* Copy f (borrowed for the walk) into a figure of our own. Returns it, or
 * NULL (ENOMEM). */
static Optally__Figure *
s_copy(const Optally__Figure *f)
{
    size_t len = optally__figure__get_packed_size(f);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return NULL;
    optally__figure__pack(f, buf);
    Optally__Figure *c = optally__figure__unpack(NULL, len, buf);
    free(buf);
    return c;
}

static int
s_on_figure(void *ctx, const Optally__Figure *f, uint64_t seq)
{
    s_figs *x = ctx;
    if (!s_wanted(x->a, f))
        return 0;
    if (x->n == x->cap) {
        size_t cap = x->cap ? x->cap * 2 : 64;
        s_fig *v = realloc(x->v, cap * sizeof *v);
        if (!v)
            return ENOMEM;
        x->v = v;
        x->cap = cap;
    }
    s_fig *g = &x->v[x->n];
    g->seq = seq;
    g->scope_set = s_scope_set(f);
    g->f = g->scope_set ? s_copy(f) : NULL;
    if (!g->f) {
        free(g->scope_set);
        return ENOMEM;
    }
    x->n++;
    return 0;
}

static void
s_figs_free(s_figs *x)
{
    for (size_t i = 0; i < x->n; i++) {
        optally__figure__free_unpacked(x->v[i].f, NULL);
        free(x->v[i].scope_set);
    }
    free(x->v);
    x->v = NULL;
    x->n = x->cap = 0;
}

/* (metric, scope set, source): the group of invariant 2. */
static int
s_group_cmp(const s_fig *a, const s_fig *b)
{
    int c = strcmp(a->f->metric, b->f->metric);
    if (c == 0)
        c = strcmp(a->scope_set, b->scope_set);
    if (c == 0)
        c = strcmp(a->f->source, b->f->source);
    return c;
}

static int
s_seq_cmp(const s_fig *a, const s_fig *b)
{
    return (a->seq > b->seq) - (a->seq < b->seq);
}

/* Latest order: group, then as_of, then seq (the last of a group stands). */
static int
s_latest_cmp(const void *pa, const void *pb)
{
    const s_fig *a = pa, *b = pb;
    int c = s_group_cmp(a, b);
    if (c == 0)
        c = strcmp(a->f->as_of, b->f->as_of);
    return c ? c : s_seq_cmp(a, b);
}

/* History order: as_of, then group, then seq (invariant 3). */
static int
s_history_cmp(const void *pa, const void *pb)
{
    const s_fig *a = pa, *b = pb;
    int c = strcmp(a->f->as_of, b->f->as_of);
    if (c == 0)
        c = s_group_cmp(a, b);
    return c ? c : s_seq_cmp(a, b);
}

/* ---- printing -------------------------------------------------------------- */

typedef struct s_out {
    const s_args *a;
    ot_buf line;
    size_t rows;
} s_out;

static const char *
s_qualifier(const Optally__Figure *f)
{
    const char *q = ot_figure_qualifier_name((int)f->qualifier);
    return q ? q : "?";
}

/* The scope as written (codes in the figure's order), joined by sep. */
static int
s_scope_text(ot_buf *b, const Optally__Figure *f, const char *sep)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < f->n_scope; i++) {
        if (i)
            rc = ot_buf_append(b, sep, strlen(sep));
        if (rc == 0)
            rc = ot_buf_append(b, f->scope[i], strlen(f->scope[i]));
    }
    return rc;
}

/* A text cell padded to width w. */
static int
s_cell(ot_buf *b, const char *s, size_t w)
{
    size_t start = b->len;
    int rc = ot_cli_cell(b, s, strlen(s));
    while (rc == 0 && b->len - start < w)
        rc = ot_buf_append(b, " ", 1);
    return rc == 0 ? ot_buf_append(b, " ", 1) : rc;
}

static int
s_row_table(s_out *o, const Optally__Figure *f)
{
    if (o->rows == 0)
        printf("%-20s %-10s %-10s %12s %-9s %12s %12s %-24s %s\n", "metric", "scope", "as_of",
               "value", "qualifier", "low", "high", "unit", "source");
    ot_buf scope = { NULL, 0, 0 };
    int rc = s_scope_text(&scope, f, ",");
    if (rc == 0)
        rc = s_cell(&o->line, f->metric, 20);
    if (rc == 0)
        rc = s_cell(&o->line, scope.data ? scope.data : "", 10);
    if (rc == 0)
        rc = s_cell(&o->line, f->as_of, 10);
    if (rc == 0)
        rc = ot_buf_printf(&o->line, "%12" PRIu64 " %-9s %12" PRIu64 " %12" PRIu64 " ", f->value,
                           s_qualifier(f), f->low, f->high);
    if (rc == 0)
        rc = s_cell(&o->line, f->unit, 24);
    if (rc == 0)
        rc = ot_cli_cell(&o->line, f->source, strlen(f->source));
    ot_buf_free(&scope);
    return rc == 0 ? ot_buf_append(&o->line, "\n", 1) : rc;
}

static int
s_row_csv(s_out *o, const Optally__Figure *f)
{
    if (o->rows == 0)
        printf("metric,scope,as_of,value,qualifier,low,high,unit,source,figure_id\n");
    ot_buf scope = { NULL, 0, 0 };
    int rc = s_scope_text(&scope, f, " ");
    if (rc == 0)
        rc = ot_cli_csv_field(&o->line, f->metric);
    if (rc == 0)
        rc = ot_buf_append(&o->line, ",", 1);
    if (rc == 0)
        rc = ot_cli_csv_field(&o->line, scope.data ? scope.data : "");
    if (rc == 0)
        rc = ot_buf_append(&o->line, ",", 1);
    if (rc == 0)
        rc = ot_cli_csv_field(&o->line, f->as_of);
    if (rc == 0)
        rc = ot_buf_printf(&o->line, ",%" PRIu64 ",%s,%" PRIu64 ",%" PRIu64 ",", f->value,
                           s_qualifier(f), f->low, f->high);
    if (rc == 0)
        rc = ot_cli_csv_field(&o->line, f->unit);
    if (rc == 0)
        rc = ot_buf_append(&o->line, ",", 1);
    if (rc == 0)
        rc = ot_cli_csv_field(&o->line, f->source);
    if (rc == 0)
        rc = ot_buf_append(&o->line, ",", 1);
    if (rc == 0)
        rc = ot_cli_csv_field(&o->line, f->figure_id);
    ot_buf_free(&scope);
    return rc == 0 ? ot_buf_append(&o->line, "\n", 1) : rc;
}

static int
s_print(s_out *o, const Optally__Figure *f)
{
    int rc;
    o->line.len = 0;
    if (o->a->fmt == S_JSON) {
        rc = ot_json_figure_row(&o->line, f);   /* invariant 4 */
        if (rc == 0)
            rc = ot_buf_append(&o->line, "\n", 1);
    } else {
        rc = o->a->fmt == S_CSV ? s_row_csv(o, f) : s_row_table(o, f);
    }
    if (rc != 0)
        return ENOMEM;
    fwrite(o->line.data, 1, o->line.len, stdout);
    o->rows++;
    return 0;
}

/* Walk, select (invariants 2, 3), print. Returns 0 or the error. */
static int
s_figures(ot_store *s, s_out *o)
{
    s_figs x = { .a = o->a };
    int rc = ot_store_figure_foreach(s, s_on_figure, &x);
    if (rc == 0 && x.n > 1)
        qsort(x.v, x.n, sizeof *x.v, o->a->history ? s_history_cmp : s_latest_cmp);
    for (size_t i = 0; rc == 0 && i < x.n; i++) {
        /* latest: the last of its group */
        if (!o->a->history && i + 1 < x.n && s_group_cmp(&x.v[i], &x.v[i + 1]) == 0)
            continue;
        rc = s_print(o, x.v[i].f);
    }
    s_figs_free(&x);
    return rc;
}

int
ot_cmd_figures(int argc, char **argv)
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
    int rc = s_figures(s, &o);
    ot_buf_free(&o.line);
    ot_store_close(&s);
    if (rc != 0) {
        fprintf(stderr, S_PROG ": %s\n", ot_strerror(rc));
        return OT_EXIT_FAILURE;
    }
    if (a.fmt == S_TABLE && o.rows == 0)
        fprintf(stderr, S_PROG ": no figures%s\n",
                a.metric || a.scope || a.as_of ? " match" : " yet");
    return fflush(stdout) == 0 ? OT_EXIT_OK : OT_EXIT_FAILURE;
}
