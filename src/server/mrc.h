/*
 * mrc.h - the reference-card renderer behind `leanpix serve` (internal to src/server and
 * the tests): the data set (config, device layouts, each game's settings), the bindings
 * tree the games' parsers fill (game.h: what a game is; games.h: which games there are),
 * the overlay model (which texts go into which box), text and card rendering.
 *
 * The layout rules follow MetaRefCard v0.3.1 (a Go web app, Apache-2.0), re-implemented
 * here: a card is a device image with the game logo at (0,0), a header bar right of the
 * logo with the device label fitted by a font-size search, a watermark pill, and for each
 * bound input a row of rounded pills (one per action, grouped by context in sorted order,
 * each context with its colour) whose font size is searched so that the row fits the box.
 *
 * Memory: an mrc_data is loaded once and then read-only (shared by every thread). Parsed
 * bindings (mrc_binds) and overlays (mrc_cards) belong to one request, are counted in its
 * budget (mrc_malloc below) and bounded by mrc_limits; the big buffers (device images,
 * the card canvas, the JPEG) are counted in the request's lp_mem too. Decoded device
 * images are held by the data set's asset cache (assets.c), decoded on first use under a
 * per-entry pthread_once.
 */
#ifndef LP_SERVER_MRC_H
#define LP_SERVER_MRC_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "leanpix/leanpix.h"
#include "server/games.h"
#include "server/options.h"  /* the defaults of mrc_limits and mrc_log */

/* ---- counted allocation for what an upload makes (util.c) ----
 * mrc_malloc & co charge the calling thread's current scope (NULL = uncounted): the server
 * enters the request's lp_mem around parsing and card building, so the maps and strings
 * made from an upload count against the budget and a refused charge fails the request
 * (LP_ERR_NOMEM) instead of growing the process. Blocks remember their tracker and may be
 * freed with mrc_free on any thread, inside or outside a scope, as long as the tracker
 * lives: so nothing that outlives the request (the data set, process-wide contexts) may
 * be allocated inside a scope (enter NULL around such work, as bindings.c does). */
lp_mem *mrc_mem_enter(lp_mem *mem);  /* returns the previous scope, for mrc_mem_leave */
void mrc_mem_leave(lp_mem *previous);
void *mrc_malloc(size_t size);
void *mrc_calloc(size_t n, size_t size);
void *mrc_realloc(void *p, size_t size);
void mrc_free(void *p);
char *mrc_strdup(const char *s);
char *mrc_strndup(const char *s, size_t n);
uint64_t mrc_mem_live_blocks(void);  /* blocks not yet freed, process-wide (for tests) */

/* ---- a small string-keyed hash map (keys copied, values owned by the caller) ---- */
typedef struct mrc_map_entry {
    char *key;
    void *value;
} mrc_map_entry;
typedef struct mrc_map {
    mrc_map_entry *slots;
    size_t cap, count;
} mrc_map;
void *mrc_map_get(const mrc_map *m, const char *key);
typedef void (*mrc_free_fn)(void *);
/* Inserts or replaces; returns the previous value (NULL if new) or sets *fail on OOM. */
void *mrc_map_put(mrc_map *m, const char *key, void *value, bool *fail);
/* Inserts or replaces, the map owning value: the value replaced is freed with free_value,
 * and so is value itself when the map cannot take it (then *fail is set, false returned). */
bool mrc_map_put_owned(mrc_map *m, const char *key, void *value, mrc_free_fn free_value,
                       bool *fail);
/* Keys sorted by strcmp, malloc'd array of pointers into the map (free() it). */
const char **mrc_map_sorted_keys(const mrc_map *m, size_t *n);
void mrc_map_free(mrc_map *m, mrc_free_fn free_value);

/* A tree of YAML mappings and scalars (the per-game input remapping tables). */
typedef struct mrc_node {
    bool is_map;
    char *str;     /* scalar */
    mrc_map map;   /* key -> mrc_node* */
} mrc_node;
/* The scalar at path (keys...; ended by (const char *)NULL: a bare NULL may be an int), or
 * NULL. */
