/*
 * test_view: unit tests of lib/ot_view.c: the view table, the key of every
 * view, quarter and month buckets at their edges, escaping and its round
 * trip through ot_view_key_split, malformed keys and small buffers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ot_error.h"
#include "ot_event.h"
#include "ot_view.h"

static void
s_event(Optally__OperationEvent *ev, const char *on, const char *pf)
{
    optally__operation_event__init(ev);
    ev->event_id = (char *)"e1";
    ev->source = (char *)"CENTCOM";
    ev->occurred_on = (char *)on;
    ev->country = (char *)"IQ";
    ev->partner_force = (char *)pf;
    ev->operations = 1;
}

/* The key of ev in the view named name. */
static const char *
s_key(const char *name, const Optally__OperationEvent *ev, char *buf, size_t cap)
{
    const ot_view *v = ot_view_find(name);
    size_t len = 9999;
    assert_non_null(v);
    assert_int_equal(ot_view_key(v, ev, buf, cap, &len), 0);
    assert_int_equal(len, strlen(buf));
    return buf;
}

static void
t_table(void **state)
{
    (void)state;
    const char *names[] = {"total", "country", "country,quarter", "country,month",
                           "country,partner_force"};
    const int nfields[] = {0, 1, 2, 2, 2};

    assert_int_equal(ot_view_count(), 5);
    for (size_t i = 0; i < 5; i++) {
        const ot_view *v = ot_view_at(i);
        assert_string_equal(v->name, names[i]);
        assert_int_equal(v->nfields, nfields[i]);
        assert_ptr_equal(ot_view_find(names[i]), v);
        if (v->nfields > 0)
            assert_string_equal(v->fields[0], "country");
    }
    assert_string_equal(ot_view_find("country,quarter")->fields[1], "quarter");
    assert_string_equal(ot_view_find("country,month")->fields[1], "month");
    assert_string_equal(ot_view_find("country,partner_force")->fields[1], "partner_force");
    assert_null(ot_view_find("nope"));
    assert_null(ot_view_find("countr"));
    assert_null(ot_view_find("country,"));
    assert_null(ot_view_find(""));
    assert_null(ot_view_find(NULL));
}

static void
t_keys(void **state)
{
    (void)state;
    Optally__OperationEvent ev;
    char buf[OT_VIEW_KEY_MAX];

    s_event(&ev, "2024-01-15", "ISF");
    assert_string_equal(s_key("total", &ev, buf, sizeof buf), "total");
    assert_string_equal(s_key("country", &ev, buf, sizeof buf), "country/IQ");
    assert_string_equal(s_key("country,quarter", &ev, buf, sizeof buf), "country,quarter/IQ/2024-Q1");
    assert_string_equal(s_key("country,month", &ev, buf, sizeof buf), "country,month/IQ/2024-01");
    assert_string_equal(s_key("country,partner_force", &ev, buf, sizeof buf),
                        "country,partner_force/IQ/ISF");
    ev.partner_force = (char *)"";
    assert_string_equal(s_key("country,partner_force", &ev, buf, sizeof buf),
                        "country,partner_force/IQ/");
    ev.partner_force = NULL;
    assert_string_equal(s_key("country,partner_force", &ev, buf, sizeof buf),
                        "country,partner_force/IQ/");
}

static void
t_buckets(void **state)
{
    (void)state;
    static const struct {
        const char *on, *quarter, *month;
    } cases[] = {
        {"2024-01-01", "2024-Q1", "2024-01"}, {"2024-03-31", "2024-Q1", "2024-03"},
        {"2024-04-01", "2024-Q2", "2024-04"}, {"2024-06-30", "2024-Q2", "2024-06"},
        {"2024-07-01", "2024-Q3", "2024-07"}, {"2024-09-30", "2024-Q3", "2024-09"},
        {"2024-10-01", "2024-Q4", "2024-10"}, {"2024-12-31", "2024-Q4", "2024-12"},
        {"1990-02-28", "1990-Q1", "1990-02"}, {"2023-11-15", "2023-Q4", "2023-11"},
    };
    Optally__OperationEvent ev;
    char buf[OT_VIEW_KEY_MAX], want[64];

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        s_event(&ev, cases[i].on, "SDF");
        snprintf(want, sizeof want, "country,quarter/IQ/%s", cases[i].quarter);
        assert_string_equal(s_key("country,quarter", &ev, buf, sizeof buf), want);
        snprintf(want, sizeof want, "country,month/IQ/%s", cases[i].month);
        assert_string_equal(s_key("country,month", &ev, buf, sizeof buf), want);
    }
}

