/* diablo_test: Firefly's Diablo sample end to end on real MariaDB and memcached: gate runs the
 * login app (apps/login), game1 and game2 the game app (apps/diablo), dbfront keeps the rows.
 * Firefly's login packet, byte for byte, creates user chenee; the same login finds it again,
 * a wrong password is refused, concurrent first logins of one new name make one user; 102
 * creates the one character a user may have; 103 binds the session to game1 or game2 and
 * answers the character; 104/105/106 land on that node and keep the exp and coin; a
 * disconnect saves them, and MariaDB shows the rows once flushed (syncInterval 1 s); a new
 * login finds the saved values; eight logins of different users at once (known names and
 * new ones) all succeed; a player still connected at /stop is saved too. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "dbenv.h"
#include "diablo/diablo_proto.h"
#include "harness.h"
#include "login/login_proto.h"

static const char config_fmt[] =
    "{\"master\":{\"rootport\":@ROOTPORT@,\"webport\":@WEBPORT@,\"log\":\"@DIR@/master.log\"},\n"
    " \"servers\":{\n"
    "  \"gate\":{\"rootport\":@GATEPORT@,\"app\":\"@REPO@/build/apps/liblogin.so\",\"mem\":true,"
    "\"log\":\"@DIR@/gate.log\",\n"
    "          \"remoteport\":[{\"rootname\":\"dbfront\",\"rootport\":@DBPORT@}]},\n"
    "  \"net\":{\"netport\":@NETPORT@,\"log\":\"@DIR@/net.log\",\n"
    "         \"remoteport\":[{\"rootname\":\"gate\",\"rootport\":@GATEPORT@}]},\n"
    "  \"game1\":{\"app\":\"@REPO@/build/apps/libdiablo.so\",\"mem\":true,"
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
    /* Firefly's login packet below carries the sample's magic N%&0 and protoVersion 9 (a
     * printf format: %% is one %). */
    " \"netconnect\":{\"magic\":\"N%%&0\",\"protoVersion\":9},\n"
    " \"cluster\":{\"requestTimeout\":5000}}\n";

/* Firefly's login packet: the 17-byte header, then the 42-byte body. */
static const uint8_t login_header[FF_FRAME_HEADER] = {
    0x4E, 0x25, 0x26, 0x30, /* magic N%&0 */
    0x09,                   /* protoVersion */
    0x00, 0x00, 0x00, 0x00, /* serverVersion */
    0x00, 0x00, 0x00, 0x2E, /* length = 42 + 4 */
    0x00, 0x00, 0x00, 0x65, /* command 101 */
};
static const char login_body[] = "{\"password\":\"chenee\",\"username\":\"chenee\"}\n";
#define LOGIN_BODY_LEN (sizeof(login_body) - 1)

#define WAIT_MS 5000
#define LINK_MS 10000
#define FLUSH_MS 15000
#define RACERS 3
#define MIXED 8

/* ---- helpers ---- */

/* Parses a reply body; NULL when it is not JSON. */
static json_t *
parse(const ffc_msg_t *m)
{
    return m->body != NULL ? json_loadb((const char *)m->body, m->len, 0, NULL) : NULL;
}

/* Sends cmd with a JSON body and returns the parsed reply (json_decref it), or NULL after a
 * failed check. */
static json_t *
call(ffc_t *cl, uint32_t cmd, const char *body, const char *what)
{
    ffc_msg_t m = {0};
    json_t *j = NULL;
    int rc = ffc_call(cl, cmd, body, strlen(body), &m, WAIT_MS);

    if (TH_EQ_INT(rc, 0, "%s: a reply arrives (%s)", what, ffc_strerror(rc)) &&
        TH_EQ_INT(m.cmd, cmd, "%s: the reply carries command %u", what, cmd)) {
        j = parse(&m);
        th_ok(j != NULL, "%s: the reply is JSON (got %s)", what, (const char *)m.body);
    }
    ffc_msg_free(&m);
    return j;
}

