/*
 * cards.c - from parsed bindings to cards: which texts go into which box of which image.
 *
 * As the original: each bound action's inputs are mapped to the device model's by the
 * game's input mapping (game.h: lp_game.map_input; a game whose parser already wrote the
 * model's names has none); the text is the game's label for the action (or the action
 * name, reported); texts are grouped per box
 * ("device:input", several devices may share one image), per context, sorted. Contexts get
 * colours in sorted order, cycling through the palette. Cards come sorted by profile and
 * image name (the original's response order).
 *
 * Work is linear in the bindings: each action is looked at once, each label is placed with
 * hash-map lookups, and a context's colour is found by binary search in the upload's
 * sorted context list (made once per upload, not once per box). What one upload can put on
 * a card is bounded: at most mrc_limits.max_input_labels labels in one input's box and
 * max_card_labels on one card, kept in sorted context and action order; what is left out
 * is said in the request's log.
 *
 * Memory: per-request structures from mrc_malloc (counted in the request's budget while
 * the server has entered its scope), freed by mrc_cards_free.
 */
#define _GNU_SOURCE
#include "server/bindings.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- overlays being collected: image -> "device:input" -> ctx -> texts ---- */
typedef struct ov_build {
    mrc_box box;
    mrc_map contexts;  /* context -> str_list* */
    size_t labels;     /* texts held (at most the per-input limit) */
    size_t dropped;    /* texts over the per-input limit */
} ov_build;

typedef struct str_list {
    char **items;
    size_t n, cap;
} str_list;

static void free_str_list(void *p)
{
    str_list *l = p;
    for (size_t i = 0; l && i < l->n; i++)
        mrc_free(l->items[i]);
    if (l)
        mrc_free(l->items);
    mrc_free(l);
}

static void free_ov_build(void *p)
{
    ov_build *o = p;
    if (o)
        mrc_map_free(&o->contexts, free_str_list);
    mrc_free(o);
}

static void free_ov_image(void *p)
{
    mrc_map_free(p, free_ov_build);
    mrc_free(p);
}

static void free_ov_profile(void *p)
{
    mrc_map_free(p, free_ov_image);
    mrc_free(p);
}

typedef struct build_ctx {
    const mrc_data *d;
    const mrc_game *game;
    mrc_log *log;
    const char **contexts;  /* every context of the upload, sorted (colour = index) */
    size_t ncontexts;
    unsigned input_cap, card_cap;
    uint64_t work;
    bool fail;
} build_ctx;

static void add_text(build_ctx *b, mrc_map *images, const char *image, const char *device,
                     const char *input, const mrc_box *box, const char *context, const char *text)
{
    bool *fail = &b->fail;
    b->work++;
    mrc_map *by_input = mrc_map_child(images, image, fail);
    if (!by_input)
        return;
    char key[1400];
    if (snprintf(key, sizeof key, "%s:%s", device, input) >= (int)sizeof key)
        return;
    ov_build *o = mrc_map_get(by_input, key);
    if (!o) {
        if (!(o = mrc_calloc(1, sizeof *o))) {
            *fail = true;
            return;
        }
        o->box = *box;
        if (!mrc_map_put_owned(by_input, key, o, free_ov_build, fail))
            return;
    }
    if (o->labels >= b->input_cap) {  /* contexts and actions come sorted: the first stay */
        o->dropped++;
        return;
    }
    str_list *l = mrc_map_get(&o->contexts, context);
    if (!l) {
        if (!(l = mrc_calloc(1, sizeof *l))) {
            *fail = true;
            return;
        }
        if (!mrc_map_put_owned(&o->contexts, context, l, free_str_list, fail))
            return;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        char **items = mrc_realloc(l->items, cap * sizeof *items);
        if (!items) {
            *fail = true;
            return;
        }
        l->items = items;
        l->cap = cap;
    }
    if (!(l->items[l->n] = mrc_strdup(text))) {
        *fail = true;
    } else {
        l->n++;
        o->labels++;
    }
}

