/*
 * test_png.c - the PNG decoder (png_load.c) and encoder (png_save.c).
 *
 * Exact round trips for all eight formats at odd and tiny sizes; our files read by
 * independent decoders (libspng directly, ImageMagick); PNGs written by ImageMagick
 * (palette, palette + tRNS, gray 1/2/4-bit, gray+alpha, 16-bit RGB/RGBA, interlaced) and
 * forged colour keys (tRNS on gray/RGB) decoded by ours and compared pixel for pixel;
 * ICC/EXIF/XMP carried byte for byte; bad input (truncated, bad CRC, a huge IHDR) gives
 * the right error before anything is allocated; memory stays at a few rows.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define IM "/usr/bin/convert"  /* ImageMagick's; /usr/local/bin/convert may be a stand-in */

static const lp_format all_formats[] = {
    LP_FORMAT_G8,  LP_FORMAT_GA8,  LP_FORMAT_RGB8,  LP_FORMAT_RGBA8,
    LP_FORMAT_G16, LP_FORMAT_GA16, LP_FORMAT_RGB16, LP_FORMAT_RGBA16,
};

#define REQUIRE_IMAGEMAGICK()                                                              \
    do {                                                                                   \
        if (access(IM, X_OK) != 0) {                                                       \
            fprintf(stderr, "SKIP: ImageMagick (" IM ") is not installed\n");             \
            skip();                                                                        \
        }                                                                                  \
    } while (0)

/* ---- helpers ---- */

static uint8_t *encode_png_opts(const lp_buffer_image *img, const lp_encode_options *opts,
                                lp_mem *mem, size_t *size)
{
    lp_output *out;
    assert_int_equal(lp_output_open_memory(&out, NULL, NULL), LP_OK);
    lp_sink *sink;
    lp_error err = {0};
    assert_int_equal(lp_png_sink_new(&sink, out, opts, mem, &err), LP_OK);
    lp_stage *src;
    assert_int_equal(lp_buffer_source_new(&src, img, 5, NULL), LP_OK);  /* strips of 5 rows */
    lp_status st = lp_pipeline_run(src, sink, NULL, NULL, &err);
    if (st != LP_OK)
        fail_msg("PNG encoding failed: %s", lp_error_message(&err));
    lp_sink_destroy(sink);
    lp_stage_destroy(src);
    uint8_t *data = lp_output_take(out, size);
    lp_output_close(out);
    assert_non_null(data);
    return data;
}

static uint8_t *encode_png(const lp_buffer_image *img, size_t *size)
{
    lp_encode_options opts;
    lp_encode_options_default(&opts, LP_FILE_PNG);
    return encode_png_opts(img, &opts, NULL, size);
}

/* Opens our PNG source over a memory buffer; NULL (and err) on failure. */
static lp_stage *open_png(const uint8_t *data, size_t size, const lp_limits *limits, lp_mem *mem,
                          lp_error *err)
{
    lp_input *in;
    assert_int_equal(lp_input_open_memory(&in, data, size, NULL), LP_OK);
    lp_stage *src = NULL;
    if (lp_png_source_new(&src, in, limits, mem, err) != LP_OK)
        return NULL;
    assert_string_equal(src->ops->name, "png-load");
    return src;
}

static lp_status decode_png(const uint8_t *data, size_t size, lp_buffer_image *img, lp_error *err)
{
    memset(img, 0, sizeof *img);
    lp_stage *src = open_png(data, size, NULL, NULL, err);
    if (!src)
        return err->status;
    lp_status st = lp_pipeline_to_buffer(src, img, NULL, err);
    lp_stage_destroy(src);
    return st;
}

/* A pixel as R, G, B, A at the image's own depth (gray replicated, opaque when no alpha). */
static void pixel_rgba(const lp_buffer_image *img, uint32_t x, uint32_t y, unsigned out[4])
{
    lp_format f = img->info.format;
    unsigned ch = lp_format_channels(f);
    bool sixteen = lp_format_sample_bytes(f) == 2;
    const uint8_t *p = img->pixels + (size_t)y * img->stride + (size_t)x * lp_format_pixel_bytes(f);
    unsigned v[4] = {0};
    for (unsigned c = 0; c < ch; c++)
        v[c] = sixteen ? ((const uint16_t *)p)[c] : p[c];
    bool gray = ch <= 2;
    out[0] = v[0];
    out[1] = gray ? v[0] : v[1];
    out[2] = gray ? v[0] : v[2];
    out[3] = lp_format_has_alpha(f) ? v[ch - 1] : (sixteen ? 65535u : 255u);
}

/* Same pixels (after gray/alpha expansion), at the same bit depth. When
 * skip_transparent_rgb, colour under alpha 0 is not compared (encoders may change it). */
static void assert_same_pixels(const lp_buffer_image *want, const lp_buffer_image *got,
                               bool skip_transparent_rgb)
{
    assert_int_equal(want->info.width, got->info.width);
    assert_int_equal(want->info.height, got->info.height);
    assert_int_equal(lp_format_sample_bytes(want->info.format),
                     lp_format_sample_bytes(got->info.format));
    for (uint32_t y = 0; y < want->info.height; y++)
        for (uint32_t x = 0; x < want->info.width; x++) {
            unsigned a[4], b[4];
            pixel_rgba(want, x, y, a);
            pixel_rgba(got, x, y, b);
            unsigned first = skip_transparent_rgb && a[3] == 0 ? 3 : 0;
            for (unsigned c = first; c < 4; c++)
                if (a[c] != b[c])
                    fail_msg("pixel (%u,%u) channel %u: want %u, got %u", x, y, c, a[c], b[c]);
        }
}

static void assert_identical(const lp_buffer_image *want, const lp_buffer_image *got)
{
    assert_int_equal(want->info.format, got->info.format);
    assert_int_equal(want->info.width, got->info.width);
    assert_int_equal(want->info.height, got->info.height);
    size_t row = (size_t)want->info.width * lp_format_pixel_bytes(want->info.format);
    for (uint32_t y = 0; y < want->info.height; y++)
        assert_memory_equal(want->pixels + y * want->stride, got->pixels + y * got->stride, row);
}

