/*
 * test_serve_games.c - the server's games are data (src/server/game.h, games.h): the table
 * is sound (valid unique names, a parser each, every game loaded into a data set and
 * reachable both by index and as d->NAME), the descriptor check refuses what would break
 * routing, every game's routes serve its pages and uploads, and the generic server files
 * name no game. Last, a toy game written here (a parser, an input mapping, its demo
 * settings: what a new game's file holds) is added to the table and served end to end, from
 * its YAML settings to a card fetched over HTTP, through the same path as the real ones.
 *
 * The toy game is added with lp_games_add_for_test, which only data sets and servers made
 * afterwards see; so its test runs last and the others check the table as built.
 */
#include "testutil.h"
#include "httpc.h"
#include "mrcutil.h"
#include "server/bindings.h"

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- the toy game: "action input" lines, inputs renamed by its ButtonMap ---- */
static const lp_game toy_game;

static lp_status toy_parse(const mrc_data *d, const mrc_file *files, size_t nfiles,
                           mrc_binds *out, mrc_log *log, lp_error *err)
{
    (void)log;
    const mrc_game *g = mrc_data_game(d, &toy_game);
    bool fail = false;
    mrc_map *devices = mrc_map_child(&out->profiles, MRC_PROFILE_DEFAULT, &fail);
    mrc_map *contexts = devices ? mrc_map_child(devices, "DemoStick", &fail) : NULL;
    mrc_map *actions = contexts ? mrc_map_child(contexts, "Toy", &fail) : NULL;
    mrc_map_put(&out->contexts, "Toy", (void *)1, &fail);
    for (size_t f = 0; f < nfiles && actions && !fail; f++) {
        const char *p = (const char *)files[f].data, *end = p + files[f].size;
        while (p < end && !fail) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            size_t len = (size_t)((nl ? nl : end) - p);
            mrc_caps c;
            if (mrc_regex_match(g->regex[0], p, len, &c) == 1) {
                mrc_action_input *a = mrc_binds_action(actions, c.s[1], &fail);
                if (a)
                    mrc_set_str(&a->in[0], c.s[2], strlen(c.s[2]), &fail);
            }
            p += len + 1;
        }
    }
    return fail ? lp_error_set(err, LP_ERR_NOMEM, "out of memory") : LP_OK;
}

static bool toy_map_input(const lp_game_input *in, char *out, size_t size, mrc_log *log)
{
    if (!in->input[0])
        return false;
    const char *model = mrc_node_str(mrc_map_get(&in->game->input_map, in->device), in->input,
                                     NULL);
    if (!model) {
        mrc_log_add(log, "toy unknown input %s", in->input);
        return false;
    }
    snprintf(out, size, "%s", model);
    return true;
}

static const char *const toy_regexes[] = {"Line", NULL};
static const lp_game toy_game = {
    .name = "toy",
    .title = "Toy Game",
    .file_kind = ".toy files",
    .accept = ".toy",
    .upload_hint = "Upload a .toy file.",
    .input_map_key = "ButtonMap",
    .regexes = toy_regexes,
    .parse = toy_parse,
    .map_input = toy_map_input,
    .demo_settings = "Logo: toylogo\n"
                     "Regexes:\n  Line: ^(\\w+)\\s+(\\w+)$\n"
                     "ButtonMap:\n  DemoStick: { b1: \"1\", hat_up: POV1Up }\n"
                     "InputLabels:\n  fire: \"Fire!\"\n  look: Look up\n",
    .demo_logo_text = "Toy",
    .demo_logo_from = {0, 0x80, 0, 255},
    .demo_logo_to = {0, 0x40, 0, 255},
};

static const char toy_upload[] = "fire b1\nlook hat_up\nnope b9\n";

/* ---- helpers ---- */
static lp_server *start_demo(void)
{
    lp_server_options o;
    lp_server_options_default(&o);
    o.listen = "127.0.0.1:0";
    lp_server *s = NULL;
    lp_error err = {0};
    lp_status st = lp_server_start(&s, &o, &err);
    if (st)
        fprintf(stderr, "server: %s\n", lp_error_message(&err));
    assert_int_equal(st, LP_OK);
    return s;
}

