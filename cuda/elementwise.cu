/*
 * elementwise.cu: the BINARY ops (ADD ... MINIMUM and the activation gradients TANH_GRAD ...
 * SINE_GRAD) and the UNARY ops (NEG ... CLAMP and the layer activations LEAKY_RELU ... SINE),
 * for f32, f64 and (ADD, SUB, MUL, MAXIMUM, MINIMUM, NEG, ABS) i64.
 *
 * One kernel template per (op, dtype): a grid-stride loop over the coalesced iteration space,
 * operands addressed by index arithmetic, so a broadcast operand (stride 0) is never
 * materialised. Scalar functions mirror core/cpu_elementwise.c and core/cpu_activation.c
 * (NaN rules included) and use CUDA's accurate math (no fast-math), so results agree with the
 * CPU within a few ulps.
 */
#include <type_traits>

#include "common.cuh"
#include "ew_math.cuh"

/* i64 ops wrap through unsigned arithmetic, as on the CPU. */
template <int OP> __device__ __forceinline__ int64_t iapply(int64_t x, int64_t y) {
    typedef unsigned long long u64;
    if constexpr (OP == E_ADD) return (int64_t)((u64)x + (u64)y);
    else if constexpr (OP == E_SUB) return (int64_t)((u64)x - (u64)y);
    else if constexpr (OP == E_MUL) return (int64_t)((u64)x * (u64)y);
    else if constexpr (OP == E_MAX) return x > y ? x : y;
    else if constexpr (OP == E_MIN) return x < y ? x : y;
    else if constexpr (OP == E_NEG) return (int64_t)(0ull - (u64)x);
    else return x < 0 ? (int64_t)(0ull - (u64)x) : x; /* E_ABS */
}

template <int OP, typename T> __device__ __forceinline__ T apply(T x, T y, T p, T q) {
    if constexpr (std::is_integral<T>::value) return iapply<OP>(x, y);
    else return fapply<OP, T>(x, y, p, q);
}

/* out[i] = OP(a[i], b[i]) over the coalesced space; NIN = 1 or 2 inputs. */
template <int OP, typename T, int NIN>
__global__ void ew_kernel(ilc_geom g, T *o, const T *a, const T *b, T p, T q) {
    ILC_LOOP(i, g.numel) {
        int64_t off[3];
        if (g.nd == 1) {
            off[0] = i * g.st[0][0];
            off[1] = i * g.st[1][0];
            off[2] = i * g.st[2][0];
        } else {
            ilc_offsets<NIN + 1>(g, i, off);
        }
        T x = a[off[1]];
        T y = NIN > 1 ? b[off[2]] : (T)0;
        o[off[0]] = apply<OP, T>(x, y, p, q);
    }
}

/* ---- dispatch -------------------------------------------------------------------------------- */

typedef struct ew_call {
    ilc_geom g;
    void *o;
    const void *a, *b;
    double p, q;
    unsigned grid;
    cudaStream_t stream;
} ew_call;

template <int OP, typename T, int NIN> static void launch(const ew_call &c) {
    ew_kernel<OP, T, NIN><<<c.grid, ILC_BLOCK, 0, c.stream>>>(
        c.g, (T *)c.o, (const T *)c.a, (const T *)c.b, (T)c.p, (T)c.q);
}

typedef void (*launcher)(const ew_call &c);

/* Float kernels of op code e, for T, or NULL. */
template <typename T> static launcher float_launcher(ew e) {
    switch (e) {
#define B(E) case E: return launch<E, T, 2>;
#define U(E) case E: return launch<E, T, 1>;
    B(E_ADD) B(E_SUB) B(E_MUL) B(E_DIV) B(E_POW) B(E_MAX) B(E_MIN)
    U(E_NEG) U(E_EXP) U(E_LOG) U(E_TANH) U(E_SIGMOID) U(E_RELU) U(E_SIN) U(E_COS) U(E_ABS)
    U(E_SQRT) U(E_CLAMP) U(E_LEAKY) U(E_GELU) U(E_SOFTPLUS) U(E_SINE)
    B(E_TANH_G) B(E_SIGM_G) B(E_RELU_G) B(E_LEAKY_G) B(E_GELU_G) B(E_SOFTPLUS_G) B(E_SINE_G)
    default: return NULL;
    }
}

