/*
 * test_serve_render.c - the card renderer without HTTP: parsing the shared test bindings
 * (fs2020 XML, sws .profile), the overlay model, and fidelity against the original's
 * outputs (golden/go-v0.3.1): SSIM on luma >= 0.97 over the whole card and >= 0.80 over
 * the union of the label boxes (method in tests/support/ssim.h); and that the check fails
 * when one label is left out or shifted by 4 px. Skips with a message without ../shared.
 */
#include "testutil.h"
#include "ssim.h"
#include "mrcutil.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIN_WHOLE 0.97
#define MIN_BOXES 0.80

typedef struct fileset {
    mrc_file files[64];
    size_t n;
} fileset;

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void load_dir(fileset *fs, const char *dir, const char *ext)
{
    DIR *dp = opendir(dir);
    assert_non_null(dp);
    char *names[64];
    size_t n = 0;
    for (struct dirent *e; (e = readdir(dp)) && n < 64;) {
        size_t len = strlen(e->d_name);
        if (len > strlen(ext) && strcmp(e->d_name + len - strlen(ext), ext) == 0)
            names[n++] = strdup(e->d_name);
    }
    closedir(dp);
    qsort(names, n, sizeof *names, cmp_name);
    for (size_t i = 0; i < n; i++) {
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        size_t size;
        fs->files[fs->n].data = lpt_read_file(path, &size);
        fs->files[fs->n].size = size;
        assert_non_null(fs->files[fs->n].data);
        fs->n++;
        free(names[i]);
    }
}

static void free_files(fileset *fs)
{
    for (size_t i = 0; i < fs->n; i++)
        free((void *)fs->files[i].data);
}

static mrc_data *load_data(void)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/metarefcard", lpt_shared_dir());
    mrc_data *d = NULL;
    lp_error err = {0};
    lp_status st = mrc_data_load(&d, dir, NULL, &err);
    if (st)
        fprintf(stderr, "load: %s\n", lp_error_message(&err));
    assert_int_equal(st, LP_OK);
    return d;
}

/* game "fs2020" or "sws"; sub "" or "/unsupported". */
static void parse_game(mrc_data *d, const char *game, const char *sub, mrc_cards *cards,
                       mrc_log *log)
{
    fileset fs = {0};
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/metarefcard/testdata/%s%s", lpt_shared_dir(), game, sub);
    bool fs2020 = strcmp(game, "fs2020") == 0;
    load_dir(&fs, dir, fs2020 ? ".xml" : ".profile");
    mrc_binds binds = {0};
    lp_error err = {0};
    lp_status st = fs2020 ? mrc_fs2020_parse(d, fs.files, fs.n, &binds, log, &err)
                          : mrc_sws_parse(d, fs.files, fs.n, &binds, log, &err);
    if (st)
        fprintf(stderr, "parse: %s\n", lp_error_message(&err));
    assert_int_equal(st, LP_OK);
    st = mrc_build_cards(d, fs2020 ? &d->fs2020 : &d->sws, &binds, cards, log, &err);
    assert_int_equal(st, LP_OK);
    mrc_binds_free(&binds);
    free_files(&fs);
}

static void golden(const char *game, size_t i, lp_buffer_image *img)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/metarefcard/golden/go-v0.3.1/out_%s_%02zu.jpg",
             lpt_shared_dir(), game, i);
    assert_true(lpt_decode_external("djpeg", path, img));
    lpt_to_rgb8(img, false);
}

/* The fidelity check. The label boxes are the rectangles that each input's row of pills
 * covers in our layout (from the left of the first pill to the right of the last, the font
 * size high). Pass = SSIM >= 0.97 over the whole card, >= 0.80 over the union of the label
 * boxes (a pixel in two boxes counts once), and >= 0.80 over every label box on its own
 * (so that one missing or misplaced label among sixty cannot hide in the mean). */
