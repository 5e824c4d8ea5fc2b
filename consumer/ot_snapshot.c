/*
 * ot_snapshot: snapshot service thread (see ot_snapshot.h).
 *
 * A reply is streamed from inside the store's walk: rows are appended as
 * wire bytes to one buffer (lib/ot_update.h writes them); when the next row
 * might not fit the chunk, the buffer is closed as a chunk and handed to
 * ZeroMQ without a copy (zmq_msg_init_data), and a new one is started. The
 * walk is one read transaction, so every chunk of a reply is of one state.
 *
 * Invariants.
 *   1. Bytes handed to ZeroMQ and not yet released are counted in a budget
 *      (released by ZeroMQ's free callback, on whatever thread); a chunk is
 *      handed over only while the count stays <= OT_SNAPSHOT_QUEUED_MAX.
 *   2. A chunk never exceeds the reply's limit: before a row, room is left
 *      for the largest row and the largest end (OT_UPDATE_REPLY_ROW_MAX +
 *      OT_UPDATE_SEQS_MAX, below OT_SNAPSHOT_CHUNK_MIN).
 *   5. The views a request may name are the store's as it is asked
 *      (ot_store_views, one read per request): a view declared or dropped
 *      by the writer meanwhile is known or refused from the next request on.
 *   3. Chunks of a reply carry consecutive indexes from 0; the service
 *      never skips one: a chunk that cannot be delivered ends the reply
 *      (abandoned, nothing more is sent), so a client that sees every index
 *      up to last has the whole reply.
 *   4. The budget outlives the service: ZeroMQ may free a chunk after the
 *      socket is closed, so the budget is reference-counted by the chunks.
 */
#include "ot_snapshot.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "ot_auth.h"
#include "ot_clock.h"
#include "ot_error.h"
#include "ot_json.h"
#include "ot_update.h"
#include "ot_view.h"

#define S_REQUEST_MAX  65536   /* bytes: a request is a view name or a key prefix; more is refused */
#define S_SNDHWM       2       /* messages queued per client in ZeroMQ (plus one being written) */
#define S_POLL_STEP_MS 5       /* wait step while a client's queue or the budget is full */
#define S_TOO_BIG      EFBIG   /* s_row: a REQ client's reply passed one message */

_Static_assert(OT_UPDATE_REPLY_ROW_MAX + OT_UPDATE_SEQS_MAX + 64 < OT_SNAPSHOT_CHUNK_MIN,
               "a chunk has room for a row and the end");

/* Invariants 1 and 4. */
typedef struct s_budget {
    atomic_size_t queued;
    atomic_size_t peak;
    atomic_int refs;            /* the service + every chunk not yet released */
} s_budget;

/* The hint of one chunk handed to ZeroMQ. */
typedef struct s_chunk_ref {
    s_budget *bud;
    size_t len;
} s_chunk_ref;

struct ot_snapshot {
    void *router;
    ot_store *store;
    pthread_t thread;
    bool started;
    atomic_int stop;
    s_budget *bud;
    atomic_uint_fast64_t served, refused, abandoned, chunks, bytes;
    atomic_size_t build_peak;
};

/* One reply being sent. */
typedef struct s_stream {
    ot_snapshot *s;
    const void *id;             /* the client's routing identity, borrowed */
    size_t idlen;
    bool delim;                 /* REQ-style: an empty frame before the payload */
    size_t limit;               /* bytes per message (invariant 2) */
    int64_t deadline;           /* OT_SNAPSHOT_TIME_MAX_MS from the request */
    ot_buf b;                   /* the chunk being filled */
    uint32_t chunk;             /* its index (invariant 3) */
    uint64_t rows;              /* rows so far, all chunks */
    ot_viewset *vs;             /* the store's views for this request (invariant 5) */
} s_stream;

static void
s_budget_unref(s_budget *bud)
{
    if (atomic_fetch_sub(&bud->refs, 1) == 1)
        free(bud);
}

