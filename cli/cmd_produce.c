/*
 * cmd_produce: `optally produce` and `optally log import`: JSON Lines or
 * a log file in, outcomes out; a thin layer over producer/ot_producer.
 *
 * NAME
 *     optally produce - send operation events to the consumer
 *     optally log import - send a log file (from `optally log export`)
 *
 * SYNOPSIS
 *     optally produce [--to ENDPOINT] [--format json|pb] [--batch N]
 *                     [--timeout-ms T] [--retries R] [--window W] [--quiet]
 *                     [FILE ...|-]
 *     optally log import [same options; --format defaults to pb] FILE ...|-
 *
 * DESCRIPTION
 *     Reads JSON Lines, one OperationEvent object per line, from each FILE
 *     in order (none, or "-", is standard input), sends them to the consumer
 *     in batches and waits until every batch is answered. Blank lines are
 *     skipped; a line that is not an event object is reported and counted as
 *     rejected, and the rest go on. A line may also be a LogRecord in its
 *     JSON form, {"seq":..,"received_at":..,"producer":..,"event":{...}}
 *     (what `optally log export --format json` writes): its event is sent,
 *     the rest is the old consumer's bookkeeping and is dropped.
 *
 *     --format pb reads length-delimited LogRecord messages (what `optally
 *     log export` writes; see ot_delim.h) and sends each record's event. A
 *     bad record (a truncated file, a length prefix or a record that does
 *     not decode) ends the reading of that FILE: it is reported as
 *         FILE: bad record at byte offset N: REASON
 *     and counted as rejected; the records before it are sent, the next
 *     FILE is read.
 *
 *     --to ENDPOINT    ZeroMQ endpoint of `optally consume`
 *                      (default $OPTALLY_INGEST, else tcp://127.0.0.1:7710)
 *     --format F       json (produce's default) or pb (log import's default)
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
 *     ("rejected" includes malformed lines and bad records). stderr, unless
 *     --quiet:
 *         FILE:LINE: malformed: MESSAGE
 *         FILE:LINE: rejected: REASON_NAME: TEXT
 *         FILE: record N: rejected: REASON_NAME: TEXT        (pb)
 *         FILE: bad record at byte offset N: REASON          (pb, always)
 *     and, when stderr is a terminal and the input a regular file, a
 *     progress line redrawn in place and cleared at the end.
 *
 * EXIT STATUS
 *     0 every event answered, none rejected; 1 some rejected or malformed,
 *     or a bad record;
 *     2 the consumer did not answer (the summary then counts what was
 *     answered), a FILE cannot be opened or read (checked before anything
 *     is sent), or another runtime failure; 64 usage error.
 *
 * Invariant: a tag packs (index into the run's file list, line number or
 * record number), so every outcome names the line or record it came from
 * without storing per-line state.
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

#include <cjson/cJSON.h>

#include "cli.h"
#include "ot_delim.h"
#include "ot_error.h"
#include "ot_event.h"
#include "ot_json.h"
#include "ot_producer.h"
#include "ot_wire.h"

#define S_DEFAULT_ENDPOINT "tcp://127.0.0.1:7710"
#define S_LINE_BITS        40        /* low tag bits: line number */
#define S_LINE_MASK        ((UINT64_C(1) << S_LINE_BITS) - 1)
#define S_FILES_MAX        (UINT64_C(1) << (64 - S_LINE_BITS))
#define S_PROGRESS_MS      250       /* redraw at most this often */
#define S_STDIN_NAME       "<stdin>"

