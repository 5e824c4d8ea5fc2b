/*
 * ot_store: LMDB environment, the exactly-once fold, and read walks.
 * See ot_store.h for the databases and invariants.
 *
 * Write path (ot_store_ingest): one write transaction per call; the
 * per-event work is a dedup lookup in the in-memory id index (reading the
 * log record only when a 64-bit hash matches; a stored record is read in
 * place as an event view, ot_event.h, never unpacked: duplicates, conflicts,
 * stale and superseded revisions are decided without allocating, by the
 * same view code rebuild uses), an append to the log (LMDB
 * MDB_APPEND: sequential keys fill pages in order, so a durable commit of N
 * events writes about N * record bytes, not a page per event), and a delta
 * in the tally accumulator; the tallies are then written once per changed
 * key. On MDB_MAP_FULL everything is undone (LMDB abort, id index
 * rollback), the map doubles and the whole call is redone.
 */
#include "ot_store.h"
#include "ot_store_int.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "ot_clock.h"
#include "ot_error.h"
#include "ot_figure.h"
#include "ot_groups.h"
#include "ot_hash.h"
#include "ot_idindex.h"
#include "ot_reject_budget.h"
#include "ot_tally.h"
#include "ot_view.h"
#include "ot_wire.h"

#define S_REJECT_RAW_MAX  65536   /* bytes of a refused event kept */
/* bytes kept of a message refused whole (undecodable, too many events...):
 * enough to see what a sender got wrong, not enough for a peer sending junk
 * to fill the disk with it (measured: 64 KiB per junk message grew the
 * store by 322 MiB in 12 s). */
#define S_REJECT_MSG_RAW_MAX 4096
#define S_INDEX_CHUNK     65536   /* ids per journal chunk while rebuilding */
#define S_MAX_GROWS       16

/* What meta "stats" holds: the status counters. */
typedef struct s_meta_stats {
    uint64_t stored, duplicate, superseded, stale, rejected;
} s_meta_stats;

/* Per-attempt state of one ingest. */
typedef struct s_ingest {
    MDB_txn *txn;
    uint64_t next_seq, next_reject;
    s_meta_stats st;
    ot_store_seqs seqs;
    uint64_t bytes;         /* key + value bytes put so far (s_need_bytes) */
    uint64_t msg_dropped;   /* rejects of the current group not kept one by one */
    const uint8_t *sample;  /* the first of them (raw bytes), for the summary */
    size_t sample_len;
    uint64_t tally_puts;    /* tally keys written or deleted */
} s_ingest;

static int
s_open_dbs(ot_store *s, MDB_txn *txn)
{
    unsigned cf = s->readonly ? 0 : MDB_CREATE;
    int rc;
    if ((rc = mdb_dbi_open(txn, "log", cf | MDB_INTEGERKEY, &s->log)) != 0 ||
        (rc = mdb_dbi_open(txn, "tallies", cf, &s->tallies)) != 0 ||
        (rc = mdb_dbi_open(txn, "rejects", cf | MDB_INTEGERKEY, &s->rejects)) != 0 ||
        (rc = mdb_dbi_open(txn, "meta", cf, &s->meta)) != 0)
        return rc;
    s->has_dbs = true;
    return ot_store_int_open_group_dbs(s, txn);
}

/* The source ranking: the stored one (meta "source_rank"), or the asked one
 * when it differs and may be taken: a writer on a store whose incidents DB
 * is empty, or a maintenance writer (rebuild recomputes the incidents'
 * contributions); else OT_ERANK. NULL asks nothing. */
static int
s_load_rank(ot_store *s, MDB_txn *txn, const char *asked)
{
    MDB_val k = { 11, "source_rank" }, v;
    const char *stored = "";
    size_t slen = 0;
    int rc = mdb_get(txn, s->meta, &k, &v);
    if (rc == 0) {
        stored = v.mv_data;
        slen = v.mv_size;
    } else if (rc != MDB_NOTFOUND) {
        return rc;
    }
    const char *use = stored;
    size_t ulen = slen;
    if (asked && !s->readonly && (strlen(asked) != slen || memcmp(asked, stored, slen) != 0)) {
        MDB_stat st = { 0 };
        if (!s->maintenance && s->has_groups &&
            (rc = mdb_stat(txn, s->incidents, &st)) != 0)
            return rc;
        if (st.ms_entries > 0)
            return OT_ERANK;   /* counted under the stored ranking: rebuild to change it */
        use = asked;
        ulen = strlen(asked);
        MDB_val nv = { ulen, (void *)asked };
        if ((rc = mdb_put(txn, s->meta, &k, &nv, 0)) != 0)
            return rc;
        use = asked;
    }
    free(s->rank_text);
    ot_groups_rank_free(&s->rank);
    if (!(s->rank_text = strndup(use, ulen)))
        return ENOMEM;
    rc = ot_groups_rank_new(s->rank_text, &s->rank);
    return rc == EINVAL ? (use == asked ? EINVAL : OT_ECORRUPT) : rc;
}

static int
s_check_schema(ot_store *s, MDB_txn *txn)
{
    MDB_val k = { 6, "schema" }, v;
    int rc = mdb_get(txn, s->meta, &k, &v);
    if (rc == MDB_NOTFOUND) {
        if (s->readonly)
            return 0;
        uint32_t ver = OT_STORE_SCHEMA_VERSION;
        v.mv_size = sizeof ver;
        v.mv_data = &ver;
        return mdb_put(txn, s->meta, &k, &v, 0);
    }
    if (rc != 0)
        return rc;
    uint32_t ver;
    if (v.mv_size != sizeof ver)
        return OT_ESCHEMA;
    memcpy(&ver, v.mv_data, sizeof ver);
    return ver == OT_STORE_SCHEMA_VERSION ? 0 : OT_ESCHEMA;
}

/* Layouts of meta "useq", told apart by size (all u64, host order): seq,
 * view_seq[n], then figure_seq. Stores written before issue 12 kept 16
 * view sequences; before issue 11 no figure_seq either. Every write puts
 * the current layout (sizeof (ot_store_seqs): OT_STORE_MAX_VIEWS views). */
#define S_USEQ_OLD_VIEWS 16
#define S_USEQ_V1 (8 + 8 * S_USEQ_OLD_VIEWS)       /* seq, 16 view seqs */
#define S_USEQ_V2 (S_USEQ_V1 + 8)                  /* ... and figure_seq */

/* Read a "useq" value of any layout above into *out (zeros beyond what it
 * holds). Returns 0 or OT_ECORRUPT (a size of no layout). */
static int
s_parse_seqs(const uint8_t *p, size_t n, ot_store_seqs *out)
{
    memset(out, 0, sizeof *out);
    if (n == sizeof *out) {
        memcpy(out, p, n);
        return 0;
    }
    if (n != S_USEQ_V1 && n != S_USEQ_V2)
        return OT_ECORRUPT;
    memcpy(&out->seq, p, 8);
    memcpy(out->view_seq, p + 8, 8 * S_USEQ_OLD_VIEWS);
    if (n == S_USEQ_V2)
        memcpy(&out->figure_seq, p + S_USEQ_V1, 8);
    return 0;
}

static int
s_load_seqs(ot_store *s, MDB_txn *txn, ot_store_seqs *out)
{
    MDB_val k = { 4, "useq" }, v;
    memset(out, 0, sizeof *out);
    int rc = mdb_get(txn, s->meta, &k, &v);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return rc;
    return s_parse_seqs(v.mv_data, v.mv_size, out);
}

static int
s_load_stats(ot_store *s, MDB_txn *txn)
{
    ot_store_stats m;
    int rc = ot_store_int_load_stats(s, txn, &m);
    if (rc != 0)
        return rc;
    s->st.stored = m.stored;
    s->st.duplicate = m.duplicate;
    s->st.superseded = m.superseded;
    s->st.stale = m.stale;
    s->st.rejected = m.rejected;
    return 0;
}

