/*
 * ot_event: the event model shared by producer, consumer and store:
 * validation, dates, content equality and tally contributions.
 *
 * Invariants:
 *  1. ot_event_validate applies its rules in one fixed order (missing
 *     fields, strings (length, UTF-8, control characters in one-line
 *     fields), event_id, granularity, dates (with an aggregate's span),
 *     country or countries, type, parent_id, incident, counts, estimates,
 *     emptiness)
 *     and reports the first one broken, so one event always gets the same
 *     reason wherever it is checked (producer, consumer, rebuild).
 *  2. Validation never allocates and reads every string at most three
 *     times (length, UTF-8, control characters), bounded by its length
 *     limit plus one byte: it runs for every event on
 *     the consumer's receive thread.
 *  3. Every reject text is NUL-terminated valid UTF-8 that fits ot_reject.text,
 *     since it travels as the proto3 string EventResult.reason_text (which
 *     strict decoders refuse when it is not UTF-8). Quoted values are
 *     shortened on a character boundary and control bytes shown as '?'.
 *  4. String rules and content equality walk the message descriptor, not a
 *     hand-written field list, so a string field added to the proto is
 *     checked and compared without touching this file (beyond naming its
 *     number in ot_fields.h, which a test enforces, and its wire type in
 *     s_event_wt when it is not a varint).
 *  5. Content equality has one implementation, on event views: a struct is
 *     compared through its view, so the store's wire-level decisions and
 *     every struct-level caller agree by construction.
 *
 * Embedded NUL bytes: protobuf-c hands strings over as NUL-terminated C
 * strings, so a string whose wire bytes hold a NUL arrives here shorter than
 * on the wire and looks valid. Finding that NUL needs the wire bytes; the
 * consumer's decode step does it. Here, strings are checked over strlen.
 */
#include "ot_event.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stddef.h>
#include <string.h>

#include "ot_country.h"
#include "ot_error.h"
#include "ot_wire.h"

#define S_MS_PER_DAY 86400000LL
#define S_QUOTE_MAX  40   /* bytes of a value quoted in a reject text */

/* NULL and "" both mean "absent" (proto3 has no presence for strings). */
static const char *
s_str(const char *s)
{
    return s ? s : "";
}

size_t
ot_utf8_seq_len(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t need;
    unsigned char lo = 0x80, hi = 0xbf;   /* range of the second byte */

    assert(n > 0);
    if (p[0] < 0x80)
        return 1;
    if (p[0] < 0xc2)            /* continuation byte, or overlong C0/C1 lead */
        return 0;
    if (p[0] < 0xe0) {
        need = 2;
    } else if (p[0] < 0xf0) {
        need = 3;
        if (p[0] == 0xe0) lo = 0xa0;        /* overlong below U+0800 */
        if (p[0] == 0xed) hi = 0x9f;        /* surrogates U+D800..U+DFFF */
    } else if (p[0] < 0xf5) {
        need = 4;
        if (p[0] == 0xf0) lo = 0x90;        /* overlong below U+10000 */
        if (p[0] == 0xf4) hi = 0x8f;        /* above U+10FFFF */
    } else {
        return 0;
    }
    if (n < need || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < need; i++)
        if (p[i] < 0x80 || p[i] > 0xbf)
            return 0;
    return need;
}

