/*
 * formats/avif.c - AVIF: names, magic, completeness, and the planning only AVIF has: one
 * AV1 frame or a grid of cells, which cell size and how many encoder threads.
 *
 * The encoders are src/codec/avif_save.c (one frame through libavif; libaom holds ~17 B/px
 * for the whole picture: codec/aom_memory.h) and src/codec/avif_grid_save.c (cells encoded
 * a cell-row at a time, only compressed cells kept; its peak follows the width and the
 * cell size, not the area). Planning, for an output of W x H, what the options leave open
 * is chosen for the smallest file that fits the job's share of the budget (budget / jobs):
 *   - one frame where it fits the share and AV1 level 6 (over level 6 decoders need not
 *     accept it: `grid off` there is refused before decoding);
 *   - else a grid of the largest cells that fit the share (fewer cells, fewer bytes:
 *     docs/avif-grid.md), down to the leanest cells (512 px, more for huge images);
 *   - over the share even so but within the budget: the leanest cells; the job starts when
 *     the others leave room (the scheduler admits by predicted peaks);
 *   - over the budget even so: it runs alone, with the largest cells that fit the budget;
 *   - encoder threads left open: up to room->cpus (an alone job: up to one per worker)
 *     while the plan still fits. A batch gives each job one CPU and lends it idle workers'
 *     CPUs while it runs (lp_cpu_lender);
 *   - for a batch's lanes (src/batch/scheduler.c): the leanest plan's peak, and, for an
 *     image of libaom's 4K class planned below that class or at its leanest, the leanest
 *     4K-class plan's.
 * The peak is the model's (lp_avif_grid_predict_peak, frame_bytes), calibrated on counted
 * peaks by bench/calibrate-plan.sh (within 25% on the reference batch's shapes).
 */
#include "formats/format.h"
#include "codec/aom_memory.h"
#include "codec/heif_boxes.h"
#include "codec/heif_writer.h"
#include "io/file_bytes.h"

#include <string.h>

/* Cells this large already cost about what one frame costs in bytes (24 MP photos at
 * speed 9: 512 px cells +9%, 1024 px +0.5%, 2048 px and larger within 0.2% of the
 * smallest: docs/avif-grid.md); beyond them, CPUs are worth more than larger cells. */
#define GOOD_CELL 2048u
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
 * progressive says "a grid" (its decoder holds more, as for a progressive JPEG), and
 * grid_cells how many AV1 decoders libavif will open for it, coded_pixels the largest
 * picture one of them may hold. */
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
    p->grid_cells = h.grid_cells;
    p->coded_pixels = lp_heif_coded_pixels(&h);
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
                                   p->grid_cells, p->coded_pixels) +
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
    /* the grid's model holds its compressed cells (up to the cell store's spill) */
    return lp_avif_grid_predict_peak(plan->out_width, plan->out_height, plan->cell_width,
                                     plan->cell_height, plan->threads,
                                     e->bit_depth == 10 ? LP_FORMAT_RGB16 : LP_FORMAT_RGB8);
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
    } else {
        opts->grid = LP_GRID_OFF;
    }
    opts->threads = threads;
    plan->predicted_peak = rest + avif_encode_bytes(p, plan, opts);
}

static uint32_t div_up(uint32_t v, uint32_t d)
{
    return (v + d - 1) / d;
}

/* The side of cells of about `side` px that cut `extent` into equal parts (multiples of
 * 64, the AV1 superblock): 6000 px at 2048 gives 3 cells of 2048, at 1600 4 of 1536. */
static uint32_t even_cell(uint32_t extent, uint32_t side)
{
    uint32_t parts = div_up(extent, side);
    uint32_t cell = div_up(div_up(extent, parts), 64) * 64;
    return cell < 64 ? 64 : cell;
}

/* Is a grid of w x h cells writable: each cell within AV1 level 6, at most 256 cells a
 * side and within the 16-bit item IDs (lp_avif_grid_default_cell's rules)? */
static bool cells_writable(uint32_t w, uint32_t h, uint32_t cw, uint32_t ch)
{
    uint64_t cols = div_up(w, cw), rows = div_up(h, ch);
    return lp_av1_frame_fits_level6(cw, ch) && cols <= 256 && rows <= 256 &&
           cols * rows * 2 + 4 <= LP_HEIF_MAX_ITEMS;
}

/* libaom picks its speed features by the frame's shorter side (480p, 720p, 1080p, 4K:
 * AOMMIN(width, height) >= 2160 in libaom 3.6's speed_features.c), and at speed 9 the 4K
 * set codes photos much tighter: a 6660x4000 photo in 2240x2048 cells took 14.7% more
 * bytes than one frame, in 2240x2176 cells 4.9% fewer (docs/avif-grid.md). So when the
 * image itself is of that class, cells of at least K4_SIDE a side are tried first. */
