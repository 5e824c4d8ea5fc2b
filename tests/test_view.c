/*
 * test_view: unit tests of lib/ot_view.c: the view table, the key of every
 * view, quarter and month buckets at their edges, escaping and its round
 * trip through ot_view_key_split, malformed keys and small buffers; the
 * key of an event view (same as the decoded message's), and the placement
 * of aggregates (ot_view_agg_key) in every default view; built-in views
 * through the declared-view entry points (test_viewset has the rest).
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

/* ---- keys from event views, and aggregates (issue 11) ----------------- */

/* The view of ev through its wire bytes (buf holds them, cap bytes). */
static void
s_wire_view(const Optally__OperationEvent *ev, uint8_t *buf, size_t cap, ot_event_view *out)
{
    size_t len = optally__operation_event__get_packed_size(ev);
    assert_true(len <= cap);
    optally__operation_event__pack(ev, buf);
    assert_int_equal(ot_event_view_parse(buf, len, out), 0);
}

/* ot_view_key_of_view gives ot_view_key's key, from a struct's view and
 * from wire bytes alike, for every view and a spread of values. */
static void
t_key_of_view_matches(void **state)
{
    (void)state;
    const char *dates[] = {"2024-01-01", "2024-03-31", "2024-04-01", "2023-12-31", "1990-07-15"};
    const char *pfs[] = {"ISF", "", NULL, "a/b%c", "Peshmerga / KRG"};
    const char *ccs[] = {"IQ", "SY", "US"};
    uint8_t wire[512];

    for (size_t d = 0; d < 5; d++) {
        for (size_t p = 0; p < 5; p++) {
            Optally__OperationEvent ev;
            s_event(&ev, dates[d], pfs[p]);
            ev.country = (char *)ccs[(d + p) % 3];
            ot_event_view mem, onwire;
            ot_event_view_of(&ev, &mem);
            s_wire_view(&ev, wire, sizeof wire, &onwire);
            for (size_t i = 0; i < ot_view_count(); i++) {
                char want[OT_VIEW_KEY_MAX], a[OT_VIEW_KEY_MAX], b[OT_VIEW_KEY_MAX];
                size_t lw, la, lb;
                const ot_view *v = ot_view_at(i);
                assert_int_equal(ot_view_key(v, &ev, want, sizeof want, &lw), 0);
                assert_int_equal(ot_view_key_of_view(v, &mem, a, sizeof a, &la), 0);
                assert_int_equal(ot_view_key_of_view(v, &onwire, b, sizeof b, &lb), 0);
                assert_string_equal(a, want);
                assert_string_equal(b, want);
                assert_true(la == lw && lb == lw);
            }
        }
    }
}

/* Built-in views through the declared-view entry points (issue 12): the
 * same keys as ever, whatever the fields only declared views read hold
 * (long, escaped, with a type, an incident, an occurred_until); not
 * declared, no definition, their table index as slot. */
static void
t_builtins_unchanged(void **state)
{
    (void)state;
    static char longtext[OT_EVENT_STRING_MAX + 1];
    const char *want[] = {"total", "country/IQ", "country,quarter/IQ/2024-Q1",
                          "country,month/IQ/2024-01", "country,partner_force/IQ/a%2Fb%25"};
    uint8_t wire[16384];
    Optally__OperationEvent ev;
    ot_event_view mem, onwire;

    memset(longtext, '/', sizeof longtext - 1);
    s_event(&ev, "2024-01-31", "a/b%");
    ev.admin1 = ev.source = ev.incident = longtext;
    ev.type = OPTALLY__OPERATION_TYPE__RAID;
    ev.occurred_until = (char *)"2024-04-02";
    ot_event_view_of(&ev, &mem);
    s_wire_view(&ev, wire, sizeof wire, &onwire);
    for (size_t i = 0; i < ot_view_count(); i++) {
        const ot_view *v = ot_view_at(i);
        char a[OT_VIEW_KEY_MAX], b[OT_VIEW_KEY_MAX], c[OT_VIEW_KEY_MAX];
        size_t la, lb, lc;
        assert_false(ot_view_is_declared(v));
        assert_null(ot_view_def(v));
        assert_int_equal(ot_view_slot(v), i);
        assert_int_equal(ot_view_key_ev(v, &mem, a, sizeof a, &la), 0);
        assert_int_equal(ot_view_key_ev(v, &onwire, b, sizeof b, &lb), 0);
        assert_int_equal(ot_view_key(v, &ev, c, sizeof c, &lc), 0);
        assert_string_equal(a, want[i]);
        assert_string_equal(b, want[i]);
        assert_string_equal(c, want[i]);
        assert_true(la == strlen(want[i]) && lb == la && lc == la);
    }
}

