/*
 * ot_view: the tally views and their keys (format in ot_view.h).
 *
 * Invariants:
 *  1. Key building never allocates and touches each byte once: the consumer
 *     builds one key per view for every event it stores.
 *  2. Escaping is a bijection on field values: ot_view_key_split accepts
 *     exactly the escapes ot_view_key writes ("%25", "%2F"), so a value has
 *     one key, and equal keys in LMDB mean equal tallies.
 *  3. The view table is static and never changes at run time; a view's
 *     index is stable, and ot_view_at/ot_view_find hand out pointers into it.
 *  4. Every key of a valid event fits OT_VIEW_KEY_MAX (checked at compile
 *     time below): validation bounds partner_force, the one free-text value.
 */
#include "ot_view.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

#include "ot_error.h"
#include "ot_event.h"

/* How a field value comes out of an event. */
enum s_field {
    S_F_COUNTRY,
    S_F_QUARTER,       /* "2024-Q1" from occurred_on */
    S_F_MONTH,         /* "2024-01" from occurred_on */
    S_F_PARTNER_FORCE,
};

/* A view and, in step with pub.fields, how to get each field; pub comes
 * first so a pointer to it is a pointer to its definition. */
typedef struct s_view_def {
    ot_view pub;
    enum s_field kinds[OT_VIEW_MAX_FIELDS];
} s_view_def;

static const s_view_def s_views[] = {
    {{"total", 0, {NULL}}, {0}},
    {{"country", 1, {"country"}}, {S_F_COUNTRY}},
    {{"country,quarter", 2, {"country", "quarter"}}, {S_F_COUNTRY, S_F_QUARTER}},
    {{"country,month", 2, {"country", "month"}}, {S_F_COUNTRY, S_F_MONTH}},
    {{"country,partner_force", 2, {"country", "partner_force"}},
     {S_F_COUNTRY, S_F_PARTNER_FORCE}},
};

#define S_NVIEWS (sizeof s_views / sizeof s_views[0])

/* The longest key of a valid event: the longest view name, "/" and a
 * two-letter country, "/" and a partner_force whose every byte is escaped,
 * and the NUL. The other views' values (buckets, country) are shorter. */
_Static_assert(sizeof "country,partner_force" + 3 + 1 + 3 * OT_EVENT_PARTNER_FORCE_MAX
               <= OT_VIEW_KEY_MAX, "OT_VIEW_KEY_MAX must hold every valid key");

size_t
ot_view_count(void)
{
    return S_NVIEWS;
}

const ot_view *
ot_view_at(size_t i)
{
    assert(i < S_NVIEWS);
    return &s_views[i].pub;
}

/* View named by the n bytes at name, or NULL. */
static const ot_view *
s_find(const char *name, size_t n)
{
    for (size_t i = 0; i < S_NVIEWS; i++) {
        const char *vn = s_views[i].pub.name;
        if (strlen(vn) == n && memcmp(vn, name, n) == 0)
            return &s_views[i].pub;
    }
    return NULL;
}

const ot_view *
ot_view_find(const char *name)
{
    return name ? s_find(name, strlen(name)) : NULL;
}

/* The definition behind v. Views only come from this table (invariant 3);
 * anything else is API misuse. */
static const s_view_def *
s_def_of(const ot_view *v)
{
    for (size_t i = 0; i < S_NVIEWS; i++)
        if (v == &s_views[i].pub)
            return &s_views[i];
    assert(!"ot_view: view not from ot_view_at/ot_view_find");
    return NULL;
}

/* A key under construction: buf[0..len) written, cap bytes in all. */
typedef struct s_key {
    char *buf;
    size_t len, cap;
} s_key;

/* Append n bytes; keeps one byte for the NUL. */
static int
s_put(s_key *k, const char *s, size_t n)
{
    if (k->cap - k->len <= n)
        return ENOSPC;
    memcpy(k->buf + k->len, s, n);
    k->len += n;
    return 0;
}

/* Append "/" and the escaped value s[0..n). */
static int
s_put_value(s_key *k, const char *s, size_t n)
{
    size_t run = 0;   /* start of the bytes not yet copied */

    if (s_put(k, "/", 1) != 0)
        return ENOSPC;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%' && s[i] != '/')
            continue;
        if (s_put(k, s + run, i - run) != 0 || s_put(k, s[i] == '%' ? "%25" : "%2F", 3) != 0)
            return ENOSPC;
        run = i + 1;
    }
    return s_put(k, s + run, n - run);
}

