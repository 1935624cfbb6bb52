/* stop_test: GET /stop while clients have requests in flight. Every request the cluster had
 * received is answered (slow ones included, none with an error), in order, then the server
 * closes every client connection; /stop answers {"stopped":true}, master exits 0 and every
 * node process is gone. The GET runs on a second thread so that the clients keep reading. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alloc.h"
#include "harness.h"
#include "tapp/tapp_proto.h"

static const char conf[] =
    "{\"master\":{\"rootport\":@ROOTPORT@,\"webport\":@WEBPORT@,\"log\":\"@DIR@/master.log\"},\n"
    " \"servers\":{\"gate\":{\"rootport\":@GATEPORT@,\"log\":\"@DIR@/gate.log\"},\n"
    "  \"net\":{\"netport\":@NETPORT@,\"log\":\"@DIR@/net.log\",\n"
    "         \"remoteport\":[{\"rootname\":\"gate\",\"rootport\":@GATEPORT@}]},\n"
    "  \"game1\":{\"app\":\"@REPO@/build/test/apps/libtapp.so\",\"log\":\"@DIR@/game1.log\",\n"
    "           \"remoteport\":[{\"rootname\":\"gate\",\"rootport\":@GATEPORT@}]}},\n"
    " \"cluster\":{\"requestTimeout\":3000}}\n";

#define NCLIENTS 4
#define NREQS 6 /* per client: fast, slow, fast, slow, fast, slow */
#define SLOW_MS 300
#define CALL_MS 5000
#define MAX_NODES 16

/* ---- GET /stop on its own thread ---- */

typedef struct {
    int port;
    int rc, status;
    char *body;
    long long done_ms;
} stop_req_t;

static void *
stop_main(void *arg)
{
    stop_req_t *s = arg;

    s->rc = ffc_http_get("127.0.0.1", s->port, "/stop", 20000, &s->status, &s->body, NULL);
    s->done_ms = th_now_ms();
    return NULL;
}

/* ---- node processes ---- */

typedef struct {
    pid_t pid[MAX_NODES];
    char name[MAX_NODES][32];
    int n;
} nodes_t;

/* Records every node pid /status shows now. */
static void
nodes_record(th_cluster_t *c, nodes_t *nodes)
{
    json_t *st = th_cluster_status(c), *node;
    size_t i;

    nodes->n = 0;
    json_array_foreach(json_object_get(st, "nodes"), i, node)
    {
        json_t *pid = json_object_get(node, "pid");
        const char *name = json_string_value(json_object_get(node, "name"));
        if (nodes->n < MAX_NODES && json_is_integer(pid) && json_integer_value(pid) > 0) {
            nodes->pid[nodes->n] = (pid_t)json_integer_value(pid);
            snprintf(nodes->name[nodes->n], sizeof(nodes->name[0]), "%s", name ? name : "?");
            nodes->n++;
        }
    }
    json_decref(st);
}

/* Whether every recorded node pid is gone (reaping it first in case it was orphaned to this
 * process, the harness being the subreaper of the cluster). */
static bool
nodes_gone_cb(void *arg)
{
    nodes_t *nodes = arg;
    int i;

    for (i = 0; i < nodes->n; i++) {
        waitpid(nodes->pid[i], NULL, WNOHANG);
        if (kill(nodes->pid[i], 0) == 0 || errno != ESRCH)
            return false;
    }
    return true;
}

typedef struct {
    th_cluster_t *c;
    long long want;
} handled_arg_t;

/* True once game1 has dispatched a->want requests since it started. */
static bool
handled_cb(void *arg)
{
    handled_arg_t *a = arg;
    json_t *st = th_cluster_status(a->c);
    json_t *v = json_object_get(th_status_node(st, "game1"), "handled");
    bool ok = json_is_integer(v) && json_integer_value(v) >= a->want;

    json_decref(st);
    return ok;
}

/* game1's "handled" figure now, or -1. */
static long long
game1_handled(th_cluster_t *c)
{
    json_t *st = th_cluster_status(c);
    json_t *v = json_object_get(th_status_node(st, "game1"), "handled");
    long long n = json_is_integer(v) ? (long long)json_integer_value(v) : -1;

    json_decref(st);
    return n;
}

/* ---- clients ---- */

/* Request j of client i: odd ones slow (cmd 8), even ones an echo (cmd 1). */
static int
send_requests(ffc_t *cl, int i)
{
    char body[32];
    int j, rc = 0;

    for (j = 0; j < NREQS && rc == 0; j++) {
        if (j % 2 == 1) {
            snprintf(body, sizeof(body), "%d", SLOW_MS);
            rc = ffc_send(cl, TAPP_SLEEP, body, strlen(body));
        } else {
            snprintf(body, sizeof(body), "fast-%d-%d", i, j);
            rc = ffc_send(cl, TAPP_ECHO, body, strlen(body));
        }
    }
    return rc;
}

