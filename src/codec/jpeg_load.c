/*
 * jpeg_load.c - the JPEG source: libjpeg-turbo's scanline API behind an lp_stage.
 *
 * Creation reads only the header (jpeg_read_header): dimensions are checked against the
 * limits before any pixel buffer exists. The metadata (EXIF, XMP, ICC) is read by our own
 * APP1/APP2 marker processors straight into counted buffers this stage owns (libjpeg's
 * jpeg_save_markers would keep every such segment, however many, in its uncounted pools):
 * the first EXIF (dropped unless it is a TIFF stream), the first XMP, and the ICC chunks,
 * joined in sequence order at the end of the header, all under limits.max_metadata_bytes.
 * Metadata that cannot be kept is left out with a reason in info.meta.dropped; it never
 * fails the image. Decompression starts lazily at the first next(), so that
 * shrink() can still choose a DCT scale (1/2, 1/4, 1/8): libjpeg then computes only the
 * low-frequency coefficients, which is both faster and smaller than decoding and resizing.
 *
 * Input: a jpeg_source_mgr fed by lp_input_next_chunk(), so the compressed bytes are never
 * copied (MMAP mode hands libjpeg pointers into the mapping). Running out of input before
 * the last scanline is an error (LP_ERR_TRUNCATED), not libjpeg's default of padding with
 * gray rows (see src_at_end). A baseline file missing only its EOI is accepted.
 *
 * Errors: libjpeg reports through error_exit, which we make longjmp back into whichever of
 * our entry points called libjpeg; every entry point sets the jump target first. Warnings
 * that mean the pixels are wrong ("Corrupt JPEG data: bad Huffman code", "premature end of
 * data segment", resync, bad progression) are errors too. We tolerate only warnings that do
 * not change the pixels: unknown JFIF revision, unknown Adobe transform code, and
 * extraneous bytes between segments (common in camera files; libjpeg skips them and the
 * image data is intact), but at most limits.max_warnings of them: a stream made of
 * defects is refused.
 *
 * Work: every scan of a progressive file is a pass over the coefficients it covers, so a
 * progress monitor refuses a file once it begins scan limits.max_scans + 1 (djpeg's
 * -maxscans); libjpeg calls it between the pieces of input it absorbs.
 *
 * Colour: grayscale yields G8; YCbCr/RGB yield RGB8; CMYK/YCCK are decoded as CMYK and
 * turned into RGB8 strip by strip with the naive formula R = 255 (1-C)(1-K) (likewise G
 * from M, B from Y) on non-inverted ink values; files with an Adobe APP14 marker (what
 * Photoshop and ImageMagick write) store inverted values, which we undo first. No ICC
 * colour management: good enough for previews and thumbnails, not for print proofs.
 *
 * Memory: one strip buffer of STRIP_ROWS rows (4 bytes a pixel for CMYK, converted in
 * place), counted in the job's lp_mem. libjpeg's own working memory (tables and a few MCU
 * rows, ~16 rows of the output width per component) is reserved as an estimate; a progressive (or multi-scan) file makes it hold every DCT coefficient of
 * the image (2 bytes each, ~3 bytes a pixel for 4:2:0), so that case is reserved in the
 * job's lp_mem, reported in held_bytes and flagged whole_image.
 */
#include "jpeg_glue.h"
#include "codec/source_common.h"
#include "codec/source_meta.h"
#include "leanpix/codec.h"

#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

#define STRIP_ROWS 16u

static const char EXIF_HEADER[6] = {'E', 'x', 'i', 'f', 0, 0};
static const char XMP_HEADER[] = "http://ns.adobe.com/xap/1.0/";  /* + its NUL: 29 bytes */

/* ICC profiles over 64 KiB span several APP2 markers "ICC_PROFILE\0" + sequence number
 * (1-based) + count. Chunks are kept by sequence number until the header ends; any
 * inconsistency (count changes, number out of range or seen twice, one missing) drops
 * the whole profile, as libjpeg's jpeg_read_icc_profile does. */
