/* web_test: the web port belongs to the operator (docs/master.md, "HTTP API").
 *
 * With master.webtoken set: /stop, /status and unknown paths without the token, or with a
 * wrong one, get 401 and change nothing; /healthz answers without it; a token split across
 * reads still counts, a second Authorization header spoils it; 401s are logged at most once
 * a second, with a count, and never with a token; a reload that changes the token keeps
 * the old one (with a WARN). Abuse: 500 half-sent requests held open do not slow /status
 * down; a client dripping a byte a second is cut off 10 s after it connected; more than
 * WEB_MAX_CONNS half-sent requests evict the oldest and /status still answers at once.
 * Without a token, /healthz and /status answer as before. `master -t` refuses a
 * non-loopback webhost without a token and a webtokenFile open to others. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../master/web.h"
#include "alloc.h"
#include "harness.h"

#define TOKEN "web-test-token-0123456789abcdef"
#define WRONG "web-test-token-0123456789abcdeX"
#define TOKEN2 "web-test-token-changed-by-reload"

#define CLUSTER(master_extra)                                                                      \
    "{\"master\":{\"rootport\":@ROOTPORT@,\"webport\":@WEBPORT@,\"log\":\"@DIR@/"                  \
    "master.log\"" master_extra "},"                                                               \
    " \"servers\":{"                                                                               \
    "  \"gate\":{\"rootport\":@GATEPORT@,\"log\":\"@DIR@/gate.log\"},"                             \
    "  \"net\":{\"netport\":@NETPORT@,\"log\":\"@DIR@/net.log\","                                  \
    "   \"remoteport\":[{\"rootname\":\"gate\",\"rootport\":@GATEPORT@}]},"                        \
    "  \"game1\":{\"app\":\"@REPO@/build/test/apps/libtapp.so\",\"log\":\"@DIR@/game1.log\","      \
    "   \"remoteport\":[{\"rootname\":\"gate\",\"rootport\":@GATEPORT@}]}},"                       \
    " \"cluster\":{\"requestTimeout\":3000}}"

static const char config[] = CLUSTER(",\"webtoken\":\"" TOKEN "\"");
static const char config_reloaded[] = CLUSTER(",\"webtoken\":\"" TOKEN2 "\"");

static const char gate_only[] =
    "{\"master\":{\"rootport\":@ROOTPORT@,\"webport\":@WEBPORT@,\"log\":\"@DIR@/master.log\"},"
    " \"servers\":{\"gate\":{\"rootport\":@GATEPORT@,\"log\":\"@DIR@/gate.log\"}}}";

#define PARTIAL "GET /status HTTP/1.1\r\nHost: x\r\n"
#define NSLOW 500
#define NOVER (WEB_MAX_CONNS + 100)
#define ANSWER_MS 1000

static const char *const nodes[] = {"gate", "net", "game1"};
#define NNODES (sizeof(nodes) / sizeof(nodes[0]))

/* ---- raw sockets: partial and hand-split requests, which ffclient cannot send ---- */

static int
raw_connect(th_cluster_t *c)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

    a.sin_port = htons((uint16_t)th_cluster_port(c, "WEBPORT"));
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        close(fd);
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

static bool
raw_send(int fd, const char *s)
{
    return send(fd, s, strlen(s), MSG_NOSIGNAL) == (ssize_t)strlen(s);
}

/* Reads until the server closes (or resets) the connection, or timeout_ms pass. Returns the
 * bytes read (buf NUL-terminated), or -1 on timeout. */
static int
raw_read_all(int fd, char *buf, size_t len, int timeout_ms)
{
    long long deadline = th_now_ms() + timeout_ms;
    struct pollfd p = {fd, POLLIN, 0};
    size_t got = 0;
    ssize_t n;

    buf[0] = '\0';
    for (;;) {
        long long left = deadline - th_now_ms();
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            return -1;
        n = recv(fd, buf + got, len - 1 - got, 0);
        if (n == 0 || (n < 0 && errno == ECONNRESET) || got + (size_t)n >= len - 1)
            return (int)got;
        if (n > 0)
            buf[got += (size_t)n] = '\0';
    }
}