const char *mrc_node_str(const mrc_node *n, ...);
const mrc_node *mrc_node_child(const mrc_node *n, const char *key);

/* ---- the data set ---- */
typedef struct mrc_box {
    int x, y, w, h;  /* in the 3840x2160 layout space; x = -1 means "not drawn" */
} mrc_box;

typedef struct mrc_rgba {
    uint8_t r, g, b, a;
} mrc_rgba;

typedef struct mrc_image_asset mrc_image_asset;  /* assets.c */
typedef struct mrc_font_asset mrc_font_asset;    /* assets.c */

typedef struct lp_game lp_game;  /* what a game is: its descriptor (game.h) */

/* A game's settings in one data set, from DATA/config/NAME.yaml. */
#define MRC_GAME_REGEXES 8
typedef struct mrc_game {
    const lp_game *desc;        /* the game (name, parser, rules) */
    char *logo;                 /* logo image name */
    mrc_map regex_source;       /* name -> char* pattern */
    void *regex[MRC_GAME_REGEXES]; /* pcre2_code*, in the order of desc->regexes */
    mrc_map input_map;          /* short -> mrc_node: the remapping table under the game's
                                   desc->input_map_key, read by its input mapping */
    mrc_map labels;             /* action -> char* label */
} mrc_game;
#define MRC_GAME_FIELD(name) mrc_game name;

typedef struct mrc_header_style {
    char *font;
    double font_size, inset_x, inset_y, bg_height;
    mrc_rgba text, bg;
} mrc_header_style;

typedef struct mrc_watermark_style {
    char *label, *font;
    double font_size, x, y;
    mrc_rgba text, bg;
} mrc_watermark_style;

typedef struct mrc_data {
    char *root;                 /* data directory, NULL for the built-in demo */
    char *version;
    int default_w, default_h;
    double pixel_multiplier;
    int jpeg_quality;
    char *fonts_dir, *images_dir, *logos_dir;
    char *input_font;
    double input_font_size, x_inset, y_inset;
    int input_min_font_size;
    mrc_header_style header;
    mrc_watermark_style watermark;
    mrc_rgba light;
    mrc_rgba colours[16];
    size_t ncolours;

    mrc_map devices;            /* short -> mrc_map(input -> mrc_box*) */
    mrc_map image_map;          /* short -> char* image */
    mrc_map device_names;       /* full name -> char* short */
    mrc_map labels_by_image;    /* image -> char* label */
    mrc_map size_override;      /* image -> mrc_box* (w, h used) */

    /* Each game's settings, in the table's order (made with the data set: a game whose
     * file was not read has desc set and nothing else); the games of games.h also by name,
     * d->NAME, from the same list (game_NAME.c and the tests use it). */
    size_t ngames;
    union {
        mrc_game games[LP_GAMES_MAX];
        struct { LP_GAMES(MRC_GAME_FIELD) };
    };

    mrc_map images;             /* name ("hotas/x55", "logo/NAME") -> mrc_image_asset* */
    mrc_map fonts;              /* file name -> mrc_font_asset* */
    pthread_mutex_t asset_lock; /* guards inserting entries into images/fonts */
    lp_mem *asset_mem;          /* where decoded images are counted (may be NULL) */
    uint64_t image_cache_cap;   /* bytes of decoded images kept when unused; 0 = no cap */
    _Atomic uint64_t image_bytes, image_clock, image_decodes;
    _Atomic uint64_t compact_bytes; /* the device images' compact JPEG copies (assets.c),
                                       kept while under image_cache_cap */
    void *demo;                 /* demo.c's generated assets, or NULL */
} mrc_data;

/* Loads DIR/config/{config,generatedDevices,devices}.yaml and each game's NAME.yaml.
 * Images and fonts are opened lazily on first use. asset_mem (may be NULL) counts decoded
 * images. */
