/*
 * ot_rebuild: tallies recomputed from the log (contract in ot_rebuild.h).
 *
 * Three steps:
 *  1. compute (one read transaction): walk the log from the last record to
 *     the first; a set of the event_ids seen so far tells whether a record
 *     is its id's current revision (the first met); the current, non-retracted
 *     ones are summed per tally key in an ot_tally_acc, as the live fold does.
 *  2. compare (same transaction): sort the rebuilt keys in LMDB's key order
 *     and merge them with a cursor over the stored tallies; each mismatch is
 *     copied into a list of differences.
 *  3. write (only for a repair with differences): one write transaction
 *     puts or deletes each differing key, bumps the update sequences, commits.
 *     The writer lock held by the caller means no commit can come between
 *     steps 2 and 3, so the list is still exactly the difference. When the
 *     map fills, the transaction is aborted, the map doubled and step 3 redone.
 *
 * One code with the live fold: a record is read as an event view
 * (ot_event_view_parse, the parser ot_store.c reads stored records with)
 * and added with ot_tally_acc_view, the contribution function the live fold
 * calls; only "which record is current" is rebuild's own.
 *
 * Speed: the walk must keep up with a million events a second, so records
 * are not unpacked with protobuf-c (an allocation per string and message):
 * the view points into the map. The id set holds pointers to the ids in the
 * map, valid while the read transaction lives (LMDB never changes a page a
 * reader can see), so no id is copied either.
 */
#include "ot_rebuild.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ot_error.h"
#include "ot_store_int.h"
#include "ot_view.h"

#define S_PROGRESS_EVERY  65536      /* records between progress calls */
#define S_SET_MIN         (1u << 16) /* initial id set slots */
#define S_MAX_GROWS       16

/* ---- the set of event_ids already met ------------------------------------ */

/* A slot: the id's keyed hash with its length in the low byte (ids are at
 * most OT_EVENT_ID_MAX = 128 bytes), and a pointer to its bytes in the map.
 * id == NULL: empty. 16 bytes, kept at most half full. */
typedef struct s_slot {
    uint64_t hl;
    const uint8_t *id;
} s_slot;

typedef struct s_idset {
    s_slot *slots;
    size_t mask;            /* slots - 1 (a power of two minus one) */
    size_t n;
    ot_hash_key hk;         /* random: ids chosen to collide cannot slow us */
} s_idset;

static int
s_idset_init(s_idset *set)
{
    set->slots = calloc(S_SET_MIN, sizeof *set->slots);
    if (!set->slots)
        return ENOMEM;
    set->mask = S_SET_MIN - 1;
    set->n = 0;
    ot_hash_random_key(&set->hk);
    return 0;
}

static int
s_idset_grow(s_idset *set)
{
    size_t ns = (set->mask + 1) * 2;
    s_slot *t = calloc(ns, sizeof *t);
    if (!t)
        return ENOMEM;
    for (size_t i = 0; i <= set->mask; i++) {
        if (!set->slots[i].id)
            continue;
        size_t j = (set->slots[i].hl >> 8) & (ns - 1);
        while (t[j].id)
            j = (j + 1) & (ns - 1);
        t[j] = set->slots[i];
    }
    free(set->slots);
    set->slots = t;
    set->mask = ns - 1;
    return 0;
}

/* Add id (len 1..255 bytes, borrowed for the set's life). OUT: *added,
 * false when it was there already. Returns 0 or ENOMEM. */
static int
s_idset_add(s_idset *set, const uint8_t *id, size_t len, bool *added)
{
    uint64_t hl = (ot_hash_sip(&set->hk, id, len) & ~(uint64_t)0xff) | len;
    size_t j = (hl >> 8) & set->mask;
    for (; set->slots[j].id; j = (j + 1) & set->mask) {
        if (set->slots[j].hl == hl && memcmp(set->slots[j].id, id, len) == 0) {
            *added = false;
            return 0;
        }
    }
    set->slots[j].hl = hl;
    set->slots[j].id = id;
    set->n++;
    *added = true;
    if (set->n * 2 > set->mask + 1)
        return s_idset_grow(set);
    return 0;
}

