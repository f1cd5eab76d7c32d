/*
 * answer.c - what an upload's answer looks like, written by the last worker done with its
 * cards. POST /api/GAME gets an HTML page with every card inline (data: URLs) and the log.
 * POST /v1/cards/GAME gets JSON in one of three forms:
 *   - by default, one URL per card: the JPEGs wait in this process's card cache (cache.c)
 *     for GET /v1/cards/ID.jpg;
 *   - with ?inline=1, every card in the JSON as base64 ("data");
 *   - with Accept: multipart/mixed, a multipart/mixed body: the JSON first (each card
 *     naming its part), then each card as an image/jpeg part, binary;
 *   - with ?format=zip or Accept: application/zip, a zip file (an attachment named
 *     GAME-cards.zip) of the cards as NN-IMAGE.jpg, stored (JPEGs do not deflate), plus
 *     log.txt when the log has lines: the card pages' "Download all" and a plain form's
 *     second button. Written by minizip (Debian's libminizip1, zlib's contrib; it needs
 *     only zlib, where libarchive pulled libxml2 and ICU into the container image)
 *     through file callbacks that write into the same counted answer buffer. What
 *     minizip allocates itself is not counted (its allocator is a compile-time macro,
 *     no hook at run time): its state with a 64 KB write buffer per zip, and its
 *     central directory, under a hundred bytes per entry in blocks of 4 KB.
 * The inline forms keep nothing in the server, so they work behind a load balancer that
 * spreads requests over several instances, where a cache URL from one instance is unknown
 * to the others (docs/serve.md says why this and not shared IDs). The cache stays the
 * default's store and is only an optimisation for a single instance.
 *
 * Memory: the answer is written into a counted buffer (lp_strbuf.mem = the server's
 * budget), sized once from the cards it inlines, so that a page of inline cards is counted
 * while it is written; each finished card stays charged to the request until it is copied
 * in and freed. The bytes inlined into one answer (the zip's cards included) are bounded
 * by max_inline (413 past it).
 */
#define _GNU_SOURCE
#include "server/http.h"
#include "server/pages.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include <minizip/zip.h>

/* ---- negotiation ---- */

/* Whether an Accept header lists type (case-insensitive) with a q-value other than 0. */
static bool accepts(const char *accept, const char *type)
{
    size_t tlen = strlen(type);
    for (const char *p = accept; *p;) {
        p += strspn(p, " \t,");
        const char *end = p + strcspn(p, ",");
        const char *params = p + strcspn(p, ";,");
        size_t n = (size_t)(params - p);
        while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        if (n == tlen && strncasecmp(p, type, tlen) == 0) {
            const char *q = params;  /* "q=0", "q=0.0", ... refuse the type */
            bool refused = false;
            while (q < end && (q = memchr(q, ';', (size_t)(end - q)))) {
                q++;
                q += strspn(q, " \t");
                if (end - q >= 2 && (q[0] == 'q' || q[0] == 'Q') && q[1] == '=')
                    refused = strtod(q + 2, NULL) <= 0;
            }
            if (!refused)
                return true;
        }
        p = end;
    }
    return false;
}

int lp_answer_negotiate(struct MHD_Connection *conn)
{
    const char *q = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "inline");
    if (q && (strcmp(q, "1") == 0 || strcmp(q, "true") == 0 || strcmp(q, "yes") == 0))
        return LP_ANSWER_INLINE;
    const char *format = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "format");
    if (format && strcmp(format, "zip") == 0)
        return LP_ANSWER_ZIP;
    const char *accept = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_ACCEPT);
    if (accept && accepts(accept, "application/zip"))
        return LP_ANSWER_ZIP;
    if (accept && accepts(accept, "multipart/mixed"))
        return LP_ANSWER_MULTIPART;
    return LP_ANSWER_URLS;
}

/* ---- pieces ---- */

/* The plain form's result page: the cards, each in a figure captioned with its device's
 * name, and the log; web/app.js adds a download button to each card. */
static void html_head(lp_strbuf *b, const mrc_data *d, const lp_game *g, size_t ncards)
{
    char title[160];
    snprintf(title, sizeof title, "%s reference cards", g->title);
    lp_page_begin(b, d, title);
    lp_sb_puts(b, "<h1>");
    lp_sb_html(b, title);
    lp_sb_printf(b, "</h1>\n<p class=\"status\">%zu card%s. Save one with your browser's "
                    "<em>Save image</em>, or <a href=\"/%s\">make more</a>.</p>\n"
                    "<div class=\"cards\">\n",
                 ncards, ncards == 1 ? "" : "s", g->name);
}

