/*
 * test_keyset: the hardening of CURVE keys (issue 10, item 4), on real
 * files in a temporary directory and real sockets in one process.
 *  - an allow-list is exactly the NAME.pub files of its directory:
 *    NAME.pub.revoked, NAME.pub.bak, NAME.key, a hidden .NAME.pub, a
 *    directory called x.pub, a FIFO called f.pub (which must not hang the
 *    load) and a malformed NAME.pub are ignored, and each one is noted with
 *    its reason; each key loaded is noted with its file and public key, and
 *    no note ever holds a secret;
 *  - a secret key file that its group or others may access is refused
 *    (EPERM) with ssh's words ("permissions 0644 for 'x' are too open ...
 *    chmod 600 x"), by ot_keys_read and by ot_auth_start; 0600 and 0400
 *    are fine; a .pub needs no such mode;
 *  - a file larger than OT_KEYS_FILE_MAX is not a key file;
 *  - the ZAP handler tells refused handshakes on stderr, naming domain,
 *    address and client key, at most one line a second however many
 *    clients it refuses, and every refusal is counted in some line.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>

#include "ot_auth.h"
#include "ot_clock.h"
#include "ot_keys.h"
#include "ot_testdata.h"

#define K_WAIT_MS 10000     /* a step that should happen gives up after this */

typedef ot_test_dir k_fix;

