/*
 * ot_store: the durable state of optally, one LMDB environment in a
 * directory. Knows LMDB and the event model, never a socket.
 *
 * Named databases:
 *   log      ingest seq (u64) -> LogRecord (event, receive time, producer);
 *            every stored revision, append-only, in ingest order
 *   tallies  tally key (see ot_view.h) -> 5 x int64 counters
 *   rejects  reject seq (u64) -> RejectRecord (raw bytes and reason), within
 *            the reject budget (OT_STORE_REJECT_*); rejects beyond it are
 *            counted in summary rows ("N rejected events of this peer not
 *            kept one by one ...", with a sample of the message)
 *   meta     "schema" -> version; "stats" -> status counters;
 *            "useq" -> update sequences (store-wide, per view slot, figures;
 *            older stores hold 16 view slots, read as such);
 *            "source_rank" -> the ranking incidents are counted under;
 *            "views" -> the views declared at run time (ViewDefs)
 *   reported, aggregates, children, incidents, figures: the reported
 *            tallies and the indexes of the groups (store/ot_store_groups.c)
 * The id index (event_id -> current revision's log seq) is held in memory
 * and rebuilt from the log when a writer opens the store (ot_idindex.h).
 *
 * Invariants:
 *  1. Dedup, log append and tally change of an event happen in one write
 *     transaction (ot_store_ingest): after a crash either all are there or
 *     none is.
 *  2. Every tally equals the sum over the current revision of every
 *     distinct stored, non-retracted event.
 *  3. A failed ot_store_ingest changes nothing, in LMDB or in memory.
 */
#ifndef OT_STORE_H
#define OT_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ot_event.h"
#include "ot_view.h"

#define OT_STORE_SCHEMA_VERSION 1
#define OT_STORE_DEFAULT_MAP    ((size_t)1 << 30)  /* grows on demand */

typedef struct ot_store ot_store;

/* Bounds on what rejected events add to the store (the rule is in
 * store/ot_reject_budget.h): rows, and bytes (a row costs its key and
 * value: the packed RejectRecord plus 16), kept individually per message,
 * per peer and for all peers together per window of window_ms (monotonic
 * clock). Beyond them rejected events are answered as usual but only
 * counted, and told in summary rows. So rejects grow the store by at most
 * all_bytes (8 MiB) a minute, plus LMDB's page overhead. */
#define OT_STORE_REJECT_MSG_ROWS    100
#define OT_STORE_REJECT_MSG_BYTES   ((uint64_t)256 << 10)
#define OT_STORE_REJECT_PEER_ROWS   1000
#define OT_STORE_REJECT_PEER_BYTES  ((uint64_t)1 << 20)
#define OT_STORE_REJECT_ALL_ROWS    10000
#define OT_STORE_REJECT_ALL_BYTES   ((uint64_t)8 << 20)
#define OT_STORE_REJECT_WINDOW_MS   60000

/* What a reject row adds to its cost besides its value (key, LMDB node). */
#define OT_STORE_REJECT_ROW_OVERHEAD 16

typedef struct ot_store_reject_limits {
    uint64_t msg_rows, msg_bytes;       /* 0: OT_STORE_REJECT_MSG_* */
    uint64_t peer_rows, peer_bytes;     /* 0: OT_STORE_REJECT_PEER_* */
    uint64_t all_rows, all_bytes;       /* 0: OT_STORE_REJECT_ALL_* */
    int64_t window_ms;                  /* 0: OT_STORE_REJECT_WINDOW_MS */
} ot_store_reject_limits;

