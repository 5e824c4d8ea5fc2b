/*
 * test_event: unit tests of lib/ot_event.c. One test per validation rule
 * (a valid event passes; breaking exactly one rule gives exactly its
 * reason), the rule order, calendar dates, content equality and tally
 * arithmetic. "Now" is fixed at 2024-06-15 12:00 UTC so the date rules are
 * deterministic.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ot_error.h"
#include "ot_event.h"

#define MS_PER_DAY 86400000LL

static int64_t s_now_ms;   /* 2024-06-15T12:00:00Z, set in main */

/* A valid event; strings are literals (the event is never freed). */
static void
s_valid(Optally__OperationEvent *ev)
{
    optally__operation_event__init(ev);
    ev->event_id = (char *)"centcom-2024-06-01-a";
    ev->source = (char *)"CENTCOM";
    ev->source_url = (char *)"https://www.centcom.mil/x";
    ev->occurred_on = (char *)"2024-06-01";
    ev->occurred_until = (char *)"2024-06-02";
    ev->country = (char *)"IQ";
    ev->admin1 = (char *)"Nīnawā";
    ev->partner_force = (char *)"ISF";
    ev->operations = 3;
    ev->killed = 2;
    ev->detained = 1;
    ev->type = OPTALLY__OPERATION_TYPE__PARTNERED;
    ev->reported_at = s_now_ms;
    ev->notes = (char *)"joint raid";
}

/* Validate and return the reason (REASON_NONE when valid); checks that the
 * return code and the reason agree and that the text is set exactly when
 * the event is refused. */
static Optally__RejectReason
s_reason(const Optally__OperationEvent *ev, ot_reject *r)
{
    int rc = ot_event_validate(ev, s_now_ms, r);
    if (rc == 0) {
        assert_int_equal(r->reason, OPTALLY__REJECT_REASON__REASON_NONE);
        assert_string_equal(r->text, "");
    } else {
        assert_int_equal(rc, OT_EINVAL_EVENT);
        assert_int_not_equal(r->reason, OPTALLY__REJECT_REASON__REASON_NONE);
        assert_true(strlen(r->text) > 10);
        assert_true(strlen(r->text) < sizeof r->text);
    }
    return r->reason;
}

/* Refused with reason, and the text names field. */
static void
s_expect(const Optally__OperationEvent *ev, Optally__RejectReason reason, const char *field)
{
    ot_reject r;
    assert_int_equal(s_reason(ev, &r), reason);
    if (field != NULL && strstr(r.text, field) == NULL)
        fail_msg("text \"%s\" does not name '%s'", r.text, field);
}

static void
s_expect_ok(const Optally__OperationEvent *ev)
{
    ot_reject r;
    if (s_reason(ev, &r) != OPTALLY__REJECT_REASON__REASON_NONE)
        fail_msg("refused: %s", r.text);
}

/* Set string field f of ev to v; a repeated one (countries) to the one
 * element v (held in static storage: one such event at a time). */
static void
s_set_string(Optally__OperationEvent *ev, const ProtobufCFieldDescriptor *f, const char *v)
{
    static char *one[1];
    char *slot = (char *)ev + f->offset;

    assert_int_equal(f->type, PROTOBUF_C_TYPE_STRING);
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        one[0] = (char *)v;
        *(char ***)slot = one;
        *(size_t *)((char *)ev + f->quantifier_offset) = 1;
    } else {
        *(char **)slot = (char *)v;
    }
}

static char **
s_field(Optally__OperationEvent *ev, const char *name)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(&optally__operation_event__descriptor, name);
    assert_non_null(f);
    return (char **)((char *)ev + f->offset);
}

static void
t_valid_event_passes(void **state)
{
    (void)state;
    Optally__OperationEvent ev;
    s_valid(&ev);
    s_expect_ok(&ev);
    ev.occurred_until = (char *)"";      /* a single day */
    ev.source_url = ev.admin1 = ev.partner_force = ev.notes = NULL;   /* NULL is absent */
    s_expect_ok(&ev);
}

static void
t_missing_field(void **state)
{
    (void)state;
    const char *req[] = {"event_id", "source", "occurred_on", "country"};
    for (size_t i = 0; i < 4; i++) {
        Optally__OperationEvent ev;
        s_valid(&ev);
        *s_field(&ev, req[i]) = (char *)"";
        s_expect(&ev, OPTALLY__REJECT_REASON__MISSING_FIELD, req[i]);
        *s_field(&ev, req[i]) = NULL;
        s_expect(&ev, OPTALLY__REJECT_REASON__MISSING_FIELD, req[i]);
    }
}

static void
t_bad_event_id(void **state)
{
    (void)state;
    const char *bad[] = {"a b", "a\tb", "a\nb", "x\x7f", "\x01", "caf\xc3\xa9"};
    char id[OT_EVENT_ID_MAX + 2];
    Optally__OperationEvent ev;

    s_valid(&ev);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ev.event_id = (char *)bad[i];
        s_expect(&ev, OPTALLY__REJECT_REASON__BAD_EVENT_ID, "event_id");
    }
    memset(id, '!', sizeof id);            /* '!' and '~' are the printable edges */
    id[0] = '~';
    id[OT_EVENT_ID_MAX] = '\0';
    ev.event_id = id;
    s_expect_ok(&ev);
    id[OT_EVENT_ID_MAX] = 'x';
    id[OT_EVENT_ID_MAX + 1] = '\0';
    s_expect(&ev, OPTALLY__REJECT_REASON__BAD_EVENT_ID, "event_id");
}