/* State of one run, shared with the result callback. */
typedef struct s_run {
    const char *prog;      /* "optally produce" or "optally log import" */
    bool import;           /* `optally log import` */
    bool pb;               /* --format pb: length-delimited LogRecords */
    const char *curve_secret;  /* --curve-secret: this client's key pair file */
    const char *server_key;    /* --server-key: the consumer's public key file */
    char **files;          /* input names, borrowed from argv; "-" is stdin */
    size_t nfiles;
    bool quiet;
    uint64_t stored, duplicate, superseded, stale, rejected; /* rejected includes malformed */
    uint64_t submitted;    /* events handed to the producer */
    uint64_t answered;     /* results received */
    uint64_t lines;        /* lines (pb: records) read, all files */
    uint64_t bytes_done;   /* of the current input, for the time left */
    uint64_t bytes_total;  /* its size (0: not a regular file) */
    bool progress;         /* stderr is a terminal and not --quiet */
    bool progress_file;    /* the current input is a regular file */
    bool drawn;            /* a progress line is on screen */
    int64_t t0, last_draw; /* ms, monotonic */
} s_run;


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
    int64_t now = ot_cli_mono_ms();
    if (now - r->last_draw < S_PROGRESS_MS)
        return;
    r->last_draw = now;
    double secs = (double)(now - r->t0) / 1000.0;
    fprintf(stderr, "\r\033[K%s: %" PRIu64 " %s, %" PRIu64 " sent, %" PRIu64
            " answered, %.0f events/s", s_name(r, file), r->lines,
            r->pb ? "records" : "lines", r->submitted, r->answered,
            secs > 0 ? (double)r->answered / secs : 0.0);
    /* Time left of this input, from the bytes read of it so far. */
    if (r->bytes_total && r->bytes_done && r->bytes_done < r->bytes_total && secs > 0) {
        double left = secs * (double)(r->bytes_total - r->bytes_done) / (double)r->bytes_done;
        uint64_t l = (uint64_t)(left + 0.5);
        fprintf(stderr, ", %" PRIu64 ":%02" PRIu64 ":%02" PRIu64 " left", l / 3600,
                l / 60 % 60, l % 60);
    }
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
    fprintf(stderr, r->pb ? "%s: record %" PRIu64 ": rejected: %s: %s\n"
                          : "%s:%" PRIu64 ": rejected: %s: %s\n",
            s_name(r, tag >> S_LINE_BITS), tag & S_LINE_MASK, v ? v->name : num,
            text ? text : "");
}

static void
s_usage(FILE *f)
{
    fputs(
"usage: optally produce [--to ENDPOINT] [--format json|pb] [--batch N]\n"
"                       [--timeout-ms T] [--retries R] [--window W] [--quiet]\n"
"                       [FILE ...|-]\n"
"\n"
"Send JSON Lines events (one object per line) to `optally consume` and report\n"
"each outcome. No FILE, or \"-\", reads standard input; blank lines are skipped.\n"
"A line may also be a log record as `optally log export --format json` writes\n"
"it ({\"seq\":..,\"event\":{...}}): its event is sent.\n"
"\n"
"  --to ENDPOINT    consumer endpoint (default $OPTALLY_INGEST, else\n"
"                   " S_DEFAULT_ENDPOINT ")\n"
"  --format F       json (default): JSON Lines; pb: length-delimited LogRecord\n"
"                   messages, as `optally log export` writes them. A bad\n"
"                   record ends the reading of its FILE, reported as\n"
"                   FILE: bad record at byte offset N: REASON\n"
"                   (the records before it are sent)\n"
"  --batch N        events per batch, 1..10000 (default 1000)\n"
"  --timeout-ms T   wait for an answer per attempt, ms (default 5000)\n"
"  --retries R      resends of an unanswered batch (default 3)\n"
"  --window W       batches in flight, 1..1024 (default 8)\n"
"  --curve-secret FILE  this client's key pair (optally keygen) for a CURVE consumer;\n"
"                   with --server-key FILE, the consumer's .pub (env OPTALLY_CURVE_SECRET,\n"
"                   OPTALLY_SERVER_KEY)\n"
"  -q, --quiet      no per-line messages, no progress\n"
"  -h, --help       show this help\n"
"\n"
"Output: one summary line on stdout,\n"
"  stored N, duplicate N, superseded N, stale N, rejected N\n"
"and on stderr FILE:LINE: malformed: MESSAGE / FILE:LINE: rejected: REASON: TEXT.\n"
"\n"
"Exit status: 0 all stored/duplicate/superseded/stale; 1 some rejected or\n"
"malformed, or a bad record; 2 consumer did not answer, a FILE cannot be\n"
"opened or read, or another runtime failure; 64 usage error.\n", f);
}

