/* web: a small HTTP/1.1 server for master's web port (plain uv_tcp plus http_parser).
 *
 * A connection goes READING -> HANDLING -> WRITING -> LINGERING -> closed. Reading stops as
 * soon as one request is complete; the answer is written, the write side shut down, and the
 * connection read (and the input dropped) until the client closes it or 2 s pass: closing
 * a socket that still has unread input sends a reset, which can destroy the answer in
 * flight. A single timer sweeps connections past their deadline, so a connection owns one
 * handle. A connection's memory outlives its handle while its handler has not answered. */
#include "web.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "list.h"
#include "log.h"

#define WEB_MAX_REQUEST (16 * 1024)
#define WEB_MAX_URL 2048
#define WEB_READ_TIMEOUT_MS 10000
#define WEB_WRITE_TIMEOUT_MS 10000
#define WEB_LINGER_MS 2000
#define WEB_SWEEP_MS 500

typedef enum { WEB_READING, WEB_HANDLING, WEB_WRITING, WEB_LINGERING, WEB_CLOSING } web_phase_t;

struct web_req_s {
    uv_tcp_t tcp;
    http_parser parser;
    ff_list_t node; /* in W.conns until its handle is being closed */
    web_phase_t phase;
    uint64_t deadline; /* loop time by which reading, writing or lingering must end */
    size_t nread;      /* request bytes parsed so far */
    char url[WEB_MAX_URL + 1];
    size_t url_len;
    bool complete, url_long, too_large;
    bool pending;  /* the handler has yet to call web_reply */
    bool answered; /* an answer has been handed to uv_write */
    bool closed;   /* the handle is closed */
    char *out;
    uv_write_t wreq;
    uv_shutdown_t sreq;
};

static struct {
    uv_loop_t *loop;
    uv_tcp_t server;
    uv_timer_t sweep;
    ff_list_t conns;
    size_t nconns; /* accepted, handle not closed yet */
    web_handler_cb cb;
    void *arg;
    bool closing, done;
    web_closed_cb closed_cb;
    void *closed_arg;
} W;

static void web_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void
web_req_free(web_req_t *c)
{
    ff_free(c->out);
    ff_free(c);
}

static void
web_sweep_closed_cb(uv_handle_t *h)
{
    (void)h;
    W.closed_cb(W.closed_arg);
}

static void
web_close_check(void)
{
    if (!W.closing || W.done || W.nconns > 0)
        return;
    W.done = true;
    uv_close((uv_handle_t *)&W.sweep, web_sweep_closed_cb);
}

static void
web_conn_closed_cb(uv_handle_t *h)
{
    web_req_t *c = h->data;

    c->closed = true;
    W.nconns--;
    if (!c->pending)
        web_req_free(c);
    web_close_check();
}

static void
web_conn_close(web_req_t *c)
{
    if (c->phase == WEB_CLOSING)
        return;
    c->phase = WEB_CLOSING;
    ff_list_remove(&c->node);
    uv_close((uv_handle_t *)&c->tcp, web_conn_closed_cb);
}

/* One loop, and read_cb consumes the data before the next read: one buffer serves all. */
static void
web_alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    static char chunk[16384];

    (void)h;
    (void)hint;
    *buf = uv_buf_init(chunk, sizeof(chunk));
}

static void
web_shutdown_cb(uv_shutdown_t *req, int status)
{
    web_req_t *c = req->data;

    if (status < 0 || c->phase == WEB_CLOSING) {
        web_conn_close(c);
        return;
    }
    c->phase = WEB_LINGERING;
    c->deadline = uv_now(W.loop) + WEB_LINGER_MS;
    if (uv_read_start((uv_stream_t *)&c->tcp, web_alloc_cb, web_read_cb) < 0)
        web_conn_close(c);
}

static void
web_write_cb(uv_write_t *req, int status)
{
    web_req_t *c = req->data;

    ff_free(c->out);
    c->out = NULL;
    if (status < 0 || c->phase == WEB_CLOSING) {
        web_conn_close(c);
        return;
    }
    c->sreq.data = c;
    if (uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp, web_shutdown_cb) < 0)
        web_conn_close(c);
}

