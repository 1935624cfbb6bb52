/* bot: scripted arena players against a firefly-c cluster, with a latency report (docs/bot.md).
 *
 *   bot --users 20 --loop              20 users playing until Ctrl-C (or --duration)
 *   bot --users 20 --once --json r.json --html r.html
 *   bot --workers 4 --users 4000 ...   the users spread over 4 processes, figures merged
 *   bot --merge a.json b.json          merges reports written by bots on several machines
 *   bot --console                      interactive: set users 20, set loop on, run, stop, ...
 *
 * Workers are forked before any loop exists and count into one shared mapping of bot_stats_t
 * (one per worker, written only by its worker), which the parent reads for the live line and
 * merges at the end. The exit status is 1 when any operation failed or timed out, or when
 * --once users did not all finish. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "alloc.h"
#include "console.h"
#include "opts.h"
#include "report.h"
#include "run.h"
#include "stats.h"

#define BOT_MAX_MERGE 64

typedef struct {
    bot_opts_t o;
    bool console, quiet;
    const char *merge[BOT_MAX_MERGE];
    int nmerge;
} bot_cli_t;

/* Command-line spellings of the options table's names (opts.c). */
static const struct {
    const char *flag, *name;
} bot_flags[] = {
    {"host", "host"},
    {"port", "port"},
    {"users", "users"},
    {"duration", "duration"},
    {"workers", "workers"},
    {"login", "login"},
    {"game-time", "gameTime"},
    {"arena-size", "arenaSize"},
    {"think-min", "thinkMin"},
    {"think-max", "thinkMax"},
    {"stay", "stay"},
    {"ramp", "rampUp"},
    {"wait-timeout", "waitTimeout"},
    {"request-timeout", "requestTimeout"},
    {"progress", "progress"},
    {"accounts", "accountPrefix"},
    {"first-account", "firstAccount"},
    {"password", "password"},
    {"seed", "seed"},
    {"json", "json"},
    {"html", "html"},
};
#define BOT_NFLAGS (sizeof(bot_flags) / sizeof(bot_flags[0]))

static void
usage(FILE *f)
{
    fprintf(f, "usage: bot [--config FILE] [--users N] [--loop | --once] [--duration S]\n"
               "           [--workers N] [--host H] [--port P] [--login none|echo|diablo]\n"
               "           [--game-time MS] [--arena-size N] [--think-min MS] [--think-max MS]\n"
               "           [--stay R] [--ramp USERS_PER_S] [--wait-timeout MS]\n"
               "           [--request-timeout MS] [--accounts PREFIX] [--first-account N]\n"
               "           [--password P] [--seed N] [--progress S] [--json PATH] [--html PATH]\n"
               "           [--set NAME=VALUE] [-q]\n"
               "       bot --console [options as above]\n"
               "       bot --merge REPORT.json... [--json PATH] [--html PATH]\n"
               "A config FILE is a JSON object with the option names of `bot --console`'s\n"
               "`show` (users, loop, gameTime, ...) and a netconnect object. Later options win.\n"
               "Exit status 1 when any operation failed or timed out. See docs/bot.md.\n");
}