/* Writes img as PAM (P7), which ImageMagick reads at any depth with or without alpha. */
static void write_pam(const char *path, const lp_buffer_image *img)
{
    lp_format f = img->info.format;
    static const char *tuple[] = {"", "GRAYSCALE", "GRAYSCALE_ALPHA", "RGB", "RGB_ALPHA"};
    bool sixteen = lp_format_sample_bytes(f) == 2;
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    fprintf(fp, "P7\nWIDTH %u\nHEIGHT %u\nDEPTH %u\nMAXVAL %u\nTUPLTYPE %s\nENDHDR\n",
            img->info.width, img->info.height, lp_format_channels(f), sixteen ? 65535 : 255,
            tuple[lp_format_channels(f)]);
    size_t row = (size_t)img->info.width * lp_format_pixel_bytes(f);
    for (uint32_t y = 0; y < img->info.height; y++) {
        const uint8_t *p = img->pixels + y * img->stride;
        for (size_t i = 0; i < row; i += sixteen ? 2 : 1) {
            if (sixteen) {
                uint16_t v = *(const uint16_t *)(p + i);
                fputc(v >> 8, fp);
                fputc(v & 0xff, fp);
            } else {
                fputc(p[i], fp);
            }
        }
    }
    fclose(fp);
}

/* IHDR fields straight from the file bytes. */
typedef struct ihdr_bytes {
    unsigned depth, colour_type, interlace;
} ihdr_bytes;

static ihdr_bytes read_ihdr(const uint8_t *png, size_t size)
{
    assert_true(size > 33);
    assert_memory_equal(png + 12, "IHDR", 4);
    return (ihdr_bytes){png[24], png[25], png[28]};
}

static bool has_chunk(const uint8_t *png, size_t size, const char *type)
{
    size_t pos = 8;
    while (pos + 12 <= size) {
        uint32_t len = (uint32_t)png[pos] << 24 | png[pos + 1] << 16 | png[pos + 2] << 8 | png[pos + 3];
        if (!memcmp(png + pos + 4, type, 4))
            return true;
        pos += 12 + (size_t)len;
    }
    return false;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Writes a chunk (length, type, data, CRC over type+data) at p; returns bytes written. */
static size_t make_chunk(uint8_t *p, const char *type, const uint8_t *data, uint32_t len)
{
    put_be32(p, len);
    memcpy(p + 4, type, 4);
    if (len)
        memcpy(p + 8, data, len);
    put_be32(p + 8 + len, (uint32_t)crc32(0, p + 4, len + 4));
    return 12 + (size_t)len;
}

/* A copy of png with a chunk inserted right after IHDR (malloc'd). */
static uint8_t *insert_after_ihdr(const uint8_t *png, size_t size, const char *type,
                                  const uint8_t *data, uint32_t len, size_t *out_size)
{
    uint8_t *out = malloc(size + 12 + len);
    memcpy(out, png, 33);
    size_t n = make_chunk(out + 33, type, data, len);
    memcpy(out + 33 + n, png + 33, size - 33);
    *out_size = size + n;
    return out;
}

/* Runs ImageMagick on img (as PAM) with args; returns the PNG bytes it wrote. */
static uint8_t *imagemagick_png(const lp_buffer_image *img, const char *args, const char *name,
                                size_t *size)
{
    const char *pam = lpt_path("im-src.pam");
    const char *png = lpt_path(name);
    write_pam(pam, img);
    assert_int_equal(lpt_run(IM " '%s' %s'%s'", pam, args, png), 0);
    uint8_t *data = lpt_read_file(png, size);
    assert_non_null(data);
    return data;
}

/* An image of up to 7 colours (so a palette holds it exactly), blocks of 3x2 pixels. */
static void make_few_colours(lp_buffer_image *img, uint32_t w, uint32_t h, lp_format f,
                             unsigned ncolours, bool binary_alpha)
{
    static const uint8_t colours[][4] = {
        {255, 0, 0, 255}, {0, 200, 30, 255}, {10, 20, 250, 0}, {250, 250, 0, 255},
        {128, 64, 32, 255}, {0, 0, 0, 0}, {255, 255, 255, 255},
    };
    assert_int_equal(lp_buffer_image_alloc(img, w, h, f, NULL, NULL), LP_OK);
    unsigned px = lp_format_pixel_bytes(f);
    for (uint32_t y = 0; y < h; y++)
        for (uint32_t x = 0; x < w; x++) {
            const uint8_t *c = colours[(x / 3 + y / 2 * 5) % ncolours];
            uint8_t *p = img->pixels + y * img->stride + x * px;
            memcpy(p, c, px);
            if (px == 4 && !binary_alpha)
                p[3] = 255;
        }
}

/* Gray values from `levels` evenly spaced steps of 255 (what a 1/2/4-bit PNG holds). */
static void make_gray_levels(lp_buffer_image *img, uint32_t w, uint32_t h, unsigned levels)
{
    assert_int_equal(lp_buffer_image_alloc(img, w, h, LP_FORMAT_G8, NULL, NULL), LP_OK);
    unsigned step = 255 / (levels - 1);
    for (uint32_t y = 0; y < h; y++)
        for (uint32_t x = 0; x < w; x++)
            img->pixels[y * img->stride + x] = (uint8_t)(((x * 7 + y * 3) % levels) * step);
}

/* ---- round trips ---- */

static void test_round_trip_all_formats_and_sizes(void **state)
{
    (void)state;
    static const uint32_t sizes[][2] = {{1, 1}, {1, 7}, {7, 1}, {33, 17}};
    static const ihdr_bytes expect_ihdr[] = {
        {8, 0, 0}, {8, 4, 0}, {8, 2, 0}, {8, 6, 0}, {16, 0, 0}, {16, 4, 0}, {16, 2, 0}, {16, 6, 0},
    };
    for (size_t f = 0; f < 8; f++)
        for (size_t s = 0; s < 4; s++) {
            lp_buffer_image src, ours, theirs;
            lpt_make_photo(&src, sizes[s][0], sizes[s][1], all_formats[f], (uint32_t)(f * 4 + s));
            size_t size;
            uint8_t *png = encode_png(&src, &size);
            ihdr_bytes ih = read_ihdr(png, size);
            assert_int_equal(ih.depth, expect_ihdr[f].depth);
            assert_int_equal(ih.colour_type, expect_ihdr[f].colour_type);
            lp_error err = {0};
            assert_int_equal(decode_png(png, size, &ours, &err), LP_OK);
            assert_identical(&src, &ours);
            assert_int_equal(ours.info.source_bit_depth, expect_ihdr[f].depth);
            assert_int_equal(ours.info.source_format, LP_FILE_PNG);
            /* an independent decoder agrees */
            const char *path = lpt_path("rt.png");
            lpt_write_file(path, png, size);
            assert_true(lpt_read_png(path, &theirs));
            assert_same_pixels(&src, &theirs, false);
            lp_buffer_image_free(&theirs);
            lp_buffer_image_free(&ours);
            lp_buffer_image_free(&src);
            free(png);
        }
}

static void test_imagemagick_reads_our_png(void **state)
{
    (void)state;
    REQUIRE_IMAGEMAGICK();
    static const lp_format formats[] = {LP_FORMAT_G8, LP_FORMAT_GA8, LP_FORMAT_RGB8,
                                        LP_FORMAT_RGBA16, LP_FORMAT_RGB16};
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
        lp_buffer_image src, theirs;
        lpt_make_photo(&src, 33, 17, formats[i], 40 + (uint32_t)i);
        size_t size;
        uint8_t *png = encode_png(&src, &size);
        const char *path = lpt_path("ours.png"), *pam = lpt_path("ours.pam");
        lpt_write_file(path, png, size);
        assert_int_equal(lpt_run(IM " '%s' '%s'", path, pam), 0);
        assert_true(lpt_read_pnm(pam, &theirs));
        assert_same_pixels(&src, &theirs, false);
        lp_buffer_image_free(&theirs);
        lp_buffer_image_free(&src);
        free(png);
    }
}

