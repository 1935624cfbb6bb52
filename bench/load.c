/* load: closed-loop pipelined or paced open-loop echo load on libuv. Every reply must carry
 * the command and the exact body of the oldest request outstanding on its connection (replies
 * come back in request order, DESIGN §4); anything else is an error. The paced schedule runs
 * off a periodic timerfd (Linux) because uv_timer_t only has millisecond resolution, which
 * would add up to 1 ms of the client's own lateness to every measured latency. */
#include "load.h"

#include <errno.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include <uv.h>

#include "alloc.h"

#define BENCH_READ_CHUNK 65536
#define BENCH_LOST_NS 1000000000ull /* outstanding at the end for longer = lost */
/* Paced: the client wakes at most every 50 us to send what has come due, so a request may
 * wait that long in the client, which its latency (taken from its due time) includes.
 * Re-arming a one-shot timer per request instead cost the client a quarter of its CPU. */
#define BENCH_PACE_TICK_NS 50000u

typedef struct bench_load_s bench_load_t;

typedef struct {
    uv_tcp_t tcp;
    uv_connect_t connect;
    bench_load_t *load;
    uint32_t id;
    uint64_t next_seq; /* sequence number of the next request */
    int outstanding;   /* requests sent and not answered: seqs next_seq - outstanding .. */
    uint64_t due;      /* paced: requests whose scheduled time has come; seqs 0 .. due - 1 */
    uint64_t *sent_at; /* send (paced: scheduled) time of seq s at sent_at[s % depth] */
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
    /* Paced: global slot j is sequence j / conns of connection j % conns, due at
     * t0 + j * period_ns; slots from stop_slot on (due at measure_to or later) are not sent.
     * The timerfd fires every tick_ns, a multiple of period_ns, so ticks fall on slots. */
    uv_poll_t pace;
    int pace_fd; /* the periodic timerfd, or -1 */
    uint64_t t0, next_slot, stop_slot;
    uint64_t period_ns, tick_ns;
    uint64_t unanswered; /* slots come due and not answered */
};

typedef struct {
    uv_write_t req;
    uv_buf_t buf;
    bench_conn_t *conn;
} bench_write_t;

static void bench_load_end_if_drained(bench_load_t *l);

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

/* Paced: when global slot j is due. */
static uint64_t
bench_load_slot_at(const bench_load_t *l, uint64_t j)
{
    return l->t0 + j * l->period_ns;
}

/* Paced: when sequence `seq` of connection c is due to leave. */
static uint64_t
bench_conn_due_at(const bench_conn_t *c, uint64_t seq)
{
    return bench_load_slot_at(c->load, seq * (uint64_t)c->load->o->conns + c->id);
}

/* Sends requests until `depth` are outstanding (paced: or none is due), all in one write.
 * A request records when it left or, paced, when it was due to leave. */
