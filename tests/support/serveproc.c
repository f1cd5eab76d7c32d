/*
 * serveproc.c - see serveproc.h.
 */
#define _GNU_SOURCE
#include "serveproc.h"
#include "testutil.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LIVE_MAX 8
static lpt_serve live[LIVE_MAX];

static void track(const lpt_serve *sv, bool on)
{
    for (int i = 0; i < LIVE_MAX; i++)
        if (on ? !live[i].pid : live[i].pid == sv->pid) {
            live[i] = on ? *sv : (lpt_serve){0};
            return;
        }
}

int lpt_serve_kill_all(void **state)
{
    (void)state;
    for (int i = 0; i < LIVE_MAX; i++)
        if (live[i].pid > 0) {
            kill((pid_t)live[i].pid, SIGKILL);
            pclose(live[i].out);
            live[i] = (lpt_serve){0};
        }
    return 0;
}

bool lpt_serve_start(lpt_serve *sv, const char *opts)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s serve --listen 127.0.0.1:0 %s 2>&1 & echo $!", lpt_bin(), opts);
    *sv = (lpt_serve){popen(cmd, "r"), 0, 0};
    if (!sv->out)
        return false;
    char line[512];
    while (fgets(line, sizeof line, sv->out)) {
        const char *u = strstr(line, "http://127.0.0.1:");
        if (u) {
            sv->port = (uint16_t)atoi(u + strlen("http://127.0.0.1:"));
            track(sv, true);
            return true;
        }
        if (!sv->pid) {
            sv->pid = atol(line);
        } else {
            fprintf(stderr, "serve: %s", line);
            return false;
        }
    }
    return false;
}

bool lpt_serve_stop(lpt_serve *sv)
{
    track(sv, false);
    if (sv->pid > 0) {
        kill((pid_t)sv->pid, SIGTERM);
        struct timespec nap = {0, 50000000};
        for (int i = 0; i < 200 && kill((pid_t)sv->pid, 0) == 0; i++)
            nanosleep(&nap, NULL);
        if (kill((pid_t)sv->pid, 0) == 0)
            kill((pid_t)sv->pid, SIGKILL);
    }
    bool clean = true;
    char line[1024];
    for (int n = 0; n < 2000 && fgets(line, sizeof line, sv->out); n++) {
        fprintf(stderr, "serve: %s", line);
        if (strstr(line, "Sanitizer") || strstr(line, "runtime error"))
            clean = false;
    }
    pclose(sv->out);
    *sv = (lpt_serve){0};
    return clean;
}
