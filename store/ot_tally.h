/*
 * ot_tally: the tally changes of one write transaction.
 *
 * The fold does not touch LMDB once per event and view: it sums the
 * contribution of every event of a transaction per tally key here, and the
 * store applies each changed key once before commit. The same list is what
 * the consumer publishes after the commit (one update per changed key).
 * Knows the event model, not LMDB.
 */
#ifndef OT_TALLY_H
#define OT_TALLY_H

#include <stddef.h>
#include <stdint.h>

#include "ot_event.h"
#include "ot_view.h"

typedef struct ot_tally_acc ot_tally_acc;

/* Every slot of a view set (bit i: slot i, OT_VIEWSET_MAX = 64 bits). */
#define OT_TALLY_ALL_SLOTS UINT64_MAX

/* OUT: *out, an empty accumulator. Returns 0 or ENOMEM. */
int
ot_tally_acc_new(ot_tally_acc **out);
void
ot_tally_acc_free(ot_tally_acc **a);

/* Forget every change (start of a transaction, or after an abort). */
void
ot_tally_acc_reset(ot_tally_acc *a);

/* The views a adds to: those of vs at the slots whose bit is set in slots
 * (vs NULL: the built-in views, ot_view_at). vs is borrowed: it must live,
 * unchanged, until the next call here or the accumulator is freed (call
 * again after a view is added to or dropped from it). A new accumulator
 * adds to every built-in view. Cheap: the live fold calls it once per
 * change of the store's views, view_add once to fill one view. */
void
ot_tally_acc_set_views(ot_tally_acc *a, const ot_viewset *vs, uint64_t slots);

/* The views set by ot_tally_acc_set_views (NULL: the built-in ones).
 * OUT (optional): *slots. */
const ot_viewset *
ot_tally_acc_views(const ot_tally_acc *a, uint64_t *slots);

/* The view of a (ot_tally_acc_set_views) at slot i, or NULL when i is not
 * selected or free: what the fold and ot_groups_aggregate_add walk. */
const ot_view *
ot_tally_acc_view_at(const ot_tally_acc *a, size_t i);

/* One past the highest slot a may add to. */
size_t
ot_tally_acc_nslots(const ot_tally_acc *a);

/* Add sign * (contribution of the event seen through v, ot_counts_of_view)
 * to its key in every view of a (ot_tally_acc_set_views; a view whose
 * filters leave the event out gets nothing): the one contribution function
 * of the live fold and of rebuild. The event must be valid (ot_event_validate); nothing is
 * allocated but the accumulator's own entries.
 * Returns 0, ENOMEM (the accumulator is then inconsistent: reset it and
 * abort the transaction), or OT_ECORRUPT when a key field is out of what
 * validation allows (occurred_on not 10 bytes, country over 15, partner_force
 * over OT_EVENT_PARTNER_FORCE_MAX bytes): a stored record that is not an
 * event we stored; nothing is added then. */
int
ot_tally_acc_view(ot_tally_acc *a, const ot_event_view *v, int sign);

/* The same for a decoded event: ot_tally_acc_view on its view. */
int
ot_tally_acc_event(ot_tally_acc *a, const Optally__OperationEvent *ev, int sign);

/* Add sign * *c to the tally key (len bytes) itself: for contributions
 * whose key is not an event's own in every view (an aggregate's placement,
 * ot_groups.h). The key's view slot is found by its name among the views
 * of a's set (0 when none names it). Returns 0 or ENOMEM (as ot_tally_acc_view). */
int
ot_tally_acc_add_key(ot_tally_acc *a, const char *key, size_t len, const ot_counts *c, int sign);

/* The same, the slot of the key's view given (the caller built the key). */
int
ot_tally_acc_add_key_slot(ot_tally_acc *a, size_t slot, const char *key, size_t len,
                          const ot_counts *c, int sign);

/* Number of keys touched, and key i with its summed delta (borrowed until
 * the next change or reset). A key may have an all-zero delta when changes
 * cancelled out. */
size_t
ot_tally_acc_count(const ot_tally_acc *a);
void
ot_tally_acc_at(const ot_tally_acc *a, size_t i, const char **key, size_t *len,
                const ot_counts **delta);

/* The view slot of key i (in a's view set). */
size_t
ot_tally_acc_slot_at(const ot_tally_acc *a, size_t i);

#endif