/* Writes the answer; takes body. */
static void
web_send(web_req_t *c, int status, const char *headers, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
    size_t tlen = text != NULL ? strlen(text) : 0;
    size_t len = tlen + 256 + (headers != NULL ? strlen(headers) : 0);
    uv_buf_t buf;
    int n;

    json_decref(body);
    c->out = ff_malloc(len);
    n = snprintf(c->out, len,
                 "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                 "Connection: close\r\n%s\r\n%s",
                 status, http_status_str((enum http_status)status), tlen,
                 headers != NULL ? headers : "", text != NULL ? text : "");
    free(text);
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->answered = true;
    c->phase = WEB_WRITING;
    c->deadline = uv_now(W.loop) + WEB_WRITE_TIMEOUT_MS;
    c->wreq.data = c;
    buf = uv_buf_init(c->out, (unsigned)n);
    if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &buf, 1, web_write_cb) < 0)
        web_conn_close(c);
}

/* Answers a request that cannot be handled, with one WARN line naming the cause. */
static void
web_fail(web_req_t *c, int status, const char *what, const char *detail)
{
    ff_log(FF_LOG_WARN, "web: %d %s (%s)", status, what, detail);
    web_send(c, status, NULL, json_pack("{s:s}", "error", what));
}

/* Hands a complete request to the handler, its URL cut down to the path. */
static void
web_dispatch(web_req_t *c)
{
    struct http_parser_url u;

    uv_read_stop((uv_stream_t *)&c->tcp);
    c->phase = WEB_HANDLING;
    http_parser_url_init(&u);
    if (http_parser_parse_url(c->url, c->url_len, 0, &u) != 0) {
        web_fail(c, 400, "bad request", "unparsable URL");
        return;
    }
    if (u.field_set & (1 << UF_PATH)) {
        memmove(c->url, c->url + u.field_data[UF_PATH].off, u.field_data[UF_PATH].len);
        c->url[u.field_data[UF_PATH].len] = '\0';
    } else {
        snprintf(c->url, sizeof(c->url), "/");
    }
    c->pending = true;
    ff_log(FF_LOG_DEBUG, "web: %s %s", http_method_str(c->parser.method), c->url);
    W.cb(c, W.arg);
}

static int
web_on_url(http_parser *p, const char *at, size_t len)
{
    web_req_t *c = p->data;

    if (len > WEB_MAX_URL - c->url_len) {
        c->url_long = true;
        return -1;
    }
    memcpy(c->url + c->url_len, at, len);
    c->url_len += len;
    return 0;
}

static int
web_on_complete(http_parser *p)
{
    web_req_t *c = p->data;

    c->complete = true;
    /* One request per connection: bytes past it (a pipelined request) are never parsed. */
    http_parser_pause(p, 1);
    return 0;
}

/* A declared body past the limit is refused before it is read. */
static int
web_on_headers(http_parser *p)
{
    web_req_t *c = p->data;

    if ((p->flags & F_CONTENTLENGTH) && p->content_length > WEB_MAX_REQUEST) {
        c->too_large = true;
        return -1;
    }
    return 0;
}

static const http_parser_settings web_settings = {
    .on_url = web_on_url,
    .on_headers_complete = web_on_headers,
    .on_message_complete = web_on_complete,
};

static void
web_feed(web_req_t *c, const char *data, size_t len)
{
    size_t used = http_parser_execute(&c->parser, &web_settings, data, len);
    enum http_errno err = HTTP_PARSER_ERRNO(&c->parser);

    c->nread += used;
    if (c->url_long)
        web_fail(c, 414, "uri too long", "over 2048 bytes");
    else if (c->too_large || c->nread > WEB_MAX_REQUEST)
        web_fail(c, 413, "request too large", "over 16384 bytes");
    else if (c->complete)
        web_dispatch(c);
    else if (err != HPE_OK)
        web_fail(c, 400, "bad request", http_errno_description(err));
}

