/* run: the users' state machine. A user has at most one request outstanding (a reply carries
 * the request's command id, so it is told apart from pushes by that) and waits for at most
 * one push (arenaStart or arenaEnded); pushes may arrive before the reply of the request that
 * caused them, so every event ends in user_step(), which acts only when no request is
 * outstanding. Two timers per user: one for the request's deadline, one for what the user
 * waits for (a full arena, the game time, arenaEnded, a rest, a reconnect). */
#include "run.h"

#include <jansson.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "arena/arena_proto.h"
#include "echo/echo_proto.h"
#include "login/login_proto.h"

enum {
    ERR_LOGIN_REFUSED = 401, /* counted for a Diablo login answering "result": false */
};

#define BOT_READ_CHUNK 4096
#define BOT_TICK_MS 250
#define BOT_RAMP_TICK_MS 10
#define BOT_RETRY_MS 1000    /* reconnect after a failure (loop) */
#define BOT_ONCE_ABANDONS 3  /* --once: waits for a full arena given up before failing */
#define BOT_LOGGED_ERRORS 10 /* errors described on stderr per run */
#define BOT_PICK_AMONG 4     /* open arenas a player picks from at random */

typedef enum {
    P_IDLE,    /* not started yet (ramp-up) */
    P_CONNECT, /* connecting */
    P_LOGIN,
    P_LIST,
    P_JOIN,   /* create or enter outstanding */
    P_ARENA,  /* in an arena waiting for arenaStart */
    P_PLAY,   /* playing until gameTime */
    P_RESULT, /* result sent: waiting for arenaEnded */
    P_GOING,  /* leaving the arena once no request is outstanding */
    P_LEAVE,  /* leave outstanding */
    P_REST,   /* resting, or waiting to reconnect */
    P_DONE,
} phase_t;

typedef struct {
    uv_write_t req;
    uv_buf_t buf;
} bot_write_t;

typedef struct bot_user_s bot_user_t;

/* One TCP connection; freed when closed, as a user may open the next before that. */
typedef struct {
    uv_tcp_t tcp;
    uv_connect_t connect;
    bot_user_t *user; /* NULL once the user has let go of it */
} bot_conn_t;

struct bot_user_s {
    bot_run_t *run;
    uint32_t index; /* within the run */
    char name[16];
    phase_t phase;
    uint64_t rng;
    bot_conn_t *conn; /* NULL between connections */
    uv_timer_t req_timer, act_timer;
    bool online; /* connected and logged in */
    uint8_t *in;
    size_t in_len, in_cap;
    /* the request outstanding */
    bool req_pending;
    bot_op_t req_op;
    uint32_t req_cmd;
    uint64_t req_sent;
    /* the push waited for (BOT_OP_WAIT_START / BOT_OP_WAIT_ENDED), if any */
    bool push_waiting;
    bot_op_t push_op;
    uint64_t push_since;
    /* the arena */
    int64_t arena;
    bool owner, in_game, start_sent;
    uint32_t members, size; /* of the arena, as the server last told */
    bool result_due;        /* the game time is over: send the result once nothing is outstanding */
    uint32_t abandons;
    uint32_t games; /* arenaEnded received */
    bool reconnect; /* P_REST ends in a new connection instead of a list */
};

struct bot_run_s {
    uv_loop_t *loop;
    bot_opts_t o;
    bot_stats_t *s;
    bot_user_t *users;
    uint32_t first, n, started, done;
    struct sockaddr_storage addr;
    uv_timer_t tick, ramp, deadline;
    uint64_t t0; /* uv_hrtime() at start */
    int open_handles;
    bool stopping;
    uint32_t logged_errors;
    bot_run_done_fn on_done;
    void *arg;
};

static void user_step(bot_user_t *u);
static void user_fail(bot_user_t *u, bot_op_t op, uint32_t code, const char *why);
static void user_list(bot_user_t *u);
static void user_connect(bot_user_t *u);

/* ---- small helpers ----------------------------------------------------------------- */

static uint64_t
user_rand(bot_user_t *u)
{
    /* xorshift64* */
    u->rng ^= u->rng >> 12;
    u->rng ^= u->rng << 25;
    u->rng ^= u->rng >> 27;
    return u->rng * 0x2545F4914F6CDD1Dull;
}

