/*
 * test_subscriber: unit tests of subscriber/ot_subscriber.c against a fake
 * consumer in the same process (a PUB and a ROUTER on loopback TCP, using
 * the consumer's own message encoders from consumer/ot_publish.h).
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
 *  - prefix filters, snapshot_only, option errors.
 * Each safety check was seen to fail with the check removed from the
 * library (gap, heartbeat-ahead, backwards, stale drop).
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
#include <time.h>

#include <zmq.h>

#include "ot_error.h"
#include "ot_publish.h"
#include "ot_subscriber.h"
#include "ot_view.h"

#define F_MAX_ROWS 16
#define F_WAIT_MS  5000     /* a test step gives up after this */

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
    ot_store_seqs seqs;
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
    int64_t hb_at;
    ot_subscriber *sub;
} f_fake;

static int64_t
s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

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
        f->seqs.seq++;
        f->seqs.view_seq[s_view_index(keys[i])]++;
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
    Optally__Heartbeat hb = OPTALLY__HEARTBEAT__INIT;
    Optally__ViewSeq arr[OT_STORE_MAX_VIEWS], *ptrs[OT_STORE_MAX_VIEWS];
    hb.seq = f->seqs.seq;
    hb.n_views = ot_view_seqs_fill(&f->seqs, arr, ptrs);
    hb.views = ptrs;
    uint8_t buf[1024];
    size_t len = optally__heartbeat__pack(&hb, buf);
    zmq_send(f->pub, OT_SUBSCRIBER_HEARTBEAT_TOPIC, strlen(OT_SUBSCRIBER_HEARTBEAT_TOPIC), ZMQ_SNDMORE);
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
    f->seqs.seq++;
    f->seqs.view_seq[vi]++;
    if (!publish)
        return;
    ot_tally_msg m;
    ot_counts c = { .events = r->events }, delta = { .events = d };
    assert_int_equal(ot_tally_msg_fill(&m, key, strlen(key), &c, &delta), 0);
    m.u.seq = f->seqs.seq;
    m.u.view_seq = f->seqs.view_seq[vi];
    uint8_t buf[1024];
    size_t len = optally__tally_update__pack(&m.u, buf);
    zmq_send(f->pub, key, strlen(key), ZMQ_SNDMORE);
    zmq_send(f->pub, buf, len, 0);
}

/* Publish an update with explicit sequences (a replaced store). */
static void
s_update_raw(f_fake *f, const char *key, uint64_t seq, uint64_t view_seq)
{
    ot_tally_msg m;
    ot_counts c = { .events = 1 }, delta = { .events = 1 };
    assert_int_equal(ot_tally_msg_fill(&m, key, strlen(key), &c, &delta), 0);
    m.u.seq = seq;
    m.u.view_seq = view_seq;
    uint8_t buf[1024];
    size_t len = optally__tally_update__pack(&m.u, buf);
    zmq_send(f->pub, key, strlen(key), ZMQ_SNDMORE);
    zmq_send(f->pub, buf, len, 0);
}