static void
t_bad_date(void **state)
{
    (void)state;
    const char *bad[] = {"2024-1-01", "2024-13-01", "2024-00-10", "2024-01-00", "2024-01-32",
                         "2024/01/01", "20240101", "2024-01-01x", " 2024-01-01", "2024-04-31",
                         "2023-02-29", "2024-02-30", "２024-01-01", "2024-0a-01", "-024-01-01"};
    Optally__OperationEvent ev;

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        s_valid(&ev);
        ev.occurred_on = (char *)bad[i];
        ev.occurred_until = NULL;
        s_expect(&ev, OPTALLY__REJECT_REASON__BAD_DATE, "occurred_on");
        s_valid(&ev);
        ev.occurred_until = (char *)bad[i];
        s_expect(&ev, OPTALLY__REJECT_REASON__BAD_DATE, "occurred_until");
    }
}

static void
t_leap_years(void **state)
{
    (void)state;
    int32_t d, next;
    Optally__OperationEvent ev;

    assert_int_equal(ot_date_parse("2024-02-29", &d), 0);
    assert_int_equal(ot_date_parse("2024-03-01", &next), 0);
    assert_int_equal(next - d, 1);
    assert_int_equal(ot_date_parse("2000-02-29", &d), 0);   /* divisible by 400 */
    assert_int_equal(ot_date_parse("2023-02-29", &d), EINVAL);
    assert_int_equal(ot_date_parse("2100-02-29", &d), EINVAL);   /* divisible by 100 */
    assert_int_equal(ot_date_parse("1900-02-29", &d), EINVAL);

    s_valid(&ev);
    ev.occurred_until = NULL;
    ev.occurred_on = (char *)"2024-02-29";
    s_expect_ok(&ev);
    ev.occurred_on = (char *)"2000-02-29";
    s_expect_ok(&ev);
    ev.occurred_on = (char *)"2023-02-29";
    s_expect(&ev, OPTALLY__REJECT_REASON__BAD_DATE, "occurred_on");
}

static void
t_date_parse_values(void **state)
{
    (void)state;
    int32_t d = 12345;
    assert_int_equal(ot_date_parse("1970-01-01", &d), 0);
    assert_int_equal(d, 0);
    assert_int_equal(ot_date_parse("1969-12-31", &d), 0);
    assert_int_equal(d, -1);
    assert_int_equal(ot_date_parse("1990-01-01", &d), 0);
    assert_int_equal(d, 7305);
    assert_int_equal(ot_date_parse("2024-06-15", &d), 0);
    assert_int_equal(d, 19889);
    assert_int_equal(ot_date_parse(NULL, &d), EINVAL);
    assert_int_equal(ot_date_parse("", &d), EINVAL);
    assert_int_equal(d, 19889);   /* unchanged on failure */
}

static void
t_future_date(void **state)
{
    (void)state;
    Optally__OperationEvent ev;
    ot_reject r;

    s_valid(&ev);
    ev.occurred_until = NULL;
    ev.occurred_on = (char *)"2024-06-16";   /* tomorrow: within the slack */
    s_expect_ok(&ev);
    ev.occurred_on = (char *)"2024-06-17";
    s_expect(&ev, OPTALLY__REJECT_REASON__FUTURE_DATE, "occurred_on");

    /* The slack counts whole UTC days: from the first to the last ms of
     * 2024-06-15, tomorrow is fine and the day after is not. */
    int64_t day_start = s_now_ms - 12 * 3600 * 1000LL;
    ev.occurred_on = (char *)"2024-06-16";
    assert_int_equal(ot_event_validate(&ev, day_start, &r), 0);
    ev.occurred_on = (char *)"2024-06-17";
    assert_int_equal(ot_event_validate(&ev, day_start + MS_PER_DAY - 1, &r), OT_EINVAL_EVENT);
    assert_int_equal(r.reason, OPTALLY__REJECT_REASON__FUTURE_DATE);
    assert_int_equal(ot_event_validate(&ev, day_start + MS_PER_DAY, &r), 0);

    s_valid(&ev);
    ev.occurred_until = (char *)"2024-06-20";
    s_expect(&ev, OPTALLY__REJECT_REASON__FUTURE_DATE, "occurred_until");
}

static void
t_date_too_old(void **state)
{
    (void)state;
    Optally__OperationEvent ev;

    s_valid(&ev);
    ev.occurred_until = NULL;
    ev.occurred_on = (char *)"1990-01-01";
    s_expect_ok(&ev);
    ev.occurred_on = (char *)"1989-12-31";
    s_expect(&ev, OPTALLY__REJECT_REASON__DATE_TOO_OLD, "occurred_on");
    ev.occurred_on = (char *)"0001-01-01";
    s_expect(&ev, OPTALLY__REJECT_REASON__DATE_TOO_OLD, "occurred_on");
}

static void
t_bad_date_range(void **state)
{
    (void)state;
    Optally__OperationEvent ev;

    s_valid(&ev);
    ev.occurred_on = (char *)"2024-03-01";
    ev.occurred_until = (char *)"2024-03-01";
    s_expect_ok(&ev);
    ev.occurred_until = (char *)"2024-02-29";
    s_expect(&ev, OPTALLY__REJECT_REASON__BAD_DATE_RANGE, "occurred_until");
    ev.occurred_until = (char *)"2023-12-31";
    s_expect(&ev, OPTALLY__REJECT_REASON__BAD_DATE_RANGE, "occurred_until");
}

static void
t_unknown_country(void **state)
{
    (void)state;
    const char *bad[] = {"ZZ", "XK", "iq", "Iq", "IRQ", "I", "EU", "UK", "Ирак"};
    const char *good[] = {"IQ", "SY", "US", "GB", "PS", "SS"};
    Optally__OperationEvent ev;

    s_valid(&ev);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ev.country = (char *)bad[i];
        s_expect(&ev, OPTALLY__REJECT_REASON__UNKNOWN_COUNTRY, "country");
    }
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        ev.country = (char *)good[i];
        s_expect_ok(&ev);
    }
}

