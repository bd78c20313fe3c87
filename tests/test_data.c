/*
 * test_data.c: the data loaders and helpers: the seed's JSON datasets (the three files in
 * examples/data, IL_SEED_DATA), malformed JSON and CSV each with its message, the image CSV,
 * grids, pixels, permutations, row gathers, splits, PNG round trips and failures, and
 * allocation-failure sweeps.
 */
/* mkdtemp, ftruncate, fileno */
#define _POSIX_C_SOURCE 200809L

#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef IL_SEED_DATA
#define IL_SEED_DATA "examples/data"
#endif

static void check_values(il_ctx *ctx, const il_tensor *t, const double *want, int64_t n) {
    assert_int_equal(il_tensor_numel(t), n);
    double *got = tu_values(ctx, t);
    tu_assert_close(got, want, n, 1e-6, 1e-6);
    free(got);
}

static void test_seed_files(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    il_dataset d;
    assert_int_equal(
        il_data_load_json(ctx, IL_SEED_DATA "/neural_net.json", NULL, IL_DTYPE_F32, &d), IL_OK);
    tu_assert_shape(d.x, 2, 4, 2);
    tu_assert_shape(d.y, 2, 4, 1);
    check_values(ctx, d.x, (double[]){0, 0, 0, 1, 1, 0, 1, 1}, 8);
    check_values(ctx, d.y_test, (double[]){0, 1, 1, 0}, 4);
    il_dataset_free(&d);
    assert_int_equal(
        il_data_load_json(ctx, IL_SEED_DATA "/neural_net_2.json", NULL, IL_DTYPE_F64, &d), IL_OK);
    tu_assert_shape(d.x, 2, 25, 2);
    tu_assert_shape(d.x_test, 2, 6, 2);
    tu_assert_shape(d.y_test, 2, 6, 1);
    assert_int_equal(il_tensor_dtype(d.x), IL_DTYPE_F64);
    check_values(ctx, d.x_test, (double[]){3, 6, 2, 2, 11, 8, 11, 11, -4, -6, -10, 5}, 12);
    check_values(ctx, d.y_test, (double[]){0, 1, 1, 0, 0, 0}, 6);
    il_dataset_free(&d);
    assert_int_equal(
        il_data_load_json(ctx, IL_SEED_DATA "/logistic_2.json", NULL, IL_DTYPE_F32, &d), IL_OK);
    tu_assert_shape(d.x, 2, 90, 2);
    tu_assert_shape(d.y, 2, 90, 1);
    tu_assert_shape(d.x_test, 2, 10, 2);
    tu_assert_shape(d.y_test, 2, 10, 1);
    il_dataset_free(&d);
    assert_int_equal(il_data_load_json(ctx, IL_SEED_DATA "/missing.json", NULL, IL_DTYPE_F32, &d),
                     IL_E_IO);
    tu_assert_errmsg(ctx, "missing.json: cannot open");
    tu_ctx_done(ctx);
}

/* Parses text as a dataset named "t.json", expecting status want and a message containing msg. */
static void json_case(il_ctx *ctx, const char *text, const char *field, il_status want,
                      const char *msg) {
    il_dataset d;
    il_status s = il_data_parse_json(ctx, text, strlen(text), "t.json", field, IL_DTYPE_F32, &d);
    if (s != want) fail_msg("%s: status %d (%s)", text, s, il_errmsg(ctx));
    if (s != IL_OK) {
        assert_null(d.x);
        if (strstr(il_errmsg(ctx), msg) == NULL)
            fail_msg("got '%s', want '%s'", il_errmsg(ctx), msg);
    }
    il_dataset_free(&d);
}

