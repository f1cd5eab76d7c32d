/*
 * cgroup.c - child memory groups for tests (see cgroup.h).
 *
 * Our own group comes from the library's reader (lp_machine_read: memory_group), so the
 * tests find the hierarchy exactly as leanpix does. The spawned child writes its own pid
 * into the group's cgroup.procs before exec, so nothing of the command ever runs (or
 * allocates) outside the limit.
 */
#include "cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "leanpix/machine.h"

static bool write_text(const char *dir, const char *file, const char *text)
{
    char path[700];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = write(fd, text, strlen(text));
    close(fd);
    return n == (ssize_t)strlen(text);
}

/* The number after key in a "key value" file (key NULL: the file's first number). */
static uint64_t read_number(const char *dir, const char *file, const char *key)
{
    char path[700], line[256];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    uint64_t v = 0;
    size_t klen = key ? strlen(key) : 0;
    while (fgets(line, sizeof line, f)) {
        if (!key || (strncmp(line, key, klen) == 0 && line[klen] == ' ')) {
            v = strtoull(line + klen, NULL, 10);
            break;
        }
    }
    fclose(f);
    return v;
}

bool lpt_cgroup_create(lpt_cgroup *g, const char *name, uint64_t limit, char *why, size_t why_size)
{
    memset(g, 0, sizeof *g);
    lp_machine m;
    lp_machine_read(&m);
    if (!m.memory_group_version) {
        snprintf(why, why_size, "no cgroup hierarchy with the memory controller is mounted");
        return false;
    }
    g->version = m.memory_group_version;
    snprintf(g->dir, sizeof g->dir, "%s/%s-%d", m.memory_group, name, (int)getpid());
    if (mkdir(g->dir, 0755) != 0 && errno != EEXIST) {
        snprintf(why, why_size, "cannot create %s: %s", g->dir, strerror(errno));
        return false;
    }
    char text[32];
    if (g->version == 2)  /* children get memory files only when the parent hands it down */
        write_text(m.memory_group, "cgroup.subtree_control", "+memory");
    snprintf(text, sizeof text, "%llu", (unsigned long long)limit);
    bool ok = g->version == 1 ? write_text(g->dir, "memory.limit_in_bytes", text)
                              : write_text(g->dir, "memory.max", text);
    if (ok && g->version == 2)
        write_text(g->dir, "memory.swap.max", "0");  /* a limit that swap cannot dodge */
    if (!ok) {
        snprintf(why, why_size, "cannot set the memory limit of %s: %s", g->dir, strerror(errno));
        rmdir(g->dir);
        return false;
    }
    return true;
}

pid_t lpt_cgroup_spawn(const lpt_cgroup *g, const char *command, const char *out_path)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    char self[32];
    snprintf(self, sizeof self, "%d", (int)getpid());
    if (!write_text(g->dir, "cgroup.procs", self)) {
        fprintf(stderr, "cgroup: cannot join %s: %s\n", g->dir, strerror(errno));
        _exit(126);
    }
    if (out_path) {
        int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
            _exit(126);
    }
    execl("/bin/sh", "sh", "-c", command, (char *)NULL);
    _exit(127);
}

int lpt_cgroup_run(const lpt_cgroup *g, const char *command, const char *out_path)
{
    pid_t pid = lpt_cgroup_spawn(g, command, out_path);
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

uint64_t lpt_cgroup_oom_kills(const lpt_cgroup *g)
{
    return g->version == 1 ? read_number(g->dir, "memory.oom_control", "oom_kill")
                           : read_number(g->dir, "memory.events", "oom_kill");
}

uint64_t lpt_cgroup_peak(const lpt_cgroup *g)
{
    return g->version == 1 ? read_number(g->dir, "memory.max_usage_in_bytes", NULL)
                           : read_number(g->dir, "memory.peak", NULL);
}

void lpt_cgroup_remove(lpt_cgroup *g)
{
    if (!g->dir[0])
        return;
    /* a group can only be removed once empty: kill stragglers, wait up to 5 s */
    for (int tries = 0; tries < 50; tries++) {
        char path[700], line[64];
        snprintf(path, sizeof path, "%s/cgroup.procs", g->dir);
        FILE *f = fopen(path, "re");
        bool any = false;
        while (f && fgets(line, sizeof line, f)) {
            pid_t pid = (pid_t)atoi(line);
            if (pid > 0 && pid != getpid()) {
                kill(pid, SIGKILL);
                waitpid(pid, NULL, WNOHANG);
                any = true;
            }
        }
        if (f)
            fclose(f);
        if (!any && rmdir(g->dir) == 0)
            break;
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    g->dir[0] = 0;
}
