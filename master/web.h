/* web: master's HTTP/1.1 server on the web port: plain uv_tcp plus http_parser, one request
 * per connection (every answer carries Connection: close), JSON bodies. A request must
 * arrive whole within 10 s and 16 KiB (URL at most 2 KiB); garbage gets 400, an oversized
 * request 413 (414 for the URL), and the connection is closed. A complete request goes to
 * the handler, which answers with web_reply, at once or later. */
#ifndef MASTER_WEB_H
#define MASTER_WEB_H

#include <http_parser.h>
#include <jansson.h>
#include <uv.h>

typedef struct web_req_s web_req_t;

/* Gets every complete request; must call web_reply exactly once, now or later. */
typedef void (*web_handler_cb)(web_req_t *req, void *arg);
/* Runs once web_close has finished. */
typedef void (*web_closed_cb)(void *arg);

/* Listens on host:port (numeric IPv4 or IPv6). Returns 0 or a libuv error. */
int web_start(uv_loop_t *loop, const char *host, int port, web_handler_cb cb, void *arg);
/* The request's method (HTTP_GET, ...). */
enum http_method web_req_method(const web_req_t *req);
/* The request's path, without query or fragment ("/status"). */
const char *web_req_path(const web_req_t *req);
/* Answers: status line, Content-Type: application/json, Content-Length, Connection: close,
 * `headers` (NULL, or complete lines each ending in \r\n, e.g. "Allow: GET\r\n"), then the
 * compact JSON of body, which this takes over. The connection is closed once the answer is
 * written. A request whose client went away, or that web_close already answered, is just
 * released. */
void web_reply(web_req_t *req, int status, const char *headers, json_t *body);
/* Stops listening; closes connections still reading a request; answers requests still
 * with their handler 503 {"error":"stopping"} (their later web_reply only releases them);
 * lets written answers drain. cb runs once all connections are closed. */
void web_close(web_closed_cb cb, void *arg);

#endif
