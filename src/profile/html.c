/*
 * html.c - a self-contained HTML report of one run, or a comparison of two.
 *
 * Everything is inline (no network, no files beside it): the tables are written here as
 * HTML, the time series are embedded as small JavaScript arrays (MiB and seconds, at most
 * MAX_POINTS per run: longer runs are thinned by keeping the sample with the highest PSS
 * of each bucket, so peaks survive), and a short inline script draws them as SVG: a
 * stacked area of PSS by kind (anonymous / file / shmem), RSS against PSS, and fault
 * rates (minor and major apart: they differ by orders of magnitude). Two runs share one
 * time axis and one memory scale; the second is drawn dashed.
 */
#include "leanpix/profile.h"
#include "profile/profile_internal.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

#define MAX_POINTS 4000
#define MIB(x) ((double)(x) / 1048576.0)

static void html_text(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

static const char style[] =
    "body{font:14px/1.4 sans-serif;margin:20px;color:#222;background:#fff}"
    "h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:18px 0 6px}"
    "table{border-collapse:collapse;margin:4px 0}td,th{border:1px solid #ccc;padding:2px 8px;"
    "text-align:right;white-space:nowrap}th{background:#f3f3f3}td.l,th.l{text-align:left;"
    "white-space:normal}"
    ".cmd{font-family:monospace;color:#555}.note{color:#666;font-size:12px}svg{display:block}";

/* JavaScript that draws RUNS (declared before it) into #charts. */
static const char script[] =
    "const C={anon:'#d62728',file:'#1f77b4',shmem:'#2ca02c',rss:'#ff7f0e',pss:'#6a3d9a',"
    "minr:'#8c564b',majr:'#e377c2',swap:'#17becf'};\n"
    "function el(t,a,p){const e=document.createElementNS('http://www.w3.org/2000/svg',t);"
    "for(const k in a)e.setAttribute(k,a[k]);if(p)p.appendChild(e);return e}\n"
    "function nice(v){if(!(v>0))return 1;const p=Math.pow(10,Math.floor(Math.log10(v)));"
    "for(const m of [1,2,2.5,5,10])if(m*p>=v)return m*p;return 10*p}\n"
    "function chart(title,tmax,ymax,unit,series){\n"
    " const W=1100,H=250,L=70,R=20,T=30,B=30,svg=el('svg',{width:W,height:H});\n"
    " el('rect',{x:0,y:0,width:W,height:H,fill:'#fff'},svg);\n"
    " ymax=nice(ymax);tmax=tmax>0?tmax:1;\n"
    " const X=t=>L+(W-L-R)*t/tmax,Y=v=>H-B-(H-T-B)*Math.min(v,ymax)/ymax;\n"
    " el('text',{x:L,y:18,'font-weight':'bold','font-size':14},svg).textContent=title;\n"
    " for(let i=0;i<=4;i++){const v=ymax*i/4,y=Y(v);"
    "el('line',{x1:L,x2:W-R,y1:y,y2:y,stroke:'#ddd'},svg);"
    "el('text',{x:L-6,y:y+4,'text-anchor':'end','font-size':11},svg).textContent="
    "(v>=100?v.toFixed(0):v>=1||v==0?v.toFixed(1):v.toFixed(2))+' '+unit}\n"
    " const ts=nice(tmax/8);for(let t=0;t<=tmax+1e-9;t+=ts){const x=X(t);"
    "el('line',{x1:x,x2:x,y1:T,y2:H-B,stroke:'#eee'},svg);"
    "el('text',{x:x,y:H-B+16,'text-anchor':'middle','font-size':11},svg).textContent="
    "(ts<1?t.toFixed(2):t.toFixed(0))+' s'}\n"
    " let lx=W-R;\n"
    " for(const s of series){\n"
    "  if(s.hi){let d='M'+X(s.t[0])+','+Y(s.lo[0]);"
    "for(let i=0;i<s.t.length;i++)d+='L'+X(s.t[i])+','+Y(s.hi[i]);"
    "for(let i=s.t.length-1;i>=0;i--)d+='L'+X(s.t[i])+','+Y(s.lo[i]);"
    "el('path',{d:d+'Z',fill:s.color,stroke:'none'},svg)}\n"
    "  else{let d='';for(let i=0;i<s.t.length;i++)d+=(i?'L':'M')+X(s.t[i])+','+Y(s.y[i]);"
    "el('path',{d:d,fill:'none',stroke:s.color,'stroke-width':2,"
    "'stroke-dasharray':s.dash||'none'},svg)}\n"
    "  const w=8*s.label.length+6;lx-=w+18;"
    "if(s.hi)el('rect',{x:lx,y:8,width:12,height:12,fill:s.color},svg);"
    "else el('line',{x1:lx-8,x2:lx+12,y1:14,y2:14,stroke:s.color,'stroke-width':2,"
    "'stroke-dasharray':s.dash||'none'},svg);"
    "el('text',{x:lx+16,y:18,'font-size':12},svg).textContent=s.label}\n"
    " el('line',{x1:L,x2:L,y1:T,y2:H-B,stroke:'#444'},svg);"
    "el('line',{x1:L,x2:W-R,y1:H-B,y2:H-B,stroke:'#444'},svg);\n"
    " document.getElementById('charts').appendChild(svg)}\n"
    "function sum(a,b){return a.map((v,i)=>v+b[i])}\n"
    "const tmax=Math.max(...RUNS.map(r=>r.t.length?r.t[r.t.length-1]:0));\n"
    "const mmax=Math.max(...RUNS.map(r=>Math.max(0,...r.rss,...r.pss)));\n"

    "for(const r of RUNS){const z=r.t.map(()=>0),a=r.pa,af=sum(a,r.pf),afs=sum(af,r.ps);\n"
    " chart((RUNS.length>1?r.name+': ':'')+'PSS by kind (stacked)',tmax,mmax,'MiB',["
    "{t:r.t,lo:z,hi:a,color:C.anon,label:'anon'},{t:r.t,lo:a,hi:af,color:C.file,label:'file'},"
    "{t:r.t,lo:af,hi:afs,color:C.shmem,label:'shmem'}])}\n"
    "let lines=[];for(const r of RUNS){const p=RUNS.length>1?r.name+' ':'',d=r.idx?'6,4':'';"
    "lines.push({t:r.t,y:r.rss,color:C.rss,label:p+'RSS (sum)',dash:d},"
    "{t:r.t,y:r.pss,color:C.pss,label:p+'PSS',dash:d});"
    "if(Math.max(0,...r.sw)>0)lines.push({t:r.t,y:r.sw,color:C.swap,label:p+'swap',dash:d})}\n"
    "chart('Tree RSS (summed over processes) vs PSS'+(lines.length>2*RUNS.length?', and swap':''),"
    "tmax,mmax,'MiB',lines);\n"
    "for(const k of ['minr','majr']){lines=[];const lab=k=='minr'?'minor/s':'major/s';"
    "for(const r of RUNS){lines.push({t:r.t,y:r[k],color:C[k],label:(RUNS.length>1?r.name+' ':'')+lab,"
    "dash:r.idx?'6,4':''})}\n"
    " chart(k=='minr'?'Minor page faults per second (tree): pages mapped or copied, no I/O':"
    "'Major page faults per second (tree): pages read from disk or swap',tmax,"
    "Math.max(1,...RUNS.map(r=>Math.max(0,...r[k]))),'/s',lines)}\n";

/* Indices of the samples to draw: all, or the highest-PSS sample of each bucket. */
static size_t pick_points(const lp_prof_run *run, size_t *idx)
{
    size_t n = run->nsamples;
    if (n <= MAX_POINTS) {
        for (size_t i = 0; i < n; i++)
            idx[i] = i;
        return n;
    }
    size_t out = 0;
    for (size_t b = 0; b < MAX_POINTS; b++) {
        size_t lo = b * n / MAX_POINTS, hi = (b + 1) * n / MAX_POINTS, best = lo;
        for (size_t i = lo; i < hi; i++)
            if (run->samples[i].tree.pss > run->samples[best].tree.pss)
                best = i;
        idx[out++] = best;
    }
    return out;
}

typedef double (*sample_value)(const lp_prof_sample *s);
static double v_t(const lp_prof_sample *s) { return s->t; }
static double v_pa(const lp_prof_sample *s) { return MIB(s->tree.pss_anon); }
static double v_pf(const lp_prof_sample *s) { return MIB(s->tree.pss_file); }
static double v_ps(const lp_prof_sample *s) { return MIB(s->tree.pss_shmem); }
static double v_pss(const lp_prof_sample *s) { return MIB(s->tree.pss); }
static double v_rss(const lp_prof_sample *s) { return MIB(s->tree.rss); }
static double v_swap(const lp_prof_sample *s) { return MIB(s->tree.swap); }
static double v_minr(const lp_prof_sample *s) { return s->minflt_rate; }
static double v_majr(const lp_prof_sample *s) { return s->majflt_rate; }

static void js_array(FILE *f, const char *name, const lp_prof_run *run, const size_t *idx,
                     size_t n, sample_value get)
{
    fprintf(f, "%s:[", name);
    for (size_t i = 0; i < n; i++) {
        double v = get(&run->samples[idx[i]]);
        fprintf(f, "%s%.3f", i ? "," : "", isfinite(v) ? v : 0);
    }
    fputs("],", f);
}

static lp_status write_series(FILE *f, const lp_prof_run *run, size_t which, const char *name,
                              lp_error *err)
{
    size_t *idx = lp_mem_alloc(NULL, (run->nsamples + 1) * sizeof *idx, "report points", err);
    if (!idx)
        return LP_ERR_NOMEM;
    size_t n = pick_points(run, idx);
    fprintf(f, "{name:'%s',idx:%zu,", name, which);
    static const struct {
        const char *name;
        sample_value get;
    } cols[] = {{"t", v_t},     {"pa", v_pa},   {"pf", v_pf},     {"ps", v_ps},
                {"pss", v_pss}, {"rss", v_rss}, {"sw", v_swap}, {"minr", v_minr},
                {"majr", v_majr}};
    for (size_t c = 0; c < sizeof cols / sizeof cols[0]; c++)
        js_array(f, cols[c].name, run, idx, n, cols[c].get);
    fputs("}", f);
    lp_mem_release(NULL, idx);
    return LP_OK;
}

static void row_mb(FILE *f, const char *label, const double *v, size_t nruns)
{
    fprintf(f, "<tr><th class=l>%s</th>", label);
    for (size_t i = 0; i < nruns; i++)
        fprintf(f, "<td>%.1f MiB</td>", v[i]);
    if (nruns == 2 && v[0] > 0)
        fprintf(f, "<td>&times;%.2f</td>", v[1] / v[0]);
    else if (nruns == 2)
        fputs("<td>&ndash;</td>", f);
    fputs("</tr>\n", f);
}

static void row_num(FILE *f, const char *label, const double *v, size_t nruns, const char *fmt)
{
    fprintf(f, "<tr><th class=l>%s</th>", label);
    for (size_t i = 0; i < nruns; i++) {
        fputs("<td>", f);
        fprintf(f, fmt, v[i]);
        fputs("</td>", f);
    }
    if (nruns == 2 && v[0] > 0)
        fprintf(f, "<td>&times;%.2f</td>", v[1] / v[0]);
    else if (nruns == 2)
        fputs("<td>&ndash;</td>", f);
    fputs("</tr>\n", f);
}

/* The summary's rows: a label, a format ("MiB" rows are bytes), a value. */
typedef struct summary_values {
    const lp_prof_run *run;
    lp_prof_totals tot;
    lp_prof_sample peak, peak_rss;
    double psi_max;
} summary_values;

enum { ROWS = 20 };

static void summary_row(const summary_values *sv, int k, const char **label, const char **fmt,
                        double *value)
{
    const lp_prof_mem *p = &sv->peak.tree;
    const lp_prof_run *run = sv->run;
    static const char *const labels[ROWS] = {
        "wall time (s)", "peak tree PSS", "&nbsp; anon (PSS)", "&nbsp; file (PSS)",
        "&nbsp; shmem (PSS)", "tree RSS at the PSS peak", "&nbsp; anon (RSS)", "&nbsp; file (RSS)",
        "&nbsp; shmem (RSS)", "peak tree RSS (sum)", "largest VmHWM of one process",
        "minor faults", "major faults", "peak swap of the tree", "system major faults",
        "system swap-in / swap-out pages", "peak memory pressure (some, avg10 %)", "processes",
        "profiler CPU (% of a core)", "CPU time of the tree (s)"};
    double values[ROWS] = {
        run->wall_s, (double)p->pss, (double)p->pss_anon, (double)p->pss_file, (double)p->pss_shmem,
        (double)p->rss, (double)p->rss_anon, (double)p->rss_file, (double)p->rss_shmem,
        (double)sv->peak_rss.tree.rss, (double)sv->tot.max_hwm, (double)sv->tot.minflt,
        (double)sv->tot.majflt, (double)sv->tot.swap_max, (double)sv->tot.sys_majflt,
        (double)(sv->tot.sys_pswpin + sv->tot.sys_pswpout), sv->psi_max, (double)run->nprocs,
        run->wall_s > 0 ? 100 * run->profiler_cpu_s / run->wall_s : 0,
        run->nsamples ? run->samples[run->nsamples - 1].cpu_s : 0};
    *label = labels[k];
    *value = values[k];
    if (k >= 1 && k <= 10)
        *fmt = "MiB";
    else if (k == 13)
        *fmt = "MiB";
    else if (k == 0 || k == 16 || k == 18 || k == 19)
        *fmt = "%.2f";
    else
        *fmt = "%.0f";
}

static void load_summary(const lp_prof_run *run, summary_values *sv)
{
    memset(sv, 0, sizeof *sv);
    sv->run = run;
    lp_prof_run_totals(run, &sv->tot);
    if (run->nsamples) {
        sv->peak = run->samples[run->peak_sample];
        sv->peak_rss = run->samples[run->peak_rss_sample];
    }
    for (size_t i = 0; i < run->nsamples; i++)
        if (run->samples[i].psi_some_avg10 > sv->psi_max)
            sv->psi_max = run->samples[i].psi_some_avg10;
}

static void write_summary(FILE *f, const lp_prof_run *const *runs, size_t nruns)
{
    summary_values sv[2];
    for (size_t r = 0; r < nruns; r++)
        load_summary(runs[r], &sv[r]);
    fputs("<h2>Summary</h2><table><tr><th class=l></th>", f);
    for (size_t r = 0; r < nruns; r++)
        fprintf(f, "<th>%s</th>", nruns == 1 ? "value" : r ? "after" : "before");
    fputs(nruns == 2 ? "<th>after/before</th></tr>\n" : "</tr>\n", f);
    for (int k = 0; k < ROWS; k++) {
        double col[2] = {0, 0};
        const char *label = "", *fmt = "";
        for (size_t r = 0; r < nruns; r++)
            summary_row(&sv[r], k, &label, &fmt, &col[r]);
        if (!strcmp(fmt, "MiB")) {
            col[0] = MIB(col[0]);
            col[1] = MIB(col[1]);
            row_mb(f, label, col, nruns);
        } else {
            row_num(f, label, col, nruns, fmt);
        }
    }
    fputs("</table>\n", f);
}

static void write_mappings(FILE *f, const lp_prof_run *run, const char *name)
{
    const lp_prof_snapshot *s = &run->peak;
    fprintf(f, "<h2>Top mappings at the peak%s%s</h2>", name ? ": " : "", name ? name : "");
    if (s->t < 0 || !s->count) {
        fputs("<p class=note>no smaps snapshot was taken</p>\n", f);
        return;
    }
    fprintf(f, "<p class=note>smaps of the largest processes at t=%.2f s (tree PSS %.1f MiB; "
               "%u snapshots taken, the highest kept)</p>\n",
            s->t, MIB(s->tree.pss), s->taken);
    fputs("<table><tr><th>PSS</th><th>RSS</th><th>anon</th><th>swap</th><th>size</th>"
          "<th class=l>kind</th><th class=l>process</th><th class=l>mapping</th>"
          "<th class=l>heuristics</th></tr>\n", f);
    size_t n = s->count < 25 ? s->count : 25;
    for (size_t i = 0; i < n; i++) {
        const lp_prof_mapping *m = &s->maps[i];
        fprintf(f, "<tr><td>%.1f MiB</td><td>%.1f MiB</td><td>%.1f MiB</td><td>%.1f MiB</td>"
                   "<td>%.1f MiB</td><td class=l>%s</td><td class=l>%d ",
                MIB(m->pss), MIB(m->rss), MIB(m->anon), MIB(m->swap), MIB(m->size),
                lp_prof_kind_name(m->kind), m->pid);
        html_text(f, m->comm);
        fputs("</td><td class=l>", f);
        html_text(f, m->name);
        if (m->kind == LP_PROF_KIND_ANON || m->kind == LP_PROF_KIND_STACK)
            fprintf(f, " @0x%" PRIx64, m->start);
        fputs("</td><td class=l>", f);
        for (int h = 0; h < LP_PROF_H_COUNT; h++)
            if (m->heuristics & (1u << h))
                fprintf(f, "%s ", lp_prof_heuristic_name(1u << h));
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n", f);
}

static void write_processes(FILE *f, const lp_prof_run *run, const char *name)
{
    fprintf(f, "<h2>Processes%s%s</h2><table><tr><th>PID</th><th>PPID</th><th class=l>command</th>"
               "<th>seen (s)</th><th>peak PSS</th><th>peak RSS</th><th>VmHWM</th><th>minor</th>"
               "<th>major</th><th>CPU (s)</th></tr>\n",
            name ? ": " : "", name ? name : "");
    size_t n = run->nprocs < 50 ? run->nprocs : 50;
    for (size_t i = 0; i < n; i++) {
        const lp_prof_process *p = &run->procs[i];
        fprintf(f, "<tr><td>%d</td><td>%d</td><td class=l>", p->pid, p->ppid);
        html_text(f, p->cmdline[0] ? p->cmdline : p->comm);
        fprintf(f, "</td><td>%.2f&ndash;%.2f%s</td><td>%.1f MiB</td><td>%.1f MiB</td><td>%.1f MiB</td>"
                   "<td>%" PRIu64 "</td><td>%" PRIu64 "</td><td>%.2f</td></tr>\n",
                p->first_t, p->last_t, p->exited ? " (exited)" : "", MIB(p->peak_pss),
                MIB(p->peak_rss), MIB(p->hwm), p->minflt, p->majflt, p->cpu_s);
    }
    if (run->nprocs > n)
        fprintf(f, "<tr><td class=l colspan=10>&hellip; %zu more in the JSON</td></tr>\n",
                run->nprocs - n);
    fputs("</table>\n", f);
}

lp_status lp_prof_write_html(const lp_prof_run *const *runs, size_t nruns, FILE *f, lp_error *err)
{
    if (nruns < 1 || nruns > 2)
        return lp_error_set(err, LP_ERR_INVALID_ARG, "a report shows one or two runs");
    static const char *const names[2] = {"before", "after"};
    fprintf(f, "<!DOCTYPE html>\n<html><head><meta charset=utf-8><title>leanpix profile</title>"
               "<style>%s</style></head><body>\n<h1>leanpix profile%s</h1>\n",
            style, nruns == 2 ? ": comparison" : "");
    for (size_t r = 0; r < nruns; r++) {
        fprintf(f, "<div class=cmd>%s%s", nruns == 2 ? names[r] : "", nruns == 2 ? ": " : "");
        html_text(f, runs[r]->command);
        fprintf(f, " &mdash; %s, %s, every %.0f ms, exit status %d</div>\n", runs[r]->started,
                runs[r]->kernel, runs[r]->interval_s * 1000, runs[r]->exit_status);
    }
    fputs("<div id=charts></div>\n", f);
    write_summary(f, runs, nruns);
    for (size_t r = 0; r < nruns; r++)
        write_mappings(f, runs[r], nruns == 2 ? names[r] : NULL);
    fputs("<h2>Heuristics</h2><table>", f);
    for (int h = 0; h < LP_PROF_H_COUNT; h++) {
        fprintf(f, "<tr><th class=l>%s</th><td class=l>", lp_prof_heuristic_name(1u << h));
        html_text(f, lp_prof_heuristic_text(1u << h));
        fputs("</td></tr>", f);
    }
    fputs("</table>\n<p class=note>PSS divides each shared page among the processes that map it, "
          "so it adds up over a tree; RSS counts shared pages in every process.</p>\n", f);
    for (size_t r = 0; r < nruns; r++)
        write_processes(f, runs[r], nruns == 2 ? names[r] : NULL);
    fputs("<script>\nconst RUNS=[", f);
    for (size_t r = 0; r < nruns; r++) {
        if (r)
            fputc(',', f);
        lp_status st = write_series(f, runs[r], r, names[r], err);
        if (st)
            return st;
    }
    fprintf(f, "];\n%s</script>\n</body></html>\n", script);
    if (ferror(f))
        return lp_error_set(err, LP_ERR_IO, "cannot write the HTML report");
    return LP_OK;
}
