/*
 * jobs.c - the render workers: a fixed pool of threads taking complete requests from a
 * bounded queue, turning uploads into cards, and resuming the suspended connection.
 *
 * One job renders its cards one after the other on one canvas-sized buffer at a time, so
 * a worker's working set is about one canvas (6.2 MB for 1920x1080) plus the encoded
 * cards of the response. The uploaded files are released as soon as they are parsed.
 * Each worker owns its FreeType/HarfBuzz context (mrc_text); the data set, fonts' bytes
 * and decoded images are shared read-only.
 *
 * After a burst, when the queue is empty and no worker is busy, the last worker to go idle
 * calls malloc_trim(0) so that glibc hands freed pages back to the kernel (docs/serve.md
 * has the measurements behind this and the arena setting in cmd_serve).
 */
#define _GNU_SOURCE
#include "server/http.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

static void set_response(lp_request *r, unsigned status, const char *ctype, lp_strbuf *b)
{
    r->status = status;
    r->ctype = ctype;
    r->body = b->data;
    r->body_len = b->len;
    b->data = NULL;
}

void lp_request_fail(lp_request *r, unsigned status, const char *reason)
{
    lp_strbuf b = {0};
    lp_sb_printf(&b, "%u %s\n", status, reason);
    free(r->body);
    r->retry_after = status == 503;
    set_response(r, status, "text/plain; charset=utf-8", &b);
}

static unsigned status_for(lp_status st)
{
    switch (st) {
    case LP_ERR_CORRUPT:
    case LP_ERR_TRUNCATED:
    case LP_ERR_INVALID_ARG:
        return 400;
    case LP_ERR_LIMITS:
        return 413;
    case LP_ERR_NOMEM:
        return 503;
    default:
        return 500;
    }
}

static void release_files(lp_request *r)
{
    for (size_t i = 0; i < r->nfiles; i++)
        lp_mem_release(r->mem, (void *)r->files[i].data);
    free(r->files);
    r->files = NULL;
    r->nfiles = 0;
}

static void html_head(lp_strbuf *b, const char *game)
{
    lp_sb_printf(b, "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>leanpix reference "
                    "cards (%s)</title><style>body{font-family:sans-serif;background:#e9ecef}"
                    "img{max-width:100%%;display:block;margin:1em 0}</style></head><body>\n",
                 game);
}

static void html_log(lp_strbuf *b, const mrc_log *log)
{
    lp_sb_puts(b, "<h2>Log</h2>\n<ul class=\"log\">\n");
    for (size_t i = 0; i < log->count; i++) {
        lp_sb_puts(b, "<li>");
        lp_sb_html(b, log->lines[i]);
        lp_sb_puts(b, "</li>\n");
    }
    if (log->dropped)
        lp_sb_printf(b, "<li>%zu more log lines not shown</li>\n", log->dropped);
    lp_sb_puts(b, "</ul>\n</body></html>\n");
}

static void json_log(lp_strbuf *b, const mrc_log *log)
{
    lp_sb_puts(b, "],\"log\":[");
    for (size_t i = 0; i < log->count; i++) {
        if (i)
            lp_sb_puts(b, ",");
        lp_sb_json(b, log->lines[i]);
    }
    if (log->dropped) {
        char more[64];
        snprintf(more, sizeof more, "%zu more log lines not shown", log->dropped);
        if (log->count)
            lp_sb_puts(b, ",");
        lp_sb_json(b, more);
    }
    lp_sb_puts(b, "]}\n");
}

/* Renders the request's cards, taking the next card index until none is left; several
 * workers may run this for one request at once. */
/* What a worker keeps between cards: its text renderer, its share of the render pool and
 * one canvas (reused while the device images have the same size). */
typedef struct worker_ctx {
    mrc_text *text;
    lp_mem *mem;
    lp_buffer_image canvas;
} worker_ctx;