static uint32_t
user_rand_between(bot_user_t *u, uint32_t lo, uint32_t hi)
{
    return lo + (uint32_t)(user_rand(u) % ((uint64_t)hi - lo + 1));
}

static void
run_handle_closed_in(bot_run_t *r)
{
    if (--r->open_handles == 0 && r->stopping && r->on_done != NULL)
        r->on_done(r, r->arg);
}

static void
run_handle_closed(uv_handle_t *h)
{
    run_handle_closed_in(h->data);
}

static void
run_close(bot_run_t *r, uv_handle_t *h)
{
    if (!uv_is_closing(h)) {
        h->data = r;
        uv_close(h, run_handle_closed);
    }
}

static void
run_log_error(bot_run_t *r, const bot_user_t *u, bot_op_t op, uint32_t code, const char *why)
{
    char what[32];

    if (code == BOT_CODE_TIMEOUT || code == BOT_CODE_CLOSED)
        snprintf(what, sizeof(what), "%s", code == BOT_CODE_TIMEOUT ? "timeout" : "closed");
    else
        snprintf(what, sizeof(what), "error %u", code);
    if (r->logged_errors++ < BOT_LOGGED_ERRORS)
        fprintf(stderr, "bot: %s: %s: %s: %s\n", u->name, bot_op_key(op), what, why);
    else if (r->logged_errors == BOT_LOGGED_ERRORS + 1)
        fprintf(stderr, "bot: more errors; see the report\n");
}

/* The user is finished (--once, or after a failure in --once): its connection closes. */
static void user_drop_connection(bot_user_t *u);

static void
user_done(bot_user_t *u)
{
    bot_run_t *r = u->run;

    if (u->phase == P_DONE)
        return;
    u->phase = P_DONE;
    user_drop_connection(u);
    r->s->done++;
    if (++r->done == r->n && !r->o.loop)
        bot_run_stop(r);
}

/* ---- sending ----------------------------------------------------------------------- */

static void
write_cb(uv_write_t *req, int status)
{
    (void)status; /* a failed write shows up as a read error or the request's timeout */
    ff_free(req);
}

static void
req_timeout_cb(uv_timer_t *t)
{
    bot_user_t *u = t->data;

    user_fail(u, u->req_op, BOT_CODE_TIMEOUT, "no reply in time");
}

/* Sends a request; its reply is timed as `op`. The body is compact JSON of `body` (stolen),
 * or raw bytes when body is NULL. */
static void
user_send(bot_user_t *u, bot_op_t op, uint32_t cmd, json_t *body, const void *raw, size_t rawlen)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    size_t len = text ? strlen(text) : rawlen;
    bot_write_t *w = ff_malloc(sizeof(*w) + FF_FRAME_HEADER + len);
    uint8_t *p = (uint8_t *)(w + 1);
    int rc;

    ff_frame_encode(&u->run->o.proto, cmd, (uint32_t)len, p);
    memcpy(p + FF_FRAME_HEADER, text ? text : raw, len);
    free(text);
    json_decref(body);
    u->req_pending = true;
    u->req_op = op;
    u->req_cmd = cmd;
    u->req_sent = uv_hrtime();
    w->buf = uv_buf_init((char *)p, (unsigned)(FF_FRAME_HEADER + len));
    rc = uv_write(&w->req, (uv_stream_t *)&u->conn->tcp, &w->buf, 1, write_cb);
    if (rc < 0) {
        ff_free(w);
        user_fail(u, op, BOT_CODE_CLOSED, uv_strerror(rc));
        return;
    }
    uv_timer_start(&u->req_timer, req_timeout_cb, u->run->o.request_timeout_ms, 0);
}

/* ---- waiting ----------------------------------------------------------------------- */

