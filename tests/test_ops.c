/*
 * test_ops.c - the strip operations: format conversion (every pair, on exact pixel values),
 * the streaming resampler (against box/area references, degenerate sizes, strip-size
 * independence, alpha premultiplication, counted memory) and EXIF orientation (all eight
 * cases against expectations derived from the EXIF specification's wording, and the
 * rewritten EXIF block).
 */
#include "testutil.h"

#include <libexif/exif-data.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ---- */

static uint32_t sample_get(const lp_buffer_image *img, uint32_t x, uint32_t y, unsigned c)
{
    const uint8_t *p = img->pixels + (size_t)y * img->stride +
                       (size_t)x * lp_format_pixel_bytes(img->info.format);
    if (lp_format_sample_bytes(img->info.format) == 2)
        return ((const uint16_t *)p)[c];
    return p[c];
}

static void sample_set(lp_buffer_image *img, uint32_t x, uint32_t y, unsigned c, uint32_t v)
{
    uint8_t *p = img->pixels + (size_t)y * img->stride +
                 (size_t)x * lp_format_pixel_bytes(img->info.format);
    if (lp_format_sample_bytes(img->info.format) == 2)
        ((uint16_t *)p)[c] = (uint16_t)v;
    else
        p[c] = (uint8_t)v;
}

static void alloc_image(lp_buffer_image *img, uint32_t w, uint32_t h, lp_format f)
{
    assert_int_equal(lp_buffer_image_alloc(img, w, h, f, NULL, NULL), LP_OK);
}

/* Runs src (strips of strip_rows) through op into out; op is applied by the callback. */
typedef lp_status (*op_fn)(lp_stage **out, lp_stage *up, const void *arg, lp_error *err);

static lp_status run_op(const lp_buffer_image *src, uint32_t strip_rows, op_fn op,
                        const void *arg, lp_mem *mem, lp_buffer_image *out, lp_error *err)
{
    lp_stage *s;
    assert_int_equal(lp_buffer_source_new(&s, src, strip_rows, NULL), LP_OK);
    s->mem = mem;
    lp_stage *last;
    lp_status st = op(&last, s, arg, err);
    if (st != LP_OK)
        return st;
    st = lp_pipeline_to_buffer(last, out, NULL, err);
    lp_stage_destroy(last);
    return st;
}

typedef struct resize_arg {
    uint32_t w, h;
    lp_kernel kernel;
} resize_arg;

static lp_status resize_op(lp_stage **out, lp_stage *up, const void *arg, lp_error *err)
{
    const resize_arg *a = arg;
    return lp_resize_new(out, up, a->w, a->h, a->kernel, err);
}

static lp_status convert_op(lp_stage **out, lp_stage *up, const void *arg, lp_error *err)
{
    return lp_convert_format_new(out, up, *(const lp_format *)arg, err);
}

static lp_status orient_op(lp_stage **out, lp_stage *up, const void *arg, lp_error *err)
{
    return lp_orient_new(out, up, *(const int *)arg, err);
}

static void resize_image(const lp_buffer_image *src, uint32_t w, uint32_t h, lp_kernel k,
                         uint32_t strip_rows, lp_buffer_image *out)
{
    resize_arg a = {w, h, k};
    lp_error err = {0};
    lp_status st = run_op(src, strip_rows, resize_op, &a, NULL, out, &err);
    if (st != LP_OK)
        fail_msg("resize %ux%u -> %ux%u: %s", src->info.width, src->info.height, w, h,
                 lp_error_message(&err));
    assert_int_equal(out->info.width, w);
    assert_int_equal(out->info.height, h);
    assert_int_equal(out->info.format, src->info.format);
}

/* An area-average reference: each output pixel is the mean of the input area it covers
 * (fractional coverage at the edges). For an integer factor it is the box filter. */
static void area_reference(const lp_buffer_image *src, uint32_t ow, uint32_t oh,
                           lp_buffer_image *out)
{
    alloc_image(out, ow, oh, src->info.format);
    unsigned ch = lp_format_channels(src->info.format);
    double sx = (double)src->info.width / ow, sy = (double)src->info.height / oh;
    for (uint32_t oy = 0; oy < oh; oy++)
        for (uint32_t ox = 0; ox < ow; ox++)
            for (unsigned c = 0; c < ch; c++) {
                double y0 = oy * sy, y1 = (oy + 1) * sy, x0 = ox * sx, x1 = (ox + 1) * sx;
                double sum = 0, area = 0;
                for (uint32_t y = (uint32_t)y0; y < src->info.height && y < y1; y++) {
                    double wy = fmin(y1, y + 1.0) - fmax(y0, y);
                    for (uint32_t x = (uint32_t)x0; x < src->info.width && x < x1; x++) {
                        double wx = fmin(x1, x + 1.0) - fmax(x0, x);
                        sum += wx * wy * sample_get(src, x, y, c);
                        area += wx * wy;
                    }
                }
                sample_set(out, ox, oy, c, (uint32_t)lround(sum / area));
            }
}

/* A copy of img moved down by one row (the first row repeated). */
static void shifted_down(const lp_buffer_image *img, lp_buffer_image *out)
{
    alloc_image(out, img->info.width, img->info.height, img->info.format);
    for (uint32_t y = 0; y < img->info.height; y++)
        memcpy(out->pixels + (size_t)y * out->stride,
               img->pixels + (size_t)(y ? y - 1 : 0) * img->stride, img->stride);
}

/* ---- format conversion ---- */

/* The reference in doubles: luma, composite over white, depth; rounded once at the end.
 * The stage rounds after each integer step, so results may differ by one. */
