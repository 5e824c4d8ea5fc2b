/*
 * test_viewset: unit tests of the declared views of lib/ot_view.c: the
 * viewset (built-ins at 0..4, add, drop and slot reuse, the 64-view limit,
 * copy, pack/unpack and corrupt definitions), every check_def error, the
 * value of every dimension (ISO weeks against the C library's %G-W%V over
 * forty years), every filter form on operations, aggregates with spans and
 * filters, long values shortened (deterministic, distinct, within LMDB's
 * key limit) and splitting declared keys.
 */
#define _XOPEN_SOURCE 700   /* strptime */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ot_error.h"
#include "ot_event.h"
#include "ot_view.h"

/* A ViewDef from a name, a comma-separated group-by list and up to 8
 * filters (NULL-terminated); strings borrowed from static storage. */
typedef struct t_def {
    Optally__ViewDef d;
    char *group[OT_VIEW_MAX_FIELDS + 2];
    char gbuf[256];
    char *where[OT_VIEW_MAX_FILTERS + 2];
} t_def;

static Optally__ViewDef *
s_def(t_def *t, const char *name, const char *group, const char *const *where)
{
    optally__view_def__init(&t->d);
    t->d.name = (char *)name;
    snprintf(t->gbuf, sizeof t->gbuf, "%s", group);
    t->d.group_by = t->group;
    for (char *p = t->gbuf; *p && t->d.n_group_by < OT_VIEW_MAX_FIELDS + 2;) {
        t->group[t->d.n_group_by++] = p;
        char *c = strchr(p, ',');
        if (!c)
            break;
        *c = '\0';
        p = c + 1;
    }
    t->d.where = t->where;
    for (size_t i = 0; where && where[i] && i < OT_VIEW_MAX_FILTERS + 2; i++)
        t->where[t->d.n_where++] = (char *)where[i];
    return &t->d;
}

/* Add a view to vs, asserting success; returns its slot. */
static size_t
s_add(ot_viewset *vs, const char *name, const char *group, const char *const *where)
{
    t_def t;
    char err[256] = "";
    size_t slot = 999;
    int rc = ot_viewset_add(vs, s_def(&t, name, group, where), &slot, err, sizeof err);
    if (rc != 0)
        fail_msg("add %s: %d %s", name, rc, err);
    return slot;
}

/* An operation with every field a dimension reads. */
static void
s_event(Optally__OperationEvent *ev, const char *on)
{
    optally__operation_event__init(ev);
    ev->event_id = (char *)"e1";
    ev->source = (char *)"CENTCOM";
    ev->occurred_on = (char *)on;
    ev->country = (char *)"SY";
    ev->admin1 = (char *)"Deir ez-Zor";
    ev->partner_force = (char *)"SDF";
    ev->type = OPTALLY__OPERATION_TYPE__PARTNERED;
    ev->incident = (char *)"inc-7";
    ev->operations = 1;
    ev->killed = 2;
}

/* The key of ev in v (through the event view, as the store does), or
 * NULL when v leaves it out; also checks ot_view_key on the message
 * agrees. */
static const char *
s_key(const ot_view *v, const Optally__OperationEvent *ev, char *buf)
{
    ot_event_view view;
    char other[OT_VIEW_KEY_MAX];
    size_t len = 9999, olen = 9999;

    ot_event_view_of(ev, &view);
    int rc = ot_view_key_ev(v, &view, buf, OT_VIEW_KEY_MAX, &len);
    int orc = ot_view_key(v, ev, other, sizeof other, &olen);
    assert_int_equal(rc, orc);
    if (rc == OT_ENOTFOUND)
        return NULL;
    assert_int_equal(rc, 0);
    assert_int_equal(len, strlen(buf));
    assert_string_equal(buf, other);
    /* ot_view_key_of_view is the same function */
    assert_int_equal(ot_view_key_of_view(v, &view, other, sizeof other, &olen), 0);
    assert_string_equal(buf, other);
    return buf;
}

/* The key of the aggregate ev in v, or NULL when unplaced. */
static const char *
s_agg_key(const ot_view *v, const Optally__OperationEvent *ev, char *buf)
{
    ot_event_view view;
    size_t len = 9999;

    ot_event_view_of(ev, &view);
    int rc = ot_view_agg_key(v, &view, buf, OT_VIEW_KEY_MAX, &len);
    if (rc == OT_ENOTFOUND)
        return NULL;
    assert_int_equal(rc, 0);
    assert_int_equal(len, strlen(buf));
    return buf;
}

/* ---- the set ------------------------------------------------------------ */

static void
t_builtins(void **state)
{
    (void)state;
    ot_viewset *vs = NULL;
    size_t slot = 99;

    assert_int_equal(ot_viewset_new(&vs), 0);
    assert_int_equal(ot_viewset_count(vs), 5);
    for (size_t i = 0; i < 5; i++) {
        const ot_view *v = ot_viewset_at(vs, i);
        assert_ptr_equal(v, ot_view_at(i));   /* one pointer whichever way */
        assert_false(ot_view_is_declared(v));
        assert_null(ot_view_def(v));
        assert_int_equal(ot_view_slot(v), i);
        assert_ptr_equal(ot_viewset_find(vs, v->name, &slot), v);
        assert_int_equal(slot, i);
    }
    assert_null(ot_viewset_at(vs, 5));
    assert_null(ot_viewset_at(vs, OT_VIEWSET_MAX));
    assert_null(ot_viewset_find(vs, "nope", NULL));
    assert_null(ot_viewset_find(vs, NULL, NULL));
    assert_int_equal(ot_viewset_drop(vs, "country"), OT_EUSAGE);
    assert_int_equal(ot_viewset_drop(vs, "nope"), OT_ENOTFOUND);
    ot_viewset_free(&vs);
    assert_null(vs);
    ot_viewset_free(&vs);   /* safe twice */
}

