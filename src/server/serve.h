/*
 * server/serve.h - `leanpix serve`: reference cards (a device image with the game's
 * bindings drawn as labels in its input boxes) rendered on the fly over HTTP, in bounded
 * memory.
 *
 * The server reads a MetaRefCard-style data directory (config/ YAML files, resources/) or,
 * without one, a small demo data set it generates itself. Uploads are read by
 * libmicrohttpd's polling thread (slow clients cost a socket, not a worker); complete
 * requests go into a bounded queue served by a fixed pool of render workers. A request is
 * admitted only while the queue has room and the memory budget can hold its estimate;
 * beyond that it gets 503 with Retry-After. Each client address gets a bounded share of
 * connections and of upload bytes, and headers and bodies have total deadlines, so that
 * slow or greedy clients cannot lock the others out. See docs/serve.md for the API.
 */
#ifndef LP_SERVER_SERVE_H
#define LP_SERVER_SERVE_H

#include <stdbool.h>
#include <stdint.h>
#include "leanpix/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The options of a server. Their defaults, accepted ranges and help are in one table,
 * src/server/options.c; lp_server_options_default() fills the struct from it. */
typedef struct lp_server_options {
    const char *listen;     /* "HOST:PORT"; port 0 = any free port */
    const char *data_dir;   /* MetaRefCard data layout; NULL = the built-in demo data set */
    unsigned workers;       /* render threads (0 = 1) */
    unsigned queue;         /* complete requests waiting for a worker (0 = 1) -> 503 */
    uint64_t max_mem;       /* budget for counted memory: decoded images, uploads, canvases,
                               encoded cards, estimates of queued jobs (0 = none) -> 503 */
    uint64_t max_body;      /* request body limit in bytes -> 413 */
    unsigned max_files;     /* files per upload -> 413 */
    unsigned timeout_s;     /* idle connection timeout, headers and body */
    uint64_t cache_bytes;   /* cache of rendered cards for GET /v1/cards/ID.jpg */
    uint64_t max_inline;    /* bytes of cards put inline into one answer (the HTML page,
                               ?inline=1 base64, multipart/mixed, the zip) -> 413 */
    const char *budget_source; /* why max_mem is what it is (lp_budget's why), shown by
                                  /metrics as leanpix_budget_info; NULL = not shown */
    /* What one upload may make (0 in any of these = its default). */
    unsigned max_xml_depth;     /* XML bindings element nesting; deeper uploads -> 413 */
    unsigned max_input_labels;  /* labels drawn in one input's box; the rest are logged */
    unsigned max_card_labels;   /* labels drawn on one card; the rest are logged */
    uint64_t max_profile_line;  /* bytes of a .profile line; longer ones are skipped */
    unsigned regex_match_limit; /* backtracking steps of one PCRE2 match; past it no match */
    unsigned regex_depth_limit; /* backtracking depth of one PCRE2 match; past it no match */
    uint64_t regex_heap;        /* heap bytes of one PCRE2 match; past it no match */
    unsigned max_log_lines;     /* log lines kept per request; the rest are counted */
    uint64_t max_log_line;      /* bytes of one log line; longer ones are cut */
    /* What the data set's YAML files (read at start-up) may hold; beyond -> not started. */
    uint64_t max_yaml_size;     /* bytes of one file */
    unsigned max_yaml_depth;    /* nesting */
    unsigned max_yaml_nodes;    /* nodes of one file */
    unsigned max_yaml_steps;    /* steps of the walk over a loaded file (aliases expanded) */
    /* Per-client limits: what one slow or greedy client can hold (docs/serve.md). */
    unsigned header_timeout_s;   /* total time for a request's headers, counted from the
                                    connection's start or the previous answer */
    unsigned body_timeout_s;     /* total time to receive a body, and to send an answer;
                                    past it the connection is closed */
    unsigned max_connections;    /* open connections in all */
    unsigned per_ip_connections; /* open connections per client address (0 = no limit)
                                    -> 503 and closed */
    uint64_t upload_mem;         /* body bytes of all requests in the server (0 = half the
                                    budget outside the render pool) -> 503 */
    uint64_t per_ip_upload_mem;  /* body bytes per client address (0 = a quarter of
                                    upload_mem, at least max_body) -> 503 */
    uint64_t max_header;         /* memory per connection for the request line and headers
                                    -> 431 */
    bool reuse_port;             /* share the port with other sockets (SO_REUSEPORT); without
                                    it a port in use is an error */
} lp_server_options;

void lp_server_options_default(lp_server_options *opts);
/* How many workers a max_mem budget holds (each has a render slot in it and 16 MiB stay
 * for uploads); 0 when not even one. */
unsigned lp_server_workers_for(uint64_t max_mem);

typedef struct lp_server lp_server;

/* Loads the data set, starts the workers and the HTTP daemon. */
lp_status lp_server_start(lp_server **out, const lp_server_options *opts, lp_error *err);
/* The port actually bound (useful with port 0). */
uint16_t lp_server_port(const lp_server *server);
/* Stops accepting, finishes queued requests, stops. NULL is fine. */
void lp_server_stop(lp_server *server);

#ifdef __cplusplus
}
#endif
#endif
