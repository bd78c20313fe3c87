/*
 * expr_parse.c: expressions in x: the tree's storage, a recursive-descent parser, and printing
 * back to source with only the parentheses the tree needs.
 *
 * Grammar (precedence climbs downwards; ^ is right-associative, and its right operand may carry
 * a unary minus, as in Lua and in mathematics: -x^2 = -(x^2), 2^-1 = 0.5):
 *   expr    := term (('+' | '-') term)*
 *   term    := unary (('*' | '/') unary)*
 *   unary   := '-' unary | power
 *   power   := primary ('^' unary)?
 *   primary := number | 'x' | function '(' expr ')' | '(' expr ')'
 */
#include "expr_impl.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const ili_ex_fn_names[FN_COUNT] = {"sin", "cos", "tan", "exp", "log", "sqrt", "abs"};

/* Deepest nesting of parentheses and unary minus the parser recurses through. */
#define PARSE_MAX_NEST 256

il_status ili_expr_new(il_ctx *ctx, il_expr **out) {
    il_expr *e = ili_malloc(ctx, sizeof *e);
    if (e == NULL) return ili_nomem(ctx, sizeof *e);
    memset(e, 0, sizeof *e);
    e->ctx = ctx;
    e->root = -1;
    *out = e;
    return IL_OK;
}

void il_expr_free(il_expr *e) {
    if (e == NULL) return;
    ili_free(e->ctx, e->nodes, (size_t)e->cap * sizeof(ili_ex_node));
    ili_free(e->ctx, e, sizeof *e);
}

int32_t ili_expr_add(il_expr *e, int kind, int fn, int32_t a, int32_t b, double v) {
    if (e->n == e->cap) {
        int32_t ncap = e->cap ? e->cap * 2 : 16;
        ili_ex_node *nn =
            ili_realloc(e->ctx, e->nodes, (size_t)e->cap * sizeof *nn, (size_t)ncap * sizeof *nn);
        if (nn == NULL) {
            ili_nomem(e->ctx, (size_t)ncap * sizeof *nn);
            return -1;
        }
        e->nodes = nn;
        e->cap = ncap;
    }
    /* Checked after growing, so a failure with room left always means too deep. */
    int32_t depth = 1;
    if (a >= 0 && e->nodes[a].depth + 1 > depth) depth = e->nodes[a].depth + 1;
    if (b >= 0 && e->nodes[b].depth + 1 > depth) depth = e->nodes[b].depth + 1;
    if (depth > ILI_EXPR_MAX_DEPTH) {
        ili_seterr(e->ctx, IL_E_FORMAT, "expression too deep (more than %d levels)",
                   ILI_EXPR_MAX_DEPTH);
        return -1;
    }
    e->nodes[e->n] = (ili_ex_node){kind, fn, a, b, depth, v};
    return e->n++;
}

/* ---- parsing ----------------------------------------------------------------------------- */

typedef struct parser {
    il_expr *e;
    const char *src;
    size_t len, pos; /* pos: the next unread byte */
    int nest;
    int failed;       /* an error is set; every rule returns -1 from then on */
    il_status status; /* of the failure */
} parser;

/* Sets a syntax error at byte pos (reported 1-based), prefixed with the source. */
static int32_t synerr(parser *p, size_t pos, const char *fmt, const char *arg) {
    char what[160];
    size_t n = 0;
    while (n < p->len && n < 40 && p->src[n] != '\0')
        n++;
    snprintf(what, sizeof what, fmt, arg);
    ili_seterr(p->e->ctx, IL_E_FORMAT, "%.*s%s: %s at column %zu", (int)n, p->src,
               n < p->len ? "..." : "", what, pos + 1);
    p->failed = 1;
    p->status = IL_E_FORMAT;
    return -1;
}

static void skipspace(parser *p) {
    while (p->pos < p->len && (p->src[p->pos] == ' ' || p->src[p->pos] == '\t' ||
                               p->src[p->pos] == '\n' || p->src[p->pos] == '\r'))
        p->pos++;
}

/* The next significant byte, or 0 at the end. */
static char peek(parser *p) {
    skipspace(p);
    return p->pos < p->len ? p->src[p->pos] : '\0';
}

static int32_t add(parser *p, int kind, int fn, int32_t a, int32_t b, double v) {
    if (p->failed) return -1;
    int32_t i = ili_expr_add(p->e, kind, fn, a, b, v);
    if (i >= 0) return i;
    if (p->e->n < p->e->cap) { /* room left: the tree was too deep, not memory short */
        char what[64];
        snprintf(what, sizeof what, "more than %d levels", ILI_EXPR_MAX_DEPTH);
        return synerr(p, p->pos, "expression too deep (%s)", what);
    }
    p->failed = 1;
    p->status = IL_E_NOMEM;
    return -1;
}

