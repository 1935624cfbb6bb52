/* reload_test: GET /reload on a running cluster: (a) a game node added to config.json is
 * started and takes new sessions; (b) a removed one is stopped and its process is gone while
 * requests keep working, none failing while it is being removed; (c) a broken config.json is
 * refused with 400 and changes nothing; (d) a rebuilt app swapped in under load: no request of a
 * continuous stream fails, requests dispatched before the reload finish in the old code (version
 * 1), later ones run the new code (version 2), and the game process is the same. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alloc.h"
#include "harness.h"

#define CONF_HEAD                                                                                  \
    "{\"master\":{\"rootport\":@ROOTPORT@,\"webport\":@WEBPORT@,\"log\":\"@DIR@/master.log\"},\n"  \
    " \"servers\":{\"gate\":{\"rootport\":@GATEPORT@,\"log\":\"@DIR@/gate.log\"},\n"               \
    "  \"net\":{\"netport\":@NETPORT@,\"log\":\"@DIR@/net.log\",\n"                                \
    "         \"remoteport\":[{\"rootname\":\"gate\",\"rootport\":@GATEPORT@}]},\n"                \
    "  \"game1\":{\"app\":\"@DIR@/app.so\",\"log\":\"@DIR@/game1.log\",\n"                         \
    "           \"remoteport\":[{\"rootname\":\"gate\",\"rootport\":@GATEPORT@}]}"
#define CONF_GAME2                                                                                 \
    ",\n  \"game2\":{\"app\":\"@REPO@/build/test/apps/libtapp.so\",\"log\":\"@DIR@/game2.log\",\n" \
    "           \"remoteport\":[{\"rootname\":\"gate\",\"rootport\":@GATEPORT@}]}"
#define CONF_TAIL "},\n \"cluster\":{\"requestTimeout\":3000}"

/* gate, net, game1 (the app under @DIR@/app.so). */
static const char conf_one[] = CONF_HEAD CONF_TAIL "}\n";
/* The same plus game2. */
static const char conf_two[] = CONF_HEAD CONF_GAME2 CONF_TAIL "}\n";
/* conf_one with its last brace replaced: a JSON syntax error. */
static const char conf_broken[] = CONF_HEAD CONF_TAIL "]\n";

#define CALL_MS 5000
#define HELD 4      /* connections bound to game1 before game2 is added */
#define NEWCONNS 20 /* connections opened after game2 is added */
#define SLOW_BODY "200"
#define WIDE_WINDOW 128 /* the same for the fast stream of (b) */
#define WINDOW 16       /* requests the stream keeps in flight */
#define MAX_STREAM 200000

/* ---- small helpers ---- */

/* Parses a tapp reply {"node","version"}. Returns 0 and fills node/version, the error code of
 * an error reply, or -EBADMSG when the body is neither. */
static int
parse_whoami(const ffc_msg_t *m, char *node, size_t nodelen, int *version)
{
    json_t *root = json_loadb((const char *)m->body, m->len, 0, NULL);
    const char *n = json_string_value(json_object_get(root, "node"));
    json_t *v = json_object_get(root, "version");
    int rc = th_error_code(m->body, m->len);

    if (rc == 0 && (n == NULL || !json_is_integer(v)))
        rc = -EBADMSG;
    if (rc == 0) {
        snprintf(node, nodelen, "%s", n);
        *version = (int)json_integer_value(v);
    }
    json_decref(root);
    return rc;
}

/* Sends cmd (7, 8 or 10) and parses the reply like parse_whoami; a transport failure returns
 * the client library's negative code. */
static int
whoami(ffc_t *cl, uint32_t cmd, const char *body, char *node, size_t nodelen, int *version)
{
    ffc_msg_t m;
    int rc = ffc_call(cl, cmd, body, body ? strlen(body) : 0, &m, CALL_MS);

    if (rc < 0)
        return rc;
    rc = parse_whoami(&m, node, nodelen, version);
    if (rc != 0)
        th_diag("cmd %u answered %.*s", cmd, (int)m.len, (const char *)m.body);
    ffc_msg_free(&m);
    return rc;
}

/* Whether the JSON array `arr` holds the string s. */
static bool
array_has(json_t *arr, const char *s)
{
    json_t *v;
    size_t i;

    json_array_foreach(arr, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
            return true;
    }
    return false;
}

/* GET /reload: returns the HTTP status (or a negative errno) and the parsed body in *out
 * (NULL when not JSON). */
