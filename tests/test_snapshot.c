/*
 * test_snapshot: consumer/ot_snapshot.c, the snapshot service, on a real
 * store in a temporary directory, asked through real DEALER and REQ
 * sockets on inproc://.
 *  - by view, by key prefix and for everything: the reply holds exactly the
 *    tallies the store has under that selection (compared with a walk of
 *    the store), with the seq and view_seqs the store is at; "country"
 *    selects the country view only, not "country,quarter";
 *  - after another ingest the next reply shows the new counts and the
 *    sequences moved on; while a thread keeps ingesting, every reply is
 *    one consistent state (rows agree with each other and with the seq:
 *    all from one read transaction);
 *  - bad requests (bytes that are no SnapshotRequest, an unknown view,
 *    an unprintable view name, a prefix longer than any key, several
 *    frames) get one clear error reply, final (retry false); the service
 *    keeps serving, and counts served and refused requests;
 *  - chunks (issue 10, item 7): a store of thousands of tallies (distinct
 *    partner_force values) asked with max_message_bytes 16 KiB comes in
 *    messages of at most 16 KiB, indexed 0, 1, ..., the last counting the
 *    rows, together exactly the store as of its sequences; chunked
 *    replies taken while a thread ingests are each one state; the
 *    subscriber library with a 16 KiB limit gets the whole snapshot (on
 *    the code before chunking a single 300 KB message broke every one of
 *    these); a REQ client whose snapshot passes one message gets a final
 *    error; a client that asks and never reads costs the service at most
 *    OT_SNAPSHOT_QUEUED_MAX bytes queued and one chunk being filled, is
 *    abandoned after OT_SNAPSHOT_STALL_MS, and the next client is served.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "ot_clock.h"
#include "ot_error.h"
#include "ot_json.h"
#include "ot_snapshot.h"
#include "ot_store.h"
#include "ot_testdata.h"
#include "ot_subscriber.h"
#include "ot_view.h"

#define S_WAIT_MS 5000
#define S_EP "inproc://test-snapshot"

typedef struct n_fix {
    char dir[64];
    ot_store *store;
    void *ctx, *dealer;
    ot_snapshot *snap;
} n_fix;

static void *
s_socket(n_fix *f, int type)
{
    void *s = zmq_socket(f->ctx, type);
    assert_non_null(s);
    int zero = 0;
    assert_int_equal(zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero), 0);
    assert_int_equal(zmq_connect(s, S_EP), 0);
    return s;
}

static int
s_setup(void **state)
{
    n_fix *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/ot-test-snapshot.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    ot_store_options o = { .nosync = true };
    assert_int_equal(ot_store_open(f->dir, &o, &f->store), 0);
    Optally__OperationEvent evs[4];
    ot_test_event(&evs[0], "e1", "IQ", "2024-01-10", "ISF", 2);
    ot_test_event(&evs[1], "e2", "IQ", "2024-05-11", "", 1);
    ot_test_event(&evs[2], "e3", "SY", "2024-01-12", "SDF", 0);
    ot_test_event(&evs[3], "e4", "AF", "2023-12-30", "ANA", 4);
    ot_test_ingest(f->store, evs, 4);
    f->ctx = zmq_ctx_new();
    assert_non_null(f->ctx);
    assert_int_equal(ot_snapshot_start(f->ctx, S_EP, f->store, NULL, &f->snap), 0);
    f->dealer = s_socket(f, ZMQ_DEALER);
    *state = f;
    return 0;
}

static int
s_teardown(void **state)
{
    n_fix *f = *state;
    zmq_close(f->dealer);
    ot_snapshot_stop(&f->snap);
    assert_null(f->snap);
    ot_snapshot_stop(&f->snap);
    zmq_ctx_term(f->ctx);
    ot_store_close(&f->store);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* Send the frames (nframes of them) on sock and return the reply (the last
 * frame), decoded. */
static Optally__SnapshotReply *
s_ask_frames(void *sock, const void *const *frames, const size_t *lens, size_t nframes)
{
    for (size_t i = 0; i < nframes; i++)
        assert_true(zmq_send(sock, frames[i], lens[i], i + 1 < nframes ? ZMQ_SNDMORE : 0) >= 0);
    zmq_pollitem_t it = { .socket = sock, .events = ZMQ_POLLIN };
    assert_int_equal(zmq_poll(&it, 1, S_WAIT_MS), 1);
    zmq_msg_t m;
    zmq_msg_init(&m);
    int more;
    do {
        zmq_msg_close(&m);
        zmq_msg_init(&m);
        assert_true(zmq_msg_recv(&m, sock, 0) >= 0);
        more = zmq_msg_more(&m);
    } while (more);
    Optally__SnapshotReply *r = optally__snapshot_reply__unpack(NULL, zmq_msg_size(&m),
                                                                zmq_msg_data(&m));
    zmq_msg_close(&m);
    assert_non_null(r);
    return r;
}

