/*
 * test_producer: producer/ot_producer.c against a small consumer played by
 * a thread of this test: a ROUTER on loopback TCP that decodes each
 * EventBatch and answers an IngestReply the way a scenario says.
 *  - every event's outcome reaches on_result once, with its own tag, in
 *    order within a batch; statuses, reasons, texts and seqs come through;
 *  - a batch left unanswered is sent again after timeout_ms (same
 *    batch_id) and the retry's answer counts; a late answer to the first
 *    attempt as well as the retry's own answer give one outcome per event;
 *  - at most `window` batches are in flight, and the window is used;
 *  - when every retry stays unanswered: OT_ETIMEOUT, sticky;
 *  - batch-level errors: a final one rejects each event of the batch with
 *    the error's name and text; a "retry later" one is retried, and when
 *    it persists the producer stops with OT_ESTORAGE and the consumer's text;
 *  - replies that do not decode, carry an unknown batch_id, the wrong
 *    number of results or an unknown status do not crash it;
 *  - a batch is sealed before it passes 1 MiB, or max_msg_size when smaller;
 *    an event too big for any message is REJECTED / STRING_TOO_LONG locally
 *    and the rest are sent; bad options are refused;
 *  - ot_producer_poll handles replies without submitting;
 *  - figures go beside events in the same batches (events + figures within
 *    `batch`), each answered from IngestReply.figure_results by position,
 *    with its own tag; a reply without figure results (a consumer older
 *    than figures) answers the batch REJECTED, saying so; a figure too big
 *    for any message is refused locally, naming its field; so is an event
 *    whose repeated `countries` is too big.
 * The producer has no heartbeat messages of its own (libzmq's ZMTP
 * heartbeats watch the connection), so none is tested here.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zmq.h>

#include "ot_clock.h"
#include "ot_error.h"
#include "ot_producer.h"

#define F_MAX_BATCHES 256
#define F_MAX_HELD    64
#define F_MAX_EVENTS  512
#define F_IDLE_MS     200     /* HOLD_WINDOW: answer what is held after this much quiet */
#define T_WATCHDOG_S  60      /* submit/flush block: a producer that hangs is killed
                               * by SIGALRM (a failure), not left to ctest's timeout */

/* How the fake consumer answers a batch; `times` is how often it has seen
 * that batch_id, this time included. */
typedef enum f_mode {
    F_ANSWER,           /* answer every attempt */
    F_DROP_FIRST,       /* ignore the first attempt of each batch */
    F_LATE_FIRST,       /* hold the first attempt; answer it after the retry came, then the retry */
    F_SILENT,           /* never answer */
    F_HOLD_WINDOW,      /* hold answers until `window` batches wait, or a quiet spell */
    F_ERROR,            /* a batch-level error on every attempt */
    F_ERROR_FIRST,      /* a batch-level error on the first attempt, then answer */
    F_GARBAGE_FIRST,    /* bytes that are no IngestReply, then answer the retry */
    F_FOREIGN_FIRST,    /* a reply with another batch_id, then answer the retry */
    F_WRONG_COUNT,      /* one result fewer than events */
    F_UNKNOWN_STATUS,   /* status 99 for every event */
    F_DELIMITED,        /* REQ-style reply: an empty frame, then the reply */
    F_NO_FIGURES,       /* answer events only, as a consumer older than figures */
} f_mode;

typedef struct f_seen {
    uint64_t id;
    int times;
    size_t n;           /* events in it */
    size_t nfig;        /* figures in it */
    size_t bytes;       /* message size */
} f_seen;

typedef struct f_held {
    uint8_t ident[256];
    size_t identlen;
    Optally__EventBatch *batch;
} f_held;

typedef struct f_fake {
    void *ctx, *router;
    char ep[64];
    pthread_t thread;
    atomic_int stop;
    f_mode mode;
    int window;                         /* F_HOLD_WINDOW */
    Optally__BatchError error;          /* F_ERROR, F_ERROR_FIRST */
    const char *error_text;
    pthread_mutex_t mu;                 /* guards everything below */
    f_seen seen[F_MAX_BATCHES];
    size_t nseen;
    size_t messages;
    f_held held[F_MAX_HELD];
    size_t nheld;
    size_t max_held;
    int64_t last_msg;
    char err[256];                      /* the first thing that went wrong in the thread */
} f_fake;

/* What on_result told, per tag. */
typedef struct r_result {
    int calls;
    Optally__IngestStatus status;
    Optally__RejectReason reason;
    char text[256];
    uint64_t seq;
} r_result;

typedef struct r_log {
    r_result r[F_MAX_EVENTS];
    uint64_t order[4 * F_MAX_EVENTS];   /* tags in call order */
    size_t ncalls;
} r_log;

typedef struct t_fix {
    f_fake fake;
    r_log log;
    ot_producer *p;
    Optally__OperationEvent ev[F_MAX_EVENTS];
    Optally__Figure fig[F_MAX_EVENTS];      /* by tag, like ev */
    char *scope[F_MAX_EVENTS][2];
    char ids[F_MAX_EVENTS][32];
} t_fix;

/* ---- the fake consumer ------------------------------------------------- */

static void
s_fake_err(f_fake *f, const char *what)
{
    if (!f->err[0])
        snprintf(f->err, sizeof f->err, "%s", what);
}

/* The outcome the fake gives an event, from its id: "dup-", "rej-",
 * "sup-", "stale-" or anything else (stored). */
