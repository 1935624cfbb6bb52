/* web: a small HTTP/1.1 server for master's web port (plain uv_tcp plus http_parser;
 * parsing a request and its limits are webreq.c's).
 *
 * A connection goes READING -> HANDLING -> WRITING -> LINGERING -> closed. Reading stops as
 * soon as one request is complete; the answer is written, the write side shut down, and the
 * connection read (and the input dropped) until the client closes it or 2 s pass: closing
 * a socket that still has unread input sends a reset, which can destroy the answer in
 * flight. A single timer sweeps connections past their deadline, so a connection owns one
 * handle. A connection's memory outlives its handle while its handler has not answered.
 *
 * The port belongs to the operator, so nothing a client can do at will may lock the
 * operator out: a request's deadline counts from the accept, not from its last byte (a
 * client dripping bytes is still cut off after 10 s); connections are capped, and at the
 * cap a new one takes the place of the oldest that has not sent a whole request; a failing
 * accept(2) never spins; and every WARN a client can provoke is rate-limited. */
#include "web.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "alloc.h"
#include "list.h"
#include "log.h"
#include "webreq.h"

#define WEB_READ_TIMEOUT_MS 10000
#define WEB_WRITE_TIMEOUT_MS 10000
#define WEB_LINGER_MS 2000
#define WEB_SWEEP_MS 500
#define WEB_BACKLOG 511
/* After accept(2) has run out of descriptors with nothing to evict: a pause, not a spin. */
#define WEB_PAUSE_MS 1000
/* Each kind of client-provoked WARN: at most one line per this many ms. */
#define WEB_WARN_EVERY_MS 1000

typedef enum { WEB_READING, WEB_HANDLING, WEB_WRITING, WEB_LINGERING, WEB_CLOSING } web_phase_t;

struct web_req_s {
    uv_tcp_t tcp;
    ff_list_t node; /* in W.conns, in accept order, until its handle is being closed */
    web_phase_t phase;
    uint64_t deadline; /* loop time by which reading, writing or lingering must end */
    webreq_t req;      /* the request as parsed so far */
    bool pending;      /* the handler has yet to call web_reply */
    bool answered;     /* an answer has been handed to uv_write */
    bool closed;       /* the handle is closed */
    bool authorized;
    char *out;
    uv_write_t wreq;
    uv_shutdown_t sreq;
};

/* A rate-limited kind of WARN: lines within WEB_WARN_EVERY_MS of the last one are counted,
 * and the count is logged with the next line or by the sweep. */
typedef struct {
    const char *what; /* plural noun for the count ("401 answers") */
    uint64_t next;    /* loop time from which a line may be logged again */
    unsigned held;    /* lines held back since the last one logged */
} web_limit_t;

static struct {
    uv_loop_t *loop;
    uv_tcp_t server;
    struct sockaddr_storage addr;
    bool listening;      /* W.server is open */
    bool server_closing; /* its close is under way */
    bool paused;         /* closed after accept ran out of descriptors; reopened later */
    uint64_t resume_at;  /* loop time to listen again while paused */
    uv_timer_t sweep;
    ff_list_t conns;
    size_t nconns;    /* accepted, handle not closed yet */
    size_t nlive;     /* in W.conns */
    size_t max_conns; /* WEB_MAX_CONNS, or less under a low descriptor limit */
    ff_bearer_t token;
    web_limit_t warn_client, warn_deny, warn_conns, warn_accept;
    web_handler_cb cb;
    void *arg;
    bool closing, done;
    web_closed_cb closed_cb;
    void *closed_arg;
} W;

static void web_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

/* Logs one WARN of kind l unless one went out less than WEB_WARN_EVERY_MS ago. */
static void __attribute__((format(printf, 2, 3))) web_warn(web_limit_t *l, const char *fmt, ...)
{
    uint64_t now = uv_now(W.loop);
    char msg[512];
    va_list ap;

    if (now < l->next) {
        l->held++;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (l->held > 0)
        ff_log(FF_LOG_WARN, "web: %s (and %u more %s not logged)", msg, l->held, l->what);
    else
        ff_log(FF_LOG_WARN, "web: %s", msg);
    l->held = 0;
    l->next = now + WEB_WARN_EVERY_MS;
}

/* Reports the lines of kind l held back, once no new line has taken them along. */
static void
web_warn_flush(web_limit_t *l, uint64_t now)
{
    if (l->held == 0 || now < l->next)
        return;
    ff_log(FF_LOG_WARN, "web: %u more %s not logged", l->held, l->what);
    l->held = 0;
    l->next = now + WEB_WARN_EVERY_MS;
}

/* The client's address as "ip:port" ("[ip]:port" for IPv6); never the request's content. */
static const char *
web_peer(const web_req_t *c, char *buf, size_t size)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    char ip[INET6_ADDRSTRLEN] = "?";

    if (c->phase == WEB_CLOSING || uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) != 0)
        return "unknown peer";
    if (ss.ss_family == AF_INET6) {
        uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof(ip));
        snprintf(buf, size, "[%s]:%d", ip, ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
    } else {
        uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof(ip));
        snprintf(buf, size, "%s:%d", ip, ntohs(((struct sockaddr_in *)&ss)->sin_port));
    }
    return buf;
}