static Optally__SnapshotReply *
s_ask(void *sock, const char *view, const char *prefix)
{
    Optally__SnapshotRequest rq = OPTALLY__SNAPSHOT_REQUEST__INIT;
    rq.view = (char *)(view ? view : "");
    rq.prefix = (char *)(prefix ? prefix : "");
    uint8_t buf[1024];
    size_t len = optally__snapshot_request__pack(&rq, buf);
    const void *frames[] = { buf };
    return s_ask_frames(sock, frames, &len, 1);
}

/* The store's tallies under prefix, as "key=events/killed" joined by ' '. */
typedef struct n_list {
    char text[4096];
} n_list;

static int
s_list_row(void *ctx, const char *key, size_t len, const ot_counts *c)
{
    n_list *l = ctx;
    size_t n = strlen(l->text);
    snprintf(l->text + n, sizeof l->text - n, "%s%.*s=%lld/%lld", n ? " " : "", (int)len, key,
             (long long)c->events, (long long)c->killed);
    return 0;
}

static void
s_store_list(n_fix *f, const char *prefix, n_list *l)
{
    l->text[0] = 0;
    assert_int_equal(ot_store_tally_foreach(f->store, prefix, s_list_row, l), 0);
}

static void
s_reply_list(const Optally__SnapshotReply *r, n_list *l)
{
    l->text[0] = 0;
    for (size_t i = 0; i < r->n_tallies; i++) {
        const Optally__TallyUpdate *u = r->tallies[i];
        assert_non_null(u->counts);
        assert_null(u->delta);
        size_t n = strlen(l->text);
        snprintf(l->text + n, sizeof l->text - n, "%s%s=%lld/%lld", n ? " " : "", u->key,
                 (long long)u->counts->events, (long long)u->counts->killed);
    }
}

/* The reply is complete, error-free, and as of the store's sequences. */
static void
s_assert_as_of_store(n_fix *f, const Optally__SnapshotReply *r)
{
    assert_string_equal(r->error, "");
    assert_true(r->last);
    ot_store_seqs seqs;
    ot_store_seqs_get(f->store, &seqs);
    assert_int_equal(r->seq, seqs.seq);
    assert_int_equal(r->n_views, ot_view_count());
    for (size_t i = 0; i < r->n_views; i++) {
        assert_string_equal(r->views[i]->view, ot_view_at(i)->name);
        assert_int_equal(r->views[i]->view_seq, seqs.view_seq[i]);
    }
}

static void
t_by_view(void **state)
{
    n_fix *f = *state;
    Optally__SnapshotReply *r = s_ask(f->dealer, "country", NULL);
    s_assert_as_of_store(f, r);
    n_list got, want;
    s_reply_list(r, &got);
    assert_string_equal(got.text, "country/AF=1/4 country/IQ=2/3 country/SY=1/0");
    s_store_list(f, "country/", &want);
    assert_string_equal(got.text, want.text);
    for (size_t i = 0; i < r->n_tallies; i++) {
        assert_string_equal(r->tallies[i]->view, "country");
        assert_int_equal(r->tallies[i]->n_fields, 1);
        assert_string_equal(r->tallies[i]->fields[0], "country");
    }
    optally__snapshot_reply__free_unpacked(r, NULL);

    r = s_ask(f->dealer, "total", NULL);
    s_reply_list(r, &got);
    assert_string_equal(got.text, "total=4/7");
    optally__snapshot_reply__free_unpacked(r, NULL);

    r = s_ask(f->dealer, "country,quarter", NULL);
    s_reply_list(r, &got);
    assert_string_equal(got.text, "country,quarter/AF/2023-Q4=1/4 country,quarter/IQ/2024-Q1=1/2 "
                                  "country,quarter/IQ/2024-Q2=1/1 country,quarter/SY/2024-Q1=1/0");
    optally__snapshot_reply__free_unpacked(r, NULL);
    uint64_t served, refused;
    ot_snapshot_counts(f->snap, &served, &refused);
    assert_int_equal(served, 3);
    assert_int_equal(refused, 0);
}