static void
s_outcome(const char *id, Optally__EventResult *er)
{
    optally__event_result__init(er);
    const char *dash = strrchr(id, '-');
    er->seq = 1000 + (dash ? (uint64_t)strtoull(dash + 1, NULL, 10) : 0);
    if (!strncmp(id, "dup-", 4)) {
        er->status = OPTALLY__INGEST_STATUS__DUPLICATE;
    } else if (!strncmp(id, "rej-", 4)) {
        er->status = OPTALLY__INGEST_STATUS__REJECTED;
        er->reason = OPTALLY__REJECT_REASON__BAD_DATE;
        er->reason_text = "occurred_on 'x' is not a date";
        er->seq = 0;
    } else if (!strncmp(id, "sup-", 4)) {
        er->status = OPTALLY__INGEST_STATUS__SUPERSEDED;
    } else if (!strncmp(id, "stale-", 6)) {
        er->status = OPTALLY__INGEST_STATUS__STALE;
        er->seq = 0;
    } else {
        er->status = OPTALLY__INGEST_STATUS__STORED;
    }
}

static void
s_send_reply(f_fake *f, const uint8_t *ident, size_t identlen, const Optally__IngestReply *r,
             bool delimited)
{
    size_t len = optally__ingest_reply__get_packed_size(r);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf) {
        s_fake_err(f, "out of memory");
        return;
    }
    optally__ingest_reply__pack(r, buf);
    if (zmq_send(f->router, ident, identlen, ZMQ_SNDMORE) < 0 ||
        (delimited && zmq_send(f->router, "", 0, ZMQ_SNDMORE) < 0) ||
        zmq_send(f->router, buf, len, 0) < 0)
        s_fake_err(f, "cannot send a reply");
    free(buf);
}

/* Answer batch b (results per event, or f->error when error is set). */
static void
s_answer(f_fake *f, const uint8_t *ident, size_t identlen, const Optally__EventBatch *b,
         bool error)
{
    Optally__IngestReply r = OPTALLY__INGEST_REPLY__INIT;
    r.batch_id = b->batch_id;
    size_t nall = b->n_events + b->n_figures;
    Optally__EventResult *res = calloc(nall + 1, sizeof *res);
    Optally__EventResult **ptrs = calloc(nall + 1, sizeof *ptrs);
    if (!res || !ptrs) {
        s_fake_err(f, "out of memory");
        free(res);
        free(ptrs);
        return;
    }
    if (error) {
        r.error = f->error;
        r.error_text = (char *)f->error_text;
    } else {
        for (size_t i = 0; i < b->n_events; i++) {
            s_outcome(b->events[i]->event_id, &res[i]);
            if (f->mode == F_UNKNOWN_STATUS)
                res[i].status = 99;
            ptrs[i] = &res[i];
        }
        r.n_results = b->n_events;
        if (f->mode == F_WRONG_COUNT && r.n_results > 0)
            r.n_results--;
        r.results = ptrs;
        /* Figures answer by the same rule as events, by figure_id. */
        for (size_t i = 0; i < b->n_figures; i++) {
            s_outcome(b->figures[i]->figure_id, &res[b->n_events + i]);
            ptrs[b->n_events + i] = &res[b->n_events + i];
        }
        if (f->mode != F_NO_FIGURES) {
            r.n_figure_results = b->n_figures;
            r.figure_results = ptrs + b->n_events;
        }
    }
    s_send_reply(f, ident, identlen, &r, f->mode == F_DELIMITED);
    free(res);
    free(ptrs);
}

/* Record batch b; returns how often its batch_id was seen, this time included. */
static int
s_record(f_fake *f, const Optally__EventBatch *b, size_t bytes)
{
    f->messages++;
    for (size_t i = 0; i < f->nseen; i++)
        if (f->seen[i].id == b->batch_id) {
            if (f->seen[i].n != b->n_events || f->seen[i].nfig != b->n_figures)
                s_fake_err(f, "a resend with other events than the first attempt");
            return ++f->seen[i].times;
        }
    if (f->nseen == F_MAX_BATCHES) {
        s_fake_err(f, "too many batches for the fake");
        return 1;
    }
    f->seen[f->nseen++] = (f_seen){ .id = b->batch_id, .times = 1, .n = b->n_events,
                                    .nfig = b->n_figures, .bytes = bytes };
    return 1;
}

static void
s_hold(f_fake *f, const uint8_t *ident, size_t identlen, Optally__EventBatch *b)
{
    if (f->nheld == F_MAX_HELD || identlen > sizeof f->held[0].ident) {
        s_fake_err(f, "cannot hold more");
        optally__event_batch__free_unpacked(b, NULL);
        return;
    }
    f_held *h = &f->held[f->nheld++];
    memcpy(h->ident, ident, identlen);
    h->identlen = identlen;
    h->batch = b;
    if (f->nheld > f->max_held)
        f->max_held = f->nheld;
}

/* Answer the oldest held batch. */
static void
s_release_one(f_fake *f)
{
    f_held h = f->held[0];
    memmove(&f->held[0], &f->held[1], (f->nheld - 1) * sizeof f->held[0]);
    f->nheld--;
    s_answer(f, h.ident, h.identlen, h.batch, false);
    optally__event_batch__free_unpacked(h.batch, NULL);
}

