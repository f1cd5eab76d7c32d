/*
 * test_avif_grid.c - the AVIF grid writer: files decoded by independent decoders
 * (avifdec/dav1d, heif-convert/libheif, vips, headless Chromium) and compared with the
 * source by PSNR; misplaced cells, cropping, 1 and 256 cells, alpha, every orientation,
 * seams, the limits, the memory prediction.
 *
 * Images are small synthetic photos (lpt_make_photo) encoded at speed 9 (the seam test
 * at the default speed 6) so that the suite stays fast, sanitizers included (libaom
 * itself is not instrumented); only the browser is skipped under LP_SANITIZED.
 */
#define _GNU_SOURCE  /* memmem */
#include "testutil.h"
#include "codec/aom_memory.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/av1_cell_encoder.h"
#include "codec/av1_obu.h"
#include "codec/cell_store.h"
#include "codec/heif_writer.h"

static bool sanitized(void)
{
    return getenv("LP_SANITIZED") != NULL;
}

static void grid_options(lp_encode_options *o, uint32_t cell_w, uint32_t cell_h)
{
    lp_encode_options_default(o, LP_FILE_AVIF);
    o->speed = 9;
    o->threads = 2;
    o->grid = LP_GRID_FIXED;
    o->grid_cell_width = cell_w;
    o->grid_cell_height = cell_h;
}

/* Runs img through the grid sink into path; returns the status (err filled). */
static uint32_t strip_rows = 16;  /* strips the buffer source yields */

static lp_status encode_grid(const lp_buffer_image *img, const lp_encode_options *o,
                             const char *path, lp_mem *mem, lp_error *err)
{
    lp_output *out;
    lp_status st = lp_output_open_file(&out, path, err);
    if (st != LP_OK)
        return st;
    lp_stage *src;
    assert_int_equal(lp_buffer_source_new(&src, img, strip_rows, err), LP_OK);
    lp_sink *sink;
    st = lp_avif_grid_sink_new(&sink, out, o, mem, err);
    if (st == LP_OK) {
        st = lp_pipeline_run(src, sink, NULL, NULL, err);
        lp_sink_destroy(sink);
    }
    if (st == LP_OK)
        st = lp_output_commit(out, err);
    lp_output_close(out);
    lp_stage_destroy(src);
    return st;
}

static void encode_ok(const lp_buffer_image *img, const lp_encode_options *o, const char *path)
{
    lp_error err = {0};
    lp_status st = encode_grid(img, o, path, NULL, &err);
    if (st != LP_OK)
        fail_msg("grid encode failed: %s", lp_error_message(&err));
}

/* The image with the two cells at (0,0) and (1,0) exchanged (cells must be equal-sized
 * and fully inside). */
static void swap_cells(lp_buffer_image *img, uint32_t cw, uint32_t ch)
{
    size_t px = lp_format_pixel_bytes(img->info.format);
    uint8_t *tmp = malloc(cw * px);
    for (uint32_t y = 0; y < ch; y++) {
        uint8_t *a = img->pixels + y * img->stride, *b = a + cw * px;
        memcpy(tmp, a, cw * px);
        memcpy(a, b, cw * px);
        memcpy(b, tmp, cw * px);
    }
    free(tmp);
}

static void copy_image(const lp_buffer_image *src, lp_buffer_image *dst)
{
    assert_int_equal(lp_buffer_image_alloc(dst, src->info.width, src->info.height, src->info.format, NULL, NULL), LP_OK);
    memcpy(dst->pixels, src->pixels, src->stride * src->info.height);
}

/* Decodes path with tool and checks PSNR against src (and that it is the right size). */
static double decoded_psnr(const char *tool, const char *path, const lp_buffer_image *src,
                           lp_buffer_image *out)
{
    if (!lpt_decode_external(tool, path, out))
        fail_msg("%s could not decode %s", tool, path);
    assert_int_equal(out->info.width, src->info.width);
    assert_int_equal(out->info.height, src->info.height);
    return lpt_psnr(src, out);
}

static void test_decoders_and_cell_placement(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("avifdec");
    lp_buffer_image img;
    lpt_make_photo(&img, 320, 192, LP_FORMAT_RGB8, 7);
    lp_encode_options o;
    grid_options(&o, 128, 128);
    const char *path = lpt_path("grid-basic.avif");
    encode_ok(&img, &o, path);

    lp_buffer_image swapped;
    copy_image(&img, &swapped);
    swap_cells(&swapped, 128, 128);
    const char *tools[] = {"avifdec", "heif-convert", "vips"};
    for (int i = 0; i < 3; i++) {
        if (!lpt_have_tool(tools[i])) {
            fprintf(stderr, "SKIP part: %s is not installed\n", tools[i]);
            continue;
        }
        lp_buffer_image dec;
        double psnr = decoded_psnr(tools[i], path, &img, &dec);
        double wrong = lpt_psnr(&swapped, &dec);
        fprintf(stderr, "%s: PSNR %.2f dB (vs swapped cells %.2f dB)\n", tools[i], psnr, wrong);
        assert_true(psnr > 32.0);
        assert_true(wrong < psnr - 10.0);
        lp_buffer_image_free(&dec);
    }
    lp_buffer_image_free(&swapped);
    lp_buffer_image_free(&img);
}

