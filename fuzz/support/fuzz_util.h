/*
 * fuzz_util.h - what the harnesses share: a memory file for parsers that only take a
 * path, splitting one input into several files, and the decoder budget.
 */
#ifndef LP_FUZZ_UTIL_H
#define LP_FUZZ_UTIL_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

/* The counted memory a harness gives the decoders: a small container's budget, so that an
 * input which asks for more is refused the way the product refuses it (LP_ERR_NOMEM /
 * LP_ERR_LIMITS) instead of tripping libFuzzer's -rss_limit_mb. */
#define LP_FUZZ_MEM_BUDGET (256ull << 20)

/* Writes data into an anonymous in-memory file (memfd) and returns its descriptor, with
 * its path ("/proc/self/fd/N") in path. The harness closes fd. -1 on failure. */
int lp_fuzz_memfile(const uint8_t *data, size_t size, char *path, size_t path_size);

/* Splits data at each occurrence of sep into at most max pieces (the last piece takes the
 * rest). Returns the count; pieces point into data. */
size_t lp_fuzz_split(const uint8_t *data, size_t size, const char *sep, const uint8_t **piece,
                     size_t *piece_size, size_t max);

#endif

#include "leanpix/image.h"

/* The decoding half of `leanpix convert` on one input: lp_input_open_memory, the source
 * (the format's descriptor, or sniffed as convert does when format is LP_FILE_UNKNOWN) with the default
 * lp_limits and a counted budget, shrink-on-load to 1/shrink of the size when shrink > 1
 * (as convert's build_chain asks for a smaller target), then every strip pulled. To keep
 * executions fast, pulling stops after LP_FUZZ_MAX_PIXELS output pixels. */
#define LP_FUZZ_MAX_PIXELS (16u << 20)
void lp_fuzz_decode(const uint8_t *data, size_t size, lp_file_format format, unsigned shrink);

/* The server's upload work on one request (jobs.c): the input split at LP_FUZZ_FILE_SEP
 * into at most LP_FUZZ_MAX_FILES uploaded files, parsed by the named game's parser (its
 * descriptor's, src/server/game.h), then mrc_build_cards, against the built-in demo data
 * set (loaded once). A new game's harness is this call with its name. */
#define LP_FUZZ_FILE_SEP "\n--LPFILE--\n"
#define LP_FUZZ_MAX_FILES 8
void lp_fuzz_bindings(const uint8_t *data, size_t size, const char *game);
