/*
 * test_store: the exactly-once fold against a simple in-memory model.
 *  - random sequences of new events, duplicates, revisions, retractions,
 *    stale revisions and conflicts: every status and every tally equals the
 *    model's, also after reopening the store (id index rebuilt from the log);
 *  - an ingest that fails at any write step (injected) leaves nothing: no
 *    log entry, no tally change, no id in the index, no counter change;
 *  - a tiny map grows and the write goes through;
 *  - a second writer on the same directory is refused.
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
#include <unistd.h>

#include "ot_error.h"
#include "ot_store.h"
#include "ot_view.h"

#define NIDS 300

typedef struct m_event {
    bool present;
    char id[32];
    uint32_t rev;
    bool retracted;
    char country[3];
    char date[16];
    char pf[8];
    uint32_t ops, killed, detained, wounded;
} m_event;

typedef struct m_model {
    m_event cur[NIDS];
} m_model;

static const char *const s_cc[] = { "IQ", "SY", "AF", "YE" };
static const char *const s_pf[] = { "ISF", "SDF", "" };

static char s_dir[128];

static void
s_tmpdir(void)
{
    snprintf(s_dir, sizeof s_dir, "/tmp/ot-test-store.XXXXXX");
    assert_non_null(mkdtemp(s_dir));
}

static void
s_rmdir(void)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s_dir);
    assert_int_equal(system(cmd), 0);
}

static void
s_to_pb(const m_event *m, Optally__OperationEvent *ev)
{
    optally__operation_event__init(ev);
    ev->event_id = (char *)m->id;
    ev->revision = m->rev;
    ev->retracted = m->retracted;
    ev->source = "TEST";
    ev->occurred_on = (char *)m->date;
    ev->country = (char *)m->country;
    ev->partner_force = (char *)m->pf;
    ev->operations = m->ops;
    ev->killed = m->killed;
    ev->detained = m->detained;
    ev->wounded = m->wounded;
}

static void
s_random_content(m_event *e, int idn, uint32_t rev)
{
    memset(e, 0, sizeof *e);
    e->present = true;
    snprintf(e->id, sizeof e->id, "evt-%d", idn);
    e->rev = rev;
    e->retracted = rev > 0 && rand() % 5 == 0;
    snprintf(e->country, sizeof e->country, "%s", s_cc[rand() % 4]);
    snprintf(e->date, sizeof e->date, "2024-%02d-%02d", 1 + rand() % 12, 1 + rand() % 28);
    snprintf(e->pf, sizeof e->pf, "%s", s_pf[rand() % 3]);
    e->ops = 1 + rand() % 3;
    e->killed = rand() % 4;
    e->detained = rand() % 6;
    e->wounded = rand() % 2;
}

/* Make one random event and the status the model expects for it. */
static Optally__IngestStatus
s_next_event(m_model *mo, m_event *out)
{
    int idn = rand() % NIDS;
    m_event *cur = &mo->cur[idn];
    if (!cur->present) {
        s_random_content(out, idn, 0);
        *cur = *out;
        return OPTALLY__INGEST_STATUS__STORED;
    }
    int r = rand() % 10;
    if (r < 3) {                      /* exact re-send */
        *out = *cur;
        return OPTALLY__INGEST_STATUS__DUPLICATE;
    }
    if (r < 7) {                      /* correction or retraction */
        s_random_content(out, idn, cur->rev + 1 + (uint32_t)(rand() % 2));
        *cur = *out;
        return OPTALLY__INGEST_STATUS__SUPERSEDED;
    }
    if (r < 9 && cur->rev > 0) {      /* an older revision arriving late */
        s_random_content(out, idn, cur->rev - 1);
        return OPTALLY__INGEST_STATUS__STALE;
    }
    *out = *cur;                      /* same revision, other content */
    out->killed += 1;
    return OPTALLY__INGEST_STATUS__REJECTED;
}

/* Expected tallies: the model folded the simple way, one event at a time. */
typedef struct m_tally {
    char key[OT_VIEW_KEY_MAX];
    ot_counts c;
} m_tally;

typedef struct m_tallies {
    m_tally *t;
    size_t n;
} m_tallies;

static m_tally *
s_find(m_tallies *ts, const char *key)
{
    for (size_t i = 0; i < ts->n; i++)
        if (!strcmp(ts->t[i].key, key))
            return &ts->t[i];
    return NULL;
}

