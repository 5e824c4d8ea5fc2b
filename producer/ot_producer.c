/*
 * ot_producer: the sending side of the ingest protocol (contract in
 * ot_producer.h).
 *
 * Design. A batch is built directly as EventBatch wire bytes: each submitted
 * event is packed at once behind the tag of the `events` field
 * (OT_F_BATCH_EVENTS, length-delimited) and its length, each figure behind
 * that of `figures` (OT_F_BATCH_FIGURES; protobuf allows the two repeated
 * fields interleaved: each keeps its own order), and the batch_id
 * (OT_F_BATCH_ID, varint) is appended when the batch is sealed; tags and
 * varints are written with ot_wire's helpers.
 * So the caller's event is copied the moment it is submitted and never
 * referenced again, and every resend of a batch sends the very same bytes.
 * A batch is sealed at `batch` events or before its message (batch_id
 * included) would pass p->batch_bytes (OT_PRODUCER_BATCH_BYTES, or
 * max_msg_size when smaller), whichever comes first. An event whose field
 * alone, with the batch_id, passes max_msg_size is never put in a batch: the
 * consumer would drop the connection on such a message (ZMQ_MAXMSGSIZE),
 * which looks like a dead consumer and would hold every batch behind it
 * until the producer gave up. It is answered REJECTED / STRING_TOO_LONG at
 * once, as the consumer would if it could read it.
 *
 * p->open is the batch being filled; p->slots[] hold up to `window` sealed
 * batches until they are answered. A slot is
 *   FREE     empty (its buffers are kept for reuse),
 *   WAITING  to be sent once now >= send_at: a first send, a resend after a
 *            timeout or a "retry later" error, or a send that found no
 *            connection up (EAGAIN under ZMQ_IMMEDIATE),
 *   SENT     handed to libzmq, awaiting the reply.
 *
 * Invariants.
 *   1. Every submitted item (event or figure) sits in exactly one batch
 *      (open or a busy slot) until its result is delivered; results are
 *      delivered once, for the whole batch, and then the slot is freed. So
 *      each item's outcome reaches on_result exactly once. b->ev.v[i] is the
 *      tag of the i-th event of b, b->fig.v[i] that of the i-th figure.
 *   2. A batch keeps its batch_id across resends, so a late reply to an
 *      earlier attempt still answers it; a reply whose batch_id is not in a
 *      busy slot (unknown, or already answered) is ignored.
 *   3. `attempts` counts attempts started (1 after the first send). An
 *      attempt ends at `deadline`, whether or not the bytes ever left (time
 *      spent without a connection counts). At most 1 + retries attempts;
 *      when the last one expires the call fails with OT_ETIMEOUT.
 *   4. Once a call failed, p->err holds the code and every later call
 *      returns it (the header allows only close after an error).
 *
 * A dead connection is left to libzmq (heartbeats, see s_socket_open), and a
 * reply that does not decode is ignored like a lost one: the attempt simply
 * times out and the batch is sent again.
 *
 * on_result is called from inside ot_producer_submit/flush/poll; it must not call
 * back into the producer.
 */
#include "ot_producer.h"

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <zmq.h>

#include "ot_clock.h"
#include "ot_error.h"
#include "ot_event.h"
#include "ot_wire.h"

#define S_DEFAULT_ENDPOINT  "tcp://127.0.0.1:7710"
#define S_DEFAULT_BATCH     1000
#define S_DEFAULT_TIMEOUT   5000
#define S_DEFAULT_RETRIES   3
#define S_DEFAULT_WINDOW    8
#define S_WINDOW_MAX        OT_PRODUCER_WINDOW_MAX   /* slots are allocated up front */
#define S_LINGER_MS         1000
#define S_HEARTBEAT_MS      1000      /* ZMTP PING interval */
#define S_TICK_MS           20        /* re-try a send that found no peer */
#define S_BACKOFF_MS        200       /* first wait after "retry later" */
#define S_BACKOFF_MAX_MS    5000
#define S_MAX_WAIT_MS       1000      /* no poll sleeps longer than this */
#define S_MAX_REPLY         (64 << 20) /* a larger message is not a reply */
/* The batch_id field that seals a batch: its tag and a varint. */
#define S_SEAL_BYTES        (1 + OT_WIRE_VARINT_MAX)

