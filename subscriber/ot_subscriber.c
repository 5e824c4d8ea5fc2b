/*
 * ot_subscriber: the client of live tally subscriptions (contract in
 * ot_subscriber.h).
 *
 * Design. ot_subscriber_next() drives a small state machine, one step at a
 * time, until a step produces an event or the caller's time is up:
 *
 *   S_OPEN     no sockets: open the SUB (subscribed) and the DEALER
 *   S_SUBWAIT  wait, at most S_SUBWAIT_MS, for the first message on the SUB:
 *              it proves the subscription reached the publisher (ZeroMQ sends
 *              subscriptions asynchronously; updates published before that
 *              would be missed and only show as a gap later)
 *   S_ASK      discard what the SUB has queued, send the SnapshotRequest
 *   S_WAIT     wait for the reply (its chunks) until the attempt's deadline
 *   S_ROWS     hand out the rows of the reply, then SNAPSHOT_END
 *   S_LIVE     read the SUB: updates and heartbeats, checked (below)
 *   S_DONE     snapshot_only: the snapshot was delivered
 *
 * Invariants.
 *   1. Everything published before the request was sent is covered by the
 *      snapshot: the consumer publishes an update only after its commit, and
 *      the snapshot's read transaction begins after the request arrives. So
 *      the SUB's queue may be discarded at S_ASK, and afterwards only the
 *      messages in flight at that moment can be "stale" (sequence at or
 *      below the snapshot's).
 *   2. s->last is the tracked sequence (seq, or the tracked view's view_seq,
 *      see the header) of the state the caller holds: the snapshot's, then
 *      that of each update applied. An update is applied only when its
 *      sequence is exactly last + 1.
 *   3. Until a message proves the stream has moved past the snapshot
 *      (s->synced: an update last + 1, or a heartbeat equal to last), an
 *      update at or below last is stale and dropped, and so is the first
 *      heartbeat below last (it was in flight; the publisher sends one a
 *      second, only when idle, so a second one below last means the store
 *      went backwards). A heartbeat equal to last proves it because the
 *      publisher sends a heartbeat only after every update up to its
 *      sequence. Once synced, a sequence below last + 1 means the store
 *      went backwards.
 *   4. A heartbeat above last means updates were sent that never arrived:
 *      the caller's state is behind, so resynchronise.
 *   5. s->fatal, once set, is returned by every later call.
 *
 *   6. Figures (s->figures): S_OPEN opens the SUB only and goes straight to
 *      S_LIVE; nothing is ever asked. s->fig_last is the figure_seq of the
 *      last figure handed out, or the one the first heartbeat named (known
 *      once s->fig_known), and each figure is handed out, with a reason when
 *      its figure_seq is not fig_last + 1; a heartbeat naming a figure_seq
 *      above fig_last tells the figures missed at the end of a stream,
 *      where no later figure would show the gap. A tally subscriber skips every topic that starts with
 *      '~' but the heartbeat's (topic "" receives the figures too).
 *
 * Every RESYNC leads to S_ASK (gap, backwards, missed update, unanswered
 * request: on a fresh DEALER) or S_OPEN (a silent stream: both sockets
 * anew). The caller forgets its rows on RESYNC; the new snapshot is whole.
 */
#include "ot_subscriber.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "ot_clock.h"
#include "ot_error.h"
#include "ot_update.h"
#include "ot_view.h"
#include "optally.pb-c.h"

#define S_DEFAULT_SNAPSHOT_TIMEOUT 2000
#define S_DEFAULT_DEAD_MS          3000
#define S_DEFAULT_RCVHWM           100000
#define S_SUBWAIT_MS               1500       /* > the publisher's 1 s heartbeat */
#define S_MAX_UPDATE               (64 << 10) /* an update is a few hundred bytes */
#define S_BEHIND_HEARTBEATS        2          /* invariant 3: stale ones are rarer */
#define S_DROPS_TOO_BIG            3          /* attempts in a row ending in a dropped connection */

/* The gap checks (invariants 2 and 4). OT_TEST_BROKEN_IGNORE_GAPS makes a
 * deliberately broken build, for tests only: tests/cmake/h5.cmake compiles
 * this file with it into otsubscriber_broken_gaps, which is never
 * installed nor linked into optally. It takes any sequence ahead of the
 * last as the next one and ignores a heartbeat ahead, so a lost update goes
 * unnoticed and the caller shows a wrong count; the gap tests of
 * tests/test_subscriber.c must fail against it (STYLE rule 9). */
#ifdef OT_TEST_BROKEN_IGNORE_GAPS
#define S_CHECK_GAPS 0
#else
#define S_CHECK_GAPS 1
#endif

enum { S_OPEN, S_SUBWAIT, S_ASK, S_WAIT, S_ROWS, S_LIVE, S_DONE };

/* What a step of the state machine did: S_EVENT filled *ev; S_NEXT moved on
 * without an event; anything else is a code for the caller. */
enum { S_NEXT = -1, S_EVENT = -2 };

struct ot_subscriber {
    void *zctx;                     /* own ZeroMQ context */
    void *sub;                      /* SUB on the update stream, NULL when closed */
    void *dealer;                   /* DEALER to the snapshot service, NULL when closed */
    void *dealer_mon;               /* PAIR reading the DEALER's monitor events, or NULL */
    unsigned mon_count;             /* monitors made so far: unique inproc names */
    bool dealer_up;                 /* its connection's handshake succeeded, not yet dropped */
    char *updates;                  /* endpoints, owned copies */
    char *snapshot;
    char *topic;                    /* ZeroMQ subscription; "" = everything */
    char *view;                     /* tracked view name; NULL: track store-wide seq */
    char *prefix;                   /* client-side key filter; NULL = none */
    char *req_view;                 /* what the SnapshotRequest asks ("" = none) */
    char *req_prefix;
    int snapshot_timeout_ms;
    int snapshot_tries;             /* 0 = unlimited */
    int dead_ms;
    int rcvhwm;
    size_t max_message;             /* bytes of one snapshot message (DEALER's ZMQ_MAXMSGSIZE) */
    bool snapshot_only;
    bool curve;                     /* the keys below are set */
    char server_key[41];            /* Z85 */
    char client_public[41];
    char client_secret[41];

