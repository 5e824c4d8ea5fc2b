/*
 * test_keys: lib/ot_keys.c, the CURVE key files and allow-lists, on real
 * files in a temporary directory.
 *  - a key pair made by libzmq (what `optally keygen` does) is written and
 *    read back unchanged, the secret only from NAME.key;
 *  - NAME.key is 0600 and NAME.pub 0644 whatever the umask, and an existing
 *    NAME.key is never overwritten;
 *  - files that are missing, empty, with a malformed key or without the
 *    secret asked for are refused (errno or EINVAL) and leave no half-read
 *    secret in the output;
 *  - an allow-list directory loads every NAME.pub file, ignores other files, and
 *    a directory without keys is refused (ENOENT).
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
#include <sys/stat.h>
#include <unistd.h>

#include <zmq.h>

#include "ot_keys.h"
#include "ot_testdata.h"

typedef ot_test_dir k_fix;

static int
s_setup(void **state)
{
    *state = ot_test_dir_new("keys");
    return 0;
}

static int
s_teardown(void **state)
{
    k_fix *f = *state;
    ot_test_dir_free(&f);
    return 0;
}

/* f->path = dir/name */
static const char *
s_path(k_fix *f, const char *name)
{
    return ot_test_dir_path(f, name);
}

static void
s_write(k_fix *f, const char *name, const char *text)
{
    FILE *fp = fopen(s_path(f, name), "w");
    assert_non_null(fp);
    assert_int_equal(fputs(text, fp) >= 0, 1);
    assert_int_equal(fclose(fp), 0);
}

static void
s_keygen(ot_keypair *kp)
{
    memset(kp, 0, sizeof *kp);
    assert_int_equal(zmq_curve_keypair(kp->public_key, kp->secret_key), 0);
    assert_int_equal(strlen(kp->public_key), OT_KEY_Z85_LEN);
}

static void
t_round_trip(void **state)
{
    k_fix *f = *state;
    ot_keypair kp, back;
    s_keygen(&kp);
    assert_int_equal(ot_keys_write(s_path(f, "server"), &kp), 0);

    assert_int_equal(ot_keys_read(s_path(f, "server.key"), 1, &back), 0);
    assert_string_equal(back.public_key, kp.public_key);
    assert_string_equal(back.secret_key, kp.secret_key);

    /* The .pub holds the public key only. */
    assert_int_equal(ot_keys_read(s_path(f, "server.pub"), 0, &back), 0);
    assert_string_equal(back.public_key, kp.public_key);
    assert_string_equal(back.secret_key, "");
    assert_int_equal(ot_keys_read(s_path(f, "server.pub"), 1, &back), EINVAL);
    FILE *fp = fopen(s_path(f, "server.pub"), "r");
    assert_non_null(fp);
    char text[512];
    size_t n = fread(text, 1, sizeof text - 1, fp);
    fclose(fp);
    text[n] = 0;
    assert_null(strstr(text, kp.secret_key));
    assert_null(strstr(text, "secret-key"));

    /* The secret read back is the pair's: libzmq derives the same public key. */
    assert_int_equal(ot_keys_read(s_path(f, "server.key"), 1, &back), 0);
    char derived[OT_KEY_Z85_LEN + 1];
    assert_int_equal(zmq_curve_public(derived, back.secret_key), 0);
    assert_string_equal(derived, kp.public_key);
}

