/* gatelink: net's outbound bus link to gate: HELLO on connect, RESPONSE and PUSH frames to
 * the client connections, every pending request failed with 503 when the link drops. */
#include "gatelink.h"

#include <inttypes.h>
#include <unistd.h>

#include "alloc.h"
#include "bus.h"
#include "conn.h"
#include "log.h"
#include "node.h"

static ff_link_t *gate;
static const char *gate_name;

static void
gate_push(const ff_bus_msg_t *m)
{
    ff_mp_reader_t r = m->list;
    uint64_t id;

    for (uint32_t i = 0; i < m->nlist; i++) {
        if (ff_mp_get_uint(&r, &id) < 0)
            return;
        net_conn_push(id, m->cmd, m->body, m->body_len);
    }
}

static void
gate_msg_cb(ff_link_t *l, const ff_bus_msg_t *m)
{
    (void)l;
    if (m->kind == FF_BUS_RESPONSE)
        net_conn_respond(m->conn, m->seq, m->status, m->body, m->body_len);
    else if (m->kind == FF_BUS_PUSH)
        gate_push(m);
}

/* HELLO, then LIVE with every open connection: a gate that restarted learns where they are
 * before they send anything (pushes to them work again at once). */
static void
gate_up_cb(ff_link_t *l)
{
    size_t n;
    uint64_t *ids = net_conn_ids(&n);

    ff_log(FF_LOG_INFO, "connected to gate %s", gate_name);
    ff_bus_put_hello(ff_link_out(l), ff_self->name, ff_conf_role_name(FF_ROLE_NET), (int)getpid(),
                     NULL, 0, NULL);
    if (n > 0)
        ff_bus_put_live(ff_link_out(l), ids, n);
    ff_free(ids);
}

static void
gate_down_cb(ff_link_t *l, int status)
{
    (void)l;
    ff_log(FF_LOG_WARN, "lost the link to gate %s: %s; failing %" PRIu64 " pending requests",
           gate_name, uv_strerror(status), net_conn_pending());
    net_conn_fail_all();
}

static const ff_link_cbs_t gate_cbs = {gate_msg_cb, gate_up_cb, gate_down_cb};

int
net_gate_start(void)
{
    for (int i = 0; i < ff_self->nremotes; i++) {
        const ff_conf_remote_t *r = &ff_self->remotes[i];
        const ff_conf_server_t *srv = ff_conf_server(ff_conf, r->rootname);
        if (srv == NULL || srv->role != FF_ROLE_GATE)
            continue;
        gate_name = srv->name;
        gate = ff_link_connect(ff_loop, r->roothost, r->rootport, srv->name, &gate_cbs, NULL);
        return 0;
    }
    ff_log(FF_LOG_ERROR, "servers.%s.remoteport names no gate server", ff_self->name);
    return -1;
}

ff_buf_t *
net_gate_out(void)
{
    return gate != NULL ? ff_link_out(gate) : NULL;
}

bool
net_gate_up(void)
{
    return gate != NULL && ff_link_up(gate);
}