static void test_json_errors(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    json_case(ctx, "{\"n\": 2, \"x\": [], \"y\": []}", NULL, IL_E_FORMAT,
              "t.json: missing field 'm'");
    json_case(ctx, "{\"m\": 4, \"n\": 2, \"x\": [1,2,3,4,5,6,7], \"y\": [1,2,3,4]}", NULL,
              IL_E_FORMAT, "t.json: field 'x' has 7 numbers, expected m*n = 8");
    json_case(ctx, "{\"m\": 2, \"n\": 1, \"x\": [1, \"a\"], \"y\": [1,2]}", NULL, IL_E_FORMAT,
              "t.json: field 'x': element 2 is a string, expected a number");
    json_case(ctx, "{\"m\": 2, \"n\": 1, \"x\": [1, 2], \"y\": [1]}", NULL, IL_E_FORMAT,
              "field 'y' has 1 numbers, expected m = 2");
    json_case(ctx, "{\"m\": 2.5, \"n\": 1}", NULL, IL_E_FORMAT,
              "field 'm' must be an integer >= 0, got 2.5");
    json_case(ctx, "{\"m\": \"2\", \"n\": 1}", NULL, IL_E_FORMAT,
              "field 'm' is a string, expected an integer");
    json_case(ctx, "{\"m\": 1, \"n\": 1, \"x\": 5, \"y\": [1]}", NULL, IL_E_FORMAT,
              "field 'x' is a number, expected an array");
    json_case(ctx, "{\"m\": 1, \"n\": 1, \"x\": [1], \"y\": [1], \"m_test\": 1}", NULL, IL_E_FORMAT,
              "missing field 'x_test'");
    json_case(ctx, "{\"m\": 1,\n \"n\": 1,,}", NULL, IL_E_FORMAT,
              "t.json: not valid JSON (error at line 2");
    json_case(ctx, "[1, 2]", NULL, IL_E_FORMAT, "the top level is an array, expected an object");
    json_case(ctx, "", NULL, IL_E_FORMAT, "not valid JSON");
    /* The older nested form. */
    const char *nested = "{\"nn\": {\"m\": 1, \"n\": 1, \"x\": [1], \"y\": [0]},"
                         " \"lr\": {\"m\": 2, \"n\": 1, \"x\": [1, 2], \"y\": [0, 1]}}";
    json_case(ctx, nested, NULL, IL_E_FORMAT, "t.json: several datasets (nn, lr); pass one's name");
    json_case(ctx, nested, "svm", IL_E_ARG, "t.json: no dataset 'svm' (datasets: nn, lr)");
    il_dataset d;
    assert_int_equal(
        il_data_parse_json(ctx, nested, strlen(nested), "t.json", "lr", IL_DTYPE_F32, &d), IL_OK);
    tu_assert_shape(d.x, 2, 2, 1);
    /* No test set: the training set stands in. */
    tu_assert_shape(d.x_test, 2, 2, 1);
    assert_true(il_tensor_shares_storage(d.x, d.x_test));
    il_dataset_free(&d);
    const char *one = "{\"only\": {\"m\": 1, \"n\": 1, \"x\": [1], \"y\": [0]}}";
    json_case(ctx, one, NULL, IL_OK, "");
    tu_ctx_done(ctx);
}

static il_tensor *csv_ok(il_ctx *ctx, const char *text, const il_csv_opts *o, char **names) {
    il_tensor *t = NULL;
    il_status s = il_data_parse_csv(ctx, text, strlen(text), "d.csv", o, &t, names);
    if (s != IL_OK) fail_msg("%s: %s", text, il_errmsg(ctx));
    return t;
}

static void csv_err(il_ctx *ctx, const char *text, const il_csv_opts *o, const char *msg) {
    il_tensor *t = (il_tensor *)1;
    char *names = (char *)1;
    assert_int_equal(il_data_parse_csv(ctx, text, strlen(text), "d.csv", o, &t, &names),
                     IL_E_FORMAT);
    assert_null(t);
    assert_null(names);
    if (strstr(il_errmsg(ctx), msg) == NULL) fail_msg("got '%s', want '%s'", il_errmsg(ctx), msg);
}

