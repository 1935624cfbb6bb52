/* load: an echo load client on one libuv loop, every reply checked against its request.
 * Closed loop: `conns` connections, each keeping `depth` requests outstanding (pipelined).
 * Paced (rate > 0): open loop, requests issued on a fixed schedule of `rate` per second spread
 * evenly over the connections, at most `depth` outstanding on each, and latency measured from
 * each request's scheduled time, so a late reply also charges the requests queued behind it. */
#ifndef BENCH_LOAD_H
#define BENCH_LOAD_H

#include <stdint.h>

#include "frame.h"
#include "hist.h"

#define BENCH_LOAD_BODY 16 /* request body: conn id, sequence number, tag */

typedef struct {
    const char *host; /* numeric IPv4 or IPv6 address, or a name */
    int port;
    ff_frame_proto_t proto;
    uint32_t cmd; /* a command whose reply echoes the body */
    int conns, depth;
    double rate;       /* 0: closed loop; else paced, requests per second over all conns */
    double warmup_s;   /* run but do not measure */
    double duration_s; /* then measure */
} bench_load_opts_t;

typedef struct {
    uint64_t requests;  /* replies to requests sent (paced: scheduled) inside the window */
    uint64_t completed; /* replies received inside the window, whenever their request left */
    double seconds;     /* length of the measured window */
    uint64_t errors;    /* wrong replies, failed or lost connections, requests lost (> 1 s) */
    ff_hist_t hist;     /* latency of the measured requests, in nanoseconds */
    char first_error[160];
} bench_load_result_t;

/* Runs one scenario to completion on a fresh loop. Returns 0 (errors are counted in *r),
 * or a negative UV_E* code when it could not run at all (message in r->first_error). */
int bench_load_run(const bench_load_opts_t *o, bench_load_result_t *r);

#endif