static void
act_cb(uv_timer_t *t)
{
    bot_user_t *u = t->data;
    bot_run_t *r = u->run;

    switch (u->phase) {
    case P_ARENA: /* nobody came: give the place up and look again */
        u->push_waiting = false;
        r->s->abandoned++;
        if (!r->o.loop && ++u->abandons >= BOT_ONCE_ABANDONS) {
            user_fail(u, BOT_OP_WAIT_START, BOT_CODE_TIMEOUT, "no full arena found");
            return;
        }
        u->phase = P_GOING;
        break;
    case P_PLAY: /* the owner's start may still await its reply: user_step sends the result */
        u->phase = P_RESULT;
        u->result_due = true;
        uv_timer_start(&u->act_timer, act_cb, r->o.request_timeout_ms + ARENA_GRACE_MS, 0);
        break;
    case P_RESULT:
        user_fail(u, BOT_OP_WAIT_ENDED, BOT_CODE_TIMEOUT, "no arenaEnded in time");
        return;
    case P_REST:
        if (u->reconnect)
            user_connect(u);
        else
            user_list(u);
        return;
    default:
        return;
    }
    user_step(u);
}

/* Enters P_ARENA: waiting for arenaStart (the owner starts once the arena is full). */
static void
user_wait_start(bot_user_t *u, uint64_t since)
{
    u->phase = P_ARENA;
    u->start_sent = false;
    u->push_waiting = true;
    u->push_op = BOT_OP_WAIT_START;
    u->push_since = since;
    /* +-25%: players who gave up on arenas at the same moment do not all come back at once */
    uv_timer_start(
        &u->act_timer, act_cb,
        user_rand_between(u, u->run->o.wait_timeout_ms * 3 / 4, u->run->o.wait_timeout_ms * 5 / 4),
        0);
}

static void
user_rest(bot_user_t *u, uint32_t ms, bool reconnect)
{
    u->phase = P_REST;
    u->reconnect = reconnect;
    uv_timer_start(&u->act_timer, act_cb, ms, 0);
}

/* ---- failures ---------------------------------------------------------------------- */

static void
conn_closed_cb(uv_handle_t *h)
{
    bot_conn_t *c = h->data;
    bot_run_t *r = c->connect.data;

    ff_free(c);
    run_handle_closed_in(r);
}

static void
user_drop_connection(bot_user_t *u)
{
    bot_run_t *r = u->run;

    if (u->in_game) {
        u->in_game = false;
        r->s->in_game--;
    }
    if (u->online) {
        u->online = false;
        r->s->online--;
    }
    if (u->conn != NULL) {
        u->conn->user = NULL;
        uv_close((uv_handle_t *)&u->conn->tcp, conn_closed_cb);
        u->conn = NULL;
    }
    u->in_len = 0;
    u->req_pending = u->push_waiting = u->result_due = false;
    uv_timer_stop(&u->req_timer);
    uv_timer_stop(&u->act_timer);
}

/* After an error (counted by the caller): the user starts over; --loop reconnects after a
 * pause, --once gives up. */
static void
user_restart(bot_user_t *u, bot_op_t op, uint32_t code, const char *why)
{
    bot_run_t *r = u->run;

    run_log_error(r, u, op, code, why);
    user_drop_connection(u);
    if (r->o.loop)
        user_rest(u, BOT_RETRY_MS, true);
    else
        user_done(u);
}

/* Counts a failure without a reply (timeout, lost connection) and starts the user over. */
static void
user_fail(bot_user_t *u, bot_op_t op, uint32_t code, const char *why)
{
    if (u->run->stopping || u->phase == P_DONE)
        return;
    bot_stats_fail(u->run->s, op, code);
    user_restart(u, op, code, why);
}

/* ---- the scenario ------------------------------------------------------------------ */

static void
user_list(bot_user_t *u)
{
    u->phase = P_LIST;
    user_send(u, BOT_OP_LIST, ARENA_LIST, json_pack("{s:b,s:i}", "open", 1, "limit", 20), NULL, 0);
}

static void
user_login(bot_user_t *u)
{
    const bot_opts_t *o = &u->run->o;

    u->phase = P_LOGIN;
    if (o->login == BOT_LOGIN_DIABLO)
        user_send(u, BOT_OP_LOGIN, LOGIN_CMD_LOGIN,
                  json_pack("{s:s,s:s}", "username", u->name, "password", o->password), NULL, 0);
    else if (o->login == BOT_LOGIN_ECHO)
        user_send(u, BOT_OP_LOGIN, ECHO_CMD, NULL, u->name, strlen(u->name));
    else
        user_list(u);
}

