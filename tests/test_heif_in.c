/*
 * test_heif_in.c - HEIC and AVIF as inputs: heif_load.c (libheif) and avif_load.c
 * (libavif + dav1d).
 *
 * Inputs are made at test time from synthetic photos: HEIC with heif-enc (x265), AVIF
 * with avifenc (one frame, a grid, 10-bit, alpha, irot/imir, ICC/EXIF/XMP). Each is
 * decoded by leanpix and compared pixel by pixel with an independent decoder's output
 * (heif-convert, avifdec: PNG read with libspng directly); orientation is checked
 * against heif-convert, which applies irot/imir itself. Bad input: a declared size over
 * the limits is refused from the header with a tiny counted peak, truncated files fail
 * with an error and never crash, a budget too small is refused before decoding. The CLI
 * end to end: convert HEIC to JPEG and AVIF to WebP, and a batch over a directory of them.
 */
#include "codec/heif_boxes.h"
#include "codec/heif_items.h"
#include "codec/hevc_sps.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define ICC_FILE "/usr/share/color/icc/compatibleWithAdobeRGB1998.icc"
#define XMP_TEXT "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF><lpt-heif/></rdf:RDF></x:xmpmeta>"

typedef lp_status (*source_ctor)(lp_stage **out, lp_input *in, const lp_limits *limits,
                                 lp_mem *mem, lp_error *err);

/* ---- helpers ---- */

static bool have_heic_encoder(void)
{
    char out[512];
    return lpt_have_tool("heif-enc") &&
           lpt_run_capture(out, sizeof out, "heif-enc --list-encoders") == 0 && strstr(out, "x265");
}

#define REQUIRE_HEIC_ENCODER()                                                             \
    do {                                                                                   \
        LPT_REQUIRE_TOOL("heif-convert");                                                  \
        if (!have_heic_encoder()) {                                                        \
            fprintf(stderr, "SKIP: heif-enc has no HEVC (x265) encoder\n");               \
            skip();                                                                        \
        }                                                                                  \
    } while (0)

static void write_png(const lp_buffer_image *img, const char *path)
{
    lp_output *out;
    lp_error err = {0};
    assert_int_equal(lp_output_open_file(&out, path, &err), LP_OK);
    lp_encode_options opts;
    lp_encode_options_default(&opts, LP_FILE_PNG);
    lp_sink *sink;
    assert_int_equal(lp_png_sink_new(&sink, out, &opts, NULL, &err), LP_OK);
    lp_stage *src;
    assert_int_equal(lp_buffer_source_new(&src, img, 0, &err), LP_OK);
    assert_int_equal(lp_pipeline_run(src, sink, NULL, NULL, &err), LP_OK);
    assert_int_equal(lp_output_commit(out, &err), LP_OK);
    lp_sink_destroy(sink);
    lp_stage_destroy(src);
    lp_output_close(out);
}

/* A photo-like PNG of the given size and format at name (returns its path). */
static const char *photo_png(const char *name, uint32_t w, uint32_t h, lp_format format)
{
    lp_buffer_image img;
    lpt_make_photo(&img, w, h, format, w * 31 + h);
    const char *path = lpt_path(name);
    write_png(&img, path);
    lp_buffer_image_free(&img);
    return path;
}

/* Opens path with ctor and decodes it all into img (counted in mem). */
static lp_status decode_with(source_ctor ctor, const char *path, const lp_limits *limits,
                             lp_mem *mem, lp_buffer_image *img, lp_image_info *info, lp_error *err)
{
    lp_input *in;
    lp_status st = lp_input_open_file(&in, path, LP_IO_READ, 0, err);
    if (st != LP_OK)
        return st;
    lp_stage *src;
    st = ctor(&src, in, limits, mem, err);
    if (st != LP_OK)
        return st;
    if (info)
        *info = src->info;
    st = lp_pipeline_to_buffer(src, img, mem, err);
    lp_stage_destroy(src);
    return st;
}

static void must_decode(source_ctor ctor, const char *path, lp_buffer_image *img)
{
    lp_error err = {0};
    lp_status st = decode_with(ctor, path, NULL, NULL, img, NULL, &err);
    if (st != LP_OK)
        fail_msg("%s: %s", path, lp_error_message(&err));
}

/* Largest difference of any sample (at 8-bit scale for 16-bit images). */
static unsigned max_diff(const lp_buffer_image *a, const lp_buffer_image *b)
{
    assert_int_equal(a->info.width, b->info.width);
    assert_int_equal(a->info.height, b->info.height);
    assert_int_equal(a->info.format, b->info.format);
    unsigned ch = lp_format_channels(a->info.format), worst = 0;
    bool wide = lp_format_sample_bytes(a->info.format) == 2;
    for (uint32_t y = 0; y < a->info.height; y++) {
        const uint8_t *ra = a->pixels + (size_t)y * a->stride, *rb = b->pixels + (size_t)y * b->stride;
        for (size_t i = 0; i < (size_t)a->info.width * ch; i++) {
            int va = wide ? ((const uint16_t *)ra)[i] : ra[i];
            int vb = wide ? ((const uint16_t *)rb)[i] : rb[i];
            unsigned d = (unsigned)abs(va - vb);
            if (wide)
                d = (d + 128) / 257;
            worst = d > worst ? d : worst;
        }
    }
    return worst;
}

static void reference(const char *tool, const char *path, lp_buffer_image *img)
{
    if (!lpt_decode_external(tool, path, img))
        fail_msg("%s could not decode %s", tool, path);
}

/* The decoders write RGBA (avifdec) or keep 16 bits where we do not: when the formats
 * differ, both are compared as 8-bit, with alpha only when both have it. */
static void same_format(lp_buffer_image *ours, lp_buffer_image *ref)
{
    if (ours->info.format == ref->info.format)
        return;
    bool alpha = lp_format_has_alpha(ours->info.format) && lp_format_has_alpha(ref->info.format);
    lpt_to_rgb8(ours, alpha);
    lpt_to_rgb8(ref, alpha);
}

