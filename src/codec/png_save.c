/*
 * png_save.c - PNG encoding with libspng's progressive API, row by row as strips arrive.
 *
 * begin() writes the header and the metadata chunks (iCCP, eXIf, an iTXt
 * "XML:com.adobe.xmp" for XMP) and starts the IDAT stream; write() hands each row to
 * spng_encode_row(), which filters and deflates it and writes full IDAT chunks through a
 * callback into lp_output; the last row finalizes the file (IEND). Nothing of the image
 * is kept beyond the row being compressed.
 *
 * Any of the eight lp_formats is written as is (gray, gray+alpha, RGB, RGBA at 8 or 16
 * bits). opts->bit_depth 8 or 16 asks for that depth: accept() answers the converted
 * format and the pipeline converts. PNG stores 16-bit samples big-endian, so 16-bit rows
 * are swapped into one row buffer (SPNG_FMT_RAW) before they are handed over.
 *
 * Memory: one row buffer for 16-bit images, plus spng's state (zlib deflate state and
 * window, two scanlines, an 8 KiB write buffer), charged with lp_mem_reserve as an
 * estimate. The metadata stays owned by the source; spng only points at it, except the
 * XMP packet: spng takes iTXt text as a C string (it strlen()s it while encoding), and
 * lp_metadata's XMP is a sized buffer with no terminating NUL (a JPEG's APP1 payload),
 * so the sink keeps a NUL-terminated copy, counted, until it is destroyed.
 */
#include "leanpix/codec.h"

#include <inttypes.h>
#include <spng.h>
#include <stdlib.h>
#include <string.h>

/* zlib deflate at memLevel 8 and a 32 KiB window (~270 KiB), context, write buffer. */
#define PNG_ENCODER_OVERHEAD (320u << 10)
#define PNG_XMP_KEYWORD "XML:com.adobe.xmp"

typedef struct png_sink {
    lp_sink base;
    lp_output *output;
    unsigned bit_depth;       /* from the options: 0 (as offered), 8 or 16 */
    int level;                /* zlib level 0..9 */
    bool strip_metadata;
    spng_ctx *ctx;
    lp_format format;
    uint32_t width, height;
    uint32_t rows_done;
    size_t row_bytes;
    uint8_t *row;             /* 16-bit: the current row in big-endian order */
    uint64_t reserved;
    struct spng_text xmp;     /* spng keeps a pointer to this until the header is out */
    char *xmp_text;           /* the XMP packet NUL-terminated for spng (counted) */
    char empty[1];            /* the iTXt language tag and translated keyword */
    lp_error io_err;          /* why the write callback failed, when it did */
} png_sink;

static int write_stream(spng_ctx *ctx, void *user, void *src, size_t length)
{
    (void)ctx;
    png_sink *s = user;
    return lp_output_write(s->output, src, length, &s->io_err) == LP_OK ? 0 : SPNG_IO_ERROR;
}

static lp_status spng_failure(png_sink *s, int code, const char *what, lp_error *err)
{
    if (code == SPNG_IO_ERROR && s->io_err.status != LP_OK)
        return lp_error_set(err, s->io_err.status, "%s", s->io_err.message);
    return lp_error_set(err, code == SPNG_EMEM ? LP_ERR_NOMEM : LP_ERR_CODEC, "PNG %s: %s", what,
                        spng_strerror(code));
}

static lp_format png_accept(const lp_sink *self, lp_format offered)
{
    const png_sink *s = (const png_sink *)self;
    if ((unsigned)offered >= LP_FORMAT_COUNT)
        return LP_FORMAT_RGB8;
    bool sixteen = lp_format_sample_bytes(offered) == 2;
    if (s->bit_depth == 8)
        sixteen = false;
    else if (s->bit_depth == 16)
        sixteen = true;
    return lp_format_make(lp_format_is_gray(offered), lp_format_has_alpha(offered), sixteen);
}

