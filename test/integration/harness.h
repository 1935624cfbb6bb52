/* harness: what every integration test uses: TAP output with file:line and both values on
 * failure, free ports, and a real cluster (bin/master on a temporary config.json) that is
 * waited for by condition, stopped through GET /stop, killed by PID if it will not stop,
 * and whose logs are printed to stderr as `# ` lines whenever a test around it failed.
 *
 * Typical test:
 *     th_cluster_t *c = th_cluster_start(CONFIG);
 *     if (c == NULL)
 *         return th_done();
 *     ffc_t *cl = th_connect(c);
 *     ...TH_EQ_INT(ffc_call(cl, 1, "hi", 2, &m, 5000), 0, "echo answers");...
 *     ffc_close(cl);
 *     th_cluster_stop(c);
 *     th_cluster_free(c);
 *     return th_done();
 *
 * Environment: TH_KEEP=1 keeps the temporary directory (its path is printed);
 * TH_REPO=/path overrides the repository root (default: found from the test binary's path);
 * TH_READY_MS / TH_STOP_MS override the start and stop deadlines (default 30000 / 30000).
 * Every function runs on the test's one thread. */
#ifndef TH_HARNESS_H
#define TH_HARNESS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "ffclient.h"

/* ---- TAP ---- */

/* Prints `ok N - name` or `not ok N - name` plus `#   at file:line`; returns cond. */
#define th_ok(cond, ...) th_ok_at(__FILE__, __LINE__, (cond) ? 1 : 0, __VA_ARGS__)
/* Compares integers (as long long): `got` is the value under test, `want` the expected one.
 * On failure also prints both. Returns whether they are equal. The rest is a printf name. */
