/*
 * ot_keys: key files and allow-lists (see ot_keys.h for the formats and
 * the invariants: secrets only from files their owner alone can read;
 * an allow-list is the *.pub files of its directory and nothing else).
 */
#include "ot_keys.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct ot_keyset {
    char (*keys)[OT_KEY_Z85_LEN + 1];
    size_t n, cap;
};

/* Z85 alphabet check: 0-9 a-z A-Z . - : + = ^ ! / * ? & < > ( ) [ ] { } @ % $ # */
static int
s_z85_ok(const char *s, size_t n)
{
    static const char alpha[] =
        "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
    if (n != OT_KEY_Z85_LEN)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!s[i] || !strchr(alpha, s[i]))
            return 0;
    return 1;
}

/* Parse `name = "value"`; copy value into out when name matches. */
static int
s_line(const char *line, const char *name, char *out)
{
    size_t nl = strlen(name);
    while (*line == ' ' || *line == '\t')
        line++;
    if (strncmp(line, name, nl) != 0)
        return 0;
    line += nl;
    while (*line == ' ' || *line == '\t' || *line == '=')
        line++;
    if (*line != '"')
        return 0;
    const char *end = strchr(line + 1, '"');
    if (!end || !s_z85_ok(line + 1, (size_t)(end - line - 1)))
        return 0;
    memcpy(out, line + 1, OT_KEY_Z85_LEN);
    out[OT_KEY_Z85_LEN] = 0;
    return 1;
}

/* Open path for reading a key file: a regular file, at most
 * OT_KEYS_FILE_MAX bytes. O_NONBLOCK: a FIFO put where a key file should be
 * must not hang the daemon at start (it is refused after fstat). OUT: *f,
 * *mode. Returns 0 or the error of ot_keys_read. */
static int
s_open_key(const char *path, FILE **f, mode_t *mode)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0)
        return errno;
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) != 0)
        rc = errno;
    else if (S_ISDIR(st.st_mode))
        rc = EISDIR;
    else if (!S_ISREG(st.st_mode))
        rc = EINVAL;
    else if (st.st_size > OT_KEYS_FILE_MAX)
        rc = EFBIG;
    if (rc == 0 && !(*f = fdopen(fd, "r")))
        rc = errno;
    if (rc != 0) {
        close(fd);
        return rc;
    }
    *mode = st.st_mode;
    return 0;
}

int
ot_keys_read(const char *path, int need_secret, ot_keypair *out)
{
    memset(out, 0, sizeof *out);
    FILE *f = NULL;
    mode_t mode = 0;
    int rc = s_open_key(path, &f, &mode);
    if (rc != 0)
        return rc;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#')
            continue;
        if (!s_line(line, "public-key", out->public_key))
            s_line(line, "secret-key", out->secret_key);
    }
    fclose(f);
    explicit_bzero(line, sizeof line);   /* it may hold the secret-key line */
    if (!out->public_key[0] || (need_secret && !out->secret_key[0]))
        rc = EINVAL;
    else if (need_secret && (mode & 077))
        rc = EPERM;   /* checked after parsing: a .pub given as a secret says "no secret-key" */
    if (rc != 0)
        explicit_bzero(out, sizeof *out);   /* leave no half-read secret behind */
    return rc;
}

const char *
ot_keys_error_text(const char *path, int need_secret, int rc, char *buf, size_t cap)
{
    struct stat st;
    if (rc == EPERM && stat(path, &st) == 0)
        snprintf(buf, cap, "permissions %04o for '%s' are too open: a secret key must be "
                 "readable by its owner only; chmod 600 %s", (unsigned)(st.st_mode & 07777),
                 path, path);
    else if (rc == EPERM)
        snprintf(buf, cap, "permissions of '%s' are too open: a secret key must be readable "
                 "by its owner only; chmod 600 %s", path, path);
    else if (rc == EINVAL)
        snprintf(buf, cap, "%s", need_secret ? "no public-key and secret-key lines (or not a "
                 "regular file)" : "no public-key line (or not a regular file)");
    else if (rc == EFBIG)
        snprintf(buf, cap, "larger than %d bytes: not a key file", OT_KEYS_FILE_MAX);
    else
        snprintf(buf, cap, "%s", strerror(rc));
    return buf;
}

static int
s_write_file(const char *path, int flags, mode_t mode, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | flags, mode);
    if (fd < 0)
        return errno;
    size_t n = strlen(text);
    int rc = write(fd, text, n) == (ssize_t)n ? 0 : EIO;
    if (fsync(fd) != 0 && rc == 0)
        rc = errno;
    if (close(fd) != 0 && rc == 0)
        rc = errno;
    return rc;
}

