/*
 * httpc.h - a tiny HTTP/1.1 client for the server tests: one request per connection
 * (Connection: close), the whole response read into memory, plus a multipart/form-data
 * body builder. Written for tests: blocking sockets with a receive timeout.
 */
#ifndef LP_TEST_HTTPC_H
#define LP_TEST_HTTPC_H

#include <stddef.h>
#include <stdint.h>

typedef struct lpt_http_response {
    int status;          /* 0 when the connection failed or closed without a response */
    char *headers;       /* raw header block (NUL-terminated) */
    char *body;          /* NUL-terminated for convenience */
    size_t body_len;
} lpt_http_response;

/* Sends method path with optional extra header lines ("Name: value\r\n"...) and body. */
int lpt_http(uint16_t port, const char *method, const char *path, const char *extra_headers,
             const void *body, size_t body_len, lpt_http_response *resp);
void lpt_http_free(lpt_http_response *resp);
/* The value of a response header (case-insensitive name) copied into buf, or NULL. */
const char *lpt_http_header(const lpt_http_response *resp, const char *name, char *buf, size_t size);

/* Builds a multipart body with one field `field` per file; *body malloc'd. The matching
 * Content-Type header line is written into ctype_line. */
void lpt_multipart(const char *field, const void *const *files, const size_t *sizes, size_t n,
                   char **body, size_t *len, char *ctype_line, size_t ctype_size);

/* POSTs files as field "file" to path. */
int lpt_http_upload(uint16_t port, const char *path, const void *const *files, const size_t *sizes,
                    size_t n, lpt_http_response *resp);

/* Opens a raw connection (for slow-client tests); -1 on failure. */
int lpt_http_connect(uint16_t port);

/* The same from a chosen loopback source address (e.g. "127.0.0.2": all of 127/8 is
 * local), so that a test's clients look like different addresses to per-IP limits. */
int lpt_http_connect_from(const char *src, uint16_t port);
int lpt_http_from(const char *src, uint16_t port, const char *method, const char *path,
                  const char *extra_headers, const void *body, size_t body_len,
                  lpt_http_response *resp);
int lpt_http_upload_from(const char *src, uint16_t port, const char *path,
                         const void *const *files, const size_t *sizes, size_t n,
                         lpt_http_response *resp);
/* Reads a response from fd until the server closes it (or the receive timeout). */
int lpt_http_read_response(int fd, lpt_http_response *resp);
/* Sends all of data; -1 when the connection fails. */
int lpt_send_all(int fd, const void *data, size_t len);

/* Decodes standard base64 (RFC 4648, '=' padding) of n chars; NULL on a character outside
 * the alphabet. *out_len set; the result is malloc'd. */
uint8_t *lpt_base64_decode(const char *s, size_t n, size_t *out_len);

#endif
