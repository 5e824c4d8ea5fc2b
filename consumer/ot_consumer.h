/*
 * ot_consumer: the ingest daemon. Joins the ZeroMQ ingest socket to the
 * store.
 *
 * Two threads, so both cores work:
 *  - the receiver (the caller of ot_consumer_run) owns the ROUTER socket:
 *    it receives a message, decodes it within a memory budget, validates
 *    every event and every figure (EventBatch.figures: ot_figure_validate),
 *    and hands the work to the writer over an inproc pair;
 *    it sends each reply when the writer hands the work back.
 *  - the writer owns the store: it takes every work item that has arrived
 *    (adaptive group commit, bounded by `batch` events and `flush_ms`),
 *    folds them in ONE LMDB write transaction, commits, and only then
 *    returns them for replying. A producer that got STORED may forget.
 *
 * Admin requests (consumer/ot_admin.h: declare, drop, list views) arrive
 * on a third ROUTER, the admin socket, read by the receiver like ingest
 * and run by the writer between two commits (so ingest waits while a view
 * is filled); its endpoint is written to DATA/admin.endpoint after the
 * bind and removed by ot_consumer_close.
 *
 * After each commit the writer publishes (ZMQ_PUB, see ot_publish.c; the
 * server side of subscriptions is live) one TallyUpdate per changed tally
 * key on a PUB socket (ot_publish.h), and one FigureUpdate per figure it
 * stored or superseded (topic "~figure/<metric>", figure_seq rising by
 * one); the reply answers events in IngestReply.results and figures in
 * IngestReply.figure_results, each in request order; a third thread serves consistent
 * snapshots (ot_snapshot.h): together, live subscriptions.
 *
 * Bounds on what a peer can make the daemon hold: ZMQ_MAXMSGSIZE per
 * message, OT_BATCH_MAX_EVENTS events and figures per batch, a decode budget per message, and
 * a cap on work in flight between the threads (beyond it the receiver stops
 * reading, and ZeroMQ's high-water marks push back on producers). On disk:
 * the store's reject budget (OT_STORE_REJECT_*, ot_store.h) bounds the
 * reject rows kept per message, per peer (its CURVE key when the ZAP
 * handler gives it as the user id, else its routing identity) and in all,
 * per minute; every rejected event is still answered with its reason.
 *
 * Liveness: every wait (the flush deadline, the memory check, the rate of
 * the commit-failure line) is measured on CLOCK_MONOTONIC, so a step of the
 * wall clock never holds a batch; the wall clock only stamps received_at
 * and TallyUpdate.at. A writer that ends on its own (a store error that
 * leaves the environment unusable, OT_EFATAL; a failed socket) tells the
 * receiver, which answers everything still in flight STORAGE_ERROR and
 * returns OT_EFATAL: the process exits 2 for a supervisor to restart it,
 * rather than answering errors forever or waiting on a dead thread.
 */
#ifndef OT_CONSUMER_H
#define OT_CONSUMER_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OT_CONSUMER_DEFAULT_INGEST  "tcp://127.0.0.1:7710"
#define OT_CONSUMER_DEFAULT_DATA    "./optally-data"
#define OT_CONSUMER_DEFAULT_MAXMSG  (4 * 1024 * 1024)
#define OT_CONSUMER_DEFAULT_PUBLISH "tcp://127.0.0.1:7711"
#define OT_CONSUMER_DEFAULT_SNAPSHOT "tcp://127.0.0.1:7712"
#define OT_CONSUMER_DEFAULT_PUB_HWM 100000

typedef struct ot_consumer ot_consumer;

