/*
 * avif_grid_save.c - the AVIF grid sink: memory that does not grow with the image.
 *
 * The image is cut into equal cells (the MIAF 'grid' derived item). Strips arrive top to
 * bottom; they are converted to YUV (libavif's converter, libyuv underneath: BT.601 full
 * range) into one cell-row buffer: cell-height rows of the full (padded) width. When a
 * cell-row is complete, its cells are AV1-encoded in parallel by opts->threads workers
 * (each cell its own libaom encoder), plus as many more as opts->lender lends for that
 * cell-row (a batch's idle workers), only the compressed cells are kept, and the buffer
 * is reused for the next cell-row. finish() pads and encodes the last, partial cell-row
 * and writes the HEIF container (heif_writer.c) in one pass.
 *
 * Padding: the last column and row of cells reach past the image; those pixels replicate
 * the edge (cheap to code, no ringing into the picture) and the grid's output size crops
 * them away. 4:2:0 chroma is computed on pairs of rows: when a strip ends on an odd row,
 * that row waits in a one-row carry buffer for its partner from the next strip.
 *
 * Images of odd width or height are written 4:4:4: MIAF requires even output sizes for
 * 4:2:0 grids and libavif enforces it.
 *
 * Memory (all counted in the job's lp_mem): the cell-row buffer (padded width x cell
 * height x 1.5 samples for 4:2:0, + 1 for alpha), one cell-row of fresh compressed cells,
 * the cell store (compressed cells in memory up to 8 MiB, then in an unlinked temp file:
 * cell_store.c), and an estimate of libaom's state for each encoder running (reserved
 * while it runs; under a tight budget fewer encoders run). Nothing grows with the image's
 * height but a 16-byte table entry per cell. See lp_avif_grid_predict_peak and
 * docs/avif-grid.md for the measured figures.
 */
#include "leanpix/codec.h"
#include "codec/aom_memory.h"
#include "codec/av1_cell_encoder.h"
#include "codec/av1_obu.h"
#include "codec/cell_store.h"
#include "codec/heif_writer.h"

#include <avif/avif.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_CELL 512u
#define MAX_CELLS_PER_SIDE 256u

typedef struct plane_set {
    uint8_t *p[4];  /* Y, U, V, A */
    size_t stride[4];
} plane_set;

typedef struct cell_slot {
    uint8_t *data;
    size_t size;
} cell_slot;

typedef struct grid_sink {
    lp_sink base;
    lp_output *output;
    lp_encode_options opts;

    /* geometry */
    uint32_t width, height, cell_w, cell_h, cols, rows;
    unsigned depth, bps;  /* bits per sample, bytes per sample */
    bool yuv444, alpha;
    lp_format format;
    int quantizer, speed;
    unsigned threads;

    /* the cell-row buffer and what is in it */
    uint8_t *rowbuf;
    plane_set planes;
    uint8_t *neutral_chroma;   /* for monochrome (alpha) cells */
    size_t neutral_stride;
    uint32_t row_y0;           /* image row of the cell-row's top */
    uint32_t rows_filled;      /* rows converted into it */
    uint32_t cell_row;         /* index of the cell-row being filled */
    uint8_t *carry;            /* two RGB rows: a waiting odd row + its partner */
    bool have_carry;

    /* compressed cells: the current cell-row's as the workers produced them, then all of
     * them in the store (memory, or a temp file past a threshold) */
    cell_slot *row_cells;  /* cols colour cells, then cols alpha cells */
    lp_cell_store store;
    lp_heif_extent *color, *alpha_cells;
    uint8_t color_av1c[4], alpha_av1c[4];

    /* metadata copied at begin (the source may be gone at finish) */
    uint8_t *icc, *exif, *xmp;
    size_t icc_size, exif_size, xmp_size;
    int orientation;
} grid_sink;

/* ---- public helpers ---- */

static uint32_t round_up(uint32_t v, uint32_t m)
{
    return (v + m - 1) / m * m;
}

static uint32_t div_up(uint32_t v, uint32_t d)
{
    return (v + d - 1) / d;
}

