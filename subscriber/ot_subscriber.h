/*
 * ot_subscriber: the client side of live tally subscriptions, as a small
 * library a C program can embed (`optally subscribe` is a thin layer over
 * it). It follows the Clone pattern of the ZeroMQ guide:
 *
 *   1. connect a SUB socket to the consumer's update stream (ZMQ_PUB) and
 *      subscribe to the selected keys and to "~heartbeat";
 *   2. ask the snapshot service (ZMQ_ROUTER) for every matching tally: the
 *      rows come with the update sequence numbers they are as of, read in one
 *      LMDB read transaction, in chunks of at most max_message_bytes (and
 *      1 MiB): the library holds one chunk at a time and hands its rows out
 *      one by one, so a snapshot of any size costs it one chunk; a chunk
 *      missing (its index) or rows missing (the count in the last chunk)
 *      make the attempt fail, and a new one start (RESYNC);
 *   3. drop the queued updates at or below the snapshot's sequence, apply the
 *      rest, checking that the sequence rises by exactly one each time.
 *
 * What the caller sees, through ot_subscriber_next(): the rows of a
 * snapshot (OT_SUB_ROW), its end (OT_SUB_SNAPSHOT_END, with the sequence it
 * is as of), then live changes (OT_SUB_UPDATE), idle heartbeats
 * (OT_SUB_HEARTBEAT) and, whenever the stream cannot be trusted any more,
 * OT_SUB_RESYNC with the reason, followed by a complete new snapshot. So
 * "snapshot rows, then updates applied in order, starting over at every
 * RESYNC" always equals what `optally query` shows as of the last sequence.
 *
 * Resynchronising is automatic. Reasons:
 *   - a gap: an update whose sequence is not last + 1 (a message dropped at
 *     a high-water mark, a consumer restart that lost unpublished updates);
 *   - a heartbeat whose sequence is above the last applied one (the last
 *     update(s) were missed);
 *   - a sequence going backwards (the store was replaced);
 *   - silence: no update and no heartbeat for dead_ms (the consumer died):
 *     both sockets are closed and opened again;
 *   - a snapshot request unanswered within snapshot_timeout_ms: asked again
 *     on a fresh DEALER, up to snapshot_tries attempts.
 *
 * Which sequence is tracked. The store-wide `seq` has holes as soon as only
 * part of the keys is received, so:
 *   - no filter: every key is received; track seq;
 *   - view V: subscribe to V's keys (topic "V/", or exactly "total"); track
 *     V's own view_seq;
 *   - prefix P containing '/': subscribe to the whole view named before the
 *     first '/', track its view_seq, and keep only keys starting with P;
 *   - prefix P without '/' (a prefix of view names): receive everything,
 *     track seq, keep only keys starting with P (a P that only one
 *     built-in view name starts with, and that holds a ',' so that no
 *     declared view name can, tracks that view's view_seq).
 *
 * Views declared at run time (`optally view add`) are known to the
 * consumer, not to this library: a view name (or a prefix's part before
 * '/') that is not built in but could be declared ([A-Za-z0-9_.-], 1..64
 * bytes) is subscribed to as "NAME/" and asked for; the snapshot service
 * refuses it when the consumer has no such view (OT_ENOTFOUND from
 * ot_subscriber_next, its text in ot_subscriber_error()).
 *
 * Figures (options.figures). Point-in-time figures are not tallies: there
 * is no snapshot of them, only the stream. A figures subscriber subscribes
 * to "~figure/" (OT_UPDATE_FIGURE_TOPIC) and "~heartbeat" only, and hands
 * out each FigureUpdate as OT_SUB_FIGURE, in the order published. Each
 * stored or superseded figure takes the next store-wide figure_seq, so a
 * figure_seq that is not last + 1 means figures were missed (a high-water
 * mark, a restart of the consumer) or the store was replaced: the event
 * then carries a reason saying so (there is nothing to re-snapshot; the
 * caller may read them with `optally figures`). The first figure received
 * sets the baseline. Silence for dead_ms reopens the socket (OT_SUB_RESYNC,
 * and the baseline is forgotten). A tally subscriber never sees figures.
 *
 * Threads: a subscriber is used by one thread at a time. It owns a ZeroMQ
 * context of its own.
 */