    int state;                      /* S_OPEN .. S_DONE */
    int64_t deadline;               /* S_SUBWAIT, S_WAIT: when the wait ends (ms, monotonic) */
    int tries;                      /* attempts of the current snapshot */
    uint64_t last;                  /* invariant 2 */
    bool synced;                    /* invariant 3 */
    int behind_hb;                  /* heartbeats below last while not synced */
    int64_t last_msg;               /* S_LIVE: when the SUB last gave a message */
    Optally__SnapshotReply *reply;  /* S_ROWS: the chunk being handed out */
    size_t row;                     /* its next row */
    uint32_t chunk_next;            /* S_WAIT: the index the next chunk must have */
    uint64_t rows_recv;             /* rows of the chunks of this attempt so far */
    int drops;                      /* attempts in a row that lost an open connection */
    Optally__TallyUpdate *update;   /* the message of the last UPDATE event */
    bool figures;                   /* invariant 6 */
    uint64_t fig_last;              /* invariant 6 */
    bool fig_known;                 /* fig_last is a real baseline */
    Optally__FigureUpdate *fupdate; /* the message of the last FIGURE event */
    ot_subscriber_stats stats;
    int fatal;                      /* invariant 5 */
    char reason[512];               /* of the last RESYNC */
    char err[512];                  /* of the fatal error */
};

static int
s_fail(ot_subscriber *s, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Make err sticky (invariant 5), with its text. Returns err. */
static int
s_fail(ot_subscriber *s, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->err, sizeof s->err, fmt, ap);
    va_end(ap);
    s->fatal = err;
    return err;
}

/* ---- filter ------------------------------------------------------------- */

static const ot_view *
s_view_find_n(const char *name, size_t n)
{
    for (size_t i = 0; i < ot_view_count(); i++) {
        const ot_view *v = ot_view_at(i);
        if (strlen(v->name) == n && memcmp(v->name, name, n) == 0)
            return v;
    }
    return NULL;
}

/* True when name[0..n) can name a view declared at run time:
 * 1..OT_VIEW_NAME_MAX bytes of [A-Za-z0-9_.-] (ot_view.h). Such a view is
 * not known here: the snapshot service says whether the consumer has it. */
static bool
s_declared_name(const char *name, size_t n)
{
    if (n == 0 || n > OT_VIEW_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '.' || ch == '-'))
            return false;
    }
    return true;
}

/* The view whose keys a prefix P selects (see the header), or none (track
 * seq). OUT: *out (a built-in view), or *declared (malloc'd: the name of a
 * view that may be declared, before P's '/'). Returns 0, OT_ENOTFOUND (no
 * view's keys can start with P) or ENOMEM. */
static int
s_prefix_view(const char *p, const ot_view **out, char **declared)
{
    const char *slash = strchr(p, '/');
    *out = NULL;
    *declared = NULL;
    if (slash) {
        size_t n = (size_t)(slash - p);
        if ((*out = s_view_find_n(p, n)) != NULL)
            return 0;
        if (!s_declared_name(p, n))
            return OT_ENOTFOUND;
        *declared = strndup(p, n);
        return *declared ? 0 : ENOMEM;
    }
    /* Without '/', a key starts with P exactly when its view name does:
     * built-in names, or (P without ',') names declared at run time too,
     * which only the consumer knows: then every key is received. */
    size_t n = strlen(p), matches = 0;
    for (size_t i = 0; i < ot_view_count(); i++)
        if (strncmp(ot_view_at(i)->name, p, n) == 0) {
            matches++;
            *out = ot_view_at(i);
        }
    if (matches > 1 || s_declared_name(p, n))
        *out = NULL;
    return matches || s_declared_name(p, n) ? 0 : OT_ENOTFOUND;
}

static char *
s_strdup2(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    char *r = malloc(na + nb + 1);
    if (r) {
        memcpy(r, a, na);
        memcpy(r + na, b, nb + 1);
    }
    return r;
}

/* Set topic, view, prefix and the request from the options.
 * Returns 0, OT_EUSAGE, OT_ENOTFOUND or ENOMEM. */
static int
s_filter_init(ot_subscriber *s, const ot_subscriber_options *opt)
{
    const char *view = opt->view && opt->view[0] ? opt->view : NULL;
    const char *prefix = opt->prefix && opt->prefix[0] ? opt->prefix : NULL;
    const ot_view *v = NULL;
    if ((view && prefix) || (opt->figures && (view || prefix || opt->snapshot_only)))
        return OT_EUSAGE;
    if (opt->figures) {
        s->figures = true;
        s->topic = strdup(OT_UPDATE_FIGURE_TOPIC);
        s->req_view = strdup("");
        s->req_prefix = strdup("");
        return s->topic && s->req_view && s->req_prefix ? 0 : ENOMEM;
    }
    char *declared = NULL;      /* a view not built in: the consumer may know it */
    if (view && !(v = ot_view_find(view))) {
        if (!s_declared_name(view, strlen(view)))
            return OT_ENOTFOUND;
        if (!(declared = strdup(view)))
            return ENOMEM;
    }
    if (prefix) {
        int rc = s_prefix_view(prefix, &v, &declared);
        if (rc)
            return rc;
    }
    /* "country" is a prefix of "country,quarter": subscribe to "country/".
     * A declared view always has a dimension: its keys are "NAME/...". */
    if (declared) {
        s->topic = s_strdup2(declared, "/");
        s->view = declared;
    } else {
        s->topic = v ? s_strdup2(v->name, v->nfields ? "/" : "") : strdup("");
        s->view = v ? strdup(v->name) : NULL;
    }
    if ((v || declared) && !s->view)
        return ENOMEM;
    s->prefix = prefix ? strdup(prefix) : NULL;
    s->req_view = strdup(view ? view : "");
    s->req_prefix = strdup(prefix ? prefix : "");
    if (!s->topic || (prefix && !s->prefix) || !s->req_view || !s->req_prefix)
        return ENOMEM;
    return 0;
}

