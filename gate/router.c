/* router: how gate moves requests, responses and pushes between net and game nodes.
 *
 * A request from net goes to gate's own app when it handles the command, else to the game
 * node group that registered the command: to the node the session is bound to, or to the
 * least-loaded node (fewest requests in flight). Frames are forwarded byte for byte. Every
 * request is tracked until it completes, so that a node's death or the request timeout
 * completes it with an error reply at once. A command whose nodes are all down (master
 * restarts them) is answered 503 "restarting" rather than 404 (absent.c). */
#include "router.h"

#include <stdio.h>
#include <stdlib.h>

#include "absent.h"
#include "alloc.h"
#include "apphost.h"
#include "firefly/app.h"
#include "list.h"
#include "log.h"
#include "map.h"
#include "node.h"

typedef struct peer_s {
    ff_link_t *link;
    char name[64];   /* after its HELLO: the name it authenticated as */
    uint16_t net_id; /* a net's: the top 16 bits of its conn ids */
    bool is_net, is_game;
    bool draining; /* stopping: gets no new requests, may still answer */
    uint32_t *cmds;
    size_t ncmds;
    size_t inflight, bound;
    ff_list_t pending; /* inflight_t.by_node, for a game node */
    ff_list_t all;     /* in `peers` */
} peer_t;

typedef struct {
    peer_t **nodes;
    size_t n, next;
} route_t;

typedef struct {
    uint64_t conn;
    peer_t *net;
    peer_t **bound;
    size_t nbound;
    ff_list_t pending; /* inflight_t.by_sess, in request order */
} session_t;

typedef struct {
    uint32_t rseq;
    uint32_t cmd;
    session_t *sess;
    peer_t *node; /* NULL: gate's own app */
    uint64_t deadline;
    ff_list_t by_sess, by_node, by_time;
} inflight_t;

static ff_list_t peers;
static ff_map_t routes;   /* cmd + 1 -> route_t */
static ff_map_t sessions; /* conn -> session_t */
static ff_list_t by_time; /* inflight_t.by_time, oldest first (one timeout for all) */
static size_t ninflight;
static int timeout_ms;
static uv_timer_t sweep;

static void
inflight_free(inflight_t *f)
{
    ff_list_remove(&f->by_sess);
    ff_list_remove(&f->by_node);
    ff_list_remove(&f->by_time);
    if (f->node)
        f->node->inflight--;
    ninflight--;
    ff_free(f);
}

/* Sends an error reply for f to its client and forgets f. */
static void
inflight_fail(inflight_t *f, int code, const char *msg)
{
    ff_buf_t *b = f->sess->net ? ff_link_out(f->sess->net->link) : NULL;

    if (b != NULL)
        ff_bus_put_error(b, f->sess->conn, f->rseq, code, msg);
    inflight_free(f);
}

static void
sweep_cb(uv_timer_t *t)
{
    uint64_t now = uv_now(t->loop);
    char msg[160];

    while (!ff_list_empty(&by_time)) {
        inflight_t *f = ff_container_of(by_time.next, inflight_t, by_time);
        if (f->deadline > now)
            break;
        snprintf(msg, sizeof(msg), "command %u: no reply from %s within %d ms", f->cmd,
                 f->node ? f->node->name : "gate", timeout_ms);
        ff_log(FF_LOG_WARN, "conn %llu: %s", (unsigned long long)f->sess->conn, msg);
        inflight_fail(f, FF_ERR_TIMEOUT, msg);
    }
}

void
gate_router_init(int request_timeout_ms)
{
    ff_list_init(&peers);
    ff_list_init(&by_time);
    timeout_ms = request_timeout_ms;
    uv_timer_init(ff_loop, &sweep);
    uv_timer_start(&sweep, sweep_cb, 50, 50);
    uv_unref((uv_handle_t *)&sweep);
}

/* ---- peers and routes -------------------------------------------------------------- */

