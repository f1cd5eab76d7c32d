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
        res->width = w->canvas.info.width;
        res->height = w->canvas.info.height;
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

static void resume(lp_request *r)
{
    struct MHD_Connection *conn = r->conn;
    atomic_store(&r->done, true);
    MHD_resume_connection(conn);  /* r belongs to the polling thread from here on */
}

/* The last worker done with a request's cards builds the response and resumes it. */
static void finish_request(lp_server *s, lp_request *r)
{
    /* the answer is counted in the budget while it is written (answer.c) and until
     * libmicrohttpd has sent and freed it (http.c) */
    lp_strbuf b = {.mem = s->budget, .trim = s->data};
    lp_error err = {0};
    const char *ctype = NULL;
    lp_status st = lp_answer_build(s, r, &b, &ctype, &err);
    if (st) {
        lp_sb_free(&b);
        lp_request_fail(r, status_for(st), lp_error_message(&err));
    } else {
        r->body_reserved = b.charged;
        set_response(r, 200, ctype, &b);
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
    mrc_text_init();
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
