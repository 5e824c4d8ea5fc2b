/*
 * otb_util: shared helpers of the benchmark programs (see otb_util.h).
 */
#include "otb_util.h"

#include <arpa/inet.h>
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/pidfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

double
otb_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

uint64_t
otb_mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* Whole file into buf (cap bytes, NUL-terminated). Returns bytes or -1. */
static ssize_t
s_slurp(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t got = 0;
    ssize_t n;
    while (got + 1 < cap && (n = read(fd, buf + got, cap - 1 - got)) > 0)
        got += (size_t)n;
    close(fd);
    buf[got] = '\0';
    return (ssize_t)got;
}

static uint64_t
s_field(const char *text, const char *key)
{
    const char *p = strstr(text, key);
    return p ? strtoull(p + strlen(key), NULL, 10) : 0;
}

int
otb_proc_read(pid_t pid, otb_proc *out)
{
    char path[64], buf[8192];
    char who[24];
    memset(out, 0, sizeof *out);
    if (pid == 0)
        snprintf(who, sizeof who, "self");
    else
        snprintf(who, sizeof who, "%d", (int)pid);

    snprintf(path, sizeof path, "/proc/%s/stat", who);
    if (s_slurp(path, buf, sizeof buf) < 0)
        return errno ? errno : ESRCH;
    /* Fields after the command name, which may hold spaces: find ')'. */
    const char *p = strrchr(buf, ')');
    if (!p)
        return EINVAL;
    unsigned long long ut = 0, st = 0;
    /* state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return EINVAL;
    out->cpu_s = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
    if (pid == 0) {
        /* Our own CPU to the microsecond, not in clock ticks. */
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        out->cpu_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                     (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    }

    snprintf(path, sizeof path, "/proc/%s/io", who);
    if (s_slurp(path, buf, sizeof buf) >= 0)
    {
        out->write_bytes = s_field(buf, "\nwrite_bytes:");
        out->wchar = s_field(buf, "wchar:");
    }

    snprintf(path, sizeof path, "/proc/%s/status", who);
    if (s_slurp(path, buf, sizeof buf) >= 0) {
        out->hwm_kb = s_field(buf, "VmHWM:");
        out->rss_kb = s_field(buf, "VmRSS:");
        out->rss_anon_kb = s_field(buf, "RssAnon:");
    }
    return 0;
}

uint64_t
otb_dev_written(const char *path)
{
    struct stat st;
    char p[128], buf[512];
    if (stat(path, &st) != 0)
        return 0;
    snprintf(p, sizeof p, "/sys/dev/block/%u:%u/stat", major(st.st_dev), minor(st.st_dev));
    if (s_slurp(p, buf, sizeof buf) < 0)
        return 0;
    unsigned long long v[7];
    if (sscanf(buf, "%llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4],
               &v[5], &v[6]) != 7)
        return 0;
    return (uint64_t)v[6] * 512;   /* sectors written; always 512-byte units */
}

void
otb_span_begin(otb_span *s, pid_t pid, const char *path)
{
    memset(s, 0, sizeof *s);
    s->pid = pid;
    s->path = path;
    otb_proc_read(pid, &s->p0);
    s->dev0 = path ? otb_dev_written(path) : 0;
    s->t0 = otb_now();
}

void
otb_span_end(otb_span *s)
{
    s->secs = otb_now() - s->t0;
    otb_proc_read(s->pid, &s->p1);
    s->dev1 = s->path ? otb_dev_written(s->path) : 0;
}

double
otb_span_cpu(const otb_span *s)
{
    return s->p1.cpu_s - s->p0.cpu_s;
}

const char *
otb_span_fields(const otb_span *s, uint64_t events, char *buf, size_t cap)
{
    snprintf(buf, cap, "events=%" PRIu64 "\tsecs=%.3f\tevps=%.0f\thwm_kb=%" PRIu64
             "\twbytes=%" PRIu64 "\twchar=%" PRIu64 "\tdevbytes=%" PRIu64, events, s->secs,
             s->secs > 0 ? (double)events / s->secs : 0, s->p1.hwm_kb,
             s->p1.write_bytes - s->p0.write_bytes, s->p1.wchar - s->p0.wchar,
             s->dev1 - s->dev0);
    return buf;
}

