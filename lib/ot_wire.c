/*
 * ot_wire: wire scanning and budget-limited decoding (see ot_wire.h).
 */
#include "ot_wire.h"

#include <assert.h>
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
    bool oom;               /* set when malloc itself failed: ENOMEM, not bad input */
} s_budget;

struct ot_wire_batch {
    s_budget budget;
    Optally__EventBatch *msg;
    size_t n;
    const uint8_t *buf;
    uint32_t *off;          /* n offsets of event bodies into buf */
    uint32_t *len;          /* n lengths */
    size_t nf;
    uint32_t *foff;         /* nf offsets of figure bodies into buf */
    uint32_t *flen;         /* nf lengths */
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
    if (!h) {
        b->oom = true;
        return NULL;
    }
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

size_t
ot_wire_put_varint(uint8_t *out, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        out[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    out[n++] = (uint8_t)v;
    return n;
}

static uint64_t
s_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

int
ot_wire_next_field(const uint8_t **p, const uint8_t *end, ot_wire_field *f)
{
    uint64_t tag;
    if (ot_wire_varint(p, end, &tag) != 0 || (tag >> 3) == 0 || (tag >> 3) > 0x1fffffff)
        return OT_EDECODE;
    f->num = (uint32_t)(tag >> 3);
    f->wt = (int)(tag & 7);
    f->val = NULL;
    f->len = 0;
    switch (f->wt) {
    case OT_WIRE_VARINT:
        return ot_wire_varint(p, end, &f->u);
    case OT_WIRE_I64:
    case OT_WIRE_I32: {
        int w = f->wt == OT_WIRE_I64 ? 8 : 4;
        if (end - *p < w)
            return OT_EDECODE;
        f->u = s_le(*p, w);
        *p += w;
        return 0;
    }
    case OT_WIRE_LEN:
        if (ot_wire_varint(p, end, &f->u) != 0 || f->u > (uint64_t)(end - *p))
            return OT_EDECODE;
        f->val = *p;
        f->len = (size_t)f->u;
        *p += f->len;
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
        ot_wire_field f;
        if (ot_wire_next_field(&p, end, &f) != 0)
            return OT_EDECODE;
        if (f.num == field && f.wt == OT_WIRE_LEN) {
            *val = f.val;
            *vlen = f.len;
            found = 0;
        }
    }
    return found;
}

/* True when field num of message d is a string (by its descriptor, so a
 * string field added to the proto is checked without touching this). */
static bool
s_is_string(const ProtobufCMessageDescriptor *d, uint32_t num)
{
    const ProtobufCFieldDescriptor *fd = protobuf_c_message_descriptor_get_field(d, num);
    return fd != NULL && fd->type == PROTOBUF_C_TYPE_STRING;
}

static bool
s_has_nul_string(const ProtobufCMessageDescriptor *d, const uint8_t *buf, size_t len)
{
    const uint8_t *p = buf, *end = buf + len;
    while (p < end) {
        ot_wire_field f;
        if (ot_wire_next_field(&p, end, &f) != 0)
            return true;
        if (f.wt == OT_WIRE_LEN && f.len && s_is_string(d, f.num) && memchr(f.val, 0, f.len))
            return true;
    }
    return false;
}

bool
ot_wire_has_nul_string(const uint8_t *buf, size_t len)
{
    return s_has_nul_string(&optally__operation_event__descriptor, buf, len);
}

bool
ot_wire_figure_has_nul_string(const uint8_t *buf, size_t len)
{
    return s_has_nul_string(&optally__figure__descriptor, buf, len);
}

/* First pass: count the `events` and `figures` fields (refusing a batch
 * whose events and figures together pass the limit before anything is
 * allocated), then locate them into arrays of exactly that size: one
 * allocation each, whatever the count (growing them in steps copied
 * O(n^2) bytes for a million-event batch). */
static int
s_scan_batch(ot_wire_batch *b, const uint8_t *buf, size_t len, size_t max_events)
{
    const uint8_t *p = buf, *end = buf + len;
    ot_wire_field f;
    size_t n = 0, nf = 0;
    while (p < end) {
        if (ot_wire_next_field(&p, end, &f) != 0)
            return OT_EDECODE;
        if (f.num == OT_F_BATCH_EVENTS || f.num == OT_F_BATCH_FIGURES) {
            if (f.wt != OT_WIRE_LEN)
                return OT_EDECODE;
            if (n + nf == max_events)
                return OT_ETOOMANY;
            if (f.num == OT_F_BATCH_EVENTS)
                n++;
            else
                nf++;
        }
    }
    b->off = malloc((n ? n : 1) * sizeof *b->off);
    b->len = malloc((n ? n : 1) * sizeof *b->len);
    b->foff = malloc((nf ? nf : 1) * sizeof *b->foff);
    b->flen = malloc((nf ? nf : 1) * sizeof *b->flen);
    if (!b->off || !b->len || !b->foff || !b->flen)
        return ENOMEM;
    for (p = buf, n = nf = 0; p < end;) {
        (void)ot_wire_next_field(&p, end, &f);   /* well-formed: checked above */
        if (f.num == OT_F_BATCH_EVENTS) {
            b->off[n] = (uint32_t)(f.val - buf);
            b->len[n] = (uint32_t)f.len;
            n++;
        } else if (f.num == OT_F_BATCH_FIGURES) {
            b->foff[nf] = (uint32_t)(f.val - buf);
            b->flen[nf] = (uint32_t)f.len;
            nf++;
        }
    }
    b->n = n;
    b->nf = nf;
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
            rc = b->budget.oom ? ENOMEM : b->budget.exhausted ? OT_EBUDGET : OT_EDECODE;
        else if (b->msg->n_events != b->n || b->msg->n_figures != b->nf)
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
    assert(i < b->n);
    *out = b->buf + b->off[i];
    *out_len = b->len[i];
}

void
ot_wire_batch_figure_raw(const ot_wire_batch *b, size_t i, const uint8_t **out,
                         size_t *out_len)
{
    assert(i < b->nf);
    *out = b->buf + b->foff[i];
    *out_len = b->flen[i];
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
    free(b->foff);
    free(b->flen);
    free(b);
    *pb = NULL;
}