static void reference_convert(const double in[4], lp_format from, lp_format to, uint32_t out[4])
{
    double max_in = lp_format_sample_bytes(from) == 2 ? 65535 : 255;
    double max_out = lp_format_sample_bytes(to) == 2 ? 65535 : 255;
    unsigned cin = lp_format_channels(from) - lp_format_has_alpha(from);
    double r = in[0] / max_in, g = (cin == 3 ? in[1] : in[0]) / max_in,
           b = (cin == 3 ? in[2] : in[0]) / max_in;
    double a = lp_format_has_alpha(from) ? in[cin] / max_in : 1.0;
    double col[3] = {r, g, b};
    if (lp_format_is_gray(to))
        col[0] = cin == 3 ? 0.299 * r + 0.587 * g + 0.114 * b : r;
    unsigned cout = lp_format_is_gray(to) ? 1 : 3;
    if (!lp_format_has_alpha(to))
        for (unsigned c = 0; c < cout; c++)
            col[c] = col[c] * a + (1 - a);
    for (unsigned c = 0; c < cout; c++)
        out[c] = (uint32_t)lround(col[c] * max_out);
    if (lp_format_has_alpha(to))
        out[cout] = (uint32_t)lround(a * max_out);
}

/* Test pixels (r, g, b, a) at 8-bit scale; 16-bit sources get x * 257 + an offset so
 * that the 16 -> 8 rounding is exercised. */
static const uint8_t convert_pixels[][4] = {
    {255, 0, 0, 255}, {0, 255, 0, 128}, {0, 0, 255, 0},  {200, 100, 50, 255},
    {10, 20, 30, 1},  {255, 255, 255, 64}, {0, 0, 0, 200}, {128, 129, 127, 254},
};
#define N_CONVERT_PIXELS (sizeof convert_pixels / sizeof convert_pixels[0])

static void fill_convert_source(lp_buffer_image *img, lp_format from)
{
    alloc_image(img, N_CONVERT_PIXELS, 2, from);
    unsigned ch = lp_format_channels(from);
    bool gray = lp_format_is_gray(from), sixteen = lp_format_sample_bytes(from) == 2;
    for (uint32_t y = 0; y < 2; y++)
        for (uint32_t x = 0; x < N_CONVERT_PIXELS; x++)
            for (unsigned c = 0; c < ch; c++) {
                unsigned src_c = gray && c == 0 ? 1 : (gray ? 3 : c);  /* gray: the green value */
                uint32_t v = convert_pixels[x][src_c];
                if (sixteen)
                    v = v * 257 + (y ? (v < 255 ? 128 : 0) : 0);  /* row 1: half-way values */
                sample_set(img, x, y, c, v);
            }
}

static void test_convert_every_pair(void **state)
{
    (void)state;
    for (lp_format from = 0; from < LP_FORMAT_COUNT; from++) {
        lp_buffer_image src;
        fill_convert_source(&src, from);
        for (lp_format to = 0; to < LP_FORMAT_COUNT; to++) {
            lp_buffer_image out;
            lp_error err = {0};
            assert_int_equal(run_op(&src, 1, convert_op, &to, NULL, &out, &err), LP_OK);
            assert_int_equal(out.info.format, to);
            unsigned cin = lp_format_channels(from), cout = lp_format_channels(to);
            for (uint32_t y = 0; y < 2; y++)
                for (uint32_t x = 0; x < N_CONVERT_PIXELS; x++) {
                    double in[4];
                    uint32_t want[4];
                    for (unsigned c = 0; c < cin; c++)
                        in[c] = sample_get(&src, x, y, c);
                    reference_convert(in, from, to, want);
                    for (unsigned c = 0; c < cout; c++) {
                        long got = (long)sample_get(&out, x, y, c);
                        if (labs(got - (long)want[c]) > 1)
                            fail_msg("%s -> %s pixel %u,%u channel %u: got %ld, want %u",
                                     lp_format_name(from), lp_format_name(to), x, y, c, got,
                                     want[c]);
                    }
                }
            lp_buffer_image_free(&out);
        }
        lp_buffer_image_free(&src);
    }
}

/* Converts one pixel and returns its samples. */
static void convert_one(lp_format from, const uint32_t *in, lp_format to, uint32_t *out)
{
    lp_buffer_image src, dst;
    alloc_image(&src, 1, 1, from);
    for (unsigned c = 0; c < lp_format_channels(from); c++)
        sample_set(&src, 0, 0, c, in[c]);
    assert_int_equal(run_op(&src, 0, convert_op, &to, NULL, &dst, NULL), LP_OK);
    for (unsigned c = 0; c < lp_format_channels(to); c++)
        out[c] = sample_get(&dst, 0, 0, c);
    lp_buffer_image_free(&dst);
    lp_buffer_image_free(&src);
}

#define ASSERT_CONVERTS(from, to, in_list, out_list)                                \
    do {                                                                            \
        const uint32_t in_[] = in_list, want_[] = out_list;                         \
        uint32_t got_[4] = {0};                                                     \
        convert_one(from, in_, to, got_);                                           \
        for (unsigned c_ = 0; c_ < sizeof want_ / sizeof want_[0]; c_++)            \
            assert_int_equal(got_[c_], want_[c_]);                                  \
    } while (0)
#define P(...) {__VA_ARGS__}

