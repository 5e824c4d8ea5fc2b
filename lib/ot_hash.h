/*
 * ot_hash: SipHash-2-4, a keyed 64-bit hash. The id index keys its table
 * with a random key per process, so a peer cannot aim event ids at one
 * bucket (hash flooding).
 */
#ifndef OT_HASH_H
#define OT_HASH_H

#include <stddef.h>
#include <stdint.h>

typedef struct ot_hash_key {
    uint64_t k0, k1;
} ot_hash_key;

/* SipHash-2-4 of n bytes at p under key k. */
uint64_t
ot_hash_sip(const ot_hash_key *k, const void *p, size_t n);

/* Fill *k from the system's random source (getrandom); falls back to time
 * and pid mixing only if that fails. */
void
ot_hash_random_key(ot_hash_key *k);

#endif
