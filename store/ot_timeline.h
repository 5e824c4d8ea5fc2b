/*
 * ot_timeline: the tallies at any point of the log, and where a number
 * comes from, computed from the log by the store's own fold rule (plain
 * events, incidents by source rank, aggregate families: store/ot_groups).
 *
 * The log holds every stored revision in ingest order, so the state after
 * log seq N is a function of the records 1..N: replaying them in order
 * gives the tallies as they stood after N was committed (as-of), the
 * change of one tally at each record that moved it (history), and which
 * current events make up a tally now (explain). Read-only: one read
 * transaction per call, any number beside a live consumer. Uses the
 * store's views now in force and its source ranking now (a ranking changed
 * by `rebuild --source-rank` applies to the past too: documented).
 *
 * Cost: a pass over the log records up to N (a 1M-record log: about 1.7 s
 * of CPU for as-of over every view, 0.5 s for one view's prefix over half
 * of it), and memory for the ids seen (about 40 bytes each, the ids
 * themselves stay in the map) and the incidents. Figures play no part.
 * The views in force are read in the same read transaction as the log.
 */
#ifndef OT_TIMELINE_H
#define OT_TIMELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ot_store.h"

/* Every observed tally whose key starts with prefix ("" or NULL: all) as it
 * stood after log seq `seq` was committed, in key order; all-zero tallies
 * are not visited (as the store deletes them). seq beyond the log:
 * OT_ENOTFOUND (nothing visited). progress may be NULL.
 * Returns 0, fn's non-zero value, OT_ENOTFOUND, OT_ECORRUPT, ENOMEM, an LMDB
 * code. */
int
ot_timeline_as_of(ot_store *s, uint64_t seq, const char *prefix, ot_store_tally_fn fn,
                  void *ctx, ot_store_progress_fn progress, void *pctx);

/* The last log seq whose record was received at or before unix ms t (0:
 * none was). received_at is a wall clock that may have stepped back, so
 * this is a scan from the end of the log back to the answer, not a binary
 * search (which could land anywhere in a stretch stamped out of order). OUT: *seq. Returns 0 or an LMDB code /
 * OT_ECORRUPT. */
int
ot_timeline_seq_at_time(ot_store *s, int64_t t_ms, uint64_t *seq);

/* One event that makes up a tally now (explain). */
typedef struct ot_explain_row {
    const Optally__OperationEvent *ev;   /* its current revision, borrowed for the call */
    uint64_t seq;                        /* log seq of that revision */
    ot_counts contribution;              /* what it adds to the tally */
    const char *incident;                /* "" when none */
    size_t incident_members;             /* members of its incident (0: none) */
} ot_explain_row;
typedef int (*ot_explain_fn)(void *ctx, const ot_explain_row *row);

/* Every current event contributing to tally key (len bytes) of the observed
 * tallies, in log seq order: for an incident, its counted member only (with
 * the number of members, retracted ones included). The contributions sum
 * to the tally (tests assert it). fn may be NULL (just the totals). OUT
 * (optional): *total, their sum; *events, how many. A key of no view of
 * the store: OT_ENOTFOUND; a key of a view that does not split into its
 * dimensions ("country,month/IQ"): EINVAL. A well-formed key no event has
 * gives no rows and a zero total. Returns 0, fn's value, OT_ENOTFOUND,
 * EINVAL, OT_ECORRUPT, ENOMEM, an LMDB code. */
int
ot_timeline_explain(ot_store *s, const char *key, size_t len, ot_explain_fn fn, void *ctx,
                    ot_counts *total, uint64_t *events);

/* One change of a tally over ingest (history). */
typedef struct ot_history_row {
    uint64_t seq;            /* log seq of the record that changed it */
    int64_t received_at;     /* that record's ingest time, unix ms */
    ot_counts after;         /* the tally after it */
    ot_counts delta;         /* what it changed */
} ot_history_row;
typedef int (*ot_history_fn)(void *ctx, const ot_history_row *row);

/* Each change of observed tally key (len bytes), in log order: one row per
 * log record that moved it (the store commits a batch at once, so several
 * rows may share a commit; a record whose change cancelled out, as an
 * incident's counted member replaced by an equal one, gives none). The
 * last row's `after` is the tally now. Returns 0, fn's value, OT_ENOTFOUND
 * (a key of no view), EINVAL (malformed, as explain), OT_ECORRUPT, ENOMEM,
 * an LMDB code. */
int
ot_timeline_history(ot_store *s, const char *key, size_t len, ot_history_fn fn, void *ctx);

#endif