static void test_cropped_last_row_and_column(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("avifdec");
    lp_buffer_image img;
    lpt_make_photo(&img, 300, 203, LP_FORMAT_RGB8, 11);  /* odd height: 4:2:0 carry path */
    lp_encode_options o;
    grid_options(&o, 128, 128);
    const char *path = lpt_path("grid-crop.avif");
    encode_ok(&img, &o, path);
    lp_buffer_image dec;
    double psnr = decoded_psnr("avifdec", path, &img, &dec);
    /* the cropped cells themselves */
    double right = lpt_psnr_rect(&img, &dec, 256, 0, 44, 203);
    double bottom = lpt_psnr_rect(&img, &dec, 0, 128, 300, 75);
    fprintf(stderr, "300x203 in 128 cells: %.2f dB, right column %.2f, bottom row %.2f\n", psnr, right, bottom);
    assert_true(psnr > 32.0 && right > 30.0 && bottom > 30.0);
    lp_buffer_image_free(&dec);
    if (lpt_have_tool("heif-convert")) {
        assert_true(decoded_psnr("heif-convert", path, &img, &dec) > 32.0);
        lp_buffer_image_free(&dec);
    }
    lp_buffer_image_free(&img);
}

/* Strips of 7 rows: 4:2:0 row pairs straddle strips (the carry row) and cell-rows. */
static void test_odd_strips(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("avifdec");
    lp_buffer_image img;
    lpt_make_photo(&img, 300, 202, LP_FORMAT_RGB8, 12);
    lp_encode_options o;
    grid_options(&o, 128, 64);
    const char *path = lpt_path("grid-strips7.avif");
    strip_rows = 7;
    encode_ok(&img, &o, path);
    strip_rows = 16;
    lp_buffer_image dec;
    double psnr = decoded_psnr("avifdec", path, &img, &dec);
    char info[2048];
    lpt_run_capture(info, sizeof info, "avifdec --info '%s'", path);
    fprintf(stderr, "300x202, 7-row strips: %.2f dB\n", psnr);
    assert_non_null(strstr(info, "YUV420"));
    assert_true(psnr > 32.0);
    /* rows around every strip boundary inside the second cell-row */
    assert_true(lpt_psnr_rect(&img, &dec, 0, 63, 300, 16) > 30.0);
    lp_buffer_image_free(&dec);
    lp_buffer_image_free(&img);
}

/* MIAF wants even output sizes for 4:2:0 grids: odd sizes are written 4:4:4. */
static void test_odd_size_is_444(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("avifdec");
    lp_buffer_image img;
    lpt_make_photo(&img, 301, 203, LP_FORMAT_RGB8, 14);
    lp_encode_options o;
    grid_options(&o, 128, 128);
    const char *path = lpt_path("grid-odd.avif");
    encode_ok(&img, &o, path);
    char info[2048];
    lpt_run_capture(info, sizeof info, "avifdec --info '%s'", path);
    assert_non_null(strstr(info, "YUV444"));
    const char *tools[] = {"avifdec", "heif-convert"};
    for (int t = 0; t < 2; t++) {
        if (!lpt_have_tool(tools[t]))
            continue;
        lp_buffer_image dec;
        double psnr = decoded_psnr(tools[t], path, &img, &dec);
        fprintf(stderr, "%s 301x203: %.2f dB\n", tools[t], psnr);
        assert_true(psnr > 32.0);
        assert_true(lpt_psnr_rect(&img, &dec, 256, 128, 45, 75) > 30.0);
        lp_buffer_image_free(&dec);
    }
    lp_buffer_image_free(&img);
}

static void test_metadata_items(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("avifdec");
    lp_buffer_image img;
    lpt_make_photo(&img, 128, 128, LP_FORMAT_RGB8, 15);
    /* little-endian TIFF, one IFD entry: Orientation (0x0112) = 6 */
    static const uint8_t exif[] = {'I', 'I', 42, 0, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0,
                                   6, 0, 0, 0, 0, 0, 0, 0};
    static const char xmp[] = "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF xmlns:rdf="
                              "\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\"/></x:xmpmeta>";
    uint8_t icc[200];
    for (size_t i = 0; i < sizeof icc; i++)
        icc[i] = (uint8_t)i;
    img.info.meta.exif = exif;
    img.info.meta.exif_size = sizeof exif;
    img.info.meta.xmp = (const uint8_t *)xmp;
    img.info.meta.xmp_size = sizeof xmp - 1;
    img.info.meta.icc = icc;
    img.info.meta.icc_size = sizeof icc;
    img.info.meta.orientation = 6;
    lp_encode_options o;
    grid_options(&o, 64, 64);
    const char *path = lpt_path("grid-meta.avif");
    encode_ok(&img, &o, path);
    char info[4096];
    assert_int_equal(lpt_run_capture(info, sizeof info, "avifdec --info '%s'", path), 0);
    assert_non_null(strstr(info, "ICC Profile    : Present (200 bytes)"));
    assert_non_null(strstr(info, "XMP Metadata   : Present"));
    assert_non_null(strstr(info, "Exif Metadata  : Present"));
    assert_non_null(strstr(info, "irot"));
    /* the file's bytes: the XMP packet and the EXIF stream are stored verbatim */
    size_t size;
    uint8_t *file = lpt_read_file(path, &size);
    assert_non_null(file);
    assert_non_null(memmem(file, size, xmp, sizeof xmp - 1));
    assert_non_null(memmem(file, size, exif, sizeof exif));
    assert_non_null(memmem(file, size, "application/rdf+xml", 19));
    free(file);
    if (lpt_have_tool("heif-info")) {
        assert_int_equal(lpt_run_capture(info, sizeof info, "heif-info '%s'", path), 0);
        assert_non_null(strstr(info, "Exif"));
        assert_non_null(strstr(info, "(id=1), primary"));
        assert_null(strstr(info, "id=2"));  /* the cells are hidden, not top-level images */
    }
    /* strip_metadata drops them */
    o.strip_metadata = true;
    encode_ok(&img, &o, path);
    assert_int_equal(lpt_run_capture(info, sizeof info, "avifdec --info '%s'", path), 0);
    assert_non_null(strstr(info, "Exif Metadata  : Absent"));
    assert_non_null(strstr(info, "ICC Profile    : Absent"));
    lp_buffer_image_free(&img);
}