static void test_through_source_open_and_file(void **state)
{
    (void)state;
    lp_buffer_image src, got;
    lpt_make_photo(&src, 20, 35, LP_FORMAT_RGBA8, 9);
    size_t size;
    uint8_t *png = encode_png(&src, &size);
    const char *path = lpt_path("sniffed.png");
    lpt_write_file(path, png, size);
    lp_error err = {0};
    assert_int_equal(lpt_decode_leanpix(path, &got, &err), LP_OK);  /* lp_source_open sniffs */
    assert_identical(&src, &got);
    lp_buffer_image_free(&got);
    lp_buffer_image_free(&src);
    free(png);
}

/* ---- PNGs from ImageMagick ---- */

typedef struct im_case {
    const char *name;
    const char *args;       /* options, ending in the output coder ("PNG8:") */
    ihdr_bytes ihdr;        /* what ImageMagick must have written for the case to count */
    lp_format decoded;      /* what our decoder must yield */
    bool trns;              /* a tRNS chunk must be present */
} im_case;

static void check_im_case(const im_case *c, const lp_buffer_image *src)
{
    size_t size;
    uint8_t *png = imagemagick_png(src, c->args, "im.png", &size);
    ihdr_bytes ih = read_ihdr(png, size);
    if (ih.depth != c->ihdr.depth || ih.colour_type != c->ihdr.colour_type ||
        ih.interlace != c->ihdr.interlace)
        fail_msg("%s: ImageMagick wrote depth %u colour type %u interlace %u", c->name, ih.depth,
                 ih.colour_type, ih.interlace);
    assert_int_equal(has_chunk(png, size, "tRNS"), c->trns);
    lp_buffer_image got;
    lp_error err = {0};
    lp_stage *stage = open_png(png, size, NULL, NULL, &err);
    if (!stage)
        fail_msg("%s: %s", c->name, lp_error_message(&err));
    assert_int_equal(stage->info.format, c->decoded);
    assert_int_equal(stage->whole_image, c->ihdr.interlace == 1);
    assert_int_equal(stage->info.source_bit_depth, c->ihdr.depth);
    assert_int_equal(lp_pipeline_to_buffer(stage, &got, NULL, &err), LP_OK);
    if (c->ihdr.interlace)
        assert_true(stage->held_bytes > 0);
    lp_stage_destroy(stage);
    assert_same_pixels(src, &got, c->trns);
    lp_buffer_image_free(&got);
    free(png);
}

static void test_imagemagick_palette(void **state)
{
    (void)state;
    REQUIRE_IMAGEMAGICK();
    lp_buffer_image src;
    make_few_colours(&src, 33, 17, LP_FORMAT_RGB8, 7, false);
    im_case plain = {"palette", "-type Palette PNG8:", {8, 3, 0}, LP_FORMAT_RGB8, false};
    check_im_case(&plain, &src);
    im_case interlaced = {"palette interlaced", "-interlace PNG -type Palette PNG8:", {8, 3, 1},
                          LP_FORMAT_RGB8, false};
    check_im_case(&interlaced, &src);
    /* packed indices: 4 bits for 7 colours, 2 bits for 3, also interlaced */
    im_case packed4 = {"palette 4-bit", "-define png:color-type=3 PNG:", {4, 3, 0},
                       LP_FORMAT_RGB8, false};
    check_im_case(&packed4, &src);
    im_case packed4i = {"palette 4-bit interlaced", "-interlace PNG -define png:color-type=3 PNG:",
                        {4, 3, 1}, LP_FORMAT_RGB8, false};
    check_im_case(&packed4i, &src);
    lp_buffer_image_free(&src);
    make_few_colours(&src, 33, 17, LP_FORMAT_RGB8, 3, false);
    im_case packed2 = {"palette 2-bit", "-define png:color-type=3 PNG:", {2, 3, 0},
                       LP_FORMAT_RGB8, false};
    check_im_case(&packed2, &src);
    im_case packed2i = {"palette 2-bit interlaced", "-interlace PNG -define png:color-type=3 PNG:",
                        {2, 3, 1}, LP_FORMAT_RGB8, false};
    check_im_case(&packed2i, &src);
    lp_buffer_image_free(&src);

    make_few_colours(&src, 33, 17, LP_FORMAT_RGBA8, 7, true);
    im_case trns = {"palette+tRNS", "PNG8:", {8, 3, 0}, LP_FORMAT_RGBA8, true};
    check_im_case(&trns, &src);
    lp_buffer_image_free(&src);
}