static void test_convert_exact_values(void **state)
{
    (void)state;
    /* Rec.601 luma, rounded */
    ASSERT_CONVERTS(LP_FORMAT_RGB8, LP_FORMAT_G8, P(255, 0, 0), P(76));
    ASSERT_CONVERTS(LP_FORMAT_RGB8, LP_FORMAT_G8, P(0, 255, 0), P(150));
    ASSERT_CONVERTS(LP_FORMAT_RGB8, LP_FORMAT_G8, P(0, 0, 255), P(29));
    ASSERT_CONVERTS(LP_FORMAT_RGB8, LP_FORMAT_G8, P(255, 255, 255), P(255));
    ASSERT_CONVERTS(LP_FORMAT_RGB16, LP_FORMAT_G16, P(65535, 65535, 65535), P(65535));
    /* gray -> RGB replicates; adding alpha makes it opaque */
    ASSERT_CONVERTS(LP_FORMAT_G8, LP_FORMAT_RGBA8, P(77), P(77, 77, 77, 255));
    ASSERT_CONVERTS(LP_FORMAT_GA8, LP_FORMAT_RGBA8, P(77, 9), P(77, 77, 77, 9));
    ASSERT_CONVERTS(LP_FORMAT_RGB8, LP_FORMAT_RGBA16, P(1, 2, 3), P(257, 514, 771, 65535));
    /* dropping alpha composites over white */
    ASSERT_CONVERTS(LP_FORMAT_RGBA8, LP_FORMAT_RGB8, P(200, 100, 50, 128), P(227, 177, 152));
    ASSERT_CONVERTS(LP_FORMAT_RGBA8, LP_FORMAT_RGB8, P(0, 0, 0, 0), P(255, 255, 255));
    ASSERT_CONVERTS(LP_FORMAT_RGBA8, LP_FORMAT_RGB8, P(10, 20, 30, 255), P(10, 20, 30));
    ASSERT_CONVERTS(LP_FORMAT_GA8, LP_FORMAT_G8, P(0, 51), P(204));
    ASSERT_CONVERTS(LP_FORMAT_RGBA8, LP_FORMAT_RGB8, P(1, 1, 1, 128), P(128, 128, 128));  /* 127.502 */
    ASSERT_CONVERTS(LP_FORMAT_GA16, LP_FORMAT_G16, P(1, 32768), P(32768));
    ASSERT_CONVERTS(LP_FORMAT_GA16, LP_FORMAT_G16, P(0, 32768), P(32767));
    ASSERT_CONVERTS(LP_FORMAT_RGBA16, LP_FORMAT_G8, P(65535, 0, 0, 32768), P(166));
    /* 8 -> 16 is x * 257; 16 -> 8 rounds x / 257 */
    ASSERT_CONVERTS(LP_FORMAT_G8, LP_FORMAT_G16, P(0), P(0));
    ASSERT_CONVERTS(LP_FORMAT_G8, LP_FORMAT_G16, P(128), P(32896));
    ASSERT_CONVERTS(LP_FORMAT_G8, LP_FORMAT_G16, P(255), P(65535));
    ASSERT_CONVERTS(LP_FORMAT_G16, LP_FORMAT_G8, P(128), P(0));
    ASSERT_CONVERTS(LP_FORMAT_G16, LP_FORMAT_G8, P(129), P(1));
    ASSERT_CONVERTS(LP_FORMAT_G16, LP_FORMAT_G8, P(32896), P(128));
    ASSERT_CONVERTS(LP_FORMAT_G16, LP_FORMAT_G8, P(65406), P(254));
    ASSERT_CONVERTS(LP_FORMAT_G16, LP_FORMAT_G8, P(65407), P(255));
    ASSERT_CONVERTS(LP_FORMAT_RGBA16, LP_FORMAT_RGBA8, P(385, 386, 65535, 128),
                    P(1, 2, 255, 0));
    /* every 8-bit value survives 8 -> 16 -> 8 */
    for (uint32_t v = 0; v < 256; v++) {
        uint32_t wide[1], back[1], in[1] = {v};
        convert_one(LP_FORMAT_G8, in, LP_FORMAT_G16, wide);
        convert_one(LP_FORMAT_G16, wide, LP_FORMAT_G8, back);
        assert_int_equal(back[0], v);
    }
}

static void test_convert_same_format_and_strips(void **state)
{
    (void)state;
    lp_buffer_image src, a, b;
    lpt_make_photo(&src, 37, 23, LP_FORMAT_RGBA8, 5);
    lp_format same = LP_FORMAT_RGBA8, to = LP_FORMAT_G16;
    assert_int_equal(run_op(&src, 7, convert_op, &same, NULL, &a, NULL), LP_OK);
    assert_memory_equal(a.pixels, src.pixels, src.stride * 23);
    lp_buffer_image_free(&a);
    lp_mem *mem = lp_mem_new(0, NULL);
    assert_int_equal(run_op(&src, 1, convert_op, &to, mem, &a, NULL), LP_OK);
    assert_int_equal(run_op(&src, 16, convert_op, &to, NULL, &b, NULL), LP_OK);
    assert_memory_equal(a.pixels, b.pixels, a.stride * 23);
    assert_int_equal(lp_mem_current(mem), 0);
    assert_true(lp_mem_peak(mem) > 0 && lp_mem_peak(mem) < 37 * 23 * 2);  /* strips, not a frame */
    lp_mem_free_tracker(mem);
    lp_buffer_image_free(&a);
    lp_buffer_image_free(&b);
    lp_error err = {0};
    lp_stage *s;
    assert_int_equal(lp_buffer_source_new(&s, &src, 0, NULL), LP_OK);
    assert_int_equal(lp_convert_format_new(&s, s, (lp_format)42, &err), LP_ERR_INVALID_ARG);
    assert_null(s);  /* upstream was destroyed: ASan would report a leak otherwise */
    lp_buffer_image_free(&src);
}

/* ---- resize ---- */

static void test_kernel_names(void **state)
{
    (void)state;
    bool ok;
    assert_int_equal(lp_kernel_from_name("lanczos3", &ok), LP_KERNEL_LANCZOS3);
    assert_true(ok);
    assert_int_equal(lp_kernel_from_name("Lanczos2", &ok), LP_KERNEL_LANCZOS2);
    assert_int_equal(lp_kernel_from_name("cubic", &ok), LP_KERNEL_CUBIC);
    assert_int_equal(lp_kernel_from_name("linear", &ok), LP_KERNEL_LINEAR);
    assert_int_equal(lp_kernel_from_name("nearest", &ok), LP_KERNEL_NEAREST);
    assert_true(ok);
    assert_int_equal(lp_kernel_from_name(NULL, &ok), LP_KERNEL_LANCZOS3);
    assert_true(ok);
    lp_kernel_from_name("mitchell", &ok);
    assert_false(ok);
}

