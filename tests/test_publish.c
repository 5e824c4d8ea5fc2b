/*
 * test_publish: consumer/ot_publish.c (the update stream) and the messages
 * of lib/ot_update.c, with a real store in a temporary directory and a real
 * SUB socket on inproc://.
 *  - after a committed ingest, one update per changed tally key goes out:
 *    topic = key, the counters and delta the store holds, seq and view_seq
 *    rising by one from the store's sequences before the ingest, the commit
 *    time; a key of no known view is not sent;
 *  - a heartbeat goes out once OT_PUBLISH_HEARTBEAT_MS passed without a
 *    message, not before, and carries the store's sequences;
 *  - the TallyUpdate builder fills view, fields and values for a key of
 *    each built-in view (escaped values unescaped), refuses unknown views
 *    and malformed or oversized keys;
 *  - a SnapshotReply built row by row decodes as one message; its field
 *    number matches the schema; a refusal's text stays valid UTF-8 when cut;
 *    chunks carry their index, the last one the rows count;
 *  - the subscriber cap (issue 10, item 2): each queue is held to
 *    OT_PUBLISH_QUEUE_TOTAL / OT_PUBLISH_MAX_SUBSCRIBERS; with 70 SUB
 *    sockets on TCP, 64 stay connected and the others are closed (they
 *    reconnect, and are closed again); when 20 leave, every other one,
 *    refused before or not, is connected. (Idle subscribers against a real consumer,
 *    with its memory: tests/integration/test_hardening_subscribers.py.)
 *  - a figure (issue 11) goes out as topic "~figure/<metric>" and a
 *    FigureUpdate with the figure, log_seq, figure_seq and commit time; the
 *    fields protobuf-c kept unread (a newer producer's, possibly large) are
 *    not sent; the caller's figure is left as it was.
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

#include <zmq.h>

#include "ot_clock.h"
#include "ot_error.h"
#include "ot_publish.h"
#include "ot_store.h"
#include "ot_testdata.h"
#include "ot_update.h"
#include "ot_view.h"
#include "ot_wire.h"

#define P_WAIT_MS 5000

typedef struct p_fix {
    char dir[64];
    ot_store *store;
    void *ctx, *sub;
    ot_publisher *pub;
    int64_t last_send;          /* ot_clock_mono_ms() just before the last send_changes:
                                 * the publisher's own stamp is at or after it */
} p_fix;

/* Receive one message [topic, payload] if one is there within ms.
 * Returns false when none came. */
static bool
s_recv(p_fix *f, long ms, char *topic, size_t tcap, uint8_t *buf, size_t cap, size_t *len)
{
    zmq_pollitem_t it = { .socket = f->sub, .events = ZMQ_POLLIN };
    assert_true(zmq_poll(&it, 1, ms) >= 0);
    if (!(it.revents & ZMQ_POLLIN))
        return false;
    int tl = zmq_recv(f->sub, topic, tcap - 1, 0);
    assert_true(tl >= 0 && (size_t)tl < tcap);
    topic[tl] = 0;
    int more = 0;
    size_t ml = sizeof more;
    assert_int_equal(zmq_getsockopt(f->sub, ZMQ_RCVMORE, &more, &ml), 0);
    assert_true(more);
    int n = zmq_recv(f->sub, buf, cap, 0);
    assert_true(n >= 0 && (size_t)n <= cap);
    *len = (size_t)n;
    assert_int_equal(zmq_getsockopt(f->sub, ZMQ_RCVMORE, &more, &ml), 0);
    assert_false(more);     /* exactly two frames */
    return true;
}

/* Wait until the subscription reached the publisher (ZeroMQ sends it
 * asynchronously): publish a probe until one arrives, then drop the rest. */
static void
s_sync(p_fix *f)
{
    ot_store_change probe = { .key = "total", .len = 5 };
    char topic[OT_VIEW_KEY_MAX + 1];
    uint8_t buf[OT_UPDATE_TALLY_MAX];
    size_t len;
    int64_t end = ot_clock_mono_ms() + P_WAIT_MS;
    bool got = false;
    while (!got && ot_clock_mono_ms() < end) {
        f->last_send = ot_clock_mono_ms();
        ot_publisher_send_changes(f->pub, &probe, 1, 0);
        got = s_recv(f, 10, topic, sizeof topic, buf, sizeof buf, &len);
    }
    assert_true(got);
    while (s_recv(f, 0, topic, sizeof topic, buf, sizeof buf, &len))
        ;
}

