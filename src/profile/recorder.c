/*
 * recorder.c - following a process tree and sampling it.
 *
 * Design: the recorder keeps one entry per process it has ever seen in the tree (open
 * /proc descriptors while it lives). Each sample first looks for new members: it lists
 * /proc, and only PIDs that were not in the previous listing have their stat read to
 * learn their parent; a new PID whose parent is a member becomes a member (repeated
 * until nothing changes, so a child and grandchild born in the same interval are both
 * found). Then every live member is read through its open descriptors (lp_procfs_read),
 * summed into the tree's figures and appended to the run's arrays. Exited members keep
 * their last counters, so the tree's fault totals never go backwards.
 *
 * At a new peak of the tree's PSS, if the last snapshot is older than the rate limit,
 * the full smaps of the processes holding most are read and replace the previous
 * snapshot; a peak reached inside the rate limit is taken at the first later sample that
 * is still within 3% of it.
 *
 * Memory: the run's arrays grow by doubling through lp_mem (about 200 bytes a sample and
 * 100 bytes a process-sample); the /proc listing is two int arrays reused every sample.
 * Limits: a process born and gone between two samples, or orphaned before it was seen,
 * is not recorded; the recording is about the tree, so it stops when the root is gone.
 */
#define _GNU_SOURCE
#include "leanpix/profile.h"
#include "profile/procfs.h"

#include <ctype.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

typedef struct member {
    int pid;
    uint32_t proc;    /* index in run->procs */
    bool live;
    lp_procfds fds;
    uint64_t last_pss;
} member;

struct lp_prof_recorder {
    lp_prof_options opt;
    lp_prof_run *run;
    member *members;
    size_t nmembers, cap_members;
    int *listing, *prev_listing;   /* sorted PIDs in /proc now and at the previous sample */
    size_t nlisting, nprev, cap_listing, cap_prev;
    size_t cap_samples, cap_proc_samples, cap_procs, cap_maps;
    lp_sysfds sys;
    lp_sys_reading sys0;
    double t0, cpu0;
    size_t live;
    double last_snapshot_t;
    uint64_t snapshot_pss;
    bool snapshot_pending;
};

static double now_clock(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void lp_prof_options_default(lp_prof_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->interval_s = 0.02;
    opt->snapshot_procs = 3;
    opt->snapshot_growth = 1.02;
}

/* Grows an array of elem-sized items to hold want items (doubling). */
static lp_status grow_array(lp_mem *mem, void **arr, size_t *cap, size_t want, size_t elem,
                            const char *what, lp_error *err)
{
    if (want <= *cap)
        return LP_OK;
    size_t ncap = *cap ? *cap : 16;
    while (ncap < want)
        ncap *= 2;
    void *p = lp_mem_realloc(mem, *arr, ncap * elem, what, err);
    if (!p)
        return LP_ERR_NOMEM;
    *arr = p;
    *cap = ncap;
    return LP_OK;
}
#define GROW(rec, field, capf, want, what, err) \
    grow_array((rec)->opt.mem, (void **)&(field), &(rec)->capf, (want), sizeof *(field), what, err)

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static member *find_member(lp_prof_recorder *rec, int pid)
{
    for (size_t i = 0; i < rec->nmembers; i++)
        if (rec->members[i].pid == pid && rec->members[i].live)
            return &rec->members[i];
    return NULL;
}

static lp_status add_member(lp_prof_recorder *rec, int pid, int ppid, const char *comm, double t,
                            lp_error *err)
{
    lp_procfds fds;
    if (!lp_procfs_open(pid, &fds))
        return LP_OK;  /* gone already */
    lp_prof_run *run = rec->run;
    if (GROW(rec, rec->members, cap_members, rec->nmembers + 1, "profile members", err) ||
        GROW(rec, run->procs, cap_procs, run->nprocs + 1, "profile processes", err)) {
        lp_procfs_close(&fds);
        return LP_ERR_NOMEM;
    }
    lp_prof_process *p = &run->procs[run->nprocs];
    memset(p, 0, sizeof *p);
    p->pid = pid;
    p->ppid = ppid;
    snprintf(p->comm, sizeof p->comm, "%s", comm);
    lp_procfs_cmdline(pid, p->cmdline, sizeof p->cmdline);
    p->first_t = p->last_t = t;
    rec->members[rec->nmembers++] = (member){.pid = pid, .proc = (uint32_t)run->nprocs,
                                             .live = true, .fds = fds};
    run->nprocs++;
    return LP_OK;
}

/* Lists the numeric entries of /proc into rec->listing (sorted). */
static lp_status list_proc(lp_prof_recorder *rec, lp_error *err)
{
    DIR *d = opendir("/proc");
    if (!d)
        return lp_error_set(err, LP_ERR_IO, "cannot list /proc");
    rec->nlisting = 0;
    lp_status st = LP_OK;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        if ((st = GROW(rec, rec->listing, cap_listing, rec->nlisting + 1, "process listing", err)))
            break;
        rec->listing[rec->nlisting++] = atoi(e->d_name);
    }
    closedir(d);
    qsort(rec->listing, rec->nlisting, sizeof *rec->listing, cmp_int);
    return st;
}