int
ot_keys_write(const char *base, const ot_keypair *kp)
{
    char path[4096], text[512];
    snprintf(path, sizeof path, "%s.key", base);
    snprintf(text, sizeof text,
             "# optally CURVE key pair: keep this file secret (mode 0600).\n"
             "# Give %s.pub to the peers that must accept this key.\n"
             "public-key = \"%s\"\nsecret-key = \"%s\"\n", base, kp->public_key, kp->secret_key);
    int rc = s_write_file(path, O_EXCL, 0600, text);
    explicit_bzero(text, sizeof text);   /* a dead store to memset: the compiler may drop it */
    if (rc != 0)
        return rc;
    snprintf(path, sizeof path, "%s.pub", base);
    snprintf(text, sizeof text, "# optally CURVE public key\npublic-key = \"%s\"\n", kp->public_key);
    return s_write_file(path, O_TRUNC, 0644, text);
}

/* Add one public key to the set. Returns 0 or ENOMEM. */
static int
s_keyset_add(ot_keyset *ks, const char *pub)
{
    if (ks->n == ks->cap) {
        size_t cap = ks->cap ? ks->cap * 2 : 16;
        void *k = realloc(ks->keys, cap * sizeof *ks->keys);
        if (!k)
            return ENOMEM;
        ks->keys = k;
        ks->cap = cap;
    }
    memcpy(ks->keys[ks->n++], pub, OT_KEY_Z85_LEN + 1);
    return 0;
}

/* True when name is NAME.pub with a NAME that is not hidden. */
static int
s_is_pub_name(const char *name)
{
    size_t n = strlen(name);
    return name[0] != '.' && n > 4 && strcmp(name + n - 4, ".pub") == 0;
}

/* One entry of the directory: load it or say why not. Returns 0 or ENOMEM. */
static int
s_keyset_entry(ot_keyset *ks, const char *dir, const char *name, ot_keyset_note_fn note, void *ctx)
{
    char path[4096], why[160];
    const char *problem = NULL;
    if (name[0] == '.')
        problem = "a hidden file; only NAME.pub files are read";
    else if (!s_is_pub_name(name))
        problem = "not a NAME.pub file; only NAME.pub files are read";
    if (problem) {
        if (note)
            note(ctx, name, NULL, problem);
        return 0;
    }
    snprintf(path, sizeof path, "%s/%s", dir, name);
    ot_keypair kp;
    int rc = ot_keys_read(path, 0, &kp);
    if (rc != 0) {
        if (note)
            note(ctx, name, NULL, ot_keys_error_text(path, 0, rc, why, sizeof why));
        return 0;
    }
    /* Only the public key is kept; a secret that came along (a NAME.key
     * copied to NAME.pub) is wiped before anything else, and told. */
    char pub[OT_KEY_Z85_LEN + 1];
    int had_secret = kp.secret_key[0] != 0;
    memcpy(pub, kp.public_key, sizeof pub);
    explicit_bzero(&kp, sizeof kp);
    rc = s_keyset_add(ks, pub);
    if (rc == 0 && note)
        note(ctx, name, pub, had_secret ? "it holds a secret key too: a NAME.pub should hold "
             "the public key only (keep the secret in NAME.key, mode 0600, elsewhere)" : NULL);
    return rc;
}

int
ot_keyset_load_noted(const char *dir, ot_keyset_note_fn note, void *ctx, ot_keyset **out)
{
    *out = NULL;
    struct dirent **names;
    int n = scandir(dir, &names, NULL, alphasort);   /* name order: logs read the same each start */
    if (n < 0)
        return errno;
    int rc = 0;
    ot_keyset *ks = calloc(1, sizeof *ks);
    if (!ks)
        rc = ENOMEM;
    for (int i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        if (rc == 0 && strcmp(name, ".") != 0 && strcmp(name, "..") != 0)
            rc = s_keyset_entry(ks, dir, name, note, ctx);
        free(names[i]);
    }
    free(names);
    if (rc == 0 && ks->n == 0)
        rc = ENOENT;
    if (rc != 0) {
        ot_keyset_free(&ks);
        return rc;
    }
    *out = ks;
    return 0;
}

int
ot_keyset_load(const char *dir, ot_keyset **out)
{
    return ot_keyset_load_noted(dir, NULL, NULL, out);
}

int
ot_keyset_has(const ot_keyset *ks, const char *z85)
{
    for (size_t i = 0; i < ks->n; i++)
        if (memcmp(ks->keys[i], z85, OT_KEY_Z85_LEN) == 0)
            return 1;
    return 0;
}

size_t
ot_keyset_count(const ot_keyset *ks)
{
    return ks->n;
}

void
ot_keyset_free(ot_keyset **pks)
{
    ot_keyset *ks = *pks;
    if (!ks)
        return;
    free(ks->keys);
    free(ks);
    *pks = NULL;
}
