/*
 * testutil.h: helpers shared by the cmocka tests: a counting allocator that can fail the Nth
 * allocation, and tensor construction/comparison shortcuts.
 */
#ifndef IL_TESTUTIL_H
#define IL_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ironlearn.h"

/* An allocator whose allocation number fail_at (1-based) and all later ones fail; 0: never. */
typedef struct tu_alloc {
    int64_t count;
    int64_t fail_at;
    int64_t live_blocks;
} tu_alloc;

void *tu_alloc_fn(void *ud, void *ptr, size_t osize, size_t nsize);

/* A fresh context, asserted to succeed. */
il_ctx *tu_ctx(void);
/* Frees ctx after asserting that no tensor is alive and only the context's own bytes remain. */
void tu_ctx_done(il_ctx *ctx);

/* A context, and its bytes in use right after creation in *base. */
il_ctx *tu_ctx_base(size_t *base);
/* Frees ctx after asserting no tensor lives and only its own bytes (base) remain; the thread
 * pool is released first (set to one thread), being the context's own. */
void tu_ctx_done_exact(il_ctx *ctx, size_t base);
int64_t tu_numel(int nd, const int64_t *shape);
/* A new CPU tensor of dt, shape (nd, shape), from f64 values. */
il_tensor *tu_mk(il_ctx *ctx, il_dtype dt, int nd, const int64_t *shape, const double *v);
/* The values of view in row-major order, read from base's values bv (base contiguous) through
 * the view's own strides and data pointer, so no library copy is involved. Caller frees. */
double *tu_view_vals(const il_tensor *base, const double *bv, const il_tensor *view);

/* A new CPU tensor of dt from f64 values; the shape follows as ndim int sizes. */
il_tensor *tu_tensor(il_ctx *ctx, il_dtype dt, const double *values, int ndim, ...);
/* All values of t as a malloc'd f64 array (caller frees). */
double *tu_values(il_ctx *ctx, const il_tensor *t);
/* Asserts that t has the given shape. */
void tu_assert_shape(const il_tensor *t, int ndim, ...);
/* Asserts |got - want| <= atol + rtol * |want| elementwise, NaN matching NaN. */
void tu_assert_close(const double *got, const double *want, int64_t n, double atol, double rtol);
/* tu_assert_close, with what (NULL: none) leading the failure message. */
void tu_assert_close_at(const char *what, const double *got, const double *want, int64_t n,
                        double atol, double rtol);
/* Asserts the last error message contains needle. */
void tu_assert_errmsg(il_ctx *ctx, const char *needle);

/* xorshift64 step of *state (nonzero), then a uniform value in [lo, hi) from its top 53 bits. */
double tu_urand(uint64_t *state, double lo, double hi);

/* Adds a layer of kind k (options o, may be NULL) on node from, asserting success; its node. */
int tu_layer(il_net *net, il_layer_kind k, int from, const il_layer_opts *o);
/* il_net_gradcheck of a 1-input net on x, printed under what; asserts it ran and its error
 * is below 1e-6. Returns the error. */
double tu_gradcheck(il_ctx *ctx, il_net *net, il_tensor *x, const char *what);

/* Runs f(ctx, ud) in a fresh context whose allocation n fails, for n = 1, 2, ... until f
 * returns IL_OK: asserts each run returns IL_OK or IL_E_NOMEM (then with "out of memory" as
 * its message), leaves no tensor alive and, the context freed, no block allocated (also when
 * creating the context failed). Returns the n of the first success; fails if none below limit. */
int64_t tu_alloc_sweep(il_status (*f)(il_ctx *ctx, void *ud), void *ud, int64_t limit);

#endif
