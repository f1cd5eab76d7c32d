/*
 * plan.c - the one planner: what a job will do and what it will hold, from its header.
 *
 * Both `convert` and `batch` call lp_plan_job: the batch with a probe read by small preads
 * (to admit the job under the budget before anything is opened), convert with the same
 * probe function on the same file, refined by what its opened decoder saw. The steps:
 *   1. the output size, computed in display orientation (what the viewer sees: EXIF 5-8
 *      swap the sides) and mapped back to stored orientation;
 *   2. the input format's shrink-on-load (JPEG DCT scaling) as far as it keeps the image
 *      at or above that size; the resampler does the rest;
 *   3. rotation of the pixels when asked, or when the metadata that says how to display
 *      them is stripped, unless the output format carries the orientation itself (AVIF
 *      does); it holds the whole image of the output size;
 *   4. the output format's own choices (AVIF: one frame or a grid, cells, threads) within
 *      the job's share of the budget, from its descriptor;
 *   5. the predicted peak: the base, the decoder's, the resampler's and the rotation's
 *      bytes (the rest), plus the encoder's.
 * Every format-specific term comes from a descriptor (src/formats/); this file names no
 * format. Arithmetic only: nothing is allocated.
 */
#include "leanpix/convert.h"
#include "formats/format.h"

#include <string.h>

/* Rows of float RGBA the resampler keeps (kernel support at the shrink ratio). */
#define RESIZE_ROWS 24u

static bool transposes(int orientation)
{
    return orientation >= 5 && orientation <= 8;
}

static uint64_t resize_bytes(const lp_plan *plan)
{
    if (plan->out_width == plan->decode_width && plan->out_height == plan->decode_height)
        return 0;
    return (uint64_t)plan->decode_width * 4 * sizeof(float) * RESIZE_ROWS;
}

/* The rotation stage holds the whole output-size image (up to 4 samples of its depth). */
static uint64_t orient_bytes(const lp_probe *p, const lp_plan *plan)
{
    if (!plan->orient)
        return 0;
    unsigned channels = p->components ? p->components : 3;
    return (uint64_t)plan->out_width * plan->out_height * channels * (p->bit_depth > 8 ? 2 : 1);
}

static uint64_t rest_bytes(const lp_probe *p, const lp_plan *plan)
{
    const lp_format_desc *in = lp_format_desc_of(p->format);
    uint64_t decode = in && in->decode_bytes ? in->decode_bytes(p, plan) : 0;
    return LP_JOB_BASE_BYTES + decode + resize_bytes(plan) + orient_bytes(p, plan);
}

uint64_t lp_predict_peak(const lp_probe *probe, const lp_plan *plan,
                         const lp_encode_options *encode)
{
    const lp_format_desc *out = lp_format_desc_of(plan->out_format);
    uint64_t encoder = out && out->encode_bytes ? out->encode_bytes(probe, plan, encode) : 0;
    return rest_bytes(probe, plan) + encoder;
}

static void plan_sizes(const lp_probe *p, const lp_convert_options *opts, lp_plan *plan)
{
    bool swap = transposes(p->orientation);
    uint32_t tw, th;
    lp_convert_target_size(opts, swap ? p->height : p->width, swap ? p->width : p->height, &tw,
                           &th);
    plan->out_width = swap ? th : tw;
    plan->out_height = swap ? tw : th;
    const lp_format_desc *in = lp_format_desc_of(p->format);
    plan->shrink = 1;
    if (in && in->shrink_factor && plan->out_width < p->width && plan->out_height < p->height)
        plan->shrink = in->shrink_factor(p, plan->out_width, plan->out_height);
    plan->decode_width = (p->width + plan->shrink - 1) / plan->shrink;
    plan->decode_height = (p->height + plan->shrink - 1) / plan->shrink;
}

lp_status lp_plan_job(const lp_probe *probe, const lp_convert_options *opts, uint64_t budget,
                      unsigned jobs, lp_plan *plan, lp_convert_options *run_opts,
                      lp_error *err)
{
    jobs = jobs ? jobs : 1;
    return lp_plan_job_for(probe, opts, budget, jobs, budget / jobs, plan, run_opts, err);
}

lp_status lp_plan_job_for(const lp_probe *probe, const lp_convert_options *opts,
                          uint64_t budget, unsigned jobs, uint64_t share, lp_plan *plan,
                          lp_convert_options *run_opts, lp_error *err)
{
    memset(plan, 0, sizeof *plan);
    *run_opts = *opts;
    jobs = jobs ? jobs : 1;
    const lp_format_desc *out = lp_format_desc_of(opts->encode.format);
    if (!out || !out->sink_new)
        return lp_format_unwritable(out, err);
    if (out->check_options) {
        lp_status st = out->check_options(&opts->encode, err);
        if (st != LP_OK)
            return st;
    }
    plan_sizes(probe, opts, plan);
    plan->out_format = out->id;
    /* Without its EXIF block (stripped) an output would display sideways: its pixels are
     * turned then too, as vipsthumbnail does. */
    bool turn = opts->autorotate || opts->encode.strip_metadata;
    plan->orient = turn && probe->orientation > 1 && !out->keeps_orientation;
    plan->threads = opts->encode.threads ? opts->encode.threads : 1;
    if (out->plan_output) {
        lp_plan_room room = {
            .rest_bytes = rest_bytes(probe, plan),
            .budget = budget,
            .share = share,
            .jobs = jobs,
            .cpus = opts->cpus ? opts->cpus : 1,
        };
        return out->plan_output(probe, plan, &run_opts->encode, &room, err);
    }
    plan->predicted_peak = lp_predict_peak(probe, plan, &run_opts->encode);
    plan->lean_peak = plan->predicted_peak;  /* nothing to choose: no leaner mode */
    plan->alone = budget && plan->predicted_peak > budget;
    return LP_OK;
}

void lp_probe_from_info(const lp_image_info *info, uint64_t file_bytes, lp_probe *probe)
{
    memset(probe, 0, sizeof *probe);
    probe->format = info->source_format;
    probe->width = info->width;
    probe->height = info->height;
    probe->components = lp_format_channels(info->format);
    probe->bit_depth = info->source_bit_depth ? info->source_bit_depth : 8;
    probe->progressive = info->source_progressive;
    probe->samples_per_pixel = info->source_samples_per_pixel ? info->source_samples_per_pixel
                                                              : probe->components;
    probe->orientation = info->meta.orientation > 0 ? info->meta.orientation : 1;
    probe->file_bytes = file_bytes;
}
