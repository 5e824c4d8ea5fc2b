/*
 * sub_print: subscribe's output formats (contract in sub_print.h).
 *
 * Invariant: a snapshot row or an update is printed with query's own row
 * printers (tally_print.h), so subscribe's rows equal query's.
 */
#include "sub_print.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ot_clock.h"
#include "ot_figure.h"
#include "ot_json.h"
#include "ot_view.h"
#include "tally_print.h"

#define S_REDRAW_MS 100    /* a live table redraws at most this often */

/* One tally held for the live table. */
typedef struct s_row {
    char *key;          /* owned */
    ot_counts c;
} s_row;

struct ot_cli_sub_out {
    ot_cli_sub_format fmt;
    bool once;
    const char *what;   /* the filter, for the status line */
    ot_buf line;        /* the line being built (every format) */
    size_t snap_rows;   /* rows of the snapshot being received */
    /* plain: the view whose header was printed, rows printed so far */
    char *last_view;    /* owned copy */
    size_t printed;
    /* live */
    s_row *rows;        /* sorted by key */
    size_t nrows, caprows;
    bool in_snapshot;   /* between a (re)start and SNAPSHOT_END: do not draw */
    bool dirty;
    int64_t drawn_at;
    uint64_t seq;
    uint64_t changes;
    char note[160];     /* the last resync, shown above the table */
    ot_viewset *vs;     /* the views of the rows held: built-in ones, and
                           declared ones as their rows named them (a row
                           carries its view's dimensions) */
};

/* ---- json ----------------------------------------------------------------- */

/* The stream's keys of a row or an update, after query's row. */
static int
s_json_stream_keys(ot_buf *b, const ot_sub_event *ev)
{
    if (ev->kind == OT_SUB_ROW)
        return ot_buf_printf(b, ",\"kind\":\"snapshot\",\"seq\":%" PRIu64 "}", ev->seq);
    int64_t d[OT_COUNTS_N];
    ot_counts_to_array(&ev->delta, d);
    int rc = ot_buf_printf(b, ",\"kind\":\"update\",\"seq\":%" PRIu64 ",\"view_seq\":%" PRIu64
                           ",\"committed_at\":%" PRId64 ",\"delta\":{", ev->seq, ev->view_seq,
                           ev->committed_at);
    for (int i = 0; rc == 0 && i < OT_COUNTS_N; i++)
        rc = ot_buf_printf(b, "%s\"%s\":%" PRId64, i ? "," : "", ot_counts_names[i], d[i]);
    return rc ? rc : ot_buf_append(b, "}}", 2);
}

/* A figure's line: the row of `optally figures --format json`
 * (ot_json_figure_row) with the stream's keys after it. Returns 0 or
 * ENOMEM. */
static int
s_json_figure(ot_buf *b, const ot_sub_event *ev)
{
    int rc = ot_json_figure_row(b, ev->figure);
    if (rc != 0)
        return rc;
    if (b->len == 0 || b->data[b->len - 1] != '}')
        return EINVAL;      /* cannot happen: a row is one object */
    b->len--;               /* reopen the object */
    return ot_buf_printf(b, ",\"kind\":\"figure\",\"log_seq\":%" PRIu64 ",\"figure_seq\":%"
                         PRIu64 ",\"committed_at\":%" PRId64 "}", ev->log_seq, ev->figure_seq,
                         ev->committed_at);
}

/* The line of ev in b. Returns 0, ENOMEM, or -1 for an event that prints
 * nothing (a heartbeat). */
static int
s_json_line(ot_cli_sub_out *o, const ot_sub_event *ev)
{
    ot_buf *b = &o->line;
    int rc;
    b->len = 0;
    switch (ev->kind) {
    case OT_SUB_ROW:
        o->snap_rows++;
        /* fall through */
    case OT_SUB_UPDATE:
        rc = ot_cli_tally_json(b, ev->view, ev->fields, ev->values, ev->nfields, &ev->counts);
        return rc ? rc : s_json_stream_keys(b, ev);
    case OT_SUB_SNAPSHOT_END:
        rc = ot_buf_printf(b, "{\"kind\":\"snapshot_end\",\"seq\":%" PRIu64 ",\"view_seq\":%"
                           PRIu64 ",\"rows\":%zu}", ev->seq, ev->view_seq, o->snap_rows);
        o->snap_rows = 0;
        return rc;
    case OT_SUB_FIGURE:
        return s_json_figure(b, ev);
    case OT_SUB_RESYNC:
        rc = ot_buf_append(b, "{\"kind\":\"resync\",\"reason\":", 26);
        if (rc == 0)
            rc = ot_buf_json_text(b, ev->reason, strlen(ev->reason));
        o->snap_rows = 0;
        return rc ? rc : ot_buf_append(b, "}", 1);
    default:
        return -1;      /* heartbeats: nothing changed */
    }
}

