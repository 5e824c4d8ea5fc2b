/*
 * test_views_store: views declared at run time, in the store
 * (store/ot_store_views.c, the fold and rebuild over a view set).
 *  - a declared view filled from history (random stream: duplicates,
 *    revisions, retractions, stale and conflicting revisions) equals the same
 *    view computed by a model written here (its own key builder: escaping,
 *    ISO weeks from strftime, filters), and stays equal as the live fold goes
 *    on, after a reopen, and for rebuild --check (no difference);
 *  - incidents and aggregates count in a declared view as in the built-in
 *    ones: filling after the events equals folding them live;
 *  - keys of a view name the store does not know are left alone by rebuild
 *    and replaced by the fill of a view of that name (not those of another
 *    name sharing its first letters);
 *  - drop removes the view's observed and reported tallies, its definition
 *    and its update sequence, and nothing else; built-in views cannot be
 *    dropped; a freed slot is reused and starts at view_seq 0;
 *  - the changes of an ingest name their view's slot, numbered per slot;
 *  - bad definitions, a taken name, too many views: refused with a reason,
 *    the store untouched; a readonly handle cannot add, but sees what the
 *    writer added;
 *  - crash safety: a failure at any write step of an add (or a drop) leaves
 *    no trace (no definition, no tallies, same sequences); MDB_MAP_FULL grows
 *    the map and retries;
 *  - meta "useq" of older layouts (16 view sequences, with and without
 *    figure_seq) reads correctly and is rewritten in the current one;
 *  - status and the snapshot with its log seq.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ot_error.h"
#include "ot_model.h"
#include "ot_rebuild.h"
#include "ot_store.h"
#include "ot_store_int.h"
#include "ot_view.h"

static char s_dir[128];

static ot_store *
s_open_in(const char *rank, bool fresh)
{
    if (fresh) {
        snprintf(s_dir, sizeof s_dir, "/tmp/ot_vstore_XXXXXX");
        assert_non_null(mkdtemp(s_dir));
    }
    ot_store_options o = { .nosync = true, .source_rank = rank };
    ot_store *s;
    assert_int_equal(ot_store_open(s_dir, &o, &s), 0);
    return s;
}

static ot_store *
s_open(void)
{
    return s_open_in(NULL, true);
}

static void
s_close(ot_store **s)
{
    ot_store_close(s);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", s_dir);
    assert_int_equal(system(cmd), 0);
}

/* A definition from literals (NULL-ended lists). */
typedef struct s_def {
    Optally__ViewDef d;
    char *by[OT_VIEW_MAX_FIELDS + 2];
    char *where[OT_VIEW_MAX_FILTERS + 2];
} s_def;

static void
s_mkdef(s_def *sd, const char *name, const char *by, const char *where)
{
    /* by and where: items separated by ';' (kept in static buffers per sd) */
    static char store[16][512];
    static int next;
    memset(sd, 0, sizeof *sd);
    optally__view_def__init(&sd->d);
    sd->d.name = (char *)name;
    char *b = store[next++ % 16];
    snprintf(b, 512, "%s", by);
    for (char *t = strtok(b, ";"); t; t = strtok(NULL, ";"))
        sd->by[sd->d.n_group_by++] = t;
    sd->d.group_by = sd->by;
    if (where && *where) {
        char *w = store[next++ % 16];
        snprintf(w, 512, "%s", where);
        for (char *t = strtok(w, ";"); t; t = strtok(NULL, ";"))
            sd->where[sd->d.n_where++] = t;
    }
    sd->d.where = sd->where;
}

static size_t
s_add(ot_store *s, const char *name, const char *by, const char *where)
{
    s_def sd;
    char err[256];
    uint64_t filled = 99;
    s_mkdef(&sd, name, by, where);
    int rc = ot_store_view_add(s, &sd.d, NULL, NULL, &filled, err, sizeof err);
    if (rc != 0)
        fail_msg("view add %s: %s (%s)", name, ot_strerror(rc), err);
    ot_viewset *vs;
    size_t slot = 0;
    assert_int_equal(ot_store_views(s, &vs), 0);
    assert_non_null(ot_viewset_find(vs, name, &slot));
    ot_viewset_free(&vs);
    return slot;
}

/* ---- tallies under a prefix ------------------------------------------------ */

typedef struct s_row {
    char key[OT_VIEW_KEY_MAX];
    ot_counts c;
} s_row;

typedef struct s_rows {
    s_row *r;
    size_t n, cap;
} s_rows;

static void
s_rows_add(s_rows *rs, const char *key, size_t len, const ot_counts *c, int sign)
{
    for (size_t i = 0; i < rs->n; i++)
        if (strlen(rs->r[i].key) == len && !memcmp(rs->r[i].key, key, len)) {
            ot_counts_add(&rs->r[i].c, c, sign);
            return;
        }
    if (rs->n == rs->cap) {
        rs->cap = rs->cap ? rs->cap * 2 : 64;
        rs->r = realloc(rs->r, rs->cap * sizeof *rs->r);
        assert_non_null(rs->r);
    }
    assert_true(len < OT_VIEW_KEY_MAX);
    memset(&rs->r[rs->n], 0, sizeof rs->r[rs->n]);
    memcpy(rs->r[rs->n].key, key, len);
    ot_counts_add(&rs->r[rs->n].c, c, sign);
    rs->n++;
}

