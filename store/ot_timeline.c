/*
 * ot_timeline: the tallies at a point of the log, one tally's history, and
 * the events behind a tally (contract in ot_timeline.h).
 *
 * One engine, a forward replay of the log in seq order in one read
 * transaction, with the store's fold rule held in memory:
 *  - every log record is its event's new current revision (the store logs
 *    nothing else: duplicates, stale revisions and refused events are never
 *    appended), so a record at seq replaces whatever its id held before;
 *  - a plain event (an OPERATION without incident) moves the tallies by its
 *    new contribution minus its old one (ot_counts_of_view: zero when
 *    retracted);
 *  - an incident counts its counted member only: a record that enters,
 *    leaves or stays in an incident takes the incident's contribution out
 *    before the change and puts it back after (ot_groups.h invariant 1),
 *    the counted member picked by ot_groups_incident_add, the store's own
 *    rule (rank of the source, then the first seq of the member's stint in
 *    the incident, kept here as the store's incidents index keeps it);
 *  - aggregates count in the reported tallies only, which no caller here
 *    needs: they are replaced like any event and add nothing.
 * What the replay feeds (a "sink") makes the three uses:
 *  - as-of: every view whose keys can start with the prefix, summed per key
 *    in an in-memory map; stop after seq N, visit the non-zero keys sorted;
 *  - history: one key only; after each record the key's sum is compared
 *    with the one before it, a difference is a row;
 *  - explain: nothing during the replay; at the end the current plain
 *    events and each incident's counted member whose key is the one asked.
 *
 * Keys come from ot_view_key_ev over the store's view set (read from meta
 * in the replay's own read transaction), the function the live fold and
 * rebuild use, so filters and dimensions agree by construction.
 *
 * Memory: one entry per distinct event id (its id points into the map, so
 * nothing is copied while the read transaction lives), one per incident
 * and, for as-of, one per tally key. Time: one pass over the records up to
 * N; a record in an incident re-reads its incident's members (small).
 */
#include "ot_timeline.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ot_error.h"
#include "ot_groups.h"
#include "ot_hash.h"
#include "ot_store_int.h"
#include "ot_view.h"
#include "ot_wire.h"

#define S_PROGRESS_EVERY 65536   /* records between progress calls */
#define S_INDEX_MIN      1024    /* initial slots of an index */
#define S_RANK_MAX       4096    /* bytes of the source ranking text */

/* ---- an index: bytes -> entry number ---------------------------------------
 *
 * Open addressing, kept at most half full. A slot holds the entry + 1 (0:
 * empty) in its low 32 bits and the high 32 bits of the key's hash above,
 * so a probe rejects another key without touching the entries (a miss in
 * a million-entry table is a cache miss each). The entries live in the
 * caller's array, reached through key_of to compare; the full hash of each
 * entry is kept (read in order) for a grow. */

typedef void (*s_key_fn)(const void *ctx, uint32_t i, const char **key, size_t *len);

typedef struct s_index {
    uint64_t *slots;
    size_t mask;            /* slots - 1 */
    uint64_t *hash;         /* per entry */
    size_t n, cap;
    ot_hash_key hk;         /* random: keys chosen to collide cannot slow us */
    s_key_fn key_of;
    const void *ctx;
} s_index;

#define S_TAG(h) ((h) & ~(uint64_t)UINT32_MAX)

static int
s_index_init(s_index *ix, s_key_fn key_of, const void *ctx)
{
    memset(ix, 0, sizeof *ix);
    ix->slots = calloc(S_INDEX_MIN, sizeof *ix->slots);
    if (!ix->slots)
        return ENOMEM;
    ix->mask = S_INDEX_MIN - 1;
    ix->key_of = key_of;
    ix->ctx = ctx;
    ot_hash_random_key(&ix->hk);
    return 0;
}

static void
s_index_free(s_index *ix)
{
    free(ix->slots);
    free(ix->hash);
    memset(ix, 0, sizeof *ix);
}

static int
s_index_grow(s_index *ix)
{
    size_t ns = (ix->mask + 1) * 2;
    uint64_t *t = calloc(ns, sizeof *t);
    if (!t)
        return ENOMEM;
    for (size_t i = 0; i < ix->n; i++) {
        size_t j = ix->hash[i] & (ns - 1);
        while (t[j])
            j = (j + 1) & (ns - 1);
        t[j] = S_TAG(ix->hash[i]) | (i + 1);
    }
    free(ix->slots);
    ix->slots = t;
    ix->mask = ns - 1;
    return 0;
}

