/*
 * admin_client: send one AdminRequest to the consumer that holds a data
 * directory and wait for its AdminReply (contract in admin_client.h).
 *
 * Why the writer lock is looked at while waiting: a view fill can take
 * minutes, so "no reply yet" says nothing; a consumer that died has
 * released its lock (the kernel does it), and then waiting longer is
 * pointless. The lock is probed every S_PROBE_MS.
 */
#include "admin_client.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>
#include <zmq.h>

#include "ot_admin.h"
#include "ot_clock.h"
#include "ot_error.h"

#define S_STEP_MS  100   /* poll step: the wait callback's period */
#define S_PROBE_MS 500   /* writer lock probe while waiting */
#define S_REPLY_MAX ((int64_t)16 << 20)   /* a reply of 64 definitions is far smaller */

int
ot_admin_consumer_running(const char *data_dir, bool *yes)
{
    char path[4096];
    *yes = false;
    snprintf(path, sizeof path, "%s/writer.lock", data_dir);
    /* O_RDONLY without O_CREAT: probing must not make a store directory. */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT || errno == ENOTDIR ? 0 : errno;
    int rc = 0;
    if (flock(fd, LOCK_EX | LOCK_NB) == 0)
        flock(fd, LOCK_UN);
    else if (errno == EWOULDBLOCK)
        *yes = true;
    else
        rc = errno;
    close(fd);
    return rc;
}

static void
s_say(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
s_say(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (!err || !errlen)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Where to send: ep (endpoint, server key) from the arguments or the file.
 * Returns 0 or the code of ot_admin_call with err set. */
static int
s_target(const char *data_dir, const char *endpoint, const ot_keypair *me,
         const ot_keypair *server, ot_admin_endpoint *ep, char *err, size_t errlen)
{
    memset(ep, 0, sizeof *ep);
    if (!endpoint) {
        bool running = false;
        int rc = ot_admin_consumer_running(data_dir, &running);
        if (rc != 0) {
            s_say(err, errlen, "cannot tell whether a consumer holds %s: %s", data_dir, strerror(rc));
            return rc;
        }
        if (!running) {
            s_say(err, errlen, "no consumer holds %s", data_dir);
            return ENOENT;
        }
        rc = ot_admin_endpoint_read(data_dir, ep);
        if (rc == ENOENT) {
            s_say(err, errlen, "a process holds %s but left no %s: a consumer started with "
                  "--admin none, or a maintenance command such as `optally rebuild`; restart the "
                  "consumer with an admin socket, or stop it and run again", data_dir,
                  OT_ADMIN_ENDPOINT_FILE);
            return ENOENT;
        }
        if (rc != 0) {
            s_say(err, errlen, "cannot read %s/%s: %s", data_dir, OT_ADMIN_ENDPOINT_FILE,
                  ot_strerror(rc));
            return OT_EUSAGE;
        }
    } else {
        snprintf(ep->endpoint, sizeof ep->endpoint, "%s", endpoint);
    }
    if (server && server->public_key[0])
        snprintf(ep->server_key, sizeof ep->server_key, "%s", server->public_key);
    if (ep->server_key[0] && !(me && me->public_key[0] && me->secret_key[0])) {
        s_say(err, errlen, "the consumer of %s takes admin requests over CURVE only: give your key "
              "pair with --curve-secret NAME.key (its public key in the consumer's --allow-keys)",
              data_dir);
        return OT_EUSAGE;
    }
    return 0;
}

/* A DEALER connected to ep. Returns 0 or OT_ETRANSPORT. */
static int
s_connect(void *ctx, const ot_admin_endpoint *ep, const ot_keypair *me, void **out, char *err,
          size_t errlen)
{
    int linger = 0;
    int64_t maxmsg = S_REPLY_MAX;
    void *sock = zmq_socket(ctx, ZMQ_DEALER);
    int v6 = strncmp(ep->endpoint, "tcp://[", 7) == 0;
    if (!sock || zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        zmq_setsockopt(sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) != 0 ||
        (v6 && zmq_setsockopt(sock, ZMQ_IPV6, &v6, sizeof v6) != 0) ||
        (ep->server_key[0] &&
         (zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, ep->server_key, OT_ADMIN_KEY_LEN) != 0 ||
          zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, me->public_key, OT_KEY_Z85_LEN) != 0 ||
          zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, me->secret_key, OT_KEY_Z85_LEN) != 0)) ||
        zmq_connect(sock, ep->endpoint) != 0) {
        s_say(err, errlen, "cannot connect to the consumer's admin socket %s: %s", ep->endpoint,
              zmq_strerror(errno));
        if (sock)
            zmq_close(sock);
        return OT_ETRANSPORT;
    }
    *out = sock;
    return 0;
}

