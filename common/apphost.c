/* apphost: app loading and hot reload, dispatch, replies, pushes, sessions, channels and
 * timers for the app running inside a node (the implementation of firefly/app.h). */
#include "apphost.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <uv.h>

#include "alloc.h"
#include "bus.h"
#include "list.h"
#include "log.h"
#include "map.h"
#include "node.h"

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
};

struct ff_req_s {
    ff_list_t link; /* in `unanswered` */
    ff_app_t *mod;
    void *origin;
    uint64_t conn;
    uint32_t rseq, cmd;
    json_t *json;
    bool json_tried;
    size_t len;
    uint8_t body[];
};

typedef struct {
    uv_timer_t timer;
    ff_timer_fn fn;
    void *arg;
    ff_app_t *mod;
} app_timer_t;

typedef struct {
    char *name;
    uint64_t *members;
    size_t n, cap;
} channel_t;

static const ff_apphost_ops_t *host_ops;
static char *host_name;
static ff_app_t *current;
static ff_app_t *active;  /* the module whose code is running now */
static ff_map_t sessions; /* conn -> json_t object of session values */
static channel_t *channels;
static json_t *states; /* ff_app_state: name -> object */
static size_t nchannels;
static size_t inflight;
static ff_list_t unanswered = {&unanswered, &unanswered}; /* dispatched, not completed */
static uint64_t handled;
static unsigned load_gen;

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

/* ---- modules ----------------------------------------------------------------------- */

static void
module_free(ff_app_t *m, bool call_fini)
{
    if (call_fini && m->desc->fini) {
        ff_app_t *saved = active;
        active = m;
        m->desc->fini(m);
        active = saved;
    }
    dlclose(m->dl);
    ff_map_clear(&m->index);
    ff_free(m->cmds);
    ff_free(m->fns);
    ff_free(m->path);
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

static void *
open_copy(const char *path, char *err, size_t errlen)
{
    char tmp[512];
    const char *dir = getenv("TMPDIR");
    void *dl;
    int rc;

    snprintf(tmp, sizeof(tmp), "%s/ff-%s-%d-%u.so", dir && *dir ? dir : "/tmp", host_name,
             (int)getpid(), load_gen++);
    rc = copy_file(path, tmp);
    if (rc < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(-rc));
        unlink(tmp);
        return NULL;
    }
    dl = dlopen(tmp, RTLD_NOW | RTLD_LOCAL);
    unlink(tmp);
    if (dl == NULL)
        snprintf(err, errlen, "%s: %s", path, dlerror());
    return dl;
}

