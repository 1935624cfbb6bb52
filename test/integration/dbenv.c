/* dbenv: private MariaDB and memcached for the integration tests, through scripts/db.sh, with
 * a watchdog process that cleans up after a test that dies; see dbenv.h for the contract. */
#include "dbenv.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <mysql.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alloc.h"
#include "harness.h"

/* The script's own deadlines are 30 s per server and step; this only catches a hang. */
#define DBENV_SCRIPT_MS 150000
#define DBENV_KILL_MS 5000
#define DBENV_QUERY_S 30

struct dbenv_s {
    char dir[PATH_MAX];
    char script[PATH_MAX + 32];
    int mysql_port;
    int memcached_port;
    pid_t watchdog;
    int watch_fd; /* a byte or EOF on it makes the watchdog clean up and exit */
};

/* ---- processes ---- */

/* The number of threads listed in /proc/PID/task (0 when gone). */
static int
dbenv__threads(pid_t pid)
{
    char path[64];
    struct dirent *d;
    DIR *dir;
    int n = 0;

    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    if ((dir = opendir(path)) == NULL)
        return 0;
    while ((d = readdir(dir)) != NULL)
        n += d->d_name[0] != '.';
    closedir(dir);
    return n;
}

/* Whether pid is a live process whose name is `name` (any name: NULL), so that a recycled
 * PID is never taken for one of ours. A zombie counts as gone (its parent may be slow to reap
 * it), but only once its last thread has exited: until then the other threads still hold its
 * files, such as the listening socket. */
static bool
dbenv__alive(pid_t pid, const char *name)
{
    char path[64], buf[512], *p;
    FILE *f;
    size_t n;

    if (pid <= 0)
        return false;
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if ((f = fopen(path, "r")) == NULL)
        return false;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* "pid (comm) S ...": comm may hold spaces and parentheses, so take the last ')'. */
    if ((p = strrchr(buf, ')')) == NULL || p[1] != ' ')
        return false;
    if (p[2] == 'Z' && dbenv__threads(pid) <= 1)
        return false;
    *p = '\0';
    p = strchr(buf, '(');
    return name == NULL || (p != NULL && strcmp(p + 1, name) == 0);
}

/* The PID in pidfile DIR/rel if it names a live process called name, else -1. */
static pid_t
dbenv__pidfile(const char *dir, const char *rel, const char *name)
{
    char path[PATH_MAX + 64];
    FILE *f;
    int pid = -1;

    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    if ((f = fopen(path, "r")) == NULL)
        return -1;
    if (fscanf(f, "%d", &pid) != 1)
        pid = -1;
    fclose(f);
    return dbenv__alive(pid, name) ? pid : -1;
}

typedef struct {
    pid_t pid;
    const char *name;
} dbenv_proc_t;

/* th_wait condition: the process is gone. Reaps it when it is our child, which it becomes
 * once its parent exits if this process is a subreaper (the harness makes it one). */
static bool
dbenv__gone_cb(void *arg)
{
    dbenv_proc_t *p = arg;

    waitpid(p->pid, NULL, WNOHANG);
    return !dbenv__alive(p->pid, p->name);
}

/* Sends sig to pid and waits up to ms for it to be gone. Returns 0 or -1. */
static int
dbenv__signal_wait(pid_t pid, const char *name, int sig, int ms)
{
    dbenv_proc_t p = {pid, name};

    if (kill(pid, sig) < 0 && errno != ESRCH)
        return -1;
    return th_wait(dbenv__gone_cb, &p, ms);
}

/* Closes every descriptor from `from` up (in a child, before it runs on its own). */
static void
dbenv__close_from(int from)
{
    long fd, max = sysconf(_SC_OPEN_MAX);

    if (close_range((unsigned)from, ~0U, 0) == 0)
        return;
    for (fd = from; fd < (max > 0 && max < 65536 ? max : 65536); fd++)
        close((int)fd);
}

/* ---- watchdog ---- */

static int
dbenv__rm_cb(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)type;
    (void)ftw;
    remove(path);
    return 0;
}