static void expect(uint16_t port, const char *method, const char *path, int status,
                   const char *needle)
{
    lpt_http_response r;
    assert_int_equal(lpt_http(port, method, path, NULL, NULL, 0, &r), status);
    if (needle && !strstr(r.body, needle)) {
        fprintf(stderr, "%s %s: '%s' not in the body:\n%.400s\n", method, path, needle, r.body);
        fail();
    }
    lpt_http_free(&r);
}

static const mrc_overlay *find_box(const mrc_card *c, int x, int y)
{
    for (size_t i = 0; i < c->noverlays; i++)
        if (c->overlays[i].box.x == x && c->overlays[i].box.y == y)
            return &c->overlays[i];
    return NULL;
}

/* ---- the table ---- */
static void test_table_is_sound(void **state)
{
    (void)state;
    assert_int_equal(lp_games_count(), LP_NGAMES);
    assert_true(LP_NGAMES >= 2);
    mrc_data *d = lpt_mrc_demo();
    assert_int_equal(d->ngames, LP_NGAMES);
    for (size_t i = 0; i < lp_games_count(); i++) {
        const lp_game *g = lp_games_at(i);
        lp_error err = {0};
        if (lp_game_check(g, &err)) {
            fprintf(stderr, "%s\n", lp_error_message(&err));
            fail();
        }
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(lp_games_at(j)->name, g->name);
        /* in the data set, at its index, found by name and by descriptor, with its settings
         * and every regex it names compiled */
        assert_ptr_equal(d->games[i].desc, g);
        assert_ptr_equal(mrc_data_game_named(d, g->name, strlen(g->name)), &d->games[i]);
        assert_ptr_equal(mrc_data_game(d, g), &d->games[i]);
        assert_non_null(d->games[i].logo);
        for (size_t k = 0; g->regexes[k]; k++)
            assert_non_null(d->games[i].regex[k]);
    }
    assert_null(lp_games_at(lp_games_count()));
    assert_null(mrc_data_game_named(d, "nogame", 6));
    assert_null(mrc_data_game_named(d, "", 0));
    /* the names of games.h are the slots of d->games (games.c also checks this at build) */
#define SAME_GAME(game) assert_ptr_equal(&d->game, &d->games[LP_GAME_INDEX_##game]);          \
    assert_string_equal(d->game.desc->name, #game);
    LP_GAMES(SAME_GAME)
#undef SAME_GAME
    mrc_data_free(d);
}

static void test_check_refuses_bad_descriptors(void **state)
{
    (void)state;
    static const char *const nine[] = {"a", "b", "c", "d", "e", "f", "g", "h", "i", NULL};
    lp_game g = toy_game;
    lp_error err = {0};
    assert_int_equal(lp_game_check(&g, &err), LP_OK);
    const char *bad_names[] = {"", "Toy", "a/b", "x.jpg", "metrics", "healthz", "api", "v1",
                               "config", "devices", "abcdefghijklmnopqrstuvwxyz0123456"};
    for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
        g = toy_game;
        g.name = bad_names[i];
        lp_error_clear(&err);
        assert_int_equal(lp_game_check(&g, &err), LP_ERR_INVALID_ARG);
    }
    g = toy_game;
    g.parse = NULL;
    assert_int_equal(lp_game_check(&g, &err), LP_ERR_INVALID_ARG);
    g = toy_game;
    g.demo_settings = NULL;
    assert_int_equal(lp_game_check(&g, &err), LP_ERR_INVALID_ARG);
    g = toy_game;
    g.regexes = nine;
    lp_error_clear(&err);
    assert_int_equal(lp_game_check(&g, &err), LP_ERR_INVALID_ARG);
    assert_non_null(strstr(err.message, "9 regexes"));
    assert_int_equal(lp_game_check(NULL, &err), LP_ERR_INVALID_ARG);
    /* a game already in the table is not added twice */
    g = toy_game;
    g.name = lp_games_at(0)->name;
    assert_int_equal(lp_games_add_for_test(&g, &err), LP_ERR_INVALID_ARG);
    assert_int_equal(lp_games_count(), LP_NGAMES);
}

