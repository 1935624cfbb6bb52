/* badwrite_test: writes that do not fit their table are refused before anything changes.
 * game1 runs tstore (201 new, 202 update, 203 delete, 204 get, 205 getby) on real MariaDB
 * and memcached through dbfront (syncInterval 1 s). After a few good rows are flushed, every
 * bad write gets an error reply with code 400 (404 for a missing row) whose message names
 * the table and the column: unknown table or column, a string into an INT, a value out of
 * range, 33 characters into a VARCHAR(32), null into NOT NULL, an update of the pk, the pk
 * given on an incr table, a new row without a NOT NULL column that has no default, an
 * update, delete or get of a missing row. Then dbfront shows nothing dirty and its log did
 * not grow, MariaDB's tables stay exactly as they were for more than a sync interval, and a
 * good write still works. Last, two cases past the checks above: an update of a row dbfront
 * has not loaded, pipelined with a getby, must be applied; and an impossible date must be
 * refused rather than block every later flush. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "dbenv.h"
#include "harness.h"
#include "tstore/tstore_proto.h"

static const char config_fmt[] =
    "{\"master\":{\"rootport\":@ROOTPORT@,\"webport\":@WEBPORT@,\"log\":\"@DIR@/master.log\"},\n"
    " \"servers\":{\n"
    "  \"gate\":{\"rootport\":@GATEPORT@,\"app\":\"@REPO@/build/apps/liblogin.so\",\"mem\":true,"
    "\"log\":\"@DIR@/gate.log\",\n"
    "          \"remoteport\":[{\"rootname\":\"dbfront\",\"rootport\":@DBPORT@}]},\n"
    "  \"net\":{\"netport\":@NETPORT@,\"log\":\"@DIR@/net.log\",\n"
    "         \"remoteport\":[{\"rootname\":\"gate\",\"rootport\":@GATEPORT@}]},\n"
    "  \"game1\":{\"app\":\"@REPO@/build/test/apps/libtstore.so\",\"mem\":true,"
    "\"log\":\"@DIR@/game1.log\",\n"
    "           \"remoteport\":[{\"rootname\":\"gate\",\"rootport\":@GATEPORT@},\n"
    "                         {\"rootname\":\"dbfront\",\"rootport\":@DBPORT@}]},\n"
    "  \"game2\":{\"app\":\"@REPO@/build/apps/libdiablo.so\",\"mem\":true,"
    "\"log\":\"@DIR@/game2.log\",\n"
    "           \"remoteport\":[{\"rootname\":\"gate\",\"rootport\":@GATEPORT@},\n"
    "                         {\"rootname\":\"dbfront\",\"rootport\":@DBPORT@}]},\n"
    "  \"dbfront\":{\"rootport\":@DBPORT@,\"wal\":\"@DIR@/wal\",\"syncInterval\":1,"
    "\"log\":\"@DIR@/dbfront.log\"}},\n"
    " %s,\n"
    " \"tables\":{\"tb_user\":{\"pk\":\"id\",\"incr\":true,\"fk\":\"username\"},\n"
    "            \"tb_character\":{\"pk\":\"id\",\"incr\":true,\"fk\":\"userId\"},\n"
    "            \"tb_item\":{\"pk\":\"id\",\"incr\":true,\"fk\":\"owner\"}},\n"
    " \"cluster\":{\"requestTimeout\":5000}}\n";

#define WAIT_MS 5000
#define LINK_MS 10000
#define FLUSH_MS 15000
#define UNCHANGED_MS 2500 /* more than two sync intervals */
#define DIRECT_ID 900001  /* a tb_item row put into MariaDB behind dbfront's back */

static const char *const tables[] = {"tb_user", "tb_character", "tb_item", "ff_meta"};
#define NTABLES (sizeof(tables) / sizeof(tables[0]))

/* One bad write: the request, the error code and two words its message must contain. */
typedef struct {
    const char *what;
    uint32_t cmd;
    const char *body; /* "%lld" stands for the id of a stored tb_item row */
    int code;
    const char *table, *column;
} bad_t;

