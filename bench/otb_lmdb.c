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
#include <getopt.h>
#include <inttypes.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "otb_util.h"

static uint64_t
s_mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static void
s_id(uint64_t i, int mode, uint8_t id[16])
{
    uint64_t a = s_mix(i), b = s_mix(a);
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
    static const struct option longs[] = {
        { "dir", required_argument, NULL, 'd' },
        { "n", required_argument, NULL, 'n' },
        { "value-size", required_argument, NULL, 'v' },
        { "commit", required_argument, NULL, 'c' },
        { "ids", required_argument, NULL, 'i' },
        { "name", required_argument, NULL, 'N' },
        { NULL, 0, NULL, 0 },
    };
    const char *dir = NULL, *name = "lmdb";
    uint64_t n = 0;
    size_t vsize = 170, commit = 1000;
    int mode = 0, c;
    while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        switch (c) {
        case 'd': dir = optarg; break;
        case 'n': n = strtoull(optarg, NULL, 10); break;
        case 'v': vsize = strtoul(optarg, NULL, 10); break;
        case 'c': commit = strtoul(optarg, NULL, 10); break;
        case 'i': mode = strcmp(optarg, "random") == 0 ? 1 : strcmp(optarg, "ordered") == 0 ? 2 : 0;
                  break;
        case 'N': name = optarg; break;
        default: return 64;
        }
    }
    if (!dir || n == 0 || vsize == 0 || commit == 0) {
        fprintf(stderr, "usage: otb_lmdb --dir DIR --n N --value-size V --commit C "
                "[--ids none|random|ordered] [--name ROW]\n");
        return 64;
    }
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
        val[i] = (uint8_t)(s_mix(i) & 0x7f);   /* incompressible enough; LMDB does not compress */
    otb_proc p0, p1;
    otb_proc_read(0, &p0);
    uint64_t dev0 = otb_dev_written(dir);
    double t0 = otb_now();
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
    double secs = otb_now() - t0;
    otb_proc_read(0, &p1);
    uint64_t dev1 = otb_dev_written(dir);
    mdb_env_close(env);
    uint64_t du = otb_du(dir);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    otb_result(name, "events=%" PRIu64 "\tsecs=%.3f\tevps=%.0f\tcpu_s=%.2f\thwm_kb=%ld"
               "\twbytes=%" PRIu64 "\twchar=%" PRIu64 "\tdevbytes=%" PRIu64 "\tdu=%" PRIu64 "\tcommit=%zu"
               "\tcommits=%" PRIu64 "\tvalue_size=%zu\tids=%s\tok=1", n, secs,
               (double)n / secs, p1.cpu_s - p0.cpu_s, ru.ru_maxrss,
               p1.write_bytes - p0.write_bytes, p1.wchar - p0.wchar, dev1 - dev0, du, commit, commits, vsize,
               mode == 1 ? "random" : mode == 2 ? "ordered" : "none");
    free(val);
    return 0;
}
