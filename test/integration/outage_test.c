/* outage_test: the store keeps working when memcached or MariaDB goes away, without one error
 * reply. 4 clients pipeline writes and reads of acknowledged rows (every 4th request), each
 * read checked against the last write. (a) kill -9 of memcached: writes and reads go on
 * through dbfront; a qty updated while memcached is down reads back new, also once memcached
 * is back (empty) and dbfront writes to it again. (b) MariaDB stopped: writes are still
 * acknowledged (new rows and qty updates), dbfront's /status shows the backlog; MariaDB
 * started again, the backlog drains and every acknowledged write is in MariaDB exactly once
 * with its last qty. (c) memcached hung (stopped, its accept queue full, as when overloaded or
 * cut off) while one row is updated twice: dbfront's set for the first update reaches
 * memcached late, the second never does; once memcached runs again, reads must still return
 * the last write (dbfront deletes the keys whose update failed until memcached takes it). */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "alloc.h"
#include "dbenv.h"
#include "harness.h"
#include "storeload.h"

#define NCLIENTS 4
#define DEPTH 32
#define READ_EVERY 4
#define WARMUP 2000 /* acknowledged writes before the first outage */
#define STEP 2000   /* acknowledged writes per phase */
#define NUPDATES 3  /* rows whose qty is set during and after the memcached outage */
#define LOAD_MS 30000
#define DRAIN_MS 10000
#define CALL_MS 5000
/* The flush backs off from 1 s doubling to 30 s while MariaDB is down; its next try may come
 * up to that long after MariaDB is back. */
#define FLUSH_MS 45000
#define STATUS_EVERY_MS 100
#define MIN_FAILURES 2 /* failed flushes while MariaDB is down */

typedef struct {
    th_cluster_t *c;
    long long acked;    /* at least this many writes acknowledged */
    long long failures; /* (b): flushFailures before MariaDB stopped */
    long long next_check;
    long long want_cache; /* (a), (c): dbfront's "memcached" figure awaited */
    long long dirty, flush_failures, mariadb, memcached; /* as last seen */
} phase_t;

/* Reads dbfront's figures into p, at most every STATUS_EVERY_MS. Returns whether it did. */
static bool
phase_status(phase_t *p)
{
    json_t *st, *dbf;

    if (th_now_ms() < p->next_check)
        return false;
    p->next_check = th_now_ms() + STATUS_EVERY_MS;
    st = th_cluster_status(p->c);
    dbf = th_status_node(st, "dbfront");
    p->dirty = json_is_integer(json_object_get(dbf, "dirty"))
                   ? (long long)json_integer_value(json_object_get(dbf, "dirty"))
                   : -1;
    p->flush_failures = json_integer_value(json_object_get(dbf, "flushFailures"));
    p->mariadb = json_is_boolean(json_object_get(dbf, "mariadb"))
                     ? json_is_true(json_object_get(dbf, "mariadb"))
                     : -1;
    p->memcached = json_is_boolean(json_object_get(dbf, "memcached"))
                       ? json_is_true(json_object_get(dbf, "memcached"))
                       : -1;
    json_decref(st);
    return true;
}

/* (a), (c): enough writes acknowledged and dbfront reporting memcached as p->want_cache. */
static bool
cache_state_cb(sl_t *l, void *arg)
{
    phase_t *p = arg;

    return sl_stats(l)->acked >= p->acked && phase_status(p) && p->memcached == p->want_cache;
}

/* (b): enough writes acknowledged and /status showing the backlog ("dirty" > 0 and
 * "mariadb": false, or flushFailures rising), after at least MIN_FAILURES failed flushes so
 * that MariaDB stays down across the flusher's backoff. */
static bool
backlog_cb(sl_t *l, void *arg)
{
    phase_t *p = arg;

    return sl_stats(l)->acked >= p->acked && phase_status(p) && p->dirty > 0 &&
           (p->mariadb == 0 || p->flush_failures > p->failures) &&
           p->flush_failures >= p->failures + MIN_FAILURES;
}

static bool
clean_cb(void *arg)
{
    phase_t *p = arg;

    p->next_check = 0;
    phase_status(p);
    return p->dirty == 0;
}

