/*
 * pipeline.c - driving a chain of strip stages into a sink.
 *
 * The driver is a loop: pull a strip from the last stage, hand it to the sink, until a
 * strip of zero rows says the image is complete. It checks the one invariant every stage
 * relies on, that strips arrive in order and cover the image exactly, so a buggy stage
 * fails loudly (LP_ERR_INTERNAL) instead of writing a shifted image.
 */
#include "leanpix/pipeline.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

lp_status lp_stage_next(lp_stage *stage, lp_strip *strip, lp_error *err)
{
    memset(strip, 0, sizeof *strip);
    return stage->ops->next(stage, strip, err);
}

uint32_t lp_stage_shrink(lp_stage *source, uint32_t factor)
{
    if (!source || source->upstream || !source->ops->shrink || factor <= 1)
        return 1;
    return source->ops->shrink(source, factor);
}

void lp_stage_destroy(lp_stage *stage)
{
    while (stage) {
        lp_stage *up = stage->upstream;
        if (stage->ops && stage->ops->destroy)
            stage->ops->destroy(stage);
        stage = up;
    }
}

lp_stage *lp_stage_source(lp_stage *stage)
{
    while (stage && stage->upstream)
        stage = stage->upstream;
    return stage;
}

void lp_stage_describe(const lp_stage *stage, char *buf, size_t size)
{
    const lp_stage *chain[32];
    size_t n = 0;
    for (const lp_stage *s = stage; s && n < 32; s = s->upstream)
        chain[n++] = s;
    size_t used = 0;
    buf[0] = '\0';
    while (n-- > 0 && used < size) {
        int w = snprintf(buf + used, size - used, "%s%s", used ? " -> " : "", chain[n]->ops->name);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

lp_format lp_sink_accept(const lp_sink *sink, lp_format offered)
{
    return sink->ops->accept ? sink->ops->accept(sink, offered) : offered;
}

void lp_sink_destroy(lp_sink *sink)
{
    if (sink && sink->ops->destroy)
        sink->ops->destroy(sink);
}

lp_status lp_pipeline_run(lp_stage *last, lp_sink *sink, lp_progress_fn progress,
                          void *progress_user, lp_error *err)
{
    const lp_image_info *info = &last->info;
    if (lp_sink_accept(sink, info->format) != info->format)
        return lp_error_set(err, LP_ERR_INTERNAL, "%s cannot take %s pixels", sink->ops->name,
                            lp_format_name(info->format));
    lp_status st = sink->ops->begin(sink, info, err);
    if (st != LP_OK)
        return st;
    uint32_t expected_y = 0;
    for (;;) {
        lp_strip strip;
        st = lp_stage_next(last, &strip, err);
        if (st != LP_OK)
            return st;
        if (strip.rows == 0)
            break;
        if (strip.y != expected_y || strip.rows > info->height - expected_y)
            return lp_error_set(err, LP_ERR_INTERNAL,
                                "%s yielded rows %" PRIu32 "..%" PRIu32 ", expected from %" PRIu32,
                                last->ops->name, strip.y, strip.y + strip.rows, expected_y);
        st = sink->ops->write(sink, &strip, err);
        if (st != LP_OK)
            return st;
        expected_y += strip.rows;
        if (progress && !progress(progress_user, expected_y, info->height))
            return lp_error_set(err, LP_ERR_CANCELLED, "cancelled at row %" PRIu32, expected_y);
    }
    if (expected_y != info->height)
        return lp_error_set(err, LP_ERR_INTERNAL, "%s ended at row %" PRIu32 " of %" PRIu32,
                            last->ops->name, expected_y, info->height);
    return sink->ops->finish(sink, err);
}
