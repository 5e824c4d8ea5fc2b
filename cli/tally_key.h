/*
 * tally_key: how the CLI names a view and one tally key of it (explain,
 * history, query --view, view drop), with one set of usage errors.
 *
 * A key is given in either form:
 *   printed:  as query and subscribe print it, view "/" value "/" ...
 *             ("country,quarter/IQ/2024-Q1"; values escaped, % as %25 and
 *             / as %2F; "total" for the total view);
 *   by name:  dim=value,dim=value,... naming every dimension of the view
 *             once, in any order ("country=IQ,quarter=2024-Q1"); the view
 *             comes from --view, or without --view it is the one view
 *             grouping by exactly these dimensions (the built-in
 *             country,quarter for country=IQ,quarter=2024-Q1). Values are written as they are, but a comma
 *             or a % inside one is written %2C / %25 (the two that would
 *             split it otherwise). "" is the key of the total view.
 * A key whose first "/"-separated part holds an "=" is by name (no view
 * name holds an "="), anything else is printed.
 *
 * Every function here prints "PROG: why; what to do" and the --help hint
 * on failure (ot_cli_usage_error) and returns OT_EXIT_USAGE: the caller
 * returns it as the exit code. Nothing here opens or changes a store.
 */
#ifndef OT_CLI_TALLY_KEY_H
#define OT_CLI_TALLY_KEY_H

#include <stdbool.h>
#include <stddef.h>

#include "ot_view.h"

/* The names of every view of vs (built-ins first, then declared in slot
 * order), " total country ...", written to buf (cap bytes; cut short with
 * " ..." when it does not fit). Returns buf. */
const char *
ot_cli_viewset_names(const ot_viewset *vs, char *buf, size_t cap);

/* True when name could name a view: a built-in name, or 1..64 bytes of
 * [A-Za-z0-9_.-]. */
bool
ot_cli_view_name_ok(const char *name);

/* name as a view: 0 when it could be one; else the usage error that says
 * why ("a view name is 1..64 of A-Z a-z 0-9 _ . -, not 'a/b'"). */
int
ot_cli_view_name_check(const char *prog, const char *name);

/* The view named name in vs. OUT: *out, *slot (optional). Returns 0, or
 * the usage error "unknown view 'NAME'; views: ..." (OT_EXIT_USAGE). */
int
ot_cli_view_lookup(const char *prog, const ot_viewset *vs, const char *name,
                   const ot_view **out, size_t *slot);

/* Parse text (either form above) into the key of a view of vs. view: the
 * --view given (NULL: none; the printed form then names it, the by-name
 * form needs it). OUT: key (cap bytes, NUL-terminated, at least
 * OT_VIEW_KEY_MAX), *len, *out_view (optional). Returns 0, or the usage
 * error: a malformed key, an unknown view, a key of another view than
 * --view, a dimension missing, repeated or not of the view. */
int
ot_cli_key_parse(const char *prog, const ot_viewset *vs, const ot_view *view, const char *text,
                 char *key, size_t cap, size_t *len, const ot_view **out_view);

/* --view and --key of explain and history together: view_name (NULL:
 * none given; the printed key names its view) looked up in vs, then text
 * parsed as ot_cli_key_parse. A missing --key is a usage error too.
 * OUT: key, *len, *out_view. Returns 0 or OT_EXIT_USAGE after printing. */
int
ot_cli_view_key(const char *prog, const ot_viewset *vs, const char *view_name, const char *text,
                char *key, size_t cap, size_t *len, const ot_view **out_view);

/* Build the key of view v from its field values (v->nfields of them,
 * unescaped), as the store writes it: escaped, a long value of a declared
 * view shortened (ot_view.h). OUT: key, *len. Returns 0 or ENOSPC. */
int
ot_cli_key_build(const ot_view *v, const char *const *vals, char *key, size_t cap, size_t *len);

#endif