void lp_avif_grid_default_cell(uint32_t width, uint32_t height, uint32_t *cell_width,
                               uint32_t *cell_height)
{
    uint32_t cw = DEFAULT_CELL, ch = DEFAULT_CELL;
    /* Grow (in superblock steps) until a side has at most 256 cells and the whole grid,
     * with an alpha grid beside it, fits 16-bit item IDs. */
    while (div_up(width, cw) > MAX_CELLS_PER_SIDE ||
           (uint64_t)div_up(width, cw) * div_up(height, ch) * 2 + 4 > LP_HEIF_MAX_ITEMS)
        cw += 64;
    while (div_up(height, ch) > MAX_CELLS_PER_SIDE ||
           (uint64_t)div_up(width, cw) * div_up(height, ch) * 2 + 4 > LP_HEIF_MAX_ITEMS)
        ch += 64;
    /* A cell wider than the image only codes padding. */
    uint32_t fit_w = round_up(width < 64 ? 64 : width, 2), fit_h = round_up(height < 64 ? 64 : height, 2);
    *cell_width = cw < fit_w ? cw : fit_w;
    *cell_height = ch < fit_h ? ch : fit_h;
}

uint64_t lp_avif_grid_predict_peak(uint32_t width, uint32_t height, uint32_t cell_width,
                                   uint32_t cell_height, unsigned threads, lp_format format)
{
    if (cell_width == 0 || cell_height == 0)
        lp_avif_grid_default_cell(width, height, &cell_width, &cell_height);
    if (threads == 0)
        threads = 1;
    uint64_t cols = div_up(width, cell_width), rows = div_up(height, cell_height);
    bool alpha = lp_format_has_alpha(format);
    uint64_t bps = lp_format_sample_bytes(format);
    uint64_t cells_per_row = cols * (alpha ? 2 : 1);
    if (threads > cells_per_row)
        threads = (unsigned)cells_per_row;
    /* cell-row YUV (4:2:0) + alpha, padded width */
    uint64_t padded = cols * cell_width;
    uint64_t rowbuf = padded * cell_height * bps * 3 / 2 + (alpha ? padded * cell_height * bps : 0);
    /* libaom per running encoder */
    uint64_t cell_px = (uint64_t)cell_width * cell_height;
    uint64_t encoders = threads * (cell_px * LP_AOM_BYTES_PER_PIXEL * bps +
                                   LP_AOM_CELL_FIXED_BYTES);
    /* compressed output: at most about 0.25 byte per pixel on photos at the default
     * quality (0.21 on the 24 MP bench photo, 0.09 on the reference batch's), held in
     * memory up to the cell store's spill threshold (the store's block is counted within
     * 1 MiB of its bytes); plus one cell-row of fresh cells and the tables. The decoder's
     * strips are the source format's term (decode_bytes), not counted here: until
     * f587ed2 (2026-12-03) a 64-row RGBA strip was added here too, which put the
     * reference batch's 1088x896-cell plans 1.27x over their counted peaks. */
    uint64_t output = (uint64_t)width * height / 4 * (alpha ? 3 : 2) / 2;
    if (output > LP_CELL_STORE_SPILL_BYTES)
        output = LP_CELL_STORE_SPILL_BYTES;
    if (output < LP_CELL_STORE_FIRST_BLOCK)
        output = LP_CELL_STORE_FIRST_BLOCK;
    uint64_t row_cells = padded * cell_height / 4 * (alpha ? 2 : 1);
    uint64_t tables = rows * cols * (alpha ? 2 : 1) * 64;
    return rowbuf + encoders + output + row_cells + tables;
}

/* ---- the sink ---- */

static lp_format grid_accept(const lp_sink *self, lp_format offered)
{
    const grid_sink *s = (const grid_sink *)self;
    bool sixteen = s->opts.bit_depth == 10;
    return lp_format_make(false, lp_format_has_alpha(offered), sixteen);
}

