/*
 * formats/avif.c - AVIF: names, magic, completeness, and the planning only AVIF has: one
 * AV1 frame or a grid of cells, which cell size and how many encoder threads.
 *
 * The encoders are src/codec/avif_save.c (one frame through libavif; libaom holds ~17 B/px
 * for the whole picture: codec/aom_memory.h) and src/codec/avif_grid_save.c (cells encoded
 * a cell-row at a time, only compressed cells kept; its peak follows the width and the
 * cell size, not the area). Planning, for an output of W x H:
 *   - a grid when asked (fixed cells), or when one frame is over AV1 level 6, which
 *     decoders need not accept; `grid off` over level 6 is refused before decoding;
 *   - within its share of the budget (budget / jobs), the job runs as asked; a grid job
 *     with encoder threads left to us encodes its cells with one thread per worker when
 *     that still fits its share;
 *   - over its share but within the budget: the leanest mode (LEAN_CELL cells, one
 *     thread) when that fits the share, so that it runs beside the others;
 *   - over the budget: it runs alone, in the leanest mode, with as many threads (up to one
 *     per worker) as still fit the budget.
 */
#include "formats/format.h"
#include "codec/aom_memory.h"
#include "codec/heif_boxes.h"
#include "io/file_bytes.h"

#include <string.h>

/* The leanest mode's cells (multiples of 64: AV1 superblocks). */
#define LEAN_CELL 512u
/* Compressed AVIF kept in memory until the container is written, upper bound per pixel. */
#define COMPRESSED_BYTES_PER_PIXEL 0.5

/* Major brand avif/avis, or the generic mif1/msf1 with avif/avis among the compatible
 * brands that head shows. */
static bool avif_sniff(const uint8_t *head, size_t len)
{
    if (len < 12 || memcmp(head + 4, "ftyp", 4))
        return false;
    if (!memcmp(head + 8, "avif", 4) || !memcmp(head + 8, "avis", 4))
        return true;
    if (memcmp(head + 8, "mif1", 4) && memcmp(head + 8, "msf1", 4))
        return false;
    return lp_heif_ftyp_lists_avif(head, len);
}

/* ---- reading (src/codec/avif_load.c: libavif + dav1d, the YUV frame held whole, RGB
 * converted strip by strip, irot/imir applied; clap not applied, as avifdec 0.11) ---- */

/* The primary item's facts from the meta box (src/codec/heif_boxes.c). The size is the
 * displayed one (a quarter turn swaps it) with orientation 1, as the source yields it;
 * progressive says "a grid" (its decoder holds more, as for a progressive JPEG). */
static lp_status avif_probe(int fd, uint64_t size, lp_probe *p, lp_error *err)
{
    lp_heif_header h;
    lp_status st = lp_heif_read_header_fd(fd, size, LP_DEFAULT_MAX_METADATA_BYTES, &h, err);
    if (st != LP_OK)
        return st;
    bool turned = h.orientation >= 5;
    p->format = LP_FILE_AVIF;
    p->width = turned ? h.height : h.width;
    p->height = turned ? h.width : h.height;
    p->components = h.alpha ? 4 : 3;
    p->bit_depth = h.bit_depth > 8 ? 16 : 8;
    p->samples_per_pixel = (h.chroma_samples ? h.chroma_samples : 6) / 2.0 + (h.alpha ? 1.0 : 0.0);
    p->progressive = h.grid;
    p->orientation = 1;
    return LP_OK;
}

/* The decoder's reservation (lp_avif_decode_estimate, measured: see avif_load.c), the
 * source's band and strip (26 and 16 lines of pixels) and its read buffer (at most the
 * compressed frame: the file). */
