/*
 * test_tiff_in.c - the TIFF source (tiff_load.c).
 *
 * TIFFs written by ImageMagick (strips and tiles; 1/4/8/16-bit; gray, min-is-white, RGB,
 * RGBA, CMYK, palette; none, LZW, Deflate, PackBits, JPEG) decoded by ours and compared
 * with ImageMagick's own reading of the same file (exact for lossless files, PSNR for
 * JPEG); ICC, XMP and orientation carried; a header claiming 100000 x 100000 refused
 * from the header with a tiny counted peak; truncated and damaged files give an error.
 */
#include "testutil.h"

#include <string.h>
#include <tiffio.h>
#include <unistd.h>

#define IM "/usr/bin/convert"  /* ImageMagick's; /usr/local/bin/convert may be a stand-in */

#define REQUIRE_IMAGEMAGICK()                                                              \
    do {                                                                                   \
        if (access(IM, X_OK) != 0) {                                                       \
            fprintf(stderr, "SKIP: ImageMagick (" IM ") is not installed\n");             \
            skip();                                                                        \
        }                                                                                  \
    } while (0)

/* ---- helpers ---- */

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
                uint16_t v;
                memcpy(&v, p + i, 2);
                fputc(v >> 8, fp);
                fputc(v & 0xff, fp);
            } else {
                fputc(p[i], fp);
            }
        }
    }
    fclose(fp);
}

/* Opens our TIFF source on path; NULL (and err) on failure. */
static lp_stage *open_tiff(const char *path, const lp_limits *limits, lp_mem *mem, lp_error *err)
{
    lp_input *in;
    assert_int_equal(lp_input_open_file(&in, path, LP_IO_READ, 0, NULL), LP_OK);
    lp_stage *src = NULL;
    if (lp_tiff_source_new(&src, in, limits, mem, err) != LP_OK)
        return NULL;
    assert_string_equal(src->ops->name, "tiff-load");
    return src;
}

static lp_status decode_ours(const char *path, lp_buffer_image *img, lp_mem *mem, lp_error *err)
{
    memset(img, 0, sizeof *img);
    lp_stage *src = open_tiff(path, NULL, mem, err);
    if (!src)
        return err->status;
    lp_status st = lp_pipeline_to_buffer(src, img, mem, err);
    lp_stage_destroy(src);
    return st;
}

/* ImageMagick's reading of path, as PAM (ref_args e.g. "-colorspace sRGB"). */
static void decode_imagemagick(const char *path, const char *ref_args, lp_buffer_image *img)
{
    const char *pam = lpt_path("ref.pam");
    assert_int_equal(lpt_run(IM " '%s' %s '%s' 2>/dev/null", path, ref_args, pam), 0);
    assert_true(lpt_read_pnm(pam, img));
}

static unsigned sample_of(const lp_buffer_image *img, uint32_t x, uint32_t y, unsigned c)
{
    lp_format f = img->info.format;
    const uint8_t *p = img->pixels + (size_t)y * img->stride + (size_t)x * lp_format_pixel_bytes(f);
    if (lp_format_sample_bytes(f) == 2) {
        uint16_t v;
        memcpy(&v, p + 2 * c, 2);
        return v;
    }
    return p[c];
}

/* Largest difference of any sample; formats must match. When min_alpha > 0, pixels whose
 * alpha is below it are skipped (premultiplied round trips lose their colour). */
static unsigned max_diff(const lp_buffer_image *want, const lp_buffer_image *got, unsigned min_alpha)
{
    assert_int_equal(want->info.width, got->info.width);
    assert_int_equal(want->info.height, got->info.height);
    if (want->info.format != got->info.format)
        fail_msg("format: want %s, got %s", lp_format_name(want->info.format),
                 lp_format_name(got->info.format));
    unsigned ch = lp_format_channels(want->info.format);
    bool alpha = lp_format_has_alpha(want->info.format);
    unsigned worst = 0;
    for (uint32_t y = 0; y < want->info.height; y++)
        for (uint32_t x = 0; x < want->info.width; x++) {
            if (min_alpha && alpha && sample_of(want, x, y, ch - 1) < min_alpha)
                continue;
            for (unsigned c = 0; c < ch; c++) {
                unsigned a = sample_of(want, x, y, c), b = sample_of(got, x, y, c);
                unsigned d = a > b ? a - b : b - a;
                worst = d > worst ? d : worst;
            }
        }
    return worst;
}