static lp_status copy_meta(grid_sink *s, const uint8_t *src, size_t size, uint8_t **dst,
                           size_t *dst_size, lp_error *err)
{
    *dst = NULL;
    *dst_size = 0;
    if (!src || !size || s->opts.strip_metadata)
        return LP_OK;
    *dst = lp_mem_alloc(s->base.mem, size, "AVIF metadata", err);
    if (!*dst)
        return err ? err->status : LP_ERR_NOMEM;
    memcpy(*dst, src, size);
    *dst_size = size;
    return LP_OK;
}

static lp_status choose_cells(grid_sink *s, lp_error *err)
{
    uint32_t cw = s->opts.grid_cell_width, ch = s->opts.grid_cell_height;
    if (cw == 0 || ch == 0) {
        lp_avif_grid_default_cell(s->width, s->height, &cw, &ch);
    } else {
        if (cw < 64 || ch < 64)
            return lp_error_set(err, LP_ERR_INVALID_ARG, "grid cells must be at least 64x64, not %ux%u", cw, ch);
        if (!s->yuv444 && (cw % 2 || ch % 2))
            return lp_error_set(err, LP_ERR_INVALID_ARG, "grid cells must have even sizes for 4:2:0, not %ux%u", cw, ch);
        /* a cell larger than the image would only code padding */
        uint32_t fit_w = round_up(s->width < 64 ? 64 : s->width, 2);
        uint32_t fit_h = round_up(s->height < 64 ? 64 : s->height, 2);
        cw = cw < fit_w ? cw : fit_w;
        ch = ch < fit_h ? ch : fit_h;
    }
    if (!lp_av1_frame_fits_level6(cw, ch))
        return lp_error_set(err, LP_ERR_TOO_BIG, "grid cells of %ux%u exceed AV1 level 6", cw, ch);
    s->cell_w = cw;
    s->cell_h = ch;
    s->cols = div_up(s->width, cw);
    s->rows = div_up(s->height, ch);
    if (s->cols > MAX_CELLS_PER_SIDE || s->rows > MAX_CELLS_PER_SIDE)
        return lp_error_set(err, LP_ERR_TOO_BIG,
                            "%ux%u cells of %ux%u: a grid has at most 256 cells a side; use larger cells",
                            s->cols, s->rows, cw, ch);
    uint64_t items = (uint64_t)s->cols * s->rows * (s->alpha ? 2 : 1) + 4;
    if (items > LP_HEIF_MAX_ITEMS)
        return lp_error_set(err, LP_ERR_TOO_BIG, "%ux%u cells%s exceed the 65535 items of an AVIF file; use larger cells",
                            s->cols, s->rows, s->alpha ? " with alpha" : "");
    return LP_OK;
}

static lp_status alloc_buffers(grid_sink *s, lp_error *err)
{
    size_t padded = (size_t)s->cols * s->cell_w;
    size_t cw = s->yuv444 ? padded : padded / 2, ch = s->yuv444 ? s->cell_h : s->cell_h / 2;
    size_t sizes[4] = {padded * s->cell_h * s->bps, cw * ch * s->bps, cw * ch * s->bps,
                       s->alpha ? padded * s->cell_h * s->bps : 0};
    /* 4:2:0 chroma of one monochrome cell, rounded up for odd 4:4:4 cell sizes */
    size_t neutral = (size_t)((s->cell_w + 1) / 2) * ((s->cell_h + 1) / 2) * s->bps;
    size_t total = sizes[0] + sizes[1] + sizes[2] + sizes[3] + (s->alpha ? neutral : 0);
    s->rowbuf = lp_mem_alloc(s->base.mem, total, "AVIF grid cell-row buffer", err);
    if (!s->rowbuf)
        return err ? err->status : LP_ERR_NOMEM;
    s->base.held_bytes = total;
    uint8_t *p = s->rowbuf;
    for (int i = 0; i < 4; i++) {
        s->planes.p[i] = sizes[i] ? p : NULL;
        s->planes.stride[i] = (i == 0 || i == 3 ? padded : cw) * s->bps;
        p += sizes[i];
    }
    if (s->alpha) {
        s->neutral_chroma = p;
        s->neutral_stride = (size_t)((s->cell_w + 1) / 2) * s->bps;
        for (size_t i = 0; i < neutral / s->bps; i++) {
            if (s->bps == 2)
                ((uint16_t *)p)[i] = (uint16_t)(1u << (s->depth - 1));
            else
                p[i] = 128;
        }
    }
    size_t pixel = lp_format_pixel_bytes(s->format);
    s->carry = lp_mem_alloc(s->base.mem, (size_t)s->width * pixel * 2, "AVIF grid row carry", err);
    size_t cells = (size_t)s->cols * s->rows;
    s->color = lp_mem_calloc(s->base.mem, cells * sizeof *s->color, "AVIF grid cell table", err);
    if (s->alpha)
        s->alpha_cells = lp_mem_calloc(s->base.mem, cells * sizeof *s->alpha_cells, "AVIF grid cell table", err);
    s->row_cells = lp_mem_calloc(s->base.mem, 2 * (size_t)s->cols * sizeof *s->row_cells,
                                 "AVIF grid cell slots", err);
    if (!s->carry || !s->color || (s->alpha && !s->alpha_cells) || !s->row_cells)
        return err ? err->status : LP_ERR_NOMEM;
    return LP_OK;
}

