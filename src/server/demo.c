/*
 * demo.c - the built-in data set used when `leanpix serve` has no --data: one device
 * ("leanpix Demo Stick"), its layout, and images drawn here at start-up, so that a fresh
 * clone serves cards without any downloaded material.
 *
 * The configuration is YAML text in the same format as a MetaRefCard data directory and
 * goes through the same parser; each game of the table brings its own settings for the
 * demo device (lp_game.demo_settings, in the game's file). The device image (1920x1080: a
 * stick on a base with a throttle, a hat, buttons, and the black label boxes with leader
 * lines) and the games' logos (a gradient with a caption, from the descriptor) are drawn
 * into buffers with the card renderer's own primitives. The font is DejaVu Sans from
 * Debian's fonts-dejavu-core (scripts/deps.sh installs it).
 *
 * Memory: the drawn images (6.2 MB + 120 kB per game) are counted in the server's budget
 * like decoded ones; the font file's bytes are read once.
 */
#include "server/mrc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char demo_config[] =
    "Version: \"0.1\"\n"
    "DefaultImage: { w: 3840, h: 2160 }\nPixelMultiplier: 0.5\n"
    "HotasImagesDir: demo\nLogoImagesDir: demo\nJpgQuality: 90\n"
    "FontsDir: demo\nInputFont: DejaVuSans.ttf\nInputFontSize: 40\nInputMinFontSize: 13\n"
    "InputPixelXInset: 5\nInputPixelYInset: 5\n"
    "ImageHeader: { Font: DejaVuSans.ttf, FontSize: 90, Inset: { x: 50, y: 100 },\n"
    "  TextColour: \"#ffffffff\", BackgroundHeight: 200, BackgroundColour: \"#2780e3ff\" }\n"
    "Watermark: { Text: leanpix, TextColour: \"#ffffffff\", BackgroundColour: \"#373a3cff\",\n"
    "  Font: DejaVuSans.ttf, FontSize: 44, Location: { x: 50, y: 136 } }\n"
    "LightColour: \"#ffffffff\"\n"
    "AlternateColours: [\"#2780e3ff\", \"#ff0039ff\", \"#ff7518ff\", \"#3fb618ff\", \"#9954bbff\",\n"
    "  \"#373a3cff\", \"#2780e3a6\", \"#ff0039a6\", \"#ff7518a6\", \"#3fb618a6\", \"#9954bba6\",\n"
    "  \"#373a3ca6\"]\n";

/* Boxes in the 3840x2160 layout space; the drawing below uses the same numbers. The
 * games' demo settings name this device (DemoStick) and its inputs. */
static const char demo_devices[] =
    "DeviceMap:\n"
    "  DemoStick:\n"
    "    1: { x: 2500, y: 400, w: 1200, h: 100 }\n"
    "    2: { x: 2500, y: 560, w: 1200, h: 100 }\n"
    "    3: { x: 2500, y: 720, w: 1200, h: 100 }\n"
    "    4: { x: 2500, y: 880, w: 1200, h: 100 }\n"
    "    5: { x: 140, y: 1500, w: 1100, h: 100 }\n"
    "    6: { x: 140, y: 1660, w: 1100, h: 100 }\n"
    "    POV1Up: { x: 140, y: 400, w: 1100, h: 80 }\n"
    "    POV1Right: { x: 140, y: 490, w: 1100, h: 80 }\n"
    "    POV1Down: { x: 140, y: 580, w: 1100, h: 80 }\n"
    "    POV1Left: { x: 140, y: 670, w: 1100, h: 80 }\n"
    "    XAxis: { x: 2500, y: 1400, w: 1200, h: 100 }\n"
    "    YAxis: { x: 2500, y: 1560, w: 1200, h: 100 }\n"
    "    ZAxis: { x: 140, y: 1100, w: 1100, h: 100 }\n"
    "ImageMap:\n  DemoStick: demostick\n"
    "DeviceNameMap:\n  leanpix Demo Stick: DemoStick\n"
    "DeviceLabelsByImage:\n  demostick: \"leanpix Demo Stick\"\n";