/* Last key of an INTEGERKEY database + 1 (1 when empty). */
static int
s_next_key(MDB_txn *txn, MDB_dbi dbi, uint64_t *out)
{
    MDB_cursor *c;
    MDB_val k, v;
    int rc = mdb_cursor_open(txn, dbi, &c);
    if (rc != 0)
        return rc;
    rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
    mdb_cursor_close(c);
    if (rc == MDB_NOTFOUND) {
        *out = 1;
        return 0;
    }
    if (rc != 0)
        return rc;
    uint64_t last;
    memcpy(&last, k.mv_data, sizeof last);
    *out = last + 1;
    return 0;
}

int
ot_store_int_record_event(const uint8_t *rec, size_t len, const uint8_t **ev, size_t *evlen)
{
    return ot_wire_find_bytes(rec, len, OT_F_LOGRECORD_EVENT, ev, evlen) == 0 ? 0 : OT_ECORRUPT;
}

/* The event_id bytes inside a stored LogRecord, without unpacking it. */
static int
s_record_event_id(const MDB_val *v, const uint8_t **id, size_t *idlen)
{
    const uint8_t *ev;
    size_t evlen;
    int rc = ot_store_int_record_event(v->mv_data, v->mv_size, &ev, &evlen);
    if (rc != 0)
        return rc;
    rc = ot_wire_find_bytes(ev, evlen, OT_F_EVENT_ID, id, idlen);
    return rc == 0 ? 0 : OT_ECORRUPT;
}

/* Find the index entry of event_id (idlen bytes, hash h). OUT: *cursor
 * (for ot_idindex_set) and *seq, or OT_ENOTFOUND. */
static int
s_index_find(ot_store *s, MDB_txn *txn, uint64_t h, const uint8_t *id, size_t idlen,
             size_t *cursor, uint64_t *seq)
{
    *cursor = 0;
    while (ot_idindex_next(s->ix, h, cursor, seq)) {
        MDB_val k = { sizeof *seq, seq }, v;
        int rc = mdb_get(txn, s->log, &k, &v);
        if (rc != 0)
            return rc == MDB_NOTFOUND ? OT_ECORRUPT : rc;
        const uint8_t *oid;
        size_t olen;
        if ((rc = s_record_event_id(&v, &oid, &olen)) != 0)
            return rc;
        if (olen == idlen && memcmp(oid, id, idlen) == 0)
            return 0;
    }
    return OT_ENOTFOUND;
}

/* Rebuild the id index from the log: each id ends pointing at its last
 * (current) revision, since revisions are appended in rising order. */
static int
s_rebuild_index(ot_store *s, MDB_txn *txn)
{
    MDB_cursor *c;
    MDB_val k, v;
    int rc = mdb_cursor_open(txn, s->log, &c);
    if (rc != 0)
        return rc;
    size_t in_chunk = 0;
    if ((rc = ot_idindex_reserve(s->ix, S_INDEX_CHUNK)) != 0)
        goto out;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        uint64_t seq, old;
        const uint8_t *id;
        size_t idlen, cur;
        memcpy(&seq, k.mv_data, sizeof seq);
        if ((rc = s_record_event_id(&v, &id, &idlen)) != 0) {
            const uint8_t *fig;
            size_t flen;
            if (ot_store_int_record_figure(v.mv_data, v.mv_size, &fig, &flen) != 0)
                goto out;
            rc = 0;   /* a figure: indexed by DB figures, not here */
            continue;
        }
        uint64_t h = ot_hash_sip(&s->hk, id, idlen);
        rc = s_index_find(s, txn, h, id, idlen, &cur, &old);
        if (rc == 0) {
            ot_idindex_set(s->ix, cur, seq);
        } else if (rc == OT_ENOTFOUND) {
            if ((rc = ot_idindex_insert(s->ix, h, seq)) != 0)
                goto out;
        } else {
            goto out;
        }
        if (++in_chunk == S_INDEX_CHUNK) {
            ot_idindex_commit(s->ix);
            if ((rc = ot_idindex_reserve(s->ix, S_INDEX_CHUNK)) != 0)
                goto out;
            in_chunk = 0;
        }
    }
    rc = rc == MDB_NOTFOUND ? 0 : rc;
out:
    if (rc == 0)
        ot_idindex_commit(s->ix);
    mdb_cursor_close(c);
    return rc;
}

static int
s_open_env(ot_store *s, const char *dir, const ot_store_options *opt)
{
    int rc = mdb_env_create(&s->env);
    if (rc != 0)
        return rc;
    s->map_size = opt->map_size ? opt->map_size : OT_STORE_DEFAULT_MAP;
    if ((rc = mdb_env_set_maxdbs(s->env, 16)) != 0 ||
        (rc = mdb_env_set_mapsize(s->env, s->map_size)) != 0)
        return rc;
    unsigned flags = MDB_NOTLS;
    if (opt->readonly)
        flags |= MDB_RDONLY;
    if (opt->nosync)
        flags |= MDB_NOSYNC;
    if ((rc = mdb_env_open(s->env, dir, flags, 0600)) != 0)
        return rc;
    MDB_envinfo info;
    if (mdb_env_info(s->env, &info) == 0)
        s->map_size = info.me_mapsize;  /* an existing store may be larger */
    return 0;
}

/* One writer per directory: the in-memory id index of a second writer
 * would not see the first one's events. flock is released by the kernel
 * when the process dies, so a killed consumer never leaves a stale lock. */
static int
s_lock_dir(ot_store *s, const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/writer.lock", dir);
    s->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (s->lock_fd < 0)
        return errno;
    if (flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0)
        return errno == EWOULDBLOCK ? OT_ELOCKED : errno;
    return 0;
}

static const char *
s_mdb_name(int err)
{
    return mdb_strerror(err);
}

static pthread_once_t s_errors_once = PTHREAD_ONCE_INIT;

static void
s_register_errors(void)
{
    /* Cannot fail: the first range registered in a process, or the same
     * one again. */
    (void)ot_error_register_range(MDB_KEYEXIST, MDB_LAST_ERRCODE, s_mdb_name);
}

void
ot_store_register_errors(void)
{
    pthread_once(&s_errors_once, s_register_errors);
}

