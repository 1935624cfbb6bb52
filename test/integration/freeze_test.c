/* freeze_test: a node that hangs (kill -STOP) is found dead by the bus heartbeat, not by the
 * request timeout (DESIGN §5 "Heartbeats"). One cluster: gate, net, game1 and game2 (tapp),
 * and a game node `chat` (apps/chat), with cluster.heartbeat 250 ms and requestTimeout 60 s.
 * (a) game1 frozen with a bound session's requests in flight (slow ones sent before the
 * STOP, echo and whoami pipelined after it): every one is answered, 503 for those game1
 * held, within 4 heartbeats + 250 ms of the STOP; then every request is answered by game2;
 * after SIGCONT game1 is a peer of gate again (same PID: master did not restart it) and
 * answers requests. (b) gate frozen: net answers every pending request 503 "gate
 * unavailable" within the same bound, and new ones at once; after SIGCONT net relinks and
 * the same connection is served again. (c) ghost members: a chat member disconnects while
 * the chat node is frozen and gate has declared its link dead; after SIGCONT the node's LIVE
 * makes gate report the lost connection, and the other member gets "alice left". (d)
 * /status: every link of gate and of net shows its heartbeat round trip (rtt_ms). A frozen
 * node always gets SIGCONT again before the cluster is stopped, whatever failed. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "alloc.h"
#include "chat/chat_proto.h"
#include "harness.h"
#include "tapp/tapp_proto.h"

static const char config[] =
    "{\"master\":{\"rootport\":@ROOTPORT@,\"webport\":@WEBPORT@,\"log\":\"@DIR@/master.log\"},"
    " \"servers\":{"
    "  \"gate\":{\"rootport\":@GATEPORT@,\"log\":\"@DIR@/gate.log\"},"
    "  \"net\":{\"netport\":@NETPORT@,\"log\":\"@DIR@/net.log\","
    "   \"remoteport\":[{\"rootname\":\"gate\",\"rootport\":@GATEPORT@}]},"
    "  \"game1\":{\"app\":\"@REPO@/build/test/apps/libtapp.so\",\"log\":\"@DIR@/game1.log\","
    "   \"remoteport\":[{\"rootname\":\"gate\",\"rootport\":@GATEPORT@}]},"
    "  \"game2\":{\"app\":\"@REPO@/build/test/apps/libtapp.so\",\"log\":\"@DIR@/game2.log\","
    "   \"remoteport\":[{\"rootname\":\"gate\",\"rootport\":@GATEPORT@}]},"
    "  \"chat\":{\"role\":\"game\",\"app\":\"@REPO@/build/apps/libchat.so\","
    "   \"log\":\"@DIR@/chat.log\","
    "   \"remoteport\":[{\"rootname\":\"gate\",\"rootport\":@GATEPORT@}]}},"
    " \"cluster\":{\"requestTimeout\":60000,\"heartbeat\":250}}";

#define HB_MS 250
/* A link is declared dead when nothing came for 3 heartbeats; the check runs every quarter
 * heartbeat, and the last frame from the frozen peer arrived before the STOP, so the death
 * is noticed at most 3¼ heartbeats after it. The error replies then take one bus hop or two
 * on loopback: allow 4 heartbeats plus 250 ms for scheduling (1250 ms, far below the 60 s
 * requestTimeout, which therefore cannot be what answers them). */
#define BOUND_MS (4 * HB_MS + 250)
#define CALL_MS 5000
#define WAIT_MS 10000
/* Requests in flight at the STOP: cmd 8 sleeping 3 s, beyond the bound, so that within it
 * only the link's death can answer them. Not cmd 9 (never answered): the thawed node still
 * runs the handlers it had received, and its graceful stop waits for them (up to
 * 2 x requestTimeout, two minutes here). */
#define NSLOW 3
#define SLOW_BODY "3000"
#define NPIPE 40  /* requests pipelined right after the STOP */
#define NAFTER 20 /* requests after the death, all for game2 */
#define MAX_TRIES 40
#define DEAD "the link is dead"

/* ---- freezing ---------------------------------------------------------------------- */

static pid_t frozen; /* the node stopped now, 0 when none */

static void
freeze(const char *name, pid_t pid)
{
    TH_EQ_INT(kill(pid, SIGSTOP), 0, "kill -STOP %s (pid %d)", name, (int)pid);
    frozen = pid;
}

