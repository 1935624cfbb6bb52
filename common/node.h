/* node: what every child process (gate, net, game, dbfront) shares: argument parsing,
 * config, logging, the loop, and the control link to master.
 *
 * Control protocol on the link to master's rootport (see bus.h for framing):
 *   node -> master  HELLO(name, role, pid, [])  once the node listens and is ready
 *   master -> node  NOTIFY("stop", {"timeout":ms}) stop gracefully within ms (dbfront: its
 *                                               final flush), then exit 0
 *   node -> master  NOTIFY("stopped", {...})    dbfront's last words: {"unflushed":N,
 *                                               "log":"<wal dir>"} (N null: not known)
 *   master -> node  NOTIFY("reload", "{}")      re-read the config file, reload the app
 *   master -> node  CALL("status", "{}")        REPLY: JSON object of role figures */
#ifndef FF_NODE_H
#define FF_NODE_H

#include <jansson.h>
#include <uv.h>

#include "conf.h"

typedef struct {
    /* Starts the role: listeners, links. Returns 0, or non-zero to exit with status 1. Call
     * ff_node_ready() once clients/peers can connect. */
    int (*start)(void);
    /* Begins a graceful stop; the role calls ff_node_exit(0) when done. */
    void (*stop)(void);
    /* ff_conf now holds the re-read config (the previous one stays valid until exit). */
    void (*reload)(void);
    /* Adds the role's figures to the status object. */
    void (*status)(json_t *out);
} ff_node_ops_t;

extern uv_loop_t *ff_loop;              /* the process's one loop */
extern const ff_conf_t *ff_conf;        /* the current config */
extern const ff_conf_server_t *ff_self; /* this node's entry in ff_conf */

/* Runs a node: `bin/<role> --config FILE --name NAME`. Returns the exit status. */
int ff_node_main(int argc, char **argv, ff_role_t role, const ff_node_ops_t *ops);
/* Tells master this node is ready (sends HELLO on the control link, now or on connect). */
void ff_node_ready(void);
/* Monotonic milliseconds of the loop. */
uint64_t ff_node_now(void);
/* The milliseconds master gave this node's stop (NOTIFY stop's "timeout"), or
 * cluster.stopTimeout when the stop came from a signal or gave none. */
int ff_node_stop_timeout(void);
/* Sends NOTIFY(method, body: a JSON object's text) to master on the control link, if it is
 * up; ff_node_exit right after still sends it. */
void ff_node_notify(const char *method, const char *body);
/* Flushes pending writes, closes everything and exits the process with `code`. */
void ff_node_exit(int code) __attribute__((noreturn));

#endif
