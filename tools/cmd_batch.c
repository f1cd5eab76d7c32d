/*
 * cmd_batch.c - `leanpix batch -o OUTDIR [options] INPUTS... | --from-list FILE`: re-encode
 * many images on threads under one memory budget.
 *
 * Flow: collect the inputs (directories recursed), sort them, keep this shard's share,
 * check OUTDIR is writable (before any work: a wrong path fails in a second, not after an
 * hour), on --resume skip the outputs that are complete and not older than their input
 * and remove this shard's stale temp files, read every header and plan each job
 * (predicted peak, leanest mode, alone), then let the library's scheduler run them. Each
 * job converts through lp_convert_file, whose counted memory is a child of one batch-wide
 * tracker limited to the budget, so the budget is enforced on what is counted as well as
 * planned from predictions.
 *
 * A bad image is reported ("leanpix: FILE: reason") and the batch goes on; running out of
 * space stops it (every later job would fail too) with the advice to --resume. Inputs
 * inside OUTDIR are skipped (earlier outputs): quietly when found in a directory, with a
 * line and a --json record when named. Exit codes: 0 all done, 3 some images failed or a
 * named input was skipped, 1 the batch could not run (OUTDIR, space, list, nothing left
 * to do), 2 usage. Progress is one updating line on a terminal and nothing otherwise;
 * --json FILE writes a record per image and a summary as the batch goes.
 *
 * Memory: per input, two paths, a plan and a result (~200 bytes); jobs hold the rest.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "budget.h"
#include "cli.h"
#include "convert_options.h"
#include "dav1d_messages.h"
#include "stdio_files.h"

/* Set by SIGINT/SIGTERM (a Kubernetes pod being stopped, Ctrl-C) to the signal number and
 * by running out of space to -1: no new job starts and running ones are cancelled at their
 * next strip, which removes their temp files. A signal handler can only reach a global;
 * a lock-free atomic is both async-signal-safe and visible to the worker threads. */
static _Atomic int stop_flag;
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "the stop flag is written by a signal handler");

static void on_stop_signal(int sig)
{
    atomic_store(&stop_flag, sig);
    signal(sig, SIG_DFL);  /* a second signal ends the process at once */
}

static bool should_stop(void *user)
{
    (void)user;
    return atomic_load(&stop_flag) != 0;
}

typedef struct job_result {
    lp_probe probe;
    lp_plan plan;
    lp_convert_options opts;   /* the options the job runs with (maybe its leanest mode) */
    lp_convert_stats stats;
    char *output;
    bool skipped;              /* --resume: the output is already complete and current */
    bool probe_failed;
    lp_error error;
    double seconds;
    double work;               /* the scheduler's measure of it (plan_jobs); 0 if unplanned */
    unsigned cpus_lent_most;   /* most CPUs idle workers lent it at once */
    uint64_t lent_bytes_most;  /* and the encoder reservations that came with them */
} job_result;

/* The batch's lender seen through one job: passes borrow/give_back on and notes the most
 * the job held, so that its report can tell its own peak from what lent CPUs added. Only
 * the job's own thread borrows (its encoder does, between cell-rows). */
typedef struct job_lender {
    lp_cpu_lender self;
    const lp_cpu_lender *batch;
    lp_mem *batch_mem;         /* where the lent encoders' bytes are counted */
    job_result *result;
    unsigned now;
    uint64_t bytes_now;
} job_lender;

static unsigned job_borrow(void *ctx, unsigned want, uint64_t bytes_each)
{
    job_lender *l = ctx;
    unsigned n = l->batch->borrow(l->batch->ctx, want, bytes_each);
    /* counted in the batch's tracker, so that the budget is enforced on them too */
    while (n && lp_mem_reserve(l->batch_mem, n * bytes_each, "libaom encoders (lent CPUs)",
                               NULL) != LP_OK) {
        l->batch->give_back(l->batch->ctx, 1, bytes_each);
        n--;
    }
    l->now += n;
    l->bytes_now += n * bytes_each;
    if (l->now > l->result->cpus_lent_most)
        l->result->cpus_lent_most = l->now;
    if (l->bytes_now > l->result->lent_bytes_most)
        l->result->lent_bytes_most = l->bytes_now;
    return n;
}

static void job_give_back(void *ctx, unsigned count, uint64_t bytes_each)
{
    job_lender *l = ctx;
    l->now -= count;
    l->bytes_now -= count * bytes_each;
    lp_mem_unreserve(l->batch_mem, count * bytes_each);
    l->batch->give_back(l->batch->ctx, count, bytes_each);
}

