/*
 * cmd_produce: `optally produce`, JSON Lines in, outcomes out; a thin layer
 * over producer/ot_producer.
 *
 * NAME
 *     optally produce - send operation events to the consumer
 *
 * SYNOPSIS
 *     optally produce [--to ENDPOINT] [--batch N] [--timeout-ms T]
 *                     [--retries R] [--window W] [--quiet] [FILE ...|-]
 *
 * DESCRIPTION
 *     Reads JSON Lines, one OperationEvent object per line, from each FILE
 *     in order (none, or "-", is standard input), sends them to the consumer
 *     in batches and waits until every batch is answered. Blank lines are
 *     skipped; a line that is not an event object is reported and counted as
 *     rejected, and the rest go on.
 *
 *     --to ENDPOINT    ZeroMQ endpoint of `optally consume`
 *                      (default $OPTALLY_INGEST, else tcp://127.0.0.1:7710)
 *     --batch N        events per batch, 1..10000 (default 1000)
 *     --timeout-ms T   wait for one answer, per attempt (default 5000)
 *     --retries R      resends of an unanswered batch (default 3)
 *     --window W       batches in flight, 1..1024 (default 8)
 *     --quiet, -q      no per-line messages and no progress
 *     --help, -h       this text
 *
 * OUTPUT
 *     stdout, exactly one line at the end:
 *         stored N, duplicate N, superseded N, stale N, rejected N
 *     ("rejected" includes malformed lines). stderr, unless --quiet:
 *         FILE:LINE: malformed: MESSAGE
 *         FILE:LINE: rejected: REASON_NAME: TEXT
 *     and, when stderr is a terminal and the input a regular file, a
 *     progress line redrawn in place and cleared at the end.
 *
 * EXIT STATUS
 *     0 every event answered, none rejected; 1 some rejected or malformed;
 *     2 the consumer did not answer (the summary then counts what was
 *     answered), a FILE cannot be opened or read (checked before anything
 *     is sent), or another runtime failure; 64 usage error.
 *
 * Invariant: a tag packs (index into the run's file list, line number), so
 * every outcome names the line it came from without storing per-line state.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "ot_error.h"
#include "ot_event.h"
#include "ot_json.h"
#include "ot_producer.h"

#define S_DEFAULT_ENDPOINT "tcp://127.0.0.1:7710"
#define S_LINE_BITS        40        /* low tag bits: line number */
#define S_LINE_MASK        ((UINT64_C(1) << S_LINE_BITS) - 1)
#define S_FILES_MAX        (UINT64_C(1) << (64 - S_LINE_BITS))
#define S_PROGRESS_MS      250       /* redraw at most this often */
#define S_STDIN_NAME       "<stdin>"

/* State of one run, shared with the result callback. */
typedef struct s_run {
    char **files;          /* input names, borrowed from argv; "-" is stdin */
    size_t nfiles;
    bool quiet;
    uint64_t stored, duplicate, superseded, stale, rejected; /* rejected includes malformed */
    uint64_t submitted;    /* events handed to the producer */
    uint64_t answered;     /* results received */
    uint64_t lines;        /* lines read, all files */
    bool progress;         /* stderr is a terminal and not --quiet */
    bool progress_file;    /* the current input is a regular file */
    bool drawn;            /* a progress line is on screen */
    int64_t t0, last_draw; /* ms, monotonic */
} s_run;

static int64_t
s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *
s_name(const s_run *r, size_t file)
{
    return strcmp(r->files[file], "-") == 0 ? S_STDIN_NAME : r->files[file];
}

/* Erase the progress line so that a message starts on a clean line. */
static void
s_progress_clear(s_run *r)
{
    if (r->drawn) {
        fputs("\r\033[K", stderr);
        r->drawn = false;
    }
}