#define K4_SIDE 2176u

static bool of_4k_class(uint32_t w, uint32_t h)
{
    return w >= 2160 && h >= 2160;
}

/* The largest cells whose plan fits `limit` (`smallest`: the cells of the smallest
 * predicted peak), sides tried from the image's longer side down to the leanest cells in
 * superblock steps; cells are at least `min_side` a side (0: no minimum). False when none
 * fits. */
static bool cells_from(const lp_probe *p, lp_plan *plan, lp_encode_options *opts,
                       unsigned threads, uint64_t rest, uint64_t limit, uint32_t min_side,
                       uint32_t lean_w, uint32_t lean_h, bool smallest)
{
    uint32_t w = plan->out_width, h = plan->out_height;
    uint32_t lean = lean_w > lean_h ? lean_w : lean_h;
    uint32_t top = div_up(w > h ? w : h, 64) * 64;
    uint32_t last_w = 0, last_h = 0;
    bool found = false;
    lp_plan best = *plan;
    lp_encode_options best_opts = *opts;
    for (uint32_t side = top; side > lean; side -= 64) {
        uint32_t cw = even_cell(w, side), ch = even_cell(h, side);
        cw = cw < min_side ? min_side : cw;
        ch = ch < min_side ? min_side : ch;
        if ((cw == last_w && ch == last_h) || cw < lean_w || ch < lean_h ||
            !cells_writable(w, h, cw, ch))
            continue;
        last_w = cw;
        last_h = ch;
        set_mode(p, plan, opts, true, cw, ch, threads, rest);
        plan->lean = cw == lean_w && ch == lean_h;
        if (plan->predicted_peak > limit)
            continue;
        if (!smallest)
            return true;
        if (!found || plan->predicted_peak < best.predicted_peak) {
            best = *plan;
            best_opts = *opts;
            found = true;
        }
    }
    if (found) {
        *plan = best;
        *opts = best_opts;
    }
    return found;
}

/* The largest cells whose plan fits `limit`: fewer cells cost fewer bytes (each has its
 * headers, and prediction stops at its edges: docs/avif-grid.md); cells of libaom's 4K
 * class first when the image is of it. Else the leanest cells (plan->lean), and false
 * when even they do not fit. */
static bool largest_cells(const lp_probe *p, lp_plan *plan, lp_encode_options *opts,
                          unsigned threads, uint64_t rest, uint64_t limit)
{
    uint32_t w = plan->out_width, h = plan->out_height;
    uint32_t lean_w, lean_h;
    lp_avif_grid_default_cell(w, h, &lean_w, &lean_h);
    if (of_4k_class(w, h) &&
        cells_from(p, plan, opts, threads, rest, limit, K4_SIDE, lean_w, lean_h, false))
        return true;
    if (cells_from(p, plan, opts, threads, rest, limit, 0, lean_w, lean_h, false))
        return true;
    set_mode(p, plan, opts, true, lean_w, lean_h, threads, rest);
    plan->lean = true;
    return plan->predicted_peak <= limit;
}

/* Threads left open: as many as the job may use (room->cpus; a grid no more than its
 * cells a row) while the plan still fits `limit`. */
static void widen(const lp_probe *p, lp_plan *plan, lp_encode_options *opts, unsigned cpus,
                  uint64_t rest, uint64_t limit)
{
    unsigned most = cpus;
    if (plan->grid && most > div_up(plan->out_width, plan->cell_width))
        most = div_up(plan->out_width, plan->cell_width);
    for (unsigned t = most; t > plan->threads; t--) {
        lp_plan wide = *plan;
        lp_encode_options wide_opts = *opts;
        set_mode(p, &wide, &wide_opts, plan->grid, plan->cell_width, plan->cell_height, t, rest);
        if (!limit || wide.predicted_peak <= limit) {
            *plan = wide;
            *opts = wide_opts;
            return;
        }
    }
}

/* One frame, or the largest cells, that fit the share; else the leanest cells. With
 * threads left open and CPUs to use, more threads win over cells larger than GOOD_CELL. */
