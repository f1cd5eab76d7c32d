/*
 * test_core.c - the core pieces: errors, counted memory and budgets, formats, limits,
 * atomic outputs, inputs in both I/O modes, the buffer source/sink round trip.
 */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void test_error_first_cause_wins(void **state)
{
    (void)state;
    lp_error err = {0};
    assert_int_equal(lp_error_set(&err, LP_ERR_TRUNCATED, "premature end at row %d", 5), LP_ERR_TRUNCATED);
    lp_error_set(&err, LP_ERR_CODEC, "generic");
    assert_int_equal(err.status, LP_ERR_TRUNCATED);
    assert_string_equal(lp_error_message(&err), "premature end at row 5");
    lp_error_clear(&err);
    lp_error_set(&err, LP_ERR_IO, "line one\nline two");
    assert_string_equal(err.message, "line one");
    assert_string_equal(lp_strerror(LP_ERR_LIMITS), "image exceeds limits");
    assert_string_equal(lp_strerror((lp_status)999), "unknown error");
}

static void test_mem_counts_and_refuses_over_budget(void **state)
{
    (void)state;
    lp_mem *parent = lp_mem_new(1000, NULL);
    lp_mem *job = lp_mem_new(0, parent);
    lp_error err = {0};
    void *a = lp_mem_alloc(job, 600, "a", &err);
    assert_non_null(a);
    assert_int_equal(lp_mem_current(job), 600);
    assert_int_equal(lp_mem_current(parent), 600);
    void *b = lp_mem_alloc(job, 600, "b", &err);
    assert_null(b);
    assert_int_equal(err.status, LP_ERR_NOMEM);
    assert_non_null(strstr(err.message, "budget"));
    assert_int_equal(lp_mem_current(job), 600);  /* a refusal leaves nothing charged */
    assert_int_equal(lp_mem_current(parent), 600);
    a = lp_mem_realloc(job, a, 900, "a", &err);
    assert_non_null(a);
    assert_int_equal(lp_mem_current(parent), 900);
    a = lp_mem_realloc(job, a, 100, "a", &err);
    assert_int_equal(lp_mem_current(job), 100);
    lp_mem_release(job, a);
    assert_int_equal(lp_mem_current(job), 0);
    assert_int_equal(lp_mem_peak(job), 900);
    assert_int_equal(lp_mem_reserve(job, 2000, "codec", NULL), LP_ERR_NOMEM);
    lp_mem_free_tracker(job);
    lp_mem_free_tracker(parent);
}

static void test_parse_size(void **state)
{
    (void)state;
    uint64_t v;
    assert_int_equal(lp_parse_size("256M", &v, NULL), LP_OK);
    assert_int_equal(v, 256ull << 20);
    assert_int_equal(lp_parse_size("1.5GiB", &v, NULL), LP_OK);
    assert_int_equal(v, 3ull << 29);
    assert_int_equal(lp_parse_size("4096", &v, NULL), LP_OK);
    assert_int_equal(v, 4096);
    assert_int_equal(lp_parse_size("12Q", &v, NULL), LP_ERR_INVALID_ARG);
    assert_int_equal(lp_parse_size("-1M", &v, NULL), LP_ERR_INVALID_ARG);
    /* strtod reads these too: NaN passed both comparisons, and its conversion (undefined)
     * made `--max-mem nan` an 8 EiB budget */
    assert_int_equal(lp_parse_size("nan", &v, NULL), LP_ERR_INVALID_ARG);
    assert_int_equal(lp_parse_size("NANM", &v, NULL), LP_ERR_INVALID_ARG);
    assert_int_equal(lp_parse_size("inf", &v, NULL), LP_ERR_INVALID_ARG);
    assert_int_equal(lp_parse_size("20E", &v, NULL), LP_ERR_INVALID_ARG);
    assert_int_equal(lp_parse_size("1e30", &v, NULL), LP_ERR_INVALID_ARG);
}

static void test_formats_and_sniffing(void **state)
{
    (void)state;
    assert_int_equal(lp_format_pixel_bytes(LP_FORMAT_RGBA16), 8);
    assert_int_equal(lp_format_make(true, true, false), LP_FORMAT_GA8);
    assert_int_equal(lp_file_format_from_path("a/b.c/photo.JPG"), LP_FILE_JPEG);
    assert_int_equal(lp_file_format_from_path("a.d/photo"), LP_FILE_UNKNOWN);
    const uint8_t png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    assert_int_equal(lp_file_format_sniff(png, 8), LP_FILE_PNG);
    const uint8_t jpg[3] = {0xFF, 0xD8, 0xFF};
    assert_int_equal(lp_file_format_sniff(jpg, 3), LP_FILE_JPEG);
}

