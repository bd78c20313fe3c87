/*
 * cpu_gemm_avx512.c: AVX-512F GEMM micro-kernels (contract in cpu_gemm_impl.h). Compiled with
 * -mavx512f -mavx512vl -mavx512dq -mfma; cpu_matmul.c only calls them when the CPU reports
 * avx512f, so the rest of the library still runs on older CPUs.
 *
 * Tiles: f32 6 x 64 (6 x 4 zmm accumulators) and f64 14 x 16 (14 x 2), broadcasting A and
 * loading the B vectors per step of k. On Zen 4 a zmm FMA issues once per cycle with a 4-cycle
 * latency, so 24-28 independent chains keep the FMA pipes full. The f32 tile is wide rather
 * than tall: the 64-wide layers of the tall-skinny products (40,000 x 64 · 64 x 64) take one
 * tile per row panel, so each row of A is broadcast once, C and an epilogue's y are touched in
 * whole 256-byte rows, there are 6 broadcasts per 24 FMAs instead of 14 per 28, and the six row
 * pointers of in-place A stay in registers (fourteen were spilled). Measured on the mlp40k
 * training step on 2 threads: 14 x 32 took 16.6-17.3 ms, 6 x 64 13.9-14.4, 5 x 64 about as
 * 6 x 64, 7 x 64 and 8 x 64 slower (28-32 accumulators leave no room for B and the broadcast).
 *
 * gemm_f32e also fuses the MATMUL epilogue (cpu_gemm_impl.h) into the f32 kernel: bias and
 * relu/leaky_relu, or any activation gradient with its column sums, are applied to the
 * accumulators before the single store, so the tile is never read back.
 */
#include "cpu_gemm_impl.h"

#include <math.h>

#if defined(__AVX512F__) && defined(__FMA__)
#include <immintrin.h>

#ifndef MR32
#define MR32 6
#endif
#ifndef NV32
#define NV32 4 /* zmm vectors per row: NR = 16 * NV32 */
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

ILI_GEMM_DEFINE_VEC()

/* acc = the tile's A · B: the k loop. */
AI void f32_loop(__m512 acc[MR32][NV32], int64_t k, const float *a, int64_t rsa, int64_t csa,
                 const float *b, int64_t ldb, int m, const char *pf, int64_t pfs, int64_t npf) {
#pragma GCC unroll 16
    for (int i = 0; i < MR32; i++)
#pragma GCC unroll 4
        for (int v = 0; v < NV32; v++) acc[i][v] = _mm512_setzero_ps();
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
            if (p < npf) __builtin_prefetch(pf + p / NV32 * pfs + p % NV32 * 64, 0, 3);
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
}

/* Start fetching the C tile now so its misses overlap the k loop instead of stalling the
 * stores (C is usually far larger than the caches for the shapes this serves). */
AI void prefetch_c(float *c, int64_t rsc, int64_t csc, int m, int n) {
    if (csc == 1)
        for (int i = 0; i < m; i++) {
            __builtin_prefetch(c + i * rsc, 1, 3);
            __builtin_prefetch(c + i * rsc + n - 1, 1, 3);
        }
}

/* Stores the m x n corner of acc into unit-stride C, adding C first when accum. Masked stores
 * cover partial tiles without a bounce buffer. */
AI void f32_store(__m512 acc[MR32][NV32], float *c, int64_t rsc, int m, int n, int accum) {
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
}

static void gemm_f32(int64_t k, const float *a, int64_t rsa, int64_t csa, const float *b,
                     int64_t ldb, float *c, int64_t rsc, int64_t csc, int m, int n, int accum) {
    __m512 acc[MR32][NV32];
    prefetch_c(c, rsc, csc, m, n);
    f32_loop(acc, k, a, rsa, csa, b, ldb, m, NULL, 0, 0);
    if (csc == 1) {
        f32_store(acc, c, rsc, m, n, accum);
        return;
    }
    _Alignas(64) float t[MR32 * NR32];
#pragma GCC unroll 16
    for (int i = 0; i < MR32; i++)
#pragma GCC unroll 4
        for (int v = 0; v < NV32; v++) _mm512_store_ps(t + i * NR32 + 16 * v, acc[i][v]);
    ILI_GEMM_STORE_TILE(float, t, NR32, c, rsc, csc, m, n, accum);
}

/* ---- the fused epilogue (cpu_gemm_impl.h), on the accumulators ---------------------------- */

/* Forward: acc = act(acc + bias) for identity, relu and leaky_relu, with the operations and
 * NaN behaviour of the C template (max(0, x) returns x when x is NaN, as x < 0 ? 0 : x does).
 * 0 when this epilogue needs the stored tile (tanh, sigmoid, a strided bias). */
AI int epi_fwd(__m512 acc[MR32][NV32], const ili_gemm_epi *e, int64_t j0, int n) {
    const __m512 zero = _mm512_setzero_ps(), al = _mm512_set1_ps((float)e->alpha);
    if (e->act > ILI_ACT_LEAKY || (e->bias && e->bcs != 1)) return 0;
    __m512 bv[NV32];
#pragma GCC unroll 4
    for (int v = 0; v < NV32; v++)
        bv[v] = e->bias ? _mm512_maskz_loadu_ps(colmask(n, v, 16), (const float *)e->bias + j0 +
                                                                        16 * v)
                        : zero;
#pragma GCC unroll 16
    for (int i = 0; i < MR32; i++)
#pragma GCC unroll 4
        for (int v = 0; v < NV32; v++) {
            __m512 x = e->bias ? _mm512_add_ps(acc[i][v], bv[v]) : acc[i][v];
            if (e->act == ILI_ACT_RELU) x = _mm512_max_ps(zero, x);
            else if (e->act == ILI_ACT_LEAKY)
                x = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, zero, _CMP_GT_OQ),
                                         _mm512_mul_ps(al, x), x);
            acc[i][v] = x;
        }
    return 1;
}

