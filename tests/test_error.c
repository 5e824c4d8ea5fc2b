/*
 * test_error: lib/ot_error, the one error-code space.
 *  - every OT_E* code has its own text, none "unknown error", no two alike;
 *  - errno values are named by strerror; 0 is "success";
 *  - LMDB codes: lib/ knows no LMDB, so before the store registers its range
 *    they are "unknown error"; after ot_store_register_errors (which
 *    ot_store_open calls) every one of MDB_KEYEXIST..MDB_LAST_ERRCODE is
 *    named exactly as mdb_strerror names it;
 *  - ot_error_register_range: bad ranges and overlaps refused, the same
 *    registration twice is fine, the table's bound holds.
 * One test function, in this order: the "before registration" check needs
 * a process where nothing registered yet.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <lmdb.h>
#include <string.h>

#include "ot_error.h"
#include "ot_store.h"

static const char *
s_name_a(int err)
{
    (void)err;
    return "range A";
}

static const char *
s_name_b(int err)
{
    (void)err;
    return "range B";
}

static void
t_ot_codes_named(void **state)
{
    (void)state;
    assert_string_equal(ot_strerror(0), "success");
    for (int e = OT_EBASE + 1; e < OT_ELAST; e++) {
        const char *t = ot_strerror(e);
        assert_non_null(t);
        if (strcmp(t, "unknown error") == 0 || t[0] == '\0')
            fail_msg("OT_E code %d has no text of its own", e);
        for (int o = OT_EBASE + 1; o < e; o++)
            if (strcmp(t, ot_strerror(o)) == 0)
                fail_msg("codes %d and %d share the text \"%s\"", o, e, t);
    }
    assert_string_equal(ot_strerror(OT_EBASE), "unknown error");
    assert_string_equal(ot_strerror(OT_ELAST), "unknown error");
}

static void
t_errno_named(void **state)
{
    (void)state;
    static const int errs[] = { EIO, ENOSPC, ENOMEM, EROFS, EINVAL, ENOENT };
    for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++)
        assert_string_equal(ot_strerror(errs[i]), strerror(errs[i]));
}

static void
t_lmdb_codes_registered_by_the_store(void **state)
{
    (void)state;
    /* nothing registered yet: lib/ alone cannot name them */
    for (int e = MDB_KEYEXIST; e <= MDB_LAST_ERRCODE; e++)
        assert_string_equal(ot_strerror(e), "unknown error");
    ot_store_register_errors();
    ot_store_register_errors();   /* idempotent */
    for (int e = MDB_KEYEXIST; e <= MDB_LAST_ERRCODE; e++) {
        const char *t = ot_strerror(e);
        assert_string_equal(t, mdb_strerror(e));
        assert_true(strcmp(t, "unknown error") != 0);
    }
    assert_string_equal(ot_strerror(MDB_KEYEXIST - 1), "unknown error");
    assert_string_equal(ot_strerror(-1), "unknown error");

    /* the rules of registration */
    assert_int_equal(ot_error_register_range(-10, -20, s_name_a), EINVAL);     /* lo > hi */
    assert_int_equal(ot_error_register_range(-10, 0, s_name_a), EINVAL);       /* not negative */
    assert_int_equal(ot_error_register_range(-10, -5, NULL), EINVAL);
    assert_int_equal(ot_error_register_range(OT_EBASE - 5, OT_EBASE + 1, s_name_a), EINVAL);
    assert_int_equal(ot_error_register_range(MDB_KEYEXIST - 3, MDB_KEYEXIST, s_name_a), EEXIST);
    assert_int_equal(ot_error_register_range(-200, -100, s_name_a), 0);
    assert_int_equal(ot_error_register_range(-200, -100, s_name_a), 0);        /* same again */
    assert_int_equal(ot_error_register_range(-200, -100, s_name_b), EEXIST);   /* other namer */
    assert_string_equal(ot_strerror(-150), "range A");
    assert_int_equal(ot_error_register_range(-300, -250, s_name_b), 0);
    assert_string_equal(ot_strerror(-260), "range B");
    assert_int_equal(ot_error_register_range(-400, -350, s_name_b), 0);
    assert_int_equal(ot_error_register_range(-500, -450, s_name_b), ENOSPC);   /* 4 taken */
    assert_string_equal(ot_strerror(-460), "unknown error");
    assert_string_equal(ot_strerror(MDB_PANIC), mdb_strerror(MDB_PANIC));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_ot_codes_named),
        cmocka_unit_test(t_errno_named),
        cmocka_unit_test(t_lmdb_codes_registered_by_the_store),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