static void
t_unknown_enum(void **state)
{
    (void)state;
    Optally__OperationEvent ev;
    ot_reject r;

    s_valid(&ev);
    for (int t = 0; t <= 4; t++) {   /* every defined value, incl. UNSPECIFIED */
        ev.type = (Optally__OperationType)t;
        s_expect_ok(&ev);
    }
    ev.type = (Optally__OperationType)5;
    s_expect(&ev, OPTALLY__REJECT_REASON__UNKNOWN_ENUM, "type");
    ev.type = (Optally__OperationType)-1;
    s_expect(&ev, OPTALLY__REJECT_REASON__UNKNOWN_ENUM, "type");
    ev.type = (Optally__OperationType)1000;
    assert_int_equal(s_reason(&ev, &r), OPTALLY__REJECT_REASON__UNKNOWN_ENUM);
    assert_non_null(strstr(r.text, "RAID"));   /* the text lists the accepted names */
}

static void
t_count_too_large(void **state)
{
    (void)state;
    const size_t off[] = {offsetof(Optally__OperationEvent, operations),
                          offsetof(Optally__OperationEvent, killed),
                          offsetof(Optally__OperationEvent, detained),
                          offsetof(Optally__OperationEvent, wounded)};
    const char *name[] = {"operations", "killed", "detained", "wounded"};

    for (size_t i = 0; i < 4; i++) {
        Optally__OperationEvent ev;
        uint32_t *c;
        s_valid(&ev);
        c = (uint32_t *)((char *)&ev + off[i]);
        *c = OT_EVENT_COUNT_MAX;
        s_expect_ok(&ev);
        *c = OT_EVENT_COUNT_MAX + 1;
        s_expect(&ev, OPTALLY__REJECT_REASON__COUNT_TOO_LARGE, name[i]);
        *c = UINT32_MAX;
        s_expect(&ev, OPTALLY__REJECT_REASON__COUNT_TOO_LARGE, name[i]);
    }
}

static void
t_empty_event(void **state)
{
    (void)state;
    Optally__OperationEvent ev;

    s_valid(&ev);
    ev.operations = ev.killed = ev.detained = ev.wounded = 0;
    s_expect(&ev, OPTALLY__REJECT_REASON__EMPTY_EVENT, "operations");
    ev.retracted = 1;   /* a retraction needs no counts */
    s_expect_ok(&ev);
    ev.retracted = 0;
    ev.wounded = 1;     /* any one count is enough */
    s_expect_ok(&ev);
    ev.wounded = 0;
    ev.operations = 1;
    s_expect_ok(&ev);
}

static void
t_bad_string(void **state)
{
    (void)state;
    const char *bad[] = {
        "\x80",                 /* stray continuation */
        "ab\xc3",               /* truncated at the end */
        "\xe2\x82x",            /* truncated in the middle */
        "\xc0\xaf", "\xc1\xbf", /* overlong 2-byte */
        "\xe0\x80\xaf",         /* overlong 3-byte */
        "\xf0\x80\x80\xaf",     /* overlong 4-byte */
        "\xed\xa0\x80", "\xed\xbf\xbf",   /* surrogates */
        "\xf4\x90\x80\x80",     /* U+110000 */
        "\xf5\x80\x80\x80", "\xff",
    };
    const ProtobufCMessageDescriptor *d = &optally__operation_event__descriptor;
    unsigned nstr = 0;

    /* Every string field: the ones the brief lists and any added later. */
    for (unsigned i = 0; i < d->n_fields; i++) {
        if (d->fields[i].type != PROTOBUF_C_TYPE_STRING)
            continue;
        nstr++;
        for (size_t j = 0; j < sizeof bad / sizeof bad[0]; j++) {
            Optally__OperationEvent ev;
            s_valid(&ev);
            s_set_string(&ev, &d->fields[i], bad[j]);
            s_expect(&ev, OPTALLY__REJECT_REASON__BAD_STRING, d->fields[i].name);
        }
    }
    assert_int_equal(nstr, 13);
}

/* One-line text fields take no control characters (issue 10, item 3):
 * C0, DEL and C1 in source, source_url, admin1 and partner_force (and any
 * string field added later) are BAD_CHARACTER with a text naming the
 * field and the code point; notes keeps newlines and tabs; event_id,
 * dates and country keep their own reasons. */
