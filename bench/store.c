/* store: the store section of ffbench: db servers, cluster, phases driven through the
 * storebench app on both game nodes, dbfront's flush followed through /status. */
#include "store.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "cluster.h"
#include "dbsrv.h"
#include "ffclient.h"
#include "hist.h"
#include "storebench/storebench_proto.h"

#define BENCH_NGAME 2
#define BENCH_PHASE_MS 130000     /* a phase's requests (the cluster's requestTimeout is 120 s) */
#define BENCH_DRAIN_MS 120000     /* dirty back to 0 after a write phase */
#define BENCH_POLL_MS 100         /* /status while writes run */
#define BENCH_WARMUP 2000         /* writes per node before the first measured phase */
#define BENCH_COLD_OWNER 7        /* owner of the seeded rows; written rows use 1 and 2 */
#define BENCH_TARGET_RATE 20000.0 /* the target: acknowledged writes/s ... */
#define BENCH_TARGET_P99_MS 10.0  /* ... with p99 under 10 ms */

/* What /status says of dbfront and (summed) of the game nodes' store clients. */
typedef struct {
    long long dirty, flushed, flushes, last_flush_ms, failures;
    long long hits, misses, errors;
} bench_st_t;

/* One phase over both game nodes: the nodes' counts summed, their histograms merged. */
typedef struct {
    long long n, errors;
    double ms; /* the slower node's run, from its first call to its last callback */
    long long lo, hi;
    ff_hist_t hist; /* nanoseconds */
    char nodes[BENCH_NGAME][32];
    char first_error[200];
} bench_phase_t;

/* The flush during and after one write phase. */
typedef struct {
    bench_st_t start, last;
    long long peak_dirty, dirty_end;
    long long cap_rows, cap_ms; /* rows and duration of flushes seen one per poll */
    double write_s, drain_s;    /* writes start to end; end to dirty == 0 */
} bench_flush_t;

typedef struct {
    const bench_store_opts_t *o;
    bench_db_t *db;
    bench_cluster_t *cluster;
    ffc_t *conn[BENCH_NGAME];
    int web_port;
    int failed; /* phases with errors */
} bench_store_t;

static double
bench_now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
bench_nap_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static long long
bench_int(json_t *o, const char *key)
{
    return (long long)json_integer_value(json_object_get(o, key));
}

/* GET /status into s. Returns 0, or -1 (printed) when it cannot be had or shows no dbfront. */
static int
bench_status(const bench_store_t *b, bench_st_t *s)
{
    char *body = NULL;
    json_t *st = NULL, *node, *store;
    const char *name;
    int status = 0, rc;
    size_t i;
    bool dbf = false;

    memset(s, 0, sizeof(*s));
    rc = ffc_http_get("127.0.0.1", b->web_port, "/status", 5000, &status, &body, NULL);
    if (rc == 0 && status == 200)
        st = json_loads(body, 0, NULL);
    ff_free(body);
    json_array_foreach(json_object_get(st, "nodes"), i, node)
    {
        name = json_string_value(json_object_get(node, "name"));
        store = json_object_get(node, "store");
        if (name != NULL && strcmp(name, "dbfront") == 0 && json_object_get(node, "dirty")) {
            dbf = true;
            s->dirty = bench_int(node, "dirty");
            s->flushed = bench_int(node, "flushedRows");
            s->flushes = bench_int(node, "flushes");
            s->last_flush_ms = bench_int(node, "lastFlushMs");
            s->failures = bench_int(node, "flushFailures");
        } else if (json_is_object(store)) {
            s->hits += bench_int(store, "hits");
            s->misses += bench_int(store, "misses");
            s->errors += bench_int(store, "errors");
        }
    }
    json_decref(st);
    if (!dbf)
        fprintf(stderr, "ffbench: GET /status: %s\n",
                rc < 0 ? ffc_strerror(rc) : "no dbfront figures in it");
    return dbf ? 0 : -1;
}

