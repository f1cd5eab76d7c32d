/*
 * mem.c - counted allocation for jobs (see leanpix/mem.h).
 *
 * Each block carries a 16-byte header with its size, so release needs no size from the
 * caller and realloc can adjust the counters. Counters are C11 atomics: a charge is a
 * fetch_add followed by a check against the limit, undone if over, so concurrent
 * allocations never let the sum pass the limit by more than one in-flight request each.
 * A parent tracker is charged the same amount (the batch-wide budget).
 *
 * The peak is maintained with a compare-exchange loop; it is the high-water mark of
 * `current`, which is what a budget must bound.
 */
#include "leanpix/mem.h"

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct lp_mem {
    _Atomic uint64_t current;
    _Atomic uint64_t peak;
    uint64_t limit;
    lp_mem *parent;
};

typedef struct block_header {
    size_t size;
    size_t pad;  /* keeps the payload 16-byte aligned */
} block_header;

lp_mem *lp_mem_new(uint64_t limit, lp_mem *parent)
{
    lp_mem *mem = calloc(1, sizeof *mem);
    if (!mem)
        return NULL;
    atomic_init(&mem->current, 0);
    atomic_init(&mem->peak, 0);
    mem->limit = limit;
    mem->parent = parent;
    return mem;
}

void lp_mem_free_tracker(lp_mem *mem)
{
    free(mem);
}

static void raise_peak(lp_mem *mem, uint64_t value)
{
    uint64_t peak = atomic_load(&mem->peak);
    while (value > peak && !atomic_compare_exchange_weak(&mem->peak, &peak, value)) {
    }
}

static void uncharge(lp_mem *mem, uint64_t bytes)
{
    for (; mem; mem = mem->parent)
        atomic_fetch_sub(&mem->current, bytes);
}

/* Charges bytes to mem and its ancestors; on refusal nothing stays charged and no peak
 * moves (peaks are raised only once every level has accepted). */
static lp_status charge(lp_mem *mem, uint64_t bytes, const char *what, lp_error *err)
{
    uint64_t after[16];
    unsigned depth = 0;
    for (lp_mem *m = mem; m; m = m->parent, depth++) {
        uint64_t now = atomic_fetch_add(&m->current, bytes) + bytes;
        if (depth < 16)
            after[depth] = now;
        if (m->limit && now > m->limit) {
            atomic_fetch_sub(&m->current, bytes);
            for (lp_mem *u = mem; u != m; u = u->parent)
                atomic_fetch_sub(&u->current, bytes);
            return lp_error_set(err, LP_ERR_NOMEM,
                                "%s: %.1f MiB would exceed the memory budget of %.1f MiB "
                                "(%.1f MiB in use)",
                                what, bytes / 1048576.0, m->limit / 1048576.0,
                                (now - bytes) / 1048576.0);
        }
    }
    depth = 0;
    for (lp_mem *m = mem; m; m = m->parent, depth++)
        raise_peak(m, depth < 16 ? after[depth] : atomic_load(&m->current));
    return LP_OK;
}

static void *alloc_block(lp_mem *mem, size_t size, bool zero, const char *what, lp_error *err)
{
    if (size > SIZE_MAX - sizeof(block_header)) {
        lp_error_set(err, LP_ERR_NOMEM, "%s: size overflow", what);
        return NULL;
    }
    if (mem && charge(mem, size, what, err) != LP_OK)
        return NULL;
    block_header *h = zero ? calloc(1, sizeof *h + size) : malloc(sizeof *h + size);
    if (!h) {
        if (mem)
            uncharge(mem, size);
        lp_error_set(err, LP_ERR_NOMEM, "%s: cannot allocate %zu bytes", what, size);
        return NULL;
    }
    h->size = size;
    return h + 1;
}

void *lp_mem_alloc(lp_mem *mem, size_t size, const char *what, lp_error *err)
{
    return alloc_block(mem, size, false, what, err);
}

