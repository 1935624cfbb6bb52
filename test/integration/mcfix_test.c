/* mcfix_test: memcached never serves a row older than the newest acknowledged write, even
 * when a write dbfront gave up on reaches memcached late. Every node reaches memcached
 * through a proxy (tcpproxy.h) that can hold what a connection sends and deliver it later.
 * One row is written and its qty set to 2, through game1 (tstore), which reads memcached
 * first. Then, twice:
 * (a) every open connection is held, so that dbfront's update of the row to qty 3 times out
 *     and is acknowledged without memcached's confirmation; dbfront fixes the key up on a new
 *     connection, the row is set to qty 4 (confirmed), and only then do the held bytes reach
 *     memcached;
 * (b) the same, but the connection is held from its first "cas " line on: the conditional
 *     write of qty 5, based on the placeholder dbfront had just read back, arrives late,
 *     after qty 6 was confirmed.
 * After each release memcached is read directly, over and over for a while: it may hold
 * the newest row or nothing usable (a miss, or dbfront's empty placeholder), never an older
 * row; and game1 reads the newest qty. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "conf.h"
#include "dbenv.h"
#include "harness.h"
#include "mc.h"
#include "storecall.h"
#include "storeload.h"
#include "tcpproxy.h"

static const char config_fmt[] =
    "{\"master\":{\"rootport\":@ROOTPORT@,\"webport\":@WEBPORT@,\"log\":\"@DIR@/master.log\"},\n"
    " \"servers\":{\"gate\":{\"rootport\":@GATEPORT@,\"log\":\"@DIR@/gate.log\"},\n"
    "  \"net\":{\"netport\":@NETPORT@,\"log\":\"@DIR@/net.log\",\n"
    "         \"remoteport\":[{\"rootname\":\"gate\",\"rootport\":@GATEPORT@}]},\n"
    "  \"game1\":{\"app\":\"@REPO@/build/test/apps/libtstore.so\",\"mem\":true,"
    "\"log\":\"@DIR@/game1.log\",\n"
    "           \"remoteport\":[{\"rootname\":\"gate\",\"rootport\":@GATEPORT@},\n"
    "                         {\"rootname\":\"dbfront\",\"rootport\":@DBPORT@}]},\n"
    "  \"dbfront\":{\"rootport\":@DBPORT@,\"wal\":\"@DIR@/wal\",\"syncInterval\":1,"
    "\"log\":\"@DIR@/dbfront.log\"}},\n"
    " \"db\":{\"host\":\"127.0.0.1\",\"port\":%d,\"user\":\"firefly\",\"passwd\":\"firefly\","
    "\"db\":\"firefly\"},\n"
    " \"memcached\":{\"urls\":[\"127.0.0.1:%d\"],\"hostname\":\"firefly\"},\n"
    " \"tables\":{\"tb_item\":{\"pk\":\"id\",\"incr\":true,\"fk\":\"owner\"}},\n"
    " \"cluster\":{\"requestTimeout\":5000,\"logLevel\":\"debug\"}}\n";

#define LINK_MS 10000
#define FIX_MS 15000  /* dbfront's fix-up: a timeout, a reconnect (1 s), a delete */
#define WATCH_MS 2000 /* memcached read directly, over and over, after a release */
#define HOLD_MS 5000  /* for the proxy to hold a "cas " line */

typedef struct {
    th_cluster_t *c;
    ffc_t *cl;
    tp_t *proxy;
    ff_conf_t mcconf; /* memcached directly, without the proxy */
    ff_mc_t *mc;
    long long id;
} fix_t;

/* The qty memcached holds for the row right now: -1 for a miss or a placeholder, -2 when
 * memcached cannot be read or holds something else. */
static int
mc_qty(fix_t *f)
{
    char key[FF_MC_KEY_MAX + 1], *val = NULL;
    size_t len = 0;
    json_t *j;
    int rc, qty;

    if (ff_mc_key(&f->mcconf, "tb_item", f->id, key, sizeof(key)) < 0)
        return -2;
    rc = ff_mc_get(f->mc, key, &val, &len);
    if (rc == 1 || (rc == 0 && len == 0)) {
        ff_free(val);
        return -1;
    }
    j = rc == 0 ? json_loadb(val, len, 0, NULL) : NULL;
    qty = json_is_integer(json_object_get(j, "qty"))
              ? (int)json_integer_value(json_object_get(j, "qty"))
              : -2;
    json_decref(j);
    ff_free(val);
    return qty;
}