typedef struct icc_chunks {
    uint8_t *data[256];
    uint16_t size[256];
    unsigned count;           /* markers announced by the first chunk; 0 = none seen */
    bool bogus;
} icc_chunks;

typedef struct jpeg_source {
    lp_stage base;
    lp_source_common common;  /* input, limits, metadata copies, reservation */
    struct jpeg_decompress_struct cinfo;
    struct jpeg_error_mgr jerr;
    struct jpeg_source_mgr src;
    lp_jpeg_failure failure;  /* libjpeg error_exit -> lp_status (jpeg_glue.h) */
    bool cinfo_ready;         /* jpeg_create_decompress was called */
    bool started;             /* jpeg_start_decompress was called */
    bool finished;
    bool header_read;         /* jpeg_read_header returned */
    bool multi_scan;          /* progressive or multi-scan: all input is read at start */
    bool ended;               /* the input ran out; libjpeg was given a fake EOI */
    bool exif_seen;           /* only the first EXIF segment counts */
    bool cmyk;                /* decoded as CMYK, converted to RGB per strip */
    bool inverted_cmyk;       /* Adobe APP14: stored ink values are inverted */
    uint8_t *strip;           /* STRIP_ROWS rows of row_bytes */
    size_t row_bytes;
    icc_chunks chunks;        /* APP2 ICC chunks as they arrive (common.icc: assembled) */
    uint8_t *filling;         /* a metadata buffer being read: a file that ends inside its
                                 segment longjmps out of read_bytes, and destroy frees it */
    unsigned warnings;        /* tolerated warnings so far, against limits.max_warnings */
    struct jpeg_progress_mgr progress;
} jpeg_source;

static jpeg_source *source_of(j_common_ptr cinfo)
{
    return (jpeg_source *)cinfo->client_data;
}

static lp_status status_for_code(int code)
{
    switch (code) {
    case JERR_OUT_OF_MEMORY:
        return LP_ERR_NOMEM;
    case JERR_IMAGE_TOO_BIG:
        return LP_ERR_LIMITS;
    case JERR_BAD_PRECISION:
    case JERR_ARITH_NOTIMPL:
    case JERR_CCIR601_NOTIMPL:
    case JERR_CONVERSION_NOTIMPL:
    case JERR_FRACT_SAMPLE_NOTIMPL:
    case JERR_NOTIMPL:
    case JERR_NOT_COMPILED:
    case JERR_EMPTY_IMAGE:
        return LP_ERR_UNSUPPORTED;
    default:
        return LP_ERR_CORRUPT;
    }
}

/* libjpeg's text with a lower-case first letter, as our messages read. */
static void fail_with_libjpeg_message(j_common_ptr cinfo, lp_status status)
{
    char text[JMSG_LENGTH_MAX];
    cinfo->err->format_message(cinfo, text);
    if (text[0] && isupper((unsigned char)text[0]) && !isupper((unsigned char)text[1]))
        text[0] = (char)tolower((unsigned char)text[0]);
    lp_jpeg_failure_raise(&source_of(cinfo)->failure, status, "%s", text);
}

static void on_error_exit(j_common_ptr cinfo)
{
    jpeg_source *s = source_of(cinfo);
    fail_with_libjpeg_message(cinfo, s->ended ? LP_ERR_TRUNCATED
                                              : status_for_code(cinfo->err->msg_code));
}

/* Warnings that leave the pixels intact; every other warning fails the decode. */
static bool harmless_warning(int code)
{
    return code == JWRN_JFIF_MAJOR || code == JWRN_ADOBE_XFORM || code == JWRN_BOGUS_ICC ||
           code == JWRN_EXTRANEOUS_DATA;
}