#define DEMO_FONT "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"

static const mrc_rgba black = {0, 0, 0, 255}, bg = {0xe9, 0xec, 0xef, 255},
                      dark = {0x3a, 0x3d, 0x40, 255}, mid = {0x6c, 0x71, 0x76, 255},
                      red = {0xd0, 0x21, 0x2b, 255}, white = {255, 255, 255, 255};

/* A box outline as in the EDRefCard images: 3 px black frame (layout units halved). */
static void box(lp_buffer_image *img, int x, int y, int w, int h)
{
    double X = x / 2.0, Y = y / 2.0, W = w / 2.0, H = h / 2.0;
    mrc_fill_rect(img, X, Y, W, H, black);
    mrc_fill_rect(img, X + 3, Y + 3, W - 6, H - 6, white);
}

static void line(lp_buffer_image *img, double x0, double y0, double x1, double y1)
{
    int steps = (int)(fabs(x1 - x0) > fabs(y1 - y0) ? fabs(x1 - x0) : fabs(y1 - y0)) + 1;
    for (int i = 0; i <= steps; i++) {
        double t = (double)i / steps;
        mrc_fill_rounded_rect(img, x0 + (x1 - x0) * t - 1.5, y0 + (y1 - y0) * t - 1.5, 3, 3, 1.5,
                              black);
    }
}

static void draw_device(lp_buffer_image *img)
{
    mrc_fill_rect(img, 0, 0, img->info.width, img->info.height, bg);
    /* base, shaft, grip, hat, buttons, trigger, throttle lever */
    mrc_fill_rounded_rect(img, 760, 820, 520, 160, 40, dark);
    mrc_fill_rounded_rect(img, 990, 560, 60, 280, 20, mid);
    mrc_fill_rounded_rect(img, 930, 260, 180, 330, 70, dark);
    mrc_fill_rounded_rect(img, 990, 285, 60, 60, 30, mid);
    mrc_fill_rounded_rect(img, 1060, 330, 36, 36, 18, red);
    mrc_fill_rounded_rect(img, 1060, 380, 36, 36, 18, red);
    mrc_fill_rounded_rect(img, 945, 380, 30, 30, 15, mid);
    mrc_fill_rounded_rect(img, 945, 430, 30, 30, 15, mid);
    mrc_fill_rounded_rect(img, 900, 420, 40, 90, 14, red);
    mrc_fill_rounded_rect(img, 640, 700, 90, 260, 30, dark);
    mrc_fill_rounded_rect(img, 600, 660, 170, 70, 30, mid);
    /* label boxes (same numbers as demo_devices) and leader lines */
    static const int boxes[][4] = {{2500, 400, 1200, 100},  {2500, 560, 1200, 100},
                                   {2500, 720, 1200, 100},  {2500, 880, 1200, 100},
                                   {140, 1500, 1100, 100},  {140, 1660, 1100, 100},
                                   {2500, 1400, 1200, 100}, {2500, 1560, 1200, 100},
                                   {140, 1100, 1100, 100}};
    for (size_t i = 0; i < sizeof boxes / sizeof boxes[0]; i++)
        box(img, boxes[i][0], boxes[i][1], boxes[i][2], boxes[i][3]);
    box(img, 140, 400, 1100, 350);  /* the hat's four rows share one frame */
    for (int r = 1; r < 4; r++)
        mrc_fill_rect(img, 73, 200 + r * 45, 546, 1, black);
    line(img, 620, 290, 990, 315);
    line(img, 1250, 250, 1080, 420);
    line(img, 1250, 330, 1096, 348);
    line(img, 1250, 410, 1096, 398);
    line(img, 1250, 490, 975, 445);
    line(img, 620, 800, 800, 900);
    line(img, 620, 880, 960, 395);
    line(img, 620, 575, 685, 700);
    line(img, 1250, 725, 1020, 700);
    line(img, 1250, 805, 1020, 720);
}