static launcher int_launcher(ew e) {
    typedef int64_t T;
    switch (e) {
    B(E_ADD) B(E_SUB) B(E_MUL) B(E_MAX) B(E_MIN) U(E_NEG) U(E_ABS)
#undef B
#undef U
    default: return NULL;
    }
}

static launcher launcher_for(ew e, il_dtype dt) {
    switch (dt) {
    case IL_DTYPE_F32: return float_launcher<float>(e);
    case IL_DTYPE_F64: return float_launcher<double>(e);
    case IL_DTYPE_I64: return int_launcher(e);
    default: return NULL;
    }
}

/* Runs the kernel with out = *out (no overlap left to care about). */
static il_status run_direct(il_ctx *ctx, launcher fn, const il_tdesc *out, const il_opcall *c,
                            int nin) {
    const il_tdesc *ops[ILC_MAXOPS] = {out, &c->in[0], nin > 1 ? &c->in[1] : &c->in[0]};
    ew_call k;
    ilc_geom_init(&k.g, 3, ops);
    if (k.g.numel == 0) return IL_OK;
    ilc_state *s = ilc_of(ctx);
    k.o = out->data;
    k.a = c->in[0].data;
    k.b = nin > 1 ? c->in[1].data : c->in[0].data;
    k.p = c->p[0];
    k.q = c->p[1];
    k.grid = ilc_grid(s, k.g.numel);
    k.stream = s->stream;
    fn(k);
    ILC_LAUNCHED(ctx, il_op_name(c->op));
    return IL_OK;
}

/*
 * Shared body of ilc_binary and ilc_unary: checks dtypes as the CPU does, then runs the kernel.
 * An output that overlaps an input other than element for element is computed into scratch
 * and copied, because GPU threads do not follow the CPU's sequential order.
 */
static il_status run_elementwise(il_ctx *ctx, const il_opcall *c, int nin) {
    ew e = code_of(c->op);
    il_dtype dt = c->out.dtype;
    if (e == E_NONE || c->nin < nin)
        return ili_seterr(ctx, IL_E_INTERNAL, "cuda elementwise: unexpected op %s",
                          il_op_name(c->op));
    for (int k = 0; k < nin; k++)
        if (c->in[k].dtype != dt)
            return ili_seterr(ctx, IL_E_INTERNAL, "%s: input %d is %s, output is %s",
                              il_op_name(c->op), k, il_dtype_name(c->in[k].dtype),
                              il_dtype_name(dt));
    launcher fn = launcher_for(e, dt);
    if (fn == NULL)
        return ili_seterr(ctx, IL_E_DTYPE, "%s does not support dtype %s", il_op_name(c->op),
                          il_dtype_name(dt));
    int unsafe = 0;
    for (int k = 0; k < nin; k++) unsafe |= ilc_unsafe_overlap(&c->out, &c->in[k]);
    if (!unsafe) return run_direct(ctx, fn, &c->out, c, nin);
    void *tmp;
    il_tdesc t;
    size_t nb = (size_t)ili_numel(c->out.ndim, c->out.shape) * il_dtype_size(dt);
    IL_TRY(ilc_scratch(ctx, ILC_SCR_C, nb, &tmp));
    ilc_desc_packed(&t, tmp, &c->out, dt);
    IL_TRY(run_direct(ctx, fn, &t, c, nin));
    return ilc_copy_desc(ctx, &c->out, &t);
}

/* out = in[0] op in[1] (inputs pre-broadcast). IL_E_DTYPE, IL_E_INTERNAL, IL_E_DEVICE. */
il_status ilc_binary(il_ctx *ctx, const il_opcall *c) { return run_elementwise(ctx, c, 2); }

/* out = op(in[0]); CLAMP and the activations read p[0], p[1]. Statuses as ilc_binary. */
il_status ilc_unary(il_ctx *ctx, const il_opcall *c) { return run_elementwise(ctx, c, 1); }

