/*
 * geom.cu: host-side helpers on descriptors shared by the kernel families: the coalesced
 * iteration geometry (ilc_geom), the overlap test for GPU threads, and packed descriptors. (Plain
 * overlap, contiguity and element counts are the core's: il_impl.h.)
 */
#include "common.cuh"

/*
 * Drops size-1 dims, then merges dim d into d+1 wherever every operand steps across the pair
 * as one (st[d] == st[d+1] * shape[d+1]); broadcast dims (stride 0 in some operand) merge only
 * with other broadcast dims of that operand. Row-major order is kept, so flat indices match the
 * CPU's. numel 0 leaves nd = 1 with shape 0.
 */
void ilc_geom_init(ilc_geom *g, int nops, const il_tdesc *const *ops) {
    const il_tdesc *o = ops[0];
    memset(g, 0, sizeof *g);
    g->numel = ili_numel(o->ndim, o->shape);
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

int ilc_unsafe_overlap(const il_tdesc *out, const il_tdesc *in) {
    if (!ili_desc_overlap(out, in)) return 0;
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
