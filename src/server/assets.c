/*
 * assets.c - device images, game logos and fonts, loaded on first use and shared
 * read-only between the worker threads.
 *
 * An entry is created under the data set's asset_lock (a short critical section: a map
 * insert), then filled under the entry's own mutex, so two requests that want the same
 * image wait for one decode while requests for other images go ahead. A user holds a
 * reference while it reads the pixels; only unreferenced images can be dropped.
 *
 * Memory: a decoded 1920x1080 image is 6.2 MB and the shared data set has 43 of them, so
 * keeping every image ever used would not fit a small budget. Decoded images are counted
 * in the server's budget (asset_mem); when their total passes image_cache_cap, the least
 * recently used unreferenced ones are freed (and decoded again when next wanted). If the
 * budget refuses a decode, unused images are dropped and the decode retried once, then the
 * request gets LP_ERR_NOMEM (503). Images registered by the demo are pinned. Font files
 * are kept as bytes (~100-300 kB each, never dropped); FreeType faces are per thread
 * (text.c).
 *
 * Lock order: asset_lock before an entry's lock; no path takes asset_lock while holding an
 * entry lock.
 */
#include "server/mrc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mrc_asset {
    pthread_mutex_t lock;
    bool loaded;                 /* img holds pixels */
    bool pinned;                 /* demo images: never dropped */
    bool failed;                 /* a load failed for a reason that will not change */
    int refs;
    uint64_t last_use;
    uint64_t uses;               /* times a card wanted it (admission and eviction order) */
    lp_status status;
    char message[LP_ERROR_MESSAGE_MAX];
    lp_buffer_image img;         /* images */
    uint8_t *compact;            /* images: a 4:2:0 JPEG copy, quick to decode (or NULL) */
    size_t compact_size;
    uint8_t *bytes;              /* fonts */
    size_t size;
};

