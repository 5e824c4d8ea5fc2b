/*
 * ot_snapshot: snapshot service thread (see ot_snapshot.h).
 *
 * The reply is assembled as protobuf wire bytes in a growing buffer, one
 * TallyUpdate at a time (field 1 of SnapshotReply), so a large snapshot
 * costs one buffer, not a tree of structs.
 */
#include "ot_snapshot.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "ot_auth.h"
#include "ot_error.h"
#include "ot_json.h"
#include "ot_publish.h"
#include "ot_view.h"

#define S_REQUEST_MAX  65536   /* bytes: a request is a view name or a key prefix; more is refused */

struct ot_snapshot {
    void *router;
    ot_store *store;
    pthread_t thread;
    bool started;
    atomic_int stop;
    atomic_uint_fast64_t served, refused;
};

static int
s_put_varint(ot_buf *b, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    do {
        tmp[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v)
            tmp[n] |= 0x80;
        n++;
    } while (v);
    return ot_buf_append(b, (const char *)tmp, n);
}

/* Append field `field` (length-delimited) holding len bytes. */
static int
s_put_bytes(ot_buf *b, uint32_t field, const void *p, size_t len)
{
    int rc = s_put_varint(b, (uint64_t)field << 3 | 2);
    if (rc == 0)
        rc = s_put_varint(b, len);
    if (rc == 0 && len)
        rc = ot_buf_append(b, p, len);
    return rc;
}

static int
s_row(void *ctx, const char *key, size_t len, const ot_counts *c)
{
    ot_buf *b = ctx;
    ot_tally_msg m;
    uint8_t buf[4096];
    if (ot_tally_msg_fill(&m, key, len, c, NULL) != 0)
        return 0;   /* a key of a view this build does not know */
    size_t n = optally__tally_update__get_packed_size(&m.u);
    if (n > sizeof buf)
        return 0;
    optally__tally_update__pack(&m.u, buf);
    return s_put_bytes(b, 1, buf, n);
}

/* Append the closing fields: last, seq, views. */
static int
s_put_end(ot_buf *b, const ot_store_seqs *seqs)
{
    Optally__SnapshotReply end = OPTALLY__SNAPSHOT_REPLY__INIT;
    Optally__ViewSeq arr[OT_STORE_MAX_VIEWS], *ptrs[OT_STORE_MAX_VIEWS];
    uint8_t buf[1024];
    end.last = true;
    end.seq = seqs->seq;
    end.n_views = ot_view_seqs_fill(seqs, arr, ptrs);
    end.views = ptrs;
    size_t n = optally__snapshot_reply__pack(&end, buf);
    return ot_buf_append(b, (const char *)buf, n);
}

static void
s_error_reply_ex(ot_buf *b, const char *text, bool retry)
{
    Optally__SnapshotReply r = OPTALLY__SNAPSHOT_REPLY__INIT;
    uint8_t buf[512];
    r.last = true;
    r.error = (char *)text;
    r.retry = retry;
    if (optally__snapshot_reply__get_packed_size(&r) <= sizeof buf) {
        size_t n = optally__snapshot_reply__pack(&r, buf);
        b->len = 0;
        ot_buf_append(b, (const char *)buf, n);
    }
}

/* A final refusal: the request itself is wrong. */
static void
s_error_reply(ot_buf *b, const char *text)
{
    s_error_reply_ex(b, text, false);
}

