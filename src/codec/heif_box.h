/*
 * heif_box.h - private: walking ISO BMFF boxes inside a buffer already read (a HEIF meta
 * box). A span is a view of bytes; next_box takes one child box off its front, its size
 * checked against what is left, so a walk over a span never reads outside it and ends
 * after at most n/8 boxes.
 */
#ifndef LP_HEIF_BOX_H
#define LP_HEIF_BOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "io/file_bytes.h"

/* What a reader's messages and budget labels call the file: to the reader an AVIF file is
 * a HEIF file, to its user it is not. An index into the tables of names and labels. */
typedef enum lp_heif_family { LP_HEIF_FAMILY_HEIF, LP_HEIF_FAMILY_AVIF } lp_heif_family;

static inline const char *lp_heif_family_name(lp_heif_family family)
{
    return family == LP_HEIF_FAMILY_AVIF ? "AVIF" : "HEIF";
}

typedef struct lp_span {
    const uint8_t *p;
    size_t n;
} lp_span;

/* The next child box of *in: its type and body; false at the end or on a bad size. */
static inline bool lp_next_box(lp_span *in, char type[4], lp_span *body)
{
    if (in->n < 8)
        return false;
    uint64_t size = lp_be32(in->p);
    size_t head = 8;
    if (size == 1) {
        if (in->n < 16)
            return false;
        size = (uint64_t)lp_be32(in->p + 8) << 32 | lp_be32(in->p + 12);
        head = 16;
    } else if (size == 0) {
        size = in->n;
    }
    if (size < head || size > in->n)
        return false;
    memcpy(type, in->p + 4, 4);
    body->p = in->p + head;
    body->n = (size_t)size - head;
    in->p += size;
    in->n -= (size_t)size;
    return true;
}

/* The entries of a full box after its version/flags and a count field of count_bytes
 * (2 or 4): false when the box is too short for them. */
static inline bool lp_box_entries(lp_span box, size_t count_bytes, lp_span *entries)
{
    size_t skip = 4 + count_bytes;
    if (box.n < skip)
        return false;
    *entries = (lp_span){box.p + skip, box.n - skip};
    return true;
}

/* One infe entry's item id and type (versions 2 and 3 carry item_type; false for others). */
static inline bool lp_read_infe(lp_span e, uint32_t *id, char type[4])
{
    if (e.n >= 12 && e.p[0] == 2) {
        *id = lp_be16(e.p + 4);
        memcpy(type, e.p + 8, 4);
        return true;
    }
    if (e.n >= 14 && e.p[0] == 3) {
        *id = lp_be32(e.p + 4);
        memcpy(type, e.p + 10, 4);
        return true;
    }
    return false;
}

#endif
