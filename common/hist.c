/* hist: log-linear histogram; bucket i < 32 holds the value i, and above that each power of
 * two [2^e, 2^(e+1)) is split into 32 equal buckets. */
#include "hist.h"

#include <string.h>

/* The bucket of value v. */
static int
ff_hist_index(uint64_t v)
{
    int e;

    if (v < FF_HIST_SUB)
        return (int)v;
    e = 63 - __builtin_clzll(v);
    return (e - FF_HIST_SUB_BITS + 1) * FF_HIST_SUB + (int)(v >> (e - FF_HIST_SUB_BITS)) -
           FF_HIST_SUB;
}

/* The highest value that falls in bucket i. */
static uint64_t
ff_hist_bucket_high(int i)
{
    int e = i / FF_HIST_SUB + FF_HIST_SUB_BITS - 1;
    uint64_t m = (uint64_t)(i % FF_HIST_SUB) + FF_HIST_SUB;

    if (i < FF_HIST_SUB)
        return (uint64_t)i;
    if (e >= 63 && m == 2 * FF_HIST_SUB - 1)
        return UINT64_MAX;
    return ((m + 1) << (e - FF_HIST_SUB_BITS)) - 1;
}

void
ff_hist_reset(ff_hist_t *h)
{
    memset(h, 0, sizeof(*h));
}

void
ff_hist_record(ff_hist_t *h, uint64_t v)
{
    h->counts[ff_hist_index(v)]++;
    if (h->total == 0 || v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
    h->total++;
}

uint64_t
ff_hist_percentile(const ff_hist_t *h, double pct)
{
    uint64_t want, seen = 0, v;
    int i;

    if (h->total == 0)
        return 0;
    want = (uint64_t)(pct / 100.0 * (double)h->total + 0.5);
    if (want < 1)
        want = 1;
    for (i = 0; i < FF_HIST_BUCKETS; i++) {
        seen += h->counts[i];
        if (seen >= want)
            break;
    }
    v = ff_hist_bucket_high(i < FF_HIST_BUCKETS ? i : FF_HIST_BUCKETS - 1);
    return v > h->max ? h->max : v < h->min ? h->min : v;
}

void
ff_hist_merge(ff_hist_t *into, const ff_hist_t *from)
{
    int i;

    if (from->total == 0)
        return;
    for (i = 0; i < FF_HIST_BUCKETS; i++)
        into->counts[i] += from->counts[i];
    if (into->total == 0 || from->min < into->min)
        into->min = from->min;
    if (from->max > into->max)
        into->max = from->max;
    into->total += from->total;
}
