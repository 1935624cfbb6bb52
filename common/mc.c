/* mc: libmemcached behind a small API, tuned so that a dead memcached costs milliseconds,
 * not seconds: the store keeps working through dbfront while memcached is away. */
#include "mc.h"

#include <inttypes.h>
#include <libmemcached/memcached.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

/* The hostname cap leaves room for the longest table name (64 bytes) and pk (20 characters,
 * INT64_MIN) with their two colons. */
_Static_assert(FF_CONF_MC_HOSTNAME_MAX + 1 + 64 + 1 + 20 <= FF_MC_KEY_MAX,
               "memcached.hostname's cap must leave room for table and pk");

struct ff_mc_s {
    memcached_st *st;
};

ff_mc_t *
ff_mc_new(const ff_conf_t *conf)
{
    ff_mc_t *mc;

    if (conf->memcached.nurls == 0)
        return NULL;
    mc = ff_calloc(1, sizeof(*mc));
    mc->st = memcached_create(NULL);
    for (int i = 0; i < conf->memcached.nurls; i++) {
        char host[256];
        const char *url = conf->memcached.urls[i], *colon = strrchr(url, ':');
        snprintf(host, sizeof(host), "%.*s", (int)(colon - url), url);
        memcached_server_add(mc->st, host, (in_port_t)atoi(colon + 1));
    }
    memcached_behavior_set(mc->st, MEMCACHED_BEHAVIOR_TCP_NODELAY, 1);
    memcached_behavior_set(mc->st, MEMCACHED_BEHAVIOR_CONNECT_TIMEOUT, 200);
    memcached_behavior_set(mc->st, MEMCACHED_BEHAVIOR_POLL_TIMEOUT, 500);
    memcached_behavior_set(mc->st, MEMCACHED_BEHAVIOR_RETRY_TIMEOUT, 1);
    return mc;
}

int
ff_mc_get(ff_mc_t *mc, const char *key, char **val, size_t *len)
{
    memcached_return_t rc;
    uint32_t flags;
    char *v = memcached_get(mc->st, key, strlen(key), len, &flags, &rc);

    if (v == NULL)
        return rc == MEMCACHED_NOTFOUND || rc == MEMCACHED_SUCCESS ? 1 : -1;
    *val = ff_strndup(v, *len);
    free(v);
    return 0;
}

int
ff_mc_set(ff_mc_t *mc, const char *key, const char *val, size_t len, int ttl_s)
{
    memcached_return_t rc = memcached_set(mc->st, key, strlen(key), val, len, ttl_s, 0);
    return rc == MEMCACHED_SUCCESS ? 0 : -1;
}

int
ff_mc_delete(ff_mc_t *mc, const char *key)
{
    memcached_return_t rc = memcached_delete(mc->st, key, strlen(key), 0);
    return rc == MEMCACHED_SUCCESS || rc == MEMCACHED_NOTFOUND ? 0 : -1;
}

int
ff_mc_pipeline(ff_mc_t *mc, const ff_mc_op_t *ops, size_t n)
{
    memcached_return_t rc = MEMCACHED_SUCCESS;
    int failed = 0;

    memcached_behavior_set(mc->st, MEMCACHED_BEHAVIOR_NOREPLY, 1);
    for (size_t i = 0; i < n; i++) {
        const ff_mc_op_t *op = &ops[i];
        rc = op->val
                 ? memcached_set(mc->st, op->key, strlen(op->key), op->val, op->len, op->ttl_s, 0)
                 : memcached_delete(mc->st, op->key, strlen(op->key), 0);
        if (rc != MEMCACHED_SUCCESS && rc != MEMCACHED_BUFFERED && rc != MEMCACHED_NOTFOUND)
            failed = 1;
    }
    memcached_behavior_set(mc->st, MEMCACHED_BEHAVIOR_NOREPLY, 0);
    /* "version" goes to every server behind the updates; its answer means they are done. */
    if (memcached_version(mc->st) != MEMCACHED_SUCCESS)
        failed = 1;
    return failed ? -1 : 0;
}

void
ff_mc_free(ff_mc_t *mc)
{
    if (mc == NULL)
        return;
    memcached_free(mc->st);
    ff_free(mc);
}

int
ff_mc_key(const ff_conf_t *conf, const char *table, int64_t pk, char *buf, size_t size)
{
    const char *host = conf->memcached.hostname ? conf->memcached.hostname : "firefly";
    int n = snprintf(buf, size, "%s:%s:%" PRId64, host, table, pk);

    if (n < 0 || n > FF_MC_KEY_MAX || (size_t)n >= size) {
        if (size > 0)
            buf[0] = '\0';
        return -1;
    }
    return n;
}
