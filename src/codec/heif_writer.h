/*
 * heif_writer.h - private: the HEIF/MIAF container of an AVIF grid image.
 *
 * The caller has every compressed cell already (in a cell store: memory or a temp file)
 * and describes where each one lies in that "body"; lp_heif_write_grid() builds the meta
 * box in one counted buffer and writes ftyp, meta, then mdat = the body (through the
 * caller's callback) followed by the small items (grid descriptions, Exif, XMP), front
 * to back, without seeking.
 */
#ifndef LP_HEIF_WRITER_H
#define LP_HEIF_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "leanpix/io.h"
#include "leanpix/mem.h"
#include "leanpix/status.h"

/* Where a cell lies in the body. */
typedef struct lp_heif_extent {
    uint64_t offset;
    uint32_t size;
} lp_heif_extent;

typedef struct lp_heif_grid {
    uint32_t width, height;            /* output size (the grid crops its cells to it) */
    uint32_t cell_width, cell_height;
    uint32_t columns, rows;            /* 1..256 each */
    unsigned bit_depth;                /* 8 or 10 */
    bool yuv444;
    const lp_heif_extent *color;       /* columns * rows AV1 cells, raster order */
    uint8_t color_av1c[4];
    const lp_heif_extent *alpha;       /* NULL, or columns * rows monochrome cells */
    uint8_t alpha_av1c[4];
    uint64_t body_size;                /* bytes of all cells */
    lp_status (*write_body)(void *user, lp_output *out, lp_error *err);
    void *body_user;
    /* nclx colour description of the cells */
    uint16_t color_primaries, transfer, matrix;
    bool full_range;
    const uint8_t *icc; size_t icc_size;
    const uint8_t *exif; size_t exif_size;  /* TIFF stream, without "Exif\0\0" */
    const uint8_t *xmp; size_t xmp_size;
    int orientation;                   /* EXIF 1..8, written as irot/imir */
} lp_heif_grid;

/* The most items one file can hold with 16-bit item IDs (and 16-bit reference counts). */
#define LP_HEIF_MAX_ITEMS 65535u

lp_status lp_heif_write_grid(lp_output *out, const lp_heif_grid *grid, lp_mem *mem, lp_error *err);

#endif
