/*
 * sink.c - encoder defaults and choosing the encoder for an output format.
 */
#include "leanpix/codec.h"

#include <string.h>

void lp_encode_options_default(lp_encode_options *opts, lp_file_format format)
{
    memset(opts, 0, sizeof *opts);
    opts->format = format;
    opts->quality = -1;
    opts->speed = 6;
    opts->chroma = LP_CHROMA_DEFAULT;
    opts->bit_depth = 0;
    opts->png_level = -1;
    opts->threads = 1;
    opts->grid = LP_GRID_AUTO;
}

bool lp_av1_frame_fits_level6(uint32_t width, uint32_t height)
{
    return width <= LP_AV1_MAX_FRAME_WIDTH && height <= LP_AV1_MAX_FRAME_HEIGHT &&
           (uint64_t)width * height <= LP_AV1_MAX_FRAME_PIXELS;
}

lp_status lp_sink_new(lp_sink **out, lp_output *output, const lp_encode_options *opts,
                      lp_mem *mem, lp_error *err)
{
    *out = NULL;
    switch (opts->format) {
    case LP_FILE_JPEG: return lp_jpeg_sink_new(out, output, opts, mem, err);
    case LP_FILE_PNG: return lp_png_sink_new(out, output, opts, mem, err);
    case LP_FILE_WEBP: return lp_webp_sink_new(out, output, opts, mem, err);
    case LP_FILE_AVIF: return lp_avif_sink_new(out, output, opts, mem, err);
    default:
        return lp_error_set(err, LP_ERR_INVALID_ARG, "no output format was given (name the output .avif, .jpg, .webp or .png)");
    }
}