static void
t_add_drop_reuse(void **state)
{
    (void)state;
    ot_viewset *vs = NULL;
    const char *w[] = {"country=SY", "source=CENTCOM", NULL};
    char err[256];
    t_def t;

    assert_int_equal(ot_viewset_new(&vs), 0);
    assert_int_equal(s_add(vs, "a", "partner_force,month", w), 5);
    assert_int_equal(s_add(vs, "b", "week", NULL), 6);
    assert_int_equal(s_add(vs, "c", "day", NULL), 7);
    assert_int_equal(ot_viewset_count(vs), 8);

    const ot_view *a = ot_viewset_find(vs, "a", NULL);
    assert_non_null(a);
    assert_true(ot_view_is_declared(a));
    assert_string_equal(a->name, "a");
    assert_int_equal(a->nfields, 2);
    assert_string_equal(a->fields[0], "partner_force");
    assert_string_equal(a->fields[1], "month");
    const Optally__ViewDef *d = ot_view_def(a);
    assert_non_null(d);
    assert_int_equal(d->slot, 5);
    assert_int_equal(ot_view_slot(a), 5);
    assert_int_equal(d->n_where, 2);
    assert_string_equal(d->where[1], "source=CENTCOM");

    /* name taken: a usage error that names it, nothing changes */
    err[0] = '\0';
    assert_int_equal(ot_viewset_add(vs, s_def(&t, "b", "country", NULL), NULL, err, sizeof err),
                     OT_EUSAGE);
    assert_non_null(strstr(err, "'b' exists"));
    assert_int_equal(ot_viewset_count(vs), 8);

    /* drop the middle one: its slot is free, the count stays; the lowest
     * free slot is reused */
    assert_int_equal(ot_viewset_drop(vs, "b"), 0);
    assert_null(ot_viewset_at(vs, 6));
    assert_null(ot_viewset_find(vs, "b", NULL));
    assert_int_equal(ot_viewset_count(vs), 8);
    assert_int_equal(ot_viewset_drop(vs, "b"), OT_ENOTFOUND);
    assert_int_equal(s_add(vs, "b2", "year", NULL), 6);
    assert_string_equal(ot_viewset_at(vs, 6)->name, "b2");
    /* drop the highest: the count shrinks past free slots */
    assert_int_equal(ot_viewset_drop(vs, "c"), 0);
    assert_int_equal(ot_viewset_count(vs), 7);
    assert_int_equal(ot_viewset_drop(vs, "b2"), 0);
    assert_int_equal(ot_viewset_count(vs), 6);
    assert_int_equal(ot_viewset_drop(vs, "a"), 0);
    assert_int_equal(ot_viewset_count(vs), 5);

    /* the limit: slots 5..63, then ENOSPC with a message */
    for (size_t i = 5; i < OT_VIEWSET_MAX; i++) {
        char name[16];
        snprintf(name, sizeof name, "v%zu", i);
        assert_int_equal(s_add(vs, name, "country", NULL), i);
    }
    assert_int_equal(ot_viewset_count(vs), OT_VIEWSET_MAX);
    err[0] = '\0';
    assert_int_equal(ot_viewset_add(vs, s_def(&t, "one_more", "country", NULL), NULL, err,
                                    sizeof err), ENOSPC);
    assert_non_null(strstr(err, "64 views"));
    assert_null(ot_viewset_find(vs, "one_more", NULL));
    assert_int_equal(ot_viewset_drop(vs, "v40"), 0);
    assert_int_equal(s_add(vs, "one_more", "country", NULL), 40);
    ot_viewset_free(&vs);
}

/* The set keeps its own copy: the caller's strings may go away. */
static void
t_add_copies_def(void **state)
{
    (void)state;
    ot_viewset *vs = NULL;
    char name[] = "mine", group[] = "country", where[] = "country=IQ";
    char *g[] = {group}, *w[] = {where};
    Optally__ViewDef d = OPTALLY__VIEW_DEF__INIT;
    char buf[OT_VIEW_KEY_MAX];
    Optally__OperationEvent ev;

    d.name = name;
    d.group_by = g;
    d.n_group_by = 1;
    d.where = w;
    d.n_where = 1;
    d.slot = 33;           /* ignored: the set picks the slot */
    d.created_at = 1700000000000;
    d.filled_to_seq = 42;
    assert_int_equal(ot_viewset_new(&vs), 0);
    assert_int_equal(ot_viewset_add(vs, &d, NULL, NULL, 0), 0);
    memset(name, 'x', 4);
    memset(group, 'x', 7);
    memcpy(where, "country=SY", 10);
    const ot_view *v = ot_viewset_find(vs, "mine", NULL);
    assert_non_null(v);
    assert_string_equal(v->fields[0], "country");
    assert_int_equal(ot_view_def(v)->slot, 5);
    assert_int_equal(ot_view_def(v)->created_at, 1700000000000);
    assert_int_equal(ot_view_def(v)->filled_to_seq, 42);
    s_event(&ev, "2024-01-01");
    assert_null(s_key(v, &ev, buf));       /* SY: the filter is still country=IQ */
    ev.country = (char *)"IQ";
    assert_string_equal(s_key(v, &ev, buf), "mine/IQ");
    ot_viewset_free(&vs);
}

/* Every way check_def refuses, with the part of the message that says
 * why. */
