/*
 * cli.c - helpers shared by the subcommands: error lines, option parsers, JSON strings,
 * and removing temp files when SIGINT/SIGTERM ends a command.
 *
 * Signals: the handler may only call async-signal-safe functions, so the message is built
 * beforehand and the temp paths are the library's own table (lp_output_remove_temps()).
 * After cleaning up the process ends by the signal itself (default action, re-raised):
 * the shell reports 130 or 143, and a calling shell script sees that its child was
 * interrupted and stops too, which it would not do for an ordinary exit(130).
 */
#define _GNU_SOURCE
#include "cli.h"
#include "convert_options.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void cli_error(const char *subject, const char *fmt, ...)
{
    fputs("leanpix: ", stderr);
    if (subject)
        fprintf(stderr, "%s: ", subject);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void cli_lp_error(const char *subject, const lp_error *err)
{
    cli_error(subject, "%s%s", lp_error_message(err), convert_option_hint(err));
}

bool cli_parse_int(const char *opt, const char *text, int min, int max, int *out)
{
    char *end;
    errno = 0;
    long v = text ? strtol(text, &end, 10) : 0;
    if (!text || !*text || *end || errno || v < min || v > max) {
        cli_error(NULL, "%s wants a whole number from %d to %d, not '%s'", opt, min, max,
                  text ? text : "");
        return false;
    }
    *out = (int)v;
    return true;
}

bool cli_parse_uint(const char *opt, const char *text, uint32_t min, uint32_t max, uint32_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = text ? strtoull(text, &end, 10) : 0;
    if (!text || !*text || *end || errno || text[0] == '-' || v < min || v > max) {
        cli_error(NULL, "%s wants a whole number from %u to %u, not '%s'", opt, min, max,
                  text ? text : "");
        return false;
    }
    *out = (uint32_t)v;
    return true;
}

bool cli_parse_double(const char *opt, const char *text, double min, double max, double *out)
{
    char *end;
    errno = 0;
    double v = text ? strtod(text, &end) : 0;
    if (!text || !*text || *end || errno || !(v >= min && v <= max)) {
        cli_error(NULL, "%s wants a number from %g to %g, not '%s'", opt, min, max, text ? text : "");
        return false;
    }
    *out = v;
    return true;
}

bool cli_parse_size(const char *opt, const char *text, uint64_t *out)
{
    lp_error err = {0};
    if (lp_parse_size(text, out, &err) != LP_OK) {
        cli_error(NULL, "%s: %s", opt, lp_error_message(&err));
        return false;
    }
    return true;
}

bool cli_parse_dims(const char *opt, const char *text, uint32_t *w, uint32_t *h)
{
    const char *x = text ? strchr(text, 'x') : NULL;
    if (!x) {
        cli_error(NULL, "%s wants WIDTHxHEIGHT (e.g. 1920x1080, 1920x or x1080), not '%s'", opt,
                  text ? text : "");
        return false;
    }
    char wbuf[32] = {0}, hbuf[32] = {0};
    size_t wl = (size_t)(x - text);
    if (wl >= sizeof wbuf || strlen(x + 1) >= sizeof hbuf)
        return cli_parse_dims(opt, NULL, w, h);
    memcpy(wbuf, text, wl);
    strcpy(hbuf, x + 1);
    *w = *h = 0;
    if (!*wbuf && !*hbuf)
        return cli_parse_dims(opt, NULL, w, h);
    if (*wbuf && !cli_parse_uint(opt, wbuf, 1, 1000000, w))
        return false;
    if (*hbuf && !cli_parse_uint(opt, hbuf, 1, 1000000, h))
        return false;
    return true;
}

static char interrupt_message[2][512];  /* [0] SIGINT, [1] SIGTERM */

static void on_interrupt(int sig)
{
    int saved = errno;
    lp_output_remove_temps();
    const char *msg = interrupt_message[sig == SIGTERM];
    ssize_t w = write(2, msg, strlen(msg));
    (void)w;
    errno = saved;
    raise(sig);  /* SA_RESETHAND restored the default: delivered when we return */
}

/* Columns taken by N bytes of UTF-8 (continuation bytes take none). */
static int text_columns(const char *s, size_t n)
{
    int cols = 0;
    for (size_t i = 0; i < n; i++)
        cols += ((unsigned char)s[i] & 0xC0) != 0x80;
    return cols;
}

/* The next unit that must not be split at a line end: a word, with the words after it that
 * start with '-' (help.awk would read a line starting with '-' as another option) or that
 * follow one ending with '-' ("(- = stdout)"). */
static size_t help_unit(const char *p)
{
    size_t n = strcspn(p, " ");
    while (p[n] == ' ' && (p[n + 1] == '-' || p[n - 1] == '-'))
        n += 1 + strcspn(p + n + 1, " ");
    return n;
}

void cli_help_option(FILE *f, int left_width, const char *left, const char *text)
{
    int indent = 2 + left_width + 1;
    int col = fprintf(f, "  %-*s ", left_width, left);
    bool line_empty = true;
    for (const char *p = text;;) {
        p += strspn(p, " ");
        if (!*p)
            break;
        size_t n = help_unit(p);
        int cols = text_columns(p, n);
        if (!line_empty && col + 1 + cols > CLI_HELP_COLUMNS) {
            col = fprintf(f, "\n%*s", indent, "") - 1;
            line_empty = true;
        }
        if (!line_empty)
            col += fprintf(f, " ");
        fwrite(p, 1, n, f);
        col += cols;
        line_empty = false;
        p += n;
    }
    fputc('\n', f);
}

void cli_clean_up_on_interrupt(const char *subject, const char *what)
{
    static const char *const names[2] = {"SIGINT", "SIGTERM"};
    const char *clear = isatty(2) ? "\r\033[K" : "";  /* over a progress line */
    for (int i = 0; i < 2; i++)
        snprintf(interrupt_message[i], sizeof interrupt_message[i], "%sleanpix: %s: interrupted by %s: %s\n",
                 clear, subject, names[i], what);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_interrupt;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGINT);
    sigaddset(&sa.sa_mask, SIGTERM);
    /* A signal ignored when we started stays ignored: a shell script's background job
     * (`leanpix convert ... &`) must not be stopped by the Ctrl-C meant for the script. */
    static const int signals[2] = {SIGINT, SIGTERM};
    for (int i = 0; i < 2; i++) {
        struct sigaction old;
        if (sigaction(signals[i], NULL, &old) == 0 && old.sa_handler != SIG_IGN)
            sigaction(signals[i], &sa, NULL);
    }
}