static void
s_progress(s_run *r, size_t file)
{
    if (!r->progress || !r->progress_file)
        return;
    int64_t now = s_now_ms();
    if (now - r->last_draw < S_PROGRESS_MS)
        return;
    r->last_draw = now;
    double secs = (double)(now - r->t0) / 1000.0;
    fprintf(stderr, "\r\033[K%s: %" PRIu64 " lines, %" PRIu64 " sent, %" PRIu64
            " answered, %.0f events/s", s_name(r, file), r->lines, r->submitted,
            r->answered, secs > 0 ? (double)r->answered / secs : 0.0);
    r->drawn = true;
}

static void
s_on_result(void *ctx, uint64_t tag, Optally__IngestStatus status,
            Optally__RejectReason reason, const char *text, uint64_t seq)
{
    (void)seq;
    s_run *r = ctx;
    r->answered++;
    switch (status) {
    case OPTALLY__INGEST_STATUS__STORED: r->stored++; return;
    case OPTALLY__INGEST_STATUS__DUPLICATE: r->duplicate++; return;
    case OPTALLY__INGEST_STATUS__SUPERSEDED: r->superseded++; return;
    case OPTALLY__INGEST_STATUS__STALE: r->stale++; return;
    default: break;  /* REJECTED (the producer maps unknown statuses to it) */
    }
    r->rejected++;
    if (r->quiet)
        return;
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&optally__reject_reason__descriptor, reason);
    char num[24];
    snprintf(num, sizeof num, "REASON_%d", (int)reason);
    s_progress_clear(r);
    fprintf(stderr, "%s:%" PRIu64 ": rejected: %s: %s\n", s_name(r, tag >> S_LINE_BITS),
            tag & S_LINE_MASK, v ? v->name : num, text ? text : "");
}

static void
s_usage(FILE *f)
{
    fputs(
"usage: optally produce [--to ENDPOINT] [--batch N] [--timeout-ms T]\n"
"                       [--retries R] [--window W] [--quiet] [FILE ...|-]\n"
"\n"
"Send JSON Lines events (one object per line) to `optally consume` and report\n"
"each outcome. No FILE, or \"-\", reads standard input; blank lines are skipped.\n"
"\n"
"  --to ENDPOINT    consumer endpoint (default $OPTALLY_INGEST, else\n"
"                   " S_DEFAULT_ENDPOINT ")\n"
"  --batch N        events per batch, 1..10000 (default 1000)\n"
"  --timeout-ms T   wait for an answer per attempt, ms (default 5000)\n"
"  --retries R      resends of an unanswered batch (default 3)\n"
"  --window W       batches in flight, 1..1024 (default 8)\n"
"  -q, --quiet      no per-line messages, no progress\n"
"  -h, --help       show this help\n"
"\n"
"Output: one summary line on stdout,\n"
"  stored N, duplicate N, superseded N, stale N, rejected N\n"
"and on stderr FILE:LINE: malformed: MESSAGE / FILE:LINE: rejected: REASON: TEXT.\n"
"\n"
"Exit status: 0 all stored/duplicate/superseded/stale; 1 some rejected or\n"
"malformed; 2 consumer did not answer, a FILE cannot be opened or read, or\n"
"another runtime failure; 64 usage error.\n", f);
}

/* Report a usage error; returns the usage exit code. */
static int s_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
s_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("optally produce: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs("\nTry 'optally produce --help'.\n", stderr);
    va_end(ap);
    return OT_EXIT_USAGE;
}

/* Parse a decimal integer in [lo, hi]. OUT: *out. Returns 0 or EINVAL. */
static int
s_parse_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return EINVAL;
    *out = v;
    return 0;
}

/* Check that every FILE can be opened for reading before anything is sent,
 * so a typo in a name does not leave half a run behind. */
static int
s_check_files(const s_run *r)
{
    for (size_t i = 0; i < r->nfiles; i++) {
        if (strcmp(r->files[i], "-") == 0)
            continue;
        int fd = open(r->files[i], O_RDONLY);
        struct stat st;
        int e = 0;
        if (fd < 0)
            e = errno;
        else if (fstat(fd, &st) != 0)
            e = errno;
        else if (S_ISDIR(st.st_mode))
            e = EISDIR;
        if (fd >= 0)
            close(fd);
        if (e) {
            fprintf(stderr, "optally produce: cannot open %s: %s\n", r->files[i], strerror(e));
            return e;
        }
    }
    return 0;
}

