/*
 * cpu_gemm_avx512.c: AVX-512F GEMM micro-kernels (contract in cpu_gemm_impl.h). Compiled with
 * -mavx512f -mavx512vl -mavx512dq -mfma; cpu_matmul.c only calls them when the CPU reports
 * avx512f, so the rest of the library still runs on older CPUs.
 *
 * Tiles: f32 MR32 x 32 and f64 MR64 x 16, i.e. MR x 2 zmm accumulators (28 of 32 registers
 * with MR = 14), broadcasting A and loading two B vectors per step of k. On Zen 4 a zmm FMA
 * issues once per cycle with a 4-cycle latency, so 28 independent chains keep the FMA pipes
 * full while the 14 broadcasts + 2 loads per step stay below the load ports' rate.
 */
#include "cpu_gemm_impl.h"

#if defined(__AVX512F__) && defined(__FMA__)
#include <immintrin.h>

#ifndef MR32
#define MR32 14
#endif
#ifndef NV32
#define NV32 2 /* zmm vectors per row: NR = 16 * NV32 */
#endif
#ifndef MR64
#define MR64 14
#endif
#ifndef NV64
#define NV64 2
#endif
#define NR32 (16 * NV32)
#define NR64 (8 * NV64)

#define AI __attribute__((always_inline)) static inline

/* Lanes of vector v that fall inside the n valid columns (w lanes per vector). */
AI __mmask16 colmask(int n, int v, int w) {
    int left = n - v * w;
    if (left >= w) return (__mmask16)((1u << w) - 1u);
    return left <= 0 ? 0 : (__mmask16)((1u << left) - 1u);
}

static void gemm_f32(int64_t k, const float *a, int64_t rsa, int64_t csa, const float *b,
                     int64_t ldb, float *c, int64_t rsc, int64_t csc, int m, int n, int accum) {
    __m512 acc[MR32][NV32];
#pragma GCC unroll 16
    for (int i = 0; i < MR32; i++)
#pragma GCC unroll 4
        for (int v = 0; v < NV32; v++) acc[i][v] = _mm512_setzero_ps();
    /* Start fetching the C tile now so its misses overlap the k loop instead of stalling the
     * stores (C is usually far larger than the caches for the shapes this serves). */
    if (csc == 1)
        for (int i = 0; i < m; i++) {
            __builtin_prefetch(c + i * rsc, 1, 3);
            __builtin_prefetch(c + i * rsc + n - 1, 1, 3);
        }
    /* Two copies of the loop, so that each addresses A with constant offsets. */
    if (csa != 1) {
        for (int64_t p = 0; p < k; p++, a += csa, b += ldb) {
            __m512 bv[NV32];
#pragma GCC unroll 4
            for (int v = 0; v < NV32; v++) bv[v] = _mm512_loadu_ps(b + 16 * v);
#pragma GCC unroll 16
            for (int i = 0; i < MR32; i++) {
                __m512 ai = _mm512_set1_ps(a[i]);
#pragma GCC unroll 4
                for (int v = 0; v < NV32; v++) acc[i][v] = _mm512_fmadd_ps(ai, bv[v], acc[i][v]);
            }
        }
    } else {
        const float *r[MR32];
#pragma GCC unroll 16
        for (int i = 0; i < MR32; i++) r[i] = a + (i < m ? i : m - 1) * rsa;
        for (int64_t p = 0; p < k; p++, b += ldb) {
            __m512 bv[NV32];
#pragma GCC unroll 4
            for (int v = 0; v < NV32; v++) bv[v] = _mm512_loadu_ps(b + 16 * v);
#pragma GCC unroll 16
            for (int i = 0; i < MR32; i++) {
                __m512 ai = _mm512_set1_ps(r[i][p]);
#pragma GCC unroll 4
                for (int v = 0; v < NV32; v++) acc[i][v] = _mm512_fmadd_ps(ai, bv[v], acc[i][v]);
            }
        }
    }
    if (csc == 1) {
        /* Masked stores cover partial tiles without a bounce buffer. */
        __mmask16 mk[NV32];
#pragma GCC unroll 4
        for (int v = 0; v < NV32; v++) mk[v] = colmask(n, v, 16);
#pragma GCC unroll 16
        for (int i = 0; i < MR32; i++) {
            if (i >= m) break;
            float *ci = c + i * rsc;
#pragma GCC unroll 4
            for (int v = 0; v < NV32; v++) {
                __m512 x = acc[i][v];
                if (accum) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(mk[v], ci + 16 * v));
                _mm512_mask_storeu_ps(ci + 16 * v, mk[v], x);
            }
        }
        return;
    }
    _Alignas(64) float t[MR32 * NR32];
