/*
 * test_serve_metrics.c - GET /metrics read as a Prometheus scraper reads the text format
 * 0.0.4 (https://prometheus.io/docs/instrumenting/exposition_formats/): every line is a
 * HELP, a TYPE or a sample; every family has exactly one HELP and one TYPE, both before
 * its first sample; a family's samples form one group; sample names fit their family's
 * type (a histogram's _bucket with le, _sum and _count; a counter's name ends in _total);
 * names, labels and values have the format's syntax (label values escape \\, " and
 * newlines); histogram buckets are cumulative and +Inf equals _count. The server runs
 * in-process with the demo data set, after a few requests, with a budget reason that
 * needs escaping.
 */
#define _GNU_SOURCE
#include "testutil.h"
#include "httpc.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/serve.h"

#define FAMILIES_MAX 128

typedef struct family {
    char name[128], type[16];
    int help, type_lines;   /* how many of each */
    bool has_samples, closed;
    double last_bucket, inf_bucket, count;
} family;

typedef struct scrape {
    family f[FAMILIES_MAX];
    int n;
    family *current;  /* the family whose samples were last seen */
    int errors;
    int line;
} scrape;

static void problem(scrape *s, const char *text, const char *what)
{
    fprintf(stderr, "/metrics line %d: %s: %.*s\n", s->line, what, (int)strcspn(text, "\n"), text);
    s->errors++;
}

static family *family_named(scrape *s, const char *name, size_t len, bool make)
{
    for (int i = 0; i < s->n; i++)
        if (strlen(s->f[i].name) == len && strncmp(s->f[i].name, name, len) == 0)
            return &s->f[i];
    if (!make || s->n == FAMILIES_MAX || len >= sizeof s->f[0].name)
        return NULL;
    family *f = &s->f[s->n++];
    memset(f, 0, sizeof *f);
    memcpy(f->name, name, len);
    f->last_bucket = -1;
    f->inf_bucket = NAN;
    f->count = NAN;
    return f;
}

static size_t name_len(const char *p, bool colon)
{
    size_t n = 0;
    while (isalpha((unsigned char)p[n]) || p[n] == '_' || (colon && p[n] == ':') ||
           (n && isdigit((unsigned char)p[n])))
        n++;
    return n;
}

static bool ends_with(const char *s, size_t len, const char *suffix)
{
    size_t k = strlen(suffix);
    return len >= k && strncmp(s + len - k, suffix, k) == 0;
}

/* The family a sample name belongs to (a histogram's name_bucket, _sum, _count). */
static family *family_of(scrape *s, const char *name, size_t len, const char **suffix)
{
    static const char *const parts[] = {"_bucket", "_sum", "_count"};
    *suffix = "";
    family *f = family_named(s, name, len, false);
    if (f)
        return f;
    for (int i = 0; i < 3; i++)
        if (ends_with(name, len, parts[i]) &&
            (f = family_named(s, name, len - strlen(parts[i]), false)) &&
            (strcmp(f->type, "histogram") == 0 || (i && strcmp(f->type, "summary") == 0))) {
            *suffix = parts[i];
            return f;
        }
    return NULL;
}

static void comment_line(scrape *s, const char *line)
{
    bool help = strncmp(line, "# HELP ", 7) == 0, type = strncmp(line, "# TYPE ", 7) == 0;
    if (!help && !type)
        return;  /* other comments are allowed */
    const char *name = line + 7;
    size_t n = name_len(name, true);
    if (!n || name[n] != ' ') {
        problem(s, line, "no metric name and text after HELP/TYPE");
        return;
    }
    family *f = family_named(s, name, n, true);
    if (!f) {
        problem(s, line, "too many families");
        return;
    }
    if (f->has_samples)
        problem(s, line, "HELP or TYPE after the family's samples");
    const char *rest = name + n + 1;
    size_t rlen = strcspn(rest, "\n");
    if (help) {
        f->help++;
        if (!rlen)
            problem(s, line, "empty HELP");
        for (size_t i = 0; i < rlen; i++)  /* HELP escapes only \\ and \n */
            if (rest[i] == '\\' && rest[i + 1] != '\\' && rest[i + 1] != 'n')
                problem(s, line, "a bad escape in HELP");
            else if (rest[i] == '\\')
                i++;
    } else {
        f->type_lines++;
        snprintf(f->type, sizeof f->type, "%.*s", (int)rlen, rest);
        if (strcmp(f->type, "counter") && strcmp(f->type, "gauge") &&
            strcmp(f->type, "histogram") && strcmp(f->type, "summary") &&
            strcmp(f->type, "untyped"))
            problem(s, line, "unknown TYPE");
    }
}

/* Labels {a="x",b="y"} at p; returns the position after them, NULL when malformed; le's
 * value copied into le (empty if none). */
static const char *labels(const char *p, char *le, size_t le_size)
{
    *le = 0;
    if (*p != '{')
        return p;
    p++;
    while (*p != '}') {
        size_t n = name_len(p, false);
        if (!n || p[n] != '=' || p[n + 1] != '"')
            return NULL;
        bool is_le = n == 2 && strncmp(p, "le", 2) == 0;
        p += n + 2;
        size_t o = 0;
        for (; *p != '"'; p++) {
            if (!*p || *p == '\n')
                return NULL;
            if (*p == '\\') {
                p++;
                if (*p != '\\' && *p != '"' && *p != 'n')
                    return NULL;
            }
            if (is_le && o + 1 < le_size)
                le[o++] = *p;
        }
        if (is_le)
            le[o] = 0;
        p++;
        if (*p == ',')
            p++;
        else if (*p != '}')
            return NULL;
    }
    return p + 1;
}