/* SIGCONT for the frozen node; a no-op when none is. Also called before the stop. */
static void
thaw(void)
{
    if (frozen <= 0)
        return;
    TH_EQ_INT(kill(frozen, SIGCONT), 0, "kill -CONT pid %d", (int)frozen);
    frozen = 0;
}

/* ---- /status and logs -------------------------------------------------------------- */

/* Integer figure `key` of node `name` in /status, or -1. */
static long long
figure(th_cluster_t *c, const char *name, const char *key)
{
    json_t *st = th_cluster_status(c);
    json_t *v = json_object_get(th_status_node(st, name), key);
    long long n = json_is_integer(v) ? json_integer_value(v) : -1;

    json_decref(st);
    return n;
}

/* The requests gate has in flight to game node `name` (gate's "nodes" list), or -1. */
static long long
gate_inflight_to(th_cluster_t *c, const char *name)
{
    json_t *st = th_cluster_status(c), *n;
    long long rc = -1;
    size_t i;

    json_array_foreach(json_object_get(th_status_node(st, "gate"), "nodes"), i, n)
    {
        if (json_is_string(json_object_get(n, "name")) &&
            strcmp(json_string_value(json_object_get(n, "name")), name) == 0)
            rc = json_integer_value(json_object_get(n, "inflight"));
    }
    json_decref(st);
    return rc;
}

/* Whether gate's "peers" in /status lists `name`; -1 when gate did not answer. */
static int
gate_has_peer(th_cluster_t *c, const char *name)
{
    json_t *st = th_cluster_status(c), *peers, *p;
    int rc;
    size_t i;

    peers = json_object_get(th_status_node(st, "gate"), "peers");
    rc = json_is_array(peers) ? 0 : -1;
    json_array_foreach(peers, i, p)
    {
        if (json_is_string(p) && strcmp(json_string_value(p), name) == 0)
            rc = 1;
    }
    json_decref(st);
    return rc;
}

/* The lines of DIR/NAME.log that contain both a and b. */
static int
log_count2(th_cluster_t *c, const char *name, const char *a, const char *b)
{
    char path[4200], *line = NULL;
    size_t cap = 0;
    int n = 0;
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s.log", th_cluster_dir(c), name);
    if ((f = fopen(path, "r")) == NULL)
        return 0;
    while (getline(&line, &cap, f) >= 0)
        n += strstr(line, a) != NULL && strstr(line, b) != NULL;
    free(line);
    fclose(f);
    return n;
}

typedef struct {
    th_cluster_t *c;
    const char *name; /* a node */
    const char *what; /* a figure, a peer of gate, a log needle */
    long long want;
} cond_t;

static bool
inflight_cb(void *arg)
{
    cond_t *a = arg;
    return gate_inflight_to(a->c, a->name) >= a->want;
}

static bool
peer_cb(void *arg)
{
    cond_t *a = arg;
    return gate_has_peer(a->c, a->name) == a->want;
}

static bool
figure_cb(void *arg)
{
    cond_t *a = arg;
    return figure(a->c, a->name, a->what) == a->want;
}

/* net's "gate" in /status is a->want (1: linked, 0: not). */
static bool
net_gate_cb(void *arg)
{
    cond_t *a = arg;
    json_t *st = th_cluster_status(a->c);
    json_t *g = json_object_get(th_status_node(st, "net"), "gate");
    bool ok = json_is_boolean(g) && json_is_true(g) == (a->want != 0);

    json_decref(st);
    return ok;
}

/* The log of node a->what has a->want lines saying that its link to a->name is dead. */
static bool
dead_logged_cb(void *arg)
{
    cond_t *a = arg;
    char peer[80];

    snprintf(peer, sizeof(peer), "bus: %s (", a->name);
    return log_count2(a->c, a->what, peer, DEAD) >= a->want;
}

/* ---- requests ---------------------------------------------------------------------- */

/* The "node" of a whoami reply (a new string), or NULL for any other body. */
static char *
reply_node(const ffc_msg_t *m)
{
    json_t *j = json_loadb((const char *)m->body, m->len, 0, NULL);
    const char *n = json_string_value(json_object_get(j, "node"));
    char *rc = n != NULL ? ff_strdup(n) : NULL;

    json_decref(j);
    return rc;
}

/* Sends cmd (whoami or bind) and returns the answering node (a new string), or NULL. */
static char *
call_node(ffc_t *cl, uint32_t cmd)
{
    ffc_msg_t m = {0};
    char *node = NULL;

    if (ffc_call(cl, cmd, NULL, 0, &m, CALL_MS) == 0)
        node = reply_node(&m);
    if (node == NULL)
        th_diag("cmd %u answered %s", cmd, m.body ? (const char *)m.body : "nothing");
    ffc_msg_free(&m);
    return node;
}