static const bad_t bad_writes[] = {
    {"unknown table", TSTORE_NEW, "{\"t\":\"tb_nope\",\"row\":{\"owner\":1,\"kind\":\"x\"}}", 400,
     "tb_nope", "tb_nope"},
    {"unknown column", TSTORE_NEW, "{\"row\":{\"owner\":1,\"kind\":\"x\",\"color\":\"red\"}}", 400,
     "tb_item", "color"},
    {"a string into INT", TSTORE_NEW, "{\"row\":{\"owner\":\"seven\",\"kind\":\"x\"}}", 400,
     "tb_item", "owner"},
    {"INT out of range", TSTORE_NEW, "{\"row\":{\"owner\":2147483648,\"kind\":\"x\"}}", 400,
     "tb_item", "owner"},
    {"TINYINT out of range", TSTORE_NEW,
     "{\"t\":\"tb_character\",\"row\":{\"userId\":1,\"name\":\"x\",\"profession\":300}}", 400,
     "tb_character", "profession"},
    {"negative INT UNSIGNED", TSTORE_NEW,
     "{\"t\":\"tb_character\",\"row\":{\"userId\":1,\"name\":\"x\",\"coin\":-1}}", 400,
     "tb_character", "coin"},
    {"33 characters into VARCHAR(32)", TSTORE_NEW,
     "{\"row\":{\"owner\":1,\"kind\":\"abcdefghijklmnopqrstuvwxyz0123456\"}}", 400, "tb_item",
     "kind"},
    {"12 characters into VARCHAR(11)", TSTORE_NEW,
     "{\"t\":\"tb_user\",\"row\":{\"username\":\"abcdefghijkl\",\"password\":\"pw\"}}", 400,
     "tb_user", "username"},
    {"null into NOT NULL", TSTORE_NEW, "{\"row\":{\"owner\":null,\"kind\":\"x\"}}", 400, "tb_item",
     "owner"},
    {"pk given on an incr table", TSTORE_NEW, "{\"row\":{\"id\":5000,\"owner\":1,\"kind\":\"x\"}}",
     400, "tb_item", "id"},
    {"new without a NOT NULL column", TSTORE_NEW, "{\"row\":{\"owner\":1}}", 400, "tb_item",
     "kind"},
    {"new tb_character without name", TSTORE_NEW, "{\"t\":\"tb_character\",\"row\":{\"userId\":1}}",
     400, "tb_character", "name"},
    {"update of the pk", TSTORE_UPD, "{\"pk\":%lld,\"row\":{\"id\":99}}", 400, "tb_item", "id"},
    {"update of an unknown column", TSTORE_UPD, "{\"pk\":%lld,\"row\":{\"color\":\"red\"}}", 400,
     "tb_item", "color"},
    {"update with a string into INT", TSTORE_UPD, "{\"pk\":%lld,\"row\":{\"qty\":\"many\"}}", 400,
     "tb_item", "qty"},
    {"update with null into NOT NULL", TSTORE_UPD, "{\"pk\":%lld,\"row\":{\"kind\":null}}", 400,
     "tb_item", "kind"},
    {"update with 33 characters", TSTORE_UPD,
     "{\"pk\":%lld,\"row\":{\"kind\":\"abcdefghijklmnopqrstuvwxyz0123456\"}}", 400, "tb_item",
     "kind"},
    {"update of an unknown table", TSTORE_UPD,
     "{\"t\":\"tb_nope\",\"pk\":%lld,\"row\":{\"qty\":2}}", 400, "tb_nope", "tb_nope"},
    {"update of a missing row", TSTORE_UPD, "{\"pk\":987654,\"row\":{\"qty\":2}}", 404, "tb_item",
     "987654"},
    {"delete of a missing row", TSTORE_DEL, "{\"pk\":987654}", 404, "tb_item", "987654"},
    {"get of a missing row", TSTORE_GET, "{\"pk\":987654}", 404, "tb_item", "987654"},
};
#define NBAD (sizeof(bad_writes) / sizeof(bad_writes[0]))

/* ---- helpers ---- */

/* Sends cmd with body; returns 0 with the reply in *m, or -1 after a failed check. */
static int
call(ffc_t *cl, uint32_t cmd, const char *body, ffc_msg_t *m, const char *what)
{
    int rc = ffc_call(cl, cmd, body, strlen(body), m, WAIT_MS);

    if (!TH_EQ_INT(rc, 0, "%s: a reply arrives (%s)", what, ffc_strerror(rc)))
        return -1;
    return TH_EQ_INT(m->cmd, cmd, "%s: the reply carries command %u", what, cmd) ? 0 : -1;
}

