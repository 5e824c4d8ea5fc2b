/*
 * event_source: the inputs of `produce` and `log import` read as events and
 * figures: JSON Lines (one OperationEvent object a line; a Figure object,
 * told by its "figure_id" (ot_json_is_figure); or a LogRecord in its JSON
 * form, holding an event or a figure: ot_json_to_logrec, ot_json.h) or
 * length-delimited LogRecord messages (what `optally log export` writes,
 * ot_delim.h). Each event goes to the caller's sink, each figure to its
 * figure sink, with a tag naming where it came from.
 *
 * Reading rules (a contract scripts rely on):
 *  - JSON Lines: blank lines are skipped; a line that is not an event is
 *    told "FILE:LINE: malformed: MESSAGE" (unless quiet; MESSAGE names the
 *    field and what it expected), counted in bad, never sent, and the rest
 *    go on.
 *  - pb: a bad record (a truncated file, a length prefix or a record that
 *    does not decode, neither event nor figure, a NUL byte in a string) ends the reading of
 *    that FILE: "FILE: bad record at byte offset N: REASON" (even when
 *    quiet: the rest of the file is not sent), counted in bad; the next
 *    FILE is read.
 *  - "-" is standard input, named "<stdin>" in messages; no FILE at all
 *    reads standard input.
 *
 * Invariant: a tag packs (index of the input in the list) << 40 | (line or
 * record number), so every outcome names its line or record without
 * per-line state.
 */
#ifndef OT_CLI_EVENT_SOURCE_H
#define OT_CLI_EVENT_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "optally.pb-c.h"
#include "progress.h"

/* Most inputs in one list (the tag's high bits). */
#define OT_EVSRC_FILES_MAX (UINT64_C(1) << 24)

/* Takes one event (borrowed for the call). Returns 0, or an error that
 * ends the reading (passed back by ot_evsrc_read). */
typedef int (*ot_evsrc_sink_fn)(void *ctx, const Optally__OperationEvent *ev, uint64_t tag);

/* Takes one figure (borrowed for the call). Returns as ot_evsrc_sink_fn. */
typedef int (*ot_evsrc_figure_fn)(void *ctx, const Optally__Figure *f, uint64_t tag);

typedef struct ot_evsrc {
    /* set by the caller */
    const char *prog;        /* message prefix, e.g. "optally produce" */
    bool pb;                 /* length-delimited LogRecords, else JSON Lines */
    bool quiet;              /* no malformed-line messages */
    char **files;            /* input names, borrowed; "-" is standard input */
    size_t nfiles;           /* 0: standard input */
    ot_evsrc_sink_fn sink;
    ot_evsrc_figure_fn figure_sink;   /* NULL: a figure is malformed / a bad record */
    void *ctx;                        /* of both sinks */
    ot_progress *progress;   /* cleared before each message; NULL: none */
    /* kept up to date while reading */
    uint64_t bad;            /* malformed lines and bad records */
    uint64_t part;           /* bytes read of the current input */
    uint64_t whole;          /* its size, 0 when it is not a regular file */
} ot_evsrc;

/* Check that every FILE can be opened for reading (and is not a
 * directory) before anything is sent, so a typo in a name does not leave
 * half a run behind. Returns 0, or the errno of the first that cannot,
 * after printing "PROG: cannot open FILE: REASON". */
int
ot_evsrc_check(const ot_evsrc *s);

/* Read every input in order, handing each event to the sink. Returns 0;
 * an errno when an input cannot be opened or read (printed as "PROG: cannot
 * read FILE: REASON"; EFBIG: more than 2^40 lines in one); or the sink's
 * error (not printed). */
int
ot_evsrc_read(ot_evsrc *s);

/* Where the event of tag came from: "FILE:LINE" (JSON Lines) or
 * "FILE: record N" (pb), into buf (cap bytes, truncated to fit). */
void
ot_evsrc_where(const ot_evsrc *s, uint64_t tag, char *buf, size_t cap);

#endif
