/*
 * ot_view: the tally views and their keys (format in ot_view.h): the five
 * built-in views, the views declared at run time, and the sets of them a
 * store holds (ot_viewset).
 *
 * Invariants:
 *  1. Key building never allocates: the consumer builds one key per view
 *     for every event it stores. One builder (s_build) makes every key: of
 *     a decoded message, of an event view, and an aggregate's placement, in
 *     built-in and declared views alike, and the same builder applies a
 *     declared view's filters, so the live fold, rebuild, as-of and explain
 *     agree on which events a view holds (spec rule "ONE function decides").
 *  2. Escaping is a bijection on field values: ot_view_key_split accepts
 *     exactly the escapes ot_view_key writes ("%25", "%2F"), so a value has
 *     one key, and equal keys in LMDB mean equal tallies.
 *  3. The built-in table is static and never changes at run time; a
 *     built-in view's index is stable, and ot_view_at/ot_view_find hand out
 *     pointers into it. A viewset's slots 0..4 hold those same pointers, so
 *     a built-in view is the same pointer whichever way it was found.
 *  4. Every key of a valid event fits OT_VIEW_KEY_MAX (checked at compile
 *     time below): validation bounds partner_force, the one free-text value
 *     of a built-in view; a declared view shortens any value longer than
 *     S_VALUE_MAX escaped bytes (s_put_value_declared), so its keys stay
 *     under LMDB's 511-byte limit whatever the event holds.
 *  5. A declared view owns its definition (an Optally__ViewDef unpacked
 *     from its own bytes); its name, fields and filters point into it or
 *     into static tables, and live exactly as long as the view.
 */
#include "ot_view.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ot_error.h"
#include "ot_event.h"

/* How a value comes out of an event: a dimension, or (filters only) the
 * date occurred_on itself. */
enum s_field {
    S_F_COUNTRY,
    S_F_QUARTER,       /* "2024-Q1" from occurred_on */
    S_F_MONTH,         /* "2024-01" from occurred_on */
    S_F_PARTNER_FORCE,
    S_F_ADMIN1,
    S_F_SOURCE,
    S_F_TYPE,          /* the OperationType name, "" when unspecified */
    S_F_YEAR,          /* "2024" */
    S_F_WEEK,          /* ISO 8601 "2024-W05", the ISO week-year */
    S_F_DAY,           /* "2024-01-31" */
    S_F_INCIDENT,
    S_F_GRANULARITY,   /* "OPERATION" / "AGGREGATE" */
    S_F_OCCURRED_ON,   /* filters only: occurred_on>=DATE, occurred_on<=DATE */
};

/* The dimensions a declared view may group by, in the order messages list
 * them; name is also the ot_view.fields[] string. */
static const struct {
    const char *name;
    enum s_field kind;
} s_dims[] = {
    {"country", S_F_COUNTRY}, {"admin1", S_F_ADMIN1},   {"partner_force", S_F_PARTNER_FORCE},
    {"source", S_F_SOURCE},   {"type", S_F_TYPE},       {"year", S_F_YEAR},
    {"quarter", S_F_QUARTER}, {"month", S_F_MONTH},     {"week", S_F_WEEK},
    {"day", S_F_DAY},         {"incident", S_F_INCIDENT}, {"granularity", S_F_GRANULARITY},
};
#define S_NDIMS (sizeof s_dims / sizeof s_dims[0])
#define S_DIM_LIST "country, admin1, partner_force, source, type, year, quarter, month, " \
                   "week, day, incident, granularity"

enum s_op { S_OP_EQ, S_OP_NE, S_OP_GE, S_OP_LE };

/* One filter of a declared view. vals points into the view's own
 * definition (invariant 5): the alternatives "a|b" of = and !=, or the
 * date (10 bytes) of >= and <=. */
typedef struct s_filter {
    enum s_field kind;
    enum s_op op;
    const char *vals;
    size_t vals_len;
} s_filter;

#define S_MAGIC_DECLARED 0x76696577u   /* "view": a heap s_view_def */

/* A view and, in step with pub.fields, how to get each field; pub comes
 * first so a pointer to it is a pointer to its definition. The built-in
 * ones have no filters and no def. */
typedef struct s_view_def {
    ot_view pub;
    enum s_field kinds[OT_VIEW_MAX_FIELDS];
    uint32_t magic;            /* S_MAGIC_DECLARED for a declared view, else 0 */
    int nfilters;
    s_filter filters[OT_VIEW_MAX_FILTERS];
    Optally__ViewDef *def;     /* declared: the owned definition */
} s_view_def;

static const s_view_def s_views[] = {
    {.pub = {"total", 0, {NULL}}},
    {.pub = {"country", 1, {"country"}}, .kinds = {S_F_COUNTRY}},
    {.pub = {"country,quarter", 2, {"country", "quarter"}}, .kinds = {S_F_COUNTRY, S_F_QUARTER}},
    {.pub = {"country,month", 2, {"country", "month"}}, .kinds = {S_F_COUNTRY, S_F_MONTH}},
    {.pub = {"country,partner_force", 2, {"country", "partner_force"}},
     .kinds = {S_F_COUNTRY, S_F_PARTNER_FORCE}},
};

#define S_NVIEWS (sizeof s_views / sizeof s_views[0])

/* Longest country value a key takes from a record (a valid one has 2
 * bytes); a longer one is a corrupt record (OT_ECORRUPT). */
#define S_COUNTRY_MAX 15

/* A declared view's value longer than S_VALUE_MAX escaped bytes is cut to
 * whole characters within S_SHORT_KEEP escaped bytes, then "~" and 16 hex
 * digits of its FNV-1a 64: at most 47 + 17 = 64 bytes. */
