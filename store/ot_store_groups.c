/*
 * ot_store_groups: the store's side of issue 11 ("reports as published"):
 * the databases that index the groups (ot_groups.h), the LMDB-backed group
 * source the live fold and the read walks share, and the read walks of
 * ot_store.h over reported tallies, aggregates, incidents and figures.
 *
 * Databases (created by a writer when missing, so an older store opens; a
 * reader of a store without them reads them as empty):
 *   reported    tally key -> 7 x int64 (ot_counts), as tallies
 *   aggregates  event_id -> u64 log seq of its current revision, for every
 *               event whose current revision is an AGGREGATE
 *   children    parent_id "\0" event_id -> "", for every current aggregate
 *               revision with a parent_id
 *   incidents   incident "\0" event_id -> { u64 first_seq, u64 cur_seq }, for
 *               every current OPERATION revision with an incident; first_seq
 *               is the seq of the revision by which the event joined that
 *               incident (its first revision, unless an earlier one had
 *               another incident or none)
 *   figures     figure_id -> u64 log seq of its current revision
 *
 * Invariant: each index holds exactly what the log's current revisions say
 * (rebuild --check recomputes and compares them).
 */
#include "ot_store_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ot_error.h"
#include "ot_view.h"
#include "ot_wire.h"

int
ot_store_int_open_group_dbs(ot_store *s, MDB_txn *txn)
{
    unsigned cf = s->readonly ? 0 : MDB_CREATE;
    int rc;
    if ((rc = mdb_dbi_open(txn, "reported", cf, &s->reported)) != 0 ||
        (rc = mdb_dbi_open(txn, "aggregates", cf, &s->aggregates)) != 0 ||
        (rc = mdb_dbi_open(txn, "children", cf, &s->children)) != 0 ||
        (rc = mdb_dbi_open(txn, "incidents", cf, &s->incidents)) != 0 ||
        (rc = mdb_dbi_open(txn, "figures", cf, &s->figures)) != 0) {
        if (rc == MDB_NOTFOUND && s->readonly)
            return 0;   /* an older store: no groups yet */
        return rc;
    }
    s->has_groups = true;
    return 0;
}

int
ot_store_int_record_figure(const uint8_t *rec, size_t len, const uint8_t **fig, size_t *flen)
{
    int rc = ot_wire_find_bytes(rec, len, OT_F_LOGRECORD_FIGURE, fig, flen);
    return rc == 0 || rc == OT_ENOTFOUND ? rc : OT_ECORRUPT;
}

/* ---- the LMDB source ------------------------------------------------------ */

/* The event view of the log record at seq. */
static int
s_view_at(ot_store *s, MDB_txn *txn, uint64_t seq, ot_event_view *v)
{
    MDB_val k = { sizeof seq, &seq }, d;
    const uint8_t *ev;
    size_t evlen;
    int rc = mdb_get(txn, s->log, &k, &d);
    if (rc != 0)
        return rc == MDB_NOTFOUND ? OT_ECORRUPT : rc;
    if (ot_store_int_record_event(d.mv_data, d.mv_size, &ev, &evlen) != 0 ||
        ot_event_view_parse(ev, evlen, v) != 0)
        return OT_ECORRUPT;
    return 0;
}

static int
s_src_aggregate(void *ctx, const char *id, size_t len, ot_event_view *v, uint64_t *seq)
{
    ot_store_src *c = ctx;
    if (!c->s->has_groups || len == 0)
        return OT_ENOTFOUND;
    MDB_val k = { len, (void *)id }, d;
    int rc = mdb_get(c->txn, c->s->aggregates, &k, &d);
    if (rc == MDB_NOTFOUND)
        return OT_ENOTFOUND;
    if (rc != 0)
        return rc;
    if (d.mv_size != sizeof *seq)
        return OT_ECORRUPT;
    memcpy(seq, d.mv_data, sizeof *seq);
    if ((rc = s_view_at(c->s, c->txn, *seq, v)) != 0)
        return rc;
    return ot_event_view_granularity(v) == OPTALLY__GRANULARITY__AGGREGATE ? 0 : OT_ECORRUPT;
}

