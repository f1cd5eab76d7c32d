/*
 * av1_obu.c - the few facts leanpix reads from AV1 bitstreams: OBU framing (leb128 sizes)
 * and the sequence header (AV1 specification, sections 5.3 and 5.5).
 *
 * Two readers use it: the grid writer fills each grid's av1C box from its first cell's
 * sequence header (profile, level, tier, depth, chroma: ISO/IEC 23000-22 / AV1-ISOBMFF
 * section 2.3), and the HEIF meta reader (heif_boxes.c) takes the largest frame size an
 * input's sequence headers declare, because a decoder allocates by it. The header's
 * fields are walked in the specification's order with a bit reader that gives zeros past
 * the end and says so (bit_reader.h): a header cut short is refused, never read beyond.
 */
#include "codec/av1_obu.h"
#include "codec/bit_reader.h"

#include <string.h>

/* ---- OBU framing ---- */

size_t lp_av1_read_leb128(const uint8_t *p, size_t avail, uint64_t *value)
{
    *value = 0;
    for (size_t i = 0; i < 8 && i < avail; i++) {
        *value |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if (!(p[i] & 0x80))
            return i + 1;
    }
    return 0;
}

bool lp_av1_next_obu(const uint8_t *p, size_t avail, lp_obu *obu)
{
    if (avail < 2)
        return false;
    uint8_t header = p[0];
    bool extension = header & 0x04, has_size = header & 0x02;
    size_t pos = 1 + (extension ? 1 : 0);
    if (!has_size || pos >= avail)
        return false;
    uint64_t size;
    size_t n = lp_av1_read_leb128(p + pos, avail - pos, &size);
    if (!n || size > avail - pos - n)
        return false;
    obu->type = (header >> 3) & 0x0f;
    obu->payload = p + pos + n;
    obu->payload_size = (size_t)size;
    obu->total = pos + n + (size_t)size;
    return true;
}

/* ---- the sequence header ---- */

static void skip_uvlc(lp_bit_reader *br)
{
    unsigned leading = 0;
    while (!br->overrun && lp_read_bits(br, 1) == 0 && leading < 32)
        leading++;
    if (leading < 32)
        lp_read_bits(br, leading);
}

typedef struct seq_header {
    unsigned profile, level, tier;
    uint32_t max_width, max_height;  /* max_frame_{width,height}_minus_1 + 1 */
    bool high_bitdepth, twelve_bit, monochrome;
    unsigned subsampling_x, subsampling_y, sample_position;
} seq_header;

/* Walks the operating points of a full (not reduced) sequence header; keeps point 0's
 * level and tier. */
static void parse_operating_points(lp_bit_reader *br, seq_header *sh)
{
    bool decoder_model_info = false;
    unsigned buffer_delay_bits = 0;
    if (lp_read_bits(br, 1)) {          /* timing_info_present_flag */
        lp_read_bits(br, 32);           /* num_units_in_display_tick */
        lp_read_bits(br, 32);           /* time_scale */
        if (lp_read_bits(br, 1))        /* equal_picture_interval */
            skip_uvlc(br);      /* num_ticks_per_picture_minus_1 */
        decoder_model_info = lp_read_bits(br, 1);
        if (decoder_model_info) {
            buffer_delay_bits = lp_read_bits(br, 5) + 1;
            lp_read_bits(br, 32);       /* num_units_in_decoding_tick */
            lp_read_bits(br, 5);        /* buffer_removal_time_length_minus_1 */
            lp_read_bits(br, 5);        /* frame_presentation_time_length_minus_1 */
        }
    }
    bool initial_display_delay = lp_read_bits(br, 1);
    unsigned count = lp_read_bits(br, 5) + 1;
    for (unsigned i = 0; i < count && !br->overrun; i++) {
        lp_read_bits(br, 12);           /* operating_point_idc */
        unsigned level = lp_read_bits(br, 5), tier = level > 7 ? lp_read_bits(br, 1) : 0;
        if (i == 0) {
            sh->level = level;
            sh->tier = tier;
        }
        if (decoder_model_info && lp_read_bits(br, 1)) {
            lp_read_bits(br, buffer_delay_bits);  /* decoder_buffer_delay */
            lp_read_bits(br, buffer_delay_bits);  /* encoder_buffer_delay */
            lp_read_bits(br, 1);                  /* low_delay_mode_flag */
        }
        if (initial_display_delay && lp_read_bits(br, 1))
            lp_read_bits(br, 4);
    }
}

