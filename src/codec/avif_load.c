/*
 * avif_load.c - the AVIF source: libavif (with dav1d) behind an lp_stage.
 *
 * Why libavif and not libheif, which reads AVIF too: libavif is already what our AVIF
 * encoder links, its decoder takes our limits directly (imageSizeLimit is handed on to
 * dav1d, imageDimensionLimit), it decodes with dav1d on one thread when asked
 * (maxThreads), and it leaves the decoded YUV frame to the caller, so the RGB conversion
 * can be done strip by strip instead of into a whole RGB frame as libheif does.
 *
 * Creation parses the container only (avifDecoderParse: ftyp, meta, the item properties,
 * ICC/EXIF/XMP) through an avifIO over lp_input_read_at, then checks the size against
 * lp_limits before any AV1 data is decoded. Before libavif reads a byte, our reader of
 * the meta box (heif_boxes.c) walks the top-level boxes, refuses a meta box over
 * limits.max_metadata_bytes, and what it reads reserves what libavif's item tables will
 * hold (AVIF_PARSE_BYTES_PER_META_BYTE: libavif 0.11 has no allocator hook) and libavif's
 * decoders for a grid's cells. The first next() decodes the primary image
 * (avifDecoderNextImage): libavif 0.11 decodes a grid's cells and assembles them into one
 * frame, with no way to get a cell row out earlier, so the YUV(A) frame is whole and held
 * by the decoder; its size and dav1d's state are an estimate (lp_avif_decode_estimate,
 * measured) reserved in the job's lp_mem at creation and reported in held_bytes. dav1d is
 * held to the largest coded item's declared size (coded_limit), so that AV1 data larger
 * than its ispe is refused instead of decoded beyond the reservation.
 *
 * Strips: each strip is converted from that YUV frame with avifImageYUVToRGB over a view
 * (avifImageSetViewRect) of the rows (or, for a quarter turn, the columns) it needs, plus
 * AVIF_BAND_MARGIN rows of context on each side so that the chroma upsampling filter
 * sees the same neighbours as a whole-frame conversion would (the margins are cut off
 * again): the pixels are exactly those of one big conversion, without an RGB frame.
 *
 * Orientation, the same semantics as heif_load.c: what is displayed is the image turned
 * by its irot and imir properties (the EXIF orientation tag inside an AVIF is ignored, as
 * HEIF/MIAF say; its copy we carry is reset to 1). libavif leaves the pixels as stored,
 * so this source turns them while cutting strips: yields pixels as displayed with
 * meta.orientation = 1. A quarter turn reads a band of stored columns for each strip of
 * displayed rows, still from the YUV frame, so it costs no whole RGB frame either. The
 * clean aperture (clap) is not applied, as avifdec 0.11 does not.
 *
 * Output: RGB8/RGBA8 for 8-bit AVIF, RGB16/RGBA16 (full 16-bit range) for 10/12-bit;
 * monochrome (4:0:0) comes out as RGB. Alpha is straight (libavif un-premultiplies).
 */
#include "codec/heif_boxes.h"
#include "codec/source_common.h"
#include "codec/source_meta.h"
#include "leanpix/codec.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <avif/avif.h>

#define AVIF_STRIP_ROWS 16u
/* Rows (or columns) of context converted beyond a band on each side: bilinear chroma
 * upsampling reads the neighbouring chroma row, 2 luma rows away at most. 4 keeps even
 * alignment for 4:2:0 and room. */
#define AVIF_BAND_MARGIN 4u

