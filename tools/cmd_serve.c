/*
 * cmd_serve.c - `leanpix serve`: reference cards over HTTP (see include/leanpix/server.h
 * and docs/serve.md).
 *
 * Prints one line when listening ("leanpix serve: listening on http://HOST:PORT ...") so
 * that scripts and tests can read the port when --listen asks for port 0, then runs until
 * SIGINT or SIGTERM, when it stops accepting, finishes queued requests and exits 0.
 *
 * Allocator: glibc gives each thread that allocates its own arena and keeps freed memory
 * in them; for a server whose threads render 6 MB canvases that is tens of MB that never
 * go back. M_ARENA_MAX caps the arenas (default 2), a fixed M_MMAP_THRESHOLD (256 kB)
 * makes canvases, uploads and encoded cards mmap'd so that freeing them unmaps them, and
 * the workers call malloc_trim(0) when the server goes idle (measured in docs/serve.md).
 */
#include <malloc.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "budget.h"
#include "cli.h"

/* The upload-parsing limits (docs/serve.md, "Upload parsing limits"). */
static void usage_parse_limits(FILE *f)
{
    fprintf(f,
            "upload parsing limits:\n"
            "  %-22s element nesting of an fs2020 file (default %u) -> 413\n"
            "  %-22s labels drawn in one input's box (default %u); the rest are logged\n"
            "  %-22s labels drawn on one card (default %u); the rest are logged\n\n",
            "--max-xml-depth N", LP_SERVE_DEFAULT_XML_DEPTH, "--max-input-labels N",
            LP_SERVE_DEFAULT_INPUT_LABELS, "--max-card-labels N", LP_SERVE_DEFAULT_CARD_LABELS);
}

/* true when a is one of the options above (then *ok says whether its value was good) */
static bool parse_limit_flag(const char *a, const char *v, lp_server_options *o, bool *ok)
{
    unsigned *field = strcmp(a, "--max-xml-depth") == 0      ? &o->max_xml_depth
                      : strcmp(a, "--max-input-labels") == 0 ? &o->max_input_labels
                      : strcmp(a, "--max-card-labels") == 0  ? &o->max_card_labels
                                                             : NULL;
    if (field)
        *ok = cli_parse_uint(a, v, 1, 1000000, field);
    return field != NULL;
}

/* The per-client limits, their defaults read from lp_server_options_default. */
static void usage_client_limits(FILE *f)
{
    lp_server_options d;
    lp_server_options_default(&d);
    fprintf(f,
            "per-client limits (a slow or greedy client holds a bounded share; docs/serve.md):\n"
            "  %-24s total time for a request's headers (default %u s); past it -> closed\n"
            "  %-24s total time to receive a body, or to send an answer (default %u s) -> closed\n"
            "  %-24s open connections in all (default %u) -> 503\n"
            "  %-24s open connections per client address (default %u; 0 = no limit) -> 503\n"
            "  %-24s body bytes of all requests in the server (default: half the budget\n"
            "  %-24s outside the render pool) -> 503\n"
            "  %-24s body bytes per client address (default: a quarter of --upload-mem,\n"
            "  %-24s at least --max-body) -> 503\n"
            "  %-24s request line and headers per connection (default %lluk) -> 431\n"
            "  %-24s share the port with other servers (SO_REUSEPORT); without it a port\n"
            "  %-24s in use is an error\n\n",
            "--header-timeout S", d.header_timeout_s, "--body-timeout S", d.body_timeout_s,
            "--max-connections N", d.max_connections, "--per-ip-connections N",
            d.per_ip_connections, "--upload-mem SIZE", "", "--per-ip-upload-mem SIZE", "",
            "--max-header SIZE", (unsigned long long)(d.max_header >> 10), "--reuse-port", "");
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: leanpix serve [options]\n\n"
            "Renders controller reference cards (MetaRefCard data layout) over HTTP with a\n"
            "fixed worker pool, a bounded queue and a memory budget.\n\n"
            "options:\n"
            "  %-22s %s\n  %-22s %s\n  %-22s %s\n  %-22s %s\n  %-22s %s\n  %-22s %s\n"
            "  %-22s %s\n  %-22s %s\n  %-22s %s\n  %-22s %s\n  %-22s %s\n  %-22s %s\n"
            "  %-22s %s\n\n",
            "--listen HOST:PORT", "address to listen on (default 127.0.0.1:8080; port 0 = any)",
            "--data DIR", "MetaRefCard data directory (default: the built-in demo data set)",
            "--workers N", "render threads (default 2, at most the effective CPUs and what the budget holds)",
            "--queue N", "complete requests waiting for a worker (default 64); beyond -> 503",
            "--max-mem SIZE", "memory budget for counted memory (default 80M, at most " LP_DEFAULT_AVAILABLE_TEXT " minus " LP_STR(LP_DEFAULT_BASELINE_MIB) " MiB); beyond -> 503",
            "--max-body SIZE", "request body limit (default 4M) -> 413",
            "--max-files N", "files per upload (default 64) -> 413",
            "--timeout S", "idle connection timeout in seconds (default 10)",
            "--cache SIZE", "rendered cards kept for GET /v1/cards/ID.jpg (default 8M)",
            "--max-inline SIZE", "bytes of cards inline in one answer (HTML page, ?inline=1, multipart/mixed; default 16M) -> 413",
            "--arenas N", "glibc malloc arenas (default 2; 0 = glibc's default)",
            "--mmap-threshold SIZE", "blocks from this size are mmap'd and unmapped when freed (default 256k; 0 = glibc's sliding default)",
            "-h, --help", "this text");
    usage_parse_limits(f);
    usage_client_limits(f);
    fprintf(f,
            "routes: GET / /fs2020 /sws /healthz /metrics /v1/cards/ID.jpg;\n"
            "        POST /api/{fs2020,sws} (HTML) and /v1/cards/{fs2020,sws} (JSON; ?inline=1 or Accept: multipart/mixed puts the cards in it), multipart field 'file'\n"
            "exit status: 0 stopped by a signal, 1 could not start (e.g. address in use),\n"
            "             2 bad command line\n");
}

