/* bus: frame codec and links (inbound, and outbound with reconnect) for the node bus. */
#include "bus.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "alloc.h"
#include "log.h"
#include "map.h"
#include "stream.h"

struct ff_link_s {
    ff_stream_t *s; /* the current connection, NULL while down */
    const ff_link_cbs_t *cbs;
    void *data;
    char *host; /* outbound only: where to reconnect */
    int port;
    int backoff_ms;
    bool up, inbound;
    uv_timer_t *retry;
    ff_map_t calls; /* seq -> call_t */
    uint32_t next_seq;
};

typedef struct {
    uv_timer_t timer;
    ff_link_t *link;
    uint32_t seq;
    ff_call_cb cb;
    void *arg;
} call_t;

static void link_connect(ff_link_t *l);

/* ---- encoding ---------------------------------------------------------------------- */

static size_t
frame_begin(ff_buf_t *b, uint32_t nfields, int kind)
{
    size_t at = b->len;
    ff_buf_put_be32(b, 0);
    ff_mp_put_array(b, nfields);
    ff_mp_put_uint(b, (uint64_t)kind);
    return at;
}

static void
frame_end(ff_buf_t *b, size_t at)
{
    uint32_t n = (uint32_t)(b->len - at - 4);
    uint8_t *p = b->data + at;
    p[0] = (uint8_t)(n >> 24);
    p[1] = (uint8_t)(n >> 16);
    p[2] = (uint8_t)(n >> 8);
    p[3] = (uint8_t)n;
}

void
ff_bus_put_hello(ff_buf_t *b, const char *name, const char *role, int pid, const uint32_t *cmds,
                 size_t ncmds)
{
    size_t at = frame_begin(b, 5, FF_BUS_HELLO);
    ff_mp_put_str(b, name, strlen(name));
    ff_mp_put_str(b, role, strlen(role));
    ff_mp_put_int(b, pid);
    ff_mp_put_array(b, (uint32_t)ncmds);
    for (size_t i = 0; i < ncmds; i++)
        ff_mp_put_uint(b, cmds[i]);
    frame_end(b, at);
}

void
ff_bus_put_call(ff_buf_t *b, uint32_t seq, const char *method, const char *args)
{
    size_t at = frame_begin(b, 4, FF_BUS_CALL);
    ff_mp_put_uint(b, seq);
    ff_mp_put_str(b, method, strlen(method));
    ff_mp_put_str(b, args, strlen(args));
    frame_end(b, at);
}

void
ff_bus_put_reply(ff_buf_t *b, uint32_t seq, int status, const char *result, size_t len)
{
    size_t at = frame_begin(b, 4, FF_BUS_REPLY);
    ff_mp_put_uint(b, seq);
    ff_mp_put_int(b, status);
    ff_mp_put_str(b, result, len);
    frame_end(b, at);
}

void
ff_bus_put_notify(ff_buf_t *b, const char *method, const char *args)
{
    size_t at = frame_begin(b, 3, FF_BUS_NOTIFY);
    ff_mp_put_str(b, method, strlen(method));
    ff_mp_put_str(b, args, strlen(args));
    frame_end(b, at);
}

void
ff_bus_put_request(ff_buf_t *b, uint64_t conn, uint32_t rseq, uint32_t cmd, const void *body,
                   size_t len)
{
    size_t at = frame_begin(b, 5, FF_BUS_REQUEST);
    ff_mp_put_uint(b, conn);
    ff_mp_put_uint(b, rseq);
    ff_mp_put_uint(b, cmd);
    ff_mp_put_bin(b, body, len);
    frame_end(b, at);
}

void
ff_bus_put_response(ff_buf_t *b, uint64_t conn, uint32_t rseq, int status, const void *body,
                    size_t len)
{
    size_t at = frame_begin(b, 5, FF_BUS_RESPONSE);
    ff_mp_put_uint(b, conn);
    ff_mp_put_uint(b, rseq);
    ff_mp_put_int(b, status);
    ff_mp_put_bin(b, body, len);
    frame_end(b, at);
}

