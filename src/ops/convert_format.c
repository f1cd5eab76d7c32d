/* convert_format.c - placeholder until the real implementation lands (see the owning issue). */
#include "leanpix/leanpix.h"

lp_status lp_convert_format_new(lp_stage **out, lp_stage *upstream, lp_format to, lp_error *err)
{
    (void)out; (void)err;
    (void)to; lp_stage_destroy(upstream);
    return lp_error_set(err, LP_ERR_UNSUPPORTED, "format conversion is not implemented yet");
}