static void test_resize_identity(void **state)
{
    (void)state;
    lp_buffer_image src, out;
    lpt_make_photo(&src, 64, 48, LP_FORMAT_RGB8, 1);
    resize_image(&src, 64, 48, LP_KERNEL_LANCZOS3, 5, &out);
    assert_true(lpt_psnr(&src, &out) > 45);
    lp_buffer_image_free(&out);
    lp_buffer_image_free(&src);
    /* one axis unchanged, through the filter path: with every row alike, a vertical-only
     * resize must give back that row exactly (weights sum to one, the columns are kept) */
    lp_buffer_image row, flat, half;
    lpt_make_photo(&row, 64, 1, LP_FORMAT_RGBA8, 1);
    alloc_image(&flat, 64, 48, LP_FORMAT_RGBA8);
    for (uint32_t y = 0; y < 48; y++)
        memcpy(flat.pixels + (size_t)y * flat.stride, row.pixels, row.stride);
    resize_image(&flat, 64, 21, LP_KERNEL_LANCZOS3, 5, &half);
    for (uint32_t y = 0; y < 21; y++)
        assert_memory_equal(half.pixels + (size_t)y * half.stride, row.pixels, row.stride);
    lp_buffer_image_free(&half);
    lp_buffer_image_free(&flat);
    lp_buffer_image_free(&row);
}

static void check_against_area(const lp_buffer_image *src, uint32_t w, uint32_t h,
                               lp_kernel kernel, double min_psnr)
{
    lp_buffer_image out, ref, shifted;
    resize_image(src, w, h, kernel, 16, &out);
    area_reference(src, w, h, &ref);
    double psnr = lpt_psnr(&out, &ref);
    if (psnr <= min_psnr)
        fail_msg("%ux%u -> %ux%u (kernel %d): PSNR %.2f dB against the area reference",
                 src->info.width, src->info.height, w, h, (int)kernel, psnr);
    /* a one-row shift must be worse: the comparison sees geometry, not just colour */
    shifted_down(&ref, &shifted);
    double shifted_psnr = lpt_psnr(&out, &shifted);
    fprintf(stderr, "%ux%u %s -> %ux%u kernel %d: PSNR %.2f dB vs area reference, %.2f dB vs it shifted a row\n",
            src->info.width, src->info.height, lp_format_name(src->info.format), w, h,
            (int)kernel, psnr, shifted_psnr);
    if (shifted_psnr >= psnr - 1.0)
        fail_msg("a one-row shift is as good (%.2f dB) as the reference (%.2f dB)",
                 shifted_psnr, psnr);
    lp_buffer_image_free(&out);
    lp_buffer_image_free(&ref);
    lp_buffer_image_free(&shifted);
}

/* The filter written the obvious way, in doubles, on the whole image: the streaming
 * resampler must agree with it to within one level everywhere. */
static double ref_kernel(lp_kernel k, double x)
{
    x = fabs(x);
    double support = k == LP_KERNEL_LANCZOS2 || k == LP_KERNEL_CUBIC ? 2 : k == LP_KERNEL_LINEAR ? 1 : 3;
    if (x >= support)
        return 0;
    if (k == LP_KERNEL_LINEAR)
        return 1 - x;
    if (k == LP_KERNEL_CUBIC)
        return x < 1 ? 1.5 * x * x * x - 2.5 * x * x + 1 : -0.5 * x * x * x + 2.5 * x * x - 4 * x + 2;
    if (x == 0)
        return 1;
    return support * sin(M_PI * x) * sin(M_PI * x / support) / (M_PI * M_PI * x * x);
}

static void ref_weights(lp_kernel k, uint32_t in, uint32_t out, uint32_t o, double *w)
{
    double scale = (double)in / out, fs = scale > 1 ? scale : 1, sum = 0;
    double centre = (o + 0.5) * scale;
    for (uint32_t j = 0; j < in; j++)
        sum += w[j] = ref_kernel(k, (j + 0.5 - centre) / fs);
    for (uint32_t j = 0; j < in; j++)
        w[j] /= sum;
}

static void check_against_naive(const lp_buffer_image *src, uint32_t ow, uint32_t oh,
                                 lp_kernel k)
{
    lp_buffer_image out;
    resize_image(src, ow, oh, k, 7, &out);
    uint32_t iw = src->info.width, ih = src->info.height;
    unsigned ch = lp_format_channels(src->info.format);
    double *wx = malloc(sizeof(double) * iw * ow), *wy = malloc(sizeof(double) * ih * oh);
    for (uint32_t o = 0; o < ow; o++)
        ref_weights(k, iw, ow, o, wx + (size_t)o * iw);
    for (uint32_t o = 0; o < oh; o++)
        ref_weights(k, ih, oh, o, wy + (size_t)o * ih);
    double max = lp_format_sample_bytes(src->info.format) == 2 ? 65535 : 255;
    for (uint32_t oy = 0; oy < oh; oy++)
        for (uint32_t ox = 0; ox < ow; ox++)
            for (unsigned c = 0; c < ch; c++) {
                double v = 0;
                for (uint32_t y = 0; y < ih; y++)
                    for (uint32_t x = 0; x < iw; x++)
                        v += wy[(size_t)oy * ih + y] * wx[(size_t)ox * iw + x] *
                             sample_get(src, x, y, c);
                v = v < 0 ? 0 : v > max ? max : v;
                long got = (long)sample_get(&out, ox, oy, c);
                if (fabs(got - v) > 1.0)
                    fail_msg("%ux%u -> %ux%u kernel %d at (%u,%u,%u): got %ld, naive %.2f", iw,
                             ih, ow, oh, (int)k, ox, oy, c, got, v);
            }
    free(wx);
    free(wy);
    lp_buffer_image_free(&out);
}

static void test_resize_matches_naive_filter(void **state)
{
    (void)state;
    lp_buffer_image src;
    lpt_make_photo(&src, 41, 29, LP_FORMAT_RGB8, 11);
    check_against_naive(&src, 13, 9, LP_KERNEL_LANCZOS3);
    check_against_naive(&src, 20, 14, LP_KERNEL_LANCZOS2);
    check_against_naive(&src, 17, 30, LP_KERNEL_CUBIC);
    check_against_naive(&src, 90, 7, LP_KERNEL_LINEAR);
    check_against_naive(&src, 67, 51, LP_KERNEL_LANCZOS3);
    check_against_naive(&src, 3, 2, LP_KERNEL_LANCZOS3);
    lp_buffer_image_free(&src);
    lpt_make_photo(&src, 23, 31, LP_FORMAT_G16, 12);
    check_against_naive(&src, 10, 11, LP_KERNEL_LANCZOS3);
    lp_buffer_image_free(&src);
}

