/*
 * cmd_convert.c - `leanpix convert IN OUT [options]`: one image, re-encoded in strips.
 *
 * Prints nothing on success unless asked (--stats for people, --json for programs);
 * shows a progress line on a terminal for long jobs; on failure prints one line naming
 * the file at fault and exits 1, leaving no output file behind (the library writes a temp
 * file and renames it only on success). SIGINT/SIGTERM remove the temp file too, say so
 * in one line and end the process by that signal (exit status 130 / 143 in the shell).
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "budget.h"
#include "cli.h"
#include "convert_options.h"
#include "dav1d_messages.h"
#include "stdio_files.h"

typedef struct progress_state {
    bool enabled;
    bool shown;  /* a line is on the terminal: clear it at the end */
    double last;
    double start;
} progress_state;

/* Rows as they are read; then, since a whole-frame encoder (one AVIF frame, WebP) does
 * its work after the last row, a line saying so until the job ends. */
static bool show_progress(void *user, uint32_t done, uint32_t total)
{
    progress_state *p = user;
    double now = lp_monotonic_seconds();
    if (!p->enabled)
        return true;
    if (done == total) {
        fprintf(stderr, "\r\033[Kleanpix: convert: %u rows read, encoding...", total);
        p->shown = true;
    } else if (now - p->last > 0.25 && now - p->start > 0.5) {
        fprintf(stderr, "\rleanpix: convert: %3u%% (%u/%u rows)", (unsigned)(100.0 * done / total),
                done, total);
        p->shown = true;
        p->last = now;
    }
    return true;
}

static void usage(FILE *f)
{
    char in[128], out[128];
    lp_file_format_list(in, sizeof in, false, NULL);
    lp_file_format_list(out, sizeof out, true, NULL);
    fprintf(f, "usage: leanpix convert IN OUT [options]\n\n"
               "Re-encodes one image (format of OUT from its extension or --format), decoding\n"
               "in strips, shrinking on load when resizing, and writing OUT only when the whole\n"
               "job succeeded.\n\n"
               "Reads %s; writes %s.\n\n"
               "options:\n", in, out);
    convert_options_help(f, NULL);
    cli_help_option(f, 22, "--stats", "print what was done and the memory used to stderr");
    cli_help_option(f, 22, "--json", "print the same as one JSON object on stdout");
    cli_help_option(f, 22, "--no-progress", "no progress line (shown on a terminal by default)");
    cli_help_option(f, 22, "-h, --help", "this text");
    fprintf(f, "\nIN '-' reads standard input (kept in an unlinked temp file in $TMPDIR, since\n"
               "some decoders seek); OUT '-' writes standard output and needs --format.\n");
    fprintf(f, "\nexit status: 0 done, 1 the image could not be converted, 2 bad command line,\n"
               "130/143 interrupted by SIGINT/SIGTERM (OUT not written, no temp file left)\n");
}

/* Where an AVIF job's encoder threads came from: -t, else the CPUs this process may use. */
static void threads_why(char *why, size_t n, unsigned given, const lp_machine *m)
{
    if (given) {
        snprintf(why, n, "from -t");
        return;
    }
    int at = snprintf(why, n, "of %u effective CPU%s: %u in the affinity mask", m->cpus,
                      m->cpus == 1 ? "" : "s", m->affinity_cpus);
    if (at > 0 && (size_t)at < n)
        snprintf(why + at, n - (size_t)at, m->cgroup_cpus > 0 ? ", cgroup CPU quota %.2f"
                                                              : ", no cgroup CPU quota",
                 m->cgroup_cpus);
}

static void print_plan(const lp_plan *p, unsigned given_threads)
{
    char why[160];
    threads_why(why, sizeof why, given_threads, cli_machine());
    if (p->grid)
        fprintf(stderr, "  plan: AVIF grid of %ux%u cells", p->cell_width, p->cell_height);
    else
        fprintf(stderr, "  plan: one AV1 frame");
    fprintf(stderr, ", %u encoder thread%s (%s), predicted peak %.1f MiB%s\n", p->threads,
            p->threads == 1 ? "" : "s", why, cli_mib(p->predicted_peak),
            p->alone ? " (over the budget: leanest mode)" : p->lean ? " (leanest mode)" : "");
}

