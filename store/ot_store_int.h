/*
 * ot_store_int: what the files of store/ share and nobody else sees: the
 * body of struct ot_store and a few helpers of ot_store.c that another
 * store file (ot_rebuild.c) needs. Not part of the store's API: code
 * outside store/ includes ot_store.h only.
 *
 * Invariants (beyond those of ot_store.h):
 *  1. Every read transaction of a store is begun with
 *     ot_store_int_read_begin and ended with ot_store_int_read_end: they
 *     hold maplock shared, so the writer can resize the map (which LMDB
 *     allows only while no transaction of the process is active).
 *  2. A store opened with `maintenance` holds the writer lock but has no
 *     id index (ix == NULL) and never ingests.
 */
#ifndef OT_STORE_INT_H
#define OT_STORE_INT_H

#include <lmdb.h>
#include <pthread.h>

#include "ot_groups.h"
#include "ot_hash.h"
#include "ot_idindex.h"
#include "ot_store.h"
#include "ot_tally.h"

struct ot_store {
    MDB_env *env;
    MDB_dbi log, tallies, rejects, meta;
    /* issue 11: reported tallies and the indexes of the groups (ot_store.h) */
    MDB_dbi reported, aggregates, children, incidents, figures;
    bool has_dbs;           /* readonly over a store without our databases */
    bool has_groups;        /* the five above exist (a reader of an older
                               store has none: it reads them as empty) */
    char *rank_text;        /* the source ranking in force ("" none), owned */
    ot_groups_rank *rank;
    ot_tally_acc *racc;     /* writers: reported tally changes of an ingest */
    ot_groups_set *dirty_ids;   /* writers: aggregates whose family was
                                   taken out of racc in this ingest */
    ot_groups_set *dirty_incs;  /* writers: incidents taken out of acc */
    ot_groups_set *done;        /* writers: roots added back at the end */
    bool readonly;
    bool maintenance;       /* writer lock, no id index, no ingest */
    size_t map_size;
    ot_idindex *ix;         /* writers only */
    ot_hash_key hk;
    ot_tally_acc *acc;      /* writers only */
    int lock_fd;            /* writers: flock on DIR/writer.lock, -1 none */
    uint64_t next_seq;      /* next log seq (first is 1) */
    uint64_t next_reject;
    ot_store_stats st;      /* status counters as of the last commit */
    ot_store_seqs seqs;     /* update sequences as of the last commit */
    ot_store_change *changes;   /* the last commit's changed keys */
    size_t nchanges, capchanges;
    /* Readers in other threads hold it shared for a read transaction; the
     * writer holds it exclusive to resize the map (LMDB requires that no
     * transaction of the process is active then). */
    pthread_rwlock_t maplock;
    int fault_countdown;    /* tests: fail the Nth write step (0 = off) */
    int fault_err;
    bool fatal;             /* an ingest hit an error that leaves the environment
                               unusable: every later ingest is OT_EFATAL */
    uint64_t need_bytes;    /* estimate of what the last ingest attempt had to
                               write at commit (s_classify_failure) */
    struct ot_reject_budget *rjb;   /* writers: what rejects may add (ot_reject_budget.h) */
    int64_t test_now_ms;    /* tests: the monotonic time the reject budget sees; 0: the clock */
    /* issue 12: the views in force (meta "views"), loaded at open by a
     * writer (NULL in a readonly handle). Writers
     * fold into every one (acc and racc point at it: ot_tally_acc_set_views)
     * and only the writer's thread touches it; view add/drop swap it after
     * their commit. Readers in other threads use ot_store_views (a fresh
     * copy from meta), never this. */
    ot_viewset *views;
};

/* Tests only: make the reject budget see monotonic time now_ms (0: the real
 * clock again), so its windows can be crossed without waiting. */
void
ot_store_int_set_now(ot_store *s, int64_t now_ms);

/* Begin a read transaction (adopting a map the writer grew); pair with
 * ot_store_int_read_end. Returns 0 or an LMDB code (nothing held then). */
int
ot_store_int_read_begin(ot_store *s, MDB_txn **txn);

void
ot_store_int_read_end(ot_store *s, MDB_txn *txn);

/* Visit, in txn, every tally of dbi (tallies or reported: 7 or, in a store
 * from before the estimates, 5 x int64) whose key starts with prefix
 * ("" or NULL: all), in key order. Returns 0, fn's non-zero value,
 * OT_ECORRUPT (a value of another size) or an LMDB code. */
int
ot_store_int_tally_walk(MDB_txn *txn, MDB_dbi dbi, const char *prefix, ot_store_tally_fn fn,
                        void *ctx);

/* The update sequences stored in meta "useq" as of txn (zeros when none).
 * Reads every layout a store ever wrote (16 view sequences, with or
 * without figure_seq; now OT_STORE_MAX_VIEWS). Returns 0, OT_ECORRUPT (a
 * value of no layout) or an LMDB code. */
int
ot_store_int_load_seqs(ot_store *s, MDB_txn *txn, ot_store_seqs *out);

/* The same for a "useq" value (len bytes) already read; tests write the
 * older layouts with it in mind. */
int
ot_store_int_parse_seqs(const void *val, size_t len, ot_store_seqs *out);

/* The status counters of meta "stats" as of txn (the other fields of *out
 * zero). Returns 0 or an LMDB code. */
