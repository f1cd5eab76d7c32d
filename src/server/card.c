/*
 * card.c - compositing one reference card and encoding it.
 *
 * Layout (from MetaRefCard v0.3.1; coordinates in the 3840x2160 layout space are scaled by
 * the pixel multiplier, 0.5 for the 1920x1080 images): the game logo at (0,0) unscaled;
 * a header bar from the logo's right edge to the image's right edge, BackgroundHeight high,
 * with the device label (plus " (profile)" for a named profile) in the header font at the
 * largest size up to FontSize that fits the width less two insets, baseline at Inset.y;
 * a watermark pill "Text vVERSION" at Location, offset by the logo width. Each bound input
 * box gets, inside its insets, a row of pills: the texts of every context (contexts sorted,
 * texts sorted) joined by spaces are fitted by font-size search; each text's pill starts
 * where the joined text before it (plus a space) ends, is as wide as the text and as high
 * as the font size, vertically centred in the box, corner radius 6, filled with the
 * context's colour (alpha-blended), the text drawn one pixel size smaller, centred, white.
 *
 * Memory: the canvas (width x height x 3, 6.2 MB for 1920x1080) is allocated from the
 * worker's lp_mem (and kept between cards); the device image is copied into it from the
 * image cache or, when not cached, decoded straight into it (assets.c); the JPEG encoder works
 * in strips and writes into a memory output counted in the same lp_mem.
 */
#include "server/mrc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Integer source-over blend of colour c at opacity a (0..255) onto an RGB pixel. */
static inline void blend(uint8_t *p, mrc_rgba c, unsigned a)
{
    p[0] = (uint8_t)((c.r * a + p[0] * (255 - a) + 127) / 255);
    p[1] = (uint8_t)((c.g * a + p[1] * (255 - a) + 127) / 255);
    p[2] = (uint8_t)((c.b * a + p[2] * (255 - a) + 127) / 255);
}

/* Anti-aliased rounded rectangle: coverage from the signed distance at the pixel centre
 * (a one-pixel ramp across the edge). Only pixels in the corner squares need the distance
 * to the corner circle; the rest is a distance to the nearest straight edge. */
void mrc_fill_rounded_rect(lp_buffer_image *img, double x, double y, double w, double h,
                           double r, mrc_rgba c)
{
    if (w <= 0 || h <= 0)
        return;
    r = fmin(r, fmin(w, h) / 2);
    double cx = x + w / 2, cy = y + h / 2, hx = w / 2 - r, hy = h / 2 - r;
    int x0 = (int)floor(x) - 1, x1 = (int)ceil(x + w) + 1;
    int y0 = (int)floor(y) - 1, y1 = (int)ceil(y + h) + 1;
    x0 = x0 < 0 ? 0 : x0;
    y0 = y0 < 0 ? 0 : y0;
    if (x1 > (int)img->info.width)
        x1 = (int)img->info.width;
    if (y1 > (int)img->info.height)
        y1 = (int)img->info.height;
    /* Pixels with qx <= m on a row with qy <= r - 0.5 are fully covered (out <= -0.5):
     * they take the plain blend without a distance (the inside of every pill, the whole
     * header bar); only the rim needs the distance. */
    double m = fmin(0, r - 0.5);
    long in0 = lround(ceil(cx - hx - m - 0.5)), in1 = lround(floor(cx + hx + m - 0.5));
    for (int py = y0; py < y1; py++) {
        uint8_t *row = img->pixels + (size_t)py * img->stride;
        double qy = fabs(py + 0.5 - cy) - hy;
        long f0 = x1, f1 = x1 - 1;  /* the fully covered span of this row, if any */
        if (qy <= r - 0.5) {
            f0 = in0 < x0 ? x0 : in0;
            f1 = in1 >= x1 ? x1 - 1 : in1;
        }
        for (long px = f0; px <= f1; px++)
            blend(row + (size_t)px * 3, c, c.a);
        for (long px = x0; px < x1; px++) {
            if (px == f0 && f0 <= f1)
                px = f1 + 1;  /* skip the covered span */
            if (px >= x1)
                break;
            double qx = fabs(px + 0.5 - cx) - hx;
            double out = qx > 0 && qy > 0 ? sqrt(qx * qx + qy * qy) - r : (qx > qy ? qx : qy) - r;
            double cover = 0.5 - out;
            if (cover <= 0)
                continue;
            unsigned a = cover >= 1 ? c.a : (unsigned)(cover * c.a + 0.5);
            if (a)
                blend(row + (size_t)px * 3, c, a);
        }
    }
}

void mrc_fill_rect(lp_buffer_image *img, double x, double y, double w, double h, mrc_rgba c)
{
    mrc_fill_rounded_rect(img, x, y, w, h, 0, c);
}

