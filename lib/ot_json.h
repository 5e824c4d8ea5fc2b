/*
 * ot_json: JSON <-> OperationEvent, Figure and LogRecord, for JSON Lines
 * input and output, and the JSON row of `optally figures`. The one owner of
 * these JSON forms (STYLE 11).
 *
 * Field names are those of proto/optally.proto. Integers may be JSON numbers
 * or decimal strings (the proto3 JSON mapping writes int64 as strings);
 * enums (`type`, `granularity`, `qualifier`) take their names ("PARTNERED",
 * "AGGREGATE", "APPROX") or numbers; `retracted` a bool; repeated strings
 * (`countries`, `scope`) a JSON array of strings. An unknown field, a wrong
 * type, a negative or out-of-range number is an error naming the field
 * ("field 'countries[1]': expected a string, got a number"): a typo must
 * not silently drop data. Writers leave out absent fields (zero, "", an
 * empty list; granularity OPERATION, qualifier EXACT) but the id.
 */
#ifndef OT_JSON_H
#define OT_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "optally.pb-c.h"

/* Parse one JSON object (len bytes of text) into a new event.
 * OUT: *out, owned by the caller, freed with ot_json_event_free().
 * On failure returns OT_EJSON (or ENOMEM), *out is NULL, and err (errcap
 * bytes) holds a message such as "field 'killed': expected a non-negative
 * integer". Does not validate the event's content (ot_event_validate does). */
int
ot_json_to_event(const char *text, size_t len, Optally__OperationEvent **out,
                 char *err, size_t errcap);

/* Free an event made by ot_json_to_event; sets *ev to NULL; safe on NULL. */
void
ot_json_event_free(Optally__OperationEvent **ev);

/* Render ev as one compact JSON object (no newline), omitting absent
 * (empty/zero) fields except event_id. OUT: *out, malloc'd, caller frees.
 * Returns 0 or ENOMEM. */
int
ot_json_from_event(const Optally__OperationEvent *ev, char **out);

/* ---- Figure ----------------------------------------------------------
 *
 * A point-in-time figure as one JSON object, e.g.
 *   {"figure_id":"centcom-2024q1-fal","source":"CENTCOM","metric":"fighters_at_large",
 *    "scope":["IQ","SY"],"as_of":"2024-03-31","value":2500,"qualifier":"APPROX"}
 * A JSON Lines input line is a figure when its top-level object has a
 * member "figure_id" (ot_json_is_figure), an event otherwise. */

/* Parse one JSON object into a new figure, with the rules of
 * ot_json_to_event. OUT: *out, owned by the caller, freed with
 * ot_json_figure_free. On failure returns OT_EJSON (or ENOMEM), *out is
 * NULL, err names the field and what was expected. Does not validate the
 * figure's content (ot_figure_validate does). */
int
ot_json_to_figure(const char *text, size_t len, Optally__Figure **out, char *err, size_t errcap);

/* Free a figure made by ot_json_to_figure; sets *f to NULL; safe on NULL. */
void
ot_json_figure_free(Optally__Figure **f);

/* Render f as one compact JSON object (no newline), absent fields left out
 * except figure_id. OUT: *out, malloc'd, caller frees. Returns 0 or ENOMEM. */
int
ot_json_from_figure(const Optally__Figure *f, char **out);

/* True when text (len bytes) is a JSON object with a top-level member
 * "figure_id" (after unescaping). Cheap for lines that cannot be one (no
 * "figure_id" and no escape in them: no parse); false for invalid JSON,
 * which the event reader then explains. */
bool
ot_json_is_figure(const char *text, size_t len);

/* A growing buffer: every JSON writer of the CLI appends to one.
 * Each append returns 0 or ENOMEM (EINVAL for a printf encoding error),
 * and a failed one leaves the buffer as it was. */
typedef struct ot_buf {
    char *data;    /* owned, NUL-terminated when len > 0 */
    size_t len;
    size_t cap;
} ot_buf;

int ot_buf_append(ot_buf *b, const char *s, size_t n);
int ot_buf_printf(ot_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ot_buf_free(ot_buf *b);

/* Append the n bytes at s as a JSON string literal with quotes: '"', '\\'
 * and the C0 controls escaped, malformed UTF-8 as \ufffd, every other byte
 * as it is (the form `log export --format json` has always written). */
int ot_buf_json_string(ot_buf *b, const char *s, size_t n);

/* As ot_buf_json_string, for JSON a person may read on a terminal (query,
 * rejects, subscribe): also every other code point a terminal or an editor
 * may act on (ot_text_is_control) as \uXXXX, so no byte of the output is a
 * control while the value a JSON reader gets back is the same. */
int ot_buf_json_text(ot_buf *b, const char *s, size_t n);


/* The row of `optally figures --format json`, appended to b without a
 * newline: always exactly these keys, in this order:
 *   {"metric":..,"scope":[..],"as_of":..,"value":N,"qualifier":"APPROX",
 *    "low":N,"high":N,"unit":..,"source":..,"figure_id":..}
 * Strings are written terminal-safe (ot_buf_json_text); a qualifier with no
 * name (never stored: validation refuses it) as its number. Returns 0 or
 * ENOMEM (b then as it was). */
int
ot_json_figure_row(ot_buf *b, const Optally__Figure *f);

/* ---- LogRecord --------------------------------------------------------
 *
 * The JSON Lines form of a LogRecord, written by `optally log export
 * --format json` and read back by `produce` / `log import --format json`:
 *
 *   {"seq":N,"received_at":MS,"producer":"BASE64","event":{...}}
 *   {"seq":N,"received_at":MS,"producer":"BASE64","figure":{...}}
 *
 * (the proto3 JSON mapping with the .proto's field names; seq and
 * received_at always, as JSON numbers; producer only when not empty, as
 * standard base64 with padding (RFC 4648 section 4); event as
 * ot_json_from_event writes it, figure as ot_json_from_figure does). */

/* Parse one line of JSON input: a LogRecord in the form above, a bare
 * OperationEvent object or a bare Figure object. A record has a member
 * named "event" or "figure", a bare figure one named "figure_id" (names
 * after unescaping: "\u0065vent" is "event"); anything else is a bare event.
 * A bare event or figure comes back as a record holding only it. Every rule
 * of ot_json_to_event applies, to the message and to the record alike: one
 * JSON object and nothing after it; seq a non-negative integer, received_at
 * an integer (numbers or decimal strings, no fractions), producer standard
 * padded base64, event or figure an object, never both; no other member,
 * none twice. OUT: *out, owned by the caller, freed with
 * ot_json_logrec_free; exactly one of ->event and ->figure is set. On failure
 * returns OT_EJSON (or ENOMEM), *out is NULL, and err (errcap bytes) names
 * the field and what was expected: "field 'seq': expected a non-negative
 * integer, got the string \"abc\"", "field 'event.killed': ...". */
int
ot_json_to_logrec(const char *text, size_t len, Optally__LogRecord **out,
                  char *err, size_t errcap);

/* Free a record made by ot_json_to_logrec; sets *r to NULL; safe on NULL. */
void
ot_json_logrec_free(Optally__LogRecord **r);

/* Append r (exactly one of r->event and r->figure set) to b in the form
 * above, without a newline.
 * Returns 0 or ENOMEM (b then as it was). */
int
ot_json_from_logrec(ot_buf *b, const Optally__LogRecord *r);

#endif
