/*
 * heif_items.c - the items libheif would visit to decode a HEIF file's primary image,
 * checked before it does.
 *
 * libheif 1.15 follows item references by recursion, with no depth limit and no check for
 * loops beyond an item naming itself: a grid whose second cell is the grid, two grids each
 * other's cell, an image whose alpha image has it as its alpha, each make it recurse until
 * the stack overflows (found by fuzz_heif_source). An overlay ('iovl') gets a canvas of the
 * size its own data says, up to 32767x32767 RGB, whatever the item's declared size (also
 * found by the fuzzer: gigabytes from a 1 kB file). And every grid cell decodes its own
 * alpha image, so cells sharing one large alpha image multiply the work.
 *
 * So the graph libheif would walk is walked here first, once, from the primary item: a
 * grid leads to its cells (its 'dimg' references), any image to the auxiliary images that
 * name it ('auxl'). The file is refused when the walk
 *  - reaches an 'iden' or 'iovl' item (LP_ERR_UNSUPPORTED: leanpix reads single images and
 *    grids, which is what cameras and phones write);
 *  - finds a grid cell that is itself a derived image, or has auxiliary images of its own
 *    (LP_ERR_UNSUPPORTED: HEIF's grid cells are coded images, alpha belongs to the grid);
 *  - comes back to an item on its current path (LP_ERR_CORRUPT: a loop);
 *  - goes deeper than HEIF_MAX_DEPTH items (LP_ERR_CORRUPT: real files need 3: a grid, its
 *    alpha grid, that grid's cells);
 *  - reaches more than LP_HEIF_MAX_GRIDS grids (LP_ERR_UNSUPPORTED). The grids it reaches
 *    are handed back: libheif sizes each grid's canvas by the grid's own data, which the
 *    caller reads and checks (heif_boxes.c).
 * The boxes are read as libheif reads them (the first of each kind; iref's entries by
 * their contents, not their sizes), so that the walk sees the graph libheif will.
 * Each item and each reference is visited once (depth-first, with an explicit stack of at
 * most HEIF_MAX_DEPTH entries), items are found by id in a sorted table, so the work is
 * O(n log n) in the meta box and the tables take at most about twice its bytes (counted
 * in the job's lp_mem, freed before returning). References to items that are not there
 * are left to libheif, which reports them.
 */
#include "codec/heif_items.h"
#include "codec/heif_box.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define HEIF_MAX_DEPTH 8
#define NO_ITEM UINT32_MAX

enum { UNSEEN, ON_PATH, DONE };

typedef struct heif_item {
    uint32_t id;
    char type[4];
    uint32_t first, count;  /* its references out: edges[first .. first + count) */
    uint8_t state;
    bool has_aux;           /* some auxiliary image (auxl) names it */
} heif_item;

/* A reference out of an item: the index of the item it leads to; CELL_EDGE set when it
 * leads from a grid to one of its cells. */
#define CELL_EDGE 0x80000000u

/* Budget labels by family (lp_mem takes a plain string). */
static const char *const ITEM_TABLE_LABEL[] = {"HEIF item table", "AVIF item table"};
static const char *const ITEM_REFS_LABEL[] = {"HEIF item references", "AVIF item references"};

typedef struct item_graph {
    lp_mem *mem;
    lp_heif_family family;  /* what the messages and budget labels call the file */
    heif_item *items;
    uint32_t n_items;
    uint32_t *edges;
    uint32_t n_edges;
} item_graph;

static const char *family_name(const item_graph *g) { return lp_heif_family_name(g->family); }

static bool is_type(const char type[4], const char *name) { return !memcmp(type, name, 4); }

static bool is_derived(const char type[4])
{
    return is_type(type, "grid") || is_type(type, "iden") || is_type(type, "iovl");
}

static int by_id(const void *a, const void *b)
{
    uint32_t x = ((const heif_item *)a)->id, y = ((const heif_item *)b)->id;
    return x < y ? -1 : x > y;
}

static uint32_t find_item(const item_graph *g, uint32_t id)
{
    heif_item key = {.id = id};
    const heif_item *it = g->n_items ? bsearch(&key, g->items, g->n_items, sizeof *g->items, by_id)
                                     : NULL;
    return it ? (uint32_t)(it - g->items) : NO_ITEM;
}

static lp_status read_items(lp_span iinf, item_graph *g, lp_error *err)
{
    lp_span entries, in, e;
    char type[4];
    if (!lp_box_entries(iinf, iinf.n && iinf.p[0] == 0 ? 2 : 4, &entries))
        return LP_OK;
    in = entries;
    size_t n = 0;
    while (lp_next_box(&in, type, &e))
        n += is_type(type, "infe");
    if (n == 0)
        return LP_OK;
    g->items = lp_mem_calloc(g->mem, n * sizeof *g->items,
                             ITEM_TABLE_LABEL[g->family], err);
    if (!g->items)
        return err ? err->status : LP_ERR_NOMEM;
    in = entries;
    while (lp_next_box(&in, type, &e))
        if (is_type(type, "infe") && lp_read_infe(e, &g->items[g->n_items].id,
                                               g->items[g->n_items].type))
            g->n_items++;
    qsort(g->items, g->n_items, sizeof *g->items, by_id);
    for (uint32_t i = 1; i < g->n_items; i++)  /* libheif would keep the last of them */
        if (g->items[i].id == g->items[i - 1].id)
            return lp_error_set(err, LP_ERR_CORRUPT, "%s item %" PRIu32 " is declared twice",
                                family_name(g), g->items[i].id);
    return LP_OK;
}