#ifndef OT_SUBSCRIBER_H
#define OT_SUBSCRIBER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ot_event.h"

#define OT_SUBSCRIBER_DEFAULT_UPDATES   "tcp://127.0.0.1:7711"
#define OT_SUBSCRIBER_DEFAULT_SNAPSHOT  "tcp://127.0.0.1:7712"

/* What one snapshot message may hold by default: 256 MiB, which an older
 * consumer's single-message reply of ~2.4M tallies fits; a current one
 * sends chunks of at most 1 MiB. */
#define OT_SUBSCRIBER_DEFAULT_MAX_MESSAGE ((size_t)256 << 20)
#define OT_SUBSCRIBER_MIN_MAX_MESSAGE     ((size_t)16 << 10)

typedef struct ot_subscriber ot_subscriber;

typedef struct ot_subscriber_options {
    const char *updates;        /* PUB endpoint; NULL = OT_SUBSCRIBER_DEFAULT_UPDATES */
    const char *snapshot;       /* snapshot ROUTER; NULL = OT_SUBSCRIBER_DEFAULT_SNAPSHOT */
    const char *view;           /* one view ("country,quarter", or a declared one), or NULL */
    const char *prefix;         /* a tally key prefix, or NULL; not together with view */
    int snapshot_timeout_ms;    /* per snapshot attempt; 0 = 2000 */
    int snapshot_tries;         /* attempts per snapshot before OT_ETIMEOUT; 0 = unlimited */
    int dead_ms;                /* silence that means a dead stream; 0 = 3000 */
    int rcvhwm;                 /* ZMQ_RCVHWM of the SUB socket (messages); 0 = 100000 */
    /* The largest snapshot message held at once (bytes; 0 =
     * OT_SUBSCRIBER_DEFAULT_MAX_MESSAGE, at least OT_SUBSCRIBER_MIN_MAX_MESSAGE).
     * The request asks the consumer for chunks no bigger, so a snapshot of
     * any size passes one chunk at a time; only an older consumer, which
     * sends a snapshot as one message, can exceed it: ZeroMQ drops such a
     * message with its connection, and after two attempts that ended so
     * ot_subscriber_next() returns EMSGSIZE with the limit in its text. */
    size_t max_message_bytes;
    bool snapshot_only;         /* one snapshot, no update stream (no SUB socket) */
    bool figures;               /* figures only (see above): no view, prefix, snapshot */
    /* CurveZMQ (all three or none), Z85 text of 40 characters each: the
     * consumer's public key and this subscriber's key pair (ot_keys.h reads
     * them from `optally keygen` files); the consumer must list the public
     * key for its "subscribe" domain. Copied by ot_subscriber_open. */
    const char *server_key;
    const char *client_public;
    const char *client_secret;
} ot_subscriber_options;

typedef enum ot_sub_kind {
    OT_SUB_ROW = 1,         /* one tally of a snapshot */
    OT_SUB_SNAPSHOT_END,    /* the snapshot is complete; seq / view_seq it is as of */
    OT_SUB_UPDATE,          /* a committed change of one tally: counts after it
                             * (all zero: the tally is gone), delta, sequences */
    OT_SUB_RESYNC,          /* reason: why; forget every row, a new snapshot follows */
    OT_SUB_HEARTBEAT,       /* the publisher is idle and alive; seq / view_seq: its last */
    OT_SUB_FIGURE,          /* figures: one stored or superseded figure revision */
} ot_sub_kind;

/* One event. Every pointer is borrowed from the subscriber and valid until
 * the next call of ot_subscriber_next() or ot_subscriber_close(). */
