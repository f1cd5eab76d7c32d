/*
 * assets.c - device images, game logos and fonts, loaded once and shared read-only.
 *
 * An entry is created under the data set's asset_lock (a short critical section: a map
 * insert), then filled under the entry's own mutex, so two requests that want the same
 * image wait for one decode while requests for other images go ahead. Once `ready` is set
 * (with release ordering) the pixels never change and are read without locks.
 *
 * Memory: each decoded image stays resident for the server's lifetime (1920x1080 RGB8 is
 * 6.2 MB; the shared data set has 43 device images, only the ones asked for are decoded)
 * and is counted in the data set's asset_mem, so the server's budget sees it. Font files
 * are kept as bytes (~100-300 kB each); FreeType faces are per thread (text.c).
 */
#include "server/mrc.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct mrc_asset {
    pthread_mutex_t lock;
    atomic_bool ready;
    lp_status status;            /* a failed load is remembered, not retried */
    char message[LP_ERROR_MESSAGE_MAX];
    lp_buffer_image img;         /* images */
    uint8_t *bytes;              /* fonts */
    size_t size;
} mrc_asset;

static mrc_asset *entry(const mrc_data *d, mrc_map *map, const char *key, lp_error *err)
{
    mrc_data *dm = (mrc_data *)d;  /* the maps of entries are the data set's only mutable part */
    pthread_mutex_lock(&dm->asset_lock);
    mrc_asset *a = mrc_map_get(map, key);
    if (!a) {
        bool fail = false;
        a = calloc(1, sizeof *a);
        if (a) {
            pthread_mutex_init(&a->lock, NULL);
            mrc_map_put(map, key, a, &fail);
            if (fail) {
                pthread_mutex_destroy(&a->lock);
                free(a);
                a = NULL;
            }
        }
    }
    pthread_mutex_unlock(&dm->asset_lock);
    if (!a)
        lp_error_set(err, LP_ERR_NOMEM, "out of memory for the asset cache");
    return a;
}

static lp_status gray_to_rgb(lp_buffer_image *img, lp_mem *mem, lp_error *err)
{
    lp_buffer_image rgb;
    lp_status st = lp_buffer_image_alloc(&rgb, img->info.width, img->info.height, LP_FORMAT_RGB8,
                                         mem, err);
    if (st)
        return st;
    unsigned px = lp_format_pixel_bytes(img->info.format);
    for (uint32_t y = 0; y < img->info.height; y++)
        for (uint32_t x = 0; x < img->info.width; x++) {
            uint8_t v = img->pixels[y * img->stride + x * px];
            memset(rgb.pixels + y * rgb.stride + x * 3, v, 3);
        }
    lp_buffer_image_free(img);
    *img = rgb;
    return LP_OK;
}

static lp_status decode_file(const char *path, lp_mem *mem, lp_buffer_image *img, lp_error *err)
{
    lp_input *in;
    lp_stage *src;
    lp_limits limits;
    lp_limits_default(&limits);
    limits.max_pixels = 64u << 20;  /* device images are ~2 MP; refuse absurd files */
    lp_status st = lp_input_open_file(&in, path, LP_IO_READ, 64u << 20, err);
    if (st)
        return st;
    st = lp_source_open(&src, in, &limits, mem, err);
    if (st)
        return st;
    st = lp_pipeline_to_buffer(src, img, mem, err);
    lp_stage_destroy(src);
    if (st)
        return st;
    if (img->info.format == LP_FORMAT_RGB8)
        return LP_OK;
    if (img->info.format == LP_FORMAT_G8)
        return gray_to_rgb(img, mem, err);
    lp_buffer_image_free(img);
    return lp_error_set(err, LP_ERR_UNSUPPORTED, "image is %s, expected RGB8",
                        lp_format_name(img->info.format));
}

static lp_status finish(mrc_asset *a, lp_status st, const lp_error *e, lp_error *err)
{
    a->status = st;
    if (st)
        snprintf(a->message, sizeof a->message, "%s", lp_error_message(e));
    atomic_store_explicit(&a->ready, true, memory_order_release);
    return st ? lp_error_set(err, st, "%s", a->message) : LP_OK;
}

