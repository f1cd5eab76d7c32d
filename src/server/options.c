/*
 * options.c - the table of the server's options: the one place where their defaults are
 * written (see options.h). Help texts say what the option bounds and what happens past
 * it; the why of each default is in docs/serve.md next to its measurement.
 */
#include "server/options.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "leanpix/machine.h"

/* kind and field of an entry */
#define TEXT(f) LP_OPTION_TEXT, LP_OPTION_AT(lp_server_options, f, const char *)
#define COUNT(f) LP_OPTION_COUNT, LP_OPTION_AT(lp_server_options, f, unsigned)
#define SECONDS(f) LP_OPTION_SECONDS, LP_OPTION_AT(lp_server_options, f, unsigned)
#define SIZE(f) LP_OPTION_SIZE, LP_OPTION_AT(lp_server_options, f, uint64_t)
#define FLAG(f) LP_OPTION_FLAG, LP_OPTION_AT(lp_server_options, f, bool)
#define KIB ((uint64_t)1 << 10)
#define MIB ((uint64_t)1 << 20)

static const char SERVER[] = "server";
static const char PARSE[] = "upload parsing limits (what one upload may make)";
static const char DATA[] = "data set limits (its YAML files, read at start-up; past one, not started)";
static const char CLIENTS[] = "per-client limits (what one slow or greedy client may hold)";

const lp_option lp_server_option_table[] = {
    {"listen", SERVER, TEXT(listen), "HOST:PORT", .def_text = "127.0.0.1:8080",
     .help = "address to listen on (IPv4); port 0 = any free port"},
    {"data", SERVER, TEXT(data_dir), "DIR",
     .def_note = "the built-in demo data set", .help = "MetaRefCard data directory"},
    {"workers", SERVER, COUNT(workers), .def = 2,
     .def_note = "at most the effective CPUs and what the budget holds", .min = 1, .max = 256,
     .help = "render threads"},
    {"queue", SERVER, COUNT(queue), .def = 64, .min = 1, .max = 100000,
     .help = "complete requests waiting for a worker; beyond -> 503"},
    {"max-mem", SERVER, SIZE(max_mem), .def = 80 * MIB,
     .def_note = "at most " LP_DEFAULT_AVAILABLE_TEXT " minus " LP_STR(
         LP_DEFAULT_BASELINE_MIB) " MiB",
     .help = "budget for counted memory (uploads, images, canvases, cards); beyond -> 503"},
    {"max-body", SERVER, SIZE(max_body), .def = 4 * MIB, .min = 1,
     .help = "request body limit -> 413"},
    {"max-files", SERVER, COUNT(max_files), .def = 64, .min = 1, .max = 100000,
     .help = "files per upload -> 413"},
    {"timeout", SERVER, SECONDS(timeout_s), .def = 10, .min = 1, .max = 3600,
     .help = "idle connection timeout (headers or body)"},
    {"cache", SERVER, SIZE(cache_bytes), .def = 8 * MIB,
     .help = "rendered cards kept for GET /v1/cards/ID.jpg"},
    {"max-inline", SERVER, SIZE(max_inline), .def = 16 * MIB,
     .help = "bytes of cards inline in one answer (HTML page, ?inline=1, multipart/mixed, zip) -> 413"},

    {"max-xml-depth", PARSE, COUNT(max_xml_depth), .def = 64, .min = 1,
     .max = 1000000, .help = "element nesting of an XML bindings file -> 413"},
    {"max-input-labels", PARSE, COUNT(max_input_labels), .def = 32, .min = 1,
     .max = 1000000, .help = "labels drawn in one input's box; the rest are logged"},
    {"max-card-labels", PARSE, COUNT(max_card_labels), .def = 512, .min = 1,
     .max = 1000000, .help = "labels drawn on one card; the rest are logged"},
    {"max-profile-line", PARSE, SIZE(max_profile_line), .def = 4 * KIB,
     .min = 1, .help = "a longer .profile line is skipped (it cannot be a binding)"},
    {"regex-match-limit", PARSE, COUNT(regex_match_limit), .def = 100000,
     .min = 1, .max = UINT32_MAX, .help = "backtracking steps of one PCRE2 match; past it, no match"},
    {"regex-depth-limit", PARSE, COUNT(regex_depth_limit), .def = 10000,
     .min = 1, .max = UINT32_MAX, .help = "backtracking depth of one PCRE2 match; past it, no match"},
    {"regex-heap", PARSE, SIZE(regex_heap), .def = 1 * MIB, .min = 1 * KIB,
     .max = (uint64_t)UINT32_MAX * KIB,
     .help = "heap for one PCRE2 match's backtracking frames; past it, no match"},
    {"max-log-lines", PARSE, COUNT(max_log_lines), .def = 10000, .min = 1,
     .max = 10000000, .help = "log lines kept for one request; the rest are counted"},
    {"max-log-line", PARSE, SIZE(max_log_line), .def = 512, .min = 16,
     .max = 1 * MIB, .help = "bytes of one log line; longer ones are cut with \"...\""},

    {"max-yaml-size", DATA, SIZE(max_yaml_size), .def = 16 * MIB, .min = 1,
     .max = UINT32_MAX, .help = "bytes of one YAML file of the data set"},
    {"max-yaml-depth", DATA, COUNT(max_yaml_depth), .def = 64, .min = 1,
     .max = 100000, .help = "nesting of a YAML file of the data set"},
    {"max-yaml-nodes", DATA, COUNT(max_yaml_nodes), .def = 1000000, .min = 1,
     .max = UINT32_MAX, .help = "nodes of one YAML file of the data set"},
    {"max-yaml-steps", DATA, COUNT(max_yaml_steps), .def = 4000000, .min = 1,
     .max = UINT32_MAX,
     .help = "steps of the walk over one loaded YAML file, aliases expanded (alias bombs)"},

    {"header-timeout", CLIENTS, SECONDS(header_timeout_s), .def = 15, .min = 1,
     .max = 3600, .help = "total time for a request's headers; past it the connection is closed"},
    {"body-timeout", CLIENTS, SECONDS(body_timeout_s), .def = 60, .min = 1,
     .max = 86400, .help = "total time to receive a body, or to send an answer; past it closed"},
    {"max-connections", CLIENTS, COUNT(max_connections), .def = 512, .min = 1,
     .max = 100000, .help = "open connections in all; beyond -> 503"},
    {"per-ip-connections", CLIENTS, COUNT(per_ip_connections), .def = 16,
     .max = 100000, .help = "open connections per client address (0 = no limit); beyond -> 503"},
    {"upload-mem", CLIENTS, SIZE(upload_mem),
     .def_note = "half the budget outside the render pool",
     .help = "body bytes of all requests in the server; beyond -> 503"},
    {"per-ip-upload-mem", CLIENTS, SIZE(per_ip_upload_mem),
     .def_note = "a quarter of {upload-mem}, at least {max-body}",
     .help = "body bytes per client address; beyond -> 503"},
    {"max-header", CLIENTS, SIZE(max_header), .def = 64 * KIB, .min = 1 * KIB,
     .help = "request line and headers per connection; beyond -> 431"},
    {"reuse-port", CLIENTS, FLAG(reuse_port),
     .help = "share the port with other servers (SO_REUSEPORT); without it a port in use is "
             "an error"},
};
const size_t lp_server_option_count = sizeof lp_server_option_table / sizeof *lp_server_option_table;

