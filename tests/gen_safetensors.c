/*
 * gen_safetensors.c: writes <dir>/gen.safetensors for tests/read_safetensors.py, the
 * independent reader: tensors of each dtype whose values follow formulas the reader knows, and
 * a small network's parameters (named as il_net_parameters names them) with the graph spec in
 * the "iron-learn" metadata; the network's values go to <dir>/gen.txt as hex floats (%a).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ironlearn.h"

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if ((x) != IL_OK) {                                                                        \
            fprintf(stderr, "%s: %s\n", #x, il_errmsg(ctx));                                       \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    char path[512], txt[512];
    snprintf(path, sizeof path, "%s/gen.safetensors", argv[1]);
    snprintf(txt, sizeof txt, "%s/gen.txt", argv[1]);
    il_ctx *ctx = NULL;
    if (il_ctx_new(&ctx) != IL_OK) return 1;
    il_ctx_seed(ctx, 3);
    double a[12], b[5], c[6], d = 2.5;
    for (int i = 0; i < 12; i++)
        a[i] = i * 0.25 - 1;
    for (int i = 0; i < 5; i++)
        b[i] = 1.0 / (i + 1);
    for (int i = 0; i < 6; i++)
        c[i] = i * i - 7;
    int64_t sa[2] = {3, 4}, sb[1] = {5}, sc[2] = {2, 3};
    il_tensor *t[8] = {0};
    const char *names[8] = {"a.f32", "b.f64", "c.i64", "d.scalar"};
    CHECK(il_tensor_from_data(ctx, 2, sa, IL_DTYPE_F32, IL_DEVICE_CPU, a, IL_DTYPE_F64, &t[0]));
    CHECK(il_tensor_from_data(ctx, 1, sb, IL_DTYPE_F64, IL_DEVICE_CPU, b, IL_DTYPE_F64, &t[1]));
    CHECK(il_tensor_from_data(ctx, 2, sc, IL_DTYPE_I64, IL_DEVICE_CPU, c, IL_DTYPE_F64, &t[2]));
    CHECK(il_tensor_from_data(ctx, 0, NULL, IL_DTYPE_F64, IL_DEVICE_CPU, &d, IL_DTYPE_F64, &t[3]));
    il_net *net = NULL;
    int in, h, h2, out, n = 0;
    CHECK(il_net_new(ctx, IL_DTYPE_F32, &net));
    CHECK(il_net_input(net, 3, &in));
    il_layer_opts o1 = {.out_features = 4, .name = "fc1"}, o2 = {.out_features = 2};
    CHECK(il_net_layer(net, IL_LAYER_LINEAR, &o1, 1, &in, &h));
    CHECK(il_net_layer(net, IL_LAYER_TANH, NULL, 1, &h, &h2));
    CHECK(il_net_layer(net, IL_LAYER_LINEAR, &o2, 1, &h2, &out));
    CHECK(il_net_parameters(net, &t[4], &names[4], 4, &n));
    char *spec = NULL;
    CHECK(il_net_spec_json(net, &spec));
    size_t len = strlen(spec) + 32;
    char *doc = malloc(len);
    snprintf(doc, len, "{\"format\":1,\"graph\":%s}", spec);
    const char *key = "iron-learn";
    const char *val = doc;
    CHECK(
        il_safetensors_write(ctx, path, 4 + n, names, (const il_tensor *const *)t, 1, &key, &val));
    FILE *fp = fopen(txt, "w");
    for (int i = 4; i < 4 + n; i++) {
        int64_t k = il_tensor_numel(t[i]);
        float *v = malloc(sizeof(float) * (size_t)k);
        CHECK(il_tensor_read(ctx, t[i], v, IL_DTYPE_F32, k));
        fprintf(fp, "%s", names[i]);
        for (int64_t j = 0; j < k; j++)
            fprintf(fp, " %a", (double)v[j]);
        fprintf(fp, "\n");
        free(v);
    }
    fclose(fp);
    free(doc);
    il_ctx_free_string(ctx, spec);
    for (int i = 0; i < 8; i++)
        il_tensor_free(t[i]);
    il_net_free(net);
    il_ctx_free(ctx);
    return 0;
}
