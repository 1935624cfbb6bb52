/* load: closed-loop pipelined echo load on libuv. Every reply must carry the command and the
 * exact body of the oldest request outstanding on its connection (replies come back in
 * request order, DESIGN §4); anything else is an error. */
#include "load.h"

#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "alloc.h"

#define BENCH_READ_CHUNK 65536
#define BENCH_LOST_NS 1000000000ull /* outstanding at the end for longer = lost */

typedef struct bench_load_s bench_load_t;

typedef struct {
    uv_tcp_t tcp;
    uv_connect_t connect;
    bench_load_t *load;
    uint32_t id;
    uint64_t next_seq; /* sequence number of the next request */
    int outstanding;   /* requests sent and not answered: seqs next_seq - outstanding .. */
    uint64_t *sent_at; /* send time of seq s at sent_at[s % depth] */
    uint8_t *in;       /* received bytes not yet parsed */
    size_t in_len, in_cap;
    bool open;   /* connected and not failed */
    bool closed; /* uv_close was called */
} bench_conn_t;

struct bench_load_s {
    const bench_load_opts_t *o;
    bench_load_result_t *r;
    uv_loop_t loop;
    uv_timer_t timer;
    bench_conn_t *conns;
    uint64_t measure_from, measure_to; /* uv_hrtime() window */
    bool stopping;
};

typedef struct {
    uv_write_t req;
    uv_buf_t buf;
    bench_conn_t *conn;
} bench_write_t;

/* Counts an error and remembers the first one's text. */
static void
bench_load_error(bench_load_t *l, const char *what, int uv_err)
{
    l->r->errors++;
    if (l->r->first_error[0] == '\0')
        snprintf(l->r->first_error, sizeof(l->r->first_error), "%s%s%s", what, uv_err ? ": " : "",
                 uv_err ? uv_strerror(uv_err) : "");
}

/* The body of request `seq` on connection `id`. */
static void
bench_load_body(uint32_t id, uint64_t seq, uint8_t out[BENCH_LOAD_BODY])
{
    int i;

    for (i = 0; i < 4; i++)
        out[i] = (uint8_t)(id >> (24 - 8 * i));
    for (i = 0; i < 8; i++)
        out[4 + i] = (uint8_t)(seq >> (56 - 8 * i));
    memcpy(out + 12, "ffbn", 4);
}

static void
bench_conn_close(bench_conn_t *c)
{
    c->open = false;
    if (!c->closed) {
        c->closed = true;
        uv_close((uv_handle_t *)&c->tcp, NULL);
    }
}

static void
bench_conn_write_cb(uv_write_t *req, int status)
{
    bench_write_t *w = (bench_write_t *)req;

    if (status < 0 && status != UV_ECANCELED && !w->conn->load->stopping) {
        bench_load_error(w->conn->load, "write", status);
        bench_conn_close(w->conn);
    }
    ff_free(w);
}

/* Sends requests until `depth` are outstanding, all in one write. */
static void
bench_conn_fill(bench_conn_t *c)
{
    const size_t frame = FF_FRAME_HEADER + BENCH_LOAD_BODY;
    int n = c->load->o->depth - c->outstanding, i, rc;
    uint64_t now = uv_hrtime();
    bench_write_t *w;
    uint8_t *p;

    if (n <= 0 || !c->open || c->load->stopping)
        return;
    w = ff_malloc(sizeof(*w) + frame * (size_t)n);
    w->conn = c;
    p = (uint8_t *)(w + 1);
    w->buf = uv_buf_init((char *)p, (unsigned)(frame * (size_t)n));
    for (i = 0; i < n; i++, p += frame) {
        ff_frame_encode(&c->load->o->proto, c->load->o->cmd, BENCH_LOAD_BODY, p);
        bench_load_body(c->id, c->next_seq, p + FF_FRAME_HEADER);
        c->sent_at[c->next_seq % (uint64_t)c->load->o->depth] = now;
        c->next_seq++;
        c->outstanding++;
    }
    rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &w->buf, 1, bench_conn_write_cb);
    if (rc < 0) {
        ff_free(w);
        bench_load_error(c->load, "write", rc);
        bench_conn_close(c);
    }
}

/* Checks one reply against the oldest outstanding request and records its latency. */
static void
bench_conn_reply(bench_conn_t *c, const ff_frame_t *f, const uint8_t *body, uint64_t now)
{
    bench_load_t *l = c->load;
    uint64_t seq = c->next_seq - (uint64_t)c->outstanding, sent;
    uint8_t want[BENCH_LOAD_BODY];

    if (c->outstanding == 0) {
        bench_load_error(l, "reply without a request", 0);
        return;
    }
    sent = c->sent_at[seq % (uint64_t)l->o->depth];
    c->outstanding--;
    bench_load_body(c->id, seq, want);
    if (f->cmd != l->o->cmd || f->body_len != BENCH_LOAD_BODY ||
        memcmp(body, want, BENCH_LOAD_BODY) != 0) {
        bench_load_error(l, "reply does not match its request (command or body)", 0);
        return;
    }
    if (sent >= l->measure_from && now <= l->measure_to) {
        l->r->requests++;
        bench_hist_record(&l->r->hist, now - sent);
    }
}

/* Handles every complete frame in the input buffer. Returns 0, or -1 on a bad frame. */
static int
bench_conn_parse(bench_conn_t *c)
{
    uint64_t now = uv_hrtime();
    size_t off = 0;
    ff_frame_t f;
    long n;

    while ((n = ff_frame_decode(&c->load->o->proto, c->in + off, c->in_len - off, &f)) > 0 &&
           (size_t)n <= c->in_len - off) {
        bench_conn_reply(c, &f, c->in + off + FF_FRAME_HEADER, now);
        off += (size_t)n;
    }
    memmove(c->in, c->in + off, c->in_len - off);
    c->in_len -= off;
    return n < 0 ? -1 : 0;
}

