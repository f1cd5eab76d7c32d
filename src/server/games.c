/*
 * games.c - the table of games (games.h lists them, game.h says what a game is): walked
 * by the generic server to load each game's settings, route its pages and uploads and
 * build its cards, and found by name in a data set.
 *
 * The table is constant; tests may add games behind it (lp_games_add_for_test) before
 * they make data sets, to show that a new game works through the same path.
 */
#include "server/game.h"

#include <stddef.h>
#include <string.h>

#define TABLE_ENTRY(name) &lp_game_##name,
static const lp_game *const table[] = {LP_GAMES(TABLE_ENTRY)};

/* d->NAME and d->games[LP_GAME_INDEX_NAME] must be the same settings (mrc.h's union) */
#define SAME_SLOT(name)                                                                      \
    _Static_assert(offsetof(mrc_data, name) ==                                               \
                       offsetof(mrc_data, games) + LP_GAME_INDEX_##name * sizeof(mrc_game),  \
                   "d->" #name " is not its slot of d->games");
LP_GAMES(SAME_SLOT)
_Static_assert(LP_NGAMES <= LP_GAMES_MAX, "more games than a data set holds");

static const lp_game *added[LP_GAMES_MAX - LP_NGAMES];
static size_t nadded;

size_t lp_games_count(void)
{
    return LP_NGAMES + nadded;
}

const lp_game *lp_games_at(size_t i)
{
    return i < LP_NGAMES ? table[i] : i < LP_NGAMES + nadded ? added[i - LP_NGAMES] : NULL;
}

lp_status lp_game_check(const lp_game *g, lp_error *err)
{
    /* fixed routes, and the data set's other YAML files (mrc_config_parse's which) */
    static const char *const fixed[] = {"api", "v1", "healthz", "metrics", "config", "devices"};
    const char *name = g && g->name ? g->name : "";
    size_t n = strlen(name);
    if (!n || n > LP_GAME_NAME_MAX || strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_-") != n)
        return lp_error_set(err, LP_ERR_INVALID_ARG, "game '%s': a name is 1 to %d of "
                            "[a-z0-9_-]", name, LP_GAME_NAME_MAX);
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        if (strcmp(name, fixed[i]) == 0)
            return lp_error_set(err, LP_ERR_INVALID_ARG, "game '%s': the name is taken by a "
                                "fixed route or settings file", name);
    if (!g->title || !g->file_kind || !g->accept || !g->upload_hint || !g->input_map_key ||
        !g->regexes || !g->parse || !g->demo_settings || !g->demo_logo_text)
        return lp_error_set(err, LP_ERR_INVALID_ARG, "game '%s': a text, the parser or the "
                            "demo settings are missing", name);
    size_t nregex = 0;
    while (g->regexes[nregex])
        nregex++;
    if (nregex > MRC_GAME_REGEXES)
        return lp_error_set(err, LP_ERR_INVALID_ARG, "game '%s': %zu regexes, at most %d", name,
                            nregex, MRC_GAME_REGEXES);
    return LP_OK;
}

lp_status lp_games_add_for_test(const lp_game *g, lp_error *err)
{
    lp_status st = lp_game_check(g, err);
    if (st)
        return st;
    for (size_t i = 0; i < lp_games_count(); i++)
        if (strcmp(lp_games_at(i)->name, g->name) == 0)
            return lp_error_set(err, LP_ERR_INVALID_ARG, "game '%s' is already in the table",
                                g->name);
    if (nadded == sizeof added / sizeof added[0])
        return lp_error_set(err, LP_ERR_LIMITS, "the table holds at most %d games", LP_GAMES_MAX);
    added[nadded++] = g;
    return LP_OK;
}

const mrc_game *mrc_data_game_named(const mrc_data *d, const char *name, size_t n)
{
    for (size_t i = 0; i < d->ngames; i++) {
        const char *own = d->games[i].desc->name;
        if (strncmp(own, name, n) == 0 && own[n] == 0)
            return &d->games[i];
    }
    return NULL;
}

const mrc_game *mrc_data_game(const mrc_data *d, const lp_game *g)
{
    for (size_t i = 0; i < d->ngames; i++)
        if (d->games[i].desc == g)
            return &d->games[i];
    return NULL;
}
