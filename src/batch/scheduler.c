/*
 * scheduler.c - runs a batch's jobs on threads under a memory budget (see leanpix/batch.h).
 *
 * Threads, never processes: forked workers each carry a copy of the parent's heap that
 * copy-on-write turns into private pages, and their freed memory cannot be shared. Here
 * cfg->jobs worker threads take jobs from one queue under one mutex. A job is admitted
 * only when the sum of the predicted peaks of the running jobs plus its own fits the
 * budget. The queue holds the long jobs first, longest first (a job of at least
 * LONG_JOB_FACTOR times the median's work, started last, would leave the other workers
 * idle), then the others in the given order (outputs appear in the order of the list,
 * which an operator can follow, and a batch's first and last jobs are of the same mix of
 * inputs). When its head does not fit yet, the first job among the next
 * LOOKAHEAD that fits starts instead (small jobs fill the room beside big ones), but the
 * head is passed over at most BYPASS_LIMIT times a worker, then waits for its room: a big
 * job is never starved by a stream of small ones. Jobs marked `alone` (too big for the
 * budget on their own) are queued after all the others, so the workers drain once, and
 * each runs with nothing beside it.
 *
 * Lanes. Planned for the budget / jobs share, a job may get a worse plan than it could
 * have with more (AVIF: cells below libaom's 4K class, which at speed 9 need 5.6% more
 * bytes than one frame for the same PSNR where that class's need 2.0%: docs/benchmarks.md;
 * spec->preferred is the peak of the better plan), or just that plan (spec->preferred is
 * its own peak). When most jobs are in either case and the budget holds k (< workers)
 * preferred plans beside the other workers' half shares, the workers form lanes
 * (cfg->replan plans each job as it starts): k run preferred plans, the rest share what is
 * left (at least their lean plans), up to half the median preferred plan each. So a
 * budget between one and two 4K-class jobs runs one such job beside lean ones, where equal
 * shares would give every job cells below the class; and a budget that holds two runs
 * one beside lean ones too: below the class, cells larger than half a 4K-class plan's
 * room buy no bytes (1536 px cells: the bytes and PSNR of 1024 px ones, docs/avif-grid.md),
 * and a second 4K-class job saves about 4% of its bytes at equal quality (2% of the
 * batch's) for half again the batch's peak (docs/memory.md). k and the lanes' shares come
 * from the median preferred peak; a preferred plan larger than leaves the others half a
 * share of what the lanes use (an outlier's) is not taken. The budget is kept by
 * admission as always.
 *
 * Idle workers lend their CPUs: a running job may borrow (lp_cpu_lender) the CPUs of
 * workers that have nothing to start (the queue is empty, or its head waits for room,
 * or an alone job runs), each with the budget one more encoder needs, and an AVIF grid
 * job encodes that many more cells at once for one cell-row. While CPUs are lent, no job
 * starts on them and their bytes count as running: the budget and the CPU count hold.
 * With lanes, lent bytes stay within what the lanes use: a batch's last 4K-class job does
 * not take a second 4K-class encoder that no lane would have held.
 *
 * A job that fails for lack of memory (LP_ERR_NOMEM: the budget's counted memory was
 * exceeded because a prediction was short, or malloc failed) while others ran beside it
 * is queued again, once, to run alone: a misprediction costs time, not an image.
 *
 * After a job predicted above cfg->trim_threshold, freed memory is handed back to the
 * kernel (malloc_trim), so that an outlier does not leave its peak in the process's RSS.
 * The done callback runs under its own mutex: the caller's progress and report code
 * never runs concurrently. Memory: the queue (two size_t, two uint64_t and a bool a job).
 */
