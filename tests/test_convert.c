/*
 * test_convert.c - `leanpix convert` end to end, as a user runs it: every input/output
 * format pair decoded by an independent decoder and compared with the source; resizing
 * options; orientation; --json; and bad input (truncated, corrupt, missing, huge header,
 * unwritable output), each giving one line naming the file, exit 1 and no output left.
 */
#define _GNU_SOURCE  /* memmem */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SRC_W 203
#define SRC_H 141

static lp_buffer_image source;

static void write_ppm(const lp_buffer_image *img, const char *path)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fprintf(f, "P6\n%u %u\n255\n", img->info.width, img->info.height);
    for (uint32_t y = 0; y < img->info.height; y++)
        fwrite(img->pixels + (size_t)y * img->stride, 1, (size_t)img->info.width * 3, f);
    fclose(f);
}

/* Inputs made by independent encoders: cjpeg (libjpeg-turbo's tool) and vips. */
static int make_inputs(void **state)
{
    (void)state;
    lpt_make_photo(&source, SRC_W, SRC_H, LP_FORMAT_RGB8, 11);
    /* 2-pixel horizontal bands: detail that codecs keep but a one-row shift destroys, so
     * the PSNR thresholds below can tell a shifted image from a good one */
    for (uint32_t y = 0; y < SRC_H; y++)
        if (y % 4 < 2)
            for (uint32_t x = 0; x < SRC_W * 3; x++) {
                uint8_t *p = source.pixels + (size_t)y * source.stride + x;
                *p = (uint8_t)(*p > 255 - 28 ? 255 : *p + 28);
            }
    write_ppm(&source, lpt_path("src.ppm"));
    if (lpt_run("cjpeg -quality 95 -sample 1x1 -outfile '%s' '%s'", lpt_path("src.jpg"), lpt_path("src.ppm")))
        return -1;
    if (lpt_run("vips copy '%s' '%s' >/dev/null 2>&1", lpt_path("src.ppm"), lpt_path("src.png")))
        return -1;
    return 0;
}

static int free_inputs(void **state)
{
    (void)state;
    lp_buffer_image_free(&source);
    return 0;
}

static int convert(const char *args)
{
    return lpt_run("'%s' convert %s 2>'%s'", lpt_bin(), args, lpt_path("stderr.txt"));
}

static const char *last_stderr(void)
{
    static char buf[4096];
    size_t n = 0;
    uint8_t *data = lpt_read_file(lpt_path("stderr.txt"), &n);
    buf[0] = '\0';
    if (data) {
        snprintf(buf, sizeof buf, "%.*s", (int)n, (const char *)data);
        free(data);
    }
    return buf;
}

static void check_pair(const char *in_ext, const char *out_ext, const char *decoder, double min_psnr)
{
    char in[512], out[512], args[1200];
    snprintf(in, sizeof in, "%s", lpt_path(in_ext));
    snprintf(out, sizeof out, "%s", lpt_path(out_ext));
    unlink(out);
    snprintf(args, sizeof args, "'%s' '%s' -q 90 --speed 9", in, out);
    assert_int_equal(convert(args), 0);
    lp_buffer_image got;
    assert_true(lpt_decode_external(decoder, out, &got));
    assert_int_equal(got.info.width, SRC_W);
    assert_int_equal(got.info.height, SRC_H);
    double psnr = lpt_psnr(&source, &got);
    fprintf(stderr, "%s -> %s (%s): PSNR %.2f dB\n", in_ext, out_ext, decoder, psnr);
    assert_true(psnr >= min_psnr);
    /* the same comparison one row off must fail: proves the threshold can catch a shift */
    lp_buffer_image shifted = got;
    shifted.pixels += got.stride;
    shifted.info.height--;
    lp_buffer_image src_cut = source;
    src_cut.info.height--;
    assert_true(lpt_psnr(&src_cut, &shifted) < min_psnr);
    lp_buffer_image_free(&got);
}