static int
reload(th_cluster_t *c, json_t **out)
{
    char *body = NULL;
    int st = 0, rc = th_http_get(c, "/reload", &st, &body);

    *out = rc == 0 ? json_loads(body, 0, NULL) : NULL;
    if (rc == 0 && *out == NULL)
        th_diag("GET /reload: HTTP %d, body not JSON: %s", st, body);
    ff_free(body);
    return rc < 0 ? rc : st;
}

/* An integer figure of node `name` in /status, or -1. */
static long long
node_figure(th_cluster_t *c, const char *name, const char *key)
{
    json_t *st = th_cluster_status(c);
    json_t *v = json_object_get(th_status_node(st, name), key);
    long long rc = json_is_integer(v) ? (long long)json_integer_value(v) : -1;

    json_decref(st);
    return rc;
}

/* "name:pid:state ..." for every node of /status, to compare two moments. */
static void
snapshot(th_cluster_t *c, char *out, size_t len)
{
    json_t *st = th_cluster_status(c), *node;
    size_t i, used = 0;

    out[0] = '\0';
    if (st == NULL)
        snprintf(out, len, "(no /status)");
    json_array_foreach(json_object_get(st, "nodes"), i, node)
    {
        used += (size_t)snprintf(out + used, used < len ? len - used : 0, "%s:%lld:%s ",
                                 json_string_value(json_object_get(node, "name")),
                                 (long long)json_integer_value(json_object_get(node, "pid")),
                                 json_string_value(json_object_get(node, "state")));
        if (used >= len)
            break;
    }
    json_decref(st);
}

/* Copies src to dst through a temporary file in dst's directory and rename(2), so that dst
 * is at every moment either the old file or the complete new one. Returns 0 or -errno. */
static int
copy_atomic(const char *src, const char *dst)
{
    char tmp[8300], buf[65536];
    int in, out, err = 0;
    ssize_t n;

    snprintf(tmp, sizeof(tmp), "%s.tmp", dst);
    if ((in = open(src, O_RDONLY | O_CLOEXEC)) < 0)
        return -errno;
    if ((out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755)) < 0) {
        err = -errno;
        close(in);
        return err;
    }
    while ((n = read(in, buf, sizeof(buf))) > 0)
        if (write(out, buf, (size_t)n) != n) {
            err = -EIO;
            break;
        }
    if (n < 0)
        err = -errno;
    close(in);
    if (fsync(out) < 0 && err == 0)
        err = -errno;
    if (close(out) < 0 && err == 0)
        err = -errno;
    if (err == 0 && rename(tmp, dst) < 0)
        err = -errno;
    if (err != 0)
        unlink(tmp);
    return err;
}

/* REPO/build/test/apps/NAME, with REPO found like the harness does: $TH_REPO, else three
 * levels above this binary (REPO/build/test/integration/reload_test). */
static void
test_app_path(const char *name, char *out, size_t len)
{
    char exe[4096], *slash;
    ssize_t n;
    int up;

    if (getenv("TH_REPO") != NULL && realpath(getenv("TH_REPO"), exe) != NULL) {
        snprintf(out, len, "%s/build/test/apps/%s", exe, name);
        return;
    }
    n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    exe[n > 0 ? n : 0] = '\0';
    for (up = 0; up < 2 && (slash = strrchr(exe, '/')) != NULL; up++)
        *slash = '\0';
    snprintf(out, len, "%s/apps/%s", exe, name);
}

/* ---- a stream of requests kept in flight by a second thread ---- */

typedef struct {
    uint32_t cmd;
    int version; /* of the reply; 0 when none */
    int error;   /* error code of the reply, or the client library's negative code */
    long long recv_ms;
} sreq_t;

typedef struct {
    ffc_t *cl;
    atomic_int stop;
    atomic_int sent;
    atomic_int done; /* the thread has returned */
    int received;
    sreq_t *reqs;
    int window;            /* requests kept in flight */
    bool fast_only;        /* no slow requests: cmd 7 in their place */
    char why[256];         /* the first failure of the stream itself: transport, wrong reply */
    char first_error[256]; /* the first error reply */
} stream_t;

/* Sends request i of the stream: every 4th is slow (cmd 8, unless fast_only), then 7,
 * echo (1), 7. */