static lp_status grid_begin(lp_sink *self, const lp_image_info *info, lp_error *err)
{
    grid_sink *s = (grid_sink *)self;
    if (grid_accept(self, info->format) != info->format)
        return lp_error_set(err, LP_ERR_INTERNAL, "the AVIF grid sink cannot take %s pixels",
                            lp_format_name(info->format));
    s->width = info->width;
    s->height = info->height;
    s->format = info->format;
    s->alpha = lp_format_has_alpha(info->format);
    s->bps = lp_format_sample_bytes(info->format);
    s->depth = s->bps == 2 ? 10 : 8;
    /* MIAF 7.3.11.4.2: a 4:2:0 grid must have an even output size, so odd-sized images are
     * written 4:4:4 (exact, decodable everywhere) rather than cropped or padded. */
    s->yuv444 = s->opts.chroma == LP_CHROMA_444 || (info->width % 2) || (info->height % 2);
    int quality = s->opts.quality < 0 ? LP_AVIF_DEFAULT_QUALITY : s->opts.quality > 100 ? 100 : s->opts.quality;
    s->quantizer = ((100 - quality) * 63 + 50) / 100;
    s->speed = s->opts.speed;
    s->threads = s->opts.threads ? s->opts.threads : 1;
    s->orientation = info->meta.orientation >= 1 && info->meta.orientation <= 8 ? info->meta.orientation : 1;
    lp_status st = choose_cells(s, err);
    if (st == LP_OK)
        st = alloc_buffers(s, err);
    if (st == LP_OK)
        st = copy_meta(s, info->meta.icc, info->meta.icc_size, &s->icc, &s->icc_size, err);
    if (st == LP_OK)
        /* The Exif item says its TIFF header is at offset 0: anything else is left out. */
        st = lp_exif_is_tiff(info->meta.exif, info->meta.exif_size)
                 ? copy_meta(s, info->meta.exif, info->meta.exif_size, &s->exif, &s->exif_size, err)
                 : LP_OK;
    if (st == LP_OK)
        st = copy_meta(s, info->meta.xmp, info->meta.xmp_size, &s->xmp, &s->xmp_size, err);
    return st;
}

/* ---- strips -> YUV ---- */

static void replicate_right(uint8_t *row, uint32_t from, uint32_t to, unsigned bps)
{
    if (from == 0 || from >= to)
        return;
    if (bps == 2) {
        uint16_t *r = (uint16_t *)row;
        for (uint32_t x = from; x < to; x++)
            r[x] = r[from - 1];
    } else {
        memset(row + from, row[from - 1], to - from);
    }
}

