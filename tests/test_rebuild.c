/*
 * test_rebuild: tallies recomputed from the log (store/ot_rebuild).
 *  - after random ingests (new events, duplicates, revisions, retractions,
 *    stale revisions, conflicts; made by the fold model shared with
 *    test_store, tests/support/ot_model.c, which also checks every status)
 *    a check finds no difference: the log,
 *    re-folded by "last record of each id counts unless retracted", gives
 *    exactly the live tallies; also through a readonly store;
 *  - tallies damaged behind the store's back (a value changed, a key
 *    deleted, a key invented; a key of an unknown view) are each reported
 *    once, with both sides; the unknown view's key is left alone;
 *  - a repair limited to one view fixes that view only; a full repair fixes
 *    the rest, bumps the update sequences once per key written, and a check
 *    then finds nothing;
 *  - a repair needs a writer: EROFS on a readonly store; a maintenance
 *    writer is refused while another writer holds the directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ot_error.h"
#include "ot_model.h"
#include "ot_rebuild.h"
#include "ot_store.h"
#include "ot_view.h"

#define NIDS 400

static char s_dir[128];

typedef struct s_seen {
    ot_rebuild_diff d[16];
    char keys[16][OT_VIEW_KEY_MAX];
    size_t n;
} s_seen;

static int
s_collect(void *ctx, const ot_rebuild_diff *d)
{
    s_seen *s = ctx;
    assert_true(s->n < 16);
    assert_true(d->len < OT_VIEW_KEY_MAX);
    s->d[s->n] = *d;
    memcpy(s->keys[s->n], d->key, d->len);
    s->keys[s->n][d->len] = '\0';
    s->d[s->n].key = s->keys[s->n];
    s->n++;
    return 0;
}

static uint64_t
s_check(ot_store *s, uint32_t views, s_seen *seen)
{
    ot_rebuild_options o = { .views = views, .check = true, .on_diff = s_collect, .diff_ctx = seen };
    ot_rebuild_stats st;
    if (seen)
        seen->n = 0;
    else
        o.on_diff = NULL;
    assert_int_equal(ot_rebuild_run(s, &o, &st), 0);
    return st.diffs;
}

static const s_seen *
s_find(const s_seen *seen, const char *key, size_t *i)
{
    for (*i = 0; *i < seen->n; (*i)++)
        if (!strcmp(seen->keys[*i], key))
            return seen;
    return NULL;
}

static int
s_count(void *ctx, const char *key, size_t len, const ot_counts *c)
{
    (void)key;
    (void)len;
    (void)c;
    (*(size_t *)ctx)++;
    return 0;
}

/* Change the tallies database directly, as damage would: no store open. */
static void
s_damage(ot_counts *changed_was, char *changed_key, char *deleted_key)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_cursor *c;
    MDB_val k, v;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 8), 0);
    assert_int_equal(mdb_env_open(env, s_dir, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "tallies", 0, &dbi), 0);
    /* the first "country,month" key: killed + 5 */
    assert_int_equal(mdb_cursor_open(txn, dbi, &c), 0);
    k.mv_data = "country,month/";
    k.mv_size = strlen(k.mv_data);
    assert_int_equal(mdb_cursor_get(c, &k, &v, MDB_SET_RANGE), 0);
    memcpy(changed_key, k.mv_data, k.mv_size);
    changed_key[k.mv_size] = '\0';
    ot_counts cnt;
    memcpy(&cnt, v.mv_data, sizeof cnt);
    *changed_was = cnt;
    cnt.killed += 5;
    MDB_val nv = { sizeof cnt, &cnt };
    assert_int_equal(mdb_cursor_put(c, &k, &nv, MDB_CURRENT), 0);
    /* the first "country,partner_force" key: gone */
    k.mv_data = "country,partner_force/";
    k.mv_size = strlen(k.mv_data);
    assert_int_equal(mdb_cursor_get(c, &k, &v, MDB_SET_RANGE), 0);
    memcpy(deleted_key, k.mv_data, k.mv_size);
    deleted_key[k.mv_size] = '\0';
    assert_int_equal(mdb_cursor_del(c, 0), 0);
    mdb_cursor_close(c);
    /* an invented key of a known view, and one of a view nobody knows */
    ot_counts inv = { 1, 2, 3, 4, 5, 3, 3 };
    MDB_val ik = { 10, "country/ZZ" }, iv = { sizeof inv, &inv };
    assert_int_equal(mdb_put(txn, dbi, &ik, &iv, 0), 0);
    MDB_val uk = { 11, "nosuchview/" };
    assert_int_equal(mdb_put(txn, dbi, &uk, &iv, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

static void
t_check_and_repair(void **state)
{
    (void)state;
    snprintf(s_dir, sizeof s_dir, "/tmp/ot-test-rebuild.XXXXXX");
    assert_non_null(mkdtemp(s_dir));
    srand(4242);
    ot_model *mo = calloc(1, sizeof *mo);
    assert_non_null(mo);
    ot_model_init(mo, NIDS, "rb");
    ot_store *s, *ro, *other;
    ot_store_options w = { .nosync = true }, rdo = { .readonly = true },
                     mw = { .nosync = true, .maintenance = true };
    assert_int_equal(ot_store_open(s_dir, &w, &s), 0);
    for (int round = 0; round < 30; round++)
        ot_model_ingest(s, mo, 1 + (size_t)(rand() % 300));

    /* 1. intact: nothing, from the writer and from a reader beside it */
    s_seen *seen = calloc(1, sizeof *seen);
    assert_int_equal(s_check(s, 0, seen), 0);
    assert_int_equal(ot_store_open(s_dir, &rdo, &ro), 0);
    assert_int_equal(s_check(ro, 0, NULL), 0);
    ot_rebuild_options repair = { 0 };
    assert_int_equal(ot_rebuild_run(ro, &repair, NULL), EROFS);
    /* a maintenance writer is kept out while the consumer's writer is open */
    assert_int_equal(ot_store_open(s_dir, &mw, &other), OT_ELOCKED);
    ot_store_close(&ro);
    ot_store_stats st;
    assert_int_equal(ot_store_stats_get(s, &st), 0);
    ot_store_close(&s);

    /* 2. damage: three differences, each reported once */
    ot_counts was;
    char changed[OT_VIEW_KEY_MAX], deleted[OT_VIEW_KEY_MAX];
    s_damage(&was, changed, deleted);
    assert_int_equal(ot_store_open(s_dir, &mw, &s), 0);
    ot_store_seqs before;
    ot_store_seqs_get(s, &before);
    assert_int_equal(s_check(s, 0, seen), 3);
    size_t i;
    assert_non_null(s_find(seen, changed, &i));
    assert_true(seen->d[i].stored_present && seen->d[i].rebuilt_present);
    assert_int_equal(seen->d[i].stored.killed, was.killed + 5);
    assert_memory_equal(&seen->d[i].rebuilt, &was, sizeof was);
    assert_string_equal(ot_view_at(seen->d[i].view)->name, "country,month");
    assert_non_null(s_find(seen, deleted, &i));
    assert_true(!seen->d[i].stored_present && seen->d[i].rebuilt_present);
    assert_non_null(s_find(seen, "country/ZZ", &i));
    assert_true(seen->d[i].stored_present && !seen->d[i].rebuilt_present);
    assert_int_equal(seen->d[i].stored.wounded, 5);
    /* only the selected view is compared */
    const ot_view *country = ot_view_find("country");
    uint32_t country_bit = 0;
    for (size_t v = 0; v < ot_view_count(); v++)
        if (ot_view_at(v) == country)
            country_bit = 1u << v;
    assert_int_equal(s_check(s, country_bit, seen), 1);

    /* 3. repair one view, then the rest */
    ot_rebuild_options one = { .views = country_bit };
    ot_rebuild_stats rs;
    assert_int_equal(ot_rebuild_run(s, &one, &rs), 0);
    assert_int_equal(rs.diffs, 1);
    assert_int_equal(s_check(s, 0, seen), 2);
    assert_int_equal(ot_rebuild_run(s, &repair, &rs), 0);
    assert_int_equal(rs.diffs, 2);
    assert_true(rs.counted > 0 && rs.counted <= rs.ids && rs.ids <= rs.records);
    assert_int_equal(rs.records, st.log_entries);
    assert_int_equal(s_check(s, 0, seen), 0);
    ot_store_seqs after;
    ot_store_seqs_get(s, &after);
    assert_int_equal(after.seq, before.seq + 3);
    ot_store_close(&s);

    /* the sequences were persisted, and the unknown view's key survived */
    assert_int_equal(ot_store_open(s_dir, &w, &s), 0);
    ot_store_seqs_get(s, &before);
    assert_int_equal(before.seq, after.seq);
    size_t unknown = 0;
    assert_int_equal(ot_store_tally_foreach(s, "nosuchview/", s_count, &unknown), 0);
    assert_int_equal(unknown, 1);
    /* and a store that goes on ingesting stays consistent with the log */
    ot_model_ingest(s, mo, 500);
    assert_int_equal(s_check(s, 0, NULL), 0);
    ot_store_close(&s);

    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s_dir);
    assert_int_equal(system(cmd), 0);
    free(seen);
    free(mo);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_check_and_repair),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
