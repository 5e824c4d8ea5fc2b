/*
 * test_store: the exactly-once fold against a simple in-memory model.
 *  - random sequences of new events, duplicates, revisions, retractions,
 *    stale revisions and conflicts: every status and every tally equals the
 *    model's, also after reopening the store (id index rebuilt from the log);
 *  - an ingest that fails at any write step (injected) leaves nothing: no
 *    log entry, no tally change, no id in the index, no counter change;
 *  - a tiny map grows and the write goes through;
 *  - a second writer on the same directory is refused;
 *  - duplicates and stale revisions are decided without allocating: the
 *    stored record is read as a view, not unpacked (allocations are counted
 *    through ASan's hooks, or by interposing malloc without ASan);
 *  - an error that leaves LMDB unusable (MDB_PANIC...) is OT_EFATAL, changes
 *    nothing and stays OT_EFATAL for the handle;
 *  - the failure classifier: an EIO is "full" only when the file system
 *    could not have taken the commit, fatal codes are OT_EFATAL.
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
#include <sys/statvfs.h>
#include <unistd.h>

#include "ot_error.h"
#include "ot_store.h"
#include "ot_model.h"
#include "ot_store_int.h"
#include "ot_view.h"

#define NIDS 300

/* ---- counting allocations ------------------------------------------------
 * Every malloc/calloc/realloc of the process while s_counting is set, also
 * those inside shared libraries (protobuf-c's unpack), which a link-time
 * --wrap would not see. */
static volatile bool s_counting;
static volatile long s_allocs;

#if defined(__SANITIZE_ADDRESS__)
int __sanitizer_install_malloc_and_free_hooks(void (*m)(const volatile void *, size_t),
                                              void (*f)(const volatile void *));
static void
s_on_malloc(const volatile void *p, size_t n)
{
    (void)p;
    (void)n;
    if (s_counting)
        s_allocs++;
}

static void
s_on_free(const volatile void *p)
{
    (void)p;
}

static void
s_count_setup(void)
{
    static bool done;
    if (!done)
        assert_int_not_equal(__sanitizer_install_malloc_and_free_hooks(s_on_malloc, s_on_free), 0);
    done = true;
}
#else
void *__libc_malloc(size_t n);
void *__libc_calloc(size_t n, size_t m);
void *__libc_realloc(void *p, size_t n);

void *
malloc(size_t n)
{
    if (s_counting)
        s_allocs++;
    return __libc_malloc(n);
}

void *
calloc(size_t n, size_t m)
{
    if (s_counting)
        s_allocs++;
    return __libc_calloc(n, m);
}

void *
realloc(void *p, size_t n)
{
    if (s_counting)
        s_allocs++;
    return __libc_realloc(p, n);
}

static void
s_count_setup(void)
{
}
#endif

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

/* n model events as ingest items (the model moves on as if they counted). */
static void
s_next_items(ot_model *mo, m_event *evs, Optally__OperationEvent *pbs, ot_ingest_item *items,
             size_t n)
{
    memset(items, 0, n * sizeof *items);
    for (size_t i = 0; i < n; i++) {
        ot_model_next(mo, &evs[i]);
        ot_model_to_pb(&evs[i], &pbs[i]);
        items[i].event = &pbs[i];
    }
}

static ot_model *
s_model(void)
{
    ot_model *mo = calloc(1, sizeof *mo);
    assert_non_null(mo);
    ot_model_init(mo, NIDS, "evt");
    return mo;
}

