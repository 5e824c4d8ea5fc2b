/*
 * test_figure: unit tests of lib/ot_figure.c: every validation rule of a
 * point-in-time figure, each on its accepting and its refusing side (the
 * reason code and a text naming the field), the order of the rules,
 * content equality (every field but reported_at, scope in order) and the
 * qualifier names, and the FigureUpdate packer of lib/ot_update.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ot_error.h"
#include "ot_figure.h"
#include "ot_update.h"

/* 2024-06-01T00:00:00Z */
#define S_NOW_MS 1717200000000LL

/* A valid figure (the seed's "approximately 2,500 fighters at large") with
 * its own storage, so a test may change any field. */
typedef struct s_fig {
    Optally__Figure f;
    char *scope[40];
    char codes[40][4];
} s_fig;

static void
s_fig_init(s_fig *x)
{
    optally__figure__init(&x->f);
    x->f.figure_id = "centcom-2024q1-fighters";
    x->f.source = "CENTCOM";
    x->f.via = "Kurdistan24";
    x->f.source_url = "https://www.centcom.mil/MEDIA/PRESS-RELEASES/";
    x->f.metric = "fighters_at_large";
    x->f.as_of = "2024-03-31";
    x->f.value = 2500;
    x->f.qualifier = OPTALLY__QUALIFIER__APPROX;
    x->f.unit = "fighters";
    x->f.notes = "approximately 2,500\nin Iraq and Syria";
    x->f.reported_at = 1711900000000LL;
    strcpy(x->codes[0], "IQ");
    strcpy(x->codes[1], "SY");
    x->scope[0] = x->codes[0];
    x->scope[1] = x->codes[1];
    x->f.scope = x->scope;
    x->f.n_scope = 2;
}

/* f is valid. */
static void
s_ok(const s_fig *x)
{
    ot_reject r;
    int rc = ot_figure_validate(&x->f, S_NOW_MS, &r);
    if (rc != 0)
        fail_msg("refused (reason %d): %s", r.reason, r.text);
    assert_int_equal(r.reason, OPTALLY__REJECT_REASON__REASON_NONE);
    assert_string_equal(r.text, "");
}

/* f is refused with reason, and the text holds word. */
static void
s_bad(const s_fig *x, Optally__RejectReason reason, const char *word)
{
    ot_reject r;
    int rc = ot_figure_validate(&x->f, S_NOW_MS, &r);
    if (rc != OT_EINVAL_EVENT)
        fail_msg("accepted, want reason %d ('%s')", reason, word);
    if (r.reason != reason)
        fail_msg("reason %d, want %d: %s", r.reason, reason, r.text);
    if (word != NULL && strstr(r.text, word) == NULL)
        fail_msg("text \"%s\" does not mention '%s'", r.text, word);
}

static void
t_valid(void **state)
{
    (void)state;
    s_fig x;
    s_fig_init(&x);
    s_ok(&x);
    /* the optional fields may all be absent (NULL or "") */
    x.f.via = NULL;
    x.f.source_url = "";
    x.f.unit = NULL;
    x.f.notes = NULL;
    x.f.value = 0;
    x.f.qualifier = OPTALLY__QUALIFIER__EXACT;
    s_ok(&x);
}

static void
t_missing(void **state)
{
    (void)state;
    s_fig x;

    s_fig_init(&x);
    x.f.figure_id = "";
    s_bad(&x, OPTALLY__REJECT_REASON__MISSING_FIELD, "'figure_id'");
    x.f.figure_id = NULL;
    s_bad(&x, OPTALLY__REJECT_REASON__MISSING_FIELD, "'figure_id'");

    s_fig_init(&x);
    x.f.source = NULL;
    s_bad(&x, OPTALLY__REJECT_REASON__MISSING_FIELD, "'source'");

    s_fig_init(&x);
    x.f.metric = "";
    s_bad(&x, OPTALLY__REJECT_REASON__BAD_METRIC, "required");

    s_fig_init(&x);
    x.f.n_scope = 0;
    s_bad(&x, OPTALLY__REJECT_REASON__BAD_SCOPE, "'scope'");

    s_fig_init(&x);
    x.f.as_of = NULL;
    s_bad(&x, OPTALLY__REJECT_REASON__MISSING_FIELD, "'as_of'");

    /* the first rule broken is reported: figure_id before source */
    s_fig_init(&x);
    x.f.figure_id = "";
    x.f.source = "";
    s_bad(&x, OPTALLY__REJECT_REASON__MISSING_FIELD, "'figure_id'");
}

