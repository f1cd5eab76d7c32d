/*
 * test_batch.c - `leanpix batch` and its library parts (leanpix/batch.h).
 *
 * Library: input walking (recursion, relative paths, duplicate outputs), sharding (disjoint
 * and covering), header probe (cjpeg baseline/progressive, vips PNG, bad files), the memory
 * model (monotonic, progressive and shrink-on-load terms, leanest mode), the scheduler with
 * fake jobs of known predicted peaks (the running sum never exceeds the budget, a job too
 * big runs alone and after the others), resume checks (complete vs cut files, temp names,
 * stale temps removed only for our outputs), the JSON report, and RSS back near its
 * pre-outlier level after an outlier job (allocator hygiene).
 * CLI: exit codes, a bad image does not stop the batch, unwritable OUTDIR (a path under a
 * regular file, and a read-only tmpfs when mount works), and - once the codecs convert -
 * outputs that decode, --resume after kill -9, ENOSPC on a small tmpfs, shards.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- helpers ---- */

static void write_ppm(const char *path, uint32_t w, uint32_t h, uint32_t seed)
{
    lp_buffer_image img;
    lpt_make_photo(&img, w, h, LP_FORMAT_RGB8, seed);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fprintf(f, "P6\n%u %u\n255\n", w, h);
    for (uint32_t y = 0; y < h; y++)
        fwrite(img.pixels + (size_t)y * img.stride, 1, (size_t)w * 3, f);
    fclose(f);
    lp_buffer_image_free(&img);
}

static void make_jpeg(const char *path, uint32_t w, uint32_t h, uint32_t seed, const char *flags)
{
    char ppm[1024];
    assert_true(snprintf(ppm, sizeof ppm, "%s.ppm", path) < (int)sizeof ppm);
    write_ppm(ppm, w, h, seed);
    assert_int_equal(lpt_run("cjpeg %s -quality 90 -outfile '%s' '%s'", flags, path, ppm), 0);
    unlink(ppm);
}

/* count JPEGs of w x h, DIR/NAME00.jpg and on, each of its own content. */
static void make_jpegs(const char *dir, const char *name, int count, uint32_t w, uint32_t h)
{
    char p[1200];
    for (int i = 0; i < count; i++) {
        snprintf(p, sizeof p, "%s/%s%02d.jpg", dir, name, i);
        make_jpeg(p, w, h, 1000 + (uint32_t)i, "");
    }
}

static void touch(const char *path, const char *text)
{
    lpt_write_file(path, text, strlen(text));
}

static const char *dir_path(const char *name)
{
    const char *p = lpt_path(name);
    lpt_run("rm -rf '%s' && mkdir -p '%s'", p, p);
    return p;
}

/* ---- walking and sharding ---- */

static void test_walk_directory_keeps_relative_paths(void **state)
{
    (void)state;
    char root[1024];
    snprintf(root, sizeof root, "%s", dir_path("walk"));
    char p[1200];
    snprintf(p, sizeof p, "%s/a/b", root);
    assert_int_equal(lpt_run("mkdir -p '%s'", p), 0);
    const char *names[] = {"z.jpg", "a/x.JPEG", "a/b/y.png", "a/notes.txt", ".hidden.jpg",
                           "a/.z.avif.lp-abcdef"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", root, names[i]);
        touch(p, "x");
    }
    lp_batch_list list;
    lp_batch_list_init(&list);
    lp_error err = {0};
    assert_int_equal(lp_batch_list_add_path(&list, root, &err), LP_OK);
    assert_int_equal(lp_batch_list_sort(&list, &err), LP_OK);
    assert_int_equal(list.count, 3);
    assert_string_equal(list.items[0].rel, "a/b/y.png");
    assert_string_equal(list.items[1].rel, "a/x.JPEG");
    assert_string_equal(list.items[2].rel, "z.jpg");
    snprintf(p, sizeof p, "%s/a/b/y.png", root);
    assert_string_equal(list.items[0].path, p);

    char *out = lp_batch_output_path("out", list.items[1].rel, LP_FILE_AVIF);
    assert_string_equal(out, "out/a/x.avif");
    free(out);
    out = lp_batch_output_path("out/", "dir.v2/name", LP_FILE_JPEG);
    assert_string_equal(out, "out/dir.v2/name.jpg");
    free(out);
    lp_batch_list_free(&list);
}

static void test_walk_files_and_list(void **state)
{
    (void)state;
    const char *root = dir_path("walkfiles");
    char p[1200], list_path[1200];
    snprintf(p, sizeof p, "%s/one.jpg", root);
    touch(p, "x");
    snprintf(list_path, sizeof list_path, "%s/list.txt", root);
    char text[4000];
    snprintf(text, sizeof text, "# a comment\n\n%s/one.jpg\n", root);
    touch(list_path, text);

    lp_batch_list list;
    lp_batch_list_init(&list);
    lp_error err = {0};
    assert_int_equal(lp_batch_list_add_from_file(&list, list_path, &err), LP_OK);
    assert_int_equal(list.count, 1);
    /* an absolute path keeps its base name */
    assert_string_equal(list.items[0].rel, "one.jpg");
    assert_int_equal(lp_batch_list_add_path(&list, "./photos/../x.jpg", &err), LP_ERR_IO);
    lp_batch_list_free(&list);

    /* a relative path without ".." keeps its path, cleaned */
    char cwd[1024];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(root), 0);
    assert_int_equal(lpt_run("mkdir -p sub && touch sub/two.png"), 0);
    lp_batch_list_init(&list);
    assert_int_equal(lp_batch_list_add_path(&list, "./sub//two.png", &err), LP_OK);
    assert_string_equal(list.items[0].rel, "sub/two.png");
    /* "sub/two.jpg" would write the same output as "sub/two.png" */
    assert_int_equal(lpt_run("touch sub/two.jpg"), 0);
    assert_int_equal(lp_batch_list_add_path(&list, "sub/two.jpg", &err), LP_OK);
    lp_error_clear(&err);
    assert_int_equal(lp_batch_list_sort(&list, &err), LP_ERR_INVALID_ARG);
    assert_non_null(strstr(err.message, "same output"));
    lp_batch_list_free(&list);
    assert_int_equal(chdir(cwd), 0);
}

static void test_shards_are_disjoint_and_cover(void **state)
{
    (void)state;
    enum { N = 103, SHARDS = 4 };
    int seen[N] = {0};
    for (unsigned s = 0; s < SHARDS; s++) {
        lp_batch_list list;
        lp_batch_list_init(&list);
        lp_error err = {0};
        char name[32];
        /* added in a scrambled order: the shard must not depend on it */
        for (int i = 0; i < N; i++) {
            snprintf(name, sizeof name, "img%03d.jpg", (i * 37 + (int)s * 11) % N);
            lp_batch_item item = {strdup(name), strdup(name), true};
            if (list.count == list.capacity) {
                list.capacity = list.capacity ? list.capacity * 2 : 16;
                list.items = realloc(list.items, list.capacity * sizeof *list.items);
            }
            list.items[list.count++] = item;
        }
        assert_int_equal(lp_batch_list_sort(&list, &err), LP_OK);
        assert_int_equal(lp_batch_list_shard(&list, s, SHARDS, &err), LP_OK);
        assert_true(list.count == N / SHARDS || list.count == N / SHARDS + 1);
        for (size_t i = 0; i < list.count; i++)
            seen[atoi(list.items[i].rel + 3)]++;
        lp_batch_list_free(&list);
    }
    for (int i = 0; i < N; i++)
        assert_int_equal(seen[i], 1);

    unsigned idx, cnt;
    lp_error err = {0};
    assert_int_equal(lp_batch_parse_shard("2/5", &idx, &cnt, &err), LP_OK);
    assert_int_equal(idx, 2);
    assert_int_equal(cnt, 5);
    assert_int_not_equal(lp_batch_parse_shard("5/5", &idx, &cnt, &err), LP_OK);
    assert_int_not_equal(lp_batch_parse_shard("1", &idx, &cnt, &err), LP_OK);
    assert_int_not_equal(lp_batch_parse_shard("1/0", &idx, &cnt, &err), LP_OK);
}

/* ---- probe and model ---- */

static void test_probe_headers(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("cjpeg");
    const char *base = lpt_path("probe-base.jpg");
    make_jpeg(base, 333, 222, 1, "");
    lp_probe p;
    lp_error err = {0};
    assert_int_equal(lp_probe_file(base, &p, &err), LP_OK);
    assert_int_equal(p.format, LP_FILE_JPEG);
    assert_int_equal(p.width, 333);
    assert_int_equal(p.height, 222);
    assert_int_equal(p.components, 3);
    assert_false(p.progressive);
    assert_true(p.samples_per_pixel > 1.49 && p.samples_per_pixel < 1.51);  /* 4:2:0 */
    assert_int_equal(p.file_bytes, lpt_file_size(base));

    const char *prog = lpt_path("probe-prog.jpg");
    make_jpeg(prog, 64, 48, 2, "-progressive -sample 1x1");
    assert_int_equal(lp_probe_file(prog, &p, &err), LP_OK);
    assert_true(p.progressive);
    assert_true(p.samples_per_pixel > 2.99 && p.samples_per_pixel < 3.01);  /* 4:4:4 */

    if (lpt_have_tool("vips")) {
        const char *png = lpt_path("probe.png");
        write_ppm(lpt_path("probe.ppm"), 77, 55, 3);
        assert_int_equal(lpt_run("vips copy '%s' '%s'", lpt_path("probe.ppm"), png), 0);
        assert_int_equal(lp_probe_file(png, &p, &err), LP_OK);
        assert_int_equal(p.format, LP_FILE_PNG);
        assert_int_equal(p.width, 77);
        assert_int_equal(p.height, 55);
    }

    /* a JPEG cut before its frame header, junk, an empty file, a missing file */
    size_t size;
    uint8_t *data = lpt_read_file(base, &size);
    lpt_write_file(lpt_path("cut.jpg"), data, 20);
    free(data);
    lpt_write_file(lpt_path("junk.jpg"), "this is not an image at all", 27);
    lpt_write_file(lpt_path("empty.jpg"), "", 0);
    assert_int_equal(lp_probe_file(lpt_path("cut.jpg"), &p, &err), LP_ERR_TRUNCATED);
    lp_error_clear(&err);
    assert_int_equal(lp_probe_file(lpt_path("junk.jpg"), &p, &err), LP_ERR_UNSUPPORTED);
    lp_error_clear(&err);
    assert_int_not_equal(lp_probe_file(lpt_path("empty.jpg"), &p, &err), LP_OK);
    lp_error_clear(&err);
    assert_int_equal(lp_probe_file(lpt_path("missing.jpg"), &p, &err), LP_ERR_IO);
}

