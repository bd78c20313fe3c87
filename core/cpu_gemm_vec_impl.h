/*
 * cpu_gemm_vec_impl.h: templates of the GEMM epilogue and of the skinny-product vector kernels
 * (types in cpu_gemm_impl.h), written as plain loops and instantiated by each
 * cpu_gemm_<isa>.c with ILI_GEMM_DEFINE_VEC(), so that the compiler vectorizes them for that
 * file's instruction set. Included by cpu_gemm_impl.h only.
 *
 * The activation formulas are those of cpu_elementwise.c and cpu_activation.c, written the same
 * way, so a fused epilogue gives the same bits as the separate ops.
 */
#ifndef IL_CPU_GEMM_VEC_IMPL_H
#define IL_CPU_GEMM_VEC_IMPL_H

/* One row of the forward epilogue: c = act(c + b), c and b at strides cs and bs. */
#define ILI_EPI_FWD_ROW(T, S, c, cs, b, bs, n, act, al)                                           \
    do {                                                                                          \
        if (b)                                                                                    \
            for (int64_t j = 0; j < (n); j++) c[j * (cs)] += b[j * (bs)];                         \
        switch (act) {                                                                            \
        case ILI_ACT_RELU:                                                                        \
            for (int64_t j = 0; j < (n); j++) {                                                   \
                T x_ = c[j * (cs)];                                                               \
                c[j * (cs)] = x_ < 0 ? (T)0 : x_;                                                 \
            }                                                                                     \
            break;                                                                                \
        case ILI_ACT_LEAKY:                                                                       \
            for (int64_t j = 0; j < (n); j++) {                                                   \
                T x_ = c[j * (cs)];                                                               \
                c[j * (cs)] = x_ > 0 ? x_ : (al) * x_;                                            \
            }                                                                                     \
            break;                                                                                \
        case ILI_ACT_TANH:                                                                        \
            for (int64_t j = 0; j < (n); j++) c[j * (cs)] = tanh##S(c[j * (cs)]);                 \
            break;                                                                                \
        case ILI_ACT_SIGMOID:                                                                     \
            for (int64_t j = 0; j < (n); j++) {                                                   \
                T x_ = c[j * (cs)], e_;                                                           \
                if (x_ >= 0) c[j * (cs)] = (T)1 / ((T)1 + exp##S(-x_));                           \
                else e_ = exp##S(x_), c[j * (cs)] = e_ / ((T)1 + e_);                             \
            }                                                                                     \
            break;                                                                                \
        default: break;                                                                           \
        }                                                                                         \
    } while (0)

/* One row of the gradient epilogue: c = c * act'(y), y at stride ys. */
#define ILI_EPI_GRAD_ROW(T, c, cs, y, ys, n, act, al)                                             \
    do {                                                                                          \
        switch (act) {                                                                            \
        case ILI_ACT_RELU:                                                                        \
            for (int64_t j = 0; j < (n); j++) c[j * (cs)] = y[j * (ys)] > 0 ? c[j * (cs)] : (T)0; \
            break;                                                                                \
        case ILI_ACT_LEAKY:                                                                       \
            for (int64_t j = 0; j < (n); j++) {                                                   \
                T d_ = c[j * (cs)];                                                               \
                c[j * (cs)] = y[j * (ys)] > 0 ? d_ : (al) * d_;                                   \
            }                                                                                     \
            break;                                                                                \
        case ILI_ACT_TANH:                                                                        \
            for (int64_t j = 0; j < (n); j++) {                                                   \
                T y_ = y[j * (ys)];                                                               \
                c[j * (cs)] = c[j * (cs)] * ((T)1 - y_ * y_);                                     \
            }                                                                                     \
            break;                                                                                \
        case ILI_ACT_SIGMOID:                                                                     \
            for (int64_t j = 0; j < (n); j++) {                                                   \
                T y_ = y[j * (ys)];                                                               \
                c[j * (cs)] = c[j * (cs)] * y_ * ((T)1 - y_);                                     \
            }                                                                                     \
            break;                                                                                \
        default: break;                                                                           \
        }                                                                                         \
    } while (0)

/* The epilogue (ili_gemm_epi_fn). Unit strides get their own loops so they vectorize. */
#define ILI_GEMM_DEFINE_EPI(NAME, T, S)                                                           \
    static void NAME##_fwd(const ili_gemm_epi *e, T *c, int64_t rsc, int64_t csc, int64_t j0,     \
                           int64_t m, int64_t n) {                                                \
        const T *b = e->bias ? (const T *)e->bias + j0 * e->bcs : NULL;                           \
        const T al = (T)e->alpha;                                                                 \
        int unit = csc == 1 && (!b || e->bcs == 1);                                               \
        for (int64_t i = 0; i < m; i++) {                                                         \
            T *ci = c + i * rsc;                                                                  \
            if (unit) ILI_EPI_FWD_ROW(T, S, ci, 1, b, 1, n, e->act, al);                          \
            else ILI_EPI_FWD_ROW(T, S, ci, csc, b, e->bcs, n, e->act, al);                        \
        }                                                                                         \
    }                                                                                             \
    static void NAME##_grad(const ili_gemm_epi *e, T *c, int64_t rsc, int64_t csc, int64_t i0,    \
                            int64_t j0, int64_t m, int64_t n, int64_t blk) {                      \
        const T *y = (const T *)e->y + i0 * e->rsy + j0 * e->csy;                                 \
        const T al = (T)e->alpha;                                                                 \
        T *p = e->part ? (T *)e->part + blk * e->ldp + j0 : NULL;                                 \
        int unit = csc == 1 && e->csy == 1;                                                       \
        for (int64_t j = 0; p && j < n; j++) p[j] = 0;                                            \
        for (int64_t i = 0; i < m; i++) {                                                         \
            T *ci = c + i * rsc;                                                                  \
            const T *yi = y + i * e->rsy;                                                         \
            if (unit) ILI_EPI_GRAD_ROW(T, ci, 1, yi, 1, n, e->act, al);                           \
            else ILI_EPI_GRAD_ROW(T, ci, csc, yi, e->csy, n, e->act, al);                         \
            if (p && csc == 1)                                                                    \
                for (int64_t j = 0; j < n; j++) p[j] += ci[j];                                    \
            else if (p)                                                                           \
                for (int64_t j = 0; j < n; j++) p[j] += ci[j * csc];                              \
        }                                                                                         \
    }                                                                                             \
    static void NAME(const ili_gemm_epi *e, void *c, int64_t rsc, int64_t csc, int64_t i0,       \
                     int64_t j0, int64_t m, int64_t n, int64_t blk) {                             \
        if (e->mode == ILI_EPI_FWD) NAME##_fwd(e, (T *)c, rsc, csc, j0, m, n);                    \
        else if (e->mode == ILI_EPI_GRAD) NAME##_grad(e, (T *)c, rsc, csc, i0, j0, m, n, blk);    \
    }

