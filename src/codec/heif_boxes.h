/*
 * heif_boxes.h - private: the few facts of a HEIF/AVIF file's primary image that memory
 * planning needs, read from its meta box with small reads (no decoder): stored size
 * (ispe), whether it is a grid, alpha, bit depth (pixi), irot/imir as an EXIF orientation.
 * Used by the AVIF/HEIF sources (to reserve what their decoder will hold) and by the
 * format descriptors' probes. The decoders themselves (libheif, libavif) remain the
 * authority on the file: this reader estimates, and fails only on what it needs (no meta,
 * no size) and on what libheif 1.15 cannot be trusted with (heif_items.c; a grid whose
 * ImageGrid data lies outside its box).
 */
#ifndef LP_HEIF_BOXES_H
#define LP_HEIF_BOXES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "leanpix/mem.h"
#include "leanpix/status.h"

typedef struct lp_heif_header {
    uint32_t width, height;  /* ispe of the primary item: as stored, before irot */
    bool grid;               /* the primary item is a 'grid' of coded cells */
    bool alpha;              /* an auxiliary alpha image is there */
    unsigned bit_depth;      /* pixi of the primary item (8 when absent) */
    unsigned chroma_samples; /* 0 unknown; else samples per pixel x 2 (4:2:0 = 3, 4:4:4 = 6) */
    int orientation;         /* irot/imir of the primary item as EXIF 1..8 */
    uint32_t clap_width, clap_height;  /* clean aperture of the primary item, 0 when none */
    /* A grid's own output size (its ImageGrid data), 0 when the primary is not a grid:
     * libheif 1.15 sizes the canvas by it, not by ispe, so the sources check it too. */
    uint32_t grid_width, grid_height;
    /* The same for the other grids the decode reaches (an alpha grid): the largest width
     * and the largest height among them, 0 when there are none. */
    uint32_t aux_grid_width, aux_grid_height;
    uint64_t meta_bytes;  /* the meta box's body */
    uint32_t grid_cells;  /* rows x columns of every grid the decode reaches, summed */
    /* The largest declared size (ispe, by width x height) among the coded items the decode
     * reaches: the primary or its cells, the alpha image or its cells; 0x0 when none has
     * one. The decoders are held to it (avif_load.c, heif_load.c), so it bounds each
     * picture: lp_heif_coded_pixels. */
    uint32_t coded_width, coded_height;
    /* The largest picture the sequence headers of those items declare (HEVC SPS units in
     * their hvcC boxes or data, AV1 sequence headers in their av1C or data: what the
     * decoders will allocate by), 0x0 when there is none. */
    uint32_t stream_width, stream_height;
    /* An SPS or AV1 sequence header among them could not be read: its size is unknown,
     * and the file is refused (lp_heif_check_streams). */
    bool stream_unreadable;
} lp_heif_header;

/* coded_width x coded_height of h: the largest picture a decoder is asked for. */
static inline uint64_t lp_heif_coded_pixels(const lp_heif_header *h)
{
    return (uint64_t)h->coded_width * h->coded_height;
}

/* Reads exactly len bytes at offset at into buf (false: error or end of file). */
typedef bool (*lp_heif_read_fn)(void *user, uint64_t at, void *buf, size_t len);

/* Fills h from the file's ftyp and meta boxes (size bytes in all). The meta box is read
 * whole into one buffer of at most max_meta bytes (0 = no limit), else LP_ERR_LIMITS;
 * that buffer and the item tables of heif_items.c (at most about twice its size) are
 * counted in mem (NULL: uncounted, for the probes, which plan before a job has a budget):
 * the sources pass limits.max_metadata_bytes (--max-metadata), the probes its default
 * LP_DEFAULT_MAX_METADATA_BYTES (8 MiB). Phones write a few kB; a grid of 256x256 cells
 * about 3 MB of item and property entries. Every top-level box header is read first,
 * and a file of more than 64 is refused (libheif keeps an object for each: the sources
 * call this before the libraries parse). */
lp_status lp_heif_read_header(lp_heif_read_fn read, void *user, uint64_t size, uint64_t max_meta,
                              lp_mem *mem, lp_heif_header *h, lp_error *err);

/* lp_heif_read_header on a file descriptor (pread; the offset is not moved): the probes'. */
lp_status lp_heif_read_header_fd(int fd, uint64_t size, uint64_t max_meta, lp_heif_header *h,
                                 lp_error *err);

/* Whether an ftyp box at head (len bytes of it seen) lists an AVIF brand (avif, avis)
 * among its compatible brands: a generic mif1/msf1 file is AVIF then, else HEIF. */
bool lp_heif_ftyp_lists_avif(const uint8_t *head, size_t len);

/* What the decoders hold at their peak (the bytes the sources reserve, and what the
 * format descriptors predict), from the header's facts; the constants and their
 * measurements are next to each function: src/codec/heif_load.c, avif_load.c.
 * chroma_samples as in lp_heif_header (0 = unknown: 4:4:4 assumed); grid_cells as there
 * (0: not a grid); coded_pixels as there (for a grid, each cell's picture; 0 = none). */
uint64_t lp_heif_decode_estimate(uint32_t width, uint32_t height, bool alpha, unsigned bit_depth,
                                 unsigned chroma_samples);
uint64_t lp_avif_decode_estimate(uint32_t stored_width, uint32_t stored_height, bool alpha,
                                 unsigned bit_depth, unsigned chroma_samples, uint32_t grid_cells,
                                 uint64_t coded_pixels);

/* LP_ERR_CORRUPT (the message naming family, "HEIF" or "AVIF") when the streams' sequence
 * headers declare a picture larger than the largest coded item's ispe (the image's when
 * none has one), beyond 64 pixels of coding padding a side: the decoders allocate by the
 * former, the reservation was made from the latter. Also when one of those headers could
 * not be read (h->stream_unreadable): its size is not known. */
lp_status lp_heif_check_streams(const lp_heif_header *h, const char *family, lp_error *err);

/* irot (anti-clockwise quarter turns, applied first) and imir (mode 0: top and bottom
 * exchanged, 1: left and right) as the EXIF orientation that shows the same picture. */
int lp_heif_orientation(unsigned irot_angle, bool mirror, unsigned imir_mode);

#endif
