/*
 * text.c - measuring and drawing text with FreeType (rasteriser) and HarfBuzz (shaping).
 *
 * Widths follow the original's rule: the sum of unhinted advances (with kerning) at a
 * pixel size equal to the font size, rounded to whole pixels at the end. Glyphs are
 * rendered unhinted as 8-bit coverage at their subpixel pen position (FT_Set_Transform
 * shifts the outline by the fraction) and alpha-blended onto the RGB8 canvas.
 *
 * Threads: FreeType faces are not thread-safe, so each worker owns an mrc_text with its own
 * FT_Library and faces; the font files' bytes are shared read-only (assets.c), so a face
 * costs only FreeType's small per-face state. Memory: a few faces per thread (~100 kB) and
 * a glyph cache of at most ~1 MB of bitmaps per thread (malloc'd, not counted: small and
 * bounded).
 */
#include "server/mrc.h"

#include <ft2build.h>
#include FT_FREETYPE_H
#include <hb-ft.h>
#include <hb.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MRC_TEXT_FACES 8

/* Rendered glyphs, per worker, keyed by everything that shapes the bitmap (face, pixel
 * size, glyph, the pen's 1/64-pixel fraction in x and y), so a cached glyph is the very
 * bitmap FreeType would render again: cards repeat the same action names at the same
 * sizes, and rendering outlines was ~14% of a card's CPU. Open addressing; when the table
 * is half full or its bitmaps pass GLYPH_CACHE_BYTES it is emptied (no per-entry LRU: a
 * refill costs a few milliseconds). */
#define GLYPH_SLOTS 4096
#define GLYPH_CACHE_BYTES (1u << 20)

typedef struct glyph_entry {
    const uint8_t *font;  /* NULL = empty slot */
    int size;
    unsigned glyph, dx, dy;
    int left, top;
    unsigned width, rows;
    uint8_t *bits;        /* width x rows coverage, malloc'd */
} glyph_entry;

struct mrc_text {
    FT_Library lib;
    struct {
        const uint8_t *bytes;  /* identity of the font (shared asset) */
        FT_Face face;
        hb_font_t *hb;
        int size;
    } faces[MRC_TEXT_FACES];
    hb_buffer_t *buf;
    glyph_entry *glyphs;  /* GLYPH_SLOTS entries, or NULL (no cache: render every time) */
    size_t glyph_count, glyph_bytes;
};

static void glyphs_clear(mrc_text *t)
{
    for (size_t i = 0; t->glyphs && i < GLYPH_SLOTS; i++) {
        free(t->glyphs[i].bits);
        t->glyphs[i] = (glyph_entry){0};
    }
    t->glyph_count = t->glyph_bytes = 0;
}

void mrc_text_init(void)
{
    /* HarfBuzz makes its default language (which hb_buffer_guess_segment_properties asks
     * for) on first use and publishes it with its own atomics, which ThreadSanitizer
     * cannot see in the uninstrumented library: made here, on one thread, it is there
     * before two workers shape their first text at once. */
    (void)hb_language_get_default();
}

mrc_text *mrc_text_new(void)
{
    mrc_text *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->glyphs = calloc(GLYPH_SLOTS, sizeof *t->glyphs);  /* optional: a speed-up only */
    if (FT_Init_FreeType(&t->lib) || !(t->buf = hb_buffer_create()) ||
        !hb_buffer_allocation_successful(t->buf)) {
        mrc_text_free(t);
        return NULL;
    }
    return t;
}

void mrc_text_free(mrc_text *t)
{
    if (!t)
        return;
    for (int i = 0; i < MRC_TEXT_FACES; i++) {
        if (t->faces[i].hb)
            hb_font_destroy(t->faces[i].hb);
        if (t->faces[i].face)
            FT_Done_Face(t->faces[i].face);
    }
    glyphs_clear(t);
    free(t->glyphs);
    if (t->buf)
        hb_buffer_destroy(t->buf);
    if (t->lib)
        FT_Done_FreeType(t->lib);
    free(t);
}