static void test_one_cell_grid_and_tiny_image(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("avifdec");
    lp_buffer_image img;
    lpt_make_photo(&img, 40, 33, LP_FORMAT_RGB8, 3);  /* smaller than a 64x64 cell */
    lp_encode_options o;
    grid_options(&o, 0, 0);  /* default cell */
    const char *path = lpt_path("grid-one.avif");
    encode_ok(&img, &o, path);
    lp_buffer_image dec;
    double psnr = decoded_psnr("avifdec", path, &img, &dec);
    fprintf(stderr, "40x33 one cell: %.2f dB\n", psnr);
    assert_true(psnr > 30.0);
    lp_buffer_image_free(&dec);
    lp_buffer_image_free(&img);
}

static void test_256_cells(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("avifdec");
    lp_buffer_image img;
    lpt_make_photo(&img, 1024, 1024, LP_FORMAT_RGB8, 5);
    lp_encode_options o;
    grid_options(&o, 64, 64);
    const char *path = lpt_path("grid-256.avif");
    encode_ok(&img, &o, path);
    lp_buffer_image dec;
    double psnr = decoded_psnr("avifdec", path, &img, &dec);
    fprintf(stderr, "16x16 cells of 64: %.2f dB\n", psnr);
    assert_true(psnr > 32.0);
    /* the last cell, bottom right */
    assert_true(lpt_psnr_rect(&img, &dec, 960, 960, 64, 64) > 30.0);
    lp_buffer_image_free(&dec);
    lp_buffer_image_free(&img);
}

static void test_alpha_grid(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("avifdec");
    lp_buffer_image img;
    lpt_make_photo(&img, 200, 150, LP_FORMAT_RGBA8, 9);
    /* a recognisable alpha: a horizontal ramp with a hole */
    for (uint32_t y = 0; y < 150; y++)
        for (uint32_t x = 0; x < 200; x++) {
            uint8_t a = (uint8_t)(x * 255 / 199);
            if (x > 60 && x < 100 && y > 40 && y < 90)
                a = 0;
            img.pixels[y * img.stride + x * 4 + 3] = a;
        }
    lp_encode_options o;
    grid_options(&o, 128, 64);
    o.quality = 80;
    const char *path = lpt_path("grid-alpha.avif");
    encode_ok(&img, &o, path);
    const char *tools[] = {"avifdec", "heif-convert"};
    for (int t = 0; t < 2; t++) {
        if (!lpt_have_tool(tools[t]))
            continue;
        lp_buffer_image dec;
        if (!lpt_decode_external(tools[t], path, &dec))
            fail_msg("%s could not decode the alpha grid", tools[t]);
        assert_int_equal(dec.info.format, LP_FORMAT_RGBA8);
        double se = 0;
        for (uint32_t y = 0; y < 150; y++)
            for (uint32_t x = 0; x < 200; x++) {
                double d = (double)img.pixels[y * img.stride + x * 4 + 3] - dec.pixels[y * dec.stride + x * 4 + 3];
                se += d * d;
            }
        double rmse = sqrt(se / (200.0 * 150));
        fprintf(stderr, "%s: alpha RMSE %.2f\n", tools[t], rmse);
        assert_true(rmse < 6.0);
        /* colour where opaque enough */
        assert_true(lpt_psnr_rect(&img, &dec, 150, 0, 50, 150) > 30.0);
        lp_buffer_image_free(&dec);
    }
    lp_buffer_image_free(&img);
}

/* Odd image and cell sizes with alpha: 4:4:4 colour cells, monochrome alpha cells whose
 * (unused) 4:2:0 chroma is rounded up. */
static void test_alpha_odd_sizes(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("avifdec");
    lp_buffer_image img;
    lpt_make_photo(&img, 201, 151, LP_FORMAT_RGBA8, 19);
    for (uint32_t y = 0; y < 151; y++)
        for (uint32_t x = 0; x < 201; x++)
            img.pixels[y * img.stride + x * 4 + 3] = (uint8_t)(255 - y);
    lp_encode_options o;
    grid_options(&o, 65, 75);
    o.quality = 80;
    const char *path = lpt_path("grid-alpha-odd.avif");
    encode_ok(&img, &o, path);
    lp_buffer_image dec;
    double psnr = decoded_psnr("avifdec", path, &img, &dec);
    fprintf(stderr, "201x151 RGBA, 65x75 cells: %.2f dB\n", psnr);
    assert_true(psnr > 32.0);
    lp_buffer_image_free(&dec);
    lp_buffer_image_free(&img);
}

