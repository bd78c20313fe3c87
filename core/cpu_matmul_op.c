/*
 * cpu_matmul_op.c: the CPU MATMUL op: its checks, batching, the choice among the product paths
 * (a plain loop for tiny products, the skinny paths of cpu_matmul_skinny.c, the blocked driver
 * of cpu_matmul.c with or without K cut into chunks), the optional epilogue (bias and
 * activation, or activation gradient and column sums; see ironlearn/backend.h), and the kernel
 * set chosen for this CPU.
 *
 * An epilogue is fused into the product for 2-D operands with the activations the kernels know
 * (identity, relu, leaky_relu, tanh, sigmoid) and a row-broadcast bias; anything else runs as
 * the product followed by the separate elementwise and reduction ops, which is the definition
 * the fused forms must match.
 */
#include "cpu_gemm_impl.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_iter_impl.h"

/* Products with at most this many multiply-adds skip packing and threads. */
#define SMALL_MACS 4096

/* ---- kernel selection ------------------------------------------------------------------- */

static int cpu_can_run(const ili_gemm_kernel *k) {
    if (!k->f32 || !k->f64 || !k->epi32 || !k->dot32 || !k->ger32) return 0;
    if (k == &ili_gemm_generic) return 1;
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
    if (k == &ili_gemm_avx2) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (k == &ili_gemm_avx512)
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
               __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("fma");
#endif
    return 0;
}

const ili_gemm_kernel *ili_gemm_by_name(const char *name) {
    const ili_gemm_kernel *all[] = {&ili_gemm_avx512, &ili_gemm_avx2, &ili_gemm_generic};
    for (size_t i = 0; name && i < sizeof all / sizeof all[0]; i++)
        if (strcmp(all[i]->name, name) == 0) return cpu_can_run(all[i]) ? all[i] : NULL;
    return NULL;
}

/* Written once under pthread_once and read-only afterwards. */
static const ili_gemm_kernel *auto_kernel;
static pthread_once_t auto_once = PTHREAD_ONCE_INIT;

static void pick_auto(void) {
    const ili_gemm_kernel *k = ili_gemm_by_name(getenv("IL_GEMM"));
    if (!k) k = ili_gemm_by_name("avx512");
    if (!k) k = ili_gemm_by_name("avx2");
    auto_kernel = k ? k : &ili_gemm_generic;
}

const ili_gemm_kernel *ili_gemm_auto(void) {
    pthread_once(&auto_once, pick_auto);
    return auto_kernel;
}

/* ---- small products, zero fill, batching ------------------------------------------------ */

/* Plain strided triple loop for products too small to repay packing (allocates nothing). */
#define DEFINE_SMALL(NAME, T)                                                                     \
    static void NAME(const ili_gemm_mat *x) {                                                     \
        const T *a = (const T *)x->a, *b = (const T *)x->b;                                       \
        T *c = (T *)x->c;                                                                         \
        for (int64_t i = 0; i < x->m; i++)                                                        \
            for (int64_t j = 0; j < x->n; j++) {                                                  \
                T s = 0;                                                                          \
                for (int64_t p = 0; p < x->k; p++)                                                \
                    s += a[i * x->rsa + p * x->csa] * b[p * x->rsb + j * x->csb];                 \
                c[i * x->rsc + j * x->csc] = s;                                                   \
            }                                                                                     \
    }
DEFINE_SMALL(small32, float)
DEFINE_SMALL(small64, double)

/* The operands of one call, with the batch axes walked by an odometer. */
typedef struct mm {
    int nb; /* batch axes */
    int64_t idx[IL_MAX_DIMS];
    const il_tdesc *A, *B, *C;
    ili_gemm_mat x; /* the current matrix */
} mm;

/* Points x's a, b, c at the current batch index. */
static void batch_point(mm *z) {
    const il_tdesc *d[3] = {z->A, z->B, z->C};
    char *p[3];
    for (int k = 0; k < 3; k++) {
        int64_t off = 0;
        for (int i = 0; i < z->nb; i++) off += z->idx[i] * d[k]->stride[i];
        p[k] = (char *)d[k]->data + (size_t)off * il_dtype_size(d[k]->dtype);
    }
    z->x.a = p[0], z->x.b = p[1], z->x.c = p[2];
}

