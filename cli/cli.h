/*
 * cli: the `optally` subcommands. Each takes argc/argv after the subcommand
 * name (argv[0] is the subcommand) and returns the process exit code.
 * Exit codes: 0 ok; 1 the work ran but found a problem (rejected events,
 * differences); 2 transport / runtime failure; 64 usage error (EX_USAGE).
 */
#ifndef OT_CLI_H
#define OT_CLI_H

#define OT_EXIT_OK        0
#define OT_EXIT_PROBLEM   1
#define OT_EXIT_FAILURE   2
#define OT_EXIT_USAGE     64

int ot_cmd_consume(int argc, char **argv);
int ot_cmd_produce(int argc, char **argv);
int ot_cmd_query(int argc, char **argv);
int ot_cmd_rejects(int argc, char **argv);
int ot_cmd_subscribe(int argc, char **argv);
int ot_cmd_keygen(int argc, char **argv);
int ot_cmd_log(int argc, char **argv);          /* log export | log import */
int ot_cmd_log_import(int argc, char **argv);   /* in cmd_produce.c: shares its reading */
int ot_cmd_replay(int argc, char **argv);
int ot_cmd_rebuild(int argc, char **argv);

#include <stdint.h>

/* Print "PROG: message" and a hint to --help on stderr; returns
 * OT_EXIT_USAGE (64). */
int ot_cli_usage_error(const char *prog, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A non-negative decimal integer, the whole string. OUT: *out.
 * Returns 0 or EINVAL. */
int ot_cli_parse_u64(const char *s, uint64_t *out);

/* The log range flags of `log export` and `replay`: flag is "from-seq",
 * "to-seq", "since" or "until". Returns -1 when arg was taken into *f,
 * else the exit code of the usage error it printed. */
#include "ot_store.h"
int ot_cli_log_filter_opt(const char *prog, const char *flag, const char *arg, ot_log_filter *f);

/* After parsing: the bounds are in order. Returns -1, or a usage exit code. */
int ot_cli_log_filter_check(const char *prog, const ot_log_filter *f);

/* A decimal integer in [lo, hi], the whole string. OUT: *out.
 * Returns 0 or EINVAL. */
int ot_cli_parse_long(const char *s, long lo, long hi, long *out);

/* Milliseconds of CLOCK_MONOTONIC, for progress and rates. */
int64_t ot_cli_mono_ms(void);

/* Client CURVE keys from --curve-secret / --server-key (or env
 * OPTALLY_CURVE_SECRET / OPTALLY_SERVER_KEY). Returns 0 when none are
 * configured, 1 when both were read into *me and *server, -1 after printing
 * what is wrong (exit 64). */
#include "ot_keys.h"
int ot_cli_client_keys(const char *cmd, const char *secret_file, const char *server_file,
                       ot_keypair *me, ot_keypair *server);

#endif