/* Acts on the phase when no request is outstanding. */
static void
user_step(bot_user_t *u)
{
    bot_run_t *r = u->run;

    if (u->req_pending || r->stopping)
        return;
    if (u->phase == P_ARENA && u->owner && !u->start_sent && u->members >= u->size) {
        u->start_sent = true;
        user_send(u, BOT_OP_START, ARENA_START, json_object(), NULL, 0);
    } else if (u->phase == P_RESULT && u->result_due) {
        u->result_due = false;
        u->push_waiting = true;
        u->push_op = BOT_OP_WAIT_ENDED;
        u->push_since = uv_hrtime();
        user_send(u, BOT_OP_RESULT, ARENA_RESULT,
                  json_pack("{s:I}", "score", (json_int_t)user_rand_between(u, 0, 1000)), NULL, 0);
    } else if (u->phase == P_GOING) {
        u->phase = P_LEAVE;
        user_send(u, BOT_OP_LEAVE, ARENA_LEAVE, json_object(), NULL, 0);
    }
}

/* The error code of a reply body {"error":{"code":N}}, 0 when it is not an error. */
static uint32_t
reply_error_code(json_t *body)
{
    json_t *code = json_object_get(json_object_get(body, "error"), "code");

    return json_is_integer(code) ? (uint32_t)json_integer_value(code) : 0;
}

/* After a list: enter one of the arenas listed with room, else create one. The pick is
 * random among the fullest BOT_PICK_AMONG, so that players fill arenas rather than spread
 * over many, without all of them rushing at the same last place. */
static void
user_join(bot_user_t *u, json_t *body)
{
    const bot_opts_t *o = &u->run->o;
    json_t *arenas = json_object_get(body, "arenas"), *a, *open[BOT_PICK_AMONG];
    size_t i, n = 0;

    u->phase = P_JOIN;
    json_array_foreach(arenas, i, a)
    {
        json_int_t members = json_integer_value(json_object_get(a, "members"));
        if (json_is_integer(json_object_get(a, "id")) &&
            members < json_integer_value(json_object_get(a, "size")) && n < BOT_PICK_AMONG)
            open[n++] = a;
    }
    if (n > 0) {
        a = open[user_rand(u) % n];
        user_send(u, BOT_OP_ENTER, ARENA_ENTER,
                  json_pack("{s:O,s:s}", "id", json_object_get(a, "id"), "player", u->name), NULL,
                  0);
        return;
    }
    user_send(u, BOT_OP_CREATE, ARENA_CREATE,
              json_pack("{s:i,s:i,s:s,s:s}", "size", (int)o->arena_size, "gameTime",
                        (int)o->game_time_ms, "name", u->name, "player", u->name),
              NULL, 0);
}

/* Takes the arena summary of a create/enter reply or an arenaMembers push. */
static void
user_arena(bot_user_t *u, json_t *a)
{
    const char *owner = json_string_value(json_object_get(a, "owner"));

    u->arena = json_integer_value(json_object_get(a, "id"));
    u->owner = owner != NULL && strcmp(owner, u->name) == 0;
    u->members = (uint32_t)json_array_size(json_object_get(a, "members"));
    u->size = (uint32_t)json_integer_value(json_object_get(a, "size"));
}

/* An error reply the scenario expects: someone else was quicker (the arena filled up, started
 * or emptied before the enter; a member left before the start). */
static bool
reply_refused(bot_op_t op, uint32_t code)
{
    if (op == BOT_OP_ENTER)
        return code == ARENA_E_FULL || code == ARENA_E_PLAYING || code == ARENA_E_NO_SUCH_ARENA;
    return op == BOT_OP_START && code == ARENA_E_NOT_FULL;
}