static void
t_figure_id(void **state)
{
    (void)state;
    s_fig x;
    char id[OT_EVENT_ID_MAX + 2];

    s_fig_init(&x);
    memset(id, 'a', sizeof id - 1);
    id[OT_EVENT_ID_MAX] = '\0';             /* exactly at the limit */
    x.f.figure_id = id;
    s_ok(&x);
    id[OT_EVENT_ID_MAX] = 'a';
    id[OT_EVENT_ID_MAX + 1] = '\0';         /* one over */
    s_bad(&x, OPTALLY__REJECT_REASON__BAD_EVENT_ID, "'figure_id'");
    x.f.figure_id = "two words";
    s_bad(&x, OPTALLY__REJECT_REASON__BAD_EVENT_ID, "'figure_id'");
    x.f.figure_id = "caf\xc3\xa9";          /* UTF-8, but not printable ASCII */
    s_bad(&x, OPTALLY__REJECT_REASON__BAD_EVENT_ID, "0xc3");
    x.f.figure_id = "a~b!c";
    s_ok(&x);
}

static void
t_strings(void **state)
{
    (void)state;
    s_fig x;
    static char big[OT_EVENT_NOTES_MAX + 2];

    s_fig_init(&x);
    memset(big, 'x', sizeof big - 1);
    big[OT_EVENT_STRING_MAX] = '\0';
    x.f.unit = big;                          /* 4096 bytes: allowed */
    s_ok(&x);
    big[OT_EVENT_STRING_MAX] = 'x';
    big[OT_EVENT_STRING_MAX + 1] = '\0';
    s_bad(&x, OPTALLY__REJECT_REASON__STRING_TOO_LONG, "'unit'");

    s_fig_init(&x);
    memset(big, 'x', sizeof big - 1);
    big[OT_EVENT_NOTES_MAX] = '\0';
    x.f.notes = big;                         /* notes take 16 KiB */
    s_ok(&x);
    big[OT_EVENT_NOTES_MAX] = 'x';
    big[OT_EVENT_NOTES_MAX + 1] = '\0';
    s_bad(&x, OPTALLY__REJECT_REASON__STRING_TOO_LONG, "'notes'");

    s_fig_init(&x);
    x.f.via = "Kurdistan\xff";
    s_bad(&x, OPTALLY__REJECT_REASON__BAD_STRING, "'via'");
    x.f.via = "Rudaw \xd8\xb1\xd9\x88\xd8\xaf\xd8\xa7\xd9\x88";   /* Arabic script: fine */
    s_ok(&x);

    /* control characters: refused in every one-line field, not in notes */
    const char *fields[] = {"source", "via", "source_url", "unit"};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        s_fig_init(&x);
        char **slot = !strcmp(fields[i], "source") ? &x.f.source
                    : !strcmp(fields[i], "via") ? &x.f.via
                    : !strcmp(fields[i], "source_url") ? &x.f.source_url : &x.f.unit;
        *slot = "line\nbreak";
        s_bad(&x, OPTALLY__REJECT_REASON__BAD_CHARACTER, fields[i]);
        *slot = "csi \xc2\x9b";
        s_bad(&x, OPTALLY__REJECT_REASON__BAD_CHARACTER, "U+009B");
        *slot = "bidi \xe2\x80\xae";
        s_bad(&x, OPTALLY__REJECT_REASON__BAD_CHARACTER, "U+202E");
    }
    s_fig_init(&x);
    x.f.metric = "a\tb";
    s_bad(&x, OPTALLY__REJECT_REASON__BAD_CHARACTER, "'metric'");
    s_fig_init(&x);
    x.f.notes = "tab\there\nand a line";
    s_ok(&x);
}

