/*
 * test_webp.c - the WebP encoder (webp_save.c).
 *
 * Lossy output decoded by dwebp must be close to the source (PSNR) and far from a copy
 * with red and blue swapped, so a channel-order bug cannot pass; alpha survives exactly;
 * lossless is exact at odd and tiny sizes; ICC/EXIF/XMP are found byte for byte in the
 * RIFF chunks (parsed here) with the right VP8X flags; images over 16383 pixels a side
 * are refused before anything is allocated; the picture is counted in lp_mem.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Encodes img to path with opts; returns the status (err filled). */
static lp_status encode_webp(const lp_buffer_image *img, const lp_encode_options *opts,
                             lp_mem *mem, const char *path, lp_error *err)
{
    lp_output *out;
    assert_int_equal(lp_output_open_file(&out, path, NULL), LP_OK);
    lp_sink *sink;
    assert_int_equal(lp_webp_sink_new(&sink, out, opts, mem, err), LP_OK);
    lp_stage *src;
    assert_int_equal(lp_buffer_source_new(&src, img, 7, NULL), LP_OK);
    lp_status st = lp_pipeline_run(src, sink, NULL, NULL, err);
    if (st == LP_OK)
        st = lp_output_commit(out, err);
    lp_sink_destroy(sink);
    lp_stage_destroy(src);
    lp_output_close(out);
    return st;
}

static void encode_ok(const lp_buffer_image *img, const lp_encode_options *opts, lp_mem *mem,
                      const char *path)
{
    lp_error err = {0};
    if (encode_webp(img, opts, mem, path, &err) != LP_OK)
        fail_msg("WebP encoding failed: %s", lp_error_message(&err));
}

static void decode_dwebp(const char *path, lp_buffer_image *img)
{
    if (!lpt_decode_external("dwebp", path, img))
        fail_msg("dwebp could not decode %s", path);
}

/* A copy of img (RGB8/RGBA8) with red and blue exchanged. */
static void swap_red_blue(const lp_buffer_image *img, lp_buffer_image *out)
{
    assert_int_equal(lp_buffer_image_alloc(out, img->info.width, img->info.height,
                                           img->info.format, NULL, NULL), LP_OK);
    unsigned px = lp_format_pixel_bytes(img->info.format);
    for (uint32_t y = 0; y < img->info.height; y++)
        for (uint32_t x = 0; x < img->info.width; x++) {
            const uint8_t *s = img->pixels + y * img->stride + x * px;
            uint8_t *d = out->pixels + y * out->stride + x * px;
            memcpy(d, s, px);
            d[0] = s[2];
            d[2] = s[0];
        }
}

/* The largest difference of alpha between an RGBA8 source and dwebp's RGBA8 output. */
static unsigned max_alpha_error(const lp_buffer_image *a, const lp_buffer_image *b)
{
    unsigned worst = 0;
    for (uint32_t y = 0; y < a->info.height; y++)
        for (uint32_t x = 0; x < a->info.width; x++) {
            int d = a->pixels[y * a->stride + x * 4 + 3] - b->pixels[y * b->stride + x * 4 + 3];
            unsigned ad = (unsigned)(d < 0 ? -d : d);
            if (ad > worst)
                worst = ad;
        }
    return worst;
}

/* Exact equality of an RGB8/RGBA8 source and dwebp's RGBA8 output. */
static void assert_exact(const lp_buffer_image *src, const lp_buffer_image *dec)
{
    assert_int_equal(src->info.width, dec->info.width);
    assert_int_equal(src->info.height, dec->info.height);
    unsigned px = lp_format_pixel_bytes(src->info.format);
    for (uint32_t y = 0; y < src->info.height; y++)
        for (uint32_t x = 0; x < src->info.width; x++) {
            const uint8_t *s = src->pixels + y * src->stride + x * px;
            const uint8_t *d = dec->pixels + y * dec->stride + x * 4;
            for (unsigned c = 0; c < 4; c++) {
                unsigned want = c < px ? s[c] : 255;
                if (d[c] != want)
                    fail_msg("pixel (%u,%u) channel %u: want %u, got %u", x, y, c, want, d[c]);
            }
        }
}

/* ---- RIFF chunks, parsed here so that no WebP library vouches for its own output ---- */

