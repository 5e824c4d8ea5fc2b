/*
 * cmd_replay: `optally replay`, the local store's log re-published to
 * another consumer through the producer library (batches in flight,
 * retries, the acknowledged protocol of `optally produce`).
 *
 * NAME
 *     optally replay - re-publish the stored log to another consumer
 *
 * SYNOPSIS
 *     optally replay --to ENDPOINT [--data DIR] [--from-seq N] [--to-seq M]
 *                    [--since DATE] [--until DATE] [--rate N/s]
 *                    [--checkpoint FILE] [--batch N] [--timeout-ms T]
 *                    [--retries R] [--window W] [--curve-secret FILE
 *                    --server-key FILE] [--quiet]
 *
 * Resuming. The target deduplicates, so a replay run again after an
 * interruption simply re-sends and the events already there come back
 * DUPLICATE (or STALE): the target ends identical to the source either way.
 * --checkpoint FILE only saves the re-sending: it holds the highest seq S
 * such that every selected record up to S has been ANSWERED by the target
 * (an answer comes after the target's commit), and a new run starts at S+1.
 *
 * Invariants:
 *  1. The checkpoint never runs ahead of the answers: records are tagged with
 *     their submission ordinal, answers (which come in any order across
 *     batches) mark a ring of the ordinals in flight, and the checkpoint is
 *     the seq of the last ordinal of the answered prefix. The ring is larger
 *     than what the producer can hold unanswered (window + 1 batches), and a
 *     full ring is drained (flush) rather than overwritten.
 *  2. The checkpoint file is replaced atomically (a temporary file, fsync'd,
 *     renamed), so it is the old value or the new one, never a torn one.
 *  3. The source is read in chunks, one short read transaction each, copied
 *     out before sending: a slow or rate-limited replay never pins pages of
 *     a live consumer's store.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "log_filter.h"
#include "ot_clock.h"
#include "ot_error.h"
#include "ot_producer.h"
#include "ot_store.h"
#include "outcome.h"
#include "producer_opts.h"
#include "progress.h"
#include "store_arg.h"

#define S_PROG           "optally replay"
#define S_CHUNK          4096          /* records per read transaction */
#define S_CHECKPOINT_MS  1000          /* checkpoint file rewritten at most this often */

static volatile sig_atomic_t s_stop;

static void
s_on_signal(int sig)
{
    (void)sig;
    s_stop = 1;
}

/* One submitted record awaiting its answer (invariant 1). */
typedef struct s_slot {
    uint64_t seq;
    bool answered;
} s_slot;

typedef struct s_replay {
    bool quiet;
    ot_cli_outcome out;     /* out.submitted: ordinals handed to the producer */
    s_slot *ring;
    size_t cap;
    uint64_t done;          /* ordinals below this are all answered */
    uint64_t acked_seq;     /* seq of ordinal done - 1 (the checkpoint) */
    ot_progress prog;
} s_replay;

/* Raw records copied out of one read transaction (invariant 3). */
typedef struct s_chunk {
    uint8_t *bytes;
    size_t len, cap;
    uint64_t seq[S_CHUNK];
    size_t off[S_CHUNK], size[S_CHUNK];
    size_t n;
} s_chunk;

typedef struct s_args {
    const char *data, *checkpoint;
    ot_cli_popt po;         /* --to, --batch, ... (producer_opts.h) */
    ot_log_filter f;
    double rate;            /* events/s, 0 = unlimited */
    bool quiet;
} s_args;