static void
t_as_of(void **state)
{
    (void)state;
    s_fig x;

    s_fig_init(&x);
    x.f.as_of = "2024-02-30";
    s_bad(&x, OPTALLY__REJECT_REASON__BAD_DATE, "'as_of'");
    x.f.as_of = "31/03/2024";
    s_bad(&x, OPTALLY__REJECT_REASON__BAD_DATE, "'as_of'");
    x.f.as_of = "2024-02-29";                /* a leap day */
    s_ok(&x);
    x.f.as_of = "2024-06-02";                /* tomorrow (UTC): the day of slack */
    s_ok(&x);
    x.f.as_of = "2024-06-03";
    s_bad(&x, OPTALLY__REJECT_REASON__FUTURE_DATE, "'as_of'");
    x.f.as_of = "1990-01-01";
    s_ok(&x);
    x.f.as_of = "1989-12-31";
    s_bad(&x, OPTALLY__REJECT_REASON__DATE_TOO_OLD, "'as_of'");
}

static void
t_metric(void **state)
{
    (void)state;
    s_fig x;
    char m[OT_FIGURE_METRIC_MAX + 2];

    s_fig_init(&x);
    const char *good[] = {"a", "camp_residents", "detainees_held", "x9", "a_b_", "z__1"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        x.f.metric = (char *)good[i];
        s_ok(&x);
    }
    const char *bad[] = {"Fighters", "fighters-at-large", "_lead", "9lives", "at large",
                         "caf\xc3\xa9", "a.b"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        x.f.metric = (char *)bad[i];
        s_bad(&x, OPTALLY__REJECT_REASON__BAD_METRIC, "lower_snake_case");
    }
    memset(m, 'a', sizeof m - 1);
    m[OT_FIGURE_METRIC_MAX] = '\0';
    x.f.metric = m;
    s_ok(&x);
    m[OT_FIGURE_METRIC_MAX] = 'a';
    m[OT_FIGURE_METRIC_MAX + 1] = '\0';
    s_bad(&x, OPTALLY__REJECT_REASON__BAD_METRIC, "'metric'");
}

static void
t_scope(void **state)
{
    (void)state;
    s_fig x;
    static const char *ccs[] = {
        "AD", "AE", "AF", "AG", "AL", "AM", "AO", "AR", "AT", "AU", "AZ", "BA", "BB", "BD",
        "BE", "BF", "BG", "BH", "BI", "BJ", "BN", "BO", "BR", "BS", "BT", "BW", "BY", "BZ",
        "CA", "CD", "CF", "CG", "CH",
    };

    s_fig_init(&x);
    x.f.n_scope = 1;                           /* one code */
    s_ok(&x);
    strcpy(x.codes[1], "ZZ");                  /* user-assigned: not a country */
    x.f.n_scope = 2;
    s_bad(&x, OPTALLY__REJECT_REASON__BAD_SCOPE, "'scope[1]'");
    strcpy(x.codes[1], "iq");
    s_bad(&x, OPTALLY__REJECT_REASON__BAD_SCOPE, "ISO 3166-1");
    strcpy(x.codes[1], "");
    s_bad(&x, OPTALLY__REJECT_REASON__BAD_SCOPE, "'scope[1]'");
    strcpy(x.codes[1], "IQ");                  /* a repeat */
    s_bad(&x, OPTALLY__REJECT_REASON__BAD_SCOPE, "twice");
    x.scope[1] = NULL;                         /* NULL reads as "" */
    s_bad(&x, OPTALLY__REJECT_REASON__BAD_SCOPE, "'scope[1]'");
    /* a control character in a code is a scope error, not BAD_CHARACTER */
    s_fig_init(&x);
    strcpy(x.codes[1], "S\n");
    s_bad(&x, OPTALLY__REJECT_REASON__BAD_SCOPE, "'scope[1]'");

    /* 32 codes at most */
    s_fig_init(&x);
    for (size_t i = 0; i < 33; i++) {
        strcpy(x.codes[i], ccs[i]);
        x.scope[i] = x.codes[i];
    }
    x.f.n_scope = OT_FIGURE_SCOPE_MAX;
    s_ok(&x);
    x.f.n_scope = OT_FIGURE_SCOPE_MAX + 1;
    s_bad(&x, OPTALLY__REJECT_REASON__BAD_SCOPE, "at most 32");
}

