/*
 * leanpix/convert.h - one re-encoding job: input -> (shrink-on-load, orient, resize,
 * format conversion) -> encoder -> output, pulled in strips.
 *
 * lp_convert() plans the chain from the header alone, so the cost of a job is known
 * before it decodes a pixel (lp_convert_plan), then runs it. Output files appear only
 * when the whole job succeeded (temp file + fsync + rename).
 */
#ifndef LEANPIX_CONVERT_H
#define LEANPIX_CONVERT_H

#include <stdbool.h>
#include <stdint.h>
#include "leanpix/export.h"
#include "leanpix/codec.h"
#include "leanpix/io.h"
#include "leanpix/ops.h"
#include "leanpix/plan.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lp_convert_options {
    lp_encode_options encode;   /* encode.format = LP_FILE_UNKNOWN: from the output's extension */
    lp_limits limits;
    lp_io_mode io;
    uint32_t resize_width;      /* fit inside resize_width x resize_height (0 = no limit on that side) */
    uint32_t resize_height;
    uint32_t max_dim;           /* fit inside max_dim x max_dim (0 = off) */
    double scale;               /* 0 = off; else multiply both sides */
    bool enlarge;               /* allow results larger than the input (default: only shrink) */
    lp_kernel kernel;
    bool autorotate;            /* rotate pixels by EXIF orientation (non-AVIF outputs) */
    uint8_t background[3];      /* R, G, B under transparent pixels when the output has no
                                   alpha (JPEG): default white */
    uint64_t max_mem;           /* counted-memory budget for the job; 0 = none */
    lp_mem *parent_mem;         /* optional parent tracker (batch-wide budget) */
    unsigned cpus;              /* CPUs one job may use when encode.threads is 0: the planner
                                   gives it up to this many encoder threads that fit its
                                   budget (0 = 1; the CLI's convert passes the effective CPUs) */
    lp_progress_fn progress;
    void *progress_user;
} lp_convert_options;

LP_API void lp_convert_options_default(lp_convert_options *opts);

typedef struct lp_convert_stats {
    uint32_t in_width, in_height;
    uint32_t out_width, out_height;
    uint32_t shrink_on_load;     /* DCT shrink factor applied by the decoder (1 = none) */
    lp_plan plan;                /* the plan the job ran (lp_plan_job's) */
    lp_file_format in_format, out_format;
    uint64_t bytes_in;
    uint64_t bytes_out;          /* lp_convert_file: 0 unless the file was kept */
    uint64_t mem_peak;           /* counted peak bytes of the job */
    uint64_t whole_image_bytes;  /* of which held by stages that need the whole image */
    double seconds;
    char chain[160];             /* "jpeg-load -> resize -> avif-save" */
    bool output_failed;          /* lp_convert_file: the error concerns the output path */
    char warning[160];           /* "" or what the job left out and why ("metadata left out:
                                  * EXIF block is truncated or not a TIFF stream") */
} lp_convert_stats;

LP_API lp_status lp_convert_file(const char *in_path, const char *out_path,
                                 const lp_convert_options *opts, lp_convert_stats *stats,
                                 lp_error *err);
/* For callers that own the streams (server, batch). Takes ownership of `in` (closed
 * whatever happens); `out` stays the caller's, to commit on success or close. */
LP_API lp_status lp_convert_stream(lp_input *in, lp_output *out, const lp_convert_options *opts,
                                   lp_convert_stats *stats, lp_error *err);

/* The one planner (src/pipeline/plan.c; leanpix/plan.h says what a plan is): plans a job
 * with options opts (encode.format set) from its probe, for `jobs` jobs sharing budget
 * bytes (0 = none; convert plans with its own budget and jobs = 1). What the options leave
 * open is chosen for the best output that fits the job's share (budget/jobs):
 *   - AVIF: one frame where it fits the share (and AV1 level 6), else a grid of the
 *     largest cells that fit it; encoder threads (when left open) up to opts->cpus;
 *   - over its share even in the leanest mode (AVIF: 512 px cells, one thread) but within
 *     the budget: that mode; it runs when the others leave room;
 *   - over the budget even so: it runs alone (plan->alone), in its leanest mode.
 * *run_opts receives the options that run exactly this plan (convert then makes the same
 * plan from them). Fails when the output cannot be written as asked (AV1 level 6 with the
 * grid off, an unsupported output). */
LP_API lp_status lp_plan_job(const lp_probe *probe, const lp_convert_options *opts, uint64_t budget,
                             unsigned jobs, lp_plan *plan, lp_convert_options *run_opts,
                             lp_error *err);
/* The same for a share of the budget other than budget/jobs: a batch's scheduler gives a
 * job more for its preferred plan (plan->preferred_peak), or less when another took more
 * (at least plan->lean_peak). */
LP_API lp_status lp_plan_job_for(const lp_probe *probe, const lp_convert_options *opts,
                                 uint64_t budget, unsigned jobs, uint64_t share, lp_plan *plan,
                                 lp_convert_options *run_opts, lp_error *err);
/* The peak bytes of a plan (the model's sum; docs/memory.md gives each term). */
LP_API uint64_t lp_predict_peak(const lp_probe *probe, const lp_plan *plan,
                                const lp_encode_options *encode);

/* Computes the output size the options ask for from the input size. */
LP_API void lp_convert_target_size(const lp_convert_options *opts, uint32_t in_w, uint32_t in_h,
                                   uint32_t *out_w, uint32_t *out_h);

#ifdef __cplusplus
}
#endif
#endif
