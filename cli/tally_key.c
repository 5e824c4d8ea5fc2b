/*
 * tally_key: view names and tally keys on the command line (contract in
 * tally_key.h).
 *
 * Invariant: a key built here from values (the by-name form) is byte for
 * byte the key the store writes for those values, so explain and history
 * find the tally query prints. The escaping and the shortening of long
 * values of declared views follow lib/ot_view.h; ot_cli_key_build is the
 * one place in cli/ that knows them.
 */
#include "tally_key.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "ot_error.h"
#include "ot_event.h"


const char *
ot_cli_viewset_names(const ot_viewset *vs, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < ot_viewset_count(vs); i++) {
        const ot_view *v = ot_viewset_at(vs, i);
        if (!v)
            continue;
        size_t n = strlen(v->name);
        if (len + n + 1 + 4 >= cap) {   /* room for " ..." and the NUL */
            snprintf(buf + len, cap - len, " ...");
            break;
        }
        len += (size_t)snprintf(buf + len, cap - len, " %s", v->name);
    }
    return buf;
}

bool
ot_cli_view_name_ok(const char *name)
{
    if (ot_view_find(name))
        return true;
    size_t n = strlen(name);
    if (n == 0 || n > OT_VIEW_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return false;
    }
    return true;
}

/* name as a message shows it: a cell (quoted and escaped when it holds
 * what a terminal would act on), cut at 80 bytes. */
static const char *
s_shown(const char *name, char *buf, size_t cap)
{
    size_t j = 0;
    for (size_t i = 0; name[i] && j + 5 < cap && i < 80; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 0x20 || c == 0x7f)
            j += (size_t)snprintf(buf + j, cap - j, "\\x%02x", c);
        else
            buf[j++] = (char)c;
    }
    buf[j] = '\0';
    return buf;
}

int
ot_cli_view_name_check(const char *prog, const char *name)
{
    char shown[400];
    if (ot_cli_view_name_ok(name))
        return 0;
    return ot_cli_usage_error(prog, "'%s' is no view name: a view name is 1..%d of A-Z a-z "
                              "0-9 _ . - (no '/', no spaces)", s_shown(name, shown, sizeof shown),
                              OT_VIEW_NAME_MAX);
}

int
ot_cli_view_lookup(const char *prog, const ot_viewset *vs, const char *name,
                   const ot_view **out, size_t *slot)
{
    char names[1024], shown[400];
    int rc = ot_cli_view_name_check(prog, name);
    if (rc != 0)
        return rc;
    if ((*out = ot_viewset_find(vs, name, slot)) != NULL)
        return 0;
    return ot_cli_usage_error(prog, "unknown view '%s'; views:%s (`optally view list` shows "
                              "them, `optally view add` declares one)",
                              s_shown(name, shown, sizeof shown),
                              ot_cli_viewset_names(vs, names, sizeof names));
}

int
ot_cli_key_build(const ot_view *v, const char *const *vals, char *key, size_t cap, size_t *len)
{
    return ot_view_key_of_values(v, vals, key, cap, len);
}

/* Undo the by-name escapes %2C and %25 of the n bytes at s into out (cap
 * bytes). Returns 0, or EINVAL for another % escape or ENOSPC. */
static int
s_unescape_value(const char *s, size_t n, char *out, size_t cap)
{
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 < n && s[i + 1] == '2' && (s[i + 2] == 'C' || s[i + 2] == 'c'))
                c = ',';
            else if (i + 2 < n && s[i + 1] == '2' && s[i + 2] == '5')
                c = '%';
            else
                return EINVAL;
            i += 2;
        }
        if (j + 1 >= cap)
            return ENOSPC;
        out[j++] = c;
    }
    out[j] = '\0';
    return 0;
}

/* The by-name form: dim=value,... naming every dimension of v. */
static int
s_parse_by_name(const char *prog, const ot_view *v, const char *text, char *key, size_t cap,
                size_t *len)
{
    char shown[400];
    char vbuf[OT_VIEW_MAX_FIELDS][OT_VIEW_KEY_MAX];
    const char *vals[OT_VIEW_MAX_FIELDS] = { NULL };
    const char *p = text;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', n);
        int f = -1;
        for (int i = 0; eq && i < v->nfields; i++)
            if (strlen(v->fields[i]) == (size_t)(eq - p) && !memcmp(v->fields[i], p, (size_t)(eq - p)))
                f = i;
        if (!eq)
            return ot_cli_usage_error(prog, "malformed key '%s': '%.*s' is not dim=value; write "
                                      "--key dim=value,... or the key as query prints it",
                                      s_shown(text, shown, sizeof shown), (int)n, p);
        if (f < 0)
            return ot_cli_usage_error(prog, "malformed key '%s': view %s has no dimension "
                                      "'%.*s'", s_shown(text, shown, sizeof shown), v->name,
                                      (int)(eq - p), p);
        if (vals[f])
            return ot_cli_usage_error(prog, "malformed key '%s': dimension %s given twice",
                                      s_shown(text, shown, sizeof shown), v->fields[f]);
        if (s_unescape_value(eq + 1, n - (size_t)(eq + 1 - p), vbuf[f], sizeof vbuf[f]) != 0)
            return ot_cli_usage_error(prog, "malformed key '%s': in a value, write a comma as "
                                      "%%2C and a %% as %%25", s_shown(text, shown, sizeof shown));
        vals[f] = vbuf[f];
        p = end ? end + 1 : p + n;
        if (end && !*p)
            return ot_cli_usage_error(prog, "malformed key '%s': ends with a comma",
                                      s_shown(text, shown, sizeof shown));
    }
    for (int i = 0; i < v->nfields; i++)
        if (!vals[i])
            return ot_cli_usage_error(prog, "malformed key '%s': view %s needs a value of %s "
                                      "(write %s=VALUE)", s_shown(text, shown, sizeof shown),
                                      v->name, v->fields[i], v->fields[i]);
    if (ot_cli_key_build(v, vals, key, cap, len) != 0)
        return ot_cli_usage_error(prog, "malformed key '%s': too long",
                                  s_shown(text, shown, sizeof shown));
    return 0;
}

