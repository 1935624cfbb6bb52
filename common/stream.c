/* stream: buffered libuv TCP streams whose writes are batched per loop turn. */
#include "stream.h"

#include <stdio.h>

#include "alloc.h"

#define READ_CHUNK 65536
/* A buffer left empty with more room than this is freed: a burst (a client pipelining
 * megabytes through a link) must not pin its peak size for the life of a long-lived link. */
#define KEEP_BYTES (256 * 1024)

static ff_list_t dirty_streams;
static uv_prepare_t flush_prepare;
static uv_check_t flush_check;

static void flush_one(ff_stream_t *s);

static void
buf_shrink(ff_buf_t *b)
{
    if (b->len == 0 && b->cap > KEEP_BYTES)
        ff_buf_free(b);
}

static void
flush_cb(void *handle)
{
    (void)handle;
    ff_stream_flush_all();
}

static void
prepare_cb(uv_prepare_t *h)
{
    flush_cb(h);
}

static void
check_cb(uv_check_t *h)
{
    flush_cb(h);
}

void
ff_stream_loop_init(uv_loop_t *loop)
{
    ff_list_init(&dirty_streams);
    uv_prepare_init(loop, &flush_prepare);
    uv_prepare_start(&flush_prepare, prepare_cb);
    uv_unref((uv_handle_t *)&flush_prepare);
    uv_check_init(loop, &flush_check);
    uv_check_start(&flush_check, check_cb);
    uv_unref((uv_handle_t *)&flush_check);
}

void
ff_stream_flush_all(void)
{
    while (!ff_list_empty(&dirty_streams)) {
        ff_list_t *n = dirty_streams.next;
        ff_list_remove(n);
        flush_one(ff_container_of(n, ff_stream_t, dirty));
    }
}

int
ff_stream_init(uv_loop_t *loop, ff_stream_t *s, ff_stream_data_cb on_data,
               ff_stream_close_cb on_close, void *data)
{
    memset(s, 0, sizeof(*s));
    ff_list_init(&s->dirty);
    s->on_data = on_data;
    s->on_close = on_close;
    s->data = data;
    s->tcp.data = s;
    return uv_tcp_init(loop, &s->tcp);
}

static void
alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    ff_stream_t *s = h->data;

    (void)hint;
    if (s->in_max > 0) {
        /* Only what may still be held: an empty buffer makes libuv report UV_ENOBUFS. */
        size_t room = s->in_max > s->in.len ? s->in_max - s->in.len : 0;
        ff_buf_reserve(&s->in, room > 0 ? room : 1);
        buf->base = (char *)s->in.data + s->in.len;
        buf->len = room;
        return;
    }
    if (s->in.cap - s->in.len < READ_CHUNK / 4)
        ff_buf_reserve(&s->in, READ_CHUNK);
    buf->base = (char *)s->in.data + s->in.len;
    buf->len = s->in.cap - s->in.len;
}

/* Hands buffered input to on_data until it stops consuming or the stream pauses. */
static void
process_input(ff_stream_t *s)
{
    long used;

    if (s->in.len == 0 || s->in_data || s->closing)
        return;
    s->in_data = 1;
    used = s->on_data(s, s->in.data, s->in.len);
    s->in_data = 0;
    if (s->closing)
        return;
    if (used < 0) {
        ff_stream_close(s, UV_EPROTO);
        return;
    }
    ff_buf_consume(&s->in, (size_t)used);
    buf_shrink(&s->in);
}

static void
read_cb(uv_stream_t *h, ssize_t nread, const uv_buf_t *buf)
{
    ff_stream_t *s = h->data;

    (void)buf;
    if (nread == UV_EOF && s->on_eof != NULL) {
        /* A half-close: the owner decides when the stream closes. */
        uv_read_stop(h);
        s->eof = 1;
        s->on_eof(s);
        return;
    }
    if (nread < 0) {
        ff_stream_close(s, (int)nread);
        return;
    }
    s->in.len += (size_t)nread;
    process_input(s);
}

int
ff_stream_start(ff_stream_t *s)
{
    uv_tcp_nodelay(&s->tcp, 1);
    return uv_read_start((uv_stream_t *)&s->tcp, alloc_cb, read_cb);
}

