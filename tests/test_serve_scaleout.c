/*
 * test_serve_scaleout.c - two `leanpix serve` processes side by side, as behind a load
 * balancer that sends each request to either: a card URL from one instance's answer is
 * unknown to the other (404, naming the stateless forms), while the stateless forms carry
 * every card in the answer itself, so an upload answered by either instance gives the
 * client all its cards: ?inline=1 from one, Accept: multipart/mixed from the other, each
 * card decoded (1920x1080) and matching the other instance's and the cache's card.
 * Uses ../shared/metarefcard's 18 fs2020 test files (15 cards) when present, else the
 * demo data set (one card). --max-inline reaches the server from the command line.
 */
#define _GNU_SOURCE
#include "testutil.h"
#include "cardparts.h"
#include "httpc.h"
#include "serveproc.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FILES_MAX 32

typedef struct upload {
    const void *files[FILES_MAX];
    size_t sizes[FILES_MAX];
    size_t n;
    int cards;  /* how many cards it makes */
} upload;

static const char demo_xml[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<FriendlyName>Demo</FriendlyName>\n"
    "<Device DeviceName=\"leanpix Demo Stick\">\n<Context ContextName=\"PLANE\">\n"
    "<Action ActionName=\"KEY_GEAR_TOGGLE\"><Primary><KEY Information=\"Button1\">0</KEY>"
    "</Primary></Action>\n</Context>\n</Device>\n";

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

/* The shared fs2020 test files and the data option, or the demo's. */
static void make_upload(upload *u, char *data_opt, size_t size)
{
    memset(u, 0, sizeof *u);
    const char *shared = lpt_shared_dir();
    if (!shared) {
        fprintf(stderr, "../shared is absent: one demo card instead of the 15 of the test set\n");
        u->files[0] = strdup(demo_xml);
        u->sizes[0] = strlen(demo_xml);
        u->n = 1;
        u->cards = 1;
        snprintf(data_opt, size, "%s", "");
        return;
    }
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/metarefcard/testdata/fs2020", shared);
    struct dirent **list;
    int n = scandir(dir, &list, NULL, by_name);
    assert_true(n > 0);
    for (int i = 0; i < n; i++) {
        size_t len = strlen(list[i]->d_name);
        if (len > 4 && strcmp(list[i]->d_name + len - 4, ".xml") == 0 && u->n < FILES_MAX) {
            char path[1400];
            snprintf(path, sizeof path, "%s/%s", dir, list[i]->d_name);
            u->files[u->n] = lpt_read_file(path, &u->sizes[u->n]);
            assert_non_null(u->files[u->n]);
            u->n++;
        }
        free(list[i]);
    }
    free(list);
    assert_int_equal(u->n, 18);
    u->cards = 15;
    snprintf(data_opt, size, "--data %s/metarefcard", shared);
}

static void free_upload(upload *u)
{
    for (size_t i = 0; i < u->n; i++)
        free((void *)u->files[i]);
}

static int post(uint16_t port, const char *path, const char *accept, const upload *u,
                lpt_http_response *r)
{
    char *body, ctype[200], headers[400];
    size_t len;
    lpt_multipart("file", u->files, u->sizes, u->n, &body, &len, ctype, sizeof ctype);
    snprintf(headers, sizeof headers, "%s%s%s%s", ctype, accept ? "Accept: " : "",
             accept ? accept : "", accept ? "\r\n" : "");
    int status = lpt_http(port, "POST", path, headers, body, len, r);
    free(body);
    return status;
}

static void decode(const uint8_t *jpeg, size_t size, lp_buffer_image *img)
{
    lp_error err = {0};
    lp_status st = lpt_decode_jpeg_memory(jpeg, size, img, &err);
    if (st)
        fprintf(stderr, "card: %s\n", lp_error_message(&err));
    assert_int_equal(st, LP_OK);
    assert_int_equal(img->info.width, 1920);
    assert_int_equal(img->info.height, 1080);
}

/* Two cards are the same card: same size, and the pixels alike (the instances may have
 * drawn the device image from the original or from its compact copy: docs/serve.md). */
static void assert_same_card(const uint8_t *a, size_t asize, const uint8_t *b, size_t bsize)
{
    lp_buffer_image ia, ib;
    decode(a, asize, &ia);
    decode(b, bsize, &ib);
    double psnr = lpt_psnr(&ia, &ib);
    if (psnr < 35) {
        fprintf(stderr, "cards differ: PSNR %.1f dB\n", psnr);
        fail();
    }
    lp_buffer_image_free(&ia);
    lp_buffer_image_free(&ib);
}

static void test_cards_from_either_instance(void **state)
{
    (void)state;
    upload u;
    char data[1100], opts[1300];
    make_upload(&u, data, sizeof data);
    lpt_serve a, b;
    assert_true(lpt_serve_start(&a, data));
    snprintf(opts, sizeof opts, "%s --max-inline 32M", data);
    assert_true(lpt_serve_start(&b, opts));

    /* the default answer: URLs into the cache of the instance that answered */
    lpt_http_response r, g;
    assert_int_equal(post(a.port, "/v1/cards/fs2020", NULL, &u, &r), 200);
    const char *p = r.body;
    char urls[FILES_MAX][64];
    int nurls = 0;
    while ((p = strstr(p, "\"url\":\"")) && nurls < FILES_MAX) {
        assert_int_equal(sscanf(p + 7, "%63[^\"]", urls[nurls]), 1);
        nurls++;
        p += 7;
    }
    assert_int_equal(nurls, u.cards);
    lpt_http_free(&r);
    for (int i = 0; i < nurls; i++) {
        assert_int_equal(lpt_http(b.port, "GET", urls[i], NULL, NULL, 0, &g), 404);
        assert_non_null(strstr(g.body, "?inline=1"));  /* the 404 says what to do instead */
        lpt_http_free(&g);
    }

    /* the stateless forms: every card in the answer, from either instance */
    lpt_card *ca, *cb;
    assert_int_equal(post(a.port, "/v1/cards/fs2020?inline=1", NULL, &u, &r), 200);
    int na = lpt_cards_inline(&r, &ca);
    lpt_http_free(&r);
    assert_int_equal(post(b.port, "/v1/cards/fs2020", "multipart/mixed", &u, &r), 200);
    int nb = lpt_cards_multipart(&r, &cb);
    lpt_http_free(&r);
    assert_int_equal(na, u.cards);
    assert_int_equal(nb, u.cards);
    int step = getenv("LP_SANITIZED") ? 7 : 1;  /* sanitized runs decode a few (slow there) */
    for (int i = 0; i < na; i++) {
        assert_string_equal(ca[i].image, cb[i].image);
        assert_string_equal(ca[i].title, cb[i].title);
        assert_int_equal(ca[i].width, 1920);
        assert_int_equal(ca[i].height, 1080);
        if (i % step)
            continue;
        assert_same_card(ca[i].jpeg, ca[i].size, cb[i].jpeg, cb[i].size);
        /* and the card the first answer's URL names, from the instance that has it */
        assert_int_equal(lpt_http(a.port, "GET", urls[i], NULL, NULL, 0, &g), 200);
        assert_same_card((const uint8_t *)g.body, g.body_len, cb[i].jpeg, cb[i].size);
        lpt_http_free(&g);
    }
    fprintf(stderr, "%d cards from each instance\n", na);
    lpt_cards_free(ca, na);
    lpt_cards_free(cb, nb);
    assert_true(lpt_serve_stop(&a));
    assert_true(lpt_serve_stop(&b));
    free_upload(&u);
}

static void test_max_inline_option(void **state)
{
    (void)state;
    lpt_serve c;
    assert_true(lpt_serve_start(&c, "--max-inline 1000"));
    upload u = {.files = {demo_xml}, .sizes = {strlen(demo_xml)}, .n = 1};
    lpt_http_response r;
    assert_int_equal(post(c.port, "/v1/cards/fs2020?inline=1", NULL, &u, &r), 413);
    assert_non_null(strstr(r.body, "over the limit of 1000 bytes (max-inline)"));
    lpt_http_free(&r);
    assert_true(lpt_serve_stop(&c));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_cards_from_either_instance, lpt_serve_kill_all),
        cmocka_unit_test_teardown(test_max_inline_option, lpt_serve_kill_all),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
