/*
 * http.c - the HTTP side of `leanpix serve` on libmicrohttpd (chosen because it is the
 * well-kept C server in Debian with what a bounded service needs built in: one internal
 * polling thread, connection limits and timeouts, streaming multipart parsing, and
 * suspend/resume so that rendering happens on our own worker pool).
 *
 * Routes: GET / (index), GET /{game} (upload pages), GET /static/NAME (the pages' CSS,
 * JavaScript and icon, built into the binary from web/; pages.c writes the pages),
 * POST /api/{game} (multipart field
 * `file`, repeated; answers an HTML page with the cards inline and the log),
 * POST /v1/cards/{game} (same upload; answers JSON with one URL per card, or with the
 * cards inline: ?inline=1 or Accept: multipart/mixed, or as a zip: ?format=zip or
 * Accept: application/zip, answer.c), GET
 * /v1/cards/{id}.jpg (from the bounded card cache), GET /healthz, GET /metrics. The games
 * are those of the data set (the table in games.h); their names and pages come from their
 * descriptors (game.h).
 *
 * A request's life: headers arrive -> an upload route checks Content-Length against the
 * body limit (413 at once) and against what the client's address and all uploads may
 * still hold (503 at once), and starts a post processor; body chunks are charged to those
 * accounts (clients.c) and parsed as they come into per-file buffers counted in the
 * request's lp_mem (body and file-count limits -> 413, a share used up -> 503, broken
 * multipart -> 400; a refused upload's buffers are freed at once); when the body is
 * complete the request is handed to the worker queue (full queue or memory budget -> 503
 * + Retry-After) and the connection is suspended; the worker resumes it with the response
 * ready. A client that sends slowly only holds a socket, never a worker, and only until
 * its header or body deadline (clients.c).
 *
 * The listening socket is made here (open_listener) so that a port in use is reported as
 * such; it is shared with another server only with reuse_port.
 */
#define _GNU_SOURCE
#include "server/http.h"
#include "core/clock.h"
#include "server/options.h"
#include "server/pages.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Budget kept beside the render pool for uploads and cached images, at the least. */
#define UPLOAD_RESERVE (16u << 20)

unsigned lp_server_workers_for(uint64_t max_mem)
{
    uint64_t n = max_mem > UPLOAD_RESERVE ? (max_mem - UPLOAD_RESERVE) / LP_RENDER_SLOT : 0;
    return n > 256 ? 256 : (unsigned)n;
}

/* ---- responses ---- */

/* Headers every answer carries. Uploaded text (device names, log lines) is escaped into the
 * pages; these say so to the browser too: no content sniffing, no framing, and scripts,
 * styles and fetches only from this server (the pages' own /static files: no inline
 * script, no CDN); images also from data: (the plain form's page) and blob: (the cards
 * web/app.js received). */
