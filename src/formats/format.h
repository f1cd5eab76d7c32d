/*
 * formats/format.h - everything leanpix knows about one file format, in one descriptor.
 *
 * What varies between formats is data: a descriptor per format (src/formats/NAME.c) and one
 * line per format in the registry (src/formats/registry.c). Nothing outside a descriptor
 * file switches on a format: the planner, the batch model, resume, the directory walk and
 * the CLI ask the registry and call through the descriptor. The codec code itself stays
 * in src/codec/ (one file per format and direction, libvips-style); a descriptor is the
 * glue that names it and the knowledge that only that format has: its names and magic
 * bytes, how to read its header cheaply, what its decoder and encoder cost in memory
 * (constants defined once, next to the measurement that gave them), which options it
 * takes and their defaults, how to tell that a file of it is complete, and the planning
 * choices that belong to it (AVIF: one frame or a grid; JPEG: DCT shrink-on-load).
 *
 * Layering: formats/ sits on codec/, io/ and core/, and below pipeline/ (the planner)
 * and batch/. A descriptor never includes pipeline/ or batch/ headers.
 */
#ifndef LEANPIX_FORMATS_FORMAT_H
#define LEANPIX_FORMATS_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "leanpix/codec.h"
#include "leanpix/image.h"
#include "leanpix/io.h"
#include "leanpix/mem.h"
#include "leanpix/plan.h"
#include "leanpix/status.h"

/* Bytes at the start of a file that sniff() may look at (fewer when the file is shorter). */
#define LP_SNIFF_BYTES 32u

/* Where a job must fit. Besides the encoder it holds rest_bytes (decoder, resampler,
 * rotation, base); it should fit share (budget / jobs) to run beside the others, and must
 * fit budget (0 = no budget) to run at all. cpus: the encoder threads it may use when the
 * options leave them open (opts->threads == 0). */
typedef struct lp_plan_room {
    uint64_t rest_bytes;
    uint64_t budget, share;
    unsigned jobs, cpus;
} lp_plan_room;

typedef struct lp_format_desc {
    lp_file_format id;
    const char *name;               /* "jpeg": --format, reports, messages */
    const char *const *extensions;  /* lower case, NULL-terminated; the first is written */

    /* ---- reading (source_new NULL: not an input format) ---- */
    /* True when head (len bytes, up to LP_SNIFF_BYTES) starts a file of this format. */
    bool (*sniff)(const uint8_t *head, size_t len);
    /* Opens a decoder that has read the header only (limits checked, info filled). Takes
     * ownership of in, also on failure. */
    lp_status (*source_new)(lp_stage **out, lp_input *in, const lp_limits *limits, lp_mem *mem,
                            lp_error *err);
    /* Header facts for the memory model with small preads on fd (size bytes); no decoder,
     * no big buffer. Fills every field of probe it knows (format, width, height at least). */
    lp_status (*probe)(int fd, uint64_t size, lp_probe *probe, lp_error *err);
    /* Decode-time reduction the decoder can apply for an output of out_w x out_h (JPEG DCT
     * scaling: 1, 2, 4 or 8); NULL = 1. The planner asks; the source applies it. */
    unsigned (*shrink_factor)(const lp_probe *probe, uint32_t out_w, uint32_t out_h);
    /* Peak bytes the decoder holds for this plan (its buffers and the library's). */
    uint64_t (*decode_bytes)(const lp_probe *probe, const lp_plan *plan);

    /* ---- writing (sink_new NULL: not an output format) ---- */
    int default_quality;            /* what quality -1 means; -1 when it has none */
    /* Refuses options this format cannot honour (LP_ERR_INVALID_ARG, a message without CLI
     * flag names); NULL = all accepted. */
    lp_status (*check_options)(const lp_encode_options *opts, lp_error *err);
    /* The format's own planning choices (AVIF: one frame or a grid, the cell size, the
     * encoder threads) for an output of plan->out_width x out_height, in the room the job
     * has (lp_plan_room). Sets plan->grid, cells, threads, lean, alone and predicted_peak,
     * and writes the choices into *opts so that the encoder does exactly the plan; may
     * refuse (LP_ERR_TOO_BIG) what cannot be written. NULL = the encoder has nothing to
     * choose (the planner then adds encode_bytes). */
    lp_status (*plan_output)(const lp_probe *probe, lp_plan *plan, lp_encode_options *opts,
                             const lp_plan_room *room, lp_error *err);
    /* Peak bytes the encoder holds for this plan. */
    uint64_t (*encode_bytes)(const lp_probe *probe, const lp_plan *plan,
                             const lp_encode_options *opts);
    /* Creates the encoder the plan chose (plan NULL: as opts say). */
    lp_status (*sink_new)(lp_sink **out, lp_output *output, const lp_encode_options *opts,
                          const lp_plan *plan, lp_mem *mem, lp_error *err);
    /* True when fd (size bytes) holds a whole file of this format (resume). */
    bool (*output_complete)(int fd, uint64_t size);
    /* The container carries the EXIF orientation (AVIF irot/imir), so pixels are never
     * turned for it: autorotate leaves them as stored. */
    bool keeps_orientation;
} lp_format_desc;

/* ---- the registry (src/formats/registry.c) ---- */
/* The descriptor of id, or NULL (LP_FILE_UNKNOWN, out of range). */
const lp_format_desc *lp_format_desc_of(lp_file_format id);
/* By name or extension ("jpg", "JPEG", "tif"), case-insensitive; NULL when none. */
const lp_format_desc *lp_format_desc_by_name(const char *name);
/* By the extension of path's base name; NULL when none matches. */
const lp_format_desc *lp_format_desc_by_path(const char *path);
/* The readable format whose magic bytes start head; NULL when none. */
const lp_format_desc *lp_format_desc_sniff(const uint8_t *head, size_t len);
/* Iteration: i = 0.. until NULL. */
const lp_format_desc *lp_format_desc_at(size_t i);
/* The error for an input that no descriptor reads (d NULL: unknown magic bytes). */
lp_status lp_format_unreadable(const lp_format_desc *d, lp_error *err);
/* The error for an output format that cannot be written (d NULL: none was given). */
lp_status lp_format_unwritable(const lp_format_desc *d, lp_error *err);

#endif
