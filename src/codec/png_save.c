/* png_save.c - placeholder until the real implementation lands (see the owning issue). */
#include "leanpix/leanpix.h"

lp_status lp_png_sink_new(lp_sink **out, lp_output *output, const lp_encode_options *opts, lp_mem *mem, lp_error *err)
{
    (void)out; (void)err;
    (void)output; (void)opts; (void)mem;
    return lp_error_set(err, LP_ERR_UNSUPPORTED, "png encoding is not implemented yet");
}
