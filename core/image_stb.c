/*
 * image_stb.c: the one compilation unit of stb_image and stb_image_write (Debian's libstb-dev
 * headers), with their allocations routed to the context's allocator.
 *
 * stb's allocation macros take no context, so the running call (its context and its live
 * blocks) sits in a thread-local pointer for the call's duration, set and cleared here and never
 * seen elsewhere; each block carries its size in a header so frees are counted exactly. The
 * implementations are static (STB_IMAGE_STATIC), so a host linking its own stb never clashes with
 * ours. Compiled without warnings (third-party code), see core/CMakeLists.txt.
 */
#include "data_impl.h"

#include <limits.h>
#include <setjmp.h>
#include <string.h>

/* Each block's header: its size and links in the running call's list of live blocks. Its 32
 * bytes keep the payload as aligned as malloc's. */
typedef struct blk {
    size_t n;
    struct blk *prev, *next;
    size_t pad;
} blk;

/* The running call: its context, where to jump when an allocation fails (stb_image_write does
 * not check its allocations, so it must never see a NULL), and its live blocks, freed if the
 * call is abandoned. */
typedef struct stbcall {
    il_ctx *ctx;
    jmp_buf *fail;
    blk *live;
} stbcall;

static _Thread_local stbcall *cur;

static void link_(blk *b) {
    b->prev = NULL;
    b->next = cur->live;
    if (cur->live) cur->live->prev = b;
    cur->live = b;
}

static void unlink_(blk *b) {
    if (b->prev)
        b->prev->next = b->next;
    else if (cur && cur->live == b)
        cur->live = b->next;
    if (b->next) b->next->prev = b->prev;
    b->prev = b->next = NULL;
}

static void *nomem(void) {
    if (cur->fail) longjmp(*cur->fail, 1);
    return NULL;
}

static void *stb_malloc(size_t n) {
    if (n > SIZE_MAX - sizeof(blk)) return nomem();
    blk *b = ili_malloc(cur->ctx, n + sizeof(blk));
    if (b == NULL) return nomem();
    b->n = n;
    link_(b);
    return b + 1;
}

static void stb_free(void *p) {
    if (p == NULL) return;
    blk *b = (blk *)p - 1;
    unlink_(b);
    ili_free(cur->ctx, b, b->n + sizeof(blk));
}

static void *stb_realloc(void *p, size_t n) {
    if (p == NULL) return stb_malloc(n);
    if (n > SIZE_MAX - sizeof(blk)) return nomem();
    blk *b = (blk *)p - 1;
    unlink_(b);
    blk *nb = ili_realloc(cur->ctx, b, b->n + sizeof(blk), n + sizeof(blk));
    if (nb == NULL) {
        link_(b); /* still live: freed with the call, or by stb */
        return nomem();
    }
    nb->n = n;
    link_(nb);
    return nb + 1;
}

/* Ends a call: the result block (if any) leaves the list, anything else left is freed. */
static void endcall(stbcall *c, void *result) {
    if (result) unlink_((blk *)result - 1);
    while (c->live)
        stb_free(c->live + 1);
    cur = NULL;
}

#define STBI_MALLOC(n) stb_malloc(n)
#define STBI_REALLOC(p, n) stb_realloc(p, n)
#define STBI_FREE(p) stb_free(p)
#define STBIW_MALLOC(n) stb_malloc(n)
#define STBIW_REALLOC(p, n) stb_realloc(p, n)
#define STBIW_FREE(p) stb_free(p)
/* The library reports failures; stb must never assert on input. */
#define STBI_ASSERT(x) ((void)0)
#define STBIW_ASSERT(x) ((void)0)
#define STBI_NO_STDIO
#define STBI_WRITE_NO_STDIO
#define STBI_NO_HDR
/* Larger images are refused before any allocation (65536 pixels a side). */
#define STBI_MAX_DIMENSIONS (1 << 16)
#define STB_IMAGE_STATIC
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image.h>
#include <stb/stb_image_write.h>

unsigned char *ili_stb_decode(il_ctx *ctx, const unsigned char *buf, size_t len, int *w, int *h,
                              int *c, const char **reason) {
    if (len > INT_MAX) {
        *reason = "file too large";
        return NULL;
    }
    stbcall call = {ctx, NULL, NULL};
    cur = &call;
    unsigned char *pix = stbi_load_from_memory(buf, (int)len, w, h, c, 0);
    endcall(&call, pix);
    *reason = pix ? NULL : stbi_failure_reason();
    if (*reason == NULL && pix == NULL) *reason = "unknown error";
    return pix;
}

unsigned char *ili_stb_png(il_ctx *ctx, const unsigned char *pix, int w, int h, int c, int *len) {
    jmp_buf jb;
    stbcall call = {ctx, &jb, NULL};
    cur = &call;
    if (setjmp(jb) != 0) { /* an allocation failed deep inside stb */
        endcall(&call, NULL);
        return NULL;
    }
    unsigned char *png = stbi_write_png_to_mem(pix, w * c, w, h, c, len);
    endcall(&call, png);
    return png;
}

void ili_stb_free(il_ctx *ctx, void *p) {
    if (p == NULL) return;
    blk *b = (blk *)p - 1; /* a result: no longer in any list */
    ili_free(ctx, b, b->n + sizeof(blk));
}