typedef struct riff_chunk {
    char fourcc[5];
    const uint8_t *data;
    uint32_t size;
} riff_chunk;

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Parses the file's chunks into out (at most max); returns the count. */
static size_t riff_chunks(const uint8_t *file, size_t size, riff_chunk *out, size_t max)
{
    assert_true(size >= 12);
    assert_memory_equal(file, "RIFF", 4);
    assert_memory_equal(file + 8, "WEBP", 4);
    assert_int_equal(le32(file + 4), size - 8);
    size_t n = 0, pos = 12;
    while (pos + 8 <= size && n < max) {
        riff_chunk *c = &out[n++];
        memcpy(c->fourcc, file + pos, 4);
        c->fourcc[4] = '\0';
        c->size = le32(file + pos + 4);
        c->data = file + pos + 8;
        assert_true(pos + 8 + c->size <= size);
        pos += 8 + c->size + (c->size & 1);
    }
    assert_int_equal(pos, size);
    return n;
}

static const riff_chunk *find_chunk(const riff_chunk *chunks, size_t n, const char *fourcc)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(chunks[i].fourcc, fourcc))
            return &chunks[i];
    return NULL;
}

/* ---- tests ---- */

static void test_lossy_rgb_is_close_and_channel_order_right(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("dwebp");
    lp_buffer_image src, dec, swapped;
    lpt_make_photo(&src, 96, 64, LP_FORMAT_RGB8, 1);
    lp_encode_options opts;
    lp_encode_options_default(&opts, LP_FILE_WEBP);
    opts.quality = 90;
    const char *path = lpt_path("q90.webp");
    encode_ok(&src, &opts, NULL, path);
    decode_dwebp(path, &dec);
    double psnr = lpt_psnr(&src, &dec);
    swap_red_blue(&src, &swapped);
    double psnr_swapped = lpt_psnr(&swapped, &dec);
    fprintf(stderr, "lossy q90: PSNR %.2f dB, against the red/blue-swapped source %.2f dB\n",
            psnr, psnr_swapped);
    assert_true(psnr > 30.0);
    assert_true(psnr_swapped < psnr - 10.0);
    assert_true(psnr_swapped < 25.0);

    size_t size;
    uint8_t *file = lpt_read_file(path, &size);
    riff_chunk chunks[8];
    size_t n = riff_chunks(file, size, chunks, 8);
    assert_int_equal(n, 1);  /* no metadata, no alpha: the simple format */
    assert_string_equal(chunks[0].fourcc, "VP8 ");
    free(file);
    lp_buffer_image_free(&swapped);
    lp_buffer_image_free(&dec);
    lp_buffer_image_free(&src);
}

/* Encodes img at q95 with strips of strip_rows to path; returns the file (malloc'd). */
static uint8_t *encode_lossy(const lp_buffer_image *img, uint32_t strip_rows, lp_chroma chroma,
                             const char *path, size_t *size)
{
    lp_output *out;
    assert_int_equal(lp_output_open_file(&out, path, NULL), LP_OK);
    lp_encode_options opts;
    lp_encode_options_default(&opts, LP_FILE_WEBP);
    opts.quality = 95;
    opts.chroma = chroma;
    lp_sink *sink;
    lp_error err = {0};
    assert_int_equal(lp_webp_sink_new(&sink, out, &opts, NULL, &err), LP_OK);
    lp_stage *src;
    assert_int_equal(lp_buffer_source_new(&src, img, strip_rows, NULL), LP_OK);
    assert_int_equal(lp_pipeline_run(src, sink, NULL, NULL, &err), LP_OK);
    assert_int_equal(lp_output_commit(out, &err), LP_OK);
    lp_sink_destroy(sink);
    lp_stage_destroy(src);
    lp_output_close(out);
    uint8_t *data = lpt_read_file(path, size);
    assert_non_null(data);
    return data;
}

/* PSNR of dwebp's decoding of path against img; alpha must be exact. */
static double dwebp_psnr(const lp_buffer_image *img, const char *path)
{
    lp_buffer_image dec;
    decode_dwebp(path, &dec);
    double psnr = lpt_psnr(img, &dec);
    if (lp_format_has_alpha(img->info.format))
        assert_int_equal(max_alpha_error(img, &dec), 0);
    lp_buffer_image_free(&dec);
    return psnr;
}

