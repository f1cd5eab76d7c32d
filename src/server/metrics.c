/*
 * metrics.c - counters for GET /metrics in the Prometheus text format: requests by route
 * and status class, a latency histogram, in-flight/queued/running gauges, rejections,
 * cards rendered, counted memory (current, peak, limit), process RSS and page faults.
 *
 * All counters are atomics updated by the polling thread and the workers; rendering the
 * page reads them without a lock (each value is individually consistent, which is what
 * Prometheus expects of a scrape).
 */
#include "server/server.h"

#include <stdlib.h>
#include <sys/resource.h>

const char *const lp_route_names[LP_ROUTE_COUNT] = {
    "index", "upload_page", "api", "v1_post", "v1_get", "healthz", "metrics", "other"};
static const char *const class_names[6] = {"2xx", "3xx", "4xx", "413", "503", "5xx"};
static const double bucket_le[LP_LATENCY_BUCKETS] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                     0.5,   1,    2.5,   5,    10,  30};

void lp_metrics_record(lp_metrics *m, int route, unsigned status, double seconds)
{
    int cls = status == 413 ? 3 : status == 503 ? 4 : status >= 500 ? 5 : status >= 400 ? 2
            : status >= 300 ? 1 : 0;
    atomic_fetch_add(&m->requests[route][cls], 1);
    int b = 0;
    while (b < LP_LATENCY_BUCKETS && seconds > bucket_le[b])
        b++;
    atomic_fetch_add(&m->latency_bucket[b], 1);
    atomic_fetch_add(&m->latency_sum_us, (unsigned long long)(seconds * 1e6));
    atomic_fetch_add(&m->latency_count, 1);
}

char *lp_metrics_render(const lp_metrics *m, lp_mem *budget, lp_mem *render_pool,
                        size_t cache_bytes, size_t cache_count, size_t *len)
{
    lp_strbuf b = {0};
    lp_sb_puts(&b, "# HELP leanpix_http_requests_total HTTP requests by route and status class.\n"
                   "# TYPE leanpix_http_requests_total counter\n");
    for (int r = 0; r < LP_ROUTE_COUNT; r++)
        for (int c = 0; c < 6; c++)
            lp_sb_printf(&b, "leanpix_http_requests_total{route=\"%s\",code=\"%s\"} %llu\n",
                         lp_route_names[r], class_names[c], atomic_load(&m->requests[r][c]));
    lp_sb_puts(&b, "# HELP leanpix_http_request_duration_seconds Time from request headers to "
                   "the response being complete.\n"
                   "# TYPE leanpix_http_request_duration_seconds histogram\n");
    unsigned long long cum = 0;
    for (int i = 0; i < LP_LATENCY_BUCKETS; i++) {
        cum += atomic_load(&m->latency_bucket[i]);
        lp_sb_printf(&b, "leanpix_http_request_duration_seconds_bucket{le=\"%g\"} %llu\n",
                     bucket_le[i], cum);
    }
    cum += atomic_load(&m->latency_bucket[LP_LATENCY_BUCKETS]);
    lp_sb_printf(&b, "leanpix_http_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n", cum);
    lp_sb_printf(&b, "leanpix_http_request_duration_seconds_sum %.6f\n",
                 atomic_load(&m->latency_sum_us) / 1e6);
    lp_sb_printf(&b, "leanpix_http_request_duration_seconds_count %llu\n",
                 atomic_load(&m->latency_count));
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    lp_sb_printf(&b,
                 "# TYPE leanpix_http_in_flight gauge\nleanpix_http_in_flight %lld\n"
                 "# TYPE leanpix_queue_depth gauge\nleanpix_queue_depth %lld\n"
                 "# TYPE leanpix_workers_busy gauge\nleanpix_workers_busy %lld\n"
                 "# TYPE leanpix_rejected_total counter\n"
                 "leanpix_rejected_total{reason=\"queue_full\"} %llu\n"
                 "leanpix_rejected_total{reason=\"memory_budget\"} %llu\n"
                 "# TYPE leanpix_cards_rendered_total counter\nleanpix_cards_rendered_total %llu\n"
                 "# TYPE leanpix_upload_bytes_total counter\nleanpix_upload_bytes_total %llu\n"
                 "# TYPE leanpix_card_cache_bytes gauge\nleanpix_card_cache_bytes %zu\n"
                 "# TYPE leanpix_card_cache_cards gauge\nleanpix_card_cache_cards %zu\n"
                 "# HELP leanpix_memory_counted_bytes Counted memory: budget (uploads, images, cache, answers) plus render pool.\n"
                 "# TYPE leanpix_memory_counted_bytes gauge\nleanpix_memory_counted_bytes %llu\n"
                 "# TYPE leanpix_memory_counted_peak_bytes gauge\nleanpix_memory_counted_peak_bytes %llu\n"
                 "# TYPE leanpix_memory_budget_bytes gauge\nleanpix_memory_budget_bytes %llu\n"
                 "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes %llu\n"
                 "# TYPE leanpix_process_peak_rss_bytes gauge\nleanpix_process_peak_rss_bytes %llu\n"
                 "# TYPE leanpix_page_faults_total counter\n"
                 "leanpix_page_faults_total{kind=\"minor\"} %ld\n"
                 "leanpix_page_faults_total{kind=\"major\"} %ld\n",
                 atomic_load(&m->in_flight), atomic_load(&m->queued), atomic_load(&m->running),
                 atomic_load(&m->rejected_busy), atomic_load(&m->rejected_mem),
                 atomic_load(&m->cards_rendered), atomic_load(&m->bytes_uploaded), cache_bytes,
                 cache_count,
                 (unsigned long long)(lp_mem_current(budget) + lp_mem_current(render_pool)),
                 (unsigned long long)(lp_mem_peak(budget) + lp_mem_peak(render_pool)),
                 (unsigned long long)(lp_mem_limit(budget) + lp_mem_limit(render_pool)),
                 (unsigned long long)lp_process_current_rss(),
                 (unsigned long long)lp_process_peak_rss(), ru.ru_minflt, ru.ru_majflt);
    lp_sb_printf(&b, "# TYPE leanpix_render_pool_bytes gauge\nleanpix_render_pool_bytes %llu\n"
                     "# TYPE leanpix_render_pool_peak_bytes gauge\nleanpix_render_pool_peak_bytes %llu\n",
                 (unsigned long long)lp_mem_current(render_pool),
                 (unsigned long long)lp_mem_peak(render_pool));
    if (b.failed) {
        free(b.data);
        return NULL;
    }
    *len = b.len;
    return b.data;
}

