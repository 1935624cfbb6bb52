/* spawn: fork/exec of role binaries, and mkdir -p for log directories.
 *
 * Why fork/exec and not uv_spawn: uv_spawn cannot run code in the child between fork and
 * exec, so it cannot set PR_SET_PDEATHSIG, and without it a master killed with SIGKILL
 * would leave its nodes running and holding their ports. The fork is made safe with
 * respect to libuv the way uv_spawn itself does it: every signal is blocked across fork(),
 * so that libuv's signal handler (which writes into master's signal pipe) can never run in
 * the child; the child then resets every handler to SIG_DFL before it unblocks signals.
 * Between fork and exec the child only makes async-signal-safe calls, on memory prepared
 * by the parent. libuv opens its descriptors with O_CLOEXEC; the child also marks every
 * other descriptor past stderr close-on-exec (the log file, say). A CLOEXEC pipe reports a
 * failed exec to the parent (as uv_spawn does), so "no such binary" is an error here and
 * not an exit status 127 later. Children are reaped by master's SIGCHLD handler.
 *
 * The child's secrets (its token and the cluster secret) travel in a second pipe, filled
 * and closed for writing before fork() and inherited as descriptor SPAWN_HANDOFF_FD by
 * that child alone: nothing secret is on a command line, in an environment, or open in any
 * other process. The payload is far below a pipe's capacity, so writing never blocks.
 *
 * A child may also get the write end of its crash pipe as SPAWN_REPORT_FD, which it keeps
 * open for its whole life (common/crash.c writes a record there when it dies of a signal).
 * Before placing the two, the child moves every descriptor it needs above both targets, so
 * that placing one can never close another, whatever numbers they had. */
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alloc.h"

/* fd itself when it is above the descriptors spawn_child places, else a close-on-exec copy
 * above them (or -1). */
static int
spawn_lift(int fd)
{
    return fd < 0 || fd > SPAWN_REPORT_FD ? fd : fcntl(fd, F_DUPFD_CLOEXEC, SPAWN_REPORT_FD + 1);
}

/* The child's side, between fork and exec: async-signal-safe calls only. */
static void __attribute__((noreturn))
spawn_child(int errfd, int handoff, int report, pid_t parent, const char *path, char *const argv[])
{
    struct sigaction sa;
    sigset_t none;
    int err;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++)
        sigaction(sig, &sa, NULL); /* fails harmlessly for SIGKILL, SIGSTOP, glibc's own */
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* If master died between fork() and prctl(), no signal would ever come: check. */
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent)
        _exit(1);
    close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
    errfd = spawn_lift(errfd);
    handoff = spawn_lift(handoff);
    report = spawn_lift(report);
    /* dup2 clears close-on-exec on the copy. */
    if (errfd < 0 || handoff < 0 || dup2(handoff, SPAWN_HANDOFF_FD) < 0)
        _exit(1);
    if (report >= 0 && dup2(report, SPAWN_REPORT_FD) < 0)
        _exit(1);
    execv(path, argv);
    err = errno;
    while (write(errfd, &err, sizeof(err)) < 0 && errno == EINTR)
        ;
    _exit(127);
}

/* Reads the child's exec errno from the pipe: 0 when the pipe closed on a successful exec. */
static int
spawn_wait_exec(int fd)
{
    int err = 0;
    ssize_t n;

    do
        n = read(fd, &err, sizeof(err));
    while (n < 0 && errno == EINTR);
    return n == (ssize_t)sizeof(err) ? err : 0;
}

/* A pipe holding data, closed for writing: its read end, or a negative errno. */
static int
spawn_handoff(const void *data, size_t len)
{
    int fds[2], err = 0;
    ssize_t n;

    if (pipe2(fds, O_CLOEXEC) < 0)
        return -errno;
    do
        n = write(fds[1], data, len);
    while (n < 0 && errno == EINTR);
    if (n != (ssize_t)len)
        err = n < 0 ? errno : EIO;
    close(fds[1]);
    if (err != 0) {
        close(fds[0]);
        return -err;
    }
    return fds[0];
}

int
spawn_process(const char *path, char *const argv[], const void *handoff, size_t handoff_len,
              int report_fd, pid_t *pid)
{
    sigset_t all, old;
    pid_t parent = getpid(), child;
    int fds[2], err, hfd = spawn_handoff(handoff, handoff_len);

    if (hfd < 0)
        return hfd;
    if (pipe2(fds, O_CLOEXEC) < 0) {
        err = errno;
        close(hfd);
        return -err;
    }
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, &old);
    child = fork();
    if (child == 0)
        spawn_child(fds[1], hfd, report_fd, parent, path, argv);
    err = errno;
    sigprocmask(SIG_SETMASK, &old, NULL);
    close(fds[1]);
    close(hfd);
    if (child < 0) {
        close(fds[0]);
        return -err;
    }
    err = spawn_wait_exec(fds[0]);
    close(fds[0]);
    if (err != 0) {
        /* The child exits at once; reap it here so that SIGCHLD finds nothing unknown. */
        while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
            ;
        return -err;
    }
    *pid = child;
    return 0;
}

/* mkdir that accepts an existing directory. */
static int
spawn_mkdir_one(const char *dir)
{
    struct stat st;

    if (mkdir(dir, 0755) == 0)
        return 0;
    if (errno == EEXIST && stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
        return 0;
    return errno == EEXIST ? -ENOTDIR : -errno;
}

int
spawn_mkdirs(const char *path, char *err, size_t errlen)
{
    char *dir = ff_strdup(path), *slash = strrchr(dir, '/');
    int rc = 0;

    if (slash == NULL || slash == dir) {
        ff_free(dir);
        return 0;
    }
    *slash = '\0';
    for (char *p = dir + 1;; p++) {
        char c = *p;

        if (c != '/' && c != '\0')
            continue;
        *p = '\0';
        rc = spawn_mkdir_one(dir);
        if (rc < 0) {
            snprintf(err, errlen, "cannot create directory %s: %s", dir, strerror(-rc));
            break;
        }
        if (c == '\0')
            break;
        *p = c;
    }
    ff_free(dir);
    return rc < 0 ? -1 : 0;
}

int
spawn_log_dirs(const ff_conf_t *conf, char *err, size_t errlen)
{
    if (conf->master.log != NULL && spawn_mkdirs(conf->master.log, err, errlen) < 0)
        return -1;
    for (int i = 0; i < conf->nservers; i++)
        if (conf->servers[i].log != NULL && spawn_mkdirs(conf->servers[i].log, err, errlen) < 0)
            return -1;
    return 0;
}
