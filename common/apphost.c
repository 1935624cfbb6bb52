/* apphost: app loading and hot reload, dispatch, replies, pushes, session binding, timers
 * and the app's log for the app running inside a node (the implementation of firefly/app.h;
 * sessions values, channels and ff_app_state are in appstate.c).
 *
 * An app's mistakes must not take the node down with every session on it. Every call checks
 * its pointers, and a request pointer is looked up before it is used: the node knows the
 * requests in flight and, as tombstones, the last APPHOST_GRAVES completed ones (their
 * bodies freed), so that a second completion is recognised and named rather than being a
 * double free. A pointer older than that is simply unknown; one that malloc has since handed
 * to a new request cannot be told apart, which is why the tombstones are kept. The WARN lines
 * for mistakes are rate-limited, so that a mistake on a hot path does not flood the log. */
#include "apphost.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <uv.h>

#include "alloc.h"
#include "appstate.h"
#include "bus.h"
#include "crash.h"
#include "list.h"
#include "log.h"
#include "map.h"
#include "node.h"

#define APPHOST_GRAVES 1024    /* completed requests remembered, to name a second completion */
#define APPHOST_WARNS_PER_S 20 /* WARN lines about app mistakes per second; the rest counted */

_Static_assert((int)FF_APP_LOG_DEBUG == (int)FF_LOG_DEBUG &&
                   (int)FF_APP_LOG_ERROR == (int)FF_LOG_ERROR,
               "ff_app_log levels are the log's");

struct ff_app_s {
    void *dl;
    const ff_app_module_t *desc;
    ff_map_t index; /* cmd + 1 -> handler index + 1 */
    uint32_t *cmds;
    ff_handler_fn *fns;
    size_t ncmds;
    ff_conn_lost_fn lost;
    int refs; /* in-flight requests and pending timers, plus 1 while current */
    char *path;
    char *label;   /* for the crash line: "PATH, copied to TMP" (frames name the copy) */
    bool in_init;  /* ff_app_handle's refusals fail the load */
    char err[256]; /* the first refusal during init */
};

struct ff_req_s {
    ff_list_t link; /* in `unanswered` until completed */
    ff_app_t *mod;  /* NULL once completed */
    void *origin;
    uint64_t conn;
    uint32_t rseq, cmd;
    json_t *json;
    bool json_tried;
    const char *done_by; /* the call that completed it; NULL while in flight */
    size_t len;
    uint8_t *body;
};

typedef struct {
    uv_timer_t timer;
    ff_timer_fn fn;
    void *arg;
    ff_app_t *mod;
} app_timer_t;

static const ff_apphost_ops_t *host_ops;
static char *host_name;
static ff_app_t *current;
static ff_app_t *active; /* the module whose code is running now */
static size_t inflight;
static ff_list_t unanswered = {&unanswered, &unanswered}; /* dispatched, not completed */
static uint64_t handled;
static unsigned load_gen;
static ff_map_t reqs; /* request address -> request: in flight, or among the graves */
static ff_req_t *graves[APPHOST_GRAVES];
static size_t grave_next;
static struct {
    uint64_t second;
    unsigned count, dropped;
} warns;

void
ff_apphost_init(const char *node_name, const ff_apphost_ops_t *ops)
{
    host_name = ff_strdup(node_name);
    host_ops = ops;
}

const char *
ff_node_name(void)
{
    return host_name;
}

/* ---- the app's log and its mistakes ------------------------------------------------ */

void
ff_app_log(int level, const char *fmt, ...)
{
    char text[1536];
    va_list ap;

    level = level < FF_LOG_DEBUG ? FF_LOG_DEBUG : level > FF_LOG_ERROR ? FF_LOG_ERROR : level;
    if (level < ff_log_level)
        return;
    if (fmt == NULL) {
        ff__apphost_warn("ff_app_log: fmt is NULL%s; nothing logged", ff__apphost_running());
        return;
    }
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    ff_log_write(level, "app: %s", text);
}

/* " in command 42", " in an app timer", ...: what the node is running now. */
const char *
ff__apphost_running(void)
{
    static char where[64];
    ff_crash_where(where, sizeof(where));
    return where;
}

/* One WARN about an app's mistake, at most APPHOST_WARNS_PER_S a second; the first line of
 * the next second says how many were left out. */
