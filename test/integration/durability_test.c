/* durability_test: nothing dbfront acknowledged is lost. (a) kill -9 of dbfront in the middle
 * of a pipelined load (4 clients, 32 writes outstanding each, a few qty updates first): at
 * most the writes in flight at the kill fail, with 503/504 and only those (writes sent while
 * dbfront is down wait for it), master restarts dbfront, writing resumes without errors, and once
 * 10,000 writes are acknowledged and flushed every one of them is in MariaDB exactly once with its
 * id and last qty, no id handed out twice across the restart. (b) GET /stop while 2 clients keep
 * writing: master exits 0 and every write acknowledged before the server closed the connections is
 * in MariaDB. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "alloc.h"
#include "dbenv.h"
#include "harness.h"
#include "storeload.h"

#define NCLIENTS 4
#define DEPTH 32
#define UPDATE_AT 1500 /* acknowledged writes before a flush and the qty updates */
#define NUPDATES 5
#define KILL_AT 3000
#define TARGET 10000
#define STOP_AT 500 /* (b): acknowledged writes before GET /stop */
#define LOAD_MS 40000
#define RECOVER_MS 20000
#define DRAIN_MS 10000 /* above requestTimeout: every request is answered by then */
#define FLUSH_MS 30000
#define CALL_MS 5000
#define STATUS_EVERY_MS 100

/* ---- conditions ---- */

typedef struct {
    th_cluster_t *c;
    pid_t old_pid;
    long long next_check;
    char last[256];
} recover_t;

/* True once /status shows dbfront restarted (a new pid, running, restarts >= 1) and both game
 * nodes linked to it again; asked at most every STATUS_EVERY_MS while the load goes on. */
static bool
recovered_cb(sl_t *l, void *arg)
{
    recover_t *r = arg;
    json_t *st, *dbf;
    const char *state;
    json_int_t pid;
    bool ok;

    (void)l;
    if (th_now_ms() < r->next_check)
        return false;
    r->next_check = th_now_ms() + STATUS_EVERY_MS;
    st = th_cluster_status(r->c);
    dbf = th_status_node(st, "dbfront");
    pid = json_integer_value(json_object_get(dbf, "pid"));
    state = json_string_value(json_object_get(dbf, "state"));
    snprintf(r->last, sizeof(r->last), "pid %lld state %s restarts %lld", (long long)pid,
             state ? state : "?", (long long)json_integer_value(json_object_get(dbf, "restarts")));
    ok = pid > 0 && pid != r->old_pid && state != NULL && strcmp(state, "running") == 0 &&
         json_integer_value(json_object_get(dbf, "restarts")) >= 1;
    for (int i = 1; ok && i <= 2; i++) {
        char name[16];
        snprintf(name, sizeof(name), "game%d", i);
        ok = json_is_true(
            json_object_get(json_object_get(th_status_node(st, name), "store"), "dbfront"));
    }
    json_decref(st);
    return ok;
}

static bool
clean_cb(void *arg)
{
    return sl_dbfront_figure(arg, "dirty") == 0;
}

static bool
all_closed_cb(sl_t *l, void *arg)
{
    (void)arg;
    return sl_all_closed(l);
}

/* Waits until dbfront has flushed everything; prints the figures seen at the deadline. */
static void
wait_flushed(th_cluster_t *c, const char *what)
{
    long long t0 = th_now_ms();

    if (TH_EQ_INT(th_wait(clean_cb, c, FLUSH_MS), 0, "%s dbfront's /status shows \"dirty\":0",
                  what))
        th_diag("%s flushed %lld ms after the load ended", what, th_now_ms() - t0);
    else
        th_diag("%s dirty %lld, flushFailures %lld, mariadb %lld", what,
                sl_dbfront_figure(c, "dirty"), sl_dbfront_figure(c, "flushFailures"),
                sl_dbfront_figure(c, "mariadb"));
}

/* ---- (a) kill -9 of dbfront ---- */

