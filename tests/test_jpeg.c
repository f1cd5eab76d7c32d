/*
 * test_jpeg.c - the JPEG source and sink against libjpeg-turbo's own tools.
 *
 * Encoding: synthetic photos go through lp_jpeg_sink into a file, djpeg decodes them and
 * the pixels must match the original (PSNR), and must NOT match a channel-swapped copy, so
 * an RGB/BGR mix-up would fail. Decoding: cjpeg (and ImageMagick for Adobe CMYK, libjpeg
 * directly for plain CMYK and YCCK) write files that lp_jpeg_source must decode to the
 * original. Also: odd and degenerate sizes, progressive in and out, DCT shrink-on-load,
 * metadata round trips, EXIF orientation, truncated/garbage/oversized inputs, and the
 * counted memory of a strip-streamed decode.
 */
#include "testutil.h"
#include "formats/format.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jpeglib.h>

/* ---- helpers ---- */

static lp_status encode_file(const lp_buffer_image *img, const char *path,
                             const lp_encode_options *opts, lp_mem *mem, lp_error *err)
{
    lp_stage *src;
    lp_sink *sink = NULL;
    lp_output *out = NULL;
    lp_status st = lp_buffer_source_new(&src, img, 0, err);
    assert_int_equal(st, LP_OK);
    st = lp_output_open_file(&out, path, err);
    if (st == LP_OK)
        st = lp_jpeg_sink_new(&sink, out, opts, mem, err);
    if (st == LP_OK)
        st = lp_pipeline_run(src, sink, NULL, NULL, err);
    if (st == LP_OK)
        st = lp_output_commit(out, err);
    lp_sink_destroy(sink);
    lp_output_close(out);
    lp_stage_destroy(src);
    return st;
}

static lp_encode_options jpeg_options(int quality, lp_chroma chroma, bool progressive)
{
    lp_encode_options opts;
    lp_encode_options_default(&opts, LP_FILE_JPEG);
    opts.quality = quality;
    opts.chroma = chroma;
    opts.progressive = progressive;
    return opts;
}

static lp_status open_source(const char *path, lp_stage **src, const lp_limits *limits,
                             lp_mem *mem, lp_error *err)
{
    lp_input *in;
    lp_status st = lp_input_open_file(&in, path, LP_IO_READ, 0, err);
    if (st != LP_OK)
        return st;
    return lp_jpeg_source_new(src, in, limits, mem, err);
}

/* The shrink factor the JPEG format's descriptor plans for an output of at least tw x th. */
static uint32_t planned_shrink(const char *path, uint32_t tw, uint32_t th)
{
    lp_probe p;
    if (lp_probe_file(path, &p, NULL) != LP_OK || tw >= p.width || th >= p.height)
        return 1;
    return lp_format_desc_of(LP_FILE_JPEG)->shrink_factor(&p, tw, th);
}

/* Decodes path with lp_jpeg_source (shrunk to at least target when target_w > 0). */
static lp_status decode_file(const char *path, lp_buffer_image *img, uint32_t target_w,
                             uint32_t target_h, uint32_t *factor, lp_error *err)
{
    lp_stage *src;
    lp_status st = open_source(path, &src, NULL, NULL, err);
    if (st != LP_OK)
        return st;
    uint32_t f = target_w ? lp_stage_shrink(src, planned_shrink(path, target_w, target_h)) : 1;
    if (factor)
        *factor = f;
    st = lp_pipeline_to_buffer(src, img, NULL, err);
    lp_stage_destroy(src);
    return st;
}

static void write_pnm(const char *path, const lp_buffer_image *img)
{
    bool gray = img->info.format == LP_FORMAT_G8;
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fprintf(f, "P%c\n%u %u\n255\n", gray ? '5' : '6', img->info.width, img->info.height);
    size_t row = (size_t)img->info.width * (gray ? 1 : 3);
    for (uint32_t y = 0; y < img->info.height; y++)
        assert_int_equal(fwrite(img->pixels + (size_t)y * img->stride, 1, row, f), row);
    fclose(f);
}

/* A copy with R and B swapped (for checking that a comparison can fail). */
static void swapped_copy(const lp_buffer_image *img, lp_buffer_image *out)
{
    assert_int_equal(lp_buffer_image_alloc(out, img->info.width, img->info.height,
                                           LP_FORMAT_RGB8, NULL, NULL), LP_OK);
    for (uint32_t y = 0; y < img->info.height; y++)
        for (uint32_t x = 0; x < img->info.width; x++) {
            const uint8_t *p = img->pixels + (size_t)y * img->stride + (size_t)x * 3;
            uint8_t *q = out->pixels + (size_t)y * out->stride + (size_t)x * 3;
            q[0] = p[2];
            q[1] = p[1];
            q[2] = p[0];
        }
}

/* An image whose channels differ enough for the swap check to bite. */
static void make_photo(lp_buffer_image *img, uint32_t w, uint32_t h, lp_format format, uint32_t seed)
{
    lpt_make_photo(img, w, h, format, seed);
}

static void assert_psnr_above(const lp_buffer_image *a, const lp_buffer_image *b, double min)
{
    double psnr = lpt_psnr(a, b);
    if (psnr < min)
        fail_msg("PSNR %.2f dB is below %.1f dB", psnr, min);
}

static void assert_swap_detected(const lp_buffer_image *orig, const lp_buffer_image *decoded,
                                 double good)
{
    lp_buffer_image swapped;
    swapped_copy(orig, &swapped);
    double bad = lpt_psnr(&swapped, decoded);
    lp_buffer_image_free(&swapped);
    if (bad > good - 8)
        fail_msg("a channel-swapped reference still scores %.2f dB (good %.2f)", bad, good);
}

static bool file_has_marker(const char *path, uint8_t marker)
{
    size_t size;
    uint8_t *data = lpt_read_file(path, &size);
    assert_non_null(data);
    bool found = false;
    for (size_t i = 0; i + 1 < size && !found; i++)
        found = data[i] == 0xFF && data[i + 1] == marker;
    free(data);
    return found;
}

/* ---- encoding, checked with djpeg ---- */

