/* starttimeout_test: a node that does not link up with master within cluster.startTimeout
 * is killed and restarted like a crashed one (issue 8 §4). game1's app hangs in its init, so
 * its loop never runs and its control link never says HELLO: master must kill it after 1 s,
 * restart it with backoff, and give up after maxRestarts, while the rest of the cluster
 * (gate, net, and game2 with the echo app) keeps serving. */
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "tapp/tapp_proto.h"

static const char config[] =
    "{\"master\":{\"rootport\":@ROOTPORT@,\"webport\":@WEBPORT@,\"log\":\"@DIR@/master.log\"},"
    " \"servers\":{"
    "  \"gate\":{\"rootport\":@GATEPORT@,\"log\":\"@DIR@/gate.log\"},"
    "  \"net\":{\"netport\":@NETPORT@,\"log\":\"@DIR@/net.log\","
    "   \"remoteport\":[{\"rootname\":\"gate\",\"rootport\":@GATEPORT@}]},"
    "  \"game1\":{\"app\":\"@REPO@/build/test/apps/libthang.so\",\"log\":\"@DIR@/game1.log\","
    "   \"remoteport\":[{\"rootname\":\"gate\",\"rootport\":@GATEPORT@}]},"
    "  \"game2\":{\"app\":\"@REPO@/build/test/apps/libtapp.so\",\"log\":\"@DIR@/game2.log\","
    "   \"remoteport\":[{\"rootname\":\"gate\",\"rootport\":@GATEPORT@}]}},"
    " \"cluster\":{\"startTimeout\":1000,\"maxRestarts\":2,\"restartWindow\":60}}";

static bool
game1_failed_cb(void *arg)
{
    char state[32];
    const char *s = th_node_state(arg, "game1", state, sizeof(state));
    return s != NULL && strcmp(s, "failed") == 0;
}

int
main(void)
{
    th_cluster_t *c = th_cluster_new(config);
    ffc_msg_t m;
    ffc_t *cl;
    json_t *st;

    if (c == NULL || th_cluster_spawn(c, NULL) < 0)
        return th_done();
    /* The ready check wants every server running; game1 never will. */
    TH_EQ_INT(th_wait_node_state(c, "game2", "running", 10000), 0, "game2 runs");
    TH_EQ_INT(th_wait(game1_failed_cb, c, 15000), 0,
              "game1 killed at each start timeout, then given up on");
    TH_EQ_INT(th_log_count(c, "master", "has not linked up with master within 1000 ms"), 3,
              "one WARN per start: the first and two restarts");
    st = th_cluster_status(c);
    TH_EQ_STR(json_string_value(json_object_get(th_status_node(st, "game1"), "last_exit")),
              "signal 9 (Killed) at its start timeout", "/status says why game1 last exited");
    json_decref(st);
    cl = th_connect(c);
    if (cl != NULL) {
        TH_EQ_INT(ffc_call(cl, TAPP_ECHO, "still", 5, &m, 5000), 0,
                  "the rest of the cluster serves");
        ffc_msg_free(&m);
        ffc_close(cl);
    }
    th_cluster_stop(c);
    th_cluster_free(c);
    return th_done();
}