#define TH_EQ_INT(got, want, ...)                                                                  \
    th_eq_int_at(__FILE__, __LINE__, #got, (long long)(got), (long long)(want), __VA_ARGS__)
/* Compares NUL-terminated strings; NULL equals only NULL. */
#define TH_EQ_STR(got, want, ...) th_eq_str_at(__FILE__, __LINE__, #got, (got), (want), __VA_ARGS__)
/* Compares byte strings of given lengths; printed escaped on failure. */
#define TH_EQ_MEM(got, gotlen, want, wantlen, ...)                                                 \
    th_eq_mem_at(__FILE__, __LINE__, #got, (got), (gotlen), (want), (wantlen), __VA_ARGS__)

int th_ok_at(const char *file, int line, int cond, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int th_eq_int_at(const char *file, int line, const char *expr, long long got, long long want,
                 const char *fmt, ...) __attribute__((format(printf, 6, 7)));
int th_eq_str_at(const char *file, int line, const char *expr, const char *got, const char *want,
                 const char *fmt, ...) __attribute__((format(printf, 6, 7)));
int th_eq_mem_at(const char *file, int line, const char *expr, const void *got, size_t gotlen,
                 const void *want, size_t wantlen, const char *fmt, ...)
    __attribute__((format(printf, 8, 9)));
/* Prints a `# ` diagnostic line to stdout (in order with the ok lines). */
void th_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The number of failed checks so far. */
int th_failures(void);
/* Prints the plan `1..N` and `# N passed, N failed`; returns the exit status for main: 0 when
 * nothing failed, 1 otherwise. Kills any cluster still running (by PID). */
int th_done(void);

/* ---- helpers ---- */

/* A TCP port that was free on 127.0.0.1 a moment ago (bind to port 0, read it, close), or
 * -1. Never the same port twice in one process. */
int th_free_port(void);
/* Milliseconds on the monotonic clock. */
long long th_now_ms(void);
/* Calls cond(arg) every 20 ms until it returns true or timeout_ms pass. Returns 0 when it
 * became true (it is tried once more at the deadline), -1 on timeout. */
int th_wait(bool (*cond)(void *arg), void *arg, int timeout_ms);
/* The repository root, absolute: $TH_REPO, else three directories above this test binary
 * (REPO/build/test/integration/x_test), else the current directory. Static storage. */
const char *th_repo(void);
/* The error code of a `{"error":{"code":N,"message":"..."}}` reply body, or 0 when the body
 * is not such an object. */
int th_error_code(const void *body, size_t len);

/* ---- cluster ---- */

typedef struct th_cluster_s th_cluster_t;

/* Creates a fresh temp dir /tmp/ffth-XXXXXX, picks free ports and writes DIR/config.json
 * from `config_template`, replacing @ROOTPORT@ @WEBPORT@ @GATEPORT@ @NETPORT@ @NETPORT2@
 * @DBPORT@ @PORT1@..@PORT4@ with distinct free ports, @DIR@ with the temp dir and @REPO@ with
 * the repository root (absolute). Other @...@ text is left alone, and the template need not
 * be valid JSON. Starts nothing. Returns NULL (with a `not ok` line) on failure. */
th_cluster_t *th_cluster_new(const char *config_template);
/* Forks and execs `REPO/bin/master DIR/config.json` with cwd = DIR, stdin from /dev/null and
 * stdout+stderr to DIR/master.out; master gets SIGTERM if this test process dies. extra_args
 * (NULL-terminated, may be NULL) go before the config path, e.g. {"-t", NULL}. Returns 0 or
 * -1. */
int th_cluster_spawn(th_cluster_t *c, const char *const *extra_args);
/* Waits until GET /status shows the cluster of the current config.json ready: every server
 * listed there present with state "running", the gate's "peers" listing every net and game
 * server, every net reporting "gate":true. Polls every 20 ms; fails at once when master
 * exits. Returns 0, or -1 after printing why (the last /status seen). */
int th_cluster_wait_ready(th_cluster_t *c, int timeout_ms);
/* th_cluster_new + th_cluster_spawn + th_cluster_wait_ready(TH_READY_MS), reported as one
 * TAP line `cluster ready`. On failure: logs printed, processes killed by PID, directory
 * freed; returns NULL. */
th_cluster_t *th_cluster_start(const char *config_template);
/* Rewrites DIR/config.json from a new template with the same ports and paths (for /reload
 * tests); later readiness checks expect the servers of the new config. Returns 0 or -1. */
int th_cluster_config_write(th_cluster_t *c, const char *config_template);
/* Waits up to timeout_ms for master to exit; returns 0 with its wait status in *status (may
 * be NULL), or -1 on timeout. Returns at once if it has already exited. */
int th_cluster_wait_exit(th_cluster_t *c, int timeout_ms, int *status);
/* GET /stop, then waits up to TH_STOP_MS for master to exit, and for every node PID ever
 * seen in /status to be gone. Anything still alive is killed with SIGKILL by PID. Reported
 * as one TAP line `cluster stopped`, which fails unless master exited with status 0 and no
 * node needed killing. Returns 0 or -1. A no-op returning 0 if master already exited and was
 * collected by th_cluster_wait_exit (then it only checks the nodes). */
int th_cluster_stop(th_cluster_t *c);
/* Kills anything still running (SIGKILL, by PID), prints the logs if any check failed while
 * the cluster existed, removes the temp dir unless TH_KEEP is set, frees c. NULL: no-op. */
void th_cluster_free(th_cluster_t *c);
/* Prints DIR/master.out and every DIR/NAME.log (and DIR/SUB/NAME.log) to stderr, every line
 * prefixed with `# `. */
void th_cluster_dump_logs(th_cluster_t *c);

/* The number of lines of DIR/NAME.log (a node's log) that contain `needle`; 0 while the log
 * does not exist. */
int th_log_count(th_cluster_t *c, const char *name, const char *needle);
/* Waits until /status shows node `name`'s link to dbfront up ("store":{"dbfront":true}).
 * Returns 0, or -1 after timeout_ms. */
int th_wait_store_linked(th_cluster_t *c, const char *name, int timeout_ms);
/* The resident memory (VmRSS) of process pid in kB, from /proc, or -1. */
long th_rss_kb(pid_t pid);

/* The temp dir (absolute, no trailing slash). */
const char *th_cluster_dir(const th_cluster_t *c);
/* The port chosen for a placeholder name without @s ("NETPORT", "PORT3"), or -1. */
int th_cluster_port(const th_cluster_t *c, const char *name);
/* master's PID (still valid after it exited; 0 before th_cluster_spawn). */
pid_t th_master_pid(const th_cluster_t *c);
/* The PID /status shows now for the node `name`, or -1 (no such node, or no answer). */
pid_t th_node_pid(th_cluster_t *c, const char *name);
/* The state /status shows now for node `name` ("running", ...) copied into buf; returns buf,
 * or NULL when unknown. */
const char *th_node_state(th_cluster_t *c, const char *name, char *buf, size_t len);
/* Waits until /status shows node `name` in `state`. Returns 0 or -1 (printing the last
 * state seen). */
int th_wait_node_state(th_cluster_t *c, const char *name, const char *state, int timeout_ms);

/* One GET on master's web port (from the config's master.webhost/webport). Returns 0 with
 * *status and *body (a new NUL-terminated string; free with ff_free; body may be NULL to
 * discard it), or a negative errno. Timeout 10 s. Sends `Authorization: Bearer <token>`
 * when the config master was started with has master.webtoken or master.webtokenFile, as
 * th_cluster_wait_ready and th_cluster_stop do; a later th_cluster_config_write does not
 * change the token, just as a reload does not change master's. */
int th_http_get(th_cluster_t *c, const char *path, int *status, char **body);
/* GET /status parsed: a new reference (json_decref it), or NULL. Remembers node PIDs so
 * that th_cluster_stop can kill them. */
json_t *th_cluster_status(th_cluster_t *c);
/* The node object named `name` in a parsed /status, borrowed, or NULL. */
json_t *th_status_node(json_t *status, const char *name);

/* Connects a client to the first net server of the config, with its netconnect settings
 * (5 s timeout). Returns NULL with a `not ok` line on failure. */
ffc_t *th_connect(th_cluster_t *c);
/* Same, to a given port (e.g. th_cluster_port(c, "NETPORT2")). */
ffc_t *th_connect_port(th_cluster_t *c, int port);
/* The frame settings net uses: the config's netconnect as common/conf.c reads it, so absent
 * keys get Firefly's defaults (DataPackProtoc(): magic of four zero bytes, protoVersion 0,
 * serverVersion 0). Read at the first call after each config write. */
const ff_frame_proto_t *th_cluster_proto(th_cluster_t *c);

#endif
