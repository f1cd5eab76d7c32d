/*
 * jpeg_glue.h - what the JPEG loader and saver share: turning libjpeg's error_exit (which
 * must not return) into an lp_status. Each entry point sets `jump` with setjmp before it
 * calls libjpeg; a failure records its status and one-line message here and longjmps back,
 * where lp_jpeg_failure_report() hands them to the caller's lp_error. Once failed, the
 * libjpeg object is unusable and every later call reports the same failure.
 */
#ifndef LEANPIX_JPEG_GLUE_H
#define LEANPIX_JPEG_GLUE_H

#include <setjmp.h>
#include <stdbool.h>
#include "leanpix/status.h"

typedef struct lp_jpeg_failure {
    jmp_buf jump;      /* where a failure returns to; set by each entry point */
    lp_status status;  /* why we jumped */
    char message[LP_ERROR_MESSAGE_MAX];
    bool failed;       /* the libjpeg object is unusable */
} lp_jpeg_failure;

/* Records the failure and longjmps to f->jump. */
_Noreturn void lp_jpeg_failure_raise(lp_jpeg_failure *f, lp_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Copies the recorded failure into err; returns its status. */
lp_status lp_jpeg_failure_report(const lp_jpeg_failure *f, lp_error *err);

#endif