/* Every tag of the batch is written as one byte. */
_Static_assert(OT_WIRE_TAG(OT_F_BATCH_EVENTS, OT_WIRE_LEN) < 0x80 &&
               OT_WIRE_TAG(OT_F_BATCH_FIGURES, OT_WIRE_LEN) < 0x80 &&
               OT_WIRE_TAG(OT_F_BATCH_ID, OT_WIRE_VARINT) < 0x80, "one-byte batch tags");

enum { S_FREE = 0, S_WAITING, S_SENT };

/* The caller's tags of one kind of item (events or figures), in the order
 * the items stand in the batch: the reply answers each kind in its own
 * list (IngestReply.results, .figure_results), by position. */
typedef struct s_tags {
    uint64_t *v;        /* v[i] belongs to the i-th item of this kind, owned */
    size_t n;           /* items of this kind in the batch */
    size_t cap;         /* entries allocated in v */
} s_tags;

/* One batch: wire bytes plus the caller's tag of each item, in order. */
typedef struct s_batch {
    uint8_t *buf;       /* EventBatch bytes, owned */
    size_t len;         /* bytes used */
    size_t cap;         /* bytes allocated */
    s_tags ev;          /* the events (field `events`) */
    s_tags fig;         /* the figures (field `figures`) */
    uint64_t id;        /* batch_id, set when sealed */
    int state;          /* S_FREE / S_WAITING / S_SENT */
    int attempts;       /* attempts started (invariant 3) */
    int64_t send_at;    /* WAITING: earliest time to send (ms, monotonic) */
    int64_t deadline;   /* end of the current attempt (ms, monotonic) */
} s_batch;

struct ot_producer {
    void *zctx;                   /* own ZeroMQ context */
    void *sock;                   /* the DEALER */
    char *endpoint;               /* owned copy */
    size_t batch_max;             /* events per batch */
    int timeout_ms;               /* per attempt */
    int retries;                  /* resends allowed per batch */
    int window;                   /* number of slots */
    int64_t max_msg;              /* the consumer's message size limit */
    size_t batch_bytes;           /* seal a batch before its message passes this */
    ot_producer_result_fn on_result;
    void *ctx;                    /* passed to on_result */
    s_batch open;                 /* the batch being filled */
    s_batch *slots;               /* window sealed batches, owned */
    int busy;                     /* slots not FREE */
    uint64_t id_base;             /* random high 32 bits of every batch_id */
    uint32_t id_next;             /* low 32 bits of the next batch_id, never 0 */
    uint64_t resends;             /* batches sent again, for the summary */
    int err;                      /* sticky error (invariant 4) */
    char err_text[256];           /* the consumer's words for a sticky OT_ESTORAGE */
    bool curve;                   /* CURVE client keys below are set */
    char server_key[41], client_public[41], client_secret[41];
};

/* Items (events and figures) in b: what `batch` and OT_BATCH_MAX_EVENTS
 * bound. */
static size_t
s_batch_items(const s_batch *b)
{
    return b->ev.n + b->fig.n;
}

/* Make room for `more` bytes in b, and for one more tag in t (NULL: none).
 * Returns 0 or ENOMEM; on failure b is unchanged. */
static int
s_batch_reserve(s_batch *b, size_t more, s_tags *t)
{
    if (more > SIZE_MAX / 2 - b->len)
        return ENOMEM;
    if (b->cap - b->len < more) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap - b->len < more)
            cap *= 2;
        uint8_t *nb = realloc(b->buf, cap);
        if (!nb)
            return ENOMEM;
        b->buf = nb;
        b->cap = cap;
    }
    if (t && t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        uint64_t *nt = realloc(t->v, cap * sizeof *nt);
        if (!nt)
            return ENOMEM;
        t->v = nt;
        t->cap = cap;
    }
    return 0;
}

/* Bytes the `events` field of an event of sz packed bytes takes. */
static size_t
s_field_bytes(size_t sz)
{
    uint8_t v[OT_WIRE_VARINT_MAX];
    return 1 + ot_wire_put_varint(v, sz) + sz;
}