#include "leanpix/batch.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct scheduler {
    const lp_batch_job_spec *specs;
    size_t count;
    size_t *order;            /* queue: indices into specs (room for one retry each) */
    size_t queued;            /* entries in order */
    size_t next;              /* position in order of the next job to admit */
    bool *retried;            /* queued again to run alone after LP_ERR_NOMEM */
    uint64_t *predicted;      /* each job's predicted peak as now planned */
    uint64_t *share;          /* and the share it was planned for (0: budget / jobs) */
    unsigned preferred_lanes; /* k workers run preferred plans (0: no lanes) */
    uint64_t preferred_lane;  /* the largest preferred plan a lane takes */
    uint64_t other_lane;      /* the share each other worker's job is planned for */
    uint64_t lanes_bytes;     /* what the lanes use at most, lent CPUs' bytes included */
    unsigned preferred_running;
    const lp_batch_config *cfg;
    lp_batch_job_fn run;
    lp_batch_done_fn done;
    void *user;

    pthread_mutex_t lock;
    pthread_cond_t changed;
    unsigned workers;
    unsigned running;
    uint64_t running_predicted;
    bool alone_running;
    unsigned lent;            /* idle workers' CPUs lent to running jobs */
    uint64_t lent_bytes;      /* and the budget that goes with them */
    size_t head_bypassed;     /* jobs started ahead of the current head */
    lp_cpu_lender lender;
    lp_batch_sched_stats stats;

    pthread_mutex_t done_lock;
} scheduler;

static bool stop_requested(const scheduler *s)
{
    return s->cfg->stop && s->cfg->stop(s->user);
}

static bool must_run_alone(const scheduler *s, size_t index)
{
    const lp_batch_job_spec *job = &s->specs[index];
    return job->alone || (s->cfg->budget && job->predicted > s->cfg->budget) ||
           (s->retried && s->retried[index]);
}

/* Jobs after the head that may start in its place, and how often it may be passed over
 * (times the workers). */
#define LOOKAHEAD 64u
#define BYPASS_LIMIT 4u

#define NO_START UINT64_MAX

/* Called with the lock held: the share the job `index` would start with now (0: budget /
 * jobs, as first planned), or NO_START. */
static uint64_t start_share(const scheduler *s, size_t index)
{
    if (s->alone_running || s->running + s->lent >= s->workers)
        return NO_START;
    if (must_run_alone(s, index))
        return s->running == 0 && s->lent == 0 ? s->share[index] : NO_START;
    uint64_t budget = s->cfg->budget, used = s->running_predicted + s->lent_bytes;
    if (!budget)
        return s->share[index];
    uint64_t room = used < budget ? budget - used : 0;
    const lp_batch_job_spec *job = &s->specs[index];
    if (!s->preferred_lanes)
        return job->predicted <= room ? 0 : NO_START;
    if (job->preferred && s->preferred_running < s->preferred_lanes &&
        job->preferred <= s->preferred_lane && job->preferred <= room)
        return job->preferred;
    uint64_t lane = room < s->other_lane ? room : s->other_lane;
    if (job->predicted <= lane)
        return 0;  /* its own share's plan fits the lane */
    if (job->lean && job->lean <= lane)
        return lane;
    return job->predicted <= room ? 0 : NO_START;
}

/* Called with the lock held: may the job at position `at` of the queue start now? */
static bool admissible_at(const scheduler *s, size_t at)
{
    return start_share(s, s->order[at]) != NO_START;
}

/* Called with the lock held: the queue position of a job that may start now, or
 * SIZE_MAX. The head, else (within the bypass limit) the first of the next LOOKAHEAD
 * jobs that fits; alone jobs are never started out of order. */
static size_t startable(const scheduler *s)
{
    if (s->next >= s->queued)
        return SIZE_MAX;
    if (admissible_at(s, s->next))
        return s->next;
    if (s->head_bypassed >= (size_t)BYPASS_LIMIT * s->workers ||
        must_run_alone(s, s->order[s->next]))
        return SIZE_MAX;
    size_t end = s->queued - s->next > LOOKAHEAD ? s->next + LOOKAHEAD : s->queued;
    for (size_t at = s->next + 1; at < end; at++)
        if (!must_run_alone(s, s->order[at]) && admissible_at(s, at))
            return at;
    return SIZE_MAX;
}

