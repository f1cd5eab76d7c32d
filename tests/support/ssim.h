/*
 * ssim.h - structural similarity on luma, for the reference-card fidelity tests.
 *
 * Method (Wang, Bovik, Sheikh, Simoncelli 2004): both images are reduced to luma
 * Y = 0.299 R + 0.587 G + 0.114 B (8-bit scale, floats); local means, variances and the
 * covariance come from an 11x11 Gaussian window (sigma 1.5, normalised, applied separably,
 * edges clamped), computed at every pixel; SSIM = ((2 mx my + C1)(2 sxy + C2)) /
 * ((mx^2 + my^2 + C1)(sx^2 + sy^2 + C2)) with C1 = (0.01*255)^2, C2 = (0.03*255)^2.
 * The score of a region is the mean of the per-pixel SSIM map over its pixels: `whole`
 * over every pixel, `masked` over the pixels whose mask byte is non-zero (the union of the
 * label boxes: a pixel inside two boxes counts once).
 */
#ifndef LP_TEST_SSIM_H
#define LP_TEST_SSIM_H

#include <stdint.h>
#include "leanpix/leanpix.h"

/* a and b: RGB8 (or G8) of the same size. mask: width*height bytes or NULL. Any of the
 * outputs may be NULL. Returns false on a size mismatch or out of memory. */
bool lpt_ssim_luma(const lp_buffer_image *a, const lp_buffer_image *b, const uint8_t *mask,
                   double *whole, double *masked);
/* The per-pixel SSIM map (width*height floats, malloc'd), or NULL. */
float *lpt_ssim_map(const lp_buffer_image *a, const lp_buffer_image *b);
/* Mean of map over a rectangle (clipped). */
double lpt_ssim_map_rect(const float *map, uint32_t width, uint32_t height, int x, int y, int w,
                         int h);
/* SSIM over one rectangle (mean of the map inside it). */
bool lpt_ssim_luma_rect(const lp_buffer_image *a, const lp_buffer_image *b, int x, int y, int w,
                        int h, double *score);

#endif