/* A source picture in format f written as PAM for ImageMagick; levels > 0 quantises gray
 * to that many evenly spaced values (what a 1- or 4-bit file holds). */
static const char *make_source(uint32_t w, uint32_t h, lp_format f, unsigned levels)
{
    lp_buffer_image img;
    lpt_make_photo(&img, w, h, f, 11);
    if (levels) {
        unsigned step = 255 / (levels - 1);
        for (uint32_t y = 0; y < h; y++)
            for (uint32_t x = 0; x < w; x++) {
                uint8_t *p = img.pixels + y * img.stride + x;
                *p = (uint8_t)((*p * (levels - 1) + 127) / 255 * step);
            }
    }
    const char *pam = lpt_path("src.pam");
    write_pam(pam, &img);
    lp_buffer_image_free(&img);
    return pam;
}

typedef struct tiff_case {
    const char *name;
    lp_format source;        /* what the picture is made as */
    unsigned levels;         /* gray levels (0 = all) */
    const char *args;        /* ImageMagick's writing options */
    const char *ref_args;    /* ImageMagick's reading options */
    lp_format expect;        /* what our source yields */
    unsigned tolerance;      /* max sample difference; 0 = exact */
    double min_psnr;         /* lossy: PSNR instead of tolerance */
    unsigned min_alpha;
} tiff_case;