static void
routes_clear(void)
{
    for (size_t i = 0; routes.slots && i <= routes.mask; i++) {
        route_t *r = routes.slots[i].value;
        if (routes.slots[i].key) {
            ff_free(r->nodes);
            ff_free(r);
        }
    }
    ff_map_clear(&routes);
}

static void
routes_rebuild(void)
{
    routes_clear();
    for (ff_list_t *n = peers.next; n != &peers; n = n->next) {
        peer_t *p = ff_container_of(n, peer_t, all);
        for (size_t i = 0; p->is_game && !p->draining && ff_link_up(p->link) && i < p->ncmds; i++) {
            route_t *r = ff_map_get(&routes, (uint64_t)p->cmds[i] + 1);
            if (r == NULL) {
                r = ff_calloc(1, sizeof(*r));
                ff_map_set(&routes, (uint64_t)p->cmds[i] + 1, r);
            }
            r->nodes = ff_realloc(r->nodes, (r->n + 1) * sizeof(*r->nodes));
            r->nodes[r->n++] = p;
        }
    }
}

static peer_t *
peer_by_name(const char *name)
{
    for (ff_list_t *n = peers.next; n != &peers; n = n->next) {
        peer_t *p = ff_container_of(n, peer_t, all);
        if (strcmp(p->name, name) == 0)
            return p;
    }
    return NULL;
}

/* Why a HELLO cannot register p, or NULL: it must name the node it authenticated as, a net
 * or game server of the config in its role, whose name no other link holds. */
static const char *
hello_refusal(const peer_t *p, const ff_bus_msg_t *m, const char *name)
{
    const ff_conf_server_t *srv = ff_conf_server(ff_conf, name);
    const peer_t *other = peer_by_name(name);

    if (!ff_str_eq(m->name, name))
        return "its HELLO names another node than it authenticated as";
    if (srv == NULL || (srv->role != FF_ROLE_NET && srv->role != FF_ROLE_GAME))
        return "no net or game server of that name in the config";
    if (!ff_str_eq(m->role, ff_conf_role_name(srv->role)))
        return "its HELLO gives another role than the config";
    if (other != NULL && other != p)
        return "a node of that name is already linked";
    if (p->name[0] != '\0' && strcmp(p->name, name) != 0)
        return "a second HELLO under another name";
    return NULL;
}

static void peer_drop(peer_t *p, const char *why);

/* The config's `app` of a game node, or NULL. */
static const char *
node_app(const char *name)
{
    const ff_conf_server_t *srv = ff_conf_server(ff_conf, name);
    return srv != NULL ? srv->app : NULL;
}

/* Lists the commands of p that `has` says another handler has, up to a few, into buf;
 * returns how many there are. */
static size_t
shared_cmds(const peer_t *p, bool (*has)(const void *, uint32_t), const void *other, char *buf,
            size_t len)
{
    size_t count = 0, used = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < p->ncmds; i++) {
        if (!has(other, p->cmds[i]))
            continue;
        if (count < 5 && used < len)
            used += (size_t)snprintf(buf + used, len - used, "%s%u", count ? ", " : "", p->cmds[i]);
        else if (count == 5 && used < len)
            used += (size_t)snprintf(buf + used, len - used, ", ...");
        count++;
    }
    return count;
}

static bool
peer_has(const void *peer, uint32_t cmd)
{
    const peer_t *q = peer;

    for (size_t i = 0; i < q->ncmds; i++)
        if (q->cmds[i] == cmd)
            return true;
    return false;
}

static bool
local_has(const void *unused, uint32_t cmd)
{
    (void)unused;
    return ff_apphost_handles(cmd);
}

/* A game node that registers commands another app handles: gate's own (which keeps them),
 * or another game node's with a different `app` in the config (gate then spreads them over
 * both as if they were one group). Nodes of one app share commands by design. One WARN per
 * pair of nodes, naming both. */