static void check_encode(uint32_t w, uint32_t h, lp_chroma chroma, bool progressive, int quality,
                         double min_psnr)
{
    lp_buffer_image orig, decoded;
    make_photo(&orig, w, h, LP_FORMAT_RGB8, w * 31 + h);
    const char *path = lpt_path("enc.jpg");
    lp_encode_options opts = jpeg_options(quality, chroma, progressive);
    lp_error err = {0};
    assert_int_equal(encode_file(&orig, path, &opts, NULL, &err), LP_OK);
    assert_true(lpt_decode_external("djpeg", path, &decoded));
    assert_int_equal(decoded.info.width, w);
    assert_int_equal(decoded.info.height, h);
    assert_int_equal(decoded.info.format, LP_FORMAT_RGB8);
    if (lpt_psnr(&orig, &decoded) < min_psnr)
        fail_msg("%ux%u: PSNR %.2f dB is below %.1f dB", w, h, lpt_psnr(&orig, &decoded), min_psnr);
    if (w * h >= 64)
        assert_swap_detected(&orig, &decoded, lpt_psnr(&orig, &decoded));
    assert_int_equal(file_has_marker(path, 0xC2), progressive);  /* SOF2 = progressive */
    lp_buffer_image_free(&decoded);
    lp_buffer_image_free(&orig);
}

static void test_encode_q90_420(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("djpeg");
    check_encode(160, 120, LP_CHROMA_DEFAULT, false, 90, 30);
}

static void test_encode_444_and_progressive(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("djpeg");
    check_encode(96, 64, LP_CHROMA_444, false, 90, 32);
    check_encode(96, 64, LP_CHROMA_420, true, 90, 30);
}

static void test_encode_odd_sizes(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("djpeg");
    /* tiny images are all edges and grain: 4:2:0 costs more PSNR than on a photo */
    check_encode(33, 17, LP_CHROMA_420, false, 90, 25);
    check_encode(1, 1, LP_CHROMA_420, false, 90, 25);
    check_encode(1, 37, LP_CHROMA_420, false, 90, 25);
    check_encode(37, 1, LP_CHROMA_420, false, 90, 25);
    check_encode(17, 33, LP_CHROMA_420, true, 90, 25);
}

static void test_encode_quality_changes_size(void **state)
{
    (void)state;
    lp_buffer_image orig;
    make_photo(&orig, 96, 96, LP_FORMAT_RGB8, 5);
    lp_encode_options lo = jpeg_options(30, LP_CHROMA_DEFAULT, false);
    lp_encode_options hi = jpeg_options(95, LP_CHROMA_DEFAULT, false);
    lp_encode_options def = jpeg_options(-1, LP_CHROMA_DEFAULT, false);
    assert_int_equal(encode_file(&orig, lpt_path("lo.jpg"), &lo, NULL, NULL), LP_OK);
    assert_int_equal(encode_file(&orig, lpt_path("hi.jpg"), &hi, NULL, NULL), LP_OK);
    assert_int_equal(encode_file(&orig, lpt_path("def.jpg"), &def, NULL, NULL), LP_OK);
    long long s_lo = lpt_file_size(lpt_path("lo.jpg"));
    long long s_def = lpt_file_size(lpt_path("def.jpg"));
    long long s_hi = lpt_file_size(lpt_path("hi.jpg"));
    assert_true(s_lo < s_def);
    assert_true(s_def < s_hi);
    lp_buffer_image_free(&orig);
}

static void test_encode_gray(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("djpeg");
    lp_buffer_image orig, decoded;
    make_photo(&orig, 50, 31, LP_FORMAT_G8, 3);
    lp_encode_options opts = jpeg_options(90, LP_CHROMA_DEFAULT, false);
    lp_sink *sink;
    lp_output *out;
    assert_int_equal(lp_output_open_memory(&out, NULL, NULL), LP_OK);
    assert_int_equal(lp_jpeg_sink_new(&sink, out, &opts, NULL, NULL), LP_OK);
    assert_int_equal(lp_sink_accept(sink, LP_FORMAT_G8), LP_FORMAT_G8);
    assert_int_equal(lp_sink_accept(sink, LP_FORMAT_RGBA8), LP_FORMAT_RGB8);
    assert_int_equal(lp_sink_accept(sink, LP_FORMAT_GA8), LP_FORMAT_RGB8);
    assert_int_equal(lp_sink_accept(sink, LP_FORMAT_RGB16), LP_FORMAT_RGB8);
    lp_sink_destroy(sink);
    lp_output_close(out);
    assert_int_equal(encode_file(&orig, lpt_path("gray.jpg"), &opts, NULL, NULL), LP_OK);
    assert_true(lpt_decode_external("djpeg", lpt_path("gray.jpg"), &decoded));
    assert_int_equal(decoded.info.format, LP_FORMAT_G8);  /* a one-component file */
    assert_psnr_above(&orig, &decoded, 32);
    lp_buffer_image_free(&decoded);
    lp_buffer_image_free(&orig);
}

/* An output that refuses to grow (a memory output over its budget) fails the encode with
 * the output's error, through libjpeg's destination manager, without leaking. */
static void test_encode_output_failure(void **state)
{
    (void)state;
    lp_buffer_image orig;
    make_photo(&orig, 400, 300, LP_FORMAT_RGB8, 13);
    lp_mem *budget = lp_mem_new(16 * 1024, NULL);
    lp_output *out;
    assert_int_equal(lp_output_open_memory(&out, budget, NULL), LP_OK);
    lp_encode_options opts = jpeg_options(95, LP_CHROMA_444, false);
    lp_sink *sink;
    lp_stage *src;
    lp_error err = {0};
    assert_int_equal(lp_jpeg_sink_new(&sink, out, &opts, NULL, &err), LP_OK);
    assert_int_equal(lp_buffer_source_new(&src, &orig, 0, NULL), LP_OK);
    assert_int_equal(lp_pipeline_run(src, sink, NULL, NULL, &err), LP_ERR_NOMEM);
    assert_non_null(strstr(err.message, "budget"));
    lp_sink_destroy(sink);
    lp_stage_destroy(src);
    lp_output_close(out);
    assert_int_equal(lp_mem_current(budget), 0);
    lp_mem_free_tracker(budget);
    /* the same into an unlimited memory output works and starts with SOI */
    assert_int_equal(lp_output_open_memory(&out, NULL, NULL), LP_OK);
    assert_int_equal(lp_jpeg_sink_new(&sink, out, &opts, NULL, &err), LP_OK);
    assert_int_equal(lp_buffer_source_new(&src, &orig, 7, NULL), LP_OK);  /* odd strips */
    assert_int_equal(lp_pipeline_run(src, sink, NULL, NULL, &err), LP_OK);
    size_t size;
    const uint8_t *bytes = lp_output_data(out, &size);
    assert_true(size > 1000);
    assert_int_equal(bytes[0], 0xFF);
    assert_int_equal(bytes[1], 0xD8);
    assert_int_equal(bytes[size - 2], 0xFF);
    assert_int_equal(bytes[size - 1], 0xD9);
    /* and decodes back with our source */
    lp_input *in;
    assert_int_equal(lp_input_open_memory(&in, bytes, size, NULL), LP_OK);
    lp_stage *dec;
    assert_int_equal(lp_jpeg_source_new(&dec, in, NULL, NULL, NULL), LP_OK);
    lp_buffer_image back;
    assert_int_equal(lp_pipeline_to_buffer(dec, &back, NULL, NULL), LP_OK);
    assert_psnr_above(&orig, &back, 35);
    lp_buffer_image_free(&back);
    lp_stage_destroy(dec);
    lp_sink_destroy(sink);
    lp_stage_destroy(src);
    lp_output_close(out);
    lp_buffer_image_free(&orig);
}

