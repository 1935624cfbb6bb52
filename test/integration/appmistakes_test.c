/* appmistakes_test: the app API forgives an app author's mistakes (test/apps/tbad makes one
 * per command). (a) A request completed twice, NULL where a call takes a pointer: the node
 * stays up (same pid), the client gets the first reply or error 500 at once, and the node's
 * log has one WARN naming the call and the command; ff_app_log and what an app prints reach
 * the node's log. (b) Two different apps registering one command: gate WARNs naming both
 * nodes, and not for two nodes of one app. (c) A handler that dereferences NULL: the node's
 * log names the signal and the command with a backtrace, master restarts the node and /status
 * shows "signal 11 (Segmentation fault) in command 666". (d) While a command's only node is
 * down, its requests get 503 "restarting", not 404; once a reload removes the node, 404.
 * (e) Mistakes at load time fail the load with a clear ERROR in the node's log: a reserved
 * command id, a NULL handler, an app built for another ABI (both versions named), an
 * undefined symbol (the user's file named, not the node's private copy). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "harness.h"

#define SERVER(name, app, extra)                                                                   \
    "  \"" name "\":{\"app\":\"@REPO@/build/test/apps/lib" app ".so\",\"log\":\"@DIR@/" name       \
    ".log\"," extra "\"remoteport\":[{\"rootname\":\"gate\",\"rootport\":@GATEPORT@}]}"
#define HEAD                                                                                       \
    "{\"master\":{\"rootport\":@ROOTPORT@,\"webport\":@WEBPORT@,\"log\":\"@DIR@/master.log\"},\n"  \
    " \"servers\":{\"gate\":{\"rootport\":@GATEPORT@,\"log\":\"@DIR@/gate.log\"},\n"               \
    "  \"net\":{\"netport\":@NETPORT@,\"log\":\"@DIR@/net.log\",\n"                                \
    "         \"remoteport\":[{\"rootname\":\"gate\",\"rootport\":@GATEPORT@}]}"
/* One restart in the window: the first crash is restarted, the second leaves the node failed. */
#define TAIL "},\n \"cluster\":{\"requestTimeout\":5000,\"maxRestarts\":1}}\n"

/* game1 runs tbad; game2 and game3 run tapp (one app: sharing commands is by design). */
static const char conf_a[] = HEAD ",\n" SERVER("game1", "tbad", "") ",\n" SERVER(
    "game2", "tapp", "") ",\n" SERVER("game3", "tapp", "") TAIL;
/* The same without game1. */
static const char conf_a_after[] =
    HEAD ",\n" SERVER("game2", "tapp", "") ",\n" SERVER("game3", "tapp", "") TAIL;
/* Nodes whose app cannot load. */
static const char conf_b[] =
    HEAD ",\n" SERVER("badreserved", "tbad", "\"role\":\"game\",") ",\n" SERVER(
        "badnull", "tbad",
        "\"role\":\"game\",") ",\n" SERVER("badabi", "tbadabi",
                                           "\"role\":\"game\",") ",\n" SERVER("badsym", "tbadsym",
                                                                              "\"role\":\"game\",")
        TAIL;

#define CALL_MS 5000
#define CRASH_CMD 666
/* ", core dumped" may follow, when core dumps are on. */
#define CRASH_EXIT "signal 11 (Segmentation fault) in command 666"

/* ---- helpers ---- */

/* Sends cmd with no body; returns 0 with the reply in *m, or the client's negative code. */
static int
call(ffc_t *cl, uint32_t cmd, ffc_msg_t *m)
{
    int rc = ffc_call(cl, cmd, NULL, 0, m, CALL_MS);

    if (rc == 0)
        th_diag("cmd %u answered %.*s", cmd, (int)m->len, (const char *)m->body);
    return rc;
}

/* The integer field `key` of a JSON reply (booleans as 0/1), or INT_MIN. */
static long long
reply_int(const ffc_msg_t *m, const char *key)
{
    json_t *root = json_loadb((const char *)m->body, m->len, 0, NULL), *v;
    long long out = INT_MIN;

    v = json_object_get(root, key);
    if (json_is_integer(v))
        out = json_integer_value(v);
    else if (json_is_boolean(v))
        out = json_is_true(v);
    json_decref(root);
    return out;
}

