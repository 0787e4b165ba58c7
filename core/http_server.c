/*
 * core/http_server.c - HTTP/1.1 server on libev with libhttp-parser.
 *
 * Life of a request: bytes arrive (read_cb) -> parser callbacks fill a
 * strata_http_request -> on message complete the parser is paused and the
 * route's handler runs -> the handler responds now or later -> the response
 * is queued on the connection, and parsing resumes with any pipelined bytes.
 *
 * Ownership: the connection owns its current request until the handler is
 * called; from then the handler owns it until it responds. If the client
 * goes away first, the request is orphaned (r->c == NULL): the close
 * callback runs, and the later response just frees it.
 *
 * Thread: the loop thread only.
 */
#include "http_server.h"

#include <errno.h>
#include <fcntl.h>
#include <http_parser.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core_limits.h"
#include "log.h"
#include "strbuf.h"

typedef struct route {
    void *owner;
    char method[16];
    char *path;
    int prefix;
    strata_http_fn fn;
    void *arg;
} route;

typedef struct conn conn;

struct strata_http_request {
    conn *c; /* NULL once the client is gone */
    char method[16];
    strbuf url;
    char *path, *query; /* split copies of url */
    char *hname[HTTP_MAX_HEADERS], *hval[HTTP_MAX_HEADERS];
    int nh;
    int last_was_value;
    size_t header_bytes;
    strbuf body;
    strbuf resp_headers;
    int keepalive;
    int streaming;
    strata_http_close_fn close_fn;
    void *close_arg;
};

struct conn {
    http_server *srv;
    int fd;
    ev_io rio, wio;
    ev_timer timer;
    http_parser parser;
    char *in;
    size_t inlen, incap;
    strata_http_request *req;    /* being parsed */
    strata_http_request *active; /* handed to a handler */
    int complete;                /* parser finished a message */
    int parse_error;             /* HTTP status to answer with, then close */
    const char *parse_why;
    strbuf out;
    size_t out_off;
    int close_after_write;
    int processing; /* inside conn_process: a close is deferred to its end */
    int zombie;     /* closed while processing; conn_process frees it */
    int lingering;  /* response sent, write side shut: discard input until EOF */
    int peer_eof;   /* the client shut its write side: answer what it sent, then close */
    conn *prev, *next;
};

struct http_server {
    struct ev_loop *loop;
    int fd;
    ev_io accept_io;
    size_t max_body;
    char addr[128];
    route routes[HTTP_MAX_ROUTES];
    size_t nroutes;
    conn *conns;
    size_t nconns;
    http_parser_settings settings;
};

static void conn_close(conn *c);
static void conn_process(conn *c);
static void conn_flush(conn *c);

/* ---- requests --------------------------------------------------------------- */

/* Free a request and everything it holds (NULL is fine). */
static void req_free(strata_http_request *r)
{
    if (!r)
        return;
    sb_free(&r->url);
    sb_free(&r->body);
    sb_free(&r->resp_headers);
    free(r->path);
    free(r->query);
    for (int i = 0; i < r->nh; i++) {
        free(r->hname[i]);
        free(r->hval[i]);
    }
    free(r);
}

const char *http_req_method(const strata_http_request *r)
{
    return r->method;
}
const char *http_req_path(const strata_http_request *r)
{
    return r->path ? r->path : "/";
}
const char *http_req_query(const strata_http_request *r)
{
    return r->query ? r->query : "";
}

const char *http_req_header(const strata_http_request *r, const char *name)
{
    for (int i = 0; i < r->nh; i++)
        if (r->hname[i] && strcasecmp(r->hname[i], name) == 0)
            return r->hval[i] ? r->hval[i] : "";
    return NULL;
}

const void *http_req_body(const strata_http_request *r, size_t *len)
{
    if (len)
        *len = r->body.len;
    return r->body.buf ? r->body.buf : "";
}

