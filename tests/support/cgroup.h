/*
 * cgroup.h - runs commands inside a memory cgroup of their own, for tests that check what
 * leanpix does under a container's memory limit (tests/test_memlimit.c).
 *
 * A child group is made under this process's own memory group (cgroup v1's memory
 * hierarchy, or v2 where it offers the memory controller), so its limit also sits under
 * whatever limits the test runs with. Needs the right to create groups (root, or a
 * delegated subtree); lpt_cgroup_create says why not when it cannot.
 */
#ifndef LP_TEST_CGROUP_H
#define LP_TEST_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct lpt_cgroup {
    int version;     /* 1 or 2 */
    char dir[600];   /* the child group's directory */
} lpt_cgroup;

/* Makes a child group named name-PID with the memory limit. False, with the reason in why,
 * when no group can be made (no memory controller, no permission). */
bool lpt_cgroup_create(lpt_cgroup *g, const char *name, uint64_t limit, char *why, size_t why_size);

/* Starts `/bin/sh -c command` in the group (the child joins the group before exec) with
 * stdout and stderr to out_path (NULL: inherited). Returns the pid, -1 on failure. */
pid_t lpt_cgroup_spawn(const lpt_cgroup *g, const char *command, const char *out_path);
/* Spawns and waits: the exit status, or 128 + the signal that killed it. */
int lpt_cgroup_run(const lpt_cgroup *g, const char *command, const char *out_path);

/* OOM kills in the group so far (v1 memory.oom_control, v2 memory.events "oom_kill"). */
uint64_t lpt_cgroup_oom_kills(const lpt_cgroup *g);
/* The group's peak memory (v1 memory.max_usage_in_bytes, v2 memory.peak; 0 if unknown). */
uint64_t lpt_cgroup_peak(const lpt_cgroup *g);

/* Kills what still runs in the group and removes it. */
void lpt_cgroup_remove(lpt_cgroup *g);

#endif
