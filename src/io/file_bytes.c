/*
 * file_bytes.c - see file_bytes.h. No state.
 */
#include "file_bytes.h"

#include <errno.h>
#include <unistd.h>

bool lp_file_read_at(int fd, uint64_t at, void *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(fd, (uint8_t *)buf + done, len - done, (off_t)(at + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        done += (size_t)n;
    }
    return true;
}
