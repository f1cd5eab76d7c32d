/*
 * yuv-convert-bench.c - RGB->YUV for the AVIF sink: libyuv straight vs libavif's
 * avifImageRGBToYUV on a strip-sized avifImage view, the way src/codec/avif_save.c feeds
 * strips (16 rows at a time into whole-frame planes, BT.601 full range).
 *
 * Not a test: it prints wall-clock figures (best of N runs) for docs/benchmarks.md.
 * Build and run with bench/yuv-convert-bench.sh (or by hand, see there).
 *
 *   yuv-convert-bench [WIDTH HEIGHT [RUNS]]     default 4000 3000 5
 */
#include <avif/avif.h>
#include <libyuv.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STRIP 16

typedef struct frame {
    uint32_t w, h, depth;
    avifPixelFormat fmt;
    uint8_t *plane[4];
    uint32_t row_bytes[4];
} frame;

typedef void (*convert_fn)(frame *f, const uint8_t *px, size_t stride, uint32_t y, uint32_t rows,
                           int channels, avifImage *view);

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p) {
        fprintf(stderr, "out of memory (%zu bytes)\n", n);
        exit(1);
    }
    memset(p, 0x55, n); /* touch the pages before timing */
    return p;
}

static void frame_alloc(frame *f, uint32_t w, uint32_t h, uint32_t depth, avifPixelFormat fmt, int alpha)
{
    memset(f, 0, sizeof *f);
    f->w = w;
    f->h = h;
    f->depth = depth;
    f->fmt = fmt;
    uint32_t s = depth > 8 ? 2 : 1;
    uint32_t cw = fmt == AVIF_PIXEL_FORMAT_YUV420 ? (w + 1) / 2 : w;
    uint32_t ch = fmt == AVIF_PIXEL_FORMAT_YUV420 ? (h + 1) / 2 : h;
    f->row_bytes[0] = w * s;
    f->row_bytes[1] = f->row_bytes[2] = cw * s;
    f->row_bytes[3] = w * s;
    f->plane[0] = xmalloc((size_t)f->row_bytes[0] * h);
    f->plane[1] = xmalloc((size_t)f->row_bytes[1] * ch);
    f->plane[2] = xmalloc((size_t)f->row_bytes[2] * ch);
    f->plane[3] = alpha ? xmalloc((size_t)f->row_bytes[3] * h) : NULL;
}

static void frame_free(frame *f)
{
    for (int p = 0; p < 4; p++)
        free(f->plane[p]);
}

static uint8_t *row(frame *f, int p, uint32_t y)
{
    return f->plane[p] + (size_t)y * f->row_bytes[p];
}

/* A photo-like 8- or 16-bit RGB(A) image: gradients and noise (libyuv has no data-dependent
 * paths, libavif's built-in none either, so the content only has to be plausible). */
static uint8_t *make_rgb(uint32_t w, uint32_t h, int channels, int sixteen, size_t *stride)
{
    *stride = (size_t)w * channels * (sixteen ? 2 : 1);
    uint8_t *px = xmalloc(*stride * h);
    uint32_t rng = 12345;
    for (uint32_t y = 0; y < h; y++)
        for (uint32_t x = 0; x < w; x++)
            for (int c = 0; c < channels; c++) {
                rng ^= rng << 13;
                rng ^= rng >> 17;
                rng ^= rng << 5;
                uint32_t v = (x * (c + 1) * 255 / w + y * 255 / h + (rng & 15)) & 255;
                size_t i = (size_t)y * *stride / (sixteen ? 2 : 1) + (size_t)x * channels + c;
                if (sixteen)
                    ((uint16_t *)px)[i] = (uint16_t)(v * 257);
                else
                    px[i] = (uint8_t)v;
            }
    return px;
}

/* libyuv, 8-bit 4:2:0 full range (J420), what avif_save.c does by default. */
static void libyuv_j420(frame *f, const uint8_t *px, size_t stride, uint32_t y, uint32_t rows,
                        int channels, avifImage *view)
{
    (void)view;
    if (channels == 4) {
        ABGRToJ420(px, (int)stride, row(f, 0, y), (int)f->row_bytes[0], row(f, 1, y / 2),
                   (int)f->row_bytes[1], row(f, 2, y / 2), (int)f->row_bytes[2], (int)f->w, (int)rows);
        ARGBExtractAlpha(px, (int)stride, row(f, 3, y), (int)f->row_bytes[3], (int)f->w, (int)rows);
    } else {
        RAWToJ420(px, (int)stride, row(f, 0, y), (int)f->row_bytes[0], row(f, 1, y / 2),
                  (int)f->row_bytes[1], row(f, 2, y / 2), (int)f->row_bytes[2], (int)f->w, (int)rows);
    }
}