/* Rotation with an alpha grid: libheif applies the primary's irot to colour and alpha. */
static void test_orientation_with_alpha(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("heif-convert");
    lp_buffer_image img;
    lpt_make_photo(&img, 192, 128, LP_FORMAT_RGBA8, 23);
    for (uint32_t y = 0; y < 128; y++)
        for (uint32_t x = 0; x < 192; x++)
            img.pixels[y * img.stride + x * 4 + 3] = (uint8_t)(x < 96 ? 255 : 64 + y);
    img.info.meta.orientation = 6;
    lp_encode_options o;
    grid_options(&o, 64, 64);
    o.quality = 80;
    const char *path = lpt_path("grid-orient-alpha.avif");
    encode_ok(&img, &o, path);
    lp_buffer_image expect, dec;
    lpt_apply_orientation(&img, 6, &expect);
    if (!lpt_decode_external("heif-convert", path, &dec))
        fail_msg("heif-convert could not decode the rotated alpha grid");
    assert_int_equal(dec.info.width, 128);
    assert_int_equal(dec.info.height, 192);
    double psnr = lpt_psnr(&expect, &dec);  /* colour and alpha */
    fprintf(stderr, "orientation 6 with alpha: %.2f dB\n", psnr);
    assert_true(psnr > 30.0);
    lp_buffer_image_free(&expect);
    lp_buffer_image_free(&dec);
    lp_buffer_image_free(&img);
}

static void test_every_orientation(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("heif-convert");
    lp_buffer_image img;
    lpt_make_photo(&img, 160, 96, LP_FORMAT_RGB8, 21);
    lp_encode_options o;
    grid_options(&o, 64, 64);
    for (int orient = 1; orient <= 8; orient++) {
        img.info.meta.orientation = orient;
        char name[64];
        snprintf(name, sizeof name, "grid-orient-%d.avif", orient);
        const char *path = lpt_path(name);
        encode_ok(&img, &o, path);
        lp_buffer_image expect, dec;
        lpt_apply_orientation(&img, orient, &expect);
        if (!lpt_decode_external("heif-convert", path, &dec))
            fail_msg("heif-convert could not decode orientation %d", orient);
        assert_int_equal(dec.info.width, expect.info.width);
        assert_int_equal(dec.info.height, expect.info.height);
        double psnr = lpt_psnr(&expect, &dec);
        fprintf(stderr, "orientation %d: %.2f dB\n", orient, psnr);
        assert_true(psnr > 30.0);
        lp_buffer_image_free(&expect);
        lp_buffer_image_free(&dec);
    }
    lp_buffer_image_free(&img);
}

/* PSNR over 8-pixel bands along the inner cell borders vs the cell interiors. */
static void test_seams(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("avifdec");
    const uint32_t W = 512, H = 512, C = 128;
    lp_buffer_image img;
    lpt_make_photo(&img, W, H, LP_FORMAT_RGB8, 33);
    lp_encode_options o;
    grid_options(&o, C, C);
    o.speed = 6;  /* the default speed: seams depend on it */
    const char *path = lpt_path("grid-seams.avif");
    encode_ok(&img, &o, path);
    lp_buffer_image dec;
    assert_true(lpt_decode_external("avifdec", path, &dec));
    lpt_to_rgb8(&dec, false);
    double band_se = 0, inner_se = 0;
    size_t band_n = 0, inner_n = 0;
    for (uint32_t y = 0; y < H; y++)
        for (uint32_t x = 0; x < W; x++) {
            uint32_t dx = x % C, dy = y % C;
            bool near_x = (dx < 4 && x >= C) || (dx >= C - 4 && x + 4 < W);
            bool near_y = (dy < 4 && y >= C) || (dy >= C - 4 && y + 4 < H);
            double se = 0;
            for (int c = 0; c < 3; c++) {
                double d = (double)img.pixels[y * img.stride + x * 3 + c] - dec.pixels[y * dec.stride + x * 3 + c];
                se += d * d;
            }
            if (near_x || near_y) {
                band_se += se;
                band_n += 3;
            } else if (dx >= 8 && dx < C - 8 && dy >= 8 && dy < C - 8) {
                inner_se += se;
                inner_n += 3;
            }
        }
    double band = 10 * log10(255.0 * 255.0 / (band_se / band_n));
    double inner = 10 * log10(255.0 * 255.0 / (inner_se / inner_n));
    fprintf(stderr, "seams: borders %.2f dB, interiors %.2f dB (whole %.2f dB)\n", band, inner, lpt_psnr(&img, &dec));
    assert_true(band > inner - 1.5);
    lp_buffer_image_free(&dec);
    lp_buffer_image_free(&img);
}

static void test_ten_bit(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("avifdec");
    lp_buffer_image img;
    lpt_make_photo(&img, 200, 130, LP_FORMAT_RGB16, 13);
    lp_encode_options o;
    grid_options(&o, 128, 64);
    o.bit_depth = 10;
    const char *path = lpt_path("grid-10bit.avif");
    encode_ok(&img, &o, path);
    /* avifdec writes 16-bit PNGs for 10-bit files; testutil's reader swaps the bytes of
     * libspng's (already host-endian) 16-bit samples, so read an 8-bit rendition. */
    const char *png = lpt_path("grid-10bit.png");
    assert_int_equal(lpt_run("avifdec --depth 8 '%s' '%s' >/dev/null 2>&1", path, png), 0);
    lp_buffer_image dec;
    assert_true(lpt_read_png(png, &dec));
    char info[2048];
    lpt_run_capture(info, sizeof info, "avifdec --info '%s'", path);
    assert_non_null(strstr(info, "Bit Depth      : 10"));
    double psnr = lpt_psnr(&img, &dec);
    fprintf(stderr, "10-bit: %.2f dB\n", psnr);
    assert_true(psnr > 32.0);
    lp_buffer_image_free(&dec);
    lp_buffer_image_free(&img);
}

