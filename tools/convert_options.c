/*
 * convert_options.c - parsing of the shared convert options (see convert_options.h).
 *
 * Options are table-driven: each has a name, whether it takes a value, and a setter
 * that validates the value and prints a usage error naming the option when it is wrong.
 */
#include "convert_options.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define LP_QUOTE_(x) #x
#define LP_QUOTE(x) LP_QUOTE_(x)

typedef bool (*option_setter)(lp_convert_options *o, const char *opt, const char *value);

static bool set_format(lp_convert_options *o, const char *opt, const char *v)
{
    o->encode.format = lp_file_format_from_name(v);
    if (!lp_file_format_writable(o->encode.format)) {
        char names[128];
        lp_file_format_list(names, sizeof names, true, NULL);
        cli_error(NULL, "%s wants %s, not '%s'", opt, names, v);
        return false;
    }
    return true;
}

static bool set_quality(lp_convert_options *o, const char *opt, const char *v)
{
    return cli_parse_int(opt, v, 0, 100, &o->encode.quality);
}

static bool set_speed(lp_convert_options *o, const char *opt, const char *v)
{
    return cli_parse_int(opt, v, 0, 10, &o->encode.speed);
}

static bool set_chroma(lp_convert_options *o, const char *opt, const char *v)
{
    if (!strcmp(v, "420"))
        o->encode.chroma = LP_CHROMA_420;
    else if (!strcmp(v, "444"))
        o->encode.chroma = LP_CHROMA_444;
    else {
        cli_error(NULL, "%s wants 420 or 444, not '%s'", opt, v);
        return false;
    }
    return true;
}

static bool set_depth(lp_convert_options *o, const char *opt, const char *v)
{
    uint32_t d;
    if (!cli_parse_uint(opt, v, 8, 16, &d))
        return false;
    if (d != 8 && d != 10 && d != 16) {
        cli_error(NULL, "%s wants 8, 10 (AVIF) or 16 (PNG), not '%s'", opt, v);
        return false;
    }
    o->encode.bit_depth = d;
    return true;
}

static bool set_png_level(lp_convert_options *o, const char *opt, const char *v)
{
    return cli_parse_int(opt, v, 0, 9, &o->encode.png_level);
}

static bool set_threads(lp_convert_options *o, const char *opt, const char *v)
{
    return cli_parse_uint(opt, v, 1, 256, &o->encode.threads);
}

static bool set_grid(lp_convert_options *o, const char *opt, const char *v)
{
    if (!strcmp(v, "auto"))
        o->encode.grid = LP_GRID_AUTO;
    else if (!strcmp(v, "off"))
        o->encode.grid = LP_GRID_OFF;
    else {
        uint32_t w, h;
        if (!cli_parse_dims(opt, v, &w, &h))
            return false;
        if (!w || !h || w < 64 || h < 64 || w % 2 || h % 2) {
            cli_error(NULL, "%s cells must be at least 64x64 and even (multiples of 64 are best), not '%s'", opt, v);
            return false;
        }
        o->encode.grid = LP_GRID_FIXED;
        o->encode.grid_cell_width = w;
        o->encode.grid_cell_height = h;
    }
    return true;
}

static bool set_resize(lp_convert_options *o, const char *opt, const char *v)
{
    return cli_parse_dims(opt, v, &o->resize_width, &o->resize_height);
}

static bool set_max_dim(lp_convert_options *o, const char *opt, const char *v)
{
    return cli_parse_uint(opt, v, 1, 1000000, &o->max_dim);
}

static bool set_scale(lp_convert_options *o, const char *opt, const char *v)
{
    return cli_parse_double(opt, v, 1e-4, 64, &o->scale);
}

static bool set_kernel(lp_convert_options *o, const char *opt, const char *v)
{
    bool ok;
    o->kernel = lp_kernel_from_name(v, &ok);
    if (!ok)
        cli_error(NULL, "%s wants lanczos3, lanczos2, cubic, linear or nearest, not '%s'", opt, v);
    return ok;
}

static bool set_max_mem(lp_convert_options *o, const char *opt, const char *v)
{
    return cli_parse_size(opt, v, &o->max_mem);
}

static bool set_max_pixels(lp_convert_options *o, const char *opt, const char *v)
{
    double mp;
    if (!cli_parse_double(opt, v, 0.000001, 1e6, &mp))
        return false;
    o->limits.max_pixels = (uint64_t)(mp * 1e6);
    return true;
}

static bool set_max_width(lp_convert_options *o, const char *opt, const char *v)
{
    return cli_parse_uint(opt, v, 1, 1000000, &o->limits.max_width);
}

static bool set_max_height(lp_convert_options *o, const char *opt, const char *v)
{
    return cli_parse_uint(opt, v, 1, 1000000, &o->limits.max_height);
}

static bool set_max_file_size(lp_convert_options *o, const char *opt, const char *v)
{
    return cli_parse_size(opt, v, &o->limits.max_file_bytes);
}

static bool set_max_scans(lp_convert_options *o, const char *opt, const char *v)
{
    return cli_parse_uint(opt, v, 0, 1000000, &o->limits.max_scans);
}

