/*
 * otb_e2e: one end-to-end run of optally, measured from outside.
 *
 *   otb_e2e --optally BIN --data DIR --ingest EP --name ROW
 *           ( --produce FILE.jsonl
 *           | --drive FILE.bin [--batch N] [--window W] [--rate EV_PER_S]
 *           | --startup-only )
 *
 * Starts `optally consume --data DIR --ingest EP` (its publish and snapshot
 * sockets on ipc:// paths beside DIR, so no fixed port is needed), times
 * the start-up until the "ready" line on its stderr, then feeds it:
 *   --produce  runs `optally produce --quiet --to EP FILE` (JSON Lines: the
 *              real end to end, the producer's JSON parsing included) and
 *              checks its summary line against FILE.meta;
 *   --drive    sends the events of the binary events file with the shipped
 *              producer library (producer/ot_producer.h, what a C scraper
 *              links): batches of N events, up to W in flight, optionally
 *              paced to EV_PER_S (open loop), and times every batch from
 *              its send to its IngestReply (ack latency). The events are
 *              decoded before the clock starts, as a scraper holds them
 *              before it submits; packing them into batches is timed;
 *   --startup-only  measures start-up over an existing store and stops.
 * Then reads the consumer's counters (CPU, write_bytes, VmHWM, RssAnon),
 * the device's write counter and the LMDB transaction id (commits made),
 * stops the consumer with SIGTERM (it must exit 0), and prints one RESULT
 * line. Exit status 0 only when every count matched.
 *
 * The driver's measurements through ot_producer, and where its API makes
 * them approximate:
 *  - a batch's send time is taken when the submit that sealed it returns
 *    (the producer sends a batch inside that call); its ack time when the
 *    first result of the batch reaches on_result. The producer seals by
 *    count here (--batch events of ~150 bytes stay far under its 1 MiB cap),
 *    so the tag / batch is the batch number.
 *  - the producer handles replies only inside its own calls: in a paced
 *    run the driver waits for the next send in ot_producer_poll, so a reply
 *    is handled (and timed) when it arrives, not at the next send.
 *  - a window is at most OT_PRODUCER_WINDOW_MAX batches (the producer's
 *    limit); a larger --window is cut to that.
 *  - timeout 60 s, no retries: a batch unanswered for a minute, or a
 *    "retry later" batch error, fails the run, as any error must here.
 */
#include <errno.h>
#include <inttypes.h>
#include <lmdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "optally.pb-c.h"
#include "ot_error.h"
#include "ot_event.h"
#include "ot_producer.h"
#include "otb_util.h"

typedef struct s_opts {
    const char *optally, *data, *ingest, *name;
    const char *produce, *drive;
    bool startup_only;
    size_t batch;
    int window;
    double rate;
} s_opts;

/* The consumer process and the thread that copies its stderr. */
typedef struct s_consumer {
    pid_t pid;
    int err_fd;
    pthread_t thr;
    bool thr_started;
} s_consumer;

/* Copy the consumer's stderr after the ready line, prefixed. */
static void *
s_stderr_pump(void *arg)
{
    s_consumer *c = arg;
    FILE *f = fdopen(c->err_fd, "r");
    char line[1024];
    while (f && fgets(line, sizeof line, f))
        if (!strstr(line, "stopped cleanly"))
            fprintf(stderr, "bench:   consumer: %s", line);
    if (f)
        fclose(f);
    return NULL;
}

static bool
s_has_option(const char *bin, const char *opt)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "'%s' consume --help 2>&1", bin);
    FILE *p = popen(cmd, "r");
    char line[512];
    bool found = false;
    while (p && fgets(line, sizeof line, p))
        if (strstr(line, opt))
            found = true;
    if (p)
        pclose(p);
    return found;
}

/* Start the consumer; wait for its ready line. OUT: *startup_s.
 * Returns 0 or -1 (reported). */
