/*
 * cell_store.c - compressed grid cells in memory, spilled to an unlinked temp file past a
 * threshold (see cell_store.h for why).
 *
 * The file is opened with O_TMPFILE so that it has no name and vanishes with the process,
 * whatever happens; where the filesystem cannot do that, a mkstemp() name is unlinked at
 * once. Reading back uses one 1 MiB buffer from the job's lp_mem.
 */
#define _GNU_SOURCE  /* O_TMPFILE, mkostemp */
#include "codec/cell_store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define COPY_CHUNK (1u << 20)
/* The block grows by doubling up to 1 MiB, then by 1 MiB steps: what is counted stays
 * within 1 MiB of what is held (doubling counted up to twice the bytes: a 2.3 MB photo's
 * cells were charged 4 MiB), and glibc moves a large block by mremap, not by copying. */
#define GROWTH_STEP ((size_t)1 << 20)

void lp_cell_store_init(lp_cell_store *store, lp_mem *mem, uint64_t threshold, const char *dir)
{
    memset(store, 0, sizeof *store);
    store->mem = mem;
    store->threshold = threshold;
    store->fd = -1;
    store->dir = dir && *dir ? dir : LP_CELL_STORE_SPILL_DIR;
}

static int open_spill_file(const char *dir)
{
    int fd = -1;
#ifdef O_TMPFILE
    fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0)
        return fd;
#endif
    char path[4096];
    snprintf(path, sizeof path, "%s/.leanpix-cells-XXXXXX", dir);
    fd = mkostemp(path, O_CLOEXEC);
    if (fd >= 0)
        unlink(path);
    return fd;
}

static lp_status write_all(int fd, const uint8_t *p, size_t n, lp_error *err)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return lp_error_set(err, LP_ERR_IO, "cannot write the grid's temporary cell file: %s",
                                strerror(w < 0 ? errno : ENOSPC));
        p += w;
        n -= (size_t)w;
    }
    return LP_OK;
}

/* Moves the in-memory bytes to a new temp file. */
static lp_status spill(lp_cell_store *s, lp_error *err)
{
    s->fd = open_spill_file(s->dir);
    if (s->fd < 0)
        return lp_error_set(err, LP_ERR_IO, "cannot create a temporary file for the grid's cells: %s",
                            strerror(errno));
    lp_status st = write_all(s->fd, s->buf, (size_t)s->size, err);
    lp_mem_release(s->mem, s->buf);
    s->buf = NULL;
    s->buf_cap = 0;
    return st;
}

lp_status lp_cell_store_append(lp_cell_store *s, const void *data, size_t size, uint64_t *offset,
                               lp_error *err)
{
    *offset = s->size;
    if (s->fd < 0 && s->size + size > s->threshold) {
        lp_status st = spill(s, err);
        if (st != LP_OK)
            return st;
    }
    if (s->fd >= 0) {
        lp_status st = write_all(s->fd, data, size, err);
        if (st == LP_OK)
            s->size += size;
        return st;
    }
    if (s->size + size > s->buf_cap) {
        size_t cap = s->buf_cap ? s->buf_cap : LP_CELL_STORE_FIRST_BLOCK;
        while (cap < s->size + size)
            cap = cap < GROWTH_STEP ? cap * 2 : cap + GROWTH_STEP;
        if (cap > s->threshold && s->threshold >= s->size + size)
            cap = (size_t)s->threshold;
        uint8_t *grown = lp_mem_realloc(s->mem, s->buf, cap, "AVIF grid compressed cells", err);
        if (!grown)
            return err ? err->status : LP_ERR_NOMEM;
        s->buf = grown;
        s->buf_cap = cap;
    }
    memcpy(s->buf + s->size, data, size);
    s->size += size;
    return LP_OK;
}

lp_status lp_cell_store_write_to(lp_cell_store *s, lp_output *out, lp_mem *mem, lp_error *err)
{
    if (s->fd < 0)
        return s->size ? lp_output_write(out, s->buf, (size_t)s->size, err) : LP_OK;
    uint8_t *chunk = lp_mem_alloc(mem, COPY_CHUNK, "AVIF grid copy buffer", err);
    if (!chunk)
        return err ? err->status : LP_ERR_NOMEM;
    lp_status st = LP_OK;
    for (uint64_t pos = 0; pos < s->size && st == LP_OK;) {
        size_t want = s->size - pos < COPY_CHUNK ? (size_t)(s->size - pos) : COPY_CHUNK;
        ssize_t got = pread(s->fd, chunk, want, (off_t)pos);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            st = lp_error_set(err, LP_ERR_IO, "cannot read back the grid's temporary cell file: %s",
                              got < 0 ? strerror(errno) : "unexpected end");
            break;
        }
        st = lp_output_write(out, chunk, (size_t)got, err);
        pos += (uint64_t)got;
    }
    lp_mem_release(mem, chunk);
    return st;
}

void lp_cell_store_release(lp_cell_store *s)
{
    lp_mem_release(s->mem, s->buf);
    s->buf = NULL;
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
}
