/*
 * test_codec_limits.c - the decoders' limits on hostile but well-formed inputs, and the
 * metadata they pass on.
 *
 * Every input is generated here: JPEGs through libjpeg with a scan script of thousands of
 * successive-approximation scans, stray bytes spliced in front of markers, hand-written
 * APP1/APP2 segments (truncated EXIF, ICC chunks out of order, duplicated, missing, too
 * big); PNGs forged chunk by chunk with zlib's crc32 (2,000 zTXt chunks that inflate to
 * 128 MB, one 12 MB IDAT). Each case checks the refusal (status and one-line message) or
 * that the image still decodes with the metadata left out, and for the memory cases the
 * counted peak and, outside sanitizer runs, the process's VmHWM growth (reset through
 * /proc/self/clear_refs).
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <jpeglib.h>

/* ---- JPEG generation ---- */

/* Writes extra markers after jpeg_start_compress (before the first scan). */
typedef void (*marker_writer)(j_compress_ptr cinfo, void *user);

typedef struct jpeg_spec {
    uint32_t width, height;
    const jpeg_scan_info *scans;  /* NULL: baseline, or progressive when set below */
    int num_scans;
    bool simple_progressive;      /* libjpeg's standard 10-scan script */
    marker_writer markers;
    void *user;
} jpeg_spec;

static uint8_t *encode_jpeg(const jpeg_spec *spec, size_t *size)
{
    lp_buffer_image img;
    lpt_make_photo(&img, spec->width, spec->height, LP_FORMAT_RGB8, 7);
    struct jpeg_compress_struct cinfo;
    struct jpeg_error_mgr jerr;
    cinfo.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&cinfo);
    unsigned char *out = NULL;
    unsigned long out_size = 0;
    jpeg_mem_dest(&cinfo, &out, &out_size);
    cinfo.image_width = spec->width;
    cinfo.image_height = spec->height;
    cinfo.input_components = 3;
    cinfo.in_color_space = JCS_RGB;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, 90, TRUE);
    if (spec->simple_progressive)
        jpeg_simple_progression(&cinfo);
    if (spec->scans) {
        cinfo.scan_info = spec->scans;
        cinfo.num_scans = spec->num_scans;
    }
    jpeg_start_compress(&cinfo, TRUE);
    if (spec->markers)
        spec->markers(&cinfo, spec->user);
    for (uint32_t y = 0; y < spec->height; y++) {
        JSAMPROW row = img.pixels + (size_t)y * img.stride;
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    lp_buffer_image_free(&img);
    *size = out_size;
    return out;
}

/* A valid progressive script of up to 2,090 scans for 3 components: DC sent at Al 10 and
 * refined bit by bit (11 scans), then every AC coefficient of every component alone, sent
 * at Al 10 and refined down to Al 0 (11 scans each). Any prefix is a valid script. */
static jpeg_scan_info *many_scans(int wanted, int *count)
{
    jpeg_scan_info *s = calloc(2100, sizeof *s);
    int n = 0;
    for (int al = 10; al >= 0 && n < wanted; al--, n++) {
        s[n].comps_in_scan = 3;
        for (int c = 0; c < 3; c++)
            s[n].component_index[c] = c;
        s[n].Ah = al == 10 ? 0 : al + 1;
        s[n].Al = al;
    }
    for (int c = 0; c < 3; c++)
        for (int k = 1; k < 64; k++)
            for (int al = 10; al >= 0 && n < wanted; al--, n++) {
                s[n].comps_in_scan = 1;
                s[n].component_index[0] = c;
                s[n].Ss = s[n].Se = k;
                s[n].Ah = al == 10 ? 0 : al + 1;
                s[n].Al = al;
            }
    *count = n;
    return s;
}

static uint8_t *many_scan_jpeg(uint32_t w, uint32_t h, int wanted, size_t *size)
{
    int n;
    jpeg_scan_info *scans = many_scans(wanted, &n);
    assert_int_equal(n, wanted);
    jpeg_spec spec = {.width = w, .height = h, .scans = scans, .num_scans = n};
    uint8_t *jpg = encode_jpeg(&spec, size);
    free(scans);
    return jpg;
}

