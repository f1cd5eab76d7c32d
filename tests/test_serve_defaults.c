/*
 * test_serve_defaults.c - the server's options have one set of defaults: the table in
 * src/server/options.c. lp_server_options_default() must give its values, `serve --help`
 * must show them, and docs/serve.md's option list must be what `serve --help-markdown`
 * prints (scripts/update-serve-docs.sh rewrites it). The options made from limits that
 * were constants (PCRE2, .profile line, log, data set YAML) must reach what they limit.
 */
#include "testutil.h"
#include "mrcutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/options.h"

static const char *field(const lp_server_options *o, const lp_option *opt)
{
    return (const char *)o + opt->offset;
}

/* Every field the table describes has the table's default, in both ways the code reads
 * them; and lp_server_options_default() leaves nothing else set. */
static void test_code_defaults_are_the_table(void **state)
{
    (void)state;
    lp_server_options o;
    memset(&o, 0xa5, sizeof o);
    lp_server_options_default(&o);
    assert_memory_equal(&o, lp_server_defaults(), sizeof o);
    for (size_t i = 0; i < lp_server_option_count; i++) {
        const lp_option *opt = &lp_server_option_table[i];
        const char *f = field(&o, opt);
        unsigned u;
        uint64_t v;
        const char *text;
        switch (opt->kind) {
        case LP_OPTION_TEXT:
            memcpy(&text, f, sizeof text);
            if (opt->def_text)
                assert_string_equal(text, opt->def_text);
            else
                assert_null(text);
            break;
        case LP_OPTION_COUNT:
        case LP_OPTION_SECONDS:
            memcpy(&u, f, sizeof u);
            assert_int_equal(u, opt->def);
            break;
        case LP_OPTION_SIZE:
            memcpy(&v, f, sizeof v);
            assert_int_equal(v, opt->def);
            break;
        case LP_OPTION_FLAG:
            assert_int_equal(*(const bool *)f, opt->def != 0);
            break;
        }
    }
    assert_null(o.budget_source);  /* not an option: set by the CLI */
}

/* Names are unique; a default is within the accepted range (or derived: 0 with a note);
 * help texts name other options only as {name}, never as a CLI flag. */
static void test_table_is_consistent(void **state)
{
    (void)state;
    for (size_t i = 0; i < lp_server_option_count; i++) {
        const lp_option *opt = &lp_server_option_table[i];
        assert_ptr_equal(lp_option_find(lp_server_option_table, lp_server_option_count, opt->name),
                         opt);
        assert_non_null(opt->help);
        assert_null(strstr(opt->help, "--"));
        if (opt->def_note)
            assert_null(strstr(opt->def_note, "--"));
        bool numeric = opt->kind == LP_OPTION_COUNT || opt->kind == LP_OPTION_SECONDS ||
                       opt->kind == LP_OPTION_SIZE;
        if (numeric && !(opt->def == 0 && opt->def_note)) {
            assert_true(opt->def >= opt->min);
            assert_true(!opt->max || opt->def <= opt->max);
        }
        const char *texts[] = {opt->help, opt->def_note};
        for (int t = 0; t < 2; t++)
            for (const char *p = texts[t] ? strchr(texts[t], '{') : NULL; p; p = strchr(p + 1, '{')) {
                const char *close = strchr(p, '}');
                assert_non_null(close);
                char name[64];
                snprintf(name, sizeof name, "%.*s", (int)(close - p - 1), p + 1);
                if (!lp_option_find(lp_server_option_table, lp_server_option_count, name))
                    fail_msg("option %s refers to {%s}, which is not an option", opt->name, name);
            }
    }
}

/* A table text as the CLI writes it: {name} -> --name (or `--name` in Markdown). */
static void render(char *out, size_t size, const char *text, bool markdown)
{
    size_t n = 0;
    for (const char *p = text; *p && n + 1 < size; p++) {
        const char *close = *p == '{' ? strchr(p, '}') : NULL;
        if (!close) {
            out[n++] = *p;
            continue;
        }
        n += (size_t)snprintf(out + n, size - n, markdown ? "`--%.*s`" : "--%.*s",
                              (int)(close - p - 1), p + 1);
        p = close;
    }
    out[n < size ? n : size - 1] = '\0';
}

/* The line of text that starts with prefix (after leading spaces), copied with the
 * indented lines that continue it (--help wraps an option's text under it: lines that do
 * not start with '-'), joined by a space; NULL if none. */
