/*
 * test_auth: consumer/ot_auth.c, CURVE and the ZAP handler, with real
 * ZeroMQ sockets on loopback TCP (CURVE does not apply to inproc) and key
 * files made by lib/ot_keys.h in a temporary directory.
 *  - a producer key in --allow-keys connects to an "ingest" socket and
 *    talks both ways;
 *  - an unknown key is refused (fail closed): the ZAP handler counts the
 *    refusal and not one byte reaches the server;
 *  - domains are separate: with --allow-subscriber-keys, a subscriber key
 *    is refused on "ingest" and a producer key on "subscribe"; without it,
 *    the allow-keys serve both;
 *  - a CURVE server socket in a context without a ZAP handler refuses
 *    every client (ZMQ_ZAP_ENFORCE_DOMAIN), and a client without CURVE
 *    never gets through;
 *  - configuration errors come back with a message naming what to fix.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <zmq.h>

#include "ot_auth.h"
#include "ot_clock.h"
#include "ot_keys.h"

#define A_WAIT_MS 5000      /* a step that should happen gives up after this */
#define A_QUIET_MS 300      /* how long "nothing arrived" is watched, after the
                             * refusal was seen (the refusal ends the handshake) */

typedef struct a_fix {
    char dir[64];
    char server_key[128], allow[128], allow_sub[128];
    ot_keypair server, producer, subscriber, stranger;
    void *ctx;
    void *other;                /* a second context, without ZAP handler */
    ot_auth *auth;
    void *socks[16];            /* closed by the teardown, also after a failure */
    size_t nsocks;
} a_fix;

static void *
s_track(a_fix *f, void *sock)
{
    assert_non_null(sock);
    assert_true(f->nsocks < sizeof f->socks / sizeof f->socks[0]);
    f->socks[f->nsocks++] = sock;
    return sock;
}

static void
s_make_key(a_fix *f, const char *name, const char *into, ot_keypair *kp)
{
    char base[256];
    memset(kp, 0, sizeof *kp);
    assert_int_equal(zmq_curve_keypair(kp->public_key, kp->secret_key), 0);
    snprintf(base, sizeof base, "%s/%s", into ? into : f->dir, name);
    assert_int_equal(ot_keys_write(base, kp), 0);
}

static int
s_setup(void **state)
{
    a_fix *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/ot-test-auth.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->allow, sizeof f->allow, "%s/allow", f->dir);
    snprintf(f->allow_sub, sizeof f->allow_sub, "%s/allow-sub", f->dir);
    snprintf(f->server_key, sizeof f->server_key, "%s/server.key", f->dir);
    assert_int_equal(mkdir(f->allow, 0700), 0);
    assert_int_equal(mkdir(f->allow_sub, 0700), 0);
    s_make_key(f, "server", NULL, &f->server);
    s_make_key(f, "producer", f->allow, &f->producer);
    s_make_key(f, "subscriber", f->allow_sub, &f->subscriber);
    s_make_key(f, "stranger", NULL, &f->stranger);
    f->ctx = zmq_ctx_new();
    assert_non_null(f->ctx);
    *state = f;
    return 0;
}