/* A view whose key fields are out of range is a corrupt record. */
static void
t_key_of_view_corrupt(void **state)
{
    (void)state;
    Optally__OperationEvent ev;
    ot_event_view v, bad;
    char buf[OT_VIEW_KEY_MAX], pf[OT_EVENT_PARTNER_FORCE_MAX + 2];
    size_t len;
    const ot_view *cq = ot_view_find("country,quarter");

    s_event(&ev, "2024-01-15", "ISF");
    ot_event_view_of(&ev, &v);
    bad = v;
    bad.len[OT_F_EVENT_OCCURRED_ON] = 9;
    assert_int_equal(ot_view_key_of_view(cq, &bad, buf, sizeof buf, &len), OT_ECORRUPT);
    /* even in a view that has no date dimension: the record is corrupt */
    assert_int_equal(ot_view_key_of_view(ot_view_find("total"), &bad, buf, sizeof buf, &len),
                     OT_ECORRUPT);
    const char *dates[] = {"2024-13-01", "2024-00-01", "2024/01/01", "202a-01-01"};
    for (size_t i = 0; i < 4; i++) {
        bad = v;
        bad.str[OT_F_EVENT_OCCURRED_ON] = dates[i];
        assert_int_equal(ot_view_key_of_view(cq, &bad, buf, sizeof buf, &len), OT_ECORRUPT);
        assert_int_equal(ot_view_agg_key(cq, &bad, buf, sizeof buf, &len), OT_ECORRUPT);
    }
    bad = v;
    bad.str[OT_F_EVENT_COUNTRY] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    bad.len[OT_F_EVENT_COUNTRY] = 26;
    assert_int_equal(ot_view_key_of_view(cq, &bad, buf, sizeof buf, &len), OT_ECORRUPT);
    memset(pf, 'p', sizeof pf);
    bad = v;
    bad.str[OT_F_EVENT_PARTNER_FORCE] = pf;
    bad.len[OT_F_EVENT_PARTNER_FORCE] = sizeof pf;
    assert_int_equal(ot_view_key_of_view(cq, &bad, buf, sizeof buf, &len), OT_ECORRUPT);
    bad.len[OT_F_EVENT_PARTNER_FORCE] = OT_EVENT_PARTNER_FORCE_MAX;   /* the limit: fine */
    assert_int_equal(ot_view_key_of_view(cq, &bad, buf, sizeof buf, &len), 0);
}

/* An aggregate as a store would see it: through its wire bytes. */
typedef struct s_agg {
    Optally__OperationEvent ev;
    char *cs[4];
    uint8_t wire[512];
    ot_event_view view;
} s_agg;

/* Aggregate over on..until (until NULL: none); cc is its `country`,
 * cs[0..ncs) its `countries`. */
static const ot_event_view *
s_agg_view(s_agg *a, const char *on, const char *until, const char *cc,
           const char *const *cs, size_t ncs, const char *pf)
{
    s_event(&a->ev, on, pf);
    a->ev.granularity = OPTALLY__GRANULARITY__AGGREGATE;
    a->ev.occurred_until = (char *)until;
    a->ev.country = (char *)cc;
    for (size_t i = 0; i < ncs; i++)
        a->cs[i] = (char *)cs[i];
    a->ev.countries = a->cs;
    a->ev.n_countries = ncs;
    s_wire_view(&a->ev, a->wire, sizeof a->wire, &a->view);
    return &a->view;
}