static void
on_reply(bot_user_t *u, const uint8_t *data, size_t len)
{
    bot_run_t *r = u->run;
    bot_op_t op = u->req_op;
    uint64_t ns = uv_hrtime() - u->req_sent;
    json_t *body = u->req_cmd == ECHO_CMD ? NULL : json_loadb((const char *)data, len, 0, NULL);
    uint32_t code = reply_error_code(body);
    bool refused = code != 0 && reply_refused(op, code);

    u->req_pending = false;
    uv_timer_stop(&u->req_timer);
    if (op == BOT_OP_LOGIN && u->req_cmd == LOGIN_CMD_LOGIN && code == 0 &&
        !json_is_true(json_object_get(body, "result")))
        code = ERR_LOGIN_REFUSED;
    if (op == BOT_OP_LOGIN && u->req_cmd == ECHO_CMD &&
        (len != strlen(u->name) || memcmp(data, u->name, len) != 0))
        code = ERR_LOGIN_REFUSED;
    if (u->req_cmd != ECHO_CMD && body == NULL && code == 0)
        code = 400;
    bot_stats_reply(r->s, op, ns, code, refused);
    if (code != 0 && !refused) {
        char why[160];
        snprintf(why, sizeof(why), "%.*s", (int)(len < 120 ? len : 120), (const char *)data);
        json_decref(body);
        user_restart(u, op, code, why);
        return;
    }
    switch (op) {
    case BOT_OP_LOGIN:
        u->online = true;
        r->s->online++;
        user_list(u);
        break;
    case BOT_OP_LIST:
        user_join(u, body);
        break;
    case BOT_OP_CREATE:
    case BOT_OP_ENTER:
        if (refused) {
            user_list(u);
            break;
        }
        user_arena(u, json_object_get(body, "arena"));
        user_wait_start(u, u->req_sent);
        break;
    case BOT_OP_LEAVE:
        u->arena = 0;
        u->owner = false;
        if (r->o.loop || u->games == 0) /* --once: a player who gave up looks again */
            user_rest(u, user_rand_between(u, r->o.think_min_ms, r->o.think_max_ms), false);
        else
            user_done(u);
        break;
    case BOT_OP_START:
        if (refused) /* a member left meanwhile: start again once full */
            u->start_sent = false;
        break;
    default: /* result: arenaEnded moves on */
        break;
    }
    json_decref(body);
    if (u->phase != P_DONE)
        user_step(u);
}

static void
on_push(bot_user_t *u, uint32_t topic, const uint8_t *data, size_t len)
{
    bot_run_t *r = u->run;
    json_t *body = json_loadb((const char *)data, len, 0, NULL);
    uint64_t now = uv_hrtime();

    if (topic == ARENA_PUSH_MEMBERS && u->arena != 0 &&
        json_integer_value(json_object_get(body, "id")) == u->arena) {
        user_arena(u, body);
    } else if (topic == ARENA_PUSH_START && u->phase == P_ARENA) {
        if (u->push_waiting && u->push_op == BOT_OP_WAIT_START)
            bot_stats_reply(r->s, BOT_OP_WAIT_START, now - u->push_since, 0, false);
        u->push_waiting = false;
        u->in_game = true;
        r->s->in_game++;
        u->phase = P_PLAY;
        /* the arena's game time: a bot with other settings may have created it */
        uv_timer_start(&u->act_timer, act_cb,
                       (uint64_t)json_integer_value(json_object_get(body, "gameTime")), 0);
    } else if (topic == ARENA_PUSH_ENDED && u->phase == P_RESULT && !u->result_due) {
        bot_stats_reply(r->s, BOT_OP_WAIT_ENDED, now - u->push_since, 0, false);
        r->s->games++;
        u->games++;
        u->push_waiting = false;
        u->in_game = false;
        r->s->in_game--;
        u->members = (uint32_t)json_array_size(json_object_get(body, "results"));
        uv_timer_stop(&u->act_timer);
        if (r->o.loop && user_rand(u) % 1000 < (uint64_t)(r->o.stay_ratio * 1000))
            user_wait_start(u, now);
        else
            u->phase = P_GOING;
    } else if (topic == ARENA_PUSH_ENDED && (u->phase == P_PLAY || u->result_due)) {
        json_decref(body);
        user_fail(u, BOT_OP_WAIT_ENDED, BOT_CODE_CLOSED, "arenaEnded before the result was sent");
        return;
    }
    json_decref(body);
    user_step(u);
}

/* ---- the connection ---------------------------------------------------------------- */

static void
alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    bot_user_t *u = ((bot_conn_t *)h->data)->user;

    (void)suggested;
    if (u->in_cap - u->in_len < BOT_READ_CHUNK) {
        u->in_cap = u->in_cap ? u->in_cap * 2 : BOT_READ_CHUNK * 2;
        u->in = ff_realloc(u->in, u->in_cap);
    }
    *buf = uv_buf_init((char *)u->in + u->in_len, (unsigned)(u->in_cap - u->in_len));
}

