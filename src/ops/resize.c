/*
 * resize.c - a separable resampler that streams: strips in, strips out, never a frame.
 *
 * Design. Resampling is done as two 1-D passes with precomputed contributions:
 *  - For each output column (and each output row) we store the first input index it reads
 *    and its normalised weights. The kernel (Lanczos 3/2, Catmull-Rom, triangle) is
 *    stretched by the downscale ratio so that it also low-passes when shrinking; when
 *    enlarging it keeps its natural width. Taps outside the image are dropped and the
 *    rest renormalised (edge clamp without over-weighting the border pixel), and
 *    zero-weight taps at either end are trimmed (an identity axis costs one tap).
 *    "nearest" is one tap of weight 1 at the input pixel under the output centre.
 *  - Every incoming row is converted to float (premultiplied by alpha when the format has
 *    alpha and the filter mixes pixels, so that the colour of transparent pixels cannot
 *    bleed into opaque ones), resampled horizontally and stored in a ring of out_width
 *    float rows.
 *  - Output row i is the weighted sum of ring rows vstart[i] .. vstart[i]+vcount[i]-1;
 *    it is computed as soon as those rows are in the ring, unpremultiplied, clamped and
 *    rounded into the output strip (up to 16 rows a strip).
 * The ring keeps a row until no later output row needs it. Trimming can make vstart
 * non-monotone by a row, so the ring size is computed exactly at set-up as the largest
 * span between "rows loaded so far" (a running maximum of the ends) and "first row any
 * later output still needs" (a suffix minimum of the starts).
 * Results do not depend on how upstream cuts its strips: every row takes the same path.
 * Speed: floats with 4-lane vectors (a pixel a vector in the horizontal pass, eight
 * samples at a time in the vertical one) - 6000x4000 RGB8 -> 2048x1365 Lanczos 3 takes
 * about 75 ms of CPU, on a par with libvips (bench/resize-vs-vips.sh).
 *
 * Memory (all counted in upstream->mem, held_bytes 0 since nothing is frame-sized):
 * the ring (ring_rows * out_width * channels * 4 bytes; ring_rows is about
 * 2 * support * max(1, in_height/out_height) + 1), one float input row (4 floats a pixel
 * for 2-4 channels), one float accumulator row, the contribution tables (about
 * 6 * in + out floats an axis for Lanczos 3) and a 16-row output strip: 0.9 MiB for the
 * example above. Equal sizes pass strips through untouched.
 */
#include "leanpix/ops.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define RESIZE_STRIP_ROWS 16u

/* The contributions of one axis: output index i reads input start[i] .. start[i]+count[i]-1
 * with weights[i * max_taps ...]. One allocation holds the three arrays. */
typedef struct axis_filter {
    void *block;
    uint32_t *start;
    uint32_t *count;
    float *weights;
    uint32_t max_taps;   /* stride of weights */
    uint32_t most_taps;  /* the largest count actually used */
} axis_filter;

typedef struct resize_stage {
    lp_stage base;
    uint32_t in_width, in_height, out_width, out_height;
    unsigned channels;
    bool sixteen, alpha, premultiply;
    float max_value;       /* 255 or 65535 */
    axis_filter h, v;
    unsigned lanes;        /* floats a pixel in in_row: 1 for gray, else 4 */
    float *in_row;         /* one input row as float (in_width * lanes) */
    const float **tap_rows; /* the ring rows of one output row's taps */
    float *acc;            /* one output row being summed (out_width * channels) */
    float *ring;           /* ring_rows horizontally resampled rows */
    uint32_t ring_rows;
    uint32_t loaded;       /* input rows resampled into the ring so far */
    uint32_t need;         /* running maximum of vstart + vcount */
    lp_strip up;           /* the current upstream strip */
    uint32_t up_used;      /* rows of it consumed */
    uint8_t *out;          /* output strip */
    size_t out_stride;
    uint32_t out_y;        /* next output row */
    bool pass_through;
} resize_stage;

/* ---- kernels ---- */

