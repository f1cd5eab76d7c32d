/*
 * cmd_profile.c - `leanpix profile`: record a process tree's memory over time.
 *
 *   leanpix profile [options] -- CMD [ARGS...]   run CMD and record its tree
 *   leanpix profile [options] --pid PID          attach to a running tree
 *   leanpix profile report RUN.json [--html F] [--csv F]
 *   leanpix profile compare BEFORE.json AFTER.json [--html F]
 *
 * The command runs as our child (posix_spawnp); SIGINT/SIGTERM/SIGHUP/SIGQUIT are
 * forwarded to it, and our exit status is its status (128+signal when it was killed),
 * so that `leanpix profile -- make` can stand in for `make` in scripts. Its exit is
 * noticed with waitid(WNOWAIT) so that one last sample still reads the final fault and
 * CPU counters of the zombie before it is reaped. The sampling loop sleeps to absolute
 * deadlines (no drift). Outputs are written at the end, atomically.
 */
#define _GNU_SOURCE
#include "cli.h"
#include "profile/profile.h"

#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* Signal handlers cannot take a context: the child to forward to and the stop request
 * live here, written before the handlers are installed, read-only in them. */
static volatile sig_atomic_t forward_pid;
static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    if (forward_pid > 0)
        kill((pid_t)forward_pid, sig);
    else
        stop_requested = 1;
}

typedef struct profile_args {
    double interval_s;
    const char *json, *html, *csv;
    int pid;
    uint32_t snapshot_procs;
    double pss_budget;  /* share of a core */
    bool quiet;
    char **cmd;  /* NULL with --pid */
} profile_args;

static void usage(FILE *f)
{
    fputs("usage: leanpix profile [options] -- CMD [ARGS...]\n"
          "       leanpix profile [options] --pid PID\n"
          "       leanpix profile report RUN.json [--html OUT.html] [--csv OUT.csv]\n"
          "       leanpix profile compare BEFORE.json AFTER.json [--html OUT.html]\n\n"
          "Runs CMD (or attaches to PID) and records its whole process tree over time: RSS\n"
          "and PSS split into anonymous / file-backed / shmem, swap, VmHWM, minor and major\n"
          "faults, threads and CPU time per process and for the tree, system-wide major\n"
          "faults, swap traffic and memory pressure; at each new peak it reads\n"
          "/proc/PID/smaps of the largest processes to say which mappings hold the memory.\n"
          "A summary goes to stderr.\n\n"
          "options:\n",
          f);
    static const char *const options[][2] = {
        {"-i, --interval T", "sampling interval: 20ms (default), 0.5s, 500us; a plain number "
                             "is ms"},
        {"-o, --output FILE", "write the record as JSON (schema: docs/profile-schema.md)"},
        {"    --html FILE", "write a self-contained HTML report with charts"},
        {"    --csv FILE", "write the timeline as CSV (tree rows and process rows)"},
        {"-p, --pid PID", "attach to a running process and its descendants; stops when they are "
                          "gone or on Ctrl-C"},
        {"    --snapshot-procs N", "processes whose smaps are read at a peak (default 3)"},
        {"    --pss-budget PCT", "CPU share (percent of a core) the PSS reads may use; PSS is "
                                 "estimated from RSS changes in between (default 0.5; 100 reads "
                                 "it at every sample)"},
        {"-q, --quiet", "no summary on stderr"},
        {"-h, --help", "this help"},
    };
    for (size_t i = 0; i < sizeof options / sizeof *options; i++)
        cli_help_option(f, 22, options[i][0], options[i][1]);
    fputs("\nThe exit status is CMD's (128+N when signal N killed it). `leanpix profile\n"
          "report --help` and `leanpix profile compare --help` describe the other forms;\n"
          "docs/profile.md explains every number.\n",
          f);
}

static void usage_report(FILE *f)
{
    fputs("usage: leanpix profile report RUN.json [--html OUT.html] [--csv OUT.csv] [-q]\n\n"
          "Reads a record written by `leanpix profile -o RUN.json`, prints its summary on\n"
          "stdout (unless -q) and re-renders the HTML report and/or the CSV timeline from\n"
          "it.\n",
          f);
}

