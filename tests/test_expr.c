/*
 * test_expr.c: expressions in x: parsing and printing (minimal parentheses, round trips on the
 * seed's a(x) and 1,000 rolled expressions), syntax errors with their columns, number and tensor
 * evaluation, dice rolls, sampling, and allocation-failure sweeps.
 */
#define _POSIX_C_SOURCE 200809L /* rand_r */

#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEED_EXPR "((x^(2)+x^(3)+x^(4)+x^(6))/(x^(5)))"

static il_expr *parse(il_ctx *ctx, const char *src) {
    il_expr *e = NULL;
    il_status s = il_expr_parse(ctx, src, &e);
    if (s != IL_OK) fail_msg("parse '%s': %s", src, il_errmsg(ctx));
    return e;
}

/* Source printed back from e (caller frees with il_ctx_free_string). */
static char *format(il_ctx *ctx, const il_expr *e) {
    char *s = NULL;
    assert_int_equal(il_expr_format(ctx, e, &s), IL_OK);
    return s;
}

static void same(double a, double b) {
    if (isnan(a) && isnan(b)) return;
    if (a != b) fail_msg("%.17g != %.17g", a, b);
}

static void test_print(void **state) {
    (void)state;
    static const char *const cases[][2] = {
        {SEED_EXPR, "(x^2 + x^3 + x^4 + x^6)/x^5"},
        {"-x^2", "-x^2"},
        {"(-x)^2", "(-x)^2"},
        {"2^-1", "2^-1"},
        {"x^2^3", "x^2^3"},
        {"(x^2)^3", "(x^2)^3"},
        {"x-(x-1)", "x - (x - 1)"},
        {"x-x-1", "x - x - 1"},
        {"x/(x*2)", "x/(x*2)"},
        {"x*(x+1)", "x*(x + 1)"},
        {"-(x+1)", "-(x + 1)"},
        {"- - x", "--x"},
        {"x*-x", "x*-x"},
        {"sin(x)+cos(2*x)", "sin(x) + cos(2*x)"},
        {"1e-3", "0.001"},
        {"0.1", "0.1"},
        {"1e20", "1e+20"},
        {".5*x", "0.5*x"},
        {"sqrt(abs(x))/exp(log(tan(x)))", "sqrt(abs(x))/exp(log(tan(x)))"},
        {"(x)", "x"},
        {"2^x^-x", "2^x^-x"},
        {"1e999", "1e999"},
    };
    il_ctx *ctx = tu_ctx();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        il_expr *e = parse(ctx, cases[i][0]);
        char *s = format(ctx, e);
        if (strcmp(s, cases[i][1]) != 0)
            fail_msg("'%s' printed '%s', want '%s'", cases[i][0], s, cases[i][1]);
        il_ctx_free_string(ctx, s);
        il_expr_free(e);
    }
    tu_ctx_done(ctx);
}

static void test_eval(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    struct {
        const char *src;
        double x, want;
    } cases[] = {
        {SEED_EXPR, 2, 92.0 / 32.0},
        {"-x^2", 3, -9},
        {"2^-1", 0, 0.5},
        {"x^2^3", 2, 256},
        {"(x^2)^3", 2, 64},
        {"x - x - 1", 5, -1},
        {"10/2/5", 0, 1},
        {"2*3+4*5", 0, 26},
        {"-2^2", 0, -4},
        {"abs(x)", -3, 3},
        {"sqrt(x)", 16, 4},
        {"exp(log(x))", 7, 7},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        il_expr *e = parse(ctx, cases[i].src);
        double got = il_expr_eval(e, cases[i].x);
        if (fabs(got - cases[i].want) > 1e-12)
            fail_msg("%s at %g: %g", cases[i].src, cases[i].x, got);
        il_expr_free(e);
    }
    il_expr *e = parse(ctx, "log(x)");
    assert_true(isnan(il_expr_eval(e, -1)));
    il_expr_free(e);
    assert_true(isnan(il_expr_eval(NULL, 1)));
    tu_ctx_done(ctx);
}

