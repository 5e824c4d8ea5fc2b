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
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <zmq.h>

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
    static const struct option longs[] = {
        { "events", required_argument, NULL, 'e' },
        { "per-frame", required_argument, NULL, 'k' },
        { "name", required_argument, NULL, 'N' },
        { NULL, 0, NULL, 0 },
    };
    const char *path = NULL, *name = "zmq";
    size_t per = 1;
    int c;
    while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        switch (c) {
        case 'e': path = optarg; break;
        case 'k': per = strtoul(optarg, NULL, 10); break;
        case 'N': name = optarg; break;
        default: return 64;
        }
    }
    if (!path || per == 0) {
        fprintf(stderr, "usage: otb_zmq --events FILE.bin [--per-frame K] [--name ROW]\n");
        return 64;
    }
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
                buf[w++] = 0x0a;
                for (size_t v = n; ; v >>= 7) {
                    buf[w++] = (uint8_t)(v >= 0x80 ? (v | 0x80) : v);
                    if (v < 0x80)
                        break;
                }
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
    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    double t0 = otb_now();
    for (size_t i = 0; i < r.nmsg; i++)
        if (zmq_send(s, buf + r.off[i], r.off[i + 1] - r.off[i], 0) < 0) {
            fprintf(stderr, "otb_zmq: send: %s\n", zmq_strerror(errno));
            return 2;
        }
    pthread_join(thr, NULL);
    getrusage(RUSAGE_SELF, &ru1);
    double secs = r.t_end - t0;
    double cpu = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) +
                 (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6 +
                 (double)(ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
                 (double)(ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
    zmq_close(s);
    zmq_ctx_term(ctx);
    bool ok = r.received == r.nmsg;
    otb_result(name, "events=%zu\tsecs=%.3f\tevps=%.0f\tcpu_s=%.2f\thwm_kb=%ld\tper_frame=%zu"
               "\tmsg_bytes=%.0f\tok=%d", ev.n, secs, (double)ev.n / secs, cpu, ru1.ru_maxrss,
               per, (double)w / (double)r.nmsg, ok);
    free(buf);
    free(r.off);
    otb_events_close(&ev);
    return ok ? 0 : 1;
}