/* True when a row or update of view/key passes the filter. */
static bool
s_wanted(const ot_subscriber *s, const char *view, const char *key)
{
    if (s->view && strcmp(view, s->view) != 0)
        return false;
    return !s->prefix || strncmp(key, s->prefix, strlen(s->prefix)) == 0;
}

/* ---- sockets ------------------------------------------------------------ */

/* Close a socket without lingering: nothing it holds is worth sending. */
static void
s_socket_close(void **sock)
{
    if (!*sock)
        return;
    int zero = 0;
    zmq_setsockopt(*sock, ZMQ_LINGER, &zero, sizeof zero);
    zmq_close(*sock);
    *sock = NULL;
}

/* A connected socket of type t. OUT: *out. Returns 0, EINVAL (endpoint not
 * understood) or OT_ETRANSPORT. */
static int
s_socket_open(ot_subscriber *s, int t, const char *endpoint, void **out)
{
    void *sock = zmq_socket(s->zctx, t);
    if (!sock)
        return OT_ETRANSPORT;
    int zero = 0, rc = 0;
    if (zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof zero) != 0)
        rc = OT_ETRANSPORT;
    if (!rc && s->curve &&
        (zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, s->server_key, 40) != 0 ||
         zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, s->client_public, 40) != 0 ||
         zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, s->client_secret, 40) != 0))
        rc = OT_ETRANSPORT;
    if (!rc && t == ZMQ_SUB) {
        /* Generous but finite: a subscriber that stalls longer misses
         * updates, sees the gap, and re-snapshots instead of growing. */
        int64_t maxmsg = S_MAX_UPDATE;
        if (zmq_setsockopt(sock, ZMQ_RCVHWM, &s->rcvhwm, sizeof s->rcvhwm) != 0 ||
            zmq_setsockopt(sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) != 0 ||
            zmq_setsockopt(sock, ZMQ_SUBSCRIBE, s->topic, strlen(s->topic)) != 0)
            rc = OT_ETRANSPORT;
        /* After the topic: a heartbeat received proves the topic is in
         * effect too (subscriptions travel in order). */
        if (!rc && s->topic[0] &&
            zmq_setsockopt(sock, ZMQ_SUBSCRIBE, OT_UPDATE_HEARTBEAT_TOPIC,
                           strlen(OT_UPDATE_HEARTBEAT_TOPIC)) != 0)
            rc = OT_ETRANSPORT;
    } else if (!rc) {
        int64_t maxmsg = (int64_t)s->max_message;
        if (zmq_setsockopt(sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) != 0)
            rc = OT_ETRANSPORT;
    }
    /* An IPv6 literal (tcp://[::1]:P) needs ZMQ_IPV6; names stay on IPv4,
     * where the consumer binds `localhost` (as in the producer). */
    int v6 = strncmp(endpoint, "tcp://[", 7) == 0;
    if (!rc && v6 && zmq_setsockopt(sock, ZMQ_IPV6, &v6, sizeof v6) != 0)
        rc = OT_ETRANSPORT;
    if (!rc && zmq_connect(sock, endpoint) != 0)
        rc = (errno == EINVAL || errno == EPROTONOSUPPORT || errno == ENOCOMPATPROTO)
            ? EINVAL : OT_ETRANSPORT;
    if (rc) {
        s_socket_close(&sock);
        return rc;
    }
    *out = sock;
    return 0;
}

static int s_recv_msg(void *sock, zmq_msg_t f[2], size_t *nframes);
static void s_msg_close(zmq_msg_t f[2]);

/* Close the DEALER and its monitor. */
static void
s_dealer_close(ot_subscriber *s)
{
    s_socket_close(&s->dealer_mon);
    s_socket_close(&s->dealer);
}

/* A fresh DEALER to the snapshot service, with a monitor of the events
 * that tell an oversized reply (see s_dealer_dropped). A monitor that
 * cannot be made only loses that diagnosis. Returns as s_socket_open. */
static int
s_dealer_open(ot_subscriber *s)
{
    s_dealer_close(s);
    s->dealer_up = false;
    int rc = s_socket_open(s, ZMQ_DEALER, s->snapshot, &s->dealer);
    if (rc)
        return rc;
    char ep[96];
    snprintf(ep, sizeof ep, "inproc://ot-subscriber-%p-%u", (void *)s, s->mon_count++);
    if (zmq_socket_monitor(s->dealer, ep, ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED) != 0)
        return 0;
    void *mon = zmq_socket(s->zctx, ZMQ_PAIR);
    int zero = 0;
    /* ZMQ_RCVHWM 0: libzmq sends monitor events blocking, so a full queue
     * would stall its I/O thread (the queue is read at every attempt and
     * while live, so it stays short). */
    if (mon && (zmq_setsockopt(mon, ZMQ_LINGER, &zero, sizeof zero) != 0 ||
                zmq_setsockopt(mon, ZMQ_RCVHWM, &zero, sizeof zero) != 0 ||
                zmq_connect(mon, ep) != 0))
        s_socket_close(&mon);
    s->dealer_mon = mon;
    return 0;
}

/* True when the DEALER lost a connection whose handshake had succeeded
 * since the last call: what ZeroMQ does on a message over ZMQ_MAXMSGSIZE
 * (and what a consumer that stops does). Reads the monitor's queue. */
static bool
s_dealer_dropped(ot_subscriber *s)
{
    bool dropped = false;
    while (s->dealer_mon) {
        zmq_msg_t f[2];
        size_t n;
        if (s_recv_msg(s->dealer_mon, f, &n) != 0) {
            s_msg_close(f);
            break;
        }
        uint16_t event = 0;
        if (zmq_msg_size(&f[0]) >= 2)
            memcpy(&event, zmq_msg_data(&f[0]), 2);
        s_msg_close(f);
        if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
            s->dealer_up = true;
        } else if (event == ZMQ_EVENT_DISCONNECTED) {
            dropped = dropped || s->dealer_up;
            s->dealer_up = false;
        }
    }
    return dropped;
}

