/*
 * output.c - outputs that never leave a half-written file (see leanpix/io.h).
 *
 * A file output is a hidden temp file beside the destination (same directory, so the
 * final rename is atomic on every POSIX file system): ".NAME.lp-XXXXXX". Writes are
 * buffered in 64 KiB; commit flushes, fsyncs the file, renames it over NAME and fsyncs
 * the directory so that the rename itself survives a crash. An output that is closed
 * without commit removes its temp file; a process killed with SIGKILL leaves only the
 * hidden temp, never a partial file under NAME (batch --resume cleans those up).
 *
 * A memory output is a growable malloc'd buffer whose size is charged to an lp_mem.
 */
#define _GNU_SOURCE
#include "leanpix/io.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define OUTPUT_BUFFER (64u * 1024u)

struct lp_output {
    bool is_file;
    int fd;
    char *final_path;
    char *temp_path;
    bool committed;
    uint8_t *data;      /* file: write buffer; memory: the bytes */
    size_t used;
    size_t capacity;
    uint64_t total;     /* bytes written through the output */
    lp_mem *mem;        /* memory outputs: where capacity is charged */
};

static char *dir_of(const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return NULL;
    char *dir = strdup(dirname(copy));
    free(copy);
    return dir;
}

lp_status lp_output_open_file(lp_output **out, const char *final_path, lp_error *err)
{
    *out = NULL;
    char *copy = strdup(final_path);
    char *dir = dir_of(final_path);
    lp_output *o = calloc(1, sizeof *o);
    uint8_t *buffer = malloc(OUTPUT_BUFFER);
    if (!copy || !dir || !o || !buffer) {
        free(copy);
        free(dir);
        free(o);
        free(buffer);
        return lp_error_set(err, LP_ERR_NOMEM, "cannot allocate an output");
    }
    const char *base = strrchr(final_path, '/');
    base = base ? base + 1 : final_path;
    size_t need = strlen(dir) + strlen(base) + 16;
    o->temp_path = malloc(need);
    if (!o->temp_path) {
        free(copy);
        free(dir);
        free(o);
        free(buffer);
        return lp_error_set(err, LP_ERR_NOMEM, "cannot allocate an output");
    }
    snprintf(o->temp_path, need, "%s/.%s.lp-XXXXXX", dir, base);
    free(dir);
    o->fd = mkostemp(o->temp_path, O_CLOEXEC);
    if (o->fd < 0) {
        int e = errno;
        free(o->temp_path);
        free(copy);
        free(o);
        free(buffer);
        return lp_error_set(err, LP_ERR_IO, "cannot create a file in the output directory: %s",
                            strerror(e));
    }
    fchmod(o->fd, 0644);  /* mkstemp makes 0600; outputs are ordinary files */
    o->is_file = true;
    o->final_path = copy;
    o->data = buffer;
    o->capacity = OUTPUT_BUFFER;
    *out = o;
    return LP_OK;
}

lp_status lp_output_open_memory(lp_output **out, lp_mem *mem, lp_error *err)
{
    lp_output *o = calloc(1, sizeof *o);
    if (!o)
        return lp_error_set(err, LP_ERR_NOMEM, "cannot allocate an output");
    o->fd = -1;
    o->mem = mem;
    *out = o;
    return LP_OK;
}

static lp_status write_all(lp_output *o, const uint8_t *data, size_t size, lp_error *err)
{
    while (size > 0) {
        ssize_t n = write(o->fd, data, size);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return lp_error_set(err, LP_ERR_IO, "write failed: %s", strerror(errno));
        }
        data += n;
        size -= (size_t)n;
    }
    return LP_OK;
}

static lp_status flush_buffer(lp_output *o, lp_error *err)
{
    lp_status st = write_all(o, o->data, o->used, err);
    o->used = 0;
    return st;
}

