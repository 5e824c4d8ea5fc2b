/*
 * ot_store_views: the store's side of issue 12: views declared at run time
 * (meta "views", a ViewDefs message), filled from the log in the one write
 * transaction that declares them and dropped with their tallies; and the
 * reads that tell what a number is as of (status, snapshot with log seq).
 *
 * Invariants:
 *  1. A declared view's definition and its tallies (observed and reported)
 *     are written in ONE transaction: after a crash or a failed step either
 *     both are there or neither, so no reader ever sees a view without its
 *     history, nor tallies of a view that is not declared.
 *  2. A failed add or drop changes nothing: the transaction is aborted, and
 *     the handle's view set (s->views) is swapped only after the commit.
 *  3. A slot's update sequence is 0 when its view is declared: add and drop
 *     reset it in their transaction, so a reused slot starts afresh and a
 *     subscriber of the new view never sees the old view's numbering.
 *  4. Before a view's tallies are written, every key of its name is
 *     deleted ("name" and "name/..."), in tallies and reported: leftovers
 *     of a view of that name that another build wrote cannot mix in.
 */
#include "ot_store_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ot_clock.h"
#include "ot_error.h"
#include "ot_view.h"
#include "ot_wire.h"

#define S_MAX_GROWS 16

/* ---- the view set in meta ------------------------------------------------- */

int
ot_store_int_load_views(ot_store *s, MDB_txn *txn, ot_viewset **out)
{
    MDB_val k = { 5, "views" }, v;
    *out = NULL;
    int rc = mdb_get(txn, s->meta, &k, &v);
    if (rc == MDB_NOTFOUND)
        return ot_viewset_new(out);
    if (rc != 0)
        return rc;
    return ot_viewset_unpack(v.mv_data, v.mv_size, out);
}

long
ot_store_int_key_slot(const ot_viewset *vs, const char *key, size_t len)
{
    const char *slash = memchr(key, '/', len);
    size_t nl = slash ? (size_t)(slash - key) : len;
    char name[OT_VIEW_NAME_MAX + 1];
    size_t slot;
    /* no view has a longer name, or a NUL in it */
    if (nl == 0 || nl > OT_VIEW_NAME_MAX || memchr(key, '\0', nl))
        return -1;
    memcpy(name, key, nl);
    name[nl] = '\0';
    return ot_viewset_find(vs, name, &slot) ? (long)slot : -1;
}

int
ot_store_views(ot_store *s, ot_viewset **out)
{
    *out = NULL;
    if (!s->has_dbs)
        return ot_viewset_new(out);
    MDB_txn *txn;
    int rc = ot_store_int_read_begin(s, &txn);
    if (rc != 0)
        return rc;
    rc = ot_store_int_load_views(s, txn, out);
    ot_store_int_read_end(s, txn);
    return rc;
}

/* ---- write steps ---------------------------------------------------------- */

/* Delete every key of view name from dbi: "name" itself and "name/...".
 * Each delete is a write step (ot_store_fault). OUT: *deleted (+=). */
static int
s_del_view_keys(ot_store *s, MDB_txn *txn, MDB_dbi dbi, const char *name, uint64_t *deleted)
{
    size_t nl = strlen(name);
    char prefix[OT_VIEW_NAME_MAX + 2];
    MDB_val k = { nl, (void *)name }, v;
    int rc;
    if (nl > OT_VIEW_NAME_MAX)
        return EINVAL;
    if ((rc = ot_store_int_fault(s)) != 0)
        return rc;
    rc = mdb_del(txn, dbi, &k, NULL);
    if (rc == 0)
        (*deleted)++;
    else if (rc != MDB_NOTFOUND)
        return rc;
    memcpy(prefix, name, nl);
    prefix[nl] = '/';
    MDB_cursor *c;
    if ((rc = mdb_cursor_open(txn, dbi, &c)) != 0)
        return rc;
    /* a fresh positioning after each delete: the plain way to be sure
     * where an LMDB cursor stands after mdb_cursor_del */
    for (;;) {
        k.mv_size = nl + 1;
        k.mv_data = prefix;
        rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
        if (rc != 0 || k.mv_size < nl + 1 || memcmp(k.mv_data, prefix, nl + 1) != 0)
            break;
        if ((rc = ot_store_int_fault(s)) != 0 || (rc = mdb_cursor_del(c, 0)) != 0)
            break;
        (*deleted)++;
    }
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND || rc == 0 ? 0 : rc;
}