static void
t_by_prefix_and_all(void **state)
{
    n_fix *f = *state;
    n_list got, want;
    Optally__SnapshotReply *r = s_ask(f->dealer, NULL, "country,partner_force/IQ/");
    s_assert_as_of_store(f, r);
    s_reply_list(r, &got);
    assert_string_equal(got.text, "country,partner_force/IQ/=1/1 country,partner_force/IQ/ISF=1/2");
    optally__snapshot_reply__free_unpacked(r, NULL);

    /* A prefix of view names: several views. */
    r = s_ask(f->dealer, NULL, "country,m");
    s_reply_list(r, &got);
    s_store_list(f, "country,m", &want);
    assert_string_equal(got.text, want.text);
    assert_int_equal(r->n_tallies, 4);
    optally__snapshot_reply__free_unpacked(r, NULL);

    /* No selection: everything the store has. */
    r = s_ask(f->dealer, NULL, NULL);
    s_assert_as_of_store(f, r);
    s_reply_list(r, &got);
    s_store_list(f, "", &want);
    assert_string_equal(got.text, want.text);
    assert_int_equal(r->n_tallies, 1 + 3 + 4 + 4 + 4);
    optally__snapshot_reply__free_unpacked(r, NULL);

    /* A prefix nothing has: an empty, successful reply. */
    r = s_ask(f->dealer, NULL, "country/ZZ");
    s_assert_as_of_store(f, r);
    assert_int_equal(r->n_tallies, 0);
    optally__snapshot_reply__free_unpacked(r, NULL);
}

static void
t_follows_the_store(void **state)
{
    n_fix *f = *state;
    Optally__SnapshotReply *r = s_ask(f->dealer, "country", NULL);
    uint64_t seq0 = r->seq;
    optally__snapshot_reply__free_unpacked(r, NULL);
    Optally__OperationEvent ev;
    ot_test_event(&ev, "e5", "SY", "2024-03-01", "SDF", 5);
    ot_test_ingest(f->store, &ev, 1);
    r = s_ask(f->dealer, "country", NULL);
    s_assert_as_of_store(f, r);
    /* total, country, quarter, month, partner_force: one key each. */
    assert_int_equal(r->seq, seq0 + 5);
    n_list got;
    s_reply_list(r, &got);
    assert_string_equal(got.text, "country/AF=1/4 country/IQ=2/3 country/SY=2/5");
    optally__snapshot_reply__free_unpacked(r, NULL);
}

typedef struct n_writer {
    ot_store *store;
    int n;                      /* events to ingest, one per commit */
    atomic_int done;
    int rc;                     /* first ingest error */
} n_writer;

static void *
s_writer_main(void *arg)
{
    n_writer *w = arg;
    for (int i = 0; i < w->n && !w->rc; i++) {
        char id[32];
        snprintf(id, sizeof id, "w-%d", i);
        Optally__OperationEvent ev;
        ot_test_event(&ev, id, i % 2 ? "IQ" : "SY", "2024-07-01", "ISF", 1);
        ot_ingest_item it = { .event = &ev };
        ot_ingest_group g = { .producer = (const uint8_t *)"w", .producer_len = 1,
                              .received_at = 1, .items = &it, .n = 1 };
        w->rc = ot_store_ingest(w->store, &g, 1);
    }
    atomic_store(&w->done, 1);
    return NULL;
}

/* The counter of key in r (fail when absent). */
static int64_t
s_events_of(const Optally__SnapshotReply *r, const char *key)
{
    for (size_t i = 0; i < r->n_tallies; i++)
        if (!strcmp(r->tallies[i]->key, key))
            return r->tallies[i]->counts->events;
    fail_msg("no row %s", key);
    return -1;
}

/* Snapshots taken while a thread ingests: each is the state after some
 * commit. Every new event changes 5 keys (one per view), so seq moves by 5
 * per event; total = the sum of the country rows. A reply assembled from
 * two moments would break one of these. */