/* Checks that no request of the phase since `before` got an error or a stale answer. */
static void
check_no_errors(sl_t *l, const sl_stats_t *before, const char *what)
{
    const sl_stats_t *st = sl_stats(l);

    TH_EQ_INT(st->write_errors - before->write_errors, 0,
              "%s no write answered with an error (last: %s)", what, sl_last_error(l));
    TH_EQ_INT(st->read_errors - before->read_errors, 0, "%s no read answered with an error", what);
    TH_EQ_INT(st->stale - before->stale, 0, "%s every read returned the last write", what);
    th_ok(st->reads_ok - before->reads_ok >= 100, "%s reads kept working (%lld answered)", what,
          st->reads_ok - before->reads_ok);
    TH_EQ_INT(st->bad, 0, "%s every reply matched a request", what);
}

/* Sets qty of rows first..first+NUPDATES-1 to base + i, checking each reads back at once. */
static void
update_rows(sl_t *l, int first, int base, const char *what)
{
    int qty = 0;

    TH_EQ_INT(sl_drain(l, DRAIN_MS), 0, "%s load paused for the updates", what);
    for (int i = first; i < first + NUPDATES; i++) {
        TH_EQ_INT(sl_update(l, (size_t)i, base + i, CALL_MS), 0, "%s qty of row %lld set to %d",
                  what, (long long)sl_row(l, (size_t)i)->id, base + i);
        TH_EQ_INT(sl_get(l, (size_t)i, &qty, CALL_MS), 0, "%s row %lld read back", what,
                  (long long)sl_row(l, (size_t)i)->id);
        TH_EQ_INT(qty, base + i, "%s ... with the new qty", what);
    }
    sl_set_sending(l, true);
}

/* Reads rows 1..NUPDATES and expects the qty base + i. */
static void
expect_rows(sl_t *l, int base, const char *what)
{
    int qty = 0;

    TH_EQ_INT(sl_drain(l, DRAIN_MS), 0, "%s load paused for the reads", what);
    for (int i = 1; i <= NUPDATES; i++) {
        TH_EQ_INT(sl_get(l, (size_t)i, &qty, CALL_MS), 0, "%s row %lld read", what,
                  (long long)sl_row(l, (size_t)i)->id);
        TH_EQ_INT(qty, base + i, "%s ... with the qty written while memcached was down", what);
    }
    sl_set_sending(l, true);
}

/* ---- (a) kill -9 of memcached ---- */

static void
test_memcached(th_cluster_t *c, dbenv_t *db, sl_t *l)
{
    const sl_stats_t *st = sl_stats(l);
    sl_stats_t before = *st;
    phase_t p = {.c = c};
    long long t0;

    if (!TH_EQ_INT(dbenv_kill_memcached(db), 0, "(a) memcached killed (kill -9) under load"))
        return;
    p.acked = st->acked + STEP;
    p.want_cache = 0;
    if (!TH_EQ_INT(sl_run(l, cache_state_cb, &p, LOAD_MS), 0,
                   "(a) %d more writes acknowledged; dbfront's /status shows memcached down", STEP))
        th_diag("(a) dbfront's \"memcached\": %lld", p.memcached);
    update_rows(l, 1, 700, "(a) memcached down:");
    p.acked = st->acked + STEP / 2;
    TH_EQ_INT(sl_run_acks(l, p.acked, LOAD_MS), 0, "(a) %d more writes acknowledged", STEP / 2);
    check_no_errors(l, &before, "(a) memcached down:");

    before = *st;
    if (!TH_EQ_INT(dbenv_start_memcached(db), 0, "(a) memcached started again (empty)"))
        return;
    t0 = th_now_ms();
    p.acked = st->acked + STEP;
    p.want_cache = 1;
    if (!TH_EQ_INT(sl_run(l, cache_state_cb, &p, LOAD_MS), 0,
                   "(a) %d more writes acknowledged; dbfront's /status shows memcached up", STEP))
        th_diag("(a) dbfront's \"memcached\": %lld", p.memcached);
    th_diag("(a) memcached up again in dbfront's /status after %lld ms", th_now_ms() - t0);
    expect_rows(l, 700, "(a) memcached back:");
    update_rows(l, 1, 800, "(a) memcached back:");
    p.acked = st->acked + STEP / 2;
    TH_EQ_INT(sl_run_acks(l, p.acked, LOAD_MS), 0, "(a) %d more writes acknowledged", STEP / 2);
    check_no_errors(l, &before, "(a) memcached back:");
}