void *lp_mem_calloc(lp_mem *mem, size_t size, const char *what, lp_error *err)
{
    return alloc_block(mem, size, true, what, err);
}

void *lp_mem_realloc(lp_mem *mem, void *ptr, size_t size, const char *what, lp_error *err)
{
    if (!ptr)
        return lp_mem_alloc(mem, size, what, err);
    block_header *h = (block_header *)ptr - 1;
    size_t old = h->size;
    if (size > SIZE_MAX - sizeof(block_header)) {
        lp_error_set(err, LP_ERR_NOMEM, "%s: size overflow", what);
        return NULL;
    }
    if (mem && size > old && charge(mem, size - old, what, err) != LP_OK)
        return NULL;
    block_header *n = realloc(h, sizeof *n + size);
    if (!n) {
        if (mem && size > old)
            uncharge(mem, size - old);
        lp_error_set(err, LP_ERR_NOMEM, "%s: cannot allocate %zu bytes", what, size);
        return NULL;
    }
    if (mem && size < old)
        uncharge(mem, old - size);
    n->size = size;
    return n + 1;
}

void lp_mem_release(lp_mem *mem, void *ptr)
{
    if (!ptr)
        return;
    block_header *h = (block_header *)ptr - 1;
    if (mem)
        uncharge(mem, h->size);
    free(h);
}

lp_status lp_mem_reserve(lp_mem *mem, uint64_t bytes, const char *what, lp_error *err)
{
    return mem ? charge(mem, bytes, what, err) : LP_OK;
}

void lp_mem_unreserve(lp_mem *mem, uint64_t bytes)
{
    if (mem)
        uncharge(mem, bytes);
}

uint64_t lp_mem_current(const lp_mem *mem)
{
    return mem ? atomic_load(&((lp_mem *)mem)->current) : 0;
}

uint64_t lp_mem_peak(const lp_mem *mem)
{
    return mem ? atomic_load(&((lp_mem *)mem)->peak) : 0;
}

uint64_t lp_mem_limit(const lp_mem *mem)
{
    return mem ? mem->limit : 0;
}

/* Reads "Key:   1234 kB" from /proc/self/status. */
static uint64_t proc_status_kib(const char *key)
{
    FILE *f = fopen("/proc/self/status", "re");
    if (!f)
        return 0;
    char line[256];
    size_t keylen = strlen(key);
    uint64_t kib = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, key, keylen) == 0 && line[keylen] == ':') {
            kib = strtoull(line + keylen + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kib * 1024;
}

uint64_t lp_process_peak_rss(void)
{
    return proc_status_kib("VmHWM");
}

uint64_t lp_process_current_rss(void)
{
    return proc_status_kib("VmRSS");
}

lp_status lp_parse_size(const char *text, uint64_t *bytes, lp_error *err)
{
    if (!text || !*text)
        return lp_error_set(err, LP_ERR_INVALID_ARG, "empty size");
    errno = 0;
    char *end;
    double value = strtod(text, &end);
    if (errno || end == text || !(value >= 0))  /* NaN too */
        return lp_error_set(err, LP_ERR_INVALID_ARG, "invalid size '%s'", text);
    double unit = 1;
    switch (*end) {
    case 'k': case 'K': unit = 1024.0; end++; break;
    case 'm': case 'M': unit = 1024.0 * 1024; end++; break;
    case 'g': case 'G': unit = 1024.0 * 1024 * 1024; end++; break;
    case 't': case 'T': unit = 1024.0 * 1024 * 1024 * 1024; end++; break;
    default: break;
    }
    if (*end == 'i')
        end++;
    if (*end == 'B' || *end == 'b')
        end++;
    if (*end)
        return lp_error_set(err, LP_ERR_INVALID_ARG,
                            "invalid size '%s' (use e.g. 256M, 1.5G, 4096)", text);
    double total = value * unit;
    if (!(total <= 1.8e19))
        return lp_error_set(err, LP_ERR_INVALID_ARG, "size '%s' is too large", text);
    *bytes = (uint64_t)total;
    return LP_OK;
}
