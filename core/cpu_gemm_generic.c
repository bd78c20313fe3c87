/*
 * cpu_gemm_generic.c: portable C GEMM micro-kernels (see cpu_gemm_impl.h for the contract).
 * Written so that a compiler can keep the tile in vector registers with baseline SIMD (SSE2 on
 * x86-64, NEON on arm64); it is the fallback on CPUs without AVX2 and the reference the SIMD
 * kernels are tested against.
 */
#include "cpu_gemm_impl.h"

#include <math.h>

#define MR32 4
#define NR32 16
#define MR64 4
#define NR64 8

/* Points r[i] at row i of A (row i's element p is then r[i][p * step]): rows past m repeat row
 * m - 1 in the row layout, whose results are discarded. */
#define ROWS(MR_, a, rsa, csa, m, r, step)                                                        \
    do {                                                                                          \
        for (int i_ = 0; i_ < (MR_); i_++)                                                        \
            (r)[i_] = (csa) == 1 ? (a) + (i_ < (m) ? i_ : (m)-1) * (rsa) : (a) + i_;              \
        (step) = (csa) == 1 ? 1 : (csa);                                                          \
    } while (0)

static void gemm_f32(int64_t k, const float *a, int64_t rsa, int64_t csa, const float *b,
                     int64_t ldb, float *c, int64_t rsc, int64_t csc, int m, int n, int accum) {
    float acc[MR32][NR32] = {{0}};
    const float *r[MR32];
    int64_t step;
    ROWS(MR32, a, rsa, csa, m, r, step);
    for (int64_t p = 0; p < k; p++, b += ldb)
        for (int i = 0; i < MR32; i++)
            for (int j = 0; j < NR32; j++) acc[i][j] += r[i][p * step] * b[j];
    ILI_GEMM_STORE_TILE(float, &acc[0][0], NR32, c, rsc, csc, m, n, accum);
}

static void gemm_f64(int64_t k, const double *a, int64_t rsa, int64_t csa, const double *b,
                     int64_t ldb, double *c, int64_t rsc, int64_t csc, int m, int n, int accum) {
    double acc[MR64][NR64] = {{0}};
    const double *r[MR64];
    int64_t step;
    ROWS(MR64, a, rsa, csa, m, r, step);
    for (int64_t p = 0; p < k; p++, b += ldb)
        for (int i = 0; i < MR64; i++)
            for (int j = 0; j < NR64; j++) acc[i][j] += r[i][p * step] * b[j];
    ILI_GEMM_STORE_TILE(double, &acc[0][0], NR64, c, rsc, csc, m, n, accum);
}

ILI_GEMM_DEFINE_VEC()

const ili_gemm_kernel ili_gemm_generic = {
    .name = "generic",
    .mr32 = MR32,
    .nr32 = NR32,
    .f32 = gemm_f32,
    .mr64 = MR64,
    .nr64 = NR64,
    .f64 = gemm_f64,
    ILI_GEMM_VEC_FIELDS,
};
