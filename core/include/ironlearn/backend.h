/*
 * ironlearn/backend.h: the interface between the core and a compute backend (CPU, CUDA).
 *
 * A backend is one `static const struct il_backend_ops` with designated initializers. The core
 * reaches it only through its ili_backend_* wrappers, which check arguments before any slot is
 * called; a slot may therefore trust that descriptors are well formed (shapes agree, dtypes are
 * valid, memory belongs to the backend's device).
 */
#ifndef IRONLEARN_BACKEND_H
#define IRONLEARN_BACKEND_H

#include "../ironlearn.h"

#ifdef __cplusplus
extern "C" {
#endif

#define IL_BACKEND_ABI 1
#define IL_MAX_OP_INPUTS 4
#define IL_MAX_OP_PARAMS 10

/* A strided view of device memory. Strides count elements; a stride of 0 repeats (broadcast). */
typedef struct il_tdesc {
    void *data; /* the first element, offset already applied */
    il_dtype dtype;
    int ndim;
    int64_t shape[IL_MAX_DIMS];
    int64_t stride[IL_MAX_DIMS];
} il_tdesc;

/*
 * One operation. Per kind of op:
 * - BINARY: in[0], in[1] already broadcast to out's shape (stride 0 on expanded axes); out is
 *   contiguous or a strided destination. Dtypes of in[0], in[1] and out are equal.
 * - UNARY: in[0] has out's shape; CLAMP reads p[0] = lo, p[1] = hi.
 * - REDUCE: `axis` is the reduced axis of in[0], or IL_AXIS_ALL; out has in[0]'s shape with the
 *   reduced axis (or every axis) set to 1, contiguous. ARGMAX writes i64.
 * - MATMUL: in[0] (B..., M, K), in[1] (B..., K, N), out (B..., M, N); batch axes already
 *   broadcast (possibly stride 0); any strides on every operand. All operands share one dtype.
 *   p[0] selects an epilogue (il_matmul_epilogue), which a backend may fuse into the product:
 *   - IL_MATMUL_EPILOGUE_NONE (0): out = in[0] · in[1]; nin is 2.
 *   - IL_MATMUL_EPILOGUE_FORWARD (1): out = f(in[0] · in[1] + in[2]), a layer's forward.
 *     in[2] (nin 3; nin 2: no bias) is the bias broadcast to out's shape (stride 0 on the M
 *     axis); f is the UNARY op p[1] with parameter p[2] (LEAKY_RELU's slope), or none when
 *     p[1] < 0.
 *   - IL_MATMUL_EPILOGUE_GRAD (2): out = G(in[0] · in[1], in[2]), the input gradient of a
 *     linear layer times its input activation's derivative, with G the activation-gradient op
 *     p[1] (TANH_GRAD ...), in[2] (nin 3) its second operand and p[2] its parameter; when
 *     out2.data is non-NULL, out2 = the sums of out over the M axis (out's shape with that axis
 *     1, contiguous: the bias gradient of the layer before the activation).
 *   Each is exactly the plain product followed by the separate ADD, unary op, gradient op and
 *   SUM (axis M); a backend without a fused form may run them so.
 * - COPY: in[0] has out's shape (broadcast allowed); dtypes may differ (converts).
 * - FILL: out = p[0].
 * - ROW, LOSS, OPTIM and the layer ops: see core/include/ironlearn/il_ops.def.
 */
/* MATMUL's p[0] (see il_opcall). */
typedef enum il_matmul_epilogue {
    IL_MATMUL_EPILOGUE_NONE = 0,
    IL_MATMUL_EPILOGUE_FORWARD = 1,
    IL_MATMUL_EPILOGUE_GRAD = 2
} il_matmul_epilogue;

typedef struct il_opcall {
    il_op op;
    int nin;
    il_tdesc in[IL_MAX_OP_INPUTS];
    il_tdesc out;
    il_tdesc out2; /* a second output where an op has one (LOSS: the 0-d loss value; MATMUL:
                      column sums of a GRAD epilogue) */
    int axis;
    double p[IL_MAX_OP_PARAMS];
} il_opcall;

struct il_backend_ops {
    int abi_version; /* IL_BACKEND_ABI */
    const char *name;
    /* nbytes > 0; on success *out is aligned to 64 bytes. IL_E_NOMEM on failure. */
    il_status (*alloc)(il_ctx *ctx, size_t nbytes, void **out);
    /* ptr from alloc (never NULL here). */
    void (*free)(il_ctx *ctx, void *ptr, size_t nbytes);
    /* host -> device and device -> host, n bytes. NULL: the device shares host memory (CPU). */
    il_status (*copy_in)(il_ctx *ctx, void *dst, const void *host_src, size_t n);
    il_status (*copy_out)(il_ctx *ctx, void *host_dst, const void *src, size_t n);
    /* Non-zero when run() handles this call; NULL means every op is handled. */
    int (*supports)(il_ctx *ctx, const il_opcall *call);
    il_status (*run)(il_ctx *ctx, const il_opcall *call);
    /* Waits for queued work; NULL means work is synchronous. */
    il_status (*sync)(il_ctx *ctx);
};

#ifdef __cplusplus
}
#endif
#endif