/* Counts SOS markers: the scans really in the file. */
static int count_scans(const uint8_t *jpg, size_t size)
{
    int n = 0;
    size_t i = 2;
    while (i + 4 <= size && jpg[i] == 0xFF) {
        uint8_t m = jpg[i + 1];
        size_t len = (size_t)jpg[i + 2] << 8 | jpg[i + 3];
        if (m == 0xD9)
            break;
        i += 2 + len;
        if (m == 0xDA) {  /* skip the entropy-coded data to the next real marker */
            n++;
            while (i + 1 < size && !(jpg[i] == 0xFF && jpg[i + 1] != 0 &&
                                     (jpg[i + 1] < 0xD0 || jpg[i + 1] > 0xD7)))
                i++;
        }
    }
    return n;
}

static lp_status decode_jpeg(const uint8_t *jpg, size_t size, const lp_limits *limits,
                             lp_mem *mem, lp_metadata *meta, lp_error *err)
{
    lp_input *in;
    lp_status st = lp_input_open_memory(&in, jpg, size, err);
    if (st != LP_OK)
        return st;
    lp_stage *src;
    st = lp_jpeg_source_new(&src, in, limits, mem, err);
    if (st != LP_OK)
        return st;
    if (meta)
        *meta = src->info.meta;  /* pointers stay valid only while src lives: compare now */
    lp_buffer_image img;
    st = lp_pipeline_to_buffer(src, &img, NULL, err);
    if (st == LP_OK)
        lp_buffer_image_free(&img);
    lp_stage_destroy(src);
    return st;
}

static void assert_message_has(const lp_error *err, const char *text)
{
    if (!strstr(err->message, text))
        fail_msg("expected \"%s\" in the message: %s", text, err->message);
}

/* ---- process memory ---- */

static long long vm_hwm_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[256];
    long long kib = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %lld kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

/* Resets VmHWM to the current RSS; false when the kernel does not allow it. */
static bool reset_hwm(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f)
        return false;
    bool ok = fputs("5", f) >= 0;
    return fclose(f) == 0 && ok;
}

static bool measure_hwm(void)
{
    if (getenv("LP_SANITIZED")) {
        fprintf(stderr, "note: VmHWM not checked in a sanitizer run (shadow memory)\n");
        return false;
    }
    if (!reset_hwm()) {
        fprintf(stderr, "note: /proc/self/clear_refs unavailable: VmHWM not checked\n");
        return false;
    }
    return true;
}

/* ---- progressive scans (issue 9, item 7) ---- */

static void test_many_scans_refused(void **state)
{
    (void)state;
    size_t size;
    uint8_t *jpg = many_scan_jpeg(256, 192, 2090, &size);
    assert_int_equal(count_scans(jpg, size), 2090);
    lp_error err = {0};
    assert_int_equal(decode_jpeg(jpg, size, NULL, NULL, NULL, &err), LP_ERR_LIMITS);
    assert_message_has(&err, "more than 100 progressive scans");
    assert_null(strchr(err.message, '\n'));
    assert_null(strstr(err.message, "--"));  /* the library names no CLI flag */

    /* the file is valid: with the limit off (0) or above its count it decodes */
    lp_limits limits;
    lp_limits_default(&limits);
    limits.max_scans = 0;
    lp_error_clear(&err);
    assert_int_equal(decode_jpeg(jpg, size, &limits, NULL, NULL, &err), LP_OK);
    limits.max_scans = 2090;
    assert_int_equal(decode_jpeg(jpg, size, &limits, NULL, NULL, &err), LP_OK);
    limits.max_scans = 2089;
    assert_int_equal(decode_jpeg(jpg, size, &limits, NULL, NULL, &err), LP_ERR_LIMITS);
    free(jpg);
}

static void test_scan_limit_boundary(void **state)
{
    (void)state;
    size_t size;
    uint8_t *at = many_scan_jpeg(64, 48, LP_DEFAULT_MAX_SCANS, &size);
    lp_error err = {0};
    assert_int_equal(decode_jpeg(at, size, NULL, NULL, NULL, &err), LP_OK);
    free(at);
    uint8_t *over = many_scan_jpeg(64, 48, LP_DEFAULT_MAX_SCANS + 1, &size);
    assert_int_equal(decode_jpeg(over, size, NULL, NULL, NULL, &err), LP_ERR_LIMITS);
    free(over);
}

