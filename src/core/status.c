/*
 * status.c - lp_status texts and the lp_error helpers.
 *
 * Messages are formatted into the caller's lp_error (no allocation). The first error set
 * wins: a low-level cause ("premature end of JPEG file") is more useful than the generic
 * failure a caller further up would record.
 */
#include "leanpix/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const status_texts[LP_STATUS_COUNT] = {
    [LP_OK] = "success",
    [LP_ERR_INVALID_ARG] = "invalid argument",
    [LP_ERR_NOMEM] = "out of memory",
    [LP_ERR_IO] = "input/output error",
    [LP_ERR_TRUNCATED] = "truncated input",
    [LP_ERR_CORRUPT] = "corrupt input",
    [LP_ERR_UNSUPPORTED] = "unsupported input",
    [LP_ERR_LIMITS] = "image exceeds limits",
    [LP_ERR_CODEC] = "codec failure",
    [LP_ERR_TOO_BIG] = "image too big for the output format",
    [LP_ERR_CANCELLED] = "cancelled",
    [LP_ERR_INTERNAL] = "internal error",
};

const char *lp_strerror(lp_status status)
{
    if ((unsigned)status >= LP_STATUS_COUNT)
        return "unknown error";
    return status_texts[status];
}

lp_status lp_error_set(lp_error *err, lp_status status, const char *fmt, ...)
{
    if (!err || status == LP_OK)
        return status;
    if (err->status != LP_OK)
        return status;  /* keep the first, most specific cause */
    err->status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    /* one line: a codec's message may end in a newline */
    char *nl = strpbrk(err->message, "\r\n");
    if (nl)
        *nl = '\0';
    return status;
}

void lp_error_clear(lp_error *err)
{
    if (!err)
        return;
    err->status = LP_OK;
    err->message[0] = '\0';
}

const char *lp_error_message(const lp_error *err)
{
    if (!err)
        return "";
    if (err->message[0])
        return err->message;
    return lp_strerror(err->status);
}
