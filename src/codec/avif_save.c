/*
 * avif_save.c - the single-frame AVIF encoder sink (libavif 0.11.1 + libaom).
 *
 * An AV1 encoder takes the whole frame at once, so this sink must hold the image; what it
 * holds is the YUV planes (1.5 bytes a pixel at 8-bit 4:2:0, 3 at 4:4:4, twice that at
 * 10-bit, plus one byte or sample a pixel for alpha), never an RGB copy. Each strip is
 * converted to YUV as it arrives and written straight into the planes, which are allocated
 * from the job's lp_mem at begin() (so they are counted and a budget can refuse them) and
 * lent to an avifImage that does not own them.
 *
 * Conversion (matrix BT.601, full range, as avifenc's default nclx 1/13/6 with -r full):
 *  - 8-bit 4:2:0 RGB/RGBA: libyuv's RAWToJ420 / ABGRToJ420 straight from the strip, and
 *    ARGBExtractAlpha for alpha. Measured faster than going through avifImageRGBToYUV (see
 *    docs/benchmarks.md, "RGB->YUV: libyuv vs libavif"); the YUV is the same bytes, since
 *    libavif calls the same libyuv function for this case.
 *  - 4:4:4 and 10-bit: libyuv has no full-range RGB->J444 and no 16-bit RGB input, so
 *    libavif's avifImageRGBToYUV runs on a strip-sized avifImage "view" whose plane
 *    pointers point into the whole-frame planes (it also scales 16-bit samples to 10-bit).
 *  - Gray (G8/G16): 4:0:0 (monochrome AV1), Y = the gray value (BT.601 luma of R=G=B=v).
 * 4:2:0 chroma averages row pairs, so conversions start on even rows: when a strip has an
 * odd number of rows its last row waits in a one-row carry buffer and is converted with the
 * first row of the next strip (through a two-row pair buffer).
 *
 * Memory: planes (held_bytes, whole_image = true) + two RGB rows. libaom's own state,
 * about 16 bytes a pixel for one still frame (DEVELOPERS.md; 15.6 B/px measured at 12 MP,
 * speed 6, 4:2:0, docs/benchmarks.md), is charged with
 * lp_mem_reserve() just before avifEncoderWrite so that a budget refuses early, and
 * uncharged after; the planes are released as soon as the frame is encoded, before the
 * compressed bytes are written out. The compressed output (libavif's buffer) is small
 * beside that and falls within the 16 B/px estimate.
 *
 * Orientation: pixels stay as stored; EXIF orientation becomes irot/imir (the mapping of
 * HEIF/MIAF, as libavif's own EXIF parser uses). EXIF, XMP and ICC are copied unless
 * strip_metadata; with an ICC profile libavif writes colr 'prof' besides the AV1 nclx.
 */
#include "leanpix/codec.h"
#include "codec/aom_memory.h"

#include <avif/avif.h>
#include <inttypes.h>
#include <libyuv.h>
#include <stdlib.h>
#include <string.h>


typedef struct avif_sink avif_sink;
/* Converts `rows` rows of pixels starting at image row y (even for 4:2:0 unless they are
 * the image's last rows) into the whole-frame planes. */
typedef lp_status (*convert_fn)(avif_sink *s, const uint8_t *px, size_t stride, uint32_t y,
                                uint32_t rows, lp_error *err);

struct avif_sink {
    lp_sink base;
    lp_output *output;
    int quantizer;
    int speed;
    unsigned threads;
    unsigned depth;            /* 8 or 10 */
    bool want_444;
    bool strip_metadata;

    lp_image_info info;
    avifImage *frame;          /* whole frame; planes below, not owned by it */
    avifImage *view;           /* strip-sized window into frame for avifImageRGBToYUV */
    uint8_t *planes[4];        /* Y, U, V, A from lp_mem */
    size_t plane_bytes[4];
    convert_fn convert;
    size_t row_bytes;          /* one input row */
    uint8_t *pair;             /* two input rows: the carried row and its partner */
    bool carrying;             /* pair's first row holds image row `next_y` */
    uint32_t next_y;           /* first image row not yet converted */
};

