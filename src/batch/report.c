/*
 * report.c - the batch's JSON report: {"images": [one record per image], "summary": {...}}.
 *
 * Records are written as jobs finish (the caller serialises them; the scheduler's done
 * callback never runs concurrently), so a long batch's report grows on disk instead of in
 * memory, and a report cut short by a kill still holds every finished image up to the
 * last line. Figures are plain numbers: bytes, seconds, pixels. Nothing is allocated.
 */
#include "leanpix/batch.h"

#include <inttypes.h>

#include "core/json.h"

static const char *format_name(lp_file_format f)
{
    return f == LP_FILE_UNKNOWN ? NULL : lp_file_format_name(f);
}

void lp_batch_json_open(FILE *f)
{
    fputs("{\"images\": [\n", f);
    fflush(f);
}

void lp_batch_json_record(FILE *f, const lp_batch_record *r, bool first)
{
    fputs(first ? "  {" : ",\n  {", f);
    fputs("\"input\": ", f);
    lp_json_string(f, r->input);
    fputs(", \"output\": ", f);
    lp_json_string(f, r->output);
    fputs(", \"status\": ", f);
    lp_json_string(f, r->status);
    fputs(", \"error\": ", f);
    lp_json_string(f, r->error);
    fputs(", \"warning\": ", f);
    lp_json_string(f, r->warning);
    fputs(", \"in_format\": ", f);
    lp_json_string(f, format_name(r->in_format));
    fputs(", \"out_format\": ", f);
    lp_json_string(f, format_name(r->out_format));
    fprintf(f,
            ", \"in_width\": %" PRIu32 ", \"in_height\": %" PRIu32 ", \"out_width\": %" PRIu32
            ", \"out_height\": %" PRIu32 ", \"bytes_in\": %" PRIu64 ", \"bytes_out\": %" PRIu64
            ", \"seconds\": %.3f, \"finished_at\": %.3f, \"predicted_peak_bytes\": %" PRIu64
            ", \"counted_peak_bytes\": %" PRIu64 ", \"process_rss_bytes\": %" PRIu64
            ", \"running_counted_bytes\": %" PRIu64 ", \"heap_in_use_bytes\": %" PRIu64
            ", \"cell_width\": %" PRIu32 ", \"cell_height\": %" PRIu32 ", \"threads\": %u"
            ", \"cpus_lent\": %u, \"lent_bytes\": %" PRIu64
            ", \"lean\": %s, \"alone\": %s}",
            r->in_width, r->in_height, r->out_width, r->out_height, r->bytes_in, r->bytes_out,
            r->seconds, r->finished_at, r->predicted_peak, r->counted_peak, r->process_rss,
            r->running_counted, r->heap_in_use,
            r->cell_width, r->cell_height, r->threads, r->cpus_lent, r->lent_bytes, r->lean ? "true" : "false",
            r->alone ? "true" : "false");
    fflush(f);
}

void lp_batch_json_close(FILE *f, const lp_batch_summary *s)
{
    fputs("\n],\n\"summary\": {", f);
    fprintf(f,
            "\"total\": %zu, \"succeeded\": %zu, \"skipped\": %zu, \"failed\": %zu, "
            "\"jobs\": %u, \"budget_bytes\": %" PRIu64 ", \"seconds\": %.3f, "
            "\"megapixels\": %.3f, \"images_per_second\": %.3f, \"megapixels_per_second\": %.3f, "
            "\"bytes_in\": %" PRIu64 ", \"bytes_out\": %" PRIu64
            ", \"max_running_predicted_bytes\": %" PRIu64 ", \"process_peak_rss_bytes\": %" PRIu64
            ", \"ran_alone\": %zu, \"backfilled\": %zu, \"cpus_lent\": %zu"
            ", \"took_preferred\": %zu, \"took_room\": %zu"
            ", \"idle_process_bytes\": %" PRIu64 ", \"job_budget_bytes\": %" PRIu64 ", \"shard\": ",
            s->total, s->succeeded, s->skipped, s->failed, s->jobs, s->budget, s->seconds,
            s->megapixels, s->seconds > 0 ? (double)(s->succeeded) / s->seconds : 0.0,
            s->seconds > 0 ? s->megapixels / s->seconds : 0.0, s->bytes_in, s->bytes_out,
            s->max_running_predicted, s->process_peak_rss, s->ran_alone, s->backfilled,
            s->cpus_lent, s->took_preferred, s->took_room, s->idle_process, s->job_budget);
    lp_json_string(f, s->shard);
    fputs(", \"budget_source\": ", f);
    lp_json_string(f, s->budget_source);
    fputs("}}\n", f);
    fflush(f);
}