bool
ot_text_is_control(uint32_t cp)
{
    return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x200e || cp == 0x200f ||
           (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

uint32_t
ot_text_code_point(const char *s, size_t k)
{
    static const unsigned char lead_mask[5] = {0, 0x7f, 0x1f, 0x0f, 0x07};
    uint32_t cp;

    assert(k >= 1 && k <= 4);
    cp = (unsigned char)s[0] & lead_mask[k];
    for (size_t i = 1; i < k; i++)
        cp = cp << 6 | ((unsigned char)s[i] & 0x3f);
    return cp;
}

size_t
ot_utf8_bad_at(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t k = ot_utf8_seq_len(s + i, n - i);
        if (k == 0)
            return i;
        i += k;
    }
    return n;
}

const char *
ot_utf8_snip(char *dst, size_t cap, const char *src)
{
    size_t i = 0, o = 0, n = strlen(src);
    size_t max = cap - 4;   /* room for "..." and the NUL */

    assert(cap >= 8);
    while (i < n) {
        size_t k = ot_utf8_seq_len(src + i, n - i);
        if (o + (k ? k : 1) > max) {
            memcpy(dst + o, "...", 3);
            o += 3;
            break;
        }
        if (k <= 1) {
            unsigned char c = (unsigned char)src[i];
            dst[o++] = (k == 0 || c < 0x20 || c == 0x7f) ? '?' : (char)c;
            i++;
        } else {
            memcpy(dst + o, src + i, k);
            o += k;
            i += k;
        }
    }
    dst[o] = '\0';
    return dst;
}

/* vsnprintf may cut a long text in the middle of a character; the tail is
 * trimmed back to a boundary (invariant 3). */
int
ot_reject_set(ot_reject *out, Optally__RejectReason reason, const char *fmt, ...)
{
    va_list ap;
    size_t n;

    out->reason = reason;
    va_start(ap, fmt);
    vsnprintf(out->text, sizeof out->text, fmt, ap);
    va_end(ap);
    n = strlen(out->text);
    out->text[ot_utf8_bad_at(out->text, n)] = '\0';
    return OT_EINVAL_EVENT;
}

static int
s_check_missing(const Optally__OperationEvent *ev, ot_reject *out)
{
    static const struct {
        size_t off;
        const char *name, *hint;
    } req[] = {
        {offsetof(Optally__OperationEvent, event_id), "event_id",
         "give every event a stable unique id"},
        {offsetof(Optally__OperationEvent, source), "source",
         "name who reported it, e.g. \"CENTCOM\""},
        {offsetof(Optally__OperationEvent, occurred_on), "occurred_on",
         "give the date of the operation as YYYY-MM-DD"},
        {offsetof(Optally__OperationEvent, country), "country",
         "give the ISO 3166-1 alpha-2 code, e.g. \"IQ\" (an aggregate over several "
         "countries gives them in 'countries' instead)"},
    };
    for (size_t i = 0; i < sizeof req / sizeof req[0]; i++) {
        const char *s = *(char *const *)((const char *)ev + req[i].off);
        /* countries stands in for country (s_check_scope decides whether
         * that is allowed) */
        if (req[i].off == offsetof(Optally__OperationEvent, country) && ev->n_countries > 0)
            continue;
        if (s == NULL || s[0] == '\0')
            return ot_reject_set(out, OPTALLY__REJECT_REASON__MISSING_FIELD,
                            "field '%s' is missing or empty: %s", req[i].name, req[i].hint);
    }
    return 0;
}

size_t
ot_text_control_at(const char *s, size_t n, unsigned *cp)
{
    /* s is valid UTF-8 (checked first): step by whole characters and refuse
     * every code point that must never reach a terminal raw (the one list
     * of lib/ot_json.c: C0, DEL, C1, U+2028/2029, bidi controls). */
    for (size_t i = 0; i < n;) {
        size_t k = ot_utf8_seq_len(s + i, n - i);
        if (k == 0)
            k = 1;   /* cannot happen after the UTF-8 check; never loop */
        uint32_t c = ot_text_code_point(s + i, k);
        if (ot_text_is_control(c)) {
            *cp = c;
            return i;
        }
        i += k;
    }
    return n;
}

/* True for the string fields that are one line of text: every string field
 * but notes (free text, where a newline belongs) and those whose own,
 * stricter rule refuses control characters with its own reason (event_id,
 * the dates, country, countries, and parent_id and incident, which are
 * ids like event_id). One-line fields become keys of views (partner_force,
 * ot_view.h) or are shown in tables and CSV, where a newline or an escape
 * sequence would forge rows or drive a terminal. A string field added to
 * the proto is one-line unless named here. */
static bool
s_one_line(uint32_t id)
{
    return id != OT_F_EVENT_NOTES && id != OT_F_EVENT_ID && id != OT_F_EVENT_OCCURRED_ON &&
           id != OT_F_EVENT_OCCURRED_UNTIL && id != OT_F_EVENT_COUNTRY &&
           id != OT_F_EVENT_COUNTRIES && id != OT_F_EVENT_PARENT_ID && id != OT_F_EVENT_INCIDENT;
}

/* Length limit, then UTF-8, then (one-line fields) control characters, of
 * the string s of field f (an element of it when repeated). */
static int
s_check_string(const ProtobufCFieldDescriptor *f, const char *s, ot_reject *out)
{
    size_t max = f->id == OT_F_EVENT_NOTES ? OT_EVENT_NOTES_MAX
                 : f->id == OT_F_EVENT_PARTNER_FORCE ? OT_EVENT_PARTNER_FORCE_MAX
                 : OT_EVENT_STRING_MAX;
    size_t n = strnlen(s, max + 1);
    if (n > max)
        return ot_reject_set(out, OPTALLY__REJECT_REASON__STRING_TOO_LONG,
                        "field '%s' is longer than %zu bytes: shorten it", f->name, max);
    size_t bad = ot_utf8_bad_at(s, n);
    if (bad != n)
        return ot_reject_set(out, OPTALLY__REJECT_REASON__BAD_STRING,
                        "field '%s' is not valid UTF-8 (byte 0x%02x at offset %zu): "
                        "send UTF-8 text", f->name, (unsigned char)s[bad], bad);
    unsigned cp;
    size_t ctl = s_one_line(f->id) ? ot_text_control_at(s, n, &cp) : n;
    if (ctl != n)
        return ot_reject_set(out, OPTALLY__REJECT_REASON__BAD_CHARACTER,
                        "field '%s' holds control character U+%04X at offset %zu: "
                        "one-line text takes no control characters (C0, DEL, C1, line separators, "
                        "bidi controls); "
                        "put line breaks in notes", f->name, cp, ctl);
    return 0;
}

/* Every string field, and every element of a repeated one (invariant 4).
 * notes and partner_force have their own limits (see ot_event.h). Of a
 * repeated field (countries) the first OT_EVENT_COUNTRIES_MAX elements are
 * read: more is refused by its own rule (s_check_scope), so invariant 2
 * holds whatever the count. */
static int
s_check_strings(const Optally__OperationEvent *ev, ot_reject *out)
{
    const ProtobufCMessageDescriptor *d = &optally__operation_event__descriptor;
    int rc;

    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const char *pf = (const char *)ev + f->offset;
        if (f->type != PROTOBUF_C_TYPE_STRING)
            continue;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)((const char *)ev + f->quantifier_offset);
            char *const *elems = *(char *const *const *)pf;
            /* past OT_EVENT_COUNTRIES_MAX the count itself is refused
             * (s_check_scope): read no more than that */
            for (size_t j = 0; j < n && j < OT_EVENT_COUNTRIES_MAX; j++)
                if ((rc = s_check_string(f, s_str(elems[j]), out)) != 0)
                    return rc;
            continue;
        }
        if ((rc = s_check_string(f, s_str(*(char *const *)pf), out)) != 0)
            return rc;
    }
    return 0;
}