static void test_444(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("avifdec");
    lp_buffer_image img;
    lpt_make_photo(&img, 190, 140, LP_FORMAT_RGB8, 17);
    lp_encode_options o;
    grid_options(&o, 96, 96);
    o.chroma = LP_CHROMA_444;
    const char *path = lpt_path("grid-444.avif");
    encode_ok(&img, &o, path);
    lp_buffer_image dec;
    double psnr = decoded_psnr("avifdec", path, &img, &dec);
    fprintf(stderr, "4:4:4: %.2f dB\n", psnr);
    assert_true(psnr > 32.0);
    lp_buffer_image_free(&dec);
    lp_buffer_image_free(&img);
}

/* The store's counted block follows its bytes within 1 MiB (it grows by 1 MiB steps past
 * 1 MiB; doubling charged a 2.3 MB photo's cells 4 MiB, which the model did not predict). */
static void test_cell_store_counts_its_bytes(void **state)
{
    (void)state;
    lp_mem *mem = lp_mem_new(0, NULL);
    lp_cell_store store;
    lp_cell_store_init(&store, mem, LP_CELL_STORE_SPILL_BYTES, NULL);
    static uint8_t cell[100 * 1000];
    uint64_t offset = 0, held = 0;
    while (held < 2300 * 1000) {
        assert_int_equal(lp_cell_store_append(&store, cell, sizeof cell, &offset, NULL), LP_OK);
        held += sizeof cell;
        assert_int_equal(offset, held - sizeof cell);
        assert_true(lp_mem_current(mem) >= held);
        assert_true(lp_mem_current(mem) < held + (1u << 20));
    }
    assert_true(lp_mem_current(mem) <= 3u << 20);  /* doubling: 4 MiB */
    lp_cell_store_release(&store);
    assert_int_equal(lp_mem_current(mem), 0);
    lp_mem_free_tracker(mem);
}

/* Past grid_spill_bytes the compressed cells go to a temp file: same bytes out. */
static void test_spilled_cells_same_file(void **state)
{
    (void)state;
    lp_buffer_image img;
    lpt_make_photo(&img, 320, 192, LP_FORMAT_RGBA8, 8);
    lp_encode_options o;
    grid_options(&o, 128, 64);
    const char *mem_path = lpt_path("grid-inmem.avif"), *file_path = lpt_path("grid-spilled.avif");
    encode_ok(&img, &o, mem_path);
    o.grid_spill_bytes = 1500;
    lp_mem *mem = lp_mem_new(0, NULL);
    lp_error err = {0};
    lp_status st = encode_grid(&img, &o, file_path, mem, &err);
    assert_int_equal(st, LP_OK);
    size_t a_size, b_size;
    uint8_t *a = lpt_read_file(mem_path, &a_size), *b = lpt_read_file(file_path, &b_size);
    assert_true(a_size > 3000);  /* so the store did spill */
    assert_int_equal(a_size, b_size);
    assert_memory_equal(a, b, a_size);
    free(a);
    free(b);
    assert_int_equal(lp_mem_current(mem), 0);
    lp_mem_free_tracker(mem);
    if (lpt_have_tool("avifdec")) {
        lp_buffer_image dec;
        assert_true(decoded_psnr("avifdec", file_path, &img, &dec) > 32.0);
        lp_buffer_image_free(&dec);
    }
    lp_buffer_image_free(&img);
}

static bool stop_at_row_200(void *user, uint32_t done, uint32_t total)
{
    (void)user; (void)total;
    return done < 200;
}

/* A job cancelled half-way (after cells were encoded and spilled) frees everything and
 * leaves no file. */
static void test_cancelled_midway(void **state)
{
    (void)state;
    lp_buffer_image img;
    lpt_make_photo(&img, 256, 320, LP_FORMAT_RGBA8, 6);
    lp_encode_options o;
    grid_options(&o, 64, 64);
    const char *path = lpt_path("grid-cancel.avif");
    o.grid_spill_bytes = 500;
    lp_mem *mem = lp_mem_new(0, NULL);
    lp_error err = {0};
    lp_output *out;
    lp_stage *src;
    lp_sink *sink;
    assert_int_equal(lp_output_open_file(&out, path, &err), LP_OK);
    assert_int_equal(lp_buffer_source_new(&src, &img, 16, &err), LP_OK);
    assert_int_equal(lp_avif_grid_sink_new(&sink, out, &o, mem, &err), LP_OK);
    assert_int_equal(lp_pipeline_run(src, sink, stop_at_row_200, NULL, &err), LP_ERR_CANCELLED);
    lp_sink_destroy(sink);
    lp_output_close(out);
    lp_stage_destroy(src);
    assert_int_equal(lp_mem_current(mem), 0);
    assert_true(lp_mem_peak(mem) > 0);
    assert_false(lpt_file_exists(path));
    assert_int_equal(lpt_count_files(lpt_tmpdir(), ".grid-cancel.avif"), 0);
    lp_mem_free_tracker(mem);
    lp_buffer_image_free(&img);
}

