/* ot_testdata: shared event and ingest builders of the unit tests (see ot_testdata.h). */
#include "ot_testdata.h"

#include <stdarg.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
ot_test_event(Optally__OperationEvent *ev, const char *id, const char *country,
              const char *date, const char *pf, uint32_t killed)
{
    optally__operation_event__init(ev);
    ev->event_id = (char *)id;
    ev->source = "TEST";
    ev->occurred_on = (char *)date;
    ev->country = (char *)country;
    ev->partner_force = (char *)pf;
    ev->operations = 1;
    ev->killed = killed;
}

void
ot_test_ingest(ot_store *s, Optally__OperationEvent *evs, size_t n)
{
    ot_ingest_item items[8];
    assert_true(n <= 8);
    memset(items, 0, sizeof items);
    for (size_t i = 0; i < n; i++)
        items[i].event = &evs[i];
    ot_ingest_group g = { .producer = (const uint8_t *)"t", .producer_len = 1,
                          .received_at = 1, .items = items, .n = n };
    assert_int_equal(ot_store_ingest(s, &g, 1), 0);
}

ot_test_dir *
ot_test_dir_new(const char *tag)
{
    ot_test_dir *d = calloc(1, sizeof *d);
    assert_non_null(d);
    snprintf(d->dir, sizeof d->dir, "/tmp/ot-test-%s.XXXXXX", tag);
    assert_non_null(mkdtemp(d->dir));
    return d;
}

void
ot_test_dir_free(ot_test_dir **pd)
{
    ot_test_dir *d = *pd;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d->dir);
    assert_int_equal(system(cmd), 0);
    free(d);
    *pd = NULL;
}

const char *
ot_test_dir_path(ot_test_dir *d, const char *name)
{
    snprintf(d->path, sizeof d->path, "%s/%s", d->dir, name);
    return d->path;
}
