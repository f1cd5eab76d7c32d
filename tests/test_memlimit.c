/*
 * test_memlimit.c - leanpix inside a memory cgroup, as a container runs it: with default
 * options, convert, batch and serve must stay under the limit (zero OOM kills), because
 * their default budgets come from the cgroup limit (leanpix/machine.h), not the host's RAM.
 *
 * Each case makes a child memory group (tests/support/cgroup.c), runs the CLI in it and
 * reads the group's OOM-kill count and peak usage, which it prints for docs/reliability.md.
 * Skipped with a message where no group can be made (not root, no memory controller) and
 * under sanitizers (ASan's shadow memory makes a memory limit meaningless).
 */
#include "testutil.h"

#include <pthread.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup.h"
#include "httpc.h"

#define MIB (1ull << 20)

/* Skips unless a group with the limit can be made; fills g. */
static void require_group(lpt_cgroup *g, const char *name, uint64_t limit)
{
    if (getenv("LP_SANITIZED")) {
        fprintf(stderr, "SKIP: sanitizer build: ASan's shadow memory makes cgroup limits meaningless\n");
        skip();
    }
    char why[800];
    if (!lpt_cgroup_create(g, name, limit, why, sizeof why)) {
        fprintf(stderr, "SKIP: no memory cgroup can be made here: %s\n", why);
        skip();
    }
}

/* lp-mksample sits beside the CLI in the build tree: it streams, so even 24 MP is cheap. */
static void make_photo(const char *path, unsigned w, unsigned h, unsigned seed)
{
    if (lpt_file_exists(path))
        return;
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", lpt_bin());
    char *slash = strrchr(dir, '/');
    assert_non_null(slash);
    *slash = 0;
    assert_int_equal(lpt_run("'%s/lp-mksample' '%s' %u %u %u", dir, path, w, h, seed), 0);
}

static void report(const char *what, const lpt_cgroup *g, uint64_t limit)
{
    fprintf(stderr, "memlimit: %s: peak %.1f MiB of %llu MiB, %llu OOM kills\n", what,
            lpt_cgroup_peak(g) / (double)MIB, (unsigned long long)(limit / MIB),
            (unsigned long long)lpt_cgroup_oom_kills(g));
}

static void print_file(const char *path)
{
    size_t n;
    char *text = (char *)lpt_read_file(path, &n);
    if (text) {
        fwrite(text, 1, n, stderr);
        free(text);
    }
}

/* Issue 9: a default convert of a 24 MP photo was OOM-killed in 128 MiB after 0.23 s. */
static void convert_24mp_in_128m(void **state)
{
    (void)state;
    lpt_cgroup g;
    const uint64_t limit = 128 * MIB;
    require_group(&g, "lp-test-convert", limit);
    const char *in = lpt_path("photo24.jpg"), *out = lpt_path("photo24.avif"),
               *log = lpt_path("convert.log");
    make_photo(in, 6000, 4000, 3);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "exec '%s' convert '%s' '%s' --stats", lpt_bin(), in, out);
    int rc = lpt_cgroup_run(&g, cmd, log);
    report("convert 24 MP -> AVIF, default options", &g, limit);
    print_file(log);
    uint64_t kills = lpt_cgroup_oom_kills(&g);
    lpt_cgroup_remove(&g);
    assert_int_equal(kills, 0);
    assert_int_equal(rc, 0);
    assert_true(lpt_file_size(out) > 100000);
    assert_int_equal(lpt_count_files(lpt_tmpdir(), ".photo24.avif.lp-"), 0);
}

