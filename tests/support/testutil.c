/*
 * testutil.c - see testutil.h. Deliberately independent of leanpix's codecs: PNG files
 * written by external decoders are read with libspng directly, PNM by hand, so that a bug
 * in our decoder cannot hide a bug in our encoder.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <spng.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

const char *lpt_tmpdir(void)
{
    static char dir[4096];
    if (!dir[0]) {
        const char *env = getenv("LP_TEST_TMP");
        snprintf(dir, sizeof dir, "%s", env && *env ? env : "/tmp/leanpix-test");
        char cmd[4200];
        snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot create %s\n", dir);
    }
    return dir;
}

const char *lpt_path(const char *name)
{
    static char slots[8][4096];
    static unsigned next;
    char *p = slots[next++ % 8];
    snprintf(p, 4096, "%s/%s", lpt_tmpdir(), name);
    return p;
}

const char *lpt_bin(void)
{
    const char *bin = getenv("LP_BIN");
    return bin && *bin ? bin : "leanpix";
}

const char *lpt_shared_dir(void)
{
    static char dir[4096];
    const char *env = getenv("LP_SHARED_DIR");
    if (!env || !*env)
        return NULL;
    snprintf(dir, sizeof dir, "%s/metarefcard", env);
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return NULL;
    snprintf(dir, sizeof dir, "%s", env);
    return dir;
}

bool lpt_have_tool(const char *tool)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "command -v '%s' >/dev/null 2>&1", tool);
    return system(cmd) == 0;
}

static int exit_status(int raw)
{
    if (raw == -1)
        return -1;
    if (WIFEXITED(raw))
        return WEXITSTATUS(raw);
    return 128 + (WIFSIGNALED(raw) ? WTERMSIG(raw) : 0);
}

int lpt_run(const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    return exit_status(system(cmd));
}

int lpt_run_capture(char *buf, size_t size, const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    strncat(cmd, " 2>&1", sizeof cmd - strlen(cmd) - 1);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    size_t used = 0;
    if (size)
        buf[0] = '\0';
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, p)) > 0) {
        if (size && used < size - 1) {
            size_t take = n < size - 1 - used ? n : size - 1 - used;
            memcpy(buf + used, chunk, take);
            used += take;
            buf[used] = '\0';
        }
    }
    return exit_status(pclose(p));
}

bool lpt_file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

long long lpt_file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

uint8_t *lpt_read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *data = malloc(len > 0 ? (size_t)len : 1);
    if (data && len > 0 && fread(data, 1, (size_t)len, f) != (size_t)len) {
        free(data);
        data = NULL;
    }
    fclose(f);
    if (data)
        *size = (size_t)(len > 0 ? len : 0);
    return data;
}

void lpt_write_file(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, size, f), size);
    fclose(f);
}

int lpt_count_files(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int count = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (!strncmp(e->d_name, prefix, strlen(prefix)))
            count++;
    closedir(d);
    return count;
}

static uint32_t xorshift(uint32_t *s)
{
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

void lpt_make_photo(lp_buffer_image *img, uint32_t width, uint32_t height, lp_format format,
                    uint32_t seed)
{
    assert_int_equal(lp_buffer_image_alloc(img, width, height, format, NULL, NULL), LP_OK);
    unsigned ch = lp_format_channels(format);
    bool sixteen = lp_format_sample_bytes(format) == 2;
    bool alpha = lp_format_has_alpha(format);
    unsigned colour = alpha ? ch - 1 : ch;
    uint32_t rng = seed * 2654435761u + 12345u;
    if (!rng)
        rng = 1;
    double fx = 6.2831853 / (width > 1 ? width : 2), fy = 6.2831853 / (height > 1 ? height : 2);
    for (uint32_t y = 0; y < height; y++) {
        for (uint32_t x = 0; x < width; x++) {
            double v[4];
            double cx = x - width * 0.6, cy = y - height * 0.4;
            double r2 = (cx * cx + cy * cy) / ((double)width * width * 0.04 + 1);
            double disc = r2 < 1 ? 0.25 : 0;  /* a soft-edged disc: an edge to keep */
            for (unsigned c = 0; c < colour; c++) {
                double base = 0.5 + 0.25 * sin(x * fx * (1.0 + c * 0.7) + seed + c) *
                                        cos(y * fy * (1.3 + c * 0.4) + c * 2);
                base += 0.15 * ((double)x / (width ? width : 1)) - 0.1 * ((double)y / (height ? height : 1)) * c;
                base += disc * (c == 0 ? 1 : -0.5);
                base += ((int)(xorshift(&rng) % 17) - 8) / 255.0;  /* grain */
                v[c] = base < 0 ? 0 : base > 1 ? 1 : base;
            }
            if (alpha)
                v[colour] = 0.2 + 0.8 * ((double)(x + y) / (width + height));
            uint8_t *p = img->pixels + (size_t)y * img->stride + (size_t)x * lp_format_pixel_bytes(format);
            for (unsigned c = 0; c < ch; c++) {
                if (sixteen)
                    ((uint16_t *)p)[c] = (uint16_t)lround(v[c] * 65535);
                else
                    p[c] = (uint8_t)lround(v[c] * 255);
            }
        }
    }
}