static void
t_check_def_errors(void **state)
{
    (void)state;
    char long_name[OT_VIEW_NAME_MAX + 2];
    char max_name[OT_VIEW_NAME_MAX + 1];
    static char long_filter[9000];
    const struct {
        const char *name, *group;
        const char *where[OT_VIEW_MAX_FILTERS + 2];
        const char *says;
    } bad[] = {
        {"", "country", {NULL}, "needs a name"},
        {long_name, "country", {NULL}, "longer than 64"},
        {"a/b", "country", {NULL}, "may hold only"},
        {"a b", "country", {NULL}, "may hold only"},
        {"a,b", "country", {NULL}, "may hold only"},
        {"naïve", "country", {NULL}, "may hold only"},
        {"total", "country", {NULL}, "built-in"},
        {"country", "month", {NULL}, "built-in"},
        {"v", "", {NULL}, "0 dimensions"},
        {"v", "country,admin1,partner_force,source,type,year,month", {NULL}, "7 dimensions"},
        {"v", "countries", {NULL}, "unknown dimension 'countries'"},
        {"v", "occurred_on", {NULL}, "unknown dimension 'occurred_on'"},
        {"v", "country,month,country", {NULL}, "country is given twice"},
        {"v", "country", {"a", "b", "c", "d", "e", "f", "g", "h", "i", NULL}, "9 filters"},
        {"v", "country", {"country", NULL}, "is not DIM=VALUE"},
        {"v", "country", {"=IQ", NULL}, "is not DIM=VALUE"},
        {"v", "country", {"country>IQ", NULL}, "unknown operator"},
        {"v", "country", {"country<IQ", NULL}, "unknown operator"},
        {"v", "country", {"country!IQ", NULL}, "unknown operator"},
        {"v", "country", {"colour=red", NULL}, "unknown dimension"},
        {"v", "country", {"country>=IQ", NULL}, "takes = or !="},
        {"v", "country", {"month<=2024-01", NULL}, "takes = or !="},
        {"v", "country", {"occurred_on=2024-01-01", NULL}, "takes >= or <="},
        {"v", "country", {"occurred_on!=2024-01-01", NULL}, "takes >= or <="},
        {"v", "country", {"occurred_on>=2024-02-30", NULL}, "not a date"},
        {"v", "country", {"occurred_on<=yesterday", NULL}, "not a date"},
        {"v", "country", {"country=iq", NULL}, "no value of country"},
        {"v", "country", {"country=IQ|", NULL}, "no value of country"},
        {"v", "country", {"year=24", NULL}, "no value of year"},
        {"v", "country", {"quarter=2024-Q5", NULL}, "no value of quarter"},
        {"v", "country", {"month=2024-13", NULL}, "no value of month"},
        {"v", "country", {"month=2024-1", NULL}, "no value of month"},
        {"v", "country", {"week=2024-W54", NULL}, "no value of week"},
        {"v", "country", {"week=2024-05", NULL}, "no value of week"},
        {"v", "country", {"day=2023-02-29", NULL}, "no value of day"},
        {"v", "country", {"type=partnered", NULL}, "no value of type"},
        {"v", "country", {"type=OPERATION_TYPE_UNSPECIFIED", NULL}, "no value of type"},
        {"v", "country", {"granularity=", NULL}, "no value of granularity"},
        {"v", "country", {"granularity=OPERATION|BOTH", NULL}, "'BOTH' is no value"},
        {"v", "country", {long_filter, NULL}, "longer than 8192"},
    };
    char err[512];
    t_def t;

    memset(long_name, 'n', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    memcpy(long_filter, "admin1=", 7);
    memset(long_filter + 7, 'a', sizeof long_filter - 8);
    long_filter[sizeof long_filter - 1] = '\0';
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(err, 0, sizeof err);
        int rc = ot_viewset_check_def(s_def(&t, bad[i].name, bad[i].group, bad[i].where), err,
                                      sizeof err);
        if (rc != OT_EUSAGE || strstr(err, bad[i].says) == NULL)
            fail_msg("case %zu (%s): rc %d, message '%s', wanted '%s'", i, bad[i].name, rc, err,
                     bad[i].says);
        /* the message is one printable line */
        for (const char *p = err; *p; p++)
            assert_true((unsigned char)*p >= 0x20);
    }
    /* a NULL element (a hand-built message) is an empty dimension */
    s_def(&t, "v", "country", NULL);
    t.group[0] = NULL;
    assert_int_equal(ot_viewset_check_def(&t.d, err, sizeof err), OT_EUSAGE);
    t.d.name = NULL;
    assert_int_equal(ot_viewset_check_def(&t.d, err, sizeof err), OT_EUSAGE);
    assert_non_null(strstr(err, "needs a name"));
    /* a bad character in the name is quoted as valid UTF-8 */
    assert_int_equal(ot_viewset_check_def(s_def(&t, "a\xff" "b", "country", NULL), err,
                                          sizeof err), OT_EUSAGE);
    assert_null(strchr(err, '\xff'));
    /* no err buffer: still the code */
    assert_int_equal(ot_viewset_check_def(s_def(&t, "", "country", NULL), NULL, 0), OT_EUSAGE);

    /* and what is accepted: every dimension, six of them, every filter form */
    memset(max_name, 'm', sizeof max_name - 1);
    max_name[sizeof max_name - 1] = '\0';
    const char *good_w[] = {"country=IQ|SY", "source!=X", "occurred_on>=2024-01-01",
                            "occurred_on<=2024-12-31", "type=|PARTNERED", "granularity=AGGREGATE",
                            "partner_force=", "week=2020-W53", NULL};
    const char *good[][2] = {
        {max_name, "country"},
        {"Az09_.-", "admin1,partner_force,source,type,year,quarter"},
        {"x", "month,week,day,incident,granularity"},
    };
    for (size_t i = 0; i < 3; i++) {
        err[0] = '\0';
        int rc = ot_viewset_check_def(s_def(&t, good[i][0], good[i][1], good_w), err, sizeof err);
        if (rc != 0)
            fail_msg("good %zu: %s", i, err);
    }
}

/* ---- pack / unpack / copy ------------------------------------------------ */

/* Every view of a and b alike: slots, names, definitions, and the keys of
 * a few events. */
static void
s_assert_same_sets(const ot_viewset *a, const ot_viewset *b)
{
    Optally__OperationEvent ev;
    const char *days[] = {"2024-01-01", "2021-01-01", "2023-06-15"};

    assert_int_equal(ot_viewset_count(a), ot_viewset_count(b));
    for (size_t i = 0; i < ot_viewset_count(a); i++) {
        const ot_view *va = ot_viewset_at(a, i), *vb = ot_viewset_at(b, i);
        if (va == NULL) {
            assert_null(vb);
            continue;
        }
        assert_non_null(vb);
        assert_string_equal(va->name, vb->name);
        assert_int_equal(va->nfields, vb->nfields);
        const Optally__ViewDef *da = ot_view_def(va), *db = ot_view_def(vb);
        assert_int_equal(da == NULL, db == NULL);
        if (da) {
            assert_ptr_not_equal(da, db);   /* independent copies */
            assert_int_equal(da->slot, db->slot);
            assert_int_equal(da->slot, i);
            assert_int_equal(da->created_at, db->created_at);
            assert_int_equal(da->n_where, db->n_where);
            for (size_t w = 0; w < da->n_where; w++)
                assert_string_equal(da->where[w], db->where[w]);
        }
        for (size_t k = 0; k < 3; k++) {
            char ka[OT_VIEW_KEY_MAX], kb[OT_VIEW_KEY_MAX];
            s_event(&ev, days[k]);
            const char *x = s_key(va, &ev, ka), *y = s_key(vb, &ev, kb);
            assert_int_equal(x == NULL, y == NULL);
            if (x)
                assert_string_equal(x, y);
        }
    }
}