#define S_VALUE_MAX  64
#define S_SHORT_KEEP 47
_Static_assert(S_SHORT_KEEP + 17 <= S_VALUE_MAX, "a shortened value must fit S_VALUE_MAX");

/* Longest filter text (a list of alternatives of the longest values). */
#define S_FILTER_MAX 8192

/* The longest key of a valid event: the longest built-in view name, "/"
 * and a two-letter country, "/" and a partner_force whose every byte is
 * escaped, and the NUL; for a declared view, the name and up to
 * OT_VIEW_MAX_FIELDS values of S_VALUE_MAX bytes with their "/". */
_Static_assert(sizeof "country,partner_force" + 3 + 1 + 3 * OT_EVENT_PARTNER_FORCE_MAX
               <= OT_VIEW_KEY_MAX, "OT_VIEW_KEY_MAX must hold every valid key");
_Static_assert(OT_VIEW_NAME_MAX + OT_VIEW_MAX_FIELDS * (1 + S_VALUE_MAX) + 1 <= OT_VIEW_KEY_MAX &&
               OT_VIEW_KEY_MAX <= 512, "a declared view's key must fit OT_VIEW_KEY_MAX and LMDB");

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

/* Built-in view named by the n bytes at name, or NULL. */
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

/* The definition behind v: the built-in table or a declared view of a
 * viewset (invariant 3); anything else is API misuse. */
static const s_view_def *
s_def_of(const ot_view *v)
{
    for (size_t i = 0; i < S_NVIEWS; i++)
        if (v == &s_views[i].pub)
            return &s_views[i];
    const s_view_def *d = (const s_view_def *)v;
    assert(d->magic == S_MAGIC_DECLARED && "ot_view: view not from ot_view_* or ot_viewset_*");
    return d;
}

bool
ot_view_is_declared(const ot_view *v)
{
    assert(v != NULL);
    return s_def_of(v)->magic == S_MAGIC_DECLARED;
}

const Optally__ViewDef *
ot_view_def(const ot_view *v)
{
    assert(v != NULL);
    return s_def_of(v)->def;
}

/* ---- values --------------------------------------------------------------- */

/* What a key is built from: the values of one event, whichever way it
 * came (a decoded message or a view). Strings are pointer + length (need
 * not end in a NUL). country NULL: no one country (an aggregate over
 * several: unplaced in a country view). until NULL: a single day. */
typedef struct s_src {
    const char *country;
    size_t country_len;
    const char *on, *until;     /* "YYYY-MM-DD", 10 bytes each */
    const char *pf, *admin1, *source, *incident;
    size_t pf_len, admin1_len, source_len, incident_len;
    uint32_t type, granularity;
} s_src;

/* One value of an event: p[0..n), p maybe pointing into tmp (a bucket). */
typedef struct s_val {
    const char *p;
    size_t n;
    char tmp[12];
} s_val;

/* Days since 1970-01-01 of the proleptic Gregorian date y-m-d (m 1..12). */
static int64_t
s_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

/* Split the date d (10 bytes) into y, m, day. full: day must exist in its
 * month (the day and week buckets name the day; quarter and month only
 * ever read the month, as they always have). Returns 0 or OT_ECORRUPT
 * (validation lets no such date in). */
static int
s_date(const char *d, bool full, int *y, int *m, int *day)
{
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

    for (int i = 0; i < 10; i++)
        if (i == 4 || i == 7 ? d[i] != '-' : (d[i] < '0' || d[i] > '9'))
            return OT_ECORRUPT;
    *y = (d[0] - '0') * 1000 + (d[1] - '0') * 100 + (d[2] - '0') * 10 + (d[3] - '0');
    *m = (d[5] - '0') * 10 + (d[6] - '0');
    *day = (d[8] - '0') * 10 + (d[9] - '0');
    if (*m < 1 || *m > 12)
        return OT_ECORRUPT;
    if (full) {
        bool leap = (*y % 4 == 0 && *y % 100 != 0) || *y % 400 == 0;
        if (*day < 1 || *day > mdays[*m - 1] + (*m == 2 && leap))
            return OT_ECORRUPT;
    }
    return 0;
}

/* The ISO 8601 week of y-m-d: OUT *wy (week-year, which differs from y
 * around New Year) and *wk (1..53). A week belongs to the year of its
 * Thursday. */
static void
s_iso_week(int y, int m, int d, int *wy, int *wk)
{
    int64_t days = s_days_from_civil(y, m, d);
    int64_t wd = ((days + 3) % 7 + 7) % 7 + 1;   /* Monday 1 .. Sunday 7; 1970-01-01 a Thursday */
    int64_t thu = days - (wd - 1) + 3;
    int ty = y;

    if (thu < s_days_from_civil(y, 1, 1))
        ty = y - 1;
    else if (thu >= s_days_from_civil((int64_t)y + 1, 1, 1))
        ty = y + 1;
    *wy = ty;
    *wk = (int)((thu - s_days_from_civil(ty, 1, 1)) / 7 + 1);
}

/* The bucket of kind (year, quarter, month, week, day) of the date d (10
 * bytes) into out (NUL-terminated). OUT: *n. Returns 0 or OT_ECORRUPT. */
