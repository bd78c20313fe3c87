/*
 * expr_impl.h: the expression tree shared by expr_parse.c (parsing, printing), expr_eval.c
 * (evaluation) and expr_roll.c (dice and sampling). Not installed.
 *
 * Nodes live in one growing array owned by the expression; children are indices, so freeing is
 * one block and a failed build leaves nothing behind. Each node records its depth, and trees
 * deeper than ILI_EXPR_MAX_DEPTH are refused, since evaluation and printing recurse.
 */
#ifndef IL_EXPR_IMPL_H
#define IL_EXPR_IMPL_H

#include "data_impl.h"

#define ILI_EXPR_MAX_DEPTH 2000

typedef enum ili_ex_kind {
    EX_NUM,
    EX_X,
    EX_NEG,
    EX_ADD,
    EX_SUB,
    EX_MUL,
    EX_DIV,
    EX_POW,
    EX_FN
} ili_ex_kind;

typedef enum ili_ex_fn {
    FN_SIN,
    FN_COS,
    FN_TAN,
    FN_EXP,
    FN_LOG,
    FN_SQRT,
    FN_ABS,
    FN_COUNT
} ili_ex_fn;

typedef struct ili_ex_node {
    int kind, fn;  /* ili_ex_kind; ili_ex_fn for EX_FN */
    int32_t a, b;  /* children: a for NEG and FN, a and b for the binary kinds */
    int32_t depth; /* 1 for a leaf */
    double v;      /* EX_NUM */
} ili_ex_node;

struct il_expr {
    il_ctx *ctx;
    ili_ex_node *nodes;
    int32_t n, cap;
    int32_t root;
};

IL_INTERNAL extern const char *const ili_ex_fn_names[FN_COUNT];

/* A new empty expression. IL_E_NOMEM. */
IL_INTERNAL il_status ili_expr_new(il_ctx *ctx, il_expr **out);
/* Appends a node and returns its index; -1 when out of memory (IL_E_NOMEM set) or too deep
 * (IL_E_FORMAT set, with no column: the parser adds its own). */
IL_INTERNAL int32_t ili_expr_add(il_expr *e, int kind, int fn, int32_t a, int32_t b, double v);
/* f at x for the subtree at node i. */
IL_INTERNAL double ili_expr_eval_node(const il_expr *e, int32_t i, double x);

#endif
