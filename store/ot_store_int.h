/*
 * ot_store_int: what the files of store/ share and nobody else sees: the
 * body of struct ot_store and a few helpers of ot_store.c that another
 * store file (ot_rebuild.c) needs. Not part of the store's API: code
 * outside store/ includes ot_store.h only.
 *
 * Invariants (beyond those of ot_store.h):
 *  1. Every read transaction of a store is begun with
 *     ot_store_int_read_begin and ended with ot_store_int_read_end: they
 *     hold maplock shared, so the writer can resize the map (which LMDB
 *     allows only while no transaction of the process is active).
 *  2. A store opened with `maintenance` holds the writer lock but has no
 *     id index (ix == NULL) and never ingests.
 */
#ifndef OT_STORE_INT_H
#define OT_STORE_INT_H

#include <lmdb.h>
#include <pthread.h>

#include "ot_hash.h"
#include "ot_idindex.h"
#include "ot_store.h"
#include "ot_tally.h"

struct ot_store {
    MDB_env *env;
    MDB_dbi log, tallies, rejects, meta;
    bool has_dbs;           /* readonly over a store without our databases */
    bool readonly;
    bool maintenance;       /* writer lock, no id index, no ingest */
    size_t map_size;
    ot_idindex *ix;         /* writers only */
    ot_hash_key hk;
    ot_tally_acc *acc;      /* writers only */
    int lock_fd;            /* writers: flock on DIR/writer.lock, -1 none */
    uint64_t next_seq;      /* next log seq (first is 1) */
    uint64_t next_reject;
    ot_store_stats st;      /* status counters as of the last commit */
    ot_store_seqs seqs;     /* update sequences as of the last commit */
    ot_store_change *changes;   /* the last commit's changed keys */
    size_t nchanges, capchanges;
    /* Readers in other threads hold it shared for a read transaction; the
     * writer holds it exclusive to resize the map (LMDB requires that no
     * transaction of the process is active then). */
    pthread_rwlock_t maplock;
    int fault_countdown;    /* tests: fail the Nth write step (0 = off) */
    int fault_err;
};

/* Begin a read transaction (adopting a map the writer grew); pair with
 * ot_store_int_read_end. Returns 0 or an LMDB code (nothing held then). */
int
ot_store_int_read_begin(ot_store *s, MDB_txn **txn);

void
ot_store_int_read_end(ot_store *s, MDB_txn *txn);

/* The update sequences stored in meta "useq" as of txn (zeros when none). */
int
ot_store_int_load_seqs(ot_store *s, MDB_txn *txn, ot_store_seqs *out);

/* Double the map; no transaction of this process may be active.
 * Returns 0 or an LMDB code (the map is then unchanged). */
int
ot_store_int_grow(ot_store *s);

#endif
