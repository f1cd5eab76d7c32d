/*
 * leanpix/image.h - pixel formats, image descriptions, metadata and input limits.
 *
 * An image travels as strips of rows in one lp_format. Samples are interleaved; 16-bit
 * samples are uint16_t in host byte order (codecs convert from/to big-endian PNG). Alpha,
 * when present, is straight (not premultiplied) between stages; an operation that needs
 * premultiplied alpha (the resampler) converts internally.
 *
 * lp_metadata buffers are owned by whoever created them (normally the source stage) and
 * stay valid for that owner's lifetime; stages downstream copy the struct, not the bytes.
 */
#ifndef LEANPIX_IMAGE_H
#define LEANPIX_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "leanpix/export.h"
#include "leanpix/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum lp_format {
    LP_FORMAT_G8,
    LP_FORMAT_GA8,
    LP_FORMAT_RGB8,
    LP_FORMAT_RGBA8,
    LP_FORMAT_G16,
    LP_FORMAT_GA16,
    LP_FORMAT_RGB16,
    LP_FORMAT_RGBA16,
    LP_FORMAT_COUNT
} lp_format;

LP_API unsigned lp_format_channels(lp_format f);         /* 1..4 */
LP_API unsigned lp_format_sample_bytes(lp_format f);     /* 1 or 2 */
LP_API unsigned lp_format_pixel_bytes(lp_format f);      /* channels * sample bytes */
LP_API bool lp_format_has_alpha(lp_format f);
LP_API bool lp_format_is_gray(lp_format f);
LP_API const char *lp_format_name(lp_format f);          /* "RGB8" */
/* The format with the given colour/alpha/depth traits. */
LP_API lp_format lp_format_make(bool gray, bool alpha, bool sixteen_bit);

/* File formats leanpix reads or writes; what each one is lives in its descriptor
 * (src/formats/NAME.c). */
typedef enum lp_file_format {
    LP_FILE_UNKNOWN = 0,
    LP_FILE_JPEG,
    LP_FILE_PNG,
    LP_FILE_WEBP,
    LP_FILE_AVIF,
    LP_FILE_TIFF,
    LP_FILE_HEIF     /* HEIC/HEIF (HEVC in a HEIF container); input only */
} lp_file_format;

LP_API const char *lp_file_format_name(lp_file_format f);          /* "jpeg" */
LP_API lp_file_format lp_file_format_from_name(const char *name); /* "jpg"/"jpeg"/"png"/"webp"/"avif" */
LP_API lp_file_format lp_file_format_from_path(const char *path);   /* by extension */
LP_API lp_file_format lp_file_format_sniff(const uint8_t *head, size_t len); /* by magic bytes */
LP_API const char *lp_file_format_extension(lp_file_format f);     /* "jpg": what an output gets */
/* Every format in the registry's order: i = 0, 1, ... until LP_FILE_UNKNOWN. */
LP_API lp_file_format lp_file_format_at(size_t i);
LP_API bool lp_file_format_readable(lp_file_format f);  /* leanpix decodes it */
LP_API bool lp_file_format_writable(lp_file_format f);  /* leanpix encodes it */
/* "jpeg, png, webp or avif": the writable (or readable) formats for messages, each name
 * after prefix ("." gives ".jpg, .png, ..." with the written extension instead). */
LP_API void lp_file_format_list(char *buf, size_t size, bool writable, const char *prefix);

typedef struct lp_metadata {
    const uint8_t *icc;  size_t icc_size;   /* ICC profile */
    const uint8_t *exif; size_t exif_size;  /* EXIF as a TIFF stream ("II*\0"/"MM\0*"...), no "Exif\0\0" */
    const uint8_t *xmp;  size_t xmp_size;   /* XMP packet (UTF-8 XML) */
    int orientation;                        /* EXIF orientation 1..8; 1 when absent */
    const char *dropped;  /* static text: why the source left metadata out ("truncated EXIF"), or NULL */
} lp_metadata;