/* Append m (an event or a figure, sz bytes packed) to b as one field of
 * the EventBatch: `events` or `figures`. Returns 0 or ENOMEM (b unchanged). */
static int
s_batch_add(s_batch *b, const ProtobufCMessage *m, size_t sz, uint64_t tag)
{
    bool figure = m->descriptor == &optally__figure__descriptor;
    s_tags *t = figure ? &b->fig : &b->ev;
    if (sz > SIZE_MAX / 2)
        return ENOMEM;
    int rc = s_batch_reserve(b, 1 + OT_WIRE_VARINT_MAX + sz, t);
    if (rc)
        return rc;
    b->buf[b->len++] = (uint8_t)OT_WIRE_TAG(figure ? OT_F_BATCH_FIGURES : OT_F_BATCH_EVENTS,
                                            OT_WIRE_LEN);
    b->len += ot_wire_put_varint(b->buf + b->len, sz);
    b->len += protobuf_c_message_pack(m, b->buf + b->len);
    t->v[t->n++] = tag;
    return 0;
}

static void
s_batch_free(s_batch *b)
{
    free(b->buf);
    free(b->ev.v);
    free(b->fig.v);
    memset(b, 0, sizeof *b);
}

static int
s_fail(ot_producer *p, int err)
{
    p->err = err;
    return err;
}

/* Open a DEALER with our options and connect it. OUT: *out.
 * Returns 0, EINVAL (endpoint not understood) or OT_ETRANSPORT. */
static int
s_socket_open(ot_producer *p, void **out)
{
    void *s = zmq_socket(p->zctx, ZMQ_DEALER);
    if (!s)
        return OT_ETRANSPORT;
    int one = 1, linger = S_LINGER_MS;
    /* Room for every batch in flight plus the resends of a slow peer;
     * beyond that a send reports EAGAIN and is tried again later. */
    int sndhwm = 2 * p->window + 2, rcvhwm = 1000;
    /* ZMTP heartbeats let libzmq itself notice a peer that vanished without
     * closing its TCP connection (host down, cable cut): the pipe is dropped
     * with whatever was queued on it and a fresh connection is made, so no
     * batch waits behind a dead peer. Unlike reopening the socket on a
     * timeout, this never mistakes a slow consumer for a dead one (libzmq's
     * I/O thread answers PINGs however busy the application is), so late
     * replies to a first attempt still arrive and still count. */
    int hb_ivl = S_HEARTBEAT_MS, hb_timeout = 3 * S_HEARTBEAT_MS;
    int64_t maxmsg = S_MAX_REPLY;
    if (zmq_setsockopt(s, ZMQ_IMMEDIATE, &one, sizeof one) ||
        zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger) ||
        zmq_setsockopt(s, ZMQ_SNDHWM, &sndhwm, sizeof sndhwm) ||
        zmq_setsockopt(s, ZMQ_RCVHWM, &rcvhwm, sizeof rcvhwm) ||
        zmq_setsockopt(s, ZMQ_HEARTBEAT_IVL, &hb_ivl, sizeof hb_ivl) ||
        zmq_setsockopt(s, ZMQ_HEARTBEAT_TIMEOUT, &hb_timeout, sizeof hb_timeout) ||
        zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) ||
        (p->curve &&
         (zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, p->server_key, 41) ||
          zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, p->client_public, 41) ||
          zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, p->client_secret, 41)))) {
        zmq_close(s);
        return OT_ETRANSPORT;
    }
    /* An IPv6 literal (tcp://[::1]:P) needs ZMQ_IPV6; names are left on
     * IPv4, where the consumer binds `localhost` (turning IPv6 on would make
     * libzmq resolve localhost to ::1 on hosts that list it). */
    int v6 = strncmp(p->endpoint, "tcp://[", 7) == 0;
    if (v6 && zmq_setsockopt(s, ZMQ_IPV6, &v6, sizeof v6) != 0) {
        zmq_close(s);
        return OT_ETRANSPORT;
    }
    if (zmq_connect(s, p->endpoint) != 0) {
        int e = errno;
        zmq_close(s);
        return (e == EINVAL || e == EPROTONOSUPPORT || e == ENOCOMPATPROTO)
            ? EINVAL : OT_ETRANSPORT;
    }
    *out = s;
    return 0;
}

