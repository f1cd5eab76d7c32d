/*
 * leanpix/ops.h - operations on strips, one file per operation under src/ops/.
 *
 * Each constructor takes ownership of upstream (also on failure: it is destroyed then),
 * so a chain is built as `s = op_new(s, ...)` and destroyed once from its last stage.
 */
#ifndef LEANPIX_OPS_H
#define LEANPIX_OPS_H

#include <stdint.h>
#include "leanpix/pipeline.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Converts between pixel formats: gray <-> RGB (Rec.601 luma), add/drop alpha (dropping
 * composites over white), 8 <-> 16 bit (x257 / rounding). Strip in, strip out. */
lp_status lp_convert_format_new(lp_stage **out, lp_stage *upstream, lp_format to,
                                lp_error *err);
/* The same, compositing dropped alpha over background (8-bit R, G, B) instead of white. */
lp_status lp_convert_format_over(lp_stage **out, lp_stage *upstream, lp_format to,
                                 const uint8_t background[3], lp_error *err);

typedef enum lp_kernel {
    LP_KERNEL_LANCZOS3 = 0,
    LP_KERNEL_LANCZOS2,
    LP_KERNEL_CUBIC,    /* Catmull-Rom */
    LP_KERNEL_LINEAR,
    LP_KERNEL_NEAREST
} lp_kernel;

lp_kernel lp_kernel_from_name(const char *name, bool *ok);

/* Resamples to width x height with a separable filter, strip by strip: a ring of
 * horizontally resampled rows as tall as the vertical filter's support. */
lp_status lp_resize_new(lp_stage **out, lp_stage *upstream, uint32_t width, uint32_t height,
                        lp_kernel kernel, lp_error *err);

/* Applies an EXIF orientation (1..8) to the pixels and sets info.meta.orientation = 1.
 * Orientation 2 (mirror) works on strips; the others hold the whole image (counted). */
lp_status lp_orient_new(lp_stage **out, lp_stage *upstream, int orientation, lp_error *err);

#ifdef __cplusplus
}
#endif
#endif
