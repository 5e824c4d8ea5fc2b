/*
 * ot_testdata: events and ingests that several unit tests build the same
 * way (test_publish, test_snapshot). Test code only: failures are cmocka
 * assertions.
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

#endif
