/*
 * heif_boxes.c - the primary image's planning facts from a HEIF/AVIF meta box.
 *
 * Top-level boxes are walked by their headers (8 or 16 bytes each, at most
 * HEIF_MAX_TOP_BOXES of them in all) to find 'meta', which is read whole into one
 * buffer of at most the caller's max_meta bytes (counted in the caller's lp_mem, freed
 * before returning). Inside it: pitm (the primary item), iinf/infe (its type: 'grid' or a
 * coded item), iprp/ipco (the properties, numbered from 1) and ipma (which properties
 * belong to which item): ispe, pixi, irot, imir of the primary; the largest ispe among
 * the coded items the decode reaches (heif_items.c lists them), and the largest picture
 * their hvcC's parameter sets declare (hevc_sps.c); auxC with an alpha URN on
 * any item means alpha; the first av1C/hvcC says the chroma subsampling (and the depth
 * when pixi is absent). iref
 * with iinf goes to heif_items.c, which refuses what libheif would follow without end.
 * Every length is checked against what contains it; every loop is bounded by the buffer
 * and walks it once (ipma and ipco are matched through bitmaps of property indices).
 * Each grid the decode reaches (the primary, an alpha grid) has its ImageGrid data read
 * through iloc (one walk for all of them): libheif sizes its canvases by that data, so a
 * grid whose data cannot be read where libheif would read it is refused here. The hvc1
 * and av01 items the decode reaches have their data's NAL units or OBUs walked (a second
 * walk of iloc; 4 kB read ahead, so one read for an item's headers) for sequence
 * parameter sets and sequence headers: the decoders allocate by the size the last one
 * says, wherever it is (hevc_sps.c, av1_obu.c).
 * The messages call the file AVIF when its ftyp lists an AVIF brand, HEIF otherwise.
 */
#include "codec/heif_boxes.h"
#include "codec/av1_obu.h"
#include "codec/heif_box.h"
#include "codec/heif_items.h"
#include "codec/hevc_sps.h"
#include "io/file_bytes.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* libheif 1.15 keeps an object for every top-level box it reads, to the end of the file
 * (about 120 bytes each: 20 million 8-byte boxes in a 160 MB file made it hold 2.4 GB);
 * real files have ftyp, meta, mdat and perhaps a free box. */
#define HEIF_MAX_TOP_BOXES 64

/* Where the reader reads, and what its messages call the file: AVIF when its ftyp lists an
 * AVIF brand (lp_heif_family). */
typedef struct box_reader {
    lp_heif_read_fn read;
    void *user;
    uint64_t size;
    lp_heif_family family;
} box_reader;

static const char *family_name(const box_reader *r)
{
    return lp_heif_family_name(r->family);
}

typedef struct meta_facts {
    uint32_t primary;
    bool have_primary;
    lp_span ipco, ipma, iinf, iref, iloc, idat;
} meta_facts;

/* Keeps the first box of a kind, as libheif does (it asks for the first child of each). */
static void keep_first(lp_span *kept, lp_span body)
{
    if (!kept->p)
        *kept = body;
}

static void scan_meta(lp_span meta, meta_facts *f)
{
    char type[4];
    lp_span body, iprp = {0}, pitm = {0};
    while (lp_next_box(&meta, type, &body)) {
        if (!memcmp(type, "pitm", 4))
            keep_first(&pitm, body);
        else if (!memcmp(type, "iinf", 4))
            keep_first(&f->iinf, body);
        else if (!memcmp(type, "iref", 4))
            keep_first(&f->iref, body);
        else if (!memcmp(type, "iloc", 4))
            keep_first(&f->iloc, body);
        else if (!memcmp(type, "idat", 4))
            keep_first(&f->idat, body);
        else if (!memcmp(type, "iprp", 4))
            keep_first(&iprp, body);
    }
    lp_span child;
    while (lp_next_box(&iprp, type, &child)) {
        if (!memcmp(type, "ipco", 4))
            keep_first(&f->ipco, child);
        else if (!memcmp(type, "ipma", 4))
            keep_first(&f->ipma, child);
    }
    if (pitm.n >= 6 && (pitm.p[0] == 0 || pitm.n >= 8)) {
        f->primary = pitm.p[0] == 0 ? lp_be16(pitm.p + 4) : lp_be32(pitm.p + 4);
        f->have_primary = true;
    }
}

static bool is_alpha_urn(lp_span body)
{
    static const char *const urns[] = {"urn:mpeg:mpegB:cicp:systems:auxiliary:alpha",
                                       "urn:mpeg:hevc:2015:auxid:1"};
    if (body.n < 5)
        return false;
    const char *s = (const char *)body.p + 4;
    size_t len = body.n - 4;
    for (size_t i = 0; i < sizeof urns / sizeof urns[0]; i++) {
        size_t n = strlen(urns[i]);
        if (len >= n && !memcmp(s, urns[i], n))
            return true;
    }
    return false;
}

