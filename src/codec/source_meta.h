/*
 * source_meta.h - private: the metadata a decoder keeps (ICC, EXIF, XMP) in counted
 * buffers, for every source alike.
 *
 * Metadata is optional: when keeping a block would pass limits.max_metadata_bytes or the
 * job's budget, it is left out, the pixels still decode, and info.meta.dropped says why
 * (the first reason is the one reported; convert turns it into its warning).
 */
#ifndef LP_CODEC_SOURCE_META_H
#define LP_CODEC_SOURCE_META_H

#include <stddef.h>
#include <stdint.h>

#include "leanpix/pipeline.h"

/* Records why metadata was left out, unless a reason is recorded already. */
void lp_meta_note_dropped(lp_stage *source, const char *why);

/* A buffer of size bytes from source->mem, or NULL (with the reason noted) when *kept + size
 * would pass cap (0 = no cap) or the budget. *kept counts what the source holds; the
 * caller subtracts what it releases. */
uint8_t *lp_meta_buffer(lp_stage *source, uint64_t cap, uint64_t *kept, size_t size,
                        const char *what);

#endif
