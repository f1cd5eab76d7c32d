/*
 * test_serve_answers.c - the forms of an upload's answer (src/server/answer.c), with the
 * server in-process on the demo data set (and ../shared/metarefcard for the memory check):
 * the HTML page (no empty log heading; each card's alt text is its device's name,
 * escaped), JSON with the cards inline (?inline=1), multipart/mixed (Accept), the
 * max-inline limit (413, for every inline form, while URLs still work), and the inline
 * answer counted in the memory budget while it is written and given back afterwards.
 */
#define _GNU_SOURCE
#include "mrcutil.h"
#include "testutil.h"
#include "cardparts.h"
#include "httpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/serve.h"

/* A FS2020 binding file for the demo device, profile named by the caller (XML-escaped). */
static char *demo_xml(const char *profile_xml, const char *device)
{
    char *s;
    assert_true(asprintf(&s,
                         "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                         "<FriendlyName>%s</FriendlyName>\n"
                         "<Device DeviceName=\"%s\" GUID=\"{0}\" ProductID=\"1\">\n"
                         "<Context ContextName=\"PLANE\">\n"
                         "<Action ActionName=\"KEY_GEAR_TOGGLE\" Flag=\"2\"><Primary><KEY "
                         "Information=\"Button1\">0</KEY></Primary></Action>\n"
                         "</Context>\n</Device>\n",
                         profile_xml, device) > 0);
    return s;
}

static lp_server *start(const char *data, uint64_t max_inline)
{
    lp_server_options o;
    lp_server_options_default(&o);
    o.listen = "127.0.0.1:0";
    o.data_dir = data;
    if (max_inline)
        o.max_inline = max_inline;
    lp_server *s = NULL;
    lp_error err = {0};
    lp_status st = lp_server_start(&s, &o, &err);
    if (st)
        fprintf(stderr, "server: %s\n", lp_error_message(&err));
    assert_int_equal(st, LP_OK);
    return s;
}

static int upload(uint16_t port, const char *path, const char *accept, const char *xml,
                  lpt_http_response *r)
{
    const void *files[] = {xml};
    size_t sizes[] = {strlen(xml)};
    char *body, ctype[200], headers[400];
    size_t len;
    lpt_multipart("file", files, sizes, 1, &body, &len, ctype, sizeof ctype);
    snprintf(headers, sizeof headers, "%s%s%s%s", ctype, accept ? "Accept: " : "",
             accept ? accept : "", accept ? "\r\n" : "");
    int status = lpt_http(port, "POST", path, headers, body, len, r);
    free(body);
    return status;
}

static void assert_has(const char *body, const char *needle, bool want)
{
    if ((strstr(body, needle) != NULL) != want) {
        fprintf(stderr, "'%s' %s the answer:\n%.600s\n", needle, want ? "not in" : "in", body);
        fail();
    }
}

/* A card of the demo data set: a 1920x1080 JPEG, named by its device. */
static void assert_demo_card(const lpt_card *c, const char *title)
{
    assert_string_equal(c->title, title);
    assert_int_equal(c->width, 1920);
    assert_int_equal(c->height, 1080);
    lp_buffer_image img;
    lp_error err = {0};
    assert_int_equal(lpt_decode_jpeg_memory(c->jpeg, c->size, &img, &err), LP_OK);
    assert_int_equal(img.info.width, 1920);
    assert_int_equal(img.info.height, 1080);
    lp_buffer_image_free(&img);
}

static void test_page_has_no_empty_log(void **state)
{
    (void)state;
    lp_server *s = start(NULL, 0);
    uint16_t port = lp_server_port(s);
    char *ok = demo_xml("Demo", "leanpix Demo Stick");
    lpt_http_response r;
    assert_int_equal(upload(port, "/api/fs2020", NULL, ok, &r), 200);
    assert_has(r.body, "<img", true);
    assert_has(r.body, "Log", false);  /* nothing to log: no heading, no empty list */
    assert_has(r.body, "<ul", false);
    assert_has(r.body, "</body></html>", true);
    lpt_http_free(&r);
    char *other = demo_xml("Demo", "Some Unknown Stick");  /* logged as unsupported */
    assert_int_equal(upload(port, "/api/fs2020", NULL, other, &r), 200);
    assert_has(r.body, "<h2>Log</h2>", true);
    assert_has(r.body, "Some Unknown Stick", true);
    lpt_http_free(&r);
    free(ok);
    free(other);
    lp_server_stop(s);
}