static void test_resize_downscale(void **state)
{
    (void)state;
    lp_buffer_image src;
    lpt_make_photo(&src, 96, 64, LP_FORMAT_RGB8, 2);
    /* the brief asks > 30 dB; measured 43-46 dB, so 38 leaves room and still bites */
    check_against_area(&src, 48, 32, LP_KERNEL_LANCZOS3, 38);
    check_against_area(&src, 48, 32, LP_KERNEL_CUBIC, 38);
    check_against_area(&src, 48, 32, LP_KERNEL_LINEAR, 38);
    check_against_area(&src, 48, 32, LP_KERNEL_NEAREST, 28);
    lp_buffer_image_free(&src);
    lpt_make_photo(&src, 101, 67, LP_FORMAT_RGB8, 3);
    check_against_area(&src, 37, 23, LP_KERNEL_LANCZOS3, 38);
    check_against_area(&src, 37, 23, LP_KERNEL_LANCZOS2, 38);
    check_against_area(&src, 50, 60, LP_KERNEL_LANCZOS3, 38);  /* one axis 2:1, one ~1.1:1 */
    lp_buffer_image_free(&src);
}

static void test_resize_sixteen_bit_matches_eight(void **state)
{
    (void)state;
    lp_buffer_image s8, s16, o8, o16;
    lpt_make_photo(&s8, 101, 67, LP_FORMAT_RGBA8, 4);
    lpt_make_photo(&s16, 101, 67, LP_FORMAT_RGBA16, 4);
    resize_image(&s8, 37, 23, LP_KERNEL_LANCZOS3, 16, &o8);
    resize_image(&s16, 37, 23, LP_KERNEL_LANCZOS3, 16, &o16);
    assert_true(lpt_psnr(&o8, &o16) > 45);
    lp_buffer_image_free(&s8);
    lp_buffer_image_free(&s16);
    lp_buffer_image_free(&o8);
    lp_buffer_image_free(&o16);
    lpt_make_photo(&s16, 64, 48, LP_FORMAT_G16, 4);
    check_against_area(&s16, 32, 24, LP_KERNEL_LANCZOS3, 38);
    lp_buffer_image_free(&s16);
}

static void test_resize_upscale(void **state)
{
    (void)state;
    lp_buffer_image src, up, back;
    lpt_make_photo(&src, 40, 30, LP_FORMAT_RGB8, 6);
    resize_image(&src, 97, 71, LP_KERNEL_LANCZOS3, 3, &up);
    resize_image(&up, 40, 30, LP_KERNEL_LANCZOS3, 16, &back);
    assert_true(lpt_psnr(&src, &back) > 30);
    lp_buffer_image_free(&up);
    lp_buffer_image_free(&back);
    lp_buffer_image_free(&src);
    /* a linear kernel reproduces a ramp exactly away from the edges */
    lp_buffer_image ramp;
    alloc_image(&ramp, 16, 4, LP_FORMAT_G8);
    for (uint32_t y = 0; y < 4; y++)
        for (uint32_t x = 0; x < 16; x++)
            sample_set(&ramp, x, y, 0, 10 + 8 * x);
    resize_image(&ramp, 64, 9, LP_KERNEL_LINEAR, 16, &up);
    for (uint32_t x = 2; x < 62; x++) {
        double centre = (x + 0.5) * 16.0 / 64.0 - 0.5;  /* in input pixels */
        uint32_t want = (uint32_t)lround(10 + 8 * centre);  /* whole numbers: no ties */
        for (uint32_t y = 0; y < 9; y++)
            assert_int_equal(sample_get(&up, x, y, 0), want);
    }
    lp_buffer_image_free(&up);
    lp_buffer_image_free(&ramp);
}

static void test_resize_degenerate_sizes(void **state)
{
    (void)state;
    static const uint32_t sizes[][2] = {{1, 1}, {1, 9}, {9, 1}, {7, 5}, {2, 2}};
    static const uint32_t targets[][2] = {{1, 1}, {1, 4}, {4, 1}, {13, 1}, {1, 13}, {3, 3}, {9, 9}};
    static const lp_kernel kernels[] = {LP_KERNEL_LANCZOS3, LP_KERNEL_NEAREST, LP_KERNEL_LINEAR};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (size_t t = 0; t < sizeof targets / sizeof targets[0]; t++)
            for (size_t k = 0; k < sizeof kernels / sizeof kernels[0]; k++) {
                lp_buffer_image src, out;
                alloc_image(&src, sizes[s][0], sizes[s][1], LP_FORMAT_RGBA8);
                for (uint32_t y = 0; y < sizes[s][1]; y++)
                    for (uint32_t x = 0; x < sizes[s][0]; x++) {
                        const uint32_t px[4] = {200, 17, 90, 160};  /* one flat colour */
                        for (unsigned c = 0; c < 4; c++)
                            sample_set(&src, x, y, c, px[c]);
                    }
                resize_image(&src, targets[t][0], targets[t][1], kernels[k], 1, &out);
                for (uint32_t y = 0; y < targets[t][1]; y++)
                    for (uint32_t x = 0; x < targets[t][0]; x++) {
                        assert_int_equal(sample_get(&out, x, y, 0), 200);
                        assert_int_equal(sample_get(&out, x, y, 1), 17);
                        assert_int_equal(sample_get(&out, x, y, 2), 90);
                        assert_int_equal(sample_get(&out, x, y, 3), 160);
                    }
                lp_buffer_image_free(&out);
                lp_buffer_image_free(&src);
            }
    /* a 1-pixel-wide column keeps its gradient, in order */
    lp_buffer_image col, out;
    alloc_image(&col, 1, 40, LP_FORMAT_G8);
    for (uint32_t y = 0; y < 40; y++)
        sample_set(&col, 0, y, 0, 5 * y);
    resize_image(&col, 1, 10, LP_KERNEL_LANCZOS3, 3, &out);
    for (uint32_t y = 3; y <= 6; y++) {  /* full support inside: the ramp at the centre */
        double want = 5 * (4 * y + 1.5);
        assert_true(fabs(sample_get(&out, 0, y, 0) - want) <= 1.0);
    }
    lp_buffer_image_free(&out);
    resize_image(&col, 3, 1, LP_KERNEL_LANCZOS3, 3, &out);  /* all rows into one */
    assert_true(abs((int)sample_get(&out, 1, 0, 0) - 98) <= 2);  /* mean 97.5 */
    lp_buffer_image_free(&out);
    lp_buffer_image_free(&col);
}

