/* api: master's web endpoints, all GET and all JSON:
 *   /healthz                200 {"ok":true} while master runs; needs no token
 *   /status                 200 {"master":{...},"nodes":[...]}
 *   /stop                   200 {"stopped":true} once every node has exited; master then exits
 *   /reload, /reloadmodule  200 {"reloaded":true,"started":[..],"stopped":[..]}, or
 *                           400 {"error":"<config error>"} when the file does not validate
 * Any other path: 404 {"error":"not found"}; any other method: 405 with Allow: GET. With a
 * token configured (master.webtoken), every request but GET /healthz needs
 * `Authorization: Bearer <token>`, or gets 401 {"error":"unauthorized"} (before any 404 or
 * 405). */
#ifndef MASTER_API_H
#define MASTER_API_H

#include "web.h"

/* Remembers the config path as given on the command line, which /reload re-reads (so that
 * its errors name the file the way `master -t` does), and the token the web port started
 * with (copied), against which a reloaded master.webtoken is compared: a changed token is
 * logged as a WARN and takes effect only when master restarts. */
void api_init(const char *conf_path, const ff_bearer_t *token);
/* The web handler (a web_handler_cb; arg is unused). */
void api_route(web_req_t *req, void *arg);

#endif
