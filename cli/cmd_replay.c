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
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "ot_error.h"
#include "ot_event.h"
#include "ot_producer.h"
#include "ot_store.h"
#include "progress.h"

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
    uint64_t stored, duplicate, superseded, stale, rejected;
    s_slot *ring;
    size_t cap;
    uint64_t submitted;     /* ordinals handed to the producer */
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
    const char *curve_secret, *server_key;   /* CURVE key files (cli_keys.c) */
    ot_log_filter f;
    double rate;            /* events/s, 0 = unlimited */
    bool batch_set;
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
"and running it again is safe: it ends identical to the source.\n"
"\n"
"  --to ENDPOINT      the target consumer (required)\n"
"  --data DIR         source data directory (default $OPTALLY_DATA, else\n"
"                     ./optally-data)\n"
"  --from-seq N       first log seq to send (default 1)\n"
"  --to-seq M         last log seq to send (default: the last one when the\n"
"                     replay starts)\n"
"  --since DATE       only records whose event occurred_on >= DATE (YYYY-MM-DD)\n"
"  --until DATE       only records whose event occurred_on <= DATE\n"
"                     (dates select each revision by its own occurred_on)\n"
"  --rate N[/s]       send at most N events a second (batches then hold at\n"
"                     most N/10 events, so events leave every ~100 ms)\n"
"  --checkpoint FILE  resume from FILE and keep it up to date: it holds the\n"
"                     highest seq up to which the target answered every record\n"
"                     (rewritten atomically each second and at the end); a new\n"
"                     run starts after it. Use the same --to and filters when\n"
"                     resuming; remove FILE to start over.\n"
"  --batch N          events per batch, 1..10000 (default 1000)\n"
"  --timeout-ms T     wait for an answer per attempt, ms (default 5000)\n"
"  --retries R        resends of an unanswered batch (default 3)\n"
"  --window W         batches in flight, 1..1024 (default 8)\n"
"  --curve-secret FILE  this client's key pair (optally keygen) for a CURVE\n"
"                     target; with --server-key FILE, the target's .pub (env\n"
"                     OPTALLY_CURVE_SECRET, OPTALLY_SERVER_KEY)\n"
"  -q, --quiet        no per-event messages, no progress\n"
"  -h, --help         this text\n"
"\n"
"Output: one summary line on stdout,\n"
"  stored N, duplicate N, superseded N, stale N, rejected N\n"
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
    switch (status) {
    case OPTALLY__INGEST_STATUS__STORED: r->stored++; break;
    case OPTALLY__INGEST_STATUS__DUPLICATE: r->duplicate++; break;
    case OPTALLY__INGEST_STATUS__SUPERSEDED: r->superseded++; break;
    case OPTALLY__INGEST_STATUS__STALE: r->stale++; break;
    default: {
        r->rejected++;
        if (r->quiet)
            break;
        const ProtobufCEnumValue *v =
            protobuf_c_enum_descriptor_get_value(&optally__reject_reason__descriptor, reason);
        ot_progress_clear(&r->prog);
        fprintf(stderr, "seq %" PRIu64 ": rejected: %s: %s\n", slot->seq,
                v ? v->name : "UNKNOWN", text ? text : "");
        break;
    }
    }
    while (r->done < r->submitted && r->ring[r->done % r->cap].answered) {
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
    int64_t now = ot_cli_mono_ms();
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
    if (!lr || !lr->event) {
        if (lr)
            optally__log_record__free_unpacked(lr, NULL);
        ot_progress_clear(&r->prog);
        fprintf(stderr, S_PROG ": log record %" PRIu64 " does not decode\n", seq);
        return OT_ECORRUPT;
    }
    int rc = 0;
    if (r->submitted - r->done >= r->cap)
        rc = ot_producer_flush(p);
    if (rc == 0) {
        s_slot *slot = &r->ring[r->submitted % r->cap];
        slot->seq = seq;
        slot->answered = false;
        rc = ot_producer_submit(p, lr->event, r->submitted++);
    }
    optally__log_record__free_unpacked(lr, NULL);
    return rc;
}

