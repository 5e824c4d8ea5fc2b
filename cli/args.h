/*
 * args: the command-line conventions every `optally` subcommand shares:
 * usage errors in one voice ("PROG: message", a hint to --help, exit 64),
 * getopt's own errors turned into that voice, and strict number parsing.
 *
 * A subcommand parses with ot_cli_parse(): getopt_long() with a full reset
 * and our own messages, --help handled, one call of the command's flag
 * function per other flag.
 */
#ifndef OT_CLI_ARGS_H
#define OT_CLI_ARGS_H

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>

/* What a flag function returns for a getopt value it has no case for (an
 * unknown flag '?', a missing value ':'): ot_cli_parse() tells it. */
#define OT_CLI_FLAG_UNKNOWN (-2)

/* Takes one flag: c is what getopt_long() returned (the option's val, or
 * '?' / ':'), arg its value (NULL without). Returns -1 when taken,
 * OT_CLI_FLAG_UNKNOWN, or the exit code that ends the parse (64 after
 * printing a usage error). */
typedef int (*ot_cli_flag_fn)(void *ctx, int c, const char *arg);

/* A subcommand's command line. */
typedef struct ot_cli_parser {
    const char *prog;             /* "optally query": the prefix of every message */
    const char *shorts;           /* short flags besides -h, e.g. "q" (no ':') */
    const struct option *longs;   /* its flags, ending with { NULL, 0, NULL, 0 };
                                   * at most 32; --help is added */
    ot_cli_flag_fn flag;          /* takes every flag but --help */
    void (*help)(FILE *f);        /* what --help / -h prints on stdout */
} ot_cli_parser;

/* Parse argv (argv[0] is the subcommand) with getopt_long(), a full reset
 * and our own messages: --help prints the usage (exit 0), a missing value
 * is told apart from an unknown flag (ot_cli_getopt_error), each other flag
 * goes to p->flag with ctx. operands NULL: the command takes none, and one
 * is the usage error "unexpected argument"; else OUT: *operands, the index
 * in argv of the first (getopt moves them to the end). Returns -1 to go on,
 * or the exit code. */
int
ot_cli_parse(const ot_cli_parser *p, int argc, char **argv, void *ctx, int *operands);

/* Print "PROG: message" and "Try 'PROG --help'." on stderr. Returns
 * OT_EXIT_USAGE (64), for `return ot_cli_usage_error(...)`. */
int
ot_cli_usage_error(const char *prog, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The usage error of what getopt_long() returned as c when the command has
 * no case for it: ':' (a flag without its value) says "FLAG needs a value",
 * anything else "unknown option 'FLAG'". argv and optind as getopt left
 * them. Returns OT_EXIT_USAGE. */
int
ot_cli_getopt_error(const char *prog, int c, char **argv);

/* A non-negative decimal integer, the whole string. OUT: *out.
 * Returns 0 or EINVAL (*out unchanged). */
int
ot_cli_parse_u64(const char *s, uint64_t *out);

/* A decimal integer in [lo, hi], the whole string. OUT: *out.
 * Returns 0 or EINVAL (*out unchanged). */
int
ot_cli_parse_long(const char *s, long lo, long hi, long *out);

/* The value arg of flag (e.g. "--window") as an integer in [lo, hi].
 * OUT: *out. Returns 0, or OT_EXIT_USAGE after printing
 * "PROG: FLAG takes LO..HI, not 'ARG'". */
int
ot_cli_flag_long(const char *prog, const char *flag, const char *arg, long lo, long hi,
                 long *out);

/* The value arg of flag as one of names (a NULL-terminated list, in the
 * order the message gives them). OUT: *index. Returns 0, or OT_EXIT_USAGE
 * after printing "PROG: FLAG is A, B or C, not 'ARG'". */
int
ot_cli_flag_choice(const char *prog, const char *flag, const char *arg,
                   const char *const *names, int *index);

#endif