/* The largest frame size, then the fields up to color_config(). */
static void parse_frame_size_and_tools(lp_bit_reader *br, bool reduced, seq_header *sh)
{
    unsigned width_bits = lp_read_bits(br, 4) + 1, height_bits = lp_read_bits(br, 4) + 1;
    sh->max_width = lp_read_bits(br, width_bits) + 1;
    sh->max_height = lp_read_bits(br, height_bits) + 1;
    if (!reduced && lp_read_bits(br, 1)) {  /* frame_id_numbers_present_flag */
        lp_read_bits(br, 4);
        lp_read_bits(br, 3);
    }
    lp_read_bits(br, 3);  /* 128x128 superblocks, filter intra, intra edge filter */
    if (!reduced) {
        lp_read_bits(br, 4);  /* interintra, masked compound, warped motion, dual filter */
        bool order_hint = lp_read_bits(br, 1);
        if (order_hint)
            lp_read_bits(br, 2);  /* enable_jnt_comp, enable_ref_frame_mvs */
        unsigned force_screen_content = lp_read_bits(br, 1) ? 2 : lp_read_bits(br, 1);
        if (force_screen_content > 0 && !lp_read_bits(br, 1))
            lp_read_bits(br, 1);  /* seq_force_integer_mv */
        if (order_hint)
            lp_read_bits(br, 3);
    }
    lp_read_bits(br, 3);  /* enable_superres, enable_cdef, enable_restoration */
}

static void parse_color_config(lp_bit_reader *br, seq_header *sh)
{
    sh->high_bitdepth = lp_read_bits(br, 1);
    if (sh->profile == 2 && sh->high_bitdepth)
        sh->twelve_bit = lp_read_bits(br, 1);
    sh->monochrome = sh->profile == 1 ? false : lp_read_bits(br, 1);
    unsigned cp = 2, tc = 2, mc = 2;
    if (lp_read_bits(br, 1)) {  /* color_description_present_flag */
        cp = lp_read_bits(br, 8);
        tc = lp_read_bits(br, 8);
        mc = lp_read_bits(br, 8);
    }
    sh->subsampling_x = sh->subsampling_y = 1;
    sh->sample_position = 0;
    if (sh->monochrome) {
        lp_read_bits(br, 1);  /* color_range */
        return;
    }
    if (cp == 1 && tc == 13 && mc == 0) {  /* sRGB: 4:4:4 implied */
        sh->subsampling_x = sh->subsampling_y = 0;
        return;
    }
    lp_read_bits(br, 1);  /* color_range */
    if (sh->profile == 0) {
        sh->subsampling_x = sh->subsampling_y = 1;
    } else if (sh->profile == 1) {
        sh->subsampling_x = sh->subsampling_y = 0;
    } else if (sh->twelve_bit) {
        sh->subsampling_x = lp_read_bits(br, 1);
        sh->subsampling_y = sh->subsampling_x ? lp_read_bits(br, 1) : 0;
    } else {
        sh->subsampling_x = 1;
        sh->subsampling_y = 0;
    }
    if (sh->subsampling_x && sh->subsampling_y)
        sh->sample_position = lp_read_bits(br, 2);
}

static bool parse_sequence_header(const uint8_t *payload, size_t size, seq_header *sh)
{
    lp_bit_reader br = {payload, size * 8, 0, false};
    memset(sh, 0, sizeof *sh);
    sh->profile = lp_read_bits(&br, 3);
    lp_read_bits(&br, 1);  /* still_picture */
    bool reduced = lp_read_bits(&br, 1);
    if (reduced)
        sh->level = lp_read_bits(&br, 5);
    else
        parse_operating_points(&br, sh);
    parse_frame_size_and_tools(&br, reduced, sh);
    parse_color_config(&br, sh);
    return !br.overrun && sh->profile <= 2;
}

lp_status lp_av1_config_record(const uint8_t *obus, size_t size, uint8_t av1c[4], lp_error *err)
{
    size_t pos = 0;
    while (pos < size) {
        lp_obu obu;
        if (!lp_av1_next_obu(obus + pos, size - pos, &obu))
            break;
        if (obu.type == LP_OBU_SEQUENCE_HEADER) {
            seq_header sh;
            if (!parse_sequence_header(obu.payload, obu.payload_size, &sh))
                return lp_error_set(err, LP_ERR_CODEC, "malformed AV1 sequence header");
            av1c[0] = 0x81;  /* marker 1, version 1 */
            av1c[1] = (uint8_t)(sh.profile << 5 | sh.level);
            av1c[2] = (uint8_t)(sh.tier << 7 | sh.high_bitdepth << 6 | sh.twelve_bit << 5 |
                                sh.monochrome << 4 | sh.subsampling_x << 3 |
                                sh.subsampling_y << 2 | sh.sample_position);
            av1c[3] = 0;  /* no initial_presentation_delay */
            return LP_OK;
        }
        pos += obu.total;
    }
    return lp_error_set(err, LP_ERR_CODEC, "the AV1 frame has no sequence header");
}

bool lp_av1_sequence_size(const uint8_t *payload, size_t size, uint32_t *width, uint32_t *height)
{
    seq_header sh;
    if (!parse_sequence_header(payload, size, &sh))
        return false;
    *width = sh.max_width;
    *height = sh.max_height;
    return true;
}
