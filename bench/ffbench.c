/* ffbench: load figures for firefly-c. Starts a cluster of 1 net, 1 gate and 2 game nodes
 * running the echo app (or targets a running one with --port), then runs closed-loop
 * scenarios and one paced open-loop scenario from one libuv client and prints requests/s,
 * p50/p99/max latency and errors. A closed loop's latency is only conns x depth / throughput
 * (Little's law); the paced one shows how the server answers a load it can carry. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "cluster.h"
#include "ffclient.h"
#include "load.h"

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

#define BENCH_SCENARIO_NAMES "1x1 64x1 64x16 1000x1 1000x1@R"

typedef struct {
    const char *bin;
    const char *app; /* NULL: BIN/../build/apps/libecho.so */
    const char *host;
    int port; /* 0: start a cluster */
    const char *scenario;
    double duration_s, warmup_s;
    double rate; /* requests/s of the paced scenario */
    bool keep;
} bench_opts_t;

static void
bench_usage(FILE *f)
{
    fprintf(f,
            "usage: ffbench [--bin DIR] [--app PATH] [--host H --port P] [--scenario NAME]\n"
            "               [--duration S] [--warmup S] [--rate R] [--keep]\n"
            "  --bin DIR       where master and the role binaries are (default: bin)\n"
            "  --app PATH      echo app for the game nodes (default: DIR/../build/apps/"
            "libecho.so)\n"
            "  --host/--port   target a running cluster's net port instead of starting one\n"
            "  --scenario S    one of " BENCH_SCENARIO_NAMES " (default: all)\n"
            "                  CONNSxDEPTH: closed loop, each conn keeps DEPTH requests "
            "outstanding\n"
            "                  CONNSxDEPTH@R: open loop, R requests/s on a fixed schedule\n"
            "  --rate R        requests/s of the paced scenario (default %.0f)\n"
            "  --duration S    measured seconds per scenario (default 5), after --warmup "
            "(default 1)\n"
            "  --keep          keep the temp dir with config.json and the logs\n",
            BENCH_DEFAULT_RATE);
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
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
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
    bench_load_opts_t lo = {o->host,      port,     *ffc_proto_default(),   1,
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
           bench_hist_percentile(&r.hist, 50) / 1e3, bench_hist_percentile(&r.hist, 99) / 1e3,
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

int
main(int argc, char **argv)
{
    bench_opts_t o = {"bin", NULL, "127.0.0.1", 0, NULL, 5, 1, BENCH_DEFAULT_RATE, false};
    char guess[PATH_MAX + 32], app[PATH_MAX];
    bench_cluster_t *c;
    int rc;

    if ((rc = bench_parse_args(argc, argv, &o)) != 0)
        return rc > 0 ? 0 : 1;
    if (!bench_scenario_known(o.scenario))
        return 1;
    bench_raise_nofile();
    if (o.port > 0)
        return bench_run_all(&o, o.port) == 0 ? 0 : 1;
    if (o.app != NULL)
        snprintf(guess, sizeof(guess), "%s", o.app);
    else
        snprintf(guess, sizeof(guess), "%s/../build/apps/libecho.so", o.bin);
    /* master runs in a temp dir, so the app path must be absolute. */
    if (realpath(guess, app) == NULL) {
        fprintf(stderr, "ffbench: %s: %s (run make all)\n", guess, strerror(errno));
        return 1;
    }
    if ((c = bench_cluster_start(o.bin, app, 30000)) == NULL)
        return 1;
    printf("ffbench: cluster of 1 net, 1 gate, 2 game (echo) in %s, net port %d\n",
           bench_cluster_dir(c), bench_cluster_net_port(c));
    rc = bench_run_all(&o, bench_cluster_net_port(c));
    if (rc != 0)
        bench_cluster_dump_logs(c);
    if (bench_cluster_stop(c, 30000) < 0)
        rc = rc == 0 ? 1 : rc;
    bench_cluster_free(c, o.keep);
    return rc == 0 ? 0 : 1;
}
