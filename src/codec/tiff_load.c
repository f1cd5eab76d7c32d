/*
 * tiff_load.c - the TIFF source: libtiff behind an lp_stage, the first page only.
 *
 * libtiff reads through client procedures over lp_input (positioned reads: a TIFF's
 * directory points anywhere in the file), opened with on-demand loading of the strip and
 * tile tables ("rO"), so a file claiming 100000 x 100000 pixels in a million strips costs
 * one directory read before lp_limits refuses it. Errors and warnings go to handlers on
 * the TIFFOpenOptions (never libtiff's global ones, which print): the first error becomes
 * the one-line lp_error, warnings are dropped. TIFFOpenOptionsSetMaxSingleMemAlloc caps
 * each of libtiff's own allocations at what is left of the job's budget.
 *
 * What is read: gray (1/2/4/8/16-bit, min-is-black or min-is-white), RGB (8/16), CMYK
 * (8/16, ink set CMYK, turned into RGB with the same naive formula as CMYK JPEGs:
 * R = (1-C)(1-K)), palette (1/2/4/8-bit -> RGB8), YCbCr only when JPEG-compressed (libjpeg
 * converts it to RGB: JPEGCOLORMODE_RGB), an alpha extra sample (associated alpha is
 * un-premultiplied; an RGB file with a fourth sample and no ExtraSamples tag has associated
 * alpha, as libtiff's own RGBA reader assumes), interleaved samples (PLANARCONFIG_CONTIG), unsigned integer samples,
 * and every compression libtiff was built with (none, LZW, Deflate, PackBits, JPEG...).
 * Anything else (float samples, separate planes, LAB) is LP_ERR_UNSUPPORTED by name.
 *
 * Streaming: a stripped image is read with TIFFReadScanline, one row at a time whatever
 * its rows per strip (libtiff decodes a strip progressively and chops a single
 * uncompressed strip itself); a tiled image is read a row of tiles at a time into a band
 * of tile-height rows. Each strip this stage yields is up to TIFF_STRIP_ROWS converted rows.
 *
 * Metadata: ICC (TIFFTAG_ICCPROFILE), XMP (TIFFTAG_XMLPACKET) copied into counted buffers
 * under limits.max_metadata_bytes; TIFFTAG_ORIENTATION is info.meta.orientation. The EXIF
 * sub-IFD is not re-serialised into an EXIF block (meta.dropped says so when there is one).
 *
 * Memory: counted: the converted strip, one raw row (strips) or the raw band and one tile
 * (tiles), the metadata copies. libtiff's own buffers (the compressed bytes of the current
 * strip or tile, at most the file's size and at most about the decoded strip, and the
 * codec state) are reserved as an estimate (see libtiff_bytes).
 */
#define _POSIX_C_SOURCE 200809L  /* pread */
#include "codec/source_common.h"
#include "codec/tiff_load.h"
#include "leanpix/codec.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tiffio.h>
#include <unistd.h>

#define TIFF_STRIP_ROWS 16u
/* libtiff's codec state beside the raw strip: zlib's inflate window and tables (~44 KiB),
 * libjpeg's decoder (~40 KiB plus a few rows), LZW's code table (~20 KiB); rounded up. */
#define TIFF_CODEC_STATE_BYTES (256u * 1024u)
/* The probe does not load the tile table: a tiled file is predicted with tiles this tall
 * (libtiff's and vips' writers use 256; 512 covers most others). */
#define TIFF_PROBE_TILE_ROWS 512u

typedef struct tiff_source {
    lp_stage base;
    lp_source_common common;  /* input, limits, metadata copies (no EXIF), reservation */
    TIFF *tif;
    uint64_t pos;             /* libtiff's file position (its seek/read procedures) */
    lp_error lib_err;         /* libtiff's first error */
    lp_error io_err;          /* why a read failed, when one did */
    /* layout */
    uint16_t bps, spp, photometric, colour_samples;
    int alpha_index;          /* sample index of the alpha channel, -1 when none */
    bool assoc_alpha;         /* premultiplied alpha: undone per pixel */
    bool same_layout;         /* raw rows are already output rows */
    uint16_t *cmap[3];        /* palette: libtiff's colormap (owned by libtiff) */
    bool cmap_8bit;           /* old writers store 8-bit values in the 16-bit colormap */
    bool tiled;
    uint32_t tile_w, tile_h;
    size_t raw_row_bytes;     /* one decoded row as libtiff yields it */
    size_t out_stride;
    /* buffers */
    uint8_t *raw;             /* strips: one raw row; tiles: a band of tile_h raw rows */
    uint8_t *tile;            /* tiles: one decoded tile */
    size_t tile_bytes;
    uint32_t band_y, band_rows; /* tiles: the rows the band holds */
    uint8_t *strip;           /* converted rows */
    uint32_t next_row;
} tiff_source;

