/*
 * file_bytes.h - small reads on files that are not decoded: a header to probe an input's
 * size (format descriptors' probe), the tail of an output to tell whether it is complete
 * (resume). Whole reads at an offset (pread, retried on EINTR) and big/little-endian fields.
 */
#ifndef LEANPIX_IO_FILE_BYTES_H
#define LEANPIX_IO_FILE_BYTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Reads exactly len bytes at offset at; false on error or end of file. */
bool lp_file_read_at(int fd, uint64_t at, void *buf, size_t len);

static inline uint32_t lp_be16(const uint8_t *p) { return (uint32_t)p[0] << 8 | p[1]; }
static inline uint32_t lp_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint32_t lp_le32(const uint8_t *p)
{
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

#endif
