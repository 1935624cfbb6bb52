/* crash_test: kill -9 of cluster nodes. (a) A game node dies with a slow request of a bound
 * session in flight: the client gets error 503 at once (not after the request's 5 s, nor a
 * timeout), master restarts the node (new pid, restarts >= 1) and service resumes on it.
 * (b) gate dies with a request in flight: net answers it 503 at once, master restarts gate,
 * net and the game nodes reconnect, and a new connection is served. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "harness.h"
#include "tapp/tapp_proto.h"

/* requestTimeout (8 s) is above the slow request (5 s), so only a node's death can fail it. */
static const char conf[] =
    "{\"master\":{\"rootport\":@ROOTPORT@,\"webport\":@WEBPORT@,\"log\":\"@DIR@/master.log\"},\n"
    " \"servers\":{\"gate\":{\"rootport\":@GATEPORT@,\"log\":\"@DIR@/gate.log\"},\n"
    "  \"net\":{\"netport\":@NETPORT@,\"log\":\"@DIR@/net.log\",\n"
    "         \"remoteport\":[{\"rootname\":\"gate\",\"rootport\":@GATEPORT@}]},\n"
    "  \"game1\":{\"app\":\"@REPO@/build/test/apps/libtapp.so\",\"log\":\"@DIR@/game1.log\",\n"
    "           \"remoteport\":[{\"rootname\":\"gate\",\"rootport\":@GATEPORT@}]},\n"
    "  \"game2\":{\"app\":\"@REPO@/build/test/apps/libtapp.so\",\"log\":\"@DIR@/game2.log\",\n"
    "           \"remoteport\":[{\"rootname\":\"gate\",\"rootport\":@GATEPORT@}]}},\n"
    " \"cluster\":{\"requestTimeout\":8000}}\n";

#define CALL_MS 5000
#define SLOW_BODY "5000"
/* An error reply for a dead node must come well before the slow request would finish. */
#define QUICK_MS 2000
#define MAX_TRIES 20

/* Sends cmd and returns 0 with the reply's "node" in node, the error code of an error reply,
 * -EBADMSG for any other body, or the client library's negative code. */
static int
whoami(ffc_t *cl, uint32_t cmd, char *node, size_t nodelen)
{
    ffc_msg_t m;
    json_t *root;
    const char *n;
    int rc = ffc_call(cl, cmd, NULL, 0, &m, CALL_MS);

    if (rc < 0)
        return rc;
    root = json_loadb((const char *)m.body, m.len, 0, NULL);
    n = json_string_value(json_object_get(root, "node"));
    if ((rc = th_error_code(m.body, m.len)) == 0 && n == NULL)
        rc = -EBADMSG;
    if (rc == 0)
        snprintf(node, nodelen, "%s", n);
    else
        th_diag("cmd %u answered %.*s", cmd, (int)m.len, (const char *)m.body);
    json_decref(root);
    ffc_msg_free(&m);
    return rc;
}

/* Opens new connections and binds each (cmd 10) until one is bound to `want`; returns it, or
 * NULL after MAX_TRIES. The others are closed. */
static ffc_t *
connect_bound_to(th_cluster_t *c, const char *want)
{
    char node[64];
    ffc_t *cl;
    int i;

    for (i = 0; i < MAX_TRIES; i++) {
        if ((cl = th_connect(c)) == NULL)
            return NULL;
        if (whoami(cl, 10, node, sizeof(node)) == 0 && strcmp(node, want) == 0)
            return cl;
        ffc_close(cl);
    }
    return NULL;
}

typedef struct {
    th_cluster_t *c;
    const char *name;
    const char *key;
    long long min;
    pid_t old_pid;
} cond_arg_t;

/* True once /status shows figure a->key of node a->name at least a->min. */
static bool
figure_cb(void *arg)
{
    cond_arg_t *a = arg;
    json_t *st = th_cluster_status(a->c);
    json_t *v = json_object_get(th_status_node(st, a->name), a->key);
    bool ok = json_is_integer(v) && json_integer_value(v) >= a->min;

    json_decref(st);
    return ok;
}

/* True once /status shows node a->name restarted: a pid other than a->old_pid, state
 * "running" and "restarts" >= 1. */
static bool
restarted_cb(void *arg)
{
    cond_arg_t *a = arg;
    json_t *st = th_cluster_status(a->c), *node = th_status_node(st, a->name);
    json_t *pid = json_object_get(node, "pid"), *restarts = json_object_get(node, "restarts");
    const char *state = json_string_value(json_object_get(node, "state"));
    bool ok = json_is_integer(pid) && json_integer_value(pid) > 0 &&
              json_integer_value(pid) != a->old_pid && state != NULL &&
              strcmp(state, "running") == 0 && json_is_integer(restarts) &&
              json_integer_value(restarts) >= 1;

    json_decref(st);
    return ok;
}

