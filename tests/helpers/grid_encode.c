/*
 * grid_encode.c - test/bench driver for the AVIF grid sink until `leanpix convert` drives
 * it: reads a PNG (whole, with the test support's reader) or makes a synthetic photo, and
 * writes an AVIF grid. Prints the counted peak and the process peak RSS.
 *
 *   grid_encode IN.png|synth:WxH OUT.avif [cell] [speed] [quality] [threads] [strip_rows]
 */
#include "testutil.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: grid_encode IN.png|synth:WxH OUT.avif [cell] [speed] [quality] [threads] [strip_rows]\n");
        return 2;
    }
    lp_buffer_image img;
    unsigned w, h;
    if (sscanf(argv[1], "synth:%ux%u", &w, &h) == 2) {
        lpt_make_photo(&img, w, h, LP_FORMAT_RGB8, 1);
    } else if (!lpt_read_png(argv[1], &img)) {
        fprintf(stderr, "cannot read %s\n", argv[1]);
        return 1;
    }
    lp_encode_options o;
    lp_encode_options_default(&o, LP_FILE_AVIF);
    o.grid = LP_GRID_FIXED;
    unsigned cell = argc > 3 ? (unsigned)atoi(argv[3]) : 0;
    o.grid_cell_width = o.grid_cell_height = cell;
    o.speed = argc > 4 ? atoi(argv[4]) : 6;
    o.quality = argc > 5 ? atoi(argv[5]) : -1;
    o.threads = argc > 6 ? (unsigned)atoi(argv[6]) : 1;
    unsigned strip = argc > 7 ? (unsigned)atoi(argv[7]) : 16;
    lp_mem *mem = lp_mem_new(0, NULL);
    lp_error err = {0};
    lp_output *out;
    lp_stage *src;
    lp_sink *sink;
    lp_status st = lp_output_open_file(&out, argv[2], &err);
    if (st == LP_OK && (st = lp_buffer_source_new(&src, &img, strip, &err)) == LP_OK) {
        if ((st = lp_avif_grid_sink_new(&sink, out, &o, mem, &err)) == LP_OK) {
            st = lp_pipeline_run(src, sink, NULL, NULL, &err);
            lp_sink_destroy(sink);
        }
        lp_stage_destroy(src);
        if (st == LP_OK)
            st = lp_output_commit(out, &err);
        lp_output_close(out);
    }
    if (st != LP_OK) {
        fprintf(stderr, "grid_encode: %s\n", lp_error_message(&err));
        return 1;
    }
    fprintf(stderr, "counted peak %" PRIu64 " bytes (image buffer %zu), process peak RSS %" PRIu64 "\n",
            lp_mem_peak(mem), img.stride * img.info.height, lp_process_peak_rss());
    lp_buffer_image_free(&img);
    lp_mem_free_tracker(mem);
    return 0;
}
