/*
 * l_impl.h: declarations shared by the Lua binding's files (l_init.c, l_tensor.c, l_create.c,
 * l_ops.c, l_nn.c, l_layer.c, l_custom.c, l_train.c). Not installed. The binding uses only the
 * public C API (ironlearn.h).
 *
 * Conventions:
 * - Every function the binding registers is a C closure whose upvalue 1 is the context box
 *   (a full userdata holding the lua_State's one il_ctx), so no C state is global.
 * - Stack effects follow the Lua manual's notation: [-o, +p, x], x being '-' (raises nothing),
 *   'm' (may raise a memory error) or 'e' (may raise any error).
 * - Lua axes count from 1, negative ones from the end; l_checkaxis converts to C's 0-based axes.
 */
#ifndef L_IMPL_H
#define L_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "lauxlib.h"
#include "lua.h"

#include "ironlearn.h"
#include "ironlearn/backend.h" /* il_ctx_error, for messages of the binding's own C failures */

#define L_TENSOR_MT "il.Tensor"
#define L_CTX_MT "il.Context"
#define L_NET_MT "il.Net"
#define L_OPTIM_MT "il.Optim"
#define L_NODE_MT "il.Node"
#define L_LAYER_MT "il.Layer"
#define L_LOSS_MT "il.Loss"
/* Registry key of the context box; one per state, reused if the module is opened again. */
#define L_CTX_KEY "il.ctx"

/* Most inputs a network call takes from Lua (net:forward(x1, ..., xn), a custom layer's). */
#define L_MAXIN 16

/* luaopen_il must be visible although the build hides symbols by default. */
#if defined(__GNUC__)
#define L_EXPORT __attribute__((visibility("default")))
#else
#define L_EXPORT
#endif

L_EXPORT int luaopen_il(lua_State *L);

/* The context box: the only per-state C data. gcdebt counts bytes of C memory made since the
 * collector was last told about it; collect_at is the context's bytes_in_use at which a full
 * collection runs (see l_settensor). */
typedef struct l_ctxbox {
    il_ctx *ctx;
    size_t gcdebt;
    size_t collect_at;
} l_ctxbox;

/* Options table keys, a NULL-terminated list. */
typedef const char *const l_optkeys[];

/* ---- l_init.c ---------------------------------------------------------------------------- */

/* The context of the running closure (upvalue 1); raises once lua_close freed it. [-0, +0, e] */
il_ctx *l_ctx(lua_State *L);
/* Raises the context's error message for a failed status. Call only after all C cleanup.
 * [-0, +0, e] */
int l_fail(lua_State *L, il_status s);
/* Raises unless idx is nil/none or a table whose keys are all in keys ("unknown option 'k'").
 * Returns 1 when there is a table. [-0, +0, e] */
int l_checkopts(lua_State *L, int idx, l_optkeys keys);
/* opts.dtype / opts.device of the (checked) options table at idx, or dflt. [-0, +0, e] */
il_dtype l_optdtype(lua_State *L, int idx, il_dtype dflt);
il_device l_optdevice(lua_State *L, int idx, il_device dflt);
/* Pushes s, a C string the context allocated, and frees it (il_ctx_free_string) before any
 * error propagates: the push runs under lua_pcall. Needs 2 free stack slots. [-0, +1, e] */
void l_pushcstr(lua_State *L, char *s);
/* Registers funcs into the table on top, each a closure over the context box. [-0, +0, m] */
void l_setfuncs(lua_State *L, const luaL_Reg *funcs);

/* ---- l_tensor.c -------------------------------------------------------------------------- */

/* Pushes a new tensor userdata holding NULL, its metatable set, and returns its slot; the
 * caller creates the C tensor into a local and stores it with l_settensor. [-0, +1, m] */
il_tensor **l_newslot(lua_State *L);
/* Stores t (owned from now on by the userdata) in slot and tells the collector about new_bytes
 * of C memory, which may run it. [-0, +0, -] */
void l_settensor(lua_State *L, il_tensor **slot, il_tensor *t, size_t new_bytes);
/* The tensor of a live "il.Tensor" userdata at idx; raises on anything else or a freed one.
 * [-0, +0, e] */