typedef struct fidelity {
    double whole, boxes, worst_label;
} fidelity;

static bool fidelity_ok(const fidelity *f)
{
    return f->whole >= MIN_WHOLE && f->boxes >= MIN_BOXES && f->worst_label >= MIN_BOXES;
}

static fidelity measure(const lp_buffer_image *card, const lp_buffer_image *ref,
                        const mrc_box *rects, size_t n)
{
    uint32_t w = ref->info.width, h = ref->info.height;
    float *map = lpt_ssim_map(card, ref);
    uint8_t *mask = calloc((size_t)w * h, 1);
    assert_non_null(map);
    assert_non_null(mask);
    fidelity f = {0, 0, 1};
    double sum = 0, in = 0;
    size_t nin = 0;
    for (size_t i = 0; i < n; i++) {
        if (!rects[i].w)
            continue;
        double v = lpt_ssim_map_rect(map, w, h, rects[i].x, rects[i].y, rects[i].w, rects[i].h);
        if (v < f.worst_label)
            f.worst_label = v;
        for (int y = rects[i].y; y < rects[i].y + rects[i].h; y++)
            for (int x = rects[i].x; x < rects[i].x + rects[i].w; x++)
                if (x >= 0 && y >= 0 && (uint32_t)x < w && (uint32_t)y < h)
                    mask[(size_t)y * w + x] = 1;
    }
    for (size_t i = 0; i < (size_t)w * h; i++) {
        sum += map[i];
        if (mask[i]) {
            in += map[i];
            nin++;
        }
    }
    f.whole = sum / ((double)w * h);
    f.boxes = nin ? in / (double)nin : 1;
    free(map);
    free(mask);
    return f;
}

/* Renders card i (with tweak, may be NULL) and scores it against its golden image, on the
 * label boxes of the untweaked layout. */
static fidelity score(mrc_text *t, mrc_data *d, mrc_cards *cards, const char *game, size_t i,
                      const mrc_render_tweak *tweak)
{
    lp_buffer_image canvas = {0}, ref;
    lp_error err = {0};
    size_t n = cards->cards[i].noverlays;
    mrc_box *rects = calloc(n ? n : 1, sizeof *rects);
    mrc_render_tweak layout = {-1, -1, 0, 0, rects};
    assert_int_equal(mrc_render_card(t, d, cards, i, &layout, &canvas, NULL, &err), LP_OK);
    for (size_t k = 0; k < n; k++)  /* every drawable input got its row */
        if (cards->cards[i].overlays[k].box.x != -1)
            assert_true(rects[k].w > 0);
    if (tweak) {
        assert_int_equal(mrc_render_card(t, d, cards, i, tweak, &canvas, NULL, &err), LP_OK);
    }
    if (getenv("LP_SERVE_DUMP")) {
        uint8_t *jpeg;
        size_t size;
        assert_int_equal(mrc_encode_jpeg(d, &canvas, NULL, &jpeg, &size, &err), LP_OK);
        char name[64];
        snprintf(name, sizeof name, "card_%s_%02zu.jpg", game, i);
        lpt_write_file(lpt_path(name), jpeg, size);
        free(jpeg);
    }
    golden(game, i, &ref);
    fidelity f = measure(&canvas, &ref, rects, n);
    free(rects);
    lp_buffer_image_free(&canvas);
    lp_buffer_image_free(&ref);
    return f;
}