static lp_status get_face(mrc_text *t, const mrc_data *d, const char *font, int size, int *slot,
                          lp_error *err)
{
    const uint8_t *bytes;
    size_t len;
    lp_status st = mrc_asset_font(d, font, &bytes, &len, err);
    if (st)
        return st;
    int i = 0;
    while (i < MRC_TEXT_FACES && t->faces[i].bytes && t->faces[i].bytes != bytes)
        i++;
    if (i == MRC_TEXT_FACES)
        return lp_error_set(err, LP_ERR_INTERNAL, "too many fonts in one renderer");
    if (!t->faces[i].bytes) {
        if (FT_New_Memory_Face(t->lib, bytes, (FT_Long)len, 0, &t->faces[i].face))
            return lp_error_set(err, LP_ERR_CORRUPT, "font %s cannot be read by FreeType", font);
        t->faces[i].hb = hb_ft_font_create_referenced(t->faces[i].face);
        hb_ft_font_set_load_flags(t->faces[i].hb, FT_LOAD_NO_HINTING);
        t->faces[i].bytes = bytes;
        t->faces[i].size = 0;
    }
    if (t->faces[i].size != size) {
        if (FT_Set_Pixel_Sizes(t->faces[i].face, 0, (FT_UInt)size))
            return lp_error_set(err, LP_ERR_CODEC, "font %s: size %d refused", font, size);
        hb_ft_font_changed(t->faces[i].hb);
        t->faces[i].size = size;
    }
    *slot = i;
    return LP_OK;
}

/* The original's rasteriser (golang/freetype) reads only the legacy 'kern' table, which
 * these fonts do not have, and maps characters one to one: so GPOS kerning and ligatures
 * are switched off, or every row would come out narrower than the original's and the
 * font-size search would pick different sizes. */
static void shape(mrc_text *t, int slot, const char *text)
{
    static const hb_feature_t features[] = {
        {HB_TAG('k', 'e', 'r', 'n'), 0, HB_FEATURE_GLOBAL_START, HB_FEATURE_GLOBAL_END},
        {HB_TAG('l', 'i', 'g', 'a'), 0, HB_FEATURE_GLOBAL_START, HB_FEATURE_GLOBAL_END},
        {HB_TAG('c', 'l', 'i', 'g'), 0, HB_FEATURE_GLOBAL_START, HB_FEATURE_GLOBAL_END},
        {HB_TAG('c', 'a', 'l', 't'), 0, HB_FEATURE_GLOBAL_START, HB_FEATURE_GLOBAL_END},
    };
    hb_buffer_clear_contents(t->buf);
    hb_buffer_add_utf8(t->buf, text, -1, 0, -1);
    hb_buffer_guess_segment_properties(t->buf);
    hb_shape(t->faces[slot].hb, t->buf, features, sizeof features / sizeof features[0]);
}

/* The face for (font, size), with text shaped into t->buf: what measuring and drawing
 * both start from. */
static lp_status shape_with_face(mrc_text *t, const mrc_data *d, const char *font, int size,
                                 const char *text, int *slot, lp_error *err)
{
    lp_status st = get_face(t, d, font, size < 1 ? 1 : size, slot, err);
    if (st == LP_OK)
        shape(t, *slot, text);
    return st;
}

lp_status mrc_text_measure(mrc_text *t, const mrc_data *d, const char *font, int size,
                           const char *text, int *width, lp_error *err)
{
    int slot;
    lp_status st = shape_with_face(t, d, font, size, text, &slot, err);
    if (st)
        return st;
    unsigned n;
    hb_glyph_position_t *pos = hb_buffer_get_glyph_positions(t->buf, &n);
    long sum = 0;
    for (unsigned i = 0; i < n; i++)
        sum += pos[i].x_advance;
    *width = (int)((sum + 32) >> 6);
    return LP_OK;
}

static void blend_bitmap(lp_buffer_image *img, const uint8_t *bits, unsigned width,
                         unsigned rows, long pitch, int left, int top, mrc_rgba c)
{
    for (unsigned row = 0; row < rows; row++) {
        int y = top + (int)row;
        if (y < 0 || (uint32_t)y >= img->info.height)
            continue;
        const uint8_t *src = bits + (long)row * pitch;
        uint8_t *dst = img->pixels + (size_t)y * img->stride;
        for (unsigned col = 0; col < width; col++) {
            int x = left + (int)col;
            if (x < 0 || (uint32_t)x >= img->info.width || !src[col])
                continue;
            unsigned a = src[col] * c.a / 255;
            uint8_t *p = dst + (size_t)x * 3;
            p[0] = (uint8_t)((c.r * a + p[0] * (255 - a) + 127) / 255);
            p[1] = (uint8_t)((c.g * a + p[1] * (255 - a) + 127) / 255);
            p[2] = (uint8_t)((c.b * a + p[2] * (255 - a) + 127) / 255);
        }
    }
}

