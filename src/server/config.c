/*
 * config.c - the data set's YAML files, read with libyaml's document loader: config.yaml
 * (layout constants and colours), devices.yaml over generatedDevices.yaml (label boxes per
 * device input, image names, device name aliases, header labels, image size overrides),
 * and one NAME.yaml per game of the table (game.h): its logo, the regexes its descriptor
 * names, its input remapping table under the descriptor's key, its action labels.
 *
 * Memory: the YAML document tree lives only while one file is read; what we keep is
 * copied into mrc_data's maps (a few hundred kB for the whole shared data set), which is
 * then read-only and shared by all threads. The regexes are compiled once with PCRE2 in
 * mrc_data_finish(); match data is allocated per match by the callers.
 *
 * The files are the operator's, but mrc_config_parse is also a fuzzing target, so it is
 * bounded like an upload parser: libyaml has no allocator hooks, so before the document
 * is loaded the text's size, nesting depth and node count are checked with libyaml's
 * event parser (memory proportional to the depth reached, nothing kept), and the walk
 * over the loaded document has a budget of steps (MRC_YAML_MAX_STEPS) and a depth limit.
 * Aliases are references in libyaml's document, so a "billion laughs" document is small
 * once loaded but exponential (or, with an alias to its own ancestor, infinite) to walk;
 * the step budget and the depth limit refuse it after a bounded amount of work.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "server/mrc.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

mrc_data *mrc_data_new_empty(void)
{
    mrc_data *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    pthread_mutex_init(&d->asset_lock, NULL);
    d->ngames = lp_games_count();
    for (size_t i = 0; i < d->ngames; i++)
        d->games[i].desc = lp_games_at(i);
    return d;
}

bool mrc_parse_colour(const char *hex, mrc_rgba *out)
{
    unsigned v[4] = {0, 0, 0, 255};
    if (!hex || hex[0] != '#')
        return false;
    size_t n = strlen(hex + 1);
    if (n != 6 && n != 8)
        return false;
    for (size_t i = 0; i < n / 2; i++) {
        char part[3] = {hex[1 + 2 * i], hex[2 + 2 * i], 0};
        char *end;
        v[i] = (unsigned)strtoul(part, &end, 16);
        if (*end)
            return false;
    }
    *out = (mrc_rgba){(uint8_t)v[0], (uint8_t)v[1], (uint8_t)v[2], (uint8_t)v[3]};
    return true;
}

/* ---- libyaml document helpers ---- */
typedef struct ydoc {
    yaml_document_t doc;
    uint64_t steps;      /* pairs and nodes visited so far */
    bool over;           /* the step budget or the depth limit was hit */
    const char *bad_number; /* the key of a number that is not finite or out of range */
} ydoc;

/* One step of the walk; false (and the document refused) once the budget is spent. */
static bool ystep(ydoc *y)
{
    if (++y->steps > MRC_YAML_MAX_STEPS)
        y->over = true;
    return !y->over;
}

static yaml_node_t *ynode(ydoc *y, int id)
{
    return id ? yaml_document_get_node(&y->doc, id) : NULL;
}