/* Whether cmd on cl is answered by node `want`. */
static bool
answered_by(ffc_t *cl, uint32_t cmd, const char *want)
{
    char *node = call_node(cl, cmd);
    bool ok = node != NULL && strcmp(node, want) == 0;

    ff_free(node);
    return ok;
}

/* A new connection whose session is bound (cmd 10) to `want`, or NULL after MAX_TRIES. */
static ffc_t *
connect_bound_to(th_cluster_t *c, const char *want)
{
    ffc_t *cl;

    for (int i = 0; i < MAX_TRIES; i++) {
        if ((cl = th_connect(c)) == NULL)
            return NULL;
        if (answered_by(cl, TAPP_BIND, want))
            return cl;
        ffc_close(cl);
    }
    return NULL;
}

/* An echo round trip on cl. */
static bool
echo_ok(ffc_t *cl, const char *body)
{
    ffc_msg_t m = {0};
    bool ok = ffc_call(cl, TAPP_ECHO, body, strlen(body), &m, CALL_MS) == 0 &&
              m.len == strlen(body) && memcmp(m.body, body, m.len) == 0;

    if (!ok)
        th_diag("echo \"%s\" answered %s", body, m.body ? (const char *)m.body : "nothing");
    ffc_msg_free(&m);
    return ok;
}

/* Sends n requests with no wait: even i echo "p-i", odd i whoami. Returns how many went. */
static int
send_pipeline(ffc_t *cl, int n)
{
    char body[32];
    int i, rc = 0;

    for (i = 0; i < n && rc == 0; i++) {
        snprintf(body, sizeof(body), "p-%d", i);
        rc = i % 2 == 0 ? ffc_send(cl, TAPP_ECHO, body, strlen(body))
                        : ffc_send(cl, TAPP_WHOAMI, NULL, 0);
    }
    return rc == 0 ? i : i - 1;
}

typedef struct {
    int got, err503, answered, wrong;
    bool gate_msg; /* every 503 said "gate unavailable" */
    long long last_ms;
} tally_t;

/* Reply i of the pipeline, answered rather than failed: its echo body, or a whoami by a node
 * that can answer (not the frozen `frozen_name`). */
static bool
answer_ok(int i, const ffc_msg_t *m, const char *frozen_name)
{
    char want[32], *node;
    bool ok;

    if (i % 2 == 0) {
        snprintf(want, sizeof(want), "p-%d", i);
        return m->cmd == TAPP_ECHO && m->len == strlen(want) && memcmp(m->body, want, m->len) == 0;
    }
    node = reply_node(m);
    ok = m->cmd == TAPP_WHOAMI && node != NULL && strcmp(node, frozen_name) != 0;
    ff_free(node);
    return ok;
}

/* Reads the NSLOW slow replies, then npipe pipeline replies, and counts them. */
static void
collect(ffc_t *cl, int npipe, const char *frozen_name, tally_t *t)
{
    ffc_msg_t m = {0};
    int i, code;

    memset(t, 0, sizeof(*t));
    t->gate_msg = true;
    for (i = 0; i < NSLOW + npipe && ffc_recv(cl, &m, CALL_MS) == 0; i++) {
        t->last_ms = th_now_ms();
        t->got++;
        code = th_error_code(m.body, m.len);
        t->err503 += code == 503;
        if (code == 503 && strstr((const char *)m.body, "gate unavailable") == NULL)
            t->gate_msg = false;
        if (code == 0 && i >= NSLOW && answer_ok(i - NSLOW, &m, frozen_name))
            t->answered++;
        else if (code != 503 && t->wrong++ < 5)
            th_diag("reply %d: cmd %u %s", i, m.cmd, (const char *)m.body);
        ffc_msg_free(&m);
    }
}

static void
send_slow(ffc_t *cl)
{
    int i, rc = 0;

    for (i = 0; i < NSLOW && rc == 0; i++)
        rc = ffc_send(cl, TAPP_SLEEP, SLOW_BODY, strlen(SLOW_BODY));
    TH_EQ_INT(rc, 0, "%d slow requests (cmd 8, %s ms) sent", NSLOW, SLOW_BODY);
}

/* ---- (a) a frozen game node -------------------------------------------------------- */

