/* ffbench: load figures for firefly-c. Starts a cluster of 1 net, 1 gate and 2 game nodes
 * running the echo app (or targets a running one with --port), then runs closed-loop
 * scenarios and one paced open-loop scenario from one libuv client and prints requests/s,
 * p50/p99/max latency and errors. A closed loop's latency is only conns x depth / throughput
 * (Little's law); the paced one shows how the server answers a load it can carry.
 * Then the store section (store.h): its own cluster with dbfront, MariaDB and memcached,
 * acknowledged writes/s, rows/s flushed into MariaDB, and read latency on a memcached hit
 * and on misses. Then the bot section (botbench.h): 1,000 looping arena players of bin/bot
 * against a cluster of their own, and the bot's report table. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "botbench.h"
#include "cluster.h"
#include "echo/echo_proto.h"
#include "ffclient.h"
#include "load.h"
#include "store.h"

/* About 30% of what 1000x1 carries closed-loop (~70k/s on 2 CPUs, client included); at 40k
 * the rate still holds there but p99 already swings from 5 to 40 ms with queueing. */
#define BENCH_DEFAULT_RATE 20000.0

typedef struct {
    const char *name;
    int conns, depth;
    bool paced; /* open loop at --rate requests/s */
} bench_scenario_t;

static const bench_scenario_t bench_scenarios[] = {
    {"1x1", 1, 1, false},       {"64x1", 64, 1, false},      {"64x16", 64, 16, false},
    {"1000x1", 1000, 1, false}, {"1000x1@R", 1000, 1, true},
};

#define BENCH_SCENARIO_NAMES "1x1 64x1 64x16 1000x1 1000x1@R store bot"

/* The bot section: users, seconds, game time. */
#define BENCH_BOT_USERS 1000
#define BENCH_BOT_DURATION_S 60.0
#define BENCH_BOT_GAME_MS 1000

/* The store section: writes per game node closed-loop, outstanding per node, the paced
 * phase's rate over both nodes (--duration long), reads per node and phase. 64 outstanding
 * per node: dbfront commits a loop turn's writes with one fdatasync, so a closed loop needs
 * that many writes in flight to fill its batches. */
#define BENCH_STORE_WRITES 50000
#define BENCH_STORE_CONC 64
#define BENCH_STORE_RATE 20000.0
#define BENCH_STORE_READS 20000
#define BENCH_STORE_READ_CONC 8
#define BENCH_STORE_SYNC_S 1

typedef struct {
    const char *bin;
    const char *app; /* NULL: BIN/../build/apps/libecho.so */
    const char *host;
    int port; /* 0: start a cluster */
    const char *scenario;
    double duration_s, warmup_s;
    double rate; /* requests/s of the paced scenario */
    bool keep;
    bool no_store;
    const char *store_app; /* NULL: BIN/../build/test/apps/libstorebench.so */
    long store_writes, store_reads;
    int store_conc, store_read_conc;
    double store_rate; /* 0: no paced write phase */
    int store_sync_s;  /* dbfront's syncInterval */
    bool no_bot;
    long bot_users;
    double bot_duration_s;
} bench_opts_t;