static void
t_consistent_under_writes(void **state)
{
    n_fix *f = *state;
    Optally__SnapshotReply *r = s_ask(f->dealer, NULL, NULL);
    uint64_t seq0 = r->seq;
    int64_t total0 = s_events_of(r, "total");
    optally__snapshot_reply__free_unpacked(r, NULL);

    n_writer w = { .store = f->store, .n = 1000 };
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, s_writer_main, &w), 0);
    int replies = 0, moving = 0;
    char bad[256] = "";
    /* No assert while the writer runs: a failure would leave it writing
     * into a store the teardown closes. Note the first bad reply instead. */
    while (!bad[0] && (!atomic_load(&w.done) || replies == 0)) {
        r = s_ask(f->dealer, NULL, NULL);
        int64_t total = s_events_of(r, "total");
        int64_t countries = 0;
        for (size_t i = 0; i < r->n_tallies; i++)
            if (!strncmp(r->tallies[i]->key, "country/", 8))
                countries += r->tallies[i]->counts->events;
        if (r->error[0] || countries != total ||
            r->seq != seq0 + 5 * (uint64_t)(total - total0))
            snprintf(bad, sizeof bad, "reply %d: error '%s', total %lld, countries %lld, "
                     "seq %llu (expected %llu)", replies, r->error, (long long)total,
                     (long long)countries, (unsigned long long)r->seq,
                     (unsigned long long)(seq0 + 5 * (uint64_t)(total - total0)));
        moving += total != total0 && total != total0 + w.n;
        replies++;
        optally__snapshot_reply__free_unpacked(r, NULL);
    }
    pthread_join(th, NULL);
    if (bad[0])
        fail_msg("inconsistent snapshot: %s", bad);
    assert_int_equal(w.rc, 0);
    print_message("%d replies, %d of them mid-stream\n", replies, moving);
    assert_true(moving > 0);        /* some replies were taken mid-stream */
    r = s_ask(f->dealer, NULL, NULL);
    assert_int_equal(s_events_of(r, "total"), total0 + w.n);
    s_assert_as_of_store(f, r);
    optally__snapshot_reply__free_unpacked(r, NULL);
}

/* A REQ client (delimiter frame) is answered as well. */
static void
t_req_client(void **state)
{
    n_fix *f = *state;
    void *req = s_socket(f, ZMQ_REQ);
    Optally__SnapshotReply *r = s_ask(req, "total", NULL);
    n_list got;
    s_reply_list(r, &got);
    assert_string_equal(got.text, "total=4/7");
    optally__snapshot_reply__free_unpacked(r, NULL);
    zmq_close(req);
}

static void
s_expect_refusal(n_fix *f, Optally__SnapshotReply *r, const char *text)
{
    assert_true(r->last);
    assert_false(r->retry);
    assert_int_equal(r->n_tallies, 0);
    if (!strstr(r->error, text))
        fail_msg("error '%s' does not say '%s'", r->error, text);
    optally__snapshot_reply__free_unpacked(r, NULL);
    /* The service keeps serving. */
    r = s_ask(f->dealer, "total", NULL);
    s_assert_as_of_store(f, r);
    assert_int_equal(r->n_tallies, 1);
    optally__snapshot_reply__free_unpacked(r, NULL);
}

static void
t_bad_requests(void **state)
{
    n_fix *f = *state;
    s_expect_refusal(f, s_ask(f->dealer, "nope", NULL),
                     "unknown view 'nope'; views: total country country,quarter");
    s_expect_refusal(f, s_ask(f->dealer, "\x01\x02", NULL), "unknown view '(not printable)'");

    char prefix[OT_VIEW_KEY_MAX + 2];
    memset(prefix, 'x', sizeof prefix - 1);
    prefix[sizeof prefix - 1] = 0;
    s_expect_refusal(f, s_ask(f->dealer, NULL, prefix), "prefix too long");

    /* Not a SnapshotRequest at all. */
    const uint8_t junk[] = { 0xff, 0xff, 0xff, 0xff, 0x0f };
    const void *frames[] = { junk, junk, junk };
    size_t lens[] = { sizeof junk, sizeof junk, sizeof junk };
    s_expect_refusal(f, s_ask_frames(f->dealer, frames, lens, 1), "malformed request");
    /* Several frames. */
    s_expect_refusal(f, s_ask_frames(f->dealer, frames, lens, 3), "malformed request");

    uint64_t served, refused;
    ot_snapshot_counts(f->snap, &served, &refused);
    assert_int_equal(refused, 5);
    assert_int_equal(served, 5);
}

/* Ingest n events (ids "<tag>-<i>"), each with its own partner_force, in
 * commits of up to 1000: n tallies of country,partner_force, ~110 bytes a
 * row in a reply. */
