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
#include "ot_fields.h"

#define OT_EVENT_ID_MAX      128      /* bytes */
#define OT_EVENT_COUNT_MAX   1000000u /* per counter */
#define OT_EVENT_STRING_MAX  4096     /* bytes, any string field but notes */
#define OT_EVENT_NOTES_MAX   16384    /* bytes */
/* partner_force is a value in tally keys (ot_view.h), escaped up to 3x;
 * this bound keeps every key within OT_VIEW_KEY_MAX and LMDB's 511-byte
 * key limit. */
#define OT_EVENT_PARTNER_FORCE_MAX 128 /* bytes */
#define OT_EVENT_MIN_YEAR    1990
#define OT_EVENT_COUNTRIES_MAX 32     /* codes in `countries` (validation and the view) */
#define OT_BATCH_MAX_EVENTS  10000

/* Why an event was refused: a code from the proto's RejectReason and a
 * readable text naming the field and the rule ("country 'ZZ' is not an
 * ISO 3166-1 alpha-2 code"). */
typedef struct ot_reject {
    Optally__RejectReason reason;
    char text[200];
} ot_reject;

/* Fill out with reason and a printf-formatted text (cut, when too long, at
 * a character boundary: the text stays valid UTF-8) and return
 * OT_EINVAL_EVENT: how every validation rule (events, figures) refuses. */
