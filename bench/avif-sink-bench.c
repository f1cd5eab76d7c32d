/*
 * avif-sink-bench.c - one single-frame AVIF encode through leanpix's avif-save sink, with
 * the figures that tell whether its memory estimate holds: wall time, output size, the
 * counted peak (planes + the 16 B/pixel libaom reservation), and the process's RSS before
 * the encode and at its peak (VmHWM), so that libaom's real footprint is peak - before -
 * planes. The source is a synthetic photo held in memory (the bench's own RGB buffer is in
 * "before", not in the sink's figures). Optionally writes the same pixels as a PNG so that
 * avifenc can be run on them side by side (bench/avif-sink-bench.sh does that).
 *
 *   avif-sink-bench WIDTH HEIGHT OUT.avif [QUALITY SPEED CHROMA(420|444) DEPTH THREADS [PNG]]
 */
#include "leanpix/leanpix.h"

#include <math.h>
#include <spng.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Gradients, discs with hard edges, ripples at several scales and grain: about the
 * compressibility of a photo (0.5-1 bit a pixel at quality 60), not of noise. */
static void fill_photo(lp_buffer_image *img)
{
    uint32_t w = img->info.width, h = img->info.height, rng = 7;
    for (uint32_t y = 0; y < h; y++) {
        uint8_t *row = img->pixels + (size_t)y * img->stride;
        for (uint32_t x = 0; x < w; x++) {
            rng ^= rng << 13;
            rng ^= rng >> 17;
            rng ^= rng << 5;
            int dx = (int)(x % 1024) - 512, dy = (int)(y % 1024) - 512;
            int disc = dx * dx + dy * dy < 300 * 300 ? 60 : 0;
            int g = (int)(rng % 21) - 10 +
                    (int)(40 * sin(x * 0.07 + 3 * sin(y * 0.05)) * cos(y * 0.11 + x * 0.013)) +
                    (int)(25 * sin(x * 0.9 + y * 0.4) * sin(y * 0.013));
            int r = (int)(x * 200 / w) + disc + g, gg = (int)(y * 180 / h) + g,
                b = (int)((x + y) * 120 / (w + h)) + 60 - disc / 2 + g;
            row[3 * x] = (uint8_t)(r < 0 ? 0 : r > 255 ? 255 : r);
            row[3 * x + 1] = (uint8_t)(gg < 0 ? 0 : gg > 255 ? 255 : gg);
            row[3 * x + 2] = (uint8_t)(b < 0 ? 0 : b > 255 ? 255 : b);
        }
    }
}

static int write_png(const lp_buffer_image *img, const char *path)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    spng_ctx *ctx = spng_ctx_new(SPNG_CTX_ENCODER);
    spng_set_png_file(ctx, f);
    struct spng_ihdr ihdr = {.width = img->info.width, .height = img->info.height, .bit_depth = 8,
                             .color_type = SPNG_COLOR_TYPE_TRUECOLOR};
    spng_set_ihdr(ctx, &ihdr);
    int rc = spng_encode_image(ctx, img->pixels, img->stride * img->info.height, SPNG_FMT_PNG,
                               SPNG_ENCODE_FINALIZE);
    spng_ctx_free(ctx);
    fclose(f);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s WIDTH HEIGHT OUT.avif [QUALITY SPEED 420|444 DEPTH THREADS [PNG]]\n", argv[0]);
        return 2;
    }
    uint32_t w = (uint32_t)atoi(argv[1]), h = (uint32_t)atoi(argv[2]);
    lp_encode_options opts;
    lp_encode_options_default(&opts, LP_FILE_AVIF);
    if (argc > 4) opts.quality = atoi(argv[4]);
    if (argc > 5) opts.speed = atoi(argv[5]);
    if (argc > 6) opts.chroma = atoi(argv[6]) == 444 ? LP_CHROMA_444 : LP_CHROMA_420;
    if (argc > 7) opts.bit_depth = (unsigned)atoi(argv[7]);
    if (argc > 8) opts.threads = (unsigned)atoi(argv[8]);
    lp_error err = {0};
    lp_buffer_image img;
    if (lp_buffer_image_alloc(&img, w, h, opts.bit_depth == 10 ? LP_FORMAT_RGB16 : LP_FORMAT_RGB8,
                              NULL, &err) != LP_OK) {
        fprintf(stderr, "%s\n", lp_error_message(&err));
        return 1;
    }
    if (opts.bit_depth == 10) {
        fprintf(stderr, "10-bit: the bench fills 8-bit photos only\n");
        return 2;
    }
    fill_photo(&img);
    if (argc > 9 && write_png(&img, argv[9]) != 0) {
        fprintf(stderr, "cannot write %s\n", argv[9]);
        return 1;
    }
    uint64_t rss_before = lp_process_current_rss();
    lp_mem *mem = lp_mem_new(0, NULL);
    lp_stage *src;
    lp_output *out;
    lp_sink *sink;
    double t0 = now();
    lp_status st = lp_buffer_source_new(&src, &img, 16, &err);
    if (st == LP_OK)
        st = lp_output_open_file(&out, argv[3], &err);
    if (st == LP_OK)
        st = lp_avif_sink_new(&sink, out, &opts, mem, &err);
    if (st == LP_OK)
        st = lp_pipeline_run(src, sink, NULL, NULL, &err);
    if (st == LP_OK)
        st = lp_output_commit(out, &err);
    double t = now() - t0;
    if (st != LP_OK) {
        fprintf(stderr, "avif-sink-bench: %s\n", lp_error_message(&err));
        return 1;
    }
    uint64_t bytes = lp_output_bytes(out);
    printf("%ux%u q%d s%d %s %u-bit threads %u: %.2f s, %llu bytes\n", w, h,
           opts.quality < 0 ? 60 : opts.quality, opts.speed, opts.chroma == LP_CHROMA_444 ? "4:4:4" : "4:2:0",
           opts.bit_depth ? opts.bit_depth : 8, opts.threads, t, (unsigned long long)bytes);
    printf("counted peak %.1f MB (planes + 16 B/px libaom estimate %.1f MB)\n",
           lp_mem_peak(mem) / 1e6, (double)w * h * 16 / 1e6);
    printf("RSS before encode %.1f MB, peak (VmHWM) %.1f MB, so the encode added %.1f MB (%.1f B/px)\n",
           rss_before / 1e6, lp_process_peak_rss() / 1e6, (lp_process_peak_rss() - rss_before) / 1e6,
           (double)(lp_process_peak_rss() - rss_before) / ((double)w * h));
    lp_sink_destroy(sink);
    lp_output_close(out);
    lp_stage_destroy(src);
    lp_mem_free_tracker(mem);
    lp_buffer_image_free(&img);
    return 0;
}