void http_req_on_close(strata_http_request *r, strata_http_close_fn fn, void *arg)
{
    r->close_fn = fn;
    r->close_arg = arg;
}

int http_req_add_header(strata_http_request *r, const char *name, const char *value)
{
    for (const char *p = name; *p; p++)
        if (*p == '\r' || *p == '\n' || *p == ':')
            return STRATA_EINVAL;
    for (const char *p = value; *p; p++)
        if (*p == '\r' || *p == '\n')
            return STRATA_EINVAL;
    sb_printf(&r->resp_headers, "%s: %s\r\n", name, value);
    return r->resp_headers.oom ? STRATA_ENOMEM : STRATA_OK;
}

/* The reason phrase of an HTTP status code. */
static const char *status_text(int s)
{
    switch (s) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Unknown";
    }
}

/* Write status line and headers into the connection's output. */
static void write_head(conn *c, strata_http_request *r, int status, const char *ctype,
                       long long clen)
{
    sb_printf(&c->out, "HTTP/1.1 %d %s\r\n", status, status_text(status));
    if (ctype)
        sb_printf(&c->out, "Content-Type: %s\r\n", ctype);
    if (clen >= 0)
        sb_printf(&c->out, "Content-Length: %lld\r\n", clen);
    else
        sb_puts(&c->out, "Transfer-Encoding: chunked\r\n");
    if (!r->keepalive)
        sb_puts(&c->out, "Connection: close\r\n");
    if (r->resp_headers.len)
        sb_append(&c->out, r->resp_headers.buf, r->resp_headers.len);
    sb_puts(&c->out, "\r\n");
}

/* The handler is done with the connection's active request. Inside
 * conn_process the loop there carries on; otherwise (a later response) we
 * start it: it flushes and parses any pipelined request. */
static void conn_request_done(conn *c, strata_http_request *r)
{
    c->active = NULL;
    if (!r->keepalive)
        c->close_after_write = 1;
    req_free(r);
    if (!c->processing)
        conn_process(c);
}

int http_req_respond(strata_http_request *r, int status, const char *ctype, const void *body,
                     size_t len)
{
    conn *c = r->c;
    if (!c) {
        req_free(r);
        return STRATA_ESTOPPING;
    }
    if (r->streaming)
        return STRATA_EINVAL;
    write_head(c, r, status, ctype, (long long)len);
    if (len && strcmp(r->method, "HEAD") != 0)
        sb_append(&c->out, body, len);
    conn_request_done(c, r);
    return STRATA_OK;
}

/* Start a chunked response (server-sent events and the like); STRATA_ESTOPPING when the client is
 * gone. */
int http_req_stream_start(strata_http_request *r, int status, const char *ctype)
{
    conn *c = r->c;
    if (!c)
        return STRATA_ESTOPPING;
    if (r->streaming)
        return STRATA_EINVAL;
    r->streaming = 1;
    write_head(c, r, status, ctype, -1);
    ev_timer_stop(c->srv->loop, &c->timer); /* streams live as long as they like */
    if (!c->processing)
        conn_flush(c);
    return r->c ? STRATA_OK : STRATA_ESTOPPING;
}

int http_req_stream_write(strata_http_request *r, const void *data, size_t len)
{
    conn *c = r->c;
    if (!c || c->fd < 0)
        return STRATA_ESTOPPING;
    if (!r->streaming || !len)
        return len ? STRATA_EINVAL : STRATA_OK;
    if (c->out.len - c->out_off > HTTP_MAX_PENDING_OUT)
        return STRATA_EAGAIN; /* the client is not reading */
    sb_printf(&c->out, "%zx\r\n", len);
    sb_append(&c->out, data, len);
    sb_puts(&c->out, "\r\n");
    if (c->out.oom)
        return STRATA_ENOMEM;
    if (!c->processing)
        conn_flush(c); /* may close c; r->c tells */
    return r->c ? STRATA_OK : STRATA_ESTOPPING;
}