static void
connect_cb(uv_connect_t *req, int status)
{
    ff_stream_t *s = req->data;

    if (status == UV_ECANCELED)
        return;
    s->on_connect(s, status);
    if (status < 0)
        ff_stream_close(s, status);
}

int
ff_stream_connect(ff_stream_t *s, const char *host, int port, ff_stream_connect_cb cb)
{
    struct sockaddr_storage addr;

    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&addr) != 0 &&
        uv_ip6_addr(host, port, (struct sockaddr_in6 *)&addr) != 0)
        return UV_EINVAL;
    s->on_connect = cb;
    s->creq.data = s;
    return uv_tcp_connect(&s->creq, &s->tcp, (struct sockaddr *)&addr, connect_cb);
}

ff_buf_t *
ff_stream_out(ff_stream_t *s)
{
    if (ff_list_empty(&s->dirty) && !s->closing)
        ff_list_push(&dirty_streams, &s->dirty);
    return &s->out;
}

size_t
ff_stream_pending(const ff_stream_t *s)
{
    return s->out.len + s->wbuf.len;
}

static void
write_cb(uv_write_t *req, int status)
{
    ff_stream_t *s = req->data;

    s->writing = 0;
    s->wbuf.len = 0;
    buf_shrink(&s->wbuf);
    if (s->closing)
        return;
    if (status < 0) {
        ff_stream_close(s, status);
        return;
    }
    if (s->out.len > 0)
        flush_one(s);
    else if (s->drain_close)
        ff_stream_close(s, 0);
}

static void
flush_one(ff_stream_t *s)
{
    ff_buf_t tmp;
    uv_buf_t b;
    int n;

    if (s->writing || s->closing || s->out.len == 0)
        return;
    b = uv_buf_init((char *)s->out.data, (unsigned)s->out.len);
    n = uv_try_write((uv_stream_t *)&s->tcp, &b, 1);
    if (n == (int)s->out.len) {
        s->out.len = 0;
        buf_shrink(&s->out);
        if (s->drain_close)
            ff_stream_close(s, 0);
        return;
    }
    if (n < 0 && n != UV_EAGAIN) {
        ff_stream_close(s, n);
        return;
    }
    if (n < 0)
        n = 0;
    /* Swap so that new frames keep accumulating in `out` while `wbuf` is being written. */
    tmp = s->wbuf;
    s->wbuf = s->out;
    s->out = tmp;
    s->out.len = 0;
    b = uv_buf_init((char *)s->wbuf.data + n, (unsigned)(s->wbuf.len - (size_t)n));
    s->wreq.data = s;
    s->writing = 1;
    n = uv_write(&s->wreq, (uv_stream_t *)&s->tcp, &b, 1, write_cb);
    if (n < 0) {
        s->writing = 0;
        ff_stream_close(s, n);
    }
}

void
ff_stream_pause(ff_stream_t *s)
{
    if (!s->paused && !s->closing && !s->eof)
        uv_read_stop((uv_stream_t *)&s->tcp);
    s->paused = 1;
}

void
ff_stream_resume(ff_stream_t *s)
{
    if (!s->paused || s->closing)
        return;
    s->paused = 0;
    process_input(s);
    if (!s->paused && !s->closing && !s->eof)
        uv_read_start((uv_stream_t *)&s->tcp, alloc_cb, read_cb);
}

static void
close_cb(uv_handle_t *h)
{
    ff_stream_t *s = h->data;

    ff_buf_free(&s->in);
    ff_buf_free(&s->out);
    ff_buf_free(&s->wbuf);
    s->on_close(s);
}

void
ff_stream_close(ff_stream_t *s, int status)
{
    if (s->closing)
        return;
    s->closing = 1;
    s->status = status;
    ff_list_remove(&s->dirty);
    uv_close((uv_handle_t *)&s->tcp, close_cb);
}

void
ff_stream_close_drained(ff_stream_t *s)
{
    if (s->closing)
        return;
    ff_stream_pause(s);
    s->drain_close = 1;
    if (ff_stream_pending(s) == 0)
        ff_stream_close(s, 0);
    else
        ff_stream_out(s);
}