static double lossy_psnr(const lp_buffer_image *img, uint32_t strip_rows, lp_chroma chroma)
{
    size_t size;
    const char *path = lpt_path("lossy.webp");
    free(encode_lossy(img, strip_rows, chroma, path, &size));
    return dwebp_psnr(img, path);
}

/* The same pixels through cwebp at the same settings (q95, method 3); the file bytes. */
static uint8_t *cwebp_file(const lp_buffer_image *img, size_t *size)
{
    const char *png = lpt_path("ref.png"), *webp = lpt_path("ref.webp");
    lp_output *out;
    assert_int_equal(lp_output_open_file(&out, png, NULL), LP_OK);
    lp_encode_options opts;
    lp_encode_options_default(&opts, LP_FILE_PNG);
    lp_sink *sink;
    assert_int_equal(lp_png_sink_new(&sink, out, &opts, NULL, NULL), LP_OK);
    lp_stage *src;
    assert_int_equal(lp_buffer_source_new(&src, img, 0, NULL), LP_OK);
    assert_int_equal(lp_pipeline_run(src, sink, NULL, NULL, NULL), LP_OK);
    assert_int_equal(lp_output_commit(out, NULL), LP_OK);
    lp_sink_destroy(sink);
    lp_stage_destroy(src);
    lp_output_close(out);
    assert_int_equal(lpt_run("cwebp -quiet -q 95 -m 3 '%s' -o '%s'", png, webp), 0);
    uint8_t *data = lpt_read_file(webp, size);
    assert_non_null(data);
    return data;
}

static void test_lossy_odd_sizes_and_strips(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("dwebp");
    LPT_REQUIRE_TOOL("cwebp");
    /* Rows are converted to 4:2:0 in pairs as strips arrive: odd heights, odd strip
     * heights and a row pair split across strips must all land where they belong. The
     * file must not depend on the strip height, and must be the very file cwebp writes
     * from the same pixels (libwebp converting the whole picture at once). */
    static const uint32_t sizes[][2] = {{1, 1}, {1, 7}, {7, 1}, {33, 17}, {64, 48}};
    static const uint32_t strips[] = {1, 3, 16};
    for (size_t f = 0; f < 2; f++)
        for (size_t i = 0; i < 5; i++) {
            lp_buffer_image src;
            lpt_make_photo(&src, sizes[i][0], sizes[i][1], f ? LP_FORMAT_RGBA8 : LP_FORMAT_RGB8,
                           20 + (uint32_t)i);
            size_t ref_size;
            uint8_t *ref = cwebp_file(&src, &ref_size);
            for (size_t k = 0; k < 3; k++) {
                size_t size;
                uint8_t *ours = encode_lossy(&src, strips[k], LP_CHROMA_DEFAULT,
                                             lpt_path("strips.webp"), &size);
                if (size != ref_size || memcmp(ours, ref, size) != 0)
                    fail_msg("%ux%u %s, strips of %u: %zu bytes differ from cwebp's %zu",
                             sizes[i][0], sizes[i][1], f ? "RGBA" : "RGB", strips[k], size,
                             ref_size);
                free(ours);
            }
            free(ref);
            double psnr = dwebp_psnr(&src, lpt_path("strips.webp"));  /* alpha exact too */
            assert_true(psnr > 20.0);
            lp_buffer_image_free(&src);
        }
}

static void test_chroma_444_uses_sharp_yuv(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("dwebp");
    lp_buffer_image src, swapped;
    lpt_make_photo(&src, 96, 64, LP_FORMAT_RGB8, 1);
    double psnr = lossy_psnr(&src, 16, LP_CHROMA_444);
    fprintf(stderr, "lossy q95 sharp YUV (--chroma 444): PSNR %.2f dB\n", psnr);
    assert_true(psnr > 30.0);
    swap_red_blue(&src, &swapped);
    assert_true(lossy_psnr(&swapped, 16, LP_CHROMA_444) > 30.0);
    lp_buffer_image_free(&swapped);
    lp_buffer_image_free(&src);
}

