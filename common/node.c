/* node: the runtime every child process shares: arguments, config, the cluster secret, log,
 * loop, signals and the control link to master (HELLO as soon as it is up, "ready" once the
 * role serves, stop/reload notifications, status calls).
 *
 * The secret: master forks every node with `--secret-fd N`, a pipe holding the node's
 * FF_BUS_TOKEN-byte token and then the cluster secret, so that neither is on a command
 * line or in an environment. A node started by hand has no token (master will not bind its
 * control link) and takes the secret from master.secret / master.secretFile.
 *
 * Crashes: master also hands each node `--crash-fd N`, the write end of a pipe that master
 * reads when it reaps the node; the crash handler (crash.c) writes its record there. */
#include "node.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "alloc.h"
#include "bus.h"
#include "crash.h"
#include "log.h"
#include "stream.h"

uv_loop_t *ff_loop;
const ff_conf_t *ff_conf;
const ff_conf_server_t *ff_self;

static const ff_node_ops_t *node_ops;
static ff_link_t *control;
static bool node_is_ready, node_stopping;
static char *conf_path, *node_name;
static int secret_fd = -1, crash_fd = -1;
static int startup_stderr = -1; /* master's stderr while starting, when stderr is the log */
static uint8_t node_token[FF_BUS_TOKEN];
static bool have_token;
static uv_signal_t sigterm, sigint;
static ff_conf_t **old_confs;
static size_t nold_confs;
static int stop_timeout_ms = -1; /* NOTIFY stop's "timeout"; -1 = none given */

/* HELLO on the control link, then "ready" if the role already serves. */
static void
send_hello(void)
{
    ff_buf_t *b = ff_link_out(control);

    if (b == NULL)
        return;
    ff_bus_put_hello(b, ff_self->name, ff_conf_role_name(ff_self->role), (int)getpid(), NULL, 0,
                     have_token ? node_token : NULL);
    if (node_is_ready)
        ff_bus_put_notify(b, "ready", "{}");
}

void
ff_node_ready(void)
{
    ff_buf_t *b = ff_link_out(control);

    node_is_ready = true;
    if (b != NULL)
        ff_bus_put_notify(b, "ready", "{}");
}

uint64_t
ff_node_now(void)
{
    return uv_now(ff_loop);
}

int
ff_node_stop_timeout(void)
{
    return stop_timeout_ms >= 0 ? stop_timeout_ms : ff_conf->cluster.stop_timeout_ms;
}

void
ff_node_notify(const char *method, const char *body)
{
    ff_buf_t *b = ff_link_out(control);

    if (b != NULL)
        ff_bus_put_notify(b, method, body);
}

static void
node_stop(void)
{
    if (node_stopping)
        return;
    node_stopping = true;
    ff_log(FF_LOG_INFO, "stopping");
    node_ops->stop();
}

/* Re-reads the config file; a file that no longer validates leaves everything as it was. */
static void
node_reload(void)
{
    char err[512];
    ff_conf_t *conf = ff_conf_load(conf_path, err, sizeof(err));
    const ff_conf_server_t *self;

    if (conf == NULL) {
        ff_log(FF_LOG_ERROR, "reload: %s", err);
        return;
    }
    self = ff_conf_server(conf, node_name);
    if (self == NULL) {
        ff_log(FF_LOG_WARN, "reload: %s is no longer in %s; waiting for stop", node_name,
               conf_path);
        ff_conf_free(conf);
        return;
    }
    old_confs = ff_realloc(old_confs, (nold_confs + 1) * sizeof(*old_confs));
    old_confs[nold_confs++] = (ff_conf_t *)ff_conf;
    ff_conf = conf;
    ff_self = self;
    ff_log(FF_LOG_INFO, "reloading");
    if (node_ops->reload)
        node_ops->reload();
}

static void
answer_status(ff_link_t *l, uint32_t seq)
{
    json_t *out = json_object(), *links = json_array();
    char *text;
    ff_buf_t *b;

    if (node_ops->status)
        node_ops->status(out);
    ff_bus_status(links);
    json_object_set_new(out, "links", links);
    text = json_dumps(out, JSON_COMPACT);
    b = ff_link_out(l);
    if (b != NULL)
        ff_bus_put_reply(b, seq, 0, text, strlen(text));
    free(text);
    json_decref(out);
}

