/* arena: room-based game logic (docs/arena.md), what bin/bot plays. 3001 list, 3002 create
 * (the creator owns the arena), 3003 enter, 3004 leave, 3005 start (the owner, once the arena
 * is full), 3006 result (one per member and game). Pushes: 3101 arenaStart to every member,
 * 3102 arenaEnded once every member still there has sent a result or gameTime + 3 s have
 * passed, 3103 arenaMembers to the others when someone enters or leaves a waiting arena.
 * Refusals are errors 419001..419010; a disconnect counts as leaving.
 *
 * All state lives in ff_app_state("arena"), so that /reload keeps every arena, member and
 * result (a fresh copy of the library is loaded then, with fresh globals):
 *     {"next": 8,                               the next arena id; ids are never reused
 *      "arenas": {"7": {"id":7, "name":"...", "size":4, "gameTime":10000,
 *                       "state":"waiting"|"playing", "round":1,
 *                       "members":[{"conn":12, "player":"bob", "score":null}, ...]}},
 *      "players": {"12": 7}}                    connection -> the id of its arena
 * Members are kept in order of arrival and the owner is the first: when it leaves, the member
 * who came next takes over. A score is null until sent in the game being played. Finding an
 * arena by id or by player is one hash lookup; a member list has at most 64 entries.
 *
 * A game's deadline is a timer whose argument names the arena and the round it was set for,
 * so a timer that outlived its game (ended early, or the arena gone) does nothing; a timer set
 * before a /reload runs in the old library, on the same state. The first arena request of a
 * connection binds its session to this node (session key "arena.bound"), so that a player
 * keeps seeing this node's arenas when several nodes run the app. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena_proto.h"
#include "firefly/app.h"

#define ARENA_BOUND_KEY "arena.bound"

/* The argument of a game's deadline timer, freed by the timer. */
typedef struct {
    json_int_t id, round;
} deadline_t;

/* ---- state ------------------------------------------------------------------------- */

/* The app's state with its keys made on first use. Borrowed. */
static json_t *
state(void)
{
    json_t *st = ff_app_state("arena");

    if (json_object_get(st, "next") == NULL) {
        json_object_set_new(st, "next", json_integer(1));
        json_object_set_new(st, "arenas", json_object());
        json_object_set_new(st, "players", json_object());
    }
    return st;
}

static json_t *
arenas(json_t *st)
{
    return json_object_get(st, "arenas");
}

static json_t *
players(json_t *st)
{
    return json_object_get(st, "players");
}

static void
id_key(json_int_t id, char *key, size_t len)
{
    snprintf(key, len, "%" JSON_INTEGER_FORMAT, id);
}

static void
conn_key(ff_conn_t conn, char *key, size_t len)
{
    snprintf(key, len, "%llu", (unsigned long long)conn);
}

static json_t *
arena_by_id(json_t *st, json_int_t id)
{
    char key[24];

    id_key(id, key, sizeof(key));
    return json_object_get(arenas(st), key);
}

/* The arena conn is a member of, or NULL. Borrowed. */
static json_t *
arena_of(json_t *st, ff_conn_t conn)
{
    char key[24];
    json_t *id;

    conn_key(conn, key, sizeof(key));
    id = json_object_get(players(st), key);
    return id != NULL ? arena_by_id(st, json_integer_value(id)) : NULL;
}

static json_int_t
int_of(json_t *obj, const char *key)
{
    return json_integer_value(json_object_get(obj, key));
}

static json_t *
members(json_t *a)
{
    return json_object_get(a, "members");
}

static ff_conn_t
member_conn(json_t *m)
{
    return (ff_conn_t)int_of(m, "conn");
}

static ff_conn_t
owner_conn(json_t *a)
{
    return member_conn(json_array_get(members(a), 0));
}

static bool
playing(json_t *a)
{
    return strcmp(json_string_value(json_object_get(a, "state")), "playing") == 0;
}

static bool
full(json_t *a)
{
    return (json_int_t)json_array_size(members(a)) >= int_of(a, "size");
}

static size_t
places_left(json_t *a)
{
    return (size_t)int_of(a, "size") - json_array_size(members(a));
}

/* Whether every member has sent a result in the game being played. */
static bool
all_scored(json_t *a)
{
    json_t *m;
    size_t i;

    json_array_foreach(members(a), i, m)
    {
        if (json_is_null(json_object_get(m, "score")))
            return false;
    }
    return true;
}

/* ---- arenas and members ------------------------------------------------------------ */

