/*
 * fuzz_tiff_source.c - the TIFF source (tiff_load.c) as `leanpix convert` drives it: header (limits,
 * ICC, XMP, orientation; strips, tiles, every photometric), then every strip; a
 * shrink request is declined (factor 1) as convert would see it.
 *
 * Input: byte 0 picks the shrink (low 3 bits: 0 none, else 1/(n+1) of the size, the way
 * convert asks for a smaller target); the rest is the file.
 */
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned pick = data[0] & 7u;
    lp_fuzz_decode(data + 1, size - 1, LP_FILE_TIFF, pick ? pick + 1 : 1);
    return 0;
}
