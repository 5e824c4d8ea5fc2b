/*
 * progress: the one-line progress display of the long-running subcommands
 * (log export, log import, replay, rebuild): work done, rate, and time left
 * when the total is known, redrawn in place on stderr and erased at the end.
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
    const char *label;  /* e.g. "export", borrowed */
    const char *unit;   /* e.g. "events", borrowed */
    int64_t t0, last;   /* ms, monotonic: start, last redraw */
} ot_progress;

/* Start: label and unit are borrowed for the life of p. */
void
ot_progress_init(ot_progress *p, const char *label, const char *unit, bool quiet);

/* done of total units (total 0: unknown, no time left shown). */
void
ot_progress_update(ot_progress *p, uint64_t done, uint64_t total);

/* Erase the line if one is drawn. */
void
ot_progress_clear(ot_progress *p);

/* Milliseconds since ot_progress_init. */
int64_t
ot_progress_elapsed_ms(const ot_progress *p);

#endif