/* Opens n connections, each with a request missing its blank line. Returns how many
 * opened; fds[i] is -1 for the others. */
static int
open_partial(th_cluster_t *c, int *fds, int n)
{
    int ok = 0;

    for (int i = 0; i < n; i++) {
        fds[i] = raw_connect(c);
        if (fds[i] >= 0 && raw_send(fds[i], PARTIAL))
            ok++;
    }
    return ok;
}

static void
close_all(int *fds, int n)
{
    for (int i = 0; i < n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
}

/* A gap between the pieces of one request, so that they arrive in separate reads. This is
 * the scenario under test, not a wait for a condition. */
static void
gap(void)
{
    struct timespec ts = {0, 50 * 1000000L};

    nanosleep(&ts, NULL);
}

/* ---- HTTP with or without the token ---- */

static int
get(th_cluster_t *c, const char *path, const char *token, char **body)
{
    int st = 0, rc;
    char *b = NULL;

    rc = ffc_http_get_auth("127.0.0.1", th_cluster_port(c, "WEBPORT"), path, token, 5000, &st, &b,
                           NULL);
    if (body != NULL)
        *body = b;
    else
        ff_free(b);
    return rc < 0 ? rc : st;
}

/* GET /status with the token, timed; checks 200 within ANSWER_MS. */
static void
status_answers_fast(th_cluster_t *c, const char *when)
{
    long long t0 = th_now_ms(), dt;
    int st = get(c, "/status", TOKEN, NULL);

    dt = th_now_ms() - t0;
    TH_EQ_INT(st, 200, "%s: GET /status with the token answers 200", when);
    th_ok(dt < ANSWER_MS, "%s: ... within %d ms (%lld ms)", when, ANSWER_MS, dt);
}

static int
master_log_count(th_cluster_t *c, const char *needle)
{
    return th_log_count(c, "master", needle);
}

typedef struct {
    th_cluster_t *c;
    const char *needle;
} log_arg_t;

static bool
log_has_cb(void *arg)
{
    log_arg_t *a = arg;
    return master_log_count(a->c, a->needle) > 0;
}

/* ---- the token ---- */

static void
nodes_still_running(th_cluster_t *c, const pid_t *pids, const char *when)
{
    char state[32];

    for (size_t i = 0; i < NNODES; i++) {
        TH_EQ_STR(th_node_state(c, nodes[i], state, sizeof(state)), "running",
                  "%s: %s still running", when, nodes[i]);
        TH_EQ_INT(th_node_pid(c, nodes[i]), pids[i], "%s: %s under the same PID", when, nodes[i]);
    }
}

static void
token_required(th_cluster_t *c, const pid_t *pids)
{
    char *body = NULL;

    TH_EQ_INT(get(c, "/stop", NULL, &body), 401, "GET /stop without the token: 401");
    th_ok(body != NULL && strstr(body, "\"error\":\"unauthorized\"") != NULL,
          "... with {\"error\":\"unauthorized\"} (%s)", body != NULL ? body : "no body");
    ff_free(body);
    TH_EQ_INT(kill(th_master_pid(c), 0), 0, "master still alive after the refused /stop");
    nodes_still_running(c, pids, "after the refused /stop");
    TH_EQ_INT(get(c, "/status", WRONG, NULL), 401, "GET /status with a wrong token: 401");
    TH_EQ_INT(get(c, "/status", "short", NULL), 401, "GET /status with a short token: 401");
    TH_EQ_INT(get(c, "/status", TOKEN " x", NULL), 401, "GET /status with the token + more: 401");
    TH_EQ_INT(get(c, "/reload", NULL, NULL), 401, "GET /reload without the token: 401");
    TH_EQ_INT(get(c, "/nowhere", NULL, NULL), 401, "an unknown path without the token: 401");
    TH_EQ_INT(get(c, "/nowhere", TOKEN, NULL), 404, "... and 404 with it");
    TH_EQ_INT(get(c, "/healthz", NULL, &body), 200, "GET /healthz without the token: 200");
    TH_EQ_STR(body, "{\"ok\":true}", "... {\"ok\":true}");
    ff_free(body);
    TH_EQ_INT(get(c, "/healthz", WRONG, NULL), 200, "GET /healthz with a wrong token: 200");
    TH_EQ_INT(get(c, "/status", TOKEN, NULL), 200, "GET /status with the token: 200");
}

/* Sends a request in pieces (NULL-terminated) on its own connection; returns the answer's
 * status code, or -1. */
static int
split_request(th_cluster_t *c, const char *const *pieces)
{
    char answer[4096];
    int fd = raw_connect(c), st = -1;

    for (size_t i = 0; fd >= 0 && pieces[i] != NULL; i++) {
        if (i > 0)
            gap();
        raw_send(fd, pieces[i]);
    }
    if (fd >= 0 && raw_read_all(fd, answer, sizeof(answer), 5000) > 0)
        sscanf(answer, "HTTP/1.1 %d", &st);
    if (fd >= 0)
        close(fd);
    return st;
}

static void
token_split_and_doubled(th_cluster_t *c)
{
    static const char *const split[] = {"GET /status HTTP/1.1\r\nHost: x\r\nAuthor",
                                        "izATION:   bEaReR web-test-tok", "en-0123456789abc",
                                        "def  \r\n\r\n", NULL};
    static const char *const twice[] = {"GET /status HTTP/1.1\r\nAuthorization: Bearer " TOKEN
                                        "\r\nAuthorization: Bearer " TOKEN "\r\n\r\n",
                                        NULL};
    static const char *const other_name[] = {
        "GET /status HTTP/1.1\r\nX-Authorization: Bearer " TOKEN "\r\n\r\n", NULL};

    TH_EQ_INT(split_request(c, split), 200, "the token split across four reads: 200");
    TH_EQ_INT(split_request(c, twice), 401, "two Authorization headers: 401");
    TH_EQ_INT(split_request(c, other_name), 401, "the token in X-Authorization: 401");
}

/* A burst of refused requests: a few WARN lines with the client's address, a count of the
 * rest, and no token in the log. */
static void
deny_logging(th_cluster_t *c)
{
    log_arg_t held = {c, "more 401 answers not logged"};
    long long t0 = th_now_ms();
    int lines, secs;

    for (int i = 0; i < 30; i++)
        get(c, "/status", i % 2 ? WRONG : NULL, NULL);
    secs = (int)((th_now_ms() - t0) / 1000);
    lines = master_log_count(c, "401 for");
    th_ok(lines >= 1 && lines <= secs + 4, "401s logged at most once a second: %d lines in %d s",
          lines, secs + 1);
    th_ok(master_log_count(c, "401 for GET /stop from 127.0.0.1:") > 0,
          "a 401 line names the client's address");
    TH_EQ_INT(th_wait(log_has_cb, &held, 3000), 0, "the 401s not logged are counted");
    TH_EQ_INT(master_log_count(c, TOKEN), 0, "the token is never logged");
    TH_EQ_INT(master_log_count(c, WRONG), 0, "a wrong token is never logged");
}

/* A reload that changes the token: WARN, and the token master started with still rules. */
static void
reload_keeps_token(th_cluster_t *c)
{
    log_arg_t warn = {c, "master.webtoken changed"};

    if (th_cluster_config_write(c, config_reloaded) < 0)
        return;
    TH_EQ_INT(get(c, "/reload", TOKEN, NULL), 200, "reload with a changed token: 200");
    TH_EQ_INT(th_wait(log_has_cb, &warn, 3000), 0, "... logs that the token change waits");
    TH_EQ_INT(get(c, "/status", TOKEN, NULL), 200, "the old token still works after reload");
    TH_EQ_INT(get(c, "/status", TOKEN2, NULL), 401, "the new token does not, until a restart");
    TH_EQ_INT(master_log_count(c, TOKEN2), 0, "the new token is never logged");
}

/* ---- abuse ---- */

/* Drips one byte a second on fd until the server answers and closes it. Returns the ms from
 * t0 to the close, or -1; the answer's status code in *st. */
static long long
drip_until_closed(int fd, long long t0, int *st)
{
    static const char more[] = "ET /status HTTP/1.1\r\nX-Drip: aaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    char answer[1024];
    struct pollfd p = {fd, POLLIN, 0};

    *st = -1;
    for (size_t i = 0; i < sizeof(more) - 1 && th_now_ms() - t0 < 20000; i++) {
        if (poll(&p, 1, 1000) > 0) {
            if (raw_read_all(fd, answer, sizeof(answer), 5000) > 0)
                sscanf(answer, "HTTP/1.1 %d", st);
            return th_now_ms() - t0;
        }
        send(fd, more + i, 1, MSG_NOSIGNAL);
    }
    return -1;
}

static void
slowloris(th_cluster_t *c)
{
    static int fds[NSLOW];
    log_arg_t held = {c, "more client errors not logged"};
    long long t0 = th_now_ms(), closed_ms;
    int drip = raw_connect(c), st, n;

    th_ok(drip >= 0 && raw_send(drip, "G"), "a dripping client connects and sends 1 byte");
    n = open_partial(c, fds, NSLOW);
    TH_EQ_INT(n, NSLOW, "%d connections hold half-sent requests", NSLOW);
    status_answers_fast(c, "with 500 half-sent requests open");
    closed_ms = drip_until_closed(drip, t0, &st);
    th_ok(closed_ms >= 9500 && closed_ms <= 12000,
          "the dripping client is cut off 10 s after connecting, not after its last byte (%lld "
          "ms)",
          closed_ms);
    TH_EQ_INT(st, 408, "... with 408");
    TH_EQ_INT(th_wait(log_has_cb, &held, 3000), 0, "the 408s not logged one by one are counted");
    th_ok(master_log_count(c, "408 request timeout") <= 3, "%d 408s logged in %d lines", NSLOW + 1,
          master_log_count(c, "408 request timeout"));
    close_all(fds, NSLOW);
    if (drip >= 0)
        close(drip);
}

/* Raises this process's open-file limit to what the test needs; false when it cannot. */
static bool
fds_for(int n)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_max < (rlim_t)n)
        return false;
    rl.rlim_cur = rl.rlim_max;
    return setrlimit(RLIMIT_NOFILE, &rl) == 0;
}