static uint64_t avif_decode_bytes(const lp_probe *p, const lp_plan *plan)
{
    (void)plan;
    bool alpha = p->components == 4;
    unsigned halves = (unsigned)((p->samples_per_pixel - (alpha ? 1.0 : 0.0)) * 2.0 + 0.5);
    uint64_t across = p->width > p->height ? p->width : p->height;
    uint64_t lines = across * p->components * (p->bit_depth > 8 ? 2 : 1) * (26 + 16);
    return lp_avif_decode_estimate(p->width, p->height, alpha, p->bit_depth, halves,
                                   p->progressive) +
           lines + p->file_bytes;
}

static uint64_t frame_bytes(uint64_t px, const lp_encode_options *e)
{
    double yuv = (e->chroma == LP_CHROMA_444) ? 3.0 : 1.5;
    if (e->bit_depth == 10)
        yuv *= 2;
    unsigned threads = e->threads ? e->threads : 1;
    double per_px = yuv + LP_AOM_BYTES_PER_PIXEL + LP_AOM_BYTES_PER_PIXEL_PER_THREAD * (threads - 1.0) +
                    COMPRESSED_BYTES_PER_PIXEL;
    return LP_AOM_FRAME_FIXED_BYTES + (uint64_t)(per_px * (double)px);
}

static uint64_t avif_encode_bytes(const lp_probe *p, const lp_plan *plan,
                                  const lp_encode_options *e)
{
    (void)p;
    uint64_t px = (uint64_t)plan->out_width * plan->out_height;
    if (!plan->grid)
        return frame_bytes(px, e);
    return lp_avif_grid_predict_peak(plan->out_width, plan->out_height, plan->cell_width,
                                     plan->cell_height, plan->threads,
                                     e->bit_depth == 10 ? LP_FORMAT_RGB16 : LP_FORMAT_RGB8) +
           (uint64_t)(COMPRESSED_BYTES_PER_PIXEL * (double)px);
}

/* Sets the plan's mode and threads into plan and opts, and predicts the peak. */
static void set_mode(const lp_probe *p, lp_plan *plan, lp_encode_options *opts, bool grid,
                     uint32_t cell_w, uint32_t cell_h, unsigned threads, uint64_t rest)
{
    plan->grid = grid;
    plan->cell_width = grid ? cell_w : 0;
    plan->cell_height = grid ? cell_h : 0;
    plan->threads = threads;
    if (grid) {
        opts->grid = LP_GRID_FIXED;
        opts->grid_cell_width = cell_w;
        opts->grid_cell_height = cell_h;
    }
    opts->threads = threads;
    plan->predicted_peak = rest + avif_encode_bytes(p, plan, opts);
}

static void go_lean(const lp_probe *p, lp_plan *plan, lp_encode_options *opts, unsigned threads,
                    uint64_t rest)
{
    plan->lean = true;
    set_mode(p, plan, opts, true, LEAN_CELL, LEAN_CELL, threads, rest);
}

/* A grid job whose threads were left to us (0) uses one per worker when that fits. */
static void widen(const lp_probe *p, lp_plan *plan, lp_encode_options *opts, bool threads_free,
                  uint64_t rest, uint64_t share, unsigned jobs)
{
    if (!plan->grid || !threads_free || jobs < 2)
        return;
    lp_plan wide = *plan;
    lp_encode_options wide_opts = *opts;
    set_mode(p, &wide, &wide_opts, true, plan->cell_width, plan->cell_height, jobs, rest);
    if (share && wide.predicted_peak > share)
        return;
    *plan = wide;
    *opts = wide_opts;
}

