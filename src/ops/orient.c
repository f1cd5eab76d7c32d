/*
 * orient.c - applies an EXIF orientation (1..8) to the pixels, so that the output is
 * upright and says orientation 1.
 *
 * Every orientation is one affine map from output to input coordinates. Output row y
 * starts at some input pixel and walks the input with a constant byte step (+-1 pixel
 * along a row, or +-1 row along a column), so one copy loop serves all eight cases:
 *   1 identity          (x, y)     -> (x, y)           pass-through, nothing copied
 *   2 mirror left-right (x, y)     -> (W-1-x, y)       strip by strip
 *   3 rotate 180        (x, y)     -> (W-1-x, H-1-y)
 *   4 mirror top-bottom (x, y)     -> (x, H-1-y)
 *   5 transpose         (x, y)     -> (y, x)
 *   6 rotate 90 CW      (x, y)     -> (y, H-1-x)       EXIF 6: row 0 is the visual right
 *   7 transverse        (x, y)     -> (W-1-y, H-1-x)
 *   8 rotate 90 CCW     (x, y)     -> (W-1-y, x)       EXIF 8: row 0 is the visual left
 * (W x H is the input; for 5..8 the output is H x W.)
 *
 * Memory: orientation 2 keeps one output strip. 3..8 need input rows from the bottom or
 * columns before the first output row can be written, so at the first next() they pull
 * the whole image into one buffer counted in upstream->mem (held_bytes, whole_image),
 * then yield strips of 64 rows from a strip buffer (64 rather than 16: a transposing
 * strip then reads whole cache lines of each input row; the frame dwarfs the strip). held_bytes states that frame from
 * construction on (so a planner sees it before any pixel), and the frame is released as
 * soon as the last strip has been copied out. The rewritten EXIF block (orientation
 * reset to 1) is owned by the stage and freed with it; it is small (at most 64 KiB in
 * JPEG) and comes from libexif's malloc, so it is not counted.
 */
#include "leanpix/ops.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define ORIENT_STRIP_ROWS 64u

typedef struct orient_stage {
    lp_stage base;
    int orientation;
    uint32_t in_width, in_height;
    size_t pixel_bytes;
    uint8_t *whole;       /* 3..8: the whole input image */
    size_t whole_stride;
    uint8_t *out;         /* output strip */
    size_t out_stride;
    uint32_t out_rows;    /* capacity of out, in rows */
    uint32_t next_y;      /* next output row */
    uint8_t *exif;        /* rewritten EXIF (malloc'd by libexif glue) */
} orient_stage;

/* Where output row y starts in an input of in_stride bytes a row, and the byte step from
 * one output pixel to the next. */
static void row_walk(const orient_stage *o, size_t in_stride, uint32_t y, size_t *start,
                     ptrdiff_t *step)
{
    size_t pb = o->pixel_bytes;
    size_t w1 = o->in_width - 1, h1 = o->in_height - 1;
    ptrdiff_t right = (ptrdiff_t)pb, down = (ptrdiff_t)in_stride;
    switch (o->orientation) {
    case 2: *start = w1 * pb; *step = -right; break;  /* y is the strip row here */
    case 3: *start = (h1 - y) * in_stride + w1 * pb; *step = -right; break;
    case 4: *start = (h1 - y) * in_stride; *step = right; break;
    case 5: *start = (size_t)y * pb; *step = down; break;
    case 6: *start = h1 * in_stride + (size_t)y * pb; *step = -down; break;
    case 7: *start = h1 * in_stride + (w1 - y) * pb; *step = -down; break;
    case 8: *start = (w1 - y) * pb; *step = down; break;
    default: *start = (size_t)y * in_stride; *step = right; break;
    }
}

static void copy_walk(uint8_t *dst, const uint8_t *src, ptrdiff_t step, uint32_t count,
                      size_t pb)
{
    switch (pb) {  /* constant sizes let the compiler turn memcpy into one move */
    case 1: for (uint32_t i = 0; i < count; i++, src += step) dst[i] = *src; break;
    case 2: for (uint32_t i = 0; i < count; i++, src += step) memcpy(dst + 2 * i, src, 2); break;
    case 3: for (uint32_t i = 0; i < count; i++, src += step) memcpy(dst + 3 * i, src, 3); break;
    case 4: for (uint32_t i = 0; i < count; i++, src += step) memcpy(dst + 4 * i, src, 4); break;
    case 6: for (uint32_t i = 0; i < count; i++, src += step) memcpy(dst + 6 * i, src, 6); break;
    default: for (uint32_t i = 0; i < count; i++, src += step) memcpy(dst + 8 * i, src, 8); break;
    }
}