static char *line_starting(const char *text, const char *prefix, char *out, size_t size)
{
    for (const char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        const char *p = line + strspn(line, " ");
        if (strncmp(p, prefix, strlen(prefix)) != 0)
            continue;
        size_t used = (size_t)snprintf(out, size, "%.*s", (int)strcspn(p, "\n"), p);
        for (const char *next = strchr(p, '\n'); next && next[1] == ' ' && used < size;
             next = strchr(next + 1, '\n')) {
            const char *q = next + 1 + strspn(next + 1, " ");
            if (*q == '-' || *q == '\n' || !*q)
                break;
            used += (size_t)snprintf(out + used, size - used, " %.*s", (int)strcspn(q, "\n"), q);
        }
        return out;
    }
    return NULL;
}

static void test_help_shows_the_table(void **state)
{
    (void)state;
    static char help[32768];
    assert_int_equal(lpt_run_capture(help, sizeof help, "%s serve --help", lpt_bin()), 0);
    for (size_t i = 0; i < lp_server_option_count; i++) {
        const lp_option *opt = &lp_server_option_table[i];
        char flag[80], line[1024], def[512], want[600];
        snprintf(flag, sizeof flag, "--%s ", opt->name);
        if (!line_starting(help, flag, line, sizeof line))
            fail_msg("serve --help does not list --%s", opt->name);
        if (opt->kind == LP_OPTION_FLAG)
            continue;
        render(def, sizeof def, lp_option_default_text(opt, (char[512]){0}, 512), false);
        snprintf(want, sizeof want, "(default: %s)", def);
        if (!strstr(line, want))
            fail_msg("serve --help: '%s' does not say %s", line, want);
    }
}

/* docs/serve.md between its markers, or NULL; the file in *doc (malloc'd). */
static char *doc_block(char **doc, size_t *len)
{
    const char *src = getenv("LP_SOURCE_DIR");
    assert_non_null(src);
    char path[4096];
    snprintf(path, sizeof path, "%s/docs/serve.md", src);
    size_t size;
    *doc = (char *)lpt_read_file(path, &size);
    assert_non_null(*doc);
    char *text = realloc(*doc, size + 1);
    assert_non_null(text);
    text[size] = '\0';
    *doc = text;
    char *begin = strstr(text, "<!-- serve-options: begin");
    char *end = strstr(text, "<!-- serve-options: end");
    if (!begin || !end || end < begin)
        return NULL;
    begin = strchr(begin, '\n') + 1;
    *len = (size_t)(end - begin);
    return begin;
}

static void test_docs_list_is_generated_from_the_table(void **state)
{
    (void)state;
    static char md[32768];
    assert_int_equal(lpt_run_capture(md, sizeof md, "%s serve --help-markdown", lpt_bin()), 0);
    assert_true(strlen(md) < sizeof md - 1);
    char *doc;
    size_t len = 0;
    char *block = doc_block(&doc, &len);
    if (!block)
        fail_msg("docs/serve.md has no serve-options markers");
    if (len != strlen(md) || memcmp(block, md, len) != 0) {
        /* the first line that differs, to say what drifted */
        const char *a = block, *b = md;
        while (*a && *a == *b && a < block + len)
            a++, b++;
        while (a > block && a[-1] != '\n')
            a--, b--;
        fail_msg("docs/serve.md's option list differs from `leanpix serve --help-markdown` "
                 "(run scripts/update-serve-docs.sh):\n  doc:    %.*s\n  binary: %.*s",
                 (int)strcspn(a, "\n"), a, (int)strcspn(b, "\n"), b);
    }
    /* and the generated list shows the table's defaults */
    for (size_t i = 0; i < lp_server_option_count; i++) {
        const lp_option *opt = &lp_server_option_table[i];
        char prefix[80], line[1024], def[512], want[600];
        snprintf(prefix, sizeof prefix, "| `--%s%s", opt->name,
                 opt->kind == LP_OPTION_FLAG ? "`" : " ");  /* not --max-log-lines for -line */
        if (!line_starting(md, prefix, line, sizeof line))
            fail_msg("serve --help-markdown does not list --%s", opt->name);
        render(def, sizeof def,
               opt->kind == LP_OPTION_FLAG ? "off" : lp_option_default_text(opt, (char[512]){0}, 512),
               true);
        snprintf(want, sizeof want, "` | %s | ", def);
        assert_non_null(strstr(line, want));
    }
    free(doc);
}

/* ---- the options made from constants reach what they limit ---- */

static lp_status sws_parse(mrc_data *d, const char *text, mrc_binds *b, mrc_log *log)
{
    mrc_file f = {(const uint8_t *)text, strlen(text)};
    lp_error err = {0};
    return mrc_sws_parse(d, &f, 1, b, log, &err);
}

/* One .profile line the Joystick regex matches, naming a device the data set lacks: the
 * parse logs it, unless the line is skipped or the match is cut off. */