/* Encodes into memory with a sink charged to mem; returns the size, and whether the sink
 * buffered the coefficients (Huffman optimisation). */
static size_t encode_memory(const lp_buffer_image *img, const lp_encode_options *opts, lp_mem *mem,
                            bool *buffered, lp_buffer_image *decoded)
{
    lp_output *out;
    lp_sink *sink;
    lp_stage *src;
    lp_error err = {0};
    assert_int_equal(lp_output_open_memory(&out, NULL, NULL), LP_OK);
    assert_int_equal(lp_jpeg_sink_new(&sink, out, opts, mem, &err), LP_OK);
    assert_int_equal(lp_buffer_source_new(&src, img, 0, NULL), LP_OK);
    assert_int_equal(lp_pipeline_run(src, sink, NULL, NULL, &err), LP_OK);
    *buffered = sink->whole_image;
    assert_int_equal(sink->held_bytes > 0, *buffered);
    size_t size;
    const uint8_t *bytes = lp_output_data(out, &size);
    lp_input *in;
    assert_int_equal(lp_input_open_memory(&in, bytes, size, NULL), LP_OK);
    lp_stage *dec;
    assert_int_equal(lp_jpeg_source_new(&dec, in, NULL, NULL, NULL), LP_OK);
    assert_int_equal(lp_pipeline_to_buffer(dec, decoded, NULL, NULL), LP_OK);
    lp_stage_destroy(dec);
    lp_sink_destroy(sink);
    lp_stage_destroy(src);
    lp_output_close(out);
    return size;
}

/* Small images get optimal Huffman tables (coefficients buffered, counted); when the budget
 * refuses that buffer the sink streams with the standard tables instead of failing. */
static void test_encode_optimize_policy(void **state)
{
    (void)state;
    lp_buffer_image orig, a, b;
    make_photo(&orig, 320, 240, LP_FORMAT_RGB8, 14);
    lp_encode_options opts = jpeg_options(85, LP_CHROMA_DEFAULT, false);
    lp_mem *mem = lp_mem_new(0, NULL);
    bool buffered;
    size_t optimized = encode_memory(&orig, &opts, mem, &buffered, &a);
    assert_true(buffered);
    assert_true(lp_mem_peak(mem) >= 320 * 240 * 3 / 2 * 2);  /* 4:2:0 coefficients counted */
    assert_int_equal(lp_mem_current(mem), 0);
    lp_mem *tight = lp_mem_new(100 * 1024, NULL);  /* room for the output buffer only */
    size_t standard = encode_memory(&orig, &opts, tight, &buffered, &b);
    assert_false(buffered);
    assert_true(lp_mem_peak(tight) <= 64 * 1024);
    fprintf(stderr, "320x240 q85: %zu bytes optimised, %zu with standard tables\n", optimized,
            standard);
    assert_true(optimized < standard);
    /* same quantisation, only the entropy coding differs: identical pixels */
    assert_memory_equal(a.pixels, b.pixels, a.stride * a.info.height);
    lp_buffer_image_free(&a);
    lp_buffer_image_free(&b);
    lp_mem_free_tracker(tight);
    lp_mem_free_tracker(mem);
    lp_buffer_image_free(&orig);
}

/* ---- decoding files made by cjpeg ---- */

/* cjpeg's file decoded by us must match the original and djpeg's decode of that file. */
static void check_decode_cjpeg(uint32_t w, uint32_t h, lp_format format, const char *flags,
                               double min_psnr)
{
    lp_buffer_image orig, ours, theirs;
    make_photo(&orig, w, h, format, w + h * 7);
    const char *ppm = lpt_path("in.pnm"), *jpg = lpt_path("cjpeg.jpg");
    write_pnm(ppm, &orig);
    assert_int_equal(lpt_run("cjpeg -quality 92 %s -outfile '%s' '%s'", flags, jpg, ppm), 0);
    lp_error err = {0};
    assert_int_equal(decode_file(jpg, &ours, 0, 0, NULL, &err), LP_OK);
    assert_int_equal(ours.info.width, w);
    assert_int_equal(ours.info.height, h);
    assert_int_equal(ours.info.format, format);
    assert_int_equal(ours.info.source_format, LP_FILE_JPEG);
    assert_int_equal(ours.info.source_bit_depth, 8);
    if (lpt_psnr(&orig, &ours) < min_psnr)
        fail_msg("%ux%u %s: PSNR %.2f dB is below %.1f dB", w, h, flags, lpt_psnr(&orig, &ours), min_psnr);
    if (format == LP_FORMAT_RGB8 && w * h >= 64)
        assert_swap_detected(&orig, &ours, lpt_psnr(&orig, &ours));
    assert_true(lpt_decode_external("djpeg", jpg, &theirs));
    assert_psnr_above(&theirs, &ours, 50);  /* the same library with the same settings */
    lp_buffer_image_free(&theirs);
    lp_buffer_image_free(&ours);
    lp_buffer_image_free(&orig);
}

