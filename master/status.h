/* status: the document behind GET /status: master's pid and uptime, then one entry per node
 * in config order, each running node's own figures (its reply to CALL "status") merged in. */
#ifndef MASTER_STATUS_H
#define MASTER_STATUS_H

#include <jansson.h>

/* Receives the finished document, which it takes over. */
typedef void (*status_done_cb)(void *arg, json_t *doc);

/* Records master's start time; call once at startup. */
void status_init(void);
/* Builds the document, asking every running node with a control link for its figures (1 s
 * timeout each; a failed call leaves that entry without them). cb runs exactly once, before
 * this returns when no node is asked. */
void status_collect(status_done_cb cb, void *arg);

#endif
