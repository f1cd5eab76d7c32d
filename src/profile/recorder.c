/*
 * recorder.c - following a process tree and sampling it.
 *
 * Design: the recorder keeps one entry per process it has ever seen in the tree (open
 * /proc descriptors while it lives). Each sample first looks for new members (see
 * discover(): usually a single read of /proc/loadavg tells that no process was created
 * at all). Then every live member is read through its open descriptors (lp_procfs_read),
 * summed into the tree's figures and appended to the run's arrays. Exited members keep
 * their last counters, so the tree's fault totals never go backwards.
 *
 * At a new peak of the tree's PSS, if the last snapshot is older than the rate limit,
 * the full smaps of the processes holding most are read and replace the previous
 * snapshot; a peak reached inside the rate limit is taken at the first later sample that
 * is still within 3% of it.
 *
 * Memory: the run's arrays grow by doubling through lp_mem (208 bytes a sample and
 * 136 bytes a process-sample); the candidate lists are reused every sample.
 * Limits: a process born and gone between two samples, or orphaned before it was seen,
 * is not recorded; the recording is about the tree, so it stops when the root is gone.
 */
#define _GNU_SOURCE
#include "profile/profile.h"
#include "core/clock.h"
#include "profile/procfs.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

typedef struct candidate {
    int pid, ppid;
    char comm[32];
    bool taken;
} candidate;

typedef struct member {
    int pid;
    uint32_t proc;    /* index in run->procs */
    bool live;
    lp_procfds fds;
    uint64_t last_pss;
    bool has_rollup;       /* smaps_rollup read at least once */
    double rollup_t;       /* when it was last read */
    lp_prof_mem at_rollup; /* the figures then (RSS parts from status, PSS from rollup) */
    uint64_t faults_at_rollup; /* minor + major faults then (read after the walk) */
    bool moved_in_read;    /* it faulted during that read: read it again soon */
    bool sharer_moved;     /* a process it shares pages with broke copy-on-write pages
                            * since that read: read it again soon */
    int64_t cow_counted;   /* its copy-on-write breaks since that read, as last counted */
    uint64_t cow_tree_at_rollup; /* the tree's count of breaks (cow_tree) when it ended */
    lp_proc_reading now;   /* this sample's reading */
    bool read_ok;
} member;

struct lp_prof_recorder {
    lp_prof_options opt;
    lp_prof_run *run;
    member *members;
    size_t nmembers, cap_members;
    int loadavg_fd, last_pid;      /* the last PID handed out, at the previous look */
    int *cand;                     /* PIDs to look at in this discovery */
    size_t ncand, cap_cand;
    struct candidate *cand_info;   /* those that are processes, with their parents */
    size_t cap_cand_info;
    size_t cap_samples, cap_proc_samples, cap_procs, cap_maps;
    lp_sysfds sys;
    lp_sys_reading sys0, sys_last;  /* at the start, at the last read */
    double sys_t;                   /* when sys_last was read */
    double t0, cpu0;
    size_t live;
    double last_snapshot_t;
    uint64_t snapshot_pss;
    bool snapshot_pending;
    double pss_allowance;   /* CPU seconds the PSS reads may still spend (can go negative) */
    double last_t;
    size_t *order;          /* live members, stalest PSS first */
    double snapshot_cpu_s;  /* CPU spent on smaps snapshots (reported, not budgeted) */
    bool members_changed;   /* a fork, exit or exec: sharing changed, PSS must be read */
    uint64_t cow_tree;      /* copy-on-write breaks seen in processes that share pages */
    unsigned sharers;       /* processes that share anonymous pages, this sample */
    size_t cap_order;
};

void lp_prof_options_default(lp_prof_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->interval_s = 0.02;
    opt->snapshot_procs = 3;
    opt->snapshot_growth = 1.02;
    opt->pss_budget = 0.005;
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
    rec->members_changed = true;
    return LP_OK;
}