typedef struct ot_store_options {
    bool readonly;      /* readers (query, rejects): no id index, no writes */
    bool nosync;        /* skip fsync at commit: fast, not durable */
    size_t map_size;    /* initial map size; 0 = OT_STORE_DEFAULT_MAP */
    bool maintenance;   /* a writer for `optally rebuild` (ot_rebuild.h): takes
                           the writer lock but builds no id index (rebuilding
                           it would cost as much as the work), so
                           ot_store_ingest is refused; ignored when readonly */
    ot_store_reject_limits rejects;   /* writers: reject budget; zeros: defaults */
    const char *source_rank;  /* writers: "CENTCOM,SDF,...", the sources of an
                                 incident in rank order (best first); NULL:
                                 keep the stored one ("" = none ranked). A
                                 different one than stored on a store that
                                 holds incidents: OT_ERANK, unless maintenance
                                 (rebuild sets it and recomputes) */
} ot_store_options;

/* Open (creating when writable) the store in dir (mode 0700). A writer
 * rebuilds the id index from the log.
 * OUT: *out, owned, closed with ot_store_close().
 * Returns 0, an errno, an LMDB code, OT_ESCHEMA, or OT_ENOTFOUND (readonly
 * and no store there). */
int
ot_store_open(const char *dir, const ot_store_options *opt, ot_store **out);

/* Make ot_strerror name LMDB's codes (ot_error_register_range): lib/ knows
 * no LMDB, the store tells it. ot_store_open calls it; call it before
 * naming an LMDB code that did not come from a store handle. Idempotent,
 * thread-safe. */
void
ot_store_register_errors(void);

/* Closes; sets *s to NULL; safe on NULL. */
void
ot_store_close(ot_store **s);

/* One event of an ingest. IN: event (decoded), raw (its wire bytes, kept
 * for rejects; may be NULL when not available), reject.reason (non-zero
 * when validation already refused it). OUT: status, reject (for REJECTED),
 * seq (log seq for STORED/SUPERSEDED/DUPLICATE, reject seq for REJECTED;
 * 0 for a REJECTED event over the reject budget, counted in a summary row
 * rather than kept one by one). */
typedef struct ot_ingest_item {
    const Optally__OperationEvent *event;
    const uint8_t *raw;
    size_t raw_len;
    ot_reject reject;
    Optally__IngestStatus status;
    uint64_t seq;
} ot_ingest_item;

/* One point-in-time figure of an ingest (IN/OUT as ot_ingest_item).
 * OUT figure_seq: for STORED and SUPERSEDED, the store-wide figure update
 * sequence given to this figure (FigureUpdate.figure_seq), else 0. */
typedef struct ot_figure_item {
    const Optally__Figure *figure;
    const uint8_t *raw;
    size_t raw_len;
    ot_reject reject;
    Optally__IngestStatus status;
    uint64_t seq;
    uint64_t figure_seq;
} ot_figure_item;

/* The events of one received message. When batch_error is set the message
 * was refused as a whole: items is empty and raw (capped) is kept in
 * rejects with batch_error and error_text. */
typedef struct ot_ingest_group {
    const uint8_t *producer;    /* routing identity, borrowed */
    size_t producer_len;
    const uint8_t *peer;        /* who the reject budget charges (the CURVE key
                                   when there is one), borrowed; NULL: producer */
    size_t peer_len;
    int64_t received_at;        /* unix ms */
    ot_ingest_item *items;
    size_t n;
    ot_figure_item *figures;    /* folded after the events of the group */
    size_t nfigures;
    Optally__BatchError batch_error;
    const char *error_text;
    const uint8_t *raw;
    size_t raw_len;
} ot_ingest_group;

/* Fold every group into the store in ONE write transaction and commit it
 * (fsync unless nosync). Grows the map and retries when it fills.
 * Returns 0 with every item's OUT fields set; otherwise an error and
 * nothing changed:
 *   ENOSPC      the file system is full (also an EIO when the file system
 *               could not have taken the commit; a real I/O error with
 *               room to spare stays EIO), retry later;
 *   OT_EFATAL   the environment is unusable: MDB_PANIC (or LMDB marked it
 *               fatal), MDB_VERSION_MISMATCH, MDB_INVALID, MDB_BAD_TXN,
 *               MDB_CORRUPTED, MDB_PAGE_NOTFOUND. Every later ingest of
 *               this handle returns OT_EFATAL too: stop the process (exit 2)
 *               and let a supervisor restart it;
 *   EIO, ENOMEM, OT_ECORRUPT (a stored record does not decode), another
 *   LMDB code: this call failed, a later one may succeed. */
