/*
 * leanpix/batch.h - re-encoding many images under one memory budget (src/batch/).
 *
 * The pieces `leanpix batch` is made of, usable on their own:
 *   - an input list: files and directories (recursed), or a list file, each input paired
 *     with the relative path its output keeps under the output directory, sorted so that
 *     every machine sees the same order, and cut into deterministic shards (--shard I/N);
 *   - planning: every job planned from its header by the one planner (lp_plan_job, the
 *     one convert uses), with its predicted peak and its leanest mode;
 *   - a scheduler: worker threads (never processes) that admit a job only while the
 *     predicted peaks of the running jobs plus the new one fit the budget; a job too big
 *     for the budget on its own runs alone, after the others;
 *   - resume support: is an existing output complete and not older than its input, and
 *     removal of the stale hidden temp files (".NAME.lp-XXXXXX") a killed run leaves;
 *   - the JSON report: one record per image and a summary;
 *   - allocator hygiene for long-running batch processes (see docs/memory.md).
 *
 * Memory: the list holds two short strings per input; everything else is per job and
 * belongs to the job function the caller gives the scheduler.
 */
#ifndef LEANPIX_BATCH_H
#define LEANPIX_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "leanpix/export.h"
#include "leanpix/convert.h"
#include "leanpix/image.h"
#include "leanpix/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- input list ---- */

typedef struct lp_batch_item {
    char *path;  /* the input as it is opened */
    char *rel;   /* the relative path its output keeps under the output directory */
    bool named;  /* given by name (an argument, a list line), not found in a directory */
} lp_batch_item;

typedef struct lp_batch_list {
    lp_batch_item *items;
    size_t count;
    size_t capacity;
} lp_batch_list;

LP_API void lp_batch_list_init(lp_batch_list *list);
LP_API void lp_batch_list_free(lp_batch_list *list);
/* A file: kept under its path when that is relative and has no "..", else its base name.
 * A directory: recursed; the files of formats leanpix reads (by extension) kept under their path relative
 * to the directory. Symbolic links to directories are not followed. */
LP_API lp_status lp_batch_list_add_path(lp_batch_list *list, const char *path, lp_error *err);
/* One input path a line ("-" reads stdin); empty lines and lines starting with '#' skipped. */
LP_API lp_status lp_batch_list_add_from_file(lp_batch_list *list, const char *list_path,
                                             lp_error *err);
/* Sorts by relative path (byte order) and refuses two inputs with the same relative path
 * (their outputs would overwrite each other): LP_ERR_INVALID_ARG naming both. */
LP_API lp_status lp_batch_list_sort(lp_batch_list *list, lp_error *err);
/* Keeps the items whose position in the sorted list is index modulo count (0 <= index <
 * count). Every shard given the same inputs gets a disjoint share; together they cover all. */
LP_API lp_status lp_batch_list_shard(lp_batch_list *list, unsigned index, unsigned count,
                                     lp_error *err);
/* Parses "I/N" (0 <= I < N). */
LP_API lp_status lp_batch_parse_shard(const char *text, unsigned *index, unsigned *count,
                                      lp_error *err);

/* outdir/rel with the extension replaced by the format's (lp_file_format_extension).
 * Returns a malloc'd string (NULL on allocation failure). */
LP_API char *lp_batch_output_path(const char *outdir, const char *rel, lp_file_format format);
/* mkdir -p of the directory part of path (the file itself is not created). */
LP_API lp_status lp_batch_make_parent_dirs(const char *path, lp_error *err);

/* ---- planning ----
 * Each job is planned by lp_plan_job (leanpix/convert.h, the planner convert uses too)
 * from lp_probe_file's header facts (leanpix/plan.h), with the batch's budget and jobs. */

/* ---- scheduler ---- */

/* Runs job `index` on a worker thread; returns its status (err filled on failure).
 * lender lends the CPUs of idle workers while the job runs: pass it to the encoder
 * (lp_encode_options.lender) so that it encodes more at once with them. */
typedef lp_status (*lp_batch_job_fn)(void *user, size_t index, const lp_cpu_lender *lender,
                                     lp_error *err);
/* Called after each job, never concurrently with itself (progress, reports). */
typedef void (*lp_batch_done_fn)(void *user, size_t index, lp_status status,
                                 const lp_error *err);