/* Called with the lock held: takes the job at queue position `at` (the head stays the
 * head when another job is taken ahead of it). */
static size_t take(scheduler *s, size_t at)
{
    size_t index = s->order[at];
    if (at == s->next) {
        s->head_bypassed = 0;
    } else {
        memmove(&s->order[s->next + 1], &s->order[s->next], (at - s->next) * sizeof *s->order);
        s->head_bypassed++;
        s->stats.backfilled++;
    }
    s->next++;
    return index;
}

/* ---- lending idle workers' CPUs ---- */

static unsigned lend(void *ctx, unsigned want, uint64_t bytes_each)
{
    scheduler *s = ctx;
    pthread_mutex_lock(&s->lock);
    unsigned n = 0;
    /* only workers that have nothing to start: a startable job uses its worker itself */
    if (!stop_requested(s) && startable(s) == SIZE_MAX) {
        unsigned idle = s->workers - s->running - s->lent;
        n = want < idle ? want : idle;
        uint64_t budget = s->preferred_lanes ? s->lanes_bytes : s->cfg->budget;
        uint64_t used = s->running_predicted + s->lent_bytes;
        if (budget && bytes_each) {
            uint64_t room = used < budget ? (budget - used) / bytes_each : 0;
            if (n > room)
                n = (unsigned)room;
        }
        s->lent += n;
        s->lent_bytes += n * bytes_each;
        s->stats.cpus_lent += n;
    }
    pthread_mutex_unlock(&s->lock);
    return n;
}

static void give_back(void *ctx, unsigned count, uint64_t bytes_each)
{
    scheduler *s = ctx;
    pthread_mutex_lock(&s->lock);
    s->lent -= count;
    s->lent_bytes -= count * bytes_each;
    pthread_cond_broadcast(&s->changed);
    pthread_mutex_unlock(&s->lock);
}

static bool preferred_plan(const scheduler *s, size_t index)
{
    return s->share[index] && s->share[index] == s->specs[index].preferred;
}

/* Called with the lock held, for a job start_share admits: plans it for that share. */
static void plan_for_start(scheduler *s, size_t index)
{
    uint64_t share = start_share(s, index);
    if (share == s->share[index])
        return;
    s->predicted[index] = s->cfg->replan(s->user, index, share);
    s->share[index] = share;
    if (preferred_plan(s, index))
        s->stats.took_preferred++;
    else if (share)
        s->stats.took_room++;
}

static void admit(scheduler *s, size_t index, bool *alone)
{
    plan_for_start(s, index);
    *alone = must_run_alone(s, index);
    s->running++;
    s->running_predicted += s->predicted[index];
    s->preferred_running += preferred_plan(s, index);
    s->alone_running = *alone;
    s->stats.started++;
    if (*alone)
        s->stats.ran_alone++;
    if (s->running > s->stats.max_running)
        s->stats.max_running = s->running;
    if (s->running_predicted > s->stats.max_running_predicted)
        s->stats.max_running_predicted = s->running_predicted;
}

static void finish(scheduler *s, size_t index, bool alone, lp_status st, const lp_error *err)
{
    uint64_t predicted = s->predicted[index];  /* only this job's worker changes it */
    if (s->cfg->trim_threshold && predicted >= s->cfg->trim_threshold)
        lp_batch_release_memory();

    pthread_mutex_lock(&s->lock);
    s->running--;
    s->running_predicted -= predicted;
    s->preferred_running -= preferred_plan(s, index);
    if (alone)
        s->alone_running = false;
    bool retry = st == LP_ERR_NOMEM && !alone && !s->retried[index];
    if (retry) {
        s->retried[index] = true;
        s->order[s->queued++] = index;
        s->stats.retried_alone++;
        s->stats.started--;
        pthread_cond_broadcast(&s->changed);
        pthread_mutex_unlock(&s->lock);
        return;
    }
    if (st == LP_OK)
        s->stats.succeeded++;
    else
        s->stats.failed++;
    pthread_cond_broadcast(&s->changed);
    pthread_mutex_unlock(&s->lock);

    if (s->done) {
        pthread_mutex_lock(&s->done_lock);
        s->done(s->user, index, st, err);
        pthread_mutex_unlock(&s->done_lock);
    }
}

