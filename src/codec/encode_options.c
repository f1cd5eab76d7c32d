/*
 * encode_options.c - the encoder options' defaults. (Which encoder an output gets is the format
 * registry's business: src/formats/registry.c.)
 */
#include "leanpix/codec.h"

#include <string.h>

void lp_encode_options_default(lp_encode_options *opts, lp_file_format format)
{
    memset(opts, 0, sizeof *opts);
    opts->format = format;
    opts->quality = -1;
    opts->speed = LP_AVIF_DEFAULT_SPEED;
    opts->chroma = LP_CHROMA_DEFAULT;
    opts->bit_depth = 0;
    opts->png_level = -1;
    opts->threads = 0;  /* the planner chooses (lp_plan_job); encoders run 0 as 1 */
    opts->grid = LP_GRID_AUTO;
}