/* Sends cmd and returns the parsed reply when it is not an error reply, else NULL. */
static json_t *
call_ok(ffc_t *cl, uint32_t cmd, const char *body, const char *what)
{
    ffc_msg_t m = {0};
    json_t *j = NULL;

    if (call(cl, cmd, body, &m, what) == 0 &&
        TH_EQ_INT(th_error_code(m.body, m.len), 0, "%s: no error (got %s)", what, m.body))
        j = json_loadb((const char *)m.body, m.len, 0, NULL);
    ffc_msg_free(&m);
    return j;
}

/* 201 of a tb_item row; returns its id, or -1. */
static long long
new_item(ffc_t *cl, int owner, const char *kind, const char *what)
{
    char body[128];
    json_t *j;
    long long id;

    snprintf(body, sizeof(body), "{\"row\":{\"owner\":%d,\"kind\":\"%s\"}}", owner, kind);
    j = call_ok(cl, TSTORE_NEW, body, what);
    id = json_is_integer(json_object_get(j, "id")) ? json_integer_value(json_object_get(j, "id"))
                                                   : -1;
    th_ok(id > 0, "%s: the stored row has id %lld", what, id);
    json_decref(j);
    return id;
}

/* Every table's rows in MariaDB as one text, for comparing before and after. */
static char *
snapshot(dbenv_t *db)
{
    json_t *all = json_object();
    char sql[96], *text;

    for (size_t i = 0; i < NTABLES; i++) {
        snprintf(sql, sizeof(sql), "SELECT * FROM %s ORDER BY 1", tables[i]);
        json_object_set_new(all, tables[i], dbenv_query(db, sql));
    }
    text = json_dumps(all, JSON_COMPACT);
    json_decref(all);
    return text;
}

/* A figure of dbfront's /status (dirty, walBytes, ...), or -1. */
static long long
dbfront_figure(th_cluster_t *c, const char *key)
{
    json_t *st = th_cluster_status(c);
    json_t *v = json_object_get(th_status_node(st, "dbfront"), key);
    long long n = json_is_integer(v) ? (long long)json_integer_value(v) : -1;

    json_decref(st);
    return n;
}

static bool
clean_cb(void *arg)
{
    return dbfront_figure(arg, "dirty") == 0;
}

typedef struct {
    dbenv_t *db;
    const char *sql;
    long long want, last;
} count_wait_t;

static bool
count_is_cb(void *arg)
{
    count_wait_t *w = arg;
    return (w->last = dbenv_count(w->db, w->sql)) == w->want;
}

/* Waits until the count query returns want. */
static void
expect_count(dbenv_t *db, const char *sql, long long want, int timeout_ms, const char *what)
{
    count_wait_t w = {db, sql, want, -1};

    th_wait(count_is_cb, &w, timeout_ms);
    TH_EQ_INT(w.last, want, "%s", what);
}

typedef struct {
    dbenv_t *db;
    const char *before;
    char *now;
} same_wait_t;

static bool
changed_cb(void *arg)
{
    same_wait_t *w = arg;

    free(w->now);
    w->now = snapshot(w->db);
    return strcmp(w->now, w->before) != 0;
}

/* ---- the checks ---- */

/* Good rows in every table, flushed. Returns the id of the tb_item row "sword", or -1. */
static long long
setup(th_cluster_t *c, dbenv_t *db, ffc_t *cl)
{
    long long sword = new_item(cl, 7, "sword", "setup: new sword");
    json_t *j;

    new_item(cl, 7, "shield", "setup: new shield");
    json_decref(call_ok(cl, TSTORE_NEW,
                        "{\"t\":\"tb_user\",\"row\":{\"username\":\"keeper\","
                        "\"password\":\"pw\"}}",
                        "setup: new tb_user keeper"));
    json_decref(call_ok(cl, TSTORE_NEW,
                        "{\"t\":\"tb_character\",\"row\":{\"userId\":1,"
                        "\"name\":\"keeper\",\"profession\":2}}",
                        "setup: new tb_character keeper"));
    if (sword > 0) {
        char body[96];
        snprintf(body, sizeof(body), "{\"pk\":%lld,\"row\":{\"qty\":3}}", sword);
        j = call_ok(cl, TSTORE_UPD, body, "setup: qty of sword set to 3");
        th_ok(json_is_object(j) && json_object_size(j) == 0, "setup: update answers {}");
        json_decref(j);
    }
    TH_EQ_INT(th_wait(clean_cb, c, FLUSH_MS), 0, "setup: dbfront flushed everything");
    expect_count(db, "SELECT COUNT(*) FROM tb_item", 2, FLUSH_MS, "setup: 2 tb_item rows");
    expect_count(db, "SELECT COUNT(*) FROM tb_user", 1, FLUSH_MS, "setup: 1 tb_user row");
    expect_count(db, "SELECT COUNT(*) FROM tb_character", 1, FLUSH_MS, "setup: 1 tb_character row");
    return sword;
}

