/*
 * game.h - what a game is to the card server, as data: a descriptor (lp_game) per game
 * with its name (which is also its routes: GET /NAME, POST /api/NAME and /v1/cards/NAME,
 * and its settings file DATA/config/NAME.yaml), its upload page's text, the YAML keys
 * and regex names its settings use, the parser from its binding files to the generic
 * bindings tree (profile -> device -> context -> action -> inputs), the mapping from its
 * input names to the device model's (the game-specific card rules), and its part of the
 * built-in demo data set.
 *
 * A descriptor is constant code and text, defined in the game's own file (game_NAME.c);
 * the games are listed in games.h. The generic server (config.c, demo.c, http.c, jobs.c,
 * cards.c) names no game: it walks the table or calls through the descriptor. A game's
 * settings in one data set (logo, compiled regexes, remapping table, action labels) are
 * an mrc_game (mrc.h), which points back to its descriptor.
 *
 * Hostile input: a parser reads upload bytes, so it follows the rules of bindings.h and
 * mrc.h (every allocation through mrc_malloc, bounded by mrc_limits, linear in the
 * upload) and has a libFuzzer harness (fuzz/).
 */
#ifndef LP_SERVER_GAME_H
#define LP_SERVER_GAME_H

#include "server/mrc.h"

/* Reads an upload's files into out (out->limits set by the caller): unknown devices and
 * inputs are logged and skipped; malformed files fail with LP_ERR_CORRUPT, files over a
 * limit with LP_ERR_LIMITS, a budget refusal with LP_ERR_NOMEM (bindings left to free
 * with mrc_binds_free in every case). */
typedef lp_status lp_game_parse_fn(const mrc_data *d, const mrc_file *files, size_t nfiles,
                                   mrc_binds *out, mrc_log *log, lp_error *err);

/* One input of a bound action, as a game's input mapping is asked about it. */
typedef struct lp_game_input {
    const mrc_game *game;    /* the game's settings in this data set */
    const char *device;      /* the device's short name ("X55Stick") */
    const mrc_map *inputs;   /* the device's label boxes (input -> mrc_box*), NULL if none */
    const char *input;       /* as the bindings name it; "" when the slot is not bound */
    int slot;                /* 0 primary, 1 secondary */
} lp_game_input;

/* A place where the game keeps its binding files, shown on its upload page. */
typedef struct lp_game_place {
    const char *label;          /* which version of the game: "Steam" */
    const char *path;           /* the folder, as the player's system spells it */
} lp_game_place;

struct lp_game {
    const char *name;           /* [a-z0-9_-], at most LP_GAME_NAME_MAX bytes: "fs2020" */
    const char *title;          /* the index's link and the upload page's heading */
    const char *file_kind;      /* what the index says is uploaded: ".xml input profiles" */
    const char *accept;         /* the upload form's file types: ".xml" */
    const char *upload_hint;    /* a sentence on the upload page: where the files are */
    const lp_game_place *places; /* the upload page's list of folders, ended by {NULL};
                                    NULL = none (the hint says it all) */
    const char *places_note;    /* a sentence under that list (NULL = none) */
    const char *input_map_key;  /* NAME.yaml's key of the device remapping table, read into
                                   mrc_game.input_map (its shape is the game's) */
    const char *const *regexes; /* NAME.yaml's Regexes: the names compiled, NULL-terminated,
                                   into mrc_game.regex[] in this order (at most
                                   MRC_GAME_REGEXES) */
    lp_game_parse_fn *parse;
    /* The device model's name of one input (written into out) for the card builder, or
     * false (the reason logged) when it is not drawn. NULL: the parser already wrote the
     * model's names, and an empty slot is not drawn. */
    bool (*map_input)(const lp_game_input *in, char *out, size_t size, mrc_log *log);
    /* The built-in demo data set (demo.c): the game's NAME.yaml for its one device, and
     * its logo, drawn as a gradient with a caption. */
    const char *demo_settings;
    const char *demo_logo_text;
    mrc_rgba demo_logo_from, demo_logo_to;
};

#define LP_GAME_NAME_MAX 31

/* Every game of games.h has its descriptor and parser; the parser's name lets the tests
 * and fuzzers call it directly. */
#define LP_GAME_DECLARE(name)                                                                \
    extern const lp_game lp_game_##name;                                                     \
    lp_game_parse_fn mrc_##name##_parse;
LP_GAMES(LP_GAME_DECLARE)

/* The table: the games of games.h in its order, then any added for a test. */
size_t lp_games_count(void);
const lp_game *lp_games_at(size_t i);
/* Whether g is a usable descriptor: a valid name that is not a fixed route (api, v1,
 * healthz, metrics) or another settings file (config, devices), the texts, a parser, demo
 * settings, at most MRC_GAME_REGEXES regexes. tests/test_serve_games.c checks the table's
 * games with it. */
lp_status lp_game_check(const lp_game *g, lp_error *err);
/* For tests only: adds g to the table (checked as above, its name unused so far, at most
 * LP_GAMES_MAX games). Data sets made afterwards have it; not thread-safe, so call it
 * before making data sets or servers. */
lp_status lp_games_add_for_test(const lp_game *g, lp_error *err);

/* The data set's settings of the game named name (n bytes of it) / of descriptor g, or
 * NULL when the data set has no such game. */
const mrc_game *mrc_data_game_named(const mrc_data *d, const char *name, size_t n);
const mrc_game *mrc_data_game(const mrc_data *d, const lp_game *g);

#endif
