/*
 * test_oom: allocation failure on the decode and fold paths.
 *
 * Linked with -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc, so every
 * allocation of optally's own (statically linked) code goes through the
 * wrappers below, which can fail the Nth one. As in SQLite's OOM loops, the
 * test fails allocation 1, 2, 3, ... of "decode + validate + ingest" of a
 * batch until a run completes without reaching the failure point; every
 * failing run must return an error cleanly (no crash, no leak under ASan)
 * and leave the store exactly as it was; the store must then still work.
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
#include "ot_store.h"
#include "ot_wire.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);

static long s_countdown;    /* > 0: fail when it reaches 0; 0: never fail */
static long s_failed;

static bool
s_fail_now(void)
{
    if (s_countdown > 0 && --s_countdown == 0) {
        s_failed++;
        return true;
    }
    return false;
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

/* A batch of n events: new ids, a revision of an earlier one, a duplicate. */
static size_t
s_make_batch(int round, int n, uint8_t **out)
{
    Optally__OperationEvent *evs = calloc((size_t)n, sizeof *evs);
    Optally__OperationEvent **ptrs = calloc((size_t)n, sizeof *ptrs);
    char (*ids)[32] = calloc((size_t)n, 32);
    for (int i = 0; i < n; i++) {
        optally__operation_event__init(&evs[i]);
        int idn = (i % 7 == 6) ? i - 1 : round * 1000 + i;  /* every 7th repeats an id */
        snprintf(ids[i], 32, "oom-%d", idn);
        evs[i].event_id = ids[i];
        evs[i].revision = (i % 7 == 6) ? 1 : 0;
        evs[i].source = "TEST";
        evs[i].occurred_on = "2024-02-10";
        evs[i].country = i % 2 ? "IQ" : "SY";
        evs[i].partner_force = "ISF";
        evs[i].operations = 1;
        evs[i].killed = (uint32_t)(i % 3);
        ptrs[i] = &evs[i];
    }
    Optally__EventBatch b = OPTALLY__EVENT_BATCH__INIT;
    b.events = ptrs;
    b.n_events = (size_t)n;
    size_t len = optally__event_batch__get_packed_size(&b);
    *out = malloc(len);
    optally__event_batch__pack(&b, *out);
    free(evs);
    free(ptrs);
    free(ids);
    return len;
}

/* What the consumer does with one message. Returns 0 or the first error. */
static int
s_process(ot_store *st, const uint8_t *buf, size_t len)
{
    ot_wire_batch *b = NULL;
    int rc = ot_wire_batch_decode(buf, len, 1u << 20, OT_BATCH_MAX_EVENTS, &b);
    if (rc != 0)
        return rc;
    const Optally__EventBatch *m = ot_wire_batch_msg(b);
    ot_ingest_item *items = calloc(m->n_events, sizeof *items);
    if (!items) {
        ot_wire_batch_free(&b);
        return ENOMEM;
    }
    for (size_t i = 0; i < m->n_events; i++) {
        items[i].event = m->events[i];
        ot_wire_batch_raw(b, i, &items[i].raw, &items[i].raw_len);
        ot_event_validate(m->events[i], 1767225600000LL, &items[i].reject);
    }
    ot_ingest_group g = { .received_at = 1, .items = items, .n = m->n_events };
    rc = ot_store_ingest(st, &g, 1);
    free(items);
    ot_wire_batch_free(&b);
    return rc;
}

static int
s_sum_events(void *ctx, const char *key, size_t len, const ot_counts *c)
{
    if (len == 5 && memcmp(key, "total", 5) == 0)
        *(int64_t *)ctx = c->events;
    return 0;
}

static void
t_oom_loop(void **state)
{
    (void)state;
    char dir[] = "/tmp/ot-test-oom.XXXXXX";
    assert_non_null(mkdtemp(dir));
    ot_store *st;
    ot_store_options o = { .nosync = true };
    assert_int_equal(ot_store_open(dir, &o, &st), 0);
    int64_t total = 0;
    for (int round = 0; round < 3; round++) {
        uint8_t *buf;
        size_t len = s_make_batch(round, 40, &buf);
        long n;
        int failures = 0;
        for (n = 1;; n++) {
            ot_store_stats before, after;
            assert_int_equal(ot_store_stats_get(st, &before), 0);
            s_failed = 0;
            s_countdown = n;
            int rc = s_process(st, buf, len);
            s_countdown = 0;
            if (s_failed == 0) {
                assert_int_equal(rc, 0);   /* the failure point was never reached */
                break;
            }
            if (rc == 0)
                continue;   /* a failed allocation the code could do without */
            failures++;
            assert_true(rc == ENOMEM || rc == OT_EBUDGET || rc == OT_EDECODE);
            assert_int_equal(ot_store_stats_get(st, &after), 0);
            assert_int_equal(after.log_entries, before.log_entries);
            assert_int_equal(after.distinct_ids, before.distinct_ids);
            assert_int_equal(after.stored, before.stored);
            int64_t now = 0;
            assert_int_equal(ot_store_tally_foreach(st, "total", s_sum_events, &now), 0);
            assert_int_equal(now, total);
        }
        assert_true(failures > 0);   /* the loop did inject failures */
        ot_store_stats st2;
        assert_int_equal(ot_store_stats_get(st, &st2), 0);
        assert_int_equal(ot_store_tally_foreach(st, "total", s_sum_events, &total), 0);
        /* 40 events: 35 new ids + 5 revisions of ids of the same batch */
        assert_int_equal(total, 35 * (round + 1));
        printf("round %d: %ld allocation points, %d failed cleanly\n", round, n - 1, failures);
        free(buf);
    }
    ot_store_close(&st);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_oom_loop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