lp_kernel lp_kernel_from_name(const char *name, bool *ok)
{
    static const struct {
        const char *name;
        lp_kernel kernel;
    } names[] = {
        {"lanczos3", LP_KERNEL_LANCZOS3}, {"lanczos", LP_KERNEL_LANCZOS3},
        {"lanczos2", LP_KERNEL_LANCZOS2}, {"cubic", LP_KERNEL_CUBIC},
        {"bicubic", LP_KERNEL_CUBIC},     {"catmull-rom", LP_KERNEL_CUBIC},
        {"linear", LP_KERNEL_LINEAR},     {"bilinear", LP_KERNEL_LINEAR},
        {"triangle", LP_KERNEL_LINEAR},   {"nearest", LP_KERNEL_NEAREST},
    };
    bool found = !name || !*name;  /* no name: the default */
    lp_kernel kernel = LP_KERNEL_LANCZOS3;
    for (size_t i = 0; !found && i < sizeof names / sizeof names[0]; i++) {
        if (!strcasecmp(name, names[i].name)) {
            kernel = names[i].kernel;
            found = true;
        }
    }
    if (ok)
        *ok = found;
    return kernel;
}

static double kernel_support(lp_kernel k)
{
    switch (k) {
    case LP_KERNEL_LANCZOS2: return 2.0;
    case LP_KERNEL_CUBIC: return 2.0;
    case LP_KERNEL_LINEAR: return 1.0;
    case LP_KERNEL_NEAREST: return 0.5;
    default: return 3.0;
    }
}

static double sinc(double x)
{
    if (fabs(x) < 1e-9)
        return 1.0;
    x *= M_PI;
    return sin(x) / x;
}

static double kernel_eval(lp_kernel k, double x)
{
    x = fabs(x);
    switch (k) {
    case LP_KERNEL_LANCZOS2:
        return x < 2.0 ? sinc(x) * sinc(x / 2.0) : 0.0;
    case LP_KERNEL_CUBIC:  /* Catmull-Rom: B = 0, C = 0.5 */
        if (x < 1.0)
            return (1.5 * x - 2.5) * x * x + 1.0;
        if (x < 2.0)
            return ((-0.5 * x + 2.5) * x - 4.0) * x + 2.0;
        return 0.0;
    case LP_KERNEL_LINEAR:
        return x < 1.0 ? 1.0 - x : 0.0;
    case LP_KERNEL_NEAREST:
        return x <= 0.5 ? 1.0 : 0.0;
    default:
        return x < 3.0 ? sinc(x) * sinc(x / 3.0) : 0.0;
    }
}

/* ---- contributions ---- */

static lp_status axis_alloc(axis_filter *f, uint32_t out_size, uint32_t taps, lp_mem *mem,
                            lp_error *err)
{
    size_t n = out_size;
    if (taps > (SIZE_MAX / sizeof(float) - 2 * n) / n)
        return lp_error_set(err, LP_ERR_LIMITS, "resize filter table too large");
    f->block = lp_mem_alloc(mem, n * 2 * sizeof(uint32_t) + n * taps * sizeof(float),
                            "resize filter table", err);
    if (!f->block)
        return err ? err->status : LP_ERR_NOMEM;
    f->start = f->block;
    f->count = f->start + n;
    f->weights = (float *)(f->count + n);
    f->max_taps = taps;
    f->most_taps = 1;
    return LP_OK;
}

/* Output i on an axis of in_size inputs: weights of input j for an output centred at
 * `center` (continuous coordinates, pixel j covering [j, j+1)). Fills f for index i. */
static void contribute(axis_filter *f, uint32_t i, uint32_t in_size, double center,
                       double fscale, double support, lp_kernel kernel)
{
    float *w = f->weights + (size_t)i * f->max_taps;
    double lo_d = ceil(center - support - 0.5), hi_d = floor(center + support - 0.5);
    int64_t lo = lo_d < 0 ? 0 : (int64_t)lo_d;
    int64_t hi = hi_d > in_size - 1.0 ? (int64_t)in_size - 1 : (int64_t)hi_d;
    if (hi - lo + 1 > (int64_t)f->max_taps)  /* guards rounding at the table's edge */
        hi = lo + f->max_taps - 1;
    double sum = 0;
    for (int64_t j = lo; j <= hi; j++)
        sum += kernel_eval(kernel, (j + 0.5 - center) / fscale);
    /* trim zero-weight taps at both ends */
    while (lo < hi && fabs(kernel_eval(kernel, (lo + 0.5 - center) / fscale)) < 1e-12)
        lo++;
    while (hi > lo && fabs(kernel_eval(kernel, (hi + 0.5 - center) / fscale)) < 1e-12)
        hi--;
    if (lo > hi || fabs(sum) < 1e-12) {  /* nothing usable: fall back to the nearest pixel */
        int64_t j = (int64_t)floor(center);
        lo = hi = j < 0 ? 0 : j >= (int64_t)in_size ? (int64_t)in_size - 1 : j;
        sum = 0;
    }
    for (int64_t j = lo; j <= hi; j++)
        w[j - lo] = sum == 0 ? 1.0f : (float)(kernel_eval(kernel, (j + 0.5 - center) / fscale) / sum);
    f->start[i] = (uint32_t)lo;
    f->count[i] = (uint32_t)(hi - lo + 1);
    if (f->count[i] > f->most_taps)
        f->most_taps = f->count[i];
}