int
ot_store_ingest(ot_store *s, ot_ingest_group *groups, size_t ngroups);

#define OT_STORE_MAX_VIEWS 64   /* = OT_VIEWSET_MAX; a store written with 16 reads as such */

/* Update sequence numbers: seq rises by one per changed tally key, across
 * the store; view_seq[i] by one per changed key of the view at slot i of
 * the store's views (ot_store_views; slots 0..4 are the built-in ones,
 * ot_view_at(i)); a declared view's starts at 0 when it is added.
 * Persisted in meta with the tallies, so they survive restarts. */
typedef struct ot_store_seqs {
    uint64_t seq;
    uint64_t view_seq[OT_STORE_MAX_VIEWS];
    uint64_t figure_seq;    /* +1 per stored or superseded figure */
} ot_store_seqs;

/* One tally key changed by a commit: its counters after, the change, and
 * the sequence numbers given to this update. */
typedef struct ot_store_change {
    const char *key;        /* not NUL-terminated; len bytes */
    size_t len;
    size_t view;            /* the view's slot among the store's views
                               (ot_view_at(view) for 0..4; a declared one:
                               ot_viewset_at of ot_store_views) */
    ot_counts counts;
    ot_counts delta;
    uint64_t seq;
    uint64_t view_seq;
} ot_store_change;

/* The changes of the last successful ot_store_ingest, in key order of
 * first touch. OUT: *out (borrowed until the next ingest). Returns count. */
size_t
ot_store_last_changes(const ot_store *s, const ot_store_change **out);

/* The sequences as of the last commit (writers) . */
void
ot_store_seqs_get(const ot_store *s, ot_store_seqs *out);

/* Counters of the store (from meta). */
typedef struct ot_store_stats {
    uint64_t stored, duplicate, superseded, stale, rejected;
    uint64_t log_entries, distinct_ids, rejects;
    uint64_t map_size, index_bytes;
} ot_store_stats;

int
ot_store_stats_get(ot_store *s, ot_store_stats *out);

/* Visit every tally whose key starts with prefix ("" = all), in key order,
 * in one read transaction (a consistent view). fn returns 0 to go on,
 * anything else stops the walk and is returned. Safe from any thread.
 * OUT (optional): *seqs, the update sequences the walk is as of. */
typedef int (*ot_store_tally_fn)(void *ctx, const char *key, size_t len, const ot_counts *c);
int
ot_store_tally_foreach(ot_store *s, const char *prefix, ot_store_tally_fn fn, void *ctx);
int
ot_store_tally_snapshot(ot_store *s, const char *prefix, ot_store_tally_fn fn, void *ctx,
                        ot_store_seqs *seqs);

/* ---- reports as published (issue 11) -------------------------------------
 *
 * Observed tallies (DB tallies, ot_store_tally_*) count OPERATION events,
 * an incident once (its counted member). Reported tallies (DB reported,
 * same keys) count AGGREGATE events where their scope places them
 * (ot_view_agg_key), a parent and its own children never both in one key.
 */

/* Visit every reported tally whose key starts with prefix, in key order,
 * in one read transaction. As ot_store_tally_foreach. */
int
ot_store_reported_foreach(ot_store *s, const char *prefix, ot_store_tally_fn fn, void *ctx);

/* Where each current aggregate stands in one view. */
typedef enum ot_placement {
    OT_PLACED_COUNTED = 0,   /* counts in key */
    OT_PLACED_SHADOWED,      /* its key is an ancestor's, which counts there */
    OT_PLACED_UNPLACED,      /* its scope determines no key of the view (key NULL) */
} ot_placement;