/* Calls cmd and returns the error code of its reply (0 for a normal one), or the client's
 * negative code; the reply's error message goes to msg when msg is not NULL. */
static int
call_code(ffc_t *cl, uint32_t cmd, char *msg, size_t msglen)
{
    ffc_msg_t m;
    int rc = call(cl, cmd, &m);
    json_t *root;

    if (rc < 0)
        return rc;
    rc = th_error_code(m.body, m.len);
    if (msg != NULL) {
        root = json_loadb((const char *)m.body, m.len, 0, NULL);
        snprintf(msg, msglen, "%s",
                 json_string_value(json_object_get(json_object_get(root, "error"), "message"))
                     ?: "");
        json_decref(root);
    }
    ffc_msg_free(&m);
    return rc;
}

/* The number of lines of DIR/FILE holding both a and b (b may be NULL). */
static int
file_lines(th_cluster_t *c, const char *file, const char *a, const char *b)
{
    char path[PATH_MAX + 64], *line = NULL;
    size_t cap = 0;
    int n = 0;
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", th_cluster_dir(c), file);
    if ((f = fopen(path, "r")) == NULL)
        return 0;
    while (getline(&line, &cap, f) >= 0)
        n += strstr(line, a) != NULL && (b == NULL || strstr(line, b) != NULL);
    free(line);
    fclose(f);
    return n;
}

/* The same for DIR/NAME.log, a node's log. */
static int
log_lines(th_cluster_t *c, const char *name, const char *a, const char *b)
{
    char file[128];

    snprintf(file, sizeof(file), "%s.log", name);
    return file_lines(c, file, a, b);
}

typedef struct {
    th_cluster_t *c;
    const char *name, *a, *b;
    int min;
    pid_t old_pid;
} cond_t;

static bool
log_cb(void *arg)
{
    cond_t *w = arg;
    return log_lines(w->c, w->name, w->a, w->b) >= w->min;
}

/* Waits until NAME.log has at least one line holding a (and b). */
static int
wait_log(th_cluster_t *c, const char *name, const char *a, const char *b, int timeout_ms)
{
    cond_t w = {c, name, a, b, 1, 0};
    return th_wait(log_cb, &w, timeout_ms);
}

/* The last_exit /status shows for a node, into buf ("" when none). */
static const char *
last_exit(th_cluster_t *c, const char *name, char *buf, size_t len)
{
    json_t *st = th_cluster_status(c);
    const char *s = json_string_value(json_object_get(th_status_node(st, name), "last_exit"));

    snprintf(buf, len, "%s", s ? s : "");
    json_decref(st);
    return buf;
}

/* ---- (a) mistakes inside handlers ---- */

/* Sends cmd, expects error `code` (0: a normal reply) and exactly one line holding `warn`
 * (and warn2) in game1.log. */
static void
expect_warned(th_cluster_t *c, ffc_t *cl, uint32_t cmd, int code, const char *warn,
              const char *warn2)
{
    TH_EQ_INT(call_code(cl, cmd, NULL, 0), code, "cmd %u: answered %s", cmd,
              code ? "with the error" : "normally");
    TH_EQ_INT(log_lines(c, "game1", warn, warn2), 1, "cmd %u: one WARN \"%s\"", cmd, warn);
}

