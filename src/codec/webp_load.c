/*
 * webp_load.c - the WebP source: libwebp's incremental decoder behind an lp_stage.
 *
 * Creation reads the file into one counted buffer (a WebP's EXIF and XMP chunks follow
 * the image data, and libwebpdemux wants the container in memory), then asks
 * WebPGetFeatures for the size, alpha and kind (lossy or lossless) and checks the size
 * against lp_limits before any pixel buffer exists. ICC, EXIF and XMP come from
 * libwebpdemux's chunk iterator, copied into counted buffers under
 * limits.max_metadata_bytes; the EXIF orientation becomes info.meta.orientation. An
 * animated WebP is refused (LP_ERR_UNSUPPORTED): which frame a re-encoder should keep
 * is not ours to guess.
 *
 * Decoding is incremental (WebPIDecode over the file buffer, revealed WEBP_FEED_BYTES
 * at a time with WebPIUpdate, which does not copy it): each next() feeds until new rows
 * are final (WebPIDecGetRGB's last_y) and yields them as strips, so rows leave as they
 * arrive. But libwebp writes into a whole-frame output buffer (its public API has no row
 * callback and checks that the external buffer holds every row), so this source is
 * whole-frame, and says so: whole_image, held_bytes, counted in lp_mem before it is
 * allocated. Output is RGB8, or RGBA8 when the file has alpha.
 *
 * Shrink-on-load: libwebp's scaled decoding (an area-averaging rescaler applied while
 * rows are decoded) by 2, 4 or 8, so the output frame shrinks with the factor.
 *
 * libwebp's own memory (lp_webp_decode_bytes, reserved in lp_mem): a lossy decoder keeps
 * a few macroblock rows (~64 bytes per column) and, with an ALPH chunk, the whole alpha
 * plane (1 byte a pixel); a lossless decoder keeps the whole image as ARGB (4 bytes a
 * pixel) while it decodes, whatever the output size.
 */
#include "codec/source_common.h"
#include "codec/webp_load.h"
#include "io/file_bytes.h"
#include "leanpix/codec.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <webp/decode.h>
#include <webp/demux.h>

#define WEBP_STRIP_ROWS 16u
/* libwebpdemux keeps a record (~48 bytes with malloc's) for every chunk of the file,
 * outside our allocator: 10 million empty chunks (an 80 MB file) made it hold 320 MB
 * beside the counted file buffer (2026-12-03). A still image has at most 6 chunks (VP8X,
 * ICCP, ALPH, the image, EXIF, XMP); more than this is refused, before demux. */
#define WEBP_MAX_CHUNKS 64u
#define WEBP_FEED_BYTES (64u * 1024u)
/* libwebp's lossy decoder: per column, the macroblock caches (Y, U, V with filter
 * context), intra modes and top samples of VP8's row pipeline, ~64 bytes (libwebp 1.2.4,
 * src/dec/frame_dec.c InitThreadContext/AllocateMemory), plus fixed tables. */
#define WEBP_LOSSY_BYTES_PER_COLUMN 64u
#define WEBP_DECODER_FIXED_BYTES (128u * 1024u)
/* Lossless: the ARGB image (4 bytes a pixel, src/dec/vp8l_dec.c AllocateInternalBuffers32b). */
#define WEBP_LOSSLESS_BYTES_PER_PIXEL 4u

typedef struct webp_source {
    lp_stage base;
    lp_source_common common;  /* input, limits, metadata copies, reservation */
    uint8_t *file;            /* the whole file (counted) */
    size_t file_size;
    size_t fed;               /* bytes revealed to the decoder */
    WebPBitstreamFeatures features;
    WebPDecoderConfig config; /* its options must outlive the decoder */
    WebPIDecoder *idec;
    uint8_t *frame;           /* the output frame (counted) */
    size_t stride;
    uint32_t rows_ready;      /* rows the decoder has finished */
    uint32_t next_row;
    bool started, done;
} webp_source;

/* ---- the memory model and the shrink rule, shared with the descriptor ---- */

unsigned lp_webp_shrink_factor(uint32_t width, uint32_t height, uint32_t target_w,
                               uint32_t target_h)
{
    static const unsigned factors[] = {8, 4, 2};
    for (size_t i = 0; i < sizeof factors / sizeof factors[0]; i++) {
        unsigned f = factors[i];
        if ((width + f - 1) / f >= target_w && (height + f - 1) / f >= target_h)
            return f;
    }
    return 1;
}

