/*
 * leanpix/machine.h - the machine's limits (memory and CPUs this process may really use)
 * and the default budgets derived from them (src/core/machine.c).
 *
 * Inside a container the host's totals are a lie: a process in a 128 MiB memory cgroup on
 * a 24 GiB host is killed at 128 MiB, and one limited to 1.5 CPUs gets throttled beyond
 * that. lp_machine_read() finds this process's cgroups (v1 and v2) from
 * /proc/self/cgroup and /proc/self/mountinfo, walks from its group up to the root of the
 * mounted hierarchy taking the lowest limit on the way (a parent's limit binds its
 * children), and combines it with physical RAM and the CPU affinity mask.
 *
 * The default budgets of the CLI's commands are computed here, once, from those figures
 * and the constants below; the CLI's --help and the docs quote the same constants.
 * An explicit budget (the CLI's --max-mem) always wins; the CLI says so.
 */
#ifndef LEANPIX_MACHINE_H
#define LEANPIX_MACHINE_H

#include <stddef.h>
#include <stdint.h>
#include "leanpix/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the defaults (one place: code, --help and docs read these) ---- */

/* Share of a cgroup memory limit that the defaults take, in percent. The rest is for what
 * the limit also charges and our budgets do not see: page cache of the files we read and
 * write, kernel memory, allocator slack beyond the baseline (measured in docs/batch.md). */
#define LP_DEFAULT_CGROUP_SHARE 75
/* Share of physical RAM when no cgroup limit is lower: RAM is shared with the rest of the
 * machine. */
#define LP_DEFAULT_RAM_SHARE 50
/* What a leanpix process holds that no budget counts: binary, libraries, stacks, stdio,
 * allocator arenas. Measured: `convert` of a 64x64 PNG peaks at 16 MiB RSS. */
#define LP_DEFAULT_BASELINE_MIB 16

#define LP_STR_(x) #x
#define LP_STR(x) LP_STR_(x)
/* How the available memory is found, for help texts. */
#define LP_DEFAULT_AVAILABLE_TEXT                                                          \
    LP_STR(LP_DEFAULT_CGROUP_SHARE) "% of the cgroup memory limit (" LP_STR(              \
        LP_DEFAULT_RAM_SHARE) "% of RAM without one)"

/* ---- the machine ---- */

#define LP_MACHINE_PATH_MAX 512

typedef struct lp_machine {
    uint64_t ram;              /* physical RAM (MemTotal) in bytes, 0 if unknown */
    uint64_t cgroup_mem;       /* lowest cgroup memory limit found, 0 if none */
    int cgroup_mem_version;    /* 1 or 2 (0: none) */
    char cgroup_mem_file[LP_MACHINE_PATH_MAX + 32]; /* the file it came from ("memory.stat" for
                                                  v1's hierarchical_memory_limit) */
    uint64_t mem;              /* what the process may use: min(ram, cgroup_mem) of the known */

    unsigned affinity_cpus;    /* CPUs in the affinity mask, 0 if unknown */
    double cgroup_cpus;        /* lowest CPU quota found, in CPUs (quota/period), 0 if none */
    int cgroup_cpu_version;    /* 1 or 2 (0: none) */
    char cgroup_cpu_file[LP_MACHINE_PATH_MAX + 32];
    unsigned cpus;             /* effective CPUs: min(affinity, quota rounded up), >= 1 */

    /* our own group's directory in the hierarchy with the memory controller (v1 "memory",
     * else v2 when it offers "memory"), "" if none: where tools create child groups */
    char memory_group[LP_MACHINE_PATH_MAX];
    int memory_group_version;  /* 1 or 2 (0: none) */
} lp_machine;

/* Reads the limits of the calling process. Never fails: a file that is missing or holds
 * garbage gives no limit from it (the other figures still apply). */
LP_API void lp_machine_read(lp_machine *m);

/* The same reading, with every /proc and /sys path prefixed by root ("" or NULL = the real
 * ones) and, when affinity_cpus is not 0, that CPU count instead of sched_getaffinity's
 * (tests build a fake tree). */
LP_API void lp_machine_read_at(lp_machine *m, const char *root, unsigned affinity_cpus);

/* One line saying where m->mem comes from, e.g. "cgroup v1 memory.limit_in_bytes 128 MiB
 * at /sys/fs/cgroup/memory/x" or "RAM 23.5 GiB (no cgroup memory limit)". */
LP_API void lp_machine_describe_mem(const lp_machine *m, char *buf, size_t size);

/* ---- default budgets ---- */

typedef enum lp_budget_kind {
    /* counted memory of one conversion: available - baseline */
    LP_BUDGET_CONVERT,
    /* a whole batch process (the batch subtracts what the idle process holds): available */
    LP_BUDGET_BATCH,
    /* the server's counted memory: the fixed default `cap`, lowered to available -
     * baseline when that is less */
    LP_BUDGET_SERVE,
} lp_budget_kind;

#define LP_BUDGET_WHY_MAX 768

typedef struct lp_budget {
    uint64_t bytes;                /* 0 = no limit (nothing known about the machine) */
    char why[LP_BUDGET_WHY_MAX];   /* e.g. "96 MiB: cgroup v1 memory.limit_in_bytes 128 MiB
                                      at /sys/...; 75% minus 16 MiB baseline" */
} lp_budget;

/* The default budget of kind on machine m. cap: LP_BUDGET_SERVE's fixed default (0 = no
 * cap). "available" is LP_DEFAULT_CGROUP_SHARE % of a cgroup limit when one is below RAM,
 * else LP_DEFAULT_RAM_SHARE % of RAM. Never below 8 MiB. */
LP_API void lp_budget_default(const lp_machine *m, lp_budget_kind kind, uint64_t cap,
                              lp_budget *out);

/* Default worker/thread count: `wanted` (0 = one per CPU) capped by the effective CPUs. */
LP_API unsigned lp_default_workers(const lp_machine *m, unsigned wanted);

#ifdef __cplusplus
}
#endif
#endif