static mrc_asset *entry(const mrc_data *d, mrc_map *map, const char *key, lp_error *err)
{
    mrc_data *dm = (mrc_data *)d;  /* the asset maps are the data set's only mutable part */
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

static size_t image_bytes(const lp_buffer_image *img)
{
    return img->stride * img->info.height;
}

/* Frees a's compact copy; a's lock is held. */
static void drop_compact(mrc_data *d, mrc_asset *a)
{
    lp_mem_unreserve(d->asset_mem, a->compact_size);
    atomic_fetch_sub(&d->compact_bytes, a->compact_size);
    free(a->compact);
    a->compact = NULL;
    a->compact_size = 0;
}

/* Whether a should be dropped before b: the one fewer cards wanted, then the one used
 * longer ago. Counting uses keeps the image a burst is made of (the X-55 of fifty uploads
 * for that stick) when a one-off upload passes through, and stops an upload for fifteen
 * devices, which wants fifteen images once each, from cycling them through a cache too
 * small for them. */
static bool drop_before(uint64_t uses, uint64_t last_use, uint64_t than_uses, uint64_t than_last)
{
    return uses < than_uses || (uses == than_uses && last_use < than_last);
}

/* Frees unreferenced images, least used (then least recently used) first, until at most
 * `keep` bytes of decoded images remain. */
void mrc_assets_trim(const mrc_data *d, uint64_t keep)
{
    mrc_data *dm = (mrc_data *)d;
    pthread_mutex_lock(&dm->asset_lock);
    while (atomic_load(&dm->image_bytes) > keep) {
        mrc_asset *victim = NULL;
        uint64_t v_uses = UINT64_MAX, v_last = UINT64_MAX;  /* copied under the victim's lock */
        for (size_t i = 0; i < dm->images.cap; i++) {
            mrc_asset *a = dm->images.slots[i].key ? dm->images.slots[i].value : NULL;
            if (!a)
                continue;
            pthread_mutex_lock(&a->lock);
            if (a->loaded && !a->pinned && a->refs == 0 &&
                drop_before(a->uses, a->last_use, v_uses, v_last)) {
                victim = a;
                v_uses = a->uses;
                v_last = a->last_use;
            }
            pthread_mutex_unlock(&a->lock);
        }
        if (!victim)
            break;
        pthread_mutex_lock(&victim->lock);
        if (victim->loaded && victim->refs == 0) {
            atomic_fetch_sub(&dm->image_bytes, image_bytes(&victim->img));
            lp_buffer_image_free(&victim->img);
            victim->loaded = false;
        }
        pthread_mutex_unlock(&victim->lock);
    }
    for (size_t i = 0; keep == 0 && i < dm->images.cap; i++) {  /* pressure: compact copies too */
        mrc_asset *a = dm->images.slots[i].key ? dm->images.slots[i].value : NULL;
        if (!a)
            continue;
        pthread_mutex_lock(&a->lock);
        if (a->compact && a->refs == 0)
            drop_compact(dm, a);
        pthread_mutex_unlock(&a->lock);
    }
    pthread_mutex_unlock(&dm->asset_lock);
}

lp_status mrc_reserve_or_trim(const mrc_data *d, lp_mem *mem, uint64_t bytes, const char *what,
                              lp_error *err)
{
    if (lp_mem_reserve(mem, bytes, what, err) == LP_OK)
        return LP_OK;
    mrc_assets_trim(d, 0);
    lp_error_clear(err);
    return lp_mem_reserve(mem, bytes, what, err);
}

static lp_status load_image(const mrc_data *d, mrc_asset *a, const char *kind, const char *name,
                            lp_error *err)
{
    if (!d->root)
        return lp_error_set(err, LP_ERR_IO, "no image %s/%s in the demo data set", kind, name);
    char path[4096];
    const char *dir = strcmp(kind, "logo") == 0 ? d->logos_dir : d->images_dir;
    snprintf(path, sizeof path, "%s/%s/%s.jpg", d->root, dir, name);
    lp_error e = {0};
    lp_status st = decode_file(path, d->asset_mem, &a->img, &e);
    if (st)
        return lp_error_set(err, st, "image %s/%s: %s", kind, name, lp_error_message(&e));
    a->loaded = true;
    atomic_fetch_add(&((mrc_data *)d)->image_bytes, image_bytes(&a->img));
    atomic_fetch_add(&((mrc_data *)d)->image_decodes, 1);
    return LP_OK;
}

lp_status mrc_asset_image(const mrc_data *d, const char *kind, const char *name,
                          const lp_buffer_image **img, mrc_asset **ref, lp_error *err)
{
    char key[512];
    snprintf(key, sizeof key, "%s/%s", kind, name);
    mrc_asset *a = entry(d, (mrc_map *)&d->images, key, err);
    if (!a)
        return LP_ERR_NOMEM;
    lp_status st = LP_OK;
    for (int attempt = 0; attempt < 2; attempt++) {
        pthread_mutex_lock(&a->lock);
        if (a->failed) {
            st = lp_error_set(err, a->status, "%s", a->message);
        } else if (!a->loaded) {
            lp_error e = {0};
            st = load_image(d, a, kind, name, &e);
            if (st && st != LP_ERR_NOMEM) {  /* missing or broken file: remember */
                a->failed = true;
                a->status = st;
                snprintf(a->message, sizeof a->message, "%s", lp_error_message(&e));
            }
            if (st)
                lp_error_set(err, st, "%s", lp_error_message(&e));
        }
        if (!st) {
            a->refs++;
            a->uses++;
            a->last_use = atomic_fetch_add(&((mrc_data *)d)->image_clock, 1) + 1;
        }
        pthread_mutex_unlock(&a->lock);
        if (st != LP_ERR_NOMEM || attempt == 1)
            break;
        mrc_assets_trim(d, 0);  /* the budget refused: drop every unused image, retry once */
        lp_error_clear(err);
        st = LP_OK;
    }
    if (st)
        return st;
    *img = &a->img;
    *ref = a;
    return LP_OK;
}

void mrc_asset_release(const mrc_data *d, mrc_asset *a)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->lock);
    a->refs--;
    pthread_mutex_unlock(&a->lock);
    if (d->image_cache_cap && atomic_load(&((mrc_data *)d)->image_bytes) > d->image_cache_cap)
        mrc_assets_trim(d, d->image_cache_cap);
}

/* Makes canvas an RGB8 image of width x height, reusing it when it already is one. */
static lp_status fit_canvas(lp_buffer_image *canvas, uint32_t width, uint32_t height, lp_mem *mem,
                            lp_error *err)
{
    if (canvas->pixels && canvas->info.format == LP_FORMAT_RGB8 && canvas->info.width == width &&
        canvas->info.height == height)
        return LP_OK;
    if (canvas->pixels)
        lp_buffer_image_free(canvas);
    return lp_buffer_image_alloc(canvas, width, height, LP_FORMAT_RGB8, mem, err);
}