static void
s_help(FILE *f)
{
    fputs(
"usage: optally replay --to ENDPOINT [--data DIR] [--from-seq N] [--to-seq M]\n"
"                      [--since DATE] [--until DATE] [--rate N/s]\n"
"                      [--checkpoint FILE] [--batch N] [--timeout-ms T]\n"
"                      [--retries R] [--window W] [--curve-secret FILE\n"
"                      --server-key FILE] [--quiet]\n"
"\n"
"Re-publish the local store's log, in ingest order, to another consumer, with\n"
"the acknowledged protocol of `optally produce` (each batch is answered after\n"
"the target commits it). The local store is read read-only: the local\n"
"consumer may keep running. The target deduplicates, so interrupting a replay\n"
"and running it again is safe: it ends identical to the source. Point-in-time\n"
"figures in the log are sent with the events (EventBatch.figures), counted\n"
"as events in --rate and in the summary.\n"
"\n"
"  --to ENDPOINT      the target consumer (required)\n"
"  --data DIR         source data directory (default $OPTALLY_DATA, else\n"
"                     ./optally-data)\n"
"  --from-seq N       first log seq to send (default 1)\n"
"  --to-seq M         last log seq to send (default: the last one when the\n"
"                     replay starts)\n"
"  --since DATE       only records whose event occurred_on >= DATE (YYYY-MM-DD)\n"
"  --until DATE       only records whose event occurred_on <= DATE\n"
"                     (dates select each revision by its own occurred_on; a\n"
"                     figure by its as_of)\n"
"  --rate N[/s]       send at most N events a second (batches then hold at\n"
"                     most N/10 events, so events leave every ~100 ms)\n"
"  --checkpoint FILE  resume from FILE and keep it up to date: it holds the\n"
"                     highest seq up to which the target answered every record\n"
"                     (rewritten atomically each second and at the end); a new\n"
"                     run starts after it. Use the same --to and filters when\n"
"                     resuming; remove FILE to start over. FILE's directory must\n"
"                     exist and be writable: checked before anything is sent.\n"
OT_CLI_PRODUCER_HELP
"  -q, --quiet        no per-event messages, no progress\n"
"  -h, --help         this text\n"
"\n"
OT_CLI_OUTCOME_HELP
"and on stderr seq N: rejected: REASON: TEXT for each event the target refused.\n"
"SIGINT/SIGTERM stop after the batches in flight are answered (and the\n"
"checkpoint written).\n"
"\n"
"Exit status: 0 every event answered, none rejected; 1 some rejected; 2 the\n"
"target did not answer, the source store is missing or unreadable, the\n"
"checkpoint cannot be read or written, or interrupted; 64 usage error.\n", f);
}



/* ---- answers and the checkpoint ------------------------------------------ */

static void
s_on_result(void *ctx, uint64_t tag, Optally__IngestStatus status,
            Optally__RejectReason reason, const char *text, uint64_t seq)
{
    (void)seq;
    s_replay *r = ctx;
    s_slot *slot = &r->ring[tag % r->cap];
    slot->answered = true;
    if (ot_cli_outcome_count(&r->out, status) && !r->quiet) {
        char where[32];
        snprintf(where, sizeof where, "seq %" PRIu64, slot->seq);
        ot_progress_clear(&r->prog);
        ot_cli_outcome_print_reject(where, reason, text);
    }
    while (r->done < r->out.submitted && r->ring[r->done % r->cap].answered) {
        r->acked_seq = r->ring[r->done % r->cap].seq;
        r->done++;
    }
}

/* Read FILE's seq. OUT: *seq (0 when FILE does not exist). Returns 0 or an
 * errno / EINVAL (not a checkpoint), reported here. */
static int
s_checkpoint_read(const char *path, const char *endpoint, uint64_t *seq)
{
    *seq = 0;
    FILE *f = fopen(path, "r");
    if (!f && errno == ENOENT)
        return 0;
    if (!f) {
        int e = errno;
        fprintf(stderr, S_PROG ": cannot read checkpoint %s: %s\n", path, strerror(e));
        return e;
    }
    char line[4096], to[4096];
    unsigned long long v;
    int rc = 0;
    if (!fgets(line, sizeof line, f) ||
        sscanf(line, "optally-replay-checkpoint seq=%llu to=%4095s", &v, to) != 2) {
        fprintf(stderr, S_PROG ": %s is not a replay checkpoint\n", path);
        rc = EINVAL;
    } else if (strcmp(to, endpoint) != 0) {
        fprintf(stderr, S_PROG ": checkpoint %s belongs to a replay to %s, not %s;"
                " remove it to start over\n", path, to, endpoint);
        rc = EINVAL;
    } else {
        *seq = v;
    }
    fclose(f);
    return rc;
}

/* Before anything is sent: can FILE be replaced as s_checkpoint_write
 * does? Its directory must exist and take a new file: the temporary
 * FILE.tmp is created there and removed (a leftover of a killed run is
 * ours to remove too). Returns 0 or an errno, reported as "cannot write
 * checkpoint FILE: REASON; nothing was sent". */