void
ff__apphost_warn(const char *fmt, ...)
{
    uint64_t second = ff_loop != NULL ? uv_now(ff_loop) / 1000 : 0;
    char text[512];
    va_list ap;

    if (second != warns.second) {
        if (warns.dropped > 0)
            ff_log(FF_LOG_WARN, "app: %u more warnings about app mistakes left out", warns.dropped);
        warns.second = second;
        warns.count = warns.dropped = 0;
    }
    if (++warns.count > APPHOST_WARNS_PER_S) {
        warns.dropped++;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    ff_log(FF_LOG_WARN, "app: %s", text);
}

/* ---- modules ----------------------------------------------------------------------- */

static void
module_free(ff_app_t *m, bool call_fini)
{
    if (call_fini && m->desc->fini) {
        ff_app_t *saved = active;
        ff_crash_ctx_t ctx = ff_crash_enter(FF_CRASH_FINI, 0, m->label);

        active = m;
        m->desc->fini(m);
        active = saved;
        ff_crash_leave(ctx);
    }
    dlclose(m->dl);
    ff_map_clear(&m->index);
    ff_free(m->cmds);
    ff_free(m->fns);
    ff_free(m->path);
    ff_free(m->label);
    ff_free(m);
}

static void
module_release(ff_app_t *m)
{
    if (--m->refs == 0) {
        ff_log(FF_LOG_INFO, "app: unloading the previous %s", m->path);
        module_free(m, true);
    }
}

/* Copies src to a private file so that dlopen loads a fresh image even when a library of
 * the same path is already loaded. Returns 0 or -errno. */
static int
copy_file(const char *src, const char *dst)
{
    char buf[65536];
    int in = open(src, O_RDONLY | O_CLOEXEC), out, rc = 0;
    ssize_t n;

    if (in < 0)
        return -errno;
    out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0700);
    if (out < 0) {
        rc = -errno;
        close(in);
        return rc;
    }
    while ((n = read(in, buf, sizeof(buf))) > 0)
        if (write(out, buf, (size_t)n) != n) {
            rc = -EIO;
            break;
        }
    if (n < 0)
        rc = -errno;
    close(in);
    if (close(out) < 0 && rc == 0)
        rc = -errno;
    return rc;
}

/* dlerror()'s text about the private copy `tmp`, told about the user's file `path`: the copy
 * is gone by now and means nothing to the app's author. */
static void
dl_error(const char *path, const char *tmp, char *err, size_t errlen)
{
    const char *msg = dlerror(), *at;
    size_t n = strlen(tmp);

    if (msg == NULL)
        msg = "dlopen failed";
    if (strncmp(msg, tmp, n) == 0 && strncmp(msg + n, ": ", 2) == 0)
        msg += n + 2; /* "TMP: undefined symbol: x" */
    if ((at = strstr(msg, tmp)) != NULL)
        snprintf(err, errlen, "%s: %.*s%s%s", path, (int)(at - msg), msg, path, at + n);
    else
        snprintf(err, errlen, "%s: %s", path, msg);
}

/* dlopens a private copy of path, named in tmp. */
static void *
open_copy(const char *path, char *tmp, size_t tmplen, char *err, size_t errlen)
{
    const char *dir = getenv("TMPDIR");
    void *dl;
    int rc;

    snprintf(tmp, tmplen, "%s/ff-%s-%d-%u.so", dir && *dir ? dir : "/tmp", host_name, (int)getpid(),
             load_gen++);
    rc = copy_file(path, tmp);
    if (rc < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(-rc));
        unlink(tmp);
        return NULL;
    }
    dl = dlopen(tmp, RTLD_NOW | RTLD_LOCAL);
    unlink(tmp);
    if (dl == NULL)
        dl_error(path, tmp, err, errlen);
    return dl;
}

/* Why the module descriptor cannot be used, or NULL. */
static const char *
desc_refusal(const ff_app_module_t *desc, char *why, size_t len)
{
    if (desc == NULL)
        return "no ff_app_module symbol (is FF_APP_MODULE(init, fini) in one of its files?)";
    if (desc->abi != FF_APP_ABI) {
        snprintf(why, len,
                 "built for app ABI version %d, but this node runs version %d: rebuild it "
                 "against this firefly/app.h",
                 desc->abi, FF_APP_ABI);
        return why;
    }
    if (desc->init == NULL)
        return "its FF_APP_MODULE has no init function";
    return NULL;
}

