/*
 * ot_error: the one error-code space of optally.
 *
 * Functions that can fail return int: 0 ok, a positive errno value, an LMDB
 * code (MDB_KEYEXIST .. MDB_LAST_ERRCODE, negative, passed through
 * unchanged), or one of the OT_E* codes below (negative, in their own range
 * below LMDB's). ot_strerror() names every one of them.
 *
 * lib/ knows no LMDB: a library whose codes pass through (the store) names
 * its range here with ot_error_register_range, once, before it returns one
 * of them (ot_store_open does it). A program that links no store never
 * sees an LMDB code, and links no liblmdb.
 */
#ifndef OT_ERROR_H
#define OT_ERROR_H

enum {
    OT_EBASE = -40000,
    OT_EINVAL_EVENT,   /* an event failed validation (see its reason) */
    OT_EJSON,          /* a line is not a JSON object of the event schema */
    OT_EDECODE,        /* bytes are not the expected protobuf message */
    OT_ETOOMANY,       /* batch holds more events than allowed */
    OT_EBUDGET,        /* decode would exceed its memory budget */
    OT_ESCHEMA,        /* the store has another schema version */
    OT_ELOCKED,        /* another consumer holds the data directory */
    OT_ETIMEOUT,       /* no answer within the time allowed */
    OT_ETRANSPORT,     /* a ZeroMQ socket operation failed */
    OT_EUSAGE,         /* bad command-line usage */
    OT_ENOTFOUND,      /* no such key/view/record */
    OT_ECORRUPT,       /* stored data does not decode */
    OT_EMEMORY,        /* the process passed its memory ceiling */
    OT_ESTORAGE,       /* the consumer kept failing to store (disk full...) */
    OT_EFATAL,         /* a component is unusable (writer thread died, MDB_PANIC):
                          the process must stop and be restarted */
    OT_ERANK,          /* the store holds incidents counted under another
                          source ranking: run `optally rebuild --source-rank` */
    OT_ELAST
};

/* Readable text for any code this project returns; never NULL, static.
 * A negative code outside OT_E* and every registered range: "unknown error". */
const char *
ot_strerror(int err);

/* Names a library's codes lo..hi (lo <= hi < 0, outside the OT_E* range) with
 * name(code), which must return static text, never NULL. Registering the same
 * range with the same function again is a no-op. Thread-safe; ot_strerror
 * may run in other threads meanwhile.
 * Returns 0, EINVAL (a bad range or NULL name), EEXIST (the range overlaps
 * another one), or ENOSPC (OT_ERROR_RANGES ranges are registered already). */
#define OT_ERROR_RANGES 4
int
ot_error_register_range(int lo, int hi, const char *(*name)(int));

#endif
