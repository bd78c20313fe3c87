/*
 * ironlearn/data.h: datasets, CSV, images and function expressions. Included by ironlearn.h.
 *
 * Loaders take a path (messages name its last component) or a memory buffer with a name for
 * messages; every malformed input gives IL_E_FORMAT with the file and line, column or field, a
 * missing or unreadable file IL_E_IO. Results are new CPU tensors the caller owns.
 *
 * Where a function draws random numbers, `seed` is explicit: a non-NULL seed runs a private
 * generator seeded from it (same seed, same result, and the context's generator is untouched);
 * NULL draws from the context's generator (il_ctx_seed).
 */
#ifndef IRONLEARN_DATA_H
#define IRONLEARN_DATA_H

#ifndef IRONLEARN_H
#error "include <ironlearn.h>, not <ironlearn/data.h>"
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* A training set and a test set: x (m, n), y (m, 1), x_test (m_test, n), y_test (m_test, 1). */
typedef struct il_dataset {
    il_tensor *x, *y, *x_test, *y_test;
} il_dataset;

/* Frees the four tensors and sets them to NULL. NULL is ignored. */
IL_API void il_dataset_free(il_dataset *d);

/* ---- the seed's JSON datasets ------------------------------------------------------------ */

/*
 * Reads one object with m, n, m_test and flat row-major arrays x (m*n), y (m), x_test
 * (m_test*n), y_test (m_test). Without m_test, x_test and y_test are new handles of x and y.
 * The older form nests several such objects under names: field picks one (NULL: the only one,
 * or the top-level object itself when it has "m"). Tensors are of dtype dt.
 * IL_E_IO, IL_E_FORMAT ("neural_net.json: field 'x' has 7 numbers, expected m*n = 8"),
 * IL_E_ARG (unknown field), IL_E_NOMEM. On failure *out holds NULLs.
 */
IL_API il_status il_data_load_json(il_ctx *ctx, const char *path, const char *field, il_dtype dt,
                                   il_dataset *out);
/* The same from len bytes at text; name stands for the file in messages. */
IL_API il_status il_data_parse_json(il_ctx *ctx, const char *text, size_t len, const char *name,
                                    const char *field, il_dtype dt, il_dataset *out);

/* ---- CSV --------------------------------------------------------------------------------- */

typedef struct il_csv_opts {
    int header;     /* -1: auto (a first row with a non-number is a header), 0: none, 1: yes */
    char delimiter; /* 0 means ',' */
    il_dtype dtype; /* of the result (zero: f32) */
} il_csv_opts;

/*
 * Reads a numeric CSV file into a (rows, columns) tensor. Blank lines are skipped, fields are
 * trimmed, a header's fields may be "quoted". When names is not NULL it receives the header's
 * column names as one string of `columns` consecutive NUL-terminated names (free it with
 * il_ctx_free_string), or NULL without a header. opts NULL: auto header, ',', f32.
 * IL_E_FORMAT ("data.csv:12: row has 2 columns, expected 3"), IL_E_IO, IL_E_NOMEM.
 */
IL_API il_status il_data_load_csv(il_ctx *ctx, const char *path, const il_csv_opts *opts,
                                  il_tensor **out, char **names);
IL_API il_status il_data_parse_csv(il_ctx *ctx, const char *text, size_t len, const char *name,
                                   const il_csv_opts *opts, il_tensor **out, char **names);

/*
 * The seed's image CSV back to an image: t is (N, 3) with rows (x, y, value), x the column and
 * y the row (0-based integers); out is (H, W) with H = max y + 1, W = max x + 1, values as
 * stored (the seed's: 1 = black), pixels absent from t 0. IL_E_SHAPE, IL_E_FORMAT (a
 * coordinate that is not a non-negative integer), IL_E_RANGE (too large), IL_E_NOMEM.
 */
IL_API il_status il_data_image_from_csv(il_ctx *ctx, const il_tensor *t, il_tensor **out);

/* ---- coordinates, rows, splits ----------------------------------------------------------- */

/* (w*h, 2) coordinates (x, y) in [-1, 1] of a w x h canvas in row-major pixel order: row r,
 * column c is row r*w + c, x = -1 + 2c/(w-1), y = -1 + 2r/(h-1) (0 when the size is 1).
 * IL_E_ARG unless w, h >= 1. */
