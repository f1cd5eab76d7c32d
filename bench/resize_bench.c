/*
 * resize_bench.c - times leanpix's streaming resampler alone (no decoder, no encoder):
 * a synthetic image in memory is pulled through lp_resize_new() into a sink that only
 * checksums the rows. Prints the best and median wall time of several runs, the input
 * megapixels per second and the counted peak memory of the resize stage.
 *
 * CPU time (this thread's) is printed beside wall time: on a shared machine it is the
 * steadier figure.
 *
 * usage: lp-resize-bench [WIDTH HEIGHT LONG_SIDE KERNEL FORMAT RUNS]
 *        defaults: 6000 4000 2048 lanczos3 RGB8 5
 *
 * The source image itself is not counted (it stands in for a decoder that would yield
 * strips); the counted peak is what the resize stage holds. This is a benchmark, not a
 * test: run it on a quiet machine; compare with `vips resize` in bench/resize-vs-vips.sh.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "leanpix/leanpix.h"

typedef struct checksum_sink {
    lp_sink base;
    uint64_t sum;
    uint32_t rows;
    size_t row_bytes;
} checksum_sink;

static lp_status sink_begin(lp_sink *self, const lp_image_info *info, lp_error *err)
{
    (void)err;
    checksum_sink *s = (checksum_sink *)self;
    s->row_bytes = (size_t)info->width * lp_format_pixel_bytes(info->format);
    return LP_OK;
}

static lp_status sink_write(lp_sink *self, const lp_strip *strip, lp_error *err)
{
    (void)err;
    checksum_sink *s = (checksum_sink *)self;
    for (uint32_t r = 0; r < strip->rows; r++) {
        const uint8_t *row = strip->data + (size_t)r * strip->stride;
        for (size_t i = 0; i < s->row_bytes; i += 61)
            s->sum = s->sum * 31 + row[i];
    }
    s->rows += strip->rows;
    return LP_OK;
}

static lp_status sink_finish(lp_sink *self, lp_error *err)
{
    (void)self;
    (void)err;
    return LP_OK;
}

static const lp_sink_ops checksum_ops = {
    .name = "checksum",
    .begin = sink_begin,
    .write = sink_write,
    .finish = sink_finish,
};

static void fill(lp_buffer_image *img)
{
    unsigned pb = lp_format_pixel_bytes(img->info.format);
    uint32_t state = 12345;
    for (uint32_t y = 0; y < img->info.height; y++) {
        uint8_t *row = img->pixels + (size_t)y * img->stride;
        for (size_t i = 0; i < (size_t)img->info.width * pb; i++) {
            state = state * 1664525u + 1013904223u;
            row[i] = (uint8_t)((i / pb + y) / 8 + (state >> 28));  /* gradient + grain */
        }
    }
}

static double clock_seconds(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static lp_format parse_format(const char *name)
{
    for (lp_format f = 0; f < LP_FORMAT_COUNT; f++)
        if (!strcmp(lp_format_name(f), name))
            return f;
    return LP_FORMAT_COUNT;
}

int main(int argc, char **argv)
{
    uint32_t width = argc > 1 ? (uint32_t)atoi(argv[1]) : 6000;
    uint32_t height = argc > 2 ? (uint32_t)atoi(argv[2]) : 4000;
    uint32_t long_side = argc > 3 ? (uint32_t)atoi(argv[3]) : 2048;
    bool ok = true;
    lp_kernel kernel = lp_kernel_from_name(argc > 4 ? argv[4] : "lanczos3", &ok);
    lp_format format = parse_format(argc > 5 ? argv[5] : "RGB8");
    int runs = argc > 6 ? atoi(argv[6]) : 5;
    if (!ok || format == LP_FORMAT_COUNT || !width || !height || !long_side || runs < 1 ||
        runs > 100) {
        fprintf(stderr, "usage: lp-resize-bench [WIDTH HEIGHT LONG_SIDE KERNEL FORMAT RUNS]\n");
        return 2;
    }
    uint32_t ow = width >= height ? long_side : (uint32_t)((uint64_t)long_side * width / height);
    uint32_t oh = width >= height ? (uint32_t)((uint64_t)long_side * height / width) : long_side;
    lp_buffer_image src;
    lp_error err = {0};
    if (lp_buffer_image_alloc(&src, width, height, format, NULL, &err) != LP_OK) {
        fprintf(stderr, "lp-resize-bench: %s\n", lp_error_message(&err));
        return 1;
    }
    fill(&src);
    double seconds[100], cpu[100];
    uint64_t peak = 0, sum = 0;
    for (int i = 0; i < runs; i++) {
        lp_mem *mem = lp_mem_new(0, NULL);
        lp_stage *s;
        checksum_sink sink = {.base = {.ops = &checksum_ops}};
        lp_buffer_source_new(&s, &src, 16, &err);
        s->mem = mem;
        double t0 = clock_seconds(CLOCK_MONOTONIC), c0 = clock_seconds(CLOCK_THREAD_CPUTIME_ID);
        lp_status st = lp_resize_new(&s, s, ow, oh, kernel, &err);
        if (st == LP_OK)
            st = lp_pipeline_run(s, &sink.base, NULL, NULL, &err);
        seconds[i] = clock_seconds(CLOCK_MONOTONIC) - t0;
        cpu[i] = clock_seconds(CLOCK_THREAD_CPUTIME_ID) - c0;
        lp_stage_destroy(s);
        if (st != LP_OK || sink.rows != oh) {
            fprintf(stderr, "lp-resize-bench: %s\n", lp_error_message(&err));
            return 1;
        }
        peak = lp_mem_peak(mem);
        sum = sink.sum;
        lp_mem_free_tracker(mem);
    }
    qsort(seconds, (size_t)runs, sizeof seconds[0], compare_doubles);
    qsort(cpu, (size_t)runs, sizeof cpu[0], compare_doubles);
    printf("resize %ux%u %s -> %ux%u %s: best %.1f ms, median %.1f ms (%d runs), "
           "best CPU %.1f ms, %.1f input MP/s, counted peak %.2f MiB, checksum %016llx\n",
           width, height, lp_format_name(format), ow, oh, argc > 4 ? argv[4] : "lanczos3",
           seconds[0] * 1e3, seconds[runs / 2] * 1e3, runs, cpu[0] * 1e3,
           (double)width * height / 1e6 / seconds[0], peak / 1048576.0,
           (unsigned long long)sum);
    lp_buffer_image_free(&src);
    return 0;
}
