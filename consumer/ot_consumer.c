/*
 * ot_consumer: receiver and writer threads (see ot_consumer.h).
 *
 * Ownership: a s_work is made by the receiver, owned by the writer from the
 * moment its pointer is sent over the inproc pair until the writer sends it
 * back, then owned by the receiver again, which replies and frees it. Only
 * pointers cross the pair; every ZeroMQ socket is used by one thread only.
 * Subscriptions: the ZMQ_PUB update stream is in ot_publish.c, snapshots in
 * ot_snapshot.c; integration tests get OPTALLY_PUBLISH=none and
 * OPTALLY_SNAPSHOT=none from ctest so parallel consumers do not collide;
 * pass --publish/--snapshot with free ports to test subscriptions.
 * Invariant: a reply is built only from a committed transaction's results
 * (or a batch error when nothing of the batch was committed).
 *
 * Liveness: the receiver keeps every work item it handed to the writer in
 * c->flight until the writer hands it back. When the writer ends on its
 * own (OT_EFATAL from the store, or its socket failed) its last message is
 * S_GONE (and c->writer_gone is set, in case even that send failed); the
 * receiver joins the thread, after which the items never handed back are
 * its own again, and answers each one STORAGE_ERROR before returning
 * OT_EFATAL. Nothing is answered twice: an item is either handed back
 * (answered by the writer's reply) or still in c->flight, never both.
 */
#include "ot_consumer.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <net/if.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "ot_admin.h"
#include "ot_auth.h"
#include "ot_clock.h"
#include "ot_error.h"
#include "ot_event.h"
#include "ot_figure.h"
#include "ot_keys.h"
#include "ot_publish.h"
#include "ot_snapshot.h"
#include "ot_store.h"
#include "ot_wire.h"

#define S_PAIR_ENDPOINT   "inproc://optally-writer"
#define S_DECODE_BUDGET   ((size_t)32 << 20)   /* bytes of decoded structs per message */
#define S_MAX_INFLIGHT    64                   /* work items between the threads */
#define S_MAX_INFLIGHT_BYTES ((size_t)64 << 20)
/* Messages libzmq may queue per connection before the receiver takes them.
 * Its default (1000) let one client park ~4 GiB of 4 MiB messages in the
 * daemon; with 4, a connection holds at most 16 MiB (more waits in the
 * sender's own queue, or in TCP). */
#define S_INGEST_RCVHWM   4
#define S_RECV_BURST      64                   /* messages read per poll wake-up */
#define S_IDENT_MAX       255
#define S_PEER_MAX        128
#define S_ENDPOINT_MAX    320                  /* an endpoint as bound, resolved */

/* An endpoint as zmq_bind() takes it (see s_endpoint_resolve). */
typedef struct s_endpoint {
    char bind[S_ENDPOINT_MAX];  /* the address to bind */
    bool ipv6;                  /* the socket needs ZMQ_IPV6 */
} s_endpoint;

typedef struct s_work {
    bool admin;                 /* an admin request (payload: AdminRequest); answered
                                   on the admin socket with reply (an AdminReply) */
    uint8_t ident[S_IDENT_MAX];
    size_t ident_len;
    char peer[S_PEER_MAX];      /* ZAP user id (the CURVE key, when the auth
                                   handler sets it): what the reject budget
                                   charges; "" = the routing identity */
    bool delim;                 /* REQ envelope: echo the empty delimiter */
    bool out_of_memory;         /* decoding ran out of memory: answer STORAGE_ERROR
                                   (retry later) at once; nothing reaches the store */
    zmq_msg_t payload;          /* the request bytes; items point into it */
    bool has_payload;
    ot_wire_batch *batch;       /* decoded request, NULL on a batch error */
    ot_ingest_item *items;
    ot_figure_item *fitems;     /* its figures, in request order */
    ot_ingest_group group;
    uint64_t batch_id;
    char error_text[200];
    size_t cost;                /* bytes held, for the in-flight bound */
    uint8_t *reply;             /* packed IngestReply, made by the writer */
    size_t reply_len;
} s_work;

typedef struct s_writer {
    struct ot_consumer *c;
    void *pair;
    s_work **works;
    ot_ingest_group *groups;
    size_t cap;
    int64_t last_failure_log;   /* monotonic ms of the last line */
    bool logged_failure;        /* last_failure_log is set */
    uint64_t failures;          /* failed commits since that line */
    bool views_stale;           /* the publisher's views lag the store's (s_refresh_views) */
    s_work *admin;              /* an admin request gathered after ingest work: run
                                   after that work's commit (arrival order) */
    /* Why the thread ended on its own; read by the receiver after joining. */
    const char *cause;          /* short, also in replies: "store unusable", ... */
    char detail[256];           /* what the operator needs to know besides */
} s_writer;

struct ot_consumer {
    ot_consumer_options opt;
    void *ctx;
    void *router;
    void *admin;                /* admin ROUTER, NULL when off (receiver thread) */
    char admin_ep[S_ENDPOINT_MAX];  /* as bound, or "none" */
    bool admin_file;            /* DATA/admin.endpoint is ours to remove */
    void *pair;                 /* receiver's end */
    ot_store *store;
    ot_publisher *pub;          /* used by the writer thread only */
    ot_snapshot *snap;          /* its own thread */
    ot_auth *auth;              /* ZAP handler thread; NULL without CURVE */
    int64_t next_rss_check;     /* monotonic ms */
    pthread_t writer;
    bool writer_started;        /* running or not yet joined */
    s_writer wr;                /* the writer thread's state */
    int writer_rc;              /* set by the writer before it ends */
    atomic_bool writer_gone;    /* the writer ended on its own */
    bool created_dir;           /* this open made the data directory */
    bool writer_failed;         /* the receiver saw S_GONE */
    /* receiver side: the items handed to the writer and not handed back */
    s_work *flight[S_MAX_INFLIGHT];
    size_t inflight, inflight_bytes;
    uint64_t replies_dropped;
};

/* The writer's last message when it ends on its own (never freed). */
static s_work s_gone;
#define S_GONE (&s_gone)

