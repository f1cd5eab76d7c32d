/*
 * jpeg_save.c - the JPEG sink: strips go straight into jpeg_write_scanlines.
 *
 * The sink takes G8 as grayscale and everything else as RGB8 (the pipeline inserts the
 * conversion, which also flattens alpha). Each strip's rows are handed to libjpeg as row
 * pointers into the strip, without a copy; libjpeg's destination manager fills a 64 KiB
 * buffer that is written to the lp_output whenever it is full.
 *
 * Options: quality (LP_JPEG_DEFAULT_QUALITY when -1), chroma 4:2:0 (default) or 4:4:4, progressive.
 *
 * Huffman optimisation (optimal tables instead of the standard ones: 8% smaller on a noisy
 * 27 MP photo, 29% on our synthetic test photo) is a second pass over a whole-image buffer
 * of DCT coefficients in libjpeg (jcinit.c allocates one whenever optimize_coding is set or
 * there are several scans): ~3 bytes a pixel at 4:2:0, 6 at 4:4:4. So:
 *  - progressive output buffers the coefficients anyway: always optimised;
 *  - baseline output is optimised only while that buffer stays under OPTIMIZE_MAX_BYTES
 *    (4 MiB, ~1.4 MP at 4:2:0: thumbnails, web images, the server's cards) and the job's
 *    budget accepts it; bigger images stream strip by strip with the standard tables,
 *    which is what cjpeg and libvips do by default at every size.
 * Whenever the coefficients are buffered they are reserved in the job's lp_mem, reported
 * in held_bytes and flagged whole_image.
 *
 * Metadata (unless strip_metadata): ICC through jpeg_write_icc_profile (split into APP2
 * chunks), EXIF as APP1 "Exif\0\0" + TIFF stream, XMP as APP1 with Adobe's namespace
 * header. A block too big for one segment (EXIF over 65527 bytes, XMP over 65504; extended
 * XMP is not written) is left out rather than truncated. When EXIF is written the JFIF
 * APP0 header is not, so the EXIF APP1 directly follows SOI as the Exif spec requires.
 *
 * Memory: the 64 KiB output buffer (counted); libjpeg's working memory is a few MCU rows
 * (not counted: ~20 rows of the image width), plus the coefficient buffer described above
 * when it is used.
 */
#include "jpeg_glue.h"
#include "leanpix/codec.h"

#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

#define OUT_BUFFER_BYTES (64u * 1024u)
#define MAX_MARKER_PAYLOAD 65533u
#define OPTIMIZE_MAX_BYTES (4u * 1024u * 1024u)  /* a segment's length field counts itself (2 bytes) */

static const char EXIF_HEADER[6] = {'E', 'x', 'i', 'f', 0, 0};
static const char XMP_HEADER[] = "http://ns.adobe.com/xap/1.0/";  /* + its NUL: 29 bytes */

typedef struct jpeg_sink {
    lp_sink base;
    struct jpeg_compress_struct cinfo;
    struct jpeg_error_mgr jerr;
    struct jpeg_destination_mgr dest;
    jpeg_failure failure;     /* libjpeg error_exit -> lp_status (jpeg_glue.h) */
    bool cinfo_ready;
    bool started;
    lp_output *output;
    lp_encode_options opts;
    uint8_t *buffer;         /* OUT_BUFFER_BYTES, counted */
    uint64_t reserved;       /* progressive coefficient estimate, charged with lp_mem_reserve */
} jpeg_sink;

static jpeg_sink *sink_of(j_common_ptr cinfo)
{
    return (jpeg_sink *)cinfo->client_data;
}

static void on_error_exit(j_common_ptr cinfo)
{
    char text[JMSG_LENGTH_MAX];
    cinfo->err->format_message(cinfo, text);
    if (text[0] && isupper((unsigned char)text[0]) && !isupper((unsigned char)text[1]))
        text[0] = (char)tolower((unsigned char)text[0]);
    lp_status st = cinfo->err->msg_code == JERR_OUT_OF_MEMORY ? LP_ERR_NOMEM : LP_ERR_CODEC;
    jpeg_failure_raise(&sink_of(cinfo)->failure, st, "JPEG encoder: %s", text);
}