/* The replay proper: chunks of the log, each copied out, then sent. */
static int
s_run(const s_args *a, s_replay *r, ot_store *s, ot_producer *p, const char *endpoint,
      uint64_t first, uint64_t last)
{
    s_chunk *c = calloc(1, sizeof *c);
    if (!c)
        return ENOMEM;
    ot_log_filter f = a->f;
    f.from_seq = first;
    f.to_seq = last;
    int64_t t0 = ot_cli_mono_ms(), saved = t0;
    uint64_t sent = 0;
    int rc = 0;
    while (rc == 0 && f.from_seq && !s_stop) {
        c->n = c->len = 0;
        uint64_t resume;
        rc = ot_store_log_scan(s, &f, S_CHUNK, s_copy, c, &resume);
        f.from_seq = resume;
        for (size_t i = 0; rc == 0 && i < c->n && !s_stop; i++) {
            s_pace(a, t0, sent++);
            rc = s_send(r, p, c->seq[i], c->bytes + c->off[i], c->size[i]);
            ot_progress_update(&r->prog, c->seq[i] - first + 1, last - first + 1);
            if (a->checkpoint && ot_cli_mono_ms() - saved >= S_CHECKPOINT_MS) {
                saved = ot_cli_mono_ms();
                if (r->acked_seq >= first && s_checkpoint_write(a->checkpoint, endpoint, r->acked_seq))
                    rc = EIO;
            }
        }
    }
    int frc = ot_producer_flush(p);   /* interrupted or not: wait for the answers */
    if (rc == 0)
        rc = frc;
    /* Every selected record of the range answered: the checkpoint is the
     * range's end, also past trailing records the filters left out. */
    if (rc == 0 && !s_stop && r->done == r->submitted)
        r->acked_seq = last;
    free(c->bytes);
    free(c);
    return rc;
}

/* ---- the command ---------------------------------------------------------- */