/* Finds members among the PIDs that appeared since the previous listing. */
static lp_status discover(lp_prof_recorder *rec, double t, lp_error *err)
{
    lp_status st = list_proc(rec, err);
    if (st)
        return st;
    /* new PIDs with their parents, kept in the tail of prev_listing's spare space would be
     * clever; a small local array on the heap is clearer */
    typedef struct cand { int pid, ppid; char comm[32]; bool taken; } cand;
    cand *c = NULL;
    size_t nc = 0, capc = 0;
    for (size_t i = 0; i < rec->nlisting; i++) {
        int pid = rec->listing[i];
        if (bsearch(&pid, rec->prev_listing, rec->nprev, sizeof(int), cmp_int))
            continue;
        int ppid;
        char comm[32];
        if (!lp_procfs_peek(pid, &ppid, comm))
            continue;
        if (nc == capc) {
            size_t ncap = capc ? capc * 2 : 32;
            cand *p = lp_mem_realloc(rec->opt.mem, c, ncap * sizeof *c, "process listing", err);
            if (!p) {
                lp_mem_release(rec->opt.mem, c);
                return LP_ERR_NOMEM;
            }
            c = p;
            capc = ncap;
        }
        c[nc++] = (cand){.pid = pid, .ppid = ppid};
        memcpy(c[nc - 1].comm, comm, sizeof comm);
    }
    for (bool changed = true; changed && st == LP_OK;) {
        changed = false;
        for (size_t i = 0; i < nc && st == LP_OK; i++) {
            if (c[i].taken || !find_member(rec, c[i].ppid) || find_member(rec, c[i].pid))
                continue;
            c[i].taken = changed = true;
            st = add_member(rec, c[i].pid, c[i].ppid, c[i].comm, t, err);
        }
    }
    lp_mem_release(rec->opt.mem, c);
    /* swap listings: this one is the previous one next time */
    int *tmp = rec->prev_listing;
    size_t tcap = rec->cap_prev;
    rec->prev_listing = rec->listing;
    rec->cap_prev = rec->cap_listing;
    rec->nprev = rec->nlisting;
    rec->listing = tmp;
    rec->cap_listing = tcap;
    return st;
}

static void copy_text(char *dst, size_t size, const char *src)
{
    size_t len = strnlen(src, size - 1);
    memcpy(dst, src, len);
    dst[len] = '\0';
}

