/*
 * machine.c - the memory and CPUs this process may use, and the default budgets derived
 * from them (see leanpix/machine.h).
 *
 * Finding a cgroup's files takes two /proc files: /proc/self/cgroup names our group in
 * each hierarchy ("4:memory:/a/b" for v1, "0::/a/b" for v2), /proc/self/mountinfo says
 * where each hierarchy is mounted and which of its groups is the mount's root (inside a
 * container the mount root is the container's group and our path may be "/"). Our group's
 * directory is mount point + (path minus mount root); from there we walk up to the mount
 * point reading the limit files, keeping the lowest: a parent's limit binds its children.
 * cgroup v1's memory.stat also gives hierarchical_memory_limit, which covers ancestors
 * above the mount root that a container cannot see.
 *
 * Every file is read whole into a small buffer and parsed strictly: a missing file, an
 * unknown word, a negative or overflowing number all mean "no limit here", never a wrong
 * limit and never a crash.
 */
#define _GNU_SOURCE 1 /* sched_getaffinity, CPU_COUNT */
#include "leanpix/machine.h"

#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MIB (1ull << 20)
/* v1 writes "no limit" as LONG_MAX rounded to pages; anything this large is no limit. */
#define NO_LIMIT_FROM (1ull << 62)

typedef struct hierarchy {
    int version;                     /* 1 or 2 */
    char dir[LP_MACHINE_PATH_MAX];   /* our group's directory */
    size_t mount_len;                /* strlen of the mount point: where the walk stops */
} hierarchy;

/* ---- reading files defensively ---- */

static bool join(char *out, size_t size, const char *a, const char *b)
{
    int n = snprintf(out, size, "%s%s", a, b);
    return n >= 0 && (size_t)n < size;
}

/* Reads at most size-1 bytes of root+path into buf; false if missing or empty. */
static bool read_small(const char *root, const char *path, char *buf, size_t size)
{
    char full[LP_MACHINE_PATH_MAX * 2];
    if (!join(full, sizeof full, root, path))
        return false;
    FILE *f = fopen(full, "re");
    if (!f)
        return false;
    size_t n = fread(buf, 1, size - 1, f);
    fclose(f);
    buf[n] = 0;
    return n > 0;
}

/* A whole decimal number (surrounding spaces allowed) without overflow. */
static bool parse_u64(const char *s, const char **end, uint64_t *out)
{
    while (*s == ' ' || *s == '\t')
        s++;
    if (*s < '0' || *s > '9')
        return false;
    uint64_t v = 0;
    for (; *s >= '0' && *s <= '9'; s++) {
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    if (end)
        *end = s;
    return true;
}

static bool only_space(const char *s)
{
    for (; *s; s++)
        if (*s != ' ' && *s != '\n' && *s != '\t' && *s != '\r')
            return false;
    return true;
}

/* A limit file holding one number or "max": true with the limit, false for no limit. */
static bool read_limit(const char *root, const char *file, uint64_t *out)
{
    char buf[64];
    const char *end;
    if (!read_small(root, file, buf, sizeof buf) || !parse_u64(buf, &end, out) || !only_space(end))
        return false;
    return *out > 0 && *out < NO_LIMIT_FROM;
}

/* "key value" lines (memory.stat): the value of key. */
static bool read_keyed(const char *root, const char *file, const char *key, uint64_t *out)
{
    char buf[8192];
    if (!read_small(root, file, buf, sizeof buf))
        return false;
    size_t klen = strlen(key);
    for (char *line = buf; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        const char *end;
        if (strncmp(line, key, klen) == 0 && line[klen] == ' ' && parse_u64(line + klen, &end, out) &&
            (*end == '\n' || *end == 0))
            return *out > 0 && *out < NO_LIMIT_FROM;
    }
    return false;
}

/* ---- finding our groups ---- */

/* Whether the comma-separated list has word. */
static bool has_word(const char *list, size_t len, const char *word)
{
    size_t wlen = strlen(word);
    for (size_t i = 0; i < len;) {
        size_t j = i;
        while (j < len && list[j] != ',')
            j++;
        if (j - i == wlen && memcmp(list + i, word, wlen) == 0)
            return true;
        i = j + 1;
    }
    return false;
}

/* Our group's path in the hierarchy with the controller (v1) or the v2 one (controller
 * NULL), from /proc/self/cgroup. */
static bool own_group(const char *cgroup_file, const char *controller, char *path, size_t size)
{
    for (const char *line = cgroup_file; *line;) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        const char *c1 = memchr(line, ':', len);
        const char *c2 = c1 ? memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - line)) : NULL;
        if (c2) {
            size_t clen = (size_t)(c2 - c1 - 1);
            bool match = controller ? has_word(c1 + 1, clen, controller)
                                    : clen == 0 && c1 - line == 1 && line[0] == '0';
            size_t plen = len - (size_t)(c2 + 1 - line);
            if (match && plen > 0 && c2[1] == '/' && plen < size) {
                memcpy(path, c2 + 1, plen);
                path[plen] = 0;
                return true;
            }
        }
        line += nl ? len + 1 : len;
    }
    return false;
}

