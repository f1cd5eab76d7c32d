/*
 * leanpix/plan.h - one planner for a re-encoding job, shared by convert and batch.
 *
 * A job is planned from its header alone, before any pixel is decoded: the output size
 * (in display orientation), the decoder's shrink-on-load, the format's own choices (AVIF:
 * one frame or a grid, the cell size, encoder threads) and the predicted peak bytes. The
 * batch plans every job from a cheap probe (small preads) to admit it under the budget;
 * convert plans from the same facts taken from its opened decoder and runs exactly that
 * plan, so the batch's prediction is the plan that runs (tests/test_plan.c checks it).
 *
 * The memory model's terms come from the format descriptors (src/formats/), each next to
 * the measurement that gave its constants; docs/memory.md explains them.
 */
#ifndef LEANPIX_PLAN_H
#define LEANPIX_PLAN_H

#include <stdbool.h>
#include <stdint.h>

#include "leanpix/export.h"
#include "leanpix/image.h"
#include "leanpix/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* lp_probe, the header facts of an input, is in leanpix/image.h: the codecs fill it too. */

/* Reads the header facts of the file at path with small preads (no decoder): its format
 * by magic bytes, then that format's probe. */
LP_API lp_status lp_probe_file(const char *path, lp_probe *probe, lp_error *err);
/* The same on an open file of size bytes (read with pread; the offset is not moved). */
LP_API lp_status lp_probe_fd(int fd, uint64_t size, lp_probe *probe, lp_error *err);
/* The facts an opened decoder states (info of a source stage), for inputs that are not
 * files (memory); file_bytes as known. */
LP_API void lp_probe_from_info(const lp_image_info *info, uint64_t file_bytes, lp_probe *probe);

/* Base bytes every job holds whatever its size (I/O buffers, codec tables, stacks;
 * measured: 0.5-1 MiB for JPEG/PNG jobs above an idle process, bench/batch-model.sh). */
#define LP_JOB_BASE_BYTES (2u * 1024u * 1024u)

typedef struct lp_plan {
    uint32_t decode_width, decode_height;  /* after shrink-on-load */
    uint32_t out_width, out_height;        /* as stored (before any rotation) */
    unsigned shrink;                       /* decoder shrink factor (1 = none) */
    bool orient;                           /* pixels turned to display orientation */
    lp_file_format out_format;
    bool grid;                             /* AVIF written as a grid */
    unsigned threads;                      /* encoder threads the job runs with */
    uint32_t cell_width, cell_height;      /* grid cells */
    uint64_t predicted_peak;               /* bytes: the whole job, codec state included */
    bool lean;                             /* the leanest mode was chosen to fit the budget */
    bool alone;                            /* over the budget even so: runs with nothing else */
    uint64_t lean_peak;                    /* bytes the job needs at least: its leanest mode */
    uint64_t preferred_peak;               /* bytes of the plan its format prefers, when this
                                              one is worse for want of room or is that plan
                                              (AVIF: the leanest cells of libaom's 4K class);
                                              0 = none */
} lp_plan;

#ifdef __cplusplus
}
#endif
#endif
