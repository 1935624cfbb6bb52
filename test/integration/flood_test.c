/* flood_test: net's flood guards (docs/net.md, "Flood guards") on one cluster with
 * maxRequestsPerSecond 50, maxConnectionsPerIp 4 and maxPipeline 16.
 * (a) A client sending 20 requests/s for 2 s gets every reply and stays connected while, on
 *     the same net, a client pipelining 400 requests at once is disconnected by the server
 *     with exactly one WARN line; the well-behaved client still answers afterwards.
 * (b) With 4 connections open from 127.0.0.1 a 5th is closed by the server at once, the 4 keep
 *     working, and once one of them is closed a new connection is accepted and answers.
 * (c) A burst of 10 more refused connections is reported in at most two WARN lines whose
 *     counts add up, not in one line each.
 * (d) /reload with both keys at 0: a 6th connection from the same address is accepted and a
 *     client pipelining 200 requests gets every reply. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "harness.h"
#include "tapp/tapp_proto.h"

#define CONF_HEAD                                                                                  \
    "{\"master\":{\"rootport\":@ROOTPORT@,\"webport\":@WEBPORT@,\"log\":\"@DIR@/master.log\"},"    \
    " \"servers\":{"                                                                               \
    "  \"gate\":{\"rootport\":@GATEPORT@,\"log\":\"@DIR@/gate.log\"},"                             \
    "  \"net\":{\"netport\":@NETPORT@,\"log\":\"@DIR@/net.log\","                                  \
    "   \"remoteport\":[{\"rootname\":\"gate\",\"rootport\":@GATEPORT@}]},"                        \
    "  \"game1\":{\"app\":\"@REPO@/build/test/apps/libtapp.so\",\"log\":\"@DIR@/game1.log\","      \
    "   \"remoteport\":[{\"rootname\":\"gate\",\"rootport\":@GATEPORT@}]}},"                       \
    " \"netconnect\":{\"magic\":\"N%&0\",\"protoVersion\":9,\"serverVersion\":0,"
#define CONF_TAIL " \"cluster\":{\"requestTimeout\":3000,\"idleTimeout\":300,\"maxPipeline\":16}}"

static const char config[] =
    CONF_HEAD "\"maxRequestsPerSecond\":50,\"maxConnectionsPerIp\":4}," CONF_TAIL;
static const char config_off[] =
    CONF_HEAD "\"maxRequestsPerSecond\":0,\"maxConnectionsPerIp\":0}," CONF_TAIL;

#define WAIT_MS 5000
#define CLOSE_MS 3000
#define MAX_PER_IP 4
#define GOOD_REQUESTS 40 /* at 20/s: 2 s */
#define GOOD_PERIOD_MS 50
#define FLOOD_AT 10 /* the flood starts after this many good requests */
#define FLOOD_REQUESTS 400
#define BURST 10
#define PIPELINE_OFF 200

#define RATE_WARN "(netconnect.maxRequestsPerSecond); closing"
#define REFUSED_WARN "(netconnect.maxConnectionsPerIp)"

/* ---- helpers ---- */

/* An integer figure of net in /status, or -1. */
static long long
net_figure(th_cluster_t *c, const char *key)
{
    json_t *st = th_cluster_status(c);
    json_t *v = json_object_get(th_status_node(st, "net"), key);
    long long rc = json_is_integer(v) ? (long long)json_integer_value(v) : -1;

    json_decref(st);
    return rc;
}

typedef struct {
    th_cluster_t *c;
    const char *key;    /* a net figure of /status, or NULL for a log count */
    const char *needle; /* log lines of net.log to count */
    long long want;
} until_arg_t;

static bool
until_cb(void *arg)
{
    until_arg_t *a = arg;

    if (a->key != NULL)
        return net_figure(a->c, a->key) == a->want;
    return th_log_count(a->c, "net", a->needle) >= a->want;
}

/* Waits until net's /status figure `key` equals want; returns whether it did. */
static bool
wait_figure(th_cluster_t *c, const char *key, long long want)
{
    until_arg_t a = {c, key, NULL, want};
    return th_wait(until_cb, &a, WAIT_MS) == 0;
}

/* Waits until net.log has at least `want` lines containing needle; returns the count then. */
static int
wait_log(th_cluster_t *c, const char *needle, int want)
{
    until_arg_t a = {c, NULL, needle, want};

    th_wait(until_cb, &a, WAIT_MS);
    return th_log_count(c, "net", needle);
}

/* The refusal counts of net.log's maxConnectionsPerIp lines added up, and the lines in *lines
 * (a line reads `... W N connection(s) refused: ...`). */
