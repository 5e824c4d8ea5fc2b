/*
 * cmd_log: `optally log export` (the event log out to a file) and `optally
 * log import` (a log file back into a consumer: the reading and sending of
 * `optally produce`, send_files.c, with pb as the default format).
 *
 * NAME
 *     optally log export - write the stored event log to a file
 *     optally log import - send a log file to a consumer
 *
 * SYNOPSIS
 *     optally log export [--data DIR] [--from-seq N] [--to-seq M]
 *                        [--since DATE] [--until DATE] [--out FILE]
 *                        [--format pb|json] [--quiet]
 *     optally log import [the options of `optally produce`; --format
 *                        defaults to pb] FILE ...|-
 *
 * DESCRIPTION
 *     Every stored revision, in ingest order, as length-delimited LogRecord
 *     messages (pb, the default: each record is its varint byte length
 *     followed by the LogRecord, as protobuf's writeDelimitedTo writes
 *     them), or as JSON Lines (json: the proto3 JSON form of each
 *     LogRecord, field names as in the .proto; ot_json_from_logrec). See
 *     README.md, "The log file format". Import reads either back
 *     (event_source.h) and tells each outcome as produce does.
 *
 * Invariants:
 *  1. pb output is the stored value itself: the log's LMDB value is a
 *     packed LogRecord, so export copies bytes and decodes nothing (except
 *     occurred_on, when --since/--until ask for it).
 *  2. The range is fixed when the export starts (the last seq then), so an
 *     export of a live store ends, and holds a prefix of the log with no gap.
 *  3. --out FILE is written whole or not at all: a temporary file beside it,
 *     fsync'd, then renamed over FILE.
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
#include <unistd.h>

#include "args.h"
#include "cli.h"
#include "log_filter.h"
#include "outcome.h"
#include "ot_delim.h"
#include "ot_error.h"
#include "ot_json.h"
#include "ot_store.h"
#include "producer_opts.h"
#include "progress.h"
#include "send_files.h"
#include "store_arg.h"

#define S_CHUNK      65536          /* records per read transaction */
#define S_OUTBUF     (1u << 20)     /* output buffer, bytes */

typedef enum { S_PB, S_JSON } s_format;

/* Buffered output to a file descriptor: one write(2) per MiB. */
typedef struct s_out {
    int fd;
    uint8_t *buf;
    size_t len;
    uint64_t total;         /* bytes written so far, buffered included */
    int err;                /* sticky write error */
} s_out;

typedef struct s_export {
    s_format fmt;
    s_out out;
    ot_buf line;            /* JSON: the line being built */
    uint64_t records;
    uint64_t first, last;   /* seq range, for progress */
    uint64_t seq;           /* last seq written */
    ot_progress prog;
} s_export;

static void
s_export_help(FILE *f)
{
    fputs(
"usage: optally log export [--data DIR] [--from-seq N] [--to-seq M]\n"
"                          [--since DATE] [--until DATE] [--out FILE]\n"
"                          [--format pb|json] [--quiet]\n"
"\n"
"Write the stored event log: every stored revision (STORED and SUPERSEDED\n"
"events and point-in-time figures), in ingest order, with its ingest seq,\n"
"receive time and producer.\n"
"Reads the store read-only: works while the consumer runs, and exports the\n"
"log as it stood when the export began.\n"
"\n"
"  --data DIR       data directory (default $OPTALLY_DATA, else ./optally-data)\n"
"  --from-seq N     first log seq to write (default 1)\n"
"  --to-seq M       last log seq to write (default: the last one)\n"
"  --since DATE     only records whose event occurred_on >= DATE (YYYY-MM-DD)\n"
"  --until DATE     only records whose event occurred_on <= DATE\n"
"                   (dates select each revision by its own occurred_on; a\n"
"                   figure by its as_of)\n"
"  --out FILE       write FILE (complete or not at all) instead of stdout\n"
"  --format F       pb (default): length-delimited LogRecord messages, each a\n"
"                   varint byte length then the record (protobuf's\n"
"                   writeDelimitedTo / parseDelimitedFrom format);\n"
"                   json: JSON Lines, one LogRecord a line:\n"
"                   {\"seq\":N,\"received_at\":MS,\"producer\":\"BASE64\",\"event\":{...}}\n"
"                   (a figure's record: \"figure\":{...} instead of \"event\")\n"
"  -q, --quiet      no progress, no summary on stderr\n"
"  -h, --help       this text\n"
"\n"
"Read it back with `optally log import FILE` (or `optally produce --format pb`).\n"
"pb output is refused on a terminal: redirect it or use --out.\n"
"\n"
"Exit status: 0 ok; 2 store missing or unreadable, or output cannot be\n"
"written; 64 usage error.\n", f);
}

