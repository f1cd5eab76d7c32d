/*
 * leanpix/pipeline.h - the pull pipeline of strips: source -> ops -> sink.
 *
 * A stage yields the image top to bottom as strips: a few rows at a time, in the format
 * stated in its info. The sink pulls from the last stage; each stage pulls from its
 * upstream only as much as it needs for its next strip. So the memory of a pipeline is a
 * few strips per stage, not the image, unless a stage really needs the whole image (an
 * interlaced PNG, a 90-degree rotation, a single-frame AV1 encoder). Such a stage says so
 * (whole_image = true) and its big buffer is counted in held_bytes and in the job's lp_mem.
 *
 * Ownership: a stage owns its upstream (destroying the last stage destroys the chain),
 * and strip data belongs to the stage that produced it, valid until its next call.
 *
 * To write a stage: embed lp_stage as the first member of your struct, fill ops and info,
 * and implement next(). A source (no upstream) may implement shrink() to decode smaller
 * (JPEG DCT scaling) by the factor the planner asks for, before the first next().
 */
#ifndef LEANPIX_PIPELINE_H
#define LEANPIX_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "leanpix/image.h"
#include "leanpix/mem.h"
#include "leanpix/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lp_strip {
    const uint8_t *data;  /* first row of the strip */
    size_t stride;        /* bytes from one row to the next */
    uint32_t y;           /* index of the first row in the image */
    uint32_t rows;        /* rows in this strip; 0 means the image is complete */
} lp_strip;

typedef struct lp_stage lp_stage;

typedef struct lp_stage_ops {
    const char *name;
    /* Yields the next strip in *strip (rows = 0 after the last row). */
    lp_status (*next)(lp_stage *self, lp_strip *strip, lp_error *err);
    /* Optional, sources only, before the first next(): decode smaller by factor, the one
     * the planner chose from the format descriptor's shrink_factor (JPEG DCT scaling:
     * 2, 4 or 8). Updates self->info; returns the factor applied (1 when it cannot). */
    uint32_t (*shrink)(lp_stage *self, uint32_t factor);
    /* Frees the stage's own resources (not upstream: lp_stage_destroy does that). */
    void (*destroy)(lp_stage *self);
} lp_stage_ops;

struct lp_stage {
    const lp_stage_ops *ops;
    lp_image_info info;   /* what this stage yields */
    lp_stage *upstream;   /* NULL for a source; owned */
    lp_mem *mem;          /* where its buffers are counted (may be NULL) */
    size_t held_bytes;    /* bytes held beyond strip buffers (whole-image buffers); keeps its
                             value after they are freed, so job statistics can report it */
    bool whole_image;     /* true if it must hold the whole image */
};

lp_status lp_stage_next(lp_stage *stage, lp_strip *strip, lp_error *err);
uint32_t lp_stage_shrink(lp_stage *source, uint32_t factor);
/* Destroys stage and everything upstream of it. NULL is fine. */
void lp_stage_destroy(lp_stage *stage);
/* The first stage of the chain (the source). */
lp_stage *lp_stage_source(lp_stage *stage);
/* "jpeg-load -> resize -> convert" into buf. */
void lp_stage_describe(const lp_stage *stage, char *buf, size_t size);

typedef struct lp_sink lp_sink;

typedef struct lp_sink_ops {
    const char *name;
    /* Of the pixel formats, which one it wants when offered `offered` (the pipeline
     * inserts a conversion when the answer differs). */
    lp_format (*accept)(const lp_sink *self, lp_format offered);
    lp_status (*begin)(lp_sink *self, const lp_image_info *info, lp_error *err);
    lp_status (*write)(lp_sink *self, const lp_strip *strip, lp_error *err);
    /* Flushes everything to the output; the caller then commits the output. */
    lp_status (*finish)(lp_sink *self, lp_error *err);
    void (*destroy)(lp_sink *self);
} lp_sink_ops;

struct lp_sink {
    const lp_sink_ops *ops;
    lp_mem *mem;
    size_t held_bytes;   /* bytes held beyond a strip (e.g. a whole-frame YUV buffer) */
    bool whole_image;
};

lp_format lp_sink_accept(const lp_sink *sink, lp_format offered);
void lp_sink_destroy(lp_sink *sink);

/* Optional progress callback: rows delivered so far out of the total. Returning false
 * cancels the job (LP_ERR_CANCELLED). */
typedef bool (*lp_progress_fn)(void *user, uint32_t rows_done, uint32_t rows_total);

/* Pulls every strip from last and hands it to sink: begin, write..., finish.
 * Inserts nothing: the caller built a chain whose format the sink accepts. */
lp_status lp_pipeline_run(lp_stage *last, lp_sink *sink, lp_progress_fn progress,
                          void *progress_user, lp_error *err);

/* ---- images in memory (src/pipeline/memory.c) ---- */

/* A whole image held in one buffer, for tests, templates and compositing. */
typedef struct lp_buffer_image {
    lp_image_info info;
    uint8_t *pixels;   /* rows of info.width * pixel bytes, stride apart */
    size_t stride;
    lp_mem *mem;       /* pixels were allocated from mem */
} lp_buffer_image;

lp_status lp_buffer_image_alloc(lp_buffer_image *img, uint32_t width, uint32_t height,
                                lp_format format, lp_mem *mem, lp_error *err);
void lp_buffer_image_free(lp_buffer_image *img);

/* A source that yields img in strips of strip_rows (0 = 16). img must outlive it; its
 * metadata pointers are passed through. */
lp_status lp_buffer_source_new(lp_stage **out, const lp_buffer_image *img, uint32_t strip_rows,
                               lp_error *err);
/* A sink that collects the image into *img (allocated at begin from mem). */
lp_status lp_buffer_sink_new(lp_sink **out, lp_buffer_image *img, lp_mem *mem, lp_error *err);

/* Runs the chain into a buffer image: decode a whole image when one is really wanted. */
lp_status lp_pipeline_to_buffer(lp_stage *last, lp_buffer_image *img, lp_mem *mem, lp_error *err);

#ifdef __cplusplus
}
#endif
#endif