static void add_action(build_ctx *b, mrc_map *images, const char *device, const mrc_map *inputs,
                       const char *image, const char *context, const char *action,
                       const mrc_action_input *in)
{
    char lookups[2][1100];
    int n = 0;
    b->work++;
    for (int k = 0; k < 2; k++) {
        if (b->game->desc->map_input) {
            lp_game_input q = {b->game, device, inputs, in->in[k], k};
            if (b->game->desc->map_input(&q, lookups[n], sizeof lookups[0], b->log))
                n++;
        } else if (in->in[k][0]) {
            snprintf(lookups[n++], sizeof lookups[0], "%s", in->in[k]);
        }
    }
    const char *label = mrc_map_get(&b->game->labels, action);
    if (!label && n > 0) {
        mrc_log_add(b->log, "%s label not found. %s context %s device %s", b->game->desc->name,
                    action, context, device);
        label = action;
    }
    for (int k = 0; k < n; k++) {
        const mrc_box *box = inputs ? mrc_map_get(inputs, lookups[k]) : NULL;
        if (!box) {
            mrc_log_add(b->log, "%s unknown input to lookup %s for device %s", b->game->desc->name,
                        lookups[k], device);
            continue;
        }
        if (box->x == 0 && box->y == 0)
            continue;
        add_text(b, images, image, device, lookups[k], box, context, label);
    }
}