/* S_OPEN: both sockets anew (the SUB unless snapshot_only). */
static int
s_step_open(ot_subscriber *s)
{
    s_socket_close(&s->sub);
    s_dealer_close(s);
    int rc = 0;
    if (!s->snapshot_only)
        rc = s_socket_open(s, ZMQ_SUB, s->updates, &s->sub);
    if (!rc && !s->figures)
        rc = s_dealer_open(s);
    if (rc)
        return s_fail(s, rc, "cannot connect to %s / %s: %s", s->updates, s->snapshot,
                      rc == EINVAL ? "endpoint not understood" : ot_strerror(rc));
    if (s->figures) {
        /* No snapshot of figures (invariant 6): the stream is all there is. */
        s->state = S_LIVE;
        s->fig_last = 0;
        s->fig_known = false;
        s->last_msg = ot_clock_mono_ms();
        return S_NEXT;
    }
    s->state = s->snapshot_only ? S_ASK : S_SUBWAIT;
    s->deadline = ot_clock_mono_ms() + S_SUBWAIT_MS;
    return S_NEXT;
}

/* Wait for input on sock until `until` (ms, monotonic; INT64_MAX: no limit).
 * Returns 1 (readable), 0 (time is up), EINTR or OT_ETRANSPORT. */
static int
s_poll(void *sock, int64_t until)
{
    zmq_pollitem_t it = { .socket = sock, .events = ZMQ_POLLIN };
    long wait = -1;
    if (until != INT64_MAX) {
        int64_t left = until - ot_clock_mono_ms();
        wait = left > 0 ? (long)left : 0;
    }
    int n = zmq_poll(&it, 1, wait);
    if (n < 0)
        return errno == EINTR ? EINTR : OT_ETRANSPORT;
    return n > 0 && (it.revents & ZMQ_POLLIN) ? 1 : 0;
}

/* Receive one whole message without waiting. The first two frames land in
 * f[0] and f[1] (both initialised here; the caller closes both), the rest is
 * counted and discarded. OUT: *nframes.
 * Returns 0, EAGAIN (nothing queued), EINTR or OT_ETRANSPORT. */
static int
s_recv_msg(void *sock, zmq_msg_t f[2], size_t *nframes)
{
    zmq_msg_init(&f[0]);
    zmq_msg_init(&f[1]);
    *nframes = 0;
    if (zmq_msg_recv(&f[0], sock, ZMQ_DONTWAIT) < 0)
        return errno == EAGAIN ? EAGAIN : errno == EINTR ? EINTR : OT_ETRANSPORT;
    *nframes = 1;
    /* The other frames of a message arrive with the first: no waiting. */
    bool more = zmq_msg_more(&f[0]);
    while (more) {
        zmq_msg_t extra;
        zmq_msg_t *dst = &f[1];
        if (*nframes >= 2) {
            zmq_msg_init(&extra);
            dst = &extra;
        }
        int rc = zmq_msg_recv(dst, sock, 0);
        more = rc >= 0 && zmq_msg_more(dst);
        if (dst == &extra)
            zmq_msg_close(&extra);
        if (rc < 0)
            return errno == EINTR ? EINTR : OT_ETRANSPORT;
        (*nframes)++;
    }
    return 0;
}

static void
s_msg_close(zmq_msg_t f[2])
{
    zmq_msg_close(&f[0]);
    zmq_msg_close(&f[1]);
}

/* Discard what the SUB has queued (invariant 1). Bounded, so a publisher
 * faster than this loop cannot keep it here. */
static void
s_sub_drain(ot_subscriber *s)
{
    for (long i = 0; s->sub && i < (long)s->rcvhwm + 10000; i++) {
        zmq_msg_t f[2];
        size_t n;
        int rc = s_recv_msg(s->sub, f, &n);
        s_msg_close(f);
        if (rc)
            break;
    }
}

/* ---- snapshot ------------------------------------------------------------- */

/* S_ASK: discard the queue, send the request, start the attempt. */
static int
s_step_ask(ot_subscriber *s)
{
    Optally__SnapshotRequest req = OPTALLY__SNAPSHOT_REQUEST__INIT;
    req.view = s->req_view;
    req.prefix = s->req_prefix;
    /* Chunks no bigger than what this DEALER accepts. */
    req.max_message_bytes = s->max_message < UINT32_MAX ? (uint32_t)s->max_message : UINT32_MAX;
    size_t len = optally__snapshot_request__get_packed_size(&req);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return s_fail(s, ENOMEM, "out of memory");
    optally__snapshot_request__pack(&req, buf);
    s_sub_drain(s);
    (void)s_dealer_dropped(s);  /* only drops during this attempt count */
    int rc = zmq_send(s->dealer, buf, len, ZMQ_DONTWAIT);
    free(buf);
    /* EAGAIN: not even queued (no connection yet): the attempt times out and
     * is retried like a lost request. */
    if (rc < 0 && errno != EAGAIN && errno != EINTR)
        return s_fail(s, OT_ETRANSPORT, "cannot send a snapshot request: %s", zmq_strerror(errno));
    s->tries++;
    s->chunk_next = 0;
    s->rows_recv = 0;
    s->state = S_WAIT;
    s->deadline = ot_clock_mono_ms() + s->snapshot_timeout_ms;
    return S_NEXT;
}

/* Fill ev with a RESYNC whose reason is formatted from fmt. */
static int
s_resync(ot_subscriber *s, ot_sub_event *ev, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int
s_resync(ot_subscriber *s, ot_sub_event *ev, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->reason, sizeof s->reason, fmt, ap);
    va_end(ap);
    ev->kind = OT_SUB_RESYNC;
    ev->reason = s->reason;
    s->stats.resyncs++;
    return S_EVENT;
}