static void test_normal_progressive_decodes(void **state)
{
    (void)state;
    jpeg_spec spec = {.width = 320, .height = 240, .simple_progressive = true};
    size_t size;
    uint8_t *jpg = encode_jpeg(&spec, &size);
    assert_int_equal(count_scans(jpg, size), 10);
    lp_error err = {0};
    assert_int_equal(decode_jpeg(jpg, size, NULL, NULL, NULL, &err), LP_OK);
    free(jpg);
}

static void test_cli_names_the_option(void **state)
{
    (void)state;
    size_t size;
    uint8_t *jpg = many_scan_jpeg(64, 48, 300, &size);
    const char *in = lpt_path("scans300.jpg");
    lpt_write_file(in, jpg, size);
    free(jpg);
    remove(lpt_path("scans300.png"));  /* from an earlier run */
    char out[1024];
    int rc = lpt_run_capture(out, sizeof out, "'%s' convert '%s' '%s' 2>&1", lpt_bin(), in,
                             lpt_path("scans300.png"));
    assert_int_not_equal(rc, 0);
    if (!strstr(out, "scans300.jpg") || !strstr(out, "more than 100 progressive scans") ||
        !strstr(out, "--max-scans"))
        fail_msg("want one line naming the file, the reason and --max-scans: %s", out);
    assert_false(lpt_file_exists(lpt_path("scans300.png")));
    rc = lpt_run_capture(out, sizeof out, "'%s' convert --max-scans 300 '%s' '%s' 2>&1",
                         lpt_bin(), in, lpt_path("scans300.png"));
    if (rc != 0)
        fail_msg("--max-scans 300 should let it through: %s", out);
}

/* ---- recoverable defects ---- */

static void write_comments(j_compress_ptr cinfo, void *user)
{
    int n = *(int *)user;
    for (int i = 0; i < n; i++)
        jpeg_write_marker(cinfo, JPEG_COM, (const JOCTET *)"x", 1);
}

/* A JPEG with n COM markers, each preceded by one stray byte (libjpeg warns "Corrupt JPEG
 * data: 1 extraneous bytes before marker" and skips it: the pixels are intact). */
static uint8_t *stray_byte_jpeg(int n, size_t *size)
{
    jpeg_spec spec = {.width = 64, .height = 48, .markers = write_comments, .user = &n};
    size_t clean_size;
    uint8_t *clean = encode_jpeg(&spec, &clean_size);
    uint8_t *out = malloc(clean_size + (size_t)n);
    size_t o = 0;
    for (size_t i = 0; i < clean_size; i++) {
        if (i + 5 <= clean_size && clean[i] == 0xFF && clean[i + 1] == 0xFE && clean[i + 2] == 0 &&
            clean[i + 3] == 3 && clean[i + 4] == 'x')
            out[o++] = 0x00;
        out[o++] = clean[i];
    }
    free(clean);
    *size = o;
    return out;
}

static void test_warnings_capped(void **state)
{
    (void)state;
    size_t size;
    uint8_t *few = stray_byte_jpeg(3, &size);
    lp_error err = {0};
    assert_int_equal(decode_jpeg(few, size, NULL, NULL, NULL, &err), LP_OK);
    free(few);
    uint8_t *many = stray_byte_jpeg(500, &size);
    assert_int_equal(decode_jpeg(many, size, NULL, NULL, NULL, &err), LP_ERR_LIMITS);
    assert_message_has(&err, "more than 100 recoverable defects");
    lp_limits limits;
    lp_limits_default(&limits);
    limits.max_warnings = 0;
    lp_error_clear(&err);
    assert_int_equal(decode_jpeg(many, size, &limits, NULL, NULL, &err), LP_OK);
    free(many);
}

/* ---- EXIF (issue 9, item 10b) ---- */

static void write_app1(j_compress_ptr cinfo, void *user)
{
    const uint8_t *seg = user;  /* 2-byte big-endian length, then the payload */
    unsigned len = (unsigned)seg[0] << 8 | seg[1];
    jpeg_write_marker(cinfo, JPEG_APP0 + 1, seg + 2, len);
}

static uint8_t *jpeg_with_exif(const uint8_t *exif, size_t exif_size, size_t *size)
{
    uint8_t seg[2 + 6 + 256];
    seg[0] = (uint8_t)((6 + exif_size) >> 8);
    seg[1] = (uint8_t)(6 + exif_size);
    memcpy(seg + 2, "Exif\0\0", 6);
    memcpy(seg + 8, exif, exif_size);
    jpeg_spec spec = {.width = 96, .height = 64, .markers = write_app1, .user = seg};
    return encode_jpeg(&spec, size);
}