static void print_stats(const char *in, const char *out, const lp_convert_stats *s, uint64_t rss,
                        const lp_budget *budget, unsigned given_threads)
{
    fprintf(stderr,
            "%s (%ux%u %s, %.2f MB) -> %s (%ux%u %s, %.2f MB) in %.2f s\n"
            "  chain: %s%s\n"
            "  memory: counted peak %.1f MiB (whole-image buffers %.1f MiB), process peak RSS %.1f MiB\n",
            in, s->in_width, s->in_height, lp_file_format_name(s->in_format), s->bytes_in / 1e6, out,
            s->out_width, s->out_height, lp_file_format_name(s->out_format), s->bytes_out / 1e6,
            s->seconds, s->chain, s->shrink_on_load > 1 ? " (shrink-on-load)" : "", cli_mib(s->mem_peak),
            cli_mib(s->whole_image_bytes), cli_mib(rss));
    if (s->shrink_on_load > 1)
        fprintf(stderr, "  decoder shrink-on-load: 1/%u\n", s->shrink_on_load);
    if (s->out_format == LP_FILE_AVIF)
        print_plan(&s->plan, given_threads);
    fprintf(stderr, "  budget: %s\n", budget->why);
}

static void print_json(const char *in, const char *out, const lp_convert_stats *s, uint64_t rss,
                       const lp_budget *budget, const lp_error *err)
{
    printf("{\"input\":");
    lp_json_string(stdout, in);
    printf(",\"output\":");
    lp_json_string(stdout, out);
    printf(",\"status\":\"%s\"", err->status == LP_OK ? "ok" : "error");
    if (err->status != LP_OK) {
        printf(",\"error\":");
        lp_json_string(stdout, lp_error_message(err));
    }
    printf(",\"input_format\":\"%s\",\"output_format\":\"%s\","
           "\"input_width\":%u,\"input_height\":%u,\"output_width\":%u,\"output_height\":%u,"
           "\"shrink_on_load\":%u,\"bytes_in\":%llu,\"bytes_out\":%llu,\"seconds\":%.4f,"
           "\"counted_peak_bytes\":%llu,\"whole_image_bytes\":%llu,\"peak_rss_bytes\":%llu,\"chain\":",
           lp_file_format_name(s->in_format), lp_file_format_name(s->out_format), s->in_width,
           s->in_height, s->out_width, s->out_height, s->shrink_on_load,
           (unsigned long long)s->bytes_in, (unsigned long long)s->bytes_out, s->seconds,
           (unsigned long long)s->mem_peak, (unsigned long long)s->whole_image_bytes,
           (unsigned long long)rss);
    lp_json_string(stdout, s->chain);
    printf(",\"budget_bytes\":%llu,\"budget_source\":", (unsigned long long)budget->bytes);
    lp_json_string(stdout, budget->why);
    printf(",\"warning\":");
    lp_json_string(stdout, s->warning[0] ? s->warning : NULL);
    const lp_plan *p = &s->plan;
    printf(",\"plan\":{\"mode\":\"%s\",\"cell_width\":%u,\"cell_height\":%u,\"threads\":%u,"
           "\"predicted_peak_bytes\":%llu,\"lean\":%s,\"alone\":%s}",
           p->grid ? "grid" : "frame", p->cell_width, p->cell_height, p->threads,
           (unsigned long long)p->predicted_peak, p->lean ? "true" : "false",
           p->alone ? "true" : "false");
    printf("}\n");
}

/* The command line of convert, read and checked. */
typedef struct convert_args {
    lp_convert_options opts;
    const char *paths[2];  /* input and output as given ("-": standard input / output) */
    const char *out_path;  /* the output to open: STDIO_STDOUT_PATH for "-" */
    bool stats, json, progress;
} convert_args;

/* Sets a->out_path from the output as given: "-" is standard output, which needs a format
 * and leaves no room for --json; a file's name must tell its format unless --format does.
 * -1 when fine, else LP_EXIT_USAGE. */