static lp_probe jpeg_probe(uint32_t w, uint32_t h, bool progressive)
{
    lp_probe p = {.format = LP_FILE_JPEG, .width = w, .height = h, .components = 3,
                        .bit_depth = 8, .progressive = progressive, .samples_per_pixel = 1.5};
    return p;
}

static void test_model(void **state)
{
    (void)state;
    lp_convert_options o, run;
    lp_convert_options_default(&o);
    o.encode.format = LP_FILE_AVIF;
    lp_plan small, big, prog;
    lp_probe p = jpeg_probe(2000, 1500, false);
    lp_plan_job(&p, &o, 0, 1, &small, &run, NULL);
    p = jpeg_probe(4000, 3000, false);
    lp_plan_job(&p, &o, 0, 1, &big, &run, NULL);
    p = jpeg_probe(4000, 3000, true);
    lp_plan_job(&p, &o, 0, 1, &prog, &run, NULL);
    /* AVIF single frame: ~18.5 B/px + 14 MiB; 12 MP => ~236 MB */
    assert_true(big.predicted_peak > 12000000ull * 17);
    assert_true(big.predicted_peak < 12000000ull * 21);
    assert_true(big.predicted_peak > 3 * small.predicted_peak);  /* 4x the pixels, plus fixed costs */
    /* a progressive JPEG keeps 2 bytes x 1.5 samples of coefficients per pixel */
    assert_true(prog.predicted_peak >= big.predicted_peak + 12000000ull * 3);
    assert_false(big.grid);
    assert_false(big.lean);

    /* shrink-on-load: 4000x3000 -> 500x375 decodes at 1/8 */
    lp_convert_options r = o;
    r.max_dim = 500;
    lp_plan shrunk;
    p = jpeg_probe(4000, 3000, false);
    lp_plan_job(&p, &r, 0, 1, &shrunk, &run, NULL);
    assert_int_equal(shrunk.shrink, 8);
    assert_int_equal(shrunk.out_width, 500);
    assert_true(shrunk.predicted_peak < big.predicted_peak / 8);

    /* 35 MP (one AV1 frame would do, but not in 256 MB / 2 jobs): a grid of the largest
     * cells that fit its share (fewer cells, fewer bytes), beside the other job */
    p = jpeg_probe(7000, 5000, false);
    lp_plan outlier;
    lp_plan_job(&p, &o, 256ull << 20, 2, &outlier, &run, NULL);
    assert_true(outlier.grid);
    assert_false(outlier.lean);
    assert_false(outlier.alone);
    assert_true(outlier.predicted_peak <= 128ull << 20);
    assert_true(outlier.cell_width >= 1024 && outlier.cell_height >= 1024);
    assert_int_equal(run.encode.grid, LP_GRID_FIXED);
    assert_true(run.encode.grid_cell_width % 64 == 0 && run.encode.grid_cell_height % 64 == 0);
    assert_int_equal(run.encode.threads, 1);
    /* one column or one row of cells fewer would not have fitted: they are the largest */
    uint32_t cols = (7000 + outlier.cell_width - 1) / outlier.cell_width;
    uint32_t rows = (5000 + outlier.cell_height - 1) / outlier.cell_height;
    assert_true(cols > 1 && rows > 1);
    const uint32_t fewer[2][2] = {
        {((7000 + cols - 2) / (cols - 1) + 63) / 64 * 64, outlier.cell_height},
        {outlier.cell_width, ((5000 + rows - 2) / (rows - 1) + 63) / 64 * 64},
    };
    for (int i = 0; i < 2; i++) {
        lp_convert_options bigger = o;
        bigger.encode.grid = LP_GRID_FIXED;
        bigger.encode.grid_cell_width = fewer[i][0];
        bigger.encode.grid_cell_height = fewer[i][1];
        lp_plan over;
        lp_convert_options over_run;
        lp_plan_job(&p, &bigger, 0, 1, &over, &over_run, NULL);
        assert_true(over.predicted_peak > 128ull << 20);
    }

    /* a 24 MP photo with 122 MB to fit: cells of libaom's 4K class (both sides >= 2160,
     * its tighter speed features), not the evenly cut 2048 px ones */
    p = jpeg_probe(6660, 4000, false);
    lp_plan k4;
    lp_plan_job(&p, &o, 244ull << 20, 2, &k4, &run, NULL);
    assert_true(k4.grid && !k4.lean && !k4.alone);
    assert_true(k4.cell_width >= 2160 && k4.cell_height >= 2160);
    assert_true(k4.predicted_peak <= 122ull << 20);

    /* the same photo with a share (84 MB of 168) below the 4K class: smaller cells, and the
     * 4K-class plan it would prefer (lp_plan.preferred_peak), which a share of exactly
     * that peak gives; its leanest plan is below both */
    lp_plan below, preferred;
    lp_convert_options below_run;
    lp_plan_job(&p, &o, 168ull << 20, 2, &below, &below_run, NULL);
    assert_true(below.grid && below.cell_width < 2160);
    assert_true(below.predicted_peak <= 84ull << 20);
    assert_true(below.preferred_peak > 84ull << 20 && below.preferred_peak <= 168ull << 20);
    assert_true(below.lean_peak > 0 && below.lean_peak <= below.predicted_peak);
    lp_plan_job_for(&p, &o, 168ull << 20, 2, below.preferred_peak, &preferred, &run, NULL);
    assert_true(preferred.cell_width >= 2160 && preferred.cell_height >= 2160);
    assert_true(preferred.predicted_peak <= below.preferred_peak);
    /* at the class's leanest cells, the plan is its own preferred one (lanes may run it
     * beside lean plans) */
    assert_int_equal(preferred.preferred_peak, preferred.predicted_peak);
    assert_int_equal(k4.preferred_peak, k4.predicted_peak);
    /* a share that holds cells a class richer: nothing to prefer */
    lp_plan richer;
    lp_plan_job(&p, &o, 640ull << 20, 2, &richer, &run, NULL);
    assert_true(richer.cell_width * richer.cell_height > k4.cell_width * k4.cell_height * 5 / 4);
    assert_int_equal(richer.preferred_peak, 0);
    /* a share of its lean peak: its leanest cells */
    lp_plan at_lean;
    lp_plan_job_for(&p, &o, 168ull << 20, 2, below.lean_peak, &at_lean, &run, NULL);
    assert_true(at_lean.predicted_peak <= below.lean_peak);

    /* 12 MP (~216 MB as one frame) under 256 MB / 2: a grid within its share */
    p = jpeg_probe(4000, 3000, false);
    lp_plan mid;
    lp_plan_job(&p, &o, 256ull << 20, 2, &mid, &run, NULL);
    assert_true(mid.grid);
    assert_false(mid.alone);
    assert_true(mid.predicted_peak <= 128ull << 20);

    /* 16 jobs in 256 MB (16 MB each): not even the leanest cells fit the share, but the
     * budget: leanest, and no need to run alone */
    p = jpeg_probe(6000, 4000, false);
    lp_plan lean;
    lp_plan_job(&p, &o, 256ull << 20, 16, &lean, &run, NULL);
    assert_true(lean.lean && lean.grid);
    assert_false(lean.alone);
    assert_int_equal(lean.cell_width, 512);

    /* 216 MP in 30 MB: not even the leanest cells fit: alone, leanest */
    p = jpeg_probe(18000, 12000, false);
    lp_plan huge;
    lp_plan_job(&p, &o, 30ull << 20, 2, &huge, &run, NULL);
    assert_true(huge.alone && huge.lean && huge.grid);
    assert_int_equal(huge.threads, 1);

    /* convert (1 job) with 2 CPUs and room: one frame, two threads */
    lp_convert_options two = o;
    two.cpus = 2;
    p = jpeg_probe(2000, 1500, false);
    lp_plan frame2;
    lp_plan_job(&p, &two, 1ull << 30, 1, &frame2, &run, NULL);
    assert_false(frame2.grid);
    assert_int_equal(frame2.threads, 2);
    assert_int_equal(run.encode.threads, 2);
    /* ... and a 24 MP image in 200 MB: 2048 px cells on two threads rather than larger
     * cells on one (cells that large cost no more bytes) */
    p = jpeg_probe(6000, 4000, false);
    lp_plan cells2;
    lp_plan_job(&p, &two, 200ull << 20, 1, &cells2, &run, NULL);
    assert_true(cells2.grid);
    assert_int_equal(cells2.threads, 2);
    assert_true(cells2.cell_width >= 2048 && cells2.cell_height >= 2000);

    /* WebP q80: whole YUV picture + libwebp's state, ~7.4 B/px; lossless far more */
    lp_convert_options wo = o;
    wo.encode.format = LP_FILE_WEBP;
    lp_plan webp, webpll;
    p = jpeg_probe(4000, 3000, false);
    lp_plan_job(&p, &wo, 0, 1, &webp, &run, NULL);
    assert_true(webp.predicted_peak > 12000000ull * 6 && webp.predicted_peak < 12000000ull * 9);
    wo.encode.lossless = true;
    lp_plan_job(&p, &wo, 0, 1, &webpll, &run, NULL);
    assert_true(webpll.predicted_peak > 3 * webp.predicted_peak);

    /* JPEG output: strips, a few MB whatever the height */
    o.encode.format = LP_FILE_JPEG;
    lp_plan jpeg;
    lp_plan_job(&p, &o, 256ull << 20, 2, &jpeg, &run, NULL);
    assert_false(jpeg.alone);
    assert_true(jpeg.predicted_peak < 32ull << 20);
}

/* ---- scheduler with fake jobs ---- */

typedef struct fake {
    lp_batch_job_spec *specs;
    uint64_t budget;
    _Atomic uint64_t running_predicted;
    _Atomic unsigned running;
    _Atomic uint64_t max_seen;
    _Atomic int violations;
    _Atomic int alone_violations;
    size_t order[64];
    _Atomic size_t finished;
    int done_calls;
    int failed;
    unsigned us_per_work;  /* when set, a job sleeps work x this (else 1-3.8 ms) */
    size_t start_order[64];
    _Atomic size_t starts;
} fake;

