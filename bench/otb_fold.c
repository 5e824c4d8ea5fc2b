/*
 * otb_fold: decode, validate, key and hash one event for the baselines
 * (see otb_fold.h).
 */
#include "otb_fold.h"

#include <string.h>

static uint64_t
s_fnv(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ULL;
    return h;
}

int
otb_fold_decode(const uint8_t *data, size_t n, int64_t now_ms, otb_fold *f)
{
    memset(f, 0, sizeof *f);
    f->ev = optally__operation_event__unpack(NULL, n, data);
    if (!f->ev)
        return -1;
    ot_reject rj;
    if (ot_event_validate(f->ev, now_ms, &rj) != 0) {
        otb_fold_clear(f);
        return -1;
    }
    for (size_t v = 0; v < OTB_NVIEWS; v++)
        if (ot_view_key(ot_view_at(v), f->ev, f->keys[v], sizeof f->keys[v], &f->keylen[v]) != 0) {
            otb_fold_clear(f);
            return -1;
        }
    ot_counts_of(f->ev, &f->counts);
    /* The packed bytes without reported_at: pack a copy with it zeroed. */
    int64_t at = f->ev->reported_at;
    uint8_t buf[OT_EVENT_NOTES_MAX + 8 * OT_EVENT_STRING_MAX];
    f->ev->reported_at = 0;
    size_t len = optally__operation_event__get_packed_size(f->ev);
    f->chash = len <= sizeof buf ? s_fnv(1469598103934665603ULL, buf,
                                         optally__operation_event__pack(f->ev, buf))
                                 : (uint64_t)len;
    f->ev->reported_at = at;
    return 0;
}

void
otb_fold_clear(otb_fold *f)
{
    if (f->ev)
        optally__operation_event__free_unpacked(f->ev, NULL);
    f->ev = NULL;
}