static void
t_pack_unpack(void **state)
{
    (void)state;
    ot_viewset *vs = NULL, *back = NULL, *copy = NULL;
    const char *w1[] = {"country=SY|IQ", "occurred_on>=2021-01-01", NULL};
    const char *w2[] = {"source!=CENTCOM", NULL};
    uint8_t *buf = NULL;
    size_t len = 0;

    /* no declared views: an empty message, read back as the built-ins */
    assert_int_equal(ot_viewset_new(&vs), 0);
    assert_int_equal(ot_viewset_pack(vs, &buf, &len), 0);
    assert_int_equal(len, 0);
    assert_int_equal(ot_viewset_unpack(buf, len, &back), 0);
    s_assert_same_sets(vs, back);
    ot_viewset_free(&back);
    free(buf);
    assert_int_equal(ot_viewset_unpack(NULL, 0, &back), 0);
    assert_int_equal(ot_viewset_count(back), 5);
    ot_viewset_free(&back);

    s_add(vs, "a", "country,week", w1);
    s_add(vs, "gap", "day", NULL);
    s_add(vs, "c", "partner_force,type,incident", w2);
    assert_int_equal(ot_viewset_drop(vs, "gap"), 0);   /* slot 6 free, 7 used */
    assert_int_equal(ot_viewset_pack(vs, &buf, &len), 0);
    assert_true(len > 0);
    assert_int_equal(ot_viewset_unpack(buf, len, &back), 0);
    s_assert_same_sets(vs, back);
    assert_null(ot_viewset_at(back, 6));
    assert_int_equal(ot_view_def(ot_viewset_at(back, 7))->slot, 7);
    /* the copy too, and it outlives changes to the original */
    assert_int_equal(ot_viewset_copy(vs, &copy), 0);
    s_assert_same_sets(vs, copy);
    assert_int_equal(ot_viewset_drop(vs, "a"), 0);
    assert_string_equal(ot_viewset_at(copy, 5)->name, "a");
    /* a re-pack of the unpacked set is the same bytes */
    uint8_t *buf2 = NULL;
    size_t len2 = 0;
    assert_int_equal(ot_viewset_pack(back, &buf2, &len2), 0);
    assert_int_equal(len2, len);
    assert_memory_equal(buf2, buf, len);
    free(buf2);
    ot_viewset_free(&back);
    ot_viewset_free(&copy);
    ot_viewset_free(&vs);

    /* corrupt bytes */
    for (size_t cut = 1; cut < len; cut++) {
        int rc = ot_viewset_unpack(buf, cut, &back);
        if (rc == 0)
            ot_viewset_free(&back);   /* a prefix may happen to parse: never leaks */
        else
            assert_int_equal(rc, OT_ECORRUPT);
    }
    uint8_t junk[] = {0xff, 0xff, 0xff};
    back = (ot_viewset *)1;
    assert_int_equal(ot_viewset_unpack(junk, sizeof junk, &back), OT_ECORRUPT);
    assert_ptr_equal(back, (ot_viewset *)1);   /* untouched */
    free(buf);
}

/* Stored definitions that cannot be: a built-in slot, a slot out of
 * range, two at one slot, one name twice, a definition check_def refuses. */
static void
t_unpack_refuses(void **state)
{
    (void)state;
    const struct {
        const char *n1;
        uint32_t s1;
        const char *n2;
        uint32_t s2;
        const char *g2;
    } bad[] = {
        {"a", 5, "b", 4, "country"},
        {"a", 5, "b", OT_VIEWSET_MAX, "country"},
        {"a", 5, "b", 5, "country"},
        {"a", 5, "a", 6, "country"},
        {"a", 5, "b", 6, "colour"},
        {"a", 5, "total", 6, "country"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        t_def t1, t2;
        Optally__ViewDef *defs[2] = {s_def(&t1, bad[i].n1, "country", NULL),
                                     s_def(&t2, bad[i].n2, bad[i].g2, NULL)};
        Optally__ViewDefs m = OPTALLY__VIEW_DEFS__INIT;
        uint8_t buf[512];
        ot_viewset *vs = NULL;
        defs[0]->slot = bad[i].s1;
        defs[1]->slot = bad[i].s2;
        m.views = defs;
        m.n_views = 2;
        assert_true(optally__view_defs__get_packed_size(&m) <= sizeof buf);
        size_t len = optally__view_defs__pack(&m, buf);
        assert_int_equal(ot_viewset_unpack(buf, len, &vs), OT_ECORRUPT);
        assert_null(vs);
        /* the first alone is fine */
        m.n_views = 1;
        len = optally__view_defs__pack(&m, buf);
        assert_int_equal(ot_viewset_unpack(buf, len, &vs), 0);
        assert_string_equal(ot_viewset_at(vs, 5)->name, "a");
        ot_viewset_free(&vs);
    }
}

/* ---- dimensions ---------------------------------------------------------- */

static void
t_every_dimension(void **state)
{
    (void)state;
    ot_viewset *vs = NULL;
    Optally__OperationEvent ev;
    char buf[OT_VIEW_KEY_MAX];
    const struct {
        const char *dim, *want;
    } dims[] = {
        {"country", "d/SY"},
        {"admin1", "d/Deir ez-Zor"},
        {"partner_force", "d/SDF"},
        {"source", "d/CENTCOM"},
        {"type", "d/PARTNERED"},
        {"year", "d/2024"},
        {"quarter", "d/2024-Q1"},
        {"month", "d/2024-01"},
        {"week", "d/2024-W05"},
        {"day", "d/2024-01-31"},
        {"incident", "d/inc-7"},
        {"granularity", "d/OPERATION"},
    };

    s_event(&ev, "2024-01-31");
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++) {
        assert_int_equal(ot_viewset_new(&vs), 0);
        const ot_view *v = ot_viewset_at(vs, s_add(vs, "d", dims[i].dim, NULL));
        assert_string_equal(v->fields[0], dims[i].dim);
        assert_string_equal(s_key(v, &ev, buf), dims[i].want);
        ot_viewset_free(&vs);
    }

    /* absent values: "" (type unspecified, no incident, no admin1) */
    assert_int_equal(ot_viewset_new(&vs), 0);
    const ot_view *v = ot_viewset_at(vs, s_add(vs, "e", "type,incident,admin1,partner_force",
                                                NULL));
    ev.type = 0;
    ev.incident = (char *)"";
    ev.admin1 = NULL;
    ev.partner_force = (char *)"";
    assert_string_equal(s_key(v, &ev, buf), "e////");
    ev.type = OPTALLY__OPERATION_TYPE__RAID;
    assert_string_equal(s_key(v, &ev, buf), "e/RAID///");

    /* all six in their order, escaping '%' and '/' as built-in views do */
    v = ot_viewset_at(vs, s_add(vs, "six", "day,admin1,source,country,week,partner_force", NULL));
    ev.admin1 = (char *)"50%/north";
    ev.source = (char *)"a/b";
    ev.partner_force = (char *)"%";
    assert_string_equal(s_key(v, &ev, buf), "six/2024-01-31/50%25%2Fnorth/a%2Fb/SY/2024-W05/%25");
    const ot_view *sv = NULL;
    const char *vals[OT_VIEW_MAX_FIELDS];
    char valbuf[OT_VIEW_KEY_MAX];
    assert_int_equal(ot_viewset_key_split(vs, buf, strlen(buf), &sv, vals, valbuf, sizeof valbuf),
                     0);
    assert_ptr_equal(sv, v);
    assert_string_equal(vals[1], "50%/north");
    assert_string_equal(vals[2], "a/b");
    assert_string_equal(vals[5], "%");
    /* an unknown type value is a corrupt record (validation lets none in) */
    ot_event_view view;
    size_t len;
    v = ot_viewset_find(vs, "e", NULL);
    ev.type = 99;
    ot_event_view_of(&ev, &view);
    assert_int_equal(ot_view_key_ev(v, &view, buf, sizeof buf, &len), OT_ECORRUPT);
    assert_int_equal(ot_view_key(v, &ev, buf, sizeof buf, &len), EINVAL);
    ot_viewset_free(&vs);
}