static void test_imagemagick_low_bit_gray(void **state)
{
    (void)state;
    REQUIRE_IMAGEMAGICK();
    static const unsigned depths[] = {1, 2, 4};
    for (size_t i = 0; i < 3; i++) {
        lp_buffer_image src;
        make_gray_levels(&src, 33, 17, 1u << depths[i]);
        char args[160];
        snprintf(args, sizeof args,
                 "-define png:bit-depth=%u -define png:color-type=0 PNG:", depths[i]);
        im_case c = {"gray low depth", args, {depths[i], 0, 0}, LP_FORMAT_G8, false};
        check_im_case(&c, &src);
        snprintf(args, sizeof args,
                 "-interlace PNG -define png:bit-depth=%u -define png:color-type=0 PNG:", depths[i]);
        im_case ci = {"gray low depth interlaced", args, {depths[i], 0, 1}, LP_FORMAT_G8, false};
        check_im_case(&ci, &src);
        lp_buffer_image_free(&src);
    }
}

static void test_imagemagick_gray_alpha_and_16_bit(void **state)
{
    (void)state;
    REQUIRE_IMAGEMAGICK();
    lp_buffer_image src;
    lpt_make_photo(&src, 33, 17, LP_FORMAT_GA8, 5);
    im_case ga = {"gray+alpha", "-define png:color-type=4 PNG:", {8, 4, 0}, LP_FORMAT_GA8, false};
    check_im_case(&ga, &src);
    lp_buffer_image_free(&src);

    lpt_make_photo(&src, 33, 17, LP_FORMAT_RGB16, 6);
    im_case rgb16 = {"RGB16", "PNG48:", {16, 2, 0}, LP_FORMAT_RGB16, false};
    check_im_case(&rgb16, &src);
    lp_buffer_image_free(&src);

    lpt_make_photo(&src, 33, 17, LP_FORMAT_RGBA16, 7);
    im_case rgba16 = {"RGBA16", "PNG64:", {16, 6, 0}, LP_FORMAT_RGBA16, false};
    check_im_case(&rgba16, &src);
    im_case rgba16i = {"RGBA16 interlaced", "-interlace PNG PNG64:", {16, 6, 1},
                       LP_FORMAT_RGBA16, false};
    check_im_case(&rgba16i, &src);
    lp_buffer_image_free(&src);
}

static void test_imagemagick_interlaced_sizes(void **state)
{
    (void)state;
    REQUIRE_IMAGEMAGICK();
    /* Adam7 passes are empty for tiny images: every shape must still come out whole. */
    static const uint32_t sizes[][2] = {{1, 1}, {1, 7}, {7, 1}, {33, 17}, {9, 9}};
    for (size_t i = 0; i < 5; i++) {
        lp_buffer_image src;
        lpt_make_photo(&src, sizes[i][0], sizes[i][1], LP_FORMAT_RGB8, 60 + (uint32_t)i);
        im_case c = {"RGB8 interlaced", "-interlace PNG PNG24:", {8, 2, 1}, LP_FORMAT_RGB8, false};
        check_im_case(&c, &src);
        lp_buffer_image_free(&src);
    }
}

/* ---- colour keys (tRNS on gray/RGB), forged into our own files ---- */

static void check_colour_key(lp_format format, lp_format expect_format)
{
    lp_buffer_image src, got, ref;
    lpt_make_photo(&src, 33, 17, format, 77);
    bool sixteen = lp_format_sample_bytes(format) == 2;
    bool gray = lp_format_is_gray(format);
    /* The key: pixel (4,3)'s colour, made to occur at a few more places. */
    unsigned px = lp_format_pixel_bytes(format);
    const uint8_t *key_px = src.pixels + 3 * src.stride + 4 * px;
    for (uint32_t x = 10; x < 14; x++)
        memcpy(src.pixels + 9 * src.stride + x * px, key_px, px);
    uint8_t trns[6] = {0};
    for (unsigned c = 0; c < (gray ? 1u : 3u); c++) {
        unsigned v = sixteen ? ((const uint16_t *)key_px)[c] : key_px[c];
        trns[2 * c] = (uint8_t)(v >> 8);
        trns[2 * c + 1] = (uint8_t)v;
    }
    size_t size, keyed_size;
    uint8_t *png = encode_png(&src, &size);
    uint8_t *keyed = insert_after_ihdr(png, size, "tRNS", trns, gray ? 2 : 6, &keyed_size);
    lp_error err = {0};
    assert_int_equal(decode_png(keyed, keyed_size, &got, &err), LP_OK);
    assert_int_equal(got.info.format, expect_format);
    /* colour unchanged, alpha 0 exactly on the key colour */
    unsigned zero_alpha = 0;
    for (uint32_t y = 0; y < 17; y++)
        for (uint32_t x = 0; x < 33; x++) {
            unsigned a[4], b[4];
            pixel_rgba(&src, x, y, a);
            pixel_rgba(&got, x, y, b);
            assert_memory_equal(a, b, 3 * sizeof a[0]);
            bool is_key = !memcmp(src.pixels + y * src.stride + x * px, key_px, px);
            assert_int_equal(b[3], is_key ? 0u : (sixteen ? 65535u : 255u));
            zero_alpha += b[3] == 0;
        }
    assert_true(zero_alpha >= 5);
    /* and libspng's own tRNS handling agrees */
    const char *path = lpt_path("keyed.png");
    lpt_write_file(path, keyed, keyed_size);
    assert_true(lpt_read_png(path, &ref));
    assert_same_pixels(&ref, &got, false);
    lp_buffer_image_free(&ref);
    lp_buffer_image_free(&got);
    lp_buffer_image_free(&src);
    free(keyed);
    free(png);
}

