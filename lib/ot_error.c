/*
 * ot_error: names for every error code (see ot_error.h).
 *
 * Registered ranges live in a small fixed table. A writer (serialised by
 * s_lock) fills an entry, then publishes it by a release store of s_nranges;
 * ot_strerror reads s_nranges with acquire and only the entries below it, so
 * it needs no lock and never sees a half-written entry.
 */
#include "ot_error.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

typedef struct s_range {
    int lo, hi;
    const char *(*name)(int);
} s_range;

static s_range s_ranges[OT_ERROR_RANGES];
static atomic_int s_nranges;
static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;

int
ot_error_register_range(int lo, int hi, const char *(*name)(int))
{
    if (!name || lo > hi || hi >= 0 || (hi > OT_EBASE && lo < OT_ELAST))
        return EINVAL;
    int rc = 0;
    pthread_mutex_lock(&s_lock);
    int n = atomic_load_explicit(&s_nranges, memory_order_relaxed);
    for (int i = 0; i < n && rc == 0; i++) {
        const s_range *r = &s_ranges[i];
        if (r->lo == lo && r->hi == hi && r->name == name)
            rc = -1;    /* the same registration again */
        else if (lo <= r->hi && r->lo <= hi)
            rc = EEXIST;
    }
    if (rc == 0 && n == OT_ERROR_RANGES)
        rc = ENOSPC;
    if (rc == 0) {
        s_ranges[n] = (s_range){ lo, hi, name };
        atomic_store_explicit(&s_nranges, n + 1, memory_order_release);
    }
    pthread_mutex_unlock(&s_lock);
    return rc < 0 ? 0 : rc;
}

const char *
ot_strerror(int err)
{
    switch (err) {
    case 0: return "success";
    case OT_EINVAL_EVENT: return "event failed validation";
    case OT_EJSON: return "not a JSON object of the event schema";
    case OT_EDECODE: return "message does not decode as the expected protobuf type";
    case OT_ETOOMANY: return "batch holds more events than the limit";
    case OT_EBUDGET: return "message would exceed the decode memory budget";
    case OT_ESCHEMA: return "store was written by an incompatible schema version";
    case OT_ELOCKED: return "another consumer already uses this data directory";
    case OT_ETIMEOUT: return "no answer within the timeout";
    case OT_ETRANSPORT: return "ZeroMQ transport failure";
    case OT_EUSAGE: return "bad usage (see --help)";
    case OT_ENOTFOUND: return "not found";
    case OT_ECORRUPT: return "stored data is corrupt";
    case OT_ESTORAGE: return "consumer could not store the events (storage full or failing)";
    case OT_EFATAL: return "a component of the process is unusable (writer stopped or store panicked); restart it";
    case OT_ERANK: return "the store counts its incidents under another source ranking; change it with `optally rebuild --source-rank LIST`";
    case OT_EMEMORY: return "memory ceiling passed (--max-rss-mb): stopped to protect the machine";
    default: break;
    }
    if (err > 0)
        return strerror(err);
    int n = atomic_load_explicit(&s_nranges, memory_order_acquire);
    for (int i = 0; i < n; i++)
        if (err >= s_ranges[i].lo && err <= s_ranges[i].hi)
            return s_ranges[i].name(err);
    return "unknown error";
}