static void copy_rows(lp_buffer_image *dst, uint32_t y0, const uint8_t *src, size_t stride,
                      uint32_t rows, bool gray)
{
    uint32_t w = dst->info.width;
    for (uint32_t r = 0; r < rows; r++) {
        uint8_t *d = dst->pixels + (size_t)(y0 + r) * dst->stride;
        const uint8_t *s = src + (size_t)r * stride;
        if (!gray) {
            memcpy(d, s, (size_t)w * 3);
            continue;
        }
        for (uint32_t x = 0; x < w; x++)
            memset(d + (size_t)x * 3, s[x], 3);
    }
}

/* Decodes the file at path, or the bytes data[0..size), strip by strip straight into canvas
 * (RGB8; gray is expanded). */
static lp_status decode_into(const char *path, const uint8_t *data, size_t size,
                             lp_buffer_image *canvas, lp_mem *mem, lp_error *err)
{
    lp_input *in;
    lp_stage *src;
    lp_limits limits;
    lp_limits_default(&limits);
    limits.max_pixels = 64u << 20;
    lp_status st = path ? lp_input_open_file(&in, path, LP_IO_READ, 64u << 20, err)
                        : lp_input_open_memory(&in, data, size, err);
    if (st)
        return st;
    st = lp_source_open(&src, in, &limits, mem, err);
    if (st)
        return st;
    lp_format f = src->info.format;
    if (f != LP_FORMAT_RGB8 && f != LP_FORMAT_G8)
        st = lp_error_set(err, LP_ERR_UNSUPPORTED, "image is %s, expected RGB8", lp_format_name(f));
    if (!st)
        st = fit_canvas(canvas, src->info.width, src->info.height, mem, err);
    for (;;) {
        lp_strip strip;
        if (st || (st = lp_stage_next(src, &strip, err)) != LP_OK || strip.rows == 0)
            break;
        if (strip.y + strip.rows > canvas->info.height) {
            st = lp_error_set(err, LP_ERR_INTERNAL, "decoder yielded rows past the image");
            break;
        }
        copy_rows(canvas, strip.y, strip.data, strip.stride, strip.rows, f == LP_FORMAT_G8);
    }
    lp_stage_destroy(src);
    return st;
}

/* A freshly decoded image earns a place in the cache when it fits beside the cached ones,
 * or when it is wanted more often than the one it would push out (see drop_before). */
static bool admit(const mrc_data *d, const mrc_asset *a, uint64_t uses, uint64_t bytes)
{
    mrc_data *dm = (mrc_data *)d;
    if (!d->image_cache_cap || atomic_load(&dm->image_bytes) + bytes <= d->image_cache_cap)
        return true;
    if (bytes > d->image_cache_cap)
        return false;
    bool better = false;
    pthread_mutex_lock(&dm->asset_lock);
    for (size_t i = 0; !better && i < dm->images.cap; i++) {
        mrc_asset *b = dm->images.slots[i].key ? dm->images.slots[i].value : NULL;
        if (!b || b == a)
            continue;
        pthread_mutex_lock(&b->lock);
        better = b->loaded && !b->pinned && b->refs == 0 && b->uses < uses;
        pthread_mutex_unlock(&b->lock);
    }
    pthread_mutex_unlock(&dm->asset_lock);
    return better;
}

/* Keeps a copy of the decoded canvas as a's image if the cache takes it (best effort:
 * a budget that refuses just means no copy). */
static void maybe_keep(const mrc_data *d, mrc_asset *a, uint64_t uses, const lp_buffer_image *canvas)
{
    uint64_t bytes = (uint64_t)canvas->stride * canvas->info.height;
    if (!admit(d, a, uses, bytes))
        return;
    lp_buffer_image copy;
    if (lp_buffer_image_alloc(&copy, canvas->info.width, canvas->info.height, LP_FORMAT_RGB8,
                              d->asset_mem, NULL) != LP_OK)
        return;
    for (uint32_t y = 0; y < copy.info.height; y++)
        memcpy(copy.pixels + (size_t)y * copy.stride, canvas->pixels + (size_t)y * canvas->stride,
               (size_t)copy.info.width * 3);
    pthread_mutex_lock(&a->lock);
    bool kept = !a->loaded;
    if (kept) {
        a->img = copy;
        a->loaded = true;
        a->last_use = atomic_fetch_add(&((mrc_data *)d)->image_clock, 1) + 1;
        atomic_fetch_add(&((mrc_data *)d)->image_bytes, bytes);
    }
    pthread_mutex_unlock(&a->lock);
    if (!kept)
        lp_buffer_image_free(&copy);
    else if (d->image_cache_cap && atomic_load(&((mrc_data *)d)->image_bytes) > d->image_cache_cap)
        mrc_assets_trim(d, d->image_cache_cap);
}

