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

/* Split a key (len bytes, need not be NUL-terminated) back into its view
 * and unescaped field values. vals[i] receive NUL-terminated copies in
 * valbuf (cap bytes). OUT: *out_view, vals[0..nfields-1].
 * Returns 0, OT_ENOTFOUND for an unknown view, EINVAL for a malformed key,
 * ENOSPC when valbuf is too small. */
int
ot_view_key_split(const char *key, size_t len, const ot_view **out_view,
                  const char *vals[OT_VIEW_MAX_FIELDS], char *valbuf, size_t cap);

#endif
