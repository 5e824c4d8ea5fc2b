/*
 * otb_sqlite: the SQLite baseline: the same events, the same dedup and
 * fold as optally, in SQLite with WAL and synchronous=FULL (durable at
 * every commit), transactions of --txn events (default 1000).
 *
 *   otb_sqlite --db FILE --events FILE.bin [--txn N] [--name ROW]
 *
 * Schema: events(event_id TEXT PRIMARY KEY, revision, chash, body BLOB):
 * the current revision of each id with its packed bytes;
 * tallies(key TEXT PRIMARY KEY, events, operations, killed, detained,
 * wounded). Per event: INSERT OR IGNORE into events; inserted -> STORED
 * and five UPSERTs adding its contribution; else SELECT the stored
 * revision: same revision and content hash -> DUPLICATE (other content ->
 * conflict, REJECTED); higher -> UPDATE the row, UPSERTs subtracting the
 * old contribution (decoded from the stored body) and adding the new ->
 * SUPERSEDED; lower -> STALE. Checks the counts against FILE.meta and
 * prints a RESULT line with its own CPU, peak RSS and bytes written.
 */
#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ot_clock.h"
#include "otb_fold.h"
#include "otb_util.h"

/* Outcomes, numbered as IngestStatus (what otb_meta_check counts). */
enum { S_STORED = 1, S_DUP, S_SUPERSEDED, S_STALE, S_REJECTED };

typedef struct s_db {
    sqlite3 *db;
    sqlite3_stmt *ins, *sel, *upd, *upsert, *begin, *commit;
} s_db;

static int
s_check(s_db *d, int rc, const char *what)
{
    if (rc == SQLITE_OK || rc == SQLITE_DONE || rc == SQLITE_ROW)
        return 0;
    fprintf(stderr, "otb_sqlite: %s: %s\n", what, sqlite3_errmsg(d->db));
    return -1;
}

static int
s_open(s_db *d, const char *path)
{
    if (s_check(d, sqlite3_open(path, &d->db), "open") != 0)
        return -1;
    const char *setup =
        "PRAGMA journal_mode=WAL;"
        "PRAGMA synchronous=FULL;"
        "CREATE TABLE IF NOT EXISTS events(event_id TEXT PRIMARY KEY, revision INTEGER NOT NULL,"
        " chash INTEGER NOT NULL, body BLOB NOT NULL);"
        "CREATE TABLE IF NOT EXISTS tallies(key TEXT PRIMARY KEY, events INTEGER NOT NULL,"
        " operations INTEGER NOT NULL, killed INTEGER NOT NULL, detained INTEGER NOT NULL,"
        " wounded INTEGER NOT NULL);";
    char *err = NULL;
    if (sqlite3_exec(d->db, setup, NULL, NULL, &err) != SQLITE_OK) {
        fprintf(stderr, "otb_sqlite: setup: %s\n", err);
        sqlite3_free(err);
        return -1;
    }
    struct { sqlite3_stmt **st; const char *sql; } q[] = {
        { &d->ins, "INSERT OR IGNORE INTO events VALUES(?1, ?2, ?3, ?4)" },
        { &d->sel, "SELECT revision, chash, body FROM events WHERE event_id = ?1" },
        { &d->upd, "UPDATE events SET revision = ?2, chash = ?3, body = ?4 WHERE event_id = ?1" },
        { &d->upsert, "INSERT INTO tallies VALUES(?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(key) DO "
                      "UPDATE SET events = events + excluded.events, operations = operations + "
                      "excluded.operations, killed = killed + excluded.killed, detained = "
                      "detained + excluded.detained, wounded = wounded + excluded.wounded" },
        { &d->begin, "BEGIN" },
        { &d->commit, "COMMIT" },
    };
    for (size_t i = 0; i < sizeof q / sizeof q[0]; i++)
        if (s_check(d, sqlite3_prepare_v2(d->db, q[i].sql, -1, q[i].st, NULL), q[i].sql) != 0)
            return -1;
    return 0;
}

static int
s_step(s_db *d, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return s_check(d, rc, what);
}

/* Add sign * f's contribution to its five tallies. */
static int
s_tally(s_db *d, const otb_fold *f, int sign)
{
    const ot_counts *c = &f->counts;
    for (int v = 0; v < OTB_NVIEWS; v++) {
        sqlite3_bind_text(d->upsert, 1, f->keys[v], (int)f->keylen[v], SQLITE_STATIC);
        sqlite3_bind_int64(d->upsert, 2, sign * c->events);
        sqlite3_bind_int64(d->upsert, 3, sign * c->operations);
        sqlite3_bind_int64(d->upsert, 4, sign * c->killed);
        sqlite3_bind_int64(d->upsert, 5, sign * c->detained);
        sqlite3_bind_int64(d->upsert, 6, sign * c->wounded);
        if (s_step(d, d->upsert, "upsert") != 0)
            return -1;
    }
    return 0;
}