static void on_emit_message(j_common_ptr cinfo, int msg_level)
{
    jpeg_source *s = source_of(cinfo);
    if (msg_level >= 0)
        return;  /* trace messages */
    if (harmless_warning(cinfo->err->msg_code)) {
        if (!s->common.limits.max_warnings || ++s->warnings <= s->common.limits.max_warnings)
            return;  /* a warning we can live with, unless the stream is made of them */
        lp_jpeg_failure_raise(&s->failure, LP_ERR_LIMITS,
                           "JPEG data has more than %u recoverable defects, the limit",
                           s->common.limits.max_warnings);
    }
    if (s->ended || cinfo->err->msg_code == JWRN_JPEG_EOF) {
        j_decompress_ptr d = (j_decompress_ptr)cinfo;
        lp_jpeg_failure_raise(&s->failure, LP_ERR_TRUNCATED, "truncated JPEG data at scanline %u of %u", d->output_scanline,
             d->output_height);
    }
    fail_with_libjpeg_message(cinfo, LP_ERR_CORRUPT);
}

/* ---- the source manager: zero-copy chunks from lp_input ---- */

static void src_init(j_decompress_ptr cinfo)
{
    (void)cinfo;
}

static const JOCTET FAKE_EOI[2] = {0xFF, JPEG_EOI};

/* End of input. In the header, or in a multi-scan file (whose scans are all absorbed
 * before the first row, so a missing scan would only show as blur), that is truncation at
 * once; likewise for arithmetic coding, whose decoder pads missing data silently. In a
 * Huffman single-scan file we hand libjpeg a fake EOI, like its own source managers: if the
 * entropy decoder then still needs bits it warns "premature end of data segment", which
 * on_emit_message reports as truncation because ended is set; if it does not, only the
 * EOI was missing and every row is intact. */
static void src_at_end(jpeg_source *s)
{
    j_decompress_ptr cinfo = &s->cinfo;
    if (!s->header_read)
        lp_jpeg_failure_raise(&s->failure, LP_ERR_TRUNCATED, "truncated JPEG header");
    bool rows_done = s->started && cinfo->output_scanline >= cinfo->output_height;
    if (!rows_done && s->multi_scan)
        lp_jpeg_failure_raise(&s->failure, LP_ERR_TRUNCATED, "truncated JPEG data: the progressive scans are incomplete");
    if (!rows_done && cinfo->arith_code)
        lp_jpeg_failure_raise(&s->failure, LP_ERR_TRUNCATED, "truncated JPEG data at scanline %u of %u",
             cinfo->output_scanline, cinfo->output_height);
    s->ended = true;
    s->src.next_input_byte = FAKE_EOI;
    s->src.bytes_in_buffer = sizeof FAKE_EOI;
}

static boolean src_fill(j_decompress_ptr cinfo)
{
    jpeg_source *s = source_of((j_common_ptr)cinfo);
    const uint8_t *data;
    size_t len;
    lp_error e = {0};
    if (lp_input_next_chunk(s->common.in, &data, &len, &e) != LP_OK)
        lp_jpeg_failure_raise(&s->failure, e.status, "%s", lp_error_message(&e));
    if (len == 0) {
        src_at_end(s);
        return TRUE;
    }
    s->src.next_input_byte = data;
    s->src.bytes_in_buffer = len;
    return TRUE;
}

static void src_skip(j_decompress_ptr cinfo, long num_bytes)
{
    jpeg_source *s = source_of((j_common_ptr)cinfo);
    if (num_bytes <= 0)
        return;
    size_t left = (size_t)num_bytes;
    while (left > s->src.bytes_in_buffer) {
        left -= s->src.bytes_in_buffer;
        s->src.bytes_in_buffer = 0;
        src_fill(cinfo);  /* never suspends: it jumps, or supplies a fake EOI */
    }
    s->src.next_input_byte += left;
    s->src.bytes_in_buffer -= left;
}

static void src_term(j_decompress_ptr cinfo)
{
    (void)cinfo;
}

/* ---- header and metadata ---- */

/* One byte through the source manager (which never suspends: it jumps on failure). */
static unsigned next_byte(jpeg_source *s)
{
    if (s->src.bytes_in_buffer == 0)
        src_fill(&s->cinfo);
    s->src.bytes_in_buffer--;
    return *s->src.next_input_byte++;
}