/* A stream size a decoder will allocate by, kept when it is the largest yet. */
static void note_stream(lp_heif_header *h, uint32_t width, uint32_t height)
{
    if ((uint64_t)width * height > (uint64_t)h->stream_width * h->stream_height) {
        h->stream_width = width;
        h->stream_height = height;
    }
}

/* An AV1 sequence header's frame size into h's stream size; one that cannot be read
 * marks h->stream_unreadable. */
static void note_av1_sequence(lp_heif_header *h, const uint8_t *payload, size_t n)
{
    uint32_t w, ht;
    if (lp_av1_sequence_size(payload, n, &w, &ht))
        note_stream(h, w, ht);
    else
        h->stream_unreadable = true;
}

/* The sequence headers among a run of whole AV1 OBUs. */
static void note_av1_headers(lp_heif_header *h, const uint8_t *p, size_t n)
{
    lp_obu obu;
    for (size_t at = 0; at < n && lp_av1_next_obu(p + at, n - at, &obu); at += obu.total)
        if (obu.type == LP_OBU_SEQUENCE_HEADER)
            note_av1_sequence(h, obu.payload, obu.payload_size);
}

static void apply_property(const char type[4], lp_span b, bool primary, bool coded,
                           lp_heif_header *h, unsigned *irot, bool *mirror, unsigned *imir,
                           bool *have_pixi)
{
    if (!memcmp(type, "auxC", 4) && is_alpha_urn(b))
        h->alpha = true;
    if (coded && !memcmp(type, "ispe", 4) && b.n >= 12) {
        uint32_t w = lp_be32(b.p + 4), ht = lp_be32(b.p + 8);
        if ((uint64_t)w * ht > lp_heif_coded_pixels(h)) {
            h->coded_width = w;
            h->coded_height = ht;
        }
    }
    uint32_t w, sps_h;
    if (coded && !memcmp(type, "hvcC", 4) &&
        lp_hevc_config_largest_sps(b.p, b.n, &w, &sps_h, &h->stream_unreadable))
        note_stream(h, w, sps_h);
    if (coded && !memcmp(type, "av1C", 4) && b.n > 4)  /* configOBUs, which libheif prepends */
        note_av1_headers(h, b.p + 4, b.n - 4);
    if (!primary)
        return;
    if (!memcmp(type, "ispe", 4) && b.n >= 12) {
        h->width = lp_be32(b.p + 4);
        h->height = lp_be32(b.p + 8);
    } else if (!memcmp(type, "pixi", 4) && b.n >= 6 && b.p[4] > 0) {
        h->bit_depth = b.p[5];
        *have_pixi = true;
    } else if (!memcmp(type, "clap", 4) && b.n >= 16) {
        /* width and height as fractions N/D (the offsets do not change the size) */
        uint32_t wn = lp_be32(b.p), wd = lp_be32(b.p + 4);
        uint32_t hn = lp_be32(b.p + 8), hd = lp_be32(b.p + 12);
        if (wd && hd) {
            h->clap_width = wn / wd;
            h->clap_height = hn / hd;
        }
    } else if (!memcmp(type, "irot", 4) && b.n >= 1) {
        *irot = b.p[0] & 3u;
    } else if (!memcmp(type, "imir", 4) && b.n >= 1) {
        *mirror = true;
        *imir = b.p[0] & 1u;
    }
}

/* Property indices are 15 bits at most (ipma): one bit per index. */
#define HEIF_PROPERTY_INDICES 32768u

static void mark(uint8_t *bits, unsigned i) { bits[i >> 3] |= (uint8_t)(1u << (i & 7u)); }
static bool marked(const uint8_t *bits, unsigned i) { return bits[i >> 3] >> (i & 7u) & 1u; }

static int by_coded_id(const void *a, const void *b)
{
    uint32_t x = ((const lp_heif_coded_item *)a)->id, y = ((const lp_heif_coded_item *)b)->id;
    return x < y ? -1 : x > y;
}

/* The coded item the decode reaches with this id, or NULL. */
static const lp_heif_coded_item *coded_item(const lp_heif_reached *reached, uint64_t id)
{
    lp_heif_coded_item key = {.id = (uint32_t)id};
    if (id > UINT32_MAX || reached->n_coded == 0)
        return NULL;
    return bsearch(&key, reached->coded, reached->n_coded, sizeof *reached->coded, by_coded_id);
}