static int
s_teardown(void **state)
{
    a_fix *f = *state;
    while (f->nsocks > 0)
        zmq_close(f->socks[--f->nsocks]);
    ot_auth_stop(&f->auth);
    assert_null(f->auth);
    ot_auth_stop(&f->auth);     /* safe twice */
    zmq_ctx_term(f->ctx);
    if (f->other)
        zmq_ctx_term(f->other);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static void
s_start(a_fix *f, bool separate_sub_keys)
{
    ot_auth_options o = { .curve_secret = f->server_key, .allow_keys = f->allow,
                          .allow_sub_keys = separate_sub_keys ? f->allow_sub : NULL };
    char err[512] = "";
    int rc = ot_auth_start(f->ctx, &o, &f->auth, err, sizeof err);
    if (rc != 0)
        fail_msg("ot_auth_start: %d %s", rc, err);
    assert_non_null(f->auth);
}

/* Close a tracked socket now. */
static void
s_close(a_fix *f, void *sock)
{
    for (size_t i = 0; i < f->nsocks; i++)
        if (f->socks[i] == sock) {
            f->socks[i] = f->socks[--f->nsocks];
            zmq_close(sock);
            return;
        }
    fail_msg("closing a socket that is not tracked");
}

/* A server ROUTER of domain in ctx, CURVE through auth, on loopback.
 * OUT: ep (the endpoint to connect to). */
static void *
s_server(a_fix *f, void *ctx, const char *domain, char *ep, size_t cap)
{
    void *s = s_track(f, zmq_socket(ctx, ZMQ_ROUTER));
    int zero = 0;
    assert_int_equal(zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero), 0);
    assert_int_equal(ot_auth_apply(f->auth, s, domain), 0);
    assert_int_equal(zmq_bind(s, "tcp://127.0.0.1:*"), 0);
    assert_int_equal(zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, ep, &cap), 0);
    return s;
}

/* A DEALER connected to ep, a CURVE client with kp when kp is not NULL. */
static void *
s_client(a_fix *f, const ot_keypair *kp, const char *ep)
{
    void *c = s_track(f, zmq_socket(f->ctx, ZMQ_DEALER));
    int zero = 0;
    assert_int_equal(zmq_setsockopt(c, ZMQ_LINGER, &zero, sizeof zero), 0);
    if (kp) {
        assert_int_equal(zmq_setsockopt(c, ZMQ_CURVE_SERVERKEY, f->server.public_key, 41), 0);
        assert_int_equal(zmq_setsockopt(c, ZMQ_CURVE_PUBLICKEY, kp->public_key, 41), 0);
        assert_int_equal(zmq_setsockopt(c, ZMQ_CURVE_SECRETKEY, kp->secret_key, 41), 0);
    }
    assert_int_equal(zmq_connect(c, ep), 0);
    return c;
}

static bool
s_readable(void *sock, long ms)
{
    zmq_pollitem_t it = { .socket = sock, .events = ZMQ_POLLIN };
    int n = zmq_poll(&it, 1, ms);
    assert_true(n >= 0);
    return n > 0 && (it.revents & ZMQ_POLLIN);
}

/* The client talks to the server and back: proves the connection was let in. */
static void
s_expect_talk(void *client, void *server)
{
    assert_int_equal(zmq_send(client, "ping", 4, 0), 4);
    assert_true(s_readable(server, A_WAIT_MS));
    char id[256], buf[16];
    int idlen = zmq_recv(server, id, sizeof id, 0);
    assert_true(idlen > 0);
    assert_int_equal(zmq_recv(server, buf, sizeof buf, 0), 4);
    assert_memory_equal(buf, "ping", 4);
    assert_int_equal(zmq_send(server, id, (size_t)idlen, ZMQ_SNDMORE), idlen);
    assert_int_equal(zmq_send(server, "pong", 4, 0), 4);
    assert_true(s_readable(client, A_WAIT_MS));
    assert_int_equal(zmq_recv(client, buf, sizeof buf, 0), 4);
    assert_memory_equal(buf, "pong", 4);
}

/* The client's connection is refused: the ZAP handler's refusal count
 * rises (awaited), and what the client queued never reaches the server.
 * The client is closed then, so its reconnection attempts cannot be taken
 * for the refusal of the next one. */
static void
s_expect_refused(a_fix *f, void *client, void *server)
{
    uint64_t acc0, ref0, acc, ref;
    ot_auth_counts(f->auth, &acc0, &ref0);
    assert_int_equal(zmq_send(client, "ping", 4, ZMQ_DONTWAIT), 4);
    int64_t end = ot_clock_mono_ms() + A_WAIT_MS;
    do {
        ot_auth_counts(f->auth, &acc, &ref);
        if (ref > ref0)
            break;
        assert_false(s_readable(server, 10));
    } while (ot_clock_mono_ms() < end);
    assert_true(ref > ref0);
    assert_int_equal(acc, acc0);
    assert_false(s_readable(server, A_QUIET_MS));
    ot_auth_counts(f->auth, &acc, &ref);
    assert_int_equal(acc, acc0);
    s_close(f, client);
}

