/*
 * formats/jpeg.c - JPEG: names, magic, header probe, memory model, completeness, and the
 * one planning choice only JPEG has: DCT shrink-on-load.
 *
 * The codec itself is src/codec/jpeg_load.c (libjpeg-turbo, strips of MCU rows) and
 * src/codec/jpeg_save.c. The probe walks the marker segments by their lengths up to the
 * frame header (size, sampling factors, progressive or not) with small preads, and reads
 * the EXIF orientation on the way when an APP1 segment holds one: enough for the planner,
 * without a decoder.
 */
#include "formats/format.h"
#include "io/file_bytes.h"

#include <stdlib.h>
#include <string.h>

/* Rows of the decode width a JPEG decoder and our strip hold (2 MCU rows of 16 + strip). */
#define JPEG_DECODE_ROWS 48u
/* Encoder: the output strip and libjpeg's MCU-row buffers (64 rows x 3 bytes per pixel of
 * the output width) plus its tables. */
#define JPEG_ENCODE_ROWS 64u
#define JPEG_ENCODE_FIXED_BYTES (256u * 1024u)
/* Segments before the frame header we walk through at most (real files: under 20). */
#define JPEG_MAX_SEGMENTS 1000u

static bool jpeg_sniff(const uint8_t *head, size_t len)
{
    return len >= 3 && head[0] == 0xFF && head[1] == 0xD8 && head[2] == 0xFF;
}

static bool is_sof(unsigned m)
{
    /* SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC). */
    return m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC;
}

static lp_status parse_sof(const uint8_t *seg, size_t len, unsigned marker, lp_probe *p,
                           lp_error *err)
{
    if (len < 6)
        return lp_error_set(err, LP_ERR_CORRUPT, "JPEG frame header too short");
    p->bit_depth = seg[0] > 8 ? 16 : 8;
    p->height = lp_be16(seg + 1);
    p->width = lp_be16(seg + 3);
    p->components = seg[5];
    /* Progressive (C2, C6, CA, CE) and lossless/hierarchical frames keep coefficients. */
    p->progressive = marker == 0xC2 || marker == 0xC6 || marker == 0xCA || marker == 0xCE;
    if (p->components < 1 || p->components > 4 || len < 6 + 3u * p->components)
        return lp_error_set(err, LP_ERR_CORRUPT, "JPEG frame header has %u components",
                            p->components);
    unsigned hmax = 1, vmax = 1;
    for (unsigned c = 0; c < p->components; c++) {
        unsigned h = seg[6 + 3 * c + 1] >> 4, v = seg[6 + 3 * c + 1] & 15;
        hmax = h > hmax ? h : hmax;
        vmax = v > vmax ? v : vmax;
    }
    p->samples_per_pixel = 0;
    for (unsigned c = 0; c < p->components; c++) {
        unsigned h = seg[6 + 3 * c + 1] >> 4, v = seg[6 + 3 * c + 1] & 15;
        p->samples_per_pixel += (double)(h ? h : 1) * (v ? v : 1) / ((double)hmax * vmax);
    }
    if (p->width == 0 || p->height == 0)
        return lp_error_set(err, LP_ERR_CORRUPT, "JPEG size %ux%u", p->width, p->height);
    return LP_OK;
}

/* The orientation of an APP1 "Exif\0\0" segment (payload of len bytes at offset at); the
 * segment is at most 64 KiB by construction (16-bit length). */
static int exif_orientation_at(int fd, uint64_t at, size_t len)
{
    if (len < 6 + 8)
        return 0;
    uint8_t *buf = malloc(len);
    int orientation = 0;
    if (buf && lp_file_read_at(fd, at, buf, len) && !memcmp(buf, "Exif\0\0", 6))
        orientation = lp_exif_orientation(buf + 6, len - 6);
    free(buf);
    return orientation;
}

