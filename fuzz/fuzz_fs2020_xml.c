/*
 * fuzz_fs2020_xml.c - an upload to /api/fs2020 as the server's worker handles it:
 * mrc_fs2020_parse (expat: FS2020 control profiles, XML with or without a root),
 * then mrc_build_cards, on the built-in demo data set.
 *
 * Input: one or more files separated by "\n--LPFILE--\n" (at most 8, as if uploaded in
 * one request).
 */
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lp_fuzz_bindings(data, size, "fs2020");
    return 0;
}