static int
s_json_event(ot_cli_sub_out *o, const ot_sub_event *ev)
{
    int rc = s_json_line(o, ev);
    if (rc == 0) {
        fwrite(o->line.data, 1, o->line.len, stdout);
        fputc('\n', stdout);
    }
    return rc > 0 ? rc : 0;
}

/* ---- plain table (not a terminal, or --once) ------------------------------- */

/* A snapshot row in query's table layout. Returns 0 or ENOMEM. */
static int
s_plain_row(ot_cli_sub_out *o, const ot_sub_event *ev)
{
    if (!o->last_view || strcmp(o->last_view, ev->view) != 0) {
        ot_cli_tally_table_header(stdout, o->printed == 0, ev->view, ev->fields, ev->nfields);
        /* The view name lives in the subscriber's message: keep a copy. */
        free(o->last_view);
        if (!(o->last_view = strdup(ev->view)))
            return ENOMEM;
    }
    if (ot_cli_tally_table_row(stdout, &o->line, ev->values, ev->nfields, &ev->counts) != 0)
        return ENOMEM;
    o->printed++;
    o->snap_rows++;
    return 0;
}

/* An update: "seq N KEY counter=N(+delta) ...", the key a cell
 * (tally_print.h). Returns 0 or ENOMEM. */
static int
s_plain_update(ot_cli_sub_out *o, const ot_sub_event *ev)
{
    int64_t n[OT_COUNTS_N], d[OT_COUNTS_N];
    ot_buf *b = &o->line;
    ot_counts_to_array(&ev->counts, n);
    ot_counts_to_array(&ev->delta, d);
    b->len = 0;
    int rc = ot_buf_printf(b, "seq %" PRIu64 " ", ev->seq);
    if (rc == 0)
        rc = ot_cli_cell(b, ev->key, strlen(ev->key));
    for (int i = 0; rc == 0 && i < OT_COUNTS_N; i++) {
        rc = ot_buf_printf(b, " %s=%" PRId64, ot_counts_names[i], n[i]);
        if (rc == 0 && d[i])
            rc = ot_buf_printf(b, "(%+" PRId64 ")", d[i]);
    }
    if (rc == 0)
        rc = ot_buf_append(b, "\n", 1);
    if (rc == 0)
        fwrite(b->data, 1, b->len, stdout);
    return rc;
}

/* A figure as one line:
 *   figure_seq N METRIC SCOPE AS_OF VALUE QUALIFIER [low=N] [high=N] UNIT
 *   source=SOURCE id=FIGURE_ID log_seq=N
 * every text a cell (tally_print.h), the scope codes joined by ','; an
 * empty unit is "-". Returns 0 or ENOMEM. */
static int
s_plain_figure(ot_cli_sub_out *o, const ot_sub_event *ev)
{
    const Optally__Figure *f = ev->figure;
    ot_buf *b = &o->line;
    const char *q = ot_figure_qualifier_name(f->qualifier);
    b->len = 0;
    int rc = ot_buf_printf(b, "figure_seq %" PRIu64 " ", ev->figure_seq);
    if (rc == 0)
        rc = ot_cli_cell(b, f->metric ? f->metric : "", f->metric ? strlen(f->metric) : 0);
    for (size_t i = 0; rc == 0 && i < f->n_scope; i++) {
        rc = ot_buf_append(b, i ? "," : " ", 1);
        if (rc == 0)
            rc = ot_cli_cell(b, f->scope[i], strlen(f->scope[i]));
    }
    if (rc == 0)
        rc = ot_buf_append(b, " ", 1);
    if (rc == 0)
        rc = ot_cli_cell(b, f->as_of ? f->as_of : "", f->as_of ? strlen(f->as_of) : 0);
    if (rc == 0)
        rc = ot_buf_printf(b, " %" PRIu64 " %s", f->value, q ? q : "?");
    if (rc == 0 && f->low)
        rc = ot_buf_printf(b, " low=%" PRIu64, f->low);
    if (rc == 0 && f->high)
        rc = ot_buf_printf(b, " high=%" PRIu64, f->high);
    if (rc == 0)
        rc = ot_buf_append(b, " ", 1);
    if (rc == 0 && f->unit && f->unit[0])
        rc = ot_cli_cell(b, f->unit, strlen(f->unit));
    else if (rc == 0)
        rc = ot_buf_append(b, "-", 1);
    if (rc == 0)
        rc = ot_buf_append(b, " source=", 8);
    if (rc == 0)
        rc = ot_cli_cell(b, f->source ? f->source : "", f->source ? strlen(f->source) : 0);
    if (rc == 0)
        rc = ot_buf_append(b, " id=", 4);
    if (rc == 0)
        rc = ot_cli_cell(b, f->figure_id ? f->figure_id : "",
                         f->figure_id ? strlen(f->figure_id) : 0);
    if (rc == 0)
        rc = ot_buf_printf(b, " log_seq=%" PRIu64 "\n", ev->log_seq);
    if (rc == 0)
        fwrite(b->data, 1, b->len, stdout);
    return rc;
}

