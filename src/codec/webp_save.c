/*
 * webp_save.c - WebP encoding with libwebp (lossy or lossless), metadata with libwebpmux.
 *
 * libwebp encodes a whole picture at once, so this sink collects the image in the form
 * the encoder works on, allocated at begin() from the job's lp_mem and handed to libwebp
 * as user-owned memory:
 *  - lossy (the default): YUV 4:2:0 planes, plus an alpha plane for RGBA. Strips are
 *    converted as they arrive by libwebp's own importer, in row pairs; a strip's odd
 *    last row waits in a two-row buffer for its partner. This is 1.5 bytes a pixel (2.5
 *    with alpha) instead of 4 for ARGB, libwebp then makes no YUV copy of its own, and
 *    the file is the one cwebp writes from the same pixels and settings.
 *  - lossless, or lossy with --chroma 444 (libwebp's "sharp YUV", its closest thing to
 *    full chroma, which converts from RGB itself): one ARGB picture, 4 bytes a pixel.
 * finish() encodes. Without metadata the encoder writes straight into lp_output (no
 * compressed copy in memory); with ICC/EXIF/XMP to keep, the bitstream goes to memory
 * and WebPMux wraps it in an extended (VP8X) file with ICCP, EXIF and "XMP " chunks.
 *
 * Memory: the picture (counted; its size in held_bytes) for the whole job, released as
 * soon as the encoder is done with it. What libwebp allocates while encoding is charged with
 * lp_mem_reserve as a measured estimate for the duration of WebPEncode(); the compressed
 * bytes and the muxed file, when held, are charged the same way.
 *
 * WebP cannot hold more than 16383 pixels a side: begin() says so with LP_ERR_TOO_BIG
 * before allocating anything.
 */
#include "leanpix/codec.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <webp/encode.h>
#include <webp/mux.h>

/* libwebp's working memory beyond our picture, from the growth of peak RSS during
 * encoding (libwebp 1.2.4; bench/png-webp-vs-peers.sh's grainy 12 MP photo, and
 * synthetic 1000x750 to 4000x3000 pictures). Lossy, methods 3-6: the token buffer
 * grows with the coded coefficients, so with quality: 2.0 B/px at q20, 3.6 at q50, 5.9
 * at q80, 8.7 at q90, 11.6 at q95, 14.2 at q100 (less on smooth images); methods 0-2
 * code without tokens: about 1 B/px. An alpha plane costs 13-16 B/px more (it goes
 * through the lossless coder). From ARGB input (sharp YUV) lossy adds its YUV copy.
 * Lossless: 24-28 B/px plus ~8 MiB (hash chains, backward references, transforms).
 * The estimate below is fitted over those points and rounded up. */
#define WEBP_FEW_TOKENS_BYTES_PER_PIXEL 2u
#define WEBP_ALPHA_BYTES_PER_PIXEL 16u
#define WEBP_YUV_COPY_BYTES_PER_PIXEL 3u
#define WEBP_LOSSLESS_BYTES_PER_PIXEL 28u
#define WEBP_FIXED_BYTES (1ull << 20)
#define WEBP_LOSSLESS_FIXED_BYTES (8ull << 20)

typedef struct webp_sink {
    lp_sink base;
    lp_output *output;
    lp_encode_options opts;
    uint32_t width, height;
    lp_format format;          /* RGB8 or RGBA8 */
    bool use_argb;             /* lossless or sharp YUV: libwebp wants ARGB */
    uint8_t *picture;          /* one counted block: ARGB, or the Y, U, V (, A) planes */
    uint32_t *argb;
    uint8_t *y, *u, *v, *a;
    int uv_stride;
    uint8_t *pair;             /* YUV: two rows, to pair an odd last row with the next */
    bool carry;                /* pair's first row waits for its partner */
    uint32_t carry_y;
    lp_metadata meta;          /* pointers owned by the source, valid until finish */
    lp_error io_err;           /* why writing to the output failed, when it did */
} webp_sink;

static lp_format webp_accept(const lp_sink *self, lp_format offered)
{
    (void)self;
    return lp_format_has_alpha(offered) ? LP_FORMAT_RGBA8 : LP_FORMAT_RGB8;
}

static size_t row_bytes(const webp_sink *s)
{
    return (size_t)s->width * lp_format_pixel_bytes(s->format);
}