/* What dav1d 1.0 and libavif 0.11 hold at their peak while decoding the primary image with
 * maxThreads = 1: the YUV(A) pictures (samples x 1 or 2 bytes), plus 0.58-0.86 bytes a
 * pixel whatever the depth and chroma (dav1d's padding, block and context buffers; 0.70-
 * 0.95 with alpha). A grid holds every cell's picture (each cell has its own dav1d
 * decoder, which keeps its last picture) and the frame libavif assembles from them.
 * Measured as the growth of VmHWM over decoding a 6000x4000 (24 MP) photo-like AVIF and
 * pulling every strip, less the source's own buffers (tests/helpers/decode_peak,
 * bench/heif-writers.sh, 2026-12-03), in MB:
 *   one frame  8-bit 4:2:0  50.6 = 36 pictures + 14.6;   10-bit 4:2:0  86.3 = 72 + 14.3;
 *              8-bit 4:4:4  86.8 = 72 + 14.8;            alpha 77.2-83.2 = 60 + 17.2-23.2;
 *   grids      avifenc 6x4 4:2:0 99.2 = 36 + 24 x 1.5 + 27.2 (24 decoders);
 *              avifenc 6x4 10-bit 4:4:4 321.7 = 144 + 144 + 33.7;
 *              leanpix 3x2 cells of 2240 px 101.1 = 36 + 45.2 (the cells pad the image) + 19.9.
 * So: the pictures x AVIF_DECODE_PICTURE_FACTOR, plus AVIF_DECODE_BYTES_PER_PIXEL (more
 * with alpha), plus the per-cell and fixed parts below: 1.05-1.17 times what each file of
 * bench/heif-writers.sh held, 1.27 for an alpha grid (docs/benchmarks.md). */
#define AVIF_DECODE_PICTURE_FACTOR 1.05
#define AVIF_DECODE_BYTES_PER_PIXEL 0.9
#define AVIF_DECODE_ALPHA_BYTES_PER_PIXEL 1.05

/* What libavif 0.11 holds after avifDecoderParse, per byte of the meta box (glibc heap in
 * use, 2026-12-03): 46 for avifenc's 50x50 grid (122,785 bytes: 5.63 MB), 62 for 19,500
 * minimal infe entries (479,785 bytes: 29.5 MB; each item takes ~1.5 kB whatever its
 * size, so a meta box of nothing but 21-byte infe boxes would come to ~73). */
#define AVIF_PARSE_BYTES_PER_META_BYTE 80u

/* libavif 0.11 opens one dav1d decoder for every cell of a grid and keeps them all until
 * the image is done: ~400-480 kB each above the frame (avifdec -j 1 on one 3200x3200
 * picture: 72 MB as one frame, 111, 147, 338 and 1,105 MB as grids of 5x5, 10x10,
 * 25x25 and 50x50 cells, 2026-12-03), so a 740 kB file of 2,500 cells held 1.1 GB. */
#define AVIF_DECODE_BYTES_PER_CELL (512u * 1024u)

/* What a decoder holds whatever the picture's size: libavif's decoder and dav1d's context
 * came to about 500 kB of heap on a 64x43 picture (valgrind massif, 2026-12-03), which the
 * per-byte factors above leave out at small sizes (bench/heif-writers.sh at 1536x1024: 4.70
 * MB of heap against 4.5 MB reserved and counted without it). */
#define AVIF_DECODER_FIXED_BYTES (512u * 1024u)

typedef struct avif_source {
    lp_stage base;
    lp_source_common common;      /* input, limits, metadata copies, reservation */
    avifIO io;
    avifDecoder *dec;
    uint8_t *io_buf;              /* the last read (libavif copies what it keeps) */
    size_t io_cap;
    lp_error io_err;
    int orientation;              /* irot/imir as an EXIF orientation 1..8 */
    uint32_t stored_w, stored_h;
    uint32_t grid_cells;          /* cells of the grids libavif will decode (0: one frame) */
    uint64_t coded_pixels;        /* the largest coded item's ispe (lp_heif_header) */
    lp_format format;
    unsigned pixel_bytes;
    uint8_t *band;                /* converted band (rows or columns) with margins */
    size_t band_bytes;
    uint8_t *strip;               /* AVIF_STRIP_ROWS displayed rows */
    size_t row_bytes;
    uint32_t next_row;
    bool decoded;
} avif_source;

/* ---- avifIO over lp_input ---- */

