/* conn: net's client connections (DESIGN §2, §4). Each connection decodes Firefly frames,
 * forwards every request to gate as REQUEST(conn, rseq, cmd, body), and writes the
 * replies back in request order through a ring of slots indexed by rseq. Pushes are
 * written at once. Malformed frames, slow readers, idle clients and clients over their
 * request rate close the connection; every loss is reported to gate as CONN_LOST. A client
 * address over its number of connections has the new one closed at once. Everything runs
 * on the node's loop. */
#ifndef NET_CONN_H
#define NET_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "conf.h"

/* The error body of a request that gate cannot take: the link is down, or net stops. */
#define NET_CONN_UNAVAILABLE "{\"error\":{\"code\":503,\"message\":\"gate unavailable\"}}"

/* (Re)reads the limits (netconnect with its flood guards maxRequestsPerSecond and
 * maxConnectionsPerIp, maxPipeline, maxOutputBuffer, idleTimeout) and this node's conn id
 * prefix from conf; call at start and after each reload. */
void net_conn_configure(const ff_conf_t *conf, const char *node_name);
/* Accepts one pending client on `server` (a listener's connection callback) and starts
 * reading from it. Failures close the socket and are logged at DEBUG; a client address
 * already at maxConnectionsPerIp has the socket closed at once, reported by a WARN line at
 * most once a second (with the count since the last one). */
void net_conn_accept(uv_stream_t *server);
/* Completes request `rseq` of connection `id` with gate's RESPONSE. Responses for an
 * unknown connection or an rseq that is not pending are dropped silently. `body` is
 * borrowed. */
void net_conn_respond(uint64_t id, uint32_t rseq, int status, const uint8_t *body, size_t len);
/* Writes a push frame (cmd = topic id) to connection `id` now, if it is open. */
void net_conn_push(uint64_t id, uint32_t cmd, const uint8_t *body, size_t len);
/* Completes every pending request of every connection with a 503 error reply, each
 * connection's replies still in request order (gate link lost, or stop ran out of time). */
void net_conn_fail_all(void);
/* Closes the connections idle for idleTimeout seconds; run it from a 1 s timer. */
void net_conn_sweep_idle(void);
/* Logs the connections refused over maxConnectionsPerIp that no line reported yet, if the
 * last such line is a second old; run it from a 1 s timer. */
void net_conn_report_refused(void);
/* Starts the graceful stop: no more reading; each connection closes once its requests are
 * all answered and its output written. done_cb runs (perhaps before this returns) when the
 * last connection is gone. */
void net_conn_drain(void (*done_cb)(void));
/* Open connections. */
size_t net_conn_count(void);
/* The ids of the open connections in a new array (ff_free it; NULL when none); *n = count. */
uint64_t *net_conn_ids(size_t *n);
/* Requests forwarded to gate since start. */
uint64_t net_conn_requests(void);
/* Requests in flight (sent, reply not yet written) over all connections. */
uint64_t net_conn_pending(void);
/* Connections refused over maxConnectionsPerIp since start. */
uint64_t net_conn_refused(void);
/* Connections closed over maxRequestsPerSecond since start. */
uint64_t net_conn_over_rate(void);

#endif
