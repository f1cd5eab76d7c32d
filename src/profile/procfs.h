/*
 * procfs.h - the profile's readers of /proc (internal to src/profile).
 *
 * A process is read through three descriptors opened once (stat, status, smaps_rollup)
 * and re-read with pread from offset 0 into a caller's stack buffer: nothing is allocated
 * per sample. A process that has gone away reads as "gone" (ESRCH or an empty file),
 * which also protects against PID reuse: an open /proc descriptor never follows a new
 * process with the same number.
 */
#ifndef LP_PROFILE_PROCFS_H
#define LP_PROFILE_PROCFS_H

#include <stdbool.h>
#include "profile/profile.h"

typedef struct lp_procfds {
    int pid;
    int stat_fd, status_fd, rollup_fd;
} lp_procfds;

typedef struct lp_proc_reading {
    lp_prof_mem mem;
    uint64_t hwm, minflt, majflt;
    uint32_t threads;
    double cpu_s;
    int ppid;
    char state;
    char comm[32];
} lp_proc_reading;

typedef struct lp_sys_reading {
    uint64_t majflt, pswpin, pswpout;
    double psi_some_avg10, psi_full_avg10;  /* -1 when absent */
} lp_sys_reading;

typedef struct lp_sysfds {
    int vmstat_fd, psi_fd;
} lp_sysfds;

/* Opens the descriptors of pid; false if it is already gone or unreadable. */
bool lp_procfs_open(int pid, lp_procfds *fds);
void lp_procfs_close(lp_procfds *fds);
/* Reads stat and status (cheap: counters the kernel keeps); false when the process is
 * gone. A zombie reads as alive with state 'Z' and no memory. */
bool lp_procfs_read(lp_procfds *fds, lp_proc_reading *out);
/* Reads smaps_rollup into the PSS, anonymous and swap fields of mem, and into mem->rss the
 * resident pages the walk itself counted (callers compare it with status). This one walks the
 * page tables in the kernel: it costs about 1.3 ms per 100k resident pages on an idle machine. It is
 * reopened when it reads empty: after an exec the open file still refers to the old,
 * gone address space. */
bool lp_procfs_read_rollup(lp_procfds *fds, lp_prof_mem *mem);
/* The most resident memory a smaps_rollup walk may count between two status reads of
 * rss_before and rss_after: status's counters are batched per thread (64 pages, before
 * Linux 6.2) or per CPU, hence the slack (2 MiB, 256 KiB a thread, 1/64). A walk over it
 * counted pages twice (the kernel lets writers in during the walk: recorder.c). */
uint64_t lp_procfs_walk_bound(uint64_t rss_before, uint64_t rss_after, uint32_t threads);
/* Reads /proc/PID/status once (for discovering new processes): parent and name; false
 * when gone or when pid is a thread's ID rather than a process's. */
bool lp_procfs_peek(int pid, int *ppid, char comm[32]);
/* The command line, arguments joined by spaces (empty when unreadable). */
void lp_procfs_cmdline(int pid, char *out, size_t size);

void lp_procfs_sys_open(lp_sysfds *fds);
void lp_procfs_sys_close(lp_sysfds *fds);
void lp_procfs_sys_read(const lp_sysfds *fds, lp_sys_reading *out);

/* Appends pid's mappings from /proc/PID/smaps to *maps (files merged per path), with
 * kinds and heuristics. A process gone meanwhile adds nothing and is not an error. */
lp_status lp_procfs_smaps(int pid, const char *comm, lp_mem *mem, lp_prof_mapping **maps,
                          size_t *count, size_t *cap, lp_error *err);

#endif
