/*
 * test_admin: the consumer's admin requests (consumer/ot_admin.h) and the
 * CLI's client of them (cli/admin_client.c, compiled into this program).
 *  - DATA/admin.endpoint: written whole (with and without a CURVE server
 *    key), read back, a malformed one refused, removed; the default
 *    endpoint is ipc:// on the data directory's absolute path, refused when
 *    too long for a unix socket;
 *  - ot_admin_consumer_running: true exactly while a writer holds the
 *    directory's writer.lock;
 *  - ot_admin_handle against a store: VIEW_ADD fills the view from the log
 *    (its tallies equal a model of the events), VIEW_LIST lists it,
 *    VIEW_DROP removes it and its tallies; bad requests (a name taken, an
 *    unknown dimension, a bad filter, an unknown or built-in view to drop,
 *    undecodable bytes, no op) are answered usage=true with a reason and
 *    change nothing; request_id is echoed;
 *  - a running consumer: a VIEW_ADD sent with ot_admin_call while a
 *    producer keeps sending batches is answered ok; every batch is answered
 *    STORED; the new view ends equal to the built-in view it mirrors; its
 *    updates are published with their own view_seq after the fill and the
 *    heartbeat names it; the endpoint file is gone after close, and a call
 *    then says no consumer holds the directory; --admin none binds nothing
 *    and removes a stale file;
 *  - with CURVE the admin socket takes the producers' allow-list: the
 *    endpoint file names the server key, a client without keys is told to
 *    give them, an allowed key is answered, another one is not.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "ot_admin.h"
#include "ot_clock.h"
#include "ot_consumer.h"
#include "ot_error.h"
#include "ot_keys.h"
#include "ot_store.h"
#include "ot_testdata.h"
#include "ot_update.h"
#include "optally.pb-c.h"

/* The CLI's admin client is part of the optally executable, not of a
 * library: compile it in. */
#include "../cli/admin_client.c"

#define T_WAIT_MS 10000

/* ---- endpoint file, default endpoint, writer lock ---------------------- */

