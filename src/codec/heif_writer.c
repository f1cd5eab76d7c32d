/*
 * heif_writer.c - writes the HEIF container of an AVIF grid: ftyp, meta, mdat.
 *
 * Layout (item IDs in this order; in mdat the cells come first, as the caller's body
 * holds them, then the grid descriptions, Exif and XMP):
 *   1            the colour 'grid' item (primary), its data the ImageGrid struct
 *   2..n+1       the colour 'av01' cells, raster order, referenced by 'dimg' from 1
 *   n+2          the alpha 'grid' (if alpha), 'auxl' to 1, auxC alpha URN
 *   n+3..2n+2    the alpha 'av01' monochrome cells, 'dimg' from the alpha grid
 *   then         an 'Exif' item and an XMP 'mime' item, each 'cdsc' to 1
 * Properties are written once and shared through ipma: ispe (cell size for cells, output
 * size for grids), pixi, av1C (essential), colr nclx and colr prof, irot/imir (essential,
 * on the colour grid and the alpha grid, never on cells), auxC.
 *
 * Memory: the meta box is built in one buffer counted in the job's lp_mem (a few tens of
 * bytes per cell); the cells are written straight from the caller's buffers. All sizes
 * are known before writing, so iloc offsets are patched into the meta buffer before it is
 * written and nothing needs a seek. Files over 4 GiB get 64-bit iloc offsets and a
 * 64-bit mdat size.
 */
#include "codec/heif_writer.h"

#include <string.h>

/* ---- a growable byte buffer with box helpers ---- */

typedef struct box_buf {
    uint8_t *data;
    size_t len, cap;
    lp_mem *mem;
    lp_error *err;
    bool failed;
} box_buf;

static bool reserve(box_buf *b, size_t more)
{
    if (b->failed)
        return false;
    if (b->len + more <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more)
        cap *= 2;
    uint8_t *grown = lp_mem_realloc(b->mem, b->data, cap, "AVIF meta box", b->err);
    if (!grown) {
        b->failed = true;
        return false;
    }
    b->data = grown;
    b->cap = cap;
    return true;
}

static void put_bytes(box_buf *b, const void *p, size_t n)
{
    if (reserve(b, n)) {
        memcpy(b->data + b->len, p, n);
        b->len += n;
    }
}

