/* cluster: temp config, master process, readiness by /status, stop by /stop, for ffbench.
 * With a store, readiness also waits for dbfront (running once it has learnt the tables and
 * replayed its log) and for both game nodes' links to it. */
#include "cluster.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <jansson.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "ffclient.h"

#define BENCH_NPORTS 5 /* root, web, gate bus, net, dbfront */
#define BENCH_MAX_NODES 64

static const char *const bench_nodes[] = {"gate", "net", "game1", "game2", "dbfront"};

struct bench_cluster_s {
    char dir[PATH_MAX];
    char bin[PATH_MAX];
    int root_port, web_port, gate_port, net_port, dbfront_port;
    bool has_store;
    bench_cluster_store_t store;
    pid_t master;
    bool reaped;
    int master_status;
    pid_t nodes[BENCH_MAX_NODES]; /* every node PID /status has shown */
    int nnodes;
};

static long long
bench_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
bench_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

int
bench_free_port(const int *avoid, int n)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int fd, port, i, tries;

    for (tries = 0; tries < 100; tries++) {
        port = -1;
        sa.sin_port = 0;
        if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
            return -1;
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
            getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
            port = ntohs(sa.sin_port);
        close(fd);
        for (i = 0; i < n && port > 0; i++)
            if (avoid[i] == port)
                port = -1;
        if (port > 0)
            return port;
    }
    return -1;
}

/* Writes the store's parts of the config: the dbfront server entry (inside "servers") when
 * `servers`, else the top-level sections after "servers". */
static void
bench_write_store(const bench_cluster_t *c, FILE *f, bool servers)
{
    if (servers) {
        fprintf(f,
                "    \"dbfront\": {\"rootport\": %d, \"wal\": \"%s/wal\", \"syncInterval\": %d, "
                "\"log\": \"%s/dbfront.log\"},\n",
                c->dbfront_port, c->dir, c->store.sync_interval_s, c->dir);
        return;
    }
    fprintf(f,
            "  \"db\": {\"host\": \"127.0.0.1\", \"port\": %d, \"user\": \"firefly\", "
            "\"passwd\": \"firefly\", \"db\": \"firefly\"},\n"
            "  \"memcached\": {\"urls\": [\"127.0.0.1:%d\"], \"hostname\": \"ffbench\"},\n"
            "  \"tables\": {\"tb_item\": {\"pk\": \"id\", \"incr\": true, \"fk\": \"owner\", "
            "\"timeout\": 600}},\n"
            "  \"cluster\": {\"requestTimeout\": 120000},\n",
            c->store.mysql_port, c->store.memcached_port);
}

/* Writes DIR/config.json. Returns 0 or -1 (printed). */
static int
bench_write_config(const bench_cluster_t *c, const char *app, const char *app2)
{
    char path[PATH_MAX + 16], game_extra[64] = "";
    FILE *f;
    int rc;

    snprintf(path, sizeof(path), "%s/config.json", c->dir);
    if ((f = fopen(path, "w")) == NULL) {
        fprintf(stderr, "ffbench: %s: %s\n", path, strerror(errno));
        return -1;
    }
    fprintf(f,
            "{\n"
            "  \"master\": {\"roothost\": \"127.0.0.1\", \"rootport\": %d, \"webhost\": "
            "\"127.0.0.1\", \"webport\": %d, \"log\": \"%s/master.log\"},\n"
            "  \"servers\": {\n"
            "    \"gate\": {\"rootport\": %d, \"log\": \"%s/gate.log\"},\n"
            "    \"net\": {\"netport\": %d, \"remoteport\": [{\"rootname\": \"gate\", "
            "\"rootport\": %d}], \"log\": \"%s/net.log\"},\n",
            c->root_port, c->web_port, c->dir, c->gate_port, c->dir, c->net_port, c->gate_port,
            c->dir);
    if (c->has_store) {
        bench_write_store(c, f, true);
        snprintf(game_extra, sizeof(game_extra),
                 ", {\"rootname\": \"dbfront\", \"rootport\": %d}], \"mem\": true",
                 c->dbfront_port);
    } else {
        snprintf(game_extra, sizeof(game_extra), "]");
    }
    fprintf(f,
            "    \"game1\": {\"app\": \"%s\", \"remoteport\": [{\"rootname\": \"gate\", "
            "\"rootport\": %d}%s, \"log\": \"%s/game1.log\"},\n"
            "    \"game2\": {\"app\": \"%s\", \"remoteport\": [{\"rootname\": \"gate\", "
            "\"rootport\": %d}%s, \"log\": \"%s/game2.log\"}\n"
            "  },\n",
            app, c->gate_port, game_extra, c->dir, app2 != NULL ? app2 : app, c->gate_port,
            game_extra, c->dir);
    if (c->has_store)
        bench_write_store(c, f, false);
    fprintf(f, "  \"netconnect\": {\"magic\": \"N%%&0\", \"protoVersion\": 9, \"serverVersion\": "
               "0, \"maxPacket\": 65536}\n"
               "}\n");
    rc = fclose(f);
    return rc == 0 ? 0 : -1;
}