/* NOTIFY stop, with the time master gives the stop (an older master sends "{}"). */
static void
node_stop_notified(const ff_bus_msg_t *m)
{
    json_t *j = json_loadb((const char *)m->body, m->body_len, 0, NULL);
    json_t *t = json_object_get(j, "timeout");

    if (json_is_integer(t) && json_integer_value(t) >= 0 && json_integer_value(t) <= INT_MAX)
        stop_timeout_ms = (int)json_integer_value(t);
    json_decref(j);
    node_stop();
}

static void
control_msg_cb(ff_link_t *l, const ff_bus_msg_t *m)
{
    if (m->kind == FF_BUS_NOTIFY && ff_str_eq(m->method, "stop"))
        node_stop_notified(m);
    else if (m->kind == FF_BUS_NOTIFY && ff_str_eq(m->method, "reload"))
        node_reload();
    else if (m->kind == FF_BUS_CALL && ff_str_eq(m->method, "status"))
        answer_status(l, m->seq);
}

static void
control_up_cb(ff_link_t *l)
{
    (void)l;
    send_hello();
}

static void
control_down_cb(ff_link_t *l, int status)
{
    (void)l;
    ff_log(FF_LOG_WARN, "lost the control link to master: %s", uv_strerror(status));
}

static const ff_link_cbs_t control_cbs = {control_msg_cb, control_up_cb, control_down_cb};

static void
signal_cb(uv_signal_t *h, int signum)
{
    (void)h;
    ff_log(FF_LOG_INFO, "got signal %d", signum);
    node_stop();
}

static int
parse_args(int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"name", required_argument, NULL, 'n'},
                                         {"secret-fd", required_argument, NULL, 's'},
                                         {"crash-fd", required_argument, NULL, 'k'},
                                         {0}};
    char *end;
    int c;

    while ((c = getopt_long(argc, argv, "c:n:", opts, NULL)) != -1) {
        if (c == 'c')
            conf_path = optarg;
        else if (c == 'n')
            node_name = optarg;
        else if (c == 's' && (secret_fd = (int)strtol(optarg, &end, 10)) >= 0 && *end == '\0')
            continue;
        else if (c == 'k' && (crash_fd = (int)strtol(optarg, &end, 10)) >= 0 && *end == '\0')
            continue;
        else
            return -1;
    }
    return conf_path && node_name ? 0 : -1;
}

static int
load_config(const char *prog, ff_role_t role)
{
    char err[512];

    /* No log file is known yet: these lines go to master's stderr, under the node's name. */
    ff_conf = ff_conf_load(conf_path, err, sizeof(err));
    if (ff_conf == NULL) {
        fprintf(stderr, "%s: %s\n", node_name, err);
        return -1;
    }
    ff_self = ff_conf_server(ff_conf, node_name);
    if (ff_self == NULL || ff_self->role != role) {
        fprintf(stderr, "%s: %s: %s: no %s server named \"%s\"\n", node_name, prog, conf_path,
                ff_conf_role_name(role), node_name);
        return -1;
    }
    return 0;
}

/* Opens the node's log. With a log file, stdout and stderr go there too, so that what an app
 * or a library prints lands in the node's log and not in master's terminal; the old stderr
 * is kept until the node has started, for startup_failed. Then the crash handler, which
 * writes to the log's descriptor. */
static void
open_log(void)
{
    int rc = ff_log_init(ff_self->name, ff_self->log, ff_conf->cluster.log_level);

    if (rc < 0)
        ff_log(FF_LOG_WARN, "cannot open log %s: %s; using stderr", ff_self->log, strerror(-rc));
    if (ff_log_fd() != STDERR_FILENO) {
        fflush(stdout);
        fflush(stderr);
        startup_stderr = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
        dup2(ff_log_fd(), STDOUT_FILENO);
        dup2(ff_log_fd(), STDERR_FILENO);
        setvbuf(stdout, NULL, _IOLBF, 0);
    }
    rc = ff_crash_install(crash_fd);
    if (rc < 0)
        ff_log(FF_LOG_WARN, "cannot install the crash handler: %s", strerror(-rc));
}