static void
over_the_cap(th_cluster_t *c)
{
    int *fds, n, evicted_st;
    char answer[256];

    if (!fds_for(NOVER + 64)) {
        th_ok(1, "# SKIP over the cap: the hard open-file limit is below %d", NOVER + 64);
        return;
    }
    fds = ff_calloc(NOVER, sizeof(int));
    n = open_partial(c, fds, NOVER);
    TH_EQ_INT(n, NOVER, "%d half-sent requests, %d over the cap of %d", NOVER,
              NOVER - WEB_MAX_CONNS, WEB_MAX_CONNS);
    status_answers_fast(c, "over the cap");
    evicted_st = raw_read_all(fds[0], answer, sizeof(answer), 3000);
    TH_EQ_INT(evicted_st, 0, "the oldest half-sent request was closed to make room");
    th_ok(master_log_count(c, "(the limit): closed the oldest idle one") >= 1,
          "the evictions are logged");
    th_ok(master_log_count(c, "(the limit)") <= 3, "... at most once a second (%d lines)",
          master_log_count(c, "(the limit)"));
    close_all(fds, NOVER);
    ff_free(fds);
    TH_EQ_INT(get(c, "/healthz", NULL, NULL), 200, "master healthy after the flood");
}

/* ---- without a token, and master -t ---- */

