/*
 * convert_options.h - the encoding/resizing/limits options that `convert` and `batch`
 * share, parsed in one place so both commands accept the same words.
 */
#ifndef LEANPIX_CONVERT_OPTIONS_H
#define LEANPIX_CONVERT_OPTIONS_H

#include <stdio.h>
#include "leanpix/leanpix.h"

/* lp_convert_options_default plus what the CLI takes from its environment ($TMPDIR). */
void convert_options_init(lp_convert_options *opts);

/* Tries argv[*i] (and its value in argv[*i + 1]) as a convert option.
 * Returns 1 when consumed (advancing *i past the value), 0 when argv[*i] is not a convert
 * option, -1 after printing a one-line usage error. */
int convert_option_parse(lp_convert_options *opts, int argc, char **argv, int *i);

/* A hint naming the option that raises the limit an error reports (" (raise it with
 * --max-scans)"), or "". */
const char *convert_option_hint(const lp_error *err);

/* The options' help text, for `--help`, but for the options named in skip (NULL-terminated;
 * NULL: none), which the command describes itself (batch: --format, --max-mem). */
void convert_options_help(FILE *f, const char *const *skip);

#endif