/* Which properties (1-based ipco indices) the primary, the coded items the decode reaches
 * and the items in all are associated with, from one walk over ipma. */
static void mark_associations(lp_span m, uint32_t primary, const lp_heif_reached *reached,
                              uint8_t *of_primary, uint8_t *of_coded, uint8_t *of_any)
{
    if (m.n < 8)
        return;
    unsigned version = m.p[0];
    bool wide_index = (m.p[3] & 1u) != 0;
    uint32_t entries = lp_be32(m.p + 4);
    size_t at = 8, id_bytes = version < 1 ? 2 : 4;
    for (uint32_t e = 0; e < entries && at + id_bytes + 1 <= m.n; e++) {
        uint32_t id = id_bytes == 2 ? lp_be16(m.p + at) : lp_be32(m.p + at);
        unsigned count = m.p[at + id_bytes];
        bool coded = coded_item(reached, id) != NULL;
        at += id_bytes + 1;
        for (unsigned k = 0; k < count && at + (wide_index ? 2 : 1) <= m.n; k++) {
            unsigned index = wide_index ? lp_be16(m.p + at) & 0x7fffu : m.p[at] & 0x7fu;
            at += wide_index ? 2 : 1;
            mark(of_any, index);
            if (id == primary)
                mark(of_primary, index);
            if (coded)
                mark(of_coded, index);
        }
    }
}

/* The properties of every item (alpha on any; the largest ispe on the coded items the
 * decode reaches; the rest on the primary): ipma once (each entry's id found by bisection
 * among the coded items), then ipco once, so that the work is O(n log n) however many
 * entries name however many properties. */
static void read_associations(const meta_facts *f, const lp_heif_reached *reached,
                              lp_heif_header *h, bool *have_pixi)
{
    uint8_t of_primary[HEIF_PROPERTY_INDICES / 8] = {0}, of_coded[HEIF_PROPERTY_INDICES / 8] = {0},
            of_any[HEIF_PROPERTY_INDICES / 8] = {0};
    mark_associations(f->ipma, f->primary, reached, of_primary, of_coded, of_any);
    unsigned irot = 0, imir = 0;
    bool mirror = false;
    lp_span in = f->ipco, body;
    char type[4];
    for (unsigned i = 1; i < HEIF_PROPERTY_INDICES && lp_next_box(&in, type, &body); i++)
        if (marked(of_any, i))
            apply_property(type, body, marked(of_primary, i), marked(of_coded, i), h, &irot,
                           &mirror, &imir, have_pixi);
    h->orientation = lp_heif_orientation(irot, mirror, imir);
}

/* Chroma and depth of the coded cells from the first av1C or hvcC. */
static void read_codec_config(const meta_facts *f, lp_heif_header *h, bool have_pixi)
{
    lp_span in = f->ipco, b;
    char type[4];
    while (lp_next_box(&in, type, &b)) {
        if (!memcmp(type, "av1C", 4) && b.n >= 3) {
            uint8_t c = b.p[2];
            bool mono = c & 0x10, sx = c & 0x08, sy = c & 0x04;
            h->chroma_samples = mono ? 2 : sx && sy ? 3 : sx ? 4 : 6;
            if (!have_pixi)
                h->bit_depth = c & 0x40 ? (c & 0x20 ? 12 : 10) : 8;
            return;
        }
        if (!memcmp(type, "hvcC", 4) && b.n >= 18) {
            static const unsigned samples[4] = {2, 3, 4, 6};
            h->chroma_samples = samples[b.p[16] & 3u];
            if (!have_pixi)
                h->bit_depth = 8 + (b.p[17] & 7u);
            return;
        }
    }
}

/* An unsigned big-endian field of n (0, 4 or 8) bytes at *at of s, advancing *at. */
static bool field(lp_span s, size_t *at, unsigned n, uint64_t *v)
{
    if (n != 0 && n != 4 && n != 8)
        return false;
    if (*at + n > s.n)
        return false;
    *v = 0;
    for (unsigned i = 0; i < n; i++)
        *v = *v << 8 | s.p[*at + i];
    *at += n;
    return true;
}

/* The first extent of an item (iloc): where its data begins and how many bytes of it are
 * there, in idat (construction method 1) or in the file (0). */
typedef struct item_extent {
    bool found, in_idat, other_method;
    uint64_t offset, length;
} item_extent;

/* A walk of iloc: its field sizes, then one item entry after the other, each followed by
 * its extents (read with iloc_extent before the next iloc_item). */
typedef struct iloc_walk {
    lp_span l;
    size_t at;
    unsigned version, offset_size, length_size, base_size, index_size;
    uint64_t items, items_read;
} iloc_walk;

