/*
 * test_timeline: the log replayed (store/ot_timeline) against the store's
 * own tallies.
 *  - random streams (new events, exact re-sends, revisions, retractions,
 *    stale revisions, events moving into, between and out of incidents
 *    under a source ranking, a few aggregates) are ingested in steps; after
 *    each step the store's tallies and last log seq are recorded. as-of at
 *    each recorded seq reproduces that step's tallies exactly, in key order,
 *    and with a prefix the store's prefix walk;
 *  - explain: for every tally at the end, the rows sum to it, there is one
 *    per counted event, each row is its event's current revision (as the
 *    ingest answers said), not retracted, with its key in the view; an
 *    incident's row is its counted member, with its member count; the
 *    "total" rows are the current plain events plus one per incident that
 *    has a member not retracted (counted from the stream itself);
 *  - history: for every key ever seen, rows in seq order, each after = the
 *    one before + delta, no zero delta, received_at the ingest's, the last
 *    after equals the tally now, and at each step's seq the tally then;
 *  - seq at time over a clock that stepped back: the last seq received at
 *    or before t, against a brute-force scan of what was ingested;
 *  - declared views (one before the stream with a filter, one after it,
 *    filled from history) take part in all of the above;
 *  - errors: a seq beyond the log, keys of no view, a callback's stop.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ot_error.h"
#include "ot_store.h"
#include "ot_timeline.h"
#include "ot_view.h"

#define NIDS      90
#define NAGG      4          /* ids 0..NAGG-1 are aggregates */
#define NSTEPS    70
#define NOW_MS    INT64_C(1900000000000)   /* validation: dates not after it */

/* ---- the stream ------------------------------------------------------------- */

typedef struct g_ev {
    bool present;
    char id[16];
    uint32_t rev;
    bool retracted;
    char country[3];
    char date[16];
    char until[16];
    char pf[8];
    char source[4];
    char inc[8];
    uint32_t killed, detained, wounded;
    uint64_t seq;           /* log seq of the current revision */
} g_ev;

typedef struct g_stream {
    g_ev cur[NIDS];
    int64_t *ra;            /* received_at by log seq */
    size_t nra;
} g_stream;

static const char *const s_countries[] = { "IQ", "SY" };
static const char *const s_pfs[] = { "", "SDF", "ISF" };
static const char *const s_sources[] = { "A", "B", "C" };
static const char *const s_incs[] = { "i1", "i2", "i3", "i4", "i5" };

static void
s_content(g_ev *e, int idx)
{
    bool agg = idx < NAGG;
    snprintf(e->id, sizeof e->id, "ev-%d", idx);
    snprintf(e->country, sizeof e->country, "%s", s_countries[rand() % 2]);
    int month = 1 + rand() % 6, day = 1 + rand() % 28;
    snprintf(e->date, sizeof e->date, "2024-%02d-%02d", month, day);
    e->until[0] = '\0';
    if (agg)
        snprintf(e->until, sizeof e->until, "2024-%02d-28", month);
    snprintf(e->pf, sizeof e->pf, "%s", s_pfs[rand() % 3]);
    snprintf(e->source, sizeof e->source, "%s", s_sources[rand() % 3]);
    e->inc[0] = '\0';
    if (!agg && rand() % 5 < 2)
        snprintf(e->inc, sizeof e->inc, "%s", s_incs[rand() % 5]);
    e->killed = (uint32_t)(rand() % 7);
    e->detained = (uint32_t)(rand() % 3);
    e->wounded = (uint32_t)(rand() % 4);
    e->retracted = rand() % 8 == 0;
}

static void
s_to_pb(const g_ev *e, int idx, Optally__OperationEvent *ev)
{
    optally__operation_event__init(ev);
    ev->event_id = (char *)e->id;
    ev->revision = e->rev;
    ev->retracted = e->retracted;
    ev->source = (char *)e->source;
    ev->occurred_on = (char *)e->date;
    ev->country = (char *)e->country;
    ev->partner_force = (char *)e->pf;
    ev->incident = (char *)e->inc;
    ev->operations = 1;
    ev->killed = e->killed;
    ev->detained = e->detained;
    ev->wounded = e->wounded;
    if (idx < NAGG) {
        ev->granularity = OPTALLY__GRANULARITY__AGGREGATE;
        ev->occurred_until = (char *)e->until;
    }
}