static avifResult io_read(avifIO *io, uint32_t flags, uint64_t offset, size_t size, avifROData *out)
{
    avif_source *s = io->data;
    (void)flags;
    uint64_t file = lp_input_size(s->common.in);
    if (offset > file)
        return AVIF_RESULT_IO_ERROR;
    if (size > file - offset)
        size = (size_t)(file - offset);
    if (size > s->io_cap) {
        uint8_t *grown = lp_mem_realloc(s->base.mem, s->io_buf, size, "AVIF read buffer", &s->io_err);
        if (!grown)
            return AVIF_RESULT_IO_ERROR;
        s->io_buf = grown;
        s->io_cap = size;
    }
    size_t got = 0;
    if (size && lp_input_read_at(s->common.in, offset, s->io_buf, size, &got, &s->io_err) != LP_OK)
        return AVIF_RESULT_IO_ERROR;
    out->data = s->io_buf;
    out->size = got;  /* shorter only when the file shrank: libavif says it is truncated */
    return AVIF_RESULT_OK;
}

/* ---- errors ---- */

static lp_status status_of_avif(avifResult r)
{
    switch (r) {
    case AVIF_RESULT_OUT_OF_MEMORY: return LP_ERR_NOMEM;
    case AVIF_RESULT_TRUNCATED_DATA: return LP_ERR_TRUNCATED;
    case AVIF_RESULT_NO_CODEC_AVAILABLE:
    case AVIF_RESULT_NOT_IMPLEMENTED: return LP_ERR_UNSUPPORTED;
    case AVIF_RESULT_DECODE_COLOR_FAILED:
    case AVIF_RESULT_DECODE_ALPHA_FAILED: return LP_ERR_CORRUPT;
    case AVIF_RESULT_IO_ERROR: return LP_ERR_IO;
    default: return LP_ERR_CORRUPT;
    }
}

static lp_status avif_failure(avif_source *s, avifResult r, const char *where, lp_error *err)
{
    if (s->io_err.status != LP_OK)
        return lp_error_set(err, s->io_err.status, "%s", s->io_err.message);
    const char *detail = s->dec && s->dec->diag.error[0] ? s->dec->diag.error : NULL;
    lp_status st = status_of_avif(r);
    if (st == LP_ERR_TRUNCATED)
        return lp_error_set(err, st, "AVIF data ends early (%s)", where);
    return lp_error_set(err, st, "AVIF %s: %s%s%s", where, avifResultToString(r),
                        detail ? ": " : "", detail ? detail : "");
}

/* ---- orientation ---- */

static bool transposes(int orientation)
{
    return orientation >= 5;
}

/* The stored pixel (*sx, *sy) shown at (dx, dy) under EXIF orientation o. */
static void stored_of(int o, uint32_t w, uint32_t h, uint32_t dx, uint32_t dy, uint32_t *sx,
                      uint32_t *sy)
{
    switch (o) {
    case 2: *sx = w - 1 - dx; *sy = dy; break;
    case 3: *sx = w - 1 - dx; *sy = h - 1 - dy; break;
    case 4: *sx = dx; *sy = h - 1 - dy; break;
    case 5: *sx = dy; *sy = dx; break;
    case 6: *sx = dy; *sy = h - 1 - dx; break;
    case 7: *sx = w - 1 - dy; *sy = h - 1 - dx; break;
    case 8: *sx = w - 1 - dy; *sy = dx; break;
    default: *sx = dx; *sy = dy; break;
    }
}

/* ---- metadata ---- */

static uint8_t *keep_copy(avif_source *s, const uint8_t *data, size_t size, const char *what)
{
    uint8_t *buf = lp_meta_buffer(&s->base, s->common.limits.max_metadata_bytes,
                                  &s->common.metadata_bytes, size, what);
    if (buf)
        memcpy(buf, data, size);
    return buf;
}

/* libavif 0.11 hands out the Exif item without its 4-byte offset header; the TIFF stream
 * is kept with its orientation reset to 1 (the pixels come out turned by irot/imir). */