static void test_decode_cjpeg_baseline(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("cjpeg");
    LPT_REQUIRE_TOOL("djpeg");
    check_decode_cjpeg(160, 120, LP_FORMAT_RGB8, "", 30);
    /* tiny images are all edges and grain: lower PSNR vs the original, but ours must still
     * match djpeg's decode of the same file (checked inside) */
    check_decode_cjpeg(33, 17, LP_FORMAT_RGB8, "-sample 2x2", 25);
    check_decode_cjpeg(1, 1, LP_FORMAT_RGB8, "", 25);
    check_decode_cjpeg(1, 29, LP_FORMAT_RGB8, "", 25);
    check_decode_cjpeg(29, 1, LP_FORMAT_RGB8, "", 25);
    check_decode_cjpeg(40, 24, LP_FORMAT_RGB8, "-sample 1x1 -restart 1", 32);
}

static void test_decode_cjpeg_gray_and_progressive(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("cjpeg");
    LPT_REQUIRE_TOOL("djpeg");
    check_decode_cjpeg(45, 38, LP_FORMAT_G8, "-grayscale", 32);
    check_decode_cjpeg(120, 90, LP_FORMAT_RGB8, "-progressive", 30);
    check_decode_cjpeg(21, 13, LP_FORMAT_RGB8, "-progressive", 23);
}

static void test_progressive_reserves_coefficients(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("cjpeg");
    lp_buffer_image orig;
    make_photo(&orig, 256, 128, LP_FORMAT_RGB8, 9);
    write_pnm(lpt_path("p.pnm"), &orig);
    const char *base = lpt_path("base.jpg"), *prog = lpt_path("prog.jpg");
    assert_int_equal(lpt_run("cjpeg -outfile '%s' '%s'", base, lpt_path("p.pnm")), 0);
    assert_int_equal(lpt_run("cjpeg -progressive -outfile '%s' '%s'", prog, lpt_path("p.pnm")), 0);
    lp_mem *mem = lp_mem_new(0, NULL);
    lp_stage *src;
    assert_int_equal(open_source(base, &src, NULL, mem, NULL), LP_OK);
    assert_false(src->whole_image);
    assert_int_equal(src->held_bytes, 0);
    lp_stage_destroy(src);
    assert_int_equal(open_source(prog, &src, NULL, mem, NULL), LP_OK);
    assert_true(src->whole_image);
    /* 4:2:0: 256x128 luma + two 128x64 chroma planes, 2 bytes a coefficient */
    assert_int_equal(src->held_bytes, (256 * 128 + 2 * 128 * 64) * 2);
    assert_true(lp_mem_current(mem) >= src->held_bytes);
    lp_stage_destroy(src);
    assert_int_equal(lp_mem_current(mem), 0);
    /* and a budget too small for the coefficients refuses up front */
    lp_mem *small = lp_mem_new(64 * 1024, NULL);
    lp_error err = {0};
    assert_int_equal(open_source(prog, &src, NULL, small, &err), LP_ERR_NOMEM);
    assert_int_equal(lp_mem_current(small), 0);
    lp_mem_free_tracker(small);
    lp_mem_free_tracker(mem);
    lp_buffer_image_free(&orig);
}

/* ---- CMYK ---- */

/* Writes img as a 4-component JPEG through libjpeg directly: plain CMYK (no Adobe marker,
 * non-inverted ink) or, with adobe, inverted values plus APP14, in CMYK or YCCK. */