/* The first occurrence of a 4-byte box type in data, or NULL. */
static uint8_t *find_box(uint8_t *data, size_t size, const char *type)
{
    for (size_t i = 4; i + 4 <= size; i++)
        if (!memcmp(data + i, type, 4))
            return data + i - 4;
    return NULL;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Copies src to dst with every ispe property that says from_w x from_h (any, when from_w
 * is 0) saying w x h. */
static void forge_sizes(const char *src, const char *dst, uint32_t from_w, uint32_t from_h,
                        uint32_t w, uint32_t h)
{
    size_t size;
    uint8_t *data = lpt_read_file(src, &size);
    assert_non_null(data);
    int found = 0;
    for (uint8_t *p = data; (p = find_box(p, size - (size_t)(p - data), "ispe")) != NULL; p += 8) {
        uint8_t *wh = p + 12;  /* size, "ispe", version/flags, width, height */
        uint32_t pw = (uint32_t)wh[0] << 24 | (uint32_t)wh[1] << 16 | (uint32_t)wh[2] << 8 | wh[3];
        uint32_t ph = (uint32_t)wh[4] << 24 | (uint32_t)wh[5] << 16 | (uint32_t)wh[6] << 8 | wh[7];
        if (from_w && (pw != from_w || ph != from_h))
            continue;
        put_be32(wh, w);
        put_be32(wh + 4, h);
        found++;
    }
    assert_true(found > 0);
    lpt_write_file(dst, data, size);
    free(data);
}

/* Copies src to dst with every ispe property saying w x h. */
static void forge_size(const char *src, const char *dst, uint32_t w, uint32_t h)
{
    forge_sizes(src, dst, 0, 0, w, h);
}

static void exif_with_orientation(const char *path, int orientation)
{
    /* A little-endian TIFF stream with one IFD holding the orientation tag. */
    uint8_t tiff[26] = {'I', 'I', 42, 0, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0,
                        (uint8_t)orientation, 0, 0, 0, 0, 0, 0, 0};
    lpt_write_file(path, tiff, sizeof tiff);
}

/* A lasting copy of a path (lpt_path's buffers rotate through 8 slots). */
static const char *keep_path(const char *path)
{
    static char kept[32][512];
    static unsigned next;
    char *slot = kept[next++ % 32];
    snprintf(slot, sizeof kept[0], "%s", path);
    return slot;
}

/* ---- HEIC ---- */

static const char *make_heic(const char *name, uint32_t w, uint32_t h, lp_format format,
                             const char *extra)
{
    char png[64];
    snprintf(png, sizeof png, "%s.png", name);
    const char *in = photo_png(png, w, h, format);
    const char *out = lpt_path(name);
    if (lpt_run("heif-enc -q 90 %s -o '%s' '%s' >/dev/null 2>&1", extra ? extra : "", out, in) != 0)
        fail_msg("heif-enc failed on %s", in);
    return keep_path(out);
}

static void check_against_heif_convert(const char *path, lp_format format, unsigned tolerance)
{
    lp_buffer_image ours, ref;
    must_decode(lp_heif_source_new, path, &ours);
    assert_int_equal(ours.info.format, format);
    reference("heif-convert", path, &ref);
    same_format(&ours, &ref);
    unsigned d = max_diff(&ours, &ref);
    if (d > tolerance)
        fail_msg("%s: differs from heif-convert by %u (allowed %u)", path, d, tolerance);
    lp_buffer_image_free(&ours);
    lp_buffer_image_free(&ref);
}

static void test_heic_8bit(void **state)
{
    (void)state;
    REQUIRE_HEIC_ENCODER();
    check_against_heif_convert(make_heic("p8.heic", 640, 480, LP_FORMAT_RGB8, NULL), LP_FORMAT_RGB8, 0);
    /* odd sizes: x265 pads the frame to even sizes and clap crops it back */
    const char *odd = make_heic("odd.heic", 333, 211, LP_FORMAT_RGB8, NULL);
    lp_buffer_image img;
    must_decode(lp_heif_source_new, odd, &img);
    assert_int_equal(img.info.width, 333);
    assert_int_equal(img.info.height, 211);
    lp_buffer_image_free(&img);
    check_against_heif_convert(odd, LP_FORMAT_RGB8, 0);
}

static void test_heic_alpha(void **state)
{
    (void)state;
    REQUIRE_HEIC_ENCODER();
    check_against_heif_convert(make_heic("a8.heic", 200, 120, LP_FORMAT_RGBA8, NULL),
                               LP_FORMAT_RGBA8, 0);
}

static void test_heic_10bit(void **state)
{
    (void)state;
    REQUIRE_HEIC_ENCODER();
    const char *path = make_heic("p10.heic", 160, 96, LP_FORMAT_RGB16, "-b 10");
    lp_buffer_image ours, ref;
    lp_image_info info;
    lp_error err = {0};
    assert_int_equal(decode_with(lp_heif_source_new, path, NULL, NULL, &ours, &info, &err), LP_OK);
    assert_int_equal(info.format, LP_FORMAT_RGB16);
    assert_int_equal(info.source_bit_depth, 16);
    /* full 16-bit range: the brightest sample of a photo is far above 1023 */
    uint16_t top = 0;
    for (uint32_t y = 0; y < ours.info.height; y++)
        for (uint32_t i = 0; i < ours.info.width * 3; i++) {
            uint16_t v = ((const uint16_t *)(ours.pixels + y * ours.stride))[i];
            top = v > top ? v : top;
        }
    assert_true(top > 40000);
    reference("heif-convert", path, &ref);
    same_format(&ours, &ref);
    assert_true(max_diff(&ours, &ref) <= 1);
    lp_buffer_image_free(&ours);
    lp_buffer_image_free(&ref);
}

/* A JPEG with EXIF (orientation 6), XMP and ICC, turned into HEIC by heif-enc (which
 * carries all three and writes no irot): the EXIF orientation is ignored (HEIF readers
 * show irot/imir only) and reset in the EXIF carried, the rest is byte for byte. */
static void test_heic_metadata(void **state)
{
    (void)state;
    REQUIRE_HEIC_ENCODER();
    LPT_REQUIRE_TOOL("avifenc");
    size_t icc_size;
    uint8_t *icc = lpt_read_file(ICC_FILE, &icc_size);
    if (!icc) {
        fprintf(stderr, "SKIP: %s is absent (icc-profiles-free)\n", ICC_FILE);
        skip();
    }
    /* heif-enc takes metadata from a JPEG; the JPEG from a metadata-carrying AVIF made by
     * avifenc would be circular, so build the JPEG with leanpix's own writer instead. */
    lp_buffer_image img;
    lpt_make_photo(&img, 120, 80, LP_FORMAT_RGB8, 5);
    const char *exif_path = lpt_path("o6.exif");
    exif_with_orientation(exif_path, 6);
    size_t exif_size;
    uint8_t *exif = lpt_read_file(exif_path, &exif_size);
    img.info.meta = (lp_metadata){.icc = icc, .icc_size = icc_size, .exif = exif,
                                  .exif_size = exif_size, .xmp = (const uint8_t *)XMP_TEXT,
                                  .xmp_size = strlen(XMP_TEXT), .orientation = 6};
    const char *jpg = lpt_path("meta.jpg"), *heic = lpt_path("meta.heic");
    lp_output *out;
    lp_error err = {0};
    assert_int_equal(lp_output_open_file(&out, jpg, &err), LP_OK);
    lp_encode_options opts;
    lp_encode_options_default(&opts, LP_FILE_JPEG);
    lp_sink *sink;
    lp_stage *src;
    assert_int_equal(lp_jpeg_sink_new(&sink, out, &opts, NULL, &err), LP_OK);
    assert_int_equal(lp_buffer_source_new(&src, &img, 0, &err), LP_OK);
    assert_int_equal(lp_pipeline_run(src, sink, NULL, NULL, &err), LP_OK);
    assert_int_equal(lp_output_commit(out, &err), LP_OK);
    lp_sink_destroy(sink);
    lp_stage_destroy(src);
    lp_output_close(out);
    assert_int_equal(lpt_run("heif-enc -q 90 -o '%s' '%s' >/dev/null 2>&1", heic, jpg), 0);

    lp_input *in;
    assert_int_equal(lp_input_open_file(&in, heic, LP_IO_READ, 0, &err), LP_OK);
    assert_int_equal(lp_heif_source_new(&src, in, NULL, NULL, &err), LP_OK);
    const lp_metadata *m = &src->info.meta;
    assert_int_equal(src->info.width, 120);  /* not turned: no irot */
    assert_int_equal(m->orientation, 1);
    assert_int_equal(m->icc_size, icc_size);
    assert_memory_equal(m->icc, icc, icc_size);
    assert_int_equal(m->xmp_size, strlen(XMP_TEXT));
    assert_memory_equal(m->xmp, XMP_TEXT, strlen(XMP_TEXT));
    assert_non_null(m->exif);
    assert_true(lp_exif_is_tiff(m->exif, m->exif_size));
    assert_int_equal(lp_exif_orientation(m->exif, m->exif_size), 1);
    lp_stage_destroy(src);
    lp_buffer_image_free(&img);
    free(icc);
    free(exif);
}

/* ---- AVIF ---- */

static const char *make_avif(const char *name, uint32_t w, uint32_t h, lp_format format,
                             const char *extra)
{
    char png[64];
    snprintf(png, sizeof png, "%s.png", name);
    const char *in = photo_png(png, w, h, format);
    const char *out = lpt_path(name);
    if (lpt_run("avifenc -s 10 --min 10 --max 20 %s '%s' '%s' >/dev/null 2>&1", extra ? extra : "",
                in, out) != 0)
        fail_msg("avifenc failed on %s", in);
    return keep_path(out);
}

/* The bytes of make_avif's file (*size of them), for forging; freed by the caller. */
static uint8_t *avif_bytes(const char *name, uint32_t w, uint32_t h, lp_format format,
                           const char *extra, size_t *size)
{
    uint8_t *data = lpt_read_file(make_avif(name, w, h, format, extra), size);
    assert_non_null(data);
    return data;
}

static void check_against_avifdec(const char *path, lp_format format)
{
    lp_buffer_image ours, ref;
    must_decode(lp_avif_source_new, path, &ours);
    assert_int_equal(ours.info.format, format);
    reference("avifdec", path, &ref);
    same_format(&ours, &ref);
    /* the same YUV frame and the same conversion, strip by strip vs whole: identical */
    unsigned d = max_diff(&ours, &ref);
    if (d != 0)
        fail_msg("%s: differs from avifdec by %u", path, d);
    lp_buffer_image_free(&ours);
    lp_buffer_image_free(&ref);
}

static void test_avif_8bit_and_odd_sizes(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("avifenc");
    LPT_REQUIRE_TOOL("avifdec");
    check_against_avifdec(make_avif("p8.avif", 640, 480, LP_FORMAT_RGB8, NULL), LP_FORMAT_RGB8);
    check_against_avifdec(make_avif("odd.avif", 333, 211, LP_FORMAT_RGB8, NULL), LP_FORMAT_RGB8);
    check_against_avifdec(make_avif("y444.avif", 97, 61, LP_FORMAT_RGB8, "-y 444"), LP_FORMAT_RGB8);
    check_against_avifdec(make_avif("y422.avif", 98, 61, LP_FORMAT_RGB8, "-y 422"), LP_FORMAT_RGB8);
}

static void test_avif_grid(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("avifenc");
    LPT_REQUIRE_TOOL("avifdec");
    const char *path = make_avif("grid.avif", 512, 384, LP_FORMAT_RGB8, "--grid 2x2");
    check_against_avifdec(path, LP_FORMAT_RGB8);
    /* libheif reads the same grid (its own grid code): the HEIF source agrees closely */
    lp_buffer_image a, b;
    must_decode(lp_avif_source_new, path, &a);
    must_decode(lp_heif_source_new, path, &b);
    assert_true(lpt_psnr(&a, &b) > 40.0);
    lp_buffer_image_free(&a);
    lp_buffer_image_free(&b);
}

static void test_avif_10bit_and_alpha(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("avifenc");
    LPT_REQUIRE_TOOL("avifdec");
    check_against_avifdec(make_avif("p10.avif", 200, 130, LP_FORMAT_RGB16, "-d 10"), LP_FORMAT_RGB16);
    check_against_avifdec(make_avif("a8.avif", 200, 130, LP_FORMAT_RGBA8, NULL), LP_FORMAT_RGBA8);
    check_against_avifdec(make_avif("a10.avif", 150, 99, LP_FORMAT_RGBA16, "-d 10"),
                          LP_FORMAT_RGBA16);
}

/* irot/imir: both sources yield the pixels as displayed, as heif-convert (libheif applies
 * the transformations) shows them; libavif's YUV->RGB differs a little from libheif's. */
static void test_orientation_as_displayed(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("avifenc");
    LPT_REQUIRE_TOOL("heif-convert");
    static const char *const variants[] = {"--irot 1", "--irot 2", "--irot 3", "--imir 0",
                                           "--imir 1", "--irot 1 --imir 0", "--irot 3 --imir 1"};
    /* The EXIF orientation each shows (irot: anti-clockwise quarter turns, then imir mode
     * 0 exchanges top and bottom, 1 left and right; HEIF 6.5.10-12), for avifdec's stored
     * pixels turned by the test's own lpt_apply_orientation. */
    static const int exif_of[] = {8, 3, 6, 4, 2, 5, 5};
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "o%zu.avif", i);
        const char *path = make_avif(name, 96, 64, LP_FORMAT_RGB8, variants[i]);
        bool quarter = strstr(variants[i], "irot 1") || strstr(variants[i], "irot 3");
        lp_buffer_image ref, ours, viaheif;
        reference("heif-convert", path, &ref);
        must_decode(lp_avif_source_new, path, &ours);
        must_decode(lp_heif_source_new, path, &viaheif);
        assert_int_equal(ours.info.width, quarter ? 64 : 96);
        assert_int_equal(viaheif.info.width, ours.info.width);
        lp_buffer_image stored, shown;
        reference("avifdec", path, &stored);
        lpt_to_rgb8(&stored, false);
        lpt_apply_orientation(&stored, exif_of[i], &shown);
        unsigned d = max_diff(&ours, &shown);  /* the same conversion, turned: identical */
        if (d != 0)
            fail_msg("%s: differs from avifdec's pixels turned by %d: %u", variants[i],
                     exif_of[i], d);
        lp_buffer_image_free(&stored);
        lp_buffer_image_free(&shown);
        double p = lpt_psnr(&ours, &ref), q = lpt_psnr(&viaheif, &ref);
        if (p < 35.0 || q < 45.0)
            fail_msg("%s: PSNR against heif-convert %.1f (avif source), %.1f (heif source)",
                     variants[i], p, q);
        lp_buffer_image_free(&ref);
        lp_buffer_image_free(&ours);
        lp_buffer_image_free(&viaheif);
    }
}