/* ---- libtiff's client procedures over lp_input ---- */

static tmsize_t proc_read(thandle_t h, void *buf, tmsize_t size)
{
    tiff_source *s = (tiff_source *)h;
    if (size <= 0)
        return 0;
    size_t got;
    if (lp_input_read_at(s->common.in, s->pos, buf, (size_t)size, &got, &s->io_err) != LP_OK)
        return -1;
    s->pos += got;
    return (tmsize_t)got;
}

static tmsize_t proc_write(thandle_t h, void *buf, tmsize_t size)
{
    (void)h, (void)buf, (void)size;
    return -1;  /* read-only */
}

static toff_t proc_seek(thandle_t h, toff_t off, int whence)
{
    tiff_source *s = (tiff_source *)h;
    uint64_t end = lp_input_size(s->common.in);
    uint64_t base = whence == SEEK_CUR ? s->pos : whence == SEEK_END ? end : 0;
    s->pos = base + off;  /* toff_t wraps like the signed offsets libtiff means */
    return s->pos;
}

static int proc_close(thandle_t h)
{
    (void)h;
    return 0;
}

static toff_t proc_size(thandle_t h)
{
    return lp_input_size(((tiff_source *)h)->common.in);
}

static int proc_map(thandle_t h, void **base, toff_t *size)
{
    (void)h, (void)base, (void)size;
    return 0;  /* no mapping: libtiff reads */
}

static void proc_unmap(thandle_t h, void *base, toff_t size)
{
    (void)h, (void)base, (void)size;
}

/* ---- errors ---- */

static bool contains(const char *text, const char *word)
{
    return strstr(text, word) != NULL;
}

/* libtiff says what went wrong only in words; these pick the status from them. */
static lp_status status_of_message(const char *msg)
{
    if (contains(msg, "emory") || contains(msg, "allocat"))
        return LP_ERR_NOMEM;
    if (contains(msg, "Read error") || contains(msg, "Cannot read") || contains(msg, "EOF") ||
        contains(msg, "past end") || contains(msg, "end of file"))
        return LP_ERR_TRUNCATED;
    if (contains(msg, "not implemented") || contains(msg, "not supported") ||
        contains(msg, "nsupported") || contains(msg, "Sorry"))
        return LP_ERR_UNSUPPORTED;
    return LP_ERR_CORRUPT;
}

static int on_tiff_error(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap)
{
    (void)tif;
    tiff_source *s = user;
    if (s->lib_err.status == LP_OK) {
        char msg[LP_ERROR_MESSAGE_MAX];
        vsnprintf(msg, sizeof msg, fmt, ap);
        lp_error_set(&s->lib_err, status_of_message(msg), "TIFF %s: %s", module ? module : "",
                     msg);
    }
    return 1;  /* handled: libtiff's global handler (which prints) is not called */
}

static int on_tiff_warning(TIFF *tif, void *user, const char *module, const char *fmt,
                           va_list ap)
{
    (void)tif, (void)user, (void)module, (void)fmt, (void)ap;
    return 1;  /* unknown tags and the like: the pixels are fine */
}

/* The lp_error for a libtiff call that failed while doing `what`. */
static lp_status tiff_failure(tiff_source *s, const char *what, lp_error *err)
{
    if (s->io_err.status != LP_OK)
        return lp_error_set(err, s->io_err.status, "%s", s->io_err.message);
    if (s->lib_err.status != LP_OK)
        return lp_error_set(err, s->lib_err.status, "%s (%s)", s->lib_err.message, what);
    return lp_error_set(err, LP_ERR_CORRUPT, "TIFF: cannot read %s", what);
}

/* ---- layout ---- */

static lp_status unsupported(lp_error *err, const char *what, unsigned value)
{
    return lp_error_set(err, LP_ERR_UNSUPPORTED, "TIFF with %s %u is not supported", what, value);
}

