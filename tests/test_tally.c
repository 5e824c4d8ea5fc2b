/*
 * test_tally: store/ot_tally, the per-transaction tally accumulator.
 *  - events are summed per key in every view (checked against sums made
 *    here with ot_view_key), keys kept in order of first touch;
 *  - +1 and -1 of the same event cancel to an all-zero delta; a retraction
 *    contributes nothing; reset forgets everything;
 *  - the one contribution function: an event added from its decoded message
 *    (ot_tally_acc_event) and from its wire bytes (ot_event_view_parse +
 *    ot_tally_acc_view, as rebuild and the live fold's stored side do) gives
 *    the same keys and deltas, for every view;
 *  - a view whose key fields validation would refuse is OT_ECORRUPT and
 *    adds nothing;
 *  - over a view set (ot_tally_acc_set_views): declared views get their
 *    keys (a view whose filter leaves the event out gets none), each key
 *    tagged with its view's slot; a slot mask restricts the accumulator to
 *    the selected views (what a view's fill uses), built-in ones too;
 *    add_key finds a key's slot by its view name;
 *  - allocation failure (linked with --wrap=malloc,calloc,realloc, see
 *    tests/cmake/h2.cmake): ENOMEM from new and from a growing accumulator,
 *    which works again after a reset.
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
#include "ot_event.h"
#include "ot_tally.h"
#include "ot_view.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);

static long s_countdown;    /* > 0: the allocation that brings it to 0 fails */

static bool
s_fail_now(void)
{
    return s_countdown > 0 && --s_countdown == 0;
}

void *
__wrap_malloc(size_t n)
{
    return s_fail_now() ? NULL : __real_malloc(n);
}

void *
__wrap_calloc(size_t n, size_t m)
{
    return s_fail_now() ? NULL : __real_calloc(n, m);
}

void *
__wrap_realloc(void *p, size_t n)
{
    return s_fail_now() ? NULL : __real_realloc(p, n);
}

static const char *const s_cc[] = { "IQ", "SY", "AF" };
static const char *const s_pf[] = { "ISF", "", "a/b%c", "SDF" };

typedef struct s_ev {
    char id[24], date[16];
    Optally__OperationEvent pb;
} s_ev;

static void
s_make(s_ev *e, int i)
{
    i = i < 0 ? -i : i;
    snprintf(e->id, sizeof e->id, "t-%d", i);
    snprintf(e->date, sizeof e->date, "202%d-%02d-%02d", i % 4, 1 + i % 12, 1 + i % 28);
    optally__operation_event__init(&e->pb);
    e->pb.event_id = e->id;
    e->pb.source = "TEST";
    e->pb.occurred_on = e->date;
    e->pb.country = (char *)s_cc[i % 3];
    e->pb.partner_force = (char *)s_pf[i % 4];
    e->pb.operations = 1 + (uint32_t)(i % 3);
    e->pb.killed = (uint32_t)(i % 5);
    e->pb.detained = (uint32_t)(i % 7);
    e->pb.wounded = (uint32_t)(i % 2);
}

/* The delta of key in a, or NULL when a never touched it. */
static const ot_counts *
s_delta(const ot_tally_acc *a, const char *key)
{
    for (size_t i = 0; i < ot_tally_acc_count(a); i++) {
        const char *k;
        size_t len;
        const ot_counts *d;
        ot_tally_acc_at(a, i, &k, &len, &d);
        if (len == strlen(key) && memcmp(k, key, len) == 0)
            return d;
    }
    return NULL;
}