/* One vector of the gradient epilogue: d * act'(y), evaluated as the C template does. */
AI __m512 grad_vec(int act, __m512 d, __m512 y, __m512 al) {
    const __m512 zero = _mm512_setzero_ps(), one = _mm512_set1_ps(1.0f);
    __mmask16 pos = _mm512_cmp_ps_mask(y, zero, _CMP_GT_OQ);
    switch (act) {
    case ILI_ACT_RELU: return _mm512_maskz_mov_ps(pos, d);
    case ILI_ACT_LEAKY: return _mm512_mask_blend_ps(pos, _mm512_mul_ps(al, d), d);
    case ILI_ACT_TANH: return _mm512_mul_ps(d, _mm512_sub_ps(one, _mm512_mul_ps(y, y)));
    case ILI_ACT_SIGMOID: return _mm512_mul_ps(_mm512_mul_ps(d, y), _mm512_sub_ps(one, y));
    default: return d;
    }
}

/* Gradient: acc *= act'(y) on the m valid rows and, when asked, their column sums (rows added
 * in order, as the template does). 0 when y is strided. */
AI int epi_grad(__m512 acc[MR32][NV32], const ili_gemm_epi *e, int64_t i0, int64_t j0, int m,
                int n, int64_t blk) {
    if (e->csy != 1) return 0;
    const float *y = (const float *)e->y + i0 * e->rsy + j0;
    const __m512 al = _mm512_set1_ps((float)e->alpha);
    __mmask16 mk[NV32];
    __m512 s[NV32];
#pragma GCC unroll 4
    for (int v = 0; v < NV32; v++) mk[v] = colmask(n, v, 16), s[v] = _mm512_setzero_ps();
#pragma GCC unroll 16
    for (int i = 0; i < MR32; i++) {
        if (i >= m) break;
#pragma GCC unroll 4
        for (int v = 0; v < NV32; v++) {
            __m512 yv = _mm512_maskz_loadu_ps(mk[v], y + i * e->rsy + 16 * v);
            acc[i][v] = grad_vec(e->act, acc[i][v], yv, al);
            s[v] = _mm512_add_ps(s[v], acc[i][v]);
        }
    }
    if (e->part)
#pragma GCC unroll 4
        for (int v = 0; v < NV32; v++)
            _mm512_mask_storeu_ps((float *)e->part + blk * e->ldp + j0 + 16 * v, mk[v], s[v]);
    return 1;
}

/* The tile with its epilogue (ili_gemm_f32e_fn): on the registers before the one store where
 * it can, else on the stored tile. */
static void gemm_f32e(int64_t k, const float *a, int64_t rsa, int64_t csa, const float *b,
                      int64_t ldb, float *c, int64_t rsc, int64_t csc, int m, int n, int accum,
                      const ili_gemm_epi *e, int64_t i0, int64_t j0, int64_t blk) {
    if (csc != 1) {
        gemm_f32(k, a, rsa, csa, b, ldb, c, rsc, csc, m, n, accum);
        vec_epi32(e, c, rsc, csc, i0, j0, m, n, blk);
        return;
    }
    __m512 acc[MR32][NV32];
    prefetch_c(c, rsc, csc, m, n);
    /* The gradient's y lines are fetched from inside the k loop, one per step over its first
     * steps (cpu_matmul.c also prefetches them before the tile); measured about 3% faster on
     * the fused-gradient products than the up-front prefetch alone. */
    const char *pf = NULL;
    int64_t pfs = 0, npf = 0;
    if (e->mode == ILI_EPI_GRAD && e->csy == 1 && n == NR32) {
        pf = (const char *)((const float *)e->y + i0 * e->rsy + j0);
        pfs = e->rsy * (int64_t)sizeof(float), npf = NV32 * (int64_t)m;
        if (npf > k) npf = k;
    }
    f32_loop(acc, k, a, rsa, csa, b, ldb, m, pf, pfs, npf);
    if (accum) { /* the epilogue sees the finished sum, as on the stored tile */
        __mmask16 mk[NV32];
#pragma GCC unroll 4
        for (int v = 0; v < NV32; v++) mk[v] = colmask(n, v, 16);
#pragma GCC unroll 16
        for (int i = 0; i < MR32; i++)
#pragma GCC unroll 4
            for (int v = 0; v < NV32; v++)
                if (i < m)
                    acc[i][v] = _mm512_add_ps(acc[i][v],
                                              _mm512_maskz_loadu_ps(mk[v], c + i * rsc + 16 * v));
    }
    int done = e->mode == ILI_EPI_FWD ? epi_fwd(acc, e, j0, n)
                                      : epi_grad(acc, e, i0, j0, m, n, blk);
    f32_store(acc, c, rsc, m, n, 0);
    if (!done) vec_epi32(e, c, rsc, csc, i0, j0, m, n, blk);
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
    ILI_GEMM_VEC_FIELDS,
    .f32e = gemm_f32e,
};

#else /* built without AVX-512: the driver sees NULL kernels and never selects this set */

const ili_gemm_kernel ili_gemm_avx512 = {.name = "avx512"};

#endif
