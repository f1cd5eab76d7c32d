/*
 * clients.c - what one client may hold of `leanpix serve`, and for how long.
 *
 * libmicrohttpd bounds each connection's idle time, but a client that sends one byte every
 * few seconds is never idle: without more it keeps its socket and, worse, the upload
 * memory it has sent so far, for as long as it likes. Sixteen such clients used to hold
 * the whole upload budget and every other upload got 503. Three defences live here:
 *
 * - Deadlines. Every connection has a record (MHD's socket context) on one list with a
 *   deadline for the phase it is in: headers (--header-timeout from the connection's
 *   start or from the end of its previous request), body (--body-timeout from the
 *   headers), answer being sent (--body-timeout again). A reaper thread wakes five times
 *   a second and shuts down the socket of any connection past its deadline; MHD then sees
 *   the close and tears the request down through the normal path (completed()), which
 *   releases everything it held. Requests waiting for or in a worker have no deadline.
 *   shutdown() happens under the list lock and a record leaves the list (in MHD's CLOSED
 *   notification) under it too, before MHD closes the fd, so the fd is never a reused one.
 * - Connections: in all (--max-connections; libmicrohttpd's own limit sits 16 above it,
 *   so that we see, answer and count the refusals) and per address
 *   (--per-ip-connections), counted in a small hash table keyed by the IPv4 address (open
 *   addressing, backward-shift deletion; at most one live entry per connection, so twice
 *   libmicrohttpd's limit in slots never fills). A connection
 *   over the share is answered 503 and shut down at once.
 * - Upload bytes: every body byte is charged as it arrives to its address's account
 *   (--per-ip-upload-mem) and to the total of all uploads in the server (--upload-mem,
 *   by default half of the budget outside the render pool), and released when the
 *   request ends. So one address can hold at most its share, and uploads together can
 *   never take the memory that queued and running requests need.
 *
 * Everything here is touched by MHD's polling thread and the reaper, under s->clients_lock.
 */
#define _GNU_SOURCE
#include "server/http.h"
#include "core/clock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

struct lp_ip_slot {
    uint32_t ip;
    bool used;
    unsigned conns;
    uint64_t bytes;
};

static size_t ip_hash(uint32_t ip, size_t mask)
{
    return (size_t)((ip * 2654435761u) >> 7) & mask;
}

/* The slot of ip, or NULL when it has none (add: create it). */
static lp_ip_slot *ip_slot(lp_server *s, uint32_t ip, bool add)
{
    size_t mask = s->ip_cap - 1;
    for (size_t i = ip_hash(ip, mask), n = 0; n < s->ip_cap; i = (i + 1) & mask, n++) {
        lp_ip_slot *e = &s->ip_slots[i];
        if (e->used && e->ip == ip)
            return e;
        if (!e->used) {
            if (!add)
                return NULL;
            *e = (lp_ip_slot){ip, true, 0, 0};
            return e;
        }
    }
    return NULL;  /* full: cannot happen with 2 slots per allowed connection */
}

/* Frees the slot when nothing is charged to it any more (backward-shift deletion keeps
 * every other entry reachable from its home slot). */
static void ip_slot_maybe_free(lp_server *s, lp_ip_slot *e)
{
    if (e->conns || e->bytes)
        return;
    size_t mask = s->ip_cap - 1;
    size_t hole = (size_t)(e - s->ip_slots);
    e->used = false;
    for (size_t j = (hole + 1) & mask; s->ip_slots[j].used; j = (j + 1) & mask) {
        size_t home = ip_hash(s->ip_slots[j].ip, mask);
        /* move j into the hole unless its home lies cyclically in (hole, j] */
        bool stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (!stays) {
            s->ip_slots[hole] = s->ip_slots[j];
            s->ip_slots[j].used = false;
            hole = j;
        }
    }
}

static double phase_deadline(const lp_server *s, int phase, double now)
{
    switch (phase) {
    case LP_CONN_HEADERS:
        return now + s->opts.header_timeout_s;
    case LP_CONN_BODY:
    case LP_CONN_SENDING:
        return now + s->opts.body_timeout_s;
    default:
        return 0;  /* waiting for or in a worker: bounded by the queue, not by the client */
    }
}

void lp_conn_set_phase(lp_server *s, lp_conn *c, int phase)
{
    if (!c)
        return;
    double now = lp_monotonic_seconds();
    pthread_mutex_lock(&s->clients_lock);
    c->phase = phase;
    c->deadline = phase_deadline(s, phase, now);
    pthread_mutex_unlock(&s->clients_lock);
}

static const char refuse_text[] =
    "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nConnection: close\r\n"
    "Content-Type: text/plain; charset=utf-8\r\nContent-Length: 43\r\n\r\n"
    "503 too many connections from your address\n";
static const char full_text[] =
    "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nConnection: close\r\n"
    "Content-Type: text/plain; charset=utf-8\r\nContent-Length: 40\r\n\r\n"
    "503 the server has too many connections\n";