bool lpt_read_png(const char *path, lp_buffer_image *img)
{
    memset(img, 0, sizeof *img);
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    spng_ctx *ctx = spng_ctx_new(0);
    spng_set_png_file(ctx, f);
    struct spng_ihdr ihdr;
    bool ok = false;
    if (spng_get_ihdr(ctx, &ihdr) == 0) {
        bool sixteen = ihdr.bit_depth == 16;
        int fmt = sixteen ? SPNG_FMT_RGBA16 : SPNG_FMT_RGBA8;
        size_t size;
        if (spng_decoded_image_size(ctx, fmt, &size) == 0 &&
            lp_buffer_image_alloc(img, ihdr.width, ihdr.height,
                                  sixteen ? LP_FORMAT_RGBA16 : LP_FORMAT_RGBA8, NULL, NULL) == LP_OK) {
            /* SPNG_FMT_RGBA16 is host-endian already (only SPNG_FMT_RAW is big-endian) */
            ok = spng_decode_image(ctx, img->pixels, size, fmt, SPNG_DECODE_TRNS) == 0;
        }
    }
    spng_ctx_free(ctx);
    fclose(f);
    if (!ok)
        lp_buffer_image_free(img);
    return ok;
}

static int pnm_int(FILE *f)
{
    int c, v = 0;
    do {
        c = fgetc(f);
        if (c == '#')
            while (c != '\n' && c != EOF)
                c = fgetc(f);
    } while (c == ' ' || c == '\n' || c == '\r' || c == '\t');
    while (c >= '0' && c <= '9') {
        v = v * 10 + (c - '0');
        c = fgetc(f);
    }
    return v;
}

bool lpt_read_pnm(const char *path, lp_buffer_image *img)
{
    memset(img, 0, sizeof *img);
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    char magic[3] = {0};
    bool ok = false;
    if (fread(magic, 1, 2, f) == 2) {
        int w = 0, h = 0, maxv = 0, depth = 0;
        if (magic[0] == 'P' && (magic[1] == '5' || magic[1] == '6')) {
            w = pnm_int(f);
            h = pnm_int(f);
            maxv = pnm_int(f);
            depth = magic[1] == '5' ? 1 : 3;
        } else if (magic[0] == 'P' && magic[1] == '7') {
            char word[64];
            while (fscanf(f, "%63s", word) == 1 && strcmp(word, "ENDHDR")) {
                if (!strcmp(word, "WIDTH")) w = pnm_int(f);
                else if (!strcmp(word, "HEIGHT")) h = pnm_int(f);
                else if (!strcmp(word, "DEPTH")) depth = pnm_int(f);
                else if (!strcmp(word, "MAXVAL")) maxv = pnm_int(f);
            }
            fgetc(f);
        }
        if (w > 0 && h > 0 && depth >= 1 && depth <= 4 && maxv > 0) {
            bool sixteen = maxv > 255;
            lp_format fmt = lp_format_make(depth <= 2, depth == 2 || depth == 4, sixteen);
            if (lp_buffer_image_alloc(img, (uint32_t)w, (uint32_t)h, fmt, NULL, NULL) == LP_OK) {
                size_t size = img->stride * (size_t)h;
                ok = fread(img->pixels, 1, size, f) == size;
                if (ok && sixteen) {
                    uint16_t *s = (uint16_t *)img->pixels;
                    for (size_t i = 0; i < size / 2; i++)
                        s[i] = (uint16_t)((s[i] >> 8) | (s[i] << 8));
                }
            }
        }
    }
    fclose(f);
    if (!ok)
        lp_buffer_image_free(img);
    return ok;
}

bool lpt_decode_external(const char *tool, const char *path, lp_buffer_image *img)
{
    static unsigned counter;
    char out[4200];
    int rc;
    if (!strcmp(tool, "spng"))
        return lpt_read_png(path, img);
    if (!strcmp(tool, "djpeg")) {
        snprintf(out, sizeof out, "%s/ext-%u-%d.pnm", lpt_tmpdir(), counter++, getpid());
        rc = lpt_run("djpeg -outfile '%s' '%s' 2>/dev/null", out, path);
        bool ok = rc == 0 && lpt_read_pnm(out, img);
        unlink(out);
        return ok;
    }
    snprintf(out, sizeof out, "%s/ext-%u-%d.png", lpt_tmpdir(), counter++, getpid());
    if (!strcmp(tool, "dwebp"))
        rc = lpt_run("dwebp -quiet '%s' -o '%s' 2>/dev/null", path, out);
    else if (!strcmp(tool, "avifdec"))
        rc = lpt_run("avifdec '%s' '%s' >/dev/null 2>&1", path, out);
    else if (!strcmp(tool, "heif-convert"))
        rc = lpt_run("heif-convert '%s' '%s' >/dev/null 2>&1", path, out);
    else if (!strcmp(tool, "vips"))
        rc = lpt_run("vips copy '%s' '%s' >/dev/null 2>&1", path, out);
    else
        return false;
    bool ok = rc == 0 && lpt_read_png(out, img);
    unlink(out);
    return ok;
}