static void read_metadata(avif_source *s)
{
    const avifImage *img = s->dec->image;
    lp_metadata *m = &s->base.info.meta;
    if (img->icc.size &&
        (s->common.icc = keep_copy(s, img->icc.data, img->icc.size, "AVIF ICC copy"))) {
        m->icc = s->common.icc;
        m->icc_size = img->icc.size;
    }
    if (img->exif.size) {
        const uint8_t *tiff = img->exif.data;
        size_t size = img->exif.size;
        if (!lp_exif_is_tiff(tiff, size)) {
            lp_meta_note_dropped(&s->base, "EXIF block is truncated or not a TIFF stream");
        } else {
            size_t reset_size = 0;
            uint8_t *reset = lp_exif_orientation(tiff, size) != 1
                                 ? lp_exif_reset_orientation(tiff, size, &reset_size)
                                 : NULL;
            if (reset) {
                tiff = reset;
                size = reset_size;
            }
            if ((s->common.exif = keep_copy(s, tiff, size, "AVIF EXIF copy"))) {
                m->exif = s->common.exif;
                m->exif_size = size;
            }
            free(reset);
        }
    }
    if (img->xmp.size &&
        (s->common.xmp = keep_copy(s, img->xmp.data, img->xmp.size, "AVIF XMP copy"))) {
        m->xmp = s->common.xmp;
        m->xmp_size = img->xmp.size;
    }
}

/* ---- header ---- */

static lp_status open_header(avif_source *s, lp_error *err)
{
    s->dec = avifDecoderCreate();
    if (!s->dec)
        return lp_error_set(err, LP_ERR_NOMEM, "cannot create an AVIF decoder");
    avifDecoder *d = s->dec;
    d->maxThreads = 1;  /* one dav1d thread: its memory is what the estimate says */
    d->codecChoice = AVIF_CODEC_CHOICE_AUTO;
    const lp_limits *limits = &s->common.limits;
    uint64_t pixels = limits->max_pixels;
    d->imageSizeLimit = pixels && pixels < AVIF_DEFAULT_IMAGE_SIZE_LIMIT ? (uint32_t)pixels
                                                                         : AVIF_DEFAULT_IMAGE_SIZE_LIMIT;
    uint32_t side = limits->max_width > limits->max_height ? limits->max_width : limits->max_height;
    d->imageDimensionLimit = side;  /* 0 = none, as ours */
    s->io.read = io_read;
    s->io.sizeHint = lp_input_size(s->common.in);
    s->io.persistent = AVIF_FALSE;
    s->io.data = s;
    avifDecoderSetIO(d, &s->io);  /* no destroy: the decoder does not own it */
    avifResult r = avifDecoderParse(d);
    /* libavif refuses an ispe over its limits (ours) as a parse failure: say it is a limit */
    if (r == AVIF_RESULT_BMFF_PARSE_FAILED && s->io_err.status == LP_OK &&
        strstr(d->diag.error, "too large"))
        return lp_error_set(err, LP_ERR_LIMITS, "AVIF header: %s (limits %" PRIu32 "x%" PRIu32
                            ", %" PRIu64 " pixels)", d->diag.error, limits->max_width,
                            limits->max_height, limits->max_pixels);
    if (r != AVIF_RESULT_OK)
        return avif_failure(s, r, "container", err);
    const avifImage *img = d->image;
    s->stored_w = img->width;
    s->stored_h = img->height;
    s->orientation = lp_heif_orientation(
        img->transformFlags & AVIF_TRANSFORM_IROT ? img->irot.angle : 0,
        (img->transformFlags & AVIF_TRANSFORM_IMIR) != 0, img->imir.mode);
    bool t = transposes(s->orientation);
    s->base.info.width = t ? img->height : img->width;
    s->base.info.height = t ? img->width : img->height;
    return lp_limits_check(limits, s->base.info.width, s->base.info.height, err);
}

static bool read_input_at(void *user, uint64_t at, void *buf, size_t len)
{
    size_t got = 0;
    return lp_input_read_at(user, at, buf, len, &got, NULL) == LP_OK && got == len;
}

/* Our reading of the meta box (heif_boxes.c), before libavif parses it: the walk of the
 * top-level boxes, the metadata limit and the items (what heif_items.c refuses is
 * refused here too); then the reservation for libavif's item tables, and the grids'
 * cells, which libavif 0.11 does not tell. */