int
ot_store_open(const char *dir, const ot_store_options *opt, ot_store **out)
{
    static const ot_store_options defaults = { 0 };
    ot_store_register_errors();
    if (!opt)
        opt = &defaults;
    *out = NULL;
    if (!opt->readonly && mkdir(dir, 0700) != 0 && errno != EEXIST)
        return errno;
    if (opt->readonly) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/data.mdb", dir);
        if (stat(path, &st) != 0)
            return OT_ENOTFOUND;
    }
    ot_store *s = calloc(1, sizeof *s);
    if (!s)
        return ENOMEM;
    s->readonly = opt->readonly;
    s->maintenance = opt->maintenance && !opt->readonly;
    s->lock_fd = -1;
    pthread_rwlock_init(&s->maplock, NULL);
    ot_hash_random_key(&s->hk);
    int rc = s->readonly ? 0 : s_lock_dir(s, dir);
    if (rc == 0)
        rc = s_open_env(s, dir, opt);
    MDB_txn *txn = NULL;
    if (rc == 0)
        rc = mdb_txn_begin(s->env, NULL, s->readonly ? MDB_RDONLY : 0, &txn);
    if (rc == 0) {
        rc = s_open_dbs(s, txn);
        if (rc == MDB_NOTFOUND && s->readonly)
            rc = 0;   /* a store the consumer never wrote to: empty */
        else if (rc == 0 && (rc = s_check_schema(s, txn)) == 0 &&
                 (rc = s_load_stats(s, txn)) == 0)
            rc = s_load_seqs(s, txn, &s->seqs);
        if (rc == 0 && s->has_dbs)
            rc = s_load_rank(s, txn, opt->source_rank);
        /* writers fold into every view; a reader asks ot_store_views when it
         * needs them (fresh: a writer may add one meanwhile) */
        if (rc == 0 && !s->readonly)
            rc = ot_store_int_load_views(s, txn, &s->views);
    }
    if (rc == 0 && s->has_dbs) {
        rc = s_next_key(txn, s->log, &s->next_seq);
        if (rc == 0)
            rc = s_next_key(txn, s->rejects, &s->next_reject);
    }
    if (rc == 0 && !s->readonly && !s->maintenance) {
        rc = ot_idindex_new(&s->ix);
        if (rc == 0)
            rc = ot_tally_acc_new(&s->acc);
        if (rc == 0)
            rc = ot_tally_acc_new(&s->racc);
        if (rc == 0)
            rc = ot_groups_set_new(&s->dirty_ids);
        if (rc == 0)
            rc = ot_groups_set_new(&s->dirty_incs);
        if (rc == 0)
            rc = ot_groups_set_new(&s->done);
        if (rc == 0)
            rc = ot_reject_budget_new(&opt->rejects, &s->rjb);
        if (rc == 0) {
            ot_tally_acc_set_views(s->acc, s->views, OT_TALLY_ALL_SLOTS);
            ot_tally_acc_set_views(s->racc, s->views, OT_TALLY_ALL_SLOTS);
            rc = s_rebuild_index(s, txn);
        }
    }
    if (txn) {
        if (rc == 0)
            rc = mdb_txn_commit(txn);   /* keeps the dbi handles open, even read-only */
        else
            mdb_txn_abort(txn);
    }
    if (rc != 0) {
        ot_store_close(&s);
        return rc;
    }
    *out = s;
    return 0;
}

void
ot_store_close(ot_store **ps)
{
    ot_store *s = *ps;
    if (!s)
        return;
    if (s->env)
        mdb_env_close(s->env);
    ot_idindex_free(&s->ix);
    ot_tally_acc_free(&s->acc);
    ot_tally_acc_free(&s->racc);
    ot_viewset_free(&s->views);
    ot_groups_set_free(&s->dirty_ids);
    ot_groups_set_free(&s->dirty_incs);
    ot_groups_set_free(&s->done);
    ot_groups_rank_free(&s->rank);
    free(s->rank_text);
    if (s->lock_fd >= 0)
        close(s->lock_fd);
    pthread_rwlock_destroy(&s->maplock);
    ot_reject_budget_free(&s->rjb);
    free(s->changes);
    free(s);
    *ps = NULL;
}

/* ---- the fold ------------------------------------------------------- */

/* Fault injection for tests (ot_store_fault): every write step of an
 * ingest passes here; the chosen one fails as if LMDB had. */
static int
s_fault(ot_store *s)
{
    if (s->fault_countdown > 0 && --s->fault_countdown == 0)
        return s->fault_err;
    return 0;
}

int
ot_store_int_fault(ot_store *s)
{
    return s_fault(s);
}

void
ot_store_int_set_now(ot_store *s, int64_t now_ms)
{
    s->test_now_ms = now_ms;
}

void
ot_store_fault(ot_store *s, int nth_step, int err)
{
    s->fault_countdown = nth_step;
    s->fault_err = err;
}

/* One append write step: room for size bytes under *key at the end of dbi
 * (MDB_APPEND | MDB_RESERVE: the record is packed straight into the page).
 * OUT: *out, the room. */
static int
s_append(ot_store *s, s_ingest *in, MDB_dbi dbi, uint64_t *key, size_t size, void **out)
{
    MDB_val k = { sizeof *key, key }, v = { size, NULL };
    int rc = s_fault(s);
    if (rc != 0)
        return rc;
    in->bytes += k.mv_size + v.mv_size;
    if ((rc = mdb_put(in->txn, dbi, &k, &v, MDB_APPEND | MDB_RESERVE)) != 0)
        return rc;
    *out = v.mv_data;
    return 0;
}

static int
s_put_log_rec(ot_store *s, s_ingest *in, const ot_ingest_group *g,
              const Optally__OperationEvent *ev, const Optally__Figure *fig, uint64_t *out_seq)
{
    Optally__LogRecord rec = OPTALLY__LOG_RECORD__INIT;
    rec.seq = in->next_seq;
    rec.received_at = g->received_at;
    rec.producer.data = (uint8_t *)g->producer;
    rec.producer.len = g->producer_len;
    rec.event = (Optally__OperationEvent *)ev;  /* pack does not write it */
    rec.figure = (Optally__Figure *)fig;
    void *room;
    int rc = s_append(s, in, s->log, &rec.seq, optally__log_record__get_packed_size(&rec), &room);
    if (rc != 0)
        return rc;
    optally__log_record__pack(&rec, room);
    *out_seq = in->next_seq++;
    return 0;
}

static int
s_put_log(ot_store *s, s_ingest *in, const ot_ingest_group *g,
          const Optally__OperationEvent *ev, uint64_t *out_seq)
{
    return s_put_log_rec(s, in, g, ev, NULL, out_seq);
}

/* Write one reject row (rec.seq set here). OUT: *out_seq. */
static int
s_put_reject_row(ot_store *s, s_ingest *in, Optally__RejectRecord *rec, size_t size,
                 uint64_t *out_seq)
{
    void *room;
    rec->seq = in->next_reject;
    int rc = s_append(s, in, s->rejects, &rec->seq, size, &room);
    if (rc != 0)
        return rc;
    optally__reject_record__pack(rec, room);
    *out_seq = in->next_reject++;
    return 0;
}

/* A rejected event (berr 0) or a message refused whole (berr set): its row
 * is written when the reject budget has room (ot_reject_budget.h), else it
 * is only counted there, for the group's summary row, and *out_seq is 0.
 * Either way it counts in stats. */
static int
s_put_reject_rec(ot_store *s, s_ingest *in, const ot_ingest_group *g,
                 Optally__RejectReason reason, Optally__BatchError berr, bool figure,
                 const char *text, const uint8_t *raw, size_t raw_len, uint64_t *out_seq)
{
    Optally__RejectRecord rec = OPTALLY__REJECT_RECORD__INIT;
    rec.figure = figure;
    rec.seq = in->next_reject;
    rec.received_at = g->received_at;
    rec.producer.data = (uint8_t *)g->producer;
    rec.producer.len = g->producer_len;
    rec.reason = reason;
    rec.batch_error = berr;
    rec.reason_text = (char *)(text ? text : "");
    rec.raw.data = (uint8_t *)raw;
    size_t cap = berr ? S_REJECT_MSG_RAW_MAX : S_REJECT_RAW_MAX;
    rec.raw.len = raw ? (raw_len > cap ? cap : raw_len) : 0;
    size_t size = optally__reject_record__get_packed_size(&rec);
    in->st.rejected++;
    *out_seq = 0;
    if (!ot_reject_budget_take(s->rjb, size + OT_STORE_REJECT_ROW_OVERHEAD, reason, berr)) {
        if (in->msg_dropped++ == 0) {
            in->sample = raw;
            in->sample_len = raw ? raw_len : 0;
        }
        return 0;
    }
    return s_put_reject_row(s, in, &rec, size, out_seq);
}

static int
s_put_reject(ot_store *s, s_ingest *in, const ot_ingest_group *g,
             Optally__RejectReason reason, Optally__BatchError berr,
             const char *text, const uint8_t *raw, size_t raw_len, uint64_t *out_seq)
{
    return s_put_reject_rec(s, in, g, reason, berr, false, text, raw, raw_len, out_seq);
}