/* batch used to assume half of the host's RAM whatever the container allowed. */
static void batch_in_256m(void **state)
{
    (void)state;
    lpt_cgroup g;
    const uint64_t limit = 256 * MIB;
    require_group(&g, "lp-test-batch", limit);
    const char *dir = lpt_path("batch-in"), *outdir = lpt_path("batch-out");
    assert_int_equal(lpt_run("mkdir -p '%s' && rm -rf '%s'", dir, outdir), 0);
    char path[1024];
    for (unsigned i = 0; i < 12; i++) {
        snprintf(path, sizeof path, "%s/p%02u.jpg", dir, i);
        make_photo(path, 2000 + 16 * i, 1500, 10 + i);  /* ~3 MP */
    }
    snprintf(path, sizeof path, "%s/big.jpg", dir);
    make_photo(path, 5000, 3500, 40);  /* the outlier: 17.5 MP */
    const char *json = lpt_path("batch.json"), *log = lpt_path("batch.log");
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "exec '%s' batch -o '%s' --json '%s' --no-progress '%s'",
             lpt_bin(), outdir, json, dir);
    int rc = lpt_cgroup_run(&g, cmd, log);
    report("batch of 12 x 3 MP + 17.5 MP -> AVIF, default options", &g, limit);
    print_file(log);
    uint64_t kills = lpt_cgroup_oom_kills(&g);
    lpt_cgroup_remove(&g);
    assert_int_equal(kills, 0);
    assert_int_equal(rc, 0);
    size_t n;
    char *text = (char *)lpt_read_file(json, &n);
    assert_non_null(text);
    const char *summary = strstr(text, "\"summary\"");
    fprintf(stderr, "%s", summary ? summary : text);
    assert_non_null(strstr(text, "\"succeeded\": 13"));
    assert_non_null(strstr(text, "\"budget_source\": \"192 MiB: cgroup v"));
    free(text);
}

/* ---- serve ---- */

static const char sws_profile[] =
    "GstInput.JoystickDevice1 leanpix Demo Stick\n"
    "GstKeyBinding.IncomStarshipInputConcepts.ConceptFire.0.axis 26\n"
    "GstKeyBinding.IncomStarshipInputConcepts.ConceptFire.0.button 22\n"
    "GstKeyBinding.IncomStarshipInputConcepts.ConceptFire.0.deviceid 0\n"
    "GstKeyBinding.IncomStarshipInputConcepts.ConceptThrottle.0.axis 8\n"
    "GstKeyBinding.IncomStarshipInputConcepts.ConceptThrottle.0.deviceid 0\n";

typedef struct upload {
    char source[16];  /* the client's loopback address: the server limits each address */
    uint16_t port;
    const char *path;
    const void *data;
    size_t size;
    int status;
} upload;

static void *upload_one(void *arg)
{
    upload *u = arg;
    lpt_http_response r;
    const void *files[] = {u->data};
    size_t sizes[] = {u->size};
    u->status = lpt_http_upload_from(u->source, u->port, u->path, files, sizes, 1, &r);
    lpt_http_free(&r);
    return NULL;
}

/* ~13,500 distinct binding lines then a NUL (issue 9 item 1: leaked ~5.8 MB a request). */
static char *nul_profile(size_t *size)
{
    size_t cap = 1200000, n = 0;
    char *p = malloc(cap);
    assert_non_null(p);
    n += (size_t)snprintf(p, cap, "GstInput.JoystickDevice1 leanpix Demo Stick\n");
    for (unsigned i = 0; i < 13500; i++)
        n += (size_t)snprintf(p + n, cap - n,
                              "GstKeyBinding.IncomStarshipInputConcepts.Concept%05u.0.button %u\n", i, i % 32);
    p[n++] = 0;
    n += (size_t)snprintf(p + n, cap - n, "tail\n");
    *size = n;
    return p;
}

/* 1,300,000 nested <a> (issue 9 item 2: expat's element stack escaped the budget). */
static char *deep_xml(size_t *size)
{
    const size_t depth = 1300000;
    char *p = malloc(depth * 3 + 64);
    assert_non_null(p);
    size_t n = (size_t)sprintf(p, "<?xml version=\"1.0\"?>\n");
    for (size_t i = 0; i < depth; i++, n += 3)
        memcpy(p + n, "<a>", 3);
    *size = n;
    return p;
}

static uint16_t wait_for_port(const char *log)
{
    for (int i = 0; i < 200; i++) {  /* up to 10 s */
        size_t n;
        char *text = (char *)lpt_read_file(log, &n);
        const char *at = text ? strstr(text, "listening on http://127.0.0.1:") : NULL;
        unsigned port = at ? (unsigned)atoi(at + strlen("listening on http://127.0.0.1:")) : 0;
        free(text);
        if (port)
            return (uint16_t)port;
        usleep(50 * 1000);
    }
    return 0;
}

