/*
 * bit_reader.h - private: bits read most significant first from a byte buffer, as the AV1
 * and HEVC headers are written. Reading past the end gives zeros and sets overrun, so a
 * parser reads all its fields and checks once at the end.
 */
#ifndef LP_BIT_READER_H
#define LP_BIT_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct lp_bit_reader {
    const uint8_t *data;
    size_t size_bits, pos;
    bool overrun;
} lp_bit_reader;

static inline uint32_t lp_read_bits(lp_bit_reader *br, unsigned n)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < n; i++) {
        if (br->pos >= br->size_bits) {
            br->overrun = true;
            return 0;
        }
        v = v << 1 | (uint32_t)(br->data[br->pos >> 3] >> (7 - (br->pos & 7)) & 1u);
        br->pos++;
    }
    return v;
}

static inline void lp_skip_bits(lp_bit_reader *br, size_t n)
{
    if (n > br->size_bits - br->pos) {
        br->overrun = true;
        br->pos = br->size_bits;
        return;
    }
    br->pos += n;
}

#endif