static void
t_control_characters_in_one_line_fields(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "X  0 0 0 0 0\nIQ              ISF      999999999",   /* a forged row */
        "\x1b[31mred", "tab\there", "cr\r", "\x01", "del\x7f",
        "c1 \xc2\x80", "c1 \xc2\x9b[2J",   /* U+0080, U+009B (CSI) */
        "ls \xe2\x80\xa8", "ps \xe2\x80\xa9",   /* U+2028, U+2029: line breaks */
        "\xe2\x80\xae" "FSI", "\xe2\x81\xa6x\xe2\x81\xa9", "\xe2\x80\x8f",   /* bidi: RLO, LRI..PDI, RLM */
    };
    static const char *const one_line[] = { "source", "source_url", "admin1", "partner_force" };
    static const char *const good[] = { "ISF", "Nīnawā", "\xc2\xa0nbsp", "\xc2\xa9 c", "a-b/c%d",
                                        "\xe2\x80\x94 dash", "قوات سوريا الديمقراطية" };
    const ProtobufCMessageDescriptor *d = &optally__operation_event__descriptor;
    Optally__OperationEvent ev;
    ot_reject r;

    for (size_t i = 0; i < sizeof one_line / sizeof one_line[0]; i++) {
        for (size_t j = 0; j < sizeof bad / sizeof bad[0]; j++) {
            s_valid(&ev);
            *s_field(&ev, one_line[i]) = (char *)bad[j];
            s_expect(&ev, OPTALLY__REJECT_REASON__BAD_CHARACTER, one_line[i]);
        }
        for (size_t j = 0; j < sizeof good / sizeof good[0]; j++) {
            s_valid(&ev);
            *s_field(&ev, one_line[i]) = (char *)good[j];
            s_expect_ok(&ev);
        }
    }
    s_valid(&ev);
    ev.partner_force = (char *)"ISF\nfake";
    assert_int_equal(s_reason(&ev, &r), OPTALLY__REJECT_REASON__BAD_CHARACTER);
    assert_non_null(strstr(r.text, "U+000A at offset 3"));
    ev.partner_force = (char *)"\xc2\x85";    /* NEL */
    assert_int_equal(s_reason(&ev, &r), OPTALLY__REJECT_REASON__BAD_CHARACTER);
    assert_non_null(strstr(r.text, "U+0085 at offset 0"));
    ev.partner_force = (char *)"ab\xe2\x80\xae";    /* RLO after two bytes */
    assert_int_equal(s_reason(&ev, &r), OPTALLY__REJECT_REASON__BAD_CHARACTER);
    assert_non_null(strstr(r.text, "U+202E at offset 2"));
    /* notes is free text */
    s_valid(&ev);
    ev.notes = (char *)"line 1\nline 2\ttab\r\n";
    s_expect_ok(&ev);
    /* stricter fields keep their own reasons */
    ev.event_id = (char *)"id\n1";
    s_expect(&ev, OPTALLY__REJECT_REASON__BAD_EVENT_ID, "event_id");
    s_valid(&ev);
    ev.country = (char *)"I\n";
    s_expect(&ev, OPTALLY__REJECT_REASON__UNKNOWN_COUNTRY, "country");
    s_valid(&ev);
    ev.occurred_on = (char *)"2024-01\n1";
    s_expect(&ev, OPTALLY__REJECT_REASON__BAD_DATE, "occurred_on");
    /* the ids and codes of reports as published, too */
    char *cc[] = { (char *)"IQ", (char *)"S\n" };
    s_valid(&ev);
    ev.granularity = OPTALLY__GRANULARITY__AGGREGATE;
    ev.parent_id = (char *)"p\x1b";
    s_expect(&ev, OPTALLY__REJECT_REASON__BAD_PARENT, "parent_id");
    ev.parent_id = NULL;
    ev.country = NULL;
    ev.countries = cc;
    ev.n_countries = 2;
    s_expect(&ev, OPTALLY__REJECT_REASON__BAD_SCOPE, "countries");
    s_valid(&ev);
    ev.incident = (char *)"inc\n";
    s_expect(&ev, OPTALLY__REJECT_REASON__BAD_INCIDENT, "incident");
    /* every string field but those eight is one-line: a field added later too */
    unsigned checked = 0;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_STRING || strcmp(f->name, "notes") == 0 ||
            strcmp(f->name, "event_id") == 0 || strcmp(f->name, "country") == 0 ||
            strncmp(f->name, "occurred_", 9) == 0 || strcmp(f->name, "countries") == 0 ||
            strcmp(f->name, "parent_id") == 0 || strcmp(f->name, "incident") == 0)
            continue;
        s_valid(&ev);
        s_set_string(&ev, f, "a\x1b");
        s_expect(&ev, OPTALLY__REJECT_REASON__BAD_CHARACTER, f->name);
        checked++;
    }
    assert_int_equal(checked, 5);   /* source, source_url, admin1, partner_force, via */
}

static void
t_valid_utf8_passes(void **state)
{
    (void)state;
    const char *good[] = {"Nīnawā", "\xf0\x9f\x98\x80", "\xf4\x8f\xbf\xbf", "\xef\xbf\xbf",
                          "\xed\x9f\xbf", "\xee\x80\x80", "\xc2\x80", "ctl\x01\x1f"};
    Optally__OperationEvent ev;

    s_valid(&ev);
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        ev.notes = (char *)good[i];
        s_expect_ok(&ev);
    }
    assert_int_equal(ot_utf8_seq_len("\xf0\x9f\x98\x80", 4), 4);
    assert_int_equal(ot_utf8_seq_len("\xf0\x9f\x98\x80", 3), 0);   /* cut by n */
    assert_int_equal(ot_utf8_seq_len("\xc3\xa9", 2), 2);
    assert_int_equal(ot_utf8_seq_len("", 1), 1);                   /* NUL */
}

static void
t_string_too_long(void **state)
{
    (void)state;
    char *big = malloc(OT_EVENT_NOTES_MAX + 2);
    const ProtobufCMessageDescriptor *d = &optally__operation_event__descriptor;

    assert_non_null(big);
    memset(big, 'a', OT_EVENT_NOTES_MAX + 1);
    big[OT_EVENT_NOTES_MAX + 1] = '\0';
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_STRING)
            continue;
        size_t max = strcmp(f->name, "notes") == 0 ? OT_EVENT_NOTES_MAX
                     : strcmp(f->name, "partner_force") == 0 ? OT_EVENT_PARTNER_FORCE_MAX
                     : OT_EVENT_STRING_MAX;
        Optally__OperationEvent ev;
        s_valid(&ev);
        const char *v = big + OT_EVENT_NOTES_MAX + 1 - (max + 1);   /* max + 1 bytes */
        s_set_string(&ev, f, v);
        s_expect(&ev, OPTALLY__REJECT_REASON__STRING_TOO_LONG, f->name);
        if (strcmp(f->name, "notes") == 0 || strcmp(f->name, "partner_force") == 0 ||
            strcmp(f->name, "admin1") == 0 || strcmp(f->name, "source") == 0 ||
            strcmp(f->name, "via") == 0) {
            s_set_string(&ev, f, v + 1);                    /* exactly max bytes */
            s_expect_ok(&ev);
        }
    }
    free(big);
}