/* After the rejects of group g: when events of its peer were not kept one
 * by one (this group's or earlier ones'), one summary row with their
 * counts by reason and a sample of this group, if the budget has room for
 * it; else the counts wait for a later group of that peer. */
static int
s_put_reject_summary(ot_store *s, s_ingest *in, const ot_ingest_group *g)
{
    if (ot_reject_budget_pending(s->rjb) == 0)
        return 0;
    char text[640];
    Optally__RejectRecord rec = OPTALLY__REJECT_RECORD__INIT;
    ot_reject_budget_summary_text(s->rjb, in->msg_dropped, text, sizeof text);
    rec.received_at = g->received_at;
    rec.producer.data = (uint8_t *)g->producer;
    rec.producer.len = g->producer_len;
    rec.reason = ot_reject_budget_summary_reason(s->rjb);
    rec.reason_text = text;
    rec.raw.data = (uint8_t *)in->sample;
    rec.raw.len = in->sample_len > OT_REJECT_BUDGET_SAMPLE_MAX ? OT_REJECT_BUDGET_SAMPLE_MAX
                                                              : in->sample_len;
    rec.seq = in->next_reject;
    size_t size = optally__reject_record__get_packed_size(&rec);
    uint64_t seq;
    if (!ot_reject_budget_take_summary(s->rjb, size + OT_STORE_REJECT_ROW_OVERHEAD))
        return 0;
    return s_put_reject_row(s, in, &rec, size, &seq);
}

/* ---- the general path: incidents and aggregate families ----------------
 *
 * An event that is (or whose stored revision is) an aggregate or an
 * incident member moves whole groups (ot_groups.h): the first time an
 * ingest touches a group, its contribution as of the start of the ingest is
 * taken out of the accumulators (acc for incidents, racc for families) and
 * the group is marked dirty; after the last item, every dirty group is added
 * back as it then stands (s_groups_end). Each group is so walked twice per
 * ingest, however many of its members the ingest changes.
 *
 * Why marking is sound: the family of a node changed in this ingest was
 * taken out (with every node of it marked) before the change, and the
 * change only joins or splits marked families; so a family is either all
 * marked or all untouched, and an untouched one still is as it was. */

typedef struct s_take {
    ot_store *s;
    const ot_groups_src *src;
} s_take;

static int
s_take_node(void *fctx, const ot_event_view *v, uint64_t seq)
{
    (void)seq;
    s_take *t = fctx;
    bool added;
    int rc = ot_groups_set_add(t->s->dirty_ids, v->str[OT_F_EVENT_ID], v->len[OT_F_EVENT_ID],
                               &added);
    return rc != 0 ? rc : ot_groups_aggregate_add(t->src, v, t->s->racc, -1);
}

/* Take the family of aggregate id (if it is one) out of racc, once. */
static int
s_take_family(void *fctx, const char *id, size_t len)
{
    s_take *t = fctx;
    char root[OT_GROUPS_ID_MAX + 1];
    size_t rlen;
    int rc = ot_groups_root(t->src, id, len, root, &rlen);
    if (rc == OT_ENOTFOUND)
        return 0;   /* no aggregate: in no family */
    if (rc != 0 || ot_groups_set_has(t->s->dirty_ids, root, rlen))
        return rc;
    return ot_groups_family_walk(t->src, root, rlen, s_take_node, t);
}

/* Take incident inc out of acc, once. */
static int
s_take_incident(ot_store *s, const ot_groups_src *src, const char *inc, size_t len)
{
    bool added;
    if (len == 0)
        return 0;
    int rc = ot_groups_set_add(s->dirty_incs, inc, len, &added);
    if (rc != 0 || !added)
        return rc;
    return ot_groups_incident_add(src, s->rank, inc, len, s->acc, -1, NULL);
}

/* Everything the change of event X from os to ns touches, taken out. */
static int
s_take_out(ot_store *s, const ot_groups_src *src, const ot_store_shape *os,
           const ot_store_shape *ns)
{
    s_take t = { s, src };
    int rc;
    if ((rc = s_take_incident(s, src, os->incident, os->ilen)) != 0 ||
        (rc = s_take_incident(s, src, ns->incident, ns->ilen)) != 0 ||
        (rc = s_take_family(&t, ns->id, ns->idlen)) != 0 ||
        (rc = s_take_family(&t, os->parent, os->plen)) != 0 ||
        (rc = s_take_family(&t, ns->parent, ns->plen)) != 0)
        return rc;
    /* children of X: in X's family when X is an aggregate, else roots */
    return src->children(src->ctx, ns->id, ns->idlen, s_take_family, &t);
}

/* Add every dirty group back as it stands now, and write the reported
 * tallies. */
static int
s_groups_end(ot_store *s, s_ingest *in)
{
    ot_store_src sc;
    ot_groups_src src;
    ot_store_int_src(s, in->txn, &sc, &src);
    ot_groups_set_clear(s->done);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < ot_groups_set_count(s->dirty_ids); i++) {
        const char *id;
        size_t len, rlen;
        char root[OT_GROUPS_ID_MAX + 1];
        bool added;
        ot_groups_set_at(s->dirty_ids, i, &id, &len);
        rc = ot_groups_root(&src, id, len, root, &rlen);
        if (rc == OT_ENOTFOUND) {
            rc = 0;   /* no aggregate any more */
            continue;
        }
        if (rc == 0)
            rc = ot_groups_set_add(s->done, root, rlen, &added);
        if (rc == 0 && added)
            rc = ot_groups_family_add(&src, root, rlen, s->racc, +1);
    }
    for (size_t i = 0; rc == 0 && i < ot_groups_set_count(s->dirty_incs); i++) {
        const char *inc;
        size_t len;
        ot_groups_set_at(s->dirty_incs, i, &inc, &len);
        rc = ot_groups_incident_add(&src, s->rank, inc, len, s->acc, +1, NULL);
    }
    if (rc == 0 && ot_tally_acc_count(s->racc) > 0) {
        if ((rc = s_fault(s)) == 0)
            rc = ot_store_int_apply_reported(s, in->txn, s->racc, &in->tally_puts);
    }
    return rc;
}

static bool
s_plain(const ot_event_view *v)
{
    return ot_event_view_granularity(v) == OPTALLY__GRANULARITY__OPERATION &&
           v->len[OT_F_EVENT_INCIDENT] == 0;
}

/* Store event it (view nv) over its stored revision ov (NULL: new, h its
 * id hash; else cursor its index position) when either is not plain. */
static int
s_fold_general(ot_store *s, s_ingest *in, const ot_ingest_group *g, ot_ingest_item *it,
               const ot_event_view *nv, const ot_event_view *ov, size_t cursor, uint64_t h)
{
    ot_store_shape os, ns;
    ot_store_src sc;
    ot_groups_src src;
    ot_store_int_src(s, in->txn, &sc, &src);
    int rc;
    if ((rc = ot_store_int_shape(ov, &os)) != 0 || (rc = ot_store_int_shape(nv, &ns)) != 0)
        return rc;
    if (ns.aggregate && ns.plen) {
        rc = ot_groups_check_parent(&src, ns.id, ns.idlen, ns.parent, ns.plen, it->reject.text,
                                    sizeof it->reject.text);
        if (rc == OT_EINVAL_EVENT) {
            /* a retry of this ingest meets the reason and refuses it alike */
            it->status = OPTALLY__INGEST_STATUS__REJECTED;
            it->reject.reason = OPTALLY__REJECT_REASON__BAD_PARENT;
            return s_put_reject(s, in, g, it->reject.reason, 0, it->reject.text, it->raw,
                                it->raw_len, &it->seq);
        }
        if (rc != 0)
            return rc;
    }
    /* the old view points into the map: used up before the first write */
    if (os.present && os.plain && (rc = ot_tally_acc_view(s->acc, ov, -1)) != 0)
        return rc;
    if ((rc = s_take_out(s, &src, &os, &ns)) != 0)
        return rc;
    uint64_t seq;
    if ((rc = s_put_log(s, in, g, it->event, &seq)) != 0)
        return rc;
    if (os.present)
        ot_idindex_set(s->ix, cursor, seq);
    else if ((rc = ot_idindex_insert(s->ix, h, seq)) != 0)
        return rc;
    if ((rc = s_fault(s)) != 0 ||
        (rc = ot_store_int_index_update(s, in->txn, &os, &ns, seq)) != 0)
        return rc;
    bool added;
    if (ns.aggregate && (rc = ot_groups_set_add(s->dirty_ids, ns.id, ns.idlen, &added)) != 0)
        return rc;
    if (ns.plain && (rc = ot_tally_acc_view(s->acc, nv, +1)) != 0)
        return rc;
    it->seq = seq;
    if (os.present) {
        it->status = OPTALLY__INGEST_STATUS__SUPERSEDED;
        in->st.superseded++;
    } else {
        it->status = OPTALLY__INGEST_STATUS__STORED;
        in->st.stored++;
    }
    return 0;
}

