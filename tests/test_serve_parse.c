/*
 * test_serve_parse.c - the card renderer's parsers on the built-in demo data set (no
 * ../shared needed): YAML settings, FS2020 XML (root-less files, profiles, last KEY wins,
 * unsupported devices, malformed XML), the per-game regexes (behaving like Go's regexp:
 * case-insensitive POV names, optional R- axes, slider remapping), SWS .profile lines
 * (CRLF, unbound button 86, unknown devices), grouping and sorting of texts per box, the
 * context colours, and the font-size search.
 */
#include "testutil.h"
#include "mrcutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const mrc_overlay *find_box(const mrc_card *c, int x, int y)
{
    for (size_t i = 0; i < c->noverlays; i++)
        if (c->overlays[i].box.x == x && c->overlays[i].box.y == y)
            return &c->overlays[i];
    return NULL;
}

static void test_config_values(void **state)
{
    (void)state;
    mrc_data *d = lpt_mrc_demo();
    assert_int_equal(d->jpeg_quality, 90);
    assert_true(d->pixel_multiplier == 0.5);
    assert_int_equal(d->ncolours, 12);
    assert_int_equal(d->colours[7].r, 0xff);
    assert_int_equal(d->colours[7].a, 0xa6);
    const mrc_map *dev = mrc_map_get(&d->devices, "DemoStick");
    assert_non_null(dev);
    const mrc_box *b = mrc_map_get(dev, "POV1Left");
    assert_non_null(b);
    assert_int_equal(b->y, 670);
    assert_string_equal(mrc_map_get(&d->device_names, "leanpix Demo Stick"), "DemoStick");
    mrc_rgba c;
    assert_false(mrc_parse_colour("#12345", &c));
    assert_true(mrc_parse_colour("#2780e3", &c) && c.a == 255 && c.g == 0x80);
    mrc_data *bad = mrc_data_new_empty();
    lp_error err = {0};
    assert_int_equal(mrc_config_parse(bad, "config", "a: [1, 2", 8, &err), LP_ERR_CORRUPT);
    assert_non_null(strstr(err.message, "YAML"));
    mrc_data_free(bad);
    mrc_data_free(d);
}

static void parse_fs(mrc_data *d, const char *const *texts, size_t n, mrc_cards *cards,
                     mrc_log *log, lp_status expect, lp_error *err)
{
    mrc_file files[8];
    for (size_t i = 0; i < n; i++)
        files[i] = (mrc_file){(const uint8_t *)texts[i], strlen(texts[i])};
    mrc_binds b = {0};
    memset(cards, 0, sizeof *cards);
    assert_int_equal(mrc_fs2020_parse(d, files, n, &b, log, err), expect);
    if (!expect)
        assert_int_equal(mrc_build_cards(d, &d->fs2020, &b, cards, log, err), LP_OK);
    mrc_binds_free(&b);
}