/* The log under its heading, and the page's end; no heading when there is nothing to say. */
static void html_log(lp_strbuf *b, const mrc_log *log)
{
    lp_sb_puts(b, "</div>\n");
    if (log->count || log->dropped) {
        lp_sb_puts(b, "<section class=\"log\"><h2>Log</h2>\n<ol>\n");
        for (size_t i = 0; i < log->count; i++) {
            lp_sb_puts(b, "<li>");
            lp_sb_html(b, log->lines[i]);
            lp_sb_puts(b, "</li>\n");
        }
        if (log->dropped)
            lp_sb_printf(b, "<li>%zu more log lines not shown</li>\n", log->dropped);
        lp_sb_puts(b, "</ol></section>\n");
    }
    lp_page_end(b);
}

static void json_log(lp_strbuf *b, const mrc_log *log)
{
    lp_sb_puts(b, "],\"log\":[");
    for (size_t i = 0; i < log->count; i++) {
        if (i)
            lp_sb_puts(b, ",");
        lp_sb_json(b, log->lines[i]);
    }
    if (log->dropped) {
        char more[64];
        snprintf(more, sizeof more, "%zu more log lines not shown", log->dropped);
        if (log->count)
            lp_sb_puts(b, ",");
        lp_sb_json(b, more);
    }
    lp_sb_puts(b, "]}\n");
}

/* The fields every form gives a card: its image, profile, title (the header's text: the
 * device's name and the profile), pixel size and JPEG bytes. */
static void json_card_fields(lp_strbuf *b, const mrc_data *d, const mrc_card *card,
                             const lp_card_result *res)
{
    char title[512];
    mrc_card_title(d, card, title, sizeof title);
    lp_sb_puts(b, "\"image\":");
    lp_sb_json(b, card->image);
    lp_sb_puts(b, ",\"profile\":");
    lp_sb_json(b, card->profile);
    lp_sb_puts(b, ",\"title\":");
    lp_sb_json(b, title);
    lp_sb_printf(b, ",\"width\":%u,\"height\":%u,\"bytes\":%zu", res->width, res->height,
                 res->size);
}

/* The card's JPEG has been copied out: its charge and bytes go. */
static void drop_jpeg(lp_request *r, lp_card_result *res)
{
    lp_mem_unreserve(r->mem, res->size);
    free(res->jpeg);
    res->jpeg = NULL;
}

/* A part boundary no card contains (128 random bits; checked anyway, it costs a scan). */
static bool make_boundary(const lp_request *r, char out[48])
{
    for (int attempt = 0; attempt < 4; attempt++) {
        uint8_t rnd[16];
        if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
            return false;
        int o = snprintf(out, 48, "leanpix-");
        for (int i = 0; i < 16; i++)
            o += snprintf(out + o, 48 - (size_t)o, "%02x", rnd[i]);
        bool clash = false;
        for (size_t i = 0; i < r->cards.count && !clash; i++)
            clash = r->results[i].jpeg &&
                    memmem(r->results[i].jpeg, r->results[i].size, out, strlen(out)) != NULL;
        if (!clash)
            return true;
    }
    return false;
}

/* A file name for a card's part: its number and image name, outside [A-Za-z0-9._-] as _. */
static void part_filename(char *out, size_t size, size_t n, const char *image)
{
    int o = snprintf(out, size, "%02zu-", n);
    for (const char *c = image; *c && (size_t)o + 5 < size; c++)
        out[o++] = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                           (*c >= '0' && *c <= '9') || *c == '.' || *c == '-' || *c == '_'
                       ? *c
                       : '_';
    snprintf(out + o, size - (size_t)o, ".jpg");
}

/* ---- the forms ---- */

