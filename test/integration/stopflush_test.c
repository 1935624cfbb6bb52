/* stopflush_test: a graceful stop leaves every acknowledged write in MariaDB, or says that it
 * did not. dbfront flushes only every hour here (syncInterval 3600), so that every
 * acknowledged write is in its log and nowhere else until a stop flushes it.
 * (a) kill -9 of dbfront while 2 clients write, then GET /stop at once: master brings
 * dbfront back, lets it replay its log and flush, and only then stops it; /stop answers 200
 * {"stopped":true}, master exits 0, and every acknowledged write is in MariaDB exactly once.
 * (b) MariaDB stopped with acknowledged writes in the log, cluster.stopTimeout 5000: /stop
 * answers 503 {"stopped":true,"unflushed":N,"log":"<wal dir>"} with N the number of
 * acknowledged rows, about stopTimeout after it was sent, and master exits 1. Then MariaDB
 * and the cluster start again: the log is flushed and every acknowledged write is in
 * MariaDB. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "alloc.h"
#include "dbenv.h"
#include "harness.h"
#include "storeload.h"

static const char config_fmt[] =
    "{\"master\":{\"rootport\":@ROOTPORT@,\"webport\":@WEBPORT@,\"log\":\"@DIR@/master.log\"},\n"
    " \"servers\":{\"gate\":{\"rootport\":@GATEPORT@,\"log\":\"@DIR@/gate.log\"},\n"
    "  \"net\":{\"netport\":@NETPORT@,\"log\":\"@DIR@/net.log\",\n"
    "         \"remoteport\":[{\"rootname\":\"gate\",\"rootport\":@GATEPORT@}]},\n"
    "  \"game1\":{\"app\":\"@REPO@/build/test/apps/libtstore.so\",\"mem\":true,"
    "\"log\":\"@DIR@/game1.log\",\n"
    "           \"remoteport\":[{\"rootname\":\"gate\",\"rootport\":@GATEPORT@},\n"
    "                         {\"rootname\":\"dbfront\",\"rootport\":@DBPORT@}]},\n"
    "  \"game2\":{\"app\":\"@REPO@/build/test/apps/libtstore.so\",\"mem\":true,"
    "\"log\":\"@DIR@/game2.log\",\n"
    "           \"remoteport\":[{\"rootname\":\"gate\",\"rootport\":@GATEPORT@},\n"
    "                         {\"rootname\":\"dbfront\",\"rootport\":@DBPORT@}]},\n"
    "  \"dbfront\":{\"rootport\":@DBPORT@,\"wal\":\"@DIR@/wal\",\"syncInterval\":3600,"
    "\"log\":\"@DIR@/dbfront.log\"}},\n"
    " %s,\n"
    " \"tables\":{\"tb_item\":{\"pk\":\"id\",\"incr\":true,\"fk\":\"owner\"}},\n"
    " \"cluster\":{\"requestTimeout\":5000,\"stopTimeout\":%d,\"logLevel\":\"debug\"}}\n";

#define NCLIENTS 2
#define DEPTH 16
#define ACKS_A 1000
#define ACKS_B 300
#define STOP_TIMEOUT_A 60000
#define STOP_TIMEOUT_B 5000
#define MARGIN_B 2500 /* past stopTimeout: the earlier roles' stop, the last flush attempt */
#define LOAD_MS 40000
#define DRAIN_MS 10000
#define STOP_MS 90000
#define LINK_MS 10000

static char *
make_config(const dbenv_t *db, int stop_timeout)
{
    char *sections = dbenv_config_sections(db);
    size_t len = sizeof(config_fmt) + strlen(sections) + 16;
    char *out = ff_malloc(len);

    snprintf(out, len, config_fmt, sections, stop_timeout);
    ff_free(sections);
    return out;
}

typedef struct {
    th_cluster_t *c;
    int rc, status;
    char *body;
    long long t0, ms;
} stop_req_t;