/* Close a socket whose unsent messages are worthless (they will be sent
 * again, or the caller gave up on them), so it must not linger. */
static void
s_socket_close(void **s)
{
    if (!*s)
        return;
    int zero = 0;
    zmq_setsockopt(*s, ZMQ_LINGER, &zero, sizeof zero);
    zmq_close(*s);
    *s = NULL;
}

/* Hand b's bytes to libzmq. Returns 0 (sent), EAGAIN (no connection up or
 * queue full: try later) or OT_ETRANSPORT. */
static int
s_send(ot_producer *p, s_batch *b)
{
    if (zmq_send(p->sock, b->buf, b->len, ZMQ_DONTWAIT) >= 0)
        return 0;
    if (errno == EAGAIN || errno == EINTR)
        return EAGAIN;
    return OT_ETRANSPORT;
}

static void
s_slot_release(ot_producer *p, s_batch *b)
{
    b->state = S_FREE;
    b->len = 0;
    b->ev.n = 0;
    b->fig.n = 0;
    p->busy--;
}

/* Report every item of b (events, then figures) as REJECTED with text,
 * and free the slot. */
static void
s_reject_all(ot_producer *p, s_batch *b, const char *text)
{
    for (size_t i = 0; i < b->ev.n; i++)
        p->on_result(p->ctx, b->ev.v[i], OPTALLY__INGEST_STATUS__REJECTED,
                     OPTALLY__REJECT_REASON__REASON_NONE, text, 0);
    for (size_t i = 0; i < b->fig.n; i++)
        p->on_result(p->ctx, b->fig.v[i], OPTALLY__INGEST_STATUS__REJECTED,
                     OPTALLY__REJECT_REASON__REASON_NONE, text, 0);
    s_slot_release(p, b);
}

static bool
s_retry_later(Optally__BatchError e)
{
    return e == OPTALLY__BATCH_ERROR__STORAGE_FULL ||
           e == OPTALLY__BATCH_ERROR__STORAGE_ERROR ||
           e == OPTALLY__BATCH_ERROR__SHUTTING_DOWN;
}

/* A batch-level error for b. "Retry later" errors schedule a resend after a
 * backoff of 200 ms doubling up to 5 s (a retry, like a timeout); once the
 * retries are used up, and for every other error, the batch's events are
 * reported REJECTED (REASON_NONE) with the error's name and the consumer's
 * text: the consumer will not take these bytes, and the caller must hear of
 * every event. */
static void
s_batch_error(ot_producer *p, s_batch *b, const Optally__IngestReply *r, int64_t now)
{
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&optally__batch_error__descriptor, r->error);
    char name[48];
    if (v)
        snprintf(name, sizeof name, "%s", v->name);
    else
        snprintf(name, sizeof name, "batch error %d", (int)r->error);
    const char *sep = r->error_text && r->error_text[0] ? ": " : "";
    const char *detail = r->error_text ? r->error_text : "";

    char text[512];
    if (s_retry_later(r->error)) {
        if (b->state != S_SENT)
            return;  /* a resend is already scheduled: one "later" is enough */
        if (b->attempts <= p->retries) {
            int shift = b->attempts - 1 < 5 ? b->attempts - 1 : 5;
            int64_t wait = (int64_t)S_BACKOFF_MS << shift;
            if (wait > S_BACKOFF_MAX_MS)
                wait = S_BACKOFF_MAX_MS;
            b->attempts++;
            p->resends++;
            b->state = S_WAITING;
            b->send_at = now + wait;
            b->deadline = b->send_at + p->timeout_ms;
            return;
        }
        /* Not a verdict on the events: the consumer could not store them.
         * Report a runtime failure (the CLI exits 2), not rejections. */
        snprintf(p->err_text, sizeof p->err_text, "%s%s%s", name, sep, detail);
        s_fail(p, OT_ESTORAGE);
        return;
    } else {
        snprintf(text, sizeof text, "%s%s%s", name, sep, detail);
    }
    s_reject_all(p, b, text);
}

