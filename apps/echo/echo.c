/* echo: Firefly's scaffold app. Command 1 answers its body back, byte for byte. */
#include "echo_proto.h"
#include "firefly/app.h"

static void
on_echo(ff_req_t *req)
{
    size_t len;
    const uint8_t *body = ff_req_body(req, &len);

    ff_reply_raw(req, body, len);
}

static int
echo_init(ff_app_t *app)
{
    return ff_app_handle(app, ECHO_CMD, on_echo);
}

FF_APP_MODULE(echo_init, NULL);
