/*
 * ot_event: the event model shared by producer, consumer and store:
 * validation rules, dates, content equality and what an event adds to a
 * tally. Knows protobuf-c types, never sockets or LMDB.
 */
#ifndef OT_EVENT_H
#define OT_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "optally.pb-c.h"

#define OT_EVENT_ID_MAX      128      /* bytes */
#define OT_EVENT_COUNT_MAX   1000000u /* per counter */
#define OT_EVENT_STRING_MAX  4096     /* bytes, any string field but notes */
#define OT_EVENT_NOTES_MAX   16384    /* bytes */
/* partner_force is a value in tally keys (ot_view.h), escaped up to 3x;
 * this bound keeps every key within OT_VIEW_KEY_MAX and LMDB's 511-byte
 * key limit. */
#define OT_EVENT_PARTNER_FORCE_MAX 128 /* bytes */
#define OT_EVENT_MIN_YEAR    1990
#define OT_BATCH_MAX_EVENTS  10000

/* Why an event was refused: a code from the proto's RejectReason and a
 * readable text naming the field and the rule ("country 'ZZ' is not an
 * ISO 3166-1 alpha-2 code"). */
typedef struct ot_reject {
    Optally__RejectReason reason;
    char text[200];
} ot_reject;

/* Check every validation rule. now_ms is the current unix time in ms (dates
 * may be at most one day after it). Returns 0 when valid; otherwise the
 * OT_EINVAL_EVENT code with *out filled (the first rule broken).
 * out may not be NULL. Never allocates. */
int
ot_event_validate(const Optally__OperationEvent *ev, int64_t now_ms, ot_reject *out);

/* Parse "YYYY-MM-DD" strictly (a real calendar date). OUT: days since
 * 1970-01-01. Returns 0 or EINVAL. */
int
ot_date_parse(const char *s, int32_t *out_days);

/* True when a and b carry the same content: every field except reported_at
 * (the time a scraper saw it, which changes across re-scrapes). */
bool
ot_event_same_content(const Optally__OperationEvent *a, const Optally__OperationEvent *b);

/* Length (1..4) of the one well-formed UTF-8 sequence at s (n > 0 bytes
 * left), or 0 when the bytes there are not one: a stray continuation byte,
 * a truncated sequence, an overlong form, a surrogate (U+D800..U+DFFF) or a
 * code point above U+10FFFF. A NUL byte counts as a sequence of length 1.
 * Shared by validation and the JSON writer so both agree on "valid". */
size_t
ot_utf8_seq_len(const char *s, size_t n);

/* What one event contributes to each tally it falls in. */
typedef struct ot_counts {
    int64_t events;
    int64_t operations;
    int64_t killed;
    int64_t detained;
    int64_t wounded;
} ot_counts;

/* The counters in their fixed output order (query, subscribe, rebuild). */
#define OT_COUNTS_N 5
extern const char *const ot_counts_names[OT_COUNTS_N];

/* out[i] = the counter named ot_counts_names[i]. */
void
ot_counts_to_array(const ot_counts *c, int64_t out[OT_COUNTS_N]);

/* The contribution of ev: zero when retracted, else events=1 and its counts. */
void
ot_counts_of(const Optally__OperationEvent *ev, ot_counts *out);

/* acc += sign * c (sign is +1 or -1). */
void
ot_counts_add(ot_counts *acc, const ot_counts *c, int sign);

/* True when every counter is zero. */
bool
ot_counts_zero(const ot_counts *c);

#endif