/* The next event of the stream (into *out, an index into cur). */
static void
s_next(const g_stream *g, g_ev *out, int *idx)
{
    int i = rand() % NIDS;
    const g_ev *c = &g->cur[i];
    *idx = i;
    *out = *c;
    int r = rand() % 100;
    if (!c->present) {
        s_content(out, i);
        out->rev = 1;
    } else if (r < 15) {
        /* an exact re-send: DUPLICATE */
    } else if (r < 22 && c->rev >= 2) {
        s_content(out, i);   /* a late older revision: STALE */
        out->rev = c->rev - 1;
    } else if (r < 40) {
        out->rev = c->rev + 1;   /* into, out of or between incidents only */
        out->inc[0] = '\0';
        if (i >= NAGG && rand() % 3)
            snprintf(out->inc, sizeof out->inc, "%s", s_incs[rand() % 5]);
    } else {
        s_content(out, i);
        out->rev = c->rev + 1;
    }
}

/* Ingest n events as one group received at ra; take what became current. */
static void
s_ingest(ot_store *s, g_stream *g, size_t n, int64_t ra)
{
    g_ev evs[8];
    int idx[8];
    Optally__OperationEvent pb[8];
    ot_ingest_item items[8];
    assert_true(n <= 8);
    memset(items, 0, sizeof items);
    /* each event follows the ones before it in the group */
    g_stream tmp;
    memcpy(tmp.cur, g->cur, sizeof tmp.cur);
    for (size_t i = 0; i < n; i++) {
        s_next(&tmp, &evs[i], &idx[i]);
        s_to_pb(&evs[i], idx[i], &pb[i]);
        ot_reject rj;
        assert_int_equal(ot_event_validate(&pb[i], NOW_MS, &rj), 0);
        items[i].event = &pb[i];
        if (evs[i].rev > tmp.cur[idx[i]].rev || !tmp.cur[idx[i]].present) {
            tmp.cur[idx[i]] = evs[i];
            tmp.cur[idx[i]].present = true;
        }
    }
    ot_ingest_group grp = { .producer = (const uint8_t *)"t", .producer_len = 1,
                            .received_at = ra, .items = items, .n = n };
    assert_int_equal(ot_store_ingest(s, &grp, 1), 0);
    for (size_t i = 0; i < n; i++) {
        Optally__IngestStatus st = items[i].status;
        if (st == OPTALLY__INGEST_STATUS__STORED || st == OPTALLY__INGEST_STATUS__SUPERSEDED) {
            g->cur[idx[i]] = evs[i];
            g->cur[idx[i]].present = true;
            g->cur[idx[i]].seq = items[i].seq;
            if (items[i].seq >= g->nra) {
                g->ra = realloc(g->ra, (items[i].seq + 64) * sizeof *g->ra);
                assert_non_null(g->ra);
                g->nra = items[i].seq + 64;
            }
            g->ra[items[i].seq] = ra;
        } else {
            /* the stream makes no conflicts and no refusals */
            assert_true(st == OPTALLY__INGEST_STATUS__DUPLICATE ||
                        st == OPTALLY__INGEST_STATUS__STALE);
        }
    }
}

/* ---- tallies as lists ----------------------------------------------------------- */

typedef struct t_row {
    char *key;
    ot_counts c;
} t_row;

typedef struct t_list {
    t_row *v;
    size_t n, cap;
    uint64_t log_seq;
} t_list;

static int
s_collect(void *ctx, const char *key, size_t len, const ot_counts *c)
{
    t_list *l = ctx;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
        assert_non_null(l->v);
    }
    l->v[l->n].key = strndup(key, len);
    assert_non_null(l->v[l->n].key);
    assert_int_equal(strlen(l->v[l->n].key), len);
    l->v[l->n++].c = *c;
    return 0;
}

static void
s_list_free(t_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].key);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static void
s_assert_same(const t_list *a, const t_list *b)
{
    for (size_t i = 0; i < a->n && i < b->n; i++) {
        if (strcmp(a->v[i].key, b->v[i].key) != 0 ||
            memcmp(&a->v[i].c, &b->v[i].c, sizeof a->v[i].c) != 0)
            fail_msg("row %zu: '%s' (killed %lld) vs '%s' (killed %lld)", i, a->v[i].key,
                     (long long)a->v[i].c.killed, b->v[i].key, (long long)b->v[i].c.killed);
    }
    assert_int_equal(a->n, b->n);
}

/* The value of key in l (zeros when absent). */
static ot_counts
s_value(const t_list *l, const char *key)
{
    ot_counts z = { 0 };
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->v[i].key, key))
            return l->v[i].c;
    return z;
}

