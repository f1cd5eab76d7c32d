/*
 * test_avif.c - the single-frame AVIF sink (src/codec/avif_save.c).
 *
 * Synthetic photos go through lp_buffer_source -> avif-save into a file and come back
 * through independent decoders: avifdec (libavif + dav1d, which ignores irot/imir) for the
 * pixels, heif-convert (libheif, which applies irot/imir) for the orientation. Checks are
 * on pixels: PSNR against the source, and against deliberately wrong versions of it
 * (channels swapped, rows shifted, other orientations) that must score clearly lower.
 * Images are small and encoded at speed 9: AV1 is slow, and the suite also runs under ASan.
 */
#define _GNU_SOURCE  /* memmem */
#include "testutil.h"
#include "codec/aom_memory.h"

#include <math.h>

#include <spng.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FAST_SPEED 9

static void avif_options(lp_encode_options *opts, int quality, lp_chroma chroma, unsigned depth)
{
    lp_encode_options_default(opts, LP_FILE_AVIF);
    opts->quality = quality;
    opts->chroma = chroma;
    opts->bit_depth = depth;
    opts->speed = FAST_SPEED;
}

/* Encodes img (strips of strip_rows) into path; returns the status, err filled. */
static lp_status encode_to(const lp_buffer_image *img, const lp_encode_options *opts,
                           uint32_t strip_rows, lp_mem *mem, const char *path, lp_error *err)
{
    lp_stage *src;
    assert_int_equal(lp_buffer_source_new(&src, img, strip_rows, NULL), LP_OK);
    lp_output *out;
    assert_int_equal(lp_output_open_file(&out, path, NULL), LP_OK);
    lp_sink *sink;
    lp_status st = lp_avif_sink_new(&sink, out, opts, mem, err);
    if (st == LP_OK) {
        assert_int_equal(lp_sink_accept(sink, img->info.format), img->info.format);
        st = lp_pipeline_run(src, sink, NULL, NULL, err);
        lp_sink_destroy(sink);
    }
    if (st == LP_OK)
        st = lp_output_commit(out, err);
    lp_output_close(out);
    lp_stage_destroy(src);
    return st;
}

static void encode_ok(const lp_buffer_image *img, const lp_encode_options *opts,
                      uint32_t strip_rows, const char *path)
{
    lp_error err = {0};
    lp_status st = encode_to(img, opts, strip_rows, NULL, path, &err);
    if (st != LP_OK)
        fail_msg("encoding failed: %s", lp_error_message(&err));
}

/* avifdec at 8 bits a sample (-d 8), whatever the AVIF's depth: the comparisons are at the
 * 8-bit scale anyway, and it keeps away from 16-bit PNG byte order. */
static void decode_avifdec(const char *path, lp_buffer_image *img)
{
    const char *png = lpt_path("avifdec-out.png");
    if (lpt_run("avifdec -d 8 '%s' '%s' >/dev/null 2>&1", path, png) != 0 || !lpt_read_png(png, img))
        fail_msg("avifdec could not decode %s", path);
    unlink(png);
}

/* A copy of img with R and B exchanged. */
static void swap_red_blue(const lp_buffer_image *img, lp_buffer_image *out)
{
    lp_format f = img->info.format;
    assert_int_equal(lp_buffer_image_alloc(out, img->info.width, img->info.height, f, NULL, NULL), LP_OK);
    size_t px = lp_format_pixel_bytes(f), sb = lp_format_sample_bytes(f);
    for (uint32_t y = 0; y < img->info.height; y++)
        for (uint32_t x = 0; x < img->info.width; x++) {
            const uint8_t *s = img->pixels + y * img->stride + x * px;
            uint8_t *d = out->pixels + y * out->stride + x * px;
            memcpy(d, s, px);
            memcpy(d, s + 2 * sb, sb);
            memcpy(d + 2 * sb, s, sb);
        }
}