static const tiff_case cases[] = {
    {"rgb8-none", LP_FORMAT_RGB8, 0, "-compress none", "", LP_FORMAT_RGB8, 0, 0, 0},
    {"rgb8-lzw", LP_FORMAT_RGB8, 0, "-compress lzw", "", LP_FORMAT_RGB8, 0, 0, 0},
    {"rgb8-deflate-pred", LP_FORMAT_RGB8, 0, "-compress zip -define tiff:predictor=2", "",
     LP_FORMAT_RGB8, 0, 0, 0},
    {"rgb8-packbits", LP_FORMAT_RGB8, 0, "-compress rle", "", LP_FORMAT_RGB8, 0, 0, 0},
    {"rgb8-one-strip", LP_FORMAT_RGB8, 0, "-compress lzw -define tiff:rows-per-strip=4096", "",
     LP_FORMAT_RGB8, 0, 0, 0},
    {"rgb8-jpeg", LP_FORMAT_RGB8, 0, "-compress jpeg -quality 90", "", LP_FORMAT_RGB8, 0, 45, 0},
    {"rgb8-tiles-lzw", LP_FORMAT_RGB8, 0, "-compress lzw -define tiff:tile-geometry=32x48", "",
     LP_FORMAT_RGB8, 0, 0, 0},
    {"rgb8-tiles-jpeg", LP_FORMAT_RGB8, 0, "-compress jpeg -define tiff:tile-geometry=64x64", "",
     LP_FORMAT_RGB8, 0, 45, 0},
    {"rgb16-deflate", LP_FORMAT_RGB16, 0, "-depth 16 -compress zip", "", LP_FORMAT_RGB16, 0, 0, 0},
    {"rgb16-tiles", LP_FORMAT_RGB16, 0, "-depth 16 -define tiff:tile-geometry=48x32", "",
     LP_FORMAT_RGB16, 0, 0, 0},
    {"rgba8-lzw", LP_FORMAT_RGBA8, 0, "-compress lzw -define tiff:alpha=unassociated", "",
     LP_FORMAT_RGBA8, 0, 0, 0},
    {"rgba8-associated", LP_FORMAT_RGBA8, 0, "-define tiff:alpha=associated", "", LP_FORMAT_RGBA8,
     2, 0, 128},
    {"rgba16-none", LP_FORMAT_RGBA16, 0, "-depth 16 -compress none -define tiff:alpha=unassociated",
     "", LP_FORMAT_RGBA16, 0, 0, 0},
    {"gray8-deflate", LP_FORMAT_G8, 0, "-compress zip", "", LP_FORMAT_G8, 0, 0, 0},
    {"gray16-lzw", LP_FORMAT_G16, 0, "-depth 16 -compress lzw", "", LP_FORMAT_G16, 0, 0, 0},
    {"gray8-miniswhite", LP_FORMAT_G8, 0, "-define quantum:polarity=min-is-white", "", LP_FORMAT_G8,
     0, 0, 0},
    {"gray4", LP_FORMAT_G8, 16, "-depth 4 -compress none", "-depth 8", LP_FORMAT_G8, 0, 0, 0},
    {"gray1-bilevel", LP_FORMAT_G8, 2, "-type bilevel -compress none", "-depth 8", LP_FORMAT_G8, 0, 0, 0},
    {"gray8-jpeg", LP_FORMAT_G8, 0, "-compress jpeg -quality 92", "", LP_FORMAT_G8, 0, 45, 0},
    {"palette8-lzw", LP_FORMAT_RGB8, 0, "-colors 200 -type palette -compress lzw",
     "-type truecolor", LP_FORMAT_RGB8, 0, 0, 0},
    {"palette4", LP_FORMAT_RGB8, 0, "-colors 12 -type palette -depth 4 -compress none",
     "-type truecolor -depth 8", LP_FORMAT_RGB8, 0, 0, 0},
    {"cmyk8-lzw", LP_FORMAT_RGB8, 0, "-colorspace cmyk -compress lzw", "-colorspace sRGB",
     LP_FORMAT_RGB8, 1, 0, 0},
    {"cmyk16-tiles", LP_FORMAT_RGB16, 0, "-depth 16 -colorspace cmyk -define tiff:tile-geometry=64x32",
     "-colorspace sRGB", LP_FORMAT_RGB16, 2, 0, 0},
};

static void run_case(const tiff_case *c, uint32_t w, uint32_t h)
{
    const char *src = make_source(w, h, c->source, c->levels);
    char name[96];
    snprintf(name, sizeof name, "%s.tif", c->name);
    const char *tif = lpt_path(name);
    assert_int_equal(lpt_run(IM " '%s' %s '%s'", src, c->args, tif), 0);
    lp_buffer_image ours, ref;
    lp_error err = {0};
    if (decode_ours(tif, &ours, NULL, &err) != LP_OK)
        fail_msg("%s: %s", c->name, lp_error_message(&err));
    decode_imagemagick(tif, c->ref_args, &ref);
    if (ours.info.format != c->expect)
        fail_msg("%s: format %s, want %s", c->name, lp_format_name(ours.info.format),
                 lp_format_name(c->expect));
    if (c->min_psnr > 0) {
        double psnr = lpt_psnr(&ref, &ours);
        if (psnr < c->min_psnr)
            fail_msg("%s: PSNR %.1f dB against ImageMagick, want >= %.0f", c->name, psnr,
                     c->min_psnr);
    } else {
        unsigned d = max_diff(&ref, &ours, c->min_alpha);
        if (d > c->tolerance)
            fail_msg("%s: a sample differs by %u from ImageMagick's (tolerance %u)", c->name, d,
                     c->tolerance);
    }
    lp_buffer_image_free(&ours);
    lp_buffer_image_free(&ref);
}

/* ---- tests ---- */

static void test_variants_match_imagemagick(void **state)
{
    (void)state;
    REQUIRE_IMAGEMAGICK();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_case(&cases[i], 97, 61);  /* odd: partial tiles, strips and bytes */
}