static void
warn_conflicts(const peer_t *p)
{
    const char *app = node_app(p->name), *qapp;
    char list[96];
    size_t n;

    if ((n = shared_cmds(p, local_has, NULL, list, sizeof(list))) > 0)
        ff_log(FF_LOG_WARN,
               "node %s (app %s) registers %zu command(s) that gate's own app handles (%s): gate "
               "keeps them, %s never gets them",
               p->name, app, n, list, p->name);
    for (ff_list_t *e = peers.next; e != &peers; e = e->next) {
        const peer_t *q = ff_container_of(e, peer_t, all);
        if (q == p || !q->is_game || q->name[0] == '\0')
            continue;
        qapp = node_app(q->name);
        if (app != NULL && qapp != NULL && strcmp(app, qapp) == 0)
            continue;
        if ((n = shared_cmds(p, peer_has, q, list, sizeof(list))) > 0)
            ff_log(FF_LOG_WARN,
                   "node %s (app %s) registers %zu command(s) that node %s (app %s) also "
                   "handles (%s): two different apps, and gate sends each request to either",
                   p->name, app, n, q->name, qapp, list);
    }
}

static void
on_hello(ff_link_t *l, const ff_bus_msg_t *m)
{
    peer_t *p = ff_link_data(l);
    const char *name = ff_link_peer(l), *why = hello_refusal(p, m, name);
    ff_mp_reader_t r = m->list;

    if (why != NULL) {
        peer_drop(p, why);
        return;
    }
    snprintf(p->name, sizeof(p->name), "%s", name);
    p->is_net = ff_str_eq(m->role, "net");
    p->is_game = ff_str_eq(m->role, "game");
    p->net_id = p->is_net ? ff_conf_net_id(name) : 0;
    p->cmds = ff_realloc(p->cmds, (m->nlist + 1) * sizeof(*p->cmds));
    p->ncmds = 0;
    for (uint32_t i = 0; i < m->nlist; i++) {
        uint64_t cmd;
        if (ff_mp_get_uint(&r, &cmd) == 0 && cmd <= UINT32_MAX)
            p->cmds[p->ncmds++] = (uint32_t)cmd;
    }
    ff_log(FF_LOG_INFO, "%s %s registered (%zu commands)", p->is_net ? "net" : "node", p->name,
           p->ncmds);
    if (p->is_game) {
        gate_absent_remove(p->name);
        warn_conflicts(p);
    }
    routes_rebuild();
}

/* ---- sessions ---------------------------------------------------------------------- */

static session_t *
session_get(uint64_t conn, peer_t *net)
{
    session_t *s = ff_map_get(&sessions, conn);

    if (s == NULL && net != NULL) {
        s = ff_calloc(1, sizeof(*s));
        s->conn = conn;
        ff_list_init(&s->pending);
        ff_map_set(&sessions, conn, s);
    }
    if (s != NULL && net != NULL)
        s->net = net;
    return s;
}

static void
session_unbind(session_t *s, peer_t *node)
{
    for (size_t i = 0; i < s->nbound; i++) {
        if (s->bound[i] == node) {
            s->bound[i] = s->bound[--s->nbound];
            node->bound--;
            return;
        }
    }
}

static void
session_free(session_t *s)
{
    while (!ff_list_empty(&s->pending))
        inflight_free(ff_container_of(s->pending.next, inflight_t, by_sess));
    while (s->nbound > 0)
        session_unbind(s, s->bound[0]);
    ff_map_del(&sessions, s->conn);
    ff_free(s->bound);
    ff_free(s);
}

/* Tells every game node and gate's own app that a client connection is gone. */
static void
broadcast_conn_lost(uint64_t conn)
{
    for (ff_list_t *n = peers.next; n != &peers; n = n->next) {
        peer_t *p = ff_container_of(n, peer_t, all);
        ff_buf_t *b = p->is_game ? ff_link_out(p->link) : NULL;
        if (b != NULL)
            ff_bus_put_conn_lost(b, conn);
    }
    ff_apphost_conn_lost(conn);
}

/* ---- requests ---------------------------------------------------------------------- */

