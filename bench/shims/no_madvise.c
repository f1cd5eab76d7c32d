/*
 * no_madvise.c - bench-only LD_PRELOAD shim: madvise() and posix_fadvise() do nothing.
 *
 * Turns leanpix's `--io mmap` into the classic "whole-file mmap without hints" (and
 * `--io read` into reads without fadvise), so bench/batch-io.sh can measure what the
 * hints save. Never linked into leanpix.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stddef.h>
#include <sys/mman.h>

int madvise(void *addr, size_t length, int advice)
{
    (void)addr, (void)length, (void)advice;
    return 0;
}

int posix_fadvise(int fd, off_t offset, off_t len, int advice)
{
    (void)fd, (void)offset, (void)len, (void)advice;
    return 0;
}