/* One message from the producer: [identity, EventBatch]. */
static void
s_on_message(f_fake *f)
{
    zmq_msg_t id, m;
    zmq_msg_init(&id);
    zmq_msg_init(&m);
    if (zmq_msg_recv(&id, f->router, ZMQ_DONTWAIT) < 0 || !zmq_msg_more(&id) ||
        zmq_msg_recv(&m, f->router, 0) < 0 || zmq_msg_more(&m)) {
        s_fake_err(f, "a message that is not [identity, batch]");
        goto out;
    }
    Optally__EventBatch *b = optally__event_batch__unpack(NULL, zmq_msg_size(&m), zmq_msg_data(&m));
    if (!b) {
        s_fake_err(f, "a message that is not an EventBatch");
        goto out;
    }
    const uint8_t *ident = zmq_msg_data(&id);
    size_t identlen = zmq_msg_size(&id);
    pthread_mutex_lock(&f->mu);
    f->last_msg = ot_clock_mono_ms();
    int times = s_record(f, b, zmq_msg_size(&m));
    bool keep = false;
    switch (f->mode) {
    case F_ANSWER:
    case F_WRONG_COUNT:
    case F_UNKNOWN_STATUS:
    case F_DELIMITED:
    case F_NO_FIGURES:
        s_answer(f, ident, identlen, b, false);
        break;
    case F_DROP_FIRST:
        if (times > 1)
            s_answer(f, ident, identlen, b, false);
        break;
    case F_LATE_FIRST:
        if (times == 1) {
            s_hold(f, ident, identlen, b);
            keep = true;
        } else {
            while (f->nheld > 0)
                s_release_one(f);   /* the first attempt's answer, late */
            s_answer(f, ident, identlen, b, false);
        }
        break;
    case F_SILENT:
        break;
    case F_HOLD_WINDOW:
        s_hold(f, ident, identlen, b);
        keep = true;
        if ((int)f->nheld >= f->window)
            s_release_one(f);
        break;
    case F_ERROR:
        s_answer(f, ident, identlen, b, true);
        break;
    case F_ERROR_FIRST:
        s_answer(f, ident, identlen, b, times == 1);
        break;
    case F_GARBAGE_FIRST:
        if (times == 1) {
            const uint8_t junk[] = { 0x0a, 0xff, 0xff, 0xff, 0x7f, 0x01 };
            if (zmq_send(f->router, ident, identlen, ZMQ_SNDMORE) < 0 ||
                zmq_send(f->router, junk, sizeof junk, 0) < 0)
                s_fake_err(f, "cannot send junk");
        } else {
            s_answer(f, ident, identlen, b, false);
        }
        break;
    case F_FOREIGN_FIRST:
        if (times == 1) {
            Optally__EventBatch other = *b;
            other.batch_id = b->batch_id ^ 0x5555;
            s_answer(f, ident, identlen, &other, false);
        } else {
            s_answer(f, ident, identlen, b, false);
        }
        break;
    }
    pthread_mutex_unlock(&f->mu);
    if (!keep)
        optally__event_batch__free_unpacked(b, NULL);
out:
    zmq_msg_close(&id);
    zmq_msg_close(&m);
}

static void *
s_fake_main(void *arg)
{
    f_fake *f = arg;
    while (!atomic_load(&f->stop)) {
        zmq_pollitem_t it = { .socket = f->router, .events = ZMQ_POLLIN };
        int n = zmq_poll(&it, 1, 10);
        if (n < 0 && errno != EINTR) {
            s_fake_err(f, "poll failed");
            break;
        }
        if (n > 0)
            s_on_message(f);
        pthread_mutex_lock(&f->mu);
        if (f->mode == F_HOLD_WINDOW && f->nheld > 0 &&
            ot_clock_mono_ms() - f->last_msg >= F_IDLE_MS)
            s_release_one(f);
        pthread_mutex_unlock(&f->mu);
    }
    return NULL;
}

static void
s_fake_start(f_fake *f, f_mode mode)
{
    f->mode = mode;
    pthread_mutex_init(&f->mu, NULL);
    f->ctx = zmq_ctx_new();
    assert_non_null(f->ctx);
    f->router = zmq_socket(f->ctx, ZMQ_ROUTER);
    assert_non_null(f->router);
    int zero = 0;
    assert_int_equal(zmq_setsockopt(f->router, ZMQ_LINGER, &zero, sizeof zero), 0);
    assert_int_equal(zmq_bind(f->router, "tcp://127.0.0.1:*"), 0);
    size_t len = sizeof f->ep;
    assert_int_equal(zmq_getsockopt(f->router, ZMQ_LAST_ENDPOINT, f->ep, &len), 0);
    assert_int_equal(pthread_create(&f->thread, NULL, s_fake_main, f), 0);
}

static void
s_fake_stop(f_fake *f)
{
    if (!f->ctx)
        return;
    atomic_store(&f->stop, 1);
    pthread_join(f->thread, NULL);
    for (size_t i = 0; i < f->nheld; i++)
        optally__event_batch__free_unpacked(f->held[i].batch, NULL);
    f->nheld = 0;
    zmq_close(f->router);
    zmq_ctx_term(f->ctx);
    f->ctx = NULL;
    pthread_mutex_destroy(&f->mu);
}

/* ---- the producer side ---------------------------------------------------- */

static void
s_on_result(void *ctx, uint64_t tag, Optally__IngestStatus status, Optally__RejectReason reason,
            const char *text, uint64_t seq)
{
    r_log *l = ctx;
    if (tag >= F_MAX_EVENTS)
        return;
    r_result *r = &l->r[tag];
    r->calls++;
    r->status = status;
    r->reason = reason;
    snprintf(r->text, sizeof r->text, "%s", text ? text : "(null)");
    r->seq = seq;
    if (l->ncalls < sizeof l->order / sizeof l->order[0])
        l->order[l->ncalls] = tag;
    l->ncalls++;
}