/* Runs the module's init; returns 0, or -1 with the reason in err (init's non-zero status, or
 * the first registration it made that ff_app_handle refused). */
static int
module_init(ff_app_t *m, const char *path, char *err, size_t errlen)
{
    ff_app_t *saved = active;
    ff_crash_ctx_t ctx = ff_crash_enter(FF_CRASH_INIT, 0, m->label);
    int rc;

    active = m;
    m->in_init = true;
    rc = m->desc->init(m);
    m->in_init = false;
    active = saved;
    ff_crash_leave(ctx);
    if (m->err[0] != '\0')
        snprintf(err, errlen, "%s: init: %s", path, m->err);
    else if (rc != 0)
        snprintf(err, errlen, "%s: init failed (%d)", path, rc);
    return m->err[0] != '\0' || rc != 0 ? -1 : 0;
}

int
ff_apphost_load(const char *path, char *err, size_t errlen)
{
    ff_app_t *m = ff_calloc(1, sizeof(*m));
    const char *why;
    char buf[160], tmp[512];
    size_t n;

    m->dl = open_copy(path, tmp, sizeof(tmp), err, errlen);
    if (m->dl == NULL)
        goto fail;
    m->desc = dlsym(m->dl, "ff_app_module");
    if ((why = desc_refusal(m->desc, buf, sizeof(buf))) != NULL) {
        snprintf(err, errlen, "%s: %s", path, why);
        goto fail_dl;
    }
    m->path = ff_strdup(path);
    n = strlen(path) + strlen(tmp) + sizeof(", copied to ");
    m->label = ff_malloc(n);
    snprintf(m->label, n, "%s, copied to %s", path, tmp);
    m->refs = 1;
    if (module_init(m, path, err, errlen) < 0) {
        module_free(m, false);
        return -1;
    }
    if (current != NULL)
        module_release(current);
    current = m;
    ff_log(FF_LOG_INFO, "app: loaded %s (%zu commands)", path, m->ncmds);
    return 0;
fail_dl:
    dlclose(m->dl);
fail:
    ff_free(m);
    return -1;
}

/* A registration ff_app_handle refuses: during init the load fails with the first reason;
 * later (an app registering from a handler) it is a WARN. Returns -1. */
static int
handle_refused(ff_app_t *app, uint32_t cmd, const char *why)
{
    char text[200];

    snprintf(text, sizeof(text), "ff_app_handle(command %u = 0x%08x): %s", cmd, cmd, why);
    if (app != NULL && app->in_init) {
        if (app->err[0] == '\0')
            snprintf(app->err, sizeof(app->err), "%s", text);
    } else {
        ff__apphost_warn("%s%s; ignored", text, ff__apphost_running());
    }
    return -1;
}

int
ff_app_handle(ff_app_t *app, uint32_t cmd, ff_handler_fn fn)
{
    if (app == NULL)
        return handle_refused(app, cmd, "app is NULL");
    if (fn == NULL)
        return handle_refused(app, cmd, "the handler is NULL");
    if (cmd >= FF_APP_CMD_RESERVED)
        return handle_refused(app, cmd,
                              "command ids from 0xFFFF0000 up are reserved for the framework");
    if (ff_map_get(&app->index, (uint64_t)cmd + 1) != NULL)
        return handle_refused(app, cmd, "the command already has a handler");
    app->cmds = ff_realloc(app->cmds, (app->ncmds + 1) * sizeof(*app->cmds));
    app->fns = ff_realloc(app->fns, (app->ncmds + 1) * sizeof(*app->fns));
    app->cmds[app->ncmds] = cmd;
    app->fns[app->ncmds] = fn;
    app->ncmds++;
    ff_map_set(&app->index, (uint64_t)cmd + 1, (void *)(uintptr_t)app->ncmds);
    return 0;
}

void
ff_app_on_conn_lost(ff_app_t *app, ff_conn_lost_fn fn)
{
    if (app == NULL) {
        ff__apphost_warn("ff_app_on_conn_lost: app is NULL%s; ignored", ff__apphost_running());
        return;
    }
    app->lost = fn;
}