/* The syntax of an id (event_id, and parent_id and incident, which name
 * ids): at most OT_EVENT_ID_MAX bytes of printable ASCII without spaces.
 * field names it in the text; reason is the field's own. */
static int
s_check_id(const char *field, const char *id, Optally__RejectReason reason, ot_reject *out)
{
    size_t n = strlen(id);   /* bounded by s_check_strings */
    if (n > OT_EVENT_ID_MAX)
        return ot_reject_set(out, reason, "field '%s' is %zu bytes: at most %d allowed", field, n,
                        OT_EVENT_ID_MAX);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)id[i];
        if (c < 0x21 || c > 0x7e)
            return ot_reject_set(out, reason,
                            "field '%s' has byte 0x%02x at offset %zu: use printable "
                            "ASCII without spaces (0x21..0x7e), as in event_id", field, c, i);
    }
    return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's
 * days_from_civil: shifting the year to start in March puts the leap day
 * last, so every month before it has a fixed offset). */
static int32_t
s_days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int era = (y >= 0 ? y : y - 399) / 400;
    int yoe = y - era * 400;
    int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int
s_digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return EINVAL;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int
ot_date_parse(const char *s, int32_t *out_days)
{
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, m, d;

    assert(out_days != NULL);
    /* strnlen first: the digit reads below stay inside a short string. */
    if (s == NULL || strnlen(s, 11) != 10 || s[4] != '-' || s[7] != '-')
        return EINVAL;
    if (s_digits(s, 4, &y) || s_digits(s + 5, 2, &m) || s_digits(s + 8, 2, &d))
        return EINVAL;
    if (m < 1 || m > 12 || d < 1)
        return EINVAL;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d > mdays[m - 1] + (m == 2 && leap))
        return EINVAL;
    *out_days = s_days_from_civil(y, m, d);
    return 0;
}

/* Future and too-old limits of one parsed date. */
static int
s_check_date_bounds(const char *field, const char *s, int32_t days, int64_t now_ms,
                    ot_reject *out)
{
    int64_t now_days = now_ms / S_MS_PER_DAY - (now_ms % S_MS_PER_DAY < 0);   /* floor */
    int32_t min_days = s_days_from_civil(OT_EVENT_MIN_YEAR, 1, 1);

    /* One day of slack: a scraper east of UTC is already in tomorrow. */
    if (days > now_days + 1)
        return ot_reject_set(out, OPTALLY__REJECT_REASON__FUTURE_DATE,
                        "field '%s' %s is in the future: dates may be at most one day "
                        "after today (UTC)", field, s);
    if (days < min_days)
        return ot_reject_set(out, OPTALLY__REJECT_REASON__DATE_TOO_OLD,
                        "field '%s' %s is before %d-01-01: too old to be tallied",
                        field, s, OT_EVENT_MIN_YEAR);
    return 0;
}