/* PSNR of a's rows 1.. against b's rows 0..: what a one-row shift would score. */
static double psnr_shifted_one_row(const lp_buffer_image *a, const lp_buffer_image *b)
{
    lp_buffer_image a1 = *a, b1 = *b;
    a1.pixels += a->stride;
    a1.info.height--;
    b1.info.height--;
    return lpt_psnr(&a1, &b1);
}

/* ---- colour: quality, chroma, depth ---- */

static void check_round_trip(lp_format format, lp_chroma chroma, unsigned depth, double min_psnr)
{
    lp_buffer_image src, dec, swapped;
    lpt_make_photo(&src, 96, 64, format, 11);
    lp_encode_options opts;
    avif_options(&opts, 80, chroma, depth);
    const char *path = lpt_path("round-trip.avif");
    encode_ok(&src, &opts, 16, path);
    decode_avifdec(path, &dec);
    assert_int_equal(dec.info.width, 96);
    assert_int_equal(dec.info.height, 64);
    double psnr = lpt_psnr(&src, &dec);
    swap_red_blue(&src, &swapped);
    double psnr_swapped = lpt_psnr(&swapped, &dec);
    double psnr_shift = psnr_shifted_one_row(&src, &dec);
    print_message("%s %s %u-bit: PSNR %.2f dB (R/B swapped %.2f, one row shifted %.2f)\n",
                  lp_format_name(format), chroma == LP_CHROMA_444 ? "4:4:4" : "4:2:0", depth,
                  psnr, psnr_swapped, psnr_shift);
    assert_true(psnr > min_psnr);
    assert_true(psnr_swapped < psnr - 8);
    assert_true(psnr_shift < psnr - 3);
    char info[4096];
    assert_int_equal(lpt_run_capture(info, sizeof info, "avifdec --info '%s'", path), 0);
    char want[64];
    snprintf(want, sizeof want, "Bit Depth      : %u", depth);
    assert_non_null(strstr(info, want));
    assert_non_null(strstr(info, chroma == LP_CHROMA_444 ? "YUV444" : "YUV420"));
    assert_non_null(strstr(info, "Range          : Full"));
    lp_buffer_image_free(&swapped);
    lp_buffer_image_free(&dec);
    lp_buffer_image_free(&src);
}

static void test_rgb8_420(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("avifdec");
    check_round_trip(LP_FORMAT_RGB8, LP_CHROMA_DEFAULT, 8, 30);
}

static void test_rgb8_444(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("avifdec");
    check_round_trip(LP_FORMAT_RGB8, LP_CHROMA_444, 8, 32);
}

static void test_rgb16_10bit_420(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("avifdec");
    check_round_trip(LP_FORMAT_RGB16, LP_CHROMA_420, 10, 30);
}

static void test_rgb16_10bit_444(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("avifdec");
    check_round_trip(LP_FORMAT_RGB16, LP_CHROMA_444, 10, 32);
}

static void check_gray(lp_format format, unsigned depth)
{
    lp_buffer_image src, dec;
    lpt_make_photo(&src, 64, 48, format, 5);
    lp_encode_options opts;
    avif_options(&opts, 80, LP_CHROMA_DEFAULT, depth);
    const char *path = lpt_path("gray.avif");
    encode_ok(&src, &opts, 7, path);
    decode_avifdec(path, &dec);
    double psnr = lpt_psnr(&src, &dec);
    print_message("%s 4:0:0 %u-bit: PSNR %.2f dB\n", lp_format_name(format), depth, psnr);
    assert_true(psnr > 30);
    char info[4096], want[64];
    assert_int_equal(lpt_run_capture(info, sizeof info, "avifdec --info '%s'", path), 0);
    assert_non_null(strstr(info, "YUV400"));
    snprintf(want, sizeof want, "Bit Depth      : %u", depth);
    assert_non_null(strstr(info, want));
    lp_buffer_image_free(&dec);
    lp_buffer_image_free(&src);
}