/* The fields of the current item entry. */
typedef struct iloc_item {
    uint64_t id, base, extents;
    unsigned method;  /* construction method: 0 file, 1 idat, 2 item */
} iloc_item;

static bool iloc_start(lp_span l, iloc_walk *w)
{
    if (l.n < 8)
        return false;
    *w = (iloc_walk){.l = l, .at = 6, .version = l.p[0]};
    w->offset_size = l.p[4] >> 4, w->length_size = l.p[4] & 15u;
    w->base_size = l.p[5] >> 4, w->index_size = w->version >= 1 ? l.p[5] & 15u : 0;
    if (w->version < 2) {
        w->items = lp_be16(l.p + w->at);
        w->at += 2;
        return true;
    }
    return field(l, &w->at, 4, &w->items);
}

/* The next item entry into *it; false at the end or when iloc is cut short (*cut). */
static bool iloc_item_next(iloc_walk *w, iloc_item *it, bool *cut)
{
    lp_span l = w->l;
    *cut = true;
    if (w->items_read == w->items) {
        *cut = false;
        return false;
    }
    w->items_read++;
    if (w->version < 2) {
        if (w->at + 2 > l.n)
            return false;
        it->id = lp_be16(l.p + w->at);
        w->at += 2;
    } else if (!field(l, &w->at, 4, &it->id)) {
        return false;
    }
    it->method = 0;
    if (w->version >= 1) {
        if (w->at + 2 > l.n)
            return false;
        it->method = lp_be16(l.p + w->at) & 15u;
        w->at += 2;
    }
    w->at += 2;  /* data_reference_index */
    if (w->at > l.n || !field(l, &w->at, w->base_size, &it->base) || w->at + 2 > l.n)
        return false;
    it->extents = lp_be16(l.p + w->at);
    w->at += 2;
    *cut = false;
    return true;
}

/* The current item's next extent (offset relative to the item's base); false when cut. */
static bool iloc_extent(iloc_walk *w, uint64_t *offset, uint64_t *length)
{
    uint64_t index;
    return field(w->l, &w->at, w->index_size, &index) &&
           field(w->l, &w->at, w->offset_size, offset) &&
           field(w->l, &w->at, w->length_size, length);
}

/* The first extents of the n items ids[] (n <= LP_HEIF_MAX_GRIDS), out[] in the same
 * order, from one walk of iloc; false when iloc cannot be read to the end of what it
 * declares. */
static bool first_extents(lp_span l, const uint32_t *ids, unsigned n, item_extent *out)
{
    iloc_walk w;
    iloc_item it;
    bool cut;
    if (!iloc_start(l, &w))
        return false;
    while (iloc_item_next(&w, &it, &cut)) {
        for (uint64_t e = 0; e < it.extents; e++) {
            uint64_t off, len;
            if (!iloc_extent(&w, &off, &len))
                return false;
            for (unsigned k = 0; k < n && e == 0; k++)
                if (it.id == ids[k] && !out[k].found)  /* libheif keeps the first entry too */
                    out[k] = (item_extent){true, it.method == 1, it.method > 1, it.base + off,
                                           len};
        }
    }
    return !cut;
}

/* ---- the sequence headers inside the items' data ---- */

/* An item's data as libheif 1.15 reads it: its extents one after the other, in the file
 * (construction method 0) or in idat (1); each clamped to what is there (libheif refuses
 * the rest before decoding). */
#define ITEM_READ_AHEAD 4096u

typedef struct item_stream {
    const box_reader *r;
    lp_span idat;
    iloc_walk *w;
    iloc_item it;
    uint64_t off, left;  /* the current extent: where, and the bytes left in it */
    /* the file's bytes [ahead_at, ahead_at + ahead_n), read ahead within an extent, so that
     * an item's headers (a few bytes at a time) cost one read */
    uint8_t ahead[ITEM_READ_AHEAD];
    uint64_t ahead_at;
    size_t ahead_n;
} item_stream;

/* n bytes of the file at off (within the current extent) into buf. */
static bool stream_file_read(item_stream *s, uint64_t off, uint8_t *buf, size_t n)
{
    if (off < s->ahead_at || off - s->ahead_at + n > s->ahead_n) {
        uint64_t want = s->left < ITEM_READ_AHEAD ? s->left : ITEM_READ_AHEAD;
        if (want < n)
            return s->r->read(s->r->user, off, buf, n);
        if (!s->r->read(s->r->user, off, s->ahead, (size_t)want))
            return false;
        s->ahead_at = off;
        s->ahead_n = (size_t)want;
    }
    memcpy(buf, s->ahead + (off - s->ahead_at), n);
    return true;
}

