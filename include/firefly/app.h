/* firefly/app.h: the API a game app (.so) is written against (DESIGN §7).
 *
 * An app exports one module descriptor with FF_APP_MODULE(init, fini). The hosting node
 * (gate or game) checks its ABI version, calls init() once, and then calls the handlers the
 * app registered for each command id. Every call happens on the node's event loop thread.
 * All structs are opaque so that an app built once keeps working across framework changes;
 * state that must survive /reload lives in the framework (sessions, channels), never in
 * the library's globals, because /reload loads a fresh copy of the library.
 *
 * Mistakes do not crash the node: a call given NULL where it takes a pointer, or a request
 * that is no longer in flight (completed already), does nothing but log one WARN naming the
 * call (and the command), and returns -1 (or NULL, or 0 for a count). See docs/apps.md. */
#ifndef FIREFLY_APP_H
#define FIREFLY_APP_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define FF_APP_ABI 1

typedef struct ff_app_s ff_app_t;
typedef struct ff_req_s ff_req_t;
typedef uint64_t ff_conn_t;

/* Error codes the framework itself puts in error replies; apps may use any other. */
enum {
    FF_ERR_BAD_REQUEST = 400, /* the app refused the body */
    FF_ERR_NO_HANDLER = 404,  /* no node registered the command */
    FF_ERR_APP = 500,         /* the handler failed */
    FF_ERR_UNAVAILABLE = 503, /* the node handling it died or is stopping */
    FF_ERR_TIMEOUT = 504,     /* no reply within cluster.requestTimeout */
};

/* Command ids from here up belong to the framework (answered by net itself, DESIGN §10);
 * ff_app_handle refuses them. */
#define FF_APP_CMD_RESERVED 0xFFFF0000u

/* Levels of ff_app_log. */
enum { FF_APP_LOG_DEBUG, FF_APP_LOG_INFO, FF_APP_LOG_WARN, FF_APP_LOG_ERROR };

typedef void (*ff_handler_fn)(ff_req_t *req);
typedef void (*ff_conn_lost_fn)(ff_conn_t conn);
typedef void (*ff_timer_fn)(void *arg);

typedef struct {
    int abi;                     /* FF_APP_ABI */
    int (*init)(ff_app_t *app);  /* register handlers; non-zero = refuse to load */
    void (*fini)(ff_app_t *app); /* may be NULL; called before the library is unloaded */
} ff_app_module_t;

#define FF_APP_MODULE(init_fn, fini_fn)                                                            \
    const ff_app_module_t ff_app_module = {FF_APP_ABI, (init_fn), (fini_fn)}

/* Registers `fn` for command `cmd`. Returns 0, or -1 when refused: cmd already has a
 * handler, cmd is reserved (>= FF_APP_CMD_RESERVED), or fn is NULL. A refusal during init
 * makes the load fail with that reason in the node's log, whatever init returns. */
int ff_app_handle(ff_app_t *app, uint32_t cmd, ff_handler_fn fn);
/* Registers the hook called when a client connection is gone (disconnect or idle). */
void ff_app_on_conn_lost(ff_app_t *app, ff_conn_lost_fn fn);
/* The name of the node hosting the app ("game1"). */
const char *ff_node_name(void);
/* Writes one line to the node's log, `... game1[4242] W app: text`, when level
 * (FF_APP_LOG_*) is at or above cluster.logLevel. */
void ff_app_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The request's command id. */
uint32_t ff_req_cmd(const ff_req_t *req);
/* The client connection (Firefly's dynamicId) the request came from. */
ff_conn_t ff_req_conn(const ff_req_t *req);
/* The request body, NUL-terminated, and its length in *len; valid until the request is
 * completed. NULL when len is NULL or the request is completed. */
const uint8_t *ff_req_body(const ff_req_t *req, size_t *len);
/* The body parsed as a JSON object or array, or NULL when it is not JSON. Borrowed. */
json_t *ff_req_json(ff_req_t *req);

/* Each request is completed exactly once by one of the ff_reply_* calls, now or later
 * (keep the pointer until then). Each returns 0, or -1 when refused: req is not a request
 * in flight (NULL, or completed already: nothing happens), or an argument is NULL (the
 * request is then completed with error 500, so that the client is not left waiting). */
/* Replies with `body` encoded as compact JSON; steals the reference (on every path). */
int ff_reply_json(ff_req_t *req, json_t *body);
/* Replies with raw bytes (copied); body may be NULL only with len 0. */
int ff_reply_raw(ff_req_t *req, const void *body, size_t len);
/* Completes without a reply to the client (Firefly's falsy result). */
int ff_reply_none(ff_req_t *req);
/* Replies {"error":{"code":code,"message":message}}. */
int ff_reply_error(ff_req_t *req, int code, const char *message);

