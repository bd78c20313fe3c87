/*
 * test_checkpoint.c: safetensors writing and reading (round trip, argument errors, malformed
 * files with their messages), the atomic write under a failure injected at every file
 * operation, an allocation-failure sweep, and the training-state helpers of nn_state.c.
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include "testutil.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt_impl.h"

static char dir[64];

static const char *at(const char *name) {
    static char buf[2][256];
    static int k;
    k ^= 1;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static int setup(void **state) {
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/il_ckpt_XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Five tensors of every dtype and rank (0-d and empty included) plus two metadata strings. */
typedef struct sample {
    il_tensor *t[5];
    const char *names[5];
} sample;

static void make_sample(il_ctx *ctx, sample *s) {
    double a[6] = {1, -2, 3.5, 0.25, -0, 1e30}, b[4] = {0.1, 0.2, 0.3, 1.0 / 3}, c[3] = {-7, 0, 9};
    double d[1] = {2.5};
    s->t[0] = tu_tensor(ctx, IL_DTYPE_F32, a, 2, 2, 3);
    s->t[1] = tu_tensor(ctx, IL_DTYPE_F64, b, 1, 4);
    s->t[2] = tu_tensor(ctx, IL_DTYPE_I64, c, 1, 3);
    s->t[3] = tu_tensor(ctx, IL_DTYPE_F64, d, 0);
    int64_t empty[2] = {0, 3};
    assert_int_equal(il_tensor_empty(ctx, 2, empty, IL_DTYPE_F32, IL_DEVICE_CPU, &s->t[4]), IL_OK);
    const char *n[5] = {"w", "layers.1.bias", "idx", "scalar", "empty"};
    memcpy(s->names, n, sizeof n);
}

static void free_sample(sample *s) {
    for (int i = 0; i < 5; i++)
        il_tensor_free(s->t[i]);
}

static const char *mk[2] = {"iron-learn", "note"};
static const char *mv[2] = {"{\"format\":1}", "quote \" backslash \\ newline \n"};

static void test_roundtrip(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    sample s;
    make_sample(ctx, &s);
    assert_int_equal(
        il_safetensors_write(ctx, at("a.st"), 5, s.names, (const il_tensor *const *)s.t, 2, mk, mv),
        IL_OK);
    il_safetensors *f = NULL;
    assert_int_equal(il_safetensors_read(ctx, at("a.st"), &f), IL_OK);
    assert_int_equal(il_safetensors_count(f), 5);
    for (int i = 0; i < 5; i++) {
        assert_string_equal(il_safetensors_name(f, i), s.names[i]);
        const il_tensor *t = il_safetensors_tensor(f, i);
        assert_ptr_equal(il_safetensors_find(f, s.names[i]), t);
        assert_int_equal(il_tensor_dtype(t), il_tensor_dtype(s.t[i]));
        assert_int_equal(il_tensor_ndim(t), il_tensor_ndim(s.t[i]));
        assert_memory_equal(il_tensor_shape(t), il_tensor_shape(s.t[i]),
                            sizeof(int64_t) * (size_t)il_tensor_ndim(t));
        size_t bytes = (size_t)il_tensor_numel(t) * il_dtype_size(il_tensor_dtype(t));
        if (bytes) assert_memory_equal(il_tensor_data(t), il_tensor_data(s.t[i]), bytes);
    }
    assert_string_equal(il_safetensors_meta(f, "note"), mv[1]);
    assert_string_equal(il_safetensors_meta(f, "iron-learn"), mv[0]);
    assert_null(il_safetensors_meta(f, "absent"));
    assert_null(il_safetensors_find(f, "absent"));
    assert_null(il_safetensors_name(f, 5));
    il_safetensors_free(f);
    il_safetensors_free(NULL);
    free_sample(&s);
    tu_ctx_done(ctx);
}

static void test_write_errors(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    sample s;
    make_sample(ctx, &s);
    const il_tensor *const *ts = (const il_tensor *const *)s.t;
    const char *dup[2] = {"x", "x"}, *empty[1] = {""}, *meta[1] = {"__metadata__"};
    assert_int_equal(il_safetensors_write(ctx, at("e.st"), 2, dup, ts, 0, NULL, NULL), IL_E_ARG);
    tu_assert_errmsg(ctx, "tensor name 'x' is used twice");
    assert_int_equal(il_safetensors_write(ctx, at("e.st"), 1, empty, ts, 0, NULL, NULL), IL_E_ARG);
    assert_int_equal(il_safetensors_write(ctx, at("e.st"), 1, meta, ts, 0, NULL, NULL), IL_E_ARG);
    assert_int_equal(il_safetensors_write(ctx, NULL, 1, s.names, ts, 0, NULL, NULL), IL_E_ARG);
    assert_int_equal(
        il_safetensors_write(ctx, "/nonexistent-dir/x.st", 1, s.names, ts, 0, NULL, NULL), IL_E_IO);
    tu_assert_errmsg(ctx, "/nonexistent-dir/x.st: cannot create a temporary file");
    il_safetensors *f = NULL;
    assert_int_equal(il_safetensors_read(ctx, at("missing.st"), &f), IL_E_IO);
    tu_assert_errmsg(ctx, "missing.st: cannot open");
    assert_null(f);
    free_sample(&s);
    tu_ctx_done(ctx);
}

