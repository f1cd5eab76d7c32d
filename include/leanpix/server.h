/*
 * leanpix/server.h - `leanpix serve`: reference cards (a device image with the game's
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
#ifndef LEANPIX_SERVER_H
#define LEANPIX_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include "leanpix/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Defaults of the upload-parsing limits below (0 in the options means these). */
#define LP_SERVE_DEFAULT_XML_DEPTH 64       /* fs2020 XML element nesting -> 413 */
#define LP_SERVE_DEFAULT_INPUT_LABELS 32    /* labels drawn in one input's box */
#define LP_SERVE_DEFAULT_CARD_LABELS 512    /* labels drawn on one card */

typedef struct lp_server_options {
    const char *listen;     /* "HOST:PORT" (default "127.0.0.1:8080"); port 0 = any free port */
    const char *data_dir;   /* MetaRefCard data layout; NULL = the built-in demo data set */
    unsigned workers;       /* render threads (default 2) */
    unsigned queue;         /* complete requests waiting for a worker (default 64) */
    uint64_t max_mem;       /* budget for counted memory: decoded images, uploads, canvases,
                               encoded cards, estimates of queued jobs (default 80 MiB) */
    uint64_t max_body;      /* request body limit in bytes (default 4 MiB) -> 413 */
    unsigned max_files;     /* files per upload (default 64) -> 413 */
    unsigned timeout_s;     /* idle connection timeout, headers and body (default 10 s) */
    uint64_t cache_bytes;   /* cache of rendered cards for GET /v1/cards/ID.jpg (default 8 MiB) */
    uint64_t max_inline;    /* bytes of cards put inline into one answer (the HTML page,
                               ?inline=1 base64, multipart/mixed) (default 16 MiB) -> 413 */
    const char *budget_source; /* why max_mem is what it is (lp_budget's why), shown by
                                  /metrics as leanpix_budget_info; NULL = not shown */
    unsigned max_xml_depth;     /* 0 = LP_SERVE_DEFAULT_XML_DEPTH; deeper uploads -> 413 */
    unsigned max_input_labels;  /* 0 = LP_SERVE_DEFAULT_INPUT_LABELS; the rest are logged */
    unsigned max_card_labels;   /* 0 = LP_SERVE_DEFAULT_CARD_LABELS; the rest are logged */
    /* Per-client limits: what one slow or greedy client can hold (docs/serve.md). */
    unsigned header_timeout_s;   /* total time for a request's headers, counted from the
                                    connection's start or the previous answer (default 15 s) */
    unsigned body_timeout_s;     /* total time to receive a body, and to send an answer
                                    (default 60 s); past it the connection is closed */
    unsigned max_connections;    /* open connections in all (default 512) */
    unsigned per_ip_connections; /* open connections per client address (default 16; 0 = no
                                    limit) -> 503 and closed */
    uint64_t upload_mem;         /* body bytes of all requests in the server (0 = half the
                                    budget outside the render pool) -> 503 */
    uint64_t per_ip_upload_mem;  /* body bytes per client address (0 = a quarter of
                                    upload_mem, at least max_body) -> 503 */
    uint64_t max_header;         /* memory per connection for the request line and headers
                                    (default 64 KiB) -> 431 */
    bool reuse_port;             /* share the port with other sockets (SO_REUSEPORT); without
                                    it a port in use is an error (default false) */
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
