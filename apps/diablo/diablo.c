/* diablo: the game node's side of Firefly's Diablo sample. 104 enter {"characterId"} loads
 * the character into the connection's session, 105 gain {"exp","coin"} adds to it, 106 info
 * answers it; when the connection is lost the character's exp, coin and level (1 + exp/1000)
 * are saved to tb_character. Replies have Firefly's shapes: {"result":true,"data":{...}} or
 * {"result":false,"message":"..."}; a store failure is an error reply with its code.
 *
 * A player reaches this node through gate's login app (103 binds the session to a node of
 * this group), so every request of one player lands here. All state is in the session
 * (strings "cid", "name", "level", "exp", "coin", "profession", "town"), which survives
 * /reload; a save in progress only needs its own heap block and the library kept loaded. The
 * node trusts the characterId of 104: gate's 103 checked that it belongs to the user, and
 * bound the connection here. Progress since 104 lives in this node's memory until the
 * disconnect: a crash of the node loses it. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diablo_proto.h"
#include "firefly/app.h"

enum { SAVE_TRIES = 6, SAVE_RETRY_MS = 500 };

/* exp is a BIGINT, but level = 1 + exp/1000 must fit an INT; coin is an INT UNSIGNED. */
#define EXP_MAX (((json_int_t)INT32_MAX - 1) * 1000 + 999)
#define COIN_MAX ((json_int_t)UINT32_MAX)

/* A save of one character, retried while dbfront is unavailable. */
typedef struct {
    json_int_t cid;
    json_t *fields;
    int tries;
} save_t;

static void
reply_fail(ff_req_t *req, const char *message)
{
    ff_reply_json(req, json_pack("{s:b,s:s}", "result", 0, "message", message));
}

/* A store failure: an error reply with the store's code and message. */
static void
reply_store_error(ff_req_t *req, int status, json_t *result)
{
    const char *msg =
        json_string_value(json_object_get(json_object_get(result, "error"), "message"));
    ff_reply_error(req, status, msg ? msg : "store unavailable");
}

/* ---- the session ------------------------------------------------------------------- */

static json_int_t
sess_int(ff_conn_t conn, const char *key, json_int_t def)
{
    const char *s = ff_session_get(conn, key);
    return s != NULL ? strtoll(s, NULL, 10) : def;
}

static void
sess_set_int(ff_conn_t conn, const char *key, json_int_t v)
{
    char buf[24];

    snprintf(buf, sizeof(buf), "%lld", (long long)v);
    ff_session_set(conn, key, buf);
}

static json_int_t
level_of(json_int_t exp)
{
    return 1 + exp / 1000;
}

/* Fills the session from a tb_character row; a column the row lacks gets its default. */
static void
sess_load(ff_conn_t conn, json_int_t cid, json_t *row)
{
    static const struct {
        const char *key;
        json_int_t def;
    } ints[] = {{"exp", 0}, {"coin", 0}, {"profession", 0}, {"town", 1000}};
    const char *name = json_string_value(json_object_get(row, "name"));

    sess_set_int(conn, "cid", cid);
    ff_session_set(conn, "name", name ? name : "");
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
        json_t *v = json_object_get(row, ints[i].key);
        sess_set_int(conn, ints[i].key, json_is_integer(v) ? json_integer_value(v) : ints[i].def);
    }
    sess_set_int(conn, "level", level_of(sess_int(conn, "exp", 0)));
}

/* The character in the session, as 104 and 106 answer it. */
static json_t *
sess_character(ff_conn_t conn)
{
    return json_pack("{s:I,s:s,s:I,s:I,s:I,s:I,s:I,s:s}", "cid", sess_int(conn, "cid", 0), "name",
                     ff_session_get(conn, "name"), "level", sess_int(conn, "level", 1), "exp",
                     sess_int(conn, "exp", 0), "coin", sess_int(conn, "coin", 0), "profession",
                     sess_int(conn, "profession", 0), "town", sess_int(conn, "town", 1000), "node",
                     ff_node_name());
}

static void
reply_character(ff_req_t *req)
{
    ff_reply_json(req,
                  json_pack("{s:b,s:o}", "result", 1, "data", sess_character(ff_req_conn(req))));
}

/* ---- saving ------------------------------------------------------------------------ */

static void save_send(save_t *s);

static void
save_retry_cb(void *arg)
{
    save_send(arg);
}

static void
save_cb(void *arg, int status, json_t *result)
{
    save_t *s = arg;
    const char *msg;

    /* 503 and 504 are dbfront restarting or slow: the update sets fields, so a retry of one
     * that did arrive changes nothing. */
    if ((status == FF_ERR_UNAVAILABLE || status == FF_ERR_TIMEOUT) && ++s->tries < SAVE_TRIES) {
        ff_timer_once((uint64_t)SAVE_RETRY_MS << (s->tries - 1), save_retry_cb, s);
        return;
    }
    if (status != 0) {
        msg = json_string_value(json_object_get(json_object_get(result, "error"), "message"));
        fprintf(stderr, "diablo: cannot save character %lld: %d %s\n", (long long)s->cid, status,
                msg ? msg : "");
    }
    json_decref(s->fields);
    free(s);
}