/* "PREFIX" then text as a cell, and a newline, on stdout. Returns 0 or
 * ENOMEM. */
static int
s_plain_note(ot_cli_sub_out *o, const char *prefix, const char *text)
{
    ot_buf *b = &o->line;
    b->len = 0;
    int rc = ot_buf_append(b, prefix, strlen(prefix));
    if (rc == 0)
        rc = ot_cli_cell(b, text, strlen(text));
    if (rc == 0)
        rc = ot_buf_append(b, "\n", 1);
    if (rc == 0)
        fwrite(b->data, 1, b->len, stdout);
    return rc;
}

static int
s_plain_event(ot_cli_sub_out *o, const ot_sub_event *ev)
{
    switch (ev->kind) {
    case OT_SUB_ROW:
        return s_plain_row(o, ev);
    case OT_SUB_SNAPSHOT_END:
        if (o->snap_rows == 0 && o->once)
            fprintf(stderr, "optally subscribe: no tallies yet\n");
        if (!o->once)
            printf("# snapshot as of seq %" PRIu64 ": %zu tallies; updates follow\n",
                   ev->seq, o->snap_rows);
        o->snap_rows = 0;
        return 0;
    case OT_SUB_UPDATE:
        return s_plain_update(o, ev);
    case OT_SUB_FIGURE:
        return s_plain_figure(o, ev);
    case OT_SUB_RESYNC: {
        /* --once: stdout stays exactly the query's table (stderr says it). */
        int rc = o->once ? 0 : s_plain_note(o, "# resync: ", ev->reason);
        free(o->last_view);
        o->last_view = NULL;
        o->printed = 0;
        o->snap_rows = 0;
        return rc;
    }
    default:
        return 0;
    }
}

/* ---- live table (a terminal) ------------------------------------------------- */

static void
s_rows_clear(ot_cli_sub_out *o)
{
    for (size_t i = 0; i < o->nrows; i++)
        free(o->rows[i].key);
    o->nrows = 0;
}

