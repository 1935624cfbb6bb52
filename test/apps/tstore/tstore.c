/* tstore: the store through a game app, for the dbfront tests and the bench. Each body is a
 * JSON object naming the table in "t" (default "tb_item"):
 * 201 new {"row":{...}} → the stored row; 202 update {"pk":N,"row":{...}} → {};
 * 203 delete {"pk":N} → {}; 204 get {"pk":N} → the row; 205 get by fk {"v":value} → rows.
 * A store error comes back as the error reply {"error":{"code","message"}} of the request. */
#include <string.h>

#include "firefly/app.h"
#include "tstore_proto.h"

static void
done_cb(void *arg, int status, json_t *result)
{
    ff_req_t *req = arg;
    json_t *err = json_object_get(result, "error");

    if (status != 0)
        ff_reply_error(req, status, json_string_value(json_object_get(err, "message")));
    else
        ff_reply_json(req, json_incref(result));
}

static const char *
table_of(json_t *body)
{
    const char *t = json_string_value(json_object_get(body, "t"));
    return t ? t : "tb_item";
}

static void
on_store(ff_req_t *req)
{
    json_t *body = ff_req_json(req), *row = json_object_get(body, "row");
    json_int_t pk = json_integer_value(json_object_get(body, "pk"));
    const char *t = table_of(body);

    if (!json_is_object(body)) {
        ff_reply_error(req, FF_ERR_BAD_REQUEST, "expected a JSON object");
        return;
    }
    switch (ff_req_cmd(req)) {
    case TSTORE_NEW:
        ff_store_new(t, json_incref(row), done_cb, req);
        break;
    case TSTORE_UPD:
        ff_store_update(t, pk, json_incref(row), done_cb, req);
        break;
    case TSTORE_DEL:
        ff_store_delete(t, pk, done_cb, req);
        break;
    case TSTORE_GET:
        ff_store_get(t, pk, done_cb, req);
        break;
    default:
        ff_store_get_by(t, json_incref(json_object_get(body, "v")), done_cb, req);
    }
}

static int
tstore_init(ff_app_t *app)
{
    for (uint32_t cmd = TSTORE_NEW; cmd <= TSTORE_GETBY; cmd++)
        if (ff_app_handle(app, cmd, on_store) != 0)
            return -1;
    return 0;
}

FF_APP_MODULE(tstore_init, NULL);