static void
t_endpoint_file(void **state)
{
    (void)state;
    ot_test_dir *d = ot_test_dir_new("admin-ep");
    ot_admin_endpoint ep;
    assert_int_equal(ot_admin_endpoint_read(d->dir, &ep), ENOENT);
    assert_int_equal(ot_admin_endpoint_write(d->dir, "ipc:///x/admin.sock", NULL), 0);
    assert_int_equal(ot_admin_endpoint_read(d->dir, &ep), 0);
    assert_string_equal(ep.endpoint, "ipc:///x/admin.sock");
    assert_string_equal(ep.server_key, "");
    struct stat st;
    assert_int_equal(stat(ot_test_dir_path(d, OT_ADMIN_ENDPOINT_FILE), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    const char *key = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
    assert_int_equal(ot_admin_endpoint_write(d->dir, "tcp://127.0.0.1:5", key), 0);
    assert_int_equal(ot_admin_endpoint_read(d->dir, &ep), 0);
    assert_string_equal(ep.endpoint, "tcp://127.0.0.1:5");
    assert_string_equal(ep.server_key, key);
    /* No temp file is left beside it. */
    assert_int_not_equal(access(ot_test_dir_path(d, OT_ADMIN_ENDPOINT_FILE ".tmp"), F_OK), 0);
    /* A file not of the format: refused, nothing half read. */
    FILE *f = fopen(ot_test_dir_path(d, OT_ADMIN_ENDPOINT_FILE), "w");
    assert_non_null(f);
    fputs("ipc:///y\ncurve-server-key short\n", f);
    fclose(f);
    assert_int_equal(ot_admin_endpoint_read(d->dir, &ep), OT_ECORRUPT);
    assert_string_equal(ep.endpoint, "");
    f = fopen(ot_test_dir_path(d, OT_ADMIN_ENDPOINT_FILE), "w");
    assert_non_null(f);
    fputs("no newline", f);
    fclose(f);
    assert_int_equal(ot_admin_endpoint_read(d->dir, &ep), OT_ECORRUPT);
    ot_admin_endpoint_remove(d->dir);
    assert_int_equal(ot_admin_endpoint_read(d->dir, &ep), ENOENT);
    ot_admin_endpoint_remove(d->dir);   /* a missing file is fine */
    ot_test_dir_free(&d);
}

static void
t_default_endpoint(void **state)
{
    (void)state;
    ot_test_dir *d = ot_test_dir_new("admin-def");
    char ep[600], want[300];
    assert_int_equal(ot_admin_default_endpoint(d->dir, ep, sizeof ep), 0);
    snprintf(want, sizeof want, "ipc://%s/admin.sock", d->dir);
    assert_string_equal(ep, want);
    /* Relative: made absolute, so a client in another directory finds it. */
    char cwd[4096];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(d->dir), 0);
    assert_int_equal(mkdir("rel", 0700), 0);
    assert_int_equal(ot_admin_default_endpoint("rel", ep, sizeof ep), 0);
    snprintf(want, sizeof want, "ipc://%s/rel/admin.sock", d->dir);
    assert_string_equal(ep, want);
    assert_int_equal(chdir(cwd), 0);
    char deep[300];
    snprintf(deep, sizeof deep, "%s/%0100d", d->dir, 0);
    assert_int_equal(mkdir(deep, 0700), 0);
    assert_int_equal(ot_admin_default_endpoint(deep, ep, sizeof ep), ENAMETOOLONG);
    assert_int_equal(ot_admin_default_endpoint(ot_test_dir_path(d, "missing"), ep, sizeof ep),
                     ENOENT);
    ot_test_dir_free(&d);
}

static void
t_running(void **state)
{
    (void)state;
    ot_test_dir *d = ot_test_dir_new("admin-run");
    bool yes = true;
    assert_int_equal(ot_admin_consumer_running(ot_test_dir_path(d, "none"), &yes), 0);
    assert_false(yes);
    ot_store *s = NULL;
    ot_store_options so = { .nosync = true };
    assert_int_equal(ot_store_open(d->dir, &so, &s), 0);
    assert_int_equal(ot_admin_consumer_running(d->dir, &yes), 0);
    assert_true(yes);
    /* The probe released its own lock: the writer still holds the store,
     * and a second probe says the same. */
    assert_int_equal(ot_admin_consumer_running(d->dir, &yes), 0);
    assert_true(yes);
    ot_store_close(&s);
    assert_int_equal(ot_admin_consumer_running(d->dir, &yes), 0);
    assert_false(yes);
    /* The probe left the lock free: a writer can open again. */
    assert_int_equal(ot_store_open(d->dir, &so, &s), 0);
    ot_store_close(&s);
    ot_test_dir_free(&d);
}

/* ---- ot_admin_handle against a store ----------------------------------- */

/* Pack req, run it, unpack the reply (asserting a reply was made). */
static Optally__AdminReply *
s_handle(ot_store *s, const Optally__AdminRequest *req, bool *changed)
{
    uint8_t buf[4096], *out = NULL;
    size_t len = optally__admin_request__get_packed_size(req), olen = 0;
    assert_true(len <= sizeof buf);
    optally__admin_request__pack(req, buf);
    assert_int_equal(ot_admin_handle(s, buf, len, &out, &olen, changed), 0);
    Optally__AdminReply *r = optally__admin_reply__unpack(NULL, olen, out);
    free(out);
    assert_non_null(r);
    return r;
}

/* Sum of killed per key of prefix in s (a small fixed table). */
typedef struct s_rows {
    char key[8][128];
    int64_t killed[8];
    size_t n;
} s_rows;

static int
s_collect(void *ctx, const char *key, size_t len, const ot_counts *c)
{
    s_rows *r = ctx;
    assert_true(r->n < 8 && len < sizeof r->key[0]);
    memcpy(r->key[r->n], key, len);
    r->key[r->n][len] = 0;
    r->killed[r->n++] = c->killed;
    return 0;
}

static size_t
s_views_declared(ot_store *s)
{
    ot_viewset *vs = NULL;
    assert_int_equal(ot_store_views(s, &vs), 0);
    size_t n = 0;
    for (size_t i = 0; i < ot_viewset_count(vs); i++)
        n += ot_viewset_at(vs, i) && ot_view_is_declared(ot_viewset_at(vs, i));
    ot_viewset_free(&vs);
    return n;
}

/* A request to add view name grouped by dims[0..nd) with filter where
 * (NULL: none); the strings are borrowed. */
typedef struct s_addreq {
    Optally__AdminRequest req;
    Optally__ViewDef def;
    char *dims[4];
    char *where[2];
} s_addreq;

static void
s_addreq_init(s_addreq *a, const char *name, const char *d0, const char *d1, const char *where)
{
    optally__admin_request__init(&a->req);
    optally__view_def__init(&a->def);
    a->req.op = OPTALLY__ADMIN_REQUEST__OP__VIEW_ADD;
    a->req.view = &a->def;
    a->def.name = (char *)name;
    a->dims[0] = (char *)d0;
    a->dims[1] = (char *)d1;
    a->def.n_group_by = d1 ? 2 : 1;
    a->def.group_by = a->dims;
    a->where[0] = (char *)where;
    a->def.n_where = where ? 1 : 0;
    a->def.where = a->where;
}

static void
t_handle(void **state)
{
    (void)state;
    ot_test_dir *d = ot_test_dir_new("admin-h");
    ot_store *s = NULL;
    ot_store_options so = { .nosync = true };
    assert_int_equal(ot_store_open(d->dir, &so, &s), 0);
    Optally__OperationEvent ev[5];
    ot_test_event(&ev[0], "a", "IQ", "2024-01-05", "ISF", 3);
    ot_test_event(&ev[1], "b", "IQ", "2024-02-05", "CTS", 5);
    ot_test_event(&ev[2], "c", "IQ", "2024-02-07", "ISF", 7);
    ot_test_event(&ev[3], "d", "SY", "2024-02-07", "SDF", 11);
    ot_test_event(&ev[4], "e", "SY", "2024-03-01", "ISF", 13);
    ot_test_ingest(s, ev, 5);

    /* VIEW_ADD: killed per partner force in Iraq. */
    s_addreq a;
    s_addreq_init(&a, "iq_pf", "partner_force", NULL, "country=IQ");
    a.req.request_id = 77;
    bool changed = false;
    Optally__AdminReply *r = s_handle(s, &a.req, &changed);
    assert_true(r->ok);
    assert_false(r->usage);
    assert_int_equal(r->request_id, 77);
    assert_int_equal(r->filled_events, 5);
    assert_int_equal(r->log_seq, 5);
    assert_true(changed);
    assert_int_equal(r->n_views, 1);
    assert_string_equal(r->views[0]->name, "iq_pf");
    assert_int_equal(r->views[0]->n_group_by, 1);
    assert_string_equal(r->views[0]->where[0], "country=IQ");
    assert_true(r->views[0]->slot >= 5);
    optally__admin_reply__free_unpacked(r, NULL);
    s_rows rows = { .n = 0 };
    assert_int_equal(ot_store_tally_foreach(s, "iq_pf/", s_collect, &rows), 0);
    assert_int_equal(rows.n, 2);    /* CTS, ISF: the model of the events above */
    assert_string_equal(rows.key[0], "iq_pf/CTS");
    assert_int_equal(rows.killed[0], 5);
    assert_string_equal(rows.key[1], "iq_pf/ISF");
    assert_int_equal(rows.killed[1], 3 + 7);

    /* Bad requests: usage, a reason, nothing changed. */
    const struct { const char *name, *dim, *where, *want; } bad[] = {
        { "iq_pf", "country", NULL, "iq_pf" },          /* name taken */
        { "x1", "colour", NULL, "colour" },             /* unknown dimension */
        { "x2", "country", "country~IQ", "country~IQ" },   /* bad filter */
        { "a b", "country", NULL, "a b" },              /* a space */
        { "total", "country", NULL, "total" },          /* a built-in name */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        s_addreq_init(&a, bad[i].name, bad[i].dim, NULL, bad[i].where);
        changed = true;
        r = s_handle(s, &a.req, &changed);
        if (r->ok || !r->usage || !strstr(r->error, bad[i].want))
            fail_msg("bad request %zu (%s): ok %d usage %d error '%s'", i, bad[i].name, r->ok,
                     r->usage, r->error);
        assert_false(changed);
        optally__admin_reply__free_unpacked(r, NULL);
    }
    assert_int_equal(s_views_declared(s), 1);

    /* VIEW_LIST. */
    Optally__AdminRequest lr = OPTALLY__ADMIN_REQUEST__INIT;
    lr.op = OPTALLY__ADMIN_REQUEST__OP__VIEW_LIST;
    lr.request_id = 5;
    r = s_handle(s, &lr, &changed);
    assert_true(r->ok);
    assert_false(changed);
    assert_int_equal(r->request_id, 5);
    assert_int_equal(r->n_views, 1);
    assert_string_equal(r->views[0]->name, "iq_pf");
    optally__admin_reply__free_unpacked(r, NULL);

    /* VIEW_DROP of no such view and of a built-in one: usage. */
    Optally__AdminRequest dr = OPTALLY__ADMIN_REQUEST__INIT;
    dr.op = OPTALLY__ADMIN_REQUEST__OP__VIEW_DROP;
    const char *undroppable[] = { "nope", "country" };
    for (size_t i = 0; i < 2; i++) {
        dr.name = (char *)undroppable[i];
        r = s_handle(s, &dr, &changed);
        assert_false(r->ok);
        assert_true(r->usage);
        assert_true(r->error[0] != 0);
        assert_false(changed);
        optally__admin_reply__free_unpacked(r, NULL);
    }
    rows.n = 0;
    assert_int_equal(ot_store_tally_foreach(s, "country/", s_collect, &rows), 0);
    assert_int_equal(rows.n, 2);    /* the built-in view is untouched */

    /* No op; undecodable bytes. */
    Optally__AdminRequest nr = OPTALLY__ADMIN_REQUEST__INIT;
    nr.request_id = 9;
    r = s_handle(s, &nr, &changed);
    assert_false(r->ok);
    assert_true(r->usage);
    assert_int_equal(r->request_id, 9);
    optally__admin_reply__free_unpacked(r, NULL);
    uint8_t junk[] = { 0x0f, 0xff, 0xff, 0x01 }, *out = NULL;
    size_t olen = 0;
    assert_int_equal(ot_admin_handle(s, junk, sizeof junk, &out, &olen, &changed), 0);
    r = optally__admin_reply__unpack(NULL, olen, out);
    free(out);
    assert_non_null(r);
    assert_true(!r->ok && r->usage && strstr(r->error, "malformed"));
    optally__admin_reply__free_unpacked(r, NULL);

    /* VIEW_DROP: the view and its tallies go. */
    dr.name = "iq_pf";
    r = s_handle(s, &dr, &changed);
    assert_true(r->ok);
    assert_true(changed);
    optally__admin_reply__free_unpacked(r, NULL);
    rows.n = 0;
    assert_int_equal(ot_store_tally_foreach(s, "iq_pf", s_collect, &rows), 0);
    assert_int_equal(rows.n, 0);
    assert_int_equal(s_views_declared(s), 0);
    ot_store_close(&s);
    ot_test_dir_free(&d);
}

/* ---- a running consumer ------------------------------------------------- */

typedef struct t_fix {
    char dir[64];
    char data[96];
    char ep[128];
    char pub[128];
    ot_consumer_options opt;
    ot_consumer *c;
    pthread_t thread;
    bool running;
    volatile sig_atomic_t stop;
    atomic_bool done;
    int rc;
    char err[512];
} t_fix;

static t_fix *
s_fix_new(void)
{
    t_fix *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/ot-tadm.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->data, sizeof f->data, "%s/data", f->dir);
    snprintf(f->ep, sizeof f->ep, "ipc://%s/in.sock", f->dir);
    snprintf(f->pub, sizeof f->pub, "ipc://%s/pub.sock", f->dir);
    f->opt.data_dir = f->data;
    f->opt.ingest = f->ep;
    f->opt.publish = f->pub;
    f->opt.snapshot = "none";
    f->opt.nosync = true;
    f->opt.quiet = true;
    atomic_init(&f->done, false);
    return f;
}