/* Replicates the last image column into the padding of rows [y, y + n) of each plane. */
static void pad_right(grid_sink *s, uint32_t y, uint32_t n)
{
    uint32_t padded = s->cols * s->cell_w;
    unsigned sx = s->yuv444 ? 0 : 1, sy = s->yuv444 ? 0 : 1;
    for (uint32_t r = y; r < y + n; r++) {
        replicate_right(s->planes.p[0] + r * s->planes.stride[0], s->width, padded, s->bps);
        if (s->alpha)
            replicate_right(s->planes.p[3] + r * s->planes.stride[3], s->width, padded, s->bps);
    }
    for (uint32_t r = y >> sy; r < (y + n + sy) >> sy; r++)
        for (int c = 1; c <= 2; c++)
            replicate_right(s->planes.p[c] + r * s->planes.stride[c], (s->width + sx) >> sx,
                            padded >> sx, s->bps);
}

/* Converts n RGB(A) rows into the cell-row buffer at local row y (even for 4:2:0 unless
 * it is the image's last row). */
static lp_status convert_rows(grid_sink *s, const uint8_t *rgb, size_t stride, uint32_t y,
                              uint32_t n, lp_error *err)
{
    unsigned sy = s->yuv444 ? 0 : 1;
    avifImage img;
    memset(&img, 0, sizeof img);
    img.width = s->width;
    img.height = n;
    img.depth = s->depth;
    img.yuvFormat = s->yuv444 ? AVIF_PIXEL_FORMAT_YUV444 : AVIF_PIXEL_FORMAT_YUV420;
    img.yuvRange = AVIF_RANGE_FULL;
    img.colorPrimaries = AVIF_COLOR_PRIMARIES_BT709;
    img.transferCharacteristics = AVIF_TRANSFER_CHARACTERISTICS_SRGB;
    img.matrixCoefficients = AVIF_MATRIX_COEFFICIENTS_BT601;
    for (int c = 0; c < 3; c++) {
        uint32_t row = c == 0 ? y : y >> sy;
        img.yuvPlanes[c] = s->planes.p[c] + row * s->planes.stride[c];
        img.yuvRowBytes[c] = (uint32_t)s->planes.stride[c];
    }
    if (s->alpha) {
        img.alphaPlane = s->planes.p[3] + y * s->planes.stride[3];
        img.alphaRowBytes = (uint32_t)s->planes.stride[3];
    }
    avifRGBImage view;
    avifRGBImageSetDefaults(&view, &img);
    view.depth = s->bps * 8;
    view.format = s->alpha ? AVIF_RGB_FORMAT_RGBA : AVIF_RGB_FORMAT_RGB;
    view.pixels = (uint8_t *)rgb;
    view.rowBytes = (uint32_t)stride;
    avifResult r = avifImageRGBToYUV(&img, &view);
    if (r != AVIF_RESULT_OK)
        return lp_error_set(err, LP_ERR_CODEC, "RGB to YUV conversion failed: %s", avifResultToString(r));
    pad_right(s, y, n);
    return LP_OK;
}

/* Replicates the last filled rows down to the cell height. */
static void pad_bottom(grid_sink *s)
{
    unsigned sy = s->yuv444 ? 0 : 1;
    uint32_t filled = s->rows_filled;
    for (int c = 0; c < 4; c++) {
        if (!s->planes.p[c])
            continue;
        uint32_t shift = (c == 1 || c == 2) ? sy : 0;
        uint32_t have = (filled + shift) >> shift, want = s->cell_h >> shift;
        size_t stride = s->planes.stride[c];
        for (uint32_t r = have; r < want; r++)
            memcpy(s->planes.p[c] + r * stride, s->planes.p[c] + (have - 1) * stride, stride);
    }
}

/* ---- encoding a cell-row ---- */

typedef struct row_job {
    grid_sink *s;
    _Atomic unsigned next;
    unsigned count;        /* cols, or 2 * cols with alpha */
    _Atomic int failed;
    lp_error first_error;  /* the first failure, under error_lock */
    pthread_mutex_t error_lock;
} row_job;