bool lp_av1_frame_fits_level6(uint32_t width, uint32_t height)
{
    return width <= LP_AV1_MAX_FRAME_WIDTH && height <= LP_AV1_MAX_FRAME_HEIGHT &&
           (uint64_t)width * height <= LP_AV1_MAX_FRAME_PIXELS;
}

/* ---- options ---- */

/* libavif 0.11.1 has no quality knob: quality maps linearly onto quantizers 63..0. */
static int quality_to_quantizer(int quality)
{
    if (quality < 0)
        quality = LP_AVIF_DEFAULT_QUALITY;
    if (quality > 100)
        quality = 100;
    return ((100 - quality) * 63 + 50) / 100;
}

static lp_format accept_format(const lp_sink *self, lp_format offered)
{
    const avif_sink *s = (const avif_sink *)self;
    bool ten = s->depth == 10;
    if (lp_format_is_gray(offered) && !lp_format_has_alpha(offered))
        return ten ? LP_FORMAT_G16 : LP_FORMAT_G8;
    return lp_format_make(false, lp_format_has_alpha(offered), ten);
}

/* ---- conversions ---- */

static uint8_t *plane_row(const avif_sink *s, int plane, uint32_t row)
{
    uint32_t rb = plane == 3 ? s->frame->alphaRowBytes : s->frame->yuvRowBytes[plane];
    return s->planes[plane] + (size_t)row * rb;
}

static lp_status convert_libyuv_420(avif_sink *s, const uint8_t *px, size_t stride, uint32_t y,
                                    uint32_t rows, lp_error *err)
{
    const avifImage *f = s->frame;
    bool alpha = lp_format_has_alpha(s->info.format);
    int w = (int)f->width, h = (int)rows;
    uint8_t *dy = plane_row(s, 0, y), *du = plane_row(s, 1, y / 2), *dv = plane_row(s, 2, y / 2);
    int rc = alpha ? ABGRToJ420(px, (int)stride, dy, (int)f->yuvRowBytes[0], du,
                                (int)f->yuvRowBytes[1], dv, (int)f->yuvRowBytes[2], w, h)
                   : RAWToJ420(px, (int)stride, dy, (int)f->yuvRowBytes[0], du,
                               (int)f->yuvRowBytes[1], dv, (int)f->yuvRowBytes[2], w, h);
    if (rc == 0 && alpha)
        rc = ARGBExtractAlpha(px, (int)stride, plane_row(s, 3, y), (int)f->alphaRowBytes, w, h);
    if (rc != 0)
        return lp_error_set(err, LP_ERR_CODEC, "libyuv could not convert rows %" PRIu32 "..%" PRIu32 " to YUV",
                            y, y + rows);
    return LP_OK;
}

/* Points the strip view at rows y..y+rows of the frame's planes. */
static void aim_view(avif_sink *s, uint32_t y, uint32_t rows)
{
    avifImage *v = s->view;
    const avifImage *f = s->frame;
    uint32_t chroma_y = f->yuvFormat == AVIF_PIXEL_FORMAT_YUV420 ? y / 2 : y;
    v->height = rows;
    v->yuvPlanes[0] = plane_row(s, 0, y);
    v->yuvPlanes[1] = s->planes[1] ? plane_row(s, 1, chroma_y) : NULL;
    v->yuvPlanes[2] = s->planes[2] ? plane_row(s, 2, chroma_y) : NULL;
    v->alphaPlane = s->planes[3] ? plane_row(s, 3, y) : NULL;
    for (int p = 0; p < 3; p++)
        v->yuvRowBytes[p] = f->yuvRowBytes[p];
    v->alphaRowBytes = f->alphaRowBytes;
    v->imageOwnsYUVPlanes = AVIF_FALSE;
    v->imageOwnsAlphaPlane = AVIF_FALSE;
}

/* Forgets the borrowed pointers: avifImageRGBToYUV marks the planes as owned by the image
 * (avifImageAllocatePlanes does, even for planes it did not allocate). */