static int
s_check_dates(const Optally__OperationEvent *ev, int64_t now_ms, ot_reject *out)
{
    const char *on = s_str(ev->occurred_on), *until = s_str(ev->occurred_until);
    int32_t on_days, until_days = 0;
    char q[S_QUOTE_MAX + 4];
    int rc;

    if (ot_date_parse(on, &on_days) != 0)
        return ot_reject_set(out, OPTALLY__REJECT_REASON__BAD_DATE,
                        "field 'occurred_on' '%s' is not a calendar date as YYYY-MM-DD",
                        ot_utf8_snip(q, sizeof q, on));
    if (until[0] != '\0' && ot_date_parse(until, &until_days) != 0)
        return ot_reject_set(out, OPTALLY__REJECT_REASON__BAD_DATE,
                        "field 'occurred_until' '%s' is not a calendar date as YYYY-MM-DD "
                        "(leave it empty for a single day)", ot_utf8_snip(q, sizeof q, until));
    if ((rc = s_check_date_bounds("occurred_on", on, on_days, now_ms, out)) != 0)
        return rc;
    if (until[0] == '\0' && ev->granularity == OPTALLY__GRANULARITY__AGGREGATE)
        return ot_reject_set(out, OPTALLY__REJECT_REASON__BAD_SPAN,
                        "field 'occurred_until' is missing: an aggregate reports a period, "
                        "give its last day as YYYY-MM-DD (occurred_on is the first)");
    if (until[0] == '\0')
        return 0;
    if ((rc = s_check_date_bounds("occurred_until", until, until_days, now_ms, out)) != 0)
        return rc;
    if (until_days < on_days)
        return ot_reject_set(out, OPTALLY__REJECT_REASON__BAD_DATE_RANGE,
                        "field 'occurred_until' %s is before occurred_on %s: "
                        "the range must not end before it starts", until, on);
    return 0;
}

/* value must be one of enum d's (field names it in the text). */
static int
s_check_enum(const ProtobufCEnumDescriptor *d, const char *field, int value, ot_reject *out)
{
    char names[120];
    size_t o = 0;

    if (protobuf_c_enum_descriptor_get_value(d, value) != NULL)
        return 0;
    /* List the accepted names from the descriptor so the text stays true
     * when the enum grows. */
    names[0] = '\0';
    for (unsigned i = 0; i < d->n_values && o < sizeof names; i++)
        o += (size_t)snprintf(names + o, sizeof names - o, "%s%s",
                              i ? ", " : "", d->values[i].name);
    return ot_reject_set(out, OPTALLY__REJECT_REASON__UNKNOWN_ENUM,
                    "field '%s' has value %d, not an %s: use one of %s",
                    field, value, d->short_name, names);
}

/* Where an event happened: country alone, or (aggregates only) countries:
 * 1..OT_EVENT_COUNTRIES_MAX distinct ISO codes. s_check_missing made sure
 * one of them is there. */
static int
s_check_scope(const Optally__OperationEvent *ev, ot_reject *out)
{
    char q[S_QUOTE_MAX + 4];
    size_t n = ev->n_countries;

    if (n == 0) {
        if (!ot_country_known(ev->country))
            return ot_reject_set(out, OPTALLY__REJECT_REASON__UNKNOWN_COUNTRY,
                            "field 'country' '%s' is not an assigned ISO 3166-1 alpha-2 code: "
                            "use two upper-case letters, e.g. \"IQ\"",
                            ot_utf8_snip(q, sizeof q, ev->country));
        return 0;
    }
    if (s_str(ev->country)[0] != '\0')
        return ot_reject_set(out, OPTALLY__REJECT_REASON__BAD_SCOPE,
                        "fields 'country' and 'countries' are both set: give one country in "
                        "'country', or several (an aggregate) in 'countries' with 'country' empty");
    if (ev->granularity != OPTALLY__GRANULARITY__AGGREGATE)
        return ot_reject_set(out, OPTALLY__REJECT_REASON__BAD_SCOPE,
                        "field 'countries' is set on an OPERATION event: an operation happens in "
                        "one country, give it in 'country' ('countries' is for aggregates)");
    if (n > OT_EVENT_COUNTRIES_MAX)
        return ot_reject_set(out, OPTALLY__REJECT_REASON__BAD_SCOPE,
                        "field 'countries' has %zu codes: at most %d allowed", n,
                        OT_EVENT_COUNTRIES_MAX);
    for (size_t i = 0; i < n; i++) {
        const char *cc = s_str(ev->countries[i]);
        if (!ot_country_known(cc))
            return ot_reject_set(out, OPTALLY__REJECT_REASON__BAD_SCOPE,
                            "field 'countries' code %zu '%s' is not an assigned ISO 3166-1 "
                            "alpha-2 code: use two upper-case letters, e.g. \"IQ\"",
                            i + 1, ot_utf8_snip(q, sizeof q, cc));
        for (size_t j = 0; j < i; j++)
            if (strcmp(cc, ev->countries[j]) == 0)
                return ot_reject_set(out, OPTALLY__REJECT_REASON__BAD_SCOPE,
                                "field 'countries' names '%s' twice (codes %zu and %zu): "
                                "give each country once", cc, j + 1, i + 1);
    }
    return 0;
}

