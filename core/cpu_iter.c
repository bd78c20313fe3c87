/*
 * cpu_iter.c: strided iteration for the CPU kernels (see cpu_iter_impl.h): axis coalescing,
 * row walking with an odometer, and splitting rows across the thread pool.
 */
#include "cpu_iter_impl.h"

#include <stdint.h>
#include <string.h>

/* Chunks of a row are never cut below this, so inner loops stay long enough to vectorize. */
#define MIN_CHUNK 1024

/* Drops size-1 axes and merges an axis into the one before it when, in every operand, the
 * outer stride equals inner stride * inner size. Keeps row-major element order. */
static void coalesce(ili_iter *it, int ndim, const int64_t *shape, const il_tdesc *const *ops) {
    int nd = 0;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] == 1) continue;
        int merge = nd > 0;
        for (int k = 0; k < it->nops && merge; k++)
            merge = it->stride[k][nd - 1] == ops[k]->stride[d] * shape[d];
        if (merge) {
            it->shape[nd - 1] *= shape[d];
            for (int k = 0; k < it->nops; k++) it->stride[k][nd - 1] = ops[k]->stride[d];
            continue;
        }
        it->shape[nd] = shape[d];
        for (int k = 0; k < it->nops; k++) it->stride[k][nd] = ops[k]->stride[d];
        nd++;
    }
    if (nd == 0) { /* a scalar, or every axis has size 1 */
        it->shape[0] = 1;
        for (int k = 0; k < it->nops; k++) it->stride[k][0] = 0;
        nd = 1;
    }
    it->nd = nd;
}

il_status ili_iter_init(il_ctx *ctx, ili_iter *it, int nops, const il_tdesc *const *ops,
                        int64_t chunk) {
    const il_tdesc *o = ops[0];
    memset(it, 0, sizeof *it);
    if (nops < 1 || nops > ILI_ITER_MAXOPS || o->ndim < 0 || o->ndim > IL_MAX_DIMS)
        return ili_seterr(ctx, IL_E_INTERNAL, "cpu iterator: bad operand count or rank");
    for (int k = 1; k < nops; k++) {
        if (ops[k]->ndim != o->ndim ||
            memcmp(ops[k]->shape, o->shape, sizeof(int64_t) * (size_t)o->ndim) != 0)
            return ili_seterr(ctx, IL_E_INTERNAL, "cpu iterator: operand %d shape differs", k);
    }
    it->nops = nops;
    it->numel = 1;
    for (int d = 0; d < o->ndim; d++) it->numel *= o->shape[d];
    for (int k = 0; k < nops; k++) {
        it->base[k] = (char *)ops[k]->data;
        it->esize[k] = il_dtype_size(ops[k]->dtype);
    }
    coalesce(it, o->ndim, o->shape, ops);
    if (it->numel == 0) return IL_OK; /* nitems stays 0 */
    int64_t inner = it->shape[it->nd - 1];
    if (chunk < MIN_CHUNK) chunk = MIN_CHUNK;
    it->chunk = inner < chunk ? inner : chunk;
    it->nchunks = (inner + it->chunk - 1) / it->chunk;
    it->nitems = it->numel / inner * it->nchunks;
    return IL_OK;
}

/* Element offsets of row `row` (a row-major index over axes 0..nd-2) into idx and off. */
static void unravel(const ili_iter *it, int64_t row, int64_t *idx, int64_t *off) {
    for (int k = 0; k < it->nops; k++) off[k] = 0;
    for (int d = it->nd - 2; d >= 0; d--) {
        idx[d] = row % it->shape[d];
        row /= it->shape[d];
        for (int k = 0; k < it->nops; k++) off[k] += idx[d] * it->stride[k][d];
    }
}

/* Moves the odometer to the next row. */
static void next_row(const ili_iter *it, int64_t *idx, int64_t *off) {
    for (int d = it->nd - 2; d >= 0; d--) {
        for (int k = 0; k < it->nops; k++) off[k] += it->stride[k][d];
        if (++idx[d] < it->shape[d]) return;
        for (int k = 0; k < it->nops; k++) off[k] -= it->stride[k][d] * it->shape[d];
        idx[d] = 0;
    }
}