/* Walk the keys of dbi that start with prefix "\0": fn(rest of key, value). */
typedef int (*s_prefix_fn)(void *ctx, const char *rest, size_t len, const MDB_val *val);

static int
s_prefix_walk(MDB_txn *txn, MDB_dbi dbi, const char *prefix, size_t plen, s_prefix_fn fn,
              void *ctx)
{
    char key[OT_GROUPS_ID_MAX + 2];
    if (plen > OT_GROUPS_ID_MAX)
        return OT_ECORRUPT;
    memcpy(key, prefix, plen);
    key[plen] = '\0';
    MDB_cursor *cur;
    MDB_val k = { plen + 1, key }, v;
    int rc = mdb_cursor_open(txn, dbi, &cur);
    if (rc != 0)
        return rc;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size < plen + 1 || memcmp(k.mv_data, key, plen + 1) != 0)
            break;
        if ((rc = fn(ctx, (const char *)k.mv_data + plen + 1, k.mv_size - plen - 1, &v)) != 0)
            break;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

typedef struct s_kids {
    ot_groups_id_fn fn;
    void *fctx;
} s_kids;

static int
s_kid(void *ctx, const char *rest, size_t len, const MDB_val *val)
{
    (void)val;
    s_kids *k = ctx;
    return k->fn(k->fctx, rest, len);
}

static int
s_src_children(void *ctx, const char *id, size_t len, ot_groups_id_fn fn, void *fctx)
{
    ot_store_src *c = ctx;
    if (!c->s->has_groups)
        return 0;
    s_kids k = { fn, fctx };
    return s_prefix_walk(c->txn, c->s->children, id, len, s_kid, &k);
}

typedef struct s_mem {
    ot_store_src *c;
    ot_groups_member_fn fn;
    void *fctx;
} s_mem;

static int
s_member(void *ctx, const char *rest, size_t len, const MDB_val *val)
{
    (void)rest;
    (void)len;
    s_mem *m = ctx;
    uint64_t seqs[2];
    ot_event_view v;
    if (val->mv_size != sizeof seqs)
        return OT_ECORRUPT;
    memcpy(seqs, val->mv_data, sizeof seqs);
    int rc = s_view_at(m->c->s, m->c->txn, seqs[1], &v);
    return rc != 0 ? rc : m->fn(m->fctx, &v, seqs[1], seqs[0]);
}

static int
s_src_members(void *ctx, const char *inc, size_t len, ot_groups_member_fn fn, void *fctx)
{
    ot_store_src *c = ctx;
    if (!c->s->has_groups)
        return 0;
    s_mem m = { c, fn, fctx };
    return s_prefix_walk(c->txn, c->s->incidents, inc, len, s_member, &m);
}

void
ot_store_int_src(ot_store *s, MDB_txn *txn, ot_store_src *ctx, ot_groups_src *src)
{
    ctx->s = s;
    ctx->txn = txn;
    src->ctx = ctx;
    src->aggregate = s_src_aggregate;
    src->children = s_src_children;
    src->members = s_src_members;
}

/* ---- index maintenance ------------------------------------------------------ */

static int
s_copy(const ot_event_view *v, uint32_t f, char *buf, size_t *len)
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
ot_store_int_shape(const ot_event_view *v, ot_store_shape *out)
{
    memset(out, 0, sizeof *out);
    if (!v)
        return 0;
    out->present = true;
    out->aggregate = ot_event_view_granularity(v) == OPTALLY__GRANULARITY__AGGREGATE;
    out->retracted = v->num[OT_F_EVENT_RETRACTED] != 0;
    int rc;
    if ((rc = s_copy(v, OT_F_EVENT_ID, out->id, &out->idlen)) != 0 ||
        (rc = s_copy(v, OT_F_EVENT_PARENT_ID, out->parent, &out->plen)) != 0 ||
        (rc = s_copy(v, OT_F_EVENT_INCIDENT, out->incident, &out->ilen)) != 0)
        return rc;
    if (out->aggregate)
        out->ilen = 0;   /* validation refuses both; never index one */
    else
        out->plen = 0;
    out->plain = !out->aggregate && out->ilen == 0;
    return 0;
}