/* Called for every current, non-retracted aggregate, in event_id order:
 * ev borrowed for the call; key/len its key in the view (NULL when
 * unplaced). Non-zero stops the walk and is returned. */
typedef int (*ot_store_placement_fn)(void *ctx, const Optally__OperationEvent *ev, uint64_t seq,
                                     ot_placement where, const char *key, size_t len);
int
ot_store_aggregate_placements(ot_store *s, const char *view, ot_store_placement_fn fn, void *ctx);

/* Visit every current aggregate (retracted ones too), in event_id order, in
 * one read transaction: ev borrowed for the call. */
typedef int (*ot_store_event_fn)(void *ctx, const Optally__OperationEvent *ev, uint64_t seq);
int
ot_store_aggregate_foreach(ot_store *s, ot_store_event_fn fn, void *ctx);

/* One incident: its members' current revisions (retracted ones too) in
 * first-stored order, and which one counts (-1: none, all retracted).
 * Everything borrowed for the call. */
typedef struct ot_incident_member {
    const Optally__OperationEvent *ev;
    uint64_t seq;           /* log seq of the current revision */
    uint64_t first_seq;     /* log seq of its first revision */
} ot_incident_member;
typedef int (*ot_store_incident_fn)(void *ctx, const char *incident, size_t len,
                                    const ot_incident_member *m, size_t n, long counted);
int
ot_store_incident_foreach(ot_store *s, ot_store_incident_fn fn, void *ctx);

/* Visit every current figure revision (retracted ones too), in figure_id
 * order, in one read transaction: f borrowed for the call. */
typedef int (*ot_store_figure_fn)(void *ctx, const Optally__Figure *f, uint64_t seq);
int
ot_store_figure_foreach(ot_store *s, ot_store_figure_fn fn, void *ctx);

/* The source ranking in force ("" = none). Writes buf (cap bytes). */
int
ot_store_source_rank(ot_store *s, char *buf, size_t cap);

/* ---- views declared at run time, status (issue 12) ------------------------
 *
 * The store's views (ot_viewset, lib/ot_view.h) are the built-in five and
 * the ones declared with ot_store_view_add, kept in meta "views" (a
 * ViewDefs message). Every fold, rebuild, snapshot and query of this
 * handle covers all of them; view_seq in ot_store_seqs is indexed by slot.
 */

/* A copy of the views in force, read in a read transaction (any thread;
 * readers see views added by a writer in another process). OUT: *out,
 * owned (ot_viewset_free). Returns 0, ENOMEM, OT_ECORRUPT, an LMDB code. */
int
ot_store_views(ot_store *s, ot_viewset **out);

/* Progress of a long store operation: done of total log records. */
typedef void (*ot_store_progress_fn)(void *ctx, uint64_t done, uint64_t total);

/* Declare the view def (ot_viewset_check_def) and fill its tallies from the
 * whole log, in ONE write transaction with the definition: after a crash
 * either the view is there and filled, or nothing is. Writers only (the
 * consumer's writer thread, or a maintenance handle). progress may be NULL.
 * OUT: *filled, the log records read; err (errlen bytes) why on failure.
 * Returns 0, OT_EUSAGE (bad definition, name taken: err says why), ENOSPC
 * (too many views: err says so), EROFS (a readonly handle), or the errors
 * of ot_store_ingest (MDB_MAP_FULL grows the map and retries the whole
 * add). Changes nothing on failure (tests/test_views_store.c fails each
 * write step in turn). The stored definition gets slot, created_at (now)
 * and filled_to_seq (the last log seq the fill covered). The added view's updates are published like any other's from
 * the next ingest on; its update sequence starts at 0. */
int
ot_store_view_add(ot_store *s, const Optally__ViewDef *def, ot_store_progress_fn progress,
                  void *ctx, uint64_t *filled, char *err, size_t errlen);

