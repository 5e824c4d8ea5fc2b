/*
 * ot_groups: what a group of events contributes to the tallies, the one rule
 * of the live fold (ot_store.c, over LMDB) and of rebuild (ot_rebuild.c, over
 * the log in memory). Knows the event model and the accumulator, not LMDB:
 * events are reached through a small source interface (ot_groups_src).
 *
 * Two kinds of groups (docs/ARCHITECTURE.md, "observed and reported"):
 *  - an INCIDENT: the current OPERATION revisions with one non-empty
 *    `incident`. It counts once in the observed tallies, with the counts of
 *    its counted member (at that member's own keys): among the non-retracted
 *    members the best-ranked source (ot_groups_rank), ties broken by the
 *    lowest first_seq (the log seq at which the member joined the incident).
 *  - an aggregate FAMILY: the current AGGREGATE revisions linked by
 *    parent_id (a link holds while the parent's current revision is an
 *    aggregate, retracted or not), named by its root. Each non-retracted
 *    aggregate counts in the reported tallies at its key of each view
 *    (ot_view_agg_key) unless a non-retracted ancestor has the same key
 *    there (it is SHADOWED: the parent counts, the children are its
 *    breakdown); an aggregate whose scope determines no key of a view is
 *    UNPLACED there.
 *
 * Invariants:
 *  1. A group's contribution depends only on the current revisions of its
 *     members, so "subtract before a change, add after" moves a tally by
 *     exactly the change (the fold's exactly-once rule for groups).
 *  2. No chain of parents is longer than OT_GROUPS_DEPTH_MAX aggregates:
 *     ot_groups_check_parent refuses what would make one, or a loop; a
 *     longer chain met in a walk is OT_ECORRUPT.
 *  3. Nothing here allocates but ot_groups_rank and ot_groups_set.
 */
#ifndef OT_GROUPS_H
#define OT_GROUPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ot_event.h"
#include "ot_tally.h"
#include "ot_view.h"

#define OT_GROUPS_DEPTH_MAX 16   /* aggregates in one chain of parents */
#define OT_GROUPS_ID_MAX    OT_EVENT_ID_MAX

typedef int (*ot_groups_id_fn)(void *fctx, const char *id, size_t len);
/* v borrowed until the source changes (see ot_groups_src). */
typedef int (*ot_groups_member_fn)(void *fctx, const ot_event_view *v, uint64_t seq,
                                   uint64_t first_seq);

/* Where the events of the groups are found. Views handed out stay valid
 * until the source changes (the live fold writes nothing while it computes
 * a contribution). Every function returns 0, OT_ENOTFOUND (aggregate only)
 * or an error, which the walks pass up. */
typedef struct ot_groups_src {
    void *ctx;
    /* The current revision of id if it is an aggregate (retracted or not).
     * OUT: *v, *seq. */
    int (*aggregate)(void *ctx, const char *id, size_t len, ot_event_view *v, uint64_t *seq);
    /* fn for every id whose current revision is an aggregate with
     * parent_id == id; fn's non-zero value stops and is returned. */
    int (*children)(void *ctx, const char *id, size_t len, ot_groups_id_fn fn, void *fctx);
    /* fn for every current OPERATION revision with incident == inc. */
    int (*members)(void *ctx, const char *inc, size_t len, ot_groups_member_fn fn, void *fctx);
} ot_groups_src;

/* ---- source ranking ---------------------------------------------------- */

typedef struct ot_groups_rank ot_groups_rank;

/* Parse "CENTCOM,SDF,..." (NULL or "" = nothing ranked; blanks around
 * names are not trimmed: a name is what the events' `source` holds).
 * OUT: *out. Returns 0, ENOMEM, or EINVAL (an empty name, a repeat). */
int
ot_groups_rank_new(const char *list, ot_groups_rank **out);
void
ot_groups_rank_free(ot_groups_rank **r);

/* The rank of source (len bytes): its position in the list, or the
 * number of ranked names when unranked (after every ranked one). */
size_t
ot_groups_rank_of(const ot_groups_rank *r, const char *source, size_t len);

/* True when member a (first_seq fa) counts before member b (fb): better
 * rank, then the lower first_seq. Both non-retracted. */
