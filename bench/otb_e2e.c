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
 *   --drive    sends pre-built EventBatch messages of N events from the
 *              binary events file over a DEALER socket, up to W batches in
 *              flight, optionally paced to EV_PER_S (open loop), and times
 *              every batch from its send to its IngestReply (ack latency);
 *   --startup-only  measures start-up over an existing store and stops.
 * Then reads the consumer's counters (CPU, write_bytes, VmHWM, RssAnon),
 * the device's write counter and the LMDB transaction id (commits made),
 * stops the consumer with SIGTERM (it must exit 0), and prints one RESULT
 * line. Exit status 0 only when every count matched.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <lmdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "optally.pb-c.h"
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
        if (strstr(line, "optally consume: ready"))
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
    if (c->pid <= 0)
        return -1;
    kill(c->pid, SIGTERM);
    int st = 0;
    for (int i = 0; i < 6000; i++) {
        pid_t r = waitpid(c->pid, &st, WNOHANG);
        if (r == c->pid)
            break;
        if (i == 5999) {
            fprintf(stderr, "bench: consumer did not stop in 60 s; killing it\n");
            kill(c->pid, SIGKILL);
            waitpid(c->pid, &st, 0);
            st = -1;
        }
        usleep(10000);
    }
    c->pid = 0;
    if (c->thr_started)
        pthread_join(c->thr, NULL);
    if (st == -1 || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
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

/* ---- feeding with the in-process driver -------------------------------- */

static size_t
s_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

/* Pre-built EventBatch messages: one buffer, offsets of each. */
typedef struct s_batches {
    uint8_t *buf;
    size_t *off;            /* nb + 1 offsets */
    size_t *count;          /* events in each */
    size_t nb;
} s_batches;

static int
s_build_batches(const otb_events *ev, size_t batch, s_batches *b)
{
    b->nb = (ev->n + batch - 1) / batch;
    b->buf = malloc(ev->len + ev->n * 4 + b->nb * 12 + 16);
    b->off = calloc(b->nb + 1, sizeof *b->off);
    b->count = calloc(b->nb, sizeof *b->count);
    if (!b->buf || !b->off || !b->count)
        return ENOMEM;
    size_t pos = 0, w = 0, k = 0;
    const uint8_t *d;
    size_t len;
    for (size_t i = 0; i < b->nb; i++) {
        b->off[i] = w;
        for (k = 0; k < batch && otb_events_next(ev, &pos, &d, &len); k++) {
            b->buf[w++] = 0x0a;                      /* field 1, length-delimited */
            w += s_varint(b->buf + w, len);
            memcpy(b->buf + w, d, len);
            w += len;
        }
        b->count[i] = k;
        b->buf[w++] = 0x10;                          /* field 2, varint: batch_id */
        w += s_varint(b->buf + w, i + 1);
    }
    b->off[b->nb] = w;
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
    uint64_t errors;                  /* batch-level errors */
} s_drive_out;

static double
s_cpu_self(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static int
s_handle_reply(zmq_msg_t *m, const s_batches *b, double *tsend, double *lat,
               size_t *nlat, s_drive_out *out)
{
    Optally__IngestReply *r = optally__ingest_reply__unpack(NULL, zmq_msg_size(m),
                                                            zmq_msg_data(m));
    if (!r)
        return -1;
    size_t i = (size_t)r->batch_id - 1;
    int rc = 0;
    if (r->batch_id == 0 || i >= b->nb || tsend[i] == 0) {
        rc = -1;
    } else {
        double l = (otb_now() - tsend[i]) * 1000.0;
        lat[(*nlat)++] = l;
        for (int w = 0; w < S_WORST; w++)
            if (l > out->worst_ms[w]) {
                memmove(out->worst_ms + w + 1, out->worst_ms + w, (S_WORST - 1 - w) * sizeof(double));
                memmove(out->worst_batch + w + 1, out->worst_batch + w,
                        (S_WORST - 1 - w) * sizeof(size_t));
                out->worst_ms[w] = l;
                out->worst_batch[w] = i;
                break;
            }
        tsend[i] = 0;
        if (r->error)
            out->errors++;
        for (size_t k = 0; k < r->n_results; k++)
            out->st[r->results[k]->status < 6 ? r->results[k]->status : 0]++;
    }
    optally__ingest_reply__free_unpacked(r, NULL);
    return rc;
}

/* Send every batch (paced when rate > 0) and wait for every reply. */
static int
s_feed_drive(const s_opts *o, const s_batches *b, s_drive_out *out)
{
    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, ZMQ_DEALER);
    int zero = 0, big = 100000;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(s, ZMQ_SNDHWM, &big, sizeof big);
    zmq_setsockopt(s, ZMQ_RCVHWM, &big, sizeof big);
    if (zmq_connect(s, o->ingest) != 0) {
        fprintf(stderr, "bench: connect %s: %s\n", o->ingest, zmq_strerror(errno));
        return -1;
    }
    double *tsend = calloc(b->nb, sizeof *tsend);
    double *lat = calloc(b->nb, sizeof *lat);
    if (!tsend || !lat)
        return -1;
    size_t next = 0, answered = 0, inflight = 0, nlat = 0;
    double cpu0 = s_cpu_self();
    double t0 = otb_now(), last_reply = t0;
    int rc = 0;
    while (answered < b->nb && rc == 0) {
        double now = otb_now();
        while (next < b->nb && inflight < (size_t)o->window) {
            if (o->rate > 0 && now < t0 + (double)(next * o->batch) / o->rate)
                break;
            tsend[next] = otb_now();
            if (zmq_send(s, b->buf + b->off[next], b->off[next + 1] - b->off[next], 0) < 0) {
                rc = -1;
                break;
            }
            next++;
            inflight++;
        }
        long wait_ms = 100;
        if (o->rate > 0 && next < b->nb && inflight < (size_t)o->window) {
            double due = t0 + (double)(next * o->batch) / o->rate - otb_now();
            /* Sleep at least 1 ms when the next send is not due yet: a
             * zero-timeout poll would spin and take a core from the
             * consumer on this 2-CPU machine. */
            wait_ms = due <= 0 ? 0 : (long)(due * 1000.0) + 1;
        }
        zmq_pollitem_t pi = { s, 0, ZMQ_POLLIN, 0 };
        if (zmq_poll(&pi, 1, wait_ms) < 0 && errno != EINTR) {
            rc = -1;
            break;
        }
        for (;;) {
            zmq_msg_t m;
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, s, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(&m);
                break;
            }
            if (s_handle_reply(&m, b, tsend, lat, &nlat, out) != 0)
                fprintf(stderr, "bench: unexpected reply ignored\n");
            else {
                answered++;
                inflight--;
                last_reply = otb_now();
            }
            zmq_msg_close(&m);
        }
        if (otb_now() - last_reply > 60) {
            fprintf(stderr, "bench: no reply for 60 s (%zu of %zu batches answered)\n",
                    answered, b->nb);
            rc = -1;
        }
    }
    out->secs = otb_now() - t0;
    out->cpu_s = s_cpu_self() - cpu0;
    out->lat_max = otb_percentile(lat, nlat, 100);
    out->p50 = otb_percentile(lat, nlat, 50);
    out->p99 = otb_percentile(lat, nlat, 99);
    out->p999 = otb_percentile(lat, nlat, 99.9);
    free(tsend);
    free(lat);
    zmq_close(s);
    zmq_ctx_term(ctx);
    return rc;
}

