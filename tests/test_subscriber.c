/*
 * test_subscriber: unit tests of subscriber/ot_subscriber.c against a fake
 * consumer in the same process (a PUB and a ROUTER on loopback TCP, sending
 * the messages the consumer sends, written by the same lib/ot_update.h).
 *
 * The test is single-threaded: ot_subscriber_next() is called with short
 * timeouts and, whenever it has nothing (EAGAIN), the fake serves pending
 * snapshot requests and, like the real publisher when idle, sends a
 * heartbeat. Covered:
 *  - snapshot rows, end marker, then updates; a view filter tracks its
 *    view_seq ("country" does not receive "country,quarter");
 *  - updates already in the snapshot are dropped (Clone pattern);
 *  - a gap, a heartbeat ahead, a sequence going backwards, a silent stream:
 *    each a RESYNC with its reason, then a complete new snapshot;
 *  - an unanswered snapshot request is retried on a fresh connection, then
 *    OT_ETIMEOUT; a first refusal is OT_ENOTFOUND with the server's text, a
 *    later one (the request was fine before) is retried;
 *  - prefix filters, snapshot_only, option errors;
 *  - chunked replies (issue 10, item 7): rows of every chunk, then the end;
 *    the request carries the subscriber's max_message_bytes; an older
 *    consumer's single message without a rows count is understood; a
 *    missing chunk or a short rows count is a RESYNC and a new snapshot; a
 *    single message over the limit (an older consumer) ends in EMSGSIZE
 *    with the limit in the text after three attempts, not in asking
 *    forever (both checks seen to fail with the check removed).
 *  - figures (issue 11): a figures subscriber asks no snapshot, hands out
 *    each FigureUpdate with its figure, log_seq and figure_seq, says when
 *    figure_seq skips (how many were missed) or goes backwards, and never
 *    sees tallies; a tally subscriber of everything (topic "") skips the
 *    figures' topics rather than take them for broken tally updates.
 * Each safety check was seen to fail with the check removed from the
 * library (gap, heartbeat-ahead, backwards, stale drop). The two gap tests
 * also run, through tests/cmake/h5.cmake, against a library built with
 * OT_TEST_BROKEN_IGNORE_GAPS, where they must fail (a test name given as
 * the first argument selects the tests to run, as a cmocka filter).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "ot_clock.h"
#include "ot_error.h"
#include "ot_json.h"
#include "ot_subscriber.h"
#include "ot_update.h"
#include "ot_view.h"

#define F_MAX_ROWS 16
#define F_WAIT_MS  5000     /* a test step gives up after this */
#define F_MAX_VIEWS 16

/* The fake consumer: tallies (events only), sequences, sockets. */
typedef struct f_row {
    char key[64];
    int64_t events;
} f_row;

typedef struct f_fake {
    void *ctx, *pub, *router;
    char pub_ep[64], snap_ep[64];
    f_row rows[F_MAX_ROWS];
    size_t nrows;
    uint64_t seq;               /* the store-wide update sequence */
    uint64_t figure_seq;        /* what heartbeats say of figures */
    uint64_t view_seq[F_MAX_VIEWS];
    bool answer;                /* answer snapshot requests */
    bool hold;                  /* keep the next request unanswered for now */
    Optally__SnapshotRequest *held;
    const char *refuse;         /* answer them with this error */
    bool refuse_retry;          /* ... marked as passing (SnapshotReply.retry) */
    size_t requests;            /* requests received */
    char last_ident[32];        /* routing id of the last request */
    size_t last_ident_len;
    bool ident_changed;         /* a request came from a new peer */
    bool idle_heartbeats;       /* send heartbeats while the subscriber waits */
    size_t chunk_rows;          /* rows per reply message (0: all in one) */
    bool old_style;             /* the last message has no rows count (an older consumer) */
    uint32_t skip_chunk;        /* not 0: the next reply loses this chunk (once) */
    bool lie_rows;              /* the next reply's rows count is one too many (once) */
    size_t pad_rows;            /* the reply repeats the first row this often more */
    uint32_t asked_max;         /* max_message_bytes of the last request */
    int64_t hb_at;
    ot_subscriber *sub;
} f_fake;

static size_t
s_view_index(const char *key)
{
    const ot_view *v;
    const char *vals[OT_VIEW_MAX_FIELDS];
    char buf[OT_VIEW_KEY_MAX];
    assert_int_equal(ot_view_key_split(key, strlen(key), &v, vals, buf, sizeof buf), 0);
    for (size_t i = 0; i < ot_view_count(); i++)
        if (ot_view_at(i) == v)
            return i;
    fail();
    return 0;
}

static void
s_bind(void *sock, char *ep, size_t cap)
{
    assert_int_equal(zmq_bind(sock, "tcp://127.0.0.1:*"), 0);
    size_t len = cap;
    assert_int_equal(zmq_getsockopt(sock, ZMQ_LAST_ENDPOINT, ep, &len), 0);
}