static void
t_escaping_round_trip(void **state)
{
    (void)state;
    const char *values[] = {"a/b%c", "/", "%", "%2F", "%25", "//%%", "Peshmerga / KRG",
                            "Forces démocratiques", "", "plain"};
    const char *escaped[] = {"a%2Fb%25c", "%2F", "%25", "%252F", "%2525", "%2F%2F%25%25",
                             "Peshmerga %2F KRG", "Forces démocratiques", "", "plain"};
    Optally__OperationEvent ev;
    char buf[OT_VIEW_KEY_MAX], want[128], valbuf[128];

    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        const ot_view *v = NULL;
        const char *vals[OT_VIEW_MAX_FIELDS] = {NULL};

        s_event(&ev, "2024-05-05", values[i]);
        snprintf(want, sizeof want, "country,partner_force/IQ/%s", escaped[i]);
        s_key("country,partner_force", &ev, buf, sizeof buf);
        assert_string_equal(buf, want);
        assert_int_equal(ot_view_key_split(buf, strlen(buf), &v, vals, valbuf, sizeof valbuf), 0);
        assert_ptr_equal(v, ot_view_find("country,partner_force"));
        assert_string_equal(vals[0], "IQ");
        assert_string_equal(vals[1], values[i]);
        assert_null(vals[2]);
    }
}

/* Every view's key splits back into the view and the values it was made of. */
static void
t_split_every_view(void **state)
{
    (void)state;
    Optally__OperationEvent ev;
    char buf[OT_VIEW_KEY_MAX], valbuf[64];

    s_event(&ev, "2024-08-09", "ISF");
    for (size_t i = 0; i < ot_view_count(); i++) {
        const ot_view *v = ot_view_at(i), *got = NULL;
        const char *vals[OT_VIEW_MAX_FIELDS] = {"x", "x", "x"};
        size_t len;

        assert_int_equal(ot_view_key(v, &ev, buf, sizeof buf, &len), 0);
        assert_int_equal(ot_view_key_split(buf, len, &got, vals, valbuf, sizeof valbuf), 0);
        assert_ptr_equal(got, v);
        for (int f = 0; f < v->nfields; f++) {
            const char *want = strcmp(v->fields[f], "country") == 0 ? "IQ"
                               : strcmp(v->fields[f], "quarter") == 0 ? "2024-Q3"
                               : strcmp(v->fields[f], "month") == 0 ? "2024-08" : "ISF";
            assert_string_equal(vals[f], want);
        }
        for (int f = v->nfields; f < OT_VIEW_MAX_FIELDS; f++)
            assert_null(vals[f]);
    }
}

static void
t_split_errors(void **state)
{
    (void)state;
    static const struct {
        const char *key;
        int rc;
    } cases[] = {
        {"nope/IQ", OT_ENOTFOUND}, {"", OT_ENOTFOUND}, {"Total", OT_ENOTFOUND},
        {"total/", EINVAL}, {"total/x", EINVAL},
        {"country", EINVAL}, {"country/IQ/x", EINVAL},
        {"country,quarter/IQ", EINVAL}, {"country,quarter/IQ/2024-Q1/", EINVAL},
        {"country/I%Q", EINVAL}, {"country/I%2", EINVAL}, {"country/%", EINVAL},
        {"country/%2f", EINVAL}, {"country/%41", EINVAL},
    };
    char valbuf[64];

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const ot_view *v = (const ot_view *)&v;   /* a sentinel: must stay untouched */
        const char *vals[OT_VIEW_MAX_FIELDS] = {"keep", "keep", "keep"};
        int rc = ot_view_key_split(cases[i].key, strlen(cases[i].key), &v, vals, valbuf,
                                   sizeof valbuf);
        if (rc != cases[i].rc)
            fail_msg("'%s': got %d, want %d", cases[i].key, rc, cases[i].rc);
        assert_ptr_equal(v, (const ot_view *)&v);
        assert_string_equal(vals[0], "keep");
    }

    /* An embedded NUL never passes, in the view name or in a value. */
    const ot_view *v;
    const char *vals[OT_VIEW_MAX_FIELDS];
    assert_int_equal(ot_view_key_split("total\0", 6, &v, vals, valbuf, sizeof valbuf), EINVAL);
    assert_int_equal(ot_view_key_split("country/I\0", 10, &v, vals, valbuf, sizeof valbuf),
                     EINVAL);
}