/* Advances the batch odometer (an ili_gemm_next_fn); 0 after the last batch. */
static int batch_next(void *arg, ili_gemm_mat *x) {
    mm *z = arg;
    for (int i = z->nb - 1; i >= 0; i--) {
        if (++z->idx[i] < z->C->shape[i]) {
            batch_point(z);
            *x = z->x;
            return 1;
        }
        z->idx[i] = 0;
    }
    return 0;
}

static void mm_init(mm *z, const il_opcall *c) {
    memset(z, 0, sizeof *z);
    const il_tdesc *C = &c->out;
    z->nb = C->ndim - 2, z->A = &c->in[0], z->B = &c->in[1], z->C = C;
    int r = z->nb, s = z->nb + 1;
    ili_gemm_mat x = {C->dtype == IL_DTYPE_F64, C->shape[r], C->shape[s],
                      z->A->shape[z->A->ndim - 1], NULL, z->A->stride[r], z->A->stride[s],
                      NULL, z->B->stride[r], z->B->stride[s], NULL, C->stride[r], C->stride[s]};
    z->x = x;
    batch_point(z);
}

/* C = 0 for K == 0, through its strides. */
static void zero_one(const ili_gemm_mat *x) {
    size_t es = x->f64 ? sizeof(double) : sizeof(float);
    for (int64_t i = 0; i < x->m; i++)
        for (int64_t j = 0; j < x->n; j++)
            memset(x->c + (size_t)(i * x->rsc + j * x->csc) * es, 0, es);
}

/* Every batch through the plain loop (K == 0: zeros). */
static void small_all(mm *z) {
    do {
        if (z->x.k == 0) zero_one(&z->x);
        else if (z->x.f64) small64(&z->x);
        else small32(&z->x);
    } while (batch_next(z, &z->x));
}

/* ---- the epilogue --------------------------------------------------------------------------- */

/* The kernels' code for the epilogue's op p1 (forward ops, or gradient ops when grad); -1 when
 * the kernels do not know it (the unfused sequence then runs it). */
static int act_code(double p1, int grad) {
    if (!grad && p1 < 0) return ILI_ACT_ID;
    switch ((il_op)(int)p1) {
    case IL_OP_RELU: return grad ? -1 : ILI_ACT_RELU;
    case IL_OP_LEAKY_RELU: return grad ? -1 : ILI_ACT_LEAKY;
    case IL_OP_TANH: return grad ? -1 : ILI_ACT_TANH;
    case IL_OP_SIGMOID: return grad ? -1 : ILI_ACT_SIGMOID;
    case IL_OP_RELU_GRAD: return grad ? ILI_ACT_RELU : -1;
    case IL_OP_LEAKY_RELU_GRAD: return grad ? ILI_ACT_LEAKY : -1;
    case IL_OP_TANH_GRAD: return grad ? ILI_ACT_TANH : -1;
    case IL_OP_SIGMOID_GRAD: return grad ? ILI_ACT_SIGMOID : -1;
    default: return -1;
    }
}

static int same_shape(const il_tdesc *a, const il_tdesc *b) {
    if (a->ndim != b->ndim || a->dtype != b->dtype) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return 0;
    return 1;
}

/* IL_E_INTERNAL unless p[0..2], in[2] and out2 form a valid epilogue (backend.h). */
static il_status check_epi(il_ctx *ctx, const il_opcall *c) {
    int mode = (int)c->p[0], ok = c->p[0] == mode && mode >= 0 && mode <= 2;
    const il_tdesc *o = &c->out, *o2 = &c->out2;
    il_op op = (il_op)(int)c->p[1];
    if (ok && mode == ILI_EPI_FWD)
        ok = c->nin <= 3 && (c->p[1] < 0 || (c->p[1] < IL_OP_COUNT &&
                                             ili_op_kind_of(op) == ILI_KIND_UNARY));
    if (ok && mode == ILI_EPI_GRAD)
        ok = c->nin == 3 && c->p[1] >= 0 && c->p[1] < IL_OP_COUNT &&
             ili_op_kind_of(op) == ILI_KIND_BINARY;
    if (ok && mode != ILI_EPI_NONE && c->nin == 3) ok = same_shape(&c->in[2], o);
    if (ok && mode == ILI_EPI_GRAD && o2->data) {
        ok = o2->ndim == o->ndim && o2->dtype == o->dtype;
        for (int i = 0; ok && i < o->ndim; i++)
            ok = o2->shape[i] == (i == o->ndim - 2 ? 1 : o->shape[i]);
    }
    if (!ok) return ili_seterr(ctx, IL_E_INTERNAL, "matmul: malformed epilogue");
    return IL_OK;
}