/* Index of key in o->rows, or where it would go. OUT: *found. */
static size_t
s_rows_find(const ot_cli_sub_out *o, const char *key, bool *found)
{
    size_t lo = 0, hi = o->nrows;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(o->rows[mid].key, key);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

/* Insert key with c at i. Returns 0 or ENOMEM (nothing changed). */
static int
s_rows_insert(ot_cli_sub_out *o, size_t i, const char *key, const ot_counts *c)
{
    if (o->nrows == o->caprows) {
        size_t cap = o->caprows ? 2 * o->caprows : 256;
        s_row *r = realloc(o->rows, cap * sizeof *r);
        if (!r)
            return ENOMEM;
        o->rows = r;
        o->caprows = cap;
    }
    char *k = strdup(key);
    if (!k)
        return ENOMEM;
    memmove(&o->rows[i + 1], &o->rows[i], (o->nrows - i) * sizeof *o->rows);
    o->rows[i].key = k;
    o->rows[i].c = *c;
    o->nrows++;
    return 0;
}

/* Set key's counters (all zero: remove it). Returns 0 or ENOMEM. */
static int
s_rows_set(ot_cli_sub_out *o, const char *key, const ot_counts *c)
{
    bool found;
    size_t i = s_rows_find(o, key, &found);
    if (found && ot_counts_zero(c)) {
        free(o->rows[i].key);
        memmove(&o->rows[i], &o->rows[i + 1], (o->nrows - i - 1) * sizeof *o->rows);
        o->nrows--;
    } else if (found) {
        o->rows[i].c = *c;
    } else if (!ot_counts_zero(c)) {
        return s_rows_insert(o, i, key, c);
    }
    return 0;
}

/* The status lines above the table. Returns 0 or ENOMEM. */
static int
s_draw_status(ot_cli_sub_out *o)
{
    char when[32] = "";
    time_t t = time(NULL);
    struct tm tm;
    if (localtime_r(&t, &tm))
        strftime(when, sizeof when, "%H:%M:%S", &tm);
    printf("\033[H\033[2J");
    printf("optally subscribe %s: seq %" PRIu64 ", %zu tallies, %" PRIu64 " changes, %s"
           " (Ctrl-C quits)\n", o->what, o->seq, o->nrows, o->changes, when);
    return o->note[0] ? s_plain_note(o, "last resync: ", o->note) : 0;
}

/* Clear the screen and print the held rows in query's table layout.
 * Returns 0 or ENOMEM. */
static int
s_draw(ot_cli_sub_out *o)
{
    int rc = s_draw_status(o);
    const ot_view *last = NULL;
    for (size_t r = 0; rc == 0 && r < o->nrows; r++) {
        const ot_view *v;
        const char *vals[OT_VIEW_MAX_FIELDS];
        char valbuf[OT_VIEW_KEY_MAX];
        int src = o->vs ? ot_viewset_key_split(o->vs, o->rows[r].key, strlen(o->rows[r].key),
                                               &v, vals, valbuf, sizeof valbuf)
                        : ot_view_key_split(o->rows[r].key, strlen(o->rows[r].key), &v, vals,
                                            valbuf, sizeof valbuf);
        if (src != 0)
            continue;   /* a view that could not be learned */
        if (v != last)
            ot_cli_tally_table_header(stdout, false, v->name, v->fields, (size_t)v->nfields);
        last = v;
        rc = ot_cli_tally_table_row(stdout, &o->line, vals, (size_t)v->nfields, &o->rows[r].c);
    }
    fflush(stdout);
    o->dirty = false;
    o->drawn_at = ot_clock_mono_ms();
    return rc;
}

/* Learn the view of a row or update that is not built in (a view declared
 * on the consumer), so the table can split its keys. Only its dimensions
 * matter here (the consumer applied its filters). A view that cannot be
 * learned leaves its rows out of the table, as before declared views. */
static void
s_learn_view(ot_cli_sub_out *o, const ot_sub_event *ev)
{
    if (!o->vs && ot_viewset_new(&o->vs) != 0)
        return;
    if (ot_viewset_find(o->vs, ev->view, NULL))
        return;
    Optally__ViewDef def = OPTALLY__VIEW_DEF__INIT;
    char err[256];
    size_t slot;
    def.name = (char *)ev->view;
    def.n_group_by = ev->nfields;
    def.group_by = (char **)ev->fields;
    (void)ot_viewset_add(o->vs, &def, &slot, err, sizeof err);
}

static int
s_live_event(ot_cli_sub_out *o, const ot_sub_event *ev)
{
    int rc = 0;
    if ((ev->kind == OT_SUB_ROW || ev->kind == OT_SUB_UPDATE) && !ot_view_find(ev->view))
        s_learn_view(o, ev);
    switch (ev->kind) {
    case OT_SUB_ROW:
        rc = s_rows_set(o, ev->key, &ev->counts);
        break;
    case OT_SUB_SNAPSHOT_END:
        o->in_snapshot = false;
        o->seq = ev->seq;
        o->dirty = true;
        break;
    case OT_SUB_UPDATE:
        rc = s_rows_set(o, ev->key, &ev->counts);
        o->seq = ev->seq;
        o->changes++;
        o->dirty = true;
        break;
    case OT_SUB_RESYNC:
        s_rows_clear(o);
        o->in_snapshot = true;
        snprintf(o->note, sizeof o->note, "%s", ev->reason);
        break;
    default:
        break;
    }
    if (rc == 0 && o->dirty && !o->in_snapshot && ot_clock_mono_ms() - o->drawn_at >= S_REDRAW_MS)
        rc = s_draw(o);
    return rc;
}

/* ---- the output ---------------------------------------------------------------- */

int
ot_cli_sub_out_new(ot_cli_sub_format fmt, bool once, const char *what, ot_cli_sub_out **out)
{
    ot_cli_sub_out *o = calloc(1, sizeof *o);
    if (!o)
        return ENOMEM;
    o->fmt = fmt;
    o->once = once;
    o->what = what;
    o->in_snapshot = true;
    *out = o;
    return 0;
}

int
ot_cli_sub_out_event(ot_cli_sub_out *o, const ot_sub_event *ev)
{
    switch (o->fmt) {
    case OT_CLI_SUB_JSON: return s_json_event(o, ev);
    case OT_CLI_SUB_LIVE: return s_live_event(o, ev);
    default: return s_plain_event(o, ev);
    }
}

void
ot_cli_sub_out_idle(ot_cli_sub_out *o)
{
    if (o->fmt == OT_CLI_SUB_LIVE && o->dirty && !o->in_snapshot)
        (void)s_draw(o);   /* out of memory: the next event says it */
}

void
ot_cli_sub_out_free(ot_cli_sub_out **o)
{
    if (!*o)
        return;
    ot_buf_free(&(*o)->line);
    free((*o)->last_view);
    ot_viewset_free(&(*o)->vs);
    s_rows_clear(*o);
    free((*o)->rows);
    free(*o);
    *o = NULL;
}