static void
t_allowed_key_talks(void **state)
{
    a_fix *f = *state;
    s_start(f, true);
    char ep[64];
    void *srv = s_server(f, f->ctx, OT_AUTH_DOMAIN_INGEST, ep, sizeof ep);
    void *cli = s_client(f, &f->producer, ep);
    s_expect_talk(cli, srv);
    uint64_t acc, ref;
    ot_auth_counts(f->auth, &acc, &ref);
    assert_int_equal(acc, 1);
    assert_int_equal(ref, 0);
}

static void
t_unknown_key_refused(void **state)
{
    a_fix *f = *state;
    s_start(f, true);
    char ep[64];
    void *srv = s_server(f, f->ctx, OT_AUTH_DOMAIN_INGEST, ep, sizeof ep);
    void *cli = s_client(f, &f->stranger, ep);
    s_expect_refused(f, cli, srv);
    /* The server is not harmed: an allowed client still gets in. */
    cli = s_client(f, &f->producer, ep);
    s_expect_talk(cli, srv);
}

static void
t_domains_separate(void **state)
{
    a_fix *f = *state;
    s_start(f, true);
    char ep_in[64], ep_sub[64];
    void *ingest = s_server(f, f->ctx, OT_AUTH_DOMAIN_INGEST, ep_in, sizeof ep_in);
    void *sub = s_server(f, f->ctx, OT_AUTH_DOMAIN_SUBSCRIBE, ep_sub, sizeof ep_sub);

    void *c = s_client(f, &f->subscriber, ep_in);      /* a subscriber may not ingest */
    s_expect_refused(f, c, ingest);
    c = s_client(f, &f->producer, ep_sub);             /* a producer may not subscribe */
    s_expect_refused(f, c, sub);
    c = s_client(f, &f->subscriber, ep_sub);
    s_expect_talk(c, sub);
    c = s_client(f, &f->producer, ep_in);
    s_expect_talk(c, ingest);
}

static void
t_allow_keys_serve_both_by_default(void **state)
{
    a_fix *f = *state;
    s_start(f, false);
    char ep[64];
    void *sub = s_server(f, f->ctx, OT_AUTH_DOMAIN_SUBSCRIBE, ep, sizeof ep);
    void *c = s_client(f, &f->producer, ep);
    s_expect_talk(c, sub);
    c = s_client(f, &f->subscriber, ep);   /* only in --allow-subscriber-keys, not given */
    s_expect_refused(f, c, sub);
}

/* Fail closed: a CURVE server in a context where no ZAP handler runs
 * refuses even a key that the handler would allow. */
static void
t_no_handler_fails_closed(void **state)
{
    a_fix *f = *state;
    s_start(f, true);
    f->other = zmq_ctx_new();
    assert_non_null(f->other);
    char ep[64];
    void *srv = s_server(f, f->other, OT_AUTH_DOMAIN_INGEST, ep, sizeof ep);
    void *cli = s_client(f, &f->producer, ep);
    assert_int_equal(zmq_send(cli, "ping", 4, ZMQ_DONTWAIT), 4);
    /* Nothing to await here (no handler counts it): watch for a while. */
    assert_false(s_readable(srv, 1000));
    uint64_t acc, ref;
    ot_auth_counts(f->auth, &acc, &ref);
    assert_int_equal(acc, 0);
}

/* A client without CURVE never reaches a CURVE server. */
static void
t_null_client_refused(void **state)
{
    a_fix *f = *state;
    s_start(f, true);
    char ep[64];
    void *srv = s_server(f, f->ctx, OT_AUTH_DOMAIN_INGEST, ep, sizeof ep);
    void *cli = s_client(f, NULL, ep);
    assert_int_equal(zmq_send(cli, "ping", 4, ZMQ_DONTWAIT), 4);
    assert_false(s_readable(srv, 1000));
    /* and then an allowed one does (the server still works) */
    cli = s_client(f, &f->producer, ep);
    s_expect_talk(cli, srv);
}

