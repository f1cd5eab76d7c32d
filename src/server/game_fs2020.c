/*
 * game_fs2020.c - Microsoft Flight Simulator 2020: its descriptor (game.h), its binding
 * files (XML, read with expat) and how their input names map to the device model's.
 *
 * A file holds one <Device DeviceName=...> with <Context ContextName=...> groups of
 * <Action ActionName=...> whose <Primary>/<Secondary> hold <KEY Information="Button4">.
 * An optional <FriendlyName> names the profile (the card header says "label (profile)").
 * As the original did: a device whose name has no alias in devices.yaml is reported and
 * the rest of its file skipped; the last KEY in a Primary/Secondary wins.
 *
 * Malformed XML fails the request with the parser's reason and line (the server answers
 * 400); nesting deeper than the limit (mrc_limits.max_xml_depth) fails it with
 * LP_ERR_LIMITS (413) as soon as the element that passes it starts. Memory: expat
 * allocates through mrc_malloc (XML_ParserCreate_MM), so its element stack, name pools
 * and buffers are counted in the request's budget like the tree that goes into mrc_binds;
 * the depth cap keeps the element stack small long before the budget would refuse it.
 *
 * Inputs are named as the game names them ("Button4", "R-Axis X", "Pov1_Up", "Slider X")
 * and mapped to the model's names ("4", "RXAxis", "POV1Up", "ZAxis") when cards are built,
 * with fs2020.yaml's five regexes and its InputMap (short -> type -> game name -> model
 * name), as the original did.
 */
#define _GNU_SOURCE
#include "server/bindings.h"

#include <ctype.h>
#include <expat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* fs2020.yaml's Regexes, compiled into mrc_game.regex[] in this order */
static const char *const regex_names[] = {"Button", "Axis", "Pov", "Rotation", "Slider", NULL};
enum { RE_BUTTON, RE_AXIS, RE_POV, RE_ROTATION, RE_SLIDER };

enum { KEY_NONE, KEY_PRIMARY, KEY_SECONDARY };

typedef struct fs_state {
    const mrc_data *data;
    mrc_binds *binds;
    mrc_log *log;
    XML_Parser parser;
    bool fail, stopped;
    unsigned depth, max_depth;
    bool too_deep;
    char *profile;            /* current file's profile */
    bool in_friendly;
    char friendly[256];
    size_t friendly_len;
    mrc_map *device;          /* context -> actions */
    mrc_map *context;         /* action -> inputs */
    mrc_action_input *action;
    int key_type;
} fs_state;

static const char *attr(const XML_Char **atts, const char *name)
{
    for (; atts && atts[0]; atts += 2)
        if (strcmp(atts[0], name) == 0)
            return atts[1];
    return NULL;
}

static void on_device(fs_state *s, const XML_Char **atts)
{
    const char *name = attr(atts, "DeviceName");
    const char *shortname = mrc_map_get(&s->data->device_names, name ? name : "");
    if (!shortname) {
        mrc_log_add(s->log, "FS2020 Unsupported device \"%s\"", name ? name : "");
        s->stopped = true;
        XML_StopParser(s->parser, XML_FALSE);
        return;
    }
    mrc_map *devices = mrc_map_child(&s->binds->profiles, s->profile, &s->fail);
    if (!devices)
        return;
    if (mrc_map_get(devices, shortname))
        mrc_log_add(s->log, "FS2020 duplicate device: \"%s\"", name);
    s->device = mrc_map_child(devices, shortname, &s->fail);
}

