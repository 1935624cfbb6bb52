/* bus: frame codec and links (inbound, and outbound with reconnect) for the node bus. */
#include "bus.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "alloc.h"
#include "auth.h"
#include "log.h"
#include "map.h"
#include "stream.h"

/* Where a connection is in the handshake (auth.h). */
typedef enum { AUTH_CHALLENGE, AUTH_PROOF, AUTH_DONE } auth_step_t;

struct ff_link_s {
    ff_list_t all;  /* in bus_links */
    ff_list_t pend; /* inbound, in its handshake: in bus_pending, oldest first */
    ff_stream_t *s; /* the current connection, NULL while down */
    const ff_link_cbs_t *cbs;
    void *data;
    char *host; /* outbound only: where to reconnect, and whom to expect there */
    int port;
    char *want_peer;
    int backoff_ms;
    bool up, inbound;
    ff_accept_cb accept_cb; /* inbound: runs once the peer has proved itself */
    void *accept_arg;
    /* Outbound: the reconnect backoff while down. Both: while connected, the tick that
     * enforces the handshake deadline, sends PINGs and notices a silent peer. */
    uv_timer_t *timer;
    auth_step_t auth;
    uint8_t nonce[FF_AUTH_NONCE], peer_nonce[FF_AUTH_NONCE];
    char peer[FF_AUTH_NAME]; /* the name the peer proved */
    char addr[64];
    uint64_t since;     /* loop ms: TCP connection up */
    uint64_t last_rx;   /* loop ms: last complete frame received */
    uint64_t last_ping; /* loop ms: last PING sent */
    uint64_t last_tick; /* loop ms: last tick, to tell our own stalls from the peer's */
    int64_t rtt_us;
    ff_map_t calls; /* seq -> call_t */
    uint32_t next_seq;
};