static void read_bytes(jpeg_source *s, uint8_t *dst, size_t n)
{
    while (n > 0) {
        if (s->src.bytes_in_buffer == 0)
            src_fill(&s->cinfo);
        size_t take = n < s->src.bytes_in_buffer ? n : s->src.bytes_in_buffer;
        memcpy(dst, s->src.next_input_byte, take);
        s->src.next_input_byte += take;
        s->src.bytes_in_buffer -= take;
        dst += take;
        n -= take;
    }
}

static void note_dropped(jpeg_source *s, const char *why)
{
    lp_meta_note_dropped(&s->base, why);
}

static uint8_t *metadata_buffer(jpeg_source *s, size_t size, const char *what)
{
    return lp_meta_buffer(&s->base, s->common.limits.max_metadata_bytes,
                          &s->common.metadata_bytes, size, what);
}

static void release_metadata(jpeg_source *s, uint8_t **buf, size_t size)
{
    if (!*buf)
        return;
    lp_mem_release(s->base.mem, *buf);
    *buf = NULL;
    s->common.metadata_bytes -= size;
}

/* Reads the rest of an APPn segment (payload bytes after `have` already read) into a new
 * buffer, or skips it when no buffer can be had. */
static uint8_t *keep_payload(jpeg_source *s, size_t left, const char *what)
{
    uint8_t *buf = left ? metadata_buffer(s, left, what) : NULL;
    if (buf) {
        s->filling = buf;
        read_bytes(s, buf, left);
        s->filling = NULL;
    } else
        s->src.skip_input_data(&s->cinfo, (long)left);
    return buf;
}

static void keep_exif(jpeg_source *s, size_t left)
{
    lp_metadata *meta = &s->base.info.meta;
    uint8_t *exif = keep_payload(s, left, "JPEG EXIF copy");
    if (!exif)
        return;
    if (!lp_exif_is_tiff(exif, left)) {
        /* Encoders refuse a block that is not a TIFF stream (libavif: "Invalid Exif
         * payload"); the image is fine without it. */
        release_metadata(s, &exif, left);
        note_dropped(s, "EXIF block is truncated or not a TIFF stream");
        return;
    }
    s->common.exif = exif;
    meta->exif = exif;
    meta->exif_size = left;
}

static void keep_icc_chunk(jpeg_source *s, unsigned seq, unsigned count, size_t left)
{
    icc_chunks *c = &s->chunks;
    bool consistent = count > 0 && seq >= 1 && seq <= count && (!c->count || c->count == count) &&
                      !c->data[seq];
    if (c->bogus || !consistent || left == 0) {
        c->bogus = true;
        s->src.skip_input_data(&s->cinfo, (long)left);
        return;
    }
    c->count = count;
    c->data[seq] = keep_payload(s, left, "JPEG ICC chunk");
    c->size[seq] = (uint16_t)left;
    if (!c->data[seq])
        c->bogus = true;
}

/* Marker processor for APP1 (EXIF, XMP) and APP2 (ICC) in place of jpeg_save_markers:
 * libjpeg would keep every such segment in its own uncounted pools (a file of 30,000
 * APP1 segments is 2 GB); here only the first EXIF, the first XMP and the ICC chunks are
 * kept, in counted memory, under limits.max_metadata_bytes. Segments after the header
 * (between progressive scans) are skipped: the metadata was published already. */