static bool set_max_warnings(lp_convert_options *o, const char *opt, const char *v)
{
    return cli_parse_uint(opt, v, 0, 1000000, &o->limits.max_warnings);
}

static bool set_max_metadata(lp_convert_options *o, const char *opt, const char *v)
{
    return cli_parse_size(opt, v, &o->limits.max_metadata_bytes);
}

static bool set_io(lp_convert_options *o, const char *opt, const char *v)
{
    if (!strcmp(v, "read"))
        o->io = LP_IO_READ;
    else if (!strcmp(v, "mmap"))
        o->io = LP_IO_MMAP;
    else {
        cli_error(NULL, "%s wants read or mmap, not '%s'", opt, v);
        return false;
    }
    return true;
}

static bool set_progressive(lp_convert_options *o, const char *opt, const char *v)
{
    (void)opt, (void)v;
    o->encode.progressive = true;
    return true;
}

static bool set_lossless(lp_convert_options *o, const char *opt, const char *v)
{
    (void)opt, (void)v;
    o->encode.lossless = true;
    return true;
}

static bool set_strip(lp_convert_options *o, const char *opt, const char *v)
{
    (void)opt, (void)v;
    o->encode.strip_metadata = true;
    return true;
}

static bool set_autorotate(lp_convert_options *o, const char *opt, const char *v)
{
    (void)opt, (void)v;
    o->autorotate = true;
    return true;
}

/* "white", "black", "#rrggbb", "rrggbb" or "R,G,B" (0-255 each). */
static bool set_background(lp_convert_options *o, const char *opt, const char *v)
{
    unsigned r, g, b;
    char end;
    const char *hex = v[0] == '#' ? v + 1 : v;
    if (!strcmp(v, "white"))
        r = g = b = 255;
    else if (!strcmp(v, "black"))
        r = g = b = 0;
    else if (strlen(hex) == 6 && strspn(hex, "0123456789abcdefABCDEF") == 6 &&
             sscanf(hex, "%2x%2x%2x", &r, &g, &b) == 3)
        ;
    else if (sscanf(v, "%u,%u,%u%c", &r, &g, &b, &end) != 3 || r > 255 || g > 255 || b > 255) {
        cli_error(NULL, "%s wants white, black, #rrggbb or R,G,B (0-255), not '%s'", opt, v);
        return false;
    }
    o->background[0] = (uint8_t)r;
    o->background[1] = (uint8_t)g;
    o->background[2] = (uint8_t)b;
    return true;
}

static bool set_enlarge(lp_convert_options *o, const char *opt, const char *v)
{
    (void)opt, (void)v;
    o->enlarge = true;
    return true;
}

typedef struct option_entry {
    const char *name;
    const char *alias;
    bool takes_value;
    option_setter set;
    const char *help;
} option_entry;

static const option_entry options[] = {
    {"--format", "-f", true, set_format, "avif|jpeg|webp|png (default: from the output's extension)"},
    {"--quality", "-q", true, set_quality, "0-100 (default: AVIF " LP_QUOTE(LP_AVIF_DEFAULT_QUALITY) ", JPEG " LP_QUOTE(LP_JPEG_DEFAULT_QUALITY) ", WebP " LP_QUOTE(LP_WEBP_DEFAULT_QUALITY) ")"},
    {"--speed", "-s", true, set_speed, "AVIF encoder speed 0-10 (avifenc's -s; default " LP_QUOTE(LP_AVIF_DEFAULT_SPEED) "); WebP method = 6 - speed/2"},
    {"--chroma", NULL, true, set_chroma, "420|444 chroma subsampling for AVIF/JPEG/WebP (default 420)"},
    {"--depth", NULL, true, set_depth, "bits per sample: AVIF 8|10, PNG 8|16 (default 8 / as input)"},
    {"--progressive", NULL, false, set_progressive, "progressive JPEG output"},
    {"--lossless", NULL, false, set_lossless, "lossless WebP output"},
    {"--png-level", NULL, true, set_png_level, "PNG zlib level 0-9 (default 6)"},
    {"--threads", "-t", true, set_threads, "encoder threads of one image (what avifenc calls -j; default: the effective CPUs (affinity, cgroup quota) that fit the budget; batch: 1 per job, plus idle workers lent)"},
    {"--grid", NULL, true, set_grid, "AVIF: auto|off|WxH cell size (default auto: a grid when one frame is over AV1 level 6 or the budget)"},
    {"--resize", "-r", true, set_resize, "WxH: fit inside (either side may be omitted: 1920x, x1080)"},
    {"--max-dim", NULL, true, set_max_dim, "N: fit inside NxN"},
    {"--scale", NULL, true, set_scale, "F: multiply both sides by F"},
    {"--enlarge", NULL, false, set_enlarge, "allow outputs larger than the input (default: only shrink)"},
    {"--kernel", NULL, true, set_kernel, "lanczos3|lanczos2|cubic|linear|nearest (default lanczos3)"},
    {"--autorotate", NULL, false, set_autorotate, "rotate pixels by EXIF orientation (AVIF always keeps pixels and writes irot/imir)"},
    {"--background", NULL, true, set_background, "COLOR under transparent pixels when the output has no alpha (JPEG): white|black|#rrggbb|R,G,B (default white)"},
    {"--strip", NULL, false, set_strip, "drop ICC, EXIF and XMP metadata (pixels are then turned upright, as with --autorotate)"},
    {"--max-mem", NULL, true, set_max_mem, "SIZE: counted-memory budget of a job, e.g. 256M (convert's default, also for 0: " LP_DEFAULT_AVAILABLE_TEXT
     " minus " LP_STR(LP_DEFAULT_BASELINE_MIB) " MiB)"},
    {"--max-pixels", NULL, true, set_max_pixels, "MP: refuse inputs over this many megapixels (default 268.4)"},
    {"--max-width", NULL, true, set_max_width, "N: refuse inputs wider than N (default 65535)"},
    {"--max-height", NULL, true, set_max_height, "N: refuse inputs taller than N (default 65535)"},
    {"--max-file-size", NULL, true, set_max_file_size, "SIZE: refuse input files larger than this (default 2G)"},
    {"--max-scans", NULL, true, set_max_scans, "N: refuse JPEGs with more than N progressive scans, 0 = no limit (default " LP_QUOTE(LP_DEFAULT_MAX_SCANS) "; encoders write about 10)"},
    {"--max-warnings", NULL, true, set_max_warnings, "N: refuse JPEGs with more than N recoverable defects, 0 = no limit (default " LP_QUOTE(LP_DEFAULT_MAX_WARNINGS) ")"},
    {"--max-metadata", NULL, true, set_max_metadata, "SIZE: ICC+EXIF+XMP kept from an input, PNG text chunks read, a HEIF/AVIF meta box (default " LP_QUOTE(LP_DEFAULT_MAX_METADATA_MIB) "M); JPEG metadata over it is left out, PNG/HEIF/AVIF over it are refused"},
    {"--io", NULL, true, set_io, "read|mmap: how inputs are read (default read)"},
};