/* Copies a mountinfo field, decoding its octal escapes (\040 for a space). */
static bool copy_field(const char *s, size_t len, char *out, size_t size)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '\\' && i + 3 < len && s[i + 1] >= '0' && s[i + 1] <= '3' && s[i + 2] >= '0' && s[i + 2] <= '7' &&
            s[i + 3] >= '0' && s[i + 3] <= '7') {
            c = (char)((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
            i += 3;
        }
        if (o + 1 >= size || c == 0)
            return false;
        out[o++] = c;
    }
    out[o] = 0;
    return true;
}

/* Splits a mountinfo line into fields; returns the count (at most max). */
static int split_fields(const char *line, size_t len, const char **f, size_t *flen, int max)
{
    int n = 0;
    size_t i = 0;
    while (i < len && n < max) {
        while (i < len && line[i] == ' ')
            i++;
        if (i == len)
            break;
        size_t j = i;
        while (j < len && line[j] != ' ')
            j++;
        f[n] = line + i;
        flen[n++] = j - i;
        i = j;
    }
    return n;
}

/* Finds the mount of the hierarchy (fstype "cgroup" with the controller among its super
 * options, or "cgroup2") and makes h->dir from it and our group path. */
static bool locate(const char *mountinfo, const char *controller, const char *group, hierarchy *h)
{
    for (const char *line = mountinfo; *line;) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        const char *f[32];
        size_t fl[32];
        int n = split_fields(line, len, f, fl, 32);
        line += nl ? len + 1 : len;
        int dash = -1;
        for (int i = 6; i < n; i++)
            if (fl[i] == 1 && f[i][0] == '-') {
                dash = i;
                break;
            }
        if (dash < 0 || dash + 3 >= n)
            continue;
        const char *fstype = f[dash + 1];
        size_t ftlen = fl[dash + 1];
        bool v2 = ftlen == 7 && memcmp(fstype, "cgroup2", 7) == 0;
        bool v1 = ftlen == 6 && memcmp(fstype, "cgroup", 6) == 0;
        if (controller ? !(v1 && has_word(f[dash + 3], fl[dash + 3], controller)) : !v2)
            continue;
        char mroot[LP_MACHINE_PATH_MAX], mpoint[LP_MACHINE_PATH_MAX];
        if (!copy_field(f[3], fl[3], mroot, sizeof mroot) ||
            !copy_field(f[4], fl[4], mpoint, sizeof mpoint))
            continue;
        /* our path relative to the mount's root; when the mount's root is not above our
         * group (a namespaced container shows "/"), the mount root is our group's view */
        size_t rlen = strlen(mroot);
        const char *rel = "";
        if (strcmp(mroot, "/") == 0)
            rel = group;
        else if (strncmp(group, mroot, rlen) == 0 && (group[rlen] == '/' || group[rlen] == 0))
            rel = group + rlen;
        if (strcmp(rel, "/") == 0)
            rel = "";
        /* h->dir is the path as the process sees it; root is added when reading */
        if (!join(h->dir, sizeof h->dir, mpoint, rel))
            continue;
        h->mount_len = strlen(mpoint);
        h->version = controller ? 1 : 2;
        return true;
    }
    return false;
}

/* Cuts the last component of dir; false once at the mount point. */
static bool go_up(hierarchy *h)
{
    size_t len = strlen(h->dir);
    if (len <= h->mount_len)
        return false;
    char *slash = strrchr(h->dir, '/');
    if (!slash || (size_t)(slash - h->dir) < h->mount_len)
        return false;
    *slash = 0;
    return true;
}

/* ---- limits ---- */

static void keep_lower_mem(lp_machine *m, const hierarchy *h, const char *name, uint64_t v)
{
    if (m->cgroup_mem && m->cgroup_mem <= v)
        return;
    m->cgroup_mem = v;
    m->cgroup_mem_version = h->version;
    snprintf(m->cgroup_mem_file, sizeof m->cgroup_mem_file, "%s/%s", h->dir, name);
}