static lp_status encode_one(grid_sink *s, unsigned job, lp_error *err)
{
    bool alpha = job >= s->cols;
    uint32_t cx = alpha ? job - s->cols : job;
    lp_av1_cell_params params = {
        .width = s->cell_w, .height = s->cell_h, .bit_depth = s->depth, .yuv444 = s->yuv444,
        .monochrome = alpha, .quantizer = s->quantizer, .speed = s->speed,
    };
    lp_av1_planes pl;
    unsigned sx = s->yuv444 ? 0 : 1;
    if (alpha) {
        pl.plane[0] = s->planes.p[3] + (size_t)cx * s->cell_w * s->bps;
        pl.stride[0] = s->planes.stride[3];
        pl.plane[1] = pl.plane[2] = s->neutral_chroma;
        pl.stride[1] = pl.stride[2] = s->neutral_stride;
        params.yuv444 = false;
    } else {
        for (int c = 0; c < 3; c++) {
            size_t x = c == 0 ? (size_t)cx * s->cell_w : ((size_t)cx * s->cell_w) >> sx;
            pl.plane[c] = s->planes.p[c] + x * s->bps;
            pl.stride[c] = s->planes.stride[c];
        }
    }
    cell_slot *slot = &s->row_cells[job];
    return lp_av1_encode_cell(&params, &pl, s->base.mem, &slot->data, &slot->size, err);
}

static void *row_worker(void *arg)
{
    row_job *job = arg;
    for (;;) {
        unsigned i = atomic_fetch_add(&job->next, 1);
        if (i >= job->count || atomic_load(&job->failed))
            break;
        lp_error err = {0};
        if (encode_one(job->s, i, &err) != LP_OK) {
            pthread_mutex_lock(&job->error_lock);
            if (!atomic_exchange(&job->failed, 1))
                job->first_error = err;
            pthread_mutex_unlock(&job->error_lock);
            break;
        }
    }
    return NULL;
}

static lp_status run_workers(row_job *job, unsigned threads, lp_error *err)
{
    pthread_t tids[64];
    unsigned started = 0;
    for (unsigned t = 1; t < threads && t < 64; t++) {
        if (pthread_create(&tids[started], NULL, row_worker, job) != 0)
            break;  /* fewer threads is still correct */
        started++;
    }
    row_worker(job);  /* this thread works too */
    for (unsigned t = 0; t < started; t++)
        pthread_join(tids[t], NULL);
    if (atomic_load(&job->failed)) {
        lp_error_set(err, job->first_error.status, "%s", job->first_error.message);
        return job->first_error.status;
    }
    return LP_OK;
}

static uint64_t encoder_bytes(const grid_sink *s)
{
    return (uint64_t)s->cell_w * s->cell_h * LP_AOM_BYTES_PER_PIXEL * s->bps +
           LP_AOM_CELL_FIXED_BYTES;
}

/* Idle CPUs lent for this cell-row (a batch's idle workers: lp_cpu_lender), at most
 * `want`; the lender holds their encoders' bytes in its own count, not the job's. */
static unsigned borrow_cpus(grid_sink *s, unsigned want)
{
    const lp_cpu_lender *lender = s->opts.lender;
    if (!lender || !want)
        return 0;
    return lender->borrow(lender->ctx, want, encoder_bytes(s));
}

static void give_back_cpus(grid_sink *s, unsigned lent)
{
    if (lent)
        s->opts.lender->give_back(s->opts.lender->ctx, lent, encoder_bytes(s));
}

static void release_row_cells(grid_sink *s)
{
    for (size_t i = 0; i < 2 * (size_t)s->cols; i++) {
        lp_mem_release(s->base.mem, s->row_cells[i].data);
        s->row_cells[i].data = NULL;
        s->row_cells[i].size = 0;
    }
}