static const uint8_t ORIENTATION_6[] = {
    'M', 'M', 0, 42, 0, 0, 0, 8,   /* big-endian TIFF, IFD0 at 8 */
    0, 1,                          /* one entry */
    0x01, 0x12, 0, 3, 0, 0, 0, 1,  /* Orientation, SHORT, 1 value */
    0, 6, 0, 0,                    /* 6 */
    0, 0, 0, 0};                   /* no next IFD */

static void test_truncated_exif_dropped_for_avif(void **state)
{
    (void)state;
    /* an APP1 "Exif\0\0" cut after 3 bytes of its TIFF header */
    size_t size;
    uint8_t *jpg = jpeg_with_exif(ORIENTATION_6, 3, &size);
    const char *in = lpt_path("truncated_exif.jpg");
    lpt_write_file(in, jpg, size);
    lp_error err = {0};
    lp_convert_options opts;
    lp_convert_options_default(&opts);
    opts.encode.speed = 10;
    lp_convert_stats stats;
    lp_status st = lp_convert_file(in, lpt_path("truncated_exif.avif"), &opts, &stats, &err);
    if (st != LP_OK)
        fail_msg("a truncated EXIF must not fail the AVIF: %s", lp_error_message(&err));
    if (!strstr(stats.warning, "EXIF"))
        fail_msg("the job should say the EXIF was left out: '%s'", stats.warning);
    /* and the same through a grid */
    opts.encode.grid = LP_GRID_FIXED;
    opts.encode.grid_cell_width = opts.encode.grid_cell_height = 64;
    st = lp_convert_file(in, lpt_path("truncated_exif_grid.avif"), &opts, &stats, &err);
    if (st != LP_OK)
        fail_msg("grid: %s", lp_error_message(&err));
    /* the CLI says so in one line and still succeeds; --json carries it */
    char out[1024];
    int rc = lpt_run_capture(out, sizeof out, "'%s' convert --speed 10 '%s' '%s' 2>&1", lpt_bin(),
                             in, lpt_path("truncated_exif_cli.avif"));
    if (rc != 0 || !strstr(out, "truncated_exif.jpg: warning: metadata left out: EXIF"))
        fail_msg("convert: exit %d, said '%s'", rc, out);
    rc = lpt_run_capture(out, sizeof out, "'%s' convert --json '%s' '%s' 2>&1", lpt_bin(), in,
                         lpt_path("truncated_exif_cli.webp"));
    if (rc != 0 || !strstr(out, "\"warning\":\"metadata left out: EXIF"))
        fail_msg("convert --json: exit %d, said '%s'", rc, out);
    /* the source is where it is left out */
    lp_metadata meta;
    assert_int_equal(decode_jpeg(jpg, size, NULL, NULL, &meta, &err), LP_OK);
    assert_null(meta.exif);
    assert_non_null(meta.dropped);
    free(jpg);

    /* a whole EXIF block still goes through, orientation and all */
    jpg = jpeg_with_exif(ORIENTATION_6, sizeof ORIENTATION_6, &size);
    assert_int_equal(decode_jpeg(jpg, size, NULL, NULL, &meta, &err), LP_OK);
    assert_int_equal(meta.orientation, 6);
    assert_int_equal(meta.exif_size, sizeof ORIENTATION_6);
    assert_null(meta.dropped);
    free(jpg);
}

static void test_exif_parse_is_safe(void **state)
{
    (void)state;
    assert_true(lp_exif_is_tiff(ORIENTATION_6, sizeof ORIENTATION_6));
    assert_int_equal(lp_exif_orientation(ORIENTATION_6, sizeof ORIENTATION_6), 6);
    for (size_t cut = 0; cut < sizeof ORIENTATION_6; cut++) {
        int o = lp_exif_orientation(ORIENTATION_6, cut);
        assert_true(o == 1 || o == 6);
        assert_int_equal(lp_exif_is_tiff(ORIENTATION_6, cut), cut >= 10);
    }
    /* IFD0 whose "next IFD" is itself, and an entry count far past the end */
    uint8_t loop[sizeof ORIENTATION_6];
    memcpy(loop, ORIENTATION_6, sizeof loop);
    loop[25] = 8;
    assert_int_equal(lp_exif_orientation(loop, sizeof loop), 6);
    loop[8] = 0xFF;
    loop[9] = 0xFF;
    int o = lp_exif_orientation(loop, sizeof loop);
    assert_true(o >= 1 && o <= 8);
    /* IFD0 offset out of the block */
    memcpy(loop, ORIENTATION_6, sizeof loop);
    loop[4] = 0x7F;
    assert_false(lp_exif_is_tiff(loop, sizeof loop));
    assert_int_equal(lp_exif_orientation(loop, sizeof loop), 1);
}