static void test_avif_metadata(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("avifenc");
    size_t icc_size;
    uint8_t *icc = lpt_read_file(ICC_FILE, &icc_size);
    if (!icc) {
        fprintf(stderr, "SKIP: %s is absent (icc-profiles-free)\n", ICC_FILE);
        skip();
    }
    const char *exif = lpt_path("o3.exif"), *xmp = lpt_path("x.xmp");
    exif_with_orientation(exif, 3);
    lpt_write_file(xmp, XMP_TEXT, strlen(XMP_TEXT));
    char extra[512];
    snprintf(extra, sizeof extra, "--exif '%s' --xmp '%s' --icc '%s'", exif, xmp, ICC_FILE);
    const char *path = make_avif("meta.avif", 64, 48, LP_FORMAT_RGB8, extra);
    source_ctor ctors[2] = {lp_avif_source_new, lp_heif_source_new};
    for (int i = 0; i < 2; i++) {
        lp_input *in;
        lp_stage *src;
        lp_error err = {0};
        assert_int_equal(lp_input_open_file(&in, path, LP_IO_READ, 0, &err), LP_OK);
        assert_int_equal(ctors[i](&src, in, NULL, NULL, &err), LP_OK);
        const lp_metadata *m = &src->info.meta;
        assert_int_equal(m->orientation, 1);
        assert_int_equal(m->icc_size, icc_size);
        assert_memory_equal(m->icc, icc, icc_size);
        assert_int_equal(m->xmp_size, strlen(XMP_TEXT));
        assert_memory_equal(m->xmp, XMP_TEXT, strlen(XMP_TEXT));
        assert_non_null(m->exif);
        assert_int_equal(lp_exif_orientation(m->exif, m->exif_size), 1);
        lp_stage_destroy(src);
    }
    free(icc);
}

/* ---- hostile input ---- */

/* A declared size over the limits is refused from the container, before any pixel or
 * decoder buffer: the counted peak stays at the metadata and read buffers. */
static void test_limits_from_header(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("avifenc");
    const char *avif = make_avif("small.avif", 64, 64, LP_FORMAT_RGB8, NULL);
    const char *big = keep_path(lpt_path("big.avif"));
    forge_size(avif, big, 60000, 60000);
    const char *inputs[2] = {big, NULL};
    if (have_heic_encoder()) {
        const char *heic = make_heic("small.heic", 64, 64, LP_FORMAT_RGB8, NULL);
        inputs[1] = keep_path(lpt_path("big.heic"));
        forge_size(heic, inputs[1], 60000, 60000);
    }
    source_ctor ctors[2] = {lp_avif_source_new, lp_heif_source_new};
    for (int f = 0; f < 2; f++) {
        for (int c = 0; c < 2; c++) {
            if (!inputs[f] || (f == 1 && c == 0))  /* libavif reads AVIF only */
                continue;
            lp_mem *mem = lp_mem_new(0, NULL);
            lp_buffer_image img;
            lp_error err = {0};
            lp_status st = decode_with(ctors[c], inputs[f], NULL, mem, &img, NULL, &err);
            if (st != LP_ERR_LIMITS)
                fail_msg("%s via source %d: %s (%s)", inputs[f], c, lp_strerror(st),
                         lp_error_message(&err));
            assert_true(lp_mem_peak(mem) < 1024 * 1024);
            lp_mem_free_tracker(mem);
        }
    }
    /* tighter limits than the file: refused, naming the side */
    lp_limits limits;
    lp_limits_default(&limits);
    limits.max_width = 32;
    lp_buffer_image img;
    lp_error err = {0};
    assert_int_equal(decode_with(lp_avif_source_new, avif, &limits, NULL, &img, NULL, &err),
                     LP_ERR_LIMITS);
    lp_error_clear(&err);
    assert_int_equal(decode_with(lp_heif_source_new, avif, &limits, NULL, &img, NULL, &err),
                     LP_ERR_LIMITS);
}

/* AV1 data larger than its item's declared size (ispe): libavif 0.11 decoded the whole
 * frame, then scaled it down to the ispe (a 64x64 ispe over 3520x5280 of AV1 data held 51
 * MB under a 20M budget, counted 2.5 MiB). dav1d is now held to the declared size and
 * refuses the frame before allocating it; a grid's cells are held to the largest cell. */
static lp_status open_under(source_ctor ctor, const char *path, uint64_t budget, lp_error *err);

static void test_av1_larger_than_ispe(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("avifenc");
    const char *files[2] = {make_avif("lie1.avif", 640, 480, LP_FORMAT_RGB8, NULL),
                            make_avif("lie4.avif", 640, 480, LP_FORMAT_RGB8, "--grid 2x2")};
    for (int f = 0; f < 2; f++) {
        lp_buffer_image img;
        lp_error err = {0};
        assert_int_equal(decode_with(lp_avif_source_new, files[f], NULL, NULL, &img, NULL, &err),
                         LP_OK);  /* as written, both decode */
        lp_buffer_image_free(&img);
        const char *lie = keep_path(lpt_path(f ? "lie4-forged.avif" : "lie1-forged.avif"));
        if (f)  /* the cells' ispe: the grid's still says 640x480 */
            forge_sizes(files[f], lie, 320, 240, 64, 64);
        else
            forge_size(files[f], lie, 64, 64);
        lp_error_clear(&err);
        lp_status st = decode_with(lp_avif_source_new, lie, NULL, NULL, &img, NULL, &err);
        if (st == LP_OK)
            fail_msg("%s decoded as %ux%u", lie, img.info.width, img.info.height);
        assert_int_equal(st, LP_ERR_CORRUPT);
        /* libheif's AV1 decoder has no such limit: the HEIF source reads the sequence
         * headers of the items' data first, and refuses at open */
        assert_int_equal(open_under(lp_heif_source_new, lie, 0, &err), LP_ERR_CORRUPT);
        assert_non_null(strstr(lp_error_message(&err), f ? "HEIF image data is 320x240"
                                                         : "HEIF image data is 640x480"));
    }
}

