/* super: master's supervisor. Keeps one node per `servers` entry, in config order: forks
 * it, binds its control link when it says HELLO, restarts it with backoff when it dies
 * unexpectedly (and gives up after cluster.maxRestarts in cluster.restartWindow), stops the
 * whole cluster in role order (net, gate, game, dbfront), and applies a reloaded config.
 * Everything runs on master's one loop. */
#ifndef MASTER_SUPER_H
#define MASTER_SUPER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "bus.h"
#include "conf.h"

typedef enum {
    SUPER_STARTING,   /* forked; not ready yet (HELLO within cluster.startTimeout) */
    SUPER_RUNNING,    /* said "ready" on its control link */
    SUPER_STOPPING,   /* told to stop (NOTIFY stop or SIGTERM), not exited yet */
    SUPER_STOPPED,    /* exited after being told to stop */
    SUPER_RESTARTING, /* exited unexpectedly; waiting out the backoff */
    SUPER_FAILED,     /* restarted too often; left alone */
} super_state_t;

/* A snapshot of one node for /status; strings are borrowed until the loop runs again. */
typedef struct {
    const char *name;
    ff_role_t role;
    super_state_t state;
    pid_t pid;             /* 0 when no process */
    int restarts;          /* restarts since master started it (or a reload re-created it) */
    uint64_t uptime_ms;    /* of the current process; 0 when none */
    ff_link_t *link;       /* the control link, NULL when not connected */
    const char *last_exit; /* "exit status 1", "signal 9 (Killed)"; "" when none yet */
} super_info_t;

/* Called when every node has exited after super_stop_all. */
typedef void (*super_done_cb)(void *arg);
/* Outcome of super_reload: status 0 with the result object {"reloaded":true,"started":[..],
 * "stopped":[..]} (the callee owns it), or UV_ECANCELED (result NULL) when a stop began
 * before this reload could be applied. */
typedef void (*super_reload_cb)(void *arg, int status, json_t *result);

/* Takes ownership of conf; exe_dir is where the role binaries are, conf_path the absolute
 * path handed to children. on_stopped runs once, after the last super_stop_all waiter, when
 * the stop is complete. Installs the SIGCHLD handler. Returns 0 or a libuv error. */
int super_init(uv_loop_t *loop, ff_conf_t *conf, const char *exe_dir, const char *conf_path,
               const void *secret, size_t secret_len, super_done_cb on_stopped, void *arg);
/* Forks every server of the config, in config order. */
void super_start(void);
/* The current config (replaced by a successful super_reload). */
const ff_conf_t *super_conf(void);
/* Begins (or joins) the graceful stop of the cluster: nodes are stopped role by role, net ->
 * gate -> game -> dbfront, each role once the previous one has exited; a node that has not
 * exited cluster.requestTimeout + 5 s after being told gets SIGKILL. Nothing is restarted
 * after this, except dbfront: one that is down is started again at once (and again if it
 * dies before it has reported), and told to stop once running, so that its log reaches
 * MariaDB; it gets what is left of cluster.stopTimeout, plus 5 s before SIGKILL. cb (may be
 * NULL) runs once when all have exited, possibly before this returns if none are left. */
void super_stop_all(super_done_cb cb, void *arg);
/* Once the stop has ended: NULL when every write dbfront acknowledged is in MariaDB, else
 * {"stopped":true,"unflushed":N,"log":"<dir>"} (N null when dbfront could not tell),
 * borrowed until super_free. */
const json_t *super_stop_result(void);
/* dbfront's NOTIFY "stopped" on control link l ({"unflushed":N,"log":dir}, its last words).
 * Returns 0, or -1 when l is no dbfront's or body is not a JSON object. */
int super_report(ff_link_t *l, const void *body, size_t len);
/* True once super_stop_all has been called. */
bool super_stopping(void);
/* Applies conf (taken over on every path): removed servers are stopped gracefully, changed
 * ones (role, host, rootport or netport) are stopped and started again, added ones are
 * started, failed ones are given a fresh start, and every running node that remains gets
 * NOTIFY reload. cb runs once every node this stopped has exited; reloads queue behind each
 * other. Returns 0, or UV_ECANCELED (cb never runs) once a stop has begun. */
int super_reload(ff_conf_t *conf, super_reload_cb cb, void *arg);
/* Binds a control link after its HELLO. Returns 0, or -1 with the reason in why (unknown
 * name, not the name the link authenticated as, wrong role, or a PID or token that is not
 * the one master started under that name). A node stays "starting" until super_ready. */
int super_bind(ff_link_t *l, const char *name, const char *role, int64_t pid, const uint8_t *token,
               size_t token_len, char *why, size_t whylen);
/* The node bound to l said "ready": it is running. Returns 0, or -1 for an unbound link. */
int super_ready(ff_link_t *l);
/* Forgets a control link that went down. */
void super_unbind(ff_link_t *l);
/* The number of nodes, and a snapshot of node i (0 <= i < count), in config order with nodes
 * being removed last. */
size_t super_count(void);
void super_info(size_t i, super_info_t *out);
/* "starting", "running", "stopping", "stopped", "restarting" or "failed". */
const char *super_state_name(super_state_t state);
/* Closes every handle and frees every node and the config; for the end of main. */
void super_free(void);

#endif