/* Decide and apply one valid event against the revision stored for its id.
 * Both events are looked at through views (ot_event.h): the stored one is
 * read in place from the map, nothing is unpacked or allocated. The old
 * view points into a page of the map that a write of this transaction may
 * move, so every use of it comes before the first write below. */
static int
s_fold_known(ot_store *s, s_ingest *in, const ot_ingest_group *g, ot_ingest_item *it,
             size_t cursor, uint64_t old_seq)
{
    const Optally__OperationEvent *ev = it->event;
    MDB_val k = { sizeof old_seq, &old_seq }, v;
    const uint8_t *oldb;
    size_t oldlen;
    ot_event_view nv, ov;
    int rc = mdb_get(in->txn, s->log, &k, &v);
    if (rc != 0)
        return rc;
    if (ot_store_int_record_event(v.mv_data, v.mv_size, &oldb, &oldlen) != 0 ||
        ot_event_view_parse(oldb, oldlen, &ov) != 0)
        return OT_ECORRUPT;
    ot_event_view_of(ev, &nv);
    uint32_t nrev = ot_event_view_revision(&nv), orev = ot_event_view_revision(&ov);
    if (nrev < orev) {
        it->status = OPTALLY__INGEST_STATUS__STALE;
        it->seq = old_seq;
        in->st.stale++;
        return 0;
    }
    if (nrev == orev && ot_event_view_same_content(&nv, &ov)) {
        it->status = OPTALLY__INGEST_STATUS__DUPLICATE;
        it->seq = old_seq;
        in->st.duplicate++;
        return 0;
    }
    if (nrev == orev) {
        it->status = OPTALLY__INGEST_STATUS__REJECTED;
        it->reject.reason = OPTALLY__REJECT_REASON__CONFLICT;
        snprintf(it->reject.text, sizeof it->reject.text,
                 "event_id '%.64s' revision %u is stored with other content (log seq %llu); "
                 "send a higher revision to correct it", ev->event_id, ev->revision,
                 (unsigned long long)old_seq);
        return s_put_reject(s, in, g, it->reject.reason, 0, it->reject.text,
                            it->raw, it->raw_len, &it->seq);
    }
    if (!s_plain(&nv) || !s_plain(&ov))
        return s_fold_general(s, in, g, it, &nv, &ov, cursor, 0);
    /* A higher revision: the old contribution out, the new one in (the old
     * view is used up before the log write). */
    uint64_t seq;
    if ((rc = ot_tally_acc_view(s->acc, &ov, -1)) != 0 ||
        (rc = ot_tally_acc_view(s->acc, &nv, +1)) != 0 ||
        (rc = s_put_log(s, in, g, ev, &seq)) != 0)
        return rc;
    ot_idindex_set(s->ix, cursor, seq);
    it->status = OPTALLY__INGEST_STATUS__SUPERSEDED;
    it->seq = seq;
    in->st.superseded++;
    return 0;
}

static int
s_fold_item(ot_store *s, s_ingest *in, const ot_ingest_group *g, ot_ingest_item *it)
{
    if (it->reject.reason != OPTALLY__REJECT_REASON__REASON_NONE || !it->event) {
        /* Refused by validation (or by an earlier attempt's conflict check,
         * which gives the same answer): keep it with its reason. */
        it->status = OPTALLY__INGEST_STATUS__REJECTED;
        return s_put_reject(s, in, g, it->reject.reason, 0, it->reject.text,
                            it->raw, it->raw_len, &it->seq);
    }
    const Optally__OperationEvent *ev = it->event;
    size_t idlen = strlen(ev->event_id);
    uint64_t h = ot_hash_sip(&s->hk, ev->event_id, idlen);
    size_t cursor;
    uint64_t old_seq;
    int rc = s_index_find(s, in->txn, h, (const uint8_t *)ev->event_id, idlen, &cursor, &old_seq);
#ifdef OT_TEST_BROKEN_NO_DEDUP
    /* A deliberately broken build, for tests only (tests/CMakeLists.txt
     * builds optally_broken_nodedup; never installed): every event is new,
     * so a re-sent batch counts twice. The crash loop must catch it. */
    if (rc == 0)
        rc = OT_ENOTFOUND;
#endif
    if (rc == 0)
        return s_fold_known(s, in, g, it, cursor, old_seq);
    if (rc != OT_ENOTFOUND)
        return rc;
    if (ev->granularity != OPTALLY__GRANULARITY__OPERATION || (ev->incident && ev->incident[0])) {
        ot_event_view nv;
        ot_event_view_of(ev, &nv);
        return s_fold_general(s, in, g, it, &nv, NULL, 0, h);
    }
    uint64_t seq;
    if ((rc = s_put_log(s, in, g, ev, &seq)) != 0)
        return rc;
    if ((rc = ot_tally_acc_event(s->acc, ev, +1)) != 0)
        return rc;
    if ((rc = ot_idindex_insert(s->ix, h, seq)) != 0)
        return rc;
    it->status = OPTALLY__INGEST_STATUS__STORED;
    it->seq = seq;
    in->st.stored++;
    return 0;
}

/* ---- figures ------------------------------------------------------------ */

/* The figure stored at log seq, unpacked (free with
 * optally__figure__free_unpacked). */
static int
s_figure_at(ot_store *s, MDB_txn *txn, uint64_t seq, Optally__Figure **out)
{
    MDB_val k = { sizeof seq, &seq }, v;
    const uint8_t *fb;
    size_t flen;
    int rc = mdb_get(txn, s->log, &k, &v);
    if (rc != 0)
        return rc == MDB_NOTFOUND ? OT_ECORRUPT : rc;
    if (ot_store_int_record_figure(v.mv_data, v.mv_size, &fb, &flen) != 0)
        return OT_ECORRUPT;
    *out = optally__figure__unpack(NULL, flen, fb);
    return *out ? 0 : OT_ECORRUPT;
}

/* Decide and apply one figure: the statuses of events, deduplicated by
 * figure_id in DB figures. Figures are rare beside events, so the stored
 * revision is simply unpacked. */