static void test_quality_changes_size(void **state)
{
    (void)state;
    lp_buffer_image src;
    lpt_make_photo(&src, 96, 64, LP_FORMAT_RGB8, 2);
    lp_encode_options opts;
    lp_encode_options_default(&opts, LP_FILE_WEBP);
    opts.quality = 20;
    const char *low = lpt_path("q20.webp"), *def = lpt_path("qdef.webp"), *high = lpt_path("q95.webp");
    encode_ok(&src, &opts, NULL, low);
    opts.quality = -1;  /* default 80 */
    encode_ok(&src, &opts, NULL, def);
    opts.quality = 95;
    encode_ok(&src, &opts, NULL, high);
    assert_true(lpt_file_size(low) < lpt_file_size(def));
    assert_true(lpt_file_size(def) < lpt_file_size(high));
    lp_buffer_image_free(&src);

    lp_sink *sink;
    lp_error err = {0};
    opts.quality = 101;
    assert_int_equal(lp_webp_sink_new(&sink, NULL, &opts, NULL, &err), LP_ERR_INVALID_ARG);
}

static void test_lossy_rgba_keeps_alpha(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("dwebp");
    lp_buffer_image src, dec;
    lpt_make_photo(&src, 80, 50, LP_FORMAT_RGBA8, 3);
    lp_encode_options opts;
    lp_encode_options_default(&opts, LP_FILE_WEBP);
    opts.quality = 90;
    opts.threads = 2;
    const char *path = lpt_path("rgba.webp");
    encode_ok(&src, &opts, NULL, path);
    decode_dwebp(path, &dec);
    assert_int_equal(dec.info.format, LP_FORMAT_RGBA8);
    double psnr = lpt_psnr(&src, &dec);
    fprintf(stderr, "lossy RGBA q90: PSNR %.2f dB, alpha max error %u\n", psnr,
            max_alpha_error(&src, &dec));
    assert_true(psnr > 30.0);
    assert_int_equal(max_alpha_error(&src, &dec), 0);  /* alpha is coded losslessly */

    size_t size;
    uint8_t *file = lpt_read_file(path, &size);
    riff_chunk chunks[8];
    size_t n = riff_chunks(file, size, chunks, 8);
    const riff_chunk *vp8x = find_chunk(chunks, n, "VP8X");
    assert_non_null(vp8x);
    assert_true(vp8x->data[0] & 0x10);  /* alpha flag */
    assert_non_null(find_chunk(chunks, n, "ALPH"));
    assert_non_null(find_chunk(chunks, n, "VP8 "));
    free(file);
    lp_buffer_image_free(&dec);
    lp_buffer_image_free(&src);
}

static void test_lossless_is_exact(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("dwebp");
    static const uint32_t sizes[][2] = {{1, 1}, {1, 7}, {7, 1}, {33, 17}};
    static const lp_format formats[] = {LP_FORMAT_RGB8, LP_FORMAT_RGBA8};
    for (size_t f = 0; f < 2; f++)
        for (size_t s = 0; s < 4; s++) {
            lp_buffer_image src, dec;
            lpt_make_photo(&src, sizes[s][0], sizes[s][1], formats[f], 10 + (uint32_t)(f * 4 + s));
            if (formats[f] == LP_FORMAT_RGBA8)
                src.pixels[3] = 0;  /* a fully transparent pixel keeps its colour too */
            lp_encode_options opts;
            lp_encode_options_default(&opts, LP_FILE_WEBP);
            opts.lossless = true;
            const char *path = lpt_path("lossless.webp");
            encode_ok(&src, &opts, NULL, path);
            size_t size;
            uint8_t *file = lpt_read_file(path, &size);
            riff_chunk chunks[8];
            size_t n = riff_chunks(file, size, chunks, 8);
            assert_non_null(find_chunk(chunks, n, "VP8L"));
            free(file);
            decode_dwebp(path, &dec);
            assert_exact(&src, &dec);
            lp_buffer_image_free(&dec);
            lp_buffer_image_free(&src);
        }
}

static const uint8_t exif_tiff[] = {
    'M', 'M', 0, 42, 0, 0, 0, 8, 0, 1,
    0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 3, 0, 0,  /* Orientation = 3 */
    0, 0, 0, 0,
};
static const char xmp_packet[] =
    "<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF "
    "xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'/></x:xmpmeta>";