static lp_status avif_plan_output(const lp_probe *p, lp_plan *plan, lp_encode_options *opts,
                                  uint64_t rest, uint64_t budget, unsigned jobs, lp_error *err)
{
    uint32_t w = plan->out_width, h = plan->out_height;
    bool fits = lp_av1_frame_fits_level6(w, h);
    if (opts->grid == LP_GRID_OFF && !fits)
        return lp_error_set(err, LP_ERR_TOO_BIG,
                            "%ux%u is over AV1 level 6 (16384x8704, 35.6 MP) for one frame, which "
                            "decoders need not accept (browsers stop at 16384 px; Debian 12's "
                            "libaom 3.6.0 has written such frames that dav1d rejects): encode it as "
                            "a grid",
                            w, h);
    bool threads_free = opts->threads == 0;
    unsigned threads = opts->threads ? opts->threads : 1;
    bool grid = opts->grid == LP_GRID_FIXED || !fits;
    uint32_t cw = opts->grid_cell_width, ch = opts->grid_cell_height;
    if (grid && (!cw || !ch))
        lp_avif_grid_default_cell(w, h, &cw, &ch);
    set_mode(p, plan, opts, grid, cw, ch, threads, rest);
    uint64_t share = budget ? budget / jobs : 0;
    if (!budget || plan->predicted_peak <= share) {
        widen(p, plan, opts, threads_free, rest, share, jobs);
        return LP_OK;
    }
    bool can_go_lean = opts->grid != LP_GRID_OFF;
    if (plan->predicted_peak <= budget) {
        /* fits the budget but not beside the others: lean if that lets it share */
        if (can_go_lean) {
            lp_plan lean = *plan;
            lp_encode_options lean_opts = *opts;
            go_lean(p, &lean, &lean_opts, 1, rest);
            if (lean.predicted_peak <= share) {
                *plan = lean;
                *opts = lean_opts;
                widen(p, plan, opts, threads_free, rest, share, jobs);
            }
        }
        return LP_OK;
    }
    /* Too big for the budget on its own: alone, leanest, with the threads that fit. */
    plan->alone = true;
    if (!can_go_lean)
        return LP_OK;
    for (unsigned t = jobs; t >= 1; t--) {
        go_lean(p, plan, opts, t, rest);
        if (plan->predicted_peak <= budget)
            break;
    }
    return LP_OK;
}

static lp_status avif_sink(lp_sink **out, lp_output *output, const lp_encode_options *opts,
                           const lp_plan *plan, lp_mem *mem, lp_error *err)
{
    bool grid = plan ? plan->grid : opts->grid == LP_GRID_FIXED;
    return grid ? lp_avif_grid_sink_new(out, output, opts, mem, err)
                : lp_avif_sink_new(out, output, opts, mem, err);
}

/* Top-level boxes must tile the file exactly, with ftyp first and meta + mdat present. */
static bool avif_complete(int fd, uint64_t size)
{
    bool meta = false, mdat = false;
    uint64_t at = 0;
    for (unsigned boxes = 0; at < size && boxes < 10000; boxes++) {
        uint8_t head[16];
        if (size - at < 8 || !lp_file_read_at(fd, at, head, 8))
            return false;
        uint64_t len = lp_be32(head);
        if (len == 1) {
            if (size - at < 16 || !lp_file_read_at(fd, at + 8, head + 8, 8))
                return false;
            len = (uint64_t)lp_be32(head + 8) << 32 | lp_be32(head + 12);
        } else if (len == 0) {
            len = size - at;
        }
        if (len < 8 || len > size - at)
            return false;
        if (at == 0 && memcmp(head + 4, "ftyp", 4))
            return false;
        meta |= !memcmp(head + 4, "meta", 4);
        mdat |= !memcmp(head + 4, "mdat", 4);
        at += len;
    }
    return at == size && meta && mdat;
}

static const char *const avif_extensions[] = {"avif", NULL};

const lp_format_desc lp_format_avif = {
    .id = LP_FILE_AVIF,
    .name = "avif",
    .extensions = avif_extensions,
    .sniff = avif_sniff,
    .source_new = lp_avif_source_new,
    .probe = avif_probe,
    .decode_bytes = avif_decode_bytes,
    .default_quality = LP_AVIF_DEFAULT_QUALITY,
    .check_options = lp_avif_check_options,
    .plan_output = avif_plan_output,
    .encode_bytes = avif_encode_bytes,
    .sink_new = avif_sink,
    .output_complete = avif_complete,
    .keeps_orientation = true,
};