static void render_cards(lp_server *s, worker_ctx *w, lp_request *r)
{
    for (;;) {
        size_t i = atomic_fetch_add(&r->next_card, 1);
        if (i >= r->cards.count || atomic_load(&r->out_of_memory))
            return;
        lp_card_result *res = &r->results[i];
        lp_error e = {0};
        lp_status st = w->text && w->mem
                           ? mrc_render_card(w->text, s->data, &r->cards, i, NULL, &w->canvas, w->mem, &e)
                           : lp_error_set(&e, LP_ERR_NOMEM, "no text renderer");
        if (!st)
            st = mrc_encode_jpeg(s->data, &w->canvas, w->mem, &res->jpeg, &res->size, &e);
        /* the finished card leaves the pool and is held by the request until answered */
        if (!st)  /* the image cache yields to finished work */
            st = mrc_reserve_or_trim(s->data, r->mem, res->size, "finished card", &e);
        if (st) {
            free(res->jpeg);
            res->jpeg = NULL;
        }
        res->status = st;
        if (st)
            snprintf(res->message, sizeof res->message, "%s", lp_error_message(&e));
        else
            atomic_fetch_add(&s->metrics.cards_rendered, 1);
        if (st == LP_ERR_NOMEM)
            atomic_store(&r->out_of_memory, true);
    }
}

/* Puts the rendered cards into the response body, in the original's order. */
static lp_status assemble(lp_server *s, lp_request *r, lp_strbuf *b, lp_error *err)
{
    if (atomic_load(&r->out_of_memory))
        return lp_error_set(err, LP_ERR_NOMEM, "server busy: the memory budget is taken, retry shortly");
    if (r->v1)
        lp_sb_printf(b, "{\"game\":\"%s\",\"cards\":[", r->game->desc->name);
    else
        html_head(b, r->game->desc->name);
    size_t n = 0;
    for (size_t i = 0; i < r->cards.count; i++) {
        lp_card_result *res = &r->results[i];
        if (res->status) {
            mrc_log_add(&r->log, "card %s: %s", r->cards.cards[i].image, res->message);
            continue;
        }
        lp_mem_unreserve(r->mem, res->size);
        if (r->v1) {
            char id[33];
            bool kept = lp_card_cache_put(s->cache, res->jpeg, res->size, id);
            res->jpeg = NULL;
            if (!kept)
                return lp_error_set(err, LP_ERR_NOMEM, "the card cache cannot hold the cards");
            lp_sb_printf(b, "%s{\"url\":\"/v1/cards/%s.jpg\",\"image\":", n++ ? "," : "", id);
            lp_sb_json(b, r->cards.cards[i].image);
            lp_sb_puts(b, ",\"profile\":");
            lp_sb_json(b, r->cards.cards[i].profile);
            lp_sb_puts(b, "}");
        } else {
            lp_sb_printf(b, "<div class=\"card\"><img alt=\"%s card %zu\" src=\"data:image/jpeg;base64,",
                         r->game->desc->name, ++n);
            lp_sb_base64(b, res->jpeg, res->size);
            lp_sb_puts(b, "\"></div>\n");
            free(res->jpeg);
            res->jpeg = NULL;
        }
    }
    if (r->v1)
        json_log(b, &r->log);
    else
        html_log(b, &r->log);
    return b->failed ? lp_error_set(err, LP_ERR_NOMEM, "out of memory building the response") : LP_OK;
}

static void resume(lp_request *r)
{
    struct MHD_Connection *conn = r->conn;
    atomic_store(&r->done, true);
    MHD_resume_connection(conn);  /* r belongs to the polling thread from here on */
}