/* Checks {"result":true,"data":{...}} and returns data (borrowed from j), or NULL. */
static json_t *
expect_true(json_t *j, const char *what)
{
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    bool ok =
        json_is_true(json_object_get(j, "result")) && json_is_object(json_object_get(j, "data"));

    th_ok(ok, "%s: {\"result\":true,\"data\":{...}} (got %s)", what, text ? text : "nothing");
    free(text);
    return ok ? json_object_get(j, "data") : NULL;
}

/* Checks {"result":false,"message":"..."}. */
static void
expect_false(json_t *j, const char *what)
{
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;

    th_ok(json_is_false(json_object_get(j, "result")) &&
              json_is_string(json_object_get(j, "message")),
          "%s: {\"result\":false,\"message\":...} (got %s)", what, text ? text : "nothing");
    free(text);
}

static long long
int_of(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_integer(v) ? (long long)json_integer_value(v) : -1;
}

/* Sends cmd, checks for {"result":false,...}. */
static void
call_false(ffc_t *cl, uint32_t cmd, const char *body, const char *what)
{
    json_t *j = call(cl, cmd, body, what);

    expect_false(j, what);
    json_decref(j);
}

/* Logs in (101) and checks the reply; returns the userId, or -1. Sets *cid to characterId. */
static long long
login(ffc_t *cl, const char *user, const char *pass, long long *cid, const char *what)
{
    char body[128];
    json_t *j, *data;
    long long uid = -1;

    snprintf(body, sizeof(body), "{\"username\":\"%s\",\"password\":\"%s\"}", user, pass);
    j = call(cl, LOGIN_CMD_LOGIN, body, what);
    if ((data = expect_true(j, what)) != NULL) {
        uid = int_of(data, "userId");
        *cid = int_of(data, "characterId");
        TH_EQ_INT(json_is_true(json_object_get(data, "hasRole")), *cid > 0,
                  "%s: hasRole is characterId > 0 (characterId %lld)", what, *cid);
    }
    json_decref(j);
    return uid;
}

/* ---- conditions ---- */

static bool
linked_cb(void *arg)
{
    static const char *const nodes[] = {"gate", "game1", "game2"};
    json_t *st = th_cluster_status(arg);
    bool ok = st != NULL;

    for (size_t i = 0; ok && i < sizeof(nodes) / sizeof(nodes[0]); i++) {
        json_t *store = json_object_get(th_status_node(st, nodes[i]), "store");
        ok = json_is_true(json_object_get(store, "dbfront"));
    }
    json_decref(st);
    return ok;
}

typedef struct {
    dbenv_t *db;
    char sql[256];
    char want[256]; /* the first row as "col=value,..." in the query's column order */
    char last[256];
} row_wait_t;

/* Renders the first row of a query as "col=value,..." into out. */
static void
row_text(json_t *rows, char *out, size_t len)
{
    const char *key;
    json_t *v;
    size_t n = 0;

    out[0] = '\0';
    json_object_foreach(json_array_get(rows, 0), key, v)
    {
        int w = snprintf(out + n, len - n, "%s%s=%s", n ? "," : "", key,
                         json_is_string(v) ? json_string_value(v) : "NULL");
        if (w < 0 || (size_t)w >= len - n)
            break;
        n += (size_t)w;
    }
}

static bool
row_is_cb(void *arg)
{
    row_wait_t *r = arg;
    json_t *rows = dbenv_query(r->db, r->sql);

    row_text(rows, r->last, sizeof(r->last));
    json_decref(rows);
    return strcmp(r->last, r->want) == 0;
}

/* Waits until the first row of sql reads want ("col=value,..."). */
static void
expect_row(dbenv_t *db, const char *sql, const char *want, const char *what)
{
    row_wait_t r = {.db = db};

    snprintf(r.sql, sizeof(r.sql), "%s", sql);
    snprintf(r.want, sizeof(r.want), "%s", want);
    th_wait(row_is_cb, &r, FLUSH_MS);
    TH_EQ_STR(r.last, want, "%s", what);
}

/* ---- login ---- */

