/*
 * event_source: JSON Lines or LogRecord files read as events (contract in
 * event_source.h).
 */
#include "event_source.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ot_delim.h"
#include "ot_error.h"
#include "ot_json.h"
#include "ot_fields.h"
#include "ot_wire.h"

#define S_LINE_BITS   40        /* low tag bits: line or record number */
#define S_LINE_MASK   ((UINT64_C(1) << S_LINE_BITS) - 1)
#define S_STDIN_NAME  "<stdin>"

static char *s_stdin_only[] = { "-" };

static bool
s_is_stdin(const ot_evsrc *s, size_t file)
{
    return strcmp(s->files[file], "-") == 0;
}

static const char *
s_name(const ot_evsrc *s, size_t file)
{
    return s_is_stdin(s, file) ? S_STDIN_NAME : s->files[file];
}

/* A message is about to be printed: start it on a clean line. */
static void
s_clear(const ot_evsrc *s)
{
    if (s->progress)
        ot_progress_clear(s->progress);
}

int
ot_evsrc_check(const ot_evsrc *s)
{
    for (size_t i = 0; i < s->nfiles; i++) {
        if (s_is_stdin(s, i))
            continue;
        int fd = open(s->files[i], O_RDONLY | O_CLOEXEC);
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
            fprintf(stderr, "%s: cannot open %s: %s\n", s->prog, s->files[i], strerror(e));
            return e;
        }
    }
    return 0;
}

void
ot_evsrc_where(const ot_evsrc *s, uint64_t tag, char *buf, size_t cap)
{
    snprintf(buf, cap, s->pb ? "%s: record %" PRIu64 : "%s:%" PRIu64,
             s_name(s, (size_t)(tag >> S_LINE_BITS)), tag & S_LINE_MASK);
}

/* Open input number file. OUT: *fd (STDIN_FILENO for "-"). Sets s->part
 * and s->whole. Returns 0 or an errno (printed). */
static int
s_open(ot_evsrc *s, size_t file, int *fd)
{
    *fd = s_is_stdin(s, file) ? STDIN_FILENO : open(s->files[file], O_RDONLY | O_CLOEXEC);
    if (*fd < 0) {
        int e = errno;
        s_clear(s);
        fprintf(stderr, "%s: cannot open %s: %s\n", s->prog, s->files[file], strerror(e));
        return e;
    }
    struct stat st;
    s->part = 0;
    s->whole = fstat(*fd, &st) == 0 && S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
    return 0;
}

static void
s_read_failed(const ot_evsrc *s, size_t file, int rc)
{
    s_clear(s);
    if (rc == EFBIG)
        fprintf(stderr, "%s: %s: too many %s\n", s->prog, s_name(s, file),
                s->pb ? "records" : "lines");
    else
        fprintf(stderr, "%s: cannot read %s: %s\n", s->prog, s_name(s, file),
                rc == ENOMEM ? "out of memory" : strerror(rc));
}

/* ---- JSON Lines -------------------------------------------------------------- */

static bool
s_blank(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\n')
            return false;
    return true;
}

/* A malformed line: counted, and told unless quiet. */
static void
s_malformed(ot_evsrc *s, size_t file, uint64_t lineno, const char *why)
{
    s->bad++;
    if (!s->quiet) {
        s_clear(s);
        fprintf(stderr, "%s:%" PRIu64 ": malformed: %s\n", s_name(s, file), lineno, why);
    }
}

/* One line: parse it and hand it to the sink (an event, a figure, or the
 * one a log record holds), or tell it is malformed.
 * Returns 0, or ENOMEM / the sink's error, which end the reading. */