void
ff_bus_put_push(ff_buf_t *b, const uint64_t *conns, size_t n, uint32_t cmd, const void *body,
                size_t len)
{
    size_t at = frame_begin(b, 4, FF_BUS_PUSH);
    ff_mp_put_array(b, (uint32_t)n);
    for (size_t i = 0; i < n; i++)
        ff_mp_put_uint(b, conns[i]);
    ff_mp_put_uint(b, cmd);
    ff_mp_put_bin(b, body, len);
    frame_end(b, at);
}

void
ff_bus_put_conn_lost(ff_buf_t *b, uint64_t conn)
{
    size_t at = frame_begin(b, 2, FF_BUS_CONN_LOST);
    ff_mp_put_uint(b, conn);
    frame_end(b, at);
}

void
ff_bus_put_session(ff_buf_t *b, uint64_t conn, bool bound)
{
    size_t at = frame_begin(b, 3, FF_BUS_SESSION);
    ff_mp_put_uint(b, conn);
    ff_mp_put_int(b, bound ? 1 : 0);
    frame_end(b, at);
}

void
ff_bus_put_error(ff_buf_t *b, uint64_t conn, uint32_t rseq, int code, const char *msg)
{
    json_t *j = json_pack("{s:{s:i,s:s}}", "error", "code", code, "message", msg);
    char *text = json_dumps(j, JSON_COMPACT);

    ff_bus_put_response(b, conn, rseq, FF_BUS_ERROR, text, strlen(text));
    free(text);
    json_decref(j);
}

/* ---- decoding ---------------------------------------------------------------------- */

bool
ff_str_eq(ff_str_t a, const char *s)
{
    return strlen(s) == a.len && memcmp(a.p, s, a.len) == 0;
}

static void
get_str(ff_mp_reader_t *r, ff_str_t *s)
{
    const uint8_t *p = NULL;
    ff_mp_get_bytes(r, &p, &s->len);
    s->p = (const char *)p;
}

static void
get_u32(ff_mp_reader_t *r, uint32_t *v)
{
    uint64_t u = 0;
    if (ff_mp_get_uint(r, &u) == 0 && u > UINT32_MAX)
        r->err = -1;
    *v = (uint32_t)u;
}

static void
get_i32(ff_mp_reader_t *r, int32_t *v)
{
    int64_t i = 0;
    if (ff_mp_get_int(r, &i) == 0 && (i < INT32_MIN || i > INT32_MAX))
        r->err = -1;
    *v = (int32_t)i;
}

/* Positions m->list at the first element of an array and skips over the array. */
static void
get_list(ff_mp_reader_t *r, ff_bus_msg_t *m)
{
    if (ff_mp_get_array(r, &m->nlist) < 0)
        return;
    m->list = *r;
    for (uint32_t i = 0; i < m->nlist && !r->err; i++)
        ff_mp_skip(r);
}

static void
decode_fields(ff_mp_reader_t *r, ff_bus_msg_t *m)
{
    switch (m->kind) {
    case FF_BUS_HELLO:
        get_str(r, &m->name);
        get_str(r, &m->role);
        ff_mp_get_int(r, &m->pid);
        get_list(r, m);
        break;
    case FF_BUS_CALL:
    case FF_BUS_REPLY:
        get_u32(r, &m->seq);
        if (m->kind == FF_BUS_CALL)
            get_str(r, &m->method);
        else
            get_i32(r, &m->status);
        ff_mp_get_bytes(r, &m->body, &m->body_len);
        break;
    case FF_BUS_NOTIFY:
        get_str(r, &m->method);
        ff_mp_get_bytes(r, &m->body, &m->body_len);
        break;
    case FF_BUS_REQUEST:
    case FF_BUS_RESPONSE:
        ff_mp_get_uint(r, &m->conn);
        get_u32(r, &m->seq);
        if (m->kind == FF_BUS_REQUEST)
            get_u32(r, &m->cmd);
        else
            get_i32(r, &m->status);
        ff_mp_get_bytes(r, &m->body, &m->body_len);
        break;
    case FF_BUS_PUSH:
        get_list(r, m);
        get_u32(r, &m->cmd);
        ff_mp_get_bytes(r, &m->body, &m->body_len);
        break;
    case FF_BUS_CONN_LOST:
    case FF_BUS_SESSION:
        ff_mp_get_uint(r, &m->conn);
        if (m->kind == FF_BUS_SESSION)
            get_i32(r, &m->status);
        break;
    default:
        r->err = -1;
    }
}