bool
ff_apphost_handles(uint32_t cmd)
{
    return current && ff_map_get(&current->index, (uint64_t)cmd + 1) != NULL;
}

const uint32_t *
ff_apphost_commands(size_t *n)
{
    *n = current ? current->ncmds : 0;
    return current ? current->cmds : NULL;
}

void
ff_apphost_close(void)
{
    if (current != NULL)
        module_release(current);
    current = NULL;
    /* Requests the app never answered can no longer be: they go, and the libraries they
     * kept loaded with them. */
    while (!ff_list_empty(&unanswered)) {
        ff_req_t *req = ff_container_of(unanswered.next, ff_req_t, link);
        ff_list_remove(&req->link);
        ff_map_del(&reqs, (uint64_t)(uintptr_t)req);
        json_decref(req->json);
        ff_free(req->body);
        inflight--;
        module_release(req->mod);
        ff_free(req);
    }
    ff__appstate_close();
    for (size_t i = 0; i < APPHOST_GRAVES; i++) {
        if (graves[i] != NULL)
            ff_map_del(&reqs, (uint64_t)(uintptr_t)graves[i]);
        ff_free(graves[i]);
        graves[i] = NULL;
    }
    if (reqs.count == 0)
        ff_map_clear(&reqs);
    ff_free(host_name);
    host_name = NULL;
}

/* ---- requests ---------------------------------------------------------------------- */

/* Runs app code of module m with `active` pointing at it (for timers it starts), telling
 * the crash handler what runs. */
#define WITH_ACTIVE(m, kind, cmd, stmt)                                                            \
    do {                                                                                           \
        ff_app_t *saved_ = active;                                                                 \
        ff_crash_ctx_t ctx_ = ff_crash_enter((kind), (cmd), (m)->label);                           \
        active = (m);                                                                              \
        stmt;                                                                                      \
        active = saved_;                                                                           \
        ff_crash_leave(ctx_);                                                                      \
    } while (0)

void
ff_apphost_dispatch(void *origin, uint64_t conn, uint32_t rseq, uint32_t cmd, const uint8_t *body,
                    size_t len)
{
    ff_req_t *req = ff_calloc(1, sizeof(*req));
    size_t i = (size_t)(uintptr_t)ff_map_get(&current->index, (uint64_t)cmd + 1) - 1;

    req->mod = current;
    req->origin = origin;
    req->conn = conn;
    req->rseq = rseq;
    req->cmd = cmd;
    req->len = len;
    req->body = ff_malloc(len + 1);
    memcpy(req->body, body, len);
    req->body[len] = '\0';
    ff_list_push(&unanswered, &req->link);
    ff_map_set(&reqs, (uint64_t)(uintptr_t)req, req);
    current->refs++;
    inflight++;
    handled++;
    WITH_ACTIVE(req->mod, FF_CRASH_COMMAND, cmd, req->mod->fns[i](req));
}

/* The request behind an app's pointer when the node knows it (in flight or completed not
 * long ago), else NULL after a WARN naming the call. Never dereferences an unknown pointer. */
static ff_req_t *
req_known(const ff_req_t *req, const char *call)
{
    ff_req_t *r;

    if (req == NULL) {
        ff__apphost_warn("%s: req is NULL%s; ignored", call, ff__apphost_running());
        return NULL;
    }
    r = ff_map_get(&reqs, (uint64_t)(uintptr_t)req);
    if (r == NULL)
        ff__apphost_warn("%s: %p is not a request of this node (completed long ago?)%s; ignored",
                         call, (const void *)req, ff__apphost_running());
    return r;
}

/* The request when it is in flight, else NULL after a WARN naming the call and command. */
static ff_req_t *
req_live(const ff_req_t *req, const char *call)
{
    ff_req_t *r = req_known(req, call);

    if (r != NULL && r->done_by != NULL) {
        ff__apphost_warn("%s: the request for command %u was already completed by %s; ignored",
                         call, r->cmd, r->done_by);
        return NULL;
    }
    return r;
}

uint32_t
ff_req_cmd(const ff_req_t *req)
{
    ff_req_t *r = req_known(req, "ff_req_cmd");
    return r ? r->cmd : 0;
}