/* Lays the picture out in one block: ARGB, or Y, U, V and (with alpha) A. */
static lp_status allocate_picture(webp_sink *s, lp_error *err)
{
    size_t pixels = (size_t)s->width * s->height;
    size_t bytes;
    if (s->use_argb) {
        bytes = pixels * 4;
    } else {
        s->uv_stride = (int)((s->width + 1) / 2);
        size_t uv = (size_t)s->uv_stride * ((s->height + 1) / 2);
        bytes = pixels + 2 * uv + (s->format == LP_FORMAT_RGBA8 ? pixels : 0);
    }
    s->picture = lp_mem_alloc(s->base.mem, bytes, "WebP picture", err);
    if (!s->picture)
        return err ? err->status : LP_ERR_NOMEM;
    s->base.held_bytes = bytes;
    if (s->use_argb) {
        s->argb = (uint32_t *)s->picture;
        return LP_OK;
    }
    size_t uv = (size_t)s->uv_stride * ((s->height + 1) / 2);
    s->y = s->picture;
    s->u = s->y + pixels;
    s->v = s->u + uv;
    s->a = s->format == LP_FORMAT_RGBA8 ? s->v + uv : NULL;
    s->pair = lp_mem_alloc(s->base.mem, 2 * row_bytes(s), "WebP row pair", err);
    return s->pair ? LP_OK : (err ? err->status : LP_ERR_NOMEM);
}

static lp_status webp_begin(lp_sink *self, const lp_image_info *info, lp_error *err)
{
    webp_sink *s = (webp_sink *)self;
    if (info->width > WEBP_MAX_DIMENSION || info->height > WEBP_MAX_DIMENSION)
        return lp_error_set(err, LP_ERR_TOO_BIG,
                            "WebP holds at most %dx%d pixels, this image is %" PRIu32 "x%" PRIu32
                            " (resize it, or write AVIF or PNG)",
                            WEBP_MAX_DIMENSION, WEBP_MAX_DIMENSION, info->width, info->height);
    if (info->format != LP_FORMAT_RGB8 && info->format != LP_FORMAT_RGBA8)
        return lp_error_set(err, LP_ERR_INTERNAL, "WebP encoder got %s pixels",
                            lp_format_name(info->format));
    s->width = info->width;
    s->height = info->height;
    s->format = info->format;
    s->meta = info->meta;
    return allocate_picture(s, err);
}

static void write_argb(webp_sink *s, const lp_strip *strip)
{
    bool alpha = s->format == LP_FORMAT_RGBA8;
    unsigned px = alpha ? 4 : 3;
    for (uint32_t r = 0; r < strip->rows; r++) {
        const uint8_t *in = strip->data + (size_t)r * strip->stride;
        uint32_t *out = s->argb + (size_t)(strip->y + r) * s->width;
        for (uint32_t x = 0; x < s->width; x++, in += px) {
            uint32_t a = alpha ? in[3] : 255u;
            out[x] = a << 24 | (uint32_t)in[0] << 16 | (uint32_t)in[1] << 8 | in[2];
        }
    }
}

/* Converts n rows starting at image row y (even) into the planes; n is even, or 1 for
 * the image's odd last row. libwebp's own importer does the conversion (the same code
 * cwebp and WebPEncode use, gamma-aware chroma averaging, alpha-weighted where pixels
 * are translucent) on a picture of just these rows, which is then copied into place:
 * 4:2:0 chroma depends only on each row pair, so this equals converting the whole
 * image at once. */
static lp_status rows_to_yuv(webp_sink *s, const uint8_t *rows, size_t stride, uint32_t y,
                             uint32_t n, lp_error *err)
{
    uint64_t part_bytes = (uint64_t)s->width * n * 3;
    lp_status st = lp_mem_reserve(s->base.mem, part_bytes, "WebP strip conversion", err);
    if (st != LP_OK)
        return st;
    WebPPicture part;
    WebPPictureInit(&part);
    part.use_argb = 0;
    part.width = (int)s->width;
    part.height = (int)n;
    int ok = s->a ? WebPPictureImportRGBA(&part, rows, (int)stride)
                  : WebPPictureImportRGB(&part, rows, (int)stride);
    if (ok) {
        size_t uv_width = (s->width + 1) / 2;
        for (uint32_t r = 0; r < n; r++)
            memcpy(s->y + (size_t)(y + r) * s->width, part.y + (size_t)r * part.y_stride, s->width);
        for (uint32_t r = 0; r < (n + 1) / 2; r++) {
            size_t at = (size_t)(y / 2 + r) * (size_t)s->uv_stride;
            memcpy(s->u + at, part.u + (size_t)r * part.uv_stride, uv_width);
            memcpy(s->v + at, part.v + (size_t)r * part.uv_stride, uv_width);
        }
        for (uint32_t r = 0; s->a && r < n; r++) {
            uint8_t *dst = s->a + (size_t)(y + r) * s->width;
            if (part.a)  /* the importer keeps no alpha plane for opaque rows */
                memcpy(dst, part.a + (size_t)r * part.a_stride, s->width);
            else
                memset(dst, 255, s->width);
        }
    }
    WebPPictureFree(&part);
    lp_mem_unreserve(s->base.mem, part_bytes);
    return ok ? LP_OK : lp_error_set(err, LP_ERR_NOMEM, "WebP: cannot convert rows to YUV");
}