static void expect_error(il_ctx *ctx, const char *src, const char *msg) {
    il_expr *e = (il_expr *)1;
    il_status s = il_expr_parse(ctx, src, &e);
    if (s != IL_E_FORMAT) fail_msg("'%.40s' parsed (status %d)", src, s);
    assert_null(e);
    if (strstr(il_errmsg(ctx), msg) == NULL)
        fail_msg("'%.40s': got '%s', want '%s'", src, il_errmsg(ctx), msg);
}

static void test_errors(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    expect_error(ctx, "x^^2", "x^^2: expected a number, x, ( or function at column 3");
    expect_error(ctx, "", "expected a number, x, ( or function at column 1");
    expect_error(ctx, "x +", "expected a number, x, ( or function at column 4");
    expect_error(ctx, "(x", "expected ) at column 3");
    expect_error(ctx, "sin x", "expected ( after sin at column 5");
    expect_error(ctx, "sin(x", "expected ) at column 6");
    expect_error(ctx, "y + 1",
                 "unknown name 'y', expected x or a function (sin, cos, tan, exp, log, sqrt, abs) "
                 "at column 1");
    expect_error(ctx, "2x", "expected an operator or the end at column 2");
    expect_error(ctx, "x)", "expected an operator or the end at column 2");
    expect_error(ctx, "1.2.3", "expected an operator or the end at column 4");
    char deep[1200];
    memset(deep, '(', 600);
    strcpy(deep + 600, "x");
    expect_error(ctx, deep, "nested too deeply");
    char *chain = malloc(3 * 2500 + 2);
    assert_non_null(chain);
    strcpy(chain, "x");
    for (int i = 0; i < 2500; i++)
        strcat(chain + strlen(chain) - 1, "+x");
    expect_error(ctx, chain, "expression too deep");
    free(chain);
    il_expr *e = NULL;
    assert_int_equal(il_expr_parse_n(ctx, "x\0+1", 4, &e), IL_E_FORMAT);
    assert_int_equal(il_expr_parse(ctx, NULL, &e), IL_E_FORMAT); /* NULL is the empty source */
    assert_int_equal(il_expr_parse(ctx, "x", NULL), IL_E_ARG);
    tu_ctx_done(ctx);
}

/* parse(format(e)) evaluates exactly like e at 20 random points in [-5, 5]. */
static void roundtrip(il_ctx *ctx, const il_expr *e, unsigned *rs) {
    char *src = format(ctx, e);
    il_expr *back = NULL;
    if (il_expr_parse(ctx, src, &back) != IL_OK) fail_msg("reparse '%s': %s", src, il_errmsg(ctx));
    char *again = format(ctx, back);
    if (strcmp(src, again) != 0) fail_msg("'%s' reprinted as '%s'", src, again);
    for (int i = 0; i < 20; i++) {
        double x = -5 + 10 * (double)rand_r(rs) / RAND_MAX;
        same(il_expr_eval(back, x), il_expr_eval(e, x));
    }
    il_ctx_free_string(ctx, src);
    il_ctx_free_string(ctx, again);
    il_expr_free(back);
}

static void test_roundtrip(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    unsigned rs = 12345;
    il_expr *e = parse(ctx, SEED_EXPR);
    roundtrip(ctx, e, &rs);
    il_expr_free(e);
    for (uint64_t seed = 0; seed < 1000; seed++) {
        int chits[30];
        assert_int_equal(il_expr_roll(ctx, 15 + (int)(seed % 16), &seed, &e, chits), IL_OK);
        roundtrip(ctx, e, &rs);
        il_expr_free(e);
    }
    tu_ctx_done(ctx);
}