static void test_gray_is_monochrome(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("avifdec");
    check_gray(LP_FORMAT_G8, 8);
    check_gray(LP_FORMAT_G16, 10);
}

/* ---- strips: odd sizes, odd strips ---- */

static void write_png(const lp_buffer_image *img, const char *path);

/* Encodes src with avifenc at the settings the sink maps opts to, decodes with avifdec. */
static void avifenc_reference(const lp_buffer_image *src, int quality, lp_buffer_image *dec)
{
    const char *png = lpt_path("reference.png"), *avif = lpt_path("reference.avif");
    int q = ((100 - quality) * 63 + 50) / 100;
    write_png(src, png);
    assert_int_equal(lpt_run("avifenc -s %d -y 420 -d 8 --min %d --max %d '%s' '%s' >/dev/null 2>&1",
                             FAST_SPEED, q, q, png, avif), 0);
    decode_avifdec(avif, dec);
}

/* Odd strip heights make the sink carry a row between strips; whatever the strip size, the
 * YUV and so the AV1 bitstream must be the same bytes, and the pixels those avifenc gets
 * from the same image (1-pixel-wide images lose much in 4:2:0 with either: chroma is
 * averaged over row pairs of a synthetic image whose hue changes every row). */
static void test_odd_sizes_and_strips(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("avifdec");
    LPT_REQUIRE_TOOL("avifenc");
    static const uint32_t sizes[][2] = {{1, 1}, {1, 9}, {9, 1}, {33, 17}, {7, 6}};
    static const uint32_t strips[] = {16, 1, 3, 5};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        lp_buffer_image src, dec, ref;
        lpt_make_photo(&src, sizes[i][0], sizes[i][1], LP_FORMAT_RGB8, 7);
        lp_encode_options opts;
        avif_options(&opts, 90, LP_CHROMA_420, 8);
        uint8_t *first = NULL;
        size_t first_size = 0;
        for (size_t k = 0; k < sizeof strips / sizeof strips[0]; k++) {
            const char *path = lpt_path("odd.avif");
            encode_ok(&src, &opts, strips[k], path);
            size_t size;
            uint8_t *bytes = lpt_read_file(path, &size);
            assert_non_null(bytes);
            if (!first) {
                first = bytes;
                first_size = size;
                decode_avifdec(path, &dec);
                assert_int_equal(dec.info.width, sizes[i][0]);
                assert_int_equal(dec.info.height, sizes[i][1]);
                avifenc_reference(&src, 90, &ref);
                double psnr = lpt_psnr(&src, &dec), same = lpt_psnr(&ref, &dec);
                print_message("%ux%u: PSNR %.2f dB, vs avifenc's %.2f dB\n", sizes[i][0],
                              sizes[i][1], psnr, same);
                assert_true(psnr > 18);
                assert_true(same > 60);
                lp_buffer_image_free(&ref);
                lp_buffer_image_free(&dec);
            } else {
                assert_int_equal(size, first_size);
                assert_memory_equal(bytes, first, size);
                free(bytes);
            }
        }
        free(first);
        lp_buffer_image_free(&src);
    }
}

/* The 10-bit path (libavif's converter on a strip view) with odd strips. */
static void test_odd_strips_10bit_view(void **state)
{
    (void)state;
    lp_buffer_image src;
    lpt_make_photo(&src, 21, 13, LP_FORMAT_RGBA16, 9);
    lp_encode_options opts;
    avif_options(&opts, 70, LP_CHROMA_420, 10);
    uint8_t *a, *b;
    size_t na, nb;
    encode_ok(&src, &opts, 13, lpt_path("view-a.avif"));
    encode_ok(&src, &opts, 3, lpt_path("view-b.avif"));
    a = lpt_read_file(lpt_path("view-a.avif"), &na);
    b = lpt_read_file(lpt_path("view-b.avif"), &nb);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, na);
    free(a);
    free(b);
    lp_buffer_image_free(&src);
}

