/*
 * dav1d_messages.h - what dav1d says about a bad AV1 stream, added to the job's one error
 * line instead of printed beside it (tools/dav1d_messages.c says how and why).
 */
#ifndef LEANPIX_DAV1D_MESSAGES_H
#define LEANPIX_DAV1D_MESSAGES_H

#include "leanpix/leanpix.h"

/* lp_convert_file, with what dav1d said on this thread during it appended to an input's
 * error: "... (dav1d: MESSAGE)". */
lp_status cli_convert_file(const char *in_path, const char *out_path,
                           const lp_convert_options *opts, lp_convert_stats *stats,
                           lp_error *err);

#endif