/* In the child: cwd = DIR, output to DIR/master.out, SIGTERM if ffbench dies, exec. */
static void
bench_exec_master(const bench_cluster_t *c, pid_t parent)
{
    char master[PATH_MAX + 16], conf[PATH_MAX + 16], out[PATH_MAX + 16];
    int fd;

    prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
    if (getppid() != parent)
        _exit(127);
    snprintf(master, sizeof(master), "%s/master", c->bin);
    snprintf(conf, sizeof(conf), "%s/config.json", c->dir);
    snprintf(out, sizeof(out), "%s/master.out", c->dir);
    if ((fd = open(out, O_WRONLY | O_CREAT | O_APPEND, 0644)) >= 0) {
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        close(fd);
    }
    if ((fd = open("/dev/null", O_RDONLY)) >= 0) {
        dup2(fd, STDIN_FILENO);
        close(fd);
    }
    if (chdir(c->dir) == 0)
        execl(master, master, conf, (char *)NULL);
    dprintf(STDERR_FILENO, "ffbench: exec %s: %s\n", master, strerror(errno));
    _exit(127);
}

/* Whether master has exited (collecting its status). */
static bool
bench_master_exited(bench_cluster_t *c)
{
    if (!c->reaped && waitpid(c->master, &c->master_status, WNOHANG) == c->master)
        c->reaped = true;
    return c->reaped;
}

static void
bench_node_seen(bench_cluster_t *c, json_int_t pid)
{
    int i;

    for (i = 0; i < c->nnodes; i++)
        if (c->nodes[i] == (pid_t)pid)
            return;
    if (pid > 0 && c->nnodes < BENCH_MAX_NODES)
        c->nodes[c->nnodes++] = (pid_t)pid;
}

/* The node object `name` of a /status document, or NULL. */
static json_t *
bench_status_node(json_t *st, const char *name)
{
    json_t *node;
    const char *n;
    size_t i;

    json_array_foreach(json_object_get(st, "nodes"), i, node)
    {
        n = json_string_value(json_object_get(node, "name"));
        if (n != NULL && strcmp(n, name) == 0)
            return node;
    }
    return NULL;
}

/* Whether `name` is in the gate's "peers". */
static bool
bench_gate_has(json_t *st, const char *name)
{
    json_t *peer;
    size_t i;

    json_array_foreach(json_object_get(bench_status_node(st, "gate"), "peers"), i, peer)
    {
        if (json_is_string(peer) && strcmp(json_string_value(peer), name) == 0)
            return true;
    }
    return false;
}

/* Whether the /status document shows every node running and linked (net and the game
 * nodes to gate, with a store the game nodes to dbfront); says why not. */
static bool
bench_ready(bench_cluster_t *c, json_t *st, char *why, size_t len)
{
    size_t n = sizeof(bench_nodes) / sizeof(bench_nodes[0]) - (c->has_store ? 0 : 1), i;
    json_t *node;
    const char *state;
    bool game;

    json_array_foreach(json_object_get(st, "nodes"), i, node)
        bench_node_seen(c, json_integer_value(json_object_get(node, "pid")));
    for (i = 0; i < n; i++) {
        node = bench_status_node(st, bench_nodes[i]);
        state = json_string_value(json_object_get(node, "state"));
        game = strncmp(bench_nodes[i], "game", 4) == 0;
        if (state == NULL || strcmp(state, "running") != 0)
            snprintf(why, len, "%s: state %s", bench_nodes[i], state ? state : "(missing)");
        else if ((i == 1 || game) && !bench_gate_has(st, bench_nodes[i]))
            snprintf(why, len, "%s: not among the gate's peers", bench_nodes[i]);
        else if (i == 1 && !json_is_true(json_object_get(node, "gate")))
            snprintf(why, len, "net: not linked to gate");
        else if (game && c->has_store &&
                 !json_is_true(json_object_get(json_object_get(node, "store"), "dbfront")))
            snprintf(why, len, "%s: not linked to dbfront", bench_nodes[i]);
        else
            continue;
        return false;
    }
    return true;
}

