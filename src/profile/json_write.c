/*
 * json_write.c - the run as JSON, schema "leanpix-profile" version 1
 * (docs/profile-schema.md).
 *
 * Streams with fprintf: nothing is built in memory, so writing a long run costs no more
 * than the run itself. Per-process rows of each sample are arrays whose column names are
 * given once in "process_sample_fields", which keeps a long recording about half the
 * size of keyed objects.
 */
#include "profile/profile.h"
#include "profile/profile_internal.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "core/json.h"

/* names from /proc may be missing: the schema has strings, so "" then */
static void json_str(FILE *f, const char *s)
{
    lp_json_string(f, s ? s : "");
}

static void json_num(FILE *f, double v)
{
    if (!isfinite(v))
        v = -1;
    fprintf(f, "%.6g", v);
}

static void json_mem(FILE *f, const lp_prof_mem *m)
{
    fputc('{', f);
    for (size_t i = 0; i < LP_PROF_MEM_FIELDS; i++)
        fprintf(f, "%s\"%s\":%" PRIu64, i ? "," : "", lp_prof_mem_fields[i].name,
                lp_prof_mem_get(m, i));
    fputc('}', f);
}

static void write_summary(FILE *f, const lp_prof_run *run)
{
    lp_prof_totals tot;
    lp_prof_run_totals(run, &tot);
    fprintf(f, "\"summary\":{");
    if (run->nsamples) {
        const lp_prof_sample *p = &run->samples[run->peak_sample];
        const lp_prof_sample *r = &run->samples[run->peak_rss_sample];
        fprintf(f, "\"peak\":{\"t\":");
        json_num(f, p->t);
        fprintf(f, ",\"sample\":%zu,\"tree\":", run->peak_sample);
        json_mem(f, &p->tree);
        fprintf(f, "},\"peak_rss\":{\"t\":");
        json_num(f, r->t);
        fprintf(f, ",\"sample\":%zu,\"tree\":", run->peak_rss_sample);
        json_mem(f, &r->tree);
        fprintf(f, "},");
    }
    fprintf(f, "\"max_hwm\":%" PRIu64 ",\"minflt\":%" PRIu64 ",\"majflt\":%" PRIu64
               ",\"swap_max\":%" PRIu64 ",\"sys_majflt\":%" PRIu64 ",\"sys_pswpin\":%" PRIu64
               ",\"sys_pswpout\":%" PRIu64 ",\"processes\":%zu,\"samples\":%zu},\n",
            tot.max_hwm, tot.minflt, tot.majflt, tot.swap_max, tot.sys_majflt, tot.sys_pswpin,
            tot.sys_pswpout, run->nprocs, run->nsamples);
}

static void write_processes(FILE *f, const lp_prof_run *run)
{
    fprintf(f, "\"processes\":[");
    for (size_t i = 0; i < run->nprocs; i++) {
        const lp_prof_process *p = &run->procs[i];
        fprintf(f, "%s\n{\"index\":%zu,\"pid\":%d,\"ppid\":%d,\"comm\":", i ? "," : "", i, p->pid,
                p->ppid);
        json_str(f, p->comm);
        fprintf(f, ",\"cmdline\":");
        json_str(f, p->cmdline);
        fprintf(f, ",\"first_t\":");
        json_num(f, p->first_t);
        fprintf(f, ",\"last_t\":");
        json_num(f, p->last_t);
        fprintf(f, ",\"exited\":%s,\"peak_rss\":%" PRIu64 ",\"peak_pss\":%" PRIu64
                   ",\"hwm\":%" PRIu64 ",\"minflt\":%" PRIu64 ",\"majflt\":%" PRIu64 ",\"cpu_s\":",
                p->exited ? "true" : "false", p->peak_rss, p->peak_pss, p->hwm, p->minflt,
                p->majflt);
        json_num(f, p->cpu_s);
        fputc('}', f);
    }
    fprintf(f, "],\n");
}