static bool stream_extent(item_stream *s)
{
    while (s->left == 0) {
        uint64_t off, len;
        if (s->it.extents == 0 || !iloc_extent(s->w, &off, &len))
            return false;
        s->it.extents--;
        uint64_t room = s->it.method == 1 ? s->idat.n : s->r->size;
        if (off > UINT64_MAX - s->it.base || s->it.base + off > room)
            continue;
        s->off = s->it.base + off;
        s->left = len < room - s->off ? len : room - s->off;
    }
    return true;
}

/* Reads n bytes (n > 0) on through the extents into buf, or skips them when buf is NULL;
 * false when the data ends first. */
static bool stream_take(item_stream *s, uint8_t *buf, uint64_t n)
{
    while (n > 0) {
        if (!stream_extent(s))
            return false;
        uint64_t part = n < s->left ? n : s->left;
        if (buf && s->it.method == 1)
            memcpy(buf, s->idat.p + s->off, (size_t)part);
        else if (buf && !stream_file_read(s, s->off, buf, (size_t)part))
            return false;
        if (buf)
            buf += part;
        s->off += part, s->left -= part, n -= part;
    }
    return true;
}

/* Reads up to *n bytes into buf, as many as the data has: *n gets how many. */
static bool stream_take_some(item_stream *s, uint8_t *buf, uint64_t *n)
{
    uint64_t got = 0;
    while (got < *n && stream_take(s, buf + got, 1))
        got++;
    *n = got;
    return got > 0;
}

/* Every NAL unit of an hvc1 item's data (4-byte sizes, as libheif's libde265 plugin reads
 * them whatever the hvcC says), its SPS units' sizes into h's stream size. Each unit's size
 * and header are taken (from the read-ahead), its body passed over. */
static void scan_hevc_item(item_stream *s, lp_heif_header *h)
{
    uint8_t size[4], nal[LP_HEVC_SPS_BYTES];
    while (stream_take(s, size, 4)) {
        uint64_t n = lp_be32(size);
        size_t head = n < sizeof nal ? (size_t)n : sizeof nal;
        if (n >= 2 && !stream_take(s, nal, 2))
            break;
        uint32_t w, ht;
        bool sps = n >= 2 && (nal[0] >> 1 & 0x3fu) == 33;
        if (sps && !stream_take(s, nal + 2, head - 2))
            break;
        if (sps) {
            if (lp_hevc_sps_size(nal, head, &w, &ht))
                note_stream(h, w, ht);
            else
                h->stream_unreadable = true;
        }
        if (!stream_take(s, NULL, n - (n >= 2 ? (sps ? head : 2) : 0)))
            break;
    }
}

/* The bytes of an AV1 sequence header that reach its frame size: up to 32 operating points
 * of at most 89 bits (with decoder model parameters of 32 bits), after at most 23 bytes of
 * timing and decoder model information. */
#define AV1_SEQUENCE_HEADER_BYTES 512u

/* Every OBU of an av01 item's data (as libheif hands it to its AV1 decoder after the av1C's
 * configOBUs), its sequence headers' frame sizes into h's stream size. Each OBU's header
 * and size are taken (from the read-ahead), its body passed over; an OBU without a size
 * field runs to the end of the data, and ends the walk. */
static void scan_av1_item(item_stream *s, lp_heif_header *h)
{
    uint8_t head[2 + 8], payload[AV1_SEQUENCE_HEADER_BYTES];
    while (stream_take(s, head, 1)) {
        bool extension = head[0] & 0x04, has_size = head[0] & 0x02;
        unsigned type = head[0] >> 3 & 0x0fu;
        if (extension && !stream_take(s, head + 1, 1))
            break;
        uint64_t size = AV1_SEQUENCE_HEADER_BYTES, got = 0;
        size_t n = 0;
        while (has_size && n < 8 && stream_take(s, head + 2 + n, 1) && head[2 + n++] & 0x80)
            ;
        if (has_size && !lp_av1_read_leb128(head + 2, n, &size))
            break;
        if (type == LP_OBU_SEQUENCE_HEADER) {
            got = size < sizeof payload ? size : sizeof payload;
            if (has_size ? !stream_take(s, payload, got) : !stream_take_some(s, payload, &got))
                break;
            note_av1_sequence(h, payload, (size_t)got);
        }
        if (!has_size || !stream_take(s, NULL, size - got))
            break;
    }
}

/* The SPS units and sequence headers inside the data of the hvc1 and av01 items the decode
 * reaches, from one walk of iloc (libheif hands an item's configuration units and then its
 * data to the decoder, and a later SPS or sequence header replaces an earlier one). */