static void test_limits_refused(void **state)
{
    (void)state;
    lp_buffer_image img;
    /* 257 columns of 64-pixel cells: one more than a grid holds */
    assert_int_equal(lp_buffer_image_alloc(&img, 257 * 64, 64, LP_FORMAT_RGB8, NULL, NULL), LP_OK);
    memset(img.pixels, 128, img.stride * 64);
    lp_encode_options o;
    grid_options(&o, 64, 64);
    lp_error err = {0};
    const char *path = lpt_path("grid-257.avif");
    assert_int_equal(encode_grid(&img, &o, path, NULL, &err), LP_ERR_TOO_BIG);
    assert_non_null(strstr(err.message, "256"));
    assert_false(lpt_file_exists(path));
    lp_buffer_image_free(&img);

    lpt_make_photo(&img, 100, 100, LP_FORMAT_RGB8, 1);
    grid_options(&o, 32, 64);
    lp_error_clear(&err);
    assert_int_equal(encode_grid(&img, &o, path, NULL, &err), LP_ERR_INVALID_ARG);
    grid_options(&o, 65, 64);
    lp_error_clear(&err);
    assert_int_equal(encode_grid(&img, &o, path, NULL, &err), LP_ERR_INVALID_ARG);
    assert_false(lpt_file_exists(path));
    lp_buffer_image_free(&img);
}

static void test_budget_fewer_encoders_or_refused(void **state)
{
    (void)state;
    lp_buffer_image img;
    lpt_make_photo(&img, 256, 128, LP_FORMAT_RGB8, 2);
    lp_encode_options o;
    grid_options(&o, 128, 128);
    lp_mem *mem = lp_mem_new(1 << 20, NULL);  /* 1 MiB: the encoders do not fit */
    lp_error err = {0};
    assert_int_equal(encode_grid(&img, &o, lpt_path("grid-budget.avif"), mem, &err), LP_ERR_NOMEM);
    assert_int_equal(lp_mem_current(mem), 0);
    lp_mem_free_tracker(mem);
    /* room for one encoder but not two: the row is encoded one cell at a time */
    const uint64_t encoder = 128 * 128 * LP_AOM_BYTES_PER_PIXEL + LP_AOM_CELL_FIXED_BYTES;
    mem = lp_mem_new(encoder + (1 << 20), NULL);
    o.threads = 2;
    lp_error_clear(&err);
    assert_int_equal(encode_grid(&img, &o, lpt_path("grid-budget.avif"), mem, &err), LP_OK);
    assert_true(lp_mem_peak(mem) <= encoder + (1 << 20));
    assert_true(lp_mem_peak(mem) > encoder);  /* one encoder's estimate was charged */
    lp_mem_free_tracker(mem);
    lp_buffer_image_free(&img);
}

static void test_counted_memory_and_prediction(void **state)
{
    (void)state;
    lp_buffer_image img;
    lpt_make_photo(&img, 512, 256, LP_FORMAT_RGB8, 4);
    lp_encode_options o;
    grid_options(&o, 128, 128);
    lp_mem *mem = lp_mem_new(0, NULL);
    lp_error err = {0};
    assert_int_equal(encode_grid(&img, &o, lpt_path("grid-mem.avif"), mem, &err), LP_OK);
    uint64_t peak = lp_mem_peak(mem);
    uint64_t predicted = lp_avif_grid_predict_peak(512, 256, 128, 128, 2, LP_FORMAT_RGB8);
    fprintf(stderr, "counted peak %llu, predicted %llu\n", (unsigned long long)peak, (unsigned long long)predicted);
    assert_int_equal(lp_mem_current(mem), 0);
    assert_true(peak <= predicted);
    /* the cell-row buffer is one cell-row, not the image: 512 x 128 x 1.5 */
    assert_true(peak < 512 * 256 * 3 + 2 * (128 * 128 * LP_AOM_BYTES_PER_PIXEL + LP_AOM_CELL_FIXED_BYTES));
    lp_mem_free_tracker(mem);
    lp_buffer_image_free(&img);

    /* prediction grows with width and threads, not with height */
    uint64_t a = lp_avif_grid_predict_peak(6000, 4000, 512, 512, 2, LP_FORMAT_RGB8);
    uint64_t b = lp_avif_grid_predict_peak(6000, 40000, 512, 512, 2, LP_FORMAT_RGB8);
    uint64_t c = lp_avif_grid_predict_peak(6000, 4000, 512, 512, 4, LP_FORMAT_RGB8);
    assert_true(c > a);
    assert_true(b - a < (uint64_t)6000 * 36000);  /* only the compressed output grows */
}

static void test_default_cell(void **state)
{
    (void)state;
    uint32_t cw, ch;
    lp_avif_grid_default_cell(6000, 4000, &cw, &ch);
    assert_int_equal(cw % 64, 0);
    assert_int_equal(ch % 64, 0);
    assert_true(lp_av1_frame_fits_level6(cw, ch));
    lp_avif_grid_default_cell(65535, 65535, &cw, &ch);
    assert_true((65535 + cw - 1) / cw <= 256 && (65535 + ch - 1) / ch <= 256);
    assert_true(((65535 + cw - 1) / cw) * ((65535 + ch - 1) / ch) * 2 + 4 <= 65535);
    lp_avif_grid_default_cell(300, 40, &cw, &ch);
    assert_true(cw >= 64 && ch == 64);
}

