/*
 * hevc_sps.c - the picture size of the HEVC sequence parameter sets in an hvcC box.
 *
 * Why: libde265 decodes a picture at the size its SPS says, and libheif 1.15 compares that
 * with the item's declared size (ispe) only once the picture is decoded, so a 64x64 ispe
 * over a 3520x5280 SPS held 166 MB under a 20M budget before it was refused. The HEIF
 * source reads the SPS sizes first (heif_boxes.c collects them for the coded items the
 * decode reaches) and refuses a stream larger than what was declared and reserved.
 *
 * What is read (ISO/IEC 14496-15 8.3.3.1.2 for hvcC; ITU-T H.265 7.3.2.2 for the SPS):
 * the hvcC's arrays of NAL units, an SPS being any unit whose own header says so, whatever
 * its array (libheif passes them all to libde265, which goes by the header; heif_boxes.c
 * also hands over the SPS units it finds in the items' data); in each SPS, after
 * its two-byte NAL header, with the emulation prevention bytes taken out: the VPS id, the
 * sub-layer count, the profile_tier_level (fixed-size general part, then the sub-layers'
 * flags and parts), the SPS id, chroma_format_idc, and the two sizes. Exp-Golomb codes of
 * more than 31 leading zeros, and anything that runs past the NAL unit or the bytes read,
 * make the SPS unreadable, and the file is refused: its size is not known (libde265 has
 * stricter bounds, 20 leading zeros, so it reads no SPS that we cannot). Every loop is
 * bounded by the box: one pass over its arrays, at most LP_HEVC_SPS_BYTES bytes of each SPS.
 */
#include "codec/hevc_sps.h"
#include "codec/bit_reader.h"

#define HVCC_HEADER_BYTES 23
#define NAL_SPS 33
/* LP_HEVC_SPS_BYTES, the part of an SPS that reaches the sizes: 2 bytes of NAL header, at
 * most 12 + 2 + 6 x 12 bytes of profile_tier_level, and a few Exp-Golomb codes; with room
 * for emulation prevention bytes. */

/* ue(v): an unsigned Exp-Golomb code. */
static uint32_t read_ue(lp_bit_reader *br)
{
    unsigned zeros = 0;
    while (!br->overrun && lp_read_bits(br, 1) == 0)
        if (++zeros > 31) {
            br->overrun = true;
            return 0;
        }
    return (uint32_t)(((uint64_t)1 << zeros) - 1 + lp_read_bits(br, zeros));
}

static void skip_profile_tier_level(lp_bit_reader *br, unsigned sub_layers)
{
    lp_skip_bits(br, 96);  /* general profile, compatibility, constraint flags, level */
    bool profile[8] = {false}, level[8] = {false};
    for (unsigned i = 0; i < sub_layers; i++) {
        profile[i] = lp_read_bits(br, 1);
        level[i] = lp_read_bits(br, 1);
    }
    if (sub_layers > 0)
        lp_skip_bits(br, 2 * (8 - sub_layers));  /* reserved_zero_2bits */
    for (unsigned i = 0; i < sub_layers; i++)
        lp_skip_bits(br, (profile[i] ? 88 : 0) + (level[i] ? 8 : 0));
}

/* The RBSP of a NAL unit's first bytes (its header dropped, 0x000003 turned into 0x0000). */
static size_t unescape(const uint8_t *nal, size_t n, uint8_t *out, size_t cap)
{
    size_t len = 0, zeros = 0;
    for (size_t i = 2; i < n && len < cap; i++) {
        if (zeros >= 2 && nal[i] == 3) {
            zeros = 0;
            continue;
        }
        zeros = nal[i] == 0 ? zeros + 1 : 0;
        out[len++] = nal[i];
    }
    return len;
}

bool lp_hevc_sps_size(const uint8_t *nal, size_t n, uint32_t *width, uint32_t *height)
{
    if (n < 2 || (nal[0] >> 1 & 0x3fu) != NAL_SPS)
        return false;
    uint8_t rbsp[LP_HEVC_SPS_BYTES];
    size_t len = unescape(nal, n, rbsp, sizeof rbsp);
    lp_bit_reader br = {rbsp, len * 8, 0, false};
    lp_read_bits(&br, 4);  /* sps_video_parameter_set_id */
    unsigned sub_layers = lp_read_bits(&br, 3);
    lp_read_bits(&br, 1);  /* sps_temporal_id_nesting_flag */
    if (sub_layers > 6)
        return false;
    skip_profile_tier_level(&br, sub_layers);
    read_ue(&br);  /* sps_seq_parameter_set_id */
    if (read_ue(&br) == 3)  /* chroma_format_idc */
        lp_read_bits(&br, 1);  /* separate_colour_plane_flag */
    *width = read_ue(&br);
    *height = read_ue(&br);
    return !br.overrun;
}

bool lp_hevc_config_largest_sps(const uint8_t *b, size_t n, uint32_t *width, uint32_t *height,
                                bool *unreadable)
{
    if (n < HVCC_HEADER_BYTES)
        return false;
    unsigned arrays = b[22];
    size_t at = HVCC_HEADER_BYTES;
    uint64_t best = 0;
    bool found = false;
    for (unsigned a = 0; a < arrays && at + 3 <= n; a++) {
        unsigned count = (unsigned)b[at + 1] << 8 | b[at + 2];
        at += 3;
        for (unsigned k = 0; k < count && at + 2 <= n; k++) {
            size_t len = (size_t)b[at] << 8 | b[at + 1];
            at += 2;
            if (len > n - at)
                return found;
            /* by the unit's own header, as libde265 takes it, not the array's type */
            bool sps = len >= 2 && (b[at] >> 1 & 0x3fu) == NAL_SPS;
            uint32_t w, h;
            bool read = sps && lp_hevc_sps_size(b + at, len, &w, &h);
            if (sps && !read)
                *unreadable = true;
            if (read && (!found || (uint64_t)w * h > best)) {
                best = (uint64_t)w * h;
                *width = w;
                *height = h;
                found = true;
            }
            at += len;
        }
    }
    return found;
}