static void test_resize_strip_size_does_not_matter(void **state)
{
    (void)state;
    static const uint32_t targets[][2] = {{37, 23}, {150, 91}, {101, 20}, {1, 67}};
    lp_buffer_image src;
    lpt_make_photo(&src, 101, 67, LP_FORMAT_RGBA8, 7);
    for (size_t t = 0; t < sizeof targets / sizeof targets[0]; t++) {
        lp_buffer_image a, b, c;
        resize_image(&src, targets[t][0], targets[t][1], LP_KERNEL_LANCZOS3, 1, &a);
        resize_image(&src, targets[t][0], targets[t][1], LP_KERNEL_LANCZOS3, 3, &b);
        resize_image(&src, targets[t][0], targets[t][1], LP_KERNEL_LANCZOS3, 16, &c);
        assert_memory_equal(a.pixels, b.pixels, a.stride * targets[t][1]);
        assert_memory_equal(a.pixels, c.pixels, a.stride * targets[t][1]);
        lp_buffer_image_free(&a);
        lp_buffer_image_free(&b);
        lp_buffer_image_free(&c);
    }
    lp_buffer_image_free(&src);
}

/* Transparent red beside opaque green: premultiplied filtering must not turn the
 * transition red (straight-alpha filtering would mix 50% red into the edge pixels). */
static void test_resize_alpha_does_not_bleed(void **state)
{
    (void)state;
    lp_format formats[] = {LP_FORMAT_RGBA8, LP_FORMAT_RGBA16, LP_FORMAT_GA8};
    for (size_t f = 0; f < 3; f++) {
        lp_format fmt = formats[f];
        bool gray = lp_format_is_gray(fmt);
        uint32_t max = lp_format_sample_bytes(fmt) == 2 ? 65535 : 255;
        lp_buffer_image src;
        alloc_image(&src, 40, 20, fmt);
        for (uint32_t y = 0; y < 20; y++)
            for (uint32_t x = 0; x < 40; x++) {
                bool left = x < 20;
                if (gray) {  /* transparent white beside opaque black */
                    sample_set(&src, x, y, 0, left ? max : 0);
                    sample_set(&src, x, y, 1, left ? 0 : max);
                } else {
                    sample_set(&src, x, y, 0, left ? max : 0);
                    sample_set(&src, x, y, 1, left ? 0 : max);
                    sample_set(&src, x, y, 2, 0);
                    sample_set(&src, x, y, 3, left ? 0 : max);
                }
            }
        static const uint32_t targets[][2] = {{20, 10}, {13, 7}, {90, 30}};
        for (size_t t = 0; t < 3; t++) {
            lp_buffer_image out;
            resize_image(&src, targets[t][0], targets[t][1], LP_KERNEL_LANCZOS3, 4, &out);
            unsigned a_ch = gray ? 1 : 3;
            uint32_t alpha_seen = 0;
            for (uint32_t y = 0; y < targets[t][1]; y++)
                for (uint32_t x = 0; x < targets[t][0]; x++) {
                    uint32_t a = sample_get(&out, x, y, a_ch);
                    if (a == 0 || a == max)
                        continue;
                    alpha_seen++;  /* an edge pixel: its colour must be the opaque side's */
                    assert_true(sample_get(&out, x, y, 0) <= max / 100);
                    if (!gray)
                        assert_true(sample_get(&out, x, y, 1) >= max - max / 100);
                }
            assert_true(alpha_seen > 0);  /* there was an edge to look at */
            lp_buffer_image_free(&out);
        }
        lp_buffer_image_free(&src);
    }
}

static void fill_pattern_rgb8(lp_buffer_image *img)
{
    for (uint32_t y = 0; y < img->info.height; y++) {
        uint8_t *row = img->pixels + (size_t)y * img->stride;
        for (uint32_t x = 0; x < img->info.width; x++) {
            row[3 * x] = (uint8_t)(x >> 3);
            row[3 * x + 1] = (uint8_t)(y >> 3);
            row[3 * x + 2] = (uint8_t)((x ^ y) & 0xff);
        }
    }
}

static void test_resize_memory_is_strips_not_frames(void **state)
{
    (void)state;
    const uint32_t w = 2000, h = 1500;
    lp_buffer_image src, out;
    alloc_image(&src, w, h, LP_FORMAT_RGB8);
    fill_pattern_rgb8(&src);
    lp_mem *mem = lp_mem_new(0, NULL);
    resize_arg a = {500, 375, LP_KERNEL_LANCZOS3};
    lp_error err = {0};
    assert_int_equal(run_op(&src, 16, resize_op, &a, mem, &out, &err), LP_OK);
    uint64_t frame = (uint64_t)w * h * 3;
    fprintf(stderr, "resize 2000x1500 -> 500x375: counted peak %llu bytes (frame %llu)\n",
            (unsigned long long)lp_mem_peak(mem), (unsigned long long)frame);
    assert_true(lp_mem_peak(mem) > 0);
    assert_true(lp_mem_peak(mem) < frame / 10);
    assert_int_equal(lp_mem_current(mem), 0);
    /* and a budget below that is refused cleanly */
    lp_mem *tight = lp_mem_new(20000, NULL);
    lp_buffer_image none;
    assert_int_equal(run_op(&src, 16, resize_op, &a, tight, &none, &err), LP_ERR_NOMEM);
    lp_mem_free_tracker(tight);
    lp_mem_free_tracker(mem);
    lp_buffer_image_free(&out);
    lp_buffer_image_free(&src);
}