/* The node for a request: the session's bound node in the group, else the one with the
 * fewest requests in flight (then the fewest bound sessions), rotating among equals. */
static peer_t *
route_pick(route_t *r, const session_t *s)
{
    peer_t *best = NULL;

    for (size_t i = 0; i < s->nbound; i++)
        for (size_t k = 0; k < r->n; k++)
            if (r->nodes[k] == s->bound[i])
                return r->nodes[k];
    for (size_t k = 0; k < r->n; k++) {
        peer_t *p = r->nodes[(r->next + k) % r->n];
        if (best == NULL || p->inflight < best->inflight ||
            (p->inflight == best->inflight && p->bound < best->bound))
            best = p;
    }
    r->next++;
    return best;
}

static inflight_t *
inflight_new(session_t *s, const ff_bus_msg_t *m, peer_t *node)
{
    inflight_t *f = ff_malloc(sizeof(*f));

    f->rseq = m->seq;
    f->cmd = m->cmd;
    f->sess = s;
    f->node = node;
    f->deadline = uv_now(ff_loop) + (uint64_t)timeout_ms;
    ff_list_push(&s->pending, &f->by_sess);
    ff_list_init(&f->by_node);
    if (node != NULL) {
        ff_list_push(&node->pending, &f->by_node);
        node->inflight++;
    }
    ff_list_push(&by_time, &f->by_time);
    ninflight++;
    return f;
}

/* A command no linked node handles: 503 when its node is down (restarting), else 404. */
static void
no_route(peer_t *net, const ff_bus_msg_t *m)
{
    const char *down = gate_absent_node(m->cmd);
    char msg[160];

    if (down != NULL)
        snprintf(msg, sizeof(msg), "command %u: node %s is restarting", m->cmd, down);
    else
        snprintf(msg, sizeof(msg), "no handler for command %u", m->cmd);
    ff_bus_put_error(ff_link_out(net->link), m->conn, m->seq,
                     down ? FF_ERR_UNAVAILABLE : FF_ERR_NO_HANDLER, msg);
}

static void
on_request(peer_t *net, const ff_bus_msg_t *m)
{
    session_t *s = session_get(m->conn, net);
    route_t *r;
    peer_t *node;

    if (ff_apphost_handles(m->cmd)) {
        inflight_new(s, m, NULL);
        ff_apphost_dispatch(NULL, m->conn, m->seq, m->cmd, m->body, m->body_len);
        return;
    }
    r = ff_map_get(&routes, (uint64_t)m->cmd + 1);
    if (r == NULL) {
        no_route(net, m);
        return;
    }
    node = route_pick(r, s);
    inflight_new(s, m, node);
    ff_buf_put(ff_link_out(node->link), m->frame, m->frame_len);
}

/* The pending request (conn, rseq), or NULL when it already completed or timed out. */
static inflight_t *
inflight_find(uint64_t conn, uint32_t rseq)
{
    session_t *s = ff_map_get(&sessions, conn);

    for (ff_list_t *n = s ? s->pending.next : NULL; n && n != &s->pending; n = n->next) {
        inflight_t *f = ff_container_of(n, inflight_t, by_sess);
        if (f->rseq == rseq)
            return f;
    }
    return NULL;
}

static void
on_response(peer_t *node, const ff_bus_msg_t *m)
{
    inflight_t *f = inflight_find(m->conn, m->seq);
    ff_buf_t *b;

    if (f == NULL || f->node != node)
        return;
    b = f->sess->net ? ff_link_out(f->sess->net->link) : NULL;
    if (b != NULL)
        ff_buf_put(b, m->frame, m->frame_len);
    inflight_free(f);
}

void
gate_router_complete(uint64_t conn, uint32_t rseq, int status, const void *body, size_t len)
{
    inflight_t *f = inflight_find(conn, rseq);
    ff_buf_t *b;

    if (f == NULL || f->node != NULL)
        return;
    b = f->sess->net ? ff_link_out(f->sess->net->link) : NULL;
    if (b != NULL)
        ff_bus_put_response(b, conn, rseq, status, body, len);
    inflight_free(f);
}

