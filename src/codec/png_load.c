/*
 * png_load.c - PNG decoding with libspng's progressive API, 16 rows at a time.
 *
 * Creating the source reads the header and every chunk before the first IDAT (palette,
 * tRNS, iCCP, eXIf, text) through a read callback over lp_input, so dimensions are
 * checked against lp_limits before any pixel buffer exists and the metadata is known
 * before the first strip. Metadata that follows the image data is not read.
 *
 * spng decodes to SPNG_FMT_RAW (the PNG's own layout, 16-bit big-endian, low bit
 * depths packed) and this file converts each row itself: bit depths below 8 are
 * expanded to 8, palettes become RGB8 (RGBA8 with tRNS), a tRNS colour key adds an
 * alpha channel, 16-bit samples become host-endian uint16_t. Doing this here instead of
 * through spng's output formats keeps the rules in one place, exact and testable.
 *
 * Memory: a non-interlaced PNG holds one strip of converted rows plus, when the layout
 * changes (palette, low bit depth, tRNS), one raw row; 8- and 16-bit rows that keep
 * their layout are decoded straight into the strip. spng's own allocations (context,
 * zlib, scanlines, the ancillary chunks it caches) go through the job's lp_mem
 * (spng_ctx_new2): spng's allocator hooks carry no user pointer, so each entry point
 * names its source in a thread-local before it calls spng. The chunks spng keeps (text,
 * ICC, EXIF) are further capped by limits.max_metadata_bytes, so 2,000 compressed text
 * chunks are refused after a few MB instead of inflating into tens of MB. An interlaced (Adam7) PNG only yields its rows after the last pass, so the
 * first next() decodes the whole image into one counted buffer (whole_image, known from
 * the header at creation; held_bytes once allocated) and the strips are cut from it.
 */
#include "codec/source_common.h"
#include "leanpix/codec.h"

#include <inttypes.h>
#include <spng.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PNG_STRIP_ROWS 16u
/* spng's own cap on the ancillary chunks it keeps (SPNG_MAX_CHUNK_COUNT), left as is. */
#define PNG_MAX_CACHED_CHUNKS 1000
/* spng refuses image limits above 2^31 - 1. */
#define PNG_SPNG_MAX_DIM 0x7fffffffu
#define PNG_XMP_KEYWORD "XML:com.adobe.xmp"

typedef struct png_source {
    lp_stage base;
    lp_source_common common;   /* input, limits, metadata copies (no reservation) */
    spng_ctx *ctx;
    struct spng_ihdr ihdr;
    uint8_t palette[256][4];   /* RGBA, tRNS applied; missing entries are opaque black */
    bool has_trns;             /* gray/RGB colour key or palette alpha */
    uint16_t trns_key[3];      /* gray in [0], or R, G, B, at the PNG's bit depth */
    bool same_layout;          /* raw rows are already the output rows (8/16-bit, no key) */
    bool interlaced;
    size_t raw_row_bytes;      /* one row as spng yields it in SPNG_FMT_RAW */
    size_t out_stride;
    uint8_t *raw_row;          /* non-interlaced, layout changes: one undecoded row */
    uint8_t *raw_image;        /* interlaced: the whole image in raw layout */
    uint8_t *strip;            /* converted rows (unused when yielding from raw_image) */
    uint32_t next_row;
    bool started;
    lp_error io_err;           /* why the read callback failed, when it did */
    lp_error mem_err;          /* why spng's last allocation was refused, when it was */
} png_source;

/* ---- spng's allocations, counted in the calling source's lp_mem ---- */

static _Thread_local png_source *spng_caller;

/* Every function that calls spng starts with this. */
static void enter_spng(png_source *s)
{
    spng_caller = s;
}

static lp_mem *spng_mem(void)
{
    return spng_caller ? spng_caller->base.mem : NULL;
}

static lp_error *spng_err(void)
{
    return spng_caller ? &spng_caller->mem_err : NULL;
}

static void *spng_malloc(size_t size)
{
    return lp_mem_alloc(spng_mem(), size, "libspng", spng_err());
}

static void *spng_calloc(size_t count, size_t size)
{
    if (size && count > SIZE_MAX / size)
        return NULL;
    return lp_mem_calloc(spng_mem(), count * size, "libspng", spng_err());
}

static void *spng_realloc(void *ptr, size_t size)
{
    return lp_mem_realloc(spng_mem(), ptr, size, "libspng", spng_err());
}