static void
test_double_reply(th_cluster_t *c, ffc_t *cl)
{
    cond_t w = {c,
                "game1",
                "ff_reply_none: the request for command 607 was already completed "
                "by ff_reply_json; ignored",
                NULL,
                1,
                0};
    ffc_msg_t m;

    TH_EQ_INT(call(cl, 601, &m), 0, "601 (replies twice) is answered");
    TH_EQ_INT(reply_int(&m, "first"), 1, "601: the client gets the first reply");
    ffc_msg_free(&m);
    TH_EQ_INT(log_lines(c, "game1",
                        "W app: ff_reply_error: the request for command 601 was already "
                        "completed by ff_reply_json; ignored",
                        NULL),
              1, "601: one WARN naming the call, the command and the first completion");
    TH_EQ_INT(call(cl, 600, &m), 0, "the next request on the connection is answered");
    ffc_msg_free(&m);
    TH_EQ_INT(ffc_recv(cl, &m, 0), -ETIMEDOUT, "no second reply to 601 reached the client");
    TH_EQ_INT(call(cl, 607, &m), 0, "607 (replies again from a timer) is answered");
    TH_EQ_INT(reply_int(&m, "first"), 1, "607: the client gets the first reply");
    ffc_msg_free(&m);
    TH_EQ_INT(th_wait(log_cb, &w, 5000), 0, "607: the timer's second completion is a WARN");
    TH_EQ_INT(log_lines(c, "game1", w.a, NULL), 1, "607: one WARN");
}

static void
test_null_args(th_cluster_t *c, ffc_t *cl)
{
    ffc_msg_t m;

    expect_warned(c, cl, 602, 500, "ff_reply_raw: body is NULL with len = 5 (command 602)",
                  "answered with error 500");
    expect_warned(c, cl, 603, 500, "ff_reply_error: message is NULL (command 603)", NULL);
    expect_warned(c, cl, 606, 500, "ff_reply_json: body is NULL", "(command 606)");
    if (call(cl, 604, &m) == 0) {
        TH_EQ_INT(reply_int(&m, "rc"), -1, "604: ff_push(NULL, 3, ...) returns -1");
        ffc_msg_free(&m);
    }
    TH_EQ_INT(log_lines(c, "game1", "ff_push: conns is NULL with n = 3 in command 604", NULL), 1,
              "604: one WARN naming ff_push and the command");
    if (call(cl, 605, &m) == 0) {
        TH_EQ_INT(reply_int(&m, "join") + reply_int(&m, "push") + reply_int(&m, "leave"), -3,
                  "605: ff_channel_join/push/leave(NULL, ...) return -1");
        TH_EQ_INT(reply_int(&m, "members"), 0, "605: ff_channel_members(NULL, ...) is 0");
        ffc_msg_free(&m);
    }
    TH_EQ_INT(log_lines(c, "game1", "ff_channel_", "name is NULL in command 605"), 4,
              "605: one WARN for each channel call");
    if (call(cl, 610, &m) == 0) {
        TH_EQ_INT(reply_int(&m, "rc"), -1, "610: ff_timer_once(10, NULL, NULL) returns -1");
        ffc_msg_free(&m);
    }
    TH_EQ_INT(log_lines(c, "game1", "ff_timer_once: fn is NULL in command 610", NULL), 1,
              "610: one WARN");
    if (call(cl, 611, &m) == 0) {
        th_ok(reply_int(&m, "body") == 0 && reply_int(&m, "set") == -1 &&
                  reply_int(&m, "state") == 0,
              "611: ff_req_body(req, NULL), ff_session_set(NULL key), ff_app_state(NULL) refuse");
        ffc_msg_free(&m);
    }
    TH_EQ_INT(log_lines(c, "game1", "ff_req_body: len is NULL (command 611)", NULL) +
                  log_lines(c, "game1", "ff_session_set: key is NULL in command 611", NULL) +
                  log_lines(c, "game1", "ff_app_state: name is NULL in command 611", NULL),
              3, "611: one WARN for each");
}

static void
test_app_output(th_cluster_t *c, ffc_t *cl)
{
    TH_EQ_INT(call_code(cl, 608, NULL, 0), 0, "608 (ff_app_log) is answered");
    TH_EQ_INT(log_lines(c, "game1", "game1[", "W app: tbad says hello from command 608"), 1,
              "ff_app_log(WARN) is one line of the node's log");
    TH_EQ_INT(log_lines(c, "game1", "tbad debug line", NULL), 0,
              "ff_app_log(DEBUG) below cluster.logLevel is not written");
    TH_EQ_INT(call_code(cl, 609, NULL, 0), 0, "609 (prints) is answered");
    TH_EQ_INT(log_lines(c, "game1", "tbad wrote this to stderr", NULL), 1,
              "what the app writes to stderr is in the node's log");
    TH_EQ_INT(log_lines(c, "game1", "tbad wrote this to stdout", NULL), 1,
              "what the app writes to stdout is in the node's log");
}