static void
bench_conn_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    bench_conn_t *c = h->data;

    (void)suggested;
    if (c->in_cap - c->in_len < BENCH_READ_CHUNK) {
        c->in_cap = c->in_len + BENCH_READ_CHUNK;
        c->in = ff_realloc(c->in, c->in_cap);
    }
    *buf = uv_buf_init((char *)c->in + c->in_len, (unsigned)(c->in_cap - c->in_len));
}

static void
bench_conn_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    bench_conn_t *c = s->data;

    (void)buf;
    if (nread < 0) {
        bench_load_error(c->load, nread == UV_EOF ? "the server closed a connection" : "read",
                         nread == UV_EOF ? 0 : (int)nread);
        bench_conn_close(c);
        return;
    }
    c->in_len += (size_t)nread;
    if (bench_conn_parse(c) < 0) {
        bench_load_error(c->load, "malformed frame from the server", 0);
        bench_conn_close(c);
        return;
    }
    bench_conn_fill(c);
}

static void
bench_conn_connect_cb(uv_connect_t *req, int status)
{
    bench_conn_t *c = req->data;
    int rc;

    if (status == UV_ECANCELED)
        return;
    if (status < 0) {
        bench_load_error(c->load, "connect", status);
        bench_conn_close(c);
        return;
    }
    c->open = true;
    uv_tcp_nodelay(&c->tcp, 1);
    rc = uv_read_start((uv_stream_t *)&c->tcp, bench_conn_alloc_cb, bench_conn_read_cb);
    if (rc < 0) {
        bench_load_error(c->load, "read", rc);
        bench_conn_close(c);
        return;
    }
    bench_conn_fill(c);
}

/* Counts requests outstanding for more than BENCH_LOST_NS as lost. */
static void
bench_conn_count_lost(bench_conn_t *c, uint64_t now)
{
    int depth = c->load->o->depth, i;
    uint64_t seq = c->next_seq - (uint64_t)c->outstanding;

    for (i = 0; i < c->outstanding; i++, seq++)
        if (now - c->sent_at[seq % (uint64_t)depth] > BENCH_LOST_NS)
            bench_load_error(c->load, "request without a reply for over 1 s", 0);
}

static void
bench_load_end_cb(uv_timer_t *t)
{
    bench_load_t *l = t->data;
    uint64_t now = uv_hrtime();
    int i;

    l->stopping = true;
    for (i = 0; i < l->o->conns; i++) {
        if (l->conns[i].open)
            bench_conn_count_lost(&l->conns[i], now);
        bench_conn_close(&l->conns[i]);
    }
    uv_close((uv_handle_t *)t, NULL);
}

/* Resolves host:port. Returns 0 or a UV_E* code. */
static int
bench_load_resolve(const bench_load_opts_t *o, struct sockaddr_storage *sa)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
    char port[16];

    snprintf(port, sizeof(port), "%d", o->port);
    if (getaddrinfo(o->host, port, &hints, &res) != 0)
        return UV_EAI_NONAME;
    memcpy(sa, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return 0;
}

/* Starts connecting every connection. */
static void
bench_load_connect_all(bench_load_t *l, const struct sockaddr *sa)
{
    bench_conn_t *c;
    int i, rc;

    for (i = 0; i < l->o->conns; i++) {
        c = &l->conns[i];
        c->load = l;
        c->id = (uint32_t)i;
        c->sent_at = ff_calloc((size_t)l->o->depth, sizeof(uint64_t));
        uv_tcp_init(&l->loop, &c->tcp);
        c->tcp.data = c;
        c->connect.data = c;
        rc = uv_tcp_connect(&c->connect, &c->tcp, sa, bench_conn_connect_cb);
        if (rc < 0) {
            bench_load_error(l, "connect", rc);
            bench_conn_close(c);
        }
    }
}

int
bench_load_run(const bench_load_opts_t *o, bench_load_result_t *r)
{
    bench_load_t l = {.o = o, .r = r};
    struct sockaddr_storage sa;
    uint64_t start;
    int rc, i;

    memset(r, 0, sizeof(*r));
    if ((rc = bench_load_resolve(o, &sa)) < 0) {
        snprintf(r->first_error, sizeof(r->first_error), "%s: unknown host", o->host);
        return rc;
    }
    if ((rc = uv_loop_init(&l.loop)) < 0)
        return rc;
    l.conns = ff_calloc((size_t)o->conns, sizeof(bench_conn_t));
    start = uv_hrtime();
    l.measure_from = start + (uint64_t)(o->warmup_s * 1e9);
    l.measure_to = l.measure_from + (uint64_t)(o->duration_s * 1e9);
    r->seconds = o->duration_s;
    uv_timer_init(&l.loop, &l.timer);
    l.timer.data = &l;
    uv_timer_start(&l.timer, bench_load_end_cb, (uint64_t)((o->warmup_s + o->duration_s) * 1e3), 0);
    bench_load_connect_all(&l, (struct sockaddr *)&sa);
    uv_run(&l.loop, UV_RUN_DEFAULT);
    for (i = 0; i < o->conns; i++) {
        ff_free(l.conns[i].sent_at);
        ff_free(l.conns[i].in);
    }
    ff_free(l.conns);
    uv_loop_close(&l.loop);
    return 0;
}