static int
s_checkpoint_probe(const char *path)
{
    char tmp[4096];
    int rc = 0;
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
        rc = ENAMETOOLONG;
    int fd = rc ? -1 : open(tmp, O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
    if (rc == 0 && fd < 0)
        rc = errno;
    if (fd >= 0) {
        close(fd);
        unlink(tmp);
    }
    if (rc != 0)
        fprintf(stderr, S_PROG ": cannot write checkpoint %s: %s (its directory must exist and"
                " be writable); nothing was sent\n", path, strerror(rc));
    return rc;
}

/* Replace FILE atomically (invariant 2). Returns 0 or an errno (reported). */
static int
s_checkpoint_write(const char *path, const char *endpoint, uint64_t seq)
{
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
        return ENAMETOOLONG;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    int rc = 0;
    if (fd < 0) {
        rc = errno;
    } else {
        char line[4200];
        int n = snprintf(line, sizeof line, "optally-replay-checkpoint seq=%" PRIu64 " to=%s\n",
                         seq, endpoint);
        if (n < 0 || (size_t)n >= sizeof line)
            rc = ENAMETOOLONG;
        else if (write(fd, line, (size_t)n) != n)
            rc = errno ? errno : EIO;
        if (rc == 0 && fsync(fd) != 0)
            rc = errno;
        if (close(fd) != 0 && rc == 0)
            rc = errno;
        if (rc == 0 && rename(tmp, path) != 0)
            rc = errno;
        if (rc != 0)
            unlink(tmp);
    }
    if (rc != 0)
        fprintf(stderr, S_PROG ": cannot write checkpoint %s: %s\n", path, strerror(rc));
    return rc;
}

/* ---- reading and sending ---------------------------------------------------- */

static int
s_copy(void *ctx, uint64_t seq, const uint8_t *rec, size_t len)
{
    s_chunk *c = ctx;
    if (c->cap - c->len < len) {
        size_t cap = c->cap ? c->cap : 1 << 20;
        while (cap - c->len < len)
            cap *= 2;
        uint8_t *b = realloc(c->bytes, cap);
        if (!b)
            return ENOMEM;
        c->bytes = b;
        c->cap = cap;
    }
    memcpy(c->bytes + c->len, rec, len);
    c->seq[c->n] = seq;
    c->off[c->n] = c->len;
    c->size[c->n] = len;
    c->len += len;
    c->n++;
    return 0;
}

/* Sleep until event number i is due under --rate. */
static void
s_pace(const s_args *a, int64_t t0, uint64_t i)
{
    if (a->rate <= 0)
        return;
    int64_t due = t0 + (int64_t)((double)i * 1000.0 / a->rate);
    int64_t now = ot_clock_mono_ms();
    if (due > now) {
        struct timespec ts = { (time_t)((due - now) / 1000), (long)((due - now) % 1000) * 1000000L };
        nanosleep(&ts, NULL);
    }
}

/* Submit one record; a full ring is drained first (invariant 1). */
static int
s_send(s_replay *r, ot_producer *p, uint64_t seq, const uint8_t *rec, size_t len)
{
    Optally__LogRecord *lr = optally__log_record__unpack(NULL, len, rec);
    if (!lr || (!lr->event == !lr->figure)) {   /* exactly one of them */
        if (lr)
            optally__log_record__free_unpacked(lr, NULL);
        ot_progress_clear(&r->prog);
        fprintf(stderr, S_PROG ": log record %" PRIu64 " does not decode\n", seq);
        return OT_ECORRUPT;
    }
    int rc = 0;
    if (r->out.submitted - r->done >= r->cap)
        rc = ot_producer_flush(p);
    if (rc == 0) {
        s_slot *slot = &r->ring[r->out.submitted % r->cap];
        slot->seq = seq;
        slot->answered = false;
        /* a figure record goes in EventBatch.figures of the same batches */
        rc = lr->figure ? ot_producer_submit_figure(p, lr->figure, r->out.submitted++)
                        : ot_producer_submit(p, lr->event, r->out.submitted++);
    }
    optally__log_record__free_unpacked(lr, NULL);
    return rc;
}

/* A checkpoint is due each S_CHECKPOINT_MS. Returns 0, or EIO when it
 * cannot be written (told by s_checkpoint_write). */
static int
s_checkpoint_tick(const s_args *a, s_replay *r, uint64_t first, int64_t *saved)
{
    if (!a->checkpoint || ot_clock_mono_ms() - *saved < S_CHECKPOINT_MS)
        return 0;
    *saved = ot_clock_mono_ms();
    if (r->acked_seq >= first && s_checkpoint_write(a->checkpoint, a->po.opt.endpoint, r->acked_seq))
        return EIO;
    return 0;
}

/* The replay proper: chunks of the log, each copied out, then sent. */
static int
s_run(const s_args *a, s_replay *r, ot_store *s, ot_producer *p, uint64_t first, uint64_t last)
{
    s_chunk *c = calloc(1, sizeof *c);
    if (!c)
        return ENOMEM;
    ot_log_filter f = a->f;
    f.from_seq = first;
    f.to_seq = last;
    int64_t t0 = ot_clock_mono_ms(), saved = t0;
    uint64_t sent = 0;
    int rc = 0;
    while (rc == 0 && f.from_seq && !s_stop) {
        c->n = c->len = 0;
        uint64_t resume;   /* apart from f: the scan sets it before reading f */
        rc = ot_store_log_scan(s, &f, S_CHUNK, s_copy, c, &resume);
        f.from_seq = resume;
        for (size_t i = 0; rc == 0 && i < c->n && !s_stop; i++) {
            s_pace(a, t0, sent++);
            rc = s_send(r, p, c->seq[i], c->bytes + c->off[i], c->size[i]);
            ot_progress_update(&r->prog, c->seq[i] - first + 1, last - first + 1);
            if (rc == 0)
                rc = s_checkpoint_tick(a, r, first, &saved);
        }
    }
    int frc = ot_producer_flush(p);   /* interrupted or not: wait for the answers */
    if (rc == 0)
        rc = frc;
    /* Every selected record of the range answered: the checkpoint is the
     * range's end, also past trailing records the filters left out. */
    if (rc == 0 && !s_stop && r->done == r->out.submitted)
        r->acked_seq = last;
    free(c->bytes);
    free(c);
    return rc;
}

/* ---- the command ---------------------------------------------------------- */

/* --rate N or N/s. Returns 0 or OT_EXIT_USAGE (told). */
static int
s_parse_rate(s_args *a, const char *arg)
{
    char *end;
    errno = 0;
    a->rate = strtod(arg, &end);
    if (errno || end == arg || (*end && strcmp(end, "/s") != 0) || !(a->rate > 0) || a->rate > 1e9)
        return ot_cli_usage_error(S_PROG, "--rate takes events per second, e.g. 5000 or 5000/s,"
                                  " not '%s'", arg);
    return 0;
}

/* One flag c (what getopt_long returned) with its value arg: an
 * ot_cli_flag_fn (args.h). */
static int
s_flag(void *ctx, int c, const char *arg)
{
    s_args *a = ctx;
    if (OT_CLI_PRODUCER_FLAG(c))
        return ot_cli_popt_opt(&a->po, S_PROG, c, arg) ? OT_EXIT_USAGE : -1;
    if (OT_CLI_LOG_FILTER_FLAG(c))
        return ot_cli_log_filter_opt(S_PROG, c, arg, &a->f) ? OT_EXIT_USAGE : -1;
    switch (c) {
    case 'd': a->data = arg; return -1;
    case 'c': a->checkpoint = arg; return -1;
    case 'q': a->quiet = true; return -1;
    case 'R': return s_parse_rate(a, arg) ? OT_EXIT_USAGE : -1;
    default:
        return OT_CLI_FLAG_UNKNOWN;
    }
}

/* Returns -1 to go on, or the exit code. */
static int
s_parse(int argc, char **argv, s_args *a)
{
    static const struct option longs[] = {
        OT_CLI_PRODUCER_OPTIONS,
        OT_CLI_LOG_FILTER_OPTIONS,
        { "data", required_argument, NULL, 'd' },
        { "rate", required_argument, NULL, 'R' },
        { "checkpoint", required_argument, NULL, 'c' },
        { "quiet", no_argument, NULL, 'q' },
        { NULL, 0, NULL, 0 },
    };
    static const ot_cli_parser parser = { S_PROG, "q", longs, s_flag, s_help };
    int code = ot_cli_parse(&parser, argc, argv, a, NULL);
    if (code >= 0)
        return code;
    if (!a->po.opt.endpoint)
        return ot_cli_usage_error(S_PROG, "--to ENDPOINT is required (the consumer to replay to)");
    if (ot_cli_log_filter_check(S_PROG, &a->f))
        return OT_EXIT_USAGE;
    /* Small batches under a rate, so events leave steadily (see --help). */
    if (a->rate > 0) {
        double most = a->rate / 10 < 1 ? 1 : a->rate / 10;
        if ((double)a->po.opt.batch > most)
            a->po.opt.batch = (size_t)most;
    }
    return -1;
}

/* The source's range, after the checkpoint. OUT: *first, *last (none
 * when first > last), *resume_after (the checkpoint's seq, 0 without).
 * Returns 0, or an error told here. */
static int
s_range(const s_args *a, ot_store *s, uint64_t *first, uint64_t *last, uint64_t *resume_after)
{
    *resume_after = 0;
    int rc = ot_store_log_last(s, last);
    if (rc != 0)
        fprintf(stderr, S_PROG ": %s\n", ot_strerror(rc));
    else if (a->checkpoint)
        rc = s_checkpoint_read(a->checkpoint, a->po.opt.endpoint, resume_after);  /* tells */
    if (rc == 0 && a->checkpoint)
        rc = s_checkpoint_probe(a->checkpoint);                                   /* tells */
    if (rc != 0)
        return rc;
    *first = a->f.from_seq ? a->f.from_seq : 1;
    if (*resume_after >= *first)
        *first = *resume_after + 1;
    if (a->f.to_seq && a->f.to_seq < *last)
        *last = a->f.to_seq;
    return 0;
}

/* The ring of invariant 1 and the producer. Returns 0 or the exit code
 * (told). */
static int
s_open_sender(s_args *a, s_replay *r, ot_producer **p)
{
    r->cap = ((size_t)a->po.opt.window + 2) * a->po.opt.batch;
    r->ring = calloc(r->cap, sizeof *r->ring);
    if (!r->ring) {
        fprintf(stderr, S_PROG ": out of memory\n");
        return OT_EXIT_FAILURE;
    }
    a->po.opt.on_result = s_on_result;
    a->po.opt.ctx = r;
    return ot_cli_popt_open(&a->po, S_PROG, p);
}

/* Send first..last, write the last checkpoint, tell how it ended.
 * Returns the exit code. */
static int
s_replay_range(s_args *a, s_replay *r, ot_store *s, ot_producer **p, uint64_t first,
               uint64_t last, uint64_t resume_after)
{
    struct sigaction sa = { .sa_handler = s_on_signal };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    ot_progress_init(&r->prog, "replay", "records", a->quiet);
    r->acked_seq = first - 1;
    int rc = first <= last ? s_run(a, r, s, *p, first, last) : 0;
    ot_progress_clear(&r->prog);
    /* The checkpoint and EIO (it) and OT_ECORRUPT (s_send) were told. */
    if (rc != OT_ECORRUPT && rc != EIO)
        ot_cli_outcome_print_failure(&r->out, S_PROG, rc, &a->po.opt, *p);
    ot_cli_outcome_print_resends(S_PROG, ot_producer_resends(*p), a->quiet);
    ot_producer_close(p);
    int crc = 0;
    if (a->checkpoint && r->acked_seq > resume_after)
        crc = s_checkpoint_write(a->checkpoint, a->po.opt.endpoint, r->acked_seq);
    if (s_stop)
        fprintf(stderr, S_PROG ": interrupted; answered up to seq %" PRIu64
                "; run again to go on\n", r->acked_seq);
    return ot_cli_outcome_finish(&r->out, rc != 0 || crc != 0 || s_stop);
}

int
ot_cmd_replay(int argc, char **argv)
{
    s_args a = { .data = ot_cli_data_default() };
    ot_cli_popt_init(&a.po, NULL);
    int code = s_parse(argc, argv, &a);
    if (code >= 0)
        return code;
    if ((code = ot_cli_popt_keys(&a.po, S_PROG)) != 0)
        return code;
    s_replay r = { .quiet = a.quiet };
    ot_store *s = NULL;
    ot_producer *p = NULL;
    ot_store_options so = { .readonly = true };
    uint64_t first = 0, last = 0, resume_after = 0;
    if (ot_cli_store_open(S_PROG, a.data, &so, &s) != 0 ||
        s_range(&a, s, &first, &last, &resume_after) != 0)
        code = OT_EXIT_FAILURE;
    else if ((code = s_open_sender(&a, &r, &p)) == 0)
        code = s_replay_range(&a, &r, s, &p, first, last, resume_after);
    explicit_bzero(&a.po.me, sizeof a.po.me);   /* when the producer was never opened */
    ot_store_close(&s);
    free(r.ring);
    return code;
}