/* Hands out every complete frame; false when the user failed on the way. */
static bool
user_parse(bot_user_t *u)
{
    size_t off = 0;

    while (u->conn != NULL) {
        ff_frame_t f;
        long n = ff_frame_decode(&u->run->o.proto, u->in + off, u->in_len - off, &f);
        if (n < 0) {
            user_fail(u, u->req_pending ? u->req_op : BOT_OP_CONNECT, BOT_CODE_CLOSED,
                      ff_frame_strerror(n));
            return false;
        }
        if (n == 0 || (size_t)n > u->in_len - off)
            break;
        if (u->req_pending && f.cmd == u->req_cmd)
            on_reply(u, u->in + off + FF_FRAME_HEADER, f.body_len);
        else
            on_push(u, f.cmd, u->in + off + FF_FRAME_HEADER, f.body_len);
        off += (size_t)n;
    }
    if (u->conn == NULL)
        return false;
    memmove(u->in, u->in + off, u->in_len - off);
    u->in_len -= off;
    return true;
}

/* What a user without a request outstanding was waiting for, for a connection lost then:
 * the game's end (also while playing), arenaStart, else nothing in particular (counted under
 * connect). */
static bot_op_t
user_waiting_op(const bot_user_t *u)
{
    if (u->phase == P_PLAY || u->phase == P_RESULT)
        return BOT_OP_WAIT_ENDED;
    if (u->phase == P_ARENA)
        return BOT_OP_WAIT_START;
    return BOT_OP_CONNECT;
}

static void
read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    bot_user_t *u = ((bot_conn_t *)s->data)->user;

    (void)buf;
    if (u == NULL) /* let go of: closing */
        return;
    if (n < 0) {
        bot_op_t op = u->req_pending ? u->req_op : user_waiting_op(u);
        user_fail(u, op, BOT_CODE_CLOSED,
                  n == UV_EOF ? "server closed the connection" : uv_strerror((int)n));
        return;
    }
    u->in_len += (size_t)n;
    user_parse(u);
}

static void
connect_cb(uv_connect_t *c, int status)
{
    bot_user_t *u = ((bot_conn_t *)c->handle->data)->user;
    uint64_t ns;

    if (u == NULL || u->run->stopping)
        return;
    ns = uv_hrtime() - u->req_sent;
    uv_timer_stop(&u->req_timer);
    if (status < 0) {
        user_fail(u, BOT_OP_CONNECT, BOT_CODE_CLOSED, uv_strerror(status));
        return;
    }
    bot_stats_reply(u->run->s, BOT_OP_CONNECT, ns, 0, false);
    uv_tcp_nodelay(&u->conn->tcp, 1);
    uv_read_start((uv_stream_t *)&u->conn->tcp, alloc_cb, read_cb);
    if (u->run->o.login == BOT_LOGIN_NONE) {
        u->online = true;
        u->run->s->online++;
    }
    user_login(u);
}

static void
user_connect(bot_user_t *u)
{
    bot_run_t *r = u->run;
    bot_conn_t *c = ff_calloc(1, sizeof(*c));
    int rc;

    u->phase = P_CONNECT;
    u->arena = 0;
    u->owner = false;
    uv_tcp_init(r->loop, &c->tcp);
    c->tcp.data = c;
    c->connect.data = r;
    c->user = u;
    u->conn = c;
    r->open_handles++;
    u->req_sent = uv_hrtime();
    u->req_op = BOT_OP_CONNECT; /* its deadline: the kernel alone would retry for minutes */
    uv_timer_start(&u->req_timer, req_timeout_cb, r->o.request_timeout_ms, 0);
    rc = uv_tcp_connect(&c->connect, &c->tcp, (const struct sockaddr *)&r->addr, connect_cb);
    if (rc < 0)
        user_fail(u, BOT_OP_CONNECT, BOT_CODE_CLOSED, uv_strerror(rc));
}

/* ---- the run ----------------------------------------------------------------------- */

