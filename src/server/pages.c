/*
 * pages.c - the HTML of the card server's pages: the index (GET /), each game's upload page
 * (GET /GAME) and the frame of the result page of a plain form upload (answer.c writes its
 * cards and log between lp_page_begin and lp_page_end).
 *
 * The pages work without JavaScript: the upload form posts to /api/GAME (a page with the
 * cards) or, with its second button, to /v1/cards/GAME?format=zip (a zip download). With
 * JavaScript, web/app.js takes over the same form: several files chosen or dropped, one
 * upload, the cards shown as their bytes arrive, a download per card and one for all.
 * Styles and script are the server's own files (/static/..., web/), never a CDN; their
 * URLs carry the build's hash (?v=ETAG) so that a new build is fetched at once while an
 * unchanged one is cached.
 *
 * Texts from descriptors and data sets are escaped like uploaded text (a path has <, >).
 */
#include "server/pages.h"

#include <stdio.h>
#include <string.h>

const lp_web_asset *lp_web_asset_at(const char *url)
{
    for (size_t i = 0; i < lp_web_asset_count; i++)
        if (strcmp(url, lp_web_assets[i].path) == 0)
            return &lp_web_assets[i];
    return NULL;
}

/* The asset's URL with its version: the ETag without its quotes. */
static void asset_link(lp_strbuf *b, const char *path)
{
    const lp_web_asset *a = lp_web_asset_at(path);
    lp_sb_puts(b, path);
    if (a && strlen(a->etag) > 2)
        lp_sb_printf(b, "?v=%.*s", (int)strlen(a->etag) - 2, a->etag + 1);
}

