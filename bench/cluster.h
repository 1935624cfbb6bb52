/* cluster: ffbench's own small cluster runner (bench does not link the test harness): writes
 * a config.json with 1 net, 1 gate and 2 game nodes on free ports into a temp dir (plus, for
 * the store section, a dbfront with its log in DIR/wal, and the game nodes reading
 * memcached), starts `BIN/master` there, waits for GET /status to show it ready, and stops
 * it with GET /stop, killing by PID only if it will not stop. */
#ifndef BENCH_CLUSTER_H
#define BENCH_CLUSTER_H

#include <stdbool.h>
#include <sys/types.h>

typedef struct bench_cluster_s bench_cluster_t;

/* The store servers of a cluster with a dbfront: MariaDB (user and password firefly,
 * database firefly) and memcached on 127.0.0.1. */
typedef struct {
    int mysql_port, memcached_port;
    int sync_interval_s; /* dbfront's syncInterval */
} bench_cluster_store_t;

/* Starts master from bin_dir with the game app `app` (an absolute path) on game1 and `app2`
 * on game2 (NULL: `app` on both), and waits up to
 * timeout_ms for readiness. store: NULL for a cluster without dbfront; else a dbfront on
 * these servers serving tb_item ({"pk":"id","incr":true,"fk":"owner"}), linked from both
 * game nodes ("mem": true), and a requestTimeout of 120 s so that one long bench request
 * is not cut off. Returns NULL after printing why and master's output. */
bench_cluster_t *bench_cluster_start(const char *bin_dir, const char *app, const char *app2,
                                     const bench_cluster_store_t *store, int timeout_ms);
/* A port free on 127.0.0.1 a moment ago, distinct from the `n` in `avoid`; -1 on error. */
int bench_free_port(const int *avoid, int n);
/* master's PID. */
pid_t bench_cluster_master_pid(const bench_cluster_t *c);
/* Master's web port (GET /status, /stop). */
int bench_cluster_web_port(const bench_cluster_t *c);
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
