/* appstate: what the node keeps for its app across /reload: session values per connection,
 * channels and the ff_app_state objects (part of apphost; the implementation of those calls
 * of firefly/app.h). */
#include "appstate.h"

#include <string.h>

#include "alloc.h"
#include "apphost.h"
#include "map.h"

typedef struct {
    char *name;
    uint64_t *members;
    size_t n, cap;
} channel_t;

static ff_map_t sessions; /* conn -> json_t object of session values */
static channel_t *channels;
static size_t nchannels;
static json_t *states; /* ff_app_state: name -> object */

/* ---- sessions ---------------------------------------------------------------------- */

int
ff_session_set(ff_conn_t conn, const char *key, const char *value)
{
    json_t *s = ff_map_get(&sessions, conn);

    if (!ff__apphost_name_ok("ff_session_set", "key", key))
        return -1;
    if (s == NULL) {
        if (value == NULL)
            return 0;
        s = json_object();
        ff_map_set(&sessions, conn, s);
    }
    if (value != NULL)
        json_object_set_new(s, key, json_string(value));
    else
        json_object_del(s, key);
    return 0;
}

const char *
ff_session_get(ff_conn_t conn, const char *key)
{
    json_t *s = ff_map_get(&sessions, conn);

    if (!ff__apphost_name_ok("ff_session_get", "key", key))
        return NULL;
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

    if (!ff__apphost_name_ok("ff_app_state", "name", name))
        return NULL;
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

int
ff_channel_join(const char *name, ff_conn_t conn)
{
    channel_t *c;

    if (!ff__apphost_name_ok("ff_channel_join", "name", name))
        return -1;
    if ((c = channel_find(name)) == NULL) {
        channels = ff_realloc(channels, (nchannels + 1) * sizeof(*channels));
        c = &channels[nchannels++];
        memset(c, 0, sizeof(*c));
        c->name = ff_strdup(name);
    }
    for (size_t i = 0; i < c->n; i++)
        if (c->members[i] == conn)
            return 0;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 8;
        c->members = ff_realloc(c->members, c->cap * sizeof(*c->members));
    }
    c->members[c->n++] = conn;
    return 0;
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

int
ff_channel_leave(const char *name, ff_conn_t conn)
{
    channel_t *c;

    if (!ff__apphost_name_ok("ff_channel_leave", "name", name))
        return -1;
    if ((c = channel_find(name)) != NULL)
        channel_remove(c, conn);
    return 0;
}

size_t
ff_channel_members(const char *name, ff_conn_t *out, size_t max)
{
    channel_t *c;

    if (!ff__apphost_name_ok("ff_channel_members", "name", name) ||
        !ff__apphost_bytes_ok("ff_channel_members", out, max, "out", "max"))
        return 0;
    if ((c = channel_find(name)) == NULL)
        return 0;
    for (size_t i = 0; i < c->n && i < max; i++)
        out[i] = c->members[i];
    return c->n;
}

int
ff_channel_push(const char *name, ff_conn_t except, uint32_t cmd, const void *body, size_t len)
{
    channel_t *c;
    ff_conn_t *to;
    size_t n = 0;
    int rc;

    if (!ff__apphost_name_ok("ff_channel_push", "name", name) ||
        !ff__apphost_bytes_ok("ff_channel_push", body, len, "body", "len"))
        return -1;
    if ((c = channel_find(name)) == NULL)
        return 0;
    to = ff_malloc(c->n * sizeof(*to));
    for (size_t i = 0; i < c->n; i++)
        if (c->members[i] != except)
            to[n++] = c->members[i];
    rc = ff_push(to, n, cmd, body, len);
    ff_free(to);
    return rc;
}

void
ff__appstate_forget(uint64_t conn)
{
    json_decref(ff_map_del(&sessions, conn));
    for (size_t i = nchannels; i-- > 0;)
        for (size_t k = 0; k < channels[i].n; k++)
            if (channels[i].members[k] == conn) {
                channel_remove(&channels[i], conn);
                break;
            }
}

void
ff__appstate_close(void)
{
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
}