/* Fills e from the call; 0 when the epilogue cannot be fused (batched operands, an op the
 * kernels do not know, a bias that is not one row broadcast). */
static int epi_of(const il_opcall *c, ili_gemm_epi *e) {
    memset(e, 0, sizeof *e);
    e->mode = (int)c->p[0];
    if (e->mode == ILI_EPI_NONE) return 1;
    e->act = act_code(c->p[1], e->mode == ILI_EPI_GRAD);
    e->alpha = c->p[2];
    if (c->out.ndim != 2 || e->act < 0) return 0;
    if (e->mode == ILI_EPI_FWD) {
        if (c->nin < 3) return 1;
        e->bias = c->in[2].data, e->bcs = c->in[2].stride[1];
        return c->in[2].stride[0] == 0;
    }
    e->y = c->in[2].data, e->rsy = c->in[2].stride[0], e->csy = c->in[2].stride[1];
    return 1;
}

/* The epilogue as separate ops over out: the product, then bias and activation, or the
 * activation gradient and the column sums. The definition the fused forms follow. */
static il_status run_unfused(il_ctx *ctx, const il_opcall *c, const ili_gemm_kernel *kern,
                             int path) {
    il_opcall p = *c, e;
    p.nin = 2, p.p[0] = 0;
    IL_TRY(ili_cpu_matmul_path(ctx, &p, kern, path));
    memset(&e, 0, sizeof e);
    e.out = e.in[0] = c->out;
    e.in[1] = c->in[2];
    e.p[0] = c->p[2];
    if ((int)c->p[0] == ILI_EPI_FWD) {
        if (c->nin == 3) {
            e.op = IL_OP_ADD, e.nin = 2;
            IL_TRY(ili_cpu_binary(ctx, &e));
        }
        if (c->p[1] < 0) return IL_OK;
        e.op = (il_op)(int)c->p[1], e.nin = 1;
        return ili_cpu_unary(ctx, &e);
    }
    e.op = (il_op)(int)c->p[1], e.nin = 2;
    IL_TRY(ili_cpu_binary(ctx, &e));
    if (!c->out2.data) return IL_OK;
    memset(&e, 0, sizeof e);
    e.op = IL_OP_SUM, e.nin = 1, e.axis = c->out.ndim - 2;
    e.in[0] = c->out, e.out = c->out2;
    return ili_cpu_reduce(ctx, &e);
}

/* ---- dispatch ------------------------------------------------------------------------------- */

/* The path of matrix x: forced, or by shape. kchunks: how the blocked path cuts K. */
static int choose_path(const ili_gemm_mat *x, int path, int64_t *kchunks) {
    size_t es = x->f64 ? sizeof(double) : sizeof(float);
    *kchunks = 1;
    if (path == ILI_PATH_AUTO) {
        int kind = ili_gemm_skinny_kind(x);
        if (kind == ILI_SKINNY_DOT) return ILI_PATH_DOT;
        if (kind == ILI_SKINNY_GER) return ILI_PATH_GER;
        *kchunks = ili_gemm_kchunks(x->m, x->n, x->k, es);
        return *kchunks > 1 ? ILI_PATH_SPLIT : ILI_PATH_BLOCKED;
    }
    if (path == ILI_PATH_SPLIT) *kchunks = x->k < 4 ? x->k : 4;
    if (path == ILI_PATH_DOT && !ili_gemm_skinny_ok(x, ILI_SKINNY_DOT)) return -1;
    if (path == ILI_PATH_GER && !ili_gemm_skinny_ok(x, ILI_SKINNY_GER)) return -1;
    return path;
}

/* Rows of C per column-sum block on each path: fixed by the shape, never by the threads. */
static int64_t sum_rows(const ili_gemm_kernel *kern, const ili_gemm_mat *x, int path) {
    if (path == ILI_PATH_DOT) return ILI_DOT_ROWS;
    if (path == ILI_PATH_BLOCKED) return x->f64 ? kern->mr64 : kern->mr32;
    return x->m; /* the others run the epilogue once over all of C */
}

/* The products of every batch through path (not AUTO), with the epilogue e (2-D only). */
static il_status run_path(il_ctx *ctx, mm *z, const ili_gemm_kernel *kern, int path,
                          int64_t kchunks, const ili_gemm_epi *e) {
    if (path == ILI_PATH_BLOCKED || path == ILI_PATH_SPLIT)
        return ili_gemm_blocked(ctx, kern, &z->x, kchunks, e, batch_next, z);
    int kind = path == ILI_PATH_DOT ? ILI_SKINNY_DOT : ILI_SKINNY_GER;
    do IL_TRY(ili_gemm_skinny(ctx, kern, kind, &z->x, e));
    while (batch_next(z, &z->x));
    return IL_OK;
}