/* Format one line into a caller's buffer (err may be NULL when errlen is 0). */
static void
s_say(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
s_say(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (!err || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static void
s_work_free(s_work **pw)
{
    s_work *w = *pw;
    if (!w)
        return;
    ot_wire_batch_free(&w->batch);
    if (w->has_payload)
        zmq_msg_close(&w->payload);
    free(w->items);
    free(w->fitems);
    free(w->reply);
    free(w);
    *pw = NULL;
}

/* ---- writer thread ---------------------------------------------------- */

/* The result of one item (an event's or a figure's OUT fields) into r. */
static void
s_result(Optally__EventResult *r, Optally__IngestStatus status, uint64_t seq,
         const ot_reject *reject)
{
    optally__event_result__init(r);
    r->status = status;
    r->seq = seq;
    if (status == OPTALLY__INGEST_STATUS__REJECTED) {
        r->reason = reject->reason;
        r->reason_text = (char *)reject->text;
    }
}

/* Pack the reply of one work item after its transaction committed (rc 0)
 * or failed (rc: nothing of it was stored): one result per event
 * (results) and one per figure (figure_results), each in request order. */
static int
s_build_reply(s_work *w, int rc)
{
    Optally__IngestReply rep = OPTALLY__INGEST_REPLY__INIT;
    Optally__EventResult *res = NULL, **resp = NULL;
    size_t nev = w->group.n, nall = w->group.n + w->group.nfigures;
    rep.batch_id = w->batch_id;
    if (rc != 0) {
        rep.error = rc == ENOSPC ? OPTALLY__BATCH_ERROR__STORAGE_FULL
                                 : OPTALLY__BATCH_ERROR__STORAGE_ERROR;
        if (rc == OT_EFATAL)
            snprintf(w->error_text, sizeof w->error_text, "storage error: the store is unusable and "
                     "the consumer is stopping: nothing of this batch was stored; retry");
        else
            snprintf(w->error_text, sizeof w->error_text,
                     "%s: nothing of this batch was stored; retry later (%s)",
                     rc == ENOSPC ? "storage full" : "storage error", ot_strerror(rc));
        rep.error_text = w->error_text;
    } else if (w->group.batch_error != OPTALLY__BATCH_ERROR__BATCH_OK) {
        rep.error = w->group.batch_error;
        rep.error_text = w->error_text;
    } else if (nall > 0) {
        /* One array for both lists: events first, then figures. */
        res = calloc(nall, sizeof *res);
        resp = calloc(nall, sizeof *resp);
        if (!res || !resp) {
            free(res);
            free(resp);
            return ENOMEM;
        }
        for (size_t i = 0; i < nev; i++)
            s_result(&res[i], w->items[i].status, w->items[i].seq, &w->items[i].reject);
        for (size_t i = 0; i < w->group.nfigures; i++)
            s_result(&res[nev + i], w->fitems[i].status, w->fitems[i].seq,
                     &w->fitems[i].reject);
        for (size_t i = 0; i < nall; i++)
            resp[i] = &res[i];
        rep.n_results = nev;
        rep.results = nev ? resp : NULL;
        rep.n_figure_results = w->group.nfigures;
        rep.figure_results = w->group.nfigures ? resp + nev : NULL;
    }
    w->reply_len = optally__ingest_reply__get_packed_size(&rep);
    w->reply = malloc(w->reply_len ? w->reply_len : 1);
    if (w->reply)
        optally__ingest_reply__pack(&rep, w->reply);
    free(res);
    free(resp);
    return w->reply ? 0 : ENOMEM;
}


/* Receive one work pointer. wait_ms: -1 block, 0 poll. Returns 1 with
 * *out (NULL = the shutdown sentinel), 0 when none arrived, -1 on error. */
static int
s_recv_work(void *pair, int wait_ms, s_work **out)
{
    if (wait_ms >= 0) {
        zmq_pollitem_t pi = { pair, 0, ZMQ_POLLIN, 0 };
        int n = zmq_poll(&pi, 1, wait_ms);
        if (n <= 0)
            return n < 0 && errno != EINTR ? -1 : 0;
    }
    s_work *w;
    int n = zmq_recv(pair, &w, sizeof w, 0);
    if (n != (int)sizeof w)
        return errno == EINTR ? 0 : -1;
    *out = w;
    return 1;
}

static int
s_writer_reserve(s_writer *wr, size_t n)
{
    if (n <= wr->cap)
        return 0;
    size_t cap = wr->cap ? wr->cap * 2 : 64;
    while (cap < n)
        cap *= 2;
    s_work **w = realloc(wr->works, cap * sizeof *w);
    if (!w)
        return ENOMEM;
    wr->works = w;
    ot_ingest_group *g = realloc(wr->groups, cap * sizeof *g);
    if (!g)
        return ENOMEM;
    wr->groups = g;
    wr->cap = cap;
    return 0;
}

/* Gather: the first item blocks; then take whatever else is queued (it
 * arrived while the previous commit was syncing), up to `batch` events,
 * waiting at most flush_ms for more. OUT: *n works, *sentinel. */
static int
s_gather(s_writer *wr, size_t *n, bool *sentinel)
{
    const ot_consumer_options *o = &wr->c->opt;
    s_work *w;
    size_t events = 0;
    int64_t deadline = 0;
    *n = 0;
    *sentinel = false;
    for (;;) {
        /* Idle: wake up for heartbeats. */
        int wait = wr->c->pub ? OT_PUBLISH_HEARTBEAT_MS : -1;
        if (*n > 0) {
            int64_t left = deadline - ot_clock_mono_ms();
            wait = left > 0 ? (int)left : 0;
        }
        int r = s_recv_work(wr->pair, wait, &w);
        if (r < 0)
            return OT_ETRANSPORT;
        if (r == 0)
            break;
        if (!w) {
            *sentinel = true;
            break;
        }
        if (w->admin) {
            /* Run after the commit of what was gathered before it, so
             * requests take effect in arrival order. */
            wr->admin = w;
            break;
        }
        if (s_writer_reserve(wr, *n + 1) != 0) {
            /* Cannot hold it in this transaction: give it back unanswered
             * would lose it, so answer it with a storage error. */
            s_build_reply(w, ENOMEM);
            zmq_send(wr->pair, &w, sizeof w, 0);
            continue;
        }
        wr->works[(*n)++] = w;
        events += w->group.n + w->group.nfigures;
        if (*n == 1)
            deadline = ot_clock_mono_ms() + o->flush_ms;
        if (events >= o->batch)
            break;
    }
    return 0;
}

/* Say that commits fail, at most once a second (a full disk fails every
 * commit until space returns), with how many failed since the last line. */
static void
s_log_commit_failure(s_writer *wr, int err)
{
    int64_t now = ot_clock_mono_ms();
    wr->failures++;
    if (wr->logged_failure && now - wr->last_failure_log < 1000)
        return;
    fprintf(stderr, "optally consume: commit failed: %s; replying %s (%llu failed commits); "
            "nothing of those batches was stored, producers retry\n", ot_strerror(err),
            err == ENOSPC ? "STORAGE_FULL" : "STORAGE_ERROR", (unsigned long long)wr->failures);
    wr->last_failure_log = now;
    wr->logged_failure = true;
    wr->failures = 0;
}

/* The writer ends on its own: say why (for the receiver, which joins the
 * thread before reading it) and wake the receiver. */
static void
s_writer_end(s_writer *wr, int rc, const char *cause, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
s_writer_end(s_writer *wr, int rc, const char *cause, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(wr->detail, sizeof wr->detail, fmt, ap);
    va_end(ap);
    wr->cause = cause;
    wr->c->writer_rc = rc;
    atomic_store(&wr->c->writer_gone, true);
    s_work *gone = S_GONE;
    zmq_send(wr->pair, &gone, sizeof gone, ZMQ_DONTWAIT);
}

/* After a commit: one FigureUpdate per figure the commit STORED or
 * SUPERSEDED, in the order the store gave them their figure_seq (group by
 * group, figure by figure), so a subscriber sees figure_seq rise by one.
 * The figures live in the works' decoded batches: call it while the writer
 * still owns wr->works[0..n). */
static void
s_publish_figures(s_writer *wr, size_t n, int64_t committed_at)
{
    for (size_t i = 0; i < n; i++) {
        const ot_ingest_group *g = &wr->groups[i];
        for (size_t k = 0; k < g->nfigures; k++) {
            const ot_figure_item *it = &g->figures[k];
            if (it->status == OPTALLY__INGEST_STATUS__STORED ||
                it->status == OPTALLY__INGEST_STATUS__SUPERSEDED)
                ot_publisher_send_figure(wr->c->pub, it->figure, it->seq, it->figure_seq,
                                         committed_at);
        }
    }
}

static void s_refresh_views(s_writer *wr);

/* Fold one gathered set of work items in one transaction and hand each
 * back with its reply. Returns the store's result. */
static int
s_commit(s_writer *wr, size_t n)
{
    ot_consumer *c = wr->c;
    for (size_t i = 0; i < n; i++)
        wr->groups[i] = wr->works[i]->group;
    int src = ot_store_ingest(c->store, wr->groups, n);
    if (src != 0 && src != OT_EFATAL)
        s_log_commit_failure(wr, src);  /* retryable: full disk, EIO, ... */
    /* After the commit, never before; the stamp is shown, so wall time. */
    int64_t now = ot_clock_wall_ms();
    if (src == 0 && c->pub)
        s_publish_figures(wr, n, now);  /* before the works go back (they hold the figures) */
    for (size_t i = 0; i < n; i++) {
        s_work *w = wr->works[i];
        w->group = wr->groups[i];
        s_build_reply(w, src);  /* on ENOMEM w->reply stays NULL: no answer, producer retries */
        zmq_send(wr->pair, &w, sizeof w, 0);
    }
    if (src == 0 && c->pub) {
        if (wr->views_stale)
            s_refresh_views(wr);
        const ot_store_change *ch;
        size_t nch = ot_store_last_changes(c->store, &ch);
        ot_publisher_send_changes(c->pub, ch, nch, now);
    }
    return src;
}

/* The publisher's views from the store's set, after an admin request
 * changed them. On failure (out of memory) wr->views_stale stays set and
 * it is tried again before the next publish. */
static void
s_refresh_views(s_writer *wr)
{
    ot_consumer *c = wr->c;
    ot_viewset *vs = NULL;
    if (!c->pub || ot_store_views(c->store, &vs) != 0) {
        wr->views_stale = c->pub != NULL;
        return;
    }
    ot_publisher_set_views(c->pub, &vs);
    wr->views_stale = false;
}

/* Run the admin request wr->admin against the store (ot_admin.h) and hand
 * it back with its reply. Returns OT_EFATAL when the store became
 * unusable, else 0. */
static int
s_admin_run(s_writer *wr)
{
    ot_consumer *c = wr->c;
    s_work *w = wr->admin;
    bool changed = false;
    wr->admin = NULL;
    int rc = ot_admin_handle(c->store, zmq_msg_data(&w->payload), zmq_msg_size(&w->payload),
                             &w->reply, &w->reply_len, &changed);
    if (changed)
        s_refresh_views(wr);
    /* On ENOMEM w->reply stays NULL: no answer; the client times out. */
    zmq_send(wr->pair, &w, sizeof w, 0);
    return rc == OT_EFATAL ? OT_EFATAL : 0;
}

static void *
s_writer_main(void *arg)
{
    s_writer *wr = arg;
    ot_consumer *c = wr->c;
    for (;;) {
        size_t n;
        bool sentinel;
        if (s_gather(wr, &n, &sentinel) != 0) {
            int e = errno;
            s_writer_end(wr, OT_EFATAL, "writer thread failed", "its inproc socket: %s",
                         zmq_strerror(e));
            return NULL;
        }
        if (n > 0 && s_commit(wr, n) == OT_EFATAL) {
            /* The environment cannot be used any more: answering
             * STORAGE_ERROR forever would hide it. Stop; the receiver
             * answers the rest and the process exits 2. */
            s_writer_end(wr, OT_EFATAL, "store unusable",
                         "data %s: the LMDB environment cannot be used any more, e.g. MDB_PANIC "
                         "after a failed write", c->opt.data_dir);
            return NULL;
        }
        if (wr->admin && s_admin_run(wr) == OT_EFATAL) {
            s_writer_end(wr, OT_EFATAL, "store unusable",
                         "data %s: the LMDB environment cannot be used any more after an admin "
                         "request (view add/drop)", c->opt.data_dir);
            return NULL;
        }
        if (c->pub) {
            ot_store_seqs seqs;
            ot_store_seqs_get(c->store, &seqs);
            ot_publisher_tick(c->pub, &seqs);
        }
        if (sentinel)
            break;
    }
    return NULL;
}

/* ---- receiver --------------------------------------------------------- */

/* Validate every figure of a decoded batch into w->fitems (the store keeps
 * a refused one among the rejects, RejectRecord.figure set). */
static int
s_prepare_figures(s_work *w, const Optally__EventBatch *b, int64_t now)
{
    if (b->n_figures == 0)
        return 0;
    w->fitems = calloc(b->n_figures, sizeof *w->fitems);
    if (!w->fitems)
        return ENOMEM;
    for (size_t i = 0; i < b->n_figures; i++) {
        ot_figure_item *it = &w->fitems[i];
        it->figure = b->figures[i];
        ot_wire_batch_figure_raw(w->batch, i, &it->raw, &it->raw_len);
        if (ot_wire_figure_has_nul_string(it->raw, it->raw_len)) {
            it->reject.reason = OPTALLY__REJECT_REASON__BAD_STRING;
            snprintf(it->reject.text, sizeof it->reject.text,
                     "a string field holds a NUL byte; strings must be UTF-8 text without NUL");
        } else {
            ot_figure_validate(it->figure, now, &it->reject);
        }
    }
    w->group.figures = w->fitems;
    w->group.nfigures = b->n_figures;
    return 0;
}

/* Validate every event and figure of a decoded batch into w->items and
 * w->fitems. */
static int
s_prepare_items(s_work *w, int64_t now)
{
    const Optally__EventBatch *b = ot_wire_batch_msg(w->batch);
    w->batch_id = b->batch_id;
    int rc = s_prepare_figures(w, b, now);
    if (rc != 0 || b->n_events == 0)
        return rc;
    w->items = calloc(b->n_events, sizeof *w->items);
    if (!w->items)
        return ENOMEM;
    for (size_t i = 0; i < b->n_events; i++) {
        ot_ingest_item *it = &w->items[i];
        it->event = b->events[i];
        ot_wire_batch_raw(w->batch, i, &it->raw, &it->raw_len);
        if (ot_wire_has_nul_string(it->raw, it->raw_len)) {
            it->reject.reason = OPTALLY__REJECT_REASON__BAD_STRING;
            snprintf(it->reject.text, sizeof it->reject.text,
                     "a string field holds a NUL byte; strings must be UTF-8 text without NUL");
        } else {
            ot_event_validate(it->event, now, &it->reject);
        }
    }
    w->group.items = w->items;
    w->group.n = b->n_events;
    return 0;
}

static void
s_set_batch_error(s_work *w, Optally__BatchError e, const char *text)
{
    w->group.batch_error = e;
    snprintf(w->error_text, sizeof w->error_text, "%s", text);
    w->group.error_text = w->error_text;
}

/* The batch_id of a message refused before decoding (too many items, too
 * large), so a DEALER producer can match the refusal to its batch: the
 * last top-level varint field OT_F_BATCH_ID, read on the wire; 0 when the
 * bytes are malformed before it or there is none. */
static uint64_t
s_scan_batch_id(const uint8_t *buf, size_t len)
{
    const uint8_t *p = buf, *end = buf + len;
    uint64_t id = 0;
    ot_wire_field f;
    while (p < end && ot_wire_next_field(&p, end, &f) == 0)
        if (f.num == OT_F_BATCH_ID && f.wt == OT_WIRE_VARINT)
            id = f.u;
    return id;
}

/* Decode and validate the payload of w (already received). */
static void
s_decode(ot_consumer *c, s_work *w)
{
    (void)c;
    const uint8_t *buf = zmq_msg_data(&w->payload);
    size_t len = zmq_msg_size(&w->payload);
    w->group.raw = buf;
    w->group.raw_len = len;
    int rc = ot_wire_batch_decode(buf, len, S_DECODE_BUDGET, OT_BATCH_MAX_EVENTS, &w->batch);
    if (rc == OT_ETOOMANY)
        s_set_batch_error(w, OPTALLY__BATCH_ERROR__TOO_MANY_EVENTS,
                          "batch holds more than 10000 events and figures; split it into smaller batches");
    else if (rc == OT_EBUDGET)
        s_set_batch_error(w, OPTALLY__BATCH_ERROR__TOO_LARGE,
                          "batch would take more than 32 MiB of memory to decode; split it");
    else if (rc == ENOMEM)
        w->out_of_memory = true;    /* our failure, not the batch's: answered, not kept */
    else if (rc != 0)
        s_set_batch_error(w, OPTALLY__BATCH_ERROR__UNDECODABLE,
                          "message is not an optally.EventBatch protobuf; send one EventBatch per message");
    else if (s_prepare_items(w, w->group.received_at) != 0)
        w->out_of_memory = true;
    else
        w->cost += ot_wire_batch_bytes(w->batch);
    if (rc == OT_ETOOMANY || rc == OT_EBUDGET)
        w->batch_id = s_scan_batch_id(buf, len);
    if (rc != 0)
        ot_wire_batch_free(&w->batch);
}

/* An admin request received into w: its request_id (so that even a
 * refusal made without the writer is matched by the client), or why it
 * is refused in w->error_text. */
static void
s_admin_peek(s_work *w)
{
    if (!w->has_payload) {
        snprintf(w->error_text, sizeof w->error_text,
                 "an admin request is one frame holding an AdminRequest (after an optional empty "
                 "delimiter)");
        return;
    }
    Optally__AdminRequest *r = optally__admin_request__unpack(NULL, zmq_msg_size(&w->payload),
                                                              zmq_msg_data(&w->payload));
    if (!r) {
        snprintf(w->error_text, sizeof w->error_text,
                 "malformed admin request: send one optally.AdminRequest frame");
        return;
    }
    w->batch_id = r->request_id;
    optally__admin_request__free_unpacked(r, NULL);
}

/* Read one whole message from sock (the ingest router, or the admin one
 * when admin) into a new work item.
 * Body frames: [payload] from a DEALER, ["", payload] from a REQ; anything
 * else is refused as MULTI_FRAME (only its first two frames are held).
 * Returns 1 with *out, 0 when none was waiting, -1 on error. */
static int
s_recv_message(ot_consumer *c, void *sock, bool admin, s_work **out)
{
    zmq_msg_t f, body[2];
    size_t count = 0;
    zmq_msg_init(&f);
    if (zmq_msg_recv(&f, sock, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&f);
        return errno == EAGAIN || errno == EINTR ? 0 : -1;
    }
    s_work *w = calloc(1, sizeof *w);
    if (!w) {
        zmq_msg_close(&f);
        return -1;
    }
    w->ident_len = zmq_msg_size(&f) > S_IDENT_MAX ? S_IDENT_MAX : zmq_msg_size(&f);
    memcpy(w->ident, zmq_msg_data(&f), w->ident_len);
    bool more = zmq_msg_more(&f);
    zmq_msg_close(&f);
    while (more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, sock, 0) < 0) {
            zmq_msg_close(&m);
            break;
        }
        more = zmq_msg_more(&m);
        if (count < 2) {
            zmq_msg_init(&body[count]);
            zmq_msg_move(&body[count], &m);
        }
        zmq_msg_close(&m);
        count++;
    }
    bool first_empty = count >= 1 && zmq_msg_size(&body[0]) == 0;
    size_t take = SIZE_MAX;
    if (count == 1)
        take = 0;
    else if (count == 2 && first_empty)
        take = 1;
    w->delim = first_empty && count >= 2;
    for (size_t i = 0; i < count && i < 2; i++) {
        if (i == take) {
            zmq_msg_init(&w->payload);
            zmq_msg_move(&w->payload, &body[i]);
            w->has_payload = true;
        }
        zmq_msg_close(&body[i]);
    }
    w->cost = sizeof *w + (w->has_payload ? zmq_msg_size(&w->payload) : 0);
    if (admin) {
        w->admin = true;
        s_admin_peek(w);
        *out = w;
        return 1;
    }
    w->group.producer = w->ident;
    w->group.producer_len = w->ident_len;
    if (w->has_payload) {
        /* Rejects are budgeted per peer (ot_store.h): by its key when CURVE
         * authenticated it (a reconnect keeps it), else by routing identity. */
        const char *uid = zmq_msg_gets(&w->payload, "User-Id");
        if (uid && uid[0]) {
            snprintf(w->peer, sizeof w->peer, "%s", uid);
            w->group.peer = (const uint8_t *)w->peer;
            w->group.peer_len = strlen(w->peer);
        }
    }
    w->group.received_at = ot_clock_wall_ms();   /* stored: wall time */
    if (!w->has_payload)
        s_set_batch_error(w, OPTALLY__BATCH_ERROR__MULTI_FRAME,
                          "a request is one frame holding an EventBatch (after an optional empty delimiter)");
    else
        s_decode(c, w);
    *out = w;
    return 1;
}

static void
s_send_reply(ot_consumer *c, const s_work *w, const uint8_t *reply, size_t len)
{
    int flags = ZMQ_SNDMORE | ZMQ_DONTWAIT;
    void *sock = w->admin ? c->admin : c->router;
    if (zmq_send(sock, w->ident, w->ident_len, flags) < 0 ||
        (w->delim && zmq_send(sock, "", 0, flags) < 0) ||
        zmq_send(sock, reply, len, ZMQ_DONTWAIT) < 0) {
        /* The peer is gone (EHOSTUNREACH under ROUTER_MANDATORY) or not
         * reading (EAGAIN at its high-water mark). Its events are stored;
         * a retry will be answered DUPLICATE. */
        c->replies_dropped++;
    }
}

/* Answer the admin request w with a refusal (nothing was changed). */
static void
s_reply_admin_error(ot_consumer *c, s_work *w, bool usage, const char *text)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    if (ot_admin_refusal(w->batch_id, usage, text, &buf, &len) == 0)
        s_send_reply(c, w, buf, len);
    free(buf);
}

/* Answer w with a batch error, without storing anything (an admin request:
 * with a refusal that says text). */
static void
s_reply_batch_error(ot_consumer *c, s_work *w, Optally__BatchError e, const char *text)
{
    if (w->admin) {
        s_reply_admin_error(c, w, false, text);
        return;
    }
    Optally__IngestReply rep = OPTALLY__INGEST_REPLY__INIT;
    uint8_t buf[512];
    rep.batch_id = w->batch_id;
    rep.error = e;
    rep.error_text = (char *)text;
    if (optally__ingest_reply__get_packed_size(&rep) > sizeof buf)
        rep.error_text = "";
    size_t n = optally__ingest_reply__pack(&rep, buf);
    s_send_reply(c, w, buf, n);
}

/* c->flight holds what the writer owns now; s_untrack when it comes back. */
static void
s_track(ot_consumer *c, s_work *w)
{
    assert(c->inflight < S_MAX_INFLIGHT);
    c->flight[c->inflight++] = w;
    c->inflight_bytes += w->cost;
}

static void
s_untrack(ot_consumer *c, const s_work *w)
{
    for (size_t i = 0; i < c->inflight; i++)
        if (c->flight[i] == w) {
            c->flight[i] = c->flight[--c->inflight];
            c->inflight_bytes -= w->cost;
            return;
        }
    assert(!"work item handed back twice");
}

static int
s_handle_writer_output(ot_consumer *c)
{
    s_work *w;
    int r;
    while ((r = s_recv_work(c->pair, 0, &w)) == 1 && w) {
        if (w == S_GONE) {
            c->writer_failed = true;
            continue;
        }
        if (w->reply)
            s_send_reply(c, w, w->reply, w->reply_len);
        s_untrack(c, w);
        s_work_free(&w);
    }
    return r < 0 ? -1 : 0;
}

static int
s_handle_ingest(ot_consumer *c, bool stopping)
{
    for (int i = 0; i < S_RECV_BURST; i++) {
        if (!stopping && (c->inflight >= S_MAX_INFLIGHT || c->inflight_bytes >= S_MAX_INFLIGHT_BYTES))
            return 0;
        s_work *w;
        int r = s_recv_message(c, c->router, false, &w);
        if (r <= 0)
            return r;
        if (stopping || w->out_of_memory) {
            /* A good batch must never be refused for our own lack of memory:
             * STORAGE_ERROR is a "retry later" that producers act on. */
            if (stopping)
                s_reply_batch_error(c, w, OPTALLY__BATCH_ERROR__SHUTTING_DOWN,
                                    "consumer is shutting down: nothing of this batch was stored; retry");
            else
                s_reply_batch_error(c, w, OPTALLY__BATCH_ERROR__STORAGE_ERROR,
                                    "consumer ran out of memory decoding this batch: nothing of it "
                                    "was stored; retry later");
            s_work_free(&w);
            continue;
        }
        s_track(c, w);
        if (zmq_send(c->pair, &w, sizeof w, 0) != (int)sizeof w) {
            int e = errno;   /* the caller reports it */
            s_untrack(c, w);
            s_work_free(&w);
            errno = e;
            return -1;
        }
    }
    return 0;
}

/* Admin requests waiting on the admin socket: to the writer, as ingest
 * work is (the same in-flight bound), or refused at once when malformed
 * or while stopping. Returns 0, or -1 when the pair failed (errno). */
static int
s_handle_admin(ot_consumer *c, bool stopping)
{
    for (int i = 0; i < S_RECV_BURST; i++) {
        if (!stopping && (c->inflight >= S_MAX_INFLIGHT || c->inflight_bytes >= S_MAX_INFLIGHT_BYTES))
            return 0;
        s_work *w;
        int r = s_recv_message(c, c->admin, true, &w);
        if (r <= 0)
            return r;
        if (stopping || w->error_text[0]) {
            s_reply_admin_error(c, w, !stopping, stopping
                                ? "consumer is shutting down: nothing was changed; ask again "
                                  "when it runs" : w->error_text);
            s_work_free(&w);
            continue;
        }
        s_track(c, w);
        if (zmq_send(c->pair, &w, sizeof w, 0) != (int)sizeof w) {
            int e = errno;
            s_untrack(c, w);
            s_work_free(&w);
            errno = e;
            return -1;
        }
    }
    return 0;
}

/* The writer ended on its own: join it (its items are the receiver's
 * again), send the replies it made, answer everything it never handed back
 * and whatever already waits on the ingest socket STORAGE_ERROR, and
 * report why. Returns OT_EFATAL (or the writer's own code). */
static int
s_writer_failed(ot_consumer *c, char *err, size_t errlen)
{
    if (c->writer_started) {
        pthread_join(c->writer, NULL);
        c->writer_started = false;
    }
    s_handle_writer_output(c);   /* everything it sent before S_GONE */
    const char *cause = c->wr.cause ? c->wr.cause : "writer thread ended";
    char text[200];
    snprintf(text, sizeof text, "consumer is stopping because its writer failed (%s): "
             "nothing of this batch was stored; retry", cause);
    size_t answered = c->inflight;
    while (c->inflight > 0) {
        s_work *w = c->flight[c->inflight - 1];
        s_reply_batch_error(c, w, OPTALLY__BATCH_ERROR__STORAGE_ERROR, text);
        s_untrack(c, w);
        s_work_free(&w);
    }
    s_work *w;
    for (int i = 0; i < S_RECV_BURST && s_recv_message(c, c->router, false, &w) == 1;
         i++, answered++) {
        s_reply_batch_error(c, w, OPTALLY__BATCH_ERROR__STORAGE_ERROR, text);
        s_work_free(&w);
    }
    char more[64] = "";
    if (answered > 0)
        snprintf(more, sizeof more, "; %zu more batches answered STORAGE_ERROR", answered);
    s_say(err, errlen, "%s (%s%s): exiting so a supervisor restarts the consumer", cause,
          c->wr.detail[0] ? c->wr.detail : "no reason given", more);
    return c->writer_rc ? c->writer_rc : OT_EFATAL;
}

/* Anonymous resident memory of this process, in MiB (0 when unknown):
 * resident minus shared pages. The store's pages are a mapped file (shared):
 * a big store or snapshot makes them resident without anything being
 * allocated, and the kernel can drop them at any time, so they do not count
 * against the ceiling (measured: a 2.5M-tally snapshot raised resident
 * memory by 458 MiB, allocated memory by 5 MiB). */
static size_t
s_anon_mb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0, rss = 0, shared = 0;
    if (!f)
        return 0;
    if (fscanf(f, "%lu %lu %lu", &pages, &rss, &shared) != 3 || shared > rss)
        rss = shared = 0;
    fclose(f);
    return (size_t)((rss - shared) * 4096ul >> 20);
}

