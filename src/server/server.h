/*
 * server.h - the pieces of the HTTP server shared by http.c, jobs.c, metrics.c, cache.c.
 */
#ifndef LP_SERVER_SERVER_H
#define LP_SERVER_SERVER_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>

#include "server/serve.h"
#include "server/mrc.h"

/* ---- metrics.c ---- */
enum { LP_ROUTE_INDEX, LP_ROUTE_PAGE, LP_ROUTE_API, LP_ROUTE_V1_POST, LP_ROUTE_V1_GET,
       LP_ROUTE_HEALTHZ, LP_ROUTE_METRICS, LP_ROUTE_OTHER, LP_ROUTE_COUNT };
#define LP_LATENCY_BUCKETS 12
/* Why a client was cut off or refused by a per-client limit (leanpix_refused_total). */
enum { LP_REFUSE_HEADER_TIMEOUT, LP_REFUSE_BODY_TIMEOUT, LP_REFUSE_SEND_TIMEOUT,
       LP_REFUSE_IP_CONNECTIONS, LP_REFUSE_IP_UPLOAD_MEM, LP_REFUSE_UPLOAD_MEM,
       LP_REFUSE_CONNECTIONS, LP_REFUSE_COUNT };
typedef struct lp_metrics {
    atomic_ullong requests[LP_ROUTE_COUNT][6];  /* by route and status class: 2xx 3xx 4xx 413 503 5xx */
    atomic_ullong latency_bucket[LP_LATENCY_BUCKETS + 1];
    atomic_ullong latency_sum_us, latency_count;
    atomic_llong in_flight, queued, running;
    atomic_ullong rejected_busy, rejected_mem, cards_rendered, bytes_uploaded;
    atomic_ullong refused[LP_REFUSE_COUNT];
} lp_metrics;
extern const char *const lp_route_names[LP_ROUTE_COUNT];
void lp_metrics_record(lp_metrics *m, int route, unsigned status, double seconds);
/* Prometheus text format into a malloc'd string. */
char *lp_metrics_render(const lp_metrics *m, lp_mem *budget, lp_mem *render_pool,
                        size_t cache_bytes, size_t cache_count, size_t *len);
/* Bytes of the render pool per worker: a 1920x1080 RGB canvas (6.2 MB), the JPEG encoder's
 * buffers and its output. */
#define LP_RENDER_SLOT (12ull << 20)

/* ---- cache.c: rendered cards by id, bounded in bytes, oldest out first ---- */
typedef struct lp_card_cache lp_card_cache;
lp_card_cache *lp_card_cache_new(uint64_t max_bytes, lp_mem *budget);
void lp_card_cache_free(lp_card_cache *c);
/* Takes jpeg (malloc'd); writes the new id (32 hex chars + NUL) into id. */
bool lp_card_cache_put(lp_card_cache *c, uint8_t *jpeg, size_t size, char id[33]);
/* A malloc'd copy of the card, or NULL if unknown/evicted. */
uint8_t *lp_card_cache_get(lp_card_cache *c, const char *id, size_t *size);
void lp_card_cache_stats(lp_card_cache *c, size_t *bytes, size_t *count);

/* ---- a growable text buffer ----
 * With mem set, the buffer's capacity is charged to it as it grows (charged says how much;
 * a refused charge fails the buffer like a failed allocation) and, with trim set, the
 * data set's decoded images are dropped and the charge tried once more first. Answers
 * are built this way, so that a page of inline cards is counted while it is written. */
typedef struct lp_strbuf {
    char *data;
    size_t len, cap;
    bool failed;
    lp_mem *mem;             /* NULL = uncounted */
    const mrc_data *trim;    /* NULL = no image cache to make room in */
    uint64_t charged;        /* bytes charged to mem (the capacity) */
} lp_strbuf;
/* Makes room for more bytes at once (one allocation and one charge for an answer whose
 * size is known); false when failed. */
bool lp_sb_reserve(lp_strbuf *b, size_t more);
/* Frees the data and gives its charge back. */
void lp_sb_free(lp_strbuf *b);
void lp_sb_add(lp_strbuf *b, const char *s, size_t n);
void lp_sb_puts(lp_strbuf *b, const char *s);
void lp_sb_printf(lp_strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void lp_sb_html(lp_strbuf *b, const char *s);   /* escaped for HTML text and attributes */
void lp_sb_json(lp_strbuf *b, const char *s);   /* a JSON string literal with quotes */
void lp_sb_base64(lp_strbuf *b, const uint8_t *data, size_t n);

/* metrics.c: appends the data set's image cache, the budget and where the budget came
 * from (an info metric; budget_source NULL or "" = not shown) to a /metrics page. */
void lp_metrics_render_budget(lp_strbuf *b, uint64_t image_bytes, uint64_t image_decodes,
                              uint64_t budget_bytes, const char *budget_source);
/* metrics.c: appends the per-client limits (refusals by reason, upload bytes held,
 * connections) to a /metrics page. */
void lp_metrics_render_clients(lp_strbuf *b, const lp_metrics *m, uint64_t upload_bytes,
                               uint64_t upload_limit, uint64_t connections);

#endif
