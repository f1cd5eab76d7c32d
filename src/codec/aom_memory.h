/*
 * aom_memory.h - private: what libaom's all-intra encoder holds, defined once for the
 * encoders that reserve it (avif_save.c, avif_grid_save.c) and the AVIF format's memory
 * model (src/formats/avif.c).
 *
 * libaom allocates with its own malloc; we cannot route it through lp_mem, so the encoders
 * reserve these estimates before creating an encoder and the planner predicts with them.
 * Measured with libaom 3.6.0 (Debian 12), speed 6, 8-bit 4:2:0, VmHWM deltas:
 *   one still frame: ~400 MB at 24 MP, and ~13 MiB above 16.5 B/px at 0.8 MP
 *     (bench/batch-model.sh, docs/memory.md);
 *   one more cell encoder of 256, 512, 1024 and 2048 px square cells: 3.8, 8.2, 24.8 and
 *     58.0 MiB (docs/avif-grid.md).
 * One per-pixel figure covers both: 17 B/px, with 14 MiB fixed for a frame (the frame
 * encoder's look-ahead and tables) and 7 MiB fixed per cell encoder (17 B/px + 7 MiB is
 * at or above every cell measurement: 8.1, 11.4, 24.8, 75 MiB). The cell encoders count
 * the per-pixel part twice at 10 bits. These hold because the encoders turn intra block
 * copy off: with it, libaom's screen-content detection (smooth photos at speed <= 6) adds
 * hash tables over the whole frame, 4-6x these figures (docs/avif-grid.md).
 */
#ifndef LP_AOM_MEMORY_H
#define LP_AOM_MEMORY_H

#define LP_AOM_BYTES_PER_PIXEL 17u
#define LP_AOM_FRAME_FIXED_BYTES (14u << 20)
#define LP_AOM_CELL_FIXED_BYTES (7u << 20)
/* Each libaom thread beyond the first adds row buffers: ~1 B/px (bench/batch-model.sh). */
#define LP_AOM_BYTES_PER_PIXEL_PER_THREAD 1u

#endif