static void test_jpeg_to_all(void **state)
{
    (void)state;
    check_pair("src.jpg", "o1.avif", "avifdec", 30);
    check_pair("src.jpg", "o1.jpg", "djpeg", 30);
    check_pair("src.jpg", "o1.webp", "dwebp", 30);
    check_pair("src.jpg", "o1.png", "spng", 34);  /* the q95 JPEG input itself is ~36 dB */
}

static void test_png_to_all(void **state)
{
    (void)state;
    check_pair("src.png", "o2.avif", "avifdec", 30);
    check_pair("src.png", "o2.jpg", "djpeg", 30);
    check_pair("src.png", "o2.webp", "dwebp", 30);
    check_pair("src.png", "o2.png", "spng", 99);  /* lossless: identical */
}

static void expect_failure(const char *args, const char *named, const char *reason_part, const char *out)
{
    assert_int_equal(convert(args), 1);
    const char *err = last_stderr();
    fprintf(stderr, "stderr: %s", err);
    assert_non_null(strstr(err, "leanpix: "));
    assert_non_null(strstr(err, named));
    if (reason_part)
        assert_non_null(strstr(err, reason_part));
    assert_ptr_equal(strchr(err, '\n'), err + strlen(err) - 1);  /* exactly one line */
    if (out) {
        assert_false(lpt_file_exists(out));
        assert_int_equal(lpt_count_files(lpt_tmpdir(), ".bad"), 0);  /* no temp file left */
    }
}

static void test_bad_inputs(void **state)
{
    (void)state;
    char args[1200];
    size_t n;
    uint8_t *jpg = lpt_read_file(lpt_path("src.jpg"), &n);
    assert_non_null(jpg);
    lpt_write_file(lpt_path("trunc.jpg"), jpg, n / 2);
    snprintf(args, sizeof args, "'%s' '%s'", lpt_path("trunc.jpg"), lpt_path("bad1.avif"));
    expect_failure(args, "trunc.jpg", NULL, lpt_path("bad1.avif"));
    snprintf(args, sizeof args, "'%s' '%s'", lpt_path("trunc.jpg"), lpt_path("bad1.jpg"));
    expect_failure(args, "trunc.jpg", NULL, lpt_path("bad1.jpg"));
    /* corrupt: scramble the entropy-coded data after the headers */
    for (size_t i = n / 3; i < n - 2; i += 7)
        jpg[i] = (uint8_t)(jpg[i] * 31 + 7);
    lpt_write_file(lpt_path("corrupt.jpg"), jpg, n);
    snprintf(args, sizeof args, "'%s' '%s'", lpt_path("corrupt.jpg"), lpt_path("bad2.png"));
    int rc = convert(args);
    if (rc != 0)  /* libjpeg may survive some scrambles; what it must never do is crash */
        expect_failure(args, "corrupt.jpg", NULL, lpt_path("bad2.png"));
    assert_true(rc == 0 || rc == 1);
    free(jpg);

    lpt_write_file(lpt_path("text.jpg"), "hello, world\n", 13);
    snprintf(args, sizeof args, "'%s' '%s'", lpt_path("text.jpg"), lpt_path("bad3.avif"));
    expect_failure(args, "text.jpg", "not an image in a format leanpix reads (jpeg, png", lpt_path("bad3.avif"));

    snprintf(args, sizeof args, "'%s' '%s'", lpt_path("missing.jpg"), lpt_path("bad4.avif"));
    expect_failure(args, "missing.jpg", "No such file", lpt_path("bad4.avif"));

    snprintf(args, sizeof args, "'%s' /nonexistent-dir/out.avif", lpt_path("src.jpg"));
    expect_failure(args, "/nonexistent-dir/out.avif", NULL, NULL);

    /* an output name of no format leanpix writes is a bad command line: status 2 */
    snprintf(args, sizeof args, "'%s' '%s'", lpt_path("src.jpg"), lpt_path("bad5.xyz"));
    assert_int_equal(convert(args), 2);
    assert_non_null(strstr(last_stderr(), "bad5.xyz: cannot tell the output format"));
    assert_false(lpt_file_exists(lpt_path("bad5.xyz")));
}