static void
web_req_free(web_req_t *c)
{
    webreq_forget(&c->req);
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
    W.nlive--;
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

/* Answers a request that cannot be handled, with a (rate-limited) WARN naming the cause. */
static void
web_fail(web_req_t *c, int status, const char *what, const char *detail)
{
    char peer[64];

    web_warn(&W.warn_client, "%d %s from %s (%s)", status, what, web_peer(c, peer, sizeof(peer)),
             detail);
    web_send(c, status, NULL, json_pack("{s:s}", "error", what));
}

/* Hands a complete request to the handler, its URL cut down to the path. */
static void
web_dispatch(web_req_t *c)
{
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->phase = WEB_HANDLING;
    c->authorized = webreq_authorize(&c->req, &W.token);
    if (webreq_path(&c->req) < 0) {
        web_fail(c, 400, "bad request", "unparsable URL");
        return;
    }
    c->pending = true;
    ff_log(FF_LOG_DEBUG, "web: %s %s", http_method_str(c->req.parser.method), c->req.url);
    W.cb(c, W.arg);
}

static void
web_feed(web_req_t *c, const char *data, size_t len)
{
    const char *what, *detail;
    int status = webreq_feed(&c->req, data, len, &what, &detail);

    if (status == 200)
        web_dispatch(c);
    else if (status != 0)
        web_fail(c, status, what, detail);
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

/* Makes room under the cap: closes the oldest connection still reading its request (or,
 * failing that, the oldest lingering after its answer). Returns false when every
 * connection has a request with the handler or an answer being written. */
static bool
web_evict(void)
{
    web_req_t *victim = NULL;
    char peer[64];

    for (ff_list_t *p = W.conns.next; p != &W.conns; p = p->next) {
        web_req_t *c = ff_container_of(p, web_req_t, node);
        if (c->phase == WEB_READING) {
            victim = c;
            break;
        }
        if (c->phase == WEB_LINGERING && victim == NULL)
            victim = c;
    }
    if (victim == NULL)
        return false;
    web_warn(&W.warn_conns, "%zu connections (the limit): closed the oldest idle one, from %s",
             W.nlive, web_peer(victim, peer, sizeof(peer)));
    web_conn_close(victim);
    return true;
}

/* Accepts a connection (always: libuv stops listening until a pending one is accepted)
 * and starts reading its request, or closes it at once when `refuse` is set. */
static void
web_conn_new(uv_stream_t *server, bool refuse)
{
    web_req_t *c = ff_calloc(1, sizeof(*c));

    uv_tcp_init(W.loop, &c->tcp);
    c->tcp.data = c;
    W.nconns++;
    W.nlive++;
    ff_list_push(&W.conns, &c->node);
    webreq_init(&c->req);
    c->phase = WEB_READING;
    c->deadline = uv_now(W.loop) + WEB_READ_TIMEOUT_MS;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0 || refuse ||
        uv_read_start((uv_stream_t *)&c->tcp, web_alloc_cb, web_read_cb) < 0)
        web_conn_close(c);
}

static void
web_server_closed_cb(uv_handle_t *h)
{
    (void)h;
    W.server_closing = false;
}

static void
web_server_close(void)
{
    if (!W.listening)
        return;
    W.listening = false;
    W.server_closing = true;
    uv_close((uv_handle_t *)&W.server, web_server_closed_cb);
}

/* accept(2) failed. Out of descriptors (libuv's reserve descriptor is spent too, or this
 * would not be called): free one by evicting, or else stop listening for WEB_PAUSE_MS,
 * since libuv would call accept again at once and spin. */
static void
web_accept_failed(int status)
{
    bool evicted;

    if (status != UV_EMFILE && status != UV_ENFILE) {
        web_warn(&W.warn_accept, "accept failed: %s", uv_strerror(status));
        return;
    }
    evicted = web_evict();
    web_warn(&W.warn_accept, "accept failed: %s; %s", uv_strerror(status),
             evicted ? "closed an idle connection" : "not accepting for 1 s");
    if (evicted)
        return;
    web_server_close();
    W.paused = true;
    W.resume_at = uv_now(W.loop) + WEB_PAUSE_MS;
}

static void
web_connection_cb(uv_stream_t *server, int status)
{
    bool refuse = false;

    if (status < 0) {
        web_accept_failed(status);
        return;
    }
    if (W.nlive >= W.max_conns && !web_evict()) {
        web_warn(&W.warn_conns, "%zu connections (the limit), all busy: refused a new one",
                 W.nlive);
        refuse = true;
    }
    web_conn_new(server, refuse);
}

/* Binds and listens on W.addr. Returns 0 or a libuv error (the handle is closed then). */
static int
web_listen(void)
{
    int rc;

    uv_tcp_init(W.loop, &W.server);
    W.listening = true;
    rc = uv_tcp_bind(&W.server, (struct sockaddr *)&W.addr, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&W.server, WEB_BACKLOG, web_connection_cb);
    if (rc < 0)
        web_server_close();
    return rc;
}

/* Listens again after a pause; a failure is retried after another. */
static void
web_resume(uint64_t now)
{
    int rc;

    if (!W.paused || W.closing || W.server_closing || now < W.resume_at)
        return;
    rc = web_listen();
    if (rc < 0) {
        web_warn(&W.warn_accept, "cannot listen again: %s", uv_strerror(rc));
        W.resume_at = now + WEB_PAUSE_MS;
        return;
    }
    W.paused = false;
    ff_log(FF_LOG_INFO, "web: accepting connections again");
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
        if (c->phase == WEB_READING && c->req.nread > 0)
            web_fail(c, 408, "request timeout", "incomplete after 10 s");
        else
            web_conn_close(c);
    }
    web_warn_flush(&W.warn_client, now);
    web_warn_flush(&W.warn_deny, now);
    web_warn_flush(&W.warn_conns, now);
    web_warn_flush(&W.warn_accept, now);
    web_resume(now);
}