static void
s_import_usage(FILE *f)
{
    fputs(
"usage: optally log import [--to ENDPOINT] [--format pb|json] [--batch N]\n"
"                          [--timeout-ms T] [--retries R] [--window W]\n"
"                          [--quiet] FILE ...|-\n"
"\n"
"Send the events of a log file written by `optally log export` to a consumer,\n"
"in the file's order, and report each outcome (\"-\" reads standard input).\n"
"The consumer deduplicates: importing the same file twice changes nothing\n"
"(the second run answers DUPLICATE), and an interrupted import is finished by\n"
"running it again. The target gives each event its own log seq and receive\n"
"time; the file's are not kept.\n"
"\n"
"  --to ENDPOINT    consumer endpoint (default $OPTALLY_INGEST, else\n"
"                   " S_DEFAULT_ENDPOINT ")\n"
"  --format F       pb (default): length-delimited LogRecord messages;\n"
"                   json: JSON Lines of LogRecords (or of bare events)\n"
"  --batch N        events per batch, 1..10000 (default 1000)\n"
"  --timeout-ms T   wait for an answer per attempt, ms (default 5000)\n"
"  --retries R      resends of an unanswered batch (default 3)\n"
"  --window W       batches in flight, 1..1024 (default 8)\n"
"  --curve-secret FILE  this client's key pair (optally keygen) for a CURVE consumer;\n"
"                   with --server-key FILE, the consumer's .pub (env OPTALLY_CURVE_SECRET,\n"
"                   OPTALLY_SERVER_KEY)\n"
"  -q, --quiet      no per-record messages, no progress\n"
"  -h, --help       show this help\n"
"\n"
"A truncated or corrupted file: the first bad record is reported as\n"
"  FILE: bad record at byte offset N: REASON\n"
"and reading of that FILE stops there; every record before it is sent and\n"
"stays stored. Records that decode but are invalid are rejected by the\n"
"consumer one by one (FILE: record N: rejected: REASON: TEXT).\n"
"\n"
"Output: one summary line on stdout,\n"
"  stored N, duplicate N, superseded N, stale N, rejected N\n"
"(rejected includes a bad record).\n"
"\n"
"Exit status: 0 all stored/duplicate/superseded/stale; 1 some rejected, or a\n"
"bad record; 2 consumer did not answer, a FILE cannot be opened or read, or\n"
"another runtime failure; 64 usage error.\n", f);
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
            fprintf(stderr, "%s: cannot open %s: %s\n", r->prog, r->files[i], strerror(e));
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

/* True when the n bytes at s contain "event" with its quotes. */
static bool
s_mentions_event(const char *s, size_t n)
{
    for (size_t i = 0; i + 7 <= n; i++) {
        const char *q = memchr(s + i, '"', n - 6 - i);
        if (!q)
            return false;
        i = (size_t)(q - s);
        if (memcmp(q, "\"event\"", 7) == 0)
            return true;
    }
    return false;
}

/* Step over the JSON value at *p (end bounds it). The text is known to be
 * valid JSON (cJSON parsed it), so this only has to find where the value
 * ends: strings with their escapes, and nesting. */
static void
s_skip_value(const char **p, const char *end)
{
    int depth = 0;
    bool in_str = false;
    for (; *p < end; (*p)++) {
        char c = **p;
        if (in_str) {
            if (c == '\\')
                (*p)++;
            else if (c == '"')
                in_str = false;
            if (!in_str && depth == 0) {
                (*p)++;
                return;
            }
            continue;
        }
        if (c == '"') {
            in_str = true;
        } else if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            if (depth == 0)
                return;
            if (--depth == 0) {
                (*p)++;
                return;
            }
        } else if (depth == 0 && (c == ',' || c == ' ' || c == '\t' || c == '\r' || c == '\n')) {
            return;
        }
    }
}

static const char *
s_skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
        p++;
    return p;
}

/* The text of member "event" of the (valid) top-level object in line.
 * OUT: *val, *vlen. Returns true when found. */
static bool
s_event_span(const char *line, size_t n, const char **val, size_t *vlen)
{
    const char *p = line, *end = line + n;
    p = s_skip_ws(p, end);
    if (p == end || *p++ != '{')
        return false;
    for (;;) {
        p = s_skip_ws(p, end);
        if (p == end || *p != '"')
            return false;
        const char *key = p;
        s_skip_value(&p, end);
        bool is_event = p - key == 7 && memcmp(key, "\"event\"", 7) == 0;
        p = s_skip_ws(p, end);
        if (p == end || *p++ != ':')
            return false;
        p = s_skip_ws(p, end);
        const char *v = p;
        s_skip_value(&p, end);
        if (is_event) {
            *val = v;
            *vlen = (size_t)(p - v);
            return true;
        }
        p = s_skip_ws(p, end);
        if (p == end || *p++ != ',')
            return false;
    }
}

