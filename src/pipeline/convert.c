/*
 * convert.c - one re-encoding job: planned from the header, then pulled in strips.
 *
 * The plan is lp_plan_job's (src/pipeline/plan.c), the same the batch makes to admit the
 * job: the probe is read from the file with the format's own probe (as the batch does),
 * or taken from the opened decoder for inputs that are not files; the decoder's
 * orientation, which it read in full, refines it. Then the chain does exactly the plan:
 * the decoder shrinks on load by the planned factor, the resampler does the rest,
 * rotation (when planned) comes after resizing because it holds the whole image, the
 * output format's encoder is the one the plan chose (AVIF: frame or grid), and a
 * conversion stage is added only when the encoder wants another pixel format.
 *
 * Memory: the job's lp_mem (child of an optional batch-wide one) counts every buffer of
 * every stage; the stats report its peak, the plan's prediction, and how much of it
 * whole-image stages held.
 */
#include "leanpix/convert.h"
#include "core/clock.h"
#include "formats/format.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void lp_convert_options_default(lp_convert_options *opts)
{
    memset(opts, 0, sizeof *opts);
    lp_encode_options_default(&opts->encode, LP_FILE_UNKNOWN);
    lp_limits_default(&opts->limits);
    opts->io = LP_IO_READ;
    opts->kernel = LP_KERNEL_LANCZOS3;
    memset(opts->background, 255, sizeof opts->background);
}

static uint32_t scaled(uint32_t v, double f)
{
    double r = floor(v * f + 0.5);
    return r < 1 ? 1 : r > 4e9 ? 4000000000u : (uint32_t)r;
}

void lp_convert_target_size(const lp_convert_options *opts, uint32_t in_w, uint32_t in_h,
                            uint32_t *out_w, uint32_t *out_h)
{
    /* every constraint caps the factor; the tightest wins */
    double f = INFINITY;
    if (opts->scale > 0)
        f = opts->scale;
    if (opts->resize_width)
        f = fmin(f, (double)opts->resize_width / in_w);
    if (opts->resize_height)
        f = fmin(f, (double)opts->resize_height / in_h);
    if (opts->max_dim)
        f = fmin(f, (double)opts->max_dim / (in_w > in_h ? in_w : in_h));
    if (isinf(f) || (!opts->enlarge && f > 1.0))
        f = 1.0;
    if (f == 1.0) {
        *out_w = in_w;
        *out_h = in_h;
        return;
    }
    *out_w = scaled(in_w, f);
    *out_h = scaled(in_h, f);
    /* the side that set the factor comes out exactly as asked, whatever the rounding */
    if (opts->resize_width && f == (double)opts->resize_width / in_w)
        *out_w = opts->resize_width;
    if (opts->resize_height && f == (double)opts->resize_height / in_h)
        *out_h = opts->resize_height;
}

/* The planner's facts for this input: the file's own probe when it is a file (what the
 * batch read), else the decoder's; the orientation is the decoder's (it read all of EXIF). */
static void probe_input(lp_input *in, const lp_stage *source, lp_probe *probe)
{
    int fd = lp_input_fd(in);
    if (fd < 0 || lp_probe_fd(fd, lp_input_size(in), probe, NULL) != LP_OK ||
        probe->format != source->info.source_format || probe->width != source->info.width ||
        probe->height != source->info.height)
        lp_probe_from_info(&source->info, lp_input_size(in), probe);
    probe->orientation = source->info.meta.orientation > 0 ? source->info.meta.orientation : 1;
}

static lp_status build_chain(lp_stage **chain, const lp_plan *plan, const lp_convert_options *opts,
                             lp_convert_stats *stats, lp_error *err)
{
    lp_stage *s = *chain;
    int orientation = s->info.meta.orientation;
    if (plan->shrink > 1)
        stats->shrink_on_load = lp_stage_shrink(s, plan->shrink);
    lp_status st = LP_OK;
    if (plan->out_width != s->info.width || plan->out_height != s->info.height)
        st = lp_resize_new(&s, s, plan->out_width, plan->out_height, opts->kernel, err);
    if (st == LP_OK && plan->orient)
        st = lp_orient_new(&s, s, orientation, err);
    *chain = st == LP_OK ? s : NULL;
    return st;
}

static lp_status adapt_format(lp_stage **chain, const lp_sink *sink, const uint8_t background[3],
                              lp_error *err)
{
    lp_format want = lp_sink_accept(sink, (*chain)->info.format);
    if (want == (*chain)->info.format)
        return LP_OK;
    lp_status st = lp_convert_format_over(chain, *chain, want, background, err);
    if (st != LP_OK)
        *chain = NULL;
    return st;
}

static void sum_whole_image(const lp_stage *chain, const lp_sink *sink, lp_convert_stats *stats)
{
    uint64_t held = sink->whole_image ? sink->held_bytes : 0;
    for (const lp_stage *s = chain; s; s = s->upstream)
        if (s->whole_image)
            held += s->held_bytes;
    stats->whole_image_bytes = held;
}

