/* hist: a log-linear latency histogram in the style of HdrHistogram: 32 linear sub-buckets per
 * power of two, so any recorded value is known to within ~3% in constant memory, whatever
 * the number of samples. */
#ifndef FF_HIST_H
#define FF_HIST_H

#include <stdint.h>

#define FF_HIST_SUB_BITS 5
#define FF_HIST_SUB (1 << FF_HIST_SUB_BITS)
#define FF_HIST_BUCKETS ((64 - FF_HIST_SUB_BITS + 1) * FF_HIST_SUB)

typedef struct {
    uint64_t counts[FF_HIST_BUCKETS];
    uint64_t total;
    uint64_t min, max; /* exact */
} ff_hist_t;

/* Empties the histogram. */
void ff_hist_reset(ff_hist_t *h);
/* Counts one value (any unit; ffbench records nanoseconds). */
void ff_hist_record(ff_hist_t *h, uint64_t v);
/* The value at or below which `pct` percent (0..100) of the recorded values lie, reported as
 * the highest value of its bucket but never above the exact max; 0 when empty. */
uint64_t ff_hist_percentile(const ff_hist_t *h, double pct);
/* Adds every count of `from` into `into`. */
void ff_hist_merge(ff_hist_t *into, const ff_hist_t *from);

#endif