/* Calls add(g, type, from, to) for each reference of iref (16-bit item ids in version
 * 0, 32-bit in version 1), read as libheif 1.15 reads them so that both see the same
 * references: one entry after the other, each a box header whose size is not used, the
 * from id, a count and the ids, until the data ends. Each entry takes at least 8 bytes. */
static void walk_references(lp_span iref, item_graph *g,
                            void (*add)(item_graph *, const char *, uint32_t, uint32_t))
{
    if (iref.n < 4)
        return;
    size_t id_bytes = iref.p[0] == 0 ? 2 : 4, at = 4;
    const uint8_t *p = iref.p;
    while (at + 8 <= iref.n) {
        char type[4];
        memcpy(type, p + at + 4, 4);
        at += 8 + (lp_be32(p + at) == 1 ? 8 : 0) + (is_type(type, "uuid") ? 16 : 0);
        if (at + id_bytes + 2 > iref.n)
            return;
        uint32_t from = id_bytes == 2 ? lp_be16(p + at) : lp_be32(p + at);
        size_t count = lp_be16(p + at + id_bytes);
        at += id_bytes + 2;
        for (size_t k = 0; k < count && at + id_bytes <= iref.n; k++, at += id_bytes)
            add(g, type, from, id_bytes == 2 ? lp_be16(p + at) : lp_be32(p + at));
    }
}

/* The edge a reference makes, as (owner item, target item, cell?); false when it makes
 * none: a dimg leads from a grid to a cell, an auxl from the image to its auxiliary. */
static bool edge_of(const item_graph *g, const char *type, uint32_t from, uint32_t to,
                    uint32_t *owner, uint32_t *target, bool *cell)
{
    uint32_t a = find_item(g, from), b = find_item(g, to);
    if (a == NO_ITEM || b == NO_ITEM)
        return false;
    if (is_type(type, "dimg") && is_derived(g->items[a].type)) {
        *owner = a, *target = b, *cell = is_type(g->items[a].type, "grid");
        return true;
    }
    if (is_type(type, "auxl")) {
        *owner = b, *target = a, *cell = false;
        return true;
    }
    return false;
}

static void count_edge(item_graph *g, const char *type, uint32_t from, uint32_t to)
{
    uint32_t owner, target;
    bool cell;
    if (!edge_of(g, type, from, to, &owner, &target, &cell))
        return;
    g->items[owner].count++;
    g->n_edges++;
    if (is_type(type, "auxl"))
        g->items[owner].has_aux = true;
}

static void store_edge(item_graph *g, const char *type, uint32_t from, uint32_t to)
{
    uint32_t owner, target;
    bool cell;
    if (!edge_of(g, type, from, to, &owner, &target, &cell))
        return;
    heif_item *it = &g->items[owner];
    g->edges[it->first + it->count++] = target | (cell ? CELL_EDGE : 0);
}

static lp_status read_edges(lp_span iref, item_graph *g, lp_error *err)
{
    walk_references(iref, g, count_edge);
    if (g->n_edges == 0)
        return LP_OK;
    g->edges = lp_mem_alloc(g->mem, (size_t)g->n_edges * sizeof *g->edges,
                            ITEM_REFS_LABEL[g->family],
                            err);
    if (!g->edges)
        return err ? err->status : LP_ERR_NOMEM;
    uint32_t first = 0;
    for (uint32_t i = 0; i < g->n_items; i++) {
        g->items[i].first = first;
        first += g->items[i].count;
        g->items[i].count = 0;
    }
    walk_references(iref, g, store_edge);
    return LP_OK;
}

/* What refuses an item the walk reaches (through a cell edge when cell). */
static lp_status check_reached(const item_graph *g, const heif_item *it, bool cell,
                               lp_error *err)
{
    if (is_type(it->type, "iden") || is_type(it->type, "iovl"))
        return lp_error_set(err, LP_ERR_UNSUPPORTED, "%s item %" PRIu32 " is a derived '%.4s'"
                            " image (leanpix reads single images and grids)", family_name(g),
                            it->id, it->type);
    if (cell && is_derived(it->type))
        return lp_error_set(err, LP_ERR_UNSUPPORTED, "%s grid cell %" PRIu32 " is itself a"
                            " '%.4s' image, not a coded one", family_name(g), it->id, it->type);
    if (cell && it->has_aux)
        return lp_error_set(err, LP_ERR_UNSUPPORTED, "%s grid cell %" PRIu32 " has auxiliary"
                            " images of its own", family_name(g), it->id);
    return LP_OK;
}