/* Makes a waiting arena, round 1, with no members yet; name NULL = "arena-<id>". Borrowed. */
static json_t *
arena_new(json_t *st, const char *name, json_int_t size, json_int_t game_time)
{
    json_int_t id = int_of(st, "next");
    char key[24], dflt[40];
    json_t *a;

    json_object_set_new(st, "next", json_integer(id + 1));
    snprintf(dflt, sizeof(dflt), "arena-%" JSON_INTEGER_FORMAT, id);
    a = json_pack("{s:I,s:s,s:I,s:I,s:s,s:i,s:[]}", "id", id, "name", name ? name : dflt, "size",
                  size, "gameTime", game_time, "state", "waiting", "round", 1, "members");
    id_key(id, key, sizeof(key));
    json_object_set_new(arenas(st), key, a);
    return a;
}

/* Appends conn as a member of a; player NULL = "player-<conn>". */
static void
member_add(json_t *st, json_t *a, ff_conn_t conn, const char *player)
{
    char key[24], dflt[40];

    snprintf(dflt, sizeof(dflt), "player-%llu", (unsigned long long)conn);
    json_array_append_new(members(a), json_pack("{s:I,s:s,s:n}", "conn", (json_int_t)conn, "player",
                                                player ? player : dflt, "score"));
    conn_key(conn, key, sizeof(key));
    json_object_set_new(players(st), key, json_integer(int_of(a, "id")));
}

/* The member entry of conn in a, or NULL. Borrowed. */
static json_t *
member_of(json_t *a, ff_conn_t conn, size_t *index)
{
    json_t *m;
    size_t i;

    json_array_foreach(members(a), i, m)
    {
        if (member_conn(m) == conn) {
            if (index != NULL)
                *index = i;
            return m;
        }
    }
    return NULL;
}

/* The members' player names, in order of arrival. New reference. */
static json_t *
member_names(json_t *a)
{
    json_t *names = json_array(), *m;
    size_t i;

    json_array_foreach(members(a), i, m)
    {
        json_array_append(names, json_object_get(m, "player"));
    }
    return names;
}

/* The summary A of docs/arena.md; `count` gives the members as a count (list), else as
 * names. New reference. */
static json_t *
summary(json_t *a, bool count)
{
    json_t *who = count ? json_integer((json_int_t)json_array_size(members(a))) : member_names(a);

    return json_pack("{s:O,s:O,s:O,s:O,s:O,s:O,s:O,s:o}", "id", json_object_get(a, "id"), "name",
                     json_object_get(a, "name"), "owner",
                     json_object_get(json_array_get(members(a), 0), "player"), "size",
                     json_object_get(a, "size"), "gameTime", json_object_get(a, "gameTime"),
                     "state", json_object_get(a, "state"), "round", json_object_get(a, "round"),
                     "members", who);
}

/* Pushes body (stolen) on topic cmd to every member of a but `except` (0 = nobody). */
static void
push_members(json_t *a, ff_conn_t except, uint32_t cmd, json_t *body)
{
    ff_conn_t to[ARENA_SIZE_MAX];
    size_t n = 0, i;
    json_t *m;

    json_array_foreach(members(a), i, m)
    {
        if (member_conn(m) != except && n < ARENA_SIZE_MAX)
            to[n++] = member_conn(m);
    }
    ff_push_json(to, n, cmd, body);
}

/* ---- games ------------------------------------------------------------------------- */

/* Tells every member the results (null for a member who sent none), and makes a waiting
 * again, one round later, with the scores cleared. */
static void
game_end(json_t *a)
{
    json_t *results = json_array(), *m;
    bool complete = true;
    size_t i;

    json_array_foreach(members(a), i, m)
    {
        json_t *score = json_object_get(m, "score");
        complete = complete && !json_is_null(score);
        json_array_append_new(results, json_pack("{s:O,s:O}", "player",
                                                 json_object_get(m, "player"), "score", score));
        json_object_set_new(m, "score", json_null());
    }
    push_members(a, 0, ARENA_PUSH_ENDED,
                 json_pack("{s:I,s:I,s:b,s:o}", "id", int_of(a, "id"), "round", int_of(a, "round"),
                           "complete", complete, "results", results));
    json_object_set_new(a, "state", json_string("waiting"));
    json_object_set_new(a, "round", json_integer(int_of(a, "round") + 1));
}

/* Ends the game the timer was set for, unless it has ended already. */
static void
deadline_cb(void *arg)
{
    deadline_t *d = arg;
    json_t *a = arena_by_id(state(), d->id);

    if (a != NULL && playing(a) && int_of(a, "round") == d->round)
        game_end(a);
    free(d);
}

