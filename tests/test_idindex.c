/*
 * test_idindex: the sharded in-memory id index against a plain model.
 * Random transactions of inserts and re-points, committed or rolled back,
 * with shards growing in the middle of transactions and with crowded hashes
 * (long probe runs, so rollback's backward-shift deletion is exercised).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "ot_idindex.h"

typedef struct m_entry {
    uint64_t hash, seq;
} m_entry;

/* How many entries (h, seq) the index yields for hash h, and whether seq is among them. */
static int
s_count(const ot_idindex *ix, uint64_t h, uint64_t want, int *found)
{
    size_t cur = 0;
    uint64_t seq;
    int n = 0;
    *found = 0;
    while (ot_idindex_next(ix, h, &cur, &seq)) {
        n++;
        if (seq == want)
            *found = 1;
    }
    return n;
}

static uint64_t
s_rand64(void)
{
    return ((uint64_t)rand() << 42) ^ ((uint64_t)rand() << 21) ^ (uint64_t)rand();
}

/* crowded: hashes from a small set per shard, so probe runs are long and
 * distinct ids share a hash (as 64-bit collisions would). */
static uint64_t
s_hash(int crowded)
{
    if (!crowded)
        return s_rand64();
    return ((uint64_t)(rand() % 4) << 56) | (uint64_t)(rand() % 5000);
}

static void
s_check_all(const ot_idindex *ix, const m_entry *m, size_t n)
{
    assert_int_equal(ot_idindex_count(ix), n);
    for (size_t i = 0; i < n; i += 1 + n / 2000) {
        int found;
        s_count(ix, m[i].hash, m[i].seq, &found);
        if (!found)
            fail_msg("entry %zu (hash %llx seq %llu) missing", i, (unsigned long long)m[i].hash,
                     (unsigned long long)m[i].seq);
    }
}

static void
s_run(int crowded)
{
    ot_idindex *ix;
    assert_int_equal(ot_idindex_new(&ix), 0);
    size_t cap = 200000;
    m_entry *m = calloc(cap, sizeof *m);       /* committed state */
    m_entry *pend = calloc(cap, sizeof *pend); /* state during a transaction */
    size_t n = 0;
    uint64_t seq = 1;
    srand(crowded ? 4242 : 4343);
    for (int txn = 0; txn < 60; txn++) {
        size_t ops = 1 + (size_t)(rand() % 4000);
        assert_int_equal(ot_idindex_reserve(ix, ops), 0);
        memcpy(pend, m, n * sizeof *m);
        size_t pn = n;
        for (size_t k = 0; k < ops && pn < cap; k++) {
            if (pn > 0 && rand() % 4 == 0) {
                /* re-point an existing entry (a revision) */
                size_t i = (size_t)rand() % pn;
                size_t cur = 0;
                uint64_t got;
                int ok = 0;
                while (ot_idindex_next(ix, pend[i].hash, &cur, &got))
                    if (got == pend[i].seq) {
                        ok = 1;
                        break;
                    }
                assert_true(ok);
                ot_idindex_set(ix, cur, seq);
                pend[i].seq = seq++;
            } else {
                uint64_t h = s_hash(crowded);
                assert_int_equal(ot_idindex_insert(ix, h, seq), 0);
                pend[pn].hash = h;
                pend[pn].seq = seq++;
                pn++;
            }
        }
        if (rand() % 3 == 0) {
            ot_idindex_rollback(ix);
            s_check_all(ix, m, n);
            /* nothing of the rolled-back transaction remains */
            for (size_t i = n; i < pn; i += 7) {
                int found;
                s_count(ix, pend[i].hash, pend[i].seq, &found);
                assert_false(found);
            }
        } else {
            ot_idindex_commit(ix);
            memcpy(m, pend, pn * sizeof *m);
            n = pn;
            s_check_all(ix, m, n);
        }
    }
    assert_true(n > 20000);   /* shards grew many times */
    assert_true(ot_idindex_bytes(ix) < n * 64 + 100000);
    ot_idindex_free(&ix);
    assert_null(ix);
    ot_idindex_free(&ix);
    free(m);
    free(pend);
}

static void
t_random(void **state)
{
    (void)state;
    s_run(0);
}

static void
t_crowded(void **state)
{
    (void)state;
    s_run(1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_random),
        cmocka_unit_test(t_crowded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