/* The device images are baseline 4:4:4 JPEGs at quality 100 (~0.5 MB): decoding one takes
 * ~5.4 ms, most of it Huffman decoding of large coefficients and IDCT of three full
 * planes. Cards are encoded at 4:2:0 anyway, so a copy re-encoded once at 4:2:0 quality 95
 * (~270 kB) decodes in ~3 ms; the cards' whole-card luma SSIM against the original's drops
 * by at most 0.002 (0.9874-0.9942 instead of 0.9885-0.9947 on the test bindings; the label
 * boxes do not change). These copies are small enough that every
 * image of a fifteen-device upload fits under the cache's cap where one decoded image would. */
#define COMPACT_QUALITY 95

static void make_compact(const mrc_data *d, mrc_asset *a, const lp_buffer_image *canvas,
                         lp_mem *mem)
{
    mrc_data *dm = (mrc_data *)d;
    if (d->image_cache_cap && atomic_load(&dm->compact_bytes) >= d->image_cache_cap)
        return;
    lp_output *out = NULL;
    lp_sink *sink = NULL;
    lp_stage *src = NULL;
    lp_encode_options o;
    lp_encode_options_default(&o, LP_FILE_JPEG);
    o.quality = COMPACT_QUALITY;
    o.strip_metadata = true;
    uint8_t *bytes = NULL;
    size_t size = 0;
    lp_status st = lp_output_open_memory(&out, mem, NULL);
    if (!st)
        st = lp_jpeg_sink_new(&sink, out, &o, mem, NULL);
    if (!st)
        st = lp_buffer_source_new(&src, canvas, 16, NULL);
    if (!st)
        st = lp_pipeline_run(src, sink, NULL, NULL, NULL);
    if (!st)
        bytes = lp_output_take(out, &size);
    lp_stage_destroy(src);
    lp_sink_destroy(sink);
    lp_output_close(out);
    if (!bytes)
        return;
    if (lp_mem_reserve(d->asset_mem, size, "compact device image", NULL) != LP_OK) {
        free(bytes);
        return;
    }
    pthread_mutex_lock(&a->lock);
    bool kept = !a->compact;
    if (kept) {
        a->compact = bytes;
        a->compact_size = size;
        atomic_fetch_add(&dm->compact_bytes, size);
    }
    pthread_mutex_unlock(&a->lock);
    if (!kept) {
        lp_mem_unreserve(d->asset_mem, size);
        free(bytes);
    }
}