static lp_status fake_job(void *user, size_t index, const lp_cpu_lender *lender, lp_error *err)
{
    (void)lender;
    fake *f = user;
    f->start_order[atomic_fetch_add(&f->starts, 1) % 64] = index;
    uint64_t pred = f->specs[index].predicted;
    unsigned running = atomic_fetch_add(&f->running, 1) + 1;
    uint64_t sum = atomic_fetch_add(&f->running_predicted, pred) + pred;
    if (f->specs[index].alone || pred > f->budget) {
        if (running != 1)
            atomic_fetch_add(&f->alone_violations, 1);
    } else if (sum > f->budget) {
        atomic_fetch_add(&f->violations, 1);
    }
    uint64_t m = atomic_load(&f->max_seen);
    while (sum > m && !atomic_compare_exchange_weak(&f->max_seen, &m, sum)) {
    }
    usleep(f->us_per_work ? (useconds_t)(f->specs[index].work * f->us_per_work)
                          : 1000 + (index % 5) * 700);
    /* an alone job must still be alone at the end of its run */
    if ((f->specs[index].alone || pred > f->budget) && atomic_load(&f->running) != 1)
        atomic_fetch_add(&f->alone_violations, 1);
    atomic_fetch_sub(&f->running_predicted, pred);
    atomic_fetch_sub(&f->running, 1);
    f->order[atomic_fetch_add(&f->finished, 1)] = index;
    if (index % 7 == 3)
        return lp_error_set(err, LP_ERR_CORRUPT, "fake failure %zu", index);
    return LP_OK;
}

static void fake_done(void *user, size_t index, lp_status st, const lp_error *err)
{
    fake *f = user;
    f->done_calls++;  /* never concurrent: no atomics needed (TSan checks) */
    if (st != LP_OK) {
        f->failed++;
        assert_non_null(strstr(err->message, "fake failure"));
    }
    (void)index;
}

static void test_scheduler_keeps_budget(void **state)
{
    (void)state;
    enum { N = 40 };
    const uint64_t MB = 1ull << 20;
    lp_batch_job_spec specs[N];
    for (int i = 0; i < N; i++) {
        specs[i].predicted = (uint64_t)(20 + (i * 53) % 90) * MB;  /* 20..109 MB */
        specs[i].alone = false;
        specs[i].work = 0;
    }
    specs[5].predicted = 400 * MB;  /* over the budget on its own */
    specs[17].predicted = 300 * MB;
    specs[30].alone = true;         /* marked by the planner (lean mode) */
    specs[30].predicted = 200 * MB;
    fake f = {.specs = specs, .budget = 256 * MB};
    lp_batch_config cfg = {.jobs = 4, .budget = 256 * MB};
    lp_batch_sched_stats stats;
    lp_error err = {0};
    assert_int_equal(lp_batch_run(specs, N, &cfg, fake_job, fake_done, &f, &stats, &err), LP_OK);
    assert_int_equal(atomic_load(&f.violations), 0);
    assert_int_equal(atomic_load(&f.alone_violations), 0);
    assert_true(atomic_load(&f.max_seen) <= 400 * MB);
    assert_true(stats.max_running_predicted <= 400 * MB);
    assert_int_equal(stats.started, N);
    assert_int_equal(stats.ran_alone, 3);
    assert_int_equal(f.done_calls, N);
    assert_int_equal(stats.failed, (size_t)f.failed);
    assert_int_equal(stats.succeeded + stats.failed, N);
    assert_true(stats.max_running >= 2);  /* the budget did let small jobs share */
    /* the jobs that run alone come after all the others, in their order */
    assert_int_equal(f.order[N - 3], 5);
    assert_int_equal(f.order[N - 2], 17);
    assert_int_equal(f.order[N - 1], 30);
}

static bool stop_now;
static bool fake_stop(void *user)
{
    (void)user;
    return stop_now;
}

static void test_scheduler_without_budget_and_stop(void **state)
{
    (void)state;
    lp_batch_job_spec specs[6] = {{.predicted = 100}, {.predicted = 100}, {.predicted = 100},
                                  {.predicted = 100}, {.predicted = 100}, {.predicted = 100}};
    fake f = {.specs = specs, .budget = UINT64_MAX};
    stop_now = true;
    lp_batch_config cfg = {.jobs = 2, .stop = fake_stop};
    lp_batch_sched_stats stats;
    lp_error err = {0};
    assert_int_equal(lp_batch_run(specs, 6, &cfg, fake_job, NULL, &f, &stats, &err), LP_OK);
    assert_int_equal(stats.started, 0);
    stop_now = false;
    assert_int_equal(lp_batch_run(specs, 6, &cfg, fake_job, NULL, &f, &stats, &err), LP_OK);
    assert_int_equal(stats.started, 6);
    assert_true(stats.max_running <= 2);
    assert_int_equal(lp_batch_run(specs, 0, &cfg, fake_job, NULL, &f, &stats, &err), LP_OK);
}

/* Long jobs first: with one worker, the jobs of at least 4 times the median work (10)
 * finish first, longest first; the others keep the given order, whatever their work. */
static void test_scheduler_longest_first(void **state)
{
    (void)state;
    lp_batch_job_spec specs[8];
    const double work[8] = {10, 45, 3, 60, 0, 9, 0, 12};
    for (int i = 0; i < 8; i++)
        specs[i] = (lp_batch_job_spec){.predicted = 1, .work = work[i]};
    specs[4].alone = true;  /* alone jobs still come last */
    specs[4].work = 100;
    fake f = {.specs = specs, .budget = 1000};
    lp_batch_config cfg = {.jobs = 1, .budget = 1000};
    lp_error err = {0};
    assert_int_equal(lp_batch_run(specs, 8, &cfg, fake_job, NULL, &f, NULL, &err), LP_OK);
    const size_t expected[8] = {3, 1, 0, 2, 5, 6, 7, 4};
    for (int i = 0; i < 8; i++)
        assert_int_equal(f.order[i], expected[i]);
}

/* Idle workers lend their CPUs to a running job, within the free budget; while lent,
 * no job starts on them. */
typedef struct lend_fake {
    const lp_batch_job_spec *specs;
    _Atomic unsigned lent_now;   /* CPUs job 0 holds */
    _Atomic unsigned got_first, got_second, got_tight;
    _Atomic int started_while_lent;
} lend_fake;

static lp_status lend_job(void *user, size_t index, const lp_cpu_lender *lender, lp_error *err)
{
    (void)err;
    lend_fake *f = user;
    if (index != 0) {
        if (atomic_load(&f->lent_now))
            atomic_fetch_add(&f->started_while_lent, 1);
        return LP_OK;
    }
    /* job 0 (200 of 250 bytes predicted): one idle worker of two has 50 bytes of room */
    unsigned tight = lender->borrow(lender->ctx, 4, 60);  /* 60 > 50: none */
    unsigned got = lender->borrow(lender->ctx, 4, 40);
    atomic_store(&f->lent_now, got);
    unsigned second = lender->borrow(lender->ctx, 4, 1);  /* nobody idle left */
    usleep(20000);
    atomic_store(&f->lent_now, 0);
    lender->give_back(lender->ctx, got, 40);
    atomic_store(&f->got_first, got);
    atomic_store(&f->got_second, second);
    atomic_store(&f->got_tight, tight);
    return LP_OK;
}

static void test_scheduler_lends_idle_cpus(void **state)
{
    (void)state;
    /* job 1 must wait for job 0's room (200 + 100 > 250): its worker is idle, so lent */
    lp_batch_job_spec specs[2] = {{.predicted = 200, .work = 10}, {.predicted = 100, .work = 1}};
    lend_fake f = {.specs = specs};
    lp_batch_config cfg = {.jobs = 2, .budget = 250};
    lp_batch_sched_stats stats;
    lp_error err = {0};
    assert_int_equal(lp_batch_run(specs, 2, &cfg, lend_job, NULL, &f, &stats, &err), LP_OK);
    assert_int_equal(atomic_load(&f.got_tight), 0);
    assert_int_equal(atomic_load(&f.got_first), 1);
    assert_int_equal(atomic_load(&f.got_second), 0);
    assert_int_equal(atomic_load(&f.started_while_lent), 0);
    assert_int_equal(stats.cpus_lent, 1);
    assert_int_equal(stats.succeeded, 2);

    /* one job, three workers, no budget: both idle workers are lent */
    lp_batch_job_spec one[1] = {{.predicted = 200, .work = 10}};
    lp_batch_config three = {.jobs = 3};
    lend_fake g = {.specs = one};
    assert_int_equal(lp_batch_run(one, 1, &three, lend_job, NULL, &g, &stats, &err), LP_OK);
    assert_int_equal(atomic_load(&g.got_tight), 2);  /* no budget: the 60-byte ask too */
    assert_int_equal(stats.cpus_lent, 2);
}

/* Lanes: jobs planned for budget / jobs that would prefer a plan above that share. The
 * fake planner (replan) gives a share of 0 the 80-byte plan, its preferred share the
 * 120-byte one, any other share a plan of that size (lean: 30). */
typedef struct lanes_fake {
    lp_batch_job_spec *specs;
    uint64_t budget;
    uint64_t planned[64];
    _Atomic uint64_t running_planned;
    _Atomic unsigned preferred_running, max_preferred_running;
    _Atomic int violations;
    _Atomic unsigned replans;
} lanes_fake;

static uint64_t lanes_replan(void *user, size_t index, uint64_t share)
{
    lanes_fake *f = user;
    atomic_fetch_add(&f->replans, 1);
    f->planned[index] = share == 0 ? 80 : share;
    return f->planned[index];
}

static lp_status lanes_job(void *user, size_t index, const lp_cpu_lender *lender, lp_error *err)
{
    (void)lender;
    (void)err;
    lanes_fake *f = user;
    uint64_t mine = f->planned[index];
    bool preferred = mine == f->specs[index].preferred;
    uint64_t sum = atomic_fetch_add(&f->running_planned, mine) + mine;
    if (sum > f->budget)
        atomic_fetch_add(&f->violations, 1);
    if (preferred) {
        unsigned now = atomic_fetch_add(&f->preferred_running, 1) + 1;
        unsigned most = atomic_load(&f->max_preferred_running);
        while (now > most && !atomic_compare_exchange_weak(&f->max_preferred_running, &most, now)) {
        }
    }
    /* Both lanes' jobs take as long: each worker keeps to its lane, so each does about half
     * the jobs. (Preferred jobs three times as long made the expected count N / 3, the
     * bound itself: 7 was seen under ASan on a loaded machine.) */
    usleep(1000 + (index % 3) * 500);
    if (preferred)
        atomic_fetch_sub(&f->preferred_running, 1);
    atomic_fetch_sub(&f->running_planned, mine);
    return LP_OK;
}

