/* conn: client connections of net: frame decoding, forwarding to gate, replies in request
 * order through a per-connection ring of slots, pushes, and the per-client limits, the flood
 * guards among them (a token bucket per connection, a count of connections per address). */
#include "conn.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <time.h>

#include "alloc.h"
#include "bus.h"
#include "frame.h"
#include "gatelink.h"
#include "iplimit.h"
#include "list.h"
#include "log.h"
#include "map.h"
#include "node.h"
#include "stream.h"

#define SLOTS_INITIAL 8
/* A slot keeps the buffer of its last out-of-order reply for reuse, up to this size. */
#define SLOT_KEEP_BYTES 16384
#define COUNTER_MASK ((UINT64_C(1) << 48) - 1)
/* One request in the token bucket's units. The bucket counts thousandths of a request, so
 * that a refill of maxRequestsPerSecond per second is an exact integer per millisecond. */
#define TOKEN 1000
/* Connections refused over maxConnectionsPerIp are reported at most this often. */
#define REFUSED_REPORT_MS 1000

enum { SLOT_FREE, SLOT_PENDING, SLOT_DONE };

typedef struct {
    uint32_t cmd;   /* the request's command id, which its reply carries */
    uint8_t state;  /* SLOT_* */
    ff_buf_t frame; /* SLOT_DONE: the encoded client frame, empty for "no reply" */
} net_slot_t;

typedef struct {
    ff_stream_t stream;
    uint64_t id;
    ff_list_t node;   /* in `conns`, least recently active first */
    uint64_t last_ms; /* loop time of the last received bytes */
    net_slot_t *slots;
    uint32_t cap;       /* ring size: 0 or a power of two */
    uint32_t head;      /* oldest rseq whose reply is not written yet */
    uint32_t next_rseq; /* next_rseq - head = requests in flight */
    uint32_t tokens;    /* maxRequestsPerSecond: request credit, in TOKEN units */
    uint64_t bucket_ms; /* loop time when `tokens` was last refilled */
    net_ip_t ip;        /* the client's address, counted in `ips` while open */
    bool open;          /* in the map and the list; cleared once the loss is handled */
} net_conn_t;

static struct {
    ff_frame_proto_t proto;
    uint32_t max_pipeline;
    uint32_t max_output;
    uint64_t idle_ms; /* 0 = never */
    uint32_t rate;    /* maxRequestsPerSecond; 0 = off */
    uint32_t per_ip;  /* maxConnectionsPerIp; 0 = off */
    uint16_t net_id;
} lim;

/* Connections refused over maxConnectionsPerIp: not yet reported, and since start. */
static struct {
    uint64_t unreported, total;
    uint64_t last_ms; /* loop time of the last report; 0 = none yet */
    uint32_t limit;   /* maxConnectionsPerIp when the latest was refused */
    net_ip_t ip;      /* the latest refused client's address */
} refused;

static ff_map_t conns_by_id;
static net_iplimit_t *ips; /* open connections per client address, counted even when off */
static ff_list_t conns = {&conns, &conns};
static size_t nlive; /* allocated connections: open, or closing until their close_cb */
static uint64_t id_counter;
static uint64_t total_requests, total_pending, total_over_rate;
static bool draining;
static void (*drained_cb)(void);

static void conn_after_complete(net_conn_t *c);

/* A random key for the per-address table's hash; the clock and pid if none is to be had. */
static uint64_t
conn_hash_seed(void)
{
    struct timespec ts;
    uint64_t seed;

    if (uv_random(NULL, NULL, &seed, sizeof(seed), 0, NULL) == 0)
        return seed;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_nsec << 32 ^ (uint64_t)ts.tv_sec ^ (uint64_t)uv_os_getpid();
}