/* Drop a declared view and every tally of it (observed and reported: the
 * keys "name" and "name/..."), in one write transaction, with its definition
 * and its slot's update sequence (reset to 0; the slot may be reused).
 * Writers only. err (errlen bytes) says why on failure.
 * Returns 0, OT_ENOTFOUND (no such view), OT_EUSAGE (a built-in view),
 * EROFS (a readonly handle), OT_EFATAL, or an LMDB code; a failure changes
 * nothing. */
int
ot_store_view_drop(ot_store *s, const char *name, char *err, size_t errlen);

/* What `optally status` prints: one read transaction (any handle, any
 * thread). stats as ot_store_stats_get, except distinct_ids and index_bytes:
 * only a writer's handle holds the id index (0 on a reader); call it from
 * the writer's thread then. incidents: distinct incident names. */
typedef struct ot_store_status {
    uint64_t log_seq;            /* last log seq (0: empty) */
    int64_t last_received_at;    /* unix ms of that record (0: empty) */
    ot_store_stats stats;
    ot_store_seqs seqs;
    uint64_t figures, aggregates, incidents;   /* current ones */
    size_t views;                /* built-in + declared */
    uint64_t file_bytes;         /* data.mdb size */
} ot_store_status;
int
ot_store_status_get(ot_store *s, ot_store_status *out);

/* ot_store_tally_snapshot, also giving the last log seq of the same read
 * transaction: what the tallies walked are as of. OUT: *log_seq. */
int
ot_store_tally_snapshot_at(ot_store *s, const char *prefix, ot_store_tally_fn fn, void *ctx,
                           ot_store_seqs *seqs, uint64_t *log_seq);

/* Visit rejects in seq order (record borrowed for the call). */
typedef int (*ot_store_reject_fn)(void *ctx, const Optally__RejectRecord *r);
int
ot_store_reject_foreach(ot_store *s, ot_store_reject_fn fn, void *ctx);


/* Which log records a scan visits: from_seq <= seq <= to_seq (0 leaves a
 * bound open), and since <= occurred_on <= until ("YYYY-MM-DD", inclusive;
 * NULL leaves a bound open). The dates select by each record's own event:
 * a revision that moved an event out of the range is left out while its
 * older revision, still in range, is visited. */
typedef struct ot_log_filter {
    uint64_t from_seq, to_seq;
    const char *since, *until;
} ot_log_filter;

/* Called with one packed LogRecord (the log's value as stored: the exact
 * bytes `optally log export` writes) and its seq; rec is borrowed from the
 * map until the call returns. Non-zero stops the walk and is returned. */
typedef int (*ot_store_log_raw_fn)(void *ctx, uint64_t seq, const uint8_t *rec, size_t len);

/* Visit, in seq order and in one read transaction, at most max (0: no
 * limit) log records matching f (NULL: all). Nothing is decoded but the
 * event's occurred_on when f has dates, so this is the fast path of export.
 * OUT: *resume, the from_seq that goes on where the walk stopped (after max
 * records, or after the record fn stopped at), or 0 when the range is done.
 * A moderate max ends each read transaction soon, so a long export or a
 * rate-limited replay never keeps a live consumer from reusing pages.
 * Returns 0, fn's non-zero value, OT_ECORRUPT (a record without a well-formed
 * event, only checked with dates), or an LMDB code. */
int
ot_store_log_scan(ot_store *s, const ot_log_filter *f, size_t max, ot_store_log_raw_fn fn,
                  void *ctx, uint64_t *resume);

/* The seq of the last log record as of now (0: the log is empty). */
int
ot_store_log_last(ot_store *s, uint64_t *out);

/* Tests only: make the nth write step of the following ingests (log put,
 * reject put, tally update, commit) fail with err, as a full disk (ENOSPC),
 * an I/O error or MDB_MAP_FULL would. 0 turns it off. */
void
ot_store_fault(ot_store *s, int nth_step, int err);

#endif
