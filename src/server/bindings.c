/*
 * bindings.c - what the two binding parsers share: the bindings tree (profile -> device ->
 * context -> action -> inputs), PCRE2 matching with captures, and freeing.
 *
 * Memory: the tree holds small strings for one request; it is freed with the request.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "server/bindings.h"

#include <pcre2.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static void free_action(void *p)
{
    mrc_action_input *a = p;
    if (!a)
        return;
    free(a->in[0]);
    free(a->in[1]);
    free(a);
}

static void free_actions(void *p)
{
    mrc_map_free(p, free_action);
    free(p);
}

static void free_contexts(void *p)
{
    mrc_map_free(p, free_actions);
    free(p);
}

static void free_devices(void *p)
{
    mrc_map_free(p, free_contexts);
    free(p);
}

void mrc_binds_free(mrc_binds *b)
{
    mrc_map_free(&b->profiles, free_devices);
    mrc_map_free(&b->contexts, NULL);
}

mrc_map *mrc_map_child(mrc_map *m, const char *key, bool *fail)
{
    mrc_map *c = mrc_map_get(m, key);
    if (c)
        return c;
    c = calloc(1, sizeof *c);
    if (!c) {
        *fail = true;
        return NULL;
    }
    mrc_map_put(m, key, c, fail);
    return c;
}

mrc_action_input *mrc_binds_action(mrc_map *actions, const char *name, bool *fail)
{
    mrc_action_input *a = mrc_map_get(actions, name);
    if (a)
        return a;
    a = calloc(1, sizeof *a);
    if (!a || !(a->in[0] = strdup("")) || !(a->in[1] = strdup(""))) {
        free_action(a);
        *fail = true;
        return NULL;
    }
    mrc_map_put(actions, name, a, fail);
    return a;
}

void mrc_binds_remove_action(mrc_map *actions, const char *name)
{
    /* the map has no delete: an action with no input is skipped when cards are built */
    mrc_action_input *a = mrc_map_get(actions, name);
    if (a) {
        free(a->in[0]);
        a->in[0] = strdup("");
    }
}

void mrc_set_str(char **slot, const char *value, size_t len, bool *fail)
{
    char *copy = strndup(value, len);
    if (!copy) {
        *fail = true;
        return;
    }
    free(*slot);
    *slot = copy;
}

/* One match context for every thread (read-only once made; pcre2_match takes it const):
 * it caps backtracking so that a hostile line cannot keep a worker busy for seconds.
 * This is the module's only global, set once under pthread_once. */
static pcre2_match_context *limits_ctx;
static pthread_once_t limits_once = PTHREAD_ONCE_INIT;

static void make_limits(void)
{
    limits_ctx = pcre2_match_context_create(NULL);
    if (limits_ctx) {
        pcre2_set_match_limit(limits_ctx, 100000);
        pcre2_set_depth_limit(limits_ctx, 10000);
    }
}

int mrc_regex_match(const void *code, const char *subject, size_t len, mrc_caps *caps)
{
    pthread_once(&limits_once, make_limits);
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(code, NULL);
    if (!md)
        return -1;
    int rc = pcre2_match(code, (PCRE2_SPTR)subject, len, 0, 0, md, limits_ctx);
    caps->n = 0;
    if (rc > 0) {
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        uint32_t pairs = pcre2_get_ovector_count(md);
        for (uint32_t i = 0; i < pairs && i < MRC_MAX_CAPS; i++) {
            size_t n = 0;
            if (ov[2 * i] != PCRE2_UNSET && ov[2 * i + 1] >= ov[2 * i]) {
                n = ov[2 * i + 1] - ov[2 * i];
                if (n >= sizeof caps->s[i])
                    n = sizeof caps->s[i] - 1;
                memcpy(caps->s[i], subject + ov[2 * i], n);
            }
            caps->s[i][n] = 0;
            caps->n = i + 1;
        }
    }
    pcre2_match_data_free(md);
    return rc > 0 ? 1 : 0;
}
