/* bot_test: bin/bot against a real cluster (gate with the Diablo login on real MariaDB and
 * memcached through dbfront, net, the arena app on its own node). 20 users --once each play
 * exactly one game with zero errors, and every count of the JSON report is what the
 * scenario implies; the HTML report is written; two workers merge their figures; reports
 * merge with --merge; the console runs a game; and a bot that cannot connect exits 1. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alloc.h"
#include "dbenv.h"
#include "harness.h"

static const char config_fmt[] =
    "{\"master\":{\"rootport\":@ROOTPORT@,\"webport\":@WEBPORT@,\"log\":\"@DIR@/master.log\"},\n"
    " \"servers\":{\n"
    "  \"gate\":{\"rootport\":@GATEPORT@,\"app\":\"@REPO@/build/apps/liblogin.so\",\"mem\":true,"
    "\"log\":\"@DIR@/gate.log\",\n"
    "          \"remoteport\":[{\"rootname\":\"dbfront\",\"rootport\":@DBPORT@}]},\n"
    "  \"net\":{\"netport\":@NETPORT@,\"log\":\"@DIR@/net.log\",\n"
    "         \"remoteport\":[{\"rootname\":\"gate\",\"rootport\":@GATEPORT@}]},\n"
    "  \"arena\":{\"role\":\"game\",\"app\":\"@REPO@/build/apps/libarena.so\","
    "\"log\":\"@DIR@/arena.log\",\n"
    "           \"remoteport\":[{\"rootname\":\"gate\",\"rootport\":@GATEPORT@}]},\n"
    "  \"dbfront\":{\"rootport\":@DBPORT@,\"wal\":\"@DIR@/wal\",\"syncInterval\":1,"
    "\"log\":\"@DIR@/dbfront.log\"}},\n"
    " %s,\n"
    " \"tables\":{\"tb_user\":{\"pk\":\"id\",\"incr\":true,\"fk\":\"username\"},\n"
    "            \"tb_character\":{\"pk\":\"id\",\"incr\":true,\"fk\":\"userId\"}},\n"
    /* The bot's default frame settings (DESIGN §4's example), not net's own defaults (a
     * printf format: %% is one %). */
    " \"netconnect\":{\"magic\":\"N%%&0\",\"protoVersion\":9},\n"
    " \"cluster\":{\"requestTimeout\":5000}}\n";

#define BOT_MS 90000 /* a bot run's deadline */
#define USERS 20
#define SIZE 4

typedef struct {
    pid_t pid;
    int status;
    bool exited;
} child_t;

static bool
child_exited(void *arg)
{
    child_t *ch = arg;

    if (!ch->exited && waitpid(ch->pid, &ch->status, WNOHANG) == ch->pid)
        ch->exited = true;
    return ch->exited;
}

/* Runs REPO/bin/bot with args (NULL-terminated) and output to DIR/NAME.out, waits for it to
 * exit (killed by PID at the deadline). Returns its exit code, or -1. */
static int
run_bot(th_cluster_t *c, const char *name, const char *const *args)
{
    char bot[4096], out[4096];
    const char *argv[48];
    child_t ch = {0};
    int n = 0, fd;

    snprintf(bot, sizeof(bot), "%s/bin/bot", th_repo());
    snprintf(out, sizeof(out), "%s/%s.out", th_cluster_dir(c), name);
    argv[n++] = bot;
    while (*args != NULL && n < 47)
        argv[n++] = *args++;
    argv[n] = NULL;
    fflush(stdout);
    if ((ch.pid = fork()) == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
        if ((fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644)) >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
            close(fd);
        }
        execv(bot, (char *const *)argv);
        _exit(127);
    }
    if (ch.pid < 0 || th_wait(child_exited, &ch, BOT_MS) < 0) {
        th_diag("%s: the bot did not exit within %d ms: killed", name, BOT_MS);
        if (ch.pid > 0) {
            kill(ch.pid, SIGKILL);
            waitpid(ch.pid, NULL, 0);
        }
        return -1;
    }
    return WIFEXITED(ch.status) ? WEXITSTATUS(ch.status) : -1;
}

/* Prints DIR/NAME.out as `# ` lines. */
static void
dump_output(th_cluster_t *c, const char *name)
{
    char path[4096], line[512];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s.out", th_cluster_dir(c), name);
    if ((f = fopen(path, "r")) == NULL)
        return;
    while (fgets(line, sizeof(line), f) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        th_diag("%s: %s", name, line);
    }
    fclose(f);
}

