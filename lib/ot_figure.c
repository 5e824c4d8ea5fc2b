/*
 * ot_figure: validation and content equality of point-in-time figures
 * (contract in ot_figure.h).
 *
 * Invariants:
 *  1. Validation applies its rules in one fixed order (missing fields,
 *     strings, figure_id, as_of, metric, scope, qualifier, numbers,
 *     estimates) and reports the first one broken, so a figure gets the
 *     same reason wherever it is checked (producer, consumer, rebuild).
 *  2. The string rules are those of events (ot_event.c): length limit, then
 *     UTF-8, then no control character (ot_text_is_control) in a one-line
 *     field; every text it writes is NUL-terminated valid UTF-8 that fits
 *     ot_reject.text (it travels as EventResult.reason_text).
 *  3. String checks and content equality walk the Figure descriptor, so a
 *     field added to the proto is checked and compared without touching
 *     this file (a field type it does not know fails loudly in tests).
 *  4. Never allocates: it runs for every figure on the consumer's receive
 *     thread.
 */
#include "ot_figure.h"

#include <assert.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "ot_country.h"
#include "ot_error.h"

#define S_MS_PER_DAY 86400000LL
#define S_QUOTE_MAX  40   /* bytes of a value quoted in a reject text */

static const char *
s_str(const char *s)
{
    return s ? s : "";
}

static int
s_check_missing(const Optally__Figure *f, ot_reject *out)
{
    if (s_str(f->figure_id)[0] == '\0')
        return ot_reject_set(out, OPTALLY__REJECT_REASON__MISSING_FIELD,
                        "field 'figure_id' is missing or empty: give every figure a stable "
                        "unique id");
    if (s_str(f->source)[0] == '\0')
        return ot_reject_set(out, OPTALLY__REJECT_REASON__MISSING_FIELD,
                        "field 'source' is missing or empty: name who reported it, "
                        "e.g. \"CENTCOM\"");
    if (s_str(f->metric)[0] == '\0')
        return ot_reject_set(out, OPTALLY__REJECT_REASON__BAD_METRIC,
                        "field 'metric' is required: name what is counted in lower_snake_case, "
                        "e.g. \"fighters_at_large\"");
    if (f->n_scope == 0)
        return ot_reject_set(out, OPTALLY__REJECT_REASON__BAD_SCOPE,
                        "field 'scope' is missing or empty: give the ISO 3166-1 alpha-2 "
                        "codes the figure covers, e.g. [\"IQ\",\"SY\"]");
    if (s_str(f->as_of)[0] == '\0')
        return ot_reject_set(out, OPTALLY__REJECT_REASON__MISSING_FIELD,
                        "field 'as_of' is missing or empty: give the date the figure stands "
                        "at as YYYY-MM-DD");
    return 0;
}

/* One-line text: every string field but notes (free text) and those with a
 * stricter rule of their own (figure_id, as_of, the scope codes). */
static bool
s_one_line(size_t off)
{
    return off != offsetof(Optally__Figure, notes) && off != offsetof(Optally__Figure, figure_id) &&
           off != offsetof(Optally__Figure, as_of) && off != offsetof(Optally__Figure, scope);
}

/* Length, UTF-8 and (one-line fields) control characters of string s of
 * field name (index idx >= 0 for an element of a repeated field). */
static int
s_check_string(const char *name, long idx, const char *s, size_t max, bool one_line,
               ot_reject *out)
{
    char field[80];
    unsigned cp;

    if (idx >= 0)
        snprintf(field, sizeof field, "%s[%ld]", name, idx);
    else
        snprintf(field, sizeof field, "%s", name);
    size_t n = strnlen(s, max + 1);
    if (n > max)
        return ot_reject_set(out, OPTALLY__REJECT_REASON__STRING_TOO_LONG,
                        "field '%s' is longer than %zu bytes: shorten it", field, max);
    size_t bad = ot_utf8_bad_at(s, n);
    if (bad != n)
        return ot_reject_set(out, OPTALLY__REJECT_REASON__BAD_STRING,
                        "field '%s' is not valid UTF-8 (byte 0x%02x at offset %zu): "
                        "send UTF-8 text", field, (unsigned char)s[bad], bad);
    size_t ctl = one_line ? ot_text_control_at(s, n, &cp) : n;
    if (ctl != n)
        return ot_reject_set(out, OPTALLY__REJECT_REASON__BAD_CHARACTER,
                        "field '%s' holds control character U+%04X at offset %zu: "
                        "one-line text takes no control characters (C0, DEL, C1, line "
                        "separators, bidi controls); put line breaks in notes", field, cp, ctl);
    return 0;
}

