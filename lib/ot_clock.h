/*
 * ot_clock: the two clocks of optally, one helper each (STYLE rule 12).
 *
 *  - ot_clock_mono_ms(): CLOCK_MONOTONIC, for every deadline, timeout,
 *    interval and rate. A wall-clock step (NTP, an operator's `date -s`)
 *    never stretches or shortens a wait measured with it.
 *  - ot_clock_wall_ms(): CLOCK_REALTIME, only for timestamps that are
 *    stored or shown (received_at, reported_at, TallyUpdate.at).
 * Neither can fail on Linux for these clock ids; both return milliseconds.
 */
#ifndef OT_CLOCK_H
#define OT_CLOCK_H

#include <stdint.h>

/* Milliseconds of CLOCK_MONOTONIC (an arbitrary origin: compare, never show). */
int64_t
ot_clock_mono_ms(void);

/* Milliseconds since the Unix epoch (CLOCK_REALTIME): for stored timestamps only. */
int64_t
ot_clock_wall_ms(void);

#endif
