/* arena_test: the arena app (apps/arena, docs/arena.md) on a game node named `arena`, played by
 * real clients over TCP.
 * (a) entering a full arena is refused with 419004;
 * (b) start by a member who is not the owner is refused with 419007, before the arena is full
 *     with 419008, and the owner's start pushes arenaStart (3101) with the members to all;
 * (c) a member who disconnects (or leaves) mid-game does not hold up arenaEnded (3102): the
 *     others get it, complete and with exactly their results, as soon as they have sent them,
 *     long before the deadline (gameTime 60 s + 3 s);
 * (d) the rest of the contract end to end: list (open arenas fullest first, all by id, limit,
 *     total), create (defaults and limits), enter, arenaMembers (3103) to the others, leave,
 *     the owner's leave passing ownership on, an arena gone once everybody left, games ended
 *     by their deadline (gameTime 0 + 3 s) with score null and complete false (also while the
 *     deadline of an earlier round of the arena falls due), and the refusals 419001..419010,
 *     malformed bodies included;
 * (e) /reload of the app keeps an arena in the middle of a game: the result sent before the
 *     reload counts, and the game goes on in the freshly loaded library.
 * Absence is asserted only after the pushes that were due have arrived, with short bounded
 * waits (300 ms). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "arena/arena_proto.h"
#include "harness.h"

static const char config[] =
    "{\"master\":{\"rootport\":@ROOTPORT@,\"webport\":@WEBPORT@,\"log\":\"@DIR@/master.log\"},"
    " \"servers\":{"
    "  \"gate\":{\"rootport\":@GATEPORT@,\"log\":\"@DIR@/gate.log\"},"
    "  \"net\":{\"netport\":@NETPORT@,\"log\":\"@DIR@/net.log\","
    "   \"remoteport\":[{\"rootname\":\"gate\",\"rootport\":@GATEPORT@}]},"
    "  \"arena\":{\"role\":\"game\",\"app\":\"@REPO@/build/apps/libarena.so\","
    "   \"log\":\"@DIR@/arena.log\","
    "   \"remoteport\":[{\"rootname\":\"gate\",\"rootport\":@GATEPORT@}]}},"
    " \"cluster\":{\"requestTimeout\":3000}}";

#define WAIT_MS 5000
#define ABSENT_MS 300
#define GRACE_MS 3000      /* a game ends at the latest gameTime + 3 s after its start */
#define CLOCK_SLACK_MS 25  /* the node's loop clock may be a coarse one, a few ms behind */
#define LONG_GAME_MS 60000 /* a gameTime whose deadline cannot end a game during the test */
#define EARLY_MS 10000     /* an end this soon after the start is not the deadline's */
#define S32 "abcdefghijklmnopqrstuvwxyz012345" /* 32 bytes */

/* ---- replies and pushes ------------------------------------------------------------ */

static const char *
shown(int rc, const ffc_msg_t *m)
{
    return rc == 0 ? (const char *)m->body : ffc_strerror(rc);
}

/* Sends cmd with body and checks for {"result":true}. */
static void
call_ok(ffc_t *cl, uint32_t cmd, const char *body, const char *what)
{
    ffc_msg_t m = {0};
    int rc = ffc_call(cl, cmd, body, strlen(body), &m, WAIT_MS);
    json_t *j = rc == 0 ? json_loadb((const char *)m.body, m.len, 0, NULL) : NULL;

    th_ok(json_is_true(json_object_get(j, "result")), "%s: {\"result\":true} (got %s)", what,
          shown(rc, &m));
    json_decref(j);
    ffc_msg_free(&m);
}

/* Sends cmd with body and checks for an error reply with `code`. */
static void
call_err(ffc_t *cl, uint32_t cmd, const char *body, int code, const char *what)
{
    ffc_msg_t m = {0};
    int rc = ffc_call(cl, cmd, body, strlen(body), &m, WAIT_MS);

    TH_EQ_INT(rc == 0 ? th_error_code(m.body, m.len) : rc, code, "%s: error %d (got %s)", what,
              code, shown(rc, &m));
    ffc_msg_free(&m);
}

/* Sends cmd with body; returns the reply parsed (a new reference), or NULL after a `# ` line
 * saying why. */
static json_t *
call_json(ffc_t *cl, uint32_t cmd, const char *body)
{
    ffc_msg_t m = {0};
    int rc = ffc_call(cl, cmd, body, strlen(body), &m, WAIT_MS);
    json_t *j = rc == 0 ? json_loadb((const char *)m.body, m.len, 0, NULL) : NULL;

    if (j == NULL)
        th_diag("command %u %s: no JSON reply: %s", cmd, body, shown(rc, &m));
    ffc_msg_free(&m);
    return j;
}

/* Checks that got equals the JSON of the printf format fmt, written with ' for ", compared
 * with sorted keys; both are printed on failure. Returns whether they are equal. */
static int
vexpect_json(json_t *got, const char *what, const char *fmt, va_list ap)
{
    const size_t flags = JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY;
    char text[4096], *have, *want;
    json_t *w;
    int ok;

    vsnprintf(text, sizeof(text), fmt, ap);
    for (char *p = text; *p != '\0'; p++)
        if (*p == '\'')
            *p = '"';
    w = json_loads(text, JSON_DECODE_ANY, NULL);
    have = got != NULL ? json_dumps(got, flags) : NULL;
    want = w != NULL ? json_dumps(w, flags) : NULL;
    ok = TH_EQ_STR(have != NULL ? have : "(nothing)", want != NULL ? want : "(bad expectation)",
                   "%s", what);
    free(have);
    free(want);
    json_decref(w);
    return ok;
}