static boolean read_app_segment(j_decompress_ptr cinfo)
{
    jpeg_source *s = source_of((j_common_ptr)cinfo);
    size_t length = next_byte(s) << 8;
    length |= next_byte(s);
    if (length < 2)
        lp_jpeg_failure_raise(&s->failure, LP_ERR_CORRUPT, "JPEG marker with a bad length (%zu)", length);
    size_t left = length - 2;
    uint8_t head[sizeof XMP_HEADER];
    size_t want = s->header_read ? 0 : left < sizeof head ? left : sizeof head;
    size_t have = 0;
    bool app1 = cinfo->unread_marker == JPEG_APP0 + 1;
    /* Read only as much of the head as can tell the kinds apart. */
    if (want >= sizeof EXIF_HEADER && app1) {
        read_bytes(s, head, sizeof EXIF_HEADER);
        have = sizeof EXIF_HEADER;
        if (memcmp(head, EXIF_HEADER, sizeof EXIF_HEADER) == 0) {
            if (!s->exif_seen)
                keep_exif(s, left - have);
            else
                s->src.skip_input_data(cinfo, (long)(left - have));
            s->exif_seen = true;
            return TRUE;
        }
        if (want == sizeof head) {
            read_bytes(s, head + have, sizeof head - have);
            have = sizeof head;
            if (memcmp(head, XMP_HEADER, sizeof XMP_HEADER) == 0 && !s->common.xmp) {
                s->common.xmp = keep_payload(s, left - have, "JPEG XMP copy");
                if (s->common.xmp) {
                    s->base.info.meta.xmp = s->common.xmp;
                    s->base.info.meta.xmp_size = left - have;
                }
                return TRUE;
            }
        }
    } else if (want >= 14 && !app1) {
        read_bytes(s, head, 14);
        have = 14;
        if (memcmp(head, "ICC_PROFILE", 12) == 0) {
            keep_icc_chunk(s, head[12], head[13], left - have);
            return TRUE;
        }
    }
    s->src.skip_input_data(cinfo, (long)(left - have));
    return TRUE;
}

/* Joins the ICC chunks in sequence order (linear in their total), or drops them all. */
static void assemble_icc(jpeg_source *s)
{
    icc_chunks *c = &s->chunks;
    size_t total = 0;
    for (unsigned i = 1; i <= c->count && !c->bogus; i++) {
        if (!c->data[i])
            c->bogus = true;
        else
            total += c->size[i];
    }
    if (!c->bogus && total > 0) {
        s->common.icc = lp_mem_alloc(s->base.mem, total, "JPEG ICC profile", NULL);
        if (s->common.icc) {
            size_t at = 0;
            for (unsigned i = 1; i <= c->count; i++) {
                memcpy(s->common.icc + at, c->data[i], c->size[i]);
                at += c->size[i];
            }
            s->base.info.meta.icc = s->common.icc;
            s->base.info.meta.icc_size = total;
        }
    }
    if (c->bogus)
        note_dropped(s, "ICC profile chunks are inconsistent or missing");
    for (unsigned i = 0; i < 256; i++)
        release_metadata(s, &c->data[i], c->size[i]);
}

/* Progress monitor: during jpeg_start_decompress libjpeg absorbs every scan of a
 * multi-scan file and calls this between pieces of work; input_scan_number counts the
 * scans begun so far (djpeg's -maxscans does the same). */
static void check_scans(j_common_ptr common)
{
    jpeg_source *s = source_of(common);
    j_decompress_ptr cinfo = (j_decompress_ptr)common;
    if (s->common.limits.max_scans && cinfo->input_scan_number > (int)s->common.limits.max_scans)
        lp_jpeg_failure_raise(&s->failure, LP_ERR_LIMITS,
                           "JPEG has more than %u progressive scans, the limit",
                           s->common.limits.max_scans);
}

/* Bytes of the whole-image coefficient buffer libjpeg allocates for multi-scan files:
 * per component, its blocks rounded up to whole MCUs, 64 coefficients of 2 bytes each
 * (jdcoefct.c). Zero for a single-scan file, which is decoded one MCU row at a time. */
