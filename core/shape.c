/*
 * shape.c: shape arithmetic shared by the core: element counts, strides, NumPy broadcasting,
 * axis normalisation and the "(2, 3, 4)" spelling used in error messages.
 */
#include "il_impl.h"

#include <stdio.h>

int64_t ili_numel(int ndim, const int64_t *shape) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    return n;
}

void ili_contiguous_strides(int ndim, const int64_t *shape, int64_t *stride) {
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        stride[i] = s;
        s *= shape[i] > 1 ? shape[i] : 1;
    }
}

const char *ili_shape_str(char *buf, size_t n, int ndim, const int64_t *shape) {
    size_t used = 0;
    used += (size_t)snprintf(buf, n, "(");
    for (int i = 0; i < ndim && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (used < n) snprintf(buf + used, n - used, ")");
    return buf;
}

il_status ili_check_shape(il_ctx *ctx, int ndim, const int64_t *shape) {
    if (ndim < 0 || ndim > IL_MAX_DIMS)
        return ili_seterr(ctx, IL_E_SHAPE, "tensors have 0 to %d dimensions, not %d", IL_MAX_DIMS,
                          ndim);
    if (ndim > 0 && shape == NULL) return ili_seterr(ctx, IL_E_ARG, "shape is NULL");
    /* Keep the element count and its byte size far from overflow. */
    const int64_t limit = INT64_C(1) << 56;
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return ili_seterr(ctx, IL_E_SHAPE, "negative size %lld in dimension %d",
                              (long long)shape[i], i);
        if (shape[i] > 0 && n > limit / shape[i])
            return ili_seterr(ctx, IL_E_NOMEM, "tensor too large: more than 2^56 elements");
        n *= shape[i];
    }
    return IL_OK;
}

il_status ili_broadcast_shape(il_ctx *ctx, const char *what, int na, const int64_t *sa, int nb,
                              const int64_t *sb, int *nout, int64_t *out) {
    int n = na > nb ? na : nb;
    for (int i = 0; i < n; i++) {
        /* Align from the right, as NumPy does. */
        int ia = na - n + i, ib = nb - n + i;
        int64_t da = ia >= 0 ? sa[ia] : 1, db = ib >= 0 ? sb[ib] : 1;
        if (da != db && da != 1 && db != 1) {
            char bufa[160], bufb[160];
            return ili_seterr(ctx, IL_E_SHAPE, "%s: shapes %s and %s do not broadcast", what,
                              ili_shape_str(bufa, sizeof bufa, na, sa),
                              ili_shape_str(bufb, sizeof bufb, nb, sb));
        }
        out[i] = da == 1 ? db : da;
    }
    *nout = n;
    return IL_OK;
}

il_status ili_axis(il_ctx *ctx, int axis, int ndim, int *out) {
    int a = axis < 0 ? axis + ndim : axis;
    if (a < 0 || a >= ndim)
        return ili_seterr(ctx, IL_E_RANGE, "axis %d out of range for a %d-d tensor", axis, ndim);
    *out = a;
    return IL_OK;
}

/*
 * Strides that view a tensor of (on, oshape, ostride) as nshape without copying, following
 * PyTorch's computeStride: runs of dimensions that are contiguous among themselves can be split
 * or merged freely. Returns 0 when no such view exists. Both shapes have the same numel.
 */
int ili_view_strides(int on, const int64_t *oshape, const int64_t *ostride, int nn,
                     const int64_t *nshape, int64_t *nstride) {
    if (ili_numel(on, oshape) == 0 || on == 0) {
        ili_contiguous_strides(nn, nshape, nstride);
        return 1;
    }
    int view_d = nn - 1;
    int64_t chunk_base = ostride[on - 1], tensor_numel = 1, view_numel = 1;
    for (int d = on - 1; d >= 0; d--) {
        tensor_numel *= oshape[d];
        if (d == 0 || (oshape[d - 1] != 1 && ostride[d - 1] != tensor_numel * chunk_base)) {
            while (view_d >= 0 && (view_numel < tensor_numel || nshape[view_d] == 1)) {
                nstride[view_d] = view_numel * chunk_base;
                view_numel *= nshape[view_d];
                view_d--;
            }
            if (view_numel != tensor_numel) return 0;
            if (d > 0) {
                chunk_base = ostride[d - 1];
                tensor_numel = view_numel = 1;
            }
        }
    }
    return view_d == -1;
}
