/*
 * httpc.c - see httpc.h. Memory: each response is malloc'd; freed by lpt_http_free.
 */
#define _GNU_SOURCE
#include "httpc.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

int lpt_http_connect(uint16_t port)
{
    return lpt_http_connect_from(NULL, port);
}

int lpt_http_connect_from(const char *src, uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = {30, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (src) {
        struct sockaddr_in s = {.sin_family = AF_INET};
        if (inet_pton(AF_INET, src, &s.sin_addr) != 1 ||
            bind(fd, (struct sockaddr *)&s, sizeof s) != 0) {
            close(fd);
            return -1;
        }
    }
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int lpt_send_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int lpt_http(uint16_t port, const char *method, const char *path, const char *extra_headers,
             const void *body, size_t body_len, lpt_http_response *resp)
{
    return lpt_http_from(NULL, port, method, path, extra_headers, body, body_len, resp);
}

int lpt_http_from(const char *src, uint16_t port, const char *method, const char *path,
                  const char *extra_headers, const void *body, size_t body_len,
                  lpt_http_response *resp)
{
    memset(resp, 0, sizeof *resp);
    int fd = lpt_http_connect_from(src, port);
    if (fd < 0)
        return 0;
    char head[2048];
    int n = snprintf(head, sizeof head,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s"
                     "Content-Length: %zu\r\n\r\n",
                     method, path, extra_headers ? extra_headers : "", body_len);
    /* a server may answer (413) and close before the whole body is sent: ignore send errors */
    if (lpt_send_all(fd, head, (size_t)n) == 0 && body_len)
        lpt_send_all(fd, body, body_len);
    int st = lpt_http_read_response(fd, resp);
    close(fd);
    return st;
}

int lpt_http_read_response(int fd, lpt_http_response *resp)
{
    memset(resp, 0, sizeof *resp);
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (len + 65536 > cap)
            buf = realloc(buf, cap *= 2);
        ssize_t got = recv(fd, buf + len, cap - len - 1, 0);
        if (got <= 0)
            break;
        len += (size_t)got;
    }
    buf[len] = 0;
    char *end = strstr(buf, "\r\n\r\n");
    if (!end || sscanf(buf, "HTTP/1.%*d %d", &resp->status) != 1) {
        free(buf);
        resp->status = 0;
        return 0;
    }
    size_t hlen = (size_t)(end - buf);
    resp->headers = strndup(buf, hlen);
    resp->body_len = len - hlen - 4;
    resp->body = malloc(resp->body_len + 1);
    memcpy(resp->body, end + 4, resp->body_len);
    resp->body[resp->body_len] = 0;
    free(buf);
    return resp->status;
}

void lpt_http_free(lpt_http_response *resp)
{
    free(resp->headers);
    free(resp->body);
    memset(resp, 0, sizeof *resp);
}

const char *lpt_http_header(const lpt_http_response *resp, const char *name, char *buf, size_t size)
{
    size_t nl = strlen(name);
    for (const char *p = resp->headers; p && *p;) {
        const char *eol = strstr(p, "\r\n");
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (len > nl + 1 && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ')
                v++;
            snprintf(buf, size, "%.*s", (int)(len - (size_t)(v - p)), v);
            return buf;
        }
        p = eol ? eol + 2 : p + len;
    }
    return NULL;
}

void lpt_multipart(const char *field, const void *const *files, const size_t *sizes, size_t n,
                   char **body, size_t *len, char *ctype_line, size_t ctype_size)
{
    static const char boundary[] = "lpt-boundary-7f3a9c";
    size_t cap = 256;
    for (size_t i = 0; i < n; i++)
        cap += sizes[i] + 256;
    char *b = malloc(cap);
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        pos += (size_t)sprintf(b + pos,
                               "--%s\r\nContent-Disposition: form-data; name=\"%s\"; "
                               "filename=\"upload%zu\"\r\nContent-Type: application/octet-stream\r\n\r\n",
                               boundary, field, i);
        memcpy(b + pos, files[i], sizes[i]);
        pos += sizes[i];
        pos += (size_t)sprintf(b + pos, "\r\n");
    }
    pos += (size_t)sprintf(b + pos, "--%s--\r\n", boundary);
    *body = b;
    *len = pos;
    snprintf(ctype_line, ctype_size, "Content-Type: multipart/form-data; boundary=%s\r\n", boundary);
}

int lpt_http_upload(uint16_t port, const char *path, const void *const *files, const size_t *sizes,
                    size_t n, lpt_http_response *resp)
{
    return lpt_http_upload_from(NULL, port, path, files, sizes, n, resp);
}

int lpt_http_upload_from(const char *src, uint16_t port, const char *path,
                         const void *const *files, const size_t *sizes, size_t n,
                         lpt_http_response *resp)
{
    char *body, ctype[200];
    size_t len;
    lpt_multipart("file", files, sizes, n, &body, &len, ctype, sizeof ctype);
    int st = lpt_http_from(src, port, "POST", path, ctype, body, len, resp);
    free(body);
    return st;
}

uint8_t *lpt_base64_decode(const char *s, size_t n, size_t *out_len)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    uint8_t *out = malloc(n / 4 * 3 + 3);
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; out && i < n && s[i] != '='; i++) {
        const char *c = s[i] ? strchr(tab, s[i]) : NULL;
        if (!c) {
            free(out);
            return NULL;
        }
        acc = acc << 6 | (uint32_t)(c - tab);
        if ((bits += 6) >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    *out_len = o;
    return out;
}
