/*
 * test_groups: the fold of issue 11 (store/ot_groups.c and the general path
 * of ot_store_ingest): incidents against a model on random sequences, the
 * placement of aggregates with parents and children, figures' statuses, an
 * old store (tests/fixtures/store-r1), and rebuild --check over all of it.
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
#include <unistd.h>

#include "ot_error.h"
#include "ot_rebuild.h"
#include "ot_store.h"
#include "ot_store_int.h"
#include "ot_view.h"

static char s_dir[256];

static ot_store *
s_open(const char *rank)
{
    snprintf(s_dir, sizeof s_dir, "/tmp/ot_groups_XXXXXX");
    assert_non_null(mkdtemp(s_dir));
    ot_store_options o = { .nosync = true, .source_rank = rank };
    ot_store *s;
    assert_int_equal(ot_store_open(s_dir, &o, &s), 0);
    return s;
}

static void
s_close(ot_store **s)
{
    ot_store_close(s);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", s_dir);
    assert_int_equal(system(cmd), 0);
}

/* Ingest n events as one group; OUT statuses in items. */
static void
s_ingest(ot_store *s, Optally__OperationEvent **evs, size_t n, ot_ingest_item *items)
{
    ot_ingest_group g = { .producer = (const uint8_t *)"t", .producer_len = 1, .received_at = 1,
                          .items = items, .n = n };
    for (size_t i = 0; i < n; i++) {
        memset(&items[i], 0, sizeof items[i]);
        items[i].event = evs[i];
    }
    assert_int_equal(ot_store_ingest(s, &g, 1), 0);
}

static Optally__IngestStatus
s_one(ot_store *s, Optally__OperationEvent *ev)
{
    ot_ingest_item it;
    s_ingest(s, &ev, 1, &it);
    return it.status;
}

typedef struct s_get {
    const char *key;
    ot_counts c;
    bool found;
} s_get;

static int
s_get_fn(void *ctx, const char *key, size_t len, const ot_counts *c)
{
    s_get *g = ctx;
    if (strlen(g->key) == len && memcmp(g->key, key, len) == 0) {
        g->c = *c;
        g->found = true;
    }
    return 0;
}

static ot_counts
s_tally(ot_store *s, const char *key, bool reported)
{
    s_get g = { .key = key };
    if (reported)
        assert_int_equal(ot_store_reported_foreach(s, "", s_get_fn, &g), 0);
    else
        assert_int_equal(ot_store_tally_foreach(s, "", s_get_fn, &g), 0);
    return g.c;
}

static void
s_check_clean(ot_store *s)
{
    ot_rebuild_options o = { .check = true };
    ot_rebuild_stats st;
    assert_int_equal(ot_rebuild_run(s, &o, &st), 0);
    assert_int_equal(st.diffs, 0);
}

/* ---- incidents against a model ------------------------------------------- */

#define NIDS 24
#define NINC 4

typedef struct m_ev {
    bool present;
    uint32_t rev;
    int inc;            /* -1 none */
    int src;
    bool retracted;
    uint32_t killed;
    int country;
    uint64_t join;      /* order of joining the incident (a seq stand-in) */
} m_ev;

static const char *const s_srcs[] = { "A", "B", "C", "D" };
static const char *const s_ccs[] = { "IQ", "SY" };

static size_t
s_rank_of(const char *rank, const char *src)
{
    /* position in the comma list, or after all */
    size_t pos = 0, n = 0;
    const char *p = rank;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == strlen(src) && memcmp(p, src, l) == 0)
            return pos;
        pos++;
        n++;
        p += l;
        if (*p == ',')
            p++;
    }
    return n + 100;
}

