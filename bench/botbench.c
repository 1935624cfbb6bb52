/* botbench: starts the cluster, runs bin/bot as a child (its table goes straight to our
 * stdout) and waits for it with a deadline well past its own --duration; the bot is killed
 * by PID if it overruns. */
#include "botbench.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cluster.h"

#define BENCH_BOT_GRACE_S 60 /* past --duration before the bot is killed */

/* The machine's CPU time by kind (the first line of /proc/stat), to say how busy it was and
 * how much of it the hypervisor took (steal): on a shared VM that, more than the code, moves
 * the latency tail. */
typedef struct {
    unsigned long long user, nice, system, idle, iowait, irq, softirq, steal;
} bench_cpu_t;

static void
bench_cpu_read(bench_cpu_t *c)
{
    FILE *f = fopen("/proc/stat", "r");

    memset(c, 0, sizeof(*c));
    if (f == NULL)
        return;
    if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &c->user, &c->nice, &c->system,
               &c->idle, &c->iowait, &c->irq, &c->softirq, &c->steal) != 8)
        memset(c, 0, sizeof(*c));
    fclose(f);
}

static void
bench_cpu_print(const bench_cpu_t *a, const bench_cpu_t *b)
{
    double busy = (double)(b->user + b->nice + b->system + b->irq + b->softirq) -
                  (double)(a->user + a->nice + a->system + a->irq + a->softirq);
    double idle = (double)(b->idle + b->iowait) - (double)(a->idle + a->iowait);
    double steal = (double)b->steal - (double)a->steal, total = busy + idle + steal;

    if (total > 0)
        printf("machine over the run: busy %.0f%%, idle %.0f%%, stolen by the hypervisor %.1f%%\n",
               100 * busy / total, 100 * idle / total, 100 * steal / total);
}

/* Execs bin/bot against the net port, in the child. */
static void
bench_exec_bot(const bench_bot_opts_t *o, int port, pid_t parent)
{
    char bot[PATH_MAX + 8], users[16], duration[32], game[16], ports[16];

    prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
    if (getppid() != parent)
        _exit(127);
    snprintf(bot, sizeof(bot), "%s/bot", o->bin);
    snprintf(users, sizeof(users), "%d", o->users);
    snprintf(duration, sizeof(duration), "%g", o->duration_s);
    snprintf(game, sizeof(game), "%d", o->game_time_ms);
    snprintf(ports, sizeof(ports), "%d", port);
    execl(bot, bot, "--port", ports, "--users", users, "--loop", "--duration", duration, "--login",
          "echo", "--game-time", game, "--arena-size", "4", "--progress", "10", (char *)NULL);
    dprintf(STDERR_FILENO, "ffbench: exec %s: %s\n", bot, strerror(errno));
    _exit(127);
}

/* Waits for the bot to exit within its duration plus a grace; kills it by PID after that.
 * Returns its wait status, or -1 when it had to be killed. */
static int
bench_wait_bot(pid_t pid, double duration_s)
{
    struct timespec tick = {0, 100000000};
    double waited = 0;
    int status;

    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (waited > duration_s + BENCH_BOT_GRACE_S) {
            fprintf(stderr, "ffbench: bot still running after %.0f s: killed\n", waited);
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -1;
        }
        nanosleep(&tick, NULL);
        waited += 0.1;
    }
    return status;
}

int
bench_bot_run(const bench_bot_opts_t *o)
{
    char guess[PATH_MAX + 48], arena[PATH_MAX], echo[PATH_MAX];
    bench_cluster_t *c;
    pid_t pid, parent = getpid();
    int status, rc = 0;
    bench_cpu_t cpu0, cpu1;

    snprintf(guess, sizeof(guess), "%s/../build/apps/libarena.so", o->bin);
    if (realpath(guess, arena) == NULL) {
        fprintf(stderr, "ffbench: %s: %s (run make all)\n", guess, strerror(errno));
        return -1;
    }
    snprintf(guess, sizeof(guess), "%s/../build/apps/libecho.so", o->bin);
    if (realpath(guess, echo) == NULL) {
        fprintf(stderr, "ffbench: %s: %s (run make all)\n", guess, strerror(errno));
        return -1;
    }
    if ((c = bench_cluster_start(o->bin, arena, echo, NULL, 30000)) == NULL)
        return -1;
    printf("\nbot: %d looping users for %.0f s, game time %d ms, arenas of 4, echo login;\n"
           "cluster of 1 net, 1 gate, game1 (arena), game2 (echo) in %s\n",
           o->users, o->duration_s, o->game_time_ms, bench_cluster_dir(c));
    fflush(stdout);
    fflush(stderr);
    bench_cpu_read(&cpu0);
    if ((pid = fork()) < 0) {
        fprintf(stderr, "ffbench: fork: %s\n", strerror(errno));
        rc = -1;
    } else if (pid == 0) {
        bench_exec_bot(o, bench_cluster_net_port(c), parent);
    } else {
        status = bench_wait_bot(pid, o->duration_s);
        bench_cpu_read(&cpu1);
        bench_cpu_print(&cpu0, &cpu1);
        if (status < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "ffbench: the bot reported errors (status %d)\n", status);
            rc = -1;
        }
    }
    if (rc != 0)
        bench_cluster_dump_logs(c);
    if (bench_cluster_stop(c, 30000) < 0)
        rc = -1;
    bench_cluster_free(c, o->keep);
    return rc;
}
