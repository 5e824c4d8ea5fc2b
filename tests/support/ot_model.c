/* ot_model: the fold model shared by test_store and test_rebuild (see ot_model.h). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "ot_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ot_view.h"

static const char *const s_cc[] = { "IQ", "SY", "AF", "YE" };
static const char *const s_pf[] = { "ISF", "SDF", "", "a/b%c" };   /* escaped in keys */

void
ot_model_init(ot_model *mo, int nids, const char *prefix)
{
    assert_true(nids > 0 && nids <= OT_MODEL_NIDS_MAX);
    memset(mo, 0, sizeof *mo);
    mo->nids = nids;
    snprintf(mo->prefix, sizeof mo->prefix, "%s", prefix);
}

void
ot_model_to_pb(const m_event *m, Optally__OperationEvent *ev)
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
s_random_content(const ot_model *mo, m_event *e, int idn, uint32_t rev)
{
    memset(e, 0, sizeof *e);
    e->present = true;
    snprintf(e->id, sizeof e->id, "%s-%d", mo->prefix, idn);
    e->rev = rev;
    e->retracted = rev > 0 && rand() % 5 == 0;
    snprintf(e->country, sizeof e->country, "%s", s_cc[rand() % 4]);
    snprintf(e->date, sizeof e->date, "20%02d-%02d-%02d", 20 + rand() % 5, 1 + rand() % 12,
             1 + rand() % 28);
    snprintf(e->pf, sizeof e->pf, "%s", s_pf[rand() % 4]);
    e->ops = 1 + (uint32_t)(rand() % 3);
    e->killed = (uint32_t)(rand() % 4);
    e->detained = (uint32_t)(rand() % 6);
    e->wounded = (uint32_t)(rand() % 2);
}

Optally__IngestStatus
ot_model_next(ot_model *mo, m_event *out)
{
    int idn = rand() % mo->nids;
    m_event *cur = &mo->cur[idn];
    if (!cur->present) {
        s_random_content(mo, out, idn, 0);
        *cur = *out;
        return OPTALLY__INGEST_STATUS__STORED;
    }
    int r = rand() % 10;
    if (r < 3) {                      /* exact re-send */
        *out = *cur;
        return OPTALLY__INGEST_STATUS__DUPLICATE;
    }
    if (r < 7) {                      /* correction or retraction */
        s_random_content(mo, out, idn, cur->rev + 1 + (uint32_t)(rand() % 2));
        *cur = *out;
        return OPTALLY__INGEST_STATUS__SUPERSEDED;
    }
    if (r < 9 && cur->rev > 0) {      /* an older revision arriving late */
        s_random_content(mo, out, idn, cur->rev - 1);
        return OPTALLY__INGEST_STATUS__STALE;
    }
    *out = *cur;                      /* same revision, other content */
    out->killed += 1;
    return OPTALLY__INGEST_STATUS__REJECTED;
}

void
ot_model_ingest(ot_store *s, ot_model *mo, size_t n)
{
    m_event *evs = calloc(n, sizeof *evs);
    Optally__OperationEvent *pbs = calloc(n, sizeof *pbs);
    ot_ingest_item *items = calloc(n, sizeof *items);
    Optally__IngestStatus *want = calloc(n, sizeof *want);
    assert_true(evs && pbs && items && want);
    for (size_t i = 0; i < n; i++) {
        want[i] = ot_model_next(mo, &evs[i]);
        ot_model_to_pb(&evs[i], &pbs[i]);
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

/* ---- expected tallies ------------------------------------------------- */

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
s_expected(const ot_model *mo, m_tallies *ts)
{
    ts->t = calloc((size_t)mo->nids * ot_view_count() + 1, sizeof *ts->t);
    assert_non_null(ts->t);
    ts->n = 0;
    for (int i = 0; i < mo->nids; i++) {
        if (!mo->cur[i].present || mo->cur[i].retracted)
            continue;
        Optally__OperationEvent ev;
        ot_model_to_pb(&mo->cur[i], &ev);
        /* The simple way, independent of the store's accumulator. */
        ot_counts c = { 1, ev.operations, ev.killed, ev.detained, ev.wounded,
                         ev.killed_low ? ev.killed_low : ev.killed,
                         ev.killed_high ? ev.killed_high : ev.killed };
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

void
ot_model_assert_tallies(ot_store *s, const ot_model *mo)
{
    m_tallies exp;
    s_expected(mo, &exp);
    s_walk w = { &exp, 0 };
    assert_int_equal(ot_store_tally_foreach(s, "", s_check_row, &w), 0);
    assert_int_equal(w.seen, exp.n);  /* no model tally missing from the store */
    free(exp.t);
}
