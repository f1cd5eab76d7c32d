/*
 * fuzz_profile_json.c - `leanpix profile report/compare FILE.json`: lp_prof_read_json
 * (Jansson, schema checks, the run's arrays sized from the document) on a file whose bytes
 * are the input (an in-memory file, since the reader takes a path), with a counted budget;
 * then what a report does with the numbers read (the HTML charts and JSON, which take the
 * totals, and CSV, written to /dev/null): a hostile file's values reach every conversion.
 */
#include "fuzz_util.h"

#include "profile/profile.h"

#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    int fd = lp_fuzz_memfile(data, size, path, sizeof path);
    if (fd < 0)
        return 0;
    lp_mem *mem = lp_mem_new(LP_FUZZ_MEM_BUDGET, NULL);
    lp_prof_run *run = NULL;
    lp_error err = {0};
    if (lp_prof_read_json(path, mem, &run, &err) == LP_OK) {
        static FILE *sink;
        if (!sink)
            sink = fopen("/dev/null", "w");
        const lp_prof_run *runs[1] = {run};
        if (sink) {
            lp_prof_write_html(runs, 1, sink, &err);
            lp_prof_write_csv(run, sink, &err);
            lp_prof_write_json(run, sink, &err);
        }
        lp_prof_run_free(run);
    }
    lp_mem_free_tracker(mem);
    close(fd);
    return 0;
}