lp_status mrc_asset_image(const mrc_data *d, const char *kind, const char *name,
                          const lp_buffer_image **img, lp_error *err)
{
    char key[512];
    snprintf(key, sizeof key, "%s/%s", kind, name);
    mrc_asset *a = entry(d, (mrc_map *)&d->images, key, err);
    if (!a)
        return LP_ERR_NOMEM;
    if (!atomic_load_explicit(&a->ready, memory_order_acquire)) {
        pthread_mutex_lock(&a->lock);
        if (!atomic_load_explicit(&a->ready, memory_order_relaxed)) {
            lp_error e = {0};
            lp_status st;
            if (!d->root) {
                st = lp_error_set(&e, LP_ERR_IO, "no image %s in the demo data set", key);
            } else {
                char path[4096];
                const char *dir = strcmp(kind, "logo") == 0 ? d->logos_dir : d->images_dir;
                snprintf(path, sizeof path, "%s/%s/%s.jpg", d->root, dir, name);
                st = decode_file(path, d->asset_mem, &a->img, &e);
                if (st) {
                    lp_error e2 = {0};
                    lp_error_set(&e2, st, "image %s: %s", key, lp_error_message(&e));
                    e = e2;
                }
            }
            finish(a, st, &e, NULL);
        }
        pthread_mutex_unlock(&a->lock);
    }
    if (a->status)
        return lp_error_set(err, a->status, "%s", a->message);
    *img = &a->img;
    return LP_OK;
}

static lp_status read_font(const char *path, uint8_t **bytes, size_t *size, lp_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return lp_error_set(err, LP_ERR_IO, "cannot open font");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (n <= 0 || n > (32l << 20)) {
        fclose(f);
        return lp_error_set(err, LP_ERR_LIMITS, "font file size %ld is out of range", n);
    }
    *bytes = malloc((size_t)n);
    if (!*bytes || fread(*bytes, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        free(*bytes);
        *bytes = NULL;
        return lp_error_set(err, LP_ERR_IO, "cannot read font");
    }
    fclose(f);
    *size = (size_t)n;
    return LP_OK;
}

lp_status mrc_asset_font(const mrc_data *d, const char *file, const uint8_t **bytes,
                         size_t *size, lp_error *err)
{
    mrc_asset *a = entry(d, (mrc_map *)&d->fonts, file, err);
    if (!a)
        return LP_ERR_NOMEM;
    if (!atomic_load_explicit(&a->ready, memory_order_acquire)) {
        pthread_mutex_lock(&a->lock);
        if (!atomic_load_explicit(&a->ready, memory_order_relaxed)) {
            lp_error e = {0};
            lp_status st = LP_ERR_IO;
            if (d->root) {
                char path[4096];
                snprintf(path, sizeof path, "%s/%s/%s", d->root, d->fonts_dir, file);
                st = read_font(path, &a->bytes, &a->size, &e);
                if (st) {
                    /* the original's watermark font has no open licence and is not shipped:
                     * fall back to Source Sans Pro, an open font of similar weight */
                    lp_error_clear(&e);
                    snprintf(path, sizeof path, "%s/%s/SourceSansPro-Regular.ttf", d->root, d->fonts_dir);
                    st = read_font(path, &a->bytes, &a->size, &e);
                }
            } else {
                lp_error_set(&e, LP_ERR_IO, "font %s is not in the demo data set", file);
            }
            if (st) {
                lp_error e2 = {0};
                lp_error_set(&e2, st, "font %s: %s", file, lp_error_message(&e));
                e = e2;
            }
            finish(a, st, &e, NULL);
        }
        pthread_mutex_unlock(&a->lock);
    }
    if (a->status)
        return lp_error_set(err, a->status, "%s", a->message);
    *bytes = a->bytes;
    *size = a->size;
    return LP_OK;
}

lp_status mrc_asset_add_image(mrc_data *d, const char *kind, const char *name,
                              lp_buffer_image *img, lp_error *err)
{
    char key[512];
    snprintf(key, sizeof key, "%s/%s", kind, name);
    mrc_asset *a = entry(d, &d->images, key, err);
    if (!a)
        return LP_ERR_NOMEM;
    a->img = *img;
    memset(img, 0, sizeof *img);
    return finish(a, LP_OK, NULL, err);
}

lp_status mrc_asset_add_font(mrc_data *d, const char *file, uint8_t *bytes, size_t size,
                             lp_error *err)
{
    mrc_asset *a = entry(d, &d->fonts, file, err);
    if (!a) {
        free(bytes);
        return LP_ERR_NOMEM;
    }
    a->bytes = bytes;
    a->size = size;
    return finish(a, LP_OK, NULL, err);
}

static void free_asset(void *p)
{
    mrc_asset *a = p;
    if (!a)
        return;
    if (a->img.pixels)
        lp_buffer_image_free(&a->img);
    free(a->bytes);
    pthread_mutex_destroy(&a->lock);
    free(a);
}

void mrc_assets_free(mrc_data *d)
{
    mrc_map_free(&d->images, free_asset);
    mrc_map_free(&d->fonts, free_asset);
}
