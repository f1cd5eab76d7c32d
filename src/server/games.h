/*
 * games.h - the games `leanpix serve` knows: the table, one X(name) each.
 *
 * A game NAME is one file, src/server/game_NAME.c, which defines its descriptor
 * `const lp_game lp_game_NAME` (game.h) and its parser mrc_NAME_parse; its settings are
 * DATA/config/NAME.yaml. This list makes the rest: the table of descriptors (games.c),
 * their declarations (game.h) and each data set's slot for the game's settings, also
 * reachable by name as d->NAME (mrc.h), so that adding a game is that file plus a word
 * here. This header names the games and nothing else; it has no types, so that mrc.h can
 * include it before its own.
 */
#ifndef LP_SERVER_GAMES_H
#define LP_SERVER_GAMES_H

#define LP_GAMES(X) X(fs2020) X(sws)

/* The table's order: d->games[LP_GAME_INDEX_NAME] is d->NAME. */
#define LP_GAME_INDEX_ENUM(name) LP_GAME_INDEX_##name,
enum { LP_GAMES(LP_GAME_INDEX_ENUM) LP_NGAMES };

/* The most games a data set holds: the table's, and room for the games a test adds
 * (lp_games_add_for_test) to show that a new game works through the same path. */
#define LP_GAMES_MAX 8

#endif