/* parent_id: only on aggregates, an id, and not the event's own. */
static int
s_check_parent(const Optally__OperationEvent *ev, ot_reject *out)
{
    const char *parent = s_str(ev->parent_id);

    if (parent[0] == '\0')
        return 0;
    if (ev->granularity != OPTALLY__GRANULARITY__AGGREGATE)
        return ot_reject_set(out, OPTALLY__REJECT_REASON__BAD_PARENT,
                        "field 'parent_id' is set on an OPERATION event: only an aggregate "
                        "can be a part of a larger aggregate");
    if (strcmp(parent, ev->event_id) == 0)
        return ot_reject_set(out, OPTALLY__REJECT_REASON__BAD_PARENT,
                        "field 'parent_id' names the event itself: give the event_id of the "
                        "larger aggregate this one is a part of");
    return s_check_id("parent_id", parent, OPTALLY__REJECT_REASON__BAD_PARENT, out);
}

/* incident: only on operations, and an id. */
static int
s_check_incident(const Optally__OperationEvent *ev, ot_reject *out)
{
    const char *incident = s_str(ev->incident);

    if (incident[0] == '\0')
        return 0;
    if (ev->granularity == OPTALLY__GRANULARITY__AGGREGATE)
        return ot_reject_set(out, OPTALLY__REJECT_REASON__BAD_INCIDENT,
                        "field 'incident' is set on an AGGREGATE event: an incident groups "
                        "reports of one operation; a period total is not one");
    return s_check_id("incident", incident, OPTALLY__REJECT_REASON__BAD_INCIDENT, out);
}

/* The estimates bracket killed: 0 is "none", else low <= killed <= high. */
static int
s_check_estimates(const Optally__OperationEvent *ev, ot_reject *out)
{
    if (ev->killed_low != 0 && ev->killed_low > ev->killed)
        return ot_reject_set(out, OPTALLY__REJECT_REASON__BAD_ESTIMATE,
                        "field 'killed_low' is %u, above killed %u: the low estimate must not "
                        "exceed the reported figure (0 = none)",
                        (unsigned)ev->killed_low, (unsigned)ev->killed);
    if (ev->killed_high != 0 && ev->killed_high < ev->killed)
        return ot_reject_set(out, OPTALLY__REJECT_REASON__BAD_ESTIMATE,
                        "field 'killed_high' is %u, below killed %u: the high estimate must not "
                        "be under the reported figure (0 = none)",
                        (unsigned)ev->killed_high, (unsigned)ev->killed);
    return 0;
}

static int
s_check_counts(const Optally__OperationEvent *ev, ot_reject *out)
{
    const struct {
        const char *name;
        uint32_t v;
    } c[] = {
        {"operations", ev->operations}, {"killed", ev->killed},
        {"detained", ev->detained}, {"wounded", ev->wounded},
        {"killed_low", ev->killed_low}, {"killed_high", ev->killed_high},
    };
    bool any = false;
    int rc;

    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        if (c[i].v > OT_EVENT_COUNT_MAX)
            return ot_reject_set(out, OPTALLY__REJECT_REASON__COUNT_TOO_LARGE,
                            "field '%s' is %u, over the limit of %u per event: check the value",
                            c[i].name, (unsigned)c[i].v, OT_EVENT_COUNT_MAX);
        any = any || c[i].v > 0;
    }
    if ((rc = s_check_estimates(ev, out)) != 0)
        return rc;
    if (!any && !ev->retracted)
        return ot_reject_set(out, OPTALLY__REJECT_REASON__EMPTY_EVENT,
                        "event reports nothing: set operations or one of killed, detained, "
                        "wounded above zero (or retracted=true to withdraw an event)");
    return 0;
}