static int
s_bucket(enum s_field kind, const char *d, char out[12], size_t *n)
{
    int y, m, day, rc;

    if ((rc = s_date(d, kind == S_F_WEEK || kind == S_F_DAY, &y, &m, &day)) != 0)
        return rc;
    switch (kind) {
    case S_F_YEAR:
        memcpy(out, d, 4);
        *n = 4;
        break;
    case S_F_QUARTER:
        memcpy(out, d, 5);          /* "YYYY-" */
        out[5] = 'Q';
        out[6] = (char)('1' + (m - 1) / 3);
        *n = 7;
        break;
    case S_F_MONTH:
        memcpy(out, d, 7);
        *n = 7;
        break;
    case S_F_DAY:
        memcpy(out, d, 10);
        *n = 10;
        break;
    default: {
        assert(kind == S_F_WEEK);
        int wy, wk;
        s_iso_week(y, m, day, &wy, &wk);
        if (wy < 1 || wy > 9999)   /* "0000-01-01" lies in week-year -1 */
            return OT_ECORRUPT;
        *n = (size_t)snprintf(out, 12, "%04d-W%02d", wy, wk);
        break;
    }
    }
    out[*n] = '\0';
    return 0;
}

/* The name of value n of enum ed, or NULL for a value it lacks. */
static const char *
s_enum_name(const ProtobufCEnumDescriptor *ed, uint32_t n)
{
    const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(ed, (int)n);
    return ev ? ev->name : NULL;
}

/* The value of dimension kind of src into *out. A time bucket takes the
 * span on..until whole: both ends in one bucket, else no value.
 * Returns 0, OT_ENOTFOUND (no value: no one country, a span across
 * buckets), or OT_ECORRUPT (a date or an enum out of range). */
static int
s_value(enum s_field kind, const s_src *src, s_val *out)
{
    int rc;

    switch (kind) {
    case S_F_COUNTRY:
        if (src->country == NULL)
            return OT_ENOTFOUND;
        out->p = src->country;
        out->n = src->country_len;
        return 0;
    case S_F_PARTNER_FORCE:
        out->p = src->pf;
        out->n = src->pf_len;
        return 0;
    case S_F_ADMIN1:
        out->p = src->admin1;
        out->n = src->admin1_len;
        return 0;
    case S_F_SOURCE:
        out->p = src->source;
        out->n = src->source_len;
        return 0;
    case S_F_INCIDENT:
        out->p = src->incident;
        out->n = src->incident_len;
        return 0;
    case S_F_TYPE:
        out->p = src->type == 0 ? "" : s_enum_name(&optally__operation_type__descriptor, src->type);
        if (out->p == NULL)
            return OT_ECORRUPT;
        out->n = strlen(out->p);
        return 0;
    case S_F_GRANULARITY:
        out->p = s_enum_name(&optally__granularity__descriptor, src->granularity);
        if (out->p == NULL)
            return OT_ECORRUPT;
        out->n = strlen(out->p);
        return 0;
    case S_F_OCCURRED_ON:
        break;
    default: {   /* the time buckets */
        char last[12];
        size_t last_n;
        if ((rc = s_bucket(kind, src->on, out->tmp, &out->n)) != 0)
            return rc;
        out->p = out->tmp;
        if (src->until != NULL) {
            if ((rc = s_bucket(kind, src->until, last, &last_n)) != 0)
                return rc;
            if (last_n != out->n || memcmp(last, out->tmp, last_n) != 0)
                return OT_ENOTFOUND;
        }
        return 0;
    }
    }
    assert(!"ot_view: occurred_on is no dimension");
    return OT_ECORRUPT;
}

/* True when v[0..n) is one of the '|'-separated alternatives of
 * list[0..len). */
static bool
s_in_list(const char *list, size_t len, const char *v, size_t n)
{
    const char *p = list, *end = list + len;

    for (;;) {
        const char *bar = memchr(p, '|', (size_t)(end - p));
        const char *stop = bar ? bar : end;
        if ((size_t)(stop - p) == n && memcmp(p, v, n) == 0)
            return true;
        if (bar == NULL)
            return false;
        p = bar + 1;
    }
}

/* Whether src passes filter f: 0 (passes), OT_ENOTFOUND (left out, also
 * when the value is not determined, as for an aggregate over several
 * countries), or OT_ECORRUPT. A date filter takes the whole span: >= tests
 * occurred_on, <= occurred_until (occurred_on when there is none). */
static int
s_filter_pass(const s_filter *f, const s_src *src)
{
    s_val v;
    int rc;

    if (f->kind == S_F_OCCURRED_ON) {
        if (f->op == S_OP_GE)
            return memcmp(src->on, f->vals, 10) >= 0 ? 0 : OT_ENOTFOUND;
        return memcmp(src->until ? src->until : src->on, f->vals, 10) <= 0 ? 0 : OT_ENOTFOUND;
    }
    if ((rc = s_value(f->kind, src, &v)) != 0)
        return rc;
    return s_in_list(f->vals, f->vals_len, v.p, v.n) == (f->op == S_OP_EQ) ? 0 : OT_ENOTFOUND;
}

/* ---- keys ----------------------------------------------------------------- */

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

/* FNV-1a 64 of s[0..n): the same in every process (no seed). */
static uint64_t
s_fnv1a(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325u;

    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3u;
    }
    return h;
}

/* Append "/" and the value s[0..n) of a declared view: escaped, and when
 * that is longer than S_VALUE_MAX bytes, its first whole characters (an
 * escape counts as one) within S_SHORT_KEEP escaped bytes, "~" and the
 * FNV-1a 64 of the whole unescaped value in 16 lower-case hex digits
 * (invariant 4). Distinct long values get distinct keys unless their
 * heads and hashes both agree. */
static int
s_put_value_declared(s_key *k, const char *s, size_t n)
{
    size_t esc = n, keep = 0;
    char tail[18];

    for (size_t i = 0; i < n; i++)
        esc += (s[i] == '%' || s[i] == '/') ? 2 : 0;
    if (esc <= S_VALUE_MAX)
        return s_put_value(k, s, n);
    esc = 0;
    while (keep < n) {
        size_t cl = ot_utf8_seq_len(s + keep, n - keep);
        if (cl == 0)
            cl = 1;   /* a byte of no sequence stands alone (validation lets none in) */
        size_t ce = (cl == 1 && (s[keep] == '%' || s[keep] == '/')) ? 3 : cl;
        if (esc + ce > S_SHORT_KEEP)
            break;
        esc += ce;
        keep += cl;
    }
    snprintf(tail, sizeof tail, "~%016" PRIx64, s_fnv1a(s, n));
    int rc = s_put_value(k, s, keep);
    return rc != 0 ? rc : s_put(k, tail, 17);
}