static void
bench_conn_fill(bench_conn_t *c)
{
    const size_t frame = FF_FRAME_HEADER + BENCH_LOAD_BODY;
    const bool paced = c->load->o->rate > 0;
    int n = c->load->o->depth - c->outstanding, i, rc;
    uint64_t now = uv_hrtime();
    bench_write_t *w;
    uint8_t *p;

    if (paced && c->due - c->next_seq < (uint64_t)n)
        n = (int)(c->due - c->next_seq);
    if (n <= 0 || !c->open || c->load->stopping)
        return;
    w = ff_malloc(sizeof(*w) + frame * (size_t)n);
    w->conn = c;
    p = (uint8_t *)(w + 1);
    w->buf = uv_buf_init((char *)p, (unsigned)(frame * (size_t)n));
    for (i = 0; i < n; i++, p += frame) {
        ff_frame_encode(&c->load->o->proto, c->load->o->cmd, BENCH_LOAD_BODY, p);
        bench_load_body(c->id, c->next_seq, p + FF_FRAME_HEADER);
        c->sent_at[c->next_seq % (uint64_t)c->load->o->depth] =
            paced ? bench_conn_due_at(c, c->next_seq) : now;
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
    if (l->o->rate > 0)
        l->unanswered--;
    bench_load_body(c->id, seq, want);
    if (f->cmd != l->o->cmd || f->body_len != BENCH_LOAD_BODY ||
        memcmp(body, want, BENCH_LOAD_BODY) != 0) {
        bench_load_error(l, "reply does not match its request (command or body)", 0);
        return;
    }
    if (now >= l->measure_from && now <= l->measure_to)
        l->r->completed++;
    /* Paced requests count by when they were due, however late the reply, so that a stall
     * at the end of the window is not left out. */
    if (sent >= l->measure_from && (l->o->rate > 0 ? sent < l->measure_to : now <= l->measure_to)) {
        l->r->requests++;
        ff_hist_record(&l->r->hist, now - sent);
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
    bench_load_end_if_drained(c->load);
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

/* Counts requests outstanding for more than BENCH_LOST_NS as lost, and paced requests
 * that were due that long ago and never left because the previous one had no reply. */
static void
bench_conn_count_lost(bench_conn_t *c, uint64_t now)
{
    int depth = c->load->o->depth, i;
    uint64_t seq = c->next_seq - (uint64_t)c->outstanding;

    for (i = 0; i < c->outstanding; i++, seq++)
        if (now - c->sent_at[seq % (uint64_t)depth] > BENCH_LOST_NS)
            bench_load_error(c->load, "request without a reply for over 1 s", 0);
    for (seq = c->next_seq; c->load->o->rate > 0 && seq < c->due; seq++)
        if (now - bench_conn_due_at(c, seq) > BENCH_LOST_NS)
            bench_load_error(c->load,
                             "request not sent for over 1 s (the previous one is unanswered)", 0);
}

/* Ends the run: counts what was lost and closes every handle, so uv_run returns. */
static void
bench_load_end(bench_load_t *l)
{
    uint64_t now = uv_hrtime();
    int i;

    if (l->stopping)
        return;
    l->stopping = true;
    for (i = 0; i < l->o->conns; i++) {
        if (l->conns[i].open)
            bench_conn_count_lost(&l->conns[i], now);
        bench_conn_close(&l->conns[i]);
    }
    uv_close((uv_handle_t *)&l->timer, NULL);
    if (l->pace_fd >= 0)
        uv_close((uv_handle_t *)&l->pace, NULL);
}

static void
bench_load_end_cb(uv_timer_t *t)
{
    bench_load_end(t->data);
}

/* Paced: ends the run early once the schedule is over and every request has its reply. */
static void
bench_load_end_if_drained(bench_load_t *l)
{
    if (l->o->rate > 0 && l->next_slot >= l->stop_slot && l->unanswered == 0)
        bench_load_end(l);
}

/* Paced: arms the timerfd to fire at uv_hrtime() value t (both run on CLOCK_MONOTONIC) and
 * every tick_ns after that; t == 0 disarms it. Returns 0 or a negative errno. */
static int
bench_load_pace_arm(bench_load_t *l, uint64_t t)
{
    struct itimerspec its = {
        .it_value = {.tv_sec = (time_t)(t / 1000000000u), .tv_nsec = (long)(t % 1000000000u)},
        .it_interval = {.tv_sec = (time_t)(l->tick_ns / 1000000000u),
                        .tv_nsec = (long)(l->tick_ns % 1000000000u)}};

    return timerfd_settime(l->pace_fd, TFD_TIMER_ABSTIME, &its, NULL) < 0 ? -errno : 0;
}

/* Paced: hands every slot now due to its connection, which sends at once if it has room. */
static void
bench_load_pace_cb(uv_poll_t *h, int status, int events)
{
    bench_load_t *l = h->data;
    uint64_t expirations, now;
    bench_conn_t *c;

    (void)events;
    if (status < 0) {
        bench_load_error(l, "timerfd poll", status);
        bench_load_end(l);
        return;
    }
    /* Only clears the readiness; the count is not needed as slots are read off the clock. */
    if (read(l->pace_fd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN) {
        bench_load_error(l, "timerfd read", -errno);
        bench_load_end(l);
        return;
    }
    now = uv_hrtime();
    for (; l->next_slot < l->stop_slot && bench_load_slot_at(l, l->next_slot) <= now;
         l->next_slot++) {
        c = &l->conns[l->next_slot % (uint64_t)l->o->conns];
        c->due++;
        l->unanswered++;
        bench_conn_fill(c);
    }
    if (l->next_slot < l->stop_slot)
        return;
    uv_poll_stop(h);
    bench_load_pace_arm(l, 0);
    bench_load_end_if_drained(l);
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

/* Paced: sets up the schedule from l->t0 to l->measure_to and its timerfd, first slot due at
 * once. Returns 0 or a negative errno (message in first_error). */
static int
bench_load_pace_start(bench_load_t *l)
{
    int rc;

    /* A whole number of nanoseconds keeps ticks on slots; the rate moves by under 1e-4. */
    l->period_ns = (uint64_t)(1e9 / l->o->rate + 0.5);
    l->tick_ns = (BENCH_PACE_TICK_NS + l->period_ns - 1) / l->period_ns * l->period_ns;
    l->stop_slot = (l->measure_to - l->t0 + l->period_ns - 1) / l->period_ns;
    if ((l->pace_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)) < 0) {
        rc = -errno;
        snprintf(l->r->first_error, sizeof(l->r->first_error), "timerfd_create: %s",
                 uv_strerror(rc));
        return rc;
    }
    if ((rc = bench_load_pace_arm(l, l->t0)) < 0 ||
        (rc = uv_poll_init(&l->loop, &l->pace, l->pace_fd)) < 0) {
        snprintf(l->r->first_error, sizeof(l->r->first_error), "timerfd: %s", uv_strerror(rc));
        close(l->pace_fd);
        l->pace_fd = -1;
        return rc;
    }
    l->pace.data = l;
    uv_poll_start(&l->pace, UV_READABLE, bench_load_pace_cb);
    return 0;
}

int
bench_load_run(const bench_load_opts_t *o, bench_load_result_t *r)
{
    bench_load_t l = {.o = o, .r = r, .pace_fd = -1};
    struct sockaddr_storage sa;
    uint64_t start;
    double end_s = o->warmup_s + o->duration_s;
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
    l.t0 = start;
    if (o->rate > 0 && (rc = bench_load_pace_start(&l)) < 0) {
        ff_free(l.conns);
        uv_loop_close(&l.loop);
        return rc;
    }
    /* Paced runs stop once drained; this deadline leaves requests due at the very end of the
     * window time to be counted as lost rather than cut off. */
    if (o->rate > 0)
        end_s += BENCH_LOST_NS / 1e9 + 0.1;
    uv_timer_init(&l.loop, &l.timer);
    l.timer.data = &l;
    uv_timer_start(&l.timer, bench_load_end_cb, (uint64_t)(end_s * 1e3), 0);
    bench_load_connect_all(&l, (struct sockaddr *)&sa);
    uv_run(&l.loop, UV_RUN_DEFAULT);
    for (i = 0; i < o->conns; i++) {
        ff_free(l.conns[i].sent_at);
        ff_free(l.conns[i].in);
    }
    ff_free(l.conns);
    if (l.pace_fd >= 0)
        close(l.pace_fd);
    uv_loop_close(&l.loop);
    return 0;
}
