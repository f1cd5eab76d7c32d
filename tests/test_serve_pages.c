/*
 * test_serve_pages.c - the card pages' HTML and static files (src/server/pages.c, web/),
 * in-process on the demo data set: the pages name their language, link the stylesheet and
 * script the server itself serves (never a CDN; versioned by ETag), label the file input,
 * say where each game keeps its files (escaped) and keep the plain form (POST /api/GAME,
 * and the zip button for browsers without JavaScript); /static/ files come with their
 * type, an ETag (304 when it matches) and Cache-Control; the Content-Security-Policy
 * allows no inline script or style. tests/browser/pages.test.mjs drives the same pages in
 * Chromium.
 */
#define _GNU_SOURCE
#include "testutil.h"
#include "httpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/serve.h"

static lp_server *start(void)
{
    lp_server_options o;
    lp_server_options_default(&o);
    o.listen = "127.0.0.1:0";
    lp_server *s = NULL;
    lp_error err = {0};
    assert_int_equal(lp_server_start(&s, &o, &err), LP_OK);
    return s;
}

static void assert_has(const char *body, const char *needle, bool want)
{
    if ((strstr(body, needle) != NULL) != want) {
        fprintf(stderr, "'%s' %s the page\n", needle, want ? "not in" : "in");
        fail();
    }
}

static void test_pages_link_their_own_assets(void **state)
{
    (void)state;
    lp_server *s = start();
    uint16_t port = lp_server_port(s);
    const char *paths[] = {"/", "/fs2020", "/sws"};
    for (size_t i = 0; i < 3; i++) {
        lpt_http_response r;
        assert_int_equal(lpt_http(port, "GET", paths[i], NULL, NULL, 0, &r), 200);
        assert_has(r.body, "<html lang=\"en\">", true);
        assert_has(r.body, "<link rel=\"stylesheet\" href=\"/static/app.css?v=", true);
        assert_has(r.body, "<script defer src=\"/static/app.js?v=", true);
        assert_has(r.body, "<style", false);           /* no inline style or script: */
        assert_has(r.body, "<script>", false);         /* the CSP would refuse them */
        assert_has(r.body, "https://", false);         /* no CDN */
        char csp[300];
        assert_non_null(lpt_http_header(&r, "Content-Security-Policy", csp, sizeof csp));
        assert_has(csp, "script-src 'self'", true);
        assert_has(csp, "unsafe-inline", false);
        lpt_http_free(&r);
    }
    lp_server_stop(s);
}

static void test_upload_page_is_usable(void **state)
{
    (void)state;
    lp_server *s = start();
    uint16_t port = lp_server_port(s);
    lpt_http_response r;
    assert_int_equal(lpt_http(port, "GET", "/fs2020", NULL, NULL, 0, &r), 200);
    assert_has(r.body, "<label for=\"files\">", true);
    assert_has(r.body, "<input id=\"files\" type=\"file\" name=\"file\" multiple", true);
    assert_has(r.body, "action=\"/api/fs2020\"", true);
    assert_has(r.body, "formaction=\"/v1/cards/fs2020?format=zip\"", true);
    /* where the files are, the path's <...> escaped */
    assert_has(r.body, "userdata\\&lt;your Steam ID&gt;\\1250410\\remote", true);
    assert_has(r.body, "Microsoft.FlightSimulator_8wekyb3d8bbwe\\SystemAppData\\wgs", true);
    lpt_http_free(&r);
    assert_int_equal(lpt_http(port, "GET", "/sws", NULL, NULL, 0, &r), 200);
    assert_has(r.body, "Documents\\STAR WARS Squadrons\\settings", true);
    lpt_http_free(&r);
    lp_server_stop(s);
}

static void test_static_files_are_cached(void **state)
{
    (void)state;
    lp_server *s = start();
    uint16_t port = lp_server_port(s);
    const char *files[][2] = {{"/static/app.css", "text/css; charset=utf-8"},
                              {"/static/app.js", "text/javascript; charset=utf-8"},
                              {"/static/icon.svg", "image/svg+xml"}};
    for (size_t i = 0; i < 3; i++) {
        lpt_http_response r;
        char value[200], etag[100], hdr[160];
        assert_int_equal(lpt_http(port, "GET", files[i][0], NULL, NULL, 0, &r), 200);
        assert_true(r.body_len > 100);
        assert_non_null(lpt_http_header(&r, "Content-Type", value, sizeof value));
        assert_string_equal(value, files[i][1]);
        assert_non_null(lpt_http_header(&r, "Cache-Control", value, sizeof value));
        assert_has(value, "max-age=", true);
        assert_non_null(lpt_http_header(&r, "ETag", etag, sizeof etag));
        assert_true(strlen(etag) > 10 && etag[0] == '"');
        lpt_http_free(&r);
        snprintf(hdr, sizeof hdr, "If-None-Match: %s\r\n", etag);
        assert_int_equal(lpt_http(port, "GET", files[i][0], hdr, NULL, 0, &r), 304);
        assert_int_equal(r.body_len, 0);
        lpt_http_free(&r);
        assert_int_equal(lpt_http(port, "GET", files[i][0], "If-None-Match: \"old\"\r\n", NULL, 0,
                                  &r),
                         200);
        lpt_http_free(&r);
        assert_int_equal(lpt_http(port, "POST", files[i][0], NULL, NULL, 0, &r), 405);
        lpt_http_free(&r);
    }
    lpt_http_response r;
    assert_int_equal(lpt_http(port, "GET", "/static/nothing.js", NULL, NULL, 0, &r), 404);
    lpt_http_free(&r);
    lp_server_stop(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pages_link_their_own_assets),
        cmocka_unit_test(test_upload_page_is_usable),
        cmocka_unit_test(test_static_files_are_cached),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
