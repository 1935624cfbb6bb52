/* api: routes a web request to the supervisor or the status collector and turns their
 * outcome into an answer. GET /healthz is answered before the token is checked; every other
 * request without the token gets 401, whatever its path or method, so that a client without
 * it learns nothing. While the cluster stops, /reload answers 503 {"error":"stopping"};
 * /status keeps working and a second /stop waits for the same end as the first. */
#include "api.h"

#include <string.h>

#include "conf.h"
#include "log.h"
#include "status.h"
#include "super.h"

static const char *api_conf_path;
static ff_bearer_t api_token;

void
api_init(const char *conf_path, const ff_bearer_t *token)
{
    api_conf_path = conf_path;
    api_token = *token;
}

static json_t *
api_error(const char *what)
{
    return json_pack("{s:s}", "error", what);
}

static void
api_status_cb(void *arg, json_t *doc)
{
    web_reply(arg, 200, NULL, doc);
}

/* 200 when every write dbfront acknowledged is in MariaDB; else 503 with how many are not
 * and the log directory that keeps them (docs/dbfront.md). */
static void
api_stopped_cb(void *arg)
{
    const json_t *left = super_stop_result();

    if (left != NULL)
        web_reply(arg, 503, NULL, json_deep_copy(left));
    else
        web_reply(arg, 200, NULL, json_pack("{s:b}", "stopped", 1));
}

static void
api_reload_cb(void *arg, int status, json_t *result)
{
    if (status < 0)
        web_reply(arg, 503, NULL, api_error("stopping"));
    else
        web_reply(arg, 200, NULL, result);
}

/* Re-reads the config; a file that does not validate changes nothing. */
static void
api_reload(web_req_t *req)
{
    char err[1024];
    ff_conf_t *conf;

    if (super_stopping()) {
        web_reply(req, 503, NULL, api_error("stopping"));
        return;
    }
    conf = ff_conf_load(api_conf_path, err, sizeof(err));
    if (conf == NULL) {
        ff_log(FF_LOG_WARN, "reload refused: %s", err);
        web_reply(req, 400, NULL, api_error(err));
        return;
    }
    ff_log(FF_LOG_INFO, "reload requested on the web port");
    /* Like the rest of the master section: the web port was opened with the old token, and
     * an operator locked out by a typo could not reload again to fix it. */
    if (!ff_bearer_same(&api_token, conf->master.webtoken))
        ff_log(FF_LOG_WARN, "reload: master.webtoken changed; the web port keeps the token "
                            "master started with until master restarts");
    if (super_reload(conf, api_reload_cb, req) < 0)
        web_reply(req, 503, NULL, api_error("stopping"));
}

void
api_route(web_req_t *req, void *arg)
{
    const char *path = web_req_path(req);

    (void)arg;
    if (web_req_method(req) == HTTP_GET && strcmp(path, "/healthz") == 0) {
        web_reply(req, 200, NULL, json_pack("{s:b}", "ok", 1));
    } else if (!web_req_authorized(req)) {
        web_deny(req);
    } else if (web_req_method(req) != HTTP_GET) {
        web_reply(req, 405, "Allow: GET\r\n", api_error("method not allowed"));
    } else if (strcmp(path, "/status") == 0) {
        status_collect(api_status_cb, req);
    } else if (strcmp(path, "/stop") == 0) {
        if (!super_stopping())
            ff_log(FF_LOG_INFO, "stop requested on the web port");
        super_stop_all(api_stopped_cb, req);
    } else if (strcmp(path, "/reload") == 0 || strcmp(path, "/reloadmodule") == 0) {
        api_reload(req);
    } else {
        web_reply(req, 404, NULL, api_error("not found"));
    }
}
