/*
 * cmd_serve.c - `leanpix serve`: reference cards over HTTP (see src/server/serve.h
 * and docs/serve.md).
 *
 * Prints one line when listening ("leanpix serve: listening on http://HOST:PORT ...") so
 * that scripts and tests can read the port when --listen asks for port 0, then runs until
 * SIGINT or SIGTERM, when it stops accepting, finishes queued requests and exits 0.
 *
 * Allocator: glibc gives each thread that allocates its own arena and keeps freed memory
 * in them; for a server whose threads render 6 MB canvases that is tens of MB that never
 * go back. M_ARENA_MAX caps the arenas (--arenas), a fixed M_MMAP_THRESHOLD
 * (--mmap-threshold) makes canvases, uploads and encoded cards mmap'd so that freeing them
 * unmaps them, and the workers call malloc_trim(0) when the server goes idle (measured in
 * docs/serve.md).
 *
 * Options: --help, --help-markdown and the parser iterate the server's option table
 * (src/server/options.c) and this file's table of the allocator's; neither lists an
 * option or a default by hand.
 */
#include <malloc.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "budget.h"
#include "cli.h"
#include "server/game.h"
#include "server/options.h"
#include "server/serve.h"

/* The CLI's own options: allocator settings are process-wide, so the library must not
 * make them. Described like the server's (server/options.h), in their own table. */
typedef struct serve_process {
    unsigned arenas;
    uint64_t mmap_threshold;
} serve_process;

static const char ALLOCATOR[] = "allocator (process-wide; docs/serve.md, \"Allocator settings\")";
static const lp_option process_table[] = {
    {"arenas", ALLOCATOR, LP_OPTION_COUNT,
     LP_OPTION_AT(serve_process, arenas, unsigned), .def = 2, .max = 64,
     .help = "glibc malloc arenas (0 = glibc's default)"},
    {"mmap-threshold", ALLOCATOR, LP_OPTION_SIZE,
     LP_OPTION_AT(serve_process, mmap_threshold, uint64_t),
     .def = 256u << 10, .max = 32u << 20,
     .help = "blocks from this size are mmap'd and unmapped when freed (0 = glibc's sliding "
             "default)"},
};
static const size_t process_count = sizeof process_table / sizeof *process_table;

/* Every option `serve` takes: the server's table, then the CLI's own. */
static const struct {
    const lp_option *options;
    const size_t *count;
} tables[] = {{lp_server_option_table, &lp_server_option_count}, {process_table, &process_count}};
#define NTABLES (sizeof tables / sizeof *tables)

/* A help text with its {name} references spelled as this CLI spells options. */
static void put_text(FILE *f, const char *text, bool markdown)
{
    for (const char *p = text; *p; p++) {
        const char *close = *p == '{' ? strchr(p, '}') : NULL;
        if (!close) {
            fputc(*p, f);
            continue;
        }
        fprintf(f, markdown ? "`--%.*s`" : "--%.*s", (int)(close - p - 1), p + 1);
        p = close;
    }
}

static const char *value_name(const lp_option *o)
{
    static const char *const by_kind[] = {
        [LP_OPTION_TEXT] = "TEXT", [LP_OPTION_COUNT] = "N", [LP_OPTION_SECONDS] = "S",
        [LP_OPTION_SIZE] = "SIZE", [LP_OPTION_FLAG] = ""};
    return o->value ? o->value : by_kind[o->kind];
}

/* One option's line of --help: "  --max-body SIZE          request body limit -> 413
 * (default 4 MiB)". */