static void
t_permissions_and_no_overwrite(void **state)
{
    k_fix *f = *state;
    ot_keypair kp, other, back;
    s_keygen(&kp);
    s_keygen(&other);
    mode_t old = umask(0);      /* the modes must come from the code, not the umask */
    int rc = ot_keys_write(s_path(f, "a"), &kp);
    umask(old);
    assert_int_equal(rc, 0);
    struct stat st;
    assert_int_equal(stat(s_path(f, "a.key"), &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(stat(s_path(f, "a.pub"), &st), 0);
    assert_int_equal(st.st_mode & 07777, 0644);

    /* Never overwrite a secret: EEXIST, and the old pair is still there. */
    assert_int_equal(ot_keys_write(s_path(f, "a"), &other), EEXIST);
    assert_int_equal(ot_keys_read(s_path(f, "a.key"), 1, &back), 0);
    assert_string_equal(back.secret_key, kp.secret_key);
    assert_int_equal(ot_keys_read(s_path(f, "a.pub"), 0, &back), 0);
    assert_string_equal(back.public_key, kp.public_key);

    /* A directory that does not exist: the errno. */
    assert_int_equal(ot_keys_write(s_path(f, "no/such/dir/b"), &kp), ENOENT);
}

static void
t_bad_files_refused(void **state)
{
    k_fix *f = *state;
    ot_keypair kp, back;
    s_keygen(&kp);
    char text[512];

    memset(&back, 'x', sizeof back);
    assert_int_equal(ot_keys_read(s_path(f, "missing.key"), 0, &back), ENOENT);

    s_write(f, "empty.key", "");
    assert_int_equal(ot_keys_read(s_path(f, "empty.key"), 0, &back), EINVAL);

    /* 39 characters, a character outside Z85, no quotes, only a comment. */
    char short_key[OT_KEY_Z85_LEN];
    memcpy(short_key, kp.public_key, OT_KEY_Z85_LEN - 1);
    short_key[OT_KEY_Z85_LEN - 1] = 0;
    snprintf(text, sizeof text, "public-key = \"%s\"\n", short_key);
    s_write(f, "short.pub", text);
    assert_int_equal(ot_keys_read(s_path(f, "short.pub"), 0, &back), EINVAL);

    char bad[OT_KEY_Z85_LEN + 1];
    memcpy(bad, kp.public_key, sizeof bad);
    bad[7] = ',';                           /* not in the Z85 alphabet */
    snprintf(text, sizeof text, "public-key = \"%s\"\n", bad);
    s_write(f, "alpha.pub", text);
    assert_int_equal(ot_keys_read(s_path(f, "alpha.pub"), 0, &back), EINVAL);

    snprintf(text, sizeof text, "public-key = %s\n", kp.public_key);
    s_write(f, "unquoted.pub", text);
    assert_int_equal(ot_keys_read(s_path(f, "unquoted.pub"), 0, &back), EINVAL);

    snprintf(text, sizeof text, "# public-key = \"%s\"\n", kp.public_key);
    s_write(f, "comment.pub", text);
    assert_int_equal(ot_keys_read(s_path(f, "comment.pub"), 0, &back), EINVAL);

    /* A secret without its public key: refused, and nothing half-read is
     * left in the output. */
    snprintf(text, sizeof text, "secret-key = \"%s\"\n", kp.secret_key);
    s_write(f, "secret-only.key", text);
    memset(&back, 'x', sizeof back);
    assert_int_equal(ot_keys_read(s_path(f, "secret-only.key"), 1, &back), EINVAL);
    ot_keypair zero;
    memset(&zero, 0, sizeof zero);
    assert_memory_equal(&back, &zero, sizeof back);

    /* Whitespace and comments around well-formed lines are fine. */
    snprintf(text, sizeof text, "# a comment\n\n  public-key=\"%s\"\n\tsecret-key = \"%s\"\n",
             kp.public_key, kp.secret_key);
    s_write(f, "spaced.key", text);
    /* A secret others can read is refused (as ssh does), then accepted at 0600. */
    assert_int_equal(chmod(s_path(f, "spaced.key"), 0644), 0);
    assert_int_equal(ot_keys_read(s_path(f, "spaced.key"), 1, &back), EPERM);
    assert_int_equal(chmod(s_path(f, "spaced.key"), 0600), 0);
    assert_int_equal(ot_keys_read(s_path(f, "spaced.key"), 1, &back), 0);
    assert_string_equal(back.public_key, kp.public_key);
    assert_string_equal(back.secret_key, kp.secret_key);

    /* A directory is not a key file. */
    assert_int_not_equal(ot_keys_read(f->dir, 0, &back), 0);
}

static void
t_keyset(void **state)
{
    k_fix *f = *state;
    ot_keyset *ks = (ot_keyset *)&ks;
    /* No key in the directory: a misconfiguration, refused. */
    assert_int_equal(ot_keyset_load(f->dir, &ks), ENOENT);
    assert_null(ks);
    assert_int_equal(ot_keyset_load(s_path(f, "nope"), &ks), ENOENT);

    ot_keypair a, b, c;
    s_keygen(&a);
    s_keygen(&b);
    s_keygen(&c);
    assert_int_equal(ot_keys_write(s_path(f, "a"), &a), 0);    /* a.key and a.pub */
    assert_int_equal(ot_keys_write(s_path(f, "b"), &b), 0);
    assert_int_equal(unlink(s_path(f, "b.key")), 0);          /* only b.pub */
    s_write(f, "README", "not a key\n");
    s_write(f, ".hidden.pub", "public-key = \"0000000000000000000000000000000000000000\"\n");

    assert_int_equal(ot_keyset_load(f->dir, &ks), 0);
    /* a.pub names a, b.pub names b; a.key (not NAME.pub), README and the
     * dot file are ignored. */
    assert_int_equal(ot_keyset_count(ks), 2);
    assert_true(ot_keyset_has(ks, a.public_key));
    assert_true(ot_keyset_has(ks, b.public_key));
    assert_false(ot_keyset_has(ks, c.public_key));
    assert_false(ot_keyset_has(ks, "0000000000000000000000000000000000000000"));
    /* A secret key is not an allowed public key. */
    assert_false(ot_keyset_has(ks, a.secret_key));
    ot_keyset_free(&ks);
    assert_null(ks);
    ot_keyset_free(&ks);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(t_round_trip, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_permissions_and_no_overwrite, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_bad_files_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_keyset, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
