/*
 * heif_boxes.c - the primary image's planning facts from a HEIF/AVIF meta box.
 *
 * Top-level boxes are skipped by their headers (8 or 16 bytes each, at most
 * HEIF_MAX_TOP_BOXES of them) until 'meta', which is read whole into one buffer of at
 * most the caller's max_meta bytes (malloc'd and freed before returning). Inside it: pitm
 * (the primary item), iinf/infe (its type: 'grid' or a coded item), iprp/ipco (the
 * properties, numbered from 1) and ipma (which properties belong to which item): ispe,
 * pixi, irot, imir of the primary; auxC with an alpha URN on any item means alpha; the
 * first av1C/hvcC says the chroma subsampling (and the depth when pixi is absent). Every
 * length is checked against what contains it; every loop is bounded by the buffer.
 */
#include "codec/heif_boxes.h"
#include "io/file_bytes.h"

#include <stdlib.h>
#include <string.h>

#define HEIF_MAX_TOP_BOXES 64

typedef struct span {
    const uint8_t *p;
    size_t n;
} span;

static uint32_t be16(const uint8_t *p) { return (uint32_t)p[0] << 8 | p[1]; }
static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The next child box of *in: its type and body; false at the end or on a bad size. */
static bool next_box(span *in, char type[4], span *body)
{
    if (in->n < 8)
        return false;
    uint64_t size = be32(in->p);
    size_t head = 8;
    if (size == 1) {
        if (in->n < 16)
            return false;
        size = (uint64_t)be32(in->p + 8) << 32 | be32(in->p + 12);
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

typedef struct meta_facts {
    uint32_t primary;
    bool have_primary;
    span ipco, ipma, iinf, iloc, idat;
} meta_facts;

static void scan_meta(span meta, meta_facts *f)
{
    char type[4];
    span body;
    while (next_box(&meta, type, &body)) {
        if (!memcmp(type, "pitm", 4) && body.n >= 6) {
            f->primary = body.p[0] == 0 ? be16(body.p + 4) : body.n >= 8 ? be32(body.p + 4) : 0;
            f->have_primary = true;
        } else if (!memcmp(type, "iinf", 4)) {
            f->iinf = body;
        } else if (!memcmp(type, "iloc", 4)) {
            f->iloc = body;
        } else if (!memcmp(type, "idat", 4)) {
            f->idat = body;
        } else if (!memcmp(type, "iprp", 4)) {
            span child;
            char t[4];
            while (next_box(&body, t, &child)) {
                if (!memcmp(t, "ipco", 4))
                    f->ipco = child;
                else if (!memcmp(t, "ipma", 4))
                    f->ipma = child;
            }
        }
    }
}

/* The primary item's type from its infe (versions 2 and 3 carry item_type). */
static bool primary_is_grid(const meta_facts *f)
{
    if (f->iinf.n < 6)
        return false;
    span in = {f->iinf.p + (f->iinf.p[0] == 0 ? 6 : 8), 0};
    size_t skip = (size_t)(in.p - f->iinf.p);
    if (skip > f->iinf.n)
        return false;
    in.n = f->iinf.n - skip;
    char type[4];
    span e;
    while (next_box(&in, type, &e)) {
        if (memcmp(type, "infe", 4) || e.n < 4)
            continue;
        unsigned version = e.p[0];
        uint32_t id;
        const uint8_t *item_type;
        if (version == 2 && e.n >= 12) {
            id = be16(e.p + 4);
            item_type = e.p + 8;
        } else if (version == 3 && e.n >= 14) {
            id = be32(e.p + 4);
            item_type = e.p + 10;
        } else {
            continue;
        }
        if (id == f->primary)
            return !memcmp(item_type, "grid", 4);
    }
    return false;
}

/* The index-th (1-based) property box of ipco. */
static bool property(const meta_facts *f, unsigned index, char type[4], span *body)
{
    span in = f->ipco;
    for (unsigned i = 1; next_box(&in, type, body); i++)
        if (i == index)
            return true;
    return false;
}

static bool is_alpha_urn(span body)
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

static void apply_property(const char type[4], span b, bool primary, lp_heif_header *h,
                           unsigned *irot, bool *mirror, unsigned *imir, bool *have_pixi)
{
    if (!memcmp(type, "auxC", 4) && is_alpha_urn(b))
        h->alpha = true;
    if (!primary)
        return;
    if (!memcmp(type, "ispe", 4) && b.n >= 12) {
        h->width = be32(b.p + 4);
        h->height = be32(b.p + 8);
    } else if (!memcmp(type, "pixi", 4) && b.n >= 6 && b.p[4] > 0) {
        h->bit_depth = b.p[5];
        *have_pixi = true;
    } else if (!memcmp(type, "clap", 4) && b.n >= 16) {
        /* width and height as fractions N/D (the offsets do not change the size) */
        uint32_t wn = be32(b.p), wd = be32(b.p + 4), hn = be32(b.p + 8), hd = be32(b.p + 12);
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

/* Walks ipma: the properties of every item (alpha on any; the rest on the primary). */
static void read_associations(const meta_facts *f, lp_heif_header *h, bool *have_pixi)
{
    span m = f->ipma;
    if (m.n < 8)
        return;
    unsigned version = m.p[0];
    bool wide_index = (m.p[3] & 1u) != 0;
    uint32_t entries = be32(m.p + 4);
    size_t at = 8;
    unsigned irot = 0, imir = 0;
    bool mirror = false;
    for (uint32_t e = 0; e < entries; e++) {
        size_t id_bytes = version < 1 ? 2 : 4;
        if (at + id_bytes + 1 > m.n)
            break;
        uint32_t id = id_bytes == 2 ? be16(m.p + at) : be32(m.p + at);
        unsigned count = m.p[at + id_bytes];
        at += id_bytes + 1;
        for (unsigned k = 0; k < count; k++) {
            if (at + (wide_index ? 2 : 1) > m.n)
                return;
            unsigned index = wide_index ? be16(m.p + at) & 0x7fffu : m.p[at] & 0x7fu;
            at += wide_index ? 2 : 1;
            char type[4];
            span body;
            if (index && property(f, index, type, &body))
                apply_property(type, body, id == f->primary, h, &irot, &mirror, &imir, have_pixi);
        }
    }
    h->orientation = lp_heif_orientation(irot, mirror, imir);
}

/* Chroma and depth of the coded cells from the first av1C or hvcC. */
static void read_codec_config(const meta_facts *f, lp_heif_header *h, bool have_pixi)
{
    span in = f->ipco, b;
    char type[4];
    while (next_box(&in, type, &b)) {
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
static bool field(span s, size_t *at, unsigned n, uint64_t *v)
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

/* Where the primary item's first extent lies (iloc): in idat (*in_idat) or in the file,
 * at *offset; false when it cannot be told. */
static bool primary_extent(const meta_facts *f, bool *in_idat, uint64_t *offset)
{
    span l = f->iloc;
    if (l.n < 8)
        return false;
    unsigned version = l.p[0];
    unsigned offset_size = l.p[4] >> 4, length_size = l.p[4] & 15u;
    unsigned base_size = l.p[5] >> 4, index_size = version >= 1 ? l.p[5] & 15u : 0;
    size_t at = 6;
    uint64_t count, v;
    if (version < 2) {
        count = be16(l.p + at);
        at += 2;
    } else if (!field(l, &at, 4, &count)) {
        return false;
    }
    for (uint64_t i = 0; i < count; i++) {
        uint64_t id;
        if (version < 2) {
            if (at + 2 > l.n)
                return false;
            id = be16(l.p + at);
            at += 2;
        } else if (!field(l, &at, 4, &id)) {
            return false;
        }
        unsigned method = 0;
        if (version >= 1) {
            if (at + 2 > l.n)
                return false;
            method = be16(l.p + at) & 15u;
            at += 2;
        }
        uint64_t base, extents;
        at += 2;  /* data_reference_index */
        if (at > l.n || !field(l, &at, base_size, &base) || at + 2 > l.n)
            return false;
        extents = be16(l.p + at);
        at += 2;
        for (uint64_t e = 0; e < extents; e++) {
            uint64_t off, len;
            if (!field(l, &at, index_size, &v) || !field(l, &at, offset_size, &off) ||
                !field(l, &at, length_size, &len))
                return false;
            if (id == f->primary && e == 0) {
                if (method > 1)
                    return false;
                *in_idat = method == 1;
                *offset = base + off;
                return true;
            }
        }
    }
    return false;
}

/* The output size of a grid primary item from its ImageGrid data (ISO 23008-12 6.6.2.3.2):
 * version, flags (bit 0: 32-bit sizes), rows - 1, columns - 1, width, height. */
static void read_grid_size(const meta_facts *f, lp_heif_read_fn read, void *user, uint64_t size,
                           lp_heif_header *h)
{
    bool in_idat = false;
    uint64_t offset = 0;
    uint8_t g[12];
    if (!primary_extent(f, &in_idat, &offset))
        return;
    if (in_idat) {
        if (offset > f->idat.n || f->idat.n - offset < 8)
            return;
        size_t n = f->idat.n - offset < sizeof g ? (size_t)(f->idat.n - offset) : sizeof g;
        memcpy(g, f->idat.p + offset, n);
        if (n < sizeof g)
            memset(g + n, 0, sizeof g - n);
    } else {
        if (offset > size || size - offset < 8)
            return;
        size_t n = size - offset < sizeof g ? (size_t)(size - offset) : sizeof g;
        memset(g, 0, sizeof g);
        if (!read(user, offset, g, n))
            return;
    }
    bool wide = g[1] & 1u;
    h->grid_width = wide ? be32(g + 4) : be16(g + 4);
    h->grid_height = wide ? be32(g + 8) : be16(g + 6);
}

int lp_heif_orientation(unsigned irot_angle, bool mirror, unsigned imir_mode)
{
    unsigned angle = irot_angle & 3u;
    if (mirror && imir_mode == 1)  /* left-right = a half turn, then top-bottom */
        angle = (angle + 2) & 3u;
    static const int plain[4] = {1, 8, 3, 6}, mirrored[4] = {4, 5, 2, 7};
    return mirror ? mirrored[angle] : plain[angle];
}

/* Finds the meta box among the top-level boxes: its body's offset and length. */
static lp_status find_meta(lp_heif_read_fn read, void *user, uint64_t size, uint64_t *at_out,
                           uint64_t *len_out, lp_error *err)
{
    uint64_t at = 0;
    for (int i = 0; i < HEIF_MAX_TOP_BOXES && at + 8 <= size; i++) {
        uint8_t head[16];
        if (!read(user, at, head, 8))
            return lp_error_set(err, LP_ERR_TRUNCATED, "HEIF box header at byte %llu cannot be read",
                                (unsigned long long)at);
        uint64_t box = be32(head), hl = 8;
        if (i == 0 && memcmp(head + 4, "ftyp", 4))
            return lp_error_set(err, LP_ERR_CORRUPT, "not a HEIF file (no ftyp box)");
        if (box == 1) {
            if (!read(user, at + 8, head + 8, 8))
                return lp_error_set(err, LP_ERR_TRUNCATED, "HEIF box header cut short");
            box = (uint64_t)be32(head + 8) << 32 | be32(head + 12);
            hl = 16;
        } else if (box == 0) {
            box = size - at;
        }
        if (box < hl || box > size - at)
            return lp_error_set(err, LP_ERR_CORRUPT, "HEIF box of %llu bytes at byte %llu",
                                (unsigned long long)box, (unsigned long long)at);
        if (!memcmp(head + 4, "meta", 4)) {
            *at_out = at + hl;
            *len_out = box - hl;
            return LP_OK;
        }
        at += box;
    }
    return lp_error_set(err, LP_ERR_CORRUPT, "HEIF file has no meta box");
}

lp_status lp_heif_read_header(lp_heif_read_fn read, void *user, uint64_t size, uint64_t max_meta,
                              lp_heif_header *h, lp_error *err)
{
    memset(h, 0, sizeof *h);
    h->bit_depth = 8;
    h->orientation = 1;
    uint64_t at = 0, len = 0;
    lp_status st = find_meta(read, user, size, &at, &len, err);
    if (st != LP_OK)
        return st;
    if (len < 4)
        return lp_error_set(err, LP_ERR_CORRUPT, "HEIF meta box is empty");
    if (max_meta && len > max_meta)
        return lp_error_set(err, LP_ERR_LIMITS,
                            "HEIF meta box of %llu bytes is over the metadata limit of %llu",
                            (unsigned long long)len, (unsigned long long)max_meta);
    uint8_t *meta = malloc((size_t)len);
    if (!meta)
        return lp_error_set(err, LP_ERR_NOMEM, "cannot read a HEIF meta box of %llu bytes",
                            (unsigned long long)len);
    if (!read(user, at, meta, (size_t)len)) {
        free(meta);
        return lp_error_set(err, LP_ERR_TRUNCATED, "HEIF data ends inside its meta box");
    }
    meta_facts f = {0};
    scan_meta((span){meta + 4, (size_t)len - 4}, &f);  /* meta is a full box */
    bool have_pixi = false;
    if (f.have_primary) {
        h->grid = primary_is_grid(&f);
        if (h->grid)
            read_grid_size(&f, read, user, size, h);
        read_associations(&f, h, &have_pixi);
        read_codec_config(&f, h, have_pixi);
    }
    free(meta);
    if (!f.have_primary)
        return lp_error_set(err, LP_ERR_CORRUPT, "HEIF file names no primary image");
    if (h->width == 0 || h->height == 0)
        return lp_error_set(err, LP_ERR_CORRUPT, "HEIF primary image has no size (ispe)");
    return LP_OK;
}

static bool read_fd_at(void *user, uint64_t at, void *buf, size_t len)
{
    return lp_file_read_at(*(const int *)user, at, buf, len);
}

lp_status lp_heif_read_header_fd(int fd, uint64_t size, uint64_t max_meta, lp_heif_header *h,
                                 lp_error *err)
{
    return lp_heif_read_header(read_fd_at, &fd, size, max_meta, h, err);
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
