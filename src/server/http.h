/*
 * http.h - the server object and a request's state, shared by http.c and jobs.c.
 */
#ifndef LP_SERVER_HTTP_H
#define LP_SERVER_HTTP_H

#include "server/server.h"

typedef struct lp_server lp_server;

enum { REQ_RECEIVING, REQ_QUEUED, REQ_ANSWERED };

typedef struct lp_card_result {
    uint8_t *jpeg;
    size_t size;
    lp_status status;
    char message[LP_ERROR_MESSAGE_MAX];
} lp_card_result;

typedef struct lp_request {
    lp_server *srv;
    struct MHD_Connection *conn;
    int route;
    const char *game;            /* "fs2020" / "sws" for uploads */
    bool v1;                     /* JSON answer with cache URLs */
    bool is_post;
    double start;
    int state;
    struct MHD_PostProcessor *pp;
    lp_mem *mem;                 /* this request's counted memory (parent: the budget) */
    uint64_t reserved;           /* estimate held while queued */
    mrc_file *files;
    size_t nfiles, files_cap;
    size_t body_bytes;
    bool new_file_pending;
    unsigned err_status;         /* set while receiving: answer this when the body is done */
    char err_msg[200];
    atomic_bool done;            /* set by the worker before resuming the connection */
    unsigned status;
    const char *ctype;
    char *body;
    size_t body_len;
    uint64_t body_reserved;      /* bytes of body charged to the budget (worker answers) */
    bool retry_after;
    /* rendering, shared by the workers that help with this request's cards */
    mrc_cards cards;
    mrc_log log;
    lp_card_result *results;
    atomic_size_t next_card;
    atomic_int participants;
    atomic_bool out_of_memory;
    int helpers_wanted;          /* under qlock */
    struct lp_request *next_helper;
} lp_request;

struct lp_server {
    lp_server_options opts;
    char listen_host[64];
    uint16_t port;
    struct MHD_Daemon *daemon;
    mrc_data *data;
    lp_mem *budget;              /* uploads, decoded images, card cache, finished cards */
    lp_mem *render_pool;         /* canvases and encoders of running cards: workers x 12 MiB */
    lp_card_cache *cache;
    lp_metrics metrics;
    bool trim;
    pthread_t *threads;
    unsigned nthreads;
    pthread_mutex_t qlock;
    pthread_cond_t qcond;
    lp_request **queue;
    size_t qhead, qcount;
    lp_request *helpers;         /* requests whose cards more workers can render */
    bool stopping;
};

void lp_request_fail(lp_request *r, unsigned status, const char *reason);
lp_status lp_workers_start(lp_server *s, lp_error *err);
void lp_workers_stop(lp_server *s);
bool lp_workers_submit(lp_server *s, lp_request *r);

#endif