static int
stream_send(stream_t *s, int i)
{
    static const uint32_t cmds[4] = {8, 7, 1, 7};
    char body[32];
    uint32_t cmd = cmds[i % 4] == 8 && s->fast_only ? 7 : cmds[i % 4];

    s->reqs[i].cmd = cmd;
    if (cmd == 8)
        snprintf(body, sizeof(body), "%s", SLOW_BODY);
    else
        snprintf(body, sizeof(body), "echo-%d", i);
    return ffc_send(s->cl, cmd, body, cmd == 7 ? 0 : strlen(body));
}

/* Checks reply m against request i and records what it said. */
static void
stream_take(stream_t *s, int i, ffc_msg_t *m)
{
    sreq_t *r = &s->reqs[i];
    char node[64], echo[32];

    r->recv_ms = th_now_ms();
    if (m->cmd != r->cmd) {
        r->error = -EBADMSG;
        snprintf(s->why, sizeof(s->why), "reply %d: cmd %u, expected %u", i, m->cmd, r->cmd);
        return;
    }
    if (r->cmd == 1) {
        snprintf(echo, sizeof(echo), "echo-%d", i);
        r->error = th_error_code(m->body, m->len);
        if (r->error == 0 && (m->len != strlen(echo) || memcmp(m->body, echo, m->len) != 0))
            r->error = -EBADMSG;
    } else {
        r->error = parse_whoami(m, node, sizeof(node), &r->version);
    }
    if (r->error == -EBADMSG && s->why[0] == '\0')
        snprintf(s->why, sizeof(s->why), "reply %d (cmd %u): %.150s", i, r->cmd,
                 (const char *)m->body);
    else if (r->error > 0 && s->first_error[0] == '\0')
        snprintf(s->first_error, sizeof(s->first_error), "reply %d (cmd %u): %.150s", i, r->cmd,
                 (const char *)m->body);
}

/* Keeps s->window requests in flight on one connection until told to stop, then collects
 * the remaining replies (they come in request order). */
static void
stream_run(stream_t *s)
{
    int n = 0, rc;
    ffc_msg_t m;

    for (;;) {
        while (!atomic_load(&s->stop) && n - s->received < s->window && n < MAX_STREAM) {
            if ((rc = stream_send(s, n)) < 0) {
                snprintf(s->why, sizeof(s->why), "send %d: %s", n, ffc_strerror(rc));
                return;
            }
            atomic_store(&s->sent, ++n);
        }
        if (s->received == n)
            return;
        if ((rc = ffc_recv(s->cl, &m, CALL_MS)) < 0) {
            s->reqs[s->received].error = rc;
            snprintf(s->why, sizeof(s->why), "reply %d: %s", s->received, ffc_strerror(rc));
            return;
        }
        stream_take(s, s->received++, &m);
        ffc_msg_free(&m);
    }
}

/* The stream's thread. Everything but stop, sent and done is read only after the join. */
static void *
stream_main(void *arg)
{
    stream_t *s = arg;

    stream_run(s);
    atomic_store(&s->done, 1);
    return NULL;
}

typedef struct {
    stream_t *s;
    int want;
} sent_arg_t;

static bool
sent_cb(void *arg)
{
    sent_arg_t *a = arg;

    return atomic_load(&a->s->sent) >= a->want || atomic_load(&a->s->done);
}

/* Connects the stream and starts its thread. Returns 0, or -1 (reported) with nothing left
 * to clean up but s->reqs. */
static int
stream_start(th_cluster_t *c, stream_t *s, pthread_t *th)
{
    if ((s->cl = th_connect(c)) == NULL || pthread_create(th, NULL, stream_main, s) != 0) {
        th_ok(0, "stream started");
        ffc_close(s->cl);
        s->cl = NULL;
        return -1;
    }
    return 0;
}

/* Lets the stream send `more` further requests (or fail), then stops it and joins it. */
static void
stream_finish(stream_t *s, pthread_t th, int more)
{
    sent_arg_t sa = {s, atomic_load(&s->sent) + more};

    th_wait(sent_cb, &sa, 5000);
    atomic_store(&s->stop, 1);
    pthread_join(th, NULL);
    ffc_close(s->cl);
    s->cl = NULL;
}

/* Checks that the stream ran, got every reply, and no error reply. */
static void
stream_check_errors(stream_t *s, const char *part)
{
    int i, sent = atomic_load(&s->sent), errors = 0;

    th_ok(s->why[0] == '\0', "%s the stream ran without a failure%s%s", part, s->why[0] ? ": " : "",
          s->why);
    TH_EQ_INT(s->received, sent, "%s every request of the stream (%d) got its reply", part, sent);
    for (i = 0; i < s->received; i++)
        errors += s->reqs[i].error > 0;
    TH_EQ_INT(errors, 0, "%s no request of the stream got an error reply%s%s", part,
              s->first_error[0] ? "; the first: " : "", s->first_error);
}