/* ---- alpha ---- */

static void alpha_psnr(const lp_buffer_image *a, const lp_buffer_image *b, double *psnr)
{
    double sum = 0;
    size_t pa = lp_format_pixel_bytes(a->info.format), pb = lp_format_pixel_bytes(b->info.format);
    for (uint32_t y = 0; y < a->info.height; y++)
        for (uint32_t x = 0; x < a->info.width; x++) {
            double va = a->pixels[y * a->stride + x * pa + pa - 1];
            double vb = b->pixels[y * b->stride + x * pb + pb - 1];
            sum += (va - vb) * (va - vb);
        }
    double mse = sum / ((double)a->info.width * a->info.height);
    *psnr = mse < 1e-10 ? 99 : 10 * log10(255.0 * 255.0 / mse);
}

static void test_alpha(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("avifdec");
    lp_buffer_image src, dec;
    lpt_make_photo(&src, 80, 50, LP_FORMAT_RGBA8, 3);
    lp_encode_options opts;
    avif_options(&opts, 80, LP_CHROMA_420, 8);
    const char *path = lpt_path("alpha.avif");
    encode_ok(&src, &opts, 9, path);
    decode_avifdec(path, &dec);
    assert_int_equal(dec.info.format, LP_FORMAT_RGBA8);
    double psnr_alpha, psnr = lpt_psnr(&src, &dec);
    alpha_psnr(&src, &dec, &psnr_alpha);
    print_message("RGBA8: PSNR %.2f dB, alpha %.2f dB\n", psnr, psnr_alpha);
    assert_true(psnr > 30);
    assert_true(psnr_alpha > 35);
    /* The alpha ramp runs corner to corner: a decoder that dropped alpha reads 255. */
    assert_true(dec.pixels[3] < 90);
    lp_buffer_image_free(&dec);
    lp_buffer_image_free(&src);
}

/* ---- orientation ---- */

static void test_orientation_irot_imir(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("heif-convert");
    LPT_REQUIRE_TOOL("avifdec");
    lp_buffer_image src;
    lpt_make_photo(&src, 48, 32, LP_FORMAT_RGB8, 21);
    lp_buffer_image expected[9];
    for (int o = 1; o <= 8; o++)
        lpt_apply_orientation(&src, o, &expected[o]);
    lp_encode_options opts;
    avif_options(&opts, 85, LP_CHROMA_444, 8);
    for (int o = 1; o <= 8; o++) {
        src.info.meta.orientation = o;
        const char *path = lpt_path("orient.avif");
        encode_ok(&src, &opts, 16, path);
        lp_buffer_image shown, stored;
        if (!lpt_decode_external("heif-convert", path, &shown))
            fail_msg("heif-convert could not decode orientation %d", o);
        assert_int_equal(shown.info.width, expected[o].info.width);
        assert_int_equal(shown.info.height, expected[o].info.height);
        double right = lpt_psnr(&expected[o], &shown);
        print_message("orientation %d: PSNR %.2f dB\n", o, right);
        assert_true(right > 30);
        for (int other = 1; other <= 8; other++)
            if (other != o && expected[other].info.width == shown.info.width)
                assert_true(lpt_psnr(&expected[other], &shown) < right - 8);
        char info[4096];
        assert_int_equal(lpt_run_capture(info, sizeof info, "avifdec --info '%s'", path), 0);
        assert_true((strstr(info, "irot (Rotation)") != NULL) == (o == 3 || o >= 5));
        assert_true((strstr(info, "imir (Mirror)") != NULL) == (o == 2 || o == 4 || o == 5 || o == 7));
        /* avifdec does not apply irot/imir: the stored pixels are untouched. */
        decode_avifdec(path, &stored);
        assert_true(lpt_psnr(&src, &stored) > 30);
        lp_buffer_image_free(&stored);
        lp_buffer_image_free(&shown);
    }
    for (int o = 1; o <= 8; o++)
        lp_buffer_image_free(&expected[o]);
    lp_buffer_image_free(&src);
}