/* The key of aggregate view ev in view name, or "-" when unplaced; also
 * checks that the struct's view places it the same. */
static const char *
s_agg_key(const char *name, const s_agg *a, char *buf, size_t cap)
{
    const ot_view *v = ot_view_find(name);
    char other[OT_VIEW_KEY_MAX];
    size_t len = 9999, olen = 9999;
    ot_event_view mem;

    assert_non_null(v);
    ot_event_view_of(&a->ev, &mem);
    strcpy(buf, "untouched");
    int rc = ot_view_agg_key(v, &a->view, buf, cap, &len);
    int orc = ot_view_agg_key(v, &mem, other, sizeof other, &olen);
    assert_int_equal(rc, orc);
    if (rc == OT_ENOTFOUND) {
        assert_string_equal(buf, "untouched");   /* nothing written */
        assert_int_equal(len, 9999);
        return "-";
    }
    assert_int_equal(rc, 0);
    assert_int_equal(len, strlen(buf));
    assert_string_equal(buf, other);
    return buf;
}

/* Placement of each aggregate in each default view: rows of
 * total, country, country,quarter, country,month, country,partner_force. */
static void
t_agg_key_every_view(void **state)
{
    (void)state;
    static const char *const iq_sy[] = {"IQ", "SY"}, *const sy[] = {"SY"};
    static const struct {
        const char *on, *until, *cc;
        const char *const *cs;
        size_t ncs;
        const char *pf;
        const char *keys[5];
    } cases[] = {
        /* the theatre-wide total: two countries, a quarter */
        {"2024-01-01", "2024-03-31", NULL, iq_sy, 2, NULL,
         {"total", "-", "-", "-", "-"}},
        /* its Iraq part: one country, the span fills Q1, crosses months */
        {"2024-01-01", "2024-03-31", "IQ", NULL, 0, NULL,
         {"total", "country/IQ", "country,quarter/IQ/2024-Q1", "-", "country,partner_force/IQ/"}},
        /* countries with one code is one country; a month-long span */
        {"2024-01-01", "2024-01-31", NULL, sy, 1, "SDF",
         {"total", "country/SY", "country,quarter/SY/2024-Q1", "country,month/SY/2024-01",
          "country,partner_force/SY/SDF"}},
        /* across quarters: no quarter, no month */
        {"2024-03-15", "2024-04-15", "IQ", NULL, 0, "ISF",
         {"total", "country/IQ", "-", "-", "country,partner_force/IQ/ISF"}},
        /* across a year end */
        {"2023-12-01", "2024-01-31", "SY", NULL, 0, NULL,
         {"total", "country/SY", "-", "-", "country,partner_force/SY/"}},
        /* the same month of two years is two buckets */
        {"2023-01-01", "2024-01-31", "IQ", NULL, 0, NULL,
         {"total", "country/IQ", "-", "-", "country,partner_force/IQ/"}},
        /* a span inside a month of Q2, partner_force escaped as in events */
        {"2024-05-02", "2024-05-30", "IQ", NULL, 0, "a/b",
         {"total", "country/IQ", "country,quarter/IQ/2024-Q2", "country,month/IQ/2024-05",
          "country,partner_force/IQ/a%2Fb"}},
        /* no span (an operation's shape): its single day */
        {"2024-02-10", NULL, "IQ", NULL, 0, NULL,
         {"total", "country/IQ", "country,quarter/IQ/2024-Q1", "country,month/IQ/2024-02",
          "country,partner_force/IQ/"}},
        /* country and countries both (validation refuses it): not one country */
        {"2024-01-01", "2024-01-31", "IQ", sy, 1, NULL,
         {"total", "-", "-", "-", "-"}},
    };
    static const char *const views[] = {"total", "country", "country,quarter", "country,month",
                                        "country,partner_force"};
    char buf[OT_VIEW_KEY_MAX];

    assert_int_equal(ot_view_count(), 5);   /* every default view is in the table above */
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        s_agg a;
        s_agg_view(&a, cases[c].on, cases[c].until, cases[c].cc, cases[c].cs, cases[c].ncs,
                   cases[c].pf);
        for (size_t i = 0; i < 5; i++) {
            const char *got = s_agg_key(views[i], &a, buf, sizeof buf);
            if (strcmp(got, cases[c].keys[i]) != 0)
                fail_msg("case %zu, view %s: got '%s', want '%s'", c, views[i], got,
                         cases[c].keys[i]);
        }
    }
}

