/*
 * json_read.c - reading a profile JSON back (for `profile report` and `profile compare`).
 *
 * Jansson parses the whole document into its tree (a few times the file size), and the
 * run's arrays are filled from it and the tree freed before returning. Only schema
 * "leanpix-profile" version 1 is accepted; a missing optional field reads as 0, while a
 * wrong type in a required field (samples, processes) is an error naming the field.
 * Files over 2 GiB are refused before parsing (the tree would take several times that).
 */
#include "profile/profile.h"
#include "profile/profile_internal.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* A JSON real as a count: negatives read as 0, and reals past 2^64 (a hand-edited or
 * hostile file) as UINT64_MAX, since converting them would be undefined behaviour. */
static uint64_t real_u64(double d)
{
    return d > 0 ? d < 18446744073709551616.0 ? (uint64_t)d : UINT64_MAX : 0;
}

static uint64_t get_u64(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    if (json_is_integer(v))
        return json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v) : 0;
    if (json_is_real(v))
        return real_u64(json_real_value(v));
    return 0;
}

static double get_num(const json_t *obj, const char *key, double dflt)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_number(v) ? json_number_value(v) : dflt;
}

/* A number as an int: reals out of int's range (and NaN) read as dflt, since converting
 * them would be undefined behaviour too. */
static int get_int(const json_t *obj, const char *key, int dflt)
{
    double d = get_num(obj, key, dflt);
    return d >= INT_MIN && d <= INT_MAX ? (int)d : dflt;
}

static void get_str(const json_t *obj, const char *key, char *out, size_t size)
{
    const json_t *v = json_object_get(obj, key);
    snprintf(out, size, "%s", json_is_string(v) ? json_string_value(v) : "");
}

static void get_mem(const json_t *obj, lp_prof_mem *m)
{
    memset(m, 0, sizeof *m);
    if (!json_is_object(obj))
        return;
    for (size_t i = 0; i < LP_PROF_MEM_FIELDS; i++)
        lp_prof_mem_set(m, i, get_u64(obj, lp_prof_mem_fields[i].name));
}

static uint64_t array_u64(const json_t *arr, size_t i)
{
    const json_t *v = json_array_get(arr, i);
    if (json_is_integer(v) && json_integer_value(v) > 0)
        return (uint64_t)json_integer_value(v);
    if (json_is_real(v))
        return real_u64(json_real_value(v));
    return 0;
}

static void *alloc_array(lp_prof_run *run, size_t n, size_t elem, lp_error *err)
{
    if (n > SIZE_MAX / elem - 1)
        return (void)lp_error_set(err, LP_ERR_LIMITS, "array of %zu entries is too long", n), NULL;
    return lp_mem_calloc(run->mem, (n + 1) * elem, "profile read", err);
}

static lp_status read_processes(const json_t *root, lp_prof_run *run, lp_error *err)
{
    const json_t *arr = json_object_get(root, "processes");
    if (!json_is_array(arr))
        return lp_error_set(err, LP_ERR_CORRUPT, "\"processes\" is missing or not an array");
    size_t n = json_array_size(arr);
    if (!(run->procs = alloc_array(run, n, sizeof *run->procs, err)))
        return LP_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        const json_t *o = json_array_get(arr, i);
        if (!json_is_object(o))
            return lp_error_set(err, LP_ERR_CORRUPT, "process %zu is not an object", i);
        lp_prof_process *p = &run->procs[i];
        p->pid = (int)get_u64(o, "pid");
        p->ppid = (int)get_u64(o, "ppid");
        get_str(o, "comm", p->comm, sizeof p->comm);
        get_str(o, "cmdline", p->cmdline, sizeof p->cmdline);
        p->first_t = get_num(o, "first_t", 0);
        p->last_t = get_num(o, "last_t", 0);
        p->exited = json_is_true(json_object_get(o, "exited"));
        p->peak_rss = get_u64(o, "peak_rss");
        p->peak_pss = get_u64(o, "peak_pss");
        p->hwm = get_u64(o, "hwm");
        p->minflt = get_u64(o, "minflt");
        p->majflt = get_u64(o, "majflt");
        p->cpu_s = get_num(o, "cpu_s", 0);
    }
    run->nprocs = n;
    return LP_OK;
}

static size_t count_proc_rows(const json_t *samples)
{
    size_t total = 0;
    for (size_t i = 0; i < json_array_size(samples); i++)
        total += json_array_size(json_object_get(json_array_get(samples, i), "processes"));
    return total;
}