void
net_conn_configure(const ff_conf_t *conf, const char *node_name)
{
    memcpy(lim.proto.magic, conf->netconnect.magic, sizeof(lim.proto.magic));
    lim.proto.proto_version = conf->netconnect.proto_version;
    lim.proto.server_version = conf->netconnect.server_version;
    lim.proto.max_packet = conf->netconnect.max_packet;
    lim.max_pipeline = (uint32_t)conf->cluster.max_pipeline;
    lim.max_output = conf->cluster.max_output;
    lim.idle_ms = (uint64_t)conf->cluster.idle_timeout_s * 1000;
    lim.rate = (uint32_t)conf->netconnect.max_requests_per_s;
    lim.per_ip = (uint32_t)conf->netconnect.max_conns_per_ip;
    lim.net_id = ff_conf_net_id(node_name);
    if (ips == NULL)
        ips = net_iplimit_new(conn_hash_seed());
}

/* The next conn id: the net id in the top 16 bits, then a 48-bit counter seeded with the
 * wall clock in microseconds, so that ids stay unique across restarts of this node. */
static uint64_t
conn_next_id(void)
{
    struct timespec ts;
    uint64_t id;

    if (id_counter == 0) {
        clock_gettime(CLOCK_REALTIME, &ts);
        id_counter = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
    }
    do
        id = (uint64_t)lim.net_id << 48 | (id_counter++ & COUNTER_MASK);
    while (id == 0); /* 0 is the map's empty key */
    return id;
}

/* Formats the client's address as "ip:port" ("[ip]:port" for IPv6) into buf. */
static const char *
conn_peer(const net_conn_t *c, char *buf, size_t size)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    char ip[INET6_ADDRSTRLEN] = "?";
    int port = 0;

    if (uv_tcp_getpeername(&c->stream.tcp, (struct sockaddr *)&ss, &len) != 0)
        return "unknown peer";
    if (ss.ss_family == AF_INET6) {
        uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof(ip));
        port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        snprintf(buf, size, "[%s]:%d", ip, port);
    } else {
        uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof(ip));
        port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        snprintf(buf, size, "%s:%d", ip, port);
    }
    return buf;
}

static void
conn_free_slots(net_conn_t *c)
{
    for (uint32_t i = 0; i < c->cap; i++)
        ff_buf_free(&c->slots[i].frame);
    ff_free(c->slots);
    c->slots = NULL;
    c->cap = 0;
}

/* Handles the loss of a connection once (whoever closed it): forgets it, drops its
 * pending requests and tells gate. */
static void
conn_lost(net_conn_t *c)
{
    ff_buf_t *out;

    if (!c->open)
        return;
    c->open = false;
    ff_map_del(&conns_by_id, c->id);
    ff_list_remove(&c->node);
    net_iplimit_release(ips, &c->ip);
    total_pending -= c->next_rseq - c->head;
    c->head = c->next_rseq;
    conn_free_slots(c);
    out = net_gate_out();
    if (out != NULL)
        ff_bus_put_conn_lost(out, c->id);
}

/* Closes a connection now, dropping unsent output. */
static void
conn_close(net_conn_t *c, int status)
{
    conn_lost(c);
    ff_stream_close(&c->stream, status);
}

static void
conn_close_cb(ff_stream_t *s)
{
    net_conn_t *c = s->data;

    if (c->open)
        ff_log(FF_LOG_DEBUG, "conn %" PRIu64 ": closed (%s)", c->id,
               s->status ? uv_strerror(s->status) : "by net");
    conn_lost(c);
    ff_free(c);
    nlive--;
    if (draining && nlive == 0 && drained_cb != NULL)
        drained_cb();
}

/* Appends one client frame to the connection's output. */
static void
conn_write(net_conn_t *c, uint32_t cmd, const uint8_t *body, size_t len)
{
    ff_buf_t *out = ff_stream_out(&c->stream);

    ff_buf_reserve(out, FF_FRAME_HEADER + len);
    ff_frame_encode(&lim.proto, cmd, (uint32_t)len, out->data + out->len);
    if (len > 0)
        memcpy(out->data + out->len + FF_FRAME_HEADER, body, len);
    out->len += FF_FRAME_HEADER + len;
}