static lp_status read_meta(avif_source *s, lp_error *err)
{
    lp_heif_header h;
    lp_status st = lp_heif_read_header(read_input_at, s->common.in, lp_input_size(s->common.in),
                                       s->common.limits.max_metadata_bytes, s->base.mem, &h, err);
    if (st != LP_OK)
        return st;
    s->grid_cells = h.grid_cells;
    s->coded_pixels = lp_heif_coded_pixels(&h);
    st = lp_heif_check_streams(&h, "AVIF", err);  /* dav1d's limit (coded_limit) backs it */
    if (st != LP_OK)
        return st;
    return lp_source_reserve(&s->base, &s->common, h.meta_bytes * AVIF_PARSE_BYTES_PER_META_BYTE,
                             "libavif container (meta box)", err);
}

uint64_t lp_avif_decode_estimate(uint32_t stored_width, uint32_t stored_height, bool alpha,
                                 unsigned bit_depth, unsigned chroma_samples, uint32_t grid_cells,
                                 uint64_t coded_pixels)
{
    double sample = bit_depth > 8 ? 2.0 : 1.0;
    double colour = (chroma_samples ? chroma_samples : 6) / 2.0 * sample;
    double pixel = colour + (alpha ? sample : 0.0);
    double stored = (double)stored_width * stored_height;
    double coded = coded_pixels ? (double)coded_pixels : stored;  /* unknown: the image's */
    /* One frame: its picture, or a larger one its alpha image declares. A grid: the frame
     * libavif assembles, each cell's picture as large as the largest cell declared (an
     * alpha grid's monochrome cells counted as colour ones), and an alpha image that is
     * not a grid. */
    double pictures = grid_cells ? stored * pixel + grid_cells * coded * colour +
                                       (alpha ? stored * sample : 0.0)
                                 : (coded > stored ? coded : stored) * pixel;
    double per_pixel = alpha ? AVIF_DECODE_ALPHA_BYTES_PER_PIXEL : AVIF_DECODE_BYTES_PER_PIXEL;
    return (uint64_t)(pictures * AVIF_DECODE_PICTURE_FACTOR + stored * per_pixel) +
           (uint64_t)grid_cells * AVIF_DECODE_BYTES_PER_CELL + AVIF_DECODER_FIXED_BYTES;
}

/* The largest picture dav1d may decode: the largest coded item's declared size (a grid's
 * cell, the image or its alpha image). libavif 0.11 decodes an item at the size its AV1
 * data says and only then scales it to its ispe (a 64x64 ispe over 3520x5280 of AV1 data
 * held 51 MB under a 20M budget), so the declared size is made a limit: dav1d refuses a
 * larger frame before allocating it. */
static uint32_t coded_limit(const avif_source *s)
{
    uint64_t px = s->coded_pixels ? s->coded_pixels : (uint64_t)s->stored_w * s->stored_h;
    if (!s->grid_cells && px < (uint64_t)s->stored_w * s->stored_h)
        px = (uint64_t)s->stored_w * s->stored_h;
    return px < s->dec->imageSizeLimit ? (uint32_t)px : s->dec->imageSizeLimit;
}