static void test_colour_key_adds_alpha(void **state)
{
    (void)state;
    check_colour_key(LP_FORMAT_G8, LP_FORMAT_GA8);
    check_colour_key(LP_FORMAT_RGB8, LP_FORMAT_RGBA8);
    check_colour_key(LP_FORMAT_G16, LP_FORMAT_GA16);
    check_colour_key(LP_FORMAT_RGB16, LP_FORMAT_RGBA16);
}

static void test_colour_key_on_1_bit_gray(void **state)
{
    (void)state;
    REQUIRE_IMAGEMAGICK();
    lp_buffer_image src, got;
    make_gray_levels(&src, 21, 5, 2);
    size_t size, keyed_size;
    uint8_t *png = imagemagick_png(&src, "-define png:bit-depth=1 -define png:color-type=0 PNG:",
                                   "g1.png", &size);
    assert_int_equal(read_ihdr(png, size).depth, 1);
    const uint8_t key[2] = {0, 1};  /* white, at 1-bit scale */
    uint8_t *keyed = insert_after_ihdr(png, size, "tRNS", key, 2, &keyed_size);
    lp_error err = {0};
    assert_int_equal(decode_png(keyed, keyed_size, &got, &err), LP_OK);
    assert_int_equal(got.info.format, LP_FORMAT_GA8);
    for (uint32_t y = 0; y < 5; y++)
        for (uint32_t x = 0; x < 21; x++) {
            uint8_t g = src.pixels[y * src.stride + x];
            const uint8_t *p = got.pixels + y * got.stride + 2 * x;
            assert_int_equal(p[0], g);
            assert_int_equal(p[1], g == 255 ? 0 : 255);
        }
    lp_buffer_image_free(&got);
    lp_buffer_image_free(&src);
    free(keyed);
    free(png);
}

/* ---- metadata ---- */

/* A little-endian TIFF stream with one IFD entry: Orientation = 6. */
static const uint8_t exif_orientation_6[] = {
    'I', 'I', 42, 0, 8, 0, 0, 0,          /* header, IFD0 at 8 */
    1, 0,                                 /* one entry */
    0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0,  /* 0x0112 SHORT x1 = 6 */
    0, 0, 0, 0,                           /* no next IFD */
};
static const char xmp_packet[] =
    "<?xpacket begin='' id='W5M0MpCehiHzreSzNTczkc9d'?><x:xmpmeta xmlns:x='adobe:ns:meta/'>"
    "<rdf:RDF xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'><rdf:Description "
    "xmlns:dc='http://purl.org/dc/elements/1.1/' dc:format='image/png'/></rdf:RDF>"
    "</x:xmpmeta><?xpacket end='w'?>";

/* An ICC header that libpng (inside ImageMagick) accepts, an empty tag table, then
 * patterned bytes so that a byte lost or moved shows. */
static void make_icc(uint8_t *icc, size_t size)
{
    memset(icc, 0, 132);
    put_be32(icc, (uint32_t)size);            /* profile size */
    icc[8] = 2;                               /* version 2.1 */
    icc[9] = 0x10;
    memcpy(icc + 12, "mntr", 4);              /* device class */
    memcpy(icc + 16, "RGB ", 4);              /* colour space */
    memcpy(icc + 20, "XYZ ", 4);              /* profile connection space */
    memcpy(icc + 36, "acsp", 4);
    put_be32(icc + 68, 63190);                /* D50 illuminant X, Y, Z (s15Fixed16) */
    put_be32(icc + 72, 65536);
    put_be32(icc + 76, 54061);
    for (size_t i = 132; i < size; i++)
        icc[i] = (uint8_t)(i * 31 + (i >> 5));
}

static void test_metadata_round_trip(void **state)
{
    (void)state;
    uint8_t icc[3000];
    make_icc(icc, sizeof icc);
    lp_buffer_image src, got;
    lpt_make_photo(&src, 17, 9, LP_FORMAT_RGB8, 3);
    src.info.meta.icc = icc;
    src.info.meta.icc_size = sizeof icc;
    src.info.meta.exif = exif_orientation_6;
    src.info.meta.exif_size = sizeof exif_orientation_6;
    src.info.meta.xmp = (const uint8_t *)xmp_packet;
    src.info.meta.xmp_size = strlen(xmp_packet);
    size_t size;
    uint8_t *png = encode_png(&src, &size);
    assert_true(has_chunk(png, size, "iCCP"));
    assert_true(has_chunk(png, size, "eXIf"));
    assert_true(has_chunk(png, size, "iTXt"));
    lp_error err = {0};
    lp_stage *stage = open_png(png, size, NULL, NULL, &err);
    assert_non_null(stage);
    const lp_metadata *m = &stage->info.meta;
    assert_int_equal(m->icc_size, sizeof icc);
    assert_memory_equal(m->icc, icc, sizeof icc);
    assert_int_equal(m->exif_size, sizeof exif_orientation_6);
    assert_memory_equal(m->exif, exif_orientation_6, sizeof exif_orientation_6);
    assert_int_equal(m->xmp_size, strlen(xmp_packet));
    assert_memory_equal(m->xmp, xmp_packet, strlen(xmp_packet));
    assert_int_equal(m->orientation, 6);
    assert_int_equal(lp_pipeline_to_buffer(stage, &got, NULL, &err), LP_OK);
    assert_identical(&src, &got);
    lp_stage_destroy(stage);
    lp_buffer_image_free(&got);

    /* strip_metadata writes none of it */
    lp_encode_options opts;
    lp_encode_options_default(&opts, LP_FILE_PNG);
    opts.strip_metadata = true;
    free(png);
    png = encode_png_opts(&src, &opts, NULL, &size);
    assert_false(has_chunk(png, size, "iCCP"));
    assert_false(has_chunk(png, size, "eXIf"));
    assert_false(has_chunk(png, size, "iTXt"));
    stage = open_png(png, size, NULL, NULL, &err);
    assert_non_null(stage);
    assert_null(stage->info.meta.icc);
    assert_null(stage->info.meta.exif);
    assert_null(stage->info.meta.xmp);
    assert_int_equal(stage->info.meta.orientation, 1);
    lp_stage_destroy(stage);
    free(png);
    lp_buffer_image_free(&src);
}