static void usage_option(FILE *f, const lp_option *o)
{
    char flag[64], def[256];
    snprintf(flag, sizeof flag, "--%s%s%s", o->name, *value_name(o) ? " " : "", value_name(o));
    char *text = NULL;
    size_t len = 0;
    FILE *t = open_memstream(&text, &len);
    if (!t)
        return;
    put_text(t, o->help, false);
    if (o->kind != LP_OPTION_FLAG) {
        fputs(" (default: ", t);
        put_text(t, lp_option_default_text(o, def, sizeof def), false);
        fputc(')', t);
    }
    if (fclose(t) == 0)
        cli_help_option(f, 26, flag, text);
    free(text);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: leanpix serve [options]\n\n"
            "Renders controller reference cards (MetaRefCard data layout) over HTTP with a\n"
            "fixed worker pool, a bounded queue and a memory budget.\n");
    const char *section = NULL;
    for (size_t t = 0; t < NTABLES; t++)
        for (size_t i = 0; i < *tables[t].count; i++) {
            const lp_option *o = &tables[t].options[i];
            if (o->section != section)
                fprintf(f, "\n%s:\n", section = o->section);
            usage_option(f, o);
        }
    /* the routes of each game come from the table of games (src/server/games.c) */
    char games[128] = "";
    size_t used = 0;
    for (size_t i = 0; i < lp_games_count() && used < sizeof games; i++) {
        int n = snprintf(games + used, sizeof games - used, "%s%s", i ? "," : "", lp_games_at(i)->name);
        used += n > 0 ? (size_t)n : 0;
    }
    fprintf(f, "\n  %-26s this text\n  %-26s the options as docs/serve.md lists them\n\n",
            "-h, --help", "--help-markdown");
    fprintf(f, "routes: GET / /{%s} /static/FILE /healthz /metrics /v1/cards/ID.jpg;\n"
               "        POST /api/{%s} (HTML) and /v1/cards/{%s}\n"
               "        (JSON; ?inline=1 or Accept: multipart/mixed puts the cards in it,\n"
               "        ?format=zip or Accept: application/zip answers a zip of them),\n"
               "        multipart field 'file'\n"
               "exit status: 0 stopped by a signal, 1 could not start (e.g. address in use),\n"
               "             2 bad command line\n",
            games, games, games);
}

/* The options as Markdown tables, one per section: docs/serve.md holds this between its
 * serve-options markers (scripts/update-serve-docs.sh; tests/test_serve_defaults.c). */
static void usage_markdown(FILE *f)
{
    const char *section = NULL;
    for (size_t t = 0; t < NTABLES; t++)
        for (size_t i = 0; i < *tables[t].count; i++) {
            const lp_option *o = &tables[t].options[i];
            char def[256];
            if (o->section != section) {
                fprintf(f, "%s**%s**\n\n| option | default | what it bounds or does |\n|---|---|---|\n",
                        section ? "\n" : "", o->section);
                section = o->section;
            }
            fprintf(f, "| `--%s%s%s` | ", o->name, *value_name(o) ? " " : "", value_name(o));
            put_text(f, o->kind == LP_OPTION_FLAG ? "off" : lp_option_default_text(o, def, sizeof def),
                     true);
            fputs(" | ", f);
            put_text(f, o->help, true);
            fputs(" |\n", f);
        }
}

/* Parses one option's value text into its field; false (after a usage error) when bad. */
static bool parse_value(const lp_option *o, const char *flag, const char *text, void *base)
{
    void *field = (char *)base + o->offset;
    uint64_t max = o->max ? o->max : UINT64_MAX;
    switch (o->kind) {
    case LP_OPTION_TEXT:
        memcpy(field, &text, sizeof text);
        return true;
    case LP_OPTION_COUNT:
    case LP_OPTION_SECONDS:
        return cli_parse_uint(flag, text, (uint32_t)o->min, (uint32_t)(max > UINT32_MAX ? UINT32_MAX : max),
                              field);
    case LP_OPTION_SIZE: {
        uint64_t v;
        if (!cli_parse_size(flag, text, &v))
            return false;
        if (v < o->min || v > max) {
            char lo[64], hi[64];
            snprintf(lo, sizeof lo, "%llu", (unsigned long long)o->min);
            snprintf(hi, sizeof hi, "%llu", (unsigned long long)max);
            cli_error(NULL, "%s wants a size from %s to %s bytes, not '%s'", flag, lo, hi, text);
            return false;
        }
        memcpy(field, &v, sizeof v);
        return true;
    }
    case LP_OPTION_FLAG:
        *(bool *)field = true;
        return true;
    }
    return false;
}