/* Colour samples per pixel and the checks that go with the photometric interpretation. */
static lp_status read_photometric(tiff_source *s, lp_error *err)
{
    TIFF *t = s->tif;
    uint16_t compression = COMPRESSION_NONE, inkset = INKSET_CMYK;
    TIFFGetFieldDefaulted(t, TIFFTAG_COMPRESSION, &compression);
    if (!TIFFGetField(t, TIFFTAG_PHOTOMETRIC, &s->photometric))
        s->photometric = s->spp >= 3 ? PHOTOMETRIC_RGB : PHOTOMETRIC_MINISBLACK;
    switch (s->photometric) {
    case PHOTOMETRIC_MINISBLACK:
    case PHOTOMETRIC_MINISWHITE:
        s->colour_samples = 1;
        break;
    case PHOTOMETRIC_PALETTE:
        if (s->bps > 8)
            return unsupported(err, "palette bit depth", s->bps);
        if (!TIFFGetField(t, TIFFTAG_COLORMAP, &s->cmap[0], &s->cmap[1], &s->cmap[2]))
            return lp_error_set(err, LP_ERR_CORRUPT, "TIFF palette image has no colormap");
        s->colour_samples = 1;
        break;
    case PHOTOMETRIC_YCBCR:
        if (compression != COMPRESSION_JPEG)
            return unsupported(err, "YCbCr samples without JPEG compression, compression",
                               compression);
        /* libjpeg converts to RGB; libtiff then sizes rows as RGB. */
        if (!TIFFSetField(t, TIFFTAG_JPEGCOLORMODE, JPEGCOLORMODE_RGB))
            return tiff_failure(s, "YCbCr to RGB conversion", err);
        s->photometric = PHOTOMETRIC_RGB;
        s->colour_samples = 3;
        break;
    case PHOTOMETRIC_RGB:
        s->colour_samples = 3;
        break;
    case PHOTOMETRIC_SEPARATED:
        TIFFGetFieldDefaulted(t, TIFFTAG_INKSET, &inkset);
        if (inkset != INKSET_CMYK)
            return unsupported(err, "ink set", inkset);
        s->colour_samples = 4;
        break;
    default:
        return unsupported(err, "photometric interpretation", s->photometric);
    }
    if (s->spp < s->colour_samples)
        return lp_error_set(err, LP_ERR_CORRUPT, "TIFF has %u samples per pixel for %u colours",
                            s->spp, s->colour_samples);
    if (s->photometric != PHOTOMETRIC_MINISBLACK && s->photometric != PHOTOMETRIC_MINISWHITE &&
        s->photometric != PHOTOMETRIC_PALETTE && s->bps != 8 && s->bps != 16)
        return unsupported(err, "colour bit depth", s->bps);
    return LP_OK;
}

/* The sample index of the alpha channel (the first extra sample that is alpha), or -1;
 * *assoc when it is premultiplied. photometric as the source reads it (JPEG YCbCr = RGB).
 * Shared by the source and the probe, so that both say the same. */
static int alpha_sample(TIFF *t, uint16_t photometric, unsigned colour_samples, uint16_t spp,
                        bool *assoc)
{
    uint16_t count = 0;
    uint16_t *kinds = NULL;
    *assoc = false;
    if (!TIFFGetField(t, TIFFTAG_EXTRASAMPLES, &count, &kinds) || !kinds) {
        /* RGB with a fourth sample and no ExtraSamples tag: libtiff's RGBA reader takes it
         * as associated alpha; so do we */
        *assoc = photometric == PHOTOMETRIC_RGB && spp == 4;
        return *assoc ? 3 : -1;
    }
    for (uint16_t i = 0; i < count && colour_samples + i < spp; i++) {
        if (kinds[i] == EXTRASAMPLE_ASSOCALPHA || kinds[i] == EXTRASAMPLE_UNASSALPHA) {
            *assoc = kinds[i] == EXTRASAMPLE_ASSOCALPHA;
            return (int)(colour_samples + i);
        }
    }
    return -1;
}

static lp_status read_layout(tiff_source *s, lp_error *err)
{
    TIFF *t = s->tif;
    uint16_t planar = PLANARCONFIG_CONTIG, sample_format = SAMPLEFORMAT_UINT;
    TIFFGetFieldDefaulted(t, TIFFTAG_BITSPERSAMPLE, &s->bps);
    TIFFGetFieldDefaulted(t, TIFFTAG_SAMPLESPERPIXEL, &s->spp);
    TIFFGetFieldDefaulted(t, TIFFTAG_PLANARCONFIG, &planar);
    TIFFGetFieldDefaulted(t, TIFFTAG_SAMPLEFORMAT, &sample_format);
    if (sample_format != SAMPLEFORMAT_UINT && sample_format != SAMPLEFORMAT_VOID)
        return unsupported(err, "sample format", sample_format);
    if (s->bps != 1 && s->bps != 2 && s->bps != 4 && s->bps != 8 && s->bps != 16)
        return unsupported(err, "bits per sample", s->bps);
    if (s->spp == 0 || s->spp > 8)
        return unsupported(err, "samples per pixel", s->spp);
    if (planar != PLANARCONFIG_CONTIG && s->spp > 1)
        return lp_error_set(err, LP_ERR_UNSUPPORTED,
                            "TIFF with separate colour planes is not supported");
    lp_status st = read_photometric(s, err);
    if (st != LP_OK)
        return st;
    s->alpha_index = alpha_sample(s->tif, s->photometric, s->colour_samples, s->spp, &s->assoc_alpha);
    if (s->alpha_index >= 0 && s->bps < 8)
        return unsupported(err, "alpha at bit depth", s->bps);
    bool gray = s->colour_samples == 1 && s->photometric != PHOTOMETRIC_PALETTE;
    bool sixteen = s->bps == 16;
    s->base.info.format = lp_format_make(gray, s->alpha_index >= 0, sixteen);
    s->base.info.source_bit_depth = sixteen ? 16 : 8;
    s->base.info.source_samples_per_pixel = s->spp;
    unsigned out_channels = lp_format_channels(s->base.info.format);
    s->same_layout = (s->bps == 8 || s->bps == 16) && s->spp == out_channels && !s->assoc_alpha &&
                     (s->photometric == PHOTOMETRIC_MINISBLACK || s->photometric == PHOTOMETRIC_RGB);
    return LP_OK;
}

