/* jpeg_load.c - placeholder until the real implementation lands (see the owning issue). */
#include "leanpix/leanpix.h"

lp_status lp_jpeg_source_new(lp_stage **out, lp_input *in, const lp_limits *limits, lp_mem *mem, lp_error *err)
{
    (void)out; (void)err;
    (void)limits; (void)mem; lp_input_close(in);
    return lp_error_set(err, LP_ERR_UNSUPPORTED, "JPEG decoding is not implemented yet");
}
