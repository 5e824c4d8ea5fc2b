/*
 * otb_util: what every benchmark program of bench/ shares, once: a
 * monotonic clock, the counters of a process (/proc/PID/stat, io, status),
 * the write counter of the block device under a path, a timed span over
 * those counters, the pre-generated events file and its expected outcome,
 * the id mixer, the command-line options, stopping a child process,
 * percentiles, and the one RESULT line each program prints on stdout.
 *
 * The events file (made by otb_gen) is a sequence of records
 * [u32 little-endian length][packed optally.OperationEvent]; it is mapped
 * read-only and never copied. Its sidecar FILE.meta holds the outcome the
 * consumer must report for it (see otb_gen.c).
 *
 * Nothing here is part of optally; these programs only measure it.
 */
#ifndef OTB_UTIL_H
#define OTB_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Seconds on the monotonic clock, at nanosecond resolution (ot_clock's
 * milliseconds are too coarse for an ack latency). */
double
otb_now(void);

/* A bijective 64-bit mixer (the splitmix64 finalizer): the one source of
 * every pseudo-random id, choice and value of the benchmark, so a run is a
 * pure function of its seed. */
uint64_t
otb_mix(uint64_t x);

/* Counters of one live process (pid 0: this one). */
typedef struct otb_proc {
    double cpu_s;            /* user + system CPU seconds, all threads */
    uint64_t write_bytes;    /* bytes it dirtied for storage (write_bytes: page
                              * granular, counts file-system metadata too) */
    uint64_t wchar;          /* bytes it passed to write(2)-family calls on
                              * files and pipes (not send(2) on sockets) */
    uint64_t hwm_kb;         /* peak resident set (VmHWM) */
    uint64_t rss_kb;         /* resident set now (VmRSS) */
    uint64_t rss_anon_kb;    /* anonymous part of it (RssAnon): heap, not file pages */
} otb_proc;

/* Read the counters of pid. Returns 0, or an errno (the process is gone). */
int
otb_proc_read(pid_t pid, otb_proc *out);

/* Bytes written so far to the block device that holds path (sectors
 * written, from /sys/dev/block/MAJ:MIN/stat), or 0 when unknown. Counts
 * every writer of that device, journal and metadata included. */
uint64_t
otb_dev_written(const char *path);

/* One timed section of a run, as seen from outside a process: wall time
 * and the deltas of that process's counters (and of the device under
 * `path`) between otb_span_begin and otb_span_end. */
typedef struct otb_span {
    pid_t pid;               /* the process measured (0: this one) */
    const char *path;        /* a path on the device measured, or NULL; borrowed */
    double t0;               /* otb_now() at the start */
    otb_proc p0, p1;         /* counters at the start and at the end */
    uint64_t dev0, dev1;     /* otb_dev_written(path) at the start and the end */
    double secs;             /* wall seconds between begin and end */
} otb_span;

/* Start measuring pid (0: this process) and the device holding path
 * (NULL: none). The clock starts last, so the reads are not timed. */
void
otb_span_begin(otb_span *s, pid_t pid, const char *path);

/* Stop the clock, then read the end counters (a process that is gone reads
 * as zeros: end before stopping it). */
void
otb_span_end(otb_span *s);

/* CPU seconds the process used during the span. */
double
otb_span_cpu(const otb_span *s);

/* The fields every storing row of the table shares, tab-separated, into
 * buf: events=N secs= evps= hwm_kb= (the process's peak RSS) wbytes=
 * wchar= devbytes= (see otb_proc and otb_dev_written). Returns buf. */
const char *
otb_span_fields(const otb_span *s, uint64_t events, char *buf, size_t cap);

/* Bytes of disk the files under dir occupy (st_blocks, not apparent size). */
uint64_t
otb_du(const char *dir);

/* A mapped events file. */
typedef struct otb_events {
    const uint8_t *map;
    size_t len;
    size_t n;                /* records */
} otb_events;

/* Map path and count its records. Returns 0 or an errno (message printed). */
int
otb_events_open(const char *path, otb_events *ev);

void
otb_events_close(otb_events *ev);

/* Iterate: start with *pos = 0; each true return gives one record's bytes
 * (borrowed from the mapping, valid until otb_events_close). */
bool
otb_events_next(const otb_events *ev, size_t *pos, const uint8_t **data, size_t *len);

/* Read "key value" from FILE.meta of an events file. Returns the value, or
 * -1 when missing. */
long long
otb_meta_get(const char *events_path, const char *key);

/* Whether the outcome counts st[], indexed by IngestStatus (1 stored,
 * 2 duplicate, 3 superseded, 4 stale, 5 rejected), are what FILE.meta of
 * the events file says (no stale, no rejected). When not, says so on
 * stderr, prefixed with who. */
bool
otb_meta_check(const char *events_path, const uint64_t st[6], const char *who);

/* The p-th percentile (0..100) of n values; sorts v in place. 0 when n = 0. */
double
otb_percentile(double *v, size_t n, double p);

/* A free TCP port on 127.0.0.1 (bound and released: a tiny race, fine for
 * a benchmark), or 0 on failure. */
int
otb_free_port(void);

/* SIGTERM to a child, then wait for it up to timeout_s seconds (SIGKILL
 * after that). Returns its exit status, or -1 when it did not exit by
 * itself (killed, signalled, or not our child). */
int
otb_child_stop(pid_t pid, int timeout_s);

/* One command-line option, --name VALUE (or --name alone for a flag). */
typedef enum otb_opt_kind {
    OTB_OPT_STR,             /* const char **: the argument itself */
    OTB_OPT_U64,             /* uint64_t *: a decimal integer */
    OTB_OPT_SIZE,            /* size_t * */
    OTB_OPT_INT,             /* int * */
    OTB_OPT_DOUBLE,          /* double * */
    OTB_OPT_FLAG,            /* bool *: set true, takes no argument */
    OTB_OPT_CHOICE,          /* int *: the index of the argument in choices */
} otb_opt_kind;

typedef struct otb_opt {
    const char *name;        /* without the dashes */
    otb_opt_kind kind;
    void *out;               /* where the value goes; keeps its default when absent */
    const char *const *choices;   /* OTB_OPT_CHOICE: NULL-terminated names */
} otb_opt;

/* Parse argv against opts (ended by an entry with name NULL). A number must
 * be a whole decimal number in range, a choice one of its names. Returns 0,
 * or -1 after saying on stderr what was wrong (the caller then prints its
 * usage with otb_usage). */
int
otb_opts_parse(int argc, char **argv, const otb_opt *opts);

/* Print "usage: " + text on stderr. Returns 64 (EX_USAGE), for main. */
int
otb_usage(const char *text);

/* Print "RESULT<TAB>name" then each "key=value" given as a printf format
 * (already joined with tabs by the caller), and a newline, on stdout. */
void
otb_result(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Progress on stderr: "bench: " + message + newline. */
void
otb_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
