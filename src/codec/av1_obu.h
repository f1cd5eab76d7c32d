/*
 * av1_obu.h - private: AV1 OBU framing and sequence headers (av1_obu.c).
 */
#ifndef LP_AV1_OBU_H
#define LP_AV1_OBU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "leanpix/status.h"

enum { LP_OBU_SEQUENCE_HEADER = 1, LP_OBU_TEMPORAL_DELIMITER = 2 };

/* A leb128 value of at most 8 bytes from p (avail bytes there); the bytes it took, 0 when
 * it does not end within them. */
size_t lp_av1_read_leb128(const uint8_t *p, size_t avail, uint64_t *value);

/* One OBU at p: its type, its payload and its whole length. */
typedef struct lp_obu {
    unsigned type;
    const uint8_t *payload;
    size_t payload_size;
    size_t total;
} lp_obu;

/* The OBU at p (avail bytes there), which must carry its size field (libaom and AVIF
 * writers always write it); false when it is malformed or runs past avail. */
bool lp_av1_next_obu(const uint8_t *p, size_t avail, lp_obu *obu);

/* The 4-byte av1C record (marker/version, profile, level, tier, bit depth, monochrome,
 * chroma subsampling and sample position) from the first sequence header OBU in obus. */
lp_status lp_av1_config_record(const uint8_t *obus, size_t size, uint8_t av1c[4], lp_error *err);

/* The largest frame (max_frame_width x max_frame_height) a sequence header's payload
 * declares; false when the header cannot be read. */
bool lp_av1_sequence_size(const uint8_t *payload, size_t size, uint32_t *width, uint32_t *height);

#endif
