/*
 * copy.cu: data movement on the device: COPY (strided copy with dtype conversion, the source
 * possibly broadcast), FILL (a constant into a strided view, so `ones` never crosses from the
 * host), TAKE_ROWS (a row gather by an i64 index vector on the device), BERNOULLI (the dropout keep-mask, bit for bit the CPU's counter-based hash) and the
 * device random generator behind il_tensor_rand/randn on CUDA (Philox4x32-10).
 */
#include <type_traits>

#include "common.cuh"

/* ---- COPY ------------------------------------------------------------------------------------ */

template <typename TO, typename TI> __device__ __forceinline__ TO convert(TI x) {
    if constexpr (std::is_integral<TO>::value && std::is_floating_point<TI>::value)
        return ilc_f2i64((double)x); /* float to i64: no undefined behaviour */
    else return (TO)x;
}

template <typename TO, typename TI>
__global__ void copy_kernel(ilc_geom g, TO *o, const TI *x) {
    ILC_LOOP(i, g.numel) {
        int64_t off[2];
        if (g.nd == 1) {
            off[0] = i * g.st[0][0];
            off[1] = i * g.st[1][0];
        } else {
            ilc_offsets<2>(g, i, off);
        }
        o[off[0]] = convert<TO, TI>(x[off[1]]);
    }
}

template <typename TO, typename TI>
static void launch_copy(const ilc_geom &g, void *o, const void *x, unsigned grid,
                        cudaStream_t st) {
    copy_kernel<TO, TI><<<grid, ILC_BLOCK, 0, st>>>(g, (TO *)o, (const TI *)x);
}

typedef void (*copy_fn)(const ilc_geom &, void *, const void *, unsigned, cudaStream_t);

static copy_fn converter(il_dtype to, il_dtype from) {
    static const copy_fn table[3][3] = {
        {launch_copy<float, float>, launch_copy<float, double>, launch_copy<float, int64_t>},
        {launch_copy<double, float>, launch_copy<double, double>, launch_copy<double, int64_t>},
        {launch_copy<int64_t, float>, launch_copy<int64_t, double>,
         launch_copy<int64_t, int64_t>},
    };
    if ((unsigned)to > 2 || (unsigned)from > 2) return NULL;
    return table[to][from];
}

/* out[...] = in[...] converted, without overlap handling. */
static il_status copy_plain(il_ctx *ctx, copy_fn fn, const il_tdesc *out, const il_tdesc *in) {
    ilc_state *s = ilc_of(ctx);
    int64_t n = ili_numel(out->ndim, out->shape);
    if (n == 0) return IL_OK;
    if (out->dtype == in->dtype && ili_desc_contiguous(out) && ili_desc_contiguous(in)) {
        size_t bytes = (size_t)n * il_dtype_size(out->dtype);
        ILC_CUDA(ctx, cudaMemcpyAsync(out->data, in->data, bytes, cudaMemcpyDeviceToDevice,
                                      s->stream));
        s->counts.launches++;
        return IL_OK;
    }
    const il_tdesc *ops[2] = {out, in};
    ilc_geom g;
    ilc_geom_init(&g, 2, ops);
    fn(g, out->data, in->data, ilc_grid(s, n), s->stream);
    ILC_LAUNCHED(ctx, "copy");
    return IL_OK;
}

il_status ilc_copy_desc(il_ctx *ctx, const il_tdesc *out, const il_tdesc *in) {
    copy_fn fn = converter(out->dtype, in->dtype);
    if (fn == NULL)
        return ili_seterr(ctx, IL_E_DTYPE, "copy does not support dtype %s to %s",
                          il_dtype_name(in->dtype), il_dtype_name(out->dtype));
    int same = out->data == in->data && out->dtype == in->dtype &&
               memcmp(out->stride, in->stride, sizeof(int64_t) * (size_t)out->ndim) == 0;
    if (same) return IL_OK; /* onto itself, as the CPU skips it */
    if (!ilc_unsafe_overlap(out, in)) return copy_plain(ctx, fn, out, in);
    /* Overlapping source and destination: through a packed copy of the source. */
    void *tmp;
    il_tdesc t;
    size_t nb = (size_t)ili_numel(in->ndim, in->shape) * il_dtype_size(in->dtype);
    IL_TRY(ilc_scratch(ctx, ILC_SCR_C, nb, &tmp));
    ilc_desc_packed(&t, tmp, in, in->dtype);
    IL_TRY(copy_plain(ctx, converter(in->dtype, in->dtype), &t, in));
    return copy_plain(ctx, fn, out, &t);
}