static int
s_parse(int argc, char **argv, s_opts *o)
{
    static const struct option longs[] = {
        { "optally", required_argument, NULL, 'o' },
        { "data", required_argument, NULL, 'd' },
        { "ingest", required_argument, NULL, 'i' },
        { "name", required_argument, NULL, 'N' },
        { "produce", required_argument, NULL, 'p' },
        { "drive", required_argument, NULL, 'D' },
        { "startup-only", no_argument, NULL, 's' },
        { "batch", required_argument, NULL, 'b' },
        { "window", required_argument, NULL, 'w' },
        { "rate", required_argument, NULL, 'r' },
        { NULL, 0, NULL, 0 },
    };
    int c;
    o->batch = 1000;
    o->window = 8;
    o->name = "optally";
    while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        switch (c) {
        case 'o': o->optally = optarg; break;
        case 'd': o->data = optarg; break;
        case 'i': o->ingest = optarg; break;
        case 'N': o->name = optarg; break;
        case 'p': o->produce = optarg; break;
        case 'D': o->drive = optarg; break;
        case 's': o->startup_only = true; break;
        case 'b': o->batch = strtoul(optarg, NULL, 10); break;
        case 'w': o->window = atoi(optarg); break;
        case 'r': o->rate = atof(optarg); break;
        default: return -1;
        }
    }
    int modes = (o->produce != NULL) + (o->drive != NULL) + o->startup_only;
    if (!o->optally || !o->data || !o->ingest || modes != 1 || o->batch == 0 ||
        o->batch > 10000 || o->window < 1) {
        fprintf(stderr, "usage: otb_e2e --optally BIN --data DIR --ingest EP [--name ROW] "
                "(--produce F.jsonl | --drive F.bin [--batch N] [--window W] [--rate R] | "
                "--startup-only)\n");
        return -1;
    }
    return 0;
}