static void
test_mistakes(th_cluster_t *c, ffc_t *cl)
{
    pid_t pid = th_node_pid(c, "game1");
    ffc_msg_t m;

    if (!th_ok(pid > 0, "game1 has a pid (%d)", (int)pid) || call(cl, 600, &m) != 0)
        return;
    TH_EQ_INT(reply_int(&m, "pid"), pid, "600 is answered by game1 (pid %d)", (int)pid);
    ffc_msg_free(&m);
    test_double_reply(c, cl);
    test_null_args(c, cl);
    test_app_output(c, cl);
    TH_EQ_INT(th_node_pid(c, "game1"), pid, "game1 is still the same process after every mistake");
    TH_EQ_INT(log_lines(c, "game1", "crash:", NULL), 0, "game1's log has no crash");
}

/* ---- (b) two apps, one command ---- */

static void
test_conflicts(th_cluster_t *c)
{
    TH_EQ_INT(wait_log(c, "gate", "two different apps", NULL, 5000), 0,
              "gate WARNs that two different apps registered one command");
    th_ok(log_lines(c, "gate", "two different apps", "game1") >= 1 &&
              log_lines(c, "gate", "two different apps", "libtbad.so") >= 1 &&
              log_lines(c, "gate", "two different apps", "(7)") >= 1,
          "the WARN names game1, its app and the command (7)");
    TH_EQ_INT(log_lines(c, "gate", "two different apps", NULL),
              log_lines(c, "gate", "two different apps", "game1"),
              "no WARN about game2 and game3, which run one app");
}

/* ---- (c) a crash, (d) a command whose node is down ---- */

static bool
restarted_cb(void *arg)
{
    cond_t *w = arg;
    json_t *st = th_cluster_status(w->c), *node = th_status_node(st, w->name);
    const char *state = json_string_value(json_object_get(node, "state"));
    json_int_t pid = json_integer_value(json_object_get(node, "pid"));
    bool ok = state && strcmp(state, "running") == 0 && pid > 0 && pid != w->old_pid;

    json_decref(st);
    return ok;
}

/* Sends the crashing command: gate answers it 503 when game1 dies. */
static void
crash_game1(th_cluster_t *c, ffc_t *cl)
{
    char msg[160];

    TH_EQ_INT(call_code(cl, CRASH_CMD, msg, sizeof(msg)), 503,
              "%d (NULL dereference) is answered 503 when game1 dies", CRASH_CMD);
    (void)c;
}

static void
test_crash(th_cluster_t *c, ffc_t *cl)
{
    cond_t w = {c, "game1", NULL, NULL, 0, th_node_pid(c, "game1")};
    char buf[256];

    crash_game1(c, cl);
    TH_EQ_INT(th_wait(restarted_cb, &w, 20000), 0, "master restarted game1 (new pid, running)");
    TH_EQ_INT(log_lines(c, "game1",
                        "E crash: signal 11 (Segmentation fault, address 0x0) in command 666 "
                        "(app ",
                        "libtbad.so, copied to "),
              1, "game1's log names the signal, the command and the app");
    th_ok(log_lines(c, "game1", "E crash: #", NULL) >= 3, "and has a backtrace (%d frames)",
          log_lines(c, "game1", "E crash: #", NULL));
    TH_EQ_INT(log_lines(c, "game1", "E crash: #", "ff_apphost_dispatch"), 1,
              "the backtrace runs through the dispatch of the command");
    last_exit(c, "game1", buf, sizeof(buf));
    th_ok(strncmp(buf, CRASH_EXIT, strlen(CRASH_EXIT)) == 0,
          "/status: game1's last_exit names the signal and the command: \"%s\"", buf);
    TH_EQ_INT(log_lines(c, "master", "game1 (pid", "exited unexpectedly: " CRASH_EXIT), 1,
              "master's log says the same");
    TH_EQ_INT(call_code(cl, 600, NULL, 0), 0, "the restarted game1 answers 600");
}