/* Put every non-zero key of acc into dbi, its delta as the value (the
 * view's keys were deleted first: a fill starts from nothing). OUT: *keys
 * (+=). */
static int
s_put_acc(ot_store *s, MDB_txn *txn, MDB_dbi dbi, const ot_tally_acc *acc, uint64_t *keys)
{
    size_t n = ot_tally_acc_count(acc);
    for (size_t i = 0; i < n; i++) {
        const char *key;
        size_t len;
        const ot_counts *d;
        ot_tally_acc_at(acc, i, &key, &len, &d);
        if (ot_counts_zero(d))
            continue;
        ot_counts cur = *d;
        MDB_val k = { len, (void *)key }, v = { sizeof cur, &cur };
        int rc = ot_store_int_fault(s);
        if (rc == 0)
            rc = mdb_put(txn, dbi, &k, &v, 0);
        if (rc != 0)
            return rc;
        (*keys)++;
    }
    return 0;
}

/* Write vs's declared views to meta "views" (a write step). */
static int
s_put_views(ot_store *s, MDB_txn *txn, const ot_viewset *vs)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = ot_viewset_pack(vs, &buf, &len);
    if (rc != 0)
        return rc;
    MDB_val k = { 5, "views" }, v = { len, buf ? (void *)buf : (void *)"" };
    if ((rc = ot_store_int_fault(s)) == 0)
        rc = mdb_put(txn, s->meta, &k, &v, 0);
    free(buf);
    return rc;
}

/* Set the update sequence of slot to 0 in meta "useq" (invariant 3), in the
 * current layout. OUT: *seqs, the sequences as written. */
static int
s_reset_seq(ot_store *s, MDB_txn *txn, size_t slot, ot_store_seqs *seqs)
{
    int rc = ot_store_int_load_seqs(s, txn, seqs);
    if (rc != 0)
        return rc;
    seqs->view_seq[slot] = 0;
    MDB_val k = { 4, "useq" }, v = { sizeof *seqs, seqs };
    if ((rc = ot_store_int_fault(s)) == 0)
        rc = mdb_put(txn, s->meta, &k, &v, 0);
    return rc;
}

/* A committed change of the views: the handle takes vs (invariant 2). */
static void
s_swap_views(ot_store *s, ot_viewset **vs, const ot_store_seqs *seqs)
{
    ot_viewset_free(&s->views);
    s->views = *vs;
    *vs = NULL;
    if (s->acc)
        ot_tally_acc_set_views(s->acc, s->views, OT_TALLY_ALL_SLOTS);
    if (s->racc)
        ot_tally_acc_set_views(s->racc, s->views, OT_TALLY_ALL_SLOTS);
    s->seqs = *seqs;
}

/* An error that leaves the environment unusable makes the handle refuse
 * every later write, as ot_store_ingest does. */
static int
s_fail(ot_store *s, int rc)
{
    if (ot_store_int_fatal_code(rc)) {
        s->fatal = true;
        return OT_EFATAL;
    }
    return rc;
}

static int
s_writable(ot_store *s, char *err, size_t errlen)
{
    if (s->readonly) {
        snprintf(err, errlen, "the store is open read-only: views are added and dropped "
                 "by its writer (the consumer, or a maintenance handle)");
        return EROFS;
    }
    if (s->fatal) {
        snprintf(err, errlen, "the store hit an unrecoverable error; restart the process");
        return OT_EFATAL;
    }
    return 0;
}

/* ---- add ------------------------------------------------------------------ */