/* Moves the cell-row's compressed cells into the store, noting where each one lies. */
static lp_status store_row_cells(grid_sink *s, lp_error *err)
{
    for (unsigned i = 0; i < s->cols * (s->alpha ? 2u : 1u); i++) {
        bool alpha = i >= s->cols;
        lp_heif_extent *e = (alpha ? s->alpha_cells : s->color) + (size_t)s->cell_row * s->cols +
                            (alpha ? i - s->cols : i);
        if (s->row_cells[i].size > UINT32_MAX)
            return lp_error_set(err, LP_ERR_TOO_BIG, "a compressed cell is over 4 GiB");
        lp_status st = lp_cell_store_append(&s->store, s->row_cells[i].data, s->row_cells[i].size,
                                            &e->offset, err);
        if (st != LP_OK)
            return st;
        e->size = (uint32_t)s->row_cells[i].size;
    }
    return LP_OK;
}

static lp_status encode_cell_row(grid_sink *s, lp_error *err)
{
    pad_bottom(s);
    row_job job;
    memset(&job, 0, sizeof job);
    job.s = s;
    job.count = s->cols * (s->alpha ? 2 : 1);
    atomic_init(&job.next, 0);
    atomic_init(&job.failed, 0);
    pthread_mutex_init(&job.error_lock, NULL);
    /* Under a tight budget, run fewer encoders at once rather than fail: only when not
     * even one fits is the job refused. */
    unsigned threads = s->threads < job.count ? s->threads : job.count;
    lp_status st;
    while ((st = lp_mem_reserve(s->base.mem, threads * encoder_bytes(s), "libaom encoders (estimate)",
                                threads > 1 ? NULL : err)) != LP_OK && threads > 1)
        threads--;
    if (st == LP_OK) {
        unsigned lent = borrow_cpus(s, job.count - threads);
        st = run_workers(&job, threads + lent, err);
        lp_mem_unreserve(s->base.mem, threads * encoder_bytes(s));
        give_back_cpus(s, lent);
    }
    pthread_mutex_destroy(&job.error_lock);
    if (st == LP_OK && s->cell_row == 0) {
        st = lp_av1_config_record(s->row_cells[0].data, s->row_cells[0].size, s->color_av1c, err);
        if (st == LP_OK && s->alpha)
            st = lp_av1_config_record(s->row_cells[s->cols].data, s->row_cells[s->cols].size,
                                      s->alpha_av1c, err);
    }
    if (st == LP_OK)
        st = store_row_cells(s, err);
    release_row_cells(s);
    if (st != LP_OK)
        return st;
    s->cell_row++;
    s->row_y0 += s->cell_h;
    s->rows_filled = 0;
    return LP_OK;
}

/* Feeds rows [y, y + n) of the image, all inside the current cell-row. */
static lp_status feed_rows(grid_sink *s, const uint8_t *data, size_t stride, uint32_t n, lp_error *err)
{
    size_t row_bytes = (size_t)s->width * lp_format_pixel_bytes(s->format);
    lp_status st = LP_OK;
    if (s->yuv444) {
        st = convert_rows(s, data, stride, s->rows_filled, n, err);
        s->rows_filled += n;
        return st;
    }
    if (s->have_carry && n > 0) {  /* complete the pair */
        memcpy(s->carry + row_bytes, data, row_bytes);
        st = convert_rows(s, s->carry, row_bytes, s->rows_filled - 1, 2, err);
        s->have_carry = false;
        s->rows_filled += 1;
        data += stride;
        n -= 1;
    }
    uint32_t pairs = n & ~1u;
    if (st == LP_OK && pairs)
        st = convert_rows(s, data, stride, s->rows_filled, pairs, err);
    s->rows_filled += pairs;
    if (st == LP_OK && (n & 1)) {
        const uint8_t *last = data + (size_t)pairs * stride;
        if (s->row_y0 + s->rows_filled + 1 == s->height) {  /* the image's last row */
            st = convert_rows(s, last, stride, s->rows_filled, 1, err);
        } else {
            memcpy(s->carry, last, row_bytes);
            s->have_carry = true;
        }
        s->rows_filled += 1;
    }
    return st;
}