static bool
not_found_cb(void *arg)
{
    cond_t *w = arg;
    ffc_t *cl = th_connect(w->c);
    int rc = cl ? call_code(cl, 600, NULL, 0) : -1;

    ffc_close(cl);
    return rc == 404;
}

static void
test_down(th_cluster_t *c, ffc_t *cl)
{
    cond_t w = {c, NULL, NULL, NULL, 0, 0};
    char msg[160];
    int st = 0;

    crash_game1(c, cl);
    TH_EQ_INT(th_wait_node_state(c, "game1", "failed", 20000), 0,
              "a second crash inside the window: master gives up on game1");
    TH_EQ_INT(call_code(cl, 600, msg, sizeof(msg)), 503,
              "a command only game1 handled gets 503 while it is down, not 404");
    TH_EQ_STR(msg, "command 600: node game1 is restarting", "the message says why");
    TH_EQ_INT(call_code(cl, 599, NULL, 0), 404, "a command nobody handles still gets 404");
    TH_EQ_INT(call_code(cl, 1, NULL, 0), 0, "game2 and game3 answer as before");
    if (th_cluster_config_write(c, conf_a_after) < 0)
        return;
    TH_EQ_INT(th_http_get(c, "/reload", &st, NULL), 0, "GET /reload without game1");
    TH_EQ_INT(st, 200, "the reload is accepted");
    TH_EQ_INT(th_wait(not_found_cb, &w, 10000), 0,
              "once game1 is out of the config, its commands get 404");
}

static void
test_running(void)
{
    th_cluster_t *c = th_cluster_start(conf_a);
    ffc_t *cl;

    if (c == NULL)
        return;
    if ((cl = th_connect(c)) != NULL) {
        test_mistakes(c, cl);
        test_conflicts(c);
        test_crash(c, cl);
        test_down(c, cl);
    }
    ffc_close(cl);
    th_cluster_stop(c);
    th_cluster_free(c);
}

/* ---- (e) load-time mistakes ---- */

static void
expect_load_error(th_cluster_t *c, const char *node, const char *a, const char *b)
{
    char buf[256];

    TH_EQ_INT(th_wait_node_state(c, node, "failed", 30000), 0, "%s cannot start: failed", node);
    char who[64];

    th_ok(log_lines(c, node, "E app: ", a) >= 1 && (b == NULL || log_lines(c, node, a, b) >= 1),
          "%s.log: ERROR \"%s\"", node, a);
    snprintf(who, sizeof(who), "%s: app: ", node);
    th_ok(file_lines(c, "master.out", who, a) >= 1,
          "master's stderr has the same line under the node's name");
    TH_EQ_STR(last_exit(c, node, buf, sizeof(buf)), "exit status 1", "%s: last_exit", node);
}

static void
test_load_errors(void)
{
    th_cluster_t *c = th_cluster_new(conf_b);

    if (c == NULL || th_cluster_spawn(c, NULL) < 0) {
        th_cluster_free(c);
        return;
    }
    expect_load_error(c, "badreserved",
                      "libtbad.so: init: ff_app_handle(command 4294901762 = 0xffff0002): "
                      "command ids from 0xFFFF0000 up are reserved for the framework",
                      NULL);
    expect_load_error(c, "badnull",
                      "libtbad.so: init: ff_app_handle(command 50 = 0x00000032): the handler "
                      "is NULL",
                      NULL);
    expect_load_error(c, "badabi",
                      "libtbadabi.so: built for app ABI version 99, but this node runs "
                      "version 1",
                      NULL);
    expect_load_error(c, "badsym", "libtbadsym.so: ", "undefined symbol: tbadsym_missing_function");
    TH_EQ_INT(log_lines(c, "badsym", "/ff-badsym-", NULL), 0,
              "badsym.log never names the node's private copy of the app");
    th_cluster_stop(c);
    th_cluster_free(c);
}

int
main(void)
{
    test_running();
    test_load_errors();
    return th_done();
}