int
ot_event_validate(const Optally__OperationEvent *ev, int64_t now_ms, ot_reject *out)
{
    int rc;

    assert(ev != NULL && out != NULL);
    /* the order of invariant 1: granularity comes before the rules that
     * depend on it (span, scope, parent, incident) */
    if ((rc = s_check_missing(ev, out)) != 0 || (rc = s_check_strings(ev, out)) != 0 ||
        (rc = s_check_id("event_id", ev->event_id, OPTALLY__REJECT_REASON__BAD_EVENT_ID,
                         out)) != 0 ||
        (rc = s_check_enum(&optally__granularity__descriptor, "granularity",
                           (int)ev->granularity, out)) != 0 ||
        (rc = s_check_dates(ev, now_ms, out)) != 0 || (rc = s_check_scope(ev, out)) != 0 ||
        (rc = s_check_enum(&optally__operation_type__descriptor, "type", (int)ev->type,
                           out)) != 0 ||
        (rc = s_check_parent(ev, out)) != 0 || (rc = s_check_incident(ev, out)) != 0 ||
        (rc = s_check_counts(ev, out)) != 0)
        return rc;
    out->reason = OPTALLY__REJECT_REASON__REASON_NONE;
    out->text[0] = '\0';
    return 0;
}

/* Expected wire type of each OperationEvent field (strings are
 * length-delimited, every other field a varint); checked field by field
 * against protobuf-c's own decoder in tests/test_wire.c. */
static const unsigned char s_event_wt[OT_F_EVENT__MAX + 1] = {
    [OT_F_EVENT_ID] = OT_WIRE_LEN,
    [OT_F_EVENT_SOURCE] = OT_WIRE_LEN,
    [OT_F_EVENT_SOURCE_URL] = OT_WIRE_LEN,
    [OT_F_EVENT_OCCURRED_ON] = OT_WIRE_LEN,
    [OT_F_EVENT_OCCURRED_UNTIL] = OT_WIRE_LEN,
    [OT_F_EVENT_COUNTRY] = OT_WIRE_LEN,
    [OT_F_EVENT_ADMIN1] = OT_WIRE_LEN,
    [OT_F_EVENT_PARTNER_FORCE] = OT_WIRE_LEN,
    [OT_F_EVENT_NOTES] = OT_WIRE_LEN,
    [OT_F_EVENT_PARENT_ID] = OT_WIRE_LEN,
    [OT_F_EVENT_COUNTRIES] = OT_WIRE_LEN,
    [OT_F_EVENT_INCIDENT] = OT_WIRE_LEN,
    [OT_F_EVENT_VIA] = OT_WIRE_LEN,
};

/* An empty view: every field absent, no countries (the countries arrays
 * past ncountries are left as they are). */
static void
s_view_clear(ot_event_view *v)
{
    memset(v, 0, offsetof(ot_event_view, countries));
}

int
ot_event_view_parse(const uint8_t *buf, size_t len, ot_event_view *out)
{
    const uint8_t *p = buf, *end = buf + len;

    s_view_clear(out);
    while (p < end) {
        ot_wire_field f;
        if (ot_wire_next_field(&p, end, &f) != 0)
            return OT_EDECODE;
        if (f.num > OT_F_EVENT__MAX)
            continue;   /* unknown to this build: kept aside by protobuf-c too */
        if (f.wt != s_event_wt[f.num])
            return OT_EDECODE;
        if (f.num == OT_F_EVENT_COUNTRIES) {
            /* repeated: every occurrence counts, in order */
            if (out->ncountries == OT_EVENT_COUNTRIES_MAX)
                return OT_EDECODE;
            out->countries[out->ncountries] = (const char *)f.val;
            out->countries_len[out->ncountries++] = f.len;
        } else if (f.wt == OT_WIRE_LEN) {
            out->str[f.num] = (const char *)f.val;
            out->len[f.num] = f.len;
        } else {
            out->num[f.num] = f.u;
        }
    }
    return 0;
}

/* The countries of a decoded message into the view (see ot_event_view:
 * n may exceed what the view holds; then only the first ones are kept). */
static void
s_view_countries_of(size_t n, char *const *cs, ot_event_view *out)
{
    out->ncountries = n;
    for (size_t i = 0; i < n && i < OT_EVENT_COUNTRIES_MAX; i++) {
        out->countries[i] = cs[i];
        out->countries_len[i] = cs[i] ? strlen(cs[i]) : 0;
    }
}

