/*
 * args: shared command-line conventions (contract in args.h).
 */
#include "args.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

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
ot_cli_getopt_error(const char *prog, int c, char **argv)
{
    /* getopt has stepped past the offending word (the flag, or for a
     * missing value the flag that wanted one). */
    const char *flag = argv[optind - 1];
    if (c == ':')
        return ot_cli_usage_error(prog, "%s needs a value", flag);
    return ot_cli_usage_error(prog, "unknown option '%s'", flag);
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

int
ot_cli_flag_choice(const char *prog, const char *flag, const char *arg,
                   const char *const *names, int *index)
{
    char list[256] = "";
    size_t len = 0;
    int n = 0;
    for (n = 0; names[n]; n++) {
        if (strcmp(arg, names[n]) == 0) {
            *index = n;
            return 0;
        }
    }
    for (int i = 0; i < n && len < sizeof list; i++)
        len += (size_t)snprintf(list + len, sizeof list - len, "%s%s",
                                i == 0 ? "" : i == n - 1 ? " or " : ", ", names[i]);
    return ot_cli_usage_error(prog, "%s is %s, not '%s'", flag, list, arg);
}

int
ot_cli_flag_long(const char *prog, const char *flag, const char *arg, long lo, long hi,
                 long *out)
{
    if (ot_cli_parse_long(arg, lo, hi, out) != 0)
        return ot_cli_usage_error(prog, "%s takes %ld..%ld, not '%s'", flag, lo, hi, arg);
    return 0;
}

/* p->longs with --help appended. OUT: all (cap entries). */
static void
s_with_help(const ot_cli_parser *p, struct option *all, size_t cap)
{
    size_t n = 0;
    while (p->longs[n].name && n < cap - 2)
        n++;
    assert(!p->longs[n].name);   /* more flags than cap: make cap larger */
    memcpy(all, p->longs, n * sizeof *all);
    all[n] = (struct option){ "help", no_argument, NULL, 'h' };
    all[n + 1] = (struct option){ NULL, 0, NULL, 0 };
}

int
ot_cli_parse(const ot_cli_parser *p, int argc, char **argv, void *ctx, int *operands)
{
    struct option all[34];
    char shorts[32];
    int c, code;
    s_with_help(p, all, sizeof all / sizeof all[0]);
    snprintf(shorts, sizeof shorts, ":h%s", p->shorts);
    opterr = 0;   /* our own messages, prefixed PROG: */
    optind = 0;   /* glibc: a full reset, even if an earlier parse ran */
    while ((c = getopt_long(argc, argv, shorts, all, NULL)) != -1) {
        if (c == 'h') {
            p->help(stdout);
            return OT_EXIT_OK;
        }
        code = p->flag(ctx, c, optarg);
        if (code == OT_CLI_FLAG_UNKNOWN)
            return ot_cli_getopt_error(p->prog, c, argv);
        if (code >= 0)
            return code;
    }
    if (operands)
        *operands = optind;
    else if (optind < argc)
        return ot_cli_usage_error(p->prog, "unexpected argument '%s'", argv[optind]);
    return -1;
}
