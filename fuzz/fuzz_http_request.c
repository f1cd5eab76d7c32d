/*
 * fuzz_http_request.c - the server's request layer as a client reaches it: one
 * lp_server_start (the demo data set, 127.0.0.1, port 0 = any free port, learnt with
 * lp_server_port) for the whole process, then per input a loopback TCP connection that
 * sends the input's bytes as they are (request line, headers, multipart body: routing,
 * Content-Length checks, libmicrohttpd's post processor, our field and file limits, the
 * upload handed to a worker that parses and renders, the answer), and reads what comes
 * back. Everything runs in this process, so ASan/UBSan and libFuzzer's coverage see the
 * server's threads too.
 *
 * Determinism: an input's exchange ends only when the server is done with it. The client
 * keeps its side open while a worker has the request (the server drops a suspended
 * request whose client half-closed); once no worker is busy and nothing has come for
 * LP_FUZZ_HTTP_QUIET_MS it half-closes (an incomplete request is then dropped at once
 * instead of waiting for the server's idle timeout) and reads until the server closes.
 * Then it waits until the server has no request in flight (the request's memory freed),
 * so that nothing of one input runs into the next. LP_FUZZ_HTTP_WAIT_MS bounds it all.
 * The counters read are the server's own metrics (struct lp_server in server/http.h).
 * LP_FUZZ_SHOW=1 in the environment prints the answers (to look at a reproducer).
 */
#include "fuzz_util.h"

#include "server/serve.h"
#include "server/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define LP_FUZZ_HTTP_WAIT_MS 10000
#define LP_FUZZ_HTTP_QUIET_MS 10

static lp_server *server;
static uint16_t port;
static bool show;  /* LP_FUZZ_SHOW=1: copy the server's answers to stderr (for reproducers) */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    lp_server_options opts;
    lp_server_options_default(&opts);
    opts.listen = "127.0.0.1:0";
    opts.workers = 1;
    lp_error err = {0};
    if (lp_server_start(&server, &opts, &err) != LP_OK) {
        fprintf(stderr, "fuzz_http_request: cannot start the server: %s\n", lp_error_message(&err));
        abort();
    }
    port = lp_server_port(server);
    show = getenv("LP_FUZZ_SHOW") != NULL;
    return 0;
}

static long elapsed_ms(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

static bool workers_busy(void)
{
    return atomic_load(&server->metrics.queued) + atomic_load(&server->metrics.running) > 0;
}

/* Reads until the server closes; half-closes first once the server is quiet. */
static void exchange(int fd, const struct timespec *t0)
{
    bool half_closed = false;
    long quiet_since = elapsed_ms(t0);
    char buf[16384];
    while (elapsed_ms(t0) < LP_FUZZ_HTTP_WAIT_MS) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 2) > 0) {
            ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
                return;  /* the server closed */
            if (n > 0) {
                quiet_since = elapsed_ms(t0);
                if (show)
                    fwrite(buf, 1, (size_t)n, stderr);
            }
            continue;
        }
        if (workers_busy())
            quiet_since = elapsed_ms(t0);
        else if (!half_closed && elapsed_ms(t0) - quiet_since >= LP_FUZZ_HTTP_QUIET_MS) {
            shutdown(fd, SHUT_WR);
            half_closed = true;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    struct timeval tv = {LP_FUZZ_HTTP_WAIT_MS / 1000, 0};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        close(fd);
        return 0;
    }
    size_t sent = 0;
    while (sent < size) {
        ssize_t n = send(fd, data + sent, size - sent, MSG_NOSIGNAL);
        if (n <= 0)
            break;  /* the server answered early and closed (413, 400) */
        sent += (size_t)n;
    }
    exchange(fd, &t0);
    close(fd);
    while (atomic_load(&server->metrics.in_flight) > 0 && elapsed_ms(&t0) < LP_FUZZ_HTTP_WAIT_MS) {
        struct timespec pause = {0, 200000};
        nanosleep(&pause, NULL);
    }
    return 0;
}