/* Every game of the table has its link, its page and its upload routes. */
static void test_every_game_is_served(void **state)
{
    (void)state;
    lp_server *s = start_demo();
    uint16_t port = lp_server_port(s);
    for (size_t i = 0; i < lp_games_count(); i++) {
        const lp_game *g = lp_games_at(i);
        char path[64], needle[128];
        snprintf(needle, sizeof needle, "<a href=\"/%s\">%s</a>", g->name, g->title);
        expect(port, "GET", "/", 200, needle);
        snprintf(path, sizeof path, "/%s", g->name);
        snprintf(needle, sizeof needle, "action=\"/api/%s\"", g->name);
        expect(port, "GET", path, 200, needle);
        snprintf(needle, sizeof needle, "accept=\"%s\"", g->accept);
        expect(port, "GET", path, 200, needle);
        snprintf(path, sizeof path, "/api/%s", g->name);
        expect(port, "GET", path, 405, NULL);
        /* an upload reaches the game's parser: answered by it (cards or its error), not 404 */
        snprintf(path, sizeof path, "/v1/cards/%s", g->name);
        const void *files[] = {"x"};
        size_t sizes[] = {1};
        lpt_http_response r;
        int st = lpt_http_upload(port, path, files, sizes, 1, &r);
        if (st == 200) {
            snprintf(needle, sizeof needle, "{\"game\":\"%s\",", g->name);
            assert_non_null(strstr(r.body, needle));
        } else {
            assert_int_equal(st, 400);  /* "x" is not a file of the game */
        }
        lpt_http_free(&r);
    }
    expect(port, "GET", "/nogame", 404, NULL);
    expect(port, "POST", "/api/nogame", 404, NULL);
    lp_server_stop(s);
}

/* The generic server files (the .c files of src/server but the games' own game_NAME.c)
 * name no game of the table. */