int
ff_apphost_load(const char *path, char *err, size_t errlen)
{
    ff_app_t *m = ff_calloc(1, sizeof(*m)), *saved = active;
    int rc;

    m->dl = open_copy(path, err, errlen);
    if (m->dl == NULL)
        goto fail;
    m->desc = dlsym(m->dl, "ff_app_module");
    if (m->desc == NULL || m->desc->abi != FF_APP_ABI) {
        snprintf(err, errlen, "%s: %s", path,
                 m->desc ? "built for another ABI version (rebuild it against firefly/app.h)"
                         : "no ff_app_module (missing FF_APP_MODULE)");
        goto fail_dl;
    }
    m->path = ff_strdup(path);
    m->refs = 1;
    active = m;
    rc = m->desc->init(m);
    active = saved;
    if (rc != 0) {
        snprintf(err, errlen, "%s: init failed (%d)", path, rc);
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

int
ff_app_handle(ff_app_t *app, uint32_t cmd, ff_handler_fn fn)
{
    if (ff_map_get(&app->index, (uint64_t)cmd + 1) != NULL)
        return -1;
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
        json_decref(req->json);
        inflight--;
        module_release(req->mod);
        ff_free(req);
    }
    for (size_t i = 0; sessions.slots && i <= sessions.mask; i++)
        if (sessions.slots[i].key)
            json_decref(sessions.slots[i].value);
    ff_map_clear(&sessions);
    for (size_t i = 0; i < nchannels; i++) {
        ff_free(channels[i].name);
        ff_free(channels[i].members);
    }
    ff_free(channels);
    channels = NULL;
    nchannels = 0;
    json_decref(states);
    states = NULL;
    ff_free(host_name);
    host_name = NULL;
}

/* ---- requests ---------------------------------------------------------------------- */

/* Runs app code of module m with `active` pointing at it (for timers it starts). */
#define WITH_ACTIVE(m, stmt)                                                                       \
    do {                                                                                           \
        ff_app_t *saved_ = active;                                                                 \
        active = (m);                                                                              \
        stmt;                                                                                      \
        active = saved_;                                                                           \
    } while (0)

void
ff_apphost_dispatch(void *origin, uint64_t conn, uint32_t rseq, uint32_t cmd, const uint8_t *body,
                    size_t len)
{
    ff_req_t *req = ff_malloc(sizeof(*req) + len + 1);
    size_t i = (size_t)(uintptr_t)ff_map_get(&current->index, (uint64_t)cmd + 1) - 1;

    req->mod = current;
    req->origin = origin;
    req->conn = conn;
    req->rseq = rseq;
    req->cmd = cmd;
    req->json = NULL;
    req->json_tried = false;
    req->len = len;
    memcpy(req->body, body, len);
    req->body[len] = '\0';
    ff_list_push(&unanswered, &req->link);
    current->refs++;
    inflight++;
    handled++;
    WITH_ACTIVE(req->mod, req->mod->fns[i](req));
}

uint32_t
ff_req_cmd(const ff_req_t *req)
{
    return req->cmd;
}

ff_conn_t
ff_req_conn(const ff_req_t *req)
{
    return req->conn;
}

const uint8_t *
ff_req_body(const ff_req_t *req, size_t *len)
{
    *len = req->len;
    return req->body;
}

json_t *
ff_req_json(ff_req_t *req)
{
    if (!req->json_tried) {
        req->json_tried = true;
        req->json = json_loadb((const char *)req->body, req->len, 0, NULL);
    }
    return req->json;
}

static void
complete(ff_req_t *req, int status, const void *body, size_t len)
{
    ff_app_t *m = req->mod;

    host_ops->respond(req->origin, req->conn, req->rseq, status, body, len);
    ff_list_remove(&req->link);
    json_decref(req->json);
    ff_free(req);
    inflight--;
    module_release(m);
}

void
ff_reply_raw(ff_req_t *req, const void *body, size_t len)
{
    complete(req, FF_BUS_OK, body, len);
}

void
ff_reply_json(ff_req_t *req, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);

    complete(req, FF_BUS_OK, text, text ? strlen(text) : 0);
    free(text);
    json_decref(body);
}

void
ff_reply_none(ff_req_t *req)
{
    complete(req, FF_BUS_NOREPLY, NULL, 0);
}

void
ff_reply_error(ff_req_t *req, int code, const char *message)
{
    json_t *j = json_pack("{s:{s:i,s:s}}", "error", "code", code, "message", message);
    char *text = json_dumps(j, JSON_COMPACT);

    complete(req, FF_BUS_ERROR, text, strlen(text));
    free(text);
    json_decref(j);
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

void
ff_push(const ff_conn_t *conns, size_t n, uint32_t cmd, const void *body, size_t len)
{
    if (n > 0)
        host_ops->push(conns, n, cmd, body, len);
}

void
ff_push_json(const ff_conn_t *conns, size_t n, uint32_t cmd, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);

    ff_push(conns, n, cmd, text, text ? strlen(text) : 0);
    free(text);
    json_decref(body);
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
ff_session_set(ff_conn_t conn, const char *key, const char *value)
{
    json_t *s = ff_map_get(&sessions, conn);

    if (s == NULL) {
        if (value == NULL)
            return;
        s = json_object();
        ff_map_set(&sessions, conn, s);
    }
    if (value != NULL)
        json_object_set_new(s, key, json_string(value));
    else
        json_object_del(s, key);
}

const char *
ff_session_get(ff_conn_t conn, const char *key)
{
    json_t *s = ff_map_get(&sessions, conn);
    return s ? json_string_value(json_object_get(s, key)) : NULL;
}

size_t
ff_apphost_sessions(void)
{
    return sessions.count;
}

/* Adds conn to the set and the array unless the set has it. */
static void
known_add(ff_map_t *seen, uint64_t *out, size_t *n, uint64_t conn)
{
    if (ff_map_get(seen, conn) != NULL)
        return;
    ff_map_set(seen, conn, (void *)1);
    out[(*n)++] = conn;
}

uint64_t *
ff_apphost_known_conns(size_t *n)
{
    size_t cap = sessions.count;
    ff_map_t seen = {0};
    uint64_t *out;

    for (size_t i = 0; i < nchannels; i++)
        cap += channels[i].n;
    *n = 0;
    if (cap == 0)
        return NULL;
    out = ff_malloc(cap * sizeof(*out));
    for (size_t i = 0; sessions.slots && i <= sessions.mask; i++)
        if (sessions.slots[i].key)
            known_add(&seen, out, n, sessions.slots[i].key);
    for (size_t i = 0; i < nchannels; i++)
        for (size_t k = 0; k < channels[i].n; k++)
            known_add(&seen, out, n, channels[i].members[k]);
    ff_map_clear(&seen);
    return out;
}

json_t *
ff_app_state(const char *name)
{
    json_t *state;

    if (states == NULL)
        states = json_object();
    if ((state = json_object_get(states, name)) == NULL) {
        state = json_object();
        json_object_set_new(states, name, state);
    }
    return state;
}

/* ---- channels ---------------------------------------------------------------------- */

static channel_t *
channel_find(const char *name)
{
    for (size_t i = 0; i < nchannels; i++)
        if (strcmp(channels[i].name, name) == 0)
            return &channels[i];
    return NULL;
}

void
ff_channel_join(const char *name, ff_conn_t conn)
{
    channel_t *c = channel_find(name);

    if (c == NULL) {
        channels = ff_realloc(channels, (nchannels + 1) * sizeof(*channels));
        c = &channels[nchannels++];
        memset(c, 0, sizeof(*c));
        c->name = ff_strdup(name);
    }
    for (size_t i = 0; i < c->n; i++)
        if (c->members[i] == conn)
            return;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 8;
        c->members = ff_realloc(c->members, c->cap * sizeof(*c->members));
    }
    c->members[c->n++] = conn;
}