static lp_status axis_build(axis_filter *f, uint32_t in_size, uint32_t out_size,
                            lp_kernel kernel, lp_mem *mem, lp_error *err)
{
    double scale = (double)in_size / out_size;
    double fscale = scale > 1.0 ? scale : 1.0;
    double support = kernel_support(kernel) * fscale;
    uint64_t taps = kernel == LP_KERNEL_NEAREST ? 1 : (uint64_t)ceil(2.0 * support) + 1;
    if (taps > in_size)
        taps = in_size;
    lp_status st = axis_alloc(f, out_size, (uint32_t)taps, mem, err);
    if (st != LP_OK)
        return st;
    for (uint32_t i = 0; i < out_size; i++) {
        double center = (i + 0.5) * scale;
        if (kernel == LP_KERNEL_NEAREST) {
            uint32_t j = (uint32_t)floor(center);
            f->start[i] = j < in_size ? j : in_size - 1;
            f->count[i] = 1;
            f->weights[i] = 1.0f;
        } else {
            contribute(f, i, in_size, center, fscale, support, kernel);
        }
    }
    return LP_OK;
}

/* The ring must hold, for every output row i, the rows from the first one any output at
 * or after i needs up to the last one loaded so far. */
static lp_status ring_rows_needed(const axis_filter *v, uint32_t out_size, uint32_t *rows,
                                  lp_mem *mem, lp_error *err)
{
    uint32_t *loaded_by = lp_mem_alloc(mem, (size_t)out_size * sizeof *loaded_by,
                                       "resize ring plan", err);
    if (!loaded_by)
        return err ? err->status : LP_ERR_NOMEM;
    uint32_t high = 0;
    for (uint32_t i = 0; i < out_size; i++) {
        uint32_t end = v->start[i] + v->count[i];
        high = end > high ? end : high;
        loaded_by[i] = high;
    }
    uint32_t keep_from = UINT32_MAX, most = 1;
    for (uint32_t i = out_size; i-- > 0;) {
        keep_from = v->start[i] < keep_from ? v->start[i] : keep_from;
        uint32_t span = loaded_by[i] - keep_from;
        most = span > most ? span : most;
    }
    lp_mem_release(mem, loaded_by);
    *rows = most;
    return LP_OK;
}

/* ---- the passes ---- */

/* Pixels of 2..4 channels travel through the horizontal pass as one 4-float vector (GCC
 * vector extension: SSE on x86-64, NEON on arm64, plain code elsewhere), so that a tap
 * is one multiply-add whatever the channel count; gray goes one float a pixel. */
typedef float v4f __attribute__((vector_size(16)));

static v4f load_v4(const float *p)
{
    v4f v;
    memcpy(&v, p, sizeof v);  /* unaligned load */
    return v;
}

static void store_v4(float *p, v4f v)
{
    memcpy(p, &v, sizeof v);
}

/* Widens one row to 4 lanes a pixel; written for a constant channel count so that the
 * compiler unrolls the inner loop. */
static inline __attribute__((always_inline)) void
widen_row(float *dst, const uint8_t *src, size_t width, bool sixteen, const unsigned ch)
{
    if (sixteen) {
        const uint16_t *s16 = (const uint16_t *)src;
        for (size_t x = 0; x < width; x++, dst += 4, s16 += ch) {
            dst[0] = s16[0];  /* spelled out: GCC -O2 does not unroll it */
            dst[1] = ch > 1 ? s16[1] : 0.0f;
            dst[2] = ch > 2 ? s16[2] : 0.0f;
            dst[3] = ch > 3 ? s16[3] : 0.0f;
        }
    } else {
        for (size_t x = 0; x < width; x++, dst += 4, src += ch) {
            dst[0] = src[0];
            dst[1] = ch > 1 ? src[1] : 0.0f;
            dst[2] = ch > 2 ? src[2] : 0.0f;
            dst[3] = ch > 3 ? src[3] : 0.0f;
        }
    }
}