/* Polls /status every 20 ms until ready, master exits, or the deadline. Returns 0 or -1. */
static int
bench_wait_ready(bench_cluster_t *c, int timeout_ms)
{
    long long deadline = bench_now_ms() + timeout_ms;
    char why[256] = "no answer", *body = NULL;
    json_t *st;
    int status, rc;
    bool ready = false;

    while (!ready && !bench_master_exited(c) && bench_now_ms() < deadline) {
        rc = ffc_http_get("127.0.0.1", c->web_port, "/status", 2000, &status, &body, NULL);
        if (rc < 0)
            snprintf(why, sizeof(why), "GET /status: %s", ffc_strerror(rc));
        st = rc == 0 && status == 200 ? json_loads(body, 0, NULL) : NULL;
        ready = st != NULL && bench_ready(c, st, why, sizeof(why));
        json_decref(st);
        ff_free(body);
        body = NULL;
        if (!ready)
            bench_sleep_ms(20);
    }
    if (c->reaped)
        fprintf(stderr, "ffbench: master exited (status 0x%x) before the cluster was ready\n",
                (unsigned)c->master_status);
    else if (!ready)
        fprintf(stderr, "ffbench: cluster not ready after %d ms: %s\n", timeout_ms, why);
    return ready ? 0 : -1;
}

/* Checks the binaries and picks the ports; fills c. Returns 0 or -1 (printed). */
static int
bench_prepare(bench_cluster_t *c, const char *bin_dir, const char *app)
{
    char master[PATH_MAX + 16];
    int ports[BENCH_NPORTS], i;

    if (realpath(bin_dir, c->bin) == NULL) {
        fprintf(stderr, "ffbench: %s: %s\n", bin_dir, strerror(errno));
        return -1;
    }
    snprintf(master, sizeof(master), "%s/master", c->bin);
    if (access(master, X_OK) < 0 || access(app, R_OK) < 0) {
        fprintf(stderr, "ffbench: %s: %s (run make all)\n", access(app, R_OK) ? app : master,
                strerror(errno));
        return -1;
    }
    for (i = 0; i < BENCH_NPORTS; i++)
        if ((ports[i] = bench_free_port(ports, i)) < 0)
            return -1;
    c->root_port = ports[0];
    c->web_port = ports[1];
    c->gate_port = ports[2];
    c->net_port = ports[3];
    c->dbfront_port = ports[4];
    snprintf(c->dir, sizeof(c->dir), "/tmp/ffbench-XXXXXX");
    if (mkdtemp(c->dir) == NULL) {
        fprintf(stderr, "ffbench: mkdtemp: %s\n", strerror(errno));
        return -1;
    }
    return 0;
}

bench_cluster_t *
bench_cluster_start(const char *bin_dir, const char *app, const char *app2,
                    const bench_cluster_store_t *store, int timeout_ms)
{
    bench_cluster_t *c = ff_calloc(1, sizeof(*c));
    pid_t parent = getpid();

    if (store != NULL) {
        c->has_store = true;
        c->store = *store;
    }

    if (bench_prepare(c, bin_dir, app) < 0) {
        ff_free(c);
        return NULL;
    }
    if (bench_write_config(c, app, app2) < 0)
        goto fail;
    fflush(stdout);
    fflush(stderr);
    if ((c->master = fork()) < 0) {
        fprintf(stderr, "ffbench: fork: %s\n", strerror(errno));
        goto fail;
    }
    if (c->master == 0)
        bench_exec_master(c, parent);
    if (bench_wait_ready(c, timeout_ms) < 0) {
        bench_cluster_dump_logs(c);
        goto fail;
    }
    return c;
fail:
    bench_cluster_free(c, false);
    return NULL;
}

int
bench_cluster_net_port(const bench_cluster_t *c)
{
    return c->net_port;
}

pid_t
bench_cluster_master_pid(const bench_cluster_t *c)
{
    return c->master;
}

int
bench_cluster_web_port(const bench_cluster_t *c)
{
    return c->web_port;
}

const char *
bench_cluster_dir(const bench_cluster_t *c)
{
    return c->dir;
}