static void memory_limits(lp_machine *m, const char *root, hierarchy h)
{
    uint64_t v;
    char file[LP_MACHINE_PATH_MAX + 32];
    /* v1's effective limit (memory.stat) includes ancestors above the mount root; it is
     * read last so that an equal limit_in_bytes, which names the group setting it, is the
     * one reported */
    const hierarchy leaf = h;
    static const char *const v1[] = {"memory.limit_in_bytes", NULL};
    static const char *const v2[] = {"memory.max", "memory.high", NULL};
    do {
        for (const char *const *name = h.version == 1 ? v1 : v2; *name; name++)
            if (snprintf(file, sizeof file, "%s/%s", h.dir, *name) > 0 && read_limit(root, file, &v))
                keep_lower_mem(m, &h, *name, v);
    } while (go_up(&h));
    if (leaf.version == 1 && snprintf(file, sizeof file, "%s/memory.stat", leaf.dir) > 0 &&
        read_keyed(root, file, "hierarchical_memory_limit", &v))
        keep_lower_mem(m, &leaf, "memory.stat", v);
}

/* cpu.max ("max 100000" or "150000 100000") or cfs_quota_us/cfs_period_us, in CPUs. */
static bool cpu_quota_here(const char *root, const hierarchy *h, double *cpus)
{
    char file[LP_MACHINE_PATH_MAX + 32], buf[64];
    uint64_t quota, period;
    const char *end;
    if (h->version == 2) {
        snprintf(file, sizeof file, "%s/cpu.max", h->dir);
        if (!read_small(root, file, buf, sizeof buf) || !parse_u64(buf, &end, &quota) ||
            *end != ' ' || !parse_u64(end, &end, &period) || !only_space(end))
            return false;
    } else {
        snprintf(file, sizeof file, "%s/cpu.cfs_quota_us", h->dir);
        if (!read_limit(root, file, &quota))
            return false;  /* "-1": no quota */
        snprintf(file, sizeof file, "%s/cpu.cfs_period_us", h->dir);
        if (!read_limit(root, file, &period))
            return false;
    }
    if (!quota || !period)
        return false;
    *cpus = (double)quota / (double)period;
    return true;
}

static void cpu_limits(lp_machine *m, const char *root, hierarchy h)
{
    do {
        double cpus;
        if (cpu_quota_here(root, &h, &cpus) && (!m->cgroup_cpus || cpus < m->cgroup_cpus)) {
            m->cgroup_cpus = cpus;
            m->cgroup_cpu_version = h.version;
            snprintf(m->cgroup_cpu_file, sizeof m->cgroup_cpu_file, "%s/%s", h.dir,
                     h.version == 2 ? "cpu.max" : "cpu.cfs_quota_us");
        }
    } while (go_up(&h));
}

/* v1's memory hierarchy always has the controller; a v2 group has it when its
 * cgroup.controllers lists "memory". */
static bool offers_memory(const char *root, const hierarchy *h)
{
    char file[LP_MACHINE_PATH_MAX + 32], buf[512];
    if (h->version == 1)
        return true;
    snprintf(file, sizeof file, "%s/cgroup.controllers", h->dir);
    if (!read_small(root, file, buf, sizeof buf))
        return false;
    char *save = NULL;
    for (char *w = strtok_r(buf, " \n", &save); w; w = strtok_r(NULL, " \n", &save))
        if (strcmp(w, "memory") == 0)
            return true;
    return false;
}

/* "MemTotal:   24683572 kB", the first line of /proc/meminfo */
static uint64_t ram_bytes(const char *root)
{
    char buf[4096];
    uint64_t kib;
    const char *end;
    if (read_small(root, "/proc/meminfo", buf, sizeof buf) && strncmp(buf, "MemTotal:", 9) == 0 &&
        parse_u64(buf + 9, &end, &kib) && strncmp(end, " kB", 3) == 0 && kib < (UINT64_MAX >> 10))
        return kib * 1024;
    return 0;
}

static unsigned affinity_count(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return (unsigned)CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 0;
}