static bool unknown_device_logged(mrc_data *d, const mrc_limits *limits)
{
    static const char line[] = "GstInput.JoystickDevice1 No Such Stick\n";
    mrc_binds b = {.limits = limits};
    mrc_log log = {0};
    const mrc_limits *outer = mrc_limits_enter(limits);
    assert_int_equal(sws_parse(d, line, &b, &log), LP_OK);
    mrc_limits_leave(outer);
    bool logged = lpt_mrc_logged(&log, "SWS Unknown device found No Such Stick");
    mrc_binds_free(&b);
    mrc_log_free(&log);
    return logged;
}

static void test_parse_limits_are_options(void **state)
{
    (void)state;
    mrc_data *d = lpt_mrc_demo();
    mrc_limits defaults = {0}, short_lines = {.max_profile_line = 20},
               few_steps = {.regex_match_limit = 1}, shallow = {.regex_depth_limit = 1},
               long_lines = {.max_profile_line = 38};
    assert_true(unknown_device_logged(d, NULL));
    assert_true(unknown_device_logged(d, &defaults));
    assert_true(unknown_device_logged(d, &long_lines));  /* the line is 38 bytes */
    assert_false(unknown_device_logged(d, &short_lines));
    assert_false(unknown_device_logged(d, &few_steps));
    assert_false(unknown_device_logged(d, &shallow));
    mrc_data_free(d);

    /* the log: its lines and their length */
    mrc_log log = {.max_lines = 3, .max_line = 16};
    for (int i = 0; i < 5; i++)
        mrc_log_add(&log, "line %d of a long log", i);
    assert_int_equal(log.count, 3);
    assert_int_equal(log.dropped, 2);
    assert_string_equal(log.lines[0], "line 0 of a ...");
    mrc_log_free(&log);
    assert_int_equal(log.max_lines, 3);  /* a freed log keeps its limits */
    mrc_log_add(&log, "%s", "x");
    mrc_log_free(&log);
}

static void test_yaml_limits_are_options(void **state)
{
    (void)state;
    static const char yaml[] = "Logo: sws\nRegexes:\n  Joystick: a\n  Bind: b\n"
                               "InputMapping2:\n  S:\n    8: { Axis: ZAxis }\n"
                               "InputLabels:\n  Fire: Fire\n";  /* nested 4 deep */
    mrc_limits three = {.max_yaml_depth = 3}, ten = {.max_yaml_depth = 10},
               tiny = {.max_yaml_size = 8}, few = {.max_yaml_nodes = 4};
    const mrc_limits *cases[] = {NULL, &ten, &three, &tiny, &few};
    const lp_status want[] = {LP_OK, LP_OK, LP_ERR_LIMITS, LP_ERR_LIMITS, LP_ERR_LIMITS};
    const char *reason[] = {NULL, NULL, "nested deeper than 3", "over the limit of 8",
                            "more than 4 YAML nodes"};
    for (int i = 0; i < 5; i++) {
        mrc_data *d = mrc_data_new_empty();
        assert_non_null(d);
        lp_error err = {0};
        const mrc_limits *outer = mrc_limits_enter(cases[i]);
        lp_status st = mrc_config_parse(d, "sws", yaml, sizeof yaml - 1, &err);
        mrc_limits_leave(outer);
        mrc_data_free(d);
        if (st != want[i] || (reason[i] && !strstr(lp_error_message(&err), reason[i])))
            fail_msg("case %d: status %d, '%s'", i, st, lp_error_message(&err));
    }
}

/* The CLI hands the new options to the server: a data set over --max-yaml-size is refused
 * at start-up (exit 1) with the file's name, and the CLI names the option (the library's
 * message does not); a bad value is a usage error (exit 2). */
static void test_cli_passes_the_options(void **state)
{
    (void)state;
    char out[4096];
    /* (timeout: a server that ignored the limit would start and serve) */
    assert_int_equal(lpt_run_capture(out, sizeof out,
                                     "timeout 30 %s serve --listen 127.0.0.1:0 --max-yaml-size 100",
                                     lpt_bin()),
                     1);
    assert_non_null(strstr(out, "bytes of YAML, over the limit of 100 (raise it with --max-yaml-size)"));
    assert_int_equal(lpt_run_capture(out, sizeof out, "%s serve --max-log-line 3", lpt_bin()), 2);
    assert_int_equal(lpt_run_capture(out, sizeof out, "%s serve --regex-match-limit", lpt_bin()), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_code_defaults_are_the_table),
        cmocka_unit_test(test_table_is_consistent),
        cmocka_unit_test(test_help_shows_the_table),
        cmocka_unit_test(test_docs_list_is_generated_from_the_table),
        cmocka_unit_test(test_parse_limits_are_options),
        cmocka_unit_test(test_yaml_limits_are_options),
        cmocka_unit_test(test_cli_passes_the_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