static void release_view(avif_sink *s)
{
    avifImage *v = s->view;
    memset(v->yuvPlanes, 0, sizeof v->yuvPlanes);
    memset(v->yuvRowBytes, 0, sizeof v->yuvRowBytes);
    v->alphaPlane = NULL;
    v->alphaRowBytes = 0;
    v->imageOwnsYUVPlanes = AVIF_FALSE;
    v->imageOwnsAlphaPlane = AVIF_FALSE;
}

static lp_status convert_libavif(avif_sink *s, const uint8_t *px, size_t stride, uint32_t y,
                                 uint32_t rows, lp_error *err)
{
    aim_view(s, y, rows);
    avifRGBImage rgb;
    avifRGBImageSetDefaults(&rgb, s->view);
    rgb.format = lp_format_has_alpha(s->info.format) ? AVIF_RGB_FORMAT_RGBA : AVIF_RGB_FORMAT_RGB;
    rgb.depth = lp_format_sample_bytes(s->info.format) * 8;
    rgb.pixels = (uint8_t *)px;  /* read only: libavif takes a non-const pointer */
    rgb.rowBytes = (uint32_t)stride;
    avifResult r = avifImageRGBToYUV(s->view, &rgb);
    release_view(s);
    if (r != AVIF_RESULT_OK)
        return lp_error_set(err, LP_ERR_CODEC, "libavif could not convert rows %" PRIu32 "..%" PRIu32 " to YUV: %s",
                            y, y + rows, avifResultToString(r));
    return LP_OK;
}

static lp_status convert_gray(avif_sink *s, const uint8_t *px, size_t stride, uint32_t y,
                              uint32_t rows, lp_error *err)
{
    (void)err;
    uint32_t w = s->frame->width;
    for (uint32_t r = 0; r < rows; r++) {
        const uint8_t *src = px + (size_t)r * stride;
        uint8_t *dst = plane_row(s, 0, y + r);
        if (s->depth == 8) {
            memcpy(dst, src, w);
            continue;
        }
        const uint16_t *s16 = (const uint16_t *)src;
        uint16_t *d16 = (uint16_t *)dst;
        for (uint32_t x = 0; x < w; x++)
            d16[x] = (uint16_t)((s16[x] * 1023u + 32767u) / 65535u);
    }
    return LP_OK;
}

static convert_fn choose_converter(const avif_sink *s)
{
    if (lp_format_is_gray(s->info.format))
        return convert_gray;
    if (s->depth == 8 && !s->want_444)
        return convert_libyuv_420;
    return convert_libavif;
}

/* ---- begin: planes, colour, metadata, orientation ---- */

static avifPixelFormat pixel_format(const avif_sink *s)
{
    if (lp_format_is_gray(s->info.format))
        return AVIF_PIXEL_FORMAT_YUV400;
    return s->want_444 ? AVIF_PIXEL_FORMAT_YUV444 : AVIF_PIXEL_FORMAT_YUV420;
}

static lp_status alloc_planes(avif_sink *s, lp_error *err)
{
    avifImage *f = s->frame;
    size_t sample = s->depth > 8 ? 2 : 1;
    uint32_t cw = f->width, ch = f->height;
    if (f->yuvFormat == AVIF_PIXEL_FORMAT_YUV420) {
        cw = (f->width + 1) / 2;
        ch = (f->height + 1) / 2;
    }
    bool chroma = f->yuvFormat != AVIF_PIXEL_FORMAT_YUV400;
    const uint32_t widths[4] = {f->width, cw, cw, f->width};
    const uint32_t heights[4] = {f->height, ch, ch, f->height};
    const bool wanted[4] = {true, chroma, chroma, lp_format_has_alpha(s->info.format)};
    static const char *const names[4] = {"AVIF Y plane", "AVIF U plane", "AVIF V plane", "AVIF alpha plane"};
    for (int p = 0; p < 4; p++) {
        if (!wanted[p])
            continue;
        size_t row = widths[p] * sample;
        s->plane_bytes[p] = row * heights[p];
        s->planes[p] = lp_mem_alloc(s->base.mem, s->plane_bytes[p], names[p], err);
        if (!s->planes[p])
            return err ? err->status : LP_ERR_NOMEM;
        s->base.held_bytes += s->plane_bytes[p];
        if (p == 3) {
            f->alphaPlane = s->planes[p];
            f->alphaRowBytes = (uint32_t)row;
        } else {
            f->yuvPlanes[p] = s->planes[p];
            f->yuvRowBytes[p] = (uint32_t)row;
        }
    }
    f->imageOwnsYUVPlanes = AVIF_FALSE;
    f->imageOwnsAlphaPlane = AVIF_FALSE;
    return LP_OK;
}

