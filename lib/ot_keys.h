/*
 * ot_keys: CURVE key files, in text (Z85, 40 characters a key), in the
 * spirit of czmq's zcert files:
 *
 *   NAME.key (0600, secret):    public-key = "Z85..."
 *                               secret-key = "Z85..."
 *   NAME.pub (0644, shareable): public-key = "Z85..."
 *
 * Lines starting with '#' are comments. No ZeroMQ here: this module only
 * reads and writes the files; secrets never reach a log line, nor a note
 * given to a caller.
 *
 * Invariants:
 *  - a secret is read only from a regular file that its owner alone may
 *    read or write (mode & 077 == 0), as ssh insists for its private keys:
 *    a secret that others could read is refused, not used;
 *  - an allow-list is exactly the *.pub files of its directory: renaming
 *    NAME.pub to NAME.pub.revoked (or anything else) takes the key out, and
 *    a stray file (NAME.pub.bak, NAME.key, README) never lets a key in.
 */
#ifndef OT_KEYS_H
#define OT_KEYS_H

#include <stddef.h>

#define OT_KEY_Z85_LEN 40
#define OT_KEYS_FILE_MAX 65536   /* larger "key files" are refused (EFBIG) */

typedef struct ot_keypair {
    char public_key[OT_KEY_Z85_LEN + 1];
    char secret_key[OT_KEY_Z85_LEN + 1];   /* "" when the file holds none */
} ot_keypair;

/* Read a key file. OUT: *out (all zero on failure: no half-read secret).
 * Returns 0, an errno (the file cannot be opened; EISDIR, a directory;
 * EFBIG, larger than OT_KEYS_FILE_MAX), EINVAL (not a regular file, no
 * well-formed public-key line; or need_secret and no secret-key line), or,
 * with need_secret, EPERM: the file holds a key pair but its group or
 * others have some access to it (mode & 077); ot_keys_error_text() says
 * which mode and the chmod that fixes it. */
int
ot_keys_read(const char *path, int need_secret, ot_keypair *out);

/* One phrase saying why ot_keys_read(path, need_secret, ...) returned rc,
 * for a person, without the path for the errno cases ("No such file or
 * directory", "no public-key and secret-key lines"); for EPERM a whole
 * sentence in ssh's words: "permissions 0644 for 'x.key' are too open: a
 * secret key must be readable by its owner only; chmod 600 x.key".
 * Writes buf (cap bytes, cap > 0) and returns it. */
const char *
ot_keys_error_text(const char *path, int need_secret, int rc, char *buf, size_t cap);

/* Write base.key (0600, refusing to overwrite) and base.pub (0644).
 * Returns 0 or an errno (EEXIST when base.key exists). */
int
ot_keys_write(const char *base, const ot_keypair *kp);

/* A set of allowed public keys: the *.pub files of a directory. */
typedef struct ot_keyset ot_keyset;

/* What ot_keyset_load_noted tells about each entry of the directory (but
 * "." and ".."), in name order: file is the entry's name (borrowed for the
 * call). public_key non-NULL: the key was loaded (problem, when non-NULL,
 * is a warning about that file). public_key NULL: the entry was ignored,
 * and problem says why. Never given a secret. */
typedef void (*ot_keyset_note_fn)(void *ctx, const char *file, const char *public_key,
                                  const char *problem);

/* Load the public keys of every NAME.pub regular file in dir (not hidden:
 * NAME does not start with '.'). Other entries are ignored (and noted): a
 * file with another name, a hidden file, a directory, a NAME.pub without a
 * well-formed public-key line. note may be NULL. OUT: *out, owned, freed
 * with ot_keyset_free (NULL on failure). Returns 0, an errno (dir cannot be
 * read), or ENOENT when no key was loaded (a misconfiguration: nobody could
 * connect). */
int
ot_keyset_load_noted(const char *dir, ot_keyset_note_fn note, void *ctx, ot_keyset **out);

/* ot_keyset_load_noted without notes. */
int
ot_keyset_load(const char *dir, ot_keyset **out);

/* True when the Z85 public key z85 (40 chars) is in the set. */
int
ot_keyset_has(const ot_keyset *ks, const char *z85);

size_t
ot_keyset_count(const ot_keyset *ks);

void
ot_keyset_free(ot_keyset **ks);

#endif