int
ot_reject_set(ot_reject *out, Optally__RejectReason reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Check every validation rule. now_ms is the current unix time in ms (dates
 * may be at most one day after it). Returns 0 when valid; otherwise the
 * OT_EINVAL_EVENT code with *out filled (the first rule broken).
 * out may not be NULL. Never allocates.
 * What text fields may hold: every string (each element of countries) is
 * valid UTF-8 (BAD_STRING) within its length limit (STRING_TOO_LONG); the
 * one-line fields (source, source_url, admin1, partner_force, via, and any
 * string field added later) hold no control character: C0 U+0000..U+001F,
 * DEL U+007F, C1 U+0080..U+009F (BAD_CHARACTER), so no key of a view and
 * no table cell holds a newline or an escape sequence. notes is free text
 * (newlines and tabs allowed); event_id, the dates, country and countries,
 * parent_id and incident have stricter rules of their own.
 * Reports as published (granularity AGGREGATE): granularity must be a
 * Granularity (UNKNOWN_ENUM); an aggregate needs occurred_until
 * (BAD_SPAN); exactly one of country and countries (neither:
 * MISSING_FIELD 'country'; both, countries on an OPERATION, a code not
 * ISO 3166-1, a repeated code, more than OT_EVENT_COUNTRIES_MAX:
 * BAD_SCOPE); parent_id only on an aggregate, not its own event_id, id
 * syntax (BAD_PARENT; loops and depth are the store's to refuse);
 * incident only on an operation, id syntax (BAD_INCIDENT); killed_low and
 * killed_high at most OT_EVENT_COUNT_MAX (COUNT_TOO_LARGE) and, when not
 * 0, killed_low <= killed <= killed_high (BAD_ESTIMATE). */
int
ot_event_validate(const Optally__OperationEvent *ev, int64_t now_ms, ot_reject *out);

/* Parse "YYYY-MM-DD" strictly (a real calendar date). OUT: days since
 * 1970-01-01. Returns 0 or EINVAL. */
int
ot_date_parse(const char *s, int32_t *out_days);

/* True when a and b carry the same content: every field except reported_at
 * (the time a scraper saw it, which changes across re-scrapes). Decided by
 * ot_event_view_same_content on their views: one rule for structs and wire
 * bytes. */
bool
ot_event_same_content(const Optally__OperationEvent *a, const Optally__OperationEvent *b);

/* ---- the event view ---------------------------------------------------
 *
 * An OperationEvent seen without decoding it: every field by its number
 * (ot_fields.h), strings as pointer + length into the bytes it was read
 * from, numbers as the raw varint. Built without allocating, either from
 * wire bytes (ot_event_view_parse: a stored log record) or from a decoded
 * message (ot_event_view_of). The store decides duplicates, conflicts,
 * revisions and tally contributions from views, in the live fold and in
 * rebuild alike, so both follow one code.
 *
 * Numbers are read as protobuf-c reads them: uint32/int32/enum fields keep
 * the low 32 bits of the varint, bool is "non-zero". Strings are compared
 * and used as protobuf-c's C strings would be: up to their first NUL byte
 * (the consumer refuses strings holding one, so stored ones hold none).
 *
 * Lifetime: a view borrows the bytes (or the message) it was built from.
 */
typedef struct ot_event_view {
    const char *str[OT_F_EVENT__MAX + 1];   /* by field number; NULL: absent ("") */
    size_t len[OT_F_EVENT__MAX + 1];
    uint64_t num[OT_F_EVENT__MAX + 1];      /* varint fields; 0 when absent */
    /* The repeated field `countries` (OT_F_EVENT_COUNTRIES), one entry per
     * occurrence in order; str/len/num hold nothing for it. ncountries may
     * exceed OT_EVENT_COUNTRIES_MAX only in the view of a decoded message
     * (ot_event_view_of cannot fail): the first OT_EVENT_COUNTRIES_MAX are
     * kept, and such a view is the same content as no other view. Entries
     * from ncountries on are undefined (a view is built for every event the
     * consumer stores: only the fixed part is cleared). */
    size_t ncountries;
    const char *countries[OT_EVENT_COUNTRIES_MAX];
    size_t countries_len[OT_EVENT_COUNTRIES_MAX];
} ot_event_view;

/* Read the OperationEvent encoded in buf (len bytes) into *out. Fields it
 * does not know (numbers above OT_F_EVENT__MAX) are skipped, as protobuf-c
 * keeps them aside; a later occurrence of a field wins, but for the
 * repeated `countries`, whose occurrences are all kept in order.
 * Returns 0, or OT_EDECODE (malformed, a known field with the wrong wire
 * type, which protobuf-c refuses too, or more than OT_EVENT_COUNTRIES_MAX
 * countries, which validation refuses); *out is then undefined. */
int
ot_event_view_parse(const uint8_t *buf, size_t len, ot_event_view *out);

/* The view of a decoded message (strings borrowed from it). */
void
ot_event_view_of(const Optally__OperationEvent *ev, ot_event_view *out);

/* The granularity field (OPTALLY__GRANULARITY__OPERATION or __AGGREGATE;
 * another value only in an event validation refused). */
uint32_t
ot_event_view_granularity(const ot_event_view *v);

/* Content equality on views (see ot_event_same_content). */
bool
ot_event_view_same_content(const ot_event_view *a, const ot_event_view *b);

/* The revision field (uint32). */
uint32_t
ot_event_view_revision(const ot_event_view *v);

/* Length (1..4) of the one well-formed UTF-8 sequence at s (n > 0 bytes
 * left), or 0 when the bytes there are not one: a stray continuation byte,
 * a truncated sequence, an overlong form, a surrogate (U+D800..U+DFFF) or a
 * code point above U+10FFFF. A NUL byte counts as a sequence of length 1.
 * Shared by validation and the JSON writer so both agree on "valid". */
size_t
ot_utf8_seq_len(const char *s, size_t n);

/* Offset of the first byte of s[0..n) that does not start a well-formed
 * UTF-8 sequence (ot_utf8_seq_len), or n when all of it is well-formed. */
size_t
ot_utf8_bad_at(const char *s, size_t n);

/* Offset of the first code point of the valid UTF-8 s[0..n) that
 * ot_text_is_control refuses, or n when there is none. OUT: *cp, it. */
size_t
ot_text_control_at(const char *s, size_t n, unsigned *cp);

/* True for the code points that must never reach a terminal raw: the C0
 * controls, DEL, the C1 controls (U+0080..U+009F, among them CSI U+009B),
 * the line and paragraph separators U+2028 / U+2029, and the bidirectional
 * embeddings, overrides and isolates (U+200E, U+200F, U+202A..U+202E,
 * U+2066..U+2069) that reorder what is shown. */
bool
ot_text_is_control(uint32_t cp);

/* The code point of the k-byte UTF-8 sequence at s, k from
 * ot_utf8_seq_len (1..4: s holds a well-formed one). */
uint32_t
ot_text_code_point(const char *s, size_t k);

/* src quoted for a message, into dst (cap >= 8 bytes): at most cap - 4 bytes
 * of it, whole UTF-8 characters, then "..." when cut; control bytes and
 * bytes of no well-formed sequence as '?'. So the result is valid UTF-8
 * whatever src holds (reject texts travel as proto3 strings). Returns dst. */
const char *
ot_utf8_snip(char *dst, size_t cap, const char *src);

/* What one event contributes to each tally it falls in. */
typedef struct ot_counts {
    int64_t events;
    int64_t operations;
    int64_t killed;
    int64_t detained;
    int64_t wounded;
    int64_t killed_low;     /* estimates: the low bound of killed (killed when none) */
    int64_t killed_high;    /* the high bound (killed when none) */
} ot_counts;

/* The counters in their fixed output order (query, subscribe, rebuild):
 * the five of the first release, then the estimates. */
#define OT_COUNTS_N 7
extern const char *const ot_counts_names[OT_COUNTS_N];

/* out[i] = the counter named ot_counts_names[i]. */
void
ot_counts_to_array(const ot_counts *c, int64_t out[OT_COUNTS_N]);

/* The contribution of ev: zero when retracted, else events=1 and its counts. */
void
ot_counts_of(const Optally__OperationEvent *ev, ot_counts *out);

/* The same for a view (one rule: both call the same code). */
void
ot_counts_of_view(const ot_event_view *v, ot_counts *out);

/* acc += sign * c (sign is +1 or -1). */
void
ot_counts_add(ot_counts *acc, const ot_counts *c, int sign);

/* Stored tally values: OT_COUNTS_N int64 in ot_counts order. A store
 * written before the estimates holds the first five only
 * (OT_COUNTS_V1_BYTES): read them with killed_low = killed_high = killed.
 * OUT: *out. Returns 0, or OT_ECORRUPT for any other size. */
#define OT_COUNTS_V1_BYTES (5 * sizeof(int64_t))
int
ot_counts_read(const void *data, size_t len, ot_counts *out);

/* True when every counter is zero. */
bool
ot_counts_zero(const ot_counts *c);

#endif