static void draw_logo(lp_buffer_image *img, mrc_rgba a, mrc_rgba b)
{
    for (uint32_t y = 0; y < img->info.height; y++)
        for (uint32_t x = 0; x < img->info.width; x++) {
            double t = (double)x / img->info.width;
            uint8_t *p = img->pixels + y * img->stride + x * 3;
            p[0] = (uint8_t)(a.r + (b.r - a.r) * t);
            p[1] = (uint8_t)(a.g + (b.g - a.g) * t);
            p[2] = (uint8_t)(a.b + (b.b - a.b) * t);
        }
}

/* The game's logo, under the name its demo settings give (Logo). */
static lp_status add_logo(mrc_data *d, mrc_text *t, const mrc_game *g, lp_error *err)
{
    lp_buffer_image logo;
    lp_status st = lp_buffer_image_alloc(&logo, 400, 100, LP_FORMAT_RGB8, d->asset_mem, err);
    if (st)
        return st;
    draw_logo(&logo, g->desc->demo_logo_from, g->desc->demo_logo_to);
    st = mrc_text_draw(t, d, "DejaVuSans.ttf", 40, g->desc->demo_logo_text, 20, 65, white, &logo,
                       err);
    if (!st)
        st = mrc_asset_add_image(d, "logo", g->logo, &logo, err);
    else
        lp_buffer_image_free(&logo);
    return st;
}

static lp_status add_drawn(mrc_data *d, mrc_text *t, lp_error *err)
{
    lp_buffer_image dev;
    lp_status st = lp_buffer_image_alloc(&dev, 1920, 1080, LP_FORMAT_RGB8, d->asset_mem, err);
    if (st)
        return st;
    draw_device(&dev);
    st = mrc_asset_add_image(d, "hotas", "demostick", &dev, err);
    for (size_t g = 0; g < d->ngames && !st; g++)
        st = add_logo(d, t, &d->games[g], err);
    return st;
}

static lp_status add_font(mrc_data *d, lp_error *err)
{
    FILE *f = fopen(DEMO_FONT, "rb");
    if (!f)
        return lp_error_set(err, LP_ERR_IO, "the demo data set needs " DEMO_FONT
                            " (Debian package fonts-dejavu-core), or a data directory");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *bytes = n > 0 ? malloc((size_t)n) : NULL;
    if (!bytes || fread(bytes, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        free(bytes);
        return lp_error_set(err, LP_ERR_IO, "cannot read " DEMO_FONT);
    }
    fclose(f);
    return mrc_asset_add_font(d, "DejaVuSans.ttf", bytes, (size_t)n, err);
}

lp_status mrc_data_load_demo(mrc_data **out, lp_mem *asset_mem, lp_error *err)
{
    *out = NULL;
    mrc_data *d = mrc_data_new_empty();
    if (!d)
        return lp_error_set(err, LP_ERR_NOMEM, "out of memory");
    d->asset_mem = asset_mem;
    lp_status st = mrc_config_parse(d, "config", demo_config, sizeof demo_config - 1, err);
    if (!st)
        st = mrc_config_parse(d, "devices", demo_devices, sizeof demo_devices - 1, err);
    for (size_t g = 0; g < d->ngames && !st; g++) {
        const lp_game *game = d->games[g].desc;
        st = mrc_config_parse(d, game->name, game->demo_settings, strlen(game->demo_settings),
                              err);
    }
    if (!st)
        st = mrc_data_finish(d, err);
    if (!st)
        st = add_font(d, err);
    mrc_text *t = st ? NULL : mrc_text_new();
    if (!st && !t)
        st = lp_error_set(err, LP_ERR_NOMEM, "out of memory");
    if (!st)
        st = add_drawn(d, t, err);
    mrc_text_free(t);
    if (st) {
        mrc_data_free(d);
        return st;
    }
    *out = d;
    return LP_OK;
}