static lp_status grid_write(lp_sink *self, const lp_strip *strip, lp_error *err)
{
    grid_sink *s = (grid_sink *)self;
    const uint8_t *data = strip->data;
    uint32_t left = strip->rows;
    while (left > 0) {
        uint32_t room = s->cell_h - s->rows_filled;
        uint32_t n = left < room ? left : room;
        lp_status st = feed_rows(s, data, strip->stride, n, err);
        if (st != LP_OK)
            return st;
        data += (size_t)n * strip->stride;
        left -= n;
        if (s->rows_filled == s->cell_h || s->row_y0 + s->rows_filled == s->height) {
            st = encode_cell_row(s, err);
            if (st != LP_OK)
                return st;
        }
    }
    return LP_OK;
}

static lp_status write_store(void *user, lp_output *out, lp_error *err)
{
    grid_sink *s = user;
    return lp_cell_store_write_to(&s->store, out, s->base.mem, err);
}

static lp_status grid_finish(lp_sink *self, lp_error *err)
{
    grid_sink *s = (grid_sink *)self;
    if (s->cell_row != s->rows)
        return lp_error_set(err, LP_ERR_INTERNAL, "the AVIF grid got %u of %u cell-rows",
                            s->cell_row, s->rows);
    /* The pixels are no longer needed: give the cell-row buffer back before writing
     * (held_bytes keeps its size for the job statistics). */
    lp_mem_release(self->mem, s->rowbuf);
    s->rowbuf = NULL;
    lp_heif_grid g = {
        .width = s->width, .height = s->height, .cell_width = s->cell_w, .cell_height = s->cell_h,
        .columns = s->cols, .rows = s->rows, .bit_depth = s->depth, .yuv444 = s->yuv444,
        .color = s->color, .alpha = s->alpha ? s->alpha_cells : NULL,
        .body_size = s->store.size, .write_body = write_store, .body_user = s,
        .color_primaries = 1, .transfer = 13, .matrix = 6, .full_range = true,
        .icc = s->icc, .icc_size = s->icc_size, .exif = s->exif, .exif_size = s->exif_size,
        .xmp = s->xmp, .xmp_size = s->xmp_size, .orientation = s->orientation,
    };
    memcpy(g.color_av1c, s->color_av1c, 4);
    memcpy(g.alpha_av1c, s->alpha_av1c, 4);
    return lp_heif_write_grid(s->output, &g, self->mem, err);
}

static void grid_destroy(lp_sink *self)
{
    grid_sink *s = (grid_sink *)self;
    lp_mem *mem = self->mem;
    if (s->row_cells)
        release_row_cells(s);
    lp_mem_release(mem, s->row_cells);
    lp_mem_release(mem, s->color);
    lp_mem_release(mem, s->alpha_cells);
    lp_cell_store_release(&s->store);
    lp_mem_release(mem, s->rowbuf);
    lp_mem_release(mem, s->carry);
    lp_mem_release(mem, s->icc);
    lp_mem_release(mem, s->exif);
    lp_mem_release(mem, s->xmp);
    free(s);
}

static const lp_sink_ops grid_sink_ops = {
    .name = "avif-grid",
    .accept = grid_accept,
    .begin = grid_begin,
    .write = grid_write,
    .finish = grid_finish,
    .destroy = grid_destroy,
};

lp_status lp_avif_grid_sink_new(lp_sink **out, lp_output *output, const lp_encode_options *opts,
                                lp_mem *mem, lp_error *err)
{
    *out = NULL;
    if (opts->bit_depth != 0 && opts->bit_depth != 8 && opts->bit_depth != 10)
        return lp_error_set(err, LP_ERR_INVALID_ARG, "AVIF bit depth must be 8 or 10, not %u", opts->bit_depth);
    grid_sink *s = calloc(1, sizeof *s);
    if (!s)
        return lp_error_set(err, LP_ERR_NOMEM, "cannot allocate the AVIF grid sink");
    s->base.ops = &grid_sink_ops;
    s->base.mem = mem;
    s->output = output;
    s->opts = *opts;
    lp_cell_store_init(&s->store, mem,
                       opts->grid_spill_bytes ? opts->grid_spill_bytes : LP_CELL_STORE_SPILL_BYTES,
                       opts->temp_dir);
    *out = &s->base;
    return LP_OK;
}