static void conn_started(lp_server *s, struct MHD_Connection *conn, void **ctx)
{
    const union MHD_ConnectionInfo *fi = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    const union MHD_ConnectionInfo *ai = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    lp_conn *c = calloc(1, sizeof *c);
    if (!c || !fi) {
        free(c);
        if (fi)
            shutdown(fi->connect_fd, SHUT_RDWR);
        return;
    }
    c->fd = fi->connect_fd;
    if (ai && ai->client_addr && ai->client_addr->sa_family == AF_INET)
        c->ip = ntohl(((const struct sockaddr_in *)(const void *)ai->client_addr)->sin_addr.s_addr);
    pthread_mutex_lock(&s->clients_lock);
    lp_ip_slot *e = ip_slot(s, c->ip, true);
    bool full = s->nconns >= s->opts.max_connections;
    bool over = !e || (s->opts.per_ip_connections && e->conns >= s->opts.per_ip_connections);
    if (e)
        e->conns++;
    c->phase = LP_CONN_HEADERS;
    c->deadline = phase_deadline(s, LP_CONN_HEADERS, lp_monotonic_seconds());
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    if (full || over) {  /* a short fixed answer into an empty socket buffer cannot block */
        c->cut = true;
        const char *text = full ? full_text : refuse_text;
        ssize_t w = send(c->fd, text, strlen(text), MSG_NOSIGNAL | MSG_DONTWAIT);
        (void)w;
        shutdown(c->fd, SHUT_RDWR);
        atomic_fetch_add(&s->metrics.refused[full ? LP_REFUSE_CONNECTIONS : LP_REFUSE_IP_CONNECTIONS], 1);
    }
    pthread_mutex_unlock(&s->clients_lock);
    *ctx = c;
}

static void conn_closed(lp_server *s, void **ctx)
{
    lp_conn *c = *ctx;
    if (!c)
        return;
    pthread_mutex_lock(&s->clients_lock);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->nconns--;
    lp_ip_slot *e = ip_slot(s, c->ip, false);
    if (e) {
        e->conns--;
        ip_slot_maybe_free(s, e);
    }
    pthread_mutex_unlock(&s->clients_lock);
    free(c);
    *ctx = NULL;
}

void lp_conn_notify(void *cls, struct MHD_Connection *conn, void **ctx,
                    enum MHD_ConnectionNotificationCode code)
{
    if (code == MHD_CONNECTION_NOTIFY_STARTED)
        conn_started(cls, conn, ctx);
    else
        conn_closed(cls, ctx);
}

lp_conn *lp_conn_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *i = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return i ? i->socket_context : NULL;
}

int lp_upload_charge(lp_server *s, lp_conn *c, uint64_t bytes)
{
    int refused = -1;
    pthread_mutex_lock(&s->clients_lock);
    lp_ip_slot *e = c ? ip_slot(s, c->ip, false) : NULL;
    if (s->upload_bytes + bytes > s->upload_limit)
        refused = LP_REFUSE_UPLOAD_MEM;
    else if (e && e->bytes + bytes > s->upload_limit_ip)
        refused = LP_REFUSE_IP_UPLOAD_MEM;
    else {
        s->upload_bytes += bytes;
        if (e)
            e->bytes += bytes;
    }
    pthread_mutex_unlock(&s->clients_lock);
    if (refused >= 0)
        atomic_fetch_add(&s->metrics.refused[refused], 1);
    return refused;
}

void lp_upload_release(lp_server *s, lp_conn *c, uint64_t bytes)
{
    if (!bytes)
        return;
    pthread_mutex_lock(&s->clients_lock);
    s->upload_bytes -= bytes;
    lp_ip_slot *e = c ? ip_slot(s, c->ip, false) : NULL;
    if (e) {
        e->bytes -= bytes;
        ip_slot_maybe_free(s, e);
    }
    pthread_mutex_unlock(&s->clients_lock);
}

void lp_clients_usage(lp_server *s, uint64_t *upload_bytes, uint64_t *connections)
{
    pthread_mutex_lock(&s->clients_lock);
    *upload_bytes = s->upload_bytes;
    *connections = s->nconns;
    pthread_mutex_unlock(&s->clients_lock);
}

static void reap(lp_server *s, double now)
{
    for (lp_conn *c = s->conns; c; c = c->next) {
        if (c->cut || !c->deadline || now < c->deadline)
            continue;
        c->cut = true;
        shutdown(c->fd, SHUT_RDWR);
        int why = c->phase == LP_CONN_HEADERS ? LP_REFUSE_HEADER_TIMEOUT
                : c->phase == LP_CONN_BODY    ? LP_REFUSE_BODY_TIMEOUT
                                              : LP_REFUSE_SEND_TIMEOUT;
        atomic_fetch_add(&s->metrics.refused[why], 1);
    }
}

static void *reaper_main(void *p)
{
    lp_server *s = p;
    pthread_mutex_lock(&s->clients_lock);
    while (!s->reaper_stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += 200 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&s->reaper_wake, &s->clients_lock, &ts);
        reap(s, lp_monotonic_seconds());
    }
    pthread_mutex_unlock(&s->clients_lock);
    return NULL;
}

lp_status lp_clients_start(lp_server *s, lp_error *err)
{
    size_t cap = 16;
    while (cap < 2 * ((size_t)s->opts.max_connections + 16))
        cap *= 2;
    s->ip_slots = calloc(cap, sizeof *s->ip_slots);
    if (!s->ip_slots)
        return lp_error_set(err, LP_ERR_NOMEM, "out of memory");
    s->ip_cap = cap;
    pthread_mutex_init(&s->clients_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->reaper_wake, &ca);
    pthread_condattr_destroy(&ca);
    s->clients_ready = true;
    if (pthread_create(&s->reaper, NULL, reaper_main, s) != 0)
        return lp_error_set(err, LP_ERR_NOMEM, "cannot start the connection reaper thread");
    s->reaper_running = true;
    return LP_OK;
}

void lp_clients_stop(lp_server *s)
{
    if (s->reaper_running) {
        pthread_mutex_lock(&s->clients_lock);
        s->reaper_stop = true;
        pthread_cond_signal(&s->reaper_wake);
        pthread_mutex_unlock(&s->clients_lock);
        pthread_join(s->reaper, NULL);
        s->reaper_running = false;
    }
    if (s->clients_ready) {
        pthread_cond_destroy(&s->reaper_wake);
        pthread_mutex_destroy(&s->clients_lock);
        s->clients_ready = false;
    }
    free(s->ip_slots);
    s->ip_slots = NULL;
}
