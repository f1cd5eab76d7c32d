/*
 * convert.c - one re-encoding job, planned from the header and pulled in strips.
 *
 * Plan: open the source (header only), work out the output size in display orientation
 * (what the user sees), map it back to stored orientation, ask the decoder to shrink on
 * load (JPEG DCT scaling) as far as it can while staying at or above that size, then
 * resample the rest. Rotation, when asked for, comes after resizing because it holds the
 * whole image: it is cheaper on the smaller one. The encoder says which pixel format it
 * takes and a conversion stage is added only when needed.
 *
 * AVIF output picks between one frame and a grid here, where the size is known: a grid
 * when asked for, or (auto) when one AV1 frame would be over level 6 or over the job's
 * memory budget; `--grid off` on a frame over level 6 fails before decoding anything.
 *
 * Memory: the job's lp_mem (child of an optional batch-wide one) counts every buffer of
 * every stage; the stats report its peak and how much of it whole-image stages held.
 */
#include "leanpix/convert.h"
#include "core/clock.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* libaom's all-intra state for one frame, per pixel (measured: ~400 MB at 24 MP). */
#define AVIF_FRAME_BYTES_PER_PIXEL 17u

void lp_convert_options_default(lp_convert_options *opts)
{
    memset(opts, 0, sizeof *opts);
    lp_encode_options_default(&opts->encode, LP_FILE_UNKNOWN);
    lp_limits_default(&opts->limits);
    opts->io = LP_IO_READ;
    opts->kernel = LP_KERNEL_LANCZOS3;
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

static bool orientation_transposes(int orientation)
{
    return orientation >= 5 && orientation <= 8;
}

/* Decides single frame or grid for AVIF and creates the sink. */
static lp_status open_avif_sink(lp_sink **sink, lp_output *out, lp_encode_options *enc,
                                uint32_t w, uint32_t h, uint64_t budget, lp_mem *mem,
                                lp_error *err)
{
    bool fits = lp_av1_frame_fits_level6(w, h);
    bool grid = enc->grid == LP_GRID_FIXED;
    if (enc->grid == LP_GRID_AUTO) {
        uint64_t frame_bytes = (uint64_t)w * h * AVIF_FRAME_BYTES_PER_PIXEL;
        grid = !fits || (budget && frame_bytes > budget);
    }
    if (enc->grid == LP_GRID_OFF && !fits)
        return lp_error_set(err, LP_ERR_TOO_BIG,
                            "%ux%u is over AV1 level 6 (16384x8704, 35.6 MP) for one frame, which "
                            "decoders need not accept (browsers stop at 16384 px; Debian 12's "
                            "libaom 3.6.0 has written such frames that dav1d rejects): encode it as "
                            "a grid",
                            w, h);
    if (grid)
        return lp_avif_grid_sink_new(sink, out, enc, mem, err);
    return lp_avif_sink_new(sink, out, enc, mem, err);
}

static lp_status build_chain(lp_stage **chain, const lp_convert_options *opts,
                             lp_file_format out_format, lp_convert_stats *stats, lp_error *err)
{
    lp_stage *s = *chain;
    const lp_image_info *in = &s->info;
    int orientation = in->meta.orientation;
    bool transposed = orientation_transposes(orientation);
    /* targets are about what the viewer sees: plan in display orientation */
    uint32_t disp_w = transposed ? in->height : in->width;
    uint32_t disp_h = transposed ? in->width : in->height;
    uint32_t tw, th;
    lp_convert_target_size(opts, disp_w, disp_h, &tw, &th);
    if (transposed) {
        uint32_t t = tw;
        tw = th;
        th = t;
    }
    if (tw != in->width || th != in->height) {
        if (tw < in->width && th < in->height)
            stats->shrink_on_load = lp_stage_shrink(s, tw, th);
        if (tw != s->info.width || th != s->info.height) {
            lp_status st = lp_resize_new(&s, s, tw, th, opts->kernel, err);
            if (st != LP_OK) {
                *chain = NULL;
                return st;
            }
        }
    }
    if (opts->autorotate && out_format != LP_FILE_AVIF && orientation > 1) {
        lp_status st = lp_orient_new(&s, s, orientation, err);
        if (st != LP_OK) {
            *chain = NULL;
            return st;
        }
    }
    *chain = s;
    return LP_OK;
}

static lp_status adapt_format(lp_stage **chain, const lp_sink *sink, lp_error *err)
{
    lp_format want = lp_sink_accept(sink, (*chain)->info.format);
    if (want == (*chain)->info.format)
        return LP_OK;
    lp_status st = lp_convert_format_new(chain, *chain, want, err);
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

    lp_encode_options enc = opts->encode;
    stats.out_format = enc.format;
    if (chain->info.meta.dropped && !enc.strip_metadata)
        snprintf(stats.warning, sizeof stats.warning, "metadata left out: %s",
                 chain->info.meta.dropped);
    st = build_chain(&chain, opts, enc.format, &stats, err);
    if (st != LP_OK)
        goto done;
    if (enc.format == LP_FILE_AVIF)
        st = open_avif_sink(&sink, out, &enc, chain->info.width, chain->info.height, opts->max_mem,
                            mem, err);
    else
        st = lp_sink_new(&sink, out, &enc, mem, err);
    if (st != LP_OK)
        goto done;
    st = adapt_format(&chain, sink, err);
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
    if (resolved.encode.format == LP_FILE_UNKNOWN) {
        if (stats)
            stats->output_failed = true;
        return lp_error_set(err, LP_ERR_INVALID_ARG,
                            "cannot tell the output format from the name (name the output .avif, "
                            ".jpg, .webp or .png)");
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
    return st;
}