/* Parses argv into cli: --config first (so that flags override it), then the rest. */
static int
parse_args(int argc, char **argv, bot_cli_t *cli)
{
    static struct option longs[BOT_NFLAGS + 9];
    char err[BOT_PATH_MAX + 128];
    size_t i, n = 0;
    int c;

    for (i = 0; i < BOT_NFLAGS; i++)
        longs[n++] = (struct option){bot_flags[i].flag, required_argument, NULL, 1000 + (int)i};
    longs[n++] = (struct option){"config", required_argument, NULL, 'c'};
    longs[n++] = (struct option){"set", required_argument, NULL, 's'};
    longs[n++] = (struct option){"loop", no_argument, NULL, 'l'};
    longs[n++] = (struct option){"once", no_argument, NULL, 'o'};
    longs[n++] = (struct option){"console", no_argument, NULL, 'C'};
    longs[n++] = (struct option){"merge", no_argument, NULL, 'm'};
    longs[n++] = (struct option){"help", no_argument, NULL, 'h'};
    longs[n++] = (struct option){"quiet", no_argument, NULL, 'q'};
    longs[n] = (struct option){NULL, 0, NULL, 0};

    bot_opts_default(&cli->o);
    /* First pass: the config files, so that every flag overrides them wherever it stands. */
    opterr = 0;
    while ((c = getopt_long(argc, argv, "qh", longs, NULL)) != -1)
        if (c == 'c' && bot_opts_load(&cli->o, optarg, err, sizeof(err)) < 0) {
            fprintf(stderr, "bot: %s\n", err);
            return -1;
        }
    opterr = 1;
    optind = 0;
    while ((c = getopt_long(argc, argv, "qh", longs, NULL)) != -1) {
        char *eq;
        switch (c) {
        case 'c':
            break;
        case 's':
            if ((eq = strchr(optarg, '=')) == NULL) {
                fprintf(stderr, "bot: --set %s: expected NAME=VALUE\n", optarg);
                return -1;
            }
            *eq = '\0';
            if (bot_opts_set(&cli->o, optarg, eq + 1, err, sizeof(err)) < 0) {
                fprintf(stderr, "bot: --set %s\n", err);
                return -1;
            }
            break;
        case 'l':
        case 'o':
            cli->o.loop = c == 'l';
            break;
        case 'C':
            cli->console = true;
            break;
        case 'm':
            cli->nmerge = -1;
            break;
        case 'q':
            cli->quiet = true;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            if (c < 1000 || c >= 1000 + (int)BOT_NFLAGS) {
                usage(stderr);
                return -1;
            }
            if (bot_opts_set(&cli->o, bot_flags[c - 1000].name, optarg, err, sizeof(err)) < 0) {
                fprintf(stderr, "bot: %s\n", err);
                return -1;
            }
        }
    }
    if (cli->nmerge < 0) {
        cli->nmerge = 0;
        while (optind < argc && cli->nmerge < BOT_MAX_MERGE)
            cli->merge[cli->nmerge++] = argv[optind++];
        if (cli->nmerge == 0) {
            fprintf(stderr, "bot: --merge: no report files given\n");
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "bot: unexpected argument \"%s\"\n", argv[optind]);
        usage(stderr);
        return -1;
    }
    if (bot_opts_check(&cli->o, err, sizeof(err)) < 0) {
        fprintf(stderr, "bot: %s\n", err);
        return -1;
    }
    return 0;
}

/* ---- the end of a run: table, JSON, HTML, exit status ------------------------------ */

static void
report_meta(const bot_opts_t *o, char *target, size_t len, bot_report_meta_t *m)
{
    snprintf(target, len, "%s:%d", o->host, o->port);
    *m = (bot_report_meta_t){
        .target = target,
        .login = bot_login_name(o->login),
        .users = o->users,
        .workers = o->workers,
        .arena_size = o->arena_size,
        .game_time_ms = o->game_time_ms,
        .loop = o->loop,
        .duration_s = o->duration_s,
    };
}

/* Prints the table and writes the reports asked for. Returns the exit status. */
static int
report_all(const bot_opts_t *o, const bot_stats_t *s, bool check_done)
{
    char target[300];
    bot_report_meta_t m;
    int status = 0;

    report_meta(o, target, sizeof(target), &m);
    bot_report_table(stdout, s);
    fflush(stdout);
    if (o->json_path[0] && bot_report_json(o->json_path, s, &m) < 0) {
        fprintf(stderr, "bot: %s: %s\n", o->json_path, strerror(errno));
        status = 1;
    }
    if (o->html_path[0] && bot_report_html(o->html_path, s, &m) < 0) {
        fprintf(stderr, "bot: %s: %s\n", o->html_path, strerror(errno));
        status = 1;
    }
    if (bot_stats_errors(s) > 0) {
        fprintf(stderr, "bot: %llu operations failed\n", (unsigned long long)bot_stats_errors(s));
        status = 1;
    }
    if (check_done && !o->loop && s->done < s->users) {
        fprintf(stderr, "bot: %u of %u users did not finish their game\n", s->users - s->done,
                s->users);
        status = 1;
    }
    return status;
}

static int
merge_reports(const bot_cli_t *cli)
{
    bot_stats_t *s = ff_calloc(1, sizeof(*s));
    char err[BOT_PATH_MAX + 256];
    int status;

    for (int i = 0; i < cli->nmerge; i++)
        if (bot_report_load(cli->merge[i], s, err, sizeof(err)) < 0) {
            fprintf(stderr, "bot: %s\n", err);
            ff_free(s);
            return 2;
        }
    status = report_all(&cli->o, s, false);
    ff_free(s);
    return status;
}