static void scan_stream_headers(const meta_facts *f, const lp_heif_reached *reached,
                                const box_reader *r, lp_heif_header *h)
{
    iloc_walk w;
    item_stream s = {.r = r, .idat = f->idat, .w = &w};
    bool cut;
    if (!iloc_start(f->iloc, &w))
        return;
    while (iloc_item_next(&w, &s.it, &cut)) {
        const lp_heif_coded_item *c = coded_item(reached, s.it.id);
        s.left = 0;
        if (c && c->coding == LP_HEIF_CODING_HEVC && s.it.method <= 1)
            scan_hevc_item(&s, h);
        else if (c && c->coding == LP_HEIF_CODING_AV1 && s.it.method <= 1)
            scan_av1_item(&s, h);
        uint64_t off, len;
        for (; s.it.extents > 0; s.it.extents--)  /* what the item's scan left */
            if (!iloc_extent(&w, &off, &len))
                return;
    }
}

/* A grid item's output size from its ImageGrid data (ISO 23008-12 6.6.2.3.2): version,
 * flags (bit 0: 32-bit sizes), rows - 1, columns - 1, width, height. The data must lie
 * whole inside its extent, and the extent inside idat or the file: libheif 1.15 reads an
 * idat extent up to the end of the box counted with its header, so 8 bytes past the data
 * (a 48x32 image whose grid ran past its idat read a canvas of 12541x57088 from the next
 * box: found by fuzz_heif_source). */
static lp_status read_grid(const meta_facts *f, const box_reader *r, uint32_t id,
                           const item_extent *x, uint32_t *w, uint32_t *h, uint32_t *cells,
                           lp_error *err)
{
    if (!x->found || x->other_method)
        return lp_error_set(err, LP_ERR_CORRUPT, "%s grid item %" PRIu32 " has %s", family_name(r),
                            id, x->found ? "its data in an item (iloc method 2)" : "no location");
    uint64_t room = x->in_idat ? f->idat.n : r->size;
    uint8_t g[12] = {0};
    size_t n = x->length < sizeof g ? (size_t)x->length : sizeof g;
    bool inside = x->offset <= room && x->length <= room - x->offset;
    bool got = inside && n >= 2 &&
               (x->in_idat ? (memcpy(g, f->idat.p + x->offset, n), true)
                           : r->read(r->user, x->offset, g, n));
    if (!got || n < (g[1] & 1u ? 12u : 8u))
        return lp_error_set(err, LP_ERR_CORRUPT, "%s grid item %" PRIu32 ": its %llu bytes at"
                            " %llu are not a grid inside its %s", family_name(r), id,
                            (unsigned long long)x->length, (unsigned long long)x->offset,
                            x->in_idat ? "idat box" : "file");
    *cells = (g[2] + 1u) * (g[3] + 1u);
    *w = g[1] & 1u ? lp_be32(g + 4) : lp_be16(g + 4);
    *h = g[1] & 1u ? lp_be32(g + 8) : lp_be16(g + 6);
    if (*w == 0 || *h == 0)
        return lp_error_set(err, LP_ERR_CORRUPT, "%s grid item %" PRIu32 " of %" PRIu32 "x%"
                            PRIu32, family_name(r), id, *w, *h);
    return LP_OK;
}

/* The output size of each grid the decode reaches: the primary's into grid_width and
 * grid_height, the largest of the others' (an alpha grid) into aux_grid_width and
 * aux_grid_height; all their cells into grid_cells. */
static lp_status read_grids(const meta_facts *f, const lp_heif_reached *reached,
                            const box_reader *r, lp_heif_header *h, lp_error *err)
{
    item_extent x[LP_HEIF_MAX_GRIDS] = {{0}};
    if (reached->n_grids == 0)
        return LP_OK;
    if (!first_extents(f->iloc, reached->grids, reached->n_grids, x))
        return lp_error_set(err, LP_ERR_CORRUPT, "%s item locations (iloc) cut short",
                            family_name(r));
    for (unsigned k = 0; k < reached->n_grids; k++) {
        uint32_t w = 0, g_h = 0, cells = 0;
        lp_status st = read_grid(f, r, reached->grids[k], &x[k], &w, &g_h, &cells, err);
        if (st != LP_OK)
            return st;
        h->grid_cells += cells;
        if (k == 0 && h->grid) {
            h->grid_width = w, h->grid_height = g_h;
        } else {
            h->aux_grid_width = w > h->aux_grid_width ? w : h->aux_grid_width;
            h->aux_grid_height = g_h > h->aux_grid_height ? g_h : h->aux_grid_height;
        }
    }
    return LP_OK;
}

