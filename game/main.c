/* game: runs game logic. Loads the app .so named by `app`, registers its commands with gate
 * over the bus, runs handlers for the requests gate routes here, and swaps in a rebuilt app
 * on /reload without failing requests in flight (the old library finishes them). */
#include <stdio.h>
#include <unistd.h>

#include "alloc.h"
#include "apphost.h"
#include "bus.h"
#include "log.h"
#include "node.h"
#include "store.h"

static ff_link_t *gate;
static uv_timer_t stop_timer;
static uint64_t stop_deadline;

static ff_buf_t *
gate_out(void)
{
    return gate ? ff_link_out(gate) : NULL;
}

static void
send_hello(void)
{
    size_t n;
    const uint32_t *cmds = ff_apphost_commands(&n);
    ff_buf_t *b = gate_out();

    if (b != NULL)
        ff_bus_put_hello(b, ff_self->name, "game", (int)getpid(), cmds, n, NULL);
}

/* A reply whose link to gate is down is dropped: gate has already failed the request. */
static void
game_respond(void *origin, uint64_t conn, uint32_t rseq, int status, const void *body, size_t len)
{
    ff_buf_t *b = gate_out();

    (void)origin;
    if (b != NULL)
        ff_bus_put_response(b, conn, rseq, status, body, len);
}

static void
game_push(const uint64_t *conns, size_t n, uint32_t cmd, const void *body, size_t len)
{
    ff_buf_t *b = gate_out();
    if (b != NULL)
        ff_bus_put_push(b, conns, n, cmd, body, len);
}

static void
game_session(uint64_t conn, bool bound)
{
    ff_buf_t *b = gate_out();
    if (b != NULL)
        ff_bus_put_session(b, conn, bound);
}

/* On a game node, the group's least-loaded node is this one as far as the app can tell. */
static const char *
game_bind_group(uint64_t conn, uint32_t cmd)
{
    (void)cmd;
    game_session(conn, true);
    return ff_self->name;
}

static const ff_apphost_ops_t game_ops = {game_respond, game_push, game_session, game_bind_group};

static void
gate_msg_cb(ff_link_t *l, const ff_bus_msg_t *m)
{
    char msg[64];

    if (m->kind == FF_BUS_REQUEST) {
        if (ff_apphost_handles(m->cmd)) {
            ff_apphost_dispatch(NULL, m->conn, m->seq, m->cmd, m->body, m->body_len);
        } else {
            /* Possible for a moment after a reload dropped the command. */
            snprintf(msg, sizeof(msg), "no handler for command %u", m->cmd);
            ff_bus_put_error(ff_link_out(l), m->conn, m->seq, FF_ERR_NO_HANDLER, msg);
        }
    } else if (m->kind == FF_BUS_CONN_LOST) {
        ff_apphost_conn_lost(m->conn);
    }
}

/* After a relink: the connections the app knows, so that gate reports those lost while
 * the link was down (their CONN_LOST could not reach this node then). */
static void
send_live(ff_link_t *l)
{
    size_t n;
    uint64_t *conns = ff_apphost_known_conns(&n);

    if (n > 0)
        ff_bus_put_live(ff_link_out(l), conns, n);
    ff_free(conns);
}

static void
gate_up_cb(ff_link_t *l)
{
    ff_log(FF_LOG_INFO, "connected to gate");
    send_hello();
    send_live(l);
}

static void
gate_down_cb(ff_link_t *l, int status)
{
    (void)l;
    ff_log(FF_LOG_WARN, "lost the link to gate: %s; reconnecting", uv_strerror(status));
}

static const ff_link_cbs_t gate_cbs = {gate_msg_cb, gate_up_cb, gate_down_cb};

static const ff_conf_remote_t *
gate_remote(void)
{
    for (int i = 0; i < ff_self->nremotes; i++) {
        const ff_conf_server_t *s = ff_conf_server(ff_conf, ff_self->remotes[i].rootname);
        if (s != NULL && s->role == FF_ROLE_GATE)
            return &ff_self->remotes[i];
    }
    return NULL;
}

static int
game_start(void)
{
    const ff_conf_remote_t *r = gate_remote();
    char err[512];
    int rc;

    ff_apphost_init(ff_self->name, &game_ops);
    rc = ff_store_start();
    if (rc < 0) {
        ff_log(FF_LOG_ERROR, "store: cannot start: %s", uv_strerror(rc));
        return -1;
    }
    if (ff_apphost_load(ff_self->app, err, sizeof(err)) < 0) {
        ff_log(FF_LOG_ERROR, "app: %s", err);
        return -1;
    }
    gate = ff_link_connect(ff_loop, r->roothost, r->rootport, r->rootname, &gate_cbs, NULL);
    ff_node_ready();
    return 0;
}

static void
game_exit(void)
{
    /* First, so that replies from the store callbacks it completes still reach gate. */
    ff_store_stop();
    ff_link_free(gate);
    gate = NULL;
    ff_apphost_close();
    ff_node_exit(0);
}

/* Gate stops before game nodes, so nothing new arrives; finish what is in flight. */
static void
stop_check_cb(uv_timer_t *t)
{
    if (ff_apphost_inflight() == 0 || uv_now(t->loop) >= stop_deadline)
        game_exit();
}

/* Gate has stopped routing to this node (or is gone): finish what is in flight. */
static void
drained_cb(void *arg, int status, const char *result, size_t len)
{
    (void)arg;
    (void)result;
    (void)len;
    if (status < 0)
        ff_log(FF_LOG_WARN, "drain: %s; finishing what is in flight", uv_strerror(status));
    uv_timer_start(&stop_timer, stop_check_cb, 0, 10);
}

static void
game_stop(void)
{
    int timeout = ff_conf->cluster.request_timeout_ms;

    stop_deadline = uv_now(ff_loop) + 2 * (uint64_t)timeout;
    uv_timer_init(ff_loop, &stop_timer);
    if (ff_link_call(gate, "drain", "{}", timeout, drained_cb, NULL) < 0)
        uv_timer_start(&stop_timer, stop_check_cb, 0, 10);
}

static void
game_reload(void)
{
    char err[512];

    if (ff_apphost_load(ff_self->app, err, sizeof(err)) < 0) {
        ff_log(FF_LOG_ERROR, "reload: %s; keeping the running app", err);
        return;
    }
    send_hello();
}

static void
game_status(json_t *out)
{
    json_object_set_new(out, "app", json_string(ff_self->app));
    json_object_set_new(out, "gate", json_boolean(gate && ff_link_up(gate)));
    json_object_set_new(out, "inflight", json_integer((json_int_t)ff_apphost_inflight()));
    json_object_set_new(out, "handled", json_integer((json_int_t)ff_apphost_handled()));
    json_object_set_new(out, "sessions", json_integer((json_int_t)ff_apphost_sessions()));
    ff_store_status(out);
}

int
main(int argc, char **argv)
{
    static const ff_node_ops_t ops = {game_start, game_stop, game_reload, game_status};
    return ff_node_main(argc, argv, FF_ROLE_GAME, &ops);
}