typedef struct batch {
    lp_batch_list list;
    job_result *results;
    lp_batch_job_spec *specs;  /* one per job that runs */
    size_t *spec_item;         /* spec index -> list index */
    size_t nspecs;

    const char *outdir;
    lp_convert_options opts;
    uint64_t budget;           /* --max-mem: the whole process */
    lp_budget budget_why;      /* the budget and where it came from */
    uint64_t idle;             /* the process's RSS when the jobs were planned */
    uint64_t job_budget;       /* what jobs may predict together: budget - the idle process */
    unsigned jobs;
    lp_mem *batch_mem;         /* parent of every job's tracker, limited to the budget */
    const char *shard_text;
    int claim;                 /* lp_batch_claim_dir's lock on OUTDIR, or -1 */

    FILE *json;
    bool json_first;

    bool progress;
    pthread_mutex_t progress_lock;
    double start, last_progress;
    size_t total, done, failed, skipped;
    size_t lean, alone;        /* succeeded in their leanest mode / alone */
    double megapixels_done;
    double work_total, work_settled, work_converted;  /* of the planned jobs (for the ETA) */
    size_t interrupted;        /* jobs cancelled by SIGINT/SIGTERM */
    size_t excluded;           /* named inputs skipped: inside OUTDIR */
    bool out_of_space;
    lp_batch_sched_stats sched;
} batch;

static void usage(FILE *f)
{
    char in[128];
    lp_file_format_list(in, sizeof in, false, NULL);
    fprintf(f,
            "usage: leanpix batch -o OUTDIR [options] INPUTS...\n"
            "       leanpix batch -o OUTDIR [options] --from-list FILE\n\n"
            "Re-encodes many images (directories are recursed for the extensions below).\n"
            "Each output keeps its input's relative path under OUTDIR with the format's\n"
            "extension. Jobs run on threads, each admitted only while the predicted peaks of\n"
            "the running jobs fit --max-mem; a job too big for the budget on its own runs\n"
            "alone in its leanest mode (AVIF grid of small cells). Outputs appear only when\n"
            "complete (temp file, fsync, rename). While a batch runs, another on the same\n"
            "OUTDIR (or on the same --shard of it, or a shard of another count, which shares\n"
            "inputs with it) is refused: a lock on OUTDIR/.leanpix-batch.lock.\n\n"
            "Reads %s.\n\n"
            "batch options:\n", in);
    cli_help_option(f, 22, "-o, --output-dir DIR", "where outputs go (created if missing)");
    cli_help_option(f, 22, "-j, --jobs N", "images converted at once (default: the effective "
                                           "CPUs: affinity and cgroup quota; not avifenc's -j, "
                                           "which is --threads)");
    cli_help_option(f, 22, "--max-mem SIZE",
                    "memory budget of the whole batch, e.g. 256M (default, also for 0: "
                    LP_DEFAULT_AVAILABLE_TEXT ")");
    cli_help_option(f, 22, "--lanes V", "auto|off: when most jobs' better plan (AVIF: the "
                                        "leanest cells of libaom's 4K class) is over their share, "
                                        "or is just their plan, some workers run jobs with it and "
                                        "the others plan theirs for what is left, up to half of "
                                        "it (auto, the default); off: equal shares, so that a "
                                        "file's plan and bytes depend only on it and the budget");
    cli_help_option(f, 22, "--stats", "print the summary, the budget used (and why) and the share "
                                      "it leaves each job to stderr");
    cli_help_option(f, 22, "--from-list FILE", "read input paths from FILE, one a line (- = "
                                               "stdin)");
    cli_help_option(f, 22, "--resume", "skip outputs that exist, are complete and are not older "
                                       "than their input; remove stale temp files");
    cli_help_option(f, 22, "--json FILE", "write a JSON record per image and a summary to FILE (- "
                                          "= stdout)");
    cli_help_option(f, 22, "--shard I/N", "take share I of N of the sorted inputs (0 <= I < N)");
    cli_help_option(f, 22, "--no-progress", "no progress line (shown on a terminal by default)");
    cli_help_option(f, 22, "-h, --help", "this text");
    cli_help_option(f, 22, "-f, --format V", "avif|jpeg|webp|png: the output format of the whole "
                                             "batch (default avif)");
    fprintf(f, "\nconvert options (as `leanpix convert`):\n");
    static const char *const own[] = {"--format", "--max-mem", NULL};
    convert_options_help(f, own);
    fprintf(f, "\nexit status: 0 every image done (or already done with --resume), 3 some images\n"
               "failed or a named input was inside OUTDIR (each is reported; the others were\n"
               "done), 1 the batch could not run (OUTDIR not writable or another batch writing\n"
               "it, out of space, unreadable list, every input inside OUTDIR: nothing to do),\n"
               "2 bad command line\n");
}

/* ---- progress ---- */

static void format_eta(char *buf, size_t size, double seconds)
{
    if (seconds < 0 || seconds > 360000) {
        snprintf(buf, size, "--:--");
        return;
    }
    unsigned s = (unsigned)(seconds + 0.5);
    if (s >= 3600)
        snprintf(buf, size, "%u:%02u:%02u", s / 3600, s / 60 % 60, s % 60);
    else
        snprintf(buf, size, "%u:%02u", s / 60, s % 60);
}