static void test_csv(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    char *names = NULL;
    il_tensor *t = csv_ok(ctx, "x, y ,\"pixel value\"\r\n0,0,1\r\n\r\n1,0,0.5\n  \n", NULL, &names);
    tu_assert_shape(t, 2, 2, 3);
    check_values(ctx, t, (double[]){0, 0, 1, 1, 0, 0.5}, 6);
    assert_string_equal(names, "x");
    assert_string_equal(names + 2, "y");
    assert_string_equal(names + 4, "pixel value");
    il_ctx_free_string(ctx, names);
    il_tensor_free(t);
    t = csv_ok(ctx, "1;2\n3;-4e1\n", &(il_csv_opts){-1, ';', IL_DTYPE_F64}, &names);
    assert_null(names);
    check_values(ctx, t, (double[]){1, 2, 3, -40}, 4);
    il_tensor_free(t);
    t = csv_ok(ctx, "a,b\n", &(il_csv_opts){1, 0, IL_DTYPE_F32}, NULL); /* a header alone */
    tu_assert_shape(t, 2, 0, 2);
    il_tensor_free(t);
    csv_err(ctx, "a,b,c\n1,2,3\n4,5\n", NULL, "d.csv:3: row has 2 columns, expected 3");
    csv_err(ctx, "1,2\n3,x\n", NULL, "d.csv:2: column 2 ('x') is not a number");
    csv_err(ctx, "1,2\n3,\n", NULL, "d.csv:2: column 2 is empty, expected a number");
    csv_err(ctx, "a,b\n1,2\n", &(il_csv_opts){0, 0, IL_DTYPE_F32},
            "d.csv:1: column 1 ('a') is not a number");
    csv_err(ctx, "\n \n", NULL, "d.csv: empty (no rows)");
    il_status s = il_data_load_csv(ctx, "/nonexistent/d.csv", NULL, &t, NULL);
    assert_int_equal(s, IL_E_IO);
    tu_ctx_done(ctx);
}

static void test_image_csv(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    il_tensor *t =
        csv_ok(ctx, "x,y,pixel_value\n0,0,0\n1,0,1\n2,0,0\n0,1,1\n1,1,1\n2,1,0\n", NULL, NULL);
    il_tensor *img = NULL;
    assert_int_equal(il_data_image_from_csv(ctx, t, &img), IL_OK);
    tu_assert_shape(img, 2, 2, 3);
    check_values(ctx, img, (double[]){0, 1, 0, 1, 1, 0}, 6);
    il_tensor_free(img);
    il_tensor_free(t);
    t = csv_ok(ctx, "0,0,1\n-1,0,1\n", NULL, NULL);
    assert_int_equal(il_data_image_from_csv(ctx, t, &img), IL_E_FORMAT);
    tu_assert_errmsg(ctx, "row 2: x = -1 is not a non-negative integer");
    il_tensor_free(t);
    t = csv_ok(ctx, "0,0\n", NULL, NULL);
    assert_int_equal(il_data_image_from_csv(ctx, t, &img), IL_E_SHAPE);
    il_tensor_free(t);
    tu_ctx_done(ctx);
}

