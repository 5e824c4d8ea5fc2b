/*
 * otb_zmq: the transport limit: raw ZeroMQ over tcp loopback with the
 * benchmark's own events, no decoding, no store.
 *
 *   otb_zmq --events FILE.bin [--per-frame K] [--name ROW]
 *
 * A PUSH socket in one thread sends every event, K per message (K = 1:
 * one message per event; K > 1: K events concatenated as an EventBatch
 * body would carry them); a PULL socket in another thread, each with its
 * own context (as two processes would be), receives until every event has
 * arrived. Messages are built before the clock starts. Prints a RESULT
 * line: events/s and the CPU of both threads.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "ot_fields.h"
#include "ot_wire.h"
#include "otb_util.h"

typedef struct s_run {
    const uint8_t *buf;
    size_t *off;
    size_t nmsg;
    size_t per;
    char endpoint[256];
    size_t received;
    double t_end;
} s_run;

static void *
s_receiver(void *arg)
{
    s_run *r = arg;
    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, ZMQ_PULL);
    zmq_bind(s, "tcp://127.0.0.1:*");
    size_t len = sizeof r->endpoint;
    zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, r->endpoint, &len);
    __atomic_store_n(&r->received, 1, __ATOMIC_RELEASE);   /* bound: sender may start */
    size_t msgs = 0;
    zmq_msg_t m;
    zmq_msg_init(&m);
    while (msgs < r->nmsg && zmq_msg_recv(&m, s, 0) >= 0)
        msgs++;
    zmq_msg_close(&m);
    r->t_end = otb_now();
    r->received = msgs;
    zmq_close(s);
    zmq_ctx_term(ctx);
    return NULL;
}

int
main(int argc, char **argv)
{
    const char *path = NULL, *name = "zmq";
    size_t per = 1;
    const otb_opt opts[] = {
        { "events", OTB_OPT_STR, &path, NULL },
        { "per-frame", OTB_OPT_SIZE, &per, NULL },
        { "name", OTB_OPT_STR, &name, NULL },
        { NULL, 0, NULL, NULL },
    };
    if (otb_opts_parse(argc, argv, opts) != 0 || !path || per == 0)
        return otb_usage("otb_zmq --events FILE.bin [--per-frame K] [--name ROW]");
    otb_events ev;
    if (otb_events_open(path, &ev) != 0)
        return 2;
    s_run r = { 0 };
    r.per = per;
    r.nmsg = (ev.n + per - 1) / per;
    uint8_t *buf = malloc(ev.len + ev.n * 2);
    r.off = calloc(r.nmsg + 1, sizeof *r.off);
    if (!buf || !r.off)
        return 2;
    size_t pos = 0, w = 0;
    const uint8_t *d;
    size_t n;
    for (size_t i = 0; i < r.nmsg; i++) {
        r.off[i] = w;
        for (size_t k = 0; k < per && otb_events_next(&ev, &pos, &d, &n); k++) {
            if (per > 1) {               /* EventBatch field 1 framing */
                buf[w++] = (uint8_t)OT_WIRE_TAG(OT_F_BATCH_EVENTS, OT_WIRE_LEN);
                w += ot_wire_put_varint(buf + w, n);
            }
            memcpy(buf + w, d, n);
            w += n;
        }
    }
    r.off[r.nmsg] = w;
    r.buf = buf;

    pthread_t thr;
    pthread_create(&thr, NULL, s_receiver, &r);
    while (!__atomic_load_n(&r.received, __ATOMIC_ACQUIRE))
        ;
    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, ZMQ_PUSH);
    int linger = -1;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_connect(s, r.endpoint) != 0) {
        fprintf(stderr, "otb_zmq: connect %s: %s\n", r.endpoint, zmq_strerror(errno));
        return 2;
    }
    otb_span sp;
    otb_span_begin(&sp, 0, NULL);
    for (size_t i = 0; i < r.nmsg; i++)
        if (zmq_send(s, buf + r.off[i], r.off[i + 1] - r.off[i], 0) < 0) {
            fprintf(stderr, "otb_zmq: send: %s\n", zmq_strerror(errno));
            return 2;
        }
    pthread_join(thr, NULL);
    otb_span_end(&sp);
    double secs = r.t_end - sp.t0;   /* until the last message arrived */
    zmq_close(s);
    zmq_ctx_term(ctx);
    bool ok = r.received == r.nmsg;
    otb_result(name, "events=%zu\tsecs=%.3f\tevps=%.0f\tcpu_s=%.2f\thwm_kb=%" PRIu64
               "\tper_frame=%zu\tmsg_bytes=%.0f\tok=%d", ev.n, secs, (double)ev.n / secs,
               otb_span_cpu(&sp), sp.p1.hwm_kb, per, (double)w / (double)r.nmsg, ok);
    free(buf);
    free(r.off);
    otb_events_close(&ev);
    return ok ? 0 : 1;
}
