/*
 * source_meta.c - see source_meta.h.
 */
#include "codec/source_meta.h"

void lp_meta_note_dropped(lp_stage *source, const char *why)
{
    if (!source->info.meta.dropped)
        source->info.meta.dropped = why;
}

uint8_t *lp_meta_buffer(lp_stage *source, uint64_t cap, uint64_t *kept, size_t size,
                        const char *what)
{
    if (cap && *kept + size > cap) {
        lp_meta_note_dropped(source, "metadata over the size limit");
        return NULL;
    }
    uint8_t *buf = lp_mem_alloc(source->mem, size ? size : 1, what, NULL);
    if (!buf) {
        lp_meta_note_dropped(source, "metadata over the memory budget");
        return NULL;
    }
    *kept += size;
    return buf;
}