/* The memory ceiling: ZMQ_MAXMSGSIZE bounds a frame, not a message, so a
 * peer streaming endless MORE frames on a plain TCP socket can grow
 * libzmq's buffers without limit. Rather than let it take the machine
 * down, stop loudly: everything acknowledged is already durable. The
 * message says what the bounded holders had, so that what grew beyond
 * them is plain. */
static bool
s_over_ceiling(ot_consumer *c)
{
    int64_t now = ot_clock_mono_ms();
    if (now < c->next_rss_check)
        return false;
    c->next_rss_check = now + 200;
    size_t mb = s_anon_mb();
    if (mb <= c->opt.max_rss_mb)
        return false;
    char pub[160] = "publish off", snap[96] = "snapshot off";
    if (c->pub) {
        ot_publisher_stats ps;
        ot_publisher_stats_get(c->pub, &ps);
        snprintf(pub, sizeof pub, "publish: %zu subscribers (cap %d), <= %d updates queued each",
                 ps.subscribers, OT_PUBLISH_MAX_SUBSCRIBERS, ps.hwm);
    }
    if (c->snap) {
        ot_snapshot_stats ss;
        ot_snapshot_stats_get(c->snap, &ss);
        snprintf(snap, sizeof snap, "snapshot: peak %zu KiB queued", ss.queued_peak >> 10);
    }
    fprintf(stderr, "optally consume: MEMORY CEILING PASSED: anonymous memory %zu MiB > --max-rss-mb "
            "%zu; stopping now (acknowledged events are safe on disk). Bounded holders: in flight "
            "%zu batches / %zu MiB (cap %d / %zu MiB); %s; %s. What grew beyond these is libzmq's "
            "receive buffers: a peer may be streaming an endless message: enable CURVE "
            "(--curve-secret, --allow-keys) or firewall the port.\n",
            mb, c->opt.max_rss_mb, c->inflight, c->inflight_bytes >> 20, S_MAX_INFLIGHT,
            S_MAX_INFLIGHT_BYTES >> 20, pub, snap);
    return true;
}