static void spng_free(void *ptr)
{
    lp_mem_release(spng_mem(), ptr);
}

static struct spng_alloc counted_alloc = {
    .malloc_fn = spng_malloc,
    .realloc_fn = spng_realloc,
    .calloc_fn = spng_calloc,
    .free_fn = spng_free,
};

/* spng asks for exact lengths; a short read is the end of the file. */
static int read_stream(spng_ctx *ctx, void *user, void *dest, size_t length)
{
    (void)ctx;
    png_source *s = user;
    uint8_t *out = dest;
    while (length > 0) {
        size_t got;
        if (lp_input_read(s->common.in, out, length, &got, &s->io_err) != LP_OK)
            return SPNG_IO_ERROR;
        if (got == 0)
            return SPNG_IO_EOF;
        out += got;
        length -= got;
    }
    return 0;
}

static lp_status status_of_spng(int code)
{
    switch (code) {
    case SPNG_IO_EOF:
    case SPNG_EOF:
    case SPNG_EIDAT_TOO_SHORT:
        return LP_ERR_TRUNCATED;
    case SPNG_IO_ERROR:
        return LP_ERR_IO;
    case SPNG_EUSER_WIDTH:
    case SPNG_EUSER_HEIGHT:
    case SPNG_ECHUNK_LIMITS:
        return LP_ERR_LIMITS;
    case SPNG_EMEM:
        return LP_ERR_NOMEM;
    case SPNG_EINTERNAL:
    case SPNG_EBADSTATE:
    case SPNG_EINVAL:
    case SPNG_EFMT:
    case SPNG_EFLAGS:
    case SPNG_EBUFSIZ:
        return LP_ERR_CODEC;
    default:
        return LP_ERR_CORRUPT;  /* bad signature, CRC, chunk, zlib stream, filter... */
    }
}

/* Turns an spng error into an lp_error; `where` says what was being read. */
static lp_status spng_failure(png_source *s, int code, const char *where, lp_error *err)
{
    if (code == SPNG_IO_ERROR && s->io_err.status != LP_OK)
        return lp_error_set(err, s->io_err.status, "%s", s->io_err.message);
    if (code == SPNG_EMEM && s->mem_err.status != LP_OK)
        return lp_error_set(err, s->mem_err.status, "PNG %s: %s", where, s->mem_err.message);
    if (code == SPNG_ECHUNK_LIMITS)  /* spng does not say which of its two limits */
        return lp_error_set(err, LP_ERR_LIMITS,
                            "PNG %s: ancillary chunks (text, ICC, EXIF) over the metadata limit "
                            "(%" PRIu64 " bytes, or %d chunks)",
                            where, s->common.limits.max_metadata_bytes, PNG_MAX_CACHED_CHUNKS);
    lp_status st = status_of_spng(code);
    if (st == LP_ERR_TRUNCATED)
        return lp_error_set(err, st, "PNG data ends early (%s)", where);
    return lp_error_set(err, st, "PNG %s: %s", where, spng_strerror(code));
}

static unsigned png_channels(uint8_t color_type)
{
    switch (color_type) {
    case SPNG_COLOR_TYPE_GRAYSCALE_ALPHA: return 2;
    case SPNG_COLOR_TYPE_TRUECOLOR: return 3;
    case SPNG_COLOR_TYPE_TRUECOLOR_ALPHA: return 4;
    default: return 1;  /* gray, palette index */
    }
}

static lp_format output_format(const struct spng_ihdr *h, bool trns)
{
    bool sixteen = h->bit_depth == 16;
    switch (h->color_type) {
    case SPNG_COLOR_TYPE_GRAYSCALE: return lp_format_make(true, trns, sixteen);
    case SPNG_COLOR_TYPE_GRAYSCALE_ALPHA: return lp_format_make(true, true, sixteen);
    case SPNG_COLOR_TYPE_TRUECOLOR: return lp_format_make(false, trns, sixteen);
    case SPNG_COLOR_TYPE_TRUECOLOR_ALPHA: return lp_format_make(false, true, sixteen);
    default: return trns ? LP_FORMAT_RGBA8 : LP_FORMAT_RGB8;  /* palette */
    }
}

/* Sample i of a raw row: packed big-endian bits for depths 1, 2, 4; bytes for 8 and 16. */
static inline unsigned raw_sample(const uint8_t *row, size_t i, unsigned depth)
{
    if (depth == 16)
        return (unsigned)row[2 * i] << 8 | row[2 * i + 1];
    if (depth == 8)
        return row[i];
    size_t bit = i * depth;
    unsigned shift = 8 - depth - (unsigned)(bit & 7);
    return (row[bit >> 3] >> shift) & ((1u << depth) - 1);
}