static void *
s_run_main(void *arg)
{
    t_fix *f = arg;
    f->rc = ot_consumer_run(f->c, &f->stop, f->err, sizeof f->err);
    atomic_store(&f->done, true);
    return NULL;
}

static void
s_open_start(t_fix *f)
{
    int rc = ot_consumer_open(&f->opt, &f->c, f->err, sizeof f->err);
    if (rc != 0)
        fail_msg("ot_consumer_open: %s (%s)", f->err, ot_strerror(rc));
    assert_int_equal(pthread_create(&f->thread, NULL, s_run_main, f), 0);
    f->running = true;
}

static void
s_stop_close(t_fix *f)
{
    if (f->running) {
        f->stop = 1;
        int64_t end = ot_clock_mono_ms() + T_WAIT_MS;
        while (!atomic_load(&f->done) && ot_clock_mono_ms() < end) {
            struct timespec ts = { 0, 5 * 1000000 };
            nanosleep(&ts, NULL);
        }
        assert_true(atomic_load(&f->done));
        pthread_join(f->thread, NULL);
        f->running = false;
        assert_int_equal(f->rc, 0);
    }
    ot_consumer_close(&f->c);
}

static void
s_fix_free(t_fix **pf)
{
    t_fix *f = *pf;
    s_stop_close(f);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    *pf = NULL;
}