lp_status lp_prof_recorder_new(const lp_prof_options *opt, int root_pid, const char *command,
                               bool attached, lp_prof_recorder **out, lp_error *err)
{
    *out = NULL;
    lp_prof_options o;
    if (opt)
        o = *opt;
    else
        lp_prof_options_default(&o);
    if (!(o.interval_s >= 0.001 && o.interval_s <= 3600))
        return lp_error_set(err, LP_ERR_INVALID_ARG, "interval must be from 1 ms to 1 hour");
    if (o.snapshot_min_gap_s <= 0)
        o.snapshot_min_gap_s = o.interval_s * 10 > 0.25 ? o.interval_s * 10 : 0.25;
    if (o.snapshot_growth < 1)
        o.snapshot_growth = 1.02;
    if (!o.snapshot_procs)
        o.snapshot_procs = 3;
    lp_prof_recorder *rec = lp_mem_calloc(o.mem, sizeof *rec, "profile recorder", err);
    if (!rec)
        return LP_ERR_NOMEM;
    rec->opt = o;
    rec->sys.vmstat_fd = rec->sys.psi_fd = -1;
    rec->run = lp_mem_calloc(o.mem, sizeof *rec->run, "profile run", err);
    if (!rec->run) {
        lp_prof_recorder_free(rec);
        return LP_ERR_NOMEM;
    }
    lp_prof_run *run = rec->run;
    run->mem = o.mem;
    run->schema_version = LP_PROF_SCHEMA_VERSION;
    snprintf(run->command, sizeof run->command, "%s", command ? command : "");
    run->root_pid = root_pid;
    run->attached = attached;
    run->exit_status = -1;
    run->interval_s = o.interval_s;
    run->peak.t = -1;
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(run->started, sizeof run->started, "%Y-%m-%dT%H:%M:%SZ", &tm);
    struct utsname u;
    if (uname(&u) == 0) {
        copy_text(run->host, sizeof run->host, u.nodename);
        copy_text(run->kernel, sizeof run->kernel, u.release);
    }
    rec->t0 = now_clock(CLOCK_MONOTONIC);
    rec->cpu0 = now_clock(CLOCK_PROCESS_CPUTIME_ID);
    rec->last_snapshot_t = -1e9;
    lp_procfs_sys_open(&rec->sys);
    lp_procfs_sys_read(&rec->sys, &rec->sys0);
    int ppid;
    char comm[32];
    if (!lp_procfs_peek(root_pid, &ppid, comm)) {
        lp_prof_recorder_free(rec);
        return lp_error_set(err, LP_ERR_INVALID_ARG, "no process with PID %d", root_pid);
    }
    lp_status st = add_member(rec, root_pid, ppid, comm, 0, err);
    if (st == LP_OK && rec->nmembers == 0)
        st = lp_error_set(err, LP_ERR_IO, "cannot read /proc/%d", root_pid);
    /* with no previous listing every PID is new: this finds the children an attached
     * tree (or a spawned root that forked already) has now */
    if (st == LP_OK)
        st = discover(rec, 0, err);
    if (st) {
        lp_prof_recorder_free(rec);
        return st;
    }
    rec->live = rec->nmembers;
    *out = rec;
    return LP_OK;
}

static void add_mem(lp_prof_mem *sum, const lp_prof_mem *m)
{
    sum->rss += m->rss;
    sum->rss_anon += m->rss_anon;
    sum->rss_file += m->rss_file;
    sum->rss_shmem += m->rss_shmem;
    sum->pss += m->pss;
    sum->pss_anon += m->pss_anon;
    sum->pss_file += m->pss_file;
    sum->pss_shmem += m->pss_shmem;
    sum->anonymous += m->anonymous;
    sum->swap += m->swap;
    sum->swap_pss += m->swap_pss;
}

static int cmp_mapping_pss(const void *a, const void *b)
{
    const lp_prof_mapping *x = a, *y = b;
    return (x->pss < y->pss) - (x->pss > y->pss);
}

#define SNAPSHOT_KEEP 200  /* mappings kept in the record; the rest are small */

