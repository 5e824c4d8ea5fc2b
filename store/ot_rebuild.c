/*
 * ot_rebuild: tallies recomputed from the log (contract in ot_rebuild.h).
 *
 * Three steps:
 *  1. compute (one read transaction): walk the log from the last record to
 *     the first; a set of the event_ids seen so far tells whether a record
 *     is its id's current revision (the first met); the current, non-retracted
 *     ones are summed per tally key in an ot_tally_acc, as the live fold does,
 *     over the store's views as of that transaction (meta "views": built-in
 *     and declared ones). Step 1 alone, restricted to one view and run in a
 *     write transaction, is how ot_store_view_add fills a new view
 *     (ot_store_int_fill).
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
#include "ot_groups.h"
#include "ot_store_int.h"
#include "ot_view.h"
#include "ot_wire.h"

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

/* A current revision that belongs to a group, or a figure: its id and the
 * group (parent_id or incident) point into the map (valid in the read
 * transaction). */
typedef struct s_node {
    const char *id;
    size_t idlen;
    const char *grp;
    size_t glen;
    uint64_t seq, first;
    bool open;              /* members: older revisions may still extend first */
} s_node;

typedef struct s_nodes {
    s_node *v;
    size_t n, cap;
} s_nodes;

/* Index entries rebuilt (key and value bytes in one arena). */
typedef struct s_kv {
    size_t koff, klen, voff, vlen;
} s_kv;

typedef struct s_kvs {
    s_kv *v;
    size_t n, cap;
    char *arena;
    size_t len, arenacap;
} s_kvs;

enum { S_DB_TALLIES, S_DB_REPORTED, S_DB_AGGREGATES, S_DB_CHILDREN, S_DB_INCIDENTS, S_DB_FIGURES,
       S_NDB };
static const char *const s_db_names[S_NDB] = {
    "tallies", "reported", "aggregates", "children", "incidents", "figures",
};