/* After game1's death: requests on the old connection and a new binding go to game2. */
static void
served_by_game2(th_cluster_t *c, ffc_t *cl)
{
    cond_t gone = {c, "game1", NULL, 0};
    int i, n2 = 0;
    ffc_t *cl2;

    TH_EQ_INT(th_wait(peer_cb, &gone, WAIT_MS), 0, "(a) gate no longer lists game1 as a peer");
    for (i = 0; i < NAFTER; i++)
        n2 += answered_by(cl, TAPP_WHOAMI, "game2");
    TH_EQ_INT(n2, NAFTER, "(a) %d whoami on the unbound connection all answered by game2", NAFTER);
    cl2 = th_connect(c);
    th_ok(cl2 != NULL && answered_by(cl2, TAPP_BIND, "game2"), "(a) a new session binds to game2");
    ffc_close(cl2);
}

/* game1's count of requests it ran, from /status; -1 when unknown. */
static long long
game1_handled(th_cluster_t *c)
{
    json_t *st = th_cluster_status(c);
    json_t *h = json_object_get(th_status_node(st, "game1"), "handled");
    long long n = json_is_integer(h) ? json_integer_value(h) : -1;

    json_decref(st);
    return n;
}

/* After SIGCONT: game1 relinks, keeps its PID, and is routed to again. The requests that
 * reached its socket while it was stopped were answered 503 by gate: it must drop them, not
 * run them late (a 503 for a dead node means "not run"). */
static void
game1_back(th_cluster_t *c, ffc_t *cl, pid_t pid, long long handled)
{
    cond_t back = {c, "game1", NULL, 1};
    int i;
    bool seen = false;

    TH_EQ_INT(th_wait(peer_cb, &back, WAIT_MS), 0, "(a) gate lists game1 again after SIGCONT");
    TH_EQ_INT(game1_handled(c), handled,
              "(a) game1 ran none of the requests that waited in its socket while stopped");
    for (i = 0; i < MAX_TRIES && !seen; i++)
        seen = answered_by(cl, TAPP_WHOAMI, "game1");
    th_ok(seen, "(a) a whoami is answered by game1 again (after %d tries)", i);
    TH_EQ_INT(th_node_pid(c, "game1"), pid, "(a) game1 kept its PID: master did not restart it");
}

static void
test_game_freeze(th_cluster_t *c)
{
    pid_t pid = th_node_pid(c, "game1");
    ffc_t *cl = connect_bound_to(c, "game1");
    cond_t held = {c, "game1", NULL, NSLOW}, dead = {c, "game1", "gate", 1};
    long long t0, handled;
    tally_t t;

    if (!th_ok(pid > 0 && cl != NULL, "(a) game1 has a PID (%d) and a session bound to it",
               (int)pid)) {
        ffc_close(cl);
        return;
    }
    send_slow(cl);
    TH_EQ_INT(th_wait(inflight_cb, &held, WAIT_MS), 0,
              "(a) gate has %d requests in flight to game1", NSLOW);
    handled = game1_handled(c);
    freeze("game1", pid);
    t0 = th_now_ms();
    TH_EQ_INT(send_pipeline(cl, NPIPE), NPIPE, "(a) %d requests pipelined after the STOP", NPIPE);
    collect(cl, NPIPE, "game1", &t);
    TH_EQ_INT(t.got, NSLOW + NPIPE, "(a) every pending request got a reply");
    TH_EQ_INT(t.err503 + t.answered, t.got, "(a) each reply is error 503 or game2's answer");
    th_ok(t.err503 >= NSLOW, "(a) the requests game1 held got 503 (%d of %d replies)", t.err503,
          t.got);
    th_ok(t.last_ms - t0 <= BOUND_MS, "(a) all answered %lld ms after the STOP (<= %d ms)",
          t.last_ms - t0, BOUND_MS);
    TH_EQ_INT(th_wait(dead_logged_cb, &dead, WAIT_MS), 0, "(a) gate.log: game1's link is dead");
    served_by_game2(c, cl);
    thaw();
    game1_back(c, cl, pid, handled);
    ffc_close(cl);
}

/* ---- (b) a frozen gate ------------------------------------------------------------- */

/* While gate is down for net: a new request is answered 503 at once. */
static void
refused_at_once(ffc_t *cl)
{
    long long t0 = th_now_ms();
    ffc_msg_t m = {0};
    int rc = ffc_call(cl, TAPP_ECHO, "x", 1, &m, CALL_MS);

    TH_EQ_INT(rc, 0, "(b) a request while gate is frozen is answered");
    TH_EQ_INT(th_error_code(m.body, m.len), 503, "(b) ... with 503 (%s)",
              m.body ? (const char *)m.body : "nothing");
    th_ok(th_now_ms() - t0 < HB_MS, "(b) ... at once (%lld ms)", th_now_ms() - t0);
    ffc_msg_free(&m);
}