/* Takes a /status sample into the flush record. */
static void
bench_flush_sample(bench_flush_t *f, const bench_st_t *s)
{
    /* One flush since the last sample: its rows and its time are known exactly. */
    if (s->flushes == f->last.flushes + 1 && s->last_flush_ms > 0) {
        f->cap_rows += s->flushed - f->last.flushed;
        f->cap_ms += s->last_flush_ms;
    }
    if (s->dirty > f->peak_dirty)
        f->peak_dirty = s->dirty;
    f->last = *s;
}

/* Adds a node's "hist" ({"subBits","min","max","counts":[[bucket,count],...]}) to h. */
static int
ff_hist_from_json(ff_hist_t *h, json_t *j)
{
    static ff_hist_t one;
    json_t *pair;
    size_t i;
    long long k, n;

    if (bench_int(j, "subBits") != FF_HIST_SUB_BITS)
        return -1;
    ff_hist_reset(&one);
    json_array_foreach(json_object_get(j, "counts"), i, pair)
    {
        k = (long long)json_integer_value(json_array_get(pair, 0));
        n = (long long)json_integer_value(json_array_get(pair, 1));
        if (k < 0 || k >= FF_HIST_BUCKETS || n <= 0)
            return -1;
        one.counts[k] += (uint64_t)n;
        one.total += (uint64_t)n;
    }
    one.min = (uint64_t)bench_int(j, "min");
    one.max = (uint64_t)bench_int(j, "max");
    ff_hist_merge(h, &one);
    return 0;
}

/* Folds one node's reply into the phase. Returns 0 or -1 (an error reply, or a bad one). */
static int
bench_phase_add(bench_phase_t *p, int i, const ffc_msg_t *m)
{
    json_t *j = json_loadb((const char *)m->body, m->len, 0, NULL), *err, *ids;
    const char *fe;
    long long k;
    int rc = -1;

    err = json_object_get(j, "error");
    ids = json_object_get(j, "ids");
    if (err != NULL) {
        snprintf(p->first_error, sizeof(p->first_error), "request failed: %s",
                 json_string_value(json_object_get(err, "message")));
    } else if (!json_is_object(j) || ff_hist_from_json(&p->hist, json_object_get(j, "hist"))) {
        snprintf(p->first_error, sizeof(p->first_error), "malformed reply: %.120s", m->body);
    } else {
        snprintf(p->nodes[i], sizeof(p->nodes[i]), "%s",
                 json_string_value(json_object_get(j, "node")));
        p->n += bench_int(j, "n");
        p->errors += bench_int(j, "errors");
        if (json_number_value(json_object_get(j, "ms")) > p->ms)
            p->ms = json_number_value(json_object_get(j, "ms"));
        k = (long long)json_integer_value(json_array_get(ids, 0));
        if (k > 0 && (p->lo == 0 || k < p->lo))
            p->lo = k;
        if (json_integer_value(json_array_get(ids, 1)) > p->hi)
            p->hi = (long long)json_integer_value(json_array_get(ids, 1));
        fe = json_string_value(json_object_get(j, "firstError"));
        if (fe != NULL && fe[0] != '\0' && p->first_error[0] == '\0')
            snprintf(p->first_error, sizeof(p->first_error), "%s: %s", p->nodes[i], fe);
        rc = 0;
    }
    json_decref(j);
    return rc;
}

/* Sends body[i] as command cmd on connection i, all at once (gate gives each to the game
 * node with the fewest requests in flight: one each), and collects the replies, sampling
 * /status into f (when not NULL) meanwhile. Returns 0, or -1 (in p->first_error). */