static void
s_ingest_many(ot_store *s, const char *tag, size_t n)
{
    enum { G = 1000 };
    Optally__OperationEvent *evs = calloc(G, sizeof *evs);
    ot_ingest_item *items = calloc(G, sizeof *items);
    char (*ids)[32] = calloc(G, sizeof *ids), (*pfs)[32] = calloc(G, sizeof *pfs);
    assert_true(evs && items && ids && pfs);
    for (size_t done = 0; done < n;) {
        size_t k = n - done < G ? n - done : G;
        memset(items, 0, k * sizeof *items);
        for (size_t i = 0; i < k; i++) {
            snprintf(ids[i], sizeof ids[i], "%s-%zu", tag, done + i);
            snprintf(pfs[i], sizeof pfs[i], "%s-force-%07zu", tag, done + i);
            ot_test_event(&evs[i], ids[i], (done + i) % 2 ? "IQ" : "SY", "2024-03-01", pfs[i], 1);
            items[i].event = &evs[i];
        }
        ot_ingest_group g = { .producer = (const uint8_t *)"t", .producer_len = 1,
                              .received_at = 1, .items = items, .n = k };
        assert_int_equal(ot_store_ingest(s, &g, 1), 0);
        for (size_t i = 0; i < k; i++)
            assert_int_equal(items[i].status, OPTALLY__INGEST_STATUS__STORED);
        done += k;
    }
    free(evs);
    free(items);
    free(ids);
    free(pfs);
}

static int
s_count_row(void *ctx, const char *key, size_t len, const ot_counts *c)
{
    (void)key, (void)len, (void)c;
    (*(uint64_t *)ctx)++;
    return 0;
}

static uint64_t
s_store_rows(n_fix *f, const char *prefix)
{
    uint64_t n = 0;
    assert_int_equal(ot_store_tally_foreach(f->store, prefix, s_count_row, &n), 0);
    return n;
}

/* s_match_row's state: the reply and the row to compare next. */
typedef struct n_match {
    const Optally__SnapshotReply *r;
    size_t i;
    char bad[200];
} n_match;

static int
s_match_row(void *ctx, const char *key, size_t len, const ot_counts *c)
{
    n_match *m = ctx;
    if (m->bad[0])
        return 0;
    const Optally__TallyUpdate *u = m->i < m->r->n_tallies ? m->r->tallies[m->i] : NULL;
    if (!u || strlen(u->key) != len || memcmp(u->key, key, len) != 0 ||
        u->counts->events != c->events)
        snprintf(m->bad, sizeof m->bad, "row %zu: store has %.*s=%lld, reply %s", m->i, (int)len,
                 key, (long long)c->events, u ? u->key : "(nothing)");
    m->i++;
    return 0;
}

/* What s_ask_chunks saw. */
typedef struct n_chunks {
    size_t count;           /* messages */
    size_t max_len;         /* the largest */
    char bad[200];          /* the first broken rule, "" if none */
} n_chunks;

/* Ask sock for view/prefix with max_message_bytes max, and take messages
 * until one says last: each must be at most max bytes (0: not checked)
 * and carry the next chunk index. Returns the reply merged (protobuf
 * merges concatenated messages: the rows of all chunks, the last's
 * sequences), or NULL with o->bad set. */
static Optally__SnapshotReply *
s_ask_chunks(void *sock, const char *view, const char *prefix, uint32_t max, n_chunks *o)
{
    Optally__SnapshotRequest rq = OPTALLY__SNAPSHOT_REQUEST__INIT;
    rq.view = (char *)(view ? view : "");
    rq.prefix = (char *)(prefix ? prefix : "");
    rq.max_message_bytes = max;
    uint8_t buf[1024];
    size_t len = optally__snapshot_request__pack(&rq, buf);
    assert_true(zmq_send(sock, buf, len, 0) >= 0);
    memset(o, 0, sizeof *o);
    ot_buf all = { 0 };
    for (;;) {
        zmq_pollitem_t it = { .socket = sock, .events = ZMQ_POLLIN };
        if (zmq_poll(&it, 1, S_WAIT_MS) != 1) {
            snprintf(o->bad, sizeof o->bad, "no message %zu within %d ms", o->count, S_WAIT_MS);
            break;
        }
        zmq_msg_t m;
        zmq_msg_init(&m);
        assert_true(zmq_msg_recv(&m, sock, 0) >= 0);
        size_t ml = zmq_msg_size(&m);
        Optally__SnapshotReply *c = optally__snapshot_reply__unpack(NULL, ml, zmq_msg_data(&m));
        assert_non_null(c);
        bool last = c->last;
        if (max && ml > max && !o->bad[0])
            snprintf(o->bad, sizeof o->bad, "message %zu holds %zu bytes, over the %u asked",
                     o->count, ml, max);
        if (c->chunk != o->count && !o->bad[0])
            snprintf(o->bad, sizeof o->bad, "message %zu has chunk index %u", o->count, c->chunk);
        optally__snapshot_reply__free_unpacked(c, NULL);
        assert_int_equal(ot_buf_append(&all, zmq_msg_data(&m), ml), 0);
        zmq_msg_close(&m);
        o->count++;
        o->max_len = ml > o->max_len ? ml : o->max_len;
        if (last)
            break;
    }
    Optally__SnapshotReply *r = NULL;
    if (!o->bad[0]) {
        r = optally__snapshot_reply__unpack(NULL, all.len, (const uint8_t *)all.data);
        assert_non_null(r);
    }
    ot_buf_free(&all);
    return r;
}

