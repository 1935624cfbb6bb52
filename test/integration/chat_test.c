/* chat_test: the sample chat app (apps/chat) on a game node named `chat`, with three real
 * clients. Checks the replies of join (2001), say (2002) and leave (2003) — ok, 403 before
 * joining, 409 for a taken name — and who receives the pushes on topic 2100: everybody else
 * in the room gets "X joined", "X: text" and "X left" (also when X disconnects), and nobody
 * gets a push about their own action. Absence is asserted with short bounded waits (300 ms)
 * taken after the pushes that were due have arrived. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "chat/chat_proto.h"
#include "harness.h"

static const char config[] =
    "{\"master\":{\"rootport\":@ROOTPORT@,\"webport\":@WEBPORT@,\"log\":\"@DIR@/master.log\"},"
    " \"servers\":{"
    "  \"gate\":{\"rootport\":@GATEPORT@,\"log\":\"@DIR@/gate.log\"},"
    "  \"net\":{\"netport\":@NETPORT@,\"log\":\"@DIR@/net.log\","
    "   \"remoteport\":[{\"rootname\":\"gate\",\"rootport\":@GATEPORT@}]},"
    "  \"chat\":{\"role\":\"game\",\"app\":\"@REPO@/build/apps/libchat.so\","
    "   \"log\":\"@DIR@/chat.log\","
    "   \"remoteport\":[{\"rootname\":\"gate\",\"rootport\":@GATEPORT@}]}},"
    " \"cluster\":{\"requestTimeout\":3000}}";

#define WAIT_MS 5000
#define ABSENT_MS 300

/* Sends cmd with a JSON body and checks for {"result":true}. */
static void
call_ok(ffc_t *cl, uint32_t cmd, const char *body, const char *what)
{
    ffc_msg_t m = {0};
    json_t *j;

    TH_EQ_INT(ffc_call(cl, cmd, body, body ? strlen(body) : 0, &m, WAIT_MS), 0,
              "%s: a reply arrives", what);
    TH_EQ_INT(m.cmd, cmd, "%s: the reply carries command %u", what, cmd);
    j = json_loadb((const char *)m.body, m.len, 0, NULL);
    th_ok(json_is_true(json_object_get(j, "result")), "%s: {\"result\":true} (got %s)", what,
          m.body != NULL ? (const char *)m.body : "nothing");
    json_decref(j);
    ffc_msg_free(&m);
}

/* Sends cmd and checks for an error reply with `code`. */
static void
call_err(ffc_t *cl, uint32_t cmd, const char *body, int code, const char *what)
{
    ffc_msg_t m = {0};

    TH_EQ_INT(ffc_call(cl, cmd, body, body ? strlen(body) : 0, &m, WAIT_MS), 0,
              "%s: a reply arrives", what);
    TH_EQ_INT(m.cmd, cmd, "%s: the reply carries command %u", what, cmd);
    TH_EQ_INT(th_error_code(m.body, m.len), code, "%s: error %d (got %s)", what, code,
              m.body != NULL ? (const char *)m.body : "nothing");
    ffc_msg_free(&m);
}

/* Waits for the next push on topic 2100 and checks its event, name and text. */
static void
expect_push(ffc_t *cl, const char *who, const char *event, const char *name, const char *text)
{
    ffc_msg_t m = {0};
    json_t *j;

    if (!TH_EQ_INT(ffc_next_push(cl, CHAT_EVENT, &m, WAIT_MS), 0, "%s gets a push \"%s\"", who,
                   text))
        return;
    j = json_loadb((const char *)m.body, m.len, 0, NULL);
    TH_EQ_STR(json_string_value(json_object_get(j, "text")), text, "%s: push text", who);
    TH_EQ_STR(json_string_value(json_object_get(j, "event")), event, "%s: push event", who);
    TH_EQ_STR(json_string_value(json_object_get(j, "name")), name, "%s: push name", who);
    json_decref(j);
    ffc_msg_free(&m);
}

/* Asserts that no push on topic 2100 arrives within ABSENT_MS. */
static void
expect_no_push(ffc_t *cl, const char *who, const char *after)
{
    ffc_msg_t m = {0};
    int rc = ffc_next_push(cl, CHAT_EVENT, &m, ABSENT_MS);

    TH_EQ_INT(rc, -ETIMEDOUT, "%s gets no push after %s (got %s)", who, after,
              m.body != NULL ? (const char *)m.body : ffc_strerror(rc));
    ffc_msg_free(&m);
}

static void
chat(ffc_t *a, ffc_t *b, ffc_t *cc)
{
    call_err(a, CHAT_SAY, "{\"text\":\"too early\"}", 403, "A says before joining");
    call_ok(a, CHAT_JOIN, "{\"name\":\"alice\"}", "A joins as alice");
    call_err(b, CHAT_JOIN, "{\"name\":\"alice\"}", 409, "B tries the taken name alice");
    call_ok(b, CHAT_JOIN, "{\"name\":\"bob\"}", "B joins as bob");
    expect_push(a, "A", "joined", "bob", "bob joined");
    expect_no_push(b, "B", "its own join");

    call_ok(cc, CHAT_JOIN, "{\"name\":\"carol\"}", "C joins as carol");
    expect_push(a, "A", "joined", "carol", "carol joined");
    expect_push(b, "B", "joined", "carol", "carol joined");
    expect_no_push(cc, "C", "its own join");

    call_ok(a, CHAT_SAY, "{\"text\":\"hi\"}", "A says hi");
    expect_push(b, "B", "message", "alice", "alice: hi");
    expect_push(cc, "C", "message", "alice", "alice: hi");
    expect_no_push(a, "A", "its own message");

    call_ok(b, CHAT_LEAVE, NULL, "B leaves");
    expect_push(a, "A", "left", "bob", "bob left");
    expect_push(cc, "C", "left", "bob", "bob left");
    expect_no_push(b, "B", "its own leave");
    call_err(b, CHAT_SAY, "{\"text\":\"anyone?\"}", 403, "B says after leaving");
    call_err(b, CHAT_LEAVE, NULL, 403, "B leaves twice");

    ffc_close(cc);
    expect_push(a, "A", "left", "carol", "carol left");
    expect_no_push(b, "B (out of the room)", "carol's disconnect");

    /* carol's name was freed by the disconnect, so B can take it. */
    call_ok(b, CHAT_JOIN, "{\"name\":\"carol\"}", "B joins as carol after carol disconnected");
    expect_push(a, "A", "joined", "carol", "carol joined");
    call_ok(a, CHAT_LEAVE, NULL, "A leaves");
    expect_push(b, "B", "left", "alice", "alice left");
}

int
main(void)
{
    th_cluster_t *c = th_cluster_start(config);
    ffc_t *a, *b, *cc;

    if (c == NULL)
        return th_done();
    a = th_connect(c);
    b = th_connect(c);
    cc = th_connect(c);
    if (a != NULL && b != NULL && cc != NULL)
        chat(a, b, cc);
    else
        ffc_close(cc);
    ffc_close(a);
    ffc_close(b);
    th_cluster_stop(c);
    th_cluster_free(c);
    return th_done();
}