static void convert_palette_row(const png_source *s, const uint8_t *raw, uint8_t *out)
{
    unsigned ch = s->has_trns ? 4 : 3;
    for (uint32_t x = 0; x < s->ihdr.width; x++)
        memcpy(out + (size_t)x * ch, s->palette[raw_sample(raw, x, s->ihdr.bit_depth)], ch);
}

/* Gray/RGB/GA/RGBA rows: expand low depths to 8 bits, add alpha from the colour key. */
static void convert_direct_row(const png_source *s, const uint8_t *raw, uint8_t *out)
{
    unsigned depth = s->ihdr.bit_depth;
    unsigned ch = png_channels(s->ihdr.color_type);
    bool key = s->has_trns;
    if (depth == 16) {
        uint16_t *o = (uint16_t *)out;
        for (uint32_t x = 0; x < s->ihdr.width; x++) {
            bool keyed = key;
            for (unsigned c = 0; c < ch; c++) {
                unsigned v = raw_sample(raw, (size_t)x * ch + c, 16);
                keyed = keyed && v == s->trns_key[c];
                *o++ = (uint16_t)v;
            }
            if (key)
                *o++ = keyed ? 0 : 65535;
        }
        return;
    }
    unsigned scale = depth < 8 ? 255u / ((1u << depth) - 1) : 1;  /* 1->255, 2->85, 4->17 */
    uint8_t *o = out;
    for (uint32_t x = 0; x < s->ihdr.width; x++) {
        bool keyed = key;
        for (unsigned c = 0; c < ch; c++) {
            unsigned v = raw_sample(raw, (size_t)x * ch + c, depth);
            keyed = keyed && v == s->trns_key[c];
            *o++ = (uint8_t)(v * scale);
        }
        if (key)
            *o++ = keyed ? 0 : 255;
    }
}

static void convert_row(const png_source *s, const uint8_t *raw, uint8_t *out)
{
    if (s->ihdr.color_type == SPNG_COLOR_TYPE_INDEXED)
        convert_palette_row(s, raw, out);
    else
        convert_direct_row(s, raw, out);
}

/* Same-layout 16-bit rows: big-endian to host order, in place. */
static void swap16_in_place(uint8_t *data, size_t bytes)
{
    for (size_t i = 0; i + 1 < bytes; i += 2) {
        uint16_t v = (uint16_t)((unsigned)data[i] << 8 | data[i + 1]);
        memcpy(data + i, &v, 2);
    }
}

static void copy_metadata(png_source *s, uint8_t **dst, const void *src, size_t size,
                          const uint8_t **meta, size_t *meta_size)
{
    /* Metadata is optional: when it cannot be copied the image still decodes without it. */
    *dst = lp_mem_alloc(s->base.mem, size, "PNG metadata", NULL);
    if (!*dst) {
        s->base.info.meta.dropped = "metadata over the memory budget";
        return;
    }
    memcpy(*dst, src, size);
    *meta = *dst;
    *meta_size = size;
}

static void read_xmp(png_source *s)
{
    uint32_t n = 0;
    if (spng_get_text(s->ctx, NULL, &n) != 0 || n == 0)
        return;
    struct spng_text *texts = calloc(n, sizeof *texts);
    if (!texts)
        return;
    if (spng_get_text(s->ctx, texts, &n) == 0) {
        for (uint32_t i = 0; i < n; i++) {
            if (strcmp(texts[i].keyword, PNG_XMP_KEYWORD) == 0 && texts[i].length > 0) {
                lp_metadata *m = &s->base.info.meta;
                copy_metadata(s, &s->common.xmp, texts[i].text, texts[i].length, &m->xmp,
                              &m->xmp_size);
                break;
            }
        }
    }
    free(texts);
}

static void read_metadata(png_source *s)
{
    lp_metadata *m = &s->base.info.meta;
    struct spng_iccp iccp;
    if (spng_get_iccp(s->ctx, &iccp) == 0 && iccp.profile_len > 0)
        copy_metadata(s, &s->common.icc, iccp.profile, iccp.profile_len, &m->icc, &m->icc_size);
    struct spng_exif exif;
    if (spng_get_exif(s->ctx, &exif) == 0 && exif.length > 0) {
        if (!lp_exif_is_tiff((const uint8_t *)exif.data, exif.length))
            m->dropped = "EXIF block is truncated or not a TIFF stream";
        else
            copy_metadata(s, &s->common.exif, exif.data, exif.length, &m->exif, &m->exif_size);
        if (m->exif)
            m->orientation = lp_exif_orientation(m->exif, m->exif_size);
    }
    read_xmp(s);
}