static void on_emit_message(j_common_ptr cinfo, int msg_level)
{
    (void)cinfo;
    (void)msg_level;  /* the compressor's warnings concern nothing we pass it */
}

/* ---- destination manager: 64 KiB buffer -> lp_output ---- */

static void dest_init(j_compress_ptr cinfo)
{
    jpeg_sink *s = sink_of((j_common_ptr)cinfo);
    s->dest.next_output_byte = s->buffer;
    s->dest.free_in_buffer = OUT_BUFFER_BYTES;
}

static void flush_bytes(jpeg_sink *s, size_t size)
{
    lp_error e = {0};
    if (size && lp_output_write(s->output, s->buffer, size, &e) != LP_OK)
        jpeg_failure_raise(&s->failure, e.status, "%s", lp_error_message(&e));
}

static boolean dest_empty(j_compress_ptr cinfo)
{
    jpeg_sink *s = sink_of((j_common_ptr)cinfo);
    flush_bytes(s, OUT_BUFFER_BYTES);  /* libjpeg calls this only when the buffer is full */
    dest_init(cinfo);
    return TRUE;
}

static void dest_term(j_compress_ptr cinfo)
{
    jpeg_sink *s = sink_of((j_common_ptr)cinfo);
    flush_bytes(s, OUT_BUFFER_BYTES - s->dest.free_in_buffer);
    dest_init(cinfo);
}

/* ---- sink ---- */

static lp_format jpeg_accept(const lp_sink *self, lp_format offered)
{
    (void)self;
    return offered == LP_FORMAT_G8 ? LP_FORMAT_G8 : LP_FORMAT_RGB8;
}

/* The coefficient buffer of a multi-scan encode: per component its blocks, rounded up to
 * whole MCUs, 64 coefficients of 2 bytes (jccoefct.c). */
static uint64_t coefficient_bytes(const struct jpeg_compress_struct *cinfo)
{
    int max_h = 1, max_v = 1;
    for (int c = 0; c < cinfo->num_components; c++) {
        if (cinfo->comp_info[c].h_samp_factor > max_h)
            max_h = cinfo->comp_info[c].h_samp_factor;
        if (cinfo->comp_info[c].v_samp_factor > max_v)
            max_v = cinfo->comp_info[c].v_samp_factor;
    }
    uint64_t total = 0;
    for (int c = 0; c < cinfo->num_components; c++) {
        uint64_t hs = (uint64_t)cinfo->comp_info[c].h_samp_factor;
        uint64_t vs = (uint64_t)cinfo->comp_info[c].v_samp_factor;
        uint64_t w = ((uint64_t)cinfo->image_width * hs + (uint64_t)max_h - 1) / (uint64_t)max_h;
        uint64_t h = ((uint64_t)cinfo->image_height * vs + (uint64_t)max_v - 1) / (uint64_t)max_v;
        uint64_t wb = (w + DCTSIZE - 1) / DCTSIZE, hb = (h + DCTSIZE - 1) / DCTSIZE;
        wb = (wb + hs - 1) / hs * hs;
        hb = (hb + vs - 1) / vs * vs;
        total += wb * hb * DCTSIZE2 * sizeof(JCOEF);
    }
    return total;
}

