/*
 * ot_view: the tally views and their keys (format in ot_view.h).
 *
 * Invariants:
 *  1. Key building never allocates and touches each byte once: the consumer
 *     builds one key per view for every event it stores. One builder
 *     (s_build) makes every key: of a decoded message, of an event view,
 *     and an aggregate's placement, so the live fold and rebuild agree.
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

/* Longest country value a key takes from a record (a valid one has 2
 * bytes); a longer one is a corrupt record (OT_ECORRUPT). */
#define S_COUNTRY_MAX 15

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

/* What a key is built from: the values of one event, whichever way it
 * came (a decoded message or a view). Strings are pointer + length (need
 * not end in a NUL). country NULL: no one country (an aggregate over
 * several: unplaced in a country view). until NULL: a single day. */
typedef struct s_src {
    const char *country;
    size_t country_len;
    const char *on, *until;     /* "YYYY-MM-DD", 10 bytes each */
    const char *pf;
    size_t pf_len;
} s_src;

/* The bucket ("2024-Q1" or "2024-01", 7 bytes, no NUL) of the date d
 * (10 bytes). Returns 0 or OT_ECORRUPT when d is no YYYY-MM-DD with a
 * month 01..12 (validation lets none in). */
static int
s_bucket(enum s_field kind, const char *d, char out[7])
{
    for (int i = 0; i < 10; i++)
        if (i == 4 || i == 7 ? d[i] != '-' : (d[i] < '0' || d[i] > '9'))
            return OT_ECORRUPT;
    int month = (d[5] - '0') * 10 + (d[6] - '0');
    if (month < 1 || month > 12)
        return OT_ECORRUPT;
    memcpy(out, d, 5);          /* "YYYY-" */
    if (kind == S_F_MONTH) {
        memcpy(out + 5, d + 5, 2);
    } else {
        out[5] = 'Q';
        out[6] = (char)('1' + (month - 1) / 3);
    }
    return 0;
}

/* The one key builder (invariant 1). A time bucket takes the span
 * on..until whole: both ends in one bucket, else the event has no key in
 * the view. Returns 0, OT_ENOTFOUND (not placed: no one country, or a span
 * across buckets), ENOSPC, or OT_ECORRUPT (a date out of range). */
static int
s_build(const s_view_def *def, const s_src *src, char *buf, size_t cap, size_t *out_len)
{
    s_key k = {buf, 0, cap};
    char bucket[7], last[7];
    int rc = 0;

    if (cap == 0)
        return ENOSPC;
    /* placement first: an unplaced event has no key whatever the room */
    for (int i = 0; i < def->pub.nfields; i++) {
        if (def->kinds[i] == S_F_COUNTRY && src->country == NULL)
            return OT_ENOTFOUND;
        if (def->kinds[i] == S_F_QUARTER || def->kinds[i] == S_F_MONTH) {
            if ((rc = s_bucket(def->kinds[i], src->on, bucket)) != 0)
                return rc;
            if (src->until != NULL) {
                if ((rc = s_bucket(def->kinds[i], src->until, last)) != 0)
                    return rc;
                if (memcmp(bucket, last, sizeof bucket) != 0)
                    return OT_ENOTFOUND;
            }
        }
    }
    if ((rc = s_put(&k, def->pub.name, strlen(def->pub.name))) != 0)
        return rc;
    for (int i = 0; i < def->pub.nfields && rc == 0; i++) {
        switch (def->kinds[i]) {
        case S_F_COUNTRY:
            rc = s_put_value(&k, src->country, src->country_len);
            break;
        case S_F_QUARTER:
        case S_F_MONTH:
            (void)s_bucket(def->kinds[i], src->on, bucket);   /* checked above */
            rc = s_put_value(&k, bucket, sizeof bucket);
            break;
        case S_F_PARTNER_FORCE:
            rc = s_put_value(&k, src->pf, src->pf_len);
            break;
        }
    }
    if (rc != 0)
        return rc;
    buf[k.len] = '\0';
    *out_len = k.len;
    return 0;
}

