/*
 * model.c - the batch's memory model: predicted peak bytes of one job from its header.
 *
 * A job's peak is the sum of what its stages hold at once (docs/memory.md gives each term,
 * where it comes from and how the constants were measured):
 *   base       I/O buffers, codec tables, thread stack: LP_BATCH_JOB_BASE_BYTES
 *   decode     JPEG: a few MCU rows of the decode width (after shrink-on-load); a
 *              progressive JPEG also keeps every DCT coefficient of the full image
 *              (2 bytes x samples per pixel x pixels: 3 B/px for 4:2:0, 6 B/px for 4:4:4)
 *              PNG: two rows plus zlib's window
 *   resize     a ring of float rows of the decode width
 *   encode     AVIF frame: the whole YUV picture (1.5 B/px 8-bit 4:2:0, 3 B/px 4:4:4, x2
 *              at 10 bits) plus libaom's encoder (~16 B/px for a still frame at speed 6)
 *              and the compressed frame; AVIF grid: lp_avif_grid_predict_peak();
 *              WebP: YUV planes of the whole picture plus libwebp's state, which grows
 *              with quality (2 B/px at q20 to 14 at q100; lossless ~28);
 *              JPEG/PNG: strip buffers of the output width
 * The leanest mode is an AVIF grid of small cells (shrink-on-load is always on): its peak
 * follows the image width and the cell size, not the image area. A job over its share of
 * the budget (budget / workers) takes it when that lets it share; a job over the whole
 * budget takes it and runs alone (see lp_batch_plan_job in leanpix/batch.h).
 * Everything here is arithmetic on the header; nothing is allocated.
 */
#include "leanpix/batch.h"

#include <string.h>

/* libaom, one still frame, speed 6, 8-bit: bytes per pixel (see docs/memory.md). */
#define AOM_BYTES_PER_PIXEL 16.5
/* libaom's fixed cost for a frame whatever its size (measured: ~13 MiB above 16.5 B/px at
 * 0.8 MP, bench/batch-model.sh). */
#define AOM_FIXED_BYTES (14u * 1024u * 1024u)
/* Extra encoder state per additional libaom thread, bytes per pixel. */
#define AOM_BYTES_PER_PIXEL_PER_THREAD 1.0
/* Compressed AVIF/WebP kept in memory until the container is written, upper bound. */
#define COMPRESSED_BYTES_PER_PIXEL 0.5
/* Rows of the decode width a JPEG decoder and our strip hold (2 MCU rows of 16 + strip). */
#define JPEG_DECODE_ROWS 48u
/* Rows of float RGBA the resampler keeps (kernel support at the shrink ratio). */
#define RESIZE_ROWS 24u
/* Leanest-mode grid cells (multiples of 64: AV1 superblocks). */
#define LEAN_CELL 512u

static unsigned choose_shrink(const lp_batch_probe *p, uint32_t out_w, uint32_t out_h)
{
    if (p->format != LP_FILE_JPEG)
        return 1;
    for (unsigned s = 8; s > 1; s /= 2)
        if ((p->width + s - 1) / s >= out_w && (p->height + s - 1) / s >= out_h)
            return s;
    return 1;
}

static uint64_t decode_bytes(const lp_batch_probe *p, const lp_batch_plan *plan)
{
    uint64_t w = plan->decode_width;
    if (p->format == LP_FILE_PNG) {
        uint64_t row = (uint64_t)p->width * p->components * (p->bit_depth > 8 ? 2 : 1);
        /* Adam7 needs the whole image to deinterlace. */
        uint64_t rows = p->progressive ? p->height : 2;
        return row * rows + 2 * row + 64 * 1024;
    }
    uint64_t bytes = w * (p->components ? p->components : 3) * JPEG_DECODE_ROWS;
    if (p->progressive) /* coefficients of the full image, whatever the scale */
        bytes += (uint64_t)((double)p->width * p->height * p->samples_per_pixel * 2.0);
    return bytes;
}

static uint64_t resize_bytes(const lp_batch_plan *plan)
{
    if (plan->out_width == plan->decode_width && plan->out_height == plan->decode_height)
        return 0;
    return (uint64_t)plan->decode_width * 4 * sizeof(float) * RESIZE_ROWS;
}