/* ZeroMQ's free callback of a chunk (any thread). */
static void
s_chunk_free(void *data, void *hint)
{
    s_chunk_ref *h = hint;
    atomic_fetch_sub(&h->bud->queued, h->len);
    s_budget_unref(h->bud);
    free(h);
    free(data);
}

static void
s_max(atomic_size_t *peak, size_t v)
{
    size_t p = atomic_load(peak);
    while (v > p && !atomic_compare_exchange_weak(peak, &p, v))
        ;
}

/* Hand st->b to ZeroMQ as the next message to the client (frames: identity,
 * [""], payload), without copying; st->b is left empty either way. With
 * wait, waits in steps while the client's queue is full or the budget has
 * no room, until OT_SNAPSHOT_STALL_MS or the reply's deadline pass or the
 * service stops; without, tries once.
 * Returns 0; EHOSTUNREACH (the client left); ETIMEDOUT (no room in time);
 * ENOMEM. */
static int
s_send_chunk(s_stream *st, bool wait)
{
    ot_snapshot *s = st->s;
    size_t len = st->b.len, cap = st->b.cap;
    char *data = st->b.data;
    st->b = (ot_buf){ 0 };
    s_chunk_ref *h = malloc(sizeof *h);
    if (!h || !data) {
        free(h);
        free(data);
        return ENOMEM;
    }
    s_max(&s->build_peak, cap);
    int64_t now = ot_clock_mono_ms(), stall = now + OT_SNAPSHOT_STALL_MS;
    if (stall > st->deadline)
        stall = st->deadline;
    int rc = ETIMEDOUT;
    /* A reply over its time ends here, even for a client that reads. */
    bool over = wait && now >= st->deadline;
    while (!over) {
        if (atomic_load(&s->bud->queued) + len <= OT_SNAPSHOT_QUEUED_MAX) {
            if (zmq_send(s->router, st->id, st->idlen, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0) {
                rc = 0;
                break;
            }
            if (errno != EAGAIN) {
                rc = EHOSTUNREACH;      /* ROUTER_MANDATORY: the client left */
                break;
            }
        }
        if (!wait || atomic_load(&s->stop) || ot_clock_mono_ms() >= stall)
            break;
        zmq_poll(NULL, 0, S_POLL_STEP_MS);
    }
    if (rc != 0) {
        free(h);
        free(data);
        return rc;
    }
    /* The identity went out: the rest of the message cannot hit the
     * high-water mark (ZeroMQ queues a message whole or not at all). */
    if (st->delim)
        zmq_send(s->router, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT);
    h->bud = s->bud;
    h->len = len;
    atomic_fetch_add(&s->bud->refs, 1);
    s_max(&s->bud->peak, atomic_fetch_add(&s->bud->queued, len) + len);
    zmq_msg_t m;
    if (zmq_msg_init_data(&m, data, len, s_chunk_free, h) != 0) {
        s_chunk_free(data, h);
        return ENOMEM;
    }
    if (zmq_msg_send(&m, s->router, ZMQ_DONTWAIT) < 0)
        zmq_msg_close(&m);      /* releases the chunk through s_chunk_free */
    atomic_fetch_add(&s->chunks, 1);
    atomic_fetch_add(&s->bytes, len);
    return 0;
}

/* Send a refusal (final unless retry) as the next message of the reply,
 * and count it (before: a client may look at the counts once it has the
 * reply); never waits: a client that does not read loses it. */
static void
s_send_error(s_stream *st, const char *text, bool retry)
{
    atomic_fetch_add(&st->s->refused, 1);
    ot_buf_free(&st->b);
    if (ot_update_reply_error(&st->b, text, retry) == 0) {
        /* ot_update_reply_error wrote chunk 0; a later index keeps the
         * sequence of a reply that already sent chunks. */
        if (st->chunk > 0)
            (void)ot_update_reply_chunk(&st->b, st->chunk);
        (void)s_send_chunk(st, false);
    }
    ot_buf_free(&st->b);
}

/* One row of the reply (an ot_store_tally_fn): closes and sends the chunk
 * first when the row might not fit (invariant 2). A key of a view this
 * build does not know is left out. Returns 0, or what stops the walk:
 * ENOMEM, S_TOO_BIG, or s_send_chunk's error. */
static int
s_row(void *ctx, const char *key, size_t len, const ot_counts *c)
{
    s_stream *st = ctx;
    if (st->b.len + OT_UPDATE_REPLY_ROW_MAX + OT_UPDATE_SEQS_MAX > st->limit) {
        if (st->delim)
            return S_TOO_BIG;
        int rc = ot_update_reply_chunk(&st->b, st->chunk);
        if (rc == 0)
            rc = s_send_chunk(st, true);
        if (rc != 0)
            return rc;
        st->chunk++;
    }
    int rc = ot_update_reply_row(&st->b, st->vs, key, len, c);
    if (rc == 0)
        st->rows++;
    return rc == ENOMEM ? rc : 0;
}

/* 'text' quoted into out (cap bytes) when it is printable ASCII of at most
 * 64 bytes, else "(not printable)": a reply's error is a protobuf string,
 * which must be valid UTF-8 for clients in other languages to parse it. */
static void
s_printable(const char *text, char *out, size_t cap)
{
    size_t n = strlen(text);
    bool printable = n <= 64;
    for (size_t i = 0; printable && i < n; i++)
        printable = text[i] >= 0x20 && text[i] < 0x7f;
    snprintf(out, cap, "'%s'", printable ? text : "(not printable)");
}

/* Append " NAME" for every view of vs to text (cap bytes) from off. */
static void
s_list_views(const ot_viewset *vs, char *text, size_t cap, size_t off)
{
    for (size_t i = 0; i < ot_viewset_count(vs) && off < cap; i++)
        if (ot_viewset_at(vs, i))
            off += (size_t)snprintf(text + off, cap - off, " %s", ot_viewset_at(vs, i)->name);
}

/* True when some key of a view of vs can start with p ("" selects all):
 * the part before a '/' names a view, or without '/' a view's name starts
 * with p. */
static bool
s_prefix_known(const ot_viewset *vs, const char *p)
{
    const char *slash = strchr(p, '/');
    size_t n = slash ? (size_t)(slash - p) : strlen(p);
    if (!p[0])
        return true;
    for (size_t i = 0; i < ot_viewset_count(vs); i++) {
        const ot_view *v = ot_viewset_at(vs, i);
        if (!v || strncmp(v->name, p, n) != 0)
            continue;
        if (!slash || (v->name[n] == 0 && v->nfields > 0))
            return true;
    }
    return false;
}

/* The key prefix the request selects into prefix (OT_VIEW_KEY_MAX + 2
 * bytes), or a refusal text into text. Returns true when prefix is set. */
static bool
s_request_prefix(const ot_viewset *vs, const Optally__SnapshotRequest *req, char *prefix,
                 char *text, size_t tcap)
{
    if (req->view[0]) {
        const ot_view *v = ot_viewset_find(vs, req->view, NULL);
        if (!v) {
            char name[70];
            s_printable(req->view, name, sizeof name);
            size_t off = (size_t)snprintf(text, tcap, "unknown view %s; views:", name);
            s_list_views(vs, text, tcap, off);
            return false;
        }
        /* "country/" must not match "country,quarter/..." */
        snprintf(prefix, OT_VIEW_KEY_MAX + 2, "%s%s", v->name, v->nfields ? "/" : "");
        return true;
    }
    if (strlen(req->prefix) > OT_VIEW_KEY_MAX) {
        snprintf(text, tcap, "prefix too long");
        return false;
    }
    if (!s_prefix_known(vs, req->prefix)) {
        char shown[70];
        s_printable(req->prefix, shown, sizeof shown);
        size_t off = (size_t)snprintf(text, tcap, "no tally key can start with %s (keys are "
                                      "view/value/...); views:", shown);
        s_list_views(vs, text, tcap, off);
        return false;
    }
    snprintf(prefix, OT_VIEW_KEY_MAX + 2, "%s", req->prefix);
    return true;
}

/* Answer the request in payload (len bytes) on st, and count the answer
 * (served, refused, abandoned). */
static void
s_answer(s_stream *st, const uint8_t *payload, size_t len)
{
    ot_snapshot *s = st->s;
    Optally__SnapshotRequest *req = optally__snapshot_request__unpack(NULL, len, payload);
    if (!req) {
        s_send_error(st, "malformed request: send one optally.SnapshotRequest frame", false);
        return;
    }
    char prefix[OT_VIEW_KEY_MAX + 2] = "", text[400];
    int rc = ot_store_views(s->store, &st->vs);
    if (rc != 0) {
        optally__snapshot_request__free_unpacked(req, NULL);
        s_send_error(st, "snapshot failed: store read error; retry", true);
        return;
    }
    bool ok = s_request_prefix(st->vs, req, prefix, text, sizeof text);
    st->limit = OT_SNAPSHOT_CHUNK_MAX;
    if (req->max_message_bytes && req->max_message_bytes < st->limit)
        st->limit = req->max_message_bytes < OT_SNAPSHOT_CHUNK_MIN ? OT_SNAPSHOT_CHUNK_MIN
                                                                   : req->max_message_bytes;
    optally__snapshot_request__free_unpacked(req, NULL);
    if (!ok) {
        s_send_error(st, text, false);
        return;
    }
    ot_store_seqs seqs;
    rc = ot_store_tally_snapshot(s->store, prefix, s_row, st, &seqs);
    if (rc == 0) {
        rc = ot_update_reply_end(&st->b, st->vs, st->chunk, st->rows, seqs.seq, seqs.view_seq,
                                  OT_STORE_MAX_VIEWS);
        /* Counted before the last chunk goes, taken back if it does not. */
        atomic_fetch_add(&s->served, 1);
        if (rc == 0)
            rc = s_send_chunk(st, true);
        if (rc == 0)
            return;
        atomic_fetch_sub(&s->served, 1);
    }
    if (rc == EHOSTUNREACH || rc == ETIMEDOUT) {
        atomic_fetch_add(&s->refused, 1);
        atomic_fetch_add(&s->abandoned, 1);     /* invariant 3: nothing more */
    } else if (rc == S_TOO_BIG) {
        snprintf(text, sizeof text, "snapshot larger than one message of %zu bytes: a REQ "
                 "socket takes one reply; ask with a DEALER, which gets it in chunks", st->limit);
        s_send_error(st, text, false);
    } else {
        /* A passing failure: the client asks again (retry = true). */
        s_send_error(st, "snapshot failed: store read error; retry", true);
    }
    ot_buf_free(&st->b);
}

/* Receive one request; reply to it. Frames: identity, [empty delimiter],
 * payload; anything else is answered with an error when addressable. */
static void
s_serve_one(ot_snapshot *s)
{
    zmq_msg_t id, f[2];
    size_t count = 0;
    zmq_msg_init(&id);
    if (zmq_msg_recv(&id, s->router, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&id);
        return;
    }
    bool more = zmq_msg_more(&id);
    while (more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, s->router, 0) < 0) {
            zmq_msg_close(&m);
            break;
        }
        more = zmq_msg_more(&m);
        if (count < 2) {
            zmq_msg_init(&f[count]);
            zmq_msg_move(&f[count], &m);
        }
        zmq_msg_close(&m);
        count++;
    }
    bool delim = count >= 2 && zmq_msg_size(&f[0]) == 0;
    zmq_msg_t *payload = count == 1 ? &f[0] : (count == 2 && delim ? &f[1] : NULL);
    s_stream st = { .s = s, .id = zmq_msg_data(&id), .idlen = zmq_msg_size(&id),
                    .delim = delim, .limit = OT_SNAPSHOT_CHUNK_MAX,
                    .deadline = ot_clock_mono_ms() + OT_SNAPSHOT_TIME_MAX_MS };
    if (payload)
        s_answer(&st, zmq_msg_data(payload), zmq_msg_size(payload));
    else
        s_send_error(&st, "malformed request: one frame holding a SnapshotRequest", false);
    ot_viewset_free(&st.vs);
    for (size_t i = 0; i < count && i < 2; i++)
        zmq_msg_close(&f[i]);
    zmq_msg_close(&id);
}