/* An integer of ops.OP.FIELD in a report. */
static long long
op_count(json_t *report, const char *op, const char *field)
{
    return json_integer_value(
        json_object_get(json_object_get(json_object_get(report, "ops"), op), field));
}

static json_t *
load_report(th_cluster_t *c, const char *file)
{
    char path[4096];
    json_error_t err;
    json_t *j;

    snprintf(path, sizeof(path), "%s/%s", th_cluster_dir(c), file);
    j = json_load_file(path, 0, &err);
    th_ok(json_is_object(j), "%s parses as a JSON object%s%s", file, j ? "" : ": ",
          j ? "" : err.text);
    return j;
}

/* 20 users, one game each: the counts the scenario implies. */
static void
test_once(th_cluster_t *c)
{
    char port[16], json[4096], html[4096];
    const char *args[] = {"--port", port,           "--users", "20",     "--once", "--game-time",
                          "300",    "--arena-size", "4",       "--ramp", "20",     "--wait-timeout",
                          "3000",   "--json",       json,      "--html", html,     "-q",
                          NULL};
    long long joins, abandoned;
    json_t *r;
    struct stat st;

    snprintf(port, sizeof(port), "%d", th_cluster_port(c, "NETPORT"));
    snprintf(json, sizeof(json), "%s/once.json", th_cluster_dir(c));
    snprintf(html, sizeof(html), "%s/once.html", th_cluster_dir(c));
    if (!TH_EQ_INT(run_bot(c, "once", args), 0, "20 users --once: the bot exits 0"))
        dump_output(c, "once");
    if ((r = load_report(c, "once.json")) == NULL)
        return;
    abandoned = json_integer_value(json_object_get(r, "abandoned"));
    TH_EQ_INT(json_integer_value(json_object_get(r, "errors")), 0, "no operation failed");
    TH_EQ_INT(json_integer_value(json_object_get(r, "games")), USERS,
              "every user played exactly one game");
    TH_EQ_INT(op_count(r, "connect", "ok"), USERS, "one connection per user");
    TH_EQ_INT(op_count(r, "login", "ok"), USERS, "one login per user");
    TH_EQ_INT(op_count(r, "login", "count"), USERS, "and no other login");
    TH_EQ_INT(op_count(r, "result", "ok"), USERS, "one result per user");
    TH_EQ_INT(op_count(r, "wait_start", "ok"), USERS, "one arenaStart per user");
    TH_EQ_INT(op_count(r, "wait_ended", "ok"), USERS, "one arenaEnded per user");
    TH_EQ_INT(op_count(r, "start", "ok"), USERS / SIZE, "one start per full arena of 4");
    joins = op_count(r, "create", "ok") + op_count(r, "enter", "ok");
    TH_EQ_INT(joins, USERS + abandoned,
              "one create or enter per user (plus one per abandoned "
              "wait)");
    TH_EQ_INT(op_count(r, "leave", "ok"), USERS + abandoned, "one leave per join");
    TH_EQ_INT(op_count(r, "list", "ok"),
              op_count(r, "create", "count") + op_count(r, "enter", "count"),
              "every list is followed by one create or enter");
    if (abandoned == 0)
        TH_EQ_INT(op_count(r, "create", "ok"), USERS / SIZE, "arenas created: users / size");
    else
        th_ok(op_count(r, "create", "ok") >= USERS / SIZE, "arenas created: at least %d",
              USERS / SIZE);
    th_ok(json_real_value(
              json_object_get(json_object_get(json_object_get(r, "ops"), "result"), "p99_ms")) > 0,
          "the result's p99 is reported");
    th_ok(stat(html, &st) == 0 && st.st_size > 1000, "the HTML report is written");
    json_decref(r);
}

/* Two workers share 8 users; their figures are merged. */
static void
test_workers(th_cluster_t *c)
{
    char port[16], json[4096];
    const char *args[] = {"--port", port,           "--users", "8",
                          "--once", "--workers",    "2",       "--game-time",
                          "100",    "--arena-size", "4",       "--first-account",
                          "100",    "--ramp",       "20",      "--wait-timeout",
                          "2000",   "--json",       json,      "-q",
                          NULL};
    json_t *r;

    snprintf(port, sizeof(port), "%d", th_cluster_port(c, "NETPORT"));
    snprintf(json, sizeof(json), "%s/workers.json", th_cluster_dir(c));
    if (!TH_EQ_INT(run_bot(c, "workers", args), 0, "2 workers: the bot exits 0"))
        dump_output(c, "workers");
    if ((r = load_report(c, "workers.json")) == NULL)
        return;
    TH_EQ_INT(json_integer_value(json_object_get(r, "games")), 8, "2 workers: 8 games merged");
    TH_EQ_INT(op_count(r, "login", "ok"), 8, "2 workers: 8 logins merged");
    TH_EQ_INT(json_integer_value(json_object_get(r, "errors")), 0, "2 workers: no errors");
    json_decref(r);
}