static void XMLCALL on_start(void *user, const XML_Char *el, const XML_Char **atts)
{
    fs_state *s = user;
    if (++s->depth > s->max_depth || s->fail) {  /* stop now, not after the whole file */
        s->too_deep = !s->fail;
        s->stopped = s->fail;
        XML_StopParser(s->parser, XML_FALSE);
        return;
    }
    if (strcmp(el, "FriendlyName") == 0) {
        s->in_friendly = true;
        s->friendly_len = 0;
    } else if (strcmp(el, "Device") == 0) {
        on_device(s, atts);
    } else if (strcmp(el, "Context") == 0) {
        const char *name = attr(atts, "ContextName");
        name = name ? name : "";
        mrc_map_put(&s->binds->contexts, name, (void *)1, &s->fail);
        s->context = s->device ? mrc_map_child(s->device, name, &s->fail) : NULL;
    } else if (strcmp(el, "Action") == 0) {
        const char *name = attr(atts, "ActionName");
        s->key_type = KEY_NONE;
        s->action = s->context ? mrc_binds_action(s->context, name ? name : "", &s->fail) : NULL;
    } else if (strcmp(el, "Primary") == 0) {
        s->key_type = KEY_PRIMARY;
    } else if (strcmp(el, "Secondary") == 0) {
        s->key_type = KEY_SECONDARY;
    } else if (strcmp(el, "KEY") == 0) {
        const char *info = attr(atts, "Information");
        if (info && s->action && s->key_type != KEY_NONE)
            mrc_set_str(&s->action->in[s->key_type == KEY_PRIMARY ? 0 : 1], info, strlen(info),
                        &s->fail);
    }
}

static void XMLCALL on_end(void *user, const XML_Char *el)
{
    fs_state *s = user;
    s->depth--;
    if (strcmp(el, "FriendlyName") == 0) {
        s->in_friendly = false;
        mrc_free(s->profile);
        s->profile = s->friendly_len ? mrc_strndup(s->friendly, s->friendly_len)
                                     : mrc_strdup(MRC_PROFILE_DEFAULT);
        if (!s->profile)
            s->fail = true;
    } else if (strcmp(el, "Context") == 0) {
        s->context = NULL;
    } else if (strcmp(el, "Action") == 0) {
        s->action = NULL;
    } else if (strcmp(el, "Primary") == 0 || strcmp(el, "Secondary") == 0) {
        s->key_type = KEY_NONE;
    }
}

static void XMLCALL on_text(void *user, const XML_Char *text, int len)
{
    fs_state *s = user;
    if (!s->in_friendly)
        return;
    size_t room = sizeof s->friendly - 1 - s->friendly_len;
    size_t n = (size_t)len < room ? (size_t)len : room;
    memcpy(s->friendly + s->friendly_len, text, n);
    s->friendly_len += n;
}

/* Some game versions write several top-level elements (<Version/>, <FriendlyName>,
 * <Device>) without a root, which Go's tokenizer accepted. Expat wants one root, so the
 * content after the XML declaration is wrapped in a synthetic element; line numbers in
 * error messages stay those of the file. */
static bool feed(XML_Parser p, const mrc_file *f)
{
    const char *data = (const char *)f->data;
    size_t size = f->size, decl = 0;
    size_t bom = size >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
    if (size - bom >= 5 && memcmp(data + bom, "<?xml", 5) == 0) {
        const char *end = memmem(data + bom, size - bom, "?>", 2);
        if (end)
            decl = (size_t)(end + 2 - data);
    }
    static const char open[] = "<lp-bindings>", close[] = "</lp-bindings>";
    return XML_Parse(p, data, (int)decl, XML_FALSE) != XML_STATUS_ERROR &&
           XML_Parse(p, open, (int)strlen(open), XML_FALSE) != XML_STATUS_ERROR &&
           XML_Parse(p, data + decl, (int)(size - decl), XML_FALSE) != XML_STATUS_ERROR &&
           XML_Parse(p, close, (int)strlen(close), XML_TRUE) != XML_STATUS_ERROR;
}

/* expat's memory comes from the thread's counted scope (see mrc_malloc) */
static const XML_Memory_Handling_Suite counted_memory = {mrc_malloc, mrc_realloc, mrc_free};