/* Every string field and every element of a repeated one (invariant 3). */
static int
s_check_strings(const Optally__Figure *f, ot_reject *out)
{
    const ProtobufCMessageDescriptor *d = &optally__figure__descriptor;
    int rc;

    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *fd = &d->fields[i];
        const char *slot = (const char *)f + fd->offset;
        if (fd->type != PROTOBUF_C_TYPE_STRING)
            continue;
        size_t max = fd->offset == offsetof(Optally__Figure, notes) ? OT_EVENT_NOTES_MAX
                                                                   : OT_EVENT_STRING_MAX;
        bool one_line = s_one_line(fd->offset);
        if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)((const char *)f + fd->quantifier_offset);
            char *const *arr = *(char *const *const *)slot;
            for (size_t k = 0; k < n; k++)
                if ((rc = s_check_string(fd->name, (long)k, s_str(arr[k]), max, one_line,
                                         out)) != 0)
                    return rc;
        } else if ((rc = s_check_string(fd->name, -1, s_str(*(char *const *)slot), max,
                                        one_line, out)) != 0) {
            return rc;
        }
    }
    return 0;
}

static int
s_check_id(const char *id, ot_reject *out)
{
    size_t n = strlen(id);   /* bounded by s_check_strings */
    if (n > OT_EVENT_ID_MAX)
        return ot_reject_set(out, OPTALLY__REJECT_REASON__BAD_EVENT_ID,
                        "field 'figure_id' is %zu bytes: at most %d allowed", n, OT_EVENT_ID_MAX);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)id[i];
        if (c < 0x21 || c > 0x7e)
            return ot_reject_set(out, OPTALLY__REJECT_REASON__BAD_EVENT_ID,
                            "field 'figure_id' has byte 0x%02x at offset %zu: use printable "
                            "ASCII without spaces (0x21..0x7e)", c, i);
    }
    return 0;
}

/* as_of: a calendar date, at most one day after today (UTC), not before
 * OT_EVENT_MIN_YEAR: the rules of an event's occurred_on. */
static int
s_check_as_of(const char *s, int64_t now_ms, ot_reject *out)
{
    int64_t now_days = now_ms / S_MS_PER_DAY - (now_ms % S_MS_PER_DAY < 0);   /* floor */
    char q[S_QUOTE_MAX + 4], min_s[16];
    int32_t days, min_days = 0;

    if (ot_date_parse(s, &days) != 0)
        return ot_reject_set(out, OPTALLY__REJECT_REASON__BAD_DATE,
                        "field 'as_of' '%s' is not a calendar date as YYYY-MM-DD",
                        ot_utf8_snip(q, sizeof q, s));
    if (days > now_days + 1)
        return ot_reject_set(out, OPTALLY__REJECT_REASON__FUTURE_DATE,
                        "field 'as_of' %s is in the future: dates may be at most one day "
                        "after today (UTC)", s);
    snprintf(min_s, sizeof min_s, "%04d-01-01", OT_EVENT_MIN_YEAR);
    (void)ot_date_parse(min_s, &min_days);
    if (days < min_days)
        return ot_reject_set(out, OPTALLY__REJECT_REASON__DATE_TOO_OLD,
                        "field 'as_of' %s is before %s: too old to be kept", s, min_s);
    return 0;
}

