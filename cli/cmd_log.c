/*
 * cmd_log: `optally log export` (the event log out to a file) and the
 * dispatch of `optally log import` (implemented beside `optally produce` in
 * cmd_produce.c, whose reading and sending it shares).
 *
 * NAME
 *     optally log export - write the stored event log to a file
 *
 * SYNOPSIS
 *     optally log export [--data DIR] [--from-seq N] [--to-seq M]
 *                        [--since DATE] [--until DATE] [--out FILE]
 *                        [--format pb|json] [--quiet]
 *
 * DESCRIPTION
 *     Every stored revision, in ingest order, as length-delimited LogRecord
 *     messages (pb, the default: each record is its varint byte length
 *     followed by the LogRecord, as protobuf's writeDelimitedTo writes
 *     them), or as JSON Lines (json: the proto3 JSON form of each
 *     LogRecord, field names as in the .proto). See README.md, "The log
 *     file format".
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

#include "cli.h"
#include "ot_delim.h"
#include "ot_error.h"
#include "ot_event.h"
#include "ot_json.h"
#include "ot_store.h"
#include "progress.h"

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
"events), in ingest order, with its ingest seq, receive time and producer.\n"
"Reads the store read-only: works while the consumer runs, and exports the\n"
"log as it stood when the export began.\n"
"\n"
"  --data DIR       data directory (default $OPTALLY_DATA, else ./optally-data)\n"
"  --from-seq N     first log seq to write (default 1)\n"
"  --to-seq M       last log seq to write (default: the last one)\n"
"  --since DATE     only records whose event occurred_on >= DATE (YYYY-MM-DD)\n"
"  --until DATE     only records whose event occurred_on <= DATE\n"
"                   (dates select each revision by its own occurred_on)\n"
"  --out FILE       write FILE (complete or not at all) instead of stdout\n"
"  --format F       pb (default): length-delimited LogRecord messages, each a\n"
"                   varint byte length then the record (protobuf's\n"
"                   writeDelimitedTo / parseDelimitedFrom format);\n"
"                   json: JSON Lines, one LogRecord a line:\n"
"                   {\"seq\":N,\"received_at\":MS,\"producer\":\"BASE64\",\"event\":{...}}\n"
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

static const char s_b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Standard base64 with padding: the proto3 JSON form of bytes. */
static int
s_base64(ot_buf *b, const uint8_t *p, size_t n)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n) v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n) v |= p[i + 2];
        char q[4] = { s_b64[v >> 18], s_b64[(v >> 12) & 63],
                      i + 1 < n ? s_b64[(v >> 6) & 63] : '=', i + 2 < n ? s_b64[v & 63] : '=' };
        rc = ot_buf_append(b, q, 4);
    }
    return rc;
}

/* One LogRecord as a JSON line (proto3 JSON mapping, original field names;
 * absent fields left out, as ot_json_from_event does for the event). */
static int
s_json_line(s_export *x, const uint8_t *rec, size_t len)
{
    Optally__LogRecord *r = optally__log_record__unpack(NULL, len, rec);
    if (!r || !r->event) {
        if (r)
            optally__log_record__free_unpacked(r, NULL);
        return OT_ECORRUPT;
    }
    char *ev = NULL;
    x->line.len = 0;
    int rc = ot_buf_printf(&x->line, "{\"seq\":%" PRIu64 ",\"received_at\":%" PRId64,
                           r->seq, r->received_at);
    if (rc == 0 && r->producer.len > 0) {
        rc = ot_buf_append(&x->line, ",\"producer\":\"", 13);
        if (rc == 0)
            rc = s_base64(&x->line, r->producer.data, r->producer.len);
        if (rc == 0)
            rc = ot_buf_append(&x->line, "\"", 1);
    }
    if (rc == 0)
        rc = ot_json_from_event(r->event, &ev);
    if (rc == 0)
        rc = ot_buf_printf(&x->line, ",\"event\":%s}\n", ev);
    free(ev);
    optally__log_record__free_unpacked(r, NULL);
    if (rc == 0)
        s_out_put(&x->out, x->line.data, x->line.len);
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
        rc = s_json_line(x, rec, len);
    }
    x->seq = seq;
    x->records++;
    if ((x->records & 4095) == 0)
        ot_progress_update(&x->prog, seq - x->first + 1, x->last - x->first + 1);
    return rc ? rc : x->out.err;
}

/* ---- the command --------------------------------------------------------- */


typedef struct s_args {
    const char *data, *out;
    ot_log_filter f;
    s_format fmt;
    bool quiet;
} s_args;