lp_status lp_convert_stream(lp_input *in, lp_output *out, const lp_convert_options *opts,
                            lp_convert_stats *stats_out, lp_error *err)
{
    lp_convert_stats stats;
    memset(&stats, 0, sizeof stats);
    stats.shrink_on_load = 1;
    double t0 = lp_monotonic_seconds();
    stats.bytes_in = lp_input_size(in);

    lp_mem *mem = lp_mem_new(opts->max_mem, opts->parent_mem);
    if (!mem) {
        lp_input_close(in);
        return lp_error_set(err, LP_ERR_NOMEM, "cannot allocate a memory tracker");
    }
    lp_stage *chain = NULL;
    lp_sink *sink = NULL;
    lp_status st = lp_source_open(&chain, in, &opts->limits, mem, err);
    if (st != LP_OK)
        goto done;
    stats.in_width = chain->info.width;
    stats.in_height = chain->info.height;
    stats.in_format = chain->info.source_format;
    stats.out_format = opts->encode.format;
    if (chain->info.meta.dropped && !opts->encode.strip_metadata)
        snprintf(stats.warning, sizeof stats.warning, "metadata left out: %s",
                 chain->info.meta.dropped);
    lp_probe probe;
    probe_input(in, chain, &probe);
    lp_convert_options run;
    st = lp_plan_job(&probe, opts, opts->max_mem, 1, &stats.plan, &run, err);
    if (st != LP_OK)
        goto done;
    st = build_chain(&chain, &stats.plan, opts, &stats, err);
    if (st != LP_OK)
        goto done;
    st = lp_format_desc_of(run.encode.format)->sink_new(&sink, out, &run.encode, &stats.plan, mem, err);
    if (st != LP_OK)
        goto done;
    st = adapt_format(&chain, sink, opts->background, err);
    if (st != LP_OK)
        goto done;
    stats.out_width = chain->info.width;
    stats.out_height = chain->info.height;
    lp_stage_describe(chain, stats.chain, sizeof stats.chain);
    size_t used = strlen(stats.chain);
    snprintf(stats.chain + used, sizeof stats.chain - used, " -> %s", sink->ops->name);
    st = lp_pipeline_run(chain, sink, opts->progress, opts->progress_user, err);
    sum_whole_image(chain, sink, &stats);

done:
    lp_sink_destroy(sink);
    lp_stage_destroy(chain);
    stats.bytes_out = lp_output_bytes(out);
    stats.mem_peak = lp_mem_peak(mem);
    stats.seconds = lp_monotonic_seconds() - t0;
    lp_mem_free_tracker(mem);
    if (stats_out)
        *stats_out = stats;
    return st;
}

lp_status lp_convert_file(const char *in_path, const char *out_path,
                          const lp_convert_options *opts, lp_convert_stats *stats,
                          lp_error *err)
{
    if (stats)  /* every early return below leaves defined stats (which file failed, too) */
        memset(stats, 0, sizeof *stats);
    lp_convert_options resolved = *opts;
    if (resolved.encode.format == LP_FILE_UNKNOWN)
        resolved.encode.format = lp_file_format_from_path(out_path);
    if (resolved.encode.format != LP_FILE_UNKNOWN && !lp_file_format_writable(resolved.encode.format)) {
        if (stats)  /* an input-only format (TIFF): the output's name is what is wrong */
            stats->output_failed = true;
        return lp_format_unwritable(lp_format_desc_of(resolved.encode.format), err);
    }
    if (resolved.encode.format == LP_FILE_UNKNOWN) {
        if (stats)
            stats->output_failed = true;
        char names[128];
        lp_file_format_list(names, sizeof names, true, ".");
        return lp_error_set(err, LP_ERR_INVALID_ARG,
                            "cannot tell the output format from the name (name the output %s)",
                            names);
    }
    lp_input *in;
    lp_status st = lp_input_open_file(&in, in_path, resolved.io, resolved.limits.max_file_bytes, err);
    if (st != LP_OK)
        return st;
    lp_output *out;
    st = lp_output_open_file(&out, out_path, err);
    if (st == LP_OK && lp_output_overwrites(out, in)) {
        lp_output_close(out);
        st = lp_error_set(err, LP_ERR_INVALID_ARG,
                          "is the input file itself, open for writing in place: that would "
                          "destroy the input (write to another name)");
    }
    if (st != LP_OK) {
        lp_input_close(in);
        if (stats)
            stats->output_failed = true;
        return st;
    }
    st = lp_convert_stream(in, out, &resolved, stats, err);
    if (st == LP_OK) {
        st = lp_output_commit(out, err);
        if (st != LP_OK && stats)
            stats->output_failed = true;
    }
    lp_output_close(out);
    if (st != LP_OK && stats)
        stats->bytes_out = 0;  /* what was written went with the discarded file */
    return st;
}
