/*
 * ot_keys: CURVE key files, in text (Z85, 40 characters a key), in the
 * spirit of czmq's zcert files:
 *
 *   NAME.key (0600, secret):    public-key = "Z85..."
 *                               secret-key = "Z85..."
 *   NAME.pub (0644, shareable): public-key = "Z85..."
 *
 * Lines starting with '#' are comments. No ZeroMQ here: this module only
 * reads and writes the files; secrets never reach a log line.
 */
#ifndef OT_KEYS_H
#define OT_KEYS_H

#include <stddef.h>

#define OT_KEY_Z85_LEN 40

typedef struct ot_keypair {
    char public_key[OT_KEY_Z85_LEN + 1];
    char secret_key[OT_KEY_Z85_LEN + 1];   /* "" when the file holds none */
} ot_keypair;

/* Read a key file. OUT: *out. Returns 0, an errno (file unreadable), or
 * EINVAL (no well-formed public-key line; or need_secret and no secret). */
int
ot_keys_read(const char *path, int need_secret, ot_keypair *out);

/* Write base.key (0600, refusing to overwrite) and base.pub (0644).
 * Returns 0 or an errno (EEXIST when base.key exists). */
int
ot_keys_write(const char *base, const ot_keypair *kp);

/* A set of allowed public keys: every readable key file in a directory
 * (files without a public-key line are ignored). */
typedef struct ot_keyset ot_keyset;

/* OUT: *out, owned, freed with ot_keyset_free. Returns 0, an errno, or
 * ENOENT when the directory holds no key at all (a misconfiguration). */
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