/* Formats, buffers and the decode reservation; once the limits passed. */
static lp_status plan_decode(avif_source *s, lp_error *err)
{
    const avifImage *img = s->dec->image;
    bool deep = img->depth > 8;
    bool alpha = s->dec->alphaPresent != 0;
    s->format = lp_format_make(false, alpha, deep);
    s->base.info.format = s->format;
    s->base.info.source_bit_depth = deep ? 16 : 8;
    s->pixel_bytes = lp_format_pixel_bytes(s->format);
    s->row_bytes = (size_t)s->base.info.width * s->pixel_bytes;

    unsigned halves = img->yuvFormat == AVIF_PIXEL_FORMAT_YUV444   ? 6
                      : img->yuvFormat == AVIF_PIXEL_FORMAT_YUV422 ? 4
                      : img->yuvFormat == AVIF_PIXEL_FORMAT_YUV420 ? 3
                                                                   : 2;
    s->dec->imageSizeLimit = coded_limit(s);
    uint64_t bytes = lp_avif_decode_estimate(s->stored_w, s->stored_h, alpha, img->depth, halves,
                                             s->grid_cells, s->dec->imageSizeLimit);
    lp_status st = lp_source_reserve(&s->base, &s->common, bytes,
                                     s->grid_cells ? "AV1 decode (whole frame, a decoder per cell)"
                                                   : "AV1 decode (whole frame)", err);
    if (st != LP_OK)
        return st;
    s->base.whole_image = true;
    s->base.held_bytes = (size_t)bytes;

    /* A band: the strip's rows (or columns) and their margins, across the stored image. */
    size_t band_lines = AVIF_STRIP_ROWS + 2 * AVIF_BAND_MARGIN + 2;
    size_t across = transposes(s->orientation) ? s->stored_h : s->stored_w;
    s->band_bytes = band_lines * across * s->pixel_bytes;
    s->band = lp_mem_alloc(s->base.mem, s->band_bytes, "AVIF band", err);
    s->strip = s->band ? lp_mem_alloc(s->base.mem, s->row_bytes * AVIF_STRIP_ROWS, "AVIF strip", err)
                       : NULL;
    return s->strip ? LP_OK : (err ? err->status : LP_ERR_NOMEM);
}

/* ---- strips ---- */

/* Converts stored rows [y0, y1) x columns [x0, x1) (margins included) into s->band, rows
 * of (x1 - x0) pixels. The view starts on even coordinates so that chroma lines up. */
static lp_status convert_view(avif_source *s, uint32_t x0, uint32_t y0, uint32_t x1, uint32_t y1,
                              lp_error *err)
{
    avifImage view;
    memset(&view, 0, sizeof view);
    avifCropRect rect = {x0, y0, x1 - x0, y1 - y0};
    avifResult r = avifImageSetViewRect(&view, s->dec->image, &rect);
    if (r != AVIF_RESULT_OK)
        return lp_error_set(err, LP_ERR_INTERNAL, "AVIF view %ux%u at %u,%u: %s", rect.width,
                            rect.height, x0, y0, avifResultToString(r));
    avifRGBImage rgb;
    avifRGBImageSetDefaults(&rgb, &view);
    rgb.depth = lp_format_sample_bytes(s->format) == 2 ? 16 : 8;
    rgb.format = lp_format_has_alpha(s->format) ? AVIF_RGB_FORMAT_RGBA : AVIF_RGB_FORMAT_RGB;
    rgb.rowBytes = (uint32_t)(rect.width * s->pixel_bytes);
    rgb.pixels = s->band;
    r = avifImageYUVToRGB(&view, &rgb);
    if (r != AVIF_RESULT_OK)
        return lp_error_set(err, LP_ERR_CODEC, "AVIF to RGB: %s", avifResultToString(r));
    return LP_OK;
}

/* The band of stored lines [lo, hi) widened by the margin, clamped, started even. */
static void widen(uint32_t lo, uint32_t hi, uint32_t size, uint32_t *from, uint32_t *to)
{
    *from = lo > AVIF_BAND_MARGIN ? (lo - AVIF_BAND_MARGIN) & ~1u : 0;
    *to = hi + AVIF_BAND_MARGIN < size ? hi + AVIF_BAND_MARGIN : size;
}

/* Fills the strip of displayed rows [dy0, dy0 + rows); *data and *stride say where it
 * is (the band itself when the image is shown as stored). */
