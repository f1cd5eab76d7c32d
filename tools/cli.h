/*
 * cli.h - what the subcommands of the leanpix CLI share: the command table, error
 * printing in the one format users see ("leanpix: FILE: reason"), and small parsers.
 *
 * Only the CLI prints and exits; the library reports through lp_error.
 */
#ifndef LEANPIX_CLI_H
#define LEANPIX_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "leanpix/leanpix.h"

/* Exit codes shared by all subcommands (documented in README). */
enum {
    LP_EXIT_OK = 0,
    LP_EXIT_FAILURE = 1,   /* the job failed (bad input, I/O error) */
    LP_EXIT_USAGE = 2,     /* bad command line */
    LP_EXIT_PARTIAL = 3    /* batch: some images failed, the rest succeeded */
};

typedef struct lp_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);  /* argv[0] is the subcommand name */
} lp_command;

/* One line on stderr: "leanpix: <subject>: <message>" (subject may be NULL). */
void cli_error(const char *subject, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cli_lp_error(const char *subject, const lp_error *err);

/* Parsers that print a usage error and return false on bad text. */
bool cli_parse_uint(const char *opt, const char *text, uint32_t min, uint32_t max, uint32_t *out);
bool cli_parse_int(const char *opt, const char *text, int min, int max, int *out);
bool cli_parse_double(const char *opt, const char *text, double min, double max, double *out);
bool cli_parse_size(const char *opt, const char *text, uint64_t *out);
/* "640x480", "640x" or "x480" (0 for a missing side). */
bool cli_parse_dims(const char *opt, const char *text, uint32_t *w, uint32_t *h);

/* Bytes in MiB, for what the commands print. */
static inline double cli_mib(uint64_t bytes)
{
    return (double)bytes / 1048576.0;
}


/* Columns of --help's lines: option texts wrap under their first line. */
#define CLI_HELP_COLUMNS 80

/* One option of --help: "  LEFT (padded to LEFT_WIDTH) TEXT", TEXT wrapped at
 * CLI_HELP_COLUMNS. The man pages and completions read these lines back
 * (scripts/help.awk): a wrapped line is indented and never starts with '-'. */
void cli_help_option(FILE *f, int left_width, const char *left, const char *text);

/* SIGINT/SIGTERM from now on: remove the library's temp files, print "leanpix: SUBJECT:
 * interrupted by SIGINT: WHAT" and end by the signal (the shell reports 130 / 143). A
 * signal that was ignored at start (a script's background job) stays ignored. */
void cli_clean_up_on_interrupt(const char *subject, const char *what);

/* Monotonic seconds: lp_monotonic_seconds() of core/clock.h, the one clock. */
#include "core/clock.h"
#include "core/json.h"  /* lp_json_string: the one JSON string writer */

/* The subcommands (tools/cmd_*.c). */
int cmd_convert(int argc, char **argv);
int cmd_batch(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_profile(int argc, char **argv);

#endif