/* Reads smaps of the live members holding the most PSS; replaces the run's snapshot. */
static lp_status take_snapshot(lp_prof_recorder *rec, const lp_prof_sample *s, lp_error *err)
{
    lp_prof_run *run = rec->run;
    lp_prof_snapshot *snap = &run->peak;
    snap->count = 0;
    bool *picked = lp_mem_calloc(rec->opt.mem, rec->nmembers + 1, "snapshot choice", err);
    if (!picked)
        return LP_ERR_NOMEM;
    lp_status st = LP_OK;
    for (uint32_t k = 0; k < rec->opt.snapshot_procs && st == LP_OK; k++) {
        size_t best = SIZE_MAX;
        for (size_t i = 0; i < rec->nmembers; i++)
            if (rec->members[i].live && !picked[i] &&
                (best == SIZE_MAX || rec->members[i].last_pss > rec->members[best].last_pss))
                best = i;
        if (best == SIZE_MAX)
            break;
        picked[best] = true;
        const lp_prof_process *p = &run->procs[rec->members[best].proc];
        st = lp_procfs_smaps(p->pid, p->comm, rec->opt.mem, &snap->maps, &snap->count,
                             &rec->cap_maps, err);
    }
    lp_mem_release(rec->opt.mem, picked);
    if (st)
        return st;
    qsort(snap->maps, snap->count, sizeof *snap->maps, cmp_mapping_pss);
    if (snap->count > SNAPSHOT_KEEP)
        snap->count = SNAPSHOT_KEEP;
    snap->t = s->t;
    snap->tree = s->tree;
    snap->taken++;
    rec->last_snapshot_t = s->t;
    rec->snapshot_pss = s->tree.pss;
    return LP_OK;
}

/* Peak bookkeeping after sample index i was appended. */
static lp_status after_sample(lp_prof_recorder *rec, size_t i, lp_error *err)
{
    lp_prof_run *run = rec->run;
    const lp_prof_sample *s = &run->samples[i];
    bool new_peak = i == 0 || s->tree.pss > run->samples[run->peak_sample].tree.pss;
    if (i == 0 || s->tree.rss > run->samples[run->peak_rss_sample].tree.rss)
        run->peak_rss_sample = i;
    if (new_peak)
        run->peak_sample = i;
    uint64_t peak = run->samples[run->peak_sample].tree.pss;
    if (new_peak && (double)s->tree.pss > (double)rec->snapshot_pss * rec->opt.snapshot_growth)
        rec->snapshot_pending = true;
    if (!rec->snapshot_pending || s->procs == 0)
        return LP_OK;
    if (s->t - rec->last_snapshot_t < rec->opt.snapshot_min_gap_s)
        return LP_OK;
    if ((double)s->tree.pss < 0.97 * (double)peak) {
        if (rec->snapshot_pss * 100 >= peak * 97)
            rec->snapshot_pending = false;  /* the last snapshot is close enough */
        return LP_OK;
    }
    rec->snapshot_pending = false;
    return take_snapshot(rec, s, err);
}