int convert_option_parse(lp_convert_options *opts, int argc, char **argv, int *i)
{
    const char *arg = argv[*i];
    const char *inline_value = NULL;
    char name[64];
    const char *eq = strchr(arg, '=');
    if (eq && arg[0] == '-' && arg[1] == '-' && (size_t)(eq - arg) < sizeof name) {
        memcpy(name, arg, (size_t)(eq - arg));
        name[eq - arg] = '\0';
        inline_value = eq + 1;
        arg = name;
    }
    for (size_t k = 0; k < sizeof options / sizeof options[0]; k++) {
        const option_entry *e = &options[k];
        if (strcmp(arg, e->name) && !(e->alias && !strcmp(arg, e->alias)))
            continue;
        const char *value = NULL;
        if (e->takes_value) {
            if (inline_value)
                value = inline_value;
            else if (*i + 1 < argc)
                value = argv[++*i];
            else {
                cli_error(NULL, "%s needs a value", e->name);
                return -1;
            }
        } else if (inline_value) {
            cli_error(NULL, "%s takes no value", e->name);
            return -1;
        }
        return e->set(opts, e->name, value) ? 1 : -1;
    }
    return 0;
}

void convert_options_init(lp_convert_options *o)
{
    lp_convert_options_default(o);
    /* the library reads no environment: the CLI hands it what the user's shell says */
    const char *tmp = getenv("TMPDIR");
    o->encode.temp_dir = tmp && *tmp ? tmp : NULL;
}

/* Library messages state a limit or a fact but never name a flag; this maps them to the
 * flag that changes it (every command's errors pass through cli_lp_error). */
const char *convert_option_hint(const lp_error *err)
{
    static const struct {
        const char *phrase;
        const char *hint;
    } hints[] = {
        {"progressive scans, the limit", " (raise it with --max-scans)"},
        {"recoverable defects, the limit", " (raise it with --max-warnings)"},
        {"over the metadata limit", " (raise it with --max-metadata)"},
        {"encode it as a grid", " (--grid auto or --grid WxH)"},
        {"cannot tell the output format", " (or use --format)"},
        {"a shard is I/N", " (--shard)"},
        {"MiB is too small for", " (raise --max-mem or lower --workers)"},
        {"or a data directory", " (--data DIR)"},
    };
    if (!err || err->status == LP_OK)
        return "";
    for (size_t k = 0; k < sizeof hints / sizeof hints[0]; k++)
        if (strstr(err->message, hints[k].phrase))
            return hints[k].hint;
    return "";
}

void convert_options_help(FILE *f, const char *const *skip)
{
    for (size_t k = 0; k < sizeof options / sizeof options[0]; k++) {
        const option_entry *e = &options[k];
        bool skipped = false;
        for (const char *const *s = skip; s && *s && !skipped; s++)
            skipped = !strcmp(*s, e->name);
        if (skipped)
            continue;
        char left[48];
        snprintf(left, sizeof left, "%s%s%s%s", e->alias ? e->alias : "", e->alias ? ", " : "",
                 e->name, e->takes_value ? " V" : "");
        cli_help_option(f, 22, left, e->help);
    }
}