static void *
stop_main(void *arg)
{
    stop_req_t *s = arg;

    s->t0 = th_now_ms();
    s->rc = ffc_http_get("127.0.0.1", th_cluster_port(s->c, "WEBPORT"), "/stop", STOP_MS,
                         &s->status, &s->body, NULL);
    s->ms = th_now_ms() - s->t0;
    return NULL;
}

static bool
all_closed_cb(sl_t *l, void *arg)
{
    (void)arg;
    return sl_all_closed(l);
}

/* ---- (a) kill -9 of dbfront, then /stop ---- */

static void
test_crash_then_stop(th_cluster_t *c, dbenv_t *db)
{
    sl_t *l = sl_new(c, NCLIENTS, DEPTH, "a", 0);
    stop_req_t stop = {c, -1, 0, NULL, 0, 0};
    pid_t pid = th_node_pid(c, "dbfront");
    int status = -1;
    pthread_t th;

    if (l == NULL || !th_ok(pid > 0, "(a) dbfront runs (pid %d)", (int)pid))
        goto out;
    if (!TH_EQ_INT(sl_run_acks(l, ACKS_A, LOAD_MS), 0, "(a) %d writes acknowledged", ACKS_A))
        goto out;
    TH_EQ_INT(sl_dbfront_figure(c, "flushedRows"), 0, "(a) none of them flushed yet");
    TH_EQ_INT(kill(pid, SIGKILL), 0, "(a) kill -9 dbfront with %ld requests in flight",
              sl_outstanding(l));
    if (!TH_EQ_INT(pthread_create(&th, NULL, stop_main, &stop), 0, "(a) GET /stop at once"))
        goto out;
    TH_EQ_INT(sl_run(l, all_closed_cb, NULL, LOAD_MS), 0,
              "(a) the clients kept writing until the server closed both connections");
    pthread_join(th, NULL);
    th_diag("(a) /stop answered after %lld ms: %d %s; %lld writes acknowledged, %lld errors",
            stop.ms, stop.status, stop.body ? stop.body : "", sl_stats(l)->acked,
            sl_stats(l)->write_errors);
    TH_EQ_INT(stop.rc, 0, "(a) GET /stop answered");
    TH_EQ_INT(stop.status, 200, "(a) GET /stop: HTTP 200");
    TH_EQ_STR(stop.body, "{\"stopped\":true}", "(a) GET /stop: {\"stopped\":true}");
    TH_EQ_INT(th_cluster_wait_exit(c, STOP_MS, &status), 0, "(a) master exited");
    th_ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "(a) master exit status 0 (0x%x)",
          (unsigned)status);
    th_diag("(a) master's log: %d \"starting dbfront again at once\" (down when the stop "
            "began), %d \"exited unexpectedly\"",
            th_log_count(c, "master", "starting dbfront again at once"),
            th_log_count(c, "master", "exited unexpectedly"));
    sl_check_db(l, db, "(a)", NULL);
out:
    ff_free(stop.body);
    sl_free(l);
}

/* ---- (b) MariaDB down at the stop ---- */

/* /stop's 503 body: stopped, the number of rows left, the log directory. */
static void
check_unflushed(th_cluster_t *c, const stop_req_t *stop, long long acked)
{
    json_t *j = stop->body ? json_loads(stop->body, 0, NULL) : NULL;
    char want_log[4200];

    snprintf(want_log, sizeof(want_log), "%s/wal", th_cluster_dir(c));
    TH_EQ_INT(stop->status, 503, "(b) GET /stop: HTTP 503 (%s)", stop->body ? stop->body : "");
    th_ok(json_is_true(json_object_get(j, "stopped")), "(b) ... \"stopped\":true");
    TH_EQ_INT(json_integer_value(json_object_get(j, "unflushed")), acked,
              "(b) ... \"unflushed\": the %lld acknowledged rows", acked);
    TH_EQ_STR(json_string_value(json_object_get(j, "log")), want_log,
              "(b) ... \"log\": dbfront's log directory");
    th_ok(stop->ms < STOP_TIMEOUT_B + MARGIN_B,
          "(b) ... %lld ms after it was sent (stopTimeout %d ms)", stop->ms, STOP_TIMEOUT_B);
    json_decref(j);
}

