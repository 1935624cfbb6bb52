/* dbsrv: scripts/db.sh under a watchdog, cold rows by libmariadb, flush_all over TCP. */
#include "dbsrv.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <mysql.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "cluster.h"

#define BENCH_SEED_BATCH 1000
#define BENCH_MASTER_WAIT_MS 150000 /* dbfront's stop deadline is requestTimeout (120 s) */

struct bench_db_s {
    char dir[PATH_MAX];
    char script[PATH_MAX];
    int mysql_port, memcached_port;
    pid_t watchdog;
    int watch_fd; /* write end: a byte dismisses the watchdog, EOF makes it clean up */
};

static int
bench_db_rm_cb(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)type;
    (void)ftw;
    remove(path);
    return 0;
}

/* Runs `script cmd DIR [ports]` with its output appended to DIR/db.out. Returns its exit
 * status, or -1. */
static int
bench_db_script(const bench_db_t *d, const char *cmd, bool ports)
{
    char out[PATH_MAX + 16], p1[16], p2[16];
    pid_t pid;
    int fd, st;

    snprintf(out, sizeof(out), "%s/db.out", d->dir);
    snprintf(p1, sizeof(p1), "%d", d->mysql_port);
    snprintf(p2, sizeof(p2), "%d", d->memcached_port);
    fflush(stdout);
    fflush(stderr);
    if ((pid = fork()) < 0)
        return -1;
    if (pid == 0) {
        if ((fd = open(out, O_WRONLY | O_CREAT | O_APPEND, 0644)) >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
            close(fd);
        }
        if ((fd = open("/dev/null", O_RDONLY)) >= 0) {
            dup2(fd, STDIN_FILENO);
            close(fd);
        }
        if (ports)
            execl(d->script, d->script, cmd, d->dir, p1, p2, (char *)NULL);
        else
            execl(d->script, d->script, cmd, d->dir, (char *)NULL);
        dprintf(STDERR_FILENO, "ffbench: exec %s: %s\n", d->script, strerror(errno));
        _exit(127);
    }
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Reads exactly n bytes. Returns n, or what read returned at EOF or on an error. */
static ssize_t
bench_db_read(int fd, void *p, size_t n)
{
    size_t got = 0;
    ssize_t r;

    while (got < n) {
        r = read(fd, (char *)p + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return r;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

/* Whether pid is a live master (not a recycled PID). */
static bool
bench_db_master_alive(pid_t pid)
{
    char link[64], exe[PATH_MAX];
    ssize_t n;

    snprintf(link, sizeof(link), "/proc/%d/exe", (int)pid);
    if (pid <= 0 || (n = readlink(link, exe, sizeof(exe) - 1)) < 0)
        return false;
    exe[n] = '\0';
    return n >= 7 && strcmp(exe + n - 7, "/master") == 0;
}

/* The watchdog: reads 'm' + a master PID, 'x' (dismissed), or EOF (ffbench is gone: wait
 * for the master, then stop the servers and clean up). */
static void
bench_db_watch(bench_db_t *d, int rfd)
{
    struct timespec nap = {0, 100000000};
    pid_t master = 0;
    char b;
    ssize_t n;

    signal(SIGINT, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    while ((n = bench_db_read(rfd, &b, 1)) == 1 && b == 'm')
        if (bench_db_read(rfd, &master, sizeof(master)) != (ssize_t)sizeof(master))
            break;
    if (n == 1 && b == 'x')
        _exit(0);
    for (int i = 0; i < BENCH_MASTER_WAIT_MS / 100 && bench_db_master_alive(master); i++)
        nanosleep(&nap, NULL);
    bench_db_script(d, "stop", false);
    nftw(d->dir, bench_db_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    _exit(0);
}

static void
bench_db_dump(const bench_db_t *d)
{
    char path[PATH_MAX + 16], line[1024];
    FILE *f;

    snprintf(path, sizeof(path), "%s/db.out", d->dir);
    if ((f = fopen(path, "r")) == NULL)
        return;
    fprintf(stderr, "---- %s ----\n", path);
    while (fgets(line, sizeof(line), f) != NULL)
        fputs(line, stderr);
    fclose(f);
}

bench_db_t *
bench_db_start(const char *script)
{
    bench_db_t *d = ff_calloc(1, sizeof(*d));
    int ports[2], fds[2], rc;

    d->watch_fd = -1;
    if (realpath(script, d->script) == NULL || access(d->script, X_OK) < 0) {
        fprintf(stderr, "ffbench: %s: %s\n", script, strerror(errno));
        ff_free(d);
        return NULL;
    }
    snprintf(d->dir, sizeof(d->dir), "/tmp/ffbench-db-XXXXXX");
    if (mkdtemp(d->dir) == NULL) {
        fprintf(stderr, "ffbench: mkdtemp: %s\n", strerror(errno));
        ff_free(d);
        return NULL;
    }
    if ((ports[0] = bench_free_port(NULL, 0)) < 0 || (ports[1] = bench_free_port(ports, 1)) < 0 ||
        pipe2(fds, O_CLOEXEC) < 0) {
        fprintf(stderr, "ffbench: no free port or pipe: %s\n", strerror(errno));
        nftw(d->dir, bench_db_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
        ff_free(d);
        return NULL;
    }
    d->mysql_port = ports[0];
    d->memcached_port = ports[1];
    fflush(stdout);
    fflush(stderr);
    if ((d->watchdog = fork()) == 0) {
        close(fds[1]);
        bench_db_watch(d, fds[0]);
    }
    close(fds[0]);
    d->watch_fd = fds[1];
    if (d->watchdog < 0) {
        fprintf(stderr, "ffbench: fork: %s\n", strerror(errno));
        bench_db_stop(d, false);
        return NULL;
    }
    if ((rc = bench_db_script(d, "start", true)) != 0) {
        fprintf(stderr, "ffbench: %s start %s %d %d failed (exit %d)\n", d->script, d->dir,
                d->mysql_port, d->memcached_port, rc);
        bench_db_dump(d);
        bench_db_stop(d, false);
        return NULL;
    }
    return d;
}

int
bench_db_mysql_port(const bench_db_t *d)
{
    return d->mysql_port;
}

int
bench_db_memcached_port(const bench_db_t *d)
{
    return d->memcached_port;
}

const char *
bench_db_dir(const bench_db_t *d)
{
    return d->dir;
}

void
bench_db_watch_master(bench_db_t *d, pid_t master)
{
    char msg[1 + sizeof(master)];

    msg[0] = 'm';
    memcpy(msg + 1, &master, sizeof(master));
    if (d->watch_fd >= 0 && write(d->watch_fd, msg, sizeof(msg)) != (ssize_t)sizeof(msg))
        fprintf(stderr, "ffbench: telling the db watchdog: %s\n", strerror(errno));
}

int
bench_db_seed(bench_db_t *d, int64_t n, int owner)
{
    MYSQL *m = mysql_init(NULL);
    unsigned int timeout = 30;
    size_t cap = 64 + BENCH_SEED_BATCH * 96, len;
    char *sql = ff_malloc(cap);
    int rc = 0;

    mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
    if (mysql_real_connect(m, "127.0.0.1", "firefly", "firefly", "firefly", (unsigned)d->mysql_port,
                           NULL, 0) == NULL) {
        fprintf(stderr, "ffbench: MariaDB on port %d: %s\n", d->mysql_port, mysql_error(m));
        rc = -1;
    }
    for (int64_t id = 1; rc == 0 && id <= n;) {
        len =
            (size_t)snprintf(sql, cap, "INSERT INTO tb_item (id, owner, kind, qty, data) VALUES ");
        for (int i = 0; i < BENCH_SEED_BATCH && id <= n; i++, id++)
            len += (size_t)snprintf(sql + len, cap - len,
                                    "%s(%lld, %d, 'cold', 1, '0123456789abcdef0123456789abcdef')",
                                    i ? "," : "", (long long)id, owner);
        if (mysql_real_query(m, sql, len) != 0) {
            fprintf(stderr, "ffbench: seeding tb_item: %s\n", mysql_error(m));
            rc = -1;
        }
    }
    ff_free(sql);
    mysql_close(m);
    return rc;
}

int
bench_db_flush_memcached(bench_db_t *d)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct timeval tv = {5, 0};
    char reply[64];
    size_t got = 0;
    ssize_t n;
    int fd, rc = -1;

    sa.sin_port = htons((uint16_t)d->memcached_port);
    if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
        goto out;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        send(fd, "flush_all\r\n", 11, MSG_NOSIGNAL) != 11)
        goto out;
    while (got < sizeof(reply) - 1 && (n = recv(fd, reply + got, sizeof(reply) - 1 - got, 0)) > 0) {
        got += (size_t)n;
        reply[got] = '\0';
        if (strstr(reply, "\r\n") != NULL)
            break;
    }
    reply[got] = '\0';
    rc = strncmp(reply, "OK\r\n", 4) == 0 ? 0 : -1;
out:
    if (rc < 0)
        fprintf(stderr, "ffbench: flush_all to memcached on port %d failed: %s\n",
                d->memcached_port, got > 0 ? reply : strerror(errno));
    if (fd >= 0)
        close(fd);
    return rc;
}

int
bench_db_stop(bench_db_t *d, bool keep)
{
    int rc = 0;

    if (d == NULL)
        return 0;
    if (bench_db_script(d, "stop", false) != 0) {
        fprintf(stderr, "ffbench: %s stop %s failed\n", d->script, d->dir);
        bench_db_dump(d);
        rc = -1;
    }
    if (keep)
        fprintf(stderr, "ffbench: kept %s\n", d->dir);
    else
        nftw(d->dir, bench_db_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    if (d->watch_fd >= 0) {
        if (write(d->watch_fd, "x", 1) != 1)
            rc = -1;
        close(d->watch_fd);
    }
    if (d->watchdog > 0)
        waitpid(d->watchdog, NULL, 0);
    ff_free(d);
    return rc;
}
