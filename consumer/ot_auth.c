/*
 * ot_auth: ZAP handler thread and CURVE server options (see ot_auth.h).
 *
 * The refusal log belongs to the ZAP thread alone (a->log): no lock. A
 * refusal is counted at once; a line is written when the previous one is
 * at least OT_AUTH_REFUSAL_LOG_MS old, else by the thread's 100 ms poll
 * once it is, or when the handler stops: every refusal is told, in at most
 * one line a second.
 */
#include "ot_auth.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "ot_clock.h"
#include "ot_error.h"
#include "ot_keys.h"

#define S_ZAP_ENDPOINT "inproc://zeromq.zap.01"
#ifndef ZMQ_ZAP_ENFORCE_DOMAIN
#define ZMQ_ZAP_ENFORCE_DOMAIN 93   /* draft in 4.3.4 headers; Debian's build accepts it */
#endif

/* The refusals not yet told (ZAP thread only). */
typedef struct s_refusal_log {
    uint64_t pending;           /* refused since the last line */
    int64_t first_pending;      /* monotonic ms of the first of them */
    int64_t last_line;          /* monotonic ms of the last line */
    bool any_line;              /* last_line is set */
    char last[320];             /* the latest refusal: domain, address, key, why */
} s_refusal_log;

struct ot_auth {
    ot_keypair server;
    ot_keyset *producers;
    ot_keyset *subscribers;     /* may be the same set as producers */
    bool separate_sub_keys;     /* --allow-subscriber-keys was given */
    void *rep;
    pthread_t thread;
    bool started;
    atomic_int stop;
    atomic_uint_fast64_t accepted, refused;
    s_refusal_log log;
};

/* Copy a frame into out as printable text (a peer chooses some of these
 * bytes: no control character reaches the log). */
static void
s_frame_text(zmq_msg_t *m, char *out, size_t cap)
{
    const unsigned char *p = zmq_msg_data(m);
    size_t n = zmq_msg_size(m), j = 0;
    for (size_t i = 0; i < n && j + 1 < cap; i++)
        out[j++] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '?';
    out[j] = 0;
}

/* Decide one ZAP request (frames in f, n of them). Returns NULL to allow,
 * else why not; OUT: z85 (the client key, "" when there is none). */
static const char *
s_refuse_why(ot_auth *a, zmq_msg_t *f, size_t n, char *z85)
{
    z85[0] = 0;
    /* version, request id, domain, address, identity, mechanism, key */
    if (n != 7 || zmq_msg_size(&f[0]) != 3 || memcmp(zmq_msg_data(&f[0]), "1.0", 3) != 0)
        return "malformed ZAP request";
    if (zmq_msg_size(&f[5]) != 5 || memcmp(zmq_msg_data(&f[5]), "CURVE", 5) != 0)
        return "not a CURVE client";
    if (zmq_msg_size(&f[6]) != 32 || !zmq_z85_encode(z85, zmq_msg_data(&f[6]), 32)) {
        z85[0] = 0;
        return "no client key";
    }
    const char *dom = zmq_msg_data(&f[2]);
    size_t dlen = zmq_msg_size(&f[2]);
    if (dlen == strlen(OT_AUTH_DOMAIN_INGEST) && !memcmp(dom, OT_AUTH_DOMAIN_INGEST, dlen))
        return ot_keyset_has(a->producers, z85) ? NULL : "not in --allow-keys";
    if (dlen == strlen(OT_AUTH_DOMAIN_SUBSCRIBE) && !memcmp(dom, OT_AUTH_DOMAIN_SUBSCRIBE, dlen))
        return ot_keyset_has(a->subscribers, z85) ? NULL
             : a->separate_sub_keys ? "not in --allow-subscriber-keys" : "not in --allow-keys";
    return "unknown ZAP domain";
}

/* Write the pending refusals' line when the last one is old enough (or
 * force). */
static void
s_refusal_flush(ot_auth *a, int64_t now, bool force)
{
    s_refusal_log *l = &a->log;
    if (l->pending == 0 || (!force && l->any_line && now - l->last_line < OT_AUTH_REFUSAL_LOG_MS))
        return;
    if (l->pending == 1)
        fprintf(stderr, "optally consume: WARNING: refused 1 CURVE handshake (%s)\n", l->last);
    else
        fprintf(stderr, "optally consume: WARNING: refused %llu CURVE handshakes in %.1f s "
                "(the last: %s)\n", (unsigned long long)l->pending,
                (double)(now - l->first_pending) / 1000.0, l->last);
    l->pending = 0;
    l->last_line = now;
    l->any_line = true;
}