static bool
s_known_status(Optally__IngestStatus s)
{
    return s >= OPTALLY__INGEST_STATUS__STORED && s <= OPTALLY__INGEST_STATUS__REJECTED;
}

/* Deliver the n results of one kind of item (tags t) to on_result. */
static void
s_deliver(ot_producer *p, const s_tags *t, Optally__EventResult *const *res)
{
    for (size_t i = 0; i < t->n; i++) {
        const Optally__EventResult *er = res[i];
        if (s_known_status(er->status)) {
            p->on_result(p->ctx, t->v[i], er->status, er->reason,
                         er->reason_text ? er->reason_text : "", er->seq);
        } else {
            char text[64];
            snprintf(text, sizeof text, "consumer reply has unknown status %d",
                     (int)er->status);
            p->on_result(p->ctx, t->v[i], OPTALLY__INGEST_STATUS__REJECTED,
                         OPTALLY__REJECT_REASON__REASON_NONE, text, 0);
        }
    }
}

/* One message from the consumer (its last frame). Anything that is not an
 * IngestReply for a busy slot is ignored (invariant 2). A reply whose
 * result counts do not match the batch answers all of it REJECTED: e.g. a
 * consumer older than figures skips the `figures` field as unknown and
 * answers none of them (the text says so). */
static void
s_handle_reply(ot_producer *p, const uint8_t *data, size_t size, int64_t now)
{
    Optally__IngestReply *r = optally__ingest_reply__unpack(NULL, size, data);
    if (!r)
        return;
    s_batch *b = NULL;
    for (int i = 0; i < p->window && !b; i++)
        if (p->slots[i].state != S_FREE && p->slots[i].id == r->batch_id)
            b = &p->slots[i];
    if (!b) {
        /* unknown id, or a late reply to a batch already answered */
    } else if (r->error != OPTALLY__BATCH_ERROR__BATCH_OK) {
        s_batch_error(p, b, r, now);
    } else if (r->n_results != b->ev.n) {
        char text[128];
        snprintf(text, sizeof text, "consumer reply has %zu results for %zu events",
                 r->n_results, b->ev.n);
        s_reject_all(p, b, text);
    } else if (r->n_figure_results != b->fig.n) {
        char text[200];
        snprintf(text, sizeof text, "consumer reply has %zu results for %zu figures%s",
                 r->n_figure_results, b->fig.n, r->n_figure_results == 0
                 ? " (a consumer older than figures? it does not take them)" : "");
        s_reject_all(p, b, text);
    } else {
        s_deliver(p, &b->ev, r->results);
        s_deliver(p, &b->fig, r->figure_results);
        s_slot_release(p, b);
    }
    optally__ingest_reply__free_unpacked(r, NULL);
}

/* Receive every message waiting on the socket. Returns 0 or OT_ETRANSPORT. */
static int
s_drain(ot_producer *p, int64_t now)
{
    for (;;) {
        /* A reply is one frame; should a peer put a delimiter in front, the
         * payload is the last frame, so keep only that. */
        zmq_msg_t last;
        zmq_msg_init(&last);
        for (;;) {
            zmq_msg_t frame;
            zmq_msg_init(&frame);
            if (zmq_msg_recv(&frame, p->sock, ZMQ_DONTWAIT) < 0) {
                int e = errno;
                zmq_msg_close(&frame);
                zmq_msg_close(&last);
                if (e == EAGAIN || e == EINTR)
                    return 0;
                return s_fail(p, OT_ETRANSPORT);
            }
            int more = zmq_msg_more(&frame);
            zmq_msg_move(&last, &frame);  /* releases the previous frame */
            zmq_msg_close(&frame);
            if (!more)
                break;
        }
        s_handle_reply(p, zmq_msg_data(&last), zmq_msg_size(&last), now);
        zmq_msg_close(&last);
        if (p->err)
            return p->err;   /* a reply made the producer give up (OT_ESTORAGE) */
    }
}

/* End attempts whose deadline passed: start the next one, or fail with
 * OT_ETIMEOUT when the batch has had all of them. */