static int32_t expr(parser *p);
static int32_t unary(parser *p);

/* A number: digits with an optional fraction and exponent (1, 2.5, .5, 1e-3). */
static int32_t number(parser *p) {
    size_t s = p->pos, i = s;
    char buf[72];
    while (i < p->len && isdigit((unsigned char)p->src[i]))
        i++;
    if (i < p->len && p->src[i] == '.') i++;
    while (i < p->len && isdigit((unsigned char)p->src[i]))
        i++;
    if (i < p->len && (p->src[i] == 'e' || p->src[i] == 'E')) {
        size_t j = i + 1;
        if (j < p->len && (p->src[j] == '+' || p->src[j] == '-')) j++;
        if (j < p->len && isdigit((unsigned char)p->src[j])) {
            i = j;
            while (i < p->len && isdigit((unsigned char)p->src[i]))
                i++;
        }
    }
    if (i - s >= sizeof buf) return synerr(p, s, "%s", "number too long");
    memcpy(buf, p->src + s, i - s);
    buf[i - s] = '\0';
    p->pos = i;
    return add(p, EX_NUM, 0, -1, -1, strtod(buf, NULL));
}

/* x, or a function applied to a parenthesised expression. */
static int32_t name(parser *p) {
    size_t s = p->pos;
    while (p->pos < p->len && isalnum((unsigned char)p->src[p->pos]))
        p->pos++;
    size_t n = p->pos - s;
    if (n == 1 && p->src[s] == 'x') return add(p, EX_X, 0, -1, -1, 0);
    for (int f = 0; f < FN_COUNT; f++) {
        if (strlen(ili_ex_fn_names[f]) != n || memcmp(ili_ex_fn_names[f], p->src + s, n) != 0)
            continue;
        if (peek(p) != '(') return synerr(p, p->pos, "expected ( after %s", ili_ex_fn_names[f]);
        p->pos++;
        int32_t a = expr(p);
        if (!p->failed && peek(p) != ')') return synerr(p, p->pos, "%s", "expected )");
        p->pos++;
        return add(p, EX_FN, f, a, -1, 0);
    }
    char word[40];
    snprintf(word, sizeof word, "%.*s", (int)(n < 32 ? n : 32), p->src + s);
    return synerr(p, s,
                  "unknown name '%s', expected x or a function (sin, cos, tan, exp, log, "
                  "sqrt, abs)",
                  word);
}

static int32_t primary(parser *p) {
    char c = peek(p);
    if (isdigit((unsigned char)c) ||
        (c == '.' && p->pos + 1 < p->len && isdigit((unsigned char)p->src[p->pos + 1])))
        return number(p);
    if (isalpha((unsigned char)c)) return name(p);
    if (c == '(') {
        if (++p->nest > PARSE_MAX_NEST) return synerr(p, p->pos, "%s", "nested too deeply");
        p->pos++;
        int32_t a = expr(p);
        if (!p->failed && peek(p) != ')') return synerr(p, p->pos, "%s", "expected )");
        p->pos++;
        p->nest--;
        return a;
    }
    return synerr(p, p->pos, "%s", "expected a number, x, ( or function");
}

static int32_t power(parser *p) {
    int32_t a = primary(p);
    if (p->failed || peek(p) != '^') return a;
    p->pos++;
    int32_t b = unary(p);
    return add(p, EX_POW, 0, a, b, 0);
}

static int32_t unary(parser *p) {
    if (peek(p) != '-') return power(p);
    if (++p->nest > PARSE_MAX_NEST) return synerr(p, p->pos, "%s", "nested too deeply");
    p->pos++;
    int32_t a = unary(p);
    p->nest--;
    return add(p, EX_NEG, 0, a, -1, 0);
}

static int32_t term(parser *p) {
    int32_t a = unary(p);
    for (char c; !p->failed && ((c = peek(p)) == '*' || c == '/');) {
        p->pos++;
        int32_t b = unary(p);
        a = add(p, c == '*' ? EX_MUL : EX_DIV, 0, a, b, 0);
    }
    return a;
}

static int32_t expr(parser *p) {
    int32_t a = term(p);
    for (char c; !p->failed && ((c = peek(p)) == '+' || c == '-');) {
        p->pos++;
        int32_t b = term(p);
        a = add(p, c == '+' ? EX_ADD : EX_SUB, 0, a, b, 0);
    }
    return a;
}

