/* tlater: an app whose work outlives its requests, for apphost's reload test
 * (test/unit/apphost_test.c): 1 answers at once, then pushes the body to the caller on topic
 * 501 from a 10 ms timer, so that only the timer keeps the library busy. */
#include <stdlib.h>
#include <string.h>

#include "firefly/app.h"

typedef struct {
    ff_conn_t conn;
    size_t len;
    uint8_t body[];
} later_t;

static void
later_cb(void *arg)
{
    later_t *l = arg;

    ff_push(&l->conn, 1, 501, l->body, l->len);
    free(l);
}

static void
on_reply_then_push(ff_req_t *req)
{
    size_t len;
    const uint8_t *body = ff_req_body(req, &len);
    later_t *l = malloc(sizeof(*l) + len);

    l->conn = ff_req_conn(req);
    l->len = len;
    memcpy(l->body, body, len);
    ff_reply_raw(req, body, len);
    ff_timer_once(10, later_cb, l);
}

static int
tlater_init(ff_app_t *app)
{
    return ff_app_handle(app, 1, on_reply_then_push);
}

FF_APP_MODULE(tlater_init, NULL);