static uint64_t libwebp_bytes(uint32_t width, uint32_t height, bool alpha, bool lossless)
{
    uint64_t pixels = (uint64_t)width * height;
    uint64_t b = WEBP_DECODER_FIXED_BYTES;
    if (lossless)
        return b + pixels * WEBP_LOSSLESS_BYTES_PER_PIXEL + (uint64_t)width * 16u * 4u;
    b += (uint64_t)width * WEBP_LOSSY_BYTES_PER_COLUMN;
    return alpha ? b + pixels : b;  /* the ALPH plane */
}

uint64_t lp_webp_decode_bytes(uint32_t width, uint32_t height, uint32_t decode_w,
                              uint32_t decode_h, bool alpha, bool lossless, uint64_t file_bytes)
{
    uint64_t frame = (uint64_t)decode_w * decode_h * (alpha ? 4u : 3u);
    return file_bytes + frame + libwebp_bytes(width, height, alpha, lossless);
}

/* ---- errors ---- */

static lp_status status_of(VP8StatusCode code)
{
    switch (code) {
    case VP8_STATUS_OUT_OF_MEMORY: return LP_ERR_NOMEM;
    case VP8_STATUS_UNSUPPORTED_FEATURE: return LP_ERR_UNSUPPORTED;
    case VP8_STATUS_NOT_ENOUGH_DATA:
    case VP8_STATUS_SUSPENDED: return LP_ERR_TRUNCATED;
    case VP8_STATUS_INVALID_PARAM: return LP_ERR_INTERNAL;
    default: return LP_ERR_CORRUPT;
    }
}

static const char *text_of(VP8StatusCode code)
{
    switch (code) {
    case VP8_STATUS_OUT_OF_MEMORY: return "out of memory";
    case VP8_STATUS_INVALID_PARAM: return "invalid parameter";
    case VP8_STATUS_BITSTREAM_ERROR: return "bitstream error";
    case VP8_STATUS_UNSUPPORTED_FEATURE: return "unsupported feature";
    case VP8_STATUS_SUSPENDED:
    case VP8_STATUS_NOT_ENOUGH_DATA: return "data ends early";
    default: return "decoder error";
    }
}

/* ---- header and metadata ---- */

static lp_status read_file(webp_source *s, lp_error *err)
{
    uint64_t size = lp_input_size(s->common.in);
    if (size == 0)
        return lp_error_set(err, LP_ERR_TRUNCATED, "WebP data ends early (empty input)");
    if (size > SIZE_MAX)
        return lp_error_set(err, LP_ERR_LIMITS, "WebP file of %" PRIu64 " bytes", size);
    s->file = lp_mem_alloc(s->base.mem, (size_t)size, "WebP file", err);
    if (!s->file)
        return err ? err->status : LP_ERR_NOMEM;
    size_t have = 0;
    while (have < size) {
        size_t got;
        lp_status st = lp_input_read(s->common.in, s->file + have, (size_t)size - have, &got, err);
        if (st != LP_OK)
            return st;
        if (got == 0)
            break;  /* the file shrank while read: it ends here */
        have += got;
    }
    s->file_size = have;
    return LP_OK;
}

static lp_status check_signature(webp_source *s, lp_error *err)
{
    if (s->file_size < 12 || memcmp(s->file, "RIFF", 4) || memcmp(s->file + 8, "WEBP", 4)) {
        if (s->file_size < 12 && !memcmp(s->file, "RIFF", s->file_size < 4 ? s->file_size : 4))
            return lp_error_set(err, LP_ERR_TRUNCATED, "WebP data ends early (in the header)");
        return lp_error_set(err, LP_ERR_CORRUPT, "not a WebP file (bad signature)");
    }
    return LP_OK;
}

static void note_dropped(webp_source *s, const char *why)
{
    if (!s->base.info.meta.dropped)
        s->base.info.meta.dropped = why;
}

/* Copies the first chunk of fourcc, or nothing (metadata is optional). */
static uint8_t *copy_chunk(webp_source *s, WebPDemuxer *demux, const char *fourcc,
                           const uint8_t **meta, size_t *meta_size)
{
    WebPChunkIterator it;
    if (!WebPDemuxGetChunk(demux, fourcc, 1, &it))
        return NULL;
    size_t size = it.chunk.size;
    uint8_t *copy = NULL;
    uint64_t cap = s->common.limits.max_metadata_bytes;
    if (size == 0) {
        /* nothing */
    } else if (cap && s->common.metadata_bytes + size > cap) {
        note_dropped(s, "metadata over the size limit");
    } else if (!(copy = lp_mem_alloc(s->base.mem, size, "WebP metadata", NULL))) {
        note_dropped(s, "metadata over the memory budget");
    } else {
        memcpy(copy, it.chunk.bytes, size);
        s->common.metadata_bytes += size;
        *meta = copy;
        *meta_size = size;
    }
    WebPDemuxReleaseChunkIterator(&it);
    return copy;
}