lp_status mrc_data_load(mrc_data **out, const char *dir, lp_mem *asset_mem, lp_error *err);
/* The built-in demo data set (demo.c): drawn images, a system font, one device. */
lp_status mrc_data_load_demo(mrc_data **out, lp_mem *asset_mem, lp_error *err);
void mrc_data_free(mrc_data *data);
/* Parses YAML text into the data set's pieces (config.c; used by the demo too): which is
 * "config", "devices" or a game's name (its settings). Bounded
 * like an upload parser (a fuzzing target): text over MRC_YAML_MAX_BYTES, nesting over
 * MRC_YAML_MAX_DEPTH, more than MRC_YAML_MAX_NODES nodes, or aliases that would make the
 * walk take more than MRC_YAML_MAX_STEPS steps fail with LP_ERR_LIMITS. The real data set
 * is far below them (generatedDevices.yaml: 92 kB, depth 4, ~10,000 nodes). The limits
 * are the thread's (mrc_limits_enter: the server's max-yaml-* options), else the defaults;
 * names kept so that the parser reads like it checks constants. */
#define MRC_YAML_MAX_BYTES (mrc_limits_of_scope().max_yaml_size)
#define MRC_YAML_MAX_DEPTH (mrc_limits_of_scope().max_yaml_depth)
#define MRC_YAML_MAX_NODES (mrc_limits_of_scope().max_yaml_nodes)
#define MRC_YAML_MAX_STEPS (mrc_limits_of_scope().max_yaml_steps)
lp_status mrc_config_parse(mrc_data *d, const char *which, const char *text, size_t len,
                           lp_error *err);
lp_status mrc_data_finish(mrc_data *d, lp_error *err);  /* compiles the regexes */
/* A data set with nothing read yet, with a slot for each game of the table (game.h). */
mrc_data *mrc_data_new_empty(void);
bool mrc_parse_colour(const char *hex, mrc_rgba *out);

/* ---- a request's log (unsupported devices, unknown inputs) ----
 * At most max_lines lines of at most max_line bytes (longer ones are cut): lines quote
 * upload strings, and a bounded log keeps an upload from multiplying itself. 0 in either
 * = the server's default (options.c), also named MRC_LOG_LINES and MRC_LOG_LINE_MAX. */
