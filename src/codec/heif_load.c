/*
 * heif_load.c - the HEIC/HEIF source: libheif behind an lp_stage.
 *
 * Creation first reads the meta box with our own reader (heif_boxes.c, heif_items.c),
 * which checks what libheif 1.15 would follow without a bound (loops of item references,
 * overlays, a grid's own size, more top-level boxes than real files have) and the meta
 * box's size against limits.max_metadata_bytes; what it refuses is refused, before
 * libheif reads a byte. libheif parses the container into objects of its own, outside
 * our allocator, up to HEIF_PARSE_BYTES_PER_META_BYTE per byte of the meta box: that is
 * reserved in the job's lp_mem before it parses. Then libheif reads the container (ftyp,
 * meta; the other top-level boxes by their headers, past mdat) through a heif_reader
 * over lp_input_read_at, so the compressed image data stays in the file until the decode
 * asks for it. The primary image's size (after its transformations) is checked against
 * lp_limits before anything is decoded; libheif's own security limit on width and height
 * is set from the same limits, so a declared size it would refuse is refused here with
 * our message.
 *
 * Decoding: libheif 1.15 has no way to decode a grid cell by cell for the caller, or to
 * hand out rows before the whole primary image is decoded, colour-converted and
 * transformed. So the first next() decodes the whole image to interleaved RGB(A), 8-bit
 * or (for 10/12-bit HEVC) 16-bit, and the strips are cut from it: 8-bit strips point
 * into libheif's image, 16-bit ones are scaled to the full 16-bit range in a strip
 * buffer. The stage is whole_image; what libheif allocates cannot go through our
 * allocator (1.15 has no allocator hook), so an estimate measured with VmHWM (see
 * HEIF_RGB_FACTOR) is reserved in the job's lp_mem at creation, before
 * anything is decoded, and reported in held_bytes.
 *
 * Orientation: HEIF says how to show an image with the irot, imir and clap properties of
 * the item; an EXIF orientation tag inside the file must be ignored when they are there
 * (HEIF 6.5.11/MIAF 7.3.6.7: the transformative properties are what a reader applies).
 * libheif applies them while decoding, which it must do anyway for clap (the HEVC frame
 * of an odd-sized image is padded and cropped back by clap). So this source yields the
 * pixels as displayed and says meta.orientation = 1, and the EXIF it carries has its
 * orientation tag reset to 1 when it said otherwise, so that no reader downstream turns
 * the image a second time.
 *
 * Metadata: the ICC profile (colr prof/rICC), the first Exif item (its 4-byte offset to
 * the TIFF header skipped) and the first XMP item (mime application/rdf+xml), copied
 * into counted buffers under limits.max_metadata_bytes; what cannot be kept is dropped
 * with a reason in meta.dropped, it never fails the image.
 */
#include "codec/heif_boxes.h"
#include "codec/source_common.h"
#include "codec/source_meta.h"
#include "leanpix/codec.h"

#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <libheif/heif.h>

#define HEIF_STRIP_ROWS 16u

/* Bytes libheif 1.15 holds at its peak while it decodes the primary image: the decoded
 * YCbCr planes (a grid's cells copied into a canvas of that size), the HEVC decoder's
 * (libde265 1.0.11) or AV1 decoder's picture buffers, and the interleaved RGB(A) result it
 * converts the planes into while they are still held. Measured as the growth of VmHWM
 * over decoding a 6000x4000 (24 MP) photo-like image and pulling every strip, with
 * tests/helpers/decode_peak (docs/formats.md):
 *   HEIC (heif-enc, x265) 8-bit 4:2:0 -> RGB8        239.8 MB =  9.99 bytes/pixel
 *   AVIF 8-bit 4:2:0 -> RGB8: one frame 174.7 MB = 7.28; grid 6x4 153.8 MB = 6.41
 *   AVIF 8-bit 4:4:4 -> RGB8                          320.8 MB = 13.37
 *   AVIF 10-bit 4:2:0 -> RGB16                        444.4 MB = 18.52
 * So per pixel: HEIF_RGB_FACTOR bytes per byte of output pixel plus HEIF_YUV_FACTOR per
 * byte of decoded YCbCr(A) (1.5 for 8-bit 4:2:0), which covers each case above
 * (10.5, 16.5, 21 for the HEIC, 4:4:4 and 10-bit ones). */
