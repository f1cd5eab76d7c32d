/*
 * fuzz_heif_source.c - the HEIF source (src/codec/heif_load.c) as `leanpix convert` drives
 * it: the container read through lp_input_read_at (ftyp, meta, items, properties), the
 * limits checked from the primary item's size, ICC/EXIF/XMP, the decode reservation from
 * our own meta reader (src/codec/heif_boxes.c), then the decode and every strip.
 *
 * Input: byte 0 picks the shrink (low 3 bits, as fuzz_png_source.c; the source declines
 * it: factor 1); the rest is the file.
 */
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned pick = data[0] & 7u;
    lp_fuzz_decode(data + 1, size - 1, LP_FILE_HEIF, pick ? pick + 1 : 1);
    return 0;
}
