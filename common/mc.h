/* mc: a memcached client handle (libmemcached) with short timeouts, for one worker thread.
 * Rows are stored as JSON documents under `<hostname>:<table>:<pk>` (DESIGN §6). Every call
 * blocks: never call them on the loop. */
#ifndef FF_MC_H
#define FF_MC_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"

/* The longest key memcached accepts (its KEY_MAX_LENGTH). */
#define FF_MC_KEY_MAX 250

typedef struct ff_mc_s ff_mc_t;

/* A handle for conf's memcached urls, or NULL when the config has no memcached section. */
ff_mc_t *ff_mc_new(const ff_conf_t *conf);
/* Reads key: 0 with *val (ff_malloc'ed, NUL-terminated) and *len, 1 on a miss, -1 when
 * memcached cannot be reached. */
int ff_mc_get(ff_mc_t *mc, const char *key, char **val, size_t *len);
/* Stores key for ttl_s seconds. Returns 0 or -1. */
int ff_mc_set(ff_mc_t *mc, const char *key, const char *val, size_t len, int ttl_s);
/* Deletes key (absent counts as done). Returns 0 or -1. */
int ff_mc_delete(ff_mc_t *mc, const char *key);
/* One update of a batch: set key to val (len bytes, ttl_s), or delete it when val is NULL. */
typedef struct {
    const char *key;
    const char *val;
    size_t len;
    int ttl_s;
} ff_mc_op_t;

/* Sends every update without waiting for each answer, then waits until every server has
 * processed them (one round trip per batch instead of one per key; memcached handles one
 * connection's commands in order). Returns 0, or -1 when memcached could not be reached or
 * did not confirm: then treat every key as not updated. */
int ff_mc_pipeline(ff_mc_t *mc, const ff_mc_op_t *ops, size_t n);
/* Frees; NULL is a no-op. */
void ff_mc_free(ff_mc_t *mc);
/* Formats the key of a row, `<hostname>:<table>:<pk>` (hostname "firefly" by default), into
 * buf. Returns its length, or -1 (buf then holds "") when the key would be longer than
 * FF_MC_KEY_MAX or than size - 1: never a key cut short, which could name another row. A
 * validated config (memcached.hostname at most FF_CONF_MC_HOSTNAME_MAX bytes) and a table
 * name of at most 64 bytes always fit FF_MC_KEY_MAX + 1 bytes. */
int ff_mc_key(const ff_conf_t *conf, const char *table, int64_t pk, char *buf, size_t size);

#endif
