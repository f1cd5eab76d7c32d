/*
 * cell-threads.c - one grid cell encoded by libaom with N threads inside its encoder, as
 * bench/cell-threads.sh runs it: is a second CPU cheaper in memory as a thread of one
 * encoder (libaom's row multi-threading) than as a second encoder beside it, and what
 * does it cost in bytes and quality?
 *
 * usage: cell-threads CELL.ppm SPEED THREADS QUANTIZER
 * prints one line: bytes, luma PSNR of libaom's reconstruction against the input (dB),
 * the encoder's peak above the process before it (MiB, VmHWM), wall and CPU seconds.
 *
 * The encoder settings are leanpix's for a grid cell (src/codec/av1_cell_encoder.c:
 * all-intra, one still frame, constant quantizer, SSIM tuning, no intra block copy); only
 * g_threads differs. The PPM is turned into 8-bit 4:2:0 full-range BT.601 here, in
 * floating point: both thread counts get the same planes, which is all the comparison
 * needs.
 *
 * AOM_OPTS="key=value,..." adds libaom options by their aomenc names
 * (aom_codec_set_option), to see whether any of them changes the peak or the bytes.
 */
#define _GNU_SOURCE
#include <aom/aom_encoder.h>
#include <aom/aomcx.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

typedef struct planes {
    int w, h;
    unsigned char *y, *u, *v;
} planes;

static long status_kib(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = 0;
    size_t n = strlen(field);
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, field, n))
            v = atol(line + n);
    if (f)
        fclose(f);
    return v;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static unsigned char clamp(double v)
{
    return v < 0 ? 0 : v > 255 ? 255 : (unsigned char)(v + 0.5);
}

static int read_ppm(const char *path, planes *p)
{
    FILE *f = fopen(path, "rb");
    int maxval;
    if (!f || fscanf(f, "P6 %d %d %d", &p->w, &p->h, &maxval) != 3 || maxval != 255 ||
        p->w % 2 || p->h % 2 || fgetc(f) == EOF)
        return -1;
    size_t px = (size_t)p->w * p->h;
    unsigned char *rgb = malloc(px * 3);
    p->y = malloc(px);
    p->u = malloc(px / 4);
    p->v = malloc(px / 4);
    if (!rgb || !p->y || !p->u || !p->v || fread(rgb, 3, px, f) != px)
        return -1;
    fclose(f);
    for (size_t i = 0; i < px; i++)
        p->y[i] = clamp(0.299 * rgb[3 * i] + 0.587 * rgb[3 * i + 1] + 0.114 * rgb[3 * i + 2]);
    for (int y = 0; y < p->h / 2; y++)
        for (int x = 0; x < p->w / 2; x++) {
            double r = 0, g = 0, b = 0;
            for (int k = 0; k < 4; k++) {
                const unsigned char *s = rgb + 3 * ((size_t)(2 * y + k / 2) * p->w + 2 * x + k % 2);
                r += s[0] / 4.0, g += s[1] / 4.0, b += s[2] / 4.0;
            }
            double luma = 0.299 * r + 0.587 * g + 0.114 * b;
            p->u[(size_t)y * (p->w / 2) + x] = clamp(128 + (b - luma) * 0.564);
            p->v[(size_t)y * (p->w / 2) + x] = clamp(128 + (r - luma) * 0.713);
        }
    free(rgb);
    return 0;
}

static double luma_psnr(aom_codec_ctx_t *ctx, const planes *p)
{
    aom_image_t rec;
    if (aom_codec_control(ctx, AV1_GET_NEW_FRAME_IMAGE, &rec) != AOM_CODEC_OK)
        return NAN;
    double se = 0;
    for (int y = 0; y < p->h; y++)
        for (int x = 0; x < p->w; x++) {
            int d = rec.planes[0][(size_t)y * rec.stride[0] + x] - p->y[(size_t)y * p->w + x];
            se += d * d;
        }
    return se ? 10 * log10(255.0 * 255.0 * p->w * p->h / se) : INFINITY;
}

static size_t take_packets(aom_codec_ctx_t *ctx)
{
    size_t bytes = 0;
    aom_codec_iter_t it = NULL;
    const aom_codec_cx_pkt_t *pkt;
    while ((pkt = aom_codec_get_cx_data(ctx, &it)) != NULL)
        if (pkt->kind == AOM_CODEC_CX_FRAME_PKT)
            bytes += pkt->data.frame.sz;
    return bytes;
}

