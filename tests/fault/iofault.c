/*
 * iofault: an LD_PRELOAD shim that makes writes and syncs of chosen files
 * fail, below the store's own calls (inside LMDB), for tests only.
 *
 * SQLite's I/O error loops fail the VFS; LMDB has no VFS, so the failure is
 * injected where LMDB meets the C library: pwrite (one page, and the meta
 * page on its O_DSYNC descriptor), writev (several pages after an lseek),
 * write, fdatasync, fsync and msync. Nothing else is touched.
 *
 * Configuration, read once from the environment at the first call:
 *   OT_IOFAULT_PATH   required: only descriptors (msync: mappings) whose
 *                     file path starts with this prefix can fail
 *   OT_IOFAULT_CALLS  comma list of the calls that fail (default: all of
 *                     pwrite,pwritev,writev,write,fdatasync,fsync,msync;
 *                     pwrite covers pwrite64, pwritev covers pwritev2)
 *   OT_IOFAULT_ERRNO  the error: EIO (default), ENOSPC, EDQUOT, EROFS or a
 *                     number
 *   OT_IOFAULT_AFTER  the first N matching calls succeed (default 0)
 *   OT_IOFAULT_COUNT  fail this many calls, then succeed again (default 0:
 *                     every matching call after the first N)
 *   OT_IOFAULT_MIN_BYTES / OT_IOFAULT_MAX_BYTES
 *                     writes only: fail only writes of at least / at most
 *                     this many bytes (LMDB's data pages are whole pages;
 *                     its meta page write is shorter than one page)
 *   OT_IOFAULT_ARM    a file name: calls match only while that file exists
 *                     (a test arms and disarms the fault without a restart)
 *   OT_IOFAULT_LOG    a file: one line per injected failure
 *                     ("call fd=N bytes=N errno=N path"), so a test can
 *                     show the fault really happened
 * "Matching" means: a listed call, on a file under the path, of a size in
 * range, while armed. AFTER and COUNT count matching calls only.
 *
 * The shim is not built with sanitizers. Under an ASan binary the ASan
 * runtime must come first: LD_PRELOAD="$(gcc -print-file-name=libasan.so):
 * libiofault.so". ASan's interceptors then call into this shim through
 * dlsym(RTLD_NEXT), and this shim calls the C library the same way.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

enum { S_PWRITE = 1, S_PWRITEV = 2, S_WRITEV = 4, S_WRITE = 8,
       S_FDATASYNC = 16, S_FSYNC = 32, S_MSYNC = 64, S_ALL = 127 };

static struct {
    char path[4096];
    size_t pathlen;
    unsigned calls;
    int err;
    long after, count;
    size_t min_bytes, max_bytes;
    char arm[4096];
    char log[4096];
    int on;            /* 0: no OT_IOFAULT_PATH, the shim passes everything */
} s_cfg;

static pthread_once_t s_once = PTHREAD_ONCE_INIT;
static long s_matched;     /* matching calls so far (atomic) */

static ssize_t (*s_real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*s_real_pwrite64)(int, const void *, size_t, off_t);
static ssize_t (*s_real_pwritev)(int, const struct iovec *, int, off_t);
static ssize_t (*s_real_pwritev2)(int, const struct iovec *, int, off_t, int);
static ssize_t (*s_real_writev)(int, const struct iovec *, int);
static ssize_t (*s_real_write)(int, const void *, size_t);
static int (*s_real_fdatasync)(int);
static int (*s_real_fsync)(int);
static int (*s_real_msync)(void *, size_t, int);

static int
s_errno_of(const char *v)
{
    static const struct { const char *name; int err; } names[] = {
        { "EIO", EIO }, { "ENOSPC", ENOSPC }, { "EDQUOT", EDQUOT }, { "EROFS", EROFS },
    };
    if (!v || !*v)
        return EIO;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(v, names[i].name) == 0)
            return names[i].err;
    int n = atoi(v);
    return n > 0 ? n : EIO;
}