static int
s_line(ot_evsrc *s, size_t file, uint64_t lineno, char *line, size_t n)
{
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    if (s_blank(line, n))
        return 0;
    /* One parse decides: a line with "figure_id" is a figure, one with
     * "event" or "figure" a log record, anything else an event; a bare
     * event or figure comes back as a record of it alone. */
    Optally__LogRecord *rec = NULL;
    char err[256] = "";
    int rc = ot_json_to_logrec(line, n, &rec, err, sizeof err);
    if (rc == ENOMEM)
        return rc;
    if (rc) {
        s_malformed(s, file, lineno, err[0] ? err : ot_strerror(rc));
        return 0;
    }
    uint64_t tag = ((uint64_t)file << S_LINE_BITS) | lineno;
    if (rec->figure && !s->figure_sink)
        s_malformed(s, file, lineno, "a figure (it has \"figure_id\"), or a log record of one; "
                    "this command sends events only");
    else if (rec->figure)
        rc = s->figure_sink(s->ctx, rec->figure, tag);
    else
        rc = s->sink(s->ctx, rec->event, tag);
    ot_json_logrec_free(&rec);
    return rc;
}

/* Every line of f. Returns as s_line, or an errno of the reading. */
static int
s_lines(ot_evsrc *s, size_t file, FILE *f)
{
    char *line = NULL;
    size_t cap = 0;
    uint64_t lineno = 0;
    ssize_t n;
    int rc = 0;
    while (rc == 0 && (errno = 0, n = getline(&line, &cap, f)) >= 0) {
        if (++lineno > S_LINE_MASK)
            rc = EFBIG;
        s->part += (uint64_t)n;
        if (rc == 0)
            rc = s_line(s, file, lineno, line, (size_t)n);
    }
    if (rc == 0 && !feof(f)) {  /* getline failed before the end: a read error or ENOMEM */
        rc = errno ? errno : EIO;
        s_read_failed(s, file, rc);
    } else if (rc == EFBIG) {
        s_read_failed(s, file, rc);
    }
    free(line);
    return rc;
}

/* Every line of fd (borrowed: read through a duplicate, or through stdin
 * itself, whose buffer must be kept). Returns as s_lines. */
static int
s_file_json(ot_evsrc *s, size_t file, int fd)
{
    int dup_fd = fd == STDIN_FILENO ? -1 : dup(fd);
    FILE *f = fd == STDIN_FILENO ? stdin : dup_fd < 0 ? NULL : fdopen(dup_fd, "r");
    if (!f) {
        int rc = errno;
        if (dup_fd >= 0)
            close(dup_fd);
        s_read_failed(s, file, rc);
        return rc;
    }
    int rc = s_lines(s, file, f);
    if (f == stdin)
        clearerr(stdin);    /* a terminal's end of input: "-" may be read again */
    else
        fclose(f);
    return rc;
}

/* ---- length-delimited LogRecords ------------------------------------------------ */

/* A bad record: told even when quiet (the rest of the file is not sent),
 * counted in bad. A file of JSON Lines read as pb fails at once, at offset
 * 0, and starts with '{': say what the likely fix is. */
static void
s_bad_record(ot_evsrc *s, size_t file, int fd, uint64_t off, const char *why)
{
    char c;
    s_clear(s);
    fprintf(stderr, "%s: bad record at byte offset %" PRIu64 ": %s\n", s_name(s, file), off, why);
    s->bad++;
    if (off == 0 && pread(fd, &c, 1, 0) == 1 && c == '{')
        fprintf(stderr, "%s: (the file starts with '{': JSON Lines? then use --format json)\n",
                s->prog);
}

/* Why a framed record cannot be sent, or NULL when (*out)->event (or, for
 * a figure's record, (*out)->figure) is what it holds. The record is a
 * LogRecord; its event or figure must be there, and no string of it may
 * hold a NUL byte (protobuf-c would cut the string there and it would be
 * sent altered). OUT: *out (NULL or unpacked: the caller frees it). */