/* count pixels from src (step bytes apart) to dst (dst_stride bytes apart). */
static void copy_walk_strided(uint8_t *dst, size_t dst_stride, const uint8_t *src,
                              ptrdiff_t step, uint32_t count, size_t pb)
{
    switch (pb) {
    case 1: for (uint32_t i = 0; i < count; i++, src += step, dst += dst_stride) *dst = *src; break;
    case 3: for (uint32_t i = 0; i < count; i++, src += step, dst += dst_stride) memcpy(dst, src, 3); break;
    case 4: for (uint32_t i = 0; i < count; i++, src += step, dst += dst_stride) memcpy(dst, src, 4); break;
    default: for (uint32_t i = 0; i < count; i++, src += step, dst += dst_stride) memcpy(dst, src, pb); break;
    }
}

static lp_status ensure_out_rows(orient_stage *o, uint32_t rows, lp_error *err)
{
    if (rows <= o->out_rows)
        return LP_OK;
    uint8_t *grown = lp_mem_realloc(o->base.mem, o->out, o->out_stride * rows,
                                    "orientation strip", err);
    if (!grown)
        return err ? err->status : LP_ERR_NOMEM;
    o->out = grown;
    o->out_rows = rows;
    return LP_OK;
}

/* Orientation 2: each upstream strip mirrored into the strip buffer. */
static lp_status mirror_next(orient_stage *o, lp_strip *strip, lp_error *err)
{
    lp_strip in;
    lp_status st = lp_stage_next(o->base.upstream, &in, err);
    if (st != LP_OK || in.rows == 0) {
        *strip = in;
        return st;
    }
    if ((st = ensure_out_rows(o, in.rows, err)) != LP_OK)
        return st;
    for (uint32_t r = 0; r < in.rows; r++) {
        size_t start;
        ptrdiff_t step;
        row_walk(o, in.stride, r, &start, &step);
        copy_walk(o->out + (size_t)r * o->out_stride, in.data + (size_t)r * in.stride + start,
                  step, o->in_width, o->pixel_bytes);
    }
    *strip = (lp_strip){o->out, o->out_stride, in.y, in.rows};
    return LP_OK;
}

/* 3..8: the first call pulls every upstream strip into the whole-image buffer. */
static lp_status gather_whole(orient_stage *o, lp_error *err)
{
    size_t stride = (size_t)o->in_width * o->pixel_bytes;
    o->whole = lp_mem_alloc(o->base.mem, stride * o->in_height, "orientation image buffer", err);
    if (!o->whole)
        return err ? err->status : LP_ERR_NOMEM;
    o->whole_stride = stride;
    uint32_t y = 0;
    for (;;) {
        lp_strip in;
        lp_status st = lp_stage_next(o->base.upstream, &in, err);
        if (st != LP_OK)
            return st;
        if (in.rows == 0)
            break;
        if (in.y != y || in.rows > o->in_height - y)
            return lp_error_set(err, LP_ERR_INTERNAL, "orient: upstream yielded rows %" PRIu32
                                "..%" PRIu32 ", expected from %" PRIu32, in.y, in.y + in.rows, y);
        for (uint32_t r = 0; r < in.rows; r++)
            memcpy(o->whole + (size_t)(y + r) * stride, in.data + (size_t)r * in.stride, stride);
        y += in.rows;
    }
    if (y != o->in_height)
        return lp_error_set(err, LP_ERR_TRUNCATED, "orient: image ended at row %" PRIu32
                            " of %" PRIu32, y, o->in_height);
    return ensure_out_rows(o, ORIENT_STRIP_ROWS, err);
}

/* 5..8: output rows walk input columns. Walking them one output row at a time would
 * touch a cache line per input row for every output pixel; instead, for each output
 * column the strip's rows are filled together, and those pixels lie side by side in one
 * input row (24 MP RGB8, orientation 6: 99 -> 60 ms CPU; 8: 92 -> 79 ms). */
static void transposed_strip(orient_stage *o, uint32_t rows, uint32_t width)
{
    size_t start[ORIENT_STRIP_ROWS];
    ptrdiff_t step = 0;
    for (uint32_t r = 0; r < rows; r++)
        row_walk(o, o->whole_stride, o->next_y + r, &start[r], &step);
    size_t pb = o->pixel_bytes;
    ptrdiff_t along = rows > 1 ? (ptrdiff_t)(start[1] - start[0]) : (ptrdiff_t)pb;
    const uint8_t *first = o->whole + start[0];
    for (uint32_t x = 0; x < width; x++) {
        const uint8_t *src = first + (ptrdiff_t)x * step;
        uint8_t *dst = o->out + (size_t)x * pb;
        copy_walk_strided(dst, o->out_stride, src, along, rows, pb);
    }
}