static int
s_fold_figure(ot_store *s, s_ingest *in, const ot_ingest_group *g, ot_figure_item *it)
{
    it->figure_seq = 0;
    if (it->reject.reason != OPTALLY__REJECT_REASON__REASON_NONE || !it->figure) {
        it->status = OPTALLY__INGEST_STATUS__REJECTED;
        return s_put_reject_rec(s, in, g, it->reject.reason, 0, true, it->reject.text, it->raw,
                                it->raw_len, &it->seq);
    }
    const Optally__Figure *f = it->figure;
    size_t idlen = strlen(f->figure_id);
    if (idlen == 0 || idlen > OT_EVENT_ID_MAX)
        return EINVAL;   /* validation refuses it: the caller did not validate */
    MDB_val k = { idlen, f->figure_id }, v;
    int rc = mdb_get(in->txn, s->figures, &k, &v);
    if (rc == 0) {
        uint64_t old_seq;
        Optally__Figure *old;
        if (v.mv_size != sizeof old_seq)
            return OT_ECORRUPT;
        memcpy(&old_seq, v.mv_data, sizeof old_seq);
        if ((rc = s_figure_at(s, in->txn, old_seq, &old)) != 0)
            return rc;
        uint32_t orev = old->revision;
        bool same = ot_figure_same_content(f, old);
        optally__figure__free_unpacked(old, NULL);
        if (f->revision <= orev) {
            it->seq = old_seq;
            if (f->revision < orev) {
                it->status = OPTALLY__INGEST_STATUS__STALE;
                in->st.stale++;
            } else if (same) {
                it->status = OPTALLY__INGEST_STATUS__DUPLICATE;
                in->st.duplicate++;
            } else {
                it->status = OPTALLY__INGEST_STATUS__REJECTED;
                it->reject.reason = OPTALLY__REJECT_REASON__CONFLICT;
                snprintf(it->reject.text, sizeof it->reject.text,
                         "figure_id '%.64s' revision %u is stored with other content (log seq "
                         "%llu); send a higher revision to correct it", f->figure_id, f->revision,
                         (unsigned long long)old_seq);
                return s_put_reject_rec(s, in, g, it->reject.reason, 0, true, it->reject.text,
                                        it->raw, it->raw_len, &it->seq);
            }
            return 0;
        }
        it->status = OPTALLY__INGEST_STATUS__SUPERSEDED;
    } else if (rc == MDB_NOTFOUND) {
        it->status = OPTALLY__INGEST_STATUS__STORED;
    } else {
        return rc;
    }
    uint64_t seq;
    if ((rc = s_put_log_rec(s, in, g, NULL, f, &seq)) != 0)
        return rc;
    v.mv_size = sizeof seq;
    v.mv_data = &seq;
    if ((rc = s_fault(s)) != 0 || (rc = mdb_put(in->txn, s->figures, &k, &v, 0)) != 0)
        return rc;
    in->bytes += idlen + sizeof seq;
    it->seq = seq;
    it->figure_seq = ++in->seqs.figure_seq;
    if (it->status == OPTALLY__INGEST_STATUS__STORED)
        in->st.stored++;
    else
        in->st.superseded++;
    return 0;
}

/* Write each changed tally once: read, add the delta, write (or delete a
 * tally that returns to zero). Each change is numbered in the sequence of
 * its view's slot (the accumulator knows it: it built the key). */
static int
s_apply_tallies(ot_store *s, s_ingest *in)
{
    size_t n = ot_tally_acc_count(s->acc);
    if (n > s->capchanges) {
        ot_store_change *c = realloc(s->changes, n * sizeof *c);
        if (!c)
            return ENOMEM;
        s->changes = c;
        s->capchanges = n;
    }
    s->nchanges = 0;
    for (size_t i = 0; i < n; i++) {
        const char *key;
        size_t len;
        const ot_counts *d;
        ot_tally_acc_at(s->acc, i, &key, &len, &d);
        if (ot_counts_zero(d))
            continue;
        MDB_val k = { len, (void *)key }, v;
        ot_counts cur = { 0 };
        int rc = s_fault(s);
        if (rc != 0)
            return rc;
        rc = mdb_get(in->txn, s->tallies, &k, &v);
        if (rc == 0 && ot_counts_read(v.mv_data, v.mv_size, &cur) != 0)
            return OT_ECORRUPT;
        if (rc != 0 && rc != MDB_NOTFOUND)
            return rc;
        ot_counts_add(&cur, d, +1);
        in->bytes += len + sizeof cur;
        in->tally_puts++;
        if (ot_counts_zero(&cur)) {
            rc = mdb_del(in->txn, s->tallies, &k, NULL);
            if (rc == MDB_NOTFOUND)
                rc = 0;
        } else {
            v.mv_size = sizeof cur;
            v.mv_data = &cur;
            rc = mdb_put(in->txn, s->tallies, &k, &v, 0);
        }
        if (rc != 0)
            return rc;
        ot_store_change *ch = &s->changes[s->nchanges++];
        ch->key = key;
        ch->len = len;
        ch->view = ot_tally_acc_slot_at(s->acc, i);
        ch->counts = cur;
        ch->delta = *d;
        ch->seq = ++in->seqs.seq;
        ch->view_seq = ++in->seqs.view_seq[ch->view];
    }
    return 0;
}

static int
s_put_stats(ot_store *s, s_ingest *in)
{
    MDB_val k = { 5, "stats" }, v = { sizeof in->st, &in->st };
    int rc = mdb_put(in->txn, s->meta, &k, &v, 0);
    if (rc != 0)
        return rc;
    MDB_val k2 = { 4, "useq" }, v2 = { sizeof in->seqs, &in->seqs };
    return mdb_put(in->txn, s->meta, &k2, &v2, 0);
}

/* What a commit of this attempt has to write, at most, as far as the file
 * system is concerned: the bytes put, a page for each tally key touched
 * (they spread over the tallies' leaves; copy-on-write gives each dirty
 * page a new place, possibly past the file's end), and a few pages of
 * branches, free list and meta. An estimate for s_classify_failure, not
 * an exact count (LMDB does not tell its dirty pages). */
#define S_PAGE_BYTES     4096
#define S_COMMIT_PAGES   16

static uint64_t
s_need_bytes(const s_ingest *in)
{
    return in->bytes + (in->tally_puts + S_COMMIT_PAGES) * S_PAGE_BYTES;
}

/* One attempt: everything in one transaction, committed; or nothing. */
static int
s_ingest_once(ot_store *s, ot_ingest_group *groups, size_t ngroups, size_t nitems)
{
    s_ingest in = { 0 };
    in.next_seq = s->next_seq;
    in.next_reject = s->next_reject;
    in.st.stored = s->st.stored;
    in.st.duplicate = s->st.duplicate;
    in.st.superseded = s->st.superseded;
    in.st.stale = s->st.stale;
    in.st.rejected = s->st.rejected;
    in.seqs = s->seqs;
    s->nchanges = 0;
    ot_tally_acc_reset(s->acc);
    ot_tally_acc_reset(s->racc);
    ot_groups_set_clear(s->dirty_ids);
    ot_groups_set_clear(s->dirty_incs);
    int rc = ot_idindex_reserve(s->ix, nitems);
    if (rc != 0)
        return rc;
    if ((rc = mdb_txn_begin(s->env, NULL, 0, &in.txn)) != 0)
        return rc;
    ot_reject_budget_begin(s->rjb, s->test_now_ms ? s->test_now_ms : ot_clock_mono_ms());
    for (size_t gi = 0; rc == 0 && gi < ngroups; gi++) {
        ot_ingest_group *g = &groups[gi];
        bool by_key = g->peer && g->peer_len;
        ot_reject_budget_message(s->rjb, by_key ? g->peer : g->producer ? g->producer
                                 : (const uint8_t *)"", by_key ? g->peer_len : g->producer_len,
                                 g->received_at);
        in.msg_dropped = 0;
        in.sample = NULL;
        in.sample_len = 0;
        if (g->batch_error != OPTALLY__BATCH_ERROR__BATCH_OK) {
            uint64_t seq;
            rc = s_put_reject(s, &in, g, 0, g->batch_error, g->error_text, g->raw, g->raw_len, &seq);
        }
        for (size_t i = 0; rc == 0 && i < g->n; i++)
            rc = s_fold_item(s, &in, g, &g->items[i]);
        for (size_t i = 0; rc == 0 && i < g->nfigures; i++)
            rc = s_fold_figure(s, &in, g, &g->figures[i]);
        if (rc == 0)
            rc = s_put_reject_summary(s, &in, g);
    }
    if (rc == 0)
        rc = s_groups_end(s, &in);
    if (rc == 0)
        rc = s_apply_tallies(s, &in);
    if (rc == 0)
        rc = s_put_stats(s, &in);
    if (rc == 0)
        rc = s_fault(s);   /* a failing commit (ENOSPC, EIO) */
    if (rc == 0)
        rc = mdb_txn_commit(in.txn);   /* frees the txn, committed or not */
    else
        mdb_txn_abort(in.txn);
    if (rc != 0) {
        ot_idindex_rollback(s->ix);
        ot_reject_budget_rollback(s->rjb);
        s->need_bytes = s_need_bytes(&in);
        return rc;
    }
    ot_idindex_commit(s->ix);
    ot_reject_budget_commit(s->rjb);
    s->next_seq = in.next_seq;
    s->next_reject = in.next_reject;
    s->st.stored = in.st.stored;
    s->st.duplicate = in.st.duplicate;
    s->st.superseded = in.st.superseded;
    s->st.stale = in.st.stale;
    s->st.rejected = in.st.rejected;
    s->seqs = in.seqs;
    return 0;
}