/* ---- (a) a game node added ---- */

typedef struct {
    th_cluster_t *c;
    pid_t pid;
    const char *name;
} gone_arg_t;

static bool
pid_gone_cb(void *arg)
{
    gone_arg_t *g = arg;

    return kill(g->pid, 0) < 0 && errno == ESRCH;
}

/* True once /status no longer shows g->name as a live node (absent or stopped) and the
 * gate no longer lists it among its peers. */
static bool
node_removed_cb(void *arg)
{
    gone_arg_t *g = arg;
    json_t *st = th_cluster_status(g->c);
    json_t *node = th_status_node(st, g->name);
    const char *state = json_string_value(json_object_get(node, "state"));
    bool gone = st != NULL && (node == NULL || (state != NULL && strcmp(state, "stopped") == 0)) &&
                !array_has(json_object_get(th_status_node(st, "gate"), "peers"), g->name);

    json_decref(st);
    return gone;
}

/* Adds game2; new sessions must land on it. Leaves in *g2conn a connection bound to game2
 * (or NULL). */
static void
test_add(th_cluster_t *c, ffc_t **g2conn)
{
    ffc_t *held[HELD] = {NULL}, *fresh[NEWCONNS] = {NULL};
    int i, version = 0, on1 = 0, on2 = 0, bad = 0, code;
    char node[64];
    json_t *res;

    *g2conn = NULL;
    for (i = 0; i < HELD; i++) {
        if ((held[i] = th_connect(c)) == NULL)
            break;
        code = whoami(held[i], 10, NULL, node, sizeof(node), &version);
        TH_EQ_INT(code, 0, "(a) bind answers before the reload (connection %d)", i);
        if (code == 0)
            TH_EQ_STR(node, "game1", "(a) only game1 exists: connection %d bound to it", i);
    }
    th_cluster_config_write(c, conf_two);
    code = reload(c, &res);
    TH_EQ_INT(code, 200, "(a) GET /reload with game2 added answers 200");
    th_ok(json_is_true(json_object_get(res, "reloaded")), "(a) reload says \"reloaded\":true");
    th_ok(array_has(json_object_get(res, "started"), "game2"), "(a) \"started\" lists game2");
    TH_EQ_INT(json_array_size(json_object_get(res, "stopped")), 0, "(a) \"stopped\" is empty");
    json_decref(res);
    TH_EQ_INT(th_cluster_wait_ready(c, 15000), 0, "(a) cluster ready with game2");

    for (i = 0; i < NEWCONNS; i++) {
        if ((fresh[i] = th_connect(c)) == NULL)
            break;
        code = whoami(fresh[i], 10, NULL, node, sizeof(node), &version);
        if (code != 0)
            bad++;
        else if (strcmp(node, "game1") == 0)
            on1++;
        else if (strcmp(node, "game2") == 0)
            on2++;
        else
            bad++;
        if (code == 0 && strcmp(node, "game2") == 0 && *g2conn == NULL) {
            *g2conn = fresh[i];
            fresh[i] = NULL;
        }
    }
    th_diag("%d new sessions: %d on game1, %d on game2 (game1 held %d before)", NEWCONNS, on1, on2,
            HELD);
    TH_EQ_INT(bad, 0, "(a) every bind on a new connection answered by game1 or game2");
    th_ok(on2 >= 1, "(a) new sessions land on the added game2 (%d of %d)", on2, NEWCONNS);
    th_ok(on2 >= on1, "(a) the least-loaded game2 takes at least as many as game1 (%d vs %d)", on2,
          on1);
    for (i = 0; i < NEWCONNS; i++)
        ffc_close(fresh[i]);
    for (i = 0; i < HELD; i++)
        ffc_close(held[i]);
}

/* ---- (b) a game node removed ---- */

