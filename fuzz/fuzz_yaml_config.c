/*
 * fuzz_yaml_config.c - the data set's YAML files as `serve --data DIR` loads them
 * (mrc_data_load): mrc_config_parse on config, generatedDevices, devices, fs2020 and sws in
 * that order on one mrc_data (libyaml), then mrc_data_finish (PCRE2 compiles the games'
 * regexes from the YAML).
 *
 * Input: byte 0 (mod 5) says which of the five the first file is; then the files
 * separated by "#LPFILE\n" (a YAML comment), in the order above from there. The chain
 * stops at the first error, as the loader does.
 */
#include "fuzz_util.h"

#include "server/mrc.h"

static const char *const which[5] = {"config", "devices", "devices", "fs2020", "sws"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t first = data[0] % 5u;
    const uint8_t *piece[5];
    size_t piece_size[5];
    size_t n = lp_fuzz_split(data + 1, size - 1, "#LPFILE\n", piece, piece_size, 5 - first);
    mrc_data *d = mrc_data_new_empty();
    if (!d)
        return 0;
    lp_error err = {0};
    lp_status st = LP_OK;
    for (size_t i = 0; i < n && st == LP_OK; i++)
        st = mrc_config_parse(d, which[first + i], (const char *)piece[i], piece_size[i], &err);
    if (st == LP_OK)
        mrc_data_finish(d, &err);
    mrc_data_free(d);
    return 0;
}