static lp_status write_yuv(webp_sink *s, const lp_strip *strip, lp_error *err)
{
    size_t rb = row_bytes(s);
    uint32_t r = 0;
    lp_status st = LP_OK;
    if (s->carry && strip->rows > 0) {
        memcpy(s->pair + rb, strip->data, rb);
        st = rows_to_yuv(s, s->pair, rb, s->carry_y, 2, err);
        s->carry = false;
        r = 1;
    }
    uint32_t paired = (strip->rows - r) / 2 * 2;
    if (st == LP_OK && paired)
        st = rows_to_yuv(s, strip->data + (size_t)r * strip->stride, strip->stride,
                         strip->y + r, paired, err);
    r += paired;
    if (st == LP_OK && r < strip->rows) {
        memcpy(s->pair, strip->data + (size_t)r * strip->stride, rb);
        s->carry = true;
        s->carry_y = strip->y + r;
    }
    return st;
}

static lp_status webp_write(lp_sink *self, const lp_strip *strip, lp_error *err)
{
    webp_sink *s = (webp_sink *)self;
    if (!s->use_argb)
        return write_yuv(s, strip, err);
    write_argb(s, strip);
    return LP_OK;
}

static const char *encode_error_text(WebPEncodingError code)
{
    switch (code) {
    case VP8_ENC_ERROR_OUT_OF_MEMORY:
    case VP8_ENC_ERROR_BITSTREAM_OUT_OF_MEMORY: return "out of memory";
    case VP8_ENC_ERROR_INVALID_CONFIGURATION: return "invalid configuration";
    case VP8_ENC_ERROR_BAD_DIMENSION: return "bad picture dimensions";
    case VP8_ENC_ERROR_PARTITION0_OVERFLOW: return "partition 0 over 512 KiB (lower the quality)";
    case VP8_ENC_ERROR_PARTITION_OVERFLOW: return "partition over 16 MiB (lower the quality)";
    case VP8_ENC_ERROR_FILE_TOO_BIG: return "file over 4 GiB";
    case VP8_ENC_ERROR_BAD_WRITE: return "cannot write the output";
    default: return "encoder failure";
    }
}

static lp_status setup_config(const webp_sink *s, WebPConfig *config, lp_error *err)
{
    int quality = s->opts.quality < 0 ? LP_WEBP_DEFAULT_QUALITY : s->opts.quality;
    int method = 6 - s->opts.speed / 2;
    if (!WebPConfigInit(config))
        return lp_error_set(err, LP_ERR_CODEC, "libwebp version mismatch");
    config->quality = (float)(quality > 100 ? 100 : quality);
    config->method = method < 0 ? 0 : method > 6 ? 6 : method;
    config->thread_level = s->opts.threads > 1;
    if (s->opts.lossless) {
        config->lossless = 1;
        config->exact = 1;  /* lossless means every pixel, also RGB under alpha 0 */
    } else if (s->opts.chroma == LP_CHROMA_444) {
        config->use_sharp_yuv = 1;
    }
    if (!WebPValidateConfig(config))
        return lp_error_set(err, LP_ERR_INVALID_ARG, "invalid WebP settings (quality %d, method %d)",
                            quality, config->method);
    return LP_OK;
}

/* Tenths of a byte per pixel for VP8's tokens and state: a line through (20, 2.2) and
 * (80, 5.8), then steeper to (100, 14.2), above every measured point. */
static uint64_t vp8_tenths_per_pixel(int quality, int method)
{
    if (method < 3)
        return WEBP_FEW_TOKENS_BYTES_PER_PIXEL * 10;
    if (quality <= 80)
        return 10 + (uint64_t)quality * 6 / 10;
    return 58 + (uint64_t)(quality - 80) * 42 / 10;
}