int http_req_stream_end(strata_http_request *r)
{
    conn *c = r->c;
    if (!c) {
        req_free(r);
        return STRATA_ESTOPPING;
    }
    if (!r->streaming)
        return STRATA_EINVAL;
    sb_puts(&c->out, "0\r\n\r\n");
    conn_request_done(c, r);
    return STRATA_OK;
}

/* ---- parser callbacks ------------------------------------------------------------ */

/* http-parser: a new request on the connection; the previous one is freed. */
static int on_message_begin(http_parser *p)
{
    conn *c = p->data;
    req_free(c->req);
    c->req = calloc(1, sizeof *c->req);
    if (!c->req)
        return -1;
    c->req->c = c;
    ev_timer_stop(c->srv->loop, &c->timer);
    ev_timer_set(&c->timer, HTTP_REQUEST_TIMEOUT_S, 0.0);
    ev_timer_start(c->srv->loop, &c->timer);
    return 0;
}

/* Count n more bytes of URL and headers against HTTP_MAX_HEADER_BYTES; -1 (431) past it. */
static int header_budget(conn *c, size_t n)
{
    c->req->header_bytes += n;
    if (c->req->header_bytes > HTTP_MAX_HEADER_BYTES) {
        c->parse_error = 431;
        c->parse_why = "request headers are larger than 64 KiB";
        return -1;
    }
    return 0;
}

/* http-parser: a piece of the request URL. */
static int on_url(http_parser *p, const char *at, size_t n)
{
    conn *c = p->data;
    if (header_budget(c, n))
        return -1;
    return sb_append(&c->req->url, at, n) ? -1 : 0;
}

/* http-parser: a piece of a header's name. */
static int on_header_field(http_parser *p, const char *at, size_t n)
{
    conn *c = p->data;
    strata_http_request *r = c->req;
    if (header_budget(c, n))
        return -1;
    if (r->last_was_value || r->nh == 0) {
        if (r->nh >= HTTP_MAX_HEADERS) {
            c->parse_error = 431;
            c->parse_why = "too many request headers";
            return -1;
        }
        r->hname[r->nh] = strndup(at, n);
        r->hval[r->nh] = NULL;
        r->nh++;
        r->last_was_value = 0;
        return r->hname[r->nh - 1] ? 0 : -1;
    }
    /* a field split across reads */
    char *prev = r->hname[r->nh - 1];
    size_t pl = strlen(prev);
    char *m = realloc(prev, pl + n + 1);
    if (!m)
        return -1;
    memcpy(m + pl, at, n);
    m[pl + n] = 0;
    r->hname[r->nh - 1] = m;
    return 0;
}

/* http-parser: a piece of a header's value. */
static int on_header_value(http_parser *p, const char *at, size_t n)
{
    conn *c = p->data;
    strata_http_request *r = c->req;
    if (header_budget(c, n) || r->nh == 0)
        return -1;
    char *prev = r->hval[r->nh - 1];
    size_t pl = prev ? strlen(prev) : 0;
    char *m = realloc(prev, pl + n + 1);
    if (!m)
        return -1;
    memcpy(m + pl, at, n);
    m[pl + n] = 0;
    r->hval[r->nh - 1] = m;
    r->last_was_value = 1;
    return 0;
}

/* http-parser: the headers are in; refuses a declared body over service.http_max_body (413). */
static int on_headers_complete(http_parser *p)
{
    conn *c = p->data;
    strata_http_request *r = c->req;
    snprintf(r->method, sizeof r->method, "%s", http_method_str((enum http_method)p->method));
    if (p->content_length != ULLONG_MAX && p->content_length > c->srv->max_body) {
        c->parse_error = 413;
        c->parse_why = "request body is larger than service.http_max_body";
        return -1;
    }
    if ((p->http_major > 1 || (p->http_major == 1 && p->http_minor >= 1)) &&
        !http_req_header(r, "Host")) {
        c->parse_error = 400;
        c->parse_why = "an HTTP/1.1 request needs a Host header (RFC 9112, section 3.2)";
        return -1;
    }
    const char *u = r->url.buf ? r->url.buf : "/";
    const char *q = strchr(u, '?');
    r->path = q ? strndup(u, (size_t)(q - u)) : strdup(u);
    r->query = strdup(q ? q + 1 : "");
    return r->path && r->query ? 0 : -1;
}