static void test_roll(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    uint64_t seed = 7;
    int a[30], b[30];
    il_expr *e1 = NULL, *e2 = NULL;
    il_ctx_seed(ctx, 1);
    il_tensor *r1 = NULL, *r2 = NULL;
    assert_int_equal(il_expr_roll(ctx, 30, &seed, &e1, a), IL_OK);
    assert_int_equal(il_tensor_rand(ctx, 1, (int64_t[]){4}, IL_DTYPE_F64, IL_DEVICE_CPU, &r1),
                     IL_OK);
    il_ctx_seed(ctx, 1);
    assert_int_equal(il_expr_roll(ctx, 30, &seed, &e2, b), IL_OK);
    assert_int_equal(il_tensor_rand(ctx, 1, (int64_t[]){4}, IL_DTYPE_F64, IL_DEVICE_CPU, &r2),
                     IL_OK);
    /* Same seed, same chits and expression; the context's generator did not move. */
    assert_memory_equal(a, b, sizeof a);
    char *s1 = format(ctx, e1), *s2 = format(ctx, e2);
    assert_string_equal(s1, s2);
    double *v1 = tu_values(ctx, r1), *v2 = tu_values(ctx, r2);
    assert_memory_equal(v1, v2, 4 * sizeof(double));
    /* Each group of 15 draws empties the bowl: every chit exactly once. */
    for (int g = 0; g < 2; g++) {
        int seen[128] = {0};
        for (int i = 0; i < 15; i++)
            seen[a[15 * g + i]]++;
        for (int k = 1; k <= 10; k++)
            assert_int_equal(seen[k], 1);
        for (const char *op = "+-*/^"; *op; op++)
            assert_int_equal(seen[(int)*op], 1);
    }
    free(v1);
    free(v2);
    il_ctx_free_string(ctx, s1);
    il_ctx_free_string(ctx, s2);
    il_expr_free(e1);
    il_expr_free(e2);
    il_tensor_free(r1);
    il_tensor_free(r2);
    assert_int_equal(il_expr_roll(ctx, 0, &seed, &e1, a), IL_E_RANGE);
    assert_int_equal(il_expr_roll(ctx, 1, NULL, &e1, a), IL_OK); /* the context's generator */
    il_expr_free(e1);
    tu_ctx_done(ctx);
}

/* f over a tensor of xs in dt equals f point by point within tol. */
static void tensor_vs_points(il_ctx *ctx, const char *src, il_dtype dt, double tol) {
    double xs[41];
    for (int i = 0; i < 41; i++)
        xs[i] = -2 + 0.1 * i + 0.05;
    il_expr *e = parse(ctx, src);
    il_tensor *x = tu_tensor(ctx, dt, xs, 2, 41, 1), *y = NULL;
    if (il_expr_eval_tensor(ctx, e, x, &y) != IL_OK) fail_msg("%s: %s", src, il_errmsg(ctx));
    tu_assert_shape(y, 2, 41, 1);
    assert_int_equal(il_tensor_dtype(y), dt);
    double *got = tu_values(ctx, y), want[41];
    for (int i = 0; i < 41; i++)
        want[i] = il_expr_eval(e, xs[i]);
    tu_assert_close(got, want, 41, tol, tol);
    free(got);
    il_tensor_free(x);
    il_tensor_free(y);
    il_expr_free(e);
}

static void test_tensor_eval(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    static const char *const srcs[] = {
        SEED_EXPR,   "-x^2 + 3*x - 1", "2^x",    "x^-2",    "sin(x)*cos(x)", "tan(x)",
        "exp(-x^2)", "sqrt(abs(x))",   "log(x)", "1 - x/2", "2 + 3",         "-(1/x)^3"};
    for (size_t i = 0; i < sizeof srcs / sizeof srcs[0]; i++) {
        tensor_vs_points(ctx, srcs[i], IL_DTYPE_F64, 1e-12);
        tensor_vs_points(ctx, srcs[i], IL_DTYPE_F32, 1e-4);
    }
    tu_ctx_done(ctx);
}

/* A custom rule: label 1 right of the y axis. */
static il_status right_of_axis(void *ud, double x, double y, double fx, int *label) {
    (void)ud, (void)y, (void)fx;
    *label = x > 0;
    return IL_OK;
}

static il_status failing_rule(void *ud, double x, double y, double fx, int *label) {
    (void)x, (void)y, (void)fx, (void)label;
    return il_ctx_error((il_ctx *)ud, IL_E_ARG, "rule failed");
}

