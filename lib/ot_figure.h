/*
 * ot_figure: the model of point-in-time figures ("about 2,500 fighters at
 * large"), shared by producer, consumer and store: validation rules,
 * content equality and the names of the qualifiers. Figures are never
 * summed; the store dedups them by figure_id with the rules of events
 * (same revision and content: DUPLICATE, same revision other content:
 * CONFLICT, lower: STALE, higher: SUPERSEDED). Knows protobuf-c types,
 * never sockets or LMDB.
 */
#ifndef OT_FIGURE_H
#define OT_FIGURE_H

#include <stdbool.h>
#include <stdint.h>

#include "optally.pb-c.h"
#include "ot_event.h"

#define OT_FIGURE_METRIC_MAX 64                  /* bytes of a metric name */
#define OT_FIGURE_SCOPE_MAX  32                  /* country codes in a scope */
#define OT_FIGURE_VALUE_MAX  1000000000000ull    /* 10^12: value, low and high */

/* Check every validation rule of f. now_ms is the current unix time in ms
 * (as_of may be at most one day after it). Returns 0 when valid; otherwise
 * OT_EINVAL_EVENT with *out filled (the first rule broken, in this order):
 *   figure_id, source missing                  MISSING_FIELD
 *   metric missing                             BAD_METRIC (the text says required)
 *   scope empty                                BAD_SCOPE
 *   as_of missing                              MISSING_FIELD
 *   a string over its limit (notes 16 KiB, others 4 KiB) / not UTF-8
 *                                              STRING_TOO_LONG / BAD_STRING
 *   a control character in a one-line field    BAD_CHARACTER
 *     (source, via, source_url, metric, unit; notes is free text)
 *   figure_id not as event_id (printable ASCII without spaces, <= 128 bytes)
 *                                              BAD_EVENT_ID (the text names 'figure_id')
 *   as_of not a date / future / before 1990    BAD_DATE / FUTURE_DATE / DATE_TOO_OLD
 *   metric not [a-z][a-z0-9_]*, over 64 bytes  BAD_METRIC
 *   scope: over 32 codes, a code not ISO 3166-1 alpha-2, a repeat
 *                                              BAD_SCOPE
 *   qualifier not a Qualifier                  UNKNOWN_ENUM
 *   value, low or high over 10^12              COUNT_TOO_LARGE
 *   low != 0 && low > value, high != 0 && high < value
 *                                              BAD_ESTIMATE
 * Each text names the field and the rule, as events' texts do.
 * out may not be NULL. Never allocates. */
int
ot_figure_validate(const Optally__Figure *f, int64_t now_ms, ot_reject *out);

/* True when a and b carry the same content: every field except reported_at,
 * the scope codes compared in order. */
bool
ot_figure_same_content(const Optally__Figure *a, const Optally__Figure *b);

/* The name of qualifier q ("EXACT", "APPROX", "AT_LEAST", "AT_MOST"),
 * static storage; NULL when q is no Qualifier (validation refuses those,
 * so a stored figure always has a name). */
const char *
ot_figure_qualifier_name(int q);

#endif