IL_API il_status il_data_grid(il_ctx *ctx, int64_t w, int64_t h, il_dtype dt, il_tensor **out);
/* For an image (H, W) or (H, W, C): coords = il_data_grid(W, H) and values (H*W, C) (C = 1 for
 * a 2-D image), in the image's dtype. IL_E_SHAPE. */
IL_API il_status il_data_pixels(il_ctx *ctx, const il_tensor *img, il_tensor **coords,
                                il_tensor **values);
/* A uniformly random permutation of 0..n-1 into perm (n entries); seed as in the file comment. */
IL_API il_status il_data_permutation(il_ctx *ctx, int64_t n, const uint64_t *seed, int64_t *perm);
/* Rows idx[0..n-1] of t (axis 0), gathered into a new contiguous tensor on t's device (on
 * CUDA the index list is uploaded once and the rows are gathered on the device: the data never
 * passes through host memory). IL_E_RANGE names an index outside t. */
IL_API il_status il_data_take_rows(il_ctx *ctx, const il_tensor *t, const int64_t *idx, int64_t n,
                                   il_tensor **out);
/* The same with the indices in idx, a 1-D i64 tensor (any stride) on t's device. Every index
 * is checked: on CUDA by one MIN/MAX reduction read back (a device-to-host copy and a wait),
 * and only when it finds a bad index is idx read whole, to name the first. IL_E_ARG (idx not
 * 1-D i64), IL_E_DEVICE (idx on another device), IL_E_SHAPE (t 0-d), IL_E_RANGE, IL_E_NOMEM. */
IL_API il_status il_data_take_rows_t(il_ctx *ctx, const il_tensor *t, const il_tensor *idx,
                                     il_tensor **out);
/* Rows idx of t into dst, an existing (n, t's other axes) tensor of t's dtype on t's device (any
 * strides, sharing memory with neither t nor idx); nothing is allocated on the way. check
 * non-zero: as il_data_take_rows_t. check 0: the indices are trusted (a permutation the caller
 * checked once, say), so nothing is read back; a bad one then yields an unspecified row of t
 * (indices are clamped into range, never read outside t). IL_E_ARG, IL_E_DEVICE, IL_E_DTYPE,
 * IL_E_SHAPE (dst's shape), IL_E_RANGE (check only). */
IL_API il_status il_data_take_rows_into(il_ctx *ctx, const il_tensor *t, const il_tensor *idx,
                                        int check, il_tensor *dst);
/* Splits rows of x and y (same row count) into training and test sets of which the test set
 * has ntest rows (0 <= ntest <= rows): the last ntest rows, or after a shuffle with seed as in
 * the file comment. IL_E_SHAPE, IL_E_RANGE. */
IL_API il_status il_data_split(il_ctx *ctx, const il_tensor *x, const il_tensor *y, int64_t ntest,
                               int shuffle, const uint64_t *seed, il_dataset *out);

/* ---- images (stb_image: PNG, JPEG, BMP, PGM/PPM, TGA, GIF's first frame) ----------------- */

typedef struct il_image_opts {
    int gray;          /* non-zero: one channel (Rec. 601 luma, alpha flattened on white) */
    int has_threshold; /* non-zero: values >= threshold become 1, others 0 */
    double threshold;
    int64_t width, height; /* both > 0: resized (bilinear) to width x height */
} il_image_opts;

/* Loads an image as f32 values in [0, 1]: (H, W) for one channel or gray, else (H, W, C) with
 * the file's channels (C = 2 gray+alpha, 3 RGB, 4 RGBA). opts may be NULL.
 * IL_E_IO, IL_E_FORMAT ("horse.png: truncated or not an image (stb: ...)"), IL_E_NOMEM. */
IL_API il_status il_image_load(il_ctx *ctx, const char *path, const il_image_opts *opts,
                               il_tensor **out);
/* Writes t, (H, W) or (H, W, C) with C in 1..4 and values in [0, 1] (clamped; NaN is 0), as an
 * 8-bit PNG. The file is written beside path under a temporary name and renamed over it, so a
 * failure never destroys an existing file. IL_E_SHAPE, IL_E_IO, IL_E_NOMEM. */
