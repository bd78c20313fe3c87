/*
 * geom.cu: host-side helpers on descriptors shared by the kernel families: the coalesced
 * iteration geometry (ilc_geom), overlap and contiguity tests, and packed descriptors.
 */
#include "common.cuh"

int64_t ilc_numel(const il_tdesc *d) {
    int64_t n = 1;
    for (int i = 0; i < d->ndim; i++) n *= d->shape[i];
    return n;
}

/*
 * Drops size-1 dims, then merges dim d into d+1 wherever every operand steps across the pair
 * as one (st[d] == st[d+1] * shape[d+1]); broadcast dims (stride 0 in some operand) merge only
 * with other broadcast dims of that operand. Row-major order is kept, so flat indices match the
 * CPU's. numel 0 leaves nd = 1 with shape 0.
 */
void ilc_geom_init(ilc_geom *g, int nops, const il_tdesc *const *ops) {
    const il_tdesc *o = ops[0];
    memset(g, 0, sizeof *g);
    g->numel = ilc_numel(o);
    int nd = 0;
    for (int d = 0; d < o->ndim; d++) {
        if (o->shape[d] == 1) continue;
        g->shape[nd] = o->shape[d];
        for (int k = 0; k < nops; k++) g->st[k][nd] = ops[k]->stride[d];
        nd++;
    }
    if (nd == 0 || g->numel == 0) {
        g->nd = 1;
        g->shape[0] = g->numel;
        for (int k = 0; k < nops; k++) g->st[k][0] = nd ? 0 : 1;
        return;
    }
    int w = 0; /* merge from the left into slot w */
    for (int d = 1; d < nd; d++) {
        int ok = 1;
        for (int k = 0; k < nops; k++) ok &= g->st[k][w] == g->st[k][d] * g->shape[d];
        if (ok) {
            g->shape[w] *= g->shape[d];
            for (int k = 0; k < nops; k++) g->st[k][w] = g->st[k][d];
        } else {
            w++;
            g->shape[w] = g->shape[d];
            for (int k = 0; k < nops; k++) g->st[k][w] = g->st[k][d];
        }
    }
    g->nd = w + 1;
}

int ilc_desc_contiguous(const il_tdesc *d) {
    int64_t expect = 1;
    for (int i = d->ndim - 1; i >= 0; i--) {
        if (d->shape[i] == 1) continue;
        if (d->stride[i] != expect) return 0;
        expect *= d->shape[i];
    }
    return 1;
}

/* The byte span [lo, hi) a descriptor touches; empty when it has no elements. */
static void span(const il_tdesc *d, uintptr_t *lo, uintptr_t *hi) {
    int64_t es = (int64_t)il_dtype_size(d->dtype), a = 0, b = 0;
    for (int i = 0; i < d->ndim; i++) {
        if (d->shape[i] == 0) {
            *lo = *hi = 0;
            return;
        }
        int64_t ext = (d->shape[i] - 1) * d->stride[i];
        if (ext < 0) a += ext;
        else b += ext;
    }
    *lo = (uintptr_t)d->data + (uintptr_t)(a * es);
    *hi = (uintptr_t)d->data + (uintptr_t)((b + 1) * es);
}

int ilc_spans_overlap(const il_tdesc *a, const il_tdesc *b) {
    uintptr_t a0, a1, b0, b1;
    span(a, &a0, &a1);
    span(b, &b0, &b1);
    return !(a0 == a1 || b0 == b1 || a1 <= b0 || b1 <= a0);
}

int ilc_unsafe_overlap(const il_tdesc *out, const il_tdesc *in) {
    if (!ilc_spans_overlap(out, in)) return 0;
    /* Element i read and written at the same address by the same thread is safe. */
    if (out->data == in->data && il_dtype_size(out->dtype) == il_dtype_size(in->dtype) &&
        out->ndim == in->ndim) {
        int same = 1;
        for (int i = 0; i < out->ndim; i++)
            same &= out->shape[i] == 1 || out->stride[i] == in->stride[i];
        if (same) return 0;
    }
    return 1;
}

void ilc_desc_packed(il_tdesc *out, void *p, const il_tdesc *d, il_dtype dt) {
    *out = *d;
    out->data = p;
    out->dtype = dt;
    ili_contiguous_strides(d->ndim, d->shape, out->stride);
}
