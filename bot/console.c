/* console: a line-oriented prompt on the same libuv loop as the run it drives, so `status`
 * and `report` read the figures of a run while it goes on. Runs are single-process here
 * (the `workers` option is for command-line runs). End of input (a piped script, Ctrl-D)
 * lets a run going on finish before the console exits; Ctrl-C stops the run, or quits. */
#include "console.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "alloc.h"
#include "report.h"
#include "run.h"
#include "stats.h"

#define CONSOLE_LINE_MAX 1024

typedef struct {
    uv_loop_t loop;
    union {
        uv_tty_t tty;
        uv_pipe_t pipe;
    } in;
    bool tty, quitting;
    uv_signal_t sigint;
    bot_opts_t o;
    bot_opts_t run_o; /* the options of the last run, for its report */
    bot_stats_t *stats;
    bot_run_t *run; /* the run going on, or the last one until the next starts */
    bool running;
    char line[CONSOLE_LINE_MAX];
    size_t line_len;
    int status;
} console_t;

static void
prompt(console_t *c)
{
    if (c->tty && !c->quitting) {
        fputs("bot> ", stdout);
        fflush(stdout);
    }
}

static void
print_line(void *arg, const char *line)
{
    (void)arg;
    printf("  %s\n", line);
}

static void
report(console_t *c)
{
    char target[300];
    const bot_opts_t *o = &c->run_o;
    bot_report_meta_t m = {.target = target,
                           .login = bot_login_name(o->login),
                           .users = o->users,
                           .workers = 1,
                           .arena_size = o->arena_size,
                           .game_time_ms = o->game_time_ms,
                           .loop = o->loop,
                           .duration_s = o->duration_s};

    if (c->run == NULL) {
        printf("no run yet: `run` starts one\n");
        return;
    }
    snprintf(target, sizeof(target), "%s:%d", o->host, o->port);
    bot_report_table(stdout, c->stats);
    if (o->json_path[0] && bot_report_json(o->json_path, c->stats, &m) < 0)
        printf("%s: %s\n", o->json_path, strerror(errno));
    else if (o->json_path[0])
        printf("JSON report: %s\n", o->json_path);
    if (o->html_path[0] && bot_report_html(o->html_path, c->stats, &m) < 0)
        printf("%s: %s\n", o->html_path, strerror(errno));
    else if (o->html_path[0])
        printf("HTML report: %s\n", o->html_path);
}

static void
input_closed_cb(uv_handle_t *h)
{
    (void)h;
}

/* Closes stdin and the Ctrl-C handler once nothing runs; the loop then ends. */
static void
maybe_finish(console_t *c)
{
    if (c->quitting && !c->running && !uv_is_closing((uv_handle_t *)&c->in)) {
        uv_close((uv_handle_t *)&c->in, input_closed_cb);
        uv_close((uv_handle_t *)&c->sigint, input_closed_cb);
    }
}

static void
run_done_cb(bot_run_t *r, void *arg)
{
    console_t *c = arg;

    (void)r;
    c->running = false;
    c->status =
        bot_stats_errors(c->stats) > 0 || (!c->run_o.loop && c->stats->done < c->stats->users);
    printf("%srun ended: %llu games, %llu errors (`report` for the table)\n", c->tty ? "\n" : "",
           (unsigned long long)c->stats->games, (unsigned long long)bot_stats_errors(c->stats));
    fflush(stdout);
    prompt(c);
    maybe_finish(c);
}

static void
cmd_run(console_t *c)
{
    char err[256];

    if (c->running) {
        printf("a run is going on: `stop` it first\n");
        return;
    }
    if (bot_opts_check(&c->o, err, sizeof(err)) < 0) {
        printf("%s\n", err);
        return;
    }
    bot_run_free(c->run);
    bot_stats_init(c->stats, c->o.users);
    c->run_o = c->o;
    c->run = bot_run_start(&c->loop, &c->o, c->stats, 0, c->o.users, run_done_cb, c);
    c->running = c->run != NULL;
    if (c->running)
        printf("running %u users (%s) against %s:%d\n", c->o.users, c->o.loop ? "loop" : "once",
               c->o.host, c->o.port);
}

static void
cmd_status(console_t *c)
{
    char line[256];

    if (c->run == NULL) {
        printf("idle: no run yet\n");
        return;
    }
    bot_report_progress(line, sizeof(line), c->stats);
    printf("%s: %s\n", c->running ? "running" : "ended", line);
}

static void
cmd_help(void)
{
    printf("  set NAME VALUE   change an option for the next run (see `show`)\n"
           "  show             every option and its value\n"
           "  run              start a run with the options\n"
           "  stop             end the run now\n"
           "  status           the live figures\n"
           "  report           the table of the run, and the JSON/HTML reports if set\n"
           "  quit             stop and leave\n");
}