static void sample_line(scrape *s, const char *line)
{
    size_t n = name_len(line, true);
    const char *suffix;
    family *f = n ? family_of(s, line, n, &suffix) : NULL;
    if (!f) {
        problem(s, line, "a sample of a family without HELP and TYPE before it");
        return;
    }
    if (f->help != 1 || f->type_lines != 1)
        problem(s, line, "a sample of a family without exactly one HELP and one TYPE");
    if (f->closed)
        problem(s, line, "a family's samples are not one group");
    if (s->current && s->current != f)
        s->current->closed = true;
    s->current = f;
    f->has_samples = true;
    if (strcmp(f->type, "counter") == 0 && !ends_with(f->name, strlen(f->name), "_total"))
        problem(s, line, "a counter whose name does not end in _total");
    char le[32];
    const char *p = labels(line + n, le, sizeof le);
    if (!p || *p != ' ') {
        problem(s, line, "malformed labels");
        return;
    }
    char *end;
    double v = strtod(p + 1, &end);  /* strtod reads +Inf, -Inf and NaN too */
    if (end == p + 1 || (*end && *end != '\n' && *end != ' '))
        problem(s, line, "the value is not a number");
    if (strcmp(f->type, "histogram") == 0) {
        if (strcmp(suffix, "_bucket") == 0) {
            if (!*le)
                problem(s, line, "a bucket without le");
            if (v < f->last_bucket)
                problem(s, line, "buckets not cumulative");
            f->last_bucket = v;
            if (strcmp(le, "+Inf") == 0)
                f->inf_bucket = v;
        } else if (strcmp(suffix, "_count") == 0) {
            f->count = v;
        } else if (!*suffix) {
            problem(s, line, "a histogram sample without _bucket, _sum or _count");
        }
    }
}

static int check_scrape(const char *text, int *families)
{
    static scrape s;
    memset(&s, 0, sizeof s);
    for (const char *line = text; *line;) {
        s.line++;
        if (*line == '#')
            comment_line(&s, line);
        else if (*line != '\n')
            sample_line(&s, line);
        const char *nl = strchr(line, '\n');
        if (!nl) {
            problem(&s, line, "the last line has no newline");
            break;
        }
        line = nl + 1;
    }
    for (int i = 0; i < s.n; i++) {
        family *f = &s.f[i];
        if (!f->has_samples || f->help != 1 || f->type_lines != 1) {
            fprintf(stderr, "/metrics: family %s: %d HELP, %d TYPE, %s\n", f->name, f->help,
                    f->type_lines, f->has_samples ? "samples" : "no samples");
            s.errors++;
        }
        if (strcmp(f->type, "histogram") == 0 && !(f->inf_bucket == f->count)) {
            fprintf(stderr, "/metrics: histogram %s: +Inf bucket %g, count %g\n", f->name,
                    f->inf_bucket, f->count);
            s.errors++;
        }
    }
    *families = s.n;
    return s.errors;
}

static void test_every_series_has_help_and_type(void **state)
{
    (void)state;
    lp_server_options o;
    lp_server_options_default(&o);
    o.listen = "127.0.0.1:0";
    o.budget_source = "cgroup \"memory.max\" of C:\\x\nsecond line";  /* escaped as a label */
    lp_server *srv = NULL;
    lp_error err = {0};
    assert_int_equal(lp_server_start(&srv, &o, &err), LP_OK);
    uint16_t port = lp_server_port(srv);
    lpt_http_response r;
    assert_int_equal(lpt_http(port, "GET", "/healthz", NULL, NULL, 0, &r), 200);
    lpt_http_free(&r);
    assert_int_equal(lpt_http(port, "GET", "/nowhere", NULL, NULL, 0, &r), 404);
    lpt_http_free(&r);
    assert_int_equal(lpt_http(port, "GET", "/metrics", NULL, NULL, 0, &r), 200);
    char ct[100];
    assert_string_equal(lpt_http_header(&r, "Content-Type", ct, sizeof ct),
                        "text/plain; version=0.0.4");
    int families = 0;
    int errors = check_scrape(r.body, &families);
    fprintf(stderr, "%d families, %d problems\n", families, errors);
    assert_int_equal(errors, 0);
    assert_true(families >= 25);
    assert_non_null(strstr(r.body, "leanpix_budget_info{source=\"cgroup \\\"memory.max\\\" of "
                                   "C:\\\\x\\nsecond line\"} 1\n"));
    lpt_http_free(&r);
    lp_server_stop(srv);
}

/* The checker itself finds what it is for. */
static void test_checker_finds_problems(void **state)
{
    (void)state;
    int n;
    assert_int_equal(check_scrape("# HELP a_total A.\n# TYPE a_total counter\na_total 1\n", &n), 0);
    assert_true(check_scrape("# TYPE a_total counter\na_total 1\n", &n) > 0);   /* no HELP */
    assert_true(check_scrape("# HELP a A.\na 1\n", &n) > 0);                   /* no TYPE */
    assert_true(check_scrape("a 1\n# HELP a A.\n# TYPE a gauge\n", &n) > 0);    /* after */
    assert_true(check_scrape("# HELP a A.\n# TYPE a counter\na 1\n", &n) > 0);  /* _total */
    assert_true(check_scrape("# HELP a A.\n# TYPE a gauge\n# HELP b B.\n# TYPE b gauge\n"
                             "a 1\nb 1\na{x=\"y\"} 1\n", &n) > 0);              /* groups */
    assert_true(check_scrape("# HELP a A.\n# TYPE a gauge\na{x=\"\\q\"} 1\n", &n) > 0);
    assert_true(check_scrape("# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\n"
                             "h_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n", &n) > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checker_finds_problems),
        cmocka_unit_test(test_every_series_has_help_and_type),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
