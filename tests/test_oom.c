/*
 * test_oom: allocation failure on the decode, validate and fold paths.
 *
 * Linked with -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc, so every
 * allocation of optally's own (statically linked) code goes through the
 * wrappers below, which can fail the Nth one. As in SQLite's OOM loops, the
 * test fails allocation 1, 2, 3, ... of "decode + validate + ingest" of a
 * batch until a run completes without reaching the failure point. What
 * must hold for each run that failed an allocation:
 *   - it returns ENOMEM: the batch is valid and small, so an answer that
 *     calls it undecodable (OT_EDECODE) or too large (OT_EBUDGET) would be
 *     a permanent refusal of a good batch caused by a transient failure;
 *   - it leaves the store exactly as it was (log, ids, counts, tallies);
 *   - no crash, no leak (ASan/LSan);
 *   - or it succeeds, but ONLY when the code provably retried the failed
 *     allocation: the same call site allocated again, successfully, after
 *     the injected failure. "Succeeded after an injected failure" without
 *     a retry means the failure was swallowed (a result built from nothing,
 *     or an error lost), and fails the test with the call site.
 * Coverage: the allocations are counted per phase (decode, validate,
 * prepare, fold); every phase that allocates must have had each of its
 * allocation points failed once, and validation must not allocate at all
 * (lib/ot_event.c promises it). The store must work after the loop.
 *
 * Each batch carries figures too (issue 11): 5, the last a revision of the
 * one before it, validated without allocating (lib/ot_figure.c) and folded
 * in the same transaction; a failed run leaves the figure sequence as it
 * was, a complete one raises it by 5.
 *
 * Not covered here: allocations inside shared libraries (protobuf-c's own,
 * LMDB's), which --wrap cannot reach; protobuf-c allocates through our
 * budget allocator (lib/ot_wire.c), so decode's allocations are all ours.
 */
#define _GNU_SOURCE   /* backtrace_symbols_fd */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <execinfo.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ot_error.h"
#include "ot_event.h"
#include "ot_figure.h"
#include "ot_store.h"
#include "ot_wire.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);

/* Where the code under test is, for the counts and the failure sites. */
enum { PH_NONE, PH_DECODE, PH_VALIDATE, PH_PREPARE, PH_FOLD, PH_N };
static const char *const s_phase_name[PH_N] = { "none", "decode", "validate", "prepare", "fold" };
static int s_phase;

static long s_countdown;    /* > 0: fail when it reaches 0; 0: never fail */
static long s_failed;       /* failures injected in this run */
static int s_failed_phase;
static void *s_failed_site; /* return address of the failed call */
static void *s_failed_trace[12];
static int s_failed_depth;
static bool s_retried;      /* the failed site allocated again, successfully */
static long s_allocs[PH_N]; /* allocations per phase in this run */

static bool
s_fail_now(void *site)
{
    s_allocs[s_phase]++;
    if (s_countdown > 0 && --s_countdown == 0) {
        s_failed++;
        s_failed_phase = s_phase;
        s_failed_site = site;
        s_failed_depth = backtrace(s_failed_trace, 12);
        return true;
    }
    return false;
}

static void *
s_note(void *site, void *p)
{
    if (p && s_failed && site == s_failed_site)
        s_retried = true;
    return p;
}

void *
__wrap_malloc(size_t n)
{
    void *site = __builtin_return_address(0);
    return s_fail_now(site) ? NULL : s_note(site, __real_malloc(n));
}

void *
__wrap_calloc(size_t n, size_t m)
{
    void *site = __builtin_return_address(0);
    return s_fail_now(site) ? NULL : s_note(site, __real_calloc(n, m));
}

void *
__wrap_realloc(void *p, size_t n)
{
    void *site = __builtin_return_address(0);
    return s_fail_now(site) ? NULL : s_note(site, __real_realloc(p, n));
}

/* Print where the injected failure happened (symbolize the +0x offsets
 * with `addr2line -f -e tests/test_oom 0x...`). */
static void
s_print_failed_site(void)
{
    fprintf(stderr, "the failed allocation (phase %s), call stack:\n", s_phase_name[s_failed_phase]);
    backtrace_symbols_fd(s_failed_trace, s_failed_depth, 2);
}

#define S_FIGURES 5      /* figures a batch: 4 ids, the last one revised */

/* Batch number k of n events: new ids, and every 7th a revision of the
 * event just before it (35 distinct ids in 40 events); and S_FIGURES
 * figures, the last a revision of the one before it. */