il_status il_expr_parse_n(il_ctx *ctx, const char *src, size_t len, il_expr **out) {
    if (ctx == NULL) return IL_E_ARG;
    if (out == NULL || (src == NULL && len > 0))
        return ili_seterr(ctx, IL_E_ARG, "expr_parse: NULL argument");
    *out = NULL;
    il_expr *e = NULL;
    IL_TRY(ili_expr_new(ctx, &e));
    parser p = {e, src ? src : "", len, 0, 0, 0, IL_OK};
    int32_t root = expr(&p);
    if (!p.failed && peek(&p) != '\0') synerr(&p, p.pos, "%s", "expected an operator or the end");
    /* A NUL byte inside the buffer lands here too: peek reports it as the end. */
    if (!p.failed && p.pos < len) synerr(&p, p.pos, "%s", "unexpected NUL byte");
    if (p.failed) {
        il_expr_free(e);
        return p.status;
    }
    e->root = root;
    *out = e;
    return IL_OK;
}

il_status il_expr_parse(il_ctx *ctx, const char *src, il_expr **out) {
    return il_expr_parse_n(ctx, src, src ? strlen(src) : 0, out);
}

/* ---- printing ---------------------------------------------------------------------------- */

/* Binding strength: + - 1, * / 2, unary minus 3, ^ 4, atoms 5. */
static int prec(int kind) {
    switch (kind) {
    case EX_ADD:
    case EX_SUB: return 1;
    case EX_MUL:
    case EX_DIV: return 2;
    case EX_NEG: return 3;
    case EX_POW: return 4;
    default: return 5;
    }
}

/* The shortest %g text that reads back as exactly v; infinity as 1e999, which reads back so. */
static void putnum(ili_sbuf *b, double v) {
    char buf[40];
    if (isinf(v)) {
        ili_sbuf_printf(b, "1e999");
        return;
    }
    /* Whole numbers print whole (10, not 1e+01); others as the shortest exact %g. */
    if (v == floor(v) && fabs(v) < 1e15) {
        ili_sbuf_printf(b, "%.0f", v);
        return;
    }
    for (int digits = 1; digits <= 17; digits++) {
        snprintf(buf, sizeof buf, "%.*g", digits, v);
        if (strtod(buf, NULL) == v) break;
    }
    ili_sbuf_printf(b, "%s", buf);
}

static void print(const il_expr *e, int32_t i, ili_sbuf *b);

/* Prints node i, parenthesised when wrap is set. */
static void sub(const il_expr *e, int32_t i, int wrap, ili_sbuf *b) {
    if (wrap) ili_sbuf_add(b, "(", 1);
    print(e, i, b);
    if (wrap) ili_sbuf_add(b, ")", 1);
}

static void print(const il_expr *e, int32_t i, ili_sbuf *b) {
    static const char *const ops[] = {
        [EX_ADD] = " + ", [EX_SUB] = " - ", [EX_MUL] = "*", [EX_DIV] = "/", [EX_POW] = "^"};
    const ili_ex_node *n = &e->nodes[i];
    int p = prec(n->kind);
    switch (n->kind) {
    case EX_NUM: putnum(b, n->v); return;
    case EX_X: ili_sbuf_add(b, "x", 1); return;
    case EX_NEG:
        ili_sbuf_add(b, "-", 1);
        sub(e, n->a, prec(e->nodes[n->a].kind) < 3, b);
        return;
    case EX_FN:
        ili_sbuf_printf(b, "%s(", ili_ex_fn_names[n->fn]);
        print(e, n->a, b);
        ili_sbuf_add(b, ")", 1);
        return;
    case EX_POW: /* the base is an atom; the exponent a unary expression */
        sub(e, n->a, prec(e->nodes[n->a].kind) < 5, b);
        ili_sbuf_add(b, "^", 1);
        sub(e, n->b, prec(e->nodes[n->b].kind) < 3, b);
        return;
    default: /* left-associative: an equal right operand keeps its parentheses */
        sub(e, n->a, prec(e->nodes[n->a].kind) < p, b);
        ili_sbuf_add(b, ops[n->kind], strlen(ops[n->kind]));
        sub(e, n->b, prec(e->nodes[n->b].kind) <= p, b);
        return;
    }
}

il_status il_expr_format(il_ctx *ctx, const il_expr *e, char **out) {
    if (ctx == NULL) return IL_E_ARG;
    if (e == NULL || out == NULL || e->root < 0)
        return ili_seterr(ctx, IL_E_ARG, "expr_format: NULL argument");
    ili_sbuf b = {ctx, NULL, 0, 0, 0};
    print(e, e->root, &b);
    return ili_sbuf_finish(&b, out);
}