static int
set_qty(fix_t *f, int qty, const char *what)
{
    char body[96];
    json_t *j;

    snprintf(body, sizeof(body), "{\"pk\":%lld,\"row\":{\"qty\":%d}}", f->id, qty);
    j = sc_call_ok(f->cl, TSTORE_UPD, body, what);
    json_decref(j);
    return j != NULL ? 0 : -1;
}

static bool
cache_up_cb(void *arg)
{
    return sl_dbfront_figure(arg, "memcached") == 1;
}

/* After a release: memcached never shows an older qty than want, for WATCH_MS; game1 reads
 * want. */
static void
watch(fix_t *f, int want, const char *what)
{
    long long end = th_now_ms() + WATCH_MS;
    int reads = 0, stale = 0, first_stale = 0, q;
    char body[64];
    json_t *j;

    while (th_now_ms() < end) {
        q = mc_qty(f);
        reads++;
        if (q >= 0 && q != want && stale++ == 0)
            first_stale = q;
        usleep(2000);
    }
    TH_EQ_INT(stale, 0,
              "%s memcached never held an older row than qty %d (%d reads; first stale: %d)", what,
              want, reads, first_stale);
    snprintf(body, sizeof(body), "{\"pk\":%lld}", f->id);
    j = sc_call_ok(f->cl, TSTORE_GET, body, "get the row through game1");
    TH_EQ_INT(json_integer_value(json_object_get(j, "qty")), want, "%s game1 reads qty %d", what,
              want);
    json_decref(j);
}

/* An update held by the proxy (hold() arms it), the fix-up, a newer confirmed update, then
 * the release. */
static void
late_write(fix_t *f, void (*hold)(tp_t *p), int late, const char *what)
{
    char name[96];
    long long t0 = th_now_ms();

    hold(f->proxy);
    snprintf(name, sizeof(name), "%s qty %d while memcached's answers are held", what, late);
    if (set_qty(f, late, name) < 0)
        return;
    th_diag("%s acknowledged after %lld ms; %zu bytes held", what, th_now_ms() - t0,
            tp_held(f->proxy));
    th_ok(tp_held(f->proxy) > 0, "%s the proxy holds what dbfront sent", what);
    if (!TH_EQ_INT(th_wait(cache_up_cb, f->c, FIX_MS), 0,
                   "%s dbfront fixed the key up: its /status shows memcached up", what))
        return;
    snprintf(name, sizeof(name), "%s qty %d", what, late + 1);
    if (set_qty(f, late + 1, name) < 0)
        return;
    th_diag("%s memcached holds qty %d before the release", what, mc_qty(f));
    tp_release(f->proxy);
    watch(f, late + 1, what);
}

static void
hold_all(tp_t *p)
{
    tp_hold_all(p);
}

static void
hold_cas(tp_t *p)
{
    tp_hold_at(p, "cas ");
}

static void
run(fix_t *f)
{
    f->id = sc_new(f->cl, "{\"row\":{\"owner\":1,\"kind\":\"late\"}}", "new row");
    if (f->id < 0 || set_qty(f, 2, "qty 2") < 0)
        return;
    TH_EQ_INT(mc_qty(f), 2, "memcached holds the row with qty 2");
    late_write(f, hold_all, 3, "(a)");
    late_write(f, hold_cas, 5, "(b)");
}

int
main(void)
{
    dbenv_t *db = dbenv_start();
    fix_t f = {0};
    char *conf, url[32], *urls[1] = {url};
    size_t len;

    if (db == NULL)
        return th_done();
    if ((f.proxy = tp_start(dbenv_memcached_port(db))) == NULL) {
        dbenv_stop(db);
        return th_done();
    }
    len = sizeof(config_fmt) + 32;
    conf = ff_malloc(len);
    snprintf(conf, len, config_fmt, dbenv_mysql_port(db), tp_port(f.proxy));
    snprintf(url, sizeof(url), "127.0.0.1:%d", dbenv_memcached_port(db));
    f.mcconf.memcached.urls = urls;
    f.mcconf.memcached.nurls = 1;
    f.mcconf.memcached.hostname = (char *)"firefly";
    f.mc = ff_mc_new(&f.mcconf);
    f.c = th_cluster_start(conf);
    if (f.c != NULL &&
        TH_EQ_INT(th_wait_store_linked(f.c, "game1", LINK_MS), 0, "game1 linked to dbfront") &&
        (f.cl = th_connect(f.c)) != NULL) {
        run(&f);
        ffc_close(f.cl);
    }
    th_cluster_stop(f.c);
    th_cluster_free(f.c);
    tp_stop(f.proxy);
    ff_mc_free(f.mc);
    ff_free(conf);
    dbenv_stop(db);
    return th_done();
}