static bool parse_args(int argc, char **argv, lp_server_options *o, uint32_t *arenas,
                       uint64_t *mmap_threshold)
{
    int i = 1;
    while (i < argc) {  /* each option takes a value (i += 2) but --reuse-port (i += 1) */
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok = true;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            exit(LP_EXIT_OK);
        }
        if (strcmp(a, "--reuse-port") == 0) {
            o->reuse_port = true;
            i++;
            continue;
        }
        if (!v) {
            cli_error(NULL, "serve: %s needs a value (or unknown option)", a);
            return false;
        }
        if (parse_limit_flag(a, v, o, &ok))
            ;
        else if (strcmp(a, "--listen") == 0)
            o->listen = v;
        else if (strcmp(a, "--data") == 0)
            o->data_dir = v;
        else if (strcmp(a, "--workers") == 0)
            ok = cli_parse_uint(a, v, 1, 256, &o->workers);
        else if (strcmp(a, "--queue") == 0)
            ok = cli_parse_uint(a, v, 1, 100000, &o->queue);
        else if (strcmp(a, "--max-mem") == 0)
            ok = cli_parse_size(a, v, &o->max_mem);
        else if (strcmp(a, "--max-body") == 0)
            ok = cli_parse_size(a, v, &o->max_body);
        else if (strcmp(a, "--max-files") == 0)
            ok = cli_parse_uint(a, v, 1, 100000, &o->max_files);
        else if (strcmp(a, "--timeout") == 0)
            ok = cli_parse_uint(a, v, 1, 3600, &o->timeout_s);
        else if (strcmp(a, "--cache") == 0)
            ok = cli_parse_size(a, v, &o->cache_bytes);
        else if (strcmp(a, "--max-inline") == 0)
            ok = cli_parse_size(a, v, &o->max_inline);
        else if (strcmp(a, "--header-timeout") == 0)
            ok = cli_parse_uint(a, v, 1, 3600, &o->header_timeout_s);
        else if (strcmp(a, "--body-timeout") == 0)
            ok = cli_parse_uint(a, v, 1, 86400, &o->body_timeout_s);
        else if (strcmp(a, "--max-connections") == 0)
            ok = cli_parse_uint(a, v, 1, 100000, &o->max_connections);
        else if (strcmp(a, "--per-ip-connections") == 0)
            ok = cli_parse_uint(a, v, 0, 100000, &o->per_ip_connections);
        else if (strcmp(a, "--upload-mem") == 0)
            ok = cli_parse_size(a, v, &o->upload_mem);
        else if (strcmp(a, "--per-ip-upload-mem") == 0)
            ok = cli_parse_size(a, v, &o->per_ip_upload_mem);
        else if (strcmp(a, "--max-header") == 0)
            ok = cli_parse_size(a, v, &o->max_header);
        else if (strcmp(a, "--arenas") == 0)
            ok = cli_parse_uint(a, v, 0, 64, arenas);
        else if (strcmp(a, "--mmap-threshold") == 0)
            ok = cli_parse_size(a, v, mmap_threshold);
        else {
            cli_error(NULL, "serve: unknown option %s (see --help)", a);
            return false;
        }
        if (!ok)
            return false;
        i += 2;
    }
    return true;
}

int cmd_serve(int argc, char **argv)
{
    lp_server_options o;
    lp_server_options_default(&o);
    uint32_t arenas = 2;
    uint64_t mmap_threshold = 256 << 10;
    /* the fixed defaults, capped by what the container allows (leanpix/machine.h) */
    const uint64_t default_mem = o.max_mem;
    const unsigned default_workers = o.workers;
    o.max_mem = 0;
    o.workers = 0;
    if (!parse_args(argc, argv, &o, &arenas, &mmap_threshold))
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
    if (arenas)
        mallopt(M_ARENA_MAX, (int)arenas);
    /* A fixed threshold also stops glibc from raising it after each freed canvas, which
     * would move the next 6 MB canvases into the arenas, where freed memory stays. */
    if (mmap_threshold)
        mallopt(M_MMAP_THRESHOLD, (int)(mmap_threshold > (32u << 20) ? 32u << 20 : mmap_threshold));
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
        cli_lp_error(o.data_dir && !listen_failed ? o.data_dir : "serve", &err);
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
