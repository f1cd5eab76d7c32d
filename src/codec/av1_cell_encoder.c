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
 * The av1C box of the cells comes from their sequence header (av1_obu.c).
 */
#include "codec/av1_cell_encoder.h"
#include "codec/av1_obu.h"

#include <aom/aom_encoder.h>
#include <aom/aomcx.h>
#include <string.h>

/* Copies the OBUs of a temporal unit except temporal delimiters; returns the new size,
 * or 0 if the data is not a well-formed OBU stream. */
static size_t drop_temporal_delimiters(uint8_t *data, size_t size)
{
    size_t in = 0, out = 0;
    while (in < size) {
        lp_obu obu;
        if (!lp_av1_next_obu(data + in, size - in, &obu))
            return 0;
        if (obu.type != LP_OBU_TEMPORAL_DELIMITER) {
            memmove(data + out, data + in, obu.total);
            out += obu.total;
        }
        in += obu.total;
    }
    return out;
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