bool
ot_store_int_fatal_code(int rc)
{
    switch (rc) {
    case MDB_PANIC:             /* LMDB set its fatal flag: no txn will begin */
    case MDB_VERSION_MISMATCH:  /* another liblmdb wrote the environment */
    case MDB_INVALID:           /* not an LMDB file (any more) */
    case MDB_BAD_TXN:           /* a transaction LMDB itself gave up on */
    case MDB_CORRUPTED:         /* the B-tree is damaged: every retry meets it */
    case MDB_PAGE_NOTFOUND:
        return true;
    default:
        return false;
    }
}

/* Room left beyond the estimated commit below which an EIO is taken for a
 * full file system: the estimate leaves out LMDB's own bookkeeping and
 * page fill, and another writer may take space meanwhile. */
#define S_FULL_MARGIN ((uint64_t)1 << 20)

int
ot_store_int_classify(int rc, uint64_t free_bytes, uint64_t need_bytes)
{
    if (ot_store_int_fatal_code(rc))
        return OT_EFATAL;
    if (rc == EIO && (free_bytes == 0 || free_bytes < need_bytes + S_FULL_MARGIN))
        return ENOSPC;
    return rc;
}

/* How ot_store_ingest reports a failure rc.
 *
 * Fatal codes (ot_store_int_fatal_code), and an environment LMDB has marked
 * fatal (a read transaction then refuses to begin with MDB_PANIC, whatever
 * the error that got us here), become OT_EFATAL and make the store refuse
 * every later ingest: the caller must stop and be restarted (STYLE rule 13).
 *
 * LMDB reports a page write cut short by a full file system as EIO (a
 * short pwrite), not ENOSPC. Producers must be told "storage full, retry
 * later" then, but a real I/O error must not be called "full" just because
 * the file system is small (a 16 MiB tmpfs always has less than any fixed
 * threshold). So an EIO counts as ENOSPC only when the file system really
 * could not take this commit: fewer bytes free than the commit had to write
 * (s_need_bytes) plus S_FULL_MARGIN, or none at all. ENOSPC stays ENOSPC;
 * when the free space cannot be read, an EIO stays EIO. */
static int
s_classify_failure(ot_store *s, int rc)
{
    MDB_txn *probe;
    int prc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &probe);
    if (prc == 0)
        mdb_txn_abort(probe);
    if (prc == MDB_PANIC)
        rc = MDB_PANIC;
    uint64_t free_bytes = UINT64_MAX;
    int fd;
    struct statvfs vfs;
    if (rc == EIO && mdb_env_get_fd(s->env, &fd) == 0 && fstatvfs(fd, &vfs) == 0)
        free_bytes = (uint64_t)vfs.f_bavail * vfs.f_frsize;
    rc = ot_store_int_classify(rc, free_bytes, s->need_bytes);
    if (rc == OT_EFATAL)
        s->fatal = true;
    return rc;
}

int
ot_store_ingest(ot_store *s, ot_ingest_group *groups, size_t ngroups)
{
    if (s->readonly)
        return EROFS;
    assert(!s->maintenance);   /* no id index: it would count events twice */
    if (s->maintenance)
        return EINVAL;
    if (s->fatal)
        return OT_EFATAL;
    size_t nitems = 0;
    for (size_t i = 0; i < ngroups; i++)
        nitems += groups[i].n;
    int rc;
    for (int grows = 0;; grows++) {
        rc = s_ingest_once(s, groups, ngroups, nitems);
        if (rc != MDB_MAP_FULL || grows == S_MAX_GROWS)
            break;
        /* No transaction of ours is open now (readers of other threads
         * are held off by maplock): the map may be resized. */
        int grc = ot_store_int_grow(s);
        if (grc != 0) {
            rc = grc;
            break;
        }
    }
    if (rc != 0) {
        ot_tally_acc_reset(s->acc);
        ot_tally_acc_reset(s->racc);
        s->nchanges = 0;
        rc = s_classify_failure(s, rc);
    }
    return rc;
}

int
ot_store_int_grow(ot_store *s)
{
    size_t bigger = s->map_size * 2;
    pthread_rwlock_wrlock(&s->maplock);
    int rc = mdb_env_set_mapsize(s->env, bigger);
    pthread_rwlock_unlock(&s->maplock);
    if (rc == 0)
        s->map_size = bigger;
    return rc;
}

size_t
ot_store_last_changes(const ot_store *s, const ot_store_change **out)
{
    *out = s->changes;
    return s->nchanges;
}

void
ot_store_seqs_get(const ot_store *s, ot_store_seqs *out)
{
    *out = s->seqs;
}

/* ---- readers --------------------------------------------------------- */

/* Begin a read transaction; pair with s_read_end. */
static int
s_read_begin(ot_store *s, MDB_txn **txn)
{
    pthread_rwlock_rdlock(&s->maplock);
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, txn);
    if (rc == MDB_MAP_RESIZED) {
        /* The writer grew the map since we opened: adopt its size. */
        if ((rc = mdb_env_set_mapsize(s->env, 0)) == 0)
            rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, txn);
    }
    if (rc != 0)
        pthread_rwlock_unlock(&s->maplock);
    return rc;
}

static void
s_read_end(ot_store *s, MDB_txn *txn)
{
    mdb_txn_abort(txn);
    pthread_rwlock_unlock(&s->maplock);
}

int
ot_store_int_read_begin(ot_store *s, MDB_txn **txn)
{
    return s_read_begin(s, txn);
}

void
ot_store_int_read_end(ot_store *s, MDB_txn *txn)
{
    s_read_end(s, txn);
}

int
ot_store_int_load_seqs(ot_store *s, MDB_txn *txn, ot_store_seqs *out)
{
    return s_load_seqs(s, txn, out);
}

int
ot_store_int_parse_seqs(const void *val, size_t len, ot_store_seqs *out)
{
    return s_parse_seqs(val, len, out);
}

int
ot_store_int_next_key(MDB_txn *txn, MDB_dbi dbi, uint64_t *out)
{
    return s_next_key(txn, dbi, out);
}