il_tensor *l_checktensor(lua_State *L, int idx);
/* The tensor at idx when it is a live tensor userdata, else NULL. [-0, +0, e] */
il_tensor *l_totensor(lua_State *L, int idx);
/* Converts the Lua axis at arg (1-based, negative from the end) of t to a 0-based C axis;
 * raises "axis 4 out of range for a 3-d tensor". [-0, +0, e] */
int l_checkaxis(lua_State *L, const il_tensor *t, int arg);
/* Reads a shape given as a table at arg, or as the integers arg..last (allow_neg admits -1).
 * Returns ndim. [-0, +0, e] */
int l_checkshape(lua_State *L, int arg, int last, int64_t shape[IL_MAX_DIMS], int allow_neg);
/* Makes the view userdata at idx keep the base userdata at base alive. [-0, +0, -] */
void l_keepbase(lua_State *L, int idx, int base);
void l_open_tensor(lua_State *L); /* [-0, +0, m] metatable and methods */

/* ---- l_create.c -------------------------------------------------------------------------- */

void l_open_create(lua_State *L); /* [-0, +0, m] il.tensor, il.zeros... into the table on top */

/* ---- l_ops.c ----------------------------------------------------------------------------- */

/* Adds the metamethods and methods of l_ops.c to the metatable at mt and the methods table at
 * methods. [-0, +0, m] */
void l_open_ops(lua_State *L, int mt, int methods);

/* ---- l_nn.c: the "il.Net" userdata ------------------------------------------------------- */

/* A network userdata. L is the thread of the call now running inside C on this network (custom
 * layers call their Lua functions on it); busy is set meanwhile, so a custom layer cannot
 * re-enter its own network. User value 1 holds the recipe that built it (for net:to). */
typedef struct l_net {
    il_net *net;
    lua_State *L;
    int busy;
    int training;
    il_dtype dtype;
    int nin; /* graph inputs */
    int64_t in_width[L_MAXIN];
    int64_t out_width;
} l_net;

/* Marks n busy on thread L before a C call that may run custom layers, and back after it.
 * [-0, +0, -] */
static inline void l_enter(lua_State *L, l_net *n) {
    n->L = L;
    n->busy = 1;
}
static inline void l_leave(l_net *n) {
    n->busy = 0;
}

/* Pushes a new network userdata holding an empty C network of dtype dt. [-0, +1, e] */
l_net *l_newnet(lua_State *L, il_dtype dt);
/* The live network at idx; raises on anything else, or while the network is busy. [-0, +0, e] */
l_net *l_checknet(lua_State *L, int idx);
/* Tells the collector about bytes of C memory made outside tensors. [-0, +0, -] */
void l_gcdebt(lua_State *L, size_t bytes);
/* Bytes the context holds now. [-0, +0, -] */
size_t l_inuse(il_ctx *ctx);
/* Reads net inputs given as tensors at first..last, or as one table of tensors at first, into x
 * (checked against the network's input count; what names the call). Returns their count.
 * [-0, +0, e] */
int l_netinputs(lua_State *L, l_net *n, int first, int last, const il_tensor **x, const char *what);
void l_open_nn(lua_State *L); /* [-0, +0, m] metatable, methods; il.nn into the table on top */

/* ---- l_layer.c: layer descriptors and nodes; l_build.c: sequential and graph ------------- */

typedef struct l_layer {
    il_layer_kind kind;
    il_layer_opts opts;  /* opts.name is filled from user value 1 when a network is built */
    int64_t in_features; /* LINEAR: the i of linear(i, o) */
    int sine_after;      /* LINEAR from il.nn.siren (not last=true): a sine layer follows */
} l_layer;

/* A graph node: its width, and whether it is an input (il.nn.input). */
typedef struct l_node {
    int64_t width;
    int isinput;
} l_node;

extern const char *const l_kind_names[IL_LAYER_COUNT]; /* "linear", ... ("layer": custom) */
int l_issiren(const l_layer *ly); /* a linear descriptor with a SIREN init */
int l_isjoin(il_layer_kind k);                         /* add or concat */
/* The node at idx, or NULL. [-0, +0, -] */
l_node *l_tonode(lua_State *L, int idx);
/* Writes the label of the layer at idx for messages into buf: "linear(2, 8)", "linear 'fc1'",
 * "tanh", plus " (layer 3)" when pos > 0. [-0, +0, e] */