/* Writes a raw file: the 8-byte length hlen, the header text, then ndata zero bytes. */
static const char *raw(const char *name, uint64_t hlen, const char *header, size_t ndata) {
    const char *p = at(name);
    FILE *fp = fopen(p, "wb");
    assert_non_null(fp);
    for (int i = 0; i < 8; i++)
        fputc((int)((hlen >> (8 * i)) & 0xff), fp);
    fputs(header, fp);
    for (size_t i = 0; i < ndata; i++)
        fputc(0, fp);
    fclose(fp);
    return p;
}

static void expect_format(il_ctx *ctx, const char *p, const char *needle) {
    il_safetensors *f = NULL;
    il_status s = il_safetensors_read(ctx, p, &f);
    if (s != IL_E_FORMAT) fail_msg("%s: got %s (%s)", needle, il_status_str(s), il_errmsg(ctx));
    assert_null(f);
    tu_assert_errmsg(ctx, needle);
    tu_assert_errmsg(ctx, p); /* every message names the file */
}

#define T(body) "{" body "}"
#define E(n, dt, shape, a, b)                                                                      \
    "\"" n "\":{\"dtype\":\"" dt "\",\"shape\":" shape ",\"data_offsets\":[" #a "," #b "]}"

static void test_malformed(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    const char *h;
    expect_format(ctx, raw("m0", 0, "", 0), "bad header length: 0 bytes");
    expect_format(ctx, raw("m1", 1000, "{}", 0), "header length too big");
    expect_format(ctx, raw("m2", UINT64_MAX, "{}", 0), "header length too big");
    h = T("\"a\": [1, ");
    expect_format(ctx, raw("m3", strlen(h), h, 0), "not valid JSON");
    h = "[1, 2]  ";
    expect_format(ctx, raw("m4", strlen(h), h, 0), "not a JSON object");
    h = T(E("a", "F32", "[4]", 0, 16)) "x";
    expect_format(ctx, raw("m5", strlen(h), h, 16), "bytes after its JSON object");
    h = T(E("a", "F32", "[4]", 0, 32));
    expect_format(ctx, raw("m6", strlen(h), h, 16), "tensor 'a': data_offsets end 32 is past");
    h = T(E("a", "F32", "[2]", 0, 8) "," E("b", "F32", "[2]", 4, 12));
    expect_format(ctx, raw("m7", strlen(h), h, 16), "tensors 'a' and 'b' overlap");
    h = T(E("a", "F64", "[3]", 0, 16));
    expect_format(ctx, raw("m8", strlen(h), h, 16), "tensor 'a': 24 bytes for its shape");
    h = T(E("a", "BF16", "[8]", 0, 16));
    expect_format(ctx, raw("m9", strlen(h), h, 16), "unsupported dtype 'BF16'");
    h = T(E("a", "F32", "[-1]", 0, 16));
    expect_format(ctx, raw("m10", strlen(h), h, 16), "shape entry 0 is not a size");
    h = T(E("a", "F32", "[1,1,1,1,1,1,1,1,1]", 0, 4));
    expect_format(ctx, raw("m11", strlen(h), h, 16), "9 dimensions");
    h = T(E("a", "F32", "[1]", 8, 4));
    expect_format(ctx, raw("m12", strlen(h), h, 16), "begin <= end");
    h = T(E("a", "F32", "[1]", 0, 4) "," E("a", "F32", "[1]", 4, 8));
    expect_format(ctx, raw("m13", strlen(h), h, 16), "tensor 'a' is listed twice");
    h = T("\"__metadata__\":{\"k\":1}");
    expect_format(ctx, raw("m14", strlen(h), h, 0), "values must be strings");
    h = T("\"a\":{\"dtype\":\"F32\"}");
    expect_format(ctx, raw("m15", strlen(h), h, 0), "needs dtype, shape and data_offsets");
    h = T(E("a", "F32", "[9007199254740992,9007199254740992]", 0, 16));
    expect_format(ctx, raw("m16", strlen(h), h, 16), "data_offsets span 16");
    expect_format(ctx, raw("m17", 8, "", 0), "header length too big");
    FILE *fp = fopen(at("m18"), "wb");
    fputs("abc", fp);
    fclose(fp);
    expect_format(ctx, at("m18"), "file too short");
    tu_ctx_done(ctx);
}