/* WEB_MAX_CONNS, or half the descriptor limit if that is lower: accept must not run out of
 * descriptors before the cap makes room (master's own links need some too). */
static size_t
web_conn_limit(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY ||
        rl.rlim_cur / 2 >= WEB_MAX_CONNS)
        return WEB_MAX_CONNS;
    return rl.rlim_cur >= 2 ? (size_t)(rl.rlim_cur / 2) : 1;
}

int
web_start(uv_loop_t *loop, const char *host, int port, const ff_bearer_t *token, web_handler_cb cb,
          void *arg)
{
    int rc;

    memset(&W, 0, sizeof(W));
    W.loop = loop;
    W.cb = cb;
    W.arg = arg;
    W.token = *token;
    W.max_conns = web_conn_limit();
    W.warn_client = (web_limit_t){.what = "client errors"};
    W.warn_deny = (web_limit_t){.what = "401 answers"};
    W.warn_conns = (web_limit_t){.what = "connections closed or refused at the limit"};
    W.warn_accept = (web_limit_t){.what = "accept errors"};
    ff_list_init(&W.conns);
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&W.addr) != 0 &&
        uv_ip6_addr(host, port, (struct sockaddr_in6 *)&W.addr) != 0)
        return UV_EINVAL;
    rc = web_listen();
    if (rc < 0)
        return rc;
    uv_timer_init(loop, &W.sweep);
    uv_timer_start(&W.sweep, web_sweep_cb, WEB_SWEEP_MS, WEB_SWEEP_MS);
    if (W.max_conns < WEB_MAX_CONNS)
        ff_log(FF_LOG_WARN, "web: at most %zu connections (half the open-file limit)", W.max_conns);
    return 0;
}

enum http_method
web_req_method(const web_req_t *req)
{
    return (enum http_method)req->req.parser.method;
}

const char *
web_req_path(const web_req_t *req)
{
    return req->req.url;
}

bool
web_req_authorized(const web_req_t *req)
{
    return req->authorized;
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
web_deny(web_req_t *req)
{
    char peer[64];

    web_warn(&W.warn_deny, "401 for %s %s from %s: %s bearer token",
             http_method_str(req->req.parser.method), req->req.url,
             web_peer(req, peer, sizeof(peer)), req->req.auth_given ? "wrong" : "no");
    web_reply(req, 401,
              req->req.auth_given ? "WWW-Authenticate: Bearer error=\"invalid_token\"\r\n"
                                  : "WWW-Authenticate: Bearer\r\n",
              json_pack("{s:s}", "error", "unauthorized"));
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
    web_server_close();
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