static void test_imagemagick_sees_our_metadata(void **state)
{
    (void)state;
    REQUIRE_IMAGEMAGICK();
    uint8_t icc[600];
    make_icc(icc, sizeof icc);
    lp_buffer_image src;
    lpt_make_photo(&src, 8, 8, LP_FORMAT_RGB8, 3);
    src.info.meta.icc = icc;
    src.info.meta.icc_size = sizeof icc;
    size_t size;
    uint8_t *png = encode_png(&src, &size);
    const char *path = lpt_path("meta.png"), *icc_out = lpt_path("meta.icc");
    lpt_write_file(path, png, size);
    unlink(icc_out);
    assert_int_equal(lpt_run(IM " '%s' '%s' 2>/dev/null", path, icc_out), 0);
    size_t got_size;
    uint8_t *got = lpt_read_file(icc_out, &got_size);
    assert_non_null(got);
    assert_int_equal(got_size, sizeof icc);
    assert_memory_equal(got, icc, sizeof icc);
    free(got);
    free(png);
    lp_buffer_image_free(&src);
}

/* ---- bad input ---- */

static void test_truncated_png(void **state)
{
    (void)state;
    lp_buffer_image src;
    lpt_make_photo(&src, 48, 40, LP_FORMAT_RGB8, 11);
    lp_encode_options opts;
    lp_encode_options_default(&opts, LP_FILE_PNG);
    opts.png_level = 0;  /* stored: the image data is long, so most cuts land inside it */
    size_t size;
    uint8_t *png = encode_png_opts(&src, &opts, NULL, &size);
    /* every cut before the end of the image data fails cleanly, none crashes or leaks */
    for (size_t cut = 0; cut + 24 < size; cut += cut < 100 ? 1 : 97) {
        lp_buffer_image got;
        lp_error err = {0};
        lp_status st = decode_png(png, cut, &got, &err);
        if (st != LP_ERR_TRUNCATED && st != LP_ERR_CORRUPT)
            fail_msg("cut at %zu of %zu: status %d (%s)", cut, size, st, lp_error_message(&err));
        assert_true(strlen(err.message) > 0);
    }
    lp_buffer_image got;
    lp_error err = {0};
    assert_int_equal(decode_png(png, size / 2, &got, &err), LP_ERR_TRUNCATED);
    assert_non_null(strstr(err.message, "ends early"));
    lp_buffer_image_free(&src);
    free(png);
}

static void test_bad_crc(void **state)
{
    (void)state;
    lp_buffer_image src, got;
    lpt_make_photo(&src, 16, 16, LP_FORMAT_RGBA8, 12);
    src.info.meta.xmp = (const uint8_t *)xmp_packet;
    src.info.meta.xmp_size = strlen(xmp_packet);
    size_t size;
    uint8_t *png = encode_png(&src, &size);
    lp_error err = {0};

    /* a flipped bit in the IHDR's CRC: refused when the source is created */
    png[30] ^= 0x01;
    assert_null(open_png(png, size, NULL, NULL, &err));
    assert_int_equal(err.status, LP_ERR_CORRUPT);
    png[30] ^= 0x01;

    /* a flipped bit inside the image data (critical chunk): refused while decoding */
    size_t idat = 8;
    while (memcmp(png + idat + 4, "IDAT", 4)) {
        uint32_t len = (uint32_t)png[idat] << 24 | png[idat + 1] << 16 | png[idat + 2] << 8 | png[idat + 3];
        idat += 12 + len;
    }
    png[idat + 8 + 10] ^= 0x10;
    lp_error_clear(&err);
    assert_int_equal(decode_png(png, size, &got, &err), LP_ERR_CORRUPT);
    assert_non_null(strstr(err.message, "PNG"));
    png[idat + 8 + 10] ^= 0x10;

    /* a damaged ancillary chunk (the XMP iTXt) is dropped; the image still decodes */
    size_t itxt = 8;
    while (memcmp(png + itxt + 4, "iTXt", 4)) {
        uint32_t len = (uint32_t)png[itxt] << 24 | png[itxt + 1] << 16 | png[itxt + 2] << 8 | png[itxt + 3];
        itxt += 12 + len;
    }
    png[itxt + 8 + 30] ^= 0x01;
    lp_error_clear(&err);
    lp_stage *stage = open_png(png, size, NULL, NULL, &err);
    assert_non_null(stage);
    assert_null(stage->info.meta.xmp);
    assert_int_equal(lp_pipeline_to_buffer(stage, &got, NULL, &err), LP_OK);
    assert_identical(&src, &got);
    lp_stage_destroy(stage);
    lp_buffer_image_free(&got);
    lp_buffer_image_free(&src);
    free(png);
}