static int
bench_phase(bench_store_t *b, uint32_t cmd, json_t *body[BENCH_NGAME], bench_phase_t *p,
            bench_flush_t *f)
{
    double deadline = bench_now_s() + BENCH_PHASE_MS / 1e3, next_poll = 0;
    bool done[BENCH_NGAME] = {false};
    int left = BENCH_NGAME, rc = 0, i;
    bench_st_t s;
    ffc_msg_t m;
    char *text;

    memset(p, 0, sizeof(*p));
    ff_hist_reset(&p->hist);
    for (i = 0; i < BENCH_NGAME && rc == 0; i++) {
        text = json_dumps(body[i], JSON_COMPACT);
        rc = ffc_send(b->conn[i], cmd, text, strlen(text));
        free(text);
    }
    if (rc < 0) {
        snprintf(p->first_error, sizeof(p->first_error), "send: %s", ffc_strerror(rc));
        return -1;
    }
    while (left > 0) {
        for (i = 0; i < BENCH_NGAME; i++) {
            if (done[i])
                continue;
            rc = ffc_recv(b->conn[i], &m, 20);
            if (rc == -ETIMEDOUT)
                continue;
            if (rc < 0) {
                snprintf(p->first_error, sizeof(p->first_error), "receive: %s", ffc_strerror(rc));
                return -1;
            }
            rc = bench_phase_add(p, i, &m);
            ffc_msg_free(&m);
            if (rc < 0)
                return -1;
            done[i] = true;
            left--;
        }
        if (f != NULL && bench_now_s() >= next_poll && bench_status(b, &s) == 0) {
            bench_flush_sample(f, &s);
            next_poll = bench_now_s() + BENCH_POLL_MS / 1e3;
        }
        if (left > 0 && bench_now_s() > deadline) {
            snprintf(p->first_error, sizeof(p->first_error), "no reply within %d s",
                     BENCH_PHASE_MS / 1000);
            return -1;
        }
    }
    if (strcmp(p->nodes[0], p->nodes[1]) == 0) {
        snprintf(p->first_error, sizeof(p->first_error), "both requests ran on %s", p->nodes[0]);
        return -1;
    }
    return 0;
}

/* Waits until dbfront has no dirty row, sampling into f when not NULL. Returns 0 or -1. */
static int
bench_drain(bench_store_t *b, bench_flush_t *f)
{
    double deadline = bench_now_s() + BENCH_DRAIN_MS / 1e3;
    bench_st_t s;

    while (bench_status(b, &s) == 0) {
        if (f != NULL)
            bench_flush_sample(f, &s);
        if (s.dirty == 0)
            return 0;
        if (bench_now_s() > deadline) {
            fprintf(stderr,
                    "ffbench: dbfront still has %lld dirty rows after %d s "
                    "(%lld flush failures)\n",
                    s.dirty, BENCH_DRAIN_MS / 1000, s.failures);
            return -1;
        }
        bench_nap_ms(20);
    }
    return -1;
}

/* Prints one phase's line. Returns 0, or -1 when it had errors. */
static int
bench_phase_print(const char *label, int conc, const bench_phase_t *p, const char *note)
{
    char c[16];

    snprintf(c, sizeof(c), "%dx%d", BENCH_NGAME, conc);
    printf("%-15s %6s %8lld %10.0f %9.1f %9.1f %9.1f %7lld  %s\n", label, c, p->n,
           p->ms > 0 ? (double)p->n / (p->ms / 1e3) : 0.0, ff_hist_percentile(&p->hist, 50) / 1e3,
           ff_hist_percentile(&p->hist, 99) / 1e3, p->hist.max / 1e3, p->errors, note);
    if (p->errors > 0)
        printf("                first error: %s\n", p->first_error);
    fflush(stdout);
    return p->errors > 0 ? -1 : 0;
}

/* A write phase: n writes per node, conc outstanding, paced at rate per node (0: closed),
 * then the flush followed until dbfront is clean. Returns 0 or -1. */
