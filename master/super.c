/* super: master's supervisor: the node table, restarts with backoff, the role-ordered
 * graceful stop and the application of a reloaded config.
 *
 * Each node has one timer: the restart backoff while it is "restarting", the SIGKILL
 * deadline while it is "stopping". Children are reaped by a SIGCHLD handler (waitpid(-1)),
 * after which super_progress() moves every waiting operation on: the current reload, the
 * stop phases, and the freeing of nodes that a reload removed. Backoff after an unexpected
 * exit is 100 ms doubled for every restart still inside cluster.restartWindow, capped at
 * 5 s; once cluster.maxRestarts restarts are inside the window, the next unexpected exit
 * marks the node failed. Times are taken from uv_hrtime(), because spawning blocks the
 * loop briefly and uv_now() would lag behind.
 *
 * Each process gets a crash pipe (--crash-fd): master keeps the read end and, when it reaps
 * the process, reads the record its crash handler left there (common/crash.h), so that
 * last_exit says what the node ran when it died: "signal 11 (Segmentation fault) in
 * command 42".
 *
 * dbfront is special in a stop: every write it acknowledged must be in MariaDB when the
 * stop ends, and after a crash those writes are only in its log. So a dbfront that is down
 * (restarting or failed) when the stop begins is started again at once, one that dies
 * during the stop without having said how its stop ended is restarted (the first time at
 * once), and its stop phase waits for it to be running (log replayed) before telling it to
 * stop with the time left of cluster.stopTimeout. Its last words on the control link,
 * NOTIFY "stopped" {"unflushed":N,"log":"<dir>"}, are read before it counts as gone, and
 * become the answer of the stop (super_stop_result). */
#include "super.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alloc.h"
#include "crash.h"
#include "list.h"
#include "log.h"
#include "spawn.h"

#define SUPER_BACKOFF_MIN_MS 100
#define SUPER_BACKOFF_MAX_MS 5000
#define SUPER_KILL_GRACE_MS 5000

typedef struct {
    char *name;
    ff_role_t role;
    ff_link_t *dying;    /* dbfront: the control link of its exited process, until it closes */
    pid_t dying_pid;     /* ... that process */
    int exit_status;     /* ... and its wait status */
    json_t *report;      /* dbfront: the current process's NOTIFY "stopped", or NULL */
    bool revived;        /* dbfront: already restarted during this stop */
    bool killed;         /* master sent the current process SIGKILL */
    uint64_t kill_after; /* ms from being told to stop to SIGKILL */
    char *host;          /* with the ports: what a reload compares to decide on a restart */
    int rootport, netport;
    super_state_t state;
    pid_t pid;
    int crash_fd; /* read end of the current process's crash pipe; -1 when none */
    ff_link_t *link;
    uint64_t started; /* ms, when the current process was forked */
    int restarts;
    uint64_t *recent; /* ms of the restarts still inside the window, oldest first */
    int nrecent;
    unsigned gen;                /* the config generation the process was started with */
    bool removed;                /* gone from the config: freed once it has no process */
    bool respawn;                /* changed in the config: started again once it has exited */
    bool reload_wait;            /* the current reload waits for it to exit */
    bool sent_term;              /* stopped with SIGTERM: dying of it is a clean stop */
    bool start_killed;           /* killed for missing cluster.startTimeout */
    uint8_t token[FF_BUS_TOKEN]; /* handed to the current process; its HELLO must carry it */
    char last_exit[128];
    uv_timer_t timer;
} node_t;

typedef struct {
    super_done_cb cb;
    void *arg;
} waiter_t;

typedef struct {
    ff_list_t link;
    ff_conf_t *conf; /* the config to apply; NULL once applied */
    super_reload_cb cb;
    void *arg;
    json_t *result;
    int pending; /* nodes it waits for, plus one while it is being applied */
} reload_t;

static const ff_role_t stop_order[] = {FF_ROLE_NET, FF_ROLE_GATE, FF_ROLE_GAME, FF_ROLE_DBFRONT};
#define STOP_PHASES (sizeof(stop_order) / sizeof(stop_order[0]))

static struct {
    uv_loop_t *loop;
    ff_conf_t *conf;
    char *exe_dir, *conf_path;
    uint8_t *handoff; /* FF_BUS_TOKEN bytes for a node's token, then the cluster secret */
    size_t handoff_len;
    node_t **nodes;
    size_t n;
    unsigned gen;
    uv_signal_t sigchld;
    bool stopping, stopped;
    uint64_t stop_deadline; /* ms: the end of cluster.stopTimeout, counted from the stop */
    uv_timer_t stop_timer;  /* fires at stop_deadline */
    json_t *stop_result;    /* NULL, or what the stop left out of MariaDB */
    size_t phase;
    waiter_t *waiters;
    size_t nwaiters;
    super_done_cb on_stopped;
    void *on_stopped_arg;
    ff_list_t reloads; /* the head is being applied */
} S;