static void test_resize_errors(void **state)
{
    (void)state;
    lp_buffer_image src, out;
    lpt_make_photo(&src, 20, 10, LP_FORMAT_RGB8, 8);
    lp_stage *s;
    lp_error err = {0};
    assert_int_equal(lp_buffer_source_new(&s, &src, 0, NULL), LP_OK);
    assert_int_equal(lp_resize_new(&s, s, 0, 5, LP_KERNEL_LANCZOS3, &err), LP_ERR_INVALID_ARG);
    assert_null(s);
    lp_error_clear(&err);
    assert_int_equal(lp_buffer_source_new(&s, &src, 0, NULL), LP_OK);
    assert_int_equal(lp_resize_new(&s, s, 100000, 5, LP_KERNEL_LANCZOS3, &err), LP_ERR_LIMITS);
    lp_error_clear(&err);
    /* an upstream that ends early (the source claims 30 rows but has 10) */
    assert_int_equal(lp_buffer_source_new(&s, &src, 4, NULL), LP_OK);
    s->info.height = 30;
    assert_int_equal(lp_resize_new(&s, s, 10, 15, LP_KERNEL_LANCZOS3, &err), LP_OK);
    assert_int_equal(lp_pipeline_to_buffer(s, &out, NULL, &err), LP_ERR_TRUNCATED);
    assert_non_null(strstr(err.message, "ended at row 10 of 30"));
    lp_stage_destroy(s);
    lp_buffer_image_free(&src);
}

/* ---- orientation ---- */

/* Where the EXIF specification puts the stored image's row 0 and column 0 on the display. */
typedef enum side { TOP, BOTTOM, LEFT, RIGHT } side;
static const side row0_side[9] = {0, TOP, TOP, BOTTOM, BOTTOM, LEFT, RIGHT, RIGHT, LEFT};
static const side col0_side[9] = {0, LEFT, RIGHT, RIGHT, LEFT, TOP, TOP, BOTTOM, BOTTOM};

/* Stored pixel (sx, sy) of a w x h image -> displayed position. */
static void displayed_at(int orientation, uint32_t w, uint32_t h, uint32_t sx, uint32_t sy,
                         uint32_t *dx, uint32_t *dy)
{
    side r = row0_side[orientation], c = col0_side[orientation];
    if (r == TOP || r == BOTTOM) {
        *dy = r == TOP ? sy : h - 1 - sy;
        *dx = c == LEFT ? sx : w - 1 - sx;
    } else {  /* stored rows become display columns */
        *dx = r == LEFT ? sy : h - 1 - sy;
        *dy = c == TOP ? sx : w - 1 - sx;
    }
}

static void check_orientation(lp_format fmt, uint32_t w, uint32_t h, int orientation,
                              uint32_t strip_rows)
{
    lp_buffer_image src, out;
    alloc_image(&src, w, h, fmt);
    unsigned ch = lp_format_channels(fmt);
    for (uint32_t y = 0; y < h; y++)
        for (uint32_t x = 0; x < w; x++)
            for (unsigned c = 0; c < ch; c++)
                sample_set(&src, x, y, c, (y * w + x) * 4 + c + 1);  /* all distinct */
    lp_mem *mem = lp_mem_new(0, NULL);
    lp_error err = {0};
    lp_stage *s, *o;
    assert_int_equal(lp_buffer_source_new(&s, &src, strip_rows, NULL), LP_OK);
    s->mem = mem;
    assert_int_equal(lp_orient_new(&o, s, orientation, &err), LP_OK);
    assert_int_equal(o->whole_image, orientation >= 3);
    assert_int_equal(o->held_bytes, orientation >= 3 ? src.stride * h : 0);
    assert_int_equal(lp_pipeline_to_buffer(o, &out, NULL, &err), LP_OK);
    assert_int_equal(out.info.meta.orientation, 1);
    bool swapped = orientation >= 5;
    assert_int_equal(out.info.width, swapped ? h : w);
    assert_int_equal(out.info.height, swapped ? w : h);
    for (uint32_t y = 0; y < h; y++)
        for (uint32_t x = 0; x < w; x++) {
            uint32_t dx, dy;
            displayed_at(orientation, w, h, x, y, &dx, &dy);
            for (unsigned c = 0; c < ch; c++)
                if (sample_get(&out, dx, dy, c) != sample_get(&src, x, y, c))
                    fail_msg("orientation %d, %s %ux%u: stored (%u,%u) should show at (%u,%u)",
                             orientation, lp_format_name(fmt), w, h, x, y, dx, dy);
        }
    uint64_t peak = lp_mem_peak(mem);
    if (orientation >= 3)
        assert_true(peak >= src.stride * h);  /* the frame is counted */
    else
        assert_true(peak < src.stride * h || h <= 16);
    lp_stage_destroy(o);
    assert_int_equal(lp_mem_current(mem), 0);
    lp_mem_free_tracker(mem);
    lp_buffer_image_free(&out);
    lp_buffer_image_free(&src);
}

static void test_orient_all_eight(void **state)
{
    (void)state;
    for (int o = 1; o <= 8; o++) {
        check_orientation(LP_FORMAT_RGB8, 5, 3, o, 1);
        check_orientation(LP_FORMAT_RGB8, 5, 3, o, 2);
        check_orientation(LP_FORMAT_G8, 3, 5, o, 16);
        check_orientation(LP_FORMAT_GA8, 1, 4, o, 3);
        check_orientation(LP_FORMAT_RGBA16, 4, 1, o, 1);
        check_orientation(LP_FORMAT_RGBA8, 150, 70, o, 5);  /* several output strips */
        check_orientation(LP_FORMAT_RGB16, 1, 1, o, 1);
    }
    /* EXIF 6 explicitly: the stored bottom-left pixel is shown top-left */
    lp_buffer_image src, out;
    alloc_image(&src, 2, 2, LP_FORMAT_G8);
    memcpy(src.pixels, (uint8_t[]){1, 2, 3, 4}, 4);  /* 1 2 / 3 4 */
    int six = 6;
    assert_int_equal(run_op(&src, 0, orient_op, &six, NULL, &out, NULL), LP_OK);
    assert_memory_equal(out.pixels, ((uint8_t[]){3, 1, 4, 2}), 4);  /* rotated clockwise */
    lp_buffer_image_free(&out);
    lp_buffer_image_free(&src);
}