static void
test_remove(th_cluster_t *c, ffc_t *g2conn)
{
    gone_arg_t g = {c, th_node_pid(c, "game2"), "game2"};
    stream_t s = {.reqs = ff_calloc(MAX_STREAM, sizeof(sreq_t))};
    sent_arg_t sa = {&s, 2 * WINDOW};
    int code, version = 0;
    char node[64] = "";
    bool streaming;
    pthread_t th;
    json_t *res;
    ffc_t *cl;

    th_ok(g.pid > 0, "(b) game2 has a pid before its removal (%d)", (int)g.pid);
    /* Unbound requests, spread over game1 and game2, keep coming while game2 is removed;
     * fast ones, so that some are always on their way to game2 when it stops. */
    s.fast_only = true;
    s.window = WIDE_WINDOW;
    streaming = stream_start(c, &s, &th) == 0;
    th_wait(sent_cb, &sa, 5000);
    th_cluster_config_write(c, conf_one);
    code = reload(c, &res);
    TH_EQ_INT(code, 200, "(b) GET /reload with game2 removed answers 200");
    th_ok(array_has(json_object_get(res, "stopped"), "game2"), "(b) \"stopped\" lists game2");
    TH_EQ_INT(json_array_size(json_object_get(res, "started")), 0, "(b) \"started\" is empty");
    json_decref(res);
    TH_EQ_INT(th_wait(node_removed_cb, &g, 10000), 0,
              "(b) /status drops game2 (gone or stopped, not a gate peer)");
    if (g.pid > 0)
        TH_EQ_INT(th_wait(pid_gone_cb, &g, 10000), 0, "(b) game2's process %d is gone", (int)g.pid);
    if (streaming) {
        stream_finish(&s, th, 2 * WINDOW);
        stream_check_errors(&s, "(b)");
    }
    ff_free(s.reqs);

    if (g2conn != NULL) {
        code = whoami(g2conn, 7, NULL, node, sizeof(node), &version);
        TH_EQ_INT(code, 0, "(b) a session that was bound to game2 still gets answers");
        TH_EQ_STR(code == 0 ? node : NULL, "game1", "(b) ... now from game1");
    } else {
        th_ok(0, "(b) no connection was bound to game2 in (a)");
    }
    if ((cl = th_connect(c)) != NULL) {
        code = whoami(cl, 7, NULL, node, sizeof(node), &version);
        TH_EQ_INT(code, 0, "(b) a new connection gets answers");
        TH_EQ_STR(code == 0 ? node : NULL, "game1", "(b) ... from game1");
        ffc_close(cl);
    }
}

/* ---- (c) a broken config ---- */

static void
test_broken(th_cluster_t *c)
{
    char before[1024], after[1024], node[64] = "";
    const char *err;
    int code, version = 0;
    json_t *res;
    ffc_t *cl;

    snapshot(c, before, sizeof(before));
    th_cluster_config_write(c, conf_broken);
    code = reload(c, &res);
    TH_EQ_INT(code, 400, "(c) GET /reload of a broken config.json answers 400");
    err = json_string_value(json_object_get(res, "error"));
    th_ok(err != NULL && strstr(err, "config.json") != NULL,
          "(c) the 400 body's \"error\" names config.json: %s", err ? err : "(none)");
    json_decref(res);
    snapshot(c, after, sizeof(after));
    TH_EQ_STR(after, before, "(c) /status unchanged: same nodes, pids and states");
    if ((cl = th_connect(c)) != NULL) {
        code = whoami(cl, 7, NULL, node, sizeof(node), &version);
        TH_EQ_INT(code, 0, "(c) requests still work after the refused reload");
        TH_EQ_INT(version, 1, "(c) ... still with the running app (version 1)");
        ffc_close(cl);
    }
    TH_EQ_INT(th_cluster_config_write(c, conf_one), 0, "(c) good config.json restored");
}

/* ---- (d) hot reload of a rebuilt app under load ---- */

typedef struct {
    th_cluster_t *c;
    long long want;
} handled_arg_t;

static bool
handled_cb(void *arg)
{
    handled_arg_t *a = arg;

    return node_figure(a->c, "game1", "handled") >= a->want;
}

/* Polls cmd 7 on new connections until game1 answers version 2. */
static bool
version2_cb(void *arg)
{
    th_cluster_t *c = arg;
    ffc_t *cl = ffc_connect("127.0.0.1", th_cluster_port(c, "NETPORT"), th_cluster_proto(c), 2000);
    int version = 0, code = -1;
    char node[64];

    if (cl != NULL)
        code = whoami(cl, 7, NULL, node, sizeof(node), &version);
    ffc_close(cl);
    return code == 0 && version == 2;
}

/* Checks what the stream saw: mark = requests dispatched before the reload began,
 * reload_ms = when GET /reload answered. */