int
ot_store_int_load_stats(ot_store *s, MDB_txn *txn, ot_store_stats *out);

/* Last key of an INTEGERKEY database + 1 (1 when empty). */
int
ot_store_int_next_key(MDB_txn *txn, MDB_dbi dbi, uint64_t *out);

/* A write step of a write transaction: fails as ot_store_fault asked
 * (tests), else 0. */
int
ot_store_int_fault(ot_store *s);

/* The OperationEvent bytes inside a packed LogRecord (rec, len bytes),
 * found with ot_wire's walker, without unpacking. OUT: *ev, *evlen (into rec).
 * Returns 0 or OT_ECORRUPT (malformed, or no event field). */
int
ot_store_int_record_event(const uint8_t *rec, size_t len, const uint8_t **ev, size_t *evlen);

/* How a failed ingest is reported (the rule of s_classify_failure in
 * ot_store.c, as a pure function for tests): rc as it came from LMDB or
 * the fold; free_bytes available to us on the data file's file system;
 * need_bytes, an estimate of what the failed commit had to write.
 * Returns OT_EFATAL for the codes that leave the environment unusable,
 * ENOSPC for ENOSPC and for an EIO when the file system could not have
 * taken the commit, else rc unchanged. */
int
ot_store_int_classify(int rc, uint64_t free_bytes, uint64_t need_bytes);

/* True for the LMDB codes after which the environment cannot be trusted
 * to write again (see ot_store_ingest). */
bool
ot_store_int_fatal_code(int rc);

/* ---- the groups' indexes (ot_store_groups.c) ---------------------------- */

/* Open (a writer: create) the DBs reported, aggregates, children,
 * incidents, figures; a reader of a store without them sets has_groups
 * false. Returns 0 or an LMDB code. */
int
ot_store_int_open_group_dbs(ot_store *s, MDB_txn *txn);

/* The LMDB-backed group source over txn (ot_groups.h): ctx must live as
 * long as src is used. Views point into the map: valid until the next write
 * of txn. */
typedef struct ot_store_src {
    ot_store *s;
    MDB_txn *txn;
} ot_store_src;
void
ot_store_int_src(ot_store *s, MDB_txn *txn, ot_store_src *ctx, ot_groups_src *src);

/* What a revision of an event means for the groups' indexes (copied out of
 * its view, so it outlives the page the view pointed into). */
typedef struct ot_store_shape {
    bool present;           /* false: no such revision (a new event) */
    bool aggregate;
    bool retracted;
    bool plain;             /* an OPERATION without incident: the fast path */
    char id[OT_GROUPS_ID_MAX + 1];
    size_t idlen;
    char parent[OT_GROUPS_ID_MAX + 1];
    size_t plen;
    char incident[OT_GROUPS_ID_MAX + 1];
    size_t ilen;
} ot_store_shape;

/* Fill *out from v (NULL: not present). Returns 0 or OT_ECORRUPT (an id
 * field longer than validation allows). */
int
ot_store_int_shape(const ot_event_view *v, ot_store_shape *out);

/* Move the indexes of one event from revision old to revision new (log
 * seq seq): aggregates, children, incidents. Returns 0 or an LMDB code. */
int
ot_store_int_index_update(ot_store *s, MDB_txn *txn, const ot_store_shape *old,
                          const ot_store_shape *nw, uint64_t seq);

/* Add sign * (reported deltas of racc) to DB reported. */
int
ot_store_int_apply_reported(ot_store *s, MDB_txn *txn, const ot_tally_acc *racc,
                            uint64_t *puts);

/* The Figure bytes inside a packed LogRecord, or OT_ENOTFOUND (an event
 * record), OT_ECORRUPT. */
int
ot_store_int_record_figure(const uint8_t *rec, size_t len, const uint8_t **fig, size_t *flen);

/* ---- views (issue 12) ------------------------------------------------------ */

/* The views stored in meta "views" as of txn (the built-in ones alone when
 * none is stored). OUT: *out, owned. Returns 0, ENOMEM, OT_ECORRUPT or an
 * LMDB code. */
int
ot_store_int_load_views(ot_store *s, MDB_txn *txn, ot_viewset **out);

/* The slot in vs of the view a tally key (len bytes) belongs to: the view
 * named by the key up to its first '/'. Returns the slot, or -1 when no view
 * of vs has that name (a view of another build, or a dropped one). */
long
ot_store_int_key_slot(const ot_viewset *vs, const char *key, size_t len);

/* Compute, in txn (read or write), the observed and reported tallies of
 * the views of vs at slots (bit i: slot i) from the whole log: the rebuild
 * machinery (ot_rebuild.c: current revisions, incidents, aggregate
 * families), nothing compared or written. progress (may be NULL) is called
 * every few thousand records. OUT: *obs, *rep (owned accumulators, their
 * views set to vs: vs must outlive their use), *records (log records read).
 * Returns 0, ENOMEM, OT_ECORRUPT or an LMDB code (nothing handed out then). */
int
ot_store_int_fill(ot_store *s, MDB_txn *txn, const ot_viewset *vs, uint64_t slots,
                  ot_store_progress_fn progress, void *ctx, ot_tally_acc **obs,
                  ot_tally_acc **rep, uint64_t *records);

/* Double the map; no transaction of this process may be active.
 * Returns 0 or an LMDB code (the map is then unchanged). */
int
ot_store_int_grow(ot_store *s);

#endif