/* Called with progress_lock held. */
static void print_progress(batch *b, bool force)
{
    if (!b->progress)
        return;
    double now = lp_monotonic_seconds();
    if (!force && now - b->last_progress < 0.25)
        return;
    b->last_progress = now;
    /* Counted as the final summary counts: converted, skipped and failed apart; rates
     * from converted images only (a failure that ends at once is not throughput). */
    double elapsed = now - b->start;
    size_t converted = b->done - b->skipped - b->failed;
    double ips = elapsed > 0 ? converted / elapsed : 0;
    double mps = elapsed > 0 ? b->megapixels_done / elapsed : 0;
    /* The ETA goes by work (megapixels), not images: long jobs run first, and a rate of
     * images taken from them would predict hours for the folder of photos that follows. */
    double work_rate = elapsed > 0 ? b->work_converted / elapsed : 0;
    char eta[32];
    format_eta(eta, sizeof eta, work_rate > 0 ? (b->work_total - b->work_settled) / work_rate : -1);
    fprintf(stderr, "\r\033[Kleanpix: batch: %zu/%zu: %zu converted", b->done, b->total, converted);
    if (b->skipped)
        fprintf(stderr, ", %zu skipped", b->skipped);
    if (b->failed)
        fprintf(stderr, ", %zu failed", b->failed);
    fprintf(stderr, "; %.2f img/s, %.1f MP/s, ETA %s, RSS %.0f/%.0f MiB", ips, mps, eta,
            cli_mib(lp_process_current_rss()), cli_mib(b->budget));
}

static void clear_progress(batch *b)
{
    if (b->progress)
        fputs("\r\033[K", stderr);
}

static bool job_progress(void *user, uint32_t done, uint32_t total)
{
    batch *b = user;
    (void)done, (void)total;
    if (b->progress && pthread_mutex_trylock(&b->progress_lock) == 0) {
        print_progress(b, false);
        pthread_mutex_unlock(&b->progress_lock);
    }
    return !atomic_load(&stop_flag);
}

/* ---- reporting ---- */

static void write_record(batch *b, size_t item)
{
    if (!b->json)
        return;
    const job_result *r = &b->results[item];
    const lp_convert_stats *s = &r->stats;
    bool ok = r->error.status == LP_OK;
    lp_batch_record rec = {
        .input = b->list.items[item].path,
        .output = r->output,
        .in_format = s->in_format ? s->in_format : r->probe.format,
        .out_format = r->plan.out_format,
        .in_width = s->in_width ? s->in_width : r->probe.width,
        .in_height = s->in_height ? s->in_height : r->probe.height,
        .out_width = ok && !r->skipped ? s->out_width : r->plan.out_width,
        .out_height = ok && !r->skipped ? s->out_height : r->plan.out_height,
        .bytes_in = r->probe.file_bytes,
        .bytes_out = s->bytes_out,
        .seconds = r->seconds,
        .finished_at = lp_monotonic_seconds() - b->start,
        .predicted_peak = r->plan.predicted_peak,
        .counted_peak = s->mem_peak,
        .process_rss = lp_process_current_rss(),
        .running_counted = lp_mem_current(b->batch_mem),
        .heap_in_use = lp_batch_heap_in_use(),
        .cell_width = r->plan.cell_width,
        .cell_height = r->plan.cell_height,
        .threads = r->plan.threads,
        .cpus_lent = r->cpus_lent_most,
        .lent_bytes = r->lent_bytes_most,
        .lean = r->plan.lean,
        .alone = r->plan.alone,
        .skipped = r->skipped,
        .status = r->skipped ? "skipped" : ok ? "ok" : "failed",
        .error = ok ? NULL : lp_error_message(&r->error),
        .warning = ok && s->warning[0] ? s->warning : NULL,
    };
    if (r->skipped) {
        struct stat sb;
        if (stat(r->output, &sb) == 0)
            rec.bytes_out = (uint64_t)sb.st_size;
    }
    lp_batch_json_record(b->json, &rec, b->json_first);
    b->json_first = false;
}

static bool is_out_of_space(const lp_error *err)
{
    return err->status == LP_ERR_IO &&
           (strstr(err->message, strerror(ENOSPC)) || strstr(err->message, strerror(EDQUOT)));
}

/* Called with progress_lock held. */
static void report_failure(batch *b, size_t item)
{
    job_result *r = &b->results[item];
    clear_progress(b);
    const char *subject = r->stats.output_failed ? r->output : b->list.items[item].path;
    cli_lp_error(subject, &r->error);
    if (is_out_of_space(&r->error) && !b->out_of_space) {
        b->out_of_space = true;
        atomic_store(&stop_flag, -1);
        cli_error(b->outdir, "no space left on the device: stopping; free some space and "
                             "run the same command with --resume");
    }
}