static void
s_bind_event(sqlite3_stmt *st, const otb_fold *f, const uint8_t *data, size_t n)
{
    sqlite3_bind_text(st, 1, f->ev->event_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, f->ev->revision);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)f->chash);
    sqlite3_bind_blob(st, 4, data, (int)n, SQLITE_STATIC);
}

/* Fold one event. Returns its status (S_*) or -1 on a database error. */
static int
s_fold(s_db *d, const uint8_t *data, size_t n, int64_t now_ms)
{
    otb_fold f;
    if (otb_fold_decode(data, n, now_ms, &f) != 0)
        return S_REJECTED;
    int status = -1;
    s_bind_event(d->ins, &f, data, n);
    if (s_step(d, d->ins, "insert") != 0)
        goto out;
    if (sqlite3_changes(d->db) == 1) {
        status = s_tally(d, &f, +1) == 0 ? S_STORED : -1;
        goto out;
    }
    sqlite3_bind_text(d->sel, 1, f.ev->event_id, -1, SQLITE_STATIC);
    if (sqlite3_step(d->sel) != SQLITE_ROW) {
        s_check(d, SQLITE_ERROR, "select");
        sqlite3_reset(d->sel);
        goto out;
    }
    int64_t rev = sqlite3_column_int64(d->sel, 0);
    uint64_t chash = (uint64_t)sqlite3_column_int64(d->sel, 1);
    if (f.ev->revision == rev) {
        status = chash == f.chash ? S_DUP : S_REJECTED;
        sqlite3_reset(d->sel);
    } else if (f.ev->revision < rev) {
        status = S_STALE;
        sqlite3_reset(d->sel);
    } else {
        otb_fold old;
        int orc = otb_fold_decode(sqlite3_column_blob(d->sel, 2),
                                  (size_t)sqlite3_column_bytes(d->sel, 2), INT64_MAX / 2, &old);
        sqlite3_reset(d->sel);
        if (orc != 0) {
            fprintf(stderr, "otb_sqlite: stored body does not decode\n");
            goto out;
        }
        s_bind_event(d->upd, &f, data, n);
        if (s_step(d, d->upd, "update") == 0 && s_tally(d, &old, -1) == 0 &&
            s_tally(d, &f, +1) == 0)
            status = S_SUPERSEDED;
        otb_fold_clear(&old);
    }
out:
    otb_fold_clear(&f);
    return status;
}

int
main(int argc, char **argv)
{
    const char *dbpath = NULL, *evpath = NULL, *name = "sqlite";
    size_t txn = 1000;
    const otb_opt opts[] = {
        { "db", OTB_OPT_STR, &dbpath, NULL },
        { "events", OTB_OPT_STR, &evpath, NULL },
        { "txn", OTB_OPT_SIZE, &txn, NULL },
        { "name", OTB_OPT_STR, &name, NULL },
        { NULL, 0, NULL, NULL },
    };
    if (otb_opts_parse(argc, argv, opts) != 0 || !dbpath || !evpath || txn == 0)
        return otb_usage("otb_sqlite --db FILE --events FILE.bin [--txn N] [--name ROW]");
    otb_events ev;
    if (otb_events_open(evpath, &ev) != 0)
        return 2;
    s_db d = { 0 };
    if (s_open(&d, dbpath) != 0)
        return 2;
    int64_t now_ms = ot_clock_wall_ms();
    uint64_t st[6] = { 0 };
    otb_span sp;
    otb_span_begin(&sp, 0, dbpath);
    size_t pos = 0, in_txn = 0;
    const uint8_t *data;
    size_t n;
    int rc = 0;
    while (rc == 0 && otb_events_next(&ev, &pos, &data, &n)) {
        if (in_txn == 0 && s_step(&d, d.begin, "begin") != 0)
            rc = -1;
        int s = rc == 0 ? s_fold(&d, data, n, now_ms) : -1;
        if (s < 0) {
            rc = -1;
            break;
        }
        st[s]++;
        if (++in_txn == txn) {
            rc = s_step(&d, d.commit, "commit");
            in_txn = 0;
        }
    }
    if (rc == 0 && in_txn > 0)
        rc = s_step(&d, d.commit, "commit");
    otb_span_end(&sp);
    sqlite3_stmt *all[] = { d.ins, d.sel, d.upd, d.upsert, d.begin, d.commit };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        sqlite3_finalize(all[i]);
    sqlite3_close(d.db);
    bool ok = otb_meta_check(evpath, st, "otb_sqlite") && rc == 0;
    char common[512];
    otb_result(name, "%s\tdistinct=%lld\tcpu_s=%.2f\ttxn=%zu\tok=%d",
               otb_span_fields(&sp, ev.n, common, sizeof common), otb_meta_get(evpath, "distinct"),
               otb_span_cpu(&sp), txn, ok);
    otb_events_close(&ev);
    return ok ? 0 : 1;
}