static int
bench_write_phase(bench_store_t *b, long long n, int conc, double rate, bench_phase_t *p,
                  bench_flush_t *f)
{
    json_t *body[BENCH_NGAME];
    double t0, t1;
    bench_st_t s;
    int rc, i;

    memset(f, 0, sizeof(*f));
    if (bench_status(b, &f->start) < 0)
        return -1;
    f->last = f->start;
    for (i = 0; i < BENCH_NGAME; i++)
        body[i] = json_pack("{s:I,s:i,s:f,s:i}", "n", (json_int_t)n, "conc", conc, "rate", rate,
                            "owner", i + 1);
    t0 = bench_now_s();
    rc = bench_phase(b, SB_WRITE, body, p, f);
    t1 = bench_now_s();
    for (i = 0; i < BENCH_NGAME; i++)
        json_decref(body[i]);
    if (rc < 0) {
        fprintf(stderr, "ffbench: store write phase: %s\n", p->first_error);
        return -1;
    }
    if (bench_status(b, &s) < 0)
        return -1;
    bench_flush_sample(f, &s);
    f->dirty_end = s.dirty;
    f->write_s = t1 - t0;
    rc = bench_drain(b, f);
    f->drain_s = bench_now_s() - t1;
    return rc;
}

/* A read phase: node i reads n pks from[i]..to[i] (cycling), conc outstanding. Returns 0 or
 * -1; *hits and *misses are the memcached hits and misses the game nodes counted. */
static int
bench_read_phase(bench_store_t *b, long long n, const long long from[BENCH_NGAME],
                 const long long to[BENCH_NGAME], bench_phase_t *p, long long *hits,
                 long long *misses)
{
    json_t *body[BENCH_NGAME];
    bench_st_t s0, s1;
    int rc, i;

    if (bench_status(b, &s0) < 0)
        return -1;
    for (i = 0; i < BENCH_NGAME; i++)
        body[i] = json_pack("{s:I,s:i,s:I,s:I}", "n", (json_int_t)n, "conc", b->o->read_conc,
                            "from", (json_int_t)from[i], "to", (json_int_t)to[i]);
    rc = bench_phase(b, SB_READ, body, p, NULL);
    for (i = 0; i < BENCH_NGAME; i++)
        json_decref(body[i]);
    if (rc < 0) {
        fprintf(stderr, "ffbench: store read phase: %s\n", p->first_error);
        return -1;
    }
    if (bench_status(b, &s1) < 0)
        return -1;
    *hits = s1.hits - s0.hits;
    *misses = s1.misses - s0.misses;
    return 0;
}

/* Whether the flush kept up: every row written reached MariaDB, and what was left when the
 * writes stopped was gone within two intervals (one wait for the timer, one flush), i.e. the
 * backlog never grew beyond what a flush clears. */
static bool
bench_flush_kept(const bench_flush_t *f, int sync_interval_s, long long written)
{
    return f->drain_s <= 2.0 * sync_interval_s + 0.5 &&
           f->last.flushed - f->start.flushed >= written;
}

static void
bench_flush_print(const char *label, const bench_flush_t *f, int sync_interval_s, long long written)
{
    long long rows = f->last.flushed - f->start.flushed;
    double span = f->write_s + f->drain_s;
    bool kept = bench_flush_kept(f, sync_interval_s, written);
    char cap[32];

    if (f->cap_ms > 0)
        snprintf(cap, sizeof(cap), "%.0f", (double)f->cap_rows / ((double)f->cap_ms / 1e3));
    else
        snprintf(cap, sizeof(cap), "-");
    printf("%-15s %8lld %10.0f %10s %10lld %10lld %9.0f  %s\n", label, rows,
           span > 0 ? (double)rows / span : 0.0, cap, f->peak_dirty, f->dirty_end, f->drain_s * 1e3,
           kept ? "yes" : "NO");
}

/* Connects one client per game node. Returns 0 or -1. */
static int
bench_connect(bench_store_t *b)
{
    int port = bench_cluster_net_port(b->cluster);

    for (int i = 0; i < BENCH_NGAME; i++) {
        if ((b->conn[i] = ffc_connect("127.0.0.1", port, NULL, 5000)) == NULL) {
            fprintf(stderr, "ffbench: connect to net port %d: %s\n", port, strerror(errno));
            return -1;
        }
        ffc_set_send_timeout(b->conn[i], 10000);
    }
    return 0;
}