/* EXIF orientation (1..8) to HEIF irot (anti-clockwise quarter turns) and imir (mode 0:
 * top and bottom exchanged, 1: left and right), irot applied before imir (MIAF 7.3.6.7). */
static void set_orientation(avifImage *f, int orientation)
{
    static const struct { bool rot; uint8_t angle; bool mir; uint8_t mode; } map[9] = {
        [1] = {false, 0, false, 0}, [2] = {false, 0, true, 1}, [3] = {true, 2, false, 0},
        [4] = {false, 0, true, 0},  [5] = {true, 1, true, 0},  [6] = {true, 3, false, 0},
        [7] = {true, 3, true, 0},   [8] = {true, 1, false, 0},
    };
    if (orientation < 1 || orientation > 8)
        orientation = 1;
    f->transformFlags &= ~(avifTransformFlags)(AVIF_TRANSFORM_IROT | AVIF_TRANSFORM_IMIR);
    if (map[orientation].rot)
        f->transformFlags |= AVIF_TRANSFORM_IROT;
    if (map[orientation].mir)
        f->transformFlags |= AVIF_TRANSFORM_IMIR;
    f->irot.angle = map[orientation].angle;
    f->imir.mode = map[orientation].mode;
}

static void set_metadata(avif_sink *s)
{
    const lp_metadata *m = &s->info.meta;
    avifImage *f = s->frame;
    if (!s->strip_metadata) {
        if (m->icc && m->icc_size)
            avifImageSetProfileICC(f, m->icc, m->icc_size);
        /* libavif fails the whole encode ("Invalid Exif payload") on a block without a TIFF
         * header; the sources drop such blocks already, this guards other callers. */
        if (m->exif && m->exif_size && lp_exif_is_tiff(m->exif, m->exif_size)) {
            /* When an upstream stage already turned the pixels upright (orientation 1) but
             * the EXIF still says otherwise, write the EXIF with orientation reset, so that
             * no reader turns the image twice. */
            uint8_t *reset = NULL;
            size_t reset_size = 0;
            if (m->orientation == 1 && lp_exif_orientation(m->exif, m->exif_size) != 1)
                reset = lp_exif_reset_orientation(m->exif, m->exif_size, &reset_size);
            if (reset)
                avifImageSetMetadataExif(f, reset, reset_size);
            else
                avifImageSetMetadataExif(f, m->exif, m->exif_size);
            free(reset);
        }
        if (m->xmp && m->xmp_size)
            avifImageSetMetadataXMP(f, m->xmp, m->xmp_size);
    }
    /* After the EXIF: libavif derives irot/imir from it, but info.meta.orientation is what
     * the pipeline says about these pixels. */
    set_orientation(f, m->orientation);
}

