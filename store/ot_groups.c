/*
 * ot_groups: contributions of incidents and aggregate families (contract
 * in ot_groups.h). Walks are bounded by OT_GROUPS_DEPTH_MAX, so a damaged
 * store cannot make them loop; every id taken from a view is copied before
 * the next source call, so a source may reuse its view storage.
 */
#include "ot_groups.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ot_error.h"
#include "ot_hash.h"

/* ---- ranking ------------------------------------------------------------- */

struct ot_groups_rank {
    size_t n;
    char **names;
    size_t *lens;
};

void
ot_groups_rank_free(ot_groups_rank **pr)
{
    ot_groups_rank *r = *pr;
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        free(r->names[i]);
    free(r->names);
    free(r->lens);
    free(r);
    *pr = NULL;
}

int
ot_groups_rank_new(const char *list, ot_groups_rank **out)
{
    *out = NULL;
    ot_groups_rank *r = calloc(1, sizeof *r);
    if (!r)
        return ENOMEM;
    size_t cap = 1;
    for (const char *p = list ? list : ""; *p; p++)
        cap += *p == ',';
    r->names = calloc(cap, sizeof *r->names);
    r->lens = calloc(cap, sizeof *r->lens);
    if (!r->names || !r->lens) {
        ot_groups_rank_free(&r);
        return ENOMEM;
    }
    const char *p = list ? list : "";
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == 0 || ot_groups_rank_of(r, p, len) < r->n) {
            ot_groups_rank_free(&r);
            return EINVAL;   /* "A,,B" or "A,A": not a ranking */
        }
        if (!(r->names[r->n] = strndup(p, len))) {
            ot_groups_rank_free(&r);
            return ENOMEM;
        }
        r->lens[r->n++] = len;
        p += len;
        if (*p == ',' && !*++p) {
            ot_groups_rank_free(&r);
            return EINVAL;   /* trailing comma */
        }
    }
    *out = r;
    return 0;
}

size_t
ot_groups_rank_of(const ot_groups_rank *r, const char *source, size_t len)
{
    if (!r)
        return 0;
    for (size_t i = 0; i < r->n; i++)
        if (r->lens[i] == len && memcmp(r->names[i], source, len) == 0)
            return i;
    return r->n;
}

bool
ot_groups_better(const ot_groups_rank *r, const ot_event_view *a, uint64_t fa,
                 const ot_event_view *b, uint64_t fb)
{
    size_t ra = ot_groups_rank_of(r, a->str[OT_F_EVENT_SOURCE], a->len[OT_F_EVENT_SOURCE]);
    size_t rb = ot_groups_rank_of(r, b->str[OT_F_EVENT_SOURCE], b->len[OT_F_EVENT_SOURCE]);
    return ra != rb ? ra < rb : fa < fb;
}

/* ---- incidents ------------------------------------------------------------ */

typedef struct s_best {
    const ot_groups_rank *rank;
    bool have;
    ot_event_view v;    /* valid until the source changes (ot_groups_src) */
    uint64_t seq, first;
} s_best;

static int
s_pick(void *fctx, const ot_event_view *v, uint64_t seq, uint64_t first_seq)
{
    s_best *b = fctx;
    if (v->num[OT_F_EVENT_RETRACTED] != 0)
        return 0;
    if (!b->have || ot_groups_better(b->rank, v, first_seq, &b->v, b->first)) {
        b->have = true;
        b->v = *v;
        b->seq = seq;
        b->first = first_seq;
    }
    return 0;
}

int
ot_groups_incident_add(const ot_groups_src *src, const ot_groups_rank *rank, const char *inc,
                       size_t len, ot_tally_acc *acc, int sign, uint64_t *counted_seq)
{
    s_best b = { .rank = rank };
    if (counted_seq)
        *counted_seq = 0;
    int rc = src->members(src->ctx, inc, len, s_pick, &b);
    if (rc != 0 || !b.have)
        return rc;
    if (counted_seq)
        *counted_seq = b.seq;
    return acc ? ot_tally_acc_view(acc, &b.v, sign) : 0;
}

/* ---- families --------------------------------------------------------------- */

