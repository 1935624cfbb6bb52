/* router: gate's routing state: registered peers (net and game nodes), the command table,
 * client sessions with their bound nodes, and every request in flight through gate. */
#ifndef GATE_ROUTER_H
#define GATE_ROUTER_H

#include <jansson.h>
#include <stdbool.h>

#include "bus.h"

/* Starts the timeout sweep; timeout_ms is cluster.requestTimeout. */
void gate_router_init(int timeout_ms);
/* Accepts a peer link (net or game node) on gate's rootport: an ff_accept_cb. */
void gate_router_accept(ff_link_t *l, void *arg);
/* Completes a request handled by gate's own app (or drops it when no longer pending). */
void gate_router_complete(uint64_t conn, uint32_t rseq, int status, const void *body, size_t len);
/* Routes a push from gate's own app to the nets holding the connections. */
void gate_router_push(const uint64_t *conns, size_t n, uint32_t cmd, const void *body, size_t len);
/* Binds the session of conn to the node with the fewest bound sessions among those that
 * handle cmd. Returns the node's name, or NULL when no node handles cmd or conn is
 * unknown. */
const char *gate_router_bind_group(uint64_t conn, uint32_t cmd);
/* Requests in flight. */
size_t gate_router_inflight(void);
/* Adds peers, sessions and in-flight figures to a status object. */
void gate_router_status(json_t *out);
/* Frees everything; for exit. */
void gate_router_close(void);

#endif
