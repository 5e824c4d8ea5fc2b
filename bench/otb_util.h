/*
 * otb_util: what every benchmark program of bench/ shares: a monotonic
 * clock, the counters of a process (/proc/PID/stat, io, status), the write
 * counter of the block device under a path, the pre-generated events file,
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

/* Seconds on the monotonic clock. */
double
otb_now(void);

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

/* The p-th percentile (0..100) of n values; sorts v in place. 0 when n = 0. */
double
otb_percentile(double *v, size_t n, double p);

/* A free TCP port on 127.0.0.1 (bound and released: a tiny race, fine for
 * a benchmark), or 0 on failure. */
int
otb_free_port(void);

/* Print "RESULT<TAB>name" then each "key=value" given as a printf format
 * (already joined with tabs by the caller), and a newline, on stdout. */
void
otb_result(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Progress on stderr: "bench: " + message + newline. */
void
otb_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