static void finish_item(batch *b, size_t item)
{
    job_result *r = &b->results[item];
    b->done++;
    if (r->skipped)
        b->skipped++;
    else if (r->error.status == LP_ERR_CANCELLED && atomic_load(&stop_flag)) {
        b->interrupted++;  /* not the image's fault: it is redone by --resume */
        b->done--;
        return;
    } else if (r->error.status != LP_OK) {
        b->failed++;
        b->work_settled += r->work;
        report_failure(b, item);
    } else {
        b->megapixels_done += (double)r->stats.in_width * r->stats.in_height / 1e6;
        b->work_settled += r->work;
        b->work_converted += r->work;
        b->lean += r->plan.lean;
        b->alone += r->plan.alone;
        if (r->stats.warning[0]) {
            clear_progress(b);
            cli_error(b->list.items[item].path, "warning: %s", r->stats.warning);
        }
        if (r->plan.alone && b->progress) {
            clear_progress(b);
            fprintf(stderr, "leanpix: %s: over the budget for a shared run: ran alone%s\n",
                    b->list.items[item].path, r->plan.lean ? " in its leanest mode (AVIF grid)" : "");
        }
    }
    write_record(b, item);
    print_progress(b, true);
}

/* ---- jobs ---- */

static lp_status run_job(void *user, size_t spec, const lp_cpu_lender *lender, lp_error *err)
{
    batch *b = user;
    size_t item = b->spec_item[spec];
    job_result *r = &b->results[item];
    double t0 = lp_monotonic_seconds();
    lp_status st = lp_batch_make_parent_dirs(r->output, err);
    if (st != LP_OK) {
        r->stats.output_failed = true;
    } else {
        lp_convert_options o = r->opts;
        o.parent_mem = b->batch_mem;
        o.max_mem = b->job_budget;
        o.progress = job_progress;
        o.progress_user = b;
        job_lender lent = {
            .self = {.borrow = job_borrow, .give_back = job_give_back, .ctx = &lent},
            .batch = lender,
            .batch_mem = b->batch_mem,
            .result = r,
        };
        o.encode.lender = lender ? &lent.self : NULL;
        st = cli_convert_file(b->list.items[item].path, r->output, &o, &r->stats, err);
        if (st == LP_OK)
            lp_batch_date_output(r->output, b->list.items[item].path);
    }
    r->seconds = lp_monotonic_seconds() - t0;
    return st;
}

static void job_done(void *user, size_t spec, lp_status status, const lp_error *err)
{
    batch *b = user;
    size_t item = b->spec_item[spec];
    job_result *r = &b->results[item];
    if (status != LP_OK)
        r->error = *err;
    pthread_mutex_lock(&b->progress_lock);
    finish_item(b, item);
    pthread_mutex_unlock(&b->progress_lock);
}

/* ---- set-up ---- */

/* The idle process's RSS is counted in whole steps, rounded down. Measured to the page, it
 * moves by a fraction of a MiB from run to run (and with the list's length), and a job
 * planned within that of its share would get other cells, other bytes, in the next run of
 * the same batch: in the reference batch the 6720x3760 photos' 2240 px cells predict
 * 121.02 MiB against a share of 121.0-121.7 (docs/batch.md). Rounding down leaves at most
 * one step of the process's own pages out of the count; the jobs' predictions run 7-12%
 * above their counted peaks, several steps for two jobs. */
#define LP_BATCH_IDLE_STEP (4u << 20)

static uint64_t counted_idle(uint64_t idle)
{
    return idle / LP_BATCH_IDLE_STEP * LP_BATCH_IDLE_STEP;
}

static char *strip_trailing_slashes(const char *dir)
{
    char *s = strdup(dir);
    if (!s)
        return NULL;
    size_t n = strlen(s);
    while (n > 1 && s[n - 1] == '/')
        s[--n] = '\0';
    return s;
}

/* Creates OUTDIR and proves a file can be created in it, before any work is done. */
static bool check_outdir(const char *outdir)
{
    lp_error err = {0};
    size_t n = strlen(outdir);
    char *probe_path = malloc(n + 32);
    if (!probe_path) {
        cli_error(outdir, "out of memory");
        return false;
    }
    snprintf(probe_path, n + 32, "%s/x", outdir);
    if (lp_batch_make_parent_dirs(probe_path, &err) != LP_OK) {
        cli_error(outdir, "cannot create the output directory: %s", lp_error_message(&err));
        free(probe_path);
        return false;
    }
    snprintf(probe_path, n + 32, "%s/.leanpix-write-test-XXXXXX", outdir);
    int fd = mkstemp(probe_path);
    if (fd < 0) {
        cli_error(outdir, "cannot write in the output directory: %s", strerror(errno));
        free(probe_path);
        return false;
    }
    close(fd);
    unlink(probe_path);
    free(probe_path);
    return true;
}