/* A snapshot of ~3,000 tallies (~330 KB) asked in chunks of 16 KiB: every
 * message within the limit, indexed in order, the last counting the rows;
 * merged, exactly the store's tallies as of its sequences. The default
 * chunk (1 MiB) takes it in one message. */
static void
t_chunked_reply(void **state)
{
    n_fix *f = *state;
    s_ingest_many(f->store, "c", 3000);
    n_chunks o;
    Optally__SnapshotReply *r = s_ask_chunks(f->dealer, NULL, NULL, 16384, &o);
    if (!r)
        fail_msg("chunked reply: %s", o.bad);
    s_assert_as_of_store(f, r);
    uint64_t want = s_store_rows(f, "");
    assert_true(want > 3000);
    assert_int_equal(r->n_tallies, want);
    assert_int_equal(r->rows, want);
    assert_true(o.count >= 300000 / 16384);
    assert_int_equal(r->chunk, o.count - 1);
    print_message("%llu tallies: %zu chunks, largest %zu bytes\n", (unsigned long long)want,
                  o.count, o.max_len);
    /* Row by row what the store holds, in its order: none twice, none
     * left out. */
    n_match m = { .r = r };
    assert_int_equal(ot_store_tally_foreach(f->store, "", s_match_row, &m), 0);
    if (m.bad[0])
        fail_msg("%s", m.bad);
    optally__snapshot_reply__free_unpacked(r, NULL);

    r = s_ask_chunks(f->dealer, "country,partner_force", NULL, 0, &o);
    if (!r)
        fail_msg("default chunks: %s", o.bad);
    assert_int_equal(o.count, 1);
    assert_int_equal(r->n_tallies, s_store_rows(f, "country,partner_force/"));
    optally__snapshot_reply__free_unpacked(r, NULL);

    ot_snapshot_stats st;
    ot_snapshot_stats_get(f->snap, &st);
    assert_int_equal(st.served, 2);
    assert_true(st.build_peak <= 2 * OT_SNAPSHOT_CHUNK_MAX);
}

/* Chunked replies taken while a thread ingests: each is one state (all
 * chunks from one read transaction), as t_consistent_under_writes checks
 * for single replies. */
static void
t_chunked_consistent_under_writes(void **state)
{
    n_fix *f = *state;
    s_ingest_many(f->store, "c", 2000);
    n_chunks o;
    Optally__SnapshotReply *r = s_ask_chunks(f->dealer, NULL, NULL, 16384, &o);
    assert_non_null(r);
    uint64_t seq0 = r->seq;
    int64_t total0 = s_events_of(r, "total");
    optally__snapshot_reply__free_unpacked(r, NULL);

    n_writer w = { .store = f->store, .n = 3000 };
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, s_writer_main, &w), 0);
    int replies = 0, moving = 0;
    char bad[300] = "";
    while (!bad[0] && (!atomic_load(&w.done) || replies == 0)) {
        r = s_ask_chunks(f->dealer, NULL, NULL, 16384, &o);
        if (!r) {
            snprintf(bad, sizeof bad, "reply %d: %s", replies, o.bad);
            break;
        }
        int64_t total = s_events_of(r, "total"), countries = 0;
        for (size_t i = 0; i < r->n_tallies; i++)
            if (!strncmp(r->tallies[i]->key, "country/", 8))
                countries += r->tallies[i]->counts->events;
        if (o.count < 2 || countries != total || r->rows != r->n_tallies ||
            r->seq != seq0 + 5 * (uint64_t)(total - total0))
            snprintf(bad, sizeof bad, "reply %d (%zu chunks): total %lld, countries %lld, seq %llu "
                     "(expected %llu)", replies, o.count, (long long)total, (long long)countries,
                     (unsigned long long)r->seq,
                     (unsigned long long)(seq0 + 5 * (uint64_t)(total - total0)));
        moving += total != total0 && total != total0 + w.n;
        replies++;
        optally__snapshot_reply__free_unpacked(r, NULL);
    }
    pthread_join(th, NULL);
    if (bad[0])
        fail_msg("inconsistent chunked snapshot: %s", bad);
    assert_int_equal(w.rc, 0);
    print_message("%d chunked replies, %d of them mid-stream\n", replies, moving);
    assert_true(moving > 0);
}

