/* gate: the router node. Listens on its rootport for net and game nodes, hosts its own app
 * for local commands (e.g. login), and routes everything else (see router.c). */
#include <stdio.h>

#include "absent.h"
#include "apphost.h"
#include "bus.h"
#include "log.h"
#include "node.h"
#include "router.h"
#include "store.h"

static uv_tcp_t listener;
static uv_timer_t stop_timer;
static uint64_t stop_deadline;

static void
local_respond(void *origin, uint64_t conn, uint32_t rseq, int status, const void *body, size_t len)
{
    (void)origin;
    gate_router_complete(conn, rseq, status, body, len);
}

/* ff_session_bind/unbind bind to the calling node; gate's own app is not a node that
 * sessions are routed to, so they do nothing here (ff_session_bind_group does). */
static void
local_session(uint64_t conn, bool bound)
{
    (void)conn;
    (void)bound;
}

static const ff_apphost_ops_t local_ops = {local_respond, gate_router_push, local_session,
                                           gate_router_bind_group};

static int
load_app(void)
{
    char err[512];

    if (ff_self->app == NULL)
        return 0;
    if (ff_apphost_load(ff_self->app, err, sizeof(err)) < 0) {
        ff_log(FF_LOG_ERROR, "app: %s", err);
        return -1;
    }
    return 0;
}

static int
gate_start(void)
{
    int rc;

    ff_apphost_init(ff_self->name, &local_ops);
    gate_router_init(ff_conf->cluster.request_timeout_ms);
    rc = ff_store_start();
    if (rc < 0) {
        ff_log(FF_LOG_ERROR, "store: cannot start: %s", uv_strerror(rc));
        return -1;
    }
    if (load_app() < 0)
        return -1;
    rc = ff_bus_listen(ff_loop, &listener, ff_self->host, ff_self->rootport, gate_router_accept,
                       NULL);
    if (rc < 0) {
        ff_log(FF_LOG_ERROR, "cannot listen on %s:%d: %s", ff_self->host, ff_self->rootport,
               uv_strerror(rc));
        return -1;
    }
    ff_node_ready();
    return 0;
}

static void
gate_exit(void)
{
    /* First, so that replies from the store callbacks it completes are still routed. */
    ff_store_stop();
    gate_router_close();
    ff_apphost_close();
    ff_node_exit(0);
}

/* Stops once the requests in flight have completed (nets stop before gate, so no new ones
 * arrive), or at the request timeout. */
static void
stop_check_cb(uv_timer_t *t)
{
    if (gate_router_inflight() == 0 || uv_now(t->loop) >= stop_deadline)
        gate_exit();
}

static void
gate_stop(void)
{
    uv_close((uv_handle_t *)&listener, NULL);
    stop_deadline = uv_now(ff_loop) + (uint64_t)ff_conf->cluster.request_timeout_ms;
    uv_timer_init(ff_loop, &stop_timer);
    uv_timer_start(&stop_timer, stop_check_cb, 0, 10);
}

static void
gate_reload(void)
{
    gate_absent_prune(ff_conf);
    load_app();
}

static void
gate_status(json_t *out)
{
    gate_router_status(out);
    json_object_set_new(out, "handled", json_integer((json_int_t)ff_apphost_handled()));
    ff_store_status(out);
}

int
main(int argc, char **argv)
{
    static const ff_node_ops_t ops = {gate_start, gate_stop, gate_reload, gate_status};
    return ff_node_main(argc, argv, FF_ROLE_GATE, &ops);
}