/* Rows-dot (ili_gemm_dot_fn): 16 partial sums per row, folded pairwise, so the loop
 * vectorizes without reassociation flags. */
#define ILI_GEMM_DEFINE_DOT(NAME, T)                                                              \
    static void NAME(int64_t m, int64_t k, const void *av, int64_t rsa, const void *bv, void *cv, \
                     int64_t rsc) {                                                               \
        const T *restrict b = (const T *)bv;                                                      \
        T *c = (T *)cv;                                                                           \
        for (int64_t i = 0; i < m; i++) {                                                         \
            const T *restrict ai = (const T *)av + i * rsa;                                       \
            T acc[16];                                                                            \
            for (int l = 0; l < 16; l++) acc[l] = 0;                                              \
            int64_t p = 0;                                                                        \
            for (; p + 16 <= k; p += 16)                                                          \
                for (int l = 0; l < 16; l++) acc[l] += ai[p + l] * b[p + l];                      \
            for (; p < k; p++) acc[p & 15] += ai[p] * b[p];                                       \
            for (int w = 8; w > 0; w /= 2)                                                        \
                for (int l = 0; l < w; l++) acc[l] += acc[l + w];                                 \
            c[i * rsc] = acc[0];                                                                  \
        }                                                                                         \
    }

/* Outer-product accumulation (ili_gemm_ger_fn), four steps of p per pass over acc so that the
 * accumulator row is loaded and stored a quarter as often. */
#define ILI_GEMM_DEFINE_GER(NAME, T)                                                              \
    static void NAME##_row4(T *restrict r, int64_t n, const T *restrict v0,                      \
                            const T *restrict v1, const T *restrict v2, const T *restrict v3,     \
                            T x0, T x1, T x2, T x3) {                                             \
        for (int64_t j = 0; j < n; j++)                                                           \
            r[j] += (x0 * v0[j] + x1 * v1[j]) + (x2 * v2[j] + x3 * v3[j]);                        \
    }                                                                                             \
    static void NAME(int64_t m, int64_t n, int64_t k, const void *uv, int64_t us, int64_t up,     \
                     const void *vv, int64_t vs, int64_t vp, void *accv) {                        \
        const T *u = (const T *)uv, *v = (const T *)vv;                                           \
        T *acc = (T *)accv;                                                                       \
        int64_t p = 0;                                                                            \
        for (; vs == 1 && p + 4 <= k; p += 4) {                                                   \
            const T *v0 = v + p * vp;                                                             \
            for (int64_t i = 0; i < m; i++) {                                                     \
                const T *ui = u + i * us + p * up;                                                \
                NAME##_row4(acc + i * n, n, v0, v0 + vp, v0 + 2 * vp, v0 + 3 * vp, ui[0],         \
                            ui[up], ui[2 * up], ui[3 * up]);                                      \
            }                                                                                     \
        }                                                                                         \
        for (; p < k; p++)                                                                        \
            for (int64_t i = 0; i < m; i++) {                                                     \
                T x = u[i * us + p * up], *r = acc + i * n;                                       \
                for (int64_t j = 0; j < n; j++) r[j] += x * v[j * vs + p * vp];                   \
            }                                                                                     \
    }

/* Defines every vector kernel of one instruction set; ILI_GEMM_VEC_FIELDS names them in the
 * file's ili_gemm_kernel. Needs <math.h>. */
#define ILI_GEMM_DEFINE_VEC()                                                                     \
    ILI_GEMM_DEFINE_EPI(vec_epi32, float, f)                                                      \
    ILI_GEMM_DEFINE_EPI(vec_epi64, double, )                                                      \
    ILI_GEMM_DEFINE_DOT(vec_dot32, float)                                                         \
    ILI_GEMM_DEFINE_DOT(vec_dot64, double)                                                        \
    ILI_GEMM_DEFINE_GER(vec_ger32, float)                                                         \
    ILI_GEMM_DEFINE_GER(vec_ger64, double)

#define ILI_GEMM_VEC_FIELDS                                                                       \
    .epi32 = vec_epi32, .epi64 = vec_epi64, .dot32 = vec_dot32, .dot64 = vec_dot64,               \
    .ger32 = vec_ger32, .ger64 = vec_ger64

#endif