static void test_card_alt_is_the_device_name(void **state)
{
    (void)state;
    lp_server *s = start(NULL, 0);
    uint16_t port = lp_server_port(s);
    char *xml = demo_xml("Mine", "leanpix Demo Stick");
    lpt_http_response r;
    assert_int_equal(upload(port, "/api/fs2020", NULL, xml, &r), 200);
    assert_has(r.body, "alt=\"leanpix Demo Stick (Mine)\"", true);
    assert_has(r.body, "card 1", false);
    lpt_http_free(&r);
    free(xml);
    /* the profile name comes from the upload: escaped in the attribute */
    xml = demo_xml("a&lt;b&gt; &quot;c&quot; &amp; 'd'", "leanpix Demo Stick");
    assert_int_equal(upload(port, "/api/fs2020", NULL, xml, &r), 200);
    assert_has(r.body,
               "alt=\"leanpix Demo Stick (a&lt;b&gt; &quot;c&quot; &amp; &#39;d&#39;)\"", true);
    lpt_http_free(&r);
    free(xml);
    lp_server_stop(s);
}

static void test_inline_json(void **state)
{
    (void)state;
    lp_server *s = start(NULL, 0);
    uint16_t port = lp_server_port(s);
    char *xml = demo_xml("Mine", "leanpix Demo Stick");
    lpt_http_response r;
    assert_int_equal(upload(port, "/v1/cards/fs2020?inline=1", NULL, xml, &r), 200);
    char ct[200];
    assert_string_equal(lpt_http_header(&r, "Content-Type", ct, sizeof ct), "application/json");
    lpt_card *cards;
    int n = lpt_cards_inline(&r, &cards);
    assert_int_equal(n, 1);
    assert_demo_card(&cards[0], "leanpix Demo Stick (Mine)");
    assert_string_equal(cards[0].image, "demostick");
    lpt_cards_free(cards, n);
    lpt_http_free(&r);
    /* nothing was kept for a later GET */
    assert_int_equal(lpt_http(port, "GET", "/metrics", NULL, NULL, 0, &r), 200);
    assert_has(r.body, "\nleanpix_card_cache_cards 0\n", true);
    lpt_http_free(&r);
    /* the default form still answers URLs, now with the title too */
    assert_int_equal(upload(port, "/v1/cards/fs2020", NULL, xml, &r), 200);
    assert_has(r.body, "\"url\":\"/v1/cards/", true);
    assert_has(r.body, "\"title\":\"leanpix Demo Stick (Mine)\"", true);
    assert_has(r.body, "\"data\"", false);
    lpt_http_free(&r);
    free(xml);
    lp_server_stop(s);
}

static void test_multipart(void **state)
{
    (void)state;
    lp_server *s = start(NULL, 0);
    uint16_t port = lp_server_port(s);
    char *xml = demo_xml("Mine", "leanpix Demo Stick");
    lpt_http_response r;
    assert_int_equal(upload(port, "/v1/cards/fs2020", "text/html;q=0.5, multipart/mixed", xml, &r),
                     200);
    lpt_card *cards;
    int n = lpt_cards_multipart(&r, &cards);
    assert_int_equal(n, 1);
    assert_demo_card(&cards[0], "leanpix Demo Stick (Mine)");
    lpt_cards_free(cards, n);
    lpt_http_free(&r);
    /* refused with q=0, or another multipart type: the default JSON */
    assert_int_equal(upload(port, "/v1/cards/fs2020", "multipart/mixed;q=0", xml, &r), 200);
    assert_has(r.body, "\"url\":", true);
    lpt_http_free(&r);
    assert_int_equal(upload(port, "/v1/cards/fs2020", "multipart/mixed-up", xml, &r), 200);
    assert_has(r.body, "\"url\":", true);
    lpt_http_free(&r);
    free(xml);
    lp_server_stop(s);
}