static struct {
    uint8_t *secret;
    size_t secret_len;
    char name[FF_AUTH_NAME];
    int heartbeat_ms;
} bus = {.heartbeat_ms = 1000};
static ff_list_t bus_links = {&bus_links, &bus_links};
static ff_list_t bus_pending = {&bus_pending, &bus_pending};
static size_t npending;
static struct {
    uint64_t last_ms, unreported;
} evicted; /* inbound connections dropped at FF_BUS_MAX_HANDSHAKES, for a rate-limited WARN */

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
                 size_t ncmds, const uint8_t *token)
{
    size_t at = frame_begin(b, 6, FF_BUS_HELLO);
    ff_mp_put_str(b, name, strlen(name));
    ff_mp_put_str(b, role, strlen(role));
    ff_mp_put_int(b, pid);
    ff_mp_put_array(b, (uint32_t)ncmds);
    for (size_t i = 0; i < ncmds; i++)
        ff_mp_put_uint(b, cmds[i]);
    ff_mp_put_bin(b, token, token != NULL ? FF_BUS_TOKEN : 0);
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
ff_bus_put_ping(ff_buf_t *b, int kind, uint64_t stamp)
{
    size_t at = frame_begin(b, 2, kind);
    ff_mp_put_uint(b, stamp);
    frame_end(b, at);
}

void
ff_bus_put_live(ff_buf_t *b, const uint64_t *conns, size_t n)
{
    size_t at = frame_begin(b, 2, FF_BUS_LIVE);
    ff_mp_put_array(b, (uint32_t)n);
    for (size_t i = 0; i < n; i++)
        ff_mp_put_uint(b, conns[i]);
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
        ff_mp_get_bytes(r, &m->token, &m->token_len);
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
    case FF_BUS_PING:
    case FF_BUS_PONG:
        ff_mp_get_uint(r, &m->stamp);
        break;
    case FF_BUS_LIVE:
        get_list(r, m);
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

/* ---- links: calls -------------------------------------------------------------------- */

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

/* ---- links: handshake ---------------------------------------------------------------- */

int
ff_bus_auth(const void *secret, size_t len, const char *self_name, int heartbeat_ms)
{
    if (ff_auth_init() < 0 || !ff_auth_name_ok(self_name))
        return -1;
    if (bus.secret != NULL)
        sodium_memzero(bus.secret, bus.secret_len);
    ff_free(bus.secret);
    bus.secret = ff_malloc(len);
    memcpy(bus.secret, secret, len);
    bus.secret_len = len;
    snprintf(bus.name, sizeof(bus.name), "%s", self_name);
    bus.heartbeat_ms = heartbeat_ms;
    return 0;
}

/* One WARN naming the peer; the caller then closes the connection (-1 from on_data). */
static long __attribute__((format(printf, 2, 3))) auth_fail(ff_link_t *l, const char *fmt, ...)
{
    char why[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    ff_log(FF_LOG_WARN, "bus: %s %s: %s; closing", l->inbound ? "connection from" : "link to",
           l->addr, why);
    return -1;
}

/* Sends this side's proof: the initiator's first, the acceptor's once that one is good. */
static void
auth_send_proof(ff_link_t *l)
{
    uint8_t mac[FF_AUTH_MAC], frame[FF_AUTH_PROOF_LEN];

    if (l->inbound)
        ff_auth_mac(bus.secret, bus.secret_len, FF_AUTH_ACCEPTOR, l->peer_nonce, l->nonce, l->peer,
                    bus.name, mac);
    else
        ff_auth_mac(bus.secret, bus.secret_len, FF_AUTH_INITIATOR, l->nonce, l->peer_nonce,
                    bus.name, l->peer, mac);
    ff_auth_put_proof(frame, mac);
    ff_buf_put(ff_stream_out(l->s), frame, sizeof(frame));
}

/* True when the proof in frame is the peer's for this connection. */
static bool
auth_proof_ok(ff_link_t *l, const uint8_t *frame)
{
    uint8_t mac[FF_AUTH_MAC];

    if (l->inbound)
        ff_auth_mac(bus.secret, bus.secret_len, FF_AUTH_INITIATOR, l->peer_nonce, l->nonce, l->peer,
                    bus.name, mac);
    else
        ff_auth_mac(bus.secret, bus.secret_len, FF_AUTH_ACCEPTOR, l->nonce, l->peer_nonce, bus.name,
                    l->peer, mac);
    return ff_auth_mac_eq(mac, ff_auth_get_proof(frame));
}

static void link_became_up(ff_link_t *l);

static void
pending_leave(ff_link_t *l)
{
    if (l->pend.next != &l->pend) {
        ff_list_remove(&l->pend);
        npending--;
    }
}

/* Counts in a new inbound connection's handshake; at FF_BUS_MAX_HANDSHAKES the oldest one
 * still in its handshake is dropped, so that a flood of silent connections costs little
 * and a node of the cluster, whose handshake takes a round trip, still gets in. */
static void
pending_enter(ff_link_t *l)
{
    uint64_t now = uv_now(l->timer->loop);

    if (npending >= FF_BUS_MAX_HANDSHAKES) {
        ff_link_t *old = ff_container_of(bus_pending.next, ff_link_t, pend);
        pending_leave(old);
        ff_stream_close(old->s, UV_ECONNABORTED);
        evicted.unreported++;
        if (now - evicted.last_ms >= 1000) {
            ff_log(FF_LOG_WARN,
                   "bus: %llu connections still in their handshake dropped (over %d at once); "
                   "the latest from %s",
                   (unsigned long long)evicted.unreported, FF_BUS_MAX_HANDSHAKES, old->addr);
            evicted.unreported = 0;
            evicted.last_ms = now;
        }
    }
    ff_list_push(&bus_pending, &l->pend);
    npending++;
}

/* The peer's CHALLENGE, complete and of the right shape. Returns 0 or -1 (closing). */
static long
auth_on_challenge(ff_link_t *l, const uint8_t *frame)
{
    if (ff_auth_get_challenge(frame, l->peer_nonce, l->peer) < 0)
        return auth_fail(l, "handshake with a malformed name");
    if (l->want_peer != NULL && strcmp(l->peer, l->want_peer) != 0)
        return auth_fail(l, "the peer is \"%s\", not \"%s\"", l->peer, l->want_peer);
    l->auth = AUTH_PROOF;
    if (!l->inbound)
        auth_send_proof(l);
    return 0;
}

/* Runs the handshake over the bytes received so far; only the fixed fields of auth.h are
 * looked at, and anything that cannot be the next handshake frame closes the connection.
 * Returns the bytes consumed (the link may be up after them), or -1. */
static long
auth_input(ff_link_t *l, const uint8_t *data, size_t len)
{
    size_t used = 0;

    for (;;) {
        const uint8_t *p = data + used;
        size_t n = len - used;

        if (l->auth == AUTH_CHALLENGE) {
            if (ff_auth_check_challenge(p, n) < 0)
                return auth_fail(l, "sent something other than the bus handshake");
            if (n < FF_AUTH_CHALLENGE_LEN)
                break;
            if (auth_on_challenge(l, p) < 0)
                return -1;
            used += FF_AUTH_CHALLENGE_LEN;
        } else {
            if (ff_auth_check_proof(p, n) < 0)
                return auth_fail(l, "sent something other than its handshake proof");
            if (n < FF_AUTH_PROOF_LEN)
                break;
            if (!auth_proof_ok(l, p))
                return auth_fail(l, "\"%s\" failed authentication (not this cluster's secret)",
                                 l->peer);
            used += FF_AUTH_PROOF_LEN;
            if (l->inbound)
                auth_send_proof(l);
            l->auth = AUTH_DONE;
            link_became_up(l); /* may close or free the link: look at nothing after */
            break;
        }
    }
    return (long)used;
}

/* ---- links: frames and heartbeats ---------------------------------------------------- */

static void
link_pong(ff_link_t *l, const ff_bus_msg_t *m)
{
    uint64_t now = uv_hrtime() / 1000;

    if (m->stamp <= now)
        l->rtt_us = (int64_t)(now - m->stamp);
}

/* Frames after the handshake: heartbeats and replies are handled here, the rest go to the
 * owner. Every complete frame counts as a sign of life. */
static long
link_frames(ff_link_t *l, const uint8_t *data, size_t len)
{
    ff_stream_t *s = l->s;
    size_t used = 0;
    ff_bus_msg_t m;

    /* An owner may free the link from on_msg; that closes the stream first. */
    while (len - used >= 4 && !s->closing) {
        uint32_t n = ff_be32(data + used);
        if (n > FF_BUS_MAX_FRAME) {
            ff_log(FF_LOG_WARN, "bus: %s (%s): frame of %u bytes, over %u; closing", l->peer,
                   l->addr, n, FF_BUS_MAX_FRAME);
            return -1;
        }
        if (len - used - 4 < n)
            break;
        if (ff_bus_decode(data + used + 4, n, &m) < 0) {
            ff_log(FF_LOG_WARN, "bus: %s (%s): malformed frame; closing", l->peer, l->addr);
            return -1;
        }
        m.frame = data + used;
        m.frame_len = (size_t)n + 4;
        used += (size_t)n + 4;
        l->last_rx = uv_now(s->tcp.loop);
        if (m.kind == FF_BUS_REPLY)
            handle_reply(l, &m);
        else if (m.kind == FF_BUS_PING)
            ff_bus_put_ping(ff_stream_out(s), FF_BUS_PONG, m.stamp);
        else if (m.kind == FF_BUS_PONG)
            link_pong(l, &m);
        else if (l->cbs && l->cbs->on_msg)
            l->cbs->on_msg(l, &m);
    }
    return (long)used;
}

/* True (and the link closed, its input dropped) when this process itself did not run for
 * 3 heartbeats: the peer has declared the link dead by now and failed what it had sent, so
 * frames still buffered must not be acted on (a request answered with an error already
 * must not run late). libuv updates the loop time before I/O callbacks, so a resumed
 * process sees its stall here before it reads anything. */
static bool
link_outlived(ff_link_t *l, uint64_t now)
{
    if (!l->up || now - l->last_tick < 3 * (uint64_t)bus.heartbeat_ms)
        return false;
    ff_log(FF_LOG_WARN,
           "bus: %s (%s): this process did not run for %llu ms (3 heartbeats); dropping the "
           "link and what it holds",
           l->peer, l->addr, (unsigned long long)(now - l->last_tick));
    ff_stream_close(l->s, UV_ETIMEDOUT);
    return true;
}

static long
link_data_cb(ff_stream_t *s, const uint8_t *data, size_t len)
{
    ff_link_t *l = s->data;
    long used = 0, more;

    if (link_outlived(l, uv_now(s->tcp.loop)))
        return 0;
    if (!l->up) {
        used = auth_input(l, data, len);
        if (used < 0 || s->closing || !l->up)
            return used;
    }
    more = link_frames(l, data + used, len - (size_t)used);
    return more < 0 ? -1 : used + more;
}

/* The tick's period: a quarter heartbeat, so that a dead link is noticed within 3¼. */
static uint64_t
tick_ms(void)
{
    int t = bus.heartbeat_ms / 4;
    return (uint64_t)(t < 10 ? 10 : t);
}

static void
link_tick_cb(uv_timer_t *t)
{
    ff_link_t *l = t->data;
    uint64_t now = uv_now(t->loop), hb = (uint64_t)bus.heartbeat_ms;

    if (l->s == NULL || l->s->closing || link_outlived(l, now))
        return;
    /* A late tick means this process did not run (a long loop turn, SIGSTOP): that time
     * is ours, not the peer's silence, and its frames may be waiting unread. */
    if (now - l->last_tick > 2 * tick_ms()) {
        uint64_t stalled = now - l->last_tick - tick_ms();
        l->since += stalled;
        l->last_rx = l->last_rx + stalled > now ? now : l->last_rx + stalled;
    }
    l->last_tick = now;
    if (!l->up) {
        if (now - l->since >= FF_AUTH_TIMEOUT_MS) {
            auth_fail(l, "no handshake within %d ms", FF_AUTH_TIMEOUT_MS);
            ff_stream_close(l->s, UV_ETIMEDOUT);
        }
        return;
    }
    if (now - l->last_rx >= 3 * hb) {
        ff_log(FF_LOG_WARN, "bus: %s (%s): no frame for %llu ms (3 heartbeats); the link is dead",
               l->peer, l->addr, (unsigned long long)(now - l->last_rx));
        ff_stream_close(l->s, UV_ETIMEDOUT);
    } else if (now - l->last_ping >= hb) {
        ff_bus_put_ping(ff_stream_out(l->s), FF_BUS_PING, uv_hrtime() / 1000);
        l->last_ping = now;
    }
}

/* ---- links: lifecycle ---------------------------------------------------------------- */

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
    uv_timer_stop(l->timer);
    pending_leave(l);
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
    uv_timer_start(l->timer, retry_cb, (uint64_t)l->backoff_ms, 0);
    l->backoff_ms = l->backoff_ms * 2 > 2000 ? 2000 : l->backoff_ms * 2;
}

static void
link_became_up(ff_link_t *l)
{
    uint64_t now = uv_now(l->timer->loop);

    l->up = true;
    l->s->in_max = 0;
    pending_leave(l);
    l->backoff_ms = 20;
    l->last_rx = now;
    l->last_ping = now;
    if (l->inbound)
        l->accept_cb(l, l->accept_arg);
    if (l->cbs && l->cbs->on_up)
        l->cbs->on_up(l);
}

/* The TCP connection is there: start reading, send our CHALLENGE, arm the deadline. */
static void
link_tcp_up(ff_link_t *l)
{
    uint8_t frame[FF_AUTH_CHALLENGE_LEN];
    uint64_t now = uv_now(l->timer->loop);

    l->auth = AUTH_CHALLENGE;
    l->peer[0] = '\0';
    l->s->in_max = FF_AUTH_CHALLENGE_LEN + FF_AUTH_PROOF_LEN;
    l->since = now;
    l->last_tick = now;
    ff_auth_nonce(l->nonce);
    ff_auth_put_challenge(frame, l->nonce, bus.name);
    ff_buf_put(ff_stream_out(l->s), frame, sizeof(frame));
    uv_timer_start(l->timer, link_tick_cb, tick_ms(), tick_ms());
    ff_stream_start(l->s);
}

static void
link_connected_cb(ff_stream_t *s, int status)
{
    if (status == 0)
        link_tcp_up(s->data);
}

static void
link_connect(ff_link_t *l)
{
    ff_stream_t *s = ff_malloc(sizeof(*s));

    ff_stream_init(l->timer->loop, s, link_data_cb, link_close_cb, l);
    l->s = s;
    if (ff_stream_connect(s, l->host, l->port, link_connected_cb) < 0)
        ff_stream_close(s, UV_EINVAL);
}

static ff_link_t *
link_new(uv_loop_t *loop)
{
    ff_link_t *l;

    if (bus.secret == NULL) {
        /* A link without a secret would authenticate anyone: a bug, never a fallback. */
        ff_log(FF_LOG_ERROR, "bus: a link before ff_bus_auth");
        abort();
    }
    l = ff_calloc(1, sizeof(*l));
    l->rtt_us = -1;
    l->backoff_ms = 20;
    l->timer = ff_malloc(sizeof(*l->timer));
    uv_timer_init(loop, l->timer);
    l->timer->data = l;
    ff_list_init(&l->pend);
    ff_list_push(&bus_links, &l->all);
    return l;
}

ff_link_t *
ff_link_connect(uv_loop_t *loop, const char *host, int port, const char *peer,
                const ff_link_cbs_t *cbs, void *data)
{
    ff_link_t *l = link_new(loop);

    l->cbs = cbs;
    l->data = data;
    l->host = ff_strdup(host);
    l->port = port;
    l->want_peer = peer != NULL ? ff_strdup(peer) : NULL;
    snprintf(l->addr, sizeof(l->addr), "%s:%d", host, port);
    link_connect(l);
    return l;
}

/* "ip:port" of the socket's peer. */
static void
link_peer_addr(ff_link_t *l)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    char ip[INET6_ADDRSTRLEN] = "?";

    if (uv_tcp_getpeername(&l->s->tcp, (struct sockaddr *)&ss, &len) != 0) {
        snprintf(l->addr, sizeof(l->addr), "unknown address");
    } else if (ss.ss_family == AF_INET6) {
        uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof(ip));
        snprintf(l->addr, sizeof(l->addr), "[%s]:%d", ip,
                 ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
    } else {
        uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof(ip));
        snprintf(l->addr, sizeof(l->addr), "%s:%d", ip,
                 ntohs(((struct sockaddr_in *)&ss)->sin_port));
    }
}

