/*
 * leanpix/io.h - where bytes come from and go to.
 *
 * lp_input reads a file front to back without adding file-backed RSS: in READ mode it
 * preads into one small buffer and tells the kernel the access is sequential
 * (posix_fadvise), dropping page cache behind the cursor; in MMAP mode it maps the file
 * with MADV_SEQUENTIAL and calls MADV_DONTNEED on what the cursor has passed, so resident
 * file pages stay within a window. Memory inputs wrap a caller's buffer (server uploads).
 *
 * lp_output never leaves a half-written file under the final name: a file output writes a
 * hidden temp file in the destination directory (".NAME.lp-XXXXXX"), and only
 * lp_output_commit() fsyncs it, renames it over NAME and fsyncs the directory. Closing an
 * uncommitted output unlinks the temp file. Memory outputs grow a buffer counted in an
 * lp_mem.
 */
#ifndef LEANPIX_IO_H
#define LEANPIX_IO_H

#include <stddef.h>
#include <stdint.h>
#include "leanpix/mem.h"
#include "leanpix/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum lp_io_mode {
    LP_IO_READ = 0,  /* pread into a 256 KiB buffer (default) */
    LP_IO_MMAP       /* mmap + MADV_SEQUENTIAL + MADV_DONTNEED behind the cursor */
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
/* Zero-copy: points *data at the next chunk (at most LP_INPUT_CHUNK bytes) and consumes it.
 * The chunk stays valid until the next call. *len = 0 at end of input. */
lp_status lp_input_next_chunk(lp_input *in, const uint8_t **data, size_t *len, lp_error *err);
/* Copies the first len bytes without consuming them (for format sniffing). Must be
 * called before any read. Returns the count copied in *got. */
lp_status lp_input_peek(lp_input *in, void *buf, size_t len, size_t *got, lp_error *err);

uint64_t lp_input_size(const lp_input *in);
uint64_t lp_input_position(const lp_input *in);
const char *lp_input_name(const lp_input *in);  /* path, or "(memory)" */

typedef struct lp_output lp_output;

lp_status lp_output_open_file(lp_output **out, const char *final_path, lp_error *err);
lp_status lp_output_open_memory(lp_output **out, lp_mem *mem, lp_error *err);
lp_status lp_output_write(lp_output *out, const void *data, size_t size, lp_error *err);
/* File: flush, fsync, rename to the final name, fsync the directory. Memory: no-op. */
lp_status lp_output_commit(lp_output *out, lp_error *err);
/* Memory outputs: the bytes written so far. */
const uint8_t *lp_output_data(const lp_output *out, size_t *size);
/* Memory outputs: hands the buffer to the caller (free with free()); the output is empty. */
uint8_t *lp_output_take(lp_output *out, size_t *size);
uint64_t lp_output_bytes(const lp_output *out);
/* Uncommitted file outputs: the temp file is unlinked. */
void lp_output_close(lp_output *out);

/* Writes a whole buffer to path atomically (temp + fsync + rename). */
lp_status lp_write_file_atomic(const char *path, const void *data, size_t size, lp_error *err);

#ifdef __cplusplus
}
#endif
#endif
