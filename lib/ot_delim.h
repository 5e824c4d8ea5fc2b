/*
 * ot_delim: length-delimited protobuf streams, the format of protobuf's
 * writeDelimitedTo / parseDelimitedFrom (Java), Python's
 * _VarintBytes + SerializeToString, Go's protodelim: each message is
 * preceded by its byte length as a base-128 varint, nothing else (no magic
 * number, no trailer). `optally log export` writes LogRecords this way;
 * `optally log import` and `optally produce --format pb` read them.
 *
 * The reader frames, it does not decode: it hands out the bytes of each
 * record and leaves the message type to the caller.
 *
 * Invariants:
 *  1. A stream ends cleanly only at a record boundary. EOF inside a length
 *     prefix or inside a record is a bad record, reported with the byte
 *     offset of the record's first prefix byte, so what precedes it can be
 *     trusted and what follows is never read.
 *  2. A record longer than the reader's limit is refused before anything is
 *     allocated for it: a corrupted prefix cannot make the reader allocate
 *     gigabytes.
 *  3. After a bad record or a read error the reader only repeats that
 *     answer; it never resynchronises (a guess at the next boundary could
 *     turn garbage into plausible records).
 */
#ifndef OT_DELIM_H
#define OT_DELIM_H

#include <stddef.h>
#include <stdint.h>

#define OT_DELIM_VARINT_MAX   10          /* bytes of a 64-bit varint */
#define OT_DELIM_DEFAULT_MAX  (1u << 20)  /* default record limit: 1 MiB */

/* Write the varint of len into out (at least OT_DELIM_VARINT_MAX bytes).
 * Returns the number of bytes written (1..10). */
size_t
ot_delim_put_len(uint8_t *out, uint64_t len);

/* Outcome of framing what is buffered (ot_delim_frame). */
typedef enum ot_delim_status {
    OT_DELIM_RECORD,     /* a whole record is there: *hdr prefix bytes, then *len */
    OT_DELIM_MORE,       /* need more bytes to decide (not at EOF) */
    OT_DELIM_END,        /* nothing buffered and at EOF: the clean end */
    OT_DELIM_CUT_PREFIX, /* bad: EOF inside the length prefix */
    OT_DELIM_BAD_VARINT, /* bad: the prefix runs past 10 bytes or 64 bits */
    OT_DELIM_TOO_LONG,   /* bad: the length (*len) is over the limit */
    OT_DELIM_CUT_RECORD, /* bad: EOF inside the record (*len declared) */
} ot_delim_status;

/* Frame the record at the start of buf (avail bytes; at_eof non-zero: no
 * more bytes will come). Pure: no allocation, no I/O; the reader is built
 * on it and tests drive it directly. OUT: *hdr (prefix bytes) and *len
 * (record bytes) for OT_DELIM_RECORD; *len also for TOO_LONG / CUT_RECORD.
 * max is the largest record length accepted. */
ot_delim_status
ot_delim_frame(const uint8_t *buf, size_t avail, int at_eof, size_t max,
               size_t *hdr, uint64_t *len);

typedef struct ot_delim_reader ot_delim_reader;

/* A reader over the file descriptor fd (borrowed; the caller closes it
 * after freeing the reader), refusing records longer than max bytes (0: OT_DELIM_DEFAULT_MAX).
 * OUT: *out, owned, freed with ot_delim_reader_free(). Returns 0 or ENOMEM. */
int
ot_delim_reader_new(int fd, size_t max, ot_delim_reader **out);

/* Frees r; sets *r to NULL; safe on NULL. */
void
ot_delim_reader_free(ot_delim_reader **r);

/* The next record. OUT: *rec and *len (borrowed until the next call),
 * *offset: the byte offset of the record's length prefix in the stream.
 * Returns 0 for a record; OT_ENOTFOUND at the clean end of the stream;
 * OT_EDECODE for a bad record (ot_delim_reader_why() says why; *offset is
 * where it starts); an errno for a read error or ENOMEM. Once it returned
 * anything but 0 it returns the same again (invariant 3). */
int
ot_delim_next(ot_delim_reader *r, const uint8_t **rec, size_t *len, uint64_t *offset);

/* Why the last ot_delim_next() found a bad record, e.g. "record truncated:
 * the length prefix says 180 bytes, the file ends after 37", or "".
 * Borrowed from r. */
const char *
ot_delim_reader_why(const ot_delim_reader *r);

/* Bytes consumed so far (the offset just past the last record returned). */
uint64_t
ot_delim_reader_offset(const ot_delim_reader *r);

#endif