static void node_crashed(node_t *n);
static void node_timer_cb(uv_timer_t *t);
static void node_gone(node_t *n, int wstatus);
static void super_progress(void);
static void reload_begin(reload_t *op);

static uint64_t
now_ms(void)
{
    return uv_hrtime() / 1000000;
}

static bool
str_eq(const char *a, const char *b)
{
    return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* ---- nodes ------------------------------------------------------------------------- */

static void
node_configure(node_t *n, const ff_conf_server_t *srv)
{
    ff_free(n->host);
    n->host = ff_strdup(srv->host);
    n->role = srv->role;
    n->rootport = srv->rootport;
    n->netport = srv->netport;
}

static bool
node_changed(const node_t *n, const ff_conf_server_t *srv)
{
    return n->role != srv->role || n->rootport != srv->rootport || n->netport != srv->netport ||
           !str_eq(n->host, srv->host);
}

static node_t *
node_new(const ff_conf_server_t *srv)
{
    node_t *n = ff_calloc(1, sizeof(*n));

    n->name = ff_strdup(srv->name);
    node_configure(n, srv);
    n->state = SUPER_STOPPED;
    n->crash_fd = -1;
    uv_timer_init(S.loop, &n->timer);
    n->timer.data = n;
    S.nodes = ff_realloc(S.nodes, (S.n + 1) * sizeof(*S.nodes));
    S.nodes[S.n++] = n;
    return n;
}

static void
node_closed_cb(uv_handle_t *h)
{
    node_t *n = h->data;

    if (n->crash_fd >= 0)
        close(n->crash_fd);
    ff_free(n->name);
    ff_free(n->host);
    ff_free(n->recent);
    json_decref(n->report);
    ff_free(n);
}

/* The node named `name` (removed or not: names are unique in the table), or NULL. */
static node_t *
node_by_name(const char *name)
{
    for (size_t i = 0; i < S.n; i++)
        if (strcmp(S.nodes[i]->name, name) == 0)
            return S.nodes[i];
    return NULL;
}

static node_t *
node_by_pid(pid_t pid)
{
    for (size_t i = 0; i < S.n; i++)
        if (S.nodes[i]->pid == pid)
            return S.nodes[i];
    return NULL;
}

static node_t *
node_by_link(const ff_link_t *l)
{
    for (size_t i = 0; i < S.n; i++)
        if (S.nodes[i]->link == l)
            return S.nodes[i];
    return NULL;
}

/* True for a dbfront while a stop still waits for its log to reach MariaDB. */
static bool
stop_revives(const node_t *n)
{
    return S.stopping && n->role == FF_ROLE_DBFRONT && !n->removed && now_ms() < S.stop_deadline;
}

/* The ms a node is given to stop: for dbfront, what is left of cluster.stopTimeout in a
 * stop of the cluster (all of it when a reload stops it). */
static uint64_t
stop_budget(const node_t *n)
{
    uint64_t now = now_ms();

    if (n->role != FF_ROLE_DBFRONT)
        return (uint64_t)S.conf->cluster.request_timeout_ms;
    if (!S.stopping)
        return (uint64_t)S.conf->cluster.stop_timeout_ms;
    return S.stop_deadline > now ? S.stop_deadline - now : 0;
}

static void
node_notify(node_t *n, const char *method)
{
    ff_buf_t *b = n->link != NULL ? ff_link_out(n->link) : NULL;

    if (b != NULL)
        ff_bus_put_notify(b, method, "{}");
}

/* A crash pipe: its read end (non-blocking) in fds[0], or both -1 when none could be made
 * (the node then runs without one). */
static void
crash_pipe(int fds[2])
{
    if (pipe2(fds, O_CLOEXEC) < 0) {
        ff_log(FF_LOG_WARN, "cannot create a crash pipe: %s", strerror(errno));
        fds[0] = fds[1] = -1;
    } else if (fcntl(fds[0], F_SETFL, O_NONBLOCK) < 0) {
        close(fds[0]);
        close(fds[1]);
        fds[0] = fds[1] = -1;
    }
}

/* What the crash record of the reaped process says (" in command 42") into what ("" when it
 * left none); closes the pipe. */
static void
crash_read(node_t *n, char *what, size_t len)
{
    ff_crash_record_t rec;

    what[0] = '\0';
    if (n->crash_fd < 0)
        return;
    if (read(n->crash_fd, &rec, sizeof(rec)) == (ssize_t)sizeof(rec))
        ff_crash_describe(&rec, what, len);
    close(n->crash_fd);
    n->crash_fd = -1;
}

/* Forks the node's role binary with a fresh token; a failed exec counts as a crash. It
 * must link up (HELLO on its control link) within cluster.startTimeout. */
static void
node_spawn(node_t *n)
{
    const char *role = ff_conf_role_name(n->role);
    size_t len = strlen(S.exe_dir) + strlen(role) + 2;
    char *path = ff_malloc(len), fd[16], cfd[16];
    char *argv[] = {path,        (char *)"--config",
                    S.conf_path, (char *)"--name",
                    n->name,     (char *)"--secret-fd",
                    fd,          (char *)"--crash-fd",
                    cfd,         NULL};
    int rc, crash[2];
    pid_t pid = 0;

    snprintf(path, len, "%s/%s", S.exe_dir, role);
    snprintf(fd, sizeof(fd), "%d", SPAWN_HANDOFF_FD);
    snprintf(cfd, sizeof(cfd), "%d", SPAWN_REPORT_FD);
    crash_pipe(crash);
    if (crash[1] < 0)
        argv[7] = NULL;
    randombytes_buf(n->token, sizeof(n->token));
    memcpy(S.handoff, n->token, sizeof(n->token));
    rc = spawn_process(path, argv, S.handoff, S.handoff_len, crash[1], &pid);
    sodium_memzero(S.handoff, FF_BUS_TOKEN);
    if (crash[1] >= 0)
        close(crash[1]);
    n->crash_fd = crash[0];
    if (rc < 0) {
        ff_log(FF_LOG_ERROR, "cannot start %s: %s: %s", n->name, path, strerror(-rc));
        snprintf(n->last_exit, sizeof(n->last_exit), "exec failed: %s", strerror(-rc));
        close(n->crash_fd);
        n->crash_fd = -1;
        ff_free(path);
        node_crashed(n);
        return;
    }
    ff_free(path);
    n->pid = pid;
    n->link = NULL;
    n->killed = false;
    json_decref(n->report);
    n->report = NULL;
    n->state = SUPER_STARTING;
    n->started = now_ms();
    n->gen = S.gen;
    ff_log(FF_LOG_INFO, "started %s (%s, pid %d)", n->name, role, (int)pid);
    uv_timer_start(&n->timer, node_timer_cb, (uint64_t)S.conf->cluster.start_timeout_ms, 0);
}

/* A fresh start (a reload added, changed or revived the node): the counters begin anew. */
static void
node_spawn_fresh(node_t *n)
{
    n->restarts = 0;
    n->nrecent = 0;
    node_spawn(n);
}

static void
node_timer_cb(uv_timer_t *t)
{
    node_t *n = t->data;

    if (n->state == SUPER_STARTING && n->link == NULL && n->pid > 0) {
        /* Its exit then counts as a crash: restarted with backoff, or given up on. */
        ff_log(FF_LOG_WARN,
               "%s (pid %d) has not linked up with master within %d ms "
               "(cluster.startTimeout); killing it",
               n->name, (int)n->pid, S.conf->cluster.start_timeout_ms);
        n->start_killed = true;
        kill(n->pid, SIGKILL);
        n->killed = true;
    } else if (n->state == SUPER_RESTARTING && S.stopping && !stop_revives(n)) {
        n->state = SUPER_STOPPED; /* the stop no longer waits for it */
        super_progress();
    } else if (n->state == SUPER_RESTARTING) {
        n->recent = ff_realloc(n->recent, (size_t)(n->nrecent + 1) * sizeof(*n->recent));
        n->recent[n->nrecent++] = now_ms();
        n->restarts++;
        node_spawn(n);
    } else if (n->state == SUPER_STOPPING && n->pid > 0) {
        ff_log(FF_LOG_WARN,
               "%s (pid %d) has not exited %d ms after being told to stop; "
               "sending SIGKILL",
               n->name, (int)n->pid, (int)n->kill_after);
        kill(n->pid, SIGKILL);
        n->killed = true;
    }
}

/* The node has no process after an unexpected exit or a failed exec: restart it after the
 * backoff, unless it restarted too often lately or the cluster is stopping. */
static void
node_crashed(node_t *n)
{
    uint64_t now = now_ms(), window = (uint64_t)S.conf->cluster.restart_window_s * 1000;
    int keep = 0, delay = SUPER_BACKOFF_MIN_MS;

    if (n->removed || (S.stopping && !stop_revives(n))) {
        n->state = SUPER_STOPPED;
        return;
    }
    for (int i = 0; i < n->nrecent; i++)
        if (now - n->recent[i] < window)
            n->recent[keep++] = n->recent[i];
    n->nrecent = keep;
    if (n->nrecent >= S.conf->cluster.max_restarts) {
        n->state = SUPER_FAILED;
        ff_log(FF_LOG_ERROR, "giving up on %s after %d restarts in %d s", n->name, n->nrecent,
               S.conf->cluster.restart_window_s);
        return;
    }
    for (int i = 0; i < n->nrecent && delay < SUPER_BACKOFF_MAX_MS; i++)
        delay *= 2;
    if (delay > SUPER_BACKOFF_MAX_MS)
        delay = SUPER_BACKOFF_MAX_MS;
    if (S.stopping && !n->revived)
        delay = 0; /* the stop waits for it: no backoff the first time */
    n->revived = n->revived || S.stopping;
    n->state = SUPER_RESTARTING;
    ff_log(FF_LOG_INFO, "restarting %s in %d ms", n->name, delay);
    uv_timer_start(&n->timer, node_timer_cb, (uint64_t)delay, 0);
}

/* Tells a node to stop: NOTIFY stop over its control link, or SIGTERM when it has none; then
 * arms the SIGKILL deadline. A node without a process is simply marked stopped. */
static void
node_stop(node_t *n)
{
    ff_buf_t *b;

    if (n->dying != NULL) {
        /* Its process is gone; node_gone decides once its control link has closed. */
        if (n->state == SUPER_STARTING || n->state == SUPER_RUNNING)
            n->state = SUPER_STOPPING;
        return;
    }
    if (n->state == SUPER_RESTARTING) {
        uv_timer_stop(&n->timer);
        n->state = SUPER_STOPPED;
    }
    if (n->state != SUPER_STARTING && n->state != SUPER_RUNNING)
        return;
    b = n->state == SUPER_RUNNING && n->link != NULL ? ff_link_out(n->link) : NULL;
    n->kill_after = stop_budget(n) + SUPER_KILL_GRACE_MS;
    if (b != NULL) {
        char body[48];
        snprintf(body, sizeof(body), "{\"timeout\":%llu}", (unsigned long long)stop_budget(n));
        ff_bus_put_notify(b, "stop", body);
        ff_log(FF_LOG_INFO, "stopping %s (pid %d)", n->name, (int)n->pid);
    } else {
        ff_log(FF_LOG_INFO, "stopping %s (pid %d) with SIGTERM: no control link", n->name,
               (int)n->pid);
        kill(n->pid, SIGTERM);
        n->sent_term = true;
    }
    n->state = SUPER_STOPPING;
    uv_timer_start(&n->timer, node_timer_cb, n->kill_after, 0);
}

static reload_t *
reload_current(void)
{
    return ff_list_empty(&S.reloads) ? NULL : ff_container_of(S.reloads.next, reload_t, link);
}

/* The node has no process any more after being told to stop. */
static void
node_after_stop(node_t *n)
{
    if (n->reload_wait) {
        n->reload_wait = false;
        reload_current()->pending--;
    }
    if (n->respawn) {
        n->respawn = false;
        if (!S.stopping)
            node_spawn_fresh(n);
    }
}

/* "exit status 1", "signal 11 (Segmentation fault) in command 42, core dumped": `what` is
 * what the crash record says the node ran when the signal came. */
static void
describe_exit(int wstatus, const char *what, char *buf, size_t len)
{
    if (WIFEXITED(wstatus))
        snprintf(buf, len, "exit status %d", WEXITSTATUS(wstatus));
    else if (WIFSIGNALED(wstatus))
        snprintf(buf, len, "signal %d (%s)%s%s", WTERMSIG(wstatus), strsignal(WTERMSIG(wstatus)),
                 what, WCOREDUMP(wstatus) ? ", core dumped" : "");
    else
        snprintf(buf, len, "wait status 0x%x", (unsigned)wstatus);
}

/* The process was reaped. A dbfront whose control link is still open counts as gone only
 * once it closes, so that its last frames (the report of its stop) are read first. */
static void
node_exited(node_t *n, int wstatus)
{
    uv_timer_stop(&n->timer);
    n->dying_pid = n->pid;
    n->pid = 0;
    if (n->role == FF_ROLE_DBFRONT && n->link != NULL) {
        n->dying = n->link;
        n->exit_status = wstatus;
        n->link = NULL;
        return;
    }
    node_gone(n, wstatus);
}

/* A dbfront that exits during a stop without having reported, before the stop's deadline
 * and not killed by master, still holds writes that MariaDB may lack: a crash. */
static bool
stop_unfinished(const node_t *n)
{
    return n->report == NULL && !n->killed && stop_revives(n);
}

static void
node_gone(node_t *n, int wstatus)
{
    bool clean = (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) ||
                 (n->sent_term && WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGTERM);
    pid_t pid = n->dying_pid;
    char what[64];

    crash_read(n, what, sizeof(what));
    describe_exit(wstatus, what, n->last_exit, sizeof(n->last_exit));
    if (n->start_killed) {
        size_t len = strlen(n->last_exit);
        snprintf(n->last_exit + len, sizeof(n->last_exit) - len, " at its start timeout");
        n->start_killed = false;
    }
    n->dying = NULL;
    n->link = NULL;
    n->sent_term = false;
    if (n->state != SUPER_STOPPING || stop_unfinished(n)) {
        /* Even status 0: a node only exits on its own when something went wrong. */
        ff_log(FF_LOG_WARN, "%s (pid %d) exited unexpectedly: %s", n->name, (int)pid, n->last_exit);
        node_crashed(n);
        return;
    }
    if (clean)
        ff_log(FF_LOG_INFO, "%s (pid %d) stopped", n->name, (int)pid);
    else
        ff_log(FF_LOG_WARN, "%s (pid %d) stopped with %s", n->name, (int)pid, n->last_exit);
    n->state = SUPER_STOPPED;
    node_after_stop(n);
}

static void
sigchld_cb(uv_signal_t *h, int signum)
{
    int wstatus;
    pid_t pid;

    (void)h;
    (void)signum;
    while ((pid = waitpid(-1, &wstatus, WNOHANG)) > 0) {
        node_t *n = node_by_pid(pid);
        if (n != NULL)
            node_exited(n, wstatus);
        else
            ff_log(FF_LOG_DEBUG, "reaped unknown child %d", (int)pid);
    }
    super_progress();
}

/* Frees the nodes a reload removed once they have no process. */
static void
sweep(void)
{
    size_t keep = 0;

    for (size_t i = 0; i < S.n; i++) {
        node_t *n = S.nodes[i];
        if (n->removed && n->pid == 0 && n->dying == NULL)
            uv_close((uv_handle_t *)&n->timer, node_closed_cb);
        else
            S.nodes[keep++] = n;
    }
    S.n = keep;
}

/* ---- stop -------------------------------------------------------------------------- */

/* dbfront's log directory as the config names it, made absolute: where its writes wait when
 * it could not say so itself. */
static const char *
wal_dir(const node_t *n, char *buf, size_t size)
{
    const ff_conf_server_t *srv = ff_conf_server(S.conf, n->name);
    const char *wal = srv != NULL ? srv->wal : NULL;
    char cwd[PATH_MAX];
    int len;

    if (wal != NULL && wal[0] == '/')
        len = snprintf(buf, size, "%s", wal);
    else if (getcwd(cwd, sizeof(cwd)) == NULL)
        len = snprintf(buf, size, "%s", wal != NULL ? wal : "var/wal");
    else if (wal != NULL)
        len = snprintf(buf, size, "%s/%s", cwd, wal);
    else
        len = snprintf(buf, size, "%s/var/wal/%s", cwd, n->name);
    if (len < 0 || (size_t)len >= size)
        snprintf(buf, size, "%s", wal != NULL ? wal : "var/wal");
    return buf;
}

/* What the stop left out of MariaDB, from dbfront's reports: NULL when nothing, else
 * {"stopped":true,"unflushed":N,"log":dir}, N null when a dbfront could not tell (it was
 * killed, or never came back up). */
static json_t *
stop_result_make(void)
{
    json_int_t total = 0;
    bool unknown = false;
    char dir[PATH_MAX + 8];
    const char *log = NULL;

    for (size_t i = 0; i < S.n; i++) {
        const node_t *n = S.nodes[i];
        json_t *u = json_object_get(n->report, "unflushed");
        const char *l = json_string_value(json_object_get(n->report, "log"));
        if (n->role != FF_ROLE_DBFRONT || n->removed ||
            (json_is_integer(u) && json_integer_value(u) == 0))
            continue;
        if (json_is_integer(u))
            total += json_integer_value(u);
        else
            unknown = true;
        if (log == NULL)
            log = l != NULL ? l : wal_dir(n, dir, sizeof(dir));
    }
    if (log == NULL)
        return NULL;
    return json_pack("{s:b,s:o,s:s}", "stopped", 1, "unflushed",
                     unknown ? json_null() : json_integer(total), "log", log);
}

static void
stop_finish(void)
{
    waiter_t *w = S.waiters;
    size_t nw = S.nwaiters;
    bool first = !S.stopped;
    json_t *u;

    S.waiters = NULL;
    S.nwaiters = 0;
    S.stopped = true;
    if (first) {
        uv_timer_stop(&S.stop_timer);
        S.stop_result = stop_result_make();
        u = json_object_get(S.stop_result, "unflushed");
        if (S.stop_result != NULL && json_is_integer(u))
            ff_log(FF_LOG_ERROR,
                   "stop: %lld acknowledged writes are not in MariaDB; they stay in the log in %s "
                   "and are flushed at the next start",
                   (long long)json_integer_value(u),
                   json_string_value(json_object_get(S.stop_result, "log")));
        else if (S.stop_result != NULL)
            ff_log(FF_LOG_ERROR,
                   "stop: dbfront could not say whether MariaDB has every acknowledged write; "
                   "those it lacks stay in the log in %s and are flushed at the next start",
                   json_string_value(json_object_get(S.stop_result, "log")));
        ff_log(FF_LOG_INFO, "all servers have stopped");
    }
    for (size_t i = 0; i < nw; i++)
        if (w[i].cb != NULL)
            w[i].cb(w[i].arg);
    ff_free(w);
    if (first && S.on_stopped != NULL)
        S.on_stopped(S.on_stopped_arg);
}

/* Stops one node of the current phase; returns whether the phase must wait for it. A
 * dbfront that is still replaying its log (starting) or about to be started again
 * (restarting) is told to stop only once it runs, while the stop's deadline allows; past
 * it, one still replaying is killed: a graceful stop could not flush anything more, and
 * its log keeps every write for the next start. */
static bool
stop_phase_node(node_t *n)
{
    bool waits = n->role == FF_ROLE_DBFRONT && !n->removed &&
                 (n->state == SUPER_STARTING || n->state == SUPER_RESTARTING);

    if (waits && stop_revives(n))
        return true;
    if (waits && n->state == SUPER_STARTING) {
        if (n->pid > 0 && !n->killed) {
            ff_log(FF_LOG_WARN,
                   "%s (pid %d) is not running %d ms into the stop (cluster.stopTimeout); "
                   "killing it",
                   n->name, (int)n->pid, S.conf->cluster.stop_timeout_ms);
            kill(n->pid, SIGKILL);
            n->killed = true;
        }
        return n->pid > 0 || n->dying != NULL;
    }
    node_stop(n);
    return n->pid > 0 || n->dying != NULL;
}

/* Stops the nodes of the current phase's role; moves to the next role once none of them
 * has a process any more. */
static void
stop_advance(void)
{
    while (S.phase < STOP_PHASES) {
        bool alive = false;

        for (size_t i = 0; i < S.n; i++) {
            node_t *n = S.nodes[i];
            if (n->role != stop_order[S.phase])
                continue;
            alive = stop_phase_node(n) || alive;
        }
        if (alive)
            return;
        S.phase++;
    }
    stop_finish();
}

/* The end of cluster.stopTimeout: the stop no longer waits for dbfront to come back. */
static void
stop_timer_cb(uv_timer_t *t)
{
    (void)t;
    super_progress();
}

/* A dbfront without a process when the stop begins: started again at once, so that it
 * replays its log and flushes it before it is stopped. */
static void
stop_revive(node_t *n)
{
    ff_log(FF_LOG_INFO, "starting %s again at once: its log must reach MariaDB before the stop",
           n->name);
    uv_timer_stop(&n->timer);
    n->revived = true;
    node_spawn(n);
}

void
super_stop_all(super_done_cb cb, void *arg)
{
    S.waiters = ff_realloc(S.waiters, (S.nwaiters + 1) * sizeof(*S.waiters));
    S.waiters[S.nwaiters++] = (waiter_t){cb, arg};
    if (!S.stopping) {
        S.stopping = true;
        S.stop_deadline = now_ms() + (uint64_t)S.conf->cluster.stop_timeout_ms;
        uv_timer_start(&S.stop_timer, stop_timer_cb, (uint64_t)S.conf->cluster.stop_timeout_ms, 0);
        ff_log(FF_LOG_INFO, "stopping the cluster (net, gate, game, dbfront)");
        for (size_t i = 0; i < S.n; i++) {
            node_t *n = S.nodes[i];
            bool down = n->state == SUPER_RESTARTING || n->state == SUPER_FAILED;
            if (down && n->dying == NULL && stop_revives(n))
                stop_revive(n);
            else if (n->state == SUPER_RESTARTING)
                node_stop(n); /* else it would fork a node of a role already stopped */
        }
    }
    stop_advance();
}

const json_t *
super_stop_result(void)
{
    return S.stop_result;
}

bool
super_stopping(void)
{
    return S.stopping;
}

/* ---- reload ------------------------------------------------------------------------ */

static void
reload_end(reload_t *op, int status)
{
    reload_t *next;

    ff_list_remove(&op->link);
    ff_conf_free(op->conf);
    if (status < 0) {
        json_decref(op->result);
        op->result = NULL;
    }
    op->cb(op->arg, status, op->result);
    ff_free(op);
    next = reload_current();
    if (next != NULL)
        reload_begin(next);
}

static void
reload_check(void)
{
    reload_t *op = reload_current();

    if (op != NULL && op->pending == 0)
        reload_end(op, 0);
}

/* Stops a node for a reload; the reload waits for its exit. */
static void
reload_stop(reload_t *op, node_t *n)
{
    node_stop(n);
    if (n->pid > 0 || n->dying != NULL) {
        n->reload_wait = true;
        op->pending++;
    } else {
        node_after_stop(n);
    }
}

static void
reload_node(reload_t *op, node_t *n, json_t *started, json_t *stopped)
{
    const ff_conf_server_t *srv = ff_conf_server(S.conf, n->name);

    if (srv == NULL) {
        if (n->removed)
            return; /* still stopping from an earlier reload */
        n->removed = true;
        json_array_append_new(stopped, json_string(n->name));
        reload_stop(op, n);
    } else if (n->removed || node_changed(n, srv)) {
        /* Back in the config while its old process still stops: start it again after. */
        n->removed = false;
        node_configure(n, srv);
        n->respawn = true;
        json_array_append_new(stopped, json_string(n->name));
        json_array_append_new(started, json_string(n->name));
        reload_stop(op, n);
    } else if (n->state == SUPER_FAILED || n->state == SUPER_STOPPED) {
        json_array_append_new(started, json_string(n->name));
        node_spawn_fresh(n);
    } else if (n->state == SUPER_RUNNING) {
        /* A node still starting gets it after its HELLO (see super_bind). */
        node_notify(n, "reload");
        n->gen = S.gen;
    }
}

/* Puts the table in the new config's order, the nodes being removed last. */
static void
reload_reorder(void)
{
    node_t **v = ff_malloc((S.n + 1) * sizeof(*v));
    size_t k = 0;

    for (int i = 0; i < S.conf->nservers; i++)
        v[k++] = node_by_name(S.conf->servers[i].name);
    for (size_t i = 0; i < S.n; i++)
        if (S.nodes[i]->removed)
            v[k++] = S.nodes[i];
    ff_free(S.nodes);
    S.nodes = v;
    S.n = k;
}

static void
reload_check_master(const ff_conf_t *a, const ff_conf_t *b)
{
    char err[512];

    if (!str_eq(a->master.roothost, b->master.roothost) ||
        a->master.rootport != b->master.rootport || !str_eq(a->master.webhost, b->master.webhost) ||
        a->master.webport != b->master.webport || !str_eq(a->master.log, b->master.log) ||
        !str_eq(a->master.secret, b->master.secret) ||
        a->cluster.heartbeat_ms != b->cluster.heartbeat_ms)
        ff_log(FF_LOG_WARN, "reload: the master section changed; that takes a master restart");
    if (spawn_log_dirs(b, err, sizeof(err)) < 0)
        ff_log(FF_LOG_WARN, "reload: %s", err);
}

static void
reload_begin(reload_t *op)
{
    ff_conf_t *old = S.conf;
    json_t *started = json_array(), *stopped = json_array();
    size_t n;

    if (S.stopping) {
        json_decref(started);
        json_decref(stopped);
        reload_end(op, UV_ECANCELED);
        return;
    }
    /* Nodes an earlier reload removed are freed first, so that a name that comes back
     * gets a new node rather than the removed one. */
    sweep();
    n = S.n;
    S.conf = op->conf;
    op->conf = NULL;
    S.gen++;
    ff_log_level = S.conf->cluster.log_level;
    reload_check_master(old, S.conf);
    op->pending = 1;
    for (size_t i = 0; i < n; i++)
        reload_node(op, S.nodes[i], started, stopped);
    for (int i = 0; i < S.conf->nservers; i++) {
        if (node_by_name(S.conf->servers[i].name) != NULL)
            continue;
        json_array_append_new(started, json_string(S.conf->servers[i].name));
        node_spawn_fresh(node_new(&S.conf->servers[i]));
    }
    reload_reorder();
    ff_conf_free(old);
    ff_log(FF_LOG_INFO, "reloaded %s: %zu started, %zu stopped", S.conf->path,
           json_array_size(started), json_array_size(stopped));
    op->result = json_pack("{s:b,s:o,s:o}", "reloaded", 1, "started", started, "stopped", stopped);
    op->pending--;
    super_progress();
}

int
super_reload(ff_conf_t *conf, super_reload_cb cb, void *arg)
{
    reload_t *op;
    bool idle = ff_list_empty(&S.reloads);

    if (S.stopping) {
        ff_conf_free(conf);
        return UV_ECANCELED;
    }
    op = ff_calloc(1, sizeof(*op));
    op->conf = conf;
    op->cb = cb;
    op->arg = arg;
    ff_list_push(&S.reloads, &op->link);
    if (idle)
        reload_begin(op);
    return 0;
}

/* After any change of node state: finish the current reload if it waits for nothing more,
 * move the stop on, free removed nodes. */
static void
super_progress(void)
{
    reload_check();
    if (S.stopping)
        stop_advance();
    sweep();
}

/* ---- links and queries ------------------------------------------------------------- */

int
super_bind(ff_link_t *l, const char *name, const char *role, int64_t pid, const uint8_t *token,
           size_t token_len, char *why, size_t whylen)
{
    node_t *n = node_by_name(name);

    if (n == NULL) {
        snprintf(why, whylen, "no server named \"%s\"", name);
        return -1;
    }
    if (strcmp(name, ff_link_peer(l)) != 0) {
        snprintf(why, whylen, "it authenticated as \"%s\"", ff_link_peer(l));
        return -1;
    }
    if (strcmp(role, ff_conf_role_name(n->role)) != 0) {
        snprintf(why, whylen, "%s is a %s, not a %s", name, ff_conf_role_name(n->role), role);
        return -1;
    }
    if (n->pid == 0 || (int64_t)n->pid != pid) {
        snprintf(why, whylen, "master's %s is pid %d, not %lld", name, (int)n->pid, (long long)pid);
        return -1;
    }
    /* The pid is public (/status); the token only the forked process has. */
    if (token_len != FF_BUS_TOKEN || sodium_memcmp(token, n->token, FF_BUS_TOKEN) != 0) {
        snprintf(why, whylen, "not the process master started (no or wrong token)");
        return -1;
    }
    n->link = l;
    if (n->state == SUPER_STARTING)
        uv_timer_stop(&n->timer);
    return 0;
}

int
super_ready(ff_link_t *l)
{
    node_t *n = node_by_link(l);

    if (n == NULL)
        return -1;
    if (n->state == SUPER_STARTING) {
        n->state = SUPER_RUNNING;
        ff_log(FF_LOG_INFO, "%s is running (pid %d)", n->name, (int)n->pid);
    }
    /* It read the config before a reload that happened while it was starting. */
    if (n->state == SUPER_RUNNING && n->gen != S.gen) {
        node_notify(n, "reload");
        n->gen = S.gen;
    }
    if (S.stopping)
        super_progress(); /* a dbfront the stop brought back may be told to stop now */
    return 0;
}

void
super_unbind(ff_link_t *l)
{
    for (size_t i = 0; i < S.n; i++) {
        node_t *n = S.nodes[i];
        if (n->dying == l) {
            node_gone(n, n->exit_status);
            super_progress();
            return;
        }
        if (n->link != l)
            continue;
        n->link = NULL;
        if (n->state == SUPER_RUNNING)
            ff_log(FF_LOG_INFO, "lost the control link of %s (pid %d)", n->name, (int)n->pid);
    }
}

int
super_report(ff_link_t *l, const void *body, size_t len)
{
    node_t *n = NULL;
    json_t *j, *u;

    for (size_t i = 0; i < S.n && n == NULL; i++)
        if (S.nodes[i]->link == l || S.nodes[i]->dying == l)
            n = S.nodes[i];
    if (n == NULL || n->role != FF_ROLE_DBFRONT)
        return -1;
    j = json_loadb(body, len, 0, NULL);
    if (!json_is_object(j)) {
        json_decref(j);
        return -1;
    }
    json_decref(n->report);
    n->report = j;
    u = json_object_get(j, "unflushed");
    /* A stop of the cluster reports in its answer; a reload that removed dbfront, here. */
    if (!S.stopping && json_is_integer(u) && json_integer_value(u) != 0)
        ff_log(FF_LOG_ERROR,
               "%s stopped with %lld writes MariaDB lacks; they stay in its log in %s", n->name,
               (long long)json_integer_value(u), json_string_value(json_object_get(j, "log")));
    else if (!S.stopping && !json_is_integer(u))
        ff_log(FF_LOG_ERROR, "%s stopped before its log was read; its writes stay in %s", n->name,
               json_string_value(json_object_get(j, "log")));
    return 0;
}

size_t
super_count(void)
{
    return S.n;
}

void
super_info(size_t i, super_info_t *out)
{
    const node_t *n = S.nodes[i];

    out->name = n->name;
    out->role = n->role;
    out->state = n->state;
    out->pid = n->pid;
    out->restarts = n->restarts;
    out->uptime_ms = n->pid > 0 ? now_ms() - n->started : 0;
    out->link = n->link;
    out->last_exit = n->last_exit;
}

const char *
super_state_name(super_state_t state)
{
    static const char *const names[] = {"starting", "running",    "stopping",
                                        "stopped",  "restarting", "failed"};
    return (unsigned)state < sizeof(names) / sizeof(names[0]) ? names[state] : "unknown";
}

const ff_conf_t *
super_conf(void)
{
    return S.conf;
}

/* ---- lifecycle --------------------------------------------------------------------- */

int
super_init(uv_loop_t *loop, ff_conf_t *conf, const char *exe_dir, const char *conf_path,
           const void *secret, size_t secret_len, super_done_cb on_stopped, void *arg)
{
    memset(&S, 0, sizeof(S));
    S.loop = loop;
    S.conf = conf;
    S.exe_dir = ff_strdup(exe_dir);
    S.conf_path = ff_strdup(conf_path);
    S.handoff_len = FF_BUS_TOKEN + secret_len;
    S.handoff = ff_malloc(S.handoff_len);
    memcpy(S.handoff + FF_BUS_TOKEN, secret, secret_len);
    S.on_stopped = on_stopped;
    S.on_stopped_arg = arg;
    ff_list_init(&S.reloads);
    uv_timer_init(loop, &S.stop_timer);
    uv_signal_init(loop, &S.sigchld);
    return uv_signal_start(&S.sigchld, sigchld_cb, SIGCHLD);
}

void
super_start(void)
{
    for (int i = 0; i < S.conf->nservers; i++)
        node_spawn(node_new(&S.conf->servers[i]));
}

void
super_free(void)
{
    S.stopping = true;
    while (!ff_list_empty(&S.reloads))
        reload_end(reload_current(), UV_ECANCELED);
    for (size_t i = 0; i < S.n; i++)
        uv_close((uv_handle_t *)&S.nodes[i]->timer, node_closed_cb);
    ff_free(S.nodes);
    S.nodes = NULL;
    S.n = 0;
    uv_close((uv_handle_t *)&S.sigchld, NULL);
    uv_close((uv_handle_t *)&S.stop_timer, NULL);
    json_decref(S.stop_result);
    S.stop_result = NULL;
    ff_free(S.waiters);
    ff_conf_free(S.conf);
    ff_free(S.exe_dir);
    ff_free(S.conf_path);
    sodium_memzero(S.handoff, S.handoff_len);
    ff_free(S.handoff);
    S.conf = NULL;
}
