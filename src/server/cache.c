/*
 * cache.c - rendered cards kept for GET /v1/cards/ID.jpg, bounded in bytes.
 *
 * A POST /v1/cards/{game} answers with URLs; the JPEGs wait here until fetched or pushed
 * out by newer cards (oldest first) when the total would pass max_bytes. IDs are 128 random
 * bits (getrandom), so one client cannot guess another's cards. One mutex guards the list;
 * lookups copy the bytes out under it (cards are ~300 kB, a memcpy is microseconds).
 *
 * Memory: at most max_bytes of JPEG data, each entry charged to the server's budget while
 * it is held.
 */
#include "server/server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

typedef struct entry {
    char id[33];
    uint8_t *jpeg;
    size_t size;
    struct entry *next;
} entry;

struct lp_card_cache {
    pthread_mutex_t lock;
    entry *head, *tail;  /* oldest at head */
    size_t bytes, count;
    uint64_t max_bytes;
    lp_mem *budget;
};

lp_card_cache *lp_card_cache_new(uint64_t max_bytes, lp_mem *budget)
{
    lp_card_cache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    pthread_mutex_init(&c->lock, NULL);
    c->max_bytes = max_bytes;
    c->budget = budget;
    return c;
}

static void drop_oldest(lp_card_cache *c)
{
    entry *e = c->head;
    c->head = e->next;
    if (!c->head)
        c->tail = NULL;
    c->bytes -= e->size;
    c->count--;
    lp_mem_unreserve(c->budget, e->size);
    free(e->jpeg);
    free(e);
}

void lp_card_cache_free(lp_card_cache *c)
{
    if (!c)
        return;
    while (c->head)
        drop_oldest(c);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

bool lp_card_cache_put(lp_card_cache *c, uint8_t *jpeg, size_t size, char id[33])
{
    uint8_t rnd[16];
    entry *e = calloc(1, sizeof *e);
    if (!e || size > c->max_bytes || getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
        free(e);
        free(jpeg);
        return false;
    }
    for (int i = 0; i < 16; i++)
        snprintf(e->id + 2 * i, 3, "%02x", rnd[i]);
    e->jpeg = jpeg;
    e->size = size;
    pthread_mutex_lock(&c->lock);
    while (c->head && c->bytes + size > c->max_bytes)
        drop_oldest(c);
    lp_error err = {0};
    /* the cache's bytes are counted; if the budget is full the card is not kept */
    bool ok = lp_mem_reserve(c->budget, size, "card cache", &err) == LP_OK;
    if (ok) {
        if (c->tail)
            c->tail->next = e;
        else
            c->head = e;
        c->tail = e;
        c->bytes += size;
        c->count++;
        memcpy(id, e->id, 33);
    }
    pthread_mutex_unlock(&c->lock);
    if (!ok) {
        free(e->jpeg);
        free(e);
    }
    return ok;
}

uint8_t *lp_card_cache_get(lp_card_cache *c, const char *id, size_t *size)
{
    uint8_t *copy = NULL;
    pthread_mutex_lock(&c->lock);
    for (entry *e = c->head; e; e = e->next)
        if (strcmp(e->id, id) == 0) {
            copy = malloc(e->size);
            if (copy) {
                memcpy(copy, e->jpeg, e->size);
                *size = e->size;
            }
            break;
        }
    pthread_mutex_unlock(&c->lock);
    return copy;
}

void lp_card_cache_stats(lp_card_cache *c, size_t *bytes, size_t *count)
{
    pthread_mutex_lock(&c->lock);
    *bytes = c->bytes;
    *count = c->count;
    pthread_mutex_unlock(&c->lock);
}
