/* poison_test: a row MariaDB refuses for its data goes to the dead-letter file and holds up
 * nothing else. The table tb_mood has an ENUM column; dbfront checks it as a string of at
 * most 5 characters, so "angry" passes dbfront's checks and only MariaDB refuses it (strict
 * mode: error 1265). Good rows of tb_item and tb_mood are written around one new tb_mood
 * row with mood "angry" and one update of a good tb_mood row to "angry", so that they share
 * flushes. Then: every good row is in MariaDB, dbfront's "dirty" is back to 0, its
 * "rejected" is 2, <wal>/rejected.jsonl holds the two refused rows (table, key, row and
 * MariaDB's error), dbfront's log has an ERROR for each, the refused new row reads as 404
 * and the refused update reads as MariaDB has the row; later writes still flush. */
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "dbenv.h"
#include "harness.h"
#include "storecall.h"
#include "storeload.h"

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
    " \"tables\":{\"tb_item\":{\"pk\":\"id\",\"incr\":true,\"fk\":\"owner\"},\n"
    "            \"tb_mood\":{\"pk\":\"id\",\"incr\":true,\"fk\":\"owner\"}},\n"
    " \"cluster\":{\"requestTimeout\":5000,\"logLevel\":\"debug\"}}\n";

static const char mood_sql[] =
    "CREATE TABLE IF NOT EXISTS tb_mood (id BIGINT NOT NULL, owner INT NOT NULL, "
    "mood ENUM('calm','glad','cross') NOT NULL DEFAULT 'calm', PRIMARY KEY (id), KEY owner "
    "(owner)) ENGINE=InnoDB";

#define NGOOD 40 /* good rows of each table, half before and half after the poison */
#define LINK_MS 10000
#define FLUSH_MS 20000

typedef struct {
    th_cluster_t *c;
    dbenv_t *db;
    long long want;                /* good rows of each table */
    long long items, moods, dirty; /* as last seen */
} flushed_t;

/* f->want good rows of each table in MariaDB and nothing dirty in dbfront. */
static bool
flushed_cb(void *arg)
{
    flushed_t *f = arg;
    json_t *st = th_cluster_status(f->c);
    json_t *v = json_object_get(th_status_node(st, "dbfront"), "dirty");

    f->dirty = json_is_integer(v) ? (long long)json_integer_value(v) : -1;
    json_decref(st);
    f->items = dbenv_count(f->db, "SELECT COUNT(*) FROM tb_item");
    f->moods = dbenv_count(f->db, "SELECT COUNT(*) FROM tb_mood WHERE mood IN ('calm','glad')");
    return f->dirty == 0 && f->items == f->want && f->moods == f->want;
}

typedef struct {
    dbenv_t *db;
    const char *sql;
    long long last;
} count_t;

static bool
count_cb(void *arg)
{
    count_t *w = arg;
    return (w->last = dbenv_count(w->db, w->sql)) == 1;
}

/* Writes n good rows of each table; ids of the tb_mood rows go to ids (may be NULL). */
static void
write_good(ffc_t *cl, int first, int n, long long *ids)
{
    char body[128];

    for (int i = first; i < first + n; i++) {
        snprintf(body, sizeof(body), "{\"row\":{\"owner\":%d,\"kind\":\"good%d\"}}", i, i);
        sc_new(cl, body, "new tb_item row");
        snprintf(body, sizeof(body), "{\"t\":\"tb_mood\",\"row\":{\"owner\":%d,\"mood\":\"%s\"}}",
                 i, i % 2 ? "glad" : "calm");
        long long id = sc_new(cl, body, "new tb_mood row");
        if (ids != NULL)
            ids[i - first] = id;
    }
}

/* rejected.jsonl: one line per refused row, with its table, key, row and error. */
static void
check_dead_letters(th_cluster_t *c, long long bad_new, long long bad_upd)
{
    char path[4200], line[4096];
    int n = 0, found_new = 0, found_upd = 0;
    FILE *f;

    snprintf(path, sizeof(path), "%s/wal/rejected.jsonl", th_cluster_dir(c));
    f = fopen(path, "r");
    if (!th_ok(f != NULL, "%s exists", path))
        return;
    while (fgets(line, sizeof(line), f) != NULL) {
        json_t *j = json_loads(line, 0, NULL);
        const char *err = json_string_value(json_object_get(j, "error"));
        json_int_t key = json_integer_value(json_object_get(j, "key"));
        n++;
        th_ok(j != NULL, "rejected.jsonl line %d is a JSON object", n);
        TH_EQ_STR(json_string_value(json_object_get(j, "table")), "tb_mood", "... of tb_mood");
        TH_EQ_STR(json_string_value(json_object_get(json_object_get(j, "row"), "mood")), "angry",
                  "... whose row has mood angry");
        th_ok(err != NULL && strstr(err, "mood") != NULL && strstr(err, "[1265]") != NULL,
              "... with MariaDB's error naming the column and its number (%s)", err ? err : "");
        found_new += key == bad_new;
        found_upd += key == bad_upd;
        json_decref(j);
    }
    fclose(f);
    TH_EQ_INT(n, 2, "rejected.jsonl holds two rows");
    TH_EQ_INT(found_new, 1, "... the refused new row %lld", bad_new);
    TH_EQ_INT(found_upd, 1, "... the refused update of row %lld", bad_upd);
}

