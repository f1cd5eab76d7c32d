/*
 * util.c - small containers for the card renderer: a string-keyed open-addressing hash
 * map (FNV-1a, linear probing, grows at 70% load) and the per-request log.
 *
 * Memory: a map owns copies of its keys; values belong to the caller, who passes a free
 * function to mrc_map_free. Keys, slot arrays and log lines come from mrc_malloc: charged
 * to the thread's current scope (mrc_mem_enter), which the server sets to the request's
 * lp_mem while it parses an upload and builds its cards, so that an upload's maps and
 * strings count against the budget like its bytes do. Each block records its tracker in
 * a 16-byte header, so it can be freed on any thread (the cards are freed by whichever
 * worker finishes the request); outside a scope the blocks are plain and uncounted.
 */
#define _GNU_SOURCE
#include "server/mrc.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

typedef struct mrc_block {
    lp_mem *mem;  /* charged tracker, NULL = uncounted */
    size_t size;  /* payload bytes (the charge is size + the header) */
} mrc_block;

static _Thread_local lp_mem *scope_mem;
static _Atomic uint64_t live_blocks;

lp_mem *mrc_mem_enter(lp_mem *mem)
{
    lp_mem *previous = scope_mem;
    scope_mem = mem;
    return previous;
}

void mrc_mem_leave(lp_mem *previous)
{
    scope_mem = previous;
}

uint64_t mrc_mem_live_blocks(void)
{
    return atomic_load(&live_blocks);
}

void *mrc_malloc(size_t size)
{
    if (size > SIZE_MAX - sizeof(mrc_block))
        return NULL;
    lp_mem *mem = scope_mem;
    if (mem && lp_mem_reserve(mem, sizeof(mrc_block) + size, "parsed upload", NULL) != LP_OK)
        return NULL;
    mrc_block *b = malloc(sizeof *b + size);
    if (!b) {
        lp_mem_unreserve(mem, sizeof(mrc_block) + size);
        return NULL;
    }
    b->mem = mem;
    b->size = size;
    atomic_fetch_add(&live_blocks, 1);
    return b + 1;
}

void *mrc_calloc(size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        return NULL;
    void *p = mrc_malloc(n * size);
    if (p)
        memset(p, 0, n * size);
    return p;
}

void mrc_free(void *p)
{
    if (!p)
        return;
    mrc_block *b = (mrc_block *)p - 1;
    lp_mem_unreserve(b->mem, sizeof(mrc_block) + b->size);
    atomic_fetch_sub(&live_blocks, 1);
    free(b);
}

void *mrc_realloc(void *p, size_t size)
{
    if (!p)
        return mrc_malloc(size);
    mrc_block *b = (mrc_block *)p - 1;
    if (size > SIZE_MAX - sizeof(mrc_block))
        return NULL;
    size_t old = b->size;
    lp_mem *mem = b->mem;
    if (mem && size > old && lp_mem_reserve(mem, size - old, "parsed upload", NULL) != LP_OK)
        return NULL;
    mrc_block *n = realloc(b, sizeof *n + size);
    if (!n) {
        if (size > old)
            lp_mem_unreserve(mem, size - old);
        return NULL;
    }
    if (size < old)
        lp_mem_unreserve(mem, old - size);
    n->size = size;
    return n + 1;
}

char *mrc_strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *copy = mrc_malloc(len + 1);
    if (copy) {
        memcpy(copy, s, len);
        copy[len] = 0;
    }
    return copy;
}

char *mrc_strdup(const char *s)
{
    return mrc_strndup(s, SIZE_MAX);
}

/* FNV-1a from a per-process random basis, then a finalizer that folds the high bits into
 * the low ones the slot index uses: keys come from uploads, and with a fixed, unmixed hash
 * an attacker could send keys that all land in one probe run (quadratic inserts). */
static uint64_t hash_seed;
static pthread_once_t seed_once = PTHREAD_ONCE_INIT;

static void make_seed(void)
{
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed)
        seed = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)&seed;
    hash_seed = seed | 1;
}