/* Append one length-delimited field to a growing wire buffer. */
static size_t
s_put(uint8_t *out, size_t off, uint32_t field, const uint8_t *p, size_t len)
{
    uint64_t v = (uint64_t)field << 3 | 2;
    for (int k = 0; k < 2; k++) {
        do {
            out[off++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
            v >>= 7;
        } while (v);
        v = len;
    }
    memcpy(out + off, p, len);
    return off + len;
}

/* Answer the request rq from peer id (idlen bytes): the rows it selects
 * and the sequences, or f->refuse. */
static void
s_answer(f_fake *f, const void *id, size_t idlen, const Optally__SnapshotRequest *rq)
{
    static uint8_t out[65536];
    size_t off = 0;
    Optally__SnapshotReply end = OPTALLY__SNAPSHOT_REPLY__INIT;
    Optally__ViewSeq arr[OT_STORE_MAX_VIEWS], *ptrs[OT_STORE_MAX_VIEWS];
    char prefix[128];
    const ot_view *v = rq->view[0] ? ot_view_find(rq->view) : NULL;
    snprintf(prefix, sizeof prefix, "%s%s", v ? v->name : rq->prefix, v && v->nfields ? "/" : "");
    if (f->refuse) {
        end.error = (char *)f->refuse;
        end.retry = f->refuse_retry;
    } else {
        for (size_t i = 0; i < f->nrows; i++) {
            if (strncmp(f->rows[i].key, prefix, strlen(prefix)) != 0)
                continue;
            ot_tally_msg m;
            ot_counts c = { .events = f->rows[i].events };
            uint8_t buf[1024];
            ot_tally_msg_fill(&m, f->rows[i].key, strlen(f->rows[i].key), &c, NULL);
            size_t n = optally__tally_update__pack(&m.u, buf);
            off = s_put(out, off, 1, buf, n);
        }
        end.seq = f->seqs.seq;
        end.n_views = ot_view_seqs_fill(&f->seqs, arr, ptrs);
        end.views = ptrs;
    }
    end.last = true;
    off += optally__snapshot_reply__pack(&end, out + off);
    zmq_send(f->router, id, idlen, ZMQ_SNDMORE);
    zmq_send(f->router, out, off, 0);
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
    int64_t end = s_now_ms() + F_WAIT_MS;
    while (s_now_ms() < end) {
        int rc = ot_subscriber_next(f->sub, 10, ev);
        if (rc == 0 && ev->kind == OT_SUB_HEARTBEAT)
            continue;
        if (rc != EAGAIN)
            return rc;
        s_serve(f);
        if (f->idle_heartbeats && s_now_ms() - f->hb_at >= 30) {
            s_heartbeat(f);
            f->hb_at = s_now_ms();
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
    int64_t end = s_now_ms() + F_WAIT_MS;
    while (f->requests == 0 && s_now_ms() < end) {
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
    int64_t end = s_now_ms() + F_WAIT_MS, hb = 0;
    while (!f->held && s_now_ms() < end) {
        assert_int_equal(ot_subscriber_next(f->sub, 10, &ev), EAGAIN);
        s_serve(f);
        if (s_now_ms() - hb > 200) {
            s_heartbeat(f);
            hb = s_now_ms();
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
    int64_t t0 = s_now_ms();
    s_expect(f, OT_SUB_RESYNC, &ev);
    assert_true(s_now_ms() - t0 >= 250);
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

static void
t_options(void **state)
{
    (void)state;
    ot_subscriber *s = (ot_subscriber *)&s;
    ot_subscriber_options o = { .view = "country", .prefix = "country/" };
    assert_int_equal(ot_subscriber_open(&o, &s), OT_EUSAGE);
    assert_null(s);
    o = (ot_subscriber_options){ .view = "nope" };
    assert_int_equal(ot_subscriber_open(&o, &s), OT_ENOTFOUND);
    o = (ot_subscriber_options){ .prefix = "nope/" };
    assert_int_equal(ot_subscriber_open(&o, &s), OT_ENOTFOUND);
    o = (ot_subscriber_options){ .prefix = "x" };
    assert_int_equal(ot_subscriber_open(&o, &s), OT_ENOTFOUND);
    o = (ot_subscriber_options){ .updates = "" };
    assert_int_equal(ot_subscriber_open(&o, &s), OT_EUSAGE);
    o = (ot_subscriber_options){ .updates = "nonsense://x" };
    assert_int_equal(ot_subscriber_open(&o, &s), EINVAL);
    o = (ot_subscriber_options){ .server_key = "0123456789012345678901234567890123456789" };
    assert_int_equal(ot_subscriber_open(&o, &s), OT_EUSAGE);   /* CURVE: all three keys */
    o = (ot_subscriber_options){ .server_key = "short", .client_public = "short",
                                 .client_secret = "short" };
    assert_int_equal(ot_subscriber_open(&o, &s), OT_EUSAGE);
    o = (ot_subscriber_options){ .prefix = "tot" };
    assert_int_equal(ot_subscriber_open(&o, &s), 0);
    ot_subscriber_close(&s);
    assert_null(s);
    ot_subscriber_close(&s);
    ot_subscriber_close(NULL);
}

int
main(void)
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
        cmocka_unit_test(t_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
