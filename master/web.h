/* web: master's HTTP/1.1 server on the web port: plain uv_tcp plus http_parser, one request
 * per connection (every answer carries Connection: close), JSON bodies. A request must
 * arrive whole within 10 s of the connection's accept (not of its last byte) and within
 * 16 KiB, headers included (URL at most 2 KiB); garbage gets 400, an oversized request 413
 * (414 for the URL), a late one 408, and the connection is closed. A complete request goes
 * to the handler, which answers with web_reply (or web_deny), at once or later.
 *
 * At most WEB_MAX_CONNS connections are open (fewer when half the open-file limit is
 * lower); at the cap, a new connection closes the oldest one that has not sent a whole
 * request, so that clients holding connections open cannot lock the operator out. Client
 * errors, 401 answers, evictions and accept errors are logged as WARN, each kind at most
 * once a second with a count of the lines held back. */
#ifndef MASTER_WEB_H
#define MASTER_WEB_H

#include <http_parser.h>
#include <jansson.h>
#include <stdbool.h>
#include <uv.h>

#include "bearer.h"

/* Open connections on the web port, at most. */
#define WEB_MAX_CONNS 1024

typedef struct web_req_s web_req_t;

/* Gets every complete request; must call web_reply or web_deny exactly once, now or
 * later. */
typedef void (*web_handler_cb)(web_req_t *req, void *arg);
/* Runs once web_close has finished. */
typedef void (*web_closed_cb)(void *arg);

/* Listens on host:port (numeric IPv4 or IPv6). `token` (copied) is the bearer token that
 * web_req_authorized checks; a token without one set lets every request through. Returns 0
 * or a libuv error. */
int web_start(uv_loop_t *loop, const char *host, int port, const ff_bearer_t *token,
              web_handler_cb cb, void *arg);
/* The request's method (HTTP_GET, ...). */
enum http_method web_req_method(const web_req_t *req);
/* The request's path, without query or fragment ("/status"). */
const char *web_req_path(const web_req_t *req);
/* True when no token is configured, or the request carried exactly one Authorization
 * header, `Bearer <the token>`. What the client sent is wiped before the handler runs. */
bool web_req_authorized(const web_req_t *req);
/* Answers: status line, Content-Type: application/json, Content-Length, Connection: close,
 * `headers` (NULL, or complete lines each ending in \r\n, e.g. "Allow: GET\r\n"), then the
 * compact JSON of body, which this takes over. The connection is closed once the answer is
 * written. A request whose client went away, or that web_close already answered, is just
 * released. */
void web_reply(web_req_t *req, int status, const char *headers, json_t *body);
/* Answers 401 {"error":"unauthorized"} with WWW-Authenticate: Bearer (plus
 * error="invalid_token" when a token was sent), logging a rate-limited WARN that names the
 * client's address and never the token. Counts as the request's web_reply. */
void web_deny(web_req_t *req);
/* Stops listening; closes connections still reading a request; answers requests still
 * with their handler 503 {"error":"stopping"} (their later web_reply only releases them);
 * lets written answers drain. cb runs once all connections are closed. */
void web_close(web_closed_cb cb, void *arg);

#endif