/* Closes a slow reader whose unsent output went over maxOutputBuffer. Returns true when
 * it did. */
static bool
conn_output_over(net_conn_t *c)
{
    size_t pending = ff_stream_pending(&c->stream);
    char peer[64];

    if (pending <= lim.max_output)
        return false;
    ff_log(FF_LOG_WARN,
           "conn %" PRIu64 " (%s): %zu bytes of output not taken by the client "
           "(maxOutputBuffer %" PRIu32 "); closing",
           c->id, conn_peer(c, peer, sizeof(peer)), pending, lim.max_output);
    conn_close(c, UV_ENOBUFS);
    return true;
}

static void
conn_slot_reset(net_slot_t *sl)
{
    sl->state = SLOT_FREE;
    sl->frame.len = 0;
    if (sl->frame.cap > SLOT_KEEP_BYTES)
        ff_buf_free(&sl->frame);
}

/* Writes the replies that are complete from the head of the ring onwards. */
static void
conn_write_ready(net_conn_t *c)
{
    while (c->head != c->next_rseq) {
        net_slot_t *sl = &c->slots[c->head & (c->cap - 1)];
        if (sl->state != SLOT_DONE)
            break;
        if (sl->frame.len > 0)
            ff_buf_put(ff_stream_out(&c->stream), sl->frame.data, sl->frame.len);
        conn_slot_reset(sl);
        c->head++;
        total_pending--;
    }
}

/* Completes pending request rseq. The head's reply goes straight to the output, with any
 * replies queued behind it; a later one waits in its slot, encoded. */
static void
conn_complete(net_conn_t *c, uint32_t rseq, int status, const uint8_t *body, size_t len)
{
    net_slot_t *sl = &c->slots[rseq & (c->cap - 1)];

    if (rseq != c->head) {
        sl->state = SLOT_DONE;
        if (status != FF_BUS_NOREPLY) {
            ff_buf_reserve(&sl->frame, FF_FRAME_HEADER + len);
            ff_frame_encode(&lim.proto, sl->cmd, (uint32_t)len, sl->frame.data);
            if (len > 0)
                memcpy(sl->frame.data + FF_FRAME_HEADER, body, len);
            sl->frame.len = FF_FRAME_HEADER + len;
        }
        return;
    }
    if (status != FF_BUS_NOREPLY)
        conn_write(c, sl->cmd, body, len);
    conn_slot_reset(sl);
    c->head++;
    total_pending--;
    conn_write_ready(c);
    if (!conn_output_over(c))
        conn_after_complete(c);
}

/* After the in-flight count dropped: resume reading below maxPipeline, or, while stopping
 * or after the client's half-close, close the connection once nothing is in flight. */
static void
conn_after_complete(net_conn_t *c)
{
    uint32_t inflight = c->next_rseq - c->head;

    if (c->stream.closing)
        return;
    if (draining || c->stream.eof) {
        if (inflight == 0)
            ff_stream_close_drained(&c->stream);
        return;
    }
    if (c->stream.paused && inflight < lim.max_pipeline)
        ff_stream_resume(&c->stream);
}

/* Doubles the ring (it is full); the in-flight rseqs keep their order. */
static void
conn_grow(net_conn_t *c)
{
    uint32_t cap = c->cap ? c->cap * 2 : SLOTS_INITIAL;
    net_slot_t *slots = ff_calloc(cap, sizeof(*slots));

    for (uint32_t r = c->head; r != c->next_rseq; r++)
        slots[r & (cap - 1)] = c->slots[r & (c->cap - 1)];
    ff_free(c->slots);
    c->slots = slots;
    c->cap = cap;
}

