/* store: the client side of the store API of firefly/app.h (ff_store_get/get_by/new/update/
 * delete) inside a game or gate node (DESIGN §6, docs/dbfront.md).
 *
 * Reads by primary key try memcached first on a worker thread of their own (when the node
 * has "mem": true and the config has memcached urls); everything else, and every read that
 * misses, is a bus CALL to dbfront over an outbound link named by the node's remoteport:
 *   get   {"t":table,"pk":N}          -> the row object
 *   getby {"t":table,"v":value}       -> an array of rows
 *   new   {"t":table,"row":{...}}     -> the row as stored, with its pk
 *   upd   {"t":table,"pk":N,"row":{}} -> {}
 *   del   {"t":table,"pk":N}          -> {}
 * dbfront answers an error with status -code and {"error":{"code","message"}}. Every app
 * callback runs later on the loop, as code of the app module that made the call. */
#ifndef FF_STORE_H
#define FF_STORE_H

#include <jansson.h>

/* Starts the store for ff_self: a link to the dbfront named in its remoteport (none: every
 * store call completes with 503) and, with "mem": true and memcached urls in the config, a
 * memcached reader thread. Call once on the loop, after ff_apphost_init and before the app
 * is loaded. Returns 0, or a libuv error when the reader thread cannot be started. */
int ff_store_start(void);
/* Frees the link (its calls in flight complete with 503 now), runs the completions already
 * due, and closes the reader thread (asynchronously; the process may exit right after).
 * Later store calls complete with 503. Call on the exit path before ff_apphost_close. */
void ff_store_stop(void);
/* Adds "store": {"dbfront": link up, "hits", "misses" (memcached reads), "calls" (CALLs
 * sent to dbfront), "errors" (completions with a non-zero status)} to out. */
void ff_store_status(json_t *out);

#endif