/* Palette and tRNS decide the output format; both precede IDAT. */
static lp_status read_colour_chunks(png_source *s, lp_error *err)
{
    struct spng_trns trns;
    bool trns_ok = spng_get_trns(s->ctx, &trns) == 0;
    if (s->ihdr.color_type == SPNG_COLOR_TYPE_INDEXED) {
        struct spng_plte plte;
        if (spng_get_plte(s->ctx, &plte) != 0)
            return lp_error_set(err, LP_ERR_CORRUPT, "PNG palette image has no palette");
        for (unsigned i = 0; i < 256; i++) {
            bool have = i < plte.n_entries;
            s->palette[i][0] = have ? plte.entries[i].red : 0;
            s->palette[i][1] = have ? plte.entries[i].green : 0;
            s->palette[i][2] = have ? plte.entries[i].blue : 0;
            s->palette[i][3] = trns_ok && i < trns.n_type3_entries ? trns.type3_alpha[i] : 255;
        }
        s->has_trns = trns_ok && trns.n_type3_entries > 0;
    } else if (trns_ok && (s->ihdr.color_type == SPNG_COLOR_TYPE_GRAYSCALE ||
                           s->ihdr.color_type == SPNG_COLOR_TYPE_TRUECOLOR)) {
        s->has_trns = true;
        if (s->ihdr.color_type == SPNG_COLOR_TYPE_GRAYSCALE) {
            s->trns_key[0] = trns.gray;
        } else {
            s->trns_key[0] = trns.red;
            s->trns_key[1] = trns.green;
            s->trns_key[2] = trns.blue;
        }
    }
    return LP_OK;
}

/* Says "not a PNG" for other files instead of spng's reading past their end, and keeps
 * the IHDR's claimed size for messages about limits (spng does not tell it). */
static lp_status check_signature(png_source *s, uint32_t claimed[2], lp_error *err)
{
    static const uint8_t signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    uint8_t head[24];
    size_t got;
    lp_status st = lp_input_peek(s->common.in, head, sizeof head, &got, err);
    if (st != LP_OK)
        return st;
    if (got == 0)
        return lp_error_set(err, LP_ERR_TRUNCATED, "PNG data ends early (empty input)");
    if (memcmp(head, signature, got < 8 ? got : 8) != 0)
        return lp_error_set(err, LP_ERR_CORRUPT, "not a PNG file (bad signature)");
    if (got < 8)
        return lp_error_set(err, LP_ERR_TRUNCATED, "PNG data ends early (in the signature)");
    if (got == sizeof head && memcmp(head + 12, "IHDR", 4) == 0) {
        for (int i = 0; i < 2; i++) {
            const uint8_t *p = head + 16 + 4 * i;
            claimed[i] = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
        }
    }
    return LP_OK;
}