/* libyuv, 8-bit 4:4:4: only limited range exists (RAW->ARGB->I444 through a row buffer);
 * shown for scale, not usable for the full-range nclx we write. */
static void libyuv_i444_limited(frame *f, const uint8_t *px, size_t stride, uint32_t y,
                                uint32_t rows, int channels, avifImage *view)
{
    (void)view;
    (void)channels;
    static uint8_t *argb;
    static uint32_t argb_w;
    if (argb_w != f->w) {
        free(argb);
        argb = xmalloc((size_t)f->w * 4 * STRIP);
        argb_w = f->w;
    }
    RAWToARGB(px, (int)stride, argb, (int)f->w * 4, (int)f->w, (int)rows);
    ARGBToI444(argb, (int)f->w * 4, row(f, 0, y), (int)f->row_bytes[0], row(f, 1, y),
               (int)f->row_bytes[1], row(f, 2, y), (int)f->row_bytes[2], (int)f->w, (int)rows);
}

static void avif_view(frame *f, const uint8_t *px, size_t stride, uint32_t y, uint32_t rows,
                      int channels, avifImage *view, avifBool avoid_libyuv)
{
    uint32_t cy = f->fmt == AVIF_PIXEL_FORMAT_YUV420 ? y / 2 : y;
    view->height = rows;
    view->yuvPlanes[0] = row(f, 0, y);
    view->yuvPlanes[1] = row(f, 1, cy);
    view->yuvPlanes[2] = row(f, 2, cy);
    for (int p = 0; p < 3; p++)
        view->yuvRowBytes[p] = f->row_bytes[p];
    view->alphaPlane = f->plane[3] ? row(f, 3, y) : NULL;
    view->alphaRowBytes = f->row_bytes[3];
    avifRGBImage rgb;
    avifRGBImageSetDefaults(&rgb, view);
    rgb.format = channels == 4 ? AVIF_RGB_FORMAT_RGBA : AVIF_RGB_FORMAT_RGB;
    rgb.depth = f->depth > 8 ? 16 : 8;
    rgb.pixels = (uint8_t *)px;
    rgb.rowBytes = (uint32_t)stride;
    rgb.avoidLibYUV = avoid_libyuv;
    if (avifImageRGBToYUV(view, &rgb) != AVIF_RESULT_OK) {
        fprintf(stderr, "avifImageRGBToYUV failed\n");
        exit(1);
    }
    memset(view->yuvPlanes, 0, sizeof view->yuvPlanes);
    view->alphaPlane = NULL;
    view->imageOwnsYUVPlanes = view->imageOwnsAlphaPlane = AVIF_FALSE;
}

static void avif_auto(frame *f, const uint8_t *px, size_t stride, uint32_t y, uint32_t rows,
                      int channels, avifImage *view)
{
    avif_view(f, px, stride, y, rows, channels, view, AVIF_FALSE);
}

static void avif_builtin(frame *f, const uint8_t *px, size_t stride, uint32_t y, uint32_t rows,
                         int channels, avifImage *view)
{
    avif_view(f, px, stride, y, rows, channels, view, AVIF_TRUE);
}

/* Best-of-runs seconds to convert the whole image strip by strip. */
static double time_case(convert_fn fn, uint32_t w, uint32_t h, uint32_t depth, avifPixelFormat fmt,
                        int channels, int runs, uint32_t *checksum)
{
    size_t stride;
    uint8_t *px = make_rgb(w, h, channels, depth > 8, &stride);
    frame f;
    frame_alloc(&f, w, h, depth, fmt, channels == 4);
    avifImage *view = avifImageCreate(w, STRIP, depth, fmt);
    view->yuvRange = AVIF_RANGE_FULL;
    view->matrixCoefficients = AVIF_MATRIX_COEFFICIENTS_BT601;
    double best = 1e30;
    for (int r = 0; r < runs; r++) {
        double t0 = now();
        for (uint32_t y = 0; y < h; y += STRIP) {
            uint32_t rows = h - y < STRIP ? h - y : STRIP;
            fn(&f, px + (size_t)y * stride, stride, y, rows, channels, view);
        }
        double t = now() - t0;
        if (t < best)
            best = t;
    }
    uint32_t sum = 0; /* over every Y sample: equal sums = (almost surely) the same output */
    for (size_t i = 0; i < (size_t)f.row_bytes[0] * h; i++)
        sum = sum * 31 + f.plane[0][i];
    *checksum = sum;
    avifImageDestroy(view);
    frame_free(&f);
    free(px);
    return best;
}

