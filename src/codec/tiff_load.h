/*
 * tiff_load.h - what the TIFF format descriptor (src/formats/tiff.c) needs from the TIFF
 * source: a probe of the header and the source's memory model, defined in tiff_load.c.
 */
#ifndef LP_CODEC_TIFF_LOAD_H
#define LP_CODEC_TIFF_LOAD_H

#include <stdint.h>

#include "leanpix/image.h"
#include "leanpix/status.h"

/* Header facts through libtiff over fd (size bytes): the first directory only, strip and
 * tile tables not loaded. components is what the source yields (1..4), bit_depth 8 or 16,
 * progressive = tiled (the source then holds a row of tiles), orientation from the tag. */
lp_status lp_tiff_probe_fd(int fd, uint64_t size, lp_probe *probe, lp_error *err);
/* Peak bytes the TIFF source holds (its strip, raw rows or tile band, and its estimate of
 * libtiff's buffers), from the probe alone. */
uint64_t lp_tiff_decode_bytes(const lp_probe *probe);

#endif