static uint8_t colour_type_of(lp_format f)
{
    bool alpha = lp_format_has_alpha(f);
    if (lp_format_is_gray(f))
        return alpha ? SPNG_COLOR_TYPE_GRAYSCALE_ALPHA : SPNG_COLOR_TYPE_GRAYSCALE;
    return alpha ? SPNG_COLOR_TYPE_TRUECOLOR_ALPHA : SPNG_COLOR_TYPE_TRUECOLOR;
}

/* Metadata chunks, written before IDAT so that a streaming reader sees them first. */
static lp_status set_metadata(png_sink *s, const lp_metadata *m, lp_error *err)
{
    int rc;
    if (m->icc && m->icc_size) {
        struct spng_iccp iccp = {.profile_len = m->icc_size, .profile = (char *)m->icc};
        strcpy(iccp.profile_name, "ICC Profile");
        if ((rc = spng_set_iccp(s->ctx, &iccp)) != 0)
            return spng_failure(s, rc, "ICC profile", err);
    }
    if (m->exif && m->exif_size) {
        /* An EXIF block that is not a TIFF stream is dropped, not written broken: the
         * pixels matter more than a damaged tag set. */
        struct spng_exif exif = {.length = m->exif_size, .data = (char *)m->exif};
        if ((rc = spng_set_exif(s->ctx, &exif)) != 0 && rc != SPNG_EEXIF)
            return spng_failure(s, rc, "EXIF block", err);
    }
    if (m->xmp && m->xmp_size) {
        s->xmp_text = lp_mem_alloc(s->base.mem, m->xmp_size + 1, "PNG XMP text", err);
        if (!s->xmp_text)
            return err ? err->status : LP_ERR_NOMEM;
        memcpy(s->xmp_text, m->xmp, m->xmp_size);
        s->xmp_text[m->xmp_size] = '\0';
        memset(&s->xmp, 0, sizeof s->xmp);
        strcpy(s->xmp.keyword, PNG_XMP_KEYWORD);
        s->xmp.type = SPNG_ITXT;
        s->xmp.length = m->xmp_size;
        s->xmp.text = s->xmp_text;
        s->xmp.language_tag = s->empty;
        s->xmp.translated_keyword = s->empty;
        if ((rc = spng_set_text(s->ctx, &s->xmp, 1)) != 0)
            return spng_failure(s, rc, "XMP packet", err);
    }
    return LP_OK;
}

static lp_status png_begin(lp_sink *self, const lp_image_info *info, lp_error *err)
{
    png_sink *s = (png_sink *)self;
    s->format = info->format;
    s->width = info->width;
    s->height = info->height;
    s->row_bytes = (size_t)info->width * lp_format_pixel_bytes(info->format);
    bool sixteen = lp_format_sample_bytes(info->format) == 2;

    uint64_t estimate = PNG_ENCODER_OVERHEAD + 2 * (uint64_t)s->row_bytes;
    lp_status st = lp_mem_reserve(self->mem, estimate, "PNG encoder state", err);
    if (st != LP_OK)
        return st;
    s->reserved = estimate;
    if (sixteen) {
        s->row = lp_mem_alloc(self->mem, s->row_bytes, "PNG row", err);
        if (!s->row)
            return err ? err->status : LP_ERR_NOMEM;
    }
    s->ctx = spng_ctx_new(SPNG_CTX_ENCODER);
    if (!s->ctx)
        return lp_error_set(err, LP_ERR_NOMEM, "cannot create a PNG encoder");
    int rc = spng_set_png_stream(s->ctx, write_stream, s);
    struct spng_ihdr ihdr = {
        .width = info->width,
        .height = info->height,
        .bit_depth = sixteen ? 16 : 8,
        .color_type = colour_type_of(info->format),
    };
    if (rc == 0)
        rc = spng_set_ihdr(s->ctx, &ihdr);
    if (rc == 0)
        rc = spng_set_option(s->ctx, SPNG_IMG_COMPRESSION_LEVEL, s->level);
    if (rc != 0)
        return spng_failure(s, rc, "header", err);
    if (!s->strip_metadata && (st = set_metadata(s, &info->meta, err)) != LP_OK)
        return st;
    rc = spng_encode_image(s->ctx, NULL, 0, SPNG_FMT_RAW,
                           SPNG_ENCODE_PROGRESSIVE | SPNG_ENCODE_FINALIZE);
    if (rc != 0)
        return spng_failure(s, rc, "start of image data", err);
    return LP_OK;
}

