/*
 * bindings.h - helpers shared by bindings.c, the games' parsers and input mappings
 * (game_*.c) and cards.c.
 */
#ifndef LP_SERVER_BINDINGS_H
#define LP_SERVER_BINDINGS_H

#include "server/mrc.h"

#define MRC_MAX_CAPS 8
typedef struct mrc_caps {
    char s[MRC_MAX_CAPS][256];  /* captured groups ("" when unset), truncated to 255 bytes */
    unsigned n;
} mrc_caps;

/* 1 on a match (first match, unanchored, like Go's FindAllStringSubmatch(...)[0]), 0 none
 * (or a match limit was hit), -1 out of memory (the request's budget refused). The match
 * is capped in backtracking steps, depth and heap by the thread's mrc_limits_enter (every
 * pattern is matched against one line or one name; real ones take a few hundred steps). */
int mrc_regex_match(const void *code, const char *subject, size_t len, mrc_caps *caps);
/* m[key] as a child map, created when absent. */
mrc_map *mrc_map_child(mrc_map *m, const char *key, bool *fail);
mrc_action_input *mrc_binds_action(mrc_map *actions, const char *name, bool *fail);
void mrc_binds_remove_action(mrc_map *actions, const char *name);
void mrc_set_str(char **slot, const char *value, size_t len, bool *fail);

#endif
