/*
 * util.c - small containers for the card renderer: a string-keyed open-addressing hash
 * map (FNV-1a, linear probing, grows at 70% load) and the per-request log.
 *
 * Memory: a map owns copies of its keys; values belong to the caller, who passes a free
 * function to mrc_map_free. Everything here is per data set or per request and small.
 */
#define _GNU_SOURCE
#include "server/mrc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
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
    size_t cap = m->cap ? m->cap * 2 : 16;
    mrc_map_entry *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return false;
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].key)
            *find_slot(slots, cap, m->slots[i].key) = m->slots[i];
    free(m->slots);
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
    e->key = strdup(key);
    if (!e->key) {
        *fail = true;
        return NULL;
    }
    e->value = value;
    m->count++;
    return NULL;
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
        free(m->slots[i].key);
        if (free_value)
            free_value(m->slots[i].value);
    }
    free(m->slots);
    memset(m, 0, sizeof *m);
}

void mrc_log_add(mrc_log *log, const char *fmt, ...)
{
    if (!log || log->count >= 10000)  /* a hostile upload cannot grow the log without bound */
        return;
    if (log->count == log->cap) {
        size_t cap = log->cap ? log->cap * 2 : 16;
        char **lines = realloc(log->lines, cap * sizeof *lines);
        if (!lines)
            return;
        log->lines = lines;
        log->cap = cap;
    }
    va_list ap;
    va_start(ap, fmt);
    char *line = NULL;
    if (vasprintf(&line, fmt, ap) >= 0)
        log->lines[log->count++] = line;
    va_end(ap);
}

void mrc_log_free(mrc_log *log)
{
    for (size_t i = 0; i < log->count; i++)
        free(log->lines[i]);
    free(log->lines);
    memset(log, 0, sizeof *log);
}
