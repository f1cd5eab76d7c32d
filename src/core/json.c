/*
 * json.c - json.h. Runs of plain bytes are emitted in one call, so that a long string
 * costs a few calls, not one per byte.
 */
#include "core/json.h"

#include <string.h>

void lp_json_string_to(const char *s, lp_json_emit emit, void *ctx)
{
    if (!s) {
        emit(ctx, "null", 4);
        return;
    }
    emit(ctx, "\"", 1);
    const char *run = s;
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        char esc[8];
        size_t n = 0;
        switch (c) {
        case '"': n = 2, esc[0] = '\\', esc[1] = '"'; break;
        case '\\': n = 2, esc[0] = '\\', esc[1] = '\\'; break;
        case '\n': n = 2, esc[0] = '\\', esc[1] = 'n'; break;
        case '\r': n = 2, esc[0] = '\\', esc[1] = 'r'; break;
        case '\t': n = 2, esc[0] = '\\', esc[1] = 't'; break;
        default:
            if (c < 0x20)
                n = (size_t)snprintf(esc, sizeof esc, "\\u%04x", c);
        }
        if (!n)
            continue;
        if (p > run)
            emit(ctx, run, (size_t)(p - run));
        emit(ctx, esc, n);
        run = p + 1;
    }
    if (*run)
        emit(ctx, run, strlen(run));
    emit(ctx, "\"", 1);
}

static void emit_file(void *ctx, const char *bytes, size_t n)
{
    fwrite(bytes, 1, n, (FILE *)ctx);
}

void lp_json_string(FILE *f, const char *s)
{
    lp_json_string_to(s, emit_file, f);
}
