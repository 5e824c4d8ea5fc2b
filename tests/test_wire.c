/*
 * test_wire: bounded decoding of network input.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "ot_error.h"
#include "ot_wire.h"

/* A batch of n empty events: 2 bytes each on the wire (tag 0x0a, len 0). */
static uint8_t *
s_empty_events(size_t n, size_t *len)
{
    uint8_t *b = malloc(2 * n + 1);
    for (size_t i = 0; i < n; i++) {
        b[2 * i] = 0x0a;
        b[2 * i + 1] = 0;
    }
    *len = 2 * n;
    return b;
}

static size_t
s_pack_batch(Optally__OperationEvent **evs, size_t n, uint64_t id, uint8_t **out)
{
    Optally__EventBatch b = OPTALLY__EVENT_BATCH__INIT;
    b.events = evs;
    b.n_events = n;
    b.batch_id = id;
    size_t len = optally__event_batch__get_packed_size(&b);
    *out = malloc(len + 1);
    optally__event_batch__pack(&b, *out);
    return len;
}

static void
t_decode_ok_and_raw_slices(void **state)
{
    (void)state;
    Optally__OperationEvent a = OPTALLY__OPERATION_EVENT__INIT, c = OPTALLY__OPERATION_EVENT__INIT;
    a.event_id = "a-1";
    a.killed = 3;
    c.event_id = "c-22";
    c.country = "SY";
    Optally__OperationEvent *evs[] = { &a, &c };
    uint8_t *buf;
    size_t len = s_pack_batch(evs, 2, 42, &buf);
    ot_wire_batch *b;
    assert_int_equal(ot_wire_batch_decode(buf, len, 1 << 20, 10000, &b), 0);
    const Optally__EventBatch *m = ot_wire_batch_msg(b);
    assert_int_equal(m->n_events, 2);
    assert_int_equal(m->batch_id, 42);
    assert_string_equal(m->events[1]->country, "SY");
    const uint8_t *raw;
    size_t rlen;
    ot_wire_batch_raw(b, 1, &raw, &rlen);
    assert_int_equal(rlen, optally__operation_event__get_packed_size(&c));
    Optally__OperationEvent *back = optally__operation_event__unpack(NULL, rlen, raw);
    assert_non_null(back);
    assert_string_equal(back->event_id, "c-22");
    optally__operation_event__free_unpacked(back, NULL);
    assert_true(ot_wire_batch_bytes(b) > 0);
    ot_wire_batch_free(&b);
    assert_null(b);
    ot_wire_batch_free(&b);   /* safe twice */
    free(buf);
}

static void
t_too_many_events_refused_before_decoding(void **state)
{
    (void)state;
    size_t len;
    uint8_t *buf = s_empty_events(10001, &len);
    ot_wire_batch *b = (ot_wire_batch *)1;
    assert_int_equal(ot_wire_batch_decode(buf, len, 1 << 30, 10000, &b), OT_ETOOMANY);
    assert_null(b);
    assert_int_equal(ot_wire_batch_decode(buf, len - 2, 1 << 30, 10000, &b), 0);
    ot_wire_batch_free(&b);
    free(buf);
}

/* 2 MiB of empty events would unpack into ~200 MiB; the budget stops it. */
static void
t_budget_bounds_decoding(void **state)
{
    (void)state;
    size_t len;
    uint8_t *buf = s_empty_events(1000000, &len);
    ot_wire_batch *b;
    assert_int_equal(ot_wire_batch_decode(buf, len, 8 << 20, 2000000, &b), OT_EBUDGET);
    assert_null(b);
    free(buf);
}

static void
t_garbage_and_truncation(void **state)
{
    (void)state;
    ot_wire_batch *b;
    srand(5);
    int refused = 0;
    for (int i = 0; i < 2000; i++) {
        uint8_t junk[64];
        size_t n = 1 + (size_t)(rand() % (int)sizeof junk);
        for (size_t j = 0; j < n; j++)
            junk[j] = (uint8_t)rand();
        int rc = ot_wire_batch_decode(junk, n, 1 << 20, 10000, &b);
        assert_true(rc == 0 || rc == OT_EDECODE || rc == OT_ETOOMANY);
        refused += rc != 0;
        ot_wire_batch_free(&b);
    }
    assert_true(refused > 1000);
    /* A valid batch cut short anywhere inside an event is refused. */
    Optally__OperationEvent a = OPTALLY__OPERATION_EVENT__INIT;
    a.event_id = "truncate-me";
    a.source = "CENTCOM";
    Optally__OperationEvent *evs[] = { &a };
    uint8_t *buf;
    size_t len = s_pack_batch(evs, 1, 0, &buf);
    for (size_t cut = 1; cut < len; cut++)
        assert_int_equal(ot_wire_batch_decode(buf, cut, 1 << 20, 10000, &b), OT_EDECODE);
    free(buf);
}

static void
t_nul_in_string_seen_on_wire(void **state)
{
    (void)state;
    /* event_id "a\0b" (field 1, len 3) */
    const uint8_t with_nul[] = { 0x0a, 3, 'a', 0, 'b', 0x60, 1 };
    const uint8_t clean[] = { 0x0a, 3, 'a', 'x', 'b', 0x60, 1 };
    assert_true(ot_wire_has_nul_string(with_nul, sizeof with_nul));
    assert_false(ot_wire_has_nul_string(clean, sizeof clean));
    const uint8_t bad[] = { 0x0a, 9, 'a' };
    assert_true(ot_wire_has_nul_string(bad, sizeof bad));
    const uint8_t *v;
    size_t vl;
    assert_int_equal(ot_wire_find_bytes(clean, sizeof clean, 1, &v, &vl), 0);
    assert_int_equal(vl, 3);
    assert_memory_equal(v, "axb", 3);
    assert_int_equal(ot_wire_find_bytes(clean, sizeof clean, 4, &v, &vl), OT_ENOTFOUND);
    assert_int_equal(ot_wire_find_bytes(bad, sizeof bad, 1, &v, &vl), OT_EDECODE);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_decode_ok_and_raw_slices),
        cmocka_unit_test(t_too_many_events_refused_before_decoding),
        cmocka_unit_test(t_budget_bounds_decoding),
        cmocka_unit_test(t_garbage_and_truncation),
        cmocka_unit_test(t_nul_in_string_seen_on_wire),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
