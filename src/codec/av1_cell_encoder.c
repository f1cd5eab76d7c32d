/*
 * av1_cell_encoder.c - one grid cell as a still AV1 frame, with libaom directly.
 *
 * Settings follow what libavif uses for a single still image, so that a grid and avifenc's
 * single frame compare at equal quality: the all-intra usage, one frame (g_limit = 1, which
 * makes libaom write a reduced still-picture header), no lag, no keyframe logic, constant
 * quality (AOM_Q with min = max = cq-level = the quantizer), SSIM tuning, full-range
 * BT.601 colour signalled in the sequence header. Alpha cells are monochrome frames.
 *
 * Memory: libaom allocates its own state (about 16 bytes per pixel of the frame, freed
 * when the encoder is destroyed here, before returning); the caller reserves an estimate
 * in the job's lp_mem. The compressed output is copied once into a block counted in the
 * job's lp_mem, without the temporal delimiter OBUs that an AVIF item must not carry.
 *
 * lp_av1_config_record() reads just enough of the sequence header OBU to fill the av1C
 * box (ISO/IEC 23000-22 / AV1-ISOBMFF section 2.3): it walks the header's fields in the
 * order of the AV1 specification, section 5.5.
 */
#include "codec/av1_cell_encoder.h"
#include "codec/bit_reader.h"

#include <aom/aom_encoder.h>
#include <aom/aomcx.h>
#include <string.h>

enum { LP_OBU_SEQUENCE_HEADER = 1, LP_OBU_TEMPORAL_DELIMITER = 2 };

/* ---- OBU framing ---- */

/* Reads a leb128 value; returns bytes used, 0 when malformed or past end. */
static size_t read_leb128(const uint8_t *p, size_t avail, uint64_t *value)
{
    *value = 0;
    for (size_t i = 0; i < 8 && i < avail; i++) {
        *value |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if (!(p[i] & 0x80))
            return i + 1;
    }
    return 0;
}

/* One OBU at p: its type, the payload span and the total length. Requires size fields
 * (libaom always writes them). */
typedef struct obu_span {
    unsigned type;
    const uint8_t *payload;
    size_t payload_size;
    size_t total;
} obu_span;

static bool next_obu(const uint8_t *p, size_t avail, obu_span *obu)
{
    if (avail < 2)
        return false;
    uint8_t header = p[0];
    bool extension = header & 0x04, has_size = header & 0x02;
    size_t pos = 1 + (extension ? 1 : 0);
    if (!has_size || pos >= avail)
        return false;
    uint64_t size;
    size_t n = read_leb128(p + pos, avail - pos, &size);
    if (!n || size > avail - pos - n)
        return false;
    obu->type = (header >> 3) & 0x0f;
    obu->payload = p + pos + n;
    obu->payload_size = (size_t)size;
    obu->total = pos + n + (size_t)size;
    return true;
}

/* Copies the OBUs of a temporal unit except temporal delimiters; returns the new size,
 * or 0 if the data is not a well-formed OBU stream. */
static size_t drop_temporal_delimiters(uint8_t *data, size_t size)
{
    size_t in = 0, out = 0;
    while (in < size) {
        obu_span obu;
        if (!next_obu(data + in, size - in, &obu))
            return 0;
        if (obu.type != LP_OBU_TEMPORAL_DELIMITER) {
            memmove(data + out, data + in, obu.total);
            out += obu.total;
        }
        in += obu.total;
    }
    return out;
}

/* ---- sequence header -> av1C ---- */

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

/* The fields between the frame size and color_config(). */
static void skip_coding_tools(lp_bit_reader *br, bool reduced)
{
    unsigned width_bits = lp_read_bits(br, 4) + 1, height_bits = lp_read_bits(br, 4) + 1;
    lp_read_bits(br, width_bits);
    lp_read_bits(br, height_bits);
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
    skip_coding_tools(&br, reduced);
    parse_color_config(&br, sh);
    return !br.overrun && sh->profile <= 2;
}