/* The PID the kernel handed out last (the fifth field of /proc/loadavg), 0 if unknown. */
static int read_last_pid(lp_prof_recorder *rec)
{
    char buf[128];
    ssize_t n = rec->loadavg_fd >= 0 ? pread(rec->loadavg_fd, buf, sizeof buf - 1, 0) : -1;
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    const char *last = strrchr(buf, ' ');
    return last ? atoi(last + 1) : 0;
}

/* Candidates: all numeric entries of /proc. */
static lp_status list_proc(lp_prof_recorder *rec, lp_error *err)
{
    DIR *d = opendir("/proc");
    if (!d)
        return lp_error_set(err, LP_ERR_IO, "cannot list /proc");
    rec->ncand = 0;
    lp_status st = LP_OK;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        if ((st = GROW(rec, rec->cand, cap_cand, rec->ncand + 1, "process listing", err)))
            break;
        rec->cand[rec->ncand++] = atoi(e->d_name);
    }
    closedir(d);
    return st;
}

/* Candidates: the PIDs handed out in (from, to]. */
static lp_status list_range(lp_prof_recorder *rec, int from, int to, lp_error *err)
{
    rec->ncand = 0;
    if (GROW(rec, rec->cand, cap_cand, (size_t)(to - from), "process listing", err))
        return LP_ERR_NOMEM;
    for (int pid = from + 1; pid <= to; pid++)
        rec->cand[rec->ncand++] = pid;
    return LP_OK;
}

#define RANGE_MAX 512  /* more new PIDs than this since the last sample: list /proc instead */

/* Finds new members. When no PID was handed out since the last look (a quiet system),
 * this is one pread of /proc/loadavg; when a few were, only those are looked at (their
 * status says whether they are processes and who their parent is); otherwise, or when
 * full, every entry of /proc is. A child and grandchild born in the same interval are
 * both found: members are added until nothing changes. */
