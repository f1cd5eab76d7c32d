/*
 * fuzz_sws_profile.c - an upload to /api/sws as the server's worker handles it:
 * mrc_sws_parse (SWS .profile key/value lines),
 * then mrc_build_cards, on the built-in demo data set.
 *
 * Input: one or more files separated by "\n--LPFILE--\n" (at most 8, as if uploaded in
 * one request).
 */
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lp_fuzz_bindings(data, size, "sws");
    return 0;
}
