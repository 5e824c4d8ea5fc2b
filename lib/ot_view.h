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

#define OT_VIEW_MAX_FIELDS 6   /* built-in views use up to 2; declared ones up to 6 */
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
 * Returns 0, or ENOSPC when cap is too small (buf then undefined); for a
 * declared view (ot_viewset_*) also OT_ENOTFOUND when its filters leave ev
 * out (the rule of ot_view_key_ev). */
int
ot_view_key(const ot_view *v, const Optally__OperationEvent *ev,
            char *buf, size_t cap, size_t *out_len);

/* The key of the OPERATION event seen through view ev (ot_event.h), as
 * ot_view_key gives for the decoded message (strings up to a NUL, as
 * protobuf-c's are). Borrows nothing past the call. The same as
 * ot_view_key_ev (below): for a declared view, OT_ENOTFOUND too when its
 * filters leave ev out.
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
 * A declared view (any dimension): admin1, source, type, incident as for
 * events; granularity "AGGREGATE"; year / week / day like quarter and
 * month (the whole span in one bucket). Its filters need the value
 * determined the same way (country=IQ or country!=IQ needs one country; a
 * month filter the whole span in one month; an undetermined value fails
 * the filter, != included); occurred_on>=D needs occurred_on >= D,
 * occurred_on<=D needs occurred_until <= D.
 * Returns 0 (placed), OT_ENOTFOUND (unplaced or filtered out; buf
 * untouched), ENOSPC, or OT_ECORRUPT (a field out of range, as
 * ot_view_key_of_view, or an occurred_until that is not YYYY-MM-DD). */
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

/* ---- views declared at run time (issue 12) -------------------------------
 *
 * A view is a name, an ordered list of group-by dimensions and optional
 * filters. Dimensions: country, admin1, partner_force, source, type, year
 * ("2024"), quarter ("2024-Q1"), month ("2024-01"), week (ISO 8601,
 * "2024-W05"), day ("2024-01-31"), incident, granularity ("OPERATION" /
 * "AGGREGATE"). Time dimensions bucket occurred_on (an aggregate is placed
 * only when its whole span is in one bucket, as ot_view_agg_key does).
 * Filters: dim=value, dim!=value, dim=a|b (any of), occurred_on>=DATE,
 * occurred_on<=DATE (an aggregate passes a date filter when its whole span
 * does). An event a filter leaves out has no key in the view.
 *
 * An ot_viewset is the views of one store: the five built-in ones at slots
 * 0..4 and the declared ones at their ViewDef.slot. A slot is stable while
 * its view exists (it indexes update sequences); a dropped view's slot is
 * free (ot_viewset_at gives NULL) and may be reused by a later view.
 * OT_VIEW_MAX_FIELDS (above) bounds group-by dimensions; OT_VIEWSET_MAX the
 * slots. A key of a declared view fits OT_VIEW_KEY_MAX as the built-in
 * ones do: a value whose escaped form is longer than 64 bytes is
 * shortened to its first whole characters within 47 escaped bytes, "~"
 * and 16 lower-case hex digits of the FNV-1a 64 of the whole unescaped
 * value (the same in every process), so a declared key is at most
 * 64 + 6 * 65 bytes. Built-in views never shorten.
 * Values: type is the OperationType name ("PARTNERED"; "" when
 * unspecified), granularity "OPERATION" / "AGGREGATE", incident "" when
 * none, year "2024", week the ISO week-year and week ("2021-01-01" is
 * "2020-W53"), day "2024-01-31". Filter values are checked where a
 * dimension has a fixed form (country two capital letters, the time
 * buckets, the enum names); a value may not contain '|' (it separates
 * alternatives). For an OPERATION event a filter tests its value of the
 * dimension (time dimensions and occurred_on filters from occurred_on);
 * for an aggregate see ot_view_agg_key.
 */
#define OT_VIEWSET_MAX     64
#define OT_VIEW_NAME_MAX   64
#define OT_VIEW_MAX_FILTERS 8

typedef struct ot_viewset ot_viewset;

/* A set holding the built-in views only. OUT: *out, owned
 * (ot_viewset_free). Returns 0 or ENOMEM. */
int
ot_viewset_new(ot_viewset **out);