static const char *
s_record_check(const ot_evsrc *s, const uint8_t *rec, size_t len, Optally__LogRecord **out)
{
    const uint8_t *b;
    size_t blen;
    *out = optally__log_record__unpack(NULL, len, rec);
    if (!*out)
        return "not a LogRecord (the protobuf does not decode)";
    if ((*out)->event) {
        if (ot_wire_find_bytes(rec, len, OT_F_LOGRECORD_EVENT, &b, &blen) != 0 ||
            ot_wire_has_nul_string(b, blen))
            return "a string of the event holds a NUL byte";
        return NULL;
    }
    if (!(*out)->figure)
        return "the LogRecord holds neither an event nor a figure";
    if (!s->figure_sink)
        return "the LogRecord holds a figure; this command sends events only";
    if (ot_wire_find_bytes(rec, len, OT_F_LOGRECORD_FIGURE, &b, &blen) != 0 ||
        ot_wire_figure_has_nul_string(b, blen))
        return "a string of the figure holds a NUL byte";
    return NULL;
}

/* One framed record, number recno at byte offset off. Returns 0, the
 * sink's error, or OT_EDECODE for a bad record (told here). */
static int
s_record(ot_evsrc *s, size_t file, int fd, const uint8_t *rec, size_t len, uint64_t off,
         uint64_t recno)
{
    Optally__LogRecord *lr;
    const char *why = s_record_check(s, rec, len, &lr);
    uint64_t tag = ((uint64_t)file << S_LINE_BITS) | recno;
    int rc;
    if (why) {
        s_bad_record(s, file, fd, off, why);
        rc = OT_EDECODE;
    } else if (lr->event) {
        rc = s->sink(s->ctx, lr->event, tag);
    } else {
        rc = s->figure_sink(s->ctx, lr->figure, tag);
    }
    if (lr)
        optally__log_record__free_unpacked(lr, NULL);
    return rc;
}

/* Every record of fd, up to the end or the first bad one. Returns 0, an
 * errno of the reading (told here), or the sink's error. */
static int
s_records(ot_evsrc *s, size_t file, int fd, ot_delim_reader *rd)
{
    uint64_t recno = 0;
    for (;;) {
        const uint8_t *rec;
        size_t len;
        uint64_t off;
        int rc = ot_delim_next(rd, &rec, &len, &off);
        if (rc == OT_ENOTFOUND)
            return 0;
        if (rc == OT_EDECODE) {
            s_bad_record(s, file, fd, off, ot_delim_reader_why(rd));
            return 0;
        }
        if (rc == 0 && ++recno > S_LINE_MASK)
            rc = EFBIG;
        if (rc != 0) {
            s_read_failed(s, file, rc);
            return rc;
        }
        s->part = ot_delim_reader_offset(rd);
        rc = s_record(s, file, fd, rec, len, off, recno);
        if (rc != 0)
            return rc == OT_EDECODE ? 0 : rc;   /* a bad record ends this input only */
    }
}

/* Every record of fd (borrowed), up to the first bad one. Returns as
 * s_records. */
static int
s_file_pb(ot_evsrc *s, size_t file, int fd)
{
    ot_delim_reader *rd = NULL;
    int rc = ot_delim_reader_new(fd, 0, &rd);
    if (rc == 0)        /* else ENOMEM, told with the run's end */
        rc = s_records(s, file, fd, rd);
    ot_delim_reader_free(&rd);
    return rc;
}

int
ot_evsrc_read(ot_evsrc *s)
{
    if (s->nfiles == 0) {
        s->files = s_stdin_only;
        s->nfiles = 1;
    }
    int rc = 0;
    for (size_t i = 0; i < s->nfiles && rc == 0; i++) {
        int fd;
        if ((rc = s_open(s, i, &fd)) != 0)
            break;
        rc = s->pb ? s_file_pb(s, i, fd) : s_file_json(s, i, fd);
        if (fd != STDIN_FILENO)
            close(fd);
    }
    s->part = s->whole = 0;
    return rc;
}