static void configure(jpeg_sink *s, const lp_image_info *info)
{
    j_compress_ptr cinfo = &s->cinfo;
    bool gray = info->format == LP_FORMAT_G8;
    cinfo->image_width = info->width;
    cinfo->image_height = info->height;
    cinfo->input_components = gray ? 1 : 3;
    cinfo->in_color_space = gray ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(cinfo);
    int quality = s->opts.quality < 0 ? LP_JPEG_DEFAULT_QUALITY : s->opts.quality > 100 ? 100 : s->opts.quality;
    jpeg_set_quality(cinfo, quality, TRUE);
    if (!gray) {
        int luma = s->opts.chroma == LP_CHROMA_444 ? 1 : 2;
        cinfo->comp_info[0].h_samp_factor = luma;
        cinfo->comp_info[0].v_samp_factor = luma;
        for (int c = 1; c < 3; c++)
            cinfo->comp_info[c].h_samp_factor = cinfo->comp_info[c].v_samp_factor = 1;
    }
    if (s->opts.progressive)
        jpeg_simple_progression(cinfo);
    if (!s->opts.strip_metadata && info->meta.exif && info->meta.exif_size > 0 &&
        info->meta.exif_size + sizeof EXIF_HEADER <= MAX_MARKER_PAYLOAD)
        cinfo->write_JFIF_header = FALSE;
}

/* Decides whether libjpeg buffers the image's coefficients (see the header comment) and
 * reserves them if so. Only progressive output fails when the budget refuses. */
static lp_status plan_coefficients(jpeg_sink *s, lp_error *err)
{
    uint64_t bytes = coefficient_bytes(&s->cinfo);
    if (s->opts.progressive) {
        lp_status st = lp_mem_reserve(s->base.mem, bytes, "JPEG coefficient buffer (progressive)", err);
        if (st != LP_OK)
            return st;
    } else if (bytes > OPTIMIZE_MAX_BYTES ||
               lp_mem_reserve(s->base.mem, bytes, "JPEG coefficient buffer", NULL) != LP_OK) {
        s->cinfo.optimize_coding = FALSE;  /* stream with the standard tables */
        return LP_OK;
    }
    s->cinfo.optimize_coding = TRUE;
    s->reserved = bytes;
    s->base.held_bytes = (size_t)bytes;
    s->base.whole_image = true;
    return LP_OK;
}

static void write_app1(jpeg_sink *s, const char *header, size_t header_size, const uint8_t *data,
                       size_t size)
{
    if (!data || size == 0 || size + header_size > MAX_MARKER_PAYLOAD)
        return;
    jpeg_write_m_header(&s->cinfo, JPEG_APP0 + 1, (unsigned)(size + header_size));
    for (size_t i = 0; i < header_size; i++)
        jpeg_write_m_byte(&s->cinfo, (unsigned char)header[i]);
    for (size_t i = 0; i < size; i++)
        jpeg_write_m_byte(&s->cinfo, data[i]);
}

static void write_metadata(jpeg_sink *s, const lp_metadata *meta)
{
    if (s->opts.strip_metadata)
        return;
    write_app1(s, EXIF_HEADER, sizeof EXIF_HEADER, meta->exif, meta->exif_size);
    if (meta->icc && meta->icc_size > 0 && meta->icc_size <= 0xFFFFFFFFu)
        jpeg_write_icc_profile(&s->cinfo, meta->icc, (unsigned)meta->icc_size);
    write_app1(s, XMP_HEADER, sizeof XMP_HEADER, meta->xmp, meta->xmp_size);
}

static lp_status jpeg_begin(lp_sink *self, const lp_image_info *info, lp_error *err)
{
    jpeg_sink *s = (jpeg_sink *)self;
    if (info->format != LP_FORMAT_G8 && info->format != LP_FORMAT_RGB8)
        return lp_error_set(err, LP_ERR_INTERNAL, "jpeg-save cannot take %s pixels",
                            lp_format_name(info->format));
    if (info->width > JPEG_MAX_DIMENSION || info->height > JPEG_MAX_DIMENSION)
        return lp_error_set(err, LP_ERR_TOO_BIG, "%ux%u is over JPEG's limit of %u pixels a side",
                            info->width, info->height, (unsigned)JPEG_MAX_DIMENSION);
    if (setjmp(s->failure.jump))
        return jpeg_failure_report(&s->failure, err);
    configure(s, info);
    lp_status st = plan_coefficients(s, err);
    if (st != LP_OK)
        return st;
    jpeg_start_compress(&s->cinfo, TRUE);
    s->started = true;
    write_metadata(s, &info->meta);
    return LP_OK;
}

