/* absent: the commands of game nodes that went down without being told to stop, remembered
 * until the node is back (its HELLO) or leaves the config (a reload), so that while master
 * restarts a node, gate answers the requests only it handled with 503 "restarting" and not
 * with 404 "no handler", which a client would take for a command that does not exist. */
#ifndef GATE_ABSENT_H
#define GATE_ABSENT_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"

/* Remembers that game node `node` (a game server of the current config) is down with its
 * commands (copied); replaces what was remembered for it. */
void gate_absent_add(const char *node, const uint32_t *cmds, size_t n);
/* Forgets node: it is back. */
void gate_absent_remove(const char *node);
/* Forgets every node that is no longer a game server of conf. */
void gate_absent_prune(const ff_conf_t *conf);
/* The name of a node that is down and handled cmd, or NULL. Borrowed until the next call. */
const char *gate_absent_node(uint32_t cmd);
/* Forgets everything; for exit. */
void gate_absent_clear(void);

#endif
