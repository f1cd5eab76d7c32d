/*
 * run.c - the recorded run: names, freeing, and saving in one of the three formats.
 *
 * Saving streams the writers' fprintf output through a stdio cookie into an lp_output
 * (a temp file, fsync'ed and renamed over the name only when everything was written), so
 * that an interrupted or failed save never leaves a half-written report under the final
 * name, and no copy of the output is held in memory (only stdio's buffer).
 */
#define _GNU_SOURCE
#include "profile/profile.h"
#include "leanpix/io.h"
#include "profile/profile_internal.h"

#include <stdlib.h>
#include <string.h>

const lp_prof_mem_field lp_prof_mem_fields[LP_PROF_MEM_FIELDS] = {
    {"rss", offsetof(lp_prof_mem, rss)},
    {"rss_anon", offsetof(lp_prof_mem, rss_anon)},
    {"rss_file", offsetof(lp_prof_mem, rss_file)},
    {"rss_shmem", offsetof(lp_prof_mem, rss_shmem)},
    {"pss", offsetof(lp_prof_mem, pss)},
    {"pss_anon", offsetof(lp_prof_mem, pss_anon)},
    {"pss_file", offsetof(lp_prof_mem, pss_file)},
    {"pss_shmem", offsetof(lp_prof_mem, pss_shmem)},
    {"anonymous", offsetof(lp_prof_mem, anonymous)},
    {"swap", offsetof(lp_prof_mem, swap)},
    {"swap_pss", offsetof(lp_prof_mem, swap_pss)},
};

uint64_t lp_prof_mem_get(const lp_prof_mem *m, size_t field)
{
    uint64_t v;
    memcpy(&v, (const char *)m + lp_prof_mem_fields[field].offset, sizeof v);
    return v;
}

void lp_prof_mem_set(lp_prof_mem *m, size_t field, uint64_t v)
{
    memcpy((char *)m + lp_prof_mem_fields[field].offset, &v, sizeof v);
}

static const char *const kind_names[LP_PROF_KIND_COUNT] = {
    [LP_PROF_KIND_FILE] = "file",   [LP_PROF_KIND_HEAP] = "heap",   [LP_PROF_KIND_STACK] = "stack",
    [LP_PROF_KIND_ANON] = "anon",   [LP_PROF_KIND_SHMEM] = "shmem", [LP_PROF_KIND_OTHER] = "other",
};

const char *lp_prof_kind_name(lp_prof_kind kind)
{
    return (unsigned)kind < LP_PROF_KIND_COUNT ? kind_names[kind] : "other";
}

static const struct {
    const char *name, *text;
} heuristic_info[LP_PROF_H_COUNT] = {
    {"glibc-arena", "anonymous region at a 64 MB boundary inside a 64 MB reservation: a glibc "
                    "per-thread malloc arena (freed memory stays here; try MALLOC_ARENA_MAX)"},
    {"large-allocation", "one large anonymous mapping: a single big allocation (malloc above "
                         "the mmap threshold, or an explicit mmap)"},
    {"cow-shared", "anonymous pages shared copy-on-write after fork: RSS well above PSS, "
                   "summing RSS over processes would count them twice"},
    {"thread-stack", "anonymous region right after a guard page: a thread's stack"},
};

const char *lp_prof_heuristic_name(uint32_t flag)
{
    for (int i = 0; i < LP_PROF_H_COUNT; i++)
        if (flag == 1u << i)
            return heuristic_info[i].name;
    return "unknown";
}

const char *lp_prof_heuristic_text(uint32_t flag)
{
    for (int i = 0; i < LP_PROF_H_COUNT; i++)
        if (flag == 1u << i)
            return heuristic_info[i].text;
    return "";
}

void lp_prof_run_free(lp_prof_run *run)
{
    if (!run)
        return;
    lp_mem *mem = run->mem;
    lp_mem_release(mem, run->samples);
    lp_mem_release(mem, run->proc_samples);
    lp_mem_release(mem, run->procs);
    lp_mem_release(mem, run->peak.maps);
    lp_mem_release(mem, run);
}

void lp_prof_run_totals(const lp_prof_run *run, lp_prof_totals *t)
{
    memset(t, 0, sizeof *t);
    if (!run->nsamples)
        return;
    const lp_prof_sample *last = &run->samples[run->nsamples - 1];
    t->minflt = last->minflt;
    t->majflt = last->majflt;
    t->sys_majflt = last->sys_majflt;
    t->sys_pswpin = last->sys_pswpin;
    t->sys_pswpout = last->sys_pswpout;
    for (size_t i = 0; i < run->nsamples; i++)
        if (run->samples[i].tree.swap > t->swap_max)
            t->swap_max = run->samples[i].tree.swap;
    for (size_t i = 0; i < run->nprocs; i++) {
        if (run->procs[i].hwm > t->max_hwm)
            t->max_hwm = run->procs[i].hwm;
    }
    /* an exited process's final counters may be newer than the last sample */
    uint64_t minflt = 0, majflt = 0;
    for (size_t i = 0; i < run->nprocs; i++) {
        minflt += run->procs[i].minflt;
        majflt += run->procs[i].majflt;
    }
    if (minflt > t->minflt)
        t->minflt = minflt;
    if (majflt > t->majflt)
        t->majflt = majflt;
}

typedef struct output_cookie {
    lp_output *out;
    lp_error *err;
} output_cookie;

/* stdio -> lp_output: the writers use fprintf, the file is still written atomically. */
static ssize_t cookie_write(void *cookie, const char *buf, size_t size)
{
    output_cookie *c = cookie;
    return lp_output_write(c->out, buf, size, c->err) == LP_OK ? (ssize_t)size : -1;
}

lp_status lp_prof_save(const lp_prof_run *const *runs, size_t nruns, lp_prof_format format,
                       const char *path, lp_error *err)
{
    if ((format == LP_PROF_JSON || format == LP_PROF_CSV) && nruns != 1)
        return lp_error_set(err, LP_ERR_INVALID_ARG, "JSON and CSV hold one run");
    lp_output *out = NULL;
    lp_status st = lp_output_open_file(&out, path, err);
    if (st)
        return st;
    output_cookie c = {out, err};
    FILE *f = fopencookie(&c, "w", (cookie_io_functions_t){.write = cookie_write});
    if (!f) {
        lp_output_close(out);
        return lp_error_set(err, LP_ERR_NOMEM, "cannot open an output stream");
    }
    if (format == LP_PROF_JSON)
        st = lp_prof_write_json(runs[0], f, err);
    else if (format == LP_PROF_CSV)
        st = lp_prof_write_csv(runs[0], f, err);
    else
        st = lp_prof_write_html(runs, nruns, f, err);
    if (fclose(f) != 0 && st == LP_OK)
        st = lp_error_set(err, LP_ERR_IO, "cannot write the output");
    if (st == LP_OK)
        st = lp_output_commit(out, err);
    lp_output_close(out);
    return st;
}