static size_t
s_make_batch(int k, int n, uint8_t **out)
{
    Optally__Figure figs[S_FIGURES], *figp[S_FIGURES];
    char fids[S_FIGURES][32];
    char *scope[] = { "IQ", "SY" };
    for (int i = 0; i < S_FIGURES; i++) {
        optally__figure__init(&figs[i]);
        snprintf(fids[i], sizeof fids[i], "oomf-%d-%d", k, i < S_FIGURES - 1 ? i : i - 1);
        figs[i].figure_id = fids[i];
        figs[i].revision = i < S_FIGURES - 1 ? 0 : 1;
        figs[i].source = "TEST";
        figs[i].metric = "fighters_at_large";
        figs[i].scope = scope;
        figs[i].n_scope = 2;
        figs[i].as_of = "2024-04-15";
        figs[i].value = 2500 + (uint64_t)i;
        figp[i] = &figs[i];
    }
    Optally__OperationEvent *evs = calloc((size_t)n, sizeof *evs);
    Optally__OperationEvent **ptrs = calloc((size_t)n, sizeof *ptrs);
    char (*ids)[32] = calloc((size_t)n, 32);
    for (int i = 0; i < n; i++) {
        optally__operation_event__init(&evs[i]);
        int idn = k * 1000 + ((i % 7 == 6) ? i - 1 : i);  /* every 7th repeats an id */
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
    b.figures = figp;
    b.n_figures = S_FIGURES;
    size_t len = optally__event_batch__get_packed_size(&b);
    *out = malloc(len);
    optally__event_batch__pack(&b, *out);
    free(evs);
    free(ptrs);
    free(ids);
    return len;
}

/* What the consumer does with one message (consumer/ot_consumer.c
 * s_decode, s_prepare_items and the writer), phase by phase. Returns 0 or
 * the first error. */
static int
s_process(ot_store *st, const uint8_t *buf, size_t len)
{
    ot_wire_batch *b = NULL;
    s_phase = PH_DECODE;
    int rc = ot_wire_batch_decode(buf, len, 1u << 20, OT_BATCH_MAX_EVENTS, &b);
    if (rc != 0) {
        s_phase = PH_NONE;
        return rc;
    }
    const Optally__EventBatch *m = ot_wire_batch_msg(b);
    s_phase = PH_PREPARE;
    ot_ingest_item *items = calloc(m->n_events, sizeof *items);
    ot_figure_item *figs = calloc(m->n_figures, sizeof *figs);
    if (!items || !figs) {
        s_phase = PH_NONE;
        free(items);
        free(figs);
        ot_wire_batch_free(&b);
        return ENOMEM;
    }
    s_phase = PH_VALIDATE;
    for (size_t i = 0; i < m->n_events; i++) {
        items[i].event = m->events[i];
        ot_wire_batch_raw(b, i, &items[i].raw, &items[i].raw_len);
        ot_event_validate(m->events[i], 1767225600000LL, &items[i].reject);
    }
    for (size_t i = 0; i < m->n_figures; i++) {
        figs[i].figure = m->figures[i];
        ot_wire_batch_figure_raw(b, i, &figs[i].raw, &figs[i].raw_len);
        ot_figure_validate(m->figures[i], 1767225600000LL, &figs[i].reject);
    }
    s_phase = PH_FOLD;
    ot_ingest_group g = { .received_at = 1, .items = items, .n = m->n_events,
                          .figures = figs, .nfigures = m->n_figures };
    rc = ot_store_ingest(st, &g, 1);
    s_phase = PH_NONE;
    for (size_t i = 0; rc == 0 && i < m->n_figures; i++)
        assert_int_equal(figs[i].reject.reason, OPTALLY__REJECT_REASON__REASON_NONE);
    free(items);
    free(figs);
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
    void *warm[1];
    backtrace(warm, 1);   /* loads libgcc_s now, not inside a failing run */
    char dir[] = "/tmp/ot-test-oom.XXXXXX";
    assert_non_null(mkdtemp(dir));
    ot_store *st;
    ot_store_options o = { .nosync = true };
    assert_int_equal(ot_store_open(dir, &o, &st), 0);
    int64_t total = 0;
    int batches = 0;        /* distinct batches stored: 35 events each */
    for (int round = 0; round < 3; round++) {
        uint8_t *buf;
        size_t len = s_make_batch(batches, 40, &buf);
        long n;
        long failed_in[PH_N] = { 0 }, points[PH_N] = { 0 };
        int failures = 0, retried = 0;
        for (n = 1;; n++) {
            ot_store_stats before, after;
            ot_store_seqs seqs_before, seqs_after;
            assert_int_equal(ot_store_stats_get(st, &before), 0);
            ot_store_seqs_get(st, &seqs_before);
            s_failed = 0;
            s_retried = false;
            memset(s_allocs, 0, sizeof s_allocs);
            s_countdown = n;
            int rc = s_process(st, buf, len);
            s_countdown = 0;
            if (s_failed == 0) {
                assert_int_equal(rc, 0);   /* the failure point was never reached */
                memcpy(points, s_allocs, sizeof points);
                break;
            }
            failed_in[s_failed_phase]++;
            if (rc == 0) {
                /* Success despite the failure: only a proven retry of the
                 * same call site explains it; anything else swallowed it. */
                if (!s_retried) {
                    fprintf(stderr, "round %d, allocation %ld: the run SUCCEEDED after an injected "
                            "failure that was never retried: the failure was swallowed\n", round, n);
                    s_print_failed_site();
                }
                assert_true(s_retried);
                retried++;
                /* The batch is stored now. Later failure points go on
                 * with a fresh batch (new ids), so that they still reach
                 * the fold of new events, not of duplicates. */
                batches++;
                total = 0;
                assert_int_equal(ot_store_tally_foreach(st, "total", s_sum_events, &total), 0);
                assert_int_equal(total, 35 * batches);
                ot_store_seqs_get(st, &seqs_after);
                assert_int_equal(seqs_after.figure_seq, (uint64_t)S_FIGURES * (uint64_t)batches);
                free(buf);
                len = s_make_batch(batches, 40, &buf);
                continue;
            }
            failures++;
            if (rc != ENOMEM) {
                fprintf(stderr, "round %d, allocation %ld: an allocation failure on a valid batch "
                        "came back as %d (%s), not ENOMEM: the caller would refuse a good batch "
                        "for good\n", round, n, rc, ot_strerror(rc));
                s_print_failed_site();
            }
            assert_int_equal(rc, ENOMEM);
            assert_int_equal(ot_store_stats_get(st, &after), 0);
            assert_int_equal(after.log_entries, before.log_entries);
            ot_store_seqs_get(st, &seqs_after);
            assert_int_equal(seqs_after.figure_seq, seqs_before.figure_seq);
            assert_int_equal(after.distinct_ids, before.distinct_ids);
            assert_int_equal(after.stored, before.stored);
            int64_t now = 0;
            assert_int_equal(ot_store_tally_foreach(st, "total", s_sum_events, &now), 0);
            assert_int_equal(now, total);
        }
        /* Coverage: each phase had at least as many failed runs as the
         * clean run has allocations there (more when a failed run left a
         * buffer grown that the clean run then did not need: the store's
         * scratch space is kept), decode and fold have some, and
         * validation has none (lib/ot_event.c: it never allocates). */
        for (int ph = PH_DECODE; ph < PH_N; ph++)
            assert_true(failed_in[ph] >= points[ph]);
        assert_true(failed_in[PH_DECODE] > 0);
        assert_true(failed_in[PH_FOLD] > 0);
        assert_int_equal(points[PH_VALIDATE], 0);
        assert_int_equal(failed_in[PH_VALIDATE], 0);
        ot_store_stats st2;
        assert_int_equal(ot_store_stats_get(st, &st2), 0);
        assert_int_equal(ot_store_tally_foreach(st, "total", s_sum_events, &total), 0);
        /* 40 events a batch: 35 new ids + 5 revisions of ids of the same batch */
        batches++;
        assert_int_equal(total, 35 * batches);
        ot_store_seqs seqs;
        ot_store_seqs_get(st, &seqs);
        assert_int_equal(seqs.figure_seq, (uint64_t)S_FIGURES * (uint64_t)batches);
        printf("round %d: %ld runs with a failed allocation (in decode %ld, prepare %ld, fold %ld, "
               "validate %ld); "
               "%d failed cleanly with ENOMEM, %d succeeded after a proven retry\n",
               round, n - 1, failed_in[PH_DECODE], failed_in[PH_PREPARE], failed_in[PH_FOLD],
               failed_in[PH_VALIDATE], failures, retried);
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