static void test_sample(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    il_expr *e = parse(ctx, SEED_EXPR);
    uint64_t seed = 3;
    il_sample_opts o = {.n = 25,
                        .test = 6,
                        .xlo = -12,
                        .xhi = 12,
                        .has_y = 1,
                        .ylo = -12,
                        .yhi = 12,
                        .seed = &seed,
                        .balance = 1};
    il_dataset d;
    assert_int_equal(il_expr_sample(ctx, e, &o, &d), IL_OK);
    tu_assert_shape(d.x, 2, 25, 2);
    tu_assert_shape(d.y, 2, 25, 1);
    tu_assert_shape(d.x_test, 2, 6, 2);
    tu_assert_shape(d.y_test, 2, 6, 1);
    double *x = tu_values(ctx, d.x), *y = tu_values(ctx, d.y);
    int ones = 0;
    for (int i = 0; i < 25; i++) {
        double fx = il_expr_eval(e, x[2 * i]), py = x[2 * i + 1];
        int between = fx >= 0 ? (py >= 0 && py <= fx) : (py <= 0 && py >= fx);
        assert_true(isfinite(fx));
        assert_int_equal((int)y[i], between);
        ones += (int)y[i];
    }
    assert_int_equal(ones, 12); /* balanced: 25/2 rounded down */
    free(x);
    free(y);
    il_dataset_free(&d);
    o.rule = IL_SAMPLE_CUSTOM;
    o.fn = right_of_axis;
    o.balance = 0;
    o.has_y = 0;
    assert_int_equal(il_expr_sample(ctx, e, &o, &d), IL_OK);
    x = tu_values(ctx, d.x);
    y = tu_values(ctx, d.y);
    for (int i = 0; i < 25; i++)
        assert_int_equal((int)y[i], x[2 * i] > 0);
    free(x);
    free(y);
    il_dataset_free(&d);
    o.fn = failing_rule;
    o.ud = ctx;
    assert_int_equal(il_expr_sample(ctx, e, &o, &d), IL_E_ARG);
    assert_null(d.x);
    tu_assert_errmsg(ctx, "rule failed");
    il_expr_free(e);
    e = parse(ctx, "log(-1 - x^2)"); /* undefined everywhere */
    o.rule = IL_SAMPLE_BETWEEN;
    o.has_y = 1;
    assert_int_equal(il_expr_sample(ctx, e, &o, &d), IL_E_NUMERIC);
    tu_assert_errmsg(ctx, "f is undefined (NaN or infinite) at");
    il_expr_free(e);
    e = parse(ctx, "x");
    o.rule = IL_SAMPLE_ABOVE;
    o.ylo = 100, o.yhi = 200, o.balance = 1; /* every point is above: no 0 labels to be found */
    assert_int_equal(il_expr_sample(ctx, e, &o, &d), IL_E_NUMERIC);
    tu_assert_errmsg(ctx, "labelled 0");
    il_expr_free(e);
    tu_ctx_done(ctx);
}

/* ---- allocation failures ----------------------------------------------------------------- */

static il_status scenario(il_ctx *ctx, void *ud) {
    il_expr *e = NULL, *r = NULL;
    il_tensor *x = NULL, *y = NULL;
    il_dataset d = {0};
    char *s = NULL;
    int chits[15];
    uint64_t seed = 5;
    il_sample_opts o = {.n = 5, .test = 2, .seed = &seed};
    il_status st = il_expr_parse(ctx, "sin(x)^2 + tan(x)/(1 + x^2) - 3", &e);
    if (st == IL_OK) st = il_expr_format(ctx, e, &s);
    if (st == IL_OK) st = il_tensor_linspace(ctx, -1, 1, 9, IL_DTYPE_F32, IL_DEVICE_CPU, &x);
    if (st == IL_OK) st = il_expr_eval_tensor(ctx, e, x, &y);
    if (st == IL_OK) st = il_expr_roll(ctx, 15, &seed, &r, chits);
    if (st == IL_OK) st = il_expr_sample(ctx, r, &o, &d);
    il_dataset_free(&d);
    il_ctx_free_string(ctx, s);
    il_tensor_free(x);
    il_tensor_free(y);
    il_expr_free(e);
    il_expr_free(r);
    return st;
}

static void test_alloc_fail(void **state) {
    (void)state;
    tu_alloc_sweep(scenario, NULL, 2000);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_print),  cmocka_unit_test(test_eval),
        cmocka_unit_test(test_errors), cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_roll),   cmocka_unit_test(test_tensor_eval),
        cmocka_unit_test(test_sample), cmocka_unit_test(test_alloc_fail),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