static void *
s_main(void *arg)
{
    ot_snapshot *s = arg;
    while (!atomic_load(&s->stop)) {
        zmq_pollitem_t pi = { s->router, 0, ZMQ_POLLIN, 0 };
        int n = zmq_poll(&pi, 1, 100);
        if (n < 0 && errno != EINTR)
            break;
        if (n > 0 && (pi.revents & ZMQ_POLLIN))
            s_serve_one(s);
    }
    return NULL;
}

int
ot_snapshot_start(void *zctx, const char *endpoint, ot_store *store,
                  const struct ot_auth *auth, ot_snapshot **out)
{
    *out = NULL;
    ot_snapshot *s = calloc(1, sizeof *s);
    if (!s)
        return ENOMEM;
    s->bud = calloc(1, sizeof *s->bud);
    if (!s->bud) {
        free(s);
        return ENOMEM;
    }
    atomic_init(&s->bud->refs, 1);
    s->store = store;
    int one = 1, linger = 0, rcvhwm = 16, sndhwm = S_SNDHWM;
    int64_t maxmsg = S_REQUEST_MAX;
    s->router = zmq_socket(zctx, ZMQ_ROUTER);
    if (!s->router ||
        zmq_setsockopt(s->router, ZMQ_RCVHWM, &rcvhwm, sizeof rcvhwm) != 0 ||
        zmq_setsockopt(s->router, ZMQ_SNDHWM, &sndhwm, sizeof sndhwm) != 0 ||
        zmq_setsockopt(s->router, ZMQ_ROUTER_MANDATORY, &one, sizeof one) != 0 ||
        zmq_setsockopt(s->router, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        zmq_setsockopt(s->router, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) != 0 ||
        ot_auth_apply(auth, s->router, OT_AUTH_DOMAIN_SUBSCRIBE) != 0 ||
        zmq_bind(s->router, endpoint) != 0) {
        int e = errno;
        ot_snapshot_stop(&s);
        errno = e;
        return OT_ETRANSPORT;
    }
    if (pthread_create(&s->thread, NULL, s_main, s) != 0) {
        ot_snapshot_stop(&s);
        return ENOMEM;
    }
    s->started = true;
    *out = s;
    return 0;
}

void
ot_snapshot_counts(const ot_snapshot *s, uint64_t *served, uint64_t *refused)
{
    *served = atomic_load(&s->served);
    *refused = atomic_load(&s->refused);
}

void
ot_snapshot_stats_get(const ot_snapshot *s, ot_snapshot_stats *out)
{
    memset(out, 0, sizeof *out);
    out->served = atomic_load(&s->served);
    out->refused = atomic_load(&s->refused);
    out->abandoned = atomic_load(&s->abandoned);
    out->chunks = atomic_load(&s->chunks);
    out->bytes = atomic_load(&s->bytes);
    out->queued_peak = atomic_load(&s->bud->peak);
    out->build_peak = atomic_load(&s->build_peak);
}

void
ot_snapshot_stop(ot_snapshot **ps)
{
    ot_snapshot *s = *ps;
    if (!s)
        return;
    if (s->started) {
        atomic_store(&s->stop, 1);
        pthread_join(s->thread, NULL);
    }
    if (s->router)
        zmq_close(s->router);
    s_budget_unref(s->bud);     /* invariant 4: chunks still queued keep it */
    free(s);
    *ps = NULL;
}
