/*
 * heif_items.h - private: refuses a HEIF file whose primary image would send libheif 1.15
 * round a loop of item references, down a derivation it cannot bound ('iden', 'iovl', a
 * grid of grids) or deeper than real files go; see heif_items.c.
 */
#ifndef LP_HEIF_ITEMS_H
#define LP_HEIF_ITEMS_H

#include <stdbool.h>
#include <stdint.h>

#include "codec/heif_box.h"
#include "leanpix/mem.h"
#include "leanpix/status.h"

/* The grids a decode would allocate canvases for: the primary item when it is a grid and
 * the grids among the auxiliary images the walk reaches (an alpha grid). Real files have
 * one or two; more are refused (LP_ERR_UNSUPPORTED), so that each can be checked. */
#define LP_HEIF_MAX_GRIDS 4

/* What an item's data is coded in, where leanpix reads its stream headers. */
typedef enum lp_heif_coding {
    LP_HEIF_CODING_OTHER,
    LP_HEIF_CODING_HEVC,
    LP_HEIF_CODING_AV1,
} lp_heif_coding;

typedef struct lp_heif_coded_item {
    uint32_t id;
    lp_heif_coding coding;  /* hvc1: HEVC, av01: AV1 */
} lp_heif_coded_item;

typedef struct lp_heif_reached {
    char primary_type[4];                /* from its infe; four NULs when there is none */
    uint32_t grids[LP_HEIF_MAX_GRIDS];   /* item ids, the primary first when it is a grid */
    unsigned n_grids;
    /* The coded items the walk reached (the primary or its cells, alpha images or their
     * cells), by ascending id, in the caller's lp_mem (lp_heif_reached_release) */
    lp_heif_coded_item *coded;
    uint32_t n_coded;
} lp_heif_reached;

/* iinf and iref: the bodies of the meta box's boxes of those types (empty when absent);
 * primary: the pitm item; family: what the messages and labels call the file; the
 * tables are counted in mem (NULL: uncounted). LP_OK when the
 * walk from it finds nothing to refuse, or cannot start (no such item: libheif reports
 * that). *reached gets the primary item's type and the grids the walk reached, so that
 * the caller need not walk iinf and iref again; and the coded items reached, whose declared
 * sizes bound what the decoders may be asked to hold (heif_boxes.c). */
lp_status lp_heif_check_items(lp_span iinf, lp_span iref, uint32_t primary, lp_heif_family family,
                              lp_heif_reached *reached, lp_mem *mem, lp_error *err);

/* Gives back reached->coded (to the lp_mem given to lp_heif_check_items). */
void lp_heif_reached_release(lp_heif_reached *reached, lp_mem *mem);

#endif
