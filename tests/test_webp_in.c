/*
 * test_webp_in.c - the WebP source (webp_load.c).
 *
 * Files written by cwebp (lossy, lossless, lossy with alpha, odd sizes) decoded by ours and
 * compared with dwebp's decoding of the same file (the same libwebp: identical samples);
 * shrink-on-load compared with dwebp -resize; ICC, EXIF (orientation) and XMP set with
 * webpmux carried byte for byte; an animation refused; a header over the limits refused
 * before the frame exists; truncated and damaged files give an error; the whole frame is
 * declared (whole_image, held_bytes) and counted.
 */
#include "testutil.h"
#include "codec/webp_load.h"

#include <string.h>
#include <unistd.h>

/* ---- helpers ---- */

/* A photo-like PNG (through our encoder) at path. */
static void make_png(const char *path, uint32_t w, uint32_t h, lp_format f, uint32_t seed)
{
    lp_buffer_image img;
    lpt_make_photo(&img, w, h, f, seed);
    lp_output *out;
    assert_int_equal(lp_output_open_file(&out, path, NULL), LP_OK);
    lp_encode_options opts;
    lp_encode_options_default(&opts, LP_FILE_PNG);
    lp_sink *sink;
    assert_int_equal(lp_png_sink_new(&sink, out, &opts, NULL, NULL), LP_OK);
    lp_stage *src;
    assert_int_equal(lp_buffer_source_new(&src, &img, 0, NULL), LP_OK);
    assert_int_equal(lp_pipeline_run(src, sink, NULL, NULL, NULL), LP_OK);
    assert_int_equal(lp_output_commit(out, NULL), LP_OK);
    lp_sink_destroy(sink);
    lp_stage_destroy(src);
    lp_output_close(out);
    lp_buffer_image_free(&img);
}

/* cwebp's encoding of a fresh photo-like picture; returns the .webp path. */
static const char *make_webp(const char *name, uint32_t w, uint32_t h, lp_format f,
                             const char *args)
{
    const char *png = lpt_path("src.png");
    make_png(png, w, h, f, 5);
    const char *webp = lpt_path(name);
    assert_int_equal(lpt_run("cwebp -quiet %s '%s' -o '%s'", args, png, webp), 0);
    return webp;
}

static lp_stage *open_webp(const char *path, const lp_limits *limits, lp_mem *mem, lp_error *err)
{
    lp_input *in;
    assert_int_equal(lp_input_open_file(&in, path, LP_IO_READ, 0, NULL), LP_OK);
    lp_stage *src = NULL;
    if (lp_webp_source_new(&src, in, limits, mem, err) != LP_OK)
        return NULL;
    assert_string_equal(src->ops->name, "webp-load");
    return src;
}

/* Decodes with ours; shrink_to > 1 asks for shrink-on-load by that factor. */
static lp_status decode_ours(const char *path, unsigned shrink_to, lp_buffer_image *img,
                             unsigned *factor, lp_error *err)
{
    memset(img, 0, sizeof *img);
    lp_stage *src = open_webp(path, NULL, NULL, err);
    if (!src)
        return err->status;
    if (shrink_to > 1) {
        unsigned f = lp_stage_shrink(src, shrink_to);
        if (factor)
            *factor = f;
    }
    lp_status st = lp_pipeline_to_buffer(src, img, NULL, err);
    lp_stage_destroy(src);
    return st;
}

/* dwebp's decoding as PAM (RGBA) or PPM (RGB); extra e.g. "-resize 25 16". */
static void decode_dwebp(const char *path, bool alpha, const char *extra, lp_buffer_image *img)
{
    const char *out = lpt_path(alpha ? "ref.pam" : "ref.ppm");
    assert_int_equal(lpt_run("dwebp -quiet %s %s '%s' -o '%s'", alpha ? "-pam" : "-ppm", extra,
                             path, out), 0);
    assert_true(lpt_read_pnm(out, img));
}