/* The one key builder (invariant 1): values first (a value missing leaves
 * the event out of the view whatever the room), then the filters, then the
 * key. Returns 0, OT_ENOTFOUND (not placed, or filtered out), ENOSPC, or
 * OT_ECORRUPT (a date or enum out of range). */
static int
s_build(const s_view_def *def, const s_src *src, char *buf, size_t cap, size_t *out_len)
{
    s_val vals[OT_VIEW_MAX_FIELDS];
    s_key k = {buf, 0, cap};
    int rc = 0;

    if (cap == 0)
        return ENOSPC;
    for (int i = 0; i < def->pub.nfields; i++)
        if ((rc = s_value(def->kinds[i], src, &vals[i])) != 0)
            return rc;
    for (int i = 0; i < def->nfilters; i++)
        if ((rc = s_filter_pass(&def->filters[i], src)) != 0)
            return rc;
    if ((rc = s_put(&k, def->pub.name, strlen(def->pub.name))) != 0)
        return rc;
    for (int i = 0; i < def->pub.nfields && rc == 0; i++)
        rc = def->def ? s_put_value_declared(&k, vals[i].p, vals[i].n)
                      : s_put_value(&k, vals[i].p, vals[i].n);
    if (rc != 0)
        return rc;
    buf[k.len] = '\0';
    *out_len = k.len;
    return 0;
}

int
ot_view_key_of_values(const ot_view *v, const char *const *vals, char *buf, size_t cap,
                      size_t *out_len)
{
    const s_view_def *def = s_def_of(v);
    s_key k = {buf, 0, cap};
    int rc;

    assert(vals != NULL && buf != NULL && out_len != NULL);
    if (cap == 0)
        return ENOSPC;
    if ((rc = s_put(&k, def->pub.name, strlen(def->pub.name))) != 0)
        return rc;
    for (int i = 0; i < def->pub.nfields && rc == 0; i++)
        rc = def->def ? s_put_value_declared(&k, vals[i], strlen(vals[i]))
                      : s_put_value(&k, vals[i], strlen(vals[i]));
    if (rc != 0)
        return rc;
    buf[k.len] = '\0';
    *out_len = k.len;
    return 0;
}

/* Bytes of a view string as a C string would have them: up to the first
 * NUL (a decoded message's string ends there). */
static size_t
s_cstr_len(const char *s, size_t n)
{
    const char *nul = n ? memchr(s, 0, n) : NULL;
    return nul ? (size_t)(nul - s) : n;
}

/* Field f of ev as a string ("" when absent). OUT: *len. */
static const char *
s_str(const ot_event_view *ev, int f, size_t *len)
{
    if (ev->len[f] == 0 || ev->str[f] == NULL) {
        *len = 0;
        return "";
    }
    *len = s_cstr_len(ev->str[f], ev->len[f]);
    return ev->str[f];
}

/* The values of ev shared by both kinds of key: all but country and
 * occurred_until; all: the ones only declared views read too (a built-in
 * view skips them: it runs for every event stored). Out of range (never in
 * a valid event, so a corrupt record): OT_ECORRUPT. */
static int
s_src_of_view(const ot_event_view *ev, bool all, s_src *src)
{
    if (ev->len[OT_F_EVENT_OCCURRED_ON] != 10 ||
        s_cstr_len(ev->str[OT_F_EVENT_OCCURRED_ON], 10) != 10 ||
        ev->len[OT_F_EVENT_COUNTRY] > S_COUNTRY_MAX ||
        ev->len[OT_F_EVENT_PARTNER_FORCE] > OT_EVENT_PARTNER_FORCE_MAX)
        return OT_ECORRUPT;
    memset(src, 0, sizeof *src);
    src->on = ev->str[OT_F_EVENT_OCCURRED_ON];
    src->pf = s_str(ev, OT_F_EVENT_PARTNER_FORCE, &src->pf_len);
    if (!all)
        return 0;
    src->admin1 = s_str(ev, OT_F_EVENT_ADMIN1, &src->admin1_len);
    src->source = s_str(ev, OT_F_EVENT_SOURCE, &src->source_len);
    src->incident = s_str(ev, OT_F_EVENT_INCIDENT, &src->incident_len);
    src->type = (uint32_t)ev->num[OT_F_EVENT_TYPE];
    src->granularity = (uint32_t)ev->num[OT_F_EVENT_GRANULARITY];
    return 0;
}

int
ot_view_key_of_view(const ot_view *v, const ot_event_view *ev, char *buf, size_t cap,
                    size_t *out_len)
{
    return ot_view_key_ev(v, ev, buf, cap, out_len);
}

int
ot_view_key_ev(const ot_view *v, const ot_event_view *ev, char *buf, size_t cap,
               size_t *out_len)
{
    const s_view_def *def = s_def_of(v);
    s_src src;
    int rc;

    assert(ev != NULL && buf != NULL && out_len != NULL);
    if ((rc = s_src_of_view(ev, def->def != NULL, &src)) != 0)
        return rc;
    src.country = s_str(ev, OT_F_EVENT_COUNTRY, &src.country_len);
    return s_build(def, &src, buf, cap, out_len);
}