static uint64_t encoder_estimate(const webp_sink *s, const WebPConfig *config)
{
    uint64_t pixels = (uint64_t)s->width * s->height;
    if (config->lossless)
        return WEBP_LOSSLESS_FIXED_BYTES + pixels * WEBP_LOSSLESS_BYTES_PER_PIXEL;
    uint64_t tenths = vp8_tenths_per_pixel((int)config->quality, config->method);
    if (s->format == LP_FORMAT_RGBA8)
        tenths += WEBP_ALPHA_BYTES_PER_PIXEL * 10;
    if (s->use_argb)
        tenths += WEBP_YUV_COPY_BYTES_PER_PIXEL * 10;
    return WEBP_FIXED_BYTES + pixels * tenths / 10;
}

static int write_to_output(const uint8_t *data, size_t size, const WebPPicture *picture)
{
    webp_sink *s = picture->custom_ptr;
    return lp_output_write(s->output, data, size, &s->io_err) == LP_OK;
}

static bool has_metadata(const webp_sink *s)
{
    return !s->opts.strip_metadata &&
           ((s->meta.icc && s->meta.icc_size) || (s->meta.exif && s->meta.exif_size) ||
            (s->meta.xmp && s->meta.xmp_size));
}

/* Points a WebPPicture at our picture memory (libwebp neither copies nor frees it). */
static void describe_picture(webp_sink *s, WebPPicture *pic)
{
    WebPPictureInit(pic);
    pic->width = (int)s->width;
    pic->height = (int)s->height;
    if (s->use_argb) {
        pic->use_argb = 1;
        pic->argb = s->argb;
        pic->argb_stride = (int)s->width;
        return;
    }
    pic->use_argb = 0;
    pic->colorspace = s->a ? WEBP_YUV420A : WEBP_YUV420;
    pic->y = s->y;
    pic->u = s->u;
    pic->v = s->v;
    pic->y_stride = (int)s->width;
    pic->uv_stride = s->uv_stride;
    pic->a = s->a;
    pic->a_stride = s->a ? (int)s->width : 0;
}

/* Encodes the picture into the output (to_memory NULL) or into *to_memory. */
static lp_status encode_picture(webp_sink *s, WebPMemoryWriter *to_memory, lp_error *err)
{
    WebPConfig config;
    lp_status st = setup_config(s, &config, err);
    if (st != LP_OK)
        return st;
    if (s->carry) {  /* the odd last row */
        s->carry = false;
        if ((st = rows_to_yuv(s, s->pair, row_bytes(s), s->carry_y, 1, err)) != LP_OK)
            return st;
    }
    uint64_t estimate = encoder_estimate(s, &config);
    st = lp_mem_reserve(s->base.mem, estimate, "WebP encoder", err);
    if (st != LP_OK)
        return st;
    WebPPicture pic;
    describe_picture(s, &pic);
    if (to_memory) {
        pic.writer = WebPMemoryWrite;
        pic.custom_ptr = to_memory;
    } else {
        pic.writer = write_to_output;
        pic.custom_ptr = s;
    }
    int ok = WebPEncode(&config, &pic);
    WebPEncodingError code = pic.error_code;
    WebPPictureFree(&pic);  /* what libwebp allocated; our planes stay */
    lp_mem_unreserve(s->base.mem, estimate);
    if (ok)
        return LP_OK;
    if (code == VP8_ENC_ERROR_BAD_WRITE && s->io_err.status != LP_OK)
        return lp_error_set(err, s->io_err.status, "%s", s->io_err.message);
    return lp_error_set(err, code == VP8_ENC_ERROR_OUT_OF_MEMORY ? LP_ERR_NOMEM : LP_ERR_CODEC,
                        "WebP encoding failed: %s", encode_error_text(code));
}

static lp_status mux_failure(WebPMuxError code, const char *what, lp_error *err)
{
    return lp_error_set(err, code == WEBP_MUX_MEMORY_ERROR ? LP_ERR_NOMEM : LP_ERR_CODEC,
                        "WebP container: cannot add %s (mux error %d)", what, (int)code);
}

static WebPMuxError add_chunk(WebPMux *mux, const char *fourcc, const uint8_t *data, size_t size)
{
    if (!data || !size)
        return WEBP_MUX_OK;
    WebPData chunk = {data, size};
    return WebPMuxSetChunk(mux, fourcc, &chunk, 0);
}