static lp_status write_html(lp_server *s, lp_request *r, lp_strbuf *b)
{
    size_t ncards = 0, n = 0;
    for (size_t i = 0; i < r->cards.count; i++)
        ncards += r->results[i].status == LP_OK;
    html_head(b, s->data, r->game->desc, ncards);
    for (size_t i = 0; i < r->cards.count; i++) {
        lp_card_result *res = &r->results[i];
        if (res->status)
            continue;
        char title[512], name[96];
        mrc_card_title(s->data, &r->cards.cards[i], title, sizeof title);
        part_filename(name, sizeof name, ++n, r->cards.cards[i].image);
        lp_sb_printf(b, "<figure class=\"card\" data-filename=\"%s\"><img alt=\"", name);
        lp_sb_html(b, title);
        lp_sb_printf(b, "\" width=\"%u\" height=\"%u\" src=\"data:image/jpeg;base64,", res->width,
                     res->height);
        lp_sb_base64(b, res->jpeg, res->size);
        lp_sb_puts(b, "\"><figcaption>");
        lp_sb_html(b, title);
        lp_sb_puts(b, "</figcaption></figure>\n");
        drop_jpeg(r, res);
    }
    html_log(b, &r->log);
    return LP_OK;
}

static lp_status write_json(lp_server *s, lp_request *r, lp_strbuf *b, lp_error *err)
{
    lp_sb_printf(b, "{\"game\":\"%s\",\"cards\":[", r->game->desc->name);
    size_t n = 0;
    for (size_t i = 0; i < r->cards.count; i++) {
        lp_card_result *res = &r->results[i];
        if (res->status)
            continue;
        lp_sb_puts(b, n++ ? ",{" : "{");
        if (r->answer == LP_ANSWER_URLS) {
            char id[33];
            lp_mem_unreserve(r->mem, res->size);  /* the cache charges it from here on */
            bool kept = lp_card_cache_put(s->cache, res->jpeg, res->size, id);
            res->jpeg = NULL;
            if (!kept)
                return lp_error_set(err, LP_ERR_NOMEM, "the card cache cannot hold the cards");
            lp_sb_printf(b, "\"url\":\"/v1/cards/%s.jpg\",", id);
            json_card_fields(b, s->data, &r->cards.cards[i], res);
        } else if (r->answer == LP_ANSWER_INLINE) {
            json_card_fields(b, s->data, &r->cards.cards[i], res);
            lp_sb_puts(b, ",\"type\":\"image/jpeg\",\"data\":\"");
            lp_sb_base64(b, res->jpeg, res->size);
            lp_sb_puts(b, "\"");
            drop_jpeg(r, res);
        } else {  /* multipart: the card follows in its part */
            lp_sb_printf(b, "\"part\":\"card-%zu\",", n);
            json_card_fields(b, s->data, &r->cards.cards[i], res);
        }
        lp_sb_puts(b, "}");
    }
    json_log(b, &r->log);
    return LP_OK;
}

static lp_status write_multipart(lp_server *s, lp_request *r, lp_strbuf *b, lp_error *err)
{
    char boundary[48];
    if (!make_boundary(r, boundary))
        return lp_error_set(err, LP_ERR_INTERNAL, "cannot make a multipart boundary");
    snprintf(r->ctype_buf, sizeof r->ctype_buf, "multipart/mixed; boundary=%s", boundary);
    lp_sb_printf(b, "--%s\r\nContent-Type: application/json\r\n\r\n", boundary);
    size_t json_at = b->len;
    lp_status st = write_json(s, r, b, err);
    if (st)
        return st;
    if (!b->failed && memmem(b->data + json_at, b->len - json_at, boundary, strlen(boundary)))
        return lp_error_set(err, LP_ERR_INTERNAL, "the multipart boundary is in the answer");
    size_t n = 0;
    for (size_t i = 0; i < r->cards.count; i++) {
        lp_card_result *res = &r->results[i];
        if (res->status)
            continue;
        char name[96];
        part_filename(name, sizeof name, ++n, r->cards.cards[i].image);
        lp_sb_printf(b,
                     "\r\n--%s\r\nContent-Type: image/jpeg\r\nContent-ID: <card-%zu>\r\n"
                     "Content-Disposition: inline; filename=\"%s\"\r\n"
                     "Content-Length: %zu\r\n\r\n",
                     boundary, n, name, res->size);
        lp_sb_add(b, (const char *)res->jpeg, res->size);
        drop_jpeg(r, res);
    }
    lp_sb_printf(b, "\r\n--%s--\r\n", boundary);
    return LP_OK;
}

/* minizip's file, kept in the counted answer: writes at the end append (the buffer is sized
 * beforehand, so it does not grow; a refusal shows as b->failed and a short write), writes
 * after a seek back overwrite (minizip patches each local header's CRC and sizes once the
 * entry is written). Offsets count from where the zip starts in the answer. */
