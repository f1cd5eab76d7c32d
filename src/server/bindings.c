/*
 * bindings.c - what the two binding parsers share: the bindings tree (profile -> device ->
 * context -> action -> inputs), PCRE2 matching with captures, and freeing.
 *
 * Memory: the tree holds one request's strings, allocated with mrc_malloc (counted in the
 * request's budget while the server has entered its scope). PCRE2's match data and its
 * backtracking frames come from the same counted allocator (a general context), and each
 * match is capped in steps, depth and heap so that no subject makes a match expensive.
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
    mrc_free(a->in[0]);
    mrc_free(a->in[1]);
    mrc_free(a);
}

static void free_actions(void *p)
{
    mrc_map_free(p, free_action);
    mrc_free(p);
}

static void free_contexts(void *p)
{
    mrc_map_free(p, free_actions);
    mrc_free(p);
}

static void free_devices(void *p)
{
    mrc_map_free(p, free_contexts);
    mrc_free(p);
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
    c = mrc_calloc(1, sizeof *c);
    if (!c) {
        *fail = true;
        return NULL;
    }
    return mrc_map_put_owned(m, key, c, mrc_free, fail) ? c : NULL;
}

mrc_action_input *mrc_binds_action(mrc_map *actions, const char *name, bool *fail)
{
    mrc_action_input *a = mrc_map_get(actions, name);
    if (a)
        return a;
    a = mrc_calloc(1, sizeof *a);
    if (!a || !(a->in[0] = mrc_strdup("")) || !(a->in[1] = mrc_strdup(""))) {
        free_action(a);
        *fail = true;
        return NULL;
    }
    return mrc_map_put_owned(actions, name, a, free_action, fail) ? a : NULL;
}

void mrc_binds_remove_action(mrc_map *actions, const char *name)
{
    /* the map has no delete: an action with no input is skipped when cards are built */
    mrc_action_input *a = mrc_map_get(actions, name);
    if (a) {
        bool fail = false;
        mrc_set_str(&a->in[0], "", 0, &fail);
    }
}

void mrc_set_str(char **slot, const char *value, size_t len, bool *fail)
{
    char *copy = mrc_strndup(value, len);
    if (!copy) {
        *fail = true;
        return;
    }
    mrc_free(*slot);
    *slot = copy;
}

unsigned mrc_limit_xml_depth(const mrc_limits *l)
{
    return l && l->max_xml_depth ? l->max_xml_depth : lp_server_defaults()->max_xml_depth;
}

unsigned mrc_limit_input_labels(const mrc_limits *l)
{
    return l && l->max_input_labels ? l->max_input_labels : lp_server_defaults()->max_input_labels;
}

unsigned mrc_limit_card_labels(const mrc_limits *l)
{
    return l && l->max_card_labels ? l->max_card_labels : lp_server_defaults()->max_card_labels;
}

uint64_t mrc_limit_profile_line(const mrc_limits *l)
{
    return l && l->max_profile_line ? l->max_profile_line : lp_server_defaults()->max_profile_line;
}

mrc_limits mrc_limits_of(const lp_server_options *o)
{
    return (mrc_limits){.max_xml_depth = o->max_xml_depth,
                        .max_input_labels = o->max_input_labels,
                        .max_card_labels = o->max_card_labels,
                        .max_profile_line = o->max_profile_line,
                        .regex_match_limit = o->regex_match_limit,
                        .regex_depth_limit = o->regex_depth_limit,
                        .regex_heap = o->regex_heap,
                        .max_yaml_size = o->max_yaml_size,
                        .max_yaml_depth = o->max_yaml_depth,
                        .max_yaml_nodes = o->max_yaml_nodes,
                        .max_yaml_steps = o->max_yaml_steps};
}

static _Thread_local const mrc_limits *scope_limits;

