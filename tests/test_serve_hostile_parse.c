/*
 * test_serve_hostile_parse.c - the upload parsers of `leanpix serve` against hostile
 * uploads (issue 9, items 1-3), on the built-in demo data set (no ../shared needed):
 *
 * - a .profile with 13,500 distinct binding lines and then a NUL byte is refused and
 *   leaves nothing behind (ASan's leak checker in the sanitizer pass; in every build the
 *   request's counted memory returns to 0 and every counted block is freed);
 * - 1,300,000 nested <a> (3.9 MB) are refused by the depth limit with a clear reason,
 *   expat's memory is counted (a small budget refuses the parse) and stays small;
 * - YAML: deep nesting, too many nodes, alias bombs and self-referential aliases are
 *   refused after a bounded amount of work;
 * - N contexts that all bind one button: card building does work linear in N (the
 *   builder's step counter doubles when N doubles), and the per-input and per-card label
 *   limits keep the first labels and say in the log what was left out;
 * - log lines quoting long upload strings are cut.
 */
#include "testutil.h"
#include "mrcutil.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A growing text buffer for generated uploads. */
typedef struct text {
    char *s;
    size_t len, cap;
} text;

static void add(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(text *t, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->s + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        assert_true(n >= 0);
        if ((size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        t->cap = t->cap * 2 + (size_t)n + 4096;
        t->s = realloc(t->s, t->cap);
        assert_non_null(t->s);
    }
}

/* The regex matcher makes its process-wide contexts on first use (uncounted, kept): a
 * first parse before counting live blocks. */
static void warm_up(mrc_data *d)
{
    static const char line[] = "GstInput.JoystickDevice1 leanpix Demo Stick\n";
    mrc_file f = {(const uint8_t *)line, sizeof line - 1};
    mrc_binds b = {0};
    mrc_log log = {0};
    lp_error err = {0};
    assert_int_equal(mrc_sws_parse(d, &f, 1, &b, &log, &err), LP_OK);
    mrc_binds_free(&b);
    mrc_log_free(&log);
}

/* ---- item 1: the .profile with a NUL byte ---- */
static void test_sws_nul_after_many_lines_frees_everything(void **state)
{
    (void)state;
    mrc_data *d = lpt_mrc_demo();
    text t = {0};
    for (int i = 0; i < 13500; i++)
        add(&t, "GstKeyBinding.IncomStarshipInputConcepts.ConceptAction%05d.0.axis %d\n", i, i);
    add(&t, "GstInput.JoystickDevice1 leanpix Demo Stick\n");
    t.s[t.len++] = '\0';  /* the binary byte, on a line of its own */
    t.s[t.len++] = '\n';
    mrc_file f = {(const uint8_t *)t.s, t.len};
    warm_up(d);
    uint64_t blocks_before = mrc_mem_live_blocks();
    lp_mem *mem = lp_mem_new(0, NULL);
    lp_mem *outer = mrc_mem_enter(mem);
    mrc_binds b = {0};
    mrc_log log = {0};
    lp_error err = {0};
    assert_int_equal(mrc_sws_parse(d, &f, 1, &b, &log, &err), LP_ERR_CORRUPT);
    assert_non_null(strstr(err.message, "binary data"));
    mrc_binds_free(&b);
    mrc_log_free(&log);
    mrc_mem_leave(outer);
    print_message("13,500 lines then a NUL: counted peak %llu bytes, %llu after\n",
                  (unsigned long long)lp_mem_peak(mem), (unsigned long long)lp_mem_current(mem));
    /* the 13,500 actions' maps were made (and counted) before the NUL was seen ... */
    assert_true(lp_mem_peak(mem) > 1000000);
    /* ... and all of it is gone again */
    assert_int_equal(lp_mem_current(mem), 0);
    assert_int_equal(mrc_mem_live_blocks(), blocks_before);
    lp_mem_free_tracker(mem);
    free(t.s);
    mrc_data_free(d);
}

/* The same exit paths when the budget refuses the index part way: NOMEM, nothing kept. */
static void test_sws_budget_refusal_frees_everything(void **state)
{
    (void)state;
    mrc_data *d = lpt_mrc_demo();
    text t = {0};
    for (int i = 0; i < 5000; i++)
        add(&t, "GstKeyBinding.IncomStarshipInputConcepts.ConceptAction%05d.0.axis %d\n", i, i);
    mrc_file f = {(const uint8_t *)t.s, t.len};
    lp_mem *mem = lp_mem_new(256 << 10, NULL);
    lp_mem *outer = mrc_mem_enter(mem);
    mrc_binds b = {0};
    mrc_log log = {0};
    lp_error err = {0};
    assert_int_equal(mrc_sws_parse(d, &f, 1, &b, &log, &err), LP_ERR_NOMEM);
    assert_non_null(strstr(err.message, "memory budget"));
    mrc_binds_free(&b);
    mrc_log_free(&log);
    mrc_mem_leave(outer);
    assert_true(lp_mem_peak(mem) <= 256 << 10);
    assert_int_equal(lp_mem_current(mem), 0);
    lp_mem_free_tracker(mem);
    free(t.s);
    mrc_data_free(d);
}

/* ---- item 2: deep XML nesting ---- */
static char *nested(size_t depth, size_t *len)
{
    char *s = malloc(3 * depth + 1);
    assert_non_null(s);
    for (size_t i = 0; i < depth; i++)
        memcpy(s + 3 * i, "<a>", 3);
    s[3 * depth] = 0;
    *len = 3 * depth;
    return s;
}

static lp_status parse_fs_counted(mrc_data *d, const char *xml, size_t len, lp_mem *mem,
                                  const mrc_limits *limits, mrc_log *log, lp_error *err)
{
    mrc_file f = {(const uint8_t *)xml, len};
    lp_mem *outer = mrc_mem_enter(mem);
    mrc_binds b = {.limits = limits};
    lp_status st = mrc_fs2020_parse(d, &f, 1, &b, log, err);
    mrc_binds_free(&b);
    mrc_mem_leave(outer);
    return st;
}

static void test_xml_deep_nesting_is_refused_within_budget(void **state)
{
    (void)state;
    mrc_data *d = lpt_mrc_demo();
    size_t len;
    char *xml = nested(1300000, &len);  /* 3.9 MB */
    uint64_t rss_before = lp_process_current_rss();
    lp_mem *mem = lp_mem_new(80u << 20, NULL);
    mrc_log log = {0};
    lp_error err = {0};
    assert_int_equal(parse_fs_counted(d, xml, len, mem, NULL, &log, &err), LP_ERR_LIMITS);
    assert_non_null(strstr(err.message, "nested deeper than the limit of 64 elements"));
    assert_non_null(strstr(err.message, "file 1"));
    print_message("1.3M nested <a>: counted peak %llu bytes for a %zu-byte file\n",
                  (unsigned long long)lp_mem_peak(mem), len);
    /* expat was counted (it copies the input into its buffer) and stayed near that */
    assert_true(lp_mem_peak(mem) > 0);
    assert_true(lp_mem_peak(mem) < len + (1u << 20));
    assert_int_equal(lp_mem_current(mem), 0);
    /* and the process did not grow by the 200 MB an uncapped element stack takes */
    if (!getenv("LP_SANITIZED") && rss_before)
        assert_true(lp_process_peak_rss() < rss_before + (32u << 20));
    lp_mem_free_tracker(mem);

    /* expat's memory goes through the budget: a tiny one refuses the parser */
    mem = lp_mem_new(16 << 10, NULL);
    lp_error_clear(&err);
    assert_int_equal(parse_fs_counted(d, xml, len, mem, NULL, &log, &err), LP_ERR_NOMEM);
    assert_non_null(strstr(err.message, "memory budget"));
    assert_int_equal(lp_mem_current(mem), 0);
    lp_mem_free_tracker(mem);
    mrc_log_free(&log);
    free(xml);
    mrc_data_free(d);
}

static const char demo_xml[] =
    "<Device DeviceName=\"leanpix Demo Stick\"><Context ContextName=\"PLANE\">"
    "<Action ActionName=\"KEY_BRAKES\"><Primary><KEY Information=\"Button2\">1</KEY>"
    "</Primary></Action></Context></Device>";

static void test_xml_depth_limit_is_an_option(void **state)
{
    (void)state;
    mrc_data *d = lpt_mrc_demo();
    mrc_log log = {0};
    lp_error err = {0};
    /* this one nests 5 deep (Device, Context, Action, Primary, KEY); the game's files 6 */
    mrc_limits five = {.max_xml_depth = 5}, four = {.max_xml_depth = 4};
    assert_int_equal(parse_fs_counted(d, demo_xml, strlen(demo_xml), NULL, &five, &log, &err), LP_OK);
    assert_int_equal(parse_fs_counted(d, demo_xml, strlen(demo_xml), NULL, &four, &log, &err),
                     LP_ERR_LIMITS);
    assert_non_null(strstr(err.message, "limit of 4 elements"));
    mrc_log_free(&log);
    mrc_data_free(d);
}

/* The counted scope covers the whole of a normal upload: parse, cards, log; and all of it
 * is returned when they are freed. */
static void test_fs2020_upload_memory_is_counted_and_returned(void **state)
{
    (void)state;
    mrc_data *d = lpt_mrc_demo();
    warm_up(d);
    uint64_t blocks_before = mrc_mem_live_blocks();
    lp_mem *mem = lp_mem_new(0, NULL);
    lp_mem *outer = mrc_mem_enter(mem);
    mrc_file f = {(const uint8_t *)demo_xml, strlen(demo_xml)};
    mrc_binds b = {0};
    mrc_log log = {0};
    mrc_cards cards;
    lp_error err = {0};
    assert_int_equal(mrc_fs2020_parse(d, &f, 1, &b, &log, &err), LP_OK);
    assert_int_equal(mrc_build_cards(d, &d->fs2020, &b, &cards, &log, &err), LP_OK);
    assert_int_equal(cards.count, 1);
    mrc_binds_free(&b);
    mrc_mem_leave(outer);
    assert_true(lp_mem_current(mem) > 0);  /* the cards are held in the budget */
    mrc_cards_free(&cards);  /* as the server does, outside the scope, maybe on another thread */
    mrc_log_free(&log);
    assert_int_equal(lp_mem_current(mem), 0);
    assert_int_equal(mrc_mem_live_blocks(), blocks_before);
    lp_mem_free_tracker(mem);
    mrc_data_free(d);
}

/* ---- item 2: YAML ---- */
static lp_status parse_yaml(const char *which, const char *yaml, lp_error *err)
{
    mrc_data *d = mrc_data_new_empty();
    assert_non_null(d);
    lp_status st = mrc_config_parse(d, which, yaml, strlen(yaml), err);
    mrc_data_free(d);
    return st;
}

static void test_yaml_deep_nesting_and_many_nodes_refused(void **state)
{
    (void)state;
    text t = {0};
    add(&t, "InputMap:\n  X: ");
    for (int i = 0; i < 200000; i++)
        add(&t, "[");
    lp_error err = {0};
    assert_int_equal(parse_yaml("fs2020", t.s, &err), LP_ERR_LIMITS);
    assert_non_null(strstr(err.message, "nested deeper than 64"));
    t.len = 0;
    add(&t, "InputMap:\n  X: {a: ");
    for (int i = 0; i < 100; i++)
        add(&t, "{a: ");
    add(&t, "b");
    for (int i = 0; i < 101; i++)
        add(&t, "}");
    add(&t, "\n");
    lp_error_clear(&err);
    assert_int_equal(parse_yaml("fs2020", t.s, &err), LP_ERR_LIMITS);
    t.len = 0;
    add(&t, "InputLabels: [");
    for (int i = 0; i < 1100000; i++)
        add(&t, "a,");
    add(&t, "a]\n");
    lp_error_clear(&err);
    assert_int_equal(parse_yaml("fs2020", t.s, &err), LP_ERR_LIMITS);
    assert_non_null(strstr(err.message, "more than 1000000 YAML nodes"));
    free(t.s);
}

static void test_yaml_alias_bombs_refused(void **state)
{
    (void)state;
    /* "billion laughs": 10 levels of 10 references each, 10^10 nodes when expanded */
    text t = {0};
    add(&t, "Logo: x\nL0: &l0 {k: v}\n");
    for (int level = 1; level <= 10; level++) {
        add(&t, "L%d: &l%d {", level, level);
        for (int i = 0; i < 10; i++)
            add(&t, "%sk%d: *l%d", i ? ", " : "", i, level - 1);
        add(&t, "}\n");
    }
    add(&t, "InputMap:\n  X: *l10\n");
    lp_error err = {0};
    assert_int_equal(parse_yaml("fs2020", t.s, &err), LP_ERR_LIMITS);
    assert_non_null(strstr(err.message, "aliases expand past the limit"));

    /* the same bomb where the walk only looks keys up (box maps): every lookup is a step */
    t.len = 0;
    add(&t, "L0: &l0 {");
    for (int i = 0; i < 2000; i++)
        add(&t, "%sk%d: v", i ? ", " : "", i);
    add(&t, "}\nDeviceMap:\n  X:\n");
    for (int i = 0; i < 3000; i++)
        add(&t, "    in%d: *l0\n", i);
    lp_error_clear(&err);
    assert_int_equal(parse_yaml("devices", t.s, &err), LP_ERR_LIMITS);

    /* an alias to its own ancestor: a cycle, refused by the depth limit */
    lp_error_clear(&err);
    assert_int_equal(parse_yaml("fs2020", "Logo: x\nInputMap:\n  X: &a\n    b: *a\n", &err),
                     LP_ERR_LIMITS);
    assert_non_null(strstr(err.message, "levels"));
    free(t.s);
}

/* ---- item 3: many contexts on one button ---- */
static char *contexts_on_button(size_t n, size_t buttons, size_t *len)
{
    text t = {0};
    add(&t, "<?xml version=\"1.0\"?>\n<Device DeviceName=\"leanpix Demo Stick\">\n");
    for (size_t i = 0; i < n; i++) {
        add(&t, "<Context ContextName=\"CTX%06zu\">", i);
        for (size_t k = 1; k <= buttons; k++)
            add(&t, "<Action ActionName=\"KEY_GEAR_TOGGLE_%zu\"><Primary><KEY Information=\"Button%zu\">1"
                    "</KEY></Primary></Action>", k, k);
        add(&t, "</Context>\n");
    }
    add(&t, "</Device>\n");
    *len = t.len;
    return t.s;
}

static uint64_t build_work(mrc_data *d, size_t n, const mrc_limits *limits, mrc_cards *cards,
                           mrc_log *log)
{
    size_t len;
    char *xml = contexts_on_button(n, 1, &len);
    mrc_file f = {(const uint8_t *)xml, len};
    mrc_binds b = {.limits = limits};
    lp_error err = {0};
    assert_int_equal(mrc_fs2020_parse(d, &f, 1, &b, log, &err), LP_OK);
    assert_int_equal(mrc_build_cards(d, &d->fs2020, &b, cards, log, &err), LP_OK);
    mrc_binds_free(&b);
    free(xml);
    return cards->work;
}

static void test_many_contexts_on_one_button_is_linear(void **state)
{
    (void)state;
    mrc_data *d = lpt_mrc_demo();
    /* no label cap here, so that the cap cannot hide a quadratic step */
    mrc_limits unlimited = {.max_input_labels = 1u << 30, .max_card_labels = 1u << 30};
    uint64_t work[3];
    size_t ns[3] = {2000, 4000, 8000};
    for (int i = 0; i < 3; i++) {
        mrc_cards cards;
        mrc_log log = {0};
        work[i] = build_work(d, ns[i], &unlimited, &cards, &log);
        assert_int_equal(cards.count, 1);
        assert_int_equal(cards.cards[0].noverlays, 1);
        assert_int_equal(cards.cards[0].overlays[0].ncontexts, ns[i]);
        mrc_cards_free(&cards);
        mrc_log_free(&log);
    }
    print_message("card building steps for 2k/4k/8k contexts: %llu %llu %llu\n",
                  (unsigned long long)work[0], (unsigned long long)work[1],
                  (unsigned long long)work[2]);
    assert_true(work[0] >= 2000);
    assert_true(work[1] * 10 <= work[0] * 21);  /* doubling N at most doubles the work */
    assert_true(work[2] * 10 <= work[1] * 21);
    mrc_data_free(d);
}

static void test_label_limits_keep_the_first_and_log_the_rest(void **state)
{
    (void)state;
    mrc_data *d = lpt_mrc_demo();
    /* the default per-input limit: 5000 contexts on Button1, 32 drawn, said in the log */
    mrc_cards cards;
    mrc_log log = {0};
    build_work(d, 5000, NULL, &cards, &log);
    const mrc_overlay *o = &cards.cards[0].overlays[0];
    size_t texts = 0;
    for (size_t i = 0; i < o->ncontexts; i++)
        texts += o->ctx[i].ntexts;
    assert_int_equal(texts, 32);
    assert_string_equal(o->ctx[0].context, "CTX000000");  /* the first in sorted order */
    assert_string_equal(o->ctx[31].context, "CTX000031");
    assert_true(lpt_mrc_logged(&log, "input DemoStick:1 has 5000 labels, the first 32 are drawn"));
    mrc_cards_free(&cards);
    mrc_log_free(&log);

    /* the per-card limit across inputs: 4 buttons x 20 contexts, 50 per card */
    size_t len;
    char *xml = contexts_on_button(20, 4, &len);
    mrc_file f = {(const uint8_t *)xml, len};
    mrc_limits lim = {.max_card_labels = 50};
    mrc_binds b = {.limits = &lim};
    lp_error err = {0};
    assert_int_equal(mrc_fs2020_parse(d, &f, 1, &b, &log, &err), LP_OK);
    assert_int_equal(mrc_build_cards(d, &d->fs2020, &b, &cards, &log, &err), LP_OK);
    texts = 0;
    for (size_t k = 0; k < cards.cards[0].noverlays; k++) {
        assert_true(cards.cards[0].overlays[k].ncontexts > 0);  /* no empty boxes */
        for (size_t i = 0; i < cards.cards[0].overlays[k].ncontexts; i++)
            texts += cards.cards[0].overlays[k].ctx[i].ntexts;
    }
    assert_int_equal(texts, 50);
    assert_int_equal(cards.cards[0].noverlays, 3);  /* 20 + 20 + 10 of the 4 buttons' 80 */
    assert_true(lpt_mrc_logged(&log, "30 labels over the limit of 50 per card are not drawn"));
    mrc_binds_free(&b);
    mrc_cards_free(&cards);
    mrc_log_free(&log);
    free(xml);
    mrc_data_free(d);
}

/* A log line quoting a long upload string is cut, so a few long names repeated in many
 * lines cannot multiply the upload. */
static void test_log_lines_are_cut(void **state)
{
    (void)state;
    mrc_data *d = lpt_mrc_demo();
    text t = {0};
    add(&t, "<Device DeviceName=\"leanpix Demo Stick\"><Context ContextName=\"");
    for (int i = 0; i < 100000; i++)
        add(&t, "C");
    add(&t, "\">");
    for (int i = 0; i < 50; i++)
        add(&t, "<Action ActionName=\"NO_LABEL_%d\"><Primary><KEY Information=\"Button1\">1</KEY>"
                "</Primary></Action>", i);
    add(&t, "</Context></Device>");
    mrc_log log = {0};
    mrc_cards cards;
    mrc_file f = {(const uint8_t *)t.s, t.len};
    mrc_binds b = {0};
    lp_error err = {0};
    assert_int_equal(mrc_fs2020_parse(d, &f, 1, &b, &log, &err), LP_OK);
    assert_int_equal(mrc_build_cards(d, &d->fs2020, &b, &cards, &log, &err), LP_OK);
    assert_true(lpt_mrc_logged(&log, "label not found"));
    for (size_t i = 0; i < log.count; i++)
        assert_true(strlen(log.lines[i]) < MRC_LOG_LINE_MAX);
    /* a full log counts what it could not keep (the server says so in the answer) */
    size_t kept = log.count;
    for (size_t i = kept; i < MRC_LOG_LINES + 5; i++)
        mrc_log_add(&log, "line %zu", i);
    assert_int_equal(log.count, MRC_LOG_LINES);
    assert_int_equal(log.dropped, 5);
    mrc_binds_free(&b);
    mrc_cards_free(&cards);
    mrc_log_free(&log);
    free(t.s);
    mrc_data_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        /* first: it checks the process's peak RSS, which earlier tests would raise */
        cmocka_unit_test(test_xml_deep_nesting_is_refused_within_budget),
        cmocka_unit_test(test_sws_nul_after_many_lines_frees_everything),
        cmocka_unit_test(test_sws_budget_refusal_frees_everything),
        cmocka_unit_test(test_xml_depth_limit_is_an_option),
        cmocka_unit_test(test_fs2020_upload_memory_is_counted_and_returned),
        cmocka_unit_test(test_yaml_deep_nesting_and_many_nodes_refused),
        cmocka_unit_test(test_yaml_alias_bombs_refused),
        cmocka_unit_test(test_many_contexts_on_one_button_is_linear),
        cmocka_unit_test(test_label_limits_keep_the_first_and_log_the_rest),
        cmocka_unit_test(test_log_lines_are_cut),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