/* http-parser: a piece of the body, refused past service.http_max_body (413). */
static int on_body(http_parser *p, const char *at, size_t n)
{
    conn *c = p->data;
    if (c->req->body.len + n > c->srv->max_body) {
        c->parse_error = 413;
        c->parse_why = "request body is larger than service.http_max_body";
        return -1;
    }
    return sb_append(&c->req->body, at, n) ? -1 : 0;
}

/* http-parser: the request is whole; parsing pauses until it is answered. */
static int on_message_complete(http_parser *p)
{
    conn *c = p->data;
    c->req->keepalive = http_should_keep_alive(p);
    c->complete = 1;
    http_parser_pause(p, 1);
    return 0;
}

/* ---- dispatch ---------------------------------------------------------------------- */

/* Answer with status and {"error": msg}. */
static void respond_error(strata_http_request *r, int status, const char *msg)
{
    strbuf sb = {0};
    sb_puts(&sb, "{\"error\":");
    sb_json_str(&sb, msg);
    sb_puts(&sb, "}");
    http_req_respond(r, status, "application/json", sb.buf, sb.len);
    sb_free(&sb);
}

/* Hand a whole request to the route that matches it best (exact path, else the longest prefix), or
 * answer 404 or 405. */
static void dispatch(conn *c, strata_http_request *r)
{
    http_server *s = c->srv;
    const route *best = NULL;
    int path_matched = 0;
    size_t best_len = 0;
    for (size_t i = 0; i < s->nroutes; i++) {
        const route *rt = &s->routes[i];
        size_t pl = strlen(rt->path);
        int ok = rt->prefix ? strncmp(r->path, rt->path, pl) == 0 : strcmp(r->path, rt->path) == 0;
        if (!ok)
            continue;
        path_matched = 1;
        int method_ok = strcmp(rt->method, "*") == 0 || strcmp(rt->method, r->method) == 0 ||
                        (strcmp(r->method, "HEAD") == 0 && strcmp(rt->method, "GET") == 0);
        if (method_ok &&
            (!best || pl > best_len || (pl == best_len && (!rt->prefix || best->prefix)))) {
            best = rt;
            best_len = pl;
        }
    }
    c->active = r;
    if (!best) {
        if (path_matched)
            respond_error(r, 405, "method not allowed on this path");
        else
            respond_error(r, 404, "no such route");
        return;
    }
    best->fn(r, best->arg);
}

/* Parse what is buffered and dispatch complete requests, one at a time. */
static void conn_process(conn *c)
{
    if (c->fd >= 0 && !c->peer_eof && !ev_is_active(&c->rio))
        ev_io_start(c->srv->loop, &c->rio); /* read_cb may have paused reading */
    c->processing = 1;
    while (c->fd >= 0 && !c->active && !c->close_after_write) {
        if (c->inlen == 0)
            break;
        http_parser_pause(&c->parser, 0);
        size_t n = http_parser_execute(&c->parser, &c->srv->settings, c->in, c->inlen);
        enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
        if (e != HPE_OK && e != HPE_PAUSED) {
            int status = c->parse_error ? c->parse_error : 400;
            char why[256];
            snprintf(why, sizeof why, "malformed HTTP request: %s",
                     c->parse_why ? c->parse_why : http_errno_description(e));
            strata_http_request *r = c->req ? c->req : calloc(1, sizeof *r);
            c->req = NULL;
            if (r) {
                /* garbage before a request line still gets an answer */
                r->c = c;
                r->keepalive = 0;
                c->active = r;
                respond_error(r, status, why);
            } else {
                c->close_after_write = 1;
            }
            c->inlen = 0;
            break;
        }
        memmove(c->in, c->in + n, c->inlen - n);
        c->inlen -= n;
        if (!c->complete)
            break; /* need more bytes */
        c->complete = 0;
        strata_http_request *r = c->req;
        c->req = NULL;
        ev_timer_stop(c->srv->loop, &c->timer);
        dispatch(c, r);
    }
    c->processing = 0;
    if (c->zombie) {
        free(c);
        return;
    }
    if (c->peer_eof && !c->active) /* every request it sent is answered (or incomplete) */
        c->close_after_write = 1;
    if (c->fd >= 0 && !c->active && !c->close_after_write && !ev_is_active(&c->timer)) {
        ev_timer_set(&c->timer, c->inlen ? HTTP_REQUEST_TIMEOUT_S : HTTP_IDLE_TIMEOUT_S, 0.0);
        ev_timer_start(c->srv->loop, &c->timer);
    }
    conn_flush(c); /* may close and free c: the last use */
}