/* Writes until UPDATE_AT and waits for the flush of those rows (so that the restart will find
 * ids in ff_meta and meta.json as well as in the log, and rows that are only updated in the
 * log), sets the qty of a few of them, writes on until KILL_AT. Returns 0, or -1 when the
 * load could not get there. */
static int
load_with_updates(th_cluster_t *c, sl_t *l)
{
    int rc;

    if (!TH_EQ_INT(sl_run_acks(l, UPDATE_AT, LOAD_MS), 0, "(a) %d writes acknowledged", UPDATE_AT))
        return -1;
    if (!TH_EQ_INT(sl_drain(l, DRAIN_MS), 0, "(a) load paused"))
        return -1;
    wait_flushed(c, "(a) first writes:");
    for (int i = 0; i < NUPDATES; i++) {
        rc = sl_update(l, (size_t)i * 200, 100 + i, CALL_MS);
        TH_EQ_INT(rc, 0, "(a) qty of row %lld set to %d", (long long)sl_row(l, (size_t)i * 200)->id,
                  100 + i);
    }
    sl_set_sending(l, true);
    if (!TH_EQ_INT(sl_run_acks(l, KILL_AT, LOAD_MS), 0, "(a) %d writes acknowledged", KILL_AT))
        return -1;
    return 0;
}

/* kill -9 of dbfront under load; writing goes on until master has restarted it. *out gets
 * the requests in flight at the kill. Returns 0, or -1 when it did not come back. */
static int
kill_and_recover(th_cluster_t *c, sl_t *l, long *out_at_kill)
{
    const sl_stats_t *st = sl_stats(l);
    recover_t r = {c, th_node_pid(c, "dbfront"), 0, ""};
    long long t0, acked0 = st->acked;
    long out = *out_at_kill = sl_outstanding(l);

    if (!th_ok(r.old_pid > 0, "(a) dbfront has a pid (%d)", (int)r.old_pid))
        return -1;
    TH_EQ_INT(kill(r.old_pid, SIGKILL), 0,
              "(a) kill -9 dbfront (pid %d) with %ld requests in flight, %lld writes acknowledged",
              (int)r.old_pid, out, acked0);
    t0 = th_now_ms();
    if (!TH_EQ_INT(sl_run(l, recovered_cb, &r, RECOVER_MS), 0,
                   "(a) master restarted dbfront and the game nodes linked to it again, "
                   "while the clients kept writing")) {
        th_diag("dbfront: %s", r.last);
        return -1;
    }
    th_diag("(a) back after %lld ms (%s); during the outage: %lld acknowledged, %lld errors "
            "(503: %lld, 504: %lld); last: %s",
            th_now_ms() - t0, r.last, st->acked - acked0, st->write_errors, st->err503, st->err504,
            sl_last_error(l));
    return 0;
}

static void
test_kill(th_cluster_t *c, dbenv_t *db)
{
    sl_t *l = sl_new(c, NCLIENTS, DEPTH, "c", 0);
    const sl_stats_t *st;
    long long errors;
    long out_at_kill;

    if (l == NULL)
        return;
    st = sl_stats(l);
    if (load_with_updates(c, l) < 0)
        goto out;
    TH_EQ_INT(st->write_errors, 0, "(a) no error reply before the kill");
    if (kill_and_recover(c, l, &out_at_kill) < 0)
        goto out;
    TH_EQ_INT(sl_drain(l, DRAIN_MS), 0, "(a) every request sent during the outage was answered");
    /* Only calls on the link when it dropped fail; those sent while it is down wait for it. */
    th_ok(st->write_errors <= NCLIENTS * DEPTH,
          "(a) at most one pipeline of writes (%d) got error replies (%lld; %ld in flight at the "
          "kill)",
          NCLIENTS * DEPTH, st->write_errors, out_at_kill);
    TH_EQ_INT(st->err_other, 0, "(a) every error reply was 503 or 504 (last: %s)",
              sl_last_error(l));
    errors = st->write_errors;
    sl_set_sending(l, true);
    TH_EQ_INT(sl_run_acks(l, TARGET, LOAD_MS), 0, "(a) %d writes acknowledged in all", TARGET);
    TH_EQ_INT(sl_drain(l, DRAIN_MS), 0, "(a) every request answered");
    TH_EQ_INT(st->write_errors - errors, 0, "(a) no error reply once dbfront was back (last: %s)",
              sl_last_error(l));
    TH_EQ_INT(st->bad, 0, "(a) every reply matched a request");
    th_diag("(a) %lld writes sent, %lld acknowledged, %lld answered with an error", st->writes_sent,
            st->acked, st->write_errors);
    wait_flushed(c, "(a)");
    sl_check_db(l, db, "(a)", NULL);
out:
    sl_free(l);
}