static int
s_expire(ot_producer *p, int64_t now)
{
    for (int i = 0; i < p->window; i++) {
        s_batch *b = &p->slots[i];
        if (b->state == S_FREE || now < b->deadline)
            continue;
        if (b->attempts > p->retries)
            return s_fail(p, OT_ETIMEOUT);
        b->attempts++;
        p->resends++;
        b->state = S_WAITING;
        b->send_at = now;
        b->deadline = now + p->timeout_ms;
    }
    return 0;
}

/* Send every WAITING batch that is due, oldest first (batch ids rise in
 * submission order; slots are reused, so slot order says nothing), and
 * none after one that finds no connection up (EAGAIN): a later batch never
 * overtakes an earlier one on the wire, so a revision in a later batch of a
 * run is not folded before the revision it supersedes (which would answer
 * it STALE), unless a timeout made the earlier one resend. *wake is
 * lowered to retry soon after an EAGAIN. Returns 0 or s_fail's code. */
static int
s_send_due(ot_producer *p, int64_t now, int64_t *wake)
{
    for (;;) {
        s_batch *first = NULL;
        for (int i = 0; i < p->window; i++) {
            s_batch *b = &p->slots[i];
            if (b->state == S_WAITING && now >= b->send_at && (!first || b->id < first->id))
                first = b;
        }
        if (!first)
            return 0;
        int rc = s_send(p, first);
        if (rc == EAGAIN) {
            if (now + S_TICK_MS < *wake)
                *wake = now + S_TICK_MS;
            return 0;
        }
        if (rc != 0)
            return s_fail(p, rc);
        first->state = S_SENT;
    }
}

/* One round of the loop: expire attempts, send what is due, wait at most
 * max_wait ms (or, when negative, until the next deadline) for replies and
 * handle them. Returns 0 or the error that ended the producer. */
static int
s_step(ot_producer *p, int max_wait)
{
    int64_t now = ot_clock_mono_ms();
    int rc = s_expire(p, now);
    if (rc)
        return rc;

    int64_t wake = now + (max_wait >= 0 ? max_wait : S_MAX_WAIT_MS);
    if ((rc = s_send_due(p, now, &wake)) != 0)
        return rc;
    for (int i = 0; i < p->window; i++) {
        s_batch *b = &p->slots[i];
        if (b->state == S_FREE)
            continue;
        if (b->state == S_WAITING && b->send_at > now && b->send_at < wake)
            wake = b->send_at;
        if (b->deadline < wake)
            wake = b->deadline;
    }

    zmq_pollitem_t item = { .socket = p->sock, .events = ZMQ_POLLIN };
    long timeout = wake > now ? (long)(wake - now) : 0;
    if (zmq_poll(&item, 1, timeout) < 0) {
        if (errno == EINTR)
            return 0;
        return s_fail(p, OT_ETRANSPORT);
    }
    if (item.revents & ZMQ_POLLIN)
        return s_drain(p, ot_clock_mono_ms());
    return 0;
}

/* Seal the open batch and move it into a free slot, waiting for one when
 * `window` batches are in flight; then try to send it at once. */
static int
s_dispatch(ot_producer *p)
{
    int rc = s_batch_reserve(&p->open, 1 + OT_WIRE_VARINT_MAX, NULL);
    if (rc)
        return rc;
    while (p->busy >= p->window)
        if ((rc = s_step(p, -1)))
            return rc;

    uint64_t id = p->id_base | p->id_next;
    if (++p->id_next == 0)
        p->id_next = 1;
    p->open.buf[p->open.len++] = (uint8_t)OT_WIRE_TAG(OT_F_BATCH_ID, OT_WIRE_VARINT);
    p->open.len += ot_wire_put_varint(p->open.buf + p->open.len, id);

    s_batch *slot = NULL;
    for (int i = 0; i < p->window && !slot; i++)
        if (p->slots[i].state == S_FREE)
            slot = &p->slots[i];
    assert(slot);
    /* Swap so the slot's old buffers become the next open batch's. */
    s_batch spare = *slot;
    *slot = p->open;
    p->open = spare;
    p->open.len = 0;
    p->open.ev.n = 0;
    p->open.fig.n = 0;

    int64_t now = ot_clock_mono_ms();
    slot->id = id;
    slot->state = S_WAITING;
    slot->attempts = 1;
    slot->send_at = now;
    slot->deadline = now + p->timeout_ms;
    p->busy++;
    return s_step(p, 0);
}