/* An event broken in every way reports the rules in the documented order
 * as they are fixed one by one. */
static void
t_rule_order(void **state)
{
    (void)state;
    Optally__OperationEvent ev;

    optally__operation_event__init(&ev);
    ev.event_id = (char *)"has space";
    ev.source = (char *)"";
    ev.notes = (char *)"\xff";
    ev.occurred_on = (char *)"2024-13-01";
    ev.country = (char *)"ZZ";
    ev.type = (Optally__OperationType)9;
    ev.killed = 2000000;
    s_expect(&ev, OPTALLY__REJECT_REASON__MISSING_FIELD, "source");
    ev.source = (char *)"CENTCOM";
    s_expect(&ev, OPTALLY__REJECT_REASON__BAD_STRING, "notes");
    ev.notes = (char *)"";
    s_expect(&ev, OPTALLY__REJECT_REASON__BAD_EVENT_ID, "event_id");
    ev.event_id = (char *)"e1";
    s_expect(&ev, OPTALLY__REJECT_REASON__BAD_DATE, "occurred_on");
    ev.occurred_on = (char *)"2024-01-01";
    s_expect(&ev, OPTALLY__REJECT_REASON__UNKNOWN_COUNTRY, "country");
    ev.country = (char *)"SY";
    s_expect(&ev, OPTALLY__REJECT_REASON__UNKNOWN_ENUM, "type");
    ev.type = OPTALLY__OPERATION_TYPE__RAID;
    s_expect(&ev, OPTALLY__REJECT_REASON__COUNT_TOO_LARGE, "killed");
    ev.killed = 0;
    s_expect(&ev, OPTALLY__REJECT_REASON__EMPTY_EVENT, NULL);
    ev.killed = 1;
    s_expect_ok(&ev);
}

/* Reject texts travel as proto3 strings: they must stay valid UTF-8 even
 * when a long multi-byte value is quoted, and show no control bytes. */
static void
t_reject_text_is_utf8(void **state)
{
    (void)state;
    char country[301];
    Optally__OperationEvent ev;
    ot_reject r;

    for (int i = 0; i < 150; i++)
        memcpy(country + 2 * i, "\xc3\xa9", 2);   /* "é" x 150 */
    country[300] = '\0';
    s_valid(&ev);
    ev.country = country;
    assert_int_equal(s_reason(&ev, &r), OPTALLY__REJECT_REASON__UNKNOWN_COUNTRY);
    size_t n = strlen(r.text);
    for (size_t i = 0; i < n;) {
        size_t k = ot_utf8_seq_len(r.text + i, n - i);
        assert_true(k > 0);
        i += k;
    }
    ev.country = (char *)"I\nQ";
    assert_int_equal(s_reason(&ev, &r), OPTALLY__REJECT_REASON__UNKNOWN_COUNTRY);
    assert_null(strchr(r.text, '\n'));
}

/* ---- reports as published (issue 11) ---------------------------------- */

static char *s_iq_sy[] = { (char *)"IQ", (char *)"SY" };

/* A valid theatre-wide aggregate: IQ and SY over Q1 2024, 94/18/63. */
static void
s_valid_aggregate(Optally__OperationEvent *ev)
{
    s_valid(ev);
    ev->granularity = OPTALLY__GRANULARITY__AGGREGATE;
    ev->event_id = (char *)"centcom-dis-2024-q1";
    ev->occurred_on = (char *)"2024-01-01";
    ev->occurred_until = (char *)"2024-03-31";
    ev->country = NULL;
    ev->countries = s_iq_sy;
    ev->n_countries = 2;
    ev->admin1 = NULL;
    ev->partner_force = NULL;
    ev->type = OPTALLY__OPERATION_TYPE__OPERATION_TYPE_UNSPECIFIED;
    ev->operations = 94;
    ev->killed = 18;
    ev->detained = 63;
    ev->via = (char *)"Example News";
}

static void
t_valid_aggregate_passes(void **state)
{
    (void)state;
    Optally__OperationEvent ev;
    char *one[] = { (char *)"IQ" };

    s_valid_aggregate(&ev);
    s_expect_ok(&ev);
    ev.countries = one;                  /* one code in countries */
    ev.n_countries = 1;
    s_expect_ok(&ev);
    ev.countries = NULL;                 /* or country */
    ev.n_countries = 0;
    ev.country = (char *)"IQ";
    ev.parent_id = (char *)"centcom-dis-2024-q1-all";
    ev.killed_low = 10;
    ev.killed_high = 30;
    s_expect_ok(&ev);
    ev.occurred_until = ev.occurred_on;  /* a one-day span is a span */
    s_expect_ok(&ev);
}

static void
t_unknown_granularity(void **state)
{
    (void)state;
    Optally__OperationEvent ev;
    ot_reject r;

    s_valid(&ev);
    ev.granularity = OPTALLY__GRANULARITY__OPERATION;
    s_expect_ok(&ev);
    ev.granularity = (Optally__Granularity)2;
    s_expect(&ev, OPTALLY__REJECT_REASON__UNKNOWN_ENUM, "granularity");
    ev.granularity = (Optally__Granularity)-1;
    assert_int_equal(s_reason(&ev, &r), OPTALLY__REJECT_REASON__UNKNOWN_ENUM);
    assert_non_null(strstr(r.text, "AGGREGATE"));   /* the accepted names */
    assert_non_null(strstr(r.text, "Granularity"));
}

