/*
 * procfs.c - reading one process (and the system) from /proc for the profiler.
 *
 * Design: the per-sample path (lp_procfs_read: stat and status; lp_procfs_read_rollup:
 * smaps_rollup) preads already-open files into a 4 KB stack buffer and scans
 * "Key: value kB" lines against small tables of wanted keys; it allocates nothing, and
 * its cost on our side does not depend on the number of mappings (smaps_rollup is summed
 * by the kernel, which walks the page tables for it: the recorder rations that read).
 * The peak path (lp_procfs_smaps) reads the
 * full smaps once, keeps the VMAs of one process in a temporary array (freed before
 * returning) because two heuristics look at neighbouring VMAs, then appends one entry
 * per anonymous/heap/stack VMA and one per file path (segments merged) to the caller's
 * growing array.
 */
#define _GNU_SOURCE
#include "profile/procfs.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ARENA_SIZE (64ull << 20)          /* glibc HEAP_MAX_SIZE on 64-bit */
#define LARGE_ALLOC_MIN (4ull << 20)      /* one anonymous mapping this big is one allocation */
#define GUARD_MAX (64ull << 10)           /* a thread stack's guard page(s) */
#define COW_SHARED_MIN (1ull << 20)

typedef struct key_slot {
    const char *key;   /* with the colon */
    size_t offset;     /* of a uint64_t in the target struct */
} key_slot;

/* Reads a /proc file from offset 0 into buf (NUL-terminated); returns its length, -1 on error. */
static ssize_t pread_all(int fd, char *buf, size_t size)
{
    size_t got = 0;
    while (got + 1 < size) {
        ssize_t n = pread(fd, buf + got, size - 1 - got, (off_t)got);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    buf[got] = '\0';
    return (ssize_t)got;
}

/* For each line "Key:   123 kB" whose key is in the table, stores 123*1024 (kB values) in
 * the slot; values without a unit are stored as they are. */
static void scan_keys(const char *text, const key_slot *slots, size_t nslots, void *target)
{
    for (const char *line = text; line && *line;) {
        const char *colon = strchr(line, ':');
        const char *nl = strchr(line, '\n');
        if (colon && (!nl || colon < nl)) {
            size_t klen = (size_t)(colon - line + 1);
            for (size_t i = 0; i < nslots; i++) {
                if (strlen(slots[i].key) == klen && !memcmp(line, slots[i].key, klen)) {
                    char *end;
                    uint64_t v = strtoull(colon + 1, &end, 10);
                    while (*end == ' ')
                        end++;
                    if (end[0] == 'k' && end[1] == 'B')
                        v *= 1024;
                    memcpy((char *)target + slots[i].offset, &v, sizeof v);
                    break;
                }
            }
        }
        line = nl ? nl + 1 : NULL;
    }
}

#define MEM_SLOT(key, field) {key, offsetof(lp_prof_mem, field)}
static const key_slot rollup_keys[] = {
    MEM_SLOT("Rss:", rss),             /* the walk's own count: checked against status */
    MEM_SLOT("Pss:", pss),             MEM_SLOT("Pss_Anon:", pss_anon),
    MEM_SLOT("Pss_File:", pss_file),   MEM_SLOT("Pss_Shmem:", pss_shmem),
    MEM_SLOT("Anonymous:", anonymous), MEM_SLOT("Swap:", swap),
    MEM_SLOT("SwapPss:", swap_pss),
};

typedef struct status_fields {
    uint64_t rss, rss_anon, rss_file, rss_shmem, hwm, threads;
} status_fields;
#define ST_SLOT(key, field) {key, offsetof(status_fields, field)}
static const key_slot status_keys[] = {
    ST_SLOT("VmRSS:", rss),         ST_SLOT("RssAnon:", rss_anon), ST_SLOT("RssFile:", rss_file),
    ST_SLOT("RssShmem:", rss_shmem), ST_SLOT("VmHWM:", hwm),       ST_SLOT("Threads:", threads),
};

typedef struct status_ids {
    uint64_t tgid, ppid;
} status_ids;
static const key_slot id_keys[] = {
    {"Tgid:", offsetof(status_ids, tgid)},
    {"PPid:", offsetof(status_ids, ppid)},
};

static int open_proc(int pid, const char *what)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/%s", pid, what);
    return open(path, O_RDONLY | O_CLOEXEC);
}