static il_status take_rows(il_ctx *ctx, const il_opcall *c);

/* COPY: out = in[0] converted to out's dtype; any strides, broadcast source. The dispatch
 * (backend.cu) sends MISC ops other than FILL and BERNOULLI here, so TAKE_ROWS goes on. */
il_status ilc_copy(il_ctx *ctx, const il_opcall *c) {
    if (c->op == IL_OP_TAKE_ROWS) return take_rows(ctx, c);
    if (c->op != IL_OP_COPY || c->nin < 1)
        return ili_seterr(ctx, IL_E_INTERNAL, "cuda copy: unexpected op %s", il_op_name(c->op));
    return ilc_copy_desc(ctx, &c->out, &c->in[0]);
}

/* ---- TAKE_ROWS ------------------------------------------------------------------------------- */

/*
 * out row r = x row idx[r]. Flat index i over out runs row by row (r = i / rest, j the element
 * within the row), so neighbouring threads move neighbouring elements of one row: coalesced
 * when rows are contiguous. T is an unsigned integer of the dtype's size (bits are copied).
 * g: the row's geometry (out's and x's axes 1..); packed: both rows contiguous (offset j).
 */
template <typename T>
__global__ void take_rows_kernel(ilc_geom g, int packed, int64_t total, int64_t rest, T *o,
                                 int64_t os, const T *x, int64_t xs, int64_t nrows,
                                 const int64_t *idx, int64_t is) {
    ILC_LOOP(i, total) {
        int64_t r = i / rest, j = i - r * rest, off[2];
        if (packed) off[0] = off[1] = j;
        else ilc_offsets<2>(g, j, off);
        int64_t k = idx[r * is];
        k = k < 0 ? 0 : k >= nrows ? nrows - 1 : k; /* never outside x (callers check) */
        o[r * os + off[0]] = x[k * xs + off[1]];
    }
}

/* Axes 1.. of d as a descriptor of their own (one row). */
static void row_desc(il_tdesc *r, const il_tdesc *d) {
    memset(r, 0, sizeof *r);
    r->data = d->data;
    r->dtype = d->dtype;
    r->ndim = d->ndim - 1;
    for (int k = 1; k < d->ndim; k++) r->shape[k - 1] = d->shape[k], r->stride[k - 1] = d->stride[k];
}

/* TAKE_ROWS (il_ops.def): shapes checked by the wrapper; one launch, any dtype. */
static il_status take_rows(il_ctx *ctx, const il_opcall *c) {
    const il_tdesc *o = &c->out, *x = &c->in[0], *ix = &c->in[1];
    if (c->nin != 2) return ili_seterr(ctx, IL_E_INTERNAL, "cuda take_rows: bad operands");
    il_tdesc orow, xrow;
    row_desc(&orow, o);
    row_desc(&xrow, x);
    int64_t rest = ili_numel(orow.ndim, orow.shape), total = o->shape[0] * rest;
    if (total == 0) return IL_OK;
    const il_tdesc *ops[2] = {&orow, &xrow};
    ilc_geom g;
    ilc_geom_init(&g, 2, ops);
    int packed = ili_desc_contiguous(&orow) && ili_desc_contiguous(&xrow);
    ilc_state *s = ilc_of(ctx);
    unsigned grid = ilc_grid(s, total);
    const int64_t *idx = (const int64_t *)ix->data;
    switch (il_dtype_size(o->dtype)) {
    case 4:
        take_rows_kernel<uint32_t><<<grid, ILC_BLOCK, 0, s->stream>>>(
            g, packed, total, rest, (uint32_t *)o->data, o->stride[0], (const uint32_t *)x->data,
            x->stride[0], x->shape[0], idx, ix->stride[0]);
        break;
    case 8:
        take_rows_kernel<uint64_t><<<grid, ILC_BLOCK, 0, s->stream>>>(
            g, packed, total, rest, (uint64_t *)o->data, o->stride[0], (const uint64_t *)x->data,
            x->stride[0], x->shape[0], idx, ix->stride[0]);
        break;
    default:
        return ili_seterr(ctx, IL_E_DTYPE, "take_rows does not support dtype %s",
                          il_dtype_name(o->dtype));
    }
    ILC_LAUNCHED(ctx, "take_rows");
    return IL_OK;
}