static void write_samples(FILE *f, const lp_prof_run *run)
{
    fprintf(f, "\"process_sample_fields\":[\"proc\"");
    for (size_t i = 0; i < LP_PROF_MEM_FIELDS; i++)
        fprintf(f, ",\"%s\"", lp_prof_mem_fields[i].name);
    fprintf(f, ",\"hwm\",\"minflt\",\"majflt\",\"threads\",\"cpu_s\"],\n\"samples\":[");
    for (size_t i = 0; i < run->nsamples; i++) {
        const lp_prof_sample *s = &run->samples[i];
        fprintf(f, "%s\n{\"t\":", i ? "," : "");
        json_num(f, s->t);
        fprintf(f, ",\"tree\":");
        json_mem(f, &s->tree);
        fprintf(f, ",\"minflt\":%" PRIu64 ",\"majflt\":%" PRIu64 ",\"minflt_rate\":", s->minflt,
                s->majflt);
        json_num(f, s->minflt_rate);
        fprintf(f, ",\"majflt_rate\":");
        json_num(f, s->majflt_rate);
        fprintf(f, ",\"procs\":%u,\"threads\":%u,\"pss_estimated\":%u,\"cpu_s\":", s->procs,
                s->threads, s->pss_estimated);
        json_num(f, s->cpu_s);
        fprintf(f, ",\"sys_majflt\":%" PRIu64 ",\"sys_pswpin\":%" PRIu64 ",\"sys_pswpout\":%" PRIu64
                   ",\"psi_some_avg10\":",
                s->sys_majflt, s->sys_pswpin, s->sys_pswpout);
        json_num(f, s->psi_some_avg10);
        fprintf(f, ",\"psi_full_avg10\":");
        json_num(f, s->psi_full_avg10);
        fprintf(f, ",\"processes\":[");
        for (size_t j = 0; j < s->count; j++) {
            const lp_prof_proc_sample *p = &run->proc_samples[s->first + j];
            fprintf(f, "%s[%u", j ? "," : "", p->proc);
            for (size_t k = 0; k < LP_PROF_MEM_FIELDS; k++)
                fprintf(f, ",%" PRIu64, lp_prof_mem_get(&p->mem, k));
            fprintf(f, ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%u,", p->hwm, p->minflt, p->majflt,
                    p->threads);
            json_num(f, p->cpu_s);
            fputc(']', f);
        }
        fprintf(f, "]}");
    }
    fprintf(f, "],\n");
}

static void write_snapshot(FILE *f, const lp_prof_run *run)
{
    const lp_prof_snapshot *s = &run->peak;
    fprintf(f, "\"peak_snapshot\":{\"t\":");
    json_num(f, s->t);
    fprintf(f, ",\"taken\":%u,\"tree\":", s->taken);
    json_mem(f, &s->tree);
    fprintf(f, ",\"mappings\":[");
    for (size_t i = 0; i < s->count; i++) {
        const lp_prof_mapping *m = &s->maps[i];
        fprintf(f, "%s\n{\"pid\":%d,\"comm\":", i ? "," : "", m->pid);
        json_str(f, m->comm);
        fprintf(f, ",\"name\":");
        json_str(f, m->name);
        fprintf(f, ",\"kind\":\"%s\",\"heuristics\":[", lp_prof_kind_name(m->kind));
        bool first = true;
        for (int h = 0; h < LP_PROF_H_COUNT; h++)
            if (m->heuristics & (1u << h)) {
                fprintf(f, "%s\"%s\"", first ? "" : ",", lp_prof_heuristic_name(1u << h));
                first = false;
            }
        fprintf(f, "],\"regions\":%u,\"start\":\"0x%" PRIx64 "\",\"size\":%" PRIu64
                   ",\"rss\":%" PRIu64 ",\"pss\":%" PRIu64 ",\"anon\":%" PRIu64 ",\"swap\":%" PRIu64
                   ",\"private\":%" PRIu64 ",\"shared\":%" PRIu64 "}",
                m->regions, m->start, m->size, m->rss, m->pss, m->anon, m->swap,
                m->private_bytes, m->shared_bytes);
    }
    fprintf(f, "]},\n\"heuristics\":{");
    for (int h = 0; h < LP_PROF_H_COUNT; h++) {
        fprintf(f, "%s\"%s\":", h ? "," : "", lp_prof_heuristic_name(1u << h));
        json_str(f, lp_prof_heuristic_text(1u << h));
    }
    fprintf(f, "}\n");
}

lp_status lp_prof_write_json(const lp_prof_run *run, FILE *f, lp_error *err)
{
    fprintf(f, "{\"schema\":\"%s\",\"schema_version\":%d,\n\"command\":", LP_PROF_SCHEMA_NAME,
            LP_PROF_SCHEMA_VERSION);
    json_str(f, run->command);
    fprintf(f, ",\"started\":");
    json_str(f, run->started);
    fprintf(f, ",\"host\":");
    json_str(f, run->host);
    fprintf(f, ",\"kernel\":");
    json_str(f, run->kernel);
    fprintf(f, ",\"root_pid\":%d,\"attached\":%s,\"exit_status\":%d,\"interval_s\":", run->root_pid,
            run->attached ? "true" : "false", run->exit_status);
    json_num(f, run->interval_s);
    fprintf(f, ",\"wall_s\":");
    json_num(f, run->wall_s);
    fprintf(f, ",\"profiler_cpu_s\":");
    json_num(f, run->profiler_cpu_s);
    fprintf(f, ",\"snapshot_cpu_s\":");
    json_num(f, run->snapshot_cpu_s);
    fprintf(f, ",\"pss_walks_redone\":%" PRIu64, run->pss_walks_redone);
    fprintf(f, ",\n");
    write_summary(f, run);
    write_processes(f, run);
    write_samples(f, run);
    write_snapshot(f, run);
    fprintf(f, "}\n");
    if (ferror(f))
        return lp_error_set(err, LP_ERR_IO, "cannot write the JSON output");
    return LP_OK;
}