/* Copy the view's string field f into buf (OT_GROUPS_ID_MAX + 1 bytes). */
static int
s_copy_id(const ot_event_view *v, uint32_t f, char *buf, size_t *len)
{
    *len = v->len[f];
    if (*len > OT_GROUPS_ID_MAX)
        return OT_ECORRUPT;
    if (*len)
        memcpy(buf, v->str[f], *len);
    buf[*len] = '\0';
    return 0;
}

int
ot_groups_placement(const ot_groups_src *src, const ot_view *view, const ot_event_view *a,
                    ot_groups_where *where, char *buf, size_t cap, size_t *len)
{
    int rc = ot_view_agg_key(view, a, buf, cap, len);
    if (rc == OT_ENOTFOUND) {
        *where = OT_GROUPS_UNPLACED;
        *len = 0;
        return 0;
    }
    if (rc != 0)
        return rc == ENOSPC || rc == EINVAL ? OT_ECORRUPT : rc;
    char pid[OT_GROUPS_ID_MAX + 1], pkey[OT_VIEW_KEY_MAX];
    size_t plen;
    if ((rc = s_copy_id(a, OT_F_EVENT_PARENT_ID, pid, &plen)) != 0)
        return rc;
    *where = OT_GROUPS_COUNTED;
    for (int depth = 1; plen > 0; depth++) {
        if (depth >= OT_GROUPS_DEPTH_MAX)
            return OT_ECORRUPT;   /* invariant 2 */
        ot_event_view p;
        uint64_t seq;
        size_t klen;
        rc = src->aggregate(src->ctx, pid, plen, &p, &seq);
        if (rc == OT_ENOTFOUND)
            return 0;
        if (rc != 0)
            return rc;
        if (p.num[OT_F_EVENT_RETRACTED] == 0) {
            rc = ot_view_agg_key(view, &p, pkey, sizeof pkey, &klen);
            if (rc == 0 && klen == *len && memcmp(pkey, buf, klen) == 0) {
                *where = OT_GROUPS_SHADOWED;
                return 0;
            }
            if (rc != 0 && rc != OT_ENOTFOUND)
                return rc == ENOSPC || rc == EINVAL ? OT_ECORRUPT : rc;
        }
        if ((rc = s_copy_id(&p, OT_F_EVENT_PARENT_ID, pid, &plen)) != 0)
            return rc;
    }
    return 0;
}