static void usage_compare(FILE *f)
{
    fputs("usage: leanpix profile compare BEFORE.json AFTER.json [--html OUT.html]\n\n"
          "Prints the two runs' summaries side by side with after/before ratios (wall time,\n"
          "peak PSS and RSS with their anon/file/shmem parts, faults, swap, top mappings),\n"
          "and with --html draws both runs on one time axis.\n",
          f);
}

/* "20ms", "0.5s", "500us", "20" (ms). */
static bool parse_interval(const char *text, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    double scale = 1e-3;
    if (end != text && !errno) {
        if (!strcmp(end, "s"))
            scale = 1;
        else if (!strcmp(end, "ms") || !*end)
            scale = 1e-3;
        else if (!strcmp(end, "us"))
            scale = 1e-6;
        else
            end = (char *)text;
    }
    double s = v * scale;
    if (end == text || errno || !(s >= 0.001 && s <= 3600)) {
        cli_error("profile", "--interval wants a duration from 1ms to 3600s (e.g. 20ms, 0.5s), not '%s'",
                  text);
        return false;
    }
    *out = s;
    return true;
}

static const char *option_value(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) {
        cli_error("profile", "%s needs a value", argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

/* Returns -1 to go on, else an exit code. */
static int parse_args(int argc, char **argv, profile_args *a)
{
    memset(a, 0, sizeof *a);
    a->interval_s = 0.02;
    a->snapshot_procs = 3;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        const char *v;
        if (!strcmp(o, "--")) {
            if (i + 1 < argc)
                a->cmd = argv + i + 1;
            break;
        } else if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
            usage(stdout);
            return LP_EXIT_OK;
        } else if (!strcmp(o, "-i") || !strcmp(o, "--interval")) {
            if (!(v = option_value(argc, argv, &i)) || !parse_interval(v, &a->interval_s))
                return LP_EXIT_USAGE;
        } else if (!strcmp(o, "-o") || !strcmp(o, "--output") || !strcmp(o, "--json")) {
            if (!(a->json = option_value(argc, argv, &i)))
                return LP_EXIT_USAGE;
        } else if (!strcmp(o, "--html")) {
            if (!(a->html = option_value(argc, argv, &i)))
                return LP_EXIT_USAGE;
        } else if (!strcmp(o, "--csv")) {
            if (!(a->csv = option_value(argc, argv, &i)))
                return LP_EXIT_USAGE;
        } else if (!strcmp(o, "-p") || !strcmp(o, "--pid")) {
            uint32_t pid;
            if (!(v = option_value(argc, argv, &i)) || !cli_parse_uint("--pid", v, 1, 1u << 30, &pid))
                return LP_EXIT_USAGE;
            a->pid = (int)pid;
        } else if (!strcmp(o, "--snapshot-procs")) {
            if (!(v = option_value(argc, argv, &i)) ||
                !cli_parse_uint("--snapshot-procs", v, 1, 64, &a->snapshot_procs))
                return LP_EXIT_USAGE;
        } else if (!strcmp(o, "--pss-budget")) {
            double pct;
            if (!(v = option_value(argc, argv, &i)) || !cli_parse_double("--pss-budget", v, 0.01, 100, &pct))
                return LP_EXIT_USAGE;
            a->pss_budget = pct / 100;
        } else if (!strcmp(o, "-q") || !strcmp(o, "--quiet")) {
            a->quiet = true;
        } else if (o[0] == '-') {
            cli_error("profile", "unknown option '%s' (see leanpix profile --help)", o);
            return LP_EXIT_USAGE;
        } else {
            a->cmd = argv + i;  /* CMD without "--": the rest is its arguments */
            break;
        }
    }
    if (a->cmd && a->pid) {
        cli_error("profile", "give either --pid or a command, not both");
        return LP_EXIT_USAGE;
    }
    if (!a->cmd && !a->pid) {
        cli_error("profile", "no command to run (leanpix profile [options] -- CMD ARGS, or --pid PID)");
        return LP_EXIT_USAGE;
    }
    return -1;
}