static int
s_setup(void **state)
{
    *state = ot_test_dir_new("keyset");
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
s_write(k_fix *f, const char *name, const char *text, mode_t mode)
{
    int fd = open(s_path(f, name), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    assert_int_equal(close(fd), 0);
    assert_int_equal(chmod(f->path, mode), 0);
}

static void
s_keygen(ot_keypair *kp)
{
    memset(kp, 0, sizeof *kp);
    assert_int_equal(zmq_curve_keypair(kp->public_key, kp->secret_key), 0);
}

/* A public-key line for kp, as NAME.pub holds it. */
static const char *
s_pub_text(const ot_keypair *kp, char *buf, size_t cap)
{
    snprintf(buf, cap, "# optally CURVE public key\npublic-key = \"%s\"\n", kp->public_key);
    return buf;
}

/* ---- the notes of a load ---------------------------------------------- */

typedef struct k_notes {
    char text[8192];            /* "file|key-or-IGNORED|problem\n" lines */
    int loaded, ignored;
} k_notes;

static void
s_note(void *ctx, const char *file, const char *public_key, const char *problem)
{
    k_notes *n = ctx;
    size_t len = strlen(n->text);
    snprintf(n->text + len, sizeof n->text - len, "%s|%s|%s\n", file,
             public_key ? public_key : "IGNORED", problem ? problem : "");
    if (public_key)
        n->loaded++;
    else
        n->ignored++;
}

/* The note line of file, or NULL. */
static const char *
s_note_of(const k_notes *n, const char *file, char *line, size_t cap)
{
    char head[128];
    snprintf(head, sizeof head, "%s|", file);
    for (const char *p = n->text; *p; p = strchr(p, '\n') + 1) {
        if (strncmp(p, head, strlen(head)) == 0) {
            size_t l = (size_t)(strchr(p, '\n') - p);
            snprintf(line, cap, "%.*s", (int)l, p);
            return line;
        }
    }
    return NULL;
}

static void
t_only_pub_files(void **state)
{
    k_fix *f = *state;
    ot_keypair good, revoked, bak, keyfile, hidden, other;
    s_keygen(&good);
    s_keygen(&revoked);
    s_keygen(&bak);
    s_keygen(&keyfile);
    s_keygen(&hidden);
    s_keygen(&other);
    char text[512], line[512];
    s_write(f, "scraper2.pub", s_pub_text(&good, text, sizeof text), 0644);
    /* The operator's ways of taking a key out, or of leaving one around. */
    s_write(f, "scraper1.pub.revoked", s_pub_text(&revoked, text, sizeof text), 0644);
    s_write(f, "intruder.pub.bak", s_pub_text(&bak, text, sizeof text), 0644);
    s_write(f, ".old.pub", s_pub_text(&hidden, text, sizeof text), 0644);
    snprintf(text, sizeof text, "public-key = \"%s\"\nsecret-key = \"%s\"\n", keyfile.public_key,
             keyfile.secret_key);
    s_write(f, "mine.key", text, 0600);
    s_write(f, "README", "put one NAME.pub per producer here\n", 0644);
    s_write(f, "broken.pub", "public-key = \"short\"\n", 0644);
    assert_int_equal(mkdir(s_path(f, "dir.pub"), 0700), 0);
    assert_int_equal(mkfifo(s_path(f, "pipe.pub"), 0600), 0);   /* opening it must not block */

    k_notes n;
    memset(&n, 0, sizeof n);
    ot_keyset *ks = NULL;
    assert_int_equal(ot_keyset_load_noted(f->dir, s_note, &n, &ks), 0);
    assert_non_null(ks);
    assert_int_equal(ot_keyset_count(ks), 1);
    assert_true(ot_keyset_has(ks, good.public_key));
    assert_false(ot_keyset_has(ks, revoked.public_key));
    assert_false(ot_keyset_has(ks, bak.public_key));
    assert_false(ot_keyset_has(ks, keyfile.public_key));
    assert_false(ot_keyset_has(ks, hidden.public_key));
    ot_keyset_free(&ks);
    assert_null(ks);

    /* Every entry is noted: one loaded, with its key; the rest ignored,
     * each with a reason. */
    assert_int_equal(n.loaded, 1);
    assert_int_equal(n.ignored, 8);
    assert_non_null(s_note_of(&n, "scraper2.pub", line, sizeof line));
    assert_non_null(strstr(line, good.public_key));
    const char *ignored[] = { "scraper1.pub.revoked", "intruder.pub.bak", ".old.pub", "mine.key",
                              "README", "broken.pub", "dir.pub", "pipe.pub" };
    for (size_t i = 0; i < sizeof ignored / sizeof ignored[0]; i++) {
        if (!s_note_of(&n, ignored[i], line, sizeof line))
            fail_msg("no note about %s:\n%s", ignored[i], n.text);
        assert_non_null(strstr(line, "|IGNORED|"));
        assert_true(strlen(strstr(line, "|IGNORED|")) > strlen("|IGNORED|"));   /* a reason */
    }
    assert_non_null(strstr(s_note_of(&n, "scraper1.pub.revoked", line, sizeof line), "NAME.pub"));
    /* No note holds a secret. */
    assert_null(strstr(n.text, keyfile.secret_key));

    /* ot_keyset_load (no notes) loads the same set. */
    assert_int_equal(ot_keyset_load(f->dir, &ks), 0);
    assert_int_equal(ot_keyset_count(ks), 1);
    ot_keyset_free(&ks);

    /* Revoking the last key by renaming it leaves no key: ENOENT. */
    char from[256];
    snprintf(from, sizeof from, "%s", s_path(f, "scraper2.pub"));
    assert_int_equal(rename(from, s_path(f, "scraper2.pub.revoked")), 0);
    memset(&n, 0, sizeof n);
    assert_int_equal(ot_keyset_load_noted(f->dir, s_note, &n, &ks), ENOENT);
    assert_null(ks);
    assert_int_equal(n.loaded, 0);
    assert_int_equal(n.ignored, 9);
}

/* A NAME.pub that holds a secret too (a NAME.key copied by mistake) is
 * loaded for its public key, and noted with a warning that does not show
 * the secret. */
static void
t_pub_with_secret_warned(void **state)
{
    k_fix *f = *state;
    ot_keypair kp;
    s_keygen(&kp);
    char text[512], line[512];
    snprintf(text, sizeof text, "public-key = \"%s\"\nsecret-key = \"%s\"\n", kp.public_key,
             kp.secret_key);
    s_write(f, "copied.pub", text, 0644);
    k_notes n;
    memset(&n, 0, sizeof n);
    ot_keyset *ks = NULL;
    assert_int_equal(ot_keyset_load_noted(f->dir, s_note, &n, &ks), 0);
    assert_true(ot_keyset_has(ks, kp.public_key));
    ot_keyset_free(&ks);
    assert_non_null(s_note_of(&n, "copied.pub", line, sizeof line));
    assert_non_null(strstr(line, "secret"));
    assert_null(strstr(n.text, kp.secret_key));
}

static void
t_secret_file_mode(void **state)
{
    k_fix *f = *state;
    ot_keypair kp, back;
    s_keygen(&kp);
    char text[512], why[512];
    snprintf(text, sizeof text, "public-key = \"%s\"\nsecret-key = \"%s\"\n", kp.public_key,
             kp.secret_key);
    static const struct { mode_t mode; int want; } cases[] = {
        { 0600, 0 }, { 0400, 0 }, { 0644, EPERM }, { 0640, EPERM }, { 0604, EPERM },
        { 0660, EPERM }, { 0620, EPERM }, { 0601, EPERM },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        s_write(f, "x.key", text, cases[i].mode);
        memset(&back, 'x', sizeof back);
        int rc = ot_keys_read(s_path(f, "x.key"), 1, &back);
        if (rc != cases[i].want)
            fail_msg("mode %04o: ot_keys_read %d, want %d", (unsigned)cases[i].mode, rc, cases[i].want);
        if (rc == 0) {
            assert_string_equal(back.secret_key, kp.secret_key);
            continue;
        }
        /* Refused: nothing of the secret handed out. */
        ot_keypair zero;
        memset(&zero, 0, sizeof zero);
        assert_memory_equal(&back, &zero, sizeof back);
        ot_keys_error_text(f->path, 1, rc, why, sizeof why);
        char want[512];
        snprintf(want, sizeof want, "permissions %04o for '%s' are too open", (unsigned)cases[i].mode,
                 f->path);
        if (!strstr(why, want) || !strstr(why, "chmod 600"))
            fail_msg("mode %04o: message '%s'", (unsigned)cases[i].mode, why);
    }
    /* Only a secret needs the mode: the public key of a 0644 file is fine. */
    s_write(f, "x.key", text, 0644);
    assert_int_equal(ot_keys_read(f->path, 0, &back), 0);
    assert_string_equal(back.public_key, kp.public_key);
    /* A .pub given where a secret is needed still says what is missing. */
    s_write(f, "x.pub", s_pub_text(&kp, text, sizeof text), 0644);
    assert_int_equal(ot_keys_read(f->path, 1, &back), EINVAL);
}

/* The consumer's side: ot_auth_start refuses a server key pair that others
 * can read, naming the file, its mode and the fix. */
static void
t_auth_refuses_open_server_key(void **state)
{
    k_fix *f = *state;
    ot_keypair server, client;
    s_keygen(&server);
    s_keygen(&client);
    char text[512], key[256], allow[256], err[512];
    assert_int_equal(mkdir(s_path(f, "allow"), 0700), 0);
    snprintf(allow, sizeof allow, "%s", f->path);
    s_write(f, "allow/client.pub", s_pub_text(&client, text, sizeof text), 0644);
    snprintf(text, sizeof text, "public-key = \"%s\"\nsecret-key = \"%s\"\n", server.public_key,
             server.secret_key);
    s_write(f, "server.key", text, 0644);
    snprintf(key, sizeof key, "%s", f->path);
    void *ctx = zmq_ctx_new();
    assert_non_null(ctx);
    ot_auth *a = NULL;
    ot_auth_options o = { .curve_secret = key, .allow_keys = allow };
    err[0] = 0;
    assert_int_equal(ot_auth_start(ctx, &o, &a, err, sizeof err), EPERM);
    assert_null(a);
    char want[512];
    snprintf(want, sizeof want, "permissions 0644 for '%s' are too open", key);
    if (!strstr(err, want) || !strstr(err, "chmod 600"))
        fail_msg("message: %s", err);
    assert_null(strstr(err, server.secret_key));
    /* chmod 600, as told: accepted. */
    assert_int_equal(chmod(key, 0600), 0);
    assert_int_equal(ot_auth_start(ctx, &o, &a, err, sizeof err), 0);
    assert_non_null(a);
    ot_auth_stop(&a);
    zmq_ctx_term(ctx);
}

static void
t_huge_file_refused(void **state)
{
    k_fix *f = *state;
    ot_keypair kp, back;
    s_keygen(&kp);
    size_t n = OT_KEYS_FILE_MAX + 100;
    char *big = malloc(n + 1);
    assert_non_null(big);
    memset(big, '#', n);
    big[n] = 0;
    char line[128];
    int l = snprintf(line, sizeof line, "public-key = \"%s\"\n", kp.public_key);
    memcpy(big, line, (size_t)l);   /* a good line first: refused for its size all the same */
    s_write(f, "big.pub", big, 0644);
    free(big);
    assert_int_equal(ot_keys_read(s_path(f, "big.pub"), 0, &back), EFBIG);
}

/* ---- the refusal log of the ZAP handler -------------------------------- */

/* Lines of text that contain "refused N CURVE handshake": OUT: *sum of N. */
static int
s_refusal_lines(const char *text, unsigned long long *sum)
{
    int lines = 0;
    *sum = 0;
    for (const char *p = strstr(text, "refused "); p; p = strstr(p + 1, "refused ")) {
        unsigned long long v;
        char word[16];
        if (sscanf(p, "refused %llu CURVE %15s", &v, word) == 2 && strncmp(word, "handshake", 9) == 0) {
            lines++;
            *sum += v;
        }
    }
    return lines;
}

static void
t_refusals_logged_rate_limited(void **state)
{
    k_fix *f = *state;
    enum { N_CLIENTS = 40 };
    ot_keypair server, allowed, stranger;
    s_keygen(&server);
    s_keygen(&allowed);
    s_keygen(&stranger);
    char text[512], key[256], allow[256], logpath[256];
    assert_int_equal(mkdir(s_path(f, "allow"), 0700), 0);
    snprintf(allow, sizeof allow, "%s", f->path);
    s_write(f, "allow/allowed.pub", s_pub_text(&allowed, text, sizeof text), 0644);
    snprintf(text, sizeof text, "public-key = \"%s\"\nsecret-key = \"%s\"\n", server.public_key,
             server.secret_key);
    s_write(f, "server.key", text, 0600);
    snprintf(key, sizeof key, "%s", f->path);
    snprintf(logpath, sizeof logpath, "%s", s_path(f, "stderr.log"));

    /* stderr into a file for the length of the test. */
    fflush(stderr);
    int saved = dup(2);
    int logfd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(saved >= 0 && logfd >= 0);
    assert_int_equal(dup2(logfd, 2), 2);
    close(logfd);

    void *ctx = zmq_ctx_new();
    ot_auth *a = NULL;
    ot_auth_options o = { .curve_secret = key, .allow_keys = allow };
    char err[512] = "";
    int rc = ot_auth_start(ctx, &o, &a, err, sizeof err);
    void *router = zmq_socket(ctx, ZMQ_ROUTER);
    char ep[64] = "";
    size_t eplen = sizeof ep;
    if (rc == 0 && ot_auth_apply(a, router, OT_AUTH_DOMAIN_INGEST) == 0 &&
        zmq_bind(router, "tcp://127.0.0.1:*") == 0)
        zmq_getsockopt(router, ZMQ_LAST_ENDPOINT, ep, &eplen);
    int64_t t0 = ot_clock_mono_ms();
    void *clients[N_CLIENTS] = { 0 };
    void *cctx = zmq_ctx_new();
    for (int i = 0; ep[0] && i < N_CLIENTS; i++) {
        clients[i] = zmq_socket(cctx, ZMQ_DEALER);
        int zero = 0;
        zmq_setsockopt(clients[i], ZMQ_LINGER, &zero, sizeof zero);
        zmq_setsockopt(clients[i], ZMQ_CURVE_SERVERKEY, server.public_key, OT_KEY_Z85_LEN + 1);
        zmq_setsockopt(clients[i], ZMQ_CURVE_PUBLICKEY, stranger.public_key, OT_KEY_Z85_LEN + 1);
        zmq_setsockopt(clients[i], ZMQ_CURVE_SECRETKEY, stranger.secret_key, OT_KEY_Z85_LEN + 1);
        zmq_connect(clients[i], ep);
    }
    /* Wait (bounded) until the handler has refused every client once. */
    uint64_t acc = 0, ref = 0;
    while (ep[0] && ref < N_CLIENTS && ot_clock_mono_ms() - t0 < K_WAIT_MS) {
        struct timespec ts = { 0, 10 * 1000 * 1000 };
        nanosleep(&ts, NULL);   /* polling a counter: no event to wait on */
        ot_auth_counts(a, &acc, &ref);
    }
    int64_t t_refused = ot_clock_mono_ms();
    /* What is on stderr right now: the burst was rate-limited. */
    fflush(stderr);
    char *mid = NULL;
    {
        FILE *lf = fopen(logpath, "r");
        mid = calloc(1, 65536);
        if (lf && mid && fread(mid, 1, 65535, lf) == 0)
            mid[0] = 0;
        if (lf)
            fclose(lf);
    }
    for (int i = 0; i < N_CLIENTS; i++)
        if (clients[i])
            zmq_close(clients[i]);
    zmq_ctx_term(cctx);
    zmq_close(router);
    ot_auth_counts(a, &acc, &ref);
    ot_auth_stop(&a);           /* tells what is still pending */
    int64_t t_end = ot_clock_mono_ms();
    zmq_ctx_term(ctx);
    fflush(stderr);
    assert_int_equal(dup2(saved, 2), 2);
    close(saved);

    assert_int_equal(rc, 0);
    assert_true(ep[0] != 0);
    assert_non_null(mid);
    FILE *lf = fopen(logpath, "r");
    assert_non_null(lf);
    char *all = calloc(1, 65536);
    assert_non_null(all);
    if (fread(all, 1, 65535, lf) == 0)
        all[0] = 0;
    fclose(lf);
    fprintf(stderr, "captured stderr:\n%s", all);
    if (ref < N_CLIENTS)
        fail_msg("only %llu of %d clients refused in %d ms", (unsigned long long)ref, N_CLIENTS,
                 K_WAIT_MS);

    unsigned long long sum_mid, sum_all;
    int lines_mid = s_refusal_lines(mid, &sum_mid);
    int lines_all = s_refusal_lines(all, &sum_all);
    /* At most one line a second (plus the first), while the burst ran and
     * in all. */
    int64_t max_mid = 1 + (t_refused - t0) / OT_AUTH_REFUSAL_LOG_MS + 1;
    int64_t max_all = 1 + (t_end - t0) / OT_AUTH_REFUSAL_LOG_MS + 1;
    if (lines_mid > max_mid || lines_all > max_all)
        fail_msg("%d lines in %lld ms and %d in %lld ms: not rate-limited", lines_mid,
                 (long long)(t_refused - t0), lines_all, (long long)(t_end - t0));
    assert_true(lines_mid >= 1);        /* the first refusal is told at once */
    assert_true(lines_all < N_CLIENTS);
    /* Every refusal is counted in some line, once the handler stopped (a
     * handshake torn down while the sockets closed may add one after ref
     * was read: at least ref, never fewer). */
    if (sum_all < ref)
        fail_msg("the lines count %llu refusals, the handler %llu", sum_all, (unsigned long long)ref);
    /* The line names the domain, the address and the client's key. */
    assert_non_null(strstr(all, "domain 'ingest'"));
    assert_non_null(strstr(all, "address 127.0.0.1"));
    assert_non_null(strstr(all, stranger.public_key));
    assert_non_null(strstr(all, "not in --allow-keys"));
    /* The load was told too: the allowed key and its file, no secret. */
    assert_non_null(strstr(all, allowed.public_key));
    assert_non_null(strstr(all, "allowed.pub"));
    assert_null(strstr(all, server.secret_key));
    assert_null(strstr(all, stranger.secret_key));
    free(mid);
    free(all);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(t_only_pub_files, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_pub_with_secret_warned, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_secret_file_mode, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_auth_refuses_open_server_key, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_huge_file_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(t_refusals_logged_rate_limited, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
