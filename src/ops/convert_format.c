/*
 * convert_format.c - converts strips between the eight lp_formats (gray/RGB, with or
 * without alpha, 8 or 16 bits a sample).
 *
 * Every row goes through one small pipeline of integer steps, so that the 64 format pairs
 * share one code path and one set of rounding rules:
 *   1. load: samples are widened to the working depth (16 bits when either side is
 *      16-bit, x * 257 being exact; otherwise 8 bits) into a row of 4 slots a pixel
 *      (colour in 0..2, alpha in 3, alpha = opaque when the input has none);
 *   2. colour: gray is replicated to RGB; RGB becomes gray by Rec.601 luma
 *      (0.299 R + 0.587 G + 0.114 B in 16.16 fixed point, rounded);
 *   3. alpha: dropping alpha composites over the background (white unless given),
 *      v = (v*a + bg*(max - a)) / max,
 *      rounded; adding alpha makes the pixel opaque;
 *   4. store: narrowed to the output depth, 16 -> 8 bits as (x*255 + 32767) / 65535.
 * Luma is computed before compositing: both are affine and the luma weights sum to one,
 * so the order changes nothing but rounding, and this order does one composite instead
 * of three.
 *
 * Memory: one row of working samples (width * 4 * 2 bytes) and an output strip buffer as
 * tall as the tallest upstream strip seen, both counted in upstream->mem. Nothing else is
 * held. When the formats are equal the stage passes upstream strips through untouched.
 */
#include "leanpix/leanpix.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

typedef struct convert_stage {
    lp_stage base;
    lp_format from, to;
    uint32_t work_max;     /* 255 or 65535: the working depth */
    uint16_t background[3];  /* at the working depth; gray outputs use [0] = its luma */
    uint16_t *work;        /* one row, 4 slots a pixel */
    uint8_t *out;          /* output strip */
    size_t out_stride;
    uint32_t out_rows;     /* capacity of out, in rows */
} convert_stage;

/* The row steps below are written for constant depths (always_inline + a literal at the
 * call) so that the per-sample depth tests and the divisions by 255 / 65535 compile to
 * straight-line code and multiplications. */
#define LP_INLINE static inline __attribute__((always_inline))

LP_INLINE void load_row_as(const convert_stage *c, const uint8_t *src, uint32_t width,
                           const bool sixteen, const bool widen)
{
    unsigned ch = lp_format_channels(c->from);
    bool alpha = lp_format_has_alpha(c->from);
    unsigned colour = alpha ? ch - 1 : ch;
    const uint16_t *s16 = (const uint16_t *)src;
    uint16_t opaque = (uint16_t)c->work_max;
    for (uint32_t x = 0; x < width; x++) {
        uint16_t *w = c->work + (size_t)x * 4;
        size_t base = (size_t)x * ch;
        for (unsigned k = 0; k < ch; k++) {
            uint32_t v = sixteen ? s16[base + k] : src[base + k];
            w[k < colour ? k : 3] = (uint16_t)(widen ? v * 257u : v);
        }
        if (!alpha)
            w[3] = opaque;
    }
}

/* Step 1: input row -> working row (colour in slots 0..2, alpha in slot 3). */
static void load_row(const convert_stage *c, const uint8_t *src, uint32_t width)
{
    if (lp_format_sample_bytes(c->from) == 2)
        load_row_as(c, src, width, true, false);
    else if (c->work_max == 65535)
        load_row_as(c, src, width, false, true);
    else
        load_row_as(c, src, width, false, false);
}

/* Step 2: gray <-> RGB in the working row. */
static void convert_colour(const convert_stage *c, uint32_t width)
{
    bool gray_in = lp_format_is_gray(c->from), gray_out = lp_format_is_gray(c->to);
    if (gray_in == gray_out)
        return;
    for (uint32_t x = 0; x < width; x++) {
        uint16_t *w = c->work + (size_t)x * 4;
        if (gray_in) {
            w[1] = w[2] = w[0];
        } else {
            /* 19595 + 38470 + 7471 = 65536: weights of 0.299, 0.587, 0.114 */
            uint64_t y = 19595ull * w[0] + 38470ull * w[1] + 7471ull * w[2] + 32768u;
            w[0] = (uint16_t)(y >> 16);
        }
    }
}

LP_INLINE void composite_over(uint16_t *work, uint32_t width, unsigned colour,
                              const uint16_t *bg, const uint32_t max)
{
    for (uint32_t x = 0; x < width; x++) {
        uint16_t *w = work + (size_t)x * 4;
        uint32_t a = w[3];
        if (a == max)
            continue;
        for (unsigned k = 0; k < colour; k++) {
            /* at most 65535 * 65535 + 65535 * 65535 + 32767: needs 64 bits for 16-bit */
            uint64_t v = (uint64_t)w[k] * a + (uint64_t)bg[k] * (max - a) + max / 2;
            w[k] = (uint16_t)(v / max);
        }
    }
}

/* Step 3: dropping alpha composites over the background; adding it was done by load_row. */
static void convert_alpha(const convert_stage *c, uint32_t width)
{
    if (!lp_format_has_alpha(c->from) || lp_format_has_alpha(c->to))
        return;
    unsigned colour = lp_format_is_gray(c->to) ? 1 : 3;
    if (c->work_max == 255)
        composite_over(c->work, width, colour, c->background, 255);
    else
        composite_over(c->work, width, colour, c->background, 65535);
}

