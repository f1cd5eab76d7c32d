/*
 * fuzz_metadata.c - EXIF, ICC and XMP blocks from hostile files, through what leanpix does
 * with them: the EXIF orientation read and its reset (src/core/exif.c, libexif), then
 * carrying all three into an output (JPEG APP1/APP2 segments, PNG iCCP/eXIf/iTXt, WebP
 * mux chunks, AVIF items) on a tiny image, and for JPEG and PNG reading the result back
 * with the sources' metadata parsers.
 *
 * Input: byte 0 = output format (bits 0-1: JPEG, PNG, WebP, AVIF), orientation (bits 2-5,
 * taken mod 9; 0 = the orientation read from the EXIF), strip_metadata (bit 6); the rest
 * is EXIF "LPMETA" ICC "LPMETA" XMP (missing pieces are empty).
 */
#include "fuzz_util.h"

#include "leanpix/codec.h"
#include "leanpix/pipeline.h"

#include <stdlib.h>

static const lp_file_format formats[4] = {LP_FILE_JPEG, LP_FILE_PNG, LP_FILE_WEBP, LP_FILE_AVIF};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t pick = data[0];
    const uint8_t *piece[3] = {NULL, NULL, NULL};
    size_t piece_size[3] = {0, 0, 0};
    lp_fuzz_split(data + 1, size - 1, "LPMETA", piece, piece_size, 3);

    int orientation = lp_exif_orientation(piece[0], piece_size[0]);
    size_t reset_size = 0;
    free(lp_exif_reset_orientation(piece[0], piece_size[0], &reset_size));

    lp_error err = {0};
    lp_mem *mem = lp_mem_new(LP_FUZZ_MEM_BUDGET, NULL);
    lp_buffer_image img = {0};
    lp_stage *src = NULL;
    lp_sink *sink = NULL;
    lp_output *out = NULL;
    lp_status st = lp_buffer_image_alloc(&img, 8, 8, LP_FORMAT_RGB8, mem, &err);
    if (st == LP_OK) {
        for (size_t i = 0; i < img.stride * 8; i++)
            img.pixels[i] = (uint8_t)(i * 7);
        img.info.meta.exif = piece[0];
        img.info.meta.exif_size = piece_size[0];
        img.info.meta.icc = piece[1];
        img.info.meta.icc_size = piece_size[1];
        img.info.meta.xmp = piece[2];
        img.info.meta.xmp_size = piece_size[2];
        int wanted = ((pick >> 2) & 15) % 9;
        img.info.meta.orientation = wanted ? wanted : orientation;
        st = lp_buffer_source_new(&src, &img, 0, &err);
    }
    lp_encode_options opts;
    lp_encode_options_default(&opts, formats[pick & 3]);
    opts.strip_metadata = (pick >> 6) & 1;
    opts.speed = 10;  /* AVIF: the fastest libaom preset; the metadata path is the same */
    if (st == LP_OK)
        st = lp_output_open_memory(&out, mem, &err);
    if (st == LP_OK)
        st = lp_sink_new(&sink, out, &opts, mem, &err);
    if (st == LP_OK)
        st = lp_pipeline_run(src, sink, NULL, NULL, &err);
    lp_sink_destroy(sink);
    lp_stage_destroy(src);
    if (st == LP_OK && (formats[pick & 3] == LP_FILE_JPEG || formats[pick & 3] == LP_FILE_PNG)) {
        size_t len = 0;
        const uint8_t *encoded = lp_output_data(out, &len);
        lp_fuzz_decode(encoded, len, LP_FILE_UNKNOWN, 1);
    }
    lp_output_close(out);
    lp_buffer_image_free(&img);
    lp_mem_free_tracker(mem);
    return 0;
}