/* The same through libheif: libde265 decodes at its SPS's size, and libheif 1.15 compared
 * it with the ispe only after decoding (a 64x64 ispe over a 3520x5280 HEVC stream held 166
 * MB under a 20M budget). The hvcC's SPS is read first: 640x480 coded, a 64x64 ispe: the
 * file is refused at open, before anything is decoded; the coding padding of odd sizes
 * (x265 codes 333x211 as 336x216) is not taken for a lie. */
static void test_hevc_larger_than_ispe(void **state)
{
    (void)state;
    REQUIRE_HEIC_ENCODER();
    const char *heic = make_heic("slie.heic", 640, 480, LP_FORMAT_RGB8, NULL);
    size_t size;
    uint8_t *data = lpt_read_file(heic, &size);
    assert_non_null(data);
    uint8_t *hvcc = find_box(data, size, "hvcC");
    assert_non_null(hvcc);
    uint32_t w = 0, h = 0, box = (uint32_t)hvcc[0] << 24 | hvcc[1] << 16 | hvcc[2] << 8 | hvcc[3];
    bool unreadable = false;
    assert_true(lp_hevc_config_largest_sps(hvcc + 8, box - 8, &w, &h, &unreadable));
    assert_int_equal(w, 640);
    assert_int_equal(h, 480);
    assert_false(unreadable);
    assert_false(lp_hevc_config_largest_sps(hvcc + 8, 22, &w, &h, &unreadable));  /* no SPS */
    free(data);

    const char *lie = keep_path(lpt_path("slie-forged.heic"));
    forge_size(heic, lie, 64, 64);
    lp_error err;
    assert_int_equal(open_under(lp_heif_source_new, lie, 0, &err), LP_ERR_CORRUPT);
    assert_non_null(strstr(lp_error_message(&err), "HEIF image data is 640x480"));
    const char *odd = make_heic("sodd.heic", 333, 211, LP_FORMAT_RGB8, NULL);
    assert_int_equal(open_under(lp_heif_source_new, odd, 0, &err), LP_OK);
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The SPS NAL unit in the hvcC box at hvcc (its header), *len its length; NULL if none. */
static uint8_t *hvcc_sps(uint8_t *hvcc, size_t *len)
{
    size_t at = 8 + 23;
    for (unsigned a = 0; a < hvcc[8 + 22]; a++) {
        unsigned count = (unsigned)hvcc[at + 1] << 8 | hvcc[at + 2];
        at += 3;
        for (unsigned k = 0; k < count; k++) {
            size_t n = (size_t)hvcc[at] << 8 | hvcc[at + 1];
            if ((hvcc[at + 2] >> 1 & 0x3f) == 33) {
                *len = n;
                return hvcc + at + 2;
            }
            at += 2 + n;
        }
    }
    return NULL;
}

/* The same lie with the SPS moved out of the hvcC into the item's data, where libheif hands
 * it to libde265 after the hvcC's units: the hvcC's SPS is turned into an unspecified NAL
 * type (48), and the data's first NAL unit (the slice, a PNG's HEIC has nothing before it)
 * is overwritten by the SPS and a filler unit of the same total size. */
static void test_hevc_sps_in_item_data(void **state)
{
    (void)state;
    REQUIRE_HEIC_ENCODER();
    const char *heic = make_heic("dlie.heic", 640, 480, LP_FORMAT_RGB8, NULL);
    const char *lie = keep_path(lpt_path("dlie-forged.heic"));
    forge_size(heic, lie, 64, 64);
    size_t size;
    uint8_t *data = lpt_read_file(lie, &size);
    assert_non_null(data);
    uint8_t *hvcc = find_box(data, size, "hvcC"), *mdat = find_box(data, size, "mdat");
    assert_non_null(hvcc);
    assert_non_null(mdat);
    size_t sps_len = 0;
    uint8_t *sps = hvcc_sps(hvcc, &sps_len);
    assert_non_null(sps);
    uint8_t *copy = malloc(sps_len);
    memcpy(copy, sps, sps_len);
    sps[0] = (uint8_t)(48 << 1 | (sps[0] & 0x81));  /* the hvcC's SPS is one no more */
    uint8_t *slice = mdat + 8;
    uint32_t slice_len = get_be32(slice);
    assert_true(slice_len > sps_len + 6 && slice + 4 + slice_len <= data + size);
    put_be32(slice, (uint32_t)sps_len);
    memcpy(slice + 4, copy, sps_len);
    uint8_t *filler = slice + 4 + sps_len;
    put_be32(filler, (uint32_t)(slice_len - sps_len - 4));
    memset(filler + 4, 0, slice_len - sps_len - 4);
    filler[4] = 48 << 1, filler[5] = 1;
    lpt_write_file(lie, data, size);
    free(copy);
    free(data);
    lp_error err;
    assert_int_equal(open_under(lp_heif_source_new, lie, 0, &err), LP_ERR_CORRUPT);
    assert_non_null(strstr(lp_error_message(&err), "HEIF image data is 640x480"));
}

/* A sequence header that cannot be read leaves the picture size unknown: the decoder would
 * allocate by whatever it reads there, so the file is refused at open, with the reason.
 * HEVC: an SPS with 8 sub-layers (H.265 allows 7); AV1: a sequence header of profile 7
 * (AV1 has 0-2). Each is written into a valid file's own header. */
static void expect_unreadable(source_ctor ctor, const char *path, const char *family)
{
    lp_error err;
    assert_int_equal(open_under(ctor, path, 0, &err), LP_ERR_CORRUPT);
    char want[96];
    snprintf(want, sizeof want, "%s image data has a sequence header that cannot be read",
             family);
    if (!strstr(lp_error_message(&err), want))
        fail_msg("%s: \"%s\"", path, lp_error_message(&err));
}

static void test_unreadable_sequence_headers(void **state)
{
    (void)state;
    REQUIRE_HEIC_ENCODER();
    LPT_REQUIRE_TOOL("avifenc");
    const char *heic = make_heic("uhdr.heic", 64, 64, LP_FORMAT_RGB8, NULL);
    size_t size, sps_len = 0;
    uint8_t *data = lpt_read_file(heic, &size);
    assert_non_null(data);
    uint8_t *hvcc = find_box(data, size, "hvcC");
    assert_non_null(hvcc);
    uint8_t *sps = hvcc_sps(hvcc, &sps_len);
    assert_non_null(sps);
    sps[2] |= 7 << 1;  /* sps_max_sub_layers_minus1 = 7 */
    uint32_t w, h, box = get_be32(hvcc);
    bool unreadable = false;
    assert_false(lp_hevc_config_largest_sps(hvcc + 8, box - 8, &w, &h, &unreadable));
    assert_true(unreadable);
    const char *bad = keep_path(lpt_path("uhdr-sps.heic"));
    lpt_write_file(bad, data, size);
    free(data);
    expect_unreadable(lp_heif_source_new, bad, "HEIF");

    const char *avif = make_avif("uhdr.avif", 64, 64, LP_FORMAT_RGB8, NULL);
    data = lpt_read_file(avif, &size);
    assert_non_null(data);
    uint8_t *mdat = find_box(data, size, "mdat");
    assert_non_null(mdat);
    uint8_t *obu = mdat + 8;  /* avifenc's data: a temporal delimiter, the sequence header */
    while (obu[0] == (2 << 3 | 0x02) && obu[1] == 0)
        obu += 2;
    assert_int_equal(obu[0], 1 << 3 | 0x02);  /* type 1, with a size */
    assert_true(obu[1] < 0x80);  /* a one-byte size */
    obu[2] |= 0xe0;  /* seq_profile = 7 */
    bad = keep_path(lpt_path("uhdr-seq.avif"));
    lpt_write_file(bad, data, size);
    free(data);
    expect_unreadable(lp_avif_source_new, bad, "AVIF");
    expect_unreadable(lp_heif_source_new, bad, "HEIF");
}

/* A grid whose own output size (its ImageGrid data) is far over its ispe: libheif 1.15
 * would allocate its canvas by the grid's size (gigabytes; found by fuzz_heif_source). The
 * source refuses it from the header, before libheif decodes anything. */
static void test_grid_larger_than_ispe(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("avifenc");
    size_t size;
    uint8_t *data = avif_bytes("bg.avif", 512, 384, LP_FORMAT_RGB8, "--grid 2x2", &size);
    /* the ImageGrid: version 0, flags 0 (16-bit sizes), 2 rows, 2 columns, 512 x 384 */
    static const uint8_t grid[8] = {0, 0, 1, 1, 0x02, 0x00, 0x01, 0x80};
    uint8_t *g = NULL;
    for (size_t i = 0; i + sizeof grid <= size && !g; i++)
        if (!memcmp(data + i, grid, sizeof grid))
            g = data + i;
    assert_non_null(g);
    g[4] = g[5] = g[6] = g[7] = 0xFF;  /* 65535 x 65535 */
    const char *forged = keep_path(lpt_path("bg-forged.avif"));
    lpt_write_file(forged, data, size);
    free(data);
    source_ctor ctors[2] = {lp_heif_source_new, lp_avif_source_new};  /* libavif checks too */
    for (int c = 0; c < 2; c++) {
        lp_mem *mem = lp_mem_new(0, NULL);
        lp_buffer_image img;
        lp_error err = {0};
        lp_status st = decode_with(ctors[c], forged, NULL, mem, &img, NULL, &err);
        if (st != LP_ERR_CORRUPT && st != LP_ERR_LIMITS)
            fail_msg("forged grid, source %d: %s (%s)", c, lp_strerror(st), lp_error_message(&err));
        assert_true(lp_mem_peak(mem) < 1024 * 1024);
        lp_mem_free_tracker(mem);
    }
    assert_true(lp_process_peak_rss() < 1024ull * 1024 * 1024);
}

/* Where the first extent (offset, length: 4 bytes each) of item id is written in the
 * iloc box of an avifenc file (version 0 or 1, no base offsets or extent indices). */
static uint8_t *iloc_extent_of(uint8_t *data, size_t size, uint32_t id)
{
    uint8_t *box = find_box(data, size, "iloc");
    assert_non_null(box);
    uint8_t *p = box + 8;
    unsigned version = p[0];
    assert_true(version <= 1);
    assert_int_equal(p[4], 0x44);
    assert_int_equal(p[5], 0);
    unsigned count = (unsigned)p[6] << 8 | p[7];
    p += 8;
    for (unsigned i = 0; i < count; i++) {
        unsigned item = (unsigned)p[0] << 8 | p[1];
        p += version == 1 ? 6 : 4;
        unsigned extents = (unsigned)p[0] << 8 | p[1];
        p += 2;
        if (item == id)
            return p;
        p += 8 * extents;
    }
    fail_msg("no iloc entry for item %u", id);
    return NULL;
}

/* The item id of the n-th (from 0) grid item of an avifenc file. */
static uint32_t grid_item(uint8_t *data, size_t size, int n)
{
    for (uint8_t *p = data; (p = find_box(p, size - (size_t)(p - data), "infe")); p += 8)
        if (p[8] == 2 && !memcmp(p + 16, "grid", 4) && n-- == 0)
            return (uint32_t)p[12] << 8 | p[13];
    fail_msg("no grid item %d", n);
    return 0;
}

/* Grids whose ImageGrid data libheif 1.15 would read from outside its box, or size a
 * canvas by without a check (found by fuzz_heif_source: a 1 kB file whose grid ran past
 * its idat box made it allocate 2.1 GB), are refused by our reading of the meta box:
 *  - the color grid's data cut to 4 bytes (libheif checks extents against the file, not
 *    against what a grid needs);
 *  - an alpha grid whose own data (in a free box after mdat) says 65535x65535. */
static void test_grid_data_checked(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("avifenc");
    size_t size;
    uint8_t *data = avif_bytes("ga.avif", 512, 384, LP_FORMAT_RGBA8, "--grid 2x2", &size);
    uint8_t *forged = malloc(size + 16);
    assert_non_null(forged);
    static const struct {
        int grid;
        const char *says;
    } cases[] = {{0, "are not a grid inside its file"}, {1, "auxiliary grid of 65535x65535"}};
    for (int k = 0; k < 2; k++) {
        memcpy(forged, data, size);
        uint8_t *extent = iloc_extent_of(forged, size, grid_item(forged, size, cases[k].grid));
        size_t forged_size = size;
        if (k == 0) {
            put_be32(extent + 4, 4);
        } else {
            static const uint8_t grid[8] = {0, 0, 1, 1, 0xFF, 0xFF, 0xFF, 0xFF};
            put_be32(forged + size, 16);
            memcpy(forged + size + 4, "free", 4);
            memcpy(forged + size + 8, grid, 8);
            put_be32(extent, (uint32_t)size + 8);
            forged_size += 16;
        }
        const char *out = keep_path(lpt_path(k ? "ga-alpha-grid.avif" : "ga-short-grid.avif"));
        lpt_write_file(out, forged, forged_size);
        lp_mem *mem = lp_mem_new(0, NULL);
        lp_buffer_image img;
        lp_error err = {0};
        lp_status st = decode_with(lp_heif_source_new, out, NULL, mem, &img, NULL, &err);
        if (st != LP_ERR_CORRUPT || !strstr(lp_error_message(&err), cases[k].says))
            fail_msg("%s: %s (%s)", out, lp_strerror(st), lp_error_message(&err));
        assert_true(lp_mem_peak(mem) < 1024 * 1024);
        lp_mem_free_tracker(mem);
        lp_error_clear(&err);
        st = decode_with(lp_avif_source_new, out, NULL, NULL, &img, NULL, &err);
        if (st != LP_ERR_CORRUPT)  /* libavif's own grid checks refuse both */
            fail_msg("%s, AVIF source: %s (%s)", out, lp_strerror(st), lp_error_message(&err));
    }
    free(forged);
    free(data);
    assert_true(lp_process_peak_rss() < 1024ull * 1024 * 1024);
}

/* The first place of pattern in data (n bytes), or NULL. */
static uint8_t *find_bytes(uint8_t *data, size_t n, const void *pattern, size_t len)
{
    for (size_t i = 0; i + len <= n; i++)
        if (!memcmp(data + i, pattern, len))
            return data + i;
    return NULL;
}

/* The infe (version 2) of the first item of the given type in an avifenc file. */
static uint8_t *find_infe_of_type(uint8_t *data, size_t n, const char *type)
{
    for (uint8_t *p = data; (p = find_bytes(p, n - (size_t)(p - data), "infe", 4)); p += 4)
        if (p + 16 <= data + n && p[4] == 2 && !memcmp(p + 12, type, 4))
            return p;
    return NULL;
}

enum forgery { CELL_IS_THE_GRID, OVERLAY, GRID_OF_GRIDS };

/* A 2x2 grid AVIF from avifenc with one thing changed in its meta box: a cell reference
 * that names the grid itself (libheif 1.15 recursed until the stack overflowed: found by
 * fuzz_heif_source), the grid item turned into an overlay (whose canvas libheif sizes
 * from its own data), or a cell turned into a grid. */
static const char *forge_items(enum forgery what)
{
    static const char *names[] = {"loop.avif", "iovl.avif", "gridgrid.avif"};
    size_t size;
    uint8_t *data = avif_bytes("items.avif", 256, 256, LP_FORMAT_RGB8, "--grid 2x2", &size);
    uint8_t *grid = find_infe_of_type(data, size, "grid");
    assert_non_null(grid);
    if (what == CELL_IS_THE_GRID) {
        uint8_t *dimg = find_bytes(data, size, "dimg", 4);  /* from, count, 4 cell ids */
        assert_non_null(dimg);
        assert_memory_equal(dimg + 4, grid + 8, 2);
        memcpy(dimg + 10, grid + 8, 2);  /* the second cell is the grid */
    } else if (what == OVERLAY) {
        memcpy(grid + 12, "iovl", 4);
    } else {
        uint8_t *cell = find_infe_of_type(data, size, "av01");
        assert_non_null(cell);
        memcpy(cell + 12, "grid", 4);
    }
    const char *forged = keep_path(lpt_path(names[what]));
    lpt_write_file(forged, data, size);
    free(data);
    return forged;
}

/* What libheif would follow without end, or without a bound on its memory, is refused
 * from our reading of the meta box before libheif decodes, with our reason; the AVIF
 * source refuses the same files (libavif's parser or our header reader, whichever comes
 * first: libavif only follows grids, and checks their cells). */
static void test_item_graph_refused(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("avifenc");
    static const struct {
        enum forgery what;
        lp_status status;
        const char *says;
    } cases[] = {
        {CELL_IS_THE_GRID, LP_ERR_CORRUPT, "loop"},
        {OVERLAY, LP_ERR_UNSUPPORTED, "'iovl'"},
        {GRID_OF_GRIDS, LP_ERR_UNSUPPORTED, "is itself a 'grid'"},
    };
    source_ctor ctors[2] = {lp_heif_source_new, lp_avif_source_new};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const char *forged = forge_items(cases[k].what);
        for (int c = 0; c < 2; c++) {
            lp_buffer_image img;
            lp_error err = {0};
            lp_status st = decode_with(ctors[c], forged, NULL, NULL, &img, NULL, &err);
            bool as_ours = st == cases[k].status && strstr(lp_error_message(&err), cases[k].says);
            bool refused = st == LP_ERR_CORRUPT || st == LP_ERR_UNSUPPORTED;
            if (c == 0 ? !as_ours : !refused)
                fail_msg("%s, source %d: %s (%s)", forged, c, lp_strerror(st),
                         lp_error_message(&err));
        }
    }
}

