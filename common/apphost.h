/* apphost: hosts a game app .so inside a node (game, or gate for its local commands):
 * loading with an ABI check, hot replacement on /reload, dispatch per command id, and the
 * framework-side state apps use (sessions, channels, timers) that survives a reload.
 *
 * Reload: the new library is copied to a private file and dlopen'ed beside the old one;
 * new requests go to the new code while the old library stays loaded until its last
 * in-flight request and timer are done, then its fini runs and it is unloaded. */
#ifndef FF_APPHOST_H
#define FF_APPHOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "firefly/app.h"

/* How replies, pushes and session changes leave the node. Run on the loop thread. */
typedef struct {
    /* Completes a request: status FF_BUS_OK/NOREPLY/ERROR with a body (copied by callee). */
    void (*respond)(void *origin, uint64_t conn, uint32_t rseq, int status, const void *body,
                    size_t len);
    void (*push)(const uint64_t *conns, size_t n, uint32_t cmd, const void *body, size_t len);
    void (*session)(uint64_t conn, bool bound);
    /* ff_session_bind_group: the node bound, or NULL. */
    const char *(*bind_group)(uint64_t conn, uint32_t cmd);
} ff_apphost_ops_t;

/* Sets the node's name and output ops; call once before loading. */
void ff_apphost_init(const char *node_name, const ff_apphost_ops_t *ops);
/* Loads `path` and makes it the current app (the previous one drains, then unloads).
 * Returns 0, or -1 with a message in err (the previous app stays current). */
int ff_apphost_load(const char *path, char *err, size_t errlen);
/* True when a current app handles cmd. */
bool ff_apphost_handles(uint32_t cmd);
/* The current app's command ids (borrowed, valid until the next load); *n = count. */
const uint32_t *ff_apphost_commands(size_t *n);
/* Calls the handler for cmd (the caller checked ff_apphost_handles). `origin` is passed back
 * to ops->respond. The body is copied. */
void ff_apphost_dispatch(void *origin, uint64_t conn, uint32_t rseq, uint32_t cmd,
                         const uint8_t *body, size_t len);
/* The connection is gone: session and channel membership dropped, the app's hook called. */
void ff_apphost_conn_lost(uint64_t conn);
/* Requests dispatched and not completed yet. */
size_t ff_apphost_inflight(void);
/* Requests dispatched since start. */
uint64_t ff_apphost_handled(void);
/* Sessions with state on this node. */
size_t ff_apphost_sessions(void);
/* Every connection this node knows (session values or channel membership), each once, in a
 * new array (free with ff_free; NULL when none); *n gets the count. */
uint64_t *ff_apphost_known_conns(size_t *n);
/* Keeps the module whose code is running now (the caller of an asynchronous API, or the
 * current one) loaded until ff_apphost_release; returns it. */
ff_app_t *ff_apphost_retain(void);
/* Runs fn(arg) as code of module m, so that what it starts belongs to m. */
void ff_apphost_call(ff_app_t *m, void (*fn)(void *), void *arg);
/* Drops a reference taken by ff_apphost_retain (the module may be unloaded now). */
void ff_apphost_release(ff_app_t *m);
/* Unloads every library (fini first) and drops all state, requests the app never answered
 * included (they are freed without a reply); for exit. */
void ff_apphost_close(void);

#endif