int
ff_bus_decode(const uint8_t *payload, size_t len, ff_bus_msg_t *m)
{
    ff_mp_reader_t r;
    uint32_t n;
    uint64_t kind;

    memset(m, 0, sizeof(*m));
    ff_mp_reader_init(&r, payload, len);
    if (ff_mp_get_array(&r, &n) < 0 || n < 1 || ff_mp_get_uint(&r, &kind) < 0 || kind > 64)
        return -1;
    m->kind = (int)kind;
    decode_fields(&r, m);
    return r.err;
}

/* ---- links ------------------------------------------------------------------------- */

static void
call_closed_cb(uv_handle_t *h)
{
    ff_free(h->data);
}

/* Completes a pending call (already removed from the map) with status. */
static void
call_finish(call_t *c, int status, const char *result, size_t len)
{
    uv_timer_stop(&c->timer);
    c->cb(c->arg, status, result, len);
    uv_close((uv_handle_t *)&c->timer, call_closed_cb);
}

static void
call_timeout_cb(uv_timer_t *t)
{
    call_t *c = t->data;
    ff_map_del(&c->link->calls, (uint64_t)c->seq + 1);
    call_finish(c, UV_ETIMEDOUT, NULL, 0);
}

static void
fail_calls(ff_link_t *l, int status)
{
    for (size_t i = 0; l->calls.slots && i <= l->calls.mask; i++)
        if (l->calls.slots[i].key)
            call_finish(l->calls.slots[i].value, status, NULL, 0);
    ff_map_clear(&l->calls);
}

int
ff_link_call(ff_link_t *l, const char *method, const char *args, int timeout_ms, ff_call_cb cb,
             void *arg)
{
    call_t *c;

    if (!l->up)
        return UV_ENOTCONN;
    c = ff_calloc(1, sizeof(*c));
    c->link = l;
    c->seq = l->next_seq++;
    c->cb = cb;
    c->arg = arg;
    c->timer.data = c;
    uv_timer_init(l->s->tcp.loop, &c->timer);
    uv_timer_start(&c->timer, call_timeout_cb, (uint64_t)timeout_ms, 0);
    ff_map_set(&l->calls, (uint64_t)c->seq + 1, c);
    ff_bus_put_call(ff_link_out(l), c->seq, method, args);
    return 0;
}

static void
handle_reply(ff_link_t *l, const ff_bus_msg_t *m)
{
    call_t *c = ff_map_del(&l->calls, (uint64_t)m->seq + 1);
    if (c != NULL)
        call_finish(c, m->status, (const char *)m->body, m->body_len);
}

static long
link_data_cb(ff_stream_t *s, const uint8_t *data, size_t len)
{
    ff_link_t *l = s->data;
    size_t used = 0;
    ff_bus_msg_t m;

    while (len - used >= 4 && !s->closing) {
        uint32_t n = ff_be32(data + used);
        if (n > FF_BUS_MAX_FRAME)
            return -1;
        if (len - used - 4 < n)
            break;
        if (ff_bus_decode(data + used + 4, n, &m) < 0)
            return -1;
        m.frame = data + used;
        m.frame_len = (size_t)n + 4;
        used += (size_t)n + 4;
        if (m.kind == FF_BUS_REPLY)
            handle_reply(l, &m);
        else if (l->cbs && l->cbs->on_msg)
            l->cbs->on_msg(l, &m);
    }
    return (long)used;
}

static void link_free_now(ff_link_t *l);

static void
retry_cb(uv_timer_t *t)
{
    link_connect(t->data);
}

static void
link_close_cb(ff_stream_t *s)
{
    ff_link_t *l = s->data;
    int status = s->status;

    ff_free(s);
    if (l == NULL)
        return; /* the link was freed while this stream was closing */
    l->s = NULL;
    if (l->up) {
        l->up = false;
        fail_calls(l, UV_ECONNRESET);
        if (l->cbs && l->cbs->on_down)
            l->cbs->on_down(l, status);
    }
    if (l->inbound) {
        link_free_now(l);
        return;
    }
    uv_timer_start(l->retry, retry_cb, (uint64_t)l->backoff_ms, 0);
    l->backoff_ms = l->backoff_ms * 2 > 2000 ? 2000 : l->backoff_ms * 2;
}

