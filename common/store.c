/* store: ff_store_* for apps: memcached reads on a worker thread, everything else as bus
 * CALLs to dbfront, every completion delivered later on the loop as the calling module.
 *
 * A request (req_t) holds a reference on the app module that made the call from the call
 * until its callback has run. Failures found inside an ff_store_* call (bad arguments) are
 * queued and delivered by a uv_idle handle on the next loop turn, because the contract says
 * the callback never runs from inside the call. Calls made while the link to dbfront is down
 * (the node has just started, or dbfront is restarting) are held, oldest first, until it
 * comes up, and fail with 503 only after cluster.requestTimeout. */
#include "store.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "apphost.h"
#include "bus.h"
#include "log.h"
#include "mc.h"
#include "node.h"
#include "worker.h"

typedef struct req_s {
    struct req_s *next;  /* in the deferred or the held queue */
    uint64_t held_until; /* held: uv_now() when it fails */
    ff_app_t *mod;
    ff_store_fn fn;
    void *arg;
    const char *method;
    char *args; /* the CALL's JSON text */
    int status;
    json_t *result;
    /* memcached read (get only), filled on the reader thread */
    char key[FF_MC_KEY_MAX + 1];
    char *val;
    size_t len;
    int mc_rc;
} req_t;

static ff_link_t *dbf;       /* to dbfront; NULL when none is configured or after stop */
static bool configured;      /* ff_self names a dbfront */
static ff_worker_t *reader;  /* memcached reads; NULL without memcached */
static bool mc_down;         /* the last read could not reach memcached (logged once) */
static uv_idle_t defer_idle; /* delivers the deferred queue */
static bool defer_ready;
static req_t *defer_head, **defer_tail = &defer_head;
static uv_timer_t held_timer; /* fails the oldest held call at its deadline */
static req_t *held_head, **held_tail = &held_head;
static uint64_t hits, misses, calls, errors;

/* ---- completion ---------------------------------------------------------------------- */

/* {"error":{"code":code,"message":msg}}; a message that is not UTF-8 (an app's bad table
 * name quoted in it) is replaced rather than leaving the app without a result. */
static json_t *
error_json(int code, const char *msg)
{
    json_t *j = json_pack("{s:{s:i,s:s}}", "error", "code", code, "message", msg);

    if (j == NULL)
        j = json_pack("{s:{s:i,s:s}}", "error", "code", code, "message", "invalid argument");
    return j;
}

static req_t *
req_new(ff_store_fn fn, void *arg, const char *method)
{
    req_t *r = ff_calloc(1, sizeof(*r));

    r->mod = ff_apphost_retain();
    r->fn = fn;
    r->arg = arg;
    r->method = method;
    return r;
}

static void
run_cb(void *p)
{
    req_t *r = p;

    if (r->fn != NULL)
        r->fn(r->arg, r->status, r->result);
}

/* Runs the app's callback now (the caller is a loop callback, never an ff_store_* call),
 * then frees the request; steals result. */
static void
req_complete(req_t *r, int status, json_t *result)
{
    r->status = status;
    r->result = result;
    if (status != 0)
        errors++;
    ff_apphost_call(r->mod, run_cb, r);
    json_decref(r->result);
    ff_apphost_release(r->mod);
    ff_free(r->args);
    ff_free(r);
}

static void
defer_cb(uv_idle_t *h)
{
    req_t *r = defer_head, *next;

    /* Requests the callbacks queue meanwhile wait for the next turn. */
    defer_head = NULL;
    defer_tail = &defer_head;
    for (; r != NULL; r = next) {
        next = r->next;
        req_complete(r, r->status, r->result);
    }
    if (defer_head == NULL)
        uv_idle_stop(h);
}

static void
defer_init(void)
{
    if (!defer_ready) {
        uv_idle_init(ff_loop, &defer_idle);
        uv_timer_init(ff_loop, &held_timer);
        defer_ready = true;
    }
}

