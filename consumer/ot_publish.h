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
 * OT_PUBLISH_HEARTBEAT_MS without messages. Updates and heartbeats cover
 * every view of the store's set (ot_publisher_set_views): a declared view's
 * update carries its slot's view_seq, and a heartbeat every view's
 * sequence by name. A stored or superseded figure
 * goes out as topic "~figure/<metric>" (OT_UPDATE_FIGURE_TOPIC, then the
 * metric) and a packed FigureUpdate; a subscriber of tallies ("V/" topics,
 * or "" and skipping '~' topics) never mistakes one for a TallyUpdate.
 *
 * What readers may cost (STYLE rule 14). ZeroMQ queues, per subscriber,
 * what it has not yet taken, and a subscriber that never reads keeps its
 * queue full (measured: ~120 bytes a queued update, ~12 MB per idle
 * subscriber at 100,000). So the total is bounded, not only each queue:
 *   - at most OT_PUBLISH_MAX_SUBSCRIBERS connections at once: one beyond is
 *     closed when the writer next looks (at each commit and at least once
 *     a second), and its subscriber reconnects, and is served once another
 *     has left;
 *   - each queue holds at most min(hwm, OT_PUBLISH_QUEUE_TOTAL /
 *     OT_PUBLISH_MAX_SUBSCRIBERS) updates; beyond, ZeroMQ drops updates for
 *     that subscriber only (the slowest), who sees the gap in sequence
 *     numbers and re-snapshots;
 * so at most OT_PUBLISH_QUEUE_TOTAL updates are queued in all. The writer
 * never waits for a subscriber.
 */
#ifndef OT_PUBLISH_H
#define OT_PUBLISH_H

#include <stddef.h>
#include <stdint.h>

#include "ot_store.h"
#include "ot_update.h"

#define OT_PUBLISH_HEARTBEAT_MS     1000
#define OT_PUBLISH_MAX_SUBSCRIBERS  64        /* connections to the PUB socket at once */
#define OT_PUBLISH_QUEUE_TOTAL      1000000   /* updates queued, all subscribers together */

typedef struct ot_publisher ot_publisher;

/* Bind a PUB socket at endpoint on zmq context zctx. hwm (>= 1) bounds
 * each subscriber's queue, in updates, and is lowered to
 * OT_PUBLISH_QUEUE_TOTAL / OT_PUBLISH_MAX_SUBSCRIBERS (see above); updates
 * beyond it are dropped for that subscriber, who sees a gap in sequence
 * numbers and re-snapshots. auth (may be NULL) makes it a CURVE server of
 * the "subscribe" domain.
 * OUT: *out. Returns 0, ENOMEM or OT_ETRANSPORT (errno set by ZeroMQ). */
struct ot_auth;
int
ot_publisher_open(void *zctx, const char *endpoint, int hwm, const struct ot_auth *auth,
                  ot_publisher **out);

/* The views whose updates and sequences the publisher sends from now on
 * (the store's set, ot_store_views: built-in and declared); at open, the
 * built-in ones. Takes *vs (sets it NULL); the old set is freed. Call it
 * after every change of the store's views, before the next commit is
 * published: an update of a view the set does not know is not sent. */
void
ot_publisher_set_views(ot_publisher *p, ot_viewset **vs);

/* Publish the committed changes (n of them), stamped committed_at (unix
 * ms, wall clock: it is shown, never used for an interval). */
void
ot_publisher_send_changes(ot_publisher *p, const ot_store_change *ch, size_t n,
                          int64_t committed_at);

/* Publish one committed figure revision: f (borrowed for the call; its
 * unknown fields are not sent), its log seq, its figure_seq (the store's
 * ot_figure_item.figure_seq) and committed_at (unix ms, wall clock). */
void
ot_publisher_send_figure(ot_publisher *p, const Optally__Figure *f, uint64_t log_seq,
                         uint64_t figure_seq, int64_t committed_at);

/* Send a heartbeat carrying seqs (one ViewSeq per view of the set, by
 * name) if nothing went out for a heartbeat interval (measured on the monotonic clock, so a wall-clock step neither
 * floods nor silences the stream). */
void
ot_publisher_tick(ot_publisher *p, const ot_store_seqs *seqs);

/* Updates published so far. */
uint64_t
ot_publisher_count(const ot_publisher *p);

/* What the publisher holds and did (for the memory-ceiling message, tests
 * and measurements). */
typedef struct ot_publisher_stats {
    size_t subscribers;         /* connections, as the writer last looked (each commit
                                 * and tick) */
    uint64_t refused;           /* connections closed: over OT_PUBLISH_MAX_SUBSCRIBERS */
    int hwm;                    /* each subscriber's queue, updates */
    uint64_t queue_max;         /* hwm x OT_PUBLISH_MAX_SUBSCRIBERS: all queues, at most */
} ot_publisher_stats;

/* OUT: *out. Safe from any thread (e.g. the memory-ceiling check). */
void
ot_publisher_stats_get(const ot_publisher *p, ot_publisher_stats *out);

void
ot_publisher_close(ot_publisher **p);

#endif