static void test_limits(void **state)
{
    (void)state;
    lp_limits lim;
    lp_limits_default(&lim);
    lp_error err = {0};
    assert_int_equal(lp_limits_check(&lim, 100000, 100000, &err), LP_ERR_LIMITS);
    assert_non_null(strstr(err.message, "100000"));
    assert_int_equal(lp_limits_check(&lim, 16383, 16383, NULL), LP_OK);
    assert_int_equal(lp_limits_check(&lim, 16384, 16384, NULL), LP_ERR_LIMITS);
    assert_int_equal(lp_limits_check(&lim, 0, 5, NULL), LP_ERR_CORRUPT);
}

static void test_output_is_atomic(void **state)
{
    (void)state;
    const char *path = lpt_path("atomic.bin");
    unlink(path);
    lp_output *o;
    assert_int_equal(lp_output_open_file(&o, path, NULL), LP_OK);
    assert_int_equal(lp_output_write(o, "hello", 5, NULL), LP_OK);
    assert_false(lpt_file_exists(path));
    assert_int_equal(lpt_count_files(lpt_tmpdir(), ".atomic.bin.lp-"), 1);
    lp_output_close(o);  /* never committed: nothing stays */
    assert_false(lpt_file_exists(path));
    assert_int_equal(lpt_count_files(lpt_tmpdir(), ".atomic.bin.lp-"), 0);
    assert_int_equal(lp_write_file_atomic(path, "hello", 5, NULL), LP_OK);
    assert_int_equal(lpt_file_size(path), 5);
    lp_error err = {0};
    assert_int_equal(lp_output_open_file(&o, "/nonexistent-dir/x.jpg", &err), LP_ERR_IO);
    assert_non_null(strstr(err.message, "No such file"));
}

static void read_all_modes(lp_io_mode mode)
{
    const char *path = lpt_path("input.bin");
    size_t n = 3 * LP_INPUT_CHUNK + 123;
    uint8_t *data = malloc(n);
    for (size_t i = 0; i < n; i++)
        data[i] = (uint8_t)(i * 7 + i / 251);
    lpt_write_file(path, data, n);
    lp_input *in;
    assert_int_equal(lp_input_open_file(&in, path, mode, 0, NULL), LP_OK);
    assert_int_equal(lp_input_size(in), n);
    uint8_t head[4];
    size_t got;
    assert_int_equal(lp_input_peek(in, head, 4, &got, NULL), LP_OK);
    assert_memory_equal(head, data, 4);
    size_t pos = 0;
    uint8_t small[1000];
    assert_int_equal(lp_input_read(in, small, sizeof small, &got, NULL), LP_OK);
    assert_memory_equal(small, data, got);
    pos += got;
    for (;;) {
        const uint8_t *chunk;
        size_t len;
        assert_int_equal(lp_input_next_chunk(in, &chunk, &len, NULL), LP_OK);
        if (!len)
            break;
        assert_memory_equal(chunk, data + pos, len);
        pos += len;
    }
    assert_int_equal(pos, n);
    lp_input_close(in);
    lp_error err = {0};
    assert_int_equal(lp_input_open_file(&in, path, mode, 100, &err), LP_ERR_LIMITS);
    free(data);
}

static void test_input_read_mode(void **state) { (void)state; read_all_modes(LP_IO_READ); }
static void test_input_mmap_mode(void **state) { (void)state; read_all_modes(LP_IO_MMAP); }

static void test_buffer_round_trip(void **state)
{
    (void)state;
    lp_buffer_image src, dst;
    lpt_make_photo(&src, 37, 23, LP_FORMAT_RGB8, 3);
    lp_stage *stage;
    assert_int_equal(lp_buffer_source_new(&stage, &src, 5, NULL), LP_OK);
    lp_mem *mem = lp_mem_new(0, NULL);
    assert_int_equal(lp_pipeline_to_buffer(stage, &dst, mem, NULL), LP_OK);
    assert_int_equal(lp_mem_current(mem), 37 * 23 * 3);
    assert_memory_equal(src.pixels, dst.pixels, 37 * 23 * 3);
    assert_true(lpt_psnr(&src, &dst) > 98);
    lp_stage_destroy(stage);
    lp_buffer_image_free(&dst);
    assert_int_equal(lp_mem_current(mem), 0);
    lp_mem_free_tracker(mem);
    lp_buffer_image_free(&src);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_first_cause_wins),
        cmocka_unit_test(test_mem_counts_and_refuses_over_budget),
        cmocka_unit_test(test_parse_size),
        cmocka_unit_test(test_formats_and_sniffing),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_output_is_atomic),
        cmocka_unit_test(test_input_read_mode),
        cmocka_unit_test(test_input_mmap_mode),
        cmocka_unit_test(test_buffer_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
