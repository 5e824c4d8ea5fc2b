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

#include "ot_event.h"

typedef struct ot_tally_acc ot_tally_acc;

/* OUT: *out, an empty accumulator. Returns 0 or ENOMEM. */
int
ot_tally_acc_new(ot_tally_acc **out);
void
ot_tally_acc_free(ot_tally_acc **a);

/* Forget every change (start of a transaction, or after an abort). */
void
ot_tally_acc_reset(ot_tally_acc *a);

/* Add sign * (contribution of ev) to the key of ev in every view.
 * ev must be valid. Returns 0 or ENOMEM (the accumulator is then
 * inconsistent: reset it and abort the transaction). */
int
ot_tally_acc_event(ot_tally_acc *a, const Optally__OperationEvent *ev, int sign);

/* Number of keys touched, and key i with its summed delta (borrowed until
 * the next change or reset). A key may have an all-zero delta when changes
 * cancelled out. */
size_t
ot_tally_acc_count(const ot_tally_acc *a);
void
ot_tally_acc_at(const ot_tally_acc *a, size_t i, const char **key, size_t *len,
                const ot_counts **delta);

#endif