static void
test_bad_write(ffc_t *cl, const bad_t *b, long long id)
{
    char body[256];
    const char *msg;
    ffc_msg_t m = {0};
    json_t *j;

    snprintf(body, sizeof(body), b->body, id);
    if (call(cl, b->cmd, body, &m, b->what) < 0)
        return;
    TH_EQ_INT(th_error_code(m.body, m.len), b->code, "%s: error %d (got %s)", b->what, b->code,
              m.body);
    j = json_loadb((const char *)m.body, m.len, 0, NULL);
    msg = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
    th_ok(msg != NULL && strstr(msg, b->table) != NULL && strstr(msg, b->column) != NULL,
          "%s: the message names %s and %s (got %s)", b->what, b->table, b->column,
          msg ? msg : "nothing");
    json_decref(j);
    ffc_msg_free(&m);
}

/* After the bad writes: nothing dirty, no log growth, MariaDB unchanged for a while. */
static void
test_unchanged(th_cluster_t *c, dbenv_t *db, const char *before, long long wal_before)
{
    same_wait_t w = {db, before, NULL};
    long long wal = dbfront_figure(c, "walBytes");

    TH_EQ_INT(dbfront_figure(c, "dirty"), 0, "bad writes: dbfront holds no dirty row");
    th_ok(wal >= 0 && wal <= wal_before, "bad writes: the log did not grow (%lld -> %lld bytes)",
          wal_before, wal);
    TH_EQ_INT(th_wait(changed_cb, &w, UNCHANGED_MS), -1,
              "bad writes: MariaDB's tables unchanged for %d ms (more than 2 sync intervals)",
              UNCHANGED_MS);
    if (w.now != NULL && strcmp(w.now, before) != 0) {
        th_diag("before: %s", before);
        th_diag("after:  %s", w.now);
    }
    free(w.now);
}

/* A good new and a good update still work and reach MariaDB. */
static void
test_good_write(dbenv_t *db, ffc_t *cl, long long sword)
{
    char body[96], sql[96];
    json_t *j;

    new_item(cl, 7, "after", "good write: new after");
    expect_count(db, "SELECT COUNT(*) FROM tb_item WHERE kind = 'after'", 1, FLUSH_MS,
                 "good write: the new row is in MariaDB");
    snprintf(body, sizeof(body), "{\"pk\":%lld,\"row\":{\"qty\":5}}", sword);
    json_decref(call_ok(cl, TSTORE_UPD, body, "good write: qty of sword set to 5"));
    snprintf(sql, sizeof(sql), "SELECT qty FROM tb_item WHERE id = %lld", sword);
    expect_count(db, sql, 5, FLUSH_MS, "good write: MariaDB has qty 5");
    snprintf(body, sizeof(body), "{\"pk\":%lld}", sword);
    j = call_ok(cl, TSTORE_GET, body, "good write: get sword");
    TH_EQ_INT(json_integer_value(json_object_get(j, "qty")), 5, "good write: get shows qty 5");
    json_decref(j);
}

/* An update of a row dbfront has not loaded (put into MariaDB directly), pipelined with a
 * getby on the same connection, so that both reach dbfront in one read: the update must be
 * answered {} and applied. */
