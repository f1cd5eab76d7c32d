/*
 * test_convert_meta.c - what a user of `leanpix convert` checks, through the real CLI:
 * every EXIF orientation (AVIF keeps pixels and writes irot/imir, --autorotate turns
 * pixels and resets the tag, otherwise the tag is kept, resizing fits the displayed
 * size), ICC/EXIF/XMP carried to every output and dropped by --strip, the input kinds
 * (gray, CMYK, progressive, 16-bit, palette+tRNS, gray+alpha, RGBA), tiny and odd sizes,
 * output depths, the I/O modes, the limits and the memory budget, --json, and outputs
 * that cannot be written.
 *
 * Inputs are made by independent tools (cjpeg, ImageMagick's /usr/bin/convert) with
 * metadata segments spliced in by hand; outputs are read back by independent tools
 * (djpeg, dwebp, avifdec, heif-convert, webpmux, ImageMagick, libspng) and compared with
 * what the test computes itself. Every pixel check is paired with a wrong reference
 * (another orientation, a shifted image) that must score clearly lower, so a check can
 * fail. Images stay small (at most 256x256 apart from the budget case, which fails
 * before encoding) and AVIF uses --speed 9 so the suite is quick under ASan too.
 */
#include "testutil.h"

#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define IM "/usr/bin/convert"
#define IDENTIFY "/usr/bin/identify"
#define ICC_FILE "/usr/share/color/icc/compatibleWithAdobeRGB1998.icc"
#define XMP_TEXT "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF><lpt-marker/></rdf:RDF></x:xmpmeta>"

/* the stored (not displayed) size of the oriented inputs: wider than tall, asymmetric */
#define OW 48
#define OH 32

static lp_buffer_image oriented_src;  /* what the oriented JPEGs store, as djpeg decodes it */

/* ---- small helpers ---- */

/* tmpdir/name in a ring of 64 buffers: lpt_path() has only 8, fewer than one test keeps. */
static const char *P(const char *name)
{
    static char ring[64][512];
    static unsigned next;
    char *slot = ring[next++ % 64];
    snprintf(slot, sizeof ring[0], "%s/%s", lpt_tmpdir(), name);
    return slot;
}

static void write_pnm(const lp_buffer_image *img, const char *path)
{
    lp_format f = img->info.format;
    unsigned ch = lp_format_channels(f);
    FILE *file = fopen(path, "wb");
    assert_non_null(file);
    if (ch == 3 || ch == 1)
        fprintf(file, "P%c\n%u %u\n255\n", ch == 1 ? '5' : '6', img->info.width, img->info.height);
    else
        fprintf(file, "P7\nWIDTH %u\nHEIGHT %u\nDEPTH %u\nMAXVAL 255\nTUPLTYPE %s\nENDHDR\n",
                img->info.width, img->info.height, ch, ch == 4 ? "RGB_ALPHA" : "GRAYSCALE_ALPHA");
    size_t row = (size_t)img->info.width * ch;
    for (uint32_t y = 0; y < img->info.height; y++)
        assert_int_equal(fwrite(img->pixels + (size_t)y * img->stride, 1, row, file), row);
    fclose(file);
}