static void test_max_inline(void **state)
{
    (void)state;
    lp_server *s = start(NULL, 100000);  /* a demo card is about 200 kB */
    uint16_t port = lp_server_port(s);
    char *xml = demo_xml("Mine", "leanpix Demo Stick");
    lpt_http_response r;
    const char *paths[] = {"/v1/cards/fs2020?inline=1", "/v1/cards/fs2020", "/api/fs2020"};
    const char *accept[] = {NULL, "multipart/mixed", NULL};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(upload(port, paths[i], accept[i], xml, &r), 413);
        assert_has(r.body, "over the limit of 100000 bytes (max-inline)", true);
        lpt_http_free(&r);
    }
    assert_int_equal(upload(port, "/v1/cards/fs2020", NULL, xml, &r), 200);  /* URLs */
    lpt_http_free(&r);
    free(xml);
    lp_server_stop(s);
}

/* The 15 cards of the 18 shared fs2020 files inline: while the answer is written, the
 * budget holds the cards and the answer's base64 (the peak rises by at least both), and
 * once it is sent the budget is back where it was. */
static void test_inline_answer_is_counted(void **state)
{
    (void)state;
    LPT_REQUIRE_SHARED();
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/metarefcard", lpt_shared_dir());
    lp_server *s = start(dir, 0);
    uint16_t port = lp_server_port(s);
    char tdir[1100];
    snprintf(tdir, sizeof tdir, "%s/testdata/fs2020", dir);
    enum { NFILES = LPT_FS2020_FILES };
    const void *files[NFILES];
    size_t sizes[NFILES];
    lpt_read_fs2020_set(tdir, files, sizes);
    lpt_http_response r, m;
    /* warm: the device images' compact copies are made by the first upload (as URLs: its
     * answer is small, so the peak below is the inline answer's) */
    assert_int_equal(lpt_http_upload(port, "/v1/cards/fs2020", files, sizes, NFILES, &r), 200);
    lpt_http_free(&r);
    assert_int_equal(lpt_http(port, "GET", "/metrics", NULL, NULL, 0, &m), 200);
    double before = lpt_metric(m.body, "leanpix_budget_bytes");
    lpt_http_free(&m);
    assert_int_equal(lpt_http_upload(port, "/v1/cards/fs2020?inline=1", files, sizes, NFILES, &r),
                     200);
    lpt_card *cards;
    int n = lpt_cards_inline(&r, &cards);
    assert_int_equal(n, 15);
    size_t jpegs = 0;
    for (int i = 0; i < n; i++)
        jpegs += cards[i].size;
    lpt_cards_free(cards, n);
    lpt_http_free(&r);
    assert_int_equal(lpt_http(port, "GET", "/metrics", NULL, NULL, 0, &m), 200);
    double peak = lpt_metric(m.body, "leanpix_memory_counted_peak_bytes") -
                  lpt_metric(m.body, "leanpix_render_pool_peak_bytes");
    double after = lpt_metric(m.body, "leanpix_budget_bytes");
    lpt_http_free(&m);
    fprintf(stderr, "cards %zu bytes; budget before %.0f, peak %.0f, after %.0f\n", jpegs,
            before, peak, after);
    assert_true(peak - before >= (double)jpegs * 7 / 3);  /* the cards + their base64 */
    assert_true(after <= before);
    lpt_free_fs2020_set(files);
    lp_server_stop(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_page_has_no_empty_log),
        cmocka_unit_test(test_card_alt_is_the_device_name),
        cmocka_unit_test(test_inline_json),
        cmocka_unit_test(test_multipart),
        cmocka_unit_test(test_max_inline),
        cmocka_unit_test(test_inline_answer_is_counted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