typedef struct s_add {
    const Optally__ViewDef *def;
    ot_store_progress_fn progress;
    void *ctx;
    char *err;
    size_t errlen;
    uint64_t records;       /* OUT */
    ot_viewset *vs;         /* OUT: the set with the view, after a commit */
    ot_store_seqs seqs;     /* OUT */
} s_add;

/* One attempt of ot_store_view_add: everything in one transaction. */
static int
s_add_once(ot_store *s, s_add *a)
{
    ot_tally_acc *obs = NULL, *rep = NULL;
    MDB_txn *txn;
    uint64_t next = 1, keys = 0, gone = 0;
    size_t slot = 0;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc != 0)
        return rc;
    if ((rc = ot_store_int_next_key(txn, s->log, &next)) == 0)
        rc = ot_viewset_copy(s->views, &a->vs);
    if (rc == 0) {
        Optally__ViewDef d = *a->def;   /* strings borrowed from the caller's */
        d.slot = 0;
        d.created_at = ot_clock_wall_ms();
        d.filled_to_seq = next - 1;
        a->err[0] = '\0';
        rc = ot_viewset_add(a->vs, &d, &slot, a->err, a->errlen);
        if (rc == ENOSPC && !a->err[0])
            snprintf(a->err, a->errlen, "a store holds at most %d views (%zu built in): "
                     "drop one first (optally view drop NAME)", OT_VIEWSET_MAX, ot_view_count());
    }
    if (rc == 0)
        rc = ot_store_int_fill(s, txn, a->vs, (uint64_t)1 << slot, a->progress, a->ctx, &obs,
                               &rep, &a->records);
    if (rc == 0)
        rc = s_del_view_keys(s, txn, s->tallies, a->def->name, &gone);
    if (rc == 0 && s->has_groups)
        rc = s_del_view_keys(s, txn, s->reported, a->def->name, &gone);
    if (rc == 0)
        rc = s_put_acc(s, txn, s->tallies, obs, &keys);
    if (rc == 0 && s->has_groups)
        rc = s_put_acc(s, txn, s->reported, rep, &keys);
    if (rc == 0)
        rc = s_put_views(s, txn, a->vs);
    if (rc == 0)
        rc = s_reset_seq(s, txn, slot, &a->seqs);
    if (rc == 0)
        rc = ot_store_int_fault(s);   /* a failing commit */
    if (rc == 0)
        rc = mdb_txn_commit(txn);
    else
        mdb_txn_abort(txn);
    ot_tally_acc_free(&obs);
    ot_tally_acc_free(&rep);
    if (rc != 0)
        ot_viewset_free(&a->vs);
    else if (a->progress)
        a->progress(a->ctx, next - 1, next - 1);
    return rc;
}

int
ot_store_view_add(ot_store *s, const Optally__ViewDef *def, ot_store_progress_fn progress,
                  void *ctx, uint64_t *filled, char *err, size_t errlen)
{
    char dummy[1];
    if (!err || errlen == 0) {
        err = dummy;
        errlen = sizeof dummy;
    }
    err[0] = '\0';
    *filled = 0;
    int rc = s_writable(s, err, errlen);
    if (rc != 0)
        return rc;
    if (!def || !def->name) {
        snprintf(err, errlen, "a view needs a name");
        return OT_EUSAGE;
    }
    s_add a = { .def = def, .progress = progress, .ctx = ctx, .err = err, .errlen = errlen };
    for (int grows = 0;; grows++) {
        rc = s_add_once(s, &a);
        if (rc != MDB_MAP_FULL || grows == S_MAX_GROWS)
            break;
        /* No transaction of ours is open now: the map may be resized. */
        if ((rc = ot_store_int_grow(s)) != 0)
            break;
    }
    if (rc != 0) {
        if (rc != OT_EUSAGE && rc != ENOSPC && !err[0])
            snprintf(err, errlen, "adding view '%.64s' failed: %s", def->name, ot_strerror(rc));
        return s_fail(s, rc);
    }
    s_swap_views(s, &a.vs, &a.seqs);
    *filled = a.records;
    return 0;
}