/* Old writers put 8-bit values in the 16-bit colormap (libtiff's checkcmap does the same). */
static void check_colormap(tiff_source *s)
{
    size_t n = (size_t)1 << s->bps;
    s->cmap_8bit = true;
    for (size_t i = 0; i < n && s->cmap_8bit; i++)
        s->cmap_8bit = s->cmap[0][i] < 256 && s->cmap[1][i] < 256 && s->cmap[2][i] < 256;
}

/* ---- conversion of one raw row ---- */

static inline unsigned raw_sample(const uint8_t *row, size_t i, unsigned bps)
{
    if (bps == 16) {
        uint16_t v;
        memcpy(&v, row + 2 * i, 2);  /* libtiff has swapped it to host order */
        return v;
    }
    if (bps == 8)
        return row[i];
    size_t bit = i * bps;
    unsigned shift = 8 - bps - (unsigned)(bit & 7);
    return (row[bit >> 3] >> shift) & ((1u << bps) - 1);
}

static void put_sample(uint8_t *out, size_t i, unsigned v, bool sixteen)
{
    if (sixteen) {
        uint16_t w = (uint16_t)v;
        memcpy(out + 2 * i, &w, 2);
    } else {
        out[i] = (uint8_t)v;
    }
}

/* Colour of one pixel at the output depth (0..max) into rgb (gray: rgb[0] only). */
static unsigned pixel_colour(const tiff_source *s, const unsigned *in, unsigned max,
                             unsigned rgb[3])
{
    switch (s->photometric) {
    case PHOTOMETRIC_PALETTE:
        for (int c = 0; c < 3; c++) {
            unsigned v = s->cmap[c][in[0]];
            rgb[c] = s->cmap_8bit ? v : (v * 255u + 32767u) / 65535u;
        }
        return 3;
    case PHOTOMETRIC_SEPARATED:
        for (int c = 0; c < 3; c++)
            rgb[c] = (unsigned)(((uint64_t)(max - in[c]) * (max - in[3]) + max / 2) / max);
        return 3;
    case PHOTOMETRIC_RGB:
        rgb[0] = in[0], rgb[1] = in[1], rgb[2] = in[2];
        return 3;
    default: {
        unsigned v = s->bps < 8 ? in[0] * (255u / ((1u << s->bps) - 1)) : in[0];
        rgb[0] = s->photometric == PHOTOMETRIC_MINISWHITE ? max - v : v;
        return 1;
    }
    }
}

static void convert_row(const tiff_source *s, const uint8_t *raw, uint8_t *out)
{
    bool sixteen = s->bps == 16;
    unsigned max = sixteen ? 65535u : 255u;
    unsigned ch = lp_format_channels(s->base.info.format);
    unsigned in[8];
    for (uint32_t x = 0; x < s->base.info.width; x++) {
        for (unsigned c = 0; c < s->spp; c++)
            in[c] = raw_sample(raw, (size_t)x * s->spp + c, s->bps);
        unsigned rgb[3];
        unsigned n = pixel_colour(s, in, max, rgb);
        if (s->alpha_index >= 0) {
            unsigned a = in[s->alpha_index];
            if (s->assoc_alpha && a > 0 && a < max)
                for (unsigned c = 0; c < n; c++) {
                    unsigned v = (unsigned)(((uint64_t)rgb[c] * max + a / 2) / a);
                    rgb[c] = v > max ? max : v;
                }
            put_sample(out, (size_t)x * ch + n, a, sixteen);
        }
        for (unsigned c = 0; c < n; c++)
            put_sample(out, (size_t)x * ch + c, rgb[c], sixteen);
    }
}

/* ---- metadata ---- */

static void copy_metadata(tiff_source *s, uint8_t **dst, const void *src, uint64_t size,
                          const uint8_t **meta, size_t *meta_size)
{
    uint64_t cap = s->common.limits.max_metadata_bytes;
    if (size == 0 || !src)
        return;
    if ((cap && s->common.metadata_bytes + size > cap) || size > SIZE_MAX) {
        s->base.info.meta.dropped = "metadata over the size limit";
        return;
    }
    *dst = lp_mem_alloc(s->base.mem, (size_t)size, "TIFF metadata", NULL);
    if (!*dst) {
        s->base.info.meta.dropped = "metadata over the memory budget";
        return;
    }
    memcpy(*dst, src, (size_t)size);
    s->common.metadata_bytes += size;
    *meta = *dst;
    *meta_size = (size_t)size;
}

