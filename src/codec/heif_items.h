/*
 * heif_items.h - private: refuses a HEIF file whose primary image would send libheif 1.15
 * round a loop of item references, down a derivation it cannot bound ('iden', 'iovl', a
 * grid of grids) or deeper than real files go; see heif_items.c.
 */
#ifndef LP_HEIF_ITEMS_H
#define LP_HEIF_ITEMS_H

#include <stdint.h>

#include "codec/heif_box.h"
#include "leanpix/mem.h"
#include "leanpix/status.h"

/* iinf and iref: the bodies of the meta box's boxes of those types (empty when absent);
 * primary: the pitm item; the tables are counted in mem (NULL: uncounted). LP_OK when the
 * walk from it finds nothing to refuse, or cannot start (no such item: libheif reports
 * that). *primary_type gets the primary item's type from its infe (four NULs when there
 * is no such item), so that the caller need not walk iinf again. */
lp_status lp_heif_check_items(lp_span iinf, lp_span iref, uint32_t primary,
                              char primary_type[4], lp_mem *mem, lp_error *err);

#endif