static void run_lanes(lanes_fake *f, lp_batch_job_spec *specs, size_t n, uint64_t budget,
                      lp_batch_sched_stats *stats)
{
    for (size_t i = 0; i < n; i++)
        f->planned[i] = specs[i].predicted;
    f->specs = specs;
    f->budget = budget;
    lp_batch_config cfg = {.jobs = 2, .budget = budget, .replan = lanes_replan};
    lp_error err = {0};
    assert_int_equal(lp_batch_run(specs, n, &cfg, lanes_job, NULL, f, stats, &err), LP_OK);
    assert_int_equal(stats->succeeded, n);
    assert_int_equal(atomic_load(&f->violations), 0);
}

static void test_scheduler_lanes(void **state)
{
    (void)state;
    enum { N = 24 };
    lp_batch_job_spec specs[N];
    for (int i = 0; i < N; i++)
        specs[i] = (lp_batch_job_spec){.predicted = 80, .work = 1, .lean = 30, .preferred = 120};

    /* 168 bytes: one 120-byte plan beside half a share (42): one lane of preferred plans,
     * the other worker's jobs planned for the 48 bytes left */
    lanes_fake f = {0};
    lp_batch_sched_stats stats;
    run_lanes(&f, specs, N, 168, &stats);
    assert_int_equal(atomic_load(&f.max_preferred_running), 1);
    assert_true(stats.took_preferred >= N / 3);
    assert_true(stats.took_room >= 1);
    assert_int_equal(stats.took_preferred + stats.took_room, N);
    for (int i = 0; i < N; i++)
        assert_true(f.planned[i] == 120 || f.planned[i] == 48);

    /* 150 bytes cannot hold 120 beside half a share (37): equal shares, no replan */
    lanes_fake g = {0};
    run_lanes(&g, specs, N, 150, &stats);
    assert_int_equal(atomic_load(&g.replans), 0);
    assert_int_equal(stats.took_preferred, 0);

    /* 256 bytes hold two 120-byte plans, which the jobs already have (preferred = their
     * own): still one lane of them, the other's jobs planned for half of one (60 bytes) */
    for (int i = 0; i < N; i++)
        specs[i] = (lp_batch_job_spec){.predicted = 120, .work = 1, .lean = 30, .preferred = 120};
    lanes_fake two = {0};
    run_lanes(&two, specs, N, 256, &stats);
    assert_int_equal(atomic_load(&two.max_preferred_running), 1);
    assert_true(stats.took_preferred >= N / 3 && stats.took_room >= 1);
    assert_true(stats.max_running_predicted <= 180);
    for (int i = 0; i < N; i++)
        assert_true(two.planned[i] == 120 || two.planned[i] == 60);

    /* 168 bytes, but only a quarter of the jobs prefer more: equal shares */
    for (int i = 0; i < N; i++)
        specs[i].preferred = i % 4 == 0 ? 120 : 0;
    lanes_fake h = {0};
    run_lanes(&h, specs, N, 168, &stats);
    assert_int_equal(atomic_load(&h.replans), 0);
}

/* Lanes and lent CPUs: a job alone at the end of a batch in lanes borrows only within what
 * the lanes use (120 + 60 of 256 bytes), not the whole budget. */
static uint64_t own_plan_replan(void *user, size_t index, uint64_t share)
{
    (void)user;
    (void)index;
    return share ? share : 120;
}

static lp_status lanes_lend_job(void *user, size_t index, const lp_cpu_lender *lender,
                                lp_error *err)
{
    (void)index;
    (void)err;
    unsigned *got = user;
    got[0] = lender->borrow(lender->ctx, 1, 84);
    if (got[0])
        lender->give_back(lender->ctx, got[0], 84);
    got[1] = lender->borrow(lender->ctx, 1, 60);
    if (got[1])
        lender->give_back(lender->ctx, got[1], 60);
    return LP_OK;
}

static void test_scheduler_lanes_lend_within_lanes(void **state)
{
    (void)state;
    lp_batch_job_spec one = {.predicted = 120, .work = 1, .lean = 30, .preferred = 120};
    unsigned got[2] = {9, 9};
    lp_batch_config cfg = {.jobs = 2, .budget = 256, .replan = own_plan_replan};
    lp_batch_sched_stats stats;
    lp_error err = {0};
    assert_int_equal(lp_batch_run(&one, 1, &cfg, lanes_lend_job, NULL, got, &stats, &err), LP_OK);
    assert_int_equal(stats.took_preferred, 1);
    assert_int_equal(got[0], 0);  /* 120 + 84 > 180 */
    assert_int_equal(got[1], 1);
    /* without lanes the budget is the bound: 120 + 84 fits 256 */
    cfg.replan = NULL;
    assert_int_equal(lp_batch_run(&one, 1, &cfg, lanes_lend_job, NULL, got, &stats, &err), LP_OK);
    assert_int_equal(got[0], 1);
}

/* When the head (the longest job) waits for room, smaller jobs that fit start beside the
 * running one; the head is passed over only so often, so it is not starved. */
static void test_scheduler_backfills_without_starving(void **state)
{
    (void)state;
    enum { SMALL = 24, N = SMALL + 2 };
    lp_batch_job_spec specs[N];
    specs[0] = (lp_batch_job_spec){.predicted = 60, .work = 100};
    specs[1] = (lp_batch_job_spec){.predicted = 60, .work = 90};
    for (int i = 2; i < N; i++)
        specs[i] = (lp_batch_job_spec){.predicted = 30, .work = 1};
    fake f = {.specs = specs, .budget = 100, .us_per_work = 300};  /* 30 ms, 27 ms, 0.3 ms */
    lp_batch_config cfg = {.jobs = 2, .budget = 100};
    lp_batch_sched_stats stats;
    lp_error err = {0};
    assert_int_equal(lp_batch_run(specs, N, &cfg, fake_job, NULL, &f, &stats, &err), LP_OK);
    assert_int_equal(atomic_load(&f.violations), 0);
    assert_true(stats.backfilled >= 1);               /* small jobs ran beside job 0 */
    assert_true(stats.backfilled <= 4 * cfg.jobs);    /* then job 1 waited for its room */
    size_t pos1 = N;
    for (size_t i = 0; i < N; i++)
        if (f.start_order[i] == 1)
            pos1 = i;
    assert_true(pos1 <= 2 + 4 * cfg.jobs);  /* job 1 was not left for the end */
}

/* End to end: one AVIF grid job on two workers; the idle worker's CPU is lent, the
 * encoder runs two cells at once with it, and the grid is the same as on one thread. */
typedef struct grid_job {
    const char *in, *out;
    lp_mem *parent;
    lp_convert_stats stats;
} grid_job;

static lp_status grid_job_run(void *user, size_t index, const lp_cpu_lender *lender, lp_error *err)
{
    (void)index;
    grid_job *g = user;
    lp_convert_options o;
    lp_convert_options_default(&o);
    o.encode.format = LP_FILE_AVIF;
    o.encode.speed = 10;
    o.encode.grid = LP_GRID_FIXED;
    o.encode.grid_cell_width = o.encode.grid_cell_height = 256;
    o.encode.threads = 1;
    o.encode.lender = lender;
    o.parent_mem = g->parent;
    o.max_mem = 256u << 20;
    return lp_convert_file(g->in, g->out, &o, &g->stats, err);
}

static void test_batch_lends_cpus_to_a_grid_job(void **state)
{
    (void)state;
    const char *in = lpt_path("lend.jpg");
    make_jpeg(in, 1024, 512, 7, "");
    lp_mem *parent = lp_mem_new(256u << 20, NULL);
    grid_job g = {.in = in, .out = lpt_path("lend.avif"), .parent = parent};
    lp_batch_job_spec spec = {.predicted = 64u << 20, .work = 1};
    lp_batch_config cfg = {.jobs = 2, .budget = 256u << 20};
    lp_batch_sched_stats stats;
    lp_error err = {0};
    assert_int_equal(lp_batch_run(&spec, 1, &cfg, grid_job_run, NULL, &g, &stats, &err), LP_OK);
    assert_int_equal(stats.succeeded, 1);
    assert_true(stats.cpus_lent >= 1);  /* every cell-row: 4 cells, 1 thread + 1 lent */
    uint64_t lent_size = lpt_file_size(g.out);

    /* the same job alone on one worker: nothing to lend, the same file */
    g.out = lpt_path("lend1.avif");
    cfg.jobs = 1;
    assert_int_equal(lp_batch_run(&spec, 1, &cfg, grid_job_run, NULL, &g, &stats, &err), LP_OK);
    assert_int_equal(stats.cpus_lent, 0);
    assert_int_equal(lpt_file_size(g.out), lent_size);
    assert_int_equal(lp_mem_current(parent), 0);  /* every lent reservation given back */
    lp_mem_free_tracker(parent);
}

/* A job that runs out of counted memory beside others is run again, alone. */
typedef struct nomem_fake {
    _Atomic unsigned running;
    _Atomic int runs_of_2;
    _Atomic int alone_run_of_2;
    int done_calls, failed;
} nomem_fake;

static lp_status nomem_job(void *user, size_t index, const lp_cpu_lender *lender, lp_error *err)
{
    (void)lender;
    nomem_fake *f = user;
    unsigned running = atomic_fetch_add(&f->running, 1) + 1;
    usleep(2000);
    lp_status st = LP_OK;
    if (index == 2) {
        atomic_fetch_add(&f->runs_of_2, 1);
        if (running > 1 || atomic_load(&f->running) > 1)
            st = lp_error_set(err, LP_ERR_NOMEM, "memory budget exceeded");
        else
            atomic_store(&f->alone_run_of_2, 1);
    }
    atomic_fetch_sub(&f->running, 1);
    return st;
}

static void nomem_done(void *user, size_t index, lp_status st, const lp_error *err)
{
    nomem_fake *f = user;
    (void)index, (void)err;
    f->done_calls++;
    f->failed += st != LP_OK;
}

