/* gatelink: net's bus link to its gate (the remoteport entry whose server has role gate).
 * It reconnects by itself and says HELLO on every connect; it hands RESPONSE and PUSH
 * frames to conn, and fails every pending request when the link is lost. */
#ifndef NET_GATELINK_H
#define NET_GATELINK_H

#include <stdbool.h>

#include "buf.h"

/* Starts connecting to the gate named in ff_self's remoteport. Returns 0, or -1 (logged)
 * when no remoteport entry names a gate server. */
int net_gate_start(void);
/* The buffer to append bus frames for gate to, or NULL while the link is down. */
ff_buf_t *net_gate_out(void);
/* True while the link to gate is up. */
bool net_gate_up(void);

#endif