/* ---- running: one process, or workers ----------------------------------------------- */

typedef struct {
    uv_loop_t loop;
    bot_opts_t o;
    bool quiet, tty;
    bot_stats_t *shared; /* one per worker */
    uint32_t nworkers;
    pid_t pids[64];
    uint32_t running;   /* workers (or runs) not finished */
    bool worker_failed; /* a worker exited abnormally: its figures may be partial */
    bot_run_t *run;     /* the in-process run */
    bot_stats_t *view;  /* merged for the live line */
    uv_timer_t progress;
    uv_signal_t sigint, sigterm, sigchld;
    double last_line_s;
} bot_main_t;

static void
signals_close(bot_main_t *b)
{
    uv_close((uv_handle_t *)&b->progress, NULL);
    uv_close((uv_handle_t *)&b->sigint, NULL);
    uv_close((uv_handle_t *)&b->sigterm, NULL);
    uv_close((uv_handle_t *)&b->sigchld, NULL);
}

static void
run_done_cb(bot_run_t *r, void *arg)
{
    bot_main_t *b = arg;

    (void)r;
    b->running = 0;
    signals_close(b);
}

/* Merges the workers' figures into b->view. */
static void
merge_view(bot_main_t *b)
{
    memset(b->view, 0, sizeof(*b->view));
    *b->view = b->shared[0];
    for (uint32_t i = 1; i < b->nworkers; i++)
        bot_stats_merge(b->view, &b->shared[i]);
}

static void
progress_cb(uv_timer_t *t)
{
    bot_main_t *b = t->data;
    char line[256];

    merge_view(b);
    if (!b->tty && b->view->elapsed_s - b->last_line_s < b->o.progress_s)
        return;
    b->last_line_s = b->view->elapsed_s;
    bot_report_progress(line, sizeof(line), b->view);
    fprintf(stderr, b->tty ? "\r%s\033[K" : "%s\n", line);
}

static void
stop_signal_cb(uv_signal_t *h, int signum)
{
    bot_main_t *b = h->data;

    (void)signum;
    if (b->nworkers == 1) {
        if (b->run != NULL)
            bot_run_stop(b->run);
        return;
    }
    for (uint32_t i = 0; i < b->nworkers; i++)
        if (b->pids[i] > 0)
            kill(b->pids[i], SIGTERM);
}

static void
sigchld_cb(uv_signal_t *h, int signum)
{
    bot_main_t *b = h->data;
    int status;

    (void)signum;
    for (uint32_t i = 0; i < b->nworkers; i++) {
        if (b->pids[i] > 0 && waitpid(b->pids[i], &status, WNOHANG) == b->pids[i]) {
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                fprintf(stderr, "bot: worker %u (pid %d) ended abnormally (status %d)\n", i,
                        (int)b->pids[i], status);
                b->worker_failed = true;
            }
            b->pids[i] = 0;
            b->shared[i].online = b->shared[i].in_game = 0;
            b->running--;
        }
    }
    if (b->running == 0)
        signals_close(b);
}

static void
worker_signal_cb(uv_signal_t *h, int signum)
{
    (void)signum;
    bot_run_stop(h->data);
}

static void
worker_done_cb(bot_run_t *r, void *arg)
{
    (void)r;
    uv_close((uv_handle_t *)arg, NULL);
    signal(SIGTERM, SIG_IGN); /* libuv restored the default: a late stop must not kill us */
}

/* The signals held back while workers are forked and their handlers not yet in place. */
static void
signals_hold(bool hold)
{
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGCHLD);
    sigprocmask(hold ? SIG_BLOCK : SIG_UNBLOCK, &set, NULL);
}

/* A worker process: its slice of the users on its own loop; exits when the run ends. */
static void
worker_main(const bot_opts_t *o, bot_stats_t *stats, uint32_t first, uint32_t n)
{
    uv_loop_t loop;
    uv_signal_t sig;
    bot_run_t *r;

    uv_loop_init(&loop);
    bot_stats_init(stats, n);
    uv_signal_init(&loop, &sig);
    if ((r = bot_run_start(&loop, o, stats, first, n, worker_done_cb, &sig)) == NULL)
        _exit(2);
    sig.data = r;
    uv_signal_start(&sig, worker_signal_cb, SIGTERM);
    signals_hold(false); /* a stop sent meanwhile is delivered now */
    uv_run(&loop, UV_RUN_DEFAULT);
    bot_run_free(r);
    uv_loop_close(&loop);
    _exit(0);
}

