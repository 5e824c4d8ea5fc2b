/*
 * ot_tally: a small hash map from tally key to summed delta, with the keys
 * kept in insertion order (entries[]) and a probe table of indexes (slots[]).
 *
 * The views: the built-in ones keep their own loop (a bit test each, then
 * the key builder they always had: the plain-event fast path is the same
 * work as before views could be declared); the declared views of the set
 * are listed once per ot_tally_acc_set_views (decl[]), so an event costs
 * nothing for views that are not there.
 */
#include "ot_tally.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ot_error.h"
#include "ot_hash.h"
#include "ot_view.h"

#define S_DATE_LEN    10   /* "YYYY-MM-DD" */
#define S_COUNTRY_MAX 15   /* bytes; a valid country has 2 */

typedef struct s_entry {
    uint64_t hash;
    size_t off;             /* key bytes in keys[] */
    uint32_t len;           /* keys are short (OT_VIEW_KEY_MAX) */
    uint32_t slot;          /* the key's view slot (with len: the entry is no
                               larger than before views had slots) */
    ot_counts delta;
} s_entry;

struct ot_tally_acc {
    s_entry *entries;
    size_t n, cap;
    uint32_t *slots;        /* entry index + 1, 0 empty */
    size_t nslots;          /* power of two, > 2 * n */
    char *keys;
    size_t keylen, keycap;
    ot_hash_key hk;
    const ot_viewset *vs;   /* borrowed; NULL: the built-in views */
    uint64_t mask;          /* selected slots */
    size_t ndecl;           /* declared views selected: */
    const ot_view *decl[OT_VIEWSET_MAX];
    uint32_t decl_slot[OT_VIEWSET_MAX];
};

int
ot_tally_acc_new(ot_tally_acc **out)
{
    ot_tally_acc *a = calloc(1, sizeof *a);
    if (!a)
        return ENOMEM;
    a->nslots = 256;
    a->slots = calloc(a->nslots, sizeof *a->slots);
    if (!a->slots) {
        free(a);
        return ENOMEM;
    }
    ot_hash_random_key(&a->hk);
    a->mask = OT_TALLY_ALL_SLOTS;
    *out = a;
    return 0;
}

void
ot_tally_acc_set_views(ot_tally_acc *a, const ot_viewset *vs, uint64_t slots)
{
    a->vs = vs;
    a->mask = slots;
    a->ndecl = 0;
    if (!vs)
        return;
    size_t n = ot_viewset_count(vs);
    for (size_t i = ot_view_count(); i < n && i < OT_VIEWSET_MAX; i++) {
        const ot_view *v = ot_viewset_at(vs, i);
        if (!v || !((slots >> i) & 1u))
            continue;
        a->decl[a->ndecl] = v;
        a->decl_slot[a->ndecl++] = (uint32_t)i;
    }
}

const ot_viewset *
ot_tally_acc_views(const ot_tally_acc *a, uint64_t *slots)
{
    if (slots)
        *slots = a->mask;
    return a->vs;
}

size_t
ot_tally_acc_nslots(const ot_tally_acc *a)
{
    size_t n = ot_view_count();
    return a->ndecl ? a->decl_slot[a->ndecl - 1] + 1 : n;
}

const ot_view *
ot_tally_acc_view_at(const ot_tally_acc *a, size_t i)
{
    if (i >= OT_VIEWSET_MAX || !((a->mask >> i) & 1u))
        return NULL;
    if (i < ot_view_count())
        return ot_view_at(i);
    for (size_t d = 0; d < a->ndecl; d++)
        if (a->decl_slot[d] == i)
            return a->decl[d];
    return NULL;
}

/* The slot of the view named by key up to its first '/', among the views
 * of a's set, selected or not (0 when none names it: only misuse gets
 * there). */
static uint32_t
s_slot_of_key(const ot_tally_acc *a, const char *key, size_t len)
{
    const char *slash = memchr(key, '/', len);
    size_t nl = slash ? (size_t)(slash - key) : len;
    for (size_t i = 0; i < ot_view_count(); i++) {
        const char *name = ot_view_at(i)->name;
        if (strlen(name) == nl && memcmp(name, key, nl) == 0)
            return (uint32_t)i;
    }
    size_t n = a->vs ? ot_viewset_count(a->vs) : 0;
    for (size_t i = ot_view_count(); i < n; i++) {
        const ot_view *v = ot_viewset_at(a->vs, i);
        if (v && strlen(v->name) == nl && memcmp(v->name, key, nl) == 0)
            return (uint32_t)i;
    }
    return 0;
}

void
ot_tally_acc_free(ot_tally_acc **pa)
{
    ot_tally_acc *a = *pa;
    if (!a)
        return;
    free(a->entries);
    free(a->slots);
    free(a->keys);
    free(a);
    *pa = NULL;
}

void
ot_tally_acc_reset(ot_tally_acc *a)
{
    a->n = 0;
    a->keylen = 0;
    memset(a->slots, 0, a->nslots * sizeof *a->slots);
}

static int
s_rehash(ot_tally_acc *a)
{
    size_t ns = a->nslots * 2;
    uint32_t *s = calloc(ns, sizeof *s);
    if (!s)
        return ENOMEM;
    for (size_t i = 0; i < a->n; i++) {
        size_t j = a->entries[i].hash & (ns - 1);
        while (s[j])
            j = (j + 1) & (ns - 1);
        s[j] = (uint32_t)(i + 1);
    }
    free(a->slots);
    a->slots = s;
    a->nslots = ns;
    return 0;
}