/* ---- the record scanner ------------------------------------------------------ */

/* The view of the event inside a packed LogRecord: the same parser the
 * live fold reads stored records with (ot_event_view_parse). */
static int
s_scan(const uint8_t *rec, size_t len, ot_event_view *ev)
{
    const uint8_t *evb;
    size_t evlen;
    if (ot_store_int_record_event(rec, len, &evb, &evlen) != 0 ||
        ot_event_view_parse(evb, evlen, ev) != 0)
        return OT_ECORRUPT;
    /* Every stored event passed validation: an id of 1..128 bytes. */
    size_t idlen = ev->len[OT_F_EVENT_ID];
    return idlen >= 1 && idlen <= OT_EVENT_ID_MAX ? 0 : OT_ECORRUPT;
}

/* ---- step 1: compute ------------------------------------------------------- */

typedef struct s_run {
    const ot_rebuild_options *opt;
    ot_rebuild_stats st;
    ot_tally_acc *acc;
    s_idset ids;
    /* step 2: the rebuilt keys of the selected views, in key order */
    struct s_key *keys;
    size_t nkeys;
    /* the differences, their keys in one arena */
    struct s_diff *diffs;
    size_t ndiffs, capdiffs;
    char *arena;
    size_t arenalen, arenacap;
} s_run;

static int
s_compute(s_run *r, ot_store *s, MDB_txn *txn)
{
    MDB_cursor *c;
    MDB_val k, v;
    uint64_t total = 0;
    int rc = mdb_cursor_open(txn, s->log, &c);
    if (rc != 0)
        return rc;
    rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
    if (rc == 0)
        memcpy(&total, k.mv_data, sizeof total);
    for (; rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_PREV)) {
        ot_event_view e;
        bool added;
        if ((rc = s_scan(v.mv_data, v.mv_size, &e)) != 0) {
            memcpy(&r->st.bad_seq, k.mv_data, sizeof r->st.bad_seq);
            break;
        }
        if ((rc = s_idset_add(&r->ids, (const uint8_t *)e.str[OT_F_EVENT_ID],
                              e.len[OT_F_EVENT_ID], &added)) != 0)
            break;
        if (added && e.num[OT_F_EVENT_RETRACTED] == 0) {
            /* the live fold's own contribution function */
            if ((rc = ot_tally_acc_view(r->acc, &e, +1)) != 0) {
                if (rc == OT_ECORRUPT || rc == EINVAL || rc == ENOSPC) {
                    memcpy(&r->st.bad_seq, k.mv_data, sizeof r->st.bad_seq);
                    rc = OT_ECORRUPT;
                }
                break;
            }
            r->st.counted++;
        }
        if (++r->st.records % S_PROGRESS_EVERY == 0 && r->opt->on_progress)
            r->opt->on_progress(r->opt->progress_ctx, r->st.records, total);
    }
    mdb_cursor_close(c);
    r->st.ids = r->ids.n;
    if (rc == MDB_NOTFOUND)
        rc = 0;
    if (rc == 0 && r->opt->on_progress)
        r->opt->on_progress(r->opt->progress_ctx, r->st.records, total);
    return rc;
}

/* ---- step 2: compare ------------------------------------------------------- */

typedef struct s_key {
    const char *key;
    size_t len;
    size_t view;
    const ot_counts *counts;
} s_key;

typedef struct s_diff {
    size_t off, len, view;
    bool stored_present, rebuilt_present;
    ot_counts stored, rebuilt;
} s_diff;

/* The view of a tally key (index for ot_view_at), or -1 for a view this
 * build does not know. */
static long
s_key_view(const char *key, size_t len)
{
    const char *slash = memchr(key, '/', len);
    size_t nl = slash ? (size_t)(slash - key) : len;
    for (size_t i = 0; i < ot_view_count(); i++) {
        const char *name = ot_view_at(i)->name;
        if (strlen(name) == nl && memcmp(name, key, nl) == 0)
            return (long)i;
    }
    return -1;
}

static bool
s_selected(const s_run *r, long view)
{
    return view >= 0 && (r->opt->views == 0 || (r->opt->views >> view) & 1u);
}