#pragma GCC unroll 16
    for (int i = 0; i < MR32; i++)
#pragma GCC unroll 4
        for (int v = 0; v < NV32; v++) _mm512_store_ps(t + i * NR32 + 16 * v, acc[i][v]);
    ILI_GEMM_STORE_TILE(float, t, NR32, c, rsc, csc, m, n, accum);
}

static void gemm_f64(int64_t k, const double *a, int64_t rsa, int64_t csa, const double *b,
                     int64_t ldb, double *c, int64_t rsc, int64_t csc, int m, int n, int accum) {
    __m512d acc[MR64][NV64];
#pragma GCC unroll 16
    for (int i = 0; i < MR64; i++)
#pragma GCC unroll 4
        for (int v = 0; v < NV64; v++) acc[i][v] = _mm512_setzero_pd();
    const double *r[MR64];
#pragma GCC unroll 16
    for (int i = 0; i < MR64; i++) r[i] = csa == 1 ? a + (i < m ? i : m - 1) * rsa : a + i;
    /* Row i's element p is r[i][p * astep] in both layouts (see cpu_gemm_impl.h). */
    int64_t astep = csa == 1 ? 1 : csa;
    for (int64_t p = 0; p < k; p++, b += ldb) {
        __m512d bv[NV64];
#pragma GCC unroll 4
        for (int v = 0; v < NV64; v++) bv[v] = _mm512_loadu_pd(b + 8 * v);
#pragma GCC unroll 16
        for (int i = 0; i < MR64; i++) {
            __m512d ai = _mm512_set1_pd(r[i][p * astep]);
#pragma GCC unroll 4
            for (int v = 0; v < NV64; v++) acc[i][v] = _mm512_fmadd_pd(ai, bv[v], acc[i][v]);
        }
    }
    if (csc == 1) {
        __mmask8 mk[NV64];
#pragma GCC unroll 4
        for (int v = 0; v < NV64; v++) mk[v] = (__mmask8)colmask(n, v, 8);
#pragma GCC unroll 16
        for (int i = 0; i < MR64; i++) {
            if (i >= m) break;
            double *ci = c + i * rsc;
#pragma GCC unroll 4
            for (int v = 0; v < NV64; v++) {
                __m512d x = acc[i][v];
                if (accum) x = _mm512_add_pd(x, _mm512_maskz_loadu_pd(mk[v], ci + 8 * v));
                _mm512_mask_storeu_pd(ci + 8 * v, mk[v], x);
            }
        }
        return;
    }
    _Alignas(64) double t[MR64 * NR64];
#pragma GCC unroll 16
    for (int i = 0; i < MR64; i++)
#pragma GCC unroll 4
        for (int v = 0; v < NV64; v++) _mm512_store_pd(t + i * NR64 + 8 * v, acc[i][v]);
    ILI_GEMM_STORE_TILE(double, t, NR64, c, rsc, csc, m, n, accum);
}

const ili_gemm_kernel ili_gemm_avx512 = {
    .name = "avx512",
    .mr32 = MR32,
    .nr32 = NR32,
    .f32 = gemm_f32,
    .mr64 = MR64,
    .nr64 = NR64,
    .f64 = gemm_f64,
};

#else /* built without AVX-512: the driver sees NULL kernels and never selects this set */

const ili_gemm_kernel ili_gemm_avx512 = {.name = "avx512"};

#endif