/* ---- matmul epilogues ------------------------------------------------------------------------ */

/* o = act(o + b) in one pass (MATMUL's FORWARD epilogue); E_NONE: no activation. */
template <int OP, typename T>
__global__ void bias_act_kernel(ilc_geom g, T *o, const T *b, int has_bias, T p) {
    ILC_LOOP(i, g.numel) {
        int64_t off[2];
        if (g.nd == 1) {
            off[0] = i * g.st[0][0];
            off[1] = i * g.st[1][0];
        } else {
            ilc_offsets<2>(g, i, off);
        }
        T v = o[off[0]];
        if (has_bias) v += b[off[1]];
        if constexpr (OP != E_NONE) v = fapply<OP, T>(v, (T)0, p, (T)0);
        o[off[0]] = v;
    }
}

typedef void (*bias_act_fn)(const ilc_geom &, void *, const void *, int, double, unsigned,
                            cudaStream_t);

template <int OP, typename T>
static void launch_bias_act(const ilc_geom &g, void *o, const void *b, int has_bias, double p,
                            unsigned grid, cudaStream_t st) {
    bias_act_kernel<OP, T><<<grid, ILC_BLOCK, 0, st>>>(g, (T *)o, (const T *)b, has_bias, (T)p);
}

template <typename T> static bias_act_fn bias_act_for(ew e) {
    switch (e) {
#define A(E) case E: return launch_bias_act<E, T>;
    A(E_NONE) A(E_NEG) A(E_EXP) A(E_LOG) A(E_TANH) A(E_SIGMOID) A(E_RELU) A(E_SIN) A(E_COS)
    A(E_ABS) A(E_SQRT) A(E_CLAMP) A(E_LEAKY) A(E_GELU) A(E_SOFTPLUS) A(E_SINE)
#undef A
    default: return NULL;
    }
}

/*
 * y = act(y + bias) over the (contiguous or strided) product y, bias broadcast to y's shape or
 * NULL; act < 0: none. The unfused ADD then UNARY op of the CPU's definition, in one launch
 * (CLAMP's upper bound is 0 there too: the epilogue carries one parameter).
 */
il_status ilc_bias_act(il_ctx *ctx, const il_tdesc *y, const il_tdesc *bias, double act,
                       double p) {
    ew e = act < 0 ? E_NONE : code_of((il_op)(int)act);
    bias_act_fn fn = NULL;
    if (e == E_NONE || e <= E_SINE) {
        if (y->dtype == IL_DTYPE_F32) fn = bias_act_for<float>(e);
        else if (y->dtype == IL_DTYPE_F64) fn = bias_act_for<double>(e);
    }
    if (fn == NULL || (act >= 0 && e == E_NONE))
        return ili_seterr(ctx, IL_E_INTERNAL, "matmul: malformed epilogue");
    const il_tdesc *ops[2] = {y, bias ? bias : y};
    ilc_geom g;
    ilc_geom_init(&g, 2, ops);
    if (g.numel == 0) return IL_OK;
    ilc_state *s = ilc_of(ctx);
    fn(g, y->data, bias ? bias->data : y->data, bias != NULL, p, ilc_grid(s, g.numel),
       s->stream);
    ILC_LAUNCHED(ctx, "matmul epilogue");
    return IL_OK;
}

/* y = G(y, v) in place with G a BINARY op, normally an activation gradient (MATMUL's GRAD
 * epilogue). */
il_status ilc_act_grad_inplace(il_ctx *ctx, il_op g, const il_tdesc *y, const il_tdesc *v,
                               double p) {
    ew e = code_of(g);
    if (!((e >= E_ADD && e <= E_MIN) || (e >= E_TANH_G && e <= E_SINE_G)))
        return ili_seterr(ctx, IL_E_INTERNAL, "matmul: malformed epilogue");
    il_opcall c;
    memset(&c, 0, sizeof c);
    c.op = g;
    c.nin = 2;
    c.in[0] = *y;
    c.in[1] = *v;
    c.out = *y;
    c.p[0] = p;
    return run_elementwise(ctx, &c, 2);
}