static lp_status fill_strip(avif_source *s, uint32_t dy0, uint32_t rows, const uint8_t **data,
                            size_t *stride, lp_error *err)
{
    uint32_t w = s->stored_w, h = s->stored_h, dw = s->base.info.width;
    int o = s->orientation;
    /* The stored lines (rows, or columns when turned a quarter) this strip shows. */
    uint32_t first_x, first_y, last_x, last_y;
    stored_of(o, w, h, 0, dy0, &first_x, &first_y);
    stored_of(o, w, h, dw - 1, dy0 + rows - 1, &last_x, &last_y);
    bool t = transposes(o);
    uint32_t a = t ? first_x : first_y, b = t ? last_x : last_y;
    uint32_t lo = a < b ? a : b, hi = (a < b ? b : a) + 1;
    uint32_t from, to;
    widen(lo, hi, t ? w : h, &from, &to);
    lp_status st = t ? convert_view(s, from, 0, to, h, err) : convert_view(s, 0, from, w, to, err);
    if (st != LP_OK)
        return st;
    size_t band_stride = (size_t)(t ? to - from : w) * s->pixel_bytes;
    unsigned pb = s->pixel_bytes;
    if (o == 1) {
        *data = s->band + (size_t)(dy0 - from) * band_stride;
        *stride = band_stride;
        return LP_OK;
    }
    *data = s->strip;
    *stride = s->row_bytes;
    for (uint32_t r = 0; r < rows; r++) {
        uint8_t *out = s->strip + (size_t)r * s->row_bytes;
        for (uint32_t dx = 0; dx < dw; dx++) {
            uint32_t sx, sy;
            stored_of(o, w, h, dx, dy0 + r, &sx, &sy);
            const uint8_t *p = t ? s->band + (size_t)sy * band_stride + (size_t)(sx - from) * pb
                                 : s->band + (size_t)(sy - from) * band_stride + (size_t)sx * pb;
            memcpy(out + (size_t)dx * pb, p, pb);
        }
    }
    return LP_OK;
}

static lp_status avif_next(lp_stage *self, lp_strip *strip, lp_error *err)
{
    avif_source *s = (avif_source *)self;
    if (!s->decoded) {
        s->decoded = true;
        avifResult r = avifDecoderNextImage(s->dec);
        if (r != AVIF_RESULT_OK)
            return avif_failure(s, r, "image data", err);
        if (s->dec->image->width != s->stored_w || s->dec->image->height != s->stored_h)
            return lp_error_set(err, LP_ERR_CORRUPT, "AVIF frame is %ux%u, its header says %ux%u",
                                s->dec->image->width, s->dec->image->height, s->stored_w,
                                s->stored_h);
        if (!s->dec->image->yuvPlanes[0])
            return lp_error_set(err, LP_ERR_CODEC, "AVIF decoder returned no pixels");
        /* The compressed data was copied by libavif: our read buffer can go. */
        lp_mem_release(s->base.mem, s->io_buf);
        s->io_buf = NULL;
        s->io_cap = 0;
    }
    uint32_t left = s->base.info.height - s->next_row;
    uint32_t rows = left < AVIF_STRIP_ROWS ? left : AVIF_STRIP_ROWS;
    strip->y = s->next_row;
    strip->rows = rows;
    strip->stride = s->row_bytes;
    strip->data = s->strip;
    if (rows == 0)
        return LP_OK;
    lp_status st = fill_strip(s, s->next_row, rows, &strip->data, &strip->stride, err);
    if (st != LP_OK)
        return st;
    s->next_row += rows;
    return LP_OK;
}

static void avif_destroy(lp_stage *self)
{
    avif_source *s = (avif_source *)self;
    lp_mem *mem = self->mem;
    if (s->dec)
        avifDecoderDestroy(s->dec);
    lp_mem_release(mem, s->io_buf);
    lp_mem_release(mem, s->band);
    lp_mem_release(mem, s->strip);
    lp_source_free(self, &s->common);
}

static const lp_stage_ops avif_source_ops = {
    .name = "avif-load",
    .next = avif_next,
    .destroy = avif_destroy,
};

lp_status lp_avif_source_new(lp_stage **out, lp_input *in, const lp_limits *limits, lp_mem *mem,
                             lp_error *err)
{
    *out = NULL;
    avif_source *s = lp_source_alloc(sizeof *s, in, "an AVIF source", err);
    if (!s)
        return LP_ERR_NOMEM;
    lp_source_init(&s->base, &s->common, &avif_source_ops, LP_FILE_AVIF, in, limits, mem);
    lp_status st = read_meta(s, err);
    if (st == LP_OK)
        st = open_header(s, err);
    if (st == LP_OK) {
        read_metadata(s);
        st = plan_decode(s, err);
    }
    if (st != LP_OK) {
        avif_destroy(&s->base);
        return st;
    }
    *out = &s->base;
    return LP_OK;
}