/* The subscriber library, limited to 16 KiB a message, takes a snapshot
 * of ~330 KB whole (its rows, then the end with the store's sequence). */
static void
t_subscriber_small_limit(void **state)
{
    n_fix *f = *state;
    s_ingest_many(f->store, "c", 3000);
    ot_snapshot *tcp = NULL;
    char ep[64];
    for (int port = 20000 + (int)(ot_clock_mono_ms() % 30000), i = 0; !tcp && i < 50; i++) {
        snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", port + i);
        if (ot_snapshot_start(f->ctx, ep, f->store, NULL, &tcp) != 0)
            tcp = NULL;
    }
    assert_non_null(tcp);
    ot_subscriber_options o = { .snapshot = ep, .snapshot_only = true, .snapshot_tries = 2,
                                .max_message_bytes = 16384 };
    ot_subscriber *sub = NULL;
    assert_int_equal(ot_subscriber_open(&o, &sub), 0);
    uint64_t rows = 0;
    ot_sub_event ev;
    int rc;
    while ((rc = ot_subscriber_next(sub, S_WAIT_MS, &ev)) == 0 && ev.kind == OT_SUB_ROW)
        rows++;
    char err[600];
    snprintf(err, sizeof err, "%s (%s)", ot_strerror(rc), ot_subscriber_error(sub));
    ot_subscriber_stats ss;
    ot_subscriber_stats_get(sub, &ss);
    /* Closed before any assert: the teardown waits for every socket. */
    ot_subscriber_close(&sub);
    ot_snapshot_stats st;
    ot_snapshot_stats_get(tcp, &st);
    ot_snapshot_stop(&tcp);
    if (rc != 0)
        fail_msg("subscriber: %s after %llu rows", err, (unsigned long long)rows);
    assert_int_equal(ev.kind, OT_SUB_SNAPSHOT_END);
    ot_store_seqs seqs;
    ot_store_seqs_get(f->store, &seqs);
    assert_int_equal(ev.seq, seqs.seq);
    assert_int_equal(rows, s_store_rows(f, ""));
    assert_int_equal(ss.resyncs, 0);
    assert_true(st.chunks >= 300000 / 16384);
}

/* A REQ socket takes one reply: a snapshot over one message is refused
 * with a final error saying to use a DEALER; a small one still comes. */
static void
t_req_client_too_big(void **state)
{
    n_fix *f = *state;
    s_ingest_many(f->store, "c", 1000);
    void *req = s_socket(f, ZMQ_REQ);
    Optally__SnapshotRequest rq = OPTALLY__SNAPSHOT_REQUEST__INIT;
    rq.max_message_bytes = 16384;
    uint8_t buf[64];
    size_t len = optally__snapshot_request__pack(&rq, buf);
    assert_true(zmq_send(req, buf, len, 0) >= 0);
    zmq_pollitem_t it = { .socket = req, .events = ZMQ_POLLIN };
    if (zmq_poll(&it, 1, S_WAIT_MS) != 1) {
        zmq_close(req);     /* the teardown waits for every socket */
        fail_msg("no reply within %d ms", S_WAIT_MS);
    }
    zmq_msg_t m;
    zmq_msg_init(&m);
    assert_true(zmq_msg_recv(&m, req, 0) >= 0);
    Optally__SnapshotReply *r = optally__snapshot_reply__unpack(NULL, zmq_msg_size(&m),
                                                                zmq_msg_data(&m));
    zmq_msg_close(&m);
    assert_non_null(r);
    assert_non_null(strstr(r->error, "ask with a DEALER"));
    assert_false(r->retry);
    assert_true(r->last);
    optally__snapshot_reply__free_unpacked(r, NULL);
    r = s_ask(req, "total", NULL);
    assert_string_equal(r->error, "");
    assert_int_equal(r->n_tallies, 1);
    optally__snapshot_reply__free_unpacked(r, NULL);
    zmq_close(req);
}