bool
ot_groups_better(const ot_groups_rank *r, const ot_event_view *a, uint64_t fa,
                 const ot_event_view *b, uint64_t fb);

/* ---- incidents ---------------------------------------------------------- */

/* Add sign * (contribution of incident inc) to acc (an observed
 * accumulator): the counted member through ot_tally_acc_view (so in
 * acc's views), nothing when
 * every member is retracted. OUT (optional): *counted_seq, the log seq of
 * the counted member's current revision (0: none). */
int
ot_groups_incident_add(const ot_groups_src *src, const ot_groups_rank *rank, const char *inc,
                       size_t len, ot_tally_acc *acc, int sign, uint64_t *counted_seq);

/* ---- aggregate families -------------------------------------------------- */

typedef enum ot_groups_where {
    OT_GROUPS_COUNTED = 0,
    OT_GROUPS_SHADOWED,
    OT_GROUPS_UNPLACED,
} ot_groups_where;

/* Where the aggregate seen through a (its current revision, not
 * retracted) stands in view: its key into buf (cap >= OT_VIEW_KEY_MAX)
 * unless unplaced. OUT: *where, *len. Returns 0, OT_ECORRUPT (a chain too
 * long, a key field out of range), or a source error. */
int
ot_groups_placement(const ot_groups_src *src, const ot_view *view, const ot_event_view *a,
                    ot_groups_where *where, char *buf, size_t cap, size_t *len);

/* Add sign * (contribution of the aggregate a) to acc (a reported
 * accumulator): its counts at the key of each of acc's views
 * (ot_tally_acc_set_views) where it is COUNTED. */
int
ot_groups_aggregate_add(const ot_groups_src *src, const ot_event_view *a, ot_tally_acc *acc,
                        int sign);

/* The root of the family of aggregate id (its topmost ancestor that is a
 * current aggregate; id itself when its parent is none). id must be a
 * current aggregate. OUT: root (>= OT_GROUPS_ID_MAX + 1 bytes, NUL-ended),
 * *rootlen. Returns 0, OT_ENOTFOUND (id is no current aggregate),
 * OT_ECORRUPT (a chain too long) or a source error. */
int
ot_groups_root(const ot_groups_src *src, const char *id, size_t len, char *root,
               size_t *rootlen);

/* fn for every aggregate of the family rooted at root, root first, then
 * depth first. fn's v is valid for the call. */
typedef int (*ot_groups_node_fn)(void *fctx, const ot_event_view *v, uint64_t seq);
int
ot_groups_family_walk(const ot_groups_src *src, const char *root, size_t len,
                      ot_groups_node_fn fn, void *fctx);

/* Add sign * (contribution of the family rooted at root) to acc. */
int
ot_groups_family_add(const ot_groups_src *src, const char *root, size_t len, ot_tally_acc *acc,
                     int sign);

/* Would aggregate id with parent_id parent (plen > 0) make a loop or a
 * chain of more than OT_GROUPS_DEPTH_MAX aggregates, given the current
 * state (id's own children included)? Returns 0 (no: fine), OT_EINVAL_EVENT
 * with the reason text in why (cap bytes), or a source error. */
int
ot_groups_check_parent(const ot_groups_src *src, const char *id, size_t len, const char *parent,
                       size_t plen, char *why, size_t cap);

/* ---- a set of strings (ids, incidents) --------------------------------- */

typedef struct ot_groups_set ot_groups_set;

int
ot_groups_set_new(ot_groups_set **out);
void
ot_groups_set_free(ot_groups_set **set);
void
ot_groups_set_clear(ot_groups_set *set);
/* Add str (len bytes, copied). OUT: *added (false: there already).
 * Returns 0 or ENOMEM (nothing added). */
int
ot_groups_set_add(ot_groups_set *set, const char *str, size_t len, bool *added);
bool
ot_groups_set_has(const ot_groups_set *set, const char *str, size_t len);
/* True when str is in the set; OUT: *index, its position (insertion order). */
bool
ot_groups_set_find(const ot_groups_set *set, const char *str, size_t len, size_t *index);
/* Members in insertion order: count, and member i (borrowed until the next
 * add or clear). */
size_t
ot_groups_set_count(const ot_groups_set *set);
void
ot_groups_set_at(const ot_groups_set *set, size_t i, const char **str, size_t *len);

#endif