static size_t glyph_hash(const uint8_t *font, int size, unsigned glyph, unsigned dx, unsigned dy)
{
    uint64_t h = (uint64_t)(uintptr_t)font * 0x9E3779B97F4A7C15ull;
    h ^= ((uint64_t)glyph << 20) ^ ((uint64_t)size << 12) ^ (dx << 6) ^ dy;
    h *= 0xBF58476D1CE4E5B9ull;
    return (size_t)(h >> 40) % GLYPH_SLOTS;
}

/* The cached glyph for the key, or the empty slot where it belongs (font == NULL), or NULL
 * when there is no cache. */
static glyph_entry *glyph_find(mrc_text *t, const uint8_t *font, int size, unsigned glyph,
                               unsigned dx, unsigned dy)
{
    if (!t->glyphs)
        return NULL;
    for (size_t i = glyph_hash(font, size, glyph, dx, dy);; i = (i + 1) % GLYPH_SLOTS) {
        glyph_entry *e = &t->glyphs[i];
        if (!e->font || (e->font == font && e->size == size && e->glyph == glyph && e->dx == dx &&
                         e->dy == dy))
            return e;
    }
}

/* Copies FreeType's rendered glyph into the empty slot e (best effort). */
static void glyph_store(mrc_text *t, glyph_entry *e, const uint8_t *font, int size,
                        unsigned glyph, unsigned dx, unsigned dy, const FT_GlyphSlot g)
{
    size_t bytes = (size_t)g->bitmap.width * g->bitmap.rows;
    uint8_t *bits = malloc(bytes ? bytes : 1);
    if (!bits)
        return;
    for (unsigned r = 0; r < g->bitmap.rows; r++)
        memcpy(bits + (size_t)r * g->bitmap.width, g->bitmap.buffer + (long)r * g->bitmap.pitch,
               g->bitmap.width);
    *e = (glyph_entry){font, size, glyph, dx, dy, g->bitmap_left, g->bitmap_top,
                       g->bitmap.width, g->bitmap.rows, bits};
    t->glyph_count++;
    t->glyph_bytes += bytes;
}

lp_status mrc_text_draw(mrc_text *t, const mrc_data *d, const char *font, int size,
                        const char *text, double x, double baseline, mrc_rgba colour,
                        lp_buffer_image *img, lp_error *err)
{
    if (size < 1)
        size = 1;  /* also the glyph cache's key below */
    int slot;
    lp_status st = shape_with_face(t, d, font, size, text, &slot, err);
    if (st)
        return st;
    unsigned n;
    hb_glyph_info_t *info = hb_buffer_get_glyph_infos(t->buf, &n);
    hb_glyph_position_t *pos = hb_buffer_get_glyph_positions(t->buf, &n);
    FT_Face face = t->faces[slot].face;
    long pen_x = lround(x * 64), pen_y = lround(baseline * 64);
    const uint8_t *font_id = t->faces[slot].bytes;
    bool transformed = false;
    for (unsigned i = 0; i < n; i++) {
        long gx = pen_x + pos[i].x_offset, gy = pen_y - pos[i].y_offset;
        unsigned dx = (unsigned)(gx & 63), dy = (unsigned)(gy & 63), glyph = info[i].codepoint;
        if (t->glyph_count >= GLYPH_SLOTS / 2 || t->glyph_bytes >= GLYPH_CACHE_BYTES)
            glyphs_clear(t);
        glyph_entry *e = glyph_find(t, font_id, size, glyph, dx, dy);
        if (!e || !e->font) {
            FT_Vector delta = {dx, -(long)dy};
            FT_Set_Transform(face, NULL, &delta);
            transformed = true;
            if (!FT_Load_Glyph(face, glyph, FT_LOAD_NO_HINTING | FT_LOAD_RENDER)) {
                FT_GlyphSlot g = face->glyph;
                if (e)
                    glyph_store(t, e, font_id, size, glyph, dx, dy, g);
                if (!e || !e->font)  /* no cache, or no room for this one */
                    blend_bitmap(img, g->bitmap.buffer, g->bitmap.width, g->bitmap.rows,
                                 g->bitmap.pitch, (int)(gx >> 6) + g->bitmap_left,
                                 (int)(gy >> 6) - g->bitmap_top, colour);
            }
        }
        if (e && e->font)
            blend_bitmap(img, e->bits, e->width, e->rows, e->width, (int)(gx >> 6) + e->left,
                         (int)(gy >> 6) - e->top, colour);
        pen_x += pos[i].x_advance;
        pen_y -= pos[i].y_advance;
    }
    if (transformed)
        FT_Set_Transform(face, NULL, NULL);
    return LP_OK;
}
