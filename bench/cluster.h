/* cluster: ffbench's own small cluster runner (bench does not link the test harness): writes
 * a config.json with 1 net, 1 gate and 2 game nodes on free ports into a temp dir, starts
 * `BIN/master` there, waits for GET /status to show it ready, and stops it with GET /stop,
 * killing by PID only if it will not stop. */
#ifndef BENCH_CLUSTER_H
#define BENCH_CLUSTER_H

#include <stdbool.h>

typedef struct bench_cluster_s bench_cluster_t;

/* Starts master from bin_dir with the game app `app` (an absolute path) and waits up to
 * timeout_ms for readiness. Returns NULL after printing why and master's output. */
bench_cluster_t *bench_cluster_start(const char *bin_dir, const char *app, int timeout_ms);
/* The client port of the net node. */
int bench_cluster_net_port(const bench_cluster_t *c);
/* The temp dir holding config.json and the logs. */
const char *bench_cluster_dir(const bench_cluster_t *c);
/* GET /stop, then waits up to timeout_ms for master to exit 0 and its nodes to be gone;
 * kills what is left by PID. Returns 0, or -1 (printed) when anything had to be killed or
 * master exited non-zero. */
int bench_cluster_stop(bench_cluster_t *c, int timeout_ms);
/* Prints master.out and the node logs to stderr. */
void bench_cluster_dump_logs(const bench_cluster_t *c);
/* Kills anything left, removes the temp dir unless keep, frees c. NULL: no-op. */
void bench_cluster_free(bench_cluster_t *c, bool keep);

#endif