LP_INLINE void store_row_as(const convert_stage *c, uint8_t *dst, uint32_t width,
                            const bool sixteen, const bool narrow)
{
    unsigned ch = lp_format_channels(c->to);
    bool alpha = lp_format_has_alpha(c->to);
    unsigned colour = alpha ? ch - 1 : ch;
    uint16_t *d16 = (uint16_t *)dst;
    for (uint32_t x = 0; x < width; x++) {
        const uint16_t *w = c->work + (size_t)x * 4;
        size_t base = (size_t)x * ch;
        for (unsigned k = 0; k < ch; k++) {
            uint32_t v = w[k < colour ? k : 3];
            if (sixteen)
                d16[base + k] = (uint16_t)v;
            else
                dst[base + k] = (uint8_t)(narrow ? (v * 255u + 32767u) / 65535u : v);
        }
    }
}

/* Step 4: working row -> output row at the output depth. */
static void store_row(const convert_stage *c, uint8_t *dst, uint32_t width)
{
    if (lp_format_sample_bytes(c->to) == 2)
        store_row_as(c, dst, width, true, false);
    else if (c->work_max == 65535)
        store_row_as(c, dst, width, false, true);
    else
        store_row_as(c, dst, width, false, false);
}

static lp_status ensure_out_rows(convert_stage *c, uint32_t rows, lp_error *err)
{
    if (rows <= c->out_rows)
        return LP_OK;
    uint8_t *grown = lp_mem_realloc(c->base.mem, c->out, c->out_stride * rows,
                                    "format conversion strip", err);
    if (!grown)
        return err ? err->status : LP_ERR_NOMEM;
    c->out = grown;
    c->out_rows = rows;
    return LP_OK;
}

static lp_status convert_next(lp_stage *self, lp_strip *strip, lp_error *err)
{
    convert_stage *c = (convert_stage *)self;
    lp_strip in;
    lp_status st = lp_stage_next(self->upstream, &in, err);
    if (st != LP_OK || in.rows == 0 || c->from == c->to) {
        *strip = in;
        return st;
    }
    st = ensure_out_rows(c, in.rows, err);
    if (st != LP_OK)
        return st;
    uint32_t width = self->info.width;
    for (uint32_t r = 0; r < in.rows; r++) {
        load_row(c, in.data + (size_t)r * in.stride, width);
        convert_colour(c, width);
        convert_alpha(c, width);
        store_row(c, c->out + (size_t)r * c->out_stride, width);
    }
    strip->data = c->out;
    strip->stride = c->out_stride;
    strip->y = in.y;
    strip->rows = in.rows;
    return LP_OK;
}

static void convert_destroy(lp_stage *self)
{
    convert_stage *c = (convert_stage *)self;
    lp_mem_release(self->mem, c->work);
    lp_mem_release(self->mem, c->out);
    free(c);
}

static const lp_stage_ops convert_ops = {
    .name = "convert",
    .next = convert_next,
    .destroy = convert_destroy,
};

lp_status lp_convert_format_new(lp_stage **out, lp_stage *upstream, lp_format to, lp_error *err)
{
    static const uint8_t white[3] = {255, 255, 255};
    return lp_convert_format_over(out, upstream, to, white, err);
}

/* The background at the working depth, as the colour step leaves the row: gray outputs
 * get its Rec.601 luma with the weights of convert_colour. */
static void set_background(convert_stage *c, const uint8_t rgb[3])
{
    unsigned scale = c->work_max == 65535 ? 257u : 1u;
    for (int k = 0; k < 3; k++)
        c->background[k] = (uint16_t)(rgb[k] * scale);
    if (lp_format_is_gray(c->to)) {
        uint64_t y = 19595ull * c->background[0] + 38470ull * c->background[1] +
                     7471ull * c->background[2] + 32768u;
        c->background[0] = (uint16_t)(y >> 16);
    }
}

lp_status lp_convert_format_over(lp_stage **out, lp_stage *upstream, lp_format to,
                                 const uint8_t background[3], lp_error *err)
{
    *out = NULL;
    if (!upstream)
        return lp_error_set(err, LP_ERR_INVALID_ARG, "format conversion needs an upstream stage");
    lp_format from = upstream->info.format;
    if ((unsigned)to >= LP_FORMAT_COUNT || (unsigned)from >= LP_FORMAT_COUNT) {
        lp_stage_destroy(upstream);
        return lp_error_set(err, LP_ERR_INVALID_ARG, "unknown pixel format %d", (int)to);
    }
    convert_stage *c = calloc(1, sizeof *c);
    if (!c) {
        lp_stage_destroy(upstream);
        return lp_error_set(err, LP_ERR_NOMEM, "cannot allocate a format conversion stage");
    }
    c->base.ops = &convert_ops;
    c->base.info = upstream->info;
    c->base.info.format = to;
    c->base.upstream = upstream;
    c->base.mem = upstream->mem;
    c->from = from;
    c->to = to;
    bool sixteen = lp_format_sample_bytes(from) == 2 || lp_format_sample_bytes(to) == 2;
    c->work_max = sixteen ? 65535 : 255;
    set_background(c, background);
    uint32_t width = upstream->info.width;
    c->out_stride = (size_t)width * lp_format_pixel_bytes(to);
    if (from != to) {
        c->work = lp_mem_alloc(c->base.mem, (size_t)width * 4 * sizeof(uint16_t),
                               "format conversion row", err);
        if (!c->work) {
            lp_stage_destroy(&c->base);
            return err ? err->status : LP_ERR_NOMEM;
        }
    }
    *out = &c->base;
    return LP_OK;
}