/* Firefly's login packet as raw bytes: a new user chenee. Returns its userId, or -1. */
static long long
test_first_login(ffc_t *cl)
{
    ffc_msg_t m = {0};
    json_t *j = NULL, *data;
    long long uid = -1;

    TH_EQ_INT(ffc_send_raw(cl, login_header, sizeof(login_header)), 0, "login packet: header sent");
    TH_EQ_INT(ffc_send_raw(cl, login_body, LOGIN_BODY_LEN), 0, "login packet: body sent");
    if (TH_EQ_INT(ffc_recv(cl, &m, WAIT_MS), 0, "login packet: a reply arrives") &&
        TH_EQ_INT(m.cmd, LOGIN_CMD_LOGIN, "login packet: the reply carries command 101"))
        j = parse(&m);
    if ((data = expect_true(j, "login packet: chenee created")) != NULL) {
        uid = int_of(data, "userId");
        th_ok(uid > 0, "login packet: userId %lld > 0", uid);
        th_ok(json_is_false(json_object_get(data, "hasRole")), "login packet: hasRole false");
        TH_EQ_INT(int_of(data, "characterId"), 0, "login packet: characterId 0");
    }
    json_decref(j);
    ffc_msg_free(&m);
    return uid;
}

static void
test_login_again(ffc_t *cl, long long uid)
{
    long long cid = -1;

    TH_EQ_INT(login(cl, "chenee", "chenee", &cid, "second login"), uid,
              "second login: the same userId");
    TH_EQ_INT(cid, 0, "second login: still no character");
    call_false(cl, LOGIN_CMD_LOGIN, "{\"username\":\"chenee\",\"password\":\"wrong\"}",
               "wrong password");
    call_false(cl, LOGIN_CMD_LOGIN, "{\"username\":\"abc\",\"password\":\"abcd\"}",
               "a new name of 3 characters");
    call_false(cl, LOGIN_CMD_LOGIN, "{\"username\":\"abcde\",\"password\":\"abc\"}",
               "a new user with a password of 3 characters");
    call_false(cl, LOGIN_CMD_LOGIN, "{\"username\":\"chenee\"}", "no password");
}

/* RACERS connections send the first login of one new name at once: one user, one userId. */
static void
test_login_race(th_cluster_t *c, dbenv_t *db)
{
    static const char body[] = "{\"username\":\"racer\",\"password\":\"fast1\"}";
    ffc_t *cl[RACERS];
    long long uid[RACERS];

    for (int i = 0; i < RACERS; i++)
        cl[i] = th_connect(c);
    for (int i = 0; i < RACERS; i++)
        if (cl[i] != NULL)
            TH_EQ_INT(ffc_send(cl[i], LOGIN_CMD_LOGIN, body, strlen(body)), 0,
                      "race: login %d sent", i);
    for (int i = 0; i < RACERS; i++) {
        ffc_msg_t m = {0};
        json_t *j = NULL, *data;
        uid[i] = -1;
        if (cl[i] != NULL && TH_EQ_INT(ffc_recv(cl[i], &m, WAIT_MS), 0, "race: reply %d", i))
            j = parse(&m);
        if ((data = expect_true(j, "race: login")) != NULL)
            uid[i] = int_of(data, "userId");
        json_decref(j);
        ffc_msg_free(&m);
        ffc_close(cl[i]);
    }
    th_ok(uid[0] > 0, "race: userId %lld > 0", uid[0]);
    for (int i = 1; i < RACERS; i++)
        TH_EQ_INT(uid[i], uid[0], "race: login %d got the same userId", i);
    expect_row(db, "SELECT COUNT(*) AS n FROM tb_user WHERE username = 'racer'", "n=1",
               "race: one tb_user row named racer in MariaDB");
}

/* Logins of different users at once, new names and known ones mixed: every one succeeds
 * (concurrent store calls of different kinds must not disturb each other in dbfront). */