static int
s_setup(void **state)
{
    t_fix *t = calloc(1, sizeof *t);
    assert_non_null(t);
    *state = t;
    alarm(T_WATCHDOG_S);
    return 0;
}

static int
s_teardown(void **state)
{
    t_fix *t = *state;
    ot_producer_close(&t->p);
    assert_null(t->p);
    ot_producer_close(&t->p);
    s_fake_stop(&t->fake);
    free(t);
    alarm(0);
    return 0;
}

/* Start the fake in mode and a producer connected to it. */
static void
s_start(t_fix *t, f_mode mode, size_t batch, int window, int timeout_ms, int retries)
{
    s_fake_start(&t->fake, mode);
    ot_producer_options o = { .endpoint = t->fake.ep, .batch = batch, .window = window,
                              .timeout_ms = timeout_ms, .retries = retries,
                              .on_result = s_on_result, .ctx = &t->log };
    assert_int_equal(ot_producer_open(&o, &t->p), 0);
}

/* Event i with id "<prefix>-<i>". */
static Optally__OperationEvent *
s_ev(t_fix *t, const char *prefix, size_t i)
{
    assert_true(i < F_MAX_EVENTS);
    snprintf(t->ids[i], sizeof t->ids[i], "%s-%zu", prefix, i);
    Optally__OperationEvent *ev = &t->ev[i];
    optally__operation_event__init(ev);
    ev->event_id = t->ids[i];
    ev->source = "TEST";
    ev->occurred_on = "2024-01-01";
    ev->country = "IQ";
    ev->operations = 1;
    return ev;
}

/* Figure i (tag i) with figure_id "<prefix>-<i>". */
static Optally__Figure *
s_fig(t_fix *t, const char *prefix, size_t i)
{
    assert_true(i < F_MAX_EVENTS);
    snprintf(t->ids[i], sizeof t->ids[i], "%s-%zu", prefix, i);
    Optally__Figure *f = &t->fig[i];
    optally__figure__init(f);
    f->figure_id = t->ids[i];
    f->source = "CENTCOM";
    f->metric = "fighters_at_large";
    t->scope[i][0] = "IQ";
    t->scope[i][1] = "SY";
    f->scope = t->scope[i];
    f->n_scope = 2;
    f->as_of = "2024-04-15";
    f->value = 2500;
    f->qualifier = OPTALLY__QUALIFIER__APPROX;
    return f;
}

/* Submit events 0..n-1 with ids from prefix_of(i) and flush. */
static int
s_submit_all(t_fix *t, size_t n, const char *(*prefix_of)(size_t))
{
    for (size_t i = 0; i < n; i++) {
        int rc = ot_producer_submit(t->p, s_ev(t, prefix_of(i), i), i);
        if (rc)
            return rc;
    }
    return ot_producer_flush(t->p);
}

static const char *
s_plain(size_t i)
{
    (void)i;
    return "e";
}

static const char *
s_mixed(size_t i)
{
    static const char *const p[] = { "e", "dup", "rej", "sup", "stale" };
    return p[i % 5];
}

/* Every event 0..n-1 got exactly one outcome, the one the fake gives its id.
 * Stops the fake first, so its records can be read without a lock. */
static void
s_assert_outcomes(t_fix *t, size_t n)
{
    s_fake_stop(&t->fake);
    if (t->fake.err[0])
        fail_msg("fake consumer: %s", t->fake.err);
    for (size_t i = 0; i < n; i++) {
        r_result *r = &t->log.r[i];
        if (r->calls != 1)
            fail_msg("event %zu (%s): on_result called %d times", i, t->ids[i], r->calls);
        Optally__EventResult want;
        s_outcome(t->ids[i], &want);
        assert_int_equal(r->status, want.status);
        assert_int_equal(r->reason, want.reason);
        assert_int_equal(r->seq, want.seq);
        assert_string_equal(r->text, want.reason_text && want.reason_text[0] ? want.reason_text : "");
    }
    assert_int_equal(t->log.ncalls, n);
}

static void
t_outcomes_reach_callback(void **state)
{
    t_fix *t = *state;
    s_start(t, F_ANSWER, 4, 1, 5000, 3);
    assert_int_equal(s_submit_all(t, 22, s_mixed), 0);
    s_assert_outcomes(t, 22);
    /* One batch in flight at a time: the calls come in submit order. */
    for (size_t i = 0; i < 22; i++)
        assert_int_equal(t->log.order[i], i);
    assert_int_equal(t->fake.nseen, 6);     /* 5 batches of 4, one of 2 */
    assert_int_equal(t->fake.seen[5].n, 2);
    assert_int_equal(t->fake.messages, 6);
    assert_int_equal(ot_producer_resends(t->p), 0);
    /* batch_ids are distinct */
    for (size_t i = 0; i < t->fake.nseen; i++)
        for (size_t j = i + 1; j < t->fake.nseen; j++)
            assert_true(t->fake.seen[i].id != t->fake.seen[j].id);
    /* flush with nothing pending is a no-op */
    assert_int_equal(ot_producer_flush(t->p), 0);
    assert_int_equal(t->fake.messages, 6);
}