static void read_metadata(webp_source *s, WebPDemuxer *demux)
{
    lp_metadata *m = &s->base.info.meta;
    s->common.icc = copy_chunk(s, demux, "ICCP", &m->icc, &m->icc_size);
    s->common.xmp = copy_chunk(s, demux, "XMP ", &m->xmp, &m->xmp_size);
    s->common.exif = copy_chunk(s, demux, "EXIF", &m->exif, &m->exif_size);
    if (!s->common.exif)
        return;
    /* Some writers keep the JPEG APP1 prefix; the EXIF block is the TIFF stream after it. */
    if (m->exif_size > 6 && !memcmp(m->exif, "Exif\0\0", 6)) {
        m->exif += 6;
        m->exif_size -= 6;
    }
    if (!lp_exif_is_tiff(m->exif, m->exif_size)) {
        m->exif = NULL;
        m->exif_size = 0;
        note_dropped(s, "EXIF block is truncated or not a TIFF stream");
        return;
    }
    m->orientation = lp_exif_orientation(m->exif, m->exif_size);
}

/* Refuses a file of more than WEBP_MAX_CHUNKS chunks (one walk of the chunk headers in
 * the file buffer; a size running past the end stops it: libwebp reports that). */
static lp_status check_chunk_count(const webp_source *s, lp_error *err)
{
    uint64_t at = 12;
    unsigned chunks = 0;
    while (at + 8 <= s->file_size) {
        if (++chunks > WEBP_MAX_CHUNKS)
            return lp_error_set(err, LP_ERR_UNSUPPORTED, "WebP file has more than %u chunks (a"
                                " still image has at most 6)", WEBP_MAX_CHUNKS);
        uint32_t len = lp_le32(s->file + at + 4);
        at += 8 + (uint64_t)len + (len & 1);
    }
    return LP_OK;
}

static lp_status read_header(webp_source *s, lp_error *err)
{
    VP8StatusCode rc = WebPGetFeatures(s->file, s->file_size, &s->features);
    if (rc != VP8_STATUS_OK)
        return lp_error_set(err, status_of(rc), "WebP header: %s", text_of(rc));
    if (s->features.has_animation)
        return lp_error_set(err, LP_ERR_UNSUPPORTED,
                            "animated WebP is not supported (only still images are)");
    lp_status st = lp_limits_check(&s->common.limits, (uint32_t)s->features.width,
                                   (uint32_t)s->features.height, err);
    if (st == LP_OK)
        st = check_chunk_count(s, err);
    if (st != LP_OK)
        return st;
    WebPData data = {s->file, s->file_size};
    WebPDemuxState state;
    WebPDemuxer *demux = WebPDemuxPartial(&data, &state);
    if (demux) {
        read_metadata(s, demux);
        WebPDemuxDelete(demux);
    } else {
        note_dropped(s, "the WebP container could not be parsed for metadata");
    }
    lp_image_info *info = &s->base.info;
    info->width = (uint32_t)s->features.width;
    info->height = (uint32_t)s->features.height;
    info->format = s->features.has_alpha ? LP_FORMAT_RGBA8 : LP_FORMAT_RGB8;
    info->source_bit_depth = 8;
    info->source_progressive = s->features.format == 2;  /* lossless: the ARGB image is held */
    info->source_samples_per_pixel = lp_format_channels(info->format);
    s->base.whole_image = true;
    return LP_OK;
}

/* ---- decoding ---- */

static lp_status start(webp_source *s, lp_error *err)
{
    s->started = true;
    const lp_image_info *info = &s->base.info;
    bool alpha = s->features.has_alpha;
    bool lossless = s->features.format == 2;
    uint64_t lib = libwebp_bytes((uint32_t)s->features.width, (uint32_t)s->features.height,
                                 alpha, lossless);
    lp_status st = lp_source_reserve(&s->base, &s->common, lib, "libwebp decoder", err);
    if (st != LP_OK)
        return st;
    s->stride = (size_t)info->width * (alpha ? 4u : 3u);
    uint64_t bytes = (uint64_t)s->stride * info->height;
    if (bytes > SIZE_MAX)
        return lp_error_set(err, LP_ERR_LIMITS, "WebP frame of %" PRIu64 " bytes", bytes);
    s->frame = lp_mem_alloc(s->base.mem, (size_t)bytes, "WebP frame", err);
    if (!s->frame)
        return err ? err->status : LP_ERR_NOMEM;
    s->base.held_bytes = (size_t)bytes;
    WebPDecBuffer *out = &s->config.output;
    out->colorspace = alpha ? MODE_RGBA : MODE_RGB;
    out->is_external_memory = 1;
    out->width = (int)info->width;
    out->height = (int)info->height;
    out->u.RGBA.rgba = s->frame;
    out->u.RGBA.stride = (int)s->stride;
    out->u.RGBA.size = (size_t)bytes;
    s->idec = WebPIDecode(NULL, 0, &s->config);
    if (!s->idec)
        return lp_error_set(err, LP_ERR_NOMEM, "cannot create a WebP decoder");
    return LP_OK;
}