/* Reports of several bots (machines) merge into one. */
static void
test_merge(th_cluster_t *c)
{
    char a[4096], b[4096], out[4096];
    const char *args[] = {"--merge", a, b, "--json", out, NULL};
    json_t *r;

    snprintf(a, sizeof(a), "%s/once.json", th_cluster_dir(c));
    snprintf(b, sizeof(b), "%s/workers.json", th_cluster_dir(c));
    snprintf(out, sizeof(out), "%s/merged.json", th_cluster_dir(c));
    if (!TH_EQ_INT(run_bot(c, "merge", args), 0, "--merge exits 0"))
        dump_output(c, "merge");
    if ((r = load_report(c, "merged.json")) == NULL)
        return;
    TH_EQ_INT(json_integer_value(json_object_get(r, "games")), USERS + 8,
              "--merge: the games of both reports");
    TH_EQ_INT(op_count(r, "result", "ok"), USERS + 8, "--merge: the results of both reports");
    json_decref(r);
}

/* The console: set, run (4 users, one game), wait for the end, report, quit. */
static bool
output_has(void *arg)
{
    const char **what = arg;
    char buf[65536] = "";
    FILE *f = fopen(what[0], "r");
    size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;

    if (f != NULL)
        fclose(f);
    buf[n] = '\0';
    return strstr(buf, what[1]) != NULL;
}

static void
test_console(th_cluster_t *c)
{
    char bot[4096], out[4096], script[512];
    const char *ended[2] = {out, "run ended: 4 games, 0 errors"}, *table[2] = {out, "leave"};
    int in[2], fd, status = -1;
    child_t ch = {0};
    FILE *w;

    snprintf(bot, sizeof(bot), "%s/bin/bot", th_repo());
    snprintf(out, sizeof(out), "%s/console.out", th_cluster_dir(c));
    if (pipe(in) < 0)
        return;
    fflush(stdout);
    if ((ch.pid = fork()) == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
        dup2(in[0], STDIN_FILENO);
        close(in[0]);
        close(in[1]);
        if ((fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644)) >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
            close(fd);
        }
        execl(bot, bot, "--console", (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    w = fdopen(in[1], "w");
    snprintf(script, sizeof(script),
             "set port %d\nset users 4\nset loop off\nset gameTime 100\nset firstAccount 200\n"
             "set waitTimeout 2000\n"
             "show\nrun\n",
             th_cluster_port(c, "NETPORT"));
    fputs(script, w);
    fflush(w);
    th_ok(th_wait(output_has, ended, BOT_MS) == 0, "console: `run` plays 4 users' games");
    fputs("status\nreport\nquit\n", w);
    fclose(w);
    if (th_wait(child_exited, &ch, 10000) == 0)
        status = WIFEXITED(ch.status) ? WEXITSTATUS(ch.status) : -1;
    else {
        kill(ch.pid, SIGKILL);
        waitpid(ch.pid, NULL, 0);
    }
    TH_EQ_INT(status, 0, "console: quit exits 0");
    if (!th_ok(output_has(table), "console: `report` prints the table"))
        dump_output(c, "console");
}

/* Nothing listens: every connect fails, the exit status is 1. */
static void
test_refused(th_cluster_t *c)
{
    char port[16];
    const char *args[] = {"--port", port, "--users", "4", "--once", "-q", NULL};

    snprintf(port, sizeof(port), "%d", th_free_port());
    TH_EQ_INT(run_bot(c, "refused", args), 1, "a bot that cannot connect exits 1");
}

int
main(void)
{
    dbenv_t *db = dbenv_start();
    th_cluster_t *c;
    char *sections, *config;
    size_t len;

    if (db == NULL)
        return th_done();
    sections = dbenv_config_sections(db);
    len = sizeof(config_fmt) + strlen(sections);
    config = ff_malloc(len);
    snprintf(config, len, config_fmt, sections);
    ff_free(sections);
    if ((c = th_cluster_start(config)) != NULL) {
        test_once(c);
        test_workers(c);
        test_merge(c);
        test_console(c);
        test_refused(c);
        th_cluster_stop(c);
        th_cluster_free(c);
    }
    ff_free(config);
    dbenv_stop(db);
    return th_done();
}