/* After SIGCONT: the cluster is whole again and gate kept its PID. */
static void
gate_back(th_cluster_t *c, ffc_t *cl, pid_t pid)
{
    cond_t up = {c, NULL, NULL, 1};
    ffc_t *cl2;

    TH_EQ_INT(th_wait(net_gate_cb, &up, WAIT_MS), 0, "(b) net relinked: \"gate\": true again");
    TH_EQ_INT(th_cluster_wait_ready(c, WAIT_MS), 0,
              "(b) gate lists every node again (cluster ready)");
    TH_EQ_INT(th_node_pid(c, "gate"), pid, "(b) gate kept its PID: master did not restart it");
    th_ok(echo_ok(cl, "after the freeze"), "(b) the old connection is served again");
    cl2 = th_connect(c);
    th_ok(cl2 != NULL && echo_ok(cl2, "new"), "(b) a new connection is served");
    ffc_close(cl2);
}

static void
test_gate_freeze(th_cluster_t *c)
{
    pid_t pid = th_node_pid(c, "gate");
    ffc_t *cl = th_connect(c);
    cond_t held = {c, "net", "pending", NSLOW}, dead = {c, "gate", "net", 1},
           down = {c, NULL, NULL, 0};
    long long t0;
    tally_t t;

    if (!th_ok(pid > 0 && cl != NULL, "(b) gate has a PID (%d), a client is connected", (int)pid)) {
        ffc_close(cl);
        return;
    }
    send_slow(cl);
    TH_EQ_INT(th_wait(figure_cb, &held, WAIT_MS), 0, "(b) net has %d requests pending", NSLOW);
    freeze("gate", pid);
    t0 = th_now_ms();
    TH_EQ_INT(send_pipeline(cl, NPIPE), NPIPE, "(b) %d requests pipelined after the STOP", NPIPE);
    collect(cl, NPIPE, "gate", &t);
    TH_EQ_INT(t.got, NSLOW + NPIPE, "(b) every pending request got a reply");
    TH_EQ_INT(t.err503, t.got, "(b) every reply is error 503");
    th_ok(t.gate_msg, "(b) ... saying \"gate unavailable\"");
    th_ok(t.last_ms - t0 <= BOUND_MS, "(b) all answered %lld ms after the STOP (<= %d ms)",
          t.last_ms - t0, BOUND_MS);
    refused_at_once(cl);
    TH_EQ_INT(th_wait(dead_logged_cb, &dead, WAIT_MS), 0, "(b) net.log: gate's link is dead");
    TH_EQ_INT(th_wait(net_gate_cb, &down, WAIT_MS), 0, "(b) net's /status shows \"gate\": false");
    thaw();
    gate_back(c, cl, pid);
    ffc_close(cl);
}

/* ---- (c) ghost members ------------------------------------------------------------- */

/* Sends cmd with a JSON body and checks for {"result":true}. */
static void
chat_ok(ffc_t *cl, uint32_t cmd, const char *body, const char *what)
{
    ffc_msg_t m = {0};
    json_t *j;

    TH_EQ_INT(ffc_call(cl, cmd, body, strlen(body), &m, CALL_MS), 0, "(c) %s: a reply", what);
    j = json_loadb((const char *)m.body, m.len, 0, NULL);
    th_ok(json_is_true(json_object_get(j, "result")), "(c) %s: {\"result\":true} (got %s)", what,
          m.body != NULL ? (const char *)m.body : "nothing");
    json_decref(j);
    ffc_msg_free(&m);
}

/* The next push on topic 2100 to cl has text `text`. */
static void
expect_push(ffc_t *cl, const char *who, const char *text)
{
    ffc_msg_t m = {0};
    json_t *j;

    if (!TH_EQ_INT(ffc_next_push(cl, CHAT_EVENT, &m, CALL_MS), 0, "(c) %s gets a push \"%s\"", who,
                   text))
        return;
    j = json_loadb((const char *)m.body, m.len, 0, NULL);
    TH_EQ_STR(json_string_value(json_object_get(j, "text")), text, "(c) %s: push text", who);
    json_decref(j);
    ffc_msg_free(&m);
}