/* An attempt failed (why: "did not answer within 2000 ms"): give up after
 * snapshot_tries, else ask again on a fresh DEALER, telling the caller. */
static int
s_attempt_failed(ot_subscriber *s, ot_sub_event *ev, const char *why)
{
    optally__snapshot_reply__free_unpacked(s->reply, NULL);
    s->reply = NULL;
    /* An older consumer sends a snapshot as one message; one over
     * max_message makes ZeroMQ drop the connection, every time: say so
     * rather than ask forever. */
    s->drops = s_dealer_dropped(s) ? s->drops + 1 : 0;
    if (s->drops >= S_DROPS_TOO_BIG)
        return s_fail(s, EMSGSIZE, "snapshot service %s dropped the connection while its reply "
                      "was due, %d times in a row: a reply message over this subscriber's limit "
                      "of %zu bytes (an older consumer sends a snapshot as one message: raise the "
                      "limit, or upgrade the consumer, which sends chunks), or a consumer that "
                      "keeps stopping", s->snapshot, s->drops, s->max_message);
    if (s->snapshot_tries && s->tries >= s->snapshot_tries)
        return s_fail(s, OT_ETIMEOUT, "snapshot service %s %s (%d attempt%s)", s->snapshot, why,
                      s->tries, s->tries == 1 ? "" : "s");
    /* A fresh socket: a late answer to the old request cannot be mistaken
     * for the answer to the new one. */
    int rc = s_dealer_open(s);
    if (rc)
        return s_fail(s, rc, "cannot reconnect to %s", s->snapshot);
    s->state = S_ASK;
    return s_resync(s, ev, "snapshot service %s %s; asking again (attempt %d)", s->snapshot, why,
                    s->tries + 1);
}

/* S_WAIT: the reply, or the end of the attempt. */
static int
s_step_wait(ot_subscriber *s, int64_t until, ot_sub_event *ev)
{
    int rc = s_poll(s->dealer, s->deadline < until ? s->deadline : until);
    if (rc == 0) {
        if (ot_clock_mono_ms() < s->deadline)
            return EAGAIN;
        char why[128];
        /* Under CURVE a refused key looks exactly like a dead consumer. */
        snprintf(why, sizeof why, "did not answer within %d ms%s", s->snapshot_timeout_ms,
                 s->curve ? " (CURVE: is this key allowed to subscribe?)" : "");
        return s_attempt_failed(s, ev, why);
    }
    if (rc != 1)
        return rc == EINTR ? EINTR : s_fail(s, rc, "snapshot socket: %s", zmq_strerror(errno));
    zmq_msg_t f[2];
    size_t n;
    rc = s_recv_msg(s->dealer, f, &n);
    if (rc) {
        s_msg_close(f);
        return rc == EAGAIN ? S_NEXT : rc == EINTR ? EINTR
            : s_fail(s, rc, "snapshot socket: %s", zmq_strerror(errno));
    }
    /* DEALER: [reply]; a server answering REQ-style: ["", reply]. */
    zmq_msg_t *payload = n >= 2 ? &f[1] : &f[0];
    Optally__SnapshotReply *r = optally__snapshot_reply__unpack(NULL, zmq_msg_size(payload),
                                                                zmq_msg_data(payload));
    s_msg_close(f);
    if (!r)
        return s_attempt_failed(s, ev, "sent a reply that does not decode");
    if (r->error && r->error[0]) {
        /* retry marks a passing refusal (a store read error); otherwise
         * the request itself is wrong, unless the same request was served
         * before (a consumer older than the retry flag). */
        char why[300];
        snprintf(why, sizeof why, "refused the request: %s", r->error);
        bool passing = r->retry || s->stats.snapshots > 0;
        optally__snapshot_reply__free_unpacked(r, NULL);
        if (passing)
            return s_attempt_failed(s, ev, why);
        return s_fail(s, OT_ENOTFOUND, "snapshot service %s", why);
    }
    if (r->chunk != s->chunk_next) {
        /* The service never skips a chunk (it ends the reply instead), so
         * this one comes from elsewhere: not a whole reply. */
        char why[128];
        snprintf(why, sizeof why, "sent chunk %" PRIu32 " where %" PRIu32 " was due", r->chunk,
                 s->chunk_next);
        optally__snapshot_reply__free_unpacked(r, NULL);
        return s_attempt_failed(s, ev, why);
    }
    s->chunk_next++;
    s->rows_recv += r->n_tallies;
    if (r->last && (r->rows || r->chunk) && r->rows != s->rows_recv) {
        /* rows = 0 in one message: an older consumer, which does not count. */
        char why[128];
        snprintf(why, sizeof why, "sent %" PRIu64 " rows of a reply of %" PRIu64, s->rows_recv,
                 r->rows);
        optally__snapshot_reply__free_unpacked(r, NULL);
        return s_attempt_failed(s, ev, why);
    }
    s->reply = r;
    s->row = 0;
    s->state = S_ROWS;
    return S_NEXT;
}

/* The sequence the snapshot or heartbeat views/seq give for what we track.
 * OUT: *out. Returns false when the tracked view is not listed. */
static bool
s_tracked_of(const ot_subscriber *s, uint64_t seq, Optally__ViewSeq **views, size_t n,
             uint64_t *out)
{
    if (!s->view) {
        *out = seq;
        return true;
    }
    for (size_t i = 0; i < n; i++)
        if (views[i]->view && strcmp(views[i]->view, s->view) == 0) {
            *out = views[i]->view_seq;
            return true;
        }
    return false;
}