typedef struct lp_batch_config {
    unsigned jobs;             /* worker threads; 0 = 1 */
    uint64_t budget;           /* bytes the predicted peaks of running jobs must fit; 0 = none */
    uint64_t trim_threshold;   /* after a job predicted at least this, give freed memory
                                  back to the kernel (lp_batch_release_memory); 0 = never */
    bool (*stop)(void *user);  /* optional: polled before each admission (with the run's
                                  user pointer); true = start no new job */
    /* optional: plans job `index` again for `share` bytes (0: its share as first planned,
     * budget / jobs) and returns its predicted peak, at most max(share, its lean). Called
     * with the scheduler's lock held, just before the job starts; with it, jobs take
     * their preferred plan or the room left (lp_batch_run). */
    uint64_t (*replan)(void *user, size_t index, uint64_t share);
} lp_batch_config;

typedef struct lp_batch_job_spec {
    uint64_t predicted;  /* predicted peak bytes, planned for budget / jobs */
    bool alone;          /* must run with no other job */
    double work;         /* expected CPU work (e.g. output megapixels); 0 = unknown */
    uint64_t lean;       /* predicted peak of its leanest plan (0: none leaner) */
    uint64_t preferred;  /* predicted peak of its preferred plan, when that is above its
                            share or is its plan (0: none; AVIF: libaom's 4K class) */
} lp_batch_job_spec;

typedef struct lp_batch_sched_stats {
    uint64_t max_running_predicted;  /* highest sum of running predictions seen */
    unsigned max_running;            /* most jobs running at once */
    size_t started, succeeded, failed;
    size_t ran_alone;
    size_t retried_alone;            /* failed with LP_ERR_NOMEM beside others, run again alone */
    size_t backfilled;               /* started ahead of a head that waited for room */
    size_t took_preferred;           /* started with their preferred plan (lanes) */
    size_t took_room;                /* started with the room the other lanes left */
    size_t cpus_lent;                /* idle workers' CPUs lent to running jobs (sum of lends) */
} lp_batch_sched_stats;

/* Runs count jobs on cfg->jobs threads. The queue holds the long jobs first (work at
 * least 4 times the median job's), longest first, so that none starts last and leaves the
 * other workers idle; then the other jobs in the given order; then the jobs that must
 * run alone (so the workers drain once). A job starts when a worker is free and, for a normal job, the
 * running predictions plus its own fit the budget: the head of the queue, else one of the
 * next 64 jobs that fits (the head is passed over at most 4 times per worker, then waits
 * for its room). With cfg->replan, when most jobs have a preferred plan (above their share,
 * or as their plan) and the budget holds k < jobs of the median one beside half a share
 * (budget / jobs) for each other worker, k workers run preferred plans and the others'
 * jobs are planned for the room left, up to half the median preferred plan (within their
 * lean plans), as they start. A job marked alone (or predicted
 * over the budget) starts only when nothing runs, and nothing starts beside it. Workers
 * with nothing to start lend their CPUs to the running jobs (lp_cpu_lender, within the
 * budget). A job that fails with LP_ERR_NOMEM while others ran is queued again, once, to
 * run alone (done is called only for its last run). Returns LP_OK when all jobs ran
 * (whatever their own status), an error when threads could not be created. */
LP_API lp_status lp_batch_run(const lp_batch_job_spec *specs, size_t count,
                              const lp_batch_config *cfg,
                              lp_batch_job_fn run, lp_batch_done_fn done, void *user,
                              lp_batch_sched_stats *stats, lp_error *err);

/* ---- resume ---- */

/* True when path exists and holds a complete file of the expected format: its magic bytes,
 * then its descriptor's check of the structure (JPEG SOI..EOI, PNG ending in IEND, RIFF
 * size of WebP, ISO-BMFF boxes of AVIF covering the file...). LP_FILE_UNKNOWN accepts any
 * format that has such a check. */
LP_API bool lp_batch_output_complete(const char *path, lp_file_format expected);
/* What --resume skips: output is complete (lp_batch_output_complete) and its modification
 * time is not before input's (give or take the 2 s of a FAT file system's times), so an
 * input edited since its output was written is made again. False when either cannot be
 * read. */
LP_API bool lp_batch_output_up_to_date(const char *output, const char *input,
                                       lp_file_format expected);
/* Called after output was written from input: when input's modification time is later
 * than output's (a clock running ahead of ours, a file dated in the future), output takes
 * input's time, or every later --resume would find it older and make it again. */
LP_API void lp_batch_date_output(const char *output, const char *input);
/* Is name (a base name) a leanpix temp file ".NAME.lp-XXXXXX"? If so, *final_len is the
 * length of NAME and it starts at name + 1. */
LP_API bool lp_batch_is_temp_name(const char *name, size_t *final_len);
/* Walks dir recursively and removes the temp files of outputs for which mine(user, path
 * of the final output) returns true (NULL mine: all). *removed counts them. Shards that
 * share an output directory each remove only their own outputs' temps. */
LP_API lp_status lp_batch_remove_stale_temps(const char *dir,
                                             bool (*mine)(void *user, const char *final_path),
                                             void *user, unsigned *removed, lp_error *err);