#define HEIF_RGB_FACTOR 1.5
#define HEIF_YUV_FACTOR 4.0

/* What a decode holds whatever the picture's size: libheif's context and image objects and
 * the HEVC decoder's, about 170 kB of heap on a 64x43 picture beyond what the factors above
 * give (valgrind massif, 2026-12-03). */
#define HEIF_DECODER_FIXED_BYTES (256u * 1024u)

/* What libheif 1.15 holds after parsing a container, per byte of its meta box (glibc heap
 * in use after heif_context_read_from_file, 2026-12-03): 15-17 for boxes of 8 bytes (a
 * meta box of 7.6 MB of empty boxes: 126.7 MB), 21 for avifenc's 50x50 grid (122,785
 * bytes: 2.51 MB), 34 for 19,500 minimal infe entries (479,785 bytes: 16.4 MB). */
#define HEIF_PARSE_BYTES_PER_META_BYTE 40u

typedef struct heif_source {
    lp_stage base;
    lp_source_common common;      /* input, limits, metadata copies, reservation */
    int64_t pos;                  /* the reader's position */
    lp_error io_err;              /* why the reader failed, when it did */
    struct heif_context *ctx;
    struct heif_image_handle *handle;
    struct heif_image *image;     /* the decoded image, after the first next() */
    const uint8_t *plane;         /* its interleaved pixels */
    int plane_stride;
    unsigned bits;                /* 8, or 9..16 for the 16-bit formats */
    unsigned chroma_samples;      /* from our meta reader, for the estimate (0: unknown) */
    uint8_t *strip;               /* 16-bit: HEIF_STRIP_ROWS scaled rows */
    size_t row_bytes;
    uint32_t next_row;
    bool decoded;
} heif_source;

/* ---- heif_reader over lp_input ---- */

static int64_t reader_position(void *user)
{
    return ((heif_source *)user)->pos;
}

/* libheif checks sizes with wait_for_file_size first, so a short read is the file
 * having shrunk or an I/O error: both fail the read. */
static int reader_read(void *data, size_t size, void *user)
{
    heif_source *s = user;
    size_t got = 0;
    lp_error e = {0};
    if (s->pos < 0 ||
        lp_input_read_at(s->common.in, (uint64_t)s->pos, data, size, &got, &e) != LP_OK) {
        if (s->io_err.status == LP_OK)
            s->io_err = e;
        return -1;
    }
    s->pos += (int64_t)got;
    if (got < size) {
        if (s->io_err.status == LP_OK)
            lp_error_set(&s->io_err, LP_ERR_TRUNCATED, "HEIF data ends early (at byte %" PRId64 ")",
                         s->pos);
        return -1;
    }
    return 0;
}

static int reader_seek(int64_t position, void *user)
{
    heif_source *s = user;
    if (position < 0 || (uint64_t)position > lp_input_size(s->common.in))
        return -1;
    s->pos = position;
    return 0;
}

static enum heif_reader_grow_status reader_wait(int64_t target, void *user)
{
    heif_source *s = user;
    return target >= 0 && (uint64_t)target <= lp_input_size(s->common.in)
               ? heif_reader_grow_status_size_reached
               : heif_reader_grow_status_size_beyond_eof;
}

static const struct heif_reader lp_heif_reader = {
    .reader_api_version = 1,
    .get_position = reader_position,
    .read = reader_read,
    .seek = reader_seek,
    .wait_for_file_size = reader_wait,
};

/* ---- errors ---- */

static lp_status status_of_heif(const struct heif_error *e)
{
    if (e->subcode == heif_suberror_Security_limit_exceeded)
        return LP_ERR_LIMITS;
    if (e->subcode == heif_suberror_End_of_data)
        return LP_ERR_TRUNCATED;
    switch (e->code) {
    case heif_error_Memory_allocation_error: return LP_ERR_NOMEM;
    case heif_error_Unsupported_filetype:
    case heif_error_Unsupported_feature: return LP_ERR_UNSUPPORTED;
    case heif_error_Decoder_plugin_error: return LP_ERR_CODEC;
    case heif_error_Usage_error: return LP_ERR_INTERNAL;
    default: return LP_ERR_CORRUPT;
    }
}