size_t
gate_router_inflight(void)
{
    return ninflight;
}

/* ---- pushes, connection loss, binding ---------------------------------------------- */

void
gate_router_push(const uint64_t *conns, size_t n, uint32_t cmd, const void *body, size_t len)
{
    uint64_t *to = ff_malloc(n * sizeof(*to));

    /* One PUSH frame per net node, listing the connections it holds. */
    for (ff_list_t *pn = peers.next; pn != &peers; pn = pn->next) {
        peer_t *net = ff_container_of(pn, peer_t, all);
        size_t k = 0;
        for (size_t i = 0; net->is_net && i < n; i++) {
            session_t *s = ff_map_get(&sessions, conns[i]);
            if (s != NULL && s->net == net)
                to[k++] = conns[i];
        }
        if (k > 0 && ff_link_up(net->link))
            ff_bus_put_push(ff_link_out(net->link), to, k, cmd, body, len);
    }
    ff_free(to);
}

/* A push from a game node: forwarded as is when every connection sits on one net node. */
static void
on_push(const ff_bus_msg_t *m)
{
    ff_mp_reader_t r = m->list;
    uint64_t *conns = ff_malloc((m->nlist + 1) * sizeof(*conns));
    peer_t *net = NULL;
    bool one_net = true;
    size_t n = 0;

    for (uint32_t i = 0; i < m->nlist && ff_mp_get_uint(&r, &conns[n]) == 0; i++) {
        session_t *s = ff_map_get(&sessions, conns[n]);
        if (s == NULL || s->net == NULL)
            continue;
        one_net = one_net && (net == NULL || net == s->net);
        net = s->net;
        n++;
    }
    if (n == m->nlist && one_net && net != NULL)
        ff_buf_put(ff_link_out(net->link), m->frame, m->frame_len);
    else if (n > 0)
        gate_router_push(conns, n, m->cmd, m->body, m->body_len);
    ff_free(conns);
}

/* The net that holds conn ids with this prefix, if it is linked. */
static peer_t *
net_by_id(uint16_t id)
{
    for (ff_list_t *n = peers.next; n != &peers; n = n->next) {
        peer_t *p = ff_container_of(n, peer_t, all);
        if (p->is_net && p->net_id == id)
            return p;
    }
    return NULL;
}

/* LIVE from a net (after its HELLO): the connections it holds, so that a gate that came back
 * knows them before they send anything. From a game node (after a relink): the connections
 * its app knows; those gone while it was away get their CONN_LOST now. A connection whose
 * net is not linked cannot be judged and is left alone. */
static void
on_live(peer_t *p, const ff_bus_msg_t *m)
{
    ff_mp_reader_t r = m->list;
    ff_buf_t *b = ff_link_out(p->link);
    uint64_t conn;
    size_t lost = 0;

    for (uint32_t i = 0; i < m->nlist && ff_mp_get_uint(&r, &conn) == 0; i++) {
        if (p->is_net) {
            if ((uint16_t)(conn >> 48) == p->net_id && conn != 0)
                session_get(conn, p);
        } else if (ff_map_get(&sessions, conn) == NULL && net_by_id((uint16_t)(conn >> 48))) {
            ff_bus_put_conn_lost(b, conn);
            lost++;
        }
    }
    if (lost > 0)
        ff_log(FF_LOG_INFO, "node %s: %zu of the connections it knows were lost while it was away",
               p->name, lost);
}

static void
on_conn_lost(const ff_bus_msg_t *m)
{
    session_t *s = ff_map_get(&sessions, m->conn);

    if (s != NULL)
        session_free(s);
    broadcast_conn_lost(m->conn);
}

static void
on_session(peer_t *node, const ff_bus_msg_t *m)
{
    session_t *s = ff_map_get(&sessions, m->conn);

    if (s == NULL)
        return;
    session_unbind(s, node);
    if (m->status) {
        s->bound = ff_realloc(s->bound, (s->nbound + 1) * sizeof(*s->bound));
        s->bound[s->nbound++] = node;
        node->bound++;
    }
}