int
ot_view_key(const ot_view *v, const Optally__OperationEvent *ev,
            char *buf, size_t cap, size_t *out_len)
{
    const s_view_def *def = s_def_of(v);
    int rc;

    assert(ev != NULL && buf != NULL && out_len != NULL);
    /* ev is valid, so occurred_on is "YYYY-MM-DD"; the length check only
     * keeps a misusing caller inside the string. */
    const char *on = ev->occurred_on;
    assert(on != NULL && strnlen(on, 11) == 10);
    if (on == NULL || strnlen(on, 11) != 10)
        return EINVAL;
    if (def->def != NULL) {
        /* a declared view reads many fields: through the event view, so
         * its rule is the one of stored records */
        ot_event_view view;
        ot_event_view_of(ev, &view);
        rc = ot_view_key_ev(v, &view, buf, cap, out_len);
    } else {
        const char *cc = ev->country ? ev->country : "";
        const char *pf = ev->partner_force ? ev->partner_force : "";
        s_src src = {.country = cc, .country_len = strlen(cc), .on = on,
                     .pf = pf, .pf_len = strlen(pf)};
        rc = s_build(def, &src, buf, cap, out_len);
    }
    return rc == OT_ECORRUPT ? EINVAL : rc;
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
    if ((rc = s_src_of_view(ev, def->def != NULL, &src)) != 0)
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

/* ---- splitting keys ------------------------------------------------------- */

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

/* The values of view v in key[p..end) (p at the "/" after the name, or at
 * end). Values are unescaped straight into valbuf; on failure *out_view and
 * vals are untouched but valbuf may hold partial values. */
static int
s_split_values(const ot_view *v, const char *p, const char *end, const ot_view **out_view,
               const char *vals[OT_VIEW_MAX_FIELDS], char *valbuf, size_t cap)
{
    const char *vals_tmp[OT_VIEW_MAX_FIELDS] = {NULL};
    const char *slash;
    size_t used = 0;

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

int
ot_view_key_split(const char *key, size_t len, const ot_view **out_view,
                  const char *vals[OT_VIEW_MAX_FIELDS], char *valbuf, size_t cap)
{
    const char *end = key + len, *slash, *p;
    const ot_view *v;

    assert(key != NULL && out_view != NULL && vals != NULL && (valbuf != NULL || cap == 0));
    slash = memchr(key, '/', len);
    p = slash ? slash : end;
    if ((v = s_find(key, (size_t)(p - key))) == NULL)
        return memchr(key, '\0', (size_t)(p - key)) ? EINVAL : OT_ENOTFOUND;
    return s_split_values(v, p, end, out_view, vals, valbuf, cap);
}

/* ---- declared views: checking a definition -------------------------------- */

/* Write the message to err (when there is room) and return OT_EUSAGE. */
static int
s_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int
s_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err != NULL && errlen > 0) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return OT_EUSAGE;
}

/* The dimension named by s[0..n), or -1. */
static int
s_dim(const char *s, size_t n)
{
    for (size_t i = 0; i < S_NDIMS; i++)
        if (strlen(s_dims[i].name) == n && memcmp(s_dims[i].name, s, n) == 0)
            return (int)i;
    return -1;
}

/* True when s[0..n) is n digits. */
static bool
s_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

/* True when s[0..n) is a value dimension kind can take, so a filter on
 * it can match: a misspelt bucket or enum name would silently match
 * nothing. Free-text dimensions take anything. */
static bool
s_value_ok(enum s_field kind, const char *s, size_t n)
{
    char d[11];
    int32_t days;

    switch (kind) {
    case S_F_COUNTRY:
        return n == 2 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z';
    case S_F_YEAR:
        return n == 4 && s_digits(s, 4);
    case S_F_QUARTER:
        return n == 7 && s_digits(s, 4) && s[4] == '-' && s[5] == 'Q' && s[6] >= '1' &&
               s[6] <= '4';
    case S_F_MONTH:
        return n == 7 && s_digits(s, 4) && s[4] == '-' && s_digits(s + 5, 2) &&
               (s[5] - '0') * 10 + (s[6] - '0') >= 1 && (s[5] - '0') * 10 + (s[6] - '0') <= 12;
    case S_F_WEEK:
        return n == 8 && s_digits(s, 4) && s[4] == '-' && s[5] == 'W' && s_digits(s + 6, 2) &&
               (s[6] - '0') * 10 + (s[7] - '0') >= 1 && (s[6] - '0') * 10 + (s[7] - '0') <= 53;
    case S_F_DAY:
        if (n != 10)
            return false;
        memcpy(d, s, 10);
        d[10] = '\0';
        return ot_date_parse(d, &days) == 0;
    case S_F_TYPE:
    case S_F_GRANULARITY: {
        const ProtobufCEnumDescriptor *ed = kind == S_F_TYPE ? &optally__operation_type__descriptor
                                                             : &optally__granularity__descriptor;
        if (n == 0)
            return kind == S_F_TYPE;   /* type "": unspecified */
        for (unsigned i = 0; i < ed->n_values; i++)
            if (strlen(ed->values[i].name) == n && memcmp(ed->values[i].name, s, n) == 0)
                return kind == S_F_GRANULARITY || ed->values[i].value != 0;
        return false;
    }
    default:
        return true;
    }
}

/* What values of kind look like, for a message. */
static const char *
s_value_hint(enum s_field kind)
{
    switch (kind) {
    case S_F_COUNTRY: return "an ISO 3166-1 alpha-2 code such as IQ";
    case S_F_YEAR: return "a year such as 2024";
    case S_F_QUARTER: return "a quarter such as 2024-Q1";
    case S_F_MONTH: return "a month such as 2024-01";
    case S_F_WEEK: return "an ISO week such as 2024-W05";
    case S_F_DAY: return "a date such as 2024-01-31";
    case S_F_TYPE: return "PARTNERED, UNILATERAL, AIRSTRIKE, RAID, or empty for unspecified";
    case S_F_GRANULARITY: return "OPERATION or AGGREGATE";
    default: return "any text";
    }
}