static lp_status grow_memory(lp_output *o, size_t need, lp_error *err)
{
    size_t cap = o->capacity ? o->capacity : 64 * 1024;
    while (cap < need) {
        if (cap > SIZE_MAX / 2)
            return lp_error_set(err, LP_ERR_NOMEM, "output buffer too large");
        cap *= 2;
    }
    lp_status st = lp_mem_reserve(o->mem, cap - o->capacity, "output buffer", err);
    if (st != LP_OK)
        return st;
    uint8_t *data = realloc(o->data, cap);
    if (!data) {
        lp_mem_unreserve(o->mem, cap - o->capacity);
        return lp_error_set(err, LP_ERR_NOMEM, "cannot grow the output buffer to %zu bytes", cap);
    }
    o->data = data;
    o->capacity = cap;
    return LP_OK;
}

lp_status lp_output_write(lp_output *o, const void *data, size_t size, lp_error *err)
{
    if (o->committed)
        return lp_error_set(err, LP_ERR_INVALID_ARG, "write after commit");
    o->total += size;
    if (!o->is_file) {
        if (size > SIZE_MAX - o->used)
            return lp_error_set(err, LP_ERR_NOMEM, "output buffer too large");
        if (o->used + size > o->capacity) {
            lp_status st = grow_memory(o, o->used + size, err);
            if (st != LP_OK)
                return st;
        }
        memcpy(o->data + o->used, data, size);
        o->used += size;
        return LP_OK;
    }
    if (o->used + size > o->capacity) {
        lp_status st = flush_buffer(o, err);
        if (st != LP_OK)
            return st;
    }
    if (size >= o->capacity)
        return write_all(o, data, size, err);
    memcpy(o->data + o->used, data, size);
    o->used += size;
    return LP_OK;
}

static void fsync_dir_of(const char *path)
{
    char *dir = dir_of(path);
    if (!dir)
        return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(dir);
}

lp_status lp_output_commit(lp_output *o, lp_error *err)
{
    if (!o->is_file || o->committed)
        return LP_OK;
    lp_status st = flush_buffer(o, err);
    if (st != LP_OK)
        return st;
    if (fsync(o->fd) != 0)
        return lp_error_set(err, LP_ERR_IO, "fsync failed: %s", strerror(errno));
    if (close(o->fd) != 0) {
        o->fd = -1;
        return lp_error_set(err, LP_ERR_IO, "close failed: %s", strerror(errno));
    }
    o->fd = -1;
    if (rename(o->temp_path, o->final_path) != 0)
        return lp_error_set(err, LP_ERR_IO, "cannot rename into place: %s", strerror(errno));
    o->committed = true;
    fsync_dir_of(o->final_path);
    return LP_OK;
}

const uint8_t *lp_output_data(const lp_output *o, size_t *size)
{
    *size = o->is_file ? 0 : o->used;
    return o->is_file ? NULL : o->data;
}

uint8_t *lp_output_take(lp_output *o, size_t *size)
{
    if (o->is_file) {
        *size = 0;
        return NULL;
    }
    uint8_t *data = o->data;
    *size = o->used;
    lp_mem_unreserve(o->mem, o->capacity);
    o->data = NULL;
    o->used = o->capacity = 0;
    return data;
}

uint64_t lp_output_bytes(const lp_output *o)
{
    return o->total;
}

void lp_output_close(lp_output *o)
{
    if (!o)
        return;
    if (o->is_file) {
        if (o->fd >= 0)
            close(o->fd);
        if (!o->committed)
            unlink(o->temp_path);
        free(o->temp_path);
        free(o->final_path);
        free(o->data);
    } else {
        lp_mem_unreserve(o->mem, o->capacity);
        free(o->data);
    }
    free(o);
}

lp_status lp_write_file_atomic(const char *path, const void *data, size_t size, lp_error *err)
{
    lp_output *o;
    lp_status st = lp_output_open_file(&o, path, err);
    if (st != LP_OK)
        return st;
    st = lp_output_write(o, data, size, err);
    if (st == LP_OK)
        st = lp_output_commit(o, err);
    lp_output_close(o);
    return st;
}