bool lp_procfs_open(int pid, lp_procfds *fds)
{
    fds->pid = pid;
    fds->stat_fd = open_proc(pid, "stat");
    fds->status_fd = open_proc(pid, "status");
    fds->rollup_fd = open_proc(pid, "smaps_rollup");
    if (fds->stat_fd < 0 || fds->status_fd < 0) {
        lp_procfs_close(fds);
        return false;
    }
    return true;  /* smaps_rollup may be unreadable (another user's process): zeros then */
}

void lp_procfs_close(lp_procfds *fds)
{
    int *all[3] = {&fds->stat_fd, &fds->status_fd, &fds->rollup_fd};
    for (int i = 0; i < 3; i++) {
        if (*all[i] >= 0)
            close(*all[i]);
        *all[i] = -1;
    }
}

/* /proc/PID/stat: "pid (comm) state ppid ..." - comm may hold spaces and parentheses, so
 * the fields are counted from the last ')'. */
static bool parse_stat(const char *text, lp_proc_reading *out)
{
    const char *open = strchr(text, '(');
    const char *close = strrchr(text, ')');
    if (!open || !close || close < open)
        return false;
    size_t clen = (size_t)(close - open - 1);
    if (clen >= sizeof out->comm)
        clen = sizeof out->comm - 1;
    memcpy(out->comm, open + 1, clen);
    out->comm[clen] = '\0';
    /* fields from 3 (state) on */
    unsigned long long f[20] = {0};
    char state = '?';
    int n = sscanf(close + 2, "%c %llu %*d %*d %*d %*d %*u %llu %*u %llu %*u %llu %llu %*d %*d %*d %*d %llu",
                   &state, &f[0], &f[1], &f[2], &f[3], &f[4], &f[5]);
    if (n < 7)
        return false;
    static long ticks;  /* sysconf is constant for the process: caching it is harmless */
    if (!ticks)
        ticks = sysconf(_SC_CLK_TCK);
    out->state = state;
    out->ppid = (int)f[0];
    out->minflt = f[1];
    out->majflt = f[2];
    out->cpu_s = (double)(f[3] + f[4]) / (double)(ticks > 0 ? ticks : 100);
    out->threads = (uint32_t)f[5];
    return true;
}

bool lp_procfs_read(lp_procfds *fds, lp_proc_reading *out)
{
    char buf[4096];
    memset(out, 0, sizeof *out);
    if (pread_all(fds->stat_fd, buf, sizeof buf) <= 0 || !parse_stat(buf, out))
        return false;
    if (out->state == 'Z' || out->state == 'X')
        return true;  /* memory already released; the counters are final */
    status_fields st = {0};
    if (pread_all(fds->status_fd, buf, sizeof buf) <= 0)
        return false;
    scan_keys(buf, status_keys, sizeof status_keys / sizeof status_keys[0], &st);
    out->mem.rss = st.rss;
    out->mem.rss_anon = st.rss_anon;
    out->mem.rss_file = st.rss_file;
    out->mem.rss_shmem = st.rss_shmem;
    out->hwm = st.hwm;
    if (st.threads)
        out->threads = (uint32_t)st.threads;
    return true;
}

bool lp_procfs_read_rollup(lp_procfds *fds, lp_prof_mem *mem)
{
    char buf[4096];
    ssize_t n = fds->rollup_fd >= 0 ? pread_all(fds->rollup_fd, buf, sizeof buf) : -1;
    if (n <= 0) {  /* exec'ed since we opened it (or never opened): reopen once */
        if (fds->rollup_fd >= 0)
            close(fds->rollup_fd);
        fds->rollup_fd = open_proc(fds->pid, "smaps_rollup");
        n = fds->rollup_fd >= 0 ? pread_all(fds->rollup_fd, buf, sizeof buf) : -1;
    }
    if (n <= 0)
        return false;
    scan_keys(buf, rollup_keys, sizeof rollup_keys / sizeof rollup_keys[0], mem);
    return true;
}