/* A call whose epilogue (if any) is fused: tiny products by the plain loop, the rest by path;
 * column sums through a workspace of per-block rows folded in order. */
static il_status run_fused(il_ctx *ctx, const il_opcall *c, const ili_gemm_kernel *kern,
                           int path, int small, ili_gemm_epi *e) {
    mm z;
    mm_init(&z, c);
    const ili_gemm_mat *x = &z.x;
    int64_t kchunks = 1;
    if (!small) path = choose_path(x, path, &kchunks);
    if (path < 0) return ili_seterr(ctx, IL_E_INTERNAL, "matmul: path does not apply");
    int64_t rows = small ? x->m : sum_rows(kern, x, path);
    int64_t nblk = (x->m + rows - 1) / rows;
    size_t es = x->f64 ? sizeof(double) : sizeof(float);
    if (e->mode == ILI_EPI_GRAD && c->out2.data) {
        size_t bytes = (size_t)(nblk * x->n) * es;
        if (!(e->part = ili_scratch(ctx, 3, bytes))) return ili_nomem(ctx, bytes);
        e->ldp = x->n;
    }
    if (small) {
        small_all(&z);
        if (e->mode != ILI_EPI_NONE)
            (x->f64 ? kern->epi64 : kern->epi32)(e, x->c, x->rsc, x->csc, 0, 0, x->m, x->n, 0);
    } else {
        IL_TRY(run_path(ctx, &z, kern, path, kchunks, e));
    }
    if (e->part) ili_gemm_colsums(x->f64, e->part, nblk, x->n, x->n, &c->out2);
    return IL_OK;
}

/* Non-zero when the product is empty (a zero batch axis, M or N zero). */
static int empty(const il_opcall *c) {
    for (int i = 0; i < c->out.ndim; i++)
        if (c->out.shape[i] == 0) return 1;
    return 0;
}

il_status ili_cpu_matmul_path(il_ctx *ctx, const il_opcall *c, const ili_gemm_kernel *kern,
                              int path) {
    const il_tdesc *C = &c->out;
    if (C->dtype != IL_DTYPE_F32 && C->dtype != IL_DTYPE_F64)
        return ili_seterr(ctx, IL_E_DTYPE, "matmul does not support dtype %s",
                          il_dtype_name(C->dtype));
    /* An explicit kernel set never takes the plain loop, so tests reach its edge tiles. */
    int allow_small = kern == NULL && path == ILI_PATH_AUTO;
    if (!kern) kern = ili_gemm_auto();
    if (!cpu_can_run(kern) || C->ndim < 2 || c->nin < 2)
        return ili_seterr(ctx, IL_E_INTERNAL, "matmul: bad kernel set or operand rank");
    IL_TRY(check_epi(ctx, c));
    ili_gemm_epi e;
    if (!epi_of(c, &e) || (e.mode != ILI_EPI_NONE && empty(c)))
        return run_unfused(ctx, c, kern, path);
    if (empty(c)) return IL_OK;
    int64_t k = c->in[0].shape[c->in[0].ndim - 1];
    double macs = (double)C->shape[C->ndim - 2] * (double)C->shape[C->ndim - 1] * (double)k;
    int small = k == 0 || (allow_small && macs <= SMALL_MACS);
    return run_fused(ctx, c, kern, path, small, &e);
}

il_status ili_cpu_matmul_with(il_ctx *ctx, const il_opcall *c, const ili_gemm_kernel *kern) {
    return ili_cpu_matmul_path(ctx, c, kern, ILI_PATH_AUTO);
}

/*
 * The MATMUL op (see il_opcall in ironlearn/backend.h): out = in[0] · in[1] over the batch
 * axes, any strides, f32 or f64, with the optional epilogue of p[0..2]. IL_E_DTYPE for other
 * dtypes; IL_E_NOMEM if the workspaces cannot grow; IL_E_INTERNAL for a malformed call or if
 * worker threads cannot start.
 */
il_status ili_cpu_matmul(il_ctx *ctx, const il_opcall *c) {
    return ili_cpu_matmul_with(ctx, c, NULL);
}