/* Reads client i's replies in order; returns how many were right, printing the first wrong
 * one. */
static int
read_replies(ffc_t *cl, int i)
{
    char want[32];
    ffc_msg_t m;
    json_t *root;
    int j, rc, good = 0;
    bool ok;

    for (j = 0; j < NREQS; j++) {
        if ((rc = ffc_recv(cl, &m, CALL_MS)) < 0) {
            th_diag("client %d, reply %d: %s", i, j, ffc_strerror(rc));
            break;
        }
        if (j % 2 == 1) {
            root = json_loadb((const char *)m.body, m.len, 0, NULL);
            ok = m.cmd == 8 && th_error_code(m.body, m.len) == 0 &&
                 json_is_string(json_object_get(root, "node"));
            json_decref(root);
        } else {
            snprintf(want, sizeof(want), "fast-%d-%d", i, j);
            ok = m.cmd == 1 && m.len == strlen(want) && memcmp(m.body, want, m.len) == 0;
        }
        if (!ok)
            th_diag("client %d, reply %d: cmd %u body %.*s", i, j, m.cmd, (int)m.len,
                    (const char *)m.body);
        good += ok;
        ffc_msg_free(&m);
    }
    return good;
}

int
main(void)
{
    th_cluster_t *c = th_cluster_start(conf);
    ffc_t *cl[NCLIENTS] = {NULL};
    stop_req_t stop = {0};
    handled_arg_t h;
    nodes_t nodes;
    long long t_sent, t_stop;
    pthread_t th;
    json_t *res;
    int i, st = 0, good;

    if (c == NULL)
        return th_done();
    nodes_record(c, &nodes);
    TH_EQ_INT(nodes.n, 3, "/status shows the pids of gate, net and game1");
    h.c = c;
    h.want = game1_handled(c);
    th_ok(h.want >= 0, "game1 reports \"handled\"");
    for (i = 0; i < NCLIENTS; i++)
        if ((cl[i] = th_connect(c)) == NULL)
            goto out;
    t_sent = th_now_ms();
    for (i = 0; i < NCLIENTS; i++)
        TH_EQ_INT(send_requests(cl[i], i), 0, "client %d sent %d requests", i, NREQS);
    /* Every request has reached game1 (so net has read them all) before the stop. */
    h.want += NCLIENTS * NREQS;
    TH_EQ_INT(th_wait(handled_cb, &h, 3000), 0, "game1 dispatched all %d requests",
              NCLIENTS * NREQS);

    stop.port = th_cluster_port(c, "WEBPORT");
    t_stop = th_now_ms();
    if (!TH_EQ_INT(pthread_create(&th, NULL, stop_main, &stop), 0, "GET /stop thread started"))
        goto out;
    th_ok(t_stop - t_sent < SLOW_MS,
          "GET /stop sent while the slow requests were in flight "
          "(%lld ms after them)",
          t_stop - t_sent);
    for (i = 0; i < NCLIENTS; i++) {
        good = read_replies(cl[i], i);
        TH_EQ_INT(good, NREQS, "client %d: every reply delivered, in order, none an error", i);
        TH_EQ_INT(ffc_wait_closed(cl[i], CALL_MS), 0, "client %d: closed by the server", i);
    }
    pthread_join(th, NULL);
    TH_EQ_INT(stop.rc, 0, "GET /stop answered");
    TH_EQ_INT(stop.status, 200, "GET /stop: HTTP 200");
    res = stop.body ? json_loads(stop.body, 0, NULL) : NULL;
    th_ok(json_is_true(json_object_get(res, "stopped")), "GET /stop answers {\"stopped\":true}: %s",
          stop.body ? stop.body : "(no body)");
    json_decref(res);

    TH_EQ_INT(th_cluster_wait_exit(c, 20000, &st), 0, "master exited after GET /stop");
    th_ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "master exit status 0 (wait status 0x%x)",
          (unsigned)st);
    TH_EQ_INT(th_wait(nodes_gone_cb, &nodes, 5000), 0, "every node process (%d) is gone", nodes.n);
out:
    for (i = 0; i < NCLIENTS; i++)
        ffc_close(cl[i]);
    ff_free(stop.body);
    th_cluster_stop(c);
    th_cluster_free(c);
    return th_done();
}