static bool
pid_gone_cb(void *arg)
{
    cond_arg_t *a = arg;

    return kill(a->old_pid, 0) < 0 && errno == ESRCH;
}

/* Sends a slow request on cl, waits until node `where` (a game node, or gate) counts it in
 * flight, kill -9s node `victim` and checks that the request is answered with 503 quickly.
 * Returns the victim's pid, or -1. */
static pid_t
kill_with_request_in_flight(th_cluster_t *c, ffc_t *cl, const char *where, const char *victim)
{
    cond_arg_t in = {c, where, "inflight", 1, 0};
    pid_t pid = th_node_pid(c, victim);
    long long t0;
    ffc_msg_t m;
    int rc;

    if (!th_ok(pid > 0, "%s has a pid (%d)", victim, (int)pid))
        return -1;
    rc = ffc_send(cl, TAPP_SLEEP, SLOW_BODY, strlen(SLOW_BODY));
    TH_EQ_INT(rc, 0, "slow request (cmd 8, %s ms) sent", SLOW_BODY);
    TH_EQ_INT(th_wait(figure_cb, &in, 3000), 0, "%s has the slow request in flight", where);
    TH_EQ_INT(kill(pid, SIGKILL), 0, "kill -9 %s (pid %d)", victim, (int)pid);
    t0 = th_now_ms();
    rc = ffc_recv(cl, &m, CALL_MS);
    TH_EQ_INT(rc, 0, "the in-flight request is answered after %s died", victim);
    if (rc == 0) {
        th_diag("reply after %lld ms: %.*s", th_now_ms() - t0, (int)m.len, (const char *)m.body);
        TH_EQ_INT(m.cmd, 8, "the reply carries the request's command id");
        TH_EQ_INT(th_error_code(m.body, m.len), 503, "the reply is error 503 (unavailable)");
        th_ok(th_now_ms() - t0 < QUICK_MS, "the error came at once (%lld ms), not after %s ms",
              th_now_ms() - t0, SLOW_BODY);
        ffc_msg_free(&m);
    }
    return pid;
}

/* Waits until master has restarted `name` (new pid, running, restarts >= 1), the old
 * process is gone, and the cluster is ready again. */
static void
wait_restarted(th_cluster_t *c, const char *name, pid_t old_pid)
{
    cond_arg_t a = {c, name, NULL, 0, old_pid};

    TH_EQ_INT(th_wait(restarted_cb, &a, 15000), 0,
              "master restarted %s: new pid, running, restarts >= 1", name);
    TH_EQ_INT(th_wait(pid_gone_cb, &a, 5000), 0, "%s's old process %d is gone", name, (int)old_pid);
    TH_EQ_INT(th_cluster_wait_ready(c, 20000), 0, "cluster ready again after %s's restart", name);
}

/* (a) kill -9 of a game node with a bound session's slow request in flight. */
static void
test_game_crash(th_cluster_t *c, ffc_t *cl)
{
    char node[64] = "";
    pid_t pid;
    ffc_t *cl2;
    int rc;

    pid = kill_with_request_in_flight(c, cl, "game1", "game1");
    if (pid < 0)
        return;
    wait_restarted(c, "game1", pid);
    rc = whoami(cl, 7, node, sizeof(node));
    TH_EQ_INT(rc, 0, "(a) cmd 7 works again on the connection that was bound to game1");
    th_diag("answered by %s", node);
    cl2 = connect_bound_to(c, "game1");
    th_ok(cl2 != NULL, "(a) new sessions are bound to the restarted game1 again");
    ffc_close(cl2);
}

/* (b) kill -9 of gate with a request in flight. */
static void
test_gate_crash(th_cluster_t *c, ffc_t *cl)
{
    ffc_msg_t m;
    pid_t pid;
    ffc_t *cl2;
    int rc;

    pid = kill_with_request_in_flight(c, cl, "gate", "gate");
    if (pid < 0)
        return;
    wait_restarted(c, "gate", pid);
    if ((cl2 = th_connect(c)) == NULL)
        return;
    rc = ffc_call(cl2, TAPP_ECHO, "after gate restart", 18, &m, CALL_MS);
    TH_EQ_INT(rc, 0, "(b) echo answers on a new connection after gate's restart");
    if (rc == 0)
        TH_EQ_MEM(m.body, m.len, "after gate restart", 18, "(b) echo returns the body");
    ffc_msg_free(&m);
    ffc_close(cl2);
}

int
main(void)
{
    th_cluster_t *c = th_cluster_start(conf);
    ffc_t *cl;

    if (c == NULL)
        return th_done();
    cl = connect_bound_to(c, "game1");
    if (th_ok(cl != NULL, "a new connection got bound to game1 (cmd 10)")) {
        th_diag("(a) kill -9 game1");
        test_game_crash(c, cl);
        th_diag("(b) kill -9 gate");
        test_gate_crash(c, cl);
    }
    ffc_close(cl);
    th_cluster_stop(c);
    th_cluster_free(c);
    return th_done();
}