/* LMDB's default key order (mdb_cmp_memn): bytes, then the shorter first. */
static int
s_cmp_bytes(const char *a, size_t al, const char *b, size_t bl)
{
    int d = memcmp(a, b, al < bl ? al : bl);
    return d ? d : (al > bl) - (al < bl);
}

static int
s_cmp_key(const void *pa, const void *pb)
{
    const s_key *a = pa, *b = pb;
    return s_cmp_bytes(a->key, a->len, b->key, b->len);
}

static int
s_sorted_keys(s_run *r)
{
    size_t n = ot_tally_acc_count(r->acc);
    r->keys = calloc(n ? n : 1, sizeof *r->keys);
    if (!r->keys)
        return ENOMEM;
    for (size_t i = 0; i < n; i++) {
        s_key *k = &r->keys[r->nkeys];
        ot_tally_acc_at(r->acc, i, &k->key, &k->len, &k->counts);
        long view = s_key_view(k->key, k->len);
        if (!s_selected(r, view) || ot_counts_zero(k->counts))
            continue;
        k->view = (size_t)view;
        r->nkeys++;
    }
    qsort(r->keys, r->nkeys, sizeof *r->keys, s_cmp_key);
    r->st.tallies = r->nkeys;
    return 0;
}

/* Record one difference (key copied: the map's bytes die with the txn). */
static int
s_add_diff(s_run *r, const char *key, size_t len, size_t view, const ot_counts *stored,
           const ot_counts *rebuilt)
{
    if (stored && rebuilt && memcmp(stored, rebuilt, sizeof *stored) == 0)
        return 0;
    if (r->ndiffs == r->capdiffs) {
        size_t cap = r->capdiffs ? r->capdiffs * 2 : 64;
        s_diff *d = realloc(r->diffs, cap * sizeof *d);
        if (!d)
            return ENOMEM;
        r->diffs = d;
        r->capdiffs = cap;
    }
    if (r->arenacap - r->arenalen < len) {
        size_t cap = r->arenacap ? r->arenacap * 2 : 4096;
        while (cap - r->arenalen < len)
            cap *= 2;
        char *a = realloc(r->arena, cap);
        if (!a)
            return ENOMEM;
        r->arena = a;
        r->arenacap = cap;
    }
    s_diff *d = &r->diffs[r->ndiffs++];
    memset(d, 0, sizeof *d);
    d->off = r->arenalen;
    d->len = len;
    d->view = view;
    memcpy(r->arena + r->arenalen, key, len);
    r->arenalen += len;
    if (stored) {
        d->stored_present = true;
        d->stored = *stored;
    }
    if (rebuilt) {
        d->rebuilt_present = true;
        d->rebuilt = *rebuilt;
    }
    return 0;
}

/* Merge the sorted rebuilt keys with the stored tallies (in key order). */
static int
s_compare(s_run *r, ot_store *s, MDB_txn *txn)
{
    MDB_cursor *c;
    MDB_val k, v;
    size_t i = 0;
    int rc = mdb_cursor_open(txn, s->tallies, &c);
    if (rc != 0)
        return rc;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        long view = s_key_view(k.mv_data, k.mv_size);
        if (!s_selected(r, view))
            continue;   /* invariant 3 */
        ot_counts cur;
        if ((rc = ot_counts_read(v.mv_data, v.mv_size, &cur)) != 0)
            break;
        int cmp = 1;
        /* Rebuilt keys before this stored one are missing from the store. */
        while (i < r->nkeys &&
               (cmp = s_cmp_bytes(r->keys[i].key, r->keys[i].len, k.mv_data, k.mv_size)) < 0) {
            if ((rc = s_add_diff(r, r->keys[i].key, r->keys[i].len, r->keys[i].view, NULL,
                                 r->keys[i].counts)) != 0)
                goto out;
            i++;
        }
        if (i < r->nkeys && cmp == 0) {
            rc = s_add_diff(r, k.mv_data, k.mv_size, (size_t)view, &cur, r->keys[i].counts);
            i++;
        } else {
            rc = s_add_diff(r, k.mv_data, k.mv_size, (size_t)view, &cur, NULL);
        }
        if (rc != 0)
            goto out;
    }
    if (rc == MDB_NOTFOUND)
        rc = 0;
    for (; rc == 0 && i < r->nkeys; i++)
        rc = s_add_diff(r, r->keys[i].key, r->keys[i].len, r->keys[i].view, NULL,
                        r->keys[i].counts);