/* ---- drop ----------------------------------------------------------------- */

static int
s_drop_once(ot_store *s, const ot_viewset *vs, const char *name, size_t slot,
            ot_store_seqs *seqs)
{
    MDB_txn *txn;
    uint64_t gone = 0;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc != 0)
        return rc;
    rc = s_del_view_keys(s, txn, s->tallies, name, &gone);
    if (rc == 0 && s->has_groups)
        rc = s_del_view_keys(s, txn, s->reported, name, &gone);
    if (rc == 0)
        rc = s_put_views(s, txn, vs);
    if (rc == 0)
        rc = s_reset_seq(s, txn, slot, seqs);
    if (rc == 0)
        rc = ot_store_int_fault(s);
    if (rc == 0)
        rc = mdb_txn_commit(txn);
    else
        mdb_txn_abort(txn);
    return rc;
}

int
ot_store_view_drop(ot_store *s, const char *name, char *err, size_t errlen)
{
    char dummy[1];
    ot_viewset *vs = NULL;
    ot_store_seqs seqs;
    size_t slot = 0;
    if (!err || errlen == 0) {
        err = dummy;
        errlen = sizeof dummy;
    }
    err[0] = '\0';
    int rc = s_writable(s, err, errlen);
    if (rc != 0)
        return rc;
    const ot_view *v = name ? ot_viewset_find(s->views, name, &slot) : NULL;
    if (!v) {
        snprintf(err, errlen, "no view named '%.64s' (optally view list shows the views)",
                 name ? name : "");
        return OT_ENOTFOUND;
    }
    if (!ot_view_is_declared(v)) {
        snprintf(err, errlen, "'%s' is a built-in view: built-in views cannot be dropped", name);
        return OT_EUSAGE;
    }
    if ((rc = ot_viewset_copy(s->views, &vs)) != 0)
        return rc;
    if ((rc = ot_viewset_drop(vs, name)) != 0) {
        ot_viewset_free(&vs);
        return rc;
    }
    for (int grows = 0;; grows++) {
        rc = s_drop_once(s, vs, name, slot, &seqs);
        if (rc != MDB_MAP_FULL || grows == S_MAX_GROWS)
            break;
        if ((rc = ot_store_int_grow(s)) != 0)
            break;
    }
    if (rc != 0) {
        ot_viewset_free(&vs);
        snprintf(err, errlen, "dropping view '%.64s' failed: %s", name, ot_strerror(rc));
        return s_fail(s, rc);
    }
    s_swap_views(s, &vs, &seqs);
    return 0;
}

/* ---- status and as-of reads ------------------------------------------------- */

/* The received_at of the packed LogRecord rec (0 when absent). */
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
            *out = (int64_t)f.u;   /* int64 on the wire: two's complement */
    }
    return 0;
}

/* The number of distinct incidents in DB incidents (keys "incident\0id"). */
static int
s_count_incidents(ot_store *s, MDB_txn *txn, uint64_t *out)
{
    MDB_cursor *c;
    MDB_val k, v;
    char last[OT_GROUPS_ID_MAX + 1];
    size_t llen = 0;
    bool have = false;
    *out = 0;
    int rc = mdb_cursor_open(txn, s->incidents, &c);
    if (rc != 0)
        return rc;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        const char *nul = memchr(k.mv_data, '\0', k.mv_size);
        size_t ilen = nul ? (size_t)(nul - (const char *)k.mv_data) : k.mv_size;
        if (ilen > OT_GROUPS_ID_MAX) {
            rc = OT_ECORRUPT;
            break;
        }
        if (have && ilen == llen && memcmp(last, k.mv_data, ilen) == 0)
            continue;
        memcpy(last, k.mv_data, ilen);
        llen = ilen;
        have = true;
        (*out)++;
    }
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static uint64_t
s_entries(MDB_txn *txn, MDB_dbi dbi, int *rc)
{
    MDB_stat st;
    if (*rc != 0)
        return 0;
    *rc = mdb_stat(txn, dbi, &st);
    return *rc == 0 ? st.ms_entries : 0;
}

