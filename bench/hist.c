/* hist: log-linear histogram; bucket i < 32 holds the value i, and above that each power of
 * two [2^e, 2^(e+1)) is split into 32 equal buckets. */
#include "hist.h"

#include <string.h>

/* The bucket of value v. */
static int
bench_hist_index(uint64_t v)
{
    int e;

    if (v < BENCH_HIST_SUB)
        return (int)v;
    e = 63 - __builtin_clzll(v);
    return (e - BENCH_HIST_SUB_BITS + 1) * BENCH_HIST_SUB + (int)(v >> (e - BENCH_HIST_SUB_BITS)) -
           BENCH_HIST_SUB;
}

/* The highest value that falls in bucket i. */
static uint64_t
bench_hist_bucket_high(int i)
{
    int e = i / BENCH_HIST_SUB + BENCH_HIST_SUB_BITS - 1;
    uint64_t m = (uint64_t)(i % BENCH_HIST_SUB) + BENCH_HIST_SUB;

    if (i < BENCH_HIST_SUB)
        return (uint64_t)i;
    if (e >= 63 && m == 2 * BENCH_HIST_SUB - 1)
        return UINT64_MAX;
    return ((m + 1) << (e - BENCH_HIST_SUB_BITS)) - 1;
}

void
bench_hist_reset(bench_hist_t *h)
{
    memset(h, 0, sizeof(*h));
}

void
bench_hist_record(bench_hist_t *h, uint64_t v)
{
    h->counts[bench_hist_index(v)]++;
    if (h->total == 0 || v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
    h->total++;
}

uint64_t
bench_hist_percentile(const bench_hist_t *h, double pct)
{
    uint64_t want, seen = 0, v;
    int i;

    if (h->total == 0)
        return 0;
    want = (uint64_t)(pct / 100.0 * (double)h->total + 0.5);
    if (want < 1)
        want = 1;
    for (i = 0; i < BENCH_HIST_BUCKETS; i++) {
        seen += h->counts[i];
        if (seen >= want)
            break;
    }
    v = bench_hist_bucket_high(i < BENCH_HIST_BUCKETS ? i : BENCH_HIST_BUCKETS - 1);
    return v > h->max ? h->max : v < h->min ? h->min : v;
}

void
bench_hist_merge(bench_hist_t *into, const bench_hist_t *from)
{
    int i;

    if (from->total == 0)
        return;
    for (i = 0; i < BENCH_HIST_BUCKETS; i++)
        into->counts[i] += from->counts[i];
    if (into->total == 0 || from->min < into->min)
        into->min = from->min;
    if (from->max > into->max)
        into->max = from->max;
    into->total += from->total;
}