static bool parse_args(int argc, char **argv, lp_server_options *o, serve_process *proc)
{
    void *bases[] = {o, proc};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            exit(LP_EXIT_OK);
        }
        if (strcmp(a, "--help-markdown") == 0) {
            usage_markdown(stdout);
            exit(LP_EXIT_OK);
        }
        const lp_option *opt = NULL;
        size_t t = 0;
        for (; !opt && strncmp(a, "--", 2) == 0 && t < NTABLES; t++)
            opt = lp_option_find(tables[t].options, *tables[t].count, a + 2);
        if (!opt) {
            cli_error(NULL, "serve: unknown option %s (see --help)", a);
            return false;
        }
        if (opt->kind != LP_OPTION_FLAG && i + 1 >= argc) {
            cli_error(NULL, "serve: %s needs a value", a);
            return false;
        }
        if (!parse_value(opt, a, opt->kind == LP_OPTION_FLAG ? NULL : argv[++i], bases[t - 1]))
            return false;
    }
    return true;
}

/* The server's messages state a limit but name no flag; the option that changes it. */
static const char *start_hint(const lp_error *err)
{
    static const struct {
        const char *phrase, *hint;
    } hints[] = {
        {"bytes of YAML, over the limit", " (raise it with --max-yaml-size)"},
        {"YAML nested deeper than", " (raise it with --max-yaml-depth)"},
        {"YAML nodes at line", " (raise it with --max-yaml-nodes)"},
        {"YAML aliases expand past the limit", " (--max-yaml-steps, --max-yaml-depth)"},
    };
    for (size_t k = 0; k < sizeof hints / sizeof *hints; k++)
        if (strstr(lp_error_message(err), hints[k].phrase))
            return hints[k].hint;
    return NULL;
}

int cmd_serve(int argc, char **argv)
{
    lp_server_options o;
    lp_server_options_default(&o);
    serve_process proc;
    lp_option_set_defaults(process_table, process_count, &proc);
    /* the fixed defaults, capped by what the container allows (leanpix/machine.h) */
    const uint64_t default_mem = o.max_mem;
    const unsigned default_workers = o.workers;
    o.max_mem = 0;
    o.workers = 0;
    if (!parse_args(argc, argv, &o, &proc))
        return LP_EXIT_USAGE;
    lp_budget budget;
    cli_budget(cli_machine(), LP_BUDGET_SERVE, o.max_mem, default_mem, &budget);
    o.max_mem = budget.bytes;
    o.budget_source = budget.why;
    if (!o.workers) {  /* as many as the CPUs and the budget hold, up to the default */
        o.workers = lp_default_workers(cli_machine(), default_workers);
        unsigned fit = o.max_mem ? lp_server_workers_for(o.max_mem) : o.workers;
        if (fit && fit < o.workers)
            o.workers = fit;
    }
    if (proc.arenas)
        mallopt(M_ARENA_MAX, (int)proc.arenas);
    /* A fixed threshold also stops glibc from raising it after each freed canvas, which
     * would move the next 6 MB canvases into the arenas, where freed memory stays. (glibc
     * takes at most 32 MiB: the table's bound.) */
    if (proc.mmap_threshold)
        mallopt(M_MMAP_THRESHOLD, (int)proc.mmap_threshold);
    /* signals are taken by sigwait below: block them before any thread starts */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    lp_server *server;
    lp_error err = {0};
    if (lp_server_start(&server, &o, &err) != LP_OK) {
        /* the data directory names what failed, unless it was the address (which the
         * message names itself) */
        bool listen_failed = strncmp(lp_error_message(&err), "cannot listen", 13) == 0;
        const char *subject = o.data_dir && !listen_failed ? o.data_dir : "serve";
        const char *hint = start_hint(&err);
        if (hint)
            cli_error(subject, "%s%s", lp_error_message(&err), hint);
        else
            cli_lp_error(subject, &err);
        return LP_EXIT_FAILURE;
    }
    char host[64];
    const char *colon = strrchr(o.listen, ':');
    snprintf(host, sizeof host, "%.*s", (int)(colon ? colon - o.listen : 0), o.listen);
    printf("leanpix serve: listening on http://%s:%u (data: %s, %u workers, queue %u, budget %s)\n",
           *host ? host : "0.0.0.0", lp_server_port(server), o.data_dir ? o.data_dir : "built-in demo",
           o.workers, o.queue, budget.why);
    fflush(stdout);
    int sig = 0;
    sigwait(&set, &sig);
    lp_server_stop(server);
    return LP_EXIT_OK;
}