/* The last worker done with a request's cards builds the response and resumes it. */
static void finish_request(lp_server *s, lp_request *r)
{
    lp_strbuf b = {0};
    lp_error err = {0};
    lp_status st = assemble(s, r, &b, &err);
    if (st) {
        free(b.data);
        lp_request_fail(r, status_for(st), lp_error_message(&err));
    } else {
        set_response(r, 200, r->v1 ? "application/json" : "text/html; charset=utf-8", &b);
        /* the answer waits in memory until the client has read it: counted in the budget
         * until libmicrohttpd frees it (http.c) */
        lp_error e = {0};
        bool held = mrc_reserve_or_trim(s->data, s->budget, r->body_len, "answer", &e) == LP_OK;
        if (held)
            r->body_reserved = r->body_len;
        else
            lp_request_fail(r, 503, "server busy: the memory budget cannot hold the answer, retry shortly");
    }
    for (size_t i = 0; r->results && i < r->cards.count; i++)
        if (r->results[i].jpeg) {  /* not used (an error stopped the assembly) */
            lp_mem_unreserve(r->mem, r->results[i].size);
            free(r->results[i].jpeg);
        }
    free(r->results);
    r->results = NULL;
    mrc_cards_free(&r->cards);
    mrc_log_free(&r->log);
    resume(r);
}

static void leave(lp_server *s, lp_request *r)
{
    if (atomic_fetch_sub(&r->participants, 1) == 1)
        finish_request(s, r);
}

/* Parses the upload and builds the cards; asks idle workers to help render them. */
static void start_job(lp_server *s, worker_ctx *w, lp_request *r)
{
    /* the upload's limits, and its maps, strings and parser memory counted in its budget */
    mrc_limits limits = mrc_limits_of(&s->opts);
    mrc_binds binds = {.limits = &limits};
    r->log.max_lines = s->opts.max_log_lines;
    r->log.max_line = s->opts.max_log_line;
    lp_error err = {0};
    lp_mem *outer = mrc_mem_enter(r->mem);
    const mrc_limits *outer_limits = mrc_limits_enter(&limits);
    lp_status st = r->game->desc->parse(s->data, r->files, r->nfiles, &binds, &r->log, &err);
    release_files(r);
    if (!st)
        st = mrc_build_cards(s->data, r->game, &binds, &r->cards, &r->log, &err);
    mrc_binds_free(&binds);
    mrc_limits_leave(outer_limits);
    mrc_mem_leave(outer);
    if (!st && !(r->results = calloc(r->cards.count ? r->cards.count : 1, sizeof *r->results)))
        st = lp_error_set(&err, LP_ERR_NOMEM, "out of memory");
    if (st) {
        lp_request_fail(r, status_for(st), lp_error_message(&err));
        mrc_cards_free(&r->cards);
        mrc_log_free(&r->log);
        resume(r);
        return;
    }
    int helpers = (int)(r->cards.count ? r->cards.count - 1 : 0);
    if (helpers > (int)s->opts.workers - 1)
        helpers = (int)s->opts.workers - 1;
    atomic_store(&r->participants, 1 + helpers);
    if (helpers) {
        pthread_mutex_lock(&s->qlock);
        r->helpers_wanted = helpers;
        r->next_helper = s->helpers;
        s->helpers = r;
        pthread_cond_broadcast(&s->qcond);
        pthread_mutex_unlock(&s->qlock);
    }
    render_cards(s, w, r);
    if (helpers) {  /* help that has not started is no longer needed */
        pthread_mutex_lock(&s->qlock);
        int unclaimed = r->helpers_wanted;
        if (unclaimed) {
            lp_request **p = &s->helpers;
            while (*p && *p != r)
                p = &(*p)->next_helper;
            if (*p)
                *p = r->next_helper;
            r->helpers_wanted = 0;
        }
        pthread_mutex_unlock(&s->qlock);
        if (unclaimed)
            atomic_fetch_sub(&r->participants, unclaimed);
    }
    leave(s, r);
}