static void
s_expected(const m_model *mo, m_tallies *ts)
{
    ts->t = calloc(NIDS * 8, sizeof *ts->t);
    ts->n = 0;
    for (int i = 0; i < NIDS; i++) {
        if (!mo->cur[i].present || mo->cur[i].retracted)
            continue;
        Optally__OperationEvent ev;
        s_to_pb(&mo->cur[i], &ev);
        ot_counts c;
        ot_counts_of(&ev, &c);
        for (size_t v = 0; v < ot_view_count(); v++) {
            char key[OT_VIEW_KEY_MAX];
            size_t len;
            assert_int_equal(ot_view_key(ot_view_at(v), &ev, key, sizeof key, &len), 0);
            m_tally *t = s_find(ts, key);
            if (!t) {
                t = &ts->t[ts->n++];
                snprintf(t->key, sizeof t->key, "%s", key);
            }
            ot_counts_add(&t->c, &c, +1);
        }
    }
}

typedef struct s_walk {
    m_tallies *exp;
    size_t seen;
} s_walk;

static int
s_check_row(void *ctx, const char *key, size_t len, const ot_counts *c)
{
    s_walk *w = ctx;
    char k[OT_VIEW_KEY_MAX];
    assert_true(len < sizeof k);
    memcpy(k, key, len);
    k[len] = 0;
    m_tally *t = s_find(w->exp, k);
    if (!t)
        fail_msg("store has tally %s that the model does not", k);
    if (memcmp(&t->c, c, sizeof *c) != 0)
        fail_msg("tally %s: store events=%lld killed=%lld, model events=%lld killed=%lld", k,
                 (long long)c->events, (long long)c->killed, (long long)t->c.events,
                 (long long)t->c.killed);
    w->seen++;
    return 0;
}

static void
s_assert_tallies(ot_store *s, const m_model *mo)
{
    m_tallies exp;
    s_expected(mo, &exp);
    s_walk w = { &exp, 0 };
    assert_int_equal(ot_store_tally_foreach(s, "", s_check_row, &w), 0);
    assert_int_equal(w.seen, exp.n);  /* no model tally missing from the store */
    free(exp.t);
}

/* Ingest n events as one group; check every status against the model. */
static void
s_ingest_checked(ot_store *s, m_model *mo, size_t n)
{
    m_event *evs = calloc(n, sizeof *evs);
    Optally__OperationEvent *pbs = calloc(n, sizeof *pbs);
    ot_ingest_item *items = calloc(n, sizeof *items);
    Optally__IngestStatus *want = calloc(n, sizeof *want);
    for (size_t i = 0; i < n; i++) {
        want[i] = s_next_event(mo, &evs[i]);
        s_to_pb(&evs[i], &pbs[i]);
        items[i].event = &pbs[i];
    }
    ot_ingest_group g = { .producer = (const uint8_t *)"t", .producer_len = 1,
                          .received_at = 1, .items = items, .n = n };
    assert_int_equal(ot_store_ingest(s, &g, 1), 0);
    for (size_t i = 0; i < n; i++) {
        if (items[i].status != want[i])
            fail_msg("event %zu (%s rev %u): status %d, model says %d", i, evs[i].id,
                     evs[i].rev, items[i].status, want[i]);
        if (want[i] == OPTALLY__INGEST_STATUS__REJECTED)
            assert_int_equal(items[i].reject.reason, OPTALLY__REJECT_REASON__CONFLICT);
    }
    free(evs);
    free(pbs);
    free(items);
    free(want);
}

static void
t_random_fold_matches_model(void **state)
{
    (void)state;
    s_tmpdir();
    srand(12345);
    m_model *mo = calloc(1, sizeof *mo);
    ot_store *s;
    ot_store_options o = { .nosync = true };
    assert_int_equal(ot_store_open(s_dir, &o, &s), 0);
    for (int round = 0; round < 40; round++) {
        s_ingest_checked(s, mo, 1 + (size_t)(rand() % 200));
        if (round % 10 == 9) {
            s_assert_tallies(s, mo);
            /* Reopen: the id index is rebuilt from the log and must give
             * the same answers as before. */
            ot_store_close(&s);
            assert_null(s);
            assert_int_equal(ot_store_open(s_dir, &o, &s), 0);
        }
    }
    s_assert_tallies(s, mo);
    ot_store_stats st;
    assert_int_equal(ot_store_stats_get(s, &st), 0);
    assert_int_equal(st.log_entries, st.stored + st.superseded);
    size_t distinct = 0;
    for (int i = 0; i < NIDS; i++)
        distinct += mo->cur[i].present;
    assert_int_equal(st.distinct_ids, distinct);
    ot_store_close(&s);
    free(mo);
    s_rmdir();
}