static void
t_qualifier(void **state)
{
    (void)state;
    s_fig x;

    s_fig_init(&x);
    for (int q = 0; q <= 3; q++) {
        x.f.qualifier = (Optally__Qualifier)q;
        s_ok(&x);
    }
    x.f.qualifier = (Optally__Qualifier)4;
    s_bad(&x, OPTALLY__REJECT_REASON__UNKNOWN_ENUM, "'qualifier'");
    x.f.qualifier = (Optally__Qualifier)-1;
    s_bad(&x, OPTALLY__REJECT_REASON__UNKNOWN_ENUM, "AT_MOST");

    assert_string_equal(ot_figure_qualifier_name(0), "EXACT");
    assert_string_equal(ot_figure_qualifier_name(1), "APPROX");
    assert_string_equal(ot_figure_qualifier_name(2), "AT_LEAST");
    assert_string_equal(ot_figure_qualifier_name(3), "AT_MOST");
    assert_null(ot_figure_qualifier_name(4));
    assert_null(ot_figure_qualifier_name(-1));
    /* the names are the enum's own */
    for (int q = 0; q <= 3; q++) {
        const ProtobufCEnumValue *v =
            protobuf_c_enum_descriptor_get_value(&optally__qualifier__descriptor, q);
        assert_non_null(v);
        assert_string_equal(v->name, ot_figure_qualifier_name(q));
    }
}

static void
t_numbers(void **state)
{
    (void)state;
    s_fig x;

    s_fig_init(&x);
    x.f.value = OT_FIGURE_VALUE_MAX;
    s_ok(&x);
    x.f.value = OT_FIGURE_VALUE_MAX + 1;
    s_bad(&x, OPTALLY__REJECT_REASON__COUNT_TOO_LARGE, "'value'");
    x.f.value = 10;
    x.f.high = OT_FIGURE_VALUE_MAX + 1;
    s_bad(&x, OPTALLY__REJECT_REASON__COUNT_TOO_LARGE, "'high'");
    x.f.high = 0;
    x.f.low = UINT64_MAX;
    s_bad(&x, OPTALLY__REJECT_REASON__COUNT_TOO_LARGE, "'low'");
}

static void
t_estimates(void **state)
{
    (void)state;
    s_fig x;

    s_fig_init(&x);                 /* value 2500 */
    x.f.low = 2000;
    x.f.high = 3000;
    s_ok(&x);
    x.f.low = 2500;                 /* bounds may equal the value */
    x.f.high = 2500;
    s_ok(&x);
    x.f.low = 2501;
    s_bad(&x, OPTALLY__REJECT_REASON__BAD_ESTIMATE, "'low'");
    x.f.low = 0;                    /* 0 = no bound */
    x.f.high = 2499;
    s_bad(&x, OPTALLY__REJECT_REASON__BAD_ESTIMATE, "'high'");
    x.f.high = 0;
    s_ok(&x);
    x.f.value = 0;                  /* a zero value with a high bound: "up to 10" */
    x.f.high = 10;
    s_ok(&x);
    x.f.low = 1;
    s_bad(&x, OPTALLY__REJECT_REASON__BAD_ESTIMATE, "'low'");
}

