/*
 * ot_view: tally views and their keys.
 *
 * A view groups events by some of their fields (none, country, country and
 * quarter of occurred_on, ...). A tally key is one string, also used as the
 * ZeroMQ topic of its updates:  view-name ( "/" field-value )*
 * e.g. "total", "country/IQ", "country,quarter/IQ/2024-Q1".
 * Field values escape '%' as "%25" and '/' as "%2F", so a key splits
 * unambiguously and a key prefix is a useful subscription filter.
 *
 * Default views: total, country, country,quarter, country,month,
 * country,partner_force. Buckets come from occurred_on: quarter "2024-Q1",
 * month "2024-01". An empty partner_force gives the value "".
 */
#ifndef OT_VIEW_H
#define OT_VIEW_H

#include <stddef.h>

#include "optally.pb-c.h"
#include "ot_event.h"

#define OT_VIEW_MAX_FIELDS 3
#define OT_VIEW_KEY_MAX    512   /* bytes, enough for any valid event */

typedef struct ot_view {
    const char *name;                          /* "country,quarter" */
    int nfields;                               /* 0 for "total" */
    const char *fields[OT_VIEW_MAX_FIELDS];    /* "country", "quarter" */
} ot_view;

/* Number of views, and view i (0 <= i < count). Static storage. */
size_t
ot_view_count(void);
const ot_view *
ot_view_at(size_t i);

/* View by name, or NULL. */
const ot_view *
ot_view_find(const char *name);

/* Write the key of ev in view v into buf (cap bytes, NUL-terminated).
 * ev must be valid (ot_event_validate). OUT: *out_len, without the NUL.
 * Returns 0, or ENOSPC when cap is too small (buf then undefined). */
int
ot_view_key(const ot_view *v, const Optally__OperationEvent *ev,
            char *buf, size_t cap, size_t *out_len);

/* The key of the OPERATION event seen through view ev (ot_event.h), as
 * ot_view_key gives for the decoded message (strings up to a NUL, as
 * protobuf-c's are). Borrows nothing past the call.
 * OUT: buf (NUL-terminated), *out_len without the NUL.
 * Returns 0, ENOSPC (cap too small; buf undefined), or OT_ECORRUPT when a
 * field the key takes is out of range (occurred_on not YYYY-MM-DD with a
 * month 01..12, country over 15 bytes, partner_force over
 * OT_EVENT_PARTNER_FORCE_MAX): validation lets no such event in, so it is
 * a corrupt record. */
int
ot_view_key_of_view(const ot_view *v, const ot_event_view *ev, char *buf, size_t cap,
                    size_t *out_len);

/* The key of an AGGREGATE event in view v: where its reported counts go.
 * Placement (a dimension the aggregate does not determine leaves it
 * unplaced, with no key in v):
 *  - total: always;
 *  - country: exactly one country, `country` set (and no `countries`) or
 *    `countries` holding exactly one code;
 *  - quarter / month: occurred_on and occurred_until in the same bucket
 *    (no occurred_until: the single day occurred_on);
 *  - partner_force: its partner_force, as for events ("" when none).
 * OUT: buf (NUL-terminated), *out_len without the NUL.
 * Returns 0 (placed), OT_ENOTFOUND (unplaced; buf untouched), ENOSPC, or
 * OT_ECORRUPT (a field out of range, as ot_view_key_of_view, or an
 * occurred_until that is not YYYY-MM-DD). */
int
ot_view_agg_key(const ot_view *v, const ot_event_view *ev, char *buf, size_t cap,
                size_t *out_len);

/* Split a key (len bytes, need not be NUL-terminated) back into its view
 * and unescaped field values. vals[i] receive NUL-terminated copies in
 * valbuf (cap bytes). OUT: *out_view, vals[0..nfields-1].
 * Returns 0, OT_ENOTFOUND for an unknown view, EINVAL for a malformed key,
 * ENOSPC when valbuf is too small. */
int
ot_view_key_split(const char *key, size_t len, const ot_view **out_view,
                  const char *vals[OT_VIEW_MAX_FIELDS], char *valbuf, size_t cap);

#endif