static void join_command(char **cmd, char *out, size_t size)
{
    size_t len = 0;
    out[0] = '\0';
    for (int i = 0; cmd[i] && len + 1 < size; i++)
        len += (size_t)snprintf(out + len, size - len, "%s%s", i ? " " : "", cmd[i]);
}

/* SIGCHLD only has to interrupt the sleep between samples, so that the end of CMD is
 * noticed at once rather than at the next tick. */
static void on_child(int sig)
{
    (void)sig;
}

static void install_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaction(sigs[i], &sa, NULL);
    sa.sa_handler = on_child;
    sigaction(SIGCHLD, &sa, NULL);
}

static void sleep_until(struct timespec *deadline, double interval_s)
{
    long ns = (long)(interval_s * 1e9);
    deadline->tv_nsec += ns % 1000000000L;
    deadline->tv_sec += ns / 1000000000L + deadline->tv_nsec / 1000000000L;
    deadline->tv_nsec %= 1000000000L;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec > deadline->tv_sec ||
        (now.tv_sec == deadline->tv_sec && now.tv_nsec > deadline->tv_nsec))
        *deadline = now;  /* a slow sample: do not try to catch up */
    else
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, deadline, NULL);
}

/* Samples until the child exits (child > 0) or the attached tree is gone / we are told
 * to stop. Returns the child's status as a shell would report it, or 0 when attached. */