/* The model's observed killed and events per country (0 IQ, 1 SY). */
static void
s_model(const m_ev *m, const char *rank, int64_t events[2], int64_t killed[2])
{
    events[0] = events[1] = killed[0] = killed[1] = 0;
    for (int i = 0; i < NIDS; i++) {
        if (!m[i].present || m[i].retracted || m[i].inc >= 0)
            continue;
        events[m[i].country]++;
        killed[m[i].country] += m[i].killed;
    }
    for (int inc = 0; inc < NINC; inc++) {
        int best = -1;
        for (int i = 0; i < NIDS; i++) {
            if (!m[i].present || m[i].retracted || m[i].inc != inc)
                continue;
            if (best < 0)
                best = i;
            else {
                size_t ri = s_rank_of(rank, s_srcs[m[i].src]);
                size_t rb = s_rank_of(rank, s_srcs[m[best].src]);
                if (ri < rb || (ri == rb && m[i].join < m[best].join))
                    best = i;
            }
        }
        if (best >= 0) {
            events[m[best].country]++;
            killed[m[best].country] += m[best].killed;
        }
    }
}

static void
s_incidents_with(const char *rank, unsigned seed)
{
    srand(seed);
    ot_store *s = s_open(rank);
    m_ev m[NIDS] = { 0 };
    uint64_t joins = 0;
    char ids[NIDS][16], incs[NINC][16];
    for (int i = 0; i < NIDS; i++)
        snprintf(ids[i], sizeof ids[i], "ev-%d", i);
    for (int i = 0; i < NINC; i++)
        snprintf(incs[i], sizeof incs[i], "inc-%d", i);
    for (int round = 0; round < 60; round++) {
        Optally__OperationEvent pbs[8], *evs[8];
        ot_ingest_item items[8];
        Optally__IngestStatus want[8];
        size_t n = 1 + (size_t)(rand() % 8);
        for (size_t k = 0; k < n; k++) {
            int i = rand() % NIDS;
            m_ev nw = m[i];
            nw.rev = m[i].present ? m[i].rev + 1 : 0;
            nw.inc = rand() % 5 == 0 ? -1 : rand() % NINC;
            nw.src = rand() % 4;
            nw.retracted = rand() % 6 == 0;
            nw.killed = (uint32_t)(rand() % 10);
            nw.country = rand() % 2;
            if (!m[i].present || nw.inc != m[i].inc)
                nw.join = ++joins;
            want[k] = m[i].present ? OPTALLY__INGEST_STATUS__SUPERSEDED
                                   : OPTALLY__INGEST_STATUS__STORED;
            nw.present = true;
            m[i] = nw;
            Optally__OperationEvent *e = &pbs[k];
            optally__operation_event__init(e);
            e->event_id = ids[i];
            e->revision = nw.rev;
            e->retracted = nw.retracted;
            e->source = (char *)s_srcs[nw.src];
            e->occurred_on = "2024-02-03";
            e->country = (char *)s_ccs[nw.country];
            e->operations = 1;
            e->killed = nw.killed;
            e->incident = nw.inc >= 0 ? incs[nw.inc] : "";
            evs[k] = e;
        }
        s_ingest(s, evs, n, items);
        for (size_t k = 0; k < n; k++)
            assert_int_equal(items[k].status, want[k]);
        int64_t events[2], killed[2];
        s_model(m, rank, events, killed);
        ot_counts iq = s_tally(s, "country/IQ", false), sy = s_tally(s, "country/SY", false);
        ot_counts tot = s_tally(s, "total", false);
        assert_int_equal(iq.events, events[0]);
        assert_int_equal(iq.killed, killed[0]);
        assert_int_equal(sy.events, events[1]);
        assert_int_equal(sy.killed, killed[1]);
        assert_int_equal(tot.events, events[0] + events[1]);
        assert_int_equal(tot.killed_low, killed[0] + killed[1]);
        if (round % 20 == 19)
            s_check_clean(s);
    }
    s_check_clean(s);
    s_close(&s);
}

static void
test_incidents_model(void **state)
{
    (void)state;
    s_incidents_with("", 1);
    s_incidents_with("B,A", 2);
    s_incidents_with("D,C,B,A", 3);
    s_incidents_with("C", 4);
}

typedef struct s_inc_seen {
    int incidents;
    long counted;
    size_t n;
} s_inc_seen;

static int
s_inc_fn(void *ctx, const char *inc, size_t len, const ot_incident_member *m, size_t n,
         long counted)
{
    (void)inc;
    (void)len;
    (void)m;
    s_inc_seen *seen = ctx;
    seen->incidents++;
    seen->counted = counted;
    seen->n = n;
    return 0;
}