int
main(int argc, char **argv)
{
    s_opts o = { 0 };
    if (s_parse(argc, argv, &o) != 0)
        return 64;
    signal(SIGPIPE, SIG_IGN);
    const char *input = o.produce ? o.produce : o.drive;
    long long nev = input ? otb_meta_get(input, "events") : 0;
    long long distinct = input ? otb_meta_get(input, "distinct") : 0;
    otb_events ev = { 0 };
    s_batches b = { 0 };
    if (o.drive && (otb_events_open(o.drive, &ev) != 0 || s_build_batches(&ev, o.batch, &b) != 0))
        return 2;

    s_consumer c = { 0 };
    double startup = 0;
    if (s_consumer_start(&o, &c, &startup) != 0)
        return 2;
    otb_proc p0, p1;
    otb_proc_read(c.pid, &p0);
    if (o.startup_only) {
        int st = s_consumer_stop(&c);
        otb_result(o.name, "startup_s=%.3f\trss_anon_kb=%" PRIu64 "\trss_kb=%" PRIu64
                   "\tcpu_s=%.2f\texit=%d", startup, p0.rss_anon_kb, p0.rss_kb, p0.cpu_s, st);
        return st == 0 ? 0 : 1;
    }
    uint64_t dev0 = otb_dev_written(o.data);
    double t0 = otb_now(), feeder_cpu = 0;
    s_drive_out d = { 0 };
    int frc;
    if (o.produce)
        frc = s_feed_produce(&o, &feeder_cpu);
    else {
        frc = s_feed_drive(&o, &b, &d);
        feeder_cpu = d.cpu_s;
    }
    double secs = o.drive ? d.secs : otb_now() - t0;
    otb_proc_read(c.pid, &p1);
    uint64_t dev1 = otb_dev_written(o.data);
    long long txns = s_last_txnid(o.data);
    uint64_t du = otb_du(o.data);
    int st = s_consumer_stop(&c);
    bool ok = frc == 0 && st == 0;
    if (o.drive) {
        long long want_st = otb_meta_get(o.drive, "stored");
        long long want_dup = otb_meta_get(o.drive, "duplicate");
        long long want_sup = otb_meta_get(o.drive, "superseded");
        if ((long long)d.st[OPTALLY__INGEST_STATUS__STORED] != want_st ||
            (long long)d.st[OPTALLY__INGEST_STATUS__DUPLICATE] != want_dup ||
            (long long)d.st[OPTALLY__INGEST_STATUS__SUPERSEDED] != want_sup || d.errors) {
            fprintf(stderr, "bench: driver got stored %" PRIu64 " duplicate %" PRIu64
                    " superseded %" PRIu64 " stale %" PRIu64 " rejected %" PRIu64
                    " batch errors %" PRIu64 "; expected %lld %lld %lld\n",
                    d.st[1], d.st[2], d.st[3], d.st[4], d.st[5], d.errors, want_st, want_dup,
                    want_sup);
            ok = false;
        }
    }
    if (st != 0)
        fprintf(stderr, "bench: consumer exit status %d (expected 0)\n", st);
    char worst[256] = "-";
    if (o.drive) {
        size_t w = 0;
        for (int k = 0; k < S_WORST && d.worst_ms[k] > 0; k++)
            w += (size_t)snprintf(worst + w, sizeof worst - w, "%s%.0fms@%zu", k ? "," : "",
                                  d.worst_ms[k], d.worst_batch[k] * o.batch);
    }
    otb_result(o.name,
               "events=%lld\tdistinct=%lld\tsecs=%.3f\tevps=%.0f\tcpu_s=%.2f\tcpu_consumer_s=%.2f"
               "\tcpu_feeder_s=%.2f\thwm_kb=%" PRIu64 "\trss_anon_ready_kb=%" PRIu64
               "\trss_anon_end_kb=%" PRIu64 "\twbytes=%" PRIu64 "\twchar=%" PRIu64 "\tdevbytes=%" PRIu64
               "\tdu=%" PRIu64 "\ttxns=%lld\tstartup_s=%.3f\tp50_ms=%.2f\tp99_ms=%.2f"
               "\tp999_ms=%.2f\tmax_ms=%.2f\tworst=%s\tbatch=%zu\twindow=%d\trate=%.0f\tok=%d",
               nev, distinct, secs, (double)nev / secs, p1.cpu_s - p0.cpu_s + feeder_cpu,
               p1.cpu_s - p0.cpu_s, feeder_cpu, p1.hwm_kb, p0.rss_anon_kb, p1.rss_anon_kb,
               p1.write_bytes - p0.write_bytes, p1.wchar - p0.wchar, dev1 - dev0, du, txns > 0 ? txns - 1 : txns,
               startup, o.drive ? d.p50 : -1, o.drive ? d.p99 : -1, o.drive ? d.p999 : -1,
               o.drive ? d.lat_max : -1, worst, o.batch, o.window, o.rate, ok);
    otb_events_close(&ev);
    free(b.buf);
    free(b.off);
    free(b.count);
    return ok ? 0 : 1;
}