static void write_cmyk_jpeg(const char *path, const lp_buffer_image *img, bool adobe, bool ycck)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    struct jpeg_compress_struct cinfo;
    struct jpeg_error_mgr jerr;
    cinfo.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&cinfo);
    jpeg_stdio_dest(&cinfo, f);
    cinfo.image_width = img->info.width;
    cinfo.image_height = img->info.height;
    cinfo.input_components = 4;
    cinfo.in_color_space = JCS_CMYK;
    jpeg_set_defaults(&cinfo);
    jpeg_set_colorspace(&cinfo, ycck ? JCS_YCCK : JCS_CMYK);
    cinfo.write_Adobe_marker = adobe;
    jpeg_set_quality(&cinfo, 95, TRUE);
    jpeg_start_compress(&cinfo, TRUE);
    uint8_t *row = malloc((size_t)img->info.width * 4);
    for (uint32_t y = 0; y < img->info.height; y++) {
        const uint8_t *p = img->pixels + (size_t)y * img->stride;
        for (uint32_t x = 0; x < img->info.width; x++) {
            /* K = 0: C = 1 - R etc.; a real separation would use K, but any split works */
            uint8_t ink[4] = {(uint8_t)(255 - p[3 * x]), (uint8_t)(255 - p[3 * x + 1]),
                              (uint8_t)(255 - p[3 * x + 2]), 0};
            for (int c = 0; c < 4; c++)
                row[4 * x + c] = adobe ? (uint8_t)(255 - ink[c]) : ink[c];
        }
        JSAMPROW rp = row;
        jpeg_write_scanlines(&cinfo, &rp, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    free(row);
    fclose(f);
}

static void check_cmyk_file(const char *path, const lp_buffer_image *orig, double min_psnr)
{
    lp_buffer_image ours;
    lp_error err = {0};
    assert_int_equal(decode_file(path, &ours, 0, 0, NULL, &err), LP_OK);
    assert_int_equal(ours.info.format, LP_FORMAT_RGB8);
    assert_int_equal(ours.info.width, orig->info.width);
    double good = lpt_psnr(orig, &ours);
    if (good < min_psnr)
        fail_msg("%s: PSNR %.2f dB is below %.1f dB", path, good, min_psnr);
    assert_swap_detected(orig, &ours, good);
    lp_buffer_image_free(&ours);
}

static void test_decode_cmyk(void **state)
{
    (void)state;
    lp_buffer_image orig;
    make_photo(&orig, 64, 48, LP_FORMAT_RGB8, 11);
    write_cmyk_jpeg(lpt_path("plain-cmyk.jpg"), &orig, false, false);
    write_cmyk_jpeg(lpt_path("adobe-cmyk.jpg"), &orig, true, false);
    write_cmyk_jpeg(lpt_path("adobe-ycck.jpg"), &orig, true, true);
    assert_false(file_has_marker(lpt_path("plain-cmyk.jpg"), 0xEE));
    assert_true(file_has_marker(lpt_path("adobe-cmyk.jpg"), 0xEE));
    check_cmyk_file(lpt_path("plain-cmyk.jpg"), &orig, 30);
    check_cmyk_file(lpt_path("adobe-cmyk.jpg"), &orig, 30);
    check_cmyk_file(lpt_path("adobe-ycck.jpg"), &orig, 30);
    lp_buffer_image_free(&orig);
}

static void test_decode_imagemagick_cmyk(void **state)
{
    (void)state;
    if (!lpt_file_exists("/usr/bin/convert")) {
        fprintf(stderr, "SKIP: /usr/bin/convert (ImageMagick) is not installed\n");
        skip();
    }
    lp_buffer_image orig;
    make_photo(&orig, 64, 48, LP_FORMAT_RGB8, 12);
    write_pnm(lpt_path("im.ppm"), &orig);
    const char *jpg = lpt_path("im-cmyk.jpg");
    assert_int_equal(lpt_run("/usr/bin/convert '%s' -colorspace CMYK -quality 95 '%s' 2>/dev/null",
                             lpt_path("im.ppm"), jpg), 0);
    assert_true(file_has_marker(jpg, 0xEE));  /* Adobe APP14: inverted CMYK */
    check_cmyk_file(jpg, &orig, 20);
    lp_buffer_image_free(&orig);
}

/* ---- shrink-on-load ---- */

/* Box average of img by factor f (partial boxes at the edges), the reference for DCT scaling. */
static void box_downscale(const lp_buffer_image *img, uint32_t f, lp_buffer_image *out)
{
    uint32_t w = (img->info.width + f - 1) / f, h = (img->info.height + f - 1) / f;
    assert_int_equal(lp_buffer_image_alloc(out, w, h, LP_FORMAT_RGB8, NULL, NULL), LP_OK);
    for (uint32_t y = 0; y < h; y++)
        for (uint32_t x = 0; x < w; x++)
            for (unsigned c = 0; c < 3; c++) {
                unsigned sum = 0, n = 0;
                for (uint32_t yy = y * f; yy < (y + 1) * f && yy < img->info.height; yy++)
                    for (uint32_t xx = x * f; xx < (x + 1) * f && xx < img->info.width; xx++, n++)
                        sum += img->pixels[(size_t)yy * img->stride + (size_t)xx * 3 + c];
                out->pixels[(size_t)y * out->stride + (size_t)x * 3 + c] = (uint8_t)((sum + n / 2) / n);
            }
}

static void check_shrink(const char *jpg, const lp_buffer_image *orig, uint32_t tw, uint32_t th,
                         uint32_t expect_factor)
{
    lp_buffer_image ours, ref;
    uint32_t factor = 0;
    lp_error err = {0};
    assert_int_equal(decode_file(jpg, &ours, tw, th, &factor, &err), LP_OK);
    assert_int_equal(factor, expect_factor);
    uint32_t w = (orig->info.width + factor - 1) / factor, h = (orig->info.height + factor - 1) / factor;
    assert_int_equal(ours.info.width, w);
    assert_int_equal(ours.info.height, h);
    assert_true(w >= tw && h >= th);
    box_downscale(orig, factor, &ref);
    /* edges with partial boxes differ a little: compare the interior */
    uint32_t iw = w > 4 ? w - 2 : w, ih = h > 4 ? h - 2 : h;
    double psnr = lpt_psnr_rect(&ref, &ours, 0, 0, iw, ih);
    if (psnr < 26)
        fail_msg("1/%u decode: PSNR %.2f dB vs a box-downscaled reference", factor, psnr);
    lp_buffer_image_free(&ref);
    lp_buffer_image_free(&ours);
}

static void test_shrink_on_load(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("cjpeg");
    lp_buffer_image orig;
    make_photo(&orig, 203, 150, LP_FORMAT_RGB8, 4);
    write_pnm(lpt_path("s.pnm"), &orig);
    const char *jpg = lpt_path("s.jpg");
    assert_int_equal(lpt_run("cjpeg -quality 95 -outfile '%s' '%s'", jpg, lpt_path("s.pnm")), 0);
    check_shrink(jpg, &orig, 203, 150, 1);
    check_shrink(jpg, &orig, 150, 100, 1);
    check_shrink(jpg, &orig, 100, 75, 2);
    check_shrink(jpg, &orig, 60, 30, 2);  /* 1/4 would be 51 wide: too small */
    check_shrink(jpg, &orig, 51, 38, 4);
    check_shrink(jpg, &orig, 26, 19, 8);
    check_shrink(jpg, &orig, 1, 1, 8);
    /* progressive files scale too */
    assert_int_equal(lpt_run("cjpeg -quality 95 -progressive -outfile '%s' '%s'", jpg,
                             lpt_path("s.pnm")), 0);
    check_shrink(jpg, &orig, 51, 38, 4);
    /* too late after the first strip: the factor is 1 and nothing changes */
    lp_stage *src;
    assert_int_equal(open_source(jpg, &src, NULL, NULL, NULL), LP_OK);
    lp_strip strip;
    assert_int_equal(lp_stage_next(src, &strip, NULL), LP_OK);
    assert_true(strip.rows > 0);
    assert_int_equal(lp_stage_shrink(src, 8), 1);
    assert_int_equal(src->info.width, 203);
    lp_stage_destroy(src);
    lp_buffer_image_free(&orig);
}

/* ---- metadata ---- */

/* A minimal little-endian TIFF stream with one IFD entry: Orientation = value. */
static size_t make_exif(uint8_t *buf, int orientation)
{
    static const uint8_t head[] = {'I', 'I', 42, 0, 8, 0, 0, 0,  /* header, IFD at 8 */
                                   1, 0,                        /* one entry */
                                   0x12, 0x01, 3, 0, 1, 0, 0, 0, /* tag 0x0112 SHORT x1 */
                                   0, 0, 0, 0,                  /* value (set below) */
                                   0, 0, 0, 0};                 /* no next IFD */
    memcpy(buf, head, sizeof head);
    buf[18] = (uint8_t)orientation;
    return sizeof head;
}

static void test_exif_orientation(void **state)
{
    (void)state;
    lp_buffer_image img;
    make_photo(&img, 24, 16, LP_FORMAT_RGB8, 2);
    lp_encode_options opts = jpeg_options(80, LP_CHROMA_DEFAULT, false);
    for (int o = 1; o <= 8; o++) {
        uint8_t exif[64];
        img.info.meta.exif = exif;
        img.info.meta.exif_size = make_exif(exif, o);
        img.info.meta.orientation = o;
        const char *path = lpt_path("orient.jpg");
        assert_int_equal(encode_file(&img, path, &opts, NULL, NULL), LP_OK);
        lp_stage *src;
        assert_int_equal(open_source(path, &src, NULL, NULL, NULL), LP_OK);
        assert_int_equal(src->info.meta.orientation, o);
        assert_int_equal(src->info.meta.exif_size, img.info.meta.exif_size);
        assert_memory_equal(src->info.meta.exif, exif, img.info.meta.exif_size);
        lp_stage_destroy(src);
    }
    /* no EXIF: orientation 1 */
    img.info.meta.exif = NULL;
    img.info.meta.exif_size = 0;
    assert_int_equal(encode_file(&img, lpt_path("noexif.jpg"), &opts, NULL, NULL), LP_OK);
    lp_stage *src;
    assert_int_equal(open_source(lpt_path("noexif.jpg"), &src, NULL, NULL, NULL), LP_OK);
    assert_int_equal(src->info.meta.orientation, 1);
    assert_null(src->info.meta.exif);
    lp_stage_destroy(src);
    lp_buffer_image_free(&img);
}

static void check_meta_equal(const lp_metadata *a, const lp_metadata *b)
{
    assert_int_equal(a->icc_size, b->icc_size);
    assert_memory_equal(a->icc, b->icc, a->icc_size);
    assert_int_equal(a->exif_size, b->exif_size);
    assert_memory_equal(a->exif, b->exif, a->exif_size);
    assert_int_equal(a->xmp_size, b->xmp_size);
    assert_memory_equal(a->xmp, b->xmp, a->xmp_size);
}

static void test_metadata_round_trip(void **state)
{
    (void)state;
    lp_buffer_image img;
    make_photo(&img, 40, 30, LP_FORMAT_RGB8, 6);
    /* an ICC over one APP2 segment (65519 bytes a chunk) to exercise the chunking */
    size_t icc_size = 70001;
    uint8_t *icc = malloc(icc_size);
    for (size_t i = 0; i < icc_size; i++)
        icc[i] = (uint8_t)(i * 7 + (i >> 8));
    uint8_t exif[64];
    const char *xmp = "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF/></x:xmpmeta>";
    img.info.meta.icc = icc;
    img.info.meta.icc_size = icc_size;
    img.info.meta.exif = exif;
    img.info.meta.exif_size = make_exif(exif, 6);
    img.info.meta.xmp = (const uint8_t *)xmp;
    img.info.meta.xmp_size = strlen(xmp);
    lp_encode_options opts = jpeg_options(85, LP_CHROMA_DEFAULT, false);
    const char *first = lpt_path("meta1.jpg"), *second = lpt_path("meta2.jpg");
    assert_int_equal(encode_file(&img, first, &opts, NULL, NULL), LP_OK);
    assert_false(file_has_marker(first, 0xE0));  /* EXIF first, no JFIF APP0 */

    /* decode -> encode: the source's metadata goes through the sink unchanged */
    lp_stage *src;
    assert_int_equal(open_source(first, &src, NULL, NULL, NULL), LP_OK);
    check_meta_equal(&src->info.meta, &img.info.meta);
    assert_int_equal(src->info.meta.orientation, 6);
    lp_output *out;
    lp_sink *sink;
    assert_int_equal(lp_output_open_file(&out, second, NULL), LP_OK);
    assert_int_equal(lp_jpeg_sink_new(&sink, out, &opts, NULL, NULL), LP_OK);
    lp_error err = {0};
    assert_int_equal(lp_pipeline_run(src, sink, NULL, NULL, &err), LP_OK);
    /* metadata stays valid after the source finished decoding */
    check_meta_equal(&src->info.meta, &img.info.meta);
    assert_int_equal(lp_output_commit(out, NULL), LP_OK);
    lp_sink_destroy(sink);
    lp_output_close(out);
    lp_stage_destroy(src);

    assert_int_equal(open_source(second, &src, NULL, NULL, NULL), LP_OK);
    check_meta_equal(&src->info.meta, &img.info.meta);
    lp_stage_destroy(src);
    /* djpeg agrees that the file is fine */
    lp_buffer_image decoded;
    if (lpt_have_tool("djpeg")) {
        assert_true(lpt_decode_external("djpeg", second, &decoded));
        assert_psnr_above(&img, &decoded, 28);
        lp_buffer_image_free(&decoded);
    }

    /* strip_metadata drops all three */
    opts.strip_metadata = true;
    assert_int_equal(encode_file(&img, first, &opts, NULL, NULL), LP_OK);
    assert_int_equal(open_source(first, &src, NULL, NULL, NULL), LP_OK);
    assert_null(src->info.meta.icc);
    assert_null(src->info.meta.exif);
    assert_null(src->info.meta.xmp);
    assert_int_equal(src->info.meta.orientation, 1);
    lp_stage_destroy(src);
    free(icc);
    lp_buffer_image_free(&img);
}

/* ---- bad input ---- */

static void make_valid_jpeg(const char *path, bool progressive)
{
    lp_buffer_image img;
    make_photo(&img, 120, 80, LP_FORMAT_RGB8, 8);
    lp_encode_options opts = jpeg_options(90, LP_CHROMA_DEFAULT, progressive);
    assert_int_equal(encode_file(&img, path, &opts, NULL, NULL), LP_OK);
    lp_buffer_image_free(&img);
}

/* Decodes the bytes through the whole pipeline; returns the status (creation or run). */
static lp_status decode_bytes(const uint8_t *data, size_t size, lp_mem *mem, lp_error *err)
{
    lp_input *in;
    assert_int_equal(lp_input_open_memory(&in, data, size, NULL), LP_OK);
    lp_stage *src;
    lp_status st = lp_jpeg_source_new(&src, in, NULL, mem, err);
    if (st != LP_OK)
        return st;
    lp_buffer_image img;
    st = lp_pipeline_to_buffer(src, &img, mem, err);
    if (st == LP_OK)
        lp_buffer_image_free(&img);
    lp_stage_destroy(src);
    return st;
}

static void check_truncated(bool progressive)
{
    const char *path = lpt_path("trunc-src.jpg");
    make_valid_jpeg(path, progressive);
    size_t size;
    uint8_t *data = lpt_read_file(path, &size);
    assert_non_null(data);
    lp_mem *mem = lp_mem_new(0, NULL);
    size_t cuts[] = {size / 2, size - 2 /* no EOI: all rows are there, accepted */, 300, 3};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        lp_error err = {0};
        lp_status st = decode_bytes(data, cuts[i], mem, &err);
        if (cuts[i] == size - 2 && !progressive) {
            assert_int_equal(st, LP_OK);
            continue;
        }
        if (cuts[i] == size - 2)
            continue;  /* progressive: the last scan may or may not be complete */
        if (st != LP_ERR_TRUNCATED && st != LP_ERR_CORRUPT)
            fail_msg("cut at %zu of %zu: status %d (%s)", cuts[i], size, st, lp_error_message(&err));
        assert_true(strlen(err.message) > 0);
        assert_int_equal(lp_mem_current(mem), 0);
    }
    /* the main case must say truncated */
    lp_error err = {0};
    assert_int_equal(decode_bytes(data, size / 2, mem, &err), LP_ERR_TRUNCATED);
    assert_non_null(strstr(err.message, "truncated"));
    lp_mem_free_tracker(mem);
    free(data);
}

