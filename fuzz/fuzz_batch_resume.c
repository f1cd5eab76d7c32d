/*
 * fuzz_batch_resume.c - `batch --resume`'s view of what a killed run left behind:
 * lp_batch_output_complete on a file holding the input (JPEG SOI..EOI, PNG IEND, WebP RIFF
 * size, AVIF's ISO-BMFF box walk) for each expected format, and lp_batch_is_temp_name on
 * the input's first line taken as a file name.
 */
#include "fuzz_util.h"

#include "leanpix/batch.h"

#include <string.h>
#include <unistd.h>

static const lp_file_format formats[] = {LP_FILE_UNKNOWN, LP_FILE_JPEG, LP_FILE_PNG,
                                         LP_FILE_WEBP, LP_FILE_AVIF};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char name[256];
    size_t len = 0;
    while (len < size && len < sizeof name - 1 && data[len] != '\n' && data[len] != 0)
        len++;
    memcpy(name, data, len);
    name[len] = 0;
    size_t final_len = 0;
    if (lp_batch_is_temp_name(name, &final_len) && final_len + 1 > len)
        __builtin_trap();  /* NAME must lie inside the name */

    char path[64];
    int fd = lp_fuzz_memfile(data, size, path, sizeof path);
    if (fd < 0)
        return 0;
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++)
        (void)lp_batch_output_complete(path, formats[i]);
    close(fd);
    return 0;
}