int
ot_view_key(const ot_view *v, const Optally__OperationEvent *ev,
            char *buf, size_t cap, size_t *out_len)
{
    const s_view_def *def = s_def_of(v);
    s_key k = {buf, 0, cap};
    const char *on;
    char bucket[8];
    int rc;

    assert(ev != NULL && buf != NULL && out_len != NULL);
    if (def == NULL)
        return EINVAL;
    if (cap == 0)
        return ENOSPC;
    if ((rc = s_put(&k, v->name, strlen(v->name))) != 0)
        return rc;
    for (int i = 0; i < v->nfields; i++) {
        switch (def->kinds[i]) {
        case S_F_COUNTRY:
            rc = s_put_value(&k, ev->country, strlen(ev->country));
            break;
        case S_F_QUARTER:
        case S_F_MONTH:
            /* ev is valid, so occurred_on is "YYYY-MM-DD"; the length check
             * only keeps a misusing caller inside the string. */
            on = ev->occurred_on;
            assert(on != NULL && strnlen(on, 10) == 10);
            if (on == NULL || strnlen(on, 7) < 7)
                return EINVAL;
            memcpy(bucket, on, 5);          /* "YYYY-" */
            if (def->kinds[i] == S_F_MONTH) {
                memcpy(bucket + 5, on + 5, 2);
            } else {
                int month = (on[5] - '0') * 10 + (on[6] - '0');
                bucket[5] = 'Q';
                bucket[6] = (char)('1' + (month - 1) / 3);
            }
            rc = s_put_value(&k, bucket, 7);
            break;
        case S_F_PARTNER_FORCE:
            on = ev->partner_force ? ev->partner_force : "";
            rc = s_put_value(&k, on, strlen(on));
            break;
        }
        if (rc != 0)
            return rc;
    }
    buf[k.len] = '\0';
    *out_len = k.len;
    return 0;
}

/* Unescape src[0..n) into dst (room checked by the caller's cap). Returns
 * bytes written, or -1 for an escape ot_view_key never writes or a NUL. */
static long
s_unescape(const char *src, size_t n, char *dst)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        if (src[i] == '\0')
            return -1;
        if (src[i] != '%') {
            dst[o++] = src[i];
            continue;
        }
        if (n - i < 3 || src[i + 1] != '2' || (src[i + 2] != '5' && src[i + 2] != 'F'))
            return -1;
        dst[o++] = src[i + 2] == '5' ? '%' : '/';
        i += 2;
    }
    return (long)o;
}

/* Values are unescaped straight into valbuf; on failure *out_view and vals
 * are untouched but valbuf may hold partial values. */
int
ot_view_key_split(const char *key, size_t len, const ot_view **out_view,
                  const char *vals[OT_VIEW_MAX_FIELDS], char *valbuf, size_t cap)
{
    const char *vals_tmp[OT_VIEW_MAX_FIELDS] = {NULL};
    const char *end = key + len, *p, *slash;
    const ot_view *v;
    size_t used = 0;

    assert(key != NULL && out_view != NULL && vals != NULL && (valbuf != NULL || cap == 0));
    slash = memchr(key, '/', len);
    p = slash ? slash : end;
    if ((v = s_find(key, (size_t)(p - key))) == NULL)
        return memchr(key, '\0', (size_t)(p - key)) ? EINVAL : OT_ENOTFOUND;
    for (int i = 0; i < v->nfields; i++) {
        if (p == end)
            return EINVAL;   /* fewer values than the view has fields */
        const char *start = p + 1;
        slash = memchr(start, '/', (size_t)(end - start));
        p = slash ? slash : end;
        size_t n = (size_t)(p - start);
        /* Unescaping only shrinks, so n + 1 bytes always suffice. */
        if (cap - used < n + 1)
            return ENOSPC;
        long w = s_unescape(start, n, valbuf + used);
        if (w < 0)
            return EINVAL;
        valbuf[used + (size_t)w] = '\0';
        vals_tmp[i] = valbuf + used;
        used += (size_t)w + 1;
    }
    if (p != end)
        return EINVAL;       /* more values than the view has fields */
    *out_view = v;
    for (int i = 0; i < OT_VIEW_MAX_FIELDS; i++)
        vals[i] = vals_tmp[i];
    return 0;
}
