/*
 * source.c - opening the right decoder for an input by its magic bytes, not its name.
 */
#include "leanpix/codec.h"

lp_status lp_source_open(lp_stage **out, lp_input *in, const lp_limits *limits, lp_mem *mem,
                         lp_error *err)
{
    *out = NULL;
    uint8_t head[16];
    size_t got;
    lp_status st = lp_input_peek(in, head, sizeof head, &got, err);
    if (st != LP_OK) {
        lp_input_close(in);
        return st;
    }
    if (got == 0) {
        lp_input_close(in);
        return lp_error_set(err, LP_ERR_TRUNCATED, "file is empty");
    }
    switch (lp_file_format_sniff(head, got)) {
    case LP_FILE_JPEG:
        return lp_jpeg_source_new(out, in, limits, mem, err);
    case LP_FILE_PNG:
        return lp_png_source_new(out, in, limits, mem, err);
    case LP_FILE_WEBP:
    case LP_FILE_AVIF:
        lp_input_close(in);
        return lp_error_set(err, LP_ERR_UNSUPPORTED, "WebP and AVIF input is not supported (JPEG and PNG are)");
    default:
        lp_input_close(in);
        return lp_error_set(err, LP_ERR_UNSUPPORTED, "not a JPEG or PNG file");
    }
}