static void test_scheduler_retries_nomem_alone(void **state)
{
    (void)state;
    lp_batch_job_spec specs[8];
    for (int i = 0; i < 8; i++)
        specs[i] = (lp_batch_job_spec){.predicted = 10};
    nomem_fake f = {0};
    lp_batch_config cfg = {.jobs = 3, .budget = 1000};
    lp_batch_sched_stats stats;
    lp_error err = {0};
    assert_int_equal(lp_batch_run(specs, 8, &cfg, nomem_job, nomem_done, &f, &stats, &err), LP_OK);
    assert_int_equal(f.done_calls, 8);
    assert_int_equal(stats.succeeded, 8);
    assert_int_equal(f.failed, 0);
    assert_true(atomic_load(&f.alone_run_of_2));
    assert_int_equal(stats.retried_alone, (size_t)(atomic_load(&f.runs_of_2) - 1));
    assert_true(atomic_load(&f.runs_of_2) <= 2);
}

/* ---- allocator hygiene: RSS comes back after an outlier ---- */

typedef struct alloc_job {
    size_t block;
    size_t blocks;
} alloc_job;

static lp_status alloc_job_run(void *user, size_t index, const lp_cpu_lender *lender, lp_error *err)
{
    (void)lender;
    alloc_job *jobs = user;
    const alloc_job *j = &jobs[index];
    void **ptrs = calloc(j->blocks, sizeof *ptrs);
    assert_non_null(ptrs);
    for (size_t i = 0; i < j->blocks; i++) {
        /* varied sizes, as strips, rows and codec buffers are */
        size_t size = j->block - (i % 7) * 4096;
        ptrs[i] = lp_mem_alloc(NULL, size, "test block", err);
        assert_non_null(ptrs[i]);
        memset(ptrs[i], (int)i, size);
    }
    for (size_t i = 0; i < j->blocks; i++)
        lp_mem_release(NULL, ptrs[i]);
    free(ptrs);
    return LP_OK;
}

/* The heap figure the RSS drift is measured against follows live blocks, in the arenas and
 * mmapped, and drops when they are freed. */
static void test_heap_in_use_follows_live_blocks(void **state)
{
    (void)state;
#ifndef __GLIBC__
    skip();
#endif
    if (getenv("LP_SANITIZED")) {
        fprintf(stderr, "SKIP: the heap is the sanitizer's allocator's under ASan\n");
        skip();
    }
    lp_batch_tune_allocator();
    uint64_t before = lp_batch_heap_in_use();
    enum { SMALL = 64, SMALL_SIZE = 64 * 1024, BIG_SIZE = 8 << 20 };
    char *small[SMALL];
    for (int i = 0; i < SMALL; i++)
        small[i] = malloc(SMALL_SIZE);
    char *big = malloc(BIG_SIZE);
    assert_non_null(big);
    uint64_t during = lp_batch_heap_in_use();
    assert_true(during >= before + (uint64_t)SMALL * SMALL_SIZE + BIG_SIZE);
    free(big);
    for (int i = 0; i < SMALL; i++)
        free(small[i]);
    uint64_t after = lp_batch_heap_in_use();
    assert_true(after < during - BIG_SIZE);
}

static void test_rss_back_after_outlier(void **state)
{
    (void)state;
    if (getenv("LP_SANITIZED")) {
        fprintf(stderr, "SKIP: RSS figures are the sanitizer's allocator's under ASan\n");
        skip();
    }
    lp_batch_tune_allocator();
    enum { NORMAL = 8 };
    const size_t KB = 1024;
    alloc_job jobs[2 * NORMAL + 1];
    lp_batch_job_spec specs[2 * NORMAL + 1];
    for (int i = 0; i < 2 * NORMAL + 1; i++) {
        jobs[i] = (alloc_job){256 * KB, 96};  /* ~24 MB each, held in the arenas once freed */
        specs[i] = (lp_batch_job_spec){.predicted = 32u << 20};
    }
    /* the outlier: 160 MB of blocks below and above the mmap threshold */
    jobs[NORMAL] = (alloc_job){640 * KB, 256};
    specs[NORMAL] = (lp_batch_job_spec){.predicted = 200u << 20, .alone = true};
    lp_batch_config cfg = {.jobs = 2, .budget = 256u << 20, .trim_threshold = 64u << 20};
    lp_error err = {0};
    /* What a batch process holds while idle (binary, libraries, codec tables, the input
     * list: ~30 MB for leanpix with 1,200 inputs) so that the comparison is at a batch's
     * scale, not at the ~7 MB of a bare test process where one cached thread stack
     * (glibc keeps them) is already 40%. */
    size_t state_size = 24u << 20;
    char *held = malloc(state_size);
    assert_non_null(held);
    memset(held, 7, state_size);

    /* before: the normal jobs alone, twice (arenas warmed up) */
    assert_int_equal(lp_batch_run(specs, NORMAL, &cfg, alloc_job_run, NULL, jobs, NULL, &err), LP_OK);
    assert_int_equal(lp_batch_run(specs, NORMAL, &cfg, alloc_job_run, NULL, jobs, NULL, &err), LP_OK);
    uint64_t before = lp_process_current_rss();
    /* the outlier, then the normal jobs again */
    assert_int_equal(lp_batch_run(specs + NORMAL, 1, &cfg, alloc_job_run, NULL, jobs + NORMAL, NULL, &err), LP_OK);
    uint64_t peak = lp_process_peak_rss();
    assert_int_equal(lp_batch_run(specs + NORMAL + 1, NORMAL, &cfg, alloc_job_run, NULL,
                                  jobs + NORMAL + 1, NULL, &err), LP_OK);
    uint64_t after = lp_process_current_rss();
    fprintf(stderr, "RSS before outlier %.1f MiB, peak %.1f MiB, after %.1f MiB\n",
            before / 1048576.0, peak / 1048576.0, after / 1048576.0);
    assert_true(peak > before + (100u << 20));  /* the outlier did use its memory */
    assert_true(after <= before + before / 5);
    assert_int_equal(held[state_size / 2], 7);
    free(held);
}

/* ---- resume ---- */

static void test_output_complete(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("cjpeg");
    const char *jpg = lpt_path("complete.jpg");
    make_jpeg(jpg, 96, 64, 4, "");
    assert_true(lp_batch_output_complete(jpg, LP_FILE_JPEG));
    assert_true(lp_batch_output_complete(jpg, LP_FILE_UNKNOWN));
    assert_false(lp_batch_output_complete(jpg, LP_FILE_AVIF));
    size_t size;
    uint8_t *data = lpt_read_file(jpg, &size);
    lpt_write_file(lpt_path("cut-out.jpg"), data, size - 100);
    assert_false(lp_batch_output_complete(lpt_path("cut-out.jpg"), LP_FILE_JPEG));
    free(data);
    lpt_write_file(lpt_path("zero.jpg"), "", 0);
    assert_false(lp_batch_output_complete(lpt_path("zero.jpg"), LP_FILE_JPEG));
    assert_false(lp_batch_output_complete(lpt_path("nothing-here.jpg"), LP_FILE_JPEG));

    /* AVIF: top-level boxes must tile the file: ftyp, meta, mdat */
    uint8_t avif[24 + 16 + 20] = {0};
    memcpy(avif, "\0\0\0\x18" "ftypavif\0\0\0\0mif1avif", 24);
    memcpy(avif + 24, "\0\0\0\x10" "meta", 8);
    memcpy(avif + 40, "\0\0\0\x14" "mdat", 8);
    lpt_write_file(lpt_path("ok.avif"), avif, sizeof avif);
    assert_true(lp_batch_output_complete(lpt_path("ok.avif"), LP_FILE_AVIF));
    lpt_write_file(lpt_path("cut.avif"), avif, sizeof avif - 1);
    assert_false(lp_batch_output_complete(lpt_path("cut.avif"), LP_FILE_AVIF));
    lpt_write_file(lpt_path("nomdat.avif"), avif, 40);
    assert_false(lp_batch_output_complete(lpt_path("nomdat.avif"), LP_FILE_AVIF));

    /* WebP: the RIFF size covers the file */
    uint8_t webp[30] = {'R', 'I', 'F', 'F', 22, 0, 0, 0, 'W', 'E', 'B', 'P', 'V', 'P', '8', 'L'};
    lpt_write_file(lpt_path("ok.webp"), webp, sizeof webp);
    assert_true(lp_batch_output_complete(lpt_path("ok.webp"), LP_FILE_WEBP));
    lpt_write_file(lpt_path("cut.webp"), webp, sizeof webp - 4);
    assert_false(lp_batch_output_complete(lpt_path("cut.webp"), LP_FILE_WEBP));
}

static bool only_a(void *user, const char *final_path)
{
    (void)user;
    const char *base = strrchr(final_path, '/');
    return base && !strcmp(base + 1, "a.avif");
}

static void test_stale_temps(void **state)
{
    (void)state;
    size_t len;
    assert_true(lp_batch_is_temp_name(".photo.avif.lp-Ab12Cd", &len));
    assert_int_equal(len, strlen("photo.avif"));
    assert_false(lp_batch_is_temp_name("photo.avif", &len));
    assert_false(lp_batch_is_temp_name(".lp-Ab12Cd", &len));
    assert_false(lp_batch_is_temp_name(".photo.avif.lp-Ab12", &len));

    const char *root = dir_path("temps");
    char p[1200];
    snprintf(p, sizeof p, "%s/sub", root);
    assert_int_equal(lpt_run("mkdir -p '%s'", p), 0);
    const char *names[] = {".a.avif.lp-111111", "sub/.a.avif.lp-222222", ".b.avif.lp-333333",
                           "a.avif", ".keep"};
    for (size_t i = 0; i < 5; i++) {
        snprintf(p, sizeof p, "%s/%s", root, names[i]);
        touch(p, "x");
    }
    unsigned removed = 0;
    lp_error err = {0};
    assert_int_equal(lp_batch_remove_stale_temps(root, only_a, NULL, &removed, &err), LP_OK);
    assert_int_equal(removed, 2);
    assert_int_equal(lpt_count_files(root, ".a.avif.lp-"), 0);
    assert_int_equal(lpt_count_files(root, ".b.avif.lp-"), 1);  /* another shard's */
    assert_int_equal(lpt_count_files(root, "a.avif"), 1);
    assert_int_equal(lp_batch_remove_stale_temps(root, NULL, NULL, &removed, &err), LP_OK);
    assert_int_equal(removed, 1);
    assert_int_equal(lpt_count_files(root, ".keep"), 1);
}