/* A set of the built-in views and the declared ones packed in buf (a
 * ViewDefs message, as ot_viewset_pack writes; len 0: none).
 * Returns 0, ENOMEM, or OT_ECORRUPT (not a ViewDefs, or a definition that
 * does not parse: a stored one always does). */
int
ot_viewset_unpack(const uint8_t *buf, size_t len, ot_viewset **out);

/* The declared views of vs as a ViewDefs message. OUT: *out (malloc'd),
 * *len. Returns 0 or ENOMEM. */
int
ot_viewset_pack(const ot_viewset *vs, uint8_t **out, size_t *len);

/* An independent copy (another thread's, e.g. the snapshot service's).
 * Returns 0 or ENOMEM. */
int
ot_viewset_copy(const ot_viewset *vs, ot_viewset **out);

void
ot_viewset_free(ot_viewset **vs);

/* One past the highest slot in use; view at slot i, or NULL for a free
 * slot. The pointer lives as long as vs and its view is not dropped.
 * Here and in ot_viewset_find and ot_viewset_key_split, vs NULL means the
 * built-in views alone (a reader with no store, a test). */
size_t
ot_viewset_count(const ot_viewset *vs);
const ot_view *
ot_viewset_at(const ot_viewset *vs, size_t i);

/* The view named name, or NULL. OUT (optional): *slot. */
const ot_view *
ot_viewset_find(const ot_viewset *vs, const char *name, size_t *slot);

/* True for a view declared at run time (not built in). */
bool
ot_view_is_declared(const ot_view *v);

/* Check a definition as a user wrote it: the name (1..OT_VIEW_NAME_MAX
 * bytes of [A-Za-z0-9_.-], not a built-in name), 1..OT_VIEW_MAX_FIELDS
 * known dimensions without repeats, at most OT_VIEW_MAX_FILTERS filters,
 * each well formed (known dimension or occurred_on, a date where one is
 * needed). Returns 0, or OT_EUSAGE with err (errlen bytes) saying why in
 * one sentence that names the bad part and what is accepted. */
int
ot_viewset_check_def(const Optally__ViewDef *def, char *err, size_t errlen);

/* Add def (checked as ot_viewset_check_def; plus: its name not taken) at
 * the lowest free slot >= 5. The set keeps its own copy of def (created_at
 * and filled_to_seq as given; set them before adding). OUT: *slot
 * (optional); the stored copy's slot set. Returns 0, OT_EUSAGE (err says
 * why: bad definition, name taken), ENOSPC (OT_VIEWSET_MAX views; err
 * says so), ENOMEM. A failure changes nothing. */
int
ot_viewset_add(ot_viewset *vs, const Optally__ViewDef *def, size_t *slot, char *err,
               size_t errlen);

/* Drop the declared view named name. Returns 0, OT_ENOTFOUND (no such
 * view), OT_EUSAGE (a built-in view: they cannot be dropped). */
int
ot_viewset_drop(ot_viewset *vs, const char *name);

/* The definition of a declared view (NULL for a built-in one): group_by
 * and where as written, slot. Borrowed as ot_viewset_at. */
const Optally__ViewDef *
ot_view_def(const ot_view *v);

/* The slot of v in any viewset holding it: its index for a built-in view
 * (0..4, as ot_view_at), its ViewDef.slot for a declared one. */
size_t
ot_view_slot(const ot_view *v);

/* The key of the OPERATION event ev in view v (any view: built-in or
 * declared): as ot_view_key_of_view, and OT_ENOTFOUND when v's filters
 * leave ev out. */
int
ot_view_key_ev(const ot_view *v, const ot_event_view *ev, char *buf, size_t cap,
               size_t *out_len);

/* The key of view v for the given field values (vals[i], unescaped C
 * strings, one per field of v in order): escaped, and for a declared view
 * shortened, exactly as keys of events are built (a key a user typed by
 * dimension, `--key country=IQ,quarter=2024-Q1`). OUT: buf, *out_len.
 * Returns 0 or ENOSPC. */
int
ot_view_key_of_values(const ot_view *v, const char *const *vals, char *buf, size_t cap,
                      size_t *out_len);

/* Split a key of any view of vs (as ot_view_key_split does for the
 * built-in ones). */
int
ot_viewset_key_split(const ot_viewset *vs, const char *key, size_t len,
                     const ot_view **out_view, const char *vals[OT_VIEW_MAX_FIELDS],
                     char *valbuf, size_t cap);

#endif