static int by_string(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

typedef struct output_set {
    char **sorted;
    size_t count;
} output_set;

static bool is_my_output(void *user, const char *final_path)
{
    output_set *set = user;
    return bsearch(&final_path, set->sorted, set->count, sizeof *set->sorted, by_string) != NULL;
}

/* --resume: removes the temp files of this shard's outputs (not other shards'). */
static bool remove_stale_temps(batch *b)
{
    output_set set = {malloc(b->list.count * sizeof(char *) + 1), b->list.count};
    if (!set.sorted) {
        cli_error(b->outdir, "out of memory");
        return false;
    }
    for (size_t i = 0; i < b->list.count; i++)
        set.sorted[i] = b->results[i].output;
    qsort(set.sorted, set.count, sizeof *set.sorted, by_string);
    unsigned removed = 0;
    lp_error err = {0};
    lp_status st = lp_batch_remove_stale_temps(b->outdir, is_my_output, &set, &removed, &err);
    free(set.sorted);
    if (st != LP_OK) {
        cli_lp_error(b->outdir, &err);
        return false;
    }
    if (removed && b->progress)
        fprintf(stderr, "leanpix: batch: removed %u stale temp file%s\n", removed,
                removed == 1 ? "" : "s");
    return true;
}

/* The scheduler's replan (lp_batch_config): job `spec` planned again for `share` bytes (0:
 * budget / jobs) as it starts. Arithmetic only, under the scheduler's lock; the job's own
 * worker then runs it, and its record reports the plan that ran. */
static uint64_t replan_job(void *user, size_t spec, uint64_t share)
{
    batch *b = user;
    job_result *r = &b->results[b->spec_item[spec]];
    lp_plan plan;
    lp_convert_options opts;
    lp_status st = share ? lp_plan_job_for(&r->probe, &b->opts, b->job_budget, b->jobs, share,
                                           &plan, &opts, NULL)
                         : lp_plan_job(&r->probe, &b->opts, b->job_budget, b->jobs, &plan, &opts,
                                       NULL);
    if (st == LP_OK) {
        r->plan = plan;
        r->opts = opts;
    }
    return r->plan.predicted_peak;
}

/* Probes and plans every input; items that are done (resume) or unreadable are finished
 * here, the rest become scheduler jobs. */
static bool plan_jobs(batch *b, bool resume)
{
    size_t n = b->list.count;
    b->specs = calloc(n ? n : 1, sizeof *b->specs);
    b->spec_item = calloc(n ? n : 1, sizeof *b->spec_item);
    if (!b->specs || !b->spec_item) {
        cli_error(NULL, "out of memory planning %zu jobs", n);
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        job_result *r = &b->results[i];
        r->plan.out_format = b->opts.encode.format;
        if (resume && lp_batch_output_up_to_date(r->output, b->list.items[i].path,
                                                 b->opts.encode.format)) {
            r->skipped = true;
            lp_probe_file(b->list.items[i].path, &r->probe, NULL);
            finish_item(b, i);
            continue;
        }
        if (lp_probe_file(b->list.items[i].path, &r->probe, &r->error) != LP_OK ||
            lp_plan_job(&r->probe, &b->opts, b->job_budget, b->jobs, &r->plan, &r->opts,
                        &r->error) != LP_OK) {
            r->probe_failed = true;  /* or cannot be planned: reported like a failed job */
            finish_item(b, i);
            continue;
        }
        b->specs[b->nspecs].predicted = r->plan.predicted_peak;
        b->specs[b->nspecs].alone = r->plan.alone;
        b->specs[b->nspecs].lean = r->plan.lean_peak;
        b->specs[b->nspecs].preferred = r->plan.preferred_peak;
        r->work = (double)r->plan.out_width * r->plan.out_height / 1e6 +
                  (double)r->plan.decode_width * r->plan.decode_height / 4e6;
        b->specs[b->nspecs].work = r->work;
        b->work_total += r->work;
        b->spec_item[b->nspecs++] = i;
    }
    return true;
}

static void write_summary(batch *b)
{
    if (!b->json)
        return;
    uint64_t in = 0, out = 0;
    for (size_t i = 0; i < b->list.count; i++) {
        in += b->results[i].probe.file_bytes;
        out += b->results[i].stats.bytes_out;
    }
    lp_batch_summary s = {
        .total = b->total,
        .succeeded = b->done - b->failed - b->skipped,
        .skipped = b->skipped,
        .failed = b->failed,
        .budget = b->budget,
        .jobs = b->jobs,
        .seconds = lp_monotonic_seconds() - b->start,
        .megapixels = b->megapixels_done,
        .bytes_in = in,
        .bytes_out = out,
        .max_running_predicted = b->sched.max_running_predicted,
        .process_peak_rss = lp_process_peak_rss(),
        .ran_alone = b->sched.ran_alone,
        .backfilled = b->sched.backfilled,
        .cpus_lent = b->sched.cpus_lent,
        .took_preferred = b->sched.took_preferred,
        .took_room = b->sched.took_room,
        .idle_process = b->idle,
        .job_budget = b->job_budget,
        .shard = b->shard_text,
        .budget_source = b->budget_why.why,
    };
    lp_batch_json_close(b->json, &s);
}

/* ---- command line ---- */

typedef struct batch_args {
    const char *outdir, *list_file, *json_path, *shard;
    unsigned shard_index, shard_count;  /* parsed from shard */
    bool resume, progress, stats, no_lanes;
    unsigned jobs;
    const char **inputs;
    int ninputs;
} batch_args;

static int parse_args(int argc, char **argv, batch_args *a, lp_convert_options *opts)
{
    a->progress = isatty(2);
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
            usage(stdout);
            return -2;
        } else if (!strcmp(s, "-o") || !strcmp(s, "--output-dir")) {
            if (!v)
                goto missing;
            a->outdir = v, i++;
        } else if (!strcmp(s, "-j") || !strcmp(s, "--jobs")) {
            if (!cli_parse_uint(s, v, 1, 1024, &a->jobs))
                return -1;
            i++;
        } else if (!strcmp(s, "--from-list")) {
            if (!v)
                goto missing;
            a->list_file = v, i++;
        } else if (!strcmp(s, "--json")) {
            if (!v)
                goto missing;
            a->json_path = v, i++;
        } else if (!strcmp(s, "--shard")) {
            lp_error err = {0};
            if (!v)
                goto missing;
            if (lp_batch_parse_shard(v, &a->shard_index, &a->shard_count, &err) != LP_OK) {
                cli_lp_error("batch", &err);  /* a bad command line: exit status 2 */
                return -1;
            }
            a->shard = v, i++;
        } else if (!strcmp(s, "--resume")) {
            a->resume = true;
        } else if (!strcmp(s, "--no-progress")) {
            a->progress = false;
        } else if (!strcmp(s, "--stats")) {
            a->stats = true;
        } else if (!strcmp(s, "--lanes")) {
            if (!v)
                goto missing;
            if (strcmp(v, "auto") && strcmp(v, "off")) {
                cli_error("batch", "--lanes takes auto or off, not '%s'", v);
                return -1;
            }
            a->no_lanes = !strcmp(v, "off"), i++;
        } else if (s[0] == '-' && s[1]) {
            int r = convert_option_parse(opts, argc, argv, &i);
            if (r < 0)
                return -1;
            if (r == 0) {
                cli_error("batch", "unknown option '%s' (see leanpix batch --help)", s);
                return -1;
            }
        } else {
            a->inputs[a->ninputs++] = s;
        }
        continue;
    missing:
        cli_error("batch", "%s needs a value", s);
        return -1;
    }
    if (!a->outdir) {
        cli_error("batch", "needs -o OUTDIR (see leanpix batch --help)");
        return -1;
    }
    if (!a->ninputs && !a->list_file) {
        cli_error("batch", "needs inputs or --from-list FILE (see leanpix batch --help)");
        return -1;
    }
    return 0;
}