/* "drain": a stopping node asks for no new requests. The reply follows every request
 * already routed to it on the same link, so once it has the reply it knows that what it
 * has received is all it will get. */
static void
on_call(peer_t *p, const ff_bus_msg_t *m)
{
    static const char ok[] = "{}";
    int status = 0;

    if (ff_str_eq(m->method, "drain")) {
        p->draining = true;
        routes_rebuild();
        ff_log(FF_LOG_INFO, "node %s is draining", p->name);
    } else {
        status = UV_ENOSYS;
    }
    ff_bus_put_reply(ff_link_out(p->link), m->seq, status, ok, sizeof(ok) - 1);
}

const char *
gate_router_bind_group(uint64_t conn, uint32_t cmd)
{
    route_t *r = ff_map_get(&routes, (uint64_t)cmd + 1);
    session_t *s = ff_map_get(&sessions, conn);
    peer_t *best = NULL;

    if (r == NULL || s == NULL)
        return NULL;
    for (size_t k = 0; k < r->n; k++)
        session_unbind(s, r->nodes[k]);
    for (size_t k = 0; k < r->n; k++) {
        peer_t *p = r->nodes[(r->next + k) % r->n];
        if (best == NULL || p->bound < best->bound)
            best = p;
    }
    r->next++;
    s->bound = ff_realloc(s->bound, (s->nbound + 1) * sizeof(*s->bound));
    s->bound[s->nbound++] = best;
    best->bound++;
    return best->name;
}

/* ---- links ------------------------------------------------------------------------- */

/* What each role may send after its HELLO (net: requests and its connections' fate; game:
 * answers, pushes, bindings, calls); HELLO itself comes first and may be repeated. */
static bool
kind_allowed(const peer_t *p, int kind)
{
    if (kind == FF_BUS_HELLO)
        return true;
    if (p->is_net)
        return kind == FF_BUS_REQUEST || kind == FF_BUS_CONN_LOST || kind == FF_BUS_LIVE;
    if (p->is_game)
        return kind == FF_BUS_RESPONSE || kind == FF_BUS_PUSH || kind == FF_BUS_SESSION ||
               kind == FF_BUS_CALL || kind == FF_BUS_LIVE;
    return false;
}

static void
peer_msg_cb(ff_link_t *l, const ff_bus_msg_t *m)
{
    peer_t *p = ff_link_data(l);
    char why[64];

    if (!kind_allowed(p, m->kind)) {
        snprintf(why, sizeof(why), "a frame of kind %d %s", m->kind,
                 p->name[0] ? "not of its role" : "before HELLO");
        peer_drop(p, why);
        return;
    }
    switch (m->kind) {
    case FF_BUS_HELLO:
        on_hello(l, m);
        break;
    case FF_BUS_REQUEST:
        on_request(p, m);
        break;
    case FF_BUS_RESPONSE:
        on_response(p, m);
        break;
    case FF_BUS_PUSH:
        on_push(m);
        break;
    case FF_BUS_CONN_LOST:
        on_conn_lost(m);
        break;
    case FF_BUS_SESSION:
        on_session(p, m);
        break;
    case FF_BUS_CALL:
        on_call(p, m);
        break;
    case FF_BUS_LIVE:
        on_live(p, m);
        break;
    }
}

/* A game node is gone: its requests fail now and its sessions are unbound. */
static void
game_down(peer_t *p)
{
    char msg[128];

    snprintf(msg, sizeof(msg), "node %s is unavailable", p->name);
    while (!ff_list_empty(&p->pending))
        inflight_fail(ff_container_of(p->pending.next, inflight_t, by_node), FF_ERR_UNAVAILABLE,
                      msg);
    for (size_t i = 0; sessions.slots && i <= sessions.mask; i++)
        if (sessions.slots[i].key)
            session_unbind(sessions.slots[i].value, p);
}