lp_status mrc_asset_image_into(const mrc_data *d, const char *kind, const char *name,
                               lp_buffer_image *canvas, lp_mem *mem, lp_error *err)
{
    char key[512];
    snprintf(key, sizeof key, "%s/%s", kind, name);
    mrc_asset *a = entry(d, (mrc_map *)&d->images, key, err);
    if (!a)
        return LP_ERR_NOMEM;
    pthread_mutex_lock(&a->lock);
    a->uses++;
    uint64_t uses = a->uses;
    bool failed = a->failed, cached = a->loaded;
    const uint8_t *compact = cached ? NULL : a->compact;
    size_t compact_size = a->compact_size;
    if (failed)
        lp_error_set(err, a->status, "%s", a->message);
    if (cached || compact) {  /* the reference keeps the pixels or the copy from trims */
        a->refs++;
        a->last_use = atomic_fetch_add(&((mrc_data *)d)->image_clock, 1) + 1;
    }
    pthread_mutex_unlock(&a->lock);
    if (failed)
        return err ? err->status : LP_ERR_IO;
    if (cached) {
        lp_status st = fit_canvas(canvas, a->img.info.width, a->img.info.height, mem, err);
        if (!st)
            copy_rows(canvas, 0, a->img.pixels, a->img.stride, a->img.info.height, false);
        mrc_asset_release(d, a);
        return st;
    }
    lp_error e = {0};
    lp_status st;
    if (compact) {
        st = decode_into(NULL, compact, compact_size, canvas, mem, &e);
        mrc_asset_release(d, a);
        if (st)
            return lp_error_set(err, st, "image %s/%s (copy): %s", kind, name, lp_error_message(&e));
        maybe_keep(d, a, uses, canvas);
        return LP_OK;
    }
    if (!d->root)
        return lp_error_set(err, LP_ERR_IO, "no image %s/%s in the demo data set", kind, name);
    char path[4096];
    const char *dir = strcmp(kind, "logo") == 0 ? d->logos_dir : d->images_dir;
    snprintf(path, sizeof path, "%s/%s/%s.jpg", d->root, dir, name);
    st = decode_into(path, NULL, 0, canvas, mem, &e);
    if (st) {
        if (st != LP_ERR_NOMEM) {  /* missing or broken file: remember */
            pthread_mutex_lock(&a->lock);
            a->failed = true;
            a->status = st;
            snprintf(a->message, sizeof a->message, "image %s/%s: %s", kind, name,
                     lp_error_message(&e));
            pthread_mutex_unlock(&a->lock);
        }
        return lp_error_set(err, st, "image %s/%s: %s", kind, name, lp_error_message(&e));
    }
    make_compact(d, a, canvas, mem);
    atomic_fetch_add(&((mrc_data *)d)->image_decodes, 1);
    maybe_keep(d, a, uses, canvas);
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

static lp_status load_font(const mrc_data *d, mrc_asset *a, const char *file, lp_error *err)
{
    if (!d->root)
        return lp_error_set(err, LP_ERR_IO, "font %s is not in the demo data set", file);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s/%s", d->root, d->fonts_dir, file);
    lp_error e = {0};
    if (read_font(path, &a->bytes, &a->size, &e) == LP_OK)
        return LP_OK;
    /* the original's watermark font has no open licence and is not shipped: fall back to
     * Source Sans Pro, an open font of similar proportions */
    snprintf(path, sizeof path, "%s/%s/SourceSansPro-Regular.ttf", d->root, d->fonts_dir);
    lp_error_clear(&e);
    lp_status st = read_font(path, &a->bytes, &a->size, &e);
    return st ? lp_error_set(err, st, "font %s: %s", file, lp_error_message(&e)) : LP_OK;
}

lp_status mrc_asset_font(const mrc_data *d, const char *file, const uint8_t **bytes,
                         size_t *size, lp_error *err)
{
    mrc_asset *a = entry(d, (mrc_map *)&d->fonts, file, err);
    if (!a)
        return LP_ERR_NOMEM;
    pthread_mutex_lock(&a->lock);
    if (!a->loaded && !a->failed) {
        lp_error e = {0};
        a->status = load_font(d, a, file, &e);
        a->loaded = a->status == LP_OK;
        a->failed = !a->loaded;
        snprintf(a->message, sizeof a->message, "%s", lp_error_message(&e));
    }
    lp_status st = a->status;
    *bytes = a->bytes;
    *size = a->size;
    pthread_mutex_unlock(&a->lock);
    return st ? lp_error_set(err, st, "%s", a->message) : LP_OK;
}

lp_status mrc_asset_add_image(mrc_data *d, const char *kind, const char *name,
                              lp_buffer_image *img, lp_error *err)
{
    char key[512];
    snprintf(key, sizeof key, "%s/%s", kind, name);
    mrc_asset *a = entry(d, &d->images, key, err);
    if (!a) {
        lp_buffer_image_free(img);
        return LP_ERR_NOMEM;
    }
    a->img = *img;
    a->loaded = a->pinned = true;
    atomic_fetch_add(&d->image_bytes, image_bytes(img));
    memset(img, 0, sizeof *img);
    return LP_OK;
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
    a->loaded = true;
    return LP_OK;
}

static void free_asset(void *p)
{
    mrc_asset *a = p;
    if (!a)
        return;
    if (a->img.pixels)
        lp_buffer_image_free(&a->img);
    free(a->bytes);
    free(a->compact);  /* NULL: mrc_assets_free dropped it */
    pthread_mutex_destroy(&a->lock);
    free(a);
}

void mrc_assets_free(mrc_data *d)
{
    for (size_t i = 0; i < d->images.cap; i++) {  /* uncharge the compact copies */
        mrc_asset *a = d->images.slots[i].key ? d->images.slots[i].value : NULL;
        if (a && a->compact)
            drop_compact(d, a);
    }
    mrc_map_free(&d->images, free_asset);
    mrc_map_free(&d->fonts, free_asset);
}