/* Claims dir for one batch, or for shard index of count (count 0: the whole batch), so that
 * a second batch started on the same outputs (a nightly run while last night's still
 * works) is refused instead of taking a second memory budget and removing the first's
 * temp files. The claim is a lock on dir/.leanpix-batch.lock (a byte per shard; the
 * whole batch's covers them all) that the kernel drops when the process ends, however
 * it ends; *claim is its descriptor, which the caller keeps open while the batch runs.
 * Shards of one count run side by side; a shard is refused beside the same shard, the
 * whole batch or a shard of another count (round-robin shares of different counts share
 * inputs). LP_ERR_IO when refused (the message says by what; *holder: the other
 * process's pid, -1 when unknown) or the file cannot be made (*holder 0); where the file
 * system has no locks, LP_OK with *claim = -1. */
LP_API lp_status lp_batch_claim_dir(const char *dir, unsigned index, unsigned count, int *claim,
                                    long *holder, lp_error *err);

/* ---- JSON report ---- */

typedef struct lp_batch_record {
    const char *input, *output;
    lp_file_format in_format, out_format;
    uint32_t in_width, in_height, out_width, out_height;
    uint64_t bytes_in, bytes_out;
    double seconds;
    double finished_at;        /* seconds since the batch started, when this image ended */
    uint64_t predicted_peak;   /* model */
    uint64_t counted_peak;     /* lp_mem peak of the job */
    uint64_t process_rss;      /* process RSS when the job ended */
    uint64_t running_counted;  /* counted bytes of the jobs still running then */
    uint64_t heap_in_use;      /* lp_batch_heap_in_use() then: process_rss less it is what
                                  the process keeps whatever its jobs hold (RSS drift) */
    uint32_t cell_width, cell_height;  /* AVIF grid cells (0: one frame, or not AVIF) */
    unsigned threads;          /* encoder threads planned (CPUs lent come on top) */
    unsigned cpus_lent;        /* most CPUs idle workers lent the job at once */
    uint64_t lent_bytes;       /* their encoders' bytes (counted by the batch, not in
                                  counted_peak, which is the job's own plan) */
    bool lean, alone, skipped;
    const char *status;        /* "ok", "skipped", "failed", "excluded" (inside the output dir) */
    const char *error;         /* NULL when none */
    const char *warning;       /* what a written image left out (metadata) and why, or NULL */
} lp_batch_record;

typedef struct lp_batch_summary {
    size_t total, succeeded, skipped, failed;
    uint64_t budget;
    unsigned jobs;
    double seconds;
    double megapixels;
    uint64_t bytes_in, bytes_out;
    uint64_t max_running_predicted;
    uint64_t process_peak_rss;
    size_t ran_alone;
    size_t backfilled;         /* jobs started ahead of a longer one that waited for room */
    size_t cpus_lent;          /* idle workers' CPUs lent to running jobs (sum of lends) */
    size_t took_preferred;     /* jobs that started with their preferred plan */
    size_t took_room;          /* jobs planned for the room another's preferred plan left */
    uint64_t idle_process;     /* the process's RSS when the jobs were planned */
    uint64_t job_budget;       /* the budget less that (as the caller counted it): what the
                                  jobs' predictions share */
    const char *shard;         /* "I/N" or NULL */
    const char *budget_source; /* why the budget is what it is, or NULL */
} lp_batch_summary;

/* The report is {"images": [record, ...], "summary": {...}}: open, records, close. */
LP_API void lp_batch_json_open(FILE *f);
LP_API void lp_batch_json_record(FILE *f, const lp_batch_record *record, bool first);
LP_API void lp_batch_json_close(FILE *f, const lp_batch_summary *summary);

/* ---- allocator hygiene (glibc) ---- */

/* For processes that run batches: fixes glibc's mmap threshold (so big blocks are always
 * mmapped and unmapped at free, instead of the threshold drifting up after the first big
 * free) and caps the arenas at 2 per process. No-op on other C libraries. Process-wide:
 * call once at start (the CLI does; a library user decides). */
LP_API void lp_batch_tune_allocator(void);
/* Hands freed heap memory back to the kernel (glibc malloc_trim). */
LP_API void lp_batch_release_memory(void);
/* The bytes the process's live heap blocks take (glibc mallinfo2: in use in the arenas plus
 * mmapped blocks), whoever allocated them (libaom too); 0 on other C libraries. The
 * process RSS less this is its code, stacks and the freed memory the allocator keeps: the
 * part that drifts when memory is retained, whatever the running jobs hold. */
LP_API uint64_t lp_batch_heap_in_use(void);

#ifdef __cplusplus
}
#endif
#endif