/* Bytes of the string field f of m: its text, or for a repeated one
 * (countries, scope) all its values together. */
static size_t
s_string_bytes(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    const char *base = (const char *)m;
    if (f->label != PROTOBUF_C_LABEL_REPEATED) {
        const char *v = *(char *const *)(base + f->offset);
        return v ? strlen(v) : 0;
    }
    size_t n = *(const size_t *)(base + f->quantifier_offset), sum = 0;
    char *const *vals = *(char *const *const *)(base + f->offset);
    for (size_t i = 0; i < n; i++)
        sum += vals[i] ? strlen(vals[i]) : 0;
    return sum;
}

/* Answer an item (an event or a figure, sz bytes packed) too big for any
 * message REJECTED / STRING_TOO_LONG, naming its longest string field: the
 * consumer would refuse that field's length, could it read the message. */
static void
s_reject_too_big(ot_producer *p, const ProtobufCMessage *m, size_t sz, uint64_t tag)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    const char *name = "?";
    size_t longest = 0;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_STRING)
            continue;
        size_t n = s_string_bytes(m, f);
        if (n > longest) {
            longest = n;
            name = f->name;
        }
    }
    char text[200];
    snprintf(text, sizeof text, "%s is %zu bytes packed, more than one message to the "
             "consumer may hold (%lld bytes, --max-msg-size): field '%s' is %zu bytes; "
             "shorten it", d == &optally__figure__descriptor ? "figure" : "event", sz,
             (long long)p->max_msg, name, longest);
    p->on_result(p->ctx, tag, OPTALLY__INGEST_STATUS__REJECTED,
                 OPTALLY__REJECT_REASON__STRING_TOO_LONG, text, 0);
}

/* Random high half of every batch_id, so two producers (or two runs) do not
 * share ids; time and pid only if the kernel has no randomness for us. */
static uint64_t
s_id_base(void)
{
    uint32_t r;
    if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) {
        uint64_t ms = (uint64_t)ot_clock_wall_ms();
        r = (uint32_t)ms ^ (uint32_t)(ms >> 32) ^ ((uint32_t)getpid() << 16);
    }
    return (uint64_t)r << 32;
}

int
ot_producer_open(const ot_producer_options *opt, ot_producer **out)
{
    assert(opt && out);
    *out = NULL;
    if (!opt->on_result || opt->batch > OT_BATCH_MAX_EVENTS || opt->timeout_ms < 0 ||
        opt->window < 0 || opt->window > S_WINDOW_MAX ||
        (opt->max_msg_size != 0 && opt->max_msg_size < OT_PRODUCER_MIN_MAX_MSG))
        return EINVAL;

    ot_producer *p = calloc(1, sizeof *p);
    if (!p)
        return ENOMEM;
    p->batch_max = opt->batch ? opt->batch : S_DEFAULT_BATCH;
    p->timeout_ms = opt->timeout_ms ? opt->timeout_ms : S_DEFAULT_TIMEOUT;
    p->retries = opt->retries < 0 ? S_DEFAULT_RETRIES : opt->retries;
    p->window = opt->window ? opt->window : S_DEFAULT_WINDOW;
    p->max_msg = opt->max_msg_size ? opt->max_msg_size : OT_PRODUCER_DEFAULT_MAX_MSG;
    p->batch_bytes = p->max_msg < OT_PRODUCER_BATCH_BYTES ? (size_t)p->max_msg
                                                          : OT_PRODUCER_BATCH_BYTES;
    p->on_result = opt->on_result;
    p->ctx = opt->ctx;
    if (opt->server_key || opt->client_public || opt->client_secret) {
        if (!opt->server_key || !opt->client_public || !opt->client_secret ||
            strlen(opt->server_key) != 40 || strlen(opt->client_public) != 40 ||
            strlen(opt->client_secret) != 40) {
            free(p);
            return EINVAL;
        }
        p->curve = true;
        memcpy(p->server_key, opt->server_key, 41);
        memcpy(p->client_public, opt->client_public, 41);
        memcpy(p->client_secret, opt->client_secret, 41);
    }
    p->id_base = s_id_base();
    p->id_next = 1;
    p->endpoint = strdup(opt->endpoint ? opt->endpoint : S_DEFAULT_ENDPOINT);
    p->slots = calloc((size_t)p->window, sizeof *p->slots);
    if (!p->endpoint || !p->slots) {
        ot_producer_close(&p);
        return ENOMEM;
    }
    p->zctx = zmq_ctx_new();
    if (!p->zctx) {
        ot_producer_close(&p);
        return OT_ETRANSPORT;
    }
    int rc = s_socket_open(p, &p->sock);
    if (rc) {
        ot_producer_close(&p);
        return rc;
    }
    *out = p;
    return 0;
}

