/*
 * cpu_gemm_impl.h: the GEMM micro-kernel interface shared by cpu_matmul.c (the blocked driver)
 * and cpu_gemm_{generic,avx2,avx512}.c (one register-tiled kernel set per instruction set).
 *
 * A micro-kernel computes one MR x NR tile of C:
 *
 *     C[0:m, 0:n] = (accum ? C[0:m, 0:n] : 0) + A[0:m, 0:k] * B[0:k, 0:n]
 *
 * - A element (i, p) is read from one of two layouts, told apart by csa:
 *   - rows (csa == 1): a[i * rsa + p]. Rows >= m are never read (the kernel repeats row
 *     m - 1 instead), so this serves row-major A in place, edge panels included.
 *   - columns (otherwise; rsa == 1): a[i + p * csa] for all MR rows, which must be readable
 *     (values of rows >= m are ignored). This is a packed panel (csa == MR, zero-padded) or a
 *     full panel of column-major A read in place.
 * - B: step p's NR values at b[p * ldb + j], all NR readable (columns >= n ignored): a packed
 *   panel (ldb == NR, 64-byte aligned) or a full panel of row-major B read in place.
 * - C element (i, j) is at c[i * rsc + j * csc]; only the m x n corner is written.
 * - 1 <= m <= MR, 1 <= n <= NR, k >= 1.
 */
#ifndef IL_CPU_GEMM_IMPL_H
#define IL_CPU_GEMM_IMPL_H

#include "il_impl.h"

typedef void (*ili_gemm_f32_fn)(int64_t k, const float *a, int64_t rsa, int64_t csa,
                                const float *b, int64_t ldb, float *c, int64_t rsc, int64_t csc,
                                int m, int n, int accum);
typedef void (*ili_gemm_f64_fn)(int64_t k, const double *a, int64_t rsa, int64_t csa,
                                const double *b, int64_t ldb, double *c, int64_t rsc,
                                int64_t csc, int m, int n, int accum);

/* One instruction set's kernels with their tile shapes and cache blocking. */
typedef struct ili_gemm_kernel {
    const char *name; /* "generic", "avx2", "avx512" */
    int mr32, nr32;
    ili_gemm_f32_fn f32;
    int mr64, nr64;
    ili_gemm_f64_fn f64;
} ili_gemm_kernel;

/* Defined in cpu_gemm_<isa>.c. f32/f64 are NULL when the file was built without its ISA. */
IL_INTERNAL extern const ili_gemm_kernel ili_gemm_generic;
IL_INTERNAL extern const ili_gemm_kernel ili_gemm_avx2;
IL_INTERNAL extern const ili_gemm_kernel ili_gemm_avx512;

/* Largest MR and NR of any kernel (sizes the kernels' stack tiles). */
#define ILI_GEMM_MAX_MR 16
#define ILI_GEMM_MAX_NR 64

/*
 * Writes an MR x NR tile t (row-major, NR per row) into the m x n corner of C at (rsc, csc),
 * adding to C when accum. The kernels' edge and strided-C path.
 */
#define ILI_GEMM_STORE_TILE(T, t, NR_, c, rsc, csc, m, n, accum)                                 \
    do {                                                                                          \
        for (int i_ = 0; i_ < (m); i_++) {                                                        \
            T *ci_ = (c) + i_ * (rsc);                                                            \
            const T *ti_ = (t) + i_ * (NR_);                                                      \
            if (accum)                                                                            \
                for (int j_ = 0; j_ < (n); j_++) ci_[j_ * (csc)] += ti_[j_];                      \
            else                                                                                  \
                for (int j_ = 0; j_ < (n); j_++) ci_[j_ * (csc)] = ti_[j_];                       \
        }                                                                                         \
    } while (0)

/* The kernel set to use: IL_GEMM=generic|avx2|avx512 if set and supported by this CPU, else the
 * best the CPU supports. Computed once; never NULL. */
IL_INTERNAL const ili_gemm_kernel *ili_gemm_auto(void);
/* The named kernel set if it was compiled in and this CPU can run it, else NULL. */
IL_INTERNAL const ili_gemm_kernel *ili_gemm_by_name(const char *name);
/* ili_cpu_matmul with an explicit kernel set (tests use it to exercise each one); that set
 * is used for every size (no small-product shortcut). kern NULL: exactly ili_cpu_matmul. */
IL_INTERNAL il_status ili_cpu_matmul_with(il_ctx *ctx, const il_opcall *c,
                                          const ili_gemm_kernel *kern);

#endif