static void test_fs2020_cards_match_golden(void **state)
{
    (void)state;
    LPT_REQUIRE_SHARED();
    mrc_data *d = load_data();
    mrc_cards cards;
    mrc_log log = {0};
    parse_game(d, "fs2020", "", &cards, &log);
    assert_int_equal(cards.count, 15);
    assert_string_equal(cards.cards[0].profile, "MetaRefCard");  /* "M" sorts before "d" */
    assert_string_equal(cards.cards[0].image, "x55");
    assert_string_equal(cards.cards[14].image, "x56");
    mrc_text *t = mrc_text_new();
    /* under sanitizers, three cards keep the run short */
    size_t step = getenv("LP_SANITIZED") ? 7 : 1;
    for (size_t i = 0; i < cards.count; i += step) {
        fidelity f = score(t, d, &cards, "fs2020", i, NULL);
        fprintf(stderr, "fs2020 card %zu (%s): SSIM whole %.4f label boxes %.4f worst label %.4f\n",
                i, cards.cards[i].image, f.whole, f.boxes, f.worst_label);
        assert_true(fidelity_ok(&f));
    }
    mrc_text_free(t);
    mrc_log_free(&log);
    mrc_cards_free(&cards);
    mrc_data_free(d);
}

static void test_sws_card_matches_golden(void **state)
{
    (void)state;
    LPT_REQUIRE_SHARED();
    mrc_data *d = load_data();
    mrc_cards cards;
    mrc_log log = {0};
    parse_game(d, "sws", "", &cards, &log);
    assert_int_equal(cards.count, 1);
    assert_string_equal(cards.cards[0].image, "x55");
    mrc_text *t = mrc_text_new();
    fidelity f = score(t, d, &cards, "sws", 0, NULL);
    fprintf(stderr, "sws card 0: SSIM whole %.4f label boxes %.4f worst label %.4f\n", f.whole,
            f.boxes, f.worst_label);
    assert_true(fidelity_ok(&f));
    mrc_text_free(t);
    mrc_log_free(&log);
    mrc_cards_free(&cards);
    mrc_data_free(d);
}

/* With a cache cap too small for one decoded image (as in the server's default budget),
 * device images come back from their compact 4:2:0 JPEG copies instead of the files: the
 * second pass decodes no file and its cards still pass the fidelity check. */
static void test_compact_copies_keep_fidelity(void **state)
{
    (void)state;
    LPT_REQUIRE_SHARED();
    mrc_data *d = load_data();
    d->image_cache_cap = 4u << 20;  /* < 6.2 MB: no decoded device image is kept */
    mrc_cards cards;
    mrc_log log = {0};
    parse_game(d, "fs2020", "", &cards, &log);
    mrc_text *t = mrc_text_new();
    size_t step = getenv("LP_SANITIZED") ? 7 : 1;
    for (int pass = 0; pass < 2; pass++) {
        uint64_t decodes = atomic_load(&d->image_decodes);
        for (size_t i = 0; i < cards.count; i += step) {
            fidelity f = score(t, d, &cards, "fs2020", i, NULL);
            if (pass == 1)
                fprintf(stderr, "fs2020 card %zu (%s) from its compact copy: SSIM whole %.4f label "
                                "boxes %.4f worst label %.4f\n",
                        i, cards.cards[i].image, f.whole, f.boxes, f.worst_label);
            assert_true(fidelity_ok(&f));
        }
        if (pass == 1)
            assert_int_equal(atomic_load(&d->image_decodes), decodes);  /* no file decoded */
        else
            assert_true(atomic_load(&d->image_decodes) > decodes);
        assert_true(atomic_load(&d->image_bytes) < (6u << 20));  /* only logos stay decoded */
        assert_true(atomic_load(&d->compact_bytes) > 0);
    }
    mrc_text_free(t);
    mrc_log_free(&log);
    mrc_cards_free(&cards);
    mrc_data_free(d);
}

/* The per-worker glyph cache gives the very bitmaps FreeType renders: a card drawn with a
 * warm cache (second time) is byte-identical to the same card drawn with a fresh one. */