static void test_truncated(void **state)
{
    (void)state;
    check_truncated(false);
    check_truncated(true);
    /* arithmetic coding (its decoder pads missing data without a warning) */
    if (!lpt_have_tool("cjpeg"))
        return;
    lp_buffer_image orig, ours;
    make_photo(&orig, 64, 48, LP_FORMAT_RGB8, 15);
    write_pnm(lpt_path("arith.ppm"), &orig);
    const char *jpg = lpt_path("arith.jpg");
    assert_int_equal(lpt_run("cjpeg -arithmetic -outfile '%s' '%s'", jpg, lpt_path("arith.ppm")), 0);
    lp_error err = {0};
    assert_int_equal(decode_file(jpg, &ours, 0, 0, NULL, &err), LP_OK);
    assert_psnr_above(&orig, &ours, 30);
    lp_buffer_image_free(&ours);
    size_t size;
    uint8_t *data = lpt_read_file(jpg, &size);
    assert_int_equal(decode_bytes(data, size / 2, NULL, &err), LP_ERR_TRUNCATED);
    free(data);
    lp_buffer_image_free(&orig);
}

static void test_garbage(void **state)
{
    (void)state;
    const char *path = lpt_path("garbage-src.jpg");
    make_valid_jpeg(path, false);
    size_t size;
    uint8_t *data = lpt_read_file(path, &size);
    assert_non_null(data);
    /* everything after SOI up to half the file (the tables and the frame header) is noise */
    uint32_t rng = 12345;
    for (size_t i = 2; i < size / 2; i++) {
        rng = rng * 1103515245u + 12345u;
        data[i] = (uint8_t)((rng >> 16) % 255);  /* never 0xFF: no fake markers */
    }
    lp_error err = {0};
    lp_status st = decode_bytes(data, size, NULL, &err);
    assert_true(st == LP_ERR_CORRUPT || st == LP_ERR_TRUNCATED);
    assert_true(strlen(err.message) > 0);
    /* not a JPEG at all */
    static const uint8_t text[] = "hello, this is not an image at all";
    lp_error_clear(&err);
    assert_int_equal(decode_bytes(text, sizeof text, NULL, &err), LP_ERR_CORRUPT);
    assert_non_null(strstr(err.message, "not a JPEG"));
    /* empty input */
    lp_error_clear(&err);
    assert_int_equal(decode_bytes(text, 0, NULL, &err), LP_ERR_TRUNCATED);
    /* a marker in the middle of the scan: an error, not a smeared image (random bytes in
     * entropy data can decode without complaint: JPEG has no checksum) */
    free(data);
    data = lpt_read_file(path, &size);
    data[size / 2] = 0xFF;  /* a restart marker where none may be */
    data[size / 2 + 1] = 0xD5;
    lp_error_clear(&err);
    assert_int_equal(decode_bytes(data, size, NULL, &err), LP_ERR_CORRUPT);
    assert_non_null(strstr(err.message, "corrupt JPEG data"));
    free(data);
}