/* Parse the filter text f into *out (pointing into f). Returns 0 or
 * OT_EUSAGE with err. */
static int
s_parse_filter(const char *f, s_filter *out, char *err, size_t errlen)
{
    char q[96], qv[96];
    const char *op = strpbrk(f, "=!<>");
    size_t oplen = 1;

    ot_utf8_snip(q, sizeof q, f);
    if (op == NULL || op == f)
        return s_err(err, errlen,
                     "filter '%s' is not DIM=VALUE: write dim=value, dim!=value, dim=a|b, "
                     "occurred_on>=YYYY-MM-DD or occurred_on<=YYYY-MM-DD", q);
    if (op[0] == '=') {
        out->op = S_OP_EQ;
    } else if (op[1] == '=' && op[0] != '>' && op[0] != '<') {
        out->op = S_OP_NE;
        oplen = 2;
    } else if (op[1] == '=') {
        out->op = op[0] == '>' ? S_OP_GE : S_OP_LE;
        oplen = 2;
    } else {
        return s_err(err, errlen,
                     "filter '%s' has an unknown operator: use =, != or | between values "
                     "(occurred_on takes >= and <=)", q);
    }
    size_t dlen = (size_t)(op - f);
    const char *val = op + oplen;
    if (dlen == strlen("occurred_on") && memcmp(f, "occurred_on", dlen) == 0) {
        int32_t days;
        if (out->op != S_OP_GE && out->op != S_OP_LE)
            return s_err(err, errlen,
                         "filter '%s': occurred_on takes >= or <= with a date YYYY-MM-DD "
                         "(for one day write day=YYYY-MM-DD)", q);
        if (ot_date_parse(val, &days) != 0)
            return s_err(err, errlen, "filter '%s': '%s' is not a date YYYY-MM-DD", q,
                         ot_utf8_snip(qv, sizeof qv, val));
        out->kind = S_F_OCCURRED_ON;
    } else {
        int d = s_dim(f, dlen);
        if (d < 0)
            return s_err(err, errlen,
                         "filter '%s' names an unknown dimension: use one of " S_DIM_LIST
                         ", or occurred_on", q);
        if (out->op != S_OP_EQ && out->op != S_OP_NE)
            return s_err(err, errlen,
                         "filter '%s': %s takes = or != (only occurred_on takes >= and <=)", q,
                         s_dims[d].name);
        out->kind = s_dims[d].kind;
        for (const char *p = val;;) {
            const char *bar = strchr(p, '|');
            size_t n = bar ? (size_t)(bar - p) : strlen(p);
            if (!s_value_ok(out->kind, p, n)) {
                char alt[96];
                snprintf(alt, sizeof alt, "%.*s", (int)(n < 80 ? n : 80), p);
                return s_err(err, errlen, "filter '%s': '%s' is no value of %s: write %s", q,
                             ot_utf8_snip(qv, sizeof qv, alt), s_dims[d].name,
                             s_value_hint(out->kind));
            }
            if (bar == NULL)
                break;
            p = bar + 1;
        }
    }
    out->vals = val;
    out->vals_len = strlen(val);
    return 0;
}

/* True when s is valid UTF-8 (a proto3 string must be). */
static bool
s_utf8_ok(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t k = ot_utf8_seq_len(s + i, n - i);
        if (k == 0)
            return false;
        i += k;
    }
    return true;
}

/* Check def and fill *out's name, fields, kinds and filters (pointing into
 * def). Returns 0 or OT_EUSAGE with err (ot_viewset_check_def). */