static int
s_parse(int argc, char **argv, s_args *a, ot_producer_options *opt)
{
    static const struct option longs[] = {
        { "to", required_argument, NULL, 't' },
        { "data", required_argument, NULL, 'd' },
        { "from-seq", required_argument, NULL, 'F' },
        { "to-seq", required_argument, NULL, 'S' },
        { "since", required_argument, NULL, 's' },
        { "until", required_argument, NULL, 'u' },
        { "rate", required_argument, NULL, 'R' },
        { "checkpoint", required_argument, NULL, 'c' },
        { "batch", required_argument, NULL, 'b' },
        { "timeout-ms", required_argument, NULL, 'T' },
        { "retries", required_argument, NULL, 'r' },
        { "window", required_argument, NULL, 'w' },
        { "curve-secret", required_argument, NULL, 'C' },
        { "server-key", required_argument, NULL, 'K' },
        { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int c;
    long v;
    char *end;
    opterr = 0;
    optind = 0;
    while ((c = getopt_long(argc, argv, ":qh", longs, NULL)) != -1) {
        const char *arg = optarg;
        switch (c) {
        case 't': opt->endpoint = arg; break;
        case 'd': a->data = arg; break;
        case 'c': a->checkpoint = arg; break;
        case 'C': a->curve_secret = arg; break;
        case 'K': a->server_key = arg; break;
        case 'q': a->quiet = true; break;
        case 'F':
        case 'S':
        case 's':
        case 'u': {
            const char *flag = c == 'F' ? "from-seq" : c == 's' ? "since" : c == 'u' ? "until" : "to-seq";
            int code = ot_cli_log_filter_opt(S_PROG, flag, arg, &a->f);
            if (code >= 0)
                return code;
            break;
        }
        case 'R':
            errno = 0;
            a->rate = strtod(arg, &end);
            if (errno || end == arg || (*end && strcmp(end, "/s") != 0) || !(a->rate > 0) ||
                a->rate > 1e9)
                return ot_cli_usage_error(S_PROG, "--rate takes events per second, e.g. 5000 or 5000/s,"
                                     " not '%s'", arg);
            break;
        case 'b':
            if (ot_cli_parse_long(arg, 1, OT_BATCH_MAX_EVENTS, &v))
                return ot_cli_usage_error(S_PROG, "--batch takes 1..%d, not '%s'", OT_BATCH_MAX_EVENTS, arg);
            opt->batch = (size_t)v;
            a->batch_set = true;
            break;
        case 'T':
            if (ot_cli_parse_long(arg, 1, 86400000, &v))
                return ot_cli_usage_error(S_PROG, "--timeout-ms takes 1..86400000, not '%s'", arg);
            opt->timeout_ms = (int)v;
            break;
        case 'r':
            if (ot_cli_parse_long(arg, 0, 1000, &v))
                return ot_cli_usage_error(S_PROG, "--retries takes 0..1000, not '%s'", arg);
            opt->retries = (int)v;
            break;
        case 'w':
            if (ot_cli_parse_long(arg, 1, 1024, &v))
                return ot_cli_usage_error(S_PROG, "--window takes 1..1024, not '%s'", arg);
            opt->window = (int)v;
            break;
        case 'h':
            s_help(stdout);
            return OT_EXIT_OK;
        case ':':
            return ot_cli_usage_error(S_PROG, "%s needs a value", argv[optind - 1]);
        default:
            return ot_cli_usage_error(S_PROG, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return ot_cli_usage_error(S_PROG, "unexpected argument '%s'", argv[optind]);
    if (!opt->endpoint)
        return ot_cli_usage_error(S_PROG, "--to ENDPOINT is required (the consumer to replay to)");
    int fc = ot_cli_log_filter_check(S_PROG, &a->f);
    if (fc >= 0)
        return fc;
    /* Small batches under a rate, so events leave steadily (see --help). */
    if (a->rate > 0) {
        double most = a->rate / 10 < 1 ? 1 : a->rate / 10;
        if ((double)opt->batch > most)
            opt->batch = (size_t)most;
    }
    return -1;
}

static int
s_open_source(const char *data, ot_store **s)
{
    ot_store_options so = { .readonly = true };
    int rc = ot_store_open(data, &so, s);
    if (rc == OT_ENOTFOUND)
        fprintf(stderr, S_PROG ": no store in %s (pass --data)\n", data);
    else if (rc != 0)
        fprintf(stderr, S_PROG ": cannot open store in %s: %s\n", data, ot_strerror(rc));
    return rc;
}

static void
s_report(const s_replay *r, int rc, const ot_producer_options *opt)
{
    if (rc == OT_ETIMEOUT || rc == OT_ETRANSPORT)
        fprintf(stderr, S_PROG ": consumer at %s did not answer after %d retries of %d ms\n",
                opt->endpoint, opt->retries, opt->timeout_ms);
    else if (rc == ENOMEM)
        fprintf(stderr, S_PROG ": out of memory\n");
    else if (rc != 0 && rc != OT_ECORRUPT && rc != EIO)
        fprintf(stderr, S_PROG ": %s\n", ot_strerror(rc));
    if (s_stop)
        fprintf(stderr, S_PROG ": interrupted; answered up to seq %" PRIu64
                "; run again to go on\n", r->acked_seq);
    printf("stored %" PRIu64 ", duplicate %" PRIu64 ", superseded %" PRIu64 ", stale %" PRIu64
           ", rejected %" PRIu64 "\n", r->stored, r->duplicate, r->superseded, r->stale,
           r->rejected);
}

int
ot_cmd_replay(int argc, char **argv)
{
    const char *env = getenv("OPTALLY_DATA");
    s_args a = { .data = env && *env ? env : "./optally-data" };
    s_replay r = { 0 };
    ot_producer_options opt = {
        .batch = 1000, .timeout_ms = 5000, .retries = 3, .window = 8,
        .on_result = s_on_result, .ctx = &r,
    };
    int code = s_parse(argc, argv, &a, &opt);
    if (code >= 0)
        return code;
    r.quiet = a.quiet;
    ot_keypair me, server;
    int kc = ot_cli_client_keys("replay", a.curve_secret, a.server_key, &me, &server);
    if (kc < 0)
        return OT_EXIT_USAGE;
    if (kc > 0) {
        opt.server_key = server.public_key;
        opt.client_public = me.public_key;
        opt.client_secret = me.secret_key;
    }

    uint64_t last = 0, resume_after = 0;
    ot_store *s = NULL;
    if (s_open_source(a.data, &s) != 0)
        return OT_EXIT_FAILURE;
    int rc = ot_store_log_last(s, &last);
    if (rc != 0)
        fprintf(stderr, S_PROG ": %s\n", ot_strerror(rc));
    else if (a.checkpoint)
        rc = s_checkpoint_read(a.checkpoint, opt.endpoint, &resume_after);  /* reports */
    if (rc != 0) {
        ot_store_close(&s);
        return OT_EXIT_FAILURE;
    }
    uint64_t first = a.f.from_seq ? a.f.from_seq : 1;
    if (resume_after >= first)
        first = resume_after + 1;
    if (a.f.to_seq && a.f.to_seq < last)
        last = a.f.to_seq;

    r.cap = ((size_t)opt.window + 2) * opt.batch;
    r.ring = calloc(r.cap, sizeof *r.ring);
    ot_producer *p = NULL;
    if (!r.ring)
        rc = ENOMEM;
    else
        rc = ot_producer_open(&opt, &p);
    memset(&me, 0, sizeof me);   /* the producer keeps its own copy */
    if (rc != 0) {
        free(r.ring);
        ot_store_close(&s);
        if (rc == EINVAL)
            return ot_cli_usage_error(S_PROG, "bad endpoint '%s'", opt.endpoint);
        fprintf(stderr, S_PROG ": cannot connect to %s: %s\n", opt.endpoint, ot_strerror(rc));
        return OT_EXIT_FAILURE;
    }
    struct sigaction sa = { .sa_handler = s_on_signal };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    ot_progress_init(&r.prog, "replay", "records", a.quiet);
    r.acked_seq = first - 1;
    if (rc == 0 && first <= last)
        rc = s_run(&a, &r, s, p, opt.endpoint, first, last);
    ot_progress_clear(&r.prog);
    ot_producer_close(&p);
    ot_store_close(&s);
    int crc = 0;
    if (a.checkpoint && r.acked_seq > resume_after)
        crc = s_checkpoint_write(a.checkpoint, opt.endpoint, r.acked_seq);
    s_report(&r, rc, &opt);
    free(r.ring);
    if (fflush(stdout) != 0 || rc != 0 || crc != 0 || s_stop)
        return OT_EXIT_FAILURE;
    return r.rejected ? OT_EXIT_PROBLEM : OT_EXIT_OK;
}
