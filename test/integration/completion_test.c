/* completion_test: every request completes exactly once (DESIGN §4), on the paths that end
 * it without the app's answer; gate's requestTimeout is 1000 ms and game1 runs tapp.
 * (a) Timeout: a client pipelines echo, silent (9, never answers), echo, sleep 1500 ms (8,
 *     answers after the timeout), echo. It gets five replies in request order: the echoes,
 *     and one 504 error under its own command id for each of the two, then nothing: not the
 *     late answer of the sleep, nor a second error. gate logs one WARN per timeout, and a
 *     second client is answered at once meanwhile.
 * (b) Half-close: a client pipelines 200 requests (a sleep, a silent one among echoes) and
 *     shuts down its sending side (shutdown(SHUT_WR)) before reading. It still gets all 200
 *     replies in order, the silent one as 504, and only then does net close the connection;
 *     gate forgets the session (CONN_LOST) after that, not before. A half-close with
 *     nothing in flight, and one after half a frame, are closed at once with no reply. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

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
    " \"cluster\":{\"requestTimeout\":1000,\"idleTimeout\":300}}";

#define TIMEOUT_MS 1000
#define WAIT_MS 8000
#define SLEEP_BODY "1500"
/* How long nothing may arrive after the last reply: past the sleep's late answer. */
#define QUIET_MS 2000
#define NHALF 200
#define TIMEOUT_WARN "no reply from game1 within 1000 ms"

typedef struct {
    uint32_t cmd;
    const char *body; /* sent; for an echo also the reply's body */
    bool times_out;   /* the reply is a 504 error */
} step_t;

/* A gate or net figure of /status, or -1. */
static long long
figure(th_cluster_t *c, const char *node, const char *key)
{
    json_t *st = th_cluster_status(c);
    json_t *v = json_object_get(th_status_node(st, node), key);
    long long n = json_is_integer(v) ? (long long)json_integer_value(v) : -1;

    json_decref(st);
    return n;
}

typedef struct {
    th_cluster_t *c;
    const char *node, *key;
    long long want;
} figure_arg_t;

static bool
figure_is_cb(void *arg)
{
    figure_arg_t *a = arg;
    return figure(a->c, a->node, a->key) == a->want;
}

typedef struct {
    th_cluster_t *c;
    int want;
} warns_arg_t;

static bool
timeout_warns_cb(void *arg)
{
    warns_arg_t *a = arg;
    return th_log_count(a->c, "gate", TIMEOUT_WARN) >= a->want;
}

/* Receives reply i and checks it against step s: the echo's body, or a 504 error under the
 * request's command id. Returns whether it was right; prints what came instead. */
static bool
expect_reply(ffc_t *cl, int i, const step_t *s, const char *what)
{
    ffc_msg_t m = {0};
    int rc = ffc_recv(cl, &m, WAIT_MS);
    bool ok;

    if (rc < 0) {
        th_diag("%s: reply %d: %s", what, i, ffc_strerror(rc));
        return false;
    }
    ok = m.cmd == s->cmd;
    if (s->times_out)
        ok = ok && th_error_code(m.body, m.len) == 504;
    else
        ok = ok && m.len == strlen(s->body) && memcmp(m.body, s->body, m.len) == 0;
    if (!ok)
        th_diag("%s: reply %d: cmd %u body \"%.*s\", expected cmd %u %s", what, i, m.cmd,
                (int)(m.len < 100 ? m.len : 100), (const char *)m.body, s->cmd,
                s->times_out ? "error 504" : s->body);
    ffc_msg_free(&m);
    return ok;
}

static int
send_steps(ffc_t *cl, const step_t *steps, int n)
{
    int i, rc = 0;

    for (i = 0; i < n && rc == 0; i++)
        rc = ffc_send(cl, steps[i].cmd, steps[i].body, strlen(steps[i].body));
    return rc;
}

static void
test_timeout(th_cluster_t *c)
{
    static const step_t steps[] = {
        {TAPP_ECHO, "first", false},    {TAPP_SILENT, "never", true}, {TAPP_ECHO, "second", false},
        {TAPP_SLEEP, SLEEP_BODY, true}, {TAPP_ECHO, "third", false},
    };
    enum { N = sizeof(steps) / sizeof(steps[0]) };
    warns_arg_t wa = {c, th_log_count(c, "gate", TIMEOUT_WARN) + 2};
    ffc_t *cl = th_connect(c), *other = th_connect(c);
    ffc_msg_t m = {0};
    long long t0;
    int i, right = 0;

    if (cl == NULL || other == NULL)
        goto out;
    t0 = th_now_ms();
    TH_EQ_INT(send_steps(cl, steps, N), 0, "timeout: %d requests pipelined", N);
    TH_EQ_INT(ffc_call(other, TAPP_ECHO, "meanwhile", 9, &m, TIMEOUT_MS / 2), 0,
              "timeout: another client is answered while they wait");
    ffc_msg_free(&m);
    for (i = 0; i < N && expect_reply(cl, i, &steps[i], "timeout"); i++)
        right++;
    TH_EQ_INT(right, N, "timeout: %d replies in request order, a 504 for silent and sleep", N);
    th_ok(th_now_ms() - t0 >= TIMEOUT_MS, "timeout: the 504s came after requestTimeout (%lld ms)",
          th_now_ms() - t0);
    TH_EQ_INT(ffc_recv(cl, &m, QUIET_MS), -ETIMEDOUT,
              "timeout: nothing more within %d ms (the sleep's late answer is dropped)", QUIET_MS);
    ffc_msg_free(&m);
    TH_EQ_INT(ffc_call(cl, TAPP_ECHO, "after", 5, &m, WAIT_MS), 0,
              "timeout: the connection still works");
    TH_EQ_MEM(m.body, m.len, "after", 5, "timeout: and its next reply is its own");
    ffc_msg_free(&m);
    th_wait(timeout_warns_cb, &wa, WAIT_MS);
    TH_EQ_INT(th_log_count(c, "gate", TIMEOUT_WARN), wa.want,
              "timeout: gate logged one WARN per timed-out request");
out:
    ffc_close(cl);
    ffc_close(other);
}

