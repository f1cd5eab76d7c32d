/*
 * strbuf.c - a growable text buffer for response bodies (HTML pages, JSON, metrics).
 * Memory: doubles as needed; a failed allocation sets `failed` and later appends are
 * ignored, so callers check once at the end. The caller owns `data` (free(), or
 * lp_sb_free() for a counted buffer, which also gives back its charge).
 */
#include "server/server.h"
#include "core/json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Charges the growth from cap to new_cap when the buffer is counted. */
static bool charge(lp_strbuf *b, size_t new_cap)
{
    if (!b->mem)
        return true;
    uint64_t more = new_cap - b->cap;
    lp_error err = {0};
    if (lp_mem_reserve(b->mem, more, "answer", &err) != LP_OK) {
        if (!b->trim)
            return false;
        mrc_assets_trim(b->trim, 0);  /* decoded images are a cache: they make room */
        lp_error_clear(&err);
        if (lp_mem_reserve(b->mem, more, "answer", &err) != LP_OK)
            return false;
    }
    b->charged += more;
    return true;
}

static bool reserve(lp_strbuf *b, size_t more)
{
    if (b->failed)
        return false;
    if (b->len + more + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more + 1)
        cap *= 2;
    if (!charge(b, cap)) {
        b->failed = true;
        return false;
    }
    char *data = realloc(b->data, cap);
    if (!data) {
        if (b->mem) {
            lp_mem_unreserve(b->mem, cap - b->cap);
            b->charged -= cap - b->cap;
        }
        b->failed = true;
        return false;
    }
    b->data = data;
    b->cap = cap;
    return true;
}

bool lp_sb_reserve(lp_strbuf *b, size_t more)
{
    return reserve(b, more);
}

void lp_sb_free(lp_strbuf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    if (b->mem)
        lp_mem_unreserve(b->mem, b->charged);
    b->charged = 0;
}

void lp_sb_add(lp_strbuf *b, const char *s, size_t n)
{
    if (!reserve(b, n))
        return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = 0;
}

void lp_sb_puts(lp_strbuf *b, const char *s)
{
    lp_sb_add(b, s, strlen(s));
}

void lp_sb_printf(lp_strbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char small[512];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof small) {
        lp_sb_add(b, small, (size_t)n);
        return;
    }
    if (!reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void lp_sb_html(lp_strbuf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': lp_sb_puts(b, "&lt;"); break;
        case '>': lp_sb_puts(b, "&gt;"); break;
        case '&': lp_sb_puts(b, "&amp;"); break;
        case '"': lp_sb_puts(b, "&quot;"); break;
        case '\'': lp_sb_puts(b, "&#39;"); break;
        default: lp_sb_add(b, s, 1);
        }
    }
}

static void emit_sb(void *ctx, const char *bytes, size_t n)
{
    lp_sb_add(ctx, bytes, n);
}

void lp_sb_json(lp_strbuf *b, const char *s)
{
    lp_json_string_to(s, emit_sb, b);
}

void lp_sb_base64(lp_strbuf *b, const uint8_t *d, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (!reserve(b, (n + 2) / 3 * 4))
        return;
    char *o = b->data + b->len;
    size_t i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)d[i] << 16 | (uint32_t)d[i + 1] << 8 | d[i + 2];
        *o++ = tab[v >> 18];
        *o++ = tab[(v >> 12) & 63];
        *o++ = tab[(v >> 6) & 63];
        *o++ = tab[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)d[i] << 16 | (i + 1 < n ? (uint32_t)d[i + 1] << 8 : 0);
        *o++ = tab[v >> 18];
        *o++ = tab[(v >> 12) & 63];
        *o++ = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        *o++ = '=';
    }
    b->len = (size_t)(o - b->data);
    b->data[b->len] = 0;
}