static uint64_t avif_frame_bytes(uint64_t px, const lp_encode_options *e)
{
    double yuv = (e->chroma == LP_CHROMA_444) ? 3.0 : 1.5;
    if (e->bit_depth == 10)
        yuv *= 2;
    unsigned threads = e->threads ? e->threads : 1;
    double per_px = yuv + AOM_BYTES_PER_PIXEL + AOM_BYTES_PER_PIXEL_PER_THREAD * (threads - 1) +
                    COMPRESSED_BYTES_PER_PIXEL;
    return AOM_FIXED_BYTES + (uint64_t)(per_px * (double)px);
}

/* libwebp's working memory per pixel by quality (method >= 3), as measured by the WebP
 * sink's author on a grainy 12 MP photo (docs/benchmarks.md, PNG/WebP section), plus our
 * YUV planes (1.5 B/px; alpha +1 and libwebp's alpha coder ~16). Lossless: ~28 B/px. */
static double webp_bytes_per_pixel(const lp_encode_options *e, bool alpha)
{
    if (e->lossless)
        return 28.0 + (alpha ? 4.0 : 0.0);
    static const double quality[] = {20, 50, 80, 90, 95, 100};
    static const double bytes[] = {2.0, 3.6, 5.9, 8.7, 11.6, 14.2};
    double q = e->quality < 0 ? 80 : e->quality, b = bytes[0];
    for (int i = 1; i < 6; i++)
        if (q > quality[i - 1])
            b = bytes[i - 1] + (bytes[i] - bytes[i - 1]) * ((q < quality[i] ? q : quality[i]) - quality[i - 1]) /
                                   (quality[i] - quality[i - 1]);
    return b + 1.5 + 0.3 + (alpha ? 17.0 : 0.0);  /* 0.3: margin over the sink's own reservation */
}

static uint64_t encode_bytes(const lp_batch_probe *probe, const lp_batch_plan *plan,
                             const lp_encode_options *e)
{
    uint64_t w = plan->out_width, px = (uint64_t)plan->out_width * plan->out_height;
    switch (plan->out_format) {
    case LP_FILE_AVIF:
        if (plan->grid)
            return lp_avif_grid_predict_peak(plan->out_width, plan->out_height,
                                             plan->cell_width, plan->cell_height,
                                             e->threads ? e->threads : 1,
                                             e->bit_depth == 10 ? LP_FORMAT_RGB16 : LP_FORMAT_RGB8) +
                   (uint64_t)(COMPRESSED_BYTES_PER_PIXEL * (double)px);
        return avif_frame_bytes(px, e);
    case LP_FILE_WEBP: {
        bool alpha = probe->components == 2 || probe->components == 4;
        return (uint64_t)(webp_bytes_per_pixel(e, alpha) * (double)px) + (e->lossless ? 8u << 20 : 0);
    }
    case LP_FILE_JPEG:
        return w * 3 * 64 + 256 * 1024;
    case LP_FILE_PNG:
    default:
        return w * 8 * 3 + 512 * 1024;
    }
}

uint64_t lp_batch_predict_peak(const lp_batch_probe *probe, const lp_batch_plan *plan,
                               const lp_encode_options *encode)
{
    return LP_BATCH_JOB_BASE_BYTES + decode_bytes(probe, plan) + resize_bytes(plan) +
           encode_bytes(probe, plan, encode);
}

static bool avif_needs_grid(const lp_batch_plan *plan, const lp_encode_options *e)
{
    if (plan->out_format != LP_FILE_AVIF || e->grid == LP_GRID_OFF)
        return false;
    return e->grid == LP_GRID_FIXED || !lp_av1_frame_fits_level6(plan->out_width, plan->out_height);
}

/* A grid job with the encoder threads left to us (0) encodes its cells with one thread per
 * worker when that fits its share of the budget: big images then use the cores that the
 * small jobs around them leave idle, instead of finishing last on one core. */