static int record(lp_prof_recorder *rec, pid_t child, double interval_s, lp_error *err,
                  lp_status *st)
{
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    for (;;) {
        if ((*st = lp_prof_recorder_sample(rec, err)) != LP_OK)
            break;
        if (child > 0) {
            siginfo_t si;
            memset(&si, 0, sizeof si);
            if (waitid(P_PID, (id_t)child, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid) {
                *st = lp_prof_recorder_sample(rec, err);  /* the zombie's final counters */
                break;
            }
        } else if (lp_prof_recorder_live(rec) == 0 || stop_requested) {
            break;
        }
        sleep_until(&deadline, interval_s);
    }
    if (child <= 0)
        return 0;
    int status;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return LP_EXIT_FAILURE;
}

static void print_mappings(FILE *f, const lp_prof_run *run, size_t n)
{
    const lp_prof_snapshot *s = &run->peak;
    if (s->t < 0 || !s->count) {
        fprintf(f, "  top mappings: no smaps snapshot was taken\n");
        return;
    }
    fprintf(f, "  top mappings at the peak (smaps at %.2f s, tree PSS %.1f MiB):\n", s->t,
            cli_mib(s->tree.pss));
    for (size_t i = 0; i < n && i < s->count; i++) {
        const lp_prof_mapping *m = &s->maps[i];
        fprintf(f, "    %8.1f MiB PSS %8.1f MiB RSS  %-5s %d %s  %s", cli_mib(m->pss), cli_mib(m->rss),
                lp_prof_kind_name(m->kind), m->pid, m->comm, m->name);
        if (m->kind == LP_PROF_KIND_ANON || m->kind == LP_PROF_KIND_STACK)
            fprintf(f, " @0x%llx", (unsigned long long)m->start);
        for (int h = 0; h < LP_PROF_H_COUNT; h++)
            if (m->heuristics & (1u << h))
                fprintf(f, " [%s]", lp_prof_heuristic_name(1u << h));
        fputc('\n', f);
    }
}

static void print_summary(FILE *f, const lp_prof_run *run)
{
    lp_prof_totals tot;
    lp_prof_run_totals(run, &tot);
    fprintf(f, "leanpix profile: %s\n", run->command);
    fprintf(f, "  wall %.2f s, %zu samples every %.0f ms, %zu process%s", run->wall_s, run->nsamples,
            run->interval_s * 1000, run->nprocs, run->nprocs == 1 ? "" : "es");
    if (run->exit_status >= 0)
        fprintf(f, ", exit status %d", run->exit_status);
    fputc('\n', f);
    if (run->nsamples) {
        const lp_prof_sample *p = &run->samples[run->peak_sample];
        const lp_prof_sample *r = &run->samples[run->peak_rss_sample];
        fprintf(f, "  peak tree PSS %.1f MiB at %.2f s: anon %.1f, file %.1f, shmem %.1f MiB\n",
                cli_mib(p->tree.pss), p->t, cli_mib(p->tree.pss_anon), cli_mib(p->tree.pss_file),
                cli_mib(p->tree.pss_shmem));
        fprintf(f, "  tree RSS then %.1f MiB (sum over %u process%s): anon %.1f, file %.1f, shmem %.1f MiB\n",
                cli_mib(p->tree.rss), p->procs, p->procs == 1 ? "" : "es", cli_mib(p->tree.rss_anon),
                cli_mib(p->tree.rss_file), cli_mib(p->tree.rss_shmem));
        fprintf(f, "  peak tree RSS %.1f MiB at %.2f s; largest VmHWM of one process %.1f MiB\n",
                cli_mib(r->tree.rss), r->t, cli_mib(tot.max_hwm));
    }
    fprintf(f, "  faults: minor %llu, major %llu (system-wide major %llu)\n",
            (unsigned long long)tot.minflt, (unsigned long long)tot.majflt,
            (unsigned long long)tot.sys_majflt);
    fprintf(f, "  swap: tree peak %.1f MiB; system swap-in %llu, swap-out %llu pages\n",
            cli_mib(tot.swap_max), (unsigned long long)tot.sys_pswpin,
            (unsigned long long)tot.sys_pswpout);
    double psi = -1;
    for (size_t i = 0; i < run->nsamples; i++)
        if (run->samples[i].psi_some_avg10 > psi)
            psi = run->samples[i].psi_some_avg10;
    if (psi >= 0)
        fprintf(f, "  memory pressure: peak %.2f%% of time stalled (some, avg10)\n", psi);
    print_mappings(f, run, 5);
    fprintf(f, "  profiler: %.3f s CPU (%.3f s of it smaps snapshots) over %.2f s", run->profiler_cpu_s,
            run->snapshot_cpu_s, run->wall_s);
    if (run->wall_s >= 1)  /* shorter runs are dominated by the start-up scan of /proc */
        fprintf(f, " (%.2f%% of a core)", 100 * run->profiler_cpu_s / run->wall_s);
    fputc('\n', f);
    if (run->pss_walks_redone)
        fprintf(f, "  PSS: %llu smaps_rollup reads counted pages twice (the process remapped "
                   "memory during the walk) and were read again\n",
                (unsigned long long)run->pss_walks_redone);
}

static bool save(const lp_prof_run *const *runs, size_t n, lp_prof_format fmt, const char *path)
{
    if (!path)
        return true;
    lp_error err = {0};
    if (lp_prof_save(runs, n, fmt, path, &err) != LP_OK) {
        cli_lp_error(path, &err);
        return false;
    }
    return true;
}

/* An output's directory must be writable before CMD runs, not found out after an hour. */
static bool output_dir_ok(const char *path)
{
    if (!path)
        return true;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    if (access(dir, W_OK | X_OK) != 0) {
        cli_error(path, "cannot write into %s: %s", dir, strerror(errno));
        return false;
    }
    return true;
}

static int run_profile(const profile_args *a)
{
    char command[1024];
    pid_t child = 0;
    if (!output_dir_ok(a->json) || !output_dir_ok(a->html) || !output_dir_ok(a->csv))
        return LP_EXIT_FAILURE;
    if (a->cmd) {
        join_command(a->cmd, command, sizeof command);
        int rc = posix_spawnp(&child, a->cmd[0], NULL, NULL, a->cmd, environ);
        if (rc != 0) {
            cli_error(a->cmd[0], "cannot run: %s", strerror(rc));
            return 127;
        }
        forward_pid = child;
    } else {
        snprintf(command, sizeof command, "--pid %d", a->pid);
    }
    install_handlers();
    lp_prof_options opt;
    lp_prof_options_default(&opt);
    opt.interval_s = a->interval_s;
    opt.snapshot_procs = a->snapshot_procs;
    if (a->pss_budget > 0)
        opt.pss_budget = a->pss_budget;
    lp_error err = {0};
    lp_prof_recorder *rec = NULL;
    lp_status st = lp_prof_recorder_new(&opt, child ? child : a->pid, command, !child, &rec, &err);
    if (st != LP_OK) {
        cli_lp_error("profile", &err);
        if (child > 0) {
            int status;
            waitpid(child, &status, 0);
        }
        return child ? 127 : LP_EXIT_FAILURE;
    }
    int status = record(rec, child, a->interval_s, &err, &st);
    lp_prof_run *run = NULL;
    lp_error ferr = {0};
    lp_prof_recorder_finish(rec, child ? status : -1, &run, &ferr);
    if (st != LP_OK)
        cli_lp_error("profile", &err);
    const lp_prof_run *runs[1] = {run};
    bool ok = save(runs, 1, LP_PROF_JSON, a->json) && save(runs, 1, LP_PROF_HTML, a->html) &&
              save(runs, 1, LP_PROF_CSV, a->csv);
    if (!a->quiet)
        print_summary(stderr, run);
    lp_prof_run_free(run);
    if (child)
        return status ? status : (ok && st == LP_OK ? LP_EXIT_OK : LP_EXIT_FAILURE);
    return ok && st == LP_OK ? LP_EXIT_OK : LP_EXIT_FAILURE;
}

static lp_prof_run *load(const char *path)
{
    lp_error err = {0};
    lp_prof_run *run = NULL;
    if (lp_prof_read_json(path, NULL, &run, &err) != LP_OK) {
        cli_lp_error(path, &err);
        return NULL;
    }
    return run;
}

/* Options shared by report and compare: files, --html, --csv, -q. */
static int parse_files(int argc, char **argv, const char **files, int nfiles, const char **html,
                       const char **csv, bool *quiet, void (*help)(FILE *))
{
    int got = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            help(stdout);
            return LP_EXIT_OK;
        } else if (!strcmp(argv[i], "--html")) {
            if (!(*html = option_value(argc, argv, &i)))
                return LP_EXIT_USAGE;
        } else if (csv && !strcmp(argv[i], "--csv")) {
            if (!(*csv = option_value(argc, argv, &i)))
                return LP_EXIT_USAGE;
        } else if (quiet && (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet"))) {
            *quiet = true;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            cli_error("profile", "%s: unknown option '%s' (see leanpix profile %s --help)", argv[0],
                      argv[i], argv[0]);
            return LP_EXIT_USAGE;
        } else if (got < nfiles) {
            files[got++] = argv[i];
        } else {
            cli_error("profile", "%s: too many files ('%s')", argv[0], argv[i]);
            return LP_EXIT_USAGE;
        }
    }
    if (got < nfiles) {
        cli_error("profile", "%s wants %d JSON file%s (see leanpix profile %s --help)", argv[0],
                  nfiles, nfiles > 1 ? "s" : "", argv[0]);
        return LP_EXIT_USAGE;
    }
    return -1;
}