/* Completes r with {"error":{code, message}} on the next loop turn. */
static void req_fail_later(req_t *r, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
req_fail_later(req_t *r, int code, const char *fmt, ...)
{
    char msg[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    r->status = code;
    r->result = error_json(code, msg);
    r->next = NULL;
    *defer_tail = r;
    defer_tail = &r->next;
    defer_init();
    uv_idle_start(&defer_idle, defer_cb);
}

/* ---- calls to dbfront ---------------------------------------------------------------- */

/* Why a call failed on this side of the link, for "dbfront unavailable: <reason>". */
static const char *
local_reason(int status)
{
    switch (status) {
    case UV_ECONNRESET:
        return "connection reset";
    case UV_ECANCELED:
        return "node stopping";
    case UV_ENOTCONN:
        return "not connected";
    default:
        return uv_strerror(status);
    }
}

/* dbfront's error result, or one made up when it sent none that fits. Steals nothing. */
static json_t *
peer_error(int code, const char *text, size_t len)
{
    json_t *j = text ? json_loadb(text, len, 0, NULL) : NULL;
    json_t *e = json_object_get(j, "error");

    if (json_is_object(e) && json_is_string(json_object_get(e, "message"))) {
        json_object_set_new(e, "code", json_integer(code));
        return j;
    }
    json_decref(j);
    return error_json(code, "dbfront failed");
}

static void
call_cb(void *arg, int status, const char *text, size_t len)
{
    req_t *r = arg;
    char msg[128];
    json_t *j;

    if (status == 0) {
        j = json_loadb(text, len, 0, NULL);
        if (j != NULL)
            req_complete(r, 0, j);
        else
            req_complete(r, FF_ERR_UNAVAILABLE,
                         error_json(FF_ERR_UNAVAILABLE, "dbfront unavailable: malformed reply"));
    } else if (status <= -400 && status > -600) {
        req_complete(r, -status, peer_error(-status, text, len));
    } else if (status == UV_ETIMEDOUT) {
        snprintf(msg, sizeof(msg), "dbfront did not answer within %d ms",
                 ff_conf->cluster.request_timeout_ms);
        req_complete(r, FF_ERR_TIMEOUT, error_json(FF_ERR_TIMEOUT, msg));
    } else {
        snprintf(msg, sizeof(msg), "dbfront unavailable: %s", local_reason(status));
        req_complete(r, FF_ERR_UNAVAILABLE, error_json(FF_ERR_UNAVAILABLE, msg));
    }
}

/* ---- calls held while the link is down ------------------------------------------------ */

static void held_timer_cb(uv_timer_t *t);

static void
held_arm(void)
{
    uint64_t now = uv_now(ff_loop);

    if (held_head == NULL)
        uv_timer_stop(&held_timer);
    else
        uv_timer_start(&held_timer, held_timer_cb,
                       held_head->held_until > now ? held_head->held_until - now : 0, 0);
}

/* Queues r until the link comes up. Deadlines grow along the queue (one timeout for all). */
static void
held_push(req_t *r)
{
    r->held_until = uv_now(ff_loop) + (uint64_t)ff_conf->cluster.request_timeout_ms;
    r->next = NULL;
    *held_tail = r;
    held_tail = &r->next;
    if (held_head == r)
        held_arm();
}

/* Takes the whole held queue, oldest first. */
static req_t *
held_take(void)
{
    req_t *r = held_head;

    held_head = NULL;
    held_tail = &held_head;
    if (defer_ready)
        uv_timer_stop(&held_timer);
    return r;
}

static void
held_timer_cb(uv_timer_t *t)
{
    uint64_t now = uv_now(ff_loop);
    char msg[96];

    (void)t;
    snprintf(msg, sizeof(msg), "dbfront unavailable: not connected within %d ms",
             ff_conf->cluster.request_timeout_ms);
    while (held_head != NULL && held_head->held_until <= now) {
        req_t *r = held_head;
        if ((held_head = r->next) == NULL)
            held_tail = &held_head;
        req_complete(r, FF_ERR_UNAVAILABLE, error_json(FF_ERR_UNAVAILABLE, msg));
    }
    held_arm();
}

/* Sends r's CALL, or holds it while the link is down; its callback runs later in every
 * case. */
static void
req_send(req_t *r)
{
    int rc;

    if (dbf == NULL) {
        /* A configured node has no link only once the store has stopped. */
        if (configured)
            req_fail_later(r, FF_ERR_UNAVAILABLE, "dbfront unavailable: node stopping");
        else
            req_fail_later(r, FF_ERR_UNAVAILABLE, "no dbfront configured for %s", ff_self->name);
        return;
    }
    rc = ff_link_call(dbf, r->method, r->args, ff_conf->cluster.request_timeout_ms, call_cb, r);
    if (rc == UV_ENOTCONN) {
        held_push(r);
        return;
    }
    if (rc < 0) {
        req_fail_later(r, FF_ERR_UNAVAILABLE, "dbfront unavailable: %s", local_reason(rc));
        return;
    }
    calls++;
}

static void
link_msg_cb(ff_link_t *l, const ff_bus_msg_t *m)
{
    /* REPLYs are taken by the bus; dbfront sends nothing else a client needs. */
    (void)l;
    (void)m;
}

static void
link_up_cb(ff_link_t *l)
{
    req_t *r, *next;

    ff_log(FF_LOG_INFO, "store: connected to dbfront");
    ff_bus_put_hello(ff_link_out(l), ff_self->name, ff_conf_role_name(ff_self->role), (int)getpid(),
                     NULL, 0, NULL);
    for (r = held_take(); r != NULL; r = next) {
        next = r->next;
        req_send(r);
    }
}

static void
link_down_cb(ff_link_t *l, int status)
{
    (void)l;
    ff_log(FF_LOG_WARN, "store: lost the link to dbfront: %s; reconnecting", uv_strerror(status));
}

static const ff_link_cbs_t link_cbs = {link_msg_cb, link_up_cb, link_down_cb};

/* ---- arguments ----------------------------------------------------------------------- */

static const ff_conf_table_t *
table_find(const char *name)
{
    for (int i = 0; i < ff_conf->ntables; i++)
        if (strcmp(ff_conf->tables[i].name, name) == 0)
            return &ff_conf->tables[i];
    return NULL;
}

/* Checks the table (and that it has an fk column when need_fk); on failure queues a 400 for
 * r and returns false. */
static bool
check_table(req_t *r, const char *table, bool need_fk)
{
    const ff_conf_table_t *t;

    if (table == NULL) {
        req_fail_later(r, FF_ERR_BAD_REQUEST, "%s: no table given", r->method);
        return false;
    }
    t = table_find(table);
    if (t == NULL) {
        req_fail_later(r, FF_ERR_BAD_REQUEST, "%s: unknown table \"%.64s\"", r->method, table);
        return false;
    }
    if (need_fk && t->fk == NULL) {
        req_fail_later(r, FF_ERR_BAD_REQUEST, "%s: table %s has no fk column", r->method, table);
        return false;
    }
    return true;
}

/* Sets r->args to {"t":table[,"pk":pk][,name:val]}; steals val (NULL = none). Returns
 * false, with a 400 queued for r, when the JSON cannot be encoded. */
static bool
set_args(req_t *r, const char *table, const int64_t *pk, const char *name, json_t *val)
{
    json_t *a = json_object();

    json_object_set_new(a, "t", json_string(table));
    if (pk != NULL)
        json_object_set_new(a, "pk", json_integer((json_int_t)*pk));
    if (name != NULL)
        json_object_set_new(a, name, val);
    r->args = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    if (r->args == NULL) {
        req_fail_later(r, FF_ERR_BAD_REQUEST, "%s: arguments cannot be encoded as JSON", r->method);
        return false;
    }
    return true;
}

/* ---- memcached reads ----------------------------------------------------------------- */

static void
mc_work(void *state, void *job)
{
    req_t *r = job;
    r->mc_rc = ff_mc_get(state, r->key, &r->val, &r->len);
}

static void
mc_note(int rc)
{
    if (rc < 0 && !mc_down)
        ff_log(FF_LOG_WARN, "store: memcached unreachable; reading through dbfront");
    else if (rc >= 0 && mc_down)
        ff_log(FF_LOG_INFO, "store: memcached reachable again");
    mc_down = rc < 0;
}

/* On the loop: a hit that parses as an object completes r, anything else asks dbfront. */
static void
mc_done(void *job)
{
    req_t *r = job;
    json_t *row = NULL;

    mc_note(r->mc_rc);
    if (r->mc_rc == 0) {
        row = json_loadb(r->val, r->len, 0, NULL);
        if (!json_is_object(row)) {
            ff_log(FF_LOG_WARN, "store: %s in memcached is not a JSON object", r->key);
            json_decref(row);
            row = NULL;
        }
    }
    ff_free(r->val);
    r->val = NULL;
    if (row != NULL) {
        hits++;
        req_complete(r, 0, row);
        return;
    }
    misses++;
    req_send(r);
}

static void
mc_free_work(void *state, void *job)
{
    (void)job;
    ff_mc_free(state);
}

static int
reader_start(void)
{
    ff_mc_t *mc = ff_mc_new(ff_conf);

    if (mc == NULL) {
        ff_log(FF_LOG_WARN, "store: \"mem\" is set but the config has no memcached urls; "
                            "reading through dbfront");
        return 0;
    }
    /* Made here, used only by the reader thread from now on. */
    reader = ff_worker_new(ff_loop, "store-mc", mc);
    if (reader == NULL) {
        ff_mc_free(mc);
        return UV_EAGAIN;
    }
    return 0;
}

/* ---- the API ------------------------------------------------------------------------- */

void
ff_store_get(const char *table, int64_t pk, ff_store_fn fn, void *arg)
{
    req_t *r = req_new(fn, arg, "get");

    if (!check_table(r, table, false) || !set_args(r, table, &pk, NULL, NULL))
        return;
    /* A row without a key (impossible with a validated config) is read through dbfront. */
    if (reader != NULL && ff_mc_key(ff_conf, table, pk, r->key, sizeof(r->key)) >= 0) {
        ff_worker_submit(reader, r, mc_work, mc_done);
        return;
    }
    req_send(r);
}

void
ff_store_get_by(const char *table, json_t *value, ff_store_fn fn, void *arg)
{
    req_t *r = req_new(fn, arg, "getby");

    if (value == NULL) {
        req_fail_later(r, FF_ERR_BAD_REQUEST, "getby: no value given");
        return;
    }
    if (!check_table(r, table, true)) {
        json_decref(value);
        return;
    }
    if (set_args(r, table, NULL, "v", value))
        req_send(r);
}

void
ff_store_new(const char *table, json_t *row, ff_store_fn fn, void *arg)
{
    req_t *r = req_new(fn, arg, "new");

    if (!json_is_object(row)) {
        req_fail_later(r, FF_ERR_BAD_REQUEST, "new: the row must be a JSON object");
        json_decref(row);
        return;
    }
    if (!check_table(r, table, false)) {
        json_decref(row);
        return;
    }
    if (set_args(r, table, NULL, "row", row))
        req_send(r);
}

void
ff_store_update(const char *table, int64_t pk, json_t *fields, ff_store_fn fn, void *arg)
{
    req_t *r = req_new(fn, arg, "upd");

    if (!json_is_object(fields)) {
        req_fail_later(r, FF_ERR_BAD_REQUEST, "upd: the fields must be a JSON object");
        json_decref(fields);
        return;
    }
    if (!check_table(r, table, false)) {
        json_decref(fields);
        return;
    }
    if (set_args(r, table, &pk, "row", fields))
        req_send(r);
}

void
ff_store_delete(const char *table, int64_t pk, ff_store_fn fn, void *arg)
{
    req_t *r = req_new(fn, arg, "del");

    if (check_table(r, table, false) && set_args(r, table, &pk, NULL, NULL))
        req_send(r);
}

/* ---- lifecycle ----------------------------------------------------------------------- */

static const ff_conf_remote_t *
dbfront_remote(void)
{
    for (int i = 0; i < ff_self->nremotes; i++) {
        const ff_conf_server_t *s = ff_conf_server(ff_conf, ff_self->remotes[i].rootname);
        if (s != NULL && s->role == FF_ROLE_DBFRONT)
            return &ff_self->remotes[i];
    }
    return NULL;
}

int
ff_store_start(void)
{
    const ff_conf_remote_t *r = dbfront_remote();

    defer_init();
    if (r == NULL)
        return 0;
    configured = true;
    dbf = ff_link_connect(ff_loop, r->roothost, r->rootport, r->rootname, &link_cbs, NULL);
    return ff_self->mem ? reader_start() : 0;
}

void
ff_store_stop(void)
{
    ff_link_t *l = dbf;
    ff_worker_t *w = reader;

    dbf = NULL;
    reader = NULL;
    /* Calls in flight fail now with UV_ECANCELED; their callbacks may call again, and
     * those calls find no link. */
    ff_link_free(l);
    if (w != NULL) {
        /* Queued reads finish first (their completions find no link); then the handle goes
         * on the thread that owns it. */
        ff_worker_submit(w, NULL, mc_free_work, NULL);
        ff_worker_close(w, NULL);
    }
    for (req_t *r = held_take(), *next; r != NULL; r = next) {
        next = r->next;
        req_complete(r, FF_ERR_UNAVAILABLE,
                     error_json(FF_ERR_UNAVAILABLE, "dbfront unavailable: node stopping"));
    }
    if (defer_ready && defer_head != NULL)
        defer_cb(&defer_idle);
}

void
ff_store_status(json_t *out)
{
    json_t *s = json_object();

    json_object_set_new(s, "dbfront", json_boolean(dbf != NULL && ff_link_up(dbf)));
    json_object_set_new(s, "hits", json_integer((json_int_t)hits));
    json_object_set_new(s, "misses", json_integer((json_int_t)misses));
    json_object_set_new(s, "calls", json_integer((json_int_t)calls));
    json_object_set_new(s, "errors", json_integer((json_int_t)errors));
    json_object_set_new(out, "store", s);
}