/* Forks the workers; in the parent, returns 0 (or -1 when a fork failed). */
static int
spawn_workers(bot_main_t *b)
{
    pid_t parent = getpid();

    for (uint32_t i = 0; i < b->nworkers; i++) {
        uint32_t first = (uint32_t)((uint64_t)b->o.users * i / b->nworkers);
        uint32_t next = (uint32_t)((uint64_t)b->o.users * (i + 1) / b->nworkers);
        pid_t pid = fork();
        if (pid < 0) {
            fprintf(stderr, "bot: fork: %s\n", strerror(errno));
            return -1;
        }
        if (pid == 0) {
            /* Ctrl-C reaches the whole process group: the parent forwards it as SIGTERM. */
            signal(SIGINT, SIG_IGN);
            prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
            if (getppid() != parent)
                _exit(2);
            worker_main(&b->o, &b->shared[i], first, next - first);
        }
        b->pids[i] = pid;
        b->running++;
    }
    return 0;
}

static void
main_signals(bot_main_t *b)
{
    uv_signal_init(&b->loop, &b->sigint);
    uv_signal_init(&b->loop, &b->sigterm);
    uv_signal_init(&b->loop, &b->sigchld);
    b->sigint.data = b->sigterm.data = b->sigchld.data = b;
    uv_signal_start(&b->sigint, stop_signal_cb, SIGINT);
    uv_signal_start(&b->sigterm, stop_signal_cb, SIGTERM);
    if (b->nworkers > 1)
        uv_signal_start(&b->sigchld, sigchld_cb, SIGCHLD);
    uv_timer_init(&b->loop, &b->progress);
    b->progress.data = b;
    if (!b->quiet)
        uv_timer_start(&b->progress, progress_cb, 1000, 1000);
}

static int
run_main(const bot_cli_t *cli)
{
    bot_main_t *b = ff_calloc(1, sizeof(*b));
    size_t shared_len;
    int status = 2;

    b->o = cli->o;
    b->quiet = cli->quiet;
    b->tty = isatty(STDERR_FILENO);
    b->nworkers = b->o.workers;
    shared_len = sizeof(bot_stats_t) * b->nworkers;
    b->shared = mmap(NULL, shared_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    b->view = ff_calloc(1, sizeof(*b->view));
    if (b->shared == MAP_FAILED) {
        fprintf(stderr, "bot: mmap: %s\n", strerror(errno));
        goto out;
    }
    for (uint32_t i = 0; i < b->nworkers; i++)
        bot_stats_init(&b->shared[i], 0);
    signals_hold(true); /* until the handlers are in place, here and in the workers */
    if (b->nworkers > 1 && spawn_workers(b) < 0) {
        signals_hold(false);
        for (uint32_t i = 0; i < b->nworkers; i++)
            if (b->pids[i] > 0)
                kill(b->pids[i], SIGTERM);
        goto out;
    }
    uv_loop_init(&b->loop);
    main_signals(b);
    signals_hold(false);
    if (b->nworkers == 1) {
        bot_stats_init(&b->shared[0], b->o.users);
        b->run = bot_run_start(&b->loop, &b->o, &b->shared[0], 0, b->o.users, run_done_cb, b);
        if (b->run == NULL)
            signals_close(b);
        b->running = b->run != NULL;
    }
    uv_run(&b->loop, UV_RUN_DEFAULT);
    uv_loop_close(&b->loop);
    if (b->tty && !b->quiet)
        fputc('\n', stderr);
    if (b->nworkers > 1 || b->run != NULL) {
        merge_view(b);
        status = report_all(&b->o, b->view, true);
        if (b->worker_failed)
            status = 1;
    }
    bot_run_free(b->run);
out:
    if (b->shared != MAP_FAILED)
        munmap(b->shared, shared_len);
    ff_free(b->view);
    ff_free(b);
    return status;
}

/* One descriptor per user: lets thousands of users fit. */
static void
raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int
main(int argc, char **argv)
{
    bot_cli_t cli = {0};

    signal(SIGPIPE, SIG_IGN);
    raise_nofile();
    if (parse_args(argc, argv, &cli) < 0)
        return 2;
    if (cli.nmerge > 0)
        return merge_reports(&cli);
    if (cli.console)
        return bot_console_main(&cli.o);
    return run_main(&cli);
}
