/* dbfront: the only writer of stored game data (DESIGN §6). This node runs under master,
 * listens on its rootport and answers status; the store itself arrives with the dbfront
 * issue. */
#include "bus.h"
#include "log.h"
#include "node.h"

static uv_tcp_t listener;

static void
peer_msg_cb(ff_link_t *l, const ff_bus_msg_t *m)
{
    (void)l;
    ff_log(FF_LOG_WARN, "unexpected bus frame kind %d", m->kind);
}

static void
peer_up_cb(ff_link_t *l)
{
    (void)l;
}

static void
peer_down_cb(ff_link_t *l, int status)
{
    (void)l;
    (void)status;
}

static const ff_link_cbs_t peer_cbs = {peer_msg_cb, peer_up_cb, peer_down_cb};

static void
accept_cb(ff_link_t *l, void *arg)
{
    (void)arg;
    ff_link_set(l, &peer_cbs, NULL);
}

static int
dbf_start(void)
{
    int rc = ff_bus_listen(ff_loop, &listener, ff_self->host, ff_self->rootport, accept_cb, NULL);

    if (rc < 0) {
        ff_log(FF_LOG_ERROR, "cannot listen on %s:%d: %s", ff_self->host, ff_self->rootport,
               uv_strerror(rc));
        return -1;
    }
    ff_node_ready();
    return 0;
}

static void
dbf_stop(void)
{
    ff_node_exit(0);
}

int
main(int argc, char **argv)
{
    static const ff_node_ops_t ops = {dbf_start, dbf_stop, NULL, NULL};
    return ff_node_main(argc, argv, FF_ROLE_DBFRONT, &ops);
}