uint64_t lp_procfs_walk_bound(uint64_t rss_before, uint64_t rss_after, uint32_t threads)
{
    uint64_t most = rss_before > rss_after ? rss_before : rss_after;
    return most + (2ull << 20) + (uint64_t)threads * (256ull << 10) + most / 64;
}

bool lp_procfs_peek(int pid, int *ppid, char comm[32])
{
    int fd = open_proc(pid, "status");
    if (fd < 0)
        return false;
    char buf[4096];
    ssize_t n = pread_all(fd, buf, sizeof buf);
    close(fd);
    if (n <= 0)
        return false;
    status_ids ids = {0};
    scan_keys(buf, id_keys, sizeof id_keys / sizeof id_keys[0], &ids);
    if (ids.tgid != (uint64_t)pid)
        return false;  /* a thread (its TID is a PID too), not a process */
    *ppid = (int)ids.ppid;
    const char *name = strstr(buf, "Name:");
    size_t len = 0;
    if (name) {
        name += 5;
        while (*name == ' ' || *name == '\t')
            name++;
        len = strcspn(name, "\n");
        if (len > 31)
            len = 31;
        memcpy(comm, name, len);
    }
    comm[len] = '\0';
    return true;
}

void lp_procfs_cmdline(int pid, char *out, size_t size)
{
    out[0] = '\0';
    int fd = open_proc(pid, "cmdline");
    if (fd < 0)
        return;
    ssize_t n = pread_all(fd, out, size);
    close(fd);
    if (n <= 0)
        return;
    for (ssize_t i = 0; i < n; i++)
        if (out[i] == '\0' || out[i] == '\n')
            out[i] = ' ';
    while (n > 0 && out[n - 1] == ' ')
        out[--n] = '\0';
}

void lp_procfs_sys_open(lp_sysfds *fds)
{
    fds->vmstat_fd = open("/proc/vmstat", O_RDONLY | O_CLOEXEC);
    fds->psi_fd = open("/proc/pressure/memory", O_RDONLY | O_CLOEXEC);
}

void lp_procfs_sys_close(lp_sysfds *fds)
{
    if (fds->vmstat_fd >= 0)
        close(fds->vmstat_fd);
    if (fds->psi_fd >= 0)
        close(fds->psi_fd);
    fds->vmstat_fd = fds->psi_fd = -1;
}