/* With the chat node frozen and its link dead at gate: a closes, and net has seen it. */
static void
ghost_leaves(th_cluster_t *c, ffc_t *a, long long conns)
{
    cond_t dead = {c, "chat", "gate", 1}, net = {c, "net", "connections", conns - 1};

    TH_EQ_INT(th_wait(dead_logged_cb, &dead, WAIT_MS), 0, "(c) gate.log: chat's link is dead");
    ffc_close(a);
    TH_EQ_INT(th_wait(figure_cb, &net, WAIT_MS), 0,
              "(c) net counts %lld connections after A closed", conns - 1);
}

static void
ghost(th_cluster_t *c, ffc_t *a, ffc_t *b)
{
    pid_t pid = th_node_pid(c, "chat");
    long long conns;
    ffc_t *cc;

    chat_ok(a, CHAT_JOIN, "{\"name\":\"alice\"}", "A joins as alice");
    chat_ok(b, CHAT_JOIN, "{\"name\":\"bob\"}", "B joins as bob");
    expect_push(a, "A", "bob joined");
    conns = figure(c, "net", "connections");
    if (!th_ok(pid > 0 && conns >= 2, "(c) chat has a PID (%d), net %lld connections", (int)pid,
               conns))
        return;
    freeze("chat", pid);
    ghost_leaves(c, a, conns);
    thaw();
    expect_push(b, "B (after chat's relink)", "alice left");
    chat_ok(b, CHAT_SAY, "{\"text\":\"still here\"}", "B says something after the relink");
    if ((cc = th_connect(c)) == NULL)
        return;
    chat_ok(cc, CHAT_JOIN, "{\"name\":\"alice\"}", "C joins as alice (the ghost's name is free)");
    expect_push(b, "B", "alice joined");
    ffc_close(cc);
}

static void
test_ghost(th_cluster_t *c)
{
    ffc_t *a = th_connect(c), *b = th_connect(c);

    if (a != NULL && b != NULL)
        ghost(c, a, b);
    else
        ffc_close(a);
    ffc_close(b);
}

/* ---- (d) links in /status ---------------------------------------------------------- */

/* Whether node `name`'s "links" in st has an up link to each of `peers` (NULL-terminated)
 * with a numeric rtt_ms, address, direction and queue figure. */
static bool
links_measured(json_t *st, const char *name, const char *const *peers)
{
    json_t *links = json_object_get(th_status_node(st, name), "links"), *l;
    const char *p;
    size_t i;
    int found = 0, want = 0;

    for (; peers[want] != NULL; want++)
        json_array_foreach(links, i, l)
        {
            p = json_string_value(json_object_get(l, "peer"));
            found += p != NULL && strcmp(p, peers[want]) == 0 &&
                     json_is_number(json_object_get(l, "rtt_ms")) &&
                     json_is_string(json_object_get(l, "addr")) &&
                     json_is_boolean(json_object_get(l, "inbound")) &&
                     json_is_integer(json_object_get(l, "queued"));
        }
    return found == want;
}

static const char *const gate_peers[] = {"net", "game1", "game2", "chat", NULL};
static const char *const net_peers[] = {"gate", NULL};

static bool
links_cb(void *arg)
{
    cond_t *a = arg;
    json_t *st = th_cluster_status(a->c);
    bool ok = links_measured(st, "gate", gate_peers) && links_measured(st, "net", net_peers);

    json_decref(st);
    return ok;
}

static void
test_links(th_cluster_t *c)
{
    cond_t a = {c, NULL, NULL, 0};
    json_t *st;
    char *links;

    TH_EQ_INT(th_wait(links_cb, &a, WAIT_MS), 0,
              "(d) /status: gate's links to net, game1, game2, chat and net's to gate have rtt_ms");
    st = th_cluster_status(c);
    TH_EQ_INT(json_integer_value(json_object_get(json_object_get(st, "master"), "pid")),
              th_master_pid(c), "(d) master's /status answers with master's pid");
    links = json_dumps(json_object_get(th_status_node(st, "gate"), "links"), JSON_COMPACT);
    th_diag("gate's links: %s", links != NULL ? links : "none");
    free(links);
    json_decref(st);
}

int
main(void)
{
    th_cluster_t *c = th_cluster_start(config);

    if (c == NULL)
        return th_done();
    th_diag("(a) kill -STOP game1");
    test_game_freeze(c);
    th_diag("(b) kill -STOP gate");
    test_gate_freeze(c);
    th_diag("(c) kill -STOP chat: a member disconnects meanwhile");
    test_ghost(c);
    test_links(c);
    thaw();
    th_cluster_stop(c);
    th_cluster_free(c);
    return th_done();
}
