/* bus_fuzz: a bus link's frame reader (the length-prefix loop of link_frames) and
 * ff_bus_decode on a byte stream cut into pieces; every decoded field must lie inside its
 * frame, every list must hold the values it claims, and encoding the decoded message again
 * with the ff_bus_put_* encoders must decode to the same message. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "fuzz.h"

#define MAX_LIST 64 /* list elements re-encoded; longer lists are only walked */

typedef struct {
    const uint8_t *p;
    size_t len;
} span_t;

/* True when p[0..len) lies inside the frame f (an empty field may point anywhere). */
static bool
inside(const void *p, size_t len, span_t f)
{
    return len == 0 || ((const uint8_t *)p >= f.p && (const uint8_t *)p + len <= f.p + f.len);
}

/* Walks m's list; returns true when it holds only unsigned integers, copied to out. */
static bool
walk_list(const ff_bus_msg_t *m, span_t f, uint64_t *out, size_t *n)
{
    ff_mp_reader_t r = m->list, u;
    bool uints = true;

    *n = 0;
    for (uint32_t i = 0; i < m->nlist; i++) {
        uint64_t v;
        u = r;
        FUZZ_CHECK(ff_mp_skip(&r) == 0);
        FUZZ_CHECK(r.p <= f.p + f.len);
        if (ff_mp_get_uint(&u, &v) < 0 || u.p != r.p)
            uints = false;
        else if (*n < MAX_LIST)
            out[(*n)++] = v;
    }
    return uints && m->nlist <= MAX_LIST;
}

/* A NUL-terminated copy of a str field, or NULL when it holds a NUL (the encoders take C
 * strings, so such a message cannot be re-encoded). */
static char *
cstr(ff_str_t s)
{
    char *c;

    if (s.len > 0 && memchr(s.p, 0, s.len) != NULL)
        return NULL;
    c = calloc(1, s.len + 1);
    if (s.len > 0)
        memcpy(c, s.p, s.len);
    return c;
}

/* A body that must not hold NUL to be re-encoded (CALL and NOTIFY args are C strings). */
static char *
cbody(const ff_bus_msg_t *m)
{
    return cstr((ff_str_t){(const char *)m->body, m->body_len});
}

/* Re-encodes m into b; returns false when m cannot be encoded as it is. */
static bool
reencode(ff_buf_t *b, const ff_bus_msg_t *m, const uint64_t *list, size_t nlist, bool uints)
{
    char *s1 = NULL, *s2 = NULL;
    bool ok = true;
    uint32_t cmds[MAX_LIST];

    switch (m->kind) {
    case FF_BUS_HELLO:
        s1 = cstr(m->name);
        s2 = cstr(m->role);
        ok = s1 && s2 && uints && m->pid >= INT32_MIN && m->pid <= INT32_MAX &&
             (m->token_len == 0 || m->token_len == FF_BUS_TOKEN);
        for (size_t i = 0; ok && i < nlist; i++) {
            ok = list[i] <= UINT32_MAX;
            cmds[i] = (uint32_t)list[i];
        }
        if (ok)
            ff_bus_put_hello(b, s1, s2, (int)m->pid, cmds, nlist, m->token_len ? m->token : NULL);
        break;
    case FF_BUS_CALL:
    case FF_BUS_NOTIFY:
        s1 = cstr(m->method);
        s2 = cbody(m);
        ok = s1 && s2;
        if (ok && m->kind == FF_BUS_CALL)
            ff_bus_put_call(b, m->seq, s1, s2);
        else if (ok)
            ff_bus_put_notify(b, s1, s2);
        break;
    case FF_BUS_REPLY:
        ff_bus_put_reply(b, m->seq, m->status, (const char *)m->body, m->body_len);
        break;
    case FF_BUS_REQUEST:
        ff_bus_put_request(b, m->conn, m->seq, m->cmd, m->body, m->body_len);
        break;
    case FF_BUS_RESPONSE:
        ff_bus_put_response(b, m->conn, m->seq, m->status, m->body, m->body_len);
        break;
    case FF_BUS_PUSH:
        if ((ok = uints))
            ff_bus_put_push(b, list, nlist, m->cmd, m->body, m->body_len);
        break;
    case FF_BUS_CONN_LOST:
        ff_bus_put_conn_lost(b, m->conn);
        break;
    case FF_BUS_SESSION:
        if ((ok = m->status == 0 || m->status == 1))
            ff_bus_put_session(b, m->conn, m->status == 1);
        break;
    case FF_BUS_PING:
    case FF_BUS_PONG:
        ff_bus_put_ping(b, m->kind, m->stamp);
        break;
    case FF_BUS_LIVE:
        if ((ok = uints))
            ff_bus_put_live(b, list, nlist);
        break;
    default:
        FUZZ_CHECK(!"ff_bus_decode accepted an unknown kind");
    }
    free(s1);
    free(s2);
    return ok;
}