static void test_grid_rows(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    il_tensor *g = NULL, *img = NULL, *c = NULL, *v = NULL, *r = NULL;
    assert_int_equal(il_data_grid(ctx, 3, 2, IL_DTYPE_F32, &g), IL_OK);
    tu_assert_shape(g, 2, 6, 2);
    check_values(ctx, g, (double[]){-1, -1, 0, -1, 1, -1, -1, 1, 0, 1, 1, 1}, 12);
    assert_int_equal(il_data_grid(ctx, 0, 2, IL_DTYPE_F32, &r), IL_E_ARG);
    img = tu_tensor(ctx, IL_DTYPE_F32, (double[]){1, 2, 3, 4, 5, 6}, 2, 2, 3);
    assert_int_equal(il_data_pixels(ctx, img, &c, &v), IL_OK);
    tu_assert_shape(c, 2, 6, 2);
    tu_assert_shape(v, 2, 6, 1);
    check_values(ctx, v, (double[]){1, 2, 3, 4, 5, 6}, 6);
    int64_t perm[50], perm2[50], seen[50] = {0};
    uint64_t seed = 9;
    assert_int_equal(il_data_permutation(ctx, 50, &seed, perm), IL_OK);
    assert_int_equal(il_data_permutation(ctx, 50, &seed, perm2), IL_OK);
    assert_memory_equal(perm, perm2, sizeof perm);
    for (int i = 0; i < 50; i++)
        seen[perm[i]]++;
    for (int i = 0; i < 50; i++)
        assert_int_equal(seen[i], 1);
    assert_int_equal(il_data_take_rows(ctx, img, (int64_t[]){1, 0, 1}, 3, &r), IL_OK);
    check_values(ctx, r, (double[]){4, 5, 6, 1, 2, 3, 4, 5, 6}, 9);
    il_tensor_free(r);
    assert_int_equal(il_data_take_rows(ctx, img, (int64_t[]){2}, 1, &r), IL_E_RANGE);
    il_tensor *x = tu_tensor(ctx, IL_DTYPE_F32, (double[]){0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, 2, 5, 2);
    il_tensor *y = tu_tensor(ctx, IL_DTYPE_F32, (double[]){0, 1, 2, 3, 4}, 2, 5, 1);
    il_dataset d;
    assert_int_equal(il_data_split(ctx, x, y, 2, 0, NULL, &d), IL_OK);
    check_values(ctx, d.x_test, (double[]){6, 7, 8, 9}, 4);
    check_values(ctx, d.y, (double[]){0, 1, 2}, 3);
    il_dataset_free(&d);
    assert_int_equal(il_data_split(ctx, x, y, 2, 1, &seed, &d), IL_OK);
    double *xt = tu_values(ctx, d.x_test), *yt = tu_values(ctx, d.y_test);
    for (int i = 0; i < 2; i++)
        assert_true(xt[2 * i] == 2 * yt[i]); /* rows stay paired */
    free(xt);
    free(yt);
    il_dataset_free(&d);
    assert_int_equal(il_data_split(ctx, x, y, 6, 0, NULL, &d), IL_E_RANGE);
    assert_int_equal(il_data_split(ctx, x, img, 1, 0, NULL, &d), IL_E_SHAPE);
    il_tensor *all[] = {g, img, c, v, x, y};
    for (size_t i = 0; i < 6; i++)
        il_tensor_free(all[i]);
    tu_ctx_done(ctx);
}

/* A fresh temporary directory for image files. */
static void tmpdir(char *buf, size_t n) {
    snprintf(buf, n, "/tmp/il_test_data_XXXXXX");
    assert_non_null(mkdtemp(buf));
}

static void test_images(void **state) {
    (void)state;
    il_ctx *ctx = tu_ctx();
    char dir[64], path[128];
    tmpdir(dir, sizeof dir);
    il_tensor *img = NULL, *back = NULL;
    assert_int_equal(
        il_image_load(ctx, IL_SEED_DATA "/horse.png", &(il_image_opts){.gray = 1}, &img), IL_OK);
    tu_assert_shape(img, 2, 328, 400);
    il_tensor_free(img);
    assert_int_equal(il_image_load(ctx, IL_SEED_DATA "/horse.png", NULL, &img), IL_OK);
    tu_assert_shape(img, 3, 328, 400, 4);
    il_tensor_free(img);
    il_image_opts o = {.gray = 1, .has_threshold = 1, .threshold = 0.5, .width = 40, .height = 30};
    assert_int_equal(il_image_load(ctx, IL_SEED_DATA "/horse.png", &o, &img), IL_OK);
    tu_assert_shape(img, 2, 30, 40);
    double *v = tu_values(ctx, img);
    for (int i = 0; i < 1200; i++)
        assert_true(v[i] == 0 || v[i] == 1);
    free(v);
    /* Round trip: 8-bit values come back exactly. */
    snprintf(path, sizeof path, "%s/a.png", dir);
    assert_int_equal(il_image_save(ctx, path, img), IL_OK);
    assert_int_equal(il_image_load(ctx, path, NULL, &back), IL_OK);
    double *a = tu_values(ctx, img), *b = tu_values(ctx, back);
    tu_assert_close(b, a, 1200, 0, 0);
    free(a);
    free(b);
    il_tensor_free(back);
    il_tensor *rgb = tu_tensor(ctx, IL_DTYPE_F32, (double[]){0, 0.5, 1, 2, -1, NAN}, 3, 1, 2, 3);
    assert_int_equal(il_image_save(ctx, path, rgb), IL_OK);
    assert_int_equal(il_image_load(ctx, path, NULL, &back), IL_OK);
    tu_assert_shape(back, 3, 1, 2, 3);
    check_values(ctx, back, (double[]){0, 128 / 255.0, 1, 1, 0, 0}, 6);
    il_tensor_free(back);
    /* A truncated file is reported, not crashed on. */
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    assert_int_equal(ftruncate(fileno(f), 40), 0);
    fclose(f);
    assert_int_equal(il_image_load(ctx, path, NULL, &back), IL_E_FORMAT);
    tu_assert_errmsg(ctx, "a.png: truncated or not an image (stb: ");
    /* A failed save leaves what was there: here a directory that cannot be replaced. */
    snprintf(path, sizeof path, "%s/sub", dir);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof path, "%s/sub/keep", dir);
    fclose(fopen(path, "w"));
    snprintf(path, sizeof path, "%s/sub", dir);
    assert_int_equal(il_image_save(ctx, path, img), IL_E_IO);
    snprintf(path, sizeof path, "%s/sub/keep", dir);
    assert_int_equal(access(path, F_OK), 0);
    remove(path);
    snprintf(path, sizeof path, "%s/sub", dir);
    rmdir(path);
    assert_int_equal(il_image_save(ctx, "/nonexistent/x.png", img), IL_E_IO);
    il_tensor *bad = tu_tensor(ctx, IL_DTYPE_F32, (double[]){1, 2}, 1, 2);
    assert_int_equal(il_image_save(ctx, path, bad), IL_E_SHAPE);
    snprintf(path, sizeof path, "%s/a.png", dir);
    remove(path);
    rmdir(dir);
    il_tensor_free(bad);
    il_tensor_free(rgb);
    il_tensor_free(img);
    tu_ctx_done(ctx);
}

