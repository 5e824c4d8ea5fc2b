/*
 * test_reject_budget: what rejected events may add to the store (issue 10,
 * item 1; store/ot_reject_budget.h), through ot_store_ingest.
 *  - a message keeps at most msg_rows rejects one by one; the rest are
 *    answered REJECTED with their reason (seq 0) and told in one summary
 *    row (count, reasons, a sample of the message); stats count them all;
 *  - a peer keeps at most peer_rows / peer_bytes per window, everybody
 *    together all_rows / all_bytes: one flooding peer does not take the
 *    rows of another;
 *  - a new window (monotonic clock, driven by the test) gives room again,
 *    and the counts held over are told;
 *  - a failed ingest leaves the budget as it was;
 *  - messages refused whole are budgeted the same way;
 *  - the flood (10,000 empty events a message, from one peer) keeps
 *    at most the peer's bound, where it used to keep one row per event.
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
#include <sys/stat.h>

#include "ot_error.h"
#include "ot_store.h"
#include "ot_store_int.h"

#define T_JUNK_MAX 10000

static char s_dir[64];
static uint8_t s_raw[4096];          /* the "wire bytes" of every rejected event */
static ot_ingest_item s_items[T_JUNK_MAX];

static void
s_tmpdir(void)
{
    snprintf(s_dir, sizeof s_dir, "/tmp/ot-trjb.XXXXXX");
    assert_non_null(mkdtemp(s_dir));
}

static void
s_rmdir(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s_dir);
    assert_int_equal(system(cmd), 0);
}

static ot_store *
s_open(const ot_store_reject_limits *lim)
{
    ot_store *s;
    ot_store_options o = { .nosync = true };
    if (lim)
        o.rejects = *lim;
    assert_int_equal(ot_store_open(s_dir, &o, &s), 0);
    return s;
}

/* One message of n events refused by validation (MISSING_FIELD), raw_len
 * bytes each, from producer identity peer. Returns the ingest's result;
 * the items are in s_items. */
static int
s_junk(ot_store *s, const char *peer, size_t n, size_t raw_len)
{
    assert_true(n <= T_JUNK_MAX && raw_len <= sizeof s_raw);
    memset(s_items, 0, n * sizeof s_items[0]);
    for (size_t i = 0; i < n; i++) {
        s_items[i].raw = s_raw;
        s_items[i].raw_len = raw_len;
        s_items[i].reject.reason = OPTALLY__REJECT_REASON__MISSING_FIELD;
        snprintf(s_items[i].reject.text, sizeof s_items[i].reject.text,
                 "field 'event_id' is missing or empty");
    }
    ot_ingest_group g = { .producer = (const uint8_t *)peer, .producer_len = strlen(peer),
                          .received_at = 1700000000000, .items = s_items, .n = n };
    return ot_store_ingest(s, &g, 1);
}

/* Every item of the last s_junk answered REJECTED with its reason; returns
 * how many were kept one by one (seq > 0). */
static size_t
s_kept(size_t n)
{
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(s_items[i].status, OPTALLY__INGEST_STATUS__REJECTED);
        assert_int_equal(s_items[i].reject.reason, OPTALLY__REJECT_REASON__MISSING_FIELD);
        assert_non_null(strstr(s_items[i].reject.text, "event_id"));
        kept += s_items[i].seq > 0;
    }
    return kept;
}

/* What the rejects database holds. */
typedef struct t_rows {
    size_t rows, summaries;
    uint64_t bytes;                 /* packed records */
    size_t by_peer[4];              /* rows of producer "a", "b", "c", "d" */
    char last_summary[700];
    size_t last_sample;
} t_rows;

static int
s_row(void *ctx, const Optally__RejectRecord *r)
{
    t_rows *t = ctx;
    t->rows++;
    t->bytes += optally__reject_record__get_packed_size(r);
    if (r->producer.len == 1 && r->producer.data[0] >= 'a' && r->producer.data[0] <= 'd')
        t->by_peer[r->producer.data[0] - 'a']++;
    if (strstr(r->reason_text, "not kept one by one")) {
        t->summaries++;
        snprintf(t->last_summary, sizeof t->last_summary, "%s", r->reason_text);
        t->last_sample = r->raw.len;
    }
    return 0;
}

static t_rows
s_rows(ot_store *s)
{
    t_rows t;
    memset(&t, 0, sizeof t);
    assert_int_equal(ot_store_reject_foreach(s, s_row, &t), 0);
    return t;
}

