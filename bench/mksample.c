/*
 * mksample.c - writes a photo-like test image, so that the demo and the benchmarks need
 * no shipped binary: a sky gradient, hills with texture, a sun, foliage-like noise at
 * several scales and sensor-like grain (flat colours and smooth noise flatter encoders).
 *
 * usage: lp-mksample OUT.{jpg,png} WIDTH HEIGHT [SEED]
 *
 * It streams: rows are generated strip by strip into leanpix's encoder, so even a
 * 200-megapixel sample takes a few megabytes of memory.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "leanpix/leanpix.h"

typedef struct sample_source {
    lp_stage base;
    uint8_t *rows;
    uint32_t y;
    uint32_t seed;
} sample_source;

#define SAMPLE_STRIP 16

static uint32_t hash32(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    x *= 0x846ca68bu;
    x ^= x >> 16;
    return x;
}

/* value noise in [0,1) on a lattice of the given cell size */
static double value_noise(double x, double y, double cell, uint32_t seed)
{
    double gx = x / cell, gy = y / cell;
    int ix = (int)floor(gx), iy = (int)floor(gy);
    double fx = gx - ix, fy = gy - iy;
    fx = fx * fx * (3 - 2 * fx);
    fy = fy * fy * (3 - 2 * fy);
    double v[4];
    for (int k = 0; k < 4; k++)
        v[k] = (hash32((uint32_t)(ix + (k & 1)) * 73856093u ^ (uint32_t)(iy + (k >> 1)) * 19349663u ^ seed) & 0xffff) / 65536.0;
    return (v[0] * (1 - fx) + v[1] * fx) * (1 - fy) + (v[2] * (1 - fx) + v[3] * fx) * fy;
}

static void pixel(uint32_t x, uint32_t y, uint32_t w, uint32_t h, uint32_t seed, uint8_t *out)
{
    double u = (double)x / w, v = (double)y / h;
    double scale = w / 1000.0;
    double horizon = 0.45 + 0.08 * sin(u * 7 + seed) + 0.05 * (value_noise(x, 0, 120 * scale, seed) - 0.5);
    double r, g, b;
    if (v < horizon) {  /* sky with a sun and clouds */
        r = 90 + 80 * v;
        g = 140 + 60 * v;
        b = 230 - 40 * v;
        double dx = u - 0.72, dy = v - 0.18;
        double sun = exp(-(dx * dx + dy * dy) * 400);
        r += 160 * sun;
        g += 140 * sun;
        b += 60 * sun;
        double cloud = value_noise(x, y, 90 * scale, seed + 1) * 0.6 + value_noise(x, y, 30 * scale, seed + 2) * 0.4;
        cloud = cloud > 0.55 ? (cloud - 0.55) * 2.2 : 0;
        r += (245 - r) * cloud;
        g += (245 - g) * cloud;
        b += (250 - b) * cloud;
    } else {  /* hills with foliage texture at several scales */
        double t = value_noise(x, y, 60 * scale, seed + 3) * 0.5 + value_noise(x, y, 12 * scale, seed + 4) * 0.3 +
                   value_noise(x, y, 3, seed + 5) * 0.2;
        double depth = (v - horizon) / (1 - horizon);
        r = 40 + 90 * t + 30 * depth;
        g = 70 + 110 * t - 20 * depth;
        b = 30 + 40 * t;
        if (value_noise(x, y, 200 * scale, seed + 6) > 0.7) {  /* a field of another colour */
            r += 60;
            g += 40;
        }
    }
    double grain = ((int)(hash32(x * 2654435761u ^ y * 40503u ^ seed) % 25) - 12);
    double c[3] = {r + grain, g + grain, b + grain};
    for (int k = 0; k < 3; k++)
        out[k] = (uint8_t)(c[k] < 0 ? 0 : c[k] > 255 ? 255 : c[k]);
}

static lp_status sample_next(lp_stage *self, lp_strip *strip, lp_error *err)
{
    (void)err;
    sample_source *s = (sample_source *)self;
    uint32_t w = self->info.width, h = self->info.height;
    uint32_t rows = h - s->y < SAMPLE_STRIP ? h - s->y : SAMPLE_STRIP;
    for (uint32_t r = 0; r < rows; r++)
        for (uint32_t x = 0; x < w; x++)
            pixel(x, s->y + r, w, h, s->seed, s->rows + ((size_t)r * w + x) * 3);
    strip->data = s->rows;
    strip->stride = (size_t)w * 3;
    strip->y = s->y;
    strip->rows = rows;
    s->y += rows;
    return LP_OK;
}

static void sample_destroy(lp_stage *self)
{
    sample_source *s = (sample_source *)self;
    free(s->rows);
    free(s);
}

static const lp_stage_ops sample_ops = {.name = "sample", .next = sample_next, .destroy = sample_destroy};

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s OUT.{jpg,png} WIDTH HEIGHT [SEED]\n", argv[0]);
        return 2;
    }
    sample_source *s = calloc(1, sizeof *s);
    s->base.ops = &sample_ops;
    s->base.info.width = (uint32_t)strtoul(argv[2], NULL, 10);
    s->base.info.height = (uint32_t)strtoul(argv[3], NULL, 10);
    s->base.info.format = LP_FORMAT_RGB8;
    s->base.info.meta.orientation = 1;
    s->seed = argc > 4 ? (uint32_t)strtoul(argv[4], NULL, 10) : 1;
    if (!s->base.info.width || !s->base.info.height) {
        fprintf(stderr, "mksample: bad size\n");
        return 2;
    }
    s->rows = malloc((size_t)s->base.info.width * 3 * SAMPLE_STRIP);
    lp_error err = {0};
    lp_encode_options enc;
    lp_encode_options_default(&enc, lp_file_format_from_path(argv[1]));
    enc.quality = 92;
    lp_output *out;
    lp_sink *sink = NULL;
    lp_status st = lp_output_open_file(&out, argv[1], &err);
    if (st == LP_OK)
        st = lp_sink_new(&sink, out, &enc, NULL, &err);
    if (st == LP_OK)
        st = lp_pipeline_run(&s->base, sink, NULL, NULL, &err);
    if (st == LP_OK)
        st = lp_output_commit(out, &err);
    lp_sink_destroy(sink);
    if (out)
        lp_output_close(out);
    lp_stage_destroy(&s->base);
    if (st != LP_OK) {
        fprintf(stderr, "mksample: %s: %s\n", argv[1], lp_error_message(&err));
        return 1;
    }
    return 0;
}
