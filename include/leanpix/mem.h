/*
 * leanpix/mem.h - counted memory: every large buffer of a job goes through one lp_mem.
 *
 * A job (one conversion, one server request) owns an lp_mem. Pixel buffers, strip rings,
 * whole-frame buffers and compressed outputs are allocated from it, so that the job knows
 * its current and peak bytes and can refuse to go over a budget instead of being killed.
 * The counters are atomic: the cells of an AVIF grid row are encoded by several threads
 * that allocate from the same job. A tracker may have a parent (the batch scheduler's
 * global tracker); an allocation is charged to both and refused if either would exceed
 * its limit.
 *
 * Memory that a codec library allocates itself (libaom's encoder state, libjpeg's
 * internal buffers) does not pass through here; for those, lp_mem_reserve() charges an
 * estimate so that budgets still see it, and the CLI reports process peak RSS beside the
 * counted peak so that the difference is visible.
 */
#ifndef LEANPIX_MEM_H
#define LEANPIX_MEM_H

#include <stddef.h>
#include <stdint.h>
#include "leanpix/export.h"
#include "leanpix/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lp_mem lp_mem;

/* limit = 0 means unlimited. parent may be NULL. */
LP_API lp_mem *lp_mem_new(uint64_t limit, lp_mem *parent);
LP_API void lp_mem_free_tracker(lp_mem *mem);

/* Allocates size bytes (uninitialised) charged to mem. On failure returns NULL and sets
 * err to LP_ERR_NOMEM naming `what` ("JPEG strip buffer") and the sizes involved.
 * mem may be NULL: then the allocation is plain and uncounted (for tests and tools). */
LP_API void *lp_mem_alloc(lp_mem *mem, size_t size, const char *what, lp_error *err);
LP_API void *lp_mem_calloc(lp_mem *mem, size_t size, const char *what, lp_error *err);
/* Grows or shrinks a block from lp_mem_alloc (ptr may be NULL). On failure the old block
 * stays valid and NULL is returned. */
LP_API void *lp_mem_realloc(lp_mem *mem, void *ptr, size_t size, const char *what, lp_error *err);
LP_API void lp_mem_release(lp_mem *mem, void *ptr);

/* Charges / uncharges bytes that are held outside our allocator (codec state). */
LP_API lp_status lp_mem_reserve(lp_mem *mem, uint64_t bytes, const char *what, lp_error *err);
LP_API void lp_mem_unreserve(lp_mem *mem, uint64_t bytes);

LP_API uint64_t lp_mem_current(const lp_mem *mem);
LP_API uint64_t lp_mem_peak(const lp_mem *mem);
LP_API uint64_t lp_mem_limit(const lp_mem *mem);

/* Process-wide figures from the kernel, for reports beside the counted peak. */
LP_API uint64_t lp_process_peak_rss(void);    /* VmHWM in bytes, 0 if unknown */
LP_API uint64_t lp_process_current_rss(void); /* VmRSS in bytes, 0 if unknown */

/* Parses "256M", "1.5G", "512k", "1048576" (binary units) into bytes. */
LP_API lp_status lp_parse_size(const char *text, uint64_t *bytes, lp_error *err);

#ifdef __cplusplus
}
#endif
#endif
