/*
 * ot_publish: the PUB socket of the update stream (see ot_publish.h); the
 * messages come from lib/ot_update.c.
 */
#include "ot_publish.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "ot_auth.h"
#include "ot_clock.h"
#include "ot_error.h"

struct ot_publisher {
    void *pub;
    int64_t last_sent;      /* ot_clock_mono_ms() of the last message of any kind */
    uint64_t count;
};

int
ot_publisher_open(void *zctx, const char *endpoint, int hwm, const struct ot_auth *auth,
                  ot_publisher **out)
{
    *out = NULL;
    ot_publisher *p = calloc(1, sizeof *p);
    if (!p)
        return ENOMEM;
    int linger = 0, rcvhwm = 64;
    /* Subscribers send only subscription frames (a topic prefix of at most
     * a key's length). Without a size limit an unauthenticated peer could
     * send a frame header claiming terabytes, or huge subscriptions that
     * libzmq keeps (measured: +751 MiB for one 4 MiB subscription). */
    int64_t maxmsg = OT_VIEW_KEY_MAX + 16;
    p->pub = zmq_socket(zctx, ZMQ_PUB);
    if (!p->pub ||
        zmq_setsockopt(p->pub, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) != 0 ||
        zmq_setsockopt(p->pub, ZMQ_RCVHWM, &rcvhwm, sizeof rcvhwm) != 0 ||
        zmq_setsockopt(p->pub, ZMQ_SNDHWM, &hwm, sizeof hwm) != 0 ||
        zmq_setsockopt(p->pub, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
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
    for (size_t i = 0; i < n; i++) {
        /* A key no view knows cannot come from this build's store; skip it
         * rather than send a message the subscriber cannot place. */
        if (ot_update_tally_fill(&m, ch[i].key, ch[i].len, &ch[i].counts, &ch[i].delta) != 0)
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
ot_publisher_tick(ot_publisher *p, const ot_store_seqs *seqs)
{
    int64_t now = ot_clock_mono_ms();
    if (now - p->last_sent < OT_PUBLISH_HEARTBEAT_MS)
        return;
    uint8_t buf[OT_UPDATE_SEQS_MAX];
    size_t len;
    /* sent_at is shown to subscribers: wall time. */
    if (ot_update_heartbeat_pack(seqs->seq, seqs->view_seq, OT_STORE_MAX_VIEWS,
                                 ot_clock_wall_ms(), buf, sizeof buf, &len) == 0)
        s_send(p, OT_UPDATE_HEARTBEAT_TOPIC, strlen(OT_UPDATE_HEARTBEAT_TOPIC), buf, len);
    p->last_sent = now;
}

uint64_t
ot_publisher_count(const ot_publisher *p)
{
    return p->count;
}

void
ot_publisher_close(ot_publisher **pp)
{
    ot_publisher *p = *pp;
    if (!p)
        return;
    if (p->pub)
        zmq_close(p->pub);
    free(p);
    *pp = NULL;
}
