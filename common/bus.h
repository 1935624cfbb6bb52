/* bus: the msgpack RPC bus between nodes (DESIGN §5).
 *
 * A frame is a 4-byte big-endian length and one msgpack array [kind, ...]:
 *   AUTH      [10, step, ...]                      the handshake, fixed size (auth.h)
 *   HELLO     [1, name, role, pid, [cmd...], token] first frame after the handshake
 *   CALL      [2, seq, method, args]               args/result are JSON text (control plane)
 *   REPLY     [3, seq, status, result]             status 0 or a negative error
 *   NOTIFY    [4, method, args]
 *   REQUEST   [5, conn, rseq, cmd, body]           net -> gate -> game; body is bin
 *   RESPONSE  [6, conn, rseq, status, body]        back; status: FF_BUS_OK/NOREPLY/ERROR
 *   PUSH      [7, [conn...], cmd, body]            game/gate -> gate -> net
 *   CONN_LOST [8, conn]                            net -> gate -> nodes that saw the conn
 *   SESSION   [9, conn, bound]                     game -> gate: bind (1) / unbind (0)
 *   PING      [11, stamp]  PONG [12, stamp]        heartbeats, answered by bus.c itself
 *   LIVE      [13, [conn...]]                      after HELLO: net -> gate "I hold these";
 *                                                  game -> gate "I know these" (answered
 *                                                  with CONN_LOST for the ones gone)
 * Client bodies are never re-encoded: gate forwards the frames it receives byte for byte.
 * A link (ff_link_t) is one TCP connection. Before anything else it runs the handshake of
 * auth.h under the process's cluster secret (ff_bus_auth): a peer that fails it, sends
 * anything else first or stays silent for FF_AUTH_TIMEOUT_MS is closed with one WARN, and
 * no callback of the link's owner ever runs for it. Once up, a link sends PING every
 * heartbeat and is declared dead (closed, UV_ETIMEDOUT) after 3 heartbeats without a
 * complete frame, which also bounds how long a frame may take to arrive. An outbound link
 * reconnects with backoff until freed, and a lost link fails its pending calls at once. */
#ifndef FF_BUS_H
#define FF_BUS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "buf.h"
#include "mp.h"

/* The largest frame a link accepts: the largest client body (netconnect.maxPacket is at
 * most 16 MiB) with room for its envelope. A longer length prefix closes the link. */
#define FF_BUS_MAX_FRAME (17u << 20)
/* Inbound connections a process keeps in their handshake at once; past it, the oldest is
 * dropped. */
#define FF_BUS_MAX_HANDSHAKES 256

enum {
    FF_BUS_HELLO = 1,
    FF_BUS_CALL,
    FF_BUS_REPLY,
    FF_BUS_NOTIFY,
    FF_BUS_REQUEST,
    FF_BUS_RESPONSE,
    FF_BUS_PUSH,
    FF_BUS_CONN_LOST,
    FF_BUS_SESSION,
    FF_BUS_AUTH,
    FF_BUS_PING,
    FF_BUS_PONG,
    FF_BUS_LIVE,
};

/* The per-child token master hands a node at fork, sent in its control link's HELLO. */
#define FF_BUS_TOKEN 32

/* RESPONSE status. */
enum { FF_BUS_OK = 0, FF_BUS_NOREPLY = 1, FF_BUS_ERROR = 2 };

typedef struct {
    const char *p;
    uint32_t len;
} ff_str_t;

/* A decoded frame. Everything points into the receive buffer: valid during on_msg only. */
typedef struct {
    int kind;
    const uint8_t *frame; /* the whole frame, length prefix included, for forwarding */
    size_t frame_len;
    uint64_t conn;
    uint32_t seq; /* CALL/REPLY seq, REQUEST/RESPONSE rseq */
    uint32_t cmd;
    int32_t status; /* REPLY, RESPONSE; SESSION: 1 bind, 0 unbind */
    int64_t pid;
    uint64_t stamp; /* PING/PONG */
    ff_str_t name, role, method;
    const uint8_t *token; /* HELLO: the per-child token on a control link, else empty */
    uint32_t token_len;
    const uint8_t *body; /* REQUEST/RESPONSE/PUSH body, CALL args, REPLY result */
    uint32_t body_len;
    ff_mp_reader_t list; /* HELLO's commands, PUSH's or LIVE's conns, at the first element */
    uint32_t nlist;
} ff_bus_msg_t;

typedef struct ff_link_s ff_link_t;

typedef struct {
    void (*on_msg)(ff_link_t *l, const ff_bus_msg_t *m);
    /* The link is connected (outbound) or accepted (inbound) and authenticated: send HELLO
     * here. */
    void (*on_up)(ff_link_t *l);
    /* The link is gone (status: UV_EOF, a libuv error, UV_EPROTO for a bad frame). An
     * outbound link then reconnects; an inbound link is freed right after this returns. */
    void (*on_down)(ff_link_t *l, int status);
} ff_link_cbs_t;