static void
t_bad_span(void **state)
{
    (void)state;
    Optally__OperationEvent ev;

    s_valid_aggregate(&ev);
    ev.occurred_until = NULL;
    s_expect(&ev, OPTALLY__REJECT_REASON__BAD_SPAN, "occurred_until");
    ev.occurred_until = (char *)"";
    s_expect(&ev, OPTALLY__REJECT_REASON__BAD_SPAN, "occurred_until");
    ev.occurred_until = (char *)"2023-12-31";
    s_expect(&ev, OPTALLY__REJECT_REASON__BAD_DATE_RANGE, "occurred_until");
    ev.occurred_until = (char *)"2024-03-32";
    s_expect(&ev, OPTALLY__REJECT_REASON__BAD_DATE, "occurred_until");
    /* an operation needs no span */
    s_valid(&ev);
    ev.occurred_until = NULL;
    s_expect_ok(&ev);
}

static void
t_bad_scope(void **state)
{
    (void)state;
    Optally__OperationEvent ev;
    ot_reject r;
    char *cs[OT_EVENT_COUNTRIES_MAX + 1];
    /* OT_EVENT_COUNTRIES_MAX + 1 distinct assigned codes */
    static const char *const codes[] = {
        "AE", "AF", "AL", "AM", "AO", "AR", "AT", "AU", "AZ", "BA", "BD", "BE", "BF", "BG",
        "BH", "BI", "BJ", "BN", "BO", "BR", "BS", "BT", "BW", "BY", "BZ", "CA", "CD", "CF",
        "CG", "CH", "CI", "CL", "CM",
    };
    _Static_assert(sizeof codes / sizeof codes[0] == OT_EVENT_COUNTRIES_MAX + 1, "codes");

    s_valid_aggregate(&ev);
    ev.country = (char *)"IQ";           /* both */
    s_expect(&ev, OPTALLY__REJECT_REASON__BAD_SCOPE, "countries");
    s_valid(&ev);                        /* countries on an operation */
    ev.country = NULL;
    ev.countries = s_iq_sy;
    ev.n_countries = 2;
    assert_int_equal(s_reason(&ev, &r), OPTALLY__REJECT_REASON__BAD_SCOPE);
    assert_non_null(strstr(r.text, "OPERATION"));
    ev.n_countries = 1;                  /* even a single one */
    s_expect(&ev, OPTALLY__REJECT_REASON__BAD_SCOPE, "countries");

    const char *bad[] = { "ZZ", "iq", "", "IRQ", "I\n" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *two[] = { (char *)"SY", (char *)bad[i] };
        s_valid_aggregate(&ev);
        ev.countries = two;
        ev.n_countries = 2;
        assert_int_equal(s_reason(&ev, &r), OPTALLY__REJECT_REASON__BAD_SCOPE);
        assert_non_null(strstr(r.text, "code 2"));
    }
    char *rep[] = { (char *)"IQ", (char *)"SY", (char *)"IQ" };
    s_valid_aggregate(&ev);
    ev.countries = rep;
    ev.n_countries = 3;
    assert_int_equal(s_reason(&ev, &r), OPTALLY__REJECT_REASON__BAD_SCOPE);
    assert_non_null(strstr(r.text, "twice"));

    for (size_t i = 0; i <= OT_EVENT_COUNTRIES_MAX; i++)
        cs[i] = (char *)codes[i];
    ev.countries = cs;
    ev.n_countries = OT_EVENT_COUNTRIES_MAX;
    s_expect_ok(&ev);
    ev.n_countries = OT_EVENT_COUNTRIES_MAX + 1;
    s_expect(&ev, OPTALLY__REJECT_REASON__BAD_SCOPE, "countries");

    /* neither: country is missing (the text points at countries too) */
    s_valid_aggregate(&ev);
    ev.n_countries = 0;
    ev.countries = NULL;
    assert_int_equal(s_reason(&ev, &r), OPTALLY__REJECT_REASON__MISSING_FIELD);
    assert_non_null(strstr(r.text, "'country'"));
    assert_non_null(strstr(r.text, "countries"));
    /* country keeps its own reason */
    s_valid_aggregate(&ev);
    ev.n_countries = 0;
    ev.country = (char *)"ZZ";
    s_expect(&ev, OPTALLY__REJECT_REASON__UNKNOWN_COUNTRY, "country");
}

static void
t_bad_parent(void **state)
{
    (void)state;
    Optally__OperationEvent ev;
    char id[OT_EVENT_ID_MAX + 2];
    ot_reject r;

    s_valid(&ev);                        /* on an operation */
    ev.parent_id = (char *)"centcom-dis-2024-q1";
    assert_int_equal(s_reason(&ev, &r), OPTALLY__REJECT_REASON__BAD_PARENT);
    assert_non_null(strstr(r.text, "OPERATION"));
    s_valid_aggregate(&ev);
    ev.parent_id = ev.event_id;          /* itself */
    assert_int_equal(s_reason(&ev, &r), OPTALLY__REJECT_REASON__BAD_PARENT);
    assert_non_null(strstr(r.text, "itself"));
    const char *bad[] = { "a b", "a\tb", "caf\xc3\xa9", "x\x7f" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ev.parent_id = (char *)bad[i];
        s_expect(&ev, OPTALLY__REJECT_REASON__BAD_PARENT, "parent_id");
    }
    memset(id, '!', sizeof id);
    id[OT_EVENT_ID_MAX] = '\0';
    ev.parent_id = id;
    s_expect_ok(&ev);
    id[OT_EVENT_ID_MAX] = '!';
    id[OT_EVENT_ID_MAX + 1] = '\0';
    s_expect(&ev, OPTALLY__REJECT_REASON__BAD_PARENT, "parent_id");
    ev.parent_id = (char *)"";           /* empty: none */
    s_expect_ok(&ev);
}