static void
s_import_help(FILE *f)
{
    fputs(
"usage: optally log import [--to ENDPOINT] [--format pb|json] [--batch N]\n"
"                          [--timeout-ms T] [--retries R] [--window W]\n"
"                          [--curve-secret FILE --server-key FILE]\n"
"                          [--quiet] FILE ...|-\n"
"\n"
"Send the events and figures of a log file written by `optally log export` to\n"
"a consumer, in the file's order, and report each outcome (\"-\" reads standard\n"
"input).\n"
"The consumer deduplicates: importing the same file twice changes nothing\n"
"(the second run answers DUPLICATE), and an interrupted import is finished by\n"
"running it again. The target gives each event its own log seq and receive\n"
"time; the file's are not kept.\n"
"\n"
"  --to ENDPOINT      consumer endpoint (default $OPTALLY_INGEST, else\n"
"                     " OT_CLI_INGEST_DEFAULT ")\n"
"  --format F         pb (default): length-delimited LogRecord messages;\n"
"                     json: JSON Lines of LogRecords (or of bare events)\n"
OT_CLI_PRODUCER_HELP
"  -q, --quiet        no per-record messages, no progress\n"
"  -h, --help         show this help\n"
"\n"
"A truncated or corrupted file: the first bad record is reported as\n"
"  FILE: bad record at byte offset N: REASON\n"
"and reading of that FILE stops there; every record before it is sent and\n"
"stays stored. Records that decode but are invalid are rejected by the\n"
"consumer one by one (FILE: record N: rejected: REASON: TEXT).\n"
"\n"
OT_CLI_OUTCOME_HELP
"(rejected includes a bad record).\n"
"\n"
"Exit status: 0 all stored/duplicate/superseded/stale; 1 some rejected, or a\n"
"bad record; 2 consumer did not answer, a FILE cannot be opened or read, or\n"
"another runtime failure; 64 usage error.\n", f);
}

static void
s_log_help(FILE *f)
{
    fputs(
"usage: optally log export [options]     write the stored log to a file\n"
"       optally log import FILE [options] send a log file to a consumer\n"
"\n"
"`optally log export --help` and `optally log import --help` describe each.\n"
"Exit status: see each; 64 usage error.\n", f);
}


/* ---- output -------------------------------------------------------------- */