typedef struct {
    ffc_t *cl;
    const char *body;
    int want, last;
} get_wait_t;

static bool
get_is_cb(void *arg)
{
    get_wait_t *w = arg;
    ffc_msg_t m = {0};

    if (ffc_call(w->cl, TSTORE_GET, w->body, strlen(w->body), &m, 5000) == 0)
        w->last = th_error_code(m.body, m.len);
    ffc_msg_free(&m);
    return w->last == w->want;
}

/* The refused rows read as MariaDB has them: the new one absent, the updated one unchanged. */
static void
check_reads(ffc_t *cl, long long bad_new, long long bad_upd)
{
    char body[64];
    get_wait_t w = {cl, body, 404, -1};
    json_t *j;

    snprintf(body, sizeof(body), "{\"t\":\"tb_mood\",\"pk\":%lld}", bad_new);
    th_wait(get_is_cb, &w, 5000);
    TH_EQ_INT(w.last, 404, "the refused new row %lld reads as absent (404)", bad_new);
    snprintf(body, sizeof(body), "{\"t\":\"tb_mood\",\"pk\":%lld}", bad_upd);
    j = sc_call_ok(cl, TSTORE_GET, body, "get the row whose update was refused");
    TH_EQ_STR(json_string_value(json_object_get(j, "mood")), "calm",
              "... reads with the mood MariaDB has (calm)");
    json_decref(j);
}

static void
run(th_cluster_t *c, dbenv_t *db, ffc_t *cl)
{
    flushed_t f = {c, db, 0, -1, -1, -1};
    count_t w = {db, NULL, -1};
    long long ids[NGOOD / 2], bad_new, bad_upd;
    char body[128];

    write_good(cl, 0, NGOOD / 2, ids);
    f.want = NGOOD / 2;
    if (!TH_EQ_INT(th_wait(flushed_cb, &f, FLUSH_MS), 0, "the first %d good rows are flushed",
                   NGOOD / 2))
        return;
    bad_upd = ids[0]; /* written "calm" (even owner), and now in MariaDB */
    bad_new = sc_new(cl, "{\"t\":\"tb_mood\",\"row\":{\"owner\":99,\"mood\":\"angry\"}}",
                     "new tb_mood row with mood angry (not in the ENUM)");
    snprintf(body, sizeof(body), "{\"t\":\"tb_mood\",\"pk\":%lld,\"row\":{\"mood\":\"angry\"}}",
             bad_upd);
    json_decref(sc_call_ok(cl, TSTORE_UPD, body, "update of a good tb_mood row to mood angry"));
    write_good(cl, NGOOD / 2, NGOOD / 2, NULL);
    f.want = NGOOD;
    if (!TH_EQ_INT(th_wait(flushed_cb, &f, FLUSH_MS), 0,
                   "every good row is in MariaDB and dbfront's \"dirty\" is 0"))
        th_diag("tb_item %lld, good tb_mood %lld (want %d each), dirty %lld", f.items, f.moods,
                NGOOD, f.dirty);
    th_diag("rows refused by MariaDB: new %lld, update of %lld", bad_new, bad_upd);
    TH_EQ_INT(sl_dbfront_figure(c, "rejected"), 2, "dbfront's /status shows \"rejected\":2");
    check_dead_letters(c, bad_new, bad_upd);
    TH_EQ_INT(th_log_count(c, "dbfront", "rejected.jsonl"), 2,
              "dbfront's log names each refused row");
    TH_EQ_INT(th_log_count(c, "dbfront", " E flush: MariaDB refused"), 2,
              "... as an ERROR line each");
    check_reads(cl, bad_new, bad_upd);
    sc_new(cl, "{\"row\":{\"owner\":7,\"kind\":\"late\"}}", "a later new row");
    w.sql = "SELECT COUNT(*) FROM tb_item WHERE kind = 'late'";
    th_wait(count_cb, &w, FLUSH_MS);
    TH_EQ_INT(w.last, 1, "... reaches MariaDB");
}

int
main(void)
{
    dbenv_t *db = dbenv_start();
    th_cluster_t *c = NULL;
    char *sections, *conf;
    json_t *r;
    ffc_t *cl;
    size_t len;

    if (db == NULL)
        return th_done();
    r = dbenv_query(db, mood_sql);
    if (!th_ok(r != NULL, "table tb_mood created")) {
        dbenv_stop(db);
        return th_done();
    }
    json_decref(r);
    sections = dbenv_config_sections(db);
    len = sizeof(config_fmt) + strlen(sections);
    conf = ff_malloc(len);
    snprintf(conf, len, config_fmt, sections);
    c = th_cluster_start(conf);
    if (c != NULL &&
        TH_EQ_INT(th_wait_store_linked(c, "game1", LINK_MS), 0, "game1 linked to dbfront") &&
        (cl = th_connect(c)) != NULL) {
        run(c, db, cl);
        ffc_close(cl);
    }
    th_cluster_stop(c);
    th_cluster_free(c);
    ff_free(conf);
    ff_free(sections);
    dbenv_stop(db);
    return th_done();
}
