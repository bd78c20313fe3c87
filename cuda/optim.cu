/*
 * optim.cu: the OPTIM ops (SGD with momentum/nesterov/weight decay, Adam/AdamW, RMSprop) as
 * one kernel each over the network's contiguous parameter buffer: every parameter of every
 * layer in one launch (the multi-tensor pattern, for free, since parameters already live in one
 * buffer). Formulas and p[] layouts as core/cpu_optim.c and core/nn_impl.h; arithmetic in
 * double, as on the CPU, so f32 updates round the same way.
 */
#include "common.cuh"

enum { O_SGD, O_ADAM, O_RMSPROP };

template <int K, typename T> __global__ void optim_kernel(ilc_optim_args a) {
    T *w = (T *)a.w, *s0 = (T *)a.s0, *s1 = (T *)a.s1;
    const T *g = (const T *)a.g;
    if (a.guard) { /* a captured step: skip the update when its loss is not finite */
        double l = a.guard_f64 ? *(const double *)a.guard : (double)*(const float *)a.guard;
        if (!isfinite(l)) return;
    }
    ILC_LOOP(i, a.n) {
        if constexpr (K == O_SGD) {
            double lr = a.p[0], mu = a.p[1], wd = a.p[2];
            double d = (double)g[i] + wd * (double)w[i];
            if (mu != 0) {
                double b = a.p[4] != 0 ? d : mu * (double)s0[i] + d;
                s0[i] = (T)b;
                d = a.p[3] != 0 ? d + mu * b : b;
            }
            w[i] = (T)((double)w[i] - lr * d);
        } else if constexpr (K == O_ADAM) {
            double lr = a.p[0], b1 = a.p[1], b2 = a.p[2], eps = a.p[3], wd = a.p[4];
            int decoupled = a.p[5] != 0;
            double step = lr / a.p[6], rbc2 = 1.0 / sqrt(a.p[7]);
            double shrink = decoupled ? 1 - lr * wd : 1, l2 = decoupled ? 0 : wd;
            double wi = (double)w[i] * shrink, d = (double)g[i] + l2 * (double)w[i];
            double mi = b1 * (double)s0[i] + (1 - b1) * d;
            double vi = b2 * (double)s1[i] + (1 - b2) * d * d;
            s0[i] = (T)mi;
            s1[i] = (T)vi;
            w[i] = (T)(wi - step * mi / (sqrt(vi) * rbc2 + eps));
        } else {
            double lr = a.p[0], alpha = a.p[1], eps = a.p[2], wd = a.p[3], mu = a.p[4];
            double d = (double)g[i] + wd * (double)w[i];
            double sq = alpha * (double)s0[i] + (1 - alpha) * d * d;
            double r = d / (sqrt(sq) + eps);
            s0[i] = (T)sq;
            if (mu > 0) {
                r = mu * (double)s1[i] + r;
                s1[i] = (T)r;
            }
            w[i] = (T)((double)w[i] - lr * r);
        }
    }
}

/* Inputs each op reads (gradients plus state); RMSprop's momentum buffer only when used. */
static int inputs_needed(const il_opcall *c) {
    switch (c->op) {
    case IL_OP_SGD_UPDATE: return c->p[1] != 0 ? 2 : 1;
    case IL_OP_ADAM_UPDATE: return 3;
    case IL_OP_RMSPROP_UPDATE: return c->p[4] > 0 ? 3 : 2;
    default: return -1;
    }
}

/* IL_E_INTERNAL unless every buffer is contiguous 1-D of out's length and dtype. */
static il_status check_call(il_ctx *ctx, const il_opcall *c, int need) {
    const il_tdesc *o = &c->out;
    int ok = need >= 0 && c->nin >= need && o->ndim == 1 &&
             (o->dtype == IL_DTYPE_F32 || o->dtype == IL_DTYPE_F64) &&
             (o->stride[0] == 1 || o->shape[0] <= 1);
    for (int k = 0; ok && k < need; k++) {
        const il_tdesc *d = &c->in[k];
        ok = d->ndim == 1 && d->dtype == o->dtype && d->shape[0] == o->shape[0] &&
             (d->stride[0] == 1 || d->shape[0] <= 1);
    }
    if (!ok) return ili_seterr(ctx, IL_E_INTERNAL, "cuda optim: bad %s call", il_op_name(c->op));
    return IL_OK;
}

template <typename T> static const void *kernel_of(il_op op) {
    if (op == IL_OP_SGD_UPDATE) return (const void *)optim_kernel<O_SGD, T>;
    if (op == IL_OP_ADAM_UPDATE) return (const void *)optim_kernel<O_ADAM, T>;
    return (const void *)optim_kernel<O_RMSPROP, T>;
}

il_status ilc_optim_prepare(il_ctx *ctx, const il_opcall *c, ilc_optim_args *a,
                            const void **func, unsigned *grid) {
    int need = inputs_needed(c);
    if (need < 0)
        return ili_seterr(ctx, IL_E_INTERNAL, "cuda optim: unexpected op %s", il_op_name(c->op));
    IL_TRY(check_call(ctx, c, need));
    memset(a, 0, sizeof *a);
    a->n = c->out.shape[0];
    a->w = c->out.data;
    a->g = c->in[0].data;
    a->s0 = need > 1 ? c->in[1].data : NULL;
    a->s1 = need > 2 ? c->in[2].data : NULL;
    memcpy(a->p, c->p, sizeof a->p);
    *func = NULL;
    *grid = 0;
    if (a->n == 0) return IL_OK;
    *func = c->out.dtype == IL_DTYPE_F32 ? kernel_of<float>(c->op) : kernel_of<double>(c->op);
    *grid = ilc_grid(ilc_of(ctx), a->n);
    return IL_OK;
}

/* One OPTIM op over contiguous 1-D buffers, in place. While a step is being captured, the
 * kernel also checks the step's loss (cap_guard) and is remembered for per-replay updates.
 * IL_E_INTERNAL, IL_E_DEVICE. */
il_status ilc_optim(il_ctx *ctx, const il_opcall *c) {
    ilc_optim_args a;
    const void *func = NULL;
    unsigned grid = 0;
    IL_TRY(ilc_optim_prepare(ctx, c, &a, &func, &grid));
    if (func == NULL) return IL_OK;
    ilc_state *s = ilc_of(ctx);
    if (s->capturing) {
        if (s->cap_optim_func)
            return ili_seterr(ctx, IL_E_INTERNAL, "cuda: two optimizer updates in one capture");
        a.guard = s->cap_guard;
        a.guard_f64 = s->cap_guard_f64;
        s->cap_optim_func = func;
    }
    void *args[1] = {&a};
    ILC_CUDA(ctx, cudaLaunchKernel(func, dim3(grid), dim3(ILC_BLOCK), args, 0, s->stream));
    ILC_LAUNCHED(ctx, il_op_name(c->op));
    if (s->capturing) { /* the node just recorded is the stream's one dependency now */
        cudaStreamCaptureStatus st;
        const cudaGraphNode_t *deps = NULL;
        size_t nd = 0;
        ILC_CUDA(ctx, cudaStreamGetCaptureInfo(s->stream, &st, NULL, NULL, &deps, NULL, &nd));
        if (st != cudaStreamCaptureStatusActive || nd != 1)
            return ili_seterr(ctx, IL_E_INTERNAL, "cuda: the optimizer's node is not recorded");
        s->cap_optim_node = deps[0];
    }
    return IL_OK;
}