/* One line: our reader's reason first (it knows the file ended), else libheif's. */
static lp_status heif_failure(heif_source *s, const struct heif_error *e, const char *where,
                              lp_error *err)
{
    if (s->io_err.status != LP_OK)
        return lp_error_set(err, s->io_err.status, "%s", s->io_err.message);
    return lp_error_set(err, status_of_heif(e), "HEIF %s: %s", where,
                        e->message && *e->message ? e->message : "libheif error");
}

/* ---- header and metadata ---- */

static void note_dropped(heif_source *s, const char *why)
{
    lp_meta_note_dropped(&s->base, why);
}

static uint8_t *metadata_buffer(heif_source *s, size_t size, const char *what)
{
    return lp_meta_buffer(&s->base, s->common.limits.max_metadata_bytes,
                          &s->common.metadata_bytes, size, what);
}

static void read_icc(heif_source *s)
{
    enum heif_color_profile_type type = heif_image_handle_get_color_profile_type(s->handle);
    if (type != heif_color_profile_type_prof && type != heif_color_profile_type_rICC)
        return;
    size_t size = heif_image_handle_get_raw_color_profile_size(s->handle);
    if (size == 0)
        return;
    uint8_t *icc = metadata_buffer(s, size, "HEIF ICC profile");
    if (!icc)
        return;
    struct heif_error e = heif_image_handle_get_raw_color_profile(s->handle, icc);
    if (e.code != heif_error_Ok) {
        note_dropped(s, "ICC profile could not be read");
        lp_mem_release(s->base.mem, icc);
        s->common.metadata_bytes -= size;
        return;
    }
    s->common.icc = icc;
    s->base.info.meta.icc = icc;
    s->base.info.meta.icc_size = size;
}

/* The first metadata item of the given type (and content type, for "mime"), read into a
 * counted buffer; NULL when there is none or it cannot be kept. */
static uint8_t *read_item(heif_source *s, const char *type, const char *content_type,
                          size_t *size_out, const char *what)
{
    heif_item_id ids[16];
    int n = heif_image_handle_get_list_of_metadata_block_IDs(s->handle, type, ids, 16);
    for (int i = 0; i < n; i++) {
        if (content_type) {
            const char *ct = heif_image_handle_get_metadata_content_type(s->handle, ids[i]);
            if (!ct || strcmp(ct, content_type) != 0)
                continue;
        }
        size_t size = heif_image_handle_get_metadata_size(s->handle, ids[i]);
        if (size == 0)
            return NULL;
        uint8_t *buf = metadata_buffer(s, size, what);
        if (!buf)
            return NULL;
        struct heif_error e = heif_image_handle_get_metadata(s->handle, ids[i], buf);
        if (e.code != heif_error_Ok) {
            note_dropped(s, "metadata item could not be read");
            lp_mem_release(s->base.mem, buf);
            s->common.metadata_bytes -= size;
            lp_error_clear(&s->io_err);  /* the image may still decode */
            return NULL;
        }
        *size_out = size;
        return buf;
    }
    return NULL;
}

/* Keeps the TIFF stream of an Exif item in s->common.exif: the item starts with a 4-byte
 * big-endian offset from its end to the TIFF header (usually 6: "Exif\0\0"). The
 * orientation tag is reset to 1 because the pixels come out turned (see the top). */
static void keep_exif(heif_source *s, uint8_t *item, size_t size)
{
    lp_metadata *m = &s->base.info.meta;
    uint32_t offset = size >= 4 ? (uint32_t)item[0] << 24 | (uint32_t)item[1] << 16 |
                                      (uint32_t)item[2] << 8 | item[3]
                                : UINT32_MAX;
    if (size < 4 || offset > size - 4 || !lp_exif_is_tiff(item + 4 + offset, size - 4 - offset)) {
        note_dropped(s, "EXIF block is truncated or not a TIFF stream");
        return;
    }
    const uint8_t *tiff = item + 4 + offset;
    size_t tiff_size = size - 4 - offset;
    size_t reset_size = 0;
    uint8_t *reset = lp_exif_orientation(tiff, tiff_size) != 1
                         ? lp_exif_reset_orientation(tiff, tiff_size, &reset_size)
                         : NULL;
    if (reset) {
        tiff = reset;
        tiff_size = reset_size;
    }
    s->common.exif = metadata_buffer(s, tiff_size, "HEIF EXIF copy");
    if (s->common.exif) {
        memcpy(s->common.exif, tiff, tiff_size);
        m->exif = s->common.exif;
        m->exif_size = tiff_size;
    }
    free(reset);
}