ff_conn_t
ff_req_conn(const ff_req_t *req)
{
    ff_req_t *r = req_known(req, "ff_req_conn");
    return r ? r->conn : 0;
}

const uint8_t *
ff_req_body(const ff_req_t *req, size_t *len)
{
    ff_req_t *r = req_live(req, "ff_req_body");

    if (r != NULL && len == NULL) {
        ff__apphost_warn("ff_req_body: len is NULL (command %u); returned NULL", r->cmd);
        return NULL;
    }
    if (len != NULL)
        *len = r ? r->len : 0;
    return r ? r->body : NULL;
}

json_t *
ff_req_json(ff_req_t *req)
{
    ff_req_t *r = req_live(req, "ff_req_json");

    if (r != NULL && !r->json_tried) {
        r->json_tried = true;
        r->json = json_loadb((const char *)r->body, r->len, 0, NULL);
    }
    return r ? r->json : NULL;
}

/* Keeps a completed request as a tombstone; the oldest one goes. */
static void
grave_add(ff_req_t *req)
{
    ff_req_t *old = graves[grave_next];

    if (old != NULL) {
        ff_map_del(&reqs, (uint64_t)(uintptr_t)old);
        ff_free(old);
    }
    graves[grave_next] = req;
    grave_next = (grave_next + 1) % APPHOST_GRAVES;
}

static void
complete(ff_req_t *req, const char *call, int status, const void *body, size_t len)
{
    ff_app_t *m = req->mod;

    host_ops->respond(req->origin, req->conn, req->rseq, status, body, len);
    ff_list_remove(&req->link);
    json_decref(req->json);
    req->json = NULL;
    ff_free(req->body);
    req->body = NULL;
    req->mod = NULL;
    req->done_by = call;
    grave_add(req);
    inflight--;
    module_release(m);
}

static void
complete_error(ff_req_t *req, const char *call, int code, const char *message)
{
    json_t *j = json_pack("{s:{s:i,s:s}}", "error", "code", code, "message", message);
    char *text = json_dumps(j, JSON_COMPACT);

    complete(req, call, FF_BUS_ERROR, text, strlen(text));
    free(text);
    json_decref(j);
}

/* An argument the call cannot use: the request is answered with error 500 so that its
 * client is not left waiting for the timeout. Returns -1. */
static int
complete_refused(ff_req_t *req, const char *call, const char *why)
{
    char msg[64];

    ff__apphost_warn("%s: %s (command %u); answered with error 500", call, why, req->cmd);
    snprintf(msg, sizeof(msg), "the handler of command %u failed", req->cmd);
    complete_error(req, call, FF_ERR_APP, msg);
    return -1;
}

int
ff_reply_raw(ff_req_t *req, const void *body, size_t len)
{
    ff_req_t *r = req_live(req, "ff_reply_raw");
    char why[64];

    if (r == NULL)
        return -1;
    if (body == NULL && len > 0) {
        snprintf(why, sizeof(why), "body is NULL with len = %zu", len);
        return complete_refused(r, "ff_reply_raw", why);
    }
    complete(r, "ff_reply_raw", FF_BUS_OK, body, len);
    return 0;
}

int
ff_reply_json(ff_req_t *req, json_t *body)
{
    ff_req_t *r = req_live(req, "ff_reply_json");
    char *text = r && body ? json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    int rc = -1;

    json_decref(body);
    if (r == NULL)
        return -1;
    if (body == NULL) {
        rc = complete_refused(r, "ff_reply_json", "body is NULL (did json_pack fail?)");
    } else if (text == NULL) {
        rc = complete_refused(r, "ff_reply_json", "body cannot be encoded as JSON");
    } else {
        complete(r, "ff_reply_json", FF_BUS_OK, text, strlen(text));
        rc = 0;
    }
    free(text);
    return rc;
}

int
ff_reply_none(ff_req_t *req)
{
    ff_req_t *r = req_live(req, "ff_reply_none");

    if (r == NULL)
        return -1;
    complete(r, "ff_reply_none", FF_BUS_NOREPLY, NULL, 0);
    return 0;
}

