/* api: master's web endpoints, all GET and all JSON:
 *   /status                 200 {"master":{...},"nodes":[...]}
 *   /stop                   200 {"stopped":true} once every node has exited; master then exits
 *   /reload, /reloadmodule  200 {"reloaded":true,"started":[..],"stopped":[..]}, or
 *                           400 {"error":"<config error>"} when the file does not validate
 * Any other path: 404 {"error":"not found"}; any other method: 405 with Allow: GET. */
#ifndef MASTER_API_H
#define MASTER_API_H

#include "web.h"

/* Remembers the config path as given on the command line, which /reload re-reads (so that
 * its errors name the file the way `master -t` does). */
void api_init(const char *conf_path);
/* The web handler (a web_handler_cb; arg is unused). */
void api_route(web_req_t *req, void *arg);

#endif