static void serve_burst_and_hostile_uploads_in_128m(void **state)
{
    (void)state;
    lpt_cgroup g;
    const uint64_t limit = 128 * MIB;
    require_group(&g, "lp-test-serve", limit);
    const char *log = lpt_path("serve.log");
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "exec '%s' serve --listen 127.0.0.1:0", lpt_bin());
    unlink(log);  /* the port is read from it: never from an earlier run's */
    pid_t pid = lpt_cgroup_spawn(&g, cmd, log);
    assert_true(pid > 0);
    uint16_t port = wait_for_port(log);
    if (!port) {
        print_file(log);
        lpt_cgroup_remove(&g);
        fail_msg("the server did not start");
    }
    size_t nul_size, xml_size;
    char *nul = nul_profile(&nul_size), *xml = deep_xml(&xml_size);
    enum { BURST = 50, NUL_UPLOADS = 30, DEEP_UPLOADS = 4, ALL = BURST + NUL_UPLOADS + DEEP_UPLOADS };
    upload u[ALL];
    pthread_t th[ALL];
    /* each burst client from its own address (as 50 users would be), the hostile uploads
     * from one address per kind, so that the per-address limits do not refuse the burst */
    for (int i = 0; i < ALL; i++) {
        if (i < BURST)
            u[i] = (upload){"", port, "/v1/cards/sws", sws_profile, strlen(sws_profile), 0};
        else if (i < BURST + NUL_UPLOADS)
            u[i] = (upload){"127.0.2.1", port, "/v1/cards/sws", nul, nul_size, 0};
        else
            u[i] = (upload){"", port, "/v1/cards/fs2020", xml, xml_size, 0};
        if (!u[i].source[0])
            snprintf(u[i].source, sizeof u[i].source, "127.0.%d.%d", i < BURST ? 1 : 3, i + 1);
    }
    /* the burst and the deep uploads at once; the NUL uploads one after another, as a
     * leak shows over many requests */
    for (int i = 0; i < BURST; i++)
        assert_int_equal(pthread_create(&th[i], NULL, upload_one, &u[i]), 0);
    for (int i = BURST + NUL_UPLOADS; i < ALL; i++)
        assert_int_equal(pthread_create(&th[i], NULL, upload_one, &u[i]), 0);
    for (int i = BURST; i < BURST + NUL_UPLOADS; i++)
        upload_one(&u[i]);
    int ok = 0, busy = 0, refused = 0, failed = 0, burst_ok = 0, hostile_refused = 0;
    for (int i = 0; i < ALL; i++) {
        if (i < BURST || i >= BURST + NUL_UPLOADS)
            pthread_join(th[i], NULL);
        int s = u[i].status;
        s == 200 ? ok++ : s == 503 ? busy++ : s >= 400 ? refused++ : failed++;
        if (i < BURST)
            burst_ok += s == 200;
        else
            hostile_refused += s >= 400 && s < 500;
    }
    fprintf(stderr, "memlimit: serve: %d answered 200, %d 503, %d refused (4xx), %d no answer\n",
            ok, busy, refused, failed);
    lpt_http_response r;
    int health = lpt_http(port, "GET", "/healthz", NULL, NULL, 0, &r);
    lpt_http_free(&r);
    report("serve: 50-request sws burst + 30 NUL .profile + 4 deep XML", &g, limit);
    kill(pid, SIGTERM);
    int status = 0;
    waitpid(pid, &status, 0);
    uint64_t kills = lpt_cgroup_oom_kills(&g);
    print_file(log);
    lpt_cgroup_remove(&g);
    free(nul);
    free(xml);
    assert_int_equal(kills, 0);
    assert_int_equal(health, 200);
    assert_int_equal(burst_ok, BURST);  /* queue 64, budget 80 MiB: the whole burst fits */
    assert_int_equal(hostile_refused, NUL_UPLOADS + DEEP_UPLOADS);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(convert_24mp_in_128m),
        cmocka_unit_test(batch_in_256m),
        cmocka_unit_test(serve_burst_and_hostile_uploads_in_128m),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