void
ot_event_view_of(const Optally__OperationEvent *ev, ot_event_view *out)
{
    const ProtobufCMessageDescriptor *d = &optally__operation_event__descriptor;

    assert(ev != NULL && out != NULL);
    s_view_clear(out);
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const char *pf = (const char *)ev + f->offset;

        assert(f->id <= OT_F_EVENT__MAX);   /* ot_fields.h names every field */
        if (f->id > OT_F_EVENT__MAX)
            continue;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            /* countries is the one repeated field (a string) */
            assert(f->id == OT_F_EVENT_COUNTRIES && f->type == PROTOBUF_C_TYPE_STRING);
            s_view_countries_of(*(const size_t *)((const char *)ev + f->quantifier_offset),
                                *(char *const *const *)pf, out);
            continue;
        }
        switch (f->type) {
        case PROTOBUF_C_TYPE_STRING:
            out->str[f->id] = *(char *const *)pf;
            out->len[f->id] = out->str[f->id] ? strlen(out->str[f->id]) : 0;
            break;
        case PROTOBUF_C_TYPE_UINT32:
            out->num[f->id] = *(const uint32_t *)pf;
            break;
        case PROTOBUF_C_TYPE_ENUM:
        case PROTOBUF_C_TYPE_INT32:
            /* as on the wire: the int's 32 bits (sign-extended there; the
             * low 32 bits are all any reader keeps) */
            out->num[f->id] = (uint32_t)*(const int *)pf;
            break;
        case PROTOBUF_C_TYPE_BOOL:
            out->num[f->id] = *(const protobuf_c_boolean *)pf != 0;
            break;
        case PROTOBUF_C_TYPE_INT64:
            out->num[f->id] = (uint64_t)*(const int64_t *)pf;
            break;
        default:
            assert(!"ot_event_view_of: unhandled field type");
            break;
        }
    }
}

/* Bytes of a view string as a C string would have them: up to the first NUL. */
static size_t
s_cstr_len(const char *s, size_t n)
{
    const char *nul = n ? memchr(s, 0, n) : NULL;
    return nul ? (size_t)(nul - s) : n;
}

static bool
s_str_eq(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t na = s_cstr_len(a, alen), nb = s_cstr_len(b, blen);
    return na == nb && (na == 0 || memcmp(a, b, na) == 0);
}

static bool
s_view_str_eq(const ot_event_view *a, const ot_event_view *b, uint32_t id)
{
    return s_str_eq(a->str[id], a->len[id], b->str[id], b->len[id]);
}

/* The countries of a and b: the same codes in the same order. A view
 * holding more than it can keep (ot_event_view_of of an invalid message)
 * cannot be shown equal to anything. */
static bool
s_view_countries_eq(const ot_event_view *a, const ot_event_view *b)
{
    if (a->ncountries != b->ncountries || a->ncountries > OT_EVENT_COUNTRIES_MAX)
        return false;
    for (size_t i = 0; i < a->ncountries; i++)
        if (!s_str_eq(a->countries[i], a->countries_len[i], b->countries[i],
                      b->countries_len[i]))
            return false;
    return true;
}

bool
ot_event_view_same_content(const ot_event_view *a, const ot_event_view *b)
{
    const ProtobufCMessageDescriptor *d = &optally__operation_event__descriptor;

    assert(a != NULL && b != NULL);
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        uint32_t id = f->id;

        if (id > OT_F_EVENT__MAX) {
            /* A proto field ot_fields.h does not name: the view cannot hold
             * it, so never call the events the same (a test catches this). */
            assert(!"ot_event_view_same_content: field above OT_F_EVENT__MAX");
            return false;
        }
        if (id == OT_F_EVENT_REPORTED_AT)
            continue;   /* when it was seen, not what was seen */
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            /* countries, the one repeated field (ot_event_view_of asserts it) */
            if (id != OT_F_EVENT_COUNTRIES) {
                assert(!"ot_event_view_same_content: unhandled repeated field");
                return false;
            }
            if (!s_view_countries_eq(a, b))
                return false;
            continue;
        }
        assert(f->label == PROTOBUF_C_LABEL_NONE);
        switch (f->type) {
        case PROTOBUF_C_TYPE_STRING:
            if (!s_view_str_eq(a, b, id))
                return false;
            break;
        case PROTOBUF_C_TYPE_UINT32:
        case PROTOBUF_C_TYPE_ENUM:
        case PROTOBUF_C_TYPE_INT32:
            if ((uint32_t)a->num[id] != (uint32_t)b->num[id])
                return false;
            break;
        case PROTOBUF_C_TYPE_BOOL:
            if ((a->num[id] != 0) != (b->num[id] != 0))
                return false;
            break;
        case PROTOBUF_C_TYPE_INT64:
            if (a->num[id] != b->num[id])
                return false;
            break;
        default:
            /* A field type this file does not know yet: fail loudly in
             * tests, and never call differing events the same. */
            assert(!"ot_event_view_same_content: unhandled field type");
            return false;
        }
    }
    return true;
}

