/* ot_error: names for every error code (see ot_error.h). */
#include "ot_error.h"

#include <lmdb.h>
#include <string.h>

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
    case OT_EMEMORY: return "memory ceiling passed (--max-rss-mb): stopped to protect the machine";
    default: break;
    }
    if (err >= MDB_KEYEXIST && err <= MDB_LAST_ERRCODE)
        return mdb_strerror(err);
    if (err > 0)
        return strerror(err);
    return "unknown error";
}