#define MRC_LOG_LINES (lp_server_defaults()->max_log_lines)
#define MRC_LOG_LINE_MAX ((size_t)lp_server_defaults()->max_log_line)
typedef struct mrc_log {
    char **lines;
    size_t count, cap;
    size_t dropped;  /* lines not kept (the log was full, or no memory for them) */
    size_t max_lines, max_line;  /* 0 = the defaults above */
} mrc_log;
void mrc_log_add(mrc_log *log, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void mrc_log_free(mrc_log *log);

/* ---- parsed bindings ---- */
/* An action's inputs as the game names them: [0] primary, [1] secondary ("" = none). */
typedef struct mrc_action_input {
    char *in[2];
} mrc_action_input;
/* Limits on what one upload may make; 0 in a field = its default, from the server's
 * option table (options.c, which --help and docs/serve.md are made from). */
typedef struct mrc_limits {
    unsigned max_xml_depth;     /* element nesting of an XML bindings file -> LP_ERR_LIMITS */
    unsigned max_input_labels;  /* labels kept in one input's box; the rest are logged */
    unsigned max_card_labels;   /* labels kept on one card; the rest are logged */
    uint64_t max_profile_line;  /* bytes of a .profile line; longer ones are skipped */
    unsigned regex_match_limit; /* per PCRE2 match: backtracking steps, */
    unsigned regex_depth_limit; /* backtracking depth */
    uint64_t regex_heap;        /* and heap bytes; past one, no match */
    /* the data set's YAML (mrc_config_parse), read at start-up: MRC_YAML_MAX_* */
    uint64_t max_yaml_size;
    unsigned max_yaml_depth, max_yaml_nodes, max_yaml_steps;
} mrc_limits;
/* The limits the server's options give (0 fields stay 0 = the defaults). */
mrc_limits mrc_limits_of(const lp_server_options *o);
unsigned mrc_limit_xml_depth(const mrc_limits *l);
unsigned mrc_limit_input_labels(const mrc_limits *l);
unsigned mrc_limit_card_labels(const mrc_limits *l);
uint64_t mrc_limit_profile_line(const mrc_limits *l);
/* The limits of the matches this thread makes (mrc_regex_match), until the matching
 * leave; NULL = the defaults. The server enters its request's limits around parsing and
 * card building, like its memory (mrc_mem_enter): the matches happen deep inside the
 * game rules, which need not carry the limits through. Returns the previous ones. */
const mrc_limits *mrc_limits_enter(const mrc_limits *l);
void mrc_limits_leave(const mrc_limits *previous);
/* The thread's current limits with every 0 replaced by its default. */
mrc_limits mrc_limits_of_scope(void);

/* profile -> short name -> context -> action -> char*[2] (primary, secondary input) */
typedef struct mrc_binds {
    mrc_map profiles;
    mrc_map contexts;   /* every context seen -> (void*)1 */
    const mrc_limits *limits;  /* set by the caller before parsing; NULL = the defaults */
} mrc_binds;
void mrc_binds_free(mrc_binds *b);

/* One uploaded file. */
typedef struct mrc_file {
    const uint8_t *data;
    size_t size;
} mrc_file;

/* The games' parsers (game.h: lp_game.parse) fill an mrc_binds from an upload. */

/* ---- overlays: what each card shows ---- */
typedef struct mrc_overlay {
    mrc_box box;
    /* texts grouped by context: contexts sorted, texts within a context sorted */
    size_t ncontexts;
    struct mrc_overlay_ctx {
        char *context;
        mrc_rgba colour;
        char **texts;
        size_t ntexts;
    } *ctx;
} mrc_overlay;

typedef struct mrc_card {
    char *profile;   /* "default_metarefcard" or the file's FriendlyName */
    char *image;     /* device image name */
    mrc_overlay *overlays;
    size_t noverlays;
} mrc_card;

typedef struct mrc_cards {
    const mrc_game *game;
    mrc_card *cards;   /* sorted by profile, then image name (the original's order) */
    size_t count;
    uint64_t work;     /* steps taken building them (actions, labels, context lookups): a
                          measure of the work that tests check grows linearly */
} mrc_cards;

#define MRC_PROFILE_DEFAULT "default_metarefcard"

lp_status mrc_build_cards(const mrc_data *d, const mrc_game *game, const mrc_binds *binds,
                          mrc_cards *out, mrc_log *log, lp_error *err);
void mrc_cards_free(mrc_cards *c);

/* ---- text (text.c): FreeType + HarfBuzz, one context per thread ---- */
typedef struct mrc_text mrc_text;
mrc_text *mrc_text_new(void);
/* Once, before threads make their mrc_text: HarfBuzz's lazily made process-wide state. */
void mrc_text_init(void);
void mrc_text_free(mrc_text *t);
/* Advance width of text in whole pixels (rounded) at size px with font. */
lp_status mrc_text_measure(mrc_text *t, const mrc_data *d, const char *font, int size,
                           const char *text, int *width, lp_error *err);
/* Draws text with its baseline at (x, baseline), alpha-blended in colour, on an RGB8 image. */
lp_status mrc_text_draw(mrc_text *t, const mrc_data *d, const char *font, int size,
                        const char *text, double x, double baseline, mrc_rgba colour,
                        lp_buffer_image *img, lp_error *err);

/* ---- layout (layout.c) ---- */
/* The original's font size search: the largest size <= target_h at which text is at most
 * target_w wide (binary search between min_size and target_h), min_size if none fits. */
lp_status mrc_fit_font_size(mrc_text *t, const mrc_data *d, const char *font, const char *text,
                            int target_w, int target_h, int min_size, int *size, lp_error *err);

/* ---- drawing (card.c) ---- */
void mrc_fill_rounded_rect(lp_buffer_image *img, double x, double y, double w, double h,
                           double r, mrc_rgba c);
void mrc_fill_rect(lp_buffer_image *img, double x, double y, double w, double h, mrc_rgba c);

/* Debug knobs for the fidelity tests: drop or shift one overlay. */
typedef struct mrc_render_tweak {
    long drop_overlay;     /* index into card->overlays to leave out, -1 none */
    long shift_overlay;    /* index to shift, -1 none */
    int shift_dx, shift_dy;
    mrc_box *rects;        /* if not NULL: card->noverlays entries, each set to the pixel
                              rectangle the overlay's row of pills covers (w = 0 if none) */
} mrc_render_tweak;

/* Renders card onto canvas: a zeroed lp_buffer_image (allocated here from mem), or one
 * from an earlier call, reused when its size matches (a worker keeps one canvas, which
 * saves 1500 page faults per card). The caller frees it with lp_buffer_image_free. */
lp_status mrc_render_card(mrc_text *t, const mrc_data *d, const mrc_cards *cards, size_t index,
                          const mrc_render_tweak *tweak, lp_buffer_image *canvas, lp_mem *mem,
                          lp_error *err);
/* What the card's header says: the device's label (DeviceLabelsByImage, else the image
 * name), plus " (PROFILE)" for a named profile; cut to size - 1 bytes. Pages and answers
 * name the card with it too. */
void mrc_card_title(const mrc_data *d, const mrc_card *card, char *text, size_t size);
/* The label boxes of a card in pixels (for the SSIM over boxes): malloc'd array. */
size_t mrc_card_boxes(const mrc_data *d, const mrc_card *card, mrc_box **boxes);
/* Encodes canvas as JPEG (data->jpeg_quality); *jpeg malloc'd (free()). */
lp_status mrc_encode_jpeg(const mrc_data *d, const lp_buffer_image *canvas, lp_mem *mem,
                          uint8_t **jpeg, size_t *size, lp_error *err);

/* ---- assets (assets.c) ---- */
/* The decoded image (RGB8) named kind/name ("hotas", "x55"), shared read-only: decoded on
 * first use, kept while the image cache's byte cap allows (least recently used unused
 * images are dropped first). The image stays valid until mrc_asset_release(*ref). */
typedef struct mrc_asset mrc_asset;
lp_status mrc_asset_image(const mrc_data *d, const char *kind, const char *name,
                          const lp_buffer_image **img, mrc_asset **ref, lp_error *err);
void mrc_asset_release(const mrc_data *d, mrc_asset *ref);
/* Puts the image kind/name into canvas (made RGB8 of the image's size from mem, or reused
 * when it already is): copied from the cache, or else decoded straight into the canvas
 * (no image-sized buffer of its own, no second copy) and then kept in the cache only if
 * it fits beside the cached images or is wanted more often than one of them. */
lp_status mrc_asset_image_into(const mrc_data *d, const char *kind, const char *name,
                               lp_buffer_image *canvas, lp_mem *mem, lp_error *err);
/* Frees unused decoded images until at most keep bytes remain (the cache yields to
 * requests when the budget is short). */
void mrc_assets_trim(const mrc_data *d, uint64_t keep);
/* Charges bytes to mem; when the budget refuses, the decoded-image cache (which only saves
 * time) drops every unused image and the charge is tried once more. */
lp_status mrc_reserve_or_trim(const mrc_data *d, lp_mem *mem, uint64_t bytes, const char *what,
                              lp_error *err);
/* The font file's bytes, read once (FreeType faces are per thread in mrc_text). */
lp_status mrc_asset_font(const mrc_data *d, const char *file, const uint8_t **bytes,
                         size_t *size, lp_error *err);
void mrc_assets_free(mrc_data *d);
/* For the demo: registers an already decoded image / font bytes under kind/name. */
lp_status mrc_asset_add_image(mrc_data *d, const char *kind, const char *name,
                              lp_buffer_image *img, lp_error *err);
lp_status mrc_asset_add_font(mrc_data *d, const char *file, uint8_t *bytes, size_t size,
                             lp_error *err);

/* The games: their descriptors and parsers (after the types they use). */
#include "server/game.h"

#endif
