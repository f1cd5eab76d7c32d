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

/* A family's HELP and TYPE lines, written before its samples (Prometheus text format
 * 0.0.4: one group per family, HELP and TYPE first). */
static void family(lp_strbuf *b, const char *name, const char *type, const char *help)
{
    lp_sb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A family of one unlabelled sample. */
static void single(lp_strbuf *b, const char *name, const char *type, const char *help,
                   unsigned long long value)
{
    family(b, name, type, help);
    lp_sb_printf(b, "%s %llu\n", name, value);
}

char *lp_metrics_render(const lp_metrics *m, lp_mem *budget, lp_mem *render_pool,
                        size_t cache_bytes, size_t cache_count, size_t *len)
{
    lp_strbuf b = {0};
    family(&b, "leanpix_http_requests_total", "counter",
           "HTTP requests by route and status class.");
    for (int r = 0; r < LP_ROUTE_COUNT; r++)
        for (int c = 0; c < 6; c++)
            lp_sb_printf(&b, "leanpix_http_requests_total{route=\"%s\",code=\"%s\"} %llu\n",
                         lp_route_names[r], class_names[c], atomic_load(&m->requests[r][c]));
    family(&b, "leanpix_http_request_duration_seconds", "histogram",
           "Time from request headers to the response being complete.");
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
    family(&b, "leanpix_http_in_flight", "gauge", "Requests being received, queued, rendered or sent.");
    lp_sb_printf(&b, "leanpix_http_in_flight %lld\n", atomic_load(&m->in_flight));
    family(&b, "leanpix_queue_depth", "gauge", "Complete uploads waiting for a render worker.");
    lp_sb_printf(&b, "leanpix_queue_depth %lld\n", atomic_load(&m->queued));
    family(&b, "leanpix_workers_busy", "gauge", "Render workers working on a request.");
    lp_sb_printf(&b, "leanpix_workers_busy %lld\n", atomic_load(&m->running));
    family(&b, "leanpix_rejected_total", "counter",
           "Uploads answered 503 because the render queue was full or the memory budget could "
           "not hold them.");
    lp_sb_printf(&b, "leanpix_rejected_total{reason=\"queue_full\"} %llu\n"
                     "leanpix_rejected_total{reason=\"memory_budget\"} %llu\n",
                 atomic_load(&m->rejected_busy), atomic_load(&m->rejected_mem));
    single(&b, "leanpix_cards_rendered_total", "counter", "Cards rendered and encoded.",
           atomic_load(&m->cards_rendered));
    single(&b, "leanpix_upload_bytes_total", "counter", "Request body bytes received by the upload routes.",
           atomic_load(&m->bytes_uploaded));
    single(&b, "leanpix_card_cache_bytes", "gauge",
           "JPEG bytes in the card cache (GET /v1/cards/ID.jpg).", cache_bytes);
    single(&b, "leanpix_card_cache_cards", "gauge", "Cards in the card cache.", cache_count);
    single(&b, "leanpix_memory_counted_bytes", "gauge",
           "Counted memory: budget (uploads, images, cache, answers) plus render pool.",
           (unsigned long long)(lp_mem_current(budget) + lp_mem_current(render_pool)));
    single(&b, "leanpix_memory_counted_peak_bytes", "gauge",
           "Peak of the budget plus peak of the render pool since start-up.",
           (unsigned long long)(lp_mem_peak(budget) + lp_mem_peak(render_pool)));
    single(&b, "leanpix_memory_budget_bytes", "gauge",
           "Limit of leanpix_memory_counted_bytes (--max-mem); 0 = none.",
           (unsigned long long)(lp_mem_limit(budget) + lp_mem_limit(render_pool)));
    single(&b, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
           (unsigned long long)lp_process_current_rss());
    single(&b, "leanpix_process_peak_rss_bytes", "gauge",
           "Peak resident memory of the process (VmHWM).",
           (unsigned long long)lp_process_peak_rss());
    family(&b, "leanpix_page_faults_total", "counter", "Page faults of the process by kind.");
    lp_sb_printf(&b, "leanpix_page_faults_total{kind=\"minor\"} %ld\n"
                     "leanpix_page_faults_total{kind=\"major\"} %ld\n",
                 ru.ru_minflt, ru.ru_majflt);
    single(&b, "leanpix_render_pool_bytes", "gauge",
           "Counted memory of the running cards (canvases, encoders).",
           (unsigned long long)lp_mem_current(render_pool));
    single(&b, "leanpix_render_pool_peak_bytes", "gauge", "Peak of leanpix_render_pool_bytes.",
           (unsigned long long)lp_mem_peak(render_pool));
    if (b.failed) {
        free(b.data);
        return NULL;
    }
    *len = b.len;
    return b.data;
}

void lp_metrics_render_budget(lp_strbuf *b, uint64_t image_bytes, uint64_t image_decodes,
                              uint64_t budget_bytes, const char *budget_source)
{
    single(b, "leanpix_image_cache_bytes", "gauge",
           "Decoded device images and their compact copies kept by the data set.",
           (unsigned long long)image_bytes);
    single(b, "leanpix_image_decodes_total", "counter", "Device images decoded.",
           (unsigned long long)image_decodes);
    single(b, "leanpix_budget_bytes", "gauge",
           "Counted memory outside the render pool: uploads, images, card cache, answers.",
           (unsigned long long)budget_bytes);
    if (!budget_source || !*budget_source)
        return;
    family(b, "leanpix_budget_info", "gauge", "Where the memory budget came from (always 1).");
    lp_sb_puts(b, "leanpix_budget_info{source=\"");
    /* a label value escapes \\, " and newlines; a reason is one line of a few hundred
     * bytes: longer is cut */
    size_t n = 0;
    for (const char *c = budget_source; *c && n < 1500; c++, n++) {
        if (*c == '\\' || *c == '"')
            lp_sb_add(b, "\\", 1);
        lp_sb_add(b, *c == '\n' ? "\\n" : c, *c == '\n' ? 2 : 1);
    }
    lp_sb_puts(b, "\"} 1\n");
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
