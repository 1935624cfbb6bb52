/* chat: the classic chat room. 2001 join {"name"}, 2002 say {"text"}, 2003 leave; everybody
 * else in the room gets pushes on topic 2100: "X joined", "X: text", "X left". A taken name
 * is refused with error 409 and the client may try another; a disconnect counts as leaving.
 * All state lives in the framework (channel "room", session key "name"), so it survives
 * /reload. Run it on a single node: the room is that node's. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat_proto.h"
#include "firefly/app.h"

static const char room[] = "room";

/* Pushes {"event":event,"name":name,"text":text} to everybody in the room but `except`. */
static void
announce(ff_conn_t except, const char *event, const char *name, const char *text)
{
    json_t *j = json_pack("{s:s,s:s,s:s}", "event", event, "name", name, "text", text);
    char *body = json_dumps(j, JSON_COMPACT);

    ff_channel_push(room, except, CHAT_EVENT, body, strlen(body));
    free(body);
    json_decref(j);
}

static bool
name_taken(const char *name)
{
    ff_conn_t members[CHAT_MAX_MEMBERS];
    size_t n = ff_channel_members(room, members, CHAT_MAX_MEMBERS);

    for (size_t i = 0; i < n && i < CHAT_MAX_MEMBERS; i++) {
        const char *other = ff_session_get(members[i], "name");
        if (other != NULL && strcmp(other, name) == 0)
            return true;
    }
    return false;
}

/* Takes a string field of 1..max bytes from the JSON body, or NULL. */
static const char *
field(ff_req_t *req, const char *key, size_t max)
{
    const char *s = json_string_value(json_object_get(ff_req_json(req), key));
    return s != NULL && s[0] != '\0' && strlen(s) <= max ? s : NULL;
}

static void
on_join(ff_req_t *req)
{
    ff_conn_t conn = ff_req_conn(req);
    const char *name = field(req, "name", CHAT_MAX_NAME), *mine = ff_session_get(conn, "name");
    char msg[96];

    if (name == NULL) {
        ff_reply_error(req, FF_ERR_BAD_REQUEST, "expected {\"name\": 1..32 characters}");
        return;
    }
    if (mine != NULL) {
        snprintf(msg, sizeof(msg), "already in the room as \"%s\"", mine);
        ff_reply_error(req, FF_ERR_BAD_REQUEST, msg);
        return;
    }
    if (name_taken(name)) {
        snprintf(msg, sizeof(msg), "the name \"%s\" is taken; try another", name);
        ff_reply_error(req, 409, msg);
        return;
    }
    snprintf(msg, sizeof(msg), "%s joined", name);
    announce(conn, "joined", name, msg);
    ff_session_set(conn, "name", name);
    ff_channel_join(room, conn);
    ff_reply_json(req, json_pack("{s:b}", "result", 1));
}

static void
on_say(ff_req_t *req)
{
    ff_conn_t conn = ff_req_conn(req);
    const char *name = ff_session_get(conn, "name"), *text = field(req, "text", CHAT_MAX_TEXT);
    char line[CHAT_MAX_NAME + CHAT_MAX_TEXT + 4];

    if (name == NULL) {
        ff_reply_error(req, 403, "join the room first");
        return;
    }
    if (text == NULL) {
        ff_reply_error(req, FF_ERR_BAD_REQUEST, "expected {\"text\": 1..1024 bytes}");
        return;
    }
    snprintf(line, sizeof(line), "%s: %s", name, text);
    announce(conn, "message", name, line);
    ff_reply_json(req, json_pack("{s:b}", "result", 1));
}

/* Removes conn from the room and tells the others; false when it was not in it. */
static bool
leave(ff_conn_t conn)
{
    const char *name = ff_session_get(conn, "name");
    char msg[CHAT_MAX_NAME + 8];

    if (name == NULL)
        return false;
    snprintf(msg, sizeof(msg), "%s left", name);
    ff_channel_leave(room, conn);
    announce(conn, "left", name, msg);
    ff_session_set(conn, "name", NULL);
    return true;
}

static void
on_leave(ff_req_t *req)
{
    if (!leave(ff_req_conn(req))) {
        ff_reply_error(req, 403, "not in the room");
        return;
    }
    ff_reply_json(req, json_pack("{s:b}", "result", 1));
}

static void
on_conn_lost(ff_conn_t conn)
{
    leave(conn);
}

static int
chat_init(ff_app_t *app)
{
    ff_app_on_conn_lost(app, on_conn_lost);
    return ff_app_handle(app, CHAT_JOIN, on_join) || ff_app_handle(app, CHAT_SAY, on_say) ||
           ff_app_handle(app, CHAT_LEAVE, on_leave);
}

FF_APP_MODULE(chat_init, NULL);