/* Forwards one request to gate, or answers it with 503 at once when gate is down. */
static void
conn_request(net_conn_t *c, uint32_t cmd, const uint8_t *body, size_t len)
{
    uint32_t rseq = c->next_rseq;
    net_slot_t *sl;
    ff_buf_t *out;

    if (rseq - c->head == c->cap)
        conn_grow(c);
    sl = &c->slots[rseq & (c->cap - 1)];
    sl->cmd = cmd;
    sl->state = SLOT_PENDING;
    c->next_rseq++;
    total_pending++;
    out = net_gate_out();
    if (out != NULL) {
        ff_bus_put_request(out, c->id, rseq, cmd, body, len);
        total_requests++;
        return;
    }
    conn_complete(c, rseq, FF_BUS_ERROR, (const uint8_t *)NET_CONN_UNAVAILABLE,
                  sizeof(NET_CONN_UNAVAILABLE) - 1);
}

/* Marks the connection active: it moves to the tail of the idle order. */
static void
conn_touch(net_conn_t *c)
{
    if (!c->open)
        return;
    c->last_ms = ff_node_now();
    ff_list_remove(&c->node);
    ff_list_push(&conns, &c->node);
}

static void
conn_bad_frame(net_conn_t *c, long code)
{
    char peer[64];

    ff_log(FF_LOG_WARN, "conn %" PRIu64 " (%s): malformed frame: %s; closing", c->id,
           conn_peer(c, peer, sizeof(peer)), ff_frame_strerror(code));
    conn_close(c, UV_EPROTO);
}

/* Adds the credit earned since the last refill: maxRequestsPerSecond requests a second, up
 * to a burst of maxPipeline requests. Runs once per read, not per request: the loop clock
 * does not move within one callback anyway. */
static void
conn_refill(net_conn_t *c)
{
    uint64_t now = ff_node_now(), cap = (uint64_t)lim.max_pipeline * TOKEN;
    uint64_t elapsed = now - c->bucket_ms, tokens;

    /* After `cap` ms the bucket is full at any rate; the bound also keeps the product small. */
    if (elapsed > cap)
        elapsed = cap;
    tokens = c->tokens + elapsed * lim.rate;
    c->tokens = (uint32_t)(tokens < cap ? tokens : cap);
    c->bucket_ms = now;
}

/* Takes one request's credit from the bucket; when it is empty, closes the connection with
 * one WARN line and returns false. Its requests already forwarded still complete at gate;
 * their replies find the connection gone and are dropped (conn_lost). */
static bool
conn_take_token(net_conn_t *c)
{
    char peer[64];

    if (c->tokens >= TOKEN) {
        c->tokens -= TOKEN;
        return true;
    }
    ff_log(FF_LOG_WARN,
           "conn %" PRIu64 " (%s): over %" PRIu32 " requests/s "
           "(netconnect.maxRequestsPerSecond); closing",
           c->id, conn_peer(c, peer, sizeof(peer)), lim.rate);
    total_over_rate++;
    conn_close(c, UV_ECONNABORTED);
    return false;
}

/* Decodes the complete frames in the input and forwards each; pauses reading when the
 * connection has maxPipeline requests in flight, closes it when it is over its request
 * rate. */
static long
conn_data_cb(ff_stream_t *s, const uint8_t *data, size_t len)
{
    net_conn_t *c = s->data;
    bool limited = lim.rate > 0;
    size_t used = 0;
    ff_frame_t f;
    long n;

    conn_touch(c);
    if (limited)
        conn_refill(c);
    while (!s->closing && !draining) {
        if (c->next_rseq - c->head >= lim.max_pipeline) {
            ff_stream_pause(s);
            break;
        }
        n = ff_frame_decode(&lim.proto, data + used, len - used, &f);
        if (n < 0) {
            conn_bad_frame(c, n);
            return -1;
        }
        if (n == 0 || (size_t)n > len - used)
            break;
        if (limited && !conn_take_token(c))
            return -1;
        conn_request(c, f.cmd, data + used + FF_FRAME_HEADER, f.body_len);
        used += (size_t)n;
    }
    return (long)used;
}

