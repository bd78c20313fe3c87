/*
 * strbuf.c: the one growing-string builder of the core (summaries, tensor text, graph JSON,
 * CSV column names, expression source). The block holds its capacity just before the text, so
 * a finished string is released by il_ctx_free_string alone. Also ili_strdup, the plain copy
 * that node names and safetensors keys keep.
 */
#include "il_impl.h"

#include <stdio.h>
#include <string.h>

/* Makes room for n more bytes and the terminating NUL; sets failed when it cannot. */
static int reserve(ili_sbuf *b, size_t n) {
    if (b->failed) return 0;
    size_t need = sizeof(size_t) + b->len + n + 1;
    if (need <= b->cap) return 1;
    size_t ncap = need * 2 < 64 ? 64 : need * 2;
    char *nb = ili_realloc(b->ctx, b->block, b->cap, ncap);
    if (nb == NULL) {
        b->failed = 1;
        return 0;
    }
    b->block = nb;
    b->cap = ncap;
    return 1;
}

void ili_sbuf_add(ili_sbuf *b, const char *s, size_t n) {
    if (!reserve(b, n)) return;
    memcpy(b->block + sizeof(size_t) + b->len, s, n);
    b->len += n;
    b->block[sizeof(size_t) + b->len] = '\0';
}

/* Formats straight into the block, measured first, so no length is truncated. */
void ili_sbuf_printf(ili_sbuf *b, const char *fmt, ...) {
    va_list ap, again;
    va_start(ap, fmt);
    va_copy(again, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n >= 0 && reserve(b, (size_t)n)) {
        vsnprintf(b->block + sizeof(size_t) + b->len, (size_t)n + 1, fmt, again);
        b->len += (size_t)n;
    }
    va_end(again);
}

void ili_sbuf_json_string(ili_sbuf *b, const char *s) {
    ili_sbuf_add(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            ili_sbuf_add(b, e, 2);
        } else if (c < 0x20) {
            ili_sbuf_printf(b, "\\u%04x", c);
        } else {
            ili_sbuf_add(b, s, 1); /* other bytes (UTF-8) as they are */
        }
    }
    ili_sbuf_add(b, "\"", 1);
}

il_status ili_sbuf_finish(ili_sbuf *b, char **out) {
    *out = NULL;
    if (!b->failed && b->block == NULL) ili_sbuf_add(b, "", 0); /* an empty string is a string */
    if (b->failed) {
        ili_free(b->ctx, b->block, b->cap);
        b->block = NULL;
        return ili_nomem(b->ctx, b->len + 1);
    }
    memcpy(b->block, &b->cap, sizeof b->cap);
    *out = b->block + sizeof(size_t);
    b->block = NULL;
    return IL_OK;
}

void il_ctx_free_string(il_ctx *ctx, char *s) {
    if (ctx == NULL || s == NULL) return;
    size_t cap;
    char *base = s - sizeof(size_t);
    memcpy(&cap, base, sizeof cap);
    ili_free(ctx, base, cap);
}

char *ili_strdup(il_ctx *ctx, const char *s) {
    size_t n = strlen(s) + 1;
    char *d = ili_malloc(ctx, n);
    if (d) memcpy(d, s, n);
    return d;
}