static f_fake *
s_fake_new(void)
{
    f_fake *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->ctx = zmq_ctx_new();
    f->pub = zmq_socket(f->ctx, ZMQ_PUB);
    f->router = zmq_socket(f->ctx, ZMQ_ROUTER);
    int zero = 0;
    zmq_setsockopt(f->pub, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(f->router, ZMQ_LINGER, &zero, sizeof zero);
    s_bind(f->pub, f->pub_ep, sizeof f->pub_ep);
    s_bind(f->router, f->snap_ep, sizeof f->snap_ep);
    f->answer = true;
    f->idle_heartbeats = true;
    const char *keys[] = { "total", "country/IQ", "country/SY", "country,quarter/IQ/2024-Q1",
                           "country,quarter/SY/2024-Q1" };
    const int64_t events[] = { 8, 5, 3, 5, 3 };
    for (size_t i = 0; i < 5; i++) {
        snprintf(f->rows[i].key, sizeof f->rows[i].key, "%s", keys[i]);
        f->rows[i].events = events[i];
        f->seq++;
        f->view_seq[s_view_index(keys[i])]++;
    }
    f->nrows = 5;
    return f;
}

static void
s_fake_free(f_fake *f)
{
    ot_subscriber_close(&f->sub);
    ot_subscriber_close(&f->sub);   /* safe twice */
    optally__snapshot_request__free_unpacked(f->held, NULL);
    zmq_close(f->pub);
    zmq_close(f->router);
    zmq_ctx_term(f->ctx);
    free(f);
}

static int
s_setup(void **state)
{
    *state = s_fake_new();
    return 0;
}

static int
s_teardown(void **state)
{
    s_fake_free(*state);
    return 0;
}

static void
s_heartbeat(f_fake *f)
{
    uint8_t buf[OT_UPDATE_SEQS_MAX];
    size_t len;
    assert_int_equal(ot_update_heartbeat_pack(NULL, f->seq, f->view_seq, F_MAX_VIEWS, f->figure_seq, 0, buf,
                                              sizeof buf,
                                              &len), 0);
    zmq_send(f->pub, OT_UPDATE_HEARTBEAT_TOPIC, strlen(OT_UPDATE_HEARTBEAT_TOPIC), ZMQ_SNDMORE);
    zmq_send(f->pub, buf, len, 0);
}

/* Publish the update of key: counters after c, delta d, the sequences. */
static void
s_publish(f_fake *f, const char *key, const ot_counts *c, const ot_counts *d, uint64_t seq,
          uint64_t view_seq)
{
    ot_update_tally m;
    uint8_t buf[OT_UPDATE_TALLY_MAX];
    size_t len;
    assert_int_equal(ot_update_tally_fill(&m, NULL, key, strlen(key), c, d), 0);
    m.u.seq = seq;
    m.u.view_seq = view_seq;
    assert_int_equal(ot_update_tally_pack(&m, buf, sizeof buf, &len), 0);
    zmq_send(f->pub, key, strlen(key), ZMQ_SNDMORE);
    zmq_send(f->pub, buf, len, 0);
}

/* Change key by d events: the next sequences, published unless dropped
 * (as a high-water mark would). */
static void
s_update(f_fake *f, const char *key, int64_t d, bool publish)
{
    f_row *r = NULL;
    for (size_t i = 0; i < f->nrows; i++)
        if (!strcmp(f->rows[i].key, key))
            r = &f->rows[i];
    if (!r) {
        assert_true(f->nrows < F_MAX_ROWS);
        r = &f->rows[f->nrows++];
        snprintf(r->key, sizeof r->key, "%s", key);
    }
    r->events += d;
    size_t vi = s_view_index(key);
    f->seq++;
    f->view_seq[vi]++;
    ot_counts c = { .events = r->events }, delta = { .events = d };
    if (publish)
        s_publish(f, key, &c, &delta, f->seq, f->view_seq[vi]);
}

/* Publish an update with explicit sequences (a replaced store). */
static void
s_update_raw(f_fake *f, const char *key, uint64_t seq, uint64_t view_seq)
{
    ot_counts c = { .events = 1 }, delta = { .events = 1 };
    s_publish(f, key, &c, &delta, seq, view_seq);
}

/* Send out as one reply message to peer id (idlen bytes), and empty it. */
static void
s_send_reply(f_fake *f, const void *id, size_t idlen, ot_buf *out)
{
    zmq_send(f->router, id, idlen, ZMQ_SNDMORE);
    zmq_send(f->router, out->data, out->len, 0);
    ot_buf_free(out);
}

/* Answer the request rq from peer id (idlen bytes): the rows it selects
 * and the sequences, or f->refuse; built as the snapshot service does,
 * in chunks of f->chunk_rows rows (the service cuts by bytes). */
static void
s_answer(f_fake *f, const void *id, size_t idlen, const Optally__SnapshotRequest *rq)
{
    ot_buf out = { 0 };
    char prefix[128];
    const ot_view *v = rq->view[0] ? ot_view_find(rq->view) : NULL;
    snprintf(prefix, sizeof prefix, "%s%s", v ? v->name : rq->prefix, v && v->nfields ? "/" : "");
    f->asked_max = rq->max_message_bytes;
    if (f->refuse) {
        assert_int_equal(ot_update_reply_error(&out, f->refuse, f->refuse_retry), 0);
        s_send_reply(f, id, idlen, &out);
        return;
    }
    uint32_t chunk = 0;
    uint64_t rows = 0, inchunk = 0;
    for (size_t i = 0; i < f->nrows + f->pad_rows; i++) {
        const f_row *r = &f->rows[i < f->nrows ? i : 0];
        if (strncmp(r->key, prefix, strlen(prefix)) != 0)
            continue;
        if (f->chunk_rows && inchunk == f->chunk_rows) {
            assert_int_equal(ot_update_reply_chunk(&out, chunk), 0);
            if (f->skip_chunk && chunk == f->skip_chunk)
                ot_buf_free(&out);      /* lost */
            else
                s_send_reply(f, id, idlen, &out);
            chunk++;
            inchunk = 0;
        }
        ot_counts c = { .events = r->events };
        assert_int_equal(ot_update_reply_row(&out, NULL, r->key, strlen(r->key), &c), 0);
        rows++;
        inchunk++;
    }
    uint64_t said = f->old_style ? 0 : rows + (f->lie_rows ? 1 : 0);
    assert_int_equal(ot_update_reply_end(&out, NULL, f->old_style ? 0 : chunk, said, f->seq, f->view_seq,
                                         F_MAX_VIEWS), 0);
    s_send_reply(f, id, idlen, &out);
    f->skip_chunk = 0;
    f->lie_rows = false;
}

/* Take every pending request: answer it (f->answer), keep it for
 * s_answer_held (f->hold), or drop it (neither: a lost request). */
static void
s_serve(f_fake *f)
{
    for (;;) {
        zmq_msg_t id, req;
        zmq_msg_init(&id);
        zmq_msg_init(&req);
        if (zmq_msg_recv(&id, f->router, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&id);
            zmq_msg_close(&req);
            return;
        }
        assert_true(zmq_msg_more(&id));
        assert_true(zmq_msg_recv(&req, f->router, 0) >= 0);
        assert_false(zmq_msg_more(&req));   /* the client sends one frame */
        f->requests++;
        f->ident_changed = zmq_msg_size(&id) != f->last_ident_len ||
                           memcmp(zmq_msg_data(&id), f->last_ident, f->last_ident_len) != 0;
        assert_true(zmq_msg_size(&id) <= sizeof f->last_ident);
        f->last_ident_len = zmq_msg_size(&id);
        memcpy(f->last_ident, zmq_msg_data(&id), f->last_ident_len);
        Optally__SnapshotRequest *rq = optally__snapshot_request__unpack(NULL, zmq_msg_size(&req),
                                                                         zmq_msg_data(&req));
        assert_non_null(rq);
        if (f->hold) {
            assert_null(f->held);
            f->held = rq;
            rq = NULL;
        } else if (f->answer) {
            s_answer(f, zmq_msg_data(&id), zmq_msg_size(&id), rq);
        }
        optally__snapshot_request__free_unpacked(rq, NULL);
        zmq_msg_close(&id);
        zmq_msg_close(&req);
    }
}

static void
s_answer_held(f_fake *f)
{
    assert_non_null(f->held);
    s_answer(f, f->last_ident, f->last_ident_len, f->held);
    optally__snapshot_request__free_unpacked(f->held, NULL);
    f->held = NULL;
    f->hold = false;
}

/* The next event that is not a heartbeat, serving the subscriber meanwhile.
 * Returns the code of ot_subscriber_next (never EAGAIN: fails after
 * F_WAIT_MS). */
static int
s_next(f_fake *f, ot_sub_event *ev)
{
    int64_t end = ot_clock_mono_ms() + F_WAIT_MS;
    while (ot_clock_mono_ms() < end) {
        int rc = ot_subscriber_next(f->sub, 10, ev);
        if (rc == 0 && ev->kind == OT_SUB_HEARTBEAT && !ev->reason)
            continue;   /* liveness only; one with a reason (figures missed) is news */
        if (rc != EAGAIN)
            return rc;
        s_serve(f);
        if (f->idle_heartbeats && ot_clock_mono_ms() - f->hb_at >= 30) {
            s_heartbeat(f);
            f->hb_at = ot_clock_mono_ms();
        }
    }
    fail_msg("no event within %d ms", F_WAIT_MS);
    return -1;
}

static void
s_expect(f_fake *f, ot_sub_kind kind, ot_sub_event *ev)
{
    int rc = s_next(f, ev);
    if (rc != 0)
        fail_msg("next: %s (%s)", ot_strerror(rc), ot_subscriber_error(f->sub));
    if (ev->kind != kind)
        fail_msg("event kind %d, want %d (reason: %s)", ev->kind, kind,
                 ev->reason ? ev->reason : "-");
}

static void
s_open(f_fake *f, const char *view, const char *prefix, ot_subscriber_options *extra)
{
    ot_subscriber_options o = { 0 };
    if (extra)
        o = *extra;
    o.updates = f->pub_ep;
    o.snapshot = f->snap_ep;
    o.view = view;
    o.prefix = prefix;
    if (!o.snapshot_timeout_ms)
        o.snapshot_timeout_ms = 1000;
    assert_int_equal(ot_subscriber_open(&o, &f->sub), 0);
}

/* The snapshot rows up to its end: their keys joined by ' '. OUT: *end. */
static void
s_snapshot(f_fake *f, char *keys, size_t cap, ot_sub_event *end)
{
    ot_sub_event ev;
    keys[0] = 0;
    for (;;) {
        int rc = s_next(f, &ev);
        assert_int_equal(rc, 0);
        if (ev.kind == OT_SUB_SNAPSHOT_END)
            break;
        assert_int_equal(ev.kind, OT_SUB_ROW);
        size_t n = strlen(keys);
        snprintf(keys + n, cap - n, "%s%s", n ? " " : "", ev.key);
    }
    *end = ev;
}

static void
t_view_snapshot_then_updates(void **state)
{
    f_fake *f = *state;
    s_open(f, "country", NULL, NULL);
    char keys[512];
    ot_sub_event ev;
    s_snapshot(f, keys, sizeof keys, &ev);
    assert_string_equal(keys, "country/IQ country/SY");
    assert_int_equal(ev.seq, 5);
    assert_int_equal(ev.view_seq, 2);

    s_update(f, "country/IQ", 1, true);
    s_expect(f, OT_SUB_UPDATE, &ev);
    assert_string_equal(ev.key, "country/IQ");
    assert_string_equal(ev.view, "country");
    assert_int_equal(ev.nfields, 1);
    assert_string_equal(ev.fields[0], "country");
    assert_string_equal(ev.values[0], "IQ");
    assert_int_equal(ev.counts.events, 6);
    assert_int_equal(ev.delta.events, 1);
    assert_int_equal(ev.seq, 6);
    assert_int_equal(ev.view_seq, 3);
    /* Not ours ("country" is a prefix of "country,quarter"), and the
     * store-wide seq jumps: no gap, since view_seq is what counts. */
    s_update(f, "country,quarter/IQ/2024-Q1", 1, true);
    s_update(f, "total", 1, true);
    s_update(f, "country/SY", -3, true);
    s_expect(f, OT_SUB_UPDATE, &ev);
    assert_string_equal(ev.key, "country/SY");
    assert_int_equal(ev.counts.events, 0);     /* the tally is gone */
    assert_int_equal(ev.seq, 9);
    assert_int_equal(ev.view_seq, 4);
    ot_subscriber_stats st;
    ot_subscriber_stats_get(f->sub, &st);
    assert_int_equal(st.resyncs, 0);
    assert_int_equal(st.updates, 2);
}

static void
t_lost_request_retried(void **state)
{
    f_fake *f = *state;
    s_open(f, NULL, NULL, NULL);
    ot_sub_event ev;
    f->answer = false;                  /* the first request is lost */
    int64_t end = ot_clock_mono_ms() + F_WAIT_MS;
    while (f->requests == 0 && ot_clock_mono_ms() < end) {
        assert_int_equal(ot_subscriber_next(f->sub, 10, &ev), EAGAIN);
        s_serve(f);
        s_heartbeat(f);
    }
    assert_int_equal(f->requests, 1);
    s_update(f, "country/IQ", 1, true);
    s_update(f, "total", 1, true);
    f->answer = true;
    s_expect(f, OT_SUB_RESYNC, &ev);
    assert_non_null(strstr(ev.reason, "did not answer within 1000 ms; asking again (attempt 2)"));
    char keys[512];
    s_snapshot(f, keys, sizeof keys, &ev);
    assert_int_equal(ev.seq, 7);
    assert_true(f->ident_changed);      /* asked again on a fresh DEALER */
    s_update(f, "country/SY", 1, true);
    s_expect(f, OT_SUB_UPDATE, &ev);
    assert_int_equal(ev.seq, 8);
}

static void
t_updates_in_snapshot_dropped(void **state)
{
    f_fake *f = *state;
    s_open(f, NULL, NULL, NULL);
    ot_sub_event ev;
    f->hold = true;
    f->idle_heartbeats = false;
    /* A heartbeat gets the subscriber past its subscription wait; few, so
     * none is left in flight behind the snapshot. */
    int64_t end = ot_clock_mono_ms() + F_WAIT_MS, hb = 0;
    while (!f->held && ot_clock_mono_ms() < end) {
        assert_int_equal(ot_subscriber_next(f->sub, 10, &ev), EAGAIN);
        s_serve(f);
        if (ot_clock_mono_ms() - hb > 200) {
            s_heartbeat(f);
            hb = ot_clock_mono_ms();
        }
    }
    assert_non_null(f->held);
    /* Committed and published after the request came, before the snapshot
     * was read: in the snapshot AND queued on the SUB. */
    s_update(f, "country/IQ", 1, true);
    s_update(f, "total", 1, true);
    s_answer_held(f);
    char keys[512];
    s_snapshot(f, keys, sizeof keys, &ev);
    assert_int_equal(ev.seq, 7);
    s_update(f, "country,quarter/IQ/2024-Q1", 1, true);
    s_expect(f, OT_SUB_UPDATE, &ev);
    assert_int_equal(ev.seq, 8);
    assert_int_equal(ev.counts.events, 6);
    ot_subscriber_stats st;
    ot_subscriber_stats_get(f->sub, &st);
    assert_int_equal(st.stale, 2);
    assert_int_equal(st.resyncs, 0);
    assert_int_equal(st.updates, 1);
}

static void
t_gap_resnapshots(void **state)
{
    f_fake *f = *state;
    s_open(f, NULL, NULL, NULL);
    char keys[512];
    ot_sub_event ev;
    s_snapshot(f, keys, sizeof keys, &ev);
    f->idle_heartbeats = false;
    s_update(f, "country/IQ", 1, true);
    s_expect(f, OT_SUB_UPDATE, &ev);
    s_update(f, "country/SY", 1, false);        /* dropped on the way */
    s_update(f, "total", 1, true);
    s_expect(f, OT_SUB_RESYNC, &ev);
    assert_string_equal(ev.reason, "gap detected (expected seq 7, got 8); re-snapshotting");
    f->idle_heartbeats = true;
    s_snapshot(f, keys, sizeof keys, &ev);
    assert_int_equal(ev.seq, 8);
    assert_non_null(strstr(keys, "country/SY"));
    s_update(f, "total", 1, true);
    s_expect(f, OT_SUB_UPDATE, &ev);
    assert_int_equal(ev.seq, 9);
    assert_int_equal(ev.counts.events, 10);
}

static void
t_heartbeat_ahead_resnapshots(void **state)
{
    f_fake *f = *state;
    s_open(f, "country,quarter", NULL, NULL);
    char keys[512];
    ot_sub_event ev;
    s_snapshot(f, keys, sizeof keys, &ev);
    assert_string_equal(keys, "country,quarter/IQ/2024-Q1 country,quarter/SY/2024-Q1");
    s_update(f, "country/IQ", 1, false);        /* not our view: no effect */
    s_update(f, "country,quarter/IQ/2024-Q1", 1, false);   /* ours, lost */
    s_expect(f, OT_SUB_RESYNC, &ev);
    assert_string_equal(ev.reason, "missed update(s): heartbeat says view_seq 3, last applied 2;"
                                   " re-snapshotting");
    s_snapshot(f, keys, sizeof keys, &ev);
    assert_int_equal(ev.view_seq, 3);
}

static void
t_backwards_resnapshots(void **state)
{
    f_fake *f = *state;
    s_open(f, NULL, NULL, NULL);
    char keys[512];
    ot_sub_event ev;
    s_snapshot(f, keys, sizeof keys, &ev);
    s_update(f, "total", 1, true);
    s_expect(f, OT_SUB_UPDATE, &ev);
    f->idle_heartbeats = false;
    s_update_raw(f, "total", 3, 1);             /* a younger store */
    s_expect(f, OT_SUB_RESYNC, &ev);
    assert_non_null(strstr(ev.reason, "sequence went backwards (expected seq 7, got 3)"));
}

static void
t_silence_reconnects(void **state)
{
    f_fake *f = *state;
    ot_subscriber_options o = { .dead_ms = 300 };
    s_open(f, NULL, "country/", &o);
    char keys[512];
    ot_sub_event ev;
    s_snapshot(f, keys, sizeof keys, &ev);
    assert_string_equal(keys, "country/IQ country/SY");
    f->idle_heartbeats = false;
    int64_t t0 = ot_clock_mono_ms();
    s_expect(f, OT_SUB_RESYNC, &ev);
    assert_true(ot_clock_mono_ms() - t0 >= 250);
    assert_non_null(strstr(ev.reason, "no update or heartbeat"));
    f->idle_heartbeats = true;
    f->requests = 0;
    s_snapshot(f, keys, sizeof keys, &ev);
    assert_int_equal(f->requests, 1);
    assert_true(f->ident_changed);              /* a new connection */
}

static void
t_unanswered_then_timeout(void **state)
{
    f_fake *f = *state;
    ot_subscriber_options o = { .snapshot_tries = 2, .snapshot_timeout_ms = 150 };
    s_open(f, NULL, NULL, &o);
    f->answer = false;
    ot_sub_event ev;
    s_expect(f, OT_SUB_RESYNC, &ev);
    assert_non_null(strstr(ev.reason, "did not answer within 150 ms; asking again (attempt 2)"));
    assert_int_equal(s_next(f, &ev), OT_ETIMEOUT);
    assert_int_equal(f->requests, 2);
    assert_true(f->ident_changed);              /* the retry came on a fresh DEALER */
    assert_non_null(strstr(ot_subscriber_error(f->sub), "did not answer"));
    assert_int_equal(ot_subscriber_next(f->sub, 0, &ev), OT_ETIMEOUT);    /* sticky */
}

static void
t_refusal(void **state)
{
    f_fake *f = *state;
    s_open(f, "total", NULL, NULL);
    f->refuse = "unknown view 'x'; views: total";
    ot_sub_event ev;
    assert_int_equal(s_next(f, &ev), OT_ENOTFOUND);
    assert_string_equal(ot_subscriber_error(f->sub),
                        "snapshot service refused the request: unknown view 'x'; views: total");
}

static void
t_later_refusal_is_retried(void **state)
{
    f_fake *f = *state;
    s_open(f, "total", NULL, NULL);
    char keys[512];
    ot_sub_event ev;
    s_snapshot(f, keys, sizeof keys, &ev);
    f->idle_heartbeats = false;
    s_update(f, "total", 1, false);
    s_update(f, "total", 1, true);
    s_expect(f, OT_SUB_RESYNC, &ev);            /* the gap */
    f->refuse = "snapshot failed: store read error; retry";
    s_expect(f, OT_SUB_RESYNC, &ev);            /* served before: passing */
    assert_non_null(strstr(ev.reason, "refused the request: snapshot failed"));
    f->refuse = NULL;
    f->idle_heartbeats = true;
    s_snapshot(f, keys, sizeof keys, &ev);
    assert_string_equal(keys, "total");
    assert_int_equal(ev.view_seq, 3);
}

/* A first refusal marked retry is passing: the subscriber asks again
 * instead of giving up. */
static void
t_first_refusal_with_retry(void **state)
{
    f_fake *f = *state;
    s_open(f, "total", NULL, NULL);
    f->refuse = "snapshot failed: store read error; retry";
    f->refuse_retry = true;
    ot_sub_event ev;
    s_expect(f, OT_SUB_RESYNC, &ev);
    assert_non_null(strstr(ev.reason, "store read error"));
    f->refuse = NULL;
    f->refuse_retry = false;
    char keys[512];
    s_snapshot(f, keys, sizeof keys, &ev);
    assert_string_equal(keys, "total");
}

static void
t_prefix_filters_client_side(void **state)
{
    f_fake *f = *state;
    s_open(f, NULL, "country,quarter/IQ/", NULL);
    char keys[512];
    ot_sub_event ev;
    s_snapshot(f, keys, sizeof keys, &ev);
    assert_string_equal(keys, "country,quarter/IQ/2024-Q1");
    assert_int_equal(ev.view_seq, 2);
    s_update(f, "country,quarter/SY/2024-Q1", 1, true);    /* counted, not shown */
    s_update(f, "country,quarter/IQ/2024-Q2", 1, true);
    s_expect(f, OT_SUB_UPDATE, &ev);
    assert_string_equal(ev.key, "country,quarter/IQ/2024-Q2");
    assert_int_equal(ev.view_seq, 4);
    ot_subscriber_stats st;
    ot_subscriber_stats_get(f->sub, &st);
    assert_int_equal(st.updates, 2);
    assert_int_equal(st.resyncs, 0);
}

static void
t_snapshot_only(void **state)
{
    f_fake *f = *state;
    ot_subscriber_options o = { .snapshot_only = true };
    f->idle_heartbeats = false;
    s_open(f, NULL, "country", &o);     /* prefix of several view names */
    char keys[512];
    ot_sub_event ev;
    s_snapshot(f, keys, sizeof keys, &ev);
    assert_string_equal(keys, "country/IQ country/SY country,quarter/IQ/2024-Q1 "
                              "country,quarter/SY/2024-Q1");
    assert_int_equal(ot_subscriber_next(f->sub, 0, &ev), ENODATA);
}

/* A reply in chunks (2 rows each: 3 messages) gives every row once, then
 * the end; the request asks for chunks no bigger than the subscriber's
 * limit (the default, or the option). An older consumer's single message
 * without a rows count is still understood. */
static void
t_chunked_snapshot(void **state)
{
    f_fake *f = *state;
    f->chunk_rows = 2;
    s_open(f, NULL, NULL, NULL);
    char keys[512];
    ot_sub_event ev;
    s_snapshot(f, keys, sizeof keys, &ev);
    assert_string_equal(keys, "total country/IQ country/SY country,quarter/IQ/2024-Q1 "
                              "country,quarter/SY/2024-Q1");
    assert_int_equal(ev.seq, 5);
    assert_int_equal(f->asked_max, OT_SUBSCRIBER_DEFAULT_MAX_MESSAGE);
    s_update(f, "country/IQ", 1, true);
    s_expect(f, OT_SUB_UPDATE, &ev);
    assert_int_equal(ev.seq, 6);
    ot_subscriber_close(&f->sub);

    ot_subscriber_options o = { .max_message_bytes = 65536 };
    f->chunk_rows = 0;
    f->old_style = true;
    s_open(f, "country", NULL, &o);
    s_snapshot(f, keys, sizeof keys, &ev);
    assert_string_equal(keys, "country/IQ country/SY");
    assert_int_equal(f->asked_max, 65536);
}

/* A chunk that never arrives, or a rows count above the rows received:
 * the snapshot is incomplete, so no SNAPSHOT_END: a RESYNC that says so
 * and a whole new snapshot. (Seen to fail without the checks: the
 * incomplete snapshot ended normally.) */
static void
t_incomplete_snapshot_resnapshots(void **state)
{
    f_fake *f = *state;
    f->chunk_rows = 2;
    f->skip_chunk = 1;
    s_open(f, NULL, NULL, NULL);
    ot_sub_event ev;
    size_t rows = 0;
    for (;;) {
        assert_int_equal(s_next(f, &ev), 0);
        if (ev.kind != OT_SUB_ROW)
            break;
        rows++;
    }
    if (ev.kind != OT_SUB_RESYNC)
        fail_msg("event kind %d after %zu rows of a reply missing chunk 1, want a RESYNC", ev.kind,
                 rows);
    assert_non_null(strstr(ev.reason, "sent chunk 2 where 1 was due"));
    char keys[512];
    s_snapshot(f, keys, sizeof keys, &ev);
    assert_string_equal(keys, "total country/IQ country/SY country,quarter/IQ/2024-Q1 "
                              "country,quarter/SY/2024-Q1");

    /* The rows count: the last chunk says 6, 5 came. */
    f->lie_rows = true;
    s_update(f, "country/IQ", 1, false);    /* a gap: re-snapshot */
    s_update(f, "country/SY", 1, true);
    s_expect(f, OT_SUB_RESYNC, &ev);
    assert_non_null(strstr(ev.reason, "gap detected"));
    for (;;) {
        assert_int_equal(s_next(f, &ev), 0);
        if (ev.kind != OT_SUB_ROW)
            break;
    }
    if (ev.kind != OT_SUB_RESYNC)
        fail_msg("event kind %d after a reply short of a row, want a RESYNC", ev.kind);
    assert_non_null(strstr(ev.reason, "sent 5 rows of a reply of 6"));
    s_snapshot(f, keys, sizeof keys, &ev);
    assert_int_equal(ev.seq, 7);
}

/* An older consumer sends the snapshot as one message; one over the
 * subscriber's limit makes ZeroMQ drop the connection, every attempt.
 * After three, a clear error (EMSGSIZE, with the limit) instead of asking
 * forever. (Fails on the library before chunking: no event, ever.) */
static void
t_oversized_reply_is_an_error(void **state)
{
    f_fake *f = *state;
    f->old_style = true;
    f->pad_rows = 1000;                 /* ~25 KB in one message */
    f->idle_heartbeats = false;
    /* snapshot_only asks at once; live, the DEALER's connection is up
     * before the first request (the SUB waits for a message first). */
    for (int live = 0; live < 2; live++) {
        ot_subscriber_options o = { .max_message_bytes = 16384, .snapshot_timeout_ms = 1000,
                                    .snapshot_only = !live };
        ot_subscriber_close(&f->sub);
        f->requests = 0;
        s_open(f, NULL, NULL, &o);
        ot_sub_event ev;
        int rc;
        int64_t end = ot_clock_mono_ms() + 4 * F_WAIT_MS;
        do {
            rc = ot_subscriber_next(f->sub, 10, &ev);
            s_serve(f);
        } while ((rc == EAGAIN || (rc == 0 && ev.kind == OT_SUB_RESYNC)) &&
                 ot_clock_mono_ms() < end);
        if (rc != EMSGSIZE)
            fail_msg("%s: next: %d (%s), want EMSGSIZE; %zu requests", live ? "live" : "snapshot_only",
                     rc, ot_strerror(rc), f->requests);
        assert_non_null(strstr(ot_subscriber_error(f->sub), "limit of 16384 bytes"));
        /* 3 attempts in a row dropped; on a loaded machine an attempt may
         * time out before the reply is even sent: it does not count. */
        assert_true(f->requests >= 3);
    }
}

/* Publish the FigureUpdate of a figure of metric m, value v, with the
 * sequences given, as the consumer's publisher does. */
static void
s_publish_figure(f_fake *f, const char *m, uint64_t v, uint64_t log_seq, uint64_t figure_seq)
{
    Optally__Figure fig = OPTALLY__FIGURE__INIT;
    char *scope[] = { "IQ", "SY" };
    char id[32];
    snprintf(id, sizeof id, "fig-%" PRIu64, figure_seq);
    fig.figure_id = id;
    fig.source = "CENTCOM";
    fig.metric = (char *)m;
    fig.scope = scope;
    fig.n_scope = 2;
    fig.as_of = "2024-04-15";
    fig.value = v;
    fig.qualifier = OPTALLY__QUALIFIER__APPROX;
    uint8_t *buf = NULL;
    size_t len = 0, tlen = 0;
    char topic[OT_UPDATE_FIGURE_TOPIC_MAX];
    assert_int_equal(ot_update_figure_pack(&fig, log_seq, figure_seq, 1700000000000, &buf, &len), 0);
    assert_int_equal(ot_update_figure_topic(&fig, topic, sizeof topic, &tlen), 0);
    zmq_send(f->pub, topic, tlen, ZMQ_SNDMORE);
    zmq_send(f->pub, buf, len, 0);
    free(buf);
}

/* Open a figures subscriber and wait until its subscription is in effect
 * (a heartbeat reached it: figures have no snapshot to cover the start). */
static void
s_open_figures(f_fake *f)
{
    ot_subscriber_options o = { .updates = f->pub_ep, .snapshot = f->snap_ep, .figures = true };
    assert_int_equal(ot_subscriber_open(&o, &f->sub), 0);
    int64_t end = ot_clock_mono_ms() + F_WAIT_MS;
    for (;;) {
        ot_sub_event ev;
        int rc = ot_subscriber_next(f->sub, 10, &ev);
        if (rc == 0) {
            assert_int_equal(ev.kind, OT_SUB_HEARTBEAT);
            return;
        }
        assert_int_equal(rc, EAGAIN);
        assert_true(ot_clock_mono_ms() < end);
        s_heartbeat(f);
    }
}

/* A figures subscriber: no snapshot request; each figure handed out with
 * its fields and sequences; tally updates are not seen; a skip in
 * figure_seq is told with the count missed, a step back as such. */
static void
t_figures_stream(void **state)
{
    f_fake *f = *state;
    s_open_figures(f);
    ot_sub_event ev;
    s_update(f, "total", 1, true);                  /* a tally: not for this subscriber */
    s_publish_figure(f, "fighters_at_large", 2500, 41, 1);
    s_expect(f, OT_SUB_FIGURE, &ev);
    assert_non_null(ev.figure);
    assert_string_equal(ev.figure->metric, "fighters_at_large");
    assert_string_equal(ev.figure->figure_id, "fig-1");
    assert_int_equal(ev.figure->n_scope, 2);
    assert_string_equal(ev.figure->scope[1], "SY");
    assert_int_equal(ev.figure->value, 2500);
    assert_int_equal(ev.figure->qualifier, OPTALLY__QUALIFIER__APPROX);
    assert_int_equal(ev.log_seq, 41);
    assert_int_equal(ev.figure_seq, 1);
    assert_int_equal(ev.committed_at, 1700000000000);
    assert_null(ev.reason);
    assert_int_equal(ev.missed, 0);
    s_publish_figure(f, "detainees_held", 9000, 42, 2);
    s_expect(f, OT_SUB_FIGURE, &ev);
    assert_string_equal(ev.figure->metric, "detainees_held");
    assert_null(ev.reason);
    s_publish_figure(f, "camp_residents", 45000, 50, 5);   /* 3 and 4 lost */
    s_expect(f, OT_SUB_FIGURE, &ev);
    assert_int_equal(ev.figure_seq, 5);
    assert_int_equal(ev.missed, 2);
    assert_non_null(ev.reason);
    if (!strstr(ev.reason, "figure_seq gap: expected 3, got 5 (2 figure updates missed"))
        fail_msg("reason: %s", ev.reason);
    s_publish_figure(f, "camp_residents", 45000, 51, 6);
    s_expect(f, OT_SUB_FIGURE, &ev);
    assert_null(ev.reason);
    s_publish_figure(f, "camp_residents", 1, 3, 2);        /* a younger store */
    s_expect(f, OT_SUB_FIGURE, &ev);
    assert_non_null(ev.reason);
    if (!strstr(ev.reason, "figure_seq went backwards (had 6, got 2)"))
        fail_msg("reason: %s", ev.reason);
    assert_int_equal(f->requests, 0);               /* no snapshot asked */
    ot_subscriber_stats st;
    ot_subscriber_stats_get(f->sub, &st);
    assert_int_equal(st.figures, 5);
    assert_int_equal(st.figure_gaps, 2);
    assert_int_equal(st.updates, 0);
}

/* Figures lost at the end of a stream, with no later figure to show the
 * gap: the next heartbeat names the figure_seq published, and the
 * subscriber says how many it missed. The first heartbeat is a baseline
 * (a subscriber joining late has missed nothing). */
static void
t_figures_heartbeat_gap(void **state)
{
    f_fake *f = *state;
    f->figure_seq = 7;                              /* published before it joined */
    s_open_figures(f);
    ot_sub_event ev;
    s_publish_figure(f, "fighters_at_large", 2500, 41, 8);
    s_expect(f, OT_SUB_FIGURE, &ev);
    assert_null(ev.reason);
    f->figure_seq = 8;
    s_heartbeat(f);                                 /* up to date: nothing to tell */
    f->figure_seq = 10;                             /* 9 and 10 lost, and nothing after */
    s_heartbeat(f);
    s_expect(f, OT_SUB_HEARTBEAT, &ev);
    assert_int_equal(ev.missed, 2);
    assert_non_null(ev.reason);
    if (!strstr(ev.reason, "published up to 10, the last seen was 8 (2 figure updates missed"))
        fail_msg("reason: %s", ev.reason);
    s_heartbeat(f);                                 /* told once (figure_gaps below) */
    s_publish_figure(f, "camp_residents", 45000, 50, 11);
    s_expect(f, OT_SUB_FIGURE, &ev);
    assert_null(ev.reason);
    ot_subscriber_stats st;
    ot_subscriber_stats_get(f->sub, &st);
    assert_int_equal(st.figure_gaps, 1);
    assert_int_equal(st.figures, 2);
}

/* A tally subscriber of every key (topic "") receives the figures' messages
 * too: it skips them, and the next tally update applies as usual (taken for
 * a TallyUpdate, a FigureUpdate would not decode: a RESYNC). */
static void
t_tally_subscriber_skips_figures(void **state)
{
    f_fake *f = *state;
    s_open(f, NULL, NULL, NULL);
    char keys[512];
    ot_sub_event ev;
    s_snapshot(f, keys, sizeof keys, &ev);
    f->idle_heartbeats = false;
    s_publish_figure(f, "fighters_at_large", 2500, 41, 1);
    s_update(f, "total", 2, true);
    s_expect(f, OT_SUB_UPDATE, &ev);
    assert_string_equal(ev.key, "total");
    assert_int_equal(ev.delta.events, 2);
    ot_subscriber_stats st;
    ot_subscriber_stats_get(f->sub, &st);
    assert_int_equal(st.resyncs, 0);
    assert_int_equal(st.figures, 0);
}

static void
t_options(void **state)
{
    (void)state;
    ot_subscriber *s = (ot_subscriber *)&s;
    ot_subscriber_options o = { .view = "country", .prefix = "country/" };
    assert_int_equal(ot_subscriber_open(&o, &s), OT_EUSAGE);
    assert_null(s);
    /* Names no view can have (built in, or declared: [A-Za-z0-9_.-]). */
    o = (ot_subscriber_options){ .view = "no pe" };
    assert_int_equal(ot_subscriber_open(&o, &s), OT_ENOTFOUND);
    o = (ot_subscriber_options){ .view = "a/b" };
    assert_int_equal(ot_subscriber_open(&o, &s), OT_ENOTFOUND);
    o = (ot_subscriber_options){ .prefix = "no pe/" };
    assert_int_equal(ot_subscriber_open(&o, &s), OT_ENOTFOUND);
    o = (ot_subscriber_options){ .prefix = "x y" };
    assert_int_equal(ot_subscriber_open(&o, &s), OT_ENOTFOUND);
    o = (ot_subscriber_options){ .prefix = "x,y" };     /* ',': built-in names only */
    assert_int_equal(ot_subscriber_open(&o, &s), OT_ENOTFOUND);
    assert_null(s);
    /* A name a view declared on the consumer may have: asked for (the
     * snapshot service refuses it when the consumer has no such view). */
    const char *declared[][2] = { { "nope", NULL }, { NULL, "nope/" }, { NULL, "x" },
                                  { "by_pf.v-2", NULL } };
    for (size_t i = 0; i < sizeof declared / sizeof declared[0]; i++) {
        o = (ot_subscriber_options){ .view = declared[i][0], .prefix = declared[i][1] };
        assert_int_equal(ot_subscriber_open(&o, &s), 0);
        ot_subscriber_close(&s);
    }
    o = (ot_subscriber_options){ .updates = "" };
    assert_int_equal(ot_subscriber_open(&o, &s), OT_EUSAGE);
    o = (ot_subscriber_options){ .updates = "nonsense://x" };
    assert_int_equal(ot_subscriber_open(&o, &s), EINVAL);
    o = (ot_subscriber_options){ .server_key = "0123456789012345678901234567890123456789" };
    assert_int_equal(ot_subscriber_open(&o, &s), OT_EUSAGE);   /* CURVE: all three keys */
    o = (ot_subscriber_options){ .server_key = "short", .client_public = "short",
                                 .client_secret = "short" };
    assert_int_equal(ot_subscriber_open(&o, &s), OT_EUSAGE);
    o = (ot_subscriber_options){ .max_message_bytes = OT_SUBSCRIBER_MIN_MAX_MESSAGE - 1 };
    assert_int_equal(ot_subscriber_open(&o, &s), OT_EUSAGE);
    o = (ot_subscriber_options){ .figures = true, .view = "country" };
    assert_int_equal(ot_subscriber_open(&o, &s), OT_EUSAGE);
    o = (ot_subscriber_options){ .figures = true, .prefix = "total" };
    assert_int_equal(ot_subscriber_open(&o, &s), OT_EUSAGE);
    o = (ot_subscriber_options){ .figures = true, .snapshot_only = true };
    assert_int_equal(ot_subscriber_open(&o, &s), OT_EUSAGE);
    assert_null(s);
    o = (ot_subscriber_options){ .figures = true };
    assert_int_equal(ot_subscriber_open(&o, &s), 0);
    ot_subscriber_close(&s);
    o = (ot_subscriber_options){ .prefix = "tot" };
    assert_int_equal(ot_subscriber_open(&o, &s), 0);
    ot_subscriber_close(&s);
    assert_null(s);
    ot_subscriber_close(&s);
    ot_subscriber_close(NULL);
}

int
main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(t_view_snapshot_then_updates, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_lost_request_retried, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_updates_in_snapshot_dropped, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_gap_resnapshots, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_heartbeat_ahead_resnapshots, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_backwards_resnapshots, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_silence_reconnects, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_unanswered_then_timeout, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_refusal, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_later_refusal_is_retried, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_first_refusal_with_retry, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_prefix_filters_client_side, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_snapshot_only, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_chunked_snapshot, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_incomplete_snapshot_resnapshots, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_oversized_reply_is_an_error, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_figures_stream, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_figures_heartbeat_gap, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_tally_subscriber_skips_figures, s_setup, s_teardown),
        cmocka_unit_test(t_options),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