/* The client half-closed its socket (shutdown(SHUT_WR)): it sends nothing more but still
 * reads. Its requests in flight complete as usual and their replies are written in order;
 * the connection closes once the last is out (conn_after_complete), and gate hears of the
 * loss then. A trailing incomplete frame can never complete and is dropped with it. */
static void
conn_eof_cb(ff_stream_t *s)
{
    net_conn_t *c = s->data;

    ff_log(FF_LOG_DEBUG, "conn %" PRIu64 ": end of input, %" PRIu32 " requests in flight", c->id,
           c->next_rseq - c->head);
    if (c->next_rseq == c->head)
        ff_stream_close_drained(s);
}

/* Logs the connections refused since the last such line, with the latest one's address. */
static void
conn_report_refused(uint64_t now)
{
    char ip[INET6_ADDRSTRLEN];

    ff_log(FF_LOG_WARN,
           "%" PRIu64 " connection%s refused: over %" PRIu32 " open from one address "
           "(netconnect.maxConnectionsPerIp); the latest from %s",
           refused.unreported, refused.unreported == 1 ? "" : "s", refused.limit,
           net_ip_name(&refused.ip, ip, sizeof(ip)));
    refused.unreported = 0;
    refused.last_ms = now;
}

/* Counts a refused connection; reports it at once unless a report went out less than a
 * second ago (then net_conn_report_refused does, from the 1 s timer). */
static void
conn_refused(const net_ip_t *ip)
{
    uint64_t now = ff_node_now();

    refused.unreported++;
    refused.total++;
    refused.limit = lim.per_ip;
    refused.ip = *ip;
    if (refused.last_ms == 0 || now - refused.last_ms >= REFUSED_REPORT_MS)
        conn_report_refused(now);
}

/* Reads the client's address and counts the connection against maxConnectionsPerIp.
 * Returns 0 when counted, UV_ECONNREFUSED when over the limit (reported), or a libuv error
 * (the client is already gone). */
static int
conn_admit(net_conn_t *c)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    int rc = uv_tcp_getpeername(&c->stream.tcp, (struct sockaddr *)&ss, &len);

    if (rc < 0)
        return rc;
    if (!net_ip_from_sockaddr((struct sockaddr *)&ss, &c->ip))
        return UV_EAFNOSUPPORT;
    if (net_iplimit_acquire(ips, &c->ip, lim.per_ip))
        return 0;
    conn_refused(&c->ip);
    return UV_ECONNREFUSED;
}

/* Registers an accepted, counted and reading connection, with a full token bucket. */
static void
conn_open(net_conn_t *c)
{
    c->id = conn_next_id();
    c->open = true;
    c->last_ms = c->bucket_ms = ff_node_now();
    c->tokens = lim.max_pipeline * TOKEN;
    ff_map_set(&conns_by_id, c->id, c);
    ff_list_push(&conns, &c->node);
}

void
net_conn_accept(uv_stream_t *server)
{
    net_conn_t *c = ff_calloc(1, sizeof(*c));
    int rc;

    ff_list_init(&c->node);
    rc = ff_stream_init(server->loop, &c->stream, conn_data_cb, conn_close_cb, c);
    if (rc < 0) {
        ff_log(FF_LOG_WARN, "accept: %s", uv_strerror(rc));
        ff_free(c);
        return;
    }
    c->stream.on_eof = conn_eof_cb;
    nlive++;
    /* A refused client is accepted and closed at once, never left pending: libuv stops
     * watching the listener while an accepted socket waits for uv_accept. */
    rc = uv_accept(server, (uv_stream_t *)&c->stream.tcp);
    if (rc == 0)
        rc = conn_admit(c);
    if (rc == 0 && (rc = ff_stream_start(&c->stream)) < 0)
        net_iplimit_release(ips, &c->ip);
    if (rc < 0) {
        if (rc != UV_ECONNREFUSED)
            ff_log(FF_LOG_DEBUG, "accept: %s", uv_strerror(rc));
        ff_stream_close(&c->stream, rc);
        return;
    }
    conn_open(c);
}