static double multiplier(const mrc_data *d, const char *image)
{
    const mrc_box *o = mrc_map_get(&d->size_override, image);
    return o && d->default_w ? (double)o->w / d->default_w : d->pixel_multiplier;
}

/* A pill: rounded rect as wide as text at size, the text one size smaller centred in it. */
static lp_status draw_pill(mrc_text *t, const mrc_data *d, const char *font, int size,
                           const char *text, double x, double y, mrc_rgba bg, mrc_rgba fg,
                           lp_buffer_image *img, lp_error *err)
{
    int w, w2;
    lp_status st = mrc_text_measure(t, d, font, size, text, &w, err);
    if (!st)
        st = mrc_text_measure(t, d, font, size - 1, text, &w2, err);
    if (st)
        return st;
    mrc_fill_rounded_rect(img, x, y, w, size, 6, bg);
    double tx = x + (w - w2) / 2.0, ty = y + 0.5;
    return mrc_text_draw(t, d, font, size - 1, text, tx, ty + 0.83 * (size - 1), fg, img, err);
}

static char *join_texts(const mrc_overlay *o, size_t upto, bool trailing_space)
{
    size_t len = 1, k = 0;
    for (size_t c = 0; c < o->ncontexts; c++)
        for (size_t i = 0; i < o->ctx[c].ntexts; i++)
            len += strlen(o->ctx[c].texts[i]) + 1;
    char *s = malloc(len);
    if (!s)
        return NULL;
    s[0] = 0;
    size_t pos = 0;
    for (size_t c = 0; c < o->ncontexts; c++)
        for (size_t i = 0; i < o->ctx[c].ntexts && k < upto; i++, k++) {
            size_t n = strlen(o->ctx[c].texts[i]);
            if (pos)
                s[pos++] = ' ';
            memcpy(s + pos, o->ctx[c].texts[i], n);
            pos += n;
        }
    if (trailing_space && pos)
        s[pos++] = ' ';
    s[pos] = 0;
    return s;
}

static lp_status draw_overlay(mrc_text *t, const mrc_data *d, const mrc_overlay *o, double pm,
                              int dx, int dy, lp_buffer_image *img, mrc_box *rect, lp_error *err)
{
    int target_w = (int)lround((o->box.w - 2 * d->x_inset) * pm);
    int target_h = (int)lround((o->box.h - 2 * d->y_inset) * pm);
    char *full = join_texts(o, (size_t)-1, false);
    if (!full)
        return lp_error_set(err, LP_ERR_NOMEM, "out of memory laying out labels");
    int size;
    lp_status st = mrc_fit_font_size(t, d, d->input_font, full, target_w, target_h,
                                     d->input_min_font_size, &size, err);
    free(full);
    size_t k = 0;
    for (size_t c = 0; !st && c < o->ncontexts; c++)
        for (size_t i = 0; !st && i < o->ctx[c].ntexts; i++, k++) {
            char *before = join_texts(o, k, true);
            int offset = 0;
            if (!before)
                return lp_error_set(err, LP_ERR_NOMEM, "out of memory laying out labels");
            st = mrc_text_measure(t, d, d->input_font, size, before, &offset, err);
            free(before);
            double x = offset + (o->box.x + d->x_inset) * pm + dx;
            double y = (o->box.y + d->y_inset) * pm + (target_h - size) / 2.0 + dy;
            if (!st)
                st = draw_pill(t, d, d->input_font, size, o->ctx[c].texts[i], x, y,
                               o->ctx[c].colour, d->light, img, err);
            if (!st && rect) {
                int w;
                st = mrc_text_measure(t, d, d->input_font, size, o->ctx[c].texts[i], &w, err);
                if (k == 0)
                    *rect = (mrc_box){(int)floor(x), (int)floor(y), 0, size + 1};
                rect->w = (int)ceil(x + w) - rect->x;
            }
        }
    return st;
}

static void draw_image(lp_buffer_image *dst, const lp_buffer_image *src, uint32_t x0, uint32_t y0)
{
    for (uint32_t y = 0; y < src->info.height && y0 + y < dst->info.height; y++) {
        uint32_t w = src->info.width;
        if (x0 >= dst->info.width)
            return;
        if (x0 + w > dst->info.width)
            w = dst->info.width - x0;
        memcpy(dst->pixels + (size_t)(y0 + y) * dst->stride + (size_t)x0 * 3,
               src->pixels + (size_t)y * src->stride, (size_t)w * 3);
    }
}

void mrc_card_title(const mrc_data *d, const mrc_card *card, char *text, size_t size)
{
    const char *label = mrc_map_get(&d->labels_by_image, card->image);
    if (strcmp(card->profile, MRC_PROFILE_DEFAULT) != 0)
        snprintf(text, size, "%s (%s)", label ? label : card->image, card->profile);
    else
        snprintf(text, size, "%s", label ? label : card->image);
}