/* Fill ev's row fields from u. Returns false for a malformed message. */
static bool
s_fill_row(ot_sub_event *ev, const Optally__TallyUpdate *u)
{
    if (!u->view || !u->key || !u->key[0] || u->n_fields != u->n_values)
        return false;
    ev->view = u->view;
    ev->key = u->key;
    ev->nfields = u->n_fields;
    ev->fields = (const char *const *)u->fields;
    ev->values = (const char *const *)u->values;
    ot_update_counts_from_pb(u->counts, &ev->counts);
    ot_update_counts_from_pb(u->delta, &ev->delta);
    ev->seq = u->seq;
    ev->view_seq = u->view_seq;
    ev->committed_at = u->committed_at;
    return true;
}

/* S_ROWS: the next wanted row, or the end of the snapshot. */
static int
s_step_rows(ot_subscriber *s, ot_sub_event *ev)
{
    Optally__SnapshotReply *r = s->reply;
    while (s->row < r->n_tallies) {
        const Optally__TallyUpdate *u = r->tallies[s->row++];
        if (u->view && u->key && s_wanted(s, u->view, u->key) && s_fill_row(ev, u)) {
            ev->kind = OT_SUB_ROW;
            ev->seq = r->seq;
            ev->view_seq = 0;
            s->stats.rows++;
            return S_EVENT;
        }
    }
    if (!r->last) {
        /* A chunked reply: the rest comes on the same attempt. */
        optally__snapshot_reply__free_unpacked(r, NULL);
        s->reply = NULL;
        s->state = S_WAIT;
        s->deadline = ot_clock_mono_ms() + s->snapshot_timeout_ms;
        return S_NEXT;
    }
    uint64_t t = 0;
    s_tracked_of(s, r->seq, r->views, r->n_views, &t);
    ev->kind = OT_SUB_SNAPSHOT_END;
    ev->seq = r->seq;
    ev->view_seq = s->view ? t : 0;
    s->last = t;
    s->synced = false;
    s->behind_hb = 0;
    s->tries = 0;
    s->drops = 0;
    s->stats.snapshots++;
    optally__snapshot_reply__free_unpacked(r, NULL);
    s->reply = NULL;
    s->state = s->snapshot_only ? S_DONE : S_LIVE;
    s->last_msg = ot_clock_mono_ms();
    return S_EVENT;
}

/* ---- live ---------------------------------------------------------------- */

static const char *
s_seq_name(const ot_subscriber *s)
{
    return s->view ? "view_seq" : "seq";
}

/* A heartbeat: liveness, and invariants 3 and 4. */
static int
s_on_heartbeat(ot_subscriber *s, zmq_msg_t *payload, ot_sub_event *ev)
{
    Optally__Heartbeat *hb = optally__heartbeat__unpack(NULL, zmq_msg_size(payload),
                                                        zmq_msg_data(payload));
    if (!hb)
        return S_NEXT;  /* carries no tally: liveness is all it could give */
    uint64_t t;
    int rc = S_NEXT;
    if (!s_tracked_of(s, hb->seq, hb->views, hb->n_views, &t)) {
        rc = S_NEXT;    /* says nothing about our view */
    } else if (S_CHECK_GAPS && t > s->last) {
        s->state = S_ASK;
        rc = s_resync(s, ev, "missed update(s): heartbeat says %s %" PRIu64 ", last applied %" PRIu64
                      "; re-snapshotting", s_seq_name(s), t, s->last);
    } else if (t < s->last && (s->synced || ++s->behind_hb >= S_BEHIND_HEARTBEATS)) {
        s->state = S_ASK;
        rc = s_resync(s, ev, "sequence went backwards (heartbeat says %s %" PRIu64 ", had %" PRIu64
                      "): store replaced?; re-snapshotting", s_seq_name(s), t, s->last);
    } else if (t == s->last) {
        s->synced = true;
        ev->kind = OT_SUB_HEARTBEAT;
        ev->seq = hb->seq;
        ev->view_seq = s->view ? t : 0;
        ev->committed_at = hb->sent_at;
        rc = S_EVENT;
    }
    optally__heartbeat__free_unpacked(hb, NULL);
    return rc;
}

/* A heartbeat on a figures stream: liveness, and the figure_seq the
 * consumer has published up to (invariant 6). The first one sets the
 * baseline; a later one above fig_last is a gap (figures lost at the end
 * of a stream), told with the count missed. 0 (an older consumer, or none
 * yet) says nothing. */
static int
s_on_figure_heartbeat(ot_subscriber *s, zmq_msg_t *payload, ot_sub_event *ev)
{
    Optally__Heartbeat *hb = optally__heartbeat__unpack(NULL, zmq_msg_size(payload),
                                                        zmq_msg_data(payload));
    if (!hb)
        return S_NEXT;
    ev->kind = OT_SUB_HEARTBEAT;
    ev->seq = hb->seq;
    ev->committed_at = hb->sent_at;
    uint64_t t = hb->figure_seq;
    if (!s->fig_known) {
        s->fig_last = t;
        s->fig_known = true;
    } else if (S_CHECK_GAPS && t > s->fig_last) {
        ev->missed = t - s->fig_last;
        ev->figure_seq = t;
        snprintf(s->reason, sizeof s->reason, "figure_seq gap: the consumer published up to %"
                 PRIu64 ", the last seen was %" PRIu64 " (%" PRIu64 " figure update%s missed; "
                 "`optally figures` lists them)", t, s->fig_last, ev->missed,
                 ev->missed == 1 ? "" : "s");
        ev->reason = s->reason;
        s->fig_last = t;
        s->stats.figure_gaps++;
    }
    optally__heartbeat__free_unpacked(hb, NULL);
    return S_EVENT;
}

/* A FigureUpdate: hand it out, with a reason when figure_seq is not the
 * next one (invariant 6). A message that does not decode is skipped: there
 * is nothing to re-snapshot, and the next figure shows the gap. */