static void add_device(build_ctx *b, mrc_map *images, const char *device, mrc_map *contexts)
{
    const mrc_map *inputs = mrc_map_get(&b->d->devices, device);
    const char *image = mrc_map_get(&b->d->image_map, device);
    if (!inputs)
        mrc_log_add(b->log, "device not found in config %s", device);
    if (!image || !*image) {
        mrc_log_add(b->log, "%s: no image for device %s", b->game->desc->name, device);
        return;
    }
    size_t nc;
    const char **ctx = mrc_map_sorted_keys(contexts, &nc);
    for (size_t i = 0; ctx && i < nc; i++) {
        mrc_map *actions = mrc_map_get(contexts, ctx[i]);
        size_t na;
        const char **act = mrc_map_sorted_keys(actions, &na);
        for (size_t j = 0; act && j < na; j++)
            add_action(b, images, device, inputs, image, ctx[i], act[j], mrc_map_get(actions, act[j]));
        free(act);
    }
    free(ctx);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_key(const void *key, const void *elem)
{
    return strcmp(key, *(char *const *)elem);
}

/* The context's colour: its index in the upload's sorted contexts, cycling the palette. */
static mrc_rgba context_colour(build_ctx *b, const char *context)
{
    b->work++;
    const char **at = bsearch(context, b->contexts, b->ncontexts, sizeof *b->contexts, cmp_key);
    size_t idx = at ? (size_t)(at - b->contexts) : b->ncontexts;
    return b->d->colours[idx % b->d->ncolours];
}

/* Moves an input's texts into out, keeping at most *room of them (the card's remaining
 * allowance, decreased here); returns false when out of memory. */
static bool finish_overlay(build_ctx *b, ov_build *o, mrc_overlay *out, size_t *room,
                           size_t *dropped)
{
    out->box = o->box;
    size_t n;
    const char **ctx = mrc_map_sorted_keys(&o->contexts, &n);
    out->ctx = mrc_calloc(n ? n : 1, sizeof *out->ctx);
    if (!ctx || !out->ctx) {
        free(ctx);
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        str_list *l = mrc_map_get(&o->contexts, ctx[i]);
        size_t keep = l->n < *room ? l->n : *room;
        *dropped += l->n - keep;
        if (!keep)
            continue;  /* the card is full: the list is freed with the build */
        struct mrc_overlay_ctx *c = &out->ctx[out->ncontexts];
        if (!(c->context = mrc_strdup(ctx[i]))) {
            free(ctx);
            return false;
        }
        out->ncontexts++;
        c->colour = context_colour(b, ctx[i]);
        qsort(l->items, l->n, sizeof *l->items, cmp_str);
        for (size_t k = keep; k < l->n; k++)
            mrc_free(l->items[k]);
        c->texts = l->items;  /* take the strings */
        c->ntexts = keep;
        l->items = NULL;
        l->n = 0;
        *room -= keep;
    }
    free(ctx);
    return true;
}

static bool add_card(build_ctx *b, mrc_card *c, const char *profile, const char *image,
                     mrc_map *by_input)
{
    memset(c, 0, sizeof *c);
    c->profile = mrc_strdup(profile);
    c->image = mrc_strdup(image);
    size_t nk;
    const char **keys = mrc_map_sorted_keys(by_input, &nk);
    c->overlays = mrc_calloc(nk ? nk : 1, sizeof *c->overlays);
    bool ok = keys && c->overlays && c->profile && c->image;
    size_t room = b->card_cap, over_card = 0;
    for (size_t k = 0; ok && k < nk; k++) {
        ov_build *o = mrc_map_get(by_input, keys[k]);
        if (o->dropped)
            mrc_log_add(b->log, "card %s (%s): input %s has %zu labels, the first %u are drawn "
                        "(the limit per input)", image, profile, keys[k], o->labels + o->dropped,
                        b->input_cap);
        mrc_overlay *ov = &c->overlays[c->noverlays++];
        ok = finish_overlay(b, o, ov, &room, &over_card);
        if (ok && !ov->ncontexts) {  /* the card was full: no empty box */
            mrc_free(ov->ctx);
            memset(ov, 0, sizeof *ov);
            c->noverlays--;
        }
    }
    if (ok && over_card)
        mrc_log_add(b->log, "card %s (%s): %zu labels over the limit of %u per card are not "
                    "drawn", image, profile, over_card, b->card_cap);
    free(keys);
    return ok;
}

static bool add_cards(build_ctx *b, const char *profile, mrc_map *images, mrc_cards *out)
{
    size_t ni;
    const char **names = mrc_map_sorted_keys(images, &ni);
    if (!names)
        return false;
    mrc_card *cards = mrc_realloc(out->cards, (out->count + ni + 1) * sizeof *cards);
    if (!cards) {
        free(names);
        return false;
    }
    out->cards = cards;
    bool ok = true;
    for (size_t i = 0; ok && i < ni; i++)
        ok = add_card(b, &out->cards[out->count++], profile, names[i],
                      mrc_map_get(images, names[i]));
    free(names);
    return ok;
}

lp_status mrc_build_cards(const mrc_data *d, const mrc_game *game, const mrc_binds *binds,
                          mrc_cards *out, mrc_log *log, lp_error *err)
{
    memset(out, 0, sizeof *out);
    out->game = game;
    build_ctx b = {.d = d, .game = game, .log = log,
                   .input_cap = mrc_limit_input_labels(binds->limits),
                   .card_cap = mrc_limit_card_labels(binds->limits)};
    mrc_map by_profile = {0};  /* profile -> image -> key -> ov_build */
    b.contexts = mrc_map_sorted_keys(&binds->contexts, &b.ncontexts);
    size_t np;
    const char **profiles = mrc_map_sorted_keys(&binds->profiles, &np);
    if (!b.contexts || !profiles)
        b.fail = true;
    for (size_t p = 0; profiles && p < np && !b.fail; p++) {
        mrc_map *devices = mrc_map_get(&binds->profiles, profiles[p]);
        mrc_map *images = mrc_map_child(&by_profile, profiles[p], &b.fail);
        size_t nd;
        const char **devs = mrc_map_sorted_keys(devices, &nd);
        for (size_t i = 0; devs && images && i < nd; i++)
            add_device(&b, images, devs[i], mrc_map_get(devices, devs[i]));
        free(devs);
        if (images && !b.fail && !add_cards(&b, profiles[p], images, out))
            b.fail = true;
    }
    free(profiles);
    free(b.contexts);
    out->work = b.work;
    mrc_map_free(&by_profile, free_ov_profile);
    if (b.fail) {
        mrc_cards_free(out);
        return lp_error_set(err, LP_ERR_NOMEM, "out of memory building cards (they do not "
                                               "fit in the memory budget)");
    }
    return LP_OK;
}

void mrc_cards_free(mrc_cards *c)
{
    for (size_t i = 0; c->cards && i < c->count; i++) {
        mrc_card *card = &c->cards[i];
        for (size_t o = 0; o < card->noverlays; o++) {
            for (size_t k = 0; k < card->overlays[o].ncontexts; k++) {
                struct mrc_overlay_ctx *x = &card->overlays[o].ctx[k];
                for (size_t t = 0; t < x->ntexts; t++)
                    mrc_free(x->texts[t]);
                mrc_free(x->texts);
                mrc_free(x->context);
            }
            mrc_free(card->overlays[o].ctx);
        }
        mrc_free(card->overlays);
        mrc_free(card->profile);
        mrc_free(card->image);
    }
    mrc_free(c->cards);
    memset(c, 0, sizeof *c);
}
