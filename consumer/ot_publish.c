/*
 * ot_publish: the PUB socket of the update stream (see ot_publish.h); the
 * messages come from lib/ot_update.c.
 *
 * The subscriber cap. libzmq has no per-connection control on a PUB
 * socket, so the publisher watches its connections through a socket
 * monitor (ZMQ_EVENT_ACCEPTED / ZMQ_EVENT_DISCONNECTED, each carrying the
 * connection's file descriptor) and closes one beyond the cap with
 * shutdown(2): libzmq then sees the connection end, as if the peer had
 * left, and frees its queue. (ZMQ_XPUB_MANUAL, which would let the writer
 * refuse a subscription instead, keeps a pointer to a peer that leaves
 * with its subscription unread in libzmq 4.3.4: not safe.)
 *
 * Invariants.
 *   1. s->fds holds the descriptors of the connections accepted and not yet
 *      disconnected, as told by the monitor, in order; never more than
 *      OT_PUBLISH_MAX_SUBSCRIBERS.
 *   2. A descriptor is shut down only when its ACCEPTED event is the last
 *      event about it read from the monitor: libzmq reports DISCONNECTED
 *      before it closes a descriptor, so the descriptor is still that
 *      connection (up to the instant between reading the monitor and the
 *      shutdown, in which libzmq would have to both close it and accept
 *      another on the same number: then that one is closed, and reconnects).
 *   3. The monitor's queue is unbounded on our side (ZMQ_RCVHWM 0): libzmq
 *      sends events blocking, so a full queue would stall its I/O thread,
 *      ingest included. It is drained whole (up to 64 x 1024 events) at
 *      every commit and tick.
 */
#include "ot_publish.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <zmq.h>

#include "ot_auth.h"
#include "ot_clock.h"
#include "ot_error.h"

#define S_EVENTS_MAX 1024   /* monitor events looked at together (more: next time) */

struct ot_publisher {
    void *pub;
    void *mon;              /* PAIR reading the PUB's monitor events (invariant 3) */
    int fds[OT_PUBLISH_MAX_SUBSCRIBERS];   /* invariant 1 */
    size_t nfds;
    atomic_size_t subscribers;  /* nfds, for other threads (ot_publisher_stats_get) */
    atomic_uint_fast64_t refused;
    int hwm;                /* each subscriber's queue */
    int64_t last_sent;      /* ot_clock_mono_ms() of the last message of any kind */
    uint64_t count;
    ot_viewset *vs;         /* the views sent (ot_publisher_set_views) */
};

/* One monitor event. */
typedef struct s_event {
    uint16_t event;
    int fd;
} s_event;

