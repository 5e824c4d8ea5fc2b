/*
 * ot_wire: wire scanning and budget-limited decoding (see ot_wire.h).
 */
#include "ot_wire.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ot_error.h"

/* A ProtobufCAllocator that refuses once `limit` bytes are live. Each block
 * carries its size in a header so free can give the bytes back. */
typedef struct s_budget {
    ProtobufCAllocator pa;  /* first: protobuf-c calls us with &pa */
    size_t used;
    size_t limit;
    bool exhausted;         /* set when a refusal happened: tells budget from bad input */
} s_budget;

struct ot_wire_batch {
    s_budget budget;
    Optally__EventBatch *msg;
    size_t n;
    const uint8_t *buf;
    uint32_t *off;          /* n offsets of event bodies into buf */
    uint32_t *len;          /* n lengths */
};

typedef union s_hdr {
    size_t size;
    max_align_t align;      /* keep the user block maximally aligned */
} s_hdr;

static void *
s_budget_alloc(void *data, size_t size)
{
    s_budget *b = data;
    size_t total = size + sizeof(s_hdr);
    if (total < size || b->used + total > b->limit) {
        b->exhausted = true;
        return NULL;
    }
    s_hdr *h = malloc(total);
    if (!h)
        return NULL;
    h->size = total;
    b->used += total;
    return h + 1;
}

static void
s_budget_free(void *data, void *p)
{
    s_budget *b = data;
    if (!p)
        return;
    s_hdr *h = (s_hdr *)p - 1;
    b->used -= h->size;
    free(h);
}

int
ot_wire_varint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
    uint64_t v = 0;
    const uint8_t *q = *p;
    for (int shift = 0; shift < 64; shift += 7) {
        if (q >= end)
            return OT_EDECODE;
        uint8_t c = *q++;
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *p = q;
            *out = v;
            return 0;
        }
    }
    return OT_EDECODE;
}

/* Step over one field at *p. OUT: field number, wire type, and for
 * length-delimited fields the value's start and length. */
static int
s_next_field(const uint8_t **p, const uint8_t *end, uint32_t *field, int *wt,
             const uint8_t **val, size_t *vlen)
{
    uint64_t tag, v;
    if (ot_wire_varint(p, end, &tag) != 0 || (tag >> 3) == 0 || (tag >> 3) > 0x1fffffff)
        return OT_EDECODE;
    *field = (uint32_t)(tag >> 3);
    *wt = (int)(tag & 7);
    *val = NULL;
    *vlen = 0;
    switch (*wt) {
    case 0:
        return ot_wire_varint(p, end, &v);
    case 1:
        if (end - *p < 8) return OT_EDECODE;
        *p += 8;
        return 0;
    case 5:
        if (end - *p < 4) return OT_EDECODE;
        *p += 4;
        return 0;
    case 2:
        if (ot_wire_varint(p, end, &v) != 0 || v > (uint64_t)(end - *p))
            return OT_EDECODE;
        *val = *p;
        *vlen = (size_t)v;
        *p += v;
        return 0;
    default:
        return OT_EDECODE;  /* groups (3, 4) are not used by this schema */
    }
}

int
ot_wire_find_bytes(const uint8_t *buf, size_t len, uint32_t field,
                   const uint8_t **val, size_t *vlen)
{
    const uint8_t *p = buf, *end = buf + len;
    int found = OT_ENOTFOUND;
    while (p < end) {
        uint32_t f; int wt; const uint8_t *v; size_t vl;
        if (s_next_field(&p, end, &f, &wt, &v, &vl) != 0)
            return OT_EDECODE;
        if (f == field && wt == 2) {
            *val = v;
            *vlen = vl;
            found = 0;
        }
    }
    return found;
}

bool
ot_wire_has_nul_string(const uint8_t *buf, size_t len)
{
    const uint8_t *p = buf, *end = buf + len;
    while (p < end) {
        uint32_t f; int wt; const uint8_t *v; size_t vl;
        if (s_next_field(&p, end, &f, &wt, &v, &vl) != 0)
            return true;
        if (wt == 2 && vl && memchr(v, 0, vl))
            return true;
    }
    return false;
}

/* First pass: count and locate field-1 (events) occurrences. */
static int
s_scan_batch(ot_wire_batch *b, const uint8_t *buf, size_t len, size_t max_events)
{
    const uint8_t *p = buf, *end = buf + len;
    size_t n = 0;
    while (p < end) {
        uint32_t f; int wt; const uint8_t *v; size_t vl;
        if (s_next_field(&p, end, &f, &wt, &v, &vl) != 0)
            return OT_EDECODE;
        if (f == 1) {
            if (wt != 2)
                return OT_EDECODE;
            if (n == max_events)
                return OT_ETOOMANY;
            if (n % 256 == 0) {
                uint32_t *o = realloc(b->off, (n + 256) * sizeof *o);
                if (!o) return ENOMEM;
                b->off = o;
                uint32_t *l = realloc(b->len, (n + 256) * sizeof *l);
                if (!l) return ENOMEM;
                b->len = l;
            }
            b->off[n] = (uint32_t)(v - buf);
            b->len[n] = (uint32_t)vl;
            n++;
        }
    }
    b->n = n;
    return 0;
}

int
ot_wire_batch_decode(const uint8_t *buf, size_t len, size_t budget,
                     size_t max_events, ot_wire_batch **out)
{
    *out = NULL;
    if (len > UINT32_MAX)
        return OT_EBUDGET;
    ot_wire_batch *b = calloc(1, sizeof *b);
    if (!b)
        return ENOMEM;
    b->buf = buf;
    int rc = s_scan_batch(b, buf, len, max_events);
    if (rc == 0) {
        b->budget.pa.alloc = s_budget_alloc;
        b->budget.pa.free = s_budget_free;
        b->budget.pa.allocator_data = &b->budget;
        b->budget.limit = budget;
        b->msg = optally__event_batch__unpack(&b->budget.pa, len, buf);
        if (!b->msg)
            rc = b->budget.exhausted ? OT_EBUDGET : OT_EDECODE;
        else if (b->msg->n_events != b->n)
            rc = OT_EDECODE;  /* cannot happen if the scan is right; refuse rather than misindex */
    }
    if (rc != 0) {
        ot_wire_batch_free(&b);
        return rc;
    }
    *out = b;
    return 0;
}

const Optally__EventBatch *
ot_wire_batch_msg(const ot_wire_batch *b)
{
    return b->msg;
}

void
ot_wire_batch_raw(const ot_wire_batch *b, size_t i, const uint8_t **out, size_t *out_len)
{
    *out = b->buf + b->off[i];
    *out_len = b->len[i];
}

size_t
ot_wire_batch_bytes(const ot_wire_batch *b)
{
    return b->budget.used;
}

void
ot_wire_batch_free(ot_wire_batch **pb)
{
    ot_wire_batch *b = *pb;
    if (!b)
        return;
    if (b->msg)
        optally__event_batch__free_unpacked(b->msg, &b->budget.pa);
    free(b->off);
    free(b->len);
    free(b);
    *pb = NULL;
}
