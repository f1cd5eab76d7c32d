/*
 * formats/png.c - PNG: names, magic, header probe (IHDR sits at a fixed offset), memory
 * model and completeness. The codec is src/codec/png_load.c (libspng's progressive API,
 * 16 rows at a time) and src/codec/png_save.c.
 *
 * The probe does not look for an eXIf chunk (it may sit anywhere before the image data):
 * a PNG is planned as stored, orientation 1; the decoder reads eXIf when it runs.
 */
#include "formats/format.h"
#include "io/file_bytes.h"

#include <string.h>

/* Decoder: two rows of the input, the row being filtered, and zlib's window and state. */
#define PNG_DECODE_FIXED_BYTES (64u * 1024u)
/* Encoder: a strip of up to 8 rows of 3 samples of the output width, zlib's deflate state
 * (~256 KiB at level 6) and spng's buffers. */
#define PNG_ENCODE_ROWS 8u
#define PNG_ENCODE_FIXED_BYTES (512u * 1024u)

static bool png_sniff(const uint8_t *head, size_t len)
{
    return len >= 8 && !memcmp(head, "\x89PNG\r\n\x1a\n", 8);
}

static lp_status png_probe(int fd, uint64_t size, lp_probe *p, lp_error *err)
{
    (void)size;
    uint8_t ihdr[25];
    if (!lp_file_read_at(fd, 8, ihdr, sizeof ihdr))
        return lp_error_set(err, LP_ERR_TRUNCATED, "PNG ends before its header");
    if (memcmp(ihdr + 4, "IHDR", 4) || lp_be32(ihdr) != 13)
        return lp_error_set(err, LP_ERR_CORRUPT, "PNG does not start with IHDR");
    p->format = LP_FILE_PNG;
    p->width = lp_be32(ihdr + 8);
    p->height = lp_be32(ihdr + 12);
    p->bit_depth = ihdr[16];
    p->orientation = 1;
    static const unsigned channels_of_type[7] = {1, 0, 3, 1, 2, 0, 4};
    unsigned type = ihdr[17];
    p->components = type < 7 ? channels_of_type[type] : 0;
    if (type == 3)
        p->components = 4;  /* palette: expanded, maybe with tRNS alpha */
    p->samples_per_pixel = p->components;
    p->progressive = ihdr[20] == 1;  /* Adam7 */
    if (!p->components || p->width == 0 || p->height == 0)
        return lp_error_set(err, LP_ERR_CORRUPT, "PNG header: %ux%u, colour type %u",
                            p->width, p->height, type);
    return LP_OK;
}

static uint64_t png_decode_bytes(const lp_probe *p, const lp_plan *plan)
{
    (void)plan;
    uint64_t row = (uint64_t)p->width * p->components * (p->bit_depth > 8 ? 2 : 1);
    /* Adam7 needs the whole image to deinterlace. */
    uint64_t rows = p->progressive ? p->height : 2;
    return row * rows + 2 * row + PNG_DECODE_FIXED_BYTES;
}

static uint64_t png_encode_bytes(const lp_probe *p, const lp_plan *plan,
                                 const lp_encode_options *opts)
{
    (void)p;
    (void)opts;
    return (uint64_t)plan->out_width * PNG_ENCODE_ROWS * 3 + PNG_ENCODE_FIXED_BYTES;
}

static lp_status png_sink(lp_sink **out, lp_output *output, const lp_encode_options *opts,
                          const lp_plan *plan, lp_mem *mem, lp_error *err)
{
    (void)plan;
    return lp_png_sink_new(out, output, opts, mem, err);
}

static bool png_complete(int fd, uint64_t size)
{
    static const uint8_t iend[12] = {0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xAE, 0x42, 0x60, 0x82};
    uint8_t tail[12];
    return size >= 8 + 25 + 12 && lp_file_read_at(fd, size - 12, tail, 12) &&
           !memcmp(tail, iend, 12);
}

static const char *const png_extensions[] = {"png", NULL};

const lp_format_desc lp_format_png = {
    .id = LP_FILE_PNG,
    .name = "png",
    .extensions = png_extensions,
    .sniff = png_sniff,
    .source_new = lp_png_source_new,
    .probe = png_probe,
    .decode_bytes = png_decode_bytes,
    .default_quality = -1,
    .check_options = lp_png_check_options,
    .encode_bytes = png_encode_bytes,
    .sink_new = png_sink,
    .output_complete = png_complete,
};
