/*
 * game_sws.c - Star Wars: Squadrons: its descriptor (game.h) and its .profile files,
 * "key value" lines.
 *
 * Two regexes from sws.yaml pick out the lines that matter: GstInput.JoystickDeviceN NAME
 * (device N-1 is NAME) and GstKeyBinding.Incom<Context>InputConcepts.Concept<Action>.<slot>
 * .<field> VALUE. As in the original, fields of an action are collected first (later slots
 * overwrite earlier ones) and interpreted after the whole upload is read, so line order
 * does not matter. The device input is found from the axis/button numbers: sws.yaml's
 * InputMapping2 table (short -> axis -> "Axis": input, or "Button" -> number -> input),
 * plus the original's fixed rules (buttons 22..39 are 1..18, 64..85
 * are 19..40, 86 is unbound). So the bindings hold the model's input names and the card
 * builder needs no input mapping from this game.
 *
 * Memory: one request's worth of small strings in maps, from mrc_malloc (counted in the
 * request's budget). Every exit of mrc_sws_parse goes through one cleanup that frees the
 * line index, whatever stopped the parse (binary data, a refused allocation).
 */
#include "server/bindings.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* sws.yaml's Regexes, compiled into mrc_game.regex[] in this order */
static const char *const regex_names[] = {"Bind", "Joystick", NULL};
enum { RE_BIND, RE_JOYSTICK };

typedef struct sws_state {
    const mrc_data *data;
    mrc_map index;     /* context -> action -> field -> char* value */
    mrc_map devices;   /* device id ("0") -> char* short name (borrowed from data) */
    bool fail;
} sws_state;

static void free_fields(void *p)
{
    mrc_map_free(p, mrc_free);
    mrc_free(p);
}

static void free_index_actions(void *p)
{
    mrc_map_free(p, free_fields);
    mrc_free(p);
}

static void on_line(sws_state *s, const char *line, size_t len, mrc_log *log)
{
    mrc_caps c;
    const mrc_game *g = &s->data->sws;
    int rc = mrc_regex_match(g->regex[RE_BIND], line, len, &c);
    if (rc == 1 && c.n >= 6) {
        mrc_map *actions = mrc_map_child(&s->index, c.s[1], &s->fail);
        mrc_map *fields = actions ? mrc_map_child(actions, c.s[2], &s->fail) : NULL;
        if (fields) {
            char *v = mrc_strdup(c.s[5]);
            if (!v)
                s->fail = true;
            else
                mrc_map_put_owned(fields, c.s[4], v, mrc_free, &s->fail);
        }
    }
    if (rc < 0 || (rc = mrc_regex_match(g->regex[RE_JOYSTICK], line, len, &c)) < 0) {
        s->fail = true;  /* the budget refused the match's memory */
        return;
    }
    if (rc == 1 && c.n >= 3 && c.s[2][0]) {
        const char *shortname = mrc_map_get(&s->data->device_names, c.s[2]);
        if (!shortname) {
            mrc_log_add(log, "SWS Unknown device found %s", c.s[2]);
            return;
        }
        /* sws.yaml's regex may admit a sign: strtol gives LONG_MIN for a huge negative */
        long num = strtol(c.s[1], NULL, 10);
        if (num < 1) {
            mrc_log_add(log, "SWS unexpected device number %s", c.s[1]);
            return;
        }
        char id[32];
        snprintf(id, sizeof id, "%ld", num - 1);
        mrc_map_put(&s->devices, id, (void *)shortname, &s->fail);
    }
}

static const char *field(const mrc_map *fields, const char *name)
{
    /* the original compares field names case-insensitively; when several spellings are
     * present the exact one, else the first in byte order, wins (the map's slot order
     * depends on its per-process hash seed, so it must not decide) */
    const char *exact = mrc_map_get(fields, name);
    if (exact)
        return exact;
    const char *best_key = NULL, *best = NULL;
    for (size_t i = 0; i < fields->cap; i++) {
        const char *k = fields->slots[i].key;
        if (k && strcasecmp(k, name) == 0 && (!best_key || strcmp(k, best_key) < 0)) {
            best_key = k;
            best = fields->slots[i].value;
        }
    }
    return best;
}

/* The model input for an action's axis/button, or NULL. */
static const char *interpret(const mrc_data *d, const char *device, const mrc_map *fields,
                             char *buf, size_t size)
{
    const char *axis = field(fields, "axis");
    const char *button = field(fields, "button");
    if (!axis)
        return NULL;
    const mrc_node *dev = mrc_map_get(&d->sws.input_map, device);
    const char *mapped = mrc_node_str(dev, axis, "Axis", (const char *)NULL);
    if (mapped)
        return mapped;
    static const char *fixed_axes[] = {"XAxis", "YAxis", "XAxis", "YAxis"}; /* axes 8..11 */
    long a = strtol(axis, NULL, 10);
    if (a >= 8 && a <= 11)
        return fixed_axes[a - 8];
    if (a != 26 || !button)
        return NULL;
    long b = strtol(button, NULL, 10);
    if (b > 21 && b < 40) {
        snprintf(buf, size, "%ld", b - 21);
        return buf;
    }
    if (b >= 64 && b < 86) {
        snprintf(buf, size, "%ld", b - 45);
        return buf;
    }
    if (b == 86)
        return "";  /* unbound: dropped without a report, as the original did */
    return mrc_node_str(dev, axis, "Button", button, (const char *)NULL);
}