static void read_metadata(heif_source *s)
{
    read_icc(s);
    size_t size = 0;
    uint8_t *item = read_item(s, "Exif", NULL, &size, "HEIF Exif item");
    if (item) {
        keep_exif(s, item, size);
        lp_mem_release(s->base.mem, item);
        s->common.metadata_bytes -= size;
    }
    s->common.xmp = read_item(s, "mime", "application/rdf+xml", &size, "HEIF XMP item");
    if (s->common.xmp) {
        s->base.info.meta.xmp = s->common.xmp;
        s->base.info.meta.xmp_size = size;
    }
}

static lp_status open_header(heif_source *s, lp_error *err)
{
    s->ctx = heif_context_alloc();
    if (!s->ctx)
        return lp_error_set(err, LP_ERR_NOMEM, "cannot create a HEIF decoder");
    /* libheif refuses a side >= its limit (32768 by default in 1.15); ours refuses a side
     * > max_width/max_height, so libheif gets ours + 1 (our limits are the authority; 0 =
     * none: the largest it takes). */
    const lp_limits *limits = &s->common.limits;
    uint32_t side = limits->max_width > limits->max_height ? limits->max_width : limits->max_height;
    if (side == 0 || side >= INT_MAX)
        side = INT_MAX - 1;
    heif_context_set_maximum_image_size_limit(s->ctx, (int)side + 1);
    /* Cells are decoded one after the other on this thread: one HEVC decoder at a time. */
    heif_context_set_max_decoding_threads(s->ctx, 0);
    struct heif_error e = heif_context_read_from_reader(s->ctx, &lp_heif_reader, s, NULL);
    if (e.code != heif_error_Ok)
        return heif_failure(s, &e, "container", err);
    e = heif_context_get_primary_image_handle(s->ctx, &s->handle);
    if (e.code != heif_error_Ok)
        return heif_failure(s, &e, "primary image", err);
    int w = heif_image_handle_get_width(s->handle), h = heif_image_handle_get_height(s->handle);
    if (w <= 0 || h <= 0)
        return lp_error_set(err, LP_ERR_CORRUPT, "HEIF primary image has no size (%dx%d)", w, h);
    return lp_limits_check(&s->common.limits, (uint32_t)w, (uint32_t)h, err);
}

static bool read_input_at(void *user, uint64_t at, void *buf, size_t len)
{
    size_t got = 0;
    return lp_input_read_at(user, at, buf, len, &got, NULL) == LP_OK && got == len;
}

uint64_t lp_heif_decode_estimate(uint32_t width, uint32_t height, bool alpha, unsigned bit_depth,
                                 unsigned chroma_samples)
{
    double sample_bytes = bit_depth > 8 ? 2.0 : 1.0;
    double pixel_bytes = (alpha ? 4.0 : 3.0) * sample_bytes;
    double yuv = ((chroma_samples ? chroma_samples : 6) / 2.0 + (alpha ? 1.0 : 0.0)) * sample_bytes;
    return (uint64_t)((pixel_bytes * HEIF_RGB_FACTOR + yuv * HEIF_YUV_FACTOR) * (double)width *
                      (double)height) + HEIF_DECODER_FIXED_BYTES;
}

/* Our own reading of the meta box (src/codec/heif_boxes.c), before libheif reads the
 * container (so before it is asked anything that follows item references: even the bit
 * depth does, in 1.15), and the reservation for what libheif's parse will hold:
 * - the items the decode would visit (heif_items.c): a loop of references made libheif
 *   recurse until the stack overflowed, an overlay made it allocate a canvas of any size
 *   (both found by fuzz_heif_source);
 * - a grid's own output size, which libheif 1.15 allocates its canvas by without comparing
 *   it with ispe (a 64x64 image whose grid says 65535x65535 made it ask for gigabytes):
 *   a grid larger than its ispe is refused, so is an alpha grid larger than the image,
 *   and one whose data libheif would read from outside its box; the limits apply to the
 *   grid as to ispe;
 * - the chroma subsampling, for the estimate;
 * - the sizes the streams' sequence headers declare (HEVC parameter sets, AV1 sequence
 *   headers) against the items' declared ones (lp_heif_check_streams).
 * A file our reader refuses is refused: libheif is not left to find out. */