static void read_proc_row(const json_t *row, lp_prof_proc_sample *p)
{
    size_t k = 0;
    p->proc = (uint32_t)array_u64(row, k++);
    for (size_t f = 0; f < LP_PROF_MEM_FIELDS; f++)
        lp_prof_mem_set(&p->mem, f, array_u64(row, k++));
    p->hwm = array_u64(row, k++);
    p->minflt = array_u64(row, k++);
    p->majflt = array_u64(row, k++);
    p->threads = (uint32_t)array_u64(row, k++);
    const json_t *cpu = json_array_get(row, k);
    p->cpu_s = json_is_number(cpu) ? json_number_value(cpu) : 0;
}

static lp_status read_samples(const json_t *root, lp_prof_run *run, lp_error *err)
{
    const json_t *arr = json_object_get(root, "samples");
    if (!json_is_array(arr))
        return lp_error_set(err, LP_ERR_CORRUPT, "\"samples\" is missing or not an array");
    size_t n = json_array_size(arr), rows = count_proc_rows(arr);
    if (!(run->samples = alloc_array(run, n, sizeof *run->samples, err)) ||
        !(run->proc_samples = alloc_array(run, rows, sizeof *run->proc_samples, err)))
        return LP_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        const json_t *o = json_array_get(arr, i);
        if (!json_is_object(o))
            return lp_error_set(err, LP_ERR_CORRUPT, "sample %zu is not an object", i);
        lp_prof_sample *s = &run->samples[i];
        s->t = get_num(o, "t", 0);
        get_mem(json_object_get(o, "tree"), &s->tree);
        s->minflt = get_u64(o, "minflt");
        s->majflt = get_u64(o, "majflt");
        s->minflt_rate = get_num(o, "minflt_rate", 0);
        s->majflt_rate = get_num(o, "majflt_rate", 0);
        s->procs = (uint32_t)get_u64(o, "procs");
        s->threads = (uint32_t)get_u64(o, "threads");
        s->pss_estimated = (uint32_t)get_u64(o, "pss_estimated");
        s->cpu_s = get_num(o, "cpu_s", 0);
        s->sys_majflt = get_u64(o, "sys_majflt");
        s->sys_pswpin = get_u64(o, "sys_pswpin");
        s->sys_pswpout = get_u64(o, "sys_pswpout");
        s->psi_some_avg10 = get_num(o, "psi_some_avg10", -1);
        s->psi_full_avg10 = get_num(o, "psi_full_avg10", -1);
        const json_t *procs = json_object_get(o, "processes");
        s->first = run->nproc_samples;
        for (size_t j = 0; j < json_array_size(procs); j++) {
            lp_prof_proc_sample *p = &run->proc_samples[run->nproc_samples];
            read_proc_row(json_array_get(procs, j), p);
            if (p->proc >= run->nprocs)
                return lp_error_set(err, LP_ERR_CORRUPT,
                                    "sample %zu names process %u of %zu", i, p->proc, run->nprocs);
            run->nproc_samples++;
        }
        s->count = run->nproc_samples - s->first;
    }
    run->nsamples = n;
    return LP_OK;
}

static uint32_t heuristic_flags(const json_t *arr)
{
    uint32_t flags = 0;
    for (size_t i = 0; i < json_array_size(arr); i++) {
        const char *name = json_string_value(json_array_get(arr, i));
        for (int h = 0; name && h < LP_PROF_H_COUNT; h++)
            if (!strcmp(name, lp_prof_heuristic_name(1u << h)))
                flags |= 1u << h;
    }
    return flags;
}

static lp_status read_snapshot(const json_t *root, lp_prof_run *run, lp_error *err)
{
    const json_t *o = json_object_get(root, "peak_snapshot");
    run->peak.t = get_num(o, "t", -1);
    run->peak.taken = (uint32_t)get_u64(o, "taken");
    get_mem(json_object_get(o, "tree"), &run->peak.tree);
    const json_t *arr = json_object_get(o, "mappings");
    size_t n = json_array_size(arr);
    if (!(run->peak.maps = alloc_array(run, n, sizeof *run->peak.maps, err)))
        return LP_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        const json_t *m = json_array_get(arr, i);
        lp_prof_mapping *p = &run->peak.maps[i];
        p->pid = (int)get_u64(m, "pid");
        get_str(m, "comm", p->comm, sizeof p->comm);
        get_str(m, "name", p->name, sizeof p->name);
        char kind[16];
        get_str(m, "kind", kind, sizeof kind);
        p->kind = LP_PROF_KIND_OTHER;
        for (int k = 0; k < LP_PROF_KIND_COUNT; k++)
            if (!strcmp(kind, lp_prof_kind_name((lp_prof_kind)k)))
                p->kind = (lp_prof_kind)k;
        p->heuristics = heuristic_flags(json_object_get(m, "heuristics"));
        p->regions = (uint32_t)get_u64(m, "regions");
        char start[32];
        get_str(m, "start", start, sizeof start);
        p->start = strtoull(start, NULL, 16);
        p->size = get_u64(m, "size");
        p->rss = get_u64(m, "rss");
        p->pss = get_u64(m, "pss");
        p->anon = get_u64(m, "anon");
        p->swap = get_u64(m, "swap");
        p->private_bytes = get_u64(m, "private");
        p->shared_bytes = get_u64(m, "shared");
    }
    run->peak.count = n;
    return LP_OK;
}