/* Whether the command line of pid has an argument naming dir or a path under it. */
static bool
dbenv__mentions(pid_t pid, const char *dir)
{
    char path[64], buf[8192], *arg, *hit;
    size_t len = strlen(dir);
    ssize_t n;
    int fd;

    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return false;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    for (arg = buf; arg < buf + n; arg += strlen(arg) + 1)
        for (hit = strstr(arg, dir); hit != NULL; hit = strstr(hit + 1, dir))
            if (hit[len] == '\0' || hit[len] == '/')
                return true;
    return false;
}

/* SIGKILLs, by PID, every process whose command line names the (unique, random) directory:
 * the servers, and db.sh with its clients if the test died while it ran. Round after round
 * until none is left, since a script killed just now may have launched a server meanwhile,
 * one that has not written its pidfile yet. */
static void
dbenv__kill_dir_users(const char *dir)
{
    pid_t pids[256];
    struct dirent *d;
    int round, n, i;
    DIR *proc;
    char *end;
    long v;

    for (round = 0; round < 20; round++) {
        if ((proc = opendir("/proc")) == NULL)
            return;
        for (n = 0; (d = readdir(proc)) != NULL && n < 256;) {
            v = strtol(d->d_name, &end, 10);
            if (*end == '\0' && v > 0 && v != getpid() && dbenv__mentions((pid_t)v, dir))
                pids[n++] = (pid_t)v;
        }
        closedir(proc);
        if (n == 0)
            return;
        for (i = 0; i < n; i++)
            kill(pids[i], SIGKILL);
        for (i = 0; i < n; i++)
            dbenv__signal_wait(pids[i], NULL, 0, DBENV_KILL_MS);
    }
}

/* The watchdog's body: waits for a byte or EOF on fd (dbenv_stop, or the test process gone),
 * then SIGKILLs whatever still runs there, removes the directory unless TH_KEEP is set, and
 * exits. */