static void widen_grid(const lp_batch_probe *probe, lp_batch_plan *plan,
                       lp_convert_options *run_opts, const lp_convert_options *opts,
                       uint64_t budget, unsigned jobs)
{
    if (!plan->grid || opts->encode.threads != 0 || jobs < 2)
        return;
    lp_batch_plan wide = *plan;
    lp_encode_options enc = run_opts->encode;
    enc.threads = jobs;
    wide.threads = jobs;
    wide.predicted_peak = lp_batch_predict_peak(probe, &wide, &enc);
    if (budget && wide.predicted_peak > budget / jobs)
        return;
    *plan = wide;
    run_opts->encode.threads = jobs;
}

static void plan_lean(const lp_batch_probe *probe, lp_batch_plan *plan,
                      lp_convert_options *run_opts, unsigned threads)
{
    plan->grid = true;
    plan->lean = true;
    plan->cell_width = plan->cell_height = LEAN_CELL;
    run_opts->encode.grid = LP_GRID_FIXED;
    run_opts->encode.grid_cell_width = LEAN_CELL;
    run_opts->encode.grid_cell_height = LEAN_CELL;
    run_opts->encode.threads = threads;
    plan->threads = threads;
    plan->predicted_peak = lp_batch_predict_peak(probe, plan, &run_opts->encode);
}

void lp_batch_plan_job(const lp_batch_probe *probe, const lp_convert_options *opts,
                       uint64_t budget, unsigned jobs, lp_batch_plan *plan,
                       lp_convert_options *run_opts)
{
    memset(plan, 0, sizeof *plan);
    *run_opts = *opts;
    jobs = jobs ? jobs : 1;
    lp_convert_target_size(opts, probe->width, probe->height, &plan->out_width, &plan->out_height);
    plan->shrink = choose_shrink(probe, plan->out_width, plan->out_height);
    plan->decode_width = (probe->width + plan->shrink - 1) / plan->shrink;
    plan->decode_height = (probe->height + plan->shrink - 1) / plan->shrink;
    plan->out_format = opts->encode.format;
    plan->grid = avif_needs_grid(plan, &opts->encode);
    if (plan->grid) {
        plan->cell_width = opts->encode.grid_cell_width;
        plan->cell_height = opts->encode.grid_cell_height;
        if (!plan->cell_width || !plan->cell_height)
            lp_avif_grid_default_cell(plan->out_width, plan->out_height, &plan->cell_width,
                                      &plan->cell_height);
    }
    plan->predicted_peak = lp_batch_predict_peak(probe, plan, &opts->encode);
    plan->threads = opts->encode.threads ? opts->encode.threads : 1;
    if (!budget || plan->predicted_peak <= budget / jobs) {
        widen_grid(probe, plan, run_opts, opts, budget, jobs);
        return;
    }

    /* Over its share of the budget. AVIF has a leaner mode: a grid of small cells, whose
     * peak follows the image's width, not its area. Other formats have none (JPEG/PNG
     * already stream; WebP needs its whole picture). */
    bool can_go_lean = plan->out_format == LP_FILE_AVIF && opts->encode.grid != LP_GRID_OFF;
    bool over_budget = plan->predicted_peak > budget;
    if (!over_budget) {
        /* fits the budget but not beside the others: lean if that lets it share */
        if (can_go_lean) {
            lp_batch_plan lean = *plan;
            lp_convert_options lean_opts = *run_opts;
            plan_lean(probe, &lean, &lean_opts, 1);
            if (lean.predicted_peak <= budget / jobs) {
                *plan = lean;
                *run_opts = lean_opts;
                widen_grid(probe, plan, run_opts, opts, budget, jobs);
            }
        }
        return;
    }
    /* Too big for the budget on its own: it runs alone, in its leanest mode, and since
     * nothing runs beside it, its grid cells may use every worker's core if that fits. */
    plan->alone = true;
    if (!can_go_lean)
        return;
    lp_batch_plan lean = *plan;
    lp_convert_options lean_opts = *run_opts;
    for (unsigned threads = jobs; threads >= 1; threads--) {
        lean = *plan;
        lean_opts = *run_opts;
        plan_lean(probe, &lean, &lean_opts, threads);
        if (lean.predicted_peak <= budget)
            break;
    }
    *plan = lean;
    *run_opts = lean_opts;
}