/* Count one refusal and tell it (rate-limited). */
static void
s_refusal_note(ot_auth *a, zmq_msg_t *f, size_t n, const char *z85, const char *why)
{
    char dom[32] = "?", addr[64] = "?";
    if (n >= 4) {
        s_frame_text(&f[2], dom, sizeof dom);
        s_frame_text(&f[3], addr, sizeof addr);
    }
    s_refusal_log *l = &a->log;
    int64_t now = ot_clock_mono_ms();
    if (l->pending++ == 0)
        l->first_pending = now;
    snprintf(l->last, sizeof l->last, "domain '%s', address %s, client key %s: %s", dom,
             addr[0] ? addr : "?", z85[0] ? z85 : "(none)", why);
    s_refusal_flush(a, now, false);
}

static void
s_handle(ot_auth *a)
{
    zmq_msg_t f[8];
    size_t n = 0;
    bool more = true;
    while (more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, a->rep, 0) < 0) {
            zmq_msg_close(&m);
            break;
        }
        more = zmq_msg_more(&m);
        if (n < 8) {
            zmq_msg_init(&f[n]);
            zmq_msg_move(&f[n], &m);
            n++;
        }
        zmq_msg_close(&m);
    }
    char z85[OT_KEY_Z85_LEN + 1];
    const char *why = s_refuse_why(a, f, n, z85);
    bool ok = why == NULL;
    atomic_fetch_add(ok ? &a->accepted : &a->refused, 1);
    if (!ok)
        s_refusal_note(a, f, n, z85, why);
    const char *code = ok ? "200" : "400";
    const char *text = ok ? "OK" : "public key not in the allow-list";
    zmq_send(a->rep, "1.0", 3, ZMQ_SNDMORE);
    if (n >= 2)
        zmq_send(a->rep, zmq_msg_data(&f[1]), zmq_msg_size(&f[1]), ZMQ_SNDMORE);
    else
        zmq_send(a->rep, "", 0, ZMQ_SNDMORE);
    zmq_send(a->rep, code, 3, ZMQ_SNDMORE);
    zmq_send(a->rep, text, strlen(text), ZMQ_SNDMORE);
    /* User id: the client's public key (Z85), so the consumer can charge
     * per-peer budgets (rejects) to the key, not to a connection that a
     * reconnect would renew. */
    zmq_send(a->rep, ok ? z85 : "", ok ? strlen(z85) : 0, ZMQ_SNDMORE);
    zmq_send(a->rep, "", 0, 0);             /* metadata */
    for (size_t i = 0; i < n; i++)
        zmq_msg_close(&f[i]);
}

static void *
s_main(void *arg)
{
    ot_auth *a = arg;
    while (!atomic_load(&a->stop)) {
        zmq_pollitem_t pi = { a->rep, 0, ZMQ_POLLIN, 0 };
        int n = zmq_poll(&pi, 1, 100);
        if (n < 0 && errno != EINTR)
            break;
        if (n > 0)
            s_handle(a);
        s_refusal_flush(a, ot_clock_mono_ms(), false);
    }
    s_refusal_flush(a, ot_clock_mono_ms(), true);
    return NULL;
}

typedef struct s_note_ctx {
    const char *flag;           /* "--allow-keys" */
    const char *dir;
    size_t ignored;
} s_note_ctx;

/* ot_keyset_note_fn: tell each key loaded and each file ignored. */
static void
s_note(void *arg, const char *file, const char *public_key, const char *problem)
{
    s_note_ctx *n = arg;
    if (public_key)
        fprintf(stderr, "optally consume: %s %s: allowed key %s (%s)\n", n->flag, n->dir, public_key,
                file);
    if (!public_key)
        n->ignored++;
    if (problem)
        fprintf(stderr, "optally consume: WARNING: %s %s: %s %s: %s\n", n->flag, n->dir,
                public_key ? "loaded" : "ignoring", file, problem);
}

static int
s_load_set(const char *dir, const char *what, ot_keyset **out, char *err, size_t errcap)
{
    s_note_ctx nc = { what, dir, 0 };
    int rc = ot_keyset_load_noted(dir, s_note, &nc, out);
    if (rc == ENOENT)
        snprintf(err, errcap, "no public key files in %s (%s)%s; put one NAME.pub per peer there "
                 "(made by `optally keygen`)", dir, what,
                 nc.ignored ? ": every file there was ignored, see the warnings above" : "");
    else if (rc != 0)
        snprintf(err, errcap, "cannot read %s (%s): %s", dir, what, strerror(rc));
    return rc;
}