static void
test_mixed_logins(th_cluster_t *c)
{
    static const char *const names[MIXED] = {"chenee", "mixa1", "mixb1", "racer",
                                             "mixc1",  "mixd1", "mixe1", "mixf1"};
    ffc_t *cl[MIXED];
    char body[96];
    int ok = 0;

    for (int i = 0; i < MIXED; i++)
        cl[i] = th_connect(c);
    for (int i = 0; i < MIXED; i++) {
        snprintf(body, sizeof(body), "{\"username\":\"%s\",\"password\":\"%s\"}", names[i],
                 i == 0   ? "chenee"
                 : i == 3 ? "fast1"
                          : "secret");
        if (cl[i] != NULL)
            ffc_send(cl[i], LOGIN_CMD_LOGIN, body, strlen(body));
    }
    for (int i = 0; i < MIXED; i++) {
        ffc_msg_t m = {0};
        json_t *j = NULL;
        if (cl[i] != NULL && ffc_recv(cl[i], &m, WAIT_MS) == 0)
            j = parse(&m);
        if (json_is_true(json_object_get(j, "result")))
            ok++;
        else
            th_diag("mixed logins: %s got %s", names[i], m.body ? (const char *)m.body : "nothing");
        json_decref(j);
        ffc_msg_free(&m);
        ffc_close(cl[i]);
    }
    TH_EQ_INT(ok, MIXED, "mixed logins: all %d logins of different users at once succeed", MIXED);
}

/* ---- the character ---- */

/* 102: creates hero; returns its id, or -1. */
static long long
test_create_role(ffc_t *cl, long long uid)
{
    char body[128];
    json_t *j, *data;
    long long cid = -1, found = -1;

    snprintf(body, sizeof(body), "{\"userId\":%lld,\"rolename\":\"hero\",\"profession\":1}",
             uid + 1000);
    call_false(cl, LOGIN_CMD_CREATE_ROLE, body, "102 for a user not logged in here");
    snprintf(body, sizeof(body), "{\"userId\":%lld,\"rolename\":\"\",\"profession\":1}", uid);
    call_false(cl, LOGIN_CMD_CREATE_ROLE, body, "102 with an empty name");
    snprintf(body, sizeof(body), "{\"userId\":%lld,\"rolename\":\"hero\",\"profession\":1}", uid);
    j = call(cl, LOGIN_CMD_CREATE_ROLE, body, "102 creates hero");
    if ((data = expect_true(j, "102 creates hero")) != NULL)
        cid = int_of(data, "characterId");
    json_decref(j);
    th_ok(cid > 0, "102: characterId %lld > 0", cid);
    snprintf(body, sizeof(body), "{\"userId\":%lld,\"rolename\":\"other\",\"profession\":2}", uid);
    call_false(cl, LOGIN_CMD_CREATE_ROLE, body, "a second character");
    TH_EQ_INT(login(cl, "chenee", "chenee", &found, "login with a character"), uid,
              "login with a character: the same userId");
    TH_EQ_INT(found, cid, "login with a character: hasRole and its characterId");
    return cid;
}

/* 103: returns the node name the session was bound to (static), or NULL. */
static const char *
test_enter_game(ffc_t *cl, long long uid, long long cid)
{
    static char node[32];
    char body[128];
    json_t *j, *data;
    const char *n;

    snprintf(body, sizeof(body), "{\"userId\":%lld,\"characterId\":%lld}", uid, cid + 1000);
    call_false(cl, LOGIN_CMD_ENTER_GAME, body, "103 for a character that does not exist");
    snprintf(body, sizeof(body), "{\"userId\":%lld,\"characterId\":%lld}", uid, cid);
    j = call(cl, LOGIN_CMD_ENTER_GAME, body, "103 enters the game");
    if ((data = expect_true(j, "103 enters the game")) == NULL) {
        json_decref(j);
        return NULL;
    }
    TH_EQ_INT(int_of(data, "cid"), cid, "103: cid");
    TH_EQ_STR(json_string_value(json_object_get(data, "name")), "hero", "103: name");
    TH_EQ_INT(int_of(data, "level"), 1, "103: level");
    TH_EQ_INT(int_of(data, "exp"), 0, "103: exp");
    TH_EQ_INT(int_of(data, "coin"), 0, "103: coin");
    TH_EQ_INT(int_of(data, "profession"), 1, "103: profession");
    TH_EQ_INT(int_of(data, "town"), 1000, "103: town");
    n = json_string_value(json_object_get(data, "node"));
    th_ok(n != NULL && (strcmp(n, "game1") == 0 || strcmp(n, "game2") == 0),
          "103: node is game1 or game2 (got %s)", n ? n : "nothing");
    snprintf(node, sizeof(node), "%s", n ? n : "");
    json_decref(j);
    return node;
}