static const char *yscalar(yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static yaml_node_t *yget(ydoc *y, yaml_node_t *map, const char *key)
{
    if (!map || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
         p < map->data.mapping.pairs.top && ystep(y); p++) {
        const char *k = yscalar(ynode(y, p->key));
        if (k && strcmp(k, key) == 0)
            return ynode(y, p->value);
    }
    return NULL;
}

static const char *yget_str(ydoc *y, yaml_node_t *map, const char *key)
{
    return yscalar(yget(y, map, key));
}

/* Every number of the data set is a coordinate in a 3840x2160 space, a size, a quality or a
 * multiplier: anything beyond this is a mistake, and casting it to int would be undefined. */
#define MRC_YAML_MAX_NUMBER 1e6

static double yget_num(ydoc *y, yaml_node_t *map, const char *key, double dflt)
{
    const char *s = yget_str(y, map, key);
    if (!s)
        return dflt;
    double v = strtod(s, NULL);
    if (!isfinite(v) || v > MRC_YAML_MAX_NUMBER || v < -MRC_YAML_MAX_NUMBER) {
        y->bad_number = key;
        return dflt;
    }
    return v;
}

static char *dupstr(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* *slot = a copy of s (or NULL), freeing what was there: a file read twice leaks nothing */
static void set_str(char **slot, const char *s)
{
    free(*slot);
    *slot = dupstr(s);
}

/* The map expression is evaluated once (it is often a yget, itself a walk). */
#define FOR_PAIRS(y, map, k, v)                                                              \
    for (yaml_node_t *m_ = (map); m_ && m_->type == YAML_MAPPING_NODE; m_ = NULL)           \
        for (yaml_node_pair_t *p_ = m_->data.mapping.pairs.start;                            \
             p_ < m_->data.mapping.pairs.top && ystep(y); p_++)                              \
            for (const char *k = yscalar(ynode(y, p_->key)); k; k = NULL)                    \
                for (yaml_node_t *v = ynode(y, p_->value); v; v = NULL)

static void put_string(mrc_map *m, const char *k, const char *v, bool *fail)
{
    char *copy = dupstr(v ? v : "");
    if (!copy) {
        *fail = true;
        return;
    }
    mrc_map_put_owned(m, k, copy, free, fail);
}

static void read_string_map(ydoc *y, yaml_node_t *map, mrc_map *out, bool *fail)
{
    FOR_PAIRS(y, map, k, v) put_string(out, k, yscalar(v), fail);
}

static void read_box(ydoc *y, yaml_node_t *n, mrc_box *b)
{
    b->x = (int)yget_num(y, n, "x", 0);
    b->y = (int)yget_num(y, n, "y", 0);
    b->w = (int)yget_num(y, n, "w", 0);
    b->h = (int)yget_num(y, n, "h", 0);
}

static void free_box_map(void *m)
{
    mrc_map_free(m, free);
    free(m);
}

/* short -> input -> box; later files override single inputs (devices.yaml over generated). */
static void read_device_map(ydoc *y, yaml_node_t *map, mrc_map *devices, bool *fail)
{
    FOR_PAIRS(y, map, shortname, inputs) {
        mrc_map *dev = mrc_map_get(devices, shortname);
        if (!dev) {
            dev = calloc(1, sizeof *dev);
            if (!dev) {
                *fail = true;
                return;
            }
            mrc_map_put_owned(devices, shortname, dev, free_box_map, fail);
            if (*fail)
                return;
        }
        FOR_PAIRS(y, inputs, input, boxnode) {
            mrc_box *b = malloc(sizeof *b);
            if (!b) {
                *fail = true;
                return;
            }
            read_box(y, boxnode, b);
            mrc_map_put_owned(dev, input, b, free, fail);
        }
    }
}

static void read_header(ydoc *y, yaml_node_t *h, mrc_header_style *s)
{
    set_str(&s->font, yget_str(y, h, "Font"));
    s->font_size = yget_num(y, h, "FontSize", 90);
    yaml_node_t *inset = yget(y, h, "Inset");
    s->inset_x = yget_num(y, inset, "x", 50);
    s->inset_y = yget_num(y, inset, "y", 100);
    s->bg_height = yget_num(y, h, "BackgroundHeight", 200);
    mrc_parse_colour(yget_str(y, h, "TextColour"), &s->text);
    mrc_parse_colour(yget_str(y, h, "BackgroundColour"), &s->bg);
}

static void read_watermark(ydoc *y, yaml_node_t *w, mrc_watermark_style *s)
{
    set_str(&s->label, yget_str(y, w, "Text"));
    set_str(&s->font, yget_str(y, w, "Font"));
    s->font_size = yget_num(y, w, "FontSize", 44);
    yaml_node_t *loc = yget(y, w, "Location");
    s->x = yget_num(y, loc, "x", 50);
    s->y = yget_num(y, loc, "y", 136);
    mrc_parse_colour(yget_str(y, w, "TextColour"), &s->text);
    mrc_parse_colour(yget_str(y, w, "BackgroundColour"), &s->bg);
}

static void read_config(ydoc *y, yaml_node_t *root, mrc_data *d, bool *fail)
{
    set_str(&d->version, yget_str(y, root, "Version"));
    yaml_node_t *def = yget(y, root, "DefaultImage");
    d->default_w = (int)yget_num(y, def, "w", 3840);
    d->default_h = (int)yget_num(y, def, "h", 2160);
    d->pixel_multiplier = yget_num(y, root, "PixelMultiplier", 0.5);
    d->jpeg_quality = (int)yget_num(y, root, "JpgQuality", 90);
    set_str(&d->images_dir, yget_str(y, root, "HotasImagesDir"));
    set_str(&d->logos_dir, yget_str(y, root, "LogoImagesDir"));
    set_str(&d->fonts_dir, yget_str(y, root, "FontsDir"));
    set_str(&d->input_font, yget_str(y, root, "InputFont"));
    d->input_font_size = yget_num(y, root, "InputFontSize", 40);
    d->input_min_font_size = (int)yget_num(y, root, "InputMinFontSize", 13);
    d->x_inset = yget_num(y, root, "InputPixelXInset", 5);
    d->y_inset = yget_num(y, root, "InputPixelYInset", 5);
    read_header(y, yget(y, root, "ImageHeader"), &d->header);
    read_watermark(y, yget(y, root, "Watermark"), &d->watermark);
    mrc_parse_colour(yget_str(y, root, "LightColour"), &d->light);
    yaml_node_t *cols = yget(y, root, "AlternateColours");
    d->ncolours = 0;
    if (cols && cols->type == YAML_SEQUENCE_NODE)
        for (yaml_node_item_t *it = cols->data.sequence.items.start;
             it < cols->data.sequence.items.top && d->ncolours < 16 && ystep(y); it++)
            if (mrc_parse_colour(yscalar(ynode(y, *it)), &d->colours[d->ncolours]))
                d->ncolours++;
    if (!d->images_dir || !d->logos_dir || !d->fonts_dir || !d->input_font ||
        !d->header.font || !d->watermark.label || !d->ncolours)
        *fail = true;
}

static void read_devices(ydoc *y, yaml_node_t *root, mrc_data *d, bool *fail)
{
    read_device_map(y, yget(y, root, "DeviceMap"), &d->devices, fail);
    read_string_map(y, yget(y, root, "ImageMap"), &d->image_map, fail);
    read_string_map(y, yget(y, root, "DeviceNameMap"), &d->device_names, fail);
    read_string_map(y, yget(y, root, "DeviceLabelsByImage"), &d->labels_by_image, fail);
    FOR_PAIRS(y, yget(y, root, "ImageSizeOverride"), name, dims) {
        mrc_box *b = calloc(1, sizeof *b);
        if (!b) {
            *fail = true;
            return;
        }
        read_box(y, dims, b);
        mrc_map_put_owned(&d->size_override, name, b, free, fail);
    }
}

/* Nested maps of strings of any depth (a game's input remapping table): a mapping
 * becomes an mrc_map whose values are char* (scalars) or mrc_map* (mappings); the value
 * kind is recorded in the node. */
const mrc_node *mrc_node_child(const mrc_node *n, const char *key)
{
    return n && n->is_map ? mrc_map_get(&n->map, key) : NULL;
}

const char *mrc_node_str(const mrc_node *n, ...)
{
    va_list ap;
    va_start(ap, n);
    for (const char *k; n && (k = va_arg(ap, const char *));)
        n = mrc_node_child(n, k);
    va_end(ap);
    return n && !n->is_map ? n->str : NULL;
}

static void free_node(void *p)
{
    mrc_node *n = p;
    if (!n)
        return;
    free(n->str);
    mrc_map_free(&n->map, free_node);
    free(n);
}

/* A copy of v's tree. Aliases make the document a graph, possibly with cycles: the depth
 * limit stops a cycle, the step budget a tree that aliases make exponential. */
static mrc_node *read_node(ydoc *y, yaml_node_t *v, unsigned depth, bool *fail)
{
    if (depth > MRC_YAML_MAX_DEPTH)
        y->over = true;
    if (!ystep(y))
        return NULL;
    mrc_node *n = calloc(1, sizeof *n);
    if (!n) {
        *fail = true;
        return NULL;
    }
    if (v->type == YAML_MAPPING_NODE) {
        n->is_map = true;
        FOR_PAIRS(y, v, k, child) {
            mrc_node *c = read_node(y, child, depth + 1, fail);
            if (c)
                mrc_map_put_owned(&n->map, k, c, free_node, fail);
        }
    } else if (!(n->str = dupstr(yscalar(v) ? yscalar(v) : ""))) {
        *fail = true;
    }
    return n;
}

static void read_game(ydoc *y, yaml_node_t *root, mrc_game *g, bool *fail)
{
    set_str(&g->logo, yget_str(y, root, "Logo"));
    read_string_map(y, yget(y, root, "Regexes"), &g->regex_source, fail);
    read_string_map(y, yget(y, root, "InputLabels"), &g->labels, fail);
    FOR_PAIRS(y, yget(y, root, g->desc->input_map_key), dev, v) {
        mrc_node *n = read_node(y, v, 1, fail);
        if (n)
            mrc_map_put_owned(&g->input_map, dev, n, free_node, fail);
    }
    if (!g->logo)
        *fail = true;
}

/* Checks the text's size, nesting and node count with libyaml's event parser before the
 * document loader builds it (which it does with no limit of its own). */
static lp_status check_shape(const char *which, const char *text, size_t len, lp_error *err)
{
    if (len > MRC_YAML_MAX_BYTES)
        return lp_error_set(err, LP_ERR_LIMITS, "%s: %zu bytes of YAML, over the limit of %u",
                            which, len, (unsigned)MRC_YAML_MAX_BYTES);
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        return lp_error_set(err, LP_ERR_NOMEM, "cannot create a YAML parser");
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    lp_status st = LP_OK;
    unsigned long depth = 0, nodes = 0;
    for (bool done = false; !done && !st;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev))
            break;  /* the loader reports the syntax error with its reason */
        done = ev.type == YAML_STREAM_END_EVENT;
        switch (ev.type) {
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            if (++depth > MRC_YAML_MAX_DEPTH)
                st = lp_error_set(err, LP_ERR_LIMITS, "%s: YAML nested deeper than %u at line %zu",
                                  which, (unsigned)MRC_YAML_MAX_DEPTH, ev.start_mark.line + 1);
            /* a collection is a node too */
            /* fall through */
        case YAML_SCALAR_EVENT:
        case YAML_ALIAS_EVENT:
            if (!st && ++nodes > MRC_YAML_MAX_NODES)
                st = lp_error_set(err, LP_ERR_LIMITS, "%s: more than %u YAML nodes at line %zu",
                                  which, (unsigned)MRC_YAML_MAX_NODES, ev.start_mark.line + 1);
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            depth--;
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    return st;
}

lp_status mrc_config_parse(mrc_data *d, const char *which, const char *text, size_t len,
                           lp_error *err)
{
    lp_status st = check_shape(which, text, len, err);
    if (st)
        return st;
    yaml_parser_t parser;
    ydoc y = {0};
    if (!yaml_parser_initialize(&parser))
        return lp_error_set(err, LP_ERR_NOMEM, "cannot create a YAML parser");
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &y.doc)) {
        st = lp_error_set(err, LP_ERR_CORRUPT, "%s: YAML error: %s at line %zu", which,
                          parser.problem ? parser.problem : "unknown",
                          parser.problem_mark.line + 1);
        yaml_parser_delete(&parser);
        return st;
    }
    yaml_parser_delete(&parser);
    yaml_node_t *root = yaml_document_get_root_node(&y.doc);
    /* d is the caller's to change: the game's slot is found through the const lookup */
    mrc_game *game = (mrc_game *)mrc_data_game_named(d, which, strlen(which));
    bool fail = false;
    if (!root || root->type != YAML_MAPPING_NODE)
        fail = true;
    else if (strcmp(which, "config") == 0)
        read_config(&y, root, d, &fail);
    else if (strcmp(which, "devices") == 0)
        read_devices(&y, root, d, &fail);
    else if (game)
        read_game(&y, root, game, &fail);
    yaml_document_delete(&y.doc);
    if (y.over)
        return lp_error_set(err, LP_ERR_LIMITS, "%s: YAML aliases expand past the limit of %u "
                            "steps or %u levels", which, (unsigned)MRC_YAML_MAX_STEPS,
                            (unsigned)MRC_YAML_MAX_DEPTH);
    if (!fail && y.bad_number)
        return lp_error_set(err, LP_ERR_CORRUPT, "%s: setting '%s' is not a number within +-%g",
                            which, y.bad_number, MRC_YAML_MAX_NUMBER);
    if (fail)
        return lp_error_set(err, LP_ERR_CORRUPT, "%s: missing or malformed settings", which);
    return LP_OK;
}