int
ot_groups_aggregate_add(const ot_groups_src *src, const ot_event_view *a, ot_tally_acc *acc,
                        int sign)
{
    ot_counts c;
    ot_counts_of_view(a, &c);
    if (ot_counts_zero(&c))
        return 0;   /* retracted: counts nowhere */
    char key[OT_VIEW_KEY_MAX];
    /* every view the accumulator adds to (ot_tally_acc_set_views) */
    size_t n = ot_tally_acc_nslots(acc);
    for (size_t i = 0; i < n; i++) {
        const ot_view *view = ot_tally_acc_view_at(acc, i);
        ot_groups_where where;
        size_t len;
        if (!view)
            continue;
        int rc = ot_groups_placement(src, view, a, &where, key, sizeof key, &len);
        if (rc == 0 && where == OT_GROUPS_COUNTED)
            rc = ot_tally_acc_add_key_slot(acc, i, key, len, &c, sign);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int
ot_groups_root(const ot_groups_src *src, const char *id, size_t len, char *root,
               size_t *rootlen)
{
    ot_event_view v;
    uint64_t seq;
    char pid[OT_GROUPS_ID_MAX + 1];
    size_t plen;
    if (len > OT_GROUPS_ID_MAX)
        return OT_ECORRUPT;
    int rc = src->aggregate(src->ctx, id, len, &v, &seq);
    if (rc != 0)
        return rc;
    memcpy(root, id, len);
    root[len] = '\0';
    *rootlen = len;
    for (int depth = 1;; depth++) {
        if ((rc = s_copy_id(&v, OT_F_EVENT_PARENT_ID, pid, &plen)) != 0)
            return rc;
        if (plen == 0)
            return 0;
        rc = src->aggregate(src->ctx, pid, plen, &v, &seq);
        if (rc == OT_ENOTFOUND)
            return 0;
        if (rc != 0)
            return rc;
        if (depth >= OT_GROUPS_DEPTH_MAX)
            return OT_ECORRUPT;
        memcpy(root, pid, plen + 1);
        *rootlen = plen;
    }
}

typedef struct s_walk {
    const ot_groups_src *src;
    ot_groups_node_fn fn;
    void *fctx;
    int depth;
} s_walk;

static int
s_walk_child(void *fctx, const char *id, size_t len)
{
    s_walk *w = fctx;
    ot_event_view v;
    uint64_t seq;
    if (w->depth >= OT_GROUPS_DEPTH_MAX)
        return OT_ECORRUPT;
    int rc = w->src->aggregate(w->src->ctx, id, len, &v, &seq);
    if (rc == OT_ENOTFOUND)
        return 0;   /* an index naming a child that is gone: nothing to count */
    if (rc != 0 || (rc = w->fn(w->fctx, &v, seq)) != 0)
        return rc;
    char cid[OT_GROUPS_ID_MAX + 1];
    if (len > OT_GROUPS_ID_MAX)
        return OT_ECORRUPT;
    memcpy(cid, id, len);   /* the source may reuse id's storage */
    w->depth++;
    rc = w->src->children(w->src->ctx, cid, len, s_walk_child, w);
    w->depth--;
    return rc;
}

int
ot_groups_family_walk(const ot_groups_src *src, const char *root, size_t len,
                      ot_groups_node_fn fn, void *fctx)
{
    s_walk w = { .src = src, .fn = fn, .fctx = fctx, .depth = 0 };
    return s_walk_child(&w, root, len);
}

typedef struct s_add {
    const ot_groups_src *src;
    ot_tally_acc *acc;
    int sign;
} s_add;

static int
s_add_node(void *fctx, const ot_event_view *v, uint64_t seq)
{
    (void)seq;
    s_add *a = fctx;
    return ot_groups_aggregate_add(a->src, v, a->acc, a->sign);
}

int
ot_groups_family_add(const ot_groups_src *src, const char *root, size_t len, ot_tally_acc *acc,
                     int sign)
{
    s_add a = { .src = src, .acc = acc, .sign = sign };
    return ot_groups_family_walk(src, root, len, s_add_node, &a);
}

/* The height of the subtree under id (0: no children), at most limit + 1. */
typedef struct s_height {
    const ot_groups_src *src;
    int depth, max, limit;
} s_height;

static int
s_height_child(void *fctx, const char *id, size_t len)
{
    s_height *h = fctx;
    if (++h->depth > h->max)
        h->max = h->depth;
    int rc = 0;
    if (h->depth <= h->limit) {
        char cid[OT_GROUPS_ID_MAX + 1];
        if (len > OT_GROUPS_ID_MAX)
            return OT_ECORRUPT;
        memcpy(cid, id, len);
        rc = h->src->children(h->src->ctx, cid, len, s_height_child, h);
    }
    h->depth--;
    return rc;
}

int
ot_groups_check_parent(const ot_groups_src *src, const char *id, size_t len, const char *parent,
                       size_t plen, char *why, size_t cap)
{
    char pid[OT_GROUPS_ID_MAX + 1];
    int above = 0;   /* aggregates from parent up to the root */
    if (plen > OT_GROUPS_ID_MAX)
        return OT_ECORRUPT;
    memcpy(pid, parent, plen);
    while (plen > 0) {
        if (plen == len && memcmp(pid, id, len) == 0) {
            snprintf(why, cap, "parent_id '%.64s' makes a loop: '%.64s' is its own ancestor",
                     parent, id);
            return OT_EINVAL_EVENT;
        }
        ot_event_view v;
        uint64_t seq;
        int rc = src->aggregate(src->ctx, pid, plen, &v, &seq);
        if (rc == OT_ENOTFOUND)
            break;
        if (rc != 0)
            return rc;
        if (++above > OT_GROUPS_DEPTH_MAX)
            break;
        if ((rc = s_copy_id(&v, OT_F_EVENT_PARENT_ID, pid, &plen)) != 0)
            return rc;
    }
    s_height h = { .src = src, .limit = OT_GROUPS_DEPTH_MAX };
    int rc = src->children(src->ctx, id, len, s_height_child, &h);
    if (rc != 0)
        return rc;
    if (above + 1 + h.max > OT_GROUPS_DEPTH_MAX) {
        snprintf(why, cap, "parent_id '%.64s' makes a chain of more than %d aggregates "
                 "(parents of parents)", parent, OT_GROUPS_DEPTH_MAX);
        return OT_EINVAL_EVENT;
    }
    return 0;
}

/* ---- string set ------------------------------------------------------------- */

typedef struct s_sent {
    uint64_t h;
    size_t off, len;
} s_sent;

struct ot_groups_set {
    s_sent *e;
    size_t n, cap;
    uint32_t *slots;    /* entry index + 1; 0 empty */
    size_t nslots;
    char *bytes;
    size_t blen, bcap;
    ot_hash_key hk;
};

int
ot_groups_set_new(ot_groups_set **out)
{
    ot_groups_set *s = calloc(1, sizeof *s);
    if (!s)
        return ENOMEM;
    s->nslots = 64;
    if (!(s->slots = calloc(s->nslots, sizeof *s->slots))) {
        free(s);
        return ENOMEM;
    }
    ot_hash_random_key(&s->hk);
    *out = s;
    return 0;
}

void
ot_groups_set_free(ot_groups_set **ps)
{
    ot_groups_set *s = *ps;
    if (!s)
        return;
    free(s->e);
    free(s->slots);
    free(s->bytes);
    free(s);
    *ps = NULL;
}

void
ot_groups_set_clear(ot_groups_set *s)
{
    s->n = 0;
    s->blen = 0;
    memset(s->slots, 0, s->nslots * sizeof *s->slots);
}

static size_t
s_find(const ot_groups_set *s, uint64_t h, const char *str, size_t len, bool *found)
{
    size_t j = h & (s->nslots - 1);
    for (; s->slots[j]; j = (j + 1) & (s->nslots - 1)) {
        const s_sent *e = &s->e[s->slots[j] - 1];
        if (e->h == h && e->len == len && memcmp(s->bytes + e->off, str, len) == 0) {
            *found = true;
            return j;
        }
    }
    *found = false;
    return j;
}

bool
ot_groups_set_has(const ot_groups_set *s, const char *str, size_t len)
{
    bool found;
    (void)s_find(s, ot_hash_sip(&s->hk, str, len), str, len, &found);
    return found;
}

bool
ot_groups_set_find(const ot_groups_set *s, const char *str, size_t len, size_t *index)
{
    bool found;
    size_t j = s_find(s, ot_hash_sip(&s->hk, str, len), str, len, &found);
    if (found)
        *index = s->slots[j] - 1;
    return found;
}

static int
s_set_grow(ot_groups_set *s)
{
    size_t ns = s->nslots * 2;
    uint32_t *t = calloc(ns, sizeof *t);
    if (!t)
        return ENOMEM;
    for (size_t i = 0; i < s->n; i++) {
        size_t j = s->e[i].h & (ns - 1);
        while (t[j])
            j = (j + 1) & (ns - 1);
        t[j] = (uint32_t)(i + 1);
    }
    free(s->slots);
    s->slots = t;
    s->nslots = ns;
    return 0;
}

int
ot_groups_set_add(ot_groups_set *s, const char *str, size_t len, bool *added)
{
    uint64_t h = ot_hash_sip(&s->hk, str, len);
    bool found;
    *added = false;
    if ((s->n + 1) * 2 > s->nslots && s_set_grow(s) != 0)
        return ENOMEM;
    size_t j = s_find(s, h, str, len, &found);
    if (found)
        return 0;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 32;
        s_sent *e = realloc(s->e, cap * sizeof *e);
        if (!e)
            return ENOMEM;
        s->e = e;
        s->cap = cap;
    }
    if (s->bcap - s->blen < len + 1) {
        size_t cap = s->bcap ? s->bcap * 2 : 1024;
        while (cap - s->blen < len + 1)
            cap *= 2;
        char *b = realloc(s->bytes, cap);
        if (!b)
            return ENOMEM;
        s->bytes = b;
        s->bcap = cap;
    }
    memcpy(s->bytes + s->blen, str, len);
    s->bytes[s->blen + len] = '\0';
    s->e[s->n] = (s_sent){ .h = h, .off = s->blen, .len = len };
    s->blen += len + 1;
    s->slots[j] = (uint32_t)(++s->n);
    *added = true;
    return 0;
}

size_t
ot_groups_set_count(const ot_groups_set *s)
{
    return s->n;
}

void
ot_groups_set_at(const ot_groups_set *s, size_t i, const char **str, size_t *len)
{
    *str = s->bytes + s->e[i].off;
    *len = s->e[i].len;
}