/* A client that asks for a snapshot of ~26 MB and never reads: the
 * service hands ZeroMQ at most OT_SNAPSHOT_QUEUED_MAX bytes (the client's
 * queue would take them all: its receive high-water mark is raised), fills
 * one chunk at a time, abandons the reply after OT_SNAPSHOT_STALL_MS, and
 * then serves the next client. */
static void
t_stalled_client_bounded(void **state)
{
    n_fix *f = *state;
    s_ingest_many(f->store, "s", 240000);
    void *idle = zmq_socket(f->ctx, ZMQ_DEALER);
    int zero = 0, big = 1000000;
    zmq_setsockopt(idle, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(idle, ZMQ_RCVHWM, &big, sizeof big);
    assert_int_equal(zmq_connect(idle, S_EP), 0);
    Optally__SnapshotRequest rq = OPTALLY__SNAPSHOT_REQUEST__INIT;
    uint8_t buf[64];
    size_t len = optally__snapshot_request__pack(&rq, buf);
    int64_t t0 = ot_clock_mono_ms();
    assert_true(zmq_send(idle, buf, len, 0) >= 0);
    /* The next client waits behind the stalled one, then is served. */
    rq.view = "total";
    len = optally__snapshot_request__pack(&rq, buf);
    assert_true(zmq_send(f->dealer, buf, len, 0) >= 0);
    zmq_pollitem_t it = { .socket = f->dealer, .events = ZMQ_POLLIN };
    int ready = zmq_poll(&it, 1, 3 * OT_SNAPSHOT_STALL_MS + S_WAIT_MS);
    int64_t waited = ot_clock_mono_ms() - t0;
    zmq_close(idle);        /* before any assert: teardown waits for every socket */
    assert_int_equal(ready, 1);
    zmq_msg_t m;
    zmq_msg_init(&m);
    assert_true(zmq_msg_recv(&m, f->dealer, 0) >= 0);
    Optally__SnapshotReply *r = optally__snapshot_reply__unpack(NULL, zmq_msg_size(&m),
                                                                zmq_msg_data(&m));
    zmq_msg_close(&m);
    assert_non_null(r);
    assert_string_equal(r->error, "");
    assert_int_equal(r->n_tallies, 1);
    optally__snapshot_reply__free_unpacked(r, NULL);
    ot_snapshot_stats st;
    ot_snapshot_stats_get(f->snap, &st);
    print_message("stalled client: abandoned %llu, %llu chunks (%llu bytes) sent, queued peak %zu, "
                  "build peak %zu, next client served after %lld ms\n",
                  (unsigned long long)st.abandoned, (unsigned long long)st.chunks,
                  (unsigned long long)st.bytes, st.queued_peak, st.build_peak, (long long)waited);
    assert_int_equal(st.abandoned, 1);
    assert_true(st.queued_peak <= OT_SNAPSHOT_QUEUED_MAX);
    assert_true(st.queued_peak >= OT_SNAPSHOT_QUEUED_MAX - 2 * OT_SNAPSHOT_CHUNK_MAX);
    assert_true(st.build_peak <= 2 * OT_SNAPSHOT_CHUNK_MAX);
    assert_true(waited >= OT_SNAPSHOT_STALL_MS);
}

static void
t_start_errors(void **state)
{
    n_fix *f = *state;
    ot_snapshot *s = (ot_snapshot *)&s;
    assert_int_equal(ot_snapshot_start(f->ctx, S_EP, f->store, NULL, &s), OT_ETRANSPORT);
    assert_int_equal(errno, EADDRINUSE);
    assert_null(s);
    assert_int_equal(ot_snapshot_start(f->ctx, "nonsense://", f->store, NULL, &s), OT_ETRANSPORT);
    assert_null(s);
}

int
main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(t_by_view, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_by_prefix_and_all, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_follows_the_store, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_consistent_under_writes, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_req_client, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_bad_requests, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_start_errors, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_chunked_reply, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_chunked_consistent_under_writes, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_subscriber_small_limit, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_req_client_too_big, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_stalled_client_bounded, s_setup, s_teardown),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);   /* a test name: run that one only */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
