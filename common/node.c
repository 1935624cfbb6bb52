/* node: the runtime every child process shares: arguments, config, log, loop, signals and
 * the control link to master (HELLO when ready, stop/reload notifications, status calls). */
#include "node.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "alloc.h"
#include "bus.h"
#include "log.h"
#include "stream.h"

uv_loop_t *ff_loop;
const ff_conf_t *ff_conf;
const ff_conf_server_t *ff_self;

static const ff_node_ops_t *node_ops;
static ff_link_t *control;
static bool node_is_ready, node_stopping;
static char *conf_path, *node_name;
static uv_signal_t sigterm, sigint;
static ff_conf_t **old_confs;
static size_t nold_confs;

static void
send_hello(void)
{
    ff_buf_t *b = ff_link_out(control);
    if (b != NULL)
        ff_bus_put_hello(b, ff_self->name, ff_conf_role_name(ff_self->role), (int)getpid(), NULL,
                         0);
}

void
ff_node_ready(void)
{
    node_is_ready = true;
    send_hello();
}

uint64_t
ff_node_now(void)
{
    return uv_now(ff_loop);
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
    json_t *out = json_object();
    char *text;
    ff_buf_t *b;

    if (node_ops->status)
        node_ops->status(out);
    text = json_dumps(out, JSON_COMPACT);
    b = ff_link_out(l);
    if (b != NULL)
        ff_bus_put_reply(b, seq, 0, text, strlen(text));
    free(text);
    json_decref(out);
}

static void
control_msg_cb(ff_link_t *l, const ff_bus_msg_t *m)
{
    if (m->kind == FF_BUS_NOTIFY && ff_str_eq(m->method, "stop"))
        node_stop();
    else if (m->kind == FF_BUS_NOTIFY && ff_str_eq(m->method, "reload"))
        node_reload();
    else if (m->kind == FF_BUS_CALL && ff_str_eq(m->method, "status"))
        answer_status(l, m->seq);
}

static void
control_up_cb(ff_link_t *l)
{
    (void)l;
    if (node_is_ready)
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
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"name", required_argument, NULL, 'n'}, {0}};
    int c;

    while ((c = getopt_long(argc, argv, "c:n:", opts, NULL)) != -1) {
        if (c == 'c')
            conf_path = optarg;
        else if (c == 'n')
            node_name = optarg;
        else
            return -1;
    }
    return conf_path && node_name ? 0 : -1;
}

static int
load_config(const char *prog, ff_role_t role)
{
    char err[512];

    ff_conf = ff_conf_load(conf_path, err, sizeof(err));
    if (ff_conf == NULL) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    ff_self = ff_conf_server(ff_conf, node_name);
    if (ff_self == NULL || ff_self->role != role) {
        fprintf(stderr, "%s: %s: no %s server named \"%s\"\n", prog, conf_path,
                ff_conf_role_name(role), node_name);
        return -1;
    }
    return 0;
}

int
ff_node_main(int argc, char **argv, ff_role_t role, const ff_node_ops_t *ops)
{
    int rc;

    if (parse_args(argc, argv) < 0) {
        fprintf(stderr, "usage: %s --config FILE --name NAME\n", argv[0]);
        return 1;
    }
    if (load_config(argv[0], role) < 0)
        return 1;
    node_ops = ops;
    rc = ff_log_init(ff_self->name, ff_self->log, ff_conf->cluster.log_level);
    if (rc < 0)
        ff_log(FF_LOG_WARN, "cannot open log %s: %s; using stderr", ff_self->log, strerror(-rc));
    signal(SIGPIPE, SIG_IGN);
    ff_loop = uv_default_loop();
    ff_stream_loop_init(ff_loop);
    uv_signal_init(ff_loop, &sigterm);
    uv_signal_start(&sigterm, signal_cb, SIGTERM);
    uv_signal_init(ff_loop, &sigint);
    uv_signal_start(&sigint, signal_cb, SIGINT);
    control = ff_link_connect(ff_loop, ff_conf->master.roothost, ff_conf->master.rootport,
                              &control_cbs, NULL);
    if (ops->start() != 0)
        return 1;
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