/* Find key (len bytes). OUT: *out, its entry; *added, true when it was not
 * there and entry n (= the old count) was made for it: the caller fills
 * its own array at *out (it must have room: see s_room).
 * Returns 0, OT_ENOTFOUND (absent and !add), or ENOMEM. */
static int
s_index_get(s_index *ix, const char *key, size_t len, bool add, uint32_t *out, bool *added)
{
    uint64_t h = ot_hash_sip(&ix->hk, key, len);
    size_t j = h & ix->mask;
    *added = false;
    for (; ix->slots[j]; j = (j + 1) & ix->mask) {
        uint32_t e = (uint32_t)(ix->slots[j] & UINT32_MAX) - 1;
        const char *k;
        size_t kl;
        if (S_TAG(ix->slots[j]) != S_TAG(h))
            continue;
        ix->key_of(ix->ctx, e, &k, &kl);
        if (kl == len && (len == 0 || memcmp(k, key, len) == 0)) {
            *out = e;
            return 0;
        }
    }
    if (!add)
        return OT_ENOTFOUND;
    if (ix->n >= UINT32_MAX - 1)
        return ENOMEM;
    if (ix->n == ix->cap) {
        size_t cap = ix->cap ? ix->cap * 2 : 256;
        uint64_t *hv = realloc(ix->hash, cap * sizeof *hv);
        if (!hv)
            return ENOMEM;
        ix->hash = hv;
        ix->cap = cap;
    }
    ix->hash[ix->n] = h;
    ix->slots[j] = S_TAG(h) | (ix->n + 1);
    *out = (uint32_t)ix->n++;
    *added = true;
    if (ix->n * 2 > ix->mask + 1)
        return s_index_grow(ix);
    return 0;
}

/* Make room for entry n of an array of elements of size sz. */
static int
s_room(void **v, size_t *cap, size_t n, size_t sz)
{
    if (n < *cap)
        return 0;
    size_t nc = *cap ? *cap * 2 : 256;
    void *t = realloc(*v, nc * sz);
    if (!t)
        return ENOMEM;
    *v = t;
    *cap = nc;
    return 0;
}

/* ---- the replay's state ------------------------------------------------ */

/* One event id: its current revision and where it counts. */
typedef struct s_ev {
    const char *id;         /* into the map: valid in the read transaction */
    size_t idlen;
    uint64_t seq;           /* log seq of its current revision */
    uint64_t first;         /* first seq of its stint in its incident */
    uint32_t inc;           /* incident entry + 1; 0: none */
    uint32_t pos;           /* its place in the incident's member list */
    bool plain;             /* current revision: an OPERATION without incident */
} s_ev;

/* One incident: its current members and the revision that counts. */
typedef struct s_inc {
    const char *name;       /* into the map */
    size_t len;
    uint32_t *members;      /* s_ev entries, in no particular order */
    size_t n, cap;
    uint64_t counted;       /* log seq of the counted member's revision (0: none) */
} s_inc;

/* One tally key of an as-of (key bytes in the arena). */
typedef struct s_tally {
    size_t off, len;
    ot_counts c;
} s_tally;

typedef enum s_mode { S_AS_OF, S_ONE_KEY, S_EXPLAIN } s_mode;

typedef struct s_run {
    ot_store *s;
    MDB_txn *txn;
    ot_viewset *vs;
    ot_groups_rank *rank;
    s_mode mode;
    s_index ids;
    s_ev *evs;
    size_t evcap;
    s_index incs;
    s_inc *incv;
    size_t inccap;
    /* as-of: the views whose keys may start with the prefix, and the sums */
    const ot_view *views[OT_VIEWSET_MAX];
    size_t nviews;
    s_index keys;
    s_tally *tallies;
    size_t tcap;
    char *arena;
    size_t alen, acap;
    /* history, explain: the one key */
    const ot_view *tview;
    const char *tkey;
    size_t tlen;
    ot_counts tsum;
    ot_history_fn hfn;      /* history: where rows go */
    void *hctx;
} s_run;