static uint64_t hash_str(const char *s)
{
    pthread_once(&seed_once, make_seed);
    uint64_t h = 1469598103934665603ull ^ hash_seed;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

static mrc_map_entry *find_slot(mrc_map_entry *slots, size_t cap, const char *key)
{
    size_t i = hash_str(key) & (cap - 1);
    while (slots[i].key && strcmp(slots[i].key, key) != 0)
        i = (i + 1) & (cap - 1);
    return &slots[i];
}

void *mrc_map_get(const mrc_map *m, const char *key)
{
    if (!m->cap || !key)
        return NULL;
    mrc_map_entry *e = find_slot(m->slots, m->cap, key);
    return e->key ? e->value : NULL;
}

static bool grow(mrc_map *m)
{
    size_t cap = m->cap ? m->cap * 2 : 4;  /* most maps of an upload hold one entry */
    mrc_map_entry *slots = mrc_calloc(cap, sizeof *slots);
    if (!slots)
        return false;
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].key)
            *find_slot(slots, cap, m->slots[i].key) = m->slots[i];
    mrc_free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return true;
}

void *mrc_map_put(mrc_map *m, const char *key, void *value, bool *fail)
{
    if ((m->count + 1) * 10 >= m->cap * 7 && !grow(m)) {
        *fail = true;
        return NULL;
    }
    mrc_map_entry *e = find_slot(m->slots, m->cap, key);
    if (e->key) {
        void *old = e->value;
        e->value = value;
        return old;
    }
    e->key = mrc_strdup(key);
    if (!e->key) {
        *fail = true;
        return NULL;
    }
    e->value = value;
    m->count++;
    return NULL;
}

bool mrc_map_put_owned(mrc_map *m, const char *key, void *value, mrc_free_fn free_value,
                       bool *fail)
{
    bool lost = false;
    void *gone = mrc_map_put(m, key, value, &lost);
    if (lost) {
        gone = value;
        *fail = true;
    }
    if (gone && free_value)
        free_value(gone);
    return !lost;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

const char **mrc_map_sorted_keys(const mrc_map *m, size_t *n)
{
    const char **keys = malloc((m->count + 1) * sizeof *keys);
    *n = 0;
    if (!keys)
        return NULL;
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].key)
            keys[(*n)++] = m->slots[i].key;
    qsort(keys, *n, sizeof *keys, cmp_str);
    return keys;
}

void mrc_map_free(mrc_map *m, mrc_free_fn free_value)
{
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->slots[i].key)
            continue;
        mrc_free(m->slots[i].key);
        if (free_value)
            free_value(m->slots[i].value);
    }
    mrc_free(m->slots);
    memset(m, 0, sizeof *m);
}

void mrc_log_add(mrc_log *log, const char *fmt, ...)
{
    if (!log)
        return;
    size_t max_lines = log->max_lines ? log->max_lines : MRC_LOG_LINES;
    size_t max_line = log->max_line >= 4 ? log->max_line : MRC_LOG_LINE_MAX;  /* room for "..." */
    if (log->count >= max_lines) {
        log->dropped++;
        return;
    }
    if (log->count == log->cap) {
        size_t cap = log->cap ? log->cap * 2 : 16;
        char **lines = mrc_realloc(log->lines, cap * sizeof *lines);
        if (!lines) {
            log->dropped++;
            return;
        }
        log->lines = lines;
        log->cap = cap;
    }
    /* lines name upload strings (contexts, actions): cut long ones so that a few long
     * names repeated in many lines cannot multiply the upload */
    char *line = mrc_malloc(max_line);
    if (!line) {
        log->dropped++;
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, max_line, fmt, ap);
    va_end(ap);
    if (n < 0) {
        mrc_free(line);
        log->dropped++;
        return;
    }
    if ((size_t)n >= max_line)
        memcpy(line + max_line - 4, "...", 4);
    char *fit = mrc_realloc(line, strlen(line) + 1);
    log->lines[log->count++] = fit ? fit : line;
}

void mrc_log_free(mrc_log *log)
{
    for (size_t i = 0; i < log->count; i++)
        mrc_free(log->lines[i]);
    mrc_free(log->lines);
    size_t max_lines = log->max_lines, max_line = log->max_line;  /* the limits stay */
    memset(log, 0, sizeof *log);
    log->max_lines = max_lines;
    log->max_line = max_line;
}
