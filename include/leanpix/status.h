/*
 * leanpix/status.h - the one error style of the library.
 *
 * Every fallible call returns an lp_status and, when given a non-NULL lp_error, fills it
 * with the same code plus a one-line human message that says what went wrong ("truncated
 * JPEG data at scanline 812", "width 100000 exceeds the limit of 65535"). The message never
 * names the file: the caller knows which file it passed and prefixes it. The library never
 * prints and never exits; the CLI turns an lp_error into "leanpix: FILE: message".
 *
 * lp_error is a plain struct with an inline buffer so that reporting an error never
 * allocates (it must work when memory has run out).
 */
#ifndef LEANPIX_STATUS_H
#define LEANPIX_STATUS_H

#include <stddef.h>
#include "leanpix/export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum lp_status {
    LP_OK = 0,
    LP_ERR_INVALID_ARG,  /* the caller passed something the API does not accept */
    LP_ERR_NOMEM,        /* allocation failed, or the job's memory budget would be exceeded */
    LP_ERR_IO,           /* open/read/write/fsync/rename failed (the message carries errno's text) */
    LP_ERR_TRUNCATED,    /* input ended before the image did */
    LP_ERR_CORRUPT,      /* input is malformed */
    LP_ERR_UNSUPPORTED,  /* well-formed but uses something leanpix does not handle */
    LP_ERR_LIMITS,       /* dimensions, pixel count or file size over the configured limits */
    LP_ERR_CODEC,        /* an encoder or decoder library reported a failure */
    LP_ERR_TOO_BIG,      /* the output cannot hold this image (e.g. one AV1 frame over level 6) */
    LP_ERR_CANCELLED,    /* the caller asked the job to stop */
    LP_ERR_INTERNAL,     /* a bug in leanpix: please report it */
    LP_STATUS_COUNT
} lp_status;

#define LP_ERROR_MESSAGE_MAX 240

typedef struct lp_error {
    lp_status status;
    char message[LP_ERROR_MESSAGE_MAX];
} lp_error;

/* Short fixed text for a status ("truncated input"). Never NULL. */
LP_API const char *lp_strerror(lp_status status);

/* Records status and a printf-style message in err (if err is not NULL); returns status so
 * that callers can write `return lp_error_set(err, LP_ERR_CORRUPT, "bad marker %d", m);`.
 * A message already recorded is kept: the first, most specific cause wins. */
LP_API lp_status lp_error_set(lp_error *err, lp_status status, const char *fmt, ...)
           __attribute__((format(printf, 3, 4)));

/* Clears err to LP_OK with an empty message. */
LP_API void lp_error_clear(lp_error *err);

/* The message, or lp_strerror(status) when no message was recorded. */
LP_API const char *lp_error_message(const lp_error *err);

#ifdef __cplusplus
}
#endif
#endif