lp_status lpt_decode_leanpix(const char *path, lp_buffer_image *img, lp_error *err)
{
    lp_input *in;
    lp_status st = lp_input_open_file(&in, path, LP_IO_READ, 0, err);
    if (st != LP_OK)
        return st;
    lp_stage *src;
    st = lp_source_open(&src, in, NULL, NULL, err);
    if (st != LP_OK)
        return st;
    st = lp_pipeline_to_buffer(src, img, NULL, err);
    lp_stage_destroy(src);
    return st;
}

static double sample_at(const lp_buffer_image *img, uint32_t x, uint32_t y, unsigned c)
{
    const uint8_t *p = img->pixels + (size_t)y * img->stride +
                       (size_t)x * lp_format_pixel_bytes(img->info.format);
    if (lp_format_sample_bytes(img->info.format) == 2)
        return ((const uint16_t *)p)[c] / 257.0;
    return p[c];
}

double lpt_psnr_rect(const lp_buffer_image *a, const lp_buffer_image *b, uint32_t x0, uint32_t y0,
                     uint32_t w, uint32_t h)
{
    assert_int_equal(a->info.width, b->info.width);
    assert_int_equal(a->info.height, b->info.height);
    unsigned ca = lp_format_channels(a->info.format) - lp_format_has_alpha(a->info.format);
    unsigned cb = lp_format_channels(b->info.format) - lp_format_has_alpha(b->info.format);
    double sum = 0;
    size_t n = 0;
    for (uint32_t y = y0; y < y0 + h; y++)
        for (uint32_t x = x0; x < x0 + w; x++) {
            unsigned cmax = ca > cb ? ca : cb;
            for (unsigned c = 0; c < cmax; c++) {
                double va = sample_at(a, x, y, ca == 1 ? 0 : c);
                double vb = sample_at(b, x, y, cb == 1 ? 0 : c);
                sum += (va - vb) * (va - vb);
                n++;
            }
            if (lp_format_has_alpha(a->info.format) && lp_format_has_alpha(b->info.format)) {
                double va = sample_at(a, x, y, ca), vb = sample_at(b, x, y, cb);
                sum += (va - vb) * (va - vb);
                n++;
            }
        }
    double mse = sum / (n ? n : 1);
    return mse <= 1e-10 ? 99.0 : 10.0 * log10(255.0 * 255.0 / mse);
}

double lpt_psnr(const lp_buffer_image *a, const lp_buffer_image *b)
{
    return lpt_psnr_rect(a, b, 0, 0, a->info.width, a->info.height);
}

void lpt_to_rgb8(lp_buffer_image *img, bool keep_alpha)
{
    lp_buffer_image out;
    lp_format to = keep_alpha ? LP_FORMAT_RGBA8 : LP_FORMAT_RGB8;
    assert_int_equal(lp_buffer_image_alloc(&out, img->info.width, img->info.height, to, NULL, NULL), LP_OK);
    unsigned ch = lp_format_channels(img->info.format);
    bool alpha = lp_format_has_alpha(img->info.format);
    for (uint32_t y = 0; y < img->info.height; y++)
        for (uint32_t x = 0; x < img->info.width; x++) {
            uint8_t *d = out.pixels + (size_t)y * out.stride + (size_t)x * lp_format_pixel_bytes(to);
            for (unsigned c = 0; c < 3; c++)
                d[c] = (uint8_t)lround(sample_at(img, x, y, ch <= 2 ? 0 : c));
            if (keep_alpha)
                d[3] = alpha ? (uint8_t)lround(sample_at(img, x, y, ch - 1)) : 255;
        }
    out.info.meta = img->info.meta;
    lp_buffer_image_free(img);
    *img = out;
}

void lpt_apply_orientation(const lp_buffer_image *img, int orientation, lp_buffer_image *shown)
{
    uint32_t w = img->info.width, h = img->info.height;
    bool swap = orientation >= 5 && orientation <= 8;
    size_t px = lp_format_pixel_bytes(img->info.format);
    assert_int_equal(lp_buffer_image_alloc(shown, swap ? h : w, swap ? w : h, img->info.format, NULL, NULL),
                     LP_OK);
    for (uint32_t y = 0; y < shown->info.height; y++)
        for (uint32_t x = 0; x < shown->info.width; x++) {
            uint32_t sx, sy;
            switch (orientation) {
            case 2: sx = w - 1 - x; sy = y; break;
            case 3: sx = w - 1 - x; sy = h - 1 - y; break;
            case 4: sx = x; sy = h - 1 - y; break;
            case 5: sx = y; sy = x; break;
            case 6: sx = y; sy = h - 1 - x; break;
            case 7: sx = w - 1 - y; sy = h - 1 - x; break;
            case 8: sx = w - 1 - y; sy = x; break;
            default: sx = x; sy = y; break;
            }
            memcpy(shown->pixels + (size_t)y * shown->stride + x * px,
                   img->pixels + (size_t)sy * img->stride + sx * px, px);
        }
}
