/* harness: TAP output, free ports, and real clusters (bin/master on a temp config.json)
 * for the integration tests; see harness.h for the contract. */
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "conf.h"

#define TH_NPORTS 10
#define TH_MAX_SEEN 256
#define TH_POLL_MS 20
#define TH_HTTP_MS 10000
#define TH_LOG_TAIL 300

static const char *const th_port_names[TH_NPORTS] = {
    "ROOTPORT", "WEBPORT", "GATEPORT", "NETPORT", "NETPORT2",
    "DBPORT",   "PORT1",   "PORT2",    "PORT3",   "PORT4",
};

struct th_cluster_s {
    char dir[PATH_MAX];
    char repo[PATH_MAX];
    int ports[TH_NPORTS];
    json_t *conf; /* the current config.json, NULL when it is not JSON */
    ff_frame_proto_t proto;
    bool proto_read; /* proto comes from the current config.json */
    char webhost[256];
    int webport;
    char *webtoken; /* master.webtoken (or webtokenFile's) as master started; NULL = none */
    pid_t master;
    int master_status;
    bool reaped;
    pid_t seen[TH_MAX_SEEN]; /* every node PID /status has shown */
    char seen_name[TH_MAX_SEEN][32];
    int nseen;
    int failures_at_new;
    bool logs_dumped;
    th_cluster_t *next;
};

/* ---- TAP ---- */

static int th_count, th_failed;

static int
th__vok(const char *file, int line, int cond, const char *fmt, va_list ap)
{
    th_count++;
    if (!cond)
        th_failed++;
    printf("%sok %d - ", cond ? "" : "not ", th_count);
    vprintf(fmt, ap);
    putchar('\n');
    if (!cond)
        printf("#   at %s:%d\n", file, line);
    fflush(stdout);
    return cond;
}

int
th_ok_at(const char *file, int line, int cond, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    cond = th__vok(file, line, cond, fmt, ap);
    va_end(ap);
    return cond;
}

int
th_eq_int_at(const char *file, int line, const char *expr, long long got, long long want,
             const char *fmt, ...)
{
    va_list ap;
    int ok;

    va_start(ap, fmt);
    ok = th__vok(file, line, got == want, fmt, ap);
    va_end(ap);
    if (!ok)
        printf("#   %s\n#          got: %lld\n#     expected: %lld\n", expr, got, want);
    fflush(stdout);
    return ok;
}

int
th_eq_str_at(const char *file, int line, const char *expr, const char *got, const char *want,
             const char *fmt, ...)
{
    va_list ap;
    int ok = (got == NULL || want == NULL) ? got == want : strcmp(got, want) == 0;

    va_start(ap, fmt);
    ok = th__vok(file, line, ok, fmt, ap);
    va_end(ap);
    if (!ok) {
        printf("#   %s\n", expr);
        printf(got ? "#          got: \"%s\"\n" : "#          got: %s\n", got ? got : "NULL");
        printf(want ? "#     expected: \"%s\"\n" : "#     expected: %s\n", want ? want : "NULL");
    }
    fflush(stdout);
    return ok;
}