/* vips writes JPEG-compressed TIFFs as YCbCr (4:2:0): libjpeg converts them back to RGB. */
static void test_ycbcr_jpeg_from_vips(void **state)
{
    (void)state;
    REQUIRE_IMAGEMAGICK();
    LPT_REQUIRE_TOOL("vips");
    const char *src = make_source(97, 61, LP_FORMAT_RGB8, 0);
    const char *png = lpt_path("src.png");
    assert_int_equal(lpt_run(IM " '%s' '%s'", src, png), 0);
    const char *opts[] = {"compression=jpeg,Q=85", "compression=jpeg,Q=85,tile,tile-width=32,tile-height=32"};
    for (size_t i = 0; i < 2; i++) {
        const char *tif = lpt_path("ycbcr.tif");
        assert_int_equal(lpt_run("vips copy '%s' '%s[%s]'", png, tif, opts[i]), 0);
        assert_int_equal(lpt_run(IM " '%s' -verbose info: | grep -q 'photometric: YCBCR'", tif), 0);
        lp_buffer_image ours, ref;
        lp_error err = {0};
        if (decode_ours(tif, &ours, NULL, &err) != LP_OK)
            fail_msg("%s: %s", opts[i], lp_error_message(&err));
        assert_int_equal(ours.info.format, LP_FORMAT_RGB8);
        decode_imagemagick(tif, "", &ref);
        double psnr = lpt_psnr(&ref, &ours);
        if (psnr < 40)
            fail_msg("%s: PSNR %.1f dB against ImageMagick", opts[i], psnr);
        lp_buffer_image_free(&ours);
        lp_buffer_image_free(&ref);
    }
}

static void test_metadata_carried(void **state)
{
    (void)state;
    REQUIRE_IMAGEMAGICK();
    const char *icc = "/usr/share/color/icc/sRGB.icc";
    if (access(icc, R_OK) != 0) {
        fprintf(stderr, "SKIP: %s is absent (icc-profiles-free)\n", icc);
        skip();
    }
    const char *xmp = lpt_path("packet.xmp");
    static const char packet[] =
        "<?xpacket begin='' id='W5M0MpCehiHzreSzNTczkc9d'?><x:xmpmeta xmlns:x='adobe:ns:meta/'>"
        "<rdf:RDF xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'><rdf:Description "
        "xmlns:dc='http://purl.org/dc/elements/1.1/' dc:format='leanpix-tiff-test'/></rdf:RDF>"
        "</x:xmpmeta><?xpacket end='w'?>";
    lpt_write_file(xmp, packet, sizeof packet - 1);
    const char *src = make_source(40, 24, LP_FORMAT_RGB8, 0);
    const char *tif = lpt_path("meta.tif");
    assert_int_equal(lpt_run(IM " '%s' -profile '%s' -profile 'XMP:%s' -orient right-top '%s'", src,
                             icc, xmp, tif), 0);
    lp_error err = {0};
    lp_stage *s = open_tiff(tif, NULL, NULL, &err);
    if (!s)
        fail_msg("%s", lp_error_message(&err));
    size_t icc_size;
    uint8_t *icc_bytes = lpt_read_file(icc, &icc_size);
    assert_int_equal(s->info.meta.icc_size, icc_size);
    assert_memory_equal(s->info.meta.icc, icc_bytes, icc_size);
    assert_non_null(s->info.meta.xmp);
    char *text = strndup((const char *)s->info.meta.xmp, s->info.meta.xmp_size);
    assert_non_null(strstr(text, "leanpix-tiff-test"));
    assert_int_equal(s->info.meta.orientation, 6);
    free(text);
    free(icc_bytes);
    lp_stage_destroy(s);
}

/* The batch's probe (small reads, no decoder) states what the opened source does, so
 * that the batch's plan is the plan convert runs. */
