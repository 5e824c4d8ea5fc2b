/*
 * store_arg: the --data directory (contract in store_arg.h).
 */
#include "store_arg.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "ot_error.h"

const char *
ot_cli_data_default(void)
{
    const char *env = getenv("OPTALLY_DATA");
    return env && *env ? env : "./optally-data";
}

bool
ot_cli_store_exists(const char *data)
{
    char path[4096];
    struct stat st;
    if ((size_t)snprintf(path, sizeof path, "%s/data.mdb", data) >= sizeof path)
        return false;
    return stat(path, &st) == 0;
}

int
ot_cli_store_open(const char *prog, const char *data, const ot_store_options *so, ot_store **s)
{
    int rc = so->readonly || ot_cli_store_exists(data) ? ot_store_open(data, so, s) : OT_ENOTFOUND;
    if (rc == OT_ENOTFOUND)
        fprintf(stderr, "%s: no store in %s (run `optally consume --data %s` first, or pass"
                " --data)\n", prog, data, data);
    else if (rc != 0 && rc != OT_ELOCKED)
        fprintf(stderr, "%s: cannot open store in %s: %s\n", prog, data, ot_strerror(rc));
    return rc;
}
