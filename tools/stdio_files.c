/*
 * stdio_files.c - `-` as a file name: stdin as an input, stdout as an output.
 *
 * Outputs: "-" becomes /dev/stdout, which the library writes in place (it is not a
 * regular file, so there is no temp file and no rename; see src/io/output.c).
 * Inputs: decoders may need to seek (TIFF, HEIF) and the library opens regular files, so
 * stdin is first copied into an anonymous temp file in $TMPDIR (or /var/tmp): created,
 * unlinked at once, and opened by the library through /proc/self/fd/N. Nothing is left on
 * disk whatever happens, memory stays one copy buffer, and the copy stops past the input
 * size limit (--max-file-size) instead of filling the disk.
 */
#define _GNU_SOURCE
#include "stdio_files.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

bool stdio_is_dash(const char *path)
{
    return path && !strcmp(path, "-");
}

static bool copy_all(int from, int to, uint64_t max_bytes, uint64_t *copied)
{
    static char buf[1 << 16];
    *copied = 0;
    for (;;) {
        ssize_t n = read(from, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            cli_error("-", "cannot read standard input: %s", strerror(errno));
            return false;
        }
        if (n == 0)
            return true;
        *copied += (uint64_t)n;
        if (max_bytes && *copied > max_bytes) {
            cli_error("-", "standard input is over the input size limit of %llu bytes "
                           "(raise it with --max-file-size)", (unsigned long long)max_bytes);
            return false;
        }
        for (ssize_t done = 0; done < n;) {
            ssize_t w = write(to, buf + done, (size_t)(n - done));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                cli_error("-", "cannot keep standard input in a temp file: %s", strerror(errno));
                return false;
            }
            done += w;
        }
    }
}

int stdio_spool_stdin(const char *temp_dir, uint64_t max_bytes, char *path, size_t size)
{
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/.leanpix-stdin-XXXXXX", temp_dir && *temp_dir ? temp_dir : "/var/tmp");
    int fd = mkostemp(tmpl, O_CLOEXEC);
    if (fd < 0) {
        cli_error(tmpl, "cannot create a temp file for standard input: %s", strerror(errno));
        return -1;
    }
    unlink(tmpl);
    uint64_t copied;
    if (!copy_all(STDIN_FILENO, fd, max_bytes, &copied)) {
        close(fd);
        return -1;
    }
    snprintf(path, size, "/proc/self/fd/%d", fd);
    return fd;
}