static void assert_same(const lp_buffer_image *want, const lp_buffer_image *got, const char *what)
{
    assert_int_equal(want->info.width, got->info.width);
    assert_int_equal(want->info.height, got->info.height);
    if (want->info.format != got->info.format)
        fail_msg("%s: format %s, want %s", what, lp_format_name(got->info.format),
                 lp_format_name(want->info.format));
    size_t row = (size_t)want->info.width * lp_format_pixel_bytes(want->info.format);
    for (uint32_t y = 0; y < want->info.height; y++)
        if (memcmp(want->pixels + y * want->stride, got->pixels + y * got->stride, row))
            fail_msg("%s: row %u differs from dwebp's", what, y);
}

/* ---- tests ---- */

static void test_match_dwebp(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("cwebp");
    LPT_REQUIRE_TOOL("dwebp");
    static const struct {
        const char *name;
        lp_format f;
        const char *args;
        uint32_t w, h;
    } cases[] = {
        {"lossy.webp", LP_FORMAT_RGB8, "-q 80", 211, 157},
        {"lossy-tiny.webp", LP_FORMAT_RGB8, "-q 50", 1, 1},
        {"lossy-tall.webp", LP_FORMAT_RGB8, "-q 90 -sharp_yuv", 17, 900},
        {"lossless.webp", LP_FORMAT_RGB8, "-lossless", 131, 77},
        {"lossy-alpha.webp", LP_FORMAT_RGBA8, "-q 75 -alpha_q 90", 203, 161},
        {"lossless-alpha.webp", LP_FORMAT_RGBA8, "-lossless -exact", 99, 65},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *webp = make_webp(cases[i].name, cases[i].w, cases[i].h, cases[i].f,
                                     cases[i].args);
        lp_buffer_image ours, ref;
        lp_error err = {0};
        if (decode_ours(webp, 1, &ours, NULL, &err) != LP_OK)
            fail_msg("%s: %s", cases[i].name, lp_error_message(&err));
        decode_dwebp(webp, lp_format_has_alpha(cases[i].f), "", &ref);
        assert_same(&ref, &ours, cases[i].name);
        if (strstr(cases[i].args, "-exact")) {  /* lossless: the source picture itself */
            lp_buffer_image src;
            lpt_make_photo(&src, cases[i].w, cases[i].h, cases[i].f, 5);
            assert_same(&src, &ours, "lossless against the source");
            lp_buffer_image_free(&src);
        }
        lp_buffer_image_free(&ours);
        lp_buffer_image_free(&ref);
    }
}

static void test_shrink_on_load(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("cwebp");
    LPT_REQUIRE_TOOL("dwebp");
    const char *webp = make_webp("shrink.webp", 403, 301, LP_FORMAT_RGB8, "-q 85");
    lp_buffer_image ours, ref;
    unsigned factor = 0;
    lp_error err = {0};
    assert_int_equal(decode_ours(webp, 4, &ours, &factor, &err), LP_OK);
    assert_int_equal(factor, 4);
    assert_int_equal(ours.info.width, 101);  /* ceil(403 / 4): never below the target */
    assert_int_equal(ours.info.height, 76);
    decode_dwebp(webp, false, "-resize 101 76", &ref);
    assert_same(&ref, &ours, "shrunk by 4");
    lp_buffer_image_free(&ours);
    lp_buffer_image_free(&ref);
    /* a target just over half the size: only 1 fits */
    assert_int_equal(lp_webp_shrink_factor(403, 301, 203, 150), 1);
    assert_int_equal(lp_webp_shrink_factor(403, 301, 202, 151), 2);
    assert_int_equal(lp_webp_shrink_factor(403, 301, 1, 1), 8);
}

static const uint8_t exif_tiff[] = {
    'M', 'M', 0, 42, 0, 0, 0, 8, 0, 1,
    0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0,  /* Orientation = 6 */
    0, 0, 0, 0,
};

