/*
 * ot_idindex: 256 shards of open addressing with linear probing over
 * 16-byte entries. seq 0 marks an empty slot (log sequences start at 1).
 * A cursor is (shard << 48) | (slot + 1).
 */
#include "ot_idindex.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>

#define S_SHARDS      256
#define S_SHARD_MIN   64        /* slots of a new shard */
#define S_SLOT_BITS   48

typedef struct s_entry {
    uint64_t hash;
    uint64_t seq;           /* 0: empty */
} s_entry;

typedef struct s_shard {
    s_entry *tab;
    size_t cap;             /* power of two */
    size_t count;
} s_shard;

typedef struct s_undo {
    uint64_t hash;
    uint64_t new_seq;       /* the entry as the change left it */
    uint64_t old_seq;       /* 0: the change was an insert */
} s_undo;

struct ot_idindex {
    s_shard shards[S_SHARDS];
    size_t count;
    s_undo *undo;
    size_t nundo, capundo;
};

int
ot_idindex_new(ot_idindex **out)
{
    ot_idindex *ix = calloc(1, sizeof *ix);
    if (!ix)
        return ENOMEM;
    *out = ix;
    return 0;
}

void
ot_idindex_free(ot_idindex **pix)
{
    ot_idindex *ix = *pix;
    if (!ix)
        return;
    for (size_t i = 0; i < S_SHARDS; i++)
        free(ix->shards[i].tab);
    free(ix->undo);
    free(ix);
    *pix = NULL;
}

static s_shard *
s_shard_of(const ot_idindex *ix, uint64_t h)
{
    return (s_shard *)&ix->shards[h >> 56];
}

static size_t
s_home(const s_shard *sh, uint64_t h)
{
    return (size_t)(h ^ (h >> 29)) & (sh->cap - 1);
}

static int
s_grow(s_shard *sh)
{
    size_t newcap = sh->cap ? sh->cap * 2 : S_SHARD_MIN;
    s_entry *t = calloc(newcap, sizeof *t);
    if (!t)
        return ENOMEM;
    s_entry *old = sh->tab;
    size_t oldcap = sh->cap;
    sh->tab = t;
    sh->cap = newcap;
    for (size_t i = 0; i < oldcap; i++) {
        if (!old[i].seq)
            continue;
        size_t j = s_home(sh, old[i].hash);
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
    if (ix->capundo < more) {
        s_undo *u = realloc(ix->undo, more * sizeof *u);
        if (!u)
            return ENOMEM;
        ix->undo = u;
        ix->capundo = more;
    }
    return 0;
}

bool
ot_idindex_next(const ot_idindex *ix, uint64_t h, size_t *cursor, uint64_t *seq)
{
    const s_shard *sh = s_shard_of(ix, h);
    if (!sh->cap)
        return false;
    size_t slot = *cursor ? ((*cursor & (((size_t)1 << S_SLOT_BITS) - 1)) & (sh->cap - 1))
                          : s_home(sh, h);
    while (sh->tab[slot].seq) {
        if (sh->tab[slot].hash == h) {
            *seq = sh->tab[slot].seq;
            *cursor = ((size_t)(h >> 56) << S_SLOT_BITS) | (slot + 1);
            return true;
        }
        slot = (slot + 1) & (sh->cap - 1);
    }
    return false;
}

static void
s_journal(ot_idindex *ix, uint64_t h, uint64_t new_seq, uint64_t old_seq)
{
    assert(ix->nundo < ix->capundo && "reserve before the transaction");
    ix->undo[ix->nundo++] = (s_undo){ h, new_seq, old_seq };
}

void
ot_idindex_set(ot_idindex *ix, size_t cursor, uint64_t seq)
{
    s_shard *sh = &ix->shards[cursor >> S_SLOT_BITS];
    size_t slot = ((cursor & (((size_t)1 << S_SLOT_BITS) - 1)) - 1) & (sh->cap - 1);
    assert(sh->tab[slot].seq != 0);
    s_journal(ix, sh->tab[slot].hash, seq, sh->tab[slot].seq);
    sh->tab[slot].seq = seq;
}

int
ot_idindex_insert(ot_idindex *ix, uint64_t h, uint64_t seq)
{
    assert(seq != 0);
    s_shard *sh = s_shard_of(ix, h);
    if ((sh->count + 1) * 4 > sh->cap * 3 && s_grow(sh) != 0)
        return ENOMEM;
    size_t i = s_home(sh, h);
    while (sh->tab[i].seq)
        i = (i + 1) & (sh->cap - 1);
    s_journal(ix, h, seq, 0);
    sh->tab[i].hash = h;
    sh->tab[i].seq = seq;
    sh->count++;
    ix->count++;
    return 0;
}

void
ot_idindex_commit(ot_idindex *ix)
{
    ix->nundo = 0;
}

/* Slot of the entry (h, seq), which must exist. */
static size_t
s_find(const s_shard *sh, uint64_t h, uint64_t seq)
{
    size_t i = s_home(sh, h);
    while (!(sh->tab[i].hash == h && sh->tab[i].seq == seq)) {
        assert(sh->tab[i].seq != 0 && "journaled entry missing");
        i = (i + 1) & (sh->cap - 1);
    }
    return i;
}

/* Remove slot i, shifting back later entries of its probe run so that every
 * entry stays reachable from its home slot. */
static void
s_delete(s_shard *sh, size_t i)
{
    size_t mask = sh->cap - 1;
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (!sh->tab[j].seq)
            break;
        size_t home = s_home(sh, sh->tab[j].hash);
        /* Move j into the hole at i unless its home lies cyclically in (i, j]. */
        bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
        if (!stays) {
            sh->tab[i] = sh->tab[j];
            i = j;
        }
    }
    sh->tab[i].seq = 0;
    sh->tab[i].hash = 0;
    sh->count--;
}

void
ot_idindex_rollback(ot_idindex *ix)
{
    while (ix->nundo > 0) {
        s_undo *u = &ix->undo[--ix->nundo];
        s_shard *sh = s_shard_of(ix, u->hash);
        size_t slot = s_find(sh, u->hash, u->new_seq);
        if (u->old_seq == 0) {
            s_delete(sh, slot);
            ix->count--;
        } else {
            sh->tab[slot].seq = u->old_seq;
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
    size_t b = sizeof *ix + ix->capundo * sizeof *ix->undo;
    for (size_t i = 0; i < S_SHARDS; i++)
        b += ix->shards[i].cap * sizeof(s_entry);
    return b;
}
