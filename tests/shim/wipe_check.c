/*
 * wipe_check: secrets are wiped before their memory is freed, in an
 * optimised build (tests/cmake/h1.cmake builds consumer/ot_auth.c and
 * lib/ot_keys.c again at -O2, without sanitizers, as a release build has
 * them).
 *
 * Why a build of its own: a memset just before free is a dead store, and
 * at -O2 GCC removes it (it did, in ot_auth_stop); at -O0 it stays, so the
 * unit tests' debug build cannot tell. The program is linked with
 * -Wl,--wrap=free: every free() of those two files passes through
 * __wrap_free, which looks for the server's secret key (its Z85 text) in
 * the block being freed before freeing it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <malloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "ot_auth.h"
#include "ot_keys.h"

void __wrap_free(void *p);
void __real_free(void *p);

static char s_secret[OT_KEY_Z85_LEN + 1];
static int s_found;      /* frees of a block still holding the secret */
static int s_checked;    /* blocks looked at */

void
__wrap_free(void *p)
{
    if (p && s_secret[0]) {
        size_t n = malloc_usable_size(p);
        s_checked++;
        if (memmem(p, n, s_secret, OT_KEY_Z85_LEN) != NULL)
            s_found++;
    }
    __real_free(p);
}

/* ot_auth_stop frees the handle that held the server's key pair: the
 * secret must be gone from it by then. */
static void
test_auth_stop_wipes_secret(void **state)
{
    (void)state;
    char dir[] = "/tmp/ot-wipe.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char allow[64], base[96], keyfile[128];
    snprintf(allow, sizeof allow, "%s/allow", dir);
    assert_int_equal(mkdir(allow, 0700), 0);
    snprintf(base, sizeof base, "%s/server", dir);
    snprintf(keyfile, sizeof keyfile, "%s.key", base);
    ot_keypair kp;
    assert_int_equal(zmq_curve_keypair(kp.public_key, kp.secret_key), 0);
    assert_int_equal(ot_keys_write(base, &kp), 0);
    char pubsrc[128], pubdst[128];
    snprintf(pubsrc, sizeof pubsrc, "%s.pub", base);
    snprintf(pubdst, sizeof pubdst, "%s/server.pub", allow);
    assert_int_equal(rename(pubsrc, pubdst), 0);
    memcpy(s_secret, kp.secret_key, sizeof s_secret);

    void *ctx = zmq_ctx_new();
    ot_auth_options ao = { keyfile, allow, NULL };
    ot_auth *a = NULL;
    char err[256] = "";
    int rc = ot_auth_start(ctx, &ao, &a, err, sizeof err);
    if (rc != 0)
        fail_msg("ot_auth_start: %d %s", rc, err);
    s_found = s_checked = 0;
    ot_auth_stop(&a);
    assert_null(a);
    int found = s_found, checked = s_checked;
    s_secret[0] = 0;
    zmq_ctx_term(ctx);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    assert_true(checked > 0);   /* the wrap is in place: frees were seen */
    if (found)
        fail_msg("%d freed block(s) still held the server's secret key (a wipe the compiler "
                 "dropped?)", found);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auth_stop_wipes_secret),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
