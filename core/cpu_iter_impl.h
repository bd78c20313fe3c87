/*
 * cpu_iter_impl.h: strided iteration shared by the CPU kernels (elementwise, reductions, copies).
 *
 * An ili_iter walks up to ILI_ITER_MAXOPS operands that share one shape. It drops size-1 axes
 * and merges axes that are contiguous in every operand, so a kernel sees as few and as long
 * rows as possible. Rows are cut into chunks ("items") so that work can be split across threads
 * even when the whole tensor coalesces into one row. Not installed.
 */
#ifndef IL_CPU_ITER_IMPL_H
#define IL_CPU_ITER_IMPL_H

#include "il_impl.h"

#define ILI_ITER_MAXOPS 3
/* Elementwise work below this many elements runs on the calling thread. */
#define ILI_PAR_MIN ((int64_t)1 << 16)
/* Elements of work each thread gets at least, once a loop is split. */
#define ILI_PAR_GRAIN ((int64_t)1 << 15)

typedef struct ili_iter {
    int nops;
    int nd; /* coalesced rank, >= 1 */
    int64_t shape[IL_MAX_DIMS];
    int64_t stride[ILI_ITER_MAXOPS][IL_MAX_DIMS]; /* elements */
    char *base[ILI_ITER_MAXOPS];
    size_t esize[ILI_ITER_MAXOPS];
    int64_t numel;
    int64_t chunk;   /* elements of the innermost axis per item */
    int64_t nchunks; /* items per row */
    int64_t nitems;  /* rows * nchunks (0 when numel is 0) */
} ili_iter;

/*
 * Body for one piece of a row: n >= 1 elements; ptr[k] is operand k's first element and
 * st[k] its stride in elements; flat is the row-major index of the first element within the
 * iterated shape (reductions use it for argmax).
 */
typedef void (*ili_row_fn)(void *arg, int64_t n, char *const *ptr, const int64_t *st,
                           int64_t flat);

/*
 * Sets up `it` over ops[0..nops-1] (ops[0] is normally the output). Every operand must have
 * ops[0]'s rank and shape; strides may be anything, 0 included. chunk (>= 1) caps the elements
 * per item. Returns IL_E_INTERNAL (with a message) if the shapes differ.
 */
IL_INTERNAL il_status ili_iter_init(il_ctx *ctx, ili_iter *it, int nops,
                                    const il_tdesc *const *ops, int64_t chunk);
/* Runs fn over items [begin, end) in order, on the calling thread. */
IL_INTERNAL void ili_iter_rows(const ili_iter *it, int64_t begin, int64_t end, ili_row_fn fn,
                               void *arg);
/*
 * Runs fn over every item, split across the context's threads when numel * cost (cost: work
 * per element, >= 1) reaches ILI_PAR_MIN. fn must then be safe to call concurrently on
 * different items. Returns the status of ili_parallel_for (IL_OK when run inline).
 */
IL_INTERNAL il_status ili_iter_run(il_ctx *ctx, const ili_iter *it, int64_t cost, ili_row_fn fn,
                                   void *arg);
/* ili_desc_overlap, ili_desc_contiguous and ili_op_kind_of (defined in cpu_iter.c) are declared
 * in il_impl.h, since the CUDA backend uses them too. */

/* Float to int64 without undefined behaviour: truncates toward zero, NaN gives 0, values
 * outside the int64 range saturate. */
static inline int64_t ili_f2i64(double x) {
    if (x != x) return 0;
    if (x >= 9223372036854775808.0) return INT64_MAX;
    if (x < -9223372036854775808.0) return INT64_MIN;
    return (int64_t)x;
}

#endif