/* A PNG whose IHDR claims 100000x100000 (CRC fixed up) is refused from the header. */
static void test_huge_header_refused(void **state)
{
    (void)state;
    static const uint8_t png[] = {
        0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n',
        0, 0, 0, 13, 'I', 'H', 'D', 'R',
        0x00, 0x01, 0x86, 0xA0, 0x00, 0x01, 0x86, 0xA0, 8, 2, 0, 0, 0,
        0x00, 0x00, 0x00, 0x00,  /* CRC: filled below */
        0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xAE, 0x42, 0x60, 0x82};
    uint8_t copy[sizeof png];
    memcpy(copy, png, sizeof png);
    /* CRC-32 over "IHDR" + data */
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 12; i < 29; i++) {
        crc ^= copy[i];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1)));
    }
    crc ^= 0xFFFFFFFFu;
    copy[29] = (uint8_t)(crc >> 24);
    copy[30] = (uint8_t)(crc >> 16);
    copy[31] = (uint8_t)(crc >> 8);
    copy[32] = (uint8_t)crc;
    lpt_write_file(lpt_path("huge.png"), copy, sizeof copy);
    char args[1200];
    snprintf(args, sizeof args, "'%s' '%s'", lpt_path("huge.png"), lpt_path("bad6.avif"));
    expect_failure(args, "huge.png", "100000", lpt_path("bad6.avif"));
}

/* The AV1 data of an AVIF made from src.jpg, its frame OBU's type changed to a reserved
 * one (13): dav1d logs "Unknown OBU type 13" and finds no frame. */
static void make_bad_av1(const char *path)
{
    char args[1200];
    snprintf(args, sizeof args, "'%s' '%s' --speed 9", lpt_path("src.jpg"), path);
    assert_int_equal(convert(args), 0);
    size_t n;
    uint8_t *avif = lpt_read_file(path, &n);
    assert_non_null(avif);
    uint8_t *mdat = memmem(avif, n, "mdat", 4);
    assert_non_null(mdat);
    uint8_t *obu = mdat + 4, *end = avif + n;
    while (obu < end && (*obu >> 3 & 15) != 6) {  /* to the frame, OBU by OBU */
        assert_true(*obu & 2);                      /* each with its size (has_size) */
        size_t size = 0, at = 1 + !!(*obu & 4);
        for (unsigned shift = 0; obu + at < end && shift < 56; shift += 7) {
            size |= (size_t)(obu[at] & 127) << shift;
            if (!(obu[at++] & 128))
                break;
        }
        obu += at + size;
    }
    assert_true(obu < end);
    *obu = (uint8_t)((*obu & 0x87) | 13 << 3);
    lpt_write_file(path, avif, n);
    free(avif);
}

/* dav1d's own line about bad AV1 data is part of the one error line, for convert and batch
 * (tools/dav1d_messages.c); without it dav1d printed a line of its own first. */
static void test_bad_av1_data_one_line(void **state)
{
    (void)state;
    make_bad_av1(lpt_path("badobu.avif"));
    char args[1200];
    snprintf(args, sizeof args, "'%s' '%s'", lpt_path("badobu.avif"), lpt_path("bad7.png"));
    expect_failure(args, "badobu.avif", "(dav1d: Unknown OBU type 13", lpt_path("bad7.png"));
    char json[4096];  /* the PNG header written before the failure went with the file */
    assert_int_equal(lpt_run_capture(json, sizeof json, "'%s' convert %s --json 2>/dev/null",
                                     lpt_bin(), args), 1);
    assert_non_null(strstr(json, "\"status\":\"error\""));
    assert_non_null(strstr(json, "\"bytes_out\":0,"));

    char err[4096];
    assert_int_equal(lpt_run_capture(err, sizeof err, "'%s' batch -o '%s' '%s'",
                                     lpt_bin(), lpt_path("badobu-out"), lpt_path("badobu.avif")),
                     3);  /* batch: some images failed */
    fprintf(stderr, "batch: %s", err);
    const char *line = strstr(err, "leanpix: ");
    assert_non_null(line);
    assert_ptr_equal(line, err);  /* nothing before our first line */
    assert_non_null(strstr(err, "badobu.avif: AVIF image data"));
    assert_non_null(strstr(err, "(dav1d: Unknown OBU type 13"));
    for (const char *l = err; *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : l + strlen(l))
        assert_int_equal(strncmp(l, "leanpix: ", 9), 0);  /* every line is ours */
}

