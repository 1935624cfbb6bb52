/* tapp: the app integration tests load. 1 echo; 101 answers the login body back as is;
 * 7 whoami {"node","version"}; 8 sleeps the body's milliseconds then answers like 7;
 * 9 never answers; 10 binds the session here and answers like 7; 11 pushes its body to
 * the caller on topic 500, then answers. TAPP_VERSION tells builds apart for /reload. */
#include <stdlib.h>

#include "firefly/app.h"
#include "tapp_proto.h"

#ifndef TAPP_VERSION
#define TAPP_VERSION 1
#endif

static void
on_echo(ff_req_t *req)
{
    size_t len;
    const uint8_t *body = ff_req_body(req, &len);
    ff_reply_raw(req, body, len);
}

static json_t *
whoami(void)
{
    return json_pack("{s:s,s:i}", "node", ff_node_name(), "version", TAPP_VERSION);
}

static void
on_whoami(ff_req_t *req)
{
    ff_reply_json(req, whoami());
}

static void
slept_cb(void *arg)
{
    ff_reply_json(arg, whoami());
}

static void
on_sleep(ff_req_t *req)
{
    size_t len;
    const char *body = (const char *)ff_req_body(req, &len);
    ff_timer_once(strtoull(body, NULL, 10), slept_cb, req);
}

static void
on_silent(ff_req_t *req)
{
    (void)req;
}

static void
on_bind(ff_req_t *req)
{
    ff_session_bind(ff_req_conn(req));
    ff_reply_json(req, whoami());
}

static void
on_push_me(ff_req_t *req)
{
    size_t len;
    const uint8_t *body = ff_req_body(req, &len);
    ff_conn_t conn = ff_req_conn(req);

    ff_push(&conn, 1, TAPP_TOPIC, body, len);
    ff_reply_json(req, whoami());
}

static int
tapp_init(ff_app_t *app)
{
    return ff_app_handle(app, TAPP_ECHO, on_echo) || ff_app_handle(app, TAPP_LOGIN_ECHO, on_echo) ||
           ff_app_handle(app, TAPP_WHOAMI, on_whoami) || ff_app_handle(app, TAPP_SLEEP, on_sleep) ||
           ff_app_handle(app, TAPP_SILENT, on_silent) || ff_app_handle(app, TAPP_BIND, on_bind) ||
           ff_app_handle(app, TAPP_PUSH_ME, on_push_me);
}

FF_APP_MODULE(tapp_init, NULL);