/* The phases, in order; prints the table. Returns 0 or -1. */
static int
bench_store_phases(bench_store_t *b)
{
    static bench_phase_t wc, wp, rh, rm, rd, warm;
    const bench_store_opts_t *o = b->o;
    bench_flush_t fc, fp;
    long long from[BENCH_NGAME], to[BENCH_NGAME], hits, misses, half, n, lo, hi;
    char label[32], note[96];
    bool paced = o->rate > 0;
    double c_rate = 0, c_p99 = 0, p_rate = 0, p_p99 = 0;
    bool c_met, p_met;

    /* Warm-up: links, memcached connections, dbfront's prepared statements, first flush. */
    if (bench_write_phase(b, BENCH_WARMUP, 16, 0, &warm, &fc) < 0 || warm.errors > 0) {
        fprintf(stderr, "ffbench: store warm-up: %s\n", warm.first_error);
        return -1;
    }
    printf("%-15s %6s %8s %10s %9s %9s %9s %7s\n", "phase", "conc", "ops", "ops/s", "p50(us)",
           "p99(us)", "max(us)", "errors");
    fflush(stdout);
    if (bench_write_phase(b, o->writes, o->write_conc, 0, &wc, &fc) < 0)
        return -1;
    if (bench_phase_print("write closed", o->write_conc, &wc, "acknowledged (in the log)") < 0)
        b->failed++;
    c_rate = (double)wc.n / (wc.ms / 1e3);
    c_p99 = ff_hist_percentile(&wc.hist, 99) / 1e6;
    lo = wc.lo;
    hi = wc.hi;
    if (paced) {
        n = (long long)(o->rate / BENCH_NGAME * o->paced_s);
        if (bench_write_phase(b, n, o->write_conc, o->rate / BENCH_NGAME, &wp, &fp) < 0)
            return -1;
        if (o->rate >= 1000)
            snprintf(label, sizeof(label), "write @%.0fk", o->rate / 1000);
        else
            snprintf(label, sizeof(label), "write @%.0f", o->rate);
        if (bench_phase_print(label, o->write_conc, &wp, "paced; from each due time") < 0)
            b->failed++;
        p_rate = (double)wp.n / (wp.ms / 1e3);
        p_p99 = ff_hist_percentile(&wp.hist, 99) / 1e6;
        lo = wp.lo;
        hi = wp.hi;
    }

    /* Hits: the rows written last (memcached, 64 MB, evicts the oldest first when short of
     * room); both nodes read the same ones. */
    from[0] = from[1] = hi - o->reads + 1 > lo ? hi - o->reads + 1 : lo;
    to[0] = to[1] = hi;
    if (bench_read_phase(b, o->reads, from, to, &rh, &hits, &misses) < 0)
        return -1;
    snprintf(note, sizeof(note), "memcached: %lld hits, %lld misses", hits, misses);
    if (bench_phase_print("read hit", o->read_conc, &rh, note) < 0)
        b->failed++;

    /* Misses answered by dbfront's rows: every row read once, half per node. */
    if (bench_db_flush_memcached(b->db) < 0)
        return -1;
    half = (hi - lo + 1) / BENCH_NGAME;
    n = o->reads < half ? o->reads : half;
    from[0] = lo;
    from[1] = lo + half;
    to[0] = from[0] + n - 1;
    to[1] = from[1] + n - 1;
    if (bench_read_phase(b, n, from, to, &rm, &hits, &misses) < 0)
        return -1;
    snprintf(note, sizeof(note), "flush_all; dbfront rows: %lld hits, %lld misses", hits, misses);
    if (bench_phase_print("read miss dbf", o->read_conc, &rm, note) < 0)
        b->failed++;

    /* Misses that reach MariaDB: the cold rows 1..2*reads, each read once. */
    from[0] = 1;
    from[1] = o->reads + 1;
    to[0] = o->reads;
    to[1] = 2 * o->reads;
    if (bench_read_phase(b, o->reads, from, to, &rd, &hits, &misses) < 0)
        return -1;
    snprintf(note, sizeof(note), "cold rows, MariaDB: %lld hits, %lld misses", hits, misses);
    if (bench_phase_print("read miss db", o->read_conc, &rd, note) < 0)
        b->failed++;

    printf("\nflush to MariaDB: rows/s = rows flushed / (writes start .. dirty back to 0); "
           "capacity = rows / time spent flushing;\n"
           "kept up = the backlog left when the writes stopped was gone within 2 sync intervals "
           "(%d s)\n",
           o->sync_interval_s);
    printf("%-15s %8s %10s %10s %10s %10s %9s  %s\n", "phase", "rows", "rows/s", "capacity",
           "peak dirty", "dirty@end", "drain(ms)", "kept up");
    bench_flush_print("write closed", &fc, o->sync_interval_s, wc.n - wc.errors);
    if (paced)
        bench_flush_print(label, &fp, o->sync_interval_s, wp.n - wp.errors);
    /* Met by a write phase that carried 20,000/s or more with p99 under 10 ms while the
     * flush kept up. */
    c_met = c_rate >= BENCH_TARGET_RATE && c_p99 < BENCH_TARGET_P99_MS &&
            bench_flush_kept(&fc, o->sync_interval_s, wc.n - wc.errors);
    p_met = paced && p_rate >= BENCH_TARGET_RATE && p_p99 < BENCH_TARGET_P99_MS &&
            bench_flush_kept(&fp, o->sync_interval_s, wp.n - wp.errors);
    printf("\ntarget: >= %.0f acknowledged writes/s with p99 < %.0f ms and the flush keeping up: "
           "%s\n        write closed %.0f/s p99 %.1f ms",
           BENCH_TARGET_RATE, BENCH_TARGET_P99_MS, c_met || p_met ? "met" : "NOT met", c_rate,
           c_p99);
    if (paced)
        printf("; %s %.0f/s p99 %.1f ms", label, p_rate, p_p99);
    printf("\n");
    fflush(stdout);
    return 0;
}