/* ---- allocation failures ----------------------------------------------------------------- */

static char sweep_path[128];

static il_status scenario(il_ctx *ctx, void *ud) {
    const char *json = "{\"a\": {\"m\": 2, \"n\": 1, \"m_test\": 1, \"x\": [1, 2], \"y\": [0, 1],"
                       " \"x_test\": [3], \"y_test\": [1]}}";
    il_dataset d = {0}, sp = {0};
    il_tensor *t = NULL, *img = NULL, *im2 = NULL;
    char *names = NULL;
    uint64_t seed = 1;
    il_status s = il_data_parse_json(ctx, json, strlen(json), "s.json", "a", IL_DTYPE_F32, &d);
    if (s == IL_OK)
        s = il_data_parse_csv(ctx, "x,y,v\n0,0,1\n1,1,0\n", 18, "s.csv", NULL, &t, &names);
    if (s == IL_OK) s = il_data_image_from_csv(ctx, t, &img);
    if (s == IL_OK) s = il_data_split(ctx, d.x, d.y, 1, 1, &seed, &sp);
    if (s == IL_OK) s = il_image_save(ctx, sweep_path, img);
    if (s == IL_OK)
        s = il_image_load(ctx, sweep_path, &(il_image_opts){.width = 3, .height = 3}, &im2);
    il_dataset_free(&d);
    il_dataset_free(&sp);
    il_ctx_free_string(ctx, names);
    il_tensor_free(t);
    il_tensor_free(img);
    il_tensor_free(im2);
    return s;
}

static void test_alloc_fail(void **state) {
    (void)state;
    char dir[64];
    tmpdir(dir, sizeof dir);
    snprintf(sweep_path, sizeof sweep_path, "%s/s.png", dir);
    tu_alloc_sweep(scenario, NULL, 5000);
    remove(sweep_path);
    rmdir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_files), cmocka_unit_test(test_json_errors),
        cmocka_unit_test(test_csv),        cmocka_unit_test(test_image_csv),
        cmocka_unit_test(test_grid_rows),  cmocka_unit_test(test_images),
        cmocka_unit_test(test_alloc_fail),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