static void
test_pipelined_update(dbenv_t *db, ffc_t *cl)
{
    static const char upd[] = "{\"pk\":900001,\"row\":{\"qty\":7}}", by[] = "{\"v\":8}";
    ffc_msg_t m = {0};
    json_t *j;
    char sql[96];

    json_decref(dbenv_query(db, "INSERT INTO tb_item (id, owner, kind, qty) "
                                "VALUES (900001, 8, 'direct', 1)"));
    TH_EQ_INT(ffc_send(cl, TSTORE_UPD, upd, strlen(upd)), 0, "pipelined: update sent");
    TH_EQ_INT(ffc_send(cl, TSTORE_GETBY, by, strlen(by)), 0, "pipelined: getby sent");
    if (TH_EQ_INT(ffc_recv(cl, &m, WAIT_MS), 0, "pipelined: first reply") &&
        TH_EQ_INT(m.cmd, TSTORE_UPD, "pipelined: the first reply is the update's"))
        TH_EQ_MEM(m.body, m.len, "{}", 2, "pipelined: the update answers {}");
    ffc_msg_free(&m);
    if (TH_EQ_INT(ffc_recv(cl, &m, WAIT_MS), 0, "pipelined: second reply") &&
        TH_EQ_INT(m.cmd, TSTORE_GETBY, "pipelined: the second reply is the getby's")) {
        j = json_loadb((const char *)m.body, m.len, 0, NULL);
        TH_EQ_INT(json_array_size(j), 1, "pipelined: getby finds the row (got %s)", m.body);
        json_decref(j);
    }
    ffc_msg_free(&m);
    j = call_ok(cl, TSTORE_GET, "{\"pk\":900001}", "pipelined: get the row");
    TH_EQ_INT(json_integer_value(json_object_get(j, "qty")), 7, "pipelined: get shows qty 7");
    json_decref(j);
    snprintf(sql, sizeof(sql), "SELECT qty FROM tb_item WHERE id = %d", DIRECT_ID);
    expect_count(db, sql, 7, FLUSH_MS, "pipelined: MariaDB has qty 7");
}

/* A date MariaDB refuses must be refused at the write: once in the log, the row fails every
 * flush and holds back every row written after it. */
static void
test_bad_date(th_cluster_t *c, dbenv_t *db, ffc_t *cl)
{
    static const bad_t b = {"impossible date",
                            TSTORE_NEW,
                            "{\"t\":\"tb_user\",\"row\":{\"username\":\"datebad\","
                            "\"password\":\"pw\",\"created\":\"2024-13-45 25:61:61\"}}",
                            400,
                            "tb_user",
                            "created"};

    test_bad_write(cl, &b, 0);
    new_item(cl, 9, "late", "after the date: new late");
    expect_count(db, "SELECT COUNT(*) FROM tb_item WHERE kind = 'late'", 1, FLUSH_MS,
                 "after the date: the new row reaches MariaDB");
    th_diag("dbfront: dirty %lld, flushFailures %lld", dbfront_figure(c, "dirty"),
            dbfront_figure(c, "flushFailures"));
}

static void
run(th_cluster_t *c, dbenv_t *db)
{
    ffc_t *cl = th_connect(c);
    long long sword, wal;
    char *before;

    if (cl == NULL)
        return;
    if ((sword = setup(c, db, cl)) > 0) {
        before = snapshot(db);
        wal = dbfront_figure(c, "walBytes");
        for (size_t i = 0; i < NBAD; i++)
            test_bad_write(cl, &bad_writes[i], sword);
        test_unchanged(c, db, before, wal);
        free(before);
        test_good_write(db, cl, sword);
        test_pipelined_update(db, cl);
        test_bad_date(c, db, cl);
    }
    ffc_close(cl);
}

static char *
config(const dbenv_t *db)
{
    char *sections = dbenv_config_sections(db);
    size_t len = sizeof(config_fmt) + strlen(sections);
    char *out = ff_malloc(len);

    snprintf(out, len, config_fmt, sections);
    ff_free(sections);
    return out;
}

int
main(void)
{
    dbenv_t *db = dbenv_start();
    th_cluster_t *c;
    char *tmpl;

    if (db == NULL)
        return th_done();
    tmpl = config(db);
    c = th_cluster_start(tmpl);
    if (c != NULL) {
        TH_EQ_INT(th_wait_store_linked(c, "game1", LINK_MS), 0, "game1 linked to dbfront");
        run(c, db);
        th_cluster_stop(c);
        th_cluster_free(c);
    }
    ff_free(tmpl);
    dbenv_stop(db);
    return th_done();
}