static void test_probe_agrees_with_the_source(void **state)
{
    (void)state;
    REQUIRE_IMAGEMAGICK();
    const char *variants[] = {"-compress lzw", "-define tiff:tile-geometry=32x32",
                              "-depth 16 -colorspace cmyk", "-type palette -colors 9",
                              "-colorspace gray -orient bottom-right",
                              "-alpha set -define tiff:alpha=unassociated"};
    const char *src = make_source(50, 30, LP_FORMAT_RGB8, 0);
    for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++) {
        const char *tif = lpt_path("probe.tif");
        assert_int_equal(lpt_run(IM " '%s' %s '%s'", src, variants[v], tif), 0);
        lp_probe probe, from_info;
        lp_error err = {0};
        if (lp_probe_file(tif, &probe, &err) != LP_OK)
            fail_msg("%s: %s", variants[v], lp_error_message(&err));
        lp_stage *s = open_tiff(tif, NULL, NULL, &err);
        assert_non_null(s);
        lp_probe_from_info(&s->info, probe.file_bytes, &from_info);
        assert_int_equal(probe.format, LP_FILE_TIFF);
        assert_int_equal(probe.width, from_info.width);
        assert_int_equal(probe.height, from_info.height);
        if (probe.components != from_info.components)
            fail_msg("%s: probe says %u components, the source yields %u", variants[v],
                     probe.components, from_info.components);
        assert_int_equal(probe.bit_depth, from_info.bit_depth);
        assert_int_equal(probe.progressive, from_info.progressive);
        assert_true(probe.samples_per_pixel == from_info.samples_per_pixel);
        assert_int_equal(probe.orientation, from_info.orientation);
        lp_stage_destroy(s);
    }
}

/* The CLI reads TIFF through the registry: convert to JPEG (orientation applied, ICC
 * kept) and to AVIF; batch picks .tif files out of a directory. */
static void test_cli_convert_and_batch(void **state)
{
    (void)state;
    REQUIRE_IMAGEMAGICK();
    const char *icc = "/usr/share/color/icc/sRGB.icc";
    bool have_icc = access(icc, R_OK) == 0;
    const char *src = make_source(64, 40, LP_FORMAT_RGB8, 0);
    char dir[512], tif[600], jpg[600], avif[600], out[600];
    snprintf(dir, sizeof dir, "%s", lpt_path("cli"));
    snprintf(tif, sizeof tif, "%s/in.tif", dir);
    snprintf(jpg, sizeof jpg, "%s/out.jpg", lpt_tmpdir());
    snprintf(avif, sizeof avif, "%s/out.avif", lpt_tmpdir());
    snprintf(out, sizeof out, "%s/batch-out", lpt_tmpdir());
    assert_int_equal(lpt_run("rm -rf '%s' '%s' && mkdir -p '%s'", dir, out, dir), 0);
    assert_int_equal(lpt_run(IM " '%s' %s%s%s -orient right-top -compress lzw '%s'", src,
                             have_icc ? "-profile '" : "", have_icc ? icc : "",
                             have_icc ? "'" : "", tif), 0);
    assert_int_equal(lpt_run("'%s' convert '%s' '%s' --autorotate --no-progress", lpt_bin(), tif,
                             jpg), 0);
    lp_input *in;
    assert_int_equal(lp_input_open_file(&in, jpg, LP_IO_READ, 0, NULL), LP_OK);
    lp_stage *s;
    assert_int_equal(lp_jpeg_source_new(&s, in, NULL, NULL, NULL), LP_OK);
    assert_int_equal(s->info.width, 40);  /* turned: orientation 6 */
    assert_int_equal(s->info.height, 64);
    if (have_icc) {
        size_t icc_size;
        uint8_t *bytes = lpt_read_file(icc, &icc_size);
        assert_int_equal(s->info.meta.icc_size, icc_size);
        assert_memory_equal(s->info.meta.icc, bytes, icc_size);
        free(bytes);
    }
    lp_stage_destroy(s);

    assert_int_equal(lpt_run("'%s' convert '%s' '%s' --speed 10 --no-progress", lpt_bin(), tif,
                             avif), 0);
    if (lpt_have_tool("avifdec")) {
        lp_buffer_image ours, back;
        lp_error err = {0};
        assert_int_equal(decode_ours(tif, &ours, NULL, &err), LP_OK);
        assert_true(lpt_decode_external("avifdec", avif, &back));
        lpt_to_rgb8(&back, false);
        assert_true(lpt_psnr(&ours, &back) > 30);
        lp_buffer_image_free(&ours);
        lp_buffer_image_free(&back);
    }

    assert_int_equal(lpt_run(IM " '%s' -define tiff:tile-geometry=32x32 '%s/tiled.tiff'", src, dir), 0);
    assert_int_equal(lpt_run("'%s' batch -o '%s' --format png '%s' >/dev/null 2>&1", lpt_bin(), out,
                             dir), 0);
    char made[700];
    snprintf(made, sizeof made, "%s/in.png", out);
    assert_true(lpt_file_exists(made));
    snprintf(made, sizeof made, "%s/tiled.png", out);
    assert_true(lpt_file_exists(made));
}

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)v); put16(p + 2, (uint16_t)(v >> 16)); }