static void test_av1c_from_sequence_header(void **state)
{
    (void)state;
    /* reduced still-picture header: profile 0, level 8 (4.0), 8-bit, not mono, 4:2:0 */
    lp_error err = {0};
    uint8_t planes[64 * 64 * 3 / 2];
    memset(planes, 100, sizeof planes);
    lp_av1_cell_params p = {.width = 64, .height = 64, .bit_depth = 8, .quantizer = 30, .speed = 9};
    lp_av1_planes pl = {{planes, planes + 4096, planes + 4096 + 1024}, {64, 32, 32}};
    uint8_t *obus;
    size_t size;
    assert_int_equal(lp_av1_encode_cell(&p, &pl, NULL, &obus, &size, &err), LP_OK);
    uint8_t av1c[4];
    assert_int_equal(lp_av1_config_record(obus, size, av1c, &err), LP_OK);
    assert_int_equal(av1c[0], 0x81);
    assert_int_equal(av1c[1] >> 5, 0);           /* profile 0 */
    assert_int_equal(av1c[2] & 0x1c, 0x0c);      /* not mono, 4:2:0 */
    assert_int_equal((obus[0] >> 3) & 15, 1);    /* starts with the sequence header, no TD */
    lp_mem_release(NULL, obus);
    /* garbage */
    const uint8_t junk[5] = {0x0a, 0x03, 0xff, 0xff, 0xff};
    assert_int_not_equal(lp_av1_config_record(junk, sizeof junk, av1c, &err), LP_OK);
    assert_int_not_equal(lp_av1_config_record(junk, 1, av1c, &err), LP_OK);
}

static lp_status write_no_body(void *user, lp_output *out, lp_error *err)
{
    (void)user; (void)out; (void)err;
    return LP_OK;
}

/* Files past 4 GiB: 64-bit iloc offsets and a 64-bit mdat size (checked on the container
 * alone: the body callback writes nothing). */
static void test_heif_writer_large_file(void **state)
{
    (void)state;
    lp_heif_extent cells[2] = {{0, 100}, {(5ull << 30) - 100, 100}};
    lp_heif_grid g = {
        .width = 1000, .height = 64, .cell_width = 512, .cell_height = 64, .columns = 2, .rows = 1,
        .bit_depth = 8, .color = cells, .color_av1c = {0x81, 0, 0x0c, 0},
        .body_size = 5ull << 30, .write_body = write_no_body,
        .color_primaries = 1, .transfer = 13, .matrix = 6, .full_range = true, .orientation = 1,
    };
    lp_output *out;
    lp_error err = {0};
    assert_int_equal(lp_output_open_memory(&out, NULL, &err), LP_OK);
    assert_int_equal(lp_heif_write_grid(out, &g, NULL, &err), LP_OK);
    size_t size;
    const uint8_t *d = lp_output_data(out, &size);
    const uint8_t *iloc = memmem(d, size, "iloc", 4);
    assert_non_null(iloc);
    assert_int_equal(iloc[8], 0x84);  /* offset_size 8, length_size 4 */
    const uint8_t *mdat = memmem(d, size, "mdat", 4);
    assert_non_null(mdat);
    assert_memory_equal(mdat - 4, "\0\0\0\1", 4);  /* size 1: a 64-bit largesize follows */
    uint64_t large = 0;
    for (int i = 0; i < 8; i++)
        large = large << 8 | mdat[4 + i];
    assert_true(large == (5ull << 30) + 16 + 8);  /* header + body + the grid description */
    /* the second cell's offset: mdat payload start + its body offset */
    uint64_t payload = (uint64_t)(mdat + 12 - d);
    const uint8_t *entry = iloc + 8 + 2 + 2 + 2 * (2 + 2 + 2 + 8 + 4);  /* items 1, 2 before it */
    uint64_t off = 0;
    for (int i = 0; i < 8; i++)
        off = off << 8 | entry[6 + i];
    assert_true(off == payload + (5ull << 30) - 100);
    lp_output_close(out);
}

/* Renders name (in the scratch directory) on a black page in headless Chromium; returns
 * the top-left w x h of the screenshot as RGB8. */
static void chromium_render(const char *name, uint32_t w, uint32_t h, lp_buffer_image *area)
{
    char html_name[256], shot_name[256], page[512];
    snprintf(html_name, sizeof html_name, "%s.html", name);
    snprintf(shot_name, sizeof shot_name, "%s.png", name);
    const char *html = lpt_path(html_name), *shot = lpt_path(shot_name);
    int n = snprintf(page, sizeof page,
                     "<!doctype html><html><body style=\"margin:0;background:#000\">"
                     "<img src=\"%s\" style=\"display:block\"></body></html>", name);
    lpt_write_file(html, page, (size_t)n);
    char out[4096];
    int rc = lpt_run_capture(out, sizeof out,
                             "cd '%s' && HOME=\"$PWD\" timeout 120 chromium --headless --no-sandbox --disable-gpu "
                             "--disable-quic --no-first-run --disable-background-networking "
                             "--disable-component-update --disable-sync --hide-scrollbars "
                             "--force-device-scale-factor=1 --user-data-dir=\"$(mktemp -d)\" "
                             "--screenshot='%s' --window-size=%u,%u 'file://%s' 2>&1",
                             lpt_tmpdir(), shot, w + 40, h + 40, html);
    if (rc != 0 || !lpt_file_exists(shot))
        fail_msg("chromium failed (%d): %s", rc, out);
    lp_buffer_image screen;
    assert_true(lpt_read_png(shot, &screen));
    lpt_to_rgb8(&screen, false);
    assert_true(screen.info.width >= w && screen.info.height >= h);
    assert_int_equal(lp_buffer_image_alloc(area, w, h, LP_FORMAT_RGB8, NULL, NULL), LP_OK);
    for (uint32_t y = 0; y < h; y++)
        memcpy(area->pixels + y * area->stride, screen.pixels + y * screen.stride, w * 3);
    lp_buffer_image_free(&screen);
}

