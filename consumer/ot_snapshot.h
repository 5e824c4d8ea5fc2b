/*
 * ot_snapshot: the snapshot service of live subscriptions (the Clone
 * pattern's state request). A ROUTER socket served by its own thread: a
 * client sends one SnapshotRequest frame and gets one SnapshotReply holding
 * every matching tally and the update sequences they are as of, all read
 * in ONE LMDB read transaction, so snapshot + later updates (seq above the
 * snapshot's) is exactly the current state. Malformed requests get an error
 * reply (or are dropped when no reply can be addressed); the service keeps
 * serving.
 */
#ifndef OT_SNAPSHOT_H
#define OT_SNAPSHOT_H

#include "ot_store.h"

typedef struct ot_snapshot ot_snapshot;

/* Bind a ROUTER at endpoint on zmq context zctx and start the service
 * thread reading store (borrowed: must outlive the service); auth (may be
 * NULL) makes it a CURVE server of the "subscribe" domain.
 * OUT: *out. Returns 0, OT_ETRANSPORT (errno from ZeroMQ) or ENOMEM. */
struct ot_auth;
int
ot_snapshot_start(void *zctx, const char *endpoint, ot_store *store,
                  const struct ot_auth *auth, ot_snapshot **out);

/* Requests served, and requests refused (malformed, unknown view). */
void
ot_snapshot_counts(const ot_snapshot *s, uint64_t *served, uint64_t *refused);

/* Stop the thread, close the socket; sets *s to NULL; safe on NULL. */
void
ot_snapshot_stop(ot_snapshot **s);

#endif
