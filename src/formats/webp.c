/*
 * formats/webp.c - WebP: names, magic, memory model of the encoder, completeness. The
 * encoder is src/codec/webp_save.c (libwebp; it needs the whole picture as YUV planes).
 * The decoder is src/codec/webp_load.c (libwebp's incremental decoder into a whole
 * frame); its probe, shrink rule and memory model are defined there, next to the buffers
 * they describe, and named here.
 */
#include "codec/webp_load.h"
#include "formats/format.h"
#include "io/file_bytes.h"

#include <string.h>

/* libwebp's working memory per pixel by quality (method >= 3), measured by the WebP
 * sink's author on a grainy 12 MP photo (docs/benchmarks.md, PNG/WebP section). */
static const double webp_quality[] = {20, 50, 80, 90, 95, 100};
static const double webp_bytes[] = {2.0, 3.6, 5.9, 8.7, 11.6, 14.2};
#define WEBP_LOSSLESS_BYTES_PER_PIXEL 28.0
#define WEBP_LOSSLESS_FIXED_BYTES (8u << 20)
/* Our YUV planes (4:2:0), the alpha plane, and libwebp's alpha coder (~16 B/px). */
#define WEBP_YUV_BYTES_PER_PIXEL 1.5
#define WEBP_ALPHA_BYTES_PER_PIXEL 17.0
#define WEBP_LOSSLESS_ALPHA_BYTES_PER_PIXEL 4.0
/* Margin over the sink's own reservation. */
#define WEBP_MARGIN_BYTES_PER_PIXEL 0.3

static bool webp_sniff(const uint8_t *head, size_t len)
{
    return len >= 12 && !memcmp(head, "RIFF", 4) && !memcmp(head + 8, "WEBP", 4);
}

static unsigned webp_shrink_factor(const lp_probe *p, uint32_t out_w, uint32_t out_h)
{
    return lp_webp_shrink_factor(p->width, p->height, out_w, out_h);
}

static uint64_t webp_decode_bytes(const lp_probe *p, const lp_plan *plan)
{
    bool alpha = p->components == 2 || p->components == 4;
    return lp_webp_decode_bytes(p->width, p->height, plan->decode_width, plan->decode_height,
                                alpha, p->progressive, p->file_bytes);
}

static double webp_bytes_per_pixel(const lp_encode_options *e, bool alpha)
{
    if (e->lossless)
        return WEBP_LOSSLESS_BYTES_PER_PIXEL + (alpha ? WEBP_LOSSLESS_ALPHA_BYTES_PER_PIXEL : 0.0);
    double q = e->quality < 0 ? LP_WEBP_DEFAULT_QUALITY : e->quality, b = webp_bytes[0];
    for (int i = 1; i < 6; i++)
        if (q > webp_quality[i - 1]) {
            double upto = q < webp_quality[i] ? q : webp_quality[i];
            b = webp_bytes[i - 1] + (webp_bytes[i] - webp_bytes[i - 1]) *
                                        (upto - webp_quality[i - 1]) /
                                        (webp_quality[i] - webp_quality[i - 1]);
        }
    return b + WEBP_YUV_BYTES_PER_PIXEL + WEBP_MARGIN_BYTES_PER_PIXEL +
           (alpha ? WEBP_ALPHA_BYTES_PER_PIXEL : 0.0);
}

static uint64_t webp_encode_bytes(const lp_probe *p, const lp_plan *plan,
                                  const lp_encode_options *opts)
{
    bool alpha = p->components == 2 || p->components == 4;
    double px = (double)plan->out_width * plan->out_height;
    return (uint64_t)(webp_bytes_per_pixel(opts, alpha) * px) +
           (opts->lossless ? WEBP_LOSSLESS_FIXED_BYTES : 0);
}

static lp_status webp_sink(lp_sink **out, lp_output *output, const lp_encode_options *opts,
                           const lp_plan *plan, lp_mem *mem, lp_error *err)
{
    (void)plan;
    return lp_webp_sink_new(out, output, opts, mem, err);
}

static bool webp_complete(int fd, uint64_t size)
{
    uint8_t head[12];
    if (!lp_file_read_at(fd, 0, head, 12))
        return false;
    uint64_t riff = lp_le32(head + 4);
    return riff + 8 == size || riff + 9 == size;  /* odd sizes may carry a pad byte */
}

static const char *const webp_extensions[] = {"webp", NULL};

const lp_format_desc lp_format_webp = {
    .id = LP_FILE_WEBP,
    .name = "webp",
    .extensions = webp_extensions,
    .sniff = webp_sniff,
    .source_new = lp_webp_source_new,
    .probe = lp_webp_probe_fd,
    .shrink_factor = webp_shrink_factor,
    .decode_bytes = webp_decode_bytes,
    .default_quality = LP_WEBP_DEFAULT_QUALITY,
    .encode_bytes = webp_encode_bytes,
    .sink_new = webp_sink,
    .output_complete = webp_complete,
};