static uint64_t coefficient_bytes(j_decompress_ptr cinfo)
{
    if (!jpeg_has_multiple_scans(cinfo))
        return 0;
    uint64_t total = 0;
    for (int c = 0; c < cinfo->num_components; c++) {
        const jpeg_component_info *comp = &cinfo->comp_info[c];
        uint64_t w = comp->width_in_blocks, h = comp->height_in_blocks;
        uint64_t hs = (uint64_t)comp->h_samp_factor, vs = (uint64_t)comp->v_samp_factor;
        w = (w + hs - 1) / hs * hs;
        h = (h + vs - 1) / vs * vs;
        total += w * h * DCTSIZE2 * sizeof(JCOEF);
    }
    return total;
}

static lp_status choose_output(jpeg_source *s, lp_error *err)
{
    j_decompress_ptr cinfo = &s->cinfo;
    switch (cinfo->jpeg_color_space) {
    case JCS_GRAYSCALE:
        cinfo->out_color_space = JCS_GRAYSCALE;
        s->base.info.format = LP_FORMAT_G8;
        return LP_OK;
    case JCS_YCbCr:
    case JCS_RGB:
        cinfo->out_color_space = JCS_RGB;
        s->base.info.format = LP_FORMAT_RGB8;
        return LP_OK;
    case JCS_CMYK:
    case JCS_YCCK:
        cinfo->out_color_space = JCS_CMYK;
        s->base.info.format = LP_FORMAT_RGB8;
        s->cmyk = true;
        s->inverted_cmyk = cinfo->saw_Adobe_marker;
        return LP_OK;
    default:
        return lp_error_set(err, LP_ERR_UNSUPPORTED, "JPEG with %d components in an unknown colour space",
                            cinfo->num_components);
    }
}

/* Everything after jpeg_read_header that may fail without libjpeg jumping. */
/* Stored samples per pixel over all components (1.5 for 4:2:0 YCbCr, 3 for 4:4:4): what a
 * multi-scan decode keeps as coefficients, and what the planner's probe reads. */
static double samples_per_pixel(j_decompress_ptr cinfo)
{
    double sum = 0;
    for (int c = 0; c < cinfo->num_components; c++)
        sum += (double)cinfo->comp_info[c].h_samp_factor * cinfo->comp_info[c].v_samp_factor /
               ((double)cinfo->max_h_samp_factor * cinfo->max_v_samp_factor);
    return sum;
}

static lp_status read_header(jpeg_source *s, const lp_limits *limits, lp_error *err)
{
    j_decompress_ptr cinfo = &s->cinfo;
    lp_status st = lp_limits_check(limits, cinfo->image_width, cinfo->image_height, err);
    if (st != LP_OK)
        return st;
    st = choose_output(s, err);
    if (st != LP_OK)
        return st;
    assemble_icc(s);
    s->base.info.meta.orientation =
        lp_exif_orientation(s->base.info.meta.exif, s->base.info.meta.exif_size);
    s->base.info.width = cinfo->image_width;
    s->base.info.height = cinfo->image_height;
    s->base.info.source_bit_depth = 8;
    s->base.info.source_progressive = jpeg_has_multiple_scans(cinfo);
    s->base.info.source_samples_per_pixel = samples_per_pixel(cinfo);
    uint64_t coefficients = coefficient_bytes(cinfo);
    if (coefficients) {
        st = lp_source_reserve(&s->base, &s->common, coefficients,
                               "JPEG coefficient buffer (progressive)", err);
        if (st != LP_OK)
            return st;
        s->base.held_bytes = (size_t)coefficients;
        s->base.whole_image = true;
    }
    return LP_OK;
}

/* ---- strips ---- */

/* In place, left to right: pixel x's RGB (3 bytes) never overtakes CMYK pixel x (4 bytes). */
static void cmyk_row_to_rgb(uint8_t *row, uint32_t width, bool inverted)
{
    for (uint32_t x = 0; x < width; x++) {
        const uint8_t *p = row + (size_t)x * 4;
        /* "Ink left out" values: 255 - ink, which is what inverted files store directly. */
        unsigned c = inverted ? p[0] : 255u - p[0];
        unsigned m = inverted ? p[1] : 255u - p[1];
        unsigned y = inverted ? p[2] : 255u - p[2];
        unsigned k = inverted ? p[3] : 255u - p[3];
        uint8_t *q = row + (size_t)x * 3;
        q[0] = (uint8_t)((c * k + 127) / 255);
        q[1] = (uint8_t)((m * k + 127) / 255);
        q[2] = (uint8_t)((y * k + 127) / 255);
    }
}