static int
s_parse(int argc, char **argv, s_args *a)
{
    static const struct option longs[] = {
        { "data", required_argument, NULL, 'd' },
        { "from-seq", required_argument, NULL, 'F' },
        { "to-seq", required_argument, NULL, 'T' },
        { "since", required_argument, NULL, 's' },
        { "until", required_argument, NULL, 'u' },
        { "out", required_argument, NULL, 'o' },
        { "format", required_argument, NULL, 'f' },
        { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int c;
    opterr = 0;
    optind = 0;
    while ((c = getopt_long(argc, argv, ":qh", longs, NULL)) != -1) {
        const char *arg = optarg;
        switch (c) {
        case 'd': a->data = arg; break;
        case 'o': a->out = arg; break;
        case 'q': a->quiet = true; break;
        case 'F':
        case 'T':
        case 's':
        case 'u': {
            const char *flag = c == 'F' ? "from-seq" : c == 's' ? "since" : c == 'u' ? "until" : "to-seq";
            int code = ot_cli_log_filter_opt("optally log export", flag, arg, &a->f);
            if (code >= 0)
                return code;
            break;
        }
        case 'f':
            if (!strcmp(arg, "pb"))
                a->fmt = S_PB;
            else if (!strcmp(arg, "json"))
                a->fmt = S_JSON;
            else
                return ot_cli_usage_error("optally log export", "--format is pb or json, not '%s'", arg);
            break;
        case 'h':
            s_export_help(stdout);
            return OT_EXIT_OK;
        case ':':
            return ot_cli_usage_error("optally log export", "%s needs a value", argv[optind - 1]);
        default:
            return ot_cli_usage_error("optally log export", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return ot_cli_usage_error("optally log export", "unexpected argument '%s'", argv[optind]);
    int fc = ot_cli_log_filter_check("optally log export", &a->f);
    if (fc >= 0)
        return fc;
    if (a->fmt == S_PB && !a->out && isatty(STDOUT_FILENO))
        return ot_cli_usage_error("optally log export", "refusing to write binary records to a terminal; "
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

static int
s_export_cmd(int argc, char **argv)
{
    const char *env = getenv("OPTALLY_DATA");
    s_args a = { .data = env && *env ? env : "./optally-data", .fmt = S_PB };
    int code = s_parse(argc, argv, &a);
    if (code >= 0)
        return code;

    ot_store *s = NULL;
    ot_store_options so = { .readonly = true };
    int rc = ot_store_open(a.data, &so, &s);
    if (rc != 0) {
        if (rc == OT_ENOTFOUND)
            fprintf(stderr, "optally log export: no store in %s (pass --data)\n", a.data);
        else
            fprintf(stderr, "optally log export: cannot open store in %s: %s\n", a.data,
                    ot_strerror(rc));
        return OT_EXIT_FAILURE;
    }
    s_export x = { .fmt = a.fmt };
    uint64_t last = 0;
    if ((rc = ot_store_log_last(s, &last)) != 0) {
        fprintf(stderr, "optally log export: %s\n", ot_strerror(rc));
        ot_store_close(&s);
        return OT_EXIT_FAILURE;
    }
    /* Invariant 2: nothing committed after this moment is exported. */
    if (!a.f.to_seq || a.f.to_seq > last)
        a.f.to_seq = last;
    x.first = a.f.from_seq ? a.f.from_seq : 1;
    x.last = a.f.to_seq > x.first ? a.f.to_seq : x.first;
    char *tmp = NULL;
    if (!(x.out.buf = malloc(S_OUTBUF)))
        rc = ENOMEM;
    else if ((rc = s_open_out(a.out, &x.out, &tmp)) != 0)
        fprintf(stderr, "optally log export: cannot create %s: %s\n", a.out, strerror(rc));
    if (rc == 0) {
        ot_progress_init(&x.prog, "export", "records", a.quiet);
        if (a.f.to_seq >= x.first)   /* an empty log, or a range past its end */
            rc = s_export_all(s, &x, a.f);
        ot_progress_clear(&x.prog);
        if (rc == OT_ECORRUPT)
            fprintf(stderr, "optally log export: log record after seq %" PRIu64
                    " does not decode\n", x.seq);
        else if (rc != 0 && rc != x.out.err)
            fprintf(stderr, "optally log export: %s\n", ot_strerror(rc));
        int crc = s_close_out(&x.out, a.out, tmp, rc);
        if (crc != 0 && rc == 0) {
            fprintf(stderr, "optally log export: cannot write %s: %s\n",
                    a.out ? a.out : "standard output", strerror(crc));
            rc = crc;
        } else if (rc != 0 && rc == x.out.err) {
            fprintf(stderr, "optally log export: cannot write %s: %s\n",
                    a.out ? a.out : "standard output", strerror(rc));
        }
    } else if (rc == ENOMEM) {
        fprintf(stderr, "optally log export: out of memory\n");
    }
    if (rc == 0 && !a.quiet) {
        double secs = (double)ot_progress_elapsed_ms(&x.prog) / 1000.0;
        fprintf(stderr, "optally log export: %" PRIu64 " records, %" PRIu64 " bytes"
                " (%.1f bytes/record), %.2f s, %.0f records/s\n", x.records, x.out.total,
                x.records ? (double)x.out.total / (double)x.records : 0.0, secs,
                secs > 0 ? (double)x.records / secs : 0.0);
    }
    free(x.out.buf);
    ot_buf_free(&x.line);
    ot_store_close(&s);
    return rc == 0 ? OT_EXIT_OK : OT_EXIT_FAILURE;
}

int
ot_cmd_log(int argc, char **argv)
{
    if (argc < 2) {
        s_log_help(stderr);
        return OT_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "export"))
        return s_export_cmd(argc - 1, argv + 1);
    if (!strcmp(argv[1], "import"))
        return ot_cmd_log_import(argc - 1, argv + 1);
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        s_log_help(stdout);
        return OT_EXIT_OK;
    }
    fprintf(stderr, "optally log: unknown subcommand '%s'\n\n", argv[1]);
    s_log_help(stderr);
    return OT_EXIT_USAGE;
}