/* ---- ICC chunks in APP2 ---- */

typedef struct icc_plan {
    const uint8_t *profile;
    size_t size;
    unsigned chunk;        /* bytes a chunk */
    unsigned count;        /* the count every chunk announces */
    const int *order;      /* sequence numbers to write, in this order (1-based) */
    int writes;
} icc_plan;

static void write_icc_chunks(j_compress_ptr cinfo, void *user)
{
    const icc_plan *p = user;
    uint8_t *buf = malloc(14 + p->chunk);
    for (int i = 0; i < p->writes; i++) {
        int seq = p->order[i];
        size_t at = (size_t)(seq - 1) * p->chunk;
        size_t n = at < p->size ? (p->size - at < p->chunk ? p->size - at : p->chunk) : 0;
        memcpy(buf, "ICC_PROFILE", 12);
        buf[12] = (uint8_t)seq;
        buf[13] = (uint8_t)p->count;
        memcpy(buf + 14, p->profile + at, n);
        jpeg_write_marker(cinfo, JPEG_APP0 + 2, buf, (unsigned)(14 + n));
    }
    free(buf);
}

static uint8_t *jpeg_with_icc(icc_plan *plan, size_t *size)
{
    jpeg_spec spec = {.width = 32, .height = 32, .markers = write_icc_chunks, .user = plan};
    return encode_jpeg(&spec, size);
}

static void check_icc(const int *order, int writes, unsigned count, bool whole,
                      const lp_limits *limits)
{
    enum { PROFILE = 150000, CHUNK = 60000 };
    uint8_t *profile = malloc(PROFILE);
    for (size_t i = 0; i < PROFILE; i++)
        profile[i] = (uint8_t)(i * 31 + (i >> 9));
    icc_plan plan = {profile, PROFILE, CHUNK, count, order, writes};
    size_t size;
    uint8_t *jpg = jpeg_with_icc(&plan, &size);
    lp_input *in;
    lp_error err = {0};
    assert_int_equal(lp_input_open_memory(&in, jpg, size, &err), LP_OK);
    lp_stage *src;
    lp_mem *mem = lp_mem_new(0, NULL);
    assert_int_equal(lp_jpeg_source_new(&src, in, limits, mem, &err), LP_OK);
    if (whole) {
        assert_int_equal(src->info.meta.icc_size, PROFILE);
        assert_memory_equal(src->info.meta.icc, profile, PROFILE);
    } else {
        assert_null(src->info.meta.icc);
        assert_non_null(src->info.meta.dropped);
    }
    lp_buffer_image img;
    assert_int_equal(lp_pipeline_to_buffer(src, &img, NULL, &err), LP_OK);
    lp_buffer_image_free(&img);
    lp_stage_destroy(src);
    assert_int_equal(lp_mem_current(mem), 0);  /* every chunk was given back */
    lp_mem_free_tracker(mem);
    free(jpg);
    free(profile);
}

static void test_icc_chunks(void **state)
{
    (void)state;
    static const int in_order[] = {1, 2, 3}, shuffled[] = {3, 1, 2}, duplicate[] = {1, 2, 2, 3},
                     missing[] = {1, 3}, beyond[] = {1, 2, 4};
    check_icc(in_order, 3, 3, true, NULL);
    check_icc(shuffled, 3, 3, true, NULL);
    check_icc(duplicate, 4, 3, false, NULL);
    check_icc(missing, 2, 3, false, NULL);
    check_icc(beyond, 3, 3, false, NULL);
    check_icc(in_order, 3, 4, false, NULL);  /* announces 4, has 3 */
    lp_limits small;
    lp_limits_default(&small);
    small.max_metadata_bytes = 100000;  /* the profile is 150,000 bytes */
    check_icc(in_order, 3, 3, false, &small);
    small.max_metadata_bytes = 0;       /* no limit */
    check_icc(in_order, 3, 3, true, &small);
}

