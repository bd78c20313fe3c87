/*
 * rng.c: the context's random generator, xoshiro256** (Blackman and Vigna) seeded through
 * splitmix64, so every seed, 0 included, gives a well-mixed state.
 */
#include "il_impl.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void ili_rng_seed(ili_rng *r, uint64_t seed) {
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

uint64_t ili_rng_next(ili_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double ili_rng_uniform(ili_rng *r) {
    return (double)(ili_rng_next(r) >> 11) * 0x1.0p-53;
}

/* Box-Muller without caching the second value, so the stream depends only on the draw count. */
double ili_rng_normal(ili_rng *r) {
    double u1 = 1.0 - ili_rng_uniform(r); /* (0, 1]: log is finite */
    double u2 = ili_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}
