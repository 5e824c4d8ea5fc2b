/*
 * store_arg: the --data directory (contract in store_arg.h).
 */
#include "store_arg.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "cli.h"
#include "ot_error.h"
#include "tally_key.h"

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

int
ot_cli_open_tally_key(const char *prog, const char *data, const char *view_name,
                      const char *key_text, ot_store **s, ot_viewset **vs, char *key, size_t cap,
                      size_t *len)
{
    int code;
    if (!key_text)
        return ot_cli_view_key(prog, NULL, NULL, NULL, NULL, 0, NULL, NULL);
    if (view_name && (code = ot_cli_view_name_check(prog, view_name)) != 0)
        return code;
    ot_store_options so = { .readonly = true };
    if (ot_cli_store_open(prog, data, &so, s) != 0)
        return OT_EXIT_FAILURE;
    *vs = NULL;
    int rc = ot_store_views(*s, vs);
    if (rc != 0) {
        fprintf(stderr, "%s: %s\n", prog, ot_strerror(rc));
        code = OT_EXIT_FAILURE;
    } else {
        const ot_view *v;
        code = ot_cli_view_key(prog, *vs, view_name, key_text, key, cap, len, &v);
        if (code == 0)
            return -1;
    }
    ot_viewset_free(vs);
    ot_store_close(s);
    return code;
}