/* len bounds the key: it need not be NUL-terminated. */
static void
t_split_uses_len(void **state)
{
    (void)state;
    const char key[] = "country/IQ/trailing";
    const ot_view *v = NULL;
    const char *vals[OT_VIEW_MAX_FIELDS];
    char valbuf[16];

    assert_int_equal(ot_view_key_split(key, 10, &v, vals, valbuf, sizeof valbuf), 0);
    assert_ptr_equal(v, ot_view_find("country"));
    assert_string_equal(vals[0], "IQ");
    assert_int_equal(ot_view_key_split(key, 5, &v, vals, valbuf, sizeof valbuf), OT_ENOTFOUND);
}

static void
t_enospc(void **state)
{
    (void)state;
    Optally__OperationEvent ev;
    char buf[OT_VIEW_KEY_MAX], valbuf[8];
    const ot_view *v;
    const char *vals[OT_VIEW_MAX_FIELDS];
    size_t len, need;

    s_event(&ev, "2024-01-15", "a/b");
    /* Every view, every cap: too small gives ENOSPC, exactly enough works. */
    for (size_t i = 0; i < ot_view_count(); i++) {
        assert_int_equal(ot_view_key(ot_view_at(i), &ev, buf, sizeof buf, &len), 0);
        need = len + 1;
        for (size_t cap = 0; cap < need; cap++)
            assert_int_equal(ot_view_key(ot_view_at(i), &ev, buf, cap, &len), ENOSPC);
        assert_int_equal(ot_view_key(ot_view_at(i), &ev, buf, need, &len), 0);
        assert_int_equal(len, need - 1);
    }
    /* valbuf holds "IQ\0" and "2024-Q1\0": 3 + 8 bytes. */
    const char *key = "country,quarter/IQ/2024-Q1";
    assert_int_equal(ot_view_key_split(key, strlen(key), &v, vals, valbuf, sizeof valbuf), ENOSPC);
    assert_int_equal(ot_view_key_split(key, strlen(key), &v, vals, valbuf, 0), ENOSPC);
    char fit[11];
    assert_int_equal(ot_view_key_split(key, strlen(key), &v, vals, fit, sizeof fit), 0);
    assert_string_equal(vals[1], "2024-Q1");
}

/* The longest partner_force a valid event may carry, every byte escaped,
 * still gives a key within OT_VIEW_KEY_MAX. */
static void
t_longest_key_fits(void **state)
{
    (void)state;
    char pf[OT_EVENT_PARTNER_FORCE_MAX + 1], buf[OT_VIEW_KEY_MAX];
    Optally__OperationEvent ev;
    ot_reject r;
    size_t len;

    memset(pf, '/', OT_EVENT_PARTNER_FORCE_MAX);
    pf[OT_EVENT_PARTNER_FORCE_MAX] = '\0';
    s_event(&ev, "2020-01-01", pf);
    assert_int_equal(ot_event_validate(&ev, 1718000000000LL, &r), 0);
    for (size_t i = 0; i < ot_view_count(); i++)
        assert_int_equal(ot_view_key(ot_view_at(i), &ev, buf, sizeof buf, &len), 0);
    assert_int_equal(len, strlen("country,partner_force/IQ/") + 3 * OT_EVENT_PARTNER_FORCE_MAX);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_table),
        cmocka_unit_test(t_keys),
        cmocka_unit_test(t_buckets),
        cmocka_unit_test(t_escaping_round_trip),
        cmocka_unit_test(t_split_every_view),
        cmocka_unit_test(t_split_errors),
        cmocka_unit_test(t_split_uses_len),
        cmocka_unit_test(t_enospc),
        cmocka_unit_test(t_longest_key_fits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