static void
t_unanswered_batch_resent(void **state)
{
    t_fix *t = *state;
    s_start(t, F_DROP_FIRST, 5, 2, 300, 5);
    int64_t t0 = ot_clock_mono_ms();
    assert_int_equal(s_submit_all(t, 10, s_plain), 0);
    s_assert_outcomes(t, 10);
    assert_true(ot_clock_mono_ms() - t0 >= 300);    /* the retry waited for the timeout */
    assert_int_equal(t->fake.nseen, 2);
    for (size_t i = 0; i < t->fake.nseen; i++)
        assert_true(t->fake.seen[i].times >= 2);    /* same batch_id, sent again */
    assert_true(ot_producer_resends(t->p) >= 2);
}

static void
t_late_first_answer_counts_once(void **state)
{
    t_fix *t = *state;
    s_start(t, F_LATE_FIRST, 3, 4, 300, 5);
    assert_int_equal(s_submit_all(t, 9, s_mixed), 0);
    s_assert_outcomes(t, 9);
    /* The first batch's retry came (its first answer was held back); the
     * late answer released then may have answered other batches at once. */
    assert_true(t->fake.seen[0].times >= 2);
}

static void
t_window(void **state)
{
    t_fix *t = *state;
    t->fake.window = 3;     /* before the fake's thread starts */
    s_start(t, F_HOLD_WINDOW, 1, 3, 5000, 3);
    assert_int_equal(s_submit_all(t, 12, s_plain), 0);
    s_assert_outcomes(t, 12);
    /* The fake answers only once 3 wait: never more in flight, and the
     * window was filled (fewer would have left the fake waiting idle). */
    assert_int_equal(t->fake.max_held, 3);
    assert_int_equal(t->fake.nseen, 12);
    assert_int_equal(ot_producer_resends(t->p), 0);
}

static void
t_retries_exhausted(void **state)
{
    t_fix *t = *state;
    s_start(t, F_SILENT, 2, 1, 150, 2);
    int64_t t0 = ot_clock_mono_ms();
    assert_int_equal(s_submit_all(t, 2, s_plain), OT_ETIMEOUT);
    int64_t took = ot_clock_mono_ms() - t0;
    assert_true(took >= 3 * 150);                   /* 1 + retries attempts */
    assert_int_equal(t->log.ncalls, 0);             /* no outcome was made up */
    s_fake_stop(&t->fake);
    assert_string_equal(t->fake.err, "");
    assert_int_equal(t->fake.nseen, 1);
    assert_int_equal(t->fake.seen[0].times, 3);
    /* Sticky: every later call says the same. */
    assert_int_equal(ot_producer_submit(t->p, s_ev(t, "e", 5), 5), OT_ETIMEOUT);
    assert_int_equal(ot_producer_flush(t->p), OT_ETIMEOUT);
}

static void
t_final_batch_error_rejects_each(void **state)
{
    t_fix *t = *state;
    t->fake.error = OPTALLY__BATCH_ERROR__TOO_MANY_EVENTS;
    t->fake.error_text = "over 10000 events";
    s_start(t, F_ERROR, 3, 2, 5000, 3);
    assert_int_equal(s_submit_all(t, 5, s_plain), 0);
    s_fake_stop(&t->fake);
    assert_string_equal(t->fake.err, "");
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(t->log.r[i].calls, 1);
        assert_int_equal(t->log.r[i].status, OPTALLY__INGEST_STATUS__REJECTED);
        assert_int_equal(t->log.r[i].reason, OPTALLY__REJECT_REASON__REASON_NONE);
        assert_string_equal(t->log.r[i].text, "TOO_MANY_EVENTS: over 10000 events");
        assert_int_equal(t->log.r[i].seq, 0);
    }
    assert_int_equal(ot_producer_resends(t->p), 0);     /* final: not retried */
}

static void
t_retry_later_error_retried(void **state)
{
    t_fix *t = *state;
    t->fake.error = OPTALLY__BATCH_ERROR__STORAGE_FULL;
    t->fake.error_text = "disk full";
    s_start(t, F_ERROR_FIRST, 4, 2, 5000, 3);
    assert_int_equal(s_submit_all(t, 8, s_mixed), 0);
    s_assert_outcomes(t, 8);
    assert_int_equal(ot_producer_resends(t->p), 2);
}

static void
t_retry_later_error_persists(void **state)
{
    t_fix *t = *state;
    t->fake.error = OPTALLY__BATCH_ERROR__SHUTTING_DOWN;
    t->fake.error_text = "consumer stopping";
    s_start(t, F_ERROR, 2, 1, 5000, 2);
    assert_int_equal(s_submit_all(t, 2, s_plain), OT_ESTORAGE);
    assert_string_equal(ot_producer_error_text(t->p), "SHUTTING_DOWN: consumer stopping");
    assert_int_equal(t->log.ncalls, 0);
    s_fake_stop(&t->fake);
    assert_int_equal(t->fake.seen[0].times, 3);
    assert_int_equal(ot_producer_flush(t->p), OT_ESTORAGE);
}

static void
t_garbage_reply_ignored(void **state)
{
    t_fix *t = *state;
    s_start(t, F_GARBAGE_FIRST, 3, 2, 300, 3);
    assert_int_equal(s_submit_all(t, 6, s_mixed), 0);
    s_assert_outcomes(t, 6);
    assert_true(ot_producer_resends(t->p) >= 2);
}

static void
t_foreign_batch_id_ignored(void **state)
{
    t_fix *t = *state;
    s_start(t, F_FOREIGN_FIRST, 3, 1, 300, 3);
    assert_int_equal(s_submit_all(t, 3, s_mixed), 0);
    s_assert_outcomes(t, 3);
    assert_true(ot_producer_resends(t->p) >= 1);
}

