/*
 * input.c - sequential input without file-backed RSS growth (see leanpix/io.h).
 *
 * READ mode: one LP_INPUT_CHUNK buffer, pread at the cursor, POSIX_FADV_SEQUENTIAL up
 * front and POSIX_FADV_DONTNEED on what has been consumed, so a batch of big files does
 * not fill the page cache with data nobody will read again.
 *
 * MMAP mode: the whole file is mapped read-only with MADV_SEQUENTIAL; chunks are pointers
 * into the mapping (zero copy), and every time the cursor moves past a chunk the pages
 * behind it are dropped with MADV_DONTNEED, so resident file pages stay within about two
 * chunks instead of growing to the file's size (the classic "mmap without hints" cost).
 *
 * Memory inputs point at a caller's buffer.
 */
#define _GNU_SOURCE
#include "leanpix/io.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

typedef enum input_kind { INPUT_READ, INPUT_MMAP, INPUT_MEMORY } input_kind;

struct lp_input {
    input_kind kind;
    int fd;
    const uint8_t *base;   /* mapping or memory buffer */
    uint64_t size;
    uint64_t pos;          /* consumed bytes */
    uint64_t dropped;      /* MMAP/READ: bytes before this offset were advised away */
    uint8_t *buffer;       /* READ: chunk buffer */
    char *name;
};

static long page_size(void)
{
    long p = sysconf(_SC_PAGESIZE);
    return p > 0 ? p : 4096;
}

lp_status lp_input_open_file(lp_input **out, const char *path, lp_io_mode mode,
                             uint64_t max_bytes, lp_error *err)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return lp_error_set(err, LP_ERR_IO, "cannot open: %s", strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return lp_error_set(err, LP_ERR_IO, "cannot stat: %s", strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return lp_error_set(err, LP_ERR_IO, "not a regular file");
    }
    if (max_bytes && (uint64_t)st.st_size > max_bytes) {
        close(fd);
        return lp_error_set(err, LP_ERR_LIMITS,
                            "file is %" PRIu64 " bytes, over the limit of %" PRIu64,
                            (uint64_t)st.st_size, max_bytes);
    }
    lp_input *in = calloc(1, sizeof *in);
    char *name = strdup(path);
    if (!in || !name) {
        free(in);
        free(name);
        close(fd);
        return lp_error_set(err, LP_ERR_NOMEM, "cannot allocate an input");
    }
    in->fd = fd;
    in->size = (uint64_t)st.st_size;
    in->name = name;
    if (mode == LP_IO_MMAP && in->size > 0) {
        void *map = mmap(NULL, in->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            int e = errno;
            lp_input_close(in);
            return lp_error_set(err, LP_ERR_IO, "cannot map: %s", strerror(e));
        }
        madvise(map, in->size, MADV_SEQUENTIAL);
        in->base = map;
        in->kind = INPUT_MMAP;
    } else {
        in->kind = INPUT_READ;
        in->buffer = malloc(LP_INPUT_CHUNK);
        if (!in->buffer) {
            lp_input_close(in);
            return lp_error_set(err, LP_ERR_NOMEM, "cannot allocate the read buffer");
        }
        posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    }
    *out = in;
    return LP_OK;
}

lp_status lp_input_open_memory(lp_input **out, const void *data, size_t size, lp_error *err)
{
    lp_input *in = calloc(1, sizeof *in);
    if (!in)
        return lp_error_set(err, LP_ERR_NOMEM, "cannot allocate an input");
    in->kind = INPUT_MEMORY;
    in->fd = -1;
    in->base = data;
    in->size = size;
    *out = in;
    return LP_OK;
}

void lp_input_close(lp_input *in)
{
    if (!in)
        return;
    if (in->kind == INPUT_MMAP && in->base)
        munmap((void *)in->base, in->size);
    if (in->fd >= 0) {
        if (in->kind == INPUT_READ)
            posix_fadvise(in->fd, 0, 0, POSIX_FADV_DONTNEED);
        close(in->fd);
    }
    free(in->buffer);
    free(in->name);
    free(in);
}

/* Gives back the pages the cursor has left behind, a page-aligned range at a time. */
static void drop_behind(lp_input *in)
{
    long ps = page_size();
    uint64_t upto = in->pos / (uint64_t)ps * (uint64_t)ps;
    if (upto <= in->dropped || upto - in->dropped < LP_INPUT_CHUNK)
        return;
    if (in->kind == INPUT_MMAP)
        madvise((void *)(in->base + in->dropped), upto - in->dropped, MADV_DONTNEED);
    else if (in->kind == INPUT_READ)
        posix_fadvise(in->fd, (off_t)in->dropped, (off_t)(upto - in->dropped), POSIX_FADV_DONTNEED);
    in->dropped = upto;
}

static lp_status pread_full(lp_input *in, uint8_t *buf, size_t want, uint64_t at, size_t *got,
                            lp_error *err)
{
    size_t done = 0;
    while (done < want) {
        ssize_t n = pread(in->fd, buf + done, want - done, (off_t)(at + done));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return lp_error_set(err, LP_ERR_IO, "read failed: %s", strerror(errno));
        }
        if (n == 0)
            break;
        done += (size_t)n;
    }
    *got = done;
    return LP_OK;
}

lp_status lp_input_read(lp_input *in, void *buf, size_t want, size_t *got, lp_error *err)
{
    *got = 0;
    uint64_t left = in->pos < in->size ? in->size - in->pos : 0;
    if (want > left)
        want = (size_t)left;
    if (want == 0)
        return LP_OK;
    if (in->kind == INPUT_READ) {
        lp_status st = pread_full(in, buf, want, in->pos, got, err);
        if (st != LP_OK)
            return st;
    } else {
        memcpy(buf, in->base + in->pos, want);
        *got = want;
    }
    in->pos += *got;
    drop_behind(in);
    return LP_OK;
}

lp_status lp_input_next_chunk(lp_input *in, const uint8_t **data, size_t *len, lp_error *err)
{
    *data = NULL;
    *len = 0;
    uint64_t left = in->pos < in->size ? in->size - in->pos : 0;
    size_t want = left < LP_INPUT_CHUNK ? (size_t)left : LP_INPUT_CHUNK;
    if (want == 0)
        return LP_OK;
    if (in->kind == INPUT_READ) {
        size_t got;
        lp_status st = pread_full(in, in->buffer, want, in->pos, &got, err);
        if (st != LP_OK)
            return st;
        *data = in->buffer;
        *len = got;
    } else {
        *data = in->base + in->pos;
        *len = want;
    }
    drop_behind(in);  /* before advancing: the chunk just handed out stays resident */
    in->pos += *len;
    return LP_OK;
}

lp_status lp_input_peek(lp_input *in, void *buf, size_t len, size_t *got, lp_error *err)
{
    *got = 0;
    if (len > in->size)
        len = (size_t)in->size;
    if (in->kind == INPUT_READ)
        return pread_full(in, buf, len, 0, got, err);
    memcpy(buf, in->base, len);
    *got = len;
    return LP_OK;
}

uint64_t lp_input_size(const lp_input *in) { return in->size; }
uint64_t lp_input_position(const lp_input *in) { return in->pos; }
const char *lp_input_name(const lp_input *in) { return in->name ? in->name : "(memory)"; }
