/*
 * test_otb_util: the helpers every benchmark program of bench/ shares,
 * once (bench/otb_util.h). Nothing here is timed; the benchmark itself is
 * never run by ctest.
 *  - otb_mix is splitmix64 (reference outputs of seed 0), so a run's input
 *    is the same as the one docs/PERFORMANCE.md was measured with;
 *  - otb_opts_parse takes every kind of option, keeps defaults, and refuses
 *    a malformed number, a negative count, an unknown choice, an unknown
 *    option and a stray argument;
 *  - the events file is read record by record and a truncated one refused;
 *  - otb_meta_check accepts exactly the counts FILE.meta names;
 *  - otb_percentile is the nearest rank;
 *  - otb_child_stop returns the exit status of a child that handles
 *    SIGTERM, and -1 for one that is killed by it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "otb_util.h"

static void
test_mix_is_splitmix64(void **state)
{
    (void)state;
    /* splitmix64 seeded with 0: its state advances by the golden gamma and
     * each output is the mix of the new state; otb_mix(x) is that output
     * for state x. */
    assert_true(otb_mix(0) == 0xe220a8397b1dcdafULL);
    assert_true(otb_mix(0x9e3779b97f4a7c15ULL) == 0x6e789e6aa1b965f4ULL);
    assert_true(otb_mix(0x3c6ef372fe94f82aULL) == 0x06c45d188009454fULL);
}

typedef struct u_opts {
    const char *name;
    uint64_t n;
    size_t size;
    int count;
    double rate;
    bool flag;
    int kind;
} u_opts;

static const char *const u_kinds[] = { "none", "random", "ordered", NULL };

/* Parse the NULL-terminated words after a program name into *o (defaults
 * set first). Returns what otb_opts_parse returned. */
static int
u_parse(u_opts *o, ...)
{
    char *argv[16] = { "prog" };
    int argc = 1;
    va_list ap;
    va_start(ap, o);
    for (char *w; (w = va_arg(ap, char *)) != NULL && argc < 15;)
        argv[argc++] = w;
    va_end(ap);
    *o = (u_opts){ .name = "default", .n = 7, .size = 8, .count = 9, .rate = 1.5 };
    const otb_opt opts[] = {
        { "name", OTB_OPT_STR, &o->name, NULL },
        { "n", OTB_OPT_U64, &o->n, NULL },
        { "size", OTB_OPT_SIZE, &o->size, NULL },
        { "count", OTB_OPT_INT, &o->count, NULL },
        { "rate", OTB_OPT_DOUBLE, &o->rate, NULL },
        { "flag", OTB_OPT_FLAG, &o->flag, NULL },
        { "kind", OTB_OPT_CHOICE, &o->kind, u_kinds },
        { NULL, 0, NULL, NULL },
    };
    return otb_opts_parse(argc, argv, opts);
}

static void
test_opts_every_kind(void **state)
{
    (void)state;
    u_opts o;
    assert_int_equal(u_parse(&o, "--name", "row", "--n", "18446744073709551615", "--size", "3",
                             "--count", "-4", "--rate", "2.25", "--flag", "--kind", "ordered",
                             NULL), 0);
    assert_string_equal(o.name, "row");
    assert_true(o.n == UINT64_MAX);
    assert_int_equal(o.size, 3);
    assert_int_equal(o.count, -4);
    assert_true(o.rate == 2.25);
    assert_true(o.flag);
    assert_int_equal(o.kind, 2);

    /* Absent options keep their defaults; a second parse starts afresh. */
    assert_int_equal(u_parse(&o, "--n", "5", NULL), 0);
    assert_string_equal(o.name, "default");
    assert_true(o.n == 5);
    assert_int_equal(o.size, 8);
    assert_false(o.flag);
    assert_int_equal(o.kind, 0);
}

static void
test_opts_refused(void **state)
{
    (void)state;
    u_opts o;
    assert_int_equal(u_parse(&o, "--n", "12x", NULL), -1);
    assert_int_equal(u_parse(&o, "--n", "", NULL), -1);
    assert_int_equal(u_parse(&o, "--n", "-1", NULL), -1);
    assert_int_equal(u_parse(&o, "--n", "18446744073709551616", NULL), -1);
    assert_int_equal(u_parse(&o, "--count", "2147483648", NULL), -1);
    assert_int_equal(u_parse(&o, "--rate", "fast", NULL), -1);
    assert_int_equal(u_parse(&o, "--kind", "sorted", NULL), -1);
    assert_int_equal(u_parse(&o, "--no-such-option", NULL), -1);
    assert_int_equal(u_parse(&o, "--n", "3", "stray", NULL), -1);
    assert_int_equal(u_parse(&o, "--n", NULL), -1);
}

