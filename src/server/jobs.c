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
    lp_sb_puts(b, "]}\n");
}

/* Renders every card into the response; a card that fails (missing image) is logged. */
static lp_status render_all(lp_server *s, mrc_text *t, lp_request *r, const mrc_cards *cards,
                            mrc_log *log, lp_strbuf *b, lp_error *err)
{
    for (size_t i = 0; i < cards->count; i++) {
        lp_buffer_image canvas;
        lp_error e = {0};
        lp_status st = mrc_render_card(t, s->data, cards, i, NULL, &canvas, r->mem, &e);
        uint8_t *jpeg = NULL;
        size_t size = 0;
        if (!st) {
            st = mrc_encode_jpeg(s->data, &canvas, r->mem, &jpeg, &size, &e);
            lp_buffer_image_free(&canvas);
        }
        if (st == LP_ERR_NOMEM)
            return lp_error_set(err, st, "%s", lp_error_message(&e));
        if (st) {
            mrc_log_add(log, "card %s: %s", cards->cards[i].image, lp_error_message(&e));
            continue;
        }
        atomic_fetch_add(&s->metrics.cards_rendered, 1);
        if (r->v1) {
            char id[33];
            if (i)
                lp_sb_puts(b, ",");
            if (!lp_card_cache_put(s->cache, jpeg, size, id))
                return lp_error_set(err, LP_ERR_NOMEM, "card cache is full");
            lp_sb_printf(b, "{\"url\":\"/v1/cards/%s.jpg\",\"image\":", id);
            lp_sb_json(b, cards->cards[i].image);
            lp_sb_puts(b, ",\"profile\":");
            lp_sb_json(b, cards->cards[i].profile);
            lp_sb_puts(b, "}");
        } else {
            lp_sb_printf(b, "<div class=\"card\"><img alt=\"%s card %zu\" src=\"data:image/jpeg;base64,",
                         r->game, i + 1);
            lp_sb_base64(b, jpeg, size);
            lp_sb_puts(b, "\"></div>\n");
            free(jpeg);
        }
    }
    return b->failed ? lp_error_set(err, LP_ERR_NOMEM, "out of memory building the response") : LP_OK;
}

static void run_job(lp_server *s, mrc_text *t, lp_request *r)
{
    mrc_binds binds = {0};
    mrc_cards cards = {0};
    mrc_log log = {0};
    lp_error err = {0};
    bool fs = strcmp(r->game, "fs2020") == 0;
    lp_status st = fs ? mrc_fs2020_parse(s->data, r->files, r->nfiles, &binds, &log, &err)
                      : mrc_sws_parse(s->data, r->files, r->nfiles, &binds, &log, &err);
    release_files(r);
    if (!st)
        st = mrc_build_cards(s->data, fs ? &s->data->fs2020 : &s->data->sws, &binds, &cards, &log, &err);
    mrc_binds_free(&binds);
    lp_strbuf b = {0};
    if (!st) {
        if (r->v1)
            lp_sb_printf(&b, "{\"game\":\"%s\",\"cards\":[", r->game);
        else
            html_head(&b, r->game);
        st = render_all(s, t, r, &cards, &log, &b, &err);
    }
    if (!st) {
        if (r->v1)
            json_log(&b, &log);
        else
            html_log(&b, &log);
        if (b.failed)
            st = lp_error_set(&err, LP_ERR_NOMEM, "out of memory building the response");
    }
    if (st) {
        free(b.data);
        lp_request_fail(r, status_for(st), lp_error_message(&err));
    } else {
        set_response(r, 200, r->v1 ? "application/json" : "text/html; charset=utf-8", &b);
    }
    mrc_cards_free(&cards);
    mrc_log_free(&log);
}

static void *worker_main(void *arg)
{
    lp_server *s = arg;
    mrc_text *t = mrc_text_new();
    for (;;) {
        pthread_mutex_lock(&s->qlock);
        while (!s->qcount && !s->stopping)
            pthread_cond_wait(&s->qcond, &s->qlock);
        if (!s->qcount) {
            pthread_mutex_unlock(&s->qlock);
            break;
        }
        lp_request *r = s->queue[s->qhead];
        s->qhead = (s->qhead + 1) % s->opts.queue;
        s->qcount--;
        atomic_fetch_sub(&s->metrics.queued, 1);
        atomic_fetch_add(&s->metrics.running, 1);
        pthread_mutex_unlock(&s->qlock);

        lp_mem_unreserve(r->mem, r->reserved);  /* the estimate gives way to real charges */
        r->reserved = 0;
        if (t)
            run_job(s, t, r);
        else
            lp_request_fail(r, 503, "no text renderer (out of memory)");
        struct MHD_Connection *conn = r->conn;
        atomic_store(&r->done, true);
        MHD_resume_connection(conn);  /* r belongs to the polling thread from here on */

        pthread_mutex_lock(&s->qlock);
        bool idle = atomic_fetch_sub(&s->metrics.running, 1) == 1 && !s->qcount;
        pthread_mutex_unlock(&s->qlock);
        if (idle && s->trim)
            malloc_trim(0);
    }
    mrc_text_free(t);
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
    } else if (lp_mem_reserve(r->mem, estimate, "queued job", &err) != LP_OK) {
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