static lp_status whole_next(orient_stage *o, lp_strip *strip, lp_error *err)
{
    uint32_t height = o->base.info.height, width = o->base.info.width;
    if (o->next_y >= height) {
        *strip = (lp_strip){NULL, o->out_stride, height, 0};
        return LP_OK;
    }
    if (!o->whole) {
        lp_status st = gather_whole(o, err);
        if (st != LP_OK) {  /* never yield from a half-filled frame */
            lp_mem_release(o->base.mem, o->whole);
            o->whole = NULL;
            return st;
        }
    }
    uint32_t rows = height - o->next_y < ORIENT_STRIP_ROWS ? height - o->next_y : ORIENT_STRIP_ROWS;
    if (o->orientation >= 5)
        transposed_strip(o, rows, width);
    else
        for (uint32_t r = 0; r < rows; r++) {
            size_t start;
            ptrdiff_t step;
            row_walk(o, o->whole_stride, o->next_y + r, &start, &step);
            copy_walk(o->out + (size_t)r * o->out_stride, o->whole + start, step, width,
                      o->pixel_bytes);
        }
    *strip = (lp_strip){o->out, o->out_stride, o->next_y, rows};
    o->next_y += rows;
    if (o->next_y == height) {  /* the last strip is in o->out: give the frame back early */
        lp_mem_release(o->base.mem, o->whole);
        o->whole = NULL;
    }
    return LP_OK;
}

static lp_status orient_next(lp_stage *self, lp_strip *strip, lp_error *err)
{
    orient_stage *o = (orient_stage *)self;
    if (o->orientation == 1)
        return lp_stage_next(self->upstream, strip, err);
    if (o->orientation == 2)
        return mirror_next(o, strip, err);
    return whole_next(o, strip, err);
}

static void orient_destroy(lp_stage *self)
{
    orient_stage *o = (orient_stage *)self;
    lp_mem_release(self->mem, o->whole);
    lp_mem_release(self->mem, o->out);
    free(o->exif);
    free(o);
}

static const lp_stage_ops orient_ops = {
    .name = "orient",
    .next = orient_next,
    .destroy = orient_destroy,
};

/* The output's EXIF must agree with its pixels: orientation 1. */
static void reset_exif(orient_stage *o)
{
    lp_metadata *meta = &o->base.info.meta;
    meta->orientation = 1;
    if (!meta->exif || lp_exif_orientation(meta->exif, meta->exif_size) == 1)
        return;
    size_t size = 0;
    uint8_t *rewritten = lp_exif_reset_orientation(meta->exif, meta->exif_size, &size);
    if (rewritten) {
        o->exif = rewritten;
        meta->exif = rewritten;
        meta->exif_size = size;
    }
}

lp_status lp_orient_new(lp_stage **out, lp_stage *upstream, int orientation, lp_error *err)
{
    *out = NULL;
    if (!upstream)
        return lp_error_set(err, LP_ERR_INVALID_ARG, "orientation needs an upstream stage");
    if (orientation < 1 || orientation > 8) {
        lp_stage_destroy(upstream);
        return lp_error_set(err, LP_ERR_INVALID_ARG, "EXIF orientation %d is not in 1..8",
                            orientation);
    }
    const lp_image_info *in = &upstream->info;
    size_t pb = lp_format_pixel_bytes(in->format);
    if (in->width == 0 || in->height == 0 ||
        (uint64_t)in->width * in->height > SIZE_MAX / 2 / pb) {
        lp_stage_destroy(upstream);
        return lp_error_set(err, LP_ERR_LIMITS, "cannot orient a %" PRIu32 "x%" PRIu32 " image",
                            in->width, in->height);
    }
    orient_stage *o = calloc(1, sizeof *o);
    if (!o) {
        lp_stage_destroy(upstream);
        return lp_error_set(err, LP_ERR_NOMEM, "cannot allocate an orientation stage");
    }
    o->base.ops = &orient_ops;
    o->base.info = *in;
    o->base.upstream = upstream;
    o->base.mem = upstream->mem;
    o->base.whole_image = orientation >= 3;
    o->orientation = orientation;
    o->in_width = in->width;
    o->in_height = in->height;
    o->pixel_bytes = pb;
    if (orientation >= 5) {
        o->base.info.width = in->height;
        o->base.info.height = in->width;
    }
    o->out_stride = (size_t)o->base.info.width * pb;
    /* stated up front so that a planner sees the cost before the first pixel */
    if (orientation >= 3)
        o->base.held_bytes = (size_t)in->width * in->height * pb;
    reset_exif(o);
    *out = &o->base;
    return LP_OK;
}