static lp_status check_meta(heif_source *s, lp_error *err)
{
    lp_heif_header h;
    lp_status st = lp_heif_read_header(read_input_at, s->common.in, lp_input_size(s->common.in),
                                       s->common.limits.max_metadata_bytes, s->base.mem, &h, err);
    if (st != LP_OK)
        return st;
    s->chroma_samples = h.chroma_samples;
    st = lp_source_reserve(&s->base, &s->common, h.meta_bytes * HEIF_PARSE_BYTES_PER_META_BYTE,
                           "libheif container (meta box)", err);
    if (st != LP_OK)
        return st;
    if (h.grid_width) {
        st = lp_limits_check(&s->common.limits, h.grid_width, h.grid_height, err);
        if (st != LP_OK)
            return st;
    }
    if (h.grid_width > h.width || h.grid_height > h.height)
        return lp_error_set(err, LP_ERR_CORRUPT, "HEIF grid of %" PRIu32 "x%" PRIu32
                            " is larger than its image (%" PRIu32 "x%" PRIu32 ")",
                            h.grid_width, h.grid_height, h.width, h.height);
    if (h.aux_grid_width > h.width || h.aux_grid_height > h.height)
        return lp_error_set(err, LP_ERR_CORRUPT, "HEIF auxiliary grid of %" PRIu32 "x%" PRIu32
                            " is larger than its image (%" PRIu32 "x%" PRIu32 ")",
                            h.aux_grid_width, h.aux_grid_height, h.width, h.height);
    return lp_heif_check_streams(&h, "HEIF", err);
}

/* Output format and the decode-time reservation; called once the limits passed. */
static lp_status plan_decode(heif_source *s, lp_error *err)
{
    lp_image_info *info = &s->base.info;
    int luma = heif_image_handle_get_luma_bits_per_pixel(s->handle);
    bool alpha = heif_image_handle_has_alpha_channel(s->handle) != 0;
    s->bits = luma > 8 ? (unsigned)luma : 8;
    if (s->bits > 16)
        return lp_error_set(err, LP_ERR_UNSUPPORTED, "HEIF with %d bits per sample", luma);
    info->format = lp_format_make(false, alpha, s->bits > 8);
    info->source_bit_depth = s->bits > 8 ? 16 : 8;
    unsigned pixel_bytes = lp_format_pixel_bytes(info->format);
    s->row_bytes = (size_t)info->width * pixel_bytes;
    uint64_t bytes = lp_heif_decode_estimate(info->width, info->height, alpha, s->bits,
                                             s->chroma_samples);
    lp_status st = lp_source_reserve(&s->base, &s->common, bytes, "libheif decode (whole image)",
                                     err);
    if (st != LP_OK)
        return st;
    s->base.whole_image = true;
    s->base.held_bytes = (size_t)bytes;
    if (s->bits > 8) {
        s->strip = lp_mem_alloc(s->base.mem, s->row_bytes * HEIF_STRIP_ROWS, "HEIF strip", err);
        if (!s->strip)
            return err ? err->status : LP_ERR_NOMEM;
    }
    return LP_OK;
}

/* ---- strips ---- */

static lp_status decode(heif_source *s, lp_error *err)
{
    s->decoded = true;
    bool alpha = lp_format_has_alpha(s->base.info.format);
    enum heif_chroma chroma = s->bits > 8 ? (alpha ? heif_chroma_interleaved_RRGGBBAA_LE
                                                   : heif_chroma_interleaved_RRGGBB_LE)
                                          : (alpha ? heif_chroma_interleaved_RGBA
                                                   : heif_chroma_interleaved_RGB);
    struct heif_decoding_options *opts = heif_decoding_options_alloc();
    if (!opts)
        return lp_error_set(err, LP_ERR_NOMEM, "cannot allocate HEIF decoding options");
    opts->ignore_transformations = 0;  /* pixels as displayed: see the top */
    opts->convert_hdr_to_8bit = 0;
    struct heif_error e = heif_decode_image(s->handle, &s->image, heif_colorspace_RGB, chroma, opts);
    heif_decoding_options_free(opts);
    if (e.code != heif_error_Ok)
        return heif_failure(s, &e, "image data", err);
    int w = heif_image_get_width(s->image, heif_channel_interleaved);
    int h = heif_image_get_height(s->image, heif_channel_interleaved);
    if (w != (int)s->base.info.width || h != (int)s->base.info.height)
        return lp_error_set(err, LP_ERR_CORRUPT, "HEIF decoded to %dx%d, its header says %" PRIu32
                            "x%" PRIu32, w, h, s->base.info.width, s->base.info.height);
    s->plane = heif_image_get_plane_readonly(s->image, heif_channel_interleaved, &s->plane_stride);
    if (!s->plane || s->plane_stride < 0 || (size_t)s->plane_stride < s->row_bytes)
        return lp_error_set(err, LP_ERR_CODEC, "libheif returned no pixels");
    if (s->bits > 8) {
        int range = heif_image_get_bits_per_pixel_range(s->image, heif_channel_interleaved);
        if (range > 8 && range <= 16)
            s->bits = (unsigned)range;
    }
    return LP_OK;
}