static void
no_token(void)
{
    th_cluster_t *c = th_cluster_start(gate_only);

    if (c == NULL)
        return;
    TH_EQ_INT(get(c, "/healthz", NULL, NULL), 200, "no token configured: /healthz answers 200");
    TH_EQ_INT(get(c, "/status", NULL, NULL), 200, "no token configured: /status needs none");
    th_cluster_stop(c);
    th_cluster_free(c);
}

/* Runs `master -t` on a template; token_mode > 0 first writes DIR/token with that mode.
 * Returns master's exit status (-1 if it did not exit) with its output in out. */
static int
check_config(const char *template, int token_mode, char *out, size_t len)
{
    static const char *const args[] = {"-t", NULL};
    th_cluster_t *c = th_cluster_new(template);
    char path[4200];
    FILE *f;
    int st = 0, rc = -1;

    out[0] = '\0';
    if (c == NULL)
        return -1;
    snprintf(path, sizeof(path), "%s/token", th_cluster_dir(c));
    if (token_mode > 0 && (f = fopen(path, "w")) != NULL) {
        fputs(TOKEN "\n", f);
        fclose(f);
        chmod(path, (mode_t)token_mode);
    }
    if (th_cluster_spawn(c, args) == 0 && th_cluster_wait_exit(c, 10000, &st) == 0)
        rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    snprintf(path, sizeof(path), "%s/master.out", th_cluster_dir(c));
    if ((f = fopen(path, "r")) != NULL) {
        out[fread(out, 1, len - 1, f)] = '\0';
        out[strcspn(out, "\n")] = '\0';
        fclose(f);
    }
    th_cluster_free(c);
    return rc;
}