/* One input row to floats (r->lanes a pixel), premultiplied when needed. */
static void load_input_row(const resize_stage *r, const uint8_t *src)
{
    unsigned ch = r->channels;
    float *dst = r->in_row;
    size_t width = r->in_width;
    switch (ch) {
    case 1:
        for (size_t x = 0; x < width; x++)
            dst[x] = r->sixteen ? ((const uint16_t *)src)[x] : src[x];
        return;  /* gray has no alpha to premultiply by */
    case 2: widen_row(dst, src, width, r->sixteen, 2); break;
    case 3: widen_row(dst, src, width, r->sixteen, 3); break;
    default: widen_row(dst, src, width, r->sixteen, 4); break;
    }
    if (!r->premultiply)
        return;
    float inv_max = 1.0f / r->max_value;
    for (size_t x = 0; x < width; x++) {
        float *p = dst + x * 4;
        float a = p[ch - 1] * inv_max;
        for (unsigned c = 0; c + 1 < ch; c++)
            p[c] *= a;
    }
}

static void horizontal_pass_gray(const axis_filter *f, const float *in, float *out,
                                 uint32_t out_width)
{
    for (uint32_t x = 0; x < out_width; x++) {
        const float *w = f->weights + (size_t)x * f->max_taps;
        const float *p = in + f->start[x];
        uint32_t taps = f->count[x], t = 0;
        float s0 = 0, s1 = 0;  /* two chains: the adds need not wait for each other */
        for (; t + 1 < taps; t += 2) {
            s0 += w[t] * p[t];
            s1 += w[t + 1] * p[t + 1];
        }
        if (t < taps)
            s0 += w[t] * p[t];
        out[x] = s0 + s1;
    }
}

/* For a constant ch (see horizontal_pass): the store of ch lanes then compiles to moves,
 * not to a memcpy call per pixel. */
static inline __attribute__((always_inline)) void
horizontal_pass_vec(const axis_filter *f, const float *in, float *out, uint32_t out_width,
                    const unsigned ch)
{
    for (uint32_t x = 0; x < out_width; x++) {
        const float *w = f->weights + (size_t)x * f->max_taps;
        const float *p = in + (size_t)f->start[x] * 4;
        uint32_t taps = f->count[x], t = 0;
        v4f s0 = {0, 0, 0, 0}, s1 = {0, 0, 0, 0};
        for (; t + 1 < taps; t += 2) {
            s0 += w[t] * load_v4(p + 4 * t);
            s1 += w[t + 1] * load_v4(p + 4 * t + 4);
        }
        if (t < taps)
            s0 += w[t] * load_v4(p + 4 * t);
        s0 += s1;
        float *o = out + (size_t)x * ch;
        for (unsigned c = 0; c < ch; c++)
            o[c] = s0[c];
    }
}

static void horizontal_pass(const resize_stage *r, float *out)
{
    switch (r->channels) {
    case 1: horizontal_pass_gray(&r->h, r->in_row, out, r->out_width); break;
    case 2: horizontal_pass_vec(&r->h, r->in_row, out, r->out_width, 2); break;
    case 3: horizontal_pass_vec(&r->h, r->in_row, out, r->out_width, 3); break;
    default: horizontal_pass_vec(&r->h, r->in_row, out, r->out_width, 4); break;
    }
}

static float *ring_row(const resize_stage *r, uint32_t input_row)
{
    return r->ring + (size_t)(input_row % r->ring_rows) * r->out_width * r->channels;
}

/* acc = sum of the output row's taps over the ring, four floats at a time, each output
 * float written once. */
static void vertical_pass(resize_stage *r, uint32_t out_row)
{
    size_t n = (size_t)r->out_width * r->channels;
    const float *w = r->v.weights + (size_t)out_row * r->v.max_taps;
    uint32_t first = r->v.start[out_row], taps = r->v.count[out_row];
    const float **rows = r->tap_rows;
    for (uint32_t t = 0; t < taps; t++)
        rows[t] = ring_row(r, first + t);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        v4f a = w[0] * load_v4(rows[0] + i), b = w[0] * load_v4(rows[0] + i + 4);
        for (uint32_t t = 1; t < taps; t++) {
            a += w[t] * load_v4(rows[t] + i);
            b += w[t] * load_v4(rows[t] + i + 4);
        }
        store_v4(r->acc + i, a);
        store_v4(r->acc + i + 4, b);
    }
    for (; i < n; i++) {
        float a = 0;
        for (uint32_t t = 0; t < taps; t++)
            a += w[t] * rows[t][i];
        r->acc[i] = a;
    }
}