/* Whether pid is gone or runs something other than a binary of bin/ (a recycled PID). */
static bool
bench_pid_gone(const bench_cluster_t *c, pid_t pid)
{
    char link[64], exe[PATH_MAX];
    ssize_t n;

    snprintf(link, sizeof(link), "/proc/%d/exe", (int)pid);
    if ((n = readlink(link, exe, sizeof(exe) - 1)) < 0)
        return true;
    exe[n] = '\0';
    return strncmp(exe, c->bin, strlen(c->bin)) != 0 || exe[strlen(c->bin)] != '/';
}

/* SIGKILLs master (unless it has exited) and every node still alive. Returns how many
 * processes needed it. */
static int
bench_kill_all(bench_cluster_t *c)
{
    int i, killed = 0;

    if (c->master > 0 && !bench_master_exited(c)) {
        kill(c->master, SIGKILL);
        waitpid(c->master, &c->master_status, 0);
        c->reaped = true;
        killed++;
    }
    for (i = 0; i < c->nnodes; i++) {
        if (!bench_pid_gone(c, c->nodes[i])) {
            kill(c->nodes[i], SIGKILL);
            killed++;
        }
    }
    return killed;
}

/* Waits until master has exited and every node is gone, or the deadline. */
static bool
bench_wait_gone(bench_cluster_t *c, long long deadline)
{
    int i;

    for (;;) {
        for (i = 0; i < c->nnodes && bench_pid_gone(c, c->nodes[i]); i++)
            ;
        if (bench_master_exited(c) && i == c->nnodes)
            return true;
        if (bench_now_ms() >= deadline)
            return false;
        bench_sleep_ms(20);
    }
}

/* Learns the node PIDs /status shows now (nodes may have been restarted since start). */
static void
bench_refresh_pids(bench_cluster_t *c)
{
    char *body = NULL, why[256];
    json_t *st = NULL;
    int status;

    if (ffc_http_get("127.0.0.1", c->web_port, "/status", 2000, &status, &body, NULL) == 0)
        st = json_loads(body, 0, NULL);
    if (st != NULL)
        bench_ready(c, st, why, sizeof(why));
    json_decref(st);
    ff_free(body);
}

int
bench_cluster_stop(bench_cluster_t *c, int timeout_ms)
{
    long long deadline = bench_now_ms() + timeout_ms;
    int status = 0, rc, killed;
    char *body = NULL;

    bench_refresh_pids(c);
    rc = ffc_http_get("127.0.0.1", c->web_port, "/stop", 5000, &status, &body, NULL);
    ff_free(body);
    if (rc < 0 || status != 200)
        fprintf(stderr, "ffbench: GET /stop: %s\n", rc < 0 ? ffc_strerror(rc) : "not 200");
    bench_wait_gone(c, deadline);
    killed = bench_kill_all(c);
    if (killed > 0)
        fprintf(stderr, "ffbench: %d process(es) still running %d ms after GET /stop: killed\n",
                killed, timeout_ms);
    else if (!WIFEXITED(c->master_status) || WEXITSTATUS(c->master_status) != 0)
        fprintf(stderr, "ffbench: master exited with wait status 0x%x after GET /stop\n",
                (unsigned)c->master_status);
    else
        return 0;
    return -1;
}

void
bench_cluster_dump_logs(const bench_cluster_t *c)
{
    char pat[PATH_MAX + 16], line[4096];
    glob_t g;
    size_t i;
    FILE *f;

    snprintf(pat, sizeof(pat), "%s/*.{out,log}", c->dir);
    if (glob(pat, GLOB_BRACE, NULL, &g) != 0)
        return;
    for (i = 0; i < g.gl_pathc; i++) {
        if ((f = fopen(g.gl_pathv[i], "r")) == NULL)
            continue;
        fprintf(stderr, "---- %s ----\n", g.gl_pathv[i]);
        while (fgets(line, sizeof(line), f) != NULL)
            fputs(line, stderr);
        fclose(f);
    }
    globfree(&g);
}

static int
bench_rm_cb(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)type;
    (void)ftw;
    remove(path);
    return 0;
}

void
bench_cluster_free(bench_cluster_t *c, bool keep)
{
    if (c == NULL)
        return;
    bench_kill_all(c);
    if (keep)
        fprintf(stderr, "ffbench: kept %s\n", c->dir);
    else if (c->dir[0] != '\0')
        nftw(c->dir, bench_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    ff_free(c);
}