static void
t_wrong_count_and_unknown_status(void **state)
{
    t_fix *t = *state;
    s_start(t, F_WRONG_COUNT, 3, 1, 5000, 3);
    assert_int_equal(s_submit_all(t, 3, s_plain), 0);
    s_fake_stop(&t->fake);
    assert_string_equal(t->fake.err, "");
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(t->log.r[i].calls, 1);
        assert_int_equal(t->log.r[i].status, OPTALLY__INGEST_STATUS__REJECTED);
        assert_string_equal(t->log.r[i].text, "consumer reply has 2 results for 3 events");
    }
    ot_producer_close(&t->p);

    memset(&t->log, 0, sizeof t->log);
    memset(&t->fake, 0, sizeof t->fake);
    s_start(t, F_UNKNOWN_STATUS, 2, 1, 5000, 3);
    assert_int_equal(s_submit_all(t, 2, s_plain), 0);
    s_fake_stop(&t->fake);
    assert_string_equal(t->fake.err, "");
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(t->log.r[i].calls, 1);
        assert_int_equal(t->log.r[i].status, OPTALLY__INGEST_STATUS__REJECTED);
        assert_string_equal(t->log.r[i].text, "consumer reply has unknown status 99");
    }
}

static void
t_delimited_reply(void **state)
{
    t_fix *t = *state;
    s_start(t, F_DELIMITED, 2, 1, 5000, 3);
    assert_int_equal(s_submit_all(t, 4, s_mixed), 0);
    s_assert_outcomes(t, 4);
}

/* Batches stay under 1 MiB whatever `batch` says. */
static void
t_batch_sealed_before_1mib(void **state)
{
    t_fix *t = *state;
    static char notes[16001];
    memset(notes, 'n', sizeof notes - 1);
    s_start(t, F_ANSWER, 1000, 4, 5000, 3);
    for (size_t i = 0; i < 100; i++) {
        Optally__OperationEvent *ev = s_ev(t, "e", i);
        ev->notes = notes;
        assert_int_equal(ot_producer_submit(t->p, ev, i), 0);
    }
    assert_int_equal(ot_producer_flush(t->p), 0);
    s_assert_outcomes(t, 100);
    assert_true(t->fake.nseen >= 2);
    size_t total = 0;
    for (size_t i = 0; i < t->fake.nseen; i++) {
        assert_true(t->fake.seen[i].bytes <= (1u << 20));
        total += t->fake.seen[i].n;
    }
    assert_int_equal(total, 100);
}

/* An event too big for one message (a 5 MB notes, issue 10 item 6) is
 * refused locally, REJECTED / STRING_TOO_LONG for its own tag, and the
 * events before and after it are sent and answered: no message passes the
 * consumer's limit (the default 4 MiB), so it never drops the connection. */
static void
t_too_big_event_rejected_locally(void **state)
{
    t_fix *t = *state;
    size_t big = 5u << 20;
    char *notes = malloc(big + 1);
    assert_non_null(notes);
    memset(notes, 'n', big);
    notes[big] = '\0';
    s_start(t, F_ANSWER, 100, 4, 5000, 3);      /* max_msg_size 0: the default */
    int64_t t0 = ot_clock_mono_ms();
    for (size_t i = 0; i < 30; i++) {
        Optally__OperationEvent *ev = s_ev(t, "e", i);
        if (i == 10)
            ev->notes = notes;
        assert_int_equal(ot_producer_submit(t->p, ev, i), 0);
        if (i == 10) {      /* answered at once, from inside submit */
            assert_int_equal(t->log.r[10].calls, 1);
            assert_int_equal(t->log.r[10].status, OPTALLY__INGEST_STATUS__REJECTED);
        }
    }
    assert_int_equal(ot_producer_flush(t->p), 0);
    assert_true(ot_clock_mono_ms() - t0 < 4000);  /* never waited for a timeout */
    s_fake_stop(&t->fake);
    assert_string_equal(t->fake.err, "");
    free(notes);
    for (size_t i = 0; i < 30; i++) {
        r_result *r = &t->log.r[i];
        assert_int_equal(r->calls, 1);
        if (i == 10) {
            assert_int_equal(r->status, OPTALLY__INGEST_STATUS__REJECTED);
            assert_int_equal(r->reason, OPTALLY__REJECT_REASON__STRING_TOO_LONG);
            assert_int_equal(r->seq, 0);
            if (!strstr(r->text, "'notes' is 5242880 bytes") || !strstr(r->text, "4194304"))
                fail_msg("text: %s", r->text);
        } else {
            assert_int_equal(r->status, OPTALLY__INGEST_STATUS__STORED);
        }
    }
    size_t total = 0;
    for (size_t i = 0; i < t->fake.nseen; i++) {
        assert_true(t->fake.seen[i].bytes <= (4u << 20));
        total += t->fake.seen[i].n;
    }
    assert_int_equal(total, 29);
    assert_int_equal(ot_producer_resends(t->p), 0);
}

/* Batches are split by bytes to stay within max_msg_size (here 16 KiB:
 * 300 events with 400-byte notes make ~130 KiB); an event bigger than a
 * batch's share but within the limit still goes, alone. */
