/*
 * leanpix/codec.h - decoders (sources) and encoders (sinks), one file per format and
 * direction under src/codec/.
 *
 * Sources read only the header when created: dimensions are checked against lp_limits
 * before any pixel buffer is allocated, and info (size, format, metadata) is available
 * at once so that the caller can plan (shrink-on-load, memory prediction) before the
 * first strip is decoded. A source takes ownership of its lp_input.
 *
 * Sinks write to an lp_output they do not own; the caller commits the output after
 * lp_pipeline_run() succeeded, so a failed job never leaves a file under its final name.
 */
#ifndef LEANPIX_CODEC_H
#define LEANPIX_CODEC_H

#include <stdbool.h>
#include <stdint.h>
#include "leanpix/export.h"
#include "leanpix/image.h"
#include "leanpix/io.h"
#include "leanpix/mem.h"
#include "leanpix/pipeline.h"
#include "leanpix/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- decoders ---- */

/* Sniffs the input's magic bytes and opens the matching source (JPEG or PNG). */
LP_API lp_status lp_source_open(lp_stage **out, lp_input *in, const lp_limits *limits, lp_mem *mem,
                                lp_error *err);
LP_API lp_status lp_jpeg_source_new(lp_stage **out, lp_input *in, const lp_limits *limits,
                                    lp_mem *mem, lp_error *err);
LP_API lp_status lp_png_source_new(lp_stage **out, lp_input *in, const lp_limits *limits,
                                   lp_mem *mem, lp_error *err);
LP_API lp_status lp_webp_source_new(lp_stage **out, lp_input *in, const lp_limits *limits,
                                    lp_mem *mem, lp_error *err);
LP_API lp_status lp_tiff_source_new(lp_stage **out, lp_input *in, const lp_limits *limits,
                                    lp_mem *mem, lp_error *err);
/* HEIC/HEIF through libheif (src/codec/heif_load.c): the primary image, decoded whole
 * (counted), pixels as displayed (irot/imir/clap applied), meta.orientation 1. */
LP_API lp_status lp_heif_source_new(lp_stage **out, lp_input *in, const lp_limits *limits,
                                    lp_mem *mem, lp_error *err);
/* AVIF through libavif + dav1d (src/codec/avif_load.c): the primary image's YUV held by
 * the decoder (counted), converted to RGB strip by strip, pixels as displayed. */
LP_API lp_status lp_avif_source_new(lp_stage **out, lp_input *in, const lp_limits *limits,
                                    lp_mem *mem, lp_error *err);

/* ---- encoders ---- */

typedef enum lp_chroma {
    LP_CHROMA_DEFAULT = 0,  /* 4:2:0 for JPEG/AVIF/WebP */
    LP_CHROMA_420,
    LP_CHROMA_444
} lp_chroma;

typedef enum lp_grid_mode {
    LP_GRID_AUTO = 0,  /* a grid when one frame would be too big for AV1 level 6 or the budget */
    LP_GRID_OFF,       /* always one frame; fail with LP_ERR_TOO_BIG when over level 6 */
    LP_GRID_FIXED      /* cells of grid_cell_width x grid_cell_height */
} lp_grid_mode;

/* Defaults, defined once: the encoders, the planner's memory model and the CLI's help
 * read these. */
#define LP_JPEG_DEFAULT_QUALITY 85
#define LP_WEBP_DEFAULT_QUALITY 80
#define LP_AVIF_DEFAULT_QUALITY 60
#define LP_AVIF_DEFAULT_SPEED 6

/* CPUs that a job may borrow for a while beside its own threads: a batch lends the CPUs of
 * its idle workers (and the budget they would use) to the running jobs, which encode more
 * AVIF grid cells at once with them (src/batch/scheduler.c). borrow() never waits: it
 * returns how many of `want` CPUs it lends now, each with bytes_each of the budget, which
 * the lender reserves in its own count (the job's own counted peak stays its plan's); the
 * borrower returns them with give_back() as soon as it is done with them. */
typedef struct lp_cpu_lender {
    unsigned (*borrow)(void *ctx, unsigned want, uint64_t bytes_each);
    void (*give_back)(void *ctx, unsigned count, uint64_t bytes_each);
    void *ctx;
} lp_cpu_lender;