static void put_be(box_buf *b, uint64_t v, unsigned bytes)
{
    uint8_t tmp[8];
    for (unsigned i = 0; i < bytes; i++)
        tmp[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
    put_bytes(b, tmp, bytes);
}

static void put_u8(box_buf *b, unsigned v) { put_be(b, v, 1); }
static void put_u16(box_buf *b, unsigned v) { put_be(b, v, 2); }
static void put_u32(box_buf *b, uint64_t v) { put_be(b, v, 4); }
static void put_4cc(box_buf *b, const char *t) { put_bytes(b, t, 4); }
static void put_str(box_buf *b, const char *s) { put_bytes(b, s, strlen(s) + 1); }

static size_t box_begin(box_buf *b, const char *type)
{
    size_t at = b->len;
    put_u32(b, 0);
    put_4cc(b, type);
    return at;
}

static size_t fullbox_begin(box_buf *b, const char *type, unsigned version, uint32_t flags)
{
    size_t at = box_begin(b, type);
    put_u32(b, (uint64_t)version << 24 | flags);
    return at;
}

static void box_end(box_buf *b, size_t at)
{
    if (b->failed)
        return;
    uint64_t size = b->len - at;
    for (int i = 0; i < 4; i++)
        b->data[at + (size_t)i] = (uint8_t)(size >> (24 - 8 * i));
}

/* ---- the item plan ---- */

typedef struct item_plan {
    uint32_t cells;                 /* per grid */
    uint16_t color_grid, first_color_cell;
    uint16_t alpha_grid, first_alpha_cell;  /* 0 when no alpha */
    uint16_t exif, xmp;             /* 0 when absent */
    uint32_t count;
    uint8_t grid_data[12];
    size_t grid_data_size;
} item_plan;

static void plan_items(const lp_heif_grid *g, item_plan *p)
{
    memset(p, 0, sizeof *p);
    p->cells = g->columns * g->rows;
    uint32_t next = 1;
    p->color_grid = (uint16_t)next++;
    p->first_color_cell = (uint16_t)next;
    next += p->cells;
    if (g->alpha) {
        p->alpha_grid = (uint16_t)next++;
        p->first_alpha_cell = (uint16_t)next;
        next += p->cells;
    }
    if (g->exif_size)
        p->exif = (uint16_t)next++;
    if (g->xmp_size)
        p->xmp = (uint16_t)next++;
    p->count = next - 1;

    /* ImageGrid: version 0, flags (bit 0: 32-bit output sizes), rows-1, columns-1, size */
    bool wide = g->width > 65535 || g->height > 65535;
    uint8_t *d = p->grid_data;
    d[0] = 0;
    d[1] = wide ? 1 : 0;
    d[2] = (uint8_t)(g->rows - 1);
    d[3] = (uint8_t)(g->columns - 1);
    unsigned field = wide ? 4 : 2;
    for (unsigned i = 0; i < field; i++) {
        d[4 + i] = (uint8_t)(g->width >> (8 * (field - 1 - i)));
        d[4 + field + i] = (uint8_t)(g->height >> (8 * (field - 1 - i)));
    }
    p->grid_data_size = 4 + 2 * field;
}

/* Where item id's data lies in mdat's payload: the cells in the body as the caller
 * placed them, then the small items in ID order after the body. */
static void item_location(const lp_heif_grid *g, const item_plan *p, uint32_t id,
                          uint64_t *offset, uint64_t *size)
{
    if (id >= p->first_color_cell && id < p->first_color_cell + p->cells) {
        *offset = g->color[id - p->first_color_cell].offset;
        *size = g->color[id - p->first_color_cell].size;
        return;
    }
    if (p->alpha_grid && id >= p->first_alpha_cell && id < p->first_alpha_cell + p->cells) {
        *offset = g->alpha[id - p->first_alpha_cell].offset;
        *size = g->alpha[id - p->first_alpha_cell].size;
        return;
    }
    uint64_t at = g->body_size;
    uint32_t small[4] = {p->color_grid, p->alpha_grid, p->exif, p->xmp};
    uint64_t sizes[4] = {p->grid_data_size, p->grid_data_size, 4 + (uint64_t)g->exif_size, g->xmp_size};
    for (int i = 0; i < 4; i++) {
        if (!small[i])
            continue;
        if (small[i] == id) {
            *offset = at;
            *size = sizes[i];
            return;
        }
        at += sizes[i];
    }
    *offset = *size = 0;
}

static uint64_t item_size(const lp_heif_grid *g, const item_plan *p, uint32_t id)
{
    uint64_t offset, size;
    item_location(g, p, id, &offset, &size);
    return size;
}

/* The small items after the body, in the order item_location() places them. */
static lp_status write_small_items(lp_output *out, const lp_heif_grid *g, const item_plan *p,
                                   lp_error *err)
{
    static const uint8_t exif_offset[4] = {0, 0, 0, 0};  /* exif_tiff_header_offset */
    lp_status st = lp_output_write(out, p->grid_data, p->grid_data_size, err);
    if (st == LP_OK && p->alpha_grid)
        st = lp_output_write(out, p->grid_data, p->grid_data_size, err);
    if (st == LP_OK && p->exif)
        st = lp_output_write(out, exif_offset, sizeof exif_offset, err);
    if (st == LP_OK && p->exif)
        st = lp_output_write(out, g->exif, g->exif_size, err);
    if (st == LP_OK && p->xmp)
        st = lp_output_write(out, g->xmp, g->xmp_size, err);
    return st;
}

/* ---- boxes ---- */

static void write_ftyp(box_buf *b, const lp_heif_grid *g)
{
    size_t at = box_begin(b, "ftyp");
    put_4cc(b, "avif");
    put_u32(b, 0);
    put_4cc(b, "avif");
    put_4cc(b, "mif1");
    put_4cc(b, "miaf");
    /* AVIF profiles: Baseline (MA1B) for 4:2:0, Advanced (MA1A) for 4:4:4; our cells stay
     * far inside the levels both allow. */
    put_4cc(b, g->yuv444 ? "MA1A" : "MA1B");
    box_end(b, at);
}

static void write_hdlr_pitm(box_buf *b, const item_plan *p)
{
    size_t at = fullbox_begin(b, "hdlr", 0, 0);
    put_u32(b, 0);
    put_4cc(b, "pict");
    put_u32(b, 0);
    put_u32(b, 0);
    put_u32(b, 0);
    put_str(b, "leanpix");
    box_end(b, at);
    at = fullbox_begin(b, "pitm", 0, 0);
    put_u16(b, p->color_grid);
    box_end(b, at);
}

/* iloc with one extent per item; returns where the first extent_offset field is. */
static size_t write_iloc(box_buf *b, const lp_heif_grid *g, const item_plan *p,
                         unsigned offset_size, size_t *entry_size)
{
    size_t at = fullbox_begin(b, "iloc", 0, 0);
    put_u8(b, offset_size << 4 | 4);  /* offset_size, length_size */
    put_u8(b, 0);                     /* base_offset_size, reserved */
    put_u16(b, p->count);
    size_t first_offset = 0;
    *entry_size = 2 + 2 + 2 + offset_size + 4;
    for (uint32_t id = 1; id <= p->count; id++) {
        put_u16(b, id);
        put_u16(b, 0);  /* data_reference_index: this file */
        put_u16(b, 1);  /* extent_count */
        if (id == 1)
            first_offset = b->len;
        put_be(b, 0, offset_size);  /* patched once the meta size is known */
        put_u32(b, item_size(g, p, id));
    }
    box_end(b, at);
    return first_offset;
}

/* hidden: the item is not meant to be shown on its own (grid cells), so readers that
 * list top-level images (libheif) skip it. */
static void write_infe(box_buf *b, uint32_t id, const char *type, const char *name,
                       const char *content_type, bool hidden)
{
    size_t at = fullbox_begin(b, "infe", 2, hidden ? 1 : 0);
    put_u16(b, id);
    put_u16(b, 0);  /* item_protection_index */
    put_4cc(b, type);
    put_str(b, name);
    if (content_type)
        put_str(b, content_type);
    box_end(b, at);
}

static void write_iinf(box_buf *b, const item_plan *p)
{
    size_t at = fullbox_begin(b, "iinf", 0, 0);
    put_u16(b, p->count);
    write_infe(b, p->color_grid, "grid", "Color", NULL, false);
    for (uint32_t i = 0; i < p->cells; i++)
        write_infe(b, p->first_color_cell + i, "av01", "Color", NULL, true);
    if (p->alpha_grid) {
        write_infe(b, p->alpha_grid, "grid", "Alpha", NULL, false);
        for (uint32_t i = 0; i < p->cells; i++)
            write_infe(b, p->first_alpha_cell + i, "av01", "Alpha", NULL, true);
    }
    if (p->exif)
        write_infe(b, p->exif, "Exif", "Exif", NULL, false);
    if (p->xmp)
        write_infe(b, p->xmp, "mime", "XMP", "application/rdf+xml", false);
    box_end(b, at);
}

static void write_reference(box_buf *b, const char *type, uint32_t from, uint32_t first_to,
                            uint32_t count)
{
    size_t at = box_begin(b, type);
    put_u16(b, from);
    put_u16(b, count);
    for (uint32_t i = 0; i < count; i++)
        put_u16(b, first_to + i);
    box_end(b, at);
}

static void write_iref(box_buf *b, const item_plan *p)
{
    size_t at = fullbox_begin(b, "iref", 0, 0);
    write_reference(b, "dimg", p->color_grid, p->first_color_cell, p->cells);
    if (p->alpha_grid) {
        write_reference(b, "dimg", p->alpha_grid, p->first_alpha_cell, p->cells);
        write_reference(b, "auxl", p->alpha_grid, p->color_grid, 1);
    }
    if (p->exif)
        write_reference(b, "cdsc", p->exif, p->color_grid, 1);
    if (p->xmp)
        write_reference(b, "cdsc", p->xmp, p->color_grid, 1);
    box_end(b, at);
}

/* Property indices in ipco (1-based; 0 = not written). */
typedef struct property_index {
    unsigned ispe_cell, ispe_grid, pixi_color, pixi_alpha, av1c_color, av1c_alpha;
    unsigned nclx, icc, irot, imir, auxc;
} property_index;

/* EXIF orientation -> irot angle (anti-clockwise quarter turns) and imir axis (0: top and
 * bottom exchanged, 1: left and right), rotation applied first, as HEIF defines. */
static void orientation_transform(int orientation, int *angle, int *axis)
{
    static const int angles[9] = {-1, -1, -1, 2, -1, 1, 3, 3, 1};
    static const int axes[9] = {-1, -1, 1, -1, 0, 0, -1, 0, -1};
    bool valid = orientation >= 1 && orientation <= 8;
    *angle = valid ? angles[orientation] : -1;
    *axis = valid ? axes[orientation] : -1;
}

static void write_ispe(box_buf *b, uint32_t w, uint32_t h)
{
    size_t at = fullbox_begin(b, "ispe", 0, 0);
    put_u32(b, w);
    put_u32(b, h);
    box_end(b, at);
}

static void write_pixi(box_buf *b, unsigned channels, unsigned depth)
{
    size_t at = fullbox_begin(b, "pixi", 0, 0);
    put_u8(b, channels);
    for (unsigned i = 0; i < channels; i++)
        put_u8(b, depth);
    box_end(b, at);
}

static void write_av1c(box_buf *b, const uint8_t av1c[4])
{
    size_t at = box_begin(b, "av1C");
    put_bytes(b, av1c, 4);
    box_end(b, at);
}

static void write_colour_properties(box_buf *b, const lp_heif_grid *g, property_index *ix,
                                    unsigned *n)
{
    size_t at = box_begin(b, "colr");
    put_4cc(b, "nclx");
    put_u16(b, g->color_primaries);
    put_u16(b, g->transfer);
    put_u16(b, g->matrix);
    put_u8(b, g->full_range ? 0x80 : 0);
    box_end(b, at);
    ix->nclx = ++*n;
    if (g->icc_size) {
        at = box_begin(b, "colr");
        put_4cc(b, "prof");
        put_bytes(b, g->icc, g->icc_size);
        box_end(b, at);
        ix->icc = ++*n;
    }
    int angle, axis;
    orientation_transform(g->orientation, &angle, &axis);
    if (angle >= 0) {
        at = box_begin(b, "irot");
        put_u8(b, (unsigned)angle);
        box_end(b, at);
        ix->irot = ++*n;
    }
    if (axis >= 0) {
        at = box_begin(b, "imir");
        put_u8(b, (unsigned)axis);
        box_end(b, at);
        ix->imir = ++*n;
    }
}

static void write_ipco(box_buf *b, const lp_heif_grid *g, property_index *ix)
{
    memset(ix, 0, sizeof *ix);
    unsigned n = 0;
    size_t at = box_begin(b, "ipco");
    write_ispe(b, g->cell_width, g->cell_height);
    ix->ispe_cell = ++n;
    write_ispe(b, g->width, g->height);
    ix->ispe_grid = ++n;
    write_pixi(b, 3, g->bit_depth);
    ix->pixi_color = ++n;
    write_av1c(b, g->color_av1c);
    ix->av1c_color = ++n;
    write_colour_properties(b, g, ix, &n);
    if (g->alpha) {
        write_pixi(b, 1, g->bit_depth);
        ix->pixi_alpha = ++n;
        write_av1c(b, g->alpha_av1c);
        ix->av1c_alpha = ++n;
        size_t aux = fullbox_begin(b, "auxC", 0, 0);
        put_str(b, "urn:mpeg:mpegB:cicp:systems:auxiliary:alpha");
        box_end(b, aux);
        ix->auxc = ++n;
    }
    box_end(b, at);
}

/* One ipma entry: the non-zero indices, with the essential bit where asked. */
static void put_association(box_buf *b, uint32_t id, const unsigned *props, const bool *essential,
                            unsigned count)
{
    unsigned used = 0;
    for (unsigned i = 0; i < count; i++)
        used += props[i] != 0;
    put_u16(b, id);
    put_u8(b, used);
    for (unsigned i = 0; i < count; i++)
        if (props[i])
            put_u8(b, (essential[i] ? 0x80u : 0) | props[i]);
}

static void write_ipma(box_buf *b, const item_plan *p, const property_index *ix)
{
    size_t at = fullbox_begin(b, "ipma", 0, 0);
    put_u32(b, p->cells * (p->alpha_grid ? 2 : 1) + 1 + (p->alpha_grid ? 1 : 0));
    const unsigned grid_props[] = {ix->ispe_grid, ix->pixi_color, ix->nclx, ix->icc, ix->irot, ix->imir};
    const bool grid_ess[] = {false, false, false, false, true, true};
    put_association(b, p->color_grid, grid_props, grid_ess, 6);
    const unsigned cell_props[] = {ix->ispe_cell, ix->pixi_color, ix->av1c_color, ix->nclx, ix->icc};
    const bool cell_ess[] = {false, false, true, false, false};
    for (uint32_t i = 0; i < p->cells; i++)
        put_association(b, p->first_color_cell + i, cell_props, cell_ess, 5);
    if (p->alpha_grid) {
        /* The alpha grid carries the primary's irot/imir too: libheif (and the HEIF
         * reading of auxiliary images) applies an alpha item's own transforms, and
         * drops alpha whose size does not match; libavif applies the colour item's to
         * both and ignores these (libavif issue 2831 settled on writing them). */
        const unsigned agrid_props[] = {ix->ispe_grid, ix->pixi_alpha, ix->auxc, ix->irot, ix->imir};
        const bool agrid_ess[] = {false, false, false, true, true};
        put_association(b, p->alpha_grid, agrid_props, agrid_ess, 5);
        const unsigned acell_props[] = {ix->ispe_cell, ix->pixi_alpha, ix->av1c_alpha, ix->auxc};
        const bool acell_ess[] = {false, false, true, false};
        for (uint32_t i = 0; i < p->cells; i++)
            put_association(b, p->first_alpha_cell + i, acell_props, acell_ess, 4);
    }
    box_end(b, at);
}

/* ---- the file ---- */

static lp_status check_grid(const lp_heif_grid *g, lp_error *err)
{
    if (g->columns < 1 || g->columns > 256 || g->rows < 1 || g->rows > 256)
        return lp_error_set(err, LP_ERR_INVALID_ARG, "a grid has 1..256 columns and rows, not %ux%u",
                            g->columns, g->rows);
    uint64_t items = (uint64_t)g->columns * g->rows * (g->alpha ? 2 : 1) + (g->alpha ? 2 : 1) +
                     (g->exif_size ? 1 : 0) + (g->xmp_size ? 1 : 0);
    if (items > LP_HEIF_MAX_ITEMS)
        return lp_error_set(err, LP_ERR_TOO_BIG,
                            "%ux%u cells%s need %llu items, more than an AVIF file holds (65535); "
                            "use larger cells", g->columns, g->rows, g->alpha ? " with alpha" : "",
                            (unsigned long long)items);
    return LP_OK;
}

lp_status lp_heif_write_grid(lp_output *out, const lp_heif_grid *g, lp_mem *mem, lp_error *err)
{
    lp_status st = check_grid(g, err);
    if (st != LP_OK)
        return st;
    item_plan plan;
    plan_items(g, &plan);
    uint64_t payload = g->body_size + plan.grid_data_size * (plan.alpha_grid ? 2 : 1) +
                       (plan.exif ? 4 + (uint64_t)g->exif_size : 0) + (plan.xmp ? g->xmp_size : 0);
    /* Past 4 GiB the offsets need 64 bits; the meta box itself stays far below 1 GiB. */
    bool large = payload > UINT32_MAX - (1ull << 30);
    unsigned offset_size = large ? 8 : 4;

    box_buf b = {.mem = mem, .err = err};
    write_ftyp(&b, g);
    size_t meta = fullbox_begin(&b, "meta", 0, 0);
    write_hdlr_pitm(&b, &plan);
    size_t entry_size;
    size_t first_offset = write_iloc(&b, g, &plan, offset_size, &entry_size);
    write_iinf(&b, &plan);
    write_iref(&b, &plan);
    size_t iprp = box_begin(&b, "iprp");
    property_index ix;
    write_ipco(&b, g, &ix);
    write_ipma(&b, &plan, &ix);
    box_end(&b, iprp);
    box_end(&b, meta);
    size_t mdat_header = large ? 16 : 8;
    if (!b.failed) {
        uint64_t mdat_data = b.len + mdat_header;
        for (uint32_t id = 1; id <= plan.count; id++) {
            uint8_t *field = b.data + first_offset + (size_t)(id - 1) * entry_size;
            uint64_t offset, size;
            item_location(g, &plan, id, &offset, &size);
            offset += mdat_data;
            for (unsigned i = 0; i < offset_size; i++)
                field[i] = (uint8_t)(offset >> (8 * (offset_size - 1 - i)));
        }
        if (large) {
            put_u32(&b, 1);
            put_4cc(&b, "mdat");
            put_be(&b, payload + 16, 8);
        } else {
            put_u32(&b, payload + 8);
            put_4cc(&b, "mdat");
        }
    }
    st = b.failed ? (err ? err->status : LP_ERR_NOMEM) : lp_output_write(out, b.data, b.len, err);
    lp_mem_release(mem, b.data);
    if (st == LP_OK)
        st = g->write_body(g->body_user, out, err);
    return st == LP_OK ? write_small_items(out, g, &plan, err) : st;
}