/* ---- playing ---- */

/* Sends 105 and checks the totals. */
static void
gain(ffc_t *cl, const char *body, long long exp, long long coin, const char *what)
{
    json_t *j = call(cl, DIABLO_CMD_GAIN, body, what), *data;

    if ((data = expect_true(j, what)) != NULL) {
        TH_EQ_INT(int_of(data, "exp"), exp, "%s: exp", what);
        TH_EQ_INT(int_of(data, "coin"), coin, "%s: coin", what);
        TH_EQ_INT(int_of(data, "level"), 1 + exp / 1000, "%s: level", what);
    }
    json_decref(j);
}

/* Sends 106 and checks the node and the totals. */
static void
info(ffc_t *cl, const char *node, long long exp, long long coin, const char *what)
{
    json_t *j = call(cl, DIABLO_CMD_INFO, "{}", what), *data;

    if ((data = expect_true(j, what)) != NULL) {
        TH_EQ_STR(json_string_value(json_object_get(data, "node")), node, "%s: node", what);
        TH_EQ_INT(int_of(data, "exp"), exp, "%s: exp", what);
        TH_EQ_INT(int_of(data, "coin"), coin, "%s: coin", what);
    }
    json_decref(j);
}

/* 104 enters cid and checks exp and coin; returns whether it worked. */
static bool
enter(ffc_t *cl, long long cid, const char *node, long long exp, long long coin, const char *what)
{
    char body[64];
    json_t *j, *data;

    snprintf(body, sizeof(body), "{\"characterId\":%lld}", cid);
    j = call(cl, DIABLO_CMD_ENTER, body, what);
    if ((data = expect_true(j, what)) != NULL) {
        TH_EQ_STR(json_string_value(json_object_get(data, "node")), node, "%s: node", what);
        TH_EQ_INT(int_of(data, "cid"), cid, "%s: cid", what);
        TH_EQ_INT(int_of(data, "exp"), exp, "%s: exp", what);
        TH_EQ_INT(int_of(data, "coin"), coin, "%s: coin", what);
    }
    json_decref(j);
    return data != NULL;
}

static void
test_play(ffc_t *cl, long long cid, const char *node)
{
    call_false(cl, DIABLO_CMD_INFO, "{}", "106 before 104");
    call_false(cl, DIABLO_CMD_GAIN, "{\"exp\":1}", "105 before 104");
    if (!enter(cl, cid, node, 0, 0, "104 enters"))
        return;
    gain(cl, "{\"exp\":1500,\"coin\":30}", 1500, 30, "105 gains 1500 exp, 30 coin");
    gain(cl, "{\"exp\":700,\"coin\":12}", 2200, 42, "105 gains 700 exp, 12 coin");
    call_false(cl, DIABLO_CMD_GAIN, "{\"exp\":-5}", "105 with negative exp");
    /* An unbound session would alternate between game1 and game2; every answer is node's. */
    for (int i = 0; i < 4; i++)
        info(cl, node, 2200, 42, "106 on the bound node");
}

/* A second connection of the same user cannot enter the character being played. */
static void
test_second_player(th_cluster_t *c, long long uid, long long cid)
{
    ffc_t *cl = th_connect(c);
    char body[128];
    long long found = -1;

    if (cl == NULL)
        return;
    TH_EQ_INT(login(cl, "chenee", "chenee", &found, "second connection logs in"), uid,
              "second connection: the same userId");
    snprintf(body, sizeof(body), "{\"userId\":%lld,\"characterId\":%lld}", uid, cid);
    call_false(cl, LOGIN_CMD_ENTER_GAME, body,
               "second connection: 103 while the character is played");
    ffc_close(cl);
}

/* ---- saved ---- */