static void
game_start(json_t *a)
{
    deadline_t *d = malloc(sizeof(*d));
    json_int_t game_time = int_of(a, "gameTime");

    if (d == NULL)
        abort(); /* out of memory, as ff_malloc does */
    d->id = int_of(a, "id");
    d->round = int_of(a, "round");
    json_object_set_new(a, "state", json_string("playing"));
    push_members(a, 0, ARENA_PUSH_START,
                 json_pack("{s:I,s:I,s:I,s:o}", "id", d->id, "round", d->round, "gameTime",
                           game_time, "members", member_names(a)));
    ff_timer_once((uint64_t)game_time + ARENA_GRACE_MS, deadline_cb, d);
}

/* Takes conn out of its arena. The others learn it: arenaMembers while the arena waits; during
 * a game, its end once every member left has a result. An arena left empty is deleted.
 * Returns false when conn was in no arena. */
static bool
player_leave(json_t *st, ff_conn_t conn)
{
    json_t *a = arena_of(st, conn);
    char key[24];
    size_t i;

    if (a == NULL)
        return false;
    conn_key(conn, key, sizeof(key));
    json_object_del(players(st), key);
    if (member_of(a, conn, &i) != NULL)
        json_array_remove(members(a), i);
    if (json_array_size(members(a)) == 0) {
        id_key(int_of(a, "id"), key, sizeof(key));
        json_object_del(arenas(st), key); /* frees a */
    } else if (!playing(a)) {
        push_members(a, 0, ARENA_PUSH_MEMBERS, summary(a, false));
    } else if (all_scored(a)) {
        game_end(a);
    }
    return true;
}

/* ---- request bodies ---------------------------------------------------------------- */

static void
reply_bad(ff_req_t *req, const char *key, const char *expected)
{
    char msg[128];

    snprintf(msg, sizeof(msg), "\"%s\": expected %s", key, expected);
    ff_reply_error(req, ARENA_E_BAD_BODY, msg);
}

/* The body as a JSON object, or NULL after replying 419003. Borrowed. */
static json_t *
body_of(ff_req_t *req)
{
    json_t *body = ff_req_json(req);

    if (json_is_object(body))
        return body;
    /* Replying frees the request, body included: nothing of it may be used after. */
    ff_reply_error(req, ARENA_E_BAD_BODY, "the body must be a JSON object");
    return NULL;
}

/* Reads the optional integer `key` in lo..hi into *out, left alone when absent. Returns false
 * after replying 419003 when the field is there but not such an integer. */
static bool
take_int(ff_req_t *req, json_t *body, const char *key, json_int_t lo, json_int_t hi,
         json_int_t *out)
{
    json_t *v = json_object_get(body, key);
    char expected[64];

    if (v == NULL)
        return true;
    if (json_is_integer(v) && json_integer_value(v) >= lo && json_integer_value(v) <= hi) {
        *out = json_integer_value(v);
        return true;
    }
    snprintf(expected, sizeof(expected),
             "an integer %" JSON_INTEGER_FORMAT "..%" JSON_INTEGER_FORMAT, lo, hi);
    reply_bad(req, key, expected);
    return false;
}

/* Reads the required integer `key` into *out; false after replying 419003. */
static bool
need_int(ff_req_t *req, json_t *body, const char *key, json_int_t *out)
{
    json_t *v = json_object_get(body, key);

    if (!json_is_integer(v)) {
        reply_bad(req, key, "an integer");
        return false;
    }
    *out = json_integer_value(v);
    return true;
}

/* Reads the optional string `key` of lo..hi bytes into *out (borrowed from body), left alone
 * when absent; false after replying 419003. */
static bool
take_str(ff_req_t *req, json_t *body, const char *key, size_t lo, size_t hi, const char **out)
{
    json_t *v = json_object_get(body, key);
    char expected[64];

    if (v == NULL)
        return true;
    if (json_is_string(v) && json_string_length(v) >= lo && json_string_length(v) <= hi) {
        *out = json_string_value(v);
        return true;
    }
    snprintf(expected, sizeof(expected), "a string of %zu..%zu bytes", lo, hi);
    reply_bad(req, key, expected);
    return false;
}

