/* dbenv_test: the private servers the other integration tests stand on. MariaDB answers as
 * firefly with the three tables of scripts/schema.sql; memcached killed with SIGKILL comes
 * back empty on the same port; MariaDB stopped and started again keeps its rows; the config
 * sections name both ports; stopping removes the directory. */
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "alloc.h"
#include "dbenv.h"
#include "harness.h"

/* Sends one memcached text command and reads one reply line into buf (without "\r\n").
 * Returns 0, or a negative errno (-ECONNREFUSED when nothing listens). */
static int
mc_command(int port, const char *cmd, char *buf, size_t len)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct timeval tv = {5, 0};
    size_t got = 0;
    ssize_t n;
    int fd, rc = 0;

    sa.sin_port = htons((uint16_t)port);
    if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
        return -errno;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        write(fd, cmd, strlen(cmd)) != (ssize_t)strlen(cmd))
        rc = -errno;
    while (rc == 0 && got + 1 < len && (got < 2 || memcmp(buf + got - 2, "\r\n", 2) != 0)) {
        if ((n = read(fd, buf + got, 1)) <= 0)
            rc = n == 0 ? -EPIPE : -errno;
        else
            got++;
    }
    close(fd);
    buf[got >= 2 && rc == 0 ? got - 2 : got] = '\0';
    return rc;
}

/* Whether pid is gone (a zombie waiting for its parent counts as gone). */
static bool
proc_gone(pid_t pid)
{
    char path[64], buf[512], *p;
    FILE *f;
    size_t n;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if ((f = fopen(path, "r")) == NULL)
        return true;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return (p = strrchr(buf, ')')) != NULL && p[1] == ' ' && p[2] == 'Z';
}

static void
test_mysql(dbenv_t *db)
{
    json_t *rows = dbenv_query(db, "SELECT 1 AS one, NULL AS nothing");
    json_t *row = json_array_get(rows, 0);

    TH_EQ_INT(json_array_size(rows), 1, "SELECT 1: one row");
    TH_EQ_STR(json_string_value(json_object_get(row, "one")), "1", "SELECT 1: the value as text");
    th_ok(json_is_null(json_object_get(row, "nothing")), "SQL NULL is JSON null");
    json_decref(rows);
    TH_EQ_INT(dbenv_count(db, "SELECT COUNT(*) FROM information_schema.tables WHERE "
                              "table_schema = 'firefly' AND "
                              "table_name IN ('tb_user', 'tb_character', 'tb_item')"),
              3, "tb_user, tb_character and tb_item exist");
    rows = dbenv_query(db, "INSERT INTO tb_item (id, owner, kind) VALUES (1, 7, 'sword')");
    TH_EQ_INT(json_array_size(rows), 0, "INSERT: an empty array");
    json_decref(rows);
    TH_EQ_INT(dbenv_count(db, "SELECT qty FROM tb_item WHERE id = 1"), 1, "qty defaults to 1");
    TH_EQ_INT(dbenv_count(db, "SELECT nosuchcolumn FROM tb_item"), -1, "an error counts -1");
}

static void
test_memcached(dbenv_t *db)
{
    int port = dbenv_memcached_port(db);
    pid_t pid = dbenv_memcached_pid(db);
    char line[256];

    th_ok(pid > 0, "memcached runs (pid %d)", (int)pid);
    TH_EQ_INT(mc_command(port, "set k 0 0 1\r\nx\r\n", line, sizeof(line)), 0, "set k");
    TH_EQ_STR(line, "STORED", "memcached stores k");
    TH_EQ_INT(dbenv_kill_memcached(db), 0, "memcached killed");
    TH_EQ_INT(dbenv_memcached_pid(db), -1, "no memcached pid after kill -9");
    TH_EQ_INT(mc_command(port, "version\r\n", line, sizeof(line)), -ECONNREFUSED,
              "nothing listens on 127.0.0.1:%d", port);
    TH_EQ_INT(dbenv_start_memcached(db), 0, "memcached started again");
    th_ok(dbenv_memcached_pid(db) > 0 && dbenv_memcached_pid(db) != pid,
          "a new memcached (pid %d, was %d)", (int)dbenv_memcached_pid(db), (int)pid);
    TH_EQ_INT(mc_command(port, "get k\r\n", line, sizeof(line)), 0, "get k");
    TH_EQ_STR(line, "END", "the new memcached is empty");
}

static void
test_mysql_restart(dbenv_t *db)
{
    pid_t pid = dbenv_mysql_pid(db);
    long long t0;
    json_t *rows;
    int rc;

    th_ok(pid > 0, "mariadbd runs (pid %d)", (int)pid);
    t0 = th_now_ms();
    rc = dbenv_stop_mysql(db);
    TH_EQ_INT(rc, 0, "mariadbd stopped by SIGTERM in %lld ms", th_now_ms() - t0);
    TH_EQ_INT(dbenv_mysql_pid(db), -1, "no mariadbd pid after the stop");
    th_diag("expected: a connection error from the query below");
    rows = dbenv_query(db, "SELECT 1");
    th_ok(rows == NULL, "a query fails while MariaDB is down");
    json_decref(rows);
    t0 = th_now_ms();
    rc = dbenv_start_mysql(db);
    TH_EQ_INT(rc, 0, "mariadbd started again in %lld ms", th_now_ms() - t0);
    th_ok(dbenv_mysql_pid(db) > 0 && dbenv_mysql_pid(db) != pid, "a new mariadbd (pid %d)",
          (int)dbenv_mysql_pid(db));
    TH_EQ_INT(dbenv_count(db, "SELECT owner FROM tb_item WHERE id = 1"), 7,
              "the row written before the restart is there");
    th_ok(dbenv_memcached_pid(db) > 0, "memcached was left running");
}

static void
test_config_sections(dbenv_t *db)
{
    char *sections = dbenv_config_sections(db);
    char *text = ff_malloc(strlen(sections) + 3);
    json_t *root, *db_sec, *mc;
    char url[64];

    sprintf(text, "{%s}", sections);
    root = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    db_sec = json_object_get(root, "db");
    mc = json_object_get(root, "memcached");
    th_ok(root != NULL, "config sections parse as JSON members: %s", sections);
    TH_EQ_INT(json_integer_value(json_object_get(db_sec, "port")), dbenv_mysql_port(db), "db.port");
    TH_EQ_STR(json_string_value(json_object_get(db_sec, "user")), "firefly", "db.user");
    snprintf(url, sizeof(url), "127.0.0.1:%d", dbenv_memcached_port(db));
    TH_EQ_STR(json_string_value(json_array_get(json_object_get(mc, "urls"), 0)), url,
              "memcached.urls[0]");
    json_decref(root);
    ff_free(text);
    ff_free(sections);
}

int
main(void)
{
    dbenv_t *db = dbenv_start();
    char dir[256];
    pid_t mysql, mc;

    if (db == NULL)
        return th_done();
    snprintf(dir, sizeof(dir), "%s", dbenv_dir(db));
    test_mysql(db);
    test_memcached(db);
    test_mysql_restart(db);
    test_config_sections(db);
    mysql = dbenv_mysql_pid(db);
    mc = dbenv_memcached_pid(db);
    dbenv_stop(db);
    th_ok(mysql > 0 && proc_gone(mysql) && mc > 0 && proc_gone(mc),
          "both servers gone after dbenv_stop");
    if (getenv("TH_KEEP") == NULL)
        th_ok(access(dir, F_OK) < 0 && errno == ENOENT, "%s removed", dir);
    return th_done();
}