static void
s_ev_key(const void *ctx, uint32_t i, const char **key, size_t *len)
{
    const s_run *r = ctx;
    *key = r->evs[i].id;
    *len = r->evs[i].idlen;
}

static void
s_inc_key(const void *ctx, uint32_t i, const char **key, size_t *len)
{
    const s_run *r = ctx;
    *key = r->incv[i].name;
    *len = r->incv[i].len;
}

static void
s_tally_key(const void *ctx, uint32_t i, const char **key, size_t *len)
{
    const s_run *r = ctx;
    *key = r->arena + r->tallies[i].off;
    *len = r->tallies[i].len;
}

/* The event view of the record at seq (into the map). A record every
 * stored event passed validation for: an id of 1..OT_EVENT_ID_MAX bytes. */
static int
s_parse(const uint8_t *rec, size_t len, ot_event_view *v)
{
    const uint8_t *evb;
    size_t evlen;
    if (ot_store_int_record_event(rec, len, &evb, &evlen) != 0 ||
        ot_event_view_parse(evb, evlen, v) != 0)
        return OT_ECORRUPT;
    size_t idlen = v->len[OT_F_EVENT_ID];
    return idlen >= 1 && idlen <= OT_EVENT_ID_MAX ? 0 : OT_ECORRUPT;
}

static int
s_view_at(const s_run *r, uint64_t seq, ot_event_view *v)
{
    MDB_val k = { sizeof seq, &seq }, d;
    int rc = mdb_get(r->txn, r->s->log, &k, &d);
    if (rc != 0)
        return rc == MDB_NOTFOUND ? OT_ECORRUPT : rc;
    return s_parse(d.mv_data, d.mv_size, v);
}

/* ---- sinks --------------------------------------------------------------- */

/* The key of the event v in view, or OT_ENOTFOUND when the view leaves it
 * out; a key field out of range is a record we never stored (OT_ECORRUPT). */
static int
s_key(const ot_view *view, const ot_event_view *v, char *buf, size_t *len)
{
    int rc = ot_view_key_ev(view, v, buf, OT_VIEW_KEY_MAX, len);
    return rc == ENOSPC || rc == EINVAL ? OT_ECORRUPT : rc;
}

static int
s_tally_add(s_run *r, const char *key, size_t len, const ot_counts *c, int sign)
{
    uint32_t e;
    bool added;
    int rc = s_room((void **)&r->tallies, &r->tcap, r->keys.n, sizeof *r->tallies);
    if (rc != 0)
        return rc;
    if (r->acap - r->alen < len) {
        size_t cap = r->acap ? r->acap * 2 : 4096;
        while (cap - r->alen < len)
            cap *= 2;
        char *a = realloc(r->arena, cap);
        if (!a)
            return ENOMEM;
        r->arena = a;
        r->acap = cap;
    }
    /* The would-be entry is written first (the index compares through the
     * existing ones only); it is kept when the key is new. */
    memcpy(r->arena + r->alen, key, len);
    r->tallies[r->keys.n] = (s_tally){ .off = r->alen, .len = len };
    if ((rc = s_index_get(&r->keys, key, len, true, &e, &added)) != 0)
        return rc;
    if (added)
        r->alen += len;
    ot_counts_add(&r->tallies[e].c, c, sign);
    return 0;
}