/* A line that names "event" may be a LogRecord in its JSON form (what
 * `optally log export --format json` writes). If it is one, parse its event
 * from the original text, so every rule of ot_json_to_event applies to it as
 * to a bare event line. Returns 0 with *ev set, OT_ENOTFOUND when the line
 * is not a record (parse it as an event), OT_EJSON with err, or ENOMEM. */
static int
s_record_event(const char *line, size_t n, Optally__OperationEvent **ev, char *err, size_t cap)
{
    static const char *const known[] = { "seq", "received_at", "producer", "event" };
    cJSON *root = cJSON_ParseWithLength(line, n);
    if (!root || !cJSON_IsObject(root) ||
        !cJSON_GetObjectItemCaseSensitive(root, "event")) {
        cJSON_Delete(root);
        return OT_ENOTFOUND;
    }
    int rc = 0, events = 0;
    for (const cJSON *m = root->child; m && rc == 0; m = m->next) {
        size_t k = 0;
        while (k < 4 && strcmp(m->string, known[k]) != 0)
            k++;
        if (k == 4) {
            snprintf(err, cap, "unknown field '%.40s' in a log record", m->string);
            rc = OT_EJSON;
        } else if (k == 3 && (++events > 1 || !cJSON_IsObject(m))) {
            snprintf(err, cap, events > 1 ? "field 'event' given twice"
                                          : "field 'event': expected an object");
            rc = OT_EJSON;
        }
    }
    cJSON_Delete(root);
    const char *v;
    size_t vlen;
    if (rc == 0 && !s_event_span(line, n, &v, &vlen)) {
        snprintf(err, cap, "cannot find the event of the log record");
        rc = OT_EJSON;
    }
    if (rc == 0)
        rc = ot_json_to_event(v, vlen, ev, err, cap);
    return rc;
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
    /* Only a line holding the string "event" can be a record: bare event
     * lines, the common case, are parsed once. */
    int rc = OT_ENOTFOUND;
    if (s_mentions_event(line, n))
        rc = s_record_event(line, n, &ev, err, sizeof err);
    if (rc == OT_ENOTFOUND)
        rc = ot_json_to_event(line, n, &ev, err, sizeof err);
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
        fprintf(stderr, "%s: cannot open %s: %s\n", r->prog, r->files[file], strerror(e));
        return e;
    }
    struct stat st;
    r->progress_file = fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode);
    r->bytes_total = r->progress_file ? (uint64_t)st.st_size : 0;

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
        r->bytes_done += (uint64_t)n;
        rc = s_line(r, p, file, lineno, line, (size_t)n);
        s_progress(r, file);
    }
    r->bytes_total = r->bytes_done = 0;
    if (rc == 0 && !feof(f)) {
        /* getline failed before the end: a read error or ENOMEM */
        rc = errno ? errno : EIO;
        s_progress_clear(r);
        fprintf(stderr, "%s: cannot read %s: %s\n", r->prog, s_name(r, file), strerror(rc));
    } else if (rc == EFBIG) {
        s_progress_clear(r);
        fprintf(stderr, "%s: %s: too many lines\n", r->prog, s_name(r, file));
    }
    free(line);
    if (!is_stdin)
        fclose(f);
    else
        clearerr(stdin);
    return rc;
}

/* A bad record: report it (even with --quiet: the file is damaged and
 * the rest of it is not sent) and count it as rejected. */
static void
s_bad_record(s_run *r, size_t file, uint64_t offset, const char *why)
{
    s_progress_clear(r);
    fprintf(stderr, "%s: bad record at byte offset %" PRIu64 ": %s\n", s_name(r, file),
            offset, why);
    r->rejected++;
}

/* A file of JSON Lines read as pb fails at once, at offset 0, and starts
 * with '{': say what the likely fix is. */
static void
s_json_hint(const s_run *r, int fd, uint64_t off)
{
    char c;
    if (off == 0 && pread(fd, &c, 1, 0) == 1 && c == '{')
        fprintf(stderr, "%s: (the file starts with '{': JSON Lines? then use --format json)\n",
                r->prog);
}

/* Why a framed record cannot be sent, or NULL when ev is its event. The
 * record is a LogRecord; its event must be there, and no string of it may
 * hold a NUL byte (protobuf-c would cut the string there and the event
 * would be sent altered). */