/* Host-order uint16_t samples to PNG's big-endian bytes. */
static void to_big_endian(uint8_t *dst, const uint8_t *src, size_t bytes)
{
    for (size_t i = 0; i + 1 < bytes; i += 2) {
        uint16_t v;
        memcpy(&v, src + i, 2);
        dst[i] = (uint8_t)(v >> 8);
        dst[i + 1] = (uint8_t)v;
    }
}

static lp_status png_write(lp_sink *self, const lp_strip *strip, lp_error *err)
{
    png_sink *s = (png_sink *)self;
    for (uint32_t r = 0; r < strip->rows; r++) {
        const uint8_t *row = strip->data + (size_t)r * strip->stride;
        if (s->row) {
            to_big_endian(s->row, row, s->row_bytes);
            row = s->row;
        }
        int rc = spng_encode_row(s->ctx, row, s->row_bytes);
        s->rows_done++;
        /* SPNG_EOI: that was the last row and the file is finalized. */
        if (rc != 0 && !(rc == SPNG_EOI && s->rows_done == s->height))
            return spng_failure(s, rc, "image data", err);
    }
    return LP_OK;
}

static lp_status png_finish(lp_sink *self, lp_error *err)
{
    png_sink *s = (png_sink *)self;
    if (s->rows_done != s->height)
        return lp_error_set(err, LP_ERR_INTERNAL, "PNG encoder got %" PRIu32 " of %" PRIu32 " rows",
                            s->rows_done, s->height);
    return LP_OK;
}

static void png_destroy(lp_sink *self)
{
    png_sink *s = (png_sink *)self;
    spng_ctx_free(s->ctx);
    lp_mem_release(self->mem, s->row);
    lp_mem_release(self->mem, s->xmp_text);
    lp_mem_unreserve(self->mem, s->reserved);
    free(s);
}

static const lp_sink_ops png_sink_ops = {
    .name = "png-save",
    .accept = png_accept,
    .begin = png_begin,
    .write = png_write,
    .finish = png_finish,
    .destroy = png_destroy,
};

lp_status lp_png_check_options(const lp_encode_options *opts, lp_error *err)
{
    if (opts->bit_depth != 0 && opts->bit_depth != 8 && opts->bit_depth != 16)
        return lp_error_set(err, LP_ERR_INVALID_ARG, "PNG bit depth must be 8 or 16, not %u",
                            opts->bit_depth);
    if (opts->png_level < -1 || opts->png_level > 9)
        return lp_error_set(err, LP_ERR_INVALID_ARG, "PNG compression level must be 0..9, not %d",
                            opts->png_level);
    return LP_OK;
}

lp_status lp_png_sink_new(lp_sink **out, lp_output *output, const lp_encode_options *opts,
                          lp_mem *mem, lp_error *err)
{
    *out = NULL;
    lp_status checked = lp_png_check_options(opts, err);
    if (checked != LP_OK)
        return checked;
    png_sink *s = calloc(1, sizeof *s);
    if (!s)
        return lp_error_set(err, LP_ERR_NOMEM, "cannot allocate a PNG encoder");
    s->base.ops = &png_sink_ops;
    s->base.mem = mem;
    s->output = output;
    s->bit_depth = opts->bit_depth;
    s->level = opts->png_level < 0 ? 6 : opts->png_level;
    s->strip_metadata = opts->strip_metadata;
    *out = &s->base;
    return LP_OK;
}