static void test_metadata_from_webpmux(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("cwebp");
    LPT_REQUIRE_TOOL("webpmux");
    const char *webp = make_webp("plain.webp", 64, 48, LP_FORMAT_RGB8, "-q 80");
    uint8_t icc[1001];
    for (size_t i = 0; i < sizeof icc; i++)
        icc[i] = (uint8_t)(i * 7 + 3);
    static const char xmp[] = "<x:xmpmeta xmlns:x='adobe:ns:meta/'>leanpix-webp-test</x:xmpmeta>";
    /* lpt_path's buffers rotate: keep copies of the names */
    char plain[512], icc_file[512], exif_file[512], xmp_file[512], a[512], b[512], c[512];
    snprintf(plain, sizeof plain, "%s", webp);
    snprintf(icc_file, sizeof icc_file, "%s", lpt_path("p.icc"));
    snprintf(exif_file, sizeof exif_file, "%s", lpt_path("p.exif"));
    snprintf(xmp_file, sizeof xmp_file, "%s", lpt_path("p.xmp"));
    snprintf(a, sizeof a, "%s", lpt_path("meta-a.webp"));
    snprintf(b, sizeof b, "%s", lpt_path("meta-b.webp"));
    snprintf(c, sizeof c, "%s", lpt_path("meta.webp"));
    lpt_write_file(icc_file, icc, sizeof icc);
    lpt_write_file(exif_file, exif_tiff, sizeof exif_tiff);
    lpt_write_file(xmp_file, xmp, sizeof xmp - 1);
    assert_int_equal(lpt_run("webpmux -set icc '%s' '%s' -o '%s' && webpmux -set exif '%s' '%s' -o "
                             "'%s' && webpmux -set xmp '%s' '%s' -o '%s' >/dev/null 2>&1",
                             icc_file, plain, a, exif_file, a, b, xmp_file, b, c), 0);
    lp_error err = {0};
    lp_stage *s = open_webp(c, NULL, NULL, &err);
    if (!s)
        fail_msg("%s", lp_error_message(&err));
    const lp_metadata *m = &s->info.meta;
    assert_int_equal(m->icc_size, sizeof icc);
    assert_memory_equal(m->icc, icc, sizeof icc);
    assert_int_equal(m->exif_size, sizeof exif_tiff);
    assert_memory_equal(m->exif, exif_tiff, sizeof exif_tiff);
    assert_int_equal(m->xmp_size, sizeof xmp - 1);
    assert_memory_equal(m->xmp, xmp, sizeof xmp - 1);
    assert_int_equal(m->orientation, 6);
    assert_null(m->dropped);
    lp_stage_destroy(s);

    /* under a metadata limit smaller than the ICC profile, it is left out and said so */
    lp_limits limits;
    lp_limits_default(&limits);
    limits.max_metadata_bytes = 500;
    lp_input *in;
    assert_int_equal(lp_input_open_file(&in, c, LP_IO_READ, 0, NULL), LP_OK);
    assert_int_equal(lp_webp_source_new(&s, in, &limits, NULL, &err), LP_OK);
    assert_null(s->info.meta.icc);
    assert_non_null(s->info.meta.dropped);
    lp_stage_destroy(s);
}

