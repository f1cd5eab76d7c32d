/*
 * pages.h - the card server's web pages (pages.c) and the static files they use (web/,
 * embedded into the binary at build time: web/embed.cmake writes web_assets.c).
 */
#ifndef LP_SERVER_PAGES_H
#define LP_SERVER_PAGES_H

#include "server/game.h"
#include "server/server.h"

#include <stddef.h>

/* One file of web/, served at path (/static/NAME) with its Content-Type; etag is a quoted
 * strong validator made from the file's SHA-256 at build time. */
typedef struct lp_web_asset {
    const char *path;
    const char *type;
    const unsigned char *data;
    size_t size;
    const char *etag;
} lp_web_asset;

/* web_assets.c (generated) */
extern const lp_web_asset lp_web_assets[];
extern const size_t lp_web_asset_count;

/* The asset served at url, or NULL. */
const lp_web_asset *lp_web_asset_at(const char *url);

/* A page's start (doctype, lang, the stylesheet and script, the top bar with the games'
 * links) up to its <main>, and its end after </main>. title is escaped. */
void lp_page_begin(lp_strbuf *b, const mrc_data *d, const char *title);
void lp_page_end(lp_strbuf *b);
/* GET /: the games and the API in short. */
void lp_page_index(lp_strbuf *b, const mrc_data *d);
/* GET /GAME: where the files are, the upload form (a plain form POST to /api/GAME without
 * JavaScript; with it, web/app.js uploads to /v1/cards/GAME and shows the cards). */
void lp_page_upload(lp_strbuf *b, const mrc_data *d, const lp_game *g);

#endif