/* ---- (b) MariaDB stopped ---- */

static void
test_mariadb(th_cluster_t *c, dbenv_t *db, sl_t *l)
{
    const sl_stats_t *st = sl_stats(l);
    sl_stats_t before = *st;
    phase_t p = {.c = c};
    long unacked = -1;
    long long t0;

    phase_status(&p);
    p.failures = p.flush_failures;
    t0 = th_now_ms();
    if (!TH_EQ_INT(dbenv_stop_mysql(db), 0, "(b) MariaDB stopped under load"))
        return;
    p.acked = st->acked + STEP;
    TH_EQ_INT(sl_run(l, backlog_cb, &p, LOAD_MS), 0,
              "(b) %d more writes acknowledged; /status shows the backlog, %d flushes failed", STEP,
              MIN_FAILURES);
    th_diag("(b) dirty %lld, mariadb %lld, flushFailures %lld (%lld before)", p.dirty, p.mariadb,
            p.flush_failures, p.failures);
    update_rows(l, 4, 900, "(b) MariaDB down:");
    TH_EQ_INT(sl_run_acks(l, st->acked + STEP / 2, LOAD_MS), 0, "(b) %d more writes acknowledged",
              STEP / 2);
    check_no_errors(l, &before, "(b) MariaDB down:");

    before = *st;
    if (!TH_EQ_INT(dbenv_start_mysql(db), 0, "(b) MariaDB started again after %lld ms",
                   th_now_ms() - t0))
        return;
    t0 = th_now_ms();
    TH_EQ_INT(sl_run_acks(l, st->acked + STEP / 2, LOAD_MS), 0, "(b) %d more writes acknowledged",
              STEP / 2);
    TH_EQ_INT(sl_drain(l, DRAIN_MS), 0, "(b) every request answered");
    check_no_errors(l, &before, "(b) MariaDB back:");
    if (TH_EQ_INT(th_wait(clean_cb, &p, FLUSH_MS), 0, "(b) the backlog drained: \"dirty\":0"))
        th_diag("(b) flushed %lld ms after MariaDB was back", th_now_ms() - t0);
    else
        th_diag("(b) dirty %lld, mariadb %lld, flushFailures %lld", p.dirty, p.mariadb,
                p.flush_failures);
    TH_EQ_INT(p.mariadb, 1, "(b) dbfront's /status shows MariaDB up");
    sl_check_db(l, db, "(b)", &unacked);
    TH_EQ_INT(unacked, 0, "(b) no write is in MariaDB without having been acknowledged");
}

/* ---- (c) memcached hung ---- */

#define FILL_MAX 8192    /* connections at most to fill memcached's accept queue */
#define FILL_WAIT_MS 100 /* a loopback connect not done by then waits for the full queue */

/* Opens connections to 127.0.0.1:port (memcached, stopped) until one does not complete
 * within FILL_WAIT_MS: the accept queue is full and new connections hang, as they do to a
 * memcached that is overloaded or cut off. Returns how many, with their sockets in fds;
 * -1 on error. */
static int
fill_accept_queue(int port, int *fds, int max)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int n = 0;

    sa.sin_port = htons((uint16_t)port);
    while (n < max) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        if (fd < 0)
            return -1;
        fds[n++] = fd;
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
            continue;
        if (errno != EINPROGRESS)
            return -1;
        if (poll(&pfd, 1, FILL_WAIT_MS) == 0)
            return n;
    }
    return -1;
}