/* ---- the item graph, from hand-made iinf and iref bodies ---- */

typedef struct meta_bytes {
    uint8_t iinf[1 << 20], iref[1 << 20];
    size_t iinf_n, iref_n;
} meta_bytes;

static void put16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)(v >> 8), p[1] = (uint8_t)v; }

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, v >> 16);
    put16(p + 2, v & 0xFFFFu);
}

static void add_item(meta_bytes *m, uint32_t id, const char *type)
{
    if (m->iinf_n == 0)
        m->iinf_n = 6;  /* version 0, flags, a 16-bit count that the walk does not need */
    uint8_t *e = m->iinf + m->iinf_n;
    put32(e, 21);
    memcpy(e + 4, "infe", 4);
    put32(e + 8, 2u << 24);  /* version 2 */
    put16(e + 12, id);
    put16(e + 14, 0);
    memcpy(e + 16, type, 4);
    e[20] = 0;
    m->iinf_n += 21;
}

static void add_ref(meta_bytes *m, const char *type, uint32_t from, const uint32_t *to, size_t n)
{
    if (m->iref_n == 0)
        m->iref_n = 4;
    uint8_t *r = m->iref + m->iref_n;
    put32(r, (uint32_t)(12 + 2 * n));
    memcpy(r + 4, type, 4);
    put16(r + 8, from);
    put16(r + 10, (uint32_t)n);
    for (size_t k = 0; k < n; k++)
        put16(r + 12 + 2 * k, to[k]);
    m->iref_n += 12 + 2 * n;
}

