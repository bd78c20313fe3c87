/*
 * cpu_gemm_avx2.c: AVX2 + FMA GEMM micro-kernels (contract in cpu_gemm_impl.h). Compiled with
 * -mavx2 -mfma; cpu_matmul.c only calls them when the CPU reports both.
 *
 * Tiles: f32 6 x 16 and f64 6 x 8, i.e. 6 x 2 ymm accumulators: 12 of the 16 registers, plus
 * two B vectors and one broadcast, the classic Haswell-era shape (12 FMA chains cover the FMA
 * latency x throughput product of 2 pipes x 4-5 cycles).
 */
#include "cpu_gemm_impl.h"

#include <math.h>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

#define MR 6
#define NV 2
#define NR32 (8 * NV)
#define NR64 (4 * NV)

static void gemm_f32(int64_t k, const float *a, int64_t rsa, int64_t csa, const float *b,
                     int64_t ldb, float *c, int64_t rsc, int64_t csc, int m, int n, int accum) {
    __m256 acc[MR][NV];
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) acc[i][v] = _mm256_setzero_ps();
    /* Row i's element p is r[i][p * astep] in both layouts (see cpu_gemm_impl.h). */
    const float *r[MR];
    int64_t astep = csa == 1 ? 1 : csa;
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++) r[i] = csa == 1 ? a + (i < m ? i : m - 1) * rsa : a + i;
    /* Start fetching the C tile so its cache misses overlap the k loop (see the AVX-512 file). */
    if (csc == 1)
        for (int i = 0; i < m; i++) {
            __builtin_prefetch(c + i * rsc, 1, 3);
            __builtin_prefetch(c + i * rsc + n - 1, 1, 3);
        }
    for (int64_t p = 0; p < k; p++, b += ldb) {
        __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
#pragma GCC unroll 8
        for (int i = 0; i < MR; i++) {
            __m256 ai = _mm256_broadcast_ss(r[i] + p * astep);
            acc[i][0] = _mm256_fmadd_ps(ai, b0, acc[i][0]);
            acc[i][1] = _mm256_fmadd_ps(ai, b1, acc[i][1]);
        }
    }
    if (m == MR && n == NR32 && csc == 1) {
#pragma GCC unroll 8
        for (int i = 0; i < MR; i++) {
            float *ci = c + i * rsc;
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++) {
                __m256 x = acc[i][v];
                if (accum) x = _mm256_add_ps(x, _mm256_loadu_ps(ci + 8 * v));
                _mm256_storeu_ps(ci + 8 * v, x);
            }
        }
        return;
    }
    _Alignas(32) float t[MR * NR32];
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) _mm256_store_ps(t + i * NR32 + 8 * v, acc[i][v]);
    ILI_GEMM_STORE_TILE(float, t, NR32, c, rsc, csc, m, n, accum);
}

static void gemm_f64(int64_t k, const double *a, int64_t rsa, int64_t csa, const double *b,
                     int64_t ldb, double *c, int64_t rsc, int64_t csc, int m, int n, int accum) {
    __m256d acc[MR][NV];
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) acc[i][v] = _mm256_setzero_pd();
    const double *r[MR];
    int64_t astep = csa == 1 ? 1 : csa;
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++) r[i] = csa == 1 ? a + (i < m ? i : m - 1) * rsa : a + i;
    for (int64_t p = 0; p < k; p++, b += ldb) {
        __m256d b0 = _mm256_loadu_pd(b), b1 = _mm256_loadu_pd(b + 4);
#pragma GCC unroll 8
        for (int i = 0; i < MR; i++) {
            __m256d ai = _mm256_broadcast_sd(r[i] + p * astep);
            acc[i][0] = _mm256_fmadd_pd(ai, b0, acc[i][0]);
            acc[i][1] = _mm256_fmadd_pd(ai, b1, acc[i][1]);
        }
    }
    if (m == MR && n == NR64 && csc == 1) {
#pragma GCC unroll 8
        for (int i = 0; i < MR; i++) {
            double *ci = c + i * rsc;
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++) {
                __m256d x = acc[i][v];
                if (accum) x = _mm256_add_pd(x, _mm256_loadu_pd(ci + 4 * v));
                _mm256_storeu_pd(ci + 4 * v, x);
            }
        }
        return;
    }
    _Alignas(32) double t[MR * NR64];
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) _mm256_store_pd(t + i * NR64 + 4 * v, acc[i][v]);
    ILI_GEMM_STORE_TILE(double, t, NR64, c, rsc, csc, m, n, accum);
}

ILI_GEMM_DEFINE_VEC()

const ili_gemm_kernel ili_gemm_avx2 = {
    .name = "avx2",
    .mr32 = MR,
    .nr32 = NR32,
    .f32 = gemm_f32,
    .mr64 = MR,
    .nr64 = NR64,
    .f64 = gemm_f64,
    ILI_GEMM_VEC_FIELDS,
};

#else /* built without AVX2/FMA: the driver sees NULL kernels and never selects this set */

const ili_gemm_kernel ili_gemm_avx2 = {.name = "avx2"};

#endif