/* Sample indices of the peaks, as written (recomputed when absent or out of range). */
static void read_peaks(const json_t *root, lp_prof_run *run)
{
    const json_t *summary = json_object_get(root, "summary");
    size_t p = (size_t)get_u64(json_object_get(summary, "peak"), "sample");
    size_t r = (size_t)get_u64(json_object_get(summary, "peak_rss"), "sample");
    if (p >= run->nsamples || r >= run->nsamples) {
        p = r = 0;
        for (size_t i = 0; i < run->nsamples; i++) {
            if (run->samples[i].tree.pss > run->samples[p].tree.pss)
                p = i;
            if (run->samples[i].tree.rss > run->samples[r].tree.rss)
                r = i;
        }
    }
    run->peak_sample = p;
    run->peak_rss_sample = r;
}

static lp_status read_root(const json_t *root, lp_prof_run *run, lp_error *err)
{
    const json_t *schema = json_object_get(root, "schema");
    if (!json_is_string(schema) || strcmp(json_string_value(schema), LP_PROF_SCHEMA_NAME))
        return lp_error_set(err, LP_ERR_UNSUPPORTED, "not a leanpix profile (no \"schema\": \"%s\")",
                            LP_PROF_SCHEMA_NAME);
    run->schema_version = (int)get_u64(root, "schema_version");
    if (run->schema_version != LP_PROF_SCHEMA_VERSION)
        return lp_error_set(err, LP_ERR_UNSUPPORTED, "profile schema version %d (this leanpix reads %d)",
                            run->schema_version, LP_PROF_SCHEMA_VERSION);
    get_str(root, "command", run->command, sizeof run->command);
    get_str(root, "started", run->started, sizeof run->started);
    get_str(root, "host", run->host, sizeof run->host);
    get_str(root, "kernel", run->kernel, sizeof run->kernel);
    run->root_pid = (int)get_u64(root, "root_pid");
    run->attached = json_is_true(json_object_get(root, "attached"));
    run->exit_status = get_int(root, "exit_status", -1);
    run->interval_s = get_num(root, "interval_s", 0);
    run->wall_s = get_num(root, "wall_s", 0);
    run->profiler_cpu_s = get_num(root, "profiler_cpu_s", 0);
    run->snapshot_cpu_s = get_num(root, "snapshot_cpu_s", 0);
    run->pss_walks_redone = get_u64(root, "pss_walks_redone");
    lp_status st = read_processes(root, run, err);
    if (st == LP_OK)
        st = read_samples(root, run, err);
    if (st == LP_OK)
        st = read_snapshot(root, run, err);
    if (st == LP_OK)
        read_peaks(root, run);
    return st;
}

#define JSON_MAX_BYTES (2ull << 30)  /* the parsed tree takes several times the file */

lp_status lp_prof_read_json(const char *path, lp_mem *mem, lp_prof_run **out, lp_error *err)
{
    *out = NULL;
    struct stat sb;
    if (stat(path, &sb) != 0)
        return lp_error_set(err, LP_ERR_IO, "cannot open: %s", strerror(errno));
    if (!S_ISREG(sb.st_mode))
        return lp_error_set(err, LP_ERR_INVALID_ARG, "not a regular file");
    if ((uint64_t)sb.st_size > JSON_MAX_BYTES)
        return lp_error_set(err, LP_ERR_LIMITS, "record of %lld bytes is over the %llu-byte limit",
                            (long long)sb.st_size, JSON_MAX_BYTES);
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        FILE *probe = fopen(path, "rb");
        if (!probe)
            return lp_error_set(err, LP_ERR_IO, "cannot open: %s", strerror(errno));
        fclose(probe);
        return lp_error_set(err, LP_ERR_CORRUPT, "invalid JSON at line %d: %s", jerr.line, jerr.text);
    }
    lp_status st;
    lp_prof_run *run = lp_mem_calloc(mem, sizeof *run, "profile run", err);
    if (!run) {
        st = LP_ERR_NOMEM;
    } else {
        run->mem = mem;
        st = json_is_object(root) ? read_root(root, run, err)
                                  : lp_error_set(err, LP_ERR_CORRUPT, "not a JSON object");
    }
    json_decref(root);
    if (st != LP_OK) {
        lp_prof_run_free(run);
        return st;
    }
    *out = run;
    return LP_OK;
}