static lp_status avif_begin(lp_sink *self, const lp_image_info *info, lp_error *err)
{
    avif_sink *s = (avif_sink *)self;
    if (info->width == 0 || info->height == 0)
        return lp_error_set(err, LP_ERR_INVALID_ARG, "image has a zero dimension");
    if (!lp_av1_frame_fits_level6(info->width, info->height))
        return lp_error_set(err, LP_ERR_TOO_BIG,
                            "%" PRIu32 "x%" PRIu32 " is over AV1 level 6 (16384x8704, 35.6 MP) for one frame, "
                            "which decoders need not accept: encode it as a grid", info->width, info->height);
    if (accept_format(self, info->format) != info->format)
        return lp_error_set(err, LP_ERR_INTERNAL, "avif-save was given %s pixels", lp_format_name(info->format));
    s->info = *info;
    s->frame = avifImageCreate(info->width, info->height, s->depth, pixel_format(s));
    s->view = avifImageCreate(info->width, 1, s->depth, pixel_format(s));
    if (!s->frame || !s->view)
        return lp_error_set(err, LP_ERR_NOMEM, "cannot create the AVIF image");
    avifImage *images[2] = {s->frame, s->view};
    for (int i = 0; i < 2; i++) {
        images[i]->yuvRange = AVIF_RANGE_FULL;
        images[i]->matrixCoefficients = AVIF_MATRIX_COEFFICIENTS_BT601;
        images[i]->colorPrimaries = AVIF_COLOR_PRIMARIES_BT709;
        images[i]->transferCharacteristics = AVIF_TRANSFER_CHARACTERISTICS_SRGB;
    }
    self->whole_image = true;
    lp_status st = alloc_planes(s, err);
    if (st != LP_OK)
        return st;
    s->row_bytes = (size_t)info->width * lp_format_pixel_bytes(info->format);
    if (s->frame->yuvFormat == AVIF_PIXEL_FORMAT_YUV420) {
        s->pair = lp_mem_alloc(self->mem, 2 * s->row_bytes, "AVIF row pair", err);
        if (!s->pair)
            return err ? err->status : LP_ERR_NOMEM;
    }
    s->convert = choose_converter(s);
    set_metadata(s);
    return LP_OK;
}

/* ---- write: strips to YUV ---- */

static lp_status avif_write(lp_sink *self, const lp_strip *strip, lp_error *err)
{
    avif_sink *s = (avif_sink *)self;
    const uint8_t *px = strip->data;
    uint32_t rows = strip->rows, y = strip->y;
    bool pairs = s->pair != NULL;
    lp_status st;
    if (s->carrying && rows > 0) {
        memcpy(s->pair + s->row_bytes, px, s->row_bytes);
        st = s->convert(s, s->pair, s->row_bytes, s->next_y, 2, err);
        if (st != LP_OK)
            return st;
        s->carrying = false;
        s->next_y += 2;
        px += strip->stride;
        rows--;
        y++;
    }
    uint32_t now = rows;
    bool last = y + rows == s->info.height;
    if (pairs && (rows & 1) && !last)
        now--;  /* the odd row waits for its partner in the next strip */
    if (now > 0) {
        st = s->convert(s, px, strip->stride, y, now, err);
        if (st != LP_OK)
            return st;
        s->next_y = y + now;
    }
    if (now < rows) {
        memcpy(s->pair, px + (size_t)now * strip->stride, s->row_bytes);
        s->carrying = true;
    }
    return LP_OK;
}

/* ---- finish: encode and write ---- */

static void release_planes(avif_sink *s)
{
    for (int p = 0; p < 4; p++) {
        lp_mem_release(s->base.mem, s->planes[p]);
        s->planes[p] = NULL;
        s->plane_bytes[p] = 0;
    }
    if (s->frame) {
        memset(s->frame->yuvPlanes, 0, sizeof s->frame->yuvPlanes);
        s->frame->alphaPlane = NULL;
    }
    /* held_bytes keeps the planes' size: it states what the job held, for its statistics */
}

static avifEncoder *make_encoder(const avif_sink *s)
{
    avifEncoder *enc = avifEncoderCreate();
    if (!enc)
        return NULL;
    enc->codecChoice = AVIF_CODEC_CHOICE_AOM;
    enc->maxThreads = s->threads ? (int)s->threads : 1;
    enc->speed = s->speed;
    enc->minQuantizer = enc->maxQuantizer = s->quantizer;
    enc->minQuantizerAlpha = enc->maxQuantizerAlpha = s->quantizer;
    enc->tileRowsLog2 = 0;
    enc->tileColsLog2 = 0;
    /* No intra block copy: on smooth photos libaom's screen-content detection turns it on
     * at speed 6 and below, and its hash tables then cover the whole frame (a 24 MP photo:
     * 2.4 GB instead of 400 MB, 5x the time, no smaller file: docs/avif-grid.md). */
    avifEncoderSetCodecSpecificOption(enc, "enable-intrabc", "0");
    return enc;
}

