/* login: gate's own app, Firefly's Diablo login. 101 login {"username","password"} (a new
 * name of 4..11 characters with a password of 4..11 creates the user), 102 create the
 * character {"userId","rolename","profession"} (one per user), 103 enter the game
 * {"userId","characterId"}: binds the session to the least-loaded node of the group that
 * handles 104 (apps/diablo) and answers the character with that node's name. Replies have
 * Firefly's shapes: {"result":true,"data":{...}} or {"result":false,"message":"..."}; a
 * store failure (dbfront or MariaDB unavailable, timeout) is an error reply with its code.
 *
 * State: the user id a connection logged in as, and the character it entered, are in the
 * session (framework state, gone with the connection). 102 and 103 accept only the userId
 * the connection logged in as. Logins of one name, and character creations of one user, are
 * run one at a time (the later ones wait in `flights`, this library's only global state), so
 * that two concurrent first logins cannot create the same user twice. That table is lost on
 * /reload: a login handled by the new copy while the old copy is still creating the same
 * name can create a duplicate user. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diablo/diablo_proto.h"
#include "firefly/app.h"
#include "login_proto.h"

enum { NAME_MIN = 4, NAME_MAX = 11, ROLE_MAX = 32, MAX_WAITERS = 64 };

typedef struct login_flight login_flight_t;
typedef void (*login_start_fn)(ff_req_t *req, login_flight_t *fl);

typedef struct login_waiter {
    struct login_waiter *next;
    ff_req_t *req;
    login_start_fn start;
} login_waiter_t;

/* One key (a user name, a user id) with an operation running and the requests waiting. */
struct login_flight {
    login_flight_t *next;
    login_waiter_t *head, **tail;
    size_t nwait;
    char key[];
};

/* One running operation: the request, its flight and what the callbacks learnt. */
typedef struct {
    ff_req_t *req;
    login_flight_t *fl;
    json_int_t uid;
} login_op_t;

static login_flight_t *flights;

/* ---- replies and fields ---------------------------------------------------------------- */

static void
reply_fail(ff_req_t *req, const char *message)
{
    ff_reply_json(req, json_pack("{s:b,s:s}", "result", 0, "message", message));
}

/* {"result":true,"data":data}; steals data. */
static void
reply_data(ff_req_t *req, json_t *data)
{
    ff_reply_json(req, json_pack("{s:b,s:o}", "result", 1, "data", data));
}

/* A store failure: an error reply with the store's code and message. */
static void
reply_store_error(ff_req_t *req, int status, json_t *result)
{
    const char *msg =
        json_string_value(json_object_get(json_object_get(result, "error"), "message"));
    ff_reply_error(req, status, msg ? msg : "store unavailable");
}