/* Makes room for FILL_MAX more sockets. */
static void
raise_fd_limit(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < FILL_MAX + 256) {
        rl.rlim_cur = rl.rlim_max < FILL_MAX + 256 ? rl.rlim_max : FILL_MAX + 256;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* Two updates of one row while memcached hangs (stopped, accept queue full): dbfront's set of
 * the first goes out on its open connection and times out, but stays in memcached's socket
 * buffer; the second cannot connect and never reaches memcached. Both are acknowledged.
 * Once memcached runs again it applies the first, and game nodes, which read memcached
 * first, must still get the last acknowledged write. */
static void
hung_updates(th_cluster_t *c, dbenv_t *db, sl_t *l, size_t row)
{
    static int fds[FILL_MAX];
    pid_t pid = dbenv_memcached_pid(db);
    long long t0;
    int n;

    if (!th_ok(pid > 0, "(c) memcached runs (pid %d)", (int)pid))
        return;
    TH_EQ_INT(kill(pid, SIGSTOP), 0, "(c) memcached stopped (SIGSTOP)");
    n = fill_accept_queue(dbenv_memcached_port(db), fds, FILL_MAX);
    th_ok(n > 0, "(c) memcached's accept queue is full (%d connections)", n);
    for (int qty = 501; qty <= 502; qty++) {
        t0 = th_now_ms();
        TH_EQ_INT(sl_update(l, row, qty, CALL_MS), 0, "(c) qty of row %lld set to %d",
                  (long long)sl_row(l, row)->id, qty);
        th_diag("(c) acknowledged after %lld ms", th_now_ms() - t0);
    }
    th_diag("(c) dbfront's \"memcached\": %lld", sl_dbfront_figure(c, "memcached"));
    for (int i = 0; i < (n > 0 ? n : FILL_MAX) && fds[i] > 0; i++)
        close(fds[i]);
    TH_EQ_INT(kill(pid, SIGCONT), 0, "(c) memcached running again (SIGCONT)");
}

static void
test_memcached_hung(th_cluster_t *c, dbenv_t *db, sl_t *l)
{
    const size_t row = 7;
    phase_t p = {.c = c, .want_cache = 1};
    int qty = 0;

    raise_fd_limit();
    p.acked = sl_stats(l)->acked;
    if (!TH_EQ_INT(sl_run(l, cache_state_cb, &p, LOAD_MS), 0,
                   "(c) dbfront's /status shows memcached up") ||
        !TH_EQ_INT(sl_drain(l, DRAIN_MS), 0, "(c) load paused"))
        return;
    hung_updates(c, db, l, row);
    sl_set_sending(l, true);
    p.acked = sl_stats(l)->acked + STEP / 2;
    p.next_check = 0;
    TH_EQ_INT(sl_run(l, cache_state_cb, &p, LOAD_MS), 0,
              "(c) %d more writes acknowledged; dbfront's /status shows memcached up again",
              STEP / 2);
    TH_EQ_INT(sl_drain(l, DRAIN_MS), 0, "(c) load paused for the reads");
    for (int i = 1; i <= 2; i++) {
        TH_EQ_INT(sl_get(l, row, &qty, CALL_MS), 0, "(c) row %lld read (%d)",
                  (long long)sl_row(l, row)->id, i);
        TH_EQ_INT(qty, 502,
                  "(c) ... with the last acknowledged qty, not an older one left in "
                  "memcached");
    }
    if (TH_EQ_INT(th_wait(clean_cb, &p, FLUSH_MS), 0, "(c) dbfront flushed (\"dirty\":0)"))
        sl_check_db(l, db, "(c)", NULL);
}

int
main(void)
{
    dbenv_t *db = dbenv_start();
    th_cluster_t *c;
    sl_t *l = NULL;
    char *conf;
    long long t0 = th_now_ms();

    if (db == NULL)
        return th_done();
    conf = sl_config(db);
    c = th_cluster_start(conf);
    if (c != NULL && TH_EQ_INT(sl_wait_linked(c, 10000), 0, "game1 and game2 linked to dbfront"))
        l = sl_new(c, NCLIENTS, DEPTH, "m", READ_EVERY);
    if (l != NULL &&
        TH_EQ_INT(sl_run_acks(l, WARMUP, LOAD_MS), 0, "%d writes acknowledged", WARMUP) &&
        TH_EQ_INT(sl_stats(l)->write_errors + sl_stats(l)->read_errors, 0, "no error reply")) {
        th_diag("(a) kill -9 of memcached under load");
        test_memcached(c, db, l);
        th_diag("(b) MariaDB stopped under load");
        test_mariadb(c, db, l);
        th_diag("(c) memcached hung (stopped, accept queue full)");
        test_memcached_hung(c, db, l);
        const sl_stats_t *st = sl_stats(l);
        th_diag("%lld writes acknowledged, %lld reads answered, %lld errors in %lld ms", st->acked,
                st->reads_ok, st->write_errors + st->read_errors, th_now_ms() - t0);
    }
    sl_free(l);
    th_cluster_stop(c);
    th_cluster_free(c);
    ff_free(conf);
    dbenv_stop(db);
    return th_done();
}