/* ---- connection I/O -------------------------------------------------------------------- */

/* Write what the connection has queued, watching for writability when the socket is full. */
static void conn_flush(conn *c)
{
    if (c->fd < 0)
        return;
    while (c->out_off < c->out.len) {
        ssize_t n = write(c->fd, c->out.buf + c->out_off, c->out.len - c->out_off);
        if (n > 0) {
            c->out_off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            ev_io_start(c->srv->loop, &c->wio);
            return;
        }
        conn_close(c);
        return;
    }
    sb_reset(&c->out);
    c->out_off = 0;
    ev_io_stop(c->srv->loop, &c->wio);
    if (c->close_after_write && !c->active && !c->lingering) {
        /* Lingering close: shut our write side and read (and discard) what
         * the client is still sending, so it sees our error response
         * instead of a reset. Bounded by HTTP_LINGER_S. */
        c->lingering = 1;
        shutdown(c->fd, SHUT_WR);
        c->inlen = 0;
        ev_timer_stop(c->srv->loop, &c->timer);
        ev_timer_set(&c->timer, HTTP_LINGER_S, 0.0);
        ev_timer_start(c->srv->loop, &c->timer);
        if (!ev_is_active(&c->rio))
            ev_io_start(c->srv->loop, &c->rio);
    }
}

/* libev: the socket can take more of the response. */
static void write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    conn_flush(w->data);
}

/* libev: bytes to read: feed the parser, or discard them while lingering before close. */
static void read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    conn *c = w->data;
    if (c->lingering) {
        char junk[16384];
        ssize_t n = read(c->fd, junk, sizeof junk);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            conn_close(c);
        return;
    }
    /* stop reading while a request is with a handler and input piles up:
     * pipelining clients get TCP backpressure instead of unbounded memory */
    if (c->inlen >= HTTP_MAX_HEADER_BYTES + c->srv->max_body) {
        ev_io_stop(c->srv->loop, &c->rio);
        return;
    }
    if (c->incap - c->inlen < 65536) {
        size_t cap = c->incap ? c->incap * 2 : 65536;
        char *b = realloc(c->in, cap);
        if (!b) {
            conn_close(c);
            return;
        }
        c->in = b;
        c->incap = cap;
    }
    ssize_t n = read(c->fd, c->in + c->inlen, c->incap - c->inlen);
    if (n == 0) {
        /* a half-close (shutdown(SHUT_WR) after its request) is not a
         * disconnect: the client still reads, so its requests are answered
         * (a request already with a handler is not cancelled), then the
         * connection closes */
        c->peer_eof = 1;
        ev_io_stop(c->srv->loop, &c->rio);
        if (!c->active && !c->processing)
            conn_process(c);
        return;
    }
    if (n < 0 && errno != EAGAIN && errno != EINTR) {
        conn_close(c);
        return;
    }
    if (n < 0)
        return;
    c->inlen += (size_t)n;
    if (!c->active && !c->processing)
        conn_process(c);
}