static void test_resize_options(void **state)
{
    (void)state;
    char args[1200], json[4096];
    snprintf(args, sizeof args, "'%s' '%s' --resize 100x --json", lpt_path("src.jpg"), lpt_path("r1.png"));
    assert_int_equal(lpt_run_capture(json, sizeof json, "'%s' convert %s", lpt_bin(), args), 0);
    assert_non_null(strstr(json, "\"output_width\":100,"));
    assert_non_null(strstr(json, "\"output_height\":69,"));  /* 141 * 100/203 = 69.5 -> 69 */
    assert_non_null(strstr(json, "\"status\":\"ok\""));
    lp_buffer_image got;
    assert_true(lpt_read_png(lpt_path("r1.png"), &got));
    assert_int_equal(got.info.width, 100);
    lp_buffer_image_free(&got);

    /* shrink-on-load kicks in for a JPEG reduced more than twice */
    snprintf(args, sizeof args, "'%s' '%s' --max-dim 50 --json", lpt_path("src.jpg"), lpt_path("r2.jpg"));
    assert_int_equal(lpt_run_capture(json, sizeof json, "'%s' convert %s", lpt_bin(), args), 0);
    assert_non_null(strstr(json, "\"output_width\":50,"));
    assert_null(strstr(json, "\"shrink_on_load\":1,"));
    assert_non_null(strstr(json, "resize"));

    /* no enlarging unless asked */
    snprintf(args, sizeof args, "'%s' '%s' --scale 2 --json", lpt_path("src.png"), lpt_path("r3.png"));
    assert_int_equal(lpt_run_capture(json, sizeof json, "'%s' convert %s", lpt_bin(), args), 0);
    assert_non_null(strstr(json, "\"output_width\":203,"));
    snprintf(args, sizeof args, "'%s' '%s' --scale 2 --enlarge --json", lpt_path("src.png"), lpt_path("r3.png"));
    assert_int_equal(lpt_run_capture(json, sizeof json, "'%s' convert %s", lpt_bin(), args), 0);
    assert_non_null(strstr(json, "\"output_width\":406,"));
}

static void test_usage_errors(void **state)
{
    (void)state;
    assert_int_equal(convert("--quality 101 a.jpg b.avif"), 2);
    assert_int_equal(convert("a.jpg"), 2);
    assert_int_equal(convert("--bogus a.jpg b.avif"), 2);
    assert_int_equal(convert("--grid 10x10 a.jpg b.avif"), 2);
    assert_int_equal(convert("--help >/dev/null"), 0);
    /* standard output needs a format, and --json would share it */
    assert_int_equal(convert("a.jpg -"), 2);
    assert_int_equal(convert("a.jpg - --format png --json"), 2);
}