/* ---- the fixture ------------------------------------------------------------------ */

typedef struct fx {
    char dir[64];
    ot_store *s;
    g_stream g;
    t_list snaps[NSTEPS];
    bool declared;          /* the declared views exist */
} fx;

static void
s_add_view(ot_store *s, const char *name, const char *const *by, size_t nby,
           const char *const *where, size_t nwhere)
{
    Optally__ViewDef d = OPTALLY__VIEW_DEF__INIT;
    char err[256] = "";
    uint64_t filled;
    d.name = (char *)name;
    d.group_by = (char **)by;
    d.n_group_by = nby;
    d.where = (char **)where;
    d.n_where = nwhere;
    int rc = ot_store_view_add(s, &d, NULL, NULL, &filled, err, sizeof err);
    if (rc != 0)
        fail_msg("view add %s: %s (%s)", name, ot_strerror(rc), err);
}

/* The received_at of step i: rising, but for a stretch the clock stepped
 * back (steps 30..39 are stamped before steps 20..29). */
static int64_t
s_step_time(int i)
{
    return 1000000 + 1000 * (int64_t)(i >= 30 && i < 40 ? i - 15 : i);
}

static int
s_setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/ot_timeline_XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    ot_store_options o = { .nosync = true, .source_rank = "B,A" };
    assert_int_equal(ot_store_open(f->dir, &o, &f->s), 0);
    /* OT_TIMELINE_SEED reruns the stream with another seed */
    const char *seed = getenv("OT_TIMELINE_SEED");
    srand(seed ? (unsigned)strtoul(seed, NULL, 10) : 12u);
    static const char *const by1[] = { "source", "month", "incident" };
    static const char *const wh1[] = { "country=IQ", "partner_force!=ISF" };
    s_add_view(f->s, "iq_src", by1, 3, wh1, 2);
    for (int i = 0; i < NSTEPS; i++) {
        s_ingest(f->s, &f->g, 1 + (size_t)(rand() % 8), s_step_time(i));
        assert_int_equal(ot_store_tally_foreach(f->s, "", s_collect, &f->snaps[i]), 0);
        assert_int_equal(ot_store_log_last(f->s, &f->snaps[i].log_seq), 0);
    }
    /* a view added after the stream: filled from history, so as-of at the
     * end must match it; earlier snapshots do not hold it */
    static const char *const by2[] = { "partner_force", "week" };
    static const char *const wh2[] = { "occurred_on>=2024-03-01" };
    s_add_view(f->s, "late_pf", by2, 2, wh2, 1);
    *state = f;
    return 0;
}