/* The bytes this context may still allocate under il_cuda_set_memory_limit: returns 1 and sets
 * *left when a limit is set, else 0 (il_net_forward sizes its chunks by it). Declared where it
 * is used (core/nn_forward.c). */
int ili_cuda_limit_left(il_ctx *ctx, size_t *left) {
    ilc_state *s = ilc_of(ctx);
    if (s == NULL || s->limit == 0) return 0;
    *left = s->limit > s->allocated ? s->limit - s->allocated : 0;
    return 1;
}

/* ---- FILL ------------------------------------------------------------------------------------ */

template <typename T> __global__ void fill_kernel(ilc_geom g, T *o, T v) {
    ILC_LOOP(i, g.numel) {
        int64_t off;
        if (g.nd == 1) off = i * g.st[0][0];
        else ilc_offsets<1>(g, i, &off);
        o[off] = v;
    }
}

/* FILL: out = p[0] converted (i64 as ili_f2i64 does). Any strides. */
il_status ilc_fill(il_ctx *ctx, const il_opcall *c) {
    ilc_state *s = ilc_of(ctx);
    const il_tdesc *ops[1] = {&c->out};
    ilc_geom g;
    ilc_geom_init(&g, 1, ops);
    if (g.numel == 0) return IL_OK;
    double v = c->p[0];
    unsigned grid = ilc_grid(s, g.numel);
    switch (c->out.dtype) {
    case IL_DTYPE_F32: fill_kernel<float><<<grid, ILC_BLOCK, 0, s->stream>>>(g, (float *)c->out.data, (float)v); break;
    case IL_DTYPE_F64: fill_kernel<double><<<grid, ILC_BLOCK, 0, s->stream>>>(g, (double *)c->out.data, v); break;
    case IL_DTYPE_I64: {
        /* the CPU's conversion, on the host: NaN 0, saturation */
        int64_t iv = v != v ? 0 : v >= 9223372036854775808.0 ? INT64_MAX
                   : v < -9223372036854775808.0 ? INT64_MIN : (int64_t)v;
        fill_kernel<int64_t><<<grid, ILC_BLOCK, 0, s->stream>>>(g, (int64_t *)c->out.data, iv);
        break;
    }
    default:
        return ili_seterr(ctx, IL_E_DTYPE, "fill does not support dtype %s",
                          il_dtype_name(c->out.dtype));
    }
    ILC_LAUNCHED(ctx, "fill");
    return IL_OK;
}

/* ---- BERNOULLI ------------------------------------------------------------------------------- */

/* core/cpu_nn.c's hash, verbatim: splitmix64's finaliser, two rounds. */
__device__ __forceinline__ uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

__device__ __forceinline__ double hash_uniform(uint64_t seed, uint64_t index) {
    uint64_t h = mix64(mix64(seed + 0x9e3779b97f4a7c15ULL) ^ (index * 0x9e3779b97f4a7c15ULL));
    return (double)(h >> 11) * 0x1.0p-53;
}

/* Element with row-major index i draws hash(seed, counter + i), wherever it is stored. */
template <typename T>
__global__ void bern_kernel(ilc_geom g, T *o, uint64_t seed, uint64_t counter, double keep,
                            T scale) {
    ILC_LOOP(i, g.numel) {
        int64_t off;
        if (g.nd == 1) off = i * g.st[0][0];
        else ilc_offsets<1>(g, i, &off);
        o[off] = hash_uniform(seed, counter + (uint64_t)i) < keep ? scale : (T)0;
    }
}

