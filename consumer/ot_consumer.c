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
 */
#include "ot_consumer.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "ot_auth.h"
#include "ot_error.h"
#include "ot_event.h"
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

typedef struct s_work {
    uint8_t ident[S_IDENT_MAX];
    size_t ident_len;
    bool delim;                 /* REQ envelope: echo the empty delimiter */
    zmq_msg_t payload;          /* the request bytes; items point into it */
    bool has_payload;
    ot_wire_batch *batch;       /* decoded request, NULL on a batch error */
    ot_ingest_item *items;
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
    int64_t last_failure_log;   /* unix ms */
    uint64_t failures;          /* failed commits since that line */
} s_writer;

struct ot_consumer {
    ot_consumer_options opt;
    void *ctx;
    void *router;
    void *pair;                 /* receiver's end */
    ot_store *store;
    ot_publisher *pub;          /* used by the writer thread only */
    ot_snapshot *snap;          /* its own thread */
    ot_auth *auth;              /* ZAP handler thread; NULL without CURVE */
    int64_t next_rss_check;     /* unix ms */
    pthread_t writer;
    bool writer_started;
    s_writer wr;                /* the writer thread's state */
    int writer_rc;
    /* receiver-side counters */
    size_t inflight, inflight_bytes;
    uint64_t replies_dropped;
};

static char s_last_error[512];

const char *
ot_consumer_last_error(void)
{
    return s_last_error;
}

static int64_t
s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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
    free(w->reply);
    free(w);
    *pw = NULL;
}

/* ---- writer thread ---------------------------------------------------- */

/* Pack the reply of one work item after its transaction committed (rc 0)
 * or failed (rc: nothing of it was stored). */
static int
s_build_reply(s_work *w, int rc)
{
    Optally__IngestReply rep = OPTALLY__INGEST_REPLY__INIT;
    Optally__EventResult *res = NULL, **resp = NULL;
    rep.batch_id = w->batch_id;
    if (rc != 0) {
        rep.error = rc == ENOSPC ? OPTALLY__BATCH_ERROR__STORAGE_FULL
                                 : OPTALLY__BATCH_ERROR__STORAGE_ERROR;
        snprintf(w->error_text, sizeof w->error_text,
                 "%s: nothing of this batch was stored; retry later (%s)",
                 rc == ENOSPC ? "storage full" : "storage error", ot_strerror(rc));
        rep.error_text = w->error_text;
    } else if (w->group.batch_error != OPTALLY__BATCH_ERROR__BATCH_OK) {
        rep.error = w->group.batch_error;
        rep.error_text = w->error_text;
    } else if (w->group.n > 0) {
        res = calloc(w->group.n, sizeof *res);
        resp = calloc(w->group.n, sizeof *resp);
        if (!res || !resp) {
            free(res);
            free(resp);
            return ENOMEM;
        }
        for (size_t i = 0; i < w->group.n; i++) {
            ot_ingest_item *it = &w->items[i];
            optally__event_result__init(&res[i]);
            res[i].status = it->status;
            res[i].seq = it->seq;
            if (it->status == OPTALLY__INGEST_STATUS__REJECTED) {
                res[i].reason = it->reject.reason;
                res[i].reason_text = it->reject.text;
            }
            resp[i] = &res[i];
        }
        rep.n_results = w->group.n;
        rep.results = resp;
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
            int64_t left = deadline - s_now_ms();
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
        if (s_writer_reserve(wr, *n + 1) != 0) {
            /* Cannot hold it in this transaction: give it back unanswered
             * would lose it, so answer it with a storage error. */
            s_build_reply(w, ENOMEM);
            zmq_send(wr->pair, &w, sizeof w, 0);
            continue;
        }
        wr->works[(*n)++] = w;
        events += w->group.n;
        if (*n == 1)
            deadline = s_now_ms() + o->flush_ms;
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
    int64_t now = s_now_ms();
    wr->failures++;
    if (now - wr->last_failure_log < 1000)
        return;
    fprintf(stderr, "optally consume: commit failed: %s; replying %s (%llu failed commits); "
            "nothing of those batches was stored, producers retry\n", ot_strerror(err),
            err == ENOSPC ? "STORAGE_FULL" : "STORAGE_ERROR", (unsigned long long)wr->failures);
    wr->last_failure_log = now;
    wr->failures = 0;
}

static void *
s_writer_main(void *arg)
{
    s_writer *wr = arg;
    ot_consumer *c = wr->c;
    int rc = 0;
    for (;;) {
        size_t n;
        bool sentinel;
        if ((rc = s_gather(wr, &n, &sentinel)) != 0)
            break;
        if (n > 0) {
            for (size_t i = 0; i < n; i++)
                wr->groups[i] = wr->works[i]->group;
            int src = ot_store_ingest(c->store, wr->groups, n);
            if (src != 0)
                s_log_commit_failure(wr, src);
            for (size_t i = 0; i < n; i++) {
                s_work *w = wr->works[i];
                w->group = wr->groups[i];
                s_build_reply(w, src);  /* on ENOMEM w->reply stays NULL: no answer, producer retries */
                zmq_send(wr->pair, &w, sizeof w, 0);
            }
            if (src == 0 && c->pub) {
                /* After the commit, never before. */
                const ot_store_change *ch;
                size_t nch = ot_store_last_changes(c->store, &ch);
                ot_publisher_send_changes(c->pub, ch, nch, s_now_ms());
            }
        }
        if (c->pub) {
            ot_store_seqs seqs;
            ot_store_seqs_get(c->store, &seqs);
            ot_publisher_tick(c->pub, &seqs);
        }
        if (sentinel)
            break;
    }
    c->writer_rc = rc;
    return NULL;
}

/* ---- receiver --------------------------------------------------------- */

/* Validate every event of a decoded batch into w->items. */
static int
s_prepare_items(s_work *w, int64_t now)
{
    const Optally__EventBatch *b = ot_wire_batch_msg(w->batch);
    w->batch_id = b->batch_id;
    if (b->n_events == 0)
        return 0;
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
                          "batch holds more than 10000 events; split it into smaller batches");
    else if (rc == OT_EBUDGET)
        s_set_batch_error(w, OPTALLY__BATCH_ERROR__TOO_LARGE,
                          "batch would take more than 32 MiB of memory to decode; split it");
    else if (rc != 0)
        s_set_batch_error(w, OPTALLY__BATCH_ERROR__UNDECODABLE,
                          "message is not an optally.EventBatch protobuf; send one EventBatch per message");
    else if (s_prepare_items(w, w->group.received_at) != 0)
        s_set_batch_error(w, OPTALLY__BATCH_ERROR__TOO_LARGE, "out of memory decoding batch; retry");
    else
        w->cost += ot_wire_batch_bytes(w->batch);
    if (rc != 0)
        ot_wire_batch_free(&w->batch);
}