void
net_conn_report_refused(void)
{
    uint64_t now = ff_node_now();

    if (refused.unreported > 0 && now - refused.last_ms >= REFUSED_REPORT_MS)
        conn_report_refused(now);
}

void
net_conn_respond(uint64_t id, uint32_t rseq, int status, const uint8_t *body, size_t len)
{
    net_conn_t *c = ff_map_get(&conns_by_id, id);

    if (c == NULL || c->stream.closing || rseq - c->head >= c->next_rseq - c->head)
        return;
    if (c->slots[rseq & (c->cap - 1)].state != SLOT_PENDING)
        return;
    conn_complete(c, rseq, status, body, len);
}

void
net_conn_push(uint64_t id, uint32_t cmd, const uint8_t *body, size_t len)
{
    net_conn_t *c = ff_map_get(&conns_by_id, id);

    if (c == NULL || c->stream.closing)
        return;
    conn_write(c, cmd, body, len);
    conn_output_over(c);
}

static void
conn_fail_pending(net_conn_t *c)
{
    while (c->open && !c->stream.closing && c->head != c->next_rseq)
        conn_complete(c, c->head, FF_BUS_ERROR, (const uint8_t *)NET_CONN_UNAVAILABLE,
                      sizeof(NET_CONN_UNAVAILABLE) - 1);
}

void
net_conn_fail_all(void)
{
    ff_list_t *n, *next;

    /* Failing a connection only ever unlinks or moves that connection, so `next` stays
     * valid; one moved to the tail is met again with nothing left to fail. */
    for (n = conns.next; n != &conns; n = next) {
        next = n->next;
        conn_fail_pending(ff_container_of(n, net_conn_t, node));
    }
}

void
net_conn_sweep_idle(void)
{
    uint64_t now = ff_node_now();
    char peer[64];

    while (lim.idle_ms > 0 && !ff_list_empty(&conns)) {
        net_conn_t *c = ff_container_of(conns.next, net_conn_t, node);
        if (now - c->last_ms < lim.idle_ms)
            break;
        ff_log(FF_LOG_INFO, "conn %" PRIu64 " (%s): idle for %" PRIu64 " s; closing", c->id,
               conn_peer(c, peer, sizeof(peer)), (now - c->last_ms) / 1000);
        conn_close(c, UV_ETIMEDOUT);
    }
}

void
net_conn_drain(void (*done_cb)(void))
{
    ff_list_t *n;

    draining = true;
    drained_cb = done_cb;
    for (n = conns.next; n != &conns; n = n->next) {
        net_conn_t *c = ff_container_of(n, net_conn_t, node);
        ff_stream_pause(&c->stream);
        if (c->head == c->next_rseq)
            ff_stream_close_drained(&c->stream);
    }
    if (nlive == 0)
        done_cb();
}

size_t
net_conn_count(void)
{
    return conns_by_id.count;
}

uint64_t *
net_conn_ids(size_t *n)
{
    uint64_t *ids = conns_by_id.count ? ff_malloc(conns_by_id.count * sizeof(*ids)) : NULL;
    size_t k = 0;

    for (ff_list_t *p = conns.next; p != &conns; p = p->next)
        ids[k++] = ff_container_of(p, net_conn_t, node)->id;
    *n = k;
    return ids;
}

uint64_t
net_conn_requests(void)
{
    return total_requests;
}

uint64_t
net_conn_pending(void)
{
    return total_pending;
}

uint64_t
net_conn_refused(void)
{
    return refused.total;
}

uint64_t
net_conn_over_rate(void)
{
    return total_over_rate;
}
