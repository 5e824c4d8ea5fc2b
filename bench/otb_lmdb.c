/*
 * otb_lmdb: the storage limit: raw LMDB appends, durable (fsync at every
 * commit, LMDB's default), with nothing else in the transaction.
 *
 *   otb_lmdb --dir DIR --n N --value-size V --commit C [--ids none|random|ordered]
 *            [--name ROW]
 *
 * Appends N values of V bytes under sequential u64 keys (MDB_INTEGERKEY,
 * MDB_APPEND), committing every C appends. With --ids, each append also
 * puts a 16-byte id -> seq into a second database, as a B-tree id index
 * would: random ids (UUIDv4-like) land on random leaf pages, so every
 * commit copies and writes about one 4 KiB page per new id; time-ordered
 * ids (UUIDv7-like) fill pages in order. Prints a RESULT line with
 * events/s, CPU, peak RSS and the bytes this process caused to be written.
 */
#include <errno.h>
#include <inttypes.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "otb_util.h"

static void
s_id(uint64_t i, int mode, uint8_t id[16])
{
    uint64_t a = otb_mix(i), b = otb_mix(a);
    if (mode == 2)              /* time-ordered: big-endian counter first */
        a = i;
    for (int k = 0; k < 8; k++) {
        id[k] = (uint8_t)(a >> (56 - 8 * k));
        id[8 + k] = (uint8_t)(b >> (56 - 8 * k));
    }
}

static int
s_fail(const char *what, int rc)
{
    fprintf(stderr, "otb_lmdb: %s: %s\n", what, mdb_strerror(rc));
    return 2;
}

int
main(int argc, char **argv)
{
    static const char *const id_kinds[] = { "none", "random", "ordered", NULL };
    const char *dir = NULL, *name = "lmdb";
    uint64_t n = 0;
    size_t vsize = 170, commit = 1000;
    int mode = 0;
    const otb_opt opts[] = {
        { "dir", OTB_OPT_STR, &dir, NULL },
        { "n", OTB_OPT_U64, &n, NULL },
        { "value-size", OTB_OPT_SIZE, &vsize, NULL },
        { "commit", OTB_OPT_SIZE, &commit, NULL },
        { "ids", OTB_OPT_CHOICE, &mode, id_kinds },
        { "name", OTB_OPT_STR, &name, NULL },
        { NULL, 0, NULL, NULL },
    };
    if (otb_opts_parse(argc, argv, opts) != 0 || !dir || n == 0 || vsize == 0 || commit == 0)
        return otb_usage("otb_lmdb --dir DIR --n N --value-size V --commit C "
                         "[--ids none|random|ordered] [--name ROW]");
    mkdir(dir, 0700);
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi log, ids;
    int rc;
    size_t map = (size_t)n * (vsize + 64) * (mode ? 3 : 2) + ((size_t)64 << 20);
    if ((rc = mdb_env_create(&env)) || (rc = mdb_env_set_maxdbs(env, 4)) ||
        (rc = mdb_env_set_mapsize(env, map)) || (rc = mdb_env_open(env, dir, MDB_NOTLS, 0600)))
        return s_fail("open", rc);
    if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) ||
        (rc = mdb_dbi_open(txn, "log", MDB_CREATE | MDB_INTEGERKEY, &log)) ||
        (rc = mdb_dbi_open(txn, "ids", MDB_CREATE, &ids)) || (rc = mdb_txn_commit(txn)))
        return s_fail("dbi", rc);
    uint8_t *val = malloc(vsize);
    if (!val)
        return 2;
    for (size_t i = 0; i < vsize; i++)
        val[i] = (uint8_t)(otb_mix(i) & 0x7f);   /* incompressible enough; LMDB does not compress */
    otb_span sp;
    otb_span_begin(&sp, 0, dir);
    uint64_t commits = 0;
    txn = NULL;
    for (uint64_t i = 1; i <= n; i++) {
        if (!txn && (rc = mdb_txn_begin(env, NULL, 0, &txn)))
            return s_fail("begin", rc);
        MDB_val k = { sizeof i, &i }, v = { vsize, val };
        memcpy(val, &i, sizeof i < vsize ? sizeof i : vsize);
        if ((rc = mdb_put(txn, log, &k, &v, MDB_APPEND)))
            return s_fail("append", rc);
        if (mode) {
            uint8_t id[16];
            s_id(i, mode, id);
            MDB_val ik = { sizeof id, id }, iv = { sizeof i, &i };
            if ((rc = mdb_put(txn, ids, &ik, &iv, MDB_NOOVERWRITE)))
                return s_fail("id put", rc);
        }
        if (i % commit == 0 || i == n) {
            if ((rc = mdb_txn_commit(txn)))
                return s_fail("commit", rc);
            txn = NULL;
            commits++;
        }
    }
    otb_span_end(&sp);
    mdb_env_close(env);
    char common[512];
    otb_result(name, "%s\tcpu_s=%.2f\tdu=%" PRIu64 "\tcommit=%zu\tcommits=%" PRIu64
               "\tvalue_size=%zu\tids=%s\tok=1", otb_span_fields(&sp, n, common, sizeof common),
               otb_span_cpu(&sp), otb_du(dir), commit, commits, vsize, id_kinds[mode]);
    free(val);
    return 0;
}