static void read_metadata(tiff_source *s)
{
    lp_metadata *m = &s->base.info.meta;
    uint32_t count = 0;
    void *data = NULL;
    if (TIFFGetField(s->tif, TIFFTAG_ICCPROFILE, &count, &data))
        copy_metadata(s, &s->common.icc, data, count, &m->icc, &m->icc_size);
    count = 0;
    data = NULL;
    if (TIFFGetField(s->tif, TIFFTAG_XMLPACKET, &count, &data))
        copy_metadata(s, &s->common.xmp, data, count, &m->xmp, &m->xmp_size);
    uint16_t orientation = ORIENTATION_TOPLEFT;
    TIFFGetFieldDefaulted(s->tif, TIFFTAG_ORIENTATION, &orientation);
    m->orientation = orientation >= 1 && orientation <= 8 ? orientation : 1;
    uint64_t exif_ifd = 0;
    if (TIFFGetField(s->tif, TIFFTAG_EXIFIFD, &exif_ifd) && !m->dropped)
        m->dropped = "the EXIF sub-IFD of a TIFF is not carried (orientation is)";
}

/* ---- buffers ---- */

/* libtiff's own buffers for one strip or tile: its compressed bytes (at most the file,
 * at most about the decoded size plus slack for codecs that expand) and codec state. */
static uint64_t libtiff_bytes(const tiff_source *s, uint64_t decoded_unit)
{
    uint64_t raw = decoded_unit + decoded_unit / 8 + 4096;
    uint64_t file = lp_input_size(s->common.in);
    return (raw < file ? raw : file) + TIFF_CODEC_STATE_BYTES;
}

static lp_status plan_buffers(tiff_source *s, lp_error *err)
{
    TIFF *t = s->tif;
    const lp_image_info *info = &s->base.info;
    uint64_t out_stride = (uint64_t)info->width * lp_format_pixel_bytes(info->format);
    uint64_t raw_row = TIFFScanlineSize64(t);
    if (raw_row == 0)
        return tiff_failure(s, "the row size", err);
    /* convert_row reads width x samples x bits: libtiff's rows must be exactly that (they
     * are not, e.g., for subsampled YCbCr libjpeg did not convert) */
    uint64_t bits_per_pixel = (uint64_t)s->spp * s->bps;
    if (raw_row != ((uint64_t)info->width * bits_per_pixel + 7) / 8)
        return lp_error_set(err, LP_ERR_UNSUPPORTED,
                            "TIFF rows of %" PRIu64 " bytes for %" PRIu32 " pixels of %" PRIu64
                            " bits are not supported", raw_row, info->width, bits_per_pixel);
    uint64_t unit;  /* decoded bytes of one strip or tile */
    uint64_t band_rows = 1;
    s->tiled = TIFFIsTiled(t);
    s->base.info.source_progressive = s->tiled;  /* what lp_tiff_probe_fd says too */
    if (s->tiled) {
        if (!TIFFGetField(t, TIFFTAG_TILEWIDTH, &s->tile_w) ||
            !TIFFGetField(t, TIFFTAG_TILELENGTH, &s->tile_h) || !s->tile_w || !s->tile_h)
            return lp_error_set(err, LP_ERR_CORRUPT, "TIFF tiles without a size");
        unit = TIFFTileSize64(t);
        band_rows = s->tile_h < info->height ? s->tile_h : info->height;
        if (unit == 0)
            return tiff_failure(s, "the tile size", err);
        uint64_t tile_row = ((uint64_t)s->tile_w * bits_per_pixel + 7) / 8;
        if (TIFFTileRowSize64(t) != tile_row || unit < tile_row * s->tile_h ||
            (uint64_t)s->tile_w * bits_per_pixel % 8)
            return lp_error_set(err, LP_ERR_UNSUPPORTED,
                                "TIFF tiles of %" PRIu32 "x%" PRIu32 " in %" PRIu64
                                " bytes are not supported", s->tile_w, s->tile_h, unit);
    } else {
        uint32_t rps = info->height;
        TIFFGetFieldDefaulted(t, TIFFTAG_ROWSPERSTRIP, &rps);
        unit = raw_row * (rps < info->height ? rps : info->height);
    }
    uint64_t band = raw_row * band_rows;
    if (out_stride > SIZE_MAX / TIFF_STRIP_ROWS || band > SIZE_MAX || unit > SIZE_MAX)
        return lp_error_set(err, LP_ERR_LIMITS, "TIFF rows of %" PRIu64 " bytes are too large",
                            raw_row);
    s->raw_row_bytes = (size_t)raw_row;
    s->out_stride = (size_t)out_stride;
    uint64_t lib = libtiff_bytes(s, unit);
    lp_status st = lp_source_reserve(&s->base, &s->common, lib, "libtiff strip and codec buffers",
                                     err);
    if (st != LP_OK)
        return st;
    s->raw = lp_mem_alloc(s->base.mem, (size_t)band, s->tiled ? "TIFF tile row" : "TIFF row", err);
    if (!s->raw)
        return err ? err->status : LP_ERR_NOMEM;
    if (s->tiled) {
        s->tile_bytes = (size_t)unit;
        s->tile = lp_mem_alloc(s->base.mem, s->tile_bytes, "TIFF tile", err);
        if (!s->tile)
            return err ? err->status : LP_ERR_NOMEM;
    }
    if (!s->same_layout || s->tiled) {
        s->strip = lp_mem_alloc(s->base.mem, s->out_stride * TIFF_STRIP_ROWS, "TIFF strip", err);
        if (!s->strip)
            return err ? err->status : LP_ERR_NOMEM;
    }
    return LP_OK;
}

