/* mc: libmemcached behind a small API, tuned so that a dead memcached costs milliseconds,
 * not seconds: the store keeps working through dbfront while memcached is away. Batches of
 * updates are conditional writes (placeholder, gets, cas, gets) confirmed key by key; see
 * ff_mc_pipeline in mc.h for why a late one can never win. */
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
    /* gets, not get: ff_mc_pipeline writes with cas. */
    memcached_behavior_set(mc->st, MEMCACHED_BEHAVIOR_SUPPORT_CAS, 1);
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
    if (*len == 0) {
        free(v); /* a placeholder: a document is on its way, or was given up on */
        return 1;
    }
    *val = ff_strndup(v, *len);
    free(v);
    return 0;
}

/* One key of a batch: its last update (ops sorted by key, then by position). */
typedef struct {
    ff_mc_op_t *op;
    uint64_t cas;
    bool based; /* its placeholder's CAS value was read */
    bool last;  /* the last update of its key in the batch: the one applied */
} mc_item_t;

static int
item_cmp(const void *a, const void *b)
{
    const mc_item_t *x = a, *y = b;
    int c = strcmp(x->op->key, y->op->key);

    return c != 0 ? c : (x->op > y->op) - (x->op < y->op);
}

/* The applied update of key (klen bytes), or NULL. */
static mc_item_t *
item_find(mc_item_t *items, size_t n, const char *key, size_t klen)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strncmp(items[mid].op->key, key, klen);
        if (c == 0 && items[mid].op->key[klen] != '\0')
            c = 1;
        if (c == 0) {
            while (!items[mid].last)
                mid++;
            return &items[mid];
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Sorts the batch by key and marks the update of each key that is applied. */
static mc_item_t *
items_make(ff_mc_op_t *ops, size_t n)
{
    mc_item_t *items = ff_calloc(n + 1, sizeof(*items));

    for (size_t i = 0; i < n; i++) {
        ops[i].done = false;
        items[i].op = &ops[i];
    }
    qsort(items, n, sizeof(*items), item_cmp);
    for (size_t i = 0; i < n; i++)
        items[i].last = i + 1 == n || strcmp(items[i].op->key, items[i + 1].op->key) != 0;
    return items;
}

typedef void (*mc_result_fn)(mc_item_t *it, const memcached_result_st *r);

/* gets for the applied updates (only the sets when sets_only), fn for each key found.
 * Returns 0, or -1 when not every server answered. */
static int
mc_fetch(ff_mc_t *mc, mc_item_t *items, size_t n, bool sets_only, mc_result_fn fn)
{
    const char **keys = ff_malloc((n + 1) * sizeof(*keys));
    size_t *lens = ff_malloc((n + 1) * sizeof(*lens)), k = 0;
    memcached_result_st res;
    memcached_return_t rc = MEMCACHED_END;

    for (size_t i = 0; i < n; i++) {
        if (!items[i].last || (sets_only && items[i].op->val == NULL))
            continue;
        keys[k] = items[i].op->key;
        lens[k++] = strlen(items[i].op->key);
    }
    if (k > 0 && (rc = memcached_mget(mc->st, keys, lens, k)) == MEMCACHED_SUCCESS) {
        memcached_result_create(mc->st, &res);
        while (memcached_fetch_result(mc->st, &res, &rc) != NULL) {
            mc_item_t *it = item_find(items, n, memcached_result_key_value(&res),
                                      memcached_result_key_length(&res));
            if (it != NULL)
                fn(it, &res);
        }
        memcached_result_free(&res);
    }
    ff_free(keys);
    ff_free(lens);
    return rc == MEMCACHED_END || rc == MEMCACHED_NOTFOUND ? 0 : -1;
}

static void
take_cas(mc_item_t *it, const memcached_result_st *r)
{
    it->cas = memcached_result_cas(r);
    it->based = true;
}

/* A set is confirmed when the key holds its value, a delete when the key holds nothing
 * usable (a key not found stays confirmed, see ff_mc_pipeline). */
static void
verify(mc_item_t *it, const memcached_result_st *r)
{
    size_t len = memcached_result_length(r);

    if (it->op->val == NULL)
        it->op->done = len == 0;
    else
        it->op->done =
            len == it->op->len && memcmp(memcached_result_value(r), it->op->val, len) == 0;
}

/* Steps 1 and 3: without waiting for answers. */
static void
mc_send(ff_mc_t *mc, mc_item_t *items, size_t n, bool values)
{
    memcached_behavior_set(mc->st, MEMCACHED_BEHAVIOR_NOREPLY, 1);
    for (size_t i = 0; i < n; i++) {
        const ff_mc_op_t *op = items[i].op;
        size_t klen = strlen(op->key);
        if (!items[i].last)
            continue;
        if (!values && op->val != NULL)
            memcached_set(mc->st, op->key, klen, "", 0, op->ttl_s, 0);
        else if (!values)
            memcached_delete(mc->st, op->key, klen, 0);
        else if (op->val != NULL && items[i].based)
            memcached_cas(mc->st, op->key, klen, op->val, op->len, op->ttl_s, 0, items[i].cas);
    }
    memcached_behavior_set(mc->st, MEMCACHED_BEHAVIOR_NOREPLY, 0);
}

size_t
ff_mc_pipeline(ff_mc_t *mc, ff_mc_op_t *ops, size_t n)
{
    mc_item_t *items = items_make(ops, n);
    size_t failed = 0;

    mc_send(mc, items, n, false);
    if (mc_fetch(mc, items, n, true, take_cas) == 0) {
        mc_send(mc, items, n, true);
        /* A delete whose key is not found is done; a set must be found holding its value. */
        for (size_t i = 0; i < n; i++)
            items[i].op->done = items[i].last && items[i].op->val == NULL;
        if (mc_fetch(mc, items, n, false, verify) < 0)
            for (size_t i = 0; i < n; i++)
                items[i].op->done = false;
    }
    /* An update superseded in the batch stands or falls with the one applied after it. */
    for (size_t i = n; i-- > 0;) {
        if (!items[i].last)
            items[i].op->done = items[i + 1].op->done;
        failed += !items[i].op->done;
    }
    ff_free(items);
    return failed;
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
