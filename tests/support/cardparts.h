/*
 * cardparts.h - reading the card server's answers that carry the cards themselves (the
 * stateless forms of POST /v1/cards/GAME): JSON with each card as base64 (?inline=1) and
 * multipart/mixed (the JSON part, then one image/jpeg part per card). Written for tests,
 * independently of the server's writer: JSON through jansson, base64 and the MIME parts
 * by hand, every length and name cross-checked; a malformed answer fails with a message.
 */
#ifndef LP_TEST_CARDPARTS_H
#define LP_TEST_CARDPARTS_H

#include <stddef.h>
#include <stdint.h>

#include "httpc.h"
#include "leanpix/leanpix.h"

typedef struct lpt_card {
    uint8_t *jpeg;
    size_t size;
    char image[128], title[512];
    unsigned width, height;   /* as the answer says */
} lpt_card;

/* The cards of a ?inline=1 answer; -1 (and a message on stderr) when malformed. */
int lpt_cards_inline(const lpt_http_response *r, lpt_card **cards);
/* The cards of a multipart/mixed answer; -1 (and a message) when malformed. */
int lpt_cards_multipart(const lpt_http_response *r, lpt_card **cards);
void lpt_cards_free(lpt_card *cards, int n);
/* Decodes a JPEG held in memory with leanpix's decoder. */
lp_status lpt_decode_jpeg_memory(const uint8_t *jpeg, size_t size, lp_buffer_image *img,
                                 lp_error *err);

#endif