/* A PNG whose IHDR claims w x h, followed by a tiny IDAT and IEND. */
static uint8_t *forge_png(uint32_t w, uint32_t h, size_t *size)
{
    uint8_t *p = malloc(256);
    memcpy(p, "\x89PNG\r\n\x1a\n", 8);
    uint8_t ihdr[13] = {0};
    put_be32(ihdr, w);
    put_be32(ihdr + 4, h);
    ihdr[8] = 8;  /* depth */
    ihdr[9] = 2;  /* RGB */
    size_t n = 8 + make_chunk(p + 8, "IHDR", ihdr, 13);
    const uint8_t idat[] = {0x78, 0x9c, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01};
    n += make_chunk(p + n, "IDAT", idat, sizeof idat);
    n += make_chunk(p + n, "IEND", NULL, 0);
    *size = n;
    return p;
}

static void test_huge_ihdr_refused_before_allocation(void **state)
{
    (void)state;
    static const uint32_t dims[][2] = {{100000, 100000}, {60000, 60000}, {100, 70000}};
    for (size_t i = 0; i < 3; i++) {
        size_t size;
        uint8_t *png = forge_png(dims[i][0], dims[i][1], &size);
        lp_mem *mem = lp_mem_new(0, NULL);
        lp_error err = {0};
        assert_null(open_png(png, size, NULL, mem, &err));
        assert_int_equal(err.status, LP_ERR_LIMITS);
        char claimed[16];
        snprintf(claimed, sizeof claimed, "%u", dims[i][dims[i][0] > 65535 ? 0 : 1]);
        if (!strstr(err.message, claimed))
            fail_msg("the message should name the size: %s", err.message);
        /* no pixel buffer: only spng's own context, counted since it allocates through us */
        assert_in_range(lp_mem_peak(mem), 0, 64 << 10);
        assert_int_equal(lp_mem_current(mem), 0);
        lp_mem_free_tracker(mem);
        free(png);
    }
    /* the caller's limits count too */
    lp_limits limits;
    lp_limits_default(&limits);
    limits.max_pixels = 1000;
    size_t size;
    uint8_t *png = forge_png(40, 30, &size);
    lp_error err = {0};
    assert_null(open_png(png, size, &limits, NULL, &err));
    assert_int_equal(err.status, LP_ERR_LIMITS);
    free(png);
    /* and a zero width is corrupt, not a limit */
    png = forge_png(0, 30, &size);
    lp_error_clear(&err);
    assert_null(open_png(png, size, NULL, NULL, &err));
    assert_int_equal(err.status, LP_ERR_CORRUPT);
    free(png);
}

static void test_not_a_png(void **state)
{
    (void)state;
    static const uint8_t jpeg[] = {0xFF, 0xD8, 0xFF, 0xE0, 0, 16, 'J', 'F', 'I', 'F', 0, 1, 1, 0,
                                   0, 1, 0, 1, 0, 0, 0xFF, 0xD9};
    lp_error err = {0};
    assert_null(open_png(jpeg, sizeof jpeg, NULL, NULL, &err));
    assert_int_equal(err.status, LP_ERR_CORRUPT);
    lp_error_clear(&err);
    assert_null(open_png(jpeg, 0, NULL, NULL, &err));
    assert_int_equal(err.status, LP_ERR_TRUNCATED);
}

/* ---- memory and options ---- */

static void test_memory_stays_at_a_few_rows(void **state)
{
    (void)state;
    lp_buffer_image src, got;
    lpt_make_photo(&src, 1024, 256, LP_FORMAT_RGB8, 13);
    size_t image_bytes = 1024 * 256 * 3;
    size_t size;
    lp_mem *enc_mem = lp_mem_new(0, NULL);
    lp_encode_options opts;
    lp_encode_options_default(&opts, LP_FILE_PNG);
    uint8_t *png = encode_png_opts(&src, &opts, enc_mem, &size);
    assert_true(lp_mem_peak(enc_mem) > 0);            /* the encoder counts its state */
    assert_true(lp_mem_peak(enc_mem) < image_bytes / 2);
    assert_int_equal(lp_mem_current(enc_mem), 0);
    lp_mem_free_tracker(enc_mem);

    lp_mem *mem = lp_mem_new(0, NULL);
    lp_error err = {0};
    lp_stage *stage = open_png(png, size, NULL, mem, &err);
    assert_non_null(stage);
    assert_false(stage->whole_image);
    assert_int_equal(lp_pipeline_to_buffer(stage, &got, NULL, &err), LP_OK);  /* sink uncounted */
    assert_int_equal(stage->held_bytes, 0);
    lp_stage_destroy(stage);
    assert_identical(&src, &got);
    assert_true(lp_mem_peak(mem) > 16 * 1024 * 3);    /* at least the strip */
    assert_true(lp_mem_peak(mem) < image_bytes / 2);
    assert_int_equal(lp_mem_current(mem), 0);
    lp_mem_free_tracker(mem);
    lp_buffer_image_free(&got);
    free(png);

    /* an interlaced PNG holds the whole image, counted */
    if (access(IM, X_OK) == 0) {
        png = imagemagick_png(&src, "-interlace PNG PNG24:", "il.png", &size);
        mem = lp_mem_new(0, NULL);
        stage = open_png(png, size, NULL, mem, &err);
        assert_non_null(stage);
        assert_true(stage->whole_image);
        assert_int_equal(lp_pipeline_to_buffer(stage, &got, NULL, &err), LP_OK);
        assert_int_equal(stage->held_bytes, image_bytes);
        assert_true(lp_mem_peak(mem) >= image_bytes);
        lp_stage_destroy(stage);
        assert_int_equal(lp_mem_current(mem), 0);
        assert_identical(&src, &got);
        lp_mem_free_tracker(mem);
        lp_buffer_image_free(&got);
        free(png);
    }
    lp_buffer_image_free(&src);
}