static void *worker(void *arg)
{
    scheduler *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->lock);
        /* Wait while the head cannot start, or while the queue is empty but a running
         * job might still be queued again. */
        size_t at = SIZE_MAX;
        while (!stop_requested(s) && (at = startable(s)) == SIZE_MAX &&
               (s->next < s->queued || s->running > 0))
            pthread_cond_wait(&s->changed, &s->lock);
        if (s->next >= s->queued || stop_requested(s)) {
            pthread_cond_broadcast(&s->changed);
            pthread_mutex_unlock(&s->lock);
            return NULL;
        }
        size_t index = take(s, at);
        bool alone;
        admit(s, index, &alone);
        pthread_mutex_unlock(&s->lock);

        lp_error err;
        lp_error_clear(&err);
        lp_status st = s->run(s->user, index, &s->lender, &err);
        if (st != LP_OK && err.status == LP_OK)
            lp_error_set(&err, st, "%s", lp_strerror(st));
        finish(s, index, alone, st, &err);
    }
}

/* A job is long when its work is at least this many times the median job's. */
#define LONG_JOB_FACTOR 4.0

typedef struct queued_job {
    double key;  /* the job's work if it is long, else 0 */
    size_t index;
} queued_job;

/* Decreasing key, then index (the given order). */
static int by_key(const void *a, const void *b)
{
    const queued_job *x = a, *y = b;
    if (x->key != y->key)
        return x->key > y->key ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* Sorts order[0..n): long jobs first, longest first, then the others in the given order,
 * through a temporary array (no global state for qsort's comparator). Only a long job
 * can leave the other workers idle by starting last; among the rest, the list's order is
 * as good for the tail (none is more than a few median jobs long) and better for the
 * operator. On allocation failure the given order is kept: still correct. */
static void sort_by_work(const scheduler *s, size_t *order, size_t n)
{
    queued_job *tmp = n > 1 ? malloc(n * sizeof *tmp) : NULL;
    if (!tmp)
        return;
    size_t known = 0;  /* jobs with work > 0 (0 = unknown) */
    for (size_t i = 0; i < n; i++) {
        double work = s->specs[order[i]].work;
        tmp[i] = (queued_job){work > 0 ? work : 0, order[i]};
        known += work > 0;
    }
    qsort(tmp, n, sizeof *tmp, by_key);
    double median = known ? tmp[known / 2].key : 0;
    for (size_t i = 0; i < n; i++)
        if (!(median > 0 && tmp[i].key >= LONG_JOB_FACTOR * median))
            tmp[i].key = 0;
    qsort(tmp, n, sizeof *tmp, by_key);
    for (size_t i = 0; i < n; i++)
        order[i] = tmp[i].index;
    free(tmp);
}

/* Normal jobs, long ones first; then the ones that must run alone, in the same order. */
static void build_order(scheduler *s)
{
    size_t n = 0, normal = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < s->count; i++)
            if (must_run_alone(s, i) == (pass == 1))
                s->order[n++] = i;
        if (pass == 0)
            normal = n;
    }
    sort_by_work(s, s->order, normal);
    sort_by_work(s, s->order + normal, n - normal);
    s->queued = n;
}

