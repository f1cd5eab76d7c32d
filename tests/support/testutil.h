/*
 * testutil.h - what every leanpix test needs: a scratch directory, synthetic photo-like
 * images, independent readers for the files external decoders write (PNG through libspng
 * directly, PNM/PAM by hand), PSNR, and running external tools.
 *
 * Tests call these from cmocka test functions; failures use cmocka's assertions.
 */
#ifndef LP_TESTUTIL_H
#define LP_TESTUTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <setjmp.h>
#include <cmocka.h>

#include "leanpix/leanpix.h"

/* The test's scratch directory (LP_TEST_TMP, created on first use). */
const char *lpt_tmpdir(void);
/* tmpdir/name in a rotating static buffer (8 slots). */
const char *lpt_path(const char *name);
/* The CLI binary (LP_BIN). */
const char *lpt_bin(void);
/* ../shared, or NULL when absent (then skip with lpt_skip_without_shared()). */
const char *lpt_shared_dir(void);

/* Skips the current test with a message on stderr when the tool is not on PATH. */
#define LPT_REQUIRE_TOOL(tool)                                                             \
    do {                                                                                   \
        if (!lpt_have_tool(tool)) {                                                        \
            fprintf(stderr, "SKIP: '%s' is not installed (scripts/deps.sh test)\n", tool); \
            skip();                                                                        \
        }                                                                                  \
    } while (0)
#define LPT_REQUIRE_SHARED()                                                               \
    do {                                                                                   \
        if (!lpt_shared_dir()) {                                                           \
            fprintf(stderr, "SKIP: ../shared is absent (set LP_SHARED_DIR)\n");            \
            skip();                                                                        \
        }                                                                                  \
    } while (0)

bool lpt_have_tool(const char *tool);
/* Runs a shell command (printf-style); returns its exit status (-1 if it did not run). */
int lpt_run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Same, capturing stdout+stderr into buf (NUL-terminated, truncated to size). */
int lpt_run_capture(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

bool lpt_file_exists(const char *path);
long long lpt_file_size(const char *path);
/* Reads a whole file (malloc'd); NULL if it cannot. */
uint8_t *lpt_read_file(const char *path, size_t *size);
void lpt_write_file(const char *path, const void *data, size_t size);
/* Number of entries in dir whose name starts with prefix (e.g. leftover ".out.lp-"). */
int lpt_count_files(const char *dir, const char *prefix);

/* A deterministic photo-like image: smooth gradients, soft shapes, edges and grain. */
void lpt_make_photo(lp_buffer_image *img, uint32_t width, uint32_t height, lp_format format,
                    uint32_t seed);

/* Independent readers (not leanpix's decoders). Output is RGB8/RGBA8/G8/GA8 or 16-bit. */
bool lpt_read_png(const char *path, lp_buffer_image *img);
bool lpt_read_pnm(const char *path, lp_buffer_image *img);  /* P5/P6/P7 */
/* Decodes path with an external tool into a PNG/PNM and reads it:
 * "djpeg", "dwebp", "avifdec", "heif-convert", "vips", "spng"(=read PNG directly). */
bool lpt_decode_external(const char *tool, const char *path, lp_buffer_image *img);
/* Decodes with leanpix's own decoders into a buffer. */
lp_status lpt_decode_leanpix(const char *path, lp_buffer_image *img, lp_error *err);

/* PSNR in dB over all channels of two images of the same size (formats may differ in
 * alpha: then only the colour channels are compared; 16-bit compared at 8-bit scale). */
double lpt_psnr(const lp_buffer_image *a, const lp_buffer_image *b);
/* PSNR over a rectangle. */
double lpt_psnr_rect(const lp_buffer_image *a, const lp_buffer_image *b, uint32_t x, uint32_t y,
                     uint32_t w, uint32_t h);
/* The image as a viewer shows it: stored pixels img turned by EXIF orientation 1..8
 * (written from the EXIF definitions, independent of leanpix's orient stage). */
void lpt_apply_orientation(const lp_buffer_image *img, int orientation, lp_buffer_image *shown);

/* Converts an image into RGB8 (or RGBA8 when keep_alpha) in place (reallocates). */
void lpt_to_rgb8(lp_buffer_image *img, bool keep_alpha);

#endif