static int
s_on_figure(ot_subscriber *s, zmq_msg_t *payload, ot_sub_event *ev)
{
    Optally__FigureUpdate *u = optally__figure_update__unpack(NULL, zmq_msg_size(payload),
                                                              zmq_msg_data(payload));
    if (!u || !u->figure) {
        optally__figure_update__free_unpacked(u, NULL);
        return S_NEXT;
    }
    uint64_t t = u->figure_seq;
    ev->kind = OT_SUB_FIGURE;
    ev->figure = u->figure;
    ev->log_seq = u->log_seq;
    ev->figure_seq = t;
    ev->committed_at = u->committed_at;
    if (S_CHECK_GAPS && s->fig_known && t > s->fig_last + 1) {
        ev->missed = t - s->fig_last - 1;
        snprintf(s->reason, sizeof s->reason, "figure_seq gap: expected %" PRIu64 ", got %"
                 PRIu64 " (%" PRIu64 " figure update%s missed; `optally figures` lists them)",
                 s->fig_last + 1, t, ev->missed, ev->missed == 1 ? "" : "s");
        ev->reason = s->reason;
    } else if (s->fig_known && s->fig_last && t <= s->fig_last) {
        snprintf(s->reason, sizeof s->reason, "figure_seq went backwards (had %" PRIu64
                 ", got %" PRIu64 "): store replaced?", s->fig_last, t);
        ev->reason = s->reason;
    }
    s->fig_last = t;
    s->fig_known = true;
    s->stats.figures++;
    if (ev->reason)
        s->stats.figure_gaps++;
    s->fupdate = u;     /* ev points into it until the next call */
    return S_EVENT;
}

/* An update: apply it when it is the next one (invariants 2, 3). */
static int
s_on_update(ot_subscriber *s, zmq_msg_t *payload, ot_sub_event *ev)
{
    Optally__TallyUpdate *u = optally__tally_update__unpack(NULL, zmq_msg_size(payload),
                                                            zmq_msg_data(payload));
    if (!u || !s_fill_row(ev, u)) {
        optally__tally_update__free_unpacked(u, NULL);
        s->state = S_ASK;
        return s_resync(s, ev, "an update does not decode; re-snapshotting");
    }
    if (s->view && strcmp(u->view, s->view) != 0) {
        optally__tally_update__free_unpacked(u, NULL);   /* not ours: cannot happen */
        return S_NEXT;
    }
    uint64_t t = s->view ? u->view_seq : u->seq;
    int rc;
    if (t == s->last + 1 || (!S_CHECK_GAPS && t > s->last)) {
        s->last = t;
        s->synced = true;
        s->stats.updates++;
        if (s_wanted(s, u->view, u->key)) {
            ev->kind = OT_SUB_UPDATE;
            s->update = u;      /* ev points into it until the next call */
            return S_EVENT;
        }
        rc = S_NEXT;
    } else if (t <= s->last && !s->synced) {
        s->stats.stale++;       /* already in the snapshot */
        rc = S_NEXT;
    } else if (t <= s->last) {
        s->state = S_ASK;
        rc = s_resync(s, ev, "sequence went backwards (expected %s %" PRIu64 ", got %" PRIu64
                      "): store replaced?; re-snapshotting", s_seq_name(s), s->last + 1, t);
    } else {
        s->state = S_ASK;
        rc = s_resync(s, ev, "gap detected (expected %s %" PRIu64 ", got %" PRIu64 "); re-snapshotting",
                      s_seq_name(s), s->last + 1, t);
    }
    optally__tally_update__free_unpacked(u, NULL);
    return rc;
}

/* S_LIVE: one message from the SUB, or silence. */
static int
s_step_live(ot_subscriber *s, int64_t until, ot_sub_event *ev)
{
    int64_t dead_at = s->last_msg + s->dead_ms;
    (void)s_dealer_dropped(s);  /* keep the monitor's queue short */
    int rc = s_poll(s->sub, dead_at < until ? dead_at : until);
    if (rc == 0) {
        if (ot_clock_mono_ms() < dead_at)
            return EAGAIN;
        s->state = S_OPEN;
        /* (A consumer at its limit of subscribers closes the connection
         * too; it is then reopened the same way.) */
        if (s->figures)
            return s_resync(s, ev, "no figure or heartbeat from %s for %d ms (consumer down?); "
                            "reconnecting (figures published meanwhile are not seen)",
                            s->updates, s->dead_ms);
        return s_resync(s, ev, "no update or heartbeat from %s for %d ms (consumer down?); "
                        "reconnecting and re-snapshotting", s->updates, s->dead_ms);
    }
    if (rc != 1)
        return rc == EINTR ? EINTR : s_fail(s, rc, "update socket: %s", zmq_strerror(errno));
    zmq_msg_t f[2];
    size_t n;
    rc = s_recv_msg(s->sub, f, &n);
    if (rc) {
        s_msg_close(f);
        return rc == EAGAIN ? S_NEXT : rc == EINTR ? EINTR
            : s_fail(s, rc, "update socket: %s", zmq_strerror(errno));
    }
    s->last_msg = ot_clock_mono_ms();
    size_t hl = strlen(OT_UPDATE_HEARTBEAT_TOPIC), fl = strlen(OT_UPDATE_FIGURE_TOPIC);
    const char *topic = zmq_msg_data(&f[0]);
    size_t tl = zmq_msg_size(&f[0]);
    bool heartbeat = tl == hl && memcmp(topic, OT_UPDATE_HEARTBEAT_TOPIC, hl) == 0;
    if (n != 2 && s->figures) {
        rc = S_NEXT;    /* not ours to judge: no tally state depends on it */
    } else if (n != 2) {
        s->state = S_ASK;
        rc = s_resync(s, ev, "a message of %zu frames on the update socket (want 2); re-snapshotting", n);
    } else if (s->figures) {
        if (heartbeat)
            rc = s_on_figure_heartbeat(s, &f[1], ev);
        else if (tl >= fl && memcmp(topic, OT_UPDATE_FIGURE_TOPIC, fl) == 0)
            rc = s_on_figure(s, &f[1], ev);
        else
            rc = S_NEXT;
    } else if (heartbeat) {
        rc = s_on_heartbeat(s, &f[1], ev);
    } else if (tl > 0 && topic[0] == '~') {
        rc = S_NEXT;    /* figures, or a stream of a newer consumer: no tally key starts with '~' */
    } else {
        rc = s_on_update(s, &f[1], ev);
    }
    s_msg_close(f);
    return rc;
}