/* A little-endian TIFF whose one directory claims width x height RGB8 in one strip of 16
 * bytes of data (the file is a few hundred bytes). */
static size_t forge_tiff(uint8_t *buf, uint32_t width, uint32_t height)
{
    memset(buf, 0, 256);
    memcpy(buf, "II*\0", 4);
    put32(buf + 4, 8);
    static const uint16_t tags[][2] = {{256, 4}, {257, 4}, {258, 3}, {259, 3}, {262, 3},
                                       {273, 4}, {277, 3}, {278, 4}, {279, 4}};
    uint32_t values[] = {width, height, 8, 1, 2, 200, 3, height, 16};
    size_t n = sizeof tags / sizeof tags[0];
    put16(buf + 8, (uint16_t)n);
    for (size_t i = 0; i < n; i++) {
        uint8_t *e = buf + 10 + 12 * i;
        put16(e, tags[i][0]);
        put16(e + 2, tags[i][1]);
        put32(e + 4, 1);
        if (tags[i][1] == 3)
            put16(e + 8, (uint16_t)values[i]);
        else
            put32(e + 8, values[i]);
    }
    put32(buf + 10 + 12 * n, 0);  /* no next directory */
    return 216;
}

static void test_huge_header_refused_before_allocation(void **state)
{
    (void)state;
    uint8_t buf[256];
    size_t size = forge_tiff(buf, 100000, 100000);
    const char *path = lpt_path("huge.tif");
    lpt_write_file(path, buf, size);
    lp_mem *mem = lp_mem_new(0, NULL);
    lp_error err = {0};
    lp_stage *s = open_tiff(path, NULL, mem, &err);
    assert_null(s);
    assert_int_equal(err.status, LP_ERR_LIMITS);
    assert_non_null(strstr(err.message, "100000"));
    assert_true(lp_mem_peak(mem) < 4096);
    lp_mem_free_tracker(mem);

    /* within the limits, the same forged file opens (it is well-formed) and then fails on
     * its missing data, not before */
    size = forge_tiff(buf, 8, 1);
    lpt_write_file(path, buf, size);
    s = open_tiff(path, NULL, NULL, &err);
    assert_non_null(s);
    lp_stage_destroy(s);
}