/* "key=value,key=value" -> aom_codec_set_option, in order. */
static int set_options(aom_codec_ctx_t *ctx, const char *list)
{
    char buf[1024];
    if (!list || !*list)
        return 0;
    if (strlen(list) >= sizeof buf) {
        fprintf(stderr, "cell-threads: AOM_OPTS too long\n");
        return -1;
    }
    strcpy(buf, list);
    char *save = NULL;
    for (char *kv = strtok_r(buf, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        if (!eq) {
            fprintf(stderr, "cell-threads: AOM_OPTS: %s: no '='\n", kv);
            return -1;
        }
        *eq = '\0';
        if (aom_codec_set_option(ctx, kv, eq + 1) != AOM_CODEC_OK) {
            fprintf(stderr, "cell-threads: AOM_OPTS: %s=%s: %s\n", kv, eq + 1,
                    aom_codec_error_detail(ctx));
            return -1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    planes p;
    if (argc != 5 || read_ppm(argv[1], &p) != 0) {
        fprintf(stderr, "usage: cell-threads CELL.ppm SPEED THREADS QUANTIZER (binary PPM, even sizes)\n");
        return 2;
    }
    int speed = atoi(argv[2]), threads = atoi(argv[3]), q = atoi(argv[4]);
    long base_kib = status_kib("VmRSS:");
    aom_codec_iface_t *iface = aom_codec_av1_cx();
    aom_codec_enc_cfg_t cfg;
    aom_codec_ctx_t ctx;
    aom_codec_enc_config_default(iface, &cfg, AOM_USAGE_ALL_INTRA);
    cfg.g_w = p.w, cfg.g_h = p.h, cfg.g_bit_depth = AOM_BITS_8, cfg.g_input_bit_depth = 8;
    cfg.g_threads = threads, cfg.g_limit = 1, cfg.g_lag_in_frames = 0;
    cfg.kf_mode = AOM_KF_DISABLED, cfg.kf_max_dist = 0;
    cfg.rc_end_usage = AOM_Q, cfg.rc_min_quantizer = cfg.rc_max_quantizer = q;
    double t0 = now(), c0 = cpu_seconds();
    if (aom_codec_enc_init(&ctx, iface, &cfg, 0) != AOM_CODEC_OK ||
        aom_codec_control(&ctx, AOME_SET_CPUUSED, speed) != AOM_CODEC_OK ||
        aom_codec_control(&ctx, AOME_SET_CQ_LEVEL, q) != AOM_CODEC_OK ||
        aom_codec_control(&ctx, AOME_SET_TUNING, AOM_TUNE_SSIM) != AOM_CODEC_OK ||
        aom_codec_control(&ctx, AV1E_SET_COLOR_RANGE, AOM_CR_FULL_RANGE) != AOM_CODEC_OK ||
        aom_codec_control(&ctx, AV1E_SET_ENABLE_INTRABC, 0) != AOM_CODEC_OK) {
        fprintf(stderr, "cell-threads: libaom set-up failed\n");
        return 1;
    }
    if (set_options(&ctx, getenv("AOM_OPTS")) != 0)
        return 1;
    aom_image_t img;
    aom_img_wrap(&img, AOM_IMG_FMT_I420, p.w, p.h, 1, p.y);
    img.planes[1] = p.u, img.planes[2] = p.v;
    img.stride[0] = p.w, img.stride[1] = img.stride[2] = p.w / 2;
    img.range = AOM_CR_FULL_RANGE;
    if (aom_codec_encode(&ctx, &img, 0, 1, 0) != AOM_CODEC_OK) {
        fprintf(stderr, "cell-threads: encoding failed\n");
        return 1;
    }
    size_t bytes = take_packets(&ctx);
    aom_codec_encode(&ctx, NULL, 0, 0, 0);
    bytes += take_packets(&ctx);
    double wall = now() - t0, cpu = cpu_seconds() - c0;
    double peak_mib = (status_kib("VmHWM:") - base_kib) / 1024.0;
    printf("bytes %zu psnr %.4f peak_mib %.1f wall_s %.3f cpu_s %.3f\n", bytes, luma_psnr(&ctx, &p),
           peak_mib, wall, cpu);
    aom_codec_destroy(&ctx);
    return 0;
}