typedef struct s_run {
    const ot_rebuild_options *opt;
    ot_rebuild_stats st;
    ot_tally_acc *acc;
    ot_tally_acc *racc;
    s_idset ids;
    s_idset figids;
    s_nodes aggs, kids, members, figs;
    ot_groups_set *mset;    /* member ids: index = position in members */
    ot_store *s;
    MDB_txn *txn;
    ot_viewset *vs;         /* the store's views as of txn, owned */
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
s_push(s_nodes *ns, const s_node *n)
{
    if (ns->n == ns->cap) {
        size_t cap = ns->cap ? ns->cap * 2 : 64;
        s_node *v = realloc(ns->v, cap * sizeof *v);
        if (!v)
            return ENOMEM;
        ns->v = v;
        ns->cap = cap;
    }
    ns->v[ns->n++] = *n;
    return 0;
}

static bool
s_same(const char *a, size_t al, const char *b, size_t bl)
{
    return al == bl && (al == 0 || memcmp(a, b, al) == 0);
}

/* A figure record: its id into the figures met (the first met is current). */
static int
s_figure_record(s_run *r, const MDB_val *v, uint64_t seq)
{
    const uint8_t *fb, *id;
    size_t flen, idlen;
    bool added;
    if (ot_store_int_record_figure(v->mv_data, v->mv_size, &fb, &flen) != 0 ||
        ot_wire_find_bytes(fb, flen, OT_F_FIGURE_ID, &id, &idlen) != 0 || idlen == 0 ||
        idlen > OT_EVENT_ID_MAX)
        return OT_ECORRUPT;
    int rc = s_idset_add(&r->figids, id, idlen, &added);
    if (rc != 0 || !added)
        return rc;
    s_node n = { .id = (const char *)id, .idlen = idlen, .seq = seq };
    return s_push(&r->figs, &n);
}

/* One event record e at seq: current (added) or an older revision. */
static int
s_event_record(s_run *r, const ot_event_view *e, uint64_t seq, bool added)
{
    bool agg = ot_event_view_granularity(e) == OPTALLY__GRANULARITY__AGGREGATE;
    const char *inc = e->str[OT_F_EVENT_INCIDENT];
    size_t ilen = agg ? 0 : e->len[OT_F_EVENT_INCIDENT];
    const char *id = e->str[OT_F_EVENT_ID];
    size_t idlen = e->len[OT_F_EVENT_ID];
    if (!added) {
        /* an older revision extends its member's stint in the incident */
        size_t i;
        if (r->members.n && ot_groups_set_find(r->mset, id, idlen, &i) && r->members.v[i].open) {
            s_node *m = &r->members.v[i];
            if (s_same(m->grp, m->glen, inc, ilen))
                m->first = seq;
            else
                m->open = false;
        }
        return 0;
    }
    if (agg) {
        s_node n = { .id = id, .idlen = idlen, .grp = e->str[OT_F_EVENT_PARENT_ID],
                     .glen = e->len[OT_F_EVENT_PARENT_ID], .seq = seq };
        return s_push(&r->aggs, &n);
    }
    if (ilen) {
        bool madded;
        s_node n = { .id = id, .idlen = idlen, .grp = inc, .glen = ilen, .seq = seq, .first = seq,
                     .open = true };
        int rc = ot_groups_set_add(r->mset, id, idlen, &madded);
        return rc != 0 ? rc : s_push(&r->members, &n);
    }
    if (e->num[OT_F_EVENT_RETRACTED] != 0)
        return 0;
    /* the live fold's own contribution function */
    int rc = ot_tally_acc_view(r->acc, e, +1);
    if (rc == 0)
        r->st.counted++;
    return rc == EINVAL || rc == ENOSPC ? OT_ECORRUPT : rc;
}

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
        uint64_t seq;
        memcpy(&seq, k.mv_data, sizeof seq);
        if (s_scan(v.mv_data, v.mv_size, &e) != 0) {
            if ((rc = s_figure_record(r, &v, seq)) != 0) {
                r->st.bad_seq = seq;
                break;
            }
        } else {
            if ((rc = s_idset_add(&r->ids, (const uint8_t *)e.str[OT_F_EVENT_ID],
                                  e.len[OT_F_EVENT_ID], &added)) != 0)
                break;
            if ((rc = s_event_record(r, &e, seq, added)) != 0) {
                if (rc == OT_ECORRUPT)
                    r->st.bad_seq = seq;
                break;
            }
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

/* ---- step 1b: the groups, through ot_groups over the nodes met ---------- */

static int
s_cmp_bytes(const char *a, size_t al, const char *b, size_t bl);

static int
s_cmp_id(const void *pa, const void *pb)
{
    const s_node *a = pa, *b = pb;
    return s_cmp_bytes(a->id, a->idlen, b->id, b->idlen);
}

static int
s_cmp_grp(const void *pa, const void *pb)
{
    const s_node *a = pa, *b = pb;
    int d = s_cmp_bytes(a->grp, a->glen, b->grp, b->glen);
    return d ? d : s_cmp_id(pa, pb);
}

/* First node of ns (sorted by grp, or by id when by_id) whose key is >= key. */
static size_t
s_lower(const s_nodes *ns, const char *key, size_t len, bool by_id)
{
    size_t lo = 0, hi = ns->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const s_node *m = &ns->v[mid];
        int d = by_id ? s_cmp_bytes(m->id, m->idlen, key, len)
                      : s_cmp_bytes(m->grp, m->glen, key, len);
        if (d < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int
s_view_at(s_run *r, uint64_t seq, ot_event_view *v)
{
    MDB_val k = { sizeof seq, &seq }, d;
    int rc = mdb_get(r->txn, r->s->log, &k, &d);
    if (rc != 0)
        return rc == MDB_NOTFOUND ? OT_ECORRUPT : rc;
    return s_scan(d.mv_data, d.mv_size, v);
}

static int
s_src_aggregate(void *ctx, const char *id, size_t len, ot_event_view *v, uint64_t *seq)
{
    s_run *r = ctx;
    size_t i = s_lower(&r->aggs, id, len, true);
    if (i == r->aggs.n || !s_same(r->aggs.v[i].id, r->aggs.v[i].idlen, id, len))
        return OT_ENOTFOUND;
    *seq = r->aggs.v[i].seq;
    return s_view_at(r, *seq, v);
}

static int
s_src_children(void *ctx, const char *id, size_t len, ot_groups_id_fn fn, void *fctx)
{
    s_run *r = ctx;
    for (size_t i = s_lower(&r->kids, id, len, false); i < r->kids.n; i++) {
        const s_node *k = &r->kids.v[i];
        if (!s_same(k->grp, k->glen, id, len))
            break;
        int rc = fn(fctx, k->id, k->idlen);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int
s_src_members(void *ctx, const char *inc, size_t len, ot_groups_member_fn fn, void *fctx)
{
    s_run *r = ctx;
    for (size_t i = s_lower(&r->members, inc, len, false); i < r->members.n; i++) {
        const s_node *m = &r->members.v[i];
        ot_event_view v;
        if (!s_same(m->grp, m->glen, inc, len))
            break;
        int rc = s_view_at(r, m->seq, &v);
        if (rc == 0)
            rc = fn(fctx, &v, m->seq, m->first);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* qsort of n nodes (qsort's array may not be NULL, even for none). */
static void
s_sort(s_nodes *ns, int (*cmp)(const void *, const void *))
{
    if (ns->n > 1)
        qsort(ns->v, ns->n, sizeof *ns->v, cmp);
}

static int
s_groups(s_run *r)
{
    ot_groups_src src = { r, s_src_aggregate, s_src_children, s_src_members };
    int rc = 0;
    s_sort(&r->aggs, s_cmp_id);
    for (size_t i = 0; rc == 0 && i < r->aggs.n; i++)
        if (r->aggs.v[i].glen)
            rc = s_push(&r->kids, &r->aggs.v[i]);
    if (rc != 0)
        return rc;
    s_sort(&r->kids, s_cmp_grp);
    s_sort(&r->members, s_cmp_grp);
    r->st.aggregates = r->aggs.n;
    r->st.members = r->members.n;
    r->st.figures = r->figs.n;
    for (size_t i = 0; rc == 0 && i < r->members.n; i++) {
        const s_node *m = &r->members.v[i];
        if (i > 0 && s_same(m->grp, m->glen, r->members.v[i - 1].grp, r->members.v[i - 1].glen))
            continue;   /* one incident: added once */
        rc = ot_groups_incident_add(&src, r->s->rank, m->grp, m->glen, r->acc, +1, NULL);
    }
    for (size_t i = 0; rc == 0 && i < r->aggs.n; i++) {
        ot_event_view v;
        if ((rc = s_view_at(r, r->aggs.v[i].seq, &v)) == 0)
            rc = ot_groups_aggregate_add(&src, &v, r->racc, +1);
    }
    if (rc == EINVAL || rc == ENOSPC)
        rc = OT_ECORRUPT;
    return rc;
}

/* The index entries the log says there are (keys as ot_store_groups.c). */
static int
s_kv_add(s_kvs *kv, const char *a, size_t al, const char *b, size_t bl, const void *val,
         size_t vlen)
{
    size_t klen = b ? al + 1 + bl : al;
    if (kv->n == kv->cap) {
        size_t cap = kv->cap ? kv->cap * 2 : 64;
        s_kv *v = realloc(kv->v, cap * sizeof *v);
        if (!v)
            return ENOMEM;
        kv->v = v;
        kv->cap = cap;
    }
    if (kv->arenacap - kv->len < klen + vlen) {
        size_t cap = kv->arenacap ? kv->arenacap * 2 : 4096;
        while (cap - kv->len < klen + vlen)
            cap *= 2;
        char *ar = realloc(kv->arena, cap);
        if (!ar)
            return ENOMEM;
        kv->arena = ar;
        kv->arenacap = cap;
    }
    s_kv *e = &kv->v[kv->n++];
    e->koff = kv->len;
    e->klen = klen;
    memcpy(kv->arena + kv->len, a, al);
    if (b) {
        kv->arena[kv->len + al] = '\0';
        memcpy(kv->arena + kv->len + al + 1, b, bl);
    }
    kv->len += klen;
    e->voff = kv->len;
    e->vlen = vlen;
    if (vlen)
        memcpy(kv->arena + kv->len, val, vlen);
    kv->len += vlen;
    return 0;
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
    int db;
    bool stored_present, rebuilt_present;
    ot_counts stored, rebuilt;
    size_t voff, vlen;      /* index DBs: the rebuilt value (arena) */
} s_diff;

/* The slot of a tally key's view among the store's views, or -1 for a view
 * the store does not know. */
static long
s_key_view(const s_run *r, const char *key, size_t len)
{
    return ot_store_int_key_slot(r->vs, key, len);
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
s_sorted_keys(s_run *r, ot_tally_acc *acc, uint64_t *count)
{
    size_t n = ot_tally_acc_count(acc);
    free(r->keys);
    r->nkeys = 0;
    r->keys = calloc(n ? n : 1, sizeof *r->keys);
    if (!r->keys)
        return ENOMEM;
    for (size_t i = 0; i < n; i++) {
        s_key *k = &r->keys[r->nkeys];
        ot_tally_acc_at(acc, i, &k->key, &k->len, &k->counts);
        long view = s_key_view(r, k->key, k->len);
        if (!s_selected(r, view) || ot_counts_zero(k->counts))
            continue;
        k->view = (size_t)view;
        r->nkeys++;
    }
    qsort(r->keys, r->nkeys, sizeof *r->keys, s_cmp_key);
    *count = r->nkeys;
    return 0;
}

/* Copy len bytes into the diff arena. OUT: *off. */
static int
s_arena(s_run *r, const void *bytes, size_t len, size_t *off)
{
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
    *off = r->arenalen;
    if (len)
        memcpy(r->arena + r->arenalen, bytes, len);
    r->arenalen += len;
    return 0;
}

static int
s_new_diff(s_run *r, int db, const char *key, size_t len, size_t view, s_diff **out)
{
    if (r->ndiffs == r->capdiffs) {
        size_t cap = r->capdiffs ? r->capdiffs * 2 : 64;
        s_diff *d = realloc(r->diffs, cap * sizeof *d);
        if (!d)
            return ENOMEM;
        r->diffs = d;
        r->capdiffs = cap;
    }
    size_t off;
    int rc = s_arena(r, key, len, &off);
    if (rc != 0)
        return rc;
    s_diff *d = &r->diffs[r->ndiffs++];
    memset(d, 0, sizeof *d);
    d->off = off;
    d->len = len;
    d->view = view;
    d->db = db;
    *out = d;
    return 0;
}

/* Record one tally difference (key copied: the map's bytes die with the txn). */
static int
s_add_diff(s_run *r, int db, const char *key, size_t len, size_t view, const ot_counts *stored,
           const ot_counts *rebuilt)
{
    if (stored && rebuilt && memcmp(stored, rebuilt, sizeof *stored) == 0)
        return 0;
    s_diff *d;
    int rc = s_new_diff(r, db, key, len, view, &d);
    if (rc != 0)
        return rc;
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

/* Merge the sorted rebuilt keys with the stored tallies of dbi (in key order). */
static int
s_compare(s_run *r, MDB_txn *txn, MDB_dbi dbi, int db)
{
    MDB_cursor *c;
    MDB_val k, v;
    size_t i = 0;
    int rc = mdb_cursor_open(txn, dbi, &c);
    if (rc != 0)
        return rc;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        long view = s_key_view(r, k.mv_data, k.mv_size);
        if (!s_selected(r, view))
            continue;   /* invariant 3 */
        ot_counts cur;
        if ((rc = ot_counts_read(v.mv_data, v.mv_size, &cur)) != 0)
            break;
        int cmp = 1;
        /* Rebuilt keys before this stored one are missing from the store. */
        while (i < r->nkeys &&
               (cmp = s_cmp_bytes(r->keys[i].key, r->keys[i].len, k.mv_data, k.mv_size)) < 0) {
            if ((rc = s_add_diff(r, db, r->keys[i].key, r->keys[i].len, r->keys[i].view, NULL,
                                 r->keys[i].counts)) != 0)
                goto out;
            i++;
        }
        if (i < r->nkeys && cmp == 0) {
            rc = s_add_diff(r, db, k.mv_data, k.mv_size, (size_t)view, &cur, r->keys[i].counts);
            i++;
        } else {
            rc = s_add_diff(r, db, k.mv_data, k.mv_size, (size_t)view, &cur, NULL);
        }
        if (rc != 0)
            goto out;
    }
    if (rc == MDB_NOTFOUND)
        rc = 0;
    for (; rc == 0 && i < r->nkeys; i++)
        rc = s_add_diff(r, db, r->keys[i].key, r->keys[i].len, r->keys[i].view, NULL,
                        r->keys[i].counts);
out:
    mdb_cursor_close(c);
    return rc;
}

/* ---- the indexes ---------------------------------------------------------- */

static const s_kvs *s_sort_kvs;

static int
s_cmp_kv(const void *pa, const void *pb)
{
    const s_kv *a = pa, *b = pb;
    return s_cmp_bytes(s_sort_kvs->arena + a->koff, a->klen, s_sort_kvs->arena + b->koff, b->klen);
}

static int
s_index_diff(s_run *r, int db, const char *key, size_t klen, bool stored, const s_kvs *kv,
             const s_kv *e)
{
    s_diff *d;
    int rc = s_new_diff(r, db, key, klen, 0, &d);
    if (rc != 0)
        return rc;
    d->stored_present = stored;
    if (e) {
        d->rebuilt_present = true;
        d->vlen = e->vlen;
        /* d may move with the next diff: fill it before the arena grows */
        size_t voff;
        if ((rc = s_arena(r, kv->arena + e->voff, e->vlen, &voff)) != 0)
            return rc;
        r->diffs[r->ndiffs - 1].voff = voff;
    }
    return 0;
}

/* Compare the rebuilt entries kv with index dbi: keys and value bytes. */
static int
s_compare_kv(s_run *r, MDB_txn *txn, MDB_dbi dbi, int db, s_kvs *kv)
{
    s_sort_kvs = kv;   /* qsort has no context argument; one thread runs a rebuild */
    if (kv->n > 1)
        qsort(kv->v, kv->n, sizeof *kv->v, s_cmp_kv);
    MDB_cursor *c;
    MDB_val k, v;
    size_t i = 0;
    int rc = mdb_cursor_open(txn, dbi, &c);
    if (rc != 0)
        return rc;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        int cmp = 1;
        while (i < kv->n && (cmp = s_cmp_bytes(kv->arena + kv->v[i].koff, kv->v[i].klen,
                                               k.mv_data, k.mv_size)) < 0) {
            if ((rc = s_index_diff(r, db, kv->arena + kv->v[i].koff, kv->v[i].klen, false, kv,
                                   &kv->v[i])) != 0)
                goto out;
            i++;
        }
        if (i < kv->n && cmp == 0) {
            const s_kv *e = &kv->v[i++];
            if (e->vlen == v.mv_size && memcmp(kv->arena + e->voff, v.mv_data, e->vlen) == 0)
                continue;
            rc = s_index_diff(r, db, k.mv_data, k.mv_size, true, kv, e);
        } else {
            rc = s_index_diff(r, db, k.mv_data, k.mv_size, true, kv, NULL);
        }
        if (rc != 0)
            goto out;
    }
    if (rc == MDB_NOTFOUND)
        rc = 0;
    for (; rc == 0 && i < kv->n; i++)
        rc = s_index_diff(r, db, kv->arena + kv->v[i].koff, kv->v[i].klen, false, kv, &kv->v[i]);
out:
    mdb_cursor_close(c);
    return rc;
}

static void
s_kvs_free(s_kvs *kv)
{
    free(kv->v);
    free(kv->arena);
    memset(kv, 0, sizeof *kv);
}

/* Build and compare each index in turn (one arena alive at a time). */
static int
s_compare_indexes(s_run *r, ot_store *s, MDB_txn *txn)
{
    s_kvs kv = { 0 };
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < r->aggs.n; i++) {
        const s_node *n = &r->aggs.v[i];
        rc = s_kv_add(&kv, n->id, n->idlen, NULL, 0, &n->seq, sizeof n->seq);
    }
    if (rc == 0)
        rc = s_compare_kv(r, txn, s->aggregates, S_DB_AGGREGATES, &kv);
    s_kvs_free(&kv);
    for (size_t i = 0; rc == 0 && i < r->kids.n; i++) {
        const s_node *n = &r->kids.v[i];
        rc = s_kv_add(&kv, n->grp, n->glen, n->id, n->idlen, "", 0);
    }
    if (rc == 0)
        rc = s_compare_kv(r, txn, s->children, S_DB_CHILDREN, &kv);
    s_kvs_free(&kv);
    for (size_t i = 0; rc == 0 && i < r->members.n; i++) {
        const s_node *n = &r->members.v[i];
        uint64_t seqs[2] = { n->first, n->seq };
        rc = s_kv_add(&kv, n->grp, n->glen, n->id, n->idlen, seqs, sizeof seqs);
    }
    if (rc == 0)
        rc = s_compare_kv(r, txn, s->incidents, S_DB_INCIDENTS, &kv);
    s_kvs_free(&kv);
    for (size_t i = 0; rc == 0 && i < r->figs.n; i++) {
        const s_node *n = &r->figs.v[i];
        rc = s_kv_add(&kv, n->id, n->idlen, NULL, 0, &n->seq, sizeof n->seq);
    }
    if (rc == 0)
        rc = s_compare_kv(r, txn, s->figures, S_DB_FIGURES, &kv);
    s_kvs_free(&kv);
    return rc;
}

/* Step 2 whole: tallies, reported tallies, indexes. */
static int
s_compare_all(s_run *r, ot_store *s, MDB_txn *txn)
{
    int rc = s_sorted_keys(r, r->acc, &r->st.tallies);
    if (rc == 0)
        rc = s_compare(r, txn, s->tallies, S_DB_TALLIES);
    if (rc == 0 && s->has_groups) {
        if ((rc = s_sorted_keys(r, r->racc, &r->st.reported)) == 0)
            rc = s_compare(r, txn, s->reported, S_DB_REPORTED);
        if (rc == 0)
            rc = s_compare_indexes(r, s, txn);
    }
    r->st.diffs = r->ndiffs;
    return rc;
}

/* ---- step 3: write ------------------------------------------------------- */

static MDB_dbi
s_dbi(const ot_store *s, int db)
{
    switch (db) {
    case S_DB_REPORTED: return s->reported;
    case S_DB_AGGREGATES: return s->aggregates;
    case S_DB_CHILDREN: return s->children;
    case S_DB_INCIDENTS: return s->incidents;
    case S_DB_FIGURES: return s->figures;
    default: return s->tallies;
    }
}

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
        MDB_dbi dbi = s_dbi(s, d->db);
        if (d->rebuilt_present && d->db <= S_DB_REPORTED) {
            MDB_val v = { sizeof d->rebuilt, &d->rebuilt };
            rc = mdb_put(txn, dbi, &k, &v, 0);
        } else if (d->rebuilt_present) {
            MDB_val v = { d->vlen, r->arena + d->voff };
            rc = mdb_put(txn, dbi, &k, &v, 0);
        } else {
            rc = mdb_del(txn, dbi, &k, NULL);
        }
        if (d->db != S_DB_TALLIES)
            continue;   /* only observed tallies are published */
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
        const ot_view *v = d->db <= S_DB_REPORTED ? ot_viewset_at(r->vs, d->view) : NULL;
        ot_rebuild_diff pub = {
            .key = r->arena + d->off, .len = d->len, .view = d->view,
            .view_name = v ? v->name : NULL,
            .stored_present = d->stored_present, .rebuilt_present = d->rebuilt_present,
            .stored = d->stored, .rebuilt = d->rebuilt, .db = s_db_names[d->db],
        };
        int rc = r->opt->on_diff(r->opt->diff_ctx, &pub);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Free what a run holds (safe on a half-built one). */
static void
s_run_free(s_run *r)
{
    free(r->ids.slots);
    free(r->figids.slots);
    ot_groups_set_free(&r->mset);
    free(r->aggs.v);
    free(r->kids.v);
    free(r->members.v);
    free(r->figs.v);
    ot_tally_acc_free(&r->racc);
    free(r->keys);
    free(r->diffs);
    free(r->arena);
    ot_tally_acc_free(&r->acc);
    ot_viewset_free(&r->vs);
}

/* What every run needs before step 1: accumulators and id sets. */
static int
s_run_init(s_run *r, ot_store *s, const ot_rebuild_options *opt)
{
    memset(r, 0, sizeof *r);
    r->opt = opt;
    r->s = s;
    int rc = ot_tally_acc_new(&r->acc);
    if (rc == 0)
        rc = ot_tally_acc_new(&r->racc);
    if (rc == 0)
        rc = ot_groups_set_new(&r->mset);
    if (rc == 0)
        rc = s_idset_init(&r->ids);
    if (rc == 0)
        rc = s_idset_init(&r->figids);
    return rc;
}

/* Step 1 whole, in r->txn: the log walked, then the groups added. The
 * accumulators add to the views of vs at slots. */
static int
s_run_compute(s_run *r, const ot_viewset *vs, uint64_t slots)
{
    ot_tally_acc_set_views(r->acc, vs, slots);
    ot_tally_acc_set_views(r->racc, vs, slots);
    int rc = s_compute(r, r->s, r->txn);
    /* The id sets point into this transaction's pages: drop them now. */
    free(r->ids.slots);
    r->ids.slots = NULL;
    free(r->figids.slots);
    r->figids.slots = NULL;
    ot_groups_set_free(&r->mset);
    if (rc == 0)
        rc = s_groups(r);
    return rc;
}

int
ot_store_int_fill(ot_store *s, MDB_txn *txn, const ot_viewset *vs, uint64_t slots,
                  ot_store_progress_fn progress, void *ctx, ot_tally_acc **obs,
                  ot_tally_acc **rep, uint64_t *records)
{
    ot_rebuild_options opt = { .check = true, .on_progress = progress, .progress_ctx = ctx };
    s_run r;
    int rc = s_run_init(&r, s, &opt);
    *obs = NULL;
    *rep = NULL;
    if (rc == 0 && s->has_dbs) {
        r.txn = txn;
        rc = s_run_compute(&r, vs, slots);
    }
    if (rc == 0) {
        *obs = r.acc;
        *rep = r.racc;
        r.acc = NULL;
        r.racc = NULL;
        *records = r.st.records;
    }
    s_run_free(&r);
    return rc;
}

int
ot_rebuild_run(ot_store *s, const ot_rebuild_options *opt, ot_rebuild_stats *out)
{
    static const ot_rebuild_options defaults = { 0 };
    s_run r;
    opt = opt ? opt : &defaults;
    if (!opt->check && s->readonly)
        return EROFS;
    int rc = s_run_init(&r, s, opt);
    if (rc == 0 && s->has_dbs) {
        if ((rc = ot_store_int_read_begin(s, &r.txn)) == 0) {
            /* the views as of this transaction: a view added meanwhile by a
             * consumer is filled in its own commit, seen whole or not at all */
            rc = ot_store_int_load_views(s, r.txn, &r.vs);
            if (rc == 0)
                rc = s_run_compute(&r, r.vs, opt->views ? opt->views : OT_TALLY_ALL_SLOTS);
            if (rc == 0)
                rc = s_compare_all(&r, s, r.txn);
            ot_store_int_read_end(s, r.txn);
        }
    }
    if (rc == 0)
        rc = s_report(&r);
    if (rc == 0 && !r.opt->check && r.ndiffs > 0)
        rc = s_write(&r, s);
    if (out)
        *out = r.st;
    s_run_free(&r);
    return rc;
}
