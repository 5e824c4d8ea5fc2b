/*
 * ot_publish: PUB socket, TallyUpdate and Heartbeat encoding.
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
    int64_t last_sent;      /* unix ms of the last message of any kind */
    uint64_t count;
};

static void
s_counts(Optally__Counts *out, const ot_counts *c)
{
    optally__counts__init(out);
    out->events = c->events;
    out->operations = c->operations;
    out->killed = c->killed;
    out->detained = c->detained;
    out->wounded = c->wounded;
}

int
ot_tally_msg_fill(ot_tally_msg *m, const char *key, size_t len, const ot_counts *c,
                  const ot_counts *d)
{
    const ot_view *v;
    const char *vals[OT_VIEW_MAX_FIELDS];
    if (len > OT_VIEW_KEY_MAX)
        return EINVAL;
    int rc = ot_view_key_split(key, len, &v, vals, m->valbuf, sizeof m->valbuf);
    if (rc != 0)
        return rc;
    optally__tally_update__init(&m->u);
    memcpy(m->key, key, len);
    m->key[len] = 0;
    m->u.view = (char *)v->name;
    m->u.key = m->key;
    for (int i = 0; i < v->nfields; i++) {
        m->fields[i] = (char *)v->fields[i];
        m->values[i] = (char *)vals[i];
    }
    m->u.n_fields = m->u.n_values = (size_t)v->nfields;
    m->u.fields = m->fields;
    m->u.values = m->values;
    s_counts(&m->counts, c);
    m->u.counts = &m->counts;
    if (d) {
        s_counts(&m->delta, d);
        m->u.delta = &m->delta;
    }
    return 0;
}

size_t
ot_view_seqs_fill(const ot_store_seqs *seqs, Optally__ViewSeq *arr, Optally__ViewSeq **ptrs)
{
    size_t n = ot_view_count();
    if (n > OT_STORE_MAX_VIEWS)
        n = OT_STORE_MAX_VIEWS;
    for (size_t i = 0; i < n; i++) {
        optally__view_seq__init(&arr[i]);
        arr[i].view = (char *)ot_view_at(i)->name;
        arr[i].view_seq = seqs->view_seq[i];
        ptrs[i] = &arr[i];
    }
    return n;
}

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
    ot_tally_msg m;
    uint8_t buf[4096];
    for (size_t i = 0; i < n; i++) {
        if (ot_tally_msg_fill(&m, ch[i].key, ch[i].len, &ch[i].counts, &ch[i].delta) != 0)
            continue;
        m.u.seq = ch[i].seq;
        m.u.view_seq = ch[i].view_seq;
        m.u.committed_at = committed_at;
        size_t len = optally__tally_update__get_packed_size(&m.u);
        if (len > sizeof buf)
            continue;   /* cannot happen: keys are bounded by OT_VIEW_KEY_MAX */
        optally__tally_update__pack(&m.u, buf);
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
    Optally__Heartbeat hb = OPTALLY__HEARTBEAT__INIT;
    Optally__ViewSeq arr[OT_STORE_MAX_VIEWS], *ptrs[OT_STORE_MAX_VIEWS];
    hb.seq = seqs->seq;
    hb.n_views = ot_view_seqs_fill(seqs, arr, ptrs);
    hb.views = ptrs;
    hb.sent_at = ot_clock_wall_ms();   /* shown to subscribers: wall time */
    uint8_t buf[1024];
    size_t len = optally__heartbeat__pack(&hb, buf);
    s_send(p, OT_PUBLISH_HEARTBEAT_TOPIC, strlen(OT_PUBLISH_HEARTBEAT_TOPIC), buf, len);
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
