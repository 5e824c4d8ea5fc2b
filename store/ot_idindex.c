/*
 * ot_idindex: open addressing with linear probing over 16-byte entries.
 * seq 0 marks an empty slot (log sequences start at 1).
 */
#include "ot_idindex.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>

typedef struct s_entry {
    uint64_t hash;
    uint64_t seq;           /* 0: empty */
} s_entry;

typedef struct s_undo {
    size_t slot;
    uint64_t old_seq;       /* 0: the slot was empty (an insert) */
} s_undo;

struct ot_idindex {
    s_entry *tab;
    size_t cap;             /* power of two */
    size_t count;
    size_t reserved;        /* inserts allowed before the next reserve */
    s_undo *undo;
    size_t nundo, capundo;
};

#define S_MIN_CAP 1024

int
ot_idindex_new(ot_idindex **out)
{
    ot_idindex *ix = calloc(1, sizeof *ix);
    if (!ix)
        return ENOMEM;
    ix->tab = calloc(S_MIN_CAP, sizeof *ix->tab);
    if (!ix->tab) {
        free(ix);
        return ENOMEM;
    }
    ix->cap = S_MIN_CAP;
    *out = ix;
    return 0;
}

void
ot_idindex_free(ot_idindex **pix)
{
    ot_idindex *ix = *pix;
    if (!ix)
        return;
    free(ix->tab);
    free(ix->undo);
    free(ix);
    *pix = NULL;
}

static size_t
s_home(const ot_idindex *ix, uint64_t h)
{
    return (size_t)(h ^ (h >> 29)) & (ix->cap - 1);
}

static int
s_grow(ot_idindex *ix, size_t newcap)
{
    s_entry *t = calloc(newcap, sizeof *t);
    if (!t)
        return ENOMEM;
    s_entry *old = ix->tab;
    size_t oldcap = ix->cap;
    ix->tab = t;
    ix->cap = newcap;
    for (size_t i = 0; i < oldcap; i++) {
        if (!old[i].seq)
            continue;
        size_t j = s_home(ix, old[i].hash);
        while (t[j].seq)
            j = (j + 1) & (newcap - 1);
        t[j] = old[i];
    }
    free(old);
    return 0;
}

int
ot_idindex_reserve(ot_idindex *ix, size_t more)
{
    assert(ix->nundo == 0 && "reserve only between transactions");
    size_t need = ix->count + more;
    size_t cap = ix->cap;
    while (need > cap / 4 * 3)
        cap *= 2;
    if (cap != ix->cap && s_grow(ix, cap) != 0)
        return ENOMEM;
    /* Journal room: at most one undo record per insert or set. */
    if (ix->capundo < 2 * more) {
        s_undo *u = realloc(ix->undo, 2 * more * sizeof *u);
        if (!u)
            return ENOMEM;
        ix->undo = u;
        ix->capundo = 2 * more;
    }
    ix->reserved = more;
    return 0;
}

bool
ot_idindex_next(const ot_idindex *ix, uint64_t h, size_t *cursor, uint64_t *seq)
{
    /* cursor 0 = start; otherwise it is slot+1 of the last candidate. */
    size_t i = *cursor ? (*cursor) & (ix->cap - 1) : s_home(ix, h);
    while (ix->tab[i].seq) {
        if (ix->tab[i].hash == h) {
            *seq = ix->tab[i].seq;
            *cursor = i + 1;
            return true;
        }
        i = (i + 1) & (ix->cap - 1);
    }
    return false;
}

static void
s_journal(ot_idindex *ix, size_t slot, uint64_t old_seq)
{
    assert(ix->nundo < ix->capundo && "reserve before the transaction");
    ix->undo[ix->nundo].slot = slot;
    ix->undo[ix->nundo].old_seq = old_seq;
    ix->nundo++;
}

void
ot_idindex_set(ot_idindex *ix, size_t cursor, uint64_t seq)
{
    size_t slot = (cursor - 1) & (ix->cap - 1);
    assert(ix->tab[slot].seq != 0);
    s_journal(ix, slot, ix->tab[slot].seq);
    ix->tab[slot].seq = seq;
}

void
ot_idindex_insert(ot_idindex *ix, uint64_t h, uint64_t seq)
{
    assert(seq != 0);
    assert(ix->reserved > 0 && "reserve before inserting");
    size_t i = s_home(ix, h);
    while (ix->tab[i].seq)
        i = (i + 1) & (ix->cap - 1);
    s_journal(ix, i, 0);
    ix->tab[i].hash = h;
    ix->tab[i].seq = seq;
    ix->count++;
    ix->reserved--;
}

void
ot_idindex_commit(ot_idindex *ix)
{
    ix->nundo = 0;
}

void
ot_idindex_rollback(ot_idindex *ix)
{
    /* Reverse order: a slot filled by an insert is emptied only after every
     * later insert (which may have probed past it) is undone. */
    while (ix->nundo > 0) {
        s_undo *u = &ix->undo[--ix->nundo];
        if (u->old_seq == 0) {
            ix->tab[u->slot].seq = 0;
            ix->tab[u->slot].hash = 0;
            ix->count--;
        } else {
            ix->tab[u->slot].seq = u->old_seq;
        }
    }
}

size_t
ot_idindex_count(const ot_idindex *ix)
{
    return ix->count;
}

size_t
ot_idindex_bytes(const ot_idindex *ix)
{
    return sizeof *ix + ix->cap * sizeof *ix->tab + ix->capundo * sizeof *ix->undo;
}