static void
save_send(save_t *s)
{
    ff_store_update("tb_character", s->cid, json_incref(s->fields), save_cb, s);
}

/* Saves the character in conn's session (if any) to tb_character. */
static void
save_player(ff_conn_t conn)
{
    save_t *s;

    if (ff_session_get(conn, "cid") == NULL)
        return;
    s = calloc(1, sizeof(*s));
    s->cid = sess_int(conn, "cid", 0);
    s->fields = json_pack("{s:I,s:I,s:I}", "exp", sess_int(conn, "exp", 0), "coin",
                          sess_int(conn, "coin", 0), "level", sess_int(conn, "level", 1));
    save_send(s);
}

static void
on_conn_lost(ff_conn_t conn)
{
    save_player(conn);
}

/* ---- 104 enter, 105 gain, 106 info ---------------------------------------------------- */

static void
enter_loaded_cb(void *arg, int status, json_t *row)
{
    ff_req_t *req = arg;
    ff_conn_t conn = ff_req_conn(req);
    json_int_t cid = json_integer_value(json_object_get(ff_req_json(req), "characterId"));

    /* The mark is gone with the session when the connection was lost meanwhile: loading
     * the character now would make a session that nothing ever drops. */
    if (ff_session_get(conn, "loading") == NULL) {
        ff_reply_none(req);
        return;
    }
    ff_session_set(conn, "loading", NULL);
    if (status == FF_STORE_NOT_FOUND) {
        reply_fail(req, "no such character");
    } else if (status != 0) {
        reply_store_error(req, status, row);
    } else {
        save_player(conn); /* the character played before on this connection, if any */
        sess_load(conn, cid, row);
        reply_character(req);
    }
}

static void
on_enter(ff_req_t *req)
{
    ff_conn_t conn = ff_req_conn(req);
    json_t *v = json_object_get(ff_req_json(req), "characterId");
    json_int_t cid = json_integer_value(v);

    if (!json_is_integer(v) || cid < 1 || cid > INT32_MAX) {
        reply_fail(req, "expected {\"characterId\": a character id}");
        return;
    }
    if (ff_session_get(conn, "loading") != NULL) {
        reply_fail(req, "already entering the game");
        return;
    }
    if (ff_session_get(conn, "cid") != NULL && sess_int(conn, "cid", 0) == cid) {
        reply_character(req);
        return;
    }
    sess_set_int(conn, "loading", cid);
    ff_store_get("tb_character", cid, enter_loaded_cb, req);
}

/* The member key of the body as an amount 0..max (absent = 0); false when it is not one. */
static bool
amount(json_t *body, const char *key, json_int_t max, json_int_t *out)
{
    json_t *v = json_object_get(body, key);

    *out = json_integer_value(v);
    return v == NULL || (json_is_integer(v) && *out >= 0 && *out <= max);
}

static void
on_gain(ff_req_t *req)
{
    ff_conn_t conn = ff_req_conn(req);
    json_t *body = ff_req_json(req);
    json_int_t exp = sess_int(conn, "exp", 0), coin = sess_int(conn, "coin", 0), dexp, dcoin;

    if (ff_session_get(conn, "cid") == NULL) {
        reply_fail(req, "enter the game first");
        return;
    }
    if (!json_is_object(body) || !amount(body, "exp", EXP_MAX, &dexp) ||
        !amount(body, "coin", COIN_MAX, &dcoin)) {
        reply_fail(req, "expected {\"exp\": n, \"coin\": m} with n, m >= 0");
        return;
    }
    if (dexp > EXP_MAX - exp || dcoin > COIN_MAX - coin) {
        reply_fail(req, "exp or coin would exceed its maximum");
        return;
    }
    exp += dexp;
    coin += dcoin;
    sess_set_int(conn, "exp", exp);
    sess_set_int(conn, "coin", coin);
    sess_set_int(conn, "level", level_of(exp));
    ff_reply_json(req, json_pack("{s:b,s:{s:I,s:I,s:I,s:I}}", "result", 1, "data", "cid",
                                 sess_int(conn, "cid", 0), "level", level_of(exp), "exp", exp,
                                 "coin", coin));
}

static void
on_info(ff_req_t *req)
{
    if (ff_session_get(ff_req_conn(req), "cid") == NULL) {
        reply_fail(req, "enter the game first");
        return;
    }
    reply_character(req);
}

static int
diablo_init(ff_app_t *app)
{
    ff_app_on_conn_lost(app, on_conn_lost);
    return ff_app_handle(app, DIABLO_CMD_ENTER, on_enter) ||
           ff_app_handle(app, DIABLO_CMD_GAIN, on_gain) ||
           ff_app_handle(app, DIABLO_CMD_INFO, on_info);
}

FF_APP_MODULE(diablo_init, NULL);
