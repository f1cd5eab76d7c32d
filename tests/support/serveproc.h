/*
 * serveproc.h - `leanpix serve` as a separate process for the server tests that need real
 * instances (several servers side by side, the CLI's options): started through a shell
 * with popen, its port read from the "listening on http://127.0.0.1:PORT" line, stopped
 * with SIGTERM (SIGKILL after 10 s). Servers still running when a test fails are killed
 * by lpt_serve_kill_all (use it as the test's teardown).
 */
#ifndef LP_TEST_SERVEPROC_H
#define LP_TEST_SERVEPROC_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct lpt_serve {
    FILE *out;       /* the server's stdout and stderr */
    long pid;
    uint16_t port;
} lpt_serve;

/* Starts `leanpix serve --listen 127.0.0.1:0 OPTS`; false (after echoing its error line)
 * when it did not start. */
bool lpt_serve_start(lpt_serve *sv, const char *opts);
/* Stops it and echoes what it printed; false when that has a sanitizer's report. */
bool lpt_serve_stop(lpt_serve *sv);
/* A cmocka teardown: kills the servers a failed test left running. */
int lpt_serve_kill_all(void **state);

#endif