typedef struct zip_sink {
    lp_strbuf *b;
    size_t start, pos;
} zip_sink;

static voidpf ZCALLBACK zip_sink_open(voidpf opaque, const void *name, int mode)
{
    (void)name;
    (void)mode;
    return opaque;
}

static uLong ZCALLBACK zip_sink_read(voidpf opaque, voidpf stream, void *buf, uLong n)
{
    (void)opaque, (void)stream, (void)buf, (void)n;
    return 0;  /* the zip is only written */
}

static uLong ZCALLBACK zip_sink_write(voidpf opaque, voidpf stream, const void *buf, uLong n)
{
    (void)opaque;
    zip_sink *z = stream;
    lp_strbuf *b = z->b;
    size_t written = b->len - z->start, over = z->pos < written ? written - z->pos : 0;
    if (over > n)
        over = n;
    memcpy(b->data + z->start + z->pos, buf, over);
    if (n > over)
        lp_sb_add(b, (const char *)buf + over, n - over);
    if (b->failed)
        return 0;
    z->pos += n;
    return n;
}

static ZPOS64_T ZCALLBACK zip_sink_tell(voidpf opaque, voidpf stream)
{
    (void)opaque;
    return ((zip_sink *)stream)->pos;
}

/* Only within the bytes written so far: minizip never seeks past them when writing. */
static long ZCALLBACK zip_sink_seek(voidpf opaque, voidpf stream, ZPOS64_T offset, int origin)
{
    (void)opaque;
    zip_sink *z = stream;
    ZPOS64_T written = z->b->len - z->start, base = 0;
    if (origin == ZLIB_FILEFUNC_SEEK_CUR)
        base = z->pos;
    else if (origin == ZLIB_FILEFUNC_SEEK_END)
        base = written;
    else if (origin != ZLIB_FILEFUNC_SEEK_SET)
        return -1;
    if (offset > written - base)
        return -1;
    z->pos = (size_t)(base + offset);
    return 0;
}

static int ZCALLBACK zip_sink_close(voidpf opaque, voidpf stream)
{
    (void)opaque, (void)stream;
    return 0;
}

static int ZCALLBACK zip_sink_error(voidpf opaque, voidpf stream)
{
    (void)opaque;
    return ((zip_sink *)stream)->b->failed;
}

/* One stored entry, mode 0644 and mtime `now` as a Unix zip tool writes them: the DOS
 * date in local time and the extended timestamp field ("UT", UTC seconds). */
static bool zip_entry(zipFile zf, const char *name, const void *data, size_t size, time_t now)
{
    zip_fileinfo info = {.external_fa = 0100644UL << 16};
    struct tm tm;
    if (!localtime_r(&now, &tm))
        return false;
    info.tmz_date = (tm_zip){.tm_sec = (uInt)tm.tm_sec, .tm_min = (uInt)tm.tm_min,
                             .tm_hour = (uInt)tm.tm_hour, .tm_mday = (uInt)tm.tm_mday,
                             .tm_mon = (uInt)tm.tm_mon, .tm_year = (uInt)tm.tm_year + 1900};
    uint32_t t = (uint32_t)now;
    const unsigned char ut[] = {'U', 'T', 5, 0, 1, t & 0xff, (t >> 8) & 0xff, (t >> 16) & 0xff,
                                (t >> 24) & 0xff};
    enum { MADE_BY_UNIX = 3 << 8 | 20 };
    return zipOpenNewFileInZip4_64(zf, name, &info, ut, sizeof ut, ut, sizeof ut, NULL,
                                   0 /* stored */, 0, 0, -MAX_WBITS, DEF_MEM_LEVEL,
                                   Z_DEFAULT_STRATEGY, NULL, 0, MADE_BY_UNIX, 0, 0) == ZIP_OK &&
           (size == 0 || zipWriteInFileInZip(zf, data, (unsigned)size) == ZIP_OK) &&
           zipCloseFileInZip(zf) == ZIP_OK;
}