static void
run_tick_cb(uv_timer_t *t)
{
    bot_run_t *r = t->data;
    uint64_t ns = uv_hrtime() - r->t0;

    r->s->now_s = (uint32_t)(ns / 1000000000u);
    r->s->elapsed_s = (double)ns / 1e9;
    bot_stats_gauge(r->s);
}

static void
run_start_user(bot_run_t *r)
{
    bot_user_t *u = &r->users[r->started++];

    user_connect(u);
}

static void
run_ramp_cb(uv_timer_t *t)
{
    bot_run_t *r = t->data;
    double due = (double)(uv_hrtime() - r->t0) / 1e9 * r->o.ramp_per_s + 1;

    while (r->started < r->n && r->started < due)
        run_start_user(r);
    if (r->started == r->n)
        uv_timer_stop(t);
}

static void
run_deadline_cb(uv_timer_t *t)
{
    bot_run_stop(t->data);
}

static int
run_resolve(bot_run_t *r)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
    char port[16];
    int rc;

    snprintf(port, sizeof(port), "%d", r->o.port);
    if ((rc = getaddrinfo(r->o.host, port, &hints, &res)) != 0) {
        fprintf(stderr, "bot: %s: %s\n", r->o.host, gai_strerror(rc));
        return -1;
    }
    memcpy(&r->addr, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return 0;
}

static void
run_timer_init(bot_run_t *r, uv_timer_t *t, void *data)
{
    uv_timer_init(r->loop, t);
    t->data = data;
    r->open_handles++;
}

bot_run_t *
bot_run_start(uv_loop_t *loop, const bot_opts_t *o, bot_stats_t *stats, uint32_t first, uint32_t n,
              bot_run_done_fn done, void *arg)
{
    bot_run_t *r = ff_calloc(1, sizeof(*r));

    r->loop = loop;
    r->o = *o;
    r->s = stats;
    r->first = first;
    r->n = n;
    r->on_done = done;
    r->arg = arg;
    if (run_resolve(r) < 0) {
        ff_free(r);
        return NULL;
    }
    r->users = ff_calloc(n, sizeof(*r->users));
    for (uint32_t i = 0; i < n; i++) {
        bot_user_t *u = &r->users[i];
        u->run = r;
        u->index = i;
        snprintf(u->name, sizeof(u->name), "%s%05u", o->account_prefix,
                 o->first_account + first + i);
        u->rng = ((uint64_t)o->seed << 32) ^ (0x9E3779B97F4A7C15ull * (first + i + 1));
        run_timer_init(r, &u->req_timer, u);
        run_timer_init(r, &u->act_timer, u);
    }
    r->t0 = uv_hrtime();
    run_timer_init(r, &r->tick, r);
    uv_timer_start(&r->tick, run_tick_cb, BOT_TICK_MS, BOT_TICK_MS);
    run_timer_init(r, &r->ramp, r);
    run_timer_init(r, &r->deadline, r);
    if (o->duration_s > 0)
        uv_timer_start(&r->deadline, run_deadline_cb, (uint64_t)(o->duration_s * 1000), 0);
    if (o->ramp_per_s > 0) {
        uv_timer_start(&r->ramp, run_ramp_cb, 0, BOT_RAMP_TICK_MS);
    } else {
        while (r->started < n)
            run_start_user(r);
    }
    return r;
}

void
bot_run_stop(bot_run_t *r)
{
    if (r->stopping)
        return;
    r->stopping = true;
    run_tick_cb(&r->tick);
    for (uint32_t i = 0; i < r->n; i++) {
        bot_user_t *u = &r->users[i];
        user_drop_connection(u);
        run_close(r, (uv_handle_t *)&u->req_timer);
        run_close(r, (uv_handle_t *)&u->act_timer);
    }
    r->s->online = r->s->in_game = 0;
    bot_stats_gauge(r->s);
    run_close(r, (uv_handle_t *)&r->tick);
    run_close(r, (uv_handle_t *)&r->ramp);
    run_close(r, (uv_handle_t *)&r->deadline);
}

void
bot_run_free(bot_run_t *r)
{
    if (r == NULL)
        return;
    for (uint32_t i = 0; i < r->n; i++)
        ff_free(r->users[i].in);
    ff_free(r->users);
    ff_free(r);
}