/* BERNOULLI: out[i] = hash(p[2], p[3] + i) < p[0] ? p[1] : 0. IL_E_DTYPE, IL_E_ARG as the CPU. */
il_status ilc_bernoulli(il_ctx *ctx, const il_opcall *c) {
    il_dtype dt = c->out.dtype;
    if (dt != IL_DTYPE_F32 && dt != IL_DTYPE_F64)
        return ili_seterr(ctx, IL_E_DTYPE, "bernoulli does not support dtype %s",
                          il_dtype_name(dt));
    const double lim = 9007199254740992.0;
    if (!(c->p[2] >= 0 && c->p[2] < lim && c->p[3] >= 0 && c->p[3] < lim) ||
        c->p[2] != floor(c->p[2]) || c->p[3] != floor(c->p[3]))
        return ili_seterr(ctx, IL_E_ARG, "bernoulli: seed and counter must be integers in "
                                         "[0, 2^53)");
    ilc_state *s = ilc_of(ctx);
    const il_tdesc *ops[1] = {&c->out};
    ilc_geom g;
    ilc_geom_init(&g, 1, ops);
    if (g.numel == 0) return IL_OK;
    unsigned grid = ilc_grid(s, g.numel);
    uint64_t seed = (uint64_t)c->p[2], ctr = (uint64_t)c->p[3];
    if (dt == IL_DTYPE_F32)
        bern_kernel<float><<<grid, ILC_BLOCK, 0, s->stream>>>(g, (float *)c->out.data, seed, ctr,
                                                               c->p[0], (float)c->p[1]);
    else
        bern_kernel<double><<<grid, ILC_BLOCK, 0, s->stream>>>(g, (double *)c->out.data, seed,
                                                                ctr, c->p[0], c->p[1]);
    ILC_LAUNCHED(ctx, "bernoulli");
    return IL_OK;
}

/* ---- random tensors: Philox4x32-10 (Salmon et al., SC'11) ----------------------------------- */

struct u32x4 {
    uint32_t v[4];
};

/* Ten rounds over counter (i, 0) under key: four independent 32-bit outputs per index. */
__device__ __forceinline__ u32x4 philox(uint64_t i, uint64_t key) {
    uint32_t c0 = (uint32_t)i, c1 = (uint32_t)(i >> 32), c2 = 0, c3 = 0;
    uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
#pragma unroll
    for (int r = 0; r < 10; r++) {
        uint32_t hi0 = __umulhi(0xD2511F53u, c0), lo0 = 0xD2511F53u * c0;
        uint32_t hi1 = __umulhi(0xCD9E8D57u, c2), lo1 = 0xCD9E8D57u * c2;
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    u32x4 r = {{c0, c1, c2, c3}};
    return r;
}

/* [0, 1) with 53 random bits. */
__device__ __forceinline__ double u53(uint32_t a, uint32_t b) {
    return (double)((((uint64_t)a << 32) | b) >> 11) * 0x1.0p-53;
}

template <typename T> __global__ void rand_kernel(T *o, int64_t n, uint64_t key, int normal) {
    ILC_LOOP(i, n) {
        u32x4 r = philox((uint64_t)i, key);
        double v;
        if (!normal) {
            v = u53(r.v[0], r.v[1]);
            /* f32 rounding could turn 1 - 2^-53 into 1.0f: keep the interval half-open */
            if (sizeof(T) == 4 && (float)v >= 1.0f) v = 0.99999994f;
        } else { /* Box-Muller, as the CPU generator (no cached second value) */
            double u1 = 1.0 - u53(r.v[0], r.v[1]), u2 = u53(r.v[2], r.v[3]);
            v = sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
        }
        o[i] = (T)v;
    }
}

il_status ili_cuda_random(il_ctx *ctx, il_tensor *t, int normal, uint64_t key) {
    il_tdesc d;
    ili_tensor_desc(t, &d);
    ilc_state *s = ilc_of(ctx);
    int64_t n = ili_numel(d.ndim, d.shape);
    if (n == 0) return IL_OK;
    if (!ili_desc_contiguous(&d))
        return ili_seterr(ctx, IL_E_INTERNAL, "cuda random: tensor is not contiguous");
    unsigned grid = ilc_grid(s, n);
    if (d.dtype == IL_DTYPE_F32)
        rand_kernel<float><<<grid, ILC_BLOCK, 0, s->stream>>>((float *)d.data, n, key, normal);
    else if (d.dtype == IL_DTYPE_F64)
        rand_kernel<double><<<grid, ILC_BLOCK, 0, s->stream>>>((double *)d.data, n, key, normal);
    else
        return ili_seterr(ctx, IL_E_DTYPE, "random tensors are f32 or f64, not %s",
                          il_dtype_name(d.dtype));
    ILC_LAUNCHED(ctx, normal ? "randn" : "rand");
    return IL_OK;
}
