/*
 * source_common.c - see source_common.h.
 */
#include "codec/source_common.h"

#include <stdlib.h>

void *lp_source_alloc(size_t size, lp_input *in, const char *what, lp_error *err)
{
    void *source = calloc(1, size);
    if (!source) {
        lp_input_close(in);
        lp_error_set(err, LP_ERR_NOMEM, "cannot allocate %s", what);
    }
    return source;
}

void lp_source_init(lp_stage *base, lp_source_common *common, const lp_stage_ops *ops,
                    lp_file_format format, lp_input *in, const lp_limits *limits, lp_mem *mem)
{
    base->ops = ops;
    base->mem = mem;
    base->info.meta.orientation = 1;
    base->info.source_format = format;
    common->in = in;
    if (limits)
        common->limits = *limits;
    else
        lp_limits_default(&common->limits);
}

lp_status lp_source_reserve(lp_stage *base, lp_source_common *common, uint64_t bytes,
                            const char *what, lp_error *err)
{
    lp_status st = lp_mem_reserve(base->mem, bytes, what, err);
    if (st != LP_OK)
        return st;
    common->reserved += bytes;
    return LP_OK;
}

void lp_source_free(lp_stage *base, lp_source_common *common)
{
    lp_mem *mem = base->mem;
    lp_mem_release(mem, common->icc);
    lp_mem_release(mem, common->exif);
    lp_mem_release(mem, common->xmp);
    lp_mem_unreserve(mem, common->reserved);
    lp_input_close(common->in);
    free(base);
}
