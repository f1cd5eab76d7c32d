/*
 * exif.c - the two things leanpix needs from EXIF: read the orientation, and reset it to
 * 1 after the pixels were rotated. libexif does the TIFF parsing; it wants the
 * "Exif\0\0" APP1 header in front, which our metadata does not keep, so we add it.
 *
 * Memory: a copy of the EXIF block (at most 64 KiB in JPEG) for the duration of a call.
 *
 * Hostile blocks: lp_exif_is_tiff() is the cheap structural check sources apply before
 * they publish an EXIF block (a truncated APP1 is dropped there, not passed to encoders
 * that refuse it). libexif bounds every offset by the block size and stops at IFD loops
 * and at a fixed recursion depth, so a parse is linear in the block; blocks over 64 MiB
 * are not parsed at all.
 */
#include "leanpix/image.h"

#include <libexif/exif-data.h>
#include <stdlib.h>
#include <string.h>

static uint32_t tiff_u32(const uint8_t *p, bool big_endian)
{
    return big_endian ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
                      : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

bool lp_exif_is_tiff(const uint8_t *exif, size_t size)
{
    if (!exif || size < 8)
        return false;
    bool big_endian;
    if (memcmp(exif, "II*\0", 4) == 0)
        big_endian = false;
    else if (memcmp(exif, "MM\0*", 4) == 0)
        big_endian = true;
    else
        return false;
    /* IFD0 needs at least its 2-byte entry count inside the block */
    uint32_t ifd0 = tiff_u32(exif + 4, big_endian);
    return ifd0 >= 8 && ifd0 <= size - 2;
}

static ExifData *load_exif(const uint8_t *exif, size_t size)
{
    if (!lp_exif_is_tiff(exif, size) || size > (64u << 20))
        return NULL;
    uint8_t *buf = malloc(size + 6);
    if (!buf)
        return NULL;
    memcpy(buf, "Exif\0\0", 6);
    memcpy(buf + 6, exif, size);
    ExifData *data = exif_data_new();
    if (data) {
        exif_data_unset_option(data, EXIF_DATA_OPTION_FOLLOW_SPECIFICATION);
        exif_data_load_data(data, buf, (unsigned)(size + 6));
    }
    free(buf);
    return data;
}

int lp_exif_orientation(const uint8_t *exif, size_t size)
{
    ExifData *data = load_exif(exif, size);
    if (!data)
        return 1;
    int orientation = 1;
    ExifEntry *entry = exif_content_get_entry(data->ifd[EXIF_IFD_0], EXIF_TAG_ORIENTATION);
    if (entry && entry->format == EXIF_FORMAT_SHORT && entry->components >= 1) {
        int value = exif_get_short(entry->data, exif_data_get_byte_order(data));
        if (value >= 1 && value <= 8)
            orientation = value;
    }
    exif_data_unref(data);
    return orientation;
}

uint8_t *lp_exif_reset_orientation(const uint8_t *exif, size_t size, size_t *out_size)
{
    ExifData *data = load_exif(exif, size);
    if (!data)
        return NULL;
    uint8_t *result = NULL;
    ExifEntry *entry = exif_content_get_entry(data->ifd[EXIF_IFD_0], EXIF_TAG_ORIENTATION);
    if (entry && entry->format == EXIF_FORMAT_SHORT && entry->components >= 1) {
        exif_set_short(entry->data, exif_data_get_byte_order(data), 1);
        unsigned char *saved = NULL;
        unsigned saved_size = 0;
        exif_data_save_data(data, &saved, &saved_size);
        if (saved && saved_size > 6) {
            result = malloc(saved_size - 6);
            if (result) {
                memcpy(result, saved + 6, saved_size - 6);
                *out_size = saved_size - 6;
            }
        }
        free(saved);
    }
    exif_data_unref(data);
    return result;
}