/* The batch's probe (chunk headers by small reads) states what the opened source does. */
static void test_probe_agrees_with_the_source(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("cwebp");
    LPT_REQUIRE_TOOL("webpmux");
    static const struct {
        lp_format f;
        const char *args;
    } cases[] = {{LP_FORMAT_RGB8, "-q 80"}, {LP_FORMAT_RGB8, "-lossless"},
                 {LP_FORMAT_RGBA8, "-q 80"}, {LP_FORMAT_RGBA8, "-lossless"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char webp[512], with_exif[600];
        snprintf(webp, sizeof webp, "%s", make_webp("probe.webp", 45, 33, cases[i].f, cases[i].args));
        snprintf(with_exif, sizeof with_exif, "%s", lpt_path("probe-exif.webp"));
        lpt_write_file(lpt_path("o.exif"), exif_tiff, sizeof exif_tiff);
        assert_int_equal(lpt_run("webpmux -set exif '%s' '%s' -o '%s' >/dev/null 2>&1",
                                 lpt_path("o.exif"), webp, with_exif), 0);
        const char *files[] = {webp, with_exif};
        for (size_t k = 0; k < 2; k++) {
            lp_probe probe, from_info;
            lp_error err = {0};
            if (lp_probe_file(files[k], &probe, &err) != LP_OK)
                fail_msg("%s: %s", cases[i].args, lp_error_message(&err));
            lp_stage *s = open_webp(files[k], NULL, NULL, &err);
            assert_non_null(s);
            lp_probe_from_info(&s->info, probe.file_bytes, &from_info);
            assert_int_equal(probe.format, LP_FILE_WEBP);
            assert_int_equal(probe.width, from_info.width);
            assert_int_equal(probe.height, from_info.height);
            if (probe.components != from_info.components)
                fail_msg("%s: probe says %u components, the source yields %u", cases[i].args,
                         probe.components, from_info.components);
            assert_int_equal(probe.progressive, from_info.progressive);
            assert_int_equal(probe.orientation, from_info.orientation);
            assert_int_equal(probe.orientation, k ? 6 : 1);
            lp_stage_destroy(s);
        }
    }
}

/* The CLI reads WebP through the registry: metadata carried into a PNG, orientation
 * applied, shrink-on-load planned; batch picks .webp files out of a directory. */
static void test_cli_convert_and_batch(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("cwebp");
    LPT_REQUIRE_TOOL("webpmux");
    char webp[512], meta[600], png[600], dir[600], out[600];
    snprintf(webp, sizeof webp, "%s", make_webp("cli.webp", 160, 120, LP_FORMAT_RGB8, "-q 80"));
    snprintf(meta, sizeof meta, "%s", lpt_path("cli-meta.webp"));
    snprintf(png, sizeof png, "%s", lpt_path("cli.png"));
    snprintf(dir, sizeof dir, "%s", lpt_path("cli-dir"));
    snprintf(out, sizeof out, "%s", lpt_path("cli-out"));
    static const char xmp[] = "<x:xmpmeta xmlns:x='adobe:ns:meta/'>cli</x:xmpmeta>";
    lpt_write_file(lpt_path("c.exif"), exif_tiff, sizeof exif_tiff);
    lpt_write_file(lpt_path("c.xmp"), xmp, sizeof xmp - 1);
    char exif_file[512];
    snprintf(exif_file, sizeof exif_file, "%s", lpt_path("c.exif"));
    assert_int_equal(lpt_run("webpmux -set exif '%s' '%s' -o '%s.tmp' >/dev/null 2>&1 && "
                             "webpmux -set xmp '%s' '%s.tmp' -o '%s' >/dev/null 2>&1",
                             exif_file, webp, meta, lpt_path("c.xmp"), meta, meta), 0);
    char json[4096];
    assert_int_equal(lpt_run_capture(json, sizeof json, "'%s' convert '%s' '%s' --resize 40x --json",
                                     lpt_bin(), meta, png), 0);
    assert_non_null(strstr(json, "\"input_format\":\"webp\""));
    lp_input *in;
    assert_int_equal(lp_input_open_file(&in, png, LP_IO_READ, 0, NULL), LP_OK);
    lp_stage *s;
    assert_int_equal(lp_png_source_new(&s, in, NULL, NULL, NULL), LP_OK);
    /* orientation 6 shows 120x160: fit to 40 wide -> 40x53 shown, stored 53x40 */
    assert_int_equal(s->info.height * 4, 160);
    assert_int_equal(s->info.meta.xmp_size, sizeof xmp - 1);
    assert_memory_equal(s->info.meta.xmp, xmp, sizeof xmp - 1);
    lp_stage_destroy(s);

    assert_int_equal(lpt_run("rm -rf '%s' '%s' && mkdir -p '%s' && cp '%s' '%s/a.webp' && cp '%s' "
                             "'%s/b.webp'", dir, out, dir, webp, dir, meta, dir), 0);
    assert_int_equal(lpt_run("'%s' batch -o '%s' --format jpeg '%s' >/dev/null 2>&1", lpt_bin(), out,
                             dir), 0);
    char made[700];
    snprintf(made, sizeof made, "%s/a.jpg", out);
    assert_true(lpt_file_exists(made));
    snprintf(made, sizeof made, "%s/b.jpg", out);
    assert_true(lpt_file_exists(made));
}

static void test_animation_refused(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("img2webp");
    const char *p1 = lpt_path("f1.png"), *p2 = lpt_path("f2.png");
    make_png(p1, 32, 24, LP_FORMAT_RGB8, 1);
    make_png(p2, 32, 24, LP_FORMAT_RGB8, 2);
    const char *anim = lpt_path("anim.webp");
    assert_int_equal(lpt_run("img2webp -q 70 '%s' '%s' -o '%s' >/dev/null 2>&1", p1, p2, anim), 0);
    lp_error err = {0};
    assert_null(open_webp(anim, NULL, NULL, &err));
    assert_int_equal(err.status, LP_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.message, "animated"));
}