static void test_metadata_chunks(void **state)
{
    (void)state;
    uint8_t icc[777];
    for (size_t i = 0; i < sizeof icc; i++)
        icc[i] = (uint8_t)(i * 13 + 7);
    lp_buffer_image src;
    lpt_make_photo(&src, 40, 30, LP_FORMAT_RGB8, 4);
    src.info.meta.icc = icc;
    src.info.meta.icc_size = sizeof icc;
    src.info.meta.exif = exif_tiff;
    src.info.meta.exif_size = sizeof exif_tiff;
    src.info.meta.xmp = (const uint8_t *)xmp_packet;
    src.info.meta.xmp_size = strlen(xmp_packet);  /* odd: the chunk needs a pad byte */
    lp_encode_options opts;
    lp_encode_options_default(&opts, LP_FILE_WEBP);
    const char *path = lpt_path("meta.webp");
    encode_ok(&src, &opts, NULL, path);

    size_t size;
    uint8_t *file = lpt_read_file(path, &size);
    riff_chunk chunks[8];
    size_t n = riff_chunks(file, size, chunks, 8);
    assert_string_equal(chunks[0].fourcc, "VP8X");
    uint8_t flags = chunks[0].data[0];
    assert_true(flags & 0x20);  /* ICC */
    assert_true(flags & 0x08);  /* EXIF */
    assert_true(flags & 0x04);  /* XMP */
    assert_false(flags & 0x10); /* no alpha */
    assert_int_equal(1 + (chunks[0].data[4] | chunks[0].data[5] << 8 | chunks[0].data[6] << 16), 40);
    const riff_chunk *c = find_chunk(chunks, n, "ICCP");
    assert_non_null(c);
    assert_int_equal(c->size, sizeof icc);
    assert_memory_equal(c->data, icc, sizeof icc);
    c = find_chunk(chunks, n, "EXIF");
    assert_non_null(c);
    assert_int_equal(c->size, sizeof exif_tiff);
    assert_memory_equal(c->data, exif_tiff, sizeof exif_tiff);
    c = find_chunk(chunks, n, "XMP ");
    assert_non_null(c);
    assert_int_equal(c->size, strlen(xmp_packet));
    assert_memory_equal(c->data, xmp_packet, strlen(xmp_packet));
    assert_non_null(find_chunk(chunks, n, "VP8 "));
    free(file);

    if (lpt_have_tool("webpmux")) {
        char out[2048];
        assert_int_equal(lpt_run_capture(out, sizeof out, "webpmux -info '%s'", path), 0);
        assert_non_null(strstr(out, "Size of the ICC profile data: 777"));
        assert_non_null(strstr(out, "Size of the EXIF metadata: 26"));
        assert_non_null(strstr(out, "XMP metadata"));
    }
    if (lpt_have_tool("dwebp")) {
        lp_buffer_image dec;
        decode_dwebp(path, &dec);
        double psnr = lpt_psnr(&src, &dec);
        fprintf(stderr, "default quality (80) with metadata: PSNR %.2f dB\n", psnr);
        assert_true(psnr > 28.0);
        lp_buffer_image_free(&dec);
    }

    /* with alpha: the muxer keeps the ALPH chunk and sets both flags */
    lp_buffer_image rgba;
    lpt_make_photo(&rgba, 40, 30, LP_FORMAT_RGBA8, 8);
    rgba.info.meta = src.info.meta;
    const char *apath = lpt_path("meta-alpha.webp");
    encode_ok(&rgba, &opts, NULL, apath);
    file = lpt_read_file(apath, &size);
    n = riff_chunks(file, size, chunks, 8);
    assert_string_equal(chunks[0].fourcc, "VP8X");
    assert_true(chunks[0].data[0] & 0x10);
    assert_true(chunks[0].data[0] & 0x20);
    assert_non_null(find_chunk(chunks, n, "ALPH"));
    assert_non_null(find_chunk(chunks, n, "ICCP"));
    free(file);
    if (lpt_have_tool("dwebp")) {
        lp_buffer_image dec;
        decode_dwebp(apath, &dec);
        assert_int_equal(max_alpha_error(&rgba, &dec), 0);
        lp_buffer_image_free(&dec);
    }
    lp_buffer_image_free(&rgba);

    /* strip_metadata: the simple format again */
    opts.strip_metadata = true;
    encode_ok(&src, &opts, NULL, path);
    file = lpt_read_file(path, &size);
    n = riff_chunks(file, size, chunks, 8);
    assert_int_equal(n, 1);
    assert_string_equal(chunks[0].fourcc, "VP8 ");
    free(file);
    lp_buffer_image_free(&src);
}