/* Weeks against the C library (%G-W%V) for every day of 1990..2030, and
 * the edge cases by name. */
static void
t_iso_weeks(void **state)
{
    (void)state;
    ot_viewset *vs = NULL;
    Optally__OperationEvent ev;
    char buf[OT_VIEW_KEY_MAX], want[32], day[16];
    const char *named[][2] = {
        {"2021-01-01", "w/2020-W53"}, {"2020-12-31", "w/2020-W53"}, {"2021-01-03", "w/2020-W53"},
        {"2021-01-04", "w/2021-W01"}, {"2019-12-30", "w/2020-W01"}, {"2019-12-29", "w/2019-W52"},
        {"2024-01-01", "w/2024-W01"}, {"2023-01-01", "w/2022-W52"}, {"2015-12-31", "w/2015-W53"},
        {"2016-01-03", "w/2015-W53"}, {"2027-01-01", "w/2026-W53"}, {"2008-12-29", "w/2009-W01"},
        {"2024-12-30", "w/2025-W01"}, {"2000-02-29", "w/2000-W09"}, {"2024-01-31", "w/2024-W05"},
    };

    assert_int_equal(ot_viewset_new(&vs), 0);
    const ot_view *v = ot_viewset_at(vs, s_add(vs, "w", "week", NULL));
    for (size_t i = 0; i < sizeof named / sizeof named[0]; i++) {
        s_event(&ev, named[i][0]);
        assert_string_equal(s_key(v, &ev, buf), named[i][1]);
    }
    struct tm tm = {.tm_year = 90, .tm_mon = 0, .tm_mday = 1, .tm_hour = 12};
    time_t t = timegm(&tm);
    for (int n = 0; n < 41 * 366; n++, t += 86400) {
        struct tm d;
        gmtime_r(&t, &d);
        if (d.tm_year > 130)
            break;
        strftime(day, sizeof day, "%Y-%m-%d", &d);
        strftime(want + 2, sizeof want - 2, "%G-W%V", &d);
        memcpy(want, "w/", 2);
        s_event(&ev, day);
        assert_string_equal(s_key(v, &ev, buf), want);
    }
    /* a day that does not exist is a corrupt record for week and day */
    ot_event_view view;
    size_t len;
    s_event(&ev, "2023-02-29");
    ot_event_view_of(&ev, &view);
    assert_int_equal(ot_view_key_ev(v, &view, buf, sizeof buf, &len), OT_ECORRUPT);
    ot_viewset_free(&vs);
}

/* ---- filters on operations ---------------------------------------------- */

static void
t_filters(void **state)
{
    (void)state;
    ot_viewset *vs = NULL;
    Optally__OperationEvent ev;
    char buf[OT_VIEW_KEY_MAX];
    const struct {
        const char *where[4];
        bool in;
    } cases[] = {
        {{"country=SY"}, true},
        {{"country=IQ"}, false},
        {{"country!=IQ"}, true},
        {{"country!=SY"}, false},
        {{"country=IQ|SY"}, true},
        {{"country=IQ|AF"}, false},
        {{"country!=IQ|SY"}, false},
        {{"country!=IQ|AF"}, true},
        {{"source=CENTCOM"}, true},
        {{"source=CENTCOM|"}, true},
        {{"source=CENT"}, false},          /* whole values, not prefixes */
        {{"admin1=Deir ez-Zor"}, true},
        {{"partner_force=SDF|ISF"}, true},
        {{"partner_force="}, false},
        {{"type=PARTNERED"}, true},
        {{"type=RAID|AIRSTRIKE"}, false},
        {{"type="}, false},
        {{"incident=inc-7"}, true},
        {{"incident="}, false},
        {{"granularity=OPERATION"}, true},
        {{"granularity=AGGREGATE"}, false},
        {{"year=2024"}, true},
        {{"year=2023|2025"}, false},
        {{"quarter=2024-Q1"}, true},
        {{"month=2024-02"}, false},
        {{"month!=2024-02"}, true},
        {{"week=2024-W05"}, true},
        {{"day=2024-01-31"}, true},
        {{"day=2024-01-30"}, false},
        {{"occurred_on>=2024-01-31"}, true},
        {{"occurred_on>=2024-02-01"}, false},
        {{"occurred_on<=2024-01-31"}, true},
        {{"occurred_on<=2024-01-30"}, false},
        {{"occurred_on>=2024-01-01", "occurred_on<=2024-12-31"}, true},
        {{"country=SY", "source=CENTCOM", "partner_force=SDF"}, true},
        {{"country=SY", "source=CENTCOM", "partner_force=ISF"}, false},   /* AND */
        {{"country=SY", "country!=SY"}, false},
    };

    s_event(&ev, "2024-01-31");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(ot_viewset_new(&vs), 0);
        const ot_view *v = ot_viewset_at(vs, s_add(vs, "f", "partner_force,month",
                                                    cases[i].where));
        const char *k = s_key(v, &ev, buf);
        if ((k != NULL) != cases[i].in)
            fail_msg("case %zu (%s): %s", i, cases[i].where[0], k ? k : "left out");
        if (k)
            assert_string_equal(k, "f/SDF/2024-01");
        ot_viewset_free(&vs);
    }

    /* an operation with an occurred_until: its dimensions and filters read
     * occurred_on only (as the built-in views always have) */
    assert_int_equal(ot_viewset_new(&vs), 0);
    const char *w[] = {"occurred_on<=2024-01-31", NULL};
    const ot_view *v = ot_viewset_at(vs, s_add(vs, "u", "month", w));
    ev.occurred_until = (char *)"2024-02-03";
    assert_string_equal(s_key(v, &ev, buf), "u/2024-01");
    ot_viewset_free(&vs);
}

/* ---- aggregates ---------------------------------------------------------- */

static void
s_aggregate(Optally__OperationEvent *ev, const char *on, const char *until)
{
    s_event(ev, on);
    ev->granularity = OPTALLY__GRANULARITY__AGGREGATE;
    ev->occurred_until = (char *)until;
    ev->incident = (char *)"";
    ev->type = 0;
    ev->operations = 40;
}