/* ---- metadata ---- */

/* A little-endian TIFF stream with one IFD: Orientation = o, Software = "leanpix-test". */
static size_t make_exif(uint8_t *buf, int o)
{
    static const uint8_t head[] = {'I', 'I', 42, 0, 8, 0, 0, 0, 2, 0};
    size_t n = 0;
    memcpy(buf, head, sizeof head);
    n = sizeof head;
    const uint8_t orient[12] = {0x12, 0x01, 3, 0, 1, 0, 0, 0, (uint8_t)o, 0, 0, 0};
    memcpy(buf + n, orient, 12);
    n += 12;
    const uint8_t software[12] = {0x31, 0x01, 2, 0, 13, 0, 0, 0, 38, 0, 0, 0};
    memcpy(buf + n, software, 12);
    n += 12;
    memset(buf + n, 0, 4);  /* no next IFD */
    n += 4;
    memcpy(buf + n, "leanpix-test", 13);
    return n + 13;
}

static bool file_contains(const char *path, const void *needle, size_t len)
{
    size_t size;
    uint8_t *data = lpt_read_file(path, &size);
    bool found = data && memmem(data, size, needle, len) != NULL;
    free(data);
    return found;
}

static void test_metadata(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("avifdec");
    lp_buffer_image src;
    lpt_make_photo(&src, 32, 32, LP_FORMAT_RGB8, 2);
    uint8_t exif[64];
    size_t exif_size = make_exif(exif, 1);
    assert_int_equal(lp_exif_orientation(exif, exif_size), 1);
    uint8_t icc[200];
    for (size_t i = 0; i < sizeof icc; i++)
        icc[i] = (uint8_t)(i * 13 + 1);
    memcpy(icc + 40, "fake-icc-profile", 16);
    const char *xmp = "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><leanpix-xmp-marker/></x:xmpmeta>";
    src.info.meta.icc = icc;
    src.info.meta.icc_size = sizeof icc;
    src.info.meta.exif = exif;
    src.info.meta.exif_size = exif_size;
    src.info.meta.xmp = (const uint8_t *)xmp;
    src.info.meta.xmp_size = strlen(xmp);
    lp_encode_options opts;
    avif_options(&opts, 60, LP_CHROMA_420, 8);
    const char *path = lpt_path("meta.avif");
    encode_ok(&src, &opts, 16, path);
    char info[4096];
    assert_int_equal(lpt_run_capture(info, sizeof info, "avifdec --info '%s'", path), 0);
    char want[64];
    snprintf(want, sizeof want, "ICC Profile    : Present (%zu bytes)", sizeof icc);
    assert_non_null(strstr(info, want));
    snprintf(want, sizeof want, "Exif Metadata  : Present (%zu bytes)", exif_size);
    assert_non_null(strstr(info, want));
    snprintf(want, sizeof want, "XMP Metadata   : Present (%zu bytes)", strlen(xmp));
    assert_non_null(strstr(info, want));
    assert_true(file_contains(path, "fake-icc-profile", 16));
    assert_true(file_contains(path, "leanpix-test", 12));
    assert_true(file_contains(path, "leanpix-xmp-marker", 18));

    opts.strip_metadata = true;
    encode_ok(&src, &opts, 16, path);
    assert_false(file_contains(path, "fake-icc-profile", 16));
    assert_false(file_contains(path, "leanpix-test", 12));
    assert_false(file_contains(path, "leanpix-xmp-marker", 18));
    lp_buffer_image_free(&src);
}

/* An EXIF that says 6 while the pipeline says 1 (an upstream stage rotated the pixels): no
 * irot, and the written EXIF says 1, so that no reader turns the image twice. */