/* Keeps a grid the walk reached for the first time: libheif allocates a canvas for each,
 * sized by its own data, which the caller checks. */
static lp_status note_grid(const item_graph *g, const heif_item *it, lp_heif_reached *reached,
                           lp_error *err)
{
    if (!is_type(it->type, "grid"))
        return LP_OK;
    if (reached->n_grids == LP_HEIF_MAX_GRIDS)
        return lp_error_set(err, LP_ERR_UNSUPPORTED, "%s image has more than %d grids (item %"
                            PRIu32 "); real files have one, two with alpha", family_name(g),
                            LP_HEIF_MAX_GRIDS, it->id);
    reached->grids[reached->n_grids++] = it->id;
    return LP_OK;
}

/* One item on the walk's current path: which, and its next reference to follow. */
typedef struct path_step {
    uint32_t item, next;
} path_step;

static lp_status walk_from(item_graph *g, uint32_t start, lp_heif_reached *reached,
                           lp_error *err)
{
    path_step path[HEIF_MAX_DEPTH];
    unsigned depth = 0;
    lp_status st = check_reached(g, &g->items[start], false, err);
    if (st == LP_OK)
        st = note_grid(g, &g->items[start], reached, err);
    if (st != LP_OK)
        return st;
    g->items[start].state = ON_PATH;
    path[depth++] = (path_step){start, 0};
    while (depth) {
        heif_item *it = &g->items[path[depth - 1].item];
        if (path[depth - 1].next == it->count) {
            it->state = DONE;
            depth--;
            continue;
        }
        uint32_t edge = g->edges[it->first + path[depth - 1].next++];
        heif_item *to = &g->items[edge & ~CELL_EDGE];
        if (to->state == ON_PATH)
            return lp_error_set(err, LP_ERR_CORRUPT, "%s items %" PRIu32 " and %" PRIu32
                                " refer to each other in a loop", family_name(g), it->id, to->id);
        st = check_reached(g, to, (edge & CELL_EDGE) != 0, err);
        if (st != LP_OK)
            return st;
        if (to->state == DONE)
            continue;
        if (depth == HEIF_MAX_DEPTH)
            return lp_error_set(err, LP_ERR_CORRUPT, "%s item references nest deeper than %d",
                                family_name(g), HEIF_MAX_DEPTH);
        st = note_grid(g, to, reached, err);
        if (st != LP_OK)
            return st;
        to->state = ON_PATH;
        path[depth++] = (path_step){edge & ~CELL_EDGE, 0};
    }
    return LP_OK;
}

/* The ids of the coded items the walk reached, in the table's (ascending) order. */
static lp_status keep_coded(const item_graph *g, lp_heif_reached *reached, lp_error *err)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < g->n_items; i++)
        n += g->items[i].state != UNSEEN && !is_derived(g->items[i].type);
    if (n == 0)
        return LP_OK;
    reached->coded = lp_mem_alloc(g->mem, (size_t)n * sizeof *reached->coded,
                                  ITEM_TABLE_LABEL[g->family], err);
    if (!reached->coded)
        return err ? err->status : LP_ERR_NOMEM;
    for (uint32_t i = 0; i < g->n_items; i++)
        if (g->items[i].state != UNSEEN && !is_derived(g->items[i].type))
            reached->coded[reached->n_coded++] = (lp_heif_coded_item){
                g->items[i].id, is_type(g->items[i].type, "hvc1")   ? LP_HEIF_CODING_HEVC
                                : is_type(g->items[i].type, "av01") ? LP_HEIF_CODING_AV1
                                                                    : LP_HEIF_CODING_OTHER};
    return LP_OK;
}

lp_status lp_heif_check_items(lp_span iinf, lp_span iref, uint32_t primary, lp_heif_family family,
                              lp_heif_reached *reached, lp_mem *mem, lp_error *err)
{
    item_graph g = {.mem = mem, .family = family};
    memset(reached, 0, sizeof *reached);
    lp_status st = read_items(iinf, &g, err);
    if (st == LP_OK)
        st = read_edges(iref, &g, err);
    uint32_t start = st == LP_OK ? find_item(&g, primary) : NO_ITEM;
    if (start != NO_ITEM) {
        memcpy(reached->primary_type, g.items[start].type, 4);
        st = walk_from(&g, start, reached, err);
        if (st == LP_OK)
            st = keep_coded(&g, reached, err);
    }
    lp_mem_release(mem, g.items);
    lp_mem_release(mem, g.edges);
    return st;
}

void lp_heif_reached_release(lp_heif_reached *reached, lp_mem *mem)
{
    lp_mem_release(mem, reached->coded);
    reached->coded = NULL;
    reached->n_coded = 0;
}
