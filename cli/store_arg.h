/*
 * store_arg: the --data directory of the commands that read or repair the
 * store (query, rejects, log export, replay, rebuild): its default, and
 * opening the store there with the same messages in every command.
 */
#ifndef OT_CLI_STORE_ARG_H
#define OT_CLI_STORE_ARG_H

#include <stdbool.h>

#include "ot_store.h"

/* --data's default: $OPTALLY_DATA when set and not empty, else
 * "./optally-data". Borrowed from the environment, or static. */
const char *
ot_cli_data_default(void);

/* True when data holds a store (its data.mdb exists). */
bool
ot_cli_store_exists(const char *data);

/* Open the store in data with so. OUT: *s. Returns 0, or the store's error
 * after printing "PROG: no store in DIR (...)" (OT_ENOTFOUND) or "PROG:
 * cannot open store in DIR: REASON". A writer (so->readonly false) is not
 * let create a store where there is none: a mistyped --data must not leave
 * an empty store behind. OT_ELOCKED is returned untold, for the command to
 * say what to do about the running consumer. */
int
ot_cli_store_open(const char *prog, const char *data, const ot_store_options *so, ot_store **s);

/* What explain and history start with: the store in data opened read-only,
 * its views, and the tally key named by view_name (NULL: none given) and
 * key_text, both forms (ot_cli_view_key). OUT: *s and *vs (owned by the
 * caller: ot_viewset_free, ot_store_close), key (cap bytes), *len.
 * Returns -1 to go on, or the exit code after printing why (nothing is
 * left open then). */
int
ot_cli_open_tally_key(const char *prog, const char *data, const char *view_name,
                      const char *key_text, ot_store **s, ot_viewset **vs, char *key, size_t cap,
                      size_t *len);

#endif