void lp_option_set_defaults(const lp_option *table, size_t count, void *base)
{
    for (size_t i = 0; i < count; i++) {
        const lp_option *o = &table[i];
        char *field = (char *)base + o->offset;
        switch (o->kind) {
        case LP_OPTION_TEXT:
            memcpy(field, &o->def_text, sizeof o->def_text);
            break;
        case LP_OPTION_COUNT:
        case LP_OPTION_SECONDS: {
            unsigned v = (unsigned)o->def;
            memcpy(field, &v, sizeof v);
            break;
        }
        case LP_OPTION_SIZE:
            memcpy(field, &o->def, sizeof o->def);
            break;
        case LP_OPTION_FLAG: {
            bool v = o->def != 0;
            memcpy(field, &v, sizeof v);
            break;
        }
        }
    }
}

void lp_server_options_default(lp_server_options *opts)
{
    memset(opts, 0, sizeof *opts);
    lp_option_set_defaults(lp_server_option_table, lp_server_option_count, opts);
}

static lp_server_options defaults;
static pthread_once_t defaults_once = PTHREAD_ONCE_INIT;

static void fill_defaults(void)
{
    lp_server_options_default(&defaults);
}

const lp_server_options *lp_server_defaults(void)
{
    pthread_once(&defaults_once, fill_defaults);
    return &defaults;
}

static void format_size(char *buf, size_t size, uint64_t v)
{
    if (v && v % MIB == 0)
        snprintf(buf, size, "%" PRIu64 " MiB", v / MIB);
    else if (v && v % KIB == 0)
        snprintf(buf, size, "%" PRIu64 " KiB", v / KIB);
    else
        snprintf(buf, size, "%" PRIu64 " bytes", v);
}

char *lp_option_default_text(const lp_option *o, char *buf, size_t size)
{
    char value[64] = "";
    bool derived = o->def_note && !o->def && !o->def_text;  /* the note is the default */
    switch (o->kind) {
    case LP_OPTION_TEXT:
        snprintf(value, sizeof value, "%s", o->def_text ? o->def_text : "");
        break;
    case LP_OPTION_COUNT:
        snprintf(value, sizeof value, "%" PRIu64, o->def);
        break;
    case LP_OPTION_SECONDS:
        snprintf(value, sizeof value, "%" PRIu64 " s", o->def);
        break;
    case LP_OPTION_SIZE:
        format_size(value, sizeof value, o->def);
        break;
    case LP_OPTION_FLAG:
        snprintf(value, sizeof value, "%s", o->def ? "on" : "off");
        break;
    }
    if (derived)
        snprintf(buf, size, "%s", o->def_note);
    else if (o->def_note)
        snprintf(buf, size, "%s, %s", value, o->def_note);
    else
        snprintf(buf, size, "%s", value);
    return buf;
}

const lp_option *lp_option_find(const lp_option *table, size_t count, const char *name)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(table[i].name, name) == 0)
            return &table[i];
    return NULL;
}