/* Read one whole message from the router into a new work item.
 * Body frames: [payload] from a DEALER, ["", payload] from a REQ; anything
 * else is refused as MULTI_FRAME (only its first two frames are held).
 * Returns 1 with *out, 0 when none was waiting, -1 on error. */
static int
s_recv_message(ot_consumer *c, s_work **out)
{
    zmq_msg_t f, body[2];
    size_t count = 0;
    zmq_msg_init(&f);
    if (zmq_msg_recv(&f, c->router, ZMQ_DONTWAIT) < 0) {
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
        if (zmq_msg_recv(&m, c->router, 0) < 0) {
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
    w->group.producer = w->ident;
    w->group.producer_len = w->ident_len;
    w->group.received_at = s_now_ms();
    w->cost = sizeof *w + (w->has_payload ? zmq_msg_size(&w->payload) : 0);
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
    if (zmq_send(c->router, w->ident, w->ident_len, flags) < 0 ||
        (w->delim && zmq_send(c->router, "", 0, flags) < 0) ||
        zmq_send(c->router, reply, len, ZMQ_DONTWAIT) < 0) {
        /* The peer is gone (EHOSTUNREACH under ROUTER_MANDATORY) or not
         * reading (EAGAIN at its high-water mark). Its events are stored;
         * a retry will be answered DUPLICATE. */
        c->replies_dropped++;
    }
}

/* Answer a message received while stopping, without storing anything. */
static void
s_reply_shutting_down(ot_consumer *c, s_work *w)
{
    Optally__IngestReply rep = OPTALLY__INGEST_REPLY__INIT;
    uint8_t buf[256];
    rep.batch_id = w->batch ? ot_wire_batch_msg(w->batch)->batch_id : 0;
    rep.error = OPTALLY__BATCH_ERROR__SHUTTING_DOWN;
    rep.error_text = "consumer is shutting down: nothing of this batch was stored; retry";
    size_t n = optally__ingest_reply__pack(&rep, buf);
    s_send_reply(c, w, buf, n);
}

static int
s_handle_writer_output(ot_consumer *c)
{
    s_work *w;
    int r;
    while ((r = s_recv_work(c->pair, 0, &w)) == 1 && w) {
        if (w->reply)
            s_send_reply(c, w, w->reply, w->reply_len);
        c->inflight--;
        c->inflight_bytes -= w->cost;
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
        int r = s_recv_message(c, &w);
        if (r <= 0)
            return r;
        if (stopping) {
            s_reply_shutting_down(c, w);
            s_work_free(&w);
            continue;
        }
        c->inflight++;
        c->inflight_bytes += w->cost;
        if (zmq_send(c->pair, &w, sizeof w, 0) != (int)sizeof w) {
            c->inflight--;
            c->inflight_bytes -= w->cost;
            s_work_free(&w);
            return -1;
        }
    }
    return 0;
}

/* Resident set size of this process, in MiB (0 when unknown). */
static size_t
s_rss_mb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0, rss = 0;
    if (!f)
        return 0;
    if (fscanf(f, "%lu %lu", &pages, &rss) != 2)
        rss = 0;
    fclose(f);
    return (size_t)(rss * 4096ul >> 20);
}

/* The memory ceiling: ZMQ_MAXMSGSIZE bounds a frame, not a message, so a
 * peer streaming endless MORE frames on a plain TCP socket can grow
 * libzmq's buffers without limit. Rather than let it take the machine
 * down, stop loudly: everything acknowledged is already durable. */
static bool
s_over_ceiling(ot_consumer *c)
{
    int64_t now = s_now_ms();
    if (now < c->next_rss_check)
        return false;
    c->next_rss_check = now + 200;
    size_t mb = s_rss_mb();
    if (mb <= c->opt.max_rss_mb)
        return false;
    fprintf(stderr, "optally consume: MEMORY CEILING PASSED: resident %zu MiB > --max-rss-mb %zu; "
            "stopping now (acknowledged events are safe on disk). A peer may be streaming an "
            "endless message: enable CURVE (--curve-secret, --allow-keys) or firewall the port.\n",
            mb, c->opt.max_rss_mb);
    return true;
}

int
ot_consumer_run(ot_consumer *c, volatile sig_atomic_t *stop)
{
    bool stopping = false;
    int rc = 0;
    for (;;) {
        if (s_over_ceiling(c)) {
            rc = OT_EMEMORY;
            break;
        }
        if (!stopping && stop && *stop)
            stopping = true;
        if (stopping && c->inflight == 0)
            break;
        zmq_pollitem_t items[2] = {
            { c->pair, 0, ZMQ_POLLIN, 0 },
            { c->router, 0, ZMQ_POLLIN, 0 },
        };
        bool can_read = stopping || (c->inflight < S_MAX_INFLIGHT &&
                                     c->inflight_bytes < S_MAX_INFLIGHT_BYTES);
        int n = zmq_poll(items, can_read ? 2 : 1, 100);
        if (n < 0 && errno != EINTR) {
            rc = OT_ETRANSPORT;
            break;
        }
        if (n <= 0)
            continue;
        if ((items[0].revents & ZMQ_POLLIN) && s_handle_writer_output(c) < 0) {
            rc = OT_ETRANSPORT;
            break;
        }
        if (can_read && (items[1].revents & ZMQ_POLLIN) && s_handle_ingest(c, stopping) < 0) {
            rc = OT_ETRANSPORT;
            break;
        }
    }
    return rc ? rc : c->writer_rc;
}

/* ---- open / close ---------------------------------------------------- */

static int
s_bind_router(ot_consumer *c)
{
    int one = 1, linger = 1000, rcvhwm = S_INGEST_RCVHWM;
    int64_t maxmsg = c->opt.max_msg_size;
    c->router = zmq_socket(c->ctx, ZMQ_ROUTER);
    if (!c->router ||
        zmq_setsockopt(c->router, ZMQ_RCVHWM, &rcvhwm, sizeof rcvhwm) != 0 ||
        zmq_setsockopt(c->router, ZMQ_ROUTER_MANDATORY, &one, sizeof one) != 0 ||
        zmq_setsockopt(c->router, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        zmq_setsockopt(c->router, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) != 0 ||
        ot_auth_apply(c->auth, c->router, OT_AUTH_DOMAIN_INGEST) != 0)
        return OT_ETRANSPORT;
    if (zmq_bind(c->router, c->opt.ingest) != 0) {
        snprintf(s_last_error, sizeof s_last_error,
                 "cannot bind ingest socket %s: %s (is another consumer running? use --ingest)",
                 c->opt.ingest, zmq_strerror(errno));
        return OT_ETRANSPORT;
    }
    return 0;
}

int
ot_consumer_open(const ot_consumer_options *opt, ot_consumer **out)
{
    *out = NULL;
    s_last_error[0] = 0;
    ot_consumer *c = calloc(1, sizeof *c);
    if (!c)
        return ENOMEM;
    c->opt = *opt;
    if (!c->opt.data_dir) c->opt.data_dir = OT_CONSUMER_DEFAULT_DATA;
    if (!c->opt.ingest) c->opt.ingest = OT_CONSUMER_DEFAULT_INGEST;
    if (!c->opt.batch) c->opt.batch = 10000;
    if (!c->opt.max_msg_size) c->opt.max_msg_size = OT_CONSUMER_DEFAULT_MAXMSG;
    if (!c->opt.max_rss_mb) c->opt.max_rss_mb = 4096;
    ot_store_options so = { .nosync = opt->nosync, .map_size = opt->map_size };
    int rc = ot_store_open(c->opt.data_dir, &so, &c->store);
    if (rc != 0) {
        snprintf(s_last_error, sizeof s_last_error, "cannot open store in %s: %s",
                 c->opt.data_dir, ot_strerror(rc));
        ot_consumer_close(&c);
        return rc;
    }
    c->ctx = zmq_ctx_new();
    if (!c->ctx) {
        ot_consumer_close(&c);
        return OT_ETRANSPORT;
    }
    ot_auth_options ao = { opt->curve_secret, opt->allow_keys, opt->allow_sub_keys };
    /* The ZAP handler must be up before any server socket binds. */
    if ((rc = ot_auth_start(c->ctx, &ao, &c->auth, s_last_error, sizeof s_last_error)) != 0) {
        ot_consumer_close(&c);
        return rc;
    }
    if ((rc = s_bind_router(c)) != 0) {
        if (!s_last_error[0])
            snprintf(s_last_error, sizeof s_last_error, "ZeroMQ setup failed: %s", zmq_strerror(errno));
        ot_consumer_close(&c);
        return OT_ETRANSPORT;
    }
    if (!c->opt.publish) c->opt.publish = OT_CONSUMER_DEFAULT_PUBLISH;
    if (!c->opt.snapshot) c->opt.snapshot = OT_CONSUMER_DEFAULT_SNAPSHOT;
    if (!c->opt.pub_hwm) c->opt.pub_hwm = OT_CONSUMER_DEFAULT_PUB_HWM;
    if (strcmp(c->opt.publish, "none") != 0 &&
        ot_publisher_open(c->ctx, c->opt.publish, c->opt.pub_hwm, c->auth, &c->pub) != 0) {
        snprintf(s_last_error, sizeof s_last_error,
                 "cannot bind publish socket %s: %s (use --publish, or --publish none)",
                 c->opt.publish, zmq_strerror(errno));
        ot_consumer_close(&c);
        return OT_ETRANSPORT;
    }
    if (strcmp(c->opt.snapshot, "none") != 0 &&
        ot_snapshot_start(c->ctx, c->opt.snapshot, c->store, c->auth, &c->snap) != 0) {
        snprintf(s_last_error, sizeof s_last_error,
                 "cannot bind snapshot socket %s: %s (use --snapshot, or --snapshot none)",
                 c->opt.snapshot, zmq_strerror(errno));
        ot_consumer_close(&c);
        return OT_ETRANSPORT;
    }
    c->pair = zmq_socket(c->ctx, ZMQ_PAIR);
    c->wr.c = c;
    c->wr.pair = zmq_socket(c->ctx, ZMQ_PAIR);
    if (!c->pair || !c->wr.pair || zmq_bind(c->pair, S_PAIR_ENDPOINT) != 0 ||
        zmq_connect(c->wr.pair, S_PAIR_ENDPOINT) != 0 ||
        pthread_create(&c->writer, NULL, s_writer_main, &c->wr) != 0) {
        snprintf(s_last_error, sizeof s_last_error, "cannot start writer thread: %s", zmq_strerror(errno));
        ot_consumer_close(&c);
        return OT_ETRANSPORT;
    }
    c->writer_started = true;
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
        /* Anything the writer answered after the run loop ended. */
        s_work *w;
        while (s_recv_work(c->pair, 0, &w) == 1 && w)
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
    if (c->ctx)
        zmq_ctx_term(c->ctx);
    ot_store_close(&c->store);
    free(c);
    *pc = NULL;
}