void lp_machine_read_at(lp_machine *m, const char *root, unsigned affinity_cpus)
{
    memset(m, 0, sizeof *m);
    root = root ? root : "";
    m->ram = ram_bytes(root);
    m->affinity_cpus = affinity_cpus ? affinity_cpus : affinity_count();

    enum { CGROUP_MAX = 8192, MOUNTINFO_MAX = 256 << 10 };  /* too big for a thread's stack */
    char *cg = malloc(CGROUP_MAX), *mi = malloc(MOUNTINFO_MAX);
    if (cg && mi && read_small(root, "/proc/self/cgroup", cg, CGROUP_MAX) &&
        read_small(root, "/proc/self/mountinfo", mi, MOUNTINFO_MAX)) {
        static const char *const controllers[] = {"memory", "cpu", NULL};
        char group[LP_MACHINE_PATH_MAX];
        hierarchy h;
        for (int v2 = 0; v2 <= 1; v2++)
            for (int c = 0; controllers[c]; c++) {
                const char *ctl = v2 ? NULL : controllers[c];
                if (!own_group(cg, ctl, group, sizeof group) || !locate(mi, ctl, group, &h))
                    continue;
                if (c == 0 && !m->memory_group_version && offers_memory(root, &h)) {
                    memcpy(m->memory_group, h.dir, sizeof m->memory_group);
                    m->memory_group_version = h.version;
                }
                if (c == 0)
                    memory_limits(m, root, h);
                else
                    cpu_limits(m, root, h);
            }
    }
    free(cg);
    free(mi);

    m->mem = m->ram;
    if (m->cgroup_mem && (!m->mem || m->cgroup_mem < m->mem))
        m->mem = m->cgroup_mem;
    m->cpus = m->affinity_cpus ? m->affinity_cpus : 1;
    if (m->cgroup_cpus > 0) {
        double q = m->cgroup_cpus;
        unsigned quota = q >= 4096 ? 4096 : (unsigned)q + ((double)(unsigned)q < q);
        if (quota < 1)
            quota = 1;
        if (quota < m->cpus)
            m->cpus = quota;
    }
}

void lp_machine_read(lp_machine *m)
{
    lp_machine_read_at(m, "", 0);
}

/* ---- describing and deriving ---- */

static void format_size(char *buf, size_t size, uint64_t bytes)
{
    if (bytes >= (8ull << 30))
        snprintf(buf, size, "%.1f GiB", bytes / (double)(1ull << 30));
    else
        snprintf(buf, size, "%llu MiB", (unsigned long long)(bytes / MIB));
}

static bool cgroup_binds(const lp_machine *m)
{
    return m->cgroup_mem && (!m->ram || m->cgroup_mem < m->ram);
}

void lp_machine_describe_mem(const lp_machine *m, char *buf, size_t size)
{
    char s[32];
    if (cgroup_binds(m)) {
        const char *file = strrchr(m->cgroup_mem_file, '/');
        format_size(s, sizeof s, m->cgroup_mem);
        snprintf(buf, size, "cgroup v%d %s%s %s at %.*s", m->cgroup_mem_version,
                 file ? file + 1 : m->cgroup_mem_file,
                 file && strcmp(file + 1, "memory.stat") == 0 ? " hierarchical_memory_limit" : "", s,
                 file ? (int)(file - m->cgroup_mem_file) : 0, m->cgroup_mem_file);
    } else if (m->ram) {
        format_size(s, sizeof s, m->ram);
        snprintf(buf, size, "RAM %s (no lower cgroup memory limit)", s);
    } else {
        snprintf(buf, size, "memory size unknown");
    }
}

void lp_budget_default(const lp_machine *m, lp_budget_kind kind, uint64_t cap, lp_budget *out)
{
    const uint64_t floor = 8 * MIB, baseline = (uint64_t)LP_DEFAULT_BASELINE_MIB * MIB;
    char source[LP_BUDGET_WHY_MAX / 2], size[32];
    lp_machine_describe_mem(m, source, sizeof source);
    unsigned share = cgroup_binds(m) ? LP_DEFAULT_CGROUP_SHARE : LP_DEFAULT_RAM_SHARE;
    uint64_t available = m->mem / 100 * share + m->mem % 100 * share / 100;
    uint64_t b = available;
    char how[96];
    snprintf(how, sizeof how, "%u%%", share);
    if (kind != LP_BUDGET_BATCH) {
        b = available > baseline ? available - baseline : 0;
        snprintf(how, sizeof how, "%u%% minus %d MiB baseline", share, LP_DEFAULT_BASELINE_MIB);
    }
    if (b < floor)
        b = floor;
    if (!m->mem) {
        out->bytes = cap;
        if (cap)
            format_size(size, sizeof size, cap);
        snprintf(out->why, sizeof out->why, cap ? "%s: the default (%s)" : "none (%s)",
                 cap ? size : source, source);
        return;
    }
    if (kind == LP_BUDGET_SERVE && cap && cap <= b) {
        out->bytes = cap;
        format_size(size, sizeof size, cap);
        snprintf(out->why, sizeof out->why, "%s: the default (%s allows more)", size, source);
        return;
    }
    out->bytes = b;
    format_size(size, sizeof size, b);
    snprintf(out->why, sizeof out->why, "%s: %s; %s%s", size, source, how,
             kind == LP_BUDGET_SERVE && cap ? ", below the default" : "");
}

unsigned lp_default_workers(const lp_machine *m, unsigned wanted)
{
    unsigned cpus = m->cpus ? m->cpus : 1;
    return wanted && wanted < cpus ? wanted : cpus;
}