/* Find or add the entry of key (of the view at slot). OUT: *out. */
static int
s_lookup(ot_tally_acc *a, uint32_t slot, const char *key, size_t len, s_entry **out)
{
    if (len > UINT32_MAX)
        return ENOSPC;   /* no key is near that: misuse */
    uint64_t h = ot_hash_sip(&a->hk, key, len);
    size_t j = h & (a->nslots - 1);
    while (a->slots[j]) {
        s_entry *e = &a->entries[a->slots[j] - 1];
        if (e->hash == h && e->len == len && memcmp(a->keys + e->off, key, len) == 0) {
            *out = e;
            return 0;
        }
        j = (j + 1) & (a->nslots - 1);
    }
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 64;
        s_entry *e = realloc(a->entries, cap * sizeof *e);
        if (!e)
            return ENOMEM;
        a->entries = e;
        a->cap = cap;
    }
    if (a->keylen + len > a->keycap) {
        size_t cap = a->keycap ? a->keycap * 2 : 4096;
        while (cap < a->keylen + len)
            cap *= 2;
        char *k = realloc(a->keys, cap);
        if (!k)
            return ENOMEM;
        a->keys = k;
        a->keycap = cap;
    }
    s_entry *e = &a->entries[a->n];
    memset(e, 0, sizeof *e);
    e->hash = h;
    e->off = a->keylen;
    e->len = (uint32_t)len;
    e->slot = slot;
    memcpy(a->keys + a->keylen, key, len);
    a->keylen += len;
    a->slots[j] = (uint32_t)(++a->n);
    if (a->n * 2 > a->nslots && s_rehash(a) != 0) {
        /* The entry is in place but unreachable through slots: report the
         * failure so the caller resets. */
        return ENOMEM;
    }
    *out = &a->entries[a->n - 1];
    return 0;
}

/* Copy view string id into buf (cap bytes) as a C string. */
static int
s_cstr(const ot_event_view *v, uint32_t id, char *buf, size_t cap)
{
    if (v->len[id] >= cap)
        return OT_ECORRUPT;
    if (v->len[id])
        memcpy(buf, v->str[id], v->len[id]);
    buf[v->len[id]] = '\0';
    return 0;
}

int
ot_tally_acc_view(ot_tally_acc *a, const ot_event_view *v, int sign)
{
    ot_counts c;
    ot_counts_of_view(v, &c);
    if (ot_counts_zero(&c))
        return 0;   /* a retraction contributes nothing */
    /* ot_view_key reads a message: give it one holding the fields a view
     * can group by (ot_view.c: country, occurred_on, partner_force), copied
     * as C strings since view strings need not end in a NUL. A view over
     * another field must add it here; test_tally compares every view's key
     * from a decoded event with the key from its wire bytes. */
    char on[S_DATE_LEN + 1], cc[S_COUNTRY_MAX + 1], pf[OT_EVENT_PARTNER_FORCE_MAX + 1];
    if (v->len[OT_F_EVENT_OCCURRED_ON] != S_DATE_LEN ||
        s_cstr(v, OT_F_EVENT_OCCURRED_ON, on, sizeof on) != 0 ||
        s_cstr(v, OT_F_EVENT_COUNTRY, cc, sizeof cc) != 0 ||
        s_cstr(v, OT_F_EVENT_PARTNER_FORCE, pf, sizeof pf) != 0)
        return OT_ECORRUPT;   /* validation never lets such an event in */
    Optally__OperationEvent ev = OPTALLY__OPERATION_EVENT__INIT;
    ev.occurred_on = on;
    ev.country = cc;
    ev.partner_force = pf;
    char key[OT_VIEW_KEY_MAX];
    for (size_t i = 0; i < ot_view_count(); i++) {
        size_t len;
        if (!((a->mask >> i) & 1u))
            continue;
        int rc = ot_view_key(ot_view_at(i), &ev, key, sizeof key, &len);
        if (rc != 0)
            return rc;
        s_entry *e;
        rc = s_lookup(a, (uint32_t)i, key, len, &e);
        if (rc != 0)
            return rc;
        ot_counts_add(&e->delta, &c, sign);
    }
    for (size_t d = 0; d < a->ndecl; d++) {
        size_t len;
        int rc = ot_view_key_ev(a->decl[d], v, key, sizeof key, &len);
        if (rc == OT_ENOTFOUND)
            continue;   /* the view's filters leave the event out */
        if (rc != 0)
            return rc;
        s_entry *e;
        if ((rc = s_lookup(a, a->decl_slot[d], key, len, &e)) != 0)
            return rc;
        ot_counts_add(&e->delta, &c, sign);
    }
    return 0;
}

int
ot_tally_acc_event(ot_tally_acc *a, const Optally__OperationEvent *ev, int sign)
{
    ot_event_view v;
    ot_event_view_of(ev, &v);
    return ot_tally_acc_view(a, &v, sign);
}

int
ot_tally_acc_add_key(ot_tally_acc *a, const char *key, size_t len, const ot_counts *c, int sign)
{
    return ot_tally_acc_add_key_slot(a, s_slot_of_key(a, key, len), key, len, c, sign);
}

int
ot_tally_acc_add_key_slot(ot_tally_acc *a, size_t slot, const char *key, size_t len,
                          const ot_counts *c, int sign)
{
    s_entry *e;
    int rc = s_lookup(a, (uint32_t)slot, key, len, &e);
    if (rc != 0)
        return rc;
    ot_counts_add(&e->delta, c, sign);
    return 0;
}

size_t
ot_tally_acc_count(const ot_tally_acc *a)
{
    return a->n;
}

void
ot_tally_acc_at(const ot_tally_acc *a, size_t i, const char **key, size_t *len,
                const ot_counts **delta)
{
    *key = a->keys + a->entries[i].off;
    *len = a->entries[i].len;
    *delta = &a->entries[i].delta;
}

size_t
ot_tally_acc_slot_at(const ot_tally_acc *a, size_t i)
{
    return a->entries[i].slot;
}
