/*
 * ot_rebuild: recompute the tallies from the event log, to check them
 * (`optally rebuild --check`) or to repair them and fill a new view with
 * history (`optally rebuild [--views ...]`).
 *
 * Also recomputed and compared (repaired alike): the reported tallies, the
 * incidents' contribution to the observed ones (ot_groups.h: one rule with
 * the live fold), and the indexes aggregates, children, incidents, figures.
 *
 * The rule (the store's invariant 2, restated on the log): an event counts
 * iff its log record is the current revision of its id, i.e. the LAST
 * record of that event_id in the log, and it is not retracted. The log is
 * walked backwards, so the first record met of each id is its current
 * revision and the rest are skipped: one pass, whatever order the events
 * first arrived in.
 *
 * Invariants:
 *  1. The rebuilt tallies are computed in one read transaction: a consistent
 *     view of the log and of the stored tallies they are compared with.
 *  2. A repair writes every difference, and only differences, in ONE write
 *     transaction, committed once (one fsync unless the store is nosync):
 *     readers see the old tallies until the commit, the new ones after, never
 *     a mixture. Each changed key bumps the update sequences (store-wide and
 *     of its view, meta "useq"), so a live subscriber notices the change.
 *  3. Keys of views the store does not know (neither built in nor declared
 *     in its meta "views") are neither compared nor touched; keys of views
 *     not selected neither.
 *  4. A failed rebuild changes nothing.
 */
#ifndef OT_REBUILD_H
#define OT_REBUILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ot_store.h"

/* One tally (or index entry) whose stored value differs from the rebuilt
 * one. A side that has no such key has all-zero counts and its present
 * flag false. */
typedef struct ot_rebuild_diff {
    const char *key;        /* not NUL-terminated: len bytes; borrowed */
    size_t len;
    size_t view;            /* the view's slot among the store's views
                               (ot_store_views; the built-in ones are
                               ot_view_at(slot)), tallies and reported */
    const char *view_name;  /* its name (borrowed for the call); NULL for an
                               index entry */
    bool stored_present, rebuilt_present;
    ot_counts stored, rebuilt;
    /* Which database: "tallies" (observed), "reported" (a reported tally:
     * print it marked), or an index of the groups, "aggregates",
     * "children", "incidents", "figures" (key as stored: "\0" separates
     * the two ids of children and incidents; counts are zero) */
    const char *db;
} ot_rebuild_diff;

/* Called for each difference in key order; non-zero stops the run (nothing
 * is written) and is returned. */
typedef int (*ot_rebuild_diff_fn)(void *ctx, const ot_rebuild_diff *d);

/* Called every few thousand log records: done of total (total is the last
 * log seq, so the fraction is exact for a log that never lost a record). */
typedef void (*ot_rebuild_progress_fn)(void *ctx, uint64_t done, uint64_t total);

typedef struct ot_rebuild_options {
    uint64_t views;         /* bit i selects the view at slot i of the
                               store's views (ot_view_at(i) for the built-in
                               ones, 0..4); 0: every view */
    bool check;             /* compare only: write nothing */
    ot_rebuild_diff_fn on_diff;           /* optional */
    void *diff_ctx;
    ot_rebuild_progress_fn on_progress;   /* optional */
    void *progress_ctx;
} ot_rebuild_options;

typedef struct ot_rebuild_stats {
    uint64_t records;       /* log records read */
    uint64_t ids;           /* distinct event ids */
    uint64_t counted;       /* current revisions that count (not retracted) */
    uint64_t tallies;       /* rebuilt tally keys of the selected views */
    uint64_t diffs;         /* keys that differed (written, unless check) */
    uint64_t bad_seq;       /* OT_ECORRUPT: the log record that does not decode */
    uint64_t reported;      /* rebuilt reported tally keys of the selected views */
    uint64_t aggregates;    /* current aggregate revisions */
    uint64_t members;       /* current incident members */
    uint64_t figures;       /* distinct figure ids */
} ot_rebuild_stats;

/* Recompute the tallies of the selected views from the log of s and compare
 * them with the stored ones; unless opt->check, write the differences
 * (invariant 2). s must be a writer for a repair (open it with .maintenance:
 * the writer lock keeps a consumer out, so nothing changes between the
 * computation and the write); any store can be checked, also a readonly one
 * while a consumer runs.
 * OUT: *out (optional).
 * Returns 0, EROFS (a repair on a readonly store), ENOMEM, OT_ECORRUPT (a log
 * record does not decode as an event; out->bad_seq says which), on_diff's
 * non-zero value, or an LMDB code; on failure nothing is written. */
int
ot_rebuild_run(ot_store *s, const ot_rebuild_options *opt, ot_rebuild_stats *out);

#endif