/* libjpeg's own working memory for the rows it keeps around (entropy and IDCT state,
 * upsampling context): measured with mallinfo2 on libjpeg-turbo 2.1.5 as ~20 KiB of tables
 * plus ~12 rows of the output width per component for 4:2:0 (8 for 4:4:4). */
static uint64_t working_bytes(const jpeg_source *s)
{
    return 32u * 1024u + (uint64_t)s->base.info.width * (uint64_t)s->cinfo.num_components * 16u;
}

static lp_status start(jpeg_source *s, lp_error *err)
{
    j_decompress_ptr cinfo = &s->cinfo;
    uint64_t working = working_bytes(s);
    lp_status st = lp_source_reserve(&s->base, &s->common, working, "libjpeg working buffers", err);
    if (st != LP_OK)
        return st;
    jpeg_start_decompress(cinfo);
    s->started = true;
    if (cinfo->output_width != s->base.info.width || cinfo->output_height != s->base.info.height)
        return lp_error_set(err, LP_ERR_INTERNAL, "libjpeg output is %ux%u, expected %ux%u",
                            cinfo->output_width, cinfo->output_height, s->base.info.width,
                            s->base.info.height);
    s->row_bytes = (size_t)cinfo->output_width * (size_t)cinfo->output_components;
    s->strip = lp_mem_alloc(s->base.mem, s->row_bytes * STRIP_ROWS, "JPEG strip buffer", err);
    return s->strip ? LP_OK : (err ? err->status : LP_ERR_NOMEM);
}

static lp_status fill_strip(jpeg_source *s, lp_strip *strip)
{
    j_decompress_ptr cinfo = &s->cinfo;
    uint32_t y = cinfo->output_scanline;
    uint32_t want = cinfo->output_height - y;
    if (want > STRIP_ROWS)
        want = STRIP_ROWS;
    uint32_t got = 0;
    while (got < want) {
        JSAMPROW rows[STRIP_ROWS];
        for (uint32_t r = got; r < want; r++)
            rows[r - got] = s->strip + (size_t)r * s->row_bytes;
        JDIMENSION n = jpeg_read_scanlines(cinfo, rows, want - got);
        if (n == 0)  /* cannot happen with a source that never suspends */
            lp_jpeg_failure_raise(&s->failure, LP_ERR_INTERNAL, "libjpeg returned no scanline at %u", y + got);
        got += n;
    }
    if (s->cmyk)
        for (uint32_t r = 0; r < got; r++)
            cmyk_row_to_rgb(s->strip + (size_t)r * s->row_bytes, cinfo->output_width,
                            s->inverted_cmyk);
    strip->data = s->strip;
    strip->stride = s->row_bytes;
    strip->y = y;
    strip->rows = got;
    return LP_OK;
}

static lp_status jpeg_next(lp_stage *self, lp_strip *strip, lp_error *err)
{
    jpeg_source *s = (jpeg_source *)self;
    if (s->failure.failed)
        return lp_jpeg_failure_report(&s->failure, err);
    if (setjmp(s->failure.jump))
        return lp_jpeg_failure_report(&s->failure, err);
    if (!s->started) {
        lp_status st = start(s, err);
        if (st != LP_OK) {
            s->failure.failed = true;
            s->failure.status = st;
            snprintf(s->failure.message, sizeof s->failure.message, "%s", err ? err->message : "");
            return st;
        }
    }
    if (s->cinfo.output_scanline < s->cinfo.output_height)
        return fill_strip(s, strip);
    if (!s->finished) {
        /* Reads up to EOI and frees libjpeg's image memory (the coefficient buffer) now. */
        jpeg_finish_decompress(&s->cinfo);
        s->finished = true;
    }
    strip->rows = 0;
    strip->y = s->cinfo.output_height;
    return LP_OK;
}