/* ---- JSON report ---- */

static void test_json_report(void **state)
{
    (void)state;
    const char *path = lpt_path("report.json");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    lp_batch_json_open(f);
    lp_batch_record r = {.input = "in/a \"b\".jpg", .output = "out/a.avif",
                         .in_format = LP_FILE_JPEG, .out_format = LP_FILE_AVIF,
                         .in_width = 4000, .in_height = 3000, .out_width = 4000, .out_height = 3000,
                         .bytes_in = 12345, .bytes_out = 678, .seconds = 1.5,
                         .predicted_peak = 1000, .counted_peak = 900, .process_rss = 5000, .running_counted = 4000, .heap_in_use = 3000,
                         .status = "ok"};
    lp_batch_json_record(f, &r, true);
    r.status = "failed";
    r.error = "truncated JPEG data\n";
    lp_batch_json_record(f, &r, false);
    lp_batch_summary s = {.total = 2, .succeeded = 1, .failed = 1, .seconds = 2.0,
                          .megapixels = 12.0, .budget = 256u << 20, .jobs = 2, .shard = "0/3",
                          .idle_process = 13u << 20, .job_budget = 243u << 20};
    lp_batch_json_close(f, &s);
    fclose(f);
    size_t size;
    char *text = (char *)lpt_read_file(path, &size);
    assert_non_null(text);
    text = realloc(text, size + 1);
    text[size] = '\0';
    assert_non_null(strstr(text, "\"input\": \"in/a \\\"b\\\".jpg\""));
    assert_non_null(strstr(text, "\"error\": \"truncated JPEG data\\n\""));
    assert_non_null(strstr(text, "\"error\": null"));
    assert_non_null(strstr(text, "\"predicted_peak_bytes\": 1000"));
    assert_non_null(strstr(text, "\"finished_at\": "));
    assert_non_null(strstr(text, "\"running_counted_bytes\": 4000"));
    assert_non_null(strstr(text, "\"heap_in_use_bytes\": 3000"));
    assert_non_null(strstr(text, "\"megapixels_per_second\": 6.000"));
    assert_non_null(strstr(text, "\"shard\": \"0/3\""));
    assert_non_null(strstr(text, "\"idle_process_bytes\": 13631488, \"job_budget_bytes\": 254803968"));
    free(text);
    if (lpt_have_tool("python3"))
        assert_int_equal(lpt_run("python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); "
                                 "assert len(d[\"images\"])==2 and d[\"summary\"][\"failed\"]==1' '%s'",
                                 path), 0);
}

/* ---- CLI ---- */

static char cli_out[8192];

static int batch_cli(const char *args)
{
    return lpt_run_capture(cli_out, sizeof cli_out, "'%s' batch --no-progress %s 2>&1", lpt_bin(), args);
}

/* Does this build convert JPEG to AVIF yet? (The codecs land from other branches.) */
static bool convert_works(void)
{
    static int works = -1;
    if (works < 0) {
        const char *in = lpt_path("probe-convert.jpg");
        make_jpeg(in, 64, 64, 9, "");
        works = lpt_run("'%s' convert '%s' '%s' >/dev/null 2>&1", lpt_bin(), in,
                        lpt_path("probe-convert.avif")) == 0;
    }
    return works;
}

#define REQUIRE_CONVERT()                                                                  \
    do {                                                                                   \
        if (!convert_works()) {                                                            \
            fprintf(stderr, "SKIP: leanpix convert cannot write AVIF in this build yet\n"); \
            skip();                                                                        \
        }                                                                                  \
    } while (0)

static void test_cli_usage_and_outdir(void **state)
{
    (void)state;
    assert_int_equal(lpt_run("'%s' batch --help >/dev/null", lpt_bin()), 0);
    assert_int_equal(batch_cli(""), 2);
    assert_int_equal(batch_cli("-o x"), 2);
    /* shards are checked with the command line: status 2 like any bad argument */
    assert_int_equal(batch_cli("-o x --shard 3/3 y.jpg"), 2);
    assert_int_equal(batch_cli("-o x --shard 8/8 y.jpg"), 2);
    assert_int_equal(batch_cli("-o x --shard abc y.jpg"), 2);
    assert_non_null(strstr(cli_out, "a shard is I/N"));
    assert_int_equal(batch_cli("-o x --lanes sometimes y.jpg"), 2);
    assert_non_null(strstr(cli_out, "--lanes takes auto or off"));
    /* --help describes each option once, with one default */
    assert_int_equal(lpt_run_capture(cli_out, sizeof cli_out, "'%s' batch --help", lpt_bin()), 0);
    size_t max_mem_lines = 0, format_lines = 0;
    for (const char *l = cli_out; l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
        max_mem_lines += !strncmp(l, "  --max-mem", 11);
        format_lines += !strncmp(l, "  -f, --format", 14);
    }
    assert_int_equal(max_mem_lines, 1);
    assert_int_equal(format_lines, 1);

    const char *in = dir_path("cli-in");
    char p[1200];
    snprintf(p, sizeof p, "%s/a.jpg", in);
    touch(p, "not a jpeg");
    /* OUTDIR under a regular file: ENOTDIR (works as root, unlike chmod 555) */
    const char *file = lpt_path("regular-file");
    touch(file, "x");
    char args[4096];
    snprintf(args, sizeof args, "-o '%s/out' '%s'", file, in);
    assert_int_equal(batch_cli(args), 1);
    assert_non_null(strstr(cli_out, "cannot create the output directory"));
    assert_non_null(strstr(cli_out, "Not a directory"));
    assert_null(strstr(cli_out, "a.jpg"));  /* stopped before any image */

    /* a read-only file system (root ignores permissions, not MS_RDONLY) */
    const char *ro = dir_path("ro-mount");
    if (mount("tmpfs", ro, "tmpfs", MS_RDONLY, "size=64k") == 0) {
        snprintf(args, sizeof args, "-o '%s' '%s'", ro, in);
        int rc = batch_cli(args);
        umount(ro);
        assert_int_equal(rc, 1);
        assert_non_null(strstr(cli_out, "cannot write in the output directory"));
        assert_non_null(strstr(cli_out, "Read-only file system"));
    } else {
        fprintf(stderr, "note: cannot mount a read-only tmpfs here; ENOTDIR case only\n");
    }
}

static void test_cli_bad_image_goes_on(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("cjpeg");
    const char *in = dir_path("bad-in");
    const char *out = dir_path("bad-out");
    char p[1200];
    snprintf(p, sizeof p, "%s/bad.jpg", in);
    touch(p, "\xff\xd8\xff garbage");
    snprintf(p, sizeof p, "%s/good.jpg", in);
    make_jpeg(p, 96, 80, 5, "");
    char args[4096];
    snprintf(args, sizeof args, "-o '%s' --json '%s' '%s'", out, lpt_path("bad.json"), in);
    int rc = batch_cli(args);
    /* the bad one is named with its reason; the batch went on to the good one */
    assert_non_null(strstr(cli_out, "bad.jpg: "));
    assert_int_equal(lpt_count_files(out, ".bad"), 0);
    assert_int_equal(lpt_count_files(out, "bad"), 0);
    size_t size;
    char *json = (char *)lpt_read_file(lpt_path("bad.json"), &size);
    assert_non_null(json);
    json = realloc(json, size + 1);
    json[size] = '\0';
    assert_non_null(strstr(json, "\"status\": \"failed\""));
    assert_non_null(strstr(json, "good.jpg"));
    assert_non_null(strstr(json, "\"total\": 2"));
    /* the plan's share: the budget less the idle process, both reported */
    if (lpt_have_tool("python3"))
        assert_int_equal(lpt_run("python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))"
                                 "[\"summary\"]; i=s[\"idle_process_bytes\"]; step=4<<20; "
                                 "assert 0 < i < s[\"budget_bytes\"] and i // step * step + "
                                 "s[\"job_budget_bytes\"] == s[\"budget_bytes\"]' '%s'",
                                 lpt_path("bad.json")), 0);
    if (convert_works()) {
        assert_int_equal(rc, 3);
        assert_non_null(strstr(json, "\"status\": \"ok\""));
        assert_true(lpt_file_exists(lpt_path("bad-out/good.avif")));
    }
    free(json);
}

/* Lanes end to end: 2240 px photos, of libaom's 4K class, whose 4K-class plan (one 2240
 * px cell, 101 MiB predicted) is over an equal share of a 140 MiB jobs' budget (70 MiB:
 * 1152 px cells, 37 MiB), and within an equal share of 210 MiB (one frame, 112 MiB, is
 * not). With lanes (the default) at either budget one runs with 4K-class cells beside the
 * other's lean plan, the budget kept (at 210 MiB the lanes use about 150); with --lanes
 * off every one gets its equal share's cells: below the class at 140 MiB, of it at 210. */
static void test_cli_lanes(void **state)
{
    (void)state;
    REQUIRE_CONVERT();
    LPT_REQUIRE_TOOL("cjpeg");
    LPT_REQUIRE_TOOL("python3");
    char in[1100];
    snprintf(in, sizeof in, "%s", dir_path("lanes-in"));
    make_jpegs(in, "p", 4, 2240, 2240);
    /* argv: the report, lanes auto or off, the 4K-class jobs --lanes off gives (when they
     * are all, the other lane plans its jobs again for less: took_room) */
    const char *check =
        "python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); s=d[\"summary\"]; "
        "k4=[r for r in d[\"images\"] if min(r[\"cell_width\"], r[\"cell_height\"]) >= 2160 "
        "or not r[\"cell_width\"]]; assert s[\"succeeded\"] == 4, s; "
        "assert s[\"max_running_predicted_bytes\"] <= s[\"job_budget_bytes\"], s; "
        "lanes = sys.argv[2] == \"auto\"; "
        "off_k4 = int(sys.argv[3]); "
        "assert (s[\"took_preferred\"] >= 1) == lanes, s; "
        "assert (s[\"took_room\"] >= 1) == (lanes and off_k4 > 0), s; "
        "assert len(k4) == (s[\"took_preferred\"] if lanes else off_k4), "
        "(len(k4), s)' '%s' %s %d";
    /* the jobs' budget is 140 MiB whatever the idle process holds (more under sanitizers):
     * a first run measures what it counts */
    char args[4096], json[1100];
    snprintf(json, sizeof json, "%s", lpt_path("lanes-idle.json"));
    snprintf(args, sizeof args, "-o '%s' --json '%s' --jobs 2 --max-mem 400M --speed 10 '%s'",
             dir_path("lanes-out-idle"), json, in);
    assert_int_equal(batch_cli(args), 0);
    char idle[64];
    assert_int_equal(lpt_run_capture(idle, sizeof idle,
                                     "python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))"
                                     "[\"summary\"]; print((s[\"budget_bytes\"] - "
                                     "s[\"job_budget_bytes\"]) >> 20)' '%s'", json), 0);
    const unsigned jobs_budget[] = {140, 210};
    const char *modes[] = {"auto", "off"};
    for (int b = 0; b < 2; b++) {
        for (int i = 0; i < 2; i++) {
            char out[64];
            snprintf(out, sizeof out, "lanes-%u-%s", jobs_budget[b], modes[i]);
            snprintf(json, sizeof json, "%s.json", lpt_path(out));
            snprintf(args, sizeof args,
                     "-o '%s' --json '%s' --jobs 2 --max-mem %uM --speed 10 --lanes %s '%s'",
                     dir_path(out), json, (unsigned)atoi(idle) + jobs_budget[b], modes[i], in);
            assert_int_equal(batch_cli(args), 0);
            assert_int_equal(lpt_run(check, json, modes[i], b ? 4 : 0), 0);
        }
    }
}