/* Little-endian samples of `bits` significant bits to host uint16_t over the full range
 * (bit replication: 1023 -> 65535, 512 -> 32800). */
static void scale_row16(const uint8_t *in, uint8_t *out, size_t samples, unsigned bits)
{
    uint16_t *o = (uint16_t *)out;
    unsigned up = 16 - bits;
    for (size_t i = 0; i < samples; i++) {
        unsigned v = (unsigned)in[2 * i] | (unsigned)in[2 * i + 1] << 8;
        o[i] = (uint16_t)(up ? (v << up | v >> (bits - up)) : v);
    }
}

static lp_status heif_next(lp_stage *self, lp_strip *strip, lp_error *err)
{
    heif_source *s = (heif_source *)self;
    if (!s->decoded) {
        lp_status st = decode(s, err);
        if (st != LP_OK)
            return st;
    }
    uint32_t left = s->base.info.height - s->next_row;
    uint32_t rows = left < HEIF_STRIP_ROWS ? left : HEIF_STRIP_ROWS;
    strip->y = s->next_row;
    strip->rows = rows;
    if (rows == 0) {
        /* Done: give libheif's image back now rather than when the stage is destroyed. */
        if (s->image)
            heif_image_release(s->image);
        s->image = NULL;
        s->plane = NULL;
        strip->data = NULL;
        strip->stride = s->row_bytes;
        return LP_OK;
    }
    const uint8_t *first = s->plane + (size_t)s->next_row * (size_t)s->plane_stride;
    if (s->bits > 8) {
        for (uint32_t r = 0; r < rows; r++)
            scale_row16(first + (size_t)r * (size_t)s->plane_stride, s->strip + r * s->row_bytes,
                        s->row_bytes / 2, s->bits);
        strip->data = s->strip;
        strip->stride = s->row_bytes;
    } else {
        strip->data = first;
        strip->stride = (size_t)s->plane_stride;
    }
    s->next_row += rows;
    return LP_OK;
}

static void heif_destroy(lp_stage *self)
{
    heif_source *s = (heif_source *)self;
    if (s->image)
        heif_image_release(s->image);
    if (s->handle)
        heif_image_handle_release(s->handle);
    if (s->ctx)
        heif_context_free(s->ctx);
    lp_mem_release(self->mem, s->strip);
    lp_source_free(self, &s->common);
}

static const lp_stage_ops heif_source_ops = {
    .name = "heif-load",
    .next = heif_next,
    .destroy = heif_destroy,
};

lp_status lp_heif_source_new(lp_stage **out, lp_input *in, const lp_limits *limits, lp_mem *mem,
                             lp_error *err)
{
    *out = NULL;
    heif_source *s = lp_source_alloc(sizeof *s, in, "a HEIF source", err);
    if (!s)
        return LP_ERR_NOMEM;
    lp_source_init(&s->base, &s->common, &heif_source_ops, LP_FILE_HEIF, in, limits, mem);
    lp_status st = check_meta(s, err);
    if (st == LP_OK)
        st = open_header(s, err);
    if (st == LP_OK) {
        s->base.info.width = (uint32_t)heif_image_handle_get_width(s->handle);
        s->base.info.height = (uint32_t)heif_image_handle_get_height(s->handle);
        read_metadata(s);
        st = plan_decode(s, err);
    }
    if (st != LP_OK) {
        heif_destroy(&s->base);
        return st;
    }
    *out = &s->base;
    return LP_OK;
}