/* "-" is standard input and standard output: the bytes are those of a file conversion. */
static void test_stdin_stdout(void **state)
{
    (void)state;
    const char *src = lpt_path("src.jpg"), *file = lpt_path("dash-file.webp");
    const char *piped = lpt_path("dash-piped.webp"), *half = lpt_path("dash-half.png");
    assert_int_equal(lpt_run("'%s' convert '%s' '%s'", lpt_bin(), src, file), 0);
    assert_int_equal(lpt_run("cat '%s' | '%s' convert - - --format webp > '%s'", src, lpt_bin(), piped), 0);
    size_t a_len, b_len;
    uint8_t *a = lpt_read_file(file, &a_len), *b = lpt_read_file(piped, &b_len);
    assert_true(a_len > 100);
    assert_int_equal(a_len, b_len);
    assert_memory_equal(a, b, a_len);
    free(a);
    free(b);
    /* stdin to a file, with the input size limit applied to what arrives */
    assert_int_equal(lpt_run("'%s' convert - '%s' < '%s'", lpt_bin(), half, src), 0);
    lp_buffer_image img;
    assert_true(lpt_read_png(half, &img));
    lp_buffer_image_free(&img);
    assert_int_equal(lpt_run("'%s' convert - '%s' --max-file-size 1k < '%s' 2>/dev/null", lpt_bin(),
                             lpt_path("dash-big.png"), src), 1);
    assert_false(lpt_file_exists(lpt_path("dash-big.png")));
    assert_false(lpt_file_exists("-"));
}

/* One frame over AV1 level 6 is refused up front with --grid off. */
static void test_grid_off_refuses_oversize_frame(void **state)
{
    (void)state;
    lp_buffer_image wide;
    lpt_make_photo(&wide, 16400, 16, LP_FORMAT_RGB8, 2);
    write_ppm(&wide, lpt_path("wide.ppm"));
    lp_buffer_image_free(&wide);
    assert_int_equal(lpt_run("cjpeg -outfile '%s' '%s'", lpt_path("wide.jpg"), lpt_path("wide.ppm")), 0);
    char args[1200];
    snprintf(args, sizeof args, "'%s' '%s' --grid off", lpt_path("wide.jpg"), lpt_path("wide.avif"));
    expect_failure(args, "wide.jpg", "level 6", lpt_path("wide.avif"));
    /* the library states the fact, the CLI names the flags that help */
    assert_non_null(strstr(last_stderr(), "(--grid auto or --grid WxH)"));
}

/* Encoder threads left open follow the CPUs the process may use: its affinity mask (and
 * cgroup quota, test_machine), as --jobs does for batch. */
static unsigned planned_threads(const char *prefix)
{
    const char *json = lpt_path("threads.json");
    int rc = lpt_run("%s '%s' convert '%s' '%s' --speed 10 --json > '%s'", prefix, lpt_bin(),
                     lpt_path("src.jpg"), lpt_path("threads.avif"), json);
    assert_int_equal(rc, 0);
    size_t size;
    char *text = (char *)lpt_read_file(json, &size);
    const char *at = strstr(text, "\"threads\":");
    assert_non_null(at);
    unsigned threads = (unsigned)strtoul(at + 10, NULL, 10);
    free(text);
    return threads;
}

static void test_threads_follow_the_cpus(void **state)
{
    (void)state;
    if (!lpt_have_tool("taskset"))
        skip();
    assert_int_equal(planned_threads("taskset -c 0"), 1);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus < 2)
        return;
    assert_int_equal(planned_threads("taskset -c 0,1"), 2);
}

/* --stats says the plan of an AVIF job and where its threads came from. */
static void test_stats_say_the_plan(void **state)
{
    (void)state;
    if (!lpt_have_tool("taskset"))
        skip();
    char out[4096];
    int rc = lpt_run_capture(out, sizeof out, "taskset -c 0 '%s' convert '%s' '%s' --speed 10 "
                             "--stats 2>&1", lpt_bin(), lpt_path("src.jpg"), lpt_path("plan.avif"));
    assert_int_equal(rc, 0);
    if (!strstr(out, "  plan: one AV1 frame, 1 encoder thread (of 1 effective CPU: 1 in the "
                     "affinity mask"))
        fail_msg("convert --stats said: %s", out);
    assert_non_null(strstr(out, "predicted peak "));
    rc = lpt_run_capture(out, sizeof out, "'%s' convert '%s' '%s' --speed 10 -t 2 --grid 256x256"
                         " --stats 2>&1", lpt_bin(), lpt_path("src.jpg"), lpt_path("plan.avif"));
    assert_int_equal(rc, 0);
    if (!strstr(out, "  plan: AVIF grid of 256x256 cells, 2 encoder threads (from -t)"))
        fail_msg("convert --stats said: %s", out);
    rc = lpt_run_capture(out, sizeof out, "'%s' convert '%s' '%s' --stats 2>&1", lpt_bin(),
                         lpt_path("src.jpg"), lpt_path("plan.png"));
    assert_int_equal(rc, 0);
    assert_null(strstr(out, "plan:"));  /* a plan of AV1 encoders only */
}

