/*
 * profile/profile.h - record where a process tree's memory goes, over time.
 *
 * A recorder follows one process and all its descendants (children started later
 * included, exited ones kept in the record). Each sample reads, per live process,
 * /proc/PID/smaps_rollup (RSS, PSS and its anonymous / file / shmem parts, swap),
 * /proc/PID/status (RssAnon/RssFile/RssShmem, VmHWM) and /proc/PID/stat (faults, threads,
 * CPU time), plus system-wide /proc/vmstat and /proc/pressure/memory. The files stay open
 * and are re-read with pread from offset 0, so a sample costs a few system calls per
 * process whatever the number of mappings. smaps_rollup is the exception: the kernel
 * walks the page tables to compute PSS (1.3 ms for 400 MB resident, idle VM), so it is read
 * only when the process faulted or its RSS changed (or once a second), within a CPU
 * budget (0.5% of a core by default), stalest process first; in between, PSS is carried
 * forward and adjusted by the exact RSS changes from status. At each new peak of the tree's PSS (rate
 * limited) it reads the full /proc/PID/smaps of the processes that hold most, so that the
 * peak can be attributed to mappings (files by path, [heap], stacks, anonymous regions),
 * with named heuristics (glibc arenas, large single allocations, copy-on-write sharing).
 *
 * The result is an lp_prof_run: plain arrays that grow by doubling (208 bytes per sample
 * plus 136 bytes per process per sample), allocated through the run's
 * lp_mem. It is written as JSON (versioned schema, docs/profile-schema.md), a CSV
 * timeline or a self-contained HTML report, and JSON can be read back for re-rendering
 * and comparison. All sizes are bytes, all times seconds. The library never prints.
 */
#ifndef LP_PROFILE_PROFILE_H
#define LP_PROFILE_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "leanpix/mem.h"
#include "leanpix/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LP_PROF_SCHEMA_NAME "leanpix-profile"
#define LP_PROF_SCHEMA_VERSION 1

/* Memory of one process (or summed over the tree) at one instant. */
typedef struct lp_prof_mem {
    uint64_t rss, rss_anon, rss_file, rss_shmem;  /* resident set (status: RssAnon...) */
    uint64_t pss, pss_anon, pss_file, pss_shmem;  /* proportional set (smaps_rollup) */
    uint64_t anonymous;                           /* smaps_rollup "Anonymous" */
    uint64_t swap, swap_pss;                      /* swapped out, and its proportional share */
} lp_prof_mem;

/* One process in one sample. */
typedef struct lp_prof_proc_sample {
    uint32_t proc;             /* index into lp_prof_run.procs */
    lp_prof_mem mem;
    uint64_t hwm;              /* VmHWM: the kernel's peak RSS of this process */
    uint64_t minflt, majflt;   /* cumulative since the process started */
    uint32_t threads;
    double cpu_s;              /* user + system time, cumulative */
} lp_prof_proc_sample;

/* One sample of the whole tree. */
typedef struct lp_prof_sample {
    double t;                          /* seconds since the recording started */
    lp_prof_mem tree;                  /* summed over the live processes */
    uint64_t minflt, majflt;           /* cumulative over the tree, exited processes included */
    double minflt_rate, majflt_rate;   /* per second since the previous sample */
    uint32_t procs, threads;           /* live processes, their threads */
    uint32_t pss_estimated;            /* processes whose PSS was estimated, not read */
    double cpu_s;                      /* cumulative CPU time of the tree */
    uint64_t sys_majflt, sys_pswpin, sys_pswpout; /* system-wide, since the recording started */
    double psi_some_avg10, psi_full_avg10;        /* /proc/pressure/memory, -1 when absent */
    size_t first, count;               /* this sample's rows in lp_prof_run.proc_samples */
} lp_prof_sample;

typedef struct lp_prof_process {
    int pid, ppid;
    char comm[32];
    char cmdline[256];         /* arguments joined by spaces, truncated */
    double first_t, last_t;    /* first and last sample that saw it alive */
    bool exited;               /* gone before the recording ended */
    uint64_t peak_rss, peak_pss, hwm;
    uint64_t minflt, majflt;   /* last values read */
    double cpu_s;
} lp_prof_process;

typedef enum lp_prof_kind {
    LP_PROF_KIND_FILE,   /* a file mapping (libraries, mmap'ed inputs) */
    LP_PROF_KIND_HEAP,   /* [heap]: the brk heap */
    LP_PROF_KIND_STACK,  /* [stack] or a thread stack */
    LP_PROF_KIND_ANON,   /* an anonymous region (malloc's mmaps, arenas, explicit mmap) */
    LP_PROF_KIND_SHMEM,  /* shared memory: /dev/shm, memfd, SysV */
    LP_PROF_KIND_OTHER,  /* [vdso], [vvar], ... */
    LP_PROF_KIND_COUNT
} lp_prof_kind;

/* Heuristics (bit flags) that name what a mapping probably is. */
enum {
    LP_PROF_H_GLIBC_ARENA = 1u << 0,  /* anonymous, 64 MB aligned, 64 MB reservation */
    LP_PROF_H_LARGE_ALLOC = 1u << 1,  /* one large anonymous mapping: one big allocation */
    LP_PROF_H_COW_SHARED = 1u << 2,   /* anonymous pages shared after fork: RSS well above PSS */
    LP_PROF_H_THREAD_STACK = 1u << 3, /* anonymous region right after a guard page */
    LP_PROF_H_COUNT = 4
};