static lp_status open_header(png_source *s, const uint32_t claimed[2], lp_error *err)
{
    const lp_limits *limits = &s->common.limits;
    s->ctx = spng_ctx_new2(&counted_alloc, 0);
    if (!s->ctx)
        return lp_error_set(err, LP_ERR_NOMEM, "cannot create a PNG decoder");
    uint32_t max_w = limits->max_width && limits->max_width < PNG_SPNG_MAX_DIM ? limits->max_width
                                                                               : PNG_SPNG_MAX_DIM;
    uint32_t max_h = limits->max_height && limits->max_height < PNG_SPNG_MAX_DIM
                         ? limits->max_height
                         : PNG_SPNG_MAX_DIM;
    spng_set_image_limits(s->ctx, max_w, max_h);
    /* spng counts what it caches of ancillary chunks (inflated text included) against the
     * cache limit; the chunk-size limit is for the stored bytes of one such chunk. */
    uint64_t metadata_cap = limits->max_metadata_bytes;
    size_t cap = metadata_cap && metadata_cap < SIZE_MAX ? (size_t)metadata_cap : SIZE_MAX;
    spng_set_chunk_limits(s->ctx, cap < 0x7fffffffu ? cap : 0x7fffffffu, cap);
    spng_set_option(s->ctx, SPNG_CHUNK_COUNT_LIMIT, PNG_MAX_CACHED_CHUNKS);
    /* A damaged critical chunk means wrong pixels: refuse. A damaged ancillary chunk
     * (text, ICC) is dropped, as libpng does, so the image still decodes. */
    spng_set_crc_action(s->ctx, SPNG_CRC_ERROR, SPNG_CRC_DISCARD);
    int rc = spng_set_png_stream(s->ctx, read_stream, s);
    if (rc == 0)
        rc = spng_get_ihdr(s->ctx, &s->ihdr);
    if ((rc == SPNG_EUSER_WIDTH || rc == SPNG_EUSER_HEIGHT) &&
        lp_limits_check(limits, claimed[0], claimed[1], err) == LP_OK)
        return lp_error_set(err, LP_ERR_LIMITS, "PNG header: %s (limit %" PRIu32 "x%" PRIu32 ")",
                            spng_strerror(rc), max_w, max_h);
    if (rc == SPNG_EUSER_WIDTH || rc == SPNG_EUSER_HEIGHT)
        return LP_ERR_LIMITS;  /* lp_limits_check said which side, with the numbers */
    if (rc != 0)
        return spng_failure(s, rc, "header", err);
    return lp_limits_check(limits, s->ihdr.width, s->ihdr.height, err);
}

/* Buffer sizes from the header; called only after the limits passed. */
static lp_status plan_buffers(png_source *s, lp_error *err)
{
    const struct spng_ihdr *h = &s->ihdr;
    lp_format format = s->base.info.format;
    uint64_t raw_bits = (uint64_t)h->width * png_channels(h->color_type) * h->bit_depth;
    uint64_t out_stride = (uint64_t)h->width * lp_format_pixel_bytes(format);
    if (out_stride > SIZE_MAX / PNG_STRIP_ROWS || out_stride * h->height / h->height != out_stride)
        return lp_error_set(err, LP_ERR_LIMITS, "PNG rows of %" PRIu64 " bytes are too large",
                            out_stride);
    s->raw_row_bytes = (size_t)((raw_bits + 7) / 8);
    s->out_stride = (size_t)out_stride;
    s->interlaced = h->interlace_method != SPNG_INTERLACE_NONE;
    s->same_layout = h->bit_depth >= 8 && h->color_type != SPNG_COLOR_TYPE_INDEXED && !s->has_trns;
    s->base.whole_image = s->interlaced;

    if (s->interlaced)
        return LP_OK;  /* the whole-image buffer is allocated at the first next() */
    s->strip = lp_mem_alloc(s->base.mem, s->out_stride * PNG_STRIP_ROWS, "PNG strip", err);
    if (!s->strip)
        return err ? err->status : LP_ERR_NOMEM;
    if (!s->same_layout) {
        s->raw_row = lp_mem_alloc(s->base.mem, s->raw_row_bytes, "PNG row", err);
        if (!s->raw_row)
            return err ? err->status : LP_ERR_NOMEM;
    }
    return LP_OK;
}

/* Adam7: every pass revisits rows, so decode all of it before the first strip. */
static lp_status decode_interlaced(png_source *s, lp_error *err)
{
    size_t bytes = s->raw_row_bytes * s->ihdr.height;
    /* Zeroed: spng ORs packed low-depth samples into the row. */
    s->raw_image = lp_mem_calloc(s->base.mem, bytes, "interlaced PNG image", err);
    if (!s->raw_image)
        return err ? err->status : LP_ERR_NOMEM;
    s->base.held_bytes = bytes;
    int rc;
    do {
        struct spng_row_info info;
        rc = spng_get_row_info(s->ctx, &info);
        if (rc != 0)
            break;
        rc = spng_decode_row(s->ctx, s->raw_image + (size_t)info.row_num * s->raw_row_bytes,
                             s->raw_row_bytes);
    } while (rc == 0);
    if (rc != SPNG_EOI)
        return spng_failure(s, rc, "interlaced image data", err);
    if (s->same_layout && s->ihdr.bit_depth == 16)
        swap16_in_place(s->raw_image, bytes);
    if (!s->same_layout) {
        s->strip = lp_mem_alloc(s->base.mem, s->out_stride * PNG_STRIP_ROWS, "PNG strip", err);
        if (!s->strip)
            return err ? err->status : LP_ERR_NOMEM;
    }
    return LP_OK;
}

