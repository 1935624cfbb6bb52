/* malformed_test: a malformed frame costs only its own connection (DESIGN §4). Three bad
 * inputs, each on a connection of its own while two healthy clients stay connected: a wrong
 * magic, a length below 4, and a header announcing a body over maxPacket (1024 here; only
 * the header is sent, so net must close without waiting for the body). Each time: the bad
 * connection is closed by the server, both healthy clients still get their echo replies,
 * every node is still running under the PID it had before (nothing restarted), and net's
 * log has gained exactly one WARN line. The second bad frame follows a valid request on its
 * connection, so net must also catch one mid-stream. */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "harness.h"
#include "tapp/tapp_proto.h"

static const char config[] =
    "{\"master\":{\"rootport\":@ROOTPORT@,\"webport\":@WEBPORT@,\"log\":\"@DIR@/master.log\"},"
    " \"servers\":{"
    "  \"gate\":{\"rootport\":@GATEPORT@,\"log\":\"@DIR@/gate.log\"},"
    "  \"net\":{\"netport\":@NETPORT@,\"log\":\"@DIR@/net.log\","
    "   \"remoteport\":[{\"rootname\":\"gate\",\"rootport\":@GATEPORT@}]},"
    "  \"game1\":{\"app\":\"@REPO@/build/test/apps/libtapp.so\",\"log\":\"@DIR@/game1.log\","
    "   \"remoteport\":[{\"rootname\":\"gate\",\"rootport\":@GATEPORT@}]}},"
    " \"netconnect\":{\"magic\":\"N%&0\",\"protoVersion\":9,\"serverVersion\":0,"
    "  \"maxPacket\":1024},"
    " \"cluster\":{\"requestTimeout\":3000,\"idleTimeout\":300}}";

#define WAIT_MS 5000
#define CLOSE_MS 3000

static const char *const nodes[] = {"gate", "net", "game1"};
#define NNODES (sizeof(nodes) / sizeof(nodes[0]))

typedef struct {
    const char *name;
    uint8_t header[FF_FRAME_HEADER];
    const char *body; /* sent after the header; NULL = none */
    bool echo_first;  /* a valid request goes first, so the bad frame comes mid-stream */
} bad_input_t;

static const bad_input_t bad_inputs[] = {
    {"wrong magic XXXX", {'X', 'X', 'X', 'X', 9, 0, 0, 0, 0, 0, 0, 0, 6, 0, 0, 0, 1}, "hi", false},
    {"length 2 (< 4), after a valid request",
     {'N', '%', '&', '0', 9, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 1},
     NULL,
     true},
    {"length 5000 (body 4996 > maxPacket 1024), header only",
     {'N', '%', '&', '0', 9, 0, 0, 0, 0, 0, 0, 0x13, 0x88, 0, 0, 0, 1},
     NULL,
     false},
};
#define NBAD (sizeof(bad_inputs) / sizeof(bad_inputs[0]))

/* The number of WARN lines (" W ") in DIR/net.log; 0 when it does not exist yet. */
static int
net_warns(th_cluster_t *c)
{
    return th_log_count(c, "net", " W ");
}

typedef struct {
    th_cluster_t *c;
    int want;
} warns_arg_t;

static bool
warns_reached_cb(void *arg)
{
    warns_arg_t *a = arg;
    return net_warns(a->c) >= a->want;
}

/* An echo round trip with a body naming the client and the round. */
static void
echo_ok(ffc_t *cl, const char *who, const char *round)
{
    char body[128];
    ffc_msg_t m = {0};
    int rc;

    snprintf(body, sizeof(body), "%s / %s", who, round);
    rc = ffc_call(cl, TAPP_ECHO, body, strlen(body), &m, WAIT_MS);
    TH_EQ_INT(rc, 0, "%s: %s gets an echo reply", round, who);
    TH_EQ_MEM(m.body, m.len, body, strlen(body), "%s: %s: echo body", round, who);
    ffc_msg_free(&m);
}

/* Every node is running under the PID recorded at the start. */
static void
nodes_unchanged(th_cluster_t *c, const pid_t *pids, const char *round)
{
    char state[32];
    size_t i;

    for (i = 0; i < NNODES; i++) {
        TH_EQ_STR(th_node_state(c, nodes[i], state, sizeof(state)), "running",
                  "%s: %s still running", round, nodes[i]);
        TH_EQ_INT(th_node_pid(c, nodes[i]), pids[i], "%s: %s has the same PID (no restart)", round,
                  nodes[i]);
    }
    TH_EQ_INT(kill(th_master_pid(c), 0), 0, "%s: master still alive", round);
}

static void
one_bad_input(th_cluster_t *c, const bad_input_t *bad, ffc_t *h1, ffc_t *h2, const pid_t *pids,
              int warns_before)
{
    warns_arg_t wa = {c, warns_before + 1};
    ffc_t *cl = th_connect(c);
    ffc_msg_t m = {0};
    int rc;

    if (cl == NULL)
        return;
    if (bad->echo_first)
        echo_ok(cl, "the bad connection (before its bad frame)", bad->name);
    rc = ffc_send_raw(cl, bad->header, sizeof(bad->header));
    if (rc == 0 && bad->body != NULL)
        rc = ffc_send_raw(cl, bad->body, strlen(bad->body));
    /* The server may already have closed before the body went out: a reset is fine. */
    th_ok(rc == 0 || rc == -ECONNRESET, "%s: sent (%s)", bad->name, ffc_strerror(rc));
    TH_EQ_INT(ffc_wait_closed(cl, CLOSE_MS), 0, "%s: the server closes the connection", bad->name);
    TH_EQ_INT(ffc_recv(cl, &m, 0), -ECONNRESET, "%s: no frame was sent back", bad->name);
    ffc_msg_free(&m);
    ffc_close(cl);

    echo_ok(h1, "healthy client h1", bad->name);
    echo_ok(h2, "healthy client h2", bad->name);
    nodes_unchanged(c, pids, bad->name);
    th_wait(warns_reached_cb, &wa, CLOSE_MS);
    TH_EQ_INT(net_warns(c), warns_before + 1, "%s: exactly one more WARN line in net.log",
              bad->name);
}

int
main(void)
{
    th_cluster_t *c = th_cluster_start(config);
    pid_t pids[NNODES];
    ffc_t *h1, *h2;
    int warns0;
    size_t i;

    if (c == NULL)
        return th_done();
    for (i = 0; i < NNODES; i++) {
        pids[i] = th_node_pid(c, nodes[i]);
        th_ok(pids[i] > 0, "%s has a PID in /status (%d)", nodes[i], (int)pids[i]);
    }
    h1 = th_connect(c);
    h2 = th_connect(c);
    if (h1 != NULL && h2 != NULL) {
        echo_ok(h1, "healthy client h1", "start");
        echo_ok(h2, "healthy client h2", "start");
        warns0 = net_warns(c);
        for (i = 0; i < NBAD; i++)
            one_bad_input(c, &bad_inputs[i], h1, h2, pids, warns0 + (int)i);
        TH_EQ_INT(net_warns(c), warns0 + (int)NBAD,
                  "net.log: %zu WARN lines for %zu bad "
                  "connections",
                  NBAD, NBAD);
        TH_EQ_INT(ffc_pending(h1), 0, "h1 received nothing unexpected");
        TH_EQ_INT(ffc_pending(h2), 0, "h2 received nothing unexpected");
    }
    ffc_close(h1);
    ffc_close(h2);
    th_cluster_stop(c);
    th_cluster_free(c);
    return th_done();
}