int
ot_store_int_load_stats(ot_store *s, MDB_txn *txn, ot_store_stats *out)
{
    MDB_val k = { 5, "stats" }, v;
    s_meta_stats m = { 0 };
    int rc = mdb_get(txn, s->meta, &k, &v);
    if (rc == 0 && v.mv_size == sizeof m)
        memcpy(&m, v.mv_data, sizeof m);
    else if (rc != 0 && rc != MDB_NOTFOUND)
        return rc;
    memset(out, 0, sizeof *out);
    out->stored = m.stored;
    out->duplicate = m.duplicate;
    out->superseded = m.superseded;
    out->stale = m.stale;
    out->rejected = m.rejected;
    return 0;
}

int
ot_store_stats_get(ot_store *s, ot_store_stats *out)
{
    *out = s->st;
    if (s->readonly) {
        /* Read the latest committed counters, not those seen at open. */
        MDB_txn *txn;
        int rc = s_read_begin(s, &txn);
        if (rc != 0)
            return rc;
        if (s->has_dbs) {
            rc = s_load_stats(s, txn);
            if (rc == 0)
                rc = s_next_key(txn, s->log, &s->next_seq);
            if (rc == 0)
                rc = s_next_key(txn, s->rejects, &s->next_reject);
        }
        s_read_end(s, txn);
        if (rc != 0)
            return rc;
        *out = s->st;
    }
    out->log_entries = s->next_seq ? s->next_seq - 1 : 0;
    out->rejects = s->next_reject ? s->next_reject - 1 : 0;
    out->distinct_ids = s->ix ? ot_idindex_count(s->ix) : 0;
    out->index_bytes = s->ix ? ot_idindex_bytes(s->ix) : 0;
    out->map_size = s->map_size;
    return 0;
}

int
ot_store_tally_foreach(ot_store *s, const char *prefix, ot_store_tally_fn fn, void *ctx)
{
    return ot_store_tally_snapshot(s, prefix, fn, ctx, NULL);
}

int
ot_store_int_tally_walk(MDB_txn *txn, MDB_dbi dbi, const char *prefix, ot_store_tally_fn fn,
                        void *ctx)
{
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, dbi, &c);
    if (rc != 0)
        return rc;
    size_t plen = prefix ? strlen(prefix) : 0;
    MDB_val k = { plen, (void *)prefix }, v;
    for (rc = mdb_cursor_get(c, &k, &v, plen ? MDB_SET_RANGE : MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        /* A key past the prefix ends the walk normally. */
        if (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0)
            break;
        ot_counts cnt;
        if ((rc = ot_counts_read(v.mv_data, v.mv_size, &cnt)) != 0 ||
            (rc = fn(ctx, k.mv_data, k.mv_size, &cnt)) != 0)
            break;
    }
    if (rc == MDB_NOTFOUND)
        rc = 0;
    mdb_cursor_close(c);
    return rc;
}

int
ot_store_tally_snapshot(ot_store *s, const char *prefix, ot_store_tally_fn fn, void *ctx,
                        ot_store_seqs *seqs)
{
    if (seqs)
        memset(seqs, 0, sizeof *seqs);
    if (!s->has_dbs)
        return 0;
    MDB_txn *txn;
    int rc = s_read_begin(s, &txn);
    if (rc != 0)
        return rc;
    if (!seqs || (rc = s_load_seqs(s, txn, seqs)) == 0)
        rc = ot_store_int_tally_walk(txn, s->tallies, prefix, fn, ctx);
    s_read_end(s, txn);
    return rc;
}

int
ot_store_reject_foreach(ot_store *s, ot_store_reject_fn fn, void *ctx)
{
    if (!s->has_dbs)
        return 0;
    MDB_txn *txn;
    MDB_cursor *c;
    MDB_val k, v;
    int rc = s_read_begin(s, &txn);
    if (rc != 0)
        return rc;
    if ((rc = mdb_cursor_open(txn, s->rejects, &c)) != 0) {
        s_read_end(s, txn);
        return rc;
    }
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        Optally__RejectRecord *r = optally__reject_record__unpack(NULL, v.mv_size, v.mv_data);
        if (!r) {
            rc = OT_ECORRUPT;
            break;
        }
        rc = fn(ctx, r);
        optally__reject_record__free_unpacked(r, NULL);
        if (rc != 0)
            break;
    }
    if (rc == MDB_NOTFOUND)
        rc = 0;
    mdb_cursor_close(c);
    s_read_end(s, txn);
    return rc;
}

/* The occurred_on of a packed LogRecord, without unpacking it. */
static int
s_record_date(const uint8_t *rec, size_t len, const uint8_t **date, size_t *dlen)
{
    const uint8_t *ev;
    size_t evlen;
    uint32_t field = OT_F_EVENT_OCCURRED_ON;
    if (ot_store_int_record_event(rec, len, &ev, &evlen) != 0) {
        /* a figure record: selected by its as_of */
        if (ot_store_int_record_figure(rec, len, &ev, &evlen) != 0)
            return OT_ECORRUPT;
        field = OT_F_FIGURE_AS_OF;
    }
    int rc = ot_wire_find_bytes(ev, evlen, field, date, dlen);
    if (rc == OT_ENOTFOUND) {
        *dlen = 0;   /* proto3: absent is the empty string */
        return 0;
    }
    return rc == 0 ? 0 : OT_ECORRUPT;
}

/* Byte order of the date strings, which for "YYYY-MM-DD" is date order. */
static int
s_date_cmp(const uint8_t *d, size_t dlen, const char *bound)
{
    size_t blen = strlen(bound);
    int c = memcmp(d, bound, dlen < blen ? dlen : blen);
    return c ? c : (dlen > blen) - (dlen < blen);
}

static bool
s_log_match(const ot_log_filter *f, const uint8_t *rec, size_t len, int *rc)
{
    const uint8_t *d;
    size_t dlen;
    *rc = 0;
    if (!f || (!f->since && !f->until))
        return true;
    if ((*rc = s_record_date(rec, len, &d, &dlen)) != 0)
        return false;
    if (f->since && s_date_cmp(d, dlen, f->since) < 0)
        return false;
    return !f->until || s_date_cmp(d, dlen, f->until) <= 0;
}

int
ot_store_log_scan(ot_store *s, const ot_log_filter *f, size_t max, ot_store_log_raw_fn fn,
                  void *ctx, uint64_t *resume)
{
    *resume = 0;
    if (!s->has_dbs)
        return 0;
    MDB_txn *txn;
    MDB_cursor *c;
    int rc = s_read_begin(s, &txn);
    if (rc != 0)
        return rc;
    if ((rc = mdb_cursor_open(txn, s->log, &c)) != 0) {
        s_read_end(s, txn);
        return rc;
    }
    uint64_t start = f && f->from_seq ? f->from_seq : 1, to = f ? f->to_seq : 0;
    size_t visited = 0;
    MDB_val k = { sizeof start, &start }, v;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        uint64_t seq;
        memcpy(&seq, k.mv_data, sizeof seq);
        if (to && seq > to)
            break;
        if (max && visited == max) {
            *resume = seq;
            break;
        }
        if (!s_log_match(f, v.mv_data, v.mv_size, &rc)) {
            if (rc != 0)
                break;
            continue;
        }
        visited++;
        if ((rc = fn(ctx, seq, v.mv_data, v.mv_size)) != 0) {
            *resume = seq + 1;
            break;
        }
    }
    if (rc == MDB_NOTFOUND)
        rc = 0;
    mdb_cursor_close(c);
    s_read_end(s, txn);
    return rc;
}

int
ot_store_log_last(ot_store *s, uint64_t *out)
{
    *out = 0;
    if (!s->has_dbs)
        return 0;
    MDB_txn *txn;
    int rc = s_read_begin(s, &txn);
    if (rc != 0)
        return rc;
    uint64_t next;
    rc = s_next_key(txn, s->log, &next);
    s_read_end(s, txn);
    if (rc == 0)
        *out = next - 1;
    return rc;
}