/* The producer side: a thread that keeps sending batches of 4 events
 * (countries alternating) until told to stop, and counts STORED answers. */
typedef struct t_prod {
    const char *ep;
    atomic_bool stop;
    uint64_t sent, stored, other;
} t_prod;

static void
s_batch(void *dealer, uint64_t id)
{
    Optally__EventBatch b = OPTALLY__EVENT_BATCH__INIT;
    Optally__OperationEvent ev[4], *evp[4];
    char ids[4][48];
    static const char *const countries[] = { "IQ", "SY" };
    for (size_t i = 0; i < 4; i++) {
        snprintf(ids[i], sizeof ids[i], "p%" PRIu64 "-%zu", id, i);
        ot_test_event(&ev[i], ids[i], countries[(id + i) % 2], "2024-05-01", "ISF",
                      (uint32_t)(1 + i));
        evp[i] = &ev[i];
    }
    b.batch_id = id;
    b.n_events = 4;
    b.events = evp;
    uint8_t buf[4096];
    size_t len = optally__event_batch__get_packed_size(&b);
    optally__event_batch__pack(&b, buf);
    assert_int_equal(zmq_send(dealer, buf, len, 0), (int)len);
}

static void *
s_prod_main(void *arg)
{
    t_prod *p = arg;
    void *ctx = zmq_ctx_new();
    void *dealer = zmq_socket(ctx, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt(dealer, ZMQ_LINGER, &linger, sizeof linger);
    zmq_connect(dealer, p->ep);
    int64_t end = 0;
    while (p->stored + p->other < p->sent || !atomic_load(&p->stop)) {
        if (!atomic_load(&p->stop) && p->sent - (p->stored + p->other) < 4)
            s_batch(dealer, ++p->sent);
        if (atomic_load(&p->stop) && !end)
            end = ot_clock_mono_ms() + T_WAIT_MS;
        if (end && ot_clock_mono_ms() > end)
            break;
        zmq_pollitem_t pi = { dealer, 0, ZMQ_POLLIN, 0 };
        if (zmq_poll(&pi, 1, 5) <= 0)
            continue;
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, dealer, 0) >= 0) {
            Optally__IngestReply *r = optally__ingest_reply__unpack(NULL, zmq_msg_size(&m),
                                                                    zmq_msg_data(&m));
            bool ok = r && !r->error && r->n_results == 4;
            for (size_t i = 0; ok && i < 4; i++)
                ok = r->results[i]->status == OPTALLY__INGEST_STATUS__STORED;
            if (ok)
                p->stored++;
            else
                p->other++;
            if (r)
                optally__ingest_reply__free_unpacked(r, NULL);
        }
        zmq_msg_close(&m);
    }
    zmq_close(dealer);
    zmq_ctx_term(ctx);
    return NULL;
}