static void build(sws_state *s, mrc_binds *out, mrc_log *log)
{
    mrc_map *devices = mrc_map_child(&out->profiles, MRC_PROFILE_DEFAULT, &s->fail);
    size_t nctx;
    const char **contexts = mrc_map_sorted_keys(&s->index, &nctx);
    for (size_t i = 0; contexts && devices && i < nctx; i++) {
        mrc_map *actions = mrc_map_get(&s->index, contexts[i]);
        size_t nact;
        const char **names = mrc_map_sorted_keys(actions, &nact);
        for (size_t j = 0; names && j < nact; j++) {
            mrc_map *fields = mrc_map_get(actions, names[j]);
            const char *id = field(fields, "deviceid");
            if (!id) {
                mrc_log_add(log, "SWS couldn't find deviceId in %s->%s", contexts[i], names[j]);
                continue;
            }
            const char *shortname = mrc_map_get(&s->devices, id);
            if (!shortname)
                continue;
            mrc_map *ctxs = mrc_map_child(devices, shortname, &s->fail);
            mrc_map *acts = ctxs ? mrc_map_child(ctxs, contexts[i], &s->fail) : NULL;
            if (!acts)
                continue;
            char buf[32];
            const char *input = interpret(s->data, shortname, fields, buf, sizeof buf);
            if (input && !*input)
                continue;
            if (input) {
                mrc_action_input *a = mrc_binds_action(acts, names[j], &s->fail);
                if (a)
                    mrc_set_str(&a->in[0], input, strlen(input), &s->fail);
            } else {
                const char *axis = field(fields, "axis"), *button = field(fields, "button");
                mrc_log_add(log, "SWS Unknown input - device %s context %s action %s axis %s button %s",
                            shortname, contexts[i], names[j], axis ? axis : "-", button ? button : "-");
            }
        }
        free(names);
    }
    free(contexts);
}

lp_status mrc_sws_parse(const mrc_data *d, const mrc_file *files, size_t nfiles,
                        mrc_binds *out, mrc_log *log, lp_error *err)
{
    sws_state s = {.data = d};
    const uint64_t max_line = mrc_limit_profile_line(out->limits);
    lp_status st = LP_OK;
    for (size_t f = 0; f < nfiles && !st && !s.fail; f++) {
        const char *p = (const char *)files[f].data, *end = p + files[f].size;
        while (p < end && !s.fail) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            const char *stop = nl ? nl : end;
            size_t len = (size_t)(stop - p);
            if (len && p[len - 1] == '\r')  /* Go's line scanner drops a CR before LF */
                len--;
            if (memchr(p, '\0', len)) {
                st = lp_error_set(err, LP_ERR_CORRUPT, "file %zu: binary data in a .profile", f + 1);
                break;
            }
            if (len <= max_line)  /* settings lines are short; longer ones cannot be bindings */
                on_line(&s, p, len, log);
            p = stop + 1;
        }
    }
    if (!st && !s.fail) {
        size_t n;
        const char **ctx = mrc_map_sorted_keys(&s.index, &n);
        if (!ctx)
            s.fail = true;
        for (size_t i = 0; ctx && i < n; i++)
            mrc_map_put(&out->contexts, ctx[i], (void *)1, &s.fail);
        free(ctx);
        if (!s.fail)
            build(&s, out, log);
    }
    /* the one exit: whatever stopped the parse, the line index goes */
    mrc_map_free(&s.index, free_index_actions);
    mrc_map_free(&s.devices, NULL);
    if (!st && s.fail)
        st = lp_error_set(err, LP_ERR_NOMEM, "out of memory reading bindings (the upload's "
                                             "bindings do not fit in the memory budget)");
    return st;
}

/* The demo data set's sws.yaml: the original's regexes, the demo stick's axes. */
static const char demo_settings[] =
    "Logo: sws\n"
    "Regexes:\n"
    "  Joystick: ^GstInput.JoystickDevice(\\d+)(?:\\s+(.*))$\n"
    "  Bind: ^GstKeyBinding\\.Incom(Default|Soldier|Starship)InputConcepts\\.Concept(.+)\\.(\\d+)\\.(.+)\\s+(.+)$\n"
    "InputMapping2:\n  DemoStick:\n    8: { Axis: ZAxis }\n    9: { Axis: YAxis }\n    10: { Axis: XAxis }\n"
    "InputLabels:\n  Fire: Fire\n  Afterburner: Boost\n  Throttle: Throttle\n  Pitch: Pitch\n"
    "  Roll: Roll\n  TargetSelect: Target Select\n";

/* Where the game keeps its .profile files (the EA app's and Steam's installs differ). */
static const lp_game_place places[] = {
    {"EA app / Origin", "Documents\\STAR WARS Squadrons\\settings"},
    {"Steam", "Documents\\STAR WARS Squadrons Steam\\settings"},
    {NULL, NULL},
};

const lp_game lp_game_sws = {
    .name = "sws",
    .title = "Star Wars: Squadrons",
    .file_kind = ".profile files",
    .accept = ".profile",
    .upload_hint = "Upload your .profile file from Documents/STAR WARS Squadrons/settings.",
    .places = places,
    .places_note = "The bindings of all your controllers are in one .profile file.",
    .input_map_key = "InputMapping2",
    .regexes = regex_names,
    .parse = mrc_sws_parse,
    .map_input = NULL,  /* the parser writes the model's names */
    .demo_settings = demo_settings,
    .demo_logo_text = "Squadrons",
    .demo_logo_from = {0x10, 0x10, 0x18, 255},
    .demo_logo_to = {0x60, 0x20, 0x20, 255},
};