static float clampf(float v, float max)
{
    return v < 0.0f ? 0.0f : v > max ? max : v;
}

/* Unpremultiplies, clamps and rounds the accumulator into one output row. */
static void store_output_row(const resize_stage *r, uint8_t *dst)
{
    size_t n = (size_t)r->out_width * r->channels;
    float max = r->max_value;
    if (r->premultiply) {
        unsigned ch = r->channels;
        for (size_t x = 0; x < r->out_width; x++) {
            float *p = r->acc + x * ch;
            float a = p[ch - 1];
            float undo = a > 0.0f ? max / a : 0.0f;  /* alpha 0: the colour is meaningless */
            for (unsigned c = 0; c + 1 < ch; c++)
                p[c] *= undo;
        }
    }
    if (r->sixteen) {
        uint16_t *d = (uint16_t *)dst;
        for (size_t i = 0; i < n; i++)
            d[i] = (uint16_t)(clampf(r->acc[i], max) + 0.5f);
    } else {
        for (size_t i = 0; i < n; i++)
            dst[i] = (uint8_t)(clampf(r->acc[i], max) + 0.5f);
    }
}

/* The next input row from upstream, fetching a new strip when the current one is used up. */
static lp_status pull_input_row(resize_stage *r, const uint8_t **row, lp_error *err)
{
    if (r->up_used >= r->up.rows) {
        lp_status st = lp_stage_next(r->base.upstream, &r->up, err);
        if (st != LP_OK)
            return st;
        r->up_used = 0;
        if (r->up.rows == 0)
            return lp_error_set(err, LP_ERR_TRUNCATED, "resize: input ended at row %" PRIu32
                                " of %" PRIu32, r->loaded, r->in_height);
    }
    *row = r->up.data + (size_t)r->up_used++ * r->up.stride;
    return LP_OK;
}

static lp_status load_until(resize_stage *r, uint32_t rows, lp_error *err)
{
    while (r->loaded < rows) {
        const uint8_t *src = NULL;
        lp_status st = pull_input_row(r, &src, err);
        if (st != LP_OK)
            return st;
        load_input_row(r, src);
        horizontal_pass(r, ring_row(r, r->loaded));
        r->loaded++;
    }
    return LP_OK;
}

/* After the last output row: let upstream reach its end (a decoder checks its trailer
 * there, so a damaged file is still reported). */
static lp_status drain_upstream(resize_stage *r, lp_error *err)
{
    for (;;) {
        lp_strip s;
        lp_status st = lp_stage_next(r->base.upstream, &s, err);
        if (st != LP_OK || s.rows == 0)
            return st;
    }
}

static lp_status resize_next(lp_stage *self, lp_strip *strip, lp_error *err)
{
    resize_stage *r = (resize_stage *)self;
    if (r->pass_through)
        return lp_stage_next(self->upstream, strip, err);
    if (r->out_y >= r->out_height) {
        *strip = (lp_strip){NULL, r->out_stride, r->out_height, 0};
        return LP_OK;
    }
    uint32_t left = r->out_height - r->out_y;
    uint32_t rows = left < RESIZE_STRIP_ROWS ? left : RESIZE_STRIP_ROWS;
    for (uint32_t k = 0; k < rows; k++) {
        uint32_t i = r->out_y + k;
        uint32_t end = r->v.start[i] + r->v.count[i];
        r->need = end > r->need ? end : r->need;
        lp_status st = load_until(r, r->need, err);
        if (st != LP_OK)
            return st;
        vertical_pass(r, i);
        store_output_row(r, r->out + (size_t)k * r->out_stride);
    }
    *strip = (lp_strip){r->out, r->out_stride, r->out_y, rows};
    r->out_y += rows;
    if (r->out_y == r->out_height)
        return drain_upstream(r, err);
    return LP_OK;
}

static void resize_destroy(lp_stage *self)
{
    resize_stage *r = (resize_stage *)self;
    lp_mem *mem = self->mem;
    lp_mem_release(mem, r->h.block);
    lp_mem_release(mem, r->v.block);
    lp_mem_release(mem, r->in_row);
    lp_mem_release(mem, (void *)r->tap_rows);
    lp_mem_release(mem, r->acc);
    lp_mem_release(mem, r->ring);
    lp_mem_release(mem, r->out);
    free(r);
}