static lp_status parse_one(fs_state *s, const mrc_file *f, size_t index, lp_error *err)
{
    if (f->size > (size_t)INT32_MAX)
        return lp_error_set(err, LP_ERR_LIMITS, "file %zu is too large", index + 1);
    XML_Parser p = XML_ParserCreate_MM(NULL, &counted_memory, NULL);
    if (!p)
        return lp_error_set(err, LP_ERR_NOMEM, "file %zu: cannot create an XML parser (out of "
                                               "memory)", index + 1);
    s->parser = p;
    s->stopped = false;
    s->too_deep = false;
    s->depth = 0;
    s->device = NULL;
    s->context = NULL;
    s->action = NULL;
    s->in_friendly = false;
    mrc_free(s->profile);
    s->profile = mrc_strdup(MRC_PROFILE_DEFAULT);
    XML_SetUserData(p, s);
    XML_SetElementHandler(p, on_start, on_end);
    XML_SetCharacterDataHandler(p, on_text);
    lp_status st = LP_OK;
    bool parsed = s->profile && feed(p, f);
    if (s->too_deep) {
        st = lp_error_set(err, LP_ERR_LIMITS, "file %zu: XML nested deeper than the limit of "
                          "%u elements at line %lu", index + 1, s->max_depth - 1,
                          (unsigned long)XML_GetCurrentLineNumber(p));
    } else if (s->profile && !parsed && !s->stopped) {
        enum XML_Error code = XML_GetErrorCode(p);
        st = code == XML_ERROR_NO_MEMORY
                 ? lp_error_set(err, LP_ERR_NOMEM, "file %zu: the XML parser's memory does not "
                                "fit in the memory budget", index + 1)
                 : lp_error_set(err, LP_ERR_CORRUPT, "file %zu: malformed XML: %s at line %lu",
                                index + 1, XML_ErrorString(code),
                                (unsigned long)XML_GetCurrentLineNumber(p));
    }
    XML_ParserFree(p);
    if (!st && (s->fail || !s->profile))
        st = lp_error_set(err, LP_ERR_NOMEM, "out of memory reading bindings (the upload's "
                                             "bindings do not fit in the memory budget)");
    return st;
}

lp_status mrc_fs2020_parse(const mrc_data *d, const mrc_file *files, size_t nfiles,
                           mrc_binds *out, mrc_log *log, lp_error *err)
{
    /* +1: the synthetic root element that feed() wraps the file in */
    fs_state s = {.data = d, .binds = out, .log = log,
                  .max_depth = mrc_limit_xml_depth(out->limits) + 1};
    lp_status st = LP_OK;
    for (size_t i = 0; i < nfiles && !st; i++)
        st = parse_one(&s, &files[i], i, err);
    mrc_free(s.profile);
    return st;
}

/* ---- the game's input name -> the model's input name ---- */
static const char *remap(const mrc_node *map, const char *type, const char *key)
{
    return mrc_node_str(map, type, key, (const char *)NULL);
}

static bool match_input(const mrc_game *g, const char *device, const char *action,
                        const mrc_map *inputs, char *out, size_t size, mrc_log *log)
{
    const mrc_node *map = mrc_map_get(&g->input_map, device);
    size_t len = strlen(action);
    mrc_caps c;
    if (mrc_regex_match(g->regex[RE_BUTTON], action, len, &c) == 1) {
        snprintf(out, size, "%s", c.s[1]);
        return true;
    }
    if (mrc_regex_match(g->regex[RE_AXIS], action, len, &c) == 1) {
        char axis[520];
        snprintf(axis, sizeof axis, "%s%s", c.s[1], c.s[2]);
        const char *sub = remap(map, "Axis", axis);
        snprintf(out, size, "%sAxis", sub ? sub : axis);
        return true;
    }
    if (mrc_regex_match(g->regex[RE_POV], action, len, &c) == 1) {
        char dir[256];
        size_t n = strlen(c.s[2]);
        for (size_t i = 0; i <= n; i++)
            dir[i] = (char)(i == 0 ? toupper((unsigned char)c.s[2][i]) : tolower((unsigned char)c.s[2][i]));
        snprintf(out, size, "POV%s%s", c.s[1][0] ? c.s[1] : "1", dir);
        return true;
    }
    if (mrc_regex_match(g->regex[RE_ROTATION], action, len, &c) == 1) {
        if (mrc_node_child(map, "Rotation")) {
            const char *sub = remap(map, "Rotation", c.s[1]);
            snprintf(out, size, "%sAxis", sub ? sub : "");
        } else {
            snprintf(out, size, "R%sAxis", c.s[1]);
        }
        return true;
    }
    if (mrc_regex_match(g->regex[RE_SLIDER], action, len, &c) == 1) {
        if (!mrc_node_child(map, "Slider")) {
            mrc_log_add(log, "FS2020 unknown action %s for slider on device %s", action, device);
            return false;
        }
        const char *sub = remap(map, "Slider", c.s[1]);
        snprintf(out, size, "%sAxis", sub ? sub : "");
        if (inputs && mrc_map_get(inputs, out))
            return true;
        mrc_log_add(log, "FS2020 couldn't find slider %s on device %s", out, device);
        return false;
    }
    mrc_log_add(log, "FS2020 could not find matching Action %s on device %s", action, device);
    return false;
}