typedef struct ot_consumer_options {
    const char *data_dir;   /* default OT_CONSUMER_DEFAULT_DATA */
    const char *ingest;     /* default OT_CONSUMER_DEFAULT_INGEST */
    size_t batch;           /* events gathered per transaction; 0 = 10000 */
    int flush_ms;           /* extra wait for a batch to fill; 0 = none (adaptive) */
    bool nosync;            /* no fsync on commit (not durable) */
    int64_t max_msg_size;   /* ZMQ_MAXMSGSIZE; 0 = 4 MiB */
    size_t map_size;        /* initial LMDB map; 0 = store default */
    bool quiet;             /* no progress lines on stderr */
    const char *publish;    /* PUB endpoint; default OT_CONSUMER_DEFAULT_PUBLISH; "none" = off */
    const char *snapshot;   /* snapshot ROUTER; default OT_CONSUMER_DEFAULT_SNAPSHOT; "none" = off */
    int pub_hwm;            /* PUB send high-water mark; 0 = OT_CONSUMER_DEFAULT_PUB_HWM */
    const char *curve_secret;   /* server key pair file: CURVE on every socket (ot_auth.h) */
    const char *allow_keys;     /* dir of allowed producer (and subscriber) public keys */
    const char *allow_sub_keys; /* dir of allowed subscriber keys; NULL = allow_keys */
    size_t max_rss_mb;          /* memory ceiling: stop loudly above it; 0 = 4096 */
    const char *source_rank;    /* the store's source ranking of incident members,
                                   "CENTCOM,SDF,..." (ot_store_options.source_rank);
                                   NULL: keep the stored one */
    const char *admin;          /* admin ROUTER (consumer/ot_admin.h); NULL: default
                                   ipc://DATA/admin.sock (off, with a warning, when
                                   that path is too long for a unix socket);
                                   "none" = off */
} ot_consumer_options;

/* Open the store (rebuilding the id index), bind the sockets and start the
 * writer thread. OUT: *out, owned, closed with ot_consumer_close().
 * Endpoints: a tcp:// host that is a name (not an address, '*' or a
 * network interface) is resolved, IPv4 first (tcp://localhost:P binds
 * 127.0.0.1); an IPv6 address (tcp://[::1]:P) or a name that resolves only
 * to IPv6 gets ZMQ_IPV6 on its socket. This holds for ingest, publish and
 * snapshot alike.
 * Returns 0, OT_ELOCKED (another consumer on that directory), a store
 * error (OT_ERANK: source_rank differs from the ranking the store's
 * incidents are counted under; err then quotes both), EINVAL (CURVE options inconsistent, a name that does not
 * resolve), EPERM (a server key file others may read), ENOMEM, or
 * OT_ETRANSPORT (a socket could not be set up or bound). On failure nothing
 * is left open, the data directory is removed if this call created it
 * (never one that existed), and err (errlen bytes; NULL when errlen is 0)
 * holds one line naming what failed, with the system's reason: for
 * OT_ETRANSPORT the errno text of the failing ZeroMQ call, e.g. "cannot
 * bind ingest socket tcp://...: Address already in use (is another
 * consumer running? use --ingest)". */
int
ot_consumer_open(const ot_consumer_options *opt, ot_consumer **out, char *err, size_t errlen);

/* Serve until *stop becomes non-zero (set it from a signal handler), then
 * drain: messages already received are committed and answered, queued ones
 * get SHUTTING_DOWN. Returns 0 after a clean drain. Otherwise it returns at
 * once, with one line in err (errlen bytes) naming the cause:
 *  - OT_EFATAL: the writer thread ended (the store became unusable, e.g.
 *    MDB_PANIC, or its socket failed). Every batch still in flight, and
 *    those already waiting on the ingest socket (one read burst), is
 *    answered STORAGE_ERROR (nothing of it stored), even while stopping; the caller should exit 2 so a supervisor restarts it.
 *  - OT_EMEMORY: the process passed its memory ceiling (said loudly on
 *    stderr; everything acked is already durable).
 *  - OT_ETRANSPORT: the ingest socket failed.
 * The writer thread has ended when it returns: call it once per consumer,
 * then ot_consumer_close(). */
int
ot_consumer_run(ot_consumer *c, volatile sig_atomic_t *stop, char *err, size_t errlen);

/* The admin endpoint as bound ("ipc:///.../admin.sock"), or "none".
 * Borrowed until ot_consumer_close. */
const char *
ot_consumer_admin_endpoint(const ot_consumer *c);

/* Tests only: make the nth write step of the following ingests fail with
 * err (ot_store_fault(): counted across ingests, fires once). Call it
 * before sending the messages it should hit. */
void
ot_consumer_fault(ot_consumer *c, int nth_step, int err);

/* Closes sockets and store; sets *c to NULL; safe on NULL. */
void
ot_consumer_close(ot_consumer **c);

#endif
