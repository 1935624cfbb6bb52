/* main: `bin/master [-t] config.json`. Validates the whole config before anything else (exit
 * 1 with the message on stderr); with -t only prints `config.json: ok`. Otherwise makes the
 * log directories, opens its log, raises its open-file limit, listens on the root port
 * (control links) and the web port, forks every server and runs the loop until a graceful
 * stop (GET /stop, SIGTERM or SIGINT) has ended: then it exits once the /stop answers are
 * written, with status 0, or 1 when the stop left acknowledged writes out of MariaDB (in
 * dbfront's log, for the next start). */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <uv.h>

#include "alloc.h"
#include "api.h"
#include "auth.h"
#include "bearer.h"
#include "bus.h"
#include "conf.h"
#include "log.h"
#include "root.h"
#include "spawn.h"
#include "status.h"
#include "stream.h"
#include "super.h"
#include "web.h"

static struct {
    uv_loop_t *loop;
    uv_signal_t sigterm, sigint;
    bool log_to_file;
    ff_bearer_t webtoken; /* the web port's token, as master started with it */
    int exit_code;
} M;

/* Logs an ERROR; also on stderr when the log goes to a file, so that whoever started
 * master sees why it exits. */
static void __attribute__((format(printf, 1, 2))) master_fatal(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    ff_log(FF_LOG_ERROR, "%s", msg);
    if (M.log_to_file)
        fprintf(stderr, "master: %s\n", msg);
}