/* Runs `leanpix batch --max-mem 300M ARGS` on a pty (util-linux `script`), its output in
 * cli_out; false when `script` is missing. */
static bool run_batch_on_tty(const char *args)
{
    if (!lpt_have_tool("script")) {
        fprintf(stderr, "SKIP: util-linux script is not installed: no pty for the TTY case\n");
        return false;
    }
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "'%s' batch --max-mem 300M %s", lpt_bin(), args);
    char quoted[9000];
    size_t n = 0;
    for (const char *c = cmd; *c && n + 5 < sizeof quoted; c++) {
        if (*c == '"' || *c == '\\' || *c == '$' || *c == '`')
            quoted[n++] = '\\';
        quoted[n++] = *c;
    }
    quoted[n] = '\0';
    lpt_run_capture(cli_out, sizeof cli_out, "script -qec \"%s\" /dev/null", quoted);
    return true;
}

/* Progress: one updating line on a terminal (util-linux `script` gives the batch a pty),
 * nothing when stderr is not a terminal. */
static void test_cli_progress_only_on_tty(void **state)
{
    (void)state;
    const char *in = dir_path("progress-in");
    const char *out = dir_path("progress-out");
    char p[1200];
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/junk%d.jpg", in, i);
        touch(p, "\xff\xd8\xff not really");
    }
    char args[4096];
    snprintf(args, sizeof args, "-o '%s' '%s'", out, in);
    assert_int_equal(lpt_run_capture(cli_out, sizeof cli_out, "'%s' batch %s 2>&1", lpt_bin(), args), 3);
    assert_null(strstr(cli_out, "img/s"));
    assert_null(strstr(cli_out, "\r"));
    if (!run_batch_on_tty(args))
        return;
    assert_non_null(strstr(cli_out, "\r\033[Kleanpix: batch: "));
    /* failures are not counted as converted, nor in the rate (as in the final summary) */
    assert_non_null(strstr(cli_out, "3/3: 0 converted, 3 failed"));
    assert_null(strstr(cli_out, "done, 3 failed"));
    assert_non_null(strstr(cli_out, "0.00 img/s"));
    assert_non_null(strstr(cli_out, "MP/s"));
    assert_non_null(strstr(cli_out, "ETA"));
    assert_non_null(strstr(cli_out, "/300 MiB"));
}

/* The ETA goes by work, not images: once a 12 MP image (a long job: it runs first) is
 * done, 30 images of 64x64 are next to no work, where a rate of images would predict 30
 * times the big one's time (at least 3 s). */
static void test_cli_eta_by_work(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("cjpeg");
    REQUIRE_CONVERT();
    const char *in = dir_path("eta-in");
    make_jpegs(in, "small", 30, 64, 64);
    make_jpegs(in, "zz-big", 1, 4000, 3000);  /* last by name, first to run */
    char args[4096];
    snprintf(args, sizeof args, "--jobs 1 -f jpeg -o '%s' '%s'", dir_path("eta-out"), in);
    if (!run_batch_on_tty(args))
        return;
    const char *line = strstr(cli_out, "batch: 1/31: 1 converted");
    if (!line)
        fail_msg("no progress line after the first job: %s", cli_out);
    const char *end = strchr(line, '\r'), *eta = strstr(line, "ETA 0:00");
    if (!eta || (end && eta > end))
        fail_msg("the ETA after the big image should be 0:00: %.200s", line);
}

static void test_cli_converts_tree(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("cjpeg");
    REQUIRE_CONVERT();
    const char *in = dir_path("tree-in");
    const char *out = dir_path("tree-out");
    char p[1200];
    snprintf(p, sizeof p, "%s/x/y", in);
    assert_int_equal(lpt_run("mkdir -p '%s'", p), 0);
    const char *names[] = {"one.jpg", "x/two.jpg", "x/y/three.jpg"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", in, names[i]);
        make_jpeg(p, 120 + 8 * i, 90, 20 + i, "");
    }
    char args[4096];
    snprintf(args, sizeof args, "-o '%s' --jobs 2 --max-mem 128M '%s'", out, in);
    assert_int_equal(batch_cli(args), 0);
    const char *outs[] = {"one.avif", "x/two.avif", "x/y/three.avif"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", out, outs[i]);
        assert_true(lp_batch_output_complete(p, LP_FILE_AVIF));
        if (lpt_have_tool("avifdec")) {
            lp_buffer_image img;
            assert_true(lpt_decode_external("avifdec", p, &img));
            assert_int_equal(img.info.width, 120 + 8 * i);
            lp_buffer_image_free(&img);
        }
    }
    /* resume: nothing to do, the outputs are untouched */
    snprintf(args, sizeof args, "-o '%s' --resume --json '%s' '%s'", out, lpt_path("resume.json"), in);
    assert_int_equal(batch_cli(args), 0);
    size_t size;
    char *json = (char *)lpt_read_file(lpt_path("resume.json"), &size);
    json = realloc(json, size + 1);
    json[size] = '\0';
    assert_non_null(strstr(json, "\"skipped\": 3"));
    free(json);

    /* OUTDIR inside the input tree, JPEG out, run twice: earlier outputs are not inputs */
    char nested[1100];
    snprintf(nested, sizeof nested, "%s/jpeg-out", in);
    snprintf(args, sizeof args, "-o '%s' --format jpeg '%s'", nested, in);
    assert_int_equal(batch_cli(args), 0);
    assert_int_equal(batch_cli(args), 0);
    snprintf(p, sizeof p, "%s/one.jpg", nested);
    assert_true(lp_batch_output_complete(p, LP_FILE_JPEG));
    snprintf(p, sizeof p, "%s/jpeg-out", nested);
    assert_false(lpt_file_exists(p));
    assert_int_equal(lpt_run("rm -rf '%s'", nested), 0);

    /* two shards together write everything once */
    const char *sh = dir_path("shard-out");
    for (int s = 0; s < 2; s++) {
        snprintf(args, sizeof args, "-o '%s' --shard %d/2 '%s'", sh, s, in);
        assert_int_equal(batch_cli(args), 0);
    }
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", sh, outs[i]);
        assert_true(lp_batch_output_complete(p, LP_FILE_AVIF));
    }
}

/* The "skipped" count of a --resume run over in into out (its --json summary). */
static int resume_skips(const char *out, const char *in)
{
    char args[4096];
    const char *report = lpt_path("nightly.json");
    snprintf(args, sizeof args, "-o '%s' --resume --json '%s' '%s'", out, report, in);
    assert_int_equal(batch_cli(args), 0);
    size_t size;
    char *json = (char *)lpt_read_file(report, &size);
    json = realloc(json, size + 1);
    json[size] = '\0';
    const char *at = strstr(json, "\"skipped\": ");
    assert_non_null(at);
    int skipped = atoi(at + strlen("\"skipped\": "));
    free(json);
    return skipped;
}

static void set_mtime(const char *path, time_t when)
{
    struct timespec times[2] = {{.tv_sec = when}, {.tv_sec = when}};
    assert_int_equal(utimensat(AT_FDCWD, path, times, 0), 0);
}

static time_t mtime_of(const char *path)
{
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    return sb.st_mtim.tv_sec;
}

/* A batch run every night with --resume: an input edited since its output was written is
 * made again, and one dated ahead of the clock is made once, not every night. */
static void test_cli_resume_redoes_edited_inputs(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("cjpeg");
    REQUIRE_CONVERT();
    const char *in = dir_path("nightly-in");
    const char *out = dir_path("nightly-out");
    char src[3][1200], dst[3][1200];
    for (int i = 0; i < 3; i++) {
        snprintf(src[i], sizeof src[i], "%s/n%d.jpg", in, i);
        snprintf(dst[i], sizeof dst[i], "%s/n%d.avif", out, i);
        make_jpeg(src[i], 96, 64, 70 + (uint32_t)i, "");
    }
    time_t now = time(NULL);
    assert_int_equal(resume_skips(out, in), 0);
    assert_int_equal(resume_skips(out, in), 3);

    /* n1 edited after its output was written (dated an hour on, as a later edit would be) */
    set_mtime(dst[1], now - 7200);
    set_mtime(src[1], now - 3600);
    assert_int_equal(resume_skips(out, in), 2);
    assert_true(mtime_of(dst[1]) >= now - 60);
    assert_true(lp_batch_output_complete(dst[1], LP_FILE_AVIF));
    assert_int_equal(resume_skips(out, in), 3);

    /* n2 dated a day ahead (a camera's clock): made once, its output takes that date */
    set_mtime(src[2], now + 86400);
    assert_int_equal(resume_skips(out, in), 2);
    assert_int_equal(mtime_of(dst[2]), now + 86400);
    assert_int_equal(resume_skips(out, in), 3);

    /* the library's own view */
    assert_true(lp_batch_output_up_to_date(dst[0], src[0], LP_FILE_AVIF));
    assert_false(lp_batch_output_up_to_date(dst[0], src[0], LP_FILE_JPEG));
    set_mtime(src[0], now - 100);
    set_mtime(dst[0], now - 102);  /* FAT's 2 s step: still current */
    assert_true(lp_batch_output_up_to_date(dst[0], src[0], LP_FILE_AVIF));
    set_mtime(dst[0], now - 103);
    assert_false(lp_batch_output_up_to_date(dst[0], src[0], LP_FILE_AVIF));
    assert_false(lp_batch_output_up_to_date(dst[0], "/nonexistent/n0.jpg", LP_FILE_AVIF));
}