static void *worker_main(void *arg)
{
    lp_server *s = arg;
    worker_ctx w = {.text = mrc_text_new(), .mem = lp_mem_new(0, s->render_pool)};
    for (;;) {
        pthread_mutex_lock(&s->qlock);
        while (!s->qcount && !s->helpers && !s->stopping)
            pthread_cond_wait(&s->qcond, &s->qlock);
        lp_request *r = NULL;
        bool helper = false;
        if (s->helpers) {  /* finishing started requests first keeps latency and memory low */
            r = s->helpers;
            helper = true;
            if (--r->helpers_wanted == 0)
                s->helpers = r->next_helper;
        } else if (s->qcount) {
            r = s->queue[s->qhead];
            s->qhead = (s->qhead + 1) % s->opts.queue;
            s->qcount--;
            atomic_fetch_sub(&s->metrics.queued, 1);
        }
        if (!r) {
            pthread_mutex_unlock(&s->qlock);
            break;
        }
        atomic_fetch_add(&s->metrics.running, 1);
        pthread_mutex_unlock(&s->qlock);

        if (helper) {
            render_cards(s, &w, r);
            leave(s, r);
        } else {
            lp_mem_unreserve(r->mem, r->reserved);  /* the estimate gives way to real charges */
            r->reserved = 0;
            start_job(s, &w, r);
        }

        pthread_mutex_lock(&s->qlock);
        bool idle = atomic_fetch_sub(&s->metrics.running, 1) == 1 && !s->qcount && !s->helpers;
        pthread_mutex_unlock(&s->qlock);
        if (idle && s->trim)
            malloc_trim(0);
    }
    lp_buffer_image_free(&w.canvas);
    lp_mem_free_tracker(w.mem);
    mrc_text_free(w.text);
    return NULL;
}

lp_status lp_workers_start(lp_server *s, lp_error *err)
{
    s->threads = calloc(s->opts.workers, sizeof *s->threads);
    s->queue = calloc(s->opts.queue ? s->opts.queue : 1, sizeof *s->queue);
    if (!s->threads || !s->queue)
        return lp_error_set(err, LP_ERR_NOMEM, "out of memory starting workers");
    for (unsigned i = 0; i < s->opts.workers; i++) {
        if (pthread_create(&s->threads[i], NULL, worker_main, s))
            return lp_error_set(err, LP_ERR_INTERNAL, "cannot start worker thread %u", i);
        s->nthreads++;
    }
    return LP_OK;
}

void lp_workers_stop(lp_server *s)
{
    pthread_mutex_lock(&s->qlock);
    s->stopping = true;
    pthread_cond_broadcast(&s->qcond);
    pthread_mutex_unlock(&s->qlock);
    for (unsigned i = 0; i < s->nthreads; i++)
        pthread_join(s->threads[i], NULL);
    s->nthreads = 0;
}

/* Called by the polling thread with a complete upload. false = refused (r has a 503). */
bool lp_workers_submit(lp_server *s, lp_request *r)
{
    lp_error err = {0};
    /* The upload is already counted (it was received into the request's lp_mem); while
     * queued, a job also holds room for its parsed bindings (about the upload's size). The
     * canvas and JPEG of a running job are charged when a worker takes it, so at most
     * `workers` of them exist at once. */
    uint64_t estimate = (uint64_t)r->body_bytes + (64u << 10);
    pthread_mutex_lock(&s->qlock);
    bool ok = false;
    if (s->stopping || s->qcount >= s->opts.queue) {
        atomic_fetch_add(&s->metrics.rejected_busy, 1);
        lp_request_fail(r, 503, "server busy: the render queue is full, retry shortly");
    } else if (mrc_reserve_or_trim(s->data, r->mem, estimate, "queued job", &err) != LP_OK) {
        atomic_fetch_add(&s->metrics.rejected_mem, 1);
        lp_request_fail(r, 503, "server busy: the memory budget is taken, retry shortly");
    } else {
        r->reserved = estimate;
        MHD_suspend_connection(r->conn);
        s->queue[(s->qhead + s->qcount) % s->opts.queue] = r;
        s->qcount++;
        atomic_fetch_add(&s->metrics.queued, 1);
        pthread_cond_signal(&s->qcond);
        ok = true;
    }
    pthread_mutex_unlock(&s->qlock);
    return ok;
}