static void test_accepts_rgb8_or_rgba8(void **state)
{
    (void)state;
    lp_encode_options opts;
    lp_encode_options_default(&opts, LP_FILE_WEBP);
    lp_sink *sink;
    assert_int_equal(lp_webp_sink_new(&sink, NULL, &opts, NULL, NULL), LP_OK);
    assert_string_equal(sink->ops->name, "webp-save");
    assert_true(sink->whole_image);
    assert_int_equal(lp_sink_accept(sink, LP_FORMAT_G8), LP_FORMAT_RGB8);
    assert_int_equal(lp_sink_accept(sink, LP_FORMAT_GA8), LP_FORMAT_RGBA8);
    assert_int_equal(lp_sink_accept(sink, LP_FORMAT_RGB8), LP_FORMAT_RGB8);
    assert_int_equal(lp_sink_accept(sink, LP_FORMAT_RGBA8), LP_FORMAT_RGBA8);
    assert_int_equal(lp_sink_accept(sink, LP_FORMAT_G16), LP_FORMAT_RGB8);
    assert_int_equal(lp_sink_accept(sink, LP_FORMAT_GA16), LP_FORMAT_RGBA8);
    assert_int_equal(lp_sink_accept(sink, LP_FORMAT_RGB16), LP_FORMAT_RGB8);
    assert_int_equal(lp_sink_accept(sink, LP_FORMAT_RGBA16), LP_FORMAT_RGBA8);
    lp_sink_destroy(sink);
}

static void test_too_big_refused_before_allocation(void **state)
{
    (void)state;
    static const uint32_t dims[][2] = {{16384, 16}, {16, 16384}, {20000, 20000}};
    for (size_t i = 0; i < 3; i++) {
        lp_mem *mem = lp_mem_new(0, NULL);
        lp_output *out;
        assert_int_equal(lp_output_open_memory(&out, NULL, NULL), LP_OK);
        lp_encode_options opts;
        lp_encode_options_default(&opts, LP_FILE_WEBP);
        lp_sink *sink;
        assert_int_equal(lp_webp_sink_new(&sink, out, &opts, mem, NULL), LP_OK);
        lp_image_info info = {.width = dims[i][0], .height = dims[i][1], .format = LP_FORMAT_RGB8};
        info.meta.orientation = 1;
        lp_error err = {0};
        assert_int_equal(sink->ops->begin(sink, &info, &err), LP_ERR_TOO_BIG);
        assert_non_null(strstr(err.message, "16383"));
        assert_int_equal(lp_mem_peak(mem), 0);
        lp_sink_destroy(sink);
        lp_output_close(out);
        lp_mem_free_tracker(mem);
    }
}

static void test_memory_is_counted(void **state)
{
    (void)state;
    lp_buffer_image src;
    lpt_make_photo(&src, 120, 90, LP_FORMAT_RGBA8, 5);
    size_t picture = 120 * 90 * 4;
    lp_mem *mem = lp_mem_new(0, NULL);
    lp_output *out;
    assert_int_equal(lp_output_open_memory(&out, NULL, NULL), LP_OK);
    lp_encode_options opts;
    lp_encode_options_default(&opts, LP_FILE_WEBP);
    lp_sink *sink;
    assert_int_equal(lp_webp_sink_new(&sink, out, &opts, mem, NULL), LP_OK);
    lp_error err = {0};
    assert_int_equal(sink->ops->begin(sink, &src.info, &err), LP_OK);
    /* lossy: Y, A full size, U and V a quarter each (2.5 bytes a pixel, not ARGB's 4) */
    size_t planes = 120 * 90 * 2 + 2 * 60 * 45;
    assert_int_equal(sink->held_bytes, planes);
    assert_int_equal(lp_mem_current(mem), planes + 2 * 120 * 4);  /* + the row pair */
    lp_strip strip = {.data = src.pixels, .stride = src.stride, .y = 0, .rows = 90};
    assert_int_equal(sink->ops->write(sink, &strip, &err), LP_OK);
    assert_int_equal(sink->ops->finish(sink, &err), LP_OK);
    assert_int_equal(sink->held_bytes, planes);  /* still reported after the release */
    assert_true(lp_mem_peak(mem) > planes);  /* planes + libwebp's estimated working memory */
    assert_int_equal(lp_mem_current(mem), 0);
    size_t size;
    const uint8_t *data = lp_output_data(out, &size);
    assert_true(size > 100);
    assert_memory_equal(data, "RIFF", 4);
    lp_sink_destroy(sink);
    lp_output_close(out);

    /* lossless works on ARGB: 4 bytes a pixel */
    opts.lossless = true;
    assert_int_equal(lp_output_open_memory(&out, NULL, NULL), LP_OK);
    assert_int_equal(lp_webp_sink_new(&sink, out, &opts, mem, NULL), LP_OK);
    assert_int_equal(sink->ops->begin(sink, &src.info, &err), LP_OK);
    assert_int_equal(sink->held_bytes, picture);
    lp_sink_destroy(sink);
    lp_output_close(out);
    assert_int_equal(lp_mem_current(mem), 0);

    /* a budget below the picture is refused at begin */
    lp_mem *small = lp_mem_new(planes / 2, NULL);
    assert_int_equal(lp_output_open_memory(&out, NULL, NULL), LP_OK);
    assert_int_equal(lp_webp_sink_new(&sink, out, &opts, small, NULL), LP_OK);
    assert_int_equal(sink->ops->begin(sink, &src.info, &err), LP_ERR_NOMEM);
    assert_int_equal(lp_mem_current(small), 0);
    lp_sink_destroy(sink);
    lp_output_close(out);
    lp_mem_free_tracker(small);
    lp_mem_free_tracker(mem);
    lp_buffer_image_free(&src);
}