/* A net node is gone, and with it every client connection it held. */
static void
net_down(peer_t *p)
{
    size_t i = 0;

    while (sessions.slots && i <= sessions.mask) {
        session_t *s = sessions.slots[i].value;
        if (sessions.slots[i].key && s->net == p) {
            uint64_t conn = s->conn;
            session_free(s); /* backward-shift deletion may refill slot i: look again */
            broadcast_conn_lost(conn);
            continue;
        }
        i++;
    }
}

/* The peer's link is gone: a game node's requests fail and its sessions are unbound, a
 * net's connections are lost; then p is freed. */
static void
peer_gone(peer_t *p)
{
    const ff_conf_server_t *srv = p->is_game ? ff_conf_server(ff_conf, p->name) : NULL;

    /* A draining node was told to stop; any other game node of the config comes back. */
    if (srv != NULL && srv->role == FF_ROLE_GAME && !p->draining)
        gate_absent_add(p->name, p->cmds, p->ncmds);
    if (p->is_game)
        game_down(p);
    else if (p->is_net)
        net_down(p);
    ff_list_remove(&p->all);
    routes_rebuild();
    ff_free(p->cmds);
    ff_free(p);
}

/* Closes a peer that broke the protocol, with one WARN; inside on_msg too. */
static void
peer_drop(peer_t *p, const char *why)
{
    ff_link_t *l = p->link;

    ff_log(FF_LOG_WARN, "peer %s (%s): %s; closing", ff_link_peer(l), ff_link_addr(l), why);
    peer_gone(p);
    ff_link_free(l);
}

static void
peer_down_cb(ff_link_t *l, int status)
{
    peer_t *p = ff_link_data(l);

    ff_log(p->is_game || p->is_net ? FF_LOG_WARN : FF_LOG_INFO, "%s %s disconnected: %s",
           p->is_net ? "net" : "node", p->name[0] ? p->name : ff_link_peer(l), uv_strerror(status));
    peer_gone(p);
}

static void
peer_up_cb(ff_link_t *l)
{
    (void)l;
}

static const ff_link_cbs_t peer_cbs = {peer_msg_cb, peer_up_cb, peer_down_cb};

void
gate_router_accept(ff_link_t *l, void *arg)
{
    peer_t *p = ff_calloc(1, sizeof(*p));

    (void)arg;
    p->link = l;
    ff_list_init(&p->pending);
    ff_list_push(&peers, &p->all);
    ff_link_set(l, &peer_cbs, p);
}

void
gate_router_status(json_t *out)
{
    json_t *names = json_array(), *nodes = json_array();

    for (ff_list_t *n = peers.next; n != &peers; n = n->next) {
        peer_t *p = ff_container_of(n, peer_t, all);
        if (p->name[0])
            json_array_append_new(names, json_string(p->name));
        if (p->is_game)
            json_array_append_new(nodes, json_pack("{s:s,s:I,s:I,s:I}", "name", p->name, "inflight",
                                                   (json_int_t)p->inflight, "sessions",
                                                   (json_int_t)p->bound, "commands",
                                                   (json_int_t)p->ncmds));
    }
    json_object_set_new(out, "peers", names);
    json_object_set_new(out, "nodes", nodes);
    json_object_set_new(out, "sessions", json_integer((json_int_t)sessions.count));
    json_object_set_new(out, "inflight", json_integer((json_int_t)ninflight));
}

void
gate_router_close(void)
{
    while (sessions.count > 0)
        for (size_t i = 0; i <= sessions.mask; i++)
            if (sessions.slots[i].key) {
                session_free(sessions.slots[i].value);
                break;
            }
    ff_map_clear(&sessions);
    routes_clear();
    gate_absent_clear();
    while (!ff_list_empty(&peers)) {
        peer_t *p = ff_container_of(peers.next, peer_t, all);
        ff_list_remove(&p->all);
        ff_link_free(p->link);
        ff_free(p->cmds);
        ff_free(p);
    }
}