/* libde265 decodes at the size its sequence parameter set says, libheif's AV1 decoder at
 * the size of the sequence header, and libheif compares it with the declared size only
 * after decoding (a 64x64 ispe over a 3520x5280 SPS held 166 MB under a 20M budget): a
 * stream larger than the largest coded item declared (the image, when no coded item has
 * an ispe) is refused before it is decoded. An SPS codes whole coding blocks and crops
 * them (x265 codes 333x211 as 336x216): up to CODING_PADDING more on each side is the
 * encoder's, not a lie. */
#define CODING_PADDING 64u

lp_status lp_heif_check_streams(const lp_heif_header *h, const char *family, lp_error *err)
{
    if (h->stream_unreadable)
        return lp_error_set(err, LP_ERR_CORRUPT, "%s image data has a sequence header that "
                            "cannot be read, so its picture size is unknown", family);
    uint32_t w = h->coded_width ? h->coded_width : h->width;
    uint32_t ht = h->coded_width ? h->coded_height : h->height;
    uint64_t allowed = ((uint64_t)w + CODING_PADDING) * ((uint64_t)ht + CODING_PADDING);
    if ((uint64_t)h->stream_width * h->stream_height <= allowed)
        return LP_OK;
    return lp_error_set(err, LP_ERR_CORRUPT, "%s image data is %" PRIu32 "x%" PRIu32
                        " (its sequence headers), larger than the %" PRIu32 "x%" PRIu32
                        " its items declare", family, h->stream_width, h->stream_height, w, ht);
}

int lp_heif_orientation(unsigned irot_angle, bool mirror, unsigned imir_mode)
{
    unsigned angle = irot_angle & 3u;
    if (mirror && imir_mode == 1)  /* left-right = a half turn, then top-bottom */
        angle = (angle + 2) & 3u;
    static const int plain[4] = {1, 8, 3, 6}, mirrored[4] = {4, 5, 2, 7};
    return mirror ? mirrored[angle] : plain[angle];
}

/* The first box, which must be the ftyp: its header into head (16 bytes) and the file's
 * family from its brands, in one read of at most 64 bytes. */
static lp_status read_ftyp(box_reader *r, uint8_t head[16], lp_error *err)
{
    uint8_t ftyp[64];
    size_t n = r->size < sizeof ftyp ? (size_t)r->size : sizeof ftyp;
    if (!r->read(r->user, 0, ftyp, n))
        return lp_error_set(err, LP_ERR_TRUNCATED, "HEIF box header at byte 0 cannot be read");
    if (memcmp(ftyp + 4, "ftyp", 4))
        return lp_error_set(err, LP_ERR_CORRUPT, "not a HEIF file (no ftyp box)");
    memcpy(head, ftyp, n < 16 ? n : 16);
    uint64_t box = lp_be32(ftyp);
    size_t brands = box < n ? (size_t)box : n;
    r->family = brands >= 16 && lp_heif_ftyp_lists_avif(ftyp, brands) ? LP_HEIF_FAMILY_AVIF
                                                                      : LP_HEIF_FAMILY_HEIF;
    return LP_OK;
}

/* The first meta box among the file's top-level boxes: its body's offset and length.
 * Every top-level box header is read (8 or 16 bytes; a file with more than
 * HEIF_MAX_TOP_BOXES boxes is refused), so that the libraries parse no more than this
 * saw. A file without ftyp first or without meta is refused, and so is a meta box over
 * max_meta bytes (0 = no limit; LP_ERR_LIMITS). The ftyp names the family (r->family). */
static lp_status find_meta(box_reader *r, uint64_t max_meta, uint64_t *at_out, uint64_t *len_out,
                           lp_error *err)
{
    uint64_t at = 0, size = r->size;
    int boxes = 0;
    bool found = false;
    for (; at + 8 <= size; boxes++) {
        uint8_t head[16];
        if (boxes == HEIF_MAX_TOP_BOXES)
            return lp_error_set(err, LP_ERR_UNSUPPORTED, "%s file has more than %d top-level"
                                " boxes (real files have 3 or 4)", family_name(r),
                                HEIF_MAX_TOP_BOXES);
        lp_status st = boxes == 0 ? read_ftyp(r, head, err) : LP_OK;
        if (st != LP_OK)
            return st;
        if (boxes > 0 && !r->read(r->user, at, head, 8))
            return lp_error_set(err, LP_ERR_TRUNCATED, "%s box header at byte %llu cannot be"
                                " read", family_name(r), (unsigned long long)at);
        uint64_t box = lp_be32(head), hl = 8;
        if (box == 1) {
            if (!r->read(r->user, at + 8, head + 8, 8))
                return lp_error_set(err, LP_ERR_TRUNCATED, "%s box header cut short",
                                    family_name(r));
            box = (uint64_t)lp_be32(head + 8) << 32 | lp_be32(head + 12);
            hl = 16;
        } else if (box == 0) {
            box = size - at;
        }
        if (box < hl)
            return lp_error_set(err, LP_ERR_CORRUPT, "%s box of %llu bytes at byte %llu",
                                family_name(r), (unsigned long long)box, (unsigned long long)at);
        if (box > size - at)
            return lp_error_set(err, LP_ERR_TRUNCATED, "%s file ends inside its '%.4s' box"
                                " (%llu bytes at byte %llu)", family_name(r),
                                (const char *)head + 4, (unsigned long long)box,
                                (unsigned long long)at);
        if (!memcmp(head + 4, "meta", 4) && !found) {  /* the first, as libheif */
            *at_out = at + hl;
            *len_out = box - hl;
            found = true;
        }
        at += box;
    }
    if (!found)
        return lp_error_set(err, LP_ERR_CORRUPT, "%s file has no meta box", family_name(r));
    if (max_meta && *len_out > max_meta)
        return lp_error_set(err, LP_ERR_LIMITS,
                            "%s meta box of %llu bytes is over the metadata limit of %llu",
                            family_name(r), (unsigned long long)*len_out,
                            (unsigned long long)max_meta);
    return LP_OK;
}