static const char *
s_record_check(const uint8_t *rec, size_t len, Optally__LogRecord **out)
{
    const uint8_t *evb;
    size_t evlen;
    *out = optally__log_record__unpack(NULL, len, rec);
    if (!*out)
        return "not a LogRecord (the protobuf does not decode)";
    if (!(*out)->event)
        return "the LogRecord holds no event";
    if (ot_wire_find_bytes(rec, len, 4, &evb, &evlen) != 0 || ot_wire_has_nul_string(evb, evlen))
        return "a string of the event holds a NUL byte";
    return NULL;
}

/* Send every record of one length-delimited LogRecord input. A bad record
 * ends this input (see the top of the file). Returns as s_file. */
static int
s_file_pb(s_run *r, ot_producer *p, size_t file)
{
    bool is_stdin = strcmp(r->files[file], "-") == 0;
    int fd = is_stdin ? STDIN_FILENO : open(r->files[file], O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        s_progress_clear(r);
        fprintf(stderr, "%s: cannot open %s: %s\n", r->prog, r->files[file], strerror(e));
        return e;
    }
    struct stat st;
    r->progress_file = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
    r->bytes_total = r->progress_file ? (uint64_t)st.st_size : 0;
    ot_delim_reader *rd = NULL;
    int rc = ot_delim_reader_new(fd, 0, &rd);
    uint64_t recno = 0;
    while (rc == 0) {
        const uint8_t *rec;
        size_t len;
        uint64_t off;
        rc = ot_delim_next(rd, &rec, &len, &off);
        if (rc == OT_ENOTFOUND) {
            rc = 0;
            break;
        }
        if (rc == OT_EDECODE) {
            s_bad_record(r, file, off, ot_delim_reader_why(rd));
            s_json_hint(r, fd, off);
            rc = 0;
            break;
        }
        if (rc != 0) {
            s_progress_clear(r);
            fprintf(stderr, "%s: cannot read %s: %s\n", r->prog, s_name(r, file),
                    rc == ENOMEM ? "out of memory" : strerror(rc));
            break;
        }
        if (++recno > S_LINE_MASK) {
            rc = EFBIG;
            s_progress_clear(r);
            fprintf(stderr, "%s: %s: too many records\n", r->prog, s_name(r, file));
            break;
        }
        r->lines++;
        Optally__LogRecord *lr;
        const char *why = s_record_check(rec, len, &lr);
        if (why) {
            s_bad_record(r, file, off, why);
            s_json_hint(r, fd, off);
        } else {
            r->submitted++;
            rc = ot_producer_submit(p, lr->event, ((uint64_t)file << S_LINE_BITS) | recno);
        }
        if (lr)
            optally__log_record__free_unpacked(lr, NULL);
        if (why)
            break;
        r->bytes_done = ot_delim_reader_offset(rd);
        s_progress(r, file);
    }
    ot_delim_reader_free(&rd);
    if (!is_stdin)
        close(fd);
    r->bytes_total = r->bytes_done = 0;
    return rc;
}

/* Parse the command line into *opt and *r. Returns -1 to go on, or the
 * exit code (0 after --help, 64 on a usage error). */
static int
s_parse(int argc, char **argv, ot_producer_options *opt, s_run *r)
{
    static const struct option longs[] = {
        { "to", required_argument, NULL, 't' },
        { "format", required_argument, NULL, 'f' },
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
        case 'f':
            if (strcmp(arg, "pb") != 0 && strcmp(arg, "json") != 0)
                return ot_cli_usage_error(r->prog, "--format is json or pb, not '%s'", arg);
            r->pb = strcmp(arg, "pb") == 0;
            break;
        case 'b':
            if (ot_cli_parse_long(arg, 1, OT_BATCH_MAX_EVENTS, &v))
                return ot_cli_usage_error(r->prog, "--batch takes 1..%d, not '%s'", OT_BATCH_MAX_EVENTS, arg);
            opt->batch = (size_t)v;
            break;
        case 'T':
            if (ot_cli_parse_long(arg, 1, 86400000, &v))
                return ot_cli_usage_error(r->prog, "--timeout-ms takes 1..86400000, not '%s'", arg);
            opt->timeout_ms = (int)v;
            break;
        case 'r':
            if (ot_cli_parse_long(arg, 0, 1000, &v))
                return ot_cli_usage_error(r->prog, "--retries takes 0..1000, not '%s'", arg);
            opt->retries = (int)v;
            break;
        case 'w':
            if (ot_cli_parse_long(arg, 1, 1024, &v))
                return ot_cli_usage_error(r->prog, "--window takes 1..1024, not '%s'", arg);
            opt->window = (int)v;
            break;
        case 'C':
            r->curve_secret = arg;
            break;
        case 'K':
            r->server_key = arg;
            break;
        case 'q':
            r->quiet = true;
            break;
        case 'h':
            if (r->import)
                s_import_usage(stdout);
            else
                s_usage(stdout);
            return OT_EXIT_OK;
        case ':':
            return ot_cli_usage_error(r->prog, "%s needs a value", argv[optind - 1]);
        default:
            return ot_cli_usage_error(r->prog, "unknown option '%s'", argv[optind - 1]);
        }
    }
    r->files = argv + optind;
    r->nfiles = (size_t)(argc - optind);
    if (r->nfiles >= S_FILES_MAX)
        return ot_cli_usage_error(r->prog, "too many files");
    if (r->import && r->nfiles == 0)
        return ot_cli_usage_error(r->prog, "which FILE? (\"-\" reads standard input)");
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
        rc = r->pb ? s_file_pb(r, p, i) : s_file(r, p, i);
    int frc = ot_producer_flush(p);  /* after a read error: send what was read */
    return rc ? rc : frc;
}

