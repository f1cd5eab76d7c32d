/*
 * formats/registry.c - the list of file formats, and the lookups everything else uses.
 *
 * Adding a format: its descriptor file in src/formats/ and one line in `registry` below
 * (plus its id in lp_file_format, include/leanpix/image.h). The public lp_file_format_*
 * functions of leanpix/image.h and the source/sink dispatch of leanpix/codec.h are
 * answered from here, so the names, extensions and magic bytes exist once, in the
 * descriptors. Pure lookups over a constant table; no state.
 */
#include "formats/format.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

extern const lp_format_desc lp_format_jpeg, lp_format_png, lp_format_webp, lp_format_avif;
extern const lp_format_desc lp_format_tiff;
extern const lp_format_desc lp_format_heif;

static const lp_format_desc *const registry[] = {
    &lp_format_jpeg,
    &lp_format_png,
    &lp_format_webp,
    &lp_format_avif,
    &lp_format_tiff,
    &lp_format_heif,  /* after AVIF: a mif1 file with an AVIF brand is AVIF's */
};
enum { REGISTRY_SIZE = sizeof registry / sizeof registry[0] };

const lp_format_desc *lp_format_desc_at(size_t i)
{
    return i < REGISTRY_SIZE ? registry[i] : NULL;
}

const lp_format_desc *lp_format_desc_of(lp_file_format id)
{
    for (size_t i = 0; i < REGISTRY_SIZE; i++)
        if (registry[i]->id == id)
            return registry[i];
    return NULL;
}

const lp_format_desc *lp_format_desc_by_name(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < REGISTRY_SIZE; i++) {
        if (!strcasecmp(name, registry[i]->name))
            return registry[i];
        for (const char *const *ext = registry[i]->extensions; *ext; ext++)
            if (!strcasecmp(name, *ext))
                return registry[i];
    }
    return NULL;
}

const lp_format_desc *lp_format_desc_by_path(const char *path)
{
    if (!path)
        return NULL;
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash ? slash : path, '.');
    return dot ? lp_format_desc_by_name(dot + 1) : NULL;
}

const lp_format_desc *lp_format_desc_sniff(const uint8_t *head, size_t len)
{
    for (size_t i = 0; i < REGISTRY_SIZE; i++)
        if (registry[i]->sniff && registry[i]->sniff(head, len))
            return registry[i];
    return NULL;
}

/* ---- the public names of leanpix/image.h ---- */

static lp_file_format id_of(const lp_format_desc *d)
{
    return d ? d->id : LP_FILE_UNKNOWN;
}

const char *lp_file_format_name(lp_file_format f)
{
    const lp_format_desc *d = lp_format_desc_of(f);
    return d ? d->name : "unknown";
}

const char *lp_file_format_extension(lp_file_format f)
{
    const lp_format_desc *d = lp_format_desc_of(f);
    return d ? d->extensions[0] : NULL;
}

lp_file_format lp_file_format_from_name(const char *name)
{
    return id_of(lp_format_desc_by_name(name));
}

lp_file_format lp_file_format_from_path(const char *path)
{
    return id_of(lp_format_desc_by_path(path));
}

lp_file_format lp_file_format_sniff(const uint8_t *head, size_t len)
{
    return id_of(lp_format_desc_sniff(head, len));
}

lp_file_format lp_file_format_at(size_t i)
{
    return id_of(lp_format_desc_at(i));
}

bool lp_file_format_readable(lp_file_format f)
{
    const lp_format_desc *d = lp_format_desc_of(f);
    return d && d->source_new;
}

bool lp_file_format_writable(lp_file_format f)
{
    const lp_format_desc *d = lp_format_desc_of(f);
    return d && d->sink_new;
}

void lp_file_format_list(char *buf, size_t size, bool writable, const char *prefix)
{
    size_t n = 0, count = 0, used = 0;
    for (size_t i = 0; i < REGISTRY_SIZE; i++)
        count += writable ? registry[i]->sink_new != NULL : registry[i]->source_new != NULL;
    if (size)
        buf[0] = '\0';
    for (size_t i = 0; i < REGISTRY_SIZE && used < size; i++) {
        const lp_format_desc *d = registry[i];
        if (!(writable ? d->sink_new != NULL : d->source_new != NULL))
            continue;
        bool ext = prefix && !strcmp(prefix, ".");
        const char *sep = n == 0 ? "" : n + 1 == count ? " or " : ", ";
        int w = snprintf(buf + used, size - used, "%s%s%s", sep, prefix ? prefix : "",
                         ext ? d->extensions[0] : d->name);
        used += w > 0 ? (size_t)w : 0;
        n++;
    }
}

lp_status lp_format_unreadable(const lp_format_desc *d, lp_error *err)
{
    char names[128];
    lp_file_format_list(names, sizeof names, false, NULL);
    if (!d)
        return lp_error_set(err, LP_ERR_UNSUPPORTED, "not an image in a format leanpix reads (%s)",
                            names);
    return lp_error_set(err, LP_ERR_UNSUPPORTED, "%s input is not supported (leanpix reads %s)",
                        d->name, names);
}

lp_status lp_format_unwritable(const lp_format_desc *d, lp_error *err)
{
    char names[128];
    lp_file_format_list(names, sizeof names, true, NULL);
    if (!d)
        return lp_error_set(err, LP_ERR_INVALID_ARG, "no output format was given (leanpix writes %s)",
                            names);
    return lp_error_set(err, LP_ERR_UNSUPPORTED,
                        "cannot write the output format %s (leanpix writes %s)", d->name, names);
}

/* ---- dispatch of leanpix/codec.h ---- */

lp_status lp_source_open(lp_stage **out, lp_input *in, const lp_limits *limits, lp_mem *mem,
                         lp_error *err)
{
    *out = NULL;
    uint8_t head[LP_SNIFF_BYTES];
    size_t got;
    lp_status st = lp_input_peek(in, head, sizeof head, &got, err);
    if (st == LP_OK && got == 0)
        st = lp_error_set(err, LP_ERR_TRUNCATED, "file is empty");
    const lp_format_desc *d = st == LP_OK ? lp_format_desc_sniff(head, got) : NULL;
    if (st == LP_OK && (!d || !d->source_new))
        st = lp_format_unreadable(d, err);
    if (st != LP_OK) {
        lp_input_close(in);
        return st;
    }
    return d->source_new(out, in, limits, mem, err);
}

lp_status lp_sink_new(lp_sink **out, lp_output *output, const lp_encode_options *opts,
                      lp_mem *mem, lp_error *err)
{
    *out = NULL;
    const lp_format_desc *d = lp_format_desc_of(opts->format);
    if (!d)
        return lp_format_unwritable(NULL, err);
    if (!d->sink_new)
        return lp_format_unwritable(d, err);
    if (d->check_options) {
        lp_status st = d->check_options(opts, err);
        if (st != LP_OK)
            return st;
    }
    return d->sink_new(out, output, opts, NULL, mem, err);
}