/* 1,000 APP1 segments of 65 kB: libjpeg's jpeg_save_markers kept all 65 MB in its own
 * pools; the source now keeps the first and skips the rest. */
static void write_many_app1(j_compress_ptr cinfo, void *user)
{
    (void)user;
    enum { LEN = 65000 };
    uint8_t *seg = calloc(1, LEN);
    memcpy(seg, "http://ns.adobe.com/xap/1.0/", 29);
    for (int i = 0; i < 1000; i++)
        jpeg_write_marker(cinfo, JPEG_APP0 + 1, seg, LEN);
    free(seg);
}

static void test_many_app1_segments_bounded(void **state)
{
    (void)state;
    jpeg_spec spec = {.width = 64, .height = 64, .markers = write_many_app1};
    size_t size;
    uint8_t *jpg = encode_jpeg(&spec, &size);
    assert_true(size > 65000000);
    bool hwm = measure_hwm();
    long long before = vm_hwm_kib();
    lp_mem *mem = lp_mem_new(0, NULL);
    lp_metadata meta;
    lp_error err = {0};
    assert_int_equal(decode_jpeg(jpg, size, NULL, mem, &meta, &err), LP_OK);
    long long grew = vm_hwm_kib() - before;
    assert_in_range(lp_mem_peak(mem), 0, 2u << 20);
    lp_mem_free_tracker(mem);
    if (hwm && grew > 16 * 1024)
        fail_msg("VmHWM grew by %lld KiB for 65 MB of APP1 segments", grew);
    free(jpg);
}

/* ---- PNG ancillary chunks (issue 9, item 10c) ---- */

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

typedef struct png_forge {
    uint8_t *data;
    size_t size, cap;
} png_forge;

static void forge_chunk(png_forge *f, const char type[4], const uint8_t *body, size_t len)
{
    if (f->size + len + 12 > f->cap) {
        f->cap = (f->size + len + 12) * 2;
        f->data = realloc(f->data, f->cap);
    }
    uint8_t *p = f->data + f->size;
    put_be32(p, (uint32_t)len);
    memcpy(p + 4, type, 4);
    if (len)
        memcpy(p + 8, body, len);
    put_be32(p + 8 + len, (uint32_t)crc32(0, p + 4, (uInt)(len + 4)));
    f->size += len + 12;
}

/* An 8-bit gray (or RGB) PNG with `texts` zTXt chunks of `text_bytes` inflated each. */
static uint8_t *forge_png(uint32_t w, uint32_t h, bool rgb, int texts, size_t text_bytes,
                          size_t *size)
{
    png_forge f = {0};
    f.cap = 1024;
    f.data = malloc(f.cap);
    memcpy(f.data, "\x89PNG\r\n\x1a\n", 8);
    f.size = 8;
    uint8_t ihdr[13] = {0};
    put_be32(ihdr, w);
    put_be32(ihdr + 4, h);
    ihdr[8] = 8;
    ihdr[9] = rgb ? 2 : 0;
    forge_chunk(&f, "IHDR", ihdr, sizeof ihdr);
    if (texts) {
        uint8_t *text = malloc(text_bytes);
        memset(text, 'a', text_bytes);
        uLongf zlen = compressBound((uLong)text_bytes);
        uint8_t *body = malloc(8 + zlen);
        memcpy(body, "Comment\0\0", 9);  /* keyword, NUL, method 0 */
        zlen = compressBound((uLong)text_bytes);
        assert_int_equal(compress2(body + 9, &zlen, text, (uLong)text_bytes, 9), Z_OK);
        for (int i = 0; i < texts; i++)
            forge_chunk(&f, "zTXt", body, 9 + zlen);
        free(body);
        free(text);
    }
    size_t row = 1 + (size_t)w * (rgb ? 3 : 1);
    size_t raw_size = row * h;
    uint8_t *raw = malloc(raw_size);
    for (size_t i = 0; i < raw_size; i++)
        raw[i] = i % row == 0 ? 0 : (uint8_t)(i * 2654435761u >> 24);
    uLongf zlen = compressBound((uLong)raw_size);
    uint8_t *z = malloc(zlen);
    assert_int_equal(compress2(z, &zlen, raw, (uLong)raw_size, 0), Z_OK);
    forge_chunk(&f, "IDAT", z, zlen);
    forge_chunk(&f, "IEND", NULL, 0);
    free(z);
    free(raw);
    *size = f.size;
    return f.data;
}

