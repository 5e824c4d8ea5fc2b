/*
 * log_filter: the log range flags (contract in log_filter.h).
 */
#include "log_filter.h"

#include <getopt.h>
#include <inttypes.h>
#include <string.h>

#include "args.h"
#include "ot_event.h"

int
ot_cli_log_filter_opt(const char *prog, int c, const char *arg, ot_log_filter *f)
{
    int32_t days;
    if (c == OT_CLI_LF_FROM_SEQ || c == OT_CLI_LF_TO_SEQ) {
        uint64_t *v = c == OT_CLI_LF_FROM_SEQ ? &f->from_seq : &f->to_seq;
        if (ot_cli_parse_u64(arg, v) || *v == 0)
            return ot_cli_usage_error(prog, "--%s takes a log seq >= 1, not '%s'",
                                      c == OT_CLI_LF_FROM_SEQ ? "from-seq" : "to-seq", arg);
        return 0;
    }
    const char *flag = c == OT_CLI_LF_SINCE ? "since" : "until";
    if (ot_date_parse(arg, &days) != 0)
        return ot_cli_usage_error(prog, "--%s takes a date YYYY-MM-DD, not '%s'", flag, arg);
    *(c == OT_CLI_LF_SINCE ? &f->since : &f->until) = arg;
    return 0;
}

int
ot_cli_log_filter_check(const char *prog, const ot_log_filter *f)
{
    if (f->from_seq && f->to_seq && f->from_seq > f->to_seq)
        return ot_cli_usage_error(prog, "--from-seq %" PRIu64 " is after --to-seq %" PRIu64,
                                  f->from_seq, f->to_seq);
    if (f->since && f->until && strcmp(f->since, f->until) > 0)
        return ot_cli_usage_error(prog, "--since %s is after --until %s", f->since, f->until);
    return 0;
}
