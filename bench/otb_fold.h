/*
 * otb_fold: what the baselines share with optally's semantics, built on
 * the project's event model (lib/): decode and validate one event, its
 * five tally keys (ot_view_key over every default view) and its
 * contribution (ot_counts_of), and a content hash that ignores
 * reported_at, as ot_event_same_content does.
 */
#ifndef OTB_FOLD_H
#define OTB_FOLD_H

#include <stddef.h>
#include <stdint.h>

#include "ot_event.h"
#include "ot_view.h"

#define OTB_NVIEWS 5

/* One decoded event and what it adds to which tallies. */
typedef struct otb_fold {
    Optally__OperationEvent *ev;         /* owned: otb_fold_clear frees it */
    char keys[OTB_NVIEWS][OT_VIEW_KEY_MAX];
    size_t keylen[OTB_NVIEWS];
    ot_counts counts;                     /* zero when retracted */
    uint64_t chash;                       /* content hash, reported_at excluded */
} otb_fold;

/* Decode and validate n bytes of a packed OperationEvent into *f.
 * Returns 0, or -1 when it does not decode or is invalid (*f is cleared). */
int
otb_fold_decode(const uint8_t *data, size_t n, int64_t now_ms, otb_fold *f);

void
otb_fold_clear(otb_fold *f);

#endif