int
ot_view_key(const ot_view *v, const Optally__OperationEvent *ev,
            char *buf, size_t cap, size_t *out_len)
{
    const s_view_def *def = s_def_of(v);

    assert(ev != NULL && buf != NULL && out_len != NULL);
    if (def == NULL)
        return EINVAL;
    /* ev is valid, so occurred_on is "YYYY-MM-DD"; the length check only
     * keeps a misusing caller inside the string. */
    const char *on = ev->occurred_on;
    assert(on != NULL && strnlen(on, 11) == 10);
    if (on == NULL || strnlen(on, 11) != 10)
        return EINVAL;
    const char *cc = ev->country ? ev->country : "";
    const char *pf = ev->partner_force ? ev->partner_force : "";
    s_src src = {cc, strlen(cc), on, NULL, pf, strlen(pf)};
    int rc = s_build(def, &src, buf, cap, out_len);
    return rc == OT_ECORRUPT ? EINVAL : rc;
}

/* Bytes of a view string as a C string would have them: up to the first
 * NUL (a decoded message's string ends there). */
static size_t
s_cstr_len(const char *s, size_t n)
{
    const char *nul = n ? memchr(s, 0, n) : NULL;
    return nul ? (size_t)(nul - s) : n;
}

/* The values of ev shared by both kinds of key: occurred_on (10 bytes),
 * partner_force. Out of range (never in a valid event, so a corrupt
 * record): OT_ECORRUPT. */
static int
s_src_of_view(const ot_event_view *ev, s_src *src)
{
    size_t pf_len = ev->len[OT_F_EVENT_PARTNER_FORCE];

    if (ev->len[OT_F_EVENT_OCCURRED_ON] != 10 ||
        s_cstr_len(ev->str[OT_F_EVENT_OCCURRED_ON], 10) != 10 ||
        ev->len[OT_F_EVENT_COUNTRY] > S_COUNTRY_MAX || pf_len > OT_EVENT_PARTNER_FORCE_MAX)
        return OT_ECORRUPT;
    memset(src, 0, sizeof *src);
    src->on = ev->str[OT_F_EVENT_OCCURRED_ON];
    src->pf = pf_len ? ev->str[OT_F_EVENT_PARTNER_FORCE] : "";
    src->pf_len = s_cstr_len(src->pf, pf_len);
    return 0;
}

int
ot_view_key_of_view(const ot_view *v, const ot_event_view *ev, char *buf, size_t cap,
                    size_t *out_len)
{
    const s_view_def *def = s_def_of(v);
    s_src src;
    int rc;

    assert(ev != NULL && buf != NULL && out_len != NULL);
    if (def == NULL)
        return EINVAL;
    if ((rc = s_src_of_view(ev, &src)) != 0)
        return rc;
    src.country = ev->len[OT_F_EVENT_COUNTRY] ? ev->str[OT_F_EVENT_COUNTRY] : "";
    src.country_len = s_cstr_len(src.country, ev->len[OT_F_EVENT_COUNTRY]);
    return s_build(def, &src, buf, cap, out_len);
}

int
ot_view_agg_key(const ot_view *v, const ot_event_view *ev, char *buf, size_t cap,
                size_t *out_len)
{
    const s_view_def *def = s_def_of(v);
    size_t cc_len = ev->len[OT_F_EVENT_COUNTRY];
    s_src src;
    int rc;

    assert(ev != NULL && buf != NULL && out_len != NULL);
    if (def == NULL)
        return EINVAL;
    if ((rc = s_src_of_view(ev, &src)) != 0)
        return rc;
    /* a span: occurred_until when given (an aggregate always has one) */
    size_t until_len = ev->len[OT_F_EVENT_OCCURRED_UNTIL];
    if (until_len != 0) {
        if (until_len != 10 || s_cstr_len(ev->str[OT_F_EVENT_OCCURRED_UNTIL], 10) != 10)
            return OT_ECORRUPT;
        src.until = ev->str[OT_F_EVENT_OCCURRED_UNTIL];
    }
    /* exactly one country: country alone, or countries with one code */
    if (cc_len != 0 && s_cstr_len(ev->str[OT_F_EVENT_COUNTRY], cc_len) != 0) {
        if (ev->ncountries == 0) {
            src.country = ev->str[OT_F_EVENT_COUNTRY];
            src.country_len = s_cstr_len(src.country, cc_len);
        }
    } else if (ev->ncountries == 1) {
        if (ev->countries_len[0] > S_COUNTRY_MAX)
            return OT_ECORRUPT;
        src.country = ev->countries[0] ? ev->countries[0] : "";
        src.country_len = s_cstr_len(src.country, ev->countries_len[0]);
    }
    return s_build(def, &src, buf, cap, out_len);
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