static long
refused_logged(th_cluster_t *c, int *lines)
{
    char path[4096], *line = NULL;
    size_t cap = 0;
    long sum = 0;
    FILE *f;

    *lines = 0;
    snprintf(path, sizeof(path), "%s/net.log", th_cluster_dir(c));
    if ((f = fopen(path, "r")) == NULL)
        return 0;
    while (getline(&line, &cap, f) >= 0) {
        char *w = strstr(line, " W ");
        if (w != NULL && strstr(line, REFUSED_WARN) != NULL) {
            sum += strtol(w + 3, NULL, 10);
            (*lines)++;
        }
    }
    free(line);
    fclose(f);
    return sum;
}

typedef struct {
    th_cluster_t *c;
    long want;
} sum_arg_t;

static bool
refused_sum_cb(void *arg)
{
    sum_arg_t *a = arg;
    int lines;

    return refused_logged(a->c, &lines) >= a->want;
}

/* An echo round trip; returns whether the reply came back with the body. */
static bool
echo(ffc_t *cl, const char *body)
{
    ffc_msg_t m = {0};
    int rc = ffc_call(cl, TAPP_ECHO, body, strlen(body), &m, WAIT_MS);
    bool ok = rc == 0 && m.len == strlen(body) && memcmp(m.body, body, m.len) == 0;

    if (!ok)
        th_diag("echo \"%s\": %s", body, rc == 0 ? "wrong body" : ffc_strerror(rc));
    ffc_msg_free(&m);
    return ok;
}

/* Sleeps until the monotonic time `at_ms`. This paces a client's requests (the load's shape),
 * it does not wait for a condition. */
