/* root: the control links' listener and the HELLO handshake on master's side. Every inbound
 * link is tracked so that root_close can free the ones still open at exit; bus.c frees an
 * inbound link itself right after its on_down. */
#include "root.h"

#include <unistd.h>

#include "alloc.h"
#include "bus.h"
#include "list.h"
#include "log.h"
#include "super.h"

typedef struct {
    ff_list_t node;
    ff_link_t *link;
    char *name; /* after a valid HELLO */
} root_link_t;

static uv_tcp_t root_server;
static bool root_listening;
static ff_list_t root_links = {&root_links, &root_links};

static void
root_drop(ff_link_t *l, root_link_t *rl)
{
    ff_list_remove(&rl->node);
    super_unbind(l);
    ff_free(rl->name);
    ff_free(rl);
    /* Safe inside on_msg: bus.c stops delivering frames of a freed link. */
    ff_link_free(l);
}

/* Binds the link to the node its HELLO names. Only the name the link authenticated as is
 * ever logged: the HELLO's own strings are the peer's bytes. */
static void
root_hello(ff_link_t *l, root_link_t *rl, const ff_bus_msg_t *m)
{
    const char *name = ff_link_peer(l), *role = NULL;
    char why[256] = "its HELLO names another node or an unknown role";

    for (int r = FF_ROLE_GATE; r <= FF_ROLE_DBFRONT; r++)
        if (ff_str_eq(m->role, ff_conf_role_name((ff_role_t)r)))
            role = ff_conf_role_name((ff_role_t)r);
    if (!ff_str_eq(m->name, name) || role == NULL ||
        super_bind(l, name, role, m->pid, m->token, m->token_len, why, sizeof(why)) < 0) {
        ff_log(FF_LOG_WARN, "refusing control link from %s (pid %lld, %s): %s", name,
               (long long)m->pid, ff_link_addr(l), why);
        root_drop(l, rl);
        return;
    }
    rl->name = ff_strdup(name);
}

/* A node's control link carries HELLO, then "ready", the replies to master's calls (which
 * bus.c takes) and, from dbfront, "stopped"; anything else is not a node of this cluster
 * behaving. */
static void
root_msg_cb(ff_link_t *l, const ff_bus_msg_t *m)
{
    root_link_t *rl = ff_link_data(l);

    if (m->kind == FF_BUS_HELLO && rl->name == NULL) {
        root_hello(l, rl, m);
    } else if (m->kind == FF_BUS_NOTIFY && rl->name != NULL && ff_str_eq(m->method, "ready")) {
        super_ready(l);
    } else if (m->kind == FF_BUS_NOTIFY && rl->name != NULL && ff_str_eq(m->method, "stopped") &&
               super_report(l, m->body, m->body_len) == 0) {
        /* dbfront's last words: what its stop left out of MariaDB */
    } else {
        ff_log(FF_LOG_WARN, "control link from %s (%s): unexpected frame of kind %d; closing",
               rl->name ? rl->name : ff_link_peer(l), ff_link_addr(l), m->kind);
        root_drop(l, rl);
    }
}

static void
root_up_cb(ff_link_t *l)
{
    ff_buf_t *b = ff_link_out(l);

    if (b != NULL)
        ff_bus_put_hello(b, "master", "master", (int)getpid(), NULL, 0, NULL);
}

static void
root_down_cb(ff_link_t *l, int status)
{
    root_link_t *rl = ff_link_data(l);

    ff_log(FF_LOG_DEBUG, "control link of %s closed: %s", rl->name ? rl->name : "?",
           uv_strerror(status));
    ff_list_remove(&rl->node);
    ff_free(rl->name);
    ff_free(rl);
    super_unbind(l); /* last: it may end the stop */
}

static const ff_link_cbs_t root_cbs = {root_msg_cb, root_up_cb, root_down_cb};

static void
root_accept_cb(ff_link_t *l, void *arg)
{
    root_link_t *rl = ff_calloc(1, sizeof(*rl));

    (void)arg;
    rl->link = l;
    ff_list_push(&root_links, &rl->node);
    ff_link_set(l, &root_cbs, rl);
}

int
root_start(uv_loop_t *loop, const char *host, int port)
{
    int rc = ff_bus_listen(loop, &root_server, host, port, root_accept_cb, NULL);

    /* ff_bus_listen may fail before or after initialising the handle; only after does it
     * need closing, which is the case once it set the handle's loop. */
    root_listening = root_server.loop != NULL;
    return rc;
}

void
root_close(void)
{
    while (!ff_list_empty(&root_links)) {
        root_link_t *rl = ff_container_of(root_links.next, root_link_t, node);
        ff_list_remove(&rl->node);
        super_unbind(rl->link);
        ff_link_free(rl->link);
        ff_free(rl->name);
        ff_free(rl);
    }
    if (root_listening) {
        uv_close((uv_handle_t *)&root_server, NULL);
        root_listening = false;
    }
}
