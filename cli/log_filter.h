/*
 * log_filter: the log range flags of `log export` and `replay`:
 * --from-seq N, --to-seq M (log seqs >= 1) and --since / --until DATE
 * (YYYY-MM-DD, the event's occurred_on), parsed into an ot_log_filter.
 */
#ifndef OT_CLI_LOG_FILTER_H
#define OT_CLI_LOG_FILTER_H

#include "ot_store.h"

/* getopt_long() values of the four flags, for a command's option table
 * (OT_CLI_LOG_FILTER_OPTIONS) and its switch. */
enum {
    OT_CLI_LF_FROM_SEQ = 0x200,
    OT_CLI_LF_TO_SEQ,
    OT_CLI_LF_SINCE,
    OT_CLI_LF_UNTIL,
    OT_CLI_LF_END
};

#define OT_CLI_LOG_FILTER_OPTIONS \
    { "from-seq", required_argument, NULL, OT_CLI_LF_FROM_SEQ }, \
    { "to-seq", required_argument, NULL, OT_CLI_LF_TO_SEQ }, \
    { "since", required_argument, NULL, OT_CLI_LF_SINCE }, \
    { "until", required_argument, NULL, OT_CLI_LF_UNTIL }

/* True when c is one of the four flags' getopt values. */
#define OT_CLI_LOG_FILTER_FLAG(c) ((c) >= OT_CLI_LF_FROM_SEQ && (c) < OT_CLI_LF_END)

/* Take flag c (OT_CLI_LOG_FILTER_FLAG) with its value arg into *f; arg is
 * borrowed for a date, so it must live as long as *f (argv does). Returns 0,
 * or OT_EXIT_USAGE after printing the usage error of prog. */
int
ot_cli_log_filter_opt(const char *prog, int c, const char *arg, ot_log_filter *f);

/* After parsing: the bounds are in order. Returns 0, or OT_EXIT_USAGE after
 * printing the usage error. */
int
ot_cli_log_filter_check(const char *prog, const ot_log_filter *f);

#endif