static void
t_sums_per_key(void **state)
{
    (void)state;
    enum { N = 300 };
    ot_tally_acc *a;
    assert_int_equal(ot_tally_acc_new(&a), 0);
    s_ev *evs = calloc(N, sizeof *evs);
    assert_non_null(evs);
    for (int i = 0; i < N; i++) {
        s_make(&evs[i], i);
        assert_int_equal(ot_tally_acc_event(a, &evs[i].pb, +1), 0);
    }
    /* every key of every event holds the sum of the events sharing it */
    size_t keys = 0;
    for (int i = 0; i < N; i++) {
        for (size_t v = 0; v < ot_view_count(); v++) {
            char key[OT_VIEW_KEY_MAX], other[OT_VIEW_KEY_MAX];
            size_t len, olen;
            assert_int_equal(ot_view_key(ot_view_at(v), &evs[i].pb, key, sizeof key, &len), 0);
            ot_counts want = { 0 };
            bool first = true;
            for (int j = 0; j < N; j++) {
                assert_int_equal(ot_view_key(ot_view_at(v), &evs[j].pb, other, sizeof other,
                                             &olen), 0);
                if (olen != len || memcmp(key, other, len) != 0)
                    continue;
                first = first && j >= i;
                ot_counts c;
                ot_counts_of(&evs[j].pb, &c);
                ot_counts_add(&want, &c, +1);
            }
            keys += first;
            const ot_counts *got = s_delta(a, key);
            assert_non_null(got);
            assert_memory_equal(got, &want, sizeof want);
        }
    }
    assert_int_equal(ot_tally_acc_count(a), keys);   /* no other key */
    /* the "total" view has one key holding everything */
    const ot_counts *total = s_delta(a, "total");
    assert_non_null(total);
    assert_int_equal(total->events, N);

    /* -1 of every event cancels: every key is left, all zero */
    for (int i = 0; i < N; i++)
        assert_int_equal(ot_tally_acc_event(a, &evs[i].pb, -1), 0);
    assert_int_equal(ot_tally_acc_count(a), keys);
    for (size_t i = 0; i < ot_tally_acc_count(a); i++) {
        const char *k;
        size_t len;
        const ot_counts *d;
        ot_tally_acc_at(a, i, &k, &len, &d);
        assert_true(ot_counts_zero(d));
    }
    /* reset forgets; a retraction adds nothing */
    ot_tally_acc_reset(a);
    assert_int_equal(ot_tally_acc_count(a), 0);
    evs[0].pb.retracted = true;
    assert_int_equal(ot_tally_acc_event(a, &evs[0].pb, +1), 0);
    assert_int_equal(ot_tally_acc_count(a), 0);
    free(evs);
    ot_tally_acc_free(&a);
    assert_null(a);
    ot_tally_acc_free(&a);   /* safe twice */
}

/* Decoded message and wire bytes give the same contribution. */
static void
t_view_and_message_agree(void **state)
{
    (void)state;
    enum { N = 200 };
    ot_tally_acc *am, *aw;
    assert_int_equal(ot_tally_acc_new(&am), 0);
    assert_int_equal(ot_tally_acc_new(&aw), 0);
    for (int i = 0; i < N; i++) {
        s_ev e;
        s_make(&e, i);
        e.pb.notes = "a note";
        e.pb.admin1 = "Anbar";
        e.pb.reported_at = 1700000000000 + i;
        e.pb.retracted = i % 11 == 0;
        uint8_t buf[1024];
        size_t len = optally__operation_event__pack(&e.pb, buf);
        assert_true(len < sizeof buf);
        ot_event_view v;
        assert_int_equal(ot_event_view_parse(buf, len, &v), 0);
        assert_int_equal(ot_tally_acc_event(am, &e.pb, i % 3 ? +1 : -1), 0);
        assert_int_equal(ot_tally_acc_view(aw, &v, i % 3 ? +1 : -1), 0);
    }
    assert_int_equal(ot_tally_acc_count(am), ot_tally_acc_count(aw));
    for (size_t i = 0; i < ot_tally_acc_count(am); i++) {
        const char *km, *kw;
        size_t lm, lw;
        const ot_counts *dm, *dw;
        ot_tally_acc_at(am, i, &km, &lm, &dm);
        ot_tally_acc_at(aw, i, &kw, &lw, &dw);
        assert_int_equal(lm, lw);
        assert_memory_equal(km, kw, lm);
        assert_memory_equal(dm, dw, sizeof *dm);
    }
    ot_tally_acc_free(&am);
    ot_tally_acc_free(&aw);
}