int
ot_consumer_run(ot_consumer *c, volatile sig_atomic_t *stop, char *err, size_t errlen)
{
    bool stopping = false;
    assert(c->writer_started);   /* once per consumer */
    s_say(err, errlen, "%s", "");
    for (;;) {
        /* Before anything else, also while stopping: a dead writer never
         * hands back what it holds, so waiting for it would never end. */
        if (c->writer_failed || atomic_load(&c->writer_gone))
            return s_writer_failed(c, err, errlen);
        if (s_over_ceiling(c)) {
            s_say(err, errlen, "memory ceiling passed (--max-rss-mb %zu): stopped", c->opt.max_rss_mb);
            return OT_EMEMORY;
        }
        if (!stopping && stop && *stop)
            stopping = true;
        if (stopping && c->inflight == 0)
            break;
        zmq_pollitem_t items[3] = {
            { c->pair, 0, ZMQ_POLLIN, 0 },
            { c->router, 0, ZMQ_POLLIN, 0 },
            { c->admin, 0, ZMQ_POLLIN, 0 },
        };
        bool can_read = stopping || (c->inflight < S_MAX_INFLIGHT &&
                                     c->inflight_bytes < S_MAX_INFLIGHT_BYTES);
        int n = zmq_poll(items, can_read ? (c->admin ? 3 : 2) : 1, 100);
        if (n < 0 && errno != EINTR) {
            s_say(err, errlen, "polling the consumer's sockets failed: %s", zmq_strerror(errno));
            return OT_ETRANSPORT;
        }
        if (n <= 0)
            continue;
        if ((items[0].revents & ZMQ_POLLIN) && s_handle_writer_output(c) < 0) {
            s_say(err, errlen, "receiving from the writer thread failed: %s", zmq_strerror(errno));
            return OT_ETRANSPORT;
        }
        if (c->writer_failed)
            continue;   /* answer its leftovers before reading more */
        if (can_read && (items[1].revents & ZMQ_POLLIN) && s_handle_ingest(c, stopping) < 0) {
            s_say(err, errlen, "the ingest socket failed: %s", zmq_strerror(errno));
            return OT_ETRANSPORT;
        }
        if (can_read && c->admin && (items[2].revents & ZMQ_POLLIN) &&
            s_handle_admin(c, stopping) < 0) {
            s_say(err, errlen, "the admin socket failed: %s", zmq_strerror(errno));
            return OT_ETRANSPORT;
        }
    }
    /* Drained. End the writer now rather than in close: one that failed
     * while the last replies went out is reported, not lost in the race. */
    s_work *sentinel = NULL;
    zmq_send(c->pair, &sentinel, sizeof sentinel, 0);
    pthread_join(c->writer, NULL);
    c->writer_started = false;
    if (c->writer_rc != 0)
        return s_writer_failed(c, err, errlen);
    return 0;
}