out:
    mdb_cursor_close(c);
    r->st.diffs = r->ndiffs;
    return rc;
}

/* ---- step 3: write ------------------------------------------------------- */

static int
s_write_once(s_run *r, ot_store *s, ot_store_seqs *seqs)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc != 0)
        return rc;
    rc = ot_store_int_load_seqs(s, txn, seqs);
    for (size_t i = 0; rc == 0 && i < r->ndiffs; i++) {
        s_diff *d = &r->diffs[i];
        MDB_val k = { d->len, r->arena + d->off };
        if (d->rebuilt_present) {
            MDB_val v = { sizeof d->rebuilt, &d->rebuilt };
            rc = mdb_put(txn, s->tallies, &k, &v, 0);
        } else {
            rc = mdb_del(txn, s->tallies, &k, NULL);
        }
        seqs->seq++;
        if (d->view < OT_STORE_MAX_VIEWS)
            seqs->view_seq[d->view]++;
    }
    if (rc == 0) {
        MDB_val k = { 4, "useq" }, v = { sizeof *seqs, seqs };
        rc = mdb_put(txn, s->meta, &k, &v, 0);
    }
    if (rc == 0)
        rc = mdb_txn_commit(txn);
    else
        mdb_txn_abort(txn);
    return rc;
}

static int
s_write(s_run *r, ot_store *s)
{
    ot_store_seqs seqs;
    int rc;
    for (int grows = 0;; grows++) {
        rc = s_write_once(r, s, &seqs);
        if (rc != MDB_MAP_FULL || grows == S_MAX_GROWS)
            break;
        if ((rc = ot_store_int_grow(s)) != 0)
            break;
    }
    if (rc == 0)
        s->seqs = seqs;
    return rc;
}

/* ---- the run ------------------------------------------------------------- */

static int
s_report(s_run *r)
{
    if (!r->opt->on_diff)
        return 0;
    for (size_t i = 0; i < r->ndiffs; i++) {
        const s_diff *d = &r->diffs[i];
        ot_rebuild_diff pub = {
            .key = r->arena + d->off, .len = d->len, .view = d->view,
            .stored_present = d->stored_present, .rebuilt_present = d->rebuilt_present,
            .stored = d->stored, .rebuilt = d->rebuilt,
        };
        int rc = r->opt->on_diff(r->opt->diff_ctx, &pub);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int
ot_rebuild_run(ot_store *s, const ot_rebuild_options *opt, ot_rebuild_stats *out)
{
    static const ot_rebuild_options defaults = { 0 };
    s_run r;
    memset(&r, 0, sizeof r);
    r.opt = opt ? opt : &defaults;
    if (!r.opt->check && s->readonly)
        return EROFS;
    int rc = ot_tally_acc_new(&r.acc);
    if (rc == 0)
        rc = s_idset_init(&r.ids);
    if (rc == 0 && s->has_dbs) {
        MDB_txn *txn;
        if ((rc = ot_store_int_read_begin(s, &txn)) == 0) {
            rc = s_compute(&r, s, txn);
            /* The id set points into this transaction's pages: drop it now. */
            free(r.ids.slots);
            r.ids.slots = NULL;
            if (rc == 0)
                rc = s_sorted_keys(&r);
            if (rc == 0)
                rc = s_compare(&r, s, txn);
            ot_store_int_read_end(s, txn);
        }
    }
    if (rc == 0)
        rc = s_report(&r);
    if (rc == 0 && !r.opt->check && r.ndiffs > 0)
        rc = s_write(&r, s);
    if (out)
        *out = r.st;
    free(r.ids.slots);
    free(r.keys);
    free(r.diffs);
    free(r.arena);
    ot_tally_acc_free(&r.acc);
    return rc;
}
