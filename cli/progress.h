/*
 * progress: the one progress display of the long-running subcommands
 * (produce, log export, log import, replay, rebuild): work done, rate, and
 * time left when the total is known, redrawn in place on stderr and erased
 * at the end:
 *     LABEL: DONE UNIT[ of TOTAL (P%)], RATE UNIT/s[, H:MM:SS left]
 *
 * Invariants:
 *  1. Quiet unless stderr is a terminal (and the command was not --quiet):
 *     a log file or a pipe never receives carriage returns and escapes.
 *  2. At most one redraw per 250 ms, so the display costs nothing at a
 *     million events a second.
 *  3. After ot_progress_clear() the cursor is at the start of an empty line:
 *     call it before any other output to stderr or stdout on a terminal.
 */
#ifndef OT_PROGRESS_H
#define OT_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

typedef struct ot_progress {
    bool on;            /* drawing at all (invariant 1) */
    bool drawn;         /* a line is on screen now */
    const char *label;  /* e.g. "export", borrowed; may be changed between updates */
    const char *unit;   /* e.g. "events", borrowed */
    int64_t t0, last;   /* ms, monotonic: start, last redraw */
} ot_progress;

/* Start: label and unit are borrowed for the life of p. */
void
ot_progress_init(ot_progress *p, const char *label, const char *unit, bool quiet);

/* done of total units (total 0: unknown, no time left shown). */
void
ot_progress_update(ot_progress *p, uint64_t done, uint64_t total);

/* done units so far, when how much of the work is done is known apart from
 * them: part of whole (e.g. bytes read of an input file of whole bytes;
 * whole 0: unknown, no time left shown). The line shows done and its rate,
 * and the time left from part/whole; no "of TOTAL". */
void
ot_progress_update_share(ot_progress *p, uint64_t done, uint64_t part, uint64_t whole);

/* Erase the line if one is drawn. */
void
ot_progress_clear(ot_progress *p);

/* Milliseconds since ot_progress_init. */
int64_t
ot_progress_elapsed_ms(const ot_progress *p);

#endif