static void
master_close_walk_cb(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* Closes whatever is left (the stream flush handles; everything on a startup failure). */
static int
master_cleanup(int code)
{
    uv_walk(M.loop, master_close_walk_cb, NULL);
    uv_run(M.loop, UV_RUN_DEFAULT);
    uv_loop_close(M.loop);
    return code;
}

static void
master_web_closed_cb(void *arg)
{
    (void)arg;
    root_close();
    super_free();
    uv_close((uv_handle_t *)&M.sigterm, NULL);
    uv_close((uv_handle_t *)&M.sigint, NULL);
    ff_log(FF_LOG_INFO, "master exiting");
}

/* Every node has exited: let the /stop answers drain, then let the loop end. */
static void
master_stopped_cb(void *arg)
{
    (void)arg;
    M.exit_code = super_stop_result() != NULL;
    web_close(master_web_closed_cb, NULL);
}

static void
master_signal_cb(uv_signal_t *h, int signum)
{
    (void)h;
    ff_log(FF_LOG_INFO, "got %s; stopping", strsignal(signum));
    super_stop_all(NULL, NULL);
}

/* The absolute config path for the children, and the directory of bin/master. */
static int
master_paths(const char *path, char *abs, char *exe_dir, char *err, size_t errlen)
{
    ssize_t n = readlink("/proc/self/exe", exe_dir, PATH_MAX - 1);
    char *slash;

    if (n < 0) {
        snprintf(err, errlen, "/proc/self/exe: %s", strerror(errno));
        return -1;
    }
    exe_dir[n] = '\0';
    slash = strrchr(exe_dir, '/');
    if (slash != NULL)
        *slash = '\0';
    if (realpath(path, abs) == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static int
master_listen(const ff_conf_t *conf)
{
    int rc = root_start(M.loop, conf->master.roothost, conf->master.rootport);

    if (rc < 0) {
        master_fatal("cannot listen on %s:%d (master.rootport): %s", conf->master.roothost,
                     conf->master.rootport, uv_strerror(rc));
        return -1;
    }
    rc =
        web_start(M.loop, conf->master.webhost, conf->master.webport, &M.webtoken, api_route, NULL);
    if (rc < 0) {
        master_fatal("cannot listen on %s:%d (master.webport): %s", conf->master.webhost,
                     conf->master.webport, uv_strerror(rc));
        return -1;
    }
    return 0;
}

/* The cluster secret: the configured one, else 32 random bytes for this run of master
 * (its children get it over a pipe, see spawn.c). Sets up master's own handshake. */
static int
master_secret(const ff_conf_t *conf, uint8_t *secret, size_t *len)
{
    if (ff_auth_init() < 0) {
        master_fatal("libsodium cannot start");
        return -1;
    }
    if (conf->master.secret != NULL) {
        *len = strlen(conf->master.secret);
        memcpy(secret, conf->master.secret, *len);
    } else {
        *len = 32;
        randombytes_buf(secret, *len);
        ff_log(FF_LOG_INFO, "no master.secret configured: generated one for this run");
    }
    return ff_bus_auth(secret, *len, "master", conf->cluster.heartbeat_ms);
}

/* Lifts the soft limit on open files to the hard one. The web port alone may hold
 * WEB_MAX_CONNS connections besides the control links, and the nodes, which inherit the
 * limit, hold their clients': a soft limit of 1024, common on a fresh machine, would run
 * out first. */
static void
master_raise_nofile(void)
{
    struct rlimit rl;
    rlim_t was;

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= rl.rlim_max)
        return;
    was = rl.rlim_cur;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
        ff_log(FF_LOG_WARN, "cannot raise the open-file limit from %llu to %llu: %s",
               (unsigned long long)was, (unsigned long long)rl.rlim_max, strerror(errno));
    else
        ff_log(FF_LOG_DEBUG, "open-file limit raised from %llu to %llu", (unsigned long long)was,
               (unsigned long long)rl.rlim_max);
}

static void
master_signals(void)
{
    signal(SIGPIPE, SIG_IGN);
    uv_signal_init(M.loop, &M.sigterm);
    uv_signal_start(&M.sigterm, master_signal_cb, SIGTERM);
    uv_signal_init(M.loop, &M.sigint);
    uv_signal_start(&M.sigint, master_signal_cb, SIGINT);
}

/* Runs the cluster of conf (taken over) until it has been stopped. Returns the exit status. */
static int
master_run(ff_conf_t *conf, const char *path)
{
    char abs[PATH_MAX], exe_dir[PATH_MAX], err[PATH_MAX + 256];
    uint8_t secret[FF_CONF_SECRET_MAX];
    size_t secret_len;
    int rc;

    if (master_paths(path, abs, exe_dir, err, sizeof(err)) < 0 ||
        spawn_log_dirs(conf, err, sizeof(err)) < 0) {
        fprintf(stderr, "master: %s\n", err);
        ff_conf_free(conf);
        return 1;
    }
    rc = ff_log_init("master", conf->master.log, conf->cluster.log_level);
    if (rc < 0) {
        fprintf(stderr, "master: cannot open log %s: %s\n", conf->master.log, strerror(-rc));
        ff_conf_free(conf);
        return 1;
    }
    M.log_to_file = conf->master.log != NULL && conf->master.log[0] != '\0';
    if (master_secret(conf, secret, &secret_len) < 0) {
        ff_conf_free(conf);
        return 1;
    }
    M.loop = uv_default_loop();
    ff_stream_loop_init(M.loop);
    status_init();
    master_raise_nofile();
    if (ff_bearer_init(&M.webtoken, conf->master.webtoken) < 0) {
        master_fatal("libsodium cannot start");
        ff_conf_free(conf);
        return master_cleanup(1);
    }
    api_init(path, &M.webtoken);
    if (master_listen(conf) < 0) {
        root_close();
        ff_conf_free(conf);
        return master_cleanup(1);
    }
    super_init(M.loop, conf, exe_dir, abs, secret, secret_len, master_stopped_cb, NULL);
    sodium_memzero(secret, sizeof(secret));
    master_signals();
    ff_log(FF_LOG_INFO, "master started (pid %d): control %s:%d, web http://%s:%d/, %d servers",
           (int)getpid(), conf->master.roothost, conf->master.rootport, conf->master.webhost,
           conf->master.webport, conf->nservers);
    super_start();
    uv_run(M.loop, UV_RUN_DEFAULT);
    return master_cleanup(M.exit_code);
}

static int
usage(void)
{
    fprintf(stderr, "usage: master [-t] config.json\n"
                    "  -t  check the config file and exit\n");
    return 2;
}

int
main(int argc, char **argv)
{
    char err[1024];
    bool check = false;
    ff_conf_t *conf;
    int opt;

    while ((opt = getopt(argc, argv, "th")) != -1) {
        if (opt != 't')
            return usage();
        check = true;
    }
    if (optind != argc - 1)
        return usage();
    conf = ff_conf_load(argv[optind], err, sizeof(err));
    if (conf == NULL) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    if (check) {
        printf("%s: ok\n", argv[optind]);
        ff_conf_free(conf);
        return 0;
    }
    return master_run(conf, argv[optind]);
}
