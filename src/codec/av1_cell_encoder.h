/*
 * av1_cell_encoder.h - private: one still AV1 frame from YUV planes (libaom, all-intra), and
 * the av1C configuration record read back from the frame's sequence header.
 *
 * Used by the AVIF grid writer (avif_grid_save.c); the planes are views into its cell-row
 * buffer, so encoding a cell copies no pixels. The compressed frame is allocated from the
 * job's lp_mem; libaom's own state is not (the caller reserves an estimate, see
 * aom_memory.h).
 */
#ifndef LP_AV1_CELL_ENCODER_H
#define LP_AV1_CELL_ENCODER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "leanpix/mem.h"
#include "leanpix/status.h"

typedef struct lp_av1_cell_params {
    uint32_t width, height;  /* the cell (even sizes for 4:2:0) */
    unsigned bit_depth;      /* 8 or 10 */
    bool yuv444;             /* else 4:2:0 */
    bool monochrome;         /* alpha cells: luma only */
    int quantizer;           /* 0 (lossless) .. 63 */
    int speed;               /* libaom cpu-used, clamped to 0..9 */
} lp_av1_cell_params;

/* Plane views (Y, U, V); samples are uint16_t when bit_depth > 8. U and V are read even
 * for monochrome cells (libaom may touch them), so point them at a neutral plane. */
typedef struct lp_av1_planes {
    const uint8_t *plane[3];
    size_t stride[3];  /* bytes */
} lp_av1_planes;

/* Encodes one frame; *out (allocated from mem, release with lp_mem_release) holds the
 * sequence header and frame OBUs, temporal delimiters dropped, as an AVIF item wants. */
lp_status lp_av1_encode_cell(const lp_av1_cell_params *params, const lp_av1_planes *planes,
                             lp_mem *mem, uint8_t **out, size_t *out_size, lp_error *err);

#endif