/* Go's regexp (which the original used) differs from PCRE2's defaults in that `$` only
 * matches at the very end; the patterns are ASCII, matched byte-wise. */
static lp_status compile(mrc_game *g, int slot, const char *name, lp_error *err)
{
    const char *pat = mrc_map_get(&g->regex_source, name);
    if (!pat)
        return lp_error_set(err, LP_ERR_CORRUPT, "%s: regex %s is missing", g->desc->name, name);
    int code;
    PCRE2_SIZE off;
    pcre2_code_free(g->regex[slot]);
    g->regex[slot] = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, PCRE2_DOLLAR_ENDONLY,
                                   &code, &off, NULL);
    if (!g->regex[slot]) {
        PCRE2_UCHAR msg[120];
        pcre2_get_error_message(code, msg, sizeof msg);
        return lp_error_set(err, LP_ERR_CORRUPT, "%s: regex %s: %s at %zu", g->desc->name, name,
                            (char *)msg, (size_t)off);
    }
    return LP_OK;
}

lp_status mrc_data_finish(mrc_data *d, lp_error *err)
{
    for (size_t g = 0; g < d->ngames; g++) {
        const char *const *names = d->games[g].desc->regexes;
        for (int i = 0; i < MRC_GAME_REGEXES && names[i]; i++)
            if (compile(&d->games[g], i, names[i], err))
                return err ? err->status : LP_ERR_CORRUPT;
    }
    return LP_OK;
}