/* A message keeps msg_rows rows; the rest are answered and summarized. */
static void
t_message_cap(void **state)
{
    (void)state;
    s_tmpdir();
    ot_store_reject_limits lim = { .msg_rows = 5 };
    ot_store *s = s_open(&lim);
    assert_int_equal(s_junk(s, "a", 30, 40), 0);
    assert_int_equal(s_kept(30), 5);
    for (size_t i = 5; i < 30; i++)
        assert_int_equal(s_items[i].seq, 0);
    t_rows t = s_rows(s);
    assert_int_equal(t.rows, 6);
    assert_int_equal(t.summaries, 1);
    if (!strstr(t.last_summary, "25 rejected events") || !strstr(t.last_summary, "MISSING_FIELD 25") ||
        !strstr(t.last_summary, "25 in this message"))
        fail_msg("summary: %s", t.last_summary);
    assert_int_equal(t.last_sample, 40);     /* a sample of the message */
    ot_store_stats st;
    assert_int_equal(ot_store_stats_get(s, &st), 0);
    assert_int_equal(st.rejected, 30);       /* every rejected event is counted */
    ot_store_close(&s);
    s_rmdir();
}

/* Per peer and in all, per window: a flooding peer keeps its share only. */
static void
t_peer_and_all_caps(void **state)
{
    (void)state;
    s_tmpdir();
    ot_store_reject_limits lim = { .peer_rows = 20, .all_rows = 50 };
    ot_store *s = s_open(&lim);
    size_t kept_a = 0;
    for (int m = 0; m < 10; m++) {
        assert_int_equal(s_junk(s, "a", 10, 40), 0);
        kept_a += s_kept(10);
    }
    t_rows t = s_rows(s);
    assert_true(t.by_peer[0] <= 20);
    assert_int_equal(kept_a, 19);            /* one row kept free for the summary */
    assert_int_equal(t.summaries, 1);        /* the 80 after it wait for the next window */
    assert_non_null(strstr(t.last_summary, "1 rejected events"));
    /* b is not starved by a */
    assert_int_equal(s_junk(s, "b", 10, 40), 0);
    assert_int_equal(s_kept(10), 10);
    for (int m = 0; m < 5; m++) {
        assert_int_equal(s_junk(s, "c", 10, 40), 0);
        assert_int_equal(s_junk(s, "d", 10, 40), 0);
    }
    t = s_rows(s);
    assert_true(t.rows <= 50);
    assert_true(t.by_peer[1] >= 10);
    ot_store_close(&s);
    s_rmdir();
}

/* Bytes count as well as rows. */
static void
t_bytes_cap(void **state)
{
    (void)state;
    s_tmpdir();
    ot_store_reject_limits lim = { .peer_bytes = 64 << 10, .msg_bytes = 32 << 10 };
    ot_store *s = s_open(&lim);
    assert_int_equal(s_junk(s, "a", 100, 4000), 0);
    size_t k1 = s_kept(100);
    assert_true(k1 >= 7 && k1 <= 8);         /* 32 KiB of ~4 KiB rows */
    assert_int_equal(s_junk(s, "a", 100, 4000), 0);
    t_rows t = s_rows(s);
    assert_true(t.bytes + t.rows * OT_STORE_REJECT_ROW_OVERHEAD <= (64 << 10));
    assert_true(t.rows >= 14);
    ot_store_close(&s);
    s_rmdir();
}

/* A new window gives room again; the counts held over are told. */
static void
t_window_rolls(void **state)
{
    (void)state;
    s_tmpdir();
    ot_store_reject_limits lim = { .peer_rows = 4, .window_ms = 1000 };
    ot_store *s = s_open(&lim);
    ot_store_int_set_now(s, 5000);
    assert_int_equal(s_junk(s, "a", 10, 40), 0);   /* 3 kept, 7 told in a summary */
    assert_int_equal(s_kept(10), 3);
    assert_int_equal(s_junk(s, "a", 10, 40), 0);   /* none kept, 10 held over */
    assert_int_equal(s_kept(10), 0);
    t_rows t = s_rows(s);
    assert_int_equal(t.rows, 4);
    ot_store_int_set_now(s, 5999);
    assert_int_equal(s_junk(s, "a", 1, 40), 0);    /* same window */
    assert_int_equal(s_kept(1), 0);
    ot_store_int_set_now(s, 6000);
    assert_int_equal(s_junk(s, "a", 2, 40), 0);    /* a new window */
    assert_int_equal(s_kept(2), 2);
    t = s_rows(s);
    assert_int_equal(t.rows, 7);
    assert_int_equal(t.summaries, 2);
    if (!strstr(t.last_summary, "11 rejected events") || !strstr(t.last_summary, "0 in this message"))
        fail_msg("summary: %s", t.last_summary);
    assert_int_equal(t.last_sample, 0);             /* none of this message to show */
    ot_store_close(&s);
    s_rmdir();
}