static void
t_random_fold_matches_model(void **state)
{
    (void)state;
    s_tmpdir();
    srand(12345);
    ot_model *mo = s_model();
    ot_store *s;
    ot_store_options o = { .nosync = true };
    assert_int_equal(ot_store_open(s_dir, &o, &s), 0);
    for (int round = 0; round < 40; round++) {
        ot_model_ingest(s, mo, 1 + (size_t)(rand() % 200));
        if (round % 10 == 9) {
            ot_model_assert_tallies(s, mo);
            /* Reopen: the id index is rebuilt from the log and must give
             * the same answers as before. */
            ot_store_close(&s);
            assert_null(s);
            assert_int_equal(ot_store_open(s_dir, &o, &s), 0);
        }
    }
    ot_model_assert_tallies(s, mo);
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
    ot_model *mo = s_model();
    ot_store *s;
    ot_store_options o = { .nosync = true };
    assert_int_equal(ot_store_open(s_dir, &o, &s), 0);
    ot_model_ingest(s, mo, 100);
    ot_store_stats before;
    assert_int_equal(ot_store_stats_get(s, &before), 0);

    static const int errs[] = { ENOSPC, EIO, ENOMEM };
    for (int step = 1; step < 60; step += 3) {
        ot_model saved = *mo;
        m_event evs[20];
        Optally__OperationEvent pbs[20];
        ot_ingest_item items[20];
        s_next_items(mo, evs, pbs, items, 20);
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
        ot_model_assert_tallies(s, mo);
    }
    /* And the same store still folds correctly afterwards. */
    ot_model_ingest(s, mo, 200);
    ot_model_assert_tallies(s, mo);
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
    ot_model *mo = s_model();
    ot_store *s;
    ot_store_options o = { .nosync = true, .map_size = 64 * 1024 };
    assert_int_equal(ot_store_open(s_dir, &o, &s), 0);
    ot_store_stats st;
    assert_int_equal(ot_store_stats_get(s, &st), 0);
    uint64_t first = st.map_size;
    for (int i = 0; i < 20; i++)
        ot_model_ingest(s, mo, 500);
    assert_int_equal(ot_store_stats_get(s, &st), 0);
    assert_true(st.map_size > first);
    ot_model_assert_tallies(s, mo);
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

/* Allocations made by one ingest of n events: event i is model event
 * evs[i] with revision rev_delta added (the events were stored before). */
static long
s_allocs_of_ingest(ot_store *s, const m_event *evs, size_t n, int rev_delta,
                   Optally__IngestStatus want)
{
    Optally__OperationEvent *pbs = calloc(n, sizeof *pbs);
    ot_ingest_item *items = calloc(n, sizeof *items);
    m_event *copy = calloc(n, sizeof *copy);
    assert_true(pbs && items && copy);
    for (size_t i = 0; i < n; i++) {
        copy[i] = evs[i];
        copy[i].rev = (uint32_t)((int)copy[i].rev + rev_delta);
        ot_model_to_pb(&copy[i], &pbs[i]);
        items[i].event = &pbs[i];
    }
    ot_ingest_group g = { .received_at = 1, .items = items, .n = n };
    s_allocs = 0;
    s_counting = true;
    int rc = ot_store_ingest(s, &g, 1);
    s_counting = false;
    long allocs = s_allocs;
    assert_int_equal(rc, 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(items[i].status, want);
    free(pbs);
    free(items);
    free(copy);
    return allocs;
}

/* The duplicate and stale paths read the stored record in place: the
 * allocations of an ingest do not grow with its number of such events
 * (protobuf-c's unpack made several per event). */
static void
t_known_events_decided_without_allocating(void **state)
{
    (void)state;
    enum { N = 1000 };
    s_tmpdir();
    s_count_setup();
    ot_store *s;
    ot_store_options o = { .nosync = true };
    assert_int_equal(ot_store_open(s_dir, &o, &s), 0);
    m_event *evs = calloc(N, sizeof *evs);
    assert_non_null(evs);
    for (int i = 0; i < N; i++) {
        m_event *e = &evs[i];
        snprintf(e->id, sizeof e->id, "alloc-%d", i);
        e->rev = 1;
        snprintf(e->country, sizeof e->country, "%s", i % 2 ? "IQ" : "SY");
        snprintf(e->date, sizeof e->date, "2024-%02d-%02d", 1 + i % 12, 1 + i % 28);
        snprintf(e->pf, sizeof e->pf, "%s", i % 3 ? "ISF" : "");
        e->ops = 1;
        e->killed = (uint32_t)(i % 4);
    }
    s_allocs_of_ingest(s, evs, N, 0, OPTALLY__INGEST_STATUS__STORED);
    /* warm up: the first commits size LMDB's and our own buffers */
    for (int k = 0; k < 3; k++)
        s_allocs_of_ingest(s, evs, N, 0, OPTALLY__INGEST_STATUS__DUPLICATE);
    long one = s_allocs_of_ingest(s, evs, 1, 0, OPTALLY__INGEST_STATUS__DUPLICATE);
    long dup = s_allocs_of_ingest(s, evs, N, 0, OPTALLY__INGEST_STATUS__DUPLICATE);
    long stale = s_allocs_of_ingest(s, evs, N, -1, OPTALLY__INGEST_STATUS__STALE);
    print_message("allocations: 1 duplicate %ld, %d duplicates %ld, %d stale %ld\n", one, N,
                  dup, N, stale);
    assert_true(dup - one < 50);
    assert_true(stale - one < 50);
    ot_store_close(&s);
    free(evs);
    s_rmdir();
}

/* MDB_PANIC and its kind at any write step: OT_EFATAL, nothing changed,
 * and the handle refuses every later ingest with OT_EFATAL. */
static void
t_fatal_errors(void **state)
{
    (void)state;
    static const int fatal[] = { MDB_PANIC, MDB_VERSION_MISMATCH, MDB_INVALID, MDB_BAD_TXN,
                                 MDB_CORRUPTED, MDB_PAGE_NOTFOUND };
    s_tmpdir();
    srand(4711);
    ot_model *mo = s_model();
    ot_store *s;
    ot_store_options o = { .nosync = true };
    for (size_t f = 0; f < sizeof fatal / sizeof fatal[0]; f++) {
        assert_int_equal(ot_store_open(s_dir, &o, &s), 0);
        ot_model_ingest(s, mo, 50);
        ot_store_stats before, after;
        assert_int_equal(ot_store_stats_get(s, &before), 0);
        ot_model saved = *mo;
        m_event evs[20];
        Optally__OperationEvent pbs[20];
        ot_ingest_item items[20];
        s_next_items(mo, evs, pbs, items, 20);
        *mo = saved;
        ot_ingest_group g = { .received_at = 1, .items = items, .n = 20 };
        ot_store_fault(s, 1 + (int)f * 3, fatal[f]);
        assert_int_equal(ot_store_ingest(s, &g, 1), OT_EFATAL);
        ot_store_fault(s, 0, 0);
        /* sticky: the environment is not trusted any more */
        assert_int_equal(ot_store_ingest(s, &g, 1), OT_EFATAL);
        assert_int_equal(ot_store_stats_get(s, &after), 0);
        /* everything but the id index's reserved capacity */
        after.index_bytes = before.index_bytes;
        assert_memory_equal(&after, &before, sizeof after);
        ot_model_assert_tallies(s, mo);
        ot_store_close(&s);
    }
    /* a new handle (a restarted process) works on the same store */
    assert_int_equal(ot_store_open(s_dir, &o, &s), 0);
    ot_model_ingest(s, mo, 100);
    ot_model_assert_tallies(s, mo);
    ot_store_close(&s);
    free(mo);
    s_rmdir();
}

/* The classifier: EIO is "full" only when the file system could not have
 * taken the commit; fatal codes are OT_EFATAL; the rest pass through. */
static void
t_classify_failure(void **state)
{
    (void)state;
    const uint64_t MiB = 1 << 20;
    /* a small file system (a 16 MiB tmpfs) with room to spare: an I/O error */
    assert_int_equal(ot_store_int_classify(EIO, 15 * MiB, 100 * 1024), EIO);
    assert_int_equal(ot_store_int_classify(EIO, 40 * MiB, 4 * MiB), EIO);
    /* no room, or less than the commit needed: full */
    assert_int_equal(ot_store_int_classify(EIO, 0, 0), ENOSPC);
    assert_int_equal(ot_store_int_classify(EIO, 200 * 1024, 300 * 1024), ENOSPC);
    assert_int_equal(ot_store_int_classify(EIO, 8 * MiB, 8 * MiB), ENOSPC);
    /* the margin: just under need + margin is full, well over it is not */
    assert_int_equal(ot_store_int_classify(EIO, 2 * MiB - 1, 1 * MiB), ENOSPC);
    assert_int_equal(ot_store_int_classify(EIO, 3 * MiB, 1 * MiB), EIO);
    /* ENOSPC is always full; other errors are what they are */
    assert_int_equal(ot_store_int_classify(ENOSPC, 1000 * MiB, 0), ENOSPC);
    assert_int_equal(ot_store_int_classify(ENOMEM, 0, 0), ENOMEM);
    assert_int_equal(ot_store_int_classify(MDB_MAP_FULL, 0, 0), MDB_MAP_FULL);
    assert_int_equal(ot_store_int_classify(OT_ECORRUPT, 0, 0), OT_ECORRUPT);
    static const int fatal[] = { MDB_PANIC, MDB_VERSION_MISMATCH, MDB_INVALID, MDB_BAD_TXN,
                                 MDB_CORRUPTED, MDB_PAGE_NOTFOUND };
    for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++) {
        assert_true(ot_store_int_fatal_code(fatal[i]));
        assert_int_equal(ot_store_int_classify(fatal[i], 1000 * MiB, 0), OT_EFATAL);
    }
    assert_false(ot_store_int_fatal_code(MDB_MAP_FULL));
    assert_false(ot_store_int_fatal_code(EIO));
}

/* Through the store: an injected EIO on a file system with room stays EIO. */
static void
t_eio_with_room_is_eio(void **state)
{
    (void)state;
    s_tmpdir();
    struct statvfs vfs;
    assert_int_equal(statvfs(s_dir, &vfs), 0);
    /* the test's own precondition, not a skip: /tmp must have room */
    assert_true((uint64_t)vfs.f_bavail * vfs.f_frsize > (uint64_t)64 << 20);
    ot_model *mo = s_model();
    ot_store *s;
    ot_store_options o = { .nosync = true };
    assert_int_equal(ot_store_open(s_dir, &o, &s), 0);
    ot_model_ingest(s, mo, 20);
    m_event ev;
    Optally__OperationEvent pb;
    ot_ingest_item item = { 0 };
    ot_model_next(mo, &ev);
    ot_model_to_pb(&ev, &pb);
    item.event = &pb;
    ot_ingest_group g = { .received_at = 1, .items = &item, .n = 1 };
    ot_store_fault(s, 1, EIO);
    assert_int_equal(ot_store_ingest(s, &g, 1), EIO);
    ot_store_close(&s);
    free(mo);
    s_rmdir();
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
        cmocka_unit_test(t_known_events_decided_without_allocating),
        cmocka_unit_test(t_fatal_errors),
        cmocka_unit_test(t_classify_failure),
        cmocka_unit_test(t_eio_with_room_is_eio),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
