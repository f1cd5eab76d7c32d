/*
 * jpeg_glue.c - libjpeg failures as lp_status (see jpeg_glue.h). No state of its own.
 */
#include "jpeg_glue.h"

#include <stdarg.h>
#include <stdio.h>

void lp_jpeg_failure_raise(lp_jpeg_failure *f, lp_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->message, sizeof f->message, fmt, ap);
    va_end(ap);
    f->status = status;
    f->failed = true;
    longjmp(f->jump, 1);
}

lp_status lp_jpeg_failure_report(const lp_jpeg_failure *f, lp_error *err)
{
    return lp_error_set(err, f->status, "%s", f->message);
}
