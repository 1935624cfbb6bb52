/* mckey_test: a long memcached.hostname never makes two rows share a memcached key. The
 * hostname is 149 bytes, so that `<hostname>:tb_item:` is 158 and the keys of rows 1 and 12
 * differ only in their 160th byte (dbfront once built keys in 160 bytes and cut the rest).
 * Twelve rows are written through game1 (tstore); memcached must hold each row under its
 * own key, and reading row 1 back through game1 (which reads memcached first) must return
 * row 1. The keys are read with the same code the nodes use (ff_mc_key). */
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "dbenv.h"
#include "harness.h"
#include "storecall.h"

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
    " %s,\n"
    " \"tables\":{\"tb_item\":{\"pk\":\"id\",\"incr\":true,\"fk\":\"owner\"}},\n"
    " \"cluster\":{\"requestTimeout\":5000}}\n";

#define HOSTNAME_LEN 149
#define NROWS 12
#define LINK_MS 10000

/* memcached holds row id under its own key, with its own id and kind. */
static void
check_key(sc_mc_t *mc, long long id, const char *kind)
{
    char *doc = sc_mc_get(mc, "tb_item", id);
    json_t *j = doc ? json_loads(doc, 0, NULL) : NULL;

    if (th_ok(j != NULL, "memcached holds a document under the key of row %lld", id)) {
        TH_EQ_INT(json_integer_value(json_object_get(j, "id")), id,
                  "... the document of row %lld, not another row's", id);
        TH_EQ_STR(json_string_value(json_object_get(j, "kind")), kind, "... with its kind");
    }
    json_decref(j);
    ff_free(doc);
}

static void
run(th_cluster_t *c, ffc_t *cl)
{
    long long ids[NROWS];
    char body[96], kind[16];
    sc_mc_t *mc;
    json_t *j;

    for (int i = 0; i < NROWS; i++) {
        snprintf(body, sizeof(body), "{\"row\":{\"owner\":1,\"kind\":\"k%d\"}}", i + 1);
        ids[i] = sc_new(cl, body, "new row");
    }
    if (!TH_EQ_INT(ids[0], 1, "the first row has id 1") ||
        !TH_EQ_INT(ids[NROWS - 1], 12, "the last row has id 12"))
        return;
    if ((mc = sc_mc_open(c)) == NULL)
        return;
    for (int i = 0; i < NROWS; i++) {
        snprintf(kind, sizeof(kind), "k%d", i + 1);
        check_key(mc, ids[i], kind);
    }
    sc_mc_close(mc);
    j = sc_call_ok(cl, TSTORE_GET, "{\"pk\":1}", "get row 1 through game1");
    TH_EQ_INT(json_integer_value(json_object_get(j, "id")), 1, "game1 reads row 1 as row 1");
    TH_EQ_STR(json_string_value(json_object_get(j, "kind")), "k1", "... with kind k1");
    json_decref(j);
}

int
main(void)
{
    dbenv_t *db = dbenv_start();
    char host[HOSTNAME_LEN + 1], *sections, *conf;
    th_cluster_t *c;
    ffc_t *cl;
    size_t len;

    if (db == NULL)
        return th_done();
    for (int i = 0; i < HOSTNAME_LEN; i++)
        host[i] = (char)('a' + i % 26);
    host[HOSTNAME_LEN] = '\0';
    sections = sc_config_sections(db, host);
    len = sizeof(config_fmt) + strlen(sections);
    conf = ff_malloc(len);
    snprintf(conf, len, config_fmt, sections);
    c = th_cluster_start(conf);
    if (c != NULL &&
        TH_EQ_INT(th_wait_store_linked(c, "game1", LINK_MS), 0, "game1 linked to dbfront") &&
        (cl = th_connect(c)) != NULL) {
        run(c, cl);
        ffc_close(cl);
    }
    th_cluster_stop(c);
    th_cluster_free(c);
    ff_free(conf);
    ff_free(sections);
    dbenv_stop(db);
    return th_done();
}
