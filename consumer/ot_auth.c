/*
 * ot_auth: ZAP handler thread and CURVE server options (see ot_auth.h).
 */
#include "ot_auth.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "ot_error.h"
#include "ot_keys.h"

#define S_ZAP_ENDPOINT "inproc://zeromq.zap.01"
#ifndef ZMQ_ZAP_ENFORCE_DOMAIN
#define ZMQ_ZAP_ENFORCE_DOMAIN 93   /* draft in 4.3.4 headers; Debian's build accepts it */
#endif

struct ot_auth {
    ot_keypair server;
    ot_keyset *producers;
    ot_keyset *subscribers;     /* may be the same set as producers */
    void *rep;
    pthread_t thread;
    bool started;
    atomic_int stop;
    atomic_uint_fast64_t accepted, refused;
};

/* Decide one ZAP request (frames in f, n of them). */
static bool
s_allow(ot_auth *a, zmq_msg_t *f, size_t n)
{
    /* version, request id, domain, address, identity, mechanism, key */
    if (n != 7 || zmq_msg_size(&f[0]) != 3 || memcmp(zmq_msg_data(&f[0]), "1.0", 3) != 0)
        return false;
    if (zmq_msg_size(&f[5]) != 5 || memcmp(zmq_msg_data(&f[5]), "CURVE", 5) != 0)
        return false;
    if (zmq_msg_size(&f[6]) != 32)
        return false;
    char z85[OT_KEY_Z85_LEN + 1];
    if (!zmq_z85_encode(z85, zmq_msg_data(&f[6]), 32))
        return false;
    const char *dom = zmq_msg_data(&f[2]);
    size_t dlen = zmq_msg_size(&f[2]);
    const ot_keyset *set = NULL;
    if (dlen == strlen(OT_AUTH_DOMAIN_INGEST) && !memcmp(dom, OT_AUTH_DOMAIN_INGEST, dlen))
        set = a->producers;
    else if (dlen == strlen(OT_AUTH_DOMAIN_SUBSCRIBE) && !memcmp(dom, OT_AUTH_DOMAIN_SUBSCRIBE, dlen))
        set = a->subscribers;
    return set && ot_keyset_has(set, z85);
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
    bool ok = s_allow(a, f, n);
    atomic_fetch_add(ok ? &a->accepted : &a->refused, 1);
    const char *code = ok ? "200" : "400";
    const char *text = ok ? "OK" : "public key not in the allow-list";
    zmq_send(a->rep, "1.0", 3, ZMQ_SNDMORE);
    if (n >= 2)
        zmq_send(a->rep, zmq_msg_data(&f[1]), zmq_msg_size(&f[1]), ZMQ_SNDMORE);
    else
        zmq_send(a->rep, "", 0, ZMQ_SNDMORE);
    zmq_send(a->rep, code, 3, ZMQ_SNDMORE);
    zmq_send(a->rep, text, strlen(text), ZMQ_SNDMORE);
    zmq_send(a->rep, "", 0, ZMQ_SNDMORE);   /* user id */
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
    }
    return NULL;
}

static int
s_load_set(const char *dir, const char *what, ot_keyset **out, char *err, size_t errcap)
{
    int rc = ot_keyset_load(dir, out);
    if (rc == ENOENT)
        snprintf(err, errcap, "no public key files in %s (%s); put one NAME.pub per peer there "
                 "(made by `optally keygen`)", dir, what);
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
    if (rc != 0)
        snprintf(err, errcap, "cannot read the server key pair %s: %s (make one with `optally keygen`)",
                 opt->curve_secret, rc == EINVAL ? "no public-key and secret-key lines" : strerror(rc));
    if (rc == 0)
        rc = s_load_set(opt->allow_keys, "--allow-keys", &a->producers, err, errcap);
    if (rc == 0)
        rc = s_load_set(opt->allow_sub_keys ? opt->allow_sub_keys : opt->allow_keys,
                        "subscriber keys", &a->subscribers, err, errcap);
    if (rc == 0) {
        a->rep = zmq_socket(zctx, ZMQ_REP);
        if (!a->rep || zmq_bind(a->rep, S_ZAP_ENDPOINT) != 0) {
            snprintf(err, errcap, "cannot start the ZAP handler: %s", zmq_strerror(errno));
            rc = OT_ETRANSPORT;
        }
    }
    if (rc == 0 && pthread_create(&a->thread, NULL, s_main, a) != 0)
        rc = ENOMEM;
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
    memset(&a->server, 0, sizeof a->server);   /* no secret left in freed memory */
    free(a);
    *pa = NULL;
}