uint64_t
otb_du(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    uint64_t sum = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char p[4096];
        struct stat st;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (lstat(p, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode))
            sum += otb_du(p);
        else
            sum += (uint64_t)st.st_blocks * 512;
    }
    closedir(d);
    return sum;
}

int
otb_events_open(const char *path, otb_events *ev)
{
    memset(ev, 0, sizeof *ev);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        int e = errno;
        fprintf(stderr, "bench: cannot open %s: %s\n", path, strerror(e));
        if (fd >= 0)
            close(fd);
        return e;
    }
    ev->len = (size_t)st.st_size;
    if (ev->len > 0) {
        void *m = mmap(NULL, ev->len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            int e = errno;
            close(fd);
            fprintf(stderr, "bench: cannot map %s: %s\n", path, strerror(e));
            return e;
        }
        ev->map = m;
        madvise(m, ev->len, MADV_SEQUENTIAL);
    }
    close(fd);
    size_t pos = 0;
    const uint8_t *d;
    size_t n;
    while (otb_events_next(ev, &pos, &d, &n))
        ev->n++;
    if (pos != ev->len) {
        fprintf(stderr, "bench: %s: truncated record at byte %zu\n", path, pos);
        otb_events_close(ev);
        return EINVAL;
    }
    return 0;
}

void
otb_events_close(otb_events *ev)
{
    if (ev->map)
        munmap((void *)ev->map, ev->len);
    memset(ev, 0, sizeof *ev);
}

bool
otb_events_next(const otb_events *ev, size_t *pos, const uint8_t **data, size_t *len)
{
    if (*pos + 4 > ev->len)
        return false;
    const uint8_t *p = ev->map + *pos;
    uint32_t n = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                 (uint32_t)p[3] << 24;
    if (*pos + 4 + n > ev->len)
        return false;
    *data = p + 4;
    *len = n;
    *pos += 4 + (size_t)n;
    return true;
}

long long
otb_meta_get(const char *events_path, const char *key)
{
    char path[4096], line[512];
    snprintf(path, sizeof path, "%s.meta", events_path);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long long v = -1;
    size_t kl = strlen(key);
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, key, kl) == 0 && line[kl] == ' ') {
            v = strtoll(line + kl + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return v;
}

bool
otb_meta_check(const char *events_path, const uint64_t st[6], const char *who)
{
    long long want_st = otb_meta_get(events_path, "stored");
    long long want_dup = otb_meta_get(events_path, "duplicate");
    long long want_sup = otb_meta_get(events_path, "superseded");
    if ((long long)st[1] == want_st && (long long)st[2] == want_dup &&
        (long long)st[3] == want_sup && st[4] == 0 && st[5] == 0)
        return true;
    fprintf(stderr, "%s: got stored %" PRIu64 " duplicate %" PRIu64 " superseded %" PRIu64
            " stale %" PRIu64 " rejected %" PRIu64 "; %s.meta expects %lld %lld %lld 0 0\n",
            who, st[1], st[2], st[3], st[4], st[5], events_path, want_st, want_dup, want_sup);
    return false;
}

static int
s_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double
otb_percentile(double *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof *v, s_cmp_double);
    /* nearest rank */
    size_t rank = (size_t)(p / 100.0 * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return v[rank - 1];
}

int
otb_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_in a = { 0 };
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t al = sizeof a;
    int port = 0;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &al) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