/* A failing write step at any point of an ingest changes nothing. */
static void
t_failed_ingest_leaves_nothing(void **state)
{
    (void)state;
    s_tmpdir();
    srand(777);
    m_model *mo = calloc(1, sizeof *mo);
    ot_store *s;
    ot_store_options o = { .nosync = true };
    assert_int_equal(ot_store_open(s_dir, &o, &s), 0);
    s_ingest_checked(s, mo, 100);
    ot_store_stats before;
    assert_int_equal(ot_store_stats_get(s, &before), 0);

    static const int errs[] = { ENOSPC, EIO, ENOMEM };
    for (int step = 1; step < 60; step += 3) {
        m_model saved = *mo;
        m_event evs[20];
        Optally__OperationEvent pbs[20];
        ot_ingest_item items[20];
        memset(items, 0, sizeof items);
        for (int i = 0; i < 20; i++) {
            s_next_event(mo, &evs[i]);
            s_to_pb(&evs[i], &pbs[i]);
            items[i].event = &pbs[i];
        }
        ot_ingest_group g = { .received_at = 1, .items = items, .n = 20 };
        ot_store_fault(s, step, errs[step % 3]);
        int rc = ot_store_ingest(s, &g, 1);
        ot_store_fault(s, 0, 0);
        if (rc == 0) {
            continue;   /* fewer write steps than `step`: nothing failed */
        }
        assert_int_equal(rc, errs[step % 3]);
        *mo = saved;    /* the store must be exactly as before */
        ot_store_stats after;
        assert_int_equal(ot_store_stats_get(s, &after), 0);
        assert_int_equal(after.log_entries, before.log_entries);
        assert_int_equal(after.stored, before.stored);
        assert_int_equal(after.distinct_ids, before.distinct_ids);
        assert_int_equal(after.rejects, before.rejects);
        s_assert_tallies(s, mo);
    }
    /* And the same store still folds correctly afterwards. */
    s_ingest_checked(s, mo, 200);
    s_assert_tallies(s, mo);
    ot_store_close(&s);
    free(mo);
    s_rmdir();
}

static void
t_map_grows(void **state)
{
    (void)state;
    s_tmpdir();
    srand(99);
    m_model *mo = calloc(1, sizeof *mo);
    ot_store *s;
    ot_store_options o = { .nosync = true, .map_size = 64 * 1024 };
    assert_int_equal(ot_store_open(s_dir, &o, &s), 0);
    ot_store_stats st;
    assert_int_equal(ot_store_stats_get(s, &st), 0);
    uint64_t first = st.map_size;
    for (int i = 0; i < 20; i++)
        s_ingest_checked(s, mo, 500);
    assert_int_equal(ot_store_stats_get(s, &st), 0);
    assert_true(st.map_size > first);
    s_assert_tallies(s, mo);
    ot_store_close(&s);
    free(mo);
    s_rmdir();
}

static void
t_one_writer_per_dir(void **state)
{
    (void)state;
    s_tmpdir();
    ot_store *a, *b = NULL, *r = NULL;
    ot_store_options o = { .nosync = true }, ro = { .readonly = true };
    assert_int_equal(ot_store_open(s_dir, &o, &a), 0);
    assert_int_equal(ot_store_open(s_dir, &o, &b), OT_ELOCKED);
    assert_null(b);
    assert_int_equal(ot_store_open(s_dir, &ro, &r), 0);   /* readers are welcome */
    ot_store_close(&r);
    ot_store_close(&a);
    assert_int_equal(ot_store_open(s_dir, &o, &b), 0);    /* released on close */
    ot_store_close(&b);
    ot_store_close(&b);   /* safe twice */
    s_rmdir();
}

static void
t_readonly_missing_store(void **state)
{
    (void)state;
    ot_store *r = NULL;
    ot_store_options ro = { .readonly = true };
    assert_int_equal(ot_store_open("/tmp/ot-test-no-such-store", &ro, &r), OT_ENOTFOUND);
    assert_null(r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_random_fold_matches_model),
        cmocka_unit_test(t_failed_ingest_leaves_nothing),
        cmocka_unit_test(t_map_grows),
        cmocka_unit_test(t_one_writer_per_dir),
        cmocka_unit_test(t_readonly_missing_store),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