static void test_generic_code_names_no_game(void **state)
{
    (void)state;
    const char *root = getenv("LP_SOURCE_DIR");
    if (!root) {
        skip();  /* set by ctest (tests/CMakeLists.txt) */
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/src/server", root);
    DIR *dp = opendir(dir);
    assert_non_null(dp);
    size_t files = 0, found = 0;
    for (struct dirent *e; (e = readdir(dp));) {
        size_t n = strlen(e->d_name);
        if (n < 3 || strcmp(e->d_name + n - 2, ".c") != 0 || strncmp(e->d_name, "game_", 5) == 0)
            continue;
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        size_t size;
        uint8_t *text = lpt_read_file(path, &size);
        assert_non_null(text);
        files++;
        for (size_t g = 0; g < lp_games_count(); g++) {
            const char *name = lp_games_at(g)->name;
            size_t len = strlen(name), line = 1;
            for (size_t at = 0; at + len <= size; at++) {
                line += text[at] == '\n';
                if (strncasecmp((const char *)text + at, name, len) != 0)
                    continue;
                bool word = (at == 0 || !isalnum(text[at - 1])) &&
                            (at + len == size || !isalnum(text[at + len]));
                if (word) {
                    fprintf(stderr, "%s:%zu names the game %s\n", path, line, name);
                    found++;
                }
            }
        }
        free(text);
    }
    closedir(dp);
    assert_true(files >= 10);
    assert_int_equal(found, 0);
}

/* ---- a new game through the same path: table entry, settings, parser, cards, routes ---- */
static void test_a_new_game_is_served(void **state)
{
    (void)state;
    lp_error err = {0};
    assert_int_equal(lp_games_add_for_test(&toy_game, &err), LP_OK);
    assert_int_equal(lp_games_count(), LP_NGAMES + 1);
    assert_int_equal(lp_games_add_for_test(&toy_game, &err), LP_ERR_INVALID_ARG);

    /* its settings are read from its demo YAML and its regex compiled */
    mrc_data *d = lpt_mrc_demo();
    const mrc_game *g = mrc_data_game(d, &toy_game);
    assert_non_null(g);
    assert_string_equal(g->logo, "toylogo");
    assert_non_null(g->regex[0]);
    assert_non_null(mrc_map_get(&g->input_map, "DemoStick"));

    /* its parser and input mapping make its card, with its labels, on the demo stick */
    mrc_file f = {(const uint8_t *)toy_upload, strlen(toy_upload)};
    mrc_binds b = {0};
    mrc_log log = {0};
    mrc_cards cards = {0};
    assert_int_equal(g->desc->parse(d, &f, 1, &b, &log, &err), LP_OK);
    assert_int_equal(mrc_build_cards(d, g, &b, &cards, &log, &err), LP_OK);
    assert_int_equal(cards.count, 1);
    assert_string_equal(cards.cards[0].image, "demostick");
    const mrc_overlay *fire = find_box(&cards.cards[0], 2500, 400);  /* input "1" */
    const mrc_overlay *look = find_box(&cards.cards[0], 140, 400);   /* POV1Up */
    assert_non_null(fire);
    assert_non_null(look);
    assert_string_equal(fire->ctx[0].context, "Toy");
    assert_string_equal(fire->ctx[0].texts[0], "Fire!");
    assert_string_equal(look->ctx[0].texts[0], "Look up");
    assert_int_equal(cards.cards[0].noverlays, 2);
    assert_true(lpt_mrc_logged(&log, "toy unknown input b9"));
    mrc_text *t = mrc_text_new();
    lp_buffer_image canvas = {0};
    assert_int_equal(mrc_render_card(t, d, &cards, 0, NULL, &canvas, NULL, &err), LP_OK);
    const uint8_t *logo = canvas.pixels + 50 * canvas.stride + 5 * 3;  /* its drawn logo */
    assert_true(logo[1] > 0x30 && logo[0] < 0x20 && logo[2] < 0x20);
    lp_buffer_image_free(&canvas);
    mrc_text_free(t);
    mrc_binds_free(&b);
    mrc_cards_free(&cards);
    mrc_log_free(&log);
    mrc_data_free(d);

    /* and the server serves it beside the others */
    lp_server *s = start_demo();
    uint16_t port = lp_server_port(s);
    expect(port, "GET", "/", 200, "<a href=\"/toy\">Toy Game</a> (.toy files)");
    expect(port, "GET", "/", 200, "POST /v1/cards/{");
    expect(port, "GET", "/toy", 200, "action=\"/api/toy\"");
    expect(port, "GET", "/toy", 200, "Upload a .toy file.");
    const void *files[] = {toy_upload};
    size_t sizes[] = {strlen(toy_upload)};
    lpt_http_response r;
    assert_int_equal(lpt_http_upload(port, "/v1/cards/toy", files, sizes, 1, &r), 200);
    assert_non_null(strstr(r.body, "{\"game\":\"toy\",\"cards\":[{\"url\":\"/v1/cards/"));
    assert_non_null(strstr(r.body, "toy unknown input b9"));
    const char *url = strstr(r.body, "/v1/cards/");
    char card[64];
    assert_int_equal(sscanf(url, "%63[^\"]", card), 1);
    lpt_http_free(&r);
    lpt_http_response jpeg;
    assert_int_equal(lpt_http(port, "GET", card, NULL, NULL, 0, &jpeg), 200);
    assert_true(jpeg.body_len > 1000);
    assert_true((uint8_t)jpeg.body[0] == 0xff && (uint8_t)jpeg.body[1] == 0xd8);
    lpt_http_free(&jpeg);
    assert_int_equal(lpt_http_upload(port, "/api/toy", files, sizes, 1, &r), 200);
    assert_non_null(strstr(r.body, "data:image/jpeg;base64,"));
    lpt_http_free(&r);
    expect(port, "GET", "/fs2020", 200, "action=\"/api/fs2020\"");  /* the others still are */
    lp_server_stop(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_is_sound),
        cmocka_unit_test(test_check_refuses_bad_descriptors),
        cmocka_unit_test(test_every_game_is_served),
        cmocka_unit_test(test_generic_code_names_no_game),
        cmocka_unit_test(test_a_new_game_is_served),  /* last: it adds a game to the table */
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