static void
t_bad_incident(void **state)
{
    (void)state;
    Optally__OperationEvent ev;
    char id[OT_EVENT_ID_MAX + 2];
    ot_reject r;

    s_valid(&ev);
    ev.incident = (char *)"raid-2024-06-01-hasakah";
    s_expect_ok(&ev);
    s_valid_aggregate(&ev);              /* on an aggregate */
    ev.incident = (char *)"raid-2024-06-01-hasakah";
    assert_int_equal(s_reason(&ev, &r), OPTALLY__REJECT_REASON__BAD_INCIDENT);
    assert_non_null(strstr(r.text, "AGGREGATE"));
    s_valid(&ev);
    const char *bad[] = { "a b", "\x01", "caf\xc3\xa9" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ev.incident = (char *)bad[i];
        s_expect(&ev, OPTALLY__REJECT_REASON__BAD_INCIDENT, "incident");
    }
    memset(id, '~', sizeof id);
    id[OT_EVENT_ID_MAX] = '\0';
    ev.incident = id;
    s_expect_ok(&ev);
    id[OT_EVENT_ID_MAX] = '~';
    id[OT_EVENT_ID_MAX + 1] = '\0';
    s_expect(&ev, OPTALLY__REJECT_REASON__BAD_INCIDENT, "incident");
}

static void
t_estimates(void **state)
{
    (void)state;
    Optally__OperationEvent ev;

    s_valid(&ev);                        /* killed = 2 */
    ev.killed_low = 1;
    ev.killed_high = 5;
    s_expect_ok(&ev);
    ev.killed_low = ev.killed_high = 2;  /* equal is fine */
    s_expect_ok(&ev);
    ev.killed_low = 3;
    s_expect(&ev, OPTALLY__REJECT_REASON__BAD_ESTIMATE, "killed_low");
    ev.killed_low = 0;                   /* 0 = none */
    ev.killed_high = 1;
    s_expect(&ev, OPTALLY__REJECT_REASON__BAD_ESTIMATE, "killed_high");
    ev.killed_high = 0;
    s_expect_ok(&ev);
    ev.killed = 0;                       /* a low estimate with no killed */
    ev.killed_low = 1;
    s_expect(&ev, OPTALLY__REJECT_REASON__BAD_ESTIMATE, "killed_low");
    ev.killed_low = 0;
    ev.killed_high = 4;                  /* "up to 4": killed 0, high 4 */
    s_expect_ok(&ev);

    /* each over the per-event limit: COUNT_TOO_LARGE before the bracket */
    s_valid(&ev);
    ev.killed = OT_EVENT_COUNT_MAX;
    ev.killed_high = OT_EVENT_COUNT_MAX;
    s_expect_ok(&ev);
    ev.killed_high = OT_EVENT_COUNT_MAX + 1;
    s_expect(&ev, OPTALLY__REJECT_REASON__COUNT_TOO_LARGE, "killed_high");
    ev.killed_high = 0;
    ev.killed_low = OT_EVENT_COUNT_MAX + 1;
    s_expect(&ev, OPTALLY__REJECT_REASON__COUNT_TOO_LARGE, "killed_low");

    /* what the estimates add: 0 stands for killed */
    ot_counts c;
    s_valid(&ev);
    ot_counts_of(&ev, &c);
    assert_true(c.killed_low == 2 && c.killed_high == 2);
    ev.killed_low = 1;
    ev.killed_high = 7;
    ot_counts_of(&ev, &c);
    assert_true(c.killed == 2 && c.killed_low == 1 && c.killed_high == 7);
}

static void
t_via(void **state)
{
    (void)state;
    Optally__OperationEvent ev;

    s_valid(&ev);
    ev.via = (char *)"The New Arab / العربي الجديد";
    s_expect_ok(&ev);
    ev.via = (char *)"Reuters\n";
    s_expect(&ev, OPTALLY__REJECT_REASON__BAD_CHARACTER, "via");
    ev.via = (char *)"\xc3";
    s_expect(&ev, OPTALLY__REJECT_REASON__BAD_STRING, "via");
}

/* The new rules in their order: granularity, span, scope, type, parent,
 * incident, counts, estimates. */
static void
t_rule_order_published(void **state)
{
    (void)state;
    Optally__OperationEvent ev;

    s_valid_aggregate(&ev);
    ev.granularity = (Optally__Granularity)7;
    ev.occurred_until = NULL;
    ev.country = (char *)"IQ";
    ev.type = (Optally__OperationType)9;
    ev.parent_id = ev.event_id;
    ev.incident = (char *)"x";
    ev.killed_high = OT_EVENT_COUNT_MAX + 1;
    ev.killed_low = 50;
    s_expect(&ev, OPTALLY__REJECT_REASON__UNKNOWN_ENUM, "granularity");
    ev.granularity = OPTALLY__GRANULARITY__AGGREGATE;
    s_expect(&ev, OPTALLY__REJECT_REASON__BAD_SPAN, "occurred_until");
    ev.occurred_until = (char *)"2024-03-31";
    s_expect(&ev, OPTALLY__REJECT_REASON__BAD_SCOPE, "countries");
    ev.country = NULL;
    s_expect(&ev, OPTALLY__REJECT_REASON__UNKNOWN_ENUM, "type");
    ev.type = OPTALLY__OPERATION_TYPE__RAID;
    s_expect(&ev, OPTALLY__REJECT_REASON__BAD_PARENT, "parent_id");
    ev.parent_id = NULL;
    s_expect(&ev, OPTALLY__REJECT_REASON__BAD_INCIDENT, "incident");
    ev.incident = NULL;
    s_expect(&ev, OPTALLY__REJECT_REASON__COUNT_TOO_LARGE, "killed_high");
    ev.killed_high = 0;
    s_expect(&ev, OPTALLY__REJECT_REASON__BAD_ESTIMATE, "killed_low");
    ev.killed_low = 0;
    s_expect_ok(&ev);
}