static void
test_incident_rank_and_walk(void **state)
{
    (void)state;
    ot_store *s = s_open("CENTCOM,SDF");
    Optally__OperationEvent a = OPTALLY__OPERATION_EVENT__INIT, b = a;
    a.event_id = "sdf-1";
    a.source = "SDF";
    a.occurred_on = "2024-02-03";
    a.country = "SY";
    a.operations = 1;
    a.killed = 3;
    a.incident = "raid-1";
    b = a;
    b.event_id = "cc-1";
    b.source = "CENTCOM";
    b.killed = 2;
    assert_int_equal(s_one(s, &a), OPTALLY__INGEST_STATUS__STORED);
    assert_int_equal(s_tally(s, "total", false).killed, 3);
    assert_int_equal(s_one(s, &b), OPTALLY__INGEST_STATUS__STORED);
    /* CENTCOM ranks first: its count replaces SDF's, once */
    assert_int_equal(s_tally(s, "total", false).events, 1);
    assert_int_equal(s_tally(s, "total", false).killed, 2);
    s_inc_seen seen = { 0 };
    assert_int_equal(ot_store_incident_foreach(s, s_inc_fn, &seen), 0);
    assert_int_equal(seen.incidents, 1);
    assert_int_equal(seen.n, 2);
    assert_int_equal(seen.counted, 1);   /* first-stored order: sdf-1, cc-1 */
    /* retracting the counted member lets the next one count */
    b.revision = 1;
    b.retracted = true;
    assert_int_equal(s_one(s, &b), OPTALLY__INGEST_STATUS__SUPERSEDED);
    assert_int_equal(s_tally(s, "total", false).killed, 3);
    char buf[64];
    assert_int_equal(ot_store_source_rank(s, buf, sizeof buf), 0);
    assert_string_equal(buf, "CENTCOM,SDF");
    s_check_clean(s);
    /* another ranking on a store with incidents: refused; rebuild may */
    char dir[256];
    snprintf(dir, sizeof dir, "%s", s_dir);
    ot_store_close(&s);
    ot_store_options o = { .nosync = true, .source_rank = "SDF,CENTCOM" };
    assert_int_equal(ot_store_open(dir, &o, &s), OT_ERANK);
    o.maintenance = true;
    assert_int_equal(ot_store_open(dir, &o, &s), 0);
    ot_rebuild_options ro = { 0 };
    ot_rebuild_stats st;
    assert_int_equal(ot_rebuild_run(s, &ro, &st), 0);
    ot_store_close(&s);
    o.maintenance = false;
    assert_int_equal(ot_store_open(dir, &o, &s), 0);
    b.revision = 2;
    b.retracted = false;
    assert_int_equal(s_one(s, &b), OPTALLY__INGEST_STATUS__SUPERSEDED);
    assert_int_equal(s_tally(s, "total", false).killed, 3);   /* SDF ranks first now */
    s_check_clean(s);
    s_close(&s);
}

/* ---- aggregates ------------------------------------------------------------ */

static char *s_iqsy[] = { "IQ", "SY" };

static void
s_agg(Optally__OperationEvent *e, const char *id, const char *cc, const char *parent,
      uint32_t ops, uint32_t killed, uint32_t detained)
{
    optally__operation_event__init(e);
    e->event_id = (char *)id;
    e->source = "CENTCOM";
    e->granularity = OPTALLY__GRANULARITY__AGGREGATE;
    e->occurred_on = "2024-01-01";
    e->occurred_until = "2024-03-31";
    if (cc) {
        e->country = (char *)cc;
    } else {
        e->n_countries = 2;
        e->countries = s_iqsy;
    }
    e->parent_id = (char *)(parent ? parent : "");
    e->operations = ops;
    e->killed = killed;
    e->detained = detained;
}

typedef struct s_places {
    char ids[8][32];
    ot_placement where[8];
    int n;
} s_places;