typedef struct lp_encode_options {
    lp_file_format format;
    int quality;          /* 0..100; -1 = the format's default (LP_*_DEFAULT_QUALITY) */
    int speed;            /* AVIF: 0..10, default LP_AVIF_DEFAULT_SPEED; WebP: method 0..6 = 6 - speed/2 */
    lp_chroma chroma;
    unsigned bit_depth;   /* AVIF: 8 (default) or 10; PNG: 8 or 16 (0 = as the input) */
    bool progressive;     /* JPEG */
    bool lossless;        /* WebP */
    int png_level;        /* zlib level 0..9, -1 default (6) */
    bool strip_metadata;  /* drop ICC/EXIF/XMP */
    unsigned threads;     /* encoder threads; 0 = 1 (the planner chooses: lp_plan_job) */
    lp_grid_mode grid;    /* AVIF */
    uint32_t grid_cell_width, grid_cell_height;
    uint64_t grid_spill_bytes; /* AVIF grid: compressed cells past this many bytes move from
                                  memory to a temp file (0 = the default, 8 MiB) */
    const char *temp_dir;      /* where that temp file is made (NULL = /var/tmp); the CLI
                                  passes $TMPDIR */
    const lp_cpu_lender *lender; /* optional: idle CPUs to borrow (AVIF grid cells) */
} lp_encode_options;

LP_API void lp_encode_options_default(lp_encode_options *opts, lp_file_format format);

/* Dispatches on opts->format. */
LP_API lp_status lp_sink_new(lp_sink **out, lp_output *output, const lp_encode_options *opts,
                             lp_mem *mem, lp_error *err);
LP_API lp_status lp_jpeg_sink_new(lp_sink **out, lp_output *output, const lp_encode_options *opts,
                                  lp_mem *mem, lp_error *err);
LP_API lp_status lp_png_sink_new(lp_sink **out, lp_output *output, const lp_encode_options *opts,
                                 lp_mem *mem, lp_error *err);
/* The checks the PNG and AVIF encoders make of their options (depth, level, speed),
 * callable before anything is opened (the planner does). */
LP_API lp_status lp_png_check_options(const lp_encode_options *opts, lp_error *err);
LP_API lp_status lp_avif_check_options(const lp_encode_options *opts, lp_error *err);
LP_API lp_status lp_webp_sink_new(lp_sink **out, lp_output *output, const lp_encode_options *opts,
                                  lp_mem *mem, lp_error *err);
LP_API lp_status lp_avif_sink_new(lp_sink **out, lp_output *output, const lp_encode_options *opts,
                                  lp_mem *mem, lp_error *err);

/* AV1 level 6 single-frame limits (width, height, pixels): beyond them Debian 12's
 * libaom 3.6.0 writes frames that dav1d cannot decode. */
#define LP_AV1_MAX_FRAME_WIDTH 16384u
#define LP_AV1_MAX_FRAME_HEIGHT 8704u
#define LP_AV1_MAX_FRAME_PIXELS 35651584ull
LP_API bool lp_av1_frame_fits_level6(uint32_t width, uint32_t height);

/* ---- AVIF grids (src/codec/avif_grid_save.c) ---- */

/* Writes an AVIF grid while the image streams in: one cell-row of strips is converted to
 * YUV, its cells are AV1-encoded (in parallel with opts->threads), only the compressed
 * cells are kept, and the HEIF container is written at finish. Cell size from
 * opts->grid_cell_width/height, or the default when 0. */
LP_API lp_status lp_avif_grid_sink_new(lp_sink **out, lp_output *output,
                                       const lp_encode_options *opts, lp_mem *mem, lp_error *err);
/* The default cell size for an image (multiples of 64, at most 256x256 cells). */
LP_API void lp_avif_grid_default_cell(uint32_t width, uint32_t height, uint32_t *cell_width,
                                      uint32_t *cell_height);
/* Predicted peak bytes of a grid job (pixels + encoders + compressed output), from the
 * header alone; the batch scheduler admits jobs by it. */
LP_API uint64_t lp_avif_grid_predict_peak(uint32_t width, uint32_t height, uint32_t cell_width,
                                          uint32_t cell_height, unsigned threads, lp_format format);

#ifdef __cplusplus
}
#endif
#endif