static bool skip_without_chromium(void)
{
    if (!lpt_have_tool("chromium")) {
        fprintf(stderr, "SKIP: chromium is not installed (scripts/deps.sh test installs it)\n");
        return true;
    }
    if (sanitized()) {
        fprintf(stderr, "SKIP: browser rendering under sanitizers (the plain run covers it)\n");
        return true;
    }
    return false;
}

/* Renders the file in headless Chromium and compares the screenshot. */
static void test_chromium_renders_grid(void **state)
{
    (void)state;
    if (skip_without_chromium())
        skip();
    const uint32_t W = 320, H = 200;
    lp_buffer_image img;
    lpt_make_photo(&img, W, H, LP_FORMAT_RGB8, 44);
    lp_encode_options o;
    grid_options(&o, 128, 128);
    encode_ok(&img, &o, lpt_path("grid-chromium.avif"));
    lp_buffer_image area;
    chromium_render("grid-chromium.avif", W, H, &area);
    double psnr = lpt_psnr(&img, &area);
    lp_buffer_image swapped;
    copy_image(&img, &swapped);
    swap_cells(&swapped, 128, 128);
    double wrong = lpt_psnr(&swapped, &area);
    fprintf(stderr, "chromium screenshot: %.2f dB (vs swapped cells %.2f dB)\n", psnr, wrong);
    assert_true(psnr > 30.0);
    assert_true(wrong < psnr - 10.0);
    lp_buffer_image_free(&swapped);
    lp_buffer_image_free(&area);
    lp_buffer_image_free(&img);
}

/* A rotated grid with alpha in Chromium: the page is black, so the screen shows colour
 * times alpha, rotated for orientation 6. */
static void test_chromium_rotated_alpha_grid(void **state)
{
    (void)state;
    if (skip_without_chromium())
        skip();
    const uint32_t W = 256, H = 160;
    lp_buffer_image img;
    lpt_make_photo(&img, W, H, LP_FORMAT_RGBA8, 45);
    for (uint32_t y = 0; y < H; y++)
        for (uint32_t x = 0; x < W; x++)
            img.pixels[y * img.stride + x * 4 + 3] = (uint8_t)(x < W / 2 ? 255 : 255 - y);
    img.info.meta.orientation = 6;
    lp_encode_options o;
    grid_options(&o, 128, 64);
    o.quality = 80;
    encode_ok(&img, &o, lpt_path("grid-chromium-alpha.avif"));
    lp_buffer_image shown, expect, area;
    lpt_apply_orientation(&img, 6, &shown);
    assert_int_equal(lp_buffer_image_alloc(&expect, H, W, LP_FORMAT_RGB8, NULL, NULL), LP_OK);
    for (uint32_t y = 0; y < W; y++)
        for (uint32_t x = 0; x < H; x++) {
            const uint8_t *s = shown.pixels + y * shown.stride + x * 4;
            for (int c = 0; c < 3; c++)
                expect.pixels[y * expect.stride + x * 3 + c] = (uint8_t)((s[c] * s[3] + 127) / 255);
        }
    chromium_render("grid-chromium-alpha.avif", H, W, &area);
    double psnr = lpt_psnr(&expect, &area);
    fprintf(stderr, "chromium, orientation 6 with alpha: %.2f dB\n", psnr);
    assert_true(psnr > 30.0);
    lp_buffer_image_free(&area);
    lp_buffer_image_free(&expect);
    lp_buffer_image_free(&shown);
    lp_buffer_image_free(&img);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_av1c_from_sequence_header),
        cmocka_unit_test(test_default_cell),
        cmocka_unit_test(test_decoders_and_cell_placement),
        cmocka_unit_test(test_cropped_last_row_and_column),
        cmocka_unit_test(test_odd_strips),
        cmocka_unit_test(test_odd_size_is_444),
        cmocka_unit_test(test_metadata_items),
        cmocka_unit_test(test_one_cell_grid_and_tiny_image),
        cmocka_unit_test(test_256_cells),
        cmocka_unit_test(test_alpha_grid),
        cmocka_unit_test(test_alpha_odd_sizes),
        cmocka_unit_test(test_every_orientation),
        cmocka_unit_test(test_orientation_with_alpha),
        cmocka_unit_test(test_seams),
        cmocka_unit_test(test_ten_bit),
        cmocka_unit_test(test_444),
        cmocka_unit_test(test_cell_store_counts_its_bytes),
        cmocka_unit_test(test_spilled_cells_same_file),
        cmocka_unit_test(test_cancelled_midway),
        cmocka_unit_test(test_limits_refused),
        cmocka_unit_test(test_budget_fewer_encoders_or_refused),
        cmocka_unit_test(test_counted_memory_and_prediction),
        cmocka_unit_test(test_heif_writer_large_file),
        cmocka_unit_test(test_chromium_renders_grid),
        cmocka_unit_test(test_chromium_rotated_alpha_grid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