/* Queue one item, an event or a figure (contract of ot_producer_submit). */
static int
s_submit(ot_producer *p, const ProtobufCMessage *m, uint64_t tag)
{
    if (p->err)
        return p->err;
    int rc;
    size_t sz = protobuf_c_message_get_packed_size(m);
    size_t need = s_field_bytes(sz);
    if (need > (uint64_t)p->max_msg - S_SEAL_BYTES) {
        s_reject_too_big(p, m, sz, tag);
        return 0;
    }
    /* Keep messages under the consumer's size limit (a peer sending more is
     * disconnected, which would look like a dead consumer): seal a batch
     * early rather than let this item push it past batch_bytes. An item
     * bigger than batch_bytes (but within max_msg) goes alone. */
    if (s_batch_items(&p->open) > 0 && p->open.len + need + S_SEAL_BYTES > p->batch_bytes &&
        (rc = s_dispatch(p)))
        return rc;
    /* A failed add changes nothing, so ENOMEM here does not end the producer. */
    rc = s_batch_add(&p->open, m, sz, tag);
    if (rc)
        return rc;
    if (s_batch_items(&p->open) >= p->batch_max)
        return s_dispatch(p);
    return 0;
}

int
ot_producer_submit(ot_producer *p, const Optally__OperationEvent *ev, uint64_t tag)
{
    assert(p && ev);
    assert(ev->base.descriptor == &optally__operation_event__descriptor);
    return s_submit(p, &ev->base, tag);
}

int
ot_producer_submit_figure(ot_producer *p, const Optally__Figure *f, uint64_t tag)
{
    assert(p && f);
    assert(f->base.descriptor == &optally__figure__descriptor);
    return s_submit(p, &f->base, tag);
}

int
ot_producer_poll(ot_producer *p, int timeout_ms)
{
    assert(p && timeout_ms >= 0);
    if (p->err)
        return p->err;
    return s_step(p, timeout_ms);
}

int
ot_producer_flush(ot_producer *p)
{
    assert(p);
    if (p->err)
        return p->err;
    int rc;
    if (s_batch_items(&p->open) > 0 && (rc = s_dispatch(p)))
        return rc;
    while (p->busy > 0)
        if ((rc = s_step(p, -1)))
            return rc;
    return 0;
}

const char *
ot_producer_error_text(const ot_producer *p)
{
    return p->err_text;
}

uint64_t
ot_producer_resends(const ot_producer *p)
{
    assert(p);
    return p->resends;
}

void
ot_producer_close(ot_producer **pp)
{
    if (!pp || !*pp)
        return;
    ot_producer *p = *pp;
    /* Either everything was answered (nothing is queued) or the caller gave
     * up on what is left: linger 0, so closing never waits on a dead peer. */
    s_socket_close(&p->sock);
    if (p->zctx)
        while (zmq_ctx_term(p->zctx) != 0 && errno == EINTR)
            ;
    if (p->slots)
        for (int i = 0; i < p->window; i++)
            s_batch_free(&p->slots[i]);
    s_batch_free(&p->open);
    free(p->slots);
    free(p->endpoint);
    memset(p->client_secret, 0, sizeof p->client_secret);   /* no secret in freed memory */
    free(p);
    *pp = NULL;
}