static void
link_became_up(ff_link_t *l)
{
    l->up = true;
    l->backoff_ms = 20;
    ff_stream_start(l->s);
    if (l->cbs && l->cbs->on_up)
        l->cbs->on_up(l);
}

static void
link_connected_cb(ff_stream_t *s, int status)
{
    if (status == 0)
        link_became_up(s->data);
}

static void
link_connect(ff_link_t *l)
{
    ff_stream_t *s = ff_malloc(sizeof(*s));

    ff_stream_init(l->retry->loop, s, link_data_cb, link_close_cb, l);
    l->s = s;
    if (ff_stream_connect(s, l->host, l->port, link_connected_cb) < 0)
        ff_stream_close(s, UV_EINVAL);
}

ff_link_t *
ff_link_connect(uv_loop_t *loop, const char *host, int port, const ff_link_cbs_t *cbs, void *data)
{
    ff_link_t *l = ff_calloc(1, sizeof(*l));

    l->cbs = cbs;
    l->data = data;
    l->host = ff_strdup(host);
    l->port = port;
    l->backoff_ms = 20;
    l->retry = ff_malloc(sizeof(*l->retry));
    uv_timer_init(loop, l->retry);
    l->retry->data = l;
    link_connect(l);
    return l;
}

static void
server_cb(uv_stream_t *server, int status)
{
    ff_accept_cb cb = (ff_accept_cb)(uintptr_t)((void **)server->data)[0];
    ff_link_t *l;

    if (status < 0)
        return;
    l = ff_calloc(1, sizeof(*l));
    l->inbound = true;
    l->s = ff_malloc(sizeof(*l->s));
    ff_stream_init(server->loop, l->s, link_data_cb, link_close_cb, l);
    if (uv_accept(server, (uv_stream_t *)&l->s->tcp) < 0) {
        ff_stream_close(l->s, UV_ECONNABORTED);
        return;
    }
    cb(l, ((void **)server->data)[1]);
    link_became_up(l);
}

int
ff_bus_listen(uv_loop_t *loop, uv_tcp_t *server, const char *host, int port, ff_accept_cb cb,
              void *arg)
{
    struct sockaddr_storage addr;
    void **ctx;
    int rc;

    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&addr) != 0 &&
        uv_ip6_addr(host, port, (struct sockaddr_in6 *)&addr) != 0)
        return UV_EINVAL;
    uv_tcp_init(loop, server);
    ctx = ff_malloc(2 * sizeof(void *));
    ctx[0] = (void *)(uintptr_t)cb;
    ctx[1] = arg;
    server->data = ctx;
    rc = uv_tcp_bind(server, (struct sockaddr *)&addr, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)server, 511, server_cb);
    return rc;
}

void
ff_link_set(ff_link_t *l, const ff_link_cbs_t *cbs, void *data)
{
    l->cbs = cbs;
    l->data = data;
}

void *
ff_link_data(const ff_link_t *l)
{
    return l->data;
}

bool
ff_link_up(const ff_link_t *l)
{
    return l->up;
}

ff_buf_t *
ff_link_out(ff_link_t *l)
{
    return l->up ? ff_stream_out(l->s) : NULL;
}

size_t
ff_link_pending(const ff_link_t *l)
{
    return l->s ? ff_stream_pending(l->s) : 0;
}

static void
retry_closed_cb(uv_handle_t *h)
{
    ff_free(h);
}

static void
link_free_now(ff_link_t *l)
{
    ff_map_clear(&l->calls);
    ff_free(l->host);
    ff_free(l);
}

void
ff_link_free(ff_link_t *l)
{
    if (l == NULL)
        return;
    l->cbs = NULL;
    fail_calls(l, UV_ECANCELED);
    if (l->retry != NULL)
        uv_close((uv_handle_t *)l->retry, retry_closed_cb);
    if (l->s != NULL) {
        l->s->data = NULL;
        ff_stream_close(l->s, 0);
    }
    link_free_now(l);
}
