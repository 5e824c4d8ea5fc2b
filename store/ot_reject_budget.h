/*
 * ot_reject_budget: how many reject rows (and bytes) the store may write,
 * per message, per peer and for all peers together, per time window.
 *
 * Why: a rejected event is kept in `rejects` with its raw bytes and a
 * reason text, and an empty event is 2 bytes on the wire, so without a
 * bound 2 MB of junk made 1,000,000 rows and grew the store by 112 MiB
 * (issue 10, item 1). With it, what rejects add to the store is bounded by
 * the limits below whatever peers send; every rejected event is still
 * answered REJECTED with its reason, and counted in meta's stats.
 *
 * The rule: a reject row (a rejected event, or a message refused whole) is
 * kept when it fits every budget: the message's (rows, bytes), its peer's
 * and everybody's in the current window, less room for one summary row in
 * the last two. Otherwise it is not written but counted, by reason, as
 * "pending" for its peer. At the end of each message with pending counts,
 * one summary row is written when it fits the peer's and everybody's
 * budget (its text: how many, since when, reason counts; its raw: a sample
 * of the message); else the counts wait for a later message of that peer
 * (the next window at the latest). So per window at most all_rows rows and
 * all_bytes bytes of rejects are written, of which at most peer_rows /
 * peer_bytes per peer.
 *
 * A peer is the caller's bytes: the CURVE key when the consumer has one,
 * else the ZeroMQ routing identity (a peer that reconnects gets a new one:
 * then only the all-peers budget holds it). Peers are known by a keyed
 * hash in a table of OT_REJECT_BUDGET_PEERS entries; a new peer takes the
 * entry used least recently. Windows run on the monotonic clock. Budgets
 * live in memory: a restart starts them afresh.
 *
 * Transactions: the store folds an ingest in one LMDB transaction that may
 * fail or be redone; begin() starts an attempt, and every change of the
 * attempt is undone by rollback() or kept by commit(), so the budgets match
 * what was committed. Not thread-safe: the store's writer uses it alone.
 */
#ifndef OT_REJECT_BUDGET_H
#define OT_REJECT_BUDGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ot_store.h"

#define OT_REJECT_BUDGET_PEERS 256
/* Bytes a summary row may take (text, sample, identity and framing), kept
 * free in the peer's and everybody's budget for it. */
#define OT_REJECT_BUDGET_SUMMARY_MAX 1536
/* Bytes of a message kept as the sample of a summary row. */
#define OT_REJECT_BUDGET_SAMPLE_MAX 256

typedef struct ot_reject_budget ot_reject_budget;

/* A new budget with lim (its zero fields take the OT_STORE_REJECT_*
 * defaults). OUT: *out, freed with ot_reject_budget_free. Returns 0 or ENOMEM. */
int
ot_reject_budget_new(const ot_store_reject_limits *lim, ot_reject_budget **out);

/* Frees; sets *b to NULL; safe on NULL. */
void
ot_reject_budget_free(ot_reject_budget **b);

/* The limits in force (defaults filled in). */
const ot_store_reject_limits *
ot_reject_budget_limits(const ot_reject_budget *b);

/* Start an attempt at monotonic time now_ms (windows are measured on it). */
void
ot_reject_budget_begin(ot_reject_budget *b, int64_t now_ms);

/* Keep, or undo, every change made since begin(). */
void
ot_reject_budget_commit(ot_reject_budget *b);
void
ot_reject_budget_rollback(ot_reject_budget *b);

/* The next message: from peer (len bytes, borrowed for the call), received
 * at wall time received_at (unix ms, for the summary's text). Resets the
 * message's counts. */
void
ot_reject_budget_message(ot_reject_budget *b, const uint8_t *peer, size_t len,
                         int64_t received_at);

/* A reject row of cost bytes (its key and value) for the current message:
 * true when it fits every budget (it is charged: write it); false when it
 * does not (it is counted as pending under reason, or batch_error when
 * non-zero: do not write it). */
bool
ot_reject_budget_take(ot_reject_budget *b, uint64_t cost, int reason, int batch_error);

/* Pending counts of the current message's peer: 0 when none. */
uint64_t
ot_reject_budget_pending(const ot_reject_budget *b);

/* The text of a summary row for the current peer's pending counts, into
 * text (cap bytes): "N rejected events ... not kept one by one ...: REASON
 * n, ...". in_message: how many of them the current message holds. */
void
ot_reject_budget_summary_text(const ot_reject_budget *b, uint64_t in_message, char *text,
                              size_t cap);

/* Most frequent pending reason (a RejectReason; 0 when only refused
 * messages are pending): the summary row's reason. */
int
ot_reject_budget_summary_reason(const ot_reject_budget *b);

/* A summary row of cost bytes: true when it fits the peer's and everybody's
 * budget (charged, and the pending counts cleared: write it); false when
 * it does not (the counts stay pending). */
bool
ot_reject_budget_take_summary(ot_reject_budget *b, uint64_t cost);

#endif