int
ff_reply_error(ff_req_t *req, int code, const char *message)
{
    ff_req_t *r = req_live(req, "ff_reply_error");

    if (r == NULL)
        return -1;
    if (message == NULL)
        return complete_refused(r, "ff_reply_error", "message is NULL");
    complete_error(r, "ff_reply_error", code, message);
    return 0;
}

size_t
ff_apphost_inflight(void)
{
    return inflight;
}

uint64_t
ff_apphost_handled(void)
{
    return handled;
}

/* Whether the array p of `len` items can be read: p may be NULL only when len is 0. WARNs
 * naming the call and the arguments (`what`, `lenname`). */
bool
ff__apphost_bytes_ok(const char *call, const void *p, size_t len, const char *what,
                     const char *lenname)
{
    if (p != NULL || len == 0)
        return true;
    ff__apphost_warn("%s: %s is NULL with %s = %zu%s; ignored", call, what, lenname, len,
                     ff__apphost_running());
    return false;
}

bool
ff__apphost_name_ok(const char *call, const char *what, const char *name)
{
    if (name != NULL)
        return true;
    ff__apphost_warn("%s: %s is NULL%s; ignored", call, what, ff__apphost_running());
    return false;
}

int
ff_push(const ff_conn_t *conns, size_t n, uint32_t cmd, const void *body, size_t len)
{
    if (!ff__apphost_bytes_ok("ff_push", conns, n, "conns", "n") ||
        !ff__apphost_bytes_ok("ff_push", body, len, "body", "len"))
        return -1;
    if (n > 0)
        host_ops->push(conns, n, cmd, body, len);
    return 0;
}

int
ff_push_json(const ff_conn_t *conns, size_t n, uint32_t cmd, json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    int rc = -1;

    if (text == NULL)
        ff__apphost_warn("ff_push_json: body is %s (topic %u)%s; ignored",
                         body ? "not encodable as JSON" : "NULL", cmd, ff__apphost_running());
    else
        rc = ff_push(conns, n, cmd, text, strlen(text));
    free(text);
    json_decref(body);
    return rc;
}

/* ---- sessions ---------------------------------------------------------------------- */

void
ff_session_bind(ff_conn_t conn)
{
    host_ops->session(conn, true);
}

const char *
ff_session_bind_group(ff_conn_t conn, uint32_t cmd)
{
    return host_ops->bind_group(conn, cmd);
}

void
ff_session_unbind(ff_conn_t conn)
{
    host_ops->session(conn, false);
}

void
ff_apphost_conn_lost(uint64_t conn)
{
    /* The app's hook runs first so that it can still read the session and channels. */
    if (current != NULL && current->lost != NULL)
        WITH_ACTIVE(current, FF_CRASH_CONN_LOST, 0, current->lost(conn));
    ff__appstate_forget(conn);
}

ff_app_t *
ff_apphost_retain(void)
{
    ff_app_t *m = active ? active : current;
    m->refs++;
    return m;
}

void
ff_apphost_call(ff_app_t *m, void (*fn)(void *), void *arg)
{
    WITH_ACTIVE(m, FF_CRASH_CALLBACK, 0, fn(arg));
}

void
ff_apphost_release(ff_app_t *m)
{
    module_release(m);
}

/* ---- timers ------------------------------------------------------------------------ */

static void
timer_closed_cb(uv_handle_t *h)
{
    app_timer_t *t = h->data;
    ff_apphost_release(t->mod);
    ff_free(t);
}

static void
timer_cb(uv_timer_t *h)
{
    app_timer_t *t = h->data;

    WITH_ACTIVE(t->mod, FF_CRASH_TIMER, 0, t->fn(t->arg));
    uv_close((uv_handle_t *)&t->timer, timer_closed_cb);
}

int
ff_timer_once(uint64_t ms, ff_timer_fn fn, void *arg)
{
    app_timer_t *t;

    if (fn == NULL) {
        ff__apphost_warn("ff_timer_once: fn is NULL%s; ignored", ff__apphost_running());
        return -1;
    }
    t = ff_malloc(sizeof(*t));
    t->fn = fn;
    t->arg = arg;
    t->mod = ff_apphost_retain();
    t->timer.data = t;
    uv_timer_init(ff_loop, &t->timer);
    uv_timer_start(&t->timer, timer_cb, ms, 0);
    return 0;
}
