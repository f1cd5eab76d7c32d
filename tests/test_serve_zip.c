/*
 * test_serve_zip.c - the zip answer of POST /v1/cards/GAME (?format=zip or
 * Accept: application/zip; src/server/answer.c), the card pages' "Download all": read back
 * with minizip's unzip (each entry stored, its CRC checked) and every card decoded. On the
 * demo data set: the attachment's name and type, one JPEG of 1920x1080 per card, log.txt when the log has lines, the Accept
 * header's q=0 respected, --max-inline (413). On ../shared/metarefcard: the 18 fs2020
 * test files give a zip of 15 cards, the inline answer's cards in its order, counted in the
 * budget while written and given back once sent.
 */
#define _GNU_SOURCE
#include "mrcutil.h"
#include "testutil.h"
#include "cardparts.h"
#include "httpc.h"

#include <minizip/unzip.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/serve.h"

static char *demo_xml(const char *device)
{
    char *s;
    assert_true(asprintf(&s,
                         "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                         "<FriendlyName>Zip</FriendlyName>\n"
                         "<Device DeviceName=\"%s\" GUID=\"{0}\" ProductID=\"1\">\n"
                         "<Context ContextName=\"PLANE\">\n"
                         "<Action ActionName=\"KEY_GEAR_TOGGLE\" Flag=\"2\"><Primary><KEY "
                         "Information=\"Button1\">0</KEY></Primary></Action>\n"
                         "</Context>\n</Device>\n",
                         device) > 0);
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

static int upload(uint16_t port, const char *path, const char *accept, const void *const *files,
                  const size_t *sizes, size_t n, lpt_http_response *r)
{
    char *body, ctype[200], headers[400];
    size_t len;
    lpt_multipart("file", files, sizes, n, &body, &len, ctype, sizeof ctype);
    snprintf(headers, sizeof headers, "%s%s%s%s", ctype, accept ? "Accept: " : "",
             accept ? accept : "", accept ? "\r\n" : "");
    int status = lpt_http(port, "POST", path, headers, body, len, r);
    free(body);
    return status;
}

typedef struct zip_entry {
    char name[128];
    uint8_t *data;
    size_t size;
} zip_entry;

/* The entries of a zip held in memory, read with minizip's unzip (from a scratch file):
 * each must be stored (method 0, as the server writes them) and pass its CRC check;
 * -1 when it is no zip or a broken one. */
static int unzip(const void *zip, size_t size, zip_entry **out)
{
    const char *path = lpt_path("answer.zip");
    lpt_write_file(path, zip, size);
    *out = NULL;
    unzFile uf = unzOpen64(path);
    if (!uf) {
        fprintf(stderr, "not a zip\n");
        return -1;
    }
    int n = 0, rc;
    for (rc = unzGoToFirstFile(uf); rc == UNZ_OK; rc = unzGoToNextFile(uf)) {
        unz_file_info64 info;
        *out = realloc(*out, (size_t)(n + 1) * sizeof **out);
        zip_entry *z = &(*out)[n++];
        assert_int_equal(unzGetCurrentFileInfo64(uf, &info, z->name, sizeof z->name, NULL, 0,
                                                 NULL, 0),
                         UNZ_OK);
        assert_int_equal(info.compression_method, 0);  /* stored: JPEGs do not deflate */
        z->size = (size_t)info.uncompressed_size;
        z->data = malloc(z->size + 1);
        assert_int_equal(unzOpenCurrentFile(uf), UNZ_OK);
        assert_int_equal(unzReadCurrentFile(uf, z->data, (unsigned)z->size), (int)z->size);
        if (unzCloseCurrentFile(uf) != UNZ_OK) {  /* UNZ_CRCERROR: the bytes are not the CRC's */
            fprintf(stderr, "broken zip: %s fails its CRC\n", z->name);
            rc = UNZ_CRCERROR;
            break;
        }
    }
    if (rc != UNZ_END_OF_LIST_OF_FILE) {
        fprintf(stderr, "broken zip: %d\n", rc);
        n = -1;
    }
    unzClose(uf);
    remove(path);
    return n;
}

static void free_entries(zip_entry *z, int n)
{
    for (int i = 0; i < n; i++)
        free(z[i].data);
    free(z);
}

static void assert_card_jpeg(const zip_entry *z)
{
    lp_buffer_image img;
    lp_error err = {0};
    if (lpt_decode_jpeg_memory(z->data, z->size, &img, &err) != LP_OK) {
        fprintf(stderr, "%s: %s\n", z->name, lp_error_message(&err));
        fail();
    }
    assert_int_equal(img.info.width, 1920);
    assert_int_equal(img.info.height, 1080);
    lp_buffer_image_free(&img);
}

static void test_zip_of_the_demo_card(void **state)
{
    (void)state;
    lp_server *s = start(NULL, 0);
    uint16_t port = lp_server_port(s);
    char *xml = demo_xml("leanpix Demo Stick");
    const void *files[] = {xml};
    size_t sizes[] = {strlen(xml)};
    lpt_http_response r;
    char value[200];
    for (int form = 0; form < 2; form++) {  /* the query, then the Accept header */
        assert_int_equal(upload(port, form ? "/v1/cards/fs2020" : "/v1/cards/fs2020?format=zip",
                                form ? "application/zip" : NULL, files, sizes, 1, &r),
                         200);
        assert_non_null(lpt_http_header(&r, "Content-Type", value, sizeof value));
        assert_string_equal(value, "application/zip");
        assert_non_null(lpt_http_header(&r, "Content-Disposition", value, sizeof value));
        assert_string_equal(value, "attachment; filename=\"fs2020-cards.zip\"");
        zip_entry *z;
        int n = unzip(r.body, r.body_len, &z);
        assert_int_equal(n, 1);  /* the card; nothing to log */
        assert_string_equal(z[0].name, "01-demostick.jpg");
        assert_card_jpeg(&z[0]);
        free_entries(z, n);
        lpt_http_free(&r);
    }
    /* q=0 refuses the zip: the default JSON */
    assert_int_equal(upload(port, "/v1/cards/fs2020", "application/zip;q=0", files, sizes, 1, &r),
                     200);
    assert_non_null(lpt_http_header(&r, "Content-Type", value, sizeof value));
    assert_string_equal(value, "application/json");
    assert_null(lpt_http_header(&r, "Content-Disposition", value, sizeof value));
    lpt_http_free(&r);
    free(xml);
    lp_server_stop(s);
}

static void test_zip_has_the_log(void **state)
{
    (void)state;
    lp_server *s = start(NULL, 0);
    uint16_t port = lp_server_port(s);
    char *good = demo_xml("leanpix Demo Stick"), *other = demo_xml("Some Unknown Stick");
    const void *files[] = {good, other};
    size_t sizes[] = {strlen(good), strlen(other)};
    lpt_http_response r;
    assert_int_equal(upload(port, "/v1/cards/fs2020?format=zip", NULL, files, sizes, 2, &r), 200);
    zip_entry *z;
    int n = unzip(r.body, r.body_len, &z);
    assert_int_equal(n, 2);
    assert_string_equal(z[0].name, "01-demostick.jpg");
    assert_string_equal(z[1].name, "log.txt");
    z[1].data[z[1].size] = 0;
    assert_non_null(strstr((char *)z[1].data, "Unsupported device \"Some Unknown Stick\""));
    free_entries(z, n);
    lpt_http_free(&r);
    free(good);
    free(other);
    lp_server_stop(s);
}

static void test_zip_obeys_max_inline(void **state)
{
    (void)state;
    lp_server *s = start(NULL, 1000);  /* a card is ~100 kB */
    uint16_t port = lp_server_port(s);
    char *xml = demo_xml("leanpix Demo Stick");
    const void *files[] = {xml};
    size_t sizes[] = {strlen(xml)};
    lpt_http_response r;
    assert_int_equal(upload(port, "/v1/cards/fs2020?format=zip", NULL, files, sizes, 1, &r), 413);
    assert_non_null(strstr(r.body, "max-inline"));
    lpt_http_free(&r);
    assert_int_equal(upload(port, "/v1/cards/fs2020", NULL, files, sizes, 1, &r), 200);  /* URLs */
    lpt_http_free(&r);
    free(xml);
    lp_server_stop(s);
}

/* The 18 shared fs2020 files: 15 cards in the zip, in the order and with the names of the
 * inline answer's (not its bytes: the first upload draws from the full device images, later
 * ones from their compact copies, assets.c). */
static void test_zip_of_the_shared_files(void **state)
{
    (void)state;
    LPT_REQUIRE_SHARED();
    char dir[1024], tdir[1100];
    snprintf(dir, sizeof dir, "%s/metarefcard", lpt_shared_dir());
    snprintf(tdir, sizeof tdir, "%s/testdata/fs2020", dir);
    lp_server *s = start(dir, 0);
    uint16_t port = lp_server_port(s);
    enum { NFILES = LPT_FS2020_FILES };
    const void *files[NFILES];
    size_t sizes[NFILES];
    lpt_read_fs2020_set(tdir, files, sizes);
    lpt_http_response r, m;
    assert_int_equal(upload(port, "/v1/cards/fs2020?inline=1", NULL, files, sizes, NFILES, &r), 200);
    lpt_card *cards;
    int ncards = lpt_cards_inline(&r, &cards);
    assert_int_equal(ncards, 15);
    lpt_http_free(&r);
    assert_int_equal(lpt_http(port, "GET", "/metrics", NULL, NULL, 0, &m), 200);
    double before = lpt_metric(m.body, "leanpix_budget_bytes");
    lpt_http_free(&m);

    assert_int_equal(upload(port, "/v1/cards/fs2020", "application/zip", files, sizes, NFILES, &r),
                     200);
    zip_entry *z;
    int n = unzip(r.body, r.body_len, &z);
    assert_int_equal(n, 15);  /* no log: every file names a supported device */
    size_t jpegs = 0;
    for (int i = 0; i < n; i++) {
        char want[160];
        snprintf(want, sizeof want, "%02d-%s.jpg", i + 1, cards[i].image);
        assert_string_equal(z[i].name, want);
        if (!getenv("LP_SANITIZED") || i == 0)
            assert_card_jpeg(&z[i]);
        jpegs += z[i].size;
    }
    free_entries(z, n);
    lpt_cards_free(cards, ncards);
    lpt_http_free(&r);
    assert_int_equal(lpt_http(port, "GET", "/metrics", NULL, NULL, 0, &m), 200);
    double peak = lpt_metric(m.body, "leanpix_memory_counted_peak_bytes") -
                  lpt_metric(m.body, "leanpix_render_pool_peak_bytes");
    double after = lpt_metric(m.body, "leanpix_budget_bytes");
    lpt_http_free(&m);
    fprintf(stderr, "zip of %zu card bytes; budget before %.0f, peak %.0f, after %.0f\n", jpegs,
            before, peak, after);
    assert_true(peak - before >= (double)jpegs);  /* the zip was counted while written */
    assert_true(after <= before);
    lpt_free_fs2020_set(files);
    lp_server_stop(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zip_of_the_demo_card),
        cmocka_unit_test(test_zip_has_the_log),
        cmocka_unit_test(test_zip_obeys_max_inline),
        cmocka_unit_test(test_zip_of_the_shared_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
