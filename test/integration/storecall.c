/* storecall: single tstore calls with TAP checks, and direct memcached reads; see
 * storecall.h. */
#include "storecall.h"

#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "conf.h"
#include "mc.h"

#define SC_CALL_MS 5000

struct sc_mc_s {
    ff_conf_t *conf;
    ff_mc_t *mc;
};

json_t *
sc_call(ffc_t *cl, uint32_t cmd, const char *body, int *code, const char *what)
{
    ffc_msg_t m = {0};
    json_t *j = NULL;
    int rc = ffc_call(cl, cmd, body, strlen(body), &m, SC_CALL_MS);

    if (code != NULL)
        *code = 0;
    if (!TH_EQ_INT(rc, 0, "%s: a reply arrives (%s)", what, ffc_strerror(rc)))
        return NULL;
    j = json_loadb((const char *)m.body, m.len, 0, NULL);
    th_ok(j != NULL, "%s: the reply is JSON (%.*s)", what, (int)m.len, (const char *)m.body);
    if (code != NULL)
        *code = th_error_code(m.body, m.len);
    ffc_msg_free(&m);
    return j;
}

json_t *
sc_call_ok(ffc_t *cl, uint32_t cmd, const char *body, const char *what)
{
    int code = 0;
    json_t *j = sc_call(cl, cmd, body, &code, what);
    char *text;

    if (j == NULL || code == 0)
        return j;
    text = json_dumps(j, JSON_COMPACT);
    th_ok(0, "%s: no error reply (got %s)", what, text ? text : "?");
    free(text);
    json_decref(j);
    return NULL;
}

long long
sc_new(ffc_t *cl, const char *body, const char *what)
{
    json_t *j = sc_call_ok(cl, TSTORE_NEW, body, what);
    json_t *id = json_object_get(j, "id");
    long long n = json_is_integer(id) ? (long long)json_integer_value(id) : -1;

    if (j != NULL)
        th_ok(n > 0, "%s: the stored row has an id (%lld)", what, n);
    json_decref(j);
    return n;
}

char *
sc_config_sections(const dbenv_t *db, const char *hostname)
{
    const char *fmt = "\"db\":{\"host\":\"127.0.0.1\",\"port\":%d,\"user\":\"firefly\","
                      "\"passwd\":\"firefly\",\"db\":\"firefly\"},"
                      "\"memcached\":{\"urls\":[\"127.0.0.1:%d\"],\"hostname\":\"%s\"}";
    int n = snprintf(NULL, 0, fmt, dbenv_mysql_port(db), dbenv_memcached_port(db), hostname);
    char *s = ff_malloc((size_t)n + 1);

    snprintf(s, (size_t)n + 1, fmt, dbenv_mysql_port(db), dbenv_memcached_port(db), hostname);
    return s;
}

sc_mc_t *
sc_mc_open(th_cluster_t *c)
{
    char path[4096], err[1024];
    sc_mc_t *mc = ff_calloc(1, sizeof(*mc));

    snprintf(path, sizeof(path), "%s/config.json", th_cluster_dir(c));
    mc->conf = ff_conf_load(path, err, sizeof(err));
    if (mc->conf != NULL)
        mc->mc = ff_mc_new(mc->conf);
    else
        th_diag("%s", err);
    if (!th_ok(mc->mc != NULL, "a memcached client for %s", path)) {
        sc_mc_close(mc);
        return NULL;
    }
    return mc;
}

char *
sc_mc_get(sc_mc_t *mc, const char *table, int64_t pk)
{
    char key[FF_MC_KEY_MAX + 1], *val = NULL;
    size_t len;

    if (ff_mc_key(mc->conf, table, pk, key, sizeof(key)) < 0)
        return NULL;
    return ff_mc_get(mc->mc, key, &val, &len) == 0 ? val : NULL;
}

void
sc_mc_close(sc_mc_t *mc)
{
    if (mc == NULL)
        return;
    ff_mc_free(mc->mc);
    ff_conf_free(mc->conf);
    ff_free(mc);
}