/* Rows of prefix as "value=killed" joined, with the view part cut off. */
typedef struct s_dump {
    char text[1024];
    size_t len;
} s_dump;

static int
s_dump_row(void *ctx, const char *key, size_t len, const ot_counts *c)
{
    s_dump *d = ctx;
    const char *slash = memchr(key, '/', len);
    size_t off = slash ? (size_t)(slash - key) : 0;
    d->len += (size_t)snprintf(d->text + d->len, sizeof d->text - d->len, "%.*s=%" PRId64 ";",
                               (int)(len - off), key + off, c->killed);
    return 0;
}

static void
s_dump_prefix(ot_store *s, const char *prefix, s_dump *d)
{
    d->len = 0;
    d->text[0] = 0;
    assert_int_equal(ot_store_tally_foreach(s, prefix, s_dump_row, d), 0);
}

/* Read the update stream until a TallyUpdate of view (its first view_seq
 * into *first_view_seq) and a heartbeat naming view were seen. */
static void
s_watch_stream(void *sub, const char *view, uint64_t *first_view_seq, bool *hb_named)
{
    int64_t end = ot_clock_mono_ms() + T_WAIT_MS;
    *first_view_seq = 0;
    *hb_named = false;
    while ((!*first_view_seq || !*hb_named) && ot_clock_mono_ms() < end) {
        zmq_pollitem_t pi = { sub, 0, ZMQ_POLLIN, 0 };
        if (zmq_poll(&pi, 1, 100) <= 0)
            continue;
        zmq_msg_t t, m;
        zmq_msg_init(&t);
        zmq_msg_init(&m);
        zmq_msg_recv(&t, sub, 0);
        zmq_msg_recv(&m, sub, 0);
        if (zmq_msg_size(&t) == strlen(OT_UPDATE_HEARTBEAT_TOPIC) &&
            memcmp(zmq_msg_data(&t), OT_UPDATE_HEARTBEAT_TOPIC, zmq_msg_size(&t)) == 0) {
            Optally__Heartbeat *hb = optally__heartbeat__unpack(NULL, zmq_msg_size(&m),
                                                                zmq_msg_data(&m));
            assert_non_null(hb);
            for (size_t i = 0; i < hb->n_views; i++)
                if (strcmp(hb->views[i]->view, view) == 0 && hb->views[i]->view_seq > 0)
                    *hb_named = true;
            optally__heartbeat__free_unpacked(hb, NULL);
        } else {
            Optally__TallyUpdate *u = optally__tally_update__unpack(NULL, zmq_msg_size(&m),
                                                                    zmq_msg_data(&m));
            if (u && strcmp(u->view, view) == 0 && !*first_view_seq) {
                *first_view_seq = u->view_seq;
                assert_int_equal(u->n_fields, 1);
                assert_string_equal(u->fields[0], "country");
            }
            if (u)
                optally__tally_update__free_unpacked(u, NULL);
        }
        zmq_msg_close(&t);
        zmq_msg_close(&m);
    }
}