const char *l_layerlabel(lua_State *L, int idx, int pos, char *buf, size_t size);
/* The layer descriptor at idx or raises. [-0, +0, e] */
l_layer *l_checklayer(lua_State *L, int idx);
/* Output width of the layer at idx fed widths w[0..nin-1]; raises naming the layer (label) and
 * the expected and given widths. [-0, +0, e] */
int64_t l_layerwidth(lua_State *L, int idx, int nin, const int64_t *w, const char *label);
/* Adds the layer at idx, fed by nodes in[0..nin-1], to the network n. [-0, +0, e] */
int l_addlayer(lua_State *L, l_net *n, int idx, int nin, const int *in);
void l_open_build(lua_State *L); /* [-0, +0, m] il.nn.sequential, il.nn.graph */
/* Pushes a new network of dtype dt built from the recipe table at idx (a network's user value
 * 1), whose parameters are fresh. [-0, +1, e] */
l_net *l_rebuild(lua_State *L, int idx, il_dtype dt);
/* Pushes a network holding just the layer at idx, with inputs of widths w. [-0, +1, e] */
l_net *l_layernet(lua_State *L, int idx, int nin, const int64_t *w, il_dtype dt);
void l_open_layer(lua_State *L); /* [-0, +0, m] layer constructors into the il.nn table on top */

/* ---- l_custom.c: layers written in Lua --------------------------------------------------- */

/* il.nn.layer{forward=, backward=, out=, name=} [-0, +1, e] */
int l_customlayer(lua_State *L);
/* Output width of the custom layer at idx (its out function, or the common input width).
 * [-0, +0, e] */
int64_t l_customwidth(lua_State *L, int idx, int nin, const int64_t *w, const char *label);
/* Adds the custom layer at idx to n, fed by in[0..nin-1]; *node gets its id. [-0, +0, e] */
il_status l_customadd(lua_State *L, l_net *n, int idx, int nin, const int *in, int *node);
/* Writes t's shape into buf as "(4, 3)" (cut short if size is too small); returns buf.
 * [-0, +0, -] */
const char *l_fmtshape(const il_tensor *t, char *buf, size_t size);

/* ---- l_train.c: losses, optimizers, gradcheck; l_fit.c: net:fit --------------------------- */

/* The loss at idx: an "il.Loss" or its name ("mse"). [-0, +0, e] */
il_loss l_checkloss(lua_State *L, int idx);
/* The live optimizer at idx. [-0, +0, e] */
il_optim *l_checkoptim(lua_State *L, int idx);
/* Pushes target converted for loss: 1-based class indices become the C API's 0-based ones for
 * cross entropy; otherwise pushes the target itself. Returns the tensor. [-0, +1, e] */
il_tensor *l_losstarget(lua_State *L, const il_loss *loss, int idx);
/* net:fit{...} (l_fit.c) [-0, +2, e] */
int l_fit(lua_State *L);
void l_open_train(lua_State *L); /* [-0, +0, m] il.loss, il.optim, il.gradcheck */

/* ---- l_schedule.c, l_schedstate.c: learning-rate schedules -------------------------------- */

#define L_SCHED_MT "il.Schedule"

/* A schedule userdata. ctx and name serve the C callback of an fn schedule; plateau is set when
 * the tree holds a plateau schedule (net:fit then observes each epoch's loss). */
typedef struct l_sched {
    il_schedule *s;
    il_ctx *ctx;
    int plateau;
    char name[32];
} l_sched;

/* How an option of il.schedule.* maps to il_schedule_opts. */
enum { L_F_NUM, L_F_INT, L_F_ENUM, L_F_LIST };
typedef struct l_schedfield {
    const char *key;
    int type;
    size_t off;               /* into il_schedule_opts */
    const char *const *names; /* L_F_ENUM: names by value, NULL-terminated */
} l_schedfield;

