/*
 * test_plan.c - the one planner (lp_plan_job): the batch's prediction is the plan that
 * convert then runs, and the planner names no format (the registry answers).
 *
 * For each input (baseline and progressive JPEG, a JPEG whose EXIF says "rotate 90", PNG)
 * and each set of options (every writable format; resized; AVIF under a budget that
 * forces its leanest mode, with two jobs sharing it; autorotate), the test plans the job
 * as `batch` does (lp_probe_file + lp_plan_job with the batch's budget and jobs), then runs
 * lp_convert_file with the options the plan returned and the job budget, as `batch` does,
 * and checks that the plan convert made and ran is the same: sizes, shrink-on-load,
 * rotation, frame or grid, cells, threads, predicted peak. It also checks that the job's
 * counted peak stayed within that prediction.
 */
#include "testutil.h"
#include "formats/format.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A minimal big-endian EXIF block whose IFD0 has one entry: Orientation (0x0112) = 6. */
static const uint8_t exif_rotate90[] = {
    'M', 'M', 0, 42, 0, 0, 0, 8,        /* TIFF header, IFD0 at 8 */
    0, 1,                               /* one entry */
    0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0,  /* Orientation, SHORT, 1, value 6 */
    0, 0, 0, 0,                         /* no next IFD */
};

static void write_image(const char *path, lp_file_format format, uint32_t w, uint32_t h,
                        bool progressive, bool rotated)
{
    lp_buffer_image img;
    lpt_make_photo(&img, w, h, LP_FORMAT_RGB8, 7);
    if (rotated) {
        img.info.meta.exif = exif_rotate90;
        img.info.meta.exif_size = sizeof exif_rotate90;
        img.info.meta.orientation = 6;
    }
    lp_encode_options o;
    lp_encode_options_default(&o, format);
    o.progressive = progressive;
    lp_stage *src;
    lp_sink *sink;
    lp_output *out;
    assert_int_equal(lp_buffer_source_new(&src, &img, 0, NULL), LP_OK);
    assert_int_equal(lp_output_open_file(&out, path, NULL), LP_OK);
    assert_int_equal(lp_sink_new(&sink, out, &o, NULL, NULL), LP_OK);
    assert_int_equal(lp_pipeline_run(src, sink, NULL, NULL, NULL), LP_OK);
    assert_int_equal(lp_output_commit(out, NULL), LP_OK);
    lp_sink_destroy(sink);
    lp_output_close(out);
    lp_stage_destroy(src);
    lp_buffer_image_free(&img);
}

static void assert_same_plan(const lp_plan *a, const lp_plan *b)
{
    assert_int_equal(a->out_width, b->out_width);
    assert_int_equal(a->out_height, b->out_height);
    assert_int_equal(a->decode_width, b->decode_width);
    assert_int_equal(a->decode_height, b->decode_height);
    assert_int_equal(a->shrink, b->shrink);
    assert_int_equal(a->orient, b->orient);
    assert_int_equal(a->out_format, b->out_format);
    assert_int_equal(a->grid, b->grid);
    assert_int_equal(a->cell_width, b->cell_width);
    assert_int_equal(a->cell_height, b->cell_height);
    assert_int_equal(a->threads, b->threads);
    assert_int_equal(a->predicted_peak, b->predicted_peak);
}

typedef struct job_case {
    const char *what;
    lp_file_format out;
    uint32_t max_dim;
    bool autorotate;
    uint64_t budget;  /* the batch's job budget; 0 = none */
    unsigned jobs;
    bool expect_lean;
    bool strip;
} job_case;

/* Plans as the batch does, runs as the batch does, compares. */
static void check_case(const char *input, const job_case *c)
{
    lp_convert_options opts;
    lp_convert_options_default(&opts);
    opts.encode.format = c->out;
    opts.encode.threads = 0;  /* the batch leaves threads to the planner */
    opts.encode.speed = 9;
    opts.max_dim = c->max_dim;
    opts.autorotate = c->autorotate;
    opts.encode.strip_metadata = c->strip;
    lp_probe probe;
    lp_plan planned;
    lp_convert_options run;
    lp_error err = {0};
    assert_int_equal(lp_probe_file(input, &probe, &err), LP_OK);
    assert_int_equal(lp_plan_job(&probe, &opts, c->budget, c->jobs, &planned, &run, &err), LP_OK);
    if (c->expect_lean)
        assert_true(planned.lean && planned.grid);
    /* an output that loses its orientation tag gets turned pixels instead */
    if ((c->autorotate || c->strip) && probe.orientation > 1 && c->out != LP_FILE_AVIF)
        assert_true(planned.orient);
    run.max_mem = c->budget;
    if (run.encode.threads == 0)
        run.encode.threads = 1;  /* what the batch's job gets when the plan left it */
    char out[256];
    snprintf(out, sizeof out, "%s.%s", input, lp_file_format_extension(c->out));
    lp_convert_stats stats;
    lp_status st = lp_convert_file(input, lpt_path(strrchr(out, '/') + 1), &run, &stats, &err);
    fprintf(stderr, "plan %-28s %-10s -> %ux%u shrink %u %s%s cells %ux%u threads %u predicted "
            "%.1f MiB, counted %.1f MiB\n", c->what, strrchr(input, '/') + 1, planned.out_width,
            planned.out_height, planned.shrink, planned.grid ? "grid" : "frame",
            planned.orient ? " rotated" : "", planned.cell_width, planned.cell_height,
            planned.threads, planned.predicted_peak / 1048576.0, stats.mem_peak / 1048576.0);
    if (st != LP_OK)
        fprintf(stderr, "  %s\n", lp_error_message(&err));
    assert_int_equal(st, LP_OK);
    assert_same_plan(&planned, &stats.plan);
    assert_true(stats.mem_peak <= planned.predicted_peak);
    assert_int_equal(stats.shrink_on_load, planned.shrink);
    bool turned = planned.orient && probe.orientation >= 5;  /* 5-8 swap the sides */
    assert_int_equal(stats.out_width, turned ? planned.out_height : planned.out_width);
}