static void
t_consumer_view_add_during_ingest(void **state)
{
    (void)state;
    t_fix *f = s_fix_new();
    s_open_start(f);
    assert_non_null(strstr(ot_consumer_admin_endpoint(f->c), "/data/admin.sock"));
    ot_admin_endpoint ep;
    assert_int_equal(ot_admin_endpoint_read(f->data, &ep), 0);
    assert_string_equal(ep.endpoint, ot_consumer_admin_endpoint(f->c));
    assert_string_equal(ep.server_key, "");

    void *zctx = zmq_ctx_new();
    void *sub = zmq_socket(zctx, ZMQ_SUB);
    int linger = 0;
    zmq_setsockopt(sub, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "", 0);
    assert_int_equal(zmq_connect(sub, f->pub), 0);

    t_prod p = { .ep = f->ep };
    atomic_init(&p.stop, false);
    pthread_t pt;
    assert_int_equal(pthread_create(&pt, NULL, s_prod_main, &p), 0);
    struct timespec ts = { 0, 200 * 1000000 };
    nanosleep(&ts, NULL);           /* batches are flowing */

    s_addreq a;
    s_addreq_init(&a, "by_country", "country", NULL, NULL);
    Optally__AdminReply *r = NULL;
    char err[512];
    int rc = ot_admin_call(f->data, NULL, NULL, NULL, &a.req, &r, T_WAIT_MS, err, sizeof err);
    if (rc != 0)
        fail_msg("ot_admin_call: %s (%s)", err, ot_strerror(rc));
    if (!r->ok)
        fail_msg("view add refused: %s", r->error);
    assert_true(r->filled_events > 0);
    assert_int_equal(r->n_views, 1);
    assert_string_equal(r->views[0]->name, "by_country");
    optally__admin_reply__free_unpacked(r, NULL);

    /* Updates of the new view are published after the fill, with its own
     * view_seq from 1; the heartbeat names it. */
    uint64_t first = 0;
    bool named = false;
    s_watch_stream(sub, "by_country", &first, &named);
    assert_int_equal(first, 1);
    atomic_store(&p.stop, true);
    pthread_join(pt, NULL);
    s_watch_stream(sub, "by_country", &first, &named);   /* idle now: heartbeats */
    assert_true(named);
    assert_true(p.sent > 4);
    assert_int_equal(p.other, 0);
    assert_int_equal(p.stored, p.sent);

    /* A second add of the name over the socket: usage, said. */
    r = NULL;
    assert_int_equal(ot_admin_call(f->data, NULL, NULL, NULL, &a.req, &r, T_WAIT_MS, err,
                                   sizeof err), 0);
    assert_false(r->ok);
    assert_true(r->usage);
    assert_non_null(strstr(r->error, "by_country"));
    optally__admin_reply__free_unpacked(r, NULL);

    zmq_close(sub);
    zmq_ctx_term(zctx);
    s_stop_close(f);
    /* Gone with the consumer; and a call then finds nobody. */
    assert_int_equal(ot_admin_endpoint_read(f->data, &ep), ENOENT);
    assert_int_equal(ot_admin_call(f->data, NULL, NULL, NULL, &a.req, &r, 1000, err, sizeof err),
                     ENOENT);
    assert_null(r);
    assert_non_null(strstr(err, "no consumer holds"));

    /* The declared view equals the built-in one it mirrors, over every
     * batch: those before, during and after the fill. */
    ot_store *s = NULL;
    ot_store_options so = { .readonly = true };
    assert_int_equal(ot_store_open(f->data, &so, &s), 0);
    s_dump mine, builtin;
    s_dump_prefix(s, "by_country/", &mine);
    s_dump_prefix(s, "country/", &builtin);
    assert_string_equal(mine.text, builtin.text);
    assert_true(builtin.len > 0);
    ot_store_close(&s);
    s_fix_free(&f);
}

