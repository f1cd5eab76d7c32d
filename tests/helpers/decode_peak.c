/*
 * decode_peak.c - measures what a source costs: opens FILE with the named source, pulls
 * every strip (discarding them) and prints the growth of the process's peak RSS (VmHWM)
 * over its RSS before opening, beside the bytes the job's lp_mem counted. The HEIF and
 * AVIF sources' memory constants (src/codec/heif_load.c, avif_load.c) were measured
 * with it on 24 MP inputs; docs/formats.md gives the commands and the figures.
 *
 * Usage: decode_peak heif|avif FILE
 */
#include <stdio.h>
#include <string.h>

#include "leanpix/leanpix.h"

int main(int argc, char **argv)
{
    if (argc != 3 || (strcmp(argv[1], "heif") && strcmp(argv[1], "avif"))) {
        fprintf(stderr, "usage: %s heif|avif FILE\n", argv[0]);
        return 2;
    }
    lp_mem *mem = lp_mem_new(0, NULL);
    uint64_t before = lp_process_current_rss();
    lp_input *in;
    lp_stage *src;
    lp_error err = {0};
    lp_status st = lp_input_open_file(&in, argv[2], LP_IO_READ, 0, &err);
    if (st == LP_OK)
        st = (strcmp(argv[1], "heif") ? lp_avif_source_new : lp_heif_source_new)(&src, in, NULL,
                                                                                   mem, &err);
    if (st != LP_OK) {
        fprintf(stderr, "decode_peak: %s: %s\n", argv[2], lp_error_message(&err));
        return 1;
    }
    uint64_t pixels = (uint64_t)src->info.width * src->info.height;
    lp_strip strip;
    do {
        st = lp_stage_next(src, &strip, &err);
    } while (st == LP_OK && strip.rows > 0);
    if (st != LP_OK) {
        fprintf(stderr, "decode_peak: %s: %s\n", argv[2], lp_error_message(&err));
        return 1;
    }
    uint64_t growth = lp_process_peak_rss() - before;
    printf("%s %ux%u %s: VmHWM growth %.1f MB (%.2f bytes/pixel), reserved+counted peak %.1f MB "
           "(%.2f bytes/pixel)\n",
           argv[1], src->info.width, src->info.height, lp_format_name(src->info.format),
           growth / 1e6, (double)growth / pixels, lp_mem_peak(mem) / 1e6,
           (double)lp_mem_peak(mem) / pixels);
    lp_stage_destroy(src);
    lp_mem_free_tracker(mem);
    return 0;
}
