/*
 * source_common.h - private: what every decoder (the *_load.c sources in src/codec) holds
 * alike, set up and torn down in one place.
 *
 * Each source owns its input from the moment its constructor is called, keeps a copy of
 * the limits it was given (or the defaults), keeps counted copies of the ICC, EXIF and XMP
 * blocks it found, and may reserve bytes in the job's lp_mem for what its library holds
 * outside our allocator. Those four things were set up and given back by the same lines
 * in every decoder; a decoder now embeds an lp_source_common after its lp_stage and keeps
 * only what is its own. lp_source_free gives back what the decoder did not: so a decoder
 * frees its library objects and own buffers first, then calls it, as the last thing.
 */
#ifndef LP_CODEC_SOURCE_COMMON_H
#define LP_CODEC_SOURCE_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "leanpix/image.h"
#include "leanpix/io.h"
#include "leanpix/pipeline.h"

typedef struct lp_source_common {
    lp_input *in;               /* owned: closed by lp_source_free */
    lp_limits limits;           /* the caller's, or lp_limits_default() */
    uint8_t *icc, *exif, *xmp;  /* counted copies (lp_mem), pointed at by base.info.meta */
    uint64_t metadata_bytes;    /* what those hold, against limits.max_metadata_bytes */
    uint64_t reserved;          /* bytes charged with lp_mem_reserve, uncharged at the end */
} lp_source_common;

/* A zeroed decoder of size bytes, whose struct begins with its lp_stage. NULL when it
 * cannot be had: then in is closed (the constructor's caller gave it away) and err says
 * "cannot allocate <what>" (what: "an AVIF source"), and the constructor returns
 * LP_ERR_NOMEM. */
void *lp_source_alloc(size_t size, lp_input *in, const char *what, lp_error *err);

/* Makes base a source of the given format (ops, mem, orientation 1 until the file says
 * otherwise) and common the owner of in, with a copy of limits (NULL: the defaults). */
void lp_source_init(lp_stage *base, lp_source_common *common, const lp_stage_ops *ops,
                    lp_file_format format, lp_input *in, const lp_limits *limits, lp_mem *mem);

/* Reserves bytes in the job's lp_mem for what the source's library holds outside our
 * allocator (what: the reason the budget error names) and adds them to common->reserved,
 * which lp_source_free gives back. */
lp_status lp_source_reserve(lp_stage *base, lp_source_common *common, uint64_t bytes,
                            const char *what, lp_error *err);

/* Releases the metadata copies, the reservation and the input, then frees the decoder
 * (base is the start of lp_source_alloc's block). */
void lp_source_free(lp_stage *base, lp_source_common *common);

#endif