static const lp_stage_ops resize_ops = {
    .name = "resize",
    .next = resize_next,
    .destroy = resize_destroy,
};

static lp_status alloc_floats(float **p, lp_mem *mem, uint64_t count, const char *what,
                              lp_error *err)
{
    if (count > SIZE_MAX / sizeof(float))
        return lp_error_set(err, LP_ERR_LIMITS, "%s too large", what);
    *p = lp_mem_alloc(mem, (size_t)count * sizeof(float), what, err);
    return *p ? LP_OK : (err ? err->status : LP_ERR_NOMEM);
}

/* Tables, ring and buffers. */
static lp_status resize_setup(resize_stage *r, lp_kernel kernel, lp_error *err)
{
    lp_mem *mem = r->base.mem;
    lp_status st = axis_build(&r->h, r->in_width, r->out_width, kernel, mem, err);
    if (st == LP_OK)
        st = axis_build(&r->v, r->in_height, r->out_height, kernel, mem, err);
    if (st == LP_OK)
        st = ring_rows_needed(&r->v, r->out_height, &r->ring_rows, mem, err);
    if (st != LP_OK)
        return st;
    r->premultiply = r->alpha && (r->h.most_taps > 1 || r->v.most_taps > 1);
    uint64_t out_row = (uint64_t)r->out_width * r->channels;
    r->lanes = r->channels == 1 ? 1 : 4;
    st = alloc_floats(&r->in_row, mem, (uint64_t)r->in_width * r->lanes, "resize input row", err);
    if (st == LP_OK)
        st = alloc_floats(&r->acc, mem, out_row, "resize accumulator row", err);
    if (st == LP_OK)
        st = alloc_floats(&r->ring, mem, out_row * r->ring_rows, "resize ring", err);
    if (st == LP_OK) {
        r->tap_rows = lp_mem_alloc(mem, sizeof *r->tap_rows * r->v.max_taps, "resize taps", err);
        st = r->tap_rows ? LP_OK : (err ? err->status : LP_ERR_NOMEM);
    }
    if (st != LP_OK)
        return st;
    r->out = lp_mem_alloc(mem, r->out_stride * RESIZE_STRIP_ROWS, "resize strip", err);
    return r->out ? LP_OK : (err ? err->status : LP_ERR_NOMEM);
}

lp_status lp_resize_new(lp_stage **out, lp_stage *upstream, uint32_t width, uint32_t height,
                        lp_kernel kernel, lp_error *err)
{
    *out = NULL;
    if (!upstream)
        return lp_error_set(err, LP_ERR_INVALID_ARG, "resize needs an upstream stage");
    if ((unsigned)kernel > LP_KERNEL_NEAREST) {
        lp_stage_destroy(upstream);
        return lp_error_set(err, LP_ERR_INVALID_ARG, "unknown resize kernel %d", (int)kernel);
    }
    if (width == 0 || height == 0) {
        lp_stage_destroy(upstream);
        return lp_error_set(err, LP_ERR_INVALID_ARG, "cannot resize to %" PRIu32 "x%" PRIu32,
                            width, height);
    }
    lp_status st = lp_limits_check(NULL, width, height, err);  /* the default limits */
    if (st != LP_OK) {
        lp_stage_destroy(upstream);
        return st;
    }
    resize_stage *r = calloc(1, sizeof *r);
    if (!r) {
        lp_stage_destroy(upstream);
        return lp_error_set(err, LP_ERR_NOMEM, "cannot allocate a resize stage");
    }
    const lp_image_info *in = &upstream->info;
    r->base.ops = &resize_ops;
    r->base.info = *in;
    r->base.info.width = width;
    r->base.info.height = height;
    r->base.upstream = upstream;
    r->base.mem = upstream->mem;
    r->in_width = in->width;
    r->in_height = in->height;
    r->out_width = width;
    r->out_height = height;
    r->channels = lp_format_channels(in->format);
    r->sixteen = lp_format_sample_bytes(in->format) == 2;
    r->alpha = lp_format_has_alpha(in->format);
    r->max_value = r->sixteen ? 65535.0f : 255.0f;
    r->out_stride = (size_t)width * lp_format_pixel_bytes(in->format);
    r->pass_through = width == in->width && height == in->height;
    if (!r->pass_through && (st = resize_setup(r, kernel, err)) != LP_OK) {
        lp_stage_destroy(&r->base);
        return st;
    }
    *out = &r->base;
    return LP_OK;
}
