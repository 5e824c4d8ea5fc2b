/*
 * cli_util: what several subcommands share: usage errors in one voice,
 * strict number parsing, a monotonic clock for progress and rates.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "ot_event.h"

int
ot_cli_usage_error(const char *prog, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", prog);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nTry '%s --help'.\n", prog);
    va_end(ap);
    return OT_EXIT_USAGE;
}

int
ot_cli_parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    if (*s == '-' || *s == '\0')
        return EINVAL;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return EINVAL;
    *out = v;
    return 0;
}

int
ot_cli_parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return EINVAL;
    *out = v;
    return 0;
}

int64_t
ot_cli_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
ot_cli_log_filter_opt(const char *prog, const char *flag, const char *arg, ot_log_filter *f)
{
    int32_t days;
    if (!strcmp(flag, "from-seq") || !strcmp(flag, "to-seq")) {
        uint64_t *v = flag[0] == 'f' ? &f->from_seq : &f->to_seq;
        if (ot_cli_parse_u64(arg, v) || *v == 0)
            return ot_cli_usage_error(prog, "--%s takes a log seq >= 1, not '%s'", flag, arg);
    } else {
        if (ot_date_parse(arg, &days) != 0)
            return ot_cli_usage_error(prog, "--%s takes a date YYYY-MM-DD, not '%s'", flag, arg);
        *(!strcmp(flag, "since") ? &f->since : &f->until) = arg;
    }
    return -1;
}

int
ot_cli_log_filter_check(const char *prog, const ot_log_filter *f)
{
    if (f->from_seq && f->to_seq && f->from_seq > f->to_seq)
        return ot_cli_usage_error(prog, "--from-seq %" PRIu64 " is after --to-seq %" PRIu64,
                                  f->from_seq, f->to_seq);
    if (f->since && f->until && strcmp(f->since, f->until) > 0)
        return ot_cli_usage_error(prog, "--since %s is after --until %s", f->since, f->until);
    return -1;
}
