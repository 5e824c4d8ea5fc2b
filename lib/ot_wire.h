/*
 * ot_wire: bounded decoding of what arrives from the network.
 *
 * protobuf-c 1.4.1 has no size or count limit of its own: 2 MiB of crafted
 * input can unpack into a million empty events (~200 MiB). So a batch is
 * first scanned on the wire (no allocation): the events are counted and
 * located, a batch over the limit is refused before any decoding; then it is
 * unpacked with an allocator that fails once a byte budget is spent.
 * Invariant: decoding one message never allocates more than its budget plus
 * the small ot_wire_batch header and offset array (8 bytes per event).
 */
#ifndef OT_WIRE_H
#define OT_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "optally.pb-c.h"

typedef struct ot_wire_batch ot_wire_batch;

/* Decode an EventBatch from buf (len bytes; borrowed, must outlive *out
 * because ot_wire_batch_raw points into it). At most max_events events and
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

/* The wire bytes of event i (into the buffer given to decode). */
void
ot_wire_batch_raw(const ot_wire_batch *b, size_t i, const uint8_t **out, size_t *out_len);

/* Bytes the decoder allocated (within its budget). */
size_t
ot_wire_batch_bytes(const ot_wire_batch *b);

/* Frees b and its message; sets *b to NULL; safe on NULL. */
void
ot_wire_batch_free(ot_wire_batch **b);

/* True when a length-delimited field of the message in buf holds a NUL byte
 * (protobuf-c's C strings end at the first NUL, so this can only be seen on
 * the wire). Malformed input returns true. */
bool
ot_wire_has_nul_string(const uint8_t *buf, size_t len);

/* Find the last occurrence of length-delimited field `field` at the top
 * level of buf. OUT: *val, *vlen (into buf). Returns 0, OT_ENOTFOUND, or
 * OT_EDECODE for malformed input. */
int
ot_wire_find_bytes(const uint8_t *buf, size_t len, uint32_t field,
                   const uint8_t **val, size_t *vlen);

/* Read a varint at *p (end bounds it); advances *p. Returns 0 or OT_EDECODE. */
int
ot_wire_varint(const uint8_t **p, const uint8_t *end, uint64_t *out);

#endif