static lp_status draw_header(mrc_text *t, const mrc_data *d, const mrc_card *card, double pm,
                             double xoff, lp_buffer_image *img, lp_error *err)
{
    const mrc_header_style *h = &d->header;
    char text[512];
    mrc_card_title(d, card, text, sizeof text);
    int size = (int)lround(h->font_size * pm);
    int target_w = (int)img->info.width - (int)lround(xoff + 2 * h->inset_x * pm);
    lp_status st = mrc_fit_font_size(t, d, h->font, text, target_w, size, d->input_min_font_size,
                                     &size, err);
    if (st)
        return st;
    mrc_fill_rect(img, xoff, 0, img->info.width - xoff, h->bg_height * pm, h->bg);
    st = mrc_text_draw(t, d, h->font, size, text, xoff + h->inset_x * pm, h->inset_y * pm, h->text,
                       img, err);
    if (st)
        return st;
    const mrc_watermark_style *wm = &d->watermark;
    snprintf(text, sizeof text, "%s v%s", wm->label, d->version ? d->version : "");
    int wsize = (int)lround(wm->font_size * pm);
    return draw_pill(t, d, wm->font, wsize, text, xoff + wm->x * pm, wm->y * pm, wm->bg, wm->text,
                     img, err);
}

lp_status mrc_render_card(mrc_text *t, const mrc_data *d, const mrc_cards *cards, size_t index,
                          const mrc_render_tweak *tweak, lp_buffer_image *canvas, lp_mem *mem,
                          lp_error *err)
{
    const mrc_card *card = &cards->cards[index];
    const lp_buffer_image *logo;
    mrc_asset *logo_ref = NULL;
    lp_status st = mrc_asset_image_into(d, "hotas", card->image, canvas, mem, err);
    if (!st)
        st = mrc_asset_image(d, "logo", cards->game->logo, &logo, &logo_ref, err);
    if (st)
        return st;
    draw_image(canvas, logo, 0, 0);
    uint32_t logo_w = logo->info.width;
    mrc_asset_release(d, logo_ref);
    double pm = multiplier(d, card->image);
    if (tweak && tweak->rects)
        memset(tweak->rects, 0, card->noverlays * sizeof *tweak->rects);
    st = draw_header(t, d, card, pm, logo_w, canvas, err);
    for (size_t i = 0; !st && i < card->noverlays; i++) {
        const mrc_overlay *o = &card->overlays[i];
        if (o->box.x == -1 || o->box.y == -1)
            continue;
        if (o->box.x * pm >= canvas->info.width || o->box.y * pm >= canvas->info.height)
            continue;
        int dx = 0, dy = 0;
        mrc_box *rect = tweak && tweak->rects ? &tweak->rects[i] : NULL;
        if (tweak && (long)i == tweak->drop_overlay)
            continue;
        if (tweak && (long)i == tweak->shift_overlay) {
            dx = tweak->shift_dx;
            dy = tweak->shift_dy;
        }
        st = draw_overlay(t, d, o, pm, dx, dy, canvas, rect, err);
    }
    return st;
}

size_t mrc_card_boxes(const mrc_data *d, const mrc_card *card, mrc_box **boxes)
{
    double pm = multiplier(d, card->image);
    *boxes = calloc(card->noverlays ? card->noverlays : 1, sizeof **boxes);
    size_t n = 0;
    for (size_t i = 0; *boxes && i < card->noverlays; i++) {
        const mrc_box *b = &card->overlays[i].box;
        if (b->x == -1 || b->y == -1)
            continue;
        (*boxes)[n++] = (mrc_box){(int)lround(b->x * pm), (int)lround(b->y * pm),
                                  (int)lround(b->w * pm), (int)lround(b->h * pm)};
    }
    return n;
}

lp_status mrc_encode_jpeg(const mrc_data *d, const lp_buffer_image *canvas, lp_mem *mem,
                          uint8_t **jpeg, size_t *size, lp_error *err)
{
    lp_output *out = NULL;
    lp_sink *sink = NULL;
    lp_stage *src = NULL;
    lp_encode_options o;
    lp_encode_options_default(&o, LP_FILE_JPEG);
    o.quality = d->jpeg_quality;
    o.strip_metadata = true;
    lp_status st = lp_output_open_memory(&out, mem, err);
    if (!st)
        st = lp_jpeg_sink_new(&sink, out, &o, mem, err);
    if (!st)
        st = lp_buffer_source_new(&src, canvas, 16, err);
    if (!st)
        st = lp_pipeline_run(src, sink, NULL, NULL, err);
    if (!st) {
        *jpeg = lp_output_take(out, size);
        if (!*jpeg)
            st = lp_error_set(err, LP_ERR_NOMEM, "no JPEG output");
    }
    lp_stage_destroy(src);
    lp_sink_destroy(sink);
    lp_output_close(out);
    return st;
}