static void test_exif_orientation_follows_pixels(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("heif-convert");
    lp_buffer_image src, shown;
    lpt_make_photo(&src, 40, 24, LP_FORMAT_RGB8, 4);
    uint8_t exif[64];
    size_t exif_size = make_exif(exif, 6);
    src.info.meta.exif = exif;
    src.info.meta.exif_size = exif_size;
    src.info.meta.orientation = 1;
    lp_encode_options opts;
    avif_options(&opts, 85, LP_CHROMA_444, 8);
    const char *path = lpt_path("exif6.avif");
    encode_ok(&src, &opts, 16, path);
    assert_true(lpt_decode_external("heif-convert", path, &shown));
    assert_int_equal(shown.info.width, 40);
    double psnr = lpt_psnr(&src, &shown);
    print_message("EXIF 6, pipeline 1: PSNR %.2f dB upright\n", psnr);
    assert_true(psnr > 30);
    size_t size;
    uint8_t *file = lpt_read_file(path, &size);
    uint8_t *tiff = memmem(file, size, "II*\0", 4);
    assert_non_null(tiff);
    assert_int_equal(lp_exif_orientation(tiff, size - (size_t)(tiff - file)), 1);
    free(file);
    lp_buffer_image_free(&shown);
    lp_buffer_image_free(&src);
}

/* ---- limits, memory, options ---- */

static void test_refuses_over_level6(void **state)
{
    (void)state;
    static const uint32_t sizes[][2] = {{16385, 100}, {100, 8705}, {8000, 8000}};
    lp_output *out;
    assert_int_equal(lp_output_open_memory(&out, NULL, NULL), LP_OK);
    lp_encode_options opts;
    avif_options(&opts, -1, LP_CHROMA_DEFAULT, 0);
    for (size_t i = 0; i < 3; i++) {
        lp_mem *mem = lp_mem_new(0, NULL);
        lp_sink *sink;
        lp_error err = {0};
        assert_int_equal(lp_avif_sink_new(&sink, out, &opts, mem, &err), LP_OK);
        lp_image_info info = {.width = sizes[i][0], .height = sizes[i][1], .format = LP_FORMAT_RGB8};
        info.meta.orientation = 1;
        assert_int_equal(sink->ops->begin(sink, &info, &err), LP_ERR_TOO_BIG);
        assert_non_null(strstr(err.message, "over AV1 level 6"));
        assert_non_null(strstr(err.message, "as a grid"));  /* the fact; the CLI names the flag */
        assert_null(strstr(err.message, "--"));
        assert_int_equal(lp_mem_peak(mem), 0);  /* refused before any plane */
        lp_sink_destroy(sink);
        lp_mem_free_tracker(mem);
    }
    lp_image_info ok = {.width = 16384, .height = 2176, .format = LP_FORMAT_RGB8};
    assert_true(lp_av1_frame_fits_level6(ok.width, ok.height));
    lp_output_close(out);
}