static bool collect_inputs(batch *b, const batch_args *a)
{
    lp_error err = {0};
    for (int i = 0; i < a->ninputs; i++)
        if (lp_batch_list_add_path(&b->list, a->inputs[i], &err) != LP_OK) {
            cli_lp_error(a->inputs[i], &err);
            return false;
        }
    if (a->list_file && lp_batch_list_add_from_file(&b->list, a->list_file, &err) != LP_OK) {
        cli_lp_error(a->list_file, &err);
        return false;
    }
    if (lp_batch_list_sort(&b->list, &err) != LP_OK) {
        cli_lp_error(NULL, &err);
        return false;
    }
    if (a->shard) {
        if (lp_batch_list_shard(&b->list, a->shard_index, a->shard_count, &err) != LP_OK) {
            cli_lp_error(NULL, &err);
            return false;
        }
    }
    return true;
}

/* A named input (an argument or a list line) skipped for being inside OUTDIR: said on
 * stderr and in --json, and it makes the exit status 3 as a failed image does. */
static void report_excluded(batch *b, const char *path)
{
    cli_error(path, "skipped: it is inside the output directory %s (inputs there are taken "
                    "for outputs of an earlier run)", b->outdir);
    b->excluded++;
    if (!b->json)
        return;
    lp_batch_record rec = {
        .input = path,
        .in_format = lp_file_format_from_path(path),
        .out_format = b->opts.encode.format,
        .finished_at = lp_monotonic_seconds() - b->start,
        .status = "excluded",
        .error = "inside the output directory",
    };
    lp_batch_json_record(b->json, &rec, b->json_first);
    b->json_first = false;
}