static int
s_collect(void *ctx, const char *key, size_t len, const ot_counts *c)
{
    s_rows_add(ctx, key, len, c, +1);
    return 0;
}

static void
s_tallies(ot_store *s, const char *prefix, bool reported, s_rows *out)
{
    memset(out, 0, sizeof *out);
    if (reported)
        assert_int_equal(ot_store_reported_foreach(s, prefix, s_collect, out), 0);
    else
        assert_int_equal(ot_store_tally_foreach(s, prefix, s_collect, out), 0);
}

/* Both lists hold the same non-zero rows. */
static void
s_assert_rows_equal(const s_rows *want, const s_rows *got)
{
    size_t nz = 0;
    for (size_t i = 0; i < want->n; i++) {
        const ot_counts zero = { 0 };
        if (!memcmp(&want->r[i].c, &zero, sizeof zero))
            continue;
        nz++;
        size_t j;
        for (j = 0; j < got->n; j++)
            if (!strcmp(got->r[j].key, want->r[i].key))
                break;
        if (j == got->n)
            fail_msg("key %s missing", want->r[i].key);
        if (memcmp(&got->r[j].c, &want->r[i].c, sizeof got->r[j].c) != 0)
            fail_msg("key %s: killed %lld events %lld, want killed %lld events %lld",
                     want->r[i].key, (long long)got->r[j].c.killed, (long long)got->r[j].c.events,
                     (long long)want->r[i].c.killed, (long long)want->r[i].c.events);
    }
    assert_int_equal(got->n, nz);
}

/* ---- the model of declared views ------------------------------------------ */

/* Escape as keys do: % -> %25, / -> %2F. */
static void
s_esc(char *out, size_t cap, const char *v)
{
    size_t o = 0;
    for (; *v; v++) {
        const char *rep = *v == '%' ? "%25" : *v == '/' ? "%2F" : NULL;
        size_t n = rep ? 3 : 1;
        assert_true(o + n < cap);
        memcpy(out + o, rep ? rep : v, n);
        o += n;
    }
    out[o] = '\0';
}