static bool
s_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return false;
    return true;
}

/* One line: parse it and submit it, or report it as malformed.
 * Returns 0, or the producer's / an allocation error that ends the run. */
static int
s_line(s_run *r, ot_producer *p, size_t file, uint64_t lineno, char *line, size_t n)
{
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    if (s_blank(line, n))
        return 0;
    Optally__OperationEvent *ev = NULL;
    char err[256] = "";
    int rc = ot_json_to_event(line, n, &ev, err, sizeof err);
    if (rc == ENOMEM)
        return rc;
    if (rc) {
        r->rejected++;
        if (!r->quiet) {
            s_progress_clear(r);
            fprintf(stderr, "%s:%" PRIu64 ": malformed: %s\n", s_name(r, file), lineno,
                    err[0] ? err : ot_strerror(rc));
        }
        return 0;
    }
    r->submitted++;
    rc = ot_producer_submit(p, ev, ((uint64_t)file << S_LINE_BITS) | lineno);
    ot_json_event_free(&ev);
    return rc;
}

/* Send every line of one input. Returns 0, an errno for a read failure
 * (reported here), or the error that ended the producer. */
static int
s_file(s_run *r, ot_producer *p, size_t file)
{
    bool is_stdin = strcmp(r->files[file], "-") == 0;
    FILE *f = is_stdin ? stdin : fopen(r->files[file], "r");
    if (!f) {
        int e = errno;
        s_progress_clear(r);
        fprintf(stderr, "optally produce: cannot open %s: %s\n", r->files[file], strerror(e));
        return e;
    }
    struct stat st;
    r->progress_file = fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode);

    char *line = NULL;
    size_t cap = 0;
    uint64_t lineno = 0;
    ssize_t n;
    int rc = 0;
    while (rc == 0 && (errno = 0, n = getline(&line, &cap, f)) >= 0) {
        if (++lineno > S_LINE_MASK) {
            rc = EFBIG;
            break;
        }
        r->lines++;
        rc = s_line(r, p, file, lineno, line, (size_t)n);
        s_progress(r, file);
    }
    if (rc == 0 && !feof(f)) {
        /* getline failed before the end: a read error or ENOMEM */
        rc = errno ? errno : EIO;
        s_progress_clear(r);
        fprintf(stderr, "optally produce: cannot read %s: %s\n", s_name(r, file), strerror(rc));
    } else if (rc == EFBIG) {
        s_progress_clear(r);
        fprintf(stderr, "optally produce: %s: too many lines\n", s_name(r, file));
    }
    free(line);
    if (!is_stdin)
        fclose(f);
    else
        clearerr(stdin);
    return rc;
}

/* Parse the command line into *opt and *r. Returns -1 to go on, or the
 * exit code (0 after --help, 64 on a usage error). */