/* The number of UTF-8 characters in s (jansson strings are valid UTF-8). */
static size_t
utf8_chars(const char *s)
{
    size_t n = 0;

    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/* The string member key of obj when it has min..max characters, else NULL. */
static const char *
str_field(json_t *obj, const char *key, size_t min, size_t max)
{
    const char *s = json_string_value(json_object_get(obj, key));
    size_t n = s ? utf8_chars(s) : 0;

    return s != NULL && n >= min && n <= max ? s : NULL;
}

/* The integer member key of obj when it is in min..max, else -1 (every caller's min >= 0). */
static json_int_t
int_field(json_t *obj, const char *key, json_int_t min, json_int_t max)
{
    json_t *v = json_object_get(obj, key);
    json_int_t i = json_integer_value(v);

    return json_is_integer(v) && i >= min && i <= max ? i : -1;
}

/* The integer column of a row, or def when absent (a row stored without it). */
static json_int_t
row_int(json_t *row, const char *key, json_int_t def)
{
    json_t *v = json_object_get(row, key);
    return json_is_integer(v) ? json_integer_value(v) : def;
}

/* Whether the connection logged in as uid (session "userId"). */
static bool
logged_in_as(ff_conn_t conn, json_int_t uid)
{
    const char *s = ff_session_get(conn, "userId");
    char want[24];

    snprintf(want, sizeof(want), "%lld", (long long)uid);
    return s != NULL && strcmp(s, want) == 0;
}

/* Records the login in the session, unless the connection was lost meanwhile: its session
 * is gone then (and with it the "open" mark), and a new one would never be dropped. */
static void
session_login(ff_conn_t conn, json_int_t uid)
{
    char v[24];

    if (ff_session_get(conn, "open") == NULL)
        return;
    snprintf(v, sizeof(v), "%lld", (long long)uid);
    ff_session_set(conn, "userId", v);
}

/* ---- one operation per key at a time ------------------------------------------------- */

static login_flight_t *
flight_find(const char *key)
{
    for (login_flight_t *f = flights; f != NULL; f = f->next)
        if (strcmp(f->key, key) == 0)
            return f;
    return NULL;
}

/* Runs start(req, flight) now when nothing runs for key, else once the operations before it
 * have called flight_done. */
static void
flight_run(const char *key, ff_req_t *req, login_start_fn start)
{
    login_flight_t *f = flight_find(key);
    login_waiter_t *w;

    if (f != NULL) {
        if (f->nwait >= MAX_WAITERS) {
            reply_fail(req, "too many requests in progress for this account; try again");
            return;
        }
        w = calloc(1, sizeof(*w));
        w->req = req;
        w->start = start;
        *f->tail = w;
        f->tail = &w->next;
        f->nwait++;
        return;
    }
    f = calloc(1, sizeof(*f) + strlen(key) + 1);
    strcpy(f->key, key);
    f->tail = &f->head;
    f->next = flights;
    flights = f;
    start(req, f);
}

/* The operation of f has completed its request: starts the next one waiting, or ends f. */
static void
flight_done(login_flight_t *f)
{
    login_waiter_t *w = f->head;
    login_flight_t **p;

    if (w != NULL) {
        f->head = w->next;
        if (f->head == NULL)
            f->tail = &f->head;
        f->nwait--;
        w->start(w->req, f);
        free(w);
        return;
    }
    for (p = &flights; *p != f; p = &(*p)->next)
        ;
    *p = f->next;
    free(f);
}

static login_op_t *
op_new(ff_req_t *req, login_flight_t *fl)
{
    login_op_t *op = calloc(1, sizeof(*op));

    op->req = req;
    op->fl = fl;
    return op;
}

/* The operation's request has been completed: frees op and lets the next one run. */
static void
op_done(login_op_t *op)
{
    login_flight_t *fl = op->fl;

    free(op);
    if (fl != NULL)
        flight_done(fl);
}

/* ---- 101 login ----------------------------------------------------------------------- */

/* Replies to a login of user uid with the first character found in rows (a getby result). */
static void
login_reply(login_op_t *op, json_t *rows)
{
    json_int_t cid = row_int(json_array_get(rows, 0), "id", 0);

    session_login(ff_req_conn(op->req), op->uid);
    reply_data(op->req, json_pack("{s:I,s:b,s:I}", "userId", (json_int_t)op->uid, "hasRole",
                                  cid > 0, "characterId", cid));
}

static void
roles_cb(void *arg, int status, json_t *result)
{
    login_op_t *op = arg;

    if (status != 0)
        reply_store_error(op->req, status, result);
    else
        login_reply(op, result);
    op_done(op);
}

static void
user_created_cb(void *arg, int status, json_t *result)
{
    login_op_t *op = arg;

    if (status != 0) {
        reply_store_error(op->req, status, result);
    } else {
        op->uid = row_int(result, "id", 0);
        login_reply(op, NULL);
    }
    op_done(op);
}

/* The user of that name in rows, matched exactly (MariaDB's collation ignores case). */
static json_t *
user_find(json_t *rows, const char *name)
{
    size_t i;
    json_t *row;

    json_array_foreach(rows, i, row)
    {
        const char *s = json_string_value(json_object_get(row, "username"));
        if (s != NULL && strcmp(s, name) == 0)
            return row;
    }
    return NULL;
}

/* No user of that name: creates it when name and password fit, else refuses. Returns
 * whether the request is still running. */
static bool
user_create(login_op_t *op, json_t *body)
{
    const char *name = str_field(body, "username", NAME_MIN, NAME_MAX);
    const char *pass = str_field(body, "password", NAME_MIN, NAME_MAX);

    if (name == NULL || pass == NULL) {
        reply_fail(op->req, "no such user; a new user name and password need 4 to 11 "
                            "characters each");
        return false;
    }
    ff_store_new("tb_user", json_pack("{s:s,s:s}", "username", name, "password", pass),
                 user_created_cb, op);
    return true;
}

static void
user_found_cb(void *arg, int status, json_t *result)
{
    login_op_t *op = arg;
    json_t *body = ff_req_json(op->req), *user;
    const char *pass = json_string_value(json_object_get(body, "password")), *stored;

    if (status != 0) {
        reply_store_error(op->req, status, result);
    } else if ((user = user_find(result, json_string_value(json_object_get(body, "username")))) ==
               NULL) {
        if (user_create(op, body))
            return;
    } else if ((stored = json_string_value(json_object_get(user, "password"))) == NULL ||
               strcmp(stored, pass) != 0) {
        reply_fail(op->req, "wrong password");
    } else {
        op->uid = row_int(user, "id", 0);
        ff_store_get_by("tb_character", json_integer(op->uid), roles_cb, op);
        return;
    }
    op_done(op);
}

static void
login_start(ff_req_t *req, login_flight_t *fl)
{
    const char *name = json_string_value(json_object_get(ff_req_json(req), "username"));

    ff_store_get_by("tb_user", json_string(name), user_found_cb, op_new(req, fl));
}

static void
on_login(ff_req_t *req)
{
    json_t *body = ff_req_json(req);
    const char *name = str_field(body, "username", 1, NAME_MAX);
    char key[64];

    ff_session_set(ff_req_conn(req), "open", "1");
    if (name == NULL || !json_is_string(json_object_get(body, "password"))) {
        reply_fail(req, "expected {\"username\": 1..11 characters, \"password\": a string}");
        return;
    }
    snprintf(key, sizeof(key), "name:%s", name);
    flight_run(key, req, login_start);
}

/* ---- 102 create the character ------------------------------------------------------- */

static void
role_created_cb(void *arg, int status, json_t *result)
{
    login_op_t *op = arg;

    if (status != 0)
        reply_store_error(op->req, status, result);
    else
        reply_data(op->req, json_pack("{s:I}", "characterId", row_int(result, "id", 0)));
    op_done(op);
}

/* Every column is given, so that the stored document is complete before its first flush. */
static void
role_existing_cb(void *arg, int status, json_t *result)
{
    login_op_t *op = arg;
    json_t *body = ff_req_json(op->req);

    if (status != 0) {
        reply_store_error(op->req, status, result);
    } else if (json_array_size(result) > 0) {
        reply_fail(op->req, "this user already has a character");
    } else {
        ff_store_new("tb_character",
                     json_pack("{s:I,s:s,s:I,s:i,s:i,s:i,s:i}", "userId", op->uid, "name",
                               json_string_value(json_object_get(body, "rolename")), "profession",
                               json_integer_value(json_object_get(body, "profession")), "level", 1,
                               "exp", 0, "coin", 0, "town", 1000),
                     role_created_cb, op);
        return;
    }
    op_done(op);
}

static void
create_start(ff_req_t *req, login_flight_t *fl)
{
    login_op_t *op = op_new(req, fl);

    op->uid = json_integer_value(json_object_get(ff_req_json(req), "userId"));
    ff_store_get_by("tb_character", json_integer(op->uid), role_existing_cb, op);
}

static void
on_create_role(ff_req_t *req)
{
    json_t *body = ff_req_json(req);
    json_int_t uid = int_field(body, "userId", 1, INT32_MAX);
    char key[40];

    ff_session_set(ff_req_conn(req), "open", "1");
    if (uid < 0 || str_field(body, "rolename", 1, ROLE_MAX) == NULL ||
        int_field(body, "profession", 0, 127) < 0) {
        reply_fail(req, "expected {\"userId\", \"rolename\": 1..32 characters, "
                        "\"profession\": 0..127}");
        return;
    }
    if (!logged_in_as(ff_req_conn(req), uid)) {
        reply_fail(req, "log in as this user first");
        return;
    }
    snprintf(key, sizeof(key), "user:%lld", (long long)uid);
    flight_run(key, req, create_start);
}

/* ---- 103 enter the game ------------------------------------------------------------- */

/* Binds the session to a game node (keeping the node of a character already entered on this
 * connection) and returns its name, or NULL when no node runs the game. */
static const char *
enter_bind(ff_conn_t conn, json_int_t cid, const char *chan)
{
    const char *cur = ff_session_get(conn, "characterId"), *node = ff_session_get(conn, "node");
    char v[24];

    snprintf(v, sizeof(v), "%lld", (long long)cid);
    if (cur != NULL && strcmp(cur, v) == 0 && node != NULL)
        return node;
    if (cur != NULL) {
        char old[48];
        snprintf(old, sizeof(old), "character:%s", cur);
        ff_channel_leave(old, conn);
    }
    if ((node = ff_session_bind_group(conn, DIABLO_CMD_ENTER)) == NULL)
        return NULL;
    ff_channel_join(chan, conn);
    ff_session_set(conn, "characterId", v);
    ff_session_set(conn, "node", node);
    return ff_session_get(conn, "node");
}

/* Whether another connection than conn is playing the character of channel chan. */
static bool
in_game_elsewhere(const char *chan, ff_conn_t conn)
{
    ff_conn_t members[2];
    size_t n = ff_channel_members(chan, members, 2);

    return n > 1 || (n == 1 && members[0] != conn);
}

static void
character_cb(void *arg, int status, json_t *row)
{
    login_op_t *op = arg;
    ff_conn_t conn = ff_req_conn(op->req);
    json_int_t cid = json_integer_value(json_object_get(ff_req_json(op->req), "characterId"));
    const char *node;
    char chan[48];

    snprintf(chan, sizeof(chan), "character:%lld", (long long)cid);
    if (status == FF_STORE_NOT_FOUND)
        reply_fail(op->req, "no such character");
    else if (status != 0)
        reply_store_error(op->req, status, row);
    else if (row_int(row, "userId", 0) != op->uid)
        reply_fail(op->req, "this character belongs to another user");
    else if (ff_session_get(conn, "open") == NULL)
        ff_reply_none(op->req); /* the connection is gone */
    else if (in_game_elsewhere(chan, conn))
        reply_fail(op->req, "this character is already in the game");
    else if ((node = enter_bind(conn, cid, chan)) == NULL)
        reply_fail(op->req, "no game node is running");
    else
        reply_data(op->req,
                   json_pack("{s:I,s:s?,s:I,s:I,s:I,s:I,s:I,s:s}", "cid", cid, "name",
                             json_string_value(json_object_get(row, "name")), "level",
                             row_int(row, "level", 1), "exp", row_int(row, "exp", 0), "coin",
                             row_int(row, "coin", 0), "profession", row_int(row, "profession", 0),
                             "town", row_int(row, "town", 1000), "node", node));
    op_done(op);
}

static void
on_enter_game(ff_req_t *req)
{
    json_t *body = ff_req_json(req);
    json_int_t uid = int_field(body, "userId", 1, INT32_MAX);
    json_int_t cid = int_field(body, "characterId", 1, INT32_MAX);
    login_op_t *op;

    ff_session_set(ff_req_conn(req), "open", "1");
    if (uid < 0 || cid < 0) {
        reply_fail(req, "expected {\"userId\", \"characterId\"}");
        return;
    }
    if (!logged_in_as(ff_req_conn(req), uid)) {
        reply_fail(req, "log in as this user first");
        return;
    }
    op = op_new(req, NULL);
    op->uid = uid;
    ff_store_get("tb_character", cid, character_cb, op);
}

static int
login_init(ff_app_t *app)
{
    return ff_app_handle(app, LOGIN_CMD_LOGIN, on_login) ||
           ff_app_handle(app, LOGIN_CMD_CREATE_ROLE, on_create_role) ||
           ff_app_handle(app, LOGIN_CMD_ENTER_GAME, on_enter_game);
}

FF_APP_MODULE(login_init, NULL);