/* a "\0" b into key (2 * OT_GROUPS_ID_MAX + 1 bytes). */
static size_t
s_pair(char *key, const char *a, size_t alen, const char *b, size_t blen)
{
    memcpy(key, a, alen);
    key[alen] = '\0';
    memcpy(key + alen + 1, b, blen);
    return alen + 1 + blen;
}

static int
s_del(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t len)
{
    MDB_val k = { len, (void *)key };
    int rc = mdb_del(txn, dbi, &k, NULL);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static int
s_put(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t len, const void *val, size_t vlen)
{
    MDB_val k = { len, (void *)key }, v = { vlen, (void *)val };
    return mdb_put(txn, dbi, &k, &v, 0);
}

int
ot_store_int_index_update(ot_store *s, MDB_txn *txn, const ot_store_shape *old,
                          const ot_store_shape *nw, uint64_t seq)
{
    char key[2 * OT_GROUPS_ID_MAX + 2];
    size_t kl;
    int rc = 0;
    uint64_t first = seq;
    const ot_store_shape *id = nw->present ? nw : old;
    if (old->present && old->aggregate && !nw->aggregate)
        rc = s_del(txn, s->aggregates, old->id, old->idlen);
    if (rc == 0 && old->present && old->plen &&
        !(nw->plen == old->plen && memcmp(nw->parent, old->parent, old->plen) == 0)) {
        kl = s_pair(key, old->parent, old->plen, old->id, old->idlen);
        rc = s_del(txn, s->children, key, kl);
    }
    if (rc == 0 && old->present && old->ilen) {
        kl = s_pair(key, old->incident, old->ilen, old->id, old->idlen);
        if (nw->ilen == old->ilen && memcmp(nw->incident, old->incident, old->ilen) == 0) {
            MDB_val k = { kl, key }, v;
            uint64_t seqs[2];
            rc = mdb_get(txn, s->incidents, &k, &v);
            if (rc == 0 && v.mv_size == sizeof seqs) {
                memcpy(seqs, v.mv_data, sizeof seqs);
                first = seqs[0];   /* still the same stint in this incident */
            } else if (rc == 0 || rc == MDB_NOTFOUND) {
                rc = 0;
            }
        } else {
            rc = s_del(txn, s->incidents, key, kl);
        }
    }
    if (rc == 0 && nw->aggregate)
        rc = s_put(txn, s->aggregates, id->id, id->idlen, &seq, sizeof seq);
    if (rc == 0 && nw->plen) {
        kl = s_pair(key, nw->parent, nw->plen, id->id, id->idlen);
        rc = s_put(txn, s->children, key, kl, "", 0);
    }
    if (rc == 0 && nw->ilen) {
        uint64_t seqs[2] = { first, seq };
        kl = s_pair(key, nw->incident, nw->ilen, id->id, id->idlen);
        rc = s_put(txn, s->incidents, key, kl, seqs, sizeof seqs);
    }
    return rc;
}

int
ot_store_int_apply_reported(ot_store *s, MDB_txn *txn, const ot_tally_acc *racc, uint64_t *puts)
{
    size_t n = ot_tally_acc_count(racc);
    for (size_t i = 0; i < n; i++) {
        const char *key;
        size_t len;
        const ot_counts *d;
        ot_tally_acc_at(racc, i, &key, &len, &d);
        if (ot_counts_zero(d))
            continue;
        MDB_val k = { len, (void *)key }, v;
        ot_counts cur = { 0 };
        int rc = mdb_get(txn, s->reported, &k, &v);
        if (rc == 0 && ot_counts_read(v.mv_data, v.mv_size, &cur) != 0)
            return OT_ECORRUPT;
        if (rc != 0 && rc != MDB_NOTFOUND)
            return rc;
        ot_counts_add(&cur, d, +1);
        (*puts)++;
        if (ot_counts_zero(&cur)) {
            rc = mdb_del(txn, s->reported, &k, NULL);
            rc = rc == MDB_NOTFOUND ? 0 : rc;
        } else {
            v.mv_size = sizeof cur;
            v.mv_data = &cur;
            rc = mdb_put(txn, s->reported, &k, &v, 0);
        }
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* ---- read walks -------------------------------------------------------------- */

int
ot_store_reported_foreach(ot_store *s, const char *prefix, ot_store_tally_fn fn, void *ctx)
{
    if (!s->has_dbs || !s->has_groups)
        return 0;
    MDB_txn *txn;
    int rc = ot_store_int_read_begin(s, &txn);
    if (rc != 0)
        return rc;
    rc = ot_store_int_tally_walk(txn, s->reported, prefix, fn, ctx);
    ot_store_int_read_end(s, txn);
    return rc;
}

/* The LogRecord at seq, unpacked (free with optally__log_record__free_unpacked). */
static int
s_record_at(ot_store *s, MDB_txn *txn, uint64_t seq, Optally__LogRecord **out)
{
    MDB_val k = { sizeof seq, &seq }, d;
    int rc = mdb_get(txn, s->log, &k, &d);
    if (rc != 0)
        return rc == MDB_NOTFOUND ? OT_ECORRUPT : rc;
    *out = optally__log_record__unpack(NULL, d.mv_size, d.mv_data);
    return *out ? 0 : OT_ECORRUPT;
}

/* Visit the u64 values of an id -> seq DB in key order. */
typedef int (*s_seq_fn)(void *ctx, MDB_txn *txn, uint64_t seq);

static int
s_seq_walk(ot_store *s, MDB_dbi dbi, s_seq_fn fn, void *ctx)
{
    if (!s->has_dbs || !s->has_groups)
        return 0;
    MDB_txn *txn;
    MDB_cursor *c;
    MDB_val k, v;
    int rc = ot_store_int_read_begin(s, &txn);
    if (rc != 0)
        return rc;
    if ((rc = mdb_cursor_open(txn, dbi, &c)) != 0) {
        ot_store_int_read_end(s, txn);
        return rc;
    }
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        uint64_t seq;
        if (v.mv_size != sizeof seq) {
            rc = OT_ECORRUPT;
            break;
        }
        memcpy(&seq, v.mv_data, sizeof seq);
        if ((rc = fn(ctx, txn, seq)) != 0)
            break;
    }
    if (rc == MDB_NOTFOUND)
        rc = 0;
    mdb_cursor_close(c);
    ot_store_int_read_end(s, txn);
    return rc;
}

typedef struct s_aggw {
    ot_store *s;
    ot_store_event_fn fn;
    ot_store_figure_fn ffn;
    void *ctx;
    const ot_view *view;
    ot_store_placement_fn pfn;
} s_aggw;

static int
s_agg_one(void *ctx, MDB_txn *txn, uint64_t seq)
{
    s_aggw *w = ctx;
    Optally__LogRecord *r;
    int rc = s_record_at(w->s, txn, seq, &r);
    if (rc != 0)
        return rc;
    rc = r->event ? w->fn(w->ctx, r->event, seq) : OT_ECORRUPT;
    optally__log_record__free_unpacked(r, NULL);
    return rc;
}

int
ot_store_aggregate_foreach(ot_store *s, ot_store_event_fn fn, void *ctx)
{
    s_aggw w = { .s = s, .fn = fn, .ctx = ctx };
    return s_seq_walk(s, s->aggregates, s_agg_one, &w);
}

static int
s_fig_one(void *ctx, MDB_txn *txn, uint64_t seq)
{
    s_aggw *w = ctx;
    Optally__LogRecord *r;
    int rc = s_record_at(w->s, txn, seq, &r);
    if (rc != 0)
        return rc;
    rc = r->figure ? w->ffn(w->ctx, r->figure, seq) : OT_ECORRUPT;
    optally__log_record__free_unpacked(r, NULL);
    return rc;
}

int
ot_store_figure_foreach(ot_store *s, ot_store_figure_fn fn, void *ctx)
{
    s_aggw w = { .s = s, .ffn = fn, .ctx = ctx };
    return s_seq_walk(s, s->figures, s_fig_one, &w);
}

static int
s_place_one(void *ctx, MDB_txn *txn, uint64_t seq)
{
    s_aggw *w = ctx;
    ot_store_src sc;
    ot_groups_src src;
    ot_event_view v;
    ot_groups_where where;
    char key[OT_VIEW_KEY_MAX];
    size_t len;
    ot_store_int_src(w->s, txn, &sc, &src);
    int rc = s_view_at(w->s, txn, seq, &v);
    if (rc != 0)
        return rc;
    if (v.num[OT_F_EVENT_RETRACTED] != 0)
        return 0;   /* counts nowhere */
    if ((rc = ot_groups_placement(&src, w->view, &v, &where, key, sizeof key, &len)) != 0)
        return rc;
    Optally__LogRecord *r;
    if ((rc = s_record_at(w->s, txn, seq, &r)) != 0)
        return rc;
    ot_placement p = where == OT_GROUPS_COUNTED ? OT_PLACED_COUNTED
                     : where == OT_GROUPS_SHADOWED ? OT_PLACED_SHADOWED : OT_PLACED_UNPLACED;
    rc = r->event ? w->pfn(w->ctx, r->event, seq, p, p == OT_PLACED_UNPLACED ? NULL : key, len)
                  : OT_ECORRUPT;
    optally__log_record__free_unpacked(r, NULL);
    return rc;
}

int
ot_store_aggregate_placements(ot_store *s, const char *view, ot_store_placement_fn fn, void *ctx)
{
    ot_viewset *vs;
    int rc = ot_store_views(s, &vs);   /* any view of the store, declared ones too */
    if (rc != 0)
        return rc;
    const ot_view *v = ot_viewset_find(vs, view, NULL);
    if (v) {
        s_aggw w = { .s = s, .view = v, .pfn = fn, .ctx = ctx };
        rc = s_seq_walk(s, s->aggregates, s_place_one, &w);
    } else {
        rc = OT_ENOTFOUND;
    }
    ot_viewset_free(&vs);
    return rc;
}

/* ---- incidents ------------------------------------------------------------ */

typedef struct s_incw {
    ot_store *s;
    MDB_txn *txn;
    ot_incident_member *m;
    ot_event_view *views;
    size_t n, cap;
    char inc[OT_GROUPS_ID_MAX + 1];
    size_t ilen;
} s_incw;

static void
s_inc_clear(s_incw *w)
{
    for (size_t i = 0; i < w->n; i++)
        optally__operation_event__free_unpacked((Optally__OperationEvent *)w->m[i].ev, NULL);
    w->n = 0;
}

static int
s_cmp_first(const void *pa, const void *pb)
{
    const ot_incident_member *a = pa, *b = pb;
    return (a->first_seq > b->first_seq) - (a->first_seq < b->first_seq);
}

/* Call fn for the members gathered in w (one incident). */
static int
s_inc_flush(s_incw *w, ot_store_incident_fn fn, void *ctx)
{
    if (w->n == 0)
        return 0;
    qsort(w->m, w->n, sizeof *w->m, s_cmp_first);
    long counted = -1;
    uint64_t cseq = 0;
    ot_store_src sc;
    ot_groups_src src;
    ot_store_int_src(w->s, w->txn, &sc, &src);
    int rc = ot_groups_incident_add(&src, w->s->rank, w->inc, w->ilen, NULL, +1, &cseq);
    for (size_t i = 0; rc == 0 && i < w->n; i++)
        if (cseq && w->m[i].seq == cseq)
            counted = (long)i;
    if (rc == 0)
        rc = fn(ctx, w->inc, w->ilen, w->m, w->n, counted);
    s_inc_clear(w);
    return rc;
}

static int
s_inc_add(s_incw *w, uint64_t first, uint64_t cur)
{
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 8;
        ot_incident_member *m = realloc(w->m, cap * sizeof *m);
        if (!m)
            return ENOMEM;
        w->m = m;
        w->cap = cap;
    }
    MDB_val k = { sizeof cur, &cur }, d;
    int rc = mdb_get(w->txn, w->s->log, &k, &d);
    if (rc != 0)
        return rc == MDB_NOTFOUND ? OT_ECORRUPT : rc;
    const uint8_t *ev;
    size_t evlen;
    if (ot_store_int_record_event(d.mv_data, d.mv_size, &ev, &evlen) != 0)
        return OT_ECORRUPT;
    Optally__OperationEvent *e = optally__operation_event__unpack(NULL, evlen, ev);
    if (!e)
        return OT_ECORRUPT;
    w->m[w->n++] = (ot_incident_member){ .ev = e, .seq = cur, .first_seq = first };
    return 0;
}

int
ot_store_incident_foreach(ot_store *s, ot_store_incident_fn fn, void *ctx)
{
    if (!s->has_dbs || !s->has_groups)
        return 0;
    s_incw w = { .s = s };
    MDB_cursor *c;
    MDB_val k, v;
    int rc = ot_store_int_read_begin(s, &w.txn);
    if (rc != 0)
        return rc;
    if ((rc = mdb_cursor_open(w.txn, s->incidents, &c)) != 0) {
        ot_store_int_read_end(s, w.txn);
        return rc;
    }
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        const char *nul = memchr(k.mv_data, '\0', k.mv_size);
        uint64_t seqs[2];
        if (!nul || v.mv_size != sizeof seqs || (size_t)(nul - (char *)k.mv_data) > OT_GROUPS_ID_MAX) {
            rc = OT_ECORRUPT;
            break;
        }
        size_t ilen = (size_t)(nul - (char *)k.mv_data);
        if (w.n && (ilen != w.ilen || memcmp(w.inc, k.mv_data, ilen) != 0) &&
            (rc = s_inc_flush(&w, fn, ctx)) != 0)
            break;
        memcpy(w.inc, k.mv_data, ilen);
        w.inc[ilen] = '\0';
        w.ilen = ilen;
        memcpy(seqs, v.mv_data, sizeof seqs);
        if ((rc = s_inc_add(&w, seqs[0], seqs[1])) != 0)
            break;
    }
    if (rc == MDB_NOTFOUND)
        rc = s_inc_flush(&w, fn, ctx);
    s_inc_clear(&w);
    free(w.m);
    mdb_cursor_close(c);
    ot_store_int_read_end(s, w.txn);
    return rc;
}

int
ot_store_source_rank(ot_store *s, char *buf, size_t cap)
{
    if (cap == 0)
        return ENOSPC;
    buf[0] = '\0';
    if (!s->has_dbs)
        return 0;
    MDB_txn *txn;
    int rc = ot_store_int_read_begin(s, &txn);
    if (rc != 0)
        return rc;
    MDB_val k = { 11, "source_rank" }, v;
    rc = mdb_get(txn, s->meta, &k, &v);
    if (rc == 0) {
        if (v.mv_size >= cap)
            rc = ENOSPC;
        else {
            memcpy(buf, v.mv_data, v.mv_size);
            buf[v.mv_size] = '\0';
        }
    } else if (rc == MDB_NOTFOUND) {
        rc = 0;
    }
    ot_store_int_read_end(s, txn);
    return rc;
}