int
ot_auth_start(void *zctx, const ot_auth_options *opt, ot_auth **out, char *err, size_t errcap)
{
    *out = NULL;
    if (!opt->curve_secret) {
        if (opt->allow_keys || opt->allow_sub_keys) {
            snprintf(err, errcap, "--allow-keys needs --curve-secret (the server's key pair)");
            return EINVAL;
        }
        return 0;   /* no CURVE: *out stays NULL */
    }
    if (!opt->allow_keys) {
        snprintf(err, errcap, "--curve-secret needs --allow-keys DIR (the public keys allowed to connect)");
        return EINVAL;
    }
    ot_auth *a = calloc(1, sizeof *a);
    if (!a)
        return ENOMEM;
    int rc = ot_keys_read(opt->curve_secret, 1, &a->server);
    char why[512];
    if (rc == EPERM)
        snprintf(err, errcap, "refusing the server key pair: %s",
                 ot_keys_error_text(opt->curve_secret, 1, rc, why, sizeof why));
    else if (rc != 0)
        snprintf(err, errcap, "cannot read the server key pair %s: %s (make one with `optally keygen`)",
                 opt->curve_secret, ot_keys_error_text(opt->curve_secret, 1, rc, why, sizeof why));
    if (rc == 0)
        rc = s_load_set(opt->allow_keys, "--allow-keys", &a->producers, err, errcap);
    /* Without a directory of their own, subscribers share the producers'
     * set (loaded and told once). */
    a->separate_sub_keys = opt->allow_sub_keys != NULL;
    if (rc == 0 && a->separate_sub_keys)
        rc = s_load_set(opt->allow_sub_keys, "--allow-subscriber-keys",
                        &a->subscribers, err, errcap);
    else if (rc == 0)
        a->subscribers = a->producers;
    if (rc == 0) {
        a->rep = zmq_socket(zctx, ZMQ_REP);
        if (!a->rep || zmq_bind(a->rep, S_ZAP_ENDPOINT) != 0) {
            snprintf(err, errcap, "cannot start the ZAP handler: %s", zmq_strerror(errno));
            rc = OT_ETRANSPORT;
        }
    }
    if (rc == 0 && (rc = pthread_create(&a->thread, NULL, s_main, a)) != 0)
        snprintf(err, errcap, "cannot start the ZAP handler thread: %s", strerror(rc));
    if (rc != 0) {
        ot_auth_stop(&a);
        return rc;
    }
    a->started = true;
    *out = a;
    return 0;
}

int
ot_auth_apply(const ot_auth *a, void *sock, const char *domain)
{
    int ivl = OT_AUTH_HANDSHAKE_MS;
    if (zmq_setsockopt(sock, ZMQ_HANDSHAKE_IVL, &ivl, sizeof ivl) != 0)
        return OT_ETRANSPORT;
    if (!a)
        return 0;
    int one = 1;
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof one) != 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, a->server.secret_key, OT_KEY_Z85_LEN + 1) != 0 ||
        zmq_setsockopt(sock, ZMQ_ZAP_DOMAIN, domain, strlen(domain)) != 0 ||
        zmq_setsockopt(sock, ZMQ_ZAP_ENFORCE_DOMAIN, &one, sizeof one) != 0)
        return OT_ETRANSPORT;
    return 0;
}

void
ot_auth_counts(const ot_auth *a, uint64_t *accepted, uint64_t *refused)
{
    *accepted = a ? atomic_load(&a->accepted) : 0;
    *refused = a ? atomic_load(&a->refused) : 0;
}

bool
ot_auth_endpoint_public(const char *ep)
{
    if (strncmp(ep, "tcp://", 6) != 0)
        return false;
    const char *h = ep + 6;
    return strncmp(h, "127.", 4) != 0 && strncmp(h, "localhost:", 10) != 0 &&
           strncmp(h, "[::1]:", 6) != 0 && strncmp(h, "lo:", 3) != 0;
}

void
ot_auth_stop(ot_auth **pa)
{
    ot_auth *a = *pa;
    if (!a)
        return;
    if (a->started) {
        atomic_store(&a->stop, 1);
        pthread_join(a->thread, NULL);
    }
    if (a->rep)
        zmq_close(a->rep);
    if (a->subscribers != a->producers)
        ot_keyset_free(&a->subscribers);
    ot_keyset_free(&a->producers);
    /* No secret left in freed memory. explicit_bzero: a memset just before
     * free is a dead store the compiler may remove. */
    explicit_bzero(&a->server, sizeof a->server);
    free(a);
    *pa = NULL;
}