static int
s_check(const Optally__ViewDef *def, s_view_def *out, char *err, size_t errlen)
{
    const char *name = def->name ? def->name : "";
    size_t nlen = strlen(name);
    char q[96];
    int rc;

    memset(out, 0, sizeof *out);
    ot_utf8_snip(q, sizeof q, name);
    if (nlen == 0)
        return s_err(err, errlen, "a view needs a name: 1 to %d characters of A-Z a-z 0-9 _ . -",
                     OT_VIEW_NAME_MAX);
    if (nlen > OT_VIEW_NAME_MAX)
        return s_err(err, errlen, "view name '%s' is longer than %d bytes", q, OT_VIEW_NAME_MAX);
    for (size_t i = 0; i < nlen; i++) {
        char c = name[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return s_err(err, errlen,
                         "view name '%s' may hold only A-Z a-z 0-9 _ . - (no '/', spaces or "
                         "commas)", q);
    }
    if (s_find(name, nlen) != NULL)
        return s_err(err, errlen, "view name '%s' is a built-in view: choose another name", q);
    if (def->n_group_by == 0 || def->n_group_by > OT_VIEW_MAX_FIELDS)
        return s_err(err, errlen, "view '%s' groups by %zu dimensions: give 1 to %d of " S_DIM_LIST,
                     q, def->n_group_by, OT_VIEW_MAX_FIELDS);
    for (size_t i = 0; i < def->n_group_by; i++) {
        const char *g = def->group_by[i] ? def->group_by[i] : "";
        int d = s_dim(g, strlen(g));
        char qg[96];
        if (d < 0)
            return s_err(err, errlen, "view '%s': unknown dimension '%s': use " S_DIM_LIST, q,
                         ot_utf8_snip(qg, sizeof qg, g));
        for (size_t j = 0; j < i; j++)
            if (out->kinds[j] == s_dims[d].kind)
                return s_err(err, errlen, "view '%s': dimension %s is given twice", q,
                             s_dims[d].name);
        out->kinds[i] = s_dims[d].kind;
        out->pub.fields[i] = s_dims[d].name;
    }
    if (def->n_where > OT_VIEW_MAX_FILTERS)
        return s_err(err, errlen, "view '%s' has %zu filters: at most %d", q, def->n_where,
                     OT_VIEW_MAX_FILTERS);
    for (size_t i = 0; i < def->n_where; i++) {
        const char *w = def->where[i] ? def->where[i] : "";
        size_t wlen = strlen(w);
        if (wlen > S_FILTER_MAX || !s_utf8_ok(w, wlen))
            return s_err(err, errlen, "view '%s': filter %zu is longer than %d bytes or not UTF-8",
                         q, i + 1, S_FILTER_MAX);
        if ((rc = s_parse_filter(w, &out->filters[i], err, errlen)) != 0)
            return rc;
    }
    out->pub.name = name;
    out->pub.nfields = (int)def->n_group_by;
    out->nfilters = (int)def->n_where;
    return 0;
}

int
ot_viewset_check_def(const Optally__ViewDef *def, char *err, size_t errlen)
{
    s_view_def tmp;

    assert(def != NULL);
    return s_check(def, &tmp, err, errlen);
}

/* ---- viewsets ------------------------------------------------------------- */

struct ot_viewset {
    size_t count;                               /* one past the highest slot in use */
    s_view_def *slots[OT_VIEWSET_MAX];          /* 0..4: the static built-ins (not owned) */
};

static void
s_decl_free(s_view_def *d)
{
    if (d == NULL)
        return;
    optally__view_def__free_unpacked(d->def, NULL);
    d->magic = 0;
    free(d);
}

/* A declared view of def at slot: a deep copy of def (packed and
 * unpacked, so protobuf-c owns its layout) with its slot set, checked.
 * OUT: *out. Returns 0, OT_EUSAGE (err), ENOMEM. */
static int
s_decl_new(const Optally__ViewDef *def, size_t slot, s_view_def **out, char *err, size_t errlen)
{
    s_view_def tmp, *d;
    int rc;

    if ((rc = s_check(def, &tmp, err, errlen)) != 0)
        return rc;
    size_t len = optally__view_def__get_packed_size(def);
    uint8_t *buf = malloc(len ? len : 1);
    if (buf == NULL)
        return ENOMEM;
    optally__view_def__pack(def, buf);
    Optally__ViewDef *copy = optally__view_def__unpack(NULL, len, buf);
    free(buf);
    if (copy == NULL)
        return ENOMEM;   /* our own bytes always decode: only allocation fails */
    if ((d = malloc(sizeof *d)) == NULL) {
        optally__view_def__free_unpacked(copy, NULL);
        return ENOMEM;
    }
    copy->slot = (uint32_t)slot;
    rc = s_check(copy, d, err, errlen);   /* again, pointing into the copy */
    assert(rc == 0);
    (void)rc;
    d->magic = S_MAGIC_DECLARED;
    d->def = copy;
    *out = d;
    return 0;
}

/* Put d at its slot (free) and keep count. */
static void
s_place(ot_viewset *vs, s_view_def *d, size_t slot)
{
    assert(slot >= S_NVIEWS && slot < OT_VIEWSET_MAX && vs->slots[slot] == NULL);
    vs->slots[slot] = d;
    if (slot + 1 > vs->count)
        vs->count = slot + 1;
}

/* The built-in views alone, for callers given no set (vs == NULL below):
 * the static table's entries, never written through. */
static const ot_viewset s_builtin_set = {
    5,
    { (s_view_def *)&s_views[0], (s_view_def *)&s_views[1], (s_view_def *)&s_views[2],
      (s_view_def *)&s_views[3], (s_view_def *)&s_views[4] },
};
_Static_assert(sizeof s_views / sizeof s_views[0] == 5, "s_builtin_set lists every built-in");

static const ot_viewset *
s_set(const ot_viewset *vs)
{
    return vs ? vs : &s_builtin_set;
}

int
ot_viewset_new(ot_viewset **out)
{
    ot_viewset *vs = calloc(1, sizeof *vs);

    assert(out != NULL);
    if (vs == NULL)
        return ENOMEM;
    for (size_t i = 0; i < S_NVIEWS; i++)
        vs->slots[i] = (s_view_def *)&s_views[i];   /* never written through: not owned */
    vs->count = S_NVIEWS;
    *out = vs;
    return 0;
}

void
ot_viewset_free(ot_viewset **vs)
{
    if (vs == NULL || *vs == NULL)
        return;
    for (size_t i = S_NVIEWS; i < OT_VIEWSET_MAX; i++)
        s_decl_free((*vs)->slots[i]);
    free(*vs);
    *vs = NULL;
}

size_t
ot_viewset_count(const ot_viewset *vs)
{
    return s_set(vs)->count;
}

const ot_view *
ot_viewset_at(const ot_viewset *vs, size_t i)
{
    vs = s_set(vs);
    return i < OT_VIEWSET_MAX && vs->slots[i] ? &vs->slots[i]->pub : NULL;
}

/* The slot of the view named by name[0..n), or -1. */
static int
s_slot_of(const ot_viewset *vs, const char *name, size_t n)
{
    for (size_t i = 0; i < vs->count; i++) {
        const s_view_def *d = vs->slots[i];
        if (d && strlen(d->pub.name) == n && memcmp(d->pub.name, name, n) == 0)
            return (int)i;
    }
    return -1;
}

const ot_view *
ot_viewset_find(const ot_viewset *vs, const char *name, size_t *slot)
{
    vs = s_set(vs);
    int i = name ? s_slot_of(vs, name, strlen(name)) : -1;
    if (i < 0)
        return NULL;
    if (slot)
        *slot = (size_t)i;
    return &vs->slots[i]->pub;
}

int
ot_viewset_add(ot_viewset *vs, const Optally__ViewDef *def, size_t *slot, char *err,
               size_t errlen)
{
    s_view_def tmp, *d;
    char q[96];
    size_t at;
    int rc;

    assert(vs != NULL && def != NULL);
    if ((rc = s_check(def, &tmp, err, errlen)) != 0)
        return rc;
    if (s_slot_of(vs, tmp.pub.name, strlen(tmp.pub.name)) >= 0)
        return s_err(err, errlen, "a view named '%s' exists: drop it first or choose another name",
                     ot_utf8_snip(q, sizeof q, tmp.pub.name));
    for (at = S_NVIEWS; at < OT_VIEWSET_MAX && vs->slots[at]; at++)
        ;
    if (at == OT_VIEWSET_MAX) {
        s_err(err, errlen, "the store holds %d views, the most it can: drop one first",
              OT_VIEWSET_MAX);
        return ENOSPC;
    }
    if ((rc = s_decl_new(def, at, &d, err, errlen)) != 0)
        return rc;
    s_place(vs, d, at);
    if (slot)
        *slot = at;
    return 0;
}

int
ot_viewset_drop(ot_viewset *vs, const char *name)
{
    assert(vs != NULL && name != NULL);
    int i = s_slot_of(vs, name, strlen(name));
    if (i < 0)
        return OT_ENOTFOUND;
    if ((size_t)i < S_NVIEWS)
        return OT_EUSAGE;
    s_decl_free(vs->slots[i]);
    vs->slots[i] = NULL;
    while (vs->count > S_NVIEWS && vs->slots[vs->count - 1] == NULL)
        vs->count--;
    return 0;
}

int
ot_viewset_copy(const ot_viewset *vs, ot_viewset **out)
{
    ot_viewset *c;
    int rc;

    assert(vs != NULL && out != NULL);
    if ((rc = ot_viewset_new(&c)) != 0)
        return rc;
    for (size_t i = S_NVIEWS; i < vs->count; i++) {
        s_view_def *d;
        if (vs->slots[i] == NULL)
            continue;
        if ((rc = s_decl_new(vs->slots[i]->def, i, &d, NULL, 0)) != 0) {
            ot_viewset_free(&c);
            return rc;   /* only ENOMEM: the definition was checked when added */
        }
        s_place(c, d, i);
    }
    *out = c;
    return 0;
}

int
ot_viewset_pack(const ot_viewset *vs, uint8_t **out, size_t *len)
{
    Optally__ViewDef *defs[OT_VIEWSET_MAX];
    Optally__ViewDefs msg = OPTALLY__VIEW_DEFS__INIT;

    assert(vs != NULL && out != NULL && len != NULL);
    for (size_t i = S_NVIEWS; i < vs->count; i++)
        if (vs->slots[i])
            defs[msg.n_views++] = vs->slots[i]->def;
    msg.views = defs;
    size_t n = optally__view_defs__get_packed_size(&msg);
    uint8_t *buf = malloc(n ? n : 1);
    if (buf == NULL)
        return ENOMEM;
    optally__view_defs__pack(&msg, buf);
    *out = buf;
    *len = n;
    return 0;
}

int
ot_viewset_unpack(const uint8_t *buf, size_t len, ot_viewset **out)
{
    Optally__ViewDefs *msg = NULL;
    ot_viewset *vs;
    int rc;

    assert(out != NULL && (buf != NULL || len == 0));
    if ((rc = ot_viewset_new(&vs)) != 0)
        return rc;
    if (len == 0) {
        *out = vs;
        return 0;
    }
    /* protobuf-c cannot tell a malformed message from a failed allocation;
     * stored bytes were written by ot_viewset_pack, so call it corrupt */
    if ((msg = optally__view_defs__unpack(NULL, len, buf)) == NULL) {
        rc = OT_ECORRUPT;
        goto fail;
    }
    for (size_t i = 0; i < msg->n_views; i++) {
        const Optally__ViewDef *def = msg->views[i];
        size_t slot = def->slot;
        s_view_def *d;
        if (slot < S_NVIEWS || slot >= OT_VIEWSET_MAX || vs->slots[slot] != NULL ||
            s_slot_of(vs, def->name, strlen(def->name)) >= 0) {
            rc = OT_ECORRUPT;
            goto fail;
        }
        if ((rc = s_decl_new(def, slot, &d, NULL, 0)) != 0) {
            rc = rc == OT_EUSAGE ? OT_ECORRUPT : rc;
            goto fail;
        }
        s_place(vs, d, slot);
    }
    optally__view_defs__free_unpacked(msg, NULL);
    *out = vs;
    return 0;
fail:
    if (msg)
        optally__view_defs__free_unpacked(msg, NULL);
    ot_viewset_free(&vs);
    return rc;
}

int
ot_viewset_key_split(const ot_viewset *vs, const char *key, size_t len,
                     const ot_view **out_view, const char *vals[OT_VIEW_MAX_FIELDS],
                     char *valbuf, size_t cap)
{
    const char *end = key + len, *slash, *p;
    int i;

    assert(key != NULL && out_view != NULL && vals != NULL && (valbuf != NULL || cap == 0));
    vs = s_set(vs);
    slash = memchr(key, '/', len);
    p = slash ? slash : end;
    if ((i = s_slot_of(vs, key, (size_t)(p - key))) < 0)
        return memchr(key, '\0', (size_t)(p - key)) ? EINVAL : OT_ENOTFOUND;
    return s_split_values(&vs->slots[i]->pub, p, end, out_view, vals, valbuf, cap);
}

size_t
ot_view_slot(const ot_view *v)
{
    const s_view_def *d = s_def_of(v);

    assert(v != NULL);
    return d->def ? d->def->slot : (size_t)(d - s_views);
}