IL_API il_status il_image_save(il_ctx *ctx, const char *path, const il_tensor *t);

/* ---- expressions in x -------------------------------------------------------------------- */

/*
 * The language: numbers (1, 2.5, 1e-3), x, + - * / ^, unary minus, parentheses, and sin, cos,
 * tan, exp, log, sqrt, abs applied as f(expr). ^ is right-associative and binds tighter than
 * unary minus (-x^2 is -(x^2); 2^-1 is 0.5); * and / bind tighter than + and -.
 */
typedef struct il_expr il_expr;

/* Parses src (NUL-terminated). IL_E_FORMAT with the column and what was expected
 * ("x^^2: expected a number, x, ( or function at column 3"), IL_E_NOMEM. */
IL_API il_status il_expr_parse(il_ctx *ctx, const char *src, il_expr **out);
/* The same for len bytes (a NUL byte among them is a syntax error). */
IL_API il_status il_expr_parse_n(il_ctx *ctx, const char *src, size_t len, il_expr **out);
IL_API void il_expr_free(il_expr *e);
/* f(x) in double precision; NaN or infinity where f is undefined. */
IL_API double il_expr_eval(const il_expr *e, double x);
/* f applied to every element of x (f32/f64; i64 becomes f32), on x's device, by composing
 * tensor operations. */
IL_API il_status il_expr_eval_tensor(il_ctx *ctx, const il_expr *e, const il_tensor *x,
                                     il_tensor **out);
/* Source that parses to the same expression, with only the parentheses it needs; a new
 * string (free with il_ctx_free_string). */
IL_API il_status il_expr_format(il_ctx *ctx, const il_expr *e, char **out);

/* Chits in the bowl: the numbers 1..10 and the operators '+', '-', '*', '/', '^'. */
#define IL_EXPR_BOWL 15
/*
 * Draws `draws` chits (1..4096) from the bowl without replacement, refilling it when empty, and
 * assembles them in draw order (docs/lua_api.md gives the rule): a number k is the term x^k,
 * joined to the expression so far by the last operator drawn since the previous number ('+'
 * when none); '^' then k raises the expression so far to the power k. chits (draws entries)
 * receives 1..10 for numbers and the operator characters. seed as in the file comment.
 */
IL_API il_status il_expr_roll(il_ctx *ctx, int draws, const uint64_t *seed, il_expr **out,
                              int *chits);

typedef enum il_sample_rule {
    IL_SAMPLE_BETWEEN = 0, /* 1 when y lies between the x axis and f(x) (inclusive) */
    IL_SAMPLE_ABOVE,       /* 1 when y > f(x) */
    IL_SAMPLE_BELOW,       /* 1 when y < f(x) */
    IL_SAMPLE_CUSTOM       /* the callback decides */
} il_sample_rule;

/* A custom labelling rule: sets *label (0 or 1) for the point (x, y) with fx = f(x). A failed
 * status stops sampling and is returned (with the context's message left as the callback set
 * it). */
typedef il_status (*il_sample_fn)(void *ud, double x, double y, double fx, int *label);

typedef struct il_sample_opts {
    int64_t n, test; /* training and test points (the seed's: 25 and 6) */
    double xlo, xhi; /* x range; xlo == xhi (zero): [-10, 10] */
    int has_y;       /* zero: y range from f's values over the x range, 0 included */
    double ylo, yhi;
    il_sample_rule rule;
    il_sample_fn fn; /* IL_SAMPLE_CUSTOM */
    void *ud;
    const uint64_t *seed; /* as in the file comment */
    int balance;          /* non-zero: half the points of each set labelled 1 (n/2 rounded down) */
    il_dtype dtype;       /* of the results (zero: f32) */
} il_sample_opts;

/*
 * Draws points (x, y) uniformly in the ranges and labels them by the rule: x (n, 2) of (x, y),
 * y (n, 1) of labels, and the same for the test set. Points where f is NaN or infinite are
 * redrawn; after 1000 draws per point plus 10000 without finishing, IL_E_NUMERIC with how many
 * draws were undefined (or, with balance, which label was short).
 */
IL_API il_status il_expr_sample(il_ctx *ctx, const il_expr *e, const il_sample_opts *opts,
                                il_dataset *out);

#ifdef __cplusplus
}
#endif

#endif