/* Prints up to 200 bytes with non-printable ones as \xNN. */
static void
th__print_escaped(const char *label, const void *p, size_t len)
{
    const unsigned char *s = p;
    size_t i, n = len < 200 ? len : 200;

    printf("#   %s (%zu bytes): \"", label, len);
    for (i = 0; s != NULL && i < n; i++)
        printf(s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"' ? "%c" : "\\x%02x", s[i]);
    printf(n < len ? "\"...\n" : "\"\n");
}

int
th_eq_mem_at(const char *file, int line, const char *expr, const void *got, size_t gotlen,
             const void *want, size_t wantlen, const char *fmt, ...)
{
    va_list ap;
    int ok = gotlen == wantlen && (gotlen == 0 || memcmp(got, want, gotlen) == 0);

    va_start(ap, fmt);
    ok = th__vok(file, line, ok, fmt, ap);
    va_end(ap);
    if (!ok) {
        printf("#   %s\n", expr);
        th__print_escaped("     got", got, gotlen);
        th__print_escaped("expected", want, wantlen);
    }
    fflush(stdout);
    return ok;
}

void
th_diag(const char *fmt, ...)
{
    va_list ap;

    fputs("# ", stdout);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

int
th_failures(void)
{
    return th_failed;
}

/* ---- helpers ---- */

long long
th_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
th__sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* An integer from the environment, or def. */
static int
th__env_int(const char *name, int def)
{
    const char *v = getenv(name);

    return v != NULL && atoi(v) > 0 ? atoi(v) : def;
}

int
th_wait(bool (*cond)(void *arg), void *arg, int timeout_ms)
{
    long long deadline = th_now_ms() + timeout_ms;

    for (;;) {
        if (cond(arg))
            return 0;
        if (th_now_ms() >= deadline)
            return cond(arg) ? 0 : -1;
        th__sleep_ms(TH_POLL_MS);
    }
}

int
th_free_port(void)
{
    static int given[1024];
    static int ngiven;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int fd, port = -1, tries, i;

    for (tries = 0; tries < 100 && port < 0; tries++) {
        sa.sin_port = 0;
        if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
            return -1;
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
            getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
            port = ntohs(sa.sin_port);
        close(fd);
        for (i = 0; i < ngiven && port >= 0; i++)
            if (given[i] == port)
                port = -1;
    }
    if (port > 0 && ngiven < (int)(sizeof(given) / sizeof(given[0])))
        given[ngiven++] = port;
    return port;
}

int
th_error_code(const void *body, size_t len)
{
    json_t *root = json_loadb(body, len, 0, NULL);
    json_t *code = json_object_get(json_object_get(root, "error"), "code");
    int rc = json_is_integer(code) ? (int)json_integer_value(code) : 0;

    json_decref(root);
    return rc;
}

/* ---- process bookkeeping: what to kill if the test dies ---- */

static th_cluster_t *th_clusters;        /* every cluster not yet freed */
static volatile pid_t th_kill_list[512]; /* read by the signal handler */

static void
th__kill_list_add(pid_t pid)
{
    size_t i, free_slot = SIZE_MAX;

    for (i = 0; i < sizeof(th_kill_list) / sizeof(th_kill_list[0]); i++) {
        if (th_kill_list[i] == pid)
            return;
        if (th_kill_list[i] == 0 && free_slot == SIZE_MAX)
            free_slot = i;
    }
    if (free_slot != SIZE_MAX)
        th_kill_list[free_slot] = pid;
}

static void
th__kill_list_del(pid_t pid)
{
    size_t i;

    for (i = 0; i < sizeof(th_kill_list) / sizeof(th_kill_list[0]); i++)
        if (th_kill_list[i] == pid)
            th_kill_list[i] = 0;
}

/* On SIGTERM/SIGINT/SIGHUP (the test runner's timeout), kill the cluster processes, then
 * die of the same signal. Only async-signal-safe calls. */
static void
th__on_signal(int sig)
{
    size_t i;

    for (i = 0; i < sizeof(th_kill_list) / sizeof(th_kill_list[0]); i++)
        if (th_kill_list[i] > 0)
            kill(th_kill_list[i], SIGKILL);
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Once per process: signal handlers, SIGPIPE ignored, and become the subreaper of our
 * descendants so that a node orphaned by master is ours to see and reap. */
static void
th__process_init(void)
{
    static bool done;
    struct sigaction sa;

    if (done)
        return;
    done = true;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = th__on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
}

/* Whether pid runs a program from REPO/bin/, so that a recycled PID is never killed. */
static bool
th__is_ours(const th_cluster_t *c, pid_t pid)
{
    char link[64], exe[PATH_MAX], prefix[PATH_MAX + 8];
    ssize_t n;

    snprintf(link, sizeof(link), "/proc/%d/exe", (int)pid);
    if ((n = readlink(link, exe, sizeof(exe) - 1)) < 0)
        return false;
    exe[n] = '\0';
    snprintf(prefix, sizeof(prefix), "%s/bin/", c->repo);
    return strncmp(exe, prefix, strlen(prefix)) == 0;
}

/* Whether a node PID is gone. Reaps it if it was orphaned to us. */
static bool
th__pid_gone(const th_cluster_t *c, pid_t pid)
{
    waitpid(pid, NULL, WNOHANG);
    return (kill(pid, 0) < 0 && errno == ESRCH) || !th__is_ours(c, pid);
}

/* Collects master's exit status if it has exited. Returns whether it has. */
static bool
th__master_exited(th_cluster_t *c)
{
    if (c->master <= 0 || c->reaped)
        return c->reaped;
    if (waitpid(c->master, &c->master_status, WNOHANG) != c->master)
        return false;
    c->reaped = true;
    th__kill_list_del(c->master);
    return true;
}

/* SIGKILLs master and every node still alive. Returns how many nodes needed it. */
static int
th__kill_all(th_cluster_t *c)
{
    int i, killed = 0;

    if (c->master > 0 && !th__master_exited(c)) {
        kill(c->master, SIGKILL);
        while (waitpid(c->master, &c->master_status, 0) < 0 && errno == EINTR)
            ;
        c->reaped = true;
        th__kill_list_del(c->master);
    }
    for (i = 0; i < c->nseen; i++) {
        if (!th__pid_gone(c, c->seen[i])) {
            th_diag("killing %s (pid %d)", c->seen_name[i], (int)c->seen[i]);
            kill(c->seen[i], SIGKILL);
            waitpid(c->seen[i], NULL, 0);
            killed++;
        }
        th__kill_list_del(c->seen[i]);
    }
    return killed;
}

static void
th__seen_add(th_cluster_t *c, const char *name, pid_t pid)
{
    int i;

    for (i = 0; i < c->nseen; i++)
        if (c->seen[i] == pid)
            return;
    if (c->nseen == TH_MAX_SEEN)
        return;
    c->seen[c->nseen] = pid;
    snprintf(c->seen_name[c->nseen], sizeof(c->seen_name[0]), "%s", name);
    c->nseen++;
    th__kill_list_add(pid);
}

/* ---- config ---- */

/* The role of a server: its "role" key, else inferred from its name. */
static const char *
th__role(const char *name, json_t *srv)
{
    static const char *const roles[] = {"gate", "net", "game", "dbfront"};
    const char *r = json_string_value(json_object_get(srv, "role"));
    size_t i;

    if (r != NULL)
        return r;
    for (i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
        if (strncmp(name, roles[i], strlen(roles[i])) == 0)
            return roles[i];
    return "";
}

typedef struct {
    char *p;
    size_t len, cap;
} th_str_t;

static void
th__str_add(th_str_t *s, const char *p, size_t n)
{
    if (s->len + n + 1 > s->cap) {
        s->cap = (s->len + n + 1) * 2;
        s->p = ff_realloc(s->p, s->cap);
    }
    memcpy(s->p + s->len, p, n);
    s->len += n;
    s->p[s->len] = '\0';
}

/* The value of placeholder `name` (n bytes, without the @s), or NULL when unknown. */
static const char *
th__placeholder(const th_cluster_t *c, const char *name, size_t n, char *buf, size_t len)
{
    int i;

    for (i = 0; i < TH_NPORTS; i++) {
        if (n == strlen(th_port_names[i]) && strncmp(name, th_port_names[i], n) == 0) {
            snprintf(buf, len, "%d", c->ports[i]);
            return buf;
        }
    }
    if (n == 3 && strncmp(name, "DIR", 3) == 0)
        return c->dir;
    if (n == 4 && strncmp(name, "REPO", 4) == 0)
        return c->repo;
    return NULL;
}

/* Replaces the @NAME@ placeholders; returns a new string. */
static char *
th__expand(const th_cluster_t *c, const char *t)
{
    th_str_t out = {NULL, 0, 0};
    const char *end, *val;
    char buf[16];

    th__str_add(&out, "", 0);
    while (*t != '\0') {
        end = t[0] == '@' ? strchr(t + 1, '@') : NULL;
        val = end ? th__placeholder(c, t + 1, (size_t)(end - t - 1), buf, sizeof(buf)) : NULL;
        if (val != NULL) {
            th__str_add(&out, val, strlen(val));
            t = end + 1;
        } else {
            th__str_add(&out, t++, 1);
        }
    }
    return out.p;
}

/* Reads what the harness needs from the parsed config: web address and frame settings. */
static void
th__conf_apply(th_cluster_t *c)
{
    json_t *m = json_object_get(c->conf, "master");
    const char *host = json_string_value(json_object_get(m, "webhost"));
    json_t *v;

    snprintf(c->webhost, sizeof(c->webhost), "%s", host != NULL ? host : "127.0.0.1");
    v = json_object_get(m, "webport");
    c->webport = json_is_integer(v) ? (int)json_integer_value(v) : c->ports[1];
    c->proto_read = false;
}

/* Reads netconnect with the loader net itself uses (common/conf.c), from the directory master
 * runs in, so that every spelling of it and every default means the same to the test's
 * clients as to net. Done at the first connect, when files the config names (a webtokenFile)
 * exist; a config that does not load leaves Firefly's defaults, with a diagnostic. */
static void
th__proto_read(th_cluster_t *c)
{
    char path[PATH_MAX + 16], err[PATH_MAX + 256];
    int cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ff_conf_t *conf = NULL;

    if (c->proto_read)
        return;
    c->proto_read = true;
    c->proto = (ff_frame_proto_t){.max_packet = 65536};
    snprintf(path, sizeof(path), "%s/config.json", c->dir);
    snprintf(err, sizeof(err), "cannot change to %s", c->dir);
    if (cwd >= 0 && chdir(c->dir) == 0)
        conf = ff_conf_load(path, err, sizeof(err));
    if (cwd >= 0 && (fchdir(cwd) != 0 || close(cwd) != 0))
        th_diag("harness: cannot go back to the working directory: %s", strerror(errno));
    if (conf == NULL) {
        th_diag("harness: netconnect not read, Firefly's defaults used: %s", err);
        return;
    }
    memcpy(c->proto.magic, conf->netconnect.magic, sizeof(c->proto.magic));
    c->proto.proto_version = conf->netconnect.proto_version;
    c->proto.server_version = conf->netconnect.server_version;
    c->proto.max_packet = conf->netconnect.max_packet;
    ff_conf_free(conf);
}

int
th_cluster_config_write(th_cluster_t *c, const char *config_template)
{
    char path[PATH_MAX + 16], *text = th__expand(c, config_template);
    FILE *f;
    int ok;

    snprintf(path, sizeof(path), "%s/config.json", c->dir);
    f = fopen(path, "w");
    ok = f != NULL && fputs(text, f) >= 0;
    if (f != NULL && fclose(f) != 0)
        ok = 0;
    json_decref(c->conf);
    c->conf = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    th__conf_apply(c);
    ff_free(text);
    if (!ok)
        th_diag("cannot write %s: %s", path, strerror(errno));
    return ok ? 0 : -1;
}

const char *
th_repo(void)
{
    static char repo[PATH_MAX];
    char exe[PATH_MAX], *slash;
    ssize_t n;
    int up;

    if (repo[0] != '\0')
        return repo;
    if (getenv("TH_REPO") != NULL && realpath(getenv("TH_REPO"), repo) != NULL)
        return repo;
    repo[0] = '\0';
    n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    exe[n > 0 ? n : 0] = '\0';
    for (up = 0; up < 4 && (slash = strrchr(exe, '/')) != NULL; up++)
        *slash = '\0';
    if ((up < 4 || exe[0] == '\0') && getcwd(exe, sizeof(exe)) == NULL)
        snprintf(exe, sizeof(exe), ".");
    snprintf(repo, sizeof(repo), "%s", exe);
    return repo;
}

th_cluster_t *
th_cluster_new(const char *config_template)
{
    th_cluster_t *c = ff_calloc(1, sizeof(*c));
    int i;

    th__process_init();
    c->failures_at_new = th_failed;
    snprintf(c->repo, sizeof(c->repo), "%s", th_repo());
    snprintf(c->dir, sizeof(c->dir), "/tmp/ffth-%.40s-XXXXXX", program_invocation_short_name);
    if (mkdtemp(c->dir) == NULL) {
        th_ok(0, "cluster: mkdtemp %s: %s", c->dir, strerror(errno));
        ff_free(c);
        return NULL;
    }
    for (i = 0; i < TH_NPORTS; i++)
        c->ports[i] = th_free_port();
    c->next = th_clusters;
    th_clusters = c;
    if (th_cluster_config_write(c, config_template) < 0) {
        th_ok(0, "cluster: config.json written");
        th_cluster_free(c);
        return NULL;
    }
    return c;
}

/* ---- master process ---- */

/* In the child: wire up cwd, stdio and the death signal, then exec master. */
static void
th__exec_master(const th_cluster_t *c, const char *const *argv, pid_t parent)
{
    char out[PATH_MAX + 16];
    sigset_t none;
    int fd;

    /* master must not outlive a test that crashed or was killed by the runner. */
    prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
    if (getppid() != parent)
        _exit(127);
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
    if (chdir(c->dir) < 0)
        _exit(127);
    signal(SIGPIPE, SIG_DFL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execv(argv[0], (char *const *)argv);
    dprintf(STDERR_FILENO, "harness: exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

/* Reads a token file as master does: the whole file, trailing white space cut. A relative
 * path is relative to DIR, master's working directory. Returns a new string or NULL. */
static char *
th__read_token_file(const th_cluster_t *c, const char *file)
{
    char path[PATH_MAX + 16], buf[8192];
    FILE *f;
    size_t n;

    snprintf(path, sizeof(path), "%s%s%s", file[0] == '/' ? "" : c->dir, file[0] == '/' ? "" : "/",
             file);
    if ((f = fopen(path, "r")) == NULL)
        return NULL;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    while (n > 0 && strchr(" \t\r\n", buf[n - 1]) != NULL)
        n--;
    buf[n] = '\0';
    return ff_strdup(buf);
}

/* The web token master will start with: master keeps it across reloads, so the harness
 * takes it when it starts master, not when the config is rewritten. */
static void
th__take_webtoken(th_cluster_t *c)
{
    json_t *m = json_object_get(c->conf, "master");
    const char *token = json_string_value(json_object_get(m, "webtoken"));
    const char *file = json_string_value(json_object_get(m, "webtokenFile"));

    ff_free(c->webtoken);
    c->webtoken = token != NULL ? ff_strdup(token) : NULL;
    if (token == NULL && file != NULL)
        c->webtoken = th__read_token_file(c, file);
}

int
th_cluster_spawn(th_cluster_t *c, const char *const *extra_args)
{
    char master[PATH_MAX + 16], conf[PATH_MAX + 16];
    const char *argv[16];
    pid_t parent = getpid(), pid;
    int argc = 0, i;

    snprintf(master, sizeof(master), "%s/bin/master", c->repo);
    snprintf(conf, sizeof(conf), "%s/config.json", c->dir);
    if (access(master, X_OK) < 0) {
        th_diag("%s: %s (build it first: make)", master, strerror(errno));
        return -1;
    }
    argv[argc++] = master;
    for (i = 0; extra_args != NULL && extra_args[i] != NULL && argc < 14; i++)
        argv[argc++] = extra_args[i];
    argv[argc++] = conf;
    argv[argc] = NULL;
    th__take_webtoken(c);
    fflush(stdout);
    fflush(stderr);
    if ((pid = fork()) < 0) {
        th_diag("fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0)
        th__exec_master(c, argv, parent);
    c->master = pid;
    c->reaped = false;
    th__kill_list_add(pid);
    return 0;
}

/* "exit status N" or "killed by signal N (NAME)". */
static const char *
th__describe_exit(int st, char *buf, size_t len)
{
    if (WIFEXITED(st))
        snprintf(buf, len, "exit status %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
    else
        snprintf(buf, len, "wait status 0x%x", (unsigned)st);
    return buf;
}

int
th_cluster_wait_exit(th_cluster_t *c, int timeout_ms, int *status)
{
    long long deadline = th_now_ms() + timeout_ms;

    if (c->master <= 0)
        return -1;
    while (!th__master_exited(c)) {
        if (th_now_ms() >= deadline)
            return -1;
        th__sleep_ms(TH_POLL_MS);
    }
    if (status != NULL)
        *status = c->master_status;
    return 0;
}

/* ---- web port ---- */

int
th_http_get(th_cluster_t *c, const char *path, int *status, char **body)
{
    char *b = NULL;
    int rc =
        ffc_http_get_auth(c->webhost, c->webport, path, c->webtoken, TH_HTTP_MS, status, &b, NULL);

    if (body != NULL)
        *body = b;
    else
        ff_free(b);
    return rc;
}

/* Parses a /status body and remembers the node PIDs in it. Returns a new reference or
 * NULL. */
static json_t *
th__status_parse(th_cluster_t *c, const char *body)
{
    json_t *root = json_loads(body, 0, NULL), *node;
    const char *name;
    json_int_t pid;
    size_t i;

    json_array_foreach(json_object_get(root, "nodes"), i, node)
    {
        pid = json_integer_value(json_object_get(node, "pid"));
        name = json_string_value(json_object_get(node, "name"));
        if (pid > 0)
            th__seen_add(c, name != NULL ? name : "?", (pid_t)pid);
    }
    return root;
}

json_t *
th_cluster_status(th_cluster_t *c)
{
    char *body = NULL;
    json_t *root = NULL;
    int st;

    if (th_http_get(c, "/status", &st, &body) == 0 && st == 200)
        root = th__status_parse(c, body);
    ff_free(body);
    return root;
}

json_t *
th_status_node(json_t *status, const char *name)
{
    json_t *node;
    const char *n;
    size_t i;

    json_array_foreach(json_object_get(status, "nodes"), i, node)
    {
        n = json_string_value(json_object_get(node, "name"));
        if (n != NULL && strcmp(n, name) == 0)
            return node;
    }
    return NULL;
}

/* ---- readiness ---- */

/* Whether every gate of the config lists `name` among its bus peers in status. */
static bool
th__gates_have_peer(const th_cluster_t *c, json_t *status, const char *name)
{
    json_t *srv, *peer;
    const char *gate;
    size_t i;
    bool found;

    json_object_foreach(json_object_get(c->conf, "servers"), gate, srv)
    {
        if (strcmp(th__role(gate, srv), "gate") != 0)
            continue;
        found = false;
        json_array_foreach(json_object_get(th_status_node(status, gate), "peers"), i, peer)
        {
            if (json_is_string(peer) && strcmp(json_string_value(peer), name) == 0)
                found = true;
        }
        if (!found)
            return false;
    }
    return true;
}

/* Whether status shows every server of the config ready; otherwise says why. */
static bool
th__ready(const th_cluster_t *c, json_t *status, char *why, size_t len)
{
    json_t *servers = json_object_get(c->conf, "servers"), *srv, *node;
    const char *name, *role, *state;

    if (!json_is_object(servers)) {
        snprintf(why, len, "config.json has no \"servers\" object (not valid JSON?)");
        return false;
    }
    json_object_foreach(servers, name, srv)
    {
        node = th_status_node(status, name);
        state = json_string_value(json_object_get(node, "state"));
        role = th__role(name, srv);
        if (node == NULL)
            snprintf(why, len, "%s: not in /status", name);
        else if (state == NULL || strcmp(state, "running") != 0)
            snprintf(why, len, "%s: state %s", name, state != NULL ? state : "(none)");
        else if (strcmp(role, "net") == 0 && !json_is_true(json_object_get(node, "gate")))
            snprintf(why, len, "%s: \"gate\" is not true (no link to gate yet)", name);
        else if ((strcmp(role, "net") == 0 || strcmp(role, "game") == 0) &&
                 !th__gates_have_peer(c, status, name))
            snprintf(why, len, "%s: not among the gate's \"peers\"", name);
        else
            continue;
        return false;
    }
    return true;
}

/* One /status poll. Returns whether ready; keeps the body in *last and says why not. */
static bool
th__ready_once(th_cluster_t *c, char **last, char *why, size_t len)
{
    char *body = NULL;
    json_t *root;
    bool ok = false;
    int st = 0, rc;

    rc = ffc_http_get_auth(c->webhost, c->webport, "/status", c->webtoken, 2000, &st, &body, NULL);
    if (rc < 0) {
        snprintf(why, len, "GET /status: %s", ffc_strerror(rc));
    } else if (st != 200) {
        snprintf(why, len, "GET /status: HTTP %d", st);
    } else if ((root = th__status_parse(c, body)) == NULL) {
        snprintf(why, len, "GET /status: not JSON");
    } else {
        ok = th__ready(c, root, why, len);
        json_decref(root);
    }
    if (body != NULL) {
        ff_free(*last);
        *last = body;
    }
    return ok;
}

int
th_cluster_wait_ready(th_cluster_t *c, int timeout_ms)
{
    long long deadline = th_now_ms() + timeout_ms;
    char why[512] = "no answer", desc[64], *last = NULL;
    bool ready;

    for (;;) {
        if (th__master_exited(c)) {
            th_diag("master exited (%s) before the cluster was ready",
                    th__describe_exit(c->master_status, desc, sizeof(desc)));
            break;
        }
        if ((ready = th__ready_once(c, &last, why, sizeof(why))) || th_now_ms() >= deadline)
            break;
        th__sleep_ms(TH_POLL_MS);
    }
    if (!ready && !c->reaped)
        th_diag("cluster not ready after %d ms: %s", timeout_ms, why);
    if (!ready && last != NULL)
        th_diag("last /status: %s", last);
    ff_free(last);
    return ready ? 0 : -1;
}

th_cluster_t *
th_cluster_start(const char *config_template)
{
    long long t0 = th_now_ms();
    th_cluster_t *c = th_cluster_new(config_template);
    bool ok;

    if (c == NULL)
        return NULL;
    ok = th_cluster_spawn(c, NULL) == 0 &&
         th_cluster_wait_ready(c, th__env_int("TH_READY_MS", 30000)) == 0;
    th_ok(ok, "cluster ready: %zu servers in %lld ms (%s)",
          json_object_size(json_object_get(c->conf, "servers")), th_now_ms() - t0, c->dir);
    if (!ok) {
        th_cluster_free(c);
        return NULL;
    }
    return c;
}

/* ---- stop and clean up ---- */

static bool
th__nodes_gone_cb(void *arg)
{
    th_cluster_t *c = arg;
    int i;

    for (i = 0; i < c->nseen; i++)
        if (!th__pid_gone(c, c->seen[i]))
            return false;
    return true;
}

int
th_cluster_stop(th_cluster_t *c)
{
    int stop_ms = th__env_int("TH_STOP_MS", 30000), st = 0, rc, killed;
    char desc[64];
    bool exited, ok;

    if (!th__master_exited(c)) {
        json_decref(th_cluster_status(c)); /* learn the PIDs of restarted nodes */
        rc = th_http_get(c, "/stop", &st, NULL);
        if (rc < 0 || st != 200)
            th_diag("GET /stop: %s", rc < 0 ? ffc_strerror(rc) : "status not 200");
    }
    exited = th_cluster_wait_exit(c, stop_ms, NULL) == 0;
    if (!exited)
        th_diag("master (pid %d) still running %d ms after GET /stop: killing it and its nodes",
                (int)c->master, stop_ms);
    else
        th_wait(th__nodes_gone_cb, c, 3000);
    killed = th__kill_all(c);
    ok = exited && WIFEXITED(c->master_status) && WEXITSTATUS(c->master_status) == 0;
    if (exited && !ok)
        th_diag("master %s", th__describe_exit(c->master_status, desc, sizeof(desc)));
    if (exited && killed > 0)
        th_diag("%d node(s) outlived master", killed);
    th_ok(ok && killed == 0, "cluster stopped: master exited 0 after GET /stop, no node left");
    return ok && killed == 0 ? 0 : -1;
}

/* Prints the last TH_LOG_TAIL lines of a file to stderr as `# ` lines. */
static void
th__dump_file(const char *path)
{
    FILE *f = fopen(path, "r");
    char *line = NULL, **ring = ff_calloc(TH_LOG_TAIL, sizeof(char *));
    size_t cap = 0, n = 0, i;

    fprintf(stderr, "# ---- %s%s ----\n", path, f == NULL ? " (missing)" : "");
    while (f != NULL && getline(&line, &cap, f) >= 0) {
        line[strcspn(line, "\n")] = '\0';
        ff_free(ring[n % TH_LOG_TAIL]);
        ring[n++ % TH_LOG_TAIL] = ff_strdup(line);
    }
    if (n > TH_LOG_TAIL)
        fprintf(stderr, "# ... %zu earlier lines\n", n - TH_LOG_TAIL);
    for (i = n > TH_LOG_TAIL ? n - TH_LOG_TAIL : 0; i < n; i++)
        fprintf(stderr, "# %s\n", ring[i % TH_LOG_TAIL]);
    for (i = 0; i < TH_LOG_TAIL; i++)
        ff_free(ring[i]);
    ff_free(ring);
    free(line);
    if (f != NULL)
        fclose(f);
}

int
th_log_count(th_cluster_t *c, const char *name, const char *needle)
{
    char path[PATH_MAX + 64], *line = NULL;
    size_t cap = 0;
    int n = 0;
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s.log", th_cluster_dir(c), name);
    if ((f = fopen(path, "r")) == NULL)
        return 0;
    while (getline(&line, &cap, f) >= 0)
        n += strstr(line, needle) != NULL;
    free(line);
    fclose(f);
    return n;
}

void
th_cluster_dump_logs(th_cluster_t *c)
{
    static const char *const patterns[] = {"%s/master.out", "%s/*.log", "%s/*/*.log"};
    char pat[PATH_MAX + 16];
    glob_t g;
    size_t i, j;

    fflush(stdout);
    c->logs_dumped = true;
    for (i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++) {
        snprintf(pat, sizeof(pat), patterns[i], c->dir);
        if (glob(pat, 0, NULL, &g) != 0)
            continue;
        for (j = 0; j < g.gl_pathc; j++)
            th__dump_file(g.gl_pathv[j]);
        globfree(&g);
    }
    fflush(stderr);
}

static int
th__rm_cb(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)type;
    (void)ftw;
    remove(path);
    return 0;
}

void
th_cluster_free(th_cluster_t *c)
{
    th_cluster_t **pp;

    if (c == NULL)
        return;
    th__kill_all(c);
    if (th_failed > c->failures_at_new && !c->logs_dumped)
        th_cluster_dump_logs(c);
    if (getenv("TH_KEEP") != NULL)
        th_diag("kept %s", c->dir);
    else
        nftw(c->dir, th__rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    for (pp = &th_clusters; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    json_decref(c->conf);
    ff_free(c->webtoken);
    ff_free(c);
}

int
th_done(void)
{
    while (th_clusters != NULL) {
        if (th_clusters->master > 0 && !th__master_exited(th_clusters))
            th_diag("cluster %s was never stopped: killing it", th_clusters->dir);
        th_cluster_free(th_clusters);
    }
    printf("1..%d\n# %d passed, %d failed\n", th_count, th_count - th_failed, th_failed);
    fflush(stdout);
    return th_failed > 0 ? 1 : 0;
}

/* ---- accessors ---- */

const char *
th_cluster_dir(const th_cluster_t *c)
{
    return c->dir;
}

int
th_cluster_port(const th_cluster_t *c, const char *name)
{
    int i;

    for (i = 0; i < TH_NPORTS; i++)
        if (strcmp(th_port_names[i], name) == 0)
            return c->ports[i];
    return -1;
}

pid_t
th_master_pid(const th_cluster_t *c)
{
    return c->master;
}

const ff_frame_proto_t *
th_cluster_proto(th_cluster_t *c)
{
    th__proto_read(c);
    return &c->proto;
}

pid_t
th_node_pid(th_cluster_t *c, const char *name)
{
    json_t *st = th_cluster_status(c);
    json_t *pid = json_object_get(th_status_node(st, name), "pid");
    pid_t rc = json_is_integer(pid) ? (pid_t)json_integer_value(pid) : -1;

    json_decref(st);
    return rc;
}

const char *
th_node_state(th_cluster_t *c, const char *name, char *buf, size_t len)
{
    json_t *st = th_cluster_status(c);
    const char *s = json_string_value(json_object_get(th_status_node(st, name), "state"));

    if (s != NULL)
        snprintf(buf, len, "%s", s);
    json_decref(st);
    return s != NULL ? buf : NULL;
}

int
th_wait_node_state(th_cluster_t *c, const char *name, const char *state, int timeout_ms)
{
    long long deadline = th_now_ms() + timeout_ms;
    char buf[32];
    const char *s;

    for (;;) {
        s = th_node_state(c, name, buf, sizeof(buf));
        if (s != NULL && strcmp(s, state) == 0)
            return 0;
        if (th_now_ms() >= deadline)
            break;
        th__sleep_ms(TH_POLL_MS);
    }
    th_diag("%s: state %s after %d ms, wanted %s", name, s != NULL ? s : "(unknown)", timeout_ms,
            state);
    return -1;
}

/* The netport of the config's first net server, else @NETPORT@. */
static int
th__net_port(const th_cluster_t *c)
{
    json_t *srv, *port;
    const char *name;

    json_object_foreach(json_object_get(c->conf, "servers"), name, srv)
    {
        port = json_object_get(srv, "netport");
        if (strcmp(th__role(name, srv), "net") == 0 && json_is_integer(port))
            return (int)json_integer_value(port);
    }
    return c->ports[3];
}

ffc_t *
th_connect_port(th_cluster_t *c, int port)
{
    ffc_t *cl = ffc_connect("127.0.0.1", port, th_cluster_proto(c), 5000);

    if (cl == NULL)
        th_ok(0, "connect to 127.0.0.1:%d: %s", port, strerror(errno));
    return cl;
}

ffc_t *
th_connect(th_cluster_t *c)
{
    return th_connect_port(c, th__net_port(c));
}

long
th_rss_kb(pid_t pid)
{
    char path[64], line[256];
    long kb = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    if ((f = fopen(path, "r")) == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

typedef struct {
    th_cluster_t *c;
    const char *name;
} th__linked_t;

static bool
th__store_linked_cb(void *arg)
{
    th__linked_t *a = arg;
    json_t *st = th_cluster_status(a->c);
    json_t *store = json_object_get(th_status_node(st, a->name), "store");
    bool ok = json_is_true(json_object_get(store, "dbfront"));

    json_decref(st);
    return ok;
}

int
th_wait_store_linked(th_cluster_t *c, const char *name, int timeout_ms)
{
    th__linked_t a = {c, name};

    return th_wait(th__store_linked_cb, &a, timeout_ms);
}