/* A tiny EXIF TIFF stream (no "Exif\0\0") with the given orientation, built by libexif. */
static uint8_t *make_exif(int orientation, size_t *size)
{
    ExifData *ed = exif_data_new();
    exif_data_set_byte_order(ed, EXIF_BYTE_ORDER_MOTOROLA);
    ExifEntry *e = exif_entry_new();
    exif_content_add_entry(ed->ifd[EXIF_IFD_0], e);
    exif_entry_initialize(e, EXIF_TAG_ORIENTATION);
    exif_set_short(e->data, EXIF_BYTE_ORDER_MOTOROLA, (ExifShort)orientation);
    exif_entry_unref(e);
    unsigned char *buf = NULL;
    unsigned len = 0;
    exif_data_save_data(ed, &buf, &len);
    exif_data_unref(ed);
    assert_non_null(buf);
    assert_true(len > 6 && !memcmp(buf, "Exif\0\0", 6));
    uint8_t *tiff = malloc(len - 6);
    memcpy(tiff, buf + 6, len - 6);
    free(buf);
    *size = len - 6;
    return tiff;
}

static void test_orient_resets_exif(void **state)
{
    (void)state;
    size_t size;
    uint8_t *exif = make_exif(6, &size);
    assert_int_equal(lp_exif_orientation(exif, size), 6);
    lp_buffer_image src, out;
    lpt_make_photo(&src, 5, 3, LP_FORMAT_RGB8, 9);
    src.info.meta.exif = exif;
    src.info.meta.exif_size = size;
    src.info.meta.orientation = 6;
    lp_stage *s, *o;
    assert_int_equal(lp_buffer_source_new(&s, &src, 0, NULL), LP_OK);
    assert_int_equal(lp_orient_new(&o, s, 6, NULL), LP_OK);
    assert_int_equal(lp_pipeline_to_buffer(o, &out, NULL, NULL), LP_OK);
    assert_int_equal(out.info.meta.orientation, 1);
    assert_non_null(out.info.meta.exif);
    assert_ptr_not_equal(out.info.meta.exif, exif);  /* the stage's own copy */
    assert_int_equal(lp_exif_orientation(out.info.meta.exif, out.info.meta.exif_size), 1);
    assert_int_equal(lp_exif_orientation(exif, size), 6);  /* the input is untouched */
    assert_int_equal(out.info.width, 3);
    lp_stage_destroy(o);
    lp_buffer_image_free(&out);
    lp_buffer_image_free(&src);
    free(exif);
    /* bad orientation values are refused, upstream destroyed */
    lp_error err = {0};
    lpt_make_photo(&src, 5, 3, LP_FORMAT_RGB8, 9);
    assert_int_equal(lp_buffer_source_new(&s, &src, 0, NULL), LP_OK);
    assert_int_equal(lp_orient_new(&o, s, 9, &err), LP_ERR_INVALID_ARG);
    assert_null(o);
    lp_buffer_image_free(&src);
}

static void test_chain_orient_resize_convert(void **state)
{
    (void)state;
    /* The three together, as lp_convert builds them; strips of 3 rows from the source. */
    lp_buffer_image src, out, ref_rot, ref;
    lpt_make_photo(&src, 60, 40, LP_FORMAT_RGBA8, 10);
    lp_mem *mem = lp_mem_new(0, NULL);
    lp_stage *s;
    lp_error err = {0};
    assert_int_equal(lp_buffer_source_new(&s, &src, 3, NULL), LP_OK);
    s->mem = mem;
    assert_int_equal(lp_orient_new(&s, s, 8, &err), LP_OK);
    assert_int_equal(lp_resize_new(&s, s, 20, 30, LP_KERNEL_LANCZOS3, &err), LP_OK);
    assert_int_equal(lp_convert_format_new(&s, s, LP_FORMAT_RGB8, &err), LP_OK);
    char chain[128];
    lp_stage_describe(s, chain, sizeof chain);
    assert_string_equal(chain, "buffer -> orient -> resize -> convert");
    assert_int_equal(lp_pipeline_to_buffer(s, &out, NULL, &err), LP_OK);
    lp_stage_destroy(s);
    assert_int_equal(lp_mem_current(mem), 0);
    lp_mem_free_tracker(mem);
    /* reference: rotate, area-average, composite over white, independently */
    int eight = 8;
    lp_format rgb = LP_FORMAT_RGB8;
    assert_int_equal(run_op(&src, 0, orient_op, &eight, NULL, &ref_rot, NULL), LP_OK);
    lp_buffer_image small;
    area_reference(&ref_rot, 20, 30, &small);
    assert_int_equal(run_op(&small, 0, convert_op, &rgb, NULL, &ref, NULL), LP_OK);
    assert_true(lpt_psnr(&out, &ref) > 28);
    lp_buffer_image_free(&small);
    lp_buffer_image_free(&ref);
    lp_buffer_image_free(&ref_rot);
    lp_buffer_image_free(&out);
    lp_buffer_image_free(&src);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_convert_every_pair),
        cmocka_unit_test(test_convert_exact_values),
        cmocka_unit_test(test_convert_same_format_and_strips),
        cmocka_unit_test(test_kernel_names),
        cmocka_unit_test(test_resize_identity),
        cmocka_unit_test(test_resize_matches_naive_filter),
        cmocka_unit_test(test_resize_downscale),
        cmocka_unit_test(test_resize_sixteen_bit_matches_eight),
        cmocka_unit_test(test_resize_upscale),
        cmocka_unit_test(test_resize_degenerate_sizes),
        cmocka_unit_test(test_resize_strip_size_does_not_matter),
        cmocka_unit_test(test_resize_alpha_does_not_bleed),
        cmocka_unit_test(test_resize_memory_is_strips_not_frames),
        cmocka_unit_test(test_resize_errors),
        cmocka_unit_test(test_orient_all_eight),
        cmocka_unit_test(test_orient_resets_exif),
        cmocka_unit_test(test_chain_orient_resize_convert),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