/* NHALF requests: echoes with distinct bodies, a sleep at 1 and a silent one at NHALF / 2. */
static void
half_steps(step_t *steps, char (*bodies)[24])
{
    for (int i = 0; i < NHALF; i++) {
        snprintf(bodies[i], sizeof(bodies[i]), "half-%d", i);
        steps[i] = (step_t){TAPP_ECHO, bodies[i], false};
    }
    steps[1] = (step_t){TAPP_SLEEP, "300", false};
    steps[NHALF / 2] = (step_t){TAPP_SILENT, "never", true};
}

/* The sleep's reply is a whoami object: it is right when it carries cmd 8. */
static bool
expect_half(ffc_t *cl, int i, const step_t *s)
{
    ffc_msg_t m = {0};
    bool ok;
    int rc;

    if (s->cmd != TAPP_SLEEP)
        return expect_reply(cl, i, s, "half-close");
    rc = ffc_recv(cl, &m, WAIT_MS);
    ok = rc == 0 && m.cmd == TAPP_SLEEP;
    if (!ok)
        th_diag("half-close: reply %d: %s, cmd %u", i, ffc_strerror(rc), m.cmd);
    ffc_msg_free(&m);
    return ok;
}

static void
test_half_close(th_cluster_t *c)
{
    static step_t steps[NHALF];
    static char bodies[NHALF][24];
    figure_arg_t none = {c, "gate", "sessions", 0};
    ffc_t *cl = th_connect(c);
    int i, right = 0;

    if (cl == NULL)
        return;
    half_steps(steps, bodies);
    TH_EQ_INT(th_wait(figure_is_cb, &none, WAIT_MS), 0, "half-close: gate has no session yet");
    TH_EQ_INT(send_steps(cl, steps, NHALF), 0, "half-close: %d requests pipelined", NHALF);
    TH_EQ_INT(shutdown(ffc_fd(cl), SHUT_WR), 0, "half-close: shutdown(SHUT_WR)");
    right = expect_half(cl, 0, &steps[0]);
    th_ok(right == 1, "half-close: the first reply arrives");
    TH_EQ_INT(figure(c, "gate", "sessions"), 1,
              "half-close: gate still holds the session while replies are due");
    for (i = 1; right == i && i < NHALF && expect_half(cl, i, &steps[i]); i++)
        right++;
    TH_EQ_INT(right, NHALF, "half-close: all %d replies in order, the silent one as 504", NHALF);
    TH_EQ_INT(ffc_wait_closed(cl, WAIT_MS), 0, "half-close: then net closes the connection");
    TH_EQ_INT(ffc_pending(cl), 0, "half-close: nothing arrived after the last reply");
    TH_EQ_INT(th_wait(figure_is_cb, &none, WAIT_MS), 0,
              "half-close: gate dropped the session once it closed (CONN_LOST)");
    ffc_close(cl);
}

/* A half-close with nothing in flight, or after an incomplete frame: closed, no reply. */
static void
test_half_close_idle(th_cluster_t *c)
{
    static const uint8_t partial[10] = {0};
    ffc_t *a = th_connect(c), *b = th_connect(c);
    figure_arg_t none = {c, "net", "connections", 0};
    ffc_msg_t m = {0};

    if (a != NULL && b != NULL) {
        TH_EQ_INT(shutdown(ffc_fd(a), SHUT_WR), 0, "half-close at once: shutdown");
        TH_EQ_INT(ffc_wait_closed(a, WAIT_MS), 0, "half-close at once: net closes");
        TH_EQ_INT(ffc_send_raw(b, partial, sizeof(partial)), 0, "half a frame: 10 bytes sent");
        TH_EQ_INT(shutdown(ffc_fd(b), SHUT_WR), 0, "half a frame: shutdown");
        TH_EQ_INT(ffc_wait_closed(b, WAIT_MS), 0, "half a frame: net closes");
        TH_EQ_INT(ffc_recv(b, &m, 0), -ECONNRESET, "half a frame: no reply");
        ffc_msg_free(&m);
    }
    ffc_close(a);
    ffc_close(b);
    TH_EQ_INT(th_wait(figure_is_cb, &none, WAIT_MS), 0, "net holds no connection at the end");
    none = (figure_arg_t){c, "net", "pending", 0};
    TH_EQ_INT(th_wait(figure_is_cb, &none, WAIT_MS), 0, "net has no request pending");
}

int
main(void)
{
    th_cluster_t *c = th_cluster_start(config);

    if (c == NULL)
        return th_done();
    test_timeout(c);
    test_half_close(c);
    test_half_close_idle(c);
    th_cluster_stop(c);
    th_cluster_free(c);
    return th_done();
}