lp_status lp_av1_config_record(const uint8_t *obus, size_t size, uint8_t av1c[4], lp_error *err)
{
    size_t pos = 0;
    while (pos < size) {
        obu_span obu;
        if (!next_obu(obus + pos, size - pos, &obu))
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

/* ---- encoding ---- */

static lp_status aom_failure(aom_codec_ctx_t *ctx, const char *what, lp_error *err)
{
    const char *detail = aom_codec_error_detail(ctx);
    return lp_error_set(err, LP_ERR_CODEC, "libaom %s failed: %s%s%s", what, aom_codec_error(ctx),
                        detail ? ": " : "", detail ? detail : "");
}

static void fill_config(aom_codec_enc_cfg_t *cfg, const lp_av1_cell_params *p)
{
    cfg->g_w = p->width;
    cfg->g_h = p->height;
    cfg->g_bit_depth = p->bit_depth > 8 ? AOM_BITS_10 : AOM_BITS_8;
    cfg->g_input_bit_depth = p->bit_depth;
    cfg->g_profile = p->yuv444 && !p->monochrome ? 1 : 0;
    cfg->g_threads = 1;      /* parallelism is across cells */
    cfg->g_limit = 1;        /* a still picture, reduced header */
    cfg->g_lag_in_frames = 0;
    cfg->kf_mode = AOM_KF_DISABLED;
    cfg->kf_max_dist = 0;
    cfg->rc_end_usage = AOM_Q;
    cfg->rc_min_quantizer = (unsigned)p->quantizer;
    cfg->rc_max_quantizer = (unsigned)p->quantizer;
    cfg->monochrome = p->monochrome;
}

static bool set_controls(aom_codec_ctx_t *ctx, const lp_av1_cell_params *p)
{
    int speed = p->speed < 0 ? 0 : p->speed > 9 ? 9 : p->speed;
    bool ok = aom_codec_control(ctx, AOME_SET_CPUUSED, speed) == AOM_CODEC_OK &&
              aom_codec_control(ctx, AOME_SET_CQ_LEVEL, (unsigned)p->quantizer) == AOM_CODEC_OK &&
              aom_codec_control(ctx, AOME_SET_TUNING, AOM_TUNE_SSIM) == AOM_CODEC_OK &&
              aom_codec_control(ctx, AV1E_SET_COLOR_RANGE, AOM_CR_FULL_RANGE) == AOM_CODEC_OK &&
              /* no intra block copy: see avif_save.c (its hash tables cover the frame) */
              aom_codec_control(ctx, AV1E_SET_ENABLE_INTRABC, 0) == AOM_CODEC_OK;
    if (ok && p->quantizer == 0)
        ok = aom_codec_control(ctx, AV1E_SET_LOSSLESS, 1u) == AOM_CODEC_OK;
    if (ok && !p->monochrome)  /* BT.709 primaries, sRGB transfer, BT.601 matrix */
        ok = aom_codec_control(ctx, AV1E_SET_COLOR_PRIMARIES, 1) == AOM_CODEC_OK &&
             aom_codec_control(ctx, AV1E_SET_TRANSFER_CHARACTERISTICS, 13) == AOM_CODEC_OK &&
             aom_codec_control(ctx, AV1E_SET_MATRIX_COEFFICIENTS, 6) == AOM_CODEC_OK;
    return ok;
}

/* Points an aom_image_t at the caller's planes (no copy). */
static void wrap_planes(aom_image_t *img, const lp_av1_cell_params *p, const lp_av1_planes *pl)
{
    aom_img_fmt_t fmt = p->yuv444 && !p->monochrome ? AOM_IMG_FMT_I444 : AOM_IMG_FMT_I420;
    if (p->bit_depth > 8)
        fmt |= AOM_IMG_FMT_HIGHBITDEPTH;
    /* aom_img_wrap lays the planes out contiguously from one pointer; set up the fields
     * with it, then point each plane at the cell in the cell-row buffer. */
    aom_img_wrap(img, fmt, p->width, p->height, 1, (unsigned char *)pl->plane[0]);
    for (int i = 0; i < 3; i++) {
        img->planes[i] = (unsigned char *)pl->plane[i];
        img->stride[i] = (int)pl->stride[i];
    }
    img->bit_depth = p->bit_depth;
    img->range = AOM_CR_FULL_RANGE;
    img->monochrome = p->monochrome;
    if (!p->monochrome) {
        img->cp = AOM_CICP_CP_BT_709;
        img->tc = AOM_CICP_TC_SRGB;
        img->mc = AOM_CICP_MC_BT_601;
    }
}

/* Appends every frame packet the encoder has ready to *buf. */
static lp_status collect_packets(aom_codec_ctx_t *ctx, lp_mem *mem, uint8_t **buf, size_t *size,
                                 lp_error *err)
{
    aom_codec_iter_t iter = NULL;
    const aom_codec_cx_pkt_t *pkt;
    while ((pkt = aom_codec_get_cx_data(ctx, &iter)) != NULL) {
        if (pkt->kind != AOM_CODEC_CX_FRAME_PKT)
            continue;
        uint8_t *grown = lp_mem_realloc(mem, *buf, *size + pkt->data.frame.sz,
                                        "AVIF compressed cell", err);
        if (!grown)
            return err ? err->status : LP_ERR_NOMEM;
        memcpy(grown + *size, pkt->data.frame.buf, pkt->data.frame.sz);
        *buf = grown;
        *size += pkt->data.frame.sz;
    }
    return LP_OK;
}

static lp_status encode_frame(aom_codec_ctx_t *ctx, const lp_av1_cell_params *params,
                              const lp_av1_planes *planes, lp_mem *mem, uint8_t **buf,
                              size_t *size, lp_error *err)
{
    if (!set_controls(ctx, params))
        return aom_failure(ctx, "configuration", err);
    aom_image_t img;
    wrap_planes(&img, params, planes);
    if (aom_codec_encode(ctx, &img, 0, 1, 0) != AOM_CODEC_OK)
        return aom_failure(ctx, "encoding", err);
    lp_status st = collect_packets(ctx, mem, buf, size, err);
    if (st != LP_OK)
        return st;
    if (aom_codec_encode(ctx, NULL, 0, 0, 0) != AOM_CODEC_OK)  /* flush */
        return aom_failure(ctx, "flush", err);
    return collect_packets(ctx, mem, buf, size, err);
}

lp_status lp_av1_encode_cell(const lp_av1_cell_params *params, const lp_av1_planes *planes,
                             lp_mem *mem, uint8_t **out, size_t *out_size, lp_error *err)
{
    *out = NULL;
    *out_size = 0;
    aom_codec_iface_t *iface = aom_codec_av1_cx();
    aom_codec_enc_cfg_t cfg;
    if (aom_codec_enc_config_default(iface, &cfg, AOM_USAGE_ALL_INTRA) != AOM_CODEC_OK)
        return lp_error_set(err, LP_ERR_CODEC, "libaom has no all-intra configuration");
    fill_config(&cfg, params);
    aom_codec_ctx_t ctx;
    aom_codec_flags_t flags = params->bit_depth > 8 ? AOM_CODEC_USE_HIGHBITDEPTH : 0;
    if (aom_codec_enc_init(&ctx, iface, &cfg, flags) != AOM_CODEC_OK) {
        lp_status st = aom_failure(&ctx, "initialisation", err);
        aom_codec_destroy(&ctx);
        return st;
    }
    uint8_t *buf = NULL;
    size_t size = 0;
    lp_status st = encode_frame(&ctx, params, planes, mem, &buf, &size, err);
    aom_codec_destroy(&ctx);
    if (st == LP_OK && (size = drop_temporal_delimiters(buf, size)) == 0)
        st = lp_error_set(err, LP_ERR_CODEC, "libaom produced no usable AV1 frame");
    if (st != LP_OK) {
        lp_mem_release(mem, buf);
        return st;
    }
    *out = buf;
    *out_size = size;
    return LP_OK;
}