static void
server_cb(uv_stream_t *server, int status)
{
    void **ctx = server->data;
    ff_link_t *l;

    if (status < 0)
        return;
    l = link_new(server->loop);
    l->inbound = true;
    l->accept_cb = (ff_accept_cb)(uintptr_t)ctx[0];
    l->accept_arg = ctx[1];
    l->s = ff_malloc(sizeof(*l->s));
    ff_stream_init(server->loop, l->s, link_data_cb, link_close_cb, l);
    if (uv_accept(server, (uv_stream_t *)&l->s->tcp) < 0) {
        ff_stream_close(l->s, UV_ECONNABORTED);
        return;
    }
    link_peer_addr(l);
    pending_enter(l);
    link_tcp_up(l);
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

const char *
ff_link_peer(const ff_link_t *l)
{
    return l->peer;
}

const char *
ff_link_addr(const ff_link_t *l)
{
    return l->addr;
}

int64_t
ff_link_rtt_us(const ff_link_t *l)
{
    return l->rtt_us;
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

void
ff_bus_status(json_t *arr)
{
    for (ff_list_t *n = bus_links.next; n != &bus_links; n = n->next) {
        ff_link_t *l = ff_container_of(n, ff_link_t, all);
        json_t *rtt = l->rtt_us >= 0 ? json_real((double)l->rtt_us / 1000.0) : json_null();
        if (l->up)
            json_array_append_new(arr, json_pack("{s:s,s:s,s:b,s:o,s:I}", "peer", l->peer, "addr",
                                                 l->addr, "inbound", l->inbound, "rtt_ms", rtt,
                                                 "queued", (json_int_t)ff_link_pending(l)));
        else
            json_decref(rtt);
    }
}

static void
timer_closed_cb(uv_handle_t *h)
{
    ff_free(h);
}

static void
link_free_now(ff_link_t *l)
{
    ff_list_remove(&l->all);
    pending_leave(l);
    uv_close((uv_handle_t *)l->timer, timer_closed_cb);
    ff_map_clear(&l->calls);
    ff_free(l->host);
    ff_free(l->want_peer);
    ff_free(l);
}

void
ff_link_free(ff_link_t *l)
{
    if (l == NULL)
        return;
    l->cbs = NULL;
    fail_calls(l, UV_ECANCELED);
    if (l->s != NULL) {
        l->s->data = NULL;
        ff_stream_close(l->s, 0);
    }
    link_free_now(l);
}