static lp_status decode_png(const uint8_t *png, size_t size, const lp_limits *limits, lp_mem *mem,
                            lp_error *err)
{
    lp_input *in;
    lp_status st = lp_input_open_memory(&in, png, size, err);
    if (st != LP_OK)
        return st;
    lp_stage *src;
    st = lp_png_source_new(&src, in, limits, mem, err);
    if (st != LP_OK)
        return st;
    lp_buffer_image img;
    st = lp_pipeline_to_buffer(src, &img, NULL, err);
    if (st == LP_OK)
        lp_buffer_image_free(&img);
    lp_stage_destroy(src);
    return st;
}

static void test_ztxt_bomb_bounded(void **state)
{
    (void)state;
    size_t size;
    uint8_t *png = forge_png(16, 16, false, 2000, 64 << 10, &size);  /* 128 MB of text */
    bool hwm = measure_hwm();
    long long before = vm_hwm_kib();
    lp_mem *mem = lp_mem_new(0, NULL);
    lp_error err = {0};
    lp_status st = decode_png(png, size, NULL, mem, &err);
    long long grew = vm_hwm_kib() - before;
    uint64_t peak = lp_mem_peak(mem);
    assert_int_equal(lp_mem_current(mem), 0);
    lp_mem_free_tracker(mem);
    assert_int_equal(st, LP_ERR_LIMITS);
    assert_message_has(&err, "metadata limit");
    /* spng's allocations are counted now: the text cache, its zlib state, the context */
    if (peak < LP_DEFAULT_MAX_METADATA_BYTES / 2 || peak > LP_DEFAULT_MAX_METADATA_BYTES + (2u << 20))
        fail_msg("counted peak %llu bytes, want about the metadata limit",
                 (unsigned long long)peak);
    if (hwm && grew > 24 * 1024)
        fail_msg("VmHWM grew by %lld KiB for 2,000 zTXt chunks", grew);
    free(png);

    /* a job budget below the limit stops it sooner, as a memory error */
    mem = lp_mem_new(4u << 20, NULL);
    lp_error_clear(&err);
    assert_int_equal(decode_png(png = forge_png(16, 16, false, 2000, 64 << 10, &size), size, NULL,
                                mem, &err),
                     LP_ERR_NOMEM);
    assert_in_range(lp_mem_peak(mem), 0, 4u << 20);
    lp_mem_free_tracker(mem);
    free(png);

    /* a few text chunks are fine */
    png = forge_png(16, 16, false, 10, 64 << 10, &size);
    assert_int_equal(decode_png(png, size, NULL, NULL, &err), LP_OK);
    free(png);
}

static void test_big_idat_is_not_metadata(void **state)
{
    (void)state;
    if (getenv("LP_SANITIZED"))
        fprintf(stderr, "note: a 12 MB IDAT under sanitizers takes a few seconds\n");
    size_t size;
    uint8_t *png = forge_png(2000, 2000, true, 0, 0, &size);  /* one stored 12 MB IDAT */
    assert_true(size > 12000000);
    lp_error err = {0};
    lp_status st = decode_png(png, size, NULL, NULL, &err);
    if (st != LP_OK)
        fail_msg("a large IDAT chunk must not hit the metadata limit: %s", lp_error_message(&err));
    free(png);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_many_scans_refused),
        cmocka_unit_test(test_scan_limit_boundary),
        cmocka_unit_test(test_normal_progressive_decodes),
        cmocka_unit_test(test_cli_names_the_option),
        cmocka_unit_test(test_warnings_capped),
        cmocka_unit_test(test_truncated_exif_dropped_for_avif),
        cmocka_unit_test(test_exif_parse_is_safe),
        cmocka_unit_test(test_icc_chunks),
        cmocka_unit_test(test_many_app1_segments_bounded),
        cmocka_unit_test(test_ztxt_bomb_bounded),
        cmocka_unit_test(test_big_idat_is_not_metadata),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