/* Inputs inside OUTDIR are earlier outputs (`-o photos/out photos` run twice, or with
 * --format jpeg): converting them again would nest outputs without end. Those found in a
 * directory are dropped quietly (a note on a terminal); named ones are reported. Returns
 * how many were dropped. */
static size_t drop_inputs_under_outdir(batch *b)
{
    char *root = realpath(b->outdir, NULL);
    if (!root)
        return 0;
    size_t len = strlen(root), kept = 0, dropped = 0, found = 0;
    for (size_t i = 0; i < b->list.count; i++) {
        char *real = realpath(b->list.items[i].path, NULL);
        bool inside = real && !strncmp(real, root, len) && (real[len] == '/' || len == 1);
        free(real);
        if (inside) {
            if (b->list.items[i].named)
                report_excluded(b, b->list.items[i].path);
            else
                found++;
            free(b->list.items[i].path);
            free(b->list.items[i].rel);
            dropped++;
        } else {
            b->list.items[kept++] = b->list.items[i];
        }
    }
    b->list.count = kept;
    if (found && b->progress)
        fprintf(stderr, "leanpix: batch: %zu input%s under %s skipped (outputs of an earlier run)\n",
                found, found == 1 ? "" : "s", b->outdir);
    free(root);
    return dropped;
}

static bool prepare(batch *b)
{
    size_t n = b->list.count;
    b->results = calloc(n ? n : 1, sizeof *b->results);
    if (!b->results) {
        cli_error(NULL, "out of memory for %zu inputs", n);
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        b->results[i].output = lp_batch_output_path(b->outdir, b->list.items[i].rel,
                                                    b->opts.encode.format);
        if (!b->results[i].output) {
            cli_error(NULL, "out of memory for %zu inputs", n);
            return false;
        }
    }
    b->total = n;
    return true;
}

static void cleanup(batch *b)
{
    for (size_t i = 0; b->results && i < b->list.count; i++)
        free(b->results[i].output);
    free(b->results);
    free(b->specs);
    free(b->spec_item);
    lp_batch_list_free(&b->list);
    if (b->batch_mem)
        lp_mem_free_tracker(b->batch_mem);
    if (b->json)
        fclose(b->json);
    if (b->claim >= 0)
        close(b->claim);
    pthread_mutex_destroy(&b->progress_lock);
}

/* One batch at a time on OUTDIR (or on this shard of it): see lp_batch_claim_dir. */
static bool claim_outdir(batch *b, const batch_args *a)
{
    lp_error err = {0};
    long holder;
    if (lp_batch_claim_dir(b->outdir, a->shard_index, a->shard ? a->shard_count : 0, &b->claim,
                           &holder, &err) == LP_OK)
        return true;
    char pid[48] = "";
    if (holder > 0)
        snprintf(pid, sizeof pid, " (pid %ld)", holder);
    if (holder != 0)  /* the library's message says what the other batch writes */
        cli_error(b->outdir, "%s%s; this one stops, since two would each take the whole memory "
                  "budget: run it again when that one ends", lp_error_message(&err), pid);
    else
        cli_error(b->outdir, "%s", lp_error_message(&err));
    return false;
}