lp_status lp_prof_recorder_sample(lp_prof_recorder *rec, lp_error *err)
{
    lp_prof_run *run = rec->run;
    double t = now_clock(CLOCK_MONOTONIC) - rec->t0;
    lp_status st = discover(rec, t, err);
    if (st)
        return st;
    if (GROW(rec, run->samples, cap_samples, run->nsamples + 1, "profile samples", err) ||
        GROW(rec, run->proc_samples, cap_proc_samples, run->nproc_samples + rec->nmembers,
             "profile samples", err))
        return LP_ERR_NOMEM;
    lp_prof_sample *s = &run->samples[run->nsamples];
    memset(s, 0, sizeof *s);
    s->t = t;
    s->first = run->nproc_samples;
    rec->live = 0;
    for (size_t i = 0; i < rec->nmembers; i++) {
        member *m = &rec->members[i];
        if (!m->live)
            continue;
        lp_prof_process *p = &run->procs[m->proc];
        lp_proc_reading r;
        bool alive = lp_procfs_read(&m->fds, &r);
        if (alive) {  /* a zombie's counters are final: keep them */
            p->minflt = r.minflt;
            p->majflt = r.majflt;
            p->cpu_s = r.cpu_s;
        }
        if (!alive || r.state == 'Z' || r.state == 'X') {
            m->live = false;
            p->exited = true;
            lp_procfs_close(&m->fds);
            continue;
        }
        if (strcmp(r.comm, p->comm)) {  /* it exec'ed: describe the new program */
            memcpy(p->comm, r.comm, sizeof p->comm);
            lp_procfs_cmdline(p->pid, p->cmdline, sizeof p->cmdline);
        }
        rec->live++;
        m->last_pss = r.mem.pss;
        p->last_t = t;
        if (r.mem.rss > p->peak_rss)
            p->peak_rss = r.mem.rss;
        if (r.mem.pss > p->peak_pss)
            p->peak_pss = r.mem.pss;
        if (r.hwm > p->hwm)
            p->hwm = r.hwm;
        run->proc_samples[run->nproc_samples++] = (lp_prof_proc_sample){
            .proc = m->proc, .mem = r.mem, .hwm = r.hwm, .minflt = r.minflt,
            .majflt = r.majflt, .threads = r.threads, .cpu_s = r.cpu_s};
        add_mem(&s->tree, &r.mem);
        s->threads += r.threads;
        s->procs++;
    }
    s->count = run->nproc_samples - s->first;
    for (size_t i = 0; i < run->nprocs; i++) {
        s->minflt += run->procs[i].minflt;
        s->majflt += run->procs[i].majflt;
        s->cpu_s += run->procs[i].cpu_s;
    }
    if (run->nsamples) {
        const lp_prof_sample *prev = s - 1;
        double dt = s->t - prev->t;
        if (dt > 0) {
            s->minflt_rate = (double)(s->minflt - prev->minflt) / dt;
            s->majflt_rate = (double)(s->majflt - prev->majflt) / dt;
        }
    }
    lp_sys_reading sys;
    lp_procfs_sys_read(&rec->sys, &sys);
    s->sys_majflt = sys.majflt - rec->sys0.majflt;
    s->sys_pswpin = sys.pswpin - rec->sys0.pswpin;
    s->sys_pswpout = sys.pswpout - rec->sys0.pswpout;
    s->psi_some_avg10 = sys.psi_some_avg10;
    s->psi_full_avg10 = sys.psi_full_avg10;
    run->nsamples++;
    run->wall_s = t;
    return after_sample(rec, run->nsamples - 1, err);
}

size_t lp_prof_recorder_live(const lp_prof_recorder *rec)
{
    return rec->live;
}

const lp_prof_run *lp_prof_recorder_run(const lp_prof_recorder *rec)
{
    return rec->run;
}

void lp_prof_recorder_free(lp_prof_recorder *rec)
{
    if (!rec)
        return;
    lp_mem *mem = rec->opt.mem;
    for (size_t i = 0; i < rec->nmembers; i++)
        if (rec->members[i].live)
            lp_procfs_close(&rec->members[i].fds);
    lp_procfs_sys_close(&rec->sys);
    lp_mem_release(mem, rec->members);
    lp_mem_release(mem, rec->listing);
    lp_mem_release(mem, rec->prev_listing);
    lp_prof_run_free(rec->run);
    lp_mem_release(mem, rec);
}

lp_status lp_prof_recorder_finish(lp_prof_recorder *rec, int exit_status, lp_prof_run **out,
                                  lp_error *err)
{
    (void)err;
    lp_prof_run *run = rec->run;
    run->exit_status = exit_status;
    run->wall_s = now_clock(CLOCK_MONOTONIC) - rec->t0;
    run->profiler_cpu_s = now_clock(CLOCK_PROCESS_CPUTIME_ID) - rec->cpu0;
    for (size_t i = 0; i < rec->nmembers; i++)
        if (!rec->members[i].live)
            run->procs[rec->members[i].proc].exited = true;
    rec->run = NULL;
    lp_prof_recorder_free(rec);
    *out = run;
    return LP_OK;
}