static void
test_saved(dbenv_t *db, long long uid, long long cid)
{
    char sql[160], want[160];

    snprintf(sql, sizeof(sql), "SELECT exp, coin, level FROM tb_character WHERE id = %lld", cid);
    expect_row(db, sql, "exp=2200,coin=42,level=3", "disconnect: the game node saved hero");
    snprintf(sql, sizeof(sql),
             "SELECT userId, name, profession, town FROM tb_character "
             "WHERE id = %lld",
             cid);
    snprintf(want, sizeof(want), "userId=%lld,name=hero,profession=1,town=1000", uid);
    expect_row(db, sql, want, "tb_character row of hero in MariaDB");
    snprintf(want, sizeof(want), "id=%lld,username=chenee,password=chenee", uid);
    expect_row(db, "SELECT id, username, password FROM tb_user WHERE username = 'chenee'", want,
               "tb_user row of chenee in MariaDB");
    expect_row(db, "SELECT COUNT(*) AS n FROM tb_character", "n=1", "one character in MariaDB");
}

/* A new connection plays on from the saved values; returned still connected. */
static ffc_t *
test_comeback(th_cluster_t *c, long long uid, long long cid)
{
    ffc_t *cl = th_connect(c);
    char body[128];
    json_t *j, *data;
    long long found = -1;
    const char *node;

    if (cl == NULL)
        return NULL;
    TH_EQ_INT(login(cl, "chenee", "chenee", &found, "comeback: login"), uid,
              "comeback: the same userId");
    TH_EQ_INT(found, cid, "comeback: the same character");
    snprintf(body, sizeof(body), "{\"userId\":%lld,\"characterId\":%lld}", uid, cid);
    j = call(cl, LOGIN_CMD_ENTER_GAME, body, "comeback: 103");
    if ((data = expect_true(j, "comeback: 103")) != NULL) {
        TH_EQ_INT(int_of(data, "exp"), 2200, "comeback: 103 shows the saved exp");
        node = json_string_value(json_object_get(data, "node"));
        if (enter(cl, cid, node ? node : "", 2200, 42, "comeback: 104 loads the saved values"))
            gain(cl, "{\"exp\":300,\"coin\":8}", 2500, 50, "comeback: 105");
    }
    json_decref(j);
    return cl;
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

/* The whole game as one player; returns the connection of the comeback, still playing
 * (NULL when it did not get there), and its character's id in *cid. */
static ffc_t *
run(th_cluster_t *c, dbenv_t *db, long long *cid)
{
    ffc_t *cl = th_connect(c), *last = NULL;
    const char *node;
    long long uid;

    if (cl == NULL)
        return NULL;
    if ((uid = test_first_login(cl)) > 0) {
        test_login_again(cl, uid);
        if ((*cid = test_create_role(cl, uid)) > 0 &&
            (node = test_enter_game(cl, uid, *cid)) != NULL) {
            test_play(cl, *cid, node);
            test_second_player(c, uid, *cid);
            ffc_close(cl);
            cl = NULL;
            test_saved(db, uid, *cid);
            last = test_comeback(c, uid, *cid);
        }
    }
    ffc_close(cl);
    return last;
}

int
main(void)
{
    dbenv_t *db = dbenv_start();
    th_cluster_t *c;
    ffc_t *last = NULL;
    long long cid = -1;
    char *tmpl, sql[128];

    if (db == NULL)
        return th_done();
    tmpl = config(db);
    c = th_cluster_start(tmpl);
    if (c != NULL) {
        TH_EQ_INT(th_wait(linked_cb, c, LINK_MS), 0, "gate, game1 and game2 linked to dbfront");
        last = run(c, db, &cid);
        test_login_race(c, db);
        test_mixed_logins(c);
        th_cluster_stop(c);
        if (last != NULL) {
            snprintf(sql, sizeof(sql), "SELECT exp, coin FROM tb_character WHERE id = %lld", cid);
            expect_row(db, sql, "exp=2500,coin=50", "a player connected at /stop is saved");
        }
        ffc_close(last);
        th_cluster_free(c);
    }
    ff_free(tmpl);
    dbenv_stop(db);
    return th_done();
}