static void test_memory_is_counted_and_budgeted(void **state)
{
    (void)state;
    lp_buffer_image src;
    lpt_make_photo(&src, 64, 32, LP_FORMAT_RGBA8, 8);
    lp_encode_options opts;
    avif_options(&opts, 50, LP_CHROMA_420, 8);
    const uint64_t planes = 64 * 32 + 2 * (32 * 16) + 64 * 32;
    const uint64_t libaom = 64 * 32 * LP_AOM_BYTES_PER_PIXEL + LP_AOM_FRAME_FIXED_BYTES;

    lp_mem *mem = lp_mem_new(0, NULL);
    lp_error err = {0};
    assert_int_equal(encode_to(&src, &opts, 8, mem, lpt_path("mem.avif"), &err), LP_OK);
    assert_true(lp_mem_peak(mem) >= planes + libaom);
    assert_true(lp_mem_peak(mem) <= planes + libaom + 2 * 64 * 4 + 64);
    assert_int_equal(lp_mem_current(mem), 0);
    lp_mem_free_tracker(mem);

    /* A budget that holds the planes but not libaom's estimate: refused before encoding,
     * and nothing under the final name. */
    mem = lp_mem_new(planes + 1024, NULL);
    lp_error_clear(&err);
    unlink(lpt_path("budget.avif"));
    assert_int_equal(encode_to(&src, &opts, 8, mem, lpt_path("budget.avif"), &err), LP_ERR_NOMEM);
    assert_non_null(strstr(err.message, "libaom"));
    assert_false(lpt_file_exists(lpt_path("budget.avif")));
    assert_int_equal(lp_mem_current(mem), 0);
    lp_mem_free_tracker(mem);

    /* A budget below the planes: refused at begin. */
    mem = lp_mem_new(1000, NULL);
    lp_error_clear(&err);
    assert_int_equal(encode_to(&src, &opts, 8, mem, lpt_path("budget.avif"), &err), LP_ERR_NOMEM);
    assert_non_null(strstr(err.message, "plane"));
    assert_int_equal(lp_mem_current(mem), 0);
    lp_mem_free_tracker(mem);
    lp_buffer_image_free(&src);
}

static void test_accept_and_options(void **state)
{
    (void)state;
    lp_output *out;
    assert_int_equal(lp_output_open_memory(&out, NULL, NULL), LP_OK);
    lp_encode_options opts;
    lp_sink *sink;
    avif_options(&opts, -1, LP_CHROMA_DEFAULT, 0);
    assert_int_equal(lp_avif_sink_new(&sink, out, &opts, NULL, NULL), LP_OK);
    assert_string_equal(sink->ops->name, "avif-save");
    assert_true(sink->whole_image);
    assert_int_equal(lp_sink_accept(sink, LP_FORMAT_RGB16), LP_FORMAT_RGB8);
    assert_int_equal(lp_sink_accept(sink, LP_FORMAT_RGBA8), LP_FORMAT_RGBA8);
    assert_int_equal(lp_sink_accept(sink, LP_FORMAT_GA8), LP_FORMAT_RGBA8);
    assert_int_equal(lp_sink_accept(sink, LP_FORMAT_G16), LP_FORMAT_G8);
    lp_sink_destroy(sink);
    opts.bit_depth = 10;
    assert_int_equal(lp_avif_sink_new(&sink, out, &opts, NULL, NULL), LP_OK);
    assert_int_equal(lp_sink_accept(sink, LP_FORMAT_RGB8), LP_FORMAT_RGB16);
    assert_int_equal(lp_sink_accept(sink, LP_FORMAT_GA16), LP_FORMAT_RGBA16);
    assert_int_equal(lp_sink_accept(sink, LP_FORMAT_G8), LP_FORMAT_G16);
    lp_sink_destroy(sink);
    lp_error err = {0};
    opts.bit_depth = 12;
    assert_int_equal(lp_avif_sink_new(&sink, out, &opts, NULL, &err), LP_ERR_INVALID_ARG);
    assert_non_null(strstr(err.message, "8 or 10"));
    opts.bit_depth = 8;
    opts.speed = 11;
    assert_int_equal(lp_avif_sink_new(&sink, out, &opts, NULL, NULL), LP_ERR_INVALID_ARG);
    lp_output_close(out);
}