static void
t_aggregates(void **state)
{
    (void)state;
    ot_viewset *vs = NULL;
    Optally__OperationEvent ev;
    char buf[OT_VIEW_KEY_MAX];
    char *two[] = {(char *)"IQ", (char *)"SY"}, *one[] = {(char *)"IQ"};
    const struct {
        const char *group;
        const char *where[3];
        const char *on, *until;
        int scope;            /* 0: country SY, 1: countries {IQ}, 2: countries {IQ, SY} */
        const char *want;     /* NULL: unplaced */
    } cases[] = {
        {"granularity,type,incident", {NULL}, "2024-01-01", "2024-03-31", 0, "a/AGGREGATE//"},
        {"country", {NULL}, "2024-01-01", "2024-03-31", 1, "a/IQ"},
        {"country", {NULL}, "2024-01-01", "2024-03-31", 2, NULL},
        {"source", {"country=IQ"}, "2024-01-01", "2024-03-31", 2, NULL},
        {"source", {"country!=AF"}, "2024-01-01", "2024-03-31", 2, NULL},   /* undetermined */
        {"source", {"country!=AF"}, "2024-01-01", "2024-03-31", 0, "a/CENTCOM"},
        {"source", {"country=IQ|SY"}, "2024-01-01", "2024-03-31", 1, "a/CENTCOM"},
        {"quarter", {NULL}, "2024-01-01", "2024-03-31", 0, "a/2024-Q1"},
        {"month", {NULL}, "2024-01-01", "2024-03-31", 0, NULL},
        {"year", {NULL}, "2024-01-01", "2024-12-31", 0, "a/2024"},
        {"year", {NULL}, "2023-12-31", "2024-01-31", 0, NULL},
        {"week", {NULL}, "2024-01-29", "2024-02-04", 0, "a/2024-W05"},
        {"week", {NULL}, "2024-01-29", "2024-02-05", 0, NULL},
        {"week", {NULL}, "2020-12-28", "2021-01-03", 0, "a/2020-W53"},
        {"day", {NULL}, "2024-01-05", "2024-01-05", 0, "a/2024-01-05"},
        {"day", {NULL}, "2024-01-05", "2024-01-06", 0, NULL},
        {"source", {"month=2024-01"}, "2024-01-01", "2024-01-31", 0, "a/CENTCOM"},
        {"source", {"month=2024-01"}, "2024-01-01", "2024-02-01", 0, NULL},
        {"source", {"month!=2024-03"}, "2024-01-01", "2024-02-01", 0, NULL},
        {"source", {"quarter=2024-Q1"}, "2024-01-01", "2024-02-01", 0, "a/CENTCOM"},
        {"source", {"occurred_on>=2024-01-01"}, "2024-01-01", "2024-03-31", 0, "a/CENTCOM"},
        {"source", {"occurred_on>=2024-01-02"}, "2024-01-01", "2024-03-31", 0, NULL},
        {"source", {"occurred_on<=2024-03-31"}, "2024-01-01", "2024-03-31", 0, "a/CENTCOM"},
        {"source", {"occurred_on<=2024-03-30"}, "2024-01-01", "2024-03-31", 0, NULL},
        {"source", {"occurred_on<=2024-01-15"}, "2024-01-01", "2024-03-31", 0, NULL},
        {"source", {"granularity=AGGREGATE", "type="}, "2024-01-01", "2024-03-31", 0,
         "a/CENTCOM"},
        {"source", {"granularity=OPERATION"}, "2024-01-01", "2024-03-31", 0, NULL},
        {"country,admin1,partner_force", {"source=CENTCOM"}, "2024-01-01", "2024-03-31", 1,
         "a/IQ/Deir ez-Zor/SDF"},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        s_aggregate(&ev, cases[i].on, cases[i].until);
        if (cases[i].scope > 0) {
            ev.country = (char *)"";
            ev.countries = cases[i].scope == 1 ? one : two;
            ev.n_countries = (size_t)cases[i].scope;
        }
        assert_int_equal(ot_viewset_new(&vs), 0);
        const ot_view *v = ot_viewset_at(vs, s_add(vs, "a", cases[i].group, cases[i].where));
        const char *k = s_agg_key(v, &ev, buf);
        if (cases[i].want == NULL ? k != NULL : (k == NULL || strcmp(k, cases[i].want) != 0))
            fail_msg("case %zu: got %s, want %s", i, k ? k : "unplaced",
                     cases[i].want ? cases[i].want : "unplaced");
        ot_viewset_free(&vs);
    }
}

/* ---- long values ---------------------------------------------------------- */