static lp_status write_zip(lp_server *s, lp_request *r, lp_strbuf *b, lp_error *err)
{
    (void)s;
    snprintf(r->disposition, sizeof r->disposition, "attachment; filename=\"%s-cards.zip\"",
             r->game->desc->name);
    zip_sink sink = {.b = b, .start = b->len};
    zlib_filefunc64_def io = {.zopen64_file = zip_sink_open, .zread_file = zip_sink_read,
                              .zwrite_file = zip_sink_write, .ztell64_file = zip_sink_tell,
                              .zseek64_file = zip_sink_seek, .zclose_file = zip_sink_close,
                              .zerror_file = zip_sink_error, .opaque = &sink};
    zipFile zf = zipOpen2_64("answer", APPEND_STATUS_CREATE, NULL, &io);
    bool ok = zf != NULL;
    time_t now = time(NULL);
    size_t n = 0;
    for (size_t i = 0; ok && i < r->cards.count; i++) {
        lp_card_result *res = &r->results[i];
        if (res->status)
            continue;
        char name[96];
        part_filename(name, sizeof name, ++n, r->cards.cards[i].image);
        ok = zip_entry(zf, name, res->jpeg, res->size, now);
        drop_jpeg(r, res);
    }
    if (ok && (r->log.count || r->log.dropped)) {
        lp_strbuf text = {.mem = b->mem, .trim = b->trim};
        for (size_t i = 0; i < r->log.count; i++)
            lp_sb_printf(&text, "%s\n", r->log.lines[i]);
        if (r->log.dropped)
            lp_sb_printf(&text, "%zu more log lines not shown\n", r->log.dropped);
        ok = !text.failed && zip_entry(zf, "log.txt", text.data, text.len, now);
        lp_sb_free(&text);
    }
    if (zf)  /* frees minizip's state whatever happened before */
        ok = zipClose(zf, NULL) == ZIP_OK && ok;
    if (ok)
        return LP_OK;
    if (b->failed || !zf)
        return lp_error_set(err, LP_ERR_NOMEM,
                            "server busy: the memory budget cannot hold the answer, retry shortly");
    return lp_error_set(err, LP_ERR_INTERNAL, "cannot write the zip (minizip failed)");
}

lp_status lp_answer_build(lp_server *s, lp_request *r, lp_strbuf *b, const char **ctype,
                          lp_error *err)
{
    if (atomic_load(&r->out_of_memory))
        return lp_error_set(err, LP_ERR_NOMEM, "server busy: the memory budget is taken, retry shortly");
    /* what goes inline, checked against the limit before anything is written */
    size_t ok = 0;
    uint64_t inline_bytes = 0;
    for (size_t i = 0; i < r->cards.count; i++) {
        lp_card_result *res = &r->results[i];
        if (res->status) {
            mrc_log_add(&r->log, "card %s: %s", r->cards.cards[i].image, res->message);
            continue;
        }
        ok++;
        inline_bytes += r->answer == LP_ANSWER_MULTIPART || r->answer == LP_ANSWER_ZIP
                            ? res->size
                            : (res->size + 2) / 3 * 4;
    }
    if (r->answer == LP_ANSWER_URLS)
        inline_bytes = 0;
    if (inline_bytes > s->opts.max_inline)
        return lp_error_set(err, LP_ERR_LIMITS,
                            "the %zu cards of this upload are %llu bytes inline, over the limit "
                            "of %llu bytes (max-inline): upload fewer files at once",
                            ok, (unsigned long long)inline_bytes,
                            (unsigned long long)s->opts.max_inline);
    /* one allocation (and one charge) for the cards and their entries; the log may grow it */
    if (!lp_sb_reserve(b, inline_bytes + ok * 2048 + 16384))
        return lp_error_set(err, LP_ERR_NOMEM,
                            "server busy: the memory budget cannot hold the answer, retry shortly");
    lp_status st;
    switch (r->answer) {
    case LP_ANSWER_HTML:
        *ctype = "text/html; charset=utf-8";
        st = write_html(s, r, b);
        break;
    case LP_ANSWER_MULTIPART:
        *ctype = r->ctype_buf;
        st = write_multipart(s, r, b, err);
        break;
    case LP_ANSWER_ZIP:
        *ctype = "application/zip";
        st = write_zip(s, r, b, err);
        break;
    default:
        *ctype = "application/json";
        st = write_json(s, r, b, err);
    }
    if (!st && b->failed)
        st = lp_error_set(err, LP_ERR_NOMEM,
                          "server busy: the memory budget cannot hold the answer, retry shortly");
    return st;
}
