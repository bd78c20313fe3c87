/*
 * graph.cu: CUDA graphs of whole training steps. The core (nn_graph.c) brackets one step's ops
 * with ili_cuda_capture_begin/_end: the context's stream records them instead of running them,
 * and the recording is instantiated once. A replay is one cudaGraphLaunch, after the captured
 * optimizer kernel's argument is rebuilt from the step's OPTIM call (learning rate, bias
 * corrections, first-step flag change from step to step; nothing else does).
 *
 * What a capture may not do is refused by the backend while it lasts (allocation, reads back,
 * copies from the host, synchronisation: see ilc_no_capture), so a step that needs the host
 * fails to capture cleanly and the core runs it eagerly instead. Graphs point at device memory
 * by address: a graph is replayed only while the context's scratch blocks and TF32 setting
 * are those it was captured with (ili_cuda_graph_valid); the core keys graphs on everything
 * else (tensors, arena, optimizer state).
 */
#include "common.cuh"

struct ili_cuda_graph {
    cudaGraph_t graph; /* kept: optim_node belongs to it */
    cudaGraphExec_t exec;
    cudaGraphNode_t optim_node; /* NULL: the step updates nothing */
    cudaKernelNodeParams optim_kp;
    const void *guard;
    int guard_f64;
    size_t nodes;
    uint64_t scratch_gen;
    int tf32;
};

il_status ili_cuda_capture_begin(il_ctx *ctx, const void *guard, il_dtype guard_dt) {
    IL_TRY(ili_cuda_ready(ctx));
    ilc_state *s = ilc_of(ctx);
    if (s->capturing) return ili_seterr(ctx, IL_E_INTERNAL, "cuda: nested graph capture");
    ILC_CUDA(ctx, cudaStreamBeginCapture(s->stream, cudaStreamCaptureModeThreadLocal));
    s->capturing = 1;
    s->cap_guard = guard;
    s->cap_guard_f64 = guard_dt == IL_DTYPE_F64;
    s->cap_optim_func = NULL;
    s->cap_optim_node = NULL;
    s->cap_launches = s->counts.launches;
    return IL_OK;
}

/* Counts g's nodes and takes the recorded optimizer node's parameters (only ours: a library's
 * kernel nodes do not expose theirs). */
static il_status find_optim(il_ctx *ctx, ili_cuda_graph *g, cudaGraphNode_t node,
                            const void *func) {
    size_t n = 0;
    ILC_CUDA(ctx, cudaGraphGetNodes(g->graph, NULL, &n));
    g->nodes = n;
    if (func == NULL) return IL_OK;
    if (node == NULL)
        return ili_seterr(ctx, IL_E_INTERNAL, "cuda: the optimizer's node is not in the graph");
    ILC_CUDA(ctx, cudaGraphKernelNodeGetParams(node, &g->optim_kp));
    if (g->optim_kp.func != func)
        return ili_seterr(ctx, IL_E_INTERNAL, "cuda: the optimizer's node runs another kernel");
    g->optim_node = node;
    return IL_OK;
}

il_status ili_cuda_capture_end(il_ctx *ctx, int keep, ili_cuda_graph **out) {
    ilc_state *s = ilc_of(ctx);
    *out = NULL;
    if (!s->capturing) return ili_seterr(ctx, IL_E_INTERNAL, "cuda: no graph capture under way");
    s->capturing = 0;
    s->counts.launches = s->cap_launches; /* recorded, not launched */
    cudaGraph_t graph = NULL;
    cudaError_t e = cudaStreamEndCapture(s->stream, &graph);
    if (!keep || e != cudaSuccess) {
        if (graph) cudaGraphDestroy(graph);
        cudaGetLastError(); /* a failed capture leaves the stream usable; clear the record */
        if (keep) return ilc_fail_cuda(ctx, "cudaStreamEndCapture", e, __FILE__, __LINE__);
        return IL_OK;
    }
    ili_cuda_graph *g = (ili_cuda_graph *)ili_malloc(ctx, sizeof *g);
    if (g == NULL) {
        cudaGraphDestroy(graph);
        return ili_nomem(ctx, sizeof *g);
    }
    memset((void *)g, 0, sizeof *g); /* plain data: dim3 has a constructor, nothing else */
    g->graph = graph;
    g->guard = s->cap_guard;
    g->guard_f64 = s->cap_guard_f64;
    g->scratch_gen = s->scratch_gen;
    g->tf32 = s->tf32;
    il_status st = find_optim(ctx, g, s->cap_optim_node, s->cap_optim_func);
    if (st == IL_OK) {
        e = cudaGraphInstantiate(&g->exec, graph, 0);
        if (e != cudaSuccess) {
            g->exec = NULL;
            st = ilc_fail_cuda(ctx, "cudaGraphInstantiate", e, __FILE__, __LINE__);
        }
    }
    if (st != IL_OK) {
        ili_cuda_graph_free(ctx, g);
        return st;
    }
    *out = g;
    return IL_OK;
}

int ili_cuda_graph_valid(il_ctx *ctx, const ili_cuda_graph *g) {
    const ilc_state *s = ilc_of(ctx);
    return g && s && g->scratch_gen == s->scratch_gen && g->tf32 == s->tf32;
}

size_t ili_cuda_graph_nodes(const ili_cuda_graph *g) { return g ? g->nodes : 0; }

il_status ili_cuda_graph_launch(il_ctx *ctx, ili_cuda_graph *g, const il_opcall *optim) {
    ilc_state *s = ilc_of(ctx);
    if (g->optim_node) {
        if (optim == NULL)
            return ili_seterr(ctx, IL_E_INTERNAL, "cuda: a graph replay without its update");
        ilc_optim_args a;
        const void *func = NULL;
        unsigned grid = 0;
        IL_TRY(ilc_optim_prepare(ctx, optim, &a, &func, &grid));
        if (func != g->optim_kp.func || grid != g->optim_kp.gridDim.x)
            return ili_seterr(ctx, IL_E_INTERNAL, "cuda: the update does not fit the graph");
        a.guard = g->guard;
        a.guard_f64 = g->guard_f64;
        cudaKernelNodeParams kp = g->optim_kp;
        void *args[1] = {&a};
        kp.kernelParams = args;
        kp.extra = NULL;
        ILC_CUDA(ctx, cudaGraphExecKernelNodeSetParams(g->exec, g->optim_node, &kp));
    }
    ILC_CUDA(ctx, cudaGraphLaunch(g->exec, s->stream));
    s->counts.launches++;
    s->counts.graphs++;
    s->counts.graph_nodes += g->nodes;
    return IL_OK;
}

void ili_cuda_graph_free(il_ctx *ctx, ili_cuda_graph *g) {
    if (g == NULL) return;
    /* A replay may still be queued: destroying an executable graph is safe then (CUDA keeps
     * what the queued launch needs until it completes). */
    if (g->exec) cudaGraphExecDestroy(g->exec);
    if (g->graph) cudaGraphDestroy(g->graph);
    cudaGetLastError();
    ili_free(ctx, g, sizeof *g);
}