static lp_status discover(lp_prof_recorder *rec, double t, bool full, lp_error *err)
{
    int last = read_last_pid(rec);
    lp_status st;
    if (!full && last && last == rec->last_pid)
        return LP_OK;
    if (!full && last && rec->last_pid && last > rec->last_pid && last - rec->last_pid <= RANGE_MAX)
        st = list_range(rec, rec->last_pid, last, err);
    else
        st = list_proc(rec, err);
    rec->last_pid = last;
    if (st)
        return st;
    if (GROW(rec, rec->cand_info, cap_cand_info, rec->ncand + 1, "process listing", err))
        return LP_ERR_NOMEM;
    size_t nc = 0;
    for (size_t i = 0; i < rec->ncand; i++) {
        candidate *c = &rec->cand_info[nc];
        c->pid = rec->cand[i];
        c->taken = false;
        if (!find_member(rec, c->pid) && lp_procfs_peek(c->pid, &c->ppid, c->comm))
            nc++;
    }
    for (bool changed = true; changed;) {
        changed = false;
        for (size_t i = 0; i < nc; i++) {
            candidate *c = &rec->cand_info[i];
            if (c->taken || !find_member(rec, c->ppid))
                continue;
            c->taken = changed = true;
            if ((st = add_member(rec, c->pid, c->ppid, c->comm, t, err)))
                return st;
        }
    }
    return LP_OK;
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
    if (!(o.pss_budget > 0))
        o.pss_budget = 0.005;
    lp_prof_recorder *rec = lp_mem_calloc(o.mem, sizeof *rec, "profile recorder", err);
    if (!rec)
        return LP_ERR_NOMEM;
    rec->opt = o;
    rec->sys.vmstat_fd = rec->sys.psi_fd = -1;
    rec->loadavg_fd = open("/proc/loadavg", O_RDONLY | O_CLOEXEC);
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
    rec->t0 = lp_monotonic_seconds();
    rec->cpu0 = lp_process_cpu_seconds();
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
        st = discover(rec, 0, true, err);
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
    double cpu_before = lp_thread_cpu_seconds();  /* rate-limited, not budgeted */
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
    rec->snapshot_cpu_s += lp_thread_cpu_seconds() - cpu_before;
    if (st)
        return st;
    if (snap->count > 0)  /* the process may have gone before its smaps was read */
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

/* Whether sample i (the newest) would take a snapshot: a new tree peak above the last
 * snapshot by the growth ratio (or one still pending), outside the rate limit, and still
 * within 3% of the peak. Updates the pending flag when the peak has passed. */
static bool snapshot_due(lp_prof_recorder *rec, size_t i)
{
    lp_prof_run *run = rec->run;
    const lp_prof_sample *s = &run->samples[i];
    uint64_t peak = run->nsamples > 0 && i > 0 ? run->samples[run->peak_sample].tree.pss : 0;
    bool new_peak = i == 0 || s->tree.pss > peak;
    if (new_peak)
        peak = s->tree.pss;
    if (new_peak && (double)s->tree.pss > (double)rec->snapshot_pss * rec->opt.snapshot_growth)
        rec->snapshot_pending = true;
    if (!rec->snapshot_pending || s->procs == 0)
        return false;
    if (s->t - rec->last_snapshot_t < rec->opt.snapshot_min_gap_s)
        return false;
    /* An estimated peak may overshoot (growth that was shared file pages, say), and the
     * exact reads after it never come back within 3%: then snapshot as soon as allowed. */
    bool peak_estimated = i > 0 && run->samples[run->peak_sample].pss_estimated > 0;
    if (!peak_estimated && (double)s->tree.pss < 0.97 * (double)peak) {
        if (rec->snapshot_pss * 100 >= peak * 97)
            rec->snapshot_pending = false;  /* the last snapshot is close enough */
        return false;
    }
    return true;
}

/* Peak bookkeeping after sample index i was appended. */
static lp_status after_sample(lp_prof_recorder *rec, size_t i, bool take, lp_error *err)
{
    lp_prof_run *run = rec->run;
    const lp_prof_sample *s = &run->samples[i];
    if (i == 0 || s->tree.rss > run->samples[run->peak_rss_sample].tree.rss)
        run->peak_rss_sample = i;
    if (i == 0 || s->tree.pss > run->samples[run->peak_sample].tree.pss)
        run->peak_sample = i;
    if (!take)
        return LP_OK;
    rec->snapshot_pending = false;
    return take_snapshot(rec, s, err);
}

/* Stalest PSS first; never-read first of all. */
static int cmp_staleness(const void *a, const void *b, void *ctx)
{
    const member *m = ctx;
    const member *x = &m[*(const size_t *)a], *y = &m[*(const size_t *)b];
    if (x->has_rollup != y->has_rollup)
        return x->has_rollup ? 1 : -1;
    return (x->rollup_t > y->rollup_t) - (x->rollup_t < y->rollup_t);
}

/* Whether the last rollup read of m found anonymous pages shared with other processes
 * (RSS over PSS): the kernel's RSS counters lag by up to 64 pages a thread, so only a
 * clear sharing counts. */
static bool shares_anon(const member *m)
{
    const lp_prof_mem *a = &m->at_rollup;
    int64_t shared_anon = (int64_t)a->rss_anon - (int64_t)a->pss_anon;
    return m->has_rollup && shared_anon >= (int64_t)(1u << 20) &&
           shared_anon * 20 >= (int64_t)a->rss_anon;
}

/* Faults of m since its last rollup read, up to reading r, that did not grow its RSS: in
 * a process that shares anonymous pages, copy-on-write breaks. */
static int64_t cow_faults_at(const member *m, const lp_proc_reading *r)
{
    const lp_prof_mem *a = &m->at_rollup, *mem = &r->mem;
    int64_t grown_pages = ((int64_t)mem->rss_anon - (int64_t)a->rss_anon +
                           (int64_t)mem->rss_file - (int64_t)a->rss_file +
                           (int64_t)mem->rss_shmem - (int64_t)a->rss_shmem) / 4096;
    int64_t faults = (int64_t)(r->minflt + r->majflt - m->faults_at_rollup);
    return faults - (grown_pages > 0 ? grown_pages : 0);
}

static int64_t cow_faults(const member *m)
{
    return cow_faults_at(m, &m->now);
}

/* PSS between two rollup reads: the parts measured last time plus the change of the
 * matching RSS parts since (status is exact and cheap), i.e. new pages are taken as
 * private and freed ones as having been private. One more case is visible in the
 * counters: faults that did not grow RSS in a process that shared anonymous pages are
 * copy-on-write breaks, and each makes half a page more PSS here (exactly half when two
 * processes share). The other half goes to the sharers, which see no fault of their own:
 * a sharing process gains 1/(n(n-1)) of a page for each break elsewhere among the n
 * sharing processes (half a page for a parent and its child). Exact again at the next
 * read. */
static void estimate_pss(const lp_prof_recorder *rec, const member *m, lp_prof_mem *mem)
{
    const lp_prof_mem *a = &m->at_rollup;
    int64_t d_anon = (int64_t)mem->rss_anon - (int64_t)a->rss_anon;
    int64_t d_file = (int64_t)mem->rss_file - (int64_t)a->rss_file;
    int64_t d_shmem = (int64_t)mem->rss_shmem - (int64_t)a->rss_shmem;
    int64_t cow_pages = cow_faults(m);
    int64_t shared_anon = (int64_t)a->rss_anon - (int64_t)a->pss_anon;
    int64_t others = (int64_t)(rec->cow_tree - m->cow_tree_at_rollup) - m->cow_counted;
    if (shares_anon(m) && (cow_pages > 0 || others > 0)) {
        int64_t n = rec->sharers >= 2 ? rec->sharers : 2;
        int64_t gain = (cow_pages > 0 ? cow_pages : 0) * 4096 / 2 +
                       (others > 0 ? others : 0) * 4096 / (n * (n - 1));
        d_anon += gain < shared_anon / 2 ? gain : shared_anon / 2;
    }
#define ADD(base, d) ((int64_t)(base) + (d) > 0 ? (uint64_t)((int64_t)(base) + (d)) : 0)
    mem->pss_anon = ADD(a->pss_anon, d_anon);
    mem->pss_file = ADD(a->pss_file, d_file);
    mem->pss_shmem = ADD(a->pss_shmem, d_shmem);
    mem->anonymous = ADD(a->anonymous, d_anon);
#undef ADD
    /* a base read while the process moved may carry more than status shows now */
#define AT_MOST(v, cap) ((v) = (v) < (cap) ? (v) : (cap))
    AT_MOST(mem->pss_anon, mem->rss_anon);
    AT_MOST(mem->pss_file, mem->rss_file);
    AT_MOST(mem->pss_shmem, mem->rss_shmem);
#undef AT_MOST
    mem->pss = mem->pss_anon + mem->pss_file + mem->pss_shmem;
    mem->swap = a->swap;
    mem->swap_pss = a->swap_pss;
}

#define PSS_REFRESH_S 1.0  /* an idle process's PSS is still re-read this often */
#define SYS_PERIOD_S 0.2   /* /proc/vmstat and pressure are read this often */

#define FAULTS_NOTICED 16  /* fewer faults than this leave a PSS reading as it was */

/* Whether m's PSS may have changed since its last read: it faulted pages in or copied
 * them on write (faults), its RSS changed, or the last read is old (other processes may
 * have started or stopped sharing its pages). */
static bool pss_stale(const member *m, double t)
{
    if (!m->has_rollup || m->moved_in_read || m->sharer_moved || t - m->rollup_t >= PSS_REFRESH_S)
        return true;
    const lp_prof_mem *a = &m->at_rollup, *n = &m->now.mem;
    uint64_t faults = m->now.minflt + m->now.majflt - m->faults_at_rollup;
    uint64_t pages = n->rss / 4096;
    if (faults >= FAULTS_NOTICED && faults * 500 >= pages)  /* 0.2% of the resident pages */
        return true;
    return a->rss_anon != n->rss_anon || a->rss_file != n->rss_file || a->rss_shmem != n->rss_shmem;
}

/* Re-reads stat and status right after a rollup read: a process that grows fast has
 * moved on since the first read, and the base of later estimates must not be older
 * than the PSS read, or the estimate counts that growth twice (a false peak). What grew
 * during the read itself is missed until the next read, which comes soon: see
 * moved_in_read in read_pss. */
static void sync_counters(member *m)
{
    lp_proc_reading after;
    if (!lp_procfs_read(&m->fds, &after) || after.state == 'Z' || after.state == 'X')
        return;
    lp_prof_mem *mem = &m->now.mem;
    mem->rss = after.mem.rss;
    mem->rss_anon = after.mem.rss_anon;
    mem->rss_file = after.mem.rss_file;
    mem->rss_shmem = after.mem.rss_shmem;
    m->now.hwm = after.hwm;
    m->now.minflt = after.minflt;
    m->now.majflt = after.majflt;
    m->now.threads = after.threads;
    m->now.cpu_s = after.cpu_s;
}

/* The PSS fields of a walk that counted `walked` bytes, scaled to `bound`. */
static void scale_walk(lp_prof_mem *mem, uint64_t walked, uint64_t bound)
{
    double k = (double)bound / (double)walked;
    mem->pss = (uint64_t)((double)mem->pss * k);
    mem->pss_anon = (uint64_t)((double)mem->pss_anon * k);
    mem->pss_file = (uint64_t)((double)mem->pss_file * k);
    mem->pss_shmem = (uint64_t)((double)mem->pss_shmem * k);
    mem->anonymous = (uint64_t)((double)mem->anonymous * k);
}

/* smaps_rollup walks the VMAs under mmap_lock, but since Linux 5.10 it lets a waiting
 * writer in and resumes after the last address it counted: a mapping unmapped behind the
 * walk and a new one faulted in ahead of it are both counted. libaom frees and makes its
 * ~30 MB coefficient buffer once per grid cell, and in the reference batch such walks
 * put a process's PSS 29 MiB over its VmHWM, which no moment can have. So a walk that
 * counted more resident pages than status showed just before and just after it is read
 * again (WALK_TRIES in all); a process still moving too fast keeps its estimate (or, on
 * its first read, the walk scaled down to what status showed). True when m->now.mem
 * holds a walk to rely on. */
#define WALK_TRIES 3
static bool read_rollup_checked(lp_prof_recorder *rec, member *m)
{
    uint64_t walked = 0, bound = 0;
    for (int k = 0; k < WALK_TRIES; k++) {
        uint64_t before = m->now.mem.rss;
        if (!lp_procfs_read_rollup(&m->fds, &m->now.mem)) {
            if (k == 0)
                return false;
            break;  /* gone meanwhile: the last walk is what there is */
        }
        walked = m->now.mem.rss;
        sync_counters(m);  /* m->now.mem.rss: status again */
        uint64_t after = m->now.mem.rss;
        bound = lp_procfs_walk_bound(before, after, m->now.threads);
        if (walked <= bound)
            return true;
        rec->run->pss_walks_redone++;
    }
    if (m->has_rollup)
        return false;
    scale_walk(&m->now.mem, walked, bound);
    return true;
}

/* Adds m's copy-on-write breaks up to reading r that are not counted yet to cow_tree;
 * returns all its breaks since its last rollup read, up to r. */
static int64_t count_breaks(lp_prof_recorder *rec, member *m, const lp_proc_reading *r)
{
    int64_t cow = cow_faults_at(m, r);
    if (cow > m->cow_counted) {
        rec->cow_tree += (uint64_t)(cow - m->cow_counted);
        m->cow_counted = cow;
    }
    return cow;
}

/* Counts the copy-on-write breaks of the processes that share anonymous pages (cow_tree,
 * for the sharers' estimates) and, while some process is breaking them, marks every
 * sharing process to be read again: they gain PSS without a fault of their own (a parent
 * whose child dirtied their shared pages kept its reading until the 1 s refresh, and a
 * peak's attribution gave it 67 of its 72 MiB in a CI run). */
static void mark_sharers(lp_prof_recorder *rec, size_t nlive)
{
    bool breaking = false;
    rec->sharers = 0;
    for (size_t k = 0; k < nlive; k++) {
        member *m = &rec->members[rec->order[k]];
        if (!shares_anon(m))
            continue;
        rec->sharers++;
        breaking = count_breaks(rec, m, &m->now) >= FAULTS_NOTICED || breaking;
    }
    for (size_t k = 0; k < nlive; k++) {
        member *m = &rec->members[rec->order[k]];
        m->sharer_moved = m->sharer_moved || (breaking && shares_anon(m));
    }
}

/* Called when the walk of m has just ended: the breaks made so far, by m (which its
 * sharers gain from) and by the others (which its walk has seen), go into cow_tree, from
 * the others' counters read now, so that m's base holds exactly those and its estimates
 * add the ones made after. Taking the count of the next sample instead put the breaks
 * made between the walk and that sample into the base too, and they were missed until
 * the next read: a parent read in the middle of its child's writes stayed at 65 of its
 * 72 MiB, through a peak, when the budget allowed no read before the child ended. */
static void breaks_at_walk(lp_prof_recorder *rec, member *walked, size_t nlive)
{
    if (shares_anon(walked))
        count_breaks(rec, walked, &walked->now);
    for (size_t k = 0; k < nlive; k++) {
        member *m = &rec->members[rec->order[k]];
        lp_proc_reading r;
        if (m != walked && shares_anon(m) && lp_procfs_read(&m->fds, &r) && r.state != 'Z' &&
            r.state != 'X')
            count_breaks(rec, m, &r);
    }
}

/* Reads smaps_rollup of the processes whose PSS may have changed, stalest first, while
 * the CPU allowance lasts (a process never read yet is always read, and all are when
 * exact is set); estimates the others. Returns how many were estimated. */
static uint32_t read_pss(lp_prof_recorder *rec, double t, size_t nlive, bool exact)
{
    mark_sharers(rec, nlive);
    qsort_r(rec->order, nlive, sizeof *rec->order, cmp_staleness, rec->members);
    uint32_t estimated = 0;
    for (size_t k = 0; k < nlive; k++) {
        member *m = &rec->members[rec->order[k]];
        if (m->has_rollup && m->rollup_t == t)
            continue;  /* read in this sample already */
        bool stale = exact || pss_stale(m, t);
        if (m->has_rollup && (!stale || rec->pss_allowance < 0) && !exact) {
            estimate_pss(rec, m, &m->now.mem);
            estimated += stale;
            continue;
        }
        uint64_t faults_before = m->now.minflt + m->now.majflt;
        double c0 = lp_thread_cpu_seconds();
        bool ok = read_rollup_checked(rec, m);
        if (ok)
            breaks_at_walk(rec, m, nlive);
        rec->pss_allowance -= lp_thread_cpu_seconds() - c0;
        if (ok) {
            /* Estimates count faults from after the walk: the walk has seen the pages
             * faulted before it ended, and counting those again made false peaks (a
             * copy-on-write child read 3.7 MiB over its PSS). Pages faulted behind the
             * walk are missed instead, so a process that moved during the read is read
             * again as soon as the budget allows. */
            uint64_t faults_after = m->now.minflt + m->now.majflt;
            m->has_rollup = true;
            m->rollup_t = t;
            m->at_rollup = m->now.mem;
            m->faults_at_rollup = faults_after;
            m->moved_in_read = faults_after - faults_before >= FAULTS_NOTICED;
            m->sharer_moved = false;
            m->cow_counted = 0;
            m->cow_tree_at_rollup = rec->cow_tree;
        } else if (m->has_rollup) {
            estimate_pss(rec, m, &m->now.mem);
            estimated++;
        }
    }
    return estimated;
}

/* Reads stat and status of every live member; closes the ones that are gone. */
static void read_counters(lp_prof_recorder *rec, double t, size_t *nlive)
{
    lp_prof_run *run = rec->run;
    *nlive = 0;
    for (size_t i = 0; i < rec->nmembers; i++) {
        member *m = &rec->members[i];
        m->read_ok = false;
        if (!m->live)
            continue;
        lp_prof_process *p = &run->procs[m->proc];
        lp_proc_reading *r = &m->now;
        bool alive = lp_procfs_read(&m->fds, r);
        if (alive) {  /* a zombie's counters are final: keep them */
            p->minflt = r->minflt;
            p->majflt = r->majflt;
            p->cpu_s = r->cpu_s;
        }
        if (!alive || r->state == 'Z' || r->state == 'X') {
            m->live = false;
            p->exited = true;
            rec->members_changed = true;
            lp_procfs_close(&m->fds);
            continue;
        }
        if (strcmp(r->comm, p->comm)) {  /* it exec'ed: describe the new program */
            memcpy(p->comm, r->comm, sizeof p->comm);
            lp_procfs_cmdline(p->pid, p->cmdline, sizeof p->cmdline);
            m->has_rollup = false;  /* a new address space */
            rec->members_changed = true;
        }
        p->last_t = t;
        m->read_ok = true;
        rec->order[(*nlive)++] = i;
    }
}

/* This sample's process rows and tree sums from the members' readings. */
static void fill_sample(lp_prof_recorder *rec, lp_prof_sample *s)
{
    lp_prof_run *run = rec->run;
    run->nproc_samples = s->first;
    memset(&s->tree, 0, sizeof s->tree);
    s->threads = s->procs = 0;
    for (size_t i = 0; i < rec->nmembers; i++) {
        member *m = &rec->members[i];
        if (!m->read_ok)
            continue;
        const lp_proc_reading *r = &m->now;
        m->last_pss = r->mem.pss;
        run->proc_samples[run->nproc_samples++] = (lp_prof_proc_sample){
            .proc = m->proc, .mem = r->mem, .hwm = r->hwm, .minflt = r->minflt,
            .majflt = r->majflt, .threads = r->threads, .cpu_s = r->cpu_s};
        add_mem(&s->tree, &r->mem);
        s->threads += r->threads;
        s->procs++;
    }
    s->count = run->nproc_samples - s->first;
}

static void update_process_peaks(lp_prof_recorder *rec, const lp_prof_sample *s)
{
    lp_prof_run *run = rec->run;
    for (size_t j = 0; j < s->count; j++) {
        const lp_prof_proc_sample *ps = &run->proc_samples[s->first + j];
        lp_prof_process *p = &run->procs[ps->proc];
        if (ps->mem.rss > p->peak_rss)
            p->peak_rss = ps->mem.rss;
        if (ps->mem.pss > p->peak_pss)
            p->peak_pss = ps->mem.pss;
        if (ps->hwm > p->hwm)
            p->hwm = ps->hwm;
    }
}

static void fill_counters(lp_prof_recorder *rec, lp_prof_sample *s)
{
    lp_prof_run *run = rec->run;
    for (size_t i = 0; i < run->nprocs; i++) {
        s->minflt += run->procs[i].minflt;
        s->majflt += run->procs[i].majflt;
        s->cpu_s += run->procs[i].cpu_s;
    }
    if (s > run->samples) {
        const lp_prof_sample *prev = s - 1;
        double dt = s->t - prev->t;
        if (dt > 0) {
            s->minflt_rate = (double)(s->minflt - prev->minflt) / dt;
            s->majflt_rate = (double)(s->majflt - prev->majflt) / dt;
        }
    }
    /* /proc/vmstat is 25 us of text to format and parse: system-wide figures are read at
     * most every SYS_PERIOD_S, at the first sample and when the tree is gone (the last
     * sample is brought up to date by lp_prof_recorder_finish) */
    if (s == run->samples || rec->live == 0 || s->t - rec->sys_t >= SYS_PERIOD_S) {
        lp_procfs_sys_read(&rec->sys, &rec->sys_last);
        rec->sys_t = s->t;
    }
    const lp_sys_reading sys = rec->sys_last;
    s->sys_majflt = sys.majflt - rec->sys0.majflt;
    s->sys_pswpin = sys.pswpin - rec->sys0.pswpin;
    s->sys_pswpout = sys.pswpout - rec->sys0.pswpout;
    s->psi_some_avg10 = sys.psi_some_avg10;
    s->psi_full_avg10 = sys.psi_full_avg10;
}

lp_status lp_prof_recorder_sample(lp_prof_recorder *rec, lp_error *err)
{
    lp_prof_run *run = rec->run;
    double t = lp_monotonic_seconds() - rec->t0;
    lp_status st = discover(rec, t, false, err);
    if (st)
        return st;
    if (GROW(rec, run->samples, cap_samples, run->nsamples + 1, "profile samples", err) ||
        GROW(rec, run->proc_samples, cap_proc_samples, run->nproc_samples + rec->nmembers,
             "profile samples", err) ||
        GROW(rec, rec->order, cap_order, rec->nmembers + 1, "profile order", err))
        return LP_ERR_NOMEM;
    /* the PSS budget accrues with time, capped at one second's worth */
    rec->pss_allowance += rec->opt.pss_budget * (t - rec->last_t);
    if (rec->pss_allowance > rec->opt.pss_budget)
        rec->pss_allowance = rec->opt.pss_budget;
    rec->last_t = t;
    lp_prof_sample *s = &run->samples[run->nsamples];
    memset(s, 0, sizeof *s);
    s->t = t;
    s->first = run->nproc_samples;
    size_t nlive;
    read_counters(rec, t, &nlive);
    rec->live = nlive;
    /* a fork, exit or exec changes who shares what: estimates would be wrong */
    s->pss_estimated = read_pss(rec, t, nlive, rec->members_changed || rec->opt.pss_budget >= 1);
    rec->members_changed = false;
    fill_sample(rec, s);
    run->nsamples++;
    bool take = snapshot_due(rec, run->nsamples - 1);
    if (take) {
        /* a peak worth a snapshot is measured, not estimated */
        s->pss_estimated = read_pss(rec, t, nlive, true);
        fill_sample(rec, s);
        take = snapshot_due(rec, run->nsamples - 1);
    }
    update_process_peaks(rec, s);
    fill_counters(rec, s);
    run->wall_s = t;
    return after_sample(rec, run->nsamples - 1, take, err);
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
    lp_mem_release(mem, rec->cand);
    lp_mem_release(mem, rec->cand_info);
    if (rec->loadavg_fd >= 0)
        close(rec->loadavg_fd);
    lp_mem_release(mem, rec->order);
    lp_prof_run_free(rec->run);
    lp_mem_release(mem, rec);
}

lp_status lp_prof_recorder_finish(lp_prof_recorder *rec, int exit_status, lp_prof_run **out,
                                  lp_error *err)
{
    (void)err;
    lp_prof_run *run = rec->run;
    run->exit_status = exit_status;
    if (run->nsamples) {  /* system-wide figures up to the end */
        lp_prof_sample *s = &run->samples[run->nsamples - 1];
        lp_procfs_sys_read(&rec->sys, &rec->sys_last);
        s->sys_majflt = rec->sys_last.majflt - rec->sys0.majflt;
        s->sys_pswpin = rec->sys_last.pswpin - rec->sys0.pswpin;
        s->sys_pswpout = rec->sys_last.pswpout - rec->sys0.pswpout;
    }
    run->wall_s = lp_monotonic_seconds() - rec->t0;
    run->profiler_cpu_s = lp_process_cpu_seconds() - rec->cpu0;
    run->snapshot_cpu_s = rec->snapshot_cpu_s;
    for (size_t i = 0; i < rec->nmembers; i++)
        if (!rec->members[i].live)
            run->procs[rec->members[i].proc].exited = true;
    rec->run = NULL;
    lp_prof_recorder_free(rec);
    *out = run;
    return LP_OK;
}
