/*
 * hevc_sps.h - private: the picture size an HEVC sequence parameter set declares, read
 * from the parameter sets of an hvcC box before libheif hands them to libde265 (which has
 * no frame size limit of its own). See hevc_sps.c.
 */
#ifndef LP_HEVC_SPS_H
#define LP_HEVC_SPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The largest picture (width x height in luma samples) among the sequence parameter sets
 * of an hvcC box's body (b, n bytes): *width and *height get its size. false when the box
 * holds no SPS that can be read (then nothing is written). *unreadable is set when an SPS
 * among them cannot be read (its size unknown), left alone otherwise. */
bool lp_hevc_config_largest_sps(const uint8_t *b, size_t n, uint32_t *width, uint32_t *height,
                                bool *unreadable);

/* The NAL unit (n bytes from its two-byte header; its first LP_HEVC_SPS_BYTES are enough)
 * as an SPS: *width and *height get its size; false when it is not an SPS or cannot be
 * read. */
#define LP_HEVC_SPS_BYTES 192u
bool lp_hevc_sps_size(const uint8_t *nal, size_t n, uint32_t *width, uint32_t *height);

#endif
