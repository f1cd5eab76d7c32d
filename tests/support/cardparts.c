/*
 * cardparts.c - see cardparts.h.
 */
#define _GNU_SOURCE
#include "cardparts.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int malformed(const char *what, json_t *root, lpt_card *cards, int n)
{
    fprintf(stderr, "malformed card answer: %s\n", what);
    json_decref(root);
    lpt_cards_free(cards, n);
    return -1;
}

/* The cards array of a JSON answer, the metadata of each card copied into *cards. */
static int read_json(const char *text, size_t len, json_t **root_out, lpt_card **cards_out)
{
    json_error_t jerr;
    json_t *root = json_loadb(text, len, 0, &jerr);
    *root_out = root;
    *cards_out = NULL;
    if (!root) {
        fprintf(stderr, "JSON: %s at line %d\n", jerr.text, jerr.line);
        return -1;
    }
    json_t *list = json_object_get(root, "cards");
    if (!json_is_array(list) || !json_is_array(json_object_get(root, "log")))
        return -1;
    size_t n = json_array_size(list);
    lpt_card *cards = calloc(n ? n : 1, sizeof *cards);
    for (size_t i = 0; i < n; i++) {
        json_t *c = json_array_get(list, i);
        const char *image = json_string_value(json_object_get(c, "image"));
        const char *title = json_string_value(json_object_get(c, "title"));
        if (!image || !title || !json_is_integer(json_object_get(c, "width")) ||
            !json_is_integer(json_object_get(c, "bytes"))) {
            free(cards);
            return -1;
        }
        snprintf(cards[i].image, sizeof cards[i].image, "%s", image);
        snprintf(cards[i].title, sizeof cards[i].title, "%s", title);
        cards[i].width = (unsigned)json_integer_value(json_object_get(c, "width"));
        cards[i].height = (unsigned)json_integer_value(json_object_get(c, "height"));
        cards[i].size = (size_t)json_integer_value(json_object_get(c, "bytes"));
    }
    *cards_out = cards;
    return (int)n;
}

int lpt_cards_inline(const lpt_http_response *r, lpt_card **cards_out)
{
    json_t *root;
    lpt_card *cards;
    int n = read_json(r->body, r->body_len, &root, &cards);
    if (n < 0)
        return malformed("not the JSON of a card answer", root, NULL, 0);
    json_t *list = json_object_get(root, "cards");
    for (int i = 0; i < n; i++) {
        json_t *c = json_array_get(list, (size_t)i);
        const char *type = json_string_value(json_object_get(c, "type"));
        const char *data = json_string_value(json_object_get(c, "data"));
        if (!type || strcmp(type, "image/jpeg") != 0 || !data || json_object_get(c, "url"))
            return malformed("a card without type image/jpeg and data, or with a url", root,
                             cards, n);
        size_t size;
        cards[i].jpeg = lpt_base64_decode(data, strlen(data), &size);
        if (!cards[i].jpeg || size != cards[i].size)
            return malformed("a card's data is not base64 of its bytes", root, cards, n);
    }
    json_decref(root);
    *cards_out = cards;
    return n;
}

/* The value of a header line name in a part's header block [h, end), copied into buf. */
static const char *part_header(const char *h, const char *end, const char *name, char *buf,
                               size_t size)
{
    size_t n = strlen(name);
    for (const char *line = h; line < end;) {
        const char *eol = memmem(line, (size_t)(end - line), "\r\n", 2);
        if (!eol)
            eol = end;
        if ((size_t)(eol - line) > n + 1 && strncasecmp(line, name, n) == 0 && line[n] == ':') {
            const char *v = line + n + 1;
            v += strspn(v, " ");
            snprintf(buf, size, "%.*s", (int)(eol - v), v);
            return buf;
        }
        line = eol + 2;
    }
    return NULL;
}