mrc_limits mrc_limits_of_scope(void)
{
    mrc_limits d = mrc_limits_of(lp_server_defaults());
    const mrc_limits *l = scope_limits;
    if (!l)
        return d;
#define PICK(f) .f = l->f ? l->f : d.f
    return (mrc_limits){PICK(max_xml_depth),    PICK(max_input_labels),  PICK(max_card_labels),
                        PICK(max_profile_line), PICK(regex_match_limit), PICK(regex_depth_limit),
                        PICK(regex_heap),       PICK(max_yaml_size),     PICK(max_yaml_depth),
                        PICK(max_yaml_nodes),   PICK(max_yaml_steps)};
#undef PICK
}

const mrc_limits *mrc_limits_enter(const mrc_limits *l)
{
    const mrc_limits *previous = scope_limits;
    scope_limits = l;
    return previous;
}

void mrc_limits_leave(const mrc_limits *previous)
{
    scope_limits = previous;
}

/* PCRE2 allocates through these, so match data and heap frames are charged to the
 * calling thread's scope (the request) like the rest of the parse. */
static void *pcre_malloc(PCRE2_SIZE size, void *data)
{
    (void)data;
    return mrc_malloc(size);
}

static void pcre_free(void *p, void *data)
{
    (void)data;
    mrc_free(p);
}

/* One general and one match context for every thread (read-only once made; pcre2_match
 * takes them const): the limits cap backtracking steps, recursion depth and the heap
 * frames of one match (the regex-* options, defaults in options.c), so that a hostile
 * line can neither keep a worker busy for seconds nor take memory. Set once under
 * pthread_once with the defaults; a scope with other limits gets its own context for
 * each match (one small counted allocation). */
static pcre2_general_context *general_ctx;
static pcre2_match_context *limits_ctx;
static pthread_once_t limits_once = PTHREAD_ONCE_INIT;

static void make_limits(void)
{
    lp_mem *outer = mrc_mem_enter(NULL);  /* made once for the process: not the request's */
    general_ctx = pcre2_general_context_create(pcre_malloc, pcre_free, NULL);
    limits_ctx = general_ctx ? pcre2_match_context_create(general_ctx) : NULL;
    if (limits_ctx) {
        const lp_server_options *d = lp_server_defaults();
        pcre2_set_match_limit(limits_ctx, d->regex_match_limit);
        pcre2_set_depth_limit(limits_ctx, d->regex_depth_limit);
        pcre2_set_heap_limit(limits_ctx, (uint32_t)(d->regex_heap >> 10));
    }
    mrc_mem_leave(outer);
}

/* The scope's limits as numbers PCRE2 takes; true when they are not the defaults that
 * limits_ctx has. */
static bool scope_regex_limits(uint32_t *steps, uint32_t *depth, uint32_t *heap_kib)
{
    const lp_server_options *d = lp_server_defaults();
    if (!scope_limits)
        return false;
    mrc_limits l = mrc_limits_of_scope();
    *steps = l.regex_match_limit;
    *depth = l.regex_depth_limit;
    *heap_kib = l.regex_heap >> 10 > UINT32_MAX ? UINT32_MAX
                : l.regex_heap >> 10            ? (uint32_t)(l.regex_heap >> 10)
                                                : 1;
    return *steps != d->regex_match_limit || *depth != d->regex_depth_limit ||
           *heap_kib != (uint32_t)(d->regex_heap >> 10);
}

int mrc_regex_match(const void *code, const char *subject, size_t len, mrc_caps *caps)
{
    pthread_once(&limits_once, make_limits);
    caps->n = 0;
    if (!limits_ctx)
        return -1;
    uint32_t steps, depth, heap_kib;
    pcre2_match_context *own = NULL;
    if (scope_regex_limits(&steps, &depth, &heap_kib)) {
        if (!(own = pcre2_match_context_copy(limits_ctx)))
            return -1;
        pcre2_set_match_limit(own, steps);
        pcre2_set_depth_limit(own, depth);
        pcre2_set_heap_limit(own, heap_kib);
    }
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(code, general_ctx);
    if (!md) {
        pcre2_match_context_free(own);
        return -1;
    }
    int rc = pcre2_match(code, (PCRE2_SPTR)subject, len, 0, 0, md, own ? own : limits_ctx);
    pcre2_match_context_free(own);
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
    return rc > 0 ? 1 : rc == PCRE2_ERROR_NOMEMORY ? -1 : 0;
}