/* The live schedule at idx, or raises. [-0, +0, e] */
l_sched *l_checksched(lua_State *L, int idx);
/* The rate of ls at step (fn schedules run on L), or raises. [-0, +0, e] */
double l_schedlr(lua_State *L, l_sched *ls, int64_t step);
const l_schedfield *l_schedfield_find(const char *key); /* NULL when unknown */
const char *const *l_schedkeys(il_schedule_kind kind);  /* NULL-terminated option names */
void l_open_schedstate(lua_State *L);   /* [-0, +0, m] s:state, s:set_state into the table on top */
void l_open_schedrestore(lua_State *L); /* [-0, +0, m] restore into il.schedule (on top) */
void l_open_schedule(lua_State *L);     /* [-0, +0, m] il.schedule into the table on top */
/* Before an update by the optimizer at idx: sets its rate from its schedule, when it has one,
 * and returns the rate the update will use. [-0, +0, e] */
double l_optim_prestep(lua_State *L, int idx);
/* The schedule attached to the optimizer at idx, or NULL. [-0, +0, e] */
l_sched *l_optim_sched(lua_State *L, int idx);
/* Attaches the schedule at sidx (nil: detaches) to the optimizer at idx. [-0, +0, e] */
void l_optim_attach(lua_State *L, int idx, int sidx);

/* ---- l_progress.c: il.progress ------------------------------------------------------------ */

#define L_PROGRESS_MT "il.Progress"

/* Seconds on a monotonic clock. */
double l_now(void);
/* Pushes a progress display over total units with the options table at opts (or none), whose
 * output defaults to io.stderr. [-0, +1, e] */
void l_newprogress(lua_State *L, int64_t total, int opts);
/* Reports n units done (NaN: loss or lr unknown) to the progress display at idx. [-0, +0, e] */
void l_progress_update(lua_State *L, int idx, int64_t n, double loss, double lr);
void l_progress_done(lua_State *L, int idx); /* [-0, +0, e] */
/* Whether the Lua file handle at idx (0 or none: the C stderr) is a terminal. [-0, +0, e] */
int l_isatty(lua_State *L, int idx);
void l_open_progress(lua_State *L); /* [-0, +0, m] il.progress into the table on top */

/* ---- l_plotlines.c: il.plot.lines ---------------------------------------------------------- */

void l_open_plotlines(lua_State *L); /* [-0, +0, e] il.plot.lines into the table on top */

/* ---- l_ckpt.c: checkpoints (issue 7) ------------------------------------------------------ */

/* il.save, il.load, il.nn.load, net:save and fit's checkpoint=/resume= into the module table on
 * top; after l_open_nn and l_open_schedule. [-0, +0, e] */
void l_open_ckpt(lua_State *L);

/* ---- l_data.c, l_batches.c, l_image.c, l_expr.c, l_sample.c, l_plot.c: data (issue 5) ----- */

/* Options of the table at idx (none or nil: dflt): an integer >= lo, a number, a boolean, and
 * seed= (NULL when absent, else buf holding it). Raise naming the option. [-0, +0, e] */
lua_Integer l_optint(lua_State *L, int idx, const char *key, lua_Integer dflt, lua_Integer lo);
double l_optnum(lua_State *L, int idx, const char *key, double dflt);
int l_optbool(lua_State *L, int idx, const char *key, int dflt);
const uint64_t *l_optseed(lua_State *L, int idx, uint64_t *buf);
int l_batches(lua_State *L); /* il.data.batches [-0, +1, e] */
int l_sample(lua_State *L);  /* il.expr.sample [-0, +4, e] */
/* The "il.Expr" at idx; a string there is parsed and replaced by its expression. [-0, +0, e] */
il_expr *l_toexpr(lua_State *L, int idx);
void l_open_data(lua_State *L);  /* [-0, +0, m] il.data into the table on top */
void l_open_image(lua_State *L); /* [-0, +0, m] il.image */
void l_open_expr(lua_State *L);  /* [-0, +0, m] il.expr and the "il.Expr" metatable */
void l_open_plot(lua_State *L);  /* [-0, +0, e] il.plot (runs the embedded il/plot.lua) */

#endif