/* libev: an idle or slow connection's deadline passed: close it. */
static void timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    conn *c = w->data;
    if (c->lingering) {
        conn_close(c);
        return;
    }
    if (c->active)
        return;
    if (c->req && c->inlen + c->req->body.len + c->req->url.len > 0) {
        strata_http_request *r = c->req;
        c->req = NULL;
        r->keepalive = 0;
        c->active = r;
        respond_error(r, 408, "request not received in time");
        return;
    }
    conn_close(c);
}

/* Close a connection; a request still with its handler is orphaned, not freed. */
static void conn_close(conn *c)
{
    if (c->fd < 0)
        return;
    http_server *s = c->srv;
    ev_io_stop(s->loop, &c->rio);
    ev_io_stop(s->loop, &c->wio);
    ev_timer_stop(s->loop, &c->timer);
    close(c->fd);
    c->fd = -1;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->nconns--;
    strata_http_request *a = c->active;
    c->active = NULL;
    if (a) {
        a->c = NULL; /* orphaned: the handler still owns it */
        if (a->close_fn)
            a->close_fn(a, a->close_arg);
    }
    req_free(c->req);
    c->req = NULL;
    sb_free(&c->out);
    free(c->in);
    c->in = NULL;
    c->inlen = c->incap = 0;
    if (c->processing)
        c->zombie = 1; /* conn_process is on the stack: it frees */
    else
        free(c);
}

/* libev: accept up to 64 pending connections per wake-up. */
static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    http_server *s = w->data;
    for (int i = 0; i < 64; i++) {
        int fd = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                log_warn("accept: %s", strerror(errno));
            return;
        }
        if (s->nconns >= HTTP_MAX_CONNECTIONS) {
            log_warn("too many HTTP connections (%d); closing a new one", HTTP_MAX_CONNECTIONS);
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        conn *c = calloc(1, sizeof *c);
        if (!c) {
            close(fd);
            continue;
        }
        c->srv = s;
        c->fd = fd;
        http_parser_init(&c->parser, HTTP_REQUEST);
        c->parser.data = c;
        ev_io_init(&c->rio, read_cb, fd, EV_READ);
        ev_io_init(&c->wio, write_cb, fd, EV_WRITE);
        ev_timer_init(&c->timer, timeout_cb, HTTP_IDLE_TIMEOUT_S, 0.0);
        c->rio.data = c->wio.data = c->timer.data = c;
        ev_io_start(loop, &c->rio);
        ev_timer_start(loop, &c->timer);
        c->next = s->conns;
        if (s->conns)
            s->conns->prev = c;
        s->conns = c;
        s->nconns++;
    }
}

/* ---- server --------------------------------------------------------------------------------- */