static void test_glyph_cache_is_exact(void **state)
{
    (void)state;
    LPT_REQUIRE_SHARED();
    mrc_data *d = load_data();
    mrc_cards cards;
    mrc_log log = {0};
    parse_game(d, "fs2020", "", &cards, &log);
    lp_buffer_image cold = {0}, warm = {0};
    lp_error err = {0};
    mrc_text *t = mrc_text_new();
    assert_int_equal(mrc_render_card(t, d, &cards, 0, NULL, &cold, NULL, &err), LP_OK);
    mrc_text_free(t);
    t = mrc_text_new();
    assert_int_equal(mrc_render_card(t, d, &cards, 0, NULL, &warm, NULL, &err), LP_OK);
    assert_int_equal(mrc_render_card(t, d, &cards, 0, NULL, &warm, NULL, &err), LP_OK);
    assert_int_equal(cold.info.height, warm.info.height);
    assert_memory_equal(cold.pixels, warm.pixels, cold.stride * cold.info.height);
    lp_buffer_image_free(&cold);
    lp_buffer_image_free(&warm);
    mrc_text_free(t);
    mrc_log_free(&log);
    mrc_cards_free(&cards);
    mrc_data_free(d);
}

/* The check must be able to fail: one label left out, or one label shifted by 4 px right
 * or down, on a card with few labels (pedals, 3) and one with many (X-55, 60). */
static void test_fidelity_check_catches_a_missing_or_shifted_label(void **state)
{
    (void)state;
    LPT_REQUIRE_SHARED();
    mrc_data *d = load_data();
    mrc_cards cards;
    mrc_log log = {0};
    parse_game(d, "fs2020", "", &cards, &log);
    mrc_text *t = mrc_text_new();
    const size_t which[] = {6, 0};
    for (size_t c = 0; c < 2; c++) {
        size_t i = which[c];
        long k = (long)(cards.cards[i].noverlays / 2);
        mrc_render_tweak drop = {k, -1, 0, 0, NULL};
        mrc_render_tweak right = {-1, k, 4, 0, NULL};
        mrc_render_tweak down = {-1, k, 0, 4, NULL};
        const mrc_render_tweak *tweaks[] = {&drop, &right, &down};
        for (size_t w = 0; w < 3; w++) {
            if (getenv("LP_SANITIZED") && w > 0)
                break;
            fidelity f = score(t, d, &cards, "fs2020", i, tweaks[w]);
            fprintf(stderr, "card %zu tweak %zu: whole %.4f label boxes %.4f worst label %.4f\n", i,
                    w, f.whole, f.boxes, f.worst_label);
            assert_false(fidelity_ok(&f));
        }
    }
    mrc_text_free(t);
    mrc_log_free(&log);
    mrc_cards_free(&cards);
    mrc_data_free(d);
}

/* The unsupported/ files name devices without an alias: reported, no card, no crash. PS4
 * is known (DualShock4) and still yields a card. */
static void test_unsupported_devices_are_reported(void **state)
{
    (void)state;
    LPT_REQUIRE_SHARED();
    mrc_data *d = load_data();
    mrc_cards cards;
    mrc_log log = {0};
    parse_game(d, "fs2020", "/unsupported", &cards, &log);
    assert_true(lpt_mrc_logged(&log, "FS2020 Unsupported device \"Saitek Pro Flight Yoke\""));
    assert_true(lpt_mrc_logged(&log, "FS2020 Unsupported device \"Mouse\""));
    size_t ncards = cards.count;
    mrc_cards_free(&cards);
    mrc_log_free(&log);
    parse_game(d, "sws", "/unsupported", &cards, &log);
    assert_int_equal(cards.count, 0);
    mrc_cards_free(&cards);
    mrc_log_free(&log);
    mrc_data_free(d);
    assert_true(ncards >= 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fs2020_cards_match_golden),
        cmocka_unit_test(test_sws_card_matches_golden),
        cmocka_unit_test(test_compact_copies_keep_fidelity),
        cmocka_unit_test(test_glyph_cache_is_exact),
        cmocka_unit_test(test_unsupported_devices_are_reported),
        cmocka_unit_test(test_fidelity_check_catches_a_missing_or_shifted_label),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
