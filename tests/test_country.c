/*
 * test_country: unit tests of lib/ot_country.c: known codes and names,
 * refused shapes and user-assigned ranges, and the size and order of the
 * table (every one of the 676 two-letter combinations is looked up, so a
 * missing, extra or mis-sorted entry changes the count).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "ot_country.h"

static void
t_known(void **state)
{
    (void)state;
    const char *known[] = {"IQ", "SY", "US", "GB", "PS", "SS", "AD", "ZW", "AF", "YE", "SO", "LY"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (!ot_country_known(known[i]))
            fail_msg("%s should be known", known[i]);
    assert_string_equal(ot_country_name("IQ"), "Iraq");
    assert_string_equal(ot_country_name("SY"), "Syria");
    assert_string_equal(ot_country_name("SS"), "South Sudan");
    assert_string_equal(ot_country_name("AX"), "Åland Islands");
}

static void
t_refused(void **state)
{
    (void)state;
    const char *bad[] = {"ZZ", "XA", "XK", "XZ", "AA", "QM", "QZ", "EU", "UK", "AN",
                         "iq", "Iq", "iQ", "I", "IRQ", "", "I1", "IQ ", " IQ", "I\xc3"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (ot_country_known(bad[i]))
            fail_msg("'%s' should be refused", bad[i]);
        assert_null(ot_country_name(bad[i]));
    }
    assert_false(ot_country_known(NULL));
    assert_null(ot_country_name(NULL));
}

static void
t_table(void **state)
{
    (void)state;
    char cc[3] = {0, 0, 0};
    int n = 0;

    for (cc[0] = 'A'; cc[0] <= 'Z'; cc[0]++) {
        for (cc[1] = 'A'; cc[1] <= 'Z'; cc[1]++) {
            bool user = strcmp(cc, "AA") == 0 || strcmp(cc, "ZZ") == 0 || cc[0] == 'X' ||
                        (cc[0] == 'Q' && cc[1] >= 'M');
            bool known = ot_country_known(cc);
            if (user && known)
                fail_msg("user-assigned %s is known", cc);
            if (known) {
                const char *name = ot_country_name(cc);
                assert_non_null(name);
                assert_true(strlen(name) > 2);
                n++;
            }
        }
    }
    assert_int_equal(n, 249);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_known),
        cmocka_unit_test(t_refused),
        cmocka_unit_test(t_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