/* Raw requests on the admin socket: junk and several frames are refused
 * (usage, request_id 0), the consumer keeps serving. */
static void
t_consumer_bad_requests(void **state)
{
    (void)state;
    t_fix *f = s_fix_new();
    f->opt.publish = "none";
    s_open_start(f);
    void *zctx = zmq_ctx_new();
    void *d = zmq_socket(zctx, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt(d, ZMQ_LINGER, &linger, sizeof linger);
    assert_int_equal(zmq_connect(d, ot_consumer_admin_endpoint(f->c)), 0);
    zmq_setsockopt(d, ZMQ_RCVTIMEO, &(int){ T_WAIT_MS }, sizeof(int));
    uint8_t junk[] = { 0x0f, 0xff, 0x00 };
    assert_int_equal(zmq_send(d, junk, sizeof junk, 0), (int)sizeof junk);
    uint8_t buf[1024];
    int n = zmq_recv(d, buf, sizeof buf, 0);
    assert_true(n > 0);
    Optally__AdminReply *r = optally__admin_reply__unpack(NULL, (size_t)n, buf);
    assert_non_null(r);
    assert_true(!r->ok && r->usage && strstr(r->error, "malformed"));
    optally__admin_reply__free_unpacked(r, NULL);
    assert_int_equal(zmq_send(d, "a", 1, ZMQ_SNDMORE), 1);
    assert_int_equal(zmq_send(d, "b", 1, ZMQ_SNDMORE), 1);
    assert_int_equal(zmq_send(d, "c", 1, 0), 1);
    n = zmq_recv(d, buf, sizeof buf, 0);
    assert_true(n > 0);
    r = optally__admin_reply__unpack(NULL, (size_t)n, buf);
    assert_non_null(r);
    assert_true(!r->ok && r->usage && strstr(r->error, "one frame"));
    optally__admin_reply__free_unpacked(r, NULL);
    /* At the size limit: a request of OT_ADMIN_REQUEST_MAX bytes is read
     * (and refused, as the junk it is); one byte more drops the peer
     * unanswered (ZMQ_MAXMSGSIZE), the consumer serving on. */
    uint8_t *big = calloc(1, OT_ADMIN_REQUEST_MAX + 1);
    assert_non_null(big);
    assert_int_equal(zmq_send(d, big, OT_ADMIN_REQUEST_MAX, 0), OT_ADMIN_REQUEST_MAX);
    n = zmq_recv(d, buf, sizeof buf, 0);
    assert_true(n > 0);
    r = optally__admin_reply__unpack(NULL, (size_t)n, buf);
    assert_non_null(r);
    assert_true(!r->ok && r->usage && strstr(r->error, "malformed"));
    optally__admin_reply__free_unpacked(r, NULL);
    void *d2 = zmq_socket(zctx, ZMQ_DEALER);
    zmq_setsockopt(d2, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(d2, ZMQ_RCVTIMEO, &(int){ 1000 }, sizeof(int));
    assert_int_equal(zmq_connect(d2, ot_consumer_admin_endpoint(f->c)), 0);
    assert_int_equal(zmq_send(d2, big, OT_ADMIN_REQUEST_MAX + 1, 0), OT_ADMIN_REQUEST_MAX + 1);
    assert_int_equal(zmq_recv(d2, buf, sizeof buf, 0), -1);   /* no answer: dropped */
    zmq_close(d2);
    free(big);
    /* Still serving: a list is answered. */
    Optally__AdminRequest lr = OPTALLY__ADMIN_REQUEST__INIT;
    lr.op = OPTALLY__ADMIN_REQUEST__OP__VIEW_LIST;
    char err[256];
    assert_int_equal(ot_admin_call(f->data, NULL, NULL, NULL, &lr, &r, T_WAIT_MS, err, sizeof err), 0);
    assert_true(r->ok);
    assert_int_equal(r->n_views, 0);
    assert_true(r->request_id != 0);
    optally__admin_reply__free_unpacked(r, NULL);
    zmq_close(d);
    zmq_ctx_term(zctx);
    s_fix_free(&f);
}

/* --admin none: nothing bound, and a stale file of a killed consumer is
 * removed (a client must not wait on a socket nobody serves). */
static void
t_consumer_admin_none(void **state)
{
    (void)state;
    t_fix *f = s_fix_new();
    f->opt.publish = "none";
    f->opt.admin = "none";
    assert_int_equal(mkdir(f->data, 0700), 0);
    assert_int_equal(ot_admin_endpoint_write(f->data, "ipc:///stale/admin.sock", NULL), 0);
    s_open_start(f);
    assert_string_equal(ot_consumer_admin_endpoint(f->c), "none");
    ot_admin_endpoint ep;
    assert_int_equal(ot_admin_endpoint_read(f->data, &ep), ENOENT);
    Optally__AdminRequest lr = OPTALLY__ADMIN_REQUEST__INIT;
    lr.op = OPTALLY__ADMIN_REQUEST__OP__VIEW_LIST;
    Optally__AdminReply *r = NULL;
    char err[512];
    assert_int_equal(ot_admin_call(f->data, NULL, NULL, NULL, &lr, &r, 1000, err, sizeof err),
                     ENOENT);
    assert_non_null(strstr(err, "--admin none"));
    s_fix_free(&f);
}

/* A key pair made for the test, written as base.key / base.pub. */
static void
s_keypair(const char *base, ot_keypair *kp)
{
    memset(kp, 0, sizeof *kp);
    assert_int_equal(zmq_curve_keypair(kp->public_key, kp->secret_key), 0);
    assert_int_equal(ot_keys_write(base, kp), 0);
}

/* With --curve-secret the admin socket is a CURVE server of the ingest
 * domain: the endpoint file names the server key; a call without client
 * keys is refused before anything is sent (OT_EUSAGE, saying what to
 * give); an allowed key is answered; a key not in --allow-keys never is. */
static void
t_consumer_curve(void **state)
{
    (void)state;
    t_fix *f = s_fix_new();
    char server[128], client[192], stranger[128], allow[96], path[224];
    snprintf(server, sizeof server, "%s/server", f->dir);
    snprintf(allow, sizeof allow, "%s/allow", f->dir);
    snprintf(client, sizeof client, "%s/client", allow);
    snprintf(stranger, sizeof stranger, "%s/stranger", f->dir);
    assert_int_equal(mkdir(allow, 0700), 0);
    ot_keypair skp, ckp, xkp;
    s_keypair(server, &skp);
    s_keypair(client, &ckp);
    s_keypair(stranger, &xkp);
    snprintf(path, sizeof path, "%s.key", client);
    assert_int_equal(unlink(path), 0);     /* the allow-list holds the .pub only */
    snprintf(path, sizeof path, "%s.key", server);
    f->opt.publish = "none";
    f->opt.curve_secret = path;
    f->opt.allow_keys = allow;
    s_open_start(f);
    ot_admin_endpoint ep;
    assert_int_equal(ot_admin_endpoint_read(f->data, &ep), 0);
    assert_string_equal(ep.server_key, skp.public_key);
    Optally__AdminRequest lr = OPTALLY__ADMIN_REQUEST__INIT;
    lr.op = OPTALLY__ADMIN_REQUEST__OP__VIEW_LIST;
    Optally__AdminReply *r = NULL;
    char err[512];
    assert_int_equal(ot_admin_call(f->data, NULL, NULL, NULL, &lr, &r, 2000, err, sizeof err),
                     OT_EUSAGE);
    assert_non_null(strstr(err, "--curve-secret"));
    assert_int_equal(ot_admin_call(f->data, NULL, &ckp, NULL, &lr, &r, T_WAIT_MS, err, sizeof err),
                     0);
    assert_true(r->ok);
    optally__admin_reply__free_unpacked(r, NULL);
    assert_int_equal(ot_admin_call(f->data, NULL, &xkp, NULL, &lr, &r, 1500, err, sizeof err),
                     OT_ETIMEOUT);
    assert_null(r);
    explicit_bzero(&skp, sizeof skp);
    explicit_bzero(&ckp, sizeof ckp);
    explicit_bzero(&xkp, sizeof xkp);
    s_fix_free(&f);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_endpoint_file),
        cmocka_unit_test(t_default_endpoint),
        cmocka_unit_test(t_running),
        cmocka_unit_test(t_handle),
        cmocka_unit_test(t_consumer_view_add_during_ingest),
        cmocka_unit_test(t_consumer_bad_requests),
        cmocka_unit_test(t_consumer_admin_none),
        cmocka_unit_test(t_consumer_curve),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
