/*
 * ot_wire: bounded decoding of what arrives from the network.
 *
 * protobuf-c 1.4.1 has no size or count limit of its own: 2 MiB of crafted
 * input can unpack into a million empty events (~200 MiB). So a batch is
 * first scanned on the wire (no allocation): its events and figures are
 * counted and located, a batch over the limit (events + figures) is refused
 * before any decoding; then it is unpacked with an allocator that fails
 * once a byte budget is spent (figures and events alike).
 * Invariant: decoding one message never allocates more than its budget plus
 * the small ot_wire_batch header and offset arrays (8 bytes per event or
 * figure).
 *
 * It is also the one place that walks protobuf fields by hand
 * (ot_wire_next_field): the batch scan here, the event view (ot_event.h),
 * the store's record scans and rebuild all step through messages with it,
 * and the producer writes its tags with OT_WIRE_TAG and ot_wire_put_varint.
 * Field numbers are the names of ot_fields.h, never literals.
 */
#ifndef OT_WIRE_H
#define OT_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "optally.pb-c.h"
#include "ot_fields.h"

typedef struct ot_wire_batch ot_wire_batch;

/* Decode an EventBatch from buf (len bytes; borrowed, must outlive *out
 * because ot_wire_batch_raw points into it). At most max_events events and
 * figures together (OT_ETOOMANY past it: the TOO_MANY_EVENTS reply) and
 * budget bytes of decoded structures.
 * OUT: *out, owned, freed with ot_wire_batch_free().
 * Returns 0; OT_EDECODE (not an EventBatch), OT_ETOOMANY, OT_EBUDGET, or
 * ENOMEM; on failure *out is NULL and nothing is held. */
int
ot_wire_batch_decode(const uint8_t *buf, size_t len, size_t budget,
                     size_t max_events, ot_wire_batch **out);

/* The decoded message; lives as long as b. */
const Optally__EventBatch *
ot_wire_batch_msg(const ot_wire_batch *b);

/* The wire bytes of event i (into the buffer given to decode;
 * i < msg->n_events). */
void
ot_wire_batch_raw(const ot_wire_batch *b, size_t i, const uint8_t **out, size_t *out_len);

/* The wire bytes of figure i (into the buffer given to decode;
 * i < msg->n_figures). */
void
ot_wire_batch_figure_raw(const ot_wire_batch *b, size_t i, const uint8_t **out,
                         size_t *out_len);

/* Bytes the decoder allocated (within its budget). */
size_t
ot_wire_batch_bytes(const ot_wire_batch *b);

/* Frees b and its message; sets *b to NULL; safe on NULL. */
void
ot_wire_batch_free(ot_wire_batch **b);

/* True when a string field of the OperationEvent in buf (its wire bytes)
 * holds a NUL byte (protobuf-c's C strings end at the first NUL, so this can
 * only be seen on the wire). Only the fields that
 * optally__operation_event__descriptor declares as strings are looked at:
 * a field this build does not know (a newer producer's: a submessage, bytes)
 * may hold any byte, as protobuf-c keeps it aside unread. Malformed input
 * returns true. Never allocates. */
bool
ot_wire_has_nul_string(const uint8_t *buf, size_t len);

/* The same for the Figure in buf (its wire bytes), by
 * optally__figure__descriptor. */
bool
ot_wire_figure_has_nul_string(const uint8_t *buf, size_t len);

/* Find the last occurrence of length-delimited field `field` at the top
 * level of buf. OUT: *val, *vlen (into buf). Returns 0, OT_ENOTFOUND, or
 * OT_EDECODE for malformed input. */
int
ot_wire_find_bytes(const uint8_t *buf, size_t len, uint32_t field,
                   const uint8_t **val, size_t *vlen);

/* Read a varint at *p (end bounds it); advances *p. Returns 0 or OT_EDECODE. */
int
ot_wire_varint(const uint8_t **p, const uint8_t *end, uint64_t *out);

/* Longest varint (a uint64): room to keep for ot_wire_put_varint. */
#define OT_WIRE_VARINT_MAX 10

/* Write v as a varint at out (room for OT_WIRE_VARINT_MAX bytes).
 * Returns the bytes written (1..10). */
size_t
ot_wire_put_varint(uint8_t *out, uint64_t v);

/* One field as it stands on the wire. */
typedef struct ot_wire_field {
    uint32_t num;           /* field number, 1 .. 2^29-1 */
    int wt;                 /* OT_WIRE_VARINT, _I64, _LEN or _I32 */
    uint64_t u;             /* VARINT: the value; I64 / I32: the little-endian
                               value; LEN: the length (same as len) */
    const uint8_t *val;     /* LEN: the bytes (into the buffer); else NULL */
    size_t len;             /* LEN: their count; else 0 */
} ot_wire_field;

/* Step over the field at *p (end bounds the message): the one protobuf
 * field walker of the project. Never allocates.
 * OUT: *f; *p advanced past the field.
 * Returns 0, or OT_EDECODE (truncated input, field number 0 or too large,
 * a group or unknown wire type, a length past end); *p is then undefined. */
int
ot_wire_next_field(const uint8_t **p, const uint8_t *end, ot_wire_field *f);

#endif
