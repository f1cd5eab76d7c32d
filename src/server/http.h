/*
 * http.h - the server object and a request's state, shared by http.c and jobs.c.
 */
#ifndef LP_SERVER_HTTP_H
#define LP_SERVER_HTTP_H

#include "server/server.h"

typedef struct lp_server lp_server;

enum { REQ_RECEIVING, REQ_QUEUED, REQ_ANSWERED };

/* ---- clients.c: per-connection deadlines and per-address shares ---- */
enum { LP_CONN_HEADERS, LP_CONN_BODY, LP_CONN_WORKING, LP_CONN_SENDING };
typedef struct lp_conn {         /* one TCP connection (MHD's socket context) */
    struct lp_conn *prev, *next; /* on lp_server.conns, under clients_lock */
    int fd;
    uint32_t ip;                 /* IPv4, host order */
    int phase;                   /* LP_CONN_* */
    double deadline;             /* monotonic seconds; 0 = none */
    bool cut;                    /* shut down (refused or past its deadline) */
} lp_conn;
typedef struct lp_ip_slot lp_ip_slot;

typedef struct lp_card_result {
    uint8_t *jpeg;
    size_t size;
    unsigned width, height;
    lp_status status;
    char message[LP_ERROR_MESSAGE_MAX];
} lp_card_result;

typedef struct lp_request {
    lp_server *srv;
    struct MHD_Connection *conn;
    int route;
    const mrc_game *game;        /* the game an upload route is for (its settings in the
                                    data set; game->desc says what it is), else NULL */
    bool v1;                     /* a /v1 route: a JSON answer (answer says which form) */
    int answer;                  /* LP_ANSWER_*: the form of the cards' answer (answer.c) */
    char ctype_buf[80];          /* a Content-Type made for this answer (multipart boundary) */
    char disposition[96];        /* Content-Disposition of a 200 answer ("" = none): the zip's */
    bool is_post;
    double start;
    int state;
    struct MHD_PostProcessor *pp;
    lp_mem *mem;                 /* this request's counted memory (parent: the budget) */
    uint64_t reserved;           /* estimate held while queued */
    mrc_file *files;
    size_t nfiles, files_cap;
    size_t body_bytes;
    lp_conn *client;             /* its connection's record (NULL if none could be made) */
    uint64_t upload_charged;     /* body bytes charged to the client's address and the total */
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
    /* clients.c */
    pthread_mutex_t clients_lock;
    pthread_cond_t reaper_wake;
    pthread_t reaper;
    bool clients_ready, reaper_running, reaper_stop;
    lp_conn *conns;
    size_t nconns;
    lp_ip_slot *ip_slots;
    size_t ip_cap;               /* a power of two, at least 2 x max_connections */
    uint64_t upload_bytes;       /* body bytes of all requests in the server */
    uint64_t upload_limit, upload_limit_ip;  /* resolved --upload-mem, --per-ip-upload-mem */
};

/* ---- answer.c: the forms of an upload's answer ---- */
enum {
    LP_ANSWER_HTML,       /* POST /api/GAME: a page with every card inline (data: URLs) */
    LP_ANSWER_URLS,       /* POST /v1/cards/GAME: JSON, one URL per card (this process's cache) */
    LP_ANSWER_INLINE,     /* ... ?inline=1: JSON, every card as base64 */
    LP_ANSWER_MULTIPART,  /* ... Accept: multipart/mixed: the JSON, then every card as a part */
    LP_ANSWER_ZIP         /* ... ?format=zip or Accept: application/zip: a zip of the cards */
};
/* The form a /v1 upload asked for (query and Accept header). */
int lp_answer_negotiate(struct MHD_Connection *conn);
/* Writes the request's answer from its rendered cards into b (a counted buffer) and sets
 * *ctype; the cards' JPEGs are handed over (into the page or the card cache) and freed.
 * LP_ERR_LIMITS when the cards inline would pass max_inline. */
lp_status lp_answer_build(lp_server *s, lp_request *r, lp_strbuf *b, const char **ctype,
                          lp_error *err);

void lp_request_fail(lp_request *r, unsigned status, const char *reason);
lp_status lp_workers_start(lp_server *s, lp_error *err);
void lp_workers_stop(lp_server *s);
bool lp_workers_submit(lp_server *s, lp_request *r);

lp_status lp_clients_start(lp_server *s, lp_error *err);
void lp_clients_stop(lp_server *s);
void lp_conn_notify(void *cls, struct MHD_Connection *conn, void **ctx,
                    enum MHD_ConnectionNotificationCode code);
lp_conn *lp_conn_of(struct MHD_Connection *conn);
/* Moves a connection into a phase and sets that phase's deadline (c may be NULL). */
void lp_conn_set_phase(lp_server *s, lp_conn *c, int phase);
/* Charges body bytes to the client's address and the upload total: -1 when taken, or the
 * LP_REFUSE_* reason it was refused for (nothing charged then, the refusal counted). */
int lp_upload_charge(lp_server *s, lp_conn *c, uint64_t bytes);
void lp_upload_release(lp_server *s, lp_conn *c, uint64_t bytes);
void lp_clients_usage(lp_server *s, uint64_t *upload_bytes, uint64_t *connections);

#endif
