/* ot_hash: SipHash-2-4 (Aumasson & Bernstein), written from the paper. */
#include "ot_hash.h"

#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define S_ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

#define S_ROUND(v0, v1, v2, v3)                                          \
    do {                                                                 \
        v0 += v1; v1 = S_ROTL(v1, 13); v1 ^= v0; v0 = S_ROTL(v0, 32);    \
        v2 += v3; v3 = S_ROTL(v3, 16); v3 ^= v2;                         \
        v0 += v3; v3 = S_ROTL(v3, 21); v3 ^= v0;                         \
        v2 += v1; v1 = S_ROTL(v1, 17); v1 ^= v2; v2 = S_ROTL(v2, 32);    \
    } while (0)

static uint64_t
s_load_le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

uint64_t
ot_hash_sip(const ot_hash_key *k, const void *p, size_t n)
{
    const unsigned char *in = p;
    uint64_t v0 = k->k0 ^ 0x736f6d6570736575ULL;
    uint64_t v1 = k->k1 ^ 0x646f72616e646f6dULL;
    uint64_t v2 = k->k0 ^ 0x6c7967656e657261ULL;
    uint64_t v3 = k->k1 ^ 0x7465646279746573ULL;
    size_t full = n & ~(size_t)7;

    for (size_t i = 0; i < full; i += 8) {
        uint64_t m = s_load_le64(in + i);
        v3 ^= m;
        S_ROUND(v0, v1, v2, v3);
        S_ROUND(v0, v1, v2, v3);
        v0 ^= m;
    }
    /* Last block: the remaining bytes, then the length in the top byte. */
    uint64_t b = (uint64_t)n << 56;
    for (size_t i = 0; i < (n & 7); i++)
        b |= (uint64_t)in[full + i] << (8 * i);
    v3 ^= b;
    S_ROUND(v0, v1, v2, v3);
    S_ROUND(v0, v1, v2, v3);
    v0 ^= b;
    v2 ^= 0xff;
    for (int i = 0; i < 4; i++)
        S_ROUND(v0, v1, v2, v3);
    return v0 ^ v1 ^ v2 ^ v3;
}

void
ot_hash_random_key(ot_hash_key *k)
{
    if (getrandom(k, sizeof *k, 0) == (ssize_t)sizeof *k)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    k->k0 = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ULL ^ (uint64_t)getpid();
    k->k1 = (uint64_t)ts.tv_sec * 0xc2b2ae3d27d4eb4fULL ^ (uint64_t)(uintptr_t)k;
}