/* Answer the request in payload into b. Returns true when served. */
static bool
s_answer(ot_snapshot *s, const uint8_t *payload, size_t len, ot_buf *b)
{
    Optally__SnapshotRequest *req = optally__snapshot_request__unpack(NULL, len, payload);
    if (!req) {
        s_error_reply(b, "malformed request: send one optally.SnapshotRequest frame");
        return false;
    }
    char prefix[OT_VIEW_KEY_MAX + 2] = "";
    bool ok = true;
    if (req->view[0]) {
        const ot_view *v = ot_view_find(req->view);
        if (!v) {
            /* Echo the name only when it is printable ASCII: the reply's
             * error is a protobuf string, which must be valid UTF-8 for
             * clients in other languages to parse it at all. */
            char text[400], name[68];
            size_t nl = strlen(req->view);
            bool printable = nl <= 64;
            for (size_t i = 0; printable && i < nl; i++)
                printable = req->view[i] >= 0x20 && req->view[i] < 0x7f;
            snprintf(name, sizeof name, "'%s'", printable ? req->view : "(not printable)");
            size_t off = (size_t)snprintf(text, sizeof text, "unknown view %s; views:", name);
            for (size_t i = 0; i < ot_view_count() && off < sizeof text; i++)
                off += (size_t)snprintf(text + off, sizeof text - off, " %s", ot_view_at(i)->name);
            s_error_reply(b, text);
            ok = false;
        } else {
            /* "country/" must not match "country,quarter/..." */
            snprintf(prefix, sizeof prefix, "%s%s", v->name, v->nfields ? "/" : "");
        }
    } else if (strlen(req->prefix) > OT_VIEW_KEY_MAX) {
        s_error_reply(b, "prefix too long");
        ok = false;
    } else {
        snprintf(prefix, sizeof prefix, "%s", req->prefix);
    }
    optally__snapshot_request__free_unpacked(req, NULL);
    if (!ok)
        return false;
    ot_store_seqs seqs;
    b->len = 0;
    int rc = ot_store_tally_snapshot(s->store, prefix, s_row, b, &seqs);
    if (rc == 0)
        rc = s_put_end(b, &seqs);
    if (rc != 0 || !b->data) {
        s_error_reply_ex(b, "snapshot failed: store read error; retry", true);
        return false;
    }
    return true;
}

/* Receive one request; reply to it. Frames: identity, [empty delimiter],
 * payload; anything else is answered with an error when addressable. */
static void
s_serve_one(ot_snapshot *s, ot_buf *b)
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
    bool served = payload ? s_answer(s, zmq_msg_data(payload), zmq_msg_size(payload), b) : false;
    if (!payload)
        s_error_reply(b, "malformed request: one frame holding a SnapshotRequest");
    if (served)
        atomic_fetch_add(&s->served, 1);
    else
        atomic_fetch_add(&s->refused, 1);
    /* A peer that left, or does not read, loses its reply (ROUTER_MANDATORY
     * reports it; DONTWAIT keeps a stalled client from blocking the rest). */
    if (zmq_send(s->router, zmq_msg_data(&id), zmq_msg_size(&id), ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0) {
        if (!delim || zmq_send(s->router, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0)
            zmq_send(s->router, b->data ? b->data : "", b->len, ZMQ_DONTWAIT);
    }
    for (size_t i = 0; i < count && i < 2; i++)
        zmq_msg_close(&f[i]);
    zmq_msg_close(&id);
}

static void *
s_main(void *arg)
{
    ot_snapshot *s = arg;
    ot_buf b = { 0 };
    while (!atomic_load(&s->stop)) {
        zmq_pollitem_t pi = { s->router, 0, ZMQ_POLLIN, 0 };
        int n = zmq_poll(&pi, 1, 100);
        if (n < 0 && errno != EINTR)
            break;
        if (n > 0 && (pi.revents & ZMQ_POLLIN)) {
            s_serve_one(s, &b);
            /* Do not keep a huge snapshot's buffer around between requests. */
            if (b.cap > (1u << 20))
                ot_buf_free(&b);
        }
    }
    ot_buf_free(&b);
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
    s->store = store;
    int one = 1, linger = 0, rcvhwm = 16;
    int64_t maxmsg = S_REQUEST_MAX;
    s->router = zmq_socket(zctx, ZMQ_ROUTER);
    if (!s->router ||
        zmq_setsockopt(s->router, ZMQ_RCVHWM, &rcvhwm, sizeof rcvhwm) != 0 ||
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
    free(s);
    *ps = NULL;
}