/* Pushes `body` with topic id `cmd` to the given connections (copied). Returns 0, or -1 when
 * conns (with n > 0) or body (with len > 0) is NULL. */
int ff_push(const ff_conn_t *conns, size_t n, uint32_t cmd, const void *body, size_t len);
/* ff_push of a JSON value; steals the reference. */
int ff_push_json(const ff_conn_t *conns, size_t n, uint32_t cmd, json_t *body);

/* Binds the connection's session to this node: gate sends its later requests for commands
 * this node handles here, until unbound or the node dies. */
void ff_session_bind(ff_conn_t conn);
/* Binds the connection's session to the least-loaded node (fewest bound sessions) of the
 * group that handles command cmd, e.g. from gate's login app once a player picked a
 * character. Returns that node's name, or NULL when no node handles cmd. On a game node
 * it binds to that node. */
const char *ff_session_bind_group(ff_conn_t conn, uint32_t cmd);
/* Undoes ff_session_bind. */
void ff_session_unbind(ff_conn_t conn);
/* Stores a string value in the connection's session on this node (NULL value = remove).
 * Returns 0, or -1 when key is NULL. */
int ff_session_set(ff_conn_t conn, const char *key, const char *value);
/* The value stored under key, or NULL. Valid until the next set of the same key. */
const char *ff_session_get(ff_conn_t conn, const char *key);

/* A JSON object kept by the node under `name` (created empty on first use) that outlives
 * /reload: an app keeps structured state there, rather than in its library's globals, so that
 * the freshly loaded library carries on where the old one stopped. Borrowed; the app changes
 * it in place. Lasts until the node exits. NULL when name is NULL. */
json_t *ff_app_state(const char *name);

/* Channels: named groups of connections kept by the node; members leave automatically when
 * their connection is lost. The calls returning int return 0, or -1 when name (or body with
 * len > 0) is NULL. */
/* Adds conn to the channel (created on first join). */
int ff_channel_join(const char *name, ff_conn_t conn);
/* Removes conn from the channel; a channel left empty is deleted. */
int ff_channel_leave(const char *name, ff_conn_t conn);
/* The members: fills up to max into out and returns the total count (0 when name, or out
 * with max > 0, is NULL). */
size_t ff_channel_members(const char *name, ff_conn_t *out, size_t max);
/* Pushes to every member except `except` (0 = nobody excepted). */
int ff_channel_push(const char *name, ff_conn_t except, uint32_t cmd, const void *body, size_t len);

/* Store (DESIGN §6): rows of the tables dbfront serves, asynchronous. Every call runs its
 * callback exactly once, later on the loop (never from inside the call), with status 0 and
 * a result, or an error code (400 a row or field that does not fit the table, 404 no such
 * row, 503 dbfront or the database unavailable, 504 no answer in time) and a result
 * {"error":{"code","message"}}. The result is borrowed for the call. The library stays
 * loaded until every callback has run. The node needs a remoteport entry for dbfront; a call
 * made while the link to dbfront is down (the node just started, dbfront is restarting) waits
 * for it up to cluster.requestTimeout before failing with 503. */
/* The status of a call on a row that does not exist. */
enum { FF_STORE_NOT_FOUND = 404 };
typedef void (*ff_store_fn)(void *arg, int status, json_t *result);
/* The row with primary key pk: memcached first, dbfront on a miss. */
void ff_store_get(const char *table, int64_t pk, ff_store_fn fn, void *arg);
/* Every row whose fk column (the table's "fk" in config) equals value: a JSON array. Steals
 * value. */
void ff_store_get_by(const char *table, json_t *value, ff_store_fn fn, void *arg);
/* Inserts a row (steals it); the result is the row as stored, with the pk dbfront allocated
 * on an "incr" table. Acknowledged only once it is in dbfront's log on disk. */
void ff_store_new(const char *table, json_t *row, ff_store_fn fn, void *arg);
/* Sets some fields of a row (steals fields). The result is {}. */
void ff_store_update(const char *table, int64_t pk, json_t *fields, ff_store_fn fn, void *arg);
/* Deletes a row. The result is {}. */
void ff_store_delete(const char *table, int64_t pk, ff_store_fn fn, void *arg);

/* Calls fn(arg) once after `ms` milliseconds. The library stays loaded until it has run.
 * Returns 0, or -1 when fn is NULL. */
int ff_timer_once(uint64_t ms, ff_timer_fn fn, void *arg);

#endif