static unsigned
s_calls_of(const char *v)
{
    static const struct { const char *name; unsigned bit; } names[] = {
        { "pwrite", S_PWRITE }, { "pwritev", S_PWRITEV }, { "writev", S_WRITEV },
        { "write", S_WRITE }, { "fdatasync", S_FDATASYNC }, { "fsync", S_FSYNC },
        { "msync", S_MSYNC },
    };
    if (!v || !*v)
        return S_ALL;
    unsigned bits = 0;
    const char *p = v;
    while (*p) {
        size_t len = strcspn(p, ",");
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
            if (strlen(names[i].name) == len && strncmp(p, names[i].name, len) == 0)
                bits |= names[i].bit;
        p += len;
        if (*p == ',')
            p++;
    }
    return bits;
}

static void
s_copy(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

static void
s_init(void)
{
    s_real_pwrite = (ssize_t (*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite");
    s_real_pwrite64 = (ssize_t (*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite64");
    s_real_pwritev = (ssize_t (*)(int, const struct iovec *, int, off_t))dlsym(RTLD_NEXT, "pwritev");
    s_real_pwritev2 = (ssize_t (*)(int, const struct iovec *, int, off_t, int))dlsym(RTLD_NEXT, "pwritev2");
    s_real_writev = (ssize_t (*)(int, const struct iovec *, int))dlsym(RTLD_NEXT, "writev");
    s_real_write = (ssize_t (*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
    s_real_fdatasync = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    s_real_fsync = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    s_real_msync = (int (*)(void *, size_t, int))dlsym(RTLD_NEXT, "msync");

    const char *path = getenv("OT_IOFAULT_PATH");
    if (!path || !*path)
        return;
    s_copy(s_cfg.path, sizeof s_cfg.path, path);
    s_cfg.pathlen = strlen(s_cfg.path);
    s_cfg.calls = s_calls_of(getenv("OT_IOFAULT_CALLS"));
    s_cfg.err = s_errno_of(getenv("OT_IOFAULT_ERRNO"));
    const char *v;
    s_cfg.after = (v = getenv("OT_IOFAULT_AFTER")) ? atol(v) : 0;
    s_cfg.count = (v = getenv("OT_IOFAULT_COUNT")) ? atol(v) : 0;
    s_cfg.min_bytes = (v = getenv("OT_IOFAULT_MIN_BYTES")) ? (size_t)atoll(v) : 0;
    s_cfg.max_bytes = (v = getenv("OT_IOFAULT_MAX_BYTES")) ? (size_t)atoll(v) : SIZE_MAX;
    s_copy(s_cfg.arm, sizeof s_cfg.arm, getenv("OT_IOFAULT_ARM"));
    s_copy(s_cfg.log, sizeof s_cfg.log, getenv("OT_IOFAULT_LOG"));
    s_cfg.on = 1;
}

/* The path of fd into buf (empty when unknown). */
static void
s_fd_path(int fd, char *buf, size_t cap)
{
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, buf, cap - 1);
    buf[n > 0 ? (size_t)n : 0] = '\0';
}

/* The path of the file mapped at addr (from /proc/self/maps), or empty.
 * Parsed with raw reads: no stdio, no allocation, inside msync. */
static void
s_map_path(const void *addr, char *buf, size_t cap)
{
    buf[0] = '\0';
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    char chunk[8192], line[4096 + 256];
    size_t ll = 0;
    ssize_t n;
    uintptr_t a = (uintptr_t)addr;
    while ((n = read(fd, chunk, sizeof chunk)) > 0) {
        for (ssize_t i = 0; i < n; i++) {
            if (chunk[i] != '\n') {
                if (ll < sizeof line - 1)
                    line[ll++] = chunk[i];
                continue;
            }
            line[ll] = '\0';
            ll = 0;
            unsigned long lo, hi;
            int off = 0;
            if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %n", &lo, &hi, &off) >= 2 && off > 0 &&
                a >= lo && a < hi) {
                snprintf(buf, cap, "%s", line + off);
                close(fd);
                return;
            }
        }
    }
    close(fd);
}

static int
s_armed(void)
{
    if (!s_cfg.arm[0])
        return 1;
    struct stat st;
    return stat(s_cfg.arm, &st) == 0;
}

static void
s_log(const char *call, int fd, size_t bytes, const char *path)
{
    if (!s_cfg.log[0])
        return;
    char line[4096 + 128];
    int len = snprintf(line, sizeof line, "%s fd=%d bytes=%zu errno=%d %s\n",
                       call, fd, bytes, s_cfg.err, path);
    if (len < 0)
        return;
    if ((size_t)len >= sizeof line)
        len = (int)sizeof line - 1;
    int lfd = open(s_cfg.log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (lfd < 0)
        return;
    ssize_t w = s_real_write(lfd, line, (size_t)len);   /* one append per line */
    (void)w;
    close(lfd);
}

/* Decide for one call. fd < 0: addr names the mapping (msync). Returns 0
 * to let the call through, or the errno to fail it with. */
static int
s_decide(unsigned bit, const char *call, int fd, const void *addr, size_t bytes, int is_write)
{
    pthread_once(&s_once, s_init);
    if (!s_cfg.on || !(s_cfg.calls & bit))
        return 0;
    if (is_write && (bytes < s_cfg.min_bytes || bytes > s_cfg.max_bytes))
        return 0;
    char path[4096];
    if (fd >= 0)
        s_fd_path(fd, path, sizeof path);
    else
        s_map_path(addr, path, sizeof path);
    if (strncmp(path, s_cfg.path, s_cfg.pathlen) != 0 || !s_armed())
        return 0;
    long nth = __atomic_add_fetch(&s_matched, 1, __ATOMIC_SEQ_CST);
    if (nth <= s_cfg.after)
        return 0;
    if (s_cfg.count > 0 && nth > s_cfg.after + s_cfg.count)
        return 0;
    s_log(call, fd, bytes, path);
    return s_cfg.err;
}

static size_t
s_iov_bytes(const struct iovec *iov, int n)
{
    size_t t = 0;
    for (int i = 0; i < n; i++)
        t += iov[i].iov_len;
    return t;
}

#define S_FAIL_OR(ret_err, expr) \
    do { if ((ret_err) != 0) { errno = (ret_err); return -1; } return (expr); } while (0)

ssize_t
pwrite(int fd, const void *buf, size_t n, off_t off)
{
    int e = s_decide(S_PWRITE, "pwrite", fd, NULL, n, 1);
    S_FAIL_OR(e, s_real_pwrite(fd, buf, n, off));
}

ssize_t
pwrite64(int fd, const void *buf, size_t n, off_t off)
{
    int e = s_decide(S_PWRITE, "pwrite64", fd, NULL, n, 1);
    S_FAIL_OR(e, s_real_pwrite64(fd, buf, n, off));
}

ssize_t
pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
    int e = s_decide(S_PWRITEV, "pwritev", fd, NULL, s_iov_bytes(iov, cnt), 1);
    S_FAIL_OR(e, s_real_pwritev(fd, iov, cnt, off));
}

ssize_t
pwritev2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
    int e = s_decide(S_PWRITEV, "pwritev2", fd, NULL, s_iov_bytes(iov, cnt), 1);
    S_FAIL_OR(e, s_real_pwritev2(fd, iov, cnt, off, flags));
}

ssize_t
writev(int fd, const struct iovec *iov, int cnt)
{
    int e = s_decide(S_WRITEV, "writev", fd, NULL, s_iov_bytes(iov, cnt), 1);
    S_FAIL_OR(e, s_real_writev(fd, iov, cnt));
}

ssize_t
write(int fd, const void *buf, size_t n)
{
    int e = s_decide(S_WRITE, "write", fd, NULL, n, 1);
    S_FAIL_OR(e, s_real_write(fd, buf, n));
}

int
fdatasync(int fd)
{
    int e = s_decide(S_FDATASYNC, "fdatasync", fd, NULL, 0, 0);
    S_FAIL_OR(e, s_real_fdatasync(fd));
}

int
fsync(int fd)
{
    int e = s_decide(S_FSYNC, "fsync", fd, NULL, 0, 0);
    S_FAIL_OR(e, s_real_fsync(fd));
}

int
msync(void *addr, size_t len, int flags)
{
    int e = s_decide(S_MSYNC, "msync", -1, addr, len, 0);
    S_FAIL_OR(e, s_real_msync(addr, len, flags));
}