int
bench_store_run(const bench_store_opts_t *o)
{
    bench_store_t b = {.o = o};
    bench_cluster_store_t cs;
    int rc = -1, i;

    printf("\nstore: gate, net, dbfront (syncInterval %d s) and 2 game nodes (storebench), "
           "private MariaDB + memcached;\n"
           "       latency per store call, measured in the game node from the call to its "
           "callback\n",
           o->sync_interval_s);
    fflush(stdout);
    if ((b.db = bench_db_start(o->script)) == NULL)
        return -1;
    if (bench_db_seed(b.db, 2 * o->reads, BENCH_COLD_OWNER) < 0)
        goto out;
    cs.mysql_port = bench_db_mysql_port(b.db);
    cs.memcached_port = bench_db_memcached_port(b.db);
    cs.sync_interval_s = o->sync_interval_s;
    if ((b.cluster = bench_cluster_start(o->bin, o->app, NULL, &cs, 60000)) == NULL)
        goto out;
    b.web_port = bench_cluster_web_port(b.cluster);
    bench_db_watch_master(b.db, bench_cluster_master_pid(b.cluster));
    printf("       cluster in %s, db servers in %s\n", bench_cluster_dir(b.cluster),
           bench_db_dir(b.db));
    if (bench_connect(&b) == 0 && bench_store_phases(&b) == 0)
        rc = b.failed > 0 ? -1 : 0;
    if (rc < 0)
        bench_cluster_dump_logs(b.cluster);
out:
    for (i = 0; i < BENCH_NGAME; i++)
        ffc_close(b.conn[i]);
    if (b.cluster != NULL && bench_cluster_stop(b.cluster, 60000) < 0)
        rc = -1;
    bench_cluster_free(b.cluster, o->keep);
    if (bench_db_stop(b.db, o->keep) < 0)
        rc = -1;
    return rc;
}