static void
web_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    web_req_t *c = s->data;

    if (nread < 0) {
        /* EOF before a complete request leaves nothing to answer; while lingering it is
         * the client's close we wait for. */
        web_conn_close(c);
        return;
    }
    if (nread > 0 && c->phase == WEB_READING)
        web_feed(c, buf->base, (size_t)nread);
}

static void
web_connection_cb(uv_stream_t *server, int status)
{
    web_req_t *c;

    if (status < 0) {
        ff_log(FF_LOG_WARN, "web: accept failed: %s", uv_strerror(status));
        return;
    }
    c = ff_calloc(1, sizeof(*c));
    uv_tcp_init(W.loop, &c->tcp);
    c->tcp.data = c;
    W.nconns++;
    ff_list_push(&W.conns, &c->node);
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    c->phase = WEB_READING;
    c->deadline = uv_now(W.loop) + WEB_READ_TIMEOUT_MS;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0 ||
        uv_read_start((uv_stream_t *)&c->tcp, web_alloc_cb, web_read_cb) < 0)
        web_conn_close(c);
}

static void
web_sweep_cb(uv_timer_t *t)
{
    uint64_t now = uv_now(t->loop);
    ff_list_t *p, *next;

    for (p = W.conns.next; p != &W.conns; p = next) {
        web_req_t *c = ff_container_of(p, web_req_t, node);
        next = p->next;
        if (c->phase == WEB_HANDLING || now < c->deadline)
            continue;
        if (c->phase == WEB_READING && c->nread > 0)
            web_fail(c, 408, "request timeout", "incomplete after 10 s");
        else
            web_conn_close(c);
    }
}

int
web_start(uv_loop_t *loop, const char *host, int port, web_handler_cb cb, void *arg)
{
    struct sockaddr_storage addr;
    int rc;

    memset(&W, 0, sizeof(W));
    W.loop = loop;
    W.cb = cb;
    W.arg = arg;
    ff_list_init(&W.conns);
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&addr) != 0 &&
        uv_ip6_addr(host, port, (struct sockaddr_in6 *)&addr) != 0)
        return UV_EINVAL;
    uv_tcp_init(loop, &W.server);
    rc = uv_tcp_bind(&W.server, (struct sockaddr *)&addr, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&W.server, 128, web_connection_cb);
    if (rc < 0) {
        uv_close((uv_handle_t *)&W.server, NULL);
        return rc;
    }
    uv_timer_init(loop, &W.sweep);
    uv_timer_start(&W.sweep, web_sweep_cb, WEB_SWEEP_MS, WEB_SWEEP_MS);
    return 0;
}

enum http_method
web_req_method(const web_req_t *req)
{
    return (enum http_method)req->parser.method;
}

const char *
web_req_path(const web_req_t *req)
{
    return req->url;
}

void
web_reply(web_req_t *req, int status, const char *headers, json_t *body)
{
    req->pending = false;
    if (req->closed) {
        json_decref(body);
        web_req_free(req);
        return;
    }
    if (req->answered || req->phase == WEB_CLOSING) {
        json_decref(body);
        return;
    }
    web_send(req, status, headers, body);
}

void
web_close(web_closed_cb cb, void *arg)
{
    ff_list_t *p, *next;

    if (W.closing)
        return;
    W.closing = true;
    W.closed_cb = cb;
    W.closed_arg = arg;
    uv_close((uv_handle_t *)&W.server, NULL);
    for (p = W.conns.next; p != &W.conns; p = next) {
        web_req_t *c = ff_container_of(p, web_req_t, node);
        next = p->next;
        if (c->phase == WEB_READING)
            web_conn_close(c);
        else if (c->phase == WEB_HANDLING && !c->answered)
            web_send(c, 503, NULL, json_pack("{s:s}", "error", "stopping"));
    }
    web_close_check();
}