/* Quality is monotonic in size, and threads do not change the result's quality. */
static void test_quality_and_threads(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("avifdec");
    lp_buffer_image src, dec;
    lpt_make_photo(&src, 128, 96, LP_FORMAT_RGB8, 17);
    lp_encode_options opts;
    long long sizes[3];
    double psnr[3];
    const int qualities[3] = {30, 60, 90};
    for (int i = 0; i < 3; i++) {
        avif_options(&opts, qualities[i], LP_CHROMA_420, 8);
        opts.threads = 2;
        const char *path = lpt_path("q.avif");
        encode_ok(&src, &opts, 16, path);
        sizes[i] = lpt_file_size(path);
        decode_avifdec(path, &dec);
        psnr[i] = lpt_psnr(&src, &dec);
        lp_buffer_image_free(&dec);
        print_message("quality %d: %lld bytes, PSNR %.2f dB\n", qualities[i], sizes[i], psnr[i]);
    }
    assert_true(sizes[0] < sizes[1] && sizes[1] < sizes[2]);
    assert_true(psnr[0] < psnr[1] && psnr[1] < psnr[2]);
    lp_buffer_image_free(&src);
}

static void write_png(const lp_buffer_image *img, const char *path)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    spng_ctx *ctx = spng_ctx_new(SPNG_CTX_ENCODER);
    spng_set_png_file(ctx, f);
    struct spng_ihdr ihdr = {.width = img->info.width, .height = img->info.height,
                             .bit_depth = 8, .color_type = SPNG_COLOR_TYPE_TRUECOLOR};
    spng_set_ihdr(ctx, &ihdr);
    assert_int_equal(spng_encode_image(ctx, img->pixels, img->stride * img->info.height,
                                       SPNG_FMT_PNG, SPNG_ENCODE_FINALIZE), 0);
    spng_ctx_free(ctx);
    fclose(f);
}

/* Same settings as `avifenc -s 9 -y 420 -d 8 --min Q --max Q` on the same pixels: the
 * same YUV goes into the same encoder, so the decoded pixels must be equal. */
static void test_same_as_avifenc(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("avifenc");
    LPT_REQUIRE_TOOL("avifdec");
    lp_buffer_image src, ours, theirs;
    lpt_make_photo(&src, 80, 60, LP_FORMAT_RGB8, 30);
    lp_encode_options opts;
    avif_options(&opts, 70, LP_CHROMA_420, 8);
    int q = ((100 - 70) * 63 + 50) / 100;
    const char *png = lpt_path("same.png"), *a = lpt_path("same-ours.avif"), *b = lpt_path("same-avifenc.avif");
    write_png(&src, png);
    encode_ok(&src, &opts, 16, a);
    assert_int_equal(lpt_run("avifenc -s %d -y 420 -d 8 --min %d --max %d '%s' '%s' >/dev/null 2>&1",
                             FAST_SPEED, q, q, png, b), 0);
    decode_avifdec(a, &ours);
    decode_avifdec(b, &theirs);
    double psnr = lpt_psnr(&ours, &theirs);
    print_message("leanpix vs avifenc: %lld vs %lld bytes, PSNR between them %.2f dB\n",
                  lpt_file_size(a), lpt_file_size(b), psnr);
    assert_true(psnr > 60);
    assert_true(llabs(lpt_file_size(a) - lpt_file_size(b)) < 64);
    lp_buffer_image_free(&ours);
    lp_buffer_image_free(&theirs);
    lp_buffer_image_free(&src);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rgb8_420),
        cmocka_unit_test(test_rgb8_444),
        cmocka_unit_test(test_rgb16_10bit_420),
        cmocka_unit_test(test_rgb16_10bit_444),
        cmocka_unit_test(test_gray_is_monochrome),
        cmocka_unit_test(test_odd_sizes_and_strips),
        cmocka_unit_test(test_odd_strips_10bit_view),
        cmocka_unit_test(test_alpha),
        cmocka_unit_test(test_orientation_irot_imir),
        cmocka_unit_test(test_metadata),
        cmocka_unit_test(test_exif_orientation_follows_pixels),
        cmocka_unit_test(test_refuses_over_level6),
        cmocka_unit_test(test_memory_is_counted_and_budgeted),
        cmocka_unit_test(test_accept_and_options),
        cmocka_unit_test(test_quality_and_threads),
        cmocka_unit_test(test_same_as_avifenc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