/* Add sign * (contribution of v) where the run looks. */
static int
s_sink(s_run *r, const ot_event_view *v, int sign)
{
    ot_counts c;
    if (r->mode == S_EXPLAIN)
        return 0;   /* explain looks at the end state only */
    ot_counts_of_view(v, &c);
    if (ot_counts_zero(&c))
        return 0;   /* a retraction contributes nothing */
    char key[OT_VIEW_KEY_MAX];
    size_t len;
    int rc;
    if (r->mode == S_ONE_KEY) {
        rc = s_key(r->tview, v, key, &len);
        if (rc == 0 && len == r->tlen && memcmp(key, r->tkey, len) == 0)
            ot_counts_add(&r->tsum, &c, sign);
        return rc == OT_ENOTFOUND ? 0 : rc;
    }
    for (size_t i = 0; i < r->nviews; i++) {
        rc = s_key(r->views[i], v, key, &len);
        if (rc == OT_ENOTFOUND)
            continue;
        if (rc == 0)
            rc = s_tally_add(r, key, len, &c, sign);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* ---- incidents: the store's rule over the members held here -------------- */

static int
s_src_aggregate(void *ctx, const char *id, size_t len, ot_event_view *v, uint64_t *seq)
{
    (void)ctx, (void)id, (void)len, (void)v, (void)seq;
    return OT_ENOTFOUND;   /* never asked: incidents need members only */
}

static int
s_src_children(void *ctx, const char *id, size_t len, ot_groups_id_fn fn, void *fctx)
{
    (void)ctx, (void)id, (void)len, (void)fn, (void)fctx;
    return 0;
}

static int
s_src_members(void *ctx, const char *inc, size_t len, ot_groups_member_fn fn, void *fctx)
{
    s_run *r = ctx;
    uint32_t i;
    bool added;
    int rc = s_index_get(&r->incs, inc, len, false, &i, &added);
    if (rc != 0)
        return rc == OT_ENOTFOUND ? 0 : rc;
    const s_inc *in = &r->incv[i];
    for (size_t m = 0; m < in->n; m++) {
        const s_ev *ev = &r->evs[in->members[m]];
        ot_event_view v;
        if ((rc = s_view_at(r, ev->seq, &v)) != 0 || (rc = fn(fctx, &v, ev->seq, ev->first)) != 0)
            return rc;
    }
    return 0;
}

/* Pick incident i's counted member now (inc->counted). */
static int
s_pick(s_run *r, uint32_t i)
{
    ot_groups_src src = { r, s_src_aggregate, s_src_children, s_src_members };
    s_inc *in = &r->incv[i];
    return ot_groups_incident_add(&src, r->rank, in->name, in->len, NULL, +1, &in->counted);
}

/* Take incident i's contribution out (sign -1) or, picking its counted
 * member anew, put it back (+1). Explain needs only the end state: it
 * picks once at the end. */
static int
s_incident(s_run *r, uint32_t i, int sign)
{
    if (r->mode == S_EXPLAIN)
        return 0;
    int rc = sign > 0 ? s_pick(r, i) : 0;
    ot_event_view v;
    if (rc != 0 || r->incv[i].counted == 0)
        return rc;
    if ((rc = s_view_at(r, r->incv[i].counted, &v)) != 0)
        return rc;
    return s_sink(r, &v, sign);
}

static int
s_member_add(s_run *r, uint32_t i, uint32_t e)
{
    s_inc *in = &r->incv[i];
    int rc = s_room((void **)&in->members, &in->cap, in->n, sizeof *in->members);
    if (rc != 0)
        return rc;
    r->evs[e].pos = (uint32_t)in->n;
    in->members[in->n++] = e;
    return 0;
}

static void
s_member_del(s_run *r, uint32_t i, uint32_t e)
{
    s_inc *in = &r->incv[i];
    uint32_t pos = r->evs[e].pos, last = in->members[--in->n];
    in->members[pos] = last;
    r->evs[last].pos = pos;
}

/* ---- one step of the replay ------------------------------------------------ */

/* The entry of id (len bytes, into the map), made when new. */
static int
s_ev_get(s_run *r, const char *id, size_t len, uint32_t *e)
{
    bool added;
    int rc = s_room((void **)&r->evs, &r->evcap, r->ids.n, sizeof *r->evs);
    if (rc != 0)
        return rc;
    /* filled before the index may compare through it */
    r->evs[r->ids.n] = (s_ev){ .id = id, .idlen = len };
    return s_index_get(&r->ids, id, len, true, e, &added);
}

static int
s_inc_get(s_run *r, const char *name, size_t len, uint32_t *i)
{
    bool added;
    int rc = s_room((void **)&r->incv, &r->inccap, r->incs.n, sizeof *r->incv);
    if (rc != 0)
        return rc;
    r->incv[r->incs.n] = (s_inc){ .name = name, .len = len };
    return s_index_get(&r->incs, name, len, true, i, &added);
}

/* The record at seq (view v) becomes its event's current revision. */
static int
s_step(s_run *r, uint64_t seq, const ot_event_view *v)
{
    bool agg = ot_event_view_granularity(v) == OPTALLY__GRANULARITY__AGGREGATE;
    size_t ilen = agg ? 0 : v->len[OT_F_EVENT_INCIDENT];
    uint32_t e, ni = 0;
    int rc = s_ev_get(r, v->str[OT_F_EVENT_ID], v->len[OT_F_EVENT_ID], &e);
    if (rc == 0 && ilen) {
        rc = s_inc_get(r, v->str[OT_F_EVENT_INCIDENT], ilen, &ni);
        ni++;
    }
    if (rc != 0)
        return rc;
    uint32_t oi = r->evs[e].inc;
    if (r->mode != S_EXPLAIN && r->evs[e].seq && r->evs[e].plain) {
        ot_event_view ov;
        if ((rc = s_view_at(r, r->evs[e].seq, &ov)) != 0 || (rc = s_sink(r, &ov, -1)) != 0)
            return rc;
    }
    if ((oi && (rc = s_incident(r, oi - 1, -1)) != 0) ||
        (ni && ni != oi && (rc = s_incident(r, ni - 1, -1)) != 0))
        return rc;
    if (oi != ni) {
        /* a new stint: the member joins the incident at this seq */
        if (oi)
            s_member_del(r, oi - 1, e);
        if (ni && (rc = s_member_add(r, ni - 1, e)) != 0)
            return rc;
        r->evs[e].first = seq;
        r->evs[e].inc = ni;
    }
    r->evs[e].seq = seq;
    r->evs[e].plain = !agg && !ilen;
    if ((oi && (rc = s_incident(r, oi - 1, +1)) != 0) ||
        (ni && ni != oi && (rc = s_incident(r, ni - 1, +1)) != 0))
        return rc;
    return r->evs[e].plain ? s_sink(r, v, +1) : 0;
}

/* ---- the run --------------------------------------------------------------- */

static int
s_run_init(s_run *r, ot_store *s, s_mode mode)
{
    char rank[S_RANK_MAX];
    memset(r, 0, sizeof *r);
    r->s = s;
    r->mode = mode;
    int rc = ot_store_source_rank(s, rank, sizeof rank);
    if (rc == 0)
        rc = ot_groups_rank_new(rank, &r->rank);
    if (rc == EINVAL)
        rc = OT_ECORRUPT;   /* the stored ranking always parses */
    if (rc == 0)
        rc = s_index_init(&r->ids, s_ev_key, r);
    if (rc == 0)
        rc = s_index_init(&r->incs, s_inc_key, r);
    if (rc == 0)
        rc = s_index_init(&r->keys, s_tally_key, r);
    return rc;
}

static void
s_run_free(s_run *r)
{
    if (r->txn)
        ot_store_int_read_end(r->s, r->txn);
    for (size_t i = 0; i < r->incs.n; i++)
        free(r->incv[i].members);
    s_index_free(&r->ids);
    s_index_free(&r->incs);
    s_index_free(&r->keys);
    free(r->evs);
    free(r->incv);
    free(r->tallies);
    free(r->arena);
    ot_groups_rank_free(&r->rank);
    ot_viewset_free(&r->vs);
}

/* Begin the run's read transaction and read the views in force in it, so
 * the views and the log are of one moment (a view added meanwhile by a
 * writer in another process is either wholly there or not). */
static int
s_begin(s_run *r)
{
    int rc = ot_store_int_read_begin(r->s, &r->txn);
    if (rc != 0) {
        r->txn = NULL;
        return rc;
    }
    return r->s->has_dbs ? ot_store_int_load_views(r->s, r->txn, &r->vs) : ot_viewset_new(&r->vs);
}

/* The last log seq in the run's transaction (0: empty). */
static int
s_last(s_run *r, uint64_t *last)
{
    MDB_cursor *c;
    MDB_val k, v;
    *last = 0;
    if (!r->s->has_dbs)
        return 0;
    int rc = mdb_cursor_open(r->txn, r->s->log, &c);
    if (rc != 0)
        return rc;
    rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
    if (rc == 0)
        memcpy(last, k.mv_data, sizeof *last);
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* The received_at field of a LogRecord (0 when absent, as protobuf reads it). */
static int
s_received_at(const uint8_t *rec, size_t len, int64_t *out)
{
    const uint8_t *p = rec, *end = rec + len;
    *out = 0;
    while (p < end) {
        ot_wire_field f;
        if (ot_wire_next_field(&p, end, &f) != 0)
            return OT_ECORRUPT;
        if (f.num == OT_F_LOGRECORD_RECEIVED_AT && f.wt == OT_WIRE_VARINT)
            *out = (int64_t)f.u;
    }
    return 0;
}

/* Called after each event record of the replay. */
typedef int (*s_after_fn)(s_run *r, uint64_t seq, const MDB_val *rec, const ot_counts *before);

/* Replay the records 1..upto (in the run's transaction). */
static int
s_replay(s_run *r, uint64_t upto, s_after_fn after, ot_store_progress_fn progress, void *pctx)
{
    MDB_cursor *c;
    MDB_val k, v;
    uint64_t done = 0;
    if (upto == 0)
        return 0;
    int rc = mdb_cursor_open(r->txn, r->s->log, &c);
    if (rc != 0)
        return rc;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        uint64_t seq;
        ot_event_view ev;
        memcpy(&seq, k.mv_data, sizeof seq);
        if (seq > upto)
            break;
        if (s_parse(v.mv_data, v.mv_size, &ev) == 0) {
            ot_counts before = r->tsum;
            if ((rc = s_step(r, seq, &ev)) != 0 ||
                (after && (rc = after(r, seq, &v, &before)) != 0))
                break;
        } else {
            const uint8_t *fig;
            size_t flen;
            /* a figure: no part of the tallies; anything else is damage */
            if ((rc = ot_store_int_record_figure(v.mv_data, v.mv_size, &fig, &flen)) != 0) {
                rc = OT_ECORRUPT;
                break;
            }
        }
        if (++done % S_PROGRESS_EVERY == 0 && progress)
            progress(pctx, done, upto);
    }
    mdb_cursor_close(c);
    if (rc == MDB_NOTFOUND)
        rc = 0;
    if (rc == 0 && progress)
        progress(pctx, done, upto);
    return rc;
}

/* ---- as-of ------------------------------------------------------------------- */

/* Can a key of view name start with prefix? Keys are name or name "/" ... */
static bool
s_view_may_match(const char *name, const char *prefix)
{
    size_t nl = strlen(name), pl = strlen(prefix);
    if (pl <= nl)
        return memcmp(name, prefix, pl) == 0;
    return memcmp(name, prefix, nl) == 0 && prefix[nl] == '/';
}

/* LMDB's default key order (mdb_cmp_memn): bytes, then the shorter first. */
static int
s_cmp_bytes(const char *a, size_t al, const char *b, size_t bl)
{
    int d = memcmp(a, b, al < bl ? al : bl);
    return d ? d : (al > bl) - (al < bl);
}

static const char *s_sort_arena;   /* qsort has no context argument */

static int
s_cmp_tally(const void *pa, const void *pb)
{
    const s_tally *a = pa, *b = pb;
    return s_cmp_bytes(s_sort_arena + a->off, a->len, s_sort_arena + b->off, b->len);
}

/* Visit the non-zero sums whose key starts with prefix, in key order. */
static int
s_emit(s_run *r, const char *prefix, ot_store_tally_fn fn, void *ctx)
{
    size_t pl = strlen(prefix), n = 0;
    /* Compact in place: the index is not used any more. */
    for (size_t i = 0; i < r->keys.n; i++) {
        const s_tally *t = &r->tallies[i];
        if (ot_counts_zero(&t->c) || t->len < pl || memcmp(r->arena + t->off, prefix, pl) != 0)
            continue;
        r->tallies[n++] = *t;
    }
    if (n > 1) {
        s_sort_arena = r->arena;
        qsort(r->tallies, n, sizeof *r->tallies, s_cmp_tally);
    }
    for (size_t i = 0; i < n; i++) {
        const s_tally *t = &r->tallies[i];
        int rc = fn(ctx, r->arena + t->off, t->len, &t->c);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int
ot_timeline_as_of(ot_store *s, uint64_t seq, const char *prefix, ot_store_tally_fn fn,
                  void *ctx, ot_store_progress_fn progress, void *pctx)
{
    s_run r;
    uint64_t last;
    if (!prefix)
        prefix = "";
    int rc = s_run_init(&r, s, S_AS_OF);
    if (rc == 0)
        rc = s_begin(&r);
    for (size_t i = 0; rc == 0 && i < ot_viewset_count(r.vs); i++) {
        const ot_view *v = ot_viewset_at(r.vs, i);
        if (v && s_view_may_match(v->name, prefix))
            r.views[r.nviews++] = v;
    }
    if (rc == 0 && (rc = s_last(&r, &last)) == 0 && seq > last)
        rc = OT_ENOTFOUND;
    if (rc == 0 && r.nviews > 0)
        rc = s_replay(&r, seq, NULL, progress, pctx);
    if (rc == 0) {
        /* the sums are ours: the map is not needed to visit them */
        ot_store_int_read_end(s, r.txn);
        r.txn = NULL;
        rc = s_emit(&r, prefix, fn, ctx);
    }
    s_run_free(&r);
    return rc;
}

/* ---- seq at a time ------------------------------------------------------------ */

int
ot_timeline_seq_at_time(ot_store *s, int64_t t_ms, uint64_t *seq)
{
    MDB_txn *txn;
    MDB_cursor *c;
    MDB_val k, v;
    *seq = 0;
    if (!s->has_dbs)
        return 0;
    int rc = ot_store_int_read_begin(s, &txn);
    if (rc != 0)
        return rc;
    if ((rc = mdb_cursor_open(txn, s->log, &c)) != 0) {
        ot_store_int_read_end(s, txn);
        return rc;
    }
    /* received_at is the consumer's wall clock, which may step back (NTP, a
     * restart on another host): the log is in seq order, not time order, so
     * a binary search could land anywhere. The answer is the LAST seq whose
     * received_at <= t; walking from the end, the first such record met is
     * it. That is a scan of the records received after t (all of the log
     * for a t before it), bounded by the log's length. */
    for (rc = mdb_cursor_get(c, &k, &v, MDB_LAST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_PREV)) {
        int64_t at;
        if ((rc = s_received_at(v.mv_data, v.mv_size, &at)) != 0)
            break;
        if (at <= t_ms) {
            memcpy(seq, k.mv_data, sizeof *seq);
            break;
        }
    }
    if (rc == MDB_NOTFOUND)
        rc = 0;
    mdb_cursor_close(c);
    ot_store_int_read_end(s, txn);
    return rc;
}

/* ---- one key: history and explain ------------------------------------------ */

/* Find the view of key (len bytes) in the run's set. Returns 0,
 * OT_ENOTFOUND (no view of the store), EINVAL (malformed). */
static int
s_target(s_run *r, const char *key, size_t len)
{
    const char *vals[OT_VIEW_MAX_FIELDS];
    char valbuf[OT_VIEW_KEY_MAX];
    if (len >= OT_VIEW_KEY_MAX)
        return OT_ENOTFOUND;   /* longer than any key of any view */
    int rc = ot_viewset_key_split(r->vs, key, len, &r->tview, vals, valbuf, sizeof valbuf);
    if (rc == ENOSPC)
        rc = EINVAL;
    r->tkey = key;
    r->tlen = len;
    return rc;
}

static int
s_hist_after(s_run *r, uint64_t seq, const MDB_val *rec, const ot_counts *before)
{
    if (memcmp(before, &r->tsum, sizeof *before) == 0)
        return 0;
    ot_history_row row = { .seq = seq, .after = r->tsum, .delta = r->tsum };
    ot_counts_add(&row.delta, before, -1);
    int rc = s_received_at(rec->mv_data, rec->mv_size, &row.received_at);
    if (rc != 0)
        return rc;
    return r->hfn ? r->hfn(r->hctx, &row) : 0;
}

int
ot_timeline_history(ot_store *s, const char *key, size_t len, ot_history_fn fn, void *ctx)
{
    s_run r;
    uint64_t last;
    int rc = s_run_init(&r, s, S_ONE_KEY);
    r.hfn = fn;
    r.hctx = ctx;
    if (rc == 0)
        rc = s_begin(&r);
    if (rc == 0)
        rc = s_target(&r, key, len);
    if (rc == 0)
        rc = s_last(&r, &last);
    if (rc == 0)
        rc = s_replay(&r, last, s_hist_after, NULL, NULL);
    s_run_free(&r);
    return rc;
}

/* A contributor found by explain, before it is decoded. */
typedef struct s_contrib {
    uint64_t seq;
    uint32_t inc;           /* incident entry + 1; 0: none */
    ot_counts c;
} s_contrib;

typedef struct s_contribs {
    s_contrib *v;
    size_t n, cap;
} s_contribs;

/* Add the revision at seq when it counts at the run's key. */
static int
s_contrib_add(s_run *r, s_contribs *cs, uint64_t seq, uint32_t inc)
{
    ot_event_view v;
    ot_counts c;
    char key[OT_VIEW_KEY_MAX];
    size_t len;
    int rc = s_view_at(r, seq, &v);
    if (rc != 0)
        return rc;
    ot_counts_of_view(&v, &c);
    if (ot_counts_zero(&c))
        return 0;   /* retracted */
    if ((rc = s_key(r->tview, &v, key, &len)) != 0)
        return rc == OT_ENOTFOUND ? 0 : rc;
    if (len != r->tlen || memcmp(key, r->tkey, len) != 0)
        return 0;
    if ((rc = s_room((void **)&cs->v, &cs->cap, cs->n, sizeof *cs->v)) != 0)
        return rc;
    cs->v[cs->n++] = (s_contrib){ .seq = seq, .inc = inc, .c = c };
    return 0;
}

static int
s_cmp_contrib(const void *pa, const void *pb)
{
    const s_contrib *a = pa, *b = pb;
    return (a->seq > b->seq) - (a->seq < b->seq);
}

/* Every contributor of the end state: plain events and counted members. */
static int
s_contributors(s_run *r, s_contribs *cs)
{
    int rc = 0;
    for (size_t e = 0; rc == 0 && e < r->ids.n; e++)
        if (r->evs[e].plain)
            rc = s_contrib_add(r, cs, r->evs[e].seq, 0);
    for (uint32_t i = 0; rc == 0 && i < r->incs.n; i++) {
        if ((rc = s_pick(r, i)) == 0 && r->incv[i].counted)
            rc = s_contrib_add(r, cs, r->incv[i].counted, i + 1);
    }
    if (rc == 0 && cs->n > 1)
        qsort(cs->v, cs->n, sizeof *cs->v, s_cmp_contrib);
    return rc;
}

/* Decode contributor c and hand it to fn. */
static int
s_explain_one(s_run *r, const s_contrib *c, ot_explain_fn fn, void *ctx)
{
    MDB_val k = { sizeof c->seq, (void *)&c->seq }, d;
    const uint8_t *evb;
    size_t evlen;
    int rc = mdb_get(r->txn, r->s->log, &k, &d);
    if (rc != 0)
        return rc == MDB_NOTFOUND ? OT_ECORRUPT : rc;
    if (ot_store_int_record_event(d.mv_data, d.mv_size, &evb, &evlen) != 0)
        return OT_ECORRUPT;
    Optally__OperationEvent *ev = optally__operation_event__unpack(NULL, evlen, evb);
    if (!ev)
        return OT_ECORRUPT;   /* it parsed as a view: only memory can fail here */
    ot_explain_row row = {
        .ev = ev, .seq = c->seq, .contribution = c->c,
        .incident = c->inc && ev->incident ? ev->incident : "",
        .incident_members = c->inc ? r->incv[c->inc - 1].n : 0,
    };
    rc = fn ? fn(ctx, &row) : 0;
    optally__operation_event__free_unpacked(ev, NULL);
    return rc;
}

int
ot_timeline_explain(ot_store *s, const char *key, size_t len, ot_explain_fn fn, void *ctx,
                    ot_counts *total, uint64_t *events)
{
    s_run r;
    s_contribs cs = { 0 };
    uint64_t last;
    ot_counts sum = { 0 };
    int rc = s_run_init(&r, s, S_EXPLAIN);
    if (rc == 0)
        rc = s_begin(&r);
    if (rc == 0)
        rc = s_target(&r, key, len);
    if (rc == 0)
        rc = s_last(&r, &last);
    if (rc == 0)
        rc = s_replay(&r, last, NULL, NULL, NULL);
    if (rc == 0)
        rc = s_contributors(&r, &cs);
    for (size_t i = 0; rc == 0 && i < cs.n; i++) {
        ot_counts_add(&sum, &cs.v[i].c, +1);
        rc = s_explain_one(&r, &cs.v[i], fn, ctx);
    }
    if (rc == 0 && total)
        *total = sum;
    if (rc == 0 && events)
        *events = cs.n;
    free(cs.v);
    s_run_free(&r);
    return rc;
}