static lp_status jpeg_probe(int fd, uint64_t size, lp_probe *p, lp_error *err)
{
    (void)size;
    uint64_t at = 2;
    p->orientation = 1;
    bool exif_seen = false;
    for (unsigned segments = 0; segments < JPEG_MAX_SEGMENTS; segments++) {
        uint8_t head[4];
        if (!lp_file_read_at(fd, at, head, 2))
            return lp_error_set(err, LP_ERR_TRUNCATED, "JPEG ends before its frame header");
        if (head[0] != 0xFF)
            return lp_error_set(err, LP_ERR_CORRUPT, "JPEG marker expected at byte %llu",
                                (unsigned long long)at);
        unsigned marker = head[1];
        if (marker == 0xFF) {  /* fill byte */
            at += 1;
            continue;
        }
        if (marker == 0xD8 || (marker >= 0xD0 && marker <= 0xD7) || marker == 0x01) {
            at += 2;
            continue;
        }
        if (marker == 0xD9 || marker == 0xDA)
            return lp_error_set(err, LP_ERR_CORRUPT, "JPEG has no frame header before its data");
        if (!lp_file_read_at(fd, at + 2, head + 2, 2))
            return lp_error_set(err, LP_ERR_TRUNCATED, "JPEG ends inside a marker");
        size_t len = lp_be16(head + 2);
        if (len < 2)
            return lp_error_set(err, LP_ERR_CORRUPT, "JPEG marker length %zu", len);
        if (marker == 0xE1 && !exif_seen) {
            int o = exif_orientation_at(fd, at + 4, len - 2);
            if (o) {  /* the decoder, too, takes the first EXIF segment */
                exif_seen = true;
                p->orientation = o;
            }
        }
        if (is_sof(marker)) {
            uint8_t seg[6 + 3 * 4];
            size_t want = len - 2 < sizeof seg ? len - 2 : sizeof seg;
            if (!lp_file_read_at(fd, at + 4, seg, want))
                return lp_error_set(err, LP_ERR_TRUNCATED, "JPEG ends inside its frame header");
            p->format = LP_FILE_JPEG;
            return parse_sof(seg, want, marker, p, err);
        }
        at += 2 + len;
    }
    return lp_error_set(err, LP_ERR_CORRUPT, "JPEG has over %u segments before its frame",
                        JPEG_MAX_SEGMENTS);
}

/* libjpeg scales by 1/2, 1/4, 1/8 while decoding: the largest reduction that keeps the
 * image at or above the output size. */
static unsigned jpeg_shrink_factor(const lp_probe *p, uint32_t out_w, uint32_t out_h)
{
    for (unsigned s = 8; s > 1; s /= 2)
        if ((p->width + s - 1) / s >= out_w && (p->height + s - 1) / s >= out_h)
            return s;
    return 1;
}

static uint64_t jpeg_decode_bytes(const lp_probe *p, const lp_plan *plan)
{
    uint64_t bytes = (uint64_t)plan->decode_width * (p->components ? p->components : 3) *
                     JPEG_DECODE_ROWS;
    if (p->progressive) /* coefficients of the full image, whatever the scale */
        bytes += (uint64_t)((double)p->width * p->height * p->samples_per_pixel * 2.0);
    return bytes;
}

static uint64_t jpeg_encode_bytes(const lp_probe *p, const lp_plan *plan,
                                  const lp_encode_options *opts)
{
    (void)p;
    (void)opts;
    return (uint64_t)plan->out_width * 3 * JPEG_ENCODE_ROWS + JPEG_ENCODE_FIXED_BYTES;
}

static lp_status jpeg_sink(lp_sink **out, lp_output *output, const lp_encode_options *opts,
                           const lp_plan *plan, lp_mem *mem, lp_error *err)
{
    (void)plan;
    return lp_jpeg_sink_new(out, output, opts, mem, err);
}

/* EOI, possibly followed by a little padding some writers add. */
static bool jpeg_complete(int fd, uint64_t size)
{
    uint8_t tail[2];
    for (uint64_t back = 2; back <= 16 && back <= size; back++) {
        if (!lp_file_read_at(fd, size - back, tail, 2))
            return false;
        if (tail[0] == 0xFF && tail[1] == 0xD9)
            return true;
    }
    return false;
}

static const char *const jpeg_extensions[] = {"jpg", "jpeg", "jpe", NULL};

const lp_format_desc lp_format_jpeg = {
    .id = LP_FILE_JPEG,
    .name = "jpeg",
    .extensions = jpeg_extensions,
    .sniff = jpeg_sniff,
    .source_new = lp_jpeg_source_new,
    .probe = jpeg_probe,
    .shrink_factor = jpeg_shrink_factor,
    .decode_bytes = jpeg_decode_bytes,
    .default_quality = LP_JPEG_DEFAULT_QUALITY,
    .encode_bytes = jpeg_encode_bytes,
    .sink_new = jpeg_sink,
    .output_complete = jpeg_complete,
};