static int
s_consumer_start(const s_opts *o, s_consumer *c, double *startup_s)
{
    static char pub[4200], snap[4200];
    bool extra = s_has_option(o->optally, "--publish");
    snprintf(pub, sizeof pub, "ipc://%s.pub", o->data);
    snprintf(snap, sizeof snap, "ipc://%s.snap", o->data);
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    double t0 = otb_now();
    c->pid = fork();
    if (c->pid < 0)
        return -1;
    if (c->pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        close(fds[1]);
        if (extra)
            execl(o->optally, o->optally, "consume", "--data", o->data, "--ingest", o->ingest,
                  "--publish", pub, "--snapshot", snap, (char *)NULL);
        else
            execl(o->optally, o->optally, "consume", "--data", o->data, "--ingest", o->ingest,
                  (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    c->err_fd = fds[0];
    /* Read byte by byte until the ready line: nothing after it is consumed
     * here, the pump thread takes the rest. */
    char line[1024];
    size_t n = 0;
    for (;;) {
        char ch;
        ssize_t r = read(c->err_fd, &ch, 1);
        if (r <= 0) {
            line[n] = '\0';
            fprintf(stderr, "bench: consumer exited before ready: %s\n", line);
            return -1;
        }
        if (ch != '\n') {
            if (n + 1 < sizeof line)
                line[n++] = ch;
            continue;
        }
        line[n] = '\0';
        n = 0;
        /* The exact ready line (cli/cmd_consume.c), at the start of a line:
         * never an error that merely says "already". */
        static const char ready[] = "optally consume: ready ingest=";
        if (strncmp(line, ready, sizeof ready - 1) == 0)
            break;
        fprintf(stderr, "bench:   consumer: %s\n", line);
    }
    *startup_s = otb_now() - t0;
    if (pthread_create(&c->thr, NULL, s_stderr_pump, c) == 0)
        c->thr_started = true;
    return 0;
}

/* SIGTERM, then wait (SIGKILL after 60 s). Returns the exit status or -1. */
static int
s_consumer_stop(s_consumer *c)
{
    int st = otb_child_stop(c->pid, 60);
    c->pid = 0;
    if (c->thr_started)
        pthread_join(c->thr, NULL);
    return st;
}

/* Write transactions committed in the store so far (LMDB's last txn id). */
static long long
s_last_txnid(const char *dir)
{
    MDB_env *env;
    MDB_envinfo info;
    long long id = -1;
    if (mdb_env_create(&env) != 0)
        return -1;
    mdb_env_set_maxdbs(env, 16);
    if (mdb_env_open(env, dir, MDB_RDONLY | MDB_NOTLS, 0600) == 0 &&
        mdb_env_info(env, &info) == 0)
        id = (long long)info.me_last_txnid;
    mdb_env_close(env);
    return id;
}

/* ---- feeding with `optally produce` ------------------------------------ */

/* Run the producer CLI; check its summary. OUT: *cpu_s. Returns 0 when it
 * exited 0 with the expected summary. */
static int
s_feed_produce(const s_opts *o, double *cpu_s)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execl(o->optally, o->optally, "produce", "--quiet", "--to", o->ingest, o->produce,
              (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    char out[512] = "";
    size_t got = 0;
    ssize_t r;
    while ((r = read(fds[0], out + got, sizeof out - 1 - got)) > 0)
        got += (size_t)r;
    out[got] = '\0';
    close(fds[0]);
    int st;
    struct rusage ru;
    if (wait4(pid, &st, 0, &ru) != pid)
        return -1;
    *cpu_s = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
             (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
    char *nl = strchr(out, '\n');
    if (nl)
        *nl = '\0';
    char want[512] = "", path[4200], line[512];
    snprintf(path, sizeof path, "%s.meta", o->produce);
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "summary ", 8) == 0)
            snprintf(want, sizeof want, "%.*s", (int)strcspn(line + 8, "\n"), line + 8);
    if (f)
        fclose(f);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || strcmp(out, want) != 0) {
        fprintf(stderr, "bench: optally produce exit %d, said '%s', expected '%s'\n",
                WIFEXITED(st) ? WEXITSTATUS(st) : -1, out, want);
        return -1;
    }
    return 0;
}

/* ---- feeding with the producer library -------------------------------- */

/* A bump allocator for the decoded events: one free for all of them, and
 * no per-string malloc header in the way of the cache. */
typedef struct s_arena_chunk {
    struct s_arena_chunk *next;
    size_t used, cap;
    max_align_t data[];
} s_arena_chunk;

static void *
s_arena_alloc(void *arg, size_t size)
{
    s_arena_chunk **head = arg;
    size = (size + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    s_arena_chunk *c = *head;
    if (!c || c->cap - c->used < size) {
        size_t cap = size > ((size_t)4 << 20) ? size : ((size_t)4 << 20);
        c = malloc(sizeof *c + cap);
        if (!c)
            return NULL;
        c->next = *head;
        c->used = 0;
        c->cap = cap;
        *head = c;
    }
    void *p = (uint8_t *)c->data + c->used;
    c->used += size;
    return p;
}

static void
s_arena_free_one(void *arg, void *ptr)
{
    (void)arg;
    (void)ptr;   /* freed with the arena */
}

static void
s_arena_free(s_arena_chunk **head)
{
    while (*head) {
        s_arena_chunk *c = *head;
        *head = c->next;
        free(c);
    }
}

/* The events of the file, decoded. OUT: *evs (n entries, in the arena),
 * *max_len (the largest packed event). */
static int
s_decode_all(const otb_events *ev, s_arena_chunk **arena, Optally__OperationEvent ***evs,
             size_t *max_len)
{
    ProtobufCAllocator a = { s_arena_alloc, s_arena_free_one, arena };
    Optally__OperationEvent **v = s_arena_alloc(arena, (ev->n ? ev->n : 1) * sizeof *v);
    if (!v)
        return ENOMEM;
    size_t pos = 0, i = 0;
    const uint8_t *d;
    size_t len;
    *max_len = 0;
    while (otb_events_next(ev, &pos, &d, &len)) {
        *max_len = len > *max_len ? len : *max_len;
        v[i] = optally__operation_event__unpack(&a, len, d);
        if (!v[i]) {
            fprintf(stderr, "bench: event %zu of the events file does not decode\n", i);
            return EINVAL;
        }
        i++;
    }
    *evs = v;
    return 0;
}

#define S_WORST 5

typedef struct s_drive_out {
    double worst_ms[S_WORST];         /* the slowest acks, and the batch each was */
    size_t worst_batch[S_WORST];
    double secs;
    double cpu_s;
    double p50, p99, p999, lat_max;   /* ms */
    uint64_t st[6];                   /* by IngestStatus */
} s_drive_out;

/* What on_result needs: the send time of each batch, the latencies so far. */
typedef struct s_drive_ctx {
    size_t batch;
    size_t nb;
    double *tsend;                    /* per batch: otb_now() when sent, 0 before */
    size_t *results;                  /* per batch: results seen */
    double *lat;                      /* ms, one per batch answered */
    size_t nlat;
    s_drive_out *out;
} s_drive_ctx;

static void
s_note_latency(s_drive_ctx *d, size_t b, double ms)
{
    d->lat[d->nlat++] = ms;
    s_drive_out *out = d->out;
    for (int w = 0; w < S_WORST; w++)
        if (ms > out->worst_ms[w]) {
            memmove(out->worst_ms + w + 1, out->worst_ms + w, (S_WORST - 1 - w) * sizeof(double));
            memmove(out->worst_batch + w + 1, out->worst_batch + w,
                    (S_WORST - 1 - w) * sizeof(size_t));
            out->worst_ms[w] = ms;
            out->worst_batch[w] = b;
            break;
        }
}

/* ot_producer_result_fn: count the outcome; the first result of a batch is
 * its ack. */
static void
s_on_result(void *arg, uint64_t tag, Optally__IngestStatus status, Optally__RejectReason reason,
            const char *text, uint64_t seq)
{
    (void)seq;
    s_drive_ctx *d = arg;
    size_t b = (size_t)(tag / d->batch);
    if (b < d->nb && d->results[b]++ == 0)
        s_note_latency(d, b, d->tsend[b] > 0 ? (otb_now() - d->tsend[b]) * 1000.0 : 0);
    d->out->st[status < 6 ? status : 0]++;
    if (status == OPTALLY__INGEST_STATUS__REJECTED && d->out->st[status] <= 3)
        fprintf(stderr, "bench: event %" PRIu64 " rejected (reason %d): %s\n", tag, (int)reason,
                text);
}

/* Wait until otb_now() reaches due (open-loop pacing), handling replies as
 * they come (ot_producer_poll), so their ack times are taken when they
 * arrive. Returns 0 or the producer's error. */
static int
s_wait_until(ot_producer *p, double due)
{
    for (;;) {
        double left = due - otb_now();
        if (left <= 0)
            return 0;
        int ms = (int)(left * 1000.0);
        int rc = ot_producer_poll(p, ms);    /* 0 ms: below a millisecond, poll once */
        if (rc != 0)
            return rc;
    }
}

/* Submit every event (paced when rate > 0), flush, and time the acks. */
static int
s_feed_drive(const s_opts *o, Optally__OperationEvent **evs, size_t n, s_drive_out *out)
{
    s_drive_ctx d = { .batch = o->batch, .nb = (n + o->batch - 1) / o->batch, .out = out };
    d.tsend = calloc(d.nb + 1, sizeof *d.tsend);
    d.results = calloc(d.nb + 1, sizeof *d.results);
    d.lat = calloc(d.nb + 1, sizeof *d.lat);
    ot_producer_options po = {
        .endpoint = o->ingest,
        .batch = o->batch,
        .timeout_ms = 60000,
        .retries = 0,
        .window = o->window < OT_PRODUCER_WINDOW_MAX ? o->window : OT_PRODUCER_WINDOW_MAX,
        .on_result = s_on_result,
        .ctx = &d,
    };
    ot_producer *p = NULL;
    int rc = d.tsend && d.results && d.lat ? ot_producer_open(&po, &p) : ENOMEM;
    otb_proc c0, c1;
    otb_proc_read(0, &c0);
    double t0 = otb_now();
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (o->rate > 0 && i % o->batch == 0 && (rc = s_wait_until(p, t0 + (double)i / o->rate)))
            break;
        rc = ot_producer_submit(p, evs[i], i);
        if ((i + 1) % o->batch == 0)
            d.tsend[i / o->batch] = otb_now();   /* that submit sealed and sent it */
    }
    if (rc == 0 && n % o->batch)
        d.tsend[d.nb - 1] = otb_now();   /* the partial last batch: flush sends it */
    if (rc == 0)
        rc = ot_producer_flush(p);
    out->secs = otb_now() - t0;
    otb_proc_read(0, &c1);
    out->cpu_s = c1.cpu_s - c0.cpu_s;
    if (rc != 0)
        fprintf(stderr, "bench: producer: %s%s%s (%zu of %zu batches answered)\n",
                ot_strerror(rc), p && ot_producer_error_text(p)[0] ? ": " : "",
                p ? ot_producer_error_text(p) : "", d.nlat, d.nb);
    out->lat_max = otb_percentile(d.lat, d.nlat, 100);
    out->p50 = otb_percentile(d.lat, d.nlat, 50);
    out->p99 = otb_percentile(d.lat, d.nlat, 99);
    out->p999 = otb_percentile(d.lat, d.nlat, 99.9);
    ot_producer_close(&p);
    free(d.tsend);
    free(d.results);
    free(d.lat);
    return rc == 0 ? 0 : -1;
}

static int
s_parse(int argc, char **argv, s_opts *o)
{
    o->batch = 1000;
    o->window = 8;
    o->name = "optally";
    const otb_opt opts[] = {
        { "optally", OTB_OPT_STR, &o->optally, NULL },
        { "data", OTB_OPT_STR, &o->data, NULL },
        { "ingest", OTB_OPT_STR, &o->ingest, NULL },
        { "name", OTB_OPT_STR, &o->name, NULL },
        { "produce", OTB_OPT_STR, &o->produce, NULL },
        { "drive", OTB_OPT_STR, &o->drive, NULL },
        { "startup-only", OTB_OPT_FLAG, &o->startup_only, NULL },
        { "batch", OTB_OPT_SIZE, &o->batch, NULL },
        { "window", OTB_OPT_INT, &o->window, NULL },
        { "rate", OTB_OPT_DOUBLE, &o->rate, NULL },
        { NULL, 0, NULL, NULL },
    };
    int modes = 0;
    if (otb_opts_parse(argc, argv, opts) == 0)
        modes = (o->produce != NULL) + (o->drive != NULL) + o->startup_only;
    if (modes != 1 || !o->optally || !o->data || !o->ingest || o->batch == 0 ||
        o->batch > OT_BATCH_MAX_EVENTS || o->window < 1 || o->rate < 0) {
        otb_usage("otb_e2e --optally BIN --data DIR --ingest EP [--name ROW] "
                  "(--produce F.jsonl | --drive F.bin [--batch N] [--window W] [--rate R] | "
                  "--startup-only)");
        return -1;
    }
    return 0;
}

/* Check that the producer seals batches by count, not by its byte cap, so
 * that tag / batch numbers them (1 tag byte and up to 5 length bytes per
 * event). Returns 0, or -1 (said on stderr). */
static int
s_check_batch(size_t batch, size_t max_len)
{
    if (batch * (max_len + 6) + 16 <= OT_PRODUCER_BATCH_BYTES)
        return 0;
    fprintf(stderr, "bench: --batch %zu of events up to %zu bytes passes the producer's 1 MiB "
            "batch: use at most %zu\n", batch, max_len,
            (size_t)(OT_PRODUCER_BATCH_BYTES - 16) / (max_len + 6));
    return -1;
}

/* Start the consumer, feed it (evs: the decoded events of --drive, n of
 * them), stop it, and print the RESULT line. Returns main's exit status. */
static int
s_run(const s_opts *o, Optally__OperationEvent **evs, size_t n)
{
    const char *input = o->produce ? o->produce : o->drive;
    long long nev = input ? otb_meta_get(input, "events") : 0;
    long long distinct = input ? otb_meta_get(input, "distinct") : 0;
    s_consumer c = { 0 };
    double startup = 0;
    if (s_consumer_start(o, &c, &startup) != 0)
        return 2;
    if (o->startup_only) {
        otb_proc p0;
        otb_proc_read(c.pid, &p0);
        int st = s_consumer_stop(&c);
        otb_result(o->name, "startup_s=%.3f\trss_anon_kb=%" PRIu64 "\trss_kb=%" PRIu64
                   "\tcpu_s=%.2f\texit=%d", startup, p0.rss_anon_kb, p0.rss_kb, p0.cpu_s, st);
        return st == 0 ? 0 : 1;
    }
    otb_span sp;
    otb_span_begin(&sp, c.pid, o->data);
    double feeder_cpu = 0;
    s_drive_out d = { 0 };
    int frc;
    if (o->produce) {
        frc = s_feed_produce(o, &feeder_cpu);
    } else {
        frc = s_feed_drive(o, evs, n, &d);
        feeder_cpu = d.cpu_s;
    }
    otb_span_end(&sp);
    if (o->drive)
        sp.secs = d.secs;   /* the driver's own clock: first submit to last ack */
    long long txns = s_last_txnid(o->data);
    uint64_t du = otb_du(o->data);
    int st = s_consumer_stop(&c);
    bool ok = frc == 0 && st == 0;
    if (o->drive && !otb_meta_check(o->drive, d.st, "bench: driver"))
        ok = false;
    if (st != 0)
        fprintf(stderr, "bench: consumer exit status %d (expected 0)\n", st);
    char worst[256] = "-";
    if (o->drive) {
        size_t w = 0;
        for (int k = 0; k < S_WORST && d.worst_ms[k] > 0; k++)
            w += (size_t)snprintf(worst + w, sizeof worst - w, "%s%.0fms@%zu", k ? "," : "",
                                  d.worst_ms[k], d.worst_batch[k] * o->batch);
    }
    char common[512];
    otb_result(o->name,
               "%s\tdistinct=%lld\tcpu_s=%.2f\tcpu_consumer_s=%.2f\tcpu_feeder_s=%.2f"
               "\trss_anon_ready_kb=%" PRIu64 "\trss_anon_end_kb=%" PRIu64 "\tdu=%" PRIu64
               "\ttxns=%lld\tstartup_s=%.3f\tp50_ms=%.2f\tp99_ms=%.2f\tp999_ms=%.2f\tmax_ms=%.2f"
               "\tworst=%s\tbatch=%zu\twindow=%d\trate=%.0f\tok=%d",
               otb_span_fields(&sp, nev > 0 ? (uint64_t)nev : 0, common, sizeof common), distinct,
               otb_span_cpu(&sp) + feeder_cpu, otb_span_cpu(&sp), feeder_cpu, sp.p0.rss_anon_kb,
               sp.p1.rss_anon_kb, du, txns > 0 ? txns - 1 : txns, startup, o->drive ? d.p50 : -1,
               o->drive ? d.p99 : -1, o->drive ? d.p999 : -1, o->drive ? d.lat_max : -1, worst,
               o->batch, o->window, o->rate, ok);
    return ok ? 0 : 1;
}

int
main(int argc, char **argv)
{
    s_opts o = { 0 };
    if (s_parse(argc, argv, &o) != 0)
        return 64;
    signal(SIGPIPE, SIG_IGN);
    otb_events ev = { 0 };
    s_arena_chunk *arena = NULL;
    Optally__OperationEvent **evs = NULL;
    size_t max_len = 0;
    int rc = 2;
    if (o.drive && (otb_events_open(o.drive, &ev) != 0 ||
                    s_decode_all(&ev, &arena, &evs, &max_len) != 0))
        goto out;
    if (o.drive && s_check_batch(o.batch, max_len) != 0) {
        rc = 64;
        goto out;
    }
    rc = s_run(&o, evs, ev.n);
out:
    otb_events_close(&ev);
    s_arena_free(&arena);
    return rc;
}