static void add_common_headers(struct MHD_Response *resp, const char *ctype)
{
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (strncmp(ctype, "text/html", 9) == 0)
        MHD_add_response_header(resp, "Content-Security-Policy",
                                "default-src 'none'; script-src 'self'; style-src 'self'; "
                                "img-src 'self' data: blob:; connect-src 'self'; "
                                "form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
}

static enum MHD_Result send_buffer(lp_request *r, unsigned status, const char *ctype, void *body,
                                   size_t len, enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, mode);
    if (!resp)
        return MHD_NO;
    add_common_headers(resp, ctype);
    if (status == 503)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    r->status = status;
    r->state = REQ_ANSWERED;
    lp_conn_set_phase(r->srv, r->client, LP_CONN_SENDING);
    enum MHD_Result ret = MHD_queue_response(r->conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result send_text(lp_request *r, unsigned status, const char *ctype, const char *text)
{
    return send_buffer(r, status, ctype, (void *)text, strlen(text), MHD_RESPMEM_PERSISTENT);
}

static enum MHD_Result send_error(lp_request *r, unsigned status, const char *reason)
{
    lp_request_fail(r, status, reason);
    char *body = r->body;
    r->body = NULL;
    return send_buffer(r, status, r->ctype, body, r->body_len, MHD_RESPMEM_MUST_FREE);
}

typedef struct counted_body {
    lp_mem *budget;
    uint64_t bytes;
    char *data;
} counted_body;

static void free_counted_body(void *cls)
{
    counted_body *c = cls;
    lp_mem_unreserve(c->budget, c->bytes);
    free(c->data);
    free(c);
}

/* A worker's answer; its bytes stay charged to the budget until the response is freed. */
static enum MHD_Result send_result(lp_request *r)
{
    counted_body *c = r->body_reserved ? malloc(sizeof *c) : NULL;
    if (!c) {
        char *body = r->body;
        r->body = NULL;
        lp_mem_unreserve(r->srv->budget, r->body_reserved);
        r->body_reserved = 0;
        return send_buffer(r, r->status, r->ctype, body, r->body_len, MHD_RESPMEM_MUST_FREE);
    }
    *c = (counted_body){r->srv->budget, r->body_reserved, r->body};
    r->body = NULL;
    r->body_reserved = 0;
    struct MHD_Response *resp = MHD_create_response_from_buffer_with_free_callback_cls(
        r->body_len, c->data, free_counted_body, c);
    if (!resp) {
        free_counted_body(c);
        return MHD_NO;
    }
    add_common_headers(resp, r->ctype);
    if (r->status == 200 && r->disposition[0])
        MHD_add_response_header(resp, "Content-Disposition", r->disposition);
    r->state = REQ_ANSWERED;
    lp_conn_set_phase(r->srv, r->client, LP_CONN_SENDING);
    enum MHD_Result ret = MHD_queue_response(r->conn, r->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* ---- pages (pages.c writes them) and their static files ---- */
static enum MHD_Result send_page(lp_request *r, lp_strbuf *b)
{
    if (b->failed) {
        free(b->data);
        return send_error(r, 503, "out of memory");
    }
    return send_buffer(r, 200, "text/html; charset=utf-8", b->data, b->len, MHD_RESPMEM_MUST_FREE);
}

static enum MHD_Result send_index(lp_request *r, const mrc_data *d)
{
    lp_strbuf b = {0};
    lp_page_index(&b, d);
    return send_page(r, &b);
}

static enum MHD_Result send_upload_page(lp_request *r, const mrc_data *d, const lp_game *game)
{
    lp_strbuf b = {0};
    lp_page_upload(&b, d, game);
    return send_page(r, &b);
}

/* A file of web/ from the binary: cached by browsers for a day and revalidated by its
 * ETag (the pages link it with ?v=ETAG, so a new build is never served stale). */
static enum MHD_Result send_asset(lp_request *r, const lp_web_asset *a)
{
    const char *match = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                                    MHD_HTTP_HEADER_IF_NONE_MATCH);
    bool fresh = match && strstr(match, a->etag);
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        fresh ? 0 : a->size, fresh ? NULL : (void *)a->data, MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    add_common_headers(resp, a->type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, a->etag);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "public, max-age=86400");
    r->status = fresh ? 304 : 200;
    r->state = REQ_ANSWERED;
    lp_conn_set_phase(r->srv, r->client, LP_CONN_SENDING);
    enum MHD_Result ret = MHD_queue_response(r->conn, r->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result send_card(lp_request *r, lp_server *s, const char *url)
{
    const char *id = url + strlen("/v1/cards/");
    size_t n = strlen(id);
    if (n != 36 || strcmp(id + 32, ".jpg") != 0 || strspn(id, "0123456789abcdef") != 32)
        return send_error(r, 404, "no such card");
    char key[33];
    memcpy(key, id, 32);
    key[32] = 0;
    size_t size;
    uint8_t *jpeg = lp_card_cache_get(s->cache, key, &size);
    if (!jpeg)
        return send_error(r, 404, "no such card here (expired from this server's cache, made "
                                  "by another instance, or never made); for cards that do not "
                                  "depend on one server, upload with ?inline=1 or "
                                  "Accept: multipart/mixed");
    return send_buffer(r, 200, "image/jpeg", jpeg, size, MHD_RESPMEM_MUST_FREE);
}

static enum MHD_Result send_metrics(lp_request *r, lp_server *s)
{
    size_t bytes, count, len;
    lp_card_cache_stats(s->cache, &bytes, &count);
    char *text = lp_metrics_render(&s->metrics, s->budget, s->render_pool, bytes, count, &len);
    if (!text)
        return send_error(r, 503, "out of memory");
    uint64_t upload_bytes, connections;
    lp_clients_usage(s, &upload_bytes, &connections);
    lp_strbuf b = {.data = text, .len = len, .cap = len + 1};
    lp_metrics_render_budget(&b, atomic_load(&s->data->image_bytes),
                             atomic_load(&s->data->image_decodes), lp_mem_current(s->budget),
                             s->opts.budget_source);
    lp_metrics_render_clients(&b, &s->metrics, upload_bytes, s->upload_limit, connections);
    if (b.failed) {
        free(b.data);
        return send_error(r, 503, "out of memory");
    }
    text = b.data;
    len = b.len;
    return send_buffer(r, 200, "text/plain; version=0.0.4", text, len, MHD_RESPMEM_MUST_FREE);
}

/* ---- uploads ---- */
static enum MHD_Result on_field(void *cls, enum MHD_ValueKind kind, const char *key,
                                const char *filename, const char *content_type,
                                const char *transfer_encoding, const char *data, uint64_t off,
                                size_t size)
{
    (void)kind; (void)filename; (void)content_type; (void)transfer_encoding;
    lp_request *r = cls;
    lp_server *s = r->srv;
    if (!key || strcmp(key, "file") != 0)
        return MHD_YES;  /* other form fields are ignored */
    if (off == 0 && (r->nfiles == 0 || r->files[r->nfiles - 1].size > 0 || !r->new_file_pending)) {
        if (r->nfiles >= s->opts.max_files) {
            r->err_status = 413;
            snprintf(r->err_msg, sizeof r->err_msg, "more than %u files in one upload",
                     s->opts.max_files);
            return MHD_NO;
        }
        if (r->nfiles == r->files_cap) {
            size_t cap = r->files_cap ? r->files_cap * 2 : 8;
            mrc_file *f = realloc(r->files, cap * sizeof *f);
            if (!f)
                return MHD_NO;
            r->files = f;
            r->files_cap = cap;
        }
        r->files[r->nfiles++] = (mrc_file){NULL, 0};
        r->new_file_pending = true;
    }
    if (!size)
        return MHD_YES;
    mrc_file *f = &r->files[r->nfiles - 1];
    lp_error err = {0};
    uint8_t *grown = lp_mem_realloc(r->mem, (void *)f->data, f->size + size, "upload", &err);
    if (!grown) {  /* decoded images are a cache: they make room for requests */
        mrc_assets_trim(s->data, 0);
        lp_error_clear(&err);
        grown = lp_mem_realloc(r->mem, (void *)f->data, f->size + size, "upload", &err);
    }
    if (!grown) {
        r->err_status = 503;
        snprintf(r->err_msg, sizeof r->err_msg, "server busy: no memory for the upload");
        return MHD_NO;
    }
    memcpy(grown + f->size, data, size);
    f->data = grown;
    f->size += size;
    r->new_file_pending = false;
    return MHD_YES;
}

/* What the upload holds goes back as soon as it is refused: a client that keeps sending
 * after its error holds a socket until its body deadline, never memory. */
static void drop_upload(lp_request *r)
{
    if (r->pp) {
        MHD_destroy_post_processor(r->pp);
        r->pp = NULL;
    }
    for (size_t i = 0; i < r->nfiles; i++)
        lp_mem_release(r->mem, (void *)r->files[i].data);
    free(r->files);
    r->files = NULL;
    r->nfiles = r->files_cap = 0;
    lp_upload_release(r->srv, r->client, r->upload_charged);
    r->upload_charged = 0;
}

static const char *refusal_text(int why)
{
    return why == LP_REFUSE_IP_UPLOAD_MEM
               ? "server busy: your address has too many uploads in progress, retry shortly"
               : "server busy: too many uploads in progress, retry shortly";
}

static enum MHD_Result receive(lp_request *r, const char *data, size_t *size)
{
    lp_server *s = r->srv;
    if (!r->err_status) {
        r->body_bytes += *size;
        atomic_fetch_add(&s->metrics.bytes_uploaded, *size);
        int refused = -1;
        if (r->body_bytes > s->opts.max_body) {
            r->err_status = 413;
            snprintf(r->err_msg, sizeof r->err_msg, "request body over the limit of %llu bytes",
                     (unsigned long long)s->opts.max_body);
        } else if ((refused = lp_upload_charge(s, r->client, *size)) >= 0) {
            r->err_status = 503;
            snprintf(r->err_msg, sizeof r->err_msg, "%s", refusal_text(refused));
        } else {
            r->upload_charged += *size;
            if (MHD_post_process(r->pp, data, *size) != MHD_YES && !r->err_status) {
                r->err_status = 400;
                snprintf(r->err_msg, sizeof r->err_msg, "malformed multipart/form-data body");
            }
        }
        if (r->err_status)
            drop_upload(r);
    }
    *size = 0;  /* after an error the rest of the body is read and dropped */
    return MHD_YES;
}

static enum MHD_Result finish_upload(lp_request *r)
{
    if (r->err_status)
        return send_error(r, r->err_status, r->err_msg);
    if (r->pp && MHD_destroy_post_processor(r->pp) != MHD_YES) {
        r->pp = NULL;
        return send_error(r, 400, "malformed multipart/form-data body (truncated)");
    }
    r->pp = NULL;
    size_t nonempty = 0;
    for (size_t i = 0; i < r->nfiles; i++)
        nonempty += r->files[i].size > 0;
    if (!nonempty)
        return send_error(r, 400, "no file: send one or more multipart fields named 'file'");
    lp_conn_set_phase(r->srv, r->client, LP_CONN_WORKING);
    if (!lp_workers_submit(r->srv, r))
        return send_result(r);
    r->state = REQ_QUEUED;
    return MHD_YES;
}

/* ---- routing ---- */
/* The game named by url after prefix, or NULL. */
static const mrc_game *game_at(const mrc_data *d, const char *url, const char *prefix)
{
    size_t n = strlen(prefix);
    return strncmp(url, prefix, n) == 0 ? mrc_data_game_named(d, url + n, strlen(url + n)) : NULL;
}

/* *game is set for the upload routes only (a request with a body to parse). */
static int classify(const mrc_data *d, const char *url, const mrc_game **game, bool *v1)
{
    *v1 = false;
    if ((*game = game_at(d, url, "/api/")))
        return LP_ROUTE_API;
    if ((*game = game_at(d, url, "/v1/cards/"))) {
        *v1 = true;
        return LP_ROUTE_V1_POST;
    }
    if (strcmp(url, "/") == 0)
        return LP_ROUTE_INDEX;
    if (strncmp(url, "/v1/cards/", 10) == 0)
        return LP_ROUTE_V1_GET;
    if (strcmp(url, "/healthz") == 0)
        return LP_ROUTE_HEALTHZ;
    if (strcmp(url, "/metrics") == 0)
        return LP_ROUTE_METRICS;
    if (game_at(d, url, "/") || lp_web_asset_at(url))
        return LP_ROUTE_PAGE;
    return LP_ROUTE_OTHER;
}

static enum MHD_Result start_request(lp_server *s, struct MHD_Connection *conn, const char *url,
                                     const char *method, void **con_cls)
{
    lp_request *r = calloc(1, sizeof *r);
    if (!r)
        return MHD_NO;
    r->srv = s;
    r->conn = conn;
    r->start = lp_monotonic_seconds();
    r->route = classify(s->data, url, &r->game, &r->v1);
    r->answer = r->v1 ? lp_answer_negotiate(conn) : LP_ANSWER_HTML;
    r->is_post = strcmp(method, "POST") == 0;
    r->client = lp_conn_of(conn);
    *con_cls = r;
    atomic_fetch_add(&s->metrics.in_flight, 1);
    lp_conn_set_phase(s, r->client, LP_CONN_BODY);
    if (!r->game || !r->is_post)
        return MHD_YES;
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                  MHD_HTTP_HEADER_CONTENT_LENGTH);
    unsigned long long announced = cl ? strtoull(cl, NULL, 10) : 0;
    if (announced > s->opts.max_body) {
        char msg[120];
        snprintf(msg, sizeof msg, "request body of %s bytes is over the limit of %llu bytes", cl,
                 (unsigned long long)s->opts.max_body);
        return send_error(r, 413, msg);
    }
    /* refused before reading when the announced body cannot fit the client's share or the
     * total (charged for real only as it arrives: a Content-Length may lie) */
    int refused = announced ? lp_upload_charge(s, r->client, announced) : -1;
    if (refused >= 0)
        return send_error(r, 503, refusal_text(refused));
    lp_upload_release(s, r->client, announced);
    r->mem = lp_mem_new(0, s->budget);
    r->pp = r->mem ? MHD_create_post_processor(conn, 16 * 1024, on_field, r) : NULL;
    if (!r->pp) {
        r->err_status = 400;
        snprintf(r->err_msg, sizeof r->err_msg,
                 "expected a multipart/form-data upload with one or more fields named 'file'");
    }
    return MHD_YES;
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls)
{
    (void)version;
    lp_server *s = cls;
    lp_request *r = *con_cls;
    if (!r)
        return start_request(s, conn, url, method, con_cls);
    if (r->state == REQ_ANSWERED) {  /* answered early (413): drop the rest of the body */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (r->state == REQ_QUEUED)
        return atomic_load(&r->done) ? send_result(r) : MHD_YES;
    if (*upload_data_size) {
        if (!r->game || !r->is_post) {  /* a body where none is expected: drop it */
            *upload_data_size = 0;
            return MHD_YES;
        }
        return receive(r, upload_data, upload_data_size);
    }
    bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    switch (r->route) {
    case LP_ROUTE_API:
    case LP_ROUTE_V1_POST:
        return r->is_post ? finish_upload(r) : send_error(r, 405, "use POST with multipart field 'file'");
    case LP_ROUTE_INDEX:
        return get ? send_index(r, s->data) : send_error(r, 405, "use GET");
    case LP_ROUTE_PAGE:
        if (!get)
            return send_error(r, 405, "use GET");
        if (lp_web_asset_at(url))
            return send_asset(r, lp_web_asset_at(url));
        return send_upload_page(r, s->data, game_at(s->data, url, "/")->desc);
    case LP_ROUTE_V1_GET:
        return get ? send_card(r, s, url) : send_error(r, 405, "use GET");
    case LP_ROUTE_HEALTHZ:
        return get ? send_text(r, 200, "text/plain", "ok\n") : send_error(r, 405, "use GET");
    case LP_ROUTE_METRICS:
        return get ? send_metrics(r, s) : send_error(r, 405, "use GET");
    default:
        return send_error(r, 404, "not found");
    }
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    (void)conn; (void)toe;
    lp_server *s = cls;
    lp_request *r = *con_cls;
    if (!r)
        return;
    lp_metrics_record(&s->metrics, r->route, r->status ? r->status : 499, lp_monotonic_seconds() - r->start);
    atomic_fetch_sub(&s->metrics.in_flight, 1);
    drop_upload(r);
    lp_conn_set_phase(s, r->client, LP_CONN_HEADERS);  /* a kept-alive connection's next request */
    lp_mem_unreserve(r->mem, r->reserved);
    lp_mem_free_tracker(r->mem);
    lp_mem_unreserve(s->budget, r->body_reserved);  /* an answer never handed over */
    free(r->body);
    free(r);
    *con_cls = NULL;
}

/* The listening socket, made here rather than by MHD so that a port in use is a clear
 * error: MHD only says that it could not start. SO_REUSEADDR lets a restarted server bind
 * past old connections in TIME_WAIT (it never lets two listeners share a port on Linux);
 * SO_REUSEPORT, which does, only when asked. */
static lp_status open_listener(const char *where, const struct sockaddr_in *addr,
                               bool reuse_port, int *out, lp_error *err)
{
    *out = -1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return lp_error_set(err, LP_ERR_IO, "cannot listen on %s: %s", where, strerror(errno));
    int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (reuse_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0) {
        int e = errno;
        close(fd);
        return lp_error_set(err, LP_ERR_IO, "cannot listen on %s: SO_REUSEPORT: %s", where,
                            strerror(e));
    }
    if (bind(fd, (const struct sockaddr *)addr, sizeof *addr) != 0 || listen(fd, 128) != 0) {
        int e = errno;
        close(fd);
        if (e == EADDRINUSE)
            return lp_error_set(err, LP_ERR_IO,
                                "cannot listen on %s: address in use (another server is "
                                "listening there; a port is shared only on request)", where);
        return lp_error_set(err, LP_ERR_IO, "cannot listen on %s: %s", where, strerror(e));
    }
    *out = fd;
    return LP_OK;
}

static lp_status parse_listen(const char *listen, struct sockaddr_in *addr, lp_error *err)
{
    const char *colon = strrchr(listen, ':');
    char host[64];
    if (!colon || (size_t)(colon - listen) >= sizeof host)
        return lp_error_set(err, LP_ERR_INVALID_ARG, "listen address '%s' is not HOST:PORT", listen);
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = 0;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535)
        return lp_error_set(err, LP_ERR_INVALID_ARG, "bad port in '%s'", listen);
    memset(addr, 0, sizeof *addr);
    addr->sin_family = AF_INET;
    addr->sin_port = htons((uint16_t)port);
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof host, "127.0.0.1");
    if (!*host || strcmp(host, "*") == 0)
        addr->sin_addr.s_addr = htonl(INADDR_ANY);
    else if (inet_pton(AF_INET, host, &addr->sin_addr) != 1)
        return lp_error_set(err, LP_ERR_INVALID_ARG, "'%s' is not an IPv4 address", host);
    return LP_OK;
}

/* The upload shares, from the budget when not given: uploads together may hold half of
 * what is outside the render pool (the other half stays for queued and finished
 * requests, decoded images and cached cards), one address a quarter of that but at least
 * one largest body. */
static void resolve_client_limits(lp_server *s, uint64_t pool)
{
    uint64_t outside = s->opts.max_mem ? s->opts.max_mem - pool : UINT64_MAX / 4;
    s->upload_limit = s->opts.upload_mem ? s->opts.upload_mem : outside / 2;
    uint64_t ip = s->opts.per_ip_upload_mem ? s->opts.per_ip_upload_mem : s->upload_limit / 4;
    if (!s->opts.per_ip_upload_mem && ip < s->opts.max_body)
        ip = s->opts.max_body;
    s->upload_limit_ip = ip < s->upload_limit ? ip : s->upload_limit;
    lp_server_options d;  /* zeros from a caller that did not start from the defaults */
    lp_server_options_default(&d);
    if (!s->opts.max_connections)
        s->opts.max_connections = d.max_connections;
    if (!s->opts.header_timeout_s)
        s->opts.header_timeout_s = d.header_timeout_s;
    if (!s->opts.body_timeout_s)
        s->opts.body_timeout_s = d.body_timeout_s;
    if (!s->opts.max_header)
        s->opts.max_header = d.max_header;
    if (!s->opts.max_inline)
        s->opts.max_inline = d.max_inline;
}

lp_status lp_server_start(lp_server **out, const lp_server_options *opts, lp_error *err)
{
    *out = NULL;
    lp_server *s = calloc(1, sizeof *s);
    if (!s)
        return lp_error_set(err, LP_ERR_NOMEM, "out of memory");
    s->opts = *opts;
    if (!s->opts.listen)
        s->opts.listen = lp_server_defaults()->listen;
    if (!s->opts.workers)
        s->opts.workers = 1;
    if (!s->opts.queue)
        s->opts.queue = 1;
    s->trim = true;
    pthread_mutex_init(&s->qlock, NULL);
    pthread_cond_init(&s->qcond, NULL);
    struct sockaddr_in addr;
    lp_status st = parse_listen(s->opts.listen, &addr, err);
    int listen_fd = -1;
    if (!st)  /* first: a port in use is reported at once, not after loading the data */
        st = open_listener(s->opts.listen, &addr, s->opts.reuse_port, &listen_fd, err);
    /* The budget is split: a fixed pool for the cards being rendered (one canvas and one
     * encoder per worker), so that a job a worker has started is never refused, and the
     * rest for what piles up under load (uploads, decoded images, cached cards). */
    uint64_t pool = (uint64_t)s->opts.workers * LP_RENDER_SLOT;
    if (!st && s->opts.max_mem && s->opts.max_mem < pool + UPLOAD_RESERVE)
        st = lp_error_set(err, LP_ERR_INVALID_ARG,
                          "a budget of %llu MiB is too small for %u workers (at least %llu MiB)",
                          (unsigned long long)(s->opts.max_mem >> 20), s->opts.workers,
                          (unsigned long long)((pool + UPLOAD_RESERVE) >> 20));
    if (!st && (!(s->budget = lp_mem_new(s->opts.max_mem ? s->opts.max_mem - pool : 0, NULL)) ||
                !(s->render_pool = lp_mem_new(s->opts.max_mem ? pool : 0, NULL))))
        st = lp_error_set(err, LP_ERR_NOMEM, "out of memory");
    mrc_limits data_limits = mrc_limits_of(&s->opts);  /* the YAML's */
    const mrc_limits *outer_limits = mrc_limits_enter(&data_limits);
    if (!st)
        st = s->opts.data_dir ? mrc_data_load(&s->data, s->opts.data_dir, s->budget, err)
                              : mrc_data_load_demo(&s->data, s->budget, err);
    mrc_limits_leave(outer_limits);
    if (!st)  /* decoded images kept while unused: an eighth of the non-pool budget (7 MiB by default: one 1920x1080 image; more only thrashes under uploads of 15 device images, which need 15) */
        s->data->image_cache_cap = s->opts.max_mem ? (s->opts.max_mem - pool) / 8 : 0;
    if (!st && !(s->cache = lp_card_cache_new(s->opts.cache_bytes, s->budget)))
        st = lp_error_set(err, LP_ERR_NOMEM, "out of memory");
    if (!st)
        resolve_client_limits(s, pool);
    if (!st)
        st = lp_workers_start(s, err);
    if (!st)
        st = lp_clients_start(s, err);
    if (!st) {
        s->daemon = MHD_start_daemon(
            MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_ALLOW_SUSPEND_RESUME, 0, NULL,
            NULL, answer, s, MHD_OPTION_LISTEN_SOCKET, (MHD_socket)listen_fd,
            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)s->opts.timeout_s,
            MHD_OPTION_NOTIFY_COMPLETED, completed, s,
            MHD_OPTION_NOTIFY_CONNECTION, lp_conn_notify, s,
            MHD_OPTION_CONNECTION_LIMIT, s->opts.max_connections + 16,  /* clients.c refuses first */
            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)s->opts.max_header, MHD_OPTION_END);
        if (!s->daemon)
            st = lp_error_set(err, LP_ERR_IO, "cannot start the HTTP daemon on %s", s->opts.listen);
    }
    if (st) {
        if (listen_fd >= 0)  /* not handed to a daemon */
            close(listen_fd);
        lp_server_stop(s);
        return st;
    }
    struct sockaddr_in bound;
    socklen_t blen = sizeof bound;
    s->port = getsockname(listen_fd, (struct sockaddr *)&bound, &blen) == 0 ? ntohs(bound.sin_port)
                                                                          : ntohs(addr.sin_port);
    *out = s;
    return LP_OK;
}

uint16_t lp_server_port(const lp_server *s)
{
    return s ? s->port : 0;
}

void lp_server_stop(lp_server *s)
{
    if (!s)
        return;
    MHD_socket listen_fd = MHD_INVALID_SOCKET;
    if (s->daemon)
        listen_fd = MHD_quiesce_daemon(s->daemon);  /* no new connections */
    lp_workers_stop(s);  /* queued jobs finish and resume their connections */
    if (s->daemon)
        MHD_stop_daemon(s->daemon);
    if (listen_fd != MHD_INVALID_SOCKET)  /* quiesce hands the socket to us */
        close(listen_fd);
    lp_clients_stop(s);
    lp_card_cache_free(s->cache);
    mrc_data_free(s->data);
    lp_mem_free_tracker(s->budget);
    lp_mem_free_tracker(s->render_pool);
    free(s->threads);
    free(s->queue);
    pthread_mutex_destroy(&s->qlock);
    pthread_cond_destroy(&s->qcond);
    free(s);
}