/* ---- API ------------------------------------------------------------------- */

int
ot_subscriber_open(const ot_subscriber_options *opt, ot_subscriber **out)
{
    assert(opt && out);
    *out = NULL;
    if ((opt->updates && !opt->updates[0]) || (opt->snapshot && !opt->snapshot[0]) ||
        opt->snapshot_timeout_ms < 0 || opt->snapshot_tries < 0 || opt->dead_ms < 0 ||
        opt->rcvhwm < 0 || (opt->max_message_bytes &&
                            opt->max_message_bytes < OT_SUBSCRIBER_MIN_MAX_MESSAGE) ||
        opt->max_message_bytes > (size_t)INT64_MAX)
        return OT_EUSAGE;
    bool curve = opt->server_key || opt->client_public || opt->client_secret;
    if (curve && (!opt->server_key || !opt->client_public || !opt->client_secret ||
                  strlen(opt->server_key) != 40 || strlen(opt->client_public) != 40 ||
                  strlen(opt->client_secret) != 40))
        return OT_EUSAGE;
    ot_subscriber *s = calloc(1, sizeof *s);
    if (!s)
        return ENOMEM;
    if (curve) {
        s->curve = true;
        memcpy(s->server_key, opt->server_key, 41);
        memcpy(s->client_public, opt->client_public, 41);
        memcpy(s->client_secret, opt->client_secret, 41);
    }
    s->snapshot_timeout_ms = opt->snapshot_timeout_ms ? opt->snapshot_timeout_ms
                                                      : S_DEFAULT_SNAPSHOT_TIMEOUT;
    s->snapshot_tries = opt->snapshot_tries;
    s->dead_ms = opt->dead_ms ? opt->dead_ms : S_DEFAULT_DEAD_MS;
    s->rcvhwm = opt->rcvhwm ? opt->rcvhwm : S_DEFAULT_RCVHWM;
    s->max_message = opt->max_message_bytes ? opt->max_message_bytes
                                            : OT_SUBSCRIBER_DEFAULT_MAX_MESSAGE;
    s->snapshot_only = opt->snapshot_only;
    s->updates = strdup(opt->updates ? opt->updates : OT_SUBSCRIBER_DEFAULT_UPDATES);
    s->snapshot = strdup(opt->snapshot ? opt->snapshot : OT_SUBSCRIBER_DEFAULT_SNAPSHOT);
    int rc = s->updates && s->snapshot ? s_filter_init(s, opt) : ENOMEM;
    if (!rc && !(s->zctx = zmq_ctx_new()))
        rc = OT_ETRANSPORT;
    if (!rc) {
        s->state = S_OPEN;
        rc = s_step_open(s);
        rc = rc == S_NEXT ? 0 : rc;
    }
    if (rc) {
        ot_subscriber_close(&s);
        return rc;
    }
    *out = s;
    return 0;
}

int
ot_subscriber_next(ot_subscriber *s, int timeout_ms, ot_sub_event *ev)
{
    assert(s && ev);
    memset(ev, 0, sizeof *ev);
    /* The previous UPDATE's or FIGURE's message: its borrow ends now. */
    optally__tally_update__free_unpacked(s->update, NULL);
    s->update = NULL;
    optally__figure_update__free_unpacked(s->fupdate, NULL);
    s->fupdate = NULL;
    if (s->fatal)
        return s->fatal;
    int64_t until = timeout_ms < 0 ? INT64_MAX : ot_clock_mono_ms() + timeout_ms;
    for (;;) {
        int rc;
        switch (s->state) {
        case S_OPEN:
            rc = s_step_open(s);
            break;
        case S_SUBWAIT:
            rc = s_poll(s->sub, s->deadline < until ? s->deadline : until);
            if (rc == 1 || (rc == 0 && ot_clock_mono_ms() >= s->deadline)) {
                s->state = S_ASK;
                rc = S_NEXT;
            } else if (rc == 0) {
                rc = EAGAIN;
            } else if (rc != EINTR) {
                rc = s_fail(s, rc, "update socket: %s", zmq_strerror(errno));
            }
            break;
        case S_ASK:
            rc = s_step_ask(s);
            break;
        case S_WAIT:
            rc = s_step_wait(s, until, ev);
            break;
        case S_ROWS:
            rc = s_step_rows(s, ev);
            break;
        case S_LIVE:
            rc = s_step_live(s, until, ev);
            break;
        default:
            return ENODATA;
        }
        if (rc == S_EVENT)
            return 0;
        if (rc != S_NEXT)
            return rc;
        /* A step that moved on may still owe the caller a return when the
         * time is up and nothing is at hand; the steps check `until`. */
    }
}

const char *
ot_subscriber_error(const ot_subscriber *s)
{
    assert(s);
    return s->err;
}

void
ot_subscriber_stats_get(const ot_subscriber *s, ot_subscriber_stats *out)
{
    assert(s && out);
    *out = s->stats;
}

void
ot_subscriber_close(ot_subscriber **ps)
{
    if (!ps || !*ps)
        return;
    ot_subscriber *s = *ps;
    s_socket_close(&s->sub);
    s_dealer_close(s);
    if (s->zctx)
        while (zmq_ctx_term(s->zctx) != 0 && errno == EINTR)
            ;
    optally__snapshot_reply__free_unpacked(s->reply, NULL);
    optally__tally_update__free_unpacked(s->update, NULL);
    optally__figure_update__free_unpacked(s->fupdate, NULL);
    free(s->updates);
    free(s->snapshot);
    free(s->topic);
    free(s->view);
    free(s->prefix);
    free(s->req_view);
    free(s->req_prefix);
    /* The secret key does not outlive its use in freed memory. */
    explicit_bzero(s->client_secret, sizeof s->client_secret);
    free(s);
    *ps = NULL;
}