/* The one body of `optally produce` and `optally log import`. */
static int
s_main(int argc, char **argv, bool import)
{
    s_run r = { .prog = import ? "optally log import" : "optally produce",
                .import = import, .pb = import };
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
    ot_keypair me, server;
    int kc = ot_cli_client_keys(r.prog + 8, r.curve_secret, r.server_key, &me, &server);
    if (kc < 0)
        return OT_EXIT_USAGE;
    if (kc > 0) {
        opt.server_key = server.public_key;
        opt.client_public = me.public_key;
        opt.client_secret = me.secret_key;
    }

    ot_producer *p = NULL;
    int rc = ot_producer_open(&opt, &p);
    memset(&me, 0, sizeof me);   /* the producer keeps its own copy */
    if (rc == EINVAL)
        return ot_cli_usage_error(r.prog, "bad endpoint '%s'", opt.endpoint);
    if (rc) {
        fprintf(stderr, "%s: cannot connect to %s: %s\n", r.prog, opt.endpoint,
                ot_strerror(rc));
        return OT_EXIT_FAILURE;
    }
    r.progress = !r.quiet && isatty(STDERR_FILENO);
    r.t0 = r.last_draw = ot_cli_mono_ms();

    rc = s_send_all(&r, p);
    s_progress_clear(&r);
    if (rc == OT_ETIMEOUT || rc == OT_ETRANSPORT) {
        fprintf(stderr, "%s: consumer at %s did not answer after %d retries"
                " of %d ms; is `optally consume` running?\n", r.prog, opt.endpoint,
                opt.retries, opt.timeout_ms);
        fprintf(stderr, "%s: %" PRIu64 " events sent were not answered\n", r.prog,
                r.submitted - r.answered);
    } else if (rc == OT_ESTORAGE) {
        fprintf(stderr, "%s: consumer at %s could not store a batch after %d retries (storage\n"
                "%s: full or failing; see its log): nothing of the %" PRIu64 " unanswered events\n"
                "%s: was stored. Free space on the consumer's disk and run again (dedup makes\n"
                "%s: re-sending safe).\n%s: the consumer said: %s\n", r.prog, opt.endpoint,
                opt.retries, r.prog, r.submitted - r.answered, r.prog, r.prog, r.prog,
                ot_producer_error_text(p));
    } else if (rc == ENOMEM) {
        fprintf(stderr, "%s: out of memory\n", r.prog);
    } else if (rc < 0) {
        fprintf(stderr, "%s: %s\n", r.prog, ot_strerror(rc));
    }
    uint64_t resends = ot_producer_resends(p);
    ot_producer_close(&p);
    if (resends && !r.quiet)
        fprintf(stderr, "%s: %" PRIu64 " batch resends\n", r.prog, resends);

    s_summary(&r);
    if (fflush(stdout) != 0)
        return OT_EXIT_FAILURE;
    if (rc)
        return OT_EXIT_FAILURE;
    return r.rejected ? OT_EXIT_PROBLEM : OT_EXIT_OK;
}

int
ot_cmd_produce(int argc, char **argv)
{
    return s_main(argc, argv, false);
}

int
ot_cmd_log_import(int argc, char **argv)
{
    return s_main(argc, argv, true);
}
