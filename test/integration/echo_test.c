/* echo_test: the request path through net -> gate -> game and back, with two game nodes
 * running tapp. One echo round trip and a large body; then 1,000 requests pipelined on one
 * connection (all sent before any is read), alternating echo of a distinct body (cmd 1) and
 * whoami (cmd 7): the replies come back complete and in request order although gate spreads
 * the unbound connection's requests over game1 and game2, which both report more handled
 * requests in /status afterwards. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
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
    "   \"remoteport\":[{\"rootname\":\"gate\",\"rootport\":@GATEPORT@}]}},"
    " \"cluster\":{\"requestTimeout\":3000,\"maxPipeline\":1024}}";

#define WAIT_MS 5000
#define NPIPE 1000
#define BIG 60000

/* The "handled" count /status shows for a game node, or -1. Looked up in the node object,
 * or one level below it if master nests the node's own figures. */
static long long
handled(th_cluster_t *c, const char *name)
{
    json_t *st = th_cluster_status(c), *node = th_status_node(st, name), *v, *sub;
    const char *key;
    long long n = -1;

    v = json_object_get(node, "handled");
    if (json_is_integer(v)) {
        n = json_integer_value(v);
    } else {
        json_object_foreach(node, key, sub)
        {
            v = json_object_get(sub, "handled");
            if (json_is_integer(v))
                n = json_integer_value(v);
        }
    }
    json_decref(st);
    return n;
}

static void
test_echo(th_cluster_t *c)
{
    ffc_msg_t m = {0};
    ffc_t *cl = th_connect(c);
    char *big;
    int i;

    if (cl == NULL)
        return;
    TH_EQ_INT(ffc_call(cl, TAPP_ECHO, "hello", 5, &m, WAIT_MS), 0, "echo: a reply arrives");
    TH_EQ_INT(m.cmd, TAPP_ECHO, "echo: reply command 1");
    TH_EQ_MEM(m.body, m.len, "hello", 5, "echo: reply body");
    ffc_msg_free(&m);

    big = ff_malloc(BIG);
    for (i = 0; i < BIG; i++)
        big[i] = (char)(i * 7 + i / 251);
    TH_EQ_INT(ffc_call(cl, TAPP_ECHO, big, BIG, &m, WAIT_MS), 0, "echo: a %d-byte body comes back",
              BIG);
    TH_EQ_MEM(m.body, m.len, big, BIG, "echo: the %d-byte body is unchanged", BIG);
    ffc_msg_free(&m);
    ff_free(big);
    TH_EQ_INT(ffc_pending(cl), 0, "echo: nothing else queued");
    ffc_close(cl);
}

/* Checks reply i of the pipeline; returns whether it is right and, for whoami, notes the
 * node. Prints the first few wrong replies only. */
static bool
check_reply(int i, const ffc_msg_t *m, bool *seen1, bool *seen2, int *shown)
{
    char want[32];
    json_t *j;
    const char *node;
    bool ok;

    if (i % 2 == 0) {
        snprintf(want, sizeof(want), "req-%d", i);
        ok = m->cmd == 1 && m->len == strlen(want) && memcmp(m->body, want, m->len) == 0;
    } else {
        j = json_loadb((const char *)m->body, m->len, 0, NULL);
        node = json_string_value(json_object_get(j, "node"));
        ok = m->cmd == 7 && node != NULL;
        if (ok && strcmp(node, "game1") == 0)
            *seen1 = true;
        else if (ok && strcmp(node, "game2") == 0)
            *seen2 = true;
        else
            ok = false;
        json_decref(j);
    }
    if (!ok && (*shown)++ < 5)
        th_diag("pipeline reply %d: cmd %u body \"%.*s\"", i, m->cmd,
                (int)(m->len < 80 ? m->len : 80), (const char *)m->body);
    return ok;
}

static void
test_pipeline(th_cluster_t *c)
{
    long long before1 = handled(c, "game1"), before2 = handled(c, "game2"), t0;
    bool seen1 = false, seen2 = false;
    int i, rc = 0, sent = 0, got = 0, in_order = 0, shown = 0;
    ffc_msg_t m = {0};
    char body[32];
    ffc_t *cl = th_connect(c);

    if (cl == NULL)
        return;
    th_ok(before1 >= 0 && before2 >= 0,
          "pipeline: /status shows handled for game1 (%lld) and "
          "game2 (%lld)",
          before1, before2);
    t0 = th_now_ms();
    for (i = 0; i < NPIPE && rc == 0; i++) {
        if (i % 2 == 0) {
            snprintf(body, sizeof(body), "req-%d", i);
            rc = ffc_send(cl, TAPP_ECHO, body, strlen(body));
        } else {
            rc = ffc_send(cl, TAPP_WHOAMI, NULL, 0);
        }
        sent += rc == 0;
    }
    TH_EQ_INT(sent, NPIPE, "pipeline: %d requests sent before reading any reply", NPIPE);
    for (i = 0; i < sent; i++) {
        if ((rc = ffc_recv(cl, &m, WAIT_MS)) < 0)
            break;
        got++;
        in_order += check_reply(i, &m, &seen1, &seen2, &shown);
        ffc_msg_free(&m);
    }
    if (rc < 0)
        th_diag("pipeline: reply %d: %s", got, ffc_strerror(rc));
    TH_EQ_INT(got, NPIPE, "pipeline: %d replies received (%lld ms)", NPIPE, th_now_ms() - t0);
    TH_EQ_INT(in_order, NPIPE, "pipeline: every reply in request order with its own body");
    th_ok(seen1 && seen2, "pipeline: whoami replies came from both game1 (%s) and game2 (%s)",
          seen1 ? "yes" : "no", seen2 ? "yes" : "no");
    TH_EQ_INT(ffc_recv(cl, &m, 0), -ETIMEDOUT, "pipeline: no extra frame after the last reply");
    ffc_msg_free(&m);
    th_ok(handled(c, "game1") > before1, "pipeline: game1 handled more requests in /status");
    th_ok(handled(c, "game2") > before2, "pipeline: game2 handled more requests in /status");
    ffc_close(cl);
}

int
main(void)
{
    th_cluster_t *c = th_cluster_start(config);

    if (c == NULL)
        return th_done();
    test_echo(c);
    test_pipeline(c);
    th_cluster_stop(c);
    th_cluster_free(c);
    return th_done();
}