/* A mapping (or, for files, all segments of one file in one process) at the peak. */
typedef struct lp_prof_mapping {
    int pid;
    char comm[32];
    char name[200];            /* file path, [heap], [stack], [anon], ... */
    lp_prof_kind kind;
    uint32_t heuristics;       /* LP_PROF_H_* */
    uint32_t regions;          /* VMAs merged into this entry */
    uint64_t start;            /* lowest address */
    uint64_t size, rss, pss, anon, swap, private_bytes, shared_bytes;
} lp_prof_mapping;

/* The smaps snapshot taken at the highest tree peak. */
typedef struct lp_prof_snapshot {
    double t;                  /* -1 when no snapshot was taken */
    lp_prof_mem tree;          /* the tree's memory in the sample that triggered it */
    uint32_t taken;            /* snapshots taken in the whole run (each replaces the last) */
    lp_prof_mapping *maps;     /* sorted by PSS, largest first */
    size_t count;
} lp_prof_snapshot;

typedef struct lp_prof_run {
    int schema_version;
    char command[1024];
    char started[32];          /* UTC, ISO 8601 */
    char host[64], kernel[64];
    int root_pid;
    bool attached;             /* --pid: attached to a running tree */
    int exit_status;           /* CMD's status as the shell reports it, -1 when unknown */
    double interval_s, wall_s;
    double profiler_cpu_s;     /* CPU time the recorder itself used */
    double snapshot_cpu_s;     /* the part of it spent reading smaps at peaks */
    uint64_t pss_walks_redone; /* smaps_rollup reads that counted pages twice, read again */
    lp_prof_sample *samples;
    size_t nsamples;
    lp_prof_proc_sample *proc_samples;
    size_t nproc_samples;
    lp_prof_process *procs;
    size_t nprocs;
    lp_prof_snapshot peak;
    size_t peak_sample;        /* index of the sample with the highest tree PSS */
    size_t peak_rss_sample;    /* index of the sample with the highest tree RSS */
    lp_mem *mem;               /* what the arrays are charged to (may be NULL) */
} lp_prof_run;

typedef struct lp_prof_options {
    double interval_s;          /* sampling interval (default 0.02) */
    uint32_t snapshot_procs;    /* processes whose smaps are read at a peak (default 3) */
    double snapshot_min_gap_s;  /* rate limit of snapshots (default max(0.25, 10 intervals)) */
    double snapshot_growth;     /* a new peak must exceed the last snapshot by this ratio (1.02) */
    double pss_budget;          /* share of a core the smaps_rollup/smaps reads may use
                                   (0.005); >= 1 reads PSS at every sample */
    lp_mem *mem;                /* may be NULL */
} lp_prof_options;

typedef struct lp_prof_recorder lp_prof_recorder;

void lp_prof_options_default(lp_prof_options *opt);

/* Starts following root_pid and its descendants. command describes it for the report. */
lp_status lp_prof_recorder_new(const lp_prof_options *opt, int root_pid, const char *command,
                               bool attached, lp_prof_recorder **out, lp_error *err);
/* Takes one sample now. */
lp_status lp_prof_recorder_sample(lp_prof_recorder *rec, lp_error *err);
/* Processes of the tree alive at the last sample (0: the tree is gone). */
size_t lp_prof_recorder_live(const lp_prof_recorder *rec);
/* The run so far (owned by the recorder until finish). */
const lp_prof_run *lp_prof_recorder_run(const lp_prof_recorder *rec);
/* Ends the recording: hands over the run and frees the recorder (also on error). */
lp_status lp_prof_recorder_finish(lp_prof_recorder *rec, int exit_status, lp_prof_run **out,
                                  lp_error *err);
void lp_prof_recorder_free(lp_prof_recorder *rec);

void lp_prof_run_free(lp_prof_run *run);

/* Whole-run totals for summaries: faults of the tree (exited processes included), the
 * largest VmHWM of any one process, the most swap the tree held, system-wide deltas. */
typedef struct lp_prof_totals {
    uint64_t minflt, majflt, max_hwm, swap_max, sys_majflt, sys_pswpin, sys_pswpout;
} lp_prof_totals;
void lp_prof_run_totals(const lp_prof_run *run, lp_prof_totals *t);

/* Names used in JSON and reports. */
const char *lp_prof_kind_name(lp_prof_kind kind);
const char *lp_prof_heuristic_name(uint32_t single_flag);
/* One-line explanation of a heuristic, for reports. */
const char *lp_prof_heuristic_text(uint32_t single_flag);

/* Writers. */
lp_status lp_prof_write_json(const lp_prof_run *run, FILE *f, lp_error *err);
lp_status lp_prof_write_csv(const lp_prof_run *run, FILE *f, lp_error *err);
/* One run: the report; two runs: a comparison ("before", "after") on one time axis. */
lp_status lp_prof_write_html(const lp_prof_run *const *runs, size_t nruns, FILE *f, lp_error *err);

typedef enum lp_prof_format { LP_PROF_JSON, LP_PROF_CSV, LP_PROF_HTML } lp_prof_format;
/* Writes to path atomically (temp file, fsync, rename). */
lp_status lp_prof_save(const lp_prof_run *const *runs, size_t nruns, lp_prof_format format,
                       const char *path, lp_error *err);

/* Reads a JSON file written by lp_prof_write_json (schema version 1). */
lp_status lp_prof_read_json(const char *path, lp_mem *mem, lp_prof_run **out, lp_error *err);

#ifdef __cplusplus
}
#endif
#endif