/* write(2) all n bytes, unless an earlier write failed. */
static void
s_write_all(s_out *o, const uint8_t *p, size_t n)
{
    size_t off = 0;
    while (o->err == 0 && off < n) {
        ssize_t w = write(o->fd, p + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            o->err = errno;
        else
            off += (size_t)w;
    }
}

static void
s_out_flush(s_out *o)
{
    s_write_all(o, o->buf, o->len);
    o->len = 0;
}

static void
s_out_put(s_out *o, const void *p, size_t n)
{
    o->total += n;
    if (o->len + n > S_OUTBUF)
        s_out_flush(o);
    if (n > S_OUTBUF) {   /* larger than the buffer: straight through */
        s_write_all(o, p, n);
        return;
    }
    memcpy(o->buf + o->len, p, n);
    o->len += n;
}

/* ---- records ------------------------------------------------------------- */

/* The stored record rec (len bytes) as one JSON line, '\n' included, in
 * b (emptied first): "event":{...} or, for a point-in-time figure,
 * "figure":{...}. Returns 0, OT_ECORRUPT (rec does not decode, or holds
 * neither or both) or ENOMEM. */
static int
s_record_json(ot_buf *b, const uint8_t *rec, size_t len)
{
    Optally__LogRecord *r = optally__log_record__unpack(NULL, len, rec);
    int rc = r && !r->event != !r->figure ? 0 : OT_ECORRUPT;
    b->len = 0;
    if (rc == 0)
        rc = ot_json_from_logrec(b, r);
    if (rc == 0)
        rc = ot_buf_append(b, "\n", 1);
    if (r)
        optally__log_record__free_unpacked(r, NULL);
    return rc;
}

static int
s_record(void *ctx, uint64_t seq, const uint8_t *rec, size_t len)
{
    s_export *x = ctx;
    int rc = 0;
    if (x->fmt == S_PB) {
        uint8_t hdr[OT_DELIM_VARINT_MAX];
        s_out_put(&x->out, hdr, ot_delim_put_len(hdr, len));
        s_out_put(&x->out, rec, len);   /* invariant 1 */
    } else {
        rc = s_record_json(&x->line, rec, len);
        if (rc == 0)
            s_out_put(&x->out, x->line.data, x->line.len);
    }
    x->seq = seq;
    x->records++;
    if ((x->records & 4095) == 0)
        ot_progress_update(&x->prog, seq - x->first + 1, x->last - x->first + 1);
    return rc ? rc : x->out.err;
}

/* ---- the command --------------------------------------------------------- */

#define S_PROG "optally log export"

typedef struct s_args {
    const char *data, *out;
    ot_log_filter f;
    s_format fmt;
    bool quiet;
} s_args;

/* One flag c (what getopt_long returned) with its value arg: an
 * ot_cli_flag_fn (args.h). */
static int
s_flag(void *ctx, int c, const char *arg)
{
    s_args *a = ctx;
    if (OT_CLI_LOG_FILTER_FLAG(c))
        return ot_cli_log_filter_opt(S_PROG, c, arg, &a->f) ? OT_EXIT_USAGE : -1;
    switch (c) {
    case 'd': a->data = arg; return -1;
    case 'o': a->out = arg; return -1;
    case 'q': a->quiet = true; return -1;
    case 'f': {
        static const char *const formats[] = { "pb", "json", NULL };   /* s_format's order */
        int i;
        if (ot_cli_flag_choice(S_PROG, "--format", arg, formats, &i))
            return OT_EXIT_USAGE;
        a->fmt = (s_format)i;
        return -1;
    }
    default:
        return OT_CLI_FLAG_UNKNOWN;
    }
}

/* Returns -1 to go on, or the exit code. */
static int
s_parse(int argc, char **argv, s_args *a)
{
    static const struct option longs[] = {
        OT_CLI_LOG_FILTER_OPTIONS,
        { "data", required_argument, NULL, 'd' },
        { "out", required_argument, NULL, 'o' },
        { "format", required_argument, NULL, 'f' },
        { "quiet", no_argument, NULL, 'q' },
        { NULL, 0, NULL, 0 },
    };
    static const ot_cli_parser parser = { S_PROG, "q", longs, s_flag, s_export_help };
    int code = ot_cli_parse(&parser, argc, argv, a, NULL);
    if (code >= 0)
        return code;
    if (ot_cli_log_filter_check(S_PROG, &a->f))
        return OT_EXIT_USAGE;
    if (a->fmt == S_PB && !a->out && isatty(STDOUT_FILENO))
        return ot_cli_usage_error(S_PROG, "refusing to write binary records to a terminal; "
                                  "redirect stdout, or use --out FILE or --format json");
    return -1;
}

/* Walk the range in chunks of S_CHUNK records, one read transaction each. */
static int
s_export_all(ot_store *s, s_export *x, ot_log_filter f)
{
    uint64_t resume;
    int rc;
    do {
        rc = ot_store_log_scan(s, &f, S_CHUNK, s_record, x, &resume);
        f.from_seq = resume;
    } while (rc == 0 && resume != 0);
    return rc;
}

/* Open the output: stdout, or a temporary file beside FILE (invariant 3).
 * OUT: *tmp (malloc'd name, NULL for stdout). */
static int
s_open_out(const char *out, s_out *o, char **tmp)
{
    *tmp = NULL;
    if (!out || !strcmp(out, "-")) {
        o->fd = STDOUT_FILENO;
        return 0;
    }
    size_t n = strlen(out) + 32;
    if (!(*tmp = malloc(n)))
        return ENOMEM;
    snprintf(*tmp, n, "%s.tmp.%ld", out, (long)getpid());
    o->fd = open(*tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (o->fd < 0) {
        int e = errno;
        free(*tmp);
        *tmp = NULL;
        return e;
    }
    return 0;
}

/* Flush, and for a file: fsync, close, rename over out (or remove the
 * temporary file when anything failed). Returns 0 or an errno. */
static int
s_close_out(s_out *o, const char *out, char *tmp, int rc)
{
    s_out_flush(o);
    if (rc == 0)
        rc = o->err;
    if (!tmp)
        return rc;
    if (rc == 0 && fsync(o->fd) != 0)
        rc = errno;
    if (close(o->fd) != 0 && rc == 0)
        rc = errno;
    if (rc == 0 && rename(tmp, out) != 0)
        rc = errno;
    if (rc != 0)
        unlink(tmp);
    free(tmp);
    return rc;
}

/* Export the range into the opened output, then close it (invariant 3).
 * Returns 0 or the error, told here. */
static int
s_export_into(const s_args *a, ot_store *s, s_export *x, char *tmp)
{
    int rc = 0;
    ot_progress_init(&x->prog, "export", "records", a->quiet);
    if (a->f.to_seq >= x->first)   /* else an empty log, or a range past its end */
        rc = s_export_all(s, x, a->f);
    ot_progress_clear(&x->prog);
    if (rc == OT_ECORRUPT)
        fprintf(stderr, S_PROG ": log record after seq %" PRIu64 " does not decode\n", x->seq);
    else if (rc != 0 && rc != x->out.err)
        fprintf(stderr, S_PROG ": %s\n", ot_strerror(rc));
    int crc = s_close_out(&x->out, a->out, tmp, rc);
    if ((crc != 0 && rc == 0) || (rc != 0 && rc == x->out.err)) {
        rc = rc ? rc : crc;
        fprintf(stderr, S_PROG ": cannot write %s: %s\n",
                a->out ? a->out : "standard output", strerror(rc));
    }
    return rc;
}

/* The range, fixed now (invariant 2: nothing committed later is
 * exported). Returns 0 or the store's error, told here. */
static int
s_fix_range(ot_store *s, s_args *a, s_export *x)
{
    uint64_t last = 0;
    int rc = ot_store_log_last(s, &last);
    if (rc != 0) {
        fprintf(stderr, S_PROG ": %s\n", ot_strerror(rc));
        return rc;
    }
    if (!a->f.to_seq || a->f.to_seq > last)
        a->f.to_seq = last;
    x->first = a->f.from_seq ? a->f.from_seq : 1;
    x->last = a->f.to_seq > x->first ? a->f.to_seq : x->first;
    return 0;
}

static void
s_export_summary(const s_export *x)
{
    double secs = (double)ot_progress_elapsed_ms(&x->prog) / 1000.0;
    fprintf(stderr, S_PROG ": %" PRIu64 " records, %" PRIu64 " bytes"
            " (%.1f bytes/record), %.2f s, %.0f records/s\n", x->records, x->out.total,
            x->records ? (double)x->out.total / (double)x->records : 0.0, secs,
            secs > 0 ? (double)x->records / secs : 0.0);
}

static int
s_export_cmd(int argc, char **argv)
{
    s_args a = { .data = ot_cli_data_default(), .fmt = S_PB };
    int code = s_parse(argc, argv, &a);
    if (code >= 0)
        return code;
    ot_store *s = NULL;
    ot_store_options so = { .readonly = true };
    if (ot_cli_store_open(S_PROG, a.data, &so, &s) != 0)
        return OT_EXIT_FAILURE;
    s_export x = { .fmt = a.fmt };
    char *tmp = NULL;
    int rc = s_fix_range(s, &a, &x);
    if (rc == 0 && !(x.out.buf = malloc(S_OUTBUF))) {
        rc = ENOMEM;
        fprintf(stderr, S_PROG ": out of memory\n");
    } else if (rc == 0 && (rc = s_open_out(a.out, &x.out, &tmp)) != 0) {
        fprintf(stderr, S_PROG ": cannot create %s: %s\n", a.out, strerror(rc));
    }
    if (rc == 0)
        rc = s_export_into(&a, s, &x, tmp);
    if (rc == 0 && !a.quiet)
        s_export_summary(&x);
    free(x.out.buf);
    ot_buf_free(&x.line);
    ot_store_close(&s);
    return rc == 0 ? OT_EXIT_OK : OT_EXIT_FAILURE;
}

static int
s_import_cmd(int argc, char **argv)
{
    static const ot_cli_send_spec spec = {
        .prog = "optally log import", .label = "import", .pb = true, .need_files = true,
        .help = s_import_help,
    };
    return ot_cli_send_files(argc, argv, &spec);
}

int
ot_cmd_log(int argc, char **argv)
{
    if (argc < 2)
        return ot_cli_usage_error("optally log", "which subcommand? export or import");
    if (!strcmp(argv[1], "export"))
        return s_export_cmd(argc - 1, argv + 1);
    if (!strcmp(argv[1], "import"))
        return s_import_cmd(argc - 1, argv + 1);
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        s_log_help(stdout);
        return OT_EXIT_OK;
    }
    return ot_cli_usage_error("optally log", "unknown subcommand '%s' (export or import)", argv[1]);
}