/* vmstat lines are "name value" without a colon. */
static uint64_t vmstat_value(const char *text, const char *name)
{
    size_t len = strlen(name);
    for (const char *p = text; p && *p;) {
        if (!strncmp(p, name, len) && p[len] == ' ')
            return strtoull(p + len + 1, NULL, 10);
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return 0;
}

void lp_procfs_sys_read(const lp_sysfds *fds, lp_sys_reading *out)
{
    char buf[8192];
    memset(out, 0, sizeof *out);
    out->psi_some_avg10 = out->psi_full_avg10 = -1;
    if (fds->vmstat_fd >= 0 && pread_all(fds->vmstat_fd, buf, sizeof buf) > 0) {
        out->majflt = vmstat_value(buf, "pgmajfault");
        out->pswpin = vmstat_value(buf, "pswpin");
        out->pswpout = vmstat_value(buf, "pswpout");
    }
    if (fds->psi_fd >= 0 && pread_all(fds->psi_fd, buf, 512) > 0) {
        const char *some = strstr(buf, "some avg10=");
        const char *full = strstr(buf, "full avg10=");
        if (some)
            out->psi_some_avg10 = strtod(some + 11, NULL);
        if (full)
            out->psi_full_avg10 = strtod(full + 11, NULL);
    }
}

/* ---- smaps at the peak ---- */

typedef struct vma {
    uint64_t start, end;
    char perms[5];
    char path[200];
    uint64_t rss, pss, shared_clean, shared_dirty, private_clean, private_dirty, anon, swap;
} vma;

#define VMA_SLOT(key, field) {key, offsetof(vma, field)}
static const key_slot smaps_keys[] = {
    VMA_SLOT("Rss:", rss),
    VMA_SLOT("Pss:", pss),
    VMA_SLOT("Shared_Clean:", shared_clean),
    VMA_SLOT("Shared_Dirty:", shared_dirty),
    VMA_SLOT("Private_Clean:", private_clean),
    VMA_SLOT("Private_Dirty:", private_dirty),
    VMA_SLOT("Anonymous:", anon),
    VMA_SLOT("Swap:", swap),
};

/* "start-end perms offset dev inode   path" -> true when line is a VMA header. */
static bool parse_vma_header(const char *line, vma *v)
{
    if (!isxdigit((unsigned char)line[0]))
        return false;
    unsigned long long s, e;
    char perms[8];
    int consumed = 0;
    if (sscanf(line, "%llx-%llx %7s %*s %*s %*s%n", &s, &e, perms, &consumed) != 3)
        return false;
    memset(v, 0, sizeof *v);
    v->start = s;
    v->end = e;
    memcpy(v->perms, perms, sizeof v->perms - 1);
    v->perms[sizeof v->perms - 1] = '\0';
    const char *p = line + consumed;
    while (*p == ' ' || *p == '\t')
        p++;
    size_t len = strcspn(p, "\n");
    if (len >= sizeof v->path)
        len = sizeof v->path - 1;
    memcpy(v->path, p, len);
    v->path[len] = '\0';
    return true;
}

static bool is_anon_vma(const vma *v)
{
    return v->path[0] == '\0' || !strncmp(v->path, "[anon", 5);
}

static lp_prof_kind kind_of(const vma *v)
{
    const char *p = v->path;
    if (is_anon_vma(v))
        return LP_PROF_KIND_ANON;
    if (!strcmp(p, "[heap]"))
        return LP_PROF_KIND_HEAP;
    if (!strncmp(p, "[stack", 6))
        return LP_PROF_KIND_STACK;
    if (!strncmp(p, "/dev/shm/", 9) || !strncmp(p, "/memfd:", 7) || !strncmp(p, "/SYSV", 5) ||
        !strncmp(p, "/dev/zero", 9))
        return LP_PROF_KIND_SHMEM;
    if (p[0] == '/')
        return LP_PROF_KIND_FILE;
    return LP_PROF_KIND_OTHER;
}

/* Heuristics from a VMA and its neighbours (prev/next may be NULL). */
static uint32_t heuristics_of(const vma *prev, const vma *v, const vma *next, lp_prof_kind kind)
{
    uint32_t h = 0;
    uint64_t size = v->end - v->start;
    if (kind == LP_PROF_KIND_ANON) {
        bool aligned = (v->start % ARENA_SIZE) == 0;
        uint64_t reservation = size;
        if (next && next->start == v->end && is_anon_vma(next) && !strncmp(next->perms, "---", 3))
            reservation += next->end - next->start;
        if (aligned && reservation == ARENA_SIZE)
            h |= LP_PROF_H_GLIBC_ARENA;
        else if (prev && prev->end == v->start && is_anon_vma(prev) &&
                 !strncmp(prev->perms, "---", 3) && prev->end - prev->start <= GUARD_MAX &&
                 v->perms[0] == 'r' && v->perms[1] == 'w')
            h |= LP_PROF_H_THREAD_STACK;
        else if (size >= LARGE_ALLOC_MIN)
            h |= LP_PROF_H_LARGE_ALLOC;
    }
    uint64_t shared = v->shared_clean + v->shared_dirty;
    if (kind != LP_PROF_KIND_FILE && kind != LP_PROF_KIND_SHMEM && v->anon > 0 &&
        shared >= COW_SHARED_MIN && v->rss * 5 >= v->pss * 6)
        h |= LP_PROF_H_COW_SHARED;
    return h;
}

static lp_status grow(lp_mem *mem, lp_prof_mapping **maps, size_t *cap, size_t want, lp_error *err)
{
    if (want <= *cap)
        return LP_OK;
    size_t ncap = *cap ? *cap * 2 : 64;
    while (ncap < want)
        ncap *= 2;
    void *p = lp_mem_realloc(mem, *maps, ncap * sizeof **maps, "profile mappings", err);
    if (!p)
        return LP_ERR_NOMEM;
    *maps = p;
    *cap = ncap;
    return LP_OK;
}

static void fill_mapping(lp_prof_mapping *m, const vma *v)
{
    m->size += v->end - v->start;
    m->rss += v->rss;
    m->pss += v->pss;
    m->anon += v->anon;
    m->swap += v->swap;
    m->private_bytes += v->private_clean + v->private_dirty;
    m->shared_bytes += v->shared_clean + v->shared_dirty;
    m->regions++;
    if (!m->start || v->start < m->start)
        m->start = v->start;
}

/* Adds the VMAs of one process: anonymous-like ones each on their own, files per path. */
static lp_status append_vmas(int pid, const char *comm, const vma *vs, size_t n, lp_mem *mem,
                             lp_prof_mapping **maps, size_t *count, size_t *cap, lp_error *err)
{
    size_t first = *count;
    for (size_t i = 0; i < n; i++) {
        const vma *v = &vs[i];
        if (v->rss == 0 && v->swap == 0)
            continue;  /* reservations, untouched regions: nothing to attribute */
        lp_prof_kind kind = kind_of(v);
        uint32_t h = heuristics_of(i ? &vs[i - 1] : NULL, v, i + 1 < n ? &vs[i + 1] : NULL, kind);
        if (h & LP_PROF_H_THREAD_STACK)
            kind = LP_PROF_KIND_STACK;
        lp_prof_mapping *m = NULL;
        if (kind == LP_PROF_KIND_FILE || kind == LP_PROF_KIND_SHMEM)
            for (size_t j = first; j < *count && !m; j++)
                if (!strcmp((*maps)[j].name, v->path))
                    m = &(*maps)[j];
        if (!m) {
            if (grow(mem, maps, cap, *count + 1, err) != LP_OK)
                return LP_ERR_NOMEM;
            m = &(*maps)[(*count)++];
            memset(m, 0, sizeof *m);
            m->pid = pid;
            snprintf(m->comm, sizeof m->comm, "%s", comm);
            snprintf(m->name, sizeof m->name, "%s", v->path[0] ? v->path : "[anon]");
            m->kind = kind;
        }
        m->heuristics |= h;
        fill_mapping(m, v);
    }
    return LP_OK;
}

lp_status lp_procfs_smaps(int pid, const char *comm, lp_mem *mem, lp_prof_mapping **maps,
                          size_t *count, size_t *cap, lp_error *err)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/smaps", pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return LP_OK;  /* gone, or not ours to read */
    vma *vs = NULL;
    size_t n = 0, vcap = 0;
    lp_status st = LP_OK;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        vma v;
        if (parse_vma_header(line, &v)) {
            if (n == vcap) {
                size_t ncap = vcap ? vcap * 2 : 256;
                vma *p = lp_mem_realloc(mem, vs, ncap * sizeof *vs, "smaps snapshot", err);
                if (!p) {
                    st = LP_ERR_NOMEM;
                    break;
                }
                vs = p;
                vcap = ncap;
            }
            vs[n++] = v;
        } else if (n) {
            scan_keys(line, smaps_keys, sizeof smaps_keys / sizeof smaps_keys[0], &vs[n - 1]);
        }
        if (!strchr(line, '\n')) {  /* a path longer than the buffer: skip the rest */
            int c;
            while ((c = fgetc(f)) != EOF && c != '\n') {
            }
        }
    }
    fclose(f);
    if (st == LP_OK)
        st = append_vmas(pid, comm, vs, n, mem, maps, count, cap, err);
    lp_mem_release(mem, vs);
    return st;
}
