/*
 * ot_keys: key files and allow-lists (see ot_keys.h).
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

int
ot_keys_read(const char *path, int need_secret, ot_keypair *out)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "r");
    if (!f)
        return errno;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#')
            continue;
        if (!s_line(line, "public-key", out->public_key))
            s_line(line, "secret-key", out->secret_key);
    }
    fclose(f);
    if (!out->public_key[0] || (need_secret && !out->secret_key[0])) {
        memset(out, 0, sizeof *out);   /* leave no half-read secret behind */
        return EINVAL;
    }
    return 0;
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
    memset(text, 0, sizeof text);
    if (rc != 0)
        return rc;
    snprintf(path, sizeof path, "%s.pub", base);
    snprintf(text, sizeof text, "# optally CURVE public key\npublic-key = \"%s\"\n", kp->public_key);
    return s_write_file(path, O_TRUNC, 0644, text);
}

int
ot_keyset_load(const char *dir, ot_keyset **out)
{
    *out = NULL;
    DIR *d = opendir(dir);
    if (!d)
        return errno;
    ot_keyset *ks = calloc(1, sizeof *ks);
    if (!ks) {
        closedir(d);
        return ENOMEM;
    }
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        ot_keypair kp;
        if (ot_keys_read(path, 0, &kp) != 0)
            continue;
        if (ks->n == ks->cap) {
            size_t cap = ks->cap ? ks->cap * 2 : 16;
            void *k = realloc(ks->keys, cap * sizeof *ks->keys);
            if (!k) {
                rc = ENOMEM;
                break;
            }
            ks->keys = k;
            ks->cap = cap;
        }
        memcpy(ks->keys[ks->n++], kp.public_key, OT_KEY_Z85_LEN + 1);
        memset(&kp, 0, sizeof kp);
    }
    closedir(d);
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