void ili_iter_rows(const ili_iter *it, int64_t begin, int64_t end, ili_row_fn fn, void *arg) {
    int64_t idx[IL_MAX_DIMS], off[ILI_ITER_MAXOPS], st[ILI_ITER_MAXOPS];
    char *ptr[ILI_ITER_MAXOPS];
    if (begin >= end) return;
    const int last = it->nd - 1;
    const int64_t inner = it->shape[last];
    int64_t row = begin / it->nchunks, c = begin % it->nchunks;
    for (int k = 0; k < it->nops; k++) st[k] = it->stride[k][last];
    unravel(it, row, idx, off);
    for (int64_t item = begin; item < end; item++) {
        /* Offsets stay integers until here so no pointer is formed outside the tensor. */
        int64_t s = c * it->chunk, n = inner - s < it->chunk ? inner - s : it->chunk;
        for (int k = 0; k < it->nops; k++)
            ptr[k] = it->base[k] + (off[k] + s * st[k]) * (int64_t)it->esize[k];
        fn(arg, n, ptr, st, row * inner + s);
        if (++c == it->nchunks) {
            c = 0;
            row++;
            if (item + 1 < end) next_row(it, idx, off);
        }
    }
}

typedef struct run_arg {
    const ili_iter *it;
    ili_row_fn fn;
    void *arg;
} run_arg;

static void run_task(void *arg, int64_t begin, int64_t end, int tid) {
    const run_arg *r = arg;
    (void)tid;
    ili_iter_rows(r->it, begin, end, r->fn, r->arg);
}

il_status ili_iter_run(il_ctx *ctx, const ili_iter *it, int64_t cost, ili_row_fn fn,
                       void *arg) {
    if (it->nitems == 0) return IL_OK;
    if (cost < 1) cost = 1;
    /* numel * cost may overflow only for absurd sizes; compare by division instead. */
    if (ctx->nthreads <= 1 || it->nitems == 1 || it->numel < (ILI_PAR_MIN + cost - 1) / cost) {
        ili_iter_rows(it, 0, it->nitems, fn, arg);
        return IL_OK;
    }
    int64_t per_item = it->chunk * cost;
    int64_t grain = per_item >= ILI_PAR_GRAIN ? 1 : (ILI_PAR_GRAIN + per_item - 1) / per_item;
    run_arg r = {it, fn, arg};
    return ili_parallel_for(ctx, it->nitems, grain, run_task, &r);
}

/* Byte span [lo, hi) of a descriptor, as integers so unrelated objects compare safely. */
static int span(const il_tdesc *d, uintptr_t *lo, uintptr_t *hi) {
    int64_t mn = 0, mx = 0;
    for (int i = 0; i < d->ndim; i++) {
        if (d->shape[i] == 0) return 0;
        int64_t ext = (d->shape[i] - 1) * d->stride[i];
        if (ext < 0) mn += ext;
        else mx += ext;
    }
    int64_t es = (int64_t)il_dtype_size(d->dtype);
    *lo = (uintptr_t)d->data + (uintptr_t)(mn * es);
    *hi = (uintptr_t)d->data + (uintptr_t)((mx + 1) * es);
    return 1;
}

int ili_desc_overlap(const il_tdesc *a, const il_tdesc *b) {
    uintptr_t alo, ahi, blo, bhi;
    if (!span(a, &alo, &ahi) || !span(b, &blo, &bhi)) return 0;
    return alo < bhi && blo < ahi;
}

int ili_desc_contiguous(const il_tdesc *d) {
    int64_t expect = 1;
    for (int i = d->ndim - 1; i >= 0; i--) {
        if (d->shape[i] == 1) continue;
        if (d->stride[i] != expect) return 0;
        expect *= d->shape[i];
    }
    return 1;
}

ili_op_kind ili_op_kind_of(il_op op) {
    switch (op) {
#define IL_OP(NAME, name, kind)                                                                   \
    case IL_OP_##NAME:                                                                            \
        return ILI_KIND_##kind;
#include "ironlearn/il_ops.def"
#undef IL_OP
    default:
        return ILI_KIND_NONE;
    }
}