/* ---- decoding ---- */

/* Tiles: decodes the row of tiles holding image row y into the band. */
static lp_status fill_band(tiff_source *s, uint32_t y, lp_error *err)
{
    uint32_t width = s->base.info.width, height = s->base.info.height;
    uint32_t top = y - y % s->tile_h;
    uint32_t rows = height - top < s->tile_h ? height - top : s->tile_h;
    size_t tile_row_bytes = (size_t)(TIFFTileRowSize64(s->tif));
    uint64_t bits_per_pixel = (uint64_t)s->spp * s->bps;
    for (uint32_t x = 0; x < width; x += s->tile_w) {
        uint32_t tile = TIFFComputeTile(s->tif, x, top, 0, 0);
        if (TIFFReadEncodedTile(s->tif, tile, s->tile, (tmsize_t)s->tile_bytes) < 0) {
            char what[64];
            snprintf(what, sizeof what, "tile at %" PRIu32 ",%" PRIu32, x, top);
            return tiff_failure(s, what, err);
        }
        /* Tile widths are multiples of 16, so every tile starts on a byte. */
        size_t at = (size_t)(x * bits_per_pixel / 8);
        uint32_t cols = width - x < s->tile_w ? width - x : s->tile_w;
        size_t bytes = (size_t)((cols * bits_per_pixel + 7) / 8);
        for (uint32_t r = 0; r < rows; r++)
            memcpy(s->raw + (size_t)r * s->raw_row_bytes + at,
                   s->tile + (size_t)r * tile_row_bytes, bytes);
    }
    s->band_y = top;
    s->band_rows = rows;
    return LP_OK;
}

/* The raw bytes of row y (rows are asked for in order). */
static lp_status raw_row(tiff_source *s, uint32_t y, const uint8_t **row, lp_error *err)
{
    if (s->tiled) {
        if (s->band_rows == 0 || y >= s->band_y + s->band_rows) {
            lp_status st = fill_band(s, y, err);
            if (st != LP_OK)
                return st;
        }
        *row = s->raw + (size_t)(y - s->band_y) * s->raw_row_bytes;
        return LP_OK;
    }
    if (TIFFReadScanline(s->tif, s->raw, y, 0) < 0) {
        char what[48];
        snprintf(what, sizeof what, "row %" PRIu32, y);
        return tiff_failure(s, what, err);
    }
    *row = s->raw;
    return LP_OK;
}

static lp_status tiff_next(lp_stage *self, lp_strip *strip, lp_error *err)
{
    tiff_source *s = (tiff_source *)self;
    uint32_t left = self->info.height - s->next_row;
    uint32_t rows = left < TIFF_STRIP_ROWS ? left : TIFF_STRIP_ROWS;
    strip->y = s->next_row;
    strip->rows = 0;
    strip->stride = s->out_stride;
    if (rows == 0)
        return LP_OK;
    /* Stripped rows that keep their layout go straight out, one row per strip. */
    if (s->same_layout && !s->tiled) {
        const uint8_t *row;
        lp_status st = raw_row(s, s->next_row, &row, err);
        if (st != LP_OK)
            return st;
        strip->data = row;
        strip->rows = 1;
        s->next_row++;
        return LP_OK;
    }
    for (uint32_t r = 0; r < rows; r++) {
        const uint8_t *row;
        lp_status st = raw_row(s, s->next_row, &row, err);
        if (st != LP_OK)
            return st;
        uint8_t *out = s->strip + (size_t)r * s->out_stride;
        if (s->same_layout)
            memcpy(out, row, s->out_stride);
        else
            convert_row(s, row, out);
        s->next_row++;
    }
    strip->data = s->strip;
    strip->rows = rows;
    return LP_OK;
}

