/*
 * core/http_server.h - the one HTTP/1.1 server plugins share.
 *
 * One listener on the loop; keep-alive and pipelining (one request at a
 * time per connection, in order); bodies bounded by max_body; request and
 * idle timeouts; chunked streaming responses for SSE. Parsing is Debian's
 * libhttp-parser (the joyent/nodejs parser): small, fast, fuzzed for years.
 * Thread: the loop thread only.
 */
#ifndef STRATA_CORE_HTTP_SERVER_H
#define STRATA_CORE_HTTP_SERVER_H

#include <ev.h>
#include <stddef.h>

#include "strata/host.h"

typedef struct http_server http_server;

/* Listen on listen_addr ("host:port") on loop, refusing bodies over
 * max_body; NULL with err when the address cannot be bound. */
http_server *http_server_new(struct ev_loop *loop, const char *listen_addr, size_t max_body,
                             char *err, size_t errlen);
void http_server_free(http_server *s); /* closes connections; NULL ok */
/* "host:port" actually bound (port 0 picks one). */
const char *http_server_address(const http_server *s);
/* Register a route for `owner` (an instance, or NULL for the core). */
int http_route_add(http_server *s, void *owner, const char *method, const char *path,
                   strata_http_fn fn, void *arg, char *err, size_t errlen);
void http_routes_remove_owner(http_server *s, void *owner);
size_t http_server_connections(const http_server *s);

/* Request accessors and responses (the host table points at these). */
const char *http_req_method(const strata_http_request *r);
const char *http_req_path(const strata_http_request *r);
const char *http_req_query(const strata_http_request *r);
const char *http_req_header(const strata_http_request *r, const char *name);
const void *http_req_body(const strata_http_request *r, size_t *len);
int http_req_add_header(strata_http_request *r, const char *name, const char *value);
int http_req_respond(strata_http_request *r, int status, const char *ctype, const void *body,
                     size_t len);
int http_req_stream_start(strata_http_request *r, int status, const char *ctype);
int http_req_stream_write(strata_http_request *r, const void *data, size_t len);
int http_req_stream_end(strata_http_request *r);
void http_req_on_close(strata_http_request *r, strata_http_close_fn fn, void *arg);

#endif /* STRATA_CORE_HTTP_SERVER_H */
