/*
 * image.c - pixel format traits and input limits. (File formats: src/formats/registry.c.)
 *
 * Pure functions over small tables; no state.
 */
#include "leanpix/image.h"

#include <inttypes.h>
#include <string.h>

typedef struct format_traits {
    const char *name;
    unsigned channels;
    unsigned sample_bytes;
    bool alpha;
} format_traits;

static const format_traits traits[LP_FORMAT_COUNT] = {
    [LP_FORMAT_G8] = {"G8", 1, 1, false},       [LP_FORMAT_GA8] = {"GA8", 2, 1, true},
    [LP_FORMAT_RGB8] = {"RGB8", 3, 1, false},   [LP_FORMAT_RGBA8] = {"RGBA8", 4, 1, true},
    [LP_FORMAT_G16] = {"G16", 1, 2, false},     [LP_FORMAT_GA16] = {"GA16", 2, 2, true},
    [LP_FORMAT_RGB16] = {"RGB16", 3, 2, false}, [LP_FORMAT_RGBA16] = {"RGBA16", 4, 2, true},
};

static const format_traits *traits_of(lp_format f)
{
    return (unsigned)f < LP_FORMAT_COUNT ? &traits[f] : &traits[LP_FORMAT_RGB8];
}

unsigned lp_format_channels(lp_format f) { return traits_of(f)->channels; }
unsigned lp_format_sample_bytes(lp_format f) { return traits_of(f)->sample_bytes; }
unsigned lp_format_pixel_bytes(lp_format f) { return traits_of(f)->channels * traits_of(f)->sample_bytes; }
bool lp_format_has_alpha(lp_format f) { return traits_of(f)->alpha; }
bool lp_format_is_gray(lp_format f) { return traits_of(f)->channels <= 2; }
const char *lp_format_name(lp_format f) { return traits_of(f)->name; }

lp_format lp_format_make(bool gray, bool alpha, bool sixteen_bit)
{
    static const lp_format table[2][2][2] = {
        {{LP_FORMAT_RGB8, LP_FORMAT_RGB16}, {LP_FORMAT_RGBA8, LP_FORMAT_RGBA16}},
        {{LP_FORMAT_G8, LP_FORMAT_G16}, {LP_FORMAT_GA8, LP_FORMAT_GA16}},
    };
    return table[gray][alpha][sixteen_bit];
}

void lp_limits_default(lp_limits *limits)
{
    limits->max_width = 65535;
    limits->max_height = 65535;
    limits->max_pixels = 268402689ull;
    limits->max_file_bytes = 2ull << 30;
    /* Each scan of a progressive JPEG is a pass over every coefficient of the components it
     * covers, so decoding time grows with the scan count, not the file size: 2,647 tiny
     * scans make a 150 kB 12 MP file cost 50 times a photo. Encoders write about 10 scans
     * (libjpeg's and jpegtran's -progressive 10, mozjpeg's optimised scripts under 20);
     * 100 leaves room for any hand-made script while keeping the worst case within a few
     * times a normal decode. libjpeg-turbo's own fuzzers stop at 500. */
    limits->max_scans = LP_DEFAULT_MAX_SCANS;
    /* The JPEG warnings we tolerate (stray bytes between segments, a bad ICC chunk) cost
     * little each, but a stream of thousands of them is not a camera file. */
    limits->max_warnings = LP_DEFAULT_MAX_WARNINGS;
    /* Real ICC profiles stay under 4 MB, XMP packets under a few MB and JPEG EXIF under
     * 64 KiB; 8 MiB keeps all of them while a file of 2,000 compressed text chunks cannot
     * inflate into tens of megabytes before its first pixel. */
    limits->max_metadata_bytes = LP_DEFAULT_MAX_METADATA_BYTES;
}

lp_status lp_limits_check(const lp_limits *limits, uint32_t width, uint32_t height, lp_error *err)
{
    lp_limits def;
    if (!limits) {
        lp_limits_default(&def);
        limits = &def;
    }
    if (width == 0 || height == 0)
        return lp_error_set(err, LP_ERR_CORRUPT, "image has a zero dimension (%" PRIu32 "x%" PRIu32 ")",
                            width, height);
    if (limits->max_width && width > limits->max_width)
        return lp_error_set(err, LP_ERR_LIMITS, "width %" PRIu32 " exceeds the limit of %" PRIu32,
                            width, limits->max_width);
    if (limits->max_height && height > limits->max_height)
        return lp_error_set(err, LP_ERR_LIMITS, "height %" PRIu32 " exceeds the limit of %" PRIu32,
                            height, limits->max_height);
    uint64_t pixels = (uint64_t)width * height;
    if (limits->max_pixels && pixels > limits->max_pixels)
        return lp_error_set(err, LP_ERR_LIMITS,
                            "%" PRIu32 "x%" PRIu32 " is %" PRIu64 " pixels, over the limit of %" PRIu64
                            " pixels", width, height, pixels, limits->max_pixels);
    return LP_OK;
}