static int
s_check_metric(const char *m, ot_reject *out)
{
    char q[S_QUOTE_MAX + 4];
    size_t n = strlen(m);   /* bounded by s_check_strings */

    if (n > OT_FIGURE_METRIC_MAX)
        return ot_reject_set(out, OPTALLY__REJECT_REASON__BAD_METRIC,
                        "field 'metric' is %zu bytes: at most %d allowed", n,
                        OT_FIGURE_METRIC_MAX);
    for (size_t i = 0; i < n; i++) {
        char c = m[i];
        bool ok = (c >= 'a' && c <= 'z') || (i > 0 && ((c >= '0' && c <= '9') || c == '_'));
        if (!ok)
            return ot_reject_set(out, OPTALLY__REJECT_REASON__BAD_METRIC,
                            "field 'metric' '%s' is not lower_snake_case (a lower-case letter, "
                            "then lower-case letters, digits and '_'), e.g. \"fighters_at_large\"",
                            ot_utf8_snip(q, sizeof q, m));
    }
    return 0;
}

static int
s_check_scope(const Optally__Figure *f, ot_reject *out)
{
    char q[S_QUOTE_MAX + 4];

    if (f->n_scope > OT_FIGURE_SCOPE_MAX)
        return ot_reject_set(out, OPTALLY__REJECT_REASON__BAD_SCOPE,
                        "field 'scope' has %zu codes: at most %d allowed", f->n_scope,
                        OT_FIGURE_SCOPE_MAX);
    for (size_t i = 0; i < f->n_scope; i++) {
        const char *cc = s_str(f->scope[i]);
        if (!ot_country_known(cc))
            return ot_reject_set(out, OPTALLY__REJECT_REASON__BAD_SCOPE,
                            "field 'scope[%zu]' '%s' is not an assigned ISO 3166-1 alpha-2 "
                            "code: use two upper-case letters, e.g. \"IQ\"", i,
                            ot_utf8_snip(q, sizeof q, cc));
        /* a quadratic scan of at most 32 codes: cheaper than sorting */
        for (size_t j = 0; j < i; j++)
            if (strcmp(cc, f->scope[j]) == 0)
                return ot_reject_set(out, OPTALLY__REJECT_REASON__BAD_SCOPE,
                                "field 'scope' names '%s' twice (scope[%zu] and scope[%zu]): "
                                "give each country once", cc, j, i);
    }
    return 0;
}

static int
s_check_numbers(const Optally__Figure *f, ot_reject *out)
{
    const struct {
        const char *name;
        uint64_t v;
    } c[] = {{"value", f->value}, {"low", f->low}, {"high", f->high}};

    if (ot_figure_qualifier_name((int)f->qualifier) == NULL)
        return ot_reject_set(out, OPTALLY__REJECT_REASON__UNKNOWN_ENUM,
                        "field 'qualifier' has value %d, not a Qualifier: use one of EXACT, "
                        "APPROX, AT_LEAST, AT_MOST", (int)f->qualifier);
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++)
        if (c[i].v > OT_FIGURE_VALUE_MAX)
            return ot_reject_set(out, OPTALLY__REJECT_REASON__COUNT_TOO_LARGE,
                            "field '%s' is %llu, over the limit of %llu: check the value",
                            c[i].name, (unsigned long long)c[i].v,
                            (unsigned long long)OT_FIGURE_VALUE_MAX);
    if (f->low != 0 && f->low > f->value)
        return ot_reject_set(out, OPTALLY__REJECT_REASON__BAD_ESTIMATE,
                        "field 'low' %llu is above value %llu: an estimate's low bound may "
                        "not exceed it (0 = no low bound)", (unsigned long long)f->low,
                        (unsigned long long)f->value);
    if (f->high != 0 && f->high < f->value)
        return ot_reject_set(out, OPTALLY__REJECT_REASON__BAD_ESTIMATE,
                        "field 'high' %llu is below value %llu: an estimate's high bound may "
                        "not be under it (0 = no high bound)", (unsigned long long)f->high,
                        (unsigned long long)f->value);
    return 0;
}