/* Reply to ff_link_call: status 0 with the result (JSON text), or a negative error
 * (UV_ETIMEDOUT, UV_ECONNRESET when the link was lost, or the peer's status). */
typedef void (*ff_call_cb)(void *arg, int status, const char *result, size_t len);
/* A new inbound link, authenticated: set its callbacks with ff_link_set (on_up follows). */
typedef void (*ff_accept_cb)(ff_link_t *l, void *arg);

/* Sets the cluster secret (copied) and this process's name for every link's handshake,
 * and the heartbeat interval. Call before any link exists. Returns 0, or -1 when the name
 * does not fit the handshake (ff_auth_name_ok) or libsodium cannot start. */
int ff_bus_auth(const void *secret, size_t len, const char *self_name, int heartbeat_ms);
/* Starts listening on host:port for inbound links. Returns 0 or a libuv error. */
int ff_bus_listen(uv_loop_t *loop, uv_tcp_t *server, const char *host, int port, ff_accept_cb cb,
                  void *arg);
/* Creates an outbound link that connects to host:port and reconnects after any loss, with
 * backoff from 20 ms to 2 s, until freed. `peer` is the name the other side must prove in
 * the handshake (copied), or NULL for any. */
ff_link_t *ff_link_connect(uv_loop_t *loop, const char *host, int port, const char *peer,
                           const ff_link_cbs_t *cbs, void *data);
/* Sets the callbacks and user data of a link. */
void ff_link_set(ff_link_t *l, const ff_link_cbs_t *cbs, void *data);
/* The user data. */
void *ff_link_data(const ff_link_t *l);
/* True while connected and authenticated. */
bool ff_link_up(const ff_link_t *l);
/* The name the peer proved in the handshake ("" before that). */
const char *ff_link_peer(const ff_link_t *l);
/* The peer's address as "ip:port", for log lines. */
const char *ff_link_addr(const ff_link_t *l);
/* The round trip of the last answered PING in microseconds, or -1 before the first. */
int64_t ff_link_rtt_us(const ff_link_t *l);
/* Appends one object per link that is up to `arr`: peer, addr, inbound, rtt_ms, queued. */
void ff_bus_status(json_t *arr);
/* The buffer to append frames to (flushed before the loop blocks), or NULL when down. */
ff_buf_t *ff_link_out(ff_link_t *l);
/* Bytes queued on the link and not yet written. */
size_t ff_link_pending(const ff_link_t *l);
/* Sends CALL(method, args) and arranges for cb to run exactly once. Returns 0, or
 * UV_ENOTCONN and cb never runs. */
int ff_link_call(ff_link_t *l, const char *method, const char *args, int timeout_ms, ff_call_cb cb,
                 void *arg);
/* Closes the link: pending calls fail with UV_ECANCELED, no other callback runs after. */
void ff_link_free(ff_link_t *l);

/* Encoders: each appends one complete frame to b. */
/* token: FF_BUS_TOKEN bytes (a control link's), or NULL for none. */
void ff_bus_put_hello(ff_buf_t *b, const char *name, const char *role, int pid,
                      const uint32_t *cmds, size_t ncmds, const uint8_t *token);
void ff_bus_put_call(ff_buf_t *b, uint32_t seq, const char *method, const char *args);
void ff_bus_put_reply(ff_buf_t *b, uint32_t seq, int status, const char *result, size_t len);
void ff_bus_put_notify(ff_buf_t *b, const char *method, const char *args);
void ff_bus_put_request(ff_buf_t *b, uint64_t conn, uint32_t rseq, uint32_t cmd, const void *body,
                        size_t len);
void ff_bus_put_response(ff_buf_t *b, uint64_t conn, uint32_t rseq, int status, const void *body,
                         size_t len);
void ff_bus_put_push(ff_buf_t *b, const uint64_t *conns, size_t n, uint32_t cmd, const void *body,
                     size_t len);
void ff_bus_put_conn_lost(ff_buf_t *b, uint64_t conn);
void ff_bus_put_session(ff_buf_t *b, uint64_t conn, bool bound);
void ff_bus_put_ping(ff_buf_t *b, int kind, uint64_t stamp);
void ff_bus_put_live(ff_buf_t *b, const uint64_t *conns, size_t n);
/* Appends an error RESPONSE with body {"error":{"code":code,"message":msg}}. */
void ff_bus_put_error(ff_buf_t *b, uint64_t conn, uint32_t rseq, int code, const char *msg);

/* Decodes one frame payload (after the length prefix). Returns 0 or -1 when malformed. */
int ff_bus_decode(const uint8_t *payload, size_t len, ff_bus_msg_t *m);
/* True when the str equals the C string s. */
bool ff_str_eq(ff_str_t a, const char *s);

#endif
