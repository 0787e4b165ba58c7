/*
 * fuzz_http_request - any bytes sent to the real HTTP server over a real
 * loopback connection: it must answer or close, never crash, hang or leak.
 * Routes echo the body and stream a chunked response, so both response
 * paths run.
 */
#include <ev.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http_server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct ev_loop *loop;
static http_server *srv;
static int port;

static void echo(strata_http_request *r, void *arg)
{
    (void)arg;
    size_t n;
    const void *b = http_req_body(r, &n);
    http_req_add_header(r, "X-Method", http_req_method(r));
    http_req_respond(r, 200, "text/plain", b, n);
}

static void stream(strata_http_request *r, void *arg)
{
    (void)arg;
    http_req_stream_start(r, 200, "text/event-stream");
    http_req_stream_write(r, "data: x\n\n", 9);
    http_req_stream_end(r);
}

static void setup(void)
{
    char err[256];
    loop = ev_default_loop(0);
    srv = http_server_new(loop, "127.0.0.1:0", 4096, err, sizeof err);
    if (!srv) {
        fprintf(stderr, "%s\n", err);
        abort();
    }
    http_route_add(srv, NULL, "POST", "/echo", echo, NULL, err, sizeof err);
    http_route_add(srv, NULL, "GET", "/stream/*", stream, NULL, err, sizeof err);
    port = atoi(strrchr(http_server_address(srv), ':') + 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!srv)
        setup();
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* close with RST: 100k connections a run must not exhaust ports in TIME_WAIT */
    struct linger lg = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return 0;
    }
    ev_run(loop, EVRUN_NOWAIT); /* accept */
    if (size && write(fd, data, size) < 0) {
        close(fd);
        return 0;
    }
    shutdown(fd, SHUT_WR);
    char buf[65536];
    /* run the server until it closes the connection or has nothing to do */
    for (int i = 0; i < 64; i++) {
        ev_run(loop, EVRUN_NOWAIT);
        ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n == 0)
            break;
    }
    close(fd);
    for (int i = 0; i < 4; i++)
        ev_run(loop, EVRUN_NOWAIT); /* let the server see the close */
    return 0;
}