static void test_png_to_webp_end_to_end(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("dwebp");
    /* our PNG decoder feeding our WebP encoder: the sink sees a real source's strips */
    lp_buffer_image src, dec;
    lpt_make_photo(&src, 50, 37, LP_FORMAT_RGB8, 6);
    lp_output *png_out;
    assert_int_equal(lp_output_open_memory(&png_out, NULL, NULL), LP_OK);
    lp_encode_options opts;
    lp_encode_options_default(&opts, LP_FILE_PNG);
    lp_sink *sink;
    assert_int_equal(lp_png_sink_new(&sink, png_out, &opts, NULL, NULL), LP_OK);
    lp_stage *stage;
    assert_int_equal(lp_buffer_source_new(&stage, &src, 0, NULL), LP_OK);
    lp_error err = {0};
    assert_int_equal(lp_pipeline_run(stage, sink, NULL, NULL, &err), LP_OK);
    lp_sink_destroy(sink);
    lp_stage_destroy(stage);
    size_t png_size;
    const uint8_t *png = lp_output_data(png_out, &png_size);

    lp_input *in;
    assert_int_equal(lp_input_open_memory(&in, png, png_size, NULL), LP_OK);
    assert_int_equal(lp_png_source_new(&stage, in, NULL, NULL, &err), LP_OK);
    const char *path = lpt_path("from-png.webp");
    lp_output *out;
    assert_int_equal(lp_output_open_file(&out, path, NULL), LP_OK);
    lp_encode_options_default(&opts, LP_FILE_WEBP);
    opts.lossless = true;
    assert_int_equal(lp_webp_sink_new(&sink, out, &opts, NULL, NULL), LP_OK);
    assert_int_equal(lp_pipeline_run(stage, sink, NULL, NULL, &err), LP_OK);
    assert_int_equal(lp_output_commit(out, &err), LP_OK);
    lp_sink_destroy(sink);
    lp_stage_destroy(stage);
    lp_output_close(out);
    lp_output_close(png_out);
    decode_dwebp(path, &dec);
    assert_exact(&src, &dec);
    lp_buffer_image_free(&dec);
    lp_buffer_image_free(&src);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lossy_rgb_is_close_and_channel_order_right),
        cmocka_unit_test(test_quality_changes_size),
        cmocka_unit_test(test_lossy_odd_sizes_and_strips),
        cmocka_unit_test(test_chroma_444_uses_sharp_yuv),
        cmocka_unit_test(test_lossy_rgba_keeps_alpha),
        cmocka_unit_test(test_lossless_is_exact),
        cmocka_unit_test(test_metadata_chunks),
        cmocka_unit_test(test_accepts_rgb8_or_rgba8),
        cmocka_unit_test(test_too_big_refused_before_allocation),
        cmocka_unit_test(test_memory_is_counted),
        cmocka_unit_test(test_png_to_webp_end_to_end),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