static lp_status encode_frame(avif_sink *s, avifRWData *out, lp_error *err)
{
    uint64_t estimate = (uint64_t)s->info.width * s->info.height * LP_AOM_BYTES_PER_PIXEL +
                        LP_AOM_FRAME_FIXED_BYTES;
    lp_status st = lp_mem_reserve(s->base.mem, estimate, "libaom encoder state", err);
    if (st != LP_OK)
        return st;
    avifEncoder *enc = make_encoder(s);
    if (!enc) {
        lp_mem_unreserve(s->base.mem, estimate);
        return lp_error_set(err, LP_ERR_NOMEM, "cannot create the AVIF encoder");
    }
    avifResult r = avifEncoderWrite(enc, s->frame, out);
    if (r != AVIF_RESULT_OK)
        st = lp_error_set(err, r == AVIF_RESULT_OUT_OF_MEMORY ? LP_ERR_NOMEM : LP_ERR_CODEC,
                          "AV1 encoding failed: %s%s%s", avifResultToString(r),
                          enc->diag.error[0] ? ": " : "", enc->diag.error);
    avifEncoderDestroy(enc);
    lp_mem_unreserve(s->base.mem, estimate);
    return st;
}

static lp_status avif_finish(lp_sink *self, lp_error *err)
{
    avif_sink *s = (avif_sink *)self;
    if (!s->frame || s->carrying || s->next_y != s->info.height)
        return lp_error_set(err, LP_ERR_INTERNAL, "avif-save finished at row %" PRIu32 " of %" PRIu32,
                            s->next_y, s->info.height);
    avifRWData out = AVIF_DATA_EMPTY;
    lp_status st = encode_frame(s, &out, err);
    release_planes(s);
    if (st == LP_OK)
        st = lp_output_write(s->output, out.data, out.size, err);
    avifRWDataFree(&out);
    return st;
}

static void avif_destroy(lp_sink *self)
{
    avif_sink *s = (avif_sink *)self;
    release_planes(s);
    lp_mem_release(self->mem, s->pair);
    if (s->view)
        avifImageDestroy(s->view);
    if (s->frame)
        avifImageDestroy(s->frame);
    free(s);
}

static const lp_sink_ops avif_sink_ops = {
    .name = "avif-save",
    .accept = accept_format,
    .begin = avif_begin,
    .write = avif_write,
    .finish = avif_finish,
    .destroy = avif_destroy,
};

lp_status lp_avif_check_options(const lp_encode_options *opts, lp_error *err)
{
    unsigned depth = opts->bit_depth ? opts->bit_depth : 8;
    if (depth != 8 && depth != 10)
        return lp_error_set(err, LP_ERR_INVALID_ARG, "AVIF bit depth must be 8 or 10, not %u", depth);
    if (opts->speed > 10)
        return lp_error_set(err, LP_ERR_INVALID_ARG, "AVIF speed must be 0..10, not %d", opts->speed);
    if (opts->quality > 100)
        return lp_error_set(err, LP_ERR_INVALID_ARG, "quality must be 0..100, not %d", opts->quality);
    return LP_OK;
}

lp_status lp_avif_sink_new(lp_sink **out, lp_output *output, const lp_encode_options *opts,
                           lp_mem *mem, lp_error *err)
{
    *out = NULL;
    if (!output || !opts)
        return lp_error_set(err, LP_ERR_INVALID_ARG, "avif-save needs an output and options");
    lp_status checked = lp_avif_check_options(opts, err);
    if (checked != LP_OK)
        return checked;
    unsigned depth = opts->bit_depth ? opts->bit_depth : 8;
    avif_sink *s = calloc(1, sizeof *s);
    if (!s)
        return lp_error_set(err, LP_ERR_NOMEM, "cannot allocate the AVIF sink");
    s->base.ops = &avif_sink_ops;
    s->base.mem = mem;
    s->base.whole_image = true;
    s->output = output;
    s->quantizer = quality_to_quantizer(opts->quality);
    s->speed = opts->speed < 0 ? LP_AVIF_DEFAULT_SPEED : opts->speed;
    s->threads = opts->threads;
    s->depth = depth;
    s->want_444 = opts->chroma == LP_CHROMA_444;
    s->strip_metadata = opts->strip_metadata;
    *out = &s->base;
    return LP_OK;
}