static bool
str_same(ff_str_t a, ff_str_t b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

static bool
bytes_same(const uint8_t *a, uint32_t alen, const uint8_t *b, uint32_t blen)
{
    return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

/* The scalar fields and byte strings of two messages match. */
static void
check_same(const ff_bus_msg_t *a, const ff_bus_msg_t *b)
{
    FUZZ_CHECK(a->kind == b->kind);
    FUZZ_CHECK(a->conn == b->conn && a->seq == b->seq && a->cmd == b->cmd);
    FUZZ_CHECK(a->status == b->status && a->pid == b->pid && a->stamp == b->stamp);
    FUZZ_CHECK(str_same(a->name, b->name) && str_same(a->role, b->role));
    FUZZ_CHECK(str_same(a->method, b->method));
    FUZZ_CHECK(bytes_same(a->token, a->token_len, b->token, b->token_len));
    FUZZ_CHECK(bytes_same(a->body, a->body_len, b->body, b->body_len));
    FUZZ_CHECK(a->nlist == b->nlist);
}

/* Checks one decoded frame payload (a heap copy of exactly its length). */
static void
check_msg(const ff_bus_msg_t *m, span_t f)
{
    uint64_t list[MAX_LIST], list2[MAX_LIST];
    size_t nlist, nlist2;
    bool uints;
    ff_buf_t b = {0};
    ff_bus_msg_t m2;

    FUZZ_CHECK(m->kind >= FF_BUS_HELLO && m->kind <= FF_BUS_LIVE && m->kind != FF_BUS_AUTH);
    FUZZ_CHECK(inside(m->name.p, m->name.len, f) && inside(m->role.p, m->role.len, f));
    FUZZ_CHECK(inside(m->method.p, m->method.len, f));
    FUZZ_CHECK(inside(m->token, m->token_len, f) && inside(m->body, m->body_len, f));
    FUZZ_CHECK(m->nlist <= f.len);
    uints = walk_list(m, f, list, &nlist);
    if (!reencode(&b, m, list, nlist, uints)) {
        ff_buf_free(&b);
        return;
    }
    FUZZ_CHECK(b.len >= 4 && ff_be32(b.data) == b.len - 4);
    FUZZ_CHECK(ff_bus_decode(b.data + 4, b.len - 4, &m2) == 0);
    check_same(m, &m2);
    FUZZ_CHECK(walk_list(&m2, (span_t){b.data + 4, b.len - 4}, list2, &nlist2) == uints);
    FUZZ_CHECK(nlist2 == nlist && memcmp(list, list2, nlist * sizeof(*list)) == 0);
    ff_buf_free(&b);
}

/* The reader's loop over buffered input: returns the bytes consumed, or -1 to close. */
static long
read_frames(const uint8_t *data, size_t len, uint64_t *digest)
{
    size_t used = 0;
    ff_bus_msg_t m;

    while (len - used >= 4) {
        uint32_t n = ff_be32(data + used);
        uint8_t *payload;
        int rc;

        if (n > FF_BUS_MAX_FRAME)
            return -1;
        if (len - used - 4 < n)
            break;
        payload = fuzz_dup(data + used + 4, n);
        rc = ff_bus_decode(payload, n, &m);
        if (rc == 0)
            check_msg(&m, (span_t){payload, n});
        free(payload);
        if (rc < 0)
            return -1;
        *digest = fuzz_hash(*digest, data + used, (size_t)n + 4);
        used += (size_t)n + 4;
    }
    return (long)used;
}

/* Feeds the stream in its pieces (or whole); returns a digest of the frames accepted and
 * whether the link was closed. */
static uint64_t
run(const fuzz_split_t *sp, bool whole, bool *closed)
{
    ff_buf_t in = {0};
    uint64_t digest = FUZZ_HASH_INIT;
    size_t npieces = whole ? (sp->len > 0) : sp->npieces;

    *closed = false;
    for (size_t i = 0; i < npieces && !*closed; i++) {
        size_t from = whole ? 0 : sp->at[i], to = whole ? sp->len : sp->at[i + 1];
        long used;

        ff_buf_put(&in, sp->data + from, to - from);
        used = read_frames(in.data, in.len, &digest);
        if (used < 0)
            *closed = true;
        else
            ff_buf_consume(&in, (size_t)used);
    }
    ff_buf_free(&in);
    return digest;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_split_t sp;
    bool closed_cut, closed_whole;
    uint64_t cut, whole;

    fuzz_split(&sp, data, size);
    cut = run(&sp, false, &closed_cut);
    whole = run(&sp, true, &closed_whole);
    FUZZ_CHECK(cut == whole && closed_cut == closed_whole);
    return 0;
}
