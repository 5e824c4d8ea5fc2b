/*
 * ot_snapshot: the snapshot service of live subscriptions (the Clone
 * pattern's state request). A ROUTER socket served by its own thread: a
 * client sends one SnapshotRequest frame and gets a SnapshotReply in one or
 * more messages (chunks) holding every matching tally and, in the last, the
 * update sequences they are as of, all read in ONE LMDB read transaction,
 * so snapshot + later updates (seq above the snapshot's) is exactly the
 * current state. Malformed requests get an error reply (or are dropped
 * when no reply can be addressed); the service keeps serving.
 *
 * What one request may cost the consumer (STYLE rule 14), all stated:
 *   - memory: the reply is streamed, never built whole: one chunk being
 *     filled (< 2 x OT_SNAPSHOT_CHUNK_MAX) plus the chunks handed to ZeroMQ
 *     and not yet sent, at most OT_SNAPSHOT_QUEUED_MAX bytes over ALL
 *     clients (the service waits for room, see OT_SNAPSHOT_STALL_MS);
 *   - concurrency: one request at a time; others wait in the socket's
 *     queue (16 requests; more are dropped by ZeroMQ and asked again);
 *   - time: a client that takes no chunk for OT_SNAPSHOT_STALL_MS, or a
 *     snapshot still sending after OT_SNAPSHOT_TIME_MAX_MS, is abandoned
 *     (no more messages; the client times out and asks again), which also
 *     bounds how long the read transaction keeps old pages from reuse.
 * A REQ client (frames: identity, "", request) takes one message only: it
 * gets the snapshot when it fits one chunk, else a final error.
 */
#ifndef OT_SNAPSHOT_H
#define OT_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "ot_store.h"

#define OT_SNAPSHOT_CHUNK_MAX    (1u << 20)   /* bytes of one reply message, at most */
#define OT_SNAPSHOT_CHUNK_MIN    (16u << 10)  /* a client's max_message_bytes below this is raised */
#define OT_SNAPSHOT_QUEUED_MAX   (16u << 20)  /* bytes handed to ZeroMQ, not yet sent, all clients */
#define OT_SNAPSHOT_STALL_MS     5000         /* a client taking no chunk this long loses its reply */
#define OT_SNAPSHOT_TIME_MAX_MS  60000        /* one reply, first row to last chunk */

typedef struct ot_snapshot ot_snapshot;

/* Bind a ROUTER at endpoint on zmq context zctx and start the service
 * thread reading store (borrowed: must outlive the service); auth (may be
 * NULL) makes it a CURVE server of the "subscribe" domain.
 * OUT: *out. Returns 0, OT_ETRANSPORT (errno from ZeroMQ) or ENOMEM. */
struct ot_auth;
int
ot_snapshot_start(void *zctx, const char *endpoint, ot_store *store,
                  const struct ot_auth *auth, ot_snapshot **out);

/* Requests served, and requests refused (malformed, unknown view, store
 * error, abandoned). */
void
ot_snapshot_counts(const ot_snapshot *s, uint64_t *served, uint64_t *refused);

/* What the service did and the most it held (for tests and measurements). */
typedef struct ot_snapshot_stats {
    uint64_t served;            /* replies sent whole */
    uint64_t refused;           /* error replies, and abandoned replies */
    uint64_t abandoned;         /* of refused: client gone, stalled, or over time */
    uint64_t chunks;            /* messages sent (every reply, error or not) */
    uint64_t bytes;             /* their bytes */
    size_t queued_peak;         /* most bytes handed to ZeroMQ and not yet sent */
    size_t build_peak;          /* largest buffer a chunk was filled in */
} ot_snapshot_stats;

/* OUT: *out, a copy of the counters so far. Safe from any thread. */
void
ot_snapshot_stats_get(const ot_snapshot *s, ot_snapshot_stats *out);

/* Stop the thread, close the socket; sets *s to NULL; safe on NULL. */
void
ot_snapshot_stop(ot_snapshot **s);

#endif
