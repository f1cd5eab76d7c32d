/*
 * dav1d_messages.h - what dav1d says about a bad AV1 stream, added to the job's one error
 * line instead of printed beside it (tools/dav1d_messages.c says how and why).
 */
#ifndef LEANPIX_DAV1D_MESSAGES_H
#define LEANPIX_DAV1D_MESSAGES_H

#include "leanpix/leanpix.h"

/* Forget what dav1d said on this thread: call before a job decodes. */
void cli_dav1d_messages_clear(void);

/* If dav1d complained on this thread since the last clear and err is a failure, append
 * " (dav1d: MESSAGE)" to err's message; then clear. */
void cli_dav1d_messages_add_to(lp_error *err);

#endif
