/*
 * formats/heif.c - HEIC/HEIF as an input: names, magic, header probe and memory model.
 * No output (sink_new NULL): leanpix writes AVIF, the royalty-free member of the family.
 *
 * The codec is src/codec/heif_load.c (libheif; the primary image decoded whole, pixels as
 * displayed). The probe reads the primary item's facts from the meta box with small
 * preads (src/codec/heif_boxes.c): its size after the clean aperture and a quarter turn
 * (what the source yields: libheif applies clap, irot and imir), alpha, depth and chroma.
 * The memory model is the source's own reservation (lp_heif_decode_estimate, measured:
 * see heif_load.c) plus its 16-bit strip.
 */
#include "codec/heif_boxes.h"
#include "formats/format.h"

#include <string.h>

/* Major brands of HEVC-coded HEIF files (images, collections, sequences; HEIF Annex B). */
static const char *const heif_major_brands[] = {"heic", "heix", "hevc", "hevx", "heim",
                                                "heis", "hevm", "hevs"};

/* True for an ftyp whose major brand is an HEVC one, or the generic mif1/msf1 without
 * an AVIF brand among the compatible brands that head shows (those are AVIF's). */
static bool heif_sniff(const uint8_t *head, size_t len)
{
    if (len < 12 || memcmp(head + 4, "ftyp", 4))
        return false;
    for (size_t i = 0; i < sizeof heif_major_brands / sizeof heif_major_brands[0]; i++)
        if (!memcmp(head + 8, heif_major_brands[i], 4))
            return true;
    if (memcmp(head + 8, "mif1", 4) && memcmp(head + 8, "msf1", 4))
        return false;
    return !lp_heif_ftyp_lists_avif(head, len);
}

static lp_status heif_probe(int fd, uint64_t size, lp_probe *p, lp_error *err)
{
    lp_heif_header h;
    lp_status st = lp_heif_read_header_fd(fd, size, LP_DEFAULT_MAX_METADATA_BYTES, &h, err);
    if (st != LP_OK)
        return st;
    uint32_t w = h.clap_width && h.clap_width <= h.width ? h.clap_width : h.width;
    uint32_t hh = h.clap_height && h.clap_height <= h.height ? h.clap_height : h.height;
    bool turned = h.orientation >= 5;
    p->format = LP_FILE_HEIF;
    p->width = turned ? hh : w;
    p->height = turned ? w : hh;
    p->components = h.alpha ? 4 : 3;
    p->bit_depth = h.bit_depth > 8 ? 16 : 8;
    /* samples of the decoded YCbCr(A) planes per pixel (1.5 for 4:2:0): the model's input */
    p->samples_per_pixel = (h.chroma_samples ? h.chroma_samples : 6) / 2.0 + (h.alpha ? 1.0 : 0.0);
    p->orientation = 1;  /* the source yields the pixels turned already */
    return LP_OK;
}

static uint64_t heif_decode_bytes(const lp_probe *p, const lp_plan *plan)
{
    (void)plan;
    bool alpha = p->components == 4;
    unsigned halves = (unsigned)((p->samples_per_pixel - (alpha ? 1.0 : 0.0)) * 2.0 + 0.5);
    uint64_t strip = p->bit_depth > 8 ? (uint64_t)p->width * p->components * 2 * 16 : 0;
    return lp_heif_decode_estimate(p->width, p->height, alpha, p->bit_depth, halves) + strip;
}

static const char *const heif_extensions[] = {"heic", "heif", "hif", NULL};

const lp_format_desc lp_format_heif = {
    .id = LP_FILE_HEIF,
    .name = "heic",
    .extensions = heif_extensions,
    .sniff = heif_sniff,
    .source_new = lp_heif_source_new,
    .probe = heif_probe,
    .decode_bytes = heif_decode_bytes,
    .default_quality = -1,
};
