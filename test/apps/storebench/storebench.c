/* storebench: drives the store from inside a game node for ffbench's store section, so that
 * the figures are the game node's own: each store call is timed from the ff_store_* call to
 * its callback.
 *
 * 301 write {"n":N,"conc":C,"rate":R,"owner":O}: N ff_store_new of tb_item rows
 *     {"owner":O,"kind":"bench","qty":1,"data":...}, at most C outstanding. R = 0: closed
 *     loop (a new write as soon as one completes); R > 0: open loop, write i due at
 *     t0 + i / R (issued by a 1 ms timer, still at most C outstanding) and timed from when
 *     it was due, so a write held back by a slow store is charged for the wait.
 * 302 read {"from":A,"to":B,"n":N,"conc":C}: N ff_store_get of tb_item pks A, A+1, .. B,
 *     A, ..., closed loop with C outstanding. A 404 counts as an error.
 * Both reply {"node","n","errors","ms","p50us","p99us","maxus","ids":[lowest,highest],
 *     "firstError","hist":{"subBits":5,"min":ns,"max":ns,"counts":[[bucket,count],...]}}
 * (ids: the pks written, or [A,B]); "hist" is the latency histogram in nanoseconds in the
 * bucket layout of bench/hist.c, so ffbench can merge the nodes' histograms exactly.
 * One run at a time per node; a second request while one runs gets 503. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "firefly/app.h"
#include "storebench_proto.h"

/* The layout of bench/hist.c: values below 32 exactly, then 32 buckets per power of two. */
#define SB_SUB_BITS 5
#define SB_SUB (1 << SB_SUB_BITS)
#define SB_BUCKETS ((64 - SB_SUB_BITS + 1) * SB_SUB)

#define SB_MAX_OPS 10000000
#define SB_MAX_CONC 4096
#define SB_TICK_MS 1

typedef struct {
    uint64_t counts[SB_BUCKETS];
    uint64_t total, min, max;
} sb_hist_t;

typedef struct {
    ff_req_t *req;
    bool write;
    int64_t n, issued, done, errors;
    int conc, outstanding;
    double rate;      /* writes/s; 0 = closed loop */
    uint64_t t0;      /* ns */
    int64_t owner;    /* write */
    int64_t from, to; /* read */
    int64_t lo, hi;   /* pks written */
    bool timer_armed; /* paced: the tick timer is pending */
    bool finished;    /* replied; freed by the pending tick */
    char first_error[160];
    sb_hist_t hist;
} sb_run_t;

typedef struct {
    sb_run_t *run;
    uint64_t start; /* ns: the call, or (paced) when the write was due */
} sb_op_t;

static sb_run_t *current; /* the run in progress, or NULL */

static uint64_t
sb_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- histogram ------------------------------------------------------------------------ */

static int
sb_hist_index(uint64_t v)
{
    int e;

    if (v < SB_SUB)
        return (int)v;
    e = 63 - __builtin_clzll(v);
    return (e - SB_SUB_BITS + 1) * SB_SUB + (int)(v >> (e - SB_SUB_BITS)) - SB_SUB;
}

/* The highest value of bucket i (i < SB_BUCKETS - 1). */
static uint64_t
sb_hist_high(int i)
{
    int e = i / SB_SUB + SB_SUB_BITS - 1;
    uint64_t m = (uint64_t)(i % SB_SUB) + SB_SUB;

    return i < SB_SUB ? (uint64_t)i : ((m + 1) << (e - SB_SUB_BITS)) - 1;
}