/* The facts of the meta box's body (meta, len bytes): items checked, grids read, then the
 * primary's properties. */
static lp_status read_meta(const box_reader *r, const uint8_t *meta, uint64_t len, lp_mem *mem,
                           lp_heif_header *h, lp_error *err)
{
    meta_facts f = {0};
    scan_meta((lp_span){meta + 4, (size_t)len - 4}, &f);  /* meta is a full box */
    if (!f.have_primary)
        return lp_error_set(err, LP_ERR_CORRUPT, "%s file names no primary image", family_name(r));
    lp_heif_reached reached;
    lp_status st = lp_heif_check_items(f.iinf, f.iref, f.primary, r->family, &reached, mem, err);
    if (st != LP_OK)
        return st;
    h->grid = !memcmp(reached.primary_type, "grid", 4);
    st = read_grids(&f, &reached, r, h, err);
    bool have_pixi = false;
    if (st == LP_OK) {
        read_associations(&f, &reached, h, &have_pixi);
        scan_stream_headers(&f, &reached, r, h);
    }
    lp_heif_reached_release(&reached, mem);
    if (st != LP_OK)
        return st;
    read_codec_config(&f, h, have_pixi);
    if (h->width == 0 || h->height == 0)
        return lp_error_set(err, LP_ERR_CORRUPT, "%s primary image has no size (ispe)",
                            family_name(r));
    return LP_OK;
}

lp_status lp_heif_read_header(lp_heif_read_fn read, void *user, uint64_t size, uint64_t max_meta,
                              lp_mem *mem, lp_heif_header *h, lp_error *err)
{
    memset(h, 0, sizeof *h);
    h->bit_depth = 8;
    h->orientation = 1;
    box_reader r = {read, user, size, LP_HEIF_FAMILY_HEIF};
    uint64_t at = 0, len = 0;
    lp_status st = find_meta(&r, max_meta, &at, &len, err);
    if (st != LP_OK)
        return st;
    if (len < 4)
        return lp_error_set(err, LP_ERR_CORRUPT, "%s meta box is empty", family_name(&r));
    h->meta_bytes = len;
    static const char *const meta_label[] = {"HEIF meta box", "AVIF meta box"};
    uint8_t *meta = lp_mem_alloc(mem, (size_t)len, meta_label[r.family], err);
    if (!meta)
        return err ? err->status : LP_ERR_NOMEM;
    st = read(user, at, meta, (size_t)len)
             ? read_meta(&r, meta, len, mem, h, err)
             : lp_error_set(err, LP_ERR_TRUNCATED, "%s data ends inside its meta box",
                            family_name(&r));
    lp_mem_release(mem, meta);
    return st;
}

static bool read_fd_at(void *user, uint64_t at, void *buf, size_t len)
{
    return lp_file_read_at(*(const int *)user, at, buf, len);
}

lp_status lp_heif_read_header_fd(int fd, uint64_t size, uint64_t max_meta, lp_heif_header *h,
                                 lp_error *err)
{
    return lp_heif_read_header(read_fd_at, &fd, size, max_meta, NULL, h, err);
}

bool lp_heif_ftyp_lists_avif(const uint8_t *head, size_t len)
{
    uint32_t box = lp_be32(head);
    size_t end = box < len ? box : len;
    for (size_t at = 16; at + 4 <= end; at += 4)
        if (!memcmp(head + at, "avif", 4) || !memcmp(head + at, "avis", 4))
            return true;
    return false;
}
