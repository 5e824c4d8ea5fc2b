/*
 * otb_util: shared helpers of the benchmark programs (see otb_util.h).
 */
#include "otb_util.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

double
otb_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
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