/* The ISO week of a YYYY-MM-DD date, as the C library tells it. */
static void
s_week(const char *date, char out[16])
{
    struct tm tm = { 0 };
    assert_int_equal(sscanf(date, "%d-%d-%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday), 3);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    tm.tm_hour = 12;
    time_t t = timegm(&tm);
    struct tm g;
    assert_non_null(gmtime_r(&t, &g));
    assert_true(strftime(out, 16, "%G-W%V", &g) > 0);
}

/* The model's three views (their definitions in s_add_model_views). */
static const char *const s_mviews[] = { "pf_month", "wk", "yr.src" };

static void
s_add_model_views(ot_store *s)
{
    s_add(s, "pf_month", "partner_force;month", "country=IQ|SY;occurred_on>=2021-06-01");
    s_add(s, "wk", "week;country", "partner_force!=ISF");
    s_add(s, "yr.src", "year;source;type;granularity", "");
}

/* Key of m in model view v, or false when its filters leave m out. */
static bool
s_model_key(int v, const m_event *m, char *key, size_t cap)
{
    char a[64], b[64];
    switch (v) {
    case 0:
        if (strcmp(m->country, "IQ") && strcmp(m->country, "SY"))
            return false;
        if (strcmp(m->date, "2021-06-01") < 0)
            return false;
        s_esc(a, sizeof a, m->pf);
        snprintf(key, cap, "pf_month/%s/%.7s", a, m->date);
        return true;
    case 1:
        if (!strcmp(m->pf, "ISF"))
            return false;
        s_week(m->date, b);
        snprintf(key, cap, "wk/%s/%s", b, m->country);
        return true;
    default:
        snprintf(key, cap, "yr.src/%.4s/TEST//OPERATION", m->date);
        return true;
    }
}

static void
s_model_rows(const ot_model *mo, int v, s_rows *out)
{
    memset(out, 0, sizeof *out);
    for (int i = 0; i < mo->nids; i++) {
        const m_event *m = &mo->cur[i];
        char key[OT_VIEW_KEY_MAX];
        if (!m->present || m->retracted || !s_model_key(v, m, key, sizeof key))
            continue;
        Optally__OperationEvent pb;
        ot_counts c;
        ot_model_to_pb(m, &pb);
        ot_counts_of(&pb, &c);
        s_rows_add(out, key, strlen(key), &c, +1);
    }
}

static void
s_assert_model_views(ot_store *s, const ot_model *mo)
{
    for (int v = 0; v < 3; v++) {
        s_rows want, got;
        char prefix[80];
        snprintf(prefix, sizeof prefix, "%s/", s_mviews[v]);
        s_model_rows(mo, v, &want);
        s_tallies(s, prefix, false, &got);
        assert_true(want.n > 0);
        s_assert_rows_equal(&want, &got);
        free(want.r);
        free(got.r);
    }
}

static uint64_t
s_check_diffs(ot_store *s)
{
    ot_rebuild_options o = { .check = true };
    ot_rebuild_stats st;
    assert_int_equal(ot_rebuild_run(s, &o, &st), 0);
    return st.diffs;
}

static void
test_fill_and_live(void **state)
{
    (void)state;
    ot_store *s = s_open();
    ot_model mo;
    srand(12);
    ot_model_init(&mo, 300, "v");
    for (int i = 0; i < 30; i++)
        ot_model_ingest(s, &mo, 40);
    uint64_t log_last;
    assert_int_equal(ot_store_log_last(s, &log_last), 0);
    /* filled from the whole log */
    s_def sd;
    char err[256];
    uint64_t filled = 0;
    s_mkdef(&sd, "pf_month", "partner_force;month", "country=IQ|SY;occurred_on>=2021-06-01");
    assert_int_equal(ot_store_view_add(s, &sd.d, NULL, NULL, &filled, err, sizeof err), 0);
    assert_int_equal(filled, log_last);
    s_add(s, "wk", "week;country", "partner_force!=ISF");
    s_add(s, "yr.src", "year;source;type;granularity", "");
    s_assert_model_views(s, &mo);
    assert_int_equal(s_check_diffs(s), 0);
    /* the live fold keeps them */
    for (int i = 0; i < 20; i++)
        ot_model_ingest(s, &mo, 40);
    s_assert_model_views(s, &mo);
    assert_int_equal(s_check_diffs(s), 0);
    /* a reopened store keeps the definitions and folds into them */
    ot_store_close(&s);
    s = s_open_in(NULL, false);
    s_assert_model_views(s, &mo);
    for (int i = 0; i < 5; i++)
        ot_model_ingest(s, &mo, 40);
    s_assert_model_views(s, &mo);
    ot_viewset *vs;
    assert_int_equal(ot_store_views(s, &vs), 0);
    const ot_view *v = ot_viewset_find(vs, "pf_month", NULL);
    assert_non_null(v);
    const Optally__ViewDef *d = ot_view_def(v);
    assert_non_null(d);
    assert_int_equal(d->n_where, 2);
    assert_string_equal(d->where[1], "occurred_on>=2021-06-01");
    assert_int_equal(d->filled_to_seq, log_last);
    assert_true(d->created_at > 0);
    ot_viewset_free(&vs);
    s_close(&s);
}

/* A rebuild after damage of a declared view's tally finds it and repairs it. */
static void
test_rebuild_declared(void **state)
{
    (void)state;
    ot_store *s = s_open();
    ot_model mo;
    srand(5);
    ot_model_init(&mo, 100, "r");
    for (int i = 0; i < 10; i++)
        ot_model_ingest(s, &mo, 30);
    s_add_model_views(s);
    /* damage: one key of "wk" changed behind the store's back */
    MDB_txn *txn;
    MDB_cursor *c;
    MDB_val k = { 3, "wk/" }, v;
    assert_int_equal(mdb_txn_begin(s->env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_cursor_open(txn, s->tallies, &c), 0);
    assert_int_equal(mdb_cursor_get(c, &k, &v, MDB_SET_RANGE), 0);
    ot_counts cnt;
    memcpy(&cnt, v.mv_data, sizeof cnt);
    cnt.killed += 7;
    MDB_val nv = { sizeof cnt, &cnt };
    assert_int_equal(mdb_cursor_put(c, &k, &nv, MDB_CURRENT), 0);
    mdb_cursor_close(c);
    assert_int_equal(mdb_txn_commit(txn), 0);
    assert_int_equal(s_check_diffs(s), 1);
    ot_store_close(&s);
    ot_store_options o = { .nosync = true, .maintenance = true };
    assert_int_equal(ot_store_open(s_dir, &o, &s), 0);
    ot_rebuild_options ro = { 0 };
    ot_rebuild_stats st;
    assert_int_equal(ot_rebuild_run(s, &ro, &st), 0);
    assert_int_equal(st.diffs, 1);
    assert_int_equal(s_check_diffs(s), 0);
    s_assert_model_views(s, &mo);
    s_close(&s);
}

/* ---- incidents and aggregates ----------------------------------------------- */

static void
s_ev(Optally__OperationEvent *e, const char *id, const char *src, const char *cc,
     const char *inc, uint32_t killed)
{
    optally__operation_event__init(e);
    e->event_id = (char *)id;
    e->source = (char *)src;
    e->occurred_on = "2024-01-10";
    e->country = (char *)cc;
    e->partner_force = "";
    e->incident = (char *)inc;
    e->operations = 1;
    e->killed = killed;
}

static void
s_ingest_evs(ot_store *s, Optally__OperationEvent *evs, size_t n, int64_t received_at)
{
    ot_ingest_item items[8];
    assert_true(n <= 8);
    memset(items, 0, sizeof items);
    for (size_t i = 0; i < n; i++)
        items[i].event = &evs[i];
    ot_ingest_group g = { .producer = (const uint8_t *)"t", .producer_len = 1,
                          .received_at = received_at, .items = items, .n = n };
    assert_int_equal(ot_store_ingest(s, &g, 1), 0);
    for (size_t i = 0; i < n; i++)
        assert_true(items[i].status == OPTALLY__INGEST_STATUS__STORED ||
                    items[i].status == OPTALLY__INGEST_STATUS__SUPERSEDED);
}

static void
s_group_events(Optally__OperationEvent evs[4])
{
    s_ev(&evs[0], "i1-b", "B", "IQ", "inc1", 3);
    s_ev(&evs[1], "i1-a", "A", "SY", "inc1", 5);
    s_ev(&evs[2], "p1", "A", "IQ", "", 1);
    s_ev(&evs[3], "ag1", "A", "IQ", "", 10);
    evs[3].granularity = OPTALLY__GRANULARITY__AGGREGATE;
    evs[3].occurred_on = "2024-01-01";
    evs[3].occurred_until = "2024-01-31";
}

static const ot_counts *
s_get(const s_rows *rs, const char *key)
{
    for (size_t i = 0; i < rs->n; i++)
        if (!strcmp(rs->r[i].key, key))
            return &rs->r[i].c;
    return NULL;
}

static void
test_groups_in_declared_view(void **state)
{
    (void)state;
    Optally__OperationEvent evs[4];
    s_group_events(evs);
    /* store 1: events first, then the view (filled from the log) */
    ot_store *s1 = s_open_in("A,B", true);
    char dir1[128];
    snprintf(dir1, sizeof dir1, "%s", s_dir);
    s_ingest_evs(s1, evs, 4, 1);
    s_add(s1, "srcv", "source;country", "");
    s_add(s1, "mon", "country;month", "source=A");
    /* store 2: the view first, then the events (the live fold) */
    ot_store *s2 = s_open_in("A,B", true);
    s_add(s2, "srcv", "source;country", "");
    s_add(s2, "mon", "country;month", "source=A");
    s_ingest_evs(s2, evs, 4, 1);
    for (int rep = 0; rep < 2; rep++) {
        s_rows a, b;
        s_tallies(s1, "", rep, &a);
        s_tallies(s2, "", rep, &b);
        s_assert_rows_equal(&a, &b);
        free(a.r);
        free(b.r);
    }
    s_rows o, r;
    s_tallies(s2, "srcv/", false, &o);
    s_tallies(s2, "", true, &r);
    /* the incident counts once, its best-ranked member (A, in SY) */
    assert_non_null(s_get(&o, "srcv/A/SY"));
    assert_int_equal(s_get(&o, "srcv/A/SY")->killed, 5);
    assert_int_equal(s_get(&o, "srcv/A/IQ")->killed, 1);
    assert_null(s_get(&o, "srcv/B/IQ"));
    assert_int_equal(o.n, 2);
    /* the aggregate: reported where its scope places it */
    assert_non_null(s_get(&r, "srcv/A/IQ"));
    assert_int_equal(s_get(&r, "srcv/A/IQ")->killed, 10);
    assert_non_null(s_get(&r, "mon/IQ/2024-01"));
    assert_int_equal(s_get(&r, "mon/IQ/2024-01")->killed, 10);
    free(o.r);
    free(r.r);
    /* retract the counted member: the other one counts now, live */
    Optally__OperationEvent x = evs[1];
    x.revision = 1;
    x.retracted = true;
    s_ingest_evs(s2, &x, 1, 2);
    s_tallies(s2, "srcv/", false, &o);
    assert_null(s_get(&o, "srcv/A/SY"));
    assert_int_equal(s_get(&o, "srcv/B/IQ")->killed, 3);
    free(o.r);
    s_tallies(s2, "mon/", false, &o);
    assert_int_equal(s_get(&o, "mon/IQ/2024-01")->killed, 1);   /* p1 only: B filtered */
    assert_int_equal(o.n, 1);
    free(o.r);
    assert_int_equal(s_check_diffs(s2), 0);
    s_close(&s2);
    snprintf(s_dir, sizeof s_dir, "%s", dir1);
    s_close(&s1);
}

/* Keys of a name no view has (another build's view, say) are left alone by
 * rebuild, and replaced by the fill when a view of that name is added. */
static void
test_stale_keys(void **state)
{
    (void)state;
    ot_store *s = s_open();
    Optally__OperationEvent evs[4];
    s_group_events(evs);
    s_ingest_evs(s, evs, 3, 1);
    MDB_txn *txn;
    ot_counts c = { .events = 9, .killed = 99 };
    MDB_val v = { sizeof c, &c };
    MDB_val k1 = { 10, "srcv/ZZ/QQ" }, k2 = { 4, "srcv" }, k3 = { 7, "srcvx/A" };
    assert_int_equal(mdb_txn_begin(s->env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_put(txn, s->tallies, &k1, &v, 0), 0);
    assert_int_equal(mdb_put(txn, s->tallies, &k2, &v, 0), 0);
    assert_int_equal(mdb_put(txn, s->tallies, &k3, &v, 0), 0);
    assert_int_equal(mdb_put(txn, s->reported, &k1, &v, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    assert_int_equal(s_check_diffs(s), 0);   /* views the store does not know */
    s_add(s, "srcv", "source;country", "");
    s_rows got;
    s_tallies(s, "srcv", false, &got);
    assert_int_equal(got.n, 3);   /* srcv/A/IQ, srcv/B/IQ (no ranking), srcvx/A */
    assert_null(s_get(&got, "srcv/ZZ/QQ"));
    assert_null(s_get(&got, "srcv"));
    assert_int_equal(s_get(&got, "srcvx/A")->killed, 99);   /* another name: untouched */
    free(got.r);
    s_tallies(s, "srcv", true, &got);
    assert_int_equal(got.n, 0);
    free(got.r);
    assert_int_equal(s_check_diffs(s), 0);
    s_close(&s);
}

/* ---- changes, drop, slots ------------------------------------------------------ */

static void
test_changes_and_drop(void **state)
{
    (void)state;
    ot_store *s = s_open();
    Optally__OperationEvent evs[4];
    s_group_events(evs);
    s_ingest_evs(s, evs, 4, 1);
    s_rows before, rbefore;
    s_tallies(s, "country", false, &before);
    s_tallies(s, "", true, &rbefore);
    size_t slot = s_add(s, "srcv", "source;country", "");
    assert_int_equal(slot, 5);
    ot_store_seqs sq;
    ot_store_seqs_get(s, &sq);
    assert_int_equal(sq.view_seq[slot], 0);
    /* an ingest: changes of the declared view name its slot, numbered 1.. */
    Optally__OperationEvent e;
    s_ev(&e, "p2", "C", "AF", "", 2);
    s_ingest_evs(s, &e, 1, 3);
    const ot_store_change *ch;
    size_t n = ot_store_last_changes(s, &ch);
    int seen = 0;
    for (size_t i = 0; i < n; i++) {
        if (ch[i].len > 5 && !memcmp(ch[i].key, "srcv/", 5)) {
            assert_int_equal(ch[i].view, slot);
            assert_int_equal(ch[i].view_seq, 1);
            assert_int_equal(ch[i].len, strlen("srcv/C/AF"));
            assert_memory_equal(ch[i].key, "srcv/C/AF", ch[i].len);
            seen++;
        } else {
            assert_true(ch[i].view < 5);
        }
    }
    assert_int_equal(seen, 1);
    ot_store_seqs_get(s, &sq);
    assert_int_equal(sq.view_seq[slot], 1);
    s_rows got;
    s_tallies(s, "srcv/", true, &got);
    assert_int_equal(got.n, 1);   /* the aggregate's reported tally */
    free(got.r);
    /* refused drops */
    char err[256] = "";
    assert_int_equal(ot_store_view_drop(s, "country", err, sizeof err), OT_EUSAGE);
    assert_non_null(strstr(err, "built-in"));
    err[0] = '\0';
    assert_int_equal(ot_store_view_drop(s, "nope", err, sizeof err), OT_ENOTFOUND);
    assert_non_null(strstr(err, "nope"));
    /* drop: the view's keys go, observed and reported; nothing else does */
    s_ev(&e, "p2", "C", "AF", "", 2);
    e.revision = 1;
    e.retracted = true;
    s_ingest_evs(s, &e, 1, 4);   /* back to the tallies of `before` */
    assert_int_equal(ot_store_view_drop(s, "srcv", err, sizeof err), 0);
    s_tallies(s, "srcv", false, &got);
    assert_int_equal(got.n, 0);
    free(got.r);
    s_tallies(s, "srcv", true, &got);
    assert_int_equal(got.n, 0);
    free(got.r);
    s_tallies(s, "country", false, &got);
    s_assert_rows_equal(&before, &got);
    free(got.r);
    s_tallies(s, "", true, &got);
    s_assert_rows_equal(&rbefore, &got);
    free(got.r);
    ot_store_seqs_get(s, &sq);
    assert_int_equal(sq.view_seq[slot], 0);
    ot_viewset *vs;
    assert_int_equal(ot_store_views(s, &vs), 0);
    assert_null(ot_viewset_find(vs, "srcv", NULL));
    ot_viewset_free(&vs);
    assert_int_equal(ot_store_view_drop(s, "srcv", err, sizeof err), OT_ENOTFOUND);
    /* the slot is free again: the next view takes it and starts at 0 */
    assert_int_equal(s_add(s, "other", "country", ""), slot);
    ot_store_seqs_get(s, &sq);
    assert_int_equal(sq.view_seq[slot], 0);
    assert_int_equal(s_check_diffs(s), 0);
    /* after a reopen too */
    ot_store_close(&s);
    s = s_open_in(NULL, false);
    assert_int_equal(ot_store_views(s, &vs), 0);
    assert_null(ot_viewset_find(vs, "srcv", NULL));
    assert_non_null(ot_viewset_find(vs, "other", NULL));
    ot_viewset_free(&vs);
    free(before.r);
    free(rbefore.r);
    s_close(&s);
}

static void
test_refused(void **state)
{
    (void)state;
    ot_store *s = s_open();
    Optally__OperationEvent evs[4];
    s_group_events(evs);
    s_ingest_evs(s, evs, 4, 1);
    s_add(s, "mine", "country", "");
    s_rows before;
    s_tallies(s, "", false, &before);
    ot_store_seqs sq0, sq1;
    ot_store_seqs_get(s, &sq0);
    static const char *const bad[][3] = {
        { "mine", "country", "" },                /* name taken */
        { "country", "country", "" },             /* a built-in name */
        { "a/b", "country", "" },                 /* '/' in the name */
        { "a b", "country", "" },
        { "x1", "colour", "" },                   /* unknown dimension */
        { "x2", "country", "colour=red" },        /* bad filter */
        { "x3", "country", "occurred_on>=yesterday" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        s_def sd;
        char err[256] = "";
        uint64_t filled = 5;
        s_mkdef(&sd, bad[i][0], bad[i][1], bad[i][2]);
        int rc = ot_store_view_add(s, &sd.d, NULL, NULL, &filled, err, sizeof err);
        if (rc != OT_EUSAGE)
            fail_msg("definition %zu: %s, want a usage error", i, ot_strerror(rc));
        assert_true(strlen(err) > 10);
        assert_int_equal(filled, 0);
    }
    s_rows after;
    s_tallies(s, "", false, &after);
    s_assert_rows_equal(&before, &after);
    assert_int_equal(before.n, after.n);
    ot_store_seqs_get(s, &sq1);
    assert_memory_equal(&sq0, &sq1, sizeof sq0);
    ot_viewset *vs;
    assert_int_equal(ot_store_views(s, &vs), 0);
    size_t views = 0;
    for (size_t i = 0; i < ot_viewset_count(vs); i++)
        views += ot_viewset_at(vs, i) != NULL;
    assert_int_equal(views, 6);
    ot_viewset_free(&vs);
    /* a readonly handle refuses, and sees what the writer adds */
    ot_store *ro;
    ot_store_options o = { .readonly = true };
    assert_int_equal(ot_store_open(s_dir, &o, &ro), 0);
    s_def sd;
    char err[256] = "";
    uint64_t filled;
    s_mkdef(&sd, "ro", "country", "");
    assert_int_equal(ot_store_view_add(ro, &sd.d, NULL, NULL, &filled, err, sizeof err), EROFS);
    assert_int_equal(ot_store_view_drop(ro, "mine", err, sizeof err), EROFS);
    s_add(s, "later", "source", "");
    assert_int_equal(ot_store_views(ro, &vs), 0);
    assert_non_null(ot_viewset_find(vs, "later", NULL));
    ot_viewset_free(&vs);
    s_rows got;
    s_tallies(ro, "later/", false, &got);
    /* no ranking here: the incident's first member (B's) counts, then p1 */
    assert_int_equal(got.n, 2);
    assert_int_equal(s_get(&got, "later/B")->killed, 3);
    assert_int_equal(s_get(&got, "later/A")->killed, 1);
    free(got.r);
    ot_store_close(&ro);
    free(before.r);
    free(after.r);
    s_close(&s);
}

static void
test_too_many(void **state)
{
    (void)state;
    ot_store *s = s_open();
    Optally__OperationEvent evs[4];
    s_group_events(evs);
    s_ingest_evs(s, evs, 3, 1);
    char name[32];
    for (size_t i = ot_view_count(); i < OT_STORE_MAX_VIEWS; i++) {
        snprintf(name, sizeof name, "v%zu", i);
        assert_int_equal(s_add(s, name, i % 2 ? "country" : "source;day", ""), i);
    }
    s_def sd;
    char err[256] = "";
    uint64_t filled;
    s_mkdef(&sd, "one_more", "country", "");
    assert_int_equal(ot_store_view_add(s, &sd.d, NULL, NULL, &filled, err, sizeof err), ENOSPC);
    assert_true(strlen(err) > 10);
    /* every slot folds live, the last one too */
    Optally__OperationEvent e;
    s_ev(&e, "p9", "Z", "YE", "", 4);
    s_ingest_evs(s, &e, 1, 2);
    ot_store_seqs sq;
    ot_store_seqs_get(s, &sq);
    assert_int_equal(sq.view_seq[OT_STORE_MAX_VIEWS - 1], 1);
    assert_int_equal(sq.view_seq[OT_STORE_MAX_VIEWS - 2], 1);
    assert_int_equal(ot_store_view_drop(s, "v10", err, sizeof err), 0);
    assert_int_equal(s_add(s, "one_more", "country", ""), 10);
    assert_int_equal(s_check_diffs(s), 0);
    s_close(&s);
}

/* ---- crash safety -------------------------------------------------------------- */

typedef struct s_state {
    s_rows obs, rep;
    ot_store_seqs seqs;
    size_t views;
} s_state;

static void
s_snap(ot_store *s, s_state *st)
{
    ot_viewset *vs;
    s_tallies(s, "", false, &st->obs);
    s_tallies(s, "", true, &st->rep);
    ot_store_seqs_get(s, &st->seqs);
    assert_int_equal(ot_store_views(s, &vs), 0);
    st->views = 0;
    for (size_t i = 0; i < ot_viewset_count(vs); i++)
        st->views += ot_viewset_at(vs, i) != NULL;
    ot_viewset_free(&vs);
}

static void
s_assert_same(ot_store *s, const s_state *want)
{
    s_state got;
    s_snap(s, &got);
    s_assert_rows_equal(&want->obs, &got.obs);
    s_assert_rows_equal(&want->rep, &got.rep);
    assert_memory_equal(&want->seqs, &got.seqs, sizeof got.seqs);
    assert_int_equal(want->views, got.views);
    free(got.obs.r);
    free(got.rep.r);
}

static void
test_add_fault(void **state)
{
    (void)state;
    ot_store *s = s_open_in("A,B", true);
    Optally__OperationEvent evs[4];
    s_group_events(evs);
    s_ingest_evs(s, evs, 4, 1);
    s_add(s, "gone", "country", "");
    s_state st0;
    s_snap(s, &st0);
    s_def sd;
    char err[256];
    uint64_t filled;
    int failures = 0;
    s_mkdef(&sd, "srcv", "source;country", "");
    for (int nth = 1;; nth++) {
        ot_store_fault(s, nth, EIO);
        int rc = ot_store_view_add(s, &sd.d, NULL, NULL, &filled, err, sizeof err);
        ot_store_fault(s, 0, 0);
        if (rc == 0)
            break;
        assert_int_equal(rc, EIO);
        assert_true(strlen(err) > 0);
        failures++;
        s_assert_same(s, &st0);
        /* and as another process would see it after a crash */
        ot_store_close(&s);
        s = s_open_in("A,B", false);
        s_assert_same(s, &st0);
        assert_true(nth < 200);
    }
    /* delete (2 + 2), put (3 observed + 2 reported), views, useq, commit */
    assert_true(failures >= 8);
    s_rows o;
    s_tallies(s, "srcv/", false, &o);
    assert_int_equal(o.n, 2);
    free(o.r);
    /* drop under faults: the view and its tallies stay until it commits */
    s_state st1;
    s_snap(s, &st1);
    failures = 0;
    for (int nth = 1;; nth++) {
        ot_store_fault(s, nth, ENOSPC);
        int rc = ot_store_view_drop(s, "srcv", err, sizeof err);
        ot_store_fault(s, 0, 0);
        if (rc == 0)
            break;
        assert_int_equal(rc, ENOSPC);
        failures++;
        s_assert_same(s, &st1);
        assert_true(nth < 200);
    }
    assert_true(failures >= 5);
    /* a full map: grown, and the add done */
    ot_store_fault(s, 3, MDB_MAP_FULL);
    size_t map0 = s->map_size;
    assert_int_equal(ot_store_view_add(s, &sd.d, NULL, NULL, &filled, err, sizeof err), 0);
    ot_store_fault(s, 0, 0);
    assert_true(s->map_size > map0);
    assert_int_equal(s_check_diffs(s), 0);
    free(st0.obs.r);
    free(st0.rep.r);
    free(st1.obs.r);
    free(st1.rep.r);
    s_close(&s);
}

/* ---- older meta "useq" ---------------------------------------------------------- */

static void
s_put_raw_useq(const void *val, size_t len)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_val k = { 4, "useq" }, v = { len, (void *)val };
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 16), 0);
    assert_int_equal(mdb_env_open(env, s_dir, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
    assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

static size_t
s_raw_useq_size(ot_store *s)
{
    MDB_txn *txn;
    MDB_val k = { 4, "useq" }, v;
    assert_int_equal(ot_store_int_read_begin(s, &txn), 0);
    assert_int_equal(mdb_get(txn, s->meta, &k, &v), 0);
    size_t n = v.mv_size;
    ot_store_int_read_end(s, txn);
    return n;
}

static void
test_old_useq(void **state)
{
    (void)state;
    ot_store *s = s_open();
    Optally__OperationEvent e;
    s_ev(&e, "p1", "A", "IQ", "", 1);
    s_ingest_evs(s, &e, 1, 1);
    assert_int_equal(s_raw_useq_size(s), sizeof(ot_store_seqs));
    ot_store_close(&s);
    for (int layout = 0; layout < 2; layout++) {
        uint64_t old[18];   /* seq, 16 view seqs, figure_seq */
        old[0] = 700;
        for (int i = 0; i < 16; i++)
            old[1 + i] = 100 + (uint64_t)i;
        old[17] = 9;
        size_t len = layout == 0 ? sizeof old : sizeof old - 8;
        s_put_raw_useq(old, len);
        s = s_open_in(NULL, false);
        ot_store_seqs sq;
        ot_store_seqs_get(s, &sq);
        assert_int_equal(sq.seq, 700);
        for (int i = 0; i < 16; i++)
            assert_int_equal(sq.view_seq[i], 100 + (uint64_t)i);
        for (int i = 16; i < OT_STORE_MAX_VIEWS; i++)
            assert_int_equal(sq.view_seq[i], 0);
        assert_int_equal(sq.figure_seq, layout == 0 ? 9 : 0);
        /* the same through a reader */
        ot_store_seqs rs;
        s_rows got;
        memset(&got, 0, sizeof got);
        ot_store *ro;
        ot_store_options o = { .readonly = true };
        assert_int_equal(ot_store_open(s_dir, &o, &ro), 0);
        assert_int_equal(ot_store_tally_snapshot(ro, "total", s_collect, &got, &rs), 0);
        assert_memory_equal(&rs, &sq, sizeof rs);
        free(got.r);
        ot_store_close(&ro);
        /* the next commit writes the current layout, numbering on */
        s_ev(&e, "p1", "A", "IQ", "", 1);
        e.revision = 2 + (uint32_t)layout;
        e.killed = 2 + (uint32_t)layout;
        s_ingest_evs(s, &e, 1, 2);
        ot_store_seqs_get(s, &sq);
        assert_int_equal(sq.view_seq[0], 101);   /* "total" changed once */
        assert_int_equal(sq.figure_seq, layout == 0 ? 9 : 0);
        assert_int_equal(s_raw_useq_size(s), sizeof(ot_store_seqs));
        ot_store_close(&s);
    }
    /* a value of no layout is corruption, not a guess */
    uint64_t junk[3] = { 1, 2, 3 };
    s_put_raw_useq(junk, sizeof junk);
    ot_store_options o = { .nosync = true };
    assert_int_equal(ot_store_open(s_dir, &o, &s), OT_ECORRUPT);
    ot_store_seqs p;
    assert_int_equal(ot_store_int_parse_seqs(junk, sizeof junk, &p), OT_ECORRUPT);
    s_put_raw_useq(junk, 0);
    assert_int_equal(ot_store_open(s_dir, &o, &s), OT_ECORRUPT);
    s = NULL;
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", s_dir);
    assert_int_equal(system(cmd), 0);
}

/* ---- status and the snapshot's log seq --------------------------------------------- */

static void
test_status(void **state)
{
    (void)state;
    ot_store *s = s_open_in("A,B", true);
    ot_store_status st;
    assert_int_equal(ot_store_status_get(s, &st), 0);
    assert_int_equal(st.log_seq, 0);
    assert_int_equal(st.last_received_at, 0);
    assert_int_equal(st.views, 5);
    Optally__OperationEvent evs[4];
    s_group_events(evs);
    s_ingest_evs(s, evs, 2, 1000);
    s_ingest_evs(s, evs + 2, 2, 1700000000123LL);
    Optally__OperationEvent dup = evs[0];
    ot_ingest_item it = { .event = &dup };
    ot_ingest_group g = { .producer = (const uint8_t *)"t", .producer_len = 1,
                          .received_at = 5, .items = &it, .n = 1 };
    assert_int_equal(ot_store_ingest(s, &g, 1), 0);   /* a duplicate: no log record */
    s_add(s, "srcv", "source;country", "");
    assert_int_equal(ot_store_status_get(s, &st), 0);
    assert_int_equal(st.log_seq, 4);
    assert_int_equal(st.last_received_at, 1700000000123LL);
    assert_int_equal(st.stats.stored, 4);
    assert_int_equal(st.stats.duplicate, 1);
    assert_int_equal(st.stats.log_entries, 4);
    assert_int_equal(st.aggregates, 1);
    assert_int_equal(st.incidents, 1);
    assert_int_equal(st.figures, 0);
    assert_int_equal(st.views, 6);
    assert_true(st.file_bytes > 0);
    ot_store_seqs sq;
    ot_store_seqs_get(s, &sq);
    assert_memory_equal(&st.seqs, &sq, sizeof sq);
    /* the snapshot is as of the log seq of its own transaction */
    s_rows got;
    uint64_t log_seq = 77;
    ot_store_seqs ss;
    memset(&got, 0, sizeof got);
    assert_int_equal(ot_store_tally_snapshot_at(s, "total", s_collect, &got, &ss, &log_seq), 0);
    assert_int_equal(log_seq, 4);
    assert_memory_equal(&ss, &sq, sizeof ss);
    assert_int_equal(got.n, 1);
    assert_int_equal(got.r[0].c.killed, 5 + 1);   /* the incident once (A's 5) and p1 */
    free(got.r);
    /* a reader's status, after one more commit */
    ot_store *ro;
    ot_store_options o = { .readonly = true };
    assert_int_equal(ot_store_open(s_dir, &o, &ro), 0);
    Optally__OperationEvent e;
    s_ev(&e, "p5", "A", "IQ", "", 1);
    s_ingest_evs(s, &e, 1, 2000);
    assert_int_equal(ot_store_status_get(ro, &st), 0);
    assert_int_equal(st.log_seq, 5);
    assert_int_equal(st.last_received_at, 2000);
    assert_int_equal(st.views, 6);
    /* a reader has no id index: the distinct ids come from the STORED count */
    assert_int_equal(st.stats.distinct_ids, 5);
    memset(&got, 0, sizeof got);
    assert_int_equal(ot_store_tally_snapshot_at(ro, "srcv/", s_collect, &got, NULL, &log_seq), 0);
    assert_int_equal(log_seq, 5);
    assert_int_equal(s_get(&got, "srcv/A/IQ")->killed, 2);
    free(got.r);
    ot_store_close(&ro);
    s_close(&s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fill_and_live),
        cmocka_unit_test(test_rebuild_declared),
        cmocka_unit_test(test_groups_in_declared_view),
        cmocka_unit_test(test_stale_keys),
        cmocka_unit_test(test_changes_and_drop),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_too_many),
        cmocka_unit_test(test_add_fault),
        cmocka_unit_test(test_old_useq),
        cmocka_unit_test(test_status),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