/* Handles one line of input. */
static void
console_line(console_t *c, char *line)
{
    char *argv[3] = {NULL, NULL, NULL}, *save = NULL, err[BOT_PATH_MAX + 64];
    int argc = 0;

    for (char *t = strtok_r(line, " \t\r", &save); t != NULL && argc < 3;
         t = strtok_r(NULL, argc == 1 ? " \t\r" : "\r", &save))
        argv[argc++] = t;
    while (argv[2] != NULL && (*argv[2] == ' ' || *argv[2] == '\t'))
        argv[2]++;
    for (size_t n = argv[2] ? strlen(argv[2]) : 0; n > 0 && strchr(" \t", argv[2][n - 1]); n--)
        argv[2][n - 1] = '\0';
    if (argc == 0) {
    } else if (strcmp(argv[0], "set") == 0 && argc == 3) {
        if (bot_opts_set(&c->o, argv[1], argv[2], err, sizeof(err)) < 0)
            printf("%s\n", err);
    } else if (strcmp(argv[0], "show") == 0) {
        bot_opts_print(&c->o, print_line, NULL);
    } else if (strcmp(argv[0], "run") == 0) {
        cmd_run(c);
    } else if (strcmp(argv[0], "stop") == 0) {
        if (c->running)
            bot_run_stop(c->run);
        else
            printf("nothing is running\n");
    } else if (strcmp(argv[0], "status") == 0) {
        cmd_status(c);
    } else if (strcmp(argv[0], "report") == 0) {
        report(c);
    } else if (strcmp(argv[0], "help") == 0) {
        cmd_help();
    } else if (strcmp(argv[0], "quit") == 0 || strcmp(argv[0], "exit") == 0) {
        c->quitting = true;
        if (c->running)
            bot_run_stop(c->run);
    } else {
        printf("unknown command \"%s\" (or wrong arguments): `help` lists them\n", argv[0]);
    }
    fflush(stdout);
}

static void
alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    static char chunk[4096];

    (void)h;
    (void)suggested;
    *buf = uv_buf_init(chunk, sizeof(chunk));
}

static void
read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    console_t *c = s->data;

    if (n < 0) { /* end of input: a last line without newline, then quit once the run ends */
        if (c->line_len > 0 && !c->quitting) {
            c->line[c->line_len] = '\0';
            c->line_len = 0;
            console_line(c, c->line);
        }
        c->quitting = true;
        if (c->running)
            printf("end of input: waiting for the run to end (Ctrl-C stops it)\n");
        fflush(stdout);
        uv_read_stop(s);
        maybe_finish(c);
        return;
    }
    for (ssize_t i = 0; i < n && !c->quitting; i++) {
        if (buf->base[i] != '\n') {
            if (c->line_len + 1 < sizeof(c->line))
                c->line[c->line_len++] = buf->base[i];
            continue;
        }
        c->line[c->line_len] = '\0';
        c->line_len = 0;
        console_line(c, c->line);
        prompt(c);
    }
    maybe_finish(c);
}

static void
sigint_cb(uv_signal_t *h, int signum)
{
    console_t *c = h->data;

    (void)signum;
    if (c->running) {
        bot_run_stop(c->run);
        return;
    }
    c->quitting = true;
    maybe_finish(c);
}

int
bot_console_main(const bot_opts_t *o)
{
    console_t *c = ff_calloc(1, sizeof(*c));
    uv_handle_type kind = uv_guess_handle(STDIN_FILENO);
    int status;

    c->o = *o;
    c->stats = ff_calloc(1, sizeof(*c->stats));
    uv_loop_init(&c->loop);
    if (kind == UV_TTY) {
        c->tty = true;
        uv_tty_init(&c->loop, &c->in.tty, STDIN_FILENO, 1);
    } else if (kind == UV_NAMED_PIPE) {
        uv_pipe_init(&c->loop, &c->in.pipe, 0);
        uv_pipe_open(&c->in.pipe, STDIN_FILENO);
    } else {
        fprintf(stderr, "bot: --console reads a terminal or a pipe\n");
        uv_loop_close(&c->loop);
        ff_free(c->stats);
        ff_free(c);
        return 2;
    }
    ((uv_handle_t *)&c->in)->data = c;
    uv_signal_init(&c->loop, &c->sigint);
    c->sigint.data = c;
    uv_signal_start(&c->sigint, sigint_cb, SIGINT);
    printf("firefly-c bot console: `help` lists the commands\n");
    prompt(c);
    uv_read_start((uv_stream_t *)&c->in, alloc_cb, read_cb);
    uv_run(&c->loop, UV_RUN_DEFAULT);
    uv_loop_close(&c->loop);
    bot_run_free(c->run);
    status = c->status;
    ff_free(c->stats);
    ff_free(c);
    return status;
}