static int
s_place_fn(void *ctx, const Optally__OperationEvent *ev, uint64_t seq, ot_placement where,
           const char *key, size_t len)
{
    (void)seq;
    (void)len;
    s_places *p = ctx;
    assert_true(p->n < 8);
    assert_true((where == OT_PLACED_UNPLACED) == (key == NULL));
    snprintf(p->ids[p->n], sizeof p->ids[p->n], "%s", ev->event_id);
    p->where[p->n++] = where;
    return 0;
}

static ot_placement
s_where(ot_store *s, const char *view, const char *id)
{
    s_places p = { 0 };
    assert_int_equal(ot_store_aggregate_placements(s, view, s_place_fn, &p), 0);
    for (int i = 0; i < p.n; i++)
        if (strcmp(p.ids[i], id) == 0)
            return p.where[i];
    fail_msg("%s not placed in %s", id, view);
    return OT_PLACED_UNPLACED;
}

static void
test_aggregates(void **state)
{
    (void)state;
    ot_store *s = s_open(NULL);
    Optally__OperationEvent p, iq, sy, q;
    s_agg(&p, "rel", NULL, NULL, 94, 18, 63);
    s_agg(&iq, "rel-iq", "IQ", "rel", 66, 11, 36);
    s_agg(&sy, "rel-sy", "SY", "rel", 28, 7, 27);
    /* children before their parent */
    Optally__OperationEvent *kids[] = { &iq, &sy };
    ot_ingest_item items[2];
    s_ingest(s, kids, 2, items);
    assert_int_equal(s_tally(s, "total", true).operations, 94);
    assert_int_equal(s_one(s, &p), OPTALLY__INGEST_STATUS__STORED);
    ot_counts t = s_tally(s, "total", true);
    assert_int_equal(t.events, 1);
    assert_int_equal(t.operations, 94);
    assert_int_equal(t.killed, 18);
    assert_int_equal(t.detained, 63);
    assert_int_equal(s_tally(s, "country,quarter/IQ/2024-Q1", true).operations, 66);
    assert_int_equal(s_tally(s, "country,quarter/SY/2024-Q1", true).detained, 27);
    assert_int_equal(s_tally(s, "country/IQ", true).killed, 11);
    assert_false(s_tally(s, "country,month/IQ/2024-01", true).events);
    /* reported never reaches the observed tallies */
    assert_int_equal(s_tally(s, "total", false).events, 0);
    assert_int_equal(s_where(s, "total", "rel"), OT_PLACED_COUNTED);
    assert_int_equal(s_where(s, "total", "rel-iq"), OT_PLACED_SHADOWED);
    assert_int_equal(s_where(s, "country,quarter", "rel"), OT_PLACED_UNPLACED);
    assert_int_equal(s_where(s, "country,quarter", "rel-sy"), OT_PLACED_COUNTED);
    assert_int_equal(s_where(s, "country,month", "rel-sy"), OT_PLACED_UNPLACED);
    s_check_clean(s);

    /* a retracted parent counts nowhere and shadows nothing */
    p.revision = 1;
    p.retracted = true;
    assert_int_equal(s_one(s, &p), OPTALLY__INGEST_STATUS__SUPERSEDED);
    t = s_tally(s, "total", true);
    assert_int_equal(t.events, 2);
    assert_int_equal(t.operations, 94);
    s_check_clean(s);
    p.revision = 2;
    p.retracted = false;
    assert_int_equal(s_one(s, &p), OPTALLY__INGEST_STATUS__SUPERSEDED);
    assert_int_equal(s_tally(s, "total", true).events, 1);

    /* re-parenting: rel-iq under a new Iraq-wide q (same key country/IQ) */
    s_agg(&q, "q-iq", "IQ", NULL, 70, 12, 40);
    assert_int_equal(s_one(s, &q), OPTALLY__INGEST_STATUS__STORED);
    iq.revision = 1;
    iq.parent_id = "q-iq";
    assert_int_equal(s_one(s, &iq), OPTALLY__INGEST_STATUS__SUPERSEDED);
    assert_int_equal(s_tally(s, "country/IQ", true).operations, 70);
    assert_int_equal(s_where(s, "country", "rel-iq"),
                     OT_PLACED_SHADOWED);
    t = s_tally(s, "total", true);
    assert_int_equal(t.operations, 94 + 70);   /* rel and q-iq are both roots */
    s_check_clean(s);

    /* a loop is refused: q-iq under rel-iq, which is under q-iq */
    q.revision = 1;
    q.parent_id = "rel-iq";
    ot_ingest_item it;
    Optally__OperationEvent *one = &q;
    s_ingest(s, &one, 1, &it);
    assert_int_equal(it.status, OPTALLY__INGEST_STATUS__REJECTED);
    assert_int_equal(it.reject.reason, OPTALLY__REJECT_REASON__BAD_PARENT);
    assert_non_null(strstr(it.reject.text, "loop"));
    /* an aggregate turned into an operation leaves its family */
    iq.revision = 2;
    iq.granularity = OPTALLY__GRANULARITY__OPERATION;
    iq.occurred_until = "";
    iq.parent_id = "";
    assert_int_equal(s_one(s, &iq), OPTALLY__INGEST_STATUS__SUPERSEDED);
    assert_int_equal(s_tally(s, "country/IQ", false).operations, 66);
    assert_int_equal(s_tally(s, "country/IQ", true).operations, 70);
    s_check_clean(s);

    /* rebuild --check sees a damaged reported tally and index entry */
    MDB_txn *txn;
    assert_int_equal(mdb_txn_begin(s->env, NULL, 0, &txn), 0);
    ot_counts bad = { 1, 2, 3, 4, 5, 6, 7 };
    MDB_val k = { 5, "total" }, v = { sizeof bad, &bad };
    assert_int_equal(mdb_put(txn, s->reported, &k, &v, 0), 0);
    MDB_val ak = { 4, "q-iq" };
    assert_int_equal(mdb_del(txn, s->aggregates, &ak, NULL), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    ot_rebuild_options o = { .check = true };
    ot_rebuild_stats st;
    assert_int_equal(ot_rebuild_run(s, &o, &st), 0);
    assert_int_equal(st.diffs, 2);
    o.check = false;
    assert_int_equal(ot_rebuild_run(s, &o, &st), 0);
    s_check_clean(s);
    assert_int_equal(s_tally(s, "total", true).operations, 94 + 70);
    s_close(&s);
}

/* ---- figures ---------------------------------------------------------------- */

static int
s_fig_count(void *ctx, const Optally__Figure *f, uint64_t seq)
{
    (void)seq;
    int *n = ctx;
    if (f->value == 2600)
        *n += 100;
    (*n)++;
    return 0;
}

static void
test_figures(void **state)
{
    (void)state;
    ot_store *s = s_open(NULL);
    Optally__Figure f = OPTALLY__FIGURE__INIT;
    char *scope[] = { "IQ", "SY" };
    f.figure_id = "fig-1";
    f.source = "CENTCOM";
    f.metric = "fighters_at_large";
    f.n_scope = 2;
    f.scope = scope;
    f.as_of = "2024-03-31";
    f.value = 2500;
    f.qualifier = OPTALLY__QUALIFIER__APPROX;
    Optally__Figure dup = f, conflict = f, rev = f, stale = f;
    dup.reported_at = 99;   /* not content */
    conflict.value = 2400;
    rev.revision = 1;
    rev.value = 2600;
    ot_figure_item fi[5] = { { .figure = &f }, { .figure = &dup }, { .figure = &conflict },
                             { .figure = &rev }, { .figure = &stale } };
    fi[4].reject.reason = OPTALLY__REJECT_REASON__BAD_METRIC;   /* refused by validation */
    ot_ingest_group g = { .producer = (const uint8_t *)"t", .producer_len = 1, .received_at = 1,
                          .figures = fi, .nfigures = 5 };
    assert_int_equal(ot_store_ingest(s, &g, 1), 0);
    assert_int_equal(fi[0].status, OPTALLY__INGEST_STATUS__STORED);
    assert_int_equal(fi[0].figure_seq, 1);
    assert_int_equal(fi[1].status, OPTALLY__INGEST_STATUS__DUPLICATE);
    assert_int_equal(fi[1].figure_seq, 0);
    assert_int_equal(fi[2].status, OPTALLY__INGEST_STATUS__REJECTED);
    assert_int_equal(fi[2].reject.reason, OPTALLY__REJECT_REASON__CONFLICT);
    assert_int_equal(fi[3].status, OPTALLY__INGEST_STATUS__SUPERSEDED);
    assert_int_equal(fi[3].figure_seq, 2);
    assert_int_equal(fi[4].status, OPTALLY__INGEST_STATUS__REJECTED);
    ot_figure_item late = { .figure = &f };
    g.figures = &late;
    g.nfigures = 1;
    assert_int_equal(ot_store_ingest(s, &g, 1), 0);
    assert_int_equal(late.status, OPTALLY__INGEST_STATUS__STALE);
    int n = 0;
    assert_int_equal(ot_store_figure_foreach(s, s_fig_count, &n), 0);
    assert_int_equal(n, 101);   /* one current figure, the revision */
    ot_store_seqs q;
    ot_store_seqs_get(s, &q);
    assert_int_equal(q.figure_seq, 2);
    s_check_clean(s);
    /* figures survive a reopen: the id index skips their records */
    char dir[256];
    snprintf(dir, sizeof dir, "%s", s_dir);
    ot_store_close(&s);
    ot_store_options o = { .nosync = true };
    assert_int_equal(ot_store_open(dir, &o, &s), 0);
    g.figures = &late;
    assert_int_equal(ot_store_ingest(s, &g, 1), 0);
    assert_int_equal(late.status, OPTALLY__INGEST_STATUS__STALE);
    s_close(&s);
}

/* ---- the previous release's store ------------------------------------------ */

static void
test_old_store(void **state)
{
    (void)state;
    char src[512], cmd[1200];
    snprintf(src, sizeof src, "%s", __FILE__);
    char *slash = strrchr(src, '/');
    assert_non_null(slash);
    snprintf(slash, sizeof src - (size_t)(slash - src), "/fixtures/store-r1/store");
    snprintf(s_dir, sizeof s_dir, "/tmp/ot_groups_old_XXXXXX");
    assert_non_null(mkdtemp(s_dir));
    snprintf(cmd, sizeof cmd, "cp -r %s/. %s/", src, s_dir);
    assert_int_equal(system(cmd), 0);
    ot_store_options ro = { .readonly = true };
    ot_store *s;
    assert_int_equal(ot_store_open(s_dir, &ro, &s), 0);
    /* query-total.jsonl / query-country.jsonl of the fixture */
    ot_counts t = s_tally(s, "total", false);
    assert_int_equal(t.events, 93);
    assert_int_equal(t.killed, 17);
    assert_int_equal(t.detained, 65);
    assert_int_equal(t.killed_low, 17);
    assert_int_equal(t.killed_high, 17);
    assert_int_equal(s_tally(s, "country/IQ", false).killed_high, 11);
    assert_int_equal(s_tally(s, "total", true).events, 0);   /* no reported DB: empty */
    ot_store_close(&s);
    ot_store_options wo = { .nosync = true };
    assert_int_equal(ot_store_open(s_dir, &wo, &s), 0);
    s_check_clean(s);
    Optally__OperationEvent e = OPTALLY__OPERATION_EVENT__INIT;
    e.event_id = "new-shape-1";
    e.source = "CENTCOM";
    e.occurred_on = "2024-03-02";
    e.country = "IQ";
    e.operations = 1;
    e.killed = 2;
    e.killed_low = 1;
    e.killed_high = 4;
    e.incident = "i-1";
    assert_int_equal(s_one(s, &e), OPTALLY__INGEST_STATUS__STORED);
    t = s_tally(s, "total", false);
    assert_int_equal(t.events, 94);
    assert_int_equal(t.killed, 19);
    assert_int_equal(t.killed_low, 18);
    assert_int_equal(t.killed_high, 21);
    s_check_clean(s);
    s_close(&s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_incidents_model),
        cmocka_unit_test(test_incident_rank_and_walk),
        cmocka_unit_test(test_aggregates),
        cmocka_unit_test(test_figures),
        cmocka_unit_test(test_old_store),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