static void tiff_destroy(lp_stage *self)
{
    tiff_source *s = (tiff_source *)self;
    if (s->tif)
        TIFFClose(s->tif);
    lp_mem *mem = self->mem;
    lp_mem_release(mem, s->raw);
    lp_mem_release(mem, s->tile);
    lp_mem_release(mem, s->strip);
    lp_source_free(self, &s->common);
}

static const lp_stage_ops tiff_source_ops = {
    .name = "tiff-load",
    .next = tiff_next,
    .destroy = tiff_destroy,
};

/* The caps libtiff gets: each of its allocations within what is left of the budget. */
static tmsize_t single_alloc_cap(const lp_mem *mem)
{
    uint64_t limit = mem ? lp_mem_limit(mem) : 0;
    if (!limit)
        return 0;  /* no budget: no cap */
    uint64_t used = lp_mem_current(mem);
    uint64_t left = limit > used ? limit - used : 1;
    return left > (uint64_t)INT64_MAX ? 0 : (tmsize_t)left;
}

static lp_status check_magic(tiff_source *s, lp_error *err)
{
    uint8_t head[4];
    size_t got;
    lp_status st = lp_input_peek(s->common.in, head, sizeof head, &got, err);
    if (st != LP_OK)
        return st;
    if (got < 4)
        return lp_error_set(err, LP_ERR_TRUNCATED, "TIFF data ends early (in the header)");
    bool le = head[0] == 'I' && head[1] == 'I' && (head[2] == 42 || head[2] == 43) && !head[3];
    bool be = head[0] == 'M' && head[1] == 'M' && !head[2] && (head[3] == 42 || head[3] == 43);
    if (!le && !be)
        return lp_error_set(err, LP_ERR_CORRUPT, "not a TIFF file (bad signature)");
    return LP_OK;
}

static lp_status open_tiff(tiff_source *s, lp_error *err)
{
    lp_status st = check_magic(s, err);
    if (st != LP_OK)
        return st;
    TIFFOpenOptions *opts = TIFFOpenOptionsAlloc();
    if (!opts)
        return lp_error_set(err, LP_ERR_NOMEM, "cannot allocate TIFF open options");
    TIFFOpenOptionsSetMaxSingleMemAlloc(opts, single_alloc_cap(s->base.mem));
    TIFFOpenOptionsSetErrorHandlerExtR(opts, on_tiff_error, s);
    TIFFOpenOptionsSetWarningHandlerExtR(opts, on_tiff_warning, s);
    /* "O": strip and tile tables are loaded on demand, not at open. "m": no mapping. */
    s->tif = TIFFClientOpenExt(lp_input_name(s->common.in), "rOm", (thandle_t)s, proc_read,
                               proc_write, proc_seek, proc_close, proc_size, proc_map, proc_unmap,
                               opts);
    TIFFOpenOptionsFree(opts);
    if (!s->tif)
        return tiff_failure(s, "the header", err);
    uint32_t width = 0, height = 0;
    if (!TIFFGetField(s->tif, TIFFTAG_IMAGEWIDTH, &width) ||
        !TIFFGetField(s->tif, TIFFTAG_IMAGELENGTH, &height))
        return lp_error_set(err, LP_ERR_CORRUPT, "TIFF has no image size");
    st = lp_limits_check(&s->common.limits, width, height, err);
    if (st != LP_OK)
        return st;
    s->base.info.width = width;
    s->base.info.height = height;
    return LP_OK;
}

lp_status lp_tiff_source_new(lp_stage **out, lp_input *in, const lp_limits *limits,
                             lp_mem *mem, lp_error *err)
{
    *out = NULL;
    tiff_source *s = lp_source_alloc(sizeof *s, in, "a TIFF source", err);
    if (!s)
        return LP_ERR_NOMEM;
    lp_source_init(&s->base, &s->common, &tiff_source_ops, LP_FILE_TIFF, in, limits, mem);
    lp_status st = open_tiff(s, err);
    if (st == LP_OK)
        st = read_layout(s, err);
    if (st == LP_OK) {
        if (s->photometric == PHOTOMETRIC_PALETTE)
            check_colormap(s);
        read_metadata(s);
        st = plan_buffers(s, err);
    }
    if (st != LP_OK) {
        tiff_destroy(&s->base);
        return st;
    }
    *out = &s->base;
    return LP_OK;
}

/* ---- the probe: libtiff over a descriptor, the first directory only ---- */

typedef struct probe_file {
    int fd;
    uint64_t pos, size;
} probe_file;

static tmsize_t probe_read(thandle_t h, void *buf, tmsize_t size)
{
    probe_file *f = (probe_file *)h;
    ssize_t n = size > 0 ? pread(f->fd, buf, (size_t)size, (off_t)f->pos) : 0;
    if (n > 0)
        f->pos += (uint64_t)n;
    return n;
}