void lp_page_begin(lp_strbuf *b, const mrc_data *d, const char *title)
{
    lp_sb_puts(b, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                  "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                  "<title>");
    lp_sb_html(b, title);
    lp_sb_puts(b, "</title><link rel=\"stylesheet\" href=\"");
    asset_link(b, "/static/app.css");
    lp_sb_puts(b, "\"><link rel=\"icon\" href=\"");
    asset_link(b, "/static/icon.svg");
    lp_sb_puts(b, "\"><script defer src=\"");
    asset_link(b, "/static/app.js");
    lp_sb_puts(b, "\"></script></head>\n<body><a class=\"skip\" href=\"#main\">Skip to content</a>"
                  "<header class=\"top\"><a class=\"brand\" href=\"/\">leanpix cards</a>"
                  "<nav aria-label=\"Games\">");
    for (size_t i = 0; d && i < d->ngames; i++) {
        lp_sb_printf(b, "<a href=\"/%s\">", d->games[i].desc->name);
        lp_sb_html(b, d->games[i].desc->title);
        lp_sb_puts(b, "</a>");
    }
    lp_sb_puts(b, "</nav></header>\n<main id=\"main\">\n");
}

void lp_page_end(lp_strbuf *b)
{
    lp_sb_puts(b, "</main>\n<footer class=\"foot\"><p>Made by <code>leanpix serve</code>: "
                  "the cards are drawn on this server from your files, which are not kept."
                  "</p></footer>\n</body></html>\n");
}

void lp_page_index(lp_strbuf *b, const mrc_data *d)
{
    lp_page_begin(b, d, "Reference cards for your game controllers");
    lp_sb_puts(b, "<h1>Reference cards for your game controllers</h1>\n"
                  "<p class=\"lead\">Upload a game's controller bindings and get one picture per "
                  "device showing what every button, axis and hat does: to print, or to keep "
                  "on a second screen.</p>\n<div class=\"games\">\n");
    for (size_t i = 0; i < d->ngames; i++) {
        const lp_game *g = d->games[i].desc;
        /* the link, then its file kind in brackets (tests look for exactly this) */
        lp_sb_printf(b, "<section class=\"game\"><h2><a href=\"/%s\">", g->name);
        lp_sb_html(b, g->title);
        lp_sb_puts(b, "</a> (");
        lp_sb_html(b, g->file_kind);
        lp_sb_puts(b, ")</h2><p>");
        lp_sb_html(b, g->upload_hint);
        lp_sb_puts(b, "</p></section>\n");
    }
    lp_sb_puts(b, "</div>\n<section class=\"api\"><h2>For programs</h2><p><code>POST /v1/cards/{");
    for (size_t i = 0; i < d->ngames; i++)
        lp_sb_printf(b, "%s%s", i ? "|" : "", d->games[i].desc->name);
    lp_sb_puts(b, "}</code> with multipart field <code>file</code> (repeatable) answers JSON "
                  "with one URL per card; <code>?inline=1</code> puts the cards in the JSON, "
                  "<code>Accept: multipart/mixed</code> sends them as parts and "
                  "<code>?format=zip</code> as a zip. <code>GET /healthz</code>, "
                  "<code>GET /metrics</code>.</p></section>\n");
    lp_page_end(b);
}

static void places(lp_strbuf *b, const lp_game *g)
{
    lp_sb_puts(b, "<section class=\"where\" aria-labelledby=\"where-h\">"
                  "<h2 id=\"where-h\">Where the game keeps them</h2>\n");
    if (g->places && g->places[0].label) {
        lp_sb_puts(b, "<dl class=\"places\">");
        for (const lp_game_place *p = g->places; p->label; p++) {
            lp_sb_puts(b, "<dt>");
            lp_sb_html(b, p->label);
            lp_sb_puts(b, "</dt><dd><code class=\"path\">");
            lp_sb_html(b, p->path);
            lp_sb_puts(b, "</code></dd>");
        }
        lp_sb_puts(b, "</dl>\n");
    }
    lp_sb_puts(b, "<p>");
    lp_sb_html(b, g->upload_hint);
    if (g->places_note) {
        lp_sb_puts(b, " ");
        lp_sb_html(b, g->places_note);
    }
    lp_sb_puts(b, "</p></section>\n");
}

void lp_page_upload(lp_strbuf *b, const mrc_data *d, const lp_game *g)
{
    char title[160];
    snprintf(title, sizeof title, "%s reference cards", g->title);
    lp_page_begin(b, d, title);
    lp_sb_puts(b, "<h1>");
    lp_sb_html(b, g->title);
    lp_sb_puts(b, "</h1>\n<p class=\"lead\">Choose the game's binding files (");
    lp_sb_html(b, g->file_kind);
    lp_sb_puts(b, "), and get a reference card for each of your controllers.</p>\n");
    places(b, g);
    lp_sb_printf(b,
                 "<form class=\"upload\" id=\"upload\" method=\"post\" action=\"/api/%s\" "
                 "enctype=\"multipart/form-data\" data-game=\"%s\">\n"
                 "<div class=\"drop\" id=\"drop\"><label for=\"files\">Binding files</label>"
                 "<input id=\"files\" type=\"file\" name=\"file\" multiple accept=\"",
                 g->name, g->name);
    lp_sb_html(b, g->accept);
    lp_sb_puts(b, "\" aria-describedby=\"drop-hint\"><p id=\"drop-hint\" class=\"hint\">Choose "
                  "several files at once, or drop them here.</p>\n"
                  "<div id=\"chosen\" class=\"chosen\" aria-live=\"polite\"></div></div>\n"
                  "<p class=\"actions\"><button type=\"submit\" class=\"primary\" id=\"make\">"
                  "Make cards</button> ");
    lp_sb_printf(b, "<button type=\"submit\" class=\"secondary\" id=\"make-zip\" "
                    "formaction=\"/v1/cards/%s?format=zip\">Make cards as a .zip</button></p>\n"
                    "</form>\n",
                 g->name);
    lp_sb_puts(b, "<section id=\"results\" class=\"results\" aria-labelledby=\"results-h\" hidden>"
                  "<h2 id=\"results-h\">Your cards</h2>\n<p id=\"status\" class=\"status\" "
                  "role=\"status\"></p>\n<p class=\"actions\"><button type=\"button\" "
                  "class=\"primary\" id=\"download-all\" disabled>Download all (.zip)</button>"
                  "</p>\n<div id=\"cards\" class=\"cards\"></div>\n"
                  "<section id=\"log-section\" class=\"log\" aria-labelledby=\"log-h\" hidden>"
                  "<h2 id=\"log-h\">Log</h2><ol id=\"log\"></ol></section>"
                  "</section>\n");
    lp_page_end(b);
}