static int expect_json(json_t *got, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
expect_json(json_t *got, const char *what, const char *fmt, ...)
{
    va_list ap;
    int ok;

    va_start(ap, fmt);
    ok = vexpect_json(got, what, fmt, ap);
    va_end(ap);
    return ok;
}

static long long expect_push(ffc_t *cl, uint32_t topic, int ms, const char *what, const char *fmt,
                             ...) __attribute__((format(printf, 5, 6)));

/* Waits up to ms for the next push on topic and checks its body like expect_json. Returns
 * when it arrived (th_now_ms), or -1 when none did. */
static long long
expect_push(ffc_t *cl, uint32_t topic, int ms, const char *what, const char *fmt, ...)
{
    ffc_msg_t m = {0};
    int rc = ffc_next_push(cl, topic, &m, ms);
    long long at = rc == 0 ? th_now_ms() : -1;
    json_t *j = rc == 0 ? json_loadb((const char *)m.body, m.len, 0, NULL) : NULL;
    va_list ap;

    if (rc != 0)
        th_diag("%s: no push %u within %d ms: %s", what, topic, ms, ffc_strerror(rc));
    va_start(ap, fmt);
    vexpect_json(j, what, fmt, ap);
    va_end(ap);
    json_decref(j);
    ffc_msg_free(&m);
    return at;
}

/* Asserts that no push on topic arrives within ABSENT_MS. */
static void
expect_no_push(ffc_t *cl, uint32_t topic, const char *what)
{
    ffc_msg_t m = {0};
    int rc = ffc_next_push(cl, topic, &m, ABSENT_MS);

    th_ok(rc != 0, "%s (got %s)", what, rc == 0 ? (const char *)m.body : "none");
    ffc_msg_free(&m);
}

/* Creates or enters (cmd) with body and checks the reply {"arena":A} against fmt, whose
 * first conversion is the arena's id (%lld) and second its name (%s), taken from the reply so
 * that create's choice can be checked against the rest. Returns the id, or -1. */
static long long
call_arena(ffc_t *cl, uint32_t cmd, const char *body, const char *what, const char *fmt)
{
    json_t *j = call_json(cl, cmd, body), *a = json_object_get(j, "arena");
    json_t *id = json_object_get(a, "id");
    long long rc = json_is_integer(id) ? (long long)json_integer_value(id) : -1;
    char want[1024];

    snprintf(want, sizeof(want), "{'arena':%s}", fmt);
    /* The format is the caller's own literal, with the two conversions documented above. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    expect_json(j, what, want, rc, json_string_value(json_object_get(a, "name")));
#pragma GCC diagnostic pop
    json_decref(j);
    return rc;
}

/* Lists with body and checks the answer, described as "ids=5,4 members=2,1 total=2". */
static void
expect_list(ffc_t *cl, const char *body, const char *what, const char *want)
{
    json_t *j = call_json(cl, ARENA_LIST, body), *a;
    char ids[512] = "", counts[512] = "", have[1100];
    size_t i, ni = 0, nc = 0;

    json_array_foreach(json_object_get(j, "arenas"), i, a)
    {
        ni += (size_t)snprintf(ids + ni, sizeof(ids) - ni, "%s%lld", i ? "," : "",
                               (long long)json_integer_value(json_object_get(a, "id")));
        nc += (size_t)snprintf(counts + nc, sizeof(counts) - nc, "%s%lld", i ? "," : "",
                               (long long)json_integer_value(json_object_get(a, "members")));
        if (ni >= sizeof(ids) || nc >= sizeof(counts))
            break;
    }
    snprintf(have, sizeof(have), "ids=%s members=%s total=%lld", ids, counts,
             json_is_integer(json_object_get(j, "total"))
                 ? (long long)json_integer_value(json_object_get(j, "total"))
                 : -1LL);
    TH_EQ_STR(have, want, "%s", what);
    json_decref(j);
}

/* ---- (d) refusals of a player in no arena, and create's defaults and limits ---------- */

static void
test_refusals(ffc_t *a)
{
    static const struct {
        uint32_t cmd;
        const char *body, *what;
    } bad[] = {
        {ARENA_LIST, "not json", "(d) list with a body that is not JSON"},
        {ARENA_LIST, "[]", "(d) list with an array for a body"},
        {ARENA_LIST, "{\"open\":\"yes\"}", "(d) list with open a string"},
        {ARENA_LIST, "{\"limit\":0}", "(d) list with limit 0"},
        {ARENA_LIST, "{\"limit\":501}", "(d) list with limit 501"},
        {ARENA_LIST, "{\"limit\":2.5}", "(d) list with limit a real"},
        {ARENA_CREATE, "", "(d) create with an empty body"},
        {ARENA_CREATE, "{\"size\":1}", "(d) create with size 1"},
        {ARENA_CREATE, "{\"size\":65}", "(d) create with size 65"},
        {ARENA_CREATE, "{\"size\":\"4\"}", "(d) create with size a string"},
        {ARENA_CREATE, "{\"gameTime\":-1}", "(d) create with gameTime -1"},
        {ARENA_CREATE, "{\"gameTime\":600001}", "(d) create with gameTime 600001"},
        {ARENA_CREATE, "{\"name\":\"" S32 "x\"}", "(d) create with a name of 33 bytes"},
        {ARENA_CREATE, "{\"name\":7}", "(d) create with name a number"},
        {ARENA_CREATE, "{\"player\":\"\"}", "(d) create with an empty player"},
        {ARENA_CREATE, "{\"player\":\"" S32 "x\"}", "(d) create with a player of 33 bytes"},
        {ARENA_CREATE,
         "{\"player\":\"\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9"
         "\u00e9\u00e9\u00e9\u00e9\u00e9\"}",
         "(d) create with a player of 17 two-byte characters (34 bytes)"},
        {ARENA_ENTER, "{}", "(d) enter without id"},
        {ARENA_ENTER, "{\"id\":\"1\"}", "(d) enter with id a string"},
        {ARENA_ENTER, "{\"id\":1,\"player\":\"\"}", "(d) enter with an empty player"},
        {ARENA_LEAVE, "", "(d) leave with an empty body"},
        {ARENA_START, "[1]", "(d) start with an array for a body"},
        {ARENA_RESULT, "{}", "(d) result without score"},
        {ARENA_RESULT, "{\"score\":\"10\"}", "(d) result with score a string"},
        {ARENA_RESULT, "{\"score\":1.5}", "(d) result with score a real"},
        {ARENA_RESULT, "{\"score\":null}", "(d) result with score null"},
    };
    json_t *j;
    long long id1, id2;
    const char *owner;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        call_err(a, bad[i].cmd, bad[i].body, ARENA_E_BAD_BODY, bad[i].what);
    expect_list(a, "{}", "(d) no arena was made by the malformed creates", "ids= members= total=0");
    call_err(a, ARENA_LEAVE, "{}", ARENA_E_NOT_IN_ARENA, "(d) leave while in no arena");
    call_err(a, ARENA_START, "{}", ARENA_E_NOT_IN_ARENA, "(d) start while in no arena");
    call_err(a, ARENA_RESULT, "{\"score\":1}", ARENA_E_NOT_IN_ARENA,
             "(d) result while in no arena");
    call_err(a, ARENA_ENTER, "{\"id\":999999}", ARENA_E_NO_SUCH_ARENA,
             "(d) enter of an unknown id");

    id1 = call_arena(a, ARENA_CREATE,
                     "{\"name\":\"\",\"player\":\"" S32 "\",\"size\":64,\"gameTime\":600000}",
                     "(d) create at the limits: empty name, 32-byte player, size 64, gameTime "
                     "600000",
                     "{'id':%lld,'name':'%s','owner':'" S32 "','size':64,'gameTime':600000,"
                     "'state':'waiting','round':1,'members':['" S32 "']}");
    call_ok(a, ARENA_LEAVE, "{}", "(d) the creator leaves its arena");

    /* The default player name holds the connection id, which only the reply tells. */
    j = call_json(a, ARENA_CREATE, "{}");
    owner = json_string_value(json_object_get(json_object_get(j, "arena"), "owner"));
    id2 = json_integer_value(json_object_get(json_object_get(j, "arena"), "id"));
    th_ok(owner != NULL && strncmp(owner, "player-", 7) == 0 && owner[7] != '\0',
          "(d) create {}: the player is named player-<conn> (%s)", owner ? owner : "(none)");
    expect_json(json_object_get(j, "arena"), "(d) create {}: the defaults",
                "{'id':%lld,'name':'arena-%lld','owner':'%s','size':4,'gameTime':10000,"
                "'state':'waiting','round':1,'members':['%s']}",
                id2, id2, owner ? owner : "?", owner ? owner : "?");
    th_ok(id1 > 0 && id2 > id1, "(d) a new arena gets a new id (%lld after %lld)", id2, id1);
    json_decref(j);
    call_ok(a, ARENA_LEAVE, "{}", "(d) the creator leaves its arena");
    expect_list(a, "{}", "(d) both arenas are gone once their only member left",
                "ids= members= total=0");
}

/* ---- (a), (b), (d): a game played to its deadline, ownership passed, a game completed --- */

/* The players of test_play, in the order of the array. */
enum { ALICE, BOB, CAROL, DAVE, EVE, NPLAYERS };

/* Three players enter `main` (size 3) and carol waits alone in `solo` (size 4): lists, enter
 * and its pushes, and the refusals of enter and start. Returns main's id in *main_id. */
static void
play_fill(ffc_t **p, long long *solo, long long *main_id)
{
    char want[256];
    long long x, y;

    *solo = x = call_arena(p[CAROL], ARENA_CREATE,
                           "{\"name\":\"solo\",\"size\":4,\"gameTime\":0,\"player\":\"carol\"}",
                           "(d) carol creates solo",
                           "{'id':%lld,'name':'%s','owner':'carol','size':4,'gameTime':0,"
                           "'state':'waiting','round':1,'members':['carol']}");
    *main_id = y = call_arena(p[ALICE], ARENA_CREATE,
                              "{\"name\":\"main\",\"size\":3,\"gameTime\":0,\"player\":\"alice\"}",
                              "(d) alice creates main",
                              "{'id':%lld,'name':'%s','owner':'alice','size':3,'gameTime':0,"
                              "'state':'waiting','round':1,'members':['alice']}");
    call_err(p[ALICE], ARENA_CREATE, "{}", ARENA_E_IN_ARENA, "(d) alice creates a second arena");
    snprintf(want, sizeof(want), "{\"id\":%lld}", x);
    call_err(p[ALICE], ARENA_ENTER, want, ARENA_E_IN_ARENA, "(d) alice enters solo while in main");

    snprintf(want, sizeof(want), "{\"id\":%lld,\"player\":\"bob\"}", y);
    call_arena(p[BOB], ARENA_ENTER, want, "(d) bob enters main",
               "{'id':%lld,'name':'%s','owner':'alice','size':3,'gameTime':0,"
               "'state':'waiting','round':1,'members':['alice','bob']}");
    expect_push(p[ALICE], ARENA_PUSH_MEMBERS, WAIT_MS, "(d) the owner alice is told bob entered",
                "{'id':%lld,'name':'main','owner':'alice','size':3,'gameTime':0,"
                "'state':'waiting','round':1,'members':['alice','bob']}",
                y);

    snprintf(want, sizeof(want), "ids=%lld,%lld members=2,1 total=2", y, x);
    expect_list(p[EVE], "{\"open\":true}", "(d) open arenas, fullest first", want);
    snprintf(want, sizeof(want), "ids=%lld,%lld members=1,2 total=2", x, y);
    expect_list(p[EVE], "{}", "(d) all arenas, by id", want);
    snprintf(want, sizeof(want), "ids=%lld members=2 total=2", y);
    expect_list(p[EVE], "{\"open\":true,\"limit\":1}", "(d) open arenas, limit 1", want);

    snprintf(want, sizeof(want), "{\"id\":%lld,\"player\":\"dave\"}", y);
    call_arena(p[DAVE], ARENA_ENTER, want, "(d) dave enters main, which is then full",
               "{'id':%lld,'name':'%s','owner':'alice','size':3,'gameTime':0,"
               "'state':'waiting','round':1,'members':['alice','bob','dave']}");
    for (int i = ALICE; i <= BOB; i++)
        expect_push(p[i], ARENA_PUSH_MEMBERS, WAIT_MS, "(d) alice and bob are told dave entered",
                    "{'id':%lld,'name':'main','owner':'alice','size':3,'gameTime':0,"
                    "'state':'waiting','round':1,'members':['alice','bob','dave']}",
                    y);
    snprintf(want, sizeof(want), "ids=%lld members=1 total=2", x);
    expect_list(p[EVE], "{\"open\":true}", "(d) a full arena is not open", want);

    snprintf(want, sizeof(want), "{\"id\":%lld,\"player\":\"eve\"}", y);
    call_err(p[EVE], ARENA_ENTER, want, ARENA_E_FULL, "(a) eve enters the full arena main");
    call_err(p[BOB], ARENA_START, "{}", ARENA_E_NOT_OWNER,
             "(b) bob, a member but not the owner, starts");
    call_err(p[CAROL], ARENA_START, "{}", ARENA_E_NOT_FULL,
             "(b) carol starts solo with 1 of 4 members");
    call_err(p[ALICE], ARENA_RESULT, "{\"score\":5}", ARENA_E_NOT_PLAYING,
             "(d) result before the start");
}

/* alice starts main; dave sends no result, so the deadline (gameTime 0 + 3 s) ends it. */
static void
play_deadline(ffc_t **p, long long y)
{
    static const int in_main[] = {ALICE, BOB, DAVE};
    char body[128];
    long long t0, at;

    t0 = th_now_ms();
    call_ok(p[ALICE], ARENA_START, "{}", "(b) alice, the owner, starts the full arena main");
    for (size_t i = 0; i < 3; i++)
        expect_push(p[in_main[i]], ARENA_PUSH_START, WAIT_MS, "(b) every member gets arenaStart",
                    "{'id':%lld,'round':1,'gameTime':0,'members':['alice','bob','dave']}", y);
    snprintf(body, sizeof(body), "{\"id\":%lld,\"player\":\"eve\"}", y);
    call_err(p[EVE], ARENA_ENTER, body, ARENA_E_PLAYING, "(d) eve enters main while it plays");
    call_err(p[ALICE], ARENA_START, "{}", ARENA_E_PLAYING,
             "(d) alice starts main again while it plays");
    call_ok(p[ALICE], ARENA_RESULT, "{\"score\":10}", "(d) alice sends her result");
    call_err(p[ALICE], ARENA_RESULT, "{\"score\":11}", ARENA_E_RESULT_SENT,
             "(d) alice sends a second result");
    call_ok(p[BOB], ARENA_RESULT, "{\"score\":20}", "(d) bob sends his result");

    for (size_t i = 0; i < 3; i++) {
        at = expect_push(p[in_main[i]], ARENA_PUSH_ENDED, GRACE_MS + WAIT_MS,
                         "(d) arenaEnded at the deadline: incomplete, dave's score null",
                         "{'id':%lld,'round':1,'complete':false,'results':[{'player':'alice',"
                         "'score':10},{'player':'bob','score':20},{'player':'dave','score':null}]}",
                         y);
        if (i == 0 && at >= 0)
            th_ok(at - t0 >= GRACE_MS - CLOCK_SLACK_MS,
                  "(d) ... not before gameTime + 3 s (%lld ms after the start)", at - t0);
    }
    call_err(p[DAVE], ARENA_RESULT, "{\"score\":30}", ARENA_E_NOT_PLAYING,
             "(d) dave's late result");
}

/* The owner alice leaves; bob takes over, eve fills the arena, bob starts round 2 and all
 * three results end it at once. */
static void
play_new_owner(ffc_t **p, long long y)
{
    static const int in_main[] = {BOB, DAVE, EVE}, stayed[] = {BOB, DAVE};
    char body[128];

    call_ok(p[ALICE], ARENA_LEAVE, "{}", "(d) alice, the owner, leaves main");
    for (size_t i = 0; i < 2; i++)
        expect_push(p[stayed[i]], ARENA_PUSH_MEMBERS, WAIT_MS,
                    "(d) bob and dave are told: bob owns main now",
                    "{'id':%lld,'name':'main','owner':'bob','size':3,'gameTime':0,"
                    "'state':'waiting','round':2,'members':['bob','dave']}",
                    y);
    call_err(p[BOB], ARENA_START, "{}", ARENA_E_NOT_FULL,
             "(d) bob starts main with 2 of 3 members");
    snprintf(body, sizeof(body), "{\"id\":%lld,\"player\":\"eve\"}", y);
    call_arena(p[EVE], ARENA_ENTER, body, "(d) eve enters main",
               "{'id':%lld,'name':'%s','owner':'bob','size':3,'gameTime':0,"
               "'state':'waiting','round':2,'members':['bob','dave','eve']}");
    for (size_t i = 0; i < 2; i++)
        expect_push(p[stayed[i]], ARENA_PUSH_MEMBERS, WAIT_MS,
                    "(d) bob and dave are told eve entered",
                    "{'id':%lld,'name':'main','owner':'bob','size':3,'gameTime':0,"
                    "'state':'waiting','round':2,'members':['bob','dave','eve']}",
                    y);
    call_ok(p[BOB], ARENA_START, "{}", "(d) bob, the new owner, starts main");
    for (size_t i = 0; i < 3; i++)
        expect_push(p[in_main[i]], ARENA_PUSH_START, WAIT_MS, "(d) round 2 starts for its members",
                    "{'id':%lld,'round':2,'gameTime':0,'members':['bob','dave','eve']}", y);
    call_ok(p[BOB], ARENA_RESULT, "{\"score\":1}", "(d) bob sends a result in round 2");
    call_ok(p[DAVE], ARENA_RESULT, "{\"score\":2}", "(d) dave sends a result in round 2");
    expect_no_push(p[BOB], ARENA_PUSH_ENDED, "(d) round 2 still waits for eve's result");
    call_ok(p[EVE], ARENA_RESULT, "{\"score\":3}", "(d) eve sends a result in round 2");
    for (size_t i = 0; i < 3; i++)
        expect_push(p[in_main[i]], ARENA_PUSH_ENDED, WAIT_MS,
                    "(d) round 2 ends complete once all results are in",
                    "{'id':%lld,'round':2,'complete':true,'results':[{'player':'bob','score':1},"
                    "{'player':'dave','score':2},{'player':'eve','score':3}]}",
                    y);
}

/* Round 3 starts while round 2's deadline is still pending (it falls due 3 s after round 2's
 * start, at least 300 ms before round 3's): that timer must not end round 3, whose own
 * deadline ends it since dave sends nothing. */
static void
play_stale_deadline(ffc_t **p, long long y)
{
    static const int in_main[] = {BOB, DAVE, EVE};
    long long t0 = th_now_ms(), at;

    call_ok(p[BOB], ARENA_START, "{}", "(d) bob starts round 3 at once");
    for (size_t i = 0; i < 3; i++)
        expect_push(p[in_main[i]], ARENA_PUSH_START, WAIT_MS, "(d) round 3 starts for its members",
                    "{'id':%lld,'round':3,'gameTime':0,'members':['bob','dave','eve']}", y);
    call_ok(p[BOB], ARENA_RESULT, "{\"score\":4}", "(d) bob sends a result in round 3");
    call_ok(p[EVE], ARENA_RESULT, "{\"score\":5}", "(d) eve sends a result in round 3");
    for (size_t i = 0; i < 3; i++) {
        at = expect_push(p[in_main[i]], ARENA_PUSH_ENDED, GRACE_MS + WAIT_MS,
                         "(d) round 3 ends at its deadline, incomplete, dave's score null",
                         "{'id':%lld,'round':3,'complete':false,'results':[{'player':'bob',"
                         "'score':4},{'player':'dave','score':null},{'player':'eve','score':5}]}",
                         y);
        if (i == 0 && at >= 0)
            th_ok(at - t0 >= GRACE_MS - CLOCK_SLACK_MS,
                  "(d) ... at its own deadline, not round 2's (%lld ms after its start)", at - t0);
    }
}

/* Everybody leaves: the others are told, and the arenas are gone. */
static void
play_empty(ffc_t **p, long long x, long long y)
{
    char body[64];

    call_ok(p[BOB], ARENA_LEAVE, "{}", "(d) bob leaves main");
    for (int i = DAVE; i <= EVE; i++)
        expect_push(p[i], ARENA_PUSH_MEMBERS, WAIT_MS, "(d) dave and eve are told: dave owns main",
                    "{'id':%lld,'name':'main','owner':'dave','size':3,'gameTime':0,"
                    "'state':'waiting','round':4,'members':['dave','eve']}",
                    y);
    call_ok(p[DAVE], ARENA_LEAVE, "{}", "(d) dave leaves main");
    expect_push(p[EVE], ARENA_PUSH_MEMBERS, WAIT_MS, "(d) eve is told dave left",
                "{'id':%lld,'name':'main','owner':'eve','size':3,'gameTime':0,"
                "'state':'waiting','round':4,'members':['eve']}",
                y);
    call_ok(p[EVE], ARENA_LEAVE, "{}", "(d) eve, the last member, leaves main");
    call_err(p[EVE], ARENA_LEAVE, "{}", ARENA_E_NOT_IN_ARENA, "(d) eve leaves again");
    snprintf(body, sizeof(body), "ids=%lld members=1 total=1", x);
    expect_list(p[ALICE], "{}", "(d) main is gone once everybody left", body);
    snprintf(body, sizeof(body), "{\"id\":%lld}", y);
    call_err(p[ALICE], ARENA_ENTER, body, ARENA_E_NO_SUCH_ARENA, "(d) enter of main, gone");
    call_ok(p[CAROL], ARENA_LEAVE, "{}", "(d) carol leaves solo");
    expect_list(p[ALICE], "{}", "(d) no arena left", "ids= members= total=0");
    expect_no_push(p[ALICE], ARENA_PUSH_MEMBERS,
                   "(d) alice, who left main, heard nothing of it since");
}

static void
test_play(th_cluster_t *c)
{
    ffc_t *p[NPLAYERS] = {NULL};
    long long x, y;
    int n = 0;

    while (n < NPLAYERS && (p[n] = th_connect(c)) != NULL)
        n++;
    if (n == NPLAYERS) {
        play_fill(p, &x, &y);
        play_deadline(p, y);
        play_new_owner(p, y);
        play_stale_deadline(p, y);
        play_empty(p, x, y);
    }
    for (int i = 0; i < NPLAYERS; i++)
        ffc_close(p[i]);
}

/* ---- (c) a member gone mid-game ----------------------------------------------------- */

enum { PAT, QUINN, RAE, SAM, NGONE };

typedef struct {
    ffc_t *cl;
    long long id, members;
} count_arg_t;

/* Whether list shows arena a->id with a->members members. */
static bool
members_cb(void *arg)
{
    count_arg_t *a = arg;
    json_t *j = call_json(a->cl, ARENA_LIST, "{}"), *e;
    bool seen = false;
    size_t i;

    json_array_foreach(json_object_get(j, "arenas"), i, e)
    {
        if (json_integer_value(json_object_get(e, "id")) == a->id)
            seen = json_integer_value(json_object_get(e, "members")) == a->members;
    }
    json_decref(j);
    return seen;
}

/* pat, quinn and rae fill `long` (gameTime 60 s) and pat starts it. Returns its id. */
static long long
gone_fill(ffc_t **p)
{
    char body[128];
    long long z = call_arena(
        p[PAT], ARENA_CREATE,
        "{\"name\":\"long\",\"size\":3,\"gameTime\":60000,\"player\":\"pat\"}",
        "(c) pat creates long (gameTime 60 s)",
        "{'id':%lld,'name':'%s','owner':'pat','size':3,'gameTime':60000,'state':'waiting',"
        "'round':1,'members':['pat']}");

    snprintf(body, sizeof(body), "{\"id\":%lld,\"player\":\"quinn\"}", z);
    call_arena(p[QUINN], ARENA_ENTER, body, "(c) quinn enters long",
               "{'id':%lld,'name':'%s','owner':'pat','size':3,'gameTime':60000,"
               "'state':'waiting','round':1,'members':['pat','quinn']}");
    expect_push(p[PAT], ARENA_PUSH_MEMBERS, WAIT_MS, "(c) pat is told quinn entered",
                "{'id':%lld,'name':'long','owner':'pat','size':3,'gameTime':60000,"
                "'state':'waiting','round':1,'members':['pat','quinn']}",
                z);
    snprintf(body, sizeof(body), "{\"id\":%lld,\"player\":\"rae\"}", z);
    call_arena(p[RAE], ARENA_ENTER, body, "(c) rae enters long",
               "{'id':%lld,'name':'%s','owner':'pat','size':3,'gameTime':60000,"
               "'state':'waiting','round':1,'members':['pat','quinn','rae']}");
    for (int i = PAT; i <= QUINN; i++)
        expect_push(p[i], ARENA_PUSH_MEMBERS, WAIT_MS, "(c) pat and quinn are told rae entered",
                    "{'id':%lld,'name':'long','owner':'pat','size':3,'gameTime':60000,"
                    "'state':'waiting','round':1,'members':['pat','quinn','rae']}",
                    z);
    return z;
}

/* Round 1: rae disconnects after pat's result; quinn's result then ends the game at once. */
static void
gone_disconnect(ffc_t **p, long long z)
{
    count_arg_t two = {p[PAT], z, 2};
    long long t0 = th_now_ms(), at;

    call_ok(p[PAT], ARENA_START, "{}", "(c) pat starts long");
    for (int i = PAT; i <= RAE; i++)
        expect_push(p[i], ARENA_PUSH_START, WAIT_MS, "(c) pat, quinn and rae get arenaStart",
                    "{'id':%lld,'round':1,'gameTime':60000,'members':['pat','quinn','rae']}", z);
    call_ok(p[PAT], ARENA_RESULT, "{\"score\":1}", "(c) pat sends a result");
    ffc_close(p[RAE]);
    p[RAE] = NULL;
    TH_EQ_INT(th_wait(members_cb, &two, WAIT_MS), 0,
              "(c) rae disconnected mid-game: long shows 2 members");
    call_ok(p[QUINN], ARENA_RESULT, "{\"score\":2}", "(c) quinn sends a result");
    for (int i = PAT; i <= QUINN; i++) {
        at = expect_push(p[i], ARENA_PUSH_ENDED, EARLY_MS,
                         "(c) arenaEnded, complete, with exactly pat's and quinn's results",
                         "{'id':%lld,'round':1,'complete':true,'results':[{'player':'pat',"
                         "'score':1},{'player':'quinn','score':2}]}",
                         z);
        if (at >= 0)
            th_ok(at - t0 < EARLY_MS, "(c) ... %lld ms after the start, not at the deadline (63 s)",
                  at - t0);
    }
}

/* Round 2: sam fills long again, and leaves once the others sent results: that ends it. */
static void
gone_leave(ffc_t **p, long long z)
{
    char body[128];
    long long t0, at;

    snprintf(body, sizeof(body), "{\"id\":%lld,\"player\":\"sam\"}", z);
    call_arena(p[SAM], ARENA_ENTER, body, "(c) sam enters long, waiting again",
               "{'id':%lld,'name':'%s','owner':'pat','size':3,'gameTime':60000,"
               "'state':'waiting','round':2,'members':['pat','quinn','sam']}");
    for (int i = PAT; i <= QUINN; i++)
        expect_push(p[i], ARENA_PUSH_MEMBERS, WAIT_MS, "(c) pat and quinn are told sam entered",
                    "{'id':%lld,'name':'long','owner':'pat','size':3,'gameTime':60000,"
                    "'state':'waiting','round':2,'members':['pat','quinn','sam']}",
                    z);
    t0 = th_now_ms();
    call_ok(p[PAT], ARENA_START, "{}", "(c) pat starts round 2");
    for (int i = PAT; i <= SAM; i += i == QUINN ? 2 : 1)
        expect_push(p[i], ARENA_PUSH_START, WAIT_MS, "(c) pat, quinn and sam get arenaStart",
                    "{'id':%lld,'round':2,'gameTime':60000,'members':['pat','quinn','sam']}", z);
    call_ok(p[PAT], ARENA_RESULT, "{\"score\":3}", "(c) pat sends a result");
    call_ok(p[QUINN], ARENA_RESULT, "{\"score\":4}", "(c) quinn sends a result");
    expect_no_push(p[PAT], ARENA_PUSH_ENDED, "(c) the game still waits for sam's result");
    call_ok(p[SAM], ARENA_LEAVE, "{}", "(c) sam leaves mid-game");
    for (int i = PAT; i <= QUINN; i++) {
        at = expect_push(p[i], ARENA_PUSH_ENDED, EARLY_MS,
                         "(c) arenaEnded, complete, with exactly pat's and quinn's results",
                         "{'id':%lld,'round':2,'complete':true,'results':[{'player':'pat',"
                         "'score':3},{'player':'quinn','score':4}]}",
                         z);
        if (at >= 0)
            th_ok(at - t0 < EARLY_MS, "(c) ... %lld ms after the start, not at the deadline (63 s)",
                  at - t0);
    }
    expect_no_push(p[SAM], ARENA_PUSH_ENDED, "(c) sam, who left, gets no arenaEnded");
    call_ok(p[QUINN], ARENA_LEAVE, "{}", "(c) quinn leaves");
    expect_push(p[PAT], ARENA_PUSH_MEMBERS, WAIT_MS, "(c) pat is told quinn left",
                "{'id':%lld,'name':'long','owner':'pat','size':3,'gameTime':60000,"
                "'state':'waiting','round':3,'members':['pat']}",
                z);
    call_ok(p[PAT], ARENA_LEAVE, "{}", "(c) pat leaves");
    expect_list(p[PAT], "{}", "(c) long is gone", "ids= members= total=0");
}

static void
test_gone(th_cluster_t *c)
{
    ffc_t *p[NGONE] = {NULL};
    long long z;
    int n = 0;

    while (n < NGONE && (p[n] = th_connect(c)) != NULL)
        n++;
    if (n == NGONE) {
        z = gone_fill(p);
        gone_disconnect(p, z);
        gone_leave(p, z);
    }
    for (int i = 0; i < NGONE; i++)
        ffc_close(p[i]);
}

/* ---- (e) /reload keeps the arenas ------------------------------------------------------ */

typedef struct {
    th_cluster_t *c;
    int want;
} loads_arg_t;

/* How many times the arena node logged that it loaded the app. */
static int
loads_logged(th_cluster_t *c)
{
    return th_log_count(c, "arena", "app: loaded");
}

static bool
loads_cb(void *arg)
{
    loads_arg_t *a = arg;

    return loads_logged(a->c) >= a->want;
}

/* rita and rob play `kept`; rita's result of round 1 is in when the app is reloaded. */
static long long
reload_before(ffc_t *rita, ffc_t *rob)
{
    char body[128];
    long long w = call_arena(
        rita, ARENA_CREATE, "{\"name\":\"kept\",\"size\":2,\"gameTime\":60000,\"player\":\"rita\"}",
        "(e) rita creates kept",
        "{'id':%lld,'name':'%s','owner':'rita','size':2,'gameTime':60000,"
        "'state':'waiting','round':1,'members':['rita']}");

    snprintf(body, sizeof(body), "{\"id\":%lld,\"player\":\"rob\"}", w);
    call_arena(rob, ARENA_ENTER, body, "(e) rob enters kept",
               "{'id':%lld,'name':'%s','owner':'rita','size':2,'gameTime':60000,"
               "'state':'waiting','round':1,'members':['rita','rob']}");
    expect_push(rita, ARENA_PUSH_MEMBERS, WAIT_MS, "(e) rita is told rob entered",
                "{'id':%lld,'name':'kept','owner':'rita','size':2,'gameTime':60000,"
                "'state':'waiting','round':1,'members':['rita','rob']}",
                w);
    call_ok(rita, ARENA_START, "{}", "(e) rita starts kept");
    expect_push(rita, ARENA_PUSH_START, WAIT_MS, "(e) rita gets arenaStart",
                "{'id':%lld,'round':1,'gameTime':60000,'members':['rita','rob']}", w);
    expect_push(rob, ARENA_PUSH_START, WAIT_MS, "(e) rob gets arenaStart",
                "{'id':%lld,'round':1,'gameTime':60000,'members':['rita','rob']}", w);
    call_ok(rita, ARENA_RESULT, "{\"score\":11}", "(e) rita sends a result before the reload");
    return w;
}

/* GET /reload, and waits until the arena node has loaded the app again. */
static void
reload_app(th_cluster_t *c)
{
    loads_arg_t la = {c, loads_logged(c) + 1};
    int status = 0, rc;
    char *body = NULL;

    TH_EQ_INT(la.want, 2, "(e) the node loaded the app once before the reload");
    rc = th_http_get(c, "/reload", &status, &body);
    TH_EQ_INT(rc == 0 ? status : rc, 200, "(e) GET /reload answers 200 (%s)", body ? body : "");
    ff_free(body);
    TH_EQ_INT(th_wait(loads_cb, &la, 10000), 0, "(e) the node loaded a fresh copy of the app");
}

/* After the reload: kept is still there, rita's result counts, and another round plays. */
static void
reload_after(ffc_t *rita, ffc_t *rob, long long w)
{
    ffc_t *both[2] = {rita, rob};
    json_t *j = call_json(rob, ARENA_LIST, "{}");

    expect_json(j, "(e) list still shows kept, playing, after the reload",
                "{'arenas':[{'id':%lld,'name':'kept','owner':'rita','size':2,'gameTime':60000,"
                "'state':'playing','round':1,'members':2}],'total':1}",
                w);
    json_decref(j);
    call_ok(rob, ARENA_RESULT, "{\"score\":22}", "(e) rob sends a result after the reload");
    for (int i = 0; i < 2; i++)
        expect_push(both[i], ARENA_PUSH_ENDED, WAIT_MS,
                    "(e) arenaEnded with rita's result from before the reload and rob's",
                    "{'id':%lld,'round':1,'complete':true,'results':[{'player':'rita',"
                    "'score':11},{'player':'rob','score':22}]}",
                    w);
    call_ok(rita, ARENA_START, "{}", "(e) rita starts round 2");
    for (int i = 0; i < 2; i++)
        expect_push(both[i], ARENA_PUSH_START, WAIT_MS, "(e) round 2 starts",
                    "{'id':%lld,'round':2,'gameTime':60000,'members':['rita','rob']}", w);
    call_ok(rita, ARENA_RESULT, "{\"score\":1}", "(e) rita sends a result in round 2");
    call_ok(rob, ARENA_RESULT, "{\"score\":2}", "(e) rob sends a result in round 2");
    for (int i = 0; i < 2; i++)
        expect_push(both[i], ARENA_PUSH_ENDED, WAIT_MS, "(e) round 2 ends complete",
                    "{'id':%lld,'round':2,'complete':true,'results':[{'player':'rita',"
                    "'score':1},{'player':'rob','score':2}]}",
                    w);
    call_ok(rob, ARENA_LEAVE, "{}", "(e) rob leaves");
    expect_push(rita, ARENA_PUSH_MEMBERS, WAIT_MS, "(e) rita is told rob left",
                "{'id':%lld,'name':'kept','owner':'rita','size':2,'gameTime':60000,"
                "'state':'waiting','round':3,'members':['rita']}",
                w);
    call_ok(rita, ARENA_LEAVE, "{}", "(e) rita leaves");
    expect_list(rita, "{}", "(e) kept is gone", "ids= members= total=0");
}

static void
test_reload(th_cluster_t *c)
{
    ffc_t *rita = th_connect(c), *rob = rita != NULL ? th_connect(c) : NULL;
    long long w;

    if (rob != NULL) {
        w = reload_before(rita, rob);
        reload_app(c);
        reload_after(rita, rob, w);
    }
    ffc_close(rita);
    ffc_close(rob);
}

int
main(void)
{
    th_cluster_t *c = th_cluster_start(config);
    ffc_t *a;

    if (c == NULL)
        return th_done();
    if ((a = th_connect(c)) != NULL)
        test_refusals(a);
    ffc_close(a);
    test_play(c);
    test_gone(c);
    test_reload(c);
    th_cluster_stop(c);
    th_cluster_free(c);
    return th_done();
}