static void
stream_check(stream_t *s, int mark, long long reload_ms)
{
    int i, sent = atomic_load(&s->sent), slow_v1 = 0, slow_old = 0, across = 0;
    int v2 = 0, first_v2 = -1, v1_after_v2 = 0;

    stream_check_errors(s, "(d)");
    for (i = 0; i < s->received; i++) {
        sreq_t *r = &s->reqs[i];
        if (r->cmd == 8 && i < mark) {
            slow_old++;
            slow_v1 += r->version == 1;
            across += r->version == 1 && r->recv_ms >= reload_ms;
        }
        if (r->version == 2 && first_v2 < 0)
            first_v2 = i;
        v2 += r->version == 2;
        v1_after_v2 += first_v2 >= 0 && r->version == 1;
    }
    th_diag("stream: %d requests, %d before the reload, %d answered by version 2", sent, mark, v2);
    th_ok(slow_old > 0, "(d) slow requests were dispatched before the reload (%d)", slow_old);
    TH_EQ_INT(slow_v1, slow_old, "(d) every slow request dispatched before the reload: version 1");
    th_ok(across > 0, "(d) old code finished slow requests after the reload answered (%d)", across);
    th_ok(v2 > 0, "(d) the stream reached the new code (version 2)");
    TH_EQ_INT(v1_after_v2, 0, "(d) no request after the first version-2 reply ran the old code");
}

static void
test_hot_reload(th_cluster_t *c)
{
    stream_t s = {.reqs = ff_calloc(MAX_STREAM, sizeof(sreq_t)), .window = WINDOW};
    char src[8192], dst[8192];
    pid_t pid = th_node_pid(c, "game1");
    handled_arg_t h = {c, node_figure(c, "game1", "handled")};
    sent_arg_t sa = {&s, 2 * WINDOW};
    long long reload_ms = 0;
    pthread_t th;
    json_t *res;
    int code, mark;

    th_ok(h.want >= 0, "(d) game1 reports \"handled\" (%lld)", h.want);
    if (stream_start(c, &s, &th) < 0) {
        ff_free(s.reqs);
        return;
    }
    /* Every request sent before `mark` was dispatched by game1 before the reload began. */
    th_wait(sent_cb, &sa, 5000);
    mark = atomic_load(&s.sent);
    h.want += mark;
    TH_EQ_INT(th_wait(handled_cb, &h, 5000), 0, "(d) game1 dispatched the first %d requests", mark);

    test_app_path("libtapp2.so", src, sizeof(src));
    snprintf(dst, sizeof(dst), "%s/app.so", th_cluster_dir(c));
    if (TH_EQ_INT(copy_atomic(src, dst), 0, "(d) app.so replaced by %s (rename)", src)) {
        code = reload(c, &res);
        reload_ms = th_now_ms();
        TH_EQ_INT(code, 200, "(d) GET /reload of the rebuilt app answers 200");
        json_decref(res);
        TH_EQ_INT(th_wait(version2_cb, c, 10000), 0,
                  "(d) cmd 7 answers version 2 after the reload");
    }
    stream_finish(&s, th, 2 * WINDOW);
    if (reload_ms > 0)
        stream_check(&s, mark, reload_ms);
    TH_EQ_INT(th_node_pid(c, "game1"), pid, "(d) game1 is the same process (hot reload)");
    ff_free(s.reqs);
}

int
main(void)
{
    char src[8192], dst[8192];
    ffc_t *g2conn = NULL;
    th_cluster_t *c = th_cluster_new(conf_one);

    if (c == NULL)
        return th_done();
    /* game1's app is a copy under DIR, so that (d) can replace it. */
    snprintf(dst, sizeof(dst), "%s/app.so", th_cluster_dir(c));
    test_app_path("libtapp.so", src, sizeof(src));
    if (!TH_EQ_INT(copy_atomic(src, dst), 0, "app.so copied from %s", src) ||
        !TH_EQ_INT(th_cluster_spawn(c, NULL), 0, "master spawned") ||
        !TH_EQ_INT(th_cluster_wait_ready(c, 30000), 0, "cluster ready: gate, net, game1")) {
        th_cluster_free(c);
        return th_done();
    }
    test_add(c, &g2conn);
    test_remove(c, g2conn);
    ffc_close(g2conn);
    test_broken(c);
    test_hot_reload(c);
    th_cluster_stop(c);
    th_cluster_free(c);
    return th_done();
}
