/* resize.c - placeholder until the real implementation lands (see the owning issue). */
#include "leanpix/leanpix.h"

lp_status lp_resize_new(lp_stage **out, lp_stage *upstream, uint32_t width, uint32_t height, lp_kernel kernel, lp_error *err)
{
    (void)out; (void)err;
    (void)width; (void)height; (void)kernel; lp_stage_destroy(upstream);
    return lp_error_set(err, LP_ERR_UNSUPPORTED, "resizing is not implemented yet");
}

lp_kernel lp_kernel_from_name(const char *name, bool *ok)
{
    (void)name;
    *ok = false;
    return LP_KERNEL_LANCZOS3;
}