/* Peak RSS (bytes) of `leanpix convert` on a 2 MP image of smooth gradients and flat,
 * hard-edged patches at speed 6 with the given --grid. */
static uint64_t smooth_encode_rss(const char *grid)
{
    const char *ppm = lpt_path("smooth.ppm"), *jpg = lpt_path("smooth.jpg");
    if (!lpt_file_exists(jpg)) {
        FILE *f = fopen(ppm, "wb");
        assert_non_null(f);
        enum { W = 1600, H = 1200 };
        fprintf(f, "P6\n%u %u\n255\n", W, H);
        /* a sky-like gradient with hard-edged, two-colour patches: what libaom's
         * screen-content detection looks for (few colours, high variance per block) */
        for (uint32_t y = 0; y < H; y++)
            for (uint32_t x = 0; x < W; x++) {
                uint8_t px[3] = {(uint8_t)(90 + y / 10), (uint8_t)(140 + y / 12),
                                 (uint8_t)(200 + (x + y) / 60 % 50)};
                if ((x / 24 + y / 24) % 5 == 0)
                    px[0] = px[1] = px[2] = ((x % 24 < 12) != (y % 24 < 12)) ? 20 : 240;
                fwrite(px, 1, 3, f);
            }
        fclose(f);
        assert_int_equal(lpt_run("cjpeg -quality 95 -outfile '%s' '%s'", jpg, ppm), 0);
    }
    const char *json = lpt_path("smooth.json");
    assert_int_equal(lpt_run("'%s' convert '%s' '%s' --speed 6 -t 1 --grid %s --json > '%s'",
                             lpt_bin(), jpg, lpt_path("smooth.avif"), grid, json), 0);
    size_t size;
    char *text = (char *)lpt_read_file(json, &size);
    const char *at = strstr(text, "\"peak_rss_bytes\":");
    assert_non_null(at);
    uint64_t rss = strtoull(at + 17, NULL, 10);
    free(text);
    return rss;
}

/* libaom's screen-content detection turns intra block copy on for such images at speed 6
 * and below (and for smooth photos: a 24 MP one took 2.4 GB), and its hash tables cover
 * the whole frame (this 2 MP frame: 187 MiB instead of 52). leanpix turns intra block copy
 * off, so the memory model (17 B/px) holds whatever the content. */
static void test_smooth_image_memory_follows_the_model(void **state)
{
    (void)state;
    if (getenv("LP_SANITIZED"))
        skip();  /* the sanitizers' shadow memory would blur the RSS figure */
    uint64_t frame = smooth_encode_rss("off"), cells = smooth_encode_rss("512x512");
    fprintf(stderr, "screen-like 2 MP at speed 6: peak RSS %.0f MiB as one frame, %.0f MiB in 512 px cells\n",
            frame / 1048576.0, cells / 1048576.0);
    assert_true(frame < 100ull << 20);
    assert_true(cells < 60ull << 20);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jpeg_to_all),
        cmocka_unit_test(test_png_to_all),
        cmocka_unit_test(test_bad_inputs),
        cmocka_unit_test(test_huge_header_refused),
        cmocka_unit_test(test_bad_av1_data_one_line),
        cmocka_unit_test(test_resize_options),
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_stdin_stdout),
        cmocka_unit_test(test_grid_off_refuses_oversize_frame),
        cmocka_unit_test(test_threads_follow_the_cpus),
        cmocka_unit_test(test_stats_say_the_plan),
        cmocka_unit_test(test_smooth_image_memory_follows_the_model),
    };
    return cmocka_run_group_tests(tests, make_inputs, free_inputs);
}