static void
t_same_content(void **state)
{
    (void)state;
    s_fig a, b;

    s_fig_init(&a);
    s_fig_init(&b);
    assert_true(ot_figure_same_content(&a.f, &b.f));
    b.f.reported_at += 86400000;        /* seen again later: same content */
    assert_true(ot_figure_same_content(&a.f, &b.f));
    b.f.via = NULL;                     /* NULL and "" are both absent */
    a.f.via = "";
    assert_true(ot_figure_same_content(&a.f, &b.f));

    /* every other field makes a difference */
#define S_DIFFERS(stmt)                                              \
    do {                                                             \
        s_fig_init(&b);                                              \
        b.f.via = NULL;                                              \
        stmt;                                                        \
        assert_false(ot_figure_same_content(&a.f, &b.f));            \
        assert_false(ot_figure_same_content(&b.f, &a.f));            \
    } while (0)
    s_fig_init(&a);
    a.f.via = NULL;
    S_DIFFERS(b.f.figure_id = "other");
    S_DIFFERS(b.f.revision = 1);
    S_DIFFERS(b.f.retracted = true);
    S_DIFFERS(b.f.source = "SDF");
    S_DIFFERS(b.f.via = "Rudaw");
    S_DIFFERS(b.f.source_url = "https://example.org/");
    S_DIFFERS(b.f.metric = "detainees_held");
    S_DIFFERS(b.f.as_of = "2024-04-01");
    S_DIFFERS(b.f.value = 2501);
    S_DIFFERS(b.f.qualifier = OPTALLY__QUALIFIER__AT_LEAST);
    S_DIFFERS(b.f.low = 1);
    S_DIFFERS(b.f.high = 3000);
    S_DIFFERS(b.f.unit = "people");
    S_DIFFERS(b.f.notes = NULL);
    S_DIFFERS(b.f.n_scope = 1);                                  /* fewer codes */
    S_DIFFERS(strcpy(b.codes[1], "TR"));                         /* another code */
    S_DIFFERS((b.scope[0] = b.codes[1], b.scope[1] = b.codes[0])); /* another order */
#undef S_DIFFERS

    /* every field of the descriptor is exercised above: a field added to
     * Figure must get a line here too */
    assert_int_equal(optally__figure__descriptor.n_fields, 16);
}

/* The FigureUpdate packer: the message reads back with every field, and
 * the topic is "~figure/" + metric. */
static void
t_update(void **state)
{
    (void)state;
    s_fig x;
    uint8_t *buf = (uint8_t *)&buf;
    size_t len = 0, tlen = 0;
    char topic[OT_UPDATE_FIGURE_TOPIC_MAX];
    char small[10];

    s_fig_init(&x);
    x.f.revision = 2;
    assert_int_equal(ot_update_figure_pack(&x.f, 77, 5, 1718000000123LL, &buf, &len), 0);
    assert_non_null(buf);
    Optally__FigureUpdate *u = optally__figure_update__unpack(NULL, len, buf);
    assert_non_null(u);
    assert_int_equal(u->log_seq, 77);
    assert_int_equal(u->figure_seq, 5);
    assert_int_equal(u->committed_at, 1718000000123LL);
    assert_non_null(u->figure);
    assert_true(ot_figure_same_content(u->figure, &x.f));
    assert_int_equal(u->figure->reported_at, x.f.reported_at);
    optally__figure_update__free_unpacked(u, NULL);
    free(buf);

    assert_int_equal(ot_update_figure_topic(&x.f, topic, sizeof topic, &tlen), 0);
    assert_string_equal(topic, "~figure/fighters_at_large");
    assert_int_equal(tlen, strlen(topic));
    /* the longest valid metric fits OT_UPDATE_FIGURE_TOPIC_MAX */
    char m[OT_FIGURE_METRIC_MAX + 1];
    memset(m, 'm', OT_FIGURE_METRIC_MAX);
    m[OT_FIGURE_METRIC_MAX] = '\0';
    x.f.metric = m;
    s_ok(&x);
    assert_int_equal(ot_update_figure_topic(&x.f, topic, sizeof topic, &tlen), 0);
    assert_int_equal(tlen, sizeof topic - 1);
    memcpy(small, "untouched", 10);
    assert_int_equal(ot_update_figure_topic(&x.f, small, sizeof small, &tlen), ENOSPC);
    assert_string_equal(small, "untouched");
    /* the topic is no tally key and not the heartbeat */
    assert_true(strncmp(OT_UPDATE_HEARTBEAT_TOPIC, OT_UPDATE_FIGURE_TOPIC,
                        strlen(OT_UPDATE_FIGURE_TOPIC)) != 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_valid),
        cmocka_unit_test(t_missing),
        cmocka_unit_test(t_figure_id),
        cmocka_unit_test(t_strings),
        cmocka_unit_test(t_as_of),
        cmocka_unit_test(t_metric),
        cmocka_unit_test(t_scope),
        cmocka_unit_test(t_qualifier),
        cmocka_unit_test(t_numbers),
        cmocka_unit_test(t_estimates),
        cmocka_unit_test(t_same_content),
        cmocka_unit_test(t_update),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
