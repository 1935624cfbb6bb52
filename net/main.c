/* net: the client-facing node. Listens for Firefly clients on netport, forwards their
 * requests to gate and writes replies (in request order) and pushes back (docs/net.md). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <unistd.h>

#include "conn.h"
#include "gatelink.h"
#include "log.h"
#include "node.h"

#define LISTEN_BACKLOG 1024
/* After the stop deadline, how long the last replies get to reach their clients. */
#define STOP_GRACE_MS 500
/* Allocations at least this big get a mapping of their own (see main). */
#define MMAP_THRESHOLD (128 * 1024)

static uv_tcp_t listener;
static uv_timer_t idle_timer, stop_timer;

/* Out of descriptors and the like: says it at most once a second. */
static void
accept_warn(int err)
{
    static uint64_t last_warn_ms;

    if (last_warn_ms != 0 && ff_node_now() - last_warn_ms < 1000)
        return;
    last_warn_ms = ff_node_now();
    ff_log(FF_LOG_WARN, "accept: %s (%zu client connections open); new clients are closed",
           uv_strerror(err), net_conn_count());
}

static void
listen_cb(uv_stream_t *server, int status)
{
    if (status < 0) {
        accept_warn(status);
        return;
    }
    net_conn_accept(server);
}

/* libuv sheds the clients it cannot accept for lack of descriptors by itself (it keeps a
 * spare one for that) and then does not call listen_cb, so net would never say so. Once a
 * second, try to take one descriptor: when that fails, accept fails too. */
static void
fd_probe(void)
{
    uv_os_fd_t lfd;
    int fd, err;

    if (uv_fileno((uv_handle_t *)&listener, &lfd) != 0)
        return;
    fd = fcntl(lfd, F_DUPFD_CLOEXEC, 0);
    err = errno;
    if (fd >= 0)
        close(fd);
    else if (err == EMFILE || err == ENFILE)
        accept_warn(uv_translate_sys_error(err));
}

static int
net_listen(void)
{
    struct sockaddr_storage addr;
    int rc;

    if (uv_ip4_addr(ff_self->host, ff_self->netport, (struct sockaddr_in *)&addr) != 0 &&
        uv_ip6_addr(ff_self->host, ff_self->netport, (struct sockaddr_in6 *)&addr) != 0) {
        ff_log(FF_LOG_ERROR, "servers.%s.host: not a numeric address: %s", ff_self->name,
               ff_self->host);
        return -1;
    }
    uv_tcp_init(ff_loop, &listener);
    rc = uv_tcp_bind(&listener, (struct sockaddr *)&addr, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&listener, LISTEN_BACKLOG, listen_cb);
    if (rc < 0) {
        ff_log(FF_LOG_ERROR, "cannot listen on %s:%d: %s", ff_self->host, ff_self->netport,
               uv_strerror(rc));
        return -1;
    }
    return 0;
}

static void
idle_timer_cb(uv_timer_t *t)
{
    (void)t;
    net_conn_sweep_idle();
    net_conn_report_refused();
    fd_probe();
}

static int
net_start(void)
{
    net_conn_configure(ff_conf, ff_self->name);
    if (net_gate_start() < 0 || net_listen() < 0)
        return -1;
    uv_timer_init(ff_loop, &idle_timer);
    uv_timer_start(&idle_timer, idle_timer_cb, 1000, 1000);
    uv_timer_init(ff_loop, &stop_timer);
    ff_log(FF_LOG_INFO, "listening for clients on %s:%d", ff_self->host, ff_self->netport);
    ff_node_ready();
    return 0;
}

static void
all_closed_cb(void)
{
    ff_log(FF_LOG_INFO, "stop: every client connection is closed");
    ff_node_exit(0);
}

static void
grace_over_cb(uv_timer_t *t)
{
    (void)t;
    ff_log(FF_LOG_WARN, "stop: %zu client connections still open; exiting", net_conn_count());
    ff_node_exit(0);
}

/* The stop deadline: requests still in flight get a 503 reply, then the connections have
 * a short grace to take their output before the process exits regardless. */
static void
stop_deadline_cb(uv_timer_t *t)
{
    ff_log(FF_LOG_WARN, "stop: %" PRIu64 " requests still pending after %d ms; failing them",
           net_conn_pending(), ff_conf->cluster.request_timeout_ms + 1000);
    net_conn_fail_all();
    uv_timer_start(t, grace_over_cb, STOP_GRACE_MS, 0);
}

static void
net_stop(void)
{
    uv_close((uv_handle_t *)&listener, NULL);
    uv_timer_start(&stop_timer, stop_deadline_cb,
                   (uint64_t)ff_conf->cluster.request_timeout_ms + 1000, 0);
    ff_log(FF_LOG_INFO, "stop: %zu client connections, %" PRIu64 " requests in flight",
           net_conn_count(), net_conn_pending());
    net_conn_drain(all_closed_cb);
}

static void
net_reload(void)
{
    net_conn_configure(ff_conf, ff_self->name);
    ff_log(FF_LOG_INFO,
           "reload: maxPipeline %d, maxOutputBuffer %" PRIu32 ", idleTimeout %d s, "
           "maxRequestsPerSecond %d, maxConnectionsPerIp %d",
           ff_conf->cluster.max_pipeline, ff_conf->cluster.max_output,
           ff_conf->cluster.idle_timeout_s, ff_conf->netconnect.max_requests_per_s,
           ff_conf->netconnect.max_conns_per_ip);
}

static void
net_status(json_t *out)
{
    json_object_set_new(out, "connections", json_integer((json_int_t)net_conn_count()));
    json_object_set_new(out, "gate", json_boolean(net_gate_up()));
    json_object_set_new(out, "requests", json_integer((json_int_t)net_conn_requests()));
    json_object_set_new(out, "pending", json_integer((json_int_t)net_conn_pending()));
    json_object_set_new(out, "refused", json_integer((json_int_t)net_conn_refused()));
    json_object_set_new(out, "overRate", json_integer((json_int_t)net_conn_over_rate()));
}

static const ff_node_ops_t ops = {net_start, net_stop, net_reload, net_status};

int
main(int argc, char **argv)
{
#ifdef __GLIBC__
    /* A client's replies pile up in buffers of megabytes, freed when it goes. glibc would
     * raise its mmap threshold to the size of the first such buffer freed and from then on
     * keep them in the heap, where freed memory mostly stays with the process: a fixed
     * threshold gives each large buffer its own mapping, returned to the system on free. */
    mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD);
#endif
    return ff_node_main(argc, argv, FF_ROLE_NET, &ops);
}