static void test_truncated_and_damaged_give_errors(void **state)
{
    (void)state;
    REQUIRE_IMAGEMAGICK();
    const char *src = make_source(120, 90, LP_FORMAT_RGB8, 0);
    const char *variants[] = {"-compress lzw", "-compress zip -define tiff:tile-geometry=32x32",
                              "-compress jpeg", "-compress none"};
    for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++) {
        const char *tif = lpt_path("whole.tif");
        assert_int_equal(lpt_run(IM " '%s' %s '%s'", src, variants[v], tif), 0);
        size_t size;
        uint8_t *data = lpt_read_file(tif, &size);
        /* ImageMagick writes the directory at the end: cut the pixel data instead */
        const char *bad = lpt_path("bad.tif");
        uint8_t *copy = malloc(size);
        memcpy(copy, data, size);
        memset(copy + 8, 0xA5, size / 3);  /* pixel data (the IFD is after it) */
        lpt_write_file(bad, copy, size);
        lp_buffer_image img;
        lp_error err = {0};
        lp_status st = decode_ours(bad, &img, NULL, &err);
        if (st == LP_OK)
            lp_buffer_image_free(&img);  /* uncompressed garbage is still pixels */
        else
            assert_true(strlen(err.message) > 0);
        /* cuts inside the pixel data, which ImageMagick writes before the directory */
        size_t ifd = (size_t)data[4] | (size_t)data[5] << 8 | (size_t)data[6] << 16;
        assert_true(ifd > 8 && ifd < size);
        for (size_t cut = 4; cut < ifd; cut += ifd / 7 + 1) {
            lpt_write_file(bad, data, cut);
            memset(&err, 0, sizeof err);
            st = decode_ours(bad, &img, NULL, &err);
            if (st == LP_OK)
                fail_msg("%s cut to %zu of %zu bytes decoded", variants[v], cut, size);
            assert_true(strlen(err.message) > 0);
            assert_null(strchr(err.message, '\n'));
        }
        free(copy);
        free(data);
    }
}

static void test_memory_is_a_few_rows(void **state)
{
    (void)state;
    REQUIRE_IMAGEMAGICK();
    const char *src = make_source(1600, 1200, LP_FORMAT_RGB8, 0);
    const char *variants[] = {"-compress lzw", "-compress zip -define tiff:tile-geometry=256x256"};
    for (size_t v = 0; v < 2; v++) {
        const char *tif = lpt_path("big.tif");
        assert_int_equal(lpt_run(IM " '%s' %s '%s'", src, variants[v], tif), 0);
        lp_mem *mem = lp_mem_new(0, NULL);
        lp_error err = {0};
        lp_stage *s = open_tiff(tif, NULL, mem, &err);
        assert_non_null(s);
        assert_false(s->whole_image);
        lp_strip strip;
        uint32_t rows = 0;
        do {
            assert_int_equal(lp_stage_next(s, &strip, &err), LP_OK);
            rows += strip.rows;
        } while (strip.rows);
        assert_int_equal(rows, 1200);
        uint64_t image = 1600ull * 1200 * 3;
        /* strips: 16 rows + a row + libtiff's strip (208 rows as ImageMagick writes them);
         * tiles: a 256-row band + a tile + 16 rows; a whole-image decode would be the image */
        uint64_t limit = v == 0 ? image / 3 : image / 2;
        if (lp_mem_peak(mem) > limit)
            fail_msg("%s: peak %llu bytes for a %llu-byte image", variants[v],
                     (unsigned long long)lp_mem_peak(mem), (unsigned long long)image);
        lp_stage_destroy(s);
        assert_int_equal(lp_mem_current(mem), 0);
        lp_mem_free_tracker(mem);
    }
}

/* libtiff's positioned reads (lp_input_read_at) from a mapped input and from memory give
 * the same pixels as from pread. */