static const char *const refuse_names[LP_REFUSE_COUNT] = {
    "header_timeout", "body_timeout", "send_timeout", "ip_connections", "ip_upload_memory",
    "upload_memory", "connections"};

void lp_metrics_render_clients(lp_strbuf *b, const lp_metrics *m, uint64_t upload_bytes,
                               uint64_t upload_limit, uint64_t connections)
{
    lp_sb_puts(b, "# HELP leanpix_refused_total Clients cut off or refused by a per-client limit: "
                  "past the header, body or send deadline; over the connections or upload bytes "
                  "of one address; over the upload bytes of all requests or the connections "
                  "in all.\n"
                  "# TYPE leanpix_refused_total counter\n");
    for (int i = 0; i < LP_REFUSE_COUNT; i++)
        lp_sb_printf(b, "leanpix_refused_total{reason=\"%s\"} %llu\n", refuse_names[i],
                     atomic_load(&m->refused[i]));
    lp_sb_printf(b,
                 "# HELP leanpix_upload_held_bytes Body bytes of the requests in the server, charged "
                 "as they arrive and released when the request ends.\n"
                 "# TYPE leanpix_upload_held_bytes gauge\nleanpix_upload_held_bytes %llu\n"
                 "# HELP leanpix_upload_limit_bytes Limit of leanpix_upload_held_bytes.\n"
                 "# TYPE leanpix_upload_limit_bytes gauge\nleanpix_upload_limit_bytes %llu\n"
                 "# HELP leanpix_connections Open client connections.\n"
                 "# TYPE leanpix_connections gauge\nleanpix_connections %llu\n",
                 (unsigned long long)upload_bytes, (unsigned long long)upload_limit,
                 (unsigned long long)connections);
}