/* Reveals more of the file until rows past next_row are final, or the image is. */
static lp_status feed(webp_source *s, lp_error *err)
{
    while (!s->done && s->rows_ready <= s->next_row) {
        if (s->fed == s->file_size)
            return lp_error_set(err, LP_ERR_TRUNCATED,
                                "WebP data ends early (at row %" PRIu32 " of %" PRIu32 ")",
                                s->rows_ready, s->base.info.height);
        size_t left = s->file_size - s->fed;
        s->fed += left < WEBP_FEED_BYTES ? left : WEBP_FEED_BYTES;
        VP8StatusCode rc = WebPIUpdate(s->idec, s->file, s->fed);
        if (rc != VP8_STATUS_OK && rc != VP8_STATUS_SUSPENDED)
            return lp_error_set(err, status_of(rc), "WebP image data: %s (at row %" PRIu32 ")",
                                text_of(rc), s->rows_ready);
        int last_y = 0;
        if (WebPIDecGetRGB(s->idec, &last_y, NULL, NULL, NULL) && last_y > 0)
            s->rows_ready = (uint32_t)last_y;
        if (rc == VP8_STATUS_OK) {
            s->done = true;
            s->rows_ready = s->base.info.height;
        }
    }
    return LP_OK;
}

static lp_status webp_next(lp_stage *self, lp_strip *strip, lp_error *err)
{
    webp_source *s = (webp_source *)self;
    if (!s->started) {
        lp_status st = start(s, err);
        if (st != LP_OK)
            return st;
    }
    strip->y = s->next_row;
    strip->rows = 0;
    strip->stride = s->stride;
    if (s->next_row >= self->info.height)
        return LP_OK;
    if (!s->idec)
        return lp_error_set(err, LP_ERR_INTERNAL, "WebP source used after a failed start");
    lp_status st = feed(s, err);
    if (st != LP_OK)
        return st;
    uint32_t rows = s->rows_ready - s->next_row;
    if (rows > WEBP_STRIP_ROWS)
        rows = WEBP_STRIP_ROWS;
    strip->data = s->frame + (size_t)s->next_row * s->stride;
    strip->rows = rows;
    s->next_row += rows;
    if (s->next_row == self->info.height && s->idec) {
        WebPIDelete(s->idec);  /* libwebp's buffers go before the downstream stages finish */
        s->idec = NULL;
        lp_mem_unreserve(self->mem, s->common.reserved);
        s->common.reserved = 0;
    }
    return LP_OK;
}

/* Applies the factor the planner chose (formats/webp.c: lp_webp_shrink_factor). */
static uint32_t webp_shrink(lp_stage *self, uint32_t factor)
{
    webp_source *s = (webp_source *)self;
    if (s->started)
        return 1;
    uint32_t w = (uint32_t)s->features.width, h = (uint32_t)s->features.height;
    unsigned f = factor >= 8 ? 8 : factor >= 4 ? 4 : factor >= 2 ? 2 : 1;
    if (f == 1)
        return 1;
    s->config.options.use_scaling = 1;
    s->config.options.scaled_width = (int)((w + f - 1) / f);
    s->config.options.scaled_height = (int)((h + f - 1) / f);
    self->info.width = (uint32_t)s->config.options.scaled_width;
    self->info.height = (uint32_t)s->config.options.scaled_height;
    return f;
}

static void webp_destroy(lp_stage *self)
{
    webp_source *s = (webp_source *)self;
    if (s->idec)
        WebPIDelete(s->idec);
    lp_mem_release(self->mem, s->frame);
    lp_mem_release(self->mem, s->file);
    lp_source_free(self, &s->common);
}

static const lp_stage_ops webp_source_ops = {
    .name = "webp-load",
    .next = webp_next,
    .shrink = webp_shrink,
    .destroy = webp_destroy,
};