/* ---- (b) GET /stop under load ---- */

typedef struct {
    int port;
    int rc, status;
    char *body;
} stop_req_t;

static void *
stop_main(void *arg)
{
    stop_req_t *s = arg;

    s->rc = ffc_http_get("127.0.0.1", s->port, "/stop", 30000, &s->status, &s->body, NULL);
    return NULL;
}

static void
test_stop(th_cluster_t *c, dbenv_t *db)
{
    sl_t *l = sl_new(c, 2, DEPTH, "s", 0);
    stop_req_t stop = {th_cluster_port(c, "WEBPORT"), 0, 0, NULL};
    const sl_stats_t *st;
    long long acked0;
    long unacked = -1;
    pthread_t th;
    int status = 0;

    if (l == NULL)
        return;
    st = sl_stats(l);
    if (!TH_EQ_INT(sl_run_acks(l, STOP_AT, LOAD_MS), 0, "(b) %d writes acknowledged", STOP_AT))
        goto out;
    acked0 = st->acked;
    if (!TH_EQ_INT(pthread_create(&th, NULL, stop_main, &stop), 0,
                   "(b) GET /stop sent from a thread with %ld requests in flight",
                   sl_outstanding(l)))
        goto out;
    TH_EQ_INT(sl_run(l, all_closed_cb, NULL, LOAD_MS), 0,
              "(b) the clients kept writing until the server closed both connections");
    pthread_join(th, NULL);
    th_diag("(b) %lld writes sent, %lld acknowledged (%lld after GET /stop), %lld errors, "
            "%lld unanswered at the close",
            st->writes_sent, st->acked, st->acked - acked0, st->write_errors,
            st->writes_sent - st->acked - st->write_errors);
    TH_EQ_INT(stop.rc, 0, "(b) GET /stop answered");
    TH_EQ_INT(stop.status, 200, "(b) GET /stop: HTTP 200 (%s)", stop.body ? stop.body : "");
    TH_EQ_INT(st->write_errors, 0, "(b) no write answered with an error (last: %s)",
              sl_last_error(l));
    TH_EQ_INT(st->bad, 0, "(b) every reply matched a request");
    TH_EQ_INT(th_cluster_wait_exit(c, FLUSH_MS, &status), 0, "(b) master exited");
    th_ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "(b) master exit status 0 (0x%x)",
          (unsigned)status);
    sl_check_db(l, db, "(b)", &unacked);
    /* A stop answers every request the cluster took: a write stored but never answered
     * would have been taken and dropped. */
    TH_EQ_INT(unacked, 0, "(b) no write is in MariaDB without having been acknowledged");
out:
    ff_free(stop.body);
    sl_free(l);
}

int
main(void)
{
    dbenv_t *db = dbenv_start();
    th_cluster_t *c;
    char *conf;
    long long t0 = th_now_ms();

    if (db == NULL)
        return th_done();
    conf = sl_config(db);
    c = th_cluster_start(conf);
    if (c != NULL && TH_EQ_INT(sl_wait_linked(c, 10000), 0, "game1 and game2 linked to dbfront")) {
        th_diag("(a) kill -9 of dbfront during %d clients' writes", NCLIENTS);
        test_kill(c, db);
        th_diag("(a) took %lld ms; (b) GET /stop during writes", th_now_ms() - t0);
        test_stop(c, db);
    }
    th_cluster_stop(c);
    th_cluster_free(c);
    ff_free(conf);
    dbenv_stop(db);
    th_diag("%lld ms in all", th_now_ms() - t0);
    return th_done();
}