static void
bench_usage(FILE *f)
{
    fprintf(f,
            "usage: ffbench [--bin DIR] [--app PATH] [--host H --port P] [--scenario NAME]\n"
            "               [--duration S] [--warmup S] [--rate R] [--keep] [--no-store]\n"
            "               [--store-app PATH] [--store-writes N] [--store-conc C]\n"
            "               [--store-rate R] [--store-reads N] [--store-read-conc C]\n"
            "               [--store-sync S] [--no-bot] [--bot-users N] [--bot-duration S]\n"
            "  --bin DIR       where master and the role binaries are (default: bin)\n"
            "  --app PATH      echo app for the game nodes (default: DIR/../build/apps/"
            "libecho.so)\n"
            "  --host/--port   target a running cluster's net port instead of starting one\n"
            "  --scenario S    one of " BENCH_SCENARIO_NAMES " (default: all; store is\n"
            "                  skipped with --port or --no-store)\n"
            "                  CONNSxDEPTH: closed loop, each conn keeps DEPTH requests "
            "outstanding\n"
            "                  CONNSxDEPTH@R: open loop, R requests/s on a fixed schedule\n"
            "  --rate R        requests/s of the paced scenario (default %.0f)\n"
            "  --duration S    measured seconds per scenario (default 5), after --warmup "
            "(default 1)\n"
            "  --keep          keep the temp dirs with config.json, the logs and the db servers'\n"
            "                  data (the servers are stopped)\n"
            "store: its own cluster (gate, net, dbfront with syncInterval S, 2 game nodes\n"
            "  running the storebench test app) and private MariaDB + memcached started by\n"
            "  DIR/../scripts/db.sh on free ports. Both game nodes at once:\n"
            "    write closed   --store-writes N per node (default %d), --store-conc C\n"
            "                   outstanding per node (default %d): acknowledged writes/s\n"
            "    write @R       --store-rate R writes/s over both nodes (default %.0f; 0 = skip)\n"
            "                   for --duration seconds, latency from each write's due time\n"
            "    read hit       --store-reads N per node (default %d), --store-read-conc C\n"
            "                   outstanding per node (default %d), rows in memcached\n"
            "    read miss dbf  after memcached flush_all: dbfront answers from its rows\n"
            "    read miss db   rows seeded into MariaDB before dbfront started\n"
            "  then rows/s flushed into MariaDB per write phase and whether the flush kept up.\n"
            "  --store-app PATH  default: DIR/../build/test/apps/libstorebench.so (make tests)\n"
            "  --store-sync S    dbfront's syncInterval in seconds (default %d)\n"
            "bot: its own cluster (game1 arena, game2 echo) and DIR/bot with --bot-users N\n"
            "  (default %d) looping users for --bot-duration S seconds (default %.0f), game\n"
            "  time %d ms, echo login; prints the bot's table. --no-bot skips it.\n",
            BENCH_DEFAULT_RATE, BENCH_STORE_WRITES, BENCH_STORE_CONC, BENCH_STORE_RATE,
            BENCH_STORE_READS, BENCH_STORE_READ_CONC, BENCH_STORE_SYNC_S, BENCH_BOT_USERS,
            BENCH_BOT_DURATION_S, BENCH_BOT_GAME_MS);
}

/* Parses a positive number of seconds. Returns 0 or -1. */
static int
bench_parse_seconds(const char *s, double *out)
{
    char *end;

    *out = strtod(s, &end);
    return end != s && *end == '\0' && *out > 0 && *out < 86400 ? 0 : -1;
}

/* Parses a rate in requests/s, 1 .. 10,000,000. Returns 0 or -1. */
static int
bench_parse_rate(const char *s, double *out)
{
    char *end;

    *out = strtod(s, &end);
    return end != s && *end == '\0' && *out >= 1 && *out <= 1e7 ? 0 : -1;
}

/* Parses an integer in [min, max]. Returns 0 or -1. */
static int
bench_parse_count(const char *s, long min, long max, long *out)
{
    char *end;

    errno = 0;
    *out = strtol(s, &end, 10);
    return end != s && *end == '\0' && errno == 0 && *out >= min && *out <= max ? 0 : -1;
}