/* A failed ingest spends nothing of the budget. */
static void
t_failed_ingest_restores_budget(void **state)
{
    (void)state;
    s_tmpdir();
    ot_store_reject_limits lim = { .peer_rows = 10 };
    ot_store *s = s_open(&lim);
    ot_store_fault(s, 3, EIO);
    assert_int_equal(s_junk(s, "a", 5, 40), EIO);
    assert_int_equal(s_rows(s).rows, 0);
    assert_int_equal(s_junk(s, "a", 5, 40), 0);
    assert_int_equal(s_kept(5), 5);
    ot_store_fault(s, 2, EIO);
    assert_int_equal(s_junk(s, "a", 10, 40), EIO);
    assert_int_equal(s_junk(s, "a", 10, 40), 0);
    assert_int_equal(s_kept(10), 4);                 /* 9 rows, the 10th for the summary */
    t_rows t = s_rows(s);
    assert_int_equal(t.rows, 10);
    assert_non_null(strstr(t.last_summary, "6 rejected events"));
    ot_store_close(&s);
    s_rmdir();
}

/* Messages refused whole (undecodable junk, 4 KiB of each kept) are
 * budgeted like events: a peer sending them forever keeps its share. */
static void
t_refused_messages_budgeted(void **state)
{
    (void)state;
    s_tmpdir();
    ot_store_reject_limits lim = { .peer_rows = 10 };
    ot_store *s = s_open(&lim);
    for (int m = 0; m < 50; m++) {
        ot_ingest_group g = { .producer = (const uint8_t *)"a", .producer_len = 1,
                              .received_at = 1, .raw = s_raw, .raw_len = sizeof s_raw,
                              .batch_error = OPTALLY__BATCH_ERROR__UNDECODABLE,
                              .error_text = "message is not an optally.EventBatch" };
        assert_int_equal(ot_store_ingest(s, &g, 1), 0);
    }
    t_rows t = s_rows(s);
    assert_int_equal(t.rows, 10);
    assert_int_equal(t.summaries, 1);
    if (!strstr(t.last_summary, "UNDECODABLE (message) 1"))
        fail_msg("summary: %s", t.last_summary);
    ot_store_stats st;
    assert_int_equal(ot_store_stats_get(s, &st), 0);
    assert_int_equal(st.rejected, 50);
    ot_store_close(&s);
    s_rmdir();
}

/* The flood: messages of 10,000 empty events from one peer, with
 * the default limits. Before: one row per event (~117 bytes of store
 * each); now the peer's bound. */
static void
t_flood_keeps_the_peer_bound(void **state)
{
    (void)state;
    s_tmpdir();
    ot_store *s = s_open(NULL);
    for (int m = 0; m < 20; m++) {
        assert_int_equal(s_junk(s, "a", T_JUNK_MAX, 0), 0);
        s_kept(T_JUNK_MAX);
    }
    t_rows t = s_rows(s);
    ot_store_stats st;
    assert_int_equal(ot_store_stats_get(s, &st), 0);
    assert_int_equal(st.rejected, 20 * T_JUNK_MAX);
    print_message("flood of %d events: %zu rows (%zu summaries), %llu bytes of records\n",
                  20 * T_JUNK_MAX, t.rows, t.summaries, (unsigned long long)t.bytes);
    assert_true(t.rows <= OT_STORE_REJECT_PEER_ROWS);
    assert_true(t.bytes + t.rows * OT_STORE_REJECT_ROW_OVERHEAD <= OT_STORE_REJECT_PEER_BYTES);
    assert_true(t.summaries >= 1);
    ot_store_close(&s);
    s_rmdir();
}

int
main(void)
{
    memset(s_raw, 'j', sizeof s_raw);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_message_cap),
        cmocka_unit_test(t_peer_and_all_caps),
        cmocka_unit_test(t_bytes_cap),
        cmocka_unit_test(t_window_rolls),
        cmocka_unit_test(t_failed_ingest_restores_budget),
        cmocka_unit_test(t_refused_messages_budgeted),
        cmocka_unit_test(t_flood_keeps_the_peer_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
