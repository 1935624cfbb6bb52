/* tbad: an app that makes the mistakes of a newcomer to firefly/app.h, one command per
 * mistake, for appmistakes_test. None of them may take the node down, except the one that
 * crashes it on purpose (a NULL dereference). Its init misbehaves on the nodes named
 * "badreserved" (registers a framework command id) and "badnull" (a NULL handler). The ids
 * stay clear of tapp's, but for 7.
 *
 *   600 answers {"node","pid"}           601 replies twice (ff_reply_json, ff_reply_error)
 *   602 ff_reply_raw(req, NULL, 5)       603 ff_reply_error(req, 418, NULL)
 *   604 ff_push(NULL, 3, ...)            605 ff_channel_* with a NULL name
 *   606 ff_reply_json(req, NULL)         607 replies, then again from a timer
 *   608 logs with ff_app_log             609 prints to stderr and stdout
 *   610 ff_timer_once(10, NULL, NULL)
 *   611 ff_req_body(req, NULL), ff_session_set and ff_app_state with NULL
 *   666 dereferences NULL                7 answers like 600, and is tapp's too: two apps
 *                                          registering one command
 * The commands that survive their mistake and can still answer reply with what the calls
 * returned, e.g. {"rc":-1}. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "firefly/app.h"

static void
on_whoami(ff_req_t *req)
{
    ff_reply_json(req, json_pack("{s:s,s:i}", "node", ff_node_name(), "pid", (int)getpid()));
}

static void
on_twice(ff_req_t *req)
{
    ff_reply_json(req, json_pack("{s:b}", "first", 1));
    ff_reply_error(req, 400, "second");
}

static void
on_raw_null(ff_req_t *req)
{
    ff_reply_raw(req, NULL, 5);
}

static void
on_error_null(ff_req_t *req)
{
    ff_reply_error(req, 418, NULL);
}

static void
on_push_null(ff_req_t *req)
{
    int rc = ff_push(NULL, 3, 500, "x", 1);
    ff_reply_json(req, json_pack("{s:i}", "rc", rc));
}

static void
on_channel_null(ff_req_t *req)
{
    int join = ff_channel_join(NULL, ff_req_conn(req));
    int push = ff_channel_push(NULL, 0, 500, "x", 1);
    size_t members = ff_channel_members(NULL, NULL, 0);
    int leave = ff_channel_leave(NULL, ff_req_conn(req));

    ff_reply_json(req, json_pack("{s:i,s:i,s:i,s:i}", "join", join, "push", push, "leave", leave,
                                 "members", (int)members));
}

static void
on_json_null(ff_req_t *req)
{
    ff_reply_json(req, NULL);
}

static void
again_cb(void *arg)
{
    ff_reply_none(arg);
}

static void
on_later_twice(ff_req_t *req)
{
    ff_reply_json(req, json_pack("{s:b}", "first", 1));
    ff_timer_once(20, again_cb, req);
}

static void
on_log(ff_req_t *req)
{
    ff_app_log(FF_APP_LOG_WARN, "tbad says hello from command %u", ff_req_cmd(req));
    ff_app_log(FF_APP_LOG_DEBUG, "tbad debug line, below the log level");
    ff_reply_json(req, json_pack("{s:b}", "logged", 1));
}

static void
on_print(ff_req_t *req)
{
    fprintf(stderr, "tbad wrote this to stderr\n");
    printf("tbad wrote this to stdout\n");
    ff_reply_json(req, json_pack("{s:b}", "printed", 1));
}

static void
on_timer_null(ff_req_t *req)
{
    int rc = ff_timer_once(10, NULL, NULL);
    ff_reply_json(req, json_pack("{s:i}", "rc", rc));
}

static void
on_more_nulls(ff_req_t *req)
{
    const uint8_t *body = ff_req_body(req, NULL);
    int set = ff_session_set(ff_req_conn(req), NULL, "v");
    json_t *state = ff_app_state(NULL);

    ff_reply_json(
        req, json_pack("{s:b,s:i,s:b}", "body", body != NULL, "set", set, "state", state != NULL));
}

/* Not instrumented: under `make asan`, UBSan would report the store and exit, where the
 * test wants the real SIGSEGV a production build gets. */
static void on_crash(ff_req_t *req) __attribute__((no_sanitize("address", "undefined")));

static void
on_crash(ff_req_t *req)
{
    volatile int *p = NULL;

    (void)req;
    *p = 42;
}

static int
init(ff_app_t *app)
{
    static const struct {
        uint32_t cmd;
        ff_handler_fn fn;
    } cmds[] = {{600, on_whoami},     {601, on_twice},       {602, on_raw_null},
                {603, on_error_null}, {604, on_push_null},   {605, on_channel_null},
                {606, on_json_null},  {607, on_later_twice}, {608, on_log},
                {609, on_print},      {610, on_timer_null},  {611, on_more_nulls},
                {666, on_crash},      {7, on_whoami}};
    const char *node = ff_node_name();

    if (strcmp(node, "badreserved") == 0)
        ff_app_handle(app, 0xFFFF0002u, on_whoami);
    if (strcmp(node, "badnull") == 0)
        ff_app_handle(app, 50, NULL);
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
        if (ff_app_handle(app, cmds[i].cmd, cmds[i].fn) != 0)
            return -1;
    return 0;
}

FF_APP_MODULE(init, NULL);
