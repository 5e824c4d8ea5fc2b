/*
 * progress: the progress line (contract in progress.h).
 */
#include "progress.h"

#include "cli.h"

#include <inttypes.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#define S_REDRAW_MS 250


void
ot_progress_init(ot_progress *p, const char *label, const char *unit, bool quiet)
{
    p->on = !quiet && isatty(STDERR_FILENO);
    p->drawn = false;
    p->label = label;
    p->unit = unit;
    p->t0 = p->last = ot_cli_mono_ms();
}

int64_t
ot_progress_elapsed_ms(const ot_progress *p)
{
    return ot_cli_mono_ms() - p->t0;
}

void
ot_progress_update(ot_progress *p, uint64_t done, uint64_t total)
{
    if (!p->on)
        return;
    int64_t now = ot_cli_mono_ms();
    if (now - p->last < S_REDRAW_MS)
        return;
    p->last = now;
    double secs = (double)(now - p->t0) / 1000.0;
    double rate = secs > 0 ? (double)done / secs : 0.0;
    fprintf(stderr, "\r\033[K%s: %" PRIu64 " %s", p->label, done, p->unit);
    if (total)
        fprintf(stderr, " of %" PRIu64 " (%.0f%%)", total,
                100.0 * (double)(done < total ? done : total) / (double)total);
    fprintf(stderr, ", %.0f %s/s", rate, p->unit);
    if (total && rate > 0 && done < total) {
        uint64_t left = (uint64_t)((double)(total - done) / rate + 0.5);
        fprintf(stderr, ", %" PRIu64 ":%02" PRIu64 ":%02" PRIu64 " left", left / 3600,
                left / 60 % 60, left % 60);
    }
    fflush(stderr);
    p->drawn = true;
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
