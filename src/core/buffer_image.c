/*
 * buffer_image.c - whole images in memory as pipeline ends: a buffer source and a buffer sink.
 *
 * These exist for the places that really want a whole image (a template the server draws
 * on, test fixtures); the buffer is allocated from the job's lp_mem, so holding a whole
 * image is always visible in the accounting. The source hands out pointers into the
 * buffer (no copy).
 */
#include "leanpix/pipeline.h"

#include <stdlib.h>
#include <string.h>

lp_status lp_buffer_image_alloc(lp_buffer_image *img, uint32_t width, uint32_t height,
                                lp_format format, lp_mem *mem, lp_error *err)
{
    memset(img, 0, sizeof *img);
    size_t stride = (size_t)width * lp_format_pixel_bytes(format);
    if (width == 0 || height == 0 || stride / width != lp_format_pixel_bytes(format) ||
        (size_t)height > SIZE_MAX / stride)
        return lp_error_set(err, LP_ERR_INVALID_ARG, "bad image size %ux%u", width, height);
    img->pixels = lp_mem_alloc(mem, stride * height, "image buffer", err);
    if (!img->pixels)
        return err ? err->status : LP_ERR_NOMEM;
    img->info.width = width;
    img->info.height = height;
    img->info.format = format;
    img->info.meta.orientation = 1;
    img->info.source_bit_depth = lp_format_sample_bytes(format) * 8;
    img->stride = stride;
    img->mem = mem;
    return LP_OK;
}

void lp_buffer_image_free(lp_buffer_image *img)
{
    if (!img)
        return;
    lp_mem_release(img->mem, img->pixels);
    img->pixels = NULL;
}

typedef struct buffer_source {
    lp_stage base;
    const lp_buffer_image *img;
    uint32_t strip_rows;
    uint32_t y;
} buffer_source;

static lp_status buffer_source_next(lp_stage *self, lp_strip *strip, lp_error *err)
{
    (void)err;
    buffer_source *s = (buffer_source *)self;
    uint32_t left = s->img->info.height - s->y;
    strip->rows = left < s->strip_rows ? left : s->strip_rows;
    strip->y = s->y;
    strip->stride = s->img->stride;
    strip->data = s->img->pixels + (size_t)s->y * s->img->stride;
    s->y += strip->rows;
    return LP_OK;
}

static void buffer_source_destroy(lp_stage *self)
{
    free(self);
}

static const lp_stage_ops buffer_source_ops = {
    .name = "buffer",
    .next = buffer_source_next,
    .destroy = buffer_source_destroy,
};

lp_status lp_buffer_source_new(lp_stage **out, const lp_buffer_image *img, uint32_t strip_rows,
                               lp_error *err)
{
    buffer_source *s = calloc(1, sizeof *s);
    if (!s)
        return lp_error_set(err, LP_ERR_NOMEM, "cannot allocate a buffer source");
    s->base.ops = &buffer_source_ops;
    s->base.info = img->info;
    s->img = img;
    s->strip_rows = strip_rows ? strip_rows : 16;
    *out = &s->base;
    return LP_OK;
}

typedef struct buffer_sink {
    lp_sink base;
    lp_buffer_image *img;
} buffer_sink;

static lp_status buffer_sink_begin(lp_sink *self, const lp_image_info *info, lp_error *err)
{
    buffer_sink *s = (buffer_sink *)self;
    lp_status st = lp_buffer_image_alloc(s->img, info->width, info->height, info->format,
                                         self->mem, err);
    if (st == LP_OK) {
        s->img->info = *info;  /* metadata pointers stay owned by the source */
        self->held_bytes = s->img->stride * info->height;
    }
    return st;
}

static lp_status buffer_sink_write(lp_sink *self, const lp_strip *strip, lp_error *err)
{
    (void)err;
    buffer_sink *s = (buffer_sink *)self;
    size_t row_bytes = s->img->stride;
    for (uint32_t r = 0; r < strip->rows; r++)
        memcpy(s->img->pixels + (size_t)(strip->y + r) * s->img->stride,
               strip->data + (size_t)r * strip->stride, row_bytes);
    return LP_OK;
}

static lp_status buffer_sink_finish(lp_sink *self, lp_error *err)
{
    (void)self;
    (void)err;
    return LP_OK;
}

static void buffer_sink_destroy(lp_sink *self)
{
    free(self);
}

static const lp_sink_ops buffer_sink_ops = {
    .name = "buffer",
    .begin = buffer_sink_begin,
    .write = buffer_sink_write,
    .finish = buffer_sink_finish,
    .destroy = buffer_sink_destroy,
};

lp_status lp_buffer_sink_new(lp_sink **out, lp_buffer_image *img, lp_mem *mem, lp_error *err)
{
    buffer_sink *s = calloc(1, sizeof *s);
    if (!s)
        return lp_error_set(err, LP_ERR_NOMEM, "cannot allocate a buffer sink");
    memset(img, 0, sizeof *img);
    s->base.ops = &buffer_sink_ops;
    s->base.mem = mem;
    s->base.whole_image = true;
    s->img = img;
    *out = &s->base;
    return LP_OK;
}

lp_status lp_pipeline_to_buffer(lp_stage *last, lp_buffer_image *img, lp_mem *mem, lp_error *err)
{
    lp_sink *sink = NULL;  /* set when lp_buffer_sink_new succeeds; GCC cannot see it */
    lp_status st = lp_buffer_sink_new(&sink, img, mem, err);
    if (st != LP_OK)
        return st;
    st = lp_pipeline_run(last, sink, NULL, NULL, err);
    lp_sink_destroy(sink);
    if (st != LP_OK)
        lp_buffer_image_free(img);
    return st;
}