static void test_fs2020_bindings(void **state)
{
    (void)state;
    mrc_data *d = lpt_mrc_demo();
    /* no root element (as the game writes them), a BOM, profile names, two KEYs in one
     * Primary (the last wins), a lower-case POV, an R- axis and a slider */
    const char *a =
        "\xEF\xBB\xBF<?xml version=\"1.0\"?>\n<Version Num=\"1\"/>\n<FriendlyName>Zed</FriendlyName>\n"
        "<Device DeviceName=\"leanpix Demo Stick\">\n<Context ContextName=\"PLANE\">\n"
        "<Action ActionName=\"KEY_BRAKES\"><Primary><KEY Information=\"Button3\">2</KEY>"
        "<KEY Information=\"Button2\">1</KEY></Primary></Action>\n"
        "<Action ActionName=\"KEY_GEAR_TOGGLE\"><Primary><KEY Information=\"Button2\">1</KEY></Primary>"
        "<Secondary><KEY Information=\"Button1\">0</KEY></Secondary></Action>\n"
        "<Action ActionName=\"KEY_THROTTLE_AXIS_SET_EX1\"><Primary><KEY Information=\"Slider X\">9</KEY></Primary></Action>\n"
        "<Action ActionName=\"KEY_NO_LABEL\"><Primary><KEY Information=\"pov1 left\">9</KEY></Primary></Action>\n"
        "<Action ActionName=\"KEY_UNMATCHED\"><Primary><KEY Information=\"Wheel Z\">9</KEY></Primary></Action>\n"
        "</Context>\n<Context ContextName=\"CAMERA\">\n"
        "<Action ActionName=\"KEY_PAUSE_TOGGLE\"><Primary><KEY Information=\"Button2\">1</KEY></Primary></Action>\n"
        "</Context>\n</Device>\n";
    const char *b = "<DefaulftInput><Device DeviceName=\"Mystery Yoke\"><Context ContextName=\"X\"/>"
                    "</Device></DefaulftInput>";
    const char *const texts[] = {a, b};
    mrc_cards cards;
    mrc_log log = {0};
    lp_error err = {0};
    parse_fs(d, texts, 2, &cards, &log, LP_OK, &err);
    assert_int_equal(cards.count, 1);
    const mrc_card *c = &cards.cards[0];
    assert_string_equal(c->profile, "Zed");
    assert_string_equal(c->image, "demostick");
    assert_true(lpt_mrc_logged(&log, "FS2020 Unsupported device \"Mystery Yoke\""));
    assert_true(lpt_mrc_logged(&log, "fs2020 label not found. KEY_NO_LABEL"));
    assert_true(lpt_mrc_logged(&log, "could not find matching Action Wheel Z"));
    /* button 2 (layout 2500,560): CAMERA "Pause" then PLANE "Brakes", "Landing Gear" sorted */
    const mrc_overlay *o = find_box(c, 2500, 560);
    assert_non_null(o);
    assert_int_equal(o->ncontexts, 2);
    assert_string_equal(o->ctx[0].context, "CAMERA");
    assert_string_equal(o->ctx[0].texts[0], "Pause");
    assert_string_equal(o->ctx[1].texts[0], "Brakes");
    assert_string_equal(o->ctx[1].texts[1], "Landing Gear");
    /* colours by sorted context over the upload: CAMERA -> 0, PLANE -> 1, X -> never */
    assert_int_equal(o->ctx[0].colour.b, d->colours[0].b);
    assert_int_equal(o->ctx[1].colour.r, d->colours[1].r);
    assert_null(find_box(c, 2500, 720));  /* button 3 lost to the second KEY */
    assert_non_null(find_box(c, 2500, 400));  /* the secondary input, button 1 */
    assert_non_null(find_box(c, 140, 1100));  /* Slider X -> ZAxis via InputMap */
    o = find_box(c, 140, 670);                /* "pov1 left" -> POV1Left, label = action */
    assert_non_null(o);
    assert_string_equal(o->ctx[0].texts[0], "KEY_NO_LABEL");
    mrc_cards_free(&cards);
    mrc_log_free(&log);

    const char *broken = "<Device DeviceName=\"leanpix Demo Stick\">\n<Context ContextName=\"P\">\n</Device>";
    const char *const bad[] = {broken};
    parse_fs(d, bad, 1, &cards, &log, LP_ERR_CORRUPT, &err);
    assert_non_null(strstr(err.message, "malformed XML"));
    assert_non_null(strstr(err.message, "line 3"));
    mrc_log_free(&log);
    mrc_data_free(d);
}

static void test_sws_bindings(void **state)
{
    (void)state;
    mrc_data *d = lpt_mrc_demo();
    const char *p =
        "GstInput.JoystickDevice1 leanpix Demo Stick\r\n"
        "GstInput.JoystickDevice2 Unknown Pad\r\n"
        "GstInput.JoystickDevice3 \r\n"
        "GstKeyBinding.IncomStarshipInputConcepts.ConceptFire.0.axis 26\r\n"
        "GstKeyBinding.IncomStarshipInputConcepts.ConceptFire.0.button 24\r\n"  /* -> 3 */
        "GstKeyBinding.IncomStarshipInputConcepts.ConceptFire.0.deviceid 0\r\n"
        "GstKeyBinding.IncomStarshipInputConcepts.ConceptFire.1.axis 26\r\n"
        "GstKeyBinding.IncomStarshipInputConcepts.ConceptFire.1.button 22\r\n"  /* later slot wins: 1 */
        "GstKeyBinding.IncomStarshipInputConcepts.ConceptRoll.0.axis 10\r\n"    /* -> XAxis */
        "GstKeyBinding.IncomStarshipInputConcepts.ConceptRoll.0.deviceid 0\r\n"
        "GstKeyBinding.IncomDefaultInputConcepts.ConceptMenu.0.axis 26\r\n"
        "GstKeyBinding.IncomDefaultInputConcepts.ConceptMenu.0.button 86\r\n"  /* unbound */
        "GstKeyBinding.IncomDefaultInputConcepts.ConceptMenu.0.deviceid 0\r\n"
        "GstKeyBinding.IncomDefaultInputConcepts.ConceptOdd.0.axis 3\r\n"
        "GstKeyBinding.IncomDefaultInputConcepts.ConceptOdd.0.deviceid 0\r\n";
    mrc_file f = {(const uint8_t *)p, strlen(p)};
    mrc_binds b = {0};
    mrc_log log = {0};
    lp_error err = {0};
    assert_int_equal(mrc_sws_parse(d, &f, 1, &b, &log, &err), LP_OK);
    mrc_cards cards;
    assert_int_equal(mrc_build_cards(d, &d->sws, &b, &cards, &log, &err), LP_OK);
    assert_int_equal(cards.count, 1);
    assert_true(lpt_mrc_logged(&log, "SWS Unknown device found Unknown Pad"));
    assert_true(lpt_mrc_logged(&log, "action Odd"));
    assert_false(lpt_mrc_logged(&log, "action Menu"));
    const mrc_overlay *o = find_box(&cards.cards[0], 2500, 400);  /* button 1 */
    assert_non_null(o);
    assert_string_equal(o->ctx[0].context, "Starship");
    assert_string_equal(o->ctx[0].texts[0], "Fire");
    assert_non_null(find_box(&cards.cards[0], 2500, 1400));  /* XAxis: Roll */
    assert_null(find_box(&cards.cards[0], 2500, 720));       /* slot 0's button 3 was overwritten */
    /* colour index counts every context in the upload: Default 0, Starship 1 */
    assert_int_equal(o->ctx[0].colour.r, d->colours[1].r);
    mrc_cards_free(&cards);
    mrc_binds_free(&b);
    mrc_log_free(&log);
    mrc_data_free(d);
}

