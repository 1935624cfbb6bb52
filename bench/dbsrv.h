/* dbsrv: private MariaDB and memcached for ffbench's store section, run by scripts/db.sh in a
 * temp dir on free ports, plus the two things the bench does to them behind dbfront's back:
 * seeding cold rows into MariaDB before dbfront starts, and emptying memcached (flush_all).
 *
 * The servers are daemons of their own session, so a watchdog process (forked first, SIGINT
 * and SIGHUP ignored) runs `db.sh stop DIR` and removes DIR when ffbench ends without
 * bench_db_stop: a crash, or ^C of make bench. It first waits (up to 150 s) for the master
 * named by bench_db_watch_master to exit, so that the orphaned cluster's dbfront (stopping
 * on master's SIGTERM) can make its last flush. db.sh stops by the PIDs in its pidfiles. */
#ifndef BENCH_DBSRV_H
#define BENCH_DBSRV_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct bench_db_s bench_db_t;

/* Creates /tmp/ffbench-db-XXXXXX, picks two free ports and runs `script start DIR P1 P2`
 * (its output goes to DIR/db.out, printed on failure). Returns NULL after printing why. */
bench_db_t *bench_db_start(const char *script);
int bench_db_mysql_port(const bench_db_t *d);
int bench_db_memcached_port(const bench_db_t *d);
const char *bench_db_dir(const bench_db_t *d);
/* Tells the watchdog the PID of the master whose cluster uses these servers. */
void bench_db_watch_master(bench_db_t *d, pid_t master);
/* Inserts rows id 1..n of tb_item (owner `owner`, kind "cold") straight into MariaDB, in
 * multi-row INSERTs of 1000. Returns 0 or -1 (printed). */
int bench_db_seed(bench_db_t *d, int64_t n, int owner);
/* Sends `flush_all` to memcached: every key is gone. Returns 0 or -1 (printed). */
int bench_db_flush_memcached(bench_db_t *d);
/* Runs `script stop DIR` (SIGTERM by PID, SIGKILL at its deadline), removes DIR unless keep,
 * dismisses the watchdog and frees d. Returns 0, or -1 (printed) when the stop failed.
 * NULL: no-op. */
int bench_db_stop(bench_db_t *d, bool keep);

#endif
