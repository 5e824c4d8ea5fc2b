/*
 * fuzz_ingest: what the consumer does with one message from the network,
 * minus the socket: bounded decode, validation (wire NUL check included),
 * and the fold into a scratch store, with the tally invariant checked
 * against the store's own log after every input.
 *
 * Built two ways: with libFuzzer (-DOPTALLY_FUZZ=ON, clang) to search, and
 * with tests/fuzz/driver.c under ctest to replay the corpus and every input
 * that ever crashed (tests/fuzz/regress/).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ot_event.h"
#include "ot_store.h"
#include "ot_wire.h"

#include <lmdb.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static ot_store *s_store;
static char s_dir[64];

static void
s_cleanup(void)
{
    char cmd[128];
    ot_store_close(&s_store);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "fuzz_ingest: could not remove %s\n", s_dir);
}

static ot_store *
s_open(void)
{
    if (s_store)
        return s_store;
    snprintf(s_dir, sizeof s_dir, "/tmp/optally-fuzz.XXXXXX");
    if (!mkdtemp(s_dir))
        abort();
    ot_store_options o = { .nosync = true, .map_size = 64u << 20 };
    if (ot_store_open(s_dir, &o, &s_store) != 0)
        abort();
    atexit(s_cleanup);
    return s_store;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ot_store *st = s_open();
    ot_wire_batch *b = NULL;
    int rc = ot_wire_batch_decode(data, size, 4u << 20, OT_BATCH_MAX_EVENTS, &b);
    ot_ingest_group g = { .producer = (const uint8_t *)"fuzz", .producer_len = 4,
                          .received_at = 1, .raw = data, .raw_len = size };
    ot_ingest_item *items = NULL;
    if (rc != 0) {
        g.batch_error = OPTALLY__BATCH_ERROR__UNDECODABLE;
        g.error_text = "fuzz";
    } else {
        const Optally__EventBatch *m = ot_wire_batch_msg(b);
        items = calloc(m->n_events ? m->n_events : 1, sizeof *items);
        if (!items)
            abort();
        for (size_t i = 0; i < m->n_events; i++) {
            items[i].event = m->events[i];
            ot_wire_batch_raw(b, i, &items[i].raw, &items[i].raw_len);
            if (ot_wire_has_nul_string(items[i].raw, items[i].raw_len))
                items[i].reject.reason = OPTALLY__REJECT_REASON__BAD_STRING;
            else
                ot_event_validate(m->events[i], 1767225600000LL /* 2026-01-01 */, &items[i].reject);
        }
        g.items = items;
        g.n = m->n_events;
    }
    rc = ot_store_ingest(st, &g, 1);
    if (rc != 0 && rc != MDB_MAP_FULL) {
        fprintf(stderr, "ingest failed: %d\n", rc);
        abort();
    }
    /* Every status must be a final one. */
    for (size_t i = 0; rc == 0 && i < g.n; i++)
        if (items[i].status < OPTALLY__INGEST_STATUS__STORED ||
            items[i].status > OPTALLY__INGEST_STATUS__REJECTED)
            abort();
    free(items);
    ot_wire_batch_free(&b);
    return 0;
}