lp_status lp_webp_source_new(lp_stage **out, lp_input *in, const lp_limits *limits,
                             lp_mem *mem, lp_error *err)
{
    *out = NULL;
    webp_source *s = lp_source_alloc(sizeof *s, in, "a WebP source", err);
    if (!s)
        return LP_ERR_NOMEM;
    lp_source_init(&s->base, &s->common, &webp_source_ops, LP_FILE_WEBP, in, limits, mem);
    lp_status st = WebPInitDecoderConfig(&s->config)
                       ? LP_OK
                       : lp_error_set(err, LP_ERR_INTERNAL, "libwebp version mismatch");
    if (st == LP_OK)
        st = read_file(s, err);
    if (st == LP_OK)
        st = check_signature(s, err);
    if (st == LP_OK)
        st = read_header(s, err);
    if (st != LP_OK) {
        webp_destroy(&s->base);
        return st;
    }
    *out = &s->base;
    return LP_OK;
}

/* ---- the probe: chunk headers with small preads ---- */

static uint32_t le24(const uint8_t *p) { return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16; }

/* EXIF orientation from a chunk of up to 64 KiB (the tag sits in IFD0, near the start). */
static int probe_orientation(int fd, uint64_t at, uint32_t size)
{
    size_t n = size < 65536u ? size : 65536u;
    uint8_t *buf = malloc(n ? n : 1);
    int orientation = 1;
    if (buf && lp_file_read_at(fd, at, buf, n)) {
        const uint8_t *p = buf;
        if (n > 6 && !memcmp(p, "Exif\0\0", 6))
            p += 6, n -= 6;
        orientation = lp_exif_orientation(p, n);
    }
    free(buf);
    return orientation;
}

lp_status lp_webp_probe_fd(int fd, uint64_t size, lp_probe *p, lp_error *err)
{
    uint8_t head[30];
    if (size < sizeof head || !lp_file_read_at(fd, 0, head, sizeof head))
        return lp_error_set(err, LP_ERR_TRUNCATED, "WebP ends before its header");
    if (memcmp(head, "RIFF", 4) || memcmp(head + 8, "WEBP", 4))
        return lp_error_set(err, LP_ERR_CORRUPT, "not a WebP file (bad signature)");
    p->format = LP_FILE_WEBP;
    p->file_bytes = size;
    p->bit_depth = 8;
    p->orientation = 1;
    bool alpha = false, have_size = false, have_kind = false, have_exif = false;
    uint64_t at = 12;
    for (unsigned chunks = 0; chunks < WEBP_MAX_CHUNKS && at + 8 <= size; chunks++) {
        uint8_t h[18];
        size_t want = at + sizeof h <= size ? sizeof h : 8;
        if (!lp_file_read_at(fd, at, h, want))
            break;
        uint32_t len = lp_le32(h + 4);
        if (!memcmp(h, "VP8X", 4) && want == sizeof h && len >= 10) {
            alpha = h[8] & 0x10;
            p->width = le24(h + 12) + 1;
            p->height = le24(h + 15) + 1;
            have_size = true;
            if (h[8] & 0x02)
                return lp_error_set(err, LP_ERR_UNSUPPORTED, "animated WebP is not supported");
        } else if (!memcmp(h, "ALPH", 4)) {
            alpha = true;
        } else if (!memcmp(h, "EXIF", 4) && !have_exif) {  /* the first, as the source */
            p->orientation = probe_orientation(fd, at + 8, len);
            have_exif = true;
        } else if (!memcmp(h, "VP8 ", 4) || !memcmp(h, "VP8L", 4)) {
            bool lossless = h[3] == 'L';
            uint8_t frame[30];
            size_t n = len < sizeof frame ? len : sizeof frame;
            int w = 0, hh = 0;
            bool got_frame = lp_file_read_at(fd, at + 8, frame, n);
            if (!have_size && WebPGetInfo(head, sizeof head, &w, &hh)) {
                p->width = (uint32_t)w;
                p->height = (uint32_t)hh;
                have_size = true;
            }
            /* as WebPGetFeatures: a lossless header's alpha_is_used bit decides */
            if (lossless && got_frame && n >= 5)
                alpha = (lp_le32(frame + 1) >> 28) & 1;
            p->progressive = lossless;  /* its decoder holds the whole ARGB image */
            have_kind = true;
        }
        at += 8 + (uint64_t)len + (len & 1);
    }
    if (!have_size || !have_kind || !p->width || !p->height)
        return lp_error_set(err, LP_ERR_CORRUPT, "WebP header: no image chunk");
    p->components = alpha ? 4 : 3;
    p->samples_per_pixel = p->components;
    return LP_OK;
}