/* Reads the optional boolean `key` into *out; false after replying 419003. */
static bool
take_bool(ff_req_t *req, json_t *body, const char *key, bool *out)
{
    json_t *v = json_object_get(body, key);

    if (v == NULL)
        return true;
    if (json_is_boolean(v)) {
        *out = json_is_true(v);
        return true;
    }
    reply_bad(req, key, "true or false");
    return false;
}

/* ---- commands ---------------------------------------------------------------------- */

/* The caller's connection. Its first arena request binds its session to this node, so that
 * its later requests come here, where its arena is. */
static ff_conn_t
caller(ff_req_t *req)
{
    ff_conn_t conn = ff_req_conn(req);

    if (ff_session_get(conn, ARENA_BOUND_KEY) == NULL) {
        ff_session_bind(conn);
        ff_session_set(conn, ARENA_BOUND_KEY, "1");
    }
    return conn;
}

static void
reply_true(ff_req_t *req)
{
    ff_reply_json(req, json_pack("{s:b}", "result", 1));
}

static void
reply_arena(ff_req_t *req, json_t *a)
{
    ff_reply_json(req, json_pack("{s:o}", "arena", summary(a, false)));
}

/* Replies error `code` with a printf message. */
static void reply_fmt(ff_req_t *req, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
reply_fmt(ff_req_t *req, int code, const char *fmt, ...)
{
    char msg[160];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    ff_reply_error(req, code, msg);
}

static void
reply_not_in_arena(ff_req_t *req)
{
    ff_reply_error(req, ARENA_E_NOT_IN_ARENA, "not in an arena");
}

/* Every arena, by id, at most limit. Objects iterate in insertion order, which is id order
 * since ids only grow. New reference. */
static json_t *
list_all(json_t *all, size_t limit)
{
    json_t *out = json_array(), *a;
    const char *key;

    json_object_foreach(all, key, a)
    {
        if (json_array_size(out) == limit)
            break;
        json_array_append_new(out, summary(a, true));
    }
    return out;
}

/* The waiting arenas with room, fullest first (fewest places left, then by id), at most
 * limit: a counting sort on the places left, 1..ARENA_SIZE_MAX - 1, in O(arenas). New
 * reference. */
static json_t *
list_open(json_t *all, size_t limit)
{
    size_t at[ARENA_SIZE_MAX + 1] = {0}, n = 0;
    json_t *out = json_array(), *a, **sorted;
    const char *key;

    json_object_foreach(all, key, a)
    {
        if (!playing(a) && !full(a)) {
            at[places_left(a)]++;
            n++;
        }
    }
    for (size_t k = 1, sum = 0; k <= ARENA_SIZE_MAX; k++) {
        size_t count = at[k];
        at[k] = sum;
        sum += count;
    }
    if ((sorted = malloc((n ? n : 1) * sizeof(*sorted))) == NULL)
        abort(); /* out of memory, as ff_malloc does */
    json_object_foreach(all, key, a)
    {
        if (!playing(a) && !full(a))
            sorted[at[places_left(a)]++] = a;
    }
    for (size_t i = 0; i < n && i < limit; i++)
        json_array_append_new(out, summary(sorted[i], true));
    free(sorted);
    return out;
}

static void
on_list(ff_req_t *req)
{
    json_t *body, *all = arenas(state());
    json_int_t limit = ARENA_LIMIT_DEFAULT;
    bool open = false;

    caller(req);
    body = body_of(req);
    if (body == NULL || !take_bool(req, body, "open", &open) ||
        !take_int(req, body, "limit", 1, ARENA_LIMIT_MAX, &limit))
        return;
    ff_reply_json(req,
                  json_pack("{s:o,s:I}", "arenas",
                            open ? list_open(all, (size_t)limit) : list_all(all, (size_t)limit),
                            "total", (json_int_t)json_object_size(all)));
}

static void
on_create(ff_req_t *req)
{
    ff_conn_t conn = caller(req);
    json_t *body = body_of(req), *st = state(), *a;
    json_int_t size = ARENA_SIZE_DEFAULT, game_time = ARENA_GAME_TIME_DEFAULT;
    const char *name = NULL, *player = NULL;

    if (body == NULL || !take_int(req, body, "size", ARENA_SIZE_MIN, ARENA_SIZE_MAX, &size) ||
        !take_int(req, body, "gameTime", 0, ARENA_GAME_TIME_MAX, &game_time) ||
        !take_str(req, body, "name", 0, ARENA_NAME_MAX, &name) ||
        !take_str(req, body, "player", 1, ARENA_PLAYER_MAX, &player))
        return;
    if ((a = arena_of(st, conn)) != NULL) {
        reply_fmt(req, ARENA_E_IN_ARENA,
                  "already in arena %" JSON_INTEGER_FORMAT "; leave it first", int_of(a, "id"));
        return;
    }
    a = arena_new(st, name, size, game_time);
    member_add(st, a, conn, player);
    reply_arena(req, a);
}

static void
on_enter(ff_req_t *req)
{
    ff_conn_t conn = caller(req);
    json_t *body = body_of(req), *st = state(), *a;
    const char *player = NULL;
    json_int_t id;

    if (body == NULL || !need_int(req, body, "id", &id) ||
        !take_str(req, body, "player", 1, ARENA_PLAYER_MAX, &player))
        return;
    if ((a = arena_of(st, conn)) != NULL) {
        reply_fmt(req, ARENA_E_IN_ARENA,
                  "already in arena %" JSON_INTEGER_FORMAT "; leave it first", int_of(a, "id"));
    } else if ((a = arena_by_id(st, id)) == NULL) {
        reply_fmt(req, ARENA_E_NO_SUCH_ARENA, "no arena %" JSON_INTEGER_FORMAT, id);
    } else if (playing(a)) {
        /* Before "full": a playing arena is always full, and playing is the reason. */
        reply_fmt(req, ARENA_E_PLAYING, "arena %" JSON_INTEGER_FORMAT " is playing", id);
    } else if (full(a)) {
        reply_fmt(req, ARENA_E_FULL, "arena %" JSON_INTEGER_FORMAT " is full", id);
    } else {
        member_add(st, a, conn, player);
        push_members(a, conn, ARENA_PUSH_MEMBERS, summary(a, false));
        reply_arena(req, a);
    }
}

static void
on_leave(ff_req_t *req)
{
    ff_conn_t conn = caller(req);

    if (body_of(req) == NULL)
        return;
    if (player_leave(state(), conn))
        reply_true(req);
    else
        reply_not_in_arena(req);
}

static void
on_start(ff_req_t *req)
{
    ff_conn_t conn = caller(req);
    json_t *a = arena_of(state(), conn);

    if (body_of(req) == NULL)
        return;
    if (a == NULL) {
        reply_not_in_arena(req);
    } else if (playing(a)) {
        reply_fmt(req, ARENA_E_PLAYING, "arena %" JSON_INTEGER_FORMAT " is playing",
                  int_of(a, "id"));
    } else if (owner_conn(a) != conn) {
        reply_fmt(req, ARENA_E_NOT_OWNER, "only the owner, %s, starts the arena",
                  json_string_value(json_object_get(json_array_get(members(a), 0), "player")));
    } else if (!full(a)) {
        reply_fmt(req, ARENA_E_NOT_FULL, "the arena has %zu of %" JSON_INTEGER_FORMAT " members",
                  json_array_size(members(a)), int_of(a, "size"));
    } else {
        game_start(a);
        reply_true(req);
    }
}

static void
on_result(ff_req_t *req)
{
    ff_conn_t conn = caller(req);
    json_t *body = body_of(req), *a = arena_of(state(), conn), *m;
    json_int_t score;

    if (body == NULL || !need_int(req, body, "score", &score))
        return;
    if (a == NULL) {
        reply_not_in_arena(req);
        return;
    }
    if (!playing(a)) {
        reply_fmt(req, ARENA_E_NOT_PLAYING, "arena %" JSON_INTEGER_FORMAT " is not playing",
                  int_of(a, "id"));
        return;
    }
    m = member_of(a, conn, NULL);
    if (!json_is_null(json_object_get(m, "score"))) {
        reply_fmt(req, ARENA_E_RESULT_SENT, "result already sent in round %" JSON_INTEGER_FORMAT,
                  int_of(a, "round"));
        return;
    }
    json_object_set_new(m, "score", json_integer(score));
    reply_true(req);
    if (all_scored(a))
        game_end(a);
}

static void
on_conn_lost(ff_conn_t conn)
{
    player_leave(state(), conn);
}

static int
arena_init(ff_app_t *app)
{
    ff_app_on_conn_lost(app, on_conn_lost);
    return ff_app_handle(app, ARENA_LIST, on_list) || ff_app_handle(app, ARENA_CREATE, on_create) ||
           ff_app_handle(app, ARENA_ENTER, on_enter) || ff_app_handle(app, ARENA_LEAVE, on_leave) ||
           ff_app_handle(app, ARENA_START, on_start) || ff_app_handle(app, ARENA_RESULT, on_result);
}

FF_APP_MODULE(arena_init, NULL);