/* An aggregate placed in a view has the key an operation of the same
 * country, first day and partner_force has: reported and observed tallies
 * meet in one key. */
static void
t_agg_key_meets_event_key(void **state)
{
    (void)state;
    s_agg a;
    Optally__OperationEvent op;
    char ka[OT_VIEW_KEY_MAX], ke[OT_VIEW_KEY_MAX];
    size_t la, le;

    s_agg_view(&a, "2024-04-01", "2024-04-30", "SY", NULL, 0, "SDF");
    s_event(&op, "2024-04-20", "SDF");
    op.country = (char *)"SY";
    for (size_t i = 0; i < ot_view_count(); i++) {
        assert_int_equal(ot_view_agg_key(ot_view_at(i), &a.view, ka, sizeof ka, &la), 0);
        assert_int_equal(ot_view_key(ot_view_at(i), &op, ke, sizeof ke, &le), 0);
        assert_string_equal(ka, ke);
    }
}

static void
t_agg_key_errors(void **state)
{
    (void)state;
    s_agg a;
    char buf[OT_VIEW_KEY_MAX];
    size_t len, need;
    const ot_view *cm = ot_view_find("country,month");

    s_agg_view(&a, "2024-01-01", "2024-01-31", "IQ", NULL, 0, "ISF");
    assert_int_equal(ot_view_agg_key(cm, &a.view, buf, sizeof buf, &len), 0);
    need = len + 1;
    for (size_t cap = 0; cap < need; cap++)
        assert_int_equal(ot_view_agg_key(cm, &a.view, buf, cap, &len), ENOSPC);
    assert_int_equal(ot_view_agg_key(cm, &a.view, buf, need, &len), 0);
    /* unplaced wins over room: no key to make */
    s_agg_view(&a, "2024-01-01", "2024-02-01", "IQ", NULL, 0, "ISF");
    assert_int_equal(ot_view_agg_key(cm, &a.view, buf, 1, &len), OT_ENOTFOUND);
    /* a malformed occurred_until is corrupt, not unplaced */
    ot_event_view bad = a.view;
    bad.str[OT_F_EVENT_OCCURRED_UNTIL] = "2024-1-011";
    assert_int_equal(ot_view_agg_key(cm, &bad, buf, sizeof buf, &len), OT_ECORRUPT);
    bad.len[OT_F_EVENT_OCCURRED_UNTIL] = 9;
    assert_int_equal(ot_view_agg_key(cm, &bad, buf, sizeof buf, &len), OT_ECORRUPT);
    /* a single code over 15 bytes in countries */
    static const char *const longcc[] = {"ABCDEFGHIJKLMNOPQRSTUVWXYZ"};
    s_agg_view(&a, "2024-01-01", "2024-01-31", NULL, longcc, 1, NULL);
    assert_int_equal(ot_view_agg_key(cm, &a.view, buf, sizeof buf, &len), OT_ECORRUPT);
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
        cmocka_unit_test(t_key_of_view_matches),
        cmocka_unit_test(t_key_of_view_corrupt),
        cmocka_unit_test(t_agg_key_every_view),
        cmocka_unit_test(t_agg_key_meets_event_key),
        cmocka_unit_test(t_agg_key_errors),
        cmocka_unit_test(t_builtins_unchanged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