/* The walk from primary; *reached (when not NULL) gets the primary's type and the grids. */
static lp_status walk_items(const meta_bytes *m, uint32_t primary, lp_heif_reached *reached,
                            lp_error *err)
{
    lp_heif_reached ignored;
    lp_error_clear(err);
    reached = reached ? reached : &ignored;
    lp_status st = lp_heif_check_items((lp_span){m->iinf, m->iinf_n},
                                       (lp_span){m->iref, m->iref_n}, primary,
                                       LP_HEIF_FAMILY_HEIF, reached, NULL, err);
    lp_heif_reached_release(reached, NULL);  /* the coded items are not looked at here */
    return st;
}

static lp_status check_items(const meta_bytes *m, uint32_t primary, lp_error *err)
{
    return walk_items(m, primary, NULL, err);
}

/* The walk over the items libheif would visit: what real files do passes (a grid with an
 * alpha grid, cells shared), a loop through auxiliary images, a chain deeper than real
 * files go and a cell with its own alpha are refused; 60,000 references to one cell are
 * walked once each, in tables counted in the job's budget. */
static void test_item_graph_walk(void **state)
{
    (void)state;
    static meta_bytes m;
    lp_error err = {0};
    uint32_t cells[] = {2, 3, 3, 2}, alpha_cells[] = {5, 6}, one = 1, two = 2, four = 4;

    memset(&m, 0, sizeof m);  /* a grid, its alpha grid (auxl to the grid), coded cells */
    add_item(&m, 1, "grid"), add_item(&m, 2, "hvc1"), add_item(&m, 3, "hvc1");
    add_item(&m, 4, "grid"), add_item(&m, 5, "hvc1"), add_item(&m, 6, "hvc1");
    add_ref(&m, "dimg", 1, cells, 4), add_ref(&m, "dimg", 4, alpha_cells, 2);
    add_ref(&m, "auxl", 4, &one, 1);
    lp_heif_reached r;
    assert_int_equal(walk_items(&m, 1, &r, &err), LP_OK);
    assert_memory_equal(r.primary_type, "grid", 4);  /* the primary's type, for the header */
    assert_int_equal(r.n_grids, 2);                  /* and the grids whose data to check */
    assert_int_equal(r.grids[0], 1);
    assert_int_equal(r.grids[1], 4);
    assert_int_equal(walk_items(&m, 2, &r, &err), LP_OK);
    assert_memory_equal(r.primary_type, "hvc1", 4);
    assert_int_equal(r.n_grids, 0);
    add_ref(&m, "auxl", 5, &two, 1);  /* now a cell has an alpha image of its own */
    assert_int_equal(check_items(&m, 1, &err), LP_ERR_UNSUPPORTED);
    assert_non_null(strstr(lp_error_message(&err), "cell 2 has auxiliary"));

    memset(&m, 0, sizeof m);  /* two images each the other's alpha */
    add_item(&m, 1, "hvc1"), add_item(&m, 2, "hvc1");
    add_ref(&m, "auxl", 2, &one, 1), add_ref(&m, "auxl", 1, &two, 1);
    assert_int_equal(check_items(&m, 1, &err), LP_ERR_CORRUPT);
    assert_non_null(strstr(lp_error_message(&err), "loop"));

    memset(&m, 0, sizeof m);  /* a chain of alpha images, 12 deep */
    for (uint32_t id = 1; id <= 12; id++) {
        uint32_t master = id - 1;
        add_item(&m, id, "hvc1");
        if (id > 1)
            add_ref(&m, "auxl", id, &master, 1);
    }
    assert_int_equal(check_items(&m, 1, &err), LP_ERR_CORRUPT);
    assert_non_null(strstr(lp_error_message(&err), "deeper"));

    memset(&m, 0, sizeof m);  /* an overlay as a cell, its reference's box size a lie */
    add_item(&m, 1, "grid"), add_item(&m, 2, "iovl");
    add_ref(&m, "dimg", 1, &two, 1);
    put32(m.iref + 4, 0x21000e);  /* libheif reads the entry by its contents (found by
                                   * fuzz_heif_source: a 3.6 GB overlay canvas) */
    assert_int_equal(check_items(&m, 1, &err), LP_ERR_UNSUPPORTED);

    memset(&m, 0, sizeof m);  /* a grid with five grids as its auxiliary images */
    add_item(&m, 1, "grid");
    for (uint32_t id = 2; id <= 6; id++)
        add_item(&m, id, "grid"), add_ref(&m, "auxl", id, &one, 1);
    assert_int_equal(check_items(&m, 1, &err), LP_ERR_UNSUPPORTED);
    assert_non_null(strstr(lp_error_message(&err), "more than 4 grids"));

    memset(&m, 0, sizeof m);  /* one id, two items */
    add_item(&m, 1, "hvc1"), add_item(&m, 1, "iovl");
    assert_int_equal(check_items(&m, 1, &err), LP_ERR_CORRUPT);
    assert_non_null(strstr(lp_error_message(&err), "declared twice"));

    memset(&m, 0, sizeof m);  /* an identity derivation */
    add_item(&m, 1, "iden"), add_item(&m, 4, "hvc1");
    add_ref(&m, "dimg", 1, &four, 1);
    assert_int_equal(check_items(&m, 1, &err), LP_ERR_UNSUPPORTED);

    memset(&m, 0, sizeof m);  /* 60,000 references to one cell */
    static uint32_t many[60000];
    for (size_t k = 0; k < 60000; k++)
        many[k] = 2;
    add_item(&m, 1, "grid"), add_item(&m, 2, "av01");
    add_ref(&m, "dimg", 1, many, 60000);
    assert_int_equal(check_items(&m, 1, &err), LP_OK);
    assert_int_equal(walk_items(&m, 7, &r, &err), LP_OK);   /* no such primary: */
    assert_memory_equal(r.primary_type, "\0\0\0\0", 4);  /* libheif's to say */
    lp_mem *tight = lp_mem_new(64 * 1024, NULL);  /* the tables are counted: 240 kB here */
    lp_error_clear(&err);
    assert_int_equal(lp_heif_check_items((lp_span){m.iinf, m.iinf_n}, (lp_span){m.iref, m.iref_n},
                                         1, LP_HEIF_FAMILY_AVIF, &r, tight, &err), LP_ERR_NOMEM);
    assert_non_null(strstr(lp_error_message(&err), "AVIF item references"));  /* named AVIF */
    assert_int_equal(lp_mem_current(tight), 0);
    lp_mem_free_tracker(tight);
}