static void put_le(uint8_t *p, uint32_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void test_limits_before_the_frame(void **state)
{
    (void)state;
    /* a VP8X container claiming 16383 x 16383, followed by a lossless header of that size */
    uint8_t f[64] = {0};
    memcpy(f, "RIFF", 4);
    put_le(f + 4, sizeof f - 8, 4);
    memcpy(f + 8, "WEBPVP8X", 8);
    put_le(f + 16, 10, 4);
    put_le(f + 24, 16382, 3);
    put_le(f + 27, 16382, 3);
    memcpy(f + 30, "VP8L", 4);
    put_le(f + 34, sizeof f - 38, 4);
    f[38] = 0x2f;
    put_le(f + 39, 16382u | 16382u << 14, 4);
    const char *path = lpt_path("huge.webp");
    lpt_write_file(path, f, sizeof f);
    lp_limits limits;
    lp_limits_default(&limits);
    limits.max_pixels = 100000000;  /* 16383^2 is 268 M */
    lp_mem *mem = lp_mem_new(0, NULL);
    lp_error err = {0};
    assert_null(open_webp(path, &limits, mem, &err));
    assert_int_equal(err.status, LP_ERR_LIMITS);
    assert_true(lp_mem_peak(mem) < 4096);  /* the 64-byte file, nothing more */
    lp_mem_free_tracker(mem);
}

/* libwebpdemux keeps a record for every chunk, outside our allocator (an 80 MB file of 10
 * million empty chunks: 320 MB beside the counted file, found 2026-12-03): a still with
 * 64 chunks is read, one with 65 is refused before demux. */
static void test_chunk_count_bounded(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("cwebp");
    const char *webp = make_webp("few.webp", 64, 48, LP_FORMAT_RGBA8, "-q 80");
    size_t size;
    uint8_t *data = lpt_read_file(webp, &size);
    assert_non_null(data);
    assert_memory_equal(data + 12, "VP8X", 4);  /* VP8X, ALPH, VP8: 3 chunks */
    for (unsigned extra = 61; extra <= 62; extra++) {
        size_t n = size + 8 * extra;
        uint8_t *f = malloc(n);
        assert_non_null(f);
        memcpy(f, data, size);
        for (unsigned k = 0; k < extra; k++)
            memcpy(f + size + 8 * k, "ABCD\0\0\0\0", 8);
        put_le(f + 4, (uint32_t)(n - 8), 4);
        const char *path = lpt_path("chunks.webp");
        lpt_write_file(path, f, n);
        free(f);
        lp_error err = {0};
        lp_stage *src = open_webp(path, NULL, NULL, &err);
        if (extra == 61) {
            assert_non_null(src);
            lp_stage_destroy(src);
        } else {
            assert_null(src);
            assert_int_equal(err.status, LP_ERR_UNSUPPORTED);
            assert_non_null(strstr(err.message, "more than 64 chunks"));
        }
    }
    free(data);
}

static void test_truncated_and_damaged(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("cwebp");
    const char *args[] = {"-q 80", "-lossless", "-q 70 -alpha_q 50"};
    for (size_t v = 0; v < 3; v++) {
        const char *webp = make_webp("whole.webp", 150, 100, v == 2 ? LP_FORMAT_RGBA8 : LP_FORMAT_RGB8,
                                     args[v]);
        size_t size;
        uint8_t *data = lpt_read_file(webp, &size);
        const char *bad = lpt_path("bad.webp");
        for (size_t cut = 0; cut < size; cut += size / 9 + 1) {
            lpt_write_file(bad, data, cut);
            lp_buffer_image img;
            lp_error err = {0};
            lp_status st = decode_ours(bad, 1, &img, NULL, &err);
            if (st == LP_OK)
                fail_msg("%s cut to %zu of %zu bytes decoded", args[v], cut, size);
            assert_true(strlen(err.message) > 0);
        }
        for (size_t at = 40; at < size; at += size / 5) {  /* damaged bytes: no crash */
            uint8_t *copy = malloc(size);
            memcpy(copy, data, size);
            for (size_t i = at; i < at + 16 && i < size; i++)
                copy[i] ^= 0x5a;
            lpt_write_file(bad, copy, size);
            lp_buffer_image img;
            lp_error err = {0};
            if (decode_ours(bad, 1, &img, NULL, &err) == LP_OK)
                lp_buffer_image_free(&img);
            free(copy);
        }
        free(data);
    }
}

static void test_whole_frame_declared_and_counted(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("cwebp");
    const char *webp = make_webp("count.webp", 640, 480, LP_FORMAT_RGB8, "-q 80");
    lp_mem *mem = lp_mem_new(0, NULL);
    lp_error err = {0};
    lp_stage *s = open_webp(webp, NULL, mem, &err);
    assert_non_null(s);
    assert_true(s->whole_image);
    uint64_t frame = 640ull * 480 * 3;
    lp_strip strip;
    uint32_t rows = 0;
    do {
        assert_int_equal(lp_stage_next(s, &strip, &err), LP_OK);
        assert_true(strip.rows <= 16);
        if (strip.rows)
            assert_int_equal(strip.y, rows);
        rows += strip.rows;
    } while (strip.rows);
    assert_int_equal(rows, 480);
    assert_int_equal(s->held_bytes, frame);
    /* the frame, the file and libwebp's reserve: counted, not much more */
    assert_true(lp_mem_peak(mem) >= frame);
    assert_true(lp_mem_peak(mem) < frame + frame / 2);
    lp_stage_destroy(s);
    assert_int_equal(lp_mem_current(mem), 0);
    lp_mem_free_tracker(mem);

    /* a budget below the frame: refused at the first strip, nothing left counted */
    mem = lp_mem_new(frame / 2, NULL);
    s = open_webp(webp, NULL, mem, &err);
    assert_non_null(s);
    assert_int_equal(lp_stage_next(s, &strip, &err), LP_ERR_NOMEM);
    lp_stage_destroy(s);
    assert_int_equal(lp_mem_current(mem), 0);
    lp_mem_free_tracker(mem);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match_dwebp),
        cmocka_unit_test(test_shrink_on_load),
        cmocka_unit_test(test_metadata_from_webpmux),
        cmocka_unit_test(test_probe_agrees_with_the_source),
        cmocka_unit_test(test_cli_convert_and_batch),
        cmocka_unit_test(test_animation_refused),
        cmocka_unit_test(test_limits_before_the_frame),
        cmocka_unit_test(test_chunk_count_bounded),
        cmocka_unit_test(test_truncated_and_damaged),
        cmocka_unit_test(test_whole_frame_declared_and_counted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
