/* avif_grid_save.c - placeholder until the grid writer lands (issue: AVIF grids). */
#include "leanpix/leanpix.h"

lp_status lp_avif_grid_sink_new(lp_sink **out, lp_output *output, const lp_encode_options *opts,
                                lp_mem *mem, lp_error *err)
{
    (void)out; (void)output; (void)opts; (void)mem;
    return lp_error_set(err, LP_ERR_UNSUPPORTED, "AVIF grids are not implemented yet");
}

void lp_avif_grid_default_cell(uint32_t width, uint32_t height, uint32_t *cell_width,
                               uint32_t *cell_height)
{
    (void)width; (void)height;
    *cell_width = *cell_height = 512;
}

uint64_t lp_avif_grid_predict_peak(uint32_t width, uint32_t height, uint32_t cell_width,
                                   uint32_t cell_height, unsigned threads, lp_format format)
{
    (void)height; (void)format;
    return (uint64_t)width * cell_height * 8 + (uint64_t)cell_width * cell_height * 16 * (threads ? threads : 1);
}