/* An action with no primary input is reported (the original did), one with no secondary
 * is not. */
static bool map_input(const lp_game_input *in, char *out, size_t size, mrc_log *log)
{
    if (!in->input[0]) {
        if (in->slot == 0)
            mrc_log_add(log, "FS2020 did not find primary input for %s", in->input);
        return false;
    }
    return match_input(in->game, in->device, in->input, in->inputs, out, size, log);
}

/* The demo data set's fs2020.yaml: the original's regexes, the demo stick's slider. */
static const char demo_settings[] =
    "Logo: fs2020\n"
    "Regexes:\n"
    "  Button: Button\\s*(\\d+)\n"
    "  Axis: (?:([R])-)?Axis\\s*([XYZ])\n"
    "  Pov: (?i)Pov(\\d?)[\\s_]([[:alpha:]]+)\n"
    "  Rotation: Rotation\\s*([XYZ])\n"
    "  Slider: Slider\\s*([XYZ])\n"
    "InputMap:\n  DemoStick:\n    Slider: { X: Z }\n"
    "InputLabels:\n"
    "  KEY_GEAR_TOGGLE: \"Landing Gear\"\n  KEY_FLAPS_INCR: \"Increase Flaps\"\n"
    "  KEY_FLAPS_DECR: \"Decrease Flaps\"\n  KEY_BRAKES: \"Brakes\"\n"
    "  KEY_AXIS_AILERONS_SET: \"Ailerons\"\n  KEY_AXIS_ELEVATOR_SET: \"Elevator\"\n"
    "  KEY_THROTTLE_AXIS_SET_EX1: \"Throttle\"\n  KEY_PAUSE_TOGGLE: \"Pause\"\n"
    "  KEY_COCKPIT_LOOK_UP: \"Cockpit Look Up\"\n  KEY_COCKPIT_LOOK_DOWN: \"Cockpit Look Down\"\n"
    "  KEY_COCKPIT_LOOK_LEFT: \"Cockpit Look Left\"\n  KEY_COCKPIT_LOOK_RIGHT: \"Cockpit Look Right\"\n";

/* Where the game keeps its input profiles (as MetaRefCard's page said): one XML file per
 * device and profile. The Store version's files have no extension. */
static const lp_game_place places[] = {
    {"Steam", "C:\\Program Files (x86)\\Steam\\userdata\\<your Steam ID>\\1250410\\remote"},
    {"Microsoft Store / Xbox app",
     "%LOCALAPPDATA%\\Packages\\Microsoft.FlightSimulator_8wekyb3d8bbwe\\SystemAppData\\wgs"},
    {NULL, NULL},
};

const lp_game lp_game_fs2020 = {
    .name = "fs2020",
    .title = "Microsoft Flight Simulator 2020",
    .file_kind = ".xml input profiles",
    .accept = ".xml",
    .upload_hint = "Upload the input profile files (one per device) from the game's settings "
                   "folder.",
    .places = places,
    .places_note = "In the Store version they sit in numbered sub-folders and have no "
                   "extension: choose \"All files\" in the file dialog, or drag them onto this "
                   "page.",
    .input_map_key = "InputMap",
    .regexes = regex_names,
    .parse = mrc_fs2020_parse,
    .map_input = map_input,
    .demo_settings = demo_settings,
    .demo_logo_text = "Flight Sim 2020",
    .demo_logo_from = {0x1b, 0x4f, 0x8a, 255},
    .demo_logo_to = {0x7f, 0xb8, 0xe8, 255},
};