static void
sleep_until(long long at_ms)
{
    struct timespec ts = {(time_t)(at_ms / 1000), (long)(at_ms % 1000) * 1000000};

    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

/* Sends n echo requests in one write, as a client pipelining them at once. Returns like
 * ffc_send_raw. */
static int
send_pipelined(th_cluster_t *c, ffc_t *cl, int n, const char *body)
{
    size_t len = strlen(body), one = FF_FRAME_HEADER + len;
    uint8_t *buf = ff_malloc(one * (size_t)n);
    int rc;

    for (int i = 0; i < n; i++) {
        ff_frame_encode(th_cluster_proto(c), 1, (uint32_t)len, buf + one * (size_t)i);
        memcpy(buf + one * (size_t)i + FF_FRAME_HEADER, body, len);
    }
    rc = ffc_send_raw(cl, buf, one * (size_t)n);
    ff_free(buf);
    return rc;
}

/* The server closes cl within CLOSE_MS, having sent nothing (more). */
static void
closed_by_server(ffc_t *cl, const char *what)
{
    TH_EQ_INT(ffc_wait_closed(cl, CLOSE_MS), 0, "%s: the server closes the connection", what);
}

/* ---- (a) maxRequestsPerSecond ---- */

static ffc_t *
start_flood(th_cluster_t *c)
{
    ffc_t *flood = th_connect(c);
    int rc;

    if (flood == NULL)
        return NULL;
    rc = send_pipelined(c, flood, FLOOD_REQUESTS, "flood");
    /* The server may close while the requests are still going out: a reset is fine. */
    th_ok(rc == 0 || rc == -ECONNRESET, "flood: %d requests sent at once (%s)", FLOOD_REQUESTS,
          ffc_strerror(rc));
    return flood;
}

static void
test_rate(th_cluster_t *c)
{
    ffc_t *good = th_connect(c), *flood = NULL;
    long long next = th_now_ms();
    int answered = 0;
    char body[64];

    if (good == NULL)
        return;
    for (int i = 0; i < GOOD_REQUESTS; i++) {
        sleep_until(next);
        if (i == FLOOD_AT)
            flood = start_flood(c);
        snprintf(body, sizeof(body), "good %d", i);
        answered += echo(good, body);
        /* Late after a stall, it does not catch up: it never goes above 20 requests/s. */
        next += GOOD_PERIOD_MS;
        if (next < th_now_ms())
            next = th_now_ms();
    }
    TH_EQ_INT(answered, GOOD_REQUESTS, "rate: the client at 20 requests/s got every reply");
    if (flood != NULL)
        closed_by_server(flood, "rate: the flooding client");
    ffc_close(flood);
    TH_EQ_INT(wait_log(c, RATE_WARN, 1), 1, "rate: exactly one WARN line about the flood");
    th_ok(wait_figure(c, "overRate", 1), "rate: /status shows 1 connection closed over rate");
    th_ok(wait_figure(c, "connections", 1), "rate: net holds only the good connection");
    th_ok(echo(good, "good after the flood"), "rate: the good client still answers");
    TH_EQ_INT(ffc_pending(good), 0, "rate: the good client received nothing unexpected");
    ffc_close(good);
    TH_EQ_INT(th_log_count(c, "net", RATE_WARN), 1, "rate: still one WARN line at the end");
}

/* ---- (b) maxConnectionsPerIp ---- */

static void
all_answer(ffc_t **h, int n, const char *round)
{
    char body[64];

    for (int i = 0; i < n; i++) {
        snprintf(body, sizeof(body), "%s %d", round, i);
        th_ok(h[i] != NULL && echo(h[i], body), "%s: connection %d answers", round, i);
    }
}

static void
test_per_ip(th_cluster_t *c, ffc_t **h)
{
    ffc_t *extra;
    int lines;

    th_ok(wait_figure(c, "connections", 0), "per ip: net has no connection left from (a)");
    for (int i = 0; i < MAX_PER_IP; i++)
        h[i] = th_connect(c);
    all_answer(h, MAX_PER_IP, "per ip: 4 open");
    if ((extra = th_connect(c)) != NULL)
        closed_by_server(extra, "per ip: the 5th connection");
    ffc_close(extra);
    all_answer(h, MAX_PER_IP, "per ip: after the 5th");
    TH_EQ_INT(net_figure(c, "connections"), MAX_PER_IP, "per ip: the refused one is not counted");
    TH_EQ_INT(net_figure(c, "refused"), 1, "per ip: /status shows 1 refused connection");
    TH_EQ_INT(wait_log(c, REFUSED_WARN, 1), 1, "per ip: one WARN line about the refusal");
    TH_EQ_INT(refused_logged(c, &lines), 1, "per ip: the line counts 1 refused connection");

    ffc_close(h[0]);
    th_ok(wait_figure(c, "connections", MAX_PER_IP - 1), "per ip: net saw one of the 4 close");
    h[0] = th_connect(c);
    all_answer(h, MAX_PER_IP, "per ip: one replaced");
}

/* ---- (c) the refusal WARN is rate-limited ---- */

static void
test_refused_burst(th_cluster_t *c, ffc_t **h)
{
    sum_arg_t sa = {c, 1 + BURST};
    ffc_t *extra[BURST];
    int lines;
    long sum;

    for (int i = 0; i < BURST; i++)
        extra[i] = th_connect(c);
    for (int i = 0; i < BURST; i++) {
        if (extra[i] != NULL)
            closed_by_server(extra[i], "burst: a refused connection");
        ffc_close(extra[i]);
    }
    th_wait(refused_sum_cb, &sa, WAIT_MS);
    sum = refused_logged(c, &lines);
    TH_EQ_INT(sum, 1 + BURST, "burst: the WARN lines count every refused connection");
    /* The burst lasts well under a second: at most one line at once, one from the timer. */
    th_ok(lines >= 2 && lines <= 3, "burst: %d refusals in %d WARN lines (1 from (b), <= 2 now)",
          BURST, lines);
    TH_EQ_INT(net_figure(c, "refused"), 1 + BURST, "burst: /status counts them too");
    all_answer(h, MAX_PER_IP, "burst: the 4 after it");
}

/* ---- (d) both off after /reload ---- */

static void
test_reload_off(th_cluster_t *c, ffc_t **h)
{
    ffc_t *more[2];
    ffc_msg_t m = {0};
    int st = 0, got = 0;

    th_ok(th_cluster_config_write(c, config_off) == 0, "reload: config rewritten");
    TH_EQ_INT(th_http_get(c, "/reload", &st, NULL), 0, "reload: GET /reload");
    TH_EQ_INT(st, 200, "reload: HTTP 200");
    TH_EQ_INT(wait_log(c, "maxRequestsPerSecond 0, maxConnectionsPerIp 0", 1), 1,
              "reload: net re-read both keys");
    more[0] = th_connect(c);
    more[1] = th_connect(c);
    all_answer(more, 2, "reload: a 5th and 6th connection");
    if (more[0] != NULL) {
        TH_EQ_INT(send_pipelined(c, more[0], PIPELINE_OFF, "pipelined"), 0,
                  "reload: %d requests sent at once", PIPELINE_OFF);
        while (got < PIPELINE_OFF && ffc_recv(more[0], &m, WAIT_MS) == 0) {
            got++;
            ffc_msg_free(&m);
        }
        TH_EQ_INT(got, PIPELINE_OFF, "reload: every pipelined request answered");
    }
    all_answer(h, MAX_PER_IP, "reload: the first 4");
    ffc_close(more[0]);
    ffc_close(more[1]);
    TH_EQ_INT(th_log_count(c, "net", RATE_WARN), 1, "reload: no new flood WARN");
}

int
main(void)
{
    th_cluster_t *c = th_cluster_start(config);
    ffc_t *h[MAX_PER_IP] = {NULL};

    if (c == NULL)
        return th_done();
    test_rate(c);
    test_per_ip(c, h);
    test_refused_burst(c, h);
    test_reload_off(c, h);
    for (int i = 0; i < MAX_PER_IP; i++)
        ffc_close(h[i]);
    th_cluster_stop(c);
    th_cluster_free(c);
    return th_done();
}