static int cli(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int cli(const char *fmt, ...)
{
    char args[3000];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    return lpt_run("'%s' convert %s >'%s' 2>'%s'", lpt_bin(), args, P("stdout.txt"),
                   P("stderr.txt"));
}

static const char *captured(const char *name)
{
    static char buf[8192];
    size_t n = 0;
    uint8_t *data = lpt_read_file(P(name), &n);
    buf[0] = '\0';
    if (data) {
        snprintf(buf, sizeof buf, "%.*s", (int)n, (const char *)data);
        free(data);
    }
    return buf;
}

/* Exit 1, exactly one line "leanpix: ..." naming `named` (and `reason` when given). */
static void assert_one_line_error(const char *named, const char *reason)
{
    const char *err = captured("stderr.txt");
    fprintf(stderr, "  stderr: %s", err);
    assert_non_null(strstr(err, "leanpix: "));
    assert_non_null(strstr(err, named));
    if (reason && !strstr(err, reason))
        fail_msg("'%s' does not say '%s'", err, reason);
    assert_ptr_equal(strchr(err, '\n'), err + strlen(err) - 1);
}

static void decode(const char *tool, const char *path, lp_buffer_image *img, bool keep_alpha)
{
    if (!lpt_decode_external(tool, path, img))
        fail_msg("%s could not decode %s", tool, path);
    lpt_to_rgb8(img, keep_alpha);
}

/* A TIFF stream (big-endian, as cameras often write it) with Orientation and Software. */
static size_t make_exif(uint8_t *buf, int orientation)
{
    static const uint8_t tiff[] = {
        'M', 'M', 0, 42, 0, 0, 0, 8,                /* header, IFD0 at 8 */
        0, 2,                                       /* two entries */
        0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 0, 0, 0,   /* Orientation SHORT x1 (value at 18-19) */
        0x01, 0x31, 0, 2, 0, 0, 0, 12, 0, 0, 0, 38, /* Software ASCII x12 at offset 38 */
        0, 0, 0, 0,                                 /* no next IFD */
        'l', 'p', 't', '-', 'm', 'a', 'r', 'k', 'e', 'r', '1', 0};
    memcpy(buf, tiff, sizeof tiff);
    buf[19] = (uint8_t)orientation;
    return sizeof tiff;
}

/* The most profile bytes one APP2 segment holds (65535 - 2 length - 14 header). */
#define ICC_CHUNK 65519u

/* Writes out = in (a JFIF file from cjpeg) with APPn segments inserted after SOI. */
static void splice_segments(const char *in, const char *out, const uint8_t *exif, size_t exif_size,
                            const uint8_t *icc, size_t icc_size, const char *xmp)
{
    size_t n;
    uint8_t *jpg = lpt_read_file(in, &n);
    assert_non_null(jpg);
    assert_true(n > 2 && jpg[0] == 0xFF && jpg[1] == 0xD8);
    size_t cap = n + exif_size + icc_size + icc_size / ICC_CHUNK * 18 + (xmp ? strlen(xmp) : 0) + 256;
    uint8_t *o = malloc(cap), *p = o;
    assert_non_null(o);
    *p++ = 0xFF;
    *p++ = 0xD8;
    struct { uint8_t marker; const char *id; size_t id_len; const uint8_t *data; size_t size; } seg[3] = {
        {0xE1, "Exif\0", 6, exif, exif_size},
        {0xE2, "ICC_PROFILE\0\1\1", 14, icc, icc_size},
        {0xE1, "http://ns.adobe.com/xap/1.0/", 29, (const uint8_t *)xmp, xmp ? strlen(xmp) : 0}};
    for (int i = 0; i < 3; i++) {
        if (!seg[i].data)
            continue;
        if (i == 1 && icc_size > ICC_CHUNK) {  /* a big profile: numbered APP2 chunks */
            size_t count = (icc_size + ICC_CHUNK - 1) / ICC_CHUNK;
            for (size_t k = 0; k < count; k++) {
                size_t part = k + 1 < count ? ICC_CHUNK : icc_size - k * ICC_CHUNK;
                size_t len = 2 + 14 + part;
                uint8_t head[18] = {0xFF, 0xE2, (uint8_t)(len >> 8), (uint8_t)len};
                memcpy(head + 4, "ICC_PROFILE", 12);
                head[16] = (uint8_t)(k + 1);
                head[17] = (uint8_t)count;
                memcpy(p, head, sizeof head);
                memcpy(p + sizeof head, icc + k * ICC_CHUNK, part);
                p += sizeof head + part;
            }
            continue;
        }
        size_t len = 2 + seg[i].id_len + seg[i].size;
        assert_true(len < 65536);
        *p++ = 0xFF;
        *p++ = seg[i].marker;
        *p++ = (uint8_t)(len >> 8);
        *p++ = (uint8_t)len;
        memcpy(p, seg[i].id, seg[i].id_len);
        p += seg[i].id_len;
        memcpy(p, seg[i].data, seg[i].size);
        p += seg[i].size;
    }
    memcpy(p, jpg + 2, n - 2);
    p += n - 2;
    lpt_write_file(out, o, (size_t)(p - o));
    free(o);
    free(jpg);
}

/* The EXIF orientation found in any container: the first TIFF header in the file. The
 * orientation is then read by libexif (lp_exif_orientation); 0 when there is no EXIF. */
static int file_exif_orientation(const char *path)
{
    size_t n;
    uint8_t *data = lpt_read_file(path, &n);
    assert_non_null(data);
    int o = 0;
    for (size_t i = 0; i + 8 < n; i++)
        if (!memcmp(data + i, "MM\0*", 4) || !memcmp(data + i, "II*\0", 4)) {
            o = lp_exif_orientation(data + i, n - i);
            break;
        }
    free(data);
    return o;
}

/* ImageMagick's reading of the orientation (independent of leanpix): 0 when none. */
static int im_orientation(const char *path)
{
    char out[256];
    if (lpt_run_capture(out, sizeof out, IDENTIFY " -format '%%[EXIF:Orientation]' '%s' 2>/dev/null", path))
        return 0;
    return atoi(out);
}

static bool file_contains(const char *path, const void *needle, size_t len)
{
    size_t n;
    uint8_t *data = lpt_read_file(path, &n);
    assert_non_null(data);
    bool found = false;
    for (size_t i = 0; i + len <= n && !found; i++)
        found = !memcmp(data + i, needle, len);
    free(data);
    return found;
}

static bool files_equal(const char *a, const char *b)
{
    size_t na, nb;
    uint8_t *da = lpt_read_file(a, &na), *db = lpt_read_file(b, &nb);
    bool same = da && db && na == nb && !memcmp(da, db, na);
    free(da);
    free(db);
    return same;
}

/* cjpeg's JPEG of img (q95, 4:4:4 unless extra says otherwise). */
static void cjpeg(const lp_buffer_image *img, const char *extra, const char *out)
{
    write_pnm(img, P("cjpeg-in.pnm"));
    assert_int_equal(lpt_run("cjpeg -quality 95 -sample 1x1 %s -outfile '%s' '%s'", extra, out,
                             P("cjpeg-in.pnm")), 0);
}

/* ---- fixtures ---- */

static int setup(void **state)
{
    (void)state;
    lp_buffer_image photo;
    lpt_make_photo(&photo, OW, OH, LP_FORMAT_RGB8, 5);
    /* a bright block in the top-left corner makes every orientation distinguishable */
    for (uint32_t y = 0; y < 8; y++)
        for (uint32_t x = 0; x < 14; x++)
            memset(photo.pixels + y * photo.stride + x * 3, 250, 3);
    cjpeg(&photo, "", P("plain.jpg"));
    lp_buffer_image_free(&photo);
    /* the reference is what the JPEG stores (so codec loss is not counted twice) */
    if (!lpt_decode_external("djpeg", P("plain.jpg"), &oriented_src))
        return -1;
    lpt_to_rgb8(&oriented_src, false);
    for (int o = 1; o <= 8; o++) {
        uint8_t exif[64];
        size_t exif_size = make_exif(exif, o);
        char name[32];
        snprintf(name, sizeof name, "orient%d.jpg", o);
        splice_segments(P("plain.jpg"), P(name), exif, exif_size, NULL, 0, NULL);
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    lp_buffer_image_free(&oriented_src);
    return 0;
}

/* ---- 1. orientation ---- */

/* Checks got against the expected orientation o, and that every other orientation of
 * the same shape scores clearly lower. */
static void check_orientation(const lp_buffer_image *got, int o, double min_psnr, const char *what)
{
    lp_buffer_image want;
    lpt_apply_orientation(&oriented_src, o, &want);
    assert_int_equal(got->info.width, want.info.width);
    assert_int_equal(got->info.height, want.info.height);
    double good = lpt_psnr(&want, got);
    fprintf(stderr, "  %s orientation %d: %.2f dB\n", what, o, good);
    if (good < min_psnr)
        fail_msg("%s orientation %d: PSNR %.2f dB < %.1f", what, o, good, min_psnr);
    for (int other = 1; other <= 8; other++) {
        if (other == o || (other >= 5) != (o >= 5))
            continue;
        lp_buffer_image wrong;
        lpt_apply_orientation(&oriented_src, other, &wrong);
        double bad = lpt_psnr(&wrong, got);
        if (bad > good - 6)
            fail_msg("%s orientation %d also matches %d (%.2f vs %.2f dB)", what, o, other, bad, good);
        lp_buffer_image_free(&wrong);
    }
    lp_buffer_image_free(&want);
}

static void test_orientation_avif_keeps_pixels(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("heif-convert");
    for (int o = 1; o <= 8; o++) {
        char in[32];
        snprintf(in, sizeof in, "orient%d.jpg", o);
        const char *out = P("orient.avif");
        unlink(out);
        assert_int_equal(cli("'%s' '%s' -q 90 --speed 9 --chroma 444", P(in), out), 0);
        lp_buffer_image got;
        decode("avifdec", out, &got, false);  /* avifdec ignores irot/imir: stored pixels */
        check_orientation(&got, 1, 32, "avifdec");
        lp_buffer_image_free(&got);
        decode("heif-convert", out, &got, false);  /* libheif applies them: upright */
        check_orientation(&got, o, 32, "heif-convert");
        lp_buffer_image_free(&got);
    }
}

static void test_orientation_autorotate(void **state)
{
    (void)state;
    for (int o = 1; o <= 8; o++) {
        char in[32];
        snprintf(in, sizeof in, "orient%d.jpg", o);
        const char *out = P("upright.jpg");
        assert_int_equal(cli("'%s' '%s' -q 95 --chroma 444 --autorotate", P(in), out), 0);
        lp_buffer_image got;
        decode("djpeg", out, &got, false);
        check_orientation(&got, o, 32, "autorotate jpg");
        lp_buffer_image_free(&got);
        /* the pixels are upright now, so the tag must say so (or a viewer turns them twice) */
        assert_int_equal(file_exif_orientation(out), 1);
        if (lpt_have_tool(IDENTIFY))
            assert_int_equal(im_orientation(out), 1);
        /* the rest of the EXIF survives the rewrite */
        assert_true(file_contains(out, "lpt-marker1", 11));
    }
    /* PNG and WebP outputs turn too */
    assert_int_equal(cli("'%s' '%s' --autorotate", P("orient6.jpg"), P("upright.png")), 0);
    lp_buffer_image got;
    decode("spng", P("upright.png"), &got, false);
    check_orientation(&got, 6, 40, "autorotate png");
    lp_buffer_image_free(&got);
    assert_int_equal(file_exif_orientation(P("upright.png")), 1);
    assert_int_equal(cli("'%s' '%s' -q 95 --autorotate", P("orient7.jpg"), P("upright.webp")), 0);
    decode("dwebp", P("upright.webp"), &got, false);
    check_orientation(&got, 7, 30, "autorotate webp");
    lp_buffer_image_free(&got);
    assert_int_equal(file_exif_orientation(P("upright.webp")), 1);
}

static void test_orientation_tag_kept(void **state)
{
    (void)state;
    static const struct { const char *ext, *decoder; double min; } outs[] = {
        {"jpg", "djpeg", 32}, {"png", "spng", 40}, {"webp", "dwebp", 30}};
    for (int o = 1; o <= 8; o++)
        for (size_t i = 0; i < sizeof outs / sizeof outs[0]; i++) {
            char in[32], name[32];
            snprintf(in, sizeof in, "orient%d.jpg", o);
            snprintf(name, sizeof name, "kept.%s", outs[i].ext);
            const char *out = P(name);
            assert_int_equal(cli("'%s' '%s' -q 95 --chroma 444", P(in), out), 0);
            lp_buffer_image got;
            decode(outs[i].decoder, out, &got, false);
            check_orientation(&got, 1, outs[i].min, outs[i].ext);  /* stored pixels */
            lp_buffer_image_free(&got);
            assert_int_equal(file_exif_orientation(out), o);
            /* ImageMagick 6 reads the tag from JPEG only (not PNG eXIf, not WebP) */
            if (lpt_have_tool(IDENTIFY) && !strcmp(outs[i].ext, "jpg"))
                assert_int_equal(im_orientation(out), o);
        }
}

/* --resize fits what the user sees: orientation 6 shows the 96x64 stored image as 64x96. */
static void test_resize_fits_displayed_size(void **state)
{
    (void)state;
    lp_buffer_image photo, got;
    lpt_make_photo(&photo, 96, 64, LP_FORMAT_RGB8, 9);
    cjpeg(&photo, "", P("wide.jpg"));
    lp_buffer_image_free(&photo);
    uint8_t exif[64];
    size_t exif_size = make_exif(exif, 6);
    splice_segments(P("wide.jpg"), P("wide6.jpg"), exif, exif_size, NULL, 0, NULL);

    assert_int_equal(cli("'%s' '%s' --resize 40x", P("wide6.jpg"), P("rs.jpg")), 0);
    decode("djpeg", P("rs.jpg"), &got, false);
    assert_int_equal(got.info.width, 60);   /* stored 96x64 -> 60x40: displayed 40x60 */
    assert_int_equal(got.info.height, 40);
    lp_buffer_image_free(&got);
    assert_int_equal(file_exif_orientation(P("rs.jpg")), 6);

    assert_int_equal(cli("'%s' '%s' --resize 40x --autorotate", P("wide6.jpg"), P("rs2.png")), 0);
    decode("spng", P("rs2.png"), &got, false);
    assert_int_equal(got.info.width, 40);
    assert_int_equal(got.info.height, 60);
    lp_buffer_image_free(&got);

    assert_int_equal(cli("'%s' '%s' --resize x30 --speed 9", P("wide6.jpg"), P("rs3.avif")), 0);
    decode("avifdec", P("rs3.avif"), &got, false);
    assert_int_equal(got.info.width, 30);   /* displayed height 96 -> 30: stored width 30 */
    assert_int_equal(got.info.height, 20);
    lp_buffer_image_free(&got);
    if (lpt_have_tool("heif-convert")) {
        decode("heif-convert", P("rs3.avif"), &got, false);
        assert_int_equal(got.info.width, 20);
        assert_int_equal(got.info.height, 30);
        lp_buffer_image_free(&got);
    }
}

/* ---- 2. metadata ---- */

/* Extracts metadata of kind "icc"/"exif"/"xmp" from out with a tool other than leanpix
 * into dest; false when the file has none. */
static bool extract(const char *out, const char *kind, const char *dest)
{
    unlink(dest);
    const char *ext = strrchr(out, '.') + 1;
    int rc;
    if (!strcmp(ext, "webp")) {
        rc = lpt_run("webpmux -get %s '%s' -o '%s' >/dev/null 2>&1", kind, out, dest);
    } else if (!strcmp(ext, "avif") && strcmp(kind, "icc")) {
        /* heif-convert writes <image>.exif / .xmp beside its decoded image */
        char png[512];
        snprintf(png, sizeof png, "%s", P("meta-heif.png"));
        char side[600];
        snprintf(side, sizeof side, "%.*s.%s", (int)(strlen(png) - 4), png, kind);
        unlink(side);
        rc = lpt_run("heif-convert --with-%s '%s' '%s' >/dev/null 2>&1", kind, out, png);
        if (rc == 0 && lpt_file_exists(side))
            rc = rename(side, dest);
        else
            rc = 1;
    } else if (!strcmp(ext, "avif")) {
        /* avifdec carries the profile into its PNG, ImageMagick takes it out */
        rc = lpt_run("avifdec '%s' '%s' >/dev/null 2>&1 && " IM " '%s' '%s' 2>/dev/null", out,
                     P("meta-avifdec.png"), P("meta-avifdec.png"), dest);
    } else {
        rc = lpt_run(IM " '%s' '%s' 2>/dev/null", out, dest);
    }
    return rc == 0 && lpt_file_exists(dest) && lpt_file_size(dest) > 0;
}

/* The data length of the first chunk of this type in a PNG file; -1 when there is none. */
static long png_chunk_length(const char *path, const char *type)
{
    size_t n;
    uint8_t *png = lpt_read_file(path, &n);
    assert_non_null(png);
    long found = -1;
    for (size_t i = 8; i + 8 <= n && found < 0;) {
        size_t len = (size_t)png[i] << 24 | (size_t)png[i + 1] << 16 | (size_t)png[i + 2] << 8 | png[i + 3];
        if (!memcmp(png + i + 4, type, 4))
            found = (long)len;
        i += 12 + len;
    }
    free(png);
    return found;
}

static void test_metadata_carried(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("webpmux");
    LPT_REQUIRE_TOOL("heif-convert");
    if (access(ICC_FILE, R_OK) || access(IM, X_OK)) {
        fprintf(stderr, "SKIP: %s or ImageMagick missing (scripts/deps.sh test)\n", ICC_FILE);
        skip();
    }
    size_t icc_size;
    uint8_t *icc = lpt_read_file(ICC_FILE, &icc_size);
    assert_non_null(icc);
    uint8_t exif[64];
    size_t exif_size = make_exif(exif, 3);
    lp_buffer_image photo;
    lpt_make_photo(&photo, 40, 24, LP_FORMAT_RGB8, 3);
    cjpeg(&photo, "", P("m0.jpg"));
    lp_buffer_image_free(&photo);
    splice_segments(P("m0.jpg"), P("meta.jpg"), exif, exif_size, icc, icc_size, XMP_TEXT);

    static const char *exts[] = {"avif", "jpg", "webp", "png"};
    for (size_t i = 0; i < 4; i++) {
        char name[32];
        snprintf(name, sizeof name, "meta-out.%s", exts[i]);
        const char *out = P(name);
        const char *got_icc = P("got.icc"), *got_exif = P("got.exif"), *got_xmp = P("got.xmp");
        assert_int_equal(cli("'%s' '%s' --speed 9", P("meta.jpg"), out), 0);
        fprintf(stderr, "  %s\n", exts[i]);
        /* ICC: identical bytes */
        if (!extract(out, "icc", got_icc))
            fail_msg("%s: no ICC profile found", exts[i]);
        size_t n;
        uint8_t *data = lpt_read_file(got_icc, &n);
        assert_int_equal(n, icc_size);
        assert_memory_equal(data, icc, icc_size);
        free(data);
        /* EXIF: our TIFF stream inside what the tool gives back (tools differ in the
         * "Exif\0\0" prefix), orientation 3 kept */
        if (strcmp(exts[i], "png")) {  /* ImageMagick 6 does not export PNG eXIf */
            if (!extract(out, "exif", got_exif))
                fail_msg("%s: no EXIF found", exts[i]);
            assert_true(file_contains(got_exif, exif, exif_size));
        }
        assert_true(file_contains(out, exif, exif_size));
        assert_int_equal(file_exif_orientation(out), 3);
        /* XMP */
        if (strcmp(exts[i], "png")) {
            if (!extract(out, "xmp", got_xmp))
                fail_msg("%s: no XMP found", exts[i]);
            assert_true(file_contains(got_xmp, "<lpt-marker/>", 13));
        }
        assert_true(file_contains(out, "<lpt-marker/>", 13));  /* PNG: iTXt, uncompressed */
        if (!strcmp(exts[i], "png"))  /* exactly the packet: nothing read past its end */
            assert_int_equal(png_chunk_length(out, "iTXt"), strlen("XML:com.adobe.xmp") + 5 + strlen(XMP_TEXT));

        /* --strip: none of the three left */
        assert_int_equal(cli("'%s' '%s' --speed 9 --strip", P("meta.jpg"), out), 0);
        assert_false(extract(out, "icc", got_icc));
        assert_false(file_contains(out, exif, exif_size));
        assert_false(file_contains(out, "<lpt-marker/>", 13));
        assert_int_equal(file_exif_orientation(out), 0);
    }
    free(icc);
}

/* Writes out = in (a PNG) with an eXIf chunk holding orientation o before its first IDAT
 * (zlib's crc32 for the chunk CRC). */
static void png_add_exif(const char *in, const char *out, int o)
{
    size_t n;
    uint8_t *png = lpt_read_file(in, &n);
    assert_non_null(png);
    size_t idat = 8;
    while (idat + 8 < n && memcmp(png + idat + 4, "IDAT", 4))
        idat += 12 + ((size_t)png[idat] << 24 | (size_t)png[idat + 1] << 16 | (size_t)png[idat + 2] << 8 | png[idat + 3]);
    assert_true(idat + 8 < n);
    uint8_t chunk[128];
    size_t exif_size = make_exif(chunk + 8, o);
    chunk[0] = chunk[1] = chunk[2] = 0;
    chunk[3] = (uint8_t)exif_size;
    memcpy(chunk + 4, "eXIf", 4);
    uLong crc = crc32(crc32(0, Z_NULL, 0), chunk + 4, (uInt)(4 + exif_size));
    for (int i = 0; i < 4; i++)
        chunk[8 + exif_size + (size_t)i] = (uint8_t)(crc >> (24 - 8 * i));
    FILE *f = fopen(out, "wb");
    assert_non_null(f);
    fwrite(png, 1, idat, f);
    fwrite(chunk, 1, 12 + exif_size, f);
    fwrite(png + idat, 1, n - idat, f);
    fclose(f);
    free(png);
}

/* A PNG input carries its metadata too: iCCP (written by ImageMagick) and an eXIf chunk
 * with orientation 6 spliced in before IDAT. */
static void test_png_input_metadata(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("heif-convert");
    if (access(ICC_FILE, R_OK) || access(IM, X_OK)) {
        fprintf(stderr, "SKIP: %s or ImageMagick missing (scripts/deps.sh test)\n", ICC_FILE);
        skip();
    }
    write_pnm(&oriented_src, P("pm.ppm"));
    assert_int_equal(lpt_run(IM " '%s' -profile '%s' '%s'", P("pm.ppm"), ICC_FILE, P("pm0.png")), 0);
    png_add_exif(P("pm0.png"), P("pm.png"), 6);
    size_t n;
    size_t icc_size;
    uint8_t *icc = lpt_read_file(ICC_FILE, &icc_size);
    assert_non_null(icc);

    assert_int_equal(cli("'%s' '%s' --speed 9 -q 90 --chroma 444", P("pm.png"), P("pm.avif")), 0);
    lp_buffer_image got;
    decode("heif-convert", P("pm.avif"), &got, false);
    check_orientation(&got, 6, 32, "png input -> avif");
    lp_buffer_image_free(&got);
    assert_true(extract(P("pm.avif"), "icc", P("pm.icc")));
    uint8_t *data = lpt_read_file(P("pm.icc"), &n);
    assert_int_equal(n, icc_size);
    assert_memory_equal(data, icc, n);
    free(data);

    assert_int_equal(cli("'%s' '%s' -q 95 --chroma 444", P("pm.png"), P("pm.jpg")), 0);
    assert_int_equal(im_orientation(P("pm.jpg")), 6);
    assert_true(extract(P("pm.jpg"), "icc", P("pm2.icc")));
    data = lpt_read_file(P("pm2.icc"), &n);
    assert_int_equal(n, icc_size);
    assert_memory_equal(data, icc, n);
    free(data);
    free(icc);
}

/* Whether the PNG's iCCP chunk inflates (zlib, not leanpix) to exactly icc. */
static bool png_iccp_equals(const char *path, const uint8_t *icc, size_t icc_size)
{
    size_t n;
    uint8_t *png = lpt_read_file(path, &n);
    assert_non_null(png);
    bool same = false;
    for (size_t i = 8; i + 8 <= n;) {
        size_t len = (size_t)png[i] << 24 | (size_t)png[i + 1] << 16 | (size_t)png[i + 2] << 8 | png[i + 3];
        if (i + 12 + len > n)
            break;
        if (!memcmp(png + i + 4, "iCCP", 4)) {
            const uint8_t *body = png + i + 8;
            const uint8_t *nul = memchr(body, 0, len);
            assert_non_null(nul);
            const uint8_t *z = nul + 2;  /* NUL, then the compression method */
            uLongf out_len = icc_size + 64;
            uint8_t *out = malloc(out_len);
            assert_non_null(out);
            same = uncompress(out, &out_len, z, (uLong)(body + len - z)) == Z_OK &&
                   out_len == icc_size && !memcmp(out, icc, icc_size);
            free(out);
            break;
        }
        i += 12 + len;
    }
    free(png);
    return same;
}

/* A real 431 KB profile spans seven APP2 segments; every output gets it back whole. */
static void test_big_icc_carried(void **state)
{
    (void)state;
    const char *big_icc = "/usr/share/color/icc/ITULab.icc";
    if (access(big_icc, R_OK) || access(IM, X_OK)) {
        fprintf(stderr, "SKIP: %s or ImageMagick missing (scripts/deps.sh test)\n", big_icc);
        skip();
    }
    size_t icc_size;
    uint8_t *icc = lpt_read_file(big_icc, &icc_size);
    assert_non_null(icc);
    assert_true(icc_size > 6 * ICC_CHUNK);
    splice_segments(P("plain.jpg"), P("bigicc.jpg"), NULL, 0, icc, icc_size, NULL);
    static const char *exts[] = {"avif", "jpg", "webp", "png"};
    for (size_t i = 0; i < 4; i++) {
        char name[32];
        snprintf(name, sizeof name, "bigicc-out.%s", exts[i]);
        assert_int_equal(cli("'%s' '%s' --speed 9", P("bigicc.jpg"), P(name)), 0);
        if (!strcmp(exts[i], "png")) {
            /* ImageMagick's libpng refuses a Lab profile on RGB: inflate iCCP with zlib */
            assert_true(png_iccp_equals(P(name), icc, icc_size));
            continue;
        }
        if (!strcmp(exts[i], "avif")) {
            /* avifdec cannot hand a Lab profile on (libpng refuses it for RGB), so: its
             * report of the size, and the bytes as stored in the colr box */
            char info[4096], want[64];
            assert_int_equal(lpt_run_capture(info, sizeof info, "avifdec --info '%s'", P(name)), 0);
            snprintf(want, sizeof want, "ICC Profile    : Present (%zu bytes)", icc_size);
            assert_non_null(strstr(info, want));
            assert_true(file_contains(P(name), icc, icc_size));
            continue;
        }
        if (!extract(P(name), "icc", P("bigicc.icc")))
            fail_msg("%s: no ICC profile found", exts[i]);
        size_t n;
        uint8_t *data = lpt_read_file(P("bigicc.icc"), &n);
        assert_int_equal(n, icc_size);
        assert_memory_equal(data, icc, icc_size);
        free(data);
    }
    free(icc);
}

/* Orientation values outside 1..8 and broken EXIF blocks count as "upright", never fail. */
static void test_odd_exif(void **state)
{
    (void)state;
    uint8_t exif[64];
    static const int bad_values[] = {0, 9, 255};
    for (size_t i = 0; i < 3; i++) {
        size_t size = make_exif(exif, bad_values[i]);
        splice_segments(P("plain.jpg"), P("odd.jpg"), exif, size, NULL, 0, NULL);
        assert_int_equal(cli("'%s' '%s' --speed 9 -q 90 --chroma 444", P("odd.jpg"), P("odd.avif")), 0);
        char info[4096];
        assert_int_equal(lpt_run_capture(info, sizeof info, "avifdec --info '%s'", P("odd.avif")), 0);
        assert_null(strstr(info, "irot"));
        assert_null(strstr(info, "imir"));
        assert_int_equal(cli("'%s' '%s' --autorotate -q 95 --chroma 444", P("odd.jpg"), P("odd.jpg.jpg")), 0);
        lp_buffer_image got;
        decode("djpeg", P("odd.jpg.jpg"), &got, false);
        check_orientation(&got, 1, 32, "odd EXIF value");
        lp_buffer_image_free(&got);
    }
    /* an IFD offset past the end, and an entry count larger than the block */
    size_t size = make_exif(exif, 6);
    exif[7] = 200;
    splice_segments(P("plain.jpg"), P("odd.jpg"), exif, size, NULL, 0, NULL);
    assert_int_equal(cli("'%s' '%s' --autorotate", P("odd.jpg"), P("odd.png")), 0);
    lp_buffer_image got;
    decode("spng", P("odd.png"), &got, false);
    check_orientation(&got, 1, 40, "EXIF IFD past the end");
    lp_buffer_image_free(&got);
    size = make_exif(exif, 6);
    exif[9] = 200;
    splice_segments(P("plain.jpg"), P("odd.jpg"), exif, size, NULL, 0, NULL);
    assert_int_equal(cli("'%s' '%s' --autorotate", P("odd.jpg"), P("odd.png")), 0);
    decode("spng", P("odd.png"), &got, false);
    assert_true(got.info.width == OW || got.info.width == OH);  /* either reading, no crash */
    lp_buffer_image_free(&got);
}

/* ---- 3. input kinds ---- */

static void premultiply(lp_buffer_image *img)
{
    assert_int_equal(img->info.format, LP_FORMAT_RGBA8);
    for (uint32_t y = 0; y < img->info.height; y++)
        for (uint32_t x = 0; x < img->info.width; x++) {
            uint8_t *p = img->pixels + y * img->stride + x * 4;
            for (int c = 0; c < 3; c++)
                p[c] = (uint8_t)((p[c] * p[3] + 127) / 255);
        }
}

/* Converts in to out (args added), decodes out with decoder and compares with ref. */
static double convert_and_compare(const char *in, const char *out, const char *args,
                                  const char *decoder, const lp_buffer_image *ref, bool alpha)
{
    unlink(out);
    assert_int_equal(cli("'%s' '%s' %s", in, out, args), 0);
    lp_buffer_image got, want = *ref;
    decode(decoder, out, &got, alpha);
    if (alpha) {
        /* under alpha 0 the colour is undefined (WebP and AVIF encoders replace it), so
         * compare what a viewer composites: colours premultiplied by alpha */
        lp_buffer_image copy;
        assert_int_equal(lp_buffer_image_alloc(&copy, ref->info.width, ref->info.height, ref->info.format, NULL, NULL), LP_OK);
        for (uint32_t y = 0; y < ref->info.height; y++)
            memcpy(copy.pixels + y * copy.stride, ref->pixels + y * ref->stride, (size_t)ref->info.width * lp_format_pixel_bytes(ref->info.format));
        want = copy;
        lpt_to_rgb8(&want, true);
        premultiply(&want);
        premultiply(&got);
    }
    double psnr = lpt_psnr(&want, &got);
    /* the same image one row down must score lower: the check can fail */
    if (ref->info.height >= 16) {
        lp_buffer_image a = want, b = got;
        a.info.height--;
        b.info.height--;
        b.pixels += b.stride;
        double shifted = lpt_psnr(&a, &b);
        if (shifted > psnr - 3)
            fail_msg("%s: a shifted image scores %.2f dB, the real one %.2f", out, shifted, psnr);
    }
    fprintf(stderr, "  %s -> %s: %.2f dB\n", strrchr(in, '/') + 1, strrchr(out, '/') + 1, psnr);
    lp_buffer_image_free(&got);
    if (alpha)
        lp_buffer_image_free(&want);
    return psnr;
}

static void assert_min(double psnr, double min)
{
    if (psnr < min)
        fail_msg("PSNR %.2f dB is below %.1f", psnr, min);
}

/* The colour type in a PNG's IHDR (0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA). */
static int png_color_type(const char *path)
{
    size_t n;
    uint8_t *data = lpt_read_file(path, &n);
    assert_non_null(data);
    assert_true(n > 26 && !memcmp(data + 12, "IHDR", 4));
    int type = data[25];
    free(data);
    return type;
}

static void test_jpeg_input_kinds(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL(IM);
    lp_buffer_image rgb, gray;
    lpt_make_photo(&rgb, 64, 48, LP_FORMAT_RGB8, 21);
    lpt_make_photo(&gray, 64, 48, LP_FORMAT_G8, 21);
    lpt_to_rgb8(&gray, false);

    write_pnm(&rgb, P("k.ppm"));
    assert_int_equal(lpt_run("cjpeg -quality 95 -grayscale -outfile '%s' '%s'", P("k-gray.jpg"), P("k.ppm")), 0);
    lp_buffer_image gref;  /* the gray the JPEG holds */
    decode("djpeg", P("k-gray.jpg"), &gref, false);
    assert_min(convert_and_compare(P("k-gray.jpg"), P("k-gray.png"), "", "spng", &gref, false), 45);
    assert_min(convert_and_compare(P("k-gray.jpg"), P("k-gray.avif"), "--speed 9 -q 90", "avifdec", &gref, false), 34);
    /* gray in is gray out: a one-channel PNG, and AVIF decodes without colour */
    assert_int_equal(png_color_type(P("k-gray.png")), 0);
    lp_buffer_image ga;
    decode("avifdec", P("k-gray.avif"), &ga, false);
    for (uint32_t y = 0; y < 48; y++)
        for (uint32_t x = 0; x < 64; x++) {
            const uint8_t *p = ga.pixels + y * ga.stride + x * 3;
            assert_true(abs(p[0] - p[1]) <= 2 && abs(p[2] - p[1]) <= 2);
        }
    lp_buffer_image_free(&ga);
    lp_buffer_image_free(&gref);

    assert_int_equal(lpt_run(IM " '%s' -quality 95 -colorspace CMYK '%s'", P("k.ppm"), P("k-cmyk.jpg")), 0);
    assert_true(file_contains(P("k-cmyk.jpg"), "Adobe", 5));
    assert_min(convert_and_compare(P("k-cmyk.jpg"), P("k-cmyk.png"), "", "spng", &rgb, false), 30);

    assert_int_equal(lpt_run("cjpeg -quality 95 -sample 1x1 -progressive -outfile '%s' '%s'", P("k-prog.jpg"), P("k.ppm")), 0);
    assert_true(file_contains(P("k-prog.jpg"), "\xFF\xC2", 2));
    assert_min(convert_and_compare(P("k-prog.jpg"), P("k-prog.webp"), "-q 95", "dwebp", &rgb, false), 32);
    assert_min(convert_and_compare(P("k-prog.jpg"), P("k-prog2.jpg"), "-q 95 --chroma 444 --progressive", "djpeg", &rgb, false), 34);
    assert_true(file_contains(P("k-prog2.jpg"), "\xFF\xC2", 2));
    lp_buffer_image_free(&rgb);
    lp_buffer_image_free(&gray);
}

/* A photo with an alpha channel: a fully transparent stripe, a half-transparent area. */
static void make_rgba(lp_buffer_image *img, uint32_t w, uint32_t h)
{
    lpt_make_photo(img, w, h, LP_FORMAT_RGBA8, 33);
    for (uint32_t y = 0; y < h; y++)
        for (uint32_t x = 0; x < w; x++) {
            uint8_t *p = img->pixels + y * img->stride + x * 4;
            p[3] = x < 8 ? 0 : y < h / 2 ? 128 : 255;
        }
}

static void test_png_input_kinds(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL(IM);
    lp_buffer_image rgba, ref;
    make_rgba(&rgba, 64, 48);
    write_pnm(&rgba, P("p.pam"));

    /* 16-bit RGB and RGBA (PNG48/PNG64): to 8-bit outputs, and kept at 16 bits */
    assert_int_equal(lpt_run(IM " '%s' -gamma 1.1 -depth 16 PNG64:'%s'", P("p.pam"), P("p64.png")), 0);
    assert_int_equal(lpt_run(IM " '%s' -alpha off -gamma 1.1 -depth 16 PNG48:'%s'", P("p.pam"), P("p48.png")), 0);
    assert_true(lpt_read_png(P("p48.png"), &ref));
    assert_int_equal(lp_format_sample_bytes(ref.info.format), 2);
    lp_buffer_image_free(&ref);
    decode("spng", P("p48.png"), &ref, false);
    assert_min(convert_and_compare(P("p48.png"), P("p48.jpg"), "-q 95 --chroma 444", "djpeg", &ref, false), 34);
    assert_min(convert_and_compare(P("p48.png"), P("p48-8.png"), "--depth 8", "spng", &ref, false), 99);
    lp_buffer_image_free(&ref);
    decode("spng", P("p64.png"), &ref, true);
    assert_min(convert_and_compare(P("p64.png"), P("p64.webp"), "-q 95", "dwebp", &ref, true), 30);
    /* --depth 16 PNG: the 16-bit samples come through exactly */
    unlink(P("p64-16.png"));
    assert_int_equal(cli("'%s' '%s' --depth 16", P("p64.png"), P("p64-16.png")), 0);
    lp_buffer_image a, b;
    assert_true(lpt_read_png(P("p64.png"), &a));
    assert_true(lpt_read_png(P("p64-16.png"), &b));
    assert_int_equal(b.info.format, LP_FORMAT_RGBA16);
    assert_int_equal(a.info.format, LP_FORMAT_RGBA16);
    /* the input really has 16-bit detail, so a drop to 8 bits would show */
    bool fine = false;
    for (uint32_t x = 0; x < 64 * 4 && !fine; x++)
        fine = ((uint16_t *)a.pixels)[x] % 257 != 0;
    assert_true(fine);
    for (uint32_t y = 0; y < 48; y++)
        assert_memory_equal(a.pixels + y * a.stride, b.pixels + y * b.stride, 64 * 8);
    lp_buffer_image_free(&a);
    lp_buffer_image_free(&b);
    lp_buffer_image_free(&ref);

    /* palette with tRNS: alpha kept in PNG and AVIF */
    assert_int_equal(lpt_run(IM " '%s' -colors 64 PNG8:'%s'", P("p.pam"), P("pal.png")), 0);
    assert_int_equal(png_color_type(P("pal.png")), 3);  /* palette */
    assert_true(file_contains(P("pal.png"), "tRNS", 4));
    decode("spng", P("pal.png"), &ref, true);
    assert_min(convert_and_compare(P("pal.png"), P("pal-out.png"), "", "spng", &ref, true), 99);
    assert_min(convert_and_compare(P("pal.png"), P("pal.avif"), "--speed 9 -q 90 --chroma 444", "avifdec", &ref, true), 30);
    lp_buffer_image_free(&ref);

    /* gray + alpha */
    assert_int_equal(lpt_run(IM " '%s' -colorspace Gray -define png:color-type=4 '%s'", P("p.pam"), P("ga.png")), 0);
    assert_int_equal(png_color_type(P("ga.png")), 4);  /* gray + alpha */
    decode("spng", P("ga.png"), &ref, true);
    assert_min(convert_and_compare(P("ga.png"), P("ga.webp"), "-q 95", "dwebp", &ref, true), 30);
    assert_min(convert_and_compare(P("ga.png"), P("ga-out.png"), "", "spng", &ref, true), 99);
    lp_buffer_image_free(&ref);

    /* RGBA: alpha kept by AVIF/WebP/PNG */
    assert_int_equal(lpt_run(IM " '%s' PNG32:'%s'", P("p.pam"), P("rgba.png")), 0);
    assert_min(convert_and_compare(P("rgba.png"), P("rgba.avif"), "--speed 9 -q 90 --chroma 444", "avifdec", &rgba, true), 30);
    assert_min(convert_and_compare(P("rgba.png"), P("rgba.webp"), "-q 95", "dwebp", &rgba, true), 30);
    assert_min(convert_and_compare(P("rgba.png"), P("rgba-out.png"), "", "spng", &rgba, true), 99);
    lp_buffer_image got;
    decode("avifdec", P("rgba.avif"), &got, true);
    assert_true(got.pixels[3] < 8);                                  /* transparent stays so */
    assert_true(got.pixels[(size_t)40 * got.stride + 20 * 4 + 3] > 247);
    lp_buffer_image_free(&got);

    /* to JPEG: flattened over white, so the transparent stripe is white */
    lp_buffer_image flat;
    assert_int_equal(lp_buffer_image_alloc(&flat, 64, 48, LP_FORMAT_RGB8, NULL, NULL), LP_OK);
    for (uint32_t y = 0; y < 48; y++)
        for (uint32_t x = 0; x < 64; x++)
            for (int c = 0; c < 3; c++) {
                const uint8_t *p = rgba.pixels + y * rgba.stride + x * 4;
                flat.pixels[y * flat.stride + x * 3 + c] = (uint8_t)((p[c] * p[3] + 255 * (255 - p[3]) + 127) / 255);
            }
    assert_min(convert_and_compare(P("rgba.png"), P("rgba.jpg"), "-q 95 --chroma 444", "djpeg", &flat, false), 34);
    decode("djpeg", P("rgba.jpg"), &got, false);
    for (uint32_t y = 0; y < 48; y += 7)
        for (int c = 0; c < 3; c++)
            assert_true(got.pixels[y * got.stride + 2 * 3 + c] >= 248);
    lp_buffer_image_free(&got);

    /* --background: flattened over that colour instead (#204080) */
    static const uint8_t bg[3] = {0x20, 0x40, 0x80};
    for (uint32_t y = 0; y < 48; y++)
        for (uint32_t x = 0; x < 64; x++)
            for (int c = 0; c < 3; c++) {
                const uint8_t *p = rgba.pixels + y * rgba.stride + x * 4;
                flat.pixels[y * flat.stride + x * 3 + c] = (uint8_t)((p[c] * p[3] + bg[c] * (255 - p[3]) + 127) / 255);
            }
    assert_min(convert_and_compare(P("rgba.png"), P("rgba-bg.jpg"), "-q 95 --chroma 444 --background '#204080'",
                                   "djpeg", &flat, false), 34);
    decode("djpeg", P("rgba-bg.jpg"), &got, false);
    for (uint32_t y = 0; y < 48; y += 7)
        for (int c = 0; c < 3; c++)
            assert_true(abs((int)got.pixels[y * got.stride + 2 * 3 + c] - bg[c]) <= 6);
    lp_buffer_image_free(&got);
    lp_buffer_image_free(&flat);
    lp_buffer_image_free(&rgba);
}

/* A smooth picture: at sizes like 1x9 a grainy photo is mostly chroma noise that 4:2:0
 * must lose (avifenc loses it the same way), while smooth colour survives subsampling. */
static void make_smooth(lp_buffer_image *img, uint32_t w, uint32_t h)
{
    assert_int_equal(lp_buffer_image_alloc(img, w, h, LP_FORMAT_RGB8, NULL, NULL), LP_OK);
    for (uint32_t y = 0; y < h; y++)
        for (uint32_t x = 0; x < w; x++) {
            uint8_t *p = img->pixels + y * img->stride + x * 3;
            p[0] = (uint8_t)(200 - 4 * x);
            p[1] = (uint8_t)(60 + 5 * y);
            p[2] = (uint8_t)(90 + 2 * (x + y));
        }
}

/* --autorotate on every pixel size the rotation handles: 16-bit RGBA (8 bytes a pixel)
 * and gray+alpha from PNG, gray from JPEG; lossless paths, so exact. */
static void test_autorotate_pixel_formats(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL(IM);
    lp_buffer_image rgba;
    make_rgba(&rgba, 37, 21);  /* odd sizes: no accidental symmetry in the walk */
    write_pnm(&rgba, P("ar.pam"));
    lp_buffer_image_free(&rgba);
    assert_int_equal(lpt_run(IM " '%s' -gamma 1.1 -depth 16 PNG64:'%s'", P("ar.pam"), P("ar64.png")), 0);
    assert_int_equal(lpt_run(IM " '%s' -colorspace Gray -define png:color-type=4 '%s'", P("ar.pam"), P("arga.png")), 0);
    static const char *inputs[] = {"ar64.png", "arga.png"};
    for (int k = 0; k < 2; k++) {
        lp_buffer_image stored;
        assert_true(lpt_read_png(P(inputs[k]), &stored));
        for (int o = 5; o <= 8; o++) {
            png_add_exif(P(inputs[k]), P("ar-in.png"), o);
            assert_int_equal(cli("'%s' '%s' --autorotate", P("ar-in.png"), P("ar-out.png")), 0);
            lp_buffer_image got, want;
            assert_true(lpt_read_png(P("ar-out.png"), &got));
            assert_int_equal(got.info.format, stored.info.format);
            lpt_apply_orientation(&stored, o, &want);
            assert_int_equal(got.info.width, want.info.width);
            assert_int_equal(got.info.height, want.info.height);
            size_t row = (size_t)want.info.width * lp_format_pixel_bytes(want.info.format);
            for (uint32_t y = 0; y < want.info.height; y++)
                if (memcmp(got.pixels + y * got.stride, want.pixels + y * want.stride, row))
                    fail_msg("%s orientation %d: row %u differs", inputs[k], o, y);
            assert_int_equal(png_color_type(P("ar-out.png")), k == 0 ? 6 : 4);
            lp_buffer_image_free(&got);
            lp_buffer_image_free(&want);
        }
        lp_buffer_image_free(&stored);
    }
    /* gray JPEG, orientation 8, to PNG: exact against djpeg's gray decode turned */
    lp_buffer_image gray, gref;
    lpt_make_photo(&gray, 37, 21, LP_FORMAT_G8, 4);
    write_pnm(&gray, P("arg.pgm"));
    lp_buffer_image_free(&gray);
    assert_int_equal(lpt_run("cjpeg -quality 95 -outfile '%s' '%s'", P("arg0.jpg"), P("arg.pgm")), 0);
    uint8_t exif[64];
    size_t exif_size = make_exif(exif, 8);
    splice_segments(P("arg0.jpg"), P("arg.jpg"), exif, exif_size, NULL, 0, NULL);
    assert_true(lpt_decode_external("djpeg", P("arg.jpg"), &gref));
    assert_int_equal(gref.info.format, LP_FORMAT_G8);
    assert_int_equal(cli("'%s' '%s' --autorotate", P("arg.jpg"), P("arg.png")), 0);
    lp_buffer_image got, want;
    assert_true(lpt_read_png(P("arg.png"), &got));
    lpt_to_rgb8(&got, false);
    lpt_to_rgb8(&gref, false);
    lpt_apply_orientation(&gref, 8, &want);
    double psnr = lpt_psnr(&want, &got);
    fprintf(stderr, "  gray jpeg orientation 8: %.2f dB\n", psnr);
    assert_true(psnr >= 99);  /* libjpeg-turbo on both sides: the same samples */
    lp_buffer_image_free(&want);
    lpt_apply_orientation(&gref, 6, &want);
    assert_true(lpt_psnr(&want, &got) < 30);
    lp_buffer_image_free(&want);
    lp_buffer_image_free(&got);
    lp_buffer_image_free(&gref);
}

/* Orientation and resize together, against ImageMagick's -auto-orient -resize; 16 px
 * wide is a plain resample of the 32-px displayed width, 8 px a 4x JPEG shrink-on-load
 * first (--json says which), so both paths have to map the displayed size correctly. */
static void test_autorotate_with_resize(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL(IM);
    static const struct { unsigned width; double min; } sizes[] = {{16, 32}, {8, 30}};
    for (size_t k = 0; k < 2; k++)
        for (int o = 5; o <= 8; o++) {
            unsigned w = sizes[k].width;
            char in[32];
            snprintf(in, sizeof in, "orient%d.jpg", o);
            assert_int_equal(cli("'%s' '%s' --autorotate --resize %ux --json", P(in), P("ar-rs.png"), w), 0);
            if (w == 8)
                assert_non_null(strstr(captured("stdout.txt"), "\"shrink_on_load\":4"));
            assert_int_equal(lpt_run(IM " '%s' -auto-orient -filter Lanczos -resize %ux '%s'", P(in), w, P("ar-im.png")), 0);
            lp_buffer_image got, ref;
            decode("spng", P("ar-rs.png"), &got, false);
            decode("spng", P("ar-im.png"), &ref, false);
            assert_int_equal(got.info.width, w);
            assert_int_equal(got.info.height, w * 3 / 2);
            double good = lpt_psnr(&ref, &got);
            /* the same resize of a wrongly turned image must be far off */
            int wrong = o == 5 ? 7 : o == 6 ? 8 : o == 7 ? 5 : 6;
            snprintf(in, sizeof in, "orient%d.jpg", wrong);
            assert_int_equal(lpt_run(IM " '%s' -auto-orient -filter Lanczos -resize %ux '%s'", P(in), w, P("ar-im.png")), 0);
            lp_buffer_image bad;
            decode("spng", P("ar-im.png"), &bad, false);
            double worse = lpt_psnr(&bad, &got);
            fprintf(stderr, "  orientation %d + resize %ux: %.2f dB (as %d: %.2f dB)\n", o, w, good, wrong, worse);
            assert_true(good >= sizes[k].min);
            assert_true(worse < good - 8);
            lp_buffer_image_free(&got);
            lp_buffer_image_free(&ref);
            lp_buffer_image_free(&bad);
        }
}

static void test_tiny_and_odd_sizes(void **state)
{
    (void)state;
    static const uint32_t sizes[][2] = {{1, 1}, {1, 9}, {9, 1}, {33, 17}, {17, 33}, {2, 3}};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        uint32_t w = sizes[i][0], h = sizes[i][1];
        lp_buffer_image img, swapped;
        make_smooth(&img, w, h);
        make_smooth(&swapped, w, h);
        for (size_t k = 0; k < (size_t)h * swapped.stride; k += 3) {  /* R and B exchanged */
            if (k % swapped.stride + 3 > (size_t)w * 3)
                continue;
            uint8_t t = swapped.pixels[k];
            swapped.pixels[k] = swapped.pixels[k + 2];
            swapped.pixels[k + 2] = t;
        }
        write_pnm(&img, P("t.ppm"));
        assert_int_equal(lpt_run("cjpeg -quality 98 -sample 1x1 -outfile '%s' '%s'", P("t.jpg"), P("t.ppm")), 0);
        assert_int_equal(lpt_run(IM " '%s' '%s'", P("t.ppm"), P("t.png")), 0);
        lp_buffer_image ref;
        decode("djpeg", P("t.jpg"), &ref, false);
        fprintf(stderr, "  %ux%u\n", w, h);
        static const struct { const char *in, *out, *args, *decoder; double min; } cases[] = {
            {"t.jpg", "t.avif", "--speed 9 -q 95 --chroma 420", "avifdec", 34},
            {"t.png", "t-out.jpg", "-q 98 --chroma 420", "djpeg", 34},
            {"t.png", "t.webp", "-q 98", "dwebp", 30},
            {"t.png", "t-out.png", "", "spng", 99}};
        for (size_t c = 0; c < 4; c++) {
            const lp_buffer_image *want = c == 0 ? &ref : &img;
            assert_min(convert_and_compare(P(cases[c].in), P(cases[c].out), cases[c].args,
                                           cases[c].decoder, want, false), cases[c].min);
            lp_buffer_image got;
            decode(cases[c].decoder, P(cases[c].out), &got, false);
            assert_true(lpt_psnr(&swapped, &got) < cases[c].min - 6);
            lp_buffer_image_free(&got);
        }
        lp_buffer_image_free(&ref);
        lp_buffer_image_free(&swapped);
        lp_buffer_image_free(&img);
    }
}

static void test_avif_depth_10(void **state)
{
    (void)state;
    lp_buffer_image img;
    lpt_make_photo(&img, 64, 48, LP_FORMAT_RGB8, 50);
    write_pnm(&img, P("d.ppm"));
    assert_int_equal(lpt_run(IM " '%s' '%s'", P("d.ppm"), P("d.png")), 0);
    assert_min(convert_and_compare(P("d.png"), P("d10.avif"), "--speed 9 -q 90 --depth 10", "avifdec", &img, false), 32);
    char info[4096];
    assert_int_equal(lpt_run_capture(info, sizeof info, "avifdec --info '%s'", P("d10.avif")), 0);
    assert_non_null(strstr(info, "Bit Depth      : 10"));
    assert_min(convert_and_compare(P("d.png"), P("d8.avif"), "--speed 9 -q 90", "avifdec", &img, false), 32);
    assert_int_equal(lpt_run_capture(info, sizeof info, "avifdec --info '%s'", P("d8.avif")), 0);
    assert_non_null(strstr(info, "Bit Depth      : 8"));
    /* --depth 16 PNG from an 8-bit input: every sample v becomes v * 257 */
    assert_int_equal(cli("'%s' '%s' --depth 16", P("d.png"), P("d16.png")), 0);
    lp_buffer_image got;
    assert_true(lpt_read_png(P("d16.png"), &got));
    assert_int_equal(lp_format_sample_bytes(got.info.format), 2);
    unsigned ch = lp_format_channels(got.info.format);  /* the reader may add opaque alpha */
    for (uint32_t y = 0; y < 48; y++)
        for (uint32_t x = 0; x < 64; x++)
            for (unsigned c = 0; c < 3; c++)
                assert_int_equal(((uint16_t *)(got.pixels + y * got.stride))[x * ch + c],
                                 img.pixels[y * img.stride + x * 3 + c] * 257);
    lp_buffer_image_free(&got);
    lp_buffer_image_free(&img);
}

/* ---- 4. I/O modes, limits, budget, threads, JSON ---- */

static void test_io_modes_and_threads(void **state)
{
    (void)state;
    const char *in = P("orient6.jpg");
    static const char *exts[] = {"jpg", "png", "webp", "avif"};
    for (size_t i = 0; i < 4; i++) {
        char a[64], b[64];
        snprintf(a, sizeof a, "io-read.%s", exts[i]);
        snprintf(b, sizeof b, "io-mmap.%s", exts[i]);
        char pa[512];
        snprintf(pa, sizeof pa, "%s", P(a));
        assert_int_equal(cli("'%s' '%s' --speed 9 --io read", in, pa), 0);
        assert_int_equal(cli("'%s' '%s' --speed 9 --io mmap", in, P(b)), 0);
        assert_true(files_equal(pa, P(b)));
    }
    assert_int_equal(cli("'%s' /dev/null --io sideways", in), 2);

    /* threads: the same picture (AVIF with 2 threads may differ in bits, not in pixels) */
    assert_int_equal(cli("'%s' '%s' --speed 9 -q 90 --threads 2 --chroma 444", in, P("t2.avif")), 0);
    lp_buffer_image got;
    decode("avifdec", P("t2.avif"), &got, false);
    check_orientation(&got, 1, 32, "threads 2");
    lp_buffer_image_free(&got);
}

static void test_limits_and_budget(void **state)
{
    (void)state;
    lp_buffer_image img;
    lpt_make_photo(&img, 100, 100, LP_FORMAT_RGB8, 60);
    cjpeg(&img, "", P("h.jpg"));
    lp_buffer_image_free(&img);
    const char *out = P("lim.avif");
    unlink(out);
    assert_int_equal(cli("'%s' '%s' --max-pixels 0.001", P("h.jpg"), out), 1);
    /* exact counts: at this scale "0.0 MP over the limit of 0.0 MP" would tell nothing */
    assert_one_line_error("h.jpg", "10000 pixels, over the limit of 1000 pixels");
    assert_false(lpt_file_exists(out));
    assert_int_equal(cli("'%s' '%s' --max-pixels 0.01 --speed 9", P("h.jpg"), out), 0);  /* 10000 px: fits */
    unlink(out);
    assert_int_equal(cli("'%s' '%s' --max-file-size 100", P("h.jpg"), out), 1);
    assert_one_line_error("h.jpg", "over the limit of 100");
    assert_false(lpt_file_exists(out));
    assert_int_equal(cli("'%s' '%s' --max-width 99", P("h.jpg"), out), 1);
    assert_one_line_error("h.jpg", "99");

    /* a budget far below what one AV1 frame needs: a clean refusal, no output, no temp */
    lpt_make_photo(&img, 1000, 1000, LP_FORMAT_RGB8, 61);
    cjpeg(&img, "", P("big.jpg"));
    lp_buffer_image_free(&img);
    const char *big = P("big.avif");
    unlink(big);
    assert_int_equal(cli("'%s' '%s' --max-mem 1M --grid off --speed 9", P("big.jpg"), big), 1);
    assert_one_line_error("big.jpg", "budget");
    assert_false(lpt_file_exists(big));
    assert_int_equal(lpt_count_files(lpt_tmpdir(), ".big.avif"), 0);
    /* the default (--grid auto) must fail as cleanly, whatever it says */
    assert_int_equal(cli("'%s' '%s' --max-mem 1M --speed 9", P("big.jpg"), big), 1);
    assert_one_line_error("big.jpg", NULL);
    assert_false(lpt_file_exists(big));
    assert_int_equal(lpt_count_files(lpt_tmpdir(), ".big.avif"), 0);
}

static void test_json(void **state)
{
    (void)state;
    assert_int_equal(cli("'%s' '%s' --json --speed 9", P("orient6.jpg"), P("j.avif")), 0);
    const char *out = captured("stdout.txt");
    assert_true(out[0] == '{');
    assert_non_null(strstr(out, "\"status\":\"ok\""));
    char want[64];
    snprintf(want, sizeof want, "\"output_width\":%d,", OW);
    assert_non_null(strstr(out, want));
    if (lpt_have_tool("python3"))
        assert_int_equal(lpt_run("python3 -m json.tool '%s' >/dev/null", P("stdout.txt")), 0);
    else
        fprintf(stderr, "  (python3 absent: JSON syntax not checked)\n");
    /* a failure is JSON too, with the status */
    assert_int_equal(cli("'%s' '%s' --json --max-pixels 0.0001", P("orient6.jpg"), P("j2.avif")), 1);
    out = captured("stdout.txt");
    if (out[0]) {
        assert_null(strstr(out, "\"status\":\"ok\""));
        if (lpt_have_tool("python3"))
            assert_int_equal(lpt_run("python3 -m json.tool '%s' >/dev/null", P("stdout.txt")), 0);
    }
}

/* Things users do: convert a file onto itself, force the format, --autorotate to AVIF. */
static void test_cli_conveniences(void **state)
{
    (void)state;
    /* in place: the input is read before the output replaces it (both I/O modes) */
    static const char *modes[] = {"read", "mmap"};
    for (int m = 0; m < 2; m++) {
        size_t n;
        uint8_t *jpg = lpt_read_file(P("orient1.jpg"), &n);
        lpt_write_file(P("inplace.jpg"), jpg, n);
        free(jpg);
        assert_int_equal(cli("'%s' '%s' -q 95 --chroma 444 --io %s", P("inplace.jpg"), P("inplace.jpg"), modes[m]), 0);
        lp_buffer_image got;
        decode("djpeg", P("inplace.jpg"), &got, false);
        check_orientation(&got, 1, 32, "in place");
        lp_buffer_image_free(&got);
    }
    /* --format wins over the extension */
    assert_int_equal(cli("'%s' '%s' --format webp -q 95", P("orient1.jpg"), P("forced.bin")), 0);
    size_t n;
    uint8_t *data = lpt_read_file(P("forced.bin"), &n);
    assert_true(n > 12 && !memcmp(data, "RIFF", 4) && !memcmp(data + 8, "WEBP", 4));
    free(data);
    /* AVIF keeps the stored pixels even with --autorotate and says how to show them */
    if (lpt_have_tool("heif-convert")) {
        assert_int_equal(cli("'%s' '%s' --autorotate --speed 9 -q 90 --chroma 444", P("orient8.jpg"), P("ar.avif")), 0);
        lp_buffer_image got;
        decode("avifdec", P("ar.avif"), &got, false);
        check_orientation(&got, 1, 32, "autorotate avif stored");
        lp_buffer_image_free(&got);
        decode("heif-convert", P("ar.avif"), &got, false);
        check_orientation(&got, 8, 32, "autorotate avif shown");
        lp_buffer_image_free(&got);
    }
}

/* ---- 5. outputs that cannot be written ---- */

static void test_unwritable_outputs(void **state)
{
    (void)state;
    char out[600];
    snprintf(out, sizeof out, "%s/x.jpg", P("orient1.jpg"));  /* directory is a file */
    assert_int_equal(cli("'%s' '%s'", P("orient1.jpg"), out), 1);
    assert_one_line_error(out, NULL);
    assert_int_equal(cli("'%s' /proc/x.jpg", P("orient1.jpg")), 1);
    assert_one_line_error("/proc/x.jpg", NULL);
    /* the input is untouched */
    assert_int_equal(file_exif_orientation(P("orient1.jpg")), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_orientation_avif_keeps_pixels),
        cmocka_unit_test(test_orientation_autorotate),
        cmocka_unit_test(test_orientation_tag_kept),
        cmocka_unit_test(test_resize_fits_displayed_size),
        cmocka_unit_test(test_metadata_carried),
        cmocka_unit_test(test_png_input_metadata),
        cmocka_unit_test(test_big_icc_carried),
        cmocka_unit_test(test_odd_exif),
        cmocka_unit_test(test_jpeg_input_kinds),
        cmocka_unit_test(test_png_input_kinds),
        cmocka_unit_test(test_autorotate_pixel_formats),
        cmocka_unit_test(test_autorotate_with_resize),
        cmocka_unit_test(test_tiny_and_odd_sizes),
        cmocka_unit_test(test_avif_depth_10),
        cmocka_unit_test(test_io_modes_and_threads),
        cmocka_unit_test(test_limits_and_budget),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_cli_conveniences),
        cmocka_unit_test(test_unwritable_outputs),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