/* Two batches on the same outputs (a nightly run while the last still works): the second
 * is refused, naming the first's pid; a shard beside another shard runs; the claim goes
 * with the process that held it. The test process holds the claim, as the first batch. */
static void test_cli_second_batch_is_refused(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("cjpeg");
    REQUIRE_CONVERT();
    const char *in = dir_path("claim-in");
    const char *out = dir_path("claim-out");
    char p[1200];
    for (int i = 0; i < 2; i++) {
        snprintf(p, sizeof p, "%s/c%d.jpg", in, i);
        make_jpeg(p, 64, 48, 90 + (uint32_t)i, "");
    }
    int claim;
    long holder;
    lp_error err = {0};
    assert_int_equal(lp_batch_claim_dir(out, 0, 2, &claim, &holder, &err), LP_OK);
    assert_true(claim >= 0);
    char pid[64], args[4096];
    snprintf(pid, sizeof pid, "(pid %ld); this one stops", (long)getpid());

    snprintf(args, sizeof args, "-o '%s' '%s'", out, in);  /* the whole batch */
    assert_int_equal(batch_cli(args), 1);
    assert_non_null(strstr(cli_out, pid));
    assert_non_null(strstr(cli_out, "another leanpix batch is writing these outputs"));
    snprintf(args, sizeof args, "-o '%s' --shard 0/2 '%s'", out, in);
    assert_int_equal(batch_cli(args), 1);
    assert_non_null(strstr(cli_out, "the outputs of shard 0/2"));
    /* shards of another count share inputs with 0/2 (1/3 takes c1... and c3: dealt
     * round-robin, 0/2 takes c0, c2...): refused, whichever they are */
    snprintf(args, sizeof args, "-o '%s' --shard 1/3 '%s'", out, in);
    assert_int_equal(batch_cli(args), 1);
    assert_non_null(strstr(cli_out, "the outputs of shards of 2 (--shard I/2)"));
    assert_non_null(strstr(cli_out, pid));
    snprintf(p, sizeof p, "%s/c0.avif", out);
    assert_false(lpt_file_exists(p));
    snprintf(p, sizeof p, "%s/c1.avif", out);
    assert_false(lpt_file_exists(p));

    snprintf(args, sizeof args, "-o '%s' --shard 1/2 '%s'", out, in);  /* another shard */
    assert_int_equal(batch_cli(args), 0);
    assert_int_equal(lpt_count_files(out, "c"), 1);

    close(claim);  /* the first batch ends */
    snprintf(args, sizeof args, "-o '%s' --resume '%s'", out, in);
    assert_int_equal(batch_cli(args), 0);
    assert_int_equal(lpt_count_files(out, "c"), 2);
}

static void test_cli_kill9_and_resume(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("cjpeg");
    REQUIRE_CONVERT();
    const char *in = dir_path("kill-in");
    const char *out = dir_path("kill-out");
    char p[1200];
    enum { N = 12 };
    for (int i = 0; i < N; i++) {
        snprintf(p, sizeof p, "%s/img%02d.jpg", in, i);
        make_jpeg(p, 320, 240, 40 + (uint32_t)i, "");
    }
    /* kill it as soon as the first output appears, mid-way through the others */
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "'%s' batch --no-progress --jobs 2 -o '%s' '%s' >/dev/null 2>&1 & pid=$!; "
             "while ! ls '%s' | grep -q avif; do sleep 0.01; kill -0 $pid 2>/dev/null || break; done; "
             "kill -9 $pid 2>/dev/null; wait $pid; true",
             lpt_bin(), out, in, out);
    assert_int_equal(lpt_run("%s", cmd), 0);
    /* whatever is under an output's name is complete */
    int complete = 0;
    for (int i = 0; i < N; i++) {
        snprintf(p, sizeof p, "%s/img%02d.avif", out, i);
        if (lpt_file_exists(p)) {
            assert_true(lp_batch_output_complete(p, LP_FILE_AVIF));
            complete++;
        }
    }
    fprintf(stderr, "killed with %d of %d outputs done, %d temp files left\n", complete, N,
            lpt_count_files(out, "."));
    char args[4096];
    snprintf(args, sizeof args, "-o '%s' --resume '%s'", out, in);
    assert_int_equal(batch_cli(args), 0);
    assert_int_equal(lpt_count_files(out, ".img"), 0);  /* stale temps gone */
    for (int i = 0; i < N; i++) {
        snprintf(p, sizeof p, "%s/img%02d.avif", out, i);
        assert_true(lp_batch_output_complete(p, LP_FILE_AVIF));
        if (lpt_have_tool("avifdec")) {
            lp_buffer_image img;
            assert_true(lpt_decode_external("avifdec", p, &img));
            assert_int_equal(img.info.width, 320);
            lp_buffer_image_free(&img);
        }
    }
}

/* SIGTERM (a pod being stopped): running jobs are cancelled, their temp files removed,
 * exit 1 with advice; --resume finishes. */
static void test_cli_sigterm_then_resume(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("cjpeg");
    REQUIRE_CONVERT();
    const char *in = dir_path("term-in");
    const char *out = dir_path("term-out");
    char p[1200];
    enum { N = 8 };
    for (int i = 0; i < N; i++) {
        snprintf(p, sizeof p, "%s/img%02d.jpg", in, i);
        make_jpeg(p, 640, 480, 80 + (uint32_t)i, "");
    }
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "'%s' batch --no-progress --jobs 1 -o '%s' '%s' 2>'%s' & pid=$!; "
             "while ! ls '%s' | grep -q avif; do sleep 0.01; kill -0 $pid 2>/dev/null || break; done; "
             "kill -TERM $pid 2>/dev/null; wait $pid",
             lpt_bin(), out, in, lpt_path("term.err"), out);
    int rc = lpt_run("%s", cmd);
    size_t size;
    char *err = (char *)lpt_read_file(lpt_path("term.err"), &size);
    assert_non_null(err);
    err = realloc(err, size + 1);
    err[size] = '\0';
    int done = 0;
    for (int i = 0; i < N; i++) {
        snprintf(p, sizeof p, "%s/img%02d.avif", out, i);
        if (lpt_file_exists(p)) {
            assert_true(lp_batch_output_complete(p, LP_FILE_AVIF));
            done++;
        }
    }
    fprintf(stderr, "SIGTERM after %d of %d: exit %d\n", done, N, rc);
    if (done < N) {  /* the signal came before the end: it must have been handled */
        assert_int_equal(rc, 1);
        assert_non_null(strstr(err, "interrupted by signal 15"));
        assert_non_null(strstr(err, "--resume"));
        assert_null(strstr(err, "cancel"));  /* cancelled jobs are not reported as failures */
    }
    free(err);
    assert_int_equal(lpt_count_files(out, ".img"), 0);  /* no temp file left */
    char args[4096];
    snprintf(args, sizeof args, "-o '%s' --resume '%s'", out, in);
    assert_int_equal(batch_cli(args), 0);
    for (int i = 0; i < N; i++) {
        snprintf(p, sizeof p, "%s/img%02d.avif", out, i);
        assert_true(lp_batch_output_complete(p, LP_FILE_AVIF));
    }
}

static void test_cli_enospc(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("cjpeg");
    REQUIRE_CONVERT();
    const char *in = dir_path("nospace-in");
    char p[1200];
    for (int i = 0; i < 6; i++) {
        snprintf(p, sizeof p, "%s/img%d.jpg", in, i);
        make_jpeg(p, 256, 256, 60 + (uint32_t)i, "");
    }
    const char *mnt = dir_path("nospace-mnt");
    if (mount("tmpfs", mnt, "tmpfs", 0, "size=8k") != 0) {
        fprintf(stderr, "SKIP: cannot mount a small tmpfs here (not root or no CAP_SYS_ADMIN)\n");
        skip();
    }
    char args[4096];
    snprintf(args, sizeof args, "-o '%s' --jobs 1 --format png '%s'", mnt, in);
    int rc = batch_cli(args);
    int temps = lpt_count_files(mnt, ".img");
    umount(mnt);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(cli_out, "No space left on device"));
    assert_non_null(strstr(cli_out, "--resume"));
    assert_int_equal(temps, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_walk_directory_keeps_relative_paths),
        cmocka_unit_test(test_walk_files_and_list),
        cmocka_unit_test(test_shards_are_disjoint_and_cover),
        cmocka_unit_test(test_probe_headers),
        cmocka_unit_test(test_model),
        cmocka_unit_test(test_scheduler_keeps_budget),
        cmocka_unit_test(test_scheduler_lanes),
        cmocka_unit_test(test_scheduler_lanes_lend_within_lanes),
        cmocka_unit_test(test_cli_lanes),
        cmocka_unit_test(test_scheduler_without_budget_and_stop),
        cmocka_unit_test(test_scheduler_retries_nomem_alone),
        cmocka_unit_test(test_scheduler_longest_first),
        cmocka_unit_test(test_scheduler_lends_idle_cpus),
        cmocka_unit_test(test_batch_lends_cpus_to_a_grid_job),
        cmocka_unit_test(test_scheduler_backfills_without_starving),
        cmocka_unit_test(test_heap_in_use_follows_live_blocks),
        cmocka_unit_test(test_rss_back_after_outlier),
        cmocka_unit_test(test_output_complete),
        cmocka_unit_test(test_stale_temps),
        cmocka_unit_test(test_json_report),
        cmocka_unit_test(test_cli_usage_and_outdir),
        cmocka_unit_test(test_cli_bad_image_goes_on),
        cmocka_unit_test(test_cli_progress_only_on_tty),
        cmocka_unit_test(test_cli_eta_by_work),
        cmocka_unit_test(test_cli_converts_tree),
        cmocka_unit_test(test_cli_resume_redoes_edited_inputs),
        cmocka_unit_test(test_cli_second_batch_is_refused),
        cmocka_unit_test(test_cli_kill9_and_resume),
        cmocka_unit_test(test_cli_sigterm_then_resume),
        cmocka_unit_test(test_cli_enospc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