static lp_status jpeg_write(lp_sink *self, const lp_strip *strip, lp_error *err)
{
    jpeg_sink *s = (jpeg_sink *)self;
    if (s->failure.failed || !s->started)
        return lp_error_set(err, s->failure.failed ? s->failure.status : LP_ERR_INTERNAL, "%s",
                            s->failure.failed ? s->failure.message : "jpeg-save: write before begin");
    if (setjmp(s->failure.jump))
        return jpeg_failure_report(&s->failure, err);
    for (uint32_t r = 0; r < strip->rows; r++) {
        JSAMPROW row = (JSAMPROW)(strip->data + (size_t)r * strip->stride);
        jpeg_write_scanlines(&s->cinfo, &row, 1);
    }
    return LP_OK;
}

static lp_status jpeg_finish(lp_sink *self, lp_error *err)
{
    jpeg_sink *s = (jpeg_sink *)self;
    if (s->failure.failed || !s->started)
        return lp_error_set(err, s->failure.failed ? s->failure.status : LP_ERR_INTERNAL, "%s",
                            s->failure.failed ? s->failure.message : "jpeg-save: finish before begin");
    if (setjmp(s->failure.jump))
        return jpeg_failure_report(&s->failure, err);
    jpeg_finish_compress(&s->cinfo);
    return LP_OK;
}

static void jpeg_destroy_sink(lp_sink *self)
{
    jpeg_sink *s = (jpeg_sink *)self;
    if (s->cinfo_ready)
        jpeg_destroy_compress(&s->cinfo);
    lp_mem_release(self->mem, s->buffer);
    lp_mem_unreserve(self->mem, s->reserved);
    free(s);
}

static const lp_sink_ops jpeg_sink_ops = {
    .name = "jpeg-save",
    .accept = jpeg_accept,
    .begin = jpeg_begin,
    .write = jpeg_write,
    .finish = jpeg_finish,
    .destroy = jpeg_destroy_sink,
};

lp_status lp_jpeg_sink_new(lp_sink **out, lp_output *output, const lp_encode_options *opts,
                           lp_mem *mem, lp_error *err)
{
    *out = NULL;
    if (opts && opts->quality > 100)
        return lp_error_set(err, LP_ERR_INVALID_ARG, "JPEG quality %d is over 100", opts->quality);
    jpeg_sink *s = calloc(1, sizeof *s);
    if (!s)
        return lp_error_set(err, LP_ERR_NOMEM, "cannot allocate a JPEG encoder");
    s->base.ops = &jpeg_sink_ops;
    s->base.mem = mem;
    s->output = output;
    if (opts)
        s->opts = *opts;
    else
        lp_encode_options_default(&s->opts, LP_FILE_JPEG);
    s->buffer = lp_mem_alloc(mem, OUT_BUFFER_BYTES, "JPEG output buffer", err);
    if (!s->buffer) {
        free(s);
        return err ? err->status : LP_ERR_NOMEM;
    }
    if (setjmp(s->failure.jump)) {
        lp_status st = jpeg_failure_report(&s->failure, err);
        jpeg_destroy_sink(&s->base);
        return st;
    }
    s->cinfo.err = jpeg_std_error(&s->jerr);
    s->jerr.error_exit = on_error_exit;
    s->jerr.emit_message = on_emit_message;
    jpeg_create_compress(&s->cinfo);
    s->cinfo.client_data = s;
    s->cinfo_ready = true;
    s->dest.init_destination = dest_init;
    s->dest.empty_output_buffer = dest_empty;
    s->dest.term_destination = dest_term;
    s->cinfo.dest = &s->dest;
    *out = &s->base;
    return LP_OK;
}