/* Lines built to make the Bind regex backtrack, and binary data: parsed (or refused)
 * quickly and without a crash. */
static void test_sws_hostile_input(void **state)
{
    (void)state;
    mrc_data *d = lpt_mrc_demo();
    size_t n = 200 * 4000;
    char *text = malloc(n + 1);
    size_t pos = 0;
    for (int line = 0; line < 200; line++) {
        pos += (size_t)sprintf(text + pos, "GstKeyBinding.IncomDefaultInputConcepts.Concept");
        for (; pos % 4000 < 3900; pos++)
            text[pos] = (pos & 1) ? '.' : '1';
        text[pos++] = '\n';
    }
    text[pos] = 0;
    mrc_file f = {(const uint8_t *)text, pos};
    mrc_binds b = {0};
    mrc_log log = {0};
    lp_error err = {0};
    assert_int_equal(mrc_sws_parse(d, &f, 1, &b, &log, &err), LP_OK);
    mrc_binds_free(&b);
    const uint8_t bin[] = {'G', 's', 't', 0, 1, 2, '\n'};
    mrc_file g = {bin, sizeof bin};
    memset(&b, 0, sizeof b);
    assert_int_equal(mrc_sws_parse(d, &g, 1, &b, &log, &err), LP_ERR_CORRUPT);
    mrc_binds_free(&b);
    mrc_log_free(&log);
    free(text);
    mrc_data_free(d);
}

static void test_font_size_search(void **state)
{
    (void)state;
    mrc_data *d = lpt_mrc_demo();
    mrc_text *t = mrc_text_new();
    lp_error err = {0};
    int w20, w40, size;
    assert_int_equal(mrc_text_measure(t, d, "DejaVuSans.ttf", 20, "Landing Gear", &w20, &err), LP_OK);
    assert_int_equal(mrc_text_measure(t, d, "DejaVuSans.ttf", 40, "Landing Gear", &w40, &err), LP_OK);
    assert_true(w40 > 2 * w20 - 3 && w40 < 2 * w20 + 3);  /* widths scale with the size */
    /* a wide box: limited by the height; a narrow one: the largest size that fits */
    assert_int_equal(mrc_fit_font_size(t, d, "DejaVuSans.ttf", "Landing Gear", 2000, 45, 13, &size, &err), LP_OK);
    assert_int_equal(size, 45);
    assert_int_equal(mrc_fit_font_size(t, d, "DejaVuSans.ttf", "Landing Gear", w20, 45, 13, &size, &err), LP_OK);
    int w;
    mrc_text_measure(t, d, "DejaVuSans.ttf", size, "Landing Gear", &w, &err);
    assert_true(w <= w20);
    mrc_text_measure(t, d, "DejaVuSans.ttf", size + 2, "Landing Gear", &w, &err);
    assert_true(w > w20);
    /* nothing fits: the minimum */
    assert_int_equal(mrc_fit_font_size(t, d, "DejaVuSans.ttf", "Landing Gear", 5, 45, 13, &size, &err), LP_OK);
    assert_int_equal(size, 13);
    mrc_text_free(t);
    mrc_data_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_values),
        cmocka_unit_test(test_fs2020_bindings),
        cmocka_unit_test(test_sws_bindings),
        cmocka_unit_test(test_sws_hostile_input),
        cmocka_unit_test(test_font_size_search),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