static void choose_auto(const lp_probe *p, lp_plan *plan, lp_encode_options *opts,
                        const lp_plan_room *room, bool frame_ok, bool threads_free)
{
    uint64_t rest = room->rest_bytes;
    uint64_t limit = room->share ? room->share : UINT64_MAX;
    if (frame_ok) {
        set_mode(p, plan, opts, false, 0, 0, 1, rest);
        if (plan->predicted_peak <= limit)
            return;
    }
    uint32_t good_w = plan->out_width < GOOD_CELL ? plan->out_width : GOOD_CELL;
    uint32_t good_h = plan->out_height < GOOD_CELL ? plan->out_height : GOOD_CELL;
    for (unsigned t = threads_free ? room->cpus : 1; t > 1; t--) {
        lp_plan many = *plan;
        lp_encode_options many_opts = *opts;
        if (largest_cells(p, &many, &many_opts, t, rest, limit) &&
            many.cell_width >= good_w && many.cell_height >= good_h) {
            *plan = many;
            *opts = many_opts;
            return;
        }
    }
    largest_cells(p, plan, opts, 1, rest, limit);  /* else the leanest cells (plan->lean) */
}

/* What a batch's scheduler may trade (lp_plan.lean_peak, preferred_peak): the leanest
 * cells, and, for an image of libaom's 4K class, the leanest plan of that class (at
 * speed 9, 2.0% more bytes than one frame for the same PSNR where smaller cells need 5.6%:
 * docs/benchmarks.md) when the share gave it smaller cells and the budget holds it, or
 * when the share gave it just that plan: then preferred_peak is its own peak, and the
 * scheduler's lanes may run it beside lean plans rather than beside another such plan
 * (src/batch/scheduler.c). Cells a quarter larger in area than the class's leanest are a
 * richer plan, which equal shares keep. */
static void note_alternatives(const lp_probe *p, lp_plan *plan, const lp_encode_options *opts,
                              const lp_plan_room *room, unsigned threads)
{
    uint32_t w = plan->out_width, h = plan->out_height, lean_w, lean_h;
    lp_avif_grid_default_cell(w, h, &lean_w, &lean_h);
    lp_plan alt = *plan;
    lp_encode_options alt_opts = *opts;
    set_mode(p, &alt, &alt_opts, true, lean_w, lean_h, threads, room->rest_bytes);
    if (alt.predicted_peak < plan->lean_peak)
        plan->lean_peak = alt.predicted_peak;
    /* one frame is better than any grid: nothing to prefer, nor to search for */
    if (!plan->grid || !of_4k_class(w, h) ||
        !cells_from(p, &alt, &alt_opts, threads, room->rest_bytes,
                    room->budget ? room->budget : UINT64_MAX, K4_SIDE, lean_w, lean_h, true))
        return;
    if (!of_4k_class(plan->cell_width, plan->cell_height))
        plan->preferred_peak = alt.predicted_peak;
    else if ((uint64_t)plan->cell_width * plan->cell_height * 4 <=
             (uint64_t)alt.cell_width * alt.cell_height * 5)
        plan->preferred_peak = plan->predicted_peak;
}

static lp_status avif_plan_output(const lp_probe *p, lp_plan *plan, lp_encode_options *opts,
                                  const lp_plan_room *room, lp_error *err)
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
    bool cells_free = opts->grid == LP_GRID_AUTO;
    unsigned threads = threads_free ? 1 : opts->threads;
    uint64_t rest = room->rest_bytes;
    if (!cells_free) {
        /* the mode as asked: only threads are left to choose */
        uint32_t cw = opts->grid_cell_width, ch = opts->grid_cell_height;
        bool grid = opts->grid == LP_GRID_FIXED;
        if (grid && (!cw || !ch))
            lp_avif_grid_default_cell(w, h, &cw, &ch);
        set_mode(p, plan, opts, grid, cw, ch, threads, rest);
    } else {
        set_mode(p, plan, opts, false, 0, 0, threads, rest);
        choose_auto(p, plan, opts, room, fits, threads_free);
        if (!threads_free)
            set_mode(p, plan, opts, plan->grid, plan->cell_width, plan->cell_height, threads, rest);
    }
    if (room->budget && plan->predicted_peak > room->budget) {
        /* over the whole budget: alone, leanest (when the grid is ours to choose), with the
         * threads that still fit */
        plan->alone = true;
        if (cells_free) {
            /* with nothing beside it, its threads may be one per worker */
            unsigned t = !threads_free ? threads : room->jobs > room->cpus ? room->jobs : room->cpus;
            while (!largest_cells(p, plan, opts, t, rest, room->budget) && t > 1)
                t--;
        }
    }
    if (threads_free) {
        unsigned cpus = plan->alone && room->jobs > room->cpus ? room->jobs : room->cpus;
        widen(p, plan, opts, cpus, rest, plan->alone ? room->budget : room->share);
    }
    plan->lean_peak = plan->predicted_peak;  /* preferred_peak: 0 unless noted here */
    if (cells_free && !plan->alone)
        note_alternatives(p, plan, opts, room, threads);
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
