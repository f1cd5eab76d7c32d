/*
 * webp_save.c - WebP encoding with libwebp (lossy or lossless), metadata with libwebpmux.
 *
 * libwebp encodes a whole picture at once, so this sink collects the image: begin()
 * allocates one ARGB picture (4 bytes a pixel) from the job's lp_mem and hands it to
 * libwebp as user-owned memory; write() packs each strip's RGB8/RGBA8 rows into it;
 * finish() encodes. Without metadata the encoder writes straight into lp_output (no
 * compressed copy in memory); with ICC/EXIF/XMP to keep, the bitstream goes to memory
 * and WebPMux wraps it in an extended (VP8X) file with ICCP, EXIF and "XMP " chunks.
 *
 * Memory: the ARGB picture (counted, held_bytes) for the whole job, released as soon as
 * the encoder is done with it. What libwebp allocates while encoding (the YUV copy of a
 * lossy picture, the lossless encoder's hash chains and backward references) is charged
 * with lp_mem_reserve as an estimate for the duration of WebPEncode(); the compressed
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

/* libwebp's working memory beyond our ARGB picture, from the growth of peak RSS during
 * WebPEncode() (libwebp 1.2.4, method 3, photo-like content, 1000x750 to 4000x3000):
 * lossy opaque 4.0-4.5 B/px (YUV planes, tokens); lossy with alpha 16-19 B/px (the alpha
 * plane goes through the lossless coder); lossless 24-28 B/px plus ~8 MiB (hash chains,
 * backward references, transforms). Rounded up. */
#define WEBP_LOSSY_BYTES_PER_PIXEL 5u
#define WEBP_ALPHA_BYTES_PER_PIXEL 15u
#define WEBP_LOSSLESS_BYTES_PER_PIXEL 28u
#define WEBP_FIXED_BYTES (1ull << 20)
#define WEBP_LOSSLESS_FIXED_BYTES (8ull << 20)
#define WEBP_DEFAULT_QUALITY 80

typedef struct webp_sink {
    lp_sink base;
    lp_output *output;
    lp_encode_options opts;
    uint32_t width, height;
    lp_format format;          /* RGB8 or RGBA8 */
    uint32_t *argb;            /* the picture, width x height, counted */
    lp_metadata meta;          /* pointers owned by the source, valid until finish */
    lp_error io_err;           /* why writing to the output failed, when it did */
} webp_sink;

static lp_format webp_accept(const lp_sink *self, lp_format offered)
{
    (void)self;
    return lp_format_has_alpha(offered) ? LP_FORMAT_RGBA8 : LP_FORMAT_RGB8;
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
    size_t bytes = (size_t)info->width * info->height * 4;
    s->argb = lp_mem_alloc(self->mem, bytes, "WebP picture", err);
    if (!s->argb)
        return err ? err->status : LP_ERR_NOMEM;
    self->held_bytes = bytes;
    return LP_OK;
}

static lp_status webp_write(lp_sink *self, const lp_strip *strip, lp_error *err)
{
    (void)err;
    webp_sink *s = (webp_sink *)self;
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
    int quality = s->opts.quality < 0 ? WEBP_DEFAULT_QUALITY : s->opts.quality;
    int method = 6 - s->opts.speed / 2;
    if (!WebPConfigInit(config))
        return lp_error_set(err, LP_ERR_CODEC, "libwebp version mismatch");
    config->quality = (float)(quality > 100 ? 100 : quality);
    config->method = method < 0 ? 0 : method > 6 ? 6 : method;
    config->thread_level = s->opts.threads > 1;
    if (s->opts.lossless) {
        config->lossless = 1;
        config->exact = 1;  /* lossless means every pixel, also RGB under alpha 0 */
    }
    if (!WebPValidateConfig(config))
        return lp_error_set(err, LP_ERR_INVALID_ARG, "invalid WebP settings (quality %d, method %d)",
                            quality, config->method);
    return LP_OK;
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

static uint64_t encoder_estimate(const webp_sink *s, bool lossless)
{
    uint64_t pixels = (uint64_t)s->width * s->height;
    if (lossless)
        return WEBP_LOSSLESS_FIXED_BYTES + pixels * WEBP_LOSSLESS_BYTES_PER_PIXEL;
    uint64_t per_pixel = WEBP_LOSSY_BYTES_PER_PIXEL +
                         (s->format == LP_FORMAT_RGBA8 ? WEBP_ALPHA_BYTES_PER_PIXEL : 0);
    return WEBP_FIXED_BYTES + pixels * per_pixel;
}

/* Encodes the picture into the output (to_memory NULL) or into *to_memory. */
static lp_status encode_picture(webp_sink *s, WebPMemoryWriter *to_memory, lp_error *err)
{
    WebPConfig config;
    lp_status st = setup_config(s, &config, err);
    if (st != LP_OK)
        return st;
    uint64_t estimate = encoder_estimate(s, config.lossless);
    st = lp_mem_reserve(s->base.mem, estimate, "WebP encoder", err);
    if (st != LP_OK)
        return st;
    WebPPicture pic;
    WebPPictureInit(&pic);
    pic.use_argb = 1;
    pic.width = (int)s->width;
    pic.height = (int)s->height;
    pic.argb = s->argb;  /* user-owned: WebPPictureFree leaves it alone */
    pic.argb_stride = (int)s->width;
    if (to_memory) {
        pic.writer = WebPMemoryWrite;
        pic.custom_ptr = to_memory;
    } else {
        pic.writer = write_to_output;
        pic.custom_ptr = s;
    }
    int ok = WebPEncode(&config, &pic);
    WebPEncodingError code = pic.error_code;
    WebPPictureFree(&pic);
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
    lp_mem_release(s->base.mem, s->argb);
    s->argb = NULL;
    s->base.held_bytes = 0;
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
    *out = &s->base;
    return LP_OK;
}