/* Everything of the status that comes from txn. */
static int
s_status_txn(ot_store *s, MDB_txn *txn, ot_store_status *out)
{
    uint64_t next, next_reject;
    ot_viewset *vs = NULL;
    int rc = ot_store_int_next_key(txn, s->log, &next);
    if (rc == 0)
        rc = ot_store_int_next_key(txn, s->rejects, &next_reject);
    if (rc == 0 && next > 1) {
        uint64_t seq = next - 1;
        MDB_val k = { sizeof seq, &seq }, v;
        if ((rc = mdb_get(txn, s->log, &k, &v)) == 0)
            rc = s_received_at(v.mv_data, v.mv_size, &out->last_received_at);
        out->log_seq = seq;
    }
    if (rc == 0)
        rc = ot_store_int_load_stats(s, txn, &out->stats);
    if (rc == 0)
        rc = ot_store_int_load_seqs(s, txn, &out->seqs);
    if (rc == 0 && s->has_groups) {
        out->figures = s_entries(txn, s->figures, &rc);
        out->aggregates = s_entries(txn, s->aggregates, &rc);
        if (rc == 0)
            rc = s_count_incidents(s, txn, &out->incidents);
    }
    if (rc == 0 && (rc = ot_store_int_load_views(s, txn, &vs)) == 0) {
        for (size_t i = 0; i < ot_viewset_count(vs); i++)
            out->views += ot_viewset_at(vs, i) != NULL;
        ot_viewset_free(&vs);
    }
    out->stats.log_entries = next - 1;
    out->stats.rejects = next_reject - 1;
    return rc;
}

int
ot_store_status_get(ot_store *s, ot_store_status *out)
{
    memset(out, 0, sizeof *out);
    out->views = ot_view_count();
    out->stats.map_size = s->map_size;
    int fd, rc = 0;
    struct stat st;
    if (mdb_env_get_fd(s->env, &fd) == 0 && fstat(fd, &st) == 0)
        out->file_bytes = (uint64_t)st.st_size;
    if (!s->has_dbs)
        return 0;
    MDB_txn *txn;
    if ((rc = ot_store_int_read_begin(s, &txn)) != 0)
        return rc;
    out->views = 0;
    rc = s_status_txn(s, txn, out);
    ot_store_int_read_end(s, txn);
    out->stats.map_size = s->map_size;
    if (!s->readonly && s->ix) {
        /* the writer's own handle (its thread): the id index it holds */
        out->stats.distinct_ids = ot_idindex_count(s->ix);
        out->stats.index_bytes = ot_idindex_bytes(s->ix);
    } else if (rc == 0 && out->stats.stored >= out->figures) {
        /* A reader holds no id index, but every STORED answer was a new id:
         * events' and figures' (DB figures has one entry per figure id). */
        out->stats.distinct_ids = out->stats.stored - out->figures;
    }
    return rc;
}

int
ot_store_tally_snapshot_at(ot_store *s, const char *prefix, ot_store_tally_fn fn, void *ctx,
                           ot_store_seqs *seqs, uint64_t *log_seq)
{
    uint64_t next = 1;
    if (seqs)
        memset(seqs, 0, sizeof *seqs);
    *log_seq = 0;
    if (!s->has_dbs)
        return 0;
    MDB_txn *txn;
    int rc = ot_store_int_read_begin(s, &txn);
    if (rc != 0)
        return rc;
    /* one transaction: the log seq and the tallies are of the same commit */
    rc = ot_store_int_next_key(txn, s->log, &next);
    if (rc == 0 && seqs)
        rc = ot_store_int_load_seqs(s, txn, seqs);
    if (rc == 0)
        rc = ot_store_int_tally_walk(txn, s->tallies, prefix, fn, ctx);
    ot_store_int_read_end(s, txn);
    *log_seq = next - 1;
    return rc;
}