static void
dbenv__watch(const char *dir, int fd)
{
    char byte;

    /* Outlive the test process: its own session escapes the runner's signals to the test's
     * process group, which would otherwise kill the watchdog along with the test. */
    setsid();
    signal(SIGTERM, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    while (read(fd, &byte, 1) < 0 && errno == EINTR)
        ;
    dbenv__kill_dir_users(dir);
    if (getenv("TH_KEEP") == NULL)
        nftw(dir, dbenv__rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    _exit(0);
}

/* Forks the watchdog of e->dir. Returns 0 or -1. */
static int
dbenv__watchdog_start(dbenv_t *e)
{
    int fds[2], null;
    pid_t pid;

    if (pipe2(fds, O_CLOEXEC) < 0)
        return -1;
    fflush(stdout);
    fflush(stderr);
    if ((pid = fork()) < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        /* Keep stderr only: stdout is the TAP stream, and no other descriptor of the test
         * (a socket, another watchdog's pipe) may be held open by this process. */
        if ((null = open("/dev/null", O_RDWR)) >= 0) {
            dup2(null, STDIN_FILENO);
            dup2(null, STDOUT_FILENO);
        }
        if (fds[0] != 3)
            dup2(fds[0], 3);
        dbenv__close_from(4);
        dbenv__watch(e->dir, 3);
    }
    close(fds[0]);
    e->watchdog = pid;
    e->watch_fd = fds[1];
    return 0;
}

/* Tells the watchdog to clean up now and waits for it. */
static void
dbenv__watchdog_finish(dbenv_t *e)
{
    if (e->watch_fd >= 0) {
        if (write(e->watch_fd, "x", 1) < 0)
            th_diag("dbenv: watchdog pipe: %s", strerror(errno));
        close(e->watch_fd);
        e->watch_fd = -1;
    }
    if (e->watchdog > 0)
        while (waitpid(e->watchdog, NULL, 0) < 0 && errno == EINTR)
            ;
    e->watchdog = 0;
}

/* ---- scripts/db.sh ---- */

/* In the child: output to the pipe, a process group of its own (so a hang can be killed
 * whole), death with the test process, then exec `bash scripts/db.sh argv...`. */
static void
dbenv__exec_script(int out, char *const *argv, pid_t parent)
{
    int null;

    /* The script must not outlive a test that died (the watchdog then kills what it
     * started). */
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (getppid() != parent)
        _exit(127);
    setpgid(0, 0);
    if ((null = open("/dev/null", O_RDONLY)) >= 0)
        dup2(null, STDIN_FILENO);
    dup2(out, STDOUT_FILENO);
    dup2(out, STDERR_FILENO);
    dbenv__close_from(3);
    signal(SIGPIPE, SIG_DFL);
    execvp("bash", argv);
    dprintf(STDERR_FILENO, "dbenv: exec bash: %s\n", strerror(errno));
    _exit(127);
}

/* Reads the child's output until EOF or the deadline. Returns 0, or -1 on timeout. */
static int
dbenv__read_all(int fd, char **out)
{
    long long deadline = th_now_ms() + DBENV_SCRIPT_MS, left;
    size_t len = 0, cap = 4096;
    struct pollfd pfd = {fd, POLLIN, 0};
    ssize_t n;
    int rc;

    *out = ff_malloc(cap);
    for (;;) {
        if ((left = deadline - th_now_ms()) <= 0)
            break;
        if ((rc = poll(&pfd, 1, (int)left)) <= 0) {
            if (rc < 0 && errno != EINTR)
                break;
            continue;
        }
        if (len + 1024 > cap)
            *out = ff_realloc(*out, cap *= 2);
        n = read(fd, *out + len, cap - len - 1);
        if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
            break;
        len += n > 0 ? (size_t)n : 0;
    }
    (*out)[len] = '\0';
    return left > 0 ? 0 : -1;
}

/* Prints text as `# ` lines. */
static void
dbenv__diag_lines(const char *text)
{
    const char *p = text, *nl;

    while (*p != '\0') {
        nl = strchr(p, '\n');
        th_diag("  %.*s", nl ? (int)(nl - p) : (int)strlen(p), p);
        p = nl ? nl + 1 : p + strlen(p);
    }
}

/* Runs `scripts/db.sh CMD DIR [ports [which]]`. Returns 0 when it exits 0; otherwise prints
 * the command and its output as `# ` lines and returns -1. */
static int
dbenv__script(dbenv_t *e, const char *cmd, const char *which)
{
    char p1[16], p2[16], *out = NULL;
    char *argv[] = {"bash", e->script, (char *)cmd, e->dir, p1, p2, (char *)which, NULL};
    int fds[2], st = -1, timed_out, failed;
    pid_t pid, parent = getpid();

    snprintf(p1, sizeof(p1), "%d", e->mysql_port);
    snprintf(p2, sizeof(p2), "%d", e->memcached_port);
    if (strcmp(cmd, "start") != 0)
        argv[4] = NULL;
    if (pipe2(fds, O_CLOEXEC) < 0)
        return -1;
    fflush(stdout);
    fflush(stderr);
    if ((pid = fork()) == 0)
        dbenv__exec_script(fds[1], argv, parent);
    close(fds[1]);
    if (pid < 0) {
        close(fds[0]);
        th_diag("dbenv: fork: %s", strerror(errno));
        return -1;
    }
    setpgid(pid, pid);
    timed_out = dbenv__read_all(fds[0], &out);
    close(fds[0]);
    if (timed_out)
        kill(-pid, SIGKILL);
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    failed = timed_out || !WIFEXITED(st) || WEXITSTATUS(st) != 0;
    if (failed) {
        th_diag("dbenv: `%s %s %s%s%s%s%s%s%s` %s:", e->script, cmd, e->dir, argv[4] ? " " : "",
                argv[4] ? p1 : "", argv[4] ? " " : "", argv[4] ? p2 : "", which ? " " : "",
                which ? which : "", timed_out ? "timed out" : "failed");
        dbenv__diag_lines(out);
    }
    ff_free(out);
    return failed ? -1 : 0;
}

/* ---- lifecycle ---- */

/* Ports, directory and watchdog. Returns NULL after a `not ok` line. */
static dbenv_t *
dbenv__new(void)
{
    dbenv_t *e = ff_calloc(1, sizeof(*e));

    e->watch_fd = -1;
    snprintf(e->script, sizeof(e->script), "%s/scripts/db.sh", th_repo());
    snprintf(e->dir, sizeof(e->dir), "/tmp/ffdb-XXXXXX");
    e->mysql_port = th_free_port();
    e->memcached_port = th_free_port();
    if (e->mysql_port < 0 || e->memcached_port < 0 || mkdtemp(e->dir) == NULL) {
        th_ok(0, "db servers: no free port or mkdtemp %s: %s", e->dir, strerror(errno));
        ff_free(e);
        return NULL;
    }
    if (dbenv__watchdog_start(e) < 0) {
        th_ok(0, "db servers: watchdog: %s", strerror(errno));
        nftw(e->dir, dbenv__rm_cb, 16, FTW_DEPTH | FTW_PHYS);
        ff_free(e);
        return NULL;
    }
    return e;
}

dbenv_t *
dbenv_start(void)
{
    long long t0 = th_now_ms();
    dbenv_t *e;
    int ok;

    signal(SIGPIPE, SIG_IGN);
    if ((e = dbenv__new()) == NULL)
        return NULL;
    ok = dbenv__script(e, "start", NULL) == 0;
    th_ok(ok, "db servers ready: mariadb 127.0.0.1:%d, memcached 127.0.0.1:%d in %lld ms (%s)",
          e->mysql_port, e->memcached_port, th_now_ms() - t0, e->dir);
    if (!ok) {
        dbenv__script(e, "stop", NULL);
        dbenv__watchdog_finish(e);
        ff_free(e);
        return NULL;
    }
    return e;
}

void
dbenv_stop(dbenv_t *e)
{
    if (e == NULL)
        return;
    if (dbenv__script(e, "stop", NULL) < 0)
        th_ok(0, "db servers stopped (%s)", e->dir);
    if (getenv("TH_KEEP") != NULL)
        th_diag("kept %s", e->dir);
    dbenv__watchdog_finish(e);
    ff_free(e);
}

/* ---- accessors ---- */

int
dbenv_mysql_port(const dbenv_t *e)
{
    return e->mysql_port;
}

int
dbenv_memcached_port(const dbenv_t *e)
{
    return e->memcached_port;
}

const char *
dbenv_dir(const dbenv_t *e)
{
    return e->dir;
}

pid_t
dbenv_mysql_pid(const dbenv_t *e)
{
    return dbenv__pidfile(e->dir, "mysql/pid", "mariadbd");
}

pid_t
dbenv_memcached_pid(const dbenv_t *e)
{
    return dbenv__pidfile(e->dir, "memcached.pid", "memcached");
}

/* ---- stop and start one server ---- */

int
dbenv_kill_memcached(dbenv_t *e)
{
    pid_t pid = dbenv_memcached_pid(e);

    if (pid < 0) {
        th_diag("dbenv: memcached is not running");
        return -1;
    }
    if (dbenv__signal_wait(pid, "memcached", SIGKILL, DBENV_KILL_MS) < 0) {
        th_diag("dbenv: memcached (pid %d) still there %d ms after SIGKILL", (int)pid,
                DBENV_KILL_MS);
        return -1;
    }
    return 0;
}

int
dbenv_start_memcached(dbenv_t *e)
{
    return dbenv__script(e, "start", "memcached");
}

int
dbenv_stop_mysql(dbenv_t *e)
{
    const char *env = getenv("TH_STOP_MS");
    int ms = env != NULL && atoi(env) > 0 ? atoi(env) : 30000;
    pid_t pid = dbenv_mysql_pid(e);

    if (pid < 0) {
        th_diag("dbenv: mariadbd is not running");
        return -1;
    }
    if (dbenv__signal_wait(pid, "mariadbd", SIGTERM, ms) == 0)
        return 0;
    th_diag("dbenv: mariadbd (pid %d) still running %d ms after SIGTERM: SIGKILL", (int)pid, ms);
    dbenv__signal_wait(pid, "mariadbd", SIGKILL, DBENV_KILL_MS);
    return -1;
}

int
dbenv_start_mysql(dbenv_t *e)
{
    return dbenv__script(e, "start", "mariadb");
}

/* ---- queries ---- */

/* One result row as an object; NULL (after a `# ` line) if a value is not UTF-8. */
static json_t *
dbenv__row(MYSQL_RES *res, MYSQL_ROW row, const char *sql)
{
    unsigned int i, n = mysql_num_fields(res);
    MYSQL_FIELD *fields = mysql_fetch_fields(res);
    unsigned long *lens = mysql_fetch_lengths(res);
    json_t *obj = json_object(), *v;

    for (i = 0; i < n; i++) {
        v = row[i] == NULL ? json_null() : json_stringn(row[i], lens[i]);
        if (v == NULL) {
            th_diag("dbenv: %s: column %s is not UTF-8", sql, fields[i].name);
            json_decref(obj);
            return NULL;
        }
        json_object_set_new(obj, fields[i].name, v);
    }
    return obj;
}

/* The rows of a stored result as a new array, or NULL. */
static json_t *
dbenv__rows(MYSQL_RES *res, const char *sql)
{
    json_t *rows = json_array(), *obj;
    MYSQL_ROW row;

    while ((row = mysql_fetch_row(res)) != NULL) {
        if ((obj = dbenv__row(res, row, sql)) == NULL) {
            json_decref(rows);
            return NULL;
        }
        json_array_append_new(rows, obj);
    }
    return rows;
}

json_t *
dbenv_query(dbenv_t *e, const char *sql)
{
    unsigned int connect_s = 5, io_s = DBENV_QUERY_S;
    MYSQL *my = mysql_init(NULL);
    MYSQL_RES *res = NULL;
    json_t *rows = NULL;

    if (my == NULL) {
        th_diag("dbenv: mysql_init failed");
        return NULL;
    }
    mysql_options(my, MYSQL_OPT_CONNECT_TIMEOUT, &connect_s);
    mysql_options(my, MYSQL_OPT_READ_TIMEOUT, &io_s);
    mysql_options(my, MYSQL_OPT_WRITE_TIMEOUT, &io_s);
    mysql_options(my, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    if (mysql_real_connect(my, "127.0.0.1", "firefly", "firefly", "firefly",
                           (unsigned)e->mysql_port, NULL, 0) == NULL ||
        mysql_query(my, sql) != 0) {
        th_diag("dbenv: %s: %s", sql, mysql_error(my));
    } else if ((res = mysql_store_result(my)) != NULL) {
        rows = dbenv__rows(res, sql);
    } else if (mysql_field_count(my) == 0) {
        rows = json_array();
    } else {
        th_diag("dbenv: %s: %s", sql, mysql_error(my));
    }
    mysql_free_result(res);
    mysql_close(my);
    return rows;
}

long long
dbenv_count(dbenv_t *e, const char *sql)
{
    json_t *rows = dbenv_query(e, sql), *row = json_array_get(rows, 0), *v;
    const char *key, *s = NULL;
    long long n = -1;
    char *end;

    json_object_foreach(row, key, v)
    {
        s = json_string_value(v);
        break;
    }
    if (s != NULL && *s != '\0') {
        errno = 0;
        n = strtoll(s, &end, 10);
        if (*end != '\0' || errno != 0 || n < 0)
            n = -1;
    }
    json_decref(rows);
    return n;
}

char *
dbenv_config_sections(const dbenv_t *e)
{
    const char *fmt = "\"db\":{\"host\":\"127.0.0.1\",\"port\":%d,\"user\":\"firefly\","
                      "\"passwd\":\"firefly\",\"db\":\"firefly\"},"
                      "\"memcached\":{\"urls\":[\"127.0.0.1:%d\"],\"hostname\":\"firefly\"}";
    int n = snprintf(NULL, 0, fmt, e->mysql_port, e->memcached_port);
    char *s = ff_malloc((size_t)n + 1);

    snprintf(s, (size_t)n + 1, fmt, e->mysql_port, e->memcached_port);
    return s;
}