http_server *http_server_new(struct ev_loop *loop, const char *listen_addr, size_t max_body,
                             char *err, size_t errlen)
{
    char host[256];
    const char *colon = strrchr(listen_addr, ':');
    if (!colon || (size_t)(colon - listen_addr) >= sizeof host) {
        snprintf(err, errlen, "http_listen '%s' is not host:port", listen_addr);
        return NULL;
    }
    memcpy(host, listen_addr, (size_t)(colon - listen_addr));
    host[colon - listen_addr] = 0;
    char *h = host;
    if (h[0] == '[') { /* [::1]:7070 */
        h++;
        char *e = strchr(h, ']');
        if (e)
            *e = 0;
    }
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    int rc = getaddrinfo(*h ? h : NULL, colon + 1, &hints, &ai);
    if (rc != 0) {
        snprintf(err, errlen, "http_listen '%s': %s", listen_addr, gai_strerror(rc));
        return NULL;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 1024) != 0) {
        snprintf(err, errlen, "cannot listen on %s: %s (is another process using the port?)",
                 listen_addr, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return NULL;
    }
    freeaddrinfo(ai);
    http_server *s = calloc(1, sizeof *s);
    if (!s) {
        close(fd);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->loop = loop;
    s->fd = fd;
    s->max_body = max_body;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char hb[128] = "?", pb[16] = "?";
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        getnameinfo((struct sockaddr *)&ss, sl, hb, sizeof hb, pb, sizeof pb,
                    NI_NUMERICHOST | NI_NUMERICSERV);
    snprintf(s->addr, sizeof s->addr, strchr(hb, ':') ? "[%s]:%s" : "%s:%s", hb, pb);
    s->settings.on_message_begin = on_message_begin;
    s->settings.on_url = on_url;
    s->settings.on_header_field = on_header_field;
    s->settings.on_header_value = on_header_value;
    s->settings.on_headers_complete = on_headers_complete;
    s->settings.on_body = on_body;
    s->settings.on_message_complete = on_message_complete;
    ev_io_init(&s->accept_io, accept_cb, fd, EV_READ);
    s->accept_io.data = s;
    ev_io_start(loop, &s->accept_io);
    return s;
}

const char *http_server_address(const http_server *s)
{
    return s->addr;
}
size_t http_server_connections(const http_server *s)
{
    return s->nconns;
}

int http_route_add(http_server *s, void *owner, const char *method, const char *path,
                   strata_http_fn fn, void *arg, char *err, size_t errlen)
{
    if (!method || !path || path[0] != '/' || !fn || strlen(method) >= 16) {
        snprintf(err, errlen, "a route needs a method, a path starting with '/' and a handler");
        return STRATA_EINVAL;
    }
    if (s->nroutes >= HTTP_MAX_ROUTES) {
        snprintf(err, errlen, "more than %d HTTP routes", HTTP_MAX_ROUTES);
        return STRATA_ERANGE;
    }
    size_t pl = strlen(path);
    int prefix = path[pl - 1] == '*';
    /* The same route from another owner is allowed: during a reload the new
     * instance registers before the old one retires, and dispatch prefers
     * the newest registration. One owner registering twice is a bug. */
    for (size_t i = 0; i < s->nroutes; i++) {
        route *r = &s->routes[i];
        if (r->owner == owner && strcmp(r->method, method) == 0 && r->prefix == prefix &&
            strlen(r->path) == (prefix ? pl - 1 : pl) &&
            strncmp(r->path, path, prefix ? pl - 1 : pl) == 0) {
            snprintf(err, errlen, "route %s %s is already registered", method, path);
            return STRATA_EINVAL;
        }
    }
    route *r = &s->routes[s->nroutes];
    r->path = prefix ? strndup(path, pl - 1) : strdup(path);
    if (!r->path) {
        snprintf(err, errlen, "out of memory");
        return STRATA_ENOMEM;
    }
    snprintf(r->method, sizeof r->method, "%s", method);
    r->prefix = prefix;
    r->owner = owner;
    r->fn = fn;
    r->arg = arg;
    s->nroutes++;
    return STRATA_OK;
}

/* Remove every route an instance registered (it is being destroyed). */
void http_routes_remove_owner(http_server *s, void *owner)
{
    size_t k = 0;
    for (size_t i = 0; i < s->nroutes; i++) {
        if (s->routes[i].owner == owner && owner) {
            free(s->routes[i].path);
            continue;
        }
        s->routes[k++] = s->routes[i];
    }
    s->nroutes = k;
}

/* Close the listener and every connection and free the server. */
void http_server_free(http_server *s)
{
    if (!s)
        return;
    /* conn_close unlinks each connection from s->conns before freeing it */
    while (s->conns)
        conn_close(s->conns); // NOLINT(clang-analyzer-unix.Malloc)
    ev_io_stop(s->loop, &s->accept_io);
    close(s->fd);
    for (size_t i = 0; i < s->nroutes; i++)
        free(s->routes[i].path);
    free(s);
}
