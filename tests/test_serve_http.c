/*
 * test_serve_http.c - `leanpix serve` driven over loopback: the server runs in-process
 * (lp_server_start on an ephemeral port) with the built-in demo data set, or with
 * ../shared/metarefcard when present. Every route, uploads for both games, unsupported
 * devices, malformed XML and multipart, oversize bodies and too many files (413), 503 with
 * Retry-After under overload, a slow client that must not hold a worker, concurrent
 * requests (the TSan build runs these), and the server staying up through all of it.
 */
#define _GNU_SOURCE
#include "testutil.h"
#include "httpc.h"
#include "server/serve.h"

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A FS2020 binding file for the demo device: gear on button 1 (PLANE, red), ailerons on
 * the X axis, look up on the hat (CAMERA, blue). */
static const char demo_xml_fmt[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Version Num=\"1313\"/>\n"
    "<FriendlyName>%s</FriendlyName>\n"
    "<Device DeviceName=\"%s\" GUID=\"{0}\" ProductID=\"1\">\n"
    "<Context ContextName=\"PLANE\">\n"
    "<Action ActionName=\"KEY_GEAR_TOGGLE\" Flag=\"2\"><Primary><KEY Information=\"Button1\">0</KEY></Primary></Action>\n"
    "<Action ActionName=\"KEY_AXIS_AILERONS_SET\" Flag=\"4\"><Primary><KEY Information=\"Axis X\">1</KEY></Primary></Action>\n"
    "</Context>\n<Context ContextName=\"CAMERA\">\n"
    "<Action ActionName=\"KEY_COCKPIT_LOOK_UP\" Flag=\"2\"><Primary><KEY Information=\"POV1_UP\">1</KEY></Primary></Action>\n"
    "</Context>\n</Device>\n";

static char *demo_xml(const char *profile, const char *device)
{
    char *s;
    assert_true(asprintf(&s, demo_xml_fmt, profile, device) > 0);
    return s;
}

static const char demo_profile[] =
    "GstInput.JoystickDevice1 leanpix Demo Stick\n"
    "GstKeyBinding.IncomStarshipInputConcepts.ConceptFire.0.axis 26\r\n"
    "GstKeyBinding.IncomStarshipInputConcepts.ConceptFire.0.button 22\r\n"
    "GstKeyBinding.IncomStarshipInputConcepts.ConceptFire.0.deviceid 0\r\n"
    "GstKeyBinding.IncomStarshipInputConcepts.ConceptThrottle.0.axis 8\n"
    "GstKeyBinding.IncomStarshipInputConcepts.ConceptThrottle.0.button 0\n"
    "GstKeyBinding.IncomStarshipInputConcepts.ConceptThrottle.0.deviceid 0\n";

static lp_server *start(const char *data, unsigned workers, unsigned queue, uint64_t max_body,
                        unsigned timeout)
{
    lp_server_options o;
    lp_server_options_default(&o);
    o.listen = "127.0.0.1:0";
    o.data_dir = data;
    o.workers = workers;
    o.queue = queue;
    if (max_body)
        o.max_body = max_body;
    if (timeout)
        o.timeout_s = timeout;
    o.max_files = 40;
    lp_server *s = NULL;
    lp_error err = {0};
    lp_status st = lp_server_start(&s, &o, &err);
    if (st)
        fprintf(stderr, "server: %s\n", lp_error_message(&err));
    assert_int_equal(st, LP_OK);
    assert_true(lp_server_port(s) > 0);
    return s;
}

static void assert_healthy(uint16_t port)
{
    lpt_http_response r;
    assert_int_equal(lpt_http(port, "GET", "/healthz", NULL, NULL, 0, &r), 200);
    assert_string_equal(r.body, "ok\n");
    lpt_http_free(&r);
}

static void expect(uint16_t port, const char *method, const char *path, int status,
                   const char *needle)
{
    lpt_http_response r;
    assert_int_equal(lpt_http(port, method, path, NULL, NULL, 0, &r), status);
    if (needle && !strstr(r.body, needle)) {
        fprintf(stderr, "%s %s: '%s' not in the body:\n%.300s\n", method, path, needle, r.body);
        fail();
    }
    lpt_http_free(&r);
}

static void test_routes(void **state)
{
    (void)state;
    lp_server *s = start(NULL, 2, 8, 0, 0);
    uint16_t port = lp_server_port(s);
    expect(port, "GET", "/", 200, "/fs2020");
    expect(port, "GET", "/fs2020", 200, "action=\"/api/fs2020\"");
    expect(port, "GET", "/sws", 200, "name=\"file\"");
    expect(port, "GET", "/healthz", 200, "ok");
    expect(port, "GET", "/nowhere", 404, "not found");
    expect(port, "POST", "/healthz", 405, NULL);
    expect(port, "GET", "/api/fs2020", 405, NULL);
    expect(port, "GET", "/v1/cards/0123456789abcdef0123456789abcdef.jpg", 404, NULL);
    expect(port, "GET", "/v1/cards/../../etc/passwd", 404, NULL);
    expect(port, "GET", "/metrics", 200, "leanpix_http_requests_total{route=\"healthz\",code=\"2xx\"} 1");
    lpt_http_response r;
    assert_int_equal(lpt_http(port, "GET", "/metrics", NULL, NULL, 0, &r), 200);
    assert_non_null(strstr(r.body, "# TYPE leanpix_http_request_duration_seconds histogram"));
    assert_non_null(strstr(r.body, "process_resident_memory_bytes "));
    assert_non_null(strstr(r.body, "leanpix_page_faults_total{kind=\"minor\"}"));
    assert_non_null(strstr(r.body, "leanpix_queue_depth 0"));
    lpt_http_free(&r);
    lp_server_stop(s);
}

/* base64 of the first data: URI in html, decoded into a JPEG file, then decoded. */
static void first_card(const char *html, lp_buffer_image *img)
{
    const char *p = strstr(html, "data:image/jpeg;base64,");
    assert_non_null(p);
    p += strlen("data:image/jpeg;base64,");
    const char *end = strchr(p, '"');
    assert_non_null(end);
    size_t n = (size_t)(end - p);
    uint8_t *out = malloc(n);
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n && p[i] != '='; i++) {
        const char *tab = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        const char *c = strchr(tab, p[i]);
        assert_non_null(c);
        acc = acc << 6 | (uint32_t)(c - tab);
        if ((bits += 6) >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    lpt_write_file(lpt_path("card.jpg"), out, o);
    free(out);
    assert_true(lpt_decode_external("djpeg", lpt_path("card.jpg"), img));
    lpt_to_rgb8(img, false);
}

static int count_colour(const lp_buffer_image *img, int x, int y, int w, int h, int r, int g, int b)
{
    int n = 0;
    for (int yy = y; yy < y + h; yy++)
        for (int xx = x; xx < x + w; xx++) {
            const uint8_t *p = img->pixels + (size_t)yy * img->stride + (size_t)xx * 3;
            n += abs(p[0] - r) < 40 && abs(p[1] - g) < 40 && abs(p[2] - b) < 40;
        }
    return n;
}

static void test_demo_fs2020_upload_draws_labels(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("djpeg");
    lp_server *s = start(NULL, 2, 8, 0, 0);
    uint16_t port = lp_server_port(s);
    char *xml = demo_xml("Demo", "leanpix Demo Stick");
    const void *files[] = {xml};
    size_t sizes[] = {strlen(xml)};
    lpt_http_response r;
    assert_int_equal(lpt_http_upload(port, "/api/fs2020", files, sizes, 1, &r), 200);
    assert_non_null(strstr(r.body, "<img"));
    lp_buffer_image img;
    first_card(r.body, &img);
    assert_int_equal(img.info.width, 1920);
    assert_int_equal(img.info.height, 1080);
    /* button 1's box (layout 2500,400 1200x100 -> 1250,200 600x50) has a red PLANE pill;
     * button 4's box (2500,880) has nothing; the header bar is blue */
    assert_true(count_colour(&img, 1250, 200, 600, 50, 0xff, 0x00, 0x39) > 300);
    assert_int_equal(count_colour(&img, 1250, 440, 600, 50, 0xff, 0x00, 0x39), 0);
    assert_true(count_colour(&img, 70, 200, 550, 45, 0x27, 0x80, 0xe3) > 200);  /* hat up, CAMERA */
    assert_true(count_colour(&img, 1500, 10, 300, 80, 0x27, 0x80, 0xe3) > 10000);
    lp_buffer_image_free(&img);
    lpt_http_free(&r);

    /* the same through the JSON API, then the card by its URL */
    assert_int_equal(lpt_http_upload(port, "/v1/cards/fs2020", files, sizes, 1, &r), 200);
    char ct[100];
    assert_string_equal(lpt_http_header(&r, "Content-Type", ct, sizeof ct), "application/json");
    const char *u = strstr(r.body, "\"url\":\"");
    assert_non_null(u);
    char url[128];
    assert_int_equal(sscanf(u + 7, "%127[^\"]", url), 1);
    lpt_http_free(&r);
    assert_int_equal(lpt_http(port, "GET", url, NULL, NULL, 0, &r), 200);
    assert_string_equal(lpt_http_header(&r, "Content-Type", ct, sizeof ct), "image/jpeg");
    assert_true(r.body_len > 10000);
    assert_memory_equal(r.body, "\xff\xd8\xff", 3);
    lpt_http_free(&r);
    free(xml);
    lp_server_stop(s);
}

static void test_demo_sws_upload(void **state)
{
    (void)state;
    lp_server *s = start(NULL, 1, 4, 0, 0);
    uint16_t port = lp_server_port(s);
    const void *files[] = {demo_profile};
    size_t sizes[] = {strlen(demo_profile)};
    lpt_http_response r;
    assert_int_equal(lpt_http_upload(port, "/v1/cards/sws", files, sizes, 1, &r), 200);
    assert_non_null(strstr(r.body, "\"image\":\"demostick\""));
    lpt_http_free(&r);
    lp_server_stop(s);
}

/* Uploaded text reaches the HTML page only escaped, and every answer tells the browser not
 * to sniff, run scripts or be framed. */
static void test_pages_escape_uploads_and_forbid_scripts(void **state)
{
    (void)state;
    lp_server *s = start(NULL, 1, 4, 0, 0);
    uint16_t port = lp_server_port(s);
    lpt_http_response r;
    char value[200];
    assert_int_equal(lpt_http(port, "GET", "/", NULL, NULL, 0, &r), 200);
    assert_non_null(lpt_http_header(&r, "X-Content-Type-Options", value, sizeof value));
    assert_string_equal(value, "nosniff");
    assert_non_null(lpt_http_header(&r, "Content-Security-Policy", value, sizeof value));
    assert_non_null(strstr(value, "default-src 'none'"));
    lpt_http_free(&r);
    assert_int_equal(lpt_http(port, "GET", "/healthz", NULL, NULL, 0, &r), 200);
    assert_non_null(lpt_http_header(&r, "X-Content-Type-Options", value, sizeof value));
    lpt_http_free(&r);

    static const char hostile[] =
        "GstInput.JoystickDevice1 <script>alert(1)</script>\n"
        "GstKeyBinding.IncomStarshipInputConcepts.ConceptFire.0.button 22\n"
        "GstKeyBinding.IncomStarshipInputConcepts.ConceptFire.0.deviceid 0\n";
    const void *files[] = {hostile};
    size_t sizes[] = {strlen(hostile)};
    int st = lpt_http_upload(port, "/api/sws", files, sizes, 1, &r);
    assert_true(st == 200 || st == 400);
    if (strstr(r.body, "<script>"))
        fail_msg("an uploaded name reached the page unescaped:\n%.400s", r.body);
    lpt_http_free(&r);
    lp_server_stop(s);
}

static void test_bad_uploads(void **state)
{
    (void)state;
    lp_server *s = start(NULL, 1, 4, 64 * 1024, 0);
    uint16_t port = lp_server_port(s);
    lpt_http_response r;
    /* unsupported device: reported in the log, no card, 200 */
    char *xml = demo_xml("Demo", "Mystery Yoke 3000");
    const void *f1[] = {xml};
    size_t s1[] = {strlen(xml)};
    assert_int_equal(lpt_http_upload(port, "/api/fs2020", f1, s1, 1, &r), 200);
    assert_null(strstr(r.body, "<img"));
    assert_non_null(strstr(r.body, "Unsupported device &quot;Mystery Yoke 3000&quot;"));
    lpt_http_free(&r);
    free(xml);
    /* malformed XML: 400 with the parser's reason */
    const char *bad = "<?xml version=\"1.0\"?>\n<Device DeviceName=\"leanpix Demo Stick\">\n<Context></Device>";
    const void *f2[] = {bad};
    size_t s2[] = {strlen(bad)};
    assert_int_equal(lpt_http_upload(port, "/api/fs2020", f2, s2, 1, &r), 400);
    assert_non_null(strstr(r.body, "malformed XML"));
    assert_non_null(strstr(r.body, "line 3"));
    lpt_http_free(&r);
    /* not multipart, or multipart without a file field */
    assert_int_equal(lpt_http(port, "POST", "/api/fs2020", "Content-Type: text/plain\r\n", "x", 1, &r), 400);
    lpt_http_free(&r);
    char *body, ctype[200];
    size_t len;
    const void *f3[] = {"hello"};
    size_t s3[] = {5};
    lpt_multipart("other", f3, s3, 1, &body, &len, ctype, sizeof ctype);
    assert_int_equal(lpt_http(port, "POST", "/api/sws", ctype, body, len, &r), 400);
    assert_non_null(strstr(r.body, "no file"));
    lpt_http_free(&r);
    free(body);
    /* a truncated multipart body */
    lpt_multipart("file", f3, s3, 1, &body, &len, ctype, sizeof ctype);
    assert_int_equal(lpt_http(port, "POST", "/api/sws", ctype, body, len - 12, &r), 400);
    lpt_http_free(&r);
    free(body);
    /* over the body limit (64 KiB): 413 from Content-Length */
    size_t big = 100 * 1024;
    char *blob = malloc(big);
    memset(blob, 'a', big);
    const void *f4[] = {blob};
    size_t s4[] = {big};
    assert_int_equal(lpt_http_upload(port, "/api/sws", f4, s4, 1, &r), 413);
    assert_non_null(strstr(r.body, "limit"));
    lpt_http_free(&r);
    free(blob);
    /* too many files (limit 40) */
    const void *many[41];
    size_t many_sizes[41];
    for (int i = 0; i < 41; i++) {
        many[i] = demo_profile;
        many_sizes[i] = 10;
    }
    assert_int_equal(lpt_http_upload(port, "/api/sws", many, many_sizes, 41, &r), 413);
    assert_non_null(strstr(r.body, "more than 40 files"));
    lpt_http_free(&r);
    assert_healthy(port);
    lp_server_stop(s);
}

typedef struct burst_arg {
    uint16_t port;
    const char *path;
    const void *const *files;
    const size_t *sizes;
    size_t n;
    int status;
    char retry_after[16];
} burst_arg;

static void *burst_one(void *p)
{
    burst_arg *a = p;
    lpt_http_response r;
    a->status = lpt_http_upload(a->port, a->path, a->files, a->sizes, a->n, &r);
    if (!lpt_http_header(&r, "Retry-After", a->retry_after, sizeof a->retry_after))
        a->retry_after[0] = 0;
    lpt_http_free(&r);
    return NULL;
}

/* Runs n uploads at once; counts[0] = 200s, counts[1] = 503s with Retry-After. */
static void burst(uint16_t port, const char *path, const void *const *files, const size_t *sizes,
                  size_t nfiles, int n, int counts[2])
{
    pthread_t th[32];
    burst_arg args[32];
    counts[0] = counts[1] = 0;
    for (int i = 0; i < n; i++) {
        args[i] = (burst_arg){port, path, files, sizes, nfiles, 0, ""};
        assert_int_equal(pthread_create(&th[i], NULL, burst_one, &args[i]), 0);
    }
    for (int i = 0; i < n; i++) {
        pthread_join(th[i], NULL);
        if (args[i].status == 200)
            counts[0]++;
        else if (args[i].status == 503 && strcmp(args[i].retry_after, "1") == 0)
            counts[1]++;
        else
            fprintf(stderr, "unexpected status %d\n", args[i].status);
    }
}

/* One worker and a queue of one: a burst of slow requests (20 cards each) must get some
 * 503s with Retry-After, the rest 200, and the server stays up. */
static void test_overload_answers_503(void **state)
{
    (void)state;
    lp_server *s = start(NULL, 1, 1, 0, 0);
    uint16_t port = lp_server_port(s);
    enum { NFILES = 20, NREQ = 8 };
    char *xml[NFILES];
    const void *files[NFILES];
    size_t sizes[NFILES];
    for (int i = 0; i < NFILES; i++) {
        char profile[16];
        snprintf(profile, sizeof profile, "P%02d", i);  /* one card per profile */
        xml[i] = demo_xml(profile, "leanpix Demo Stick");
        files[i] = xml[i];
        sizes[i] = strlen(xml[i]);
    }
    int counts[2];
    burst(port, "/v1/cards/fs2020", files, sizes, NFILES, NREQ, counts);
    fprintf(stderr, "overload: %d answered, %d refused with 503\n", counts[0], counts[1]);
    assert_int_equal(counts[0] + counts[1], NREQ);
    assert_true(counts[0] >= 1);
    assert_true(counts[1] >= 1);
    lpt_http_response r;
    assert_int_equal(lpt_http(port, "GET", "/metrics", NULL, NULL, 0, &r), 200);
    assert_null(strstr(r.body, "leanpix_rejected_total{reason=\"queue_full\"} 0\n"));
    lpt_http_free(&r);
    assert_healthy(port);
    for (int i = 0; i < NFILES; i++)
        free(xml[i]);
    lp_server_stop(s);
}

/* Many clients at once with room for all: every one answered (TSan checks the sharing). */
static void test_concurrent_requests(void **state)
{
    (void)state;
    lp_server *s = start(NULL, 3, 32, 0, 0);
    uint16_t port = lp_server_port(s);
    char *a = demo_xml("A", "leanpix Demo Stick"), *b = demo_xml("B", "leanpix Demo Stick");
    const void *files[] = {a, b};
    size_t sizes[] = {strlen(a), strlen(b)};
    int counts[2];
    burst(port, "/api/fs2020", files, sizes, 2, 6, counts);
    assert_int_equal(counts[0], 6);
    const void *pf[] = {demo_profile};
    size_t ps[] = {strlen(demo_profile)};
    burst(port, "/v1/cards/sws", pf, ps, 1, 6, counts);
    assert_int_equal(counts[0], 6);
    free(a);
    free(b);
    lp_server_stop(s);
}

/* A client that sends headers and a little of its body then stalls holds a socket, not a
 * worker: with one worker, another client is served meanwhile; the stalled one is cut off
 * by the timeout. */
static void test_slow_client_does_not_hold_a_worker(void **state)
{
    (void)state;
    lp_server *s = start(NULL, 1, 4, 0, 1);
    uint16_t port = lp_server_port(s);
    int fd = lpt_http_connect(port);
    assert_true(fd >= 0);
    const char *partial = "POST /api/sws HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; "
                          "boundary=zz\r\nContent-Length: 5000\r\n\r\n--zz\r\n";
    assert_true(write(fd, partial, strlen(partial)) > 0);
    const void *pf[] = {demo_profile};
    size_t ps[] = {strlen(demo_profile)};
    lpt_http_response r;
    assert_int_equal(lpt_http_upload(port, "/v1/cards/sws", pf, ps, 1, &r), 200);
    lpt_http_free(&r);
    char buf[256];
    ssize_t n = read(fd, buf, sizeof buf);  /* the server closes it after ~1 s idle */
    assert_true(n <= 0 || strncmp(buf, "HTTP/1.1 200", 12) != 0);
    close(fd);
    assert_healthy(port);
    lp_server_stop(s);
}

/* The CLI: prints the port it listens on, serves, stops with exit status 0 on SIGTERM;
 * bad options exit 2, a missing data directory 1. */
static void test_cli(void **state)
{
    (void)state;
    char out[4096];  /* the whole --help */
    assert_int_equal(lpt_run_capture(out, sizeof out, "%s serve --bogus 1", lpt_bin()), 2);
    assert_int_equal(lpt_run_capture(out, sizeof out, "%s serve --data /nonexistent", lpt_bin()), 1);
    assert_non_null(strstr(out, "/nonexistent: cannot read config/config.yaml"));
    assert_int_equal(lpt_run_capture(out, sizeof out, "%s serve --help", lpt_bin()), 0);
    assert_non_null(strstr(out, "--max-mem"));
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s serve --listen 127.0.0.1:0 --workers 1 & echo $!", lpt_bin());
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    long pid = 0;
    unsigned port = 0;
    char line[512];
    while ((!pid || !port) && fgets(line, sizeof line, p)) {
        const char *u = strstr(line, "http://127.0.0.1:");
        if (u)
            port = (unsigned)atoi(u + strlen("http://127.0.0.1:"));
        else if (!pid)
            pid = atol(line);
    }
    assert_true(pid > 0);
    assert_true(port > 0);
    assert_healthy((uint16_t)port);
    char wait_cmd[128];
    snprintf(wait_cmd, sizeof wait_cmd, "kill -TERM %ld; while kill -0 %ld 2>/dev/null; do sleep 0.05; done", pid, pid);
    assert_int_equal(lpt_run("%s", wait_cmd), 0);
    pclose(p);
}

/* ---- with the shared material ---- */
static size_t load_dir(const char *dir, const char *ext, char **data, size_t *sizes, size_t max)
{
    DIR *dp = opendir(dir);
    assert_non_null(dp);
    size_t n = 0;
    for (struct dirent *e; (e = readdir(dp)) && n < max;) {
        size_t len = strlen(e->d_name);
        if (len <= strlen(ext) || strcmp(e->d_name + len - strlen(ext), ext) != 0)
            continue;
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        data[n] = (char *)lpt_read_file(path, &sizes[n]);
        assert_non_null(data[n]);
        n++;
    }
    closedir(dp);
    return n;
}

static void test_shared_bindings(void **state)
{
    (void)state;
    LPT_REQUIRE_SHARED();
    char dir[4096], tdir[4200];
    snprintf(dir, sizeof dir, "%s/metarefcard", lpt_shared_dir());
    lp_server *s = start(dir, 2, 8, 0, 0);
    uint16_t port = lp_server_port(s);
    char *data[64];
    size_t sizes[64];
    snprintf(tdir, sizeof tdir, "%s/testdata/fs2020", dir);
    size_t n = load_dir(tdir, ".xml", data, sizes, 64);
    assert_int_equal(n, 18);
    lpt_http_response r;
    assert_int_equal(lpt_http_upload(port, "/v1/cards/fs2020", (const void *const *)data, sizes, n, &r), 200);
    int cards = 0;
    for (const char *p = r.body; (p = strstr(p, "\"url\":\"")); p += 7) {
        char url[128];
        assert_int_equal(sscanf(p + 7, "%127[^\"]", url), 1);
        lpt_http_response c;
        assert_int_equal(lpt_http(port, "GET", url, NULL, NULL, 0, &c), 200);
        assert_memory_equal(c.body, "\xff\xd8\xff", 3);
        lpt_http_free(&c);
        cards++;
    }
    assert_int_equal(cards, 15);
    lpt_http_free(&r);
    for (size_t i = 0; i < n; i++)
        free(data[i]);
    /* the unsupported ones: reported, the server stays up */
    snprintf(tdir, sizeof tdir, "%s/testdata/fs2020/unsupported", dir);
    n = load_dir(tdir, ".xml", data, sizes, 64);
    assert_int_equal(lpt_http_upload(port, "/api/fs2020", (const void *const *)data, sizes, n, &r), 200);
    assert_non_null(strstr(r.body, "Unsupported device &quot;Saitek Pro Flight Yoke&quot;"));
    lpt_http_free(&r);
    for (size_t i = 0; i < n; i++)
        free(data[i]);
    snprintf(tdir, sizeof tdir, "%s/testdata/sws", dir);
    n = load_dir(tdir, ".profile", data, sizes, 64);
    assert_int_equal(lpt_http_upload(port, "/api/sws", (const void *const *)data, sizes, n, &r), 200);
    assert_non_null(strstr(r.body, "data:image/jpeg;base64,"));
    lpt_http_free(&r);
    for (size_t i = 0; i < n; i++)
        free(data[i]);
    assert_healthy(port);
    lp_server_stop(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routes),
        cmocka_unit_test(test_demo_fs2020_upload_draws_labels),
        cmocka_unit_test(test_demo_sws_upload),
        cmocka_unit_test(test_pages_escape_uploads_and_forbid_scripts),
        cmocka_unit_test(test_bad_uploads),
        cmocka_unit_test(test_overload_answers_503),
        cmocka_unit_test(test_concurrent_requests),
        cmocka_unit_test(test_slow_client_does_not_hold_a_worker),
        cmocka_unit_test(test_cli),
        cmocka_unit_test(test_shared_bindings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