static void test_huge_header_refused(void **state)
{
    (void)state;
    const char *path = lpt_path("huge-src.jpg");
    make_valid_jpeg(path, false);
    size_t size;
    uint8_t *data = lpt_read_file(path, &size);
    assert_non_null(data);
    size_t sof = 0;
    for (size_t i = 2; i + 8 < size; i++)
        if (data[i] == 0xFF && data[i + 1] == 0xC0) {
            sof = i;
            break;
        }
    assert_true(sof > 0);
    /* SOF0: FF C0, length(2), precision(1), height(2), width(2) */
    data[sof + 5] = 65000 >> 8;
    data[sof + 6] = 65000 & 0xFF;
    data[sof + 7] = 65000 >> 8;
    data[sof + 8] = 65000 & 0xFF;
    lp_mem *mem = lp_mem_new(0, NULL);
    lp_input *in;
    assert_int_equal(lp_input_open_memory(&in, data, size, NULL), LP_OK);
    lp_stage *src = NULL;
    lp_error err = {0};
    assert_int_equal(lp_jpeg_source_new(&src, in, NULL, mem, &err), LP_ERR_LIMITS);
    assert_null(src);
    assert_true(lp_mem_peak(mem) < 4096);  /* nothing image-sized was ever charged */
    /* with limits that allow it, the header is accepted; the data then runs out */
    lp_limits big;
    lp_limits_default(&big);
    big.max_pixels = 65000ull * 65000ull;
    assert_int_equal(lp_input_open_memory(&in, data, size, NULL), LP_OK);
    assert_int_equal(lp_jpeg_source_new(&src, in, &big, mem, &err), LP_OK);
    assert_int_equal(src->info.width, 65000);
    lp_stage_destroy(src);
    lp_mem_free_tracker(mem);
    free(data);
}

/* ---- input chunking ---- */

static lp_status decode_mode(const char *path, lp_io_mode mode, lp_buffer_image *img)
{
    lp_input *in;
    lp_status st = lp_input_open_file(&in, path, mode, 0, NULL);
    if (st != LP_OK)
        return st;
    lp_stage *src;
    st = lp_jpeg_source_new(&src, in, NULL, NULL, NULL);
    if (st != LP_OK)
        return st;
    st = lp_pipeline_to_buffer(src, img, NULL, NULL);
    lp_stage_destroy(src);
    return st;
}