static void
channel_remove(channel_t *c, ff_conn_t conn)
{
    for (size_t i = 0; i < c->n; i++) {
        if (c->members[i] == conn) {
            memmove(&c->members[i], &c->members[i + 1], (c->n - i - 1) * sizeof(*c->members));
            c->n--;
            break;
        }
    }
    if (c->n == 0) {
        ff_free(c->name);
        ff_free(c->members);
        *c = channels[--nchannels];
    }
}

void
ff_channel_leave(const char *name, ff_conn_t conn)
{
    channel_t *c = channel_find(name);
    if (c != NULL)
        channel_remove(c, conn);
}

size_t
ff_channel_members(const char *name, ff_conn_t *out, size_t max)
{
    channel_t *c = channel_find(name);

    if (c == NULL)
        return 0;
    for (size_t i = 0; i < c->n && i < max; i++)
        out[i] = c->members[i];
    return c->n;
}

void
ff_channel_push(const char *name, ff_conn_t except, uint32_t cmd, const void *body, size_t len)
{
    channel_t *c = channel_find(name);
    ff_conn_t *to;
    size_t n = 0;

    if (c == NULL)
        return;
    to = ff_malloc(c->n * sizeof(*to));
    for (size_t i = 0; i < c->n; i++)
        if (c->members[i] != except)
            to[n++] = c->members[i];
    ff_push(to, n, cmd, body, len);
    ff_free(to);
}

void
ff_apphost_conn_lost(uint64_t conn)
{
    json_t *s;

    /* The app's hook runs first so that it can still read the session and channels. */
    if (current != NULL && current->lost != NULL)
        WITH_ACTIVE(current, current->lost(conn));
    s = ff_map_del(&sessions, conn);
    json_decref(s);
    for (size_t i = nchannels; i-- > 0;)
        for (size_t k = 0; k < channels[i].n; k++)
            if (channels[i].members[k] == conn) {
                channel_remove(&channels[i], conn);
                break;
            }
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
    WITH_ACTIVE(m, fn(arg));
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

    ff_apphost_call(t->mod, t->fn, t->arg);
    uv_close((uv_handle_t *)&t->timer, timer_closed_cb);
}

void
ff_timer_once(uint64_t ms, ff_timer_fn fn, void *arg)
{
    app_timer_t *t = ff_malloc(sizeof(*t));

    t->fn = fn;
    t->arg = arg;
    t->mod = ff_apphost_retain();
    t->timer.data = t;
    uv_timer_init(ff_loop, &t->timer);
    uv_timer_start(&t->timer, timer_cb, ms, 0);
}
