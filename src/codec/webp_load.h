/*
 * webp_load.h - what the WebP format descriptor (src/formats/webp.c) needs from the WebP
 * source: its shrink-on-load rule and its memory model, defined once in webp_load.c.
 */
#ifndef LP_CODEC_WEBP_LOAD_H
#define LP_CODEC_WEBP_LOAD_H

#include <stdbool.h>
#include <stdint.h>

#include "leanpix/image.h"
#include "leanpix/status.h"

/* The factor (1, 2, 4 or 8) the source's shrink() applies to a width x height WebP for
 * a target of target_w x target_h: the largest whose result is still at least the target. */
unsigned lp_webp_shrink_factor(uint32_t width, uint32_t height, uint32_t target_w,
                               uint32_t target_h);
/* Peak bytes the WebP source holds for a decode of the given size: the file, the output
 * frame at decode_w x decode_h and libwebp's own buffers (see webp_load.c). */
uint64_t lp_webp_decode_bytes(uint32_t width, uint32_t height, uint32_t decode_w,
                              uint32_t decode_h, bool alpha, bool lossless, uint64_t file_bytes);
/* Header facts with small preads on fd (size bytes): size, alpha (components 3 or 4),
 * lossless (progressive = true, as its decoder holds the whole ARGB image), orientation
 * from the EXIF chunk when it is in the first 64 KiB. */
lp_status lp_webp_probe_fd(int fd, uint64_t size, lp_probe *probe, lp_error *err);

#endif