static void
t_config_errors(void **state)
{
    a_fix *f = *state;
    ot_auth *a = (ot_auth *)&a;
    char err[512];

    /* No keys at all: NULL mechanism, no handler, no error. */
    ot_auth_options o = { 0 };
    err[0] = 0;
    assert_int_equal(ot_auth_start(f->ctx, &o, &a, err, sizeof err), 0);
    assert_null(a);
    uint64_t acc = 1, ref = 1;
    ot_auth_counts(NULL, &acc, &ref);
    assert_int_equal(acc + ref, 0);

    o = (ot_auth_options){ .allow_keys = f->allow };
    assert_int_equal(ot_auth_start(f->ctx, &o, &a, err, sizeof err), EINVAL);
    assert_non_null(strstr(err, "--allow-keys needs --curve-secret"));
    assert_null(a);

    o = (ot_auth_options){ .curve_secret = f->server_key };
    assert_int_equal(ot_auth_start(f->ctx, &o, &a, err, sizeof err), EINVAL);
    assert_non_null(strstr(err, "--curve-secret needs --allow-keys"));

    char missing[160];
    snprintf(missing, sizeof missing, "%s/missing.key", f->dir);
    o = (ot_auth_options){ .curve_secret = missing, .allow_keys = f->allow };
    assert_int_equal(ot_auth_start(f->ctx, &o, &a, err, sizeof err), ENOENT);
    assert_non_null(strstr(err, missing));
    assert_null(a);

    /* The .pub of the server has no secret: refused, naming the file. */
    char pub[160];
    snprintf(pub, sizeof pub, "%s/server.pub", f->dir);
    o = (ot_auth_options){ .curve_secret = pub, .allow_keys = f->allow };
    assert_int_equal(ot_auth_start(f->ctx, &o, &a, err, sizeof err), EINVAL);
    assert_non_null(strstr(err, pub));
    assert_non_null(strstr(err, "secret-key"));

    /* An allow-list directory without keys: a misconfiguration. */
    char empty[160];
    snprintf(empty, sizeof empty, "%s/empty", f->dir);
    assert_int_equal(mkdir(empty, 0700), 0);
    o = (ot_auth_options){ .curve_secret = f->server_key, .allow_keys = empty };
    assert_int_equal(ot_auth_start(f->ctx, &o, &a, err, sizeof err), ENOENT);
    assert_non_null(strstr(err, "no public key files in"));
    assert_non_null(strstr(err, empty));
    o = (ot_auth_options){ .curve_secret = f->server_key, .allow_keys = f->allow,
                           .allow_sub_keys = empty };
    assert_int_equal(ot_auth_start(f->ctx, &o, &a, err, sizeof err), ENOENT);
    assert_null(a);
}

static void
t_endpoint_public(void **state)
{
    (void)state;
    assert_true(ot_auth_endpoint_public("tcp://0.0.0.0:7710"));
    assert_true(ot_auth_endpoint_public("tcp://*:7710"));
    assert_true(ot_auth_endpoint_public("tcp://192.168.1.5:7710"));
    assert_true(ot_auth_endpoint_public("tcp://eth0:7710"));
    assert_false(ot_auth_endpoint_public("tcp://127.0.0.1:7710"));
    assert_false(ot_auth_endpoint_public("tcp://localhost:7710"));
    assert_false(ot_auth_endpoint_public("tcp://[::1]:7710"));
    assert_false(ot_auth_endpoint_public("ipc:///tmp/x"));
    assert_false(ot_auth_endpoint_public("inproc://x"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(t_allowed_key_talks, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_unknown_key_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_domains_separate, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_allow_keys_serve_both_by_default, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_no_handler_fails_closed, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_null_client_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_config_errors, s_setup, s_teardown),
        cmocka_unit_test(t_endpoint_public),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