/* Write bytes to a fresh temporary file. OUT: path (a buffer of 64). */
static void
u_write_tmp(char *path, const void *data, size_t n)
{
    snprintf(path, 64, "/tmp/test_otb_util.XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, n), (ssize_t)n);
    close(fd);
}

static void
test_events_file(void **state)
{
    (void)state;
    /* Two records, "abc" and "", then a header that promises 9 bytes. */
    const uint8_t bytes[] = { 3, 0, 0, 0, 'a', 'b', 'c', 0, 0, 0, 0, 9, 0, 0, 0, 'x' };
    char path[64];
    u_write_tmp(path, bytes, sizeof bytes - 5);
    otb_events ev;
    assert_int_equal(otb_events_open(path, &ev), 0);
    assert_int_equal(ev.n, 2);
    size_t pos = 0, len;
    const uint8_t *d;
    assert_true(otb_events_next(&ev, &pos, &d, &len));
    assert_int_equal(len, 3);
    assert_memory_equal(d, "abc", 3);
    assert_true(otb_events_next(&ev, &pos, &d, &len));
    assert_int_equal(len, 0);
    assert_false(otb_events_next(&ev, &pos, &d, &len));
    otb_events_close(&ev);
    unlink(path);

    u_write_tmp(path, bytes, sizeof bytes);
    assert_int_equal(otb_events_open(path, &ev), EINVAL);
    unlink(path);
}

static void
test_meta_check(void **state)
{
    (void)state;
    const char meta[] = "events 10\ndistinct 8\nstored 8\nduplicate 1\nsuperseded 1\n";
    char path[64], mpath[80];
    u_write_tmp(path, "", 0);
    snprintf(mpath, sizeof mpath, "%s.meta", path);
    FILE *f = fopen(mpath, "w");
    assert_non_null(f);
    fputs(meta, f);
    fclose(f);
    assert_int_equal(otb_meta_get(path, "distinct"), 8);
    assert_int_equal(otb_meta_get(path, "missing"), -1);
    uint64_t ok[6] = { 0, 8, 1, 1, 0, 0 };
    assert_true(otb_meta_check(path, ok, "test"));
    for (int i = 1; i < 6; i++) {
        uint64_t bad[6];
        memcpy(bad, ok, sizeof bad);
        bad[i]++;
        assert_false(otb_meta_check(path, bad, "test (expected to differ)"));
    }
    unlink(mpath);
    unlink(path);
}

static void
test_percentile_nearest_rank(void **state)
{
    (void)state;
    double v[] = { 5, 1, 4, 2, 3, 10, 9, 8, 7, 6 };
    assert_true(otb_percentile(v, 10, 50) == 5);
    assert_true(otb_percentile(v, 10, 99) == 10);
    assert_true(otb_percentile(v, 10, 100) == 10);
    assert_true(otb_percentile(v, 10, 0) == 1);
    assert_true(otb_percentile(v, 0, 50) == 0);
}

static void
u_exit3(int sig)
{
    (void)sig;
    _exit(3);
}

/* Fork a child that is ready (its SIGTERM disposition set) once it wrote
 * a byte to a pipe: read that byte, so the signal never races the setup. */
static pid_t
u_child(bool handle_term)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGTERM, handle_term ? u_exit3 : SIG_DFL);
        if (write(fds[1], "r", 1) != 1)
            _exit(1);
        for (;;)
            pause();
    }
    char c;
    close(fds[1]);
    assert_int_equal(read(fds[0], &c, 1), 1);
    close(fds[0]);
    return pid;
}

static void
test_child_stop(void **state)
{
    (void)state;
    assert_int_equal(otb_child_stop(u_child(true), 10), 3);
    assert_int_equal(otb_child_stop(u_child(false), 10), -1);
    assert_int_equal(otb_child_stop(0, 10), -1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mix_is_splitmix64),
        cmocka_unit_test(test_opts_every_kind),
        cmocka_unit_test(test_opts_refused),
        cmocka_unit_test(test_events_file),
        cmocka_unit_test(test_meta_check),
        cmocka_unit_test(test_percentile_nearest_rank),
        cmocka_unit_test(test_child_stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