/* Every cut of a file fails with an error (never a crash, a hang or an image). */
static void test_truncated(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("avifenc");
    const char *files[2] = {make_avif("t.avif", 128, 96, LP_FORMAT_RGB8, NULL), NULL};
    if (have_heic_encoder())
        files[1] = make_heic("t.heic", 128, 96, LP_FORMAT_RGB8, NULL);
    source_ctor ctors[2] = {lp_avif_source_new, lp_heif_source_new};
    for (int f = 0; f < 2; f++) {
        if (!files[f])
            continue;
        size_t size;
        uint8_t *data = lpt_read_file(files[f], &size);
        assert_non_null(data);
        size_t cuts[] = {0, 8, 20, 40, 100, 300, size / 3, size / 2, size - 100, size - 1};
        for (size_t k = 0; k < sizeof cuts / sizeof cuts[0]; k++) {
            const char *cut = lpt_path("cut.bin");
            lpt_write_file(cut, data, cuts[k]);
            for (int c = 0; c < 2; c++) {
                lp_buffer_image img;
                lp_error err = {0};
                lp_status st = decode_with(ctors[c], cut, NULL, NULL, &img, NULL, &err);
                if (st == LP_OK)
                    fail_msg("%s cut at %zu of %zu decoded by source %d", files[f], cuts[k], size, c);
                assert_true(strlen(lp_error_message(&err)) > 0);
                /* cut inside the meta box: our reader says so, naming the file's family */
                const char *family = f == 0 ? "AVIF " : "HEIF ";
                if (cuts[k] == 300 && !strstr(lp_error_message(&err), family))
                    fail_msg("%s cut at 300, source %d: %s", files[f], c, lp_error_message(&err));
            }
        }
        free(data);
    }
}

/* The decode's estimate is reserved at creation: a budget that cannot hold it refuses the
 * image before anything is decoded, with a message naming what it was for. */
static void test_budget_refused_before_decoding(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("avifenc");
    const char *path = make_avif("budget.avif", 640, 480, LP_FORMAT_RGB8, NULL);
    source_ctor ctors[2] = {lp_avif_source_new, lp_heif_source_new};
    for (int c = 0; c < 2; c++) {
        lp_mem *mem = lp_mem_new(256 * 1024, NULL);
        lp_input *in;
        lp_stage *src = NULL;
        lp_error err = {0};
        assert_int_equal(lp_input_open_file(&in, path, LP_IO_READ, 0, &err), LP_OK);
        assert_int_equal(ctors[c](&src, in, NULL, mem, &err), LP_ERR_NOMEM);
        assert_non_null(strstr(lp_error_message(&err), "decode"));
        assert_int_equal(lp_mem_current(mem), 0);
        lp_mem_free_tracker(mem);
    }
    /* and what is reserved is what the stage reports as held */
    lp_mem *mem = lp_mem_new(0, NULL);
    lp_input *in;
    lp_stage *src;
    lp_error err = {0};
    assert_int_equal(lp_input_open_file(&in, path, LP_IO_READ, 0, &err), LP_OK);
    assert_int_equal(lp_avif_source_new(&src, in, NULL, mem, &err), LP_OK);
    assert_true(src->whole_image);
    assert_true(src->held_bytes >= 640u * 480u * 3 / 2);
    assert_true(lp_mem_current(mem) >= src->held_bytes);
    lp_stage_destroy(src);
    assert_int_equal(lp_mem_current(mem), 0);
    lp_mem_free_tracker(mem);
}

/* A source opened on path under a budget of budget bytes (0: none): its status, err
 * filled; what it reserved is given back (the tracker ends empty). */
static lp_status open_under(source_ctor ctor, const char *path, uint64_t budget, lp_error *err)
{
    lp_mem *mem = lp_mem_new(budget, NULL);
    lp_input *in;
    lp_stage *src = NULL;
    lp_error_clear(err);
    assert_int_equal(lp_input_open_file(&in, path, LP_IO_READ, 0, err), LP_OK);
    lp_status st = ctor(&src, in, NULL, mem, err);
    if (st == LP_OK)
        lp_stage_destroy(src);
    assert_int_equal(lp_mem_current(mem), 0);
    lp_mem_free_tracker(mem);
    return st;
}

/* A decoder's fixed heap (about 500 kB for libavif+dav1d, 170 kB for libheif beyond the
 * per-pixel factors, whatever the picture's size) is reserved: a 16x16 picture needs
 * 512 KiB of budget through the AVIF source and 256 KiB through the HEIF source. */
static void test_decoder_fixed_part_reserved(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("avifenc");
    LPT_REQUIRE_TOOL("heif-enc");
    lp_error err;
    const char *avif = make_avif("tiny.avif", 16, 16, LP_FORMAT_RGB8, NULL);
    assert_int_equal(open_under(lp_avif_source_new, avif, 480 * 1024, &err), LP_ERR_NOMEM);
    assert_non_null(strstr(lp_error_message(&err), "decode"));
    assert_int_equal(open_under(lp_avif_source_new, avif, 1024 * 1024, &err), LP_OK);
    const char *heic = make_heic("tiny.heic", 16, 16, LP_FORMAT_RGB8, NULL);
    assert_int_equal(open_under(lp_heif_source_new, heic, 224 * 1024, &err), LP_ERR_NOMEM);
    assert_int_equal(open_under(lp_heif_source_new, heic, 1024 * 1024, &err), LP_OK);
}

/* What libheif and libavif hold outside our allocator for a file's container is bounded
 * and counted before they read it (found 2026-12-03, by hand, after the grid fix):
 *  - libheif 1.15 keeps an object for every top-level box (2.4 GB for 20 million 8-byte
 *    boxes in a 160 MB file): more than LP_HEIF_MAX_TOP_BOXES are refused;
 *  - both parse the meta box into tables of their own (libheif up to ~34 bytes a byte,
 *    libavif ~62): that is reserved first, so a budget that cannot hold it refuses the
 *    file before they parse (here a meta box grown by a 256 kB free box);
 *  - libavif 0.11 opens an AV1 decoder for every grid cell (a 740 kB file of 2,500 cells
 *    held 1.1 GB): reserved per cell, and predicted by the probe; libheif decodes cells
 *    one after the other, so its source takes the same file in a small budget. */
static void test_container_counted(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("avifenc");
    source_ctor ctors[2] = {lp_avif_source_new, lp_heif_source_new};
    size_t size;
    uint8_t *data = avif_bytes("cc.avif", 256, 256, LP_FORMAT_RGB8, NULL, &size);
    enum { GROWN = 256 * 1024 };
    uint8_t *forged = calloc(1, size + GROWN);
    assert_non_null(forged);
    lp_error err;

    memcpy(forged, data, size);  /* 100 empty boxes after the file */
    for (size_t k = 0; k < 100; k++)
        put_be32(forged + size + 8 * k, 8), memcpy(forged + size + 8 * k + 4, "free", 4);
    const char *boxes = keep_path(lpt_path("cc-boxes.avif"));
    lpt_write_file(boxes, forged, size + 800);
    for (int c = 0; c < 2; c++) {
        assert_int_equal(open_under(ctors[c], boxes, 0, &err), LP_ERR_UNSUPPORTED);
        assert_non_null(strstr(lp_error_message(&err), "more than 64 top-level boxes"));
        /* an AVIF file's messages name AVIF, whichever source read it */
        assert_non_null(strstr(lp_error_message(&err), "AVIF file has"));
    }

    uint8_t *meta = find_box(data, size, "meta");  /* meta grown by a free box at its end */
    assert_non_null(meta);
    size_t meta_at = (size_t)(meta - data), meta_size = ((size_t)meta[0] << 24 |
                                                          (size_t)meta[1] << 16 |
                                                          (size_t)meta[2] << 8 | meta[3]);
    memcpy(forged, data, meta_at + meta_size);
    put_be32(forged + meta_at, (uint32_t)(meta_size + GROWN));
    put_be32(forged + meta_at + meta_size, GROWN);
    memcpy(forged + meta_at + meta_size + 4, "free", 4);
    memset(forged + meta_at + meta_size + 8, 0, GROWN - 8);
    memcpy(forged + meta_at + meta_size + GROWN, data + meta_at + meta_size,
           size - meta_at - meta_size);
    const char *grown = keep_path(lpt_path("cc-meta.avif"));
    lpt_write_file(grown, forged, size + GROWN);
    for (int c = 0; c < 2; c++) {
        assert_int_equal(open_under(ctors[c], grown, 4 << 20, &err), LP_ERR_NOMEM);
        assert_non_null(strstr(lp_error_message(&err), "container (meta box)"));
    }
    free(forged);
    free(data);

    const char *cells = make_avif("cc-cells.avif", 1280, 1280, LP_FORMAT_RGB8, "--grid 20x20");
    lp_probe probe;
    assert_int_equal(lp_probe_file(cells, &probe, NULL), LP_OK);
    assert_int_equal(probe.grid_cells, 400);
    assert_int_equal(open_under(lp_avif_source_new, cells, 64 << 20, &err), LP_ERR_NOMEM);
    assert_non_null(strstr(lp_error_message(&err), "a decoder per cell"));
    assert_int_equal(open_under(lp_heif_source_new, cells, 64 << 20, &err), LP_OK);
    lp_mem *mem = lp_mem_new(0, NULL);
    lp_input *in;
    lp_stage *src;
    assert_int_equal(lp_input_open_file(&in, cells, LP_IO_READ, 0, &err), LP_OK);
    assert_int_equal(lp_avif_source_new(&src, in, NULL, mem, &err), LP_OK);
    assert_true(src->held_bytes >= 400u * 400u * 1024u);  /* ~400 kB a cell, measured */
    lp_stage_destroy(src);
    lp_mem_free_tracker(mem);
}

