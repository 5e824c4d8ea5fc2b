/*
 * ot_json: JSON <-> OperationEvent, for JSON Lines input and output.
 *
 * Field names are those of proto/optally.proto. Integers may be JSON numbers
 * or decimal strings (the proto3 JSON mapping writes int64 as strings);
 * `type` takes the enum name ("PARTNERED") or its number; `retracted` a
 * bool. An unknown field, a wrong type, a negative or out-of-range number is
 * an error naming the field: a typo must not silently drop data.
 */
#ifndef OT_JSON_H
#define OT_JSON_H

#include <stddef.h>

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

/* Append s to a growing buffer as a JSON string literal with quotes and
 * escapes. Used by every JSON writer of the CLI. Returns 0 or ENOMEM. */
typedef struct ot_buf {
    char *data;    /* owned, NUL-terminated when len > 0 */
    size_t len;
    size_t cap;
} ot_buf;

int ot_buf_append(ot_buf *b, const char *s, size_t n);
int ot_buf_printf(ot_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int ot_buf_json_string(ot_buf *b, const char *s, size_t n);
void ot_buf_free(ot_buf *b);

#endif
