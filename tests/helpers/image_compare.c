/*
 * image_compare.c - bench helper: PSNR of two PNGs, and with a cell size, the PSNR of the
 * 8-pixel bands along the cell borders against the PSNR of the cell interiors (seams).
 *
 *   image_compare REF.png TEST.png [cell_w cell_h]
 */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static double to_db(double se, double n)
{
    return n == 0 || se == 0 ? 99.0 : 10 * log10(255.0 * 255.0 / (se / n));
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: image_compare REF.png TEST.png [cell_w cell_h]\n");
        return 2;
    }
    lp_buffer_image a, b;
    if (!lpt_read_png(argv[1], &a) || !lpt_read_png(argv[2], &b)) {
        fprintf(stderr, "cannot read the images\n");
        return 1;
    }
    if (a.info.width != b.info.width || a.info.height != b.info.height) {
        fprintf(stderr, "sizes differ: %ux%u vs %ux%u\n", a.info.width, a.info.height, b.info.width, b.info.height);
        return 1;
    }
    lpt_to_rgb8(&a, false);
    lpt_to_rgb8(&b, false);
    uint32_t W = a.info.width, H = a.info.height;
    uint32_t cw = argc > 4 ? (uint32_t)atoi(argv[3]) : 0, ch = argc > 4 ? (uint32_t)atoi(argv[4]) : 0;
    double all = 0, band = 0, inner = 0, n_all = 0, n_band = 0, n_inner = 0;
    for (uint32_t y = 0; y < H; y++)
        for (uint32_t x = 0; x < W; x++) {
            double se = 0;
            for (int c = 0; c < 3; c++) {
                double d = (double)a.pixels[y * a.stride + x * 3 + c] - b.pixels[y * b.stride + x * 3 + c];
                se += d * d;
            }
            all += se;
            n_all += 3;
            if (!cw)
                continue;
            uint32_t dx = x % cw, dy = y % ch;
            bool nx = (dx < 4 && x >= cw) || (dx >= cw - 4 && (x / cw + 1) * cw < W);
            bool ny = (dy < 4 && y >= ch) || (dy >= ch - 4 && (y / ch + 1) * ch < H);
            if (nx || ny) {
                band += se;
                n_band += 3;
            } else if (dx >= 8 && dx < cw - 8 && dy >= 8 && dy < ch - 8) {
                inner += se;
                n_inner += 3;
            }
        }
    printf("psnr %.3f", to_db(all, n_all));
    if (cw)
        printf(" borders %.3f interiors %.3f", to_db(band, n_band), to_db(inner, n_inner));
    printf("\n");
    lp_buffer_image_free(&a);
    lp_buffer_image_free(&b);
    return 0;
}