static void
t_batches_split_by_max_msg_size(void **state)
{
    t_fix *t = *state;
    static char notes[401], wide[12001];
    memset(notes, 'n', sizeof notes - 1);
    memset(wide, 'w', sizeof wide - 1);
    s_fake_start(&t->fake, F_ANSWER);
    ot_producer_options o = { .endpoint = t->fake.ep, .batch = 1000, .window = 4,
                              .max_msg_size = 16 << 10,
                              .on_result = s_on_result, .ctx = &t->log };
    assert_int_equal(ot_producer_open(&o, &t->p), 0);
    for (size_t i = 0; i < 300; i++) {
        Optally__OperationEvent *ev = s_ev(t, "e", i);
        ev->notes = i == 150 ? wide : notes;
        assert_int_equal(ot_producer_submit(t->p, ev, i), 0);
    }
    assert_int_equal(ot_producer_flush(t->p), 0);
    s_assert_outcomes(t, 300);
    size_t total = 0;
    for (size_t i = 0; i < t->fake.nseen; i++) {
        if (t->fake.seen[i].bytes > (16u << 10))
            fail_msg("message %zu is %zu bytes, over 16 KiB", i, t->fake.seen[i].bytes);
        total += t->fake.seen[i].n;
    }
    assert_int_equal(total, 300);
    assert_true(t->fake.nseen >= 8);
}

/* ot_producer_poll handles replies without a submit or a flush: the
 * answers of sealed batches come in while the caller only polls, and the
 * partial batch is not sent. */
static void
t_poll_handles_replies(void **state)
{
    t_fix *t = *state;
    s_start(t, F_ANSWER, 2, 4, 5000, 3);
    for (size_t i = 0; i < 5; i++)      /* two batches sealed and sent, one event open */
        assert_int_equal(ot_producer_submit(t->p, s_ev(t, "e", i), i), 0);
    int64_t end = ot_clock_mono_ms() + 10000;
    while (t->log.ncalls < 4 && ot_clock_mono_ms() < end)
        assert_int_equal(ot_producer_poll(t->p, 100), 0);
    assert_int_equal(t->log.ncalls, 4);
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(t->log.r[i].calls, 1);
    /* the open event stays unsent while polling */
    assert_int_equal(ot_producer_poll(t->p, 50), 0);
    assert_int_equal(t->log.r[4].calls, 0);
    /* a poll of 0 returns at once */
    int64_t t0 = ot_clock_mono_ms();
    assert_int_equal(ot_producer_poll(t->p, 0), 0);
    assert_true(ot_clock_mono_ms() - t0 < 1000);
    assert_int_equal(ot_producer_flush(t->p), 0);
    s_assert_outcomes(t, 5);
    assert_int_equal(t->fake.nseen, 3);
}

/* Figures travel beside events: batches of 7 items mix them, each batch
 * holds at most 7 items in all, and every figure's outcome (the fake
 * answers figures in figure_results by the rule of events) reaches
 * on_result once with its own tag, as every event's does. */
static void
t_figures_beside_events(void **state)
{
    t_fix *t = *state;
    s_start(t, F_ANSWER, 7, 4, 5000, 3);
    size_t n = 60, nfig = 0;
    for (size_t i = 0; i < n; i++) {
        int rc;
        if (i % 3 == 1) {      /* every third item is a figure */
            rc = ot_producer_submit_figure(t->p, s_fig(t, s_mixed(i), i), i);
            nfig++;
        } else {
            rc = ot_producer_submit(t->p, s_ev(t, s_mixed(i), i), i);
        }
        assert_int_equal(rc, 0);
    }
    assert_int_equal(ot_producer_flush(t->p), 0);
    s_assert_outcomes(t, n);
    size_t events = 0, figures = 0;
    bool mixed = false;
    for (size_t i = 0; i < t->fake.nseen; i++) {
        const f_seen *b = &t->fake.seen[i];
        assert_true(b->n + b->nfig <= 7);
        mixed = mixed || (b->n > 0 && b->nfig > 0);
        events += b->n;
        figures += b->nfig;
    }
    assert_int_equal(figures, nfig);
    assert_int_equal(events, n - nfig);
    assert_int_equal(t->fake.nseen, (n + 6) / 7);
    assert_true(mixed);
}

/* A batch of figures only: sealed at `batch` items, answered by position. */
static void
t_figures_only(void **state)
{
    t_fix *t = *state;
    s_start(t, F_ANSWER, 4, 2, 5000, 3);
    for (size_t i = 0; i < 10; i++)
        assert_int_equal(ot_producer_submit_figure(t->p, s_fig(t, s_mixed(i), i), i), 0);
    assert_int_equal(ot_producer_flush(t->p), 0);
    s_assert_outcomes(t, 10);
    assert_int_equal(t->fake.nseen, 3);
    for (size_t i = 0; i < t->fake.nseen; i++)
        assert_int_equal(t->fake.seen[i].n, 0);
}

/* A consumer older than figures skips the `figures` field and answers the
 * events only: every item of such a batch is REJECTED, the text saying
 * why; a batch without figures is answered as usual. */