/* Wait for the reply to request_id on sock. Returns as ot_admin_call. */
static int
s_await(void *sock, const char *data_dir, bool probe, uint64_t request_id, int timeout_ms,
        ot_admin_wait_fn wait, void *wait_ctx, Optally__AdminReply **out, char *err, size_t errlen)
{
    int64_t t0 = ot_clock_mono_ms(), next_probe = t0 + S_PROBE_MS;
    for (;;) {
        zmq_pollitem_t pi = { sock, 0, ZMQ_POLLIN, 0 };
        int n = zmq_poll(&pi, 1, S_STEP_MS);
        if (n < 0 && errno != EINTR) {
            s_say(err, errlen, "waiting for the consumer's reply failed: %s", zmq_strerror(errno));
            return OT_ETRANSPORT;
        }
        if (n > 0) {
            zmq_msg_t m;
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, sock, ZMQ_DONTWAIT) >= 0) {
                Optally__AdminReply *r = optally__admin_reply__unpack(NULL, zmq_msg_size(&m),
                                                                      zmq_msg_data(&m));
                zmq_msg_close(&m);
                if (r && r->request_id == request_id) {
                    *out = r;
                    return 0;
                }
                if (r)   /* the answer to an earlier request of this socket: none */
                    optally__admin_reply__free_unpacked(r, NULL);
            } else {
                zmq_msg_close(&m);
            }
        }
        int64_t now = ot_clock_mono_ms();
        if (timeout_ms > 0 && now - t0 >= timeout_ms) {
            s_say(err, errlen, "the consumer did not answer within %d ms (it may still be working: "
                  "`optally view list` shows whether the change was made)", timeout_ms);
            return OT_ETIMEOUT;
        }
        if (wait && !wait(wait_ctx, now - t0)) {
            s_say(err, errlen, "gave up waiting for the consumer");
            return ECANCELED;
        }
        if (probe && now >= next_probe) {
            bool running = true;
            next_probe = now + S_PROBE_MS;
            if (ot_admin_consumer_running(data_dir, &running) == 0 && !running) {
                s_say(err, errlen, "the consumer of %s stopped before it answered (what was asked "
                      "was done entirely or not at all: `optally view list` tells)", data_dir);
                return ECONNRESET;
            }
        }
    }
}

int
ot_admin_call_wait(const char *data_dir, const char *endpoint, const ot_keypair *me,
                   const ot_keypair *server, const Optally__AdminRequest *req,
                   Optally__AdminReply **out, int timeout_ms, ot_admin_wait_fn wait,
                   void *wait_ctx, char *err, size_t errlen)
{
    *out = NULL;
    s_say(err, errlen, "%s", "");
    ot_admin_endpoint ep;
    int rc = s_target(data_dir, endpoint, me, server, &ep, err, errlen);
    if (rc != 0)
        return rc;
    Optally__AdminRequest r = *req;
    if (r.request_id == 0)
        r.request_id = ((uint64_t)ot_clock_wall_ms() << 20) ^ (uint64_t)getpid() ^
                       (uint64_t)ot_clock_mono_ms();
    if (r.request_id == 0)
        r.request_id = 1;
    size_t len = optally__admin_request__get_packed_size(&r);
    if (len > OT_ADMIN_REQUEST_MAX) {
        s_say(err, errlen, "the request is larger than %d bytes: shorten the view's filters",
              OT_ADMIN_REQUEST_MAX);
        return OT_EUSAGE;
    }
    uint8_t *buf = malloc(len ? len : 1);
    void *ctx = zmq_ctx_new();
    void *sock = NULL;
    if (!buf || !ctx) {
        free(buf);
        if (ctx)
            zmq_ctx_term(ctx);
        s_say(err, errlen, "out of memory");
        return ENOMEM;
    }
    optally__admin_request__pack(&r, buf);
    rc = s_connect(ctx, &ep, me, &sock, err, errlen);
    if (rc == 0 && zmq_send(sock, buf, len, 0) != (int)len) {
        s_say(err, errlen, "cannot send to the consumer's admin socket %s: %s", ep.endpoint,
              zmq_strerror(errno));
        rc = OT_ETRANSPORT;
    }
    free(buf);
    if (rc == 0)
        rc = s_await(sock, data_dir, !endpoint, r.request_id, timeout_ms, wait, wait_ctx, out,
                     err, errlen);
    if (sock)
        zmq_close(sock);
    zmq_ctx_term(ctx);
    return rc;
}

int
ot_admin_call(const char *data_dir, const char *endpoint, const ot_keypair *me,
              const ot_keypair *server, const Optally__AdminRequest *req,
              Optally__AdminReply **out, int timeout_ms, char *err, size_t errlen)
{
    return ot_admin_call_wait(data_dir, endpoint, me, server, req, out, timeout_ms, NULL, NULL,
                              err, errlen);
}
