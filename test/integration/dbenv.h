/* dbenv: private MariaDB and memcached servers for integration tests, on free ports under a
 * temporary directory, managed through scripts/db.sh; plus queries with libmariadb to check
 * what reached MariaDB.
 *
 * Typical test:
 *     dbenv_t *db = dbenv_start();
 *     if (db == NULL)
 *         return th_done();
 *     char *sections = dbenv_config_sections(db);   (spliced into the config template)
 *     ...
 *     TH_EQ_INT(dbenv_count(db, "SELECT COUNT(*) FROM tb_item"), 3, "three rows flushed");
 *     ff_free(sections);
 *     dbenv_stop(db);
 *     return th_done();
 *
 * The servers are daemons of their own session. A watchdog process forked by dbenv_start
 * kills them (SIGKILL, by PID) and removes the directory when the test process ends without
 * dbenv_stop: a crash, or the test runner's timeout. TH_KEEP=1 keeps the directory. Every
 * function runs on the test's one thread. */
#ifndef TH_DBENV_H
#define TH_DBENV_H

#include <jansson.h>
#include <sys/types.h>

typedef struct dbenv_s dbenv_t;

/* Creates /tmp/ffdb-XXXXXX, picks two free ports and runs `scripts/db.sh start` there:
 * MariaDB with database firefly, user firefly/firefly and scripts/schema.sql, and memcached.
 * Reported as one TAP line `db servers ready`; on failure that line is `not ok`, the
 * script's output follows as `# ` lines, everything started is stopped and NULL returned.
 * Ignores SIGPIPE for the process (a query to a stopped server must not kill the test). */
dbenv_t *dbenv_start(void);
/* Stops both servers (`scripts/db.sh stop`: SIGTERM, SIGKILL at its deadline), removes the
 * directory unless TH_KEEP is set, frees e. A `not ok` line only if the stop failed.
 * NULL: no-op. */
void dbenv_stop(dbenv_t *e);

/* MariaDB's TCP port on 127.0.0.1. */
int dbenv_mysql_port(const dbenv_t *e);
/* memcached's TCP port on 127.0.0.1. */
int dbenv_memcached_port(const dbenv_t *e);
/* The directory (absolute, no trailing slash): mysql/{data,sock,pid,err.log},
 * memcached.{pid,log}. */
const char *dbenv_dir(const dbenv_t *e);
/* The PID in DIR/mysql/pid if it names a live mariadbd, else -1. */
pid_t dbenv_mysql_pid(const dbenv_t *e);
/* The PID in DIR/memcached.pid if it names a live memcached, else -1. */
pid_t dbenv_memcached_pid(const dbenv_t *e);

/* SIGKILLs memcached by PID and waits (5 s at most) until it is gone. Returns 0, or -1 with
 * a `# ` line (not running, or still there). */
int dbenv_kill_memcached(dbenv_t *e);
/* Starts memcached again on the same port (empty, as memcached always starts) and waits
 * until it answers. Returns 0, or -1 with the script's output as `# ` lines. */
int dbenv_start_memcached(dbenv_t *e);
/* Stops MariaDB gracefully: SIGTERM by PID, then waits up to TH_STOP_MS (default 30 s) for
 * it to exit. Returns 0; -1 with a `# ` line if it was not running, or did not exit in time
 * (it is then SIGKILLed). */
int dbenv_stop_mysql(dbenv_t *e);
/* Starts MariaDB again on the same port and datadir, waits until it answers, and re-runs
 * the idempotent setup (user, schema). Returns 0, or -1 with the script's output. */
int dbenv_start_mysql(dbenv_t *e);

/* Runs one SQL statement as firefly@127.0.0.1 in database firefly. Returns a new JSON array
 * (json_decref it) with one object per row, column name -> string, or null for SQL NULL;
 * an empty array for a statement without a result set. NULL with a `# ` line on error. */
json_t *dbenv_query(dbenv_t *e, const char *sql);
/* The first column of the first row of a query, as an integer (`SELECT COUNT(*) ...`), or
 * -1 on error, no row, or a value that is not an integer. */
long long dbenv_count(dbenv_t *e, const char *sql);

/* The config sections for these servers, for a config template:
 * "db":{"host":"127.0.0.1","port":P,"user":"firefly","passwd":"firefly","db":"firefly"},
 * "memcached":{"urls":["127.0.0.1:P2"],"hostname":"firefly"}
 * (no surrounding braces, no trailing comma). A new string: free with ff_free. */
char *dbenv_config_sections(const dbenv_t *e);

#endif