/* True when the by-name key text names dimension f (as "f=" at the start
 * of one of its comma-separated parts). */
static bool
s_names_dim(const char *text, const char *f)
{
    size_t n = strlen(f);
    for (const char *p = text; p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
        if (!strncmp(p, f, n) && p[n] == '=')
            return true;
    return false;
}

/* The one view of vs whose dimensions are exactly those text names (in
 * any order), or NULL (none, or several: --view must say). */
static const ot_view *
s_view_of_dims(const ot_viewset *vs, const char *text)
{
    size_t parts = 1;
    for (const char *p = text; (p = strchr(p, ',')); p++)
        parts++;
    const ot_view *found = NULL;
    for (size_t i = 0; i < ot_viewset_count(vs); i++) {
        const ot_view *v = ot_viewset_at(vs, i);
        bool all = v && (size_t)v->nfields == parts;
        for (int f = 0; all && f < v->nfields; f++)
            all = s_names_dim(text, v->fields[f]);
        if (all && found)
            return NULL;
        if (all)
            found = v;
    }
    return found;
}

int
ot_cli_key_parse(const char *prog, const ot_viewset *vs, const ot_view *view, const char *text,
                 char *key, size_t cap, size_t *len, const ot_view **out_view)
{
    char shown[400], names[1024];
    const char *slash = strchr(text, '/');
    size_t head = slash ? (size_t)(slash - text) : strlen(text);
    if (out_view)
        *out_view = view;
    if (memchr(text, '=', head) || (view && view->nfields == 0 && *text == '\0')) {
        if (!view && !(view = s_view_of_dims(vs, text))) {
            return ot_cli_usage_error(prog, "which view is key '%s' of? no view or several "
                                      "group by exactly these dimensions: give --view V",
                                      s_shown(text, shown, sizeof shown));
        }
        if (out_view)
            *out_view = view;
        return s_parse_by_name(prog, view, text, key, cap, len);
    }
    const ot_view *kv;
    const char *vals[OT_VIEW_MAX_FIELDS];
    char valbuf[OT_VIEW_KEY_MAX];
    size_t n = strlen(text);
    int rc = n < cap ? ot_viewset_key_split(vs, text, n, &kv, vals, valbuf, sizeof valbuf)
                     : ENOSPC;
    if (rc == OT_ENOTFOUND)
        return ot_cli_usage_error(prog, "key '%s' is of no view (views:%s); write the key as "
                                  "query prints it, or --view V --key dim=value,...",
                                  s_shown(text, shown, sizeof shown),
                                  ot_cli_viewset_names(vs, names, sizeof names));
    if (rc != 0)
        return ot_cli_usage_error(prog, "malformed key '%s': write it as query prints it "
                                  "(view/value/..., %% as %%25, / as %%2F) or as "
                                  "dim=value,...", s_shown(text, shown, sizeof shown));
    if (view && kv != view)
        return ot_cli_usage_error(prog, "key '%s' is of view %s, not of --view %s",
                                  s_shown(text, shown, sizeof shown), kv->name, view->name);
    memcpy(key, text, n + 1);
    *len = n;
    if (out_view)
        *out_view = kv;
    return 0;
}

int
ot_cli_view_key(const char *prog, const ot_viewset *vs, const char *view_name, const char *text,
                char *key, size_t cap, size_t *len, const ot_view **out_view)
{
    const ot_view *v = NULL;
    if (!text)
        return ot_cli_usage_error(prog, "which tally? --key K (as query prints it, e.g. "
                                  "country,quarter/IQ/2024-Q1, or --view V --key "
                                  "dim=value,...)");
    if (view_name) {
        int code = ot_cli_view_lookup(prog, vs, view_name, &v, NULL);
        if (code != 0)
            return code;
    }
    return ot_cli_key_parse(prog, vs, v, text, key, cap, len, out_view);
}
