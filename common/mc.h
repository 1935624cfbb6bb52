/* mc: a memcached client handle (libmemcached) with short timeouts, for one worker thread.
 * Rows are stored as JSON documents under `<hostname>:<table>:<pk>` (DESIGN §6). Every call
 * blocks: never call them on the loop.
 *
 * Writes are conditional, so that a write memcached applies late (after its sender gave up
 * on it: a timeout, a hung or partitioned server) can never put back an older row: see
 * ff_mc_pipeline. An empty value is a placeholder of that scheme and reads as a miss. */
#ifndef FF_MC_H
#define FF_MC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"

/* The longest key memcached accepts (its KEY_MAX_LENGTH). */
#define FF_MC_KEY_MAX 250

typedef struct ff_mc_s ff_mc_t;

/* A handle for conf's memcached urls, or NULL when the config has no memcached section. */
ff_mc_t *ff_mc_new(const ff_conf_t *conf);
/* Reads key: 0 with *val (ff_malloc'ed, NUL-terminated) and *len, 1 on a miss (or a
 * placeholder), -1 when memcached cannot be reached. */
int ff_mc_get(ff_mc_t *mc, const char *key, char **val, size_t *len);
/* One update of a batch: set key to val (len bytes, ttl_s), or delete it when val is NULL.
 * done is set by ff_mc_pipeline. */
typedef struct {
    const char *key;
    const char *val;
    size_t len;
    int ttl_s;
    bool done; /* memcached confirmed it (or a later update of the same key in the batch) */
} ff_mc_op_t;

/* Applies a batch of updates (the last of a key wins) in four pipelined steps, two round
 * trips in all: (1) each key to be set gets an empty placeholder and each key to be deleted
 * is deleted; (2) gets reads the placeholders' CAS values; (3) each value is written with
 * cas against its placeholder; (4) gets reads every key back, which confirms what memcached
 * holds. So a document is only ever stored on top of the placeholder written just before it
 * in the same batch, and any later update of the key (a placeholder, a delete) makes that
 * cas fail however late it arrives; a late placeholder or delete only makes a miss. Sets
 * op->done for each confirmed update; returns the number of updates not confirmed (0, or
 * all of them when memcached could not be reached): those keys may hold an older row until
 * a confirmed update (a delete) of each. */
size_t ff_mc_pipeline(ff_mc_t *mc, ff_mc_op_t *ops, size_t n);
/* Frees; NULL is a no-op. */
void ff_mc_free(ff_mc_t *mc);
/* Formats the key of a row, `<hostname>:<table>:<pk>` (hostname "firefly" by default), into
 * buf. Returns its length, or -1 (buf then holds "") when the key would be longer than
 * FF_MC_KEY_MAX or than size - 1: never a key cut short, which could name another row. A
 * validated config (memcached.hostname at most FF_CONF_MC_HOSTNAME_MAX bytes) and a table
 * name of at most 64 bytes always fit FF_MC_KEY_MAX + 1 bytes. */
int ff_mc_key(const ff_conf_t *conf, const char *table, int64_t pk, char *buf, size_t size);

#endif