int lpt_cards_multipart(const lpt_http_response *r, lpt_card **cards_out)
{
    char ctype[200], delim[128];
    const char *b = lpt_http_header(r, "Content-Type", ctype, sizeof ctype)
                        ? strstr(ctype, "boundary=")
                        : NULL;
    if (!b || strncmp(ctype, "multipart/mixed;", 16) != 0)
        return malformed("no multipart/mixed Content-Type with a boundary", NULL, NULL, 0);
    snprintf(delim, sizeof delim, "--%s", b + 9);
    size_t dlen = strlen(delim);
    const char *p = r->body, *end = r->body + r->body_len;
    if ((size_t)(end - p) < dlen + 2 || memcmp(p, delim, dlen) != 0)
        return malformed("the body does not start with the boundary", NULL, NULL, 0);
    json_t *root = NULL;
    lpt_card *cards = NULL;
    int n = -1, parts = 0;
    p += dlen;
    for (;;) {
        if (end - p >= 2 && memcmp(p, "--", 2) == 0)
            break;  /* the closing delimiter */
        if (end - p < 2 || memcmp(p, "\r\n", 2) != 0)
            return malformed("no CRLF after a boundary", root, cards, n);
        p += 2;
        const char *hend = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
        if (!hend)
            return malformed("a part without a header block", root, cards, n);
        const char *body = hend + 4;
        char delim_crlf[140];
        snprintf(delim_crlf, sizeof delim_crlf, "\r\n%s", delim);
        const char *next = memmem(body, (size_t)(end - body), delim_crlf, dlen + 2);
        if (!next)
            return malformed("a part without a following boundary", root, cards, n);
        char v[200];
        const char *type = part_header(p, hend, "Content-Type", v, sizeof v);
        if (parts == 0) {
            if (!type || strcmp(type, "application/json") != 0)
                return malformed("the first part is not application/json", root, cards, n);
            n = read_json(body, (size_t)(next - body), &root, &cards);
            if (n < 0)
                return malformed("the JSON part is not a card answer", root, NULL, 0);
            json_t *list = json_object_get(root, "cards");
            for (int i = 0; i < n; i++) {
                char want[32];
                snprintf(want, sizeof want, "card-%d", i + 1);
                const char *part = json_string_value(json_object_get(json_array_get(list, (size_t)i), "part"));
                if (!part || strcmp(part, want) != 0)
                    return malformed("a card does not name its part", root, cards, n);
            }
        } else {
            char cid[64], want[64], len[32];
            snprintf(want, sizeof want, "<card-%d>", parts);
            if (parts > n || !type || strcmp(type, "image/jpeg") != 0 ||
                !part_header(p, hend, "Content-ID", cid, sizeof cid) || strcmp(cid, want) != 0 ||
                !part_header(p, hend, "Content-Length", len, sizeof len) ||
                strtoull(len, NULL, 10) != (unsigned long long)(next - body) ||
                cards[parts - 1].size != (size_t)(next - body))
                return malformed("an image part that does not match its card", root, cards, n);
            cards[parts - 1].jpeg = malloc(cards[parts - 1].size);
            memcpy(cards[parts - 1].jpeg, body, cards[parts - 1].size);
        }
        parts++;
        p = next + 2 + dlen;
    }
    if (parts != n + 1)
        return malformed("not one part per card", root, cards, n);
    json_decref(root);
    *cards_out = cards;
    return n;
}

void lpt_cards_free(lpt_card *cards, int n)
{
    for (int i = 0; cards && i < n; i++)
        free(cards[i].jpeg);
    free(cards);
}

lp_status lpt_decode_jpeg_memory(const uint8_t *jpeg, size_t size, lp_buffer_image *img,
                                 lp_error *err)
{
    lp_input *in;
    lp_status st = lp_input_open_memory(&in, jpeg, size, err);
    if (st != LP_OK)
        return st;
    lp_stage *src;
    st = lp_source_open(&src, in, NULL, NULL, err);
    if (st != LP_OK)
        return st;
    st = lp_pipeline_to_buffer(src, img, NULL, err);
    lp_stage_destroy(src);
    return st;
}