static toff_t probe_seek(thandle_t h, toff_t off, int whence)
{
    probe_file *f = (probe_file *)h;
    f->pos = (whence == SEEK_CUR ? f->pos : whence == SEEK_END ? f->size : 0) + off;
    return f->pos;
}

static toff_t probe_size(thandle_t h)
{
    return ((probe_file *)h)->size;
}

static int on_probe_error(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap)
{
    (void)tif, (void)module;
    lp_error *e = user;
    if (e->status == LP_OK) {
        char msg[LP_ERROR_MESSAGE_MAX];
        vsnprintf(msg, sizeof msg, fmt, ap);
        lp_error_set(e, status_of_message(msg), "TIFF: %s", msg);
    }
    return 1;
}

lp_status lp_tiff_probe_fd(int fd, uint64_t size, lp_probe *p, lp_error *err)
{
    probe_file f = {fd, 0, size};
    lp_error lib = {0};
    TIFFOpenOptions *opts = TIFFOpenOptionsAlloc();
    if (!opts)
        return lp_error_set(err, LP_ERR_NOMEM, "cannot allocate TIFF open options");
    TIFFOpenOptionsSetErrorHandlerExtR(opts, on_probe_error, &lib);
    TIFFOpenOptionsSetWarningHandlerExtR(opts, on_tiff_warning, NULL);
    TIFF *t = TIFFClientOpenExt("probe", "rOm", (thandle_t)&f, probe_read, proc_write,
                                probe_seek, proc_close, probe_size, proc_map, proc_unmap, opts);
    TIFFOpenOptionsFree(opts);
    if (!t)
        return lp_error_set(err, lib.status ? lib.status : LP_ERR_CORRUPT, "%s",
                            lib.status ? lib.message : "TIFF: cannot read the header");
    uint32_t w = 0, h = 0;
    uint16_t bps = 1, spp = 1, photometric = PHOTOMETRIC_MINISBLACK, orientation = 1;
    TIFFGetField(t, TIFFTAG_IMAGEWIDTH, &w);
    TIFFGetField(t, TIFFTAG_IMAGELENGTH, &h);
    TIFFGetFieldDefaulted(t, TIFFTAG_BITSPERSAMPLE, &bps);
    TIFFGetFieldDefaulted(t, TIFFTAG_SAMPLESPERPIXEL, &spp);
    if (!TIFFGetField(t, TIFFTAG_PHOTOMETRIC, &photometric))  /* as read_photometric */
        photometric = spp >= 3 ? PHOTOMETRIC_RGB : PHOTOMETRIC_MINISBLACK;
    TIFFGetFieldDefaulted(t, TIFFTAG_ORIENTATION, &orientation);
    bool gray = photometric == PHOTOMETRIC_MINISBLACK || photometric == PHOTOMETRIC_MINISWHITE;
    if (photometric == PHOTOMETRIC_YCBCR)
        photometric = PHOTOMETRIC_RGB;  /* as the source reads it */
    unsigned colour = gray || photometric == PHOTOMETRIC_PALETTE ? 1
                      : photometric == PHOTOMETRIC_SEPARATED ? 4 : 3;
    bool assoc;
    bool alpha = alpha_sample(t, photometric, colour, spp, &assoc) >= 0;
    p->format = LP_FILE_TIFF;
    p->width = w;
    p->height = h;
    p->bit_depth = bps == 16 ? 16 : 8;
    p->components = (gray ? 1u : 3u) + (alpha ? 1u : 0u);
    p->samples_per_pixel = spp;
    p->progressive = TIFFIsTiled(t);
    p->orientation = orientation >= 1 && orientation <= 8 ? orientation : 1;
    p->file_bytes = size;
    TIFFClose(t);
    if (!w || !h)
        return lp_error_set(err, LP_ERR_CORRUPT, "TIFF size %ux%u", w, h);
    return LP_OK;
}

uint64_t lp_tiff_decode_bytes(const lp_probe *p)
{
    uint64_t sample_bytes = p->bit_depth == 16 ? 2 : 1;
    uint64_t out_stride = (uint64_t)p->width * p->components * sample_bytes;
    uint64_t raw_row = (uint64_t)p->width * (uint64_t)(p->samples_per_pixel + 0.5) * sample_bytes;
    uint64_t rows = p->progressive ? TIFF_PROBE_TILE_ROWS : 1;
    if (rows > p->height)
        rows = p->height;
    /* band (or row) + one tile of the same size + libtiff's compressed unit and state */
    uint64_t band = raw_row * rows;
    uint64_t unit = p->progressive ? band : raw_row * p->height;
    uint64_t lib = unit + unit / 8 + 4096;
    lib = (lib < p->file_bytes ? lib : p->file_bytes) + TIFF_CODEC_STATE_BYTES;
    return out_stride * TIFF_STRIP_ROWS + band + (p->progressive ? band : 0) + lib;
}
