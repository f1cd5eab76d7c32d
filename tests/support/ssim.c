/*
 * ssim.c - SSIM on luma with an 11x11 Gaussian window (see ssim.h for the method).
 * Memory: eight float planes of the image size (64 MB for 1920x1080), test-only.
 */
#include "ssim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static float *to_luma(const lp_buffer_image *img)
{
    uint32_t w = img->info.width, h = img->info.height;
    unsigned px = lp_format_pixel_bytes(img->info.format);
    float *y = malloc(sizeof *y * w * h);
    if (!y)
        return NULL;
    bool gray = lp_format_is_gray(img->info.format);
    for (uint32_t r = 0; r < h; r++) {
        const uint8_t *row = img->pixels + r * img->stride;
        for (uint32_t c = 0; c < w; c++) {
            const uint8_t *p = row + c * px;
            y[r * w + c] = gray ? p[0] : 0.299f * p[0] + 0.587f * p[1] + 0.114f * p[2];
        }
    }
    return y;
}

static void blur(const float *src, float *dst, float *tmp, uint32_t w, uint32_t h, const float *k)
{
    for (uint32_t r = 0; r < h; r++)
        for (uint32_t c = 0; c < w; c++) {
            float s = 0;
            for (int i = -5; i <= 5; i++) {
                long cc = (long)c + i;
                cc = cc < 0 ? 0 : cc >= (long)w ? (long)w - 1 : cc;
                s += k[i + 5] * src[r * w + cc];
            }
            tmp[r * w + c] = s;
        }
    for (uint32_t r = 0; r < h; r++)
        for (uint32_t c = 0; c < w; c++) {
            float s = 0;
            for (int i = -5; i <= 5; i++) {
                long rr = (long)r + i;
                rr = rr < 0 ? 0 : rr >= (long)h ? (long)h - 1 : rr;
                s += k[i + 5] * tmp[rr * w + c];
            }
            dst[r * w + c] = s;
        }
}

float *lpt_ssim_map(const lp_buffer_image *a, const lp_buffer_image *b)
{
    uint32_t w = a->info.width, h = a->info.height;
    if (w != b->info.width || h != b->info.height)
        return NULL;
    size_t n = (size_t)w * h;
    float k[11], sum = 0;
    for (int i = -5; i <= 5; i++)
        sum += k[i + 5] = expf(-(float)(i * i) / (2 * 1.5f * 1.5f));
    for (int i = 0; i < 11; i++)
        k[i] /= sum;
    float *x = to_luma(a), *y = to_luma(b);
    float *buf = malloc(sizeof(float) * n * 6);
    if (!x || !y || !buf) {
        free(x);
        free(y);
        free(buf);
        return NULL;
    }
    float *mx = buf, *my = buf + n, *sxx = buf + 2 * n, *syy = buf + 3 * n, *sxy = buf + 4 * n,
          *tmp = buf + 5 * n;
    blur(x, mx, tmp, w, h, k);
    blur(y, my, tmp, w, h, k);
    float *prod = calloc(n, sizeof(float));
    if (!prod) {
        free(x);
        free(y);
        free(buf);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        prod[i] = x[i] * x[i];
    blur(prod, sxx, tmp, w, h, k);
    for (size_t i = 0; i < n; i++)
        prod[i] = y[i] * y[i];
    blur(prod, syy, tmp, w, h, k);
    for (size_t i = 0; i < n; i++)
        prod[i] = x[i] * y[i];
    blur(prod, sxy, tmp, w, h, k);
    const float c1 = (0.01f * 255) * (0.01f * 255), c2 = (0.03f * 255) * (0.03f * 255);
    for (size_t i = 0; i < n; i++) {
        float vx = sxx[i] - mx[i] * mx[i], vy = syy[i] - my[i] * my[i];
        float cov = sxy[i] - mx[i] * my[i];
        prod[i] = ((2 * mx[i] * my[i] + c1) * (2 * cov + c2)) /
                  ((mx[i] * mx[i] + my[i] * my[i] + c1) * (vx + vy + c2));
    }
    free(x);
    free(y);
    free(buf);
    return prod;
}

bool lpt_ssim_luma(const lp_buffer_image *a, const lp_buffer_image *b, const uint8_t *mask,
                   double *whole, double *masked)
{
    float *m = lpt_ssim_map(a, b);
    if (!m)
        return false;
    size_t n = (size_t)a->info.width * a->info.height, nm = 0;
    double all = 0, in = 0;
    for (size_t i = 0; i < n; i++) {
        all += m[i];
        if (mask && mask[i]) {
            in += m[i];
            nm++;
        }
    }
    if (whole)
        *whole = all / (double)n;
    if (masked)
        *masked = nm ? in / (double)nm : 1.0;
    free(m);
    return true;
}

bool lpt_ssim_luma_rect(const lp_buffer_image *a, const lp_buffer_image *b, int x, int y, int w,
                        int h, double *score)
{
    uint32_t W = a->info.width, H = a->info.height;
    uint8_t *mask = calloc((size_t)W * H, 1);
    if (!mask)
        return false;
    for (int r = y < 0 ? 0 : y; r < y + h && r < (int)H; r++)
        for (int c = x < 0 ? 0 : x; c < x + w && c < (int)W; c++)
            mask[(size_t)r * W + c] = 1;
    bool ok = lpt_ssim_luma(a, b, mask, NULL, score);
    free(mask);
    return ok;
}

double lpt_ssim_map_rect(const float *map, uint32_t width, uint32_t height, int x, int y, int w,
                         int h)
{
    double sum = 0;
    size_t n = 0;
    for (int r = y < 0 ? 0 : y; r < y + h && r < (int)height; r++)
        for (int c = x < 0 ? 0 : x; c < x + w && c < (int)width; c++) {
            sum += map[(size_t)r * width + c];
            n++;
        }
    return n ? sum / (double)n : 1.0;
}