/* A reader over bytes in memory that counts its reads. */
typedef struct counted_bytes {
    const uint8_t *data;
    size_t size;
    unsigned reads;
} counted_bytes;

static bool read_counted(void *user, uint64_t at, void *buf, size_t len)
{
    counted_bytes *c = user;
    c->reads++;
    if (at > c->size || len > c->size - at)
        return false;
    memcpy(buf, c->data + at, len);
    return true;
}

/* The header costs one read per top-level box, one for the meta box and one for each coded
 * item's stream headers (read ahead): the ftyp's header and the brands that name the
 * family come in the same read (a second read of the ftyp on every open was what naming
 * the family first cost). */
static void test_header_reads(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("avifenc");
    size_t size;
    uint8_t *data = avif_bytes("reads.avif", 64, 48, LP_FORMAT_RGB8, NULL, &size);
    unsigned boxes = 0;
    for (size_t at = 0; at + 8 <= size; boxes++)
        at += (size_t)data[at] << 24 | (size_t)data[at + 1] << 16 | (size_t)data[at + 2] << 8 |
              data[at + 3];
    counted_bytes c = {data, size, 0};
    lp_heif_header h;
    lp_error err;
    lp_error_clear(&err);
    assert_int_equal(lp_heif_read_header(read_counted, &c, size, 0, NULL, &h, &err), LP_OK);
    assert_int_equal(h.width, 64);
    assert_int_equal(c.reads, boxes + 1 + 1);  /* and one for the AV1 item's headers */
    free(data);
}

/* ---- the planner's probe and the CLI ---- */

/* The probe (small preads of the meta box) states what the source yields, so that the
 * batch plans the job convert runs; its decode estimate covers the source's reservation. */
static void test_probe_agrees_with_source(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("avifenc");
    const char *files[8] = {
        make_avif("pg.avif", 512, 384, LP_FORMAT_RGB8, "--grid 2x2"),
        make_avif("pr.avif", 96, 64, LP_FORMAT_RGB8, "--irot 1"),
        make_avif("pa.avif", 90, 60, LP_FORMAT_RGBA16, "-d 10 -y 420"),
    };
    size_t n = 3;
    if (have_heic_encoder()) {
        files[n++] = make_heic("po.heic", 333, 211, LP_FORMAT_RGB8, NULL);
        files[n++] = make_heic("pa.heic", 64, 48, LP_FORMAT_RGBA8, NULL);
    }
    for (size_t i = 0; i < n; i++) {
        lp_probe probe;
        lp_error err = {0};
        if (lp_probe_file(files[i], &probe, &err) != LP_OK)
            fail_msg("probe %s: %s", files[i], lp_error_message(&err));
        lp_mem *mem = lp_mem_new(0, NULL);
        lp_input *in;
        lp_stage *src;
        assert_int_equal(lp_input_open_file(&in, files[i], LP_IO_READ, 0, &err), LP_OK);
        assert_int_equal(lp_source_open(&src, in, NULL, mem, &err), LP_OK);
        assert_int_equal(probe.format, src->info.source_format);
        assert_int_equal(probe.width, src->info.width);
        assert_int_equal(probe.height, src->info.height);
        assert_int_equal(probe.components, lp_format_channels(src->info.format));
        assert_int_equal(probe.bit_depth, src->info.source_bit_depth);
        assert_int_equal(probe.orientation, 1);
        lp_stage_destroy(src);
        lp_mem_free_tracker(mem);
    }
    lp_probe probe;
    assert_int_equal(lp_probe_file(files[0], &probe, NULL), LP_OK);
    assert_true(probe.progressive);  /* the AVIF grid: its decoder holds more */
    assert_int_equal(probe.grid_cells, 4);
    assert_int_equal(probe.coded_pixels, 256u * 192u);  /* a cell's ispe */
    assert_int_equal(lp_probe_file(files[1], &probe, NULL), LP_OK);
    assert_false(probe.progressive);
    assert_int_equal(probe.grid_cells, 0);
    assert_int_equal(probe.coded_pixels, 96u * 64u);  /* the image's, as stored */
}

static void test_cli_end_to_end(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("avifenc");
    LPT_REQUIRE_TOOL("djpeg");
    LPT_REQUIRE_TOOL("dwebp");
    const char *dir = lpt_path("in");
    mkdir(dir, 0755);
    char avif[600], heic[600];
    snprintf(avif, sizeof avif, "%s/b.avif", dir);
    assert_int_equal(rename(make_avif("e2e.avif", 160, 100, LP_FORMAT_RGB8, "--irot 3"), avif), 0);
    /* convert in.avif out.webp: displayed pixels (a quarter turn) */
    const char *webp = lpt_path("e2e.webp");
    assert_int_equal(lpt_run("'%s' convert '%s' '%s' 2>/dev/null", lpt_bin(), avif, webp), 0);
    lp_buffer_image out, ref;
    reference("dwebp", webp, &out);
    must_decode(lp_avif_source_new, avif, &ref);
    assert_int_equal(out.info.width, 100);
    assert_true(lpt_psnr(&out, &ref) > 30.0);
    lp_buffer_image_free(&out);
    lp_buffer_image_free(&ref);
    bool heic_too = have_heic_encoder();
    if (heic_too) {
        snprintf(heic, sizeof heic, "%s/a.HEIC", dir);
        assert_int_equal(rename(make_heic("e2e.heic", 150, 90, LP_FORMAT_RGB8, NULL), heic), 0);
        const char *jpg = lpt_path("e2e.jpg");
        assert_int_equal(lpt_run("'%s' convert '%s' '%s' 2>/dev/null", lpt_bin(), heic, jpg), 0);
        reference("djpeg", jpg, &out);
        must_decode(lp_heif_source_new, heic, &ref);
        assert_true(lpt_psnr(&out, &ref) > 30.0);
        lp_buffer_image_free(&out);
        lp_buffer_image_free(&ref);
    }
    /* batch over the directory: both found by their extensions, both converted */
    const char *outdir = lpt_path("out");
    assert_int_equal(lpt_run("'%s' batch -o '%s' -f jpeg --no-progress '%s' 2>/dev/null", lpt_bin(),
                             outdir, dir), 0);
    char path[700];
    snprintf(path, sizeof path, "%s/b.jpg", outdir);
    assert_true(lpt_file_exists(path));
    snprintf(path, sizeof path, "%s/a.jpg", outdir);
    assert_true(lpt_file_exists(path) == heic_too);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_heic_8bit),
        cmocka_unit_test(test_heic_alpha),
        cmocka_unit_test(test_heic_10bit),
        cmocka_unit_test(test_heic_metadata),
        cmocka_unit_test(test_avif_8bit_and_odd_sizes),
        cmocka_unit_test(test_avif_grid),
        cmocka_unit_test(test_avif_10bit_and_alpha),
        cmocka_unit_test(test_orientation_as_displayed),
        cmocka_unit_test(test_avif_metadata),
        cmocka_unit_test(test_limits_from_header),
        cmocka_unit_test(test_av1_larger_than_ispe),
        cmocka_unit_test(test_hevc_larger_than_ispe),
        cmocka_unit_test(test_hevc_sps_in_item_data),
        cmocka_unit_test(test_unreadable_sequence_headers),
        cmocka_unit_test(test_grid_larger_than_ispe),
        cmocka_unit_test(test_grid_data_checked),
        cmocka_unit_test(test_item_graph_refused),
        cmocka_unit_test(test_item_graph_walk),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_budget_refused_before_decoding),
        cmocka_unit_test(test_decoder_fixed_part_reserved),
        cmocka_unit_test(test_container_counted),
        cmocka_unit_test(test_header_reads),
        cmocka_unit_test(test_probe_agrees_with_source),
        cmocka_unit_test(test_cli_end_to_end),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
