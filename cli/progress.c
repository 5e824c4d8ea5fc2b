/*
 * progress: the progress line (contract in progress.h).
 */
#include "progress.h"

#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>

#include "ot_clock.h"

#define S_REDRAW_MS 250

void
ot_progress_init(ot_progress *p, const char *label, const char *unit, bool quiet)
{
    p->on = !quiet && isatty(STDERR_FILENO);
    p->drawn = false;
    p->label = label;
    p->unit = unit;
    p->t0 = p->last = ot_clock_mono_ms();
}

int64_t
ot_progress_elapsed_ms(const ot_progress *p)
{
    return ot_clock_mono_ms() - p->t0;
}

/* True when a redraw is due (invariants 1 and 2). OUT: *secs since init. */
static bool
s_due(ot_progress *p, double *secs)
{
    if (!p->on)
        return false;
    int64_t now = ot_clock_mono_ms();
    if (now - p->last < S_REDRAW_MS)
        return false;
    p->last = now;
    *secs = (double)(now - p->t0) / 1000.0;
    return true;
}

/* Draw the line: done (of total, when total), its rate, and the time left
 * (left_secs < 0: unknown). */
static void
s_draw(ot_progress *p, uint64_t done, uint64_t total, double rate, double left_secs)
{
    fprintf(stderr, "\r\033[K%s: %" PRIu64 " %s", p->label, done, p->unit);
    if (total)
        fprintf(stderr, " of %" PRIu64 " (%.0f%%)", total,
                100.0 * (double)(done < total ? done : total) / (double)total);
    fprintf(stderr, ", %.0f %s/s", rate, p->unit);
    if (left_secs >= 0) {
        uint64_t left = (uint64_t)(left_secs + 0.5);
        fprintf(stderr, ", %" PRIu64 ":%02" PRIu64 ":%02" PRIu64 " left", left / 3600,
                left / 60 % 60, left % 60);
    }
    fflush(stderr);
    p->drawn = true;
}

void
ot_progress_update(ot_progress *p, uint64_t done, uint64_t total)
{
    double secs;
    if (!s_due(p, &secs))
        return;
    double rate = secs > 0 ? (double)done / secs : 0.0;
    double left = total && rate > 0 && done < total ? (double)(total - done) / rate : -1.0;
    s_draw(p, done, total, rate, left);
}

void
ot_progress_update_share(ot_progress *p, uint64_t done, uint64_t part, uint64_t whole)
{
    double secs;
    if (!s_due(p, &secs))
        return;
    double rate = secs > 0 ? (double)done / secs : 0.0;
    double left = whole && part && part < whole && secs > 0
                      ? secs * (double)(whole - part) / (double)part : -1.0;
    s_draw(p, done, 0, rate, left);
}

void
ot_progress_clear(ot_progress *p)
{
    if (p->drawn) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
        p->drawn = false;
    }
}
