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
 * costs only FreeType's small per-face state. Memory: a few faces per thread (~100 kB).
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

struct mrc_text {
    FT_Library lib;
    struct {
        const uint8_t *bytes;  /* identity of the font (shared asset) */
        FT_Face face;
        hb_font_t *hb;
        int size;
    } faces[MRC_TEXT_FACES];
    hb_buffer_t *buf;
};

mrc_text *mrc_text_new(void)
{
    mrc_text *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
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

lp_status mrc_text_measure(mrc_text *t, const mrc_data *d, const char *font, int size,
                           const char *text, int *width, lp_error *err)
{
    int slot;
    if (size < 1)
        size = 1;
    lp_status st = get_face(t, d, font, size, &slot, err);
    if (st)
        return st;
    shape(t, slot, text);
    unsigned n;
    hb_glyph_position_t *pos = hb_buffer_get_glyph_positions(t->buf, &n);
    long sum = 0;
    for (unsigned i = 0; i < n; i++)
        sum += pos[i].x_advance;
    *width = (int)((sum + 32) >> 6);
    return LP_OK;
}

static void blend_bitmap(lp_buffer_image *img, const FT_Bitmap *bm, int left, int top,
                         mrc_rgba c)
{
    for (unsigned row = 0; row < bm->rows; row++) {
        int y = top + (int)row;
        if (y < 0 || (uint32_t)y >= img->info.height)
            continue;
        const uint8_t *src = bm->buffer + (long)row * bm->pitch;
        uint8_t *dst = img->pixels + (size_t)y * img->stride;
        for (unsigned col = 0; col < bm->width; col++) {
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

lp_status mrc_text_draw(mrc_text *t, const mrc_data *d, const char *font, int size,
                        const char *text, double x, double baseline, mrc_rgba colour,
                        lp_buffer_image *img, lp_error *err)
{
    int slot;
    if (size < 1)
        size = 1;
    lp_status st = get_face(t, d, font, size, &slot, err);
    if (st)
        return st;
    shape(t, slot, text);
    unsigned n;
    hb_glyph_info_t *info = hb_buffer_get_glyph_infos(t->buf, &n);
    hb_glyph_position_t *pos = hb_buffer_get_glyph_positions(t->buf, &n);
    FT_Face face = t->faces[slot].face;
    long pen_x = lround(x * 64), pen_y = lround(baseline * 64);
    for (unsigned i = 0; i < n; i++) {
        long gx = pen_x + pos[i].x_offset, gy = pen_y - pos[i].y_offset;
        FT_Vector delta = {gx & 63, -(gy & 63)};
        FT_Set_Transform(face, NULL, &delta);
        if (!FT_Load_Glyph(face, info[i].codepoint, FT_LOAD_NO_HINTING | FT_LOAD_RENDER)) {
            FT_GlyphSlot g = face->glyph;
            blend_bitmap(img, &g->bitmap, (int)(gx >> 6) + g->bitmap_left,
                         (int)(gy >> 6) - g->bitmap_top, colour);
        }
        pen_x += pos[i].x_advance;
        pen_y -= pos[i].y_advance;
    }
    FT_Set_Transform(face, NULL, NULL);
    return LP_OK;
}
