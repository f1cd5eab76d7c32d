/*
 * csv.c - the run as a CSV timeline: one "tree" row per sample (the sum over live
 * processes, with fault rates and system-wide figures), followed by one "process" row per
 * live process of that sample. Streams; sizes in bytes, times in seconds.
 */
#include "profile/profile.h"
#include "profile/profile_internal.h"

#include <inttypes.h>
#include <string.h>

static void csv_text(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s == '\n' ? ' ' : *s, f);
    }
    fputc('"', f);
}

static void csv_mem(FILE *f, const lp_prof_mem *m)
{
    for (size_t i = 0; i < LP_PROF_MEM_FIELDS; i++)
        fprintf(f, ",%" PRIu64, lp_prof_mem_get(m, i));
}

lp_status lp_prof_write_csv(const lp_prof_run *run, FILE *f, lp_error *err)
{
    fputs("t_s,scope,pid,comm", f);
    for (size_t i = 0; i < LP_PROF_MEM_FIELDS; i++)
        fprintf(f, ",%s", lp_prof_mem_fields[i].name);
    fputs(",hwm,minflt,majflt,minflt_per_s,majflt_per_s,threads,cpu_s,procs,"
          "sys_majflt,sys_pswpin,sys_pswpout,psi_some_avg10,psi_full_avg10,pss_estimated\n", f);
    for (size_t i = 0; i < run->nsamples; i++) {
        const lp_prof_sample *s = &run->samples[i];
        fprintf(f, "%.4f,tree,%d,", s->t, run->root_pid);
        csv_text(f, run->nprocs ? run->procs[0].comm : "");
        csv_mem(f, &s->tree);
        fprintf(f, ",,%" PRIu64 ",%" PRIu64 ",%.1f,%.1f,%u,%.3f,%u,%" PRIu64 ",%" PRIu64 ",%" PRIu64
                   ",%.2f,%.2f,%u\n",
                s->minflt, s->majflt, s->minflt_rate, s->majflt_rate, s->threads, s->cpu_s, s->procs,
                s->sys_majflt, s->sys_pswpin, s->sys_pswpout, s->psi_some_avg10, s->psi_full_avg10,
                s->pss_estimated);
        for (size_t j = 0; j < s->count; j++) {
            const lp_prof_proc_sample *p = &run->proc_samples[s->first + j];
            const lp_prof_process *proc = &run->procs[p->proc];
            fprintf(f, "%.4f,process,%d,", s->t, proc->pid);
            csv_text(f, proc->comm);
            csv_mem(f, &p->mem);
            fprintf(f, ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",,,%u,%.3f,1,,,,,,\n", p->hwm, p->minflt,
                    p->majflt, p->threads, p->cpu_s);
        }
    }
    if (ferror(f))
        return lp_error_set(err, LP_ERR_IO, "cannot write the CSV output");
    return LP_OK;
}