static int
s_parse(int argc, char **argv, ot_producer_options *opt, s_run *r)
{
    static const struct option longs[] = {
        { "to", required_argument, NULL, 't' },
        { "batch", required_argument, NULL, 'b' },
        { "timeout-ms", required_argument, NULL, 'T' },
        { "retries", required_argument, NULL, 'r' },
        { "window", required_argument, NULL, 'w' },
        { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    long v;
    int c;
    opterr = 0;   /* our own messages, prefixed "optally produce:" */
    optind = 0;   /* glibc: a full reset, even if main used getopt already */
    while ((c = getopt_long(argc, argv, ":qh", longs, NULL)) != -1) {
        const char *arg = optarg;
        switch (c) {
        case 't':
            opt->endpoint = arg;
            break;
        case 'b':
            if (s_parse_int(arg, 1, OT_BATCH_MAX_EVENTS, &v))
                return s_usage_error("--batch takes 1..%d, not '%s'", OT_BATCH_MAX_EVENTS, arg);
            opt->batch = (size_t)v;
            break;
        case 'T':
            if (s_parse_int(arg, 1, 86400000, &v))
                return s_usage_error("--timeout-ms takes 1..86400000, not '%s'", arg);
            opt->timeout_ms = (int)v;
            break;
        case 'r':
            if (s_parse_int(arg, 0, 1000, &v))
                return s_usage_error("--retries takes 0..1000, not '%s'", arg);
            opt->retries = (int)v;
            break;
        case 'w':
            if (s_parse_int(arg, 1, 1024, &v))
                return s_usage_error("--window takes 1..1024, not '%s'", arg);
            opt->window = (int)v;
            break;
        case 'q':
            r->quiet = true;
            break;
        case 'h':
            s_usage(stdout);
            return OT_EXIT_OK;
        case ':':
            return s_usage_error("%s needs a value", argv[optind - 1]);
        default:
            return s_usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    r->files = argv + optind;
    r->nfiles = (size_t)(argc - optind);
    if (r->nfiles >= S_FILES_MAX)
        return s_usage_error("too many files");
    return -1;
}

static void
s_summary(const s_run *r)
{
    printf("stored %" PRIu64 ", duplicate %" PRIu64 ", superseded %" PRIu64 ", stale %" PRIu64
           ", rejected %" PRIu64 "\n", r->stored, r->duplicate, r->superseded, r->stale,
           r->rejected);
}

/* Send every input, then flush. Returns 0 or the error that ended the run
 * (already reported unless it is the producer's). */
static int
s_send_all(s_run *r, ot_producer *p)
{
    static char *stdin_only[] = { "-" };
    if (r->nfiles == 0) {
        r->files = stdin_only;
        r->nfiles = 1;
    }
    int rc = 0;
    for (size_t i = 0; i < r->nfiles && rc == 0; i++)
        rc = s_file(r, p, i);
    int frc = ot_producer_flush(p);  /* after a read error: send what was read */
    return rc ? rc : frc;
}

int
ot_cmd_produce(int argc, char **argv)
{
    s_run r = { 0 };
    const char *env = getenv("OPTALLY_INGEST");
    ot_producer_options opt = {
        .endpoint = env && *env ? env : S_DEFAULT_ENDPOINT,
        .batch = 1000,
        .timeout_ms = 5000,
        .retries = 3,
        .window = 8,
        .on_result = s_on_result,
        .ctx = &r,
    };
    int code = s_parse(argc, argv, &opt, &r);
    if (code >= 0)
        return code;
    if (s_check_files(&r))
        return OT_EXIT_FAILURE;

    ot_producer *p = NULL;
    int rc = ot_producer_open(&opt, &p);
    if (rc == EINVAL)
        return s_usage_error("bad endpoint '%s'", opt.endpoint);
    if (rc) {
        fprintf(stderr, "optally produce: cannot connect to %s: %s\n", opt.endpoint,
                ot_strerror(rc));
        return OT_EXIT_FAILURE;
    }
    r.progress = !r.quiet && isatty(STDERR_FILENO);
    r.t0 = r.last_draw = s_now_ms();

    rc = s_send_all(&r, p);
    s_progress_clear(&r);
    if (rc == OT_ETIMEOUT || rc == OT_ETRANSPORT) {
        fprintf(stderr, "optally produce: consumer at %s did not answer after %d retries"
                " of %d ms; is `optally consume` running?\n", opt.endpoint, opt.retries,
                opt.timeout_ms);
        fprintf(stderr, "optally produce: %" PRIu64 " events sent were not answered\n",
                r.submitted - r.answered);
    } else if (rc == ENOMEM) {
        fprintf(stderr, "optally produce: out of memory\n");
    } else if (rc < 0) {
        fprintf(stderr, "optally produce: %s\n", ot_strerror(rc));
    }
    uint64_t resends = ot_producer_resends(p);
    ot_producer_close(&p);
    if (resends && !r.quiet)
        fprintf(stderr, "optally produce: %" PRIu64 " batch resends\n", resends);

    s_summary(&r);
    if (fflush(stdout) != 0)
        return OT_EXIT_FAILURE;
    if (rc)
        return OT_EXIT_FAILURE;
    return r.rejected ? OT_EXIT_PROBLEM : OT_EXIT_OK;
}
