/*
 * ot_delim: length-delimited protobuf streams (contract in ot_delim.h).
 *
 * The reader keeps one buffer: buf[pos, end) holds bytes read but not yet
 * consumed. It reads in large blocks (read(2)), and only moves the unconsumed
 * tail to the front when a record does not fit behind it, so a stream of
 * small records costs one copy per block, not per record. The buffer grows
 * to the largest record seen (bounded by max + a prefix: invariant 2).
 */
#include "ot_delim.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ot_error.h"
#include "ot_wire.h"

#define S_BLOCK  (256u * 1024)   /* bytes asked of read(2) at a time */

struct ot_delim_reader {
    int fd;
    size_t max;
    uint8_t *buf;
    size_t cap, pos, end;
    uint64_t base;       /* stream offset of buf[0] */
    bool eof;
    int err;             /* sticky: the answer once something went wrong */
    char why[160];
};

size_t
ot_delim_put_len(uint8_t *out, uint64_t len)
{
    return ot_wire_put_varint(out, len);   /* the one varint writer */
}

ot_delim_status
ot_delim_frame(const uint8_t *buf, size_t avail, int at_eof, size_t max,
               size_t *hdr, uint64_t *len)
{
    uint64_t v = 0;
    size_t i = 0;
    if (avail == 0)
        return at_eof ? OT_DELIM_END : OT_DELIM_MORE;
    for (;; i++) {
        if (i == OT_DELIM_VARINT_MAX)
            return OT_DELIM_BAD_VARINT;
        if (i == avail)
            return at_eof ? OT_DELIM_CUT_PREFIX : OT_DELIM_MORE;
        uint8_t c = buf[i];
        /* The 10th byte may carry only the top bit of a 64-bit value. */
        if (i == OT_DELIM_VARINT_MAX - 1 && c > 1)
            return OT_DELIM_BAD_VARINT;
        v |= (uint64_t)(c & 0x7f) << (7 * i);
        if (!(c & 0x80))
            break;
    }
    *hdr = i + 1;
    *len = v;
    if (v > max)
        return OT_DELIM_TOO_LONG;
    if (v > avail - *hdr)
        return at_eof ? OT_DELIM_CUT_RECORD : OT_DELIM_MORE;
    return OT_DELIM_RECORD;
}

int
ot_delim_reader_new(int fd, size_t max, ot_delim_reader **out)
{
    ot_delim_reader *r = calloc(1, sizeof *r);
    if (!r)
        return ENOMEM;
    r->fd = fd;
    r->max = max ? max : OT_DELIM_DEFAULT_MAX;
    *out = r;
    return 0;
}

void
ot_delim_reader_free(ot_delim_reader **pr)
{
    ot_delim_reader *r = *pr;
    if (!r)
        return;
    free(r->buf);
    free(r);
    *pr = NULL;
}

/* Make room for at least need bytes from pos on, then read one block.
 * Returns 0 (possibly having hit EOF), an errno, or ENOMEM. */
static int
s_fill(ot_delim_reader *r, size_t need)
{
    if (r->pos > 0 && r->cap - r->pos < need + S_BLOCK) {
        memmove(r->buf, r->buf + r->pos, r->end - r->pos);
        r->base += r->pos;
        r->end -= r->pos;
        r->pos = 0;
    }
    if (r->cap - r->end < S_BLOCK || r->cap < need) {
        size_t cap = r->end + (need > S_BLOCK ? need : S_BLOCK);
        uint8_t *b = realloc(r->buf, cap);
        if (!b)
            return ENOMEM;
        r->buf = b;
        r->cap = cap;
    }
    /* read(2), not fread: a pipe gives what it has, so records streamed
     * into standard input go on as they arrive. */
    ssize_t got;
    do
        got = read(r->fd, r->buf + r->end, r->cap - r->end);
    while (got < 0 && errno == EINTR);
    if (got < 0)
        return errno;
    if (got == 0)
        r->eof = true;
    r->end += (size_t)got;
    return 0;
}

static int
s_bad(ot_delim_reader *r, ot_delim_status st, uint64_t len)
{
    size_t left = r->end - r->pos;
    switch (st) {
    case OT_DELIM_CUT_PREFIX:
        snprintf(r->why, sizeof r->why, "length prefix truncated by the end of the file");
        break;
    case OT_DELIM_BAD_VARINT:
        snprintf(r->why, sizeof r->why, "length prefix is not a valid varint");
        break;
    case OT_DELIM_TOO_LONG:
        snprintf(r->why, sizeof r->why, "record length %" PRIu64 " exceeds the limit of %zu bytes",
                 len, r->max);
        break;
    default:
        snprintf(r->why, sizeof r->why, "record truncated: the length prefix says %" PRIu64
                 " bytes, the file ends %zu bytes after it", len, left);
        break;
    }
    r->err = OT_EDECODE;
    return r->err;
}

int
ot_delim_next(ot_delim_reader *r, const uint8_t **rec, size_t *len, uint64_t *offset)
{
    *offset = r->base + r->pos;
    if (r->err)
        return r->err;
    for (;;) {
        size_t hdr = 0;
        uint64_t n = 0;
        ot_delim_status st = ot_delim_frame(r->buf + r->pos, r->end - r->pos, r->eof,
                                            r->max, &hdr, &n);
        if (st == OT_DELIM_RECORD) {
            *rec = r->buf + r->pos + hdr;
            *len = (size_t)n;
            r->pos += hdr + (size_t)n;
            return 0;
        }
        if (st == OT_DELIM_END) {
            r->err = OT_ENOTFOUND;
            return r->err;
        }
        if (st != OT_DELIM_MORE)
            return s_bad(r, st, n);
        /* hdr + n is known once the prefix is whole; ask for all of it. */
        size_t need = hdr ? hdr + (size_t)n : OT_DELIM_VARINT_MAX;
        int rc = s_fill(r, need);
        if (rc != 0) {
            r->err = rc;
            return rc;
        }
    }
}

const char *
ot_delim_reader_why(const ot_delim_reader *r)
{
    return r->why;
}

uint64_t
ot_delim_reader_offset(const ot_delim_reader *r)
{
    return r->base + r->pos;
}