int
ot_figure_validate(const Optally__Figure *f, int64_t now_ms, ot_reject *out)
{
    int rc;

    assert(f != NULL && out != NULL);
    if ((rc = s_check_missing(f, out)) != 0 || (rc = s_check_strings(f, out)) != 0 ||
        (rc = s_check_id(f->figure_id, out)) != 0 ||
        (rc = s_check_as_of(f->as_of, now_ms, out)) != 0 ||
        (rc = s_check_metric(f->metric, out)) != 0 || (rc = s_check_scope(f, out)) != 0 ||
        (rc = s_check_numbers(f, out)) != 0)
        return rc;
    out->reason = OPTALLY__REJECT_REASON__REASON_NONE;
    out->text[0] = '\0';
    return 0;
}

/* ---- content equality -------------------------------------------------- */

static bool
s_str_eq(const char *a, const char *b)
{
    return strcmp(s_str(a), s_str(b)) == 0;
}

/* Field fd of a and b equal (fd not repeated). */
static bool
s_field_eq(const ProtobufCFieldDescriptor *fd, const char *pa, const char *pb)
{
    switch (fd->type) {
    case PROTOBUF_C_TYPE_STRING:
        return s_str_eq(*(char *const *)pa, *(char *const *)pb);
    case PROTOBUF_C_TYPE_UINT32:
        return *(const uint32_t *)pa == *(const uint32_t *)pb;
    case PROTOBUF_C_TYPE_ENUM:
    case PROTOBUF_C_TYPE_INT32:
        return *(const int32_t *)pa == *(const int32_t *)pb;
    case PROTOBUF_C_TYPE_BOOL:
        return (*(const protobuf_c_boolean *)pa != 0) == (*(const protobuf_c_boolean *)pb != 0);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_INT64:
        return *(const uint64_t *)pa == *(const uint64_t *)pb;
    default:
        /* a field type this file does not know: fail loudly in tests, and
         * never call differing figures the same (invariant 3) */
        assert(!"ot_figure_same_content: unhandled field type");
        return false;
    }
}

bool
ot_figure_same_content(const Optally__Figure *a, const Optally__Figure *b)
{
    const ProtobufCMessageDescriptor *d = &optally__figure__descriptor;

    assert(a != NULL && b != NULL);
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *fd = &d->fields[i];
        const char *pa = (const char *)a + fd->offset, *pb = (const char *)b + fd->offset;

        if (fd->offset == offsetof(Optally__Figure, reported_at))
            continue;   /* when it was seen, not what was seen */
        if (fd->label != PROTOBUF_C_LABEL_REPEATED) {
            if (!s_field_eq(fd, pa, pb))
                return false;
            continue;
        }
        assert(fd->type == PROTOBUF_C_TYPE_STRING);   /* scope: the one repeated field */
        if (fd->type != PROTOBUF_C_TYPE_STRING)
            return false;
        size_t na = *(const size_t *)((const char *)a + fd->quantifier_offset);
        size_t nb = *(const size_t *)((const char *)b + fd->quantifier_offset);
        if (na != nb)
            return false;
        char *const *xa = *(char *const *const *)pa, *const *xb = *(char *const *const *)pb;
        for (size_t k = 0; k < na; k++)
            if (!s_str_eq(xa[k], xb[k]))
                return false;
    }
    return true;
}

const char *
ot_figure_qualifier_name(int q)
{
    static const char *const names[] = {"EXACT", "APPROX", "AT_LEAST", "AT_MOST"};
    _Static_assert(OPTALLY__QUALIFIER__EXACT == 0 && OPTALLY__QUALIFIER__APPROX == 1 &&
                   OPTALLY__QUALIFIER__AT_LEAST == 2 && OPTALLY__QUALIFIER__AT_MOST == 3,
                   "names[] follows the Qualifier enum");
    return q >= 0 && q < (int)(sizeof names / sizeof names[0]) ? names[q] : NULL;
}