/* Wraps the bitstream with ICCP/EXIF/XMP chunks (WebPMux writes the VP8X header). */
static lp_status mux_and_write(webp_sink *s, const WebPMemoryWriter *bitstream, lp_error *err)
{
    WebPMux *mux = WebPMuxNew();
    if (!mux)
        return lp_error_set(err, LP_ERR_NOMEM, "cannot create a WebP muxer");
    WebPData image = {bitstream->mem, bitstream->size};
    WebPData assembled = {NULL, 0};
    lp_status st = LP_OK;
    WebPMuxError rc = WebPMuxSetImage(mux, &image, 0);
    if (rc != WEBP_MUX_OK)
        st = mux_failure(rc, "the image", err);
    if (st == LP_OK && (rc = add_chunk(mux, "ICCP", s->meta.icc, s->meta.icc_size)) != WEBP_MUX_OK)
        st = mux_failure(rc, "the ICC profile", err);
    if (st == LP_OK && (rc = add_chunk(mux, "EXIF", s->meta.exif, s->meta.exif_size)) != WEBP_MUX_OK)
        st = mux_failure(rc, "the EXIF block", err);
    if (st == LP_OK && (rc = add_chunk(mux, "XMP ", s->meta.xmp, s->meta.xmp_size)) != WEBP_MUX_OK)
        st = mux_failure(rc, "the XMP packet", err);
    uint64_t file_size = bitstream->size + s->meta.icc_size + s->meta.exif_size + s->meta.xmp_size;
    bool reserved = false;
    if (st == LP_OK && (st = lp_mem_reserve(s->base.mem, file_size, "WebP file", err)) == LP_OK) {
        reserved = true;
        if ((rc = WebPMuxAssemble(mux, &assembled)) != WEBP_MUX_OK)
            st = mux_failure(rc, "the chunks together", err);
    }
    if (st == LP_OK)
        st = lp_output_write(s->output, assembled.bytes, assembled.size, err);
    WebPDataClear(&assembled);
    WebPMuxDelete(mux);
    if (reserved)
        lp_mem_unreserve(s->base.mem, file_size);
    return st;
}

static void release_picture(webp_sink *s)
{
    lp_mem_release(s->base.mem, s->picture);
    lp_mem_release(s->base.mem, s->pair);
    s->picture = s->pair = NULL;
    s->argb = NULL;
    s->y = s->u = s->v = s->a = NULL;
    /* held_bytes keeps the picture's size: job statistics read it after the run */
}

static lp_status webp_finish(lp_sink *self, lp_error *err)
{
    webp_sink *s = (webp_sink *)self;
    if (!has_metadata(s)) {
        lp_status st = encode_picture(s, NULL, err);
        release_picture(s);
        return st;
    }
    WebPMemoryWriter bitstream;
    WebPMemoryWriterInit(&bitstream);
    lp_status st = encode_picture(s, &bitstream, err);
    release_picture(s);
    if (st == LP_OK) {
        uint64_t held = bitstream.max_size;
        st = lp_mem_reserve(self->mem, held, "WebP bitstream", err);
        if (st == LP_OK) {
            st = mux_and_write(s, &bitstream, err);
            lp_mem_unreserve(self->mem, held);
        }
    }
    WebPMemoryWriterClear(&bitstream);
    return st;
}

static void webp_destroy(lp_sink *self)
{
    webp_sink *s = (webp_sink *)self;
    release_picture(s);
    free(s);
}

static const lp_sink_ops webp_sink_ops = {
    .name = "webp-save",
    .accept = webp_accept,
    .begin = webp_begin,
    .write = webp_write,
    .finish = webp_finish,
    .destroy = webp_destroy,
};

lp_status lp_webp_sink_new(lp_sink **out, lp_output *output, const lp_encode_options *opts,
                           lp_mem *mem, lp_error *err)
{
    *out = NULL;
    if (opts->quality > 100)
        return lp_error_set(err, LP_ERR_INVALID_ARG, "WebP quality must be 0..100, not %d",
                            opts->quality);
    webp_sink *s = calloc(1, sizeof *s);
    if (!s)
        return lp_error_set(err, LP_ERR_NOMEM, "cannot allocate a WebP encoder");
    s->base.ops = &webp_sink_ops;
    s->base.mem = mem;
    s->base.whole_image = true;
    s->output = output;
    s->opts = *opts;
    s->use_argb = opts->lossless || opts->chroma == LP_CHROMA_444;
    *out = &s->base;
    return LP_OK;
}