/* The whole file as a malloc'd buffer (*n bytes). */
static char *slurp(const char *p, size_t *n) {
    FILE *fp = fopen(p, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    *n = (size_t)ftell(fp);
    rewind(fp);
    char *b = malloc(*n + 1);
    assert_int_equal(fread(b, 1, *n, fp), *n);
    fclose(fp);
    return b;
}

/* Temporary files of interrupted saves left in the folder. */
static int count_tmp(void) {
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += strstr(e->d_name, ".tmp.") != NULL;
    closedir(d);
    return n;
}

/* A save broken at each file operation in turn leaves the old file as it was and no
 * temporary file behind; the first unbroken one replaces it. */
static void test_fault_injection(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    sample s;
    make_sample(ctx, &s);
    const il_tensor *const *ts = (const il_tensor *const *)s.t;
    assert_int_equal(il_safetensors_write(ctx, at("k.st"), 2, s.names, ts, 0, NULL, NULL), IL_OK);
    size_t n0, n1;
    char *old = slurp(at("k.st"), &n0);
    int k, done = 0;
    for (k = 1; k < 50 && !done; k++) {
        ili_ckpt_fail_at = k;
        il_status st = il_safetensors_write(ctx, at("k.st"), 5, s.names, ts, 2, mk, mv);
        done = st == IL_OK && ili_ckpt_fail_at > 0;
        if (ili_ckpt_fail_at != 0 || st == IL_OK) continue;
        /* Failed at or after the rename: only the folder fsync comes after it. */
        char *now = slurp(at("k.st"), &n1);
        if (strstr(il_errmsg(ctx), "folder") == NULL) {
            assert_int_equal(st, IL_E_IO);
            assert_int_equal(n1, n0);
            assert_memory_equal(now, old, n0);
        }
        free(now);
        assert_int_equal(count_tmp(), 0);
    }
    ili_ckpt_fail_at = 0;
    assert_true(done);
    assert_true(k > 8); /* open, length, header, 3 data writes, fsync, close, rename, dir */
    il_safetensors *f = NULL;
    assert_int_equal(il_safetensors_read(ctx, at("k.st"), &f), IL_OK);
    assert_int_equal(il_safetensors_count(f), 5);
    il_safetensors_free(f);
    free(old);
    free_sample(&s);
    tu_ctx_done(ctx);
}

static il_status sweep_once(il_ctx *ctx, tu_alloc *a, int64_t n) {
    sample s;
    make_sample(ctx, &s);
    a->fail_at = a->count + n;
    il_status st = il_safetensors_write(ctx, at("sweep.st"), 5, s.names,
                                        (const il_tensor *const *)s.t, 2, mk, mv);
    il_safetensors *f = NULL;
    if (st == IL_OK) st = il_safetensors_read(ctx, at("sweep.st"), &f);
    il_safetensors_free(f);
    a->fail_at = 0;
    free_sample(&s);
    return st;
}

static void test_alloc_sweep(void **state) {
    (void)state;
    for (int64_t n = 1; n < 1000; n++) {
        tu_alloc a = {0, 0, 0};
        il_ctx *ctx = NULL;
        assert_int_equal(il_ctx_new_with_alloc(&ctx, tu_alloc_fn, &a), IL_OK);
        il_status st = sweep_once(ctx, &a, n);
        if (st != IL_OK && st != IL_E_NOMEM) fail_msg("n=%lld: %s", (long long)n, il_errmsg(ctx));
        assert_int_equal(il_ctx_live_tensors(ctx), 0);
        il_ctx_free(ctx);
        assert_int_equal(a.live_blocks, 0);
        assert_int_equal(count_tmp(), 0);
        if (st == IL_OK) return;
    }
    fail_msg("the sweep never succeeded");
}

static void test_state(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    uint64_t r[4], z[4] = {0}, r2[4];
    il_ctx_seed(ctx, 42);
    il_ctx_rng_get(ctx, r);
    assert_int_equal(il_ctx_rng_set(ctx, z), IL_E_ARG);
    il_ctx_seed(ctx, 1);
    assert_int_equal(il_ctx_rng_set(ctx, r), IL_OK);
    il_ctx_rng_get(ctx, r2);
    assert_memory_equal(r, r2, sizeof r);

    il_net *net = NULL;
    int in, h, out;
    assert_int_equal(il_net_new(ctx, IL_DTYPE_F64, &net), IL_OK);
    assert_int_equal(il_net_input(net, 3, &in), IL_OK);
    il_layer_opts o = {.out_features = 4, .name = "fc \"1\""};
    assert_int_equal(il_net_layer(net, IL_LAYER_LINEAR, &o, 1, &in, &h), IL_OK);
    il_layer_opts d = {.p = 0.25};
    assert_int_equal(il_net_layer(net, IL_LAYER_DROPOUT, &d, 1, &h, &out), IL_OK);
    char *js = NULL;
    assert_int_equal(il_net_spec_json(net, &js), IL_OK);
    assert_non_null(strstr(js, "\"name\":\"fc \\\"1\\\"\""));
    assert_non_null(strstr(js, "\"kind\":\"dropout\""));
    assert_non_null(strstr(js, "\"p\":0.25"));
    il_ctx_free_string(ctx, js);

    il_optim *opt = NULL;
    il_optim_opts oo = {.lr = 0.1};
    assert_int_equal(il_optim_new(net, IL_OPTIM_ADAM, &oo, &opt), IL_OK);
    assert_int_equal(il_optim_kind_of(opt), IL_OPTIM_ADAM);
    assert_string_equal(il_optim_kind_name(IL_OPTIM_RMSPROP), "rmsprop");
    assert_int_equal(il_optim_num_state(opt), 2);
    assert_string_equal(il_optim_state_name(opt, 1), "exp_avg_sq");
    assert_null(il_optim_state_name(opt, 2));
    il_tensor *v[2] = {0};
    int c = 0;
    assert_int_equal(il_optim_state_views(opt, 0, v, 2, &c), IL_OK);
    assert_int_equal(c, 2);
    tu_assert_shape(v[0], 2, 3, 4);
    tu_assert_shape(v[1], 1, 4);
    il_tensor_free(v[0]);
    il_tensor_free(v[1]);
    assert_int_equal(il_optim_state_views(opt, 2, v, 2, &c), IL_E_ARG);
    assert_int_equal(il_optim_set_steps(opt, 7), IL_OK);
    assert_int_equal(il_optim_steps(opt), 7);
    assert_int_equal(il_optim_set_steps(opt, -1), IL_E_ARG);
    il_optim_opts got;
    il_optim_options(opt, &got);
    assert_true(got.beta2 == 0.999);
    int have;
    uint64_t seed, ctr;
    il_net_dropout_get(net, &have, &seed, &ctr);
    assert_int_equal(have, 1);
    il_net_dropout_set(net, 1, 5, 6);
    il_net_dropout_get(net, &have, &seed, &ctr);
    assert_true(seed == 5 && ctr == 6);
    il_optim_free(opt);
    il_net_free(net);
    tu_ctx_done(ctx);
}

/* A checkpoint of device tensors is host bytes: it reads back as CPU tensors (skipped without a
 * CUDA device). */
static void test_device(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    if (il_cuda_available(ctx) != IL_OK) {
        tu_ctx_done(ctx);
        skip();
    }
    double v[6] = {1, 2, 3, 4, 5, 6.5};
    il_tensor *h = tu_tensor(ctx, IL_DTYPE_F32, v, 2, 2, 3), *d = NULL;
    assert_int_equal(il_tensor_to_device(ctx, h, IL_DEVICE_CUDA, &d), IL_OK);
    const char *name = "gpu";
    const il_tensor *ts[1] = {d};
    assert_int_equal(il_safetensors_write(ctx, at("gpu.st"), 1, &name, ts, 0, NULL, NULL), IL_OK);
    il_safetensors *f = NULL;
    assert_int_equal(il_safetensors_read(ctx, at("gpu.st"), &f), IL_OK);
    const il_tensor *r = il_safetensors_find(f, name);
    assert_int_equal(il_tensor_device(r), IL_DEVICE_CPU);
    assert_memory_equal(il_tensor_data(r), il_tensor_data(h), 6 * sizeof(float));
    il_safetensors_free(f);
    il_tensor_free(d);
    il_tensor_free(h);
    tu_ctx_done(ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),   cmocka_unit_test(test_write_errors),
        cmocka_unit_test(test_malformed),   cmocka_unit_test(test_fault_injection),
        cmocka_unit_test(test_alloc_sweep), cmocka_unit_test(test_state),
        cmocka_unit_test(test_device),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