typedef struct lp_image_info {
    uint32_t width;
    uint32_t height;
    lp_format format;
    lp_metadata meta;
    lp_file_format source_format;  /* what the pixels were decoded from */
    unsigned source_bit_depth;     /* 8 or 16 (PNG may be 1..16) */
    /* How the source is coded, for the planner's memory model (leanpix/plan.h): */
    bool source_progressive;          /* JPEG multi-scan, PNG Adam7: the decoder holds more */
    double source_samples_per_pixel;  /* JPEG: sum of Hc*Vc/(Hmax*Vmax) (1.5 for 4:2:0); 0 = n/a */
} lp_image_info;

/* Parses the orientation tag out of an EXIF TIFF stream (libexif); 1 when absent/invalid. */
LP_API int lp_exif_orientation(const uint8_t *exif, size_t size);
/* Returns a malloc'd copy of exif with the orientation tag set to 1 (for outputs whose
 * pixels were rotated), or NULL when there is nothing to rewrite. Free with free(). */
LP_API uint8_t *lp_exif_reset_orientation(const uint8_t *exif, size_t size, size_t *out_size);
/* True when exif starts with a TIFF header ("II*\0"/"MM\0*") whose first IFD offset lies
 * inside the block: the least every EXIF writer (libavif, spng) insists on. */
LP_API bool lp_exif_is_tiff(const uint8_t *exif, size_t size);

/* Limits checked from the header, before any pixel buffer exists. */
typedef struct lp_limits {
    uint32_t max_width;       /* default 65535 */
    uint32_t max_height;      /* default 65535 */
    uint64_t max_pixels;      /* default 268402689 (16383 x 16383, as sharp's limitInputPixels) */
    uint64_t max_file_bytes;  /* default 2 GiB */
    /* Decoder work and metadata; 0 = no limit. Defaults and their reasons: src/core/image.c. */
    uint32_t max_scans;           /* JPEG scans (progressive files); default LP_DEFAULT_MAX_SCANS */
    uint32_t max_warnings;        /* tolerated JPEG warnings; default LP_DEFAULT_MAX_WARNINGS */
    uint64_t max_metadata_bytes;  /* ICC + EXIF + XMP kept, and PNG ancillary chunks cached;
                                   * default LP_DEFAULT_MAX_METADATA_BYTES */
} lp_limits;

/* Plain numbers, so that help texts can quote them. */
#define LP_DEFAULT_MAX_SCANS 100
#define LP_DEFAULT_MAX_WARNINGS 100
#define LP_DEFAULT_MAX_METADATA_MIB 8
#define LP_DEFAULT_MAX_METADATA_BYTES ((uint64_t)LP_DEFAULT_MAX_METADATA_MIB << 20)

LP_API void lp_limits_default(lp_limits *limits);
/* LP_ERR_LIMITS with a message naming the dimension that is over, or LP_OK. Also refuses
 * zero sizes (LP_ERR_CORRUPT). */
LP_API lp_status lp_limits_check(const lp_limits *limits, uint32_t width, uint32_t height,
                                 lp_error *err);

/* Header facts of an input: what the planner needs, nothing decoded. */
typedef struct lp_probe {
    lp_file_format format;
    uint32_t width, height;   /* as stored */
    unsigned components;      /* 1..4 */
    unsigned bit_depth;       /* 8 or 16 (PNG 1..16) */
    bool progressive;         /* JPEG progressive/multi-scan, PNG Adam7: decoder holds more */
    double samples_per_pixel; /* JPEG: sum over components of Hc*Vc/(Hmax*Vmax) (1.5 for 4:2:0) */
    int orientation;          /* EXIF orientation 1..8 when the probe read it, else 1 */
    uint64_t file_bytes;
    uint32_t grid_cells;      /* HEIF/AVIF: cells of the grids the decode reads (rows x columns,
                               * the image's and its alpha's), 0 when not a grid */
    uint64_t coded_pixels;    /* HEIF/AVIF: the largest coded picture the decode reads (a
                               * grid's cell, the image, its alpha image) as declared, width x
                               * height; 0 when unknown */
} lp_probe;

#ifdef __cplusplus
}
#endif
#endif