void
ot_consumer_fault(ot_consumer *c, int nth_step, int err)
{
    ot_store_fault(c->store, nth_step, err);
}

/* ---- open / close ---------------------------------------------------- */

/* The endpoint ep as zmq_bind() can take it. libzmq binds tcp:// only on an
 * IP address, '*' or a network interface's name: a bind does no DNS, so
 * "tcp://localhost:P" is taken for an interface and fails with ENODEV; and
 * an IPv6 address ("tcp://[::1]:P") binds only on a socket with ZMQ_IPV6.
 * So a host that is neither an address, '*' nor an interface is resolved,
 * IPv4 first (as a client's libzmq resolves it without ZMQ_IPV6: a
 * producer given tcp://localhost:P connects to 127.0.0.1), and out->ipv6
 * says when the socket needs ZMQ_IPV6. Other transports pass unchanged.
 * OUT: *out. Returns 0, or EINVAL with what (e.g. "ingest") and the reason
 * in err. */
static int
s_endpoint_resolve(const char *what, const char *ep, s_endpoint *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    snprintf(out->bind, sizeof out->bind, "%s", ep);
    const char *colon = strrchr(ep, ':');
    if (strncmp(ep, "tcp://", 6) != 0 || !colon || colon < ep + 6)
        return 0;
    const char *h = ep + 6;
    char host[256];
    if ((size_t)(colon - h) >= sizeof host)
        return 0;   /* libzmq says what is wrong with it */
    memcpy(host, h, (size_t)(colon - h));
    host[colon - h] = 0;
    unsigned char addr[sizeof(struct in6_addr)];
    if (host[0] == '[' || inet_pton(AF_INET6, host, addr) == 1) {
        out->ipv6 = true;
        return 0;
    }
    if (!host[0] || strcmp(host, "*") == 0 || inet_pton(AF_INET, host, addr) == 1 ||
        if_nametoindex(host) != 0)
        return 0;
    static const int families[] = { AF_INET, AF_INET6 };
    int grc = EAI_NONAME;
    for (size_t i = 0; i < 2; i++) {
        struct addrinfo hints = { .ai_family = families[i], .ai_socktype = SOCK_STREAM };
        struct addrinfo *ai = NULL;
        if ((grc = getaddrinfo(host, NULL, &hints, &ai)) != 0)
            continue;
        char text[INET6_ADDRSTRLEN];
        const void *a = families[i] == AF_INET
            ? (const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr
            : (const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr;
        inet_ntop(families[i], a, text, sizeof text);
        freeaddrinfo(ai);
        out->ipv6 = families[i] == AF_INET6;
        snprintf(out->bind, sizeof out->bind, out->ipv6 ? "tcp://[%s]%s" : "tcp://%s%s", text, colon);
        return 0;
    }
    s_say(err, errlen, "cannot bind %s socket %s: '%s' is neither an address, '*', a network "
          "interface nor a name this machine resolves (%s)", what, ep, host, gai_strerror(grc));
    return EINVAL;
}

/* What to add to a failed bind's errno text, so the operator knows what to
 * change: only an address in use hints at another consumer. */
static const char *
s_bind_hint(int e, const char *flag, char *hint, size_t cap)
{
    if (e == EADDRINUSE)
        snprintf(hint, cap, " (is another consumer running? use %s)", flag);
    else if (e == ENODEV || e == EADDRNOTAVAIL)
        snprintf(hint, cap, " (not an address or interface of this machine; use %s "
                 "tcp://127.0.0.1:PORT, tcp://[::1]:PORT, tcp://localhost:PORT or tcp://*:PORT)", flag);
    else
        snprintf(hint, cap, " (use %s)", flag);
    return hint;
}

/* Set up and bind the ingest ROUTER. Returns 0, EINVAL (a name that does
 * not resolve) or OT_ETRANSPORT with the errno text of the failing call in
 * err. */
static int
s_bind_router(ot_consumer *c, char *err, size_t errlen)
{
    int one = 1, linger = 1000, rcvhwm = S_INGEST_RCVHWM;
    int64_t maxmsg = c->opt.max_msg_size;
    s_endpoint ep;
    int rc = s_endpoint_resolve("ingest", c->opt.ingest, &ep, err, errlen);
    if (rc != 0)
        return rc;
    int ipv6 = ep.ipv6;
    c->router = zmq_socket(c->ctx, ZMQ_ROUTER);
    if (!c->router ||
        zmq_setsockopt(c->router, ZMQ_IPV6, &ipv6, sizeof ipv6) != 0 ||
        zmq_setsockopt(c->router, ZMQ_RCVHWM, &rcvhwm, sizeof rcvhwm) != 0 ||
        zmq_setsockopt(c->router, ZMQ_ROUTER_MANDATORY, &one, sizeof one) != 0 ||
        zmq_setsockopt(c->router, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        zmq_setsockopt(c->router, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) != 0 ||
        ot_auth_apply(c->auth, c->router, OT_AUTH_DOMAIN_INGEST) != 0) {
        int e = errno;
        s_say(err, errlen, "cannot set up ingest socket %s: %s", c->opt.ingest, zmq_strerror(e));
        return OT_ETRANSPORT;
    }
    if (zmq_bind(c->router, ep.bind) != 0) {
        int e = errno;
        char hint[200];
        s_say(err, errlen, "cannot bind ingest socket %s: %s%s", c->opt.ingest, zmq_strerror(e),
              s_bind_hint(e, "--ingest", hint, sizeof hint));
        return OT_ETRANSPORT;
    }
    return 0;
}

/* The subscription side: PUB updates and the snapshot service, each unless
 * "none". Both make their socket inside the call (ot_publisher_open,
 * ot_snapshot_start), so ZMQ_IPV6 is given through the context, for that
 * socket only. Returns 0 or the error, described in err. */
static int
s_open_subscriptions(ot_consumer *c, char *err, size_t errlen)
{
    int rc;
    s_endpoint ep;
    char hint[200];
    if (strcmp(c->opt.publish, "none") != 0) {
        if ((rc = s_endpoint_resolve("publish", c->opt.publish, &ep, err, errlen)) != 0)
            return rc;
        zmq_ctx_set(c->ctx, ZMQ_IPV6, ep.ipv6);
        rc = ot_publisher_open(c->ctx, ep.bind, c->opt.pub_hwm, c->auth, &c->pub);
        int e = errno;   /* kept by ot_publisher_open on OT_ETRANSPORT */
        zmq_ctx_set(c->ctx, ZMQ_IPV6, 0);
        if (rc != 0) {
            s_say(err, errlen, "cannot bind publish socket %s: %s%s", c->opt.publish,
                  rc == OT_ETRANSPORT ? zmq_strerror(e) : ot_strerror(rc),
                  rc == OT_ETRANSPORT ? s_bind_hint(e, "--publish (or --publish none)", hint, sizeof hint) : "");
            return rc;
        }
    }
    if (strcmp(c->opt.snapshot, "none") != 0) {
        if ((rc = s_endpoint_resolve("snapshot", c->opt.snapshot, &ep, err, errlen)) != 0)
            return rc;
        zmq_ctx_set(c->ctx, ZMQ_IPV6, ep.ipv6);
        rc = ot_snapshot_start(c->ctx, ep.bind, c->store, c->auth, &c->snap);
        int e = errno;   /* kept by ot_snapshot_start on OT_ETRANSPORT */
        zmq_ctx_set(c->ctx, ZMQ_IPV6, 0);
        if (rc != 0) {
            s_say(err, errlen, "cannot bind snapshot socket %s: %s%s", c->opt.snapshot,
                  rc == OT_ETRANSPORT ? zmq_strerror(e) : ot_strerror(rc),
                  rc == OT_ETRANSPORT ? s_bind_hint(e, "--snapshot (or --snapshot none)", hint, sizeof hint) : "");
            return rc;
        }
    }
    return 0;
}

/* The publisher starts with the store's views (built-in and declared), so
 * the first commit's updates of a declared view go out. Returns 0 or the
 * store's error, described in err. */
static int
s_publisher_views(ot_consumer *c, char *err, size_t errlen)
{
    if (!c->pub)
        return 0;
    ot_viewset *vs = NULL;
    int rc = ot_store_views(c->store, &vs);
    if (rc != 0) {
        s_say(err, errlen, "cannot read the store's views in %s: %s", c->opt.data_dir,
              ot_strerror(rc));
        return rc;
    }
    ot_publisher_set_views(c->pub, &vs);
    return 0;
}

/* The admin endpoint to bind into ep: opt.admin, or the default
 * ipc://DATA/admin.sock. Returns 0 (ep->bind "" when off), or the error
 * with err set. */
static int
s_admin_endpoint(ot_consumer *c, s_endpoint *ep, char *err, size_t errlen)
{
    memset(ep, 0, sizeof *ep);
    if (c->opt.admin && strcmp(c->opt.admin, "none") == 0)
        return 0;
    if (c->opt.admin)
        return s_endpoint_resolve("admin", c->opt.admin, ep, err, errlen);
    int rc = ot_admin_default_endpoint(c->opt.data_dir, ep->bind, sizeof ep->bind);
    if (rc == ENAMETOOLONG) {
        /* Only the default: the operator asked for nothing, so a long path
         * must not stop ingest; say it loudly instead. */
        fprintf(stderr, "optally consume: WARNING: no admin socket: the path of %s/%s is longer "
                "than a unix socket address takes (107 bytes); give --admin ENDPOINT (e.g. "
                "ipc:///run/optally/admin.sock) to declare views while the consumer runs\n",
                c->opt.data_dir, OT_ADMIN_SOCK_FILE);
        ep->bind[0] = 0;
        return 0;
    }
    if (rc != 0)
        s_say(err, errlen, "cannot make the admin endpoint of %s: %s", c->opt.data_dir,
              strerror(rc));
    return rc;
}

/* Bind the admin ROUTER (CURVE as ingest) and write DATA/admin.endpoint
 * (ot_admin.h). A stale file from a killed consumer is removed first,
 * also when the admin socket is off. Returns 0 or the error, in err. */
static int
s_bind_admin(ot_consumer *c, char *err, size_t errlen)
{
    int one = 1, linger = 0;
    int64_t maxmsg = OT_ADMIN_REQUEST_MAX;
    s_endpoint ep;
    snprintf(c->admin_ep, sizeof c->admin_ep, "none");
    ot_admin_endpoint_remove(c->opt.data_dir);
    int rc = s_admin_endpoint(c, &ep, err, errlen);
    if (rc != 0 || !ep.bind[0])
        return rc;
    int ipv6 = ep.ipv6;
    c->admin = zmq_socket(c->ctx, ZMQ_ROUTER);
    if (!c->admin ||
        zmq_setsockopt(c->admin, ZMQ_IPV6, &ipv6, sizeof ipv6) != 0 ||
        zmq_setsockopt(c->admin, ZMQ_ROUTER_MANDATORY, &one, sizeof one) != 0 ||
        zmq_setsockopt(c->admin, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        zmq_setsockopt(c->admin, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) != 0 ||
        ot_auth_apply(c->auth, c->admin, OT_AUTH_DOMAIN_INGEST) != 0) {
        s_say(err, errlen, "cannot set up admin socket %s: %s", ep.bind, zmq_strerror(errno));
        return OT_ETRANSPORT;
    }
    if (zmq_bind(c->admin, ep.bind) != 0) {
        int e = errno;
        char hint[200];
        s_say(err, errlen, "cannot bind admin socket %s: %s%s", ep.bind, zmq_strerror(e),
              s_bind_hint(e, "--admin (or --admin none)", hint, sizeof hint));
        return OT_ETRANSPORT;
    }
    size_t len = sizeof c->admin_ep;
    if (zmq_getsockopt(c->admin, ZMQ_LAST_ENDPOINT, c->admin_ep, &len) != 0)
        snprintf(c->admin_ep, sizeof c->admin_ep, "%s", ep.bind);
    ot_keypair kp;
    memset(&kp, 0, sizeof kp);
    if (c->opt.curve_secret && (rc = ot_keys_read(c->opt.curve_secret, 1, &kp)) != 0) {
        s_say(err, errlen, "cannot read %s for the admin endpoint file: %s", c->opt.curve_secret,
              strerror(rc));
        return rc;
    }
    rc = ot_admin_endpoint_write(c->opt.data_dir, c->admin_ep, kp.public_key);
    explicit_bzero(&kp, sizeof kp);
    if (rc != 0) {
        s_say(err, errlen, "cannot write %s/%s: %s", c->opt.data_dir, OT_ADMIN_ENDPOINT_FILE,
              strerror(rc));
        return rc;
    }
    c->admin_file = true;
    return 0;
}

const char *
ot_consumer_admin_endpoint(const ot_consumer *c)
{
    return c->admin_ep[0] ? c->admin_ep : "none";
}

/* The inproc pair and the writer thread. Returns 0 or the error, in err. */
static int
s_start_writer(ot_consumer *c, char *err, size_t errlen)
{
    c->pair = zmq_socket(c->ctx, ZMQ_PAIR);
    c->wr.c = c;
    c->wr.pair = zmq_socket(c->ctx, ZMQ_PAIR);
    if (!c->pair || !c->wr.pair || zmq_bind(c->pair, S_PAIR_ENDPOINT) != 0 ||
        zmq_connect(c->wr.pair, S_PAIR_ENDPOINT) != 0) {
        int e = errno;
        s_say(err, errlen, "cannot set up the writer's inproc socket: %s", zmq_strerror(e));
        return OT_ETRANSPORT;
    }
    int prc = pthread_create(&c->writer, NULL, s_writer_main, &c->wr);
    if (prc != 0) {
        s_say(err, errlen, "cannot start writer thread: %s", strerror(prc));
        return prc;
    }
    c->writer_started = true;
    return 0;
}

/* The files ot_store_open makes in its directory (store/ot_store.c). A
 * file added there later is not removed: rmdir then fails and the
 * directory stays, which is safe. */
static const char *const s_store_files[] = { "data.mdb", "lock.mdb", "writer.lock" };

/* The line of an OT_ERANK open: the reason, the ranking stored (read by a
 * reader: the writer's open failed and holds nothing) and the one asked. */
static void
s_say_rank(const char *dir, const char *asked, char *err, size_t errlen)
{
    char stored[1024] = "?";
    ot_store *rd = NULL;
    ot_store_options ro = { .readonly = true };
    if (ot_store_open(dir, &ro, &rd) == 0 &&
        ot_store_source_rank(rd, stored, sizeof stored) != 0)
        snprintf(stored, sizeof stored, "?");
    ot_store_close(&rd);
    s_say(err, errlen, "cannot open store in %s: %s (stored ranking '%s', asked '%s')", dir,
          ot_strerror(OT_ERANK), stored, asked ? asked : "");
}

/* ot_consumer_open failed: close what it opened and, when this open made
 * the data directory, remove it again, so that a start that could not bind
 * leaves nothing behind. The store's files are unlinked while it is still
 * open and its writer.lock (last) still held: no other consumer can have
 * begun to use the directory meanwhile; one that starts after the unlink
 * makes files of its own, and then rmdir fails and leaves them alone. */
static void
s_open_failed(ot_consumer **pc)
{
    ot_consumer *c = *pc;
    const char *dir = c->opt.data_dir;   /* the caller's string: outlives c */
    bool created = c->created_dir;
    char path[4096];
    for (size_t i = 0; created && i < sizeof s_store_files / sizeof s_store_files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, s_store_files[i]);
        unlink(path);   /* ENOENT when the store failed before making it */
    }
    ot_consumer_close(pc);
    if (created)
        rmdir(dir);
}

int
ot_consumer_open(const ot_consumer_options *opt, ot_consumer **out, char *err, size_t errlen)
{
    *out = NULL;
    s_say(err, errlen, "%s", "");
    ot_consumer *c = calloc(1, sizeof *c);
    if (!c) {
        s_say(err, errlen, "out of memory");
        return ENOMEM;
    }
    c->opt = *opt;
    if (!c->opt.data_dir) c->opt.data_dir = OT_CONSUMER_DEFAULT_DATA;
    if (!c->opt.ingest) c->opt.ingest = OT_CONSUMER_DEFAULT_INGEST;
    if (!c->opt.publish) c->opt.publish = OT_CONSUMER_DEFAULT_PUBLISH;
    if (!c->opt.snapshot) c->opt.snapshot = OT_CONSUMER_DEFAULT_SNAPSHOT;
    if (!c->opt.pub_hwm) c->opt.pub_hwm = OT_CONSUMER_DEFAULT_PUB_HWM;
    if (!c->opt.batch) c->opt.batch = 10000;
    if (!c->opt.max_msg_size) c->opt.max_msg_size = OT_CONSUMER_DEFAULT_MAXMSG;
    if (!c->opt.max_rss_mb) c->opt.max_rss_mb = 4096;
    atomic_init(&c->writer_gone, false);
    /* Made here rather than by ot_store_open, to know whether this run made
     * it: a failed start removes a directory it made, never one it found. */
    c->created_dir = mkdir(c->opt.data_dir, 0700) == 0;
    ot_store_options so = { .nosync = opt->nosync, .map_size = opt->map_size,
                            .source_rank = opt->source_rank };
    int rc = ot_store_open(c->opt.data_dir, &so, &c->store);
    if (rc == OT_ERANK) {
        s_say_rank(c->opt.data_dir, opt->source_rank, err, errlen);
    } else if (rc != 0) {
        s_say(err, errlen, "cannot open store in %s: %s", c->opt.data_dir, ot_strerror(rc));
    }
    if (rc != 0) {
        if (rc == OT_ELOCKED)
            c->created_dir = false;   /* someone else's now, however new */
        s_open_failed(&c);
        return rc;
    }
    c->ctx = zmq_ctx_new();
    if (!c->ctx) {
        int e = errno;
        s_say(err, errlen, "cannot create a ZeroMQ context: %s", zmq_strerror(e));
        s_open_failed(&c);
        return OT_ETRANSPORT;
    }
    ot_auth_options ao = { opt->curve_secret, opt->allow_keys, opt->allow_sub_keys };
    /* The ZAP handler must be up before any server socket binds. */
    if ((rc = ot_auth_start(c->ctx, &ao, &c->auth, err, errlen)) != 0 ||
        (rc = s_bind_router(c, err, errlen)) != 0 ||
        (rc = s_open_subscriptions(c, err, errlen)) != 0 ||
        (rc = s_publisher_views(c, err, errlen)) != 0 ||
        (rc = s_start_writer(c, err, errlen)) != 0 ||
        (rc = s_bind_admin(c, err, errlen)) != 0) {
        if (err && errlen && !err[0])
            s_say(err, errlen, "cannot start the consumer: %s", ot_strerror(rc));
        s_open_failed(&c);
        return rc;
    }
    *out = c;
    return 0;
}

void
ot_consumer_close(ot_consumer **pc)
{
    ot_consumer *c = *pc;
    if (!c)
        return;
    if (c->writer_started) {
        s_work *sentinel = NULL;
        zmq_send(c->pair, &sentinel, sizeof sentinel, 0);
        pthread_join(c->writer, NULL);
        c->writer_started = false;
    }
    /* After the join every item is the receiver's: those answered after the
     * run loop ended, and any a writer that died never handed back. */
    s_work *w;
    while (c->pair && s_recv_work(c->pair, 0, &w) == 1)
        if (w && w != S_GONE) {
            s_untrack(c, w);
            s_work_free(&w);
        }
    while (c->inflight > 0) {
        w = c->flight[c->inflight - 1];
        s_untrack(c, w);
        s_work_free(&w);
    }
    ot_snapshot_stop(&c->snap);
    ot_publisher_close(&c->pub);
    ot_auth_stop(&c->auth);
    if (c->wr.pair)
        zmq_close(c->wr.pair);
    free(c->wr.works);
    free(c->wr.groups);
    if (c->pair)
        zmq_close(c->pair);
    if (c->router)
        zmq_close(c->router);
    if (c->admin)
        zmq_close(c->admin);
    /* Before the store (and its writer lock) goes: a client that finds
     * the file finds this consumer running, or no file. */
    if (c->admin_file)
        ot_admin_endpoint_remove(c->opt.data_dir);
    if (c->ctx)
        zmq_ctx_term(c->ctx);
    ot_store_close(&c->store);
    free(c);
    *pc = NULL;
}