bool
ot_event_same_content(const Optally__OperationEvent *a, const Optally__OperationEvent *b)
{
    ot_event_view va, vb;

    assert(a != NULL && b != NULL);
    ot_event_view_of(a, &va);
    ot_event_view_of(b, &vb);
    return ot_event_view_same_content(&va, &vb);
}

uint32_t
ot_event_view_revision(const ot_event_view *v)
{
    return (uint32_t)v->num[OT_F_EVENT_REVISION];
}

uint32_t
ot_event_view_granularity(const ot_event_view *v)
{
    return (uint32_t)v->num[OT_F_EVENT_GRANULARITY];
}

/* The one rule of what an event adds to a tally. */
static void
s_counts(bool retracted, uint32_t operations, uint32_t killed, uint32_t detained,
         uint32_t wounded, uint32_t killed_low, uint32_t killed_high, ot_counts *out)
{
    memset(out, 0, sizeof *out);
    if (retracted)
        return;
    out->events = 1;
    out->operations = operations;
    out->killed = killed;
    out->detained = detained;
    out->wounded = wounded;
    /* 0 means "no estimate": the bound is the reported figure itself. */
    out->killed_low = killed_low ? killed_low : killed;
    out->killed_high = killed_high ? killed_high : killed;
}

void
ot_counts_of_view(const ot_event_view *v, ot_counts *out)
{
    assert(v != NULL && out != NULL);
    s_counts(v->num[OT_F_EVENT_RETRACTED] != 0, (uint32_t)v->num[OT_F_EVENT_OPERATIONS],
             (uint32_t)v->num[OT_F_EVENT_KILLED], (uint32_t)v->num[OT_F_EVENT_DETAINED],
             (uint32_t)v->num[OT_F_EVENT_WOUNDED], (uint32_t)v->num[OT_F_EVENT_KILLED_LOW],
             (uint32_t)v->num[OT_F_EVENT_KILLED_HIGH], out);
}

void
ot_counts_of(const Optally__OperationEvent *ev, ot_counts *out)
{
    assert(ev != NULL && out != NULL);
    s_counts(ev->retracted, ev->operations, ev->killed, ev->detained, ev->wounded,
             ev->killed_low, ev->killed_high, out);
}

void
ot_counts_add(ot_counts *acc, const ot_counts *c, int sign)
{
    assert(acc != NULL && c != NULL && (sign == 1 || sign == -1));
    acc->events += sign * c->events;
    acc->operations += sign * c->operations;
    acc->killed += sign * c->killed;
    acc->detained += sign * c->detained;
    acc->wounded += sign * c->wounded;
    acc->killed_low += sign * c->killed_low;
    acc->killed_high += sign * c->killed_high;
}

int
ot_counts_read(const void *data, size_t len, ot_counts *out)
{
    if (len == sizeof *out) {
        memcpy(out, data, sizeof *out);
        return 0;
    }
    if (len == OT_COUNTS_V1_BYTES) {
        memset(out, 0, sizeof *out);
        memcpy(out, data, OT_COUNTS_V1_BYTES);
        out->killed_low = out->killed_high = out->killed;
        return 0;
    }
    return OT_ECORRUPT;
}

bool
ot_counts_zero(const ot_counts *c)
{
    assert(c != NULL);
    return c->events == 0 && c->operations == 0 && c->killed == 0 && c->detained == 0 &&
           c->wounded == 0 && c->killed_low == 0 && c->killed_high == 0;
}

const char *const ot_counts_names[OT_COUNTS_N] = {
    "events", "operations", "killed", "detained", "wounded", "killed_low", "killed_high",
};

void
ot_counts_to_array(const ot_counts *c, int64_t out[OT_COUNTS_N])
{
    out[0] = c->events;
    out[1] = c->operations;
    out[2] = c->killed;
    out[3] = c->detained;
    out[4] = c->wounded;
    out[5] = c->killed_low;
    out[6] = c->killed_high;
}