/* FNV-1a 64 as the spec defines it, written here from its definition. */
static uint64_t
s_fnv(const char *s)
{
    uint64_t h = 14695981039346656037u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

static void
t_long_values(void **state)
{
    (void)state;
    ot_viewset *vs = NULL;
    Optally__OperationEvent ev;
    char buf[OT_VIEW_KEY_MAX], want[OT_VIEW_KEY_MAX], a1[600], a2[600];

    assert_int_equal(ot_viewset_new(&vs), 0);
    const ot_view *v = ot_viewset_at(vs, s_add(vs, "l", "admin1", NULL));
    s_event(&ev, "2024-01-31");
    ev.admin1 = a1;

    /* 64 escaped bytes stay whole; 65 are shortened */
    memset(a1, 'a', 64);
    a1[64] = '\0';
    snprintf(want, sizeof want, "l/%.64s", a1);
    assert_string_equal(s_key(v, &ev, buf), want);
    memset(a1, 'a', 62);
    strcpy(a1 + 62, "/");   /* 62 + 3 escaped: 65 */
    snprintf(want, sizeof want, "l/%.47s~%016" PRIx64, a1, s_fnv(a1));
    assert_string_equal(s_key(v, &ev, buf), want);
    assert_int_equal(strlen(buf), 2 + 64);

    /* a long value: 47 bytes, "~", 16 hex digits; the same every time */
    memset(a1, 'x', 500);
    a1[500] = '\0';
    snprintf(want, sizeof want, "l/%.47s~%016" PRIx64, a1, s_fnv(a1));
    assert_string_equal(s_key(v, &ev, buf), want);
    assert_string_equal(s_key(v, &ev, buf), want);
    /* another value with the same head: another key */
    strcpy(a2, a1);
    a2[499] = 'y';
    ev.admin1 = a2;
    char other[OT_VIEW_KEY_MAX];
    s_key(v, &ev, other);
    assert_memory_equal(other, buf, 2 + 47 + 1);
    assert_string_not_equal(other, buf);

    /* whole characters: an escape or a UTF-8 sequence is never cut */
    memset(a1, 'b', 46);
    strcpy(a1 + 46, "%");
    memset(a1 + 47, 'c', 100);
    a1[147] = '\0';
    ev.admin1 = a1;
    snprintf(want, sizeof want, "l/%.46s~%016" PRIx64, a1, s_fnv(a1));
    assert_string_equal(s_key(v, &ev, buf), want);
    memset(a1, 'b', 44);   /* 44 + 3: the escape fits exactly */
    strcpy(a1 + 44, "%cccccccccccccccccccccccccccccccc");
    snprintf(want, sizeof want, "l/%.44s%%25~%016" PRIx64, a1, s_fnv(a1));
    assert_string_equal(s_key(v, &ev, buf), want);
    a1[0] = '\0';
    for (int i = 0; i < 40; i++)
        strcat(a1, "\xc3\xa9");   /* é, 2 bytes: 23 fit in 47 */
    snprintf(want, sizeof want, "l/%.46s~%016" PRIx64, a1, s_fnv(a1));
    assert_string_equal(s_key(v, &ev, buf), want);
    /* the key splits, giving the shortened value back */
    const ot_view *sv;
    const char *vals[OT_VIEW_MAX_FIELDS];
    char valbuf[OT_VIEW_KEY_MAX];
    assert_int_equal(ot_viewset_key_split(vs, buf, strlen(buf), &sv, vals, valbuf, sizeof valbuf),
                     0);
    assert_string_equal(vals[0], want + 2);

    /* built-in views never shorten: a partner_force of 128 '/' */
    memset(a1, '/', 128);
    a1[128] = '\0';
    ev.partner_force = a1;
    size_t len;
    assert_int_equal(ot_view_key(ot_view_find("country,partner_force"), &ev, buf, sizeof buf,
                                 &len), 0);
    assert_int_equal(len, strlen("country,partner_force/SY/") + 3 * 128);

    /* the longest declared key: six long values, all escaped */
    v = ot_viewset_at(vs, s_add(vs, "a123456789b123456789c123456789d123456789e123456789f123456789abcd",
                                "admin1,partner_force,source,incident,day,type", NULL));
    static char big[4097];
    memset(big, '%', 4096);
    ev.admin1 = ev.source = ev.incident = big;
    assert_int_equal(ot_view_key(v, &ev, buf, sizeof buf, &len), 0);
    assert_true(len <= 64 + 6 * 65);
    assert_true(len + 1 <= OT_VIEW_KEY_MAX && len < 511);
    /* distinct values in practice: 2,000 values with one head, 2,000 keys */
    ot_viewset_free(&vs);
    assert_int_equal(ot_viewset_new(&vs), 0);
    v = ot_viewset_at(vs, s_add(vs, "l", "admin1", NULL));
    char (*keys)[80] = calloc(2000, sizeof *keys);
    assert_non_null(keys);
    ev.admin1 = a1;
    for (int i = 0; i < 2000; i++) {
        snprintf(a1, sizeof a1, "%070d", i);
        s_key(v, &ev, buf);
        assert_true(strlen(buf) < sizeof keys[0]);
        strcpy(keys[i], buf);
    }
    qsort(keys, 2000, sizeof keys[0], (int (*)(const void *, const void *))strcmp);
    for (int i = 1; i < 2000; i++)
        assert_string_not_equal(keys[i - 1], keys[i]);
    free(keys);
    ot_viewset_free(&vs);
}

/* ---- splitting keys of a set ---------------------------------------------- */

static void
t_key_split(void **state)
{
    (void)state;
    ot_viewset *vs = NULL;
    const ot_view *v = NULL;
    const char *vals[OT_VIEW_MAX_FIELDS];
    char valbuf[64];
    const char *k;

    assert_int_equal(ot_viewset_new(&vs), 0);
    size_t slot = s_add(vs, "pf.month", "partner_force,month", NULL);
    k = "pf.month/S%2FD/2024-01";
    assert_int_equal(ot_viewset_key_split(vs, k, strlen(k), &v, vals, valbuf, sizeof valbuf), 0);
    assert_ptr_equal(v, ot_viewset_at(vs, slot));
    assert_string_equal(vals[0], "S/D");
    assert_string_equal(vals[1], "2024-01");
    /* built-in keys through the set */
    k = "country,quarter/IQ/2024-Q1";
    assert_int_equal(ot_viewset_key_split(vs, k, strlen(k), &v, vals, valbuf, sizeof valbuf), 0);
    assert_ptr_equal(v, ot_view_find("country,quarter"));
    k = "total";
    assert_int_equal(ot_viewset_key_split(vs, k, strlen(k), &v, vals, valbuf, sizeof valbuf), 0);
    assert_ptr_equal(v, ot_view_at(0));
    /* errors */
    const struct {
        const char *key;
        int rc;
    } bad[] = {
        {"nope/x", OT_ENOTFOUND}, {"pf.month", EINVAL},         {"pf.month/a", EINVAL},
        {"pf.month/a/b/c", EINVAL}, {"pf.month/a%2/b", EINVAL}, {"pf.mont/a/b", OT_ENOTFOUND},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(ot_viewset_key_split(vs, bad[i].key, strlen(bad[i].key), &v, vals,
                                              valbuf, sizeof valbuf), bad[i].rc);
    k = "pf.month/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/2024-01";
    assert_int_equal(ot_viewset_key_split(vs, k, strlen(k), &v, vals, valbuf, sizeof valbuf),
                     ENOSPC);
    /* a dropped view's keys are unknown; the plain split knows built-ins only */
    k = "pf.month/x/2024-01";
    assert_int_equal(ot_view_key_split(k, strlen(k), &v, vals, valbuf, sizeof valbuf),
                     OT_ENOTFOUND);
    assert_int_equal(ot_viewset_drop(vs, "pf.month"), 0);
    assert_int_equal(ot_viewset_key_split(vs, k, strlen(k), &v, vals, valbuf, sizeof valbuf),
                     OT_ENOTFOUND);
    ot_viewset_free(&vs);
}

/* ---- random views against a model ----------------------------------------- */

/* The model's value of dimension dim of ev: written from the spec, with
 * the C library's weeks. */
static void
s_model_value(const char *dim, const Optally__OperationEvent *ev, char *out, size_t cap)
{
    static const char *types[] = {"", "PARTNERED", "UNILATERAL", "AIRSTRIKE", "RAID"};
    const char *on = ev->occurred_on;

    if (!strcmp(dim, "country"))
        snprintf(out, cap, "%s", ev->country);
    else if (!strcmp(dim, "admin1"))
        snprintf(out, cap, "%s", ev->admin1);
    else if (!strcmp(dim, "partner_force"))
        snprintf(out, cap, "%s", ev->partner_force);
    else if (!strcmp(dim, "source"))
        snprintf(out, cap, "%s", ev->source);
    else if (!strcmp(dim, "incident"))
        snprintf(out, cap, "%s", ev->incident);
    else if (!strcmp(dim, "type"))
        snprintf(out, cap, "%s", types[ev->type]);
    else if (!strcmp(dim, "granularity"))
        snprintf(out, cap, "OPERATION");
    else if (!strcmp(dim, "year"))
        snprintf(out, cap, "%.4s", on);
    else if (!strcmp(dim, "quarter"))
        snprintf(out, cap, "%.4s-Q%d", on, ((on[5] - '0') * 10 + on[6] - '0' + 2) / 3);
    else if (!strcmp(dim, "month"))
        snprintf(out, cap, "%.7s", on);
    else if (!strcmp(dim, "day"))
        snprintf(out, cap, "%s", on);
    else {
        struct tm tm = {.tm_hour = 12};
        assert_string_equal(dim, "week");
        assert_non_null(strptime(on, "%Y-%m-%d", &tm));
        strftime(out, cap, "%G-W%V", &tm);
    }
}

/* Whether ev passes the filter text f, by the model. */
static bool
s_model_pass(const char *f, const Optally__OperationEvent *ev)
{
    char dim[32], val[64], alts[128];
    const char *op = strpbrk(f, "!<>=");
    size_t oplen = op[0] == '=' ? 1 : 2;

    snprintf(dim, sizeof dim, "%.*s", (int)(op - f), f);
    if (!strcmp(dim, "occurred_on")) {
        int c = strcmp(ev->occurred_on, op + 2);
        return op[0] == '>' ? c >= 0 : c <= 0;
    }
    s_model_value(dim, ev, val, sizeof val);
    snprintf(alts, sizeof alts, "|%s|", op + oplen);
    char needle[80];
    snprintf(needle, sizeof needle, "|%s|", val);
    bool any = strstr(alts, needle) != NULL;
    return op[0] == '=' ? any : !any;
}

/* Append "/" and v escaped. */
static void
s_model_escape(char *key, size_t cap, const char *v)
{
    size_t n = strlen(key);
    key[n++] = '/';
    for (; *v && n + 4 < cap; v++) {
        if (*v == '%' || *v == '/') {
            memcpy(key + n, *v == '%' ? "%25" : "%2F", 3);
            n += 3;
        } else {
            key[n++] = *v;
        }
    }
    key[n] = '\0';
}

static void
t_random_against_model(void **state)
{
    (void)state;
    static const char *const dims[] = {"country", "admin1", "partner_force", "source",
                                       "type", "year", "quarter", "month", "week", "day",
                                       "incident", "granularity"};
    static const char *const countries[] = {"IQ", "SY", "AF"};
    static const char *const texts[] = {"", "a", "b/c", "50%", "ISF", "SDF"};
    static const char *const days[] = {"2019-12-29", "2019-12-30", "2020-12-31", "2021-01-01",
                                       "2021-01-04", "2024-02-29", "2024-03-31", "2024-04-01",
                                       "2026-12-31", "2027-01-01"};
    static const char *const types[] = {"", "PARTNERED", "UNILATERAL", "AIRSTRIKE", "RAID"};
    unsigned seed = 12;
    char key[OT_VIEW_KEY_MAX], want[OT_VIEW_KEY_MAX], val[64];

    srand(seed);
#define PICK(a) (a[(size_t)rand() % (sizeof a / sizeof a[0])])
    for (int round = 0; round < 300; round++) {
        /* a random view: 1..6 distinct dimensions, 0..3 filters */
        char group[128] = "", wbuf[4][96];
        const char *where[5] = {NULL};
        int nd = 1 + rand() % 6, nw = rand() % 4;
        bool used[12] = {false};
        for (int i = 0; i < nd;) {
            int d = rand() % 12;
            if (used[d])
                continue;
            used[d] = true;
            strcat(group, i++ ? "," : "");
            strcat(group, dims[d]);
        }
        for (int i = 0; i < nw; i++) {
            Optally__OperationEvent tmp;
            s_event(&tmp, PICK(days));
            int kind = rand() % 5;
            if (kind == 4) {
                snprintf(wbuf[i], sizeof wbuf[i], "occurred_on%s%s", rand() % 2 ? ">=" : "<=",
                         PICK(days));
            } else {
                const char *d = PICK(dims);
                /* a value of the right form: the model's value of some event */
                tmp.country = (char *)PICK(countries);
                tmp.admin1 = tmp.partner_force = tmp.source = tmp.incident = (char *)PICK(texts);
                if (!strcmp(d, "country") && kind == 3)
                    strcpy(val, "IQ|SY");
                else if (!strcmp(d, "granularity"))
                    strcpy(val, kind % 2 ? "OPERATION" : "AGGREGATE");
                else if (!strcmp(d, "type"))
                    strcpy(val, PICK(types));
                else
                    s_model_value(d, &tmp, val, sizeof val);
                snprintf(wbuf[i], sizeof wbuf[i], "%s%s%s", d, kind % 2 ? "!=" : "=", val);
            }
            where[i] = wbuf[i];
        }
        ot_viewset *vs = NULL;
        assert_int_equal(ot_viewset_new(&vs), 0);
        t_def t;
        char err[256] = "";
        size_t slot;
        if (ot_viewset_add(vs, s_def(&t, "r", group, where), &slot, err, sizeof err) != 0)
            fail_msg("round %d: %s (%s)", round, err, group);
        const ot_view *v = ot_viewset_at(vs, slot);
        for (int e = 0; e < 30; e++) {
            Optally__OperationEvent ev;
            s_event(&ev, PICK(days));
            ev.country = (char *)PICK(countries);
            ev.admin1 = (char *)PICK(texts);
            ev.partner_force = (char *)PICK(texts);
            ev.source = (char *)PICK(texts);
            ev.incident = (char *)PICK(texts);
            ev.type = (Optally__OperationType)(rand() % 5);
            bool in = true;
            for (int i = 0; i < nw; i++)
                in = in && s_model_pass(where[i], &ev);
            snprintf(want, sizeof want, "r");
            for (int i = 0; i < v->nfields; i++) {
                s_model_value(v->fields[i], &ev, val, sizeof val);
                s_model_escape(want, sizeof want, val);
            }
            const char *got = s_key(v, &ev, key);
            if (in != (got != NULL) || (got && strcmp(got, want) != 0))
                fail_msg("round %d view %s where %s %s %s: got %s, want %s", round, group,
                         nw > 0 ? where[0] : "", nw > 1 ? where[1] : "", nw > 2 ? where[2] : "",
                         got ? got : "(out)", in ? want : "(out)");
        }
        ot_viewset_free(&vs);
    }
#undef PICK
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_builtins),
        cmocka_unit_test(t_add_drop_reuse),
        cmocka_unit_test(t_add_copies_def),
        cmocka_unit_test(t_check_def_errors),
        cmocka_unit_test(t_pack_unpack),
        cmocka_unit_test(t_unpack_refuses),
        cmocka_unit_test(t_every_dimension),
        cmocka_unit_test(t_iso_weeks),
        cmocka_unit_test(t_filters),
        cmocka_unit_test(t_aggregates),
        cmocka_unit_test(t_long_values),
        cmocka_unit_test(t_key_split),
        cmocka_unit_test(t_random_against_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