typedef struct ot_sub_event {
    ot_sub_kind kind;
    const char *view;           /* ROW, UPDATE: the view's name */
    const char *key;            /* ROW, UPDATE: the tally key (also the ZeroMQ topic) */
    size_t nfields;             /* ROW, UPDATE: number of key fields */
    const char *const *fields;  /* their names ("country", "quarter") */
    const char *const *values;  /* their values, unescaped ("IQ", "2024-Q1") */
    ot_counts counts;           /* ROW, UPDATE: the counters (after the change) */
    ot_counts delta;            /* UPDATE: what the change added */
    uint64_t seq;               /* UPDATE: store-wide update seq; SNAPSHOT_END and
                                 * HEARTBEAT: the store-wide seq they are as of */
    uint64_t view_seq;          /* UPDATE: per-view seq; SNAPSHOT_END, HEARTBEAT: that
                                 * of the tracked view (0 when tracking seq) */
    int64_t committed_at;       /* UPDATE: unix ms of the commit; HEARTBEAT: sent_at */
    const char *reason;         /* RESYNC: a readable reason, e.g. "gap detected
                                 * (expected view_seq 41, got 57)"; FIGURE: NULL,
                                 * or why figure_seq is not last + 1, e.g.
                                 * "figure_seq gap: expected 8, got 11 (3 figure
                                 * updates missed)" */
    const Optally__Figure *figure;  /* FIGURE: the figure (its reported_at too) */
    uint64_t log_seq;           /* FIGURE: log seq of this revision */
    uint64_t figure_seq;        /* FIGURE: store-wide figure update seq */
    uint64_t missed;            /* FIGURE: figure updates missed just before this
                                 * one (a gap), else 0 */
} ot_sub_event;

/* Counters of what happened so far (for summaries and measurements). */
typedef struct ot_subscriber_stats {
    uint64_t snapshots;         /* snapshots completed */
    uint64_t rows;              /* snapshot rows delivered */
    uint64_t updates;           /* updates applied (delivered or filtered out) */
    uint64_t stale;             /* queued updates dropped as already in a snapshot */
    uint64_t resyncs;           /* RESYNC events */
    uint64_t figures;           /* FIGURE events */
    uint64_t figure_gaps;       /* FIGURE events that came with a reason */
} ot_subscriber_stats;

/* Check the options, connect, and get ready; the snapshot is requested by
 * the first ot_subscriber_next(). Nothing is sent yet, so a consumer that
 * is not running is not an error here.
 * OUT: *out, owned, closed with ot_subscriber_close().
 * Returns 0; OT_EUSAGE (both view and prefix; figures with a view, a
 * prefix or snapshot_only; an endpoint that is empty;
 * max_message_bytes not 0 and below OT_SUBSCRIBER_MIN_MAX_MESSAGE;
 * CURVE keys incomplete or not 40 characters); EINVAL (an endpoint ZeroMQ
 * does not understand);
 * OT_ENOTFOUND (a view name that is neither built in nor a possible
 * declared name, or a prefix that no view's keys can start with, as far
 * as can be told here); ENOMEM; OT_ETRANSPORT. On failure *out is NULL. */
int
ot_subscriber_open(const ot_subscriber_options *opt, ot_subscriber **out);

/* Wait up to timeout_ms (< 0: without limit; 0: only what is at hand) for
 * the next event. OUT: *ev (borrowed pointers, see ot_sub_event).
 * Returns:
 *   0             *ev holds an event;
 *   EAGAIN        nothing within timeout_ms (the state is kept: call again);
 *   EINTR         a signal interrupted the wait (call again, or stop);
 *   ENODATA       snapshot_only, and the snapshot was delivered already;
 *   OT_ETIMEOUT   the snapshot service did not answer snapshot_tries times;
 *   EMSGSIZE      the snapshot service dropped the connection while its
 *                 reply was due, 3 attempts in a row: a reply message over
 *                 max_message_bytes (an older consumer, which sends one
 *                 message), or a consumer that keeps stopping (the text
 *                 says both);
 *   OT_ENOTFOUND  the snapshot service refused the first request (its text
 *                 in ot_subscriber_error(), e.g. "unknown view 'x'; views:
 *                 ..."); a refusal of a request that was served before is
 *                 taken as passing and retried like an unanswered one;
 *   OT_ETRANSPORT, ENOMEM.
 * After an error other than EAGAIN and EINTR the subscriber can only be
 * closed (every later call returns the same error). */
int
ot_subscriber_next(ot_subscriber *s, int timeout_ms, ot_sub_event *ev);

/* The text of the last error, "" when none. Static per subscriber: valid
 * until it is closed. */
const char *
ot_subscriber_error(const ot_subscriber *s);

/* Counters so far. OUT: *out. */
void
ot_subscriber_stats_get(const ot_subscriber *s, ot_subscriber_stats *out);

/* Close the sockets (nothing waits to be sent) and free everything; sets *s
 * to NULL; safe on NULL and twice. */
void
ot_subscriber_close(ot_subscriber **s);

#endif