static void
sb_hist_record(sb_hist_t *h, uint64_t v)
{
    h->counts[sb_hist_index(v)]++;
    if (h->total == 0 || v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
    h->total++;
}

/* The value below which pct percent of the samples lie (bucket high, clamped to min..max). */
static uint64_t
sb_hist_percentile(const sb_hist_t *h, double pct)
{
    uint64_t want = (uint64_t)(pct / 100.0 * (double)h->total + 0.5), seen = 0, v;
    int i;

    if (h->total == 0)
        return 0;
    if (want < 1)
        want = 1;
    for (i = 0; i < SB_BUCKETS - 1 && (seen += h->counts[i]) < want; i++)
        ;
    v = sb_hist_high(i);
    return v > h->max ? h->max : v < h->min ? h->min : v;
}

/* {"subBits","min","max","counts":[[bucket,count],...]} of the non-empty buckets. */
static json_t *
sb_hist_json(const sb_hist_t *h)
{
    json_t *counts = json_array();

    for (int i = 0; i < SB_BUCKETS; i++)
        if (h->counts[i] > 0)
            json_array_append_new(counts, json_pack("[i,I]", i, (json_int_t)h->counts[i]));
    return json_pack("{s:i,s:I,s:I,s:o}", "subBits", SB_SUB_BITS, "min", (json_int_t)h->min, "max",
                     (json_int_t)h->max, "counts", counts);
}

/* ---- runs ----------------------------------------------------------------------------- */

static void sb_issue(sb_run_t *run);

static void
sb_finish(sb_run_t *run)
{
    double ms = (double)(sb_now() - run->t0) / 1e6;
    json_t *reply =
        json_pack("{s:s,s:I,s:I,s:f,s:f,s:f,s:f,s:[I,I],s:s,s:o}", "node", ff_node_name(), "n",
                  (json_int_t)run->done, "errors", (json_int_t)run->errors, "ms", ms, "p50us",
                  (double)sb_hist_percentile(&run->hist, 50) / 1e3, "p99us",
                  (double)sb_hist_percentile(&run->hist, 99) / 1e3, "maxus",
                  (double)run->hist.max / 1e3, "ids", (json_int_t)run->lo, (json_int_t)run->hi,
                  "firstError", run->first_error, "hist", sb_hist_json(&run->hist));

    ff_reply_json(run->req, reply);
    if (current == run)
        current = NULL;
    run->finished = true;
    if (!run->timer_armed)
        free(run);
}

static void
sb_done_cb(void *arg, int status, json_t *result)
{
    sb_op_t *op = arg;
    sb_run_t *run = op->run;
    const char *msg;
    int64_t pk;

    sb_hist_record(&run->hist, sb_now() - op->start);
    free(op);
    run->outstanding--;
    run->done++;
    if (status != 0) {
        msg = json_string_value(json_object_get(json_object_get(result, "error"), "message"));
        if (run->errors++ == 0)
            snprintf(run->first_error, sizeof(run->first_error), "%d %s", status,
                     msg ? msg : "(no message)");
    } else if (run->write) {
        pk = (int64_t)json_integer_value(json_object_get(result, "id"));
        if (run->lo == 0 || pk < run->lo)
            run->lo = pk;
        if (pk > run->hi)
            run->hi = pk;
    }
    if (run->done == run->n)
        sb_finish(run);
    else
        sb_issue(run);
}

static void
sb_tick(void *arg)
{
    sb_run_t *run = arg;

    run->timer_armed = false;
    if (run->finished)
        free(run);
    else
        sb_issue(run);
}

/* Issues what may go now: up to conc outstanding, and (paced) only what has come due. */
static void
sb_issue(sb_run_t *run)
{
    uint64_t now = sb_now();
    int64_t due = run->n;
    sb_op_t *op;
    json_t *row;

    if (run->rate > 0) {
        due = (int64_t)((double)(now - run->t0) / 1e9 * run->rate) + 1;
        if (due > run->n)
            due = run->n;
    }
    while (run->issued < due && run->outstanding < run->conc) {
        op = malloc(sizeof(*op));
        op->run = run;
        op->start =
            run->rate > 0 ? run->t0 + (uint64_t)((double)run->issued / run->rate * 1e9) : now;
        run->outstanding++;
        if (run->write) {
            row = json_pack("{s:I,s:s,s:i,s:s}", "owner", (json_int_t)run->owner, "kind", "bench",
                            "qty", 1, "data", "0123456789abcdef0123456789abcdef");
            ff_store_new("tb_item", row, sb_done_cb, op);
        } else {
            ff_store_get("tb_item", run->from + run->issued % (run->to - run->from + 1), sb_done_cb,
                         op);
        }
        run->issued++;
    }
    if (run->rate > 0 && run->issued < run->n && !run->timer_armed) {
        run->timer_armed = true;
        ff_timer_once(SB_TICK_MS, sb_tick, run);
    }
}

/* An integer member of body within [min, max], or def when absent. Returns false when it is
 * present but not such an integer. */
static bool
sb_int(json_t *body, const char *key, int64_t min, int64_t max, int64_t def, int64_t *out)
{
    json_t *v = json_object_get(body, key);

    *out = v == NULL ? def : (int64_t)json_integer_value(v);
    return v == NULL || (json_is_integer(v) && *out >= min && *out <= max);
}

static void
sb_on_request(ff_req_t *req)
{
    json_t *body = ff_req_json(req), *rate = json_object_get(body, "rate");
    sb_run_t *run;
    int64_t conc;

    if (current != NULL) {
        ff_reply_error(req, FF_ERR_UNAVAILABLE, "a run is in progress on this node");
        return;
    }
    run = calloc(1, sizeof(*run));
    run->req = req;
    run->write = ff_req_cmd(req) == SB_WRITE;
    if (!json_is_object(body) || !sb_int(body, "n", 1, SB_MAX_OPS, 1000, &run->n) ||
        !sb_int(body, "conc", 1, SB_MAX_CONC, 16, &conc) ||
        !sb_int(body, "owner", 0, INT32_MAX, 1, &run->owner) ||
        !sb_int(body, "from", 1, INT64_MAX / 2, 1, &run->from) ||
        !sb_int(body, "to", run->from, INT64_MAX / 2, run->from, &run->to) ||
        (rate != NULL && (!json_is_number(rate) || json_number_value(rate) < 0))) {
        free(run);
        ff_reply_error(req, FF_ERR_BAD_REQUEST, "bad n, conc, owner, from, to or rate");
        return;
    }
    run->conc = (int)conc;
    run->rate = run->write && rate != NULL ? json_number_value(rate) : 0;
    if (!run->write) {
        run->lo = run->from;
        run->hi = run->to;
    }
    run->t0 = sb_now();
    current = run;
    sb_issue(run);
}

static int
storebench_init(ff_app_t *app)
{
    return ff_app_handle(app, SB_WRITE, sb_on_request) || ff_app_handle(app, SB_READ, sb_on_request)
               ? -1
               : 0;
}

FF_APP_MODULE(storebench_init, NULL);