static int
s_setup(void **state)
{
    p_fix *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/ot-test-publish.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    ot_store_options o = { .nosync = true };
    assert_int_equal(ot_store_open(f->dir, &o, &f->store), 0);
    f->ctx = zmq_ctx_new();
    assert_non_null(f->ctx);
    assert_int_equal(ot_publisher_open(f->ctx, "inproc://test-publish", 1000, NULL, &f->pub), 0);
    f->sub = zmq_socket(f->ctx, ZMQ_SUB);
    assert_non_null(f->sub);
    int zero = 0;
    assert_int_equal(zmq_setsockopt(f->sub, ZMQ_LINGER, &zero, sizeof zero), 0);
    assert_int_equal(zmq_setsockopt(f->sub, ZMQ_SUBSCRIBE, "", 0), 0);
    assert_int_equal(zmq_connect(f->sub, "inproc://test-publish"), 0);
    s_sync(f);
    *state = f;
    return 0;
}

static int
s_teardown(void **state)
{
    p_fix *f = *state;
    zmq_close(f->sub);
    ot_publisher_close(&f->pub);
    assert_null(f->pub);
    ot_publisher_close(&f->pub);
    zmq_ctx_term(f->ctx);
    ot_store_close(&f->store);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

typedef struct p_find {
    const char *key;
    ot_counts c;
    bool found;
} p_find;

static int
s_find_row(void *ctx, const char *key, size_t len, const ot_counts *c)
{
    p_find *pf = ctx;
    if (len == strlen(pf->key) && memcmp(key, pf->key, len) == 0) {
        pf->c = *c;
        pf->found = true;
    }
    return 0;
}

/* The store's tally of key (all zero when there is none). */
static ot_counts
s_tally(ot_store *s, const char *key)
{
    p_find pf = { .key = key };
    assert_int_equal(ot_store_tally_foreach(s, key, s_find_row, &pf), 0);
    return pf.c;
}

static size_t
s_view_index(const char *name)
{
    for (size_t i = 0; i < ot_view_count(); i++)
        if (!strcmp(ot_view_at(i)->name, name))
            return i;
    fail_msg("no view %s", name);
    return 0;
}

static void
s_assert_counts(const Optally__Counts *m, const ot_counts *c)
{
    assert_non_null(m);
    assert_int_equal(m->events, c->events);
    assert_int_equal(m->operations, c->operations);
    assert_int_equal(m->killed, c->killed);
    assert_int_equal(m->detained, c->detained);
    assert_int_equal(m->wounded, c->wounded);
}

/* Publish the last ingest's changes and check what the SUB receives
 * against the store: one message per change, in order, with the sequences
 * counted on from before. Returns the number of updates. */
static size_t
s_publish_and_check(p_fix *f, const ot_store_seqs *before, int64_t committed_at)
{
    const ot_store_change *ch;
    size_t n = ot_store_last_changes(f->store, &ch);
    assert_true(n > 0);
    uint64_t count0 = ot_publisher_count(f->pub);
    f->last_send = ot_clock_mono_ms();
    ot_publisher_send_changes(f->pub, ch, n, committed_at);
    assert_int_equal(ot_publisher_count(f->pub), count0 + n);

    ot_store_seqs seqs = *before;
    for (size_t i = 0; i < n; i++) {
        char topic[OT_VIEW_KEY_MAX + 1];
        uint8_t buf[OT_UPDATE_TALLY_MAX];
        size_t len;
        assert_true(s_recv(f, P_WAIT_MS, topic, sizeof topic, buf, sizeof buf, &len));
        Optally__TallyUpdate *u = optally__tally_update__unpack(NULL, len, buf);
        assert_non_null(u);
        assert_string_equal(u->key, topic);     /* topic = key */
        assert_int_equal(strlen(topic), ch[i].len);
        assert_memory_equal(topic, ch[i].key, ch[i].len);
        size_t vi = s_view_index(u->view);
        assert_int_equal(vi, ch[i].view);
        seqs.seq++;
        seqs.view_seq[vi]++;
        assert_int_equal(u->seq, seqs.seq);
        assert_int_equal(u->view_seq, seqs.view_seq[vi]);
        assert_int_equal(u->committed_at, committed_at);
        ot_counts stored = s_tally(f->store, topic);
        s_assert_counts(u->counts, &stored);
        s_assert_counts(u->delta, &ch[i].delta);
        optally__tally_update__free_unpacked(u, NULL);
    }
    /* Nothing more: one message per change (inproc delivers at once). */
    char topic[OT_VIEW_KEY_MAX + 1];
    uint8_t buf[OT_UPDATE_TALLY_MAX];
    size_t len;
    assert_false(s_recv(f, 50, topic, sizeof topic, buf, sizeof buf, &len));
    /* The last update carries the sequences the commit left in the store. */
    ot_store_seqs after;
    ot_store_seqs_get(f->store, &after);
    assert_memory_equal(&after, &seqs, sizeof seqs);
    return n;
}

static void
t_one_update_per_change(void **state)
{
    p_fix *f = *state;
    ot_store_seqs before;
    ot_store_seqs_get(f->store, &before);
    Optally__OperationEvent evs[3];
    ot_test_event(&evs[0], "e1", "IQ", "2024-01-10", "ISF", 2);
    ot_test_event(&evs[1], "e2", "IQ", "2024-02-11", "ISF", 1);
    ot_test_event(&evs[2], "e3", "SY", "2024-01-12", "SDF", 0);
    ot_test_ingest(f->store, evs, 3);
    /* Keys: total; country IQ, SY; quarter IQ/Q1, SY/Q1; month IQ/01,
     * IQ/02, SY/01; partner IQ/ISF, SY/SDF: 10, each updated once. */
    assert_int_equal(s_publish_and_check(f, &before, 1717000000000), 10);
    ot_counts iq = s_tally(f->store, "country/IQ");
    assert_int_equal(iq.events, 2);
    assert_int_equal(iq.killed, 3);

    /* A revision moves e2 to SY: deltas are negative on the old keys. */
    ot_store_seqs_get(f->store, &before);
    ot_test_event(&evs[0], "e2", "SY", "2024-02-11", "ISF", 1);
    evs[0].revision = 1;
    ot_test_ingest(f->store, evs, 1);
    const ot_store_change *ch;
    size_t n = ot_store_last_changes(f->store, &ch);
    bool saw_negative = false;
    for (size_t i = 0; i < n; i++)
        saw_negative |= ch[i].delta.events < 0;
    assert_true(saw_negative);
    s_publish_and_check(f, &before, 1717000000001);
}

static void
t_unknown_view_not_sent(void **state)
{
    p_fix *f = *state;
    uint64_t count0 = ot_publisher_count(f->pub);
    ot_store_change bad[2] = {
        { .key = "nope/IQ", .len = 7, .seq = 1 },
        { .key = "country/IQ", .len = 10, .seq = 2, .counts = { .events = 4 } },
    };
    ot_publisher_send_changes(f->pub, bad, 2, 0);
    assert_int_equal(ot_publisher_count(f->pub), count0 + 1);
    char topic[OT_VIEW_KEY_MAX + 1];
    uint8_t buf[OT_UPDATE_TALLY_MAX];
    size_t len;
    assert_true(s_recv(f, P_WAIT_MS, topic, sizeof topic, buf, sizeof buf, &len));
    assert_string_equal(topic, "country/IQ");
    assert_false(s_recv(f, 50, topic, sizeof topic, buf, sizeof buf, &len));
}

/* Tick every few ms until a heartbeat arrives. OUT: *hb (caller frees).
 * Returns the time it arrived (ot_clock_mono_ms). */
static int64_t
s_await_heartbeat(p_fix *f, const ot_store_seqs *seqs, Optally__Heartbeat **hb)
{
    int64_t end = ot_clock_mono_ms() + 3 * OT_PUBLISH_HEARTBEAT_MS;
    char topic[OT_VIEW_KEY_MAX + 1];
    uint8_t buf[OT_UPDATE_SEQS_MAX];
    size_t len;
    while (ot_clock_mono_ms() < end) {
        ot_publisher_tick(f->pub, seqs);
        if (s_recv(f, 10, topic, sizeof topic, buf, sizeof buf, &len)) {
            int64_t at = ot_clock_mono_ms();
            assert_string_equal(topic, OT_UPDATE_HEARTBEAT_TOPIC);
            *hb = optally__heartbeat__unpack(NULL, len, buf);
            assert_non_null(*hb);
            return at;
        }
    }
    fail_msg("no heartbeat within %d ms", 3 * OT_PUBLISH_HEARTBEAT_MS);
    return 0;
}

static void
t_heartbeat_after_interval(void **state)
{
    p_fix *f = *state;
    ot_store_seqs seqs = { .seq = 77 };
    for (size_t i = 0; i < ot_view_count(); i++)
        seqs.view_seq[i] = 10 + i;
    /* Something was just sent (s_sync): no heartbeat now. */
    char topic[OT_VIEW_KEY_MAX + 1];
    uint8_t buf[OT_UPDATE_SEQS_MAX];
    size_t len;
    ot_publisher_tick(f->pub, &seqs);
    assert_false(s_recv(f, 50, topic, sizeof topic, buf, sizeof buf, &len));

    Optally__Heartbeat *hb;
    int64_t t0 = f->last_send;
    int64_t at = s_await_heartbeat(f, &seqs, &hb);
    assert_true(at - t0 >= OT_PUBLISH_HEARTBEAT_MS);
    assert_true(at - t0 < OT_PUBLISH_HEARTBEAT_MS + 500);
    assert_int_equal(hb->seq, 77);
    assert_int_equal(hb->n_views, ot_view_count());
    for (size_t i = 0; i < hb->n_views; i++) {
        assert_string_equal(hb->views[i]->view, ot_view_at(i)->name);
        assert_int_equal(hb->views[i]->view_seq, 10 + i);
    }
    int64_t wall = ot_clock_wall_ms();
    assert_true(hb->sent_at > wall - 10000 && hb->sent_at <= wall);
    optally__heartbeat__free_unpacked(hb, NULL);

    /* Right after a heartbeat: none again before the next interval. */
    ot_publisher_tick(f->pub, &seqs);
    assert_false(s_recv(f, 50, topic, sizeof topic, buf, sizeof buf, &len));

    /* An update restarts the interval. */
    ot_store_change c = { .key = "total", .len = 5, .seq = 78 };
    t0 = ot_clock_mono_ms();
    ot_publisher_send_changes(f->pub, &c, 1, 0);
    assert_true(s_recv(f, P_WAIT_MS, topic, sizeof topic, buf, sizeof buf, &len));
    assert_string_equal(topic, "total");
    seqs.seq = 78;
    at = s_await_heartbeat(f, &seqs, &hb);
    assert_true(at - t0 >= OT_PUBLISH_HEARTBEAT_MS);
    assert_int_equal(hb->seq, 78);
    optally__heartbeat__free_unpacked(hb, NULL);
}

/* The value a key of this event holds for field name. */
static const char *
s_expected_value(const char *field)
{
    if (!strcmp(field, "country"))
        return "IQ";
    if (!strcmp(field, "quarter"))
        return "2024-Q1";
    if (!strcmp(field, "month"))
        return "2024-02";
    if (!strcmp(field, "partner_force"))
        return "A/B%C";
    fail_msg("a view field this test does not know: %s", field);
    return NULL;
}

static void
t_builder_each_view(void **state)
{
    (void)state;
    Optally__OperationEvent ev;
    ot_test_event(&ev, "e1", "IQ", "2024-02-10", "A/B%C", 1);
    ot_counts c = { 5, 4, 3, 2, 1, 2, 4 }, d = { 1, 1, 0, 0, 0, 0, 0 };
    assert_true(ot_view_count() >= 5);
    for (size_t i = 0; i < ot_view_count(); i++) {
        const ot_view *v = ot_view_at(i);
        char key[OT_VIEW_KEY_MAX];
        size_t len;
        assert_int_equal(ot_view_key(v, &ev, key, sizeof key, &len), 0);
        ot_update_tally m;
        assert_int_equal(ot_update_tally_fill(&m, NULL, key, len, &c, &d), 0);
        assert_string_equal(m.u.view, v->name);
        assert_string_equal(m.u.key, key);
        assert_int_equal(m.u.n_fields, (size_t)v->nfields);
        assert_int_equal(m.u.n_values, (size_t)v->nfields);
        for (int k = 0; k < v->nfields; k++) {
            assert_string_equal(m.u.fields[k], v->fields[k]);
            assert_string_equal(m.u.values[k], s_expected_value(v->fields[k]));
        }
        /* Round trip through the wire. */
        uint8_t buf[OT_UPDATE_TALLY_MAX];
        assert_int_equal(ot_update_tally_pack(&m, buf, sizeof buf, &len), 0);
        Optally__TallyUpdate *u = optally__tally_update__unpack(NULL, len, buf);
        assert_non_null(u);
        assert_string_equal(u->key, key);
        s_assert_counts(u->counts, &c);
        s_assert_counts(u->delta, &d);
        ot_counts back;
        ot_update_counts_from_pb(u->delta, &back);
        assert_memory_equal(&back, &d, sizeof d);
        optally__tally_update__free_unpacked(u, NULL);
        /* A snapshot row has no delta. */
        assert_int_equal(ot_update_tally_fill(&m, NULL, key, strlen(key), &c, NULL), 0);
        assert_null(m.u.delta);
        assert_int_equal(ot_update_tally_pack(&m, buf, 4, &len), ENOSPC);
    }
    ot_counts zero = { 0 }, back = { 1, 1, 1, 1, 1, 1, 1 };
    ot_update_counts_from_pb(NULL, &back);
    assert_memory_equal(&back, &zero, sizeof zero);

    ot_update_tally m;
    assert_int_equal(ot_update_tally_fill(&m, NULL, "nope/IQ", 7, &c, NULL), OT_ENOTFOUND);
    assert_int_equal(ot_update_tally_fill(&m, NULL, "country", 7, &c, NULL), EINVAL);
    assert_int_equal(ot_update_tally_fill(&m, NULL, "country/IQ/x", 12, &c, NULL), EINVAL);
    char big[OT_VIEW_KEY_MAX + 8];
    memset(big, 'a', sizeof big);
    memcpy(big, "country/", 8);
    assert_int_equal(ot_update_tally_fill(&m, NULL, big, sizeof big, &c, NULL), EINVAL);
}

static void
t_snapshot_reply_wire(void **state)
{
    (void)state;
    const ProtobufCFieldDescriptor *fd =
        protobuf_c_message_descriptor_get_field_by_name(&optally__snapshot_reply__descriptor,
                                                        "tallies");
    assert_non_null(fd);
    assert_int_equal(fd->id, OT_UPDATE_FIELD_REPLY_TALLIES);

    ot_buf b = { 0 };
    ot_counts c1 = { .events = 3 }, c2 = { .events = 7, .killed = 2 };
    assert_int_equal(ot_update_reply_row(&b, NULL, "country/IQ", 10, &c1), 0);
    size_t len1 = b.len;
    assert_int_equal(ot_update_reply_row(&b, NULL, "nope/x", 6, &c1), OT_ENOTFOUND);
    assert_int_equal(b.len, len1);      /* nothing appended */
    assert_int_equal(ot_update_reply_row(&b, NULL, "country,quarter/SY/2024-Q2", 26, &c2), 0);
    uint64_t vs[OT_STORE_MAX_VIEWS] = { 4, 5, 6, 7, 8 };
    assert_int_equal(ot_update_reply_end(&b, NULL, 3, 42, 99, vs, OT_STORE_MAX_VIEWS), 0);
    Optally__SnapshotReply *r = optally__snapshot_reply__unpack(NULL, b.len, (uint8_t *)b.data);
    assert_non_null(r);
    assert_int_equal(r->chunk, 3);
    assert_int_equal(r->rows, 42);
    assert_int_equal(r->n_tallies, 2);
    assert_string_equal(r->tallies[0]->key, "country/IQ");
    assert_int_equal(r->tallies[0]->counts->events, 3);
    assert_null(r->tallies[0]->delta);
    assert_string_equal(r->tallies[1]->view, "country,quarter");
    assert_string_equal(r->tallies[1]->values[1], "2024-Q2");
    assert_int_equal(r->tallies[1]->counts->killed, 2);
    assert_true(r->last);
    assert_int_equal(r->seq, 99);
    assert_int_equal(r->n_views, ot_view_count());
    assert_string_equal(r->views[2]->view, ot_view_at(2)->name);
    assert_int_equal(r->views[2]->view_seq, 6);
    assert_null(r->error[0] ? r->error : NULL);
    optally__snapshot_reply__free_unpacked(r, NULL);

    /* A chunk that is not the last: its index, last false, no sequences. */
    b.len = 0;
    assert_int_equal(ot_update_reply_row(&b, NULL, "country/IQ", 10, &c1), 0);
    assert_int_equal(ot_update_reply_chunk(&b, 7), 0);
    r = optally__snapshot_reply__unpack(NULL, b.len, (uint8_t *)b.data);
    assert_non_null(r);
    assert_int_equal(r->n_tallies, 1);
    assert_int_equal(r->chunk, 7);
    assert_false(r->last);
    assert_int_equal(r->n_views, 0);
    optally__snapshot_reply__free_unpacked(r, NULL);

    /* The largest row and the largest end fit their stated maxima. */
    char key[OT_VIEW_KEY_MAX + 1];
    memset(key, 'x', sizeof key);
    memcpy(key, "country,partner_force/IQ/", 25);
    ot_counts big = { INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX,
                      INT64_MAX };
    b.len = 0;
    assert_int_equal(ot_update_reply_row(&b, NULL, key, OT_VIEW_KEY_MAX, &big), 0);
    assert_true(b.len <= OT_UPDATE_REPLY_ROW_MAX);
    size_t before = b.len;
    uint64_t vmax[OT_STORE_MAX_VIEWS];
    for (size_t i = 0; i < OT_STORE_MAX_VIEWS; i++)
        vmax[i] = UINT64_MAX;
    assert_int_equal(ot_update_reply_end(&b, NULL, UINT32_MAX, UINT64_MAX, UINT64_MAX, vmax,
                                         OT_STORE_MAX_VIEWS), 0);
    assert_true(b.len - before <= OT_UPDATE_SEQS_MAX);

    /* A refusal replaces what was there. */
    assert_int_equal(ot_update_reply_error(&b, "unknown view 'x'", false), 0);
    r = optally__snapshot_reply__unpack(NULL, b.len, (uint8_t *)b.data);
    assert_non_null(r);
    assert_int_equal(r->n_tallies, 0);
    assert_string_equal(r->error, "unknown view 'x'");
    assert_false(r->retry);
    assert_true(r->last);
    optally__snapshot_reply__free_unpacked(r, NULL);

    /* A long text is cut, never inside a UTF-8 sequence. */
    char text[600];
    memset(text, 'a', sizeof text);
    memcpy(text + 399, "\xc3\xa9", 2);      /* "é" across the 400-byte limit */
    text[sizeof text - 1] = 0;
    assert_int_equal(ot_update_reply_error(&b, text, true), 0);
    r = optally__snapshot_reply__unpack(NULL, b.len, (uint8_t *)b.data);
    assert_non_null(r);
    assert_int_equal(strlen(r->error), 399);
    assert_true(r->retry);
    optally__snapshot_reply__free_unpacked(r, NULL);
    ot_buf_free(&b);

    /* A heartbeat's bytes must fit the buffer given. */
    uint8_t small[4];
    size_t len;
    assert_int_equal(ot_update_heartbeat_pack(NULL, 1, vs, OT_STORE_MAX_VIEWS, 0, 0, small, sizeof small,
                                              &len), ENOSPC);
}

#define P_SUBS (OT_PUBLISH_MAX_SUBSCRIBERS + 6)

/* Poll the publisher's stats until want(st) holds or P_WAIT_MS pass,
 * publishing meanwhile (as the writer does). Returns whether it held. */
static bool
s_stats_until(ot_publisher *p, bool (*want)(const ot_publisher_stats *, size_t), size_t arg,
              ot_publisher_stats *st)
{
    ot_store_change ch = { .key = "total", .len = 5 };
    int64_t end = ot_clock_mono_ms() + P_WAIT_MS;
    do {
        ot_publisher_send_changes(p, &ch, 1, 0);
        ot_publisher_stats_get(p, st);
        if (want(st, arg))
            return true;
        zmq_poll(NULL, 0, 10);
    } while (ot_clock_mono_ms() < end);
    return false;
}

static bool
s_at(const ot_publisher_stats *st, size_t n)
{
    return st->subscribers == n;
}

static bool
s_full_and_refusing(const ot_publisher_stats *st, size_t refused)
{
    return st->subscribers == OT_PUBLISH_MAX_SUBSCRIBERS && st->refused >= refused;
}

static void
t_subscriber_cap(void **state)
{
    (void)state;
    void *ctx = zmq_ctx_new();
    assert_non_null(ctx);
    int max_sockets = 4 * P_SUBS;
    assert_int_equal(zmq_ctx_set(ctx, ZMQ_MAX_SOCKETS, max_sockets), 0);
    ot_publisher *p = NULL;
    char ep[64];
    for (int port = 20000 + (int)(ot_clock_mono_ms() % 30000), i = 0; !p && i < 50; i++) {
        snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", port + i);
        if (ot_publisher_open(ctx, ep, 100000, NULL, &p) != 0)
            p = NULL;
    }
    assert_non_null(p);
    ot_publisher_stats st;
    ot_publisher_stats_get(p, &st);
    assert_int_equal(st.hwm, OT_PUBLISH_QUEUE_TOTAL / OT_PUBLISH_MAX_SUBSCRIBERS);
    assert_true(st.queue_max <= OT_PUBLISH_QUEUE_TOTAL);
    assert_int_equal(st.subscribers, 0);

    void *subs[P_SUBS];
    int one = 1, zero = 0;
    for (size_t i = 0; i < P_SUBS; i++) {
        subs[i] = zmq_socket(ctx, ZMQ_SUB);
        assert_non_null(subs[i]);
        zmq_setsockopt(subs[i], ZMQ_LINGER, &zero, sizeof zero);
        zmq_setsockopt(subs[i], ZMQ_RCVHWM, &one, sizeof one);
        zmq_setsockopt(subs[i], ZMQ_SUBSCRIBE, "", 0);
        assert_int_equal(zmq_connect(subs[i], ep), 0);
    }
    /* Results first, asserts after the sockets are closed: zmq_ctx_term
     * waits for every socket. */
    ot_publisher_stats full, fewer;
    bool got_full = s_stats_until(p, s_full_and_refusing, P_SUBS - OT_PUBLISH_MAX_SUBSCRIBERS,
                                  &full);
    /* 20 leave: the 50 others, the refused ones among them (they
     * reconnect every 100 ms), all get in. */
    for (size_t i = 0; i < 20; i++)
        zmq_close(subs[i]);
    bool got_fewer = s_stats_until(p, s_at, P_SUBS - 20, &fewer);
    for (size_t i = 20; i < P_SUBS; i++)
        zmq_close(subs[i]);
    ot_publisher_close(&p);
    zmq_ctx_term(ctx);
    if (!got_full)
        fail_msg("with %d SUB sockets: %zu connected, %llu refused; want %d connected and at "
                 "least %d refused", P_SUBS, full.subscribers, (unsigned long long)full.refused,
                 OT_PUBLISH_MAX_SUBSCRIBERS, P_SUBS - OT_PUBLISH_MAX_SUBSCRIBERS);
    if (!got_fewer)
        fail_msg("after 20 left: %zu connected, want %d", fewer.subscribers, P_SUBS - 20);
    print_message("cap: %zu connected, %llu connections refused; after 20 left: %zu\n",
                  full.subscribers, (unsigned long long)full.refused, fewer.subscribers);
}

/* A figure's update: its topic, its message, and nothing of the unknown
 * fields the decoded figure carried. */
static void
t_figure_update(void **state)
{
    p_fix *f = *state;
    /* A figure as the consumer decodes it from a newer producer's bytes:
     * with a field this build does not know (number 99, 3000 bytes). */
    Optally__Figure src = OPTALLY__FIGURE__INIT;
    char *scope[] = { "IQ", "SY" };
    src.figure_id = "fig-1";
    src.source = "CENTCOM";
    src.metric = "fighters_at_large";
    src.scope = scope;
    src.n_scope = 2;
    src.as_of = "2024-04-15";
    src.value = 2500;
    src.qualifier = OPTALLY__QUALIFIER__APPROX;
    size_t plain = optally__figure__get_packed_size(&src);
    uint8_t *wire = malloc(plain + 3010);
    assert_non_null(wire);
    optally__figure__pack(&src, wire);
    size_t n = plain;
    n += ot_wire_put_varint(wire + n, OT_WIRE_TAG(99, OT_WIRE_LEN));
    n += ot_wire_put_varint(wire + n, 3000);
    memset(wire + n, 'u', 3000);
    n += 3000;
    Optally__Figure *dec = optally__figure__unpack(NULL, n, wire);
    assert_non_null(dec);
    assert_int_equal(dec->base.n_unknown_fields, 1);

    ot_publisher_send_figure(f->pub, dec, 42, 7, 1700000000123);
    assert_int_equal(dec->base.n_unknown_fields, 1);    /* the caller's, untouched */
    char topic[OT_VIEW_KEY_MAX + 1];
    uint8_t buf[8192];
    size_t len;
    assert_true(s_recv(f, P_WAIT_MS, topic, sizeof topic, buf, sizeof buf, &len));
    assert_string_equal(topic, "~figure/fighters_at_large");
    assert_true(len < plain + 64);                      /* the 3000 bytes stayed home */
    Optally__FigureUpdate *u = optally__figure_update__unpack(NULL, len, buf);
    assert_non_null(u);
    assert_int_equal(u->log_seq, 42);
    assert_int_equal(u->figure_seq, 7);
    assert_int_equal(u->committed_at, 1700000000123);
    assert_non_null(u->figure);
    assert_string_equal(u->figure->figure_id, "fig-1");
    assert_string_equal(u->figure->metric, "fighters_at_large");
    assert_int_equal(u->figure->n_scope, 2);
    assert_string_equal(u->figure->scope[1], "SY");
    assert_int_equal(u->figure->value, 2500);
    assert_int_equal(u->figure->qualifier, OPTALLY__QUALIFIER__APPROX);
    assert_int_equal(u->figure->base.n_unknown_fields, 0);
    optally__figure_update__free_unpacked(u, NULL);
    optally__figure__free_unpacked(dec, NULL);
    free(wire);
}

static void
t_open_errors(void **state)
{
    (void)state;
    void *ctx = zmq_ctx_new();
    ot_publisher *p = (ot_publisher *)&p;
    assert_int_equal(ot_publisher_open(ctx, "nonsense://x", 10, NULL, &p), OT_ETRANSPORT);
    assert_null(p);
    assert_int_equal(ot_publisher_open(ctx, "inproc://dup", 10, NULL, &p), 0);
    ot_publisher *q = (ot_publisher *)&q;
    assert_int_equal(ot_publisher_open(ctx, "inproc://dup", 10, NULL, &q), OT_ETRANSPORT);
    assert_int_equal(errno, EADDRINUSE);
    assert_null(q);
    ot_publisher_close(&p);
    zmq_ctx_term(ctx);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(t_one_update_per_change, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_unknown_view_not_sent, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_heartbeat_after_interval, s_setup, s_teardown),
        cmocka_unit_test(t_builder_each_view),
        cmocka_unit_test(t_snapshot_reply_wire),
        cmocka_unit_test(t_open_errors),
        cmocka_unit_test_setup_teardown(t_figure_update, s_setup, s_teardown),
        cmocka_unit_test(t_subscriber_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
