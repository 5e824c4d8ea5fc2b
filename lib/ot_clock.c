/* ot_clock: monotonic time for deadlines, wall time for timestamps (see ot_clock.h). */
#include "ot_clock.h"

#include <time.h>

static int64_t
s_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
ot_clock_mono_ms(void)
{
    return s_ms(CLOCK_MONOTONIC);
}

int64_t
ot_clock_wall_ms(void)
{
    return s_ms(CLOCK_REALTIME);
}