static void test_segments_across_chunks(void **state)
{
    (void)state;
    /* five 65000-byte APP5 segments (skipped by libjpeg) push the image data past the
     * first 256 KiB chunk, so skip_input_data and the entropy data cross chunk edges */
    const char *path = lpt_path("chunks-src.jpg"), *padded = lpt_path("chunks.jpg");
    make_valid_jpeg(path, false);
    size_t size;
    uint8_t *data = lpt_read_file(path, &size);
    assert_non_null(data);
    const size_t seg = 65000, nseg = 5;
    size_t total = size + nseg * (seg + 2);
    uint8_t *big = malloc(total);
    memcpy(big, data, 2);
    size_t pos = 2;
    for (size_t i = 0; i < nseg; i++) {
        big[pos++] = 0xFF;
        big[pos++] = 0xE5;
        big[pos++] = (uint8_t)(seg >> 8);
        big[pos++] = (uint8_t)(seg & 0xFF);
        memset(big + pos, (int)(0x11 * i), seg - 2);
        pos += seg - 2;
    }
    memcpy(big + pos, data + 2, size - 2);
    assert_int_equal(pos + size - 2, total);
    assert_true(total > LP_INPUT_CHUNK);
    lpt_write_file(padded, big, total);
    lp_buffer_image a, b, c;
    assert_int_equal(decode_mode(path, LP_IO_READ, &a), LP_OK);
    assert_int_equal(decode_mode(padded, LP_IO_READ, &b), LP_OK);
    assert_int_equal(decode_mode(padded, LP_IO_MMAP, &c), LP_OK);
    assert_memory_equal(a.pixels, b.pixels, a.stride * a.info.height);
    assert_memory_equal(a.pixels, c.pixels, a.stride * a.info.height);
    lp_buffer_image_free(&a);
    lp_buffer_image_free(&b);
    lp_buffer_image_free(&c);
    /* cut inside the padding: still truncated, not a crash */
    lp_error err = {0};
    assert_int_equal(decode_bytes(big, LP_INPUT_CHUNK + 100, NULL, &err), LP_ERR_TRUNCATED);
    free(big);
    free(data);
}

/* ---- counted memory ---- */

typedef struct null_sink {
    lp_sink base;
    uint64_t checksum;
    uint32_t rows;
} null_sink;

static lp_status null_begin(lp_sink *self, const lp_image_info *info, lp_error *err)
{
    (void)self; (void)info; (void)err;
    return LP_OK;
}

static lp_status null_write(lp_sink *self, const lp_strip *strip, lp_error *err)
{
    (void)err;
    null_sink *s = (null_sink *)self;
    for (uint32_t r = 0; r < strip->rows; r++)
        s->checksum += strip->data[(size_t)r * strip->stride];
    s->rows += strip->rows;
    return LP_OK;
}

static lp_status null_finish(lp_sink *self, lp_error *err)
{
    (void)self; (void)err;
    return LP_OK;
}

static const lp_sink_ops null_sink_ops = {
    .name = "null", .begin = null_begin, .write = null_write, .finish = null_finish,
};

static void test_streaming_memory(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("cjpeg");
    const uint32_t w = 2000, h = 1500;
    lp_buffer_image orig;
    make_photo(&orig, w, h, LP_FORMAT_RGB8, 1);
    write_pnm(lpt_path("big.ppm"), &orig);
    const char *jpg = lpt_path("big.jpg");
    assert_int_equal(lpt_run("cjpeg -outfile '%s' '%s'", jpg, lpt_path("big.ppm")), 0);
    unlink(lpt_path("big.ppm"));
    lp_mem *mem = lp_mem_new(0, NULL);
    lp_stage *src;
    assert_int_equal(open_source(jpg, &src, NULL, mem, NULL), LP_OK);
    null_sink sink = {.base = {.ops = &null_sink_ops}};
    lp_error err = {0};
    assert_int_equal(lp_pipeline_run(src, &sink.base, NULL, NULL, &err), LP_OK);
    assert_int_equal(sink.rows, h);
    assert_true(sink.checksum > 0);
    uint64_t peak = lp_mem_peak(mem);
    fprintf(stderr, "decode %ux%u: counted peak %llu bytes (image is %u)\n", w, h,
            (unsigned long long)peak, w * h * 3);
    assert_true(peak > 0);
    /* strip buffer (16 rows) + libjpeg's working estimate (~16 rows): 2.5% of the image */
    assert_true(peak < (uint64_t)w * h * 3 / 40);
    lp_stage_destroy(src);
    assert_int_equal(lp_mem_current(mem), 0);

    /* a big baseline encode streams too (coefficients over the 4 MiB optimisation cap):
     * only the output buffer is counted */
    lp_mem *enc_mem = lp_mem_new(0, NULL);
    lp_encode_options opts = jpeg_options(85, LP_CHROMA_DEFAULT, false);
    assert_int_equal(encode_file(&orig, lpt_path("big-out.jpg"), &opts, enc_mem, NULL), LP_OK);
    assert_true(lp_mem_peak(enc_mem) <= 64 * 1024);
    /* progressive output reserves its coefficient buffer (~3 bytes a pixel at 4:2:0) */
    lp_mem_free_tracker(enc_mem);
    enc_mem = lp_mem_new(0, NULL);
    opts.progressive = true;
    assert_int_equal(encode_file(&orig, lpt_path("big-prog.jpg"), &opts, enc_mem, NULL), LP_OK);
    assert_true(lp_mem_peak(enc_mem) >= (uint64_t)w * h * 3);
    assert_int_equal(lp_mem_current(enc_mem), 0);
    lp_mem_free_tracker(enc_mem);
    lp_mem_free_tracker(mem);
    lp_buffer_image_free(&orig);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_q90_420),
        cmocka_unit_test(test_encode_444_and_progressive),
        cmocka_unit_test(test_encode_odd_sizes),
        cmocka_unit_test(test_encode_quality_changes_size),
        cmocka_unit_test(test_encode_gray),
        cmocka_unit_test(test_encode_output_failure),
        cmocka_unit_test(test_encode_optimize_policy),
        cmocka_unit_test(test_decode_cjpeg_baseline),
        cmocka_unit_test(test_decode_cjpeg_gray_and_progressive),
        cmocka_unit_test(test_progressive_reserves_coefficients),
        cmocka_unit_test(test_decode_cmyk),
        cmocka_unit_test(test_decode_imagemagick_cmyk),
        cmocka_unit_test(test_shrink_on_load),
        cmocka_unit_test(test_exif_orientation),
        cmocka_unit_test(test_metadata_round_trip),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_huge_header_refused),
        cmocka_unit_test(test_segments_across_chunks),
        cmocka_unit_test(test_streaming_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