static void test_every_input_kind(void **state)
{
    (void)state;
    REQUIRE_IMAGEMAGICK();
    const char *src = make_source(150, 100, LP_FORMAT_RGB8, 0);
    const char *tif = lpt_path("kinds.tif");
    assert_int_equal(lpt_run(IM " '%s' -compress zip -define tiff:tile-geometry=64x32 '%s'", src, tif), 0);
    lp_buffer_image want, got;
    lp_error err = {0};
    assert_int_equal(decode_ours(tif, &want, NULL, &err), LP_OK);
    size_t size;
    uint8_t *bytes = lpt_read_file(tif, &size);
    for (int kind = 0; kind < 2; kind++) {
        lp_input *in;
        if (kind == 0)
            assert_int_equal(lp_input_open_file(&in, tif, LP_IO_MMAP, 0, NULL), LP_OK);
        else
            assert_int_equal(lp_input_open_memory(&in, bytes, size, NULL), LP_OK);
        lp_stage *s;
        assert_int_equal(lp_tiff_source_new(&s, in, NULL, NULL, &err), LP_OK);
        memset(&got, 0, sizeof got);
        assert_int_equal(lp_pipeline_to_buffer(s, &got, NULL, &err), LP_OK);
        lp_stage_destroy(s);
        assert_int_equal(max_diff(&want, &got, 0), 0);
        lp_buffer_image_free(&got);
    }
    free(bytes);
    lp_buffer_image_free(&want);
}

/* RGB with a fourth sample and no ExtraSamples tag (written here with libtiff itself):
 * associated alpha, as libtiff's own RGBA reader takes it. */
static void test_rgb_fourth_sample_is_alpha(void **state)
{
    (void)state;
    const char *path = lpt_path("no-extrasamples.tif");
    TIFF *t = TIFFOpen(path, "w");
    assert_non_null(t);
    TIFFSetField(t, TIFFTAG_IMAGEWIDTH, 4);
    TIFFSetField(t, TIFFTAG_IMAGELENGTH, 1);
    TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, 8);
    TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, 4);
    TIFFSetField(t, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_RGB);
    TIFFSetField(t, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
    TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, 1);
    /* premultiplied: (200,100,50) at alpha 128 is stored as (100,50,25) */
    uint8_t row[16] = {100, 50, 25, 128, 0, 0, 0, 0, 255, 255, 255, 255, 10, 20, 30, 255};
    assert_true(TIFFWriteScanline(t, row, 0, 0) == 1);
    TIFFClose(t);
    lp_buffer_image img;
    lp_error err = {0};
    assert_int_equal(decode_ours(path, &img, NULL, &err), LP_OK);
    assert_int_equal(img.info.format, LP_FORMAT_RGBA8);
    const uint8_t want[16] = {199, 100, 50, 128, 0, 0, 0, 0, 255, 255, 255, 255, 10, 20, 30, 255};
    assert_memory_equal(img.pixels, want, sizeof want);
    lp_buffer_image_free(&img);
    lp_probe probe;
    assert_int_equal(lp_probe_file(path, &probe, &err), LP_OK);
    assert_int_equal(probe.components, 4);  /* the batch plans what the source yields */
}

static void test_budget_refuses_cleanly(void **state)
{
    (void)state;
    REQUIRE_IMAGEMAGICK();
    const char *src = make_source(800, 600, LP_FORMAT_RGB8, 0);
    const char *tif = lpt_path("budget.tif");
    assert_int_equal(lpt_run(IM " '%s' -compress lzw -define tiff:tile-geometry=512x512 '%s'", src,
                             tif), 0);
    lp_mem *mem = lp_mem_new(64 * 1024, NULL);
    lp_error err = {0};
    lp_stage *s = open_tiff(tif, NULL, mem, &err);
    assert_null(s);
    assert_int_equal(err.status, LP_ERR_NOMEM);
    assert_int_equal(lp_mem_current(mem), 0);
    lp_mem_free_tracker(mem);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_variants_match_imagemagick),
        cmocka_unit_test(test_ycbcr_jpeg_from_vips),
        cmocka_unit_test(test_metadata_carried),
        cmocka_unit_test(test_probe_agrees_with_the_source),
        cmocka_unit_test(test_cli_convert_and_batch),
        cmocka_unit_test(test_huge_header_refused_before_allocation),
        cmocka_unit_test(test_truncated_and_damaged_give_errors),
        cmocka_unit_test(test_memory_is_a_few_rows),
        cmocka_unit_test(test_every_input_kind),
        cmocka_unit_test(test_rgb_fourth_sample_is_alpha),
        cmocka_unit_test(test_budget_refuses_cleanly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
