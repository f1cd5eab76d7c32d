/* orient.c - placeholder until the real implementation lands (see the owning issue). */
#include "leanpix/leanpix.h"

lp_status lp_orient_new(lp_stage **out, lp_stage *upstream, int orientation, lp_error *err)
{
    (void)out; (void)err;
    (void)orientation; lp_stage_destroy(upstream);
    return lp_error_set(err, LP_ERR_UNSUPPORTED, "orientation is not implemented yet");
}