#define OPEN_HOST(extra)                                                                           \
    "{\"master\":{\"rootport\":@ROOTPORT@,\"webport\":@WEBPORT@,\"webhost\":\"0.0.0.0\"" extra     \
    "},\"servers\":{\"gate\":{\"rootport\":@GATEPORT@}}}"

static void
master_t(void)
{
    char out[4096];

    TH_EQ_INT(check_config(OPEN_HOST(""), 0, out, sizeof(out)), 1,
              "master -t: webhost 0.0.0.0 without a token exits 1");
    th_ok(strstr(out, "master.webhost: \"0.0.0.0\" is not a loopback address") != NULL,
          "... naming master.webhost (%s)", out);
    TH_EQ_INT(check_config(OPEN_HOST(",\"webtoken\":\"" TOKEN "\""), 0, out, sizeof(out)), 0,
              "master -t: webhost 0.0.0.0 with a token is accepted (%s)", out);
    TH_EQ_INT(check_config(OPEN_HOST(",\"webtokenFile\":\"token\""), 0644, out, sizeof(out)), 1,
              "master -t: a webtokenFile with mode 0644 exits 1");
    th_ok(strstr(out, "master.webtokenFile:") != NULL && strstr(out, TOKEN) == NULL,
          "... naming master.webtokenFile, not the token (%s)", out);
    TH_EQ_INT(check_config(OPEN_HOST(",\"webtokenFile\":\"token\""), 0600, out, sizeof(out)), 0,
              "master -t: a webtokenFile with mode 0600 is accepted (%s)", out);
}

int
main(void)
{
    th_cluster_t *c;
    pid_t pids[NNODES];

    master_t();
    no_token();
    if ((c = th_cluster_start(config)) == NULL)
        return th_done();
    for (size_t i = 0; i < NNODES; i++)
        pids[i] = th_node_pid(c, nodes[i]);
    token_required(c, pids);
    token_split_and_doubled(c);
    deny_logging(c);
    slowloris(c);
    over_the_cap(c);
    reload_keeps_token(c);
    th_cluster_stop(c);
    th_cluster_free(c);
    return th_done();
}
