/*
 * ot_publish: the consumer's update stream (ZMQ_PUB). The messages it sends
 * are written by lib/ot_update.h (shared with the snapshot service and read
 * by the subscriber).
 *
 * Invariant: only the writer thread calls the publisher, and only after the
 * transaction whose changes it publishes has committed; a subscriber never
 * sees a count that a crash could take back.
 * Each update is two frames: topic (the tally key, so ZeroMQ's prefix
 * filtering selects a view or a country) and a packed TallyUpdate.
 * A heartbeat (topic OT_UPDATE_HEARTBEAT_TOPIC, Heartbeat) goes out after
 * OT_PUBLISH_HEARTBEAT_MS without messages.
 */
#ifndef OT_PUBLISH_H
#define OT_PUBLISH_H

#include <stddef.h>
#include <stdint.h>

#include "ot_store.h"
#include "ot_update.h"

#define OT_PUBLISH_HEARTBEAT_MS     1000

typedef struct ot_publisher ot_publisher;

/* Bind a PUB socket at endpoint on zmq context zctx, with send high-water
 * mark hwm (messages; updates beyond it are dropped for a slow subscriber,
 * who sees a gap in sequence numbers and re-snapshots); auth (may be NULL)
 * makes it a CURVE server of the "subscribe" domain.
 * OUT: *out. Returns 0 or OT_ETRANSPORT (errno set by ZeroMQ). */
struct ot_auth;
int
ot_publisher_open(void *zctx, const char *endpoint, int hwm, const struct ot_auth *auth,
                  ot_publisher **out);

/* Publish the committed changes (n of them), stamped committed_at (unix
 * ms, wall clock: it is shown, never used for an interval). */
void
ot_publisher_send_changes(ot_publisher *p, const ot_store_change *ch, size_t n,
                          int64_t committed_at);

/* Send a heartbeat carrying seqs if nothing went out for a heartbeat
 * interval (measured on the monotonic clock, so a wall-clock step neither
 * floods nor silences the stream). */
void
ot_publisher_tick(ot_publisher *p, const ot_store_seqs *seqs);

/* Updates published so far. */
uint64_t
ot_publisher_count(const ot_publisher *p);

void
ot_publisher_close(ot_publisher **p);

#endif