/* Reads token and secret from master's pipe (to EOF) and closes it. Returns the secret's
 * length, or -1. */
static ssize_t
read_handoff(uint8_t *buf, size_t cap)
{
    size_t len = 0;
    ssize_t n;

    while (len < cap) {
        n = read(secret_fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(secret_fd);
    if (len <= FF_BUS_TOKEN || len == cap)
        return -1;
    memcpy(node_token, buf, FF_BUS_TOKEN);
    have_token = true;
    return (ssize_t)(len - FF_BUS_TOKEN);
}

/* Sets up the bus's handshake with master's secret, or the configured one. */
static int
node_auth(const char *prog)
{
    uint8_t buf[FF_BUS_TOKEN + FF_CONF_SECRET_MAX + 1];
    const void *secret = ff_conf->master.secret;
    ssize_t len = secret != NULL ? (ssize_t)strlen(secret) : 0;
    int rc;

    if (secret_fd >= 0) {
        len = read_handoff(buf, sizeof(buf));
        secret = buf + FF_BUS_TOKEN;
        if (len < 0) {
            ff_log(FF_LOG_ERROR, "%s: --secret-fd %d: no token and secret to read", prog,
                   secret_fd);
            return -1;
        }
    } else if (secret == NULL) {
        ff_log(FF_LOG_ERROR,
               "%s: no cluster secret: master hands one over (--secret-fd); to start a node "
               "by hand, set master.secret or master.secretFile in %s",
               prog, conf_path);
        return -1;
    }
    rc = ff_bus_auth(secret, (size_t)len, ff_self->name, ff_conf->cluster.heartbeat_ms);
    sodium_memzero(buf, sizeof(buf));
    if (rc < 0)
        ff_log(FF_LOG_ERROR, "%s: cannot set up the bus handshake for \"%s\"", prog, ff_self->name);
    return rc;
}

/* The node could not start: its last ERROR, in its log already, goes to master's stderr
 * too, under its name, so that whoever started the cluster sees why. */
static int
startup_failed(void)
{
    if (startup_stderr >= 0)
        dprintf(startup_stderr, "%s: %s (log: %s)\n", node_name, ff_log_last_error(), ff_self->log);
    return 1;
}

/* Started: what goes wrong from now on is for the log alone. */
static void
startup_done(void)
{
    if (startup_stderr >= 0)
        close(startup_stderr);
    startup_stderr = -1;
}

int
ff_node_main(int argc, char **argv, ff_role_t role, const ff_node_ops_t *ops)
{
    if (parse_args(argc, argv) < 0) {
        fprintf(stderr, "usage: %s --config FILE --name NAME [--secret-fd N] [--crash-fd N]\n",
                argv[0]);
        return 1;
    }
    if (load_config(argv[0], role) < 0)
        return 1;
    open_log();
    if (node_auth(argv[0]) < 0)
        return startup_failed();
    node_ops = ops;
    signal(SIGPIPE, SIG_IGN);
    ff_loop = uv_default_loop();
    ff_stream_loop_init(ff_loop);
    uv_signal_init(ff_loop, &sigterm);
    uv_signal_start(&sigterm, signal_cb, SIGTERM);
    uv_signal_init(ff_loop, &sigint);
    uv_signal_start(&sigint, signal_cb, SIGINT);
    control = ff_link_connect(ff_loop, ff_conf->master.roothost, ff_conf->master.rootport, "master",
                              &control_cbs, NULL);
    if (ops->start() != 0)
        return startup_failed();
    startup_done();
    ff_log(FF_LOG_INFO, "%s started (pid %d)", ff_conf_role_name(role), (int)getpid());
    uv_run(ff_loop, UV_RUN_DEFAULT);
    return 0;
}

void
ff_node_exit(int code)
{
    ff_stream_flush_all();
    ff_log(FF_LOG_INFO, "exiting with status %d", code);
    for (size_t i = 0; i < nold_confs; i++)
        ff_conf_free(old_confs[i]);
    ff_free(old_confs);
    ff_conf_free((ff_conf_t *)ff_conf);
    exit(code);
}