static int
s_teardown(void **state)
{
    fx *f = *state;
    char cmd[128];
    ot_store_close(&f->s);
    for (int i = 0; i < NSTEPS; i++)
        s_list_free(&f->snaps[i]);
    free(f->g.ra);
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* Drop the rows of l whose key starts with prefix. */
static void
s_without(t_list *l, const char *prefix)
{
    size_t n = 0, pl = strlen(prefix);
    for (size_t i = 0; i < l->n; i++) {
        if (!strncmp(l->v[i].key, prefix, pl))
            free(l->v[i].key);
        else
            l->v[n++] = l->v[i];
    }
    l->n = n;
}

/* ---- as-of ------------------------------------------------------------------------ */

static void
test_as_of_each_step(void **state)
{
    fx *f = *state;
    bool exercised_incidents = false;
    for (int i = 0; i < NSTEPS; i++) {
        t_list got = { 0 };
        assert_int_equal(ot_timeline_as_of(f->s, f->snaps[i].log_seq, NULL, s_collect, &got,
                                           NULL, NULL), 0);
        s_without(&got, "late_pf");   /* not there yet at that step */
        s_assert_same(&got, &f->snaps[i]);
        s_list_free(&got);
    }
    /* the stream did what this test is about */
    for (int i = 0; i < NIDS; i++)
        exercised_incidents |= f->g.cur[i].present && f->g.cur[i].inc[0];
    assert_true(exercised_incidents);
    assert_true(f->snaps[NSTEPS - 1].log_seq > 100);
}

static void
test_as_of_end_and_prefix(void **state)
{
    fx *f = *state;
    uint64_t last;
    assert_int_equal(ot_store_log_last(f->s, &last), 0);
    static const char *const prefixes[] = { "", "country/", "country,month/SY", "late_pf",
                                            "iq_src/B", "total", "nosuch" };
    for (size_t p = 0; p < sizeof prefixes / sizeof *prefixes; p++) {
        t_list want = { 0 }, got = { 0 };
        assert_int_equal(ot_store_tally_foreach(f->s, prefixes[p], s_collect, &want), 0);
        assert_int_equal(ot_timeline_as_of(f->s, last, prefixes[p], s_collect, &got, NULL, NULL),
                         0);
        s_assert_same(&got, &want);
        if (p < 5)
            assert_true(want.n > 0);   /* a prefix that selects something */
        s_list_free(&want);
        s_list_free(&got);
    }
}

typedef struct prog {
    uint64_t calls, done, total;
} prog;

static void
s_progress(void *ctx, uint64_t done, uint64_t total)
{
    prog *p = ctx;
    assert_true(done >= p->done);
    p->calls++;
    p->done = done;
    p->total = total;
}

static int
s_stop_at_3(void *ctx, const char *key, size_t len, const ot_counts *c)
{
    (void)key, (void)len, (void)c;
    return ++*(int *)ctx == 3 ? 77 : 0;
}

static void
test_as_of_edges(void **state)
{
    fx *f = *state;
    uint64_t last;
    t_list got = { 0 };
    prog p = { 0 };
    assert_int_equal(ot_store_log_last(f->s, &last), 0);
    assert_int_equal(ot_timeline_as_of(f->s, last + 1, "", s_collect, &got, NULL, NULL),
                     OT_ENOTFOUND);
    assert_int_equal(got.n, 0);
    assert_int_equal(ot_timeline_as_of(f->s, 0, "", s_collect, &got, NULL, NULL), 0);
    assert_int_equal(got.n, 0);   /* before the first record: nothing */
    assert_int_equal(ot_timeline_as_of(f->s, last, "", s_collect, &got, s_progress, &p), 0);
    assert_true(p.calls >= 1);
    assert_int_equal(p.total, last);
    assert_int_equal(p.done, last);   /* every record read */
    int n = 0;
    assert_int_equal(ot_timeline_as_of(f->s, last, "", s_stop_at_3, &n, NULL, NULL), 77);
    assert_int_equal(n, 3);
    s_list_free(&got);
}

/* ---- explain ---------------------------------------------------------------------- */

typedef struct ex {
    fx *f;
    const ot_view *view;
    const char *key;
    ot_counts sum;
    uint64_t rows, last_seq;
    uint64_t incident_rows;
} ex;

static const g_ev *
s_cur(const fx *f, const char *id)
{
    for (int i = 0; i < NIDS; i++)
        if (!strcmp(f->g.cur[i].id, id))
            return &f->g.cur[i];
    return NULL;
}

static size_t
s_members(const fx *f, const char *inc)
{
    size_t n = 0;
    for (int i = NAGG; i < NIDS; i++)
        n += f->g.cur[i].present && !strcmp(f->g.cur[i].inc, inc);
    return n;
}

static int
s_explain_row(void *ctx, const ot_explain_row *row)
{
    ex *x = ctx;
    const g_ev *c = s_cur(x->f, row->ev->event_id);
    assert_non_null(c);
    /* current, as the ingest answers said, and counting */
    assert_int_equal(row->seq, c->seq);
    assert_int_equal(row->ev->revision, c->rev);
    assert_false(row->ev->retracted);
    assert_int_equal(row->ev->granularity, OPTALLY__GRANULARITY__OPERATION);
    assert_true(row->seq > x->last_seq);   /* in log seq order */
    x->last_seq = row->seq;
    ot_counts want;
    ot_counts_of(row->ev, &want);
    assert_memory_equal(&want, &row->contribution, sizeof want);
    /* its key in the view is the one explained */
    ot_event_view v;
    char key[OT_VIEW_KEY_MAX];
    size_t len;
    ot_event_view_of(row->ev, &v);
    assert_int_equal(ot_view_key_ev(x->view, &v, key, sizeof key, &len), 0);
    assert_int_equal(len, strlen(x->key));
    assert_memory_equal(key, x->key, len);
    assert_string_equal(row->incident, row->ev->incident ? row->ev->incident : "");
    if (row->incident[0]) {
        assert_int_equal(row->incident_members, s_members(x->f, row->incident));
        x->incident_rows++;
    } else {
        assert_int_equal(row->incident_members, 0);
    }
    ot_counts_add(&x->sum, &row->contribution, +1);
    x->rows++;
    return 0;
}

static void
test_explain_every_tally(void **state)
{
    fx *f = *state;
    t_list now = { 0 };
    ot_viewset *vs;
    uint64_t incident_rows = 0;
    assert_int_equal(ot_store_views(f->s, &vs), 0);
    assert_int_equal(ot_store_tally_foreach(f->s, "", s_collect, &now), 0);
    assert_true(now.n > 20);
    for (size_t i = 0; i < now.n; i++) {
        const char *vals[OT_VIEW_MAX_FIELDS];
        char vb[OT_VIEW_KEY_MAX];
        ex x = { .f = f, .key = now.v[i].key };
        ot_counts total;
        uint64_t events;
        assert_int_equal(ot_viewset_key_split(vs, x.key, strlen(x.key), &x.view, vals, vb,
                                              sizeof vb), 0);
        assert_int_equal(ot_timeline_explain(f->s, x.key, strlen(x.key), s_explain_row, &x,
                                             &total, &events), 0);
        assert_memory_equal(&x.sum, &now.v[i].c, sizeof x.sum);
        assert_memory_equal(&total, &now.v[i].c, sizeof total);
        assert_int_equal(events, x.rows);
        assert_int_equal((int64_t)x.rows, now.v[i].c.events);
        incident_rows += x.incident_rows;
    }
    assert_true(incident_rows > 0);
    /* "total" from the stream alone: plain current events not retracted,
     * and one per incident with a member not retracted */
    uint64_t want = 0;
    for (int i = NAGG; i < NIDS; i++) {
        const g_ev *c = &f->g.cur[i];
        want += c->present && !c->inc[0] && !c->retracted;
    }
    for (size_t k = 0; k < sizeof s_incs / sizeof *s_incs; k++) {
        bool live = false;
        for (int i = NAGG; i < NIDS; i++)
            live |= f->g.cur[i].present && !strcmp(f->g.cur[i].inc, s_incs[k]) &&
                    !f->g.cur[i].retracted;
        want += live;
    }
    uint64_t events;
    assert_int_equal(ot_timeline_explain(f->s, "total", 5, NULL, NULL, NULL, &events), 0);
    assert_int_equal(events, want);
    /* a key no event has: no rows, zero */
    ot_counts total;
    assert_int_equal(ot_timeline_explain(f->s, "country/ZZ", 10, NULL, NULL, &total, &events),
                     0);
    assert_int_equal(events, 0);
    assert_int_equal(total.events, 0);
    ot_viewset_free(&vs);
    s_list_free(&now);
}

static int
s_explain_stop(void *ctx, const ot_explain_row *row)
{
    (void)row;
    return ++*(int *)ctx == 2 ? 55 : 0;
}

static void
test_bad_keys(void **state)
{
    fx *f = *state;
    int n = 0;
    assert_int_equal(ot_timeline_explain(f->s, "nosuch/IQ", 9, NULL, NULL, NULL, NULL),
                     OT_ENOTFOUND);
    assert_int_equal(ot_timeline_history(f->s, "nosuch/IQ", 9, NULL, NULL), OT_ENOTFOUND);
    assert_int_equal(ot_timeline_explain(f->s, "country,month/IQ", 16, NULL, NULL, NULL, NULL),
                     EINVAL);   /* a value missing */
    assert_int_equal(ot_timeline_history(f->s, "country/IQ/X", 12, NULL, NULL), EINVAL);
    assert_int_equal(ot_timeline_explain(f->s, "country/IQ", 10, s_explain_stop, &n, NULL, NULL),
                     55);
}

/* ---- history ---------------------------------------------------------------------- */

typedef struct hx {
    fx *f;
    const char *key;
    ot_counts after;
    uint64_t last_seq;
    size_t rows;
    int step;               /* the next snapshot to check */
    bool snaps;             /* the snapshots hold the key's view */
} hx;

/* Every snapshot taken before seq saw the tally as it stood then. */
static void
s_check_snaps_before(hx *h, uint64_t seq)
{
    for (; h->snaps && h->step < NSTEPS && h->f->snaps[h->step].log_seq < seq; h->step++) {
        ot_counts want = s_value(&h->f->snaps[h->step], h->key);
        assert_memory_equal(&want, &h->after, sizeof want);
    }
}

static int
s_history_row(void *ctx, const ot_history_row *row)
{
    hx *h = ctx;
    static const ot_counts zero;
    assert_true(row->seq > h->last_seq);
    assert_true(memcmp(&row->delta, &zero, sizeof zero) != 0);
    assert_true(row->seq < h->f->g.nra);
    assert_int_equal(row->received_at, h->f->g.ra[row->seq]);
    s_check_snaps_before(h, row->seq);
    ot_counts want = h->after;
    ot_counts_add(&want, &row->delta, +1);
    assert_memory_equal(&want, &row->after, sizeof want);
    h->after = row->after;
    h->last_seq = row->seq;
    h->rows++;
    return 0;
}

static void
test_history_every_key(void **state)
{
    fx *f = *state;
    t_list now = { 0 };
    size_t keys = 0, rows = 0;
    assert_int_equal(ot_store_tally_foreach(f->s, "", s_collect, &now), 0);
    /* every key ever seen: the ones now, and those of the snapshots (some
     * have gone back to zero since) */
    for (int i = -1; i < NSTEPS; i++) {
        const t_list *l = i < 0 ? &now : &f->snaps[i];
        for (size_t k = 0; k < l->n; k++) {
            if (i >= 0 && s_value(&now, l->v[k].key).events != 0)
                continue;   /* seen already */
            hx h = { .f = f, .key = l->v[k].key, .snaps = strncmp(l->v[k].key, "late_pf", 7) };
            assert_int_equal(ot_timeline_history(f->s, h.key, strlen(h.key), s_history_row, &h),
                             0);
            s_check_snaps_before(&h, UINT64_MAX);
            ot_counts want = s_value(&now, h.key);
            assert_memory_equal(&want, &h.after, sizeof want);
            assert_true(h.rows > 0);
            keys++;
            rows += h.rows;
        }
    }
    assert_true(rows > keys);   /* keys that changed more than once */
    s_list_free(&now);
}

/* ---- seq at time ------------------------------------------------------------------- */

static void
test_seq_at_time(void **state)
{
    fx *f = *state;
    uint64_t last;
    assert_int_equal(ot_store_log_last(f->s, &last), 0);
    int64_t lo = s_step_time(0) - 5, hi = s_step_time(NSTEPS - 1) + 5;
    bool stepped_back = false;
    for (int64_t t = lo; t <= hi; t += 250) {
        uint64_t want = 0, got;
        for (uint64_t q = 1; q <= last; q++)
            if (q < f->g.nra && f->g.ra[q] != 0 && f->g.ra[q] <= t)
                want = q;
        /* a binary search would have stopped at the first later stamp */
        for (uint64_t q = 1; q < want; q++)
            stepped_back |= f->g.ra[q] > t;
        assert_int_equal(ot_timeline_seq_at_time(f->s, t, &got), 0);
        assert_int_equal(got, want);
    }
    assert_true(stepped_back);
    uint64_t got;
    assert_int_equal(ot_timeline_seq_at_time(f->s, 0, &got), 0);
    assert_int_equal(got, 0);
    assert_int_equal(ot_timeline_seq_at_time(f->s, INT64_MAX, &got), 0);
    assert_int_equal(got, last);
}

/* ---- an empty store ------------------------------------------------------------ */

static void
test_empty_store(void **state)
{
    (void)state;
    char dir[64];
    snprintf(dir, sizeof dir, "/tmp/ot_timeline_XXXXXX");
    assert_non_null(mkdtemp(dir));
    ot_store_options o = { .nosync = true };
    ot_store *s;
    t_list got = { 0 };
    uint64_t seq = 9, events = 9;
    assert_int_equal(ot_store_open(dir, &o, &s), 0);
    assert_int_equal(ot_timeline_as_of(s, 0, "", s_collect, &got, NULL, NULL), 0);
    assert_int_equal(got.n, 0);
    assert_int_equal(ot_timeline_as_of(s, 1, "", s_collect, &got, NULL, NULL), OT_ENOTFOUND);
    assert_int_equal(ot_timeline_seq_at_time(s, INT64_MAX, &seq), 0);
    assert_int_equal(seq, 0);
    assert_int_equal(ot_timeline_explain(s, "total", 5, NULL, NULL, NULL, &events), 0);
    assert_int_equal(events, 0);
    ot_store_close(&s);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_as_of_each_step),
        cmocka_unit_test(test_as_of_end_and_prefix),
        cmocka_unit_test(test_as_of_edges),
        cmocka_unit_test(test_explain_every_tally),
        cmocka_unit_test(test_bad_keys),
        cmocka_unit_test(test_history_every_key),
        cmocka_unit_test(test_seq_at_time),
        cmocka_unit_test(test_empty_store),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