static void test_batch_prediction_is_the_plan_convert_runs(void **state)
{
    (void)state;
    const char *inputs[4];
    write_image(inputs[0] = strdup(lpt_path("plan-base.jpg")), LP_FILE_JPEG, 1536, 1024, false, false);
    write_image(inputs[1] = strdup(lpt_path("plan-prog.jpg")), LP_FILE_JPEG, 1536, 1024, true, false);
    write_image(inputs[2] = strdup(lpt_path("plan-rot.jpg")), LP_FILE_JPEG, 1536, 1024, false, true);
    write_image(inputs[3] = strdup(lpt_path("plan-png.png")), LP_FILE_PNG, 1024, 768, false, false);
    lp_probe rot;
    assert_int_equal(lp_probe_file(inputs[2], &rot, NULL), LP_OK);
    assert_int_equal(rot.orientation, 6);  /* the probe reads EXIF, as the decoder does */
    const job_case cases[] = {
        {"avif, as it is", LP_FILE_AVIF, 0, false, 0, 1, false, false},
        {"avif, max-dim 500", LP_FILE_AVIF, 500, false, 0, 1, false, false},
        {"avif, grid in 48 MiB / 2 jobs", LP_FILE_AVIF, 0, false, 48u << 20, 2, false, false},
        {"avif, lean in 32 MiB / 2 jobs", LP_FILE_AVIF, 0, false, 32u << 20, 2, true, false},
        {"jpeg, max-dim 300, autorotate", LP_FILE_JPEG, 300, true, 0, 1, false, false},
        {"webp, strip (turns pixels)", LP_FILE_WEBP, 0, false, 0, 1, false, true},
        {"webp, max-dim 700", LP_FILE_WEBP, 700, false, 0, 1, false, false},
        {"png, as it is", LP_FILE_PNG, 0, false, 256u << 20, 2, false, false},
    };
    for (size_t i = 0; i < 4; i++)
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
            check_case(inputs[i], &cases[c]);
    for (size_t i = 0; i < 4; i++)
        free((void *)inputs[i]);
}

/* Every format the registry lists answers the lookups consistently. */
static void test_registry(void **state)
{
    (void)state;
    size_t n = 0;
    for (const lp_format_desc *d; (d = lp_format_desc_at(n)); n++) {
        assert_non_null(d->name);
        assert_non_null(d->extensions[0]);
        assert_ptr_equal(lp_format_desc_of(d->id), d);
        assert_ptr_equal(lp_format_desc_by_name(d->name), d);
        for (const char *const *e = d->extensions; *e; e++)
            assert_ptr_equal(lp_format_desc_by_name(*e), d);
        assert_string_equal(lp_file_format_name(d->id), d->name);
        assert_int_equal(lp_file_format_readable(d->id), d->source_new != NULL);
        assert_int_equal(lp_file_format_writable(d->id), d->sink_new != NULL);
        /* a readable format can be probed and sniffed; a writable one checked on resume */
        if (d->source_new)
            assert_true(d->sniff && d->probe && d->decode_bytes);
        if (d->sink_new)
            assert_true(d->output_complete && d->encode_bytes);
        assert_int_equal(lp_file_format_at(n), d->id);
    }
    assert_true(n >= 4);
    assert_int_equal(lp_file_format_at(n), LP_FILE_UNKNOWN);
    assert_null(lp_format_desc_by_path("photo.xyz"));
    assert_ptr_equal(lp_format_desc_by_path("dir.jpg/photo.JPEG"), lp_format_desc_of(LP_FILE_JPEG));
    char list[128];
    lp_file_format_list(list, sizeof list, true, ".");
    assert_non_null(strstr(list, ".jpg"));
    assert_non_null(strstr(list, " or ."));
}

/* A format's option checks run at planning, before any file is opened. */
static void test_options_checked_when_planning(void **state)
{
    (void)state;
    lp_probe p = {.format = LP_FILE_JPEG, .width = 640, .height = 480, .components = 3,
                  .bit_depth = 8, .samples_per_pixel = 1.5, .orientation = 1};
    lp_convert_options o, run;
    lp_convert_options_default(&o);
    lp_plan plan;
    lp_error err = {0};
    o.encode.format = LP_FILE_AVIF;
    o.encode.bit_depth = 16;
    assert_int_equal(lp_plan_job(&p, &o, 0, 1, &plan, &run, &err), LP_ERR_INVALID_ARG);
    assert_non_null(strstr(lp_error_message(&err), "AVIF bit depth"));
    o.encode.format = LP_FILE_PNG;
    assert_int_equal(lp_plan_job(&p, &o, 0, 1, &plan, &run, &err), LP_OK);
    o.encode.bit_depth = 10;
    assert_int_equal(lp_plan_job(&p, &o, 0, 1, &plan, &run, &err), LP_ERR_INVALID_ARG);
    o.encode.bit_depth = 0;
    o.encode.format = LP_FILE_UNKNOWN;
    assert_int_not_equal(lp_plan_job(&p, &o, 0, 1, &plan, &run, &err), LP_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry),
        cmocka_unit_test(test_options_checked_when_planning),
        cmocka_unit_test(test_batch_prediction_is_the_plan_convert_runs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