static void
t_bad_key_fields_are_corrupt(void **state)
{
    (void)state;
    ot_tally_acc *a;
    assert_int_equal(ot_tally_acc_new(&a), 0);
    s_ev e;
    s_make(&e, 1);
    ot_event_view v;
    ot_event_view_of(&e.pb, &v);
    ot_event_view bad = v;
    bad.len[OT_F_EVENT_OCCURRED_ON] = 9;                 /* not YYYY-MM-DD */
    assert_int_equal(ot_tally_acc_view(a, &bad, +1), OT_ECORRUPT);
    bad = v;
    bad.str[OT_F_EVENT_COUNTRY] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    bad.len[OT_F_EVENT_COUNTRY] = 26;                    /* over any country */
    assert_int_equal(ot_tally_acc_view(a, &bad, +1), OT_ECORRUPT);
    char pf[OT_EVENT_PARTNER_FORCE_MAX + 2];
    memset(pf, 'p', sizeof pf);
    bad = v;
    bad.str[OT_F_EVENT_PARTNER_FORCE] = pf;
    bad.len[OT_F_EVENT_PARTNER_FORCE] = sizeof pf;
    assert_int_equal(ot_tally_acc_view(a, &bad, +1), OT_ECORRUPT);
    assert_int_equal(ot_tally_acc_count(a), 0);
    assert_int_equal(ot_tally_acc_view(a, &v, +1), 0);   /* the good one still goes in */
    assert_int_equal(ot_tally_acc_count(a), ot_view_count());
    ot_tally_acc_free(&a);
}

static void
t_out_of_memory(void **state)
{
    (void)state;
    ot_tally_acc *a = NULL;
    for (long n = 1; n <= 2; n++) {         /* the struct, then its slot table */
        s_countdown = n;
        assert_int_equal(ot_tally_acc_new(&a), ENOMEM);
        s_countdown = 0;
    }
    /* Fail the nth allocation while keys pile up (entries, key bytes, and
     * the slot table as they grow: far more than 12 growths for 10,000
     * keys): each n meets ENOMEM, and after a reset the accumulator works
     * again. */
    for (long n = 1; n <= 12; n++) {
        assert_int_equal(ot_tally_acc_new(&a), 0);
        s_countdown = n;
        int rc = 0;
        for (int i = 0; i < 2000 && rc == 0; i++) {
            s_ev e;
            s_make(&e, i);
            snprintf(e.date, sizeof e.date, "20%02d-%02d-01", 10 + i % 15, 1 + i % 12);
            e.pb.partner_force = e.id;      /* a new key per event */
            rc = ot_tally_acc_event(a, &e.pb, +1);
        }
        assert_int_equal(s_countdown, 0);
        assert_int_equal(rc, ENOMEM);
        ot_tally_acc_reset(a);
        s_ev ok;
        s_make(&ok, 3);
        assert_int_equal(ot_tally_acc_event(a, &ok.pb, +1), 0);
        assert_int_equal(ot_tally_acc_count(a), ot_view_count());
        ot_tally_acc_free(&a);
    }
    assert_int_equal(ot_tally_acc_new(&a), 0);
    s_ev e;
    s_make(&e, 7);
    assert_int_equal(ot_tally_acc_event(a, &e.pb, +1), 0);
    assert_int_equal(ot_tally_acc_count(a), ot_view_count());
    ot_tally_acc_free(&a);
}


/* A declared view: name, dimensions and filters (';'-separated) added to vs. */
static size_t
s_declare(ot_viewset *vs, const char *name, char **by, size_t nby, char **where, size_t nwhere)
{
    Optally__ViewDef d = OPTALLY__VIEW_DEF__INIT;
    char err[256];
    size_t slot;
    d.name = (char *)name;
    d.group_by = by;
    d.n_group_by = nby;
    d.where = where;
    d.n_where = nwhere;
    if (ot_viewset_add(vs, &d, &slot, err, sizeof err) != 0)
        fail_msg("declare %s: %s", name, err);
    return slot;
}