static lp_status start_decoding(png_source *s, lp_error *err)
{
    s->started = true;
    int rc = spng_decode_image(s->ctx, NULL, 0, SPNG_FMT_RAW, SPNG_DECODE_PROGRESSIVE);
    if (rc != 0)
        return spng_failure(s, rc, "image data", err);
    return s->interlaced ? decode_interlaced(s, err) : LP_OK;
}

/* Decodes one non-interlaced row into out. */
static lp_status decode_next_row(png_source *s, uint8_t *out, lp_error *err)
{
    uint8_t *target = s->same_layout ? out : s->raw_row;
    int rc = spng_decode_row(s->ctx, target, s->raw_row_bytes);
    bool last = s->next_row + 1 == s->ihdr.height;
    if (rc != 0 && !(rc == SPNG_EOI && last)) {
        char where[48];
        snprintf(where, sizeof where, "row %" PRIu32, s->next_row);
        return spng_failure(s, rc, where, err);
    }
    if (!s->same_layout)
        convert_row(s, s->raw_row, out);
    else if (s->ihdr.bit_depth == 16)
        swap16_in_place(out, s->raw_row_bytes);
    return LP_OK;
}

static lp_status png_source_next(lp_stage *self, lp_strip *strip, lp_error *err)
{
    png_source *s = (png_source *)self;
    enter_spng(s);
    if (!s->started) {
        lp_status st = start_decoding(s, err);
        if (st != LP_OK)
            return st;
    }
    uint32_t left = s->ihdr.height - s->next_row;
    uint32_t rows = left < PNG_STRIP_ROWS ? left : PNG_STRIP_ROWS;
    strip->y = s->next_row;
    strip->rows = rows;
    strip->stride = s->out_stride;
    if (rows == 0)
        return LP_OK;
    if (s->interlaced && s->same_layout) {
        strip->data = s->raw_image + (size_t)s->next_row * s->raw_row_bytes;
        s->next_row += rows;
        return LP_OK;
    }
    for (uint32_t r = 0; r < rows; r++) {
        uint8_t *out = s->strip + (size_t)r * s->out_stride;
        if (s->interlaced) {
            convert_row(s, s->raw_image + (size_t)s->next_row * s->raw_row_bytes, out);
        } else {
            lp_status st = decode_next_row(s, out, err);
            if (st != LP_OK)
                return st;
        }
        s->next_row++;
    }
    strip->data = s->strip;
    return LP_OK;
}

static void png_source_destroy(lp_stage *self)
{
    png_source *s = (png_source *)self;
    enter_spng(s);
    spng_ctx_free(s->ctx);
    lp_mem *mem = s->base.mem;
    lp_mem_release(mem, s->raw_row);
    lp_mem_release(mem, s->raw_image);
    lp_mem_release(mem, s->strip);
    lp_source_free(self, &s->common);
}

static const lp_stage_ops png_source_ops = {
    .name = "png-load",
    .next = png_source_next,
    .destroy = png_source_destroy,
};

lp_status lp_png_source_new(lp_stage **out, lp_input *in, const lp_limits *limits,
                            lp_mem *mem, lp_error *err)
{
    *out = NULL;
    png_source *s = lp_source_alloc(sizeof *s, in, "a PNG source", err);
    if (!s)
        return LP_ERR_NOMEM;
    lp_source_init(&s->base, &s->common, &png_source_ops, LP_FILE_PNG, in, limits, mem);
    enter_spng(s);
    uint32_t claimed[2] = {0, 0};
    lp_status st = check_signature(s, claimed, err);
    if (st == LP_OK)
        st = open_header(s, claimed, err);
    if (st == LP_OK) {
        /* Everything up to the first IDAT: palette, tRNS, iCCP, eXIf, text. */
        int rc = spng_decode_chunks(s->ctx);
        st = rc == 0 ? LP_OK : spng_failure(s, rc, "chunks before the image data", err);
    }
    if (st == LP_OK)
        st = read_colour_chunks(s, err);
    if (st == LP_OK) {
        read_metadata(s);
        s->base.info.width = s->ihdr.width;
        s->base.info.height = s->ihdr.height;
        s->base.info.format = output_format(&s->ihdr, s->has_trns);
        s->base.info.source_bit_depth = s->ihdr.bit_depth;
        s->base.info.source_progressive = s->ihdr.interlace_method != 0;
        st = plan_buffers(s, err);
    }
    if (st != LP_OK) {
        png_source_destroy(&s->base);
        return st;
    }
    *out = &s->base;
    return LP_OK;
}