/* Parses the command line. Returns 0, 1 to exit with success (--help), -1 on error. */
static int
bench_parse_args(int argc, char **argv, bench_opts_t *o)
{
    static const struct option longopts[] = {
        {"bin", required_argument, NULL, 'b'},
        {"app", required_argument, NULL, 'a'},
        {"host", required_argument, NULL, 'H'},
        {"port", required_argument, NULL, 'p'},
        {"scenario", required_argument, NULL, 's'},
        {"duration", required_argument, NULL, 'd'},
        {"warmup", required_argument, NULL, 'w'},
        {"rate", required_argument, NULL, 'r'},
        {"keep", no_argument, NULL, 'k'},
        {"no-store", no_argument, NULL, 'N'},
        {"store-app", required_argument, NULL, 'A'},
        {"store-writes", required_argument, NULL, 'W'},
        {"store-conc", required_argument, NULL, 'C'},
        {"store-rate", required_argument, NULL, 'R'},
        {"store-reads", required_argument, NULL, 'E'},
        {"store-read-conc", required_argument, NULL, 'c'},
        {"store-sync", required_argument, NULL, 'S'},
        {"no-bot", no_argument, NULL, 'B'},
        {"bot-users", required_argument, NULL, 'U'},
        {"bot-duration", required_argument, NULL, 'D'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    long n;
    int ch;

    while ((ch = getopt_long(argc, argv, "b:a:H:p:s:d:w:r:kh", longopts, NULL)) != -1) {
        if (ch == 'b')
            o->bin = optarg;
        else if (ch == 'a')
            o->app = optarg;
        else if (ch == 'H')
            o->host = optarg;
        else if (ch == 's')
            o->scenario = optarg;
        else if (ch == 'k')
            o->keep = true;
        else if (ch == 'N')
            o->no_store = true;
        else if (ch == 'B')
            o->no_bot = true;
        else if (ch == 'U' && bench_parse_count(optarg, 1, 100000, &o->bot_users) == 0)
            continue;
        else if (ch == 'D' && bench_parse_seconds(optarg, &o->bot_duration_s) == 0)
            continue;
        else if (ch == 'A')
            o->store_app = optarg;
        else if (ch == 'W' && bench_parse_count(optarg, 1, 5000000, &o->store_writes) == 0)
            continue;
        else if (ch == 'E' && bench_parse_count(optarg, 1, 5000000, &o->store_reads) == 0)
            continue;
        else if (ch == 'C' && bench_parse_count(optarg, 1, 4096, &n) == 0)
            o->store_conc = (int)n;
        else if (ch == 'c' && bench_parse_count(optarg, 1, 4096, &n) == 0)
            o->store_read_conc = (int)n;
        else if (ch == 'S' && bench_parse_count(optarg, 1, 3600, &n) == 0)
            o->store_sync_s = (int)n;
        else if (ch == 'R' && bench_parse_count(optarg, 0, 10000000, &n) == 0)
            o->store_rate = (double)n;
        else if (ch == 'p' && (o->port = atoi(optarg)) > 0 && o->port < 65536)
            continue;
        else if (ch == 'd' && bench_parse_seconds(optarg, &o->duration_s) == 0)
            continue;
        else if (ch == 'w' && bench_parse_seconds(optarg, &o->warmup_s) == 0)
            continue;
        else if (ch == 'r' && bench_parse_rate(optarg, &o->rate) == 0)
            continue;
        else
            goto usage;
    }
    if (optind == argc)
        return 0;
usage:
    bench_usage(ch == 'h' ? stdout : stderr);
    return ch == 'h' ? 1 : -1;
}

/* Lets 1000 connections (plus the loop's own descriptors) fit. */
static void
bench_raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* The scenario's label in the table: its name, with the paced one's R filled in. */
static void
bench_scenario_label(const bench_opts_t *o, const bench_scenario_t *s, char *out, size_t n)
{
    if (!s->paced)
        snprintf(out, n, "%s", s->name);
    else if (o->rate >= 1000 && o->rate == 1000 * (double)(long)(o->rate / 1000))
        snprintf(out, n, "%dx%d@%.0fk", s->conns, s->depth, o->rate / 1000);
    else
        snprintf(out, n, "%dx%d@%.0f", s->conns, s->depth, o->rate);
}

/* Runs one scenario and prints its line: a closed loop's throughput, or the rate a paced
 * scenario achieved (replies received per second of the window). Returns 0, or -1 when it
 * had errors. */
static int
bench_run_scenario(const bench_opts_t *o, const bench_scenario_t *s, int port)
{
    static bench_load_result_t r; /* the histogram is large */
    bench_load_opts_t lo = {o->host,      port,     *ffc_proto_default(),   ECHO_CMD,
                            s->conns,     s->depth, s->paced ? o->rate : 0, o->warmup_s,
                            o->duration_s};
    char label[32];
    double rate;
    int rc = bench_load_run(&lo, &r);

    bench_scenario_label(o, s, label, sizeof(label));
    if (rc < 0) {
        fprintf(stderr, "ffbench: %s: %s\n", label, r.first_error);
        return -1;
    }
    rate = (double)(s->paced ? r.completed : r.requests) / r.seconds;
    printf("%-12s %-6s %6d %6d %11.0f %9.1f %9.1f %9.1f %7llu\n", label,
           s->paced ? "paced" : "closed", s->conns, s->depth, rate,
           ff_hist_percentile(&r.hist, 50) / 1e3, ff_hist_percentile(&r.hist, 99) / 1e3,
           r.hist.max / 1e3, (unsigned long long)r.errors);
    if (s->paced && rate < 0.95 * o->rate)
        printf("             achieved rate below 95%% of %.0f/s: the server (or this client) "
               "cannot keep up\n",
               o->rate);
    if (r.errors > 0)
        printf("             first error: %s\n", r.first_error);
    fflush(stdout);
    return r.errors > 0 || r.requests == 0 ? -1 : 0;
}

/* Whether --scenario is absent or names a scenario. */
static bool
bench_scenario_known(const char *name)
{
    size_t i;

    for (i = 0; name != NULL && i < sizeof(bench_scenarios) / sizeof(bench_scenarios[0]); i++)
        if (strcmp(name, bench_scenarios[i].name) == 0)
            return true;
    if (name != NULL)
        fprintf(stderr, "ffbench: no scenario named \"%s\" (" BENCH_SCENARIO_NAMES ")\n", name);
    return name == NULL;
}

/* Runs the selected scenarios against port. Returns the number that failed. */
static int
bench_run_all(const bench_opts_t *o, int port)
{
    size_t i;
    int failed = 0;

    printf("closed NxD:  N conns, each keeping D requests outstanding; latency = N*D / req/s\n"
           "paced NxD@R: open loop, R req/s on a fixed schedule over N conns, at most D "
           "outstanding each;\n"
           "             latency from each request's scheduled send time\n");
    printf("%-12s %-6s %6s %6s %11s %9s %9s %9s %7s\n", "scenario", "mode", "conns", "depth",
           "req/s", "p50(us)", "p99(us)", "max(us)", "errors");
    for (i = 0; i < sizeof(bench_scenarios) / sizeof(bench_scenarios[0]); i++) {
        if (o->scenario != NULL && strcmp(o->scenario, bench_scenarios[i].name) != 0)
            continue;
        if (bench_run_scenario(o, &bench_scenarios[i], port) < 0)
            failed++;
    }
    return failed;
}

/* The echo scenarios on a cluster of their own. Returns 0, or -1 when any failed. */
static int
bench_echo(const bench_opts_t *o)
{
    char guess[PATH_MAX + 32], app[PATH_MAX];
    bench_cluster_t *c;
    int rc;

    if (o->app != NULL)
        snprintf(guess, sizeof(guess), "%s", o->app);
    else
        snprintf(guess, sizeof(guess), "%s/../build/apps/libecho.so", o->bin);
    /* master runs in a temp dir, so the app path must be absolute. */
    if (realpath(guess, app) == NULL) {
        fprintf(stderr, "ffbench: %s: %s (run make all)\n", guess, strerror(errno));
        return -1;
    }
    if ((c = bench_cluster_start(o->bin, app, NULL, NULL, 30000)) == NULL)
        return -1;
    printf("ffbench: cluster of 1 net, 1 gate, 2 game (echo) in %s, net port %d\n",
           bench_cluster_dir(c), bench_cluster_net_port(c));
    rc = bench_run_all(o, bench_cluster_net_port(c));
    if (rc != 0)
        bench_cluster_dump_logs(c);
    if (bench_cluster_stop(c, 30000) < 0)
        rc = -1;
    bench_cluster_free(c, o->keep);
    return rc == 0 ? 0 : -1;
}

/* The store section (store.h). Returns 0 or -1. */
static int
bench_store(const bench_opts_t *o)
{
    char guess[PATH_MAX + 48], app[PATH_MAX], script[PATH_MAX + 48];
    bench_store_opts_t so = {.bin = o->bin,
                             .app = app,
                             .script = script,
                             .writes = o->store_writes,
                             .write_conc = o->store_conc,
                             .rate = o->store_rate,
                             .paced_s = o->duration_s,
                             .reads = o->store_reads,
                             .read_conc = o->store_read_conc,
                             .sync_interval_s = o->store_sync_s,
                             .keep = o->keep};

    if (o->store_app != NULL)
        snprintf(guess, sizeof(guess), "%s", o->store_app);
    else
        snprintf(guess, sizeof(guess), "%s/../build/test/apps/libstorebench.so", o->bin);
    if (realpath(guess, app) == NULL) {
        fprintf(stderr, "ffbench: %s: %s (run make tests)\n", guess, strerror(errno));
        return -1;
    }
    snprintf(script, sizeof(script), "%s/../scripts/db.sh", o->bin);
    return bench_store_run(&so);
}

/* The bot section (botbench.h). Returns 0 or -1. */
static int
bench_bot(const bench_opts_t *o)
{
    bench_bot_opts_t bo = {.bin = o->bin,
                           .users = (int)o->bot_users,
                           .duration_s = o->bot_duration_s,
                           .game_time_ms = BENCH_BOT_GAME_MS,
                           .keep = o->keep};

    return bench_bot_run(&bo);
}

int
main(int argc, char **argv)
{
    bench_opts_t o = {"bin",
                      NULL,
                      "127.0.0.1",
                      0,
                      NULL,
                      5,
                      1,
                      BENCH_DEFAULT_RATE,
                      false,
                      false,
                      NULL,
                      BENCH_STORE_WRITES,
                      BENCH_STORE_READS,
                      BENCH_STORE_CONC,
                      BENCH_STORE_READ_CONC,
                      BENCH_STORE_RATE,
                      BENCH_STORE_SYNC_S,
                      false,
                      BENCH_BOT_USERS,
                      BENCH_BOT_DURATION_S};
    bool only_store, only_bot;
    int rc;

    if ((rc = bench_parse_args(argc, argv, &o)) != 0)
        return rc > 0 ? 0 : 1;
    only_store = o.scenario != NULL && strcmp(o.scenario, "store") == 0;
    only_bot = o.scenario != NULL && strcmp(o.scenario, "bot") == 0;
    if (!only_store && !only_bot && !bench_scenario_known(o.scenario))
        return 1;
    if ((only_store || only_bot) && (o.port > 0 || o.no_store || o.no_bot)) {
        fprintf(stderr,
                "ffbench: --scenario %s starts its own cluster: drop --port, "
                "--no-store and --no-bot\n",
                o.scenario);
        return 1;
    }
    bench_raise_nofile();
    if (o.port > 0)
        return bench_run_all(&o, o.port) == 0 ? 0 : 1;
    if (!only_store && !only_bot && bench_echo(&o) < 0)
        rc = 1;
    if ((only_store || (o.scenario == NULL && !o.no_store)) && bench_store(&o) < 0)
        rc = 1;
    if ((only_bot || (o.scenario == NULL && !o.no_bot)) && bench_bot(&o) < 0)
        rc = 1;
    return rc;
}
