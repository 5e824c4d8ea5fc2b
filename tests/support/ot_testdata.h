/*
 * ot_testdata: what several unit tests build the same way: events and
 * ingests (test_publish, test_snapshot) and a scratch directory (test_keys,
 * test_keyset). Test code only: failures are cmocka assertions.
 */
#ifndef OT_TESTDATA_H
#define OT_TESTDATA_H

#include <stddef.h>
#include <stdint.h>

#include "ot_store.h"

/* Fill ev as a valid one-operation event of source "TEST". The strings
 * are borrowed: they must outlive ev. */
void
ot_test_event(Optally__OperationEvent *ev, const char *id, const char *country,
              const char *date, const char *pf, uint32_t killed);

/* Ingest evs[0..n) (n <= 8) in one committed transaction of s, from
 * producer "t"; asserts that it committed. */
void
ot_test_ingest(ot_store *s, Optally__OperationEvent *evs, size_t n);

/* A scratch directory /tmp/ot-test-TAG.XXXXXX, removed with its tree by
 * ot_test_dir_free. */
typedef struct ot_test_dir {
    char dir[64];
    char path[256];     /* the last ot_test_dir_path result */
} ot_test_dir;

ot_test_dir *
ot_test_dir_new(const char *tag);

/* Removes the tree and frees *d; sets *d to NULL. */
void
ot_test_dir_free(ot_test_dir **d);

/* "dir/name" in d->path (valid until the next call). */
const char *
ot_test_dir_path(ot_test_dir *d, const char *name);

#endif