/* Set field f of ev to something other than what s_valid gives it. */
static void
s_mutate(Optally__OperationEvent *ev, const ProtobufCFieldDescriptor *f)
{
    char *slot = (char *)ev + f->offset;
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        s_set_string(ev, f, "changed");
        return;
    }
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: *(char **)slot = (char *)"changed"; break;
    case PROTOBUF_C_TYPE_UINT32: *(uint32_t *)slot += 1; break;
    case PROTOBUF_C_TYPE_INT64: *(int64_t *)slot += 1; break;
    case PROTOBUF_C_TYPE_BOOL: *(protobuf_c_boolean *)slot = !*(protobuf_c_boolean *)slot; break;
    case PROTOBUF_C_TYPE_ENUM: *(int *)slot += 1; break;
    default: fail_msg("field '%s' has a type the test does not know", f->name);
    }
}

static void
t_same_content(void **state)
{
    (void)state;
    const ProtobufCMessageDescriptor *d = &optally__operation_event__descriptor;
    char id_copy[] = "centcom-2024-06-01-a";
    Optally__OperationEvent a, b;

    s_valid(&a);
    s_valid(&b);
    assert_true(ot_event_same_content(&a, &b));
    b.event_id = id_copy;               /* compared by content, not pointer */
    assert_true(ot_event_same_content(&a, &b));
    b.reported_at += 12345;             /* not content */
    assert_true(ot_event_same_content(&a, &b));
    a.notes = NULL;                     /* NULL and "" are both absent */
    b.notes = (char *)"";
    assert_true(ot_event_same_content(&a, &b));
    assert_true(ot_event_same_content(&b, &a));

    /* Every other field is content, whatever fields the schema grows. */
    for (unsigned i = 0; i < d->n_fields; i++) {
        if (strcmp(d->fields[i].name, "reported_at") == 0)
            continue;
        s_valid(&a);
        s_valid(&b);
        s_mutate(&b, &d->fields[i]);
        if (ot_event_same_content(&a, &b) || ot_event_same_content(&b, &a))
            fail_msg("a change of '%s' went unseen", d->fields[i].name);
    }
}

static void
t_counts(void **state)
{
    (void)state;
    Optally__OperationEvent ev;
    ot_counts c, acc = {0, 0, 0, 0, 0, 0, 0};

    s_valid(&ev);
    ev.wounded = 4;
    ot_counts_of(&ev, &c);
    assert_int_equal(c.events, 1);
    assert_int_equal(c.operations, 3);
    assert_int_equal(c.killed, 2);
    assert_int_equal(c.detained, 1);
    assert_int_equal(c.wounded, 4);
    assert_false(ot_counts_zero(&c));

    assert_true(ot_counts_zero(&acc));
    ot_counts_add(&acc, &c, 1);
    ot_counts_add(&acc, &c, 1);
    assert_int_equal(acc.events, 2);
    assert_int_equal(acc.operations, 6);
    assert_int_equal(acc.wounded, 8);
    ot_counts_add(&acc, &c, -1);
    assert_int_equal(acc.killed, 2);
    ot_counts_add(&acc, &c, -1);
    assert_true(ot_counts_zero(&acc));
    ot_counts_add(&acc, &c, -1);        /* tallies may go below zero in between */
    assert_int_equal(acc.events, -1);
    assert_int_equal(acc.detained, -1);

    /* Each counter alone makes a non-zero set. */
    for (int i = 0; i < OT_COUNTS_N; i++) {
        ot_counts one = {0, 0, 0, 0, 0, 0, 0};
        ((int64_t *)&one)[i] = 1;
        assert_false(ot_counts_zero(&one));
    }

    ev.retracted = 1;                   /* a retraction counts nothing */
    ot_counts_of(&ev, &c);
    assert_true(ot_counts_zero(&c));
    assert_int_equal(c.events, 0);
}

int
main(void)
{
    int32_t d;
    if (ot_date_parse("2024-06-15", &d) != 0)
        return 1;
    s_now_ms = (int64_t)d * MS_PER_DAY + 12 * 3600 * 1000LL;

    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_valid_event_passes),
        cmocka_unit_test(t_missing_field),
        cmocka_unit_test(t_bad_event_id),
        cmocka_unit_test(t_bad_date),
        cmocka_unit_test(t_leap_years),
        cmocka_unit_test(t_date_parse_values),
        cmocka_unit_test(t_future_date),
        cmocka_unit_test(t_date_too_old),
        cmocka_unit_test(t_bad_date_range),
        cmocka_unit_test(t_unknown_country),
        cmocka_unit_test(t_unknown_enum),
        cmocka_unit_test(t_count_too_large),
        cmocka_unit_test(t_empty_event),
        cmocka_unit_test(t_bad_string),
        cmocka_unit_test(t_valid_utf8_passes),
        cmocka_unit_test(t_control_characters_in_one_line_fields),
        cmocka_unit_test(t_string_too_long),
        cmocka_unit_test(t_rule_order),
        cmocka_unit_test(t_reject_text_is_utf8),
        cmocka_unit_test(t_same_content),
        cmocka_unit_test(t_counts),
        cmocka_unit_test(t_valid_aggregate_passes),
        cmocka_unit_test(t_unknown_granularity),
        cmocka_unit_test(t_bad_span),
        cmocka_unit_test(t_bad_scope),
        cmocka_unit_test(t_bad_parent),
        cmocka_unit_test(t_bad_incident),
        cmocka_unit_test(t_estimates),
        cmocka_unit_test(t_via),
        cmocka_unit_test(t_rule_order_published),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
