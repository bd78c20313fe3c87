/*
 * replay.c: runs a fuzz target's LLVMFuzzerTestOneInput on every file named on the command
 * line (a directory stands for the files in it), so the corpus runs as a plain test in every
 * build, fuzzer or not.
 */
#include "fuzz_util.h"

#include <dirent.h>
#include <string.h>

static int run_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) return 0;
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    for (size_t got; buf && (got = fread(buf + n, 1, cap - n, f)) > 0;) {
        n += got;
        if (n == cap) buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    if (buf == NULL) return 0;
    /* An exact-size copy, so reading past the input trips AddressSanitizer as it would in
     * libFuzzer. */
    uint8_t *exact = malloc(n ? n : 1);
    memcpy(exact, buf, n);
    free(buf);
    LLVMFuzzerTestOneInput(exact, n);
    free(exact);
    return 1;
}

static int run_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (d == NULL) return run_file(dir);
    int count = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        char path[4096];
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        count += run_file(path);
    }
    closedir(d);
    return count;
}

int main(int argc, char **argv) {
    int count = 0;
    for (int i = 1; i < argc; i++)
        count += run_dir(argv[i]);
    printf("replayed %d inputs\n", count);
    return count > 0 ? 0 : 1;
}