static void
t_old_consumer_rejects_figures(void **state)
{
    t_fix *t = *state;
    s_start(t, F_NO_FIGURES, 3, 2, 5000, 3);
    for (size_t i = 0; i < 3; i++)          /* batch 1: events only */
        assert_int_equal(ot_producer_submit(t->p, s_ev(t, "e", i), i), 0);
    assert_int_equal(ot_producer_submit(t->p, s_ev(t, "e", 3), 3), 0);
    assert_int_equal(ot_producer_submit_figure(t->p, s_fig(t, "f", 4), 4), 0);
    assert_int_equal(ot_producer_submit(t->p, s_ev(t, "e", 5), 5), 0);
    assert_int_equal(ot_producer_flush(t->p), 0);
    s_fake_stop(&t->fake);
    assert_string_equal(t->fake.err, "");
    for (size_t i = 0; i < 6; i++) {
        r_result *r = &t->log.r[i];
        assert_int_equal(r->calls, 1);
        if (i < 3) {
            assert_int_equal(r->status, OPTALLY__INGEST_STATUS__STORED);
            continue;
        }
        assert_int_equal(r->status, OPTALLY__INGEST_STATUS__REJECTED);
        if (!strstr(r->text, "0 results for 1 figures") || !strstr(r->text, "older"))
            fail_msg("item %zu: text '%s'", i, r->text);
    }
    assert_int_equal(t->log.ncalls, 6);
}

/* A figure too big for any message is refused locally (its notes named),
 * and so is an event whose repeated `countries` holds the bulk: the size
 * of a repeated string field counts all its values. */
static void
t_too_big_figure_rejected_locally(void **state)
{
    t_fix *t = *state;
    size_t big = 5u << 20;
    char *notes = malloc(big + 1);
    assert_non_null(notes);
    memset(notes, 'n', big);
    notes[big] = '\0';
    s_start(t, F_ANSWER, 100, 4, 5000, 3);
    Optally__Figure *f = s_fig(t, "f", 0);
    f->notes = notes;
    assert_int_equal(ot_producer_submit_figure(t->p, f, 0), 0);
    assert_int_equal(t->log.r[0].calls, 1);     /* answered at once */
    Optally__OperationEvent *ev = s_ev(t, "e", 1);
    char *countries[3] = { "IQ", notes, "SY" };
    ev->countries = countries;
    ev->n_countries = 3;
    assert_int_equal(ot_producer_submit(t->p, ev, 1), 0);
    assert_int_equal(ot_producer_submit_figure(t->p, s_fig(t, "f", 2), 2), 0);
    assert_int_equal(ot_producer_flush(t->p), 0);
    s_fake_stop(&t->fake);
    assert_string_equal(t->fake.err, "");
    free(notes);
    assert_int_equal(t->log.r[0].status, OPTALLY__INGEST_STATUS__REJECTED);
    assert_int_equal(t->log.r[0].reason, OPTALLY__REJECT_REASON__STRING_TOO_LONG);
    if (!strstr(t->log.r[0].text, "figure is ") || !strstr(t->log.r[0].text, "'notes' is 5242880"))
        fail_msg("text: %s", t->log.r[0].text);
    assert_int_equal(t->log.r[1].status, OPTALLY__INGEST_STATUS__REJECTED);
    if (!strstr(t->log.r[1].text, "'countries' is 5242884 bytes"))
        fail_msg("text: %s", t->log.r[1].text);
    assert_int_equal(t->log.r[2].calls, 1);
    assert_int_equal(t->log.r[2].status, OPTALLY__INGEST_STATUS__STORED);
    assert_int_equal(t->fake.nseen, 1);
    assert_int_equal(t->fake.seen[0].nfig, 1);
    assert_int_equal(t->fake.seen[0].n, 0);
}

static void
t_bad_options(void **state)
{
    (void)state;
    r_log log;
    ot_producer *p = (ot_producer *)&p;
    ot_producer_options o = { .on_result = NULL };
    assert_int_equal(ot_producer_open(&o, &p), EINVAL);
    assert_null(p);
    o = (ot_producer_options){ .on_result = s_on_result, .ctx = &log, .batch = 10001 };
    assert_int_equal(ot_producer_open(&o, &p), EINVAL);
    o = (ot_producer_options){ .on_result = s_on_result, .ctx = &log, .window = 1025 };
    assert_int_equal(ot_producer_open(&o, &p), EINVAL);
    o = (ot_producer_options){ .on_result = s_on_result, .ctx = &log, .timeout_ms = -1 };
    assert_int_equal(ot_producer_open(&o, &p), EINVAL);
    o = (ot_producer_options){ .on_result = s_on_result, .ctx = &log,
                               .max_msg_size = OT_PRODUCER_MIN_MAX_MSG - 1 };
    assert_int_equal(ot_producer_open(&o, &p), EINVAL);
    o = (ot_producer_options){ .on_result = s_on_result, .ctx = &log, .max_msg_size = -1 };
    assert_int_equal(ot_producer_open(&o, &p), EINVAL);
    o = (ot_producer_options){ .on_result = s_on_result, .ctx = &log,
                               .server_key = "0123456789012345678901234567890123456789" };
    assert_int_equal(ot_producer_open(&o, &p), EINVAL);     /* CURVE: all three keys */
    o = (ot_producer_options){ .on_result = s_on_result, .ctx = &log, .endpoint = "nonsense://x" };
    assert_int_equal(ot_producer_open(&o, &p), EINVAL);
    assert_null(p);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(t_outcomes_reach_callback, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_unanswered_batch_resent, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_late_first_answer_counts_once, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_window, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_retries_exhausted, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_final_batch_error_rejects_each, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_retry_later_error_retried, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_retry_later_error_persists, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_garbage_reply_ignored, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_foreign_batch_id_ignored, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_wrong_count_and_unknown_status, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_delimited_reply, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_batch_sealed_before_1mib, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_too_big_event_rejected_locally, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_batches_split_by_max_msg_size, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_poll_handles_replies, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_figures_beside_events, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_figures_only, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_old_consumer_rejects_figures, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_too_big_figure_rejected_locally, s_setup, s_teardown),
        cmocka_unit_test(t_bad_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
