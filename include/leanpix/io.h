/*
 * leanpix/io.h - where bytes come from and go to.
 *
 * lp_input reads a file front to back without adding file-backed RSS: in READ mode it
 * preads into one small buffer and tells the kernel the access is sequential
 * (posix_fadvise), dropping page cache behind the cursor; in MMAP mode it maps the file
 * with MADV_SEQUENTIAL and calls MADV_DONTNEED on what the cursor has passed, so resident
 * file pages stay within a window. Memory inputs wrap a caller's buffer (server uploads).
 *
 * A file read with MMAP that shrinks while it is read (truncated by someone else) would
 * raise SIGBUS on the first access past its new end. Every read from the mapping is a copy
 * made under a SIGBUS guard (a handler the library puts in front when an MMAP input is
 * opened, normally once per process; it passes every other SIGBUS on to the handler that
 * was there before, and an input whose guard was replaced is read with pread), and the size is
 * checked before each chunk, so a shrinking file ends early exactly as with READ (the
 * decoder then says "truncated ... at scanline N") instead of killing the process.
 *
 * lp_output never leaves a half-written file under the final name and never destroys what
 * was at it: a regular file (or the final target of a symlink, which stays a link) is
 * replaced by a hidden temp file in its directory (".NAME.lp-XXXXXX") that only
 * lp_output_commit() fsyncs and renames over it, with the old file's mode (and owner and
 * group when allowed); closing an uncommitted output unlinks the temp file. A character
 * device, FIFO, socket or pipe (/dev/stdout, /dev/null) is written directly, never
 * replaced or unlinked; a block device or directory is refused. Memory outputs grow a
 * buffer counted in an lp_mem.
 */
#ifndef LEANPIX_IO_H
#define LEANPIX_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "leanpix/mem.h"
#include "leanpix/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum lp_io_mode {
    LP_IO_READ = 0,  /* pread into a 256 KiB buffer (default) */
    LP_IO_MMAP       /* mmap + MADV_SEQUENTIAL + MADV_DONTNEED behind the cursor; chunks are
                        copied out under a SIGBUS guard (see above) */
} lp_io_mode;

#define LP_INPUT_CHUNK (256u * 1024u)

typedef struct lp_input lp_input;

/* Opens path; refuses files larger than max_bytes (0 = no limit) with LP_ERR_LIMITS. */
lp_status lp_input_open_file(lp_input **out, const char *path, lp_io_mode mode,
                             uint64_t max_bytes, lp_error *err);
/* Wraps data (not copied; must outlive the input). */
lp_status lp_input_open_memory(lp_input **out, const void *data, size_t size, lp_error *err);
void lp_input_close(lp_input *in);

/* Copies up to want bytes; *got = 0 only at end of input. */
lp_status lp_input_read(lp_input *in, void *buf, size_t want, size_t *got, lp_error *err);
/* Points *data at the next chunk (at most LP_INPUT_CHUNK bytes) and consumes it: the
 * input's own buffer for files (READ and MMAP), the caller's bytes for memory inputs. The
 * chunk stays valid until the next call. *len = 0 at end of input. */
lp_status lp_input_next_chunk(lp_input *in, const uint8_t **data, size_t *len, lp_error *err);
/* Copies the first len bytes without consuming them (for format sniffing). Must be
 * called before any read. Returns the count copied in *got. */
lp_status lp_input_peek(lp_input *in, void *buf, size_t len, size_t *got, lp_error *err);
/* Copies up to len bytes at offset at without moving the cursor, for decoders that read a
 * container by offsets (HEIF/AVIF boxes and items). *got < len only at end of input. */
lp_status lp_input_read_at(lp_input *in, uint64_t at, void *buf, size_t len, size_t *got,
                           lp_error *err);

/* The size at open, or less once the file was seen to shrink while read. */
uint64_t lp_input_size(const lp_input *in);
uint64_t lp_input_position(const lp_input *in);
const char *lp_input_name(const lp_input *in);  /* path, or "(memory)" */
/* File inputs: the device and inode read (false for memory inputs). */
bool lp_input_file_id(const lp_input *in, uint64_t *dev, uint64_t *ino);
/* The file descriptor of a file input (for preads that leave its position alone), or -1
 * for a memory input. It stays the input's: do not close it. */
int lp_input_fd(const lp_input *in);

typedef struct lp_output lp_output;

/* See the header comment for what each kind of existing final_path becomes. */
lp_status lp_output_open_file(lp_output **out, const char *final_path, lp_error *err);
/* True when writing out would overwrite the bytes in reads in place: a direct output
 * (through /proc, e.g. /dev/stdout redirected to the input) that is the input's file.
 * Callers refuse such a job before writing. Replacing the input's name through a temp
 * file is not overwriting: the input keeps reading its own inode ("convert a.jpg a.jpg"). */
bool lp_output_overwrites(const lp_output *out, const lp_input *in);
lp_status lp_output_open_memory(lp_output **out, lp_mem *mem, lp_error *err);
lp_status lp_output_write(lp_output *out, const void *data, size_t size, lp_error *err);
/* File: flush, fsync, rename to the final name, fsync the directory. Memory: no-op. */
lp_status lp_output_commit(lp_output *out, lp_error *err);
/* Memory outputs: the bytes written so far. */
const uint8_t *lp_output_data(const lp_output *out, size_t *size);
/* Memory outputs: hands the buffer to the caller (free with free()); the output is empty. */
uint8_t *lp_output_take(lp_output *out, size_t *size);
uint64_t lp_output_bytes(const lp_output *out);
/* Uncommitted file outputs: the temp file is unlinked (a direct output is only closed). */
void lp_output_close(lp_output *out);

/* How many file outputs' temp files lp_output_remove_temps() can know of at once (outputs
 * past that still work; a signal could leave their temps behind, as SIGKILL does). */
#define LP_OUTPUT_TRACKED_TEMPS 128
/* Async-signal-safe: unlinks the temp files of all file outputs neither committed nor
 * closed. For a CLI's SIGINT/SIGTERM handler that ends the process. */
void lp_output_remove_temps(void);

/* Writes a whole buffer to path atomically (temp + fsync + rename). */
lp_status lp_write_file_atomic(const char *path, const void *data, size_t size, lp_error *err);

#ifdef __cplusplus
}
#endif
#endif