static int by_value(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Lanes (see the top of this file) when most normal jobs have a preferred plan and the
 * budget holds k of the median one, 0 < k < workers, beside half a share for each other
 * worker; the lanes use at most k median preferred plans and half of one for each other
 * worker. s->predicted serves as scratch: it is filled again by the caller. */
static void set_lanes(scheduler *s)
{
    uint64_t budget = s->cfg->budget, half = budget / s->workers / 2;
    size_t normal = 0, with = 0;
    for (size_t i = 0; i < s->count; i++) {
        if (must_run_alone(s, i))
            continue;
        normal++;
        if (s->specs[i].preferred)
            s->predicted[with++] = s->specs[i].preferred;
    }
    if (!budget || s->workers < 2 || with * 2 <= normal)
        return;
    qsort(s->predicted, with, sizeof *s->predicted, by_value);
    uint64_t median = s->predicted[with / 2];
    unsigned k = 0;
    while (k + 1 < s->workers && (k + 1) * median + (s->workers - k - 1) * half <= budget)
        k++;
    if (!k)
        return;
    unsigned others = s->workers - k;
    uint64_t wanted = k * median + others * (median / 2);
    uint64_t lanes = wanted < budget ? wanted : budget;
    s->preferred_lanes = k;
    s->lanes_bytes = lanes;
    s->preferred_lane = (lanes - others * (lanes / s->workers / 2)) / k;
    s->other_lane = (lanes - k * median) / others;
}

static void free_queue(scheduler *s)
{
    free(s->order);
    free(s->retried);
    free(s->predicted);
    free(s->share);
}

lp_status lp_batch_run(const lp_batch_job_spec *specs, size_t count, const lp_batch_config *cfg,
                       lp_batch_job_fn run, lp_batch_done_fn done, void *user,
                       lp_batch_sched_stats *stats, lp_error *err)
{
    if (stats)
        memset(stats, 0, sizeof *stats);
    if (!run || (count && !specs) || !cfg)
        return lp_error_set(err, LP_ERR_INVALID_ARG, "lp_batch_run: missing jobs or function");
    if (count == 0)
        return LP_OK;
    scheduler s;
    memset(&s, 0, sizeof s);
    s.specs = specs;
    s.count = count;
    s.cfg = cfg;
    s.run = run;
    s.done = done;
    s.user = user;
    s.order = malloc(2 * count * sizeof *s.order);
    s.retried = calloc(count, sizeof *s.retried);
    s.predicted = malloc(count * sizeof *s.predicted);
    s.share = calloc(count, sizeof *s.share);
    unsigned jobs = cfg->jobs ? cfg->jobs : 1;
    /* idle workers still lend their CPUs: as many workers as asked, not as jobs */
    s.workers = jobs;
    s.lender = (lp_cpu_lender){.borrow = lend, .give_back = give_back, .ctx = &s};
    pthread_t *threads = calloc(jobs, sizeof *threads);
    if (!s.order || !s.retried || !s.predicted || !s.share || !threads) {
        free_queue(&s);
        free(threads);
        return lp_error_set(err, LP_ERR_NOMEM, "cannot allocate the job queue");
    }
    build_order(&s);
    if (cfg->replan)
        set_lanes(&s);
    for (size_t i = 0; i < count; i++)
        s.predicted[i] = specs[i].predicted;
    pthread_mutex_init(&s.lock, NULL);
    pthread_cond_init(&s.changed, NULL);
    pthread_mutex_init(&s.done_lock, NULL);

    lp_status st = LP_OK;
    unsigned started = 0;
    for (; started < jobs; started++)
        if (pthread_create(&threads[started], NULL, worker, &s) != 0)
            break;
    if (started == 0)
        st = lp_error_set(err, LP_ERR_NOMEM, "cannot start a worker thread");
    for (unsigned i = 0; i < started; i++)
        pthread_join(threads[i], NULL);

    pthread_mutex_destroy(&s.done_lock);
    pthread_cond_destroy(&s.changed);
    pthread_mutex_destroy(&s.lock);
    if (stats)
        *stats = s.stats;
    free_queue(&s);
    free(threads);
    return st;
}