static void report(const char *name, convert_fn fn, uint32_t w, uint32_t h, uint32_t depth,
                   avifPixelFormat fmt, int channels, int runs, double baseline)
{
    uint32_t sum;
    double t = time_case(fn, w, h, depth, fmt, channels, runs, &sum);
    double mp = (double)w * h / 1e6;
    printf("%-58s %8.1f ms  %7.1f MP/s", name, t * 1e3, mp / t);
    if (baseline > 0)
        printf("  x%.2f", t / baseline);
    printf("  (Y sum %08x)\n", sum);
}

int main(int argc, char **argv)
{
    uint32_t w = argc > 2 ? (uint32_t)atoi(argv[1]) : 4000;
    uint32_t h = argc > 2 ? (uint32_t)atoi(argv[2]) : 3000;
    int runs = argc > 3 ? atoi(argv[3]) : 5;
    if (!w || !h || runs < 1) {
        fprintf(stderr, "usage: %s [WIDTH HEIGHT [RUNS]]\n", argv[0]);
        return 2;
    }
    printf("RGB->YUV, %ux%u (%.1f MP), strips of %d rows, best of %d; libavif %s, libyuv %d\n",
           w, h, (double)w * h / 1e6, STRIP, runs, avifVersion(), LIBYUV_VERSION);
    uint32_t s;
    double base = time_case(libyuv_j420, w, h, 8, AVIF_PIXEL_FORMAT_YUV420, 3, runs, &s);
    report("RGB8  4:2:0 libyuv RAWToJ420 (default)", libyuv_j420, w, h, 8, AVIF_PIXEL_FORMAT_YUV420, 3, runs, base);
    report("RGB8  4:2:0 avifImageRGBToYUV (libavif -> libyuv)", avif_auto, w, h, 8, AVIF_PIXEL_FORMAT_YUV420, 3, runs, base);
    report("RGB8  4:2:0 avifImageRGBToYUV avoidLibYUV (built-in)", avif_builtin, w, h, 8, AVIF_PIXEL_FORMAT_YUV420, 3, runs, base);
    base = time_case(libyuv_j420, w, h, 8, AVIF_PIXEL_FORMAT_YUV420, 4, runs, &s);
    report("RGBA8 4:2:0 libyuv ABGRToJ420+ARGBExtractAlpha (default)", libyuv_j420, w, h, 8, AVIF_PIXEL_FORMAT_YUV420, 4, runs, base);
    report("RGBA8 4:2:0 avifImageRGBToYUV (libavif -> libyuv)", avif_auto, w, h, 8, AVIF_PIXEL_FORMAT_YUV420, 4, runs, base);
    report("RGBA8 4:2:0 avifImageRGBToYUV avoidLibYUV (built-in)", avif_builtin, w, h, 8, AVIF_PIXEL_FORMAT_YUV420, 4, runs, base);
    base = time_case(avif_auto, w, h, 8, AVIF_PIXEL_FORMAT_YUV444, 3, runs, &s);
    report("RGB8  4:4:4 avifImageRGBToYUV (built-in; default)", avif_auto, w, h, 8, AVIF_PIXEL_FORMAT_YUV444, 3, runs, base);
    report("RGB8  4:4:4 libyuv RAW->ARGB->I444 (limited range only)", libyuv_i444_limited, w, h, 8, AVIF_PIXEL_FORMAT_YUV444, 3, runs, base);
    base = time_case(avif_auto, w, h, 10, AVIF_PIXEL_FORMAT_YUV420, 3, runs, &s);
    report("RGB16 4:2:0 10-bit avifImageRGBToYUV (built-in; only path)", avif_auto, w, h, 10, AVIF_PIXEL_FORMAT_YUV420, 3, runs, base);
    report("RGB16 4:4:4 10-bit avifImageRGBToYUV (built-in; only path)", avif_auto, w, h, 10, AVIF_PIXEL_FORMAT_YUV444, 3, runs, base);
    return 0;
}
