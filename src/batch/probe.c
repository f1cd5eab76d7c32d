/*
 * probe.c - the header facts the batch's memory model needs, read before a job is admitted.
 *
 * The scheduler has to know what a job will cost before it lets it start, and it must not
 * pay for that knowledge: opening a full decoder for 1,200 files up front would cost
 * decoder state per file. So this reads only the few bytes that matter with small preads
 * at known offsets: a JPEG's marker segments are skipped by their lengths up to the SOF
 * (which gives the size, the component sampling factors and whether it is progressive),
 * and a PNG's IHDR sits at a fixed offset. Memory: one 64-byte buffer on the stack.
 * Anything odd is reported as corrupt here; the real decoder gives the precise reason
 * when the job runs.
 */
#include "file_bytes.h"
#include "leanpix/batch.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


static bool is_sof(unsigned m)
{
    /* SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC). */
    return m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC;
}

static lp_status parse_sof(const uint8_t *seg, size_t len, unsigned marker, lp_batch_probe *p,
                           lp_error *err)
{
    if (len < 6)
        return lp_error_set(err, LP_ERR_CORRUPT, "JPEG frame header too short");
    p->bit_depth = seg[0] > 8 ? 16 : 8;
    p->height = file_be16(seg + 1);
    p->width = file_be16(seg + 3);
    p->components = seg[5];
    /* Progressive (C2, C6, CA, CE) and lossless/hierarchical frames keep coefficients. */
    p->progressive = marker == 0xC2 || marker == 0xC6 || marker == 0xCA || marker == 0xCE;
    if (p->components < 1 || p->components > 4 || len < 6 + 3u * p->components)
        return lp_error_set(err, LP_ERR_CORRUPT, "JPEG frame header has %u components",
                            p->components);
    unsigned hmax = 1, vmax = 1;
    for (unsigned c = 0; c < p->components; c++) {
        unsigned h = seg[6 + 3 * c + 1] >> 4, v = seg[6 + 3 * c + 1] & 15;
        hmax = h > hmax ? h : hmax;
        vmax = v > vmax ? v : vmax;
    }
    p->samples_per_pixel = 0;
    for (unsigned c = 0; c < p->components; c++) {
        unsigned h = seg[6 + 3 * c + 1] >> 4, v = seg[6 + 3 * c + 1] & 15;
        p->samples_per_pixel += (double)(h ? h : 1) * (v ? v : 1) / ((double)hmax * vmax);
    }
    if (p->width == 0 || p->height == 0)
        return lp_error_set(err, LP_ERR_CORRUPT, "JPEG size %ux%u", p->width, p->height);
    return LP_OK;
}

static lp_status probe_jpeg(int fd, lp_batch_probe *p, lp_error *err)
{
    uint64_t at = 2;
    for (unsigned segments = 0; segments < 1000; segments++) {
        uint8_t head[4];
        if (!file_read_at(fd, at, head, 2))
            return lp_error_set(err, LP_ERR_TRUNCATED, "JPEG ends before its frame header");
        if (head[0] != 0xFF)
            return lp_error_set(err, LP_ERR_CORRUPT, "JPEG marker expected at byte %llu",
                                (unsigned long long)at);
        unsigned marker = head[1];
        if (marker == 0xFF) {  /* fill byte */
            at += 1;
            continue;
        }
        if (marker == 0xD8 || (marker >= 0xD0 && marker <= 0xD7) || marker == 0x01) {
            at += 2;
            continue;
        }
        if (marker == 0xD9 || marker == 0xDA)
            return lp_error_set(err, LP_ERR_CORRUPT, "JPEG has no frame header before its data");
        if (!file_read_at(fd, at + 2, head + 2, 2))
            return lp_error_set(err, LP_ERR_TRUNCATED, "JPEG ends inside a marker");
        size_t len = file_be16(head + 2);
        if (len < 2)
            return lp_error_set(err, LP_ERR_CORRUPT, "JPEG marker length %zu", len);
        if (is_sof(marker)) {
            uint8_t seg[6 + 3 * 4];
            size_t want = len - 2 < sizeof seg ? len - 2 : sizeof seg;
            if (!file_read_at(fd, at + 4, seg, want))
                return lp_error_set(err, LP_ERR_TRUNCATED, "JPEG ends inside its frame header");
            p->format = LP_FILE_JPEG;
            return parse_sof(seg, want, marker, p, err);
        }
        at += 2 + len;
    }
    return lp_error_set(err, LP_ERR_CORRUPT, "JPEG has over 1000 segments before its frame");
}

static lp_status probe_png(int fd, lp_batch_probe *p, lp_error *err)
{
    uint8_t ihdr[25];
    if (!file_read_at(fd, 8, ihdr, sizeof ihdr))
        return lp_error_set(err, LP_ERR_TRUNCATED, "PNG ends before its header");
    if (memcmp(ihdr + 4, "IHDR", 4) || file_be32(ihdr) != 13)
        return lp_error_set(err, LP_ERR_CORRUPT, "PNG does not start with IHDR");
    p->format = LP_FILE_PNG;
    p->width = file_be32(ihdr + 8);
    p->height = file_be32(ihdr + 12);
    p->bit_depth = ihdr[16];
    static const unsigned channels_of_type[7] = {1, 0, 3, 1, 2, 0, 4};
    unsigned type = ihdr[17];
    p->components = type < 7 ? channels_of_type[type] : 0;
    if (type == 3)
        p->components = 4;  /* palette: expanded, maybe with tRNS alpha */
    p->samples_per_pixel = p->components;
    p->progressive = ihdr[20] == 1;  /* Adam7 */
    if (!p->components || p->width == 0 || p->height == 0)
        return lp_error_set(err, LP_ERR_CORRUPT, "PNG header: %ux%u, colour type %u",
                            p->width, p->height, type);
    return LP_OK;
}

lp_status lp_batch_probe_file(const char *path, lp_batch_probe *p, lp_error *err)
{
    memset(p, 0, sizeof *p);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return lp_error_set(err, LP_ERR_IO, "cannot open: %s", strerror(errno));
    struct stat sb;
    uint8_t magic[16];
    lp_status st;
    if (fstat(fd, &sb) != 0) {
        st = lp_error_set(err, LP_ERR_IO, "cannot stat: %s", strerror(errno));
    } else if (!S_ISREG(sb.st_mode)) {
        st = lp_error_set(err, LP_ERR_IO, "not a regular file");
    } else if (p->file_bytes = (uint64_t)sb.st_size, !file_read_at(fd, 0, magic, sizeof magic)) {
        st = lp_error_set(err, sb.st_size ? LP_ERR_TRUNCATED : LP_ERR_CORRUPT,
                          sb.st_size ? "file too short for an image" : "empty file");
    } else {
        switch (lp_file_format_sniff(magic, sizeof magic)) {
        case LP_FILE_JPEG: st = probe_jpeg(fd, p, err); break;
        case LP_FILE_PNG: st = probe_png(fd, p, err); break;
        default: st = lp_error_set(err, LP_ERR_UNSUPPORTED, "not a JPEG or PNG file"); break;
        }
    }
    close(fd);
    return st;
}