static char *read_text_file(const char *path, size_t *len, lp_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        lp_error_set(err, LP_ERR_IO, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n + 65536 > cap) {
            char *nb = realloc(buf, cap = cap * 2 + 65536);
            if (!nb) {
                free(buf);
                fclose(f);
                lp_error_set(err, LP_ERR_NOMEM, "out of memory reading the configuration");
                return NULL;
            }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    fclose(f);
    *len = n;
    return buf;
}

static lp_status load_file(mrc_data *d, const char *dir, const char *rel, const char *which,
                           lp_error *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    size_t len;
    lp_error e = {0};
    char *text = read_text_file(path, &len, &e);
    if (!text) {  /* name the file relative to the data directory, which the caller names */
        const char *why = strchr(lp_error_message(&e), ':');
        return lp_error_set(err, e.status, "cannot read %s%s", rel, why ? why : "");
    }
    lp_status st = mrc_config_parse(d, which, text, len, err);
    free(text);
    return st;
}

lp_status mrc_data_load(mrc_data **out, const char *dir, lp_mem *asset_mem, lp_error *err)
{
    *out = NULL;
    mrc_data *d = mrc_data_new_empty();
    if (!d)
        return lp_error_set(err, LP_ERR_NOMEM, "out of memory");
    d->root = strdup(dir);
    d->asset_mem = asset_mem;
    /* generated first, then devices.yaml so that its entries override single inputs */
    lp_status st = load_file(d, dir, "config/config.yaml", "config", err);
    if (!st)
        st = load_file(d, dir, "config/generatedDevices.yaml", "devices", err);
    if (!st)
        st = load_file(d, dir, "config/devices.yaml", "devices", err);
    for (size_t g = 0; g < d->ngames && !st; g++) {
        char rel[LP_GAME_NAME_MAX + 32];
        snprintf(rel, sizeof rel, "config/%s.yaml", d->games[g].desc->name);
        st = load_file(d, dir, rel, d->games[g].desc->name, err);
    }
    if (!st)
        st = mrc_data_finish(d, err);
    if (st) {
        mrc_data_free(d);
        return st;
    }
    *out = d;
    return LP_OK;
}

static void free_game(mrc_game *g)
{
    free(g->logo);
    mrc_map_free(&g->regex_source, free);
    mrc_map_free(&g->labels, free);
    mrc_map_free(&g->input_map, free_node);
    for (int i = 0; i < MRC_GAME_REGEXES; i++)
        pcre2_code_free(g->regex[i]);
}

void mrc_data_free(mrc_data *d)
{
    if (!d)
        return;
    mrc_assets_free(d);
    free(d->root);
    free(d->version);
    free(d->fonts_dir);
    free(d->images_dir);
    free(d->logos_dir);
    free(d->input_font);
    free(d->header.font);
    free(d->watermark.label);
    free(d->watermark.font);
    mrc_map_free(&d->devices, free_box_map);
    mrc_map_free(&d->image_map, free);
    mrc_map_free(&d->device_names, free);
    mrc_map_free(&d->labels_by_image, free);
    mrc_map_free(&d->size_override, free);
    for (size_t g = 0; g < d->ngames; g++)
        free_game(&d->games[g]);
    pthread_mutex_destroy(&d->asset_lock);
    free(d);
}