int
ot_publisher_open(void *zctx, const char *endpoint, int hwm, const struct ot_auth *auth,
                  ot_publisher **out)
{
    *out = NULL;
    ot_publisher *p = calloc(1, sizeof *p);
    if (!p)
        return ENOMEM;
    p->hwm = hwm;
    if (ot_viewset_new(&p->vs) != 0) {
        free(p);
        return ENOMEM;
    }
    if (p->hwm > OT_PUBLISH_QUEUE_TOTAL / OT_PUBLISH_MAX_SUBSCRIBERS)
        p->hwm = OT_PUBLISH_QUEUE_TOTAL / OT_PUBLISH_MAX_SUBSCRIBERS;
    int linger = 0, rcvhwm = 64, unlimited = 0;
    /* Subscribers send only subscription frames (a topic prefix of at most
     * a key's length). Without a size limit an unauthenticated peer could
     * send a frame header claiming terabytes, or huge subscriptions that
     * libzmq keeps (measured: +751 MiB for one 4 MiB subscription). */
    int64_t maxmsg = OT_VIEW_KEY_MAX + 16;
    char monep[64];
    snprintf(monep, sizeof monep, "inproc://ot-publish-monitor-%p", (void *)p);
    p->pub = zmq_socket(zctx, ZMQ_PUB);
    p->mon = zmq_socket(zctx, ZMQ_PAIR);
    if (!p->pub || !p->mon ||
        zmq_setsockopt(p->pub, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) != 0 ||
        zmq_setsockopt(p->pub, ZMQ_RCVHWM, &rcvhwm, sizeof rcvhwm) != 0 ||
        zmq_setsockopt(p->pub, ZMQ_SNDHWM, &p->hwm, sizeof p->hwm) != 0 ||
        zmq_setsockopt(p->pub, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        zmq_setsockopt(p->mon, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        zmq_setsockopt(p->mon, ZMQ_RCVHWM, &unlimited, sizeof unlimited) != 0 ||
        zmq_socket_monitor(p->pub, monep, ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED) != 0 ||
        zmq_connect(p->mon, monep) != 0 ||
        ot_auth_apply(auth, p->pub, OT_AUTH_DOMAIN_SUBSCRIBE) != 0 ||
        zmq_bind(p->pub, endpoint) != 0) {
        int e = errno;
        ot_publisher_close(&p);
        errno = e;
        return OT_ETRANSPORT;
    }
    *out = p;
    return 0;
}

/* Read up to cap monitor events into ev without waiting. Returns how many. */
static size_t
s_events_read(ot_publisher *p, s_event *ev, size_t cap)
{
    size_t n = 0;
    while (n < cap) {
        zmq_msg_t head, addr;
        zmq_msg_init(&head);
        if (zmq_msg_recv(&head, p->mon, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&head);
            break;
        }
        /* Frame 1: event (u16) and value (u32, the descriptor); frame 2:
         * the endpoint, not needed. */
        if (zmq_msg_more(&head)) {
            zmq_msg_init(&addr);
            zmq_msg_recv(&addr, p->mon, 0);
            zmq_msg_close(&addr);
        }
        if (zmq_msg_size(&head) >= 6) {
            const uint8_t *d = zmq_msg_data(&head);
            uint32_t v;
            memcpy(&ev[n].event, d, 2);
            memcpy(&v, d + 2, 4);
            ev[n].fd = (int)v;
            n++;
        }
        zmq_msg_close(&head);
    }
    return n;
}

/* Bring s->fds up to date with the monitor's events, closing connections
 * beyond the cap (invariants 1, 2). */
static void
s_watch_batch(ot_publisher *p, const s_event *ev, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int fd = ev[i].fd;
        if (ev[i].event == ZMQ_EVENT_DISCONNECTED) {
            for (size_t k = 0; k < p->nfds; k++)
                if (p->fds[k] == fd) {
                    p->fds[k] = p->fds[--p->nfds];
                    break;
                }
            continue;   /* not listed: one closed over the cap */
        }
        if (ev[i].event != ZMQ_EVENT_ACCEPTED)
            continue;
        bool gone = false;      /* a later event of this batch says it left */
        for (size_t j = i + 1; j < n && !gone; j++)
            gone = ev[j].fd == fd && ev[j].event == ZMQ_EVENT_DISCONNECTED;
        if (gone)
            continue;           /* its DISCONNECTED finds it unlisted */
        if (p->nfds < OT_PUBLISH_MAX_SUBSCRIBERS) {
            p->fds[p->nfds++] = fd;
        } else {
            atomic_fetch_add(&p->refused, 1);
            shutdown(fd, SHUT_RDWR);
        }
    }
}

/* Drain the monitor (invariant 3): batch after batch until it is empty, so
 * a storm of connections cannot grow its queue between two calls (at most
 * S_WATCH_BATCHES batches a call, so the writer is never held for long;
 * libzmq's single I/O thread cannot accept connections anywhere near
 * S_WATCH_BATCHES * S_EVENTS_MAX a second). */
#define S_WATCH_BATCHES 64

static void
s_watch(ot_publisher *p)
{
    s_event ev[S_EVENTS_MAX];
    for (int b = 0; b < S_WATCH_BATCHES; b++) {
        size_t n = s_events_read(p, ev, S_EVENTS_MAX);
        s_watch_batch(p, ev, n);
        if (n < S_EVENTS_MAX)
            break;
    }
    atomic_store(&p->subscribers, p->nfds);
}

static void
s_send(ot_publisher *p, const char *topic, size_t tlen, const uint8_t *buf, size_t len)
{
    /* PUB never blocks: beyond the high-water mark ZeroMQ drops the message
     * for that subscriber, who detects the gap by sequence number. */
    if (zmq_send(p->pub, topic, tlen, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0)
        zmq_send(p->pub, buf, len, ZMQ_DONTWAIT);
}

void
ot_publisher_send_changes(ot_publisher *p, const ot_store_change *ch, size_t n,
                          int64_t committed_at)
{
    ot_update_tally m;
    uint8_t buf[OT_UPDATE_TALLY_MAX];
    size_t len;
    /* Before publishing: a connection over the cap gets nothing more. */
    s_watch(p);
    for (size_t i = 0; i < n; i++) {
        /* A key no view knows cannot come from this build's store; skip it
         * rather than send a message the subscriber cannot place. */
        if (ot_update_tally_fill(&m, p->vs, ch[i].key, ch[i].len, &ch[i].counts,
                                  &ch[i].delta) != 0)
            continue;
        m.u.seq = ch[i].seq;
        m.u.view_seq = ch[i].view_seq;
        m.u.committed_at = committed_at;
        if (ot_update_tally_pack(&m, buf, sizeof buf, &len) != 0)
            continue;   /* cannot happen: keys are bounded by OT_VIEW_KEY_MAX */
        s_send(p, ch[i].key, ch[i].len, buf, len);
        p->count++;
    }
    if (n > 0)
        p->last_sent = ot_clock_mono_ms();
}

void
ot_publisher_send_figure(ot_publisher *p, const Optally__Figure *f, uint64_t log_seq,
                         uint64_t figure_seq, int64_t committed_at)
{
    /* A validated figure's own fields stay far below a subscriber's message
     * limit; what protobuf-c kept of fields this build does not know could
     * be megabytes, and a subscriber would drop the connection on it. */
    Optally__Figure bare = *f;
    bare.base.n_unknown_fields = 0;
    bare.base.unknown_fields = NULL;
    uint8_t *buf = NULL;
    size_t len = 0;
    if (ot_update_figure_pack(&bare, log_seq, figure_seq, committed_at, &buf, &len) != 0)
        return;     /* out of memory: a subscriber sees the gap in figure_seq */
    char topic[OT_UPDATE_FIGURE_TOPIC_MAX];
    size_t tlen;
    if (ot_update_figure_topic(f, topic, sizeof topic, &tlen) == 0) {   /* else not validated */
        s_watch(p);
        s_send(p, topic, tlen, buf, len);
    }
    free(buf);
    p->count++;
    p->last_sent = ot_clock_mono_ms();
}

void
ot_publisher_tick(ot_publisher *p, const ot_store_seqs *seqs)
{
    s_watch(p);
    int64_t now = ot_clock_mono_ms();
    if (now - p->last_sent < OT_PUBLISH_HEARTBEAT_MS)
        return;
    uint8_t buf[OT_UPDATE_SEQS_MAX];
    size_t len;
    /* sent_at is shown to subscribers: wall time. */
    if (ot_update_heartbeat_pack(p->vs, seqs->seq, seqs->view_seq, OT_STORE_MAX_VIEWS,
                                  seqs->figure_seq, ot_clock_wall_ms(), buf, sizeof buf,
                                  &len) == 0)
        s_send(p, OT_UPDATE_HEARTBEAT_TOPIC, strlen(OT_UPDATE_HEARTBEAT_TOPIC), buf, len);
    p->last_sent = now;
}

void
ot_publisher_set_views(ot_publisher *p, ot_viewset **vs)
{
    if (!*vs)
        return;     /* keep the set it has */
    ot_viewset_free(&p->vs);
    p->vs = *vs;
    *vs = NULL;
}

uint64_t
ot_publisher_count(const ot_publisher *p)
{
    return p->count;
}

void
ot_publisher_stats_get(const ot_publisher *p, ot_publisher_stats *out)
{
    out->subscribers = atomic_load(&p->subscribers);
    out->refused = atomic_load(&p->refused);
    out->hwm = p->hwm;
    out->queue_max = (uint64_t)p->hwm * OT_PUBLISH_MAX_SUBSCRIBERS;
}

void
ot_publisher_close(ot_publisher **pp)
{
    ot_publisher *p = *pp;
    if (!p)
        return;
    if (p->pub) {
        zmq_socket_monitor(p->pub, NULL, 0);
        zmq_close(p->pub);
    }
    if (p->mon)
        zmq_close(p->mon);
    ot_viewset_free(&p->vs);
    free(p);
    *pp = NULL;
}