static int run_batch(batch *b, const batch_args *a, bool tune)
{
    if (!collect_inputs(b, a) || !check_outdir(b->outdir) || !claim_outdir(b, a))
        return LP_EXIT_FAILURE;
    if (a->json_path) {
        b->json = stdio_is_dash(a->json_path) ? fdopen(dup(STDOUT_FILENO), "w")
                                               : fopen(a->json_path, "w");
        if (!b->json) {
            cli_error(a->json_path, "cannot write the report: %s", strerror(errno));
            return LP_EXIT_FAILURE;
        }
        lp_batch_json_open(b->json);
    }
    if (drop_inputs_under_outdir(b) && b->list.count == 0) {
        cli_error("batch", "nothing to do: every input is inside the output directory %s",
                  b->outdir);
        write_summary(b);
        return LP_EXIT_FAILURE;
    }
    if (!prepare(b))
        return LP_EXIT_FAILURE;
    if (a->resume && !remove_stale_temps(b))
        return LP_EXIT_FAILURE;
    /* The budget is for the whole process: what the binary, its libraries and the input
     * list already hold is not available to jobs. */
    b->idle = lp_process_current_rss();
    uint64_t counted = counted_idle(b->idle);
    b->job_budget = counted < b->budget / 2 ? b->budget - counted : b->budget / 2;
    b->batch_mem = lp_mem_new(b->job_budget, NULL);
    if (!b->batch_mem || !plan_jobs(b, a->resume))
        return LP_EXIT_FAILURE;

    lp_batch_config cfg = {
        .jobs = b->jobs,
        .budget = b->job_budget,
        .trim_threshold = tune ? 64ull << 20 : 0,
        .stop = should_stop,
        .replan = a->no_lanes ? NULL : replan_job,
    };
    lp_error err = {0};
    if (lp_batch_run(b->specs, b->nspecs, &cfg, run_job, job_done, b, &b->sched, &err) != LP_OK) {
        clear_progress(b);
        cli_lp_error("batch", &err);
        return LP_EXIT_FAILURE;
    }
    clear_progress(b);
    write_summary(b);
    if (b->out_of_space)
        return LP_EXIT_FAILURE;
    int sig = atomic_load(&stop_flag);
    if (sig > 0) {
        cli_error("batch", "interrupted by signal %d: %zu of %zu images done; run the same "
                           "command with --resume to finish", sig, b->done, b->total);
        return LP_EXIT_FAILURE;
    }
    if (b->progress || b->failed || a->stats) {
        fprintf(stderr, "leanpix: batch: %zu done, %zu skipped, %zu failed in %.1f s, peak RSS %.0f MiB (budget %.0f MiB)",
                b->done - b->failed - b->skipped, b->skipped, b->failed, lp_monotonic_seconds() - b->start,
                cli_mib(lp_process_peak_rss()), cli_mib(b->budget));
        if (b->lean || b->alone)
            fprintf(stderr, "; %zu in leanest mode (AVIF grid), %zu alone (over the budget)",
                    b->lean, b->alone);
        fputc('\n', stderr);
    }
    if (a->stats)
        fprintf(stderr, "leanpix: batch: budget %s; %u jobs (%s); the idle process held %.1f MiB"
                        " (%.0f counted, in steps of %u), so the jobs shared %.1f MiB (%.1f MiB a"
                        " job)\n", b->budget_why.why, b->jobs,
                a->jobs ? "from -j" : "the effective CPUs", cli_mib(b->idle), cli_mib(counted_idle(b->idle)),
                LP_BATCH_IDLE_STEP >> 20, cli_mib(b->job_budget), cli_mib(b->job_budget) / b->jobs);
    if (a->stats && (b->sched.took_preferred || b->sched.took_room))
        fprintf(stderr, "leanpix: batch: in lanes: %zu jobs with their preferred plan (AVIF: "
                        "libaom's 4K class), %zu with the room the other lane left\n",
                b->sched.took_preferred, b->sched.took_room);
    return b->failed || b->excluded ? LP_EXIT_PARTIAL : LP_EXIT_OK;
}

int cmd_batch(int argc, char **argv)
{
    batch b;
    memset(&b, 0, sizeof b);
    b.claim = -1;
    convert_options_init(&b.opts);
    b.opts.encode.format = LP_FILE_AVIF;
    batch_args a;
    memset(&a, 0, sizeof a);
    a.inputs = calloc((size_t)argc, sizeof *a.inputs);
    if (!a.inputs)
        return LP_EXIT_FAILURE;
    int pr = parse_args(argc, argv, &a, &b.opts);
    if (pr != 0) {
        free(a.inputs);
        return pr == -2 ? LP_EXIT_OK : LP_EXIT_USAGE;
    }
    /* Allocator settings are process-wide: the CLI owns the process, so it sets them.
     * LEANPIX_ALLOCATOR=default leaves them alone (bench/batch-allocators.sh compares). */
    const char *alloc_mode = getenv("LEANPIX_ALLOCATOR");
    bool tune = !alloc_mode || strcmp(alloc_mode, "default");
    if (tune)
        lp_batch_tune_allocator();
    pthread_mutex_init(&b.progress_lock, NULL);
    atomic_store(&stop_flag, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    char *outdir = strip_trailing_slashes(a.outdir);
    b.outdir = outdir;
    /* defaults from what the container allows, not the host's totals (leanpix/machine.h) */
    b.jobs = a.jobs ? a.jobs : lp_default_workers(cli_machine(), 0);
    /* each job plans for its share of the CPUs; idle workers lend theirs while it runs */
    unsigned cpus = lp_default_workers(cli_machine(), 0);
    b.opts.cpus = cpus > b.jobs ? cpus / b.jobs : 1;
    cli_budget(cli_machine(), LP_BUDGET_BATCH, b.opts.max_mem, 0, &b.budget_why);
    b.budget = b.budget_why.bytes;
    b.opts.max_mem = 0;
    b.shard_text = a.shard;
    b.progress = a.progress;
    b.json_first = true;
    b.start = lp_monotonic_seconds();
    int rc = outdir ? run_batch(&b, &a, tune) : LP_EXIT_FAILURE;
    cleanup(&b);
    free(outdir);
    free(a.inputs);
    return rc;
}