/* MariaDB and the cluster again: dbfront's log reaches MariaDB. */
static void
restart_and_check(th_cluster_t *c, dbenv_t *db, sl_t *l)
{
    long long t0 = th_now_ms();

    if (!TH_EQ_INT(dbenv_start_mysql(db), 0, "(b) MariaDB started again") ||
        !TH_EQ_INT(th_cluster_spawn(c, NULL), 0, "(b) master started again") ||
        !TH_EQ_INT(th_cluster_wait_ready(c, 30000), 0, "(b) the cluster is ready again"))
        return;
    TH_EQ_INT(th_wait_store_linked(c, "game1", LINK_MS) | th_wait_store_linked(c, "game2", LINK_MS),
              0, "(b) game1 and game2 linked to dbfront again");
    TH_EQ_INT(th_cluster_stop(c), 0, "(b) stopped again, with MariaDB up");
    th_diag("(b) restart and stop took %lld ms", th_now_ms() - t0);
    sl_check_db(l, db, "(b)", NULL);
}

static void
test_mariadb_down(th_cluster_t *c, dbenv_t *db)
{
    sl_t *l = sl_new(c, NCLIENTS, DEPTH, "b", 0);
    stop_req_t stop = {c, -1, 0, NULL, 0, 0};
    long long acked;
    int status = -1;

    if (l == NULL)
        return;
    if (!TH_EQ_INT(sl_run_acks(l, ACKS_B, LOAD_MS), 0, "(b) %d writes acknowledged", ACKS_B) ||
        !TH_EQ_INT(sl_drain(l, DRAIN_MS), 0, "(b) load stopped"))
        goto out;
    acked = sl_stats(l)->acked;
    TH_EQ_INT(sl_stats(l)->write_errors, 0, "(b) no write failed");
    if (!TH_EQ_INT(dbenv_stop_mysql(db), 0, "(b) MariaDB stopped"))
        goto out;
    stop_main(&stop);
    th_diag("(b) /stop answered after %lld ms: %d %s", stop.ms, stop.status,
            stop.body ? stop.body : "");
    if (TH_EQ_INT(stop.rc, 0, "(b) GET /stop answered"))
        check_unflushed(c, &stop, acked);
    TH_EQ_INT(th_cluster_wait_exit(c, STOP_MS, &status), 0, "(b) master exited");
    th_ok(WIFEXITED(status) && WEXITSTATUS(status) == 1,
          "(b) master exit status 1: writes are left out of MariaDB (0x%x)", (unsigned)status);
    TH_EQ_INT(th_log_count(c, "master", " E stop: "), 1, "(b) master logged it as an ERROR");
    restart_and_check(c, db, l);
out:
    ff_free(stop.body);
    sl_free(l);
}

static th_cluster_t *
start(dbenv_t *db, int stop_timeout, char **conf)
{
    th_cluster_t *c;

    *conf = make_config(db, stop_timeout);
    c = th_cluster_start(*conf);
    if (c != NULL && !TH_EQ_INT(sl_wait_linked(c, LINK_MS), 0, "game1 and game2 linked")) {
        th_cluster_stop(c);
        th_cluster_free(c);
        return NULL;
    }
    return c;
}

int
main(void)
{
    dbenv_t *db = dbenv_start();
    th_cluster_t *c;
    char *conf = NULL;

    if (db == NULL)
        return th_done();
    th_diag("(a) kill -9 of dbfront during writes, then GET /stop at once");
    if ((c = start(db, STOP_TIMEOUT_A, &conf)) != NULL) {
        test_crash_then_stop(c, db);
        th_cluster_stop(c);
        th_cluster_free(c);
    }
    ff_free(conf);
    th_diag("(b) GET /stop while MariaDB is down");
    if ((c = start(db, STOP_TIMEOUT_B, &conf)) != NULL) {
        test_mariadb_down(c, db);
        th_cluster_stop(c);
        th_cluster_free(c);
    }
    ff_free(conf);
    dbenv_stop(db);
    return th_done();
}