/* Applies the DCT scale the planner chose (formats/jpeg.c decides it from the header). */
static uint32_t jpeg_shrink(lp_stage *self, uint32_t factor)
{
    jpeg_source *s = (jpeg_source *)self;
    if (s->started || s->failure.failed)
        return 1;
    if (setjmp(s->failure.jump)) {
        s->failure.failed = false;  /* calc_output_dimensions only complains about state: keep 1:1 */
        s->cinfo.scale_denom = 1;
        return 1;
    }
    unsigned denom = factor >= 8 ? 8 : factor >= 4 ? 4 : factor >= 2 ? 2 : 1;
    s->cinfo.scale_num = 1;
    s->cinfo.scale_denom = denom;
    jpeg_calc_output_dimensions(&s->cinfo);
    self->info.width = s->cinfo.output_width;
    self->info.height = s->cinfo.output_height;
    return denom;
}

static void jpeg_destroy_stage(lp_stage *self)
{
    jpeg_source *s = (jpeg_source *)self;
    if (s->cinfo_ready)
        jpeg_destroy_decompress(&s->cinfo);
    for (unsigned i = 0; i < 256; i++)
        lp_mem_release(self->mem, s->chunks.data[i]);
    lp_mem_release(self->mem, s->strip);
    lp_mem_release(self->mem, s->filling);
    lp_source_free(self, &s->common);
}

static const lp_stage_ops jpeg_source_ops = {
    .name = "jpeg-load",
    .next = jpeg_next,
    .shrink = jpeg_shrink,
    .destroy = jpeg_destroy_stage,
};

static void setup_libjpeg(jpeg_source *s)
{
    s->cinfo.err = jpeg_std_error(&s->jerr);
    s->jerr.error_exit = on_error_exit;
    s->jerr.emit_message = on_emit_message;
    jpeg_create_decompress(&s->cinfo);
    s->cinfo.client_data = s;
    s->cinfo_ready = true;
    s->src.init_source = src_init;
    s->src.fill_input_buffer = src_fill;
    s->src.skip_input_data = src_skip;
    s->src.resync_to_restart = jpeg_resync_to_restart;
    s->src.term_source = src_term;
    s->cinfo.src = &s->src;
    jpeg_set_marker_processor(&s->cinfo, JPEG_APP0 + 1, read_app_segment);  /* EXIF, XMP */
    jpeg_set_marker_processor(&s->cinfo, JPEG_APP0 + 2, read_app_segment);  /* ICC chunks */
    s->progress.progress_monitor = check_scans;
    s->cinfo.progress = &s->progress;
}

/* Reads the header; on failure the caller destroys s (which closes the input). */
static lp_status open_header(jpeg_source *s, const lp_limits *limits, lp_error *err)
{
    if (setjmp(s->failure.jump))
        return lp_jpeg_failure_report(&s->failure, err);
    setup_libjpeg(s);
    jpeg_read_header(&s->cinfo, TRUE);
    s->header_read = true;
    s->multi_scan = jpeg_has_multiple_scans(&s->cinfo);
    return read_header(s, limits, err);
}

lp_status lp_jpeg_source_new(lp_stage **out, lp_input *in, const lp_limits *limits,
                             lp_mem *mem, lp_error *err)
{
    *out = NULL;
    jpeg_source *s = lp_source_alloc(sizeof *s, in, "a JPEG decoder", err);
    if (!s)
        return LP_ERR_NOMEM;
    lp_source_init(&s->base, &s->common, &jpeg_source_ops, LP_FILE_JPEG, in, limits, mem);
    lp_status st = open_header(s, &s->common.limits, err);
    if (st != LP_OK) {
        jpeg_destroy_stage(&s->base);
        return st;
    }
    *out = &s->base;
    return LP_OK;
}
