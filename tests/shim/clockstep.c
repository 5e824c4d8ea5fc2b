/*
 * clockstep: an LD_PRELOAD shim that steps CLOCK_REALTIME back, once, for
 * the liveness tests (tests/integration/test_liveness.py).
 *
 * Environment:
 *   CLOCKSTEP_TRIGGER  a file path: the step happens at the first
 *                      CLOCK_REALTIME read after this file exists
 *   CLOCKSTEP_BACK_MS  how far back (default 3600000, one hour)
 * From the step on, every CLOCK_REALTIME read (clock_gettime, gettimeofday,
 * time) is that much earlier, as after an operator's `date -s` or an NTP
 * step; CLOCK_MONOTONIC and the other clocks are untouched. When the step
 * happens the shim writes "stepped" into CLOCKSTEP_TRIGGER.done, so a test
 * can tell that the step took effect (and cannot pass by accident when the
 * shim was not loaded).
 *
 * Under AddressSanitizer the runtime must come first in the initial library
 * list, so load the shim after it:
 *   LD_PRELOAD="$(gcc -print-file-name=libasan.so):/path/libclockstep.so"
 * ASan's own clock_gettime interceptor then calls through to this one
 * (RTLD_NEXT). The shim is built without sanitizers: it must not pull a
 * second runtime in.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

typedef int (*s_clock_gettime_fn)(clockid_t, struct timespec *);

static atomic_int s_state;          /* 0 waiting, 1 stepped */
static long long s_back_ms = -1;    /* read once */

static s_clock_gettime_fn
s_real(void)
{
    static _Atomic(s_clock_gettime_fn) fn;
    s_clock_gettime_fn f = atomic_load(&fn);
    if (!f) {
        f = (s_clock_gettime_fn)dlsym(RTLD_NEXT, "clock_gettime");
        atomic_store(&fn, f);
    }
    return f;
}

/* Whether the step is in effect now (and make it happen when triggered). */
static int
s_stepped(void)
{
    if (atomic_load(&s_state))
        return 1;
    const char *trig = getenv("CLOCKSTEP_TRIGGER");
    if (!trig || access(trig, F_OK) != 0)
        return 0;
    int expected = 0;
    if (atomic_compare_exchange_strong(&s_state, &expected, 1)) {
        char done[4096];
        snprintf(done, sizeof done, "%s.done", trig);
        int fd = open(done, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd >= 0) {
            ssize_t n = write(fd, "stepped\n", 8);
            (void)n;
            close(fd);
        }
    }
    return 1;
}

static long long
s_back(void)
{
    if (s_back_ms < 0) {
        const char *v = getenv("CLOCKSTEP_BACK_MS");
        s_back_ms = v ? atoll(v) : 3600000LL;
    }
    return s_back_ms;
}

int
clock_gettime(clockid_t id, struct timespec *ts)
{
    int rc = s_real()(id, ts);
    if (rc == 0 && id == CLOCK_REALTIME && s_stepped()) {
        long long ns = (long long)ts->tv_sec * 1000000000LL + ts->tv_nsec - s_back() * 1000000LL;
        ts->tv_sec = ns / 1000000000LL;
        ts->tv_nsec = ns % 1000000000LL;
    }
    return rc;
}

int
gettimeofday(struct timeval *tv, void *tz)
{
    struct timespec ts;
    (void)tz;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        return -1;
    tv->tv_sec = ts.tv_sec;
    tv->tv_usec = ts.tv_nsec / 1000;
    return 0;
}

time_t
time(time_t *out)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (out)
        *out = ts.tv_sec;
    return ts.tv_sec;
}
