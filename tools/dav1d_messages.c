/*
 * dav1d_messages.c - dav1d's complaints about a stream go into our error line, not onto
 * stderr beside it.
 *
 * dav1d reports what it finds wrong in AV1 data (an unknown OBU type, a header it cannot
 * parse) through the logger of its settings, by default a line on stderr. libavif 0.11 and
 * libheif 1.15 make those settings themselves and offer no way to set the logger, so a
 * bad AVIF printed dav1d's line and then ours: two lines where users are promised one.
 * The CLI owns stderr, so it defines dav1d_default_settings (exported from the executable:
 * the dynamic linker binds libavif's and libheif's calls to it before libdav1d's), lets
 * dav1d fill the settings and puts in a logger that keeps the first message of the
 * calling thread; cli_convert_file adds it to the job's error. dav1d logs
 * on the thread that feeds it data when it decodes on one thread, as leanpix asks of
 * libavif; whatever its own worker threads log is dropped, never printed.
 *
 * The library does not do this: an application that embeds libleanpix keeps its own
 * choice of dav1d's logging.
 */
#define _GNU_SOURCE
#include "dav1d_messages.h"

#include <dav1d/dav1d.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char first_message[128];

static void keep_first_message(void *cookie, const char *format, va_list ap)
{
    (void)cookie;
    if (first_message[0])
        return;
    vsnprintf(first_message, sizeof first_message, format, ap);
    first_message[strcspn(first_message, "\r\n")] = '\0';
}

static void (*dav1d_own_defaults)(Dav1dSettings *);
static pthread_once_t dav1d_own_found = PTHREAD_ONCE_INIT;

static void find_dav1d_own_defaults(void)
{
    void *own = dlsym(RTLD_NEXT, "dav1d_default_settings");
    memcpy(&dav1d_own_defaults, &own, sizeof own);  /* POSIX: a function's address */
}

void dav1d_default_settings(Dav1dSettings *s)
{
    pthread_once(&dav1d_own_found, find_dav1d_own_defaults);
    if (!dav1d_own_defaults) {
        memset(s, 0, sizeof *s);  /* no allocator: dav1d_open refuses, the job fails */
        return;
    }
    dav1d_own_defaults(s);
    s->logger.cookie = NULL;
    s->logger.callback = keep_first_message;
}

lp_status cli_convert_file(const char *in_path, const char *out_path,
                           const lp_convert_options *opts, lp_convert_stats *stats,
                           lp_error *err)
{
    first_message[0] = '\0';
    lp_status st = lp_convert_file(in_path, out_path, opts, stats, err);
    if (st != LP_OK && !stats->output_failed && first_message[0]) {
        size_t used = strnlen(err->message, sizeof err->message);
        if (used + 1 < sizeof err->message)
            snprintf(err->message + used, sizeof err->message - used, " (dav1d: %s)",
                     first_message);
    }
    return st;
}