static void
t_view_set(void **state)
{
    (void)state;
    ot_viewset *vs;
    assert_int_equal(ot_viewset_new(&vs), 0);
    char *by1[] = { "partner_force", "year" }, *w1[] = { "country=IQ|SY" };
    char *by2[] = { "day" };
    size_t s1 = s_declare(vs, "pfy", by1, 2, w1, 1);
    size_t s2 = s_declare(vs, "days", by2, 1, NULL, 0);
    assert_int_equal(s1, ot_view_count());
    assert_int_equal(s2, s1 + 1);
    ot_tally_acc *a;
    assert_int_equal(ot_tally_acc_new(&a), 0);
    assert_null(ot_tally_acc_views(a, NULL));
    ot_tally_acc_set_views(a, vs, OT_TALLY_ALL_SLOTS);
    assert_ptr_equal(ot_tally_acc_views(a, NULL), vs);
    assert_int_equal(ot_tally_acc_nslots(a), s2 + 1);
    assert_null(ot_tally_acc_view_at(a, s2 + 1));
    assert_string_equal(ot_tally_acc_view_at(a, s1)->name, "pfy");
    s_ev iq, af;
    s_make(&iq, 6);     /* IQ, 2022-07-07, pf "a/b%c" */
    s_make(&af, 2);     /* AF: left out of "pfy" */
    assert_int_equal(ot_tally_acc_event(a, &iq.pb, +1), 0);
    assert_int_equal(ot_tally_acc_event(a, &af.pb, +1), 0);
    const ot_counts *d = s_delta(a, "pfy/a%2Fb%25c/2022");
    assert_non_null(d);
    assert_int_equal(d->killed, iq.pb.killed);
    assert_int_equal(d->events, 1);
    assert_non_null(s_delta(a, "days/2022-07-07"));
    assert_non_null(s_delta(a, "days/2022-03-03"));
    /* the built-in keys of both ("total" shared), one "pfy" key, two "days" keys */
    assert_int_equal(ot_tally_acc_count(a), 2 * ot_view_count() - 1 + 1 + 2);
    for (size_t i = 0; i < ot_tally_acc_count(a); i++) {
        const char *k;
        size_t len;
        const ot_counts *dd;
        ot_tally_acc_at(a, i, &k, &len, &dd);
        size_t slot = ot_tally_acc_slot_at(a, i);
        const char *name = slot < ot_view_count() ? ot_view_at(slot)->name
                                                  : ot_viewset_at(vs, slot)->name;
        assert_true(len == strlen(name) || (len > strlen(name) && k[strlen(name)] == '/'));
        assert_memory_equal(k, name, strlen(name));
    }
    /* one slot only: what a view's fill adds */
    ot_tally_acc_reset(a);
    ot_tally_acc_set_views(a, vs, (uint64_t)1 << s1);
    assert_null(ot_tally_acc_view_at(a, 0));
    assert_int_equal(ot_tally_acc_event(a, &iq.pb, +1), 0);
    assert_int_equal(ot_tally_acc_event(a, &af.pb, +1), 0);
    assert_int_equal(ot_tally_acc_count(a), 1);
    assert_int_equal(ot_tally_acc_slot_at(a, 0), s1);
    /* a key added as is: its slot found by its view's name */
    ot_counts c = { .events = 1, .killed = 2 };
    assert_int_equal(ot_tally_acc_add_key(a, "days/2020-01-01", 15, &c, +1), 0);
    assert_int_equal(ot_tally_acc_slot_at(a, 1), s2);
    assert_int_equal(ot_tally_acc_add_key(a, "country/IQ", 10, &c, +1), 0);
    assert_int_equal(ot_tally_acc_slot_at(a, 2), 1);
    /* built-in views alone again */
    ot_tally_acc_reset(a);
    ot_tally_acc_set_views(a, NULL, OT_TALLY_ALL_SLOTS);
    assert_int_equal(ot_tally_acc_event(a, &iq.pb, +1), 0);
    assert_int_equal(ot_tally_acc_count(a), ot_view_count());
    ot_tally_acc_free(&a);
    ot_viewset_free(&vs);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_sums_per_key),
        cmocka_unit_test(t_view_and_message_agree),
        cmocka_unit_test(t_bad_key_fields_are_corrupt),
        cmocka_unit_test(t_out_of_memory),
        cmocka_unit_test(t_view_set),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