static int resolve_output(convert_args *a)
{
    a->out_path = a->paths[1];
    if (stdio_is_dash(a->out_path)) {
        if (a->opts.encode.format == LP_FILE_UNKNOWN || a->json) {
            cli_error("convert", a->json ? "--json prints on standard output: with OUT '-' use "
                                           "--stats"
                                         : "writing to standard output (OUT '-') needs --format");
            return LP_EXIT_USAGE;
        }
        a->out_path = STDIO_STDOUT_PATH;
    }
    if (a->opts.encode.format == LP_FILE_UNKNOWN &&
        !lp_file_format_writable(lp_file_format_from_path(a->paths[1]))) {
        char names[128];
        lp_file_format_list(names, sizeof names, true, ".");
        cli_error(a->paths[1], "cannot tell the output format from the name: name it %s, or use "
                               "--format", names);
        return LP_EXIT_USAGE;
    }
    return -1;
}

/* -1 when the command should go on, else the exit status (help printed, usage error). */
static int parse_args(int argc, char **argv, convert_args *a)
{
    convert_options_init(&a->opts);
    a->progress = isatty(2);
    int npaths = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
            usage(stdout);
            return LP_EXIT_OK;
        }
        if (!strcmp(arg, "--stats")) {
            a->stats = true;
        } else if (!strcmp(arg, "--json")) {
            a->json = true;
        } else if (!strcmp(arg, "--no-progress")) {
            a->progress = false;
        } else if (arg[0] == '-' && arg[1]) {
            int r = convert_option_parse(&a->opts, argc, argv, &i);
            if (r < 0)
                return LP_EXIT_USAGE;
            if (r == 0) {
                cli_error("convert", "unknown option '%s' (see leanpix convert --help)", arg);
                return LP_EXIT_USAGE;
            }
        } else if (npaths < 2) {
            a->paths[npaths++] = arg;
        } else {
            cli_error("convert", "too many arguments: '%s' (one input, one output)", arg);
            return LP_EXIT_USAGE;
        }
    }
    if (npaths != 2) {
        cli_error("convert", "needs an input and an output file (see leanpix convert --help)");
        return LP_EXIT_USAGE;
    }
    return resolve_output(a);
}

int cmd_convert(int argc, char **argv)
{
    convert_args a = {0};
    int status = parse_args(argc, argv, &a);
    if (status >= 0)
        return status;
    lp_convert_options *opts = &a.opts;
    const char *in_path = a.paths[0];
    /* the counted budget: --max-mem, else a share of the container's (or machine's) memory */
    lp_budget budget;
    cli_budget(cli_machine(), LP_BUDGET_CONVERT, opts->max_mem, 0, &budget);
    opts->max_mem = budget.bytes;
    /* threads left open: up to the CPUs this process may use (affinity, cgroup quota) */
    opts->cpus = lp_default_workers(cli_machine(), 0);
    progress_state ps = {.enabled = a.progress && !a.json, .start = lp_monotonic_seconds()};
    opts->progress = show_progress;
    opts->progress_user = &ps;

    char spooled[64];
    int spool_fd = -1;
    if (stdio_is_dash(in_path)) {
        spool_fd = stdio_spool_stdin(opts->encode.temp_dir, opts->limits.max_file_bytes, spooled,
                                     sizeof spooled);
        if (spool_fd < 0)
            return LP_EXIT_FAILURE;
        in_path = spooled;
    }

    /* Ctrl-C or a stop must not leave the hidden temp file behind. */
    cli_clean_up_on_interrupt(a.out_path, "not written");

    lp_convert_stats s;
    lp_error err = {0};
    lp_status st = cli_convert_file(in_path, a.out_path, opts, &s, &err);
    if (spool_fd >= 0)
        close(spool_fd);
    if (ps.shown)
        fputs("\r\033[K", stderr);
    uint64_t rss = lp_process_peak_rss();
    if (a.json)
        print_json(a.paths[0], a.paths[1], &s, rss, &budget, &err);
    if (st != LP_OK) {
        cli_lp_error(s.output_failed ? a.paths[1] : a.paths[0], &err);
        return LP_EXIT_FAILURE;
    }
    if (s.warning[0] && !a.json)  /* written, but something of the input was left out */
        cli_error(a.paths[0], "warning: %s", s.warning);
    if (a.stats)
        print_stats(a.paths[0], a.paths[1], &s, rss, &budget, opts->encode.threads);
    return LP_EXIT_OK;
}
