/*
 * cell_store.h - private: where the AVIF grid writer keeps its compressed cells until the
 * container is written.
 *
 * The compressed output is small next to the pixels (0.1-0.3 byte per pixel), but for a
 * 216 MP photo it is still ~50 MB, more than everything else the job holds. So the store
 * keeps bytes in one counted memory block up to a threshold and, past it, moves them to
 * an unlinked temporary file (O_TMPFILE in $TMPDIR or /var/tmp): written with write(),
 * read back with pread() at finish, so it costs page cache, never process RSS. Small
 * images (servers, tests) never touch the disk.
 */
#ifndef LP_CELL_STORE_H
#define LP_CELL_STORE_H

#include <stddef.h>
#include <stdint.h>
#include "leanpix/io.h"
#include "leanpix/mem.h"
#include "leanpix/status.h"

/* Default threshold (lp_encode_options.grid_spill_bytes overrides it; tests use a small
 * value to exercise the file path) and directory of the temp file. */
#define LP_CELL_STORE_SPILL_BYTES (8u << 20)
#define LP_CELL_STORE_SPILL_DIR "/var/tmp"
/* The in-memory block starts at this size (the least a grid's output is charged). */
#define LP_CELL_STORE_FIRST_BLOCK (64u << 10)

typedef struct lp_cell_store {
    lp_mem *mem;
    uint64_t threshold;
    uint8_t *buf;       /* in-memory bytes (before spilling) */
    size_t buf_cap;
    uint64_t size;      /* total bytes appended */
    int fd;             /* -1 until spilled */
    const char *dir;    /* where the temp file is made */
} lp_cell_store;

/* dir NULL or "" = LP_CELL_STORE_SPILL_DIR; it must outlive the store. */
void lp_cell_store_init(lp_cell_store *store, lp_mem *mem, uint64_t threshold, const char *dir);
/* Appends data; *offset receives where it starts in the store. */
lp_status lp_cell_store_append(lp_cell_store *store, const void *data, size_t size,
                               uint64_t *offset, lp_error *err);
/* Writes every byte, in order, to out (through a small buffer when spilled). */
lp_status lp_cell_store_write_to(lp_cell_store *store, lp_output *out, lp_mem *mem, lp_error *err);
void lp_cell_store_release(lp_cell_store *store);

#endif
