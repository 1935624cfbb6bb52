/* tcpproxy: a TCP proxy on a thread of the test process, in front of a server on 127.0.0.1,
 * that can hold back what clients send and deliver it later: a request that reaches the
 * server long after its client gave up on it, as over a congested or partitioned network,
 * on demand and with no timing luck.
 *
 * Typical test:
 *     tp_t *p = tp_start(dbenv_memcached_port(db));   (config points at tp_port(p))
 *     tp_hold_all(p);        connections open now hold what their clients send from now on
 *     ...clients time out, reconnect (new connections pass), go on...
 *     tp_release(p);         the held bytes reach the server now
 *     tp_stop(p);
 *
 * Server-to-client bytes always pass (to a client still there). A connection whose client
 * has closed while bytes are held keeps its server side open until they are delivered, then
 * half-closes it. */
#ifndef TH_TCPPROXY_H
#define TH_TCPPROXY_H

#include <stddef.h>

typedef struct tp_s tp_t;

/* Listens on a free port of 127.0.0.1 and forwards every connection to 127.0.0.1:port.
 * Returns NULL with a `not ok` line on failure. */
tp_t *tp_start(int port);
/* The port clients connect to. */
int tp_port(const tp_t *p);
/* Every connection open now holds the bytes its client sends from now on. */
void tp_hold_all(tp_t *p);
/* The next connection (open now or later) whose client starts a line with `marker` (text
 * protocols: at the stream's start or after "\r\n") holds from that line on; then the
 * marker is spent. */
void tp_hold_at(tp_t *p, const char *marker);
/* Bytes held so far and not released. */
size_t tp_held(tp_t *p);
/* Delivers every held byte to the server and stops holding; returns once done. */
void tp_release(tp_t *p);
/* Closes every connection, stops the thread and frees p; NULL is a no-op. */
void tp_stop(tp_t *p);

#endif