int
otb_child_stop(pid_t pid, int timeout_s)
{
    if (pid <= 0)
        return -1;
    /* A pidfd becomes readable when the child exits: wait on that, with
     * the timeout, rather than polling waitpid. */
    int pfd = pidfd_open(pid, 0);
    kill(pid, SIGTERM);
    int st = 0;
    pid_t r = 0;
    if (pfd >= 0) {
        struct pollfd pi = { .fd = pfd, .events = POLLIN };
        double deadline = otb_now() + timeout_s;
        int left;
        while ((left = (int)((deadline - otb_now()) * 1000)) > 0 && poll(&pi, 1, left) < 0 &&
               errno == EINTR)
            ;
        close(pfd);
        r = waitpid(pid, &st, WNOHANG);
    } else {
        r = waitpid(pid, &st, 0);   /* no pidfd (kernel < 5.3): wait without a bound */
    }
    if (r == 0) {
        fprintf(stderr, "bench: pid %d did not stop in %d s; killing it\n", (int)pid, timeout_s);
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        return -1;
    }
    if (r != pid || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}

/* Parse text as a whole decimal number in [lo, hi]. Returns 0 or -1. */
static int
s_parse_ll(const char *text, long long lo, unsigned long long hi, unsigned long long *out)
{
    char *end;
    errno = 0;
    if (lo >= 0) {
        if (strchr(text, '-'))
            return -1;
        unsigned long long v = strtoull(text, &end, 10);
        if (errno || end == text || *end || v < (unsigned long long)lo || v > hi)
            return -1;
        *out = v;
        return 0;
    }
    long long v = strtoll(text, &end, 10);
    if (errno || end == text || *end || v < lo || (v > 0 && (unsigned long long)v > hi))
        return -1;
    *out = (unsigned long long)v;
    return 0;
}

/* Store one option's argument. Returns 0 or -1 (said on stderr). */
static int
s_opt_set(const otb_opt *o, const char *arg)
{
    unsigned long long v;
    char *end;
    switch (o->kind) {
    case OTB_OPT_STR:
        *(const char **)o->out = arg;
        return 0;
    case OTB_OPT_FLAG:
        *(bool *)o->out = true;
        return 0;
    case OTB_OPT_U64:
        if (s_parse_ll(arg, 0, UINT64_MAX, &v) != 0)
            break;
        *(uint64_t *)o->out = (uint64_t)v;
        return 0;
    case OTB_OPT_SIZE:
        if (s_parse_ll(arg, 0, SIZE_MAX, &v) != 0)
            break;
        *(size_t *)o->out = (size_t)v;
        return 0;
    case OTB_OPT_INT:
        if (s_parse_ll(arg, INT_MIN, INT_MAX, &v) != 0)
            break;
        *(int *)o->out = (int)(long long)v;
        return 0;
    case OTB_OPT_DOUBLE:
        errno = 0;
        *(double *)o->out = strtod(arg, &end);
        if (errno || end == arg || *end)
            break;
        return 0;
    case OTB_OPT_CHOICE:
        for (int i = 0; o->choices[i]; i++)
            if (strcmp(arg, o->choices[i]) == 0) {
                *(int *)o->out = i;
                return 0;
            }
        break;
    }
    fprintf(stderr, "bench: --%s: '%s' is not a valid value\n", o->name, arg);
    return -1;
}

int
otb_opts_parse(int argc, char **argv, const otb_opt *opts)
{
    enum { S_MAX_OPTS = 32 };
    struct option longs[S_MAX_OPTS + 1];
    size_t n = 0;
    for (; opts[n].name; n++) {
        assert(n < S_MAX_OPTS);
        longs[n] = (struct option){ opts[n].name,
                                    opts[n].kind == OTB_OPT_FLAG ? no_argument : required_argument,
                                    NULL, 256 + (int)n };
    }
    longs[n] = (struct option){ NULL, 0, NULL, 0 };
    optind = 0;   /* glibc: start afresh, even after an earlier parse */
    int c;
    while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        if (c < 256 || (size_t)(c - 256) >= n)
            return -1;   /* getopt said what was wrong */
        if (s_opt_set(&opts[c - 256], optarg) != 0)
            return -1;
    }
    if (optind < argc) {
        fprintf(stderr, "bench: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    return 0;
}

int
otb_usage(const char *text)
{
    fprintf(stderr, "usage: %s\n", text);
    return 64;
}

void
otb_result(const char *name, const char *fmt, ...)
{
    va_list ap;
    printf("RESULT\t%s\t", name);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

void
otb_say(const char *fmt, ...)
{
    va_list ap;
    fputs("bench: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}