static int cmd_report(int argc, char **argv)
{
    const char *file = NULL, *html = NULL, *csv = NULL;
    bool quiet = false;
    int rc = parse_files(argc, argv, &file, 1, &html, &csv, &quiet, usage_report);
    if (rc >= 0)
        return rc;
    lp_prof_run *run = load(file);
    if (!run)
        return LP_EXIT_FAILURE;
    const lp_prof_run *runs[1] = {run};
    bool ok = save(runs, 1, LP_PROF_HTML, html) && save(runs, 1, LP_PROF_CSV, csv);
    if (!quiet)
        print_summary(stdout, run);
    lp_prof_run_free(run);
    return ok ? LP_EXIT_OK : LP_EXIT_FAILURE;
}

/* unit "" is a count: printed without decimals. */
static void compare_row(const char *label, double a, double b, const char *unit)
{
    if (*unit)
        printf("  %-30s %12.2f %12.2f  %-3s", label, a, b, unit);
    else
        printf("  %-30s %12.0f %12.0f  %-3s", label, a, b, unit);
    if (a > 0)
        printf("  x%.2f\n", b / a);
    else
        printf("  -\n");
}

static void print_compare(const lp_prof_run *a, const lp_prof_run *b)
{
    printf("before: %s\nafter:  %s\n", a->command, b->command);
    printf("  %-30s %12s %12s  %-3s  %s\n", "", "before", "after", "", "after/before");
    const lp_prof_run *r[2] = {a, b};
    lp_prof_totals t[2];
    lp_prof_sample p[2] = {{0}}, q[2] = {{0}};
    for (int i = 0; i < 2; i++) {
        lp_prof_run_totals(r[i], &t[i]);
        if (r[i]->nsamples) {
            p[i] = r[i]->samples[r[i]->peak_sample];
            q[i] = r[i]->samples[r[i]->peak_rss_sample];
        }
    }
    compare_row("wall time", a->wall_s, b->wall_s, "s");
    compare_row("peak tree PSS", cli_mib(p[0].tree.pss), cli_mib(p[1].tree.pss), "MiB");
    compare_row("  anon (PSS)", cli_mib(p[0].tree.pss_anon), cli_mib(p[1].tree.pss_anon), "MiB");
    compare_row("  file (PSS)", cli_mib(p[0].tree.pss_file), cli_mib(p[1].tree.pss_file), "MiB");
    compare_row("  shmem (PSS)", cli_mib(p[0].tree.pss_shmem), cli_mib(p[1].tree.pss_shmem), "MiB");
    compare_row("tree RSS at the PSS peak", cli_mib(p[0].tree.rss), cli_mib(p[1].tree.rss), "MiB");
    compare_row("  anon (RSS)", cli_mib(p[0].tree.rss_anon), cli_mib(p[1].tree.rss_anon), "MiB");
    compare_row("  file (RSS)", cli_mib(p[0].tree.rss_file), cli_mib(p[1].tree.rss_file), "MiB");
    compare_row("  shmem (RSS)", cli_mib(p[0].tree.rss_shmem), cli_mib(p[1].tree.rss_shmem), "MiB");
    compare_row("peak tree RSS", cli_mib(q[0].tree.rss), cli_mib(q[1].tree.rss), "MiB");
    compare_row("largest VmHWM", cli_mib(t[0].max_hwm), cli_mib(t[1].max_hwm), "MiB");
    compare_row("minor faults", (double)t[0].minflt, (double)t[1].minflt, "");
    compare_row("major faults", (double)t[0].majflt, (double)t[1].majflt, "");
    compare_row("peak swap", cli_mib(t[0].swap_max), cli_mib(t[1].swap_max), "MiB");
    compare_row("processes", (double)a->nprocs, (double)b->nprocs, "");
    compare_row("CPU time of the tree", a->nsamples ? a->samples[a->nsamples - 1].cpu_s : 0,
                b->nsamples ? b->samples[b->nsamples - 1].cpu_s : 0, "s");
    for (int i = 0; i < 2; i++) {
        printf("%s:\n", i ? "after" : "before");
        print_mappings(stdout, r[i], 5);
    }
}

static int cmd_compare(int argc, char **argv)
{
    const char *files[2] = {NULL, NULL}, *html = NULL;
    int rc = parse_files(argc, argv, files, 2, &html, NULL, NULL, usage_compare);
    if (rc >= 0)
        return rc;
    lp_prof_run *a = load(files[0]);
    lp_prof_run *b = a ? load(files[1]) : NULL;
    if (!a || !b) {
        lp_prof_run_free(a);
        return LP_EXIT_FAILURE;
    }
    print_compare(a, b);
    const lp_prof_run *runs[2] = {a, b};
    bool ok = save(runs, 2, LP_PROF_HTML, html);
    lp_prof_run_free(a);
    lp_prof_run_free(b);
    return ok ? LP_EXIT_OK : LP_EXIT_FAILURE;
}

int cmd_profile(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "report"))
        return cmd_report(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "compare"))
        return cmd_compare(argc - 1, argv + 1);
    profile_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0)
        return rc;
    return run_profile(&a);
}