static void test_budget_refuses_cleanly(void **state)
{
    (void)state;
    lp_buffer_image src;
    lpt_make_photo(&src, 300, 40, LP_FORMAT_RGBA8, 14);
    size_t size;
    uint8_t *png = encode_png(&src, &size);
    lp_mem *mem = lp_mem_new(4096, NULL);  /* below the decoder's own state */
    lp_error err = {0};
    assert_null(open_png(png, size, NULL, mem, &err));
    assert_int_equal(err.status, LP_ERR_NOMEM);
    assert_int_equal(lp_mem_current(mem), 0);
    lp_mem_free_tracker(mem);
    free(png);
    lp_buffer_image_free(&src);
}

static void test_encoder_options(void **state)
{
    (void)state;
    lp_output *out;
    assert_int_equal(lp_output_open_memory(&out, NULL, NULL), LP_OK);
    lp_encode_options opts;
    lp_encode_options_default(&opts, LP_FILE_PNG);
    lp_sink *sink;
    /* bit depth: as offered, or forced */
    assert_int_equal(lp_png_sink_new(&sink, out, &opts, NULL, NULL), LP_OK);
    assert_string_equal(sink->ops->name, "png-save");
    for (size_t f = 0; f < 8; f++)
        assert_int_equal(lp_sink_accept(sink, all_formats[f]), all_formats[f]);
    lp_sink_destroy(sink);
    opts.bit_depth = 8;
    assert_int_equal(lp_png_sink_new(&sink, out, &opts, NULL, NULL), LP_OK);
    assert_int_equal(lp_sink_accept(sink, LP_FORMAT_RGBA16), LP_FORMAT_RGBA8);
    assert_int_equal(lp_sink_accept(sink, LP_FORMAT_G16), LP_FORMAT_G8);
    assert_int_equal(lp_sink_accept(sink, LP_FORMAT_RGB8), LP_FORMAT_RGB8);
    lp_sink_destroy(sink);
    opts.bit_depth = 16;
    assert_int_equal(lp_png_sink_new(&sink, out, &opts, NULL, NULL), LP_OK);
    assert_int_equal(lp_sink_accept(sink, LP_FORMAT_GA8), LP_FORMAT_GA16);
    lp_sink_destroy(sink);
    lp_error err = {0};
    opts.bit_depth = 12;
    assert_int_equal(lp_png_sink_new(&sink, out, &opts, NULL, &err), LP_ERR_INVALID_ARG);
    opts.bit_depth = 0;
    opts.png_level = 10;
    assert_int_equal(lp_png_sink_new(&sink, out, &opts, NULL, &err), LP_ERR_INVALID_ARG);
    lp_output_close(out);

    /* compression level: 0 stores, 9 compresses; both decode to the same pixels */
    lp_buffer_image src, got;
    lpt_make_photo(&src, 64, 48, LP_FORMAT_RGB8, 15);
    size_t stored_size, packed_size;
    opts.png_level = 0;
    uint8_t *stored = encode_png_opts(&src, &opts, NULL, &stored_size);
    opts.png_level = 9;
    uint8_t *packed = encode_png_opts(&src, &opts, NULL, &packed_size);
    assert_true(stored_size > 64 * 48 * 3);
    assert_true(packed_size < stored_size * 3 / 4);
    assert_int_equal(decode_png(stored, stored_size, &got, &err), LP_OK);
    assert_identical(&src, &got);
    lp_buffer_image_free(&got);
    assert_int_equal(decode_png(packed, packed_size, &got, &err), LP_OK);
    assert_identical(&src, &got);
    lp_buffer_image_free(&got);
    free(stored);
    free(packed);
    lp_buffer_image_free(&src);
}

static void test_write_error_is_reported(void **state)
{
    (void)state;
    /* a memory output with a 1000-byte budget: the encoder's writes fail part way */
    lp_buffer_image src;
    lpt_make_photo(&src, 64, 64, LP_FORMAT_RGB8, 16);
    lp_mem *out_mem = lp_mem_new(1000, NULL);
    lp_output *out;
    lp_error err = {0};
    assert_int_equal(lp_output_open_memory(&out, out_mem, &err), LP_OK);
    lp_encode_options opts;
    lp_encode_options_default(&opts, LP_FILE_PNG);
    opts.png_level = 0;
    lp_sink *sink;
    assert_int_equal(lp_png_sink_new(&sink, out, &opts, NULL, &err), LP_OK);
    lp_stage *stage;
    assert_int_equal(lp_buffer_source_new(&stage, &src, 16, NULL), LP_OK);
    assert_int_equal(lp_pipeline_run(stage, sink, NULL, NULL, &err), LP_ERR_NOMEM);
    assert_non_null(strstr(err.message, "budget"));  /* the output's own reason, not spng's */
    lp_sink_destroy(sink);
    lp_stage_destroy(stage);
    lp_output_close(out);
    lp_mem_free_tracker(out_mem);
    lp_buffer_image_free(&src);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_all_formats_and_sizes),
        cmocka_unit_test(test_imagemagick_reads_our_png),
        cmocka_unit_test(test_through_source_open_and_file),
        cmocka_unit_test(test_imagemagick_palette),
        cmocka_unit_test(test_imagemagick_low_bit_gray),
        cmocka_unit_test(test_imagemagick_gray_alpha_and_16_bit),
        cmocka_unit_test(test_imagemagick_interlaced_sizes),
        cmocka_unit_test(test_colour_key_adds_alpha),
        cmocka_unit_test(test_colour_key_on_1_bit_gray),
        cmocka_unit_test(test_metadata_round_trip),
        cmocka_unit_test(test_imagemagick_sees_our_metadata),
        cmocka_unit_test(test_truncated_png),
        cmocka_unit_test(test_bad_crc),
        cmocka_unit_test(test_huge_ihdr_refused_before_allocation),
        cmocka_unit_test(test_not_a_png),
        cmocka_unit_test(test_memory_stays_at_a_few_rows),
        cmocka_unit_test(test_budget_refuses_cleanly),
        cmocka_unit_test(test_encoder_options),
        cmocka_unit_test(test_write_error_is_reported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
