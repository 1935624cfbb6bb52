/* mp: msgpack writer and in-place reader for the bus envelope. */
#include "mp.h"

static void
put_tag8(ff_buf_t *b, uint8_t tag, uint8_t v)
{
    uint8_t p[2] = {tag, v};
    ff_buf_put(b, p, 2);
}

static void
put_tag16(ff_buf_t *b, uint8_t tag, uint16_t v)
{
    uint8_t p[3] = {tag, (uint8_t)(v >> 8), (uint8_t)v};
    ff_buf_put(b, p, 3);
}

static void
put_tag32(ff_buf_t *b, uint8_t tag, uint32_t v)
{
    ff_buf_put(b, &tag, 1);
    ff_buf_put_be32(b, v);
}

static void
put_tag64(ff_buf_t *b, uint8_t tag, uint64_t v)
{
    put_tag32(b, tag, (uint32_t)(v >> 32));
    ff_buf_put_be32(b, (uint32_t)v);
}

static void
put_container(ff_buf_t *b, uint32_t n, uint8_t fix, uint8_t t16, uint8_t t32)
{
    uint8_t tag;

    if (n < 16) {
        tag = (uint8_t)(fix | n);
        ff_buf_put(b, &tag, 1);
    } else if (n <= 0xffff) {
        put_tag16(b, t16, (uint16_t)n);
    } else {
        put_tag32(b, t32, n);
    }
}

void
ff_mp_put_array(ff_buf_t *b, uint32_t n)
{
    put_container(b, n, 0x90, 0xdc, 0xdd);
}

void
ff_mp_put_map(ff_buf_t *b, uint32_t n)
{
    put_container(b, n, 0x80, 0xde, 0xdf);
}

void
ff_mp_put_uint(ff_buf_t *b, uint64_t v)
{
    uint8_t tag;

    if (v < 128) {
        tag = (uint8_t)v;
        ff_buf_put(b, &tag, 1);
    } else if (v <= 0xff) {
        put_tag8(b, 0xcc, (uint8_t)v);
    } else if (v <= 0xffff) {
        put_tag16(b, 0xcd, (uint16_t)v);
    } else if (v <= 0xffffffffu) {
        put_tag32(b, 0xce, (uint32_t)v);
    } else {
        put_tag64(b, 0xcf, v);
    }
}

void
ff_mp_put_int(ff_buf_t *b, int64_t v)
{
    uint8_t tag;

    if (v >= 0) {
        ff_mp_put_uint(b, (uint64_t)v);
    } else if (v >= -32) {
        tag = (uint8_t)(int8_t)v;
        ff_buf_put(b, &tag, 1);
    } else if (v >= INT8_MIN) {
        put_tag8(b, 0xd0, (uint8_t)(int8_t)v);
    } else if (v >= INT16_MIN) {
        put_tag16(b, 0xd1, (uint16_t)(int16_t)v);
    } else if (v >= INT32_MIN) {
        put_tag32(b, 0xd2, (uint32_t)(int32_t)v);
    } else {
        put_tag64(b, 0xd3, (uint64_t)v);
    }
}

void
ff_mp_put_nil(ff_buf_t *b)
{
    uint8_t tag = 0xc0;
    ff_buf_put(b, &tag, 1);
}

void
ff_mp_put_bool(ff_buf_t *b, bool v)
{
    uint8_t tag = v ? 0xc3 : 0xc2;
    ff_buf_put(b, &tag, 1);
}

static void
put_raw(ff_buf_t *b, const void *p, size_t len, uint8_t t8, uint8_t t16, uint8_t t32)
{
    if (len <= 0xff)
        put_tag8(b, t8, (uint8_t)len);
    else if (len <= 0xffff)
        put_tag16(b, t16, (uint16_t)len);
    else
        put_tag32(b, t32, (uint32_t)len);
    ff_buf_put(b, p, len);
}

void
ff_mp_put_str(ff_buf_t *b, const char *s, size_t len)
{
    uint8_t tag;

    if (len < 32) {
        tag = (uint8_t)(0xa0 | len);
        ff_buf_put(b, &tag, 1);
        ff_buf_put(b, s, len);
        return;
    }
    put_raw(b, s, len, 0xd9, 0xda, 0xdb);
}

void
ff_mp_put_bin(ff_buf_t *b, const void *p, size_t len)
{
    put_raw(b, p, len, 0xc4, 0xc5, 0xc6);
}

void
ff_mp_reader_init(ff_mp_reader_t *r, const void *p, size_t len)
{
    r->p = p;
    r->end = r->p + len;
    r->err = 0;
}

/* Takes n bytes off the cursor; NULL (and err set) when fewer remain. */
static const uint8_t *
take(ff_mp_reader_t *r, size_t n)
{
    const uint8_t *p = r->p;

    if (r->err || (size_t)(r->end - r->p) < n) {
        r->err = -1;
        return NULL;
    }
    r->p += n;
    return p;
}

static uint64_t
be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* Reads a big-endian field of n bytes (1, 2, 4 or 8). */
static int
get_be(ff_mp_reader_t *r, int n, uint64_t *v)
{
    const uint8_t *p = take(r, (size_t)n);
    if (p == NULL)
        return -1;
    *v = be(p, n);
    return 0;
}

static int
fail(ff_mp_reader_t *r)
{
    r->err = -1;
    return -1;
}

static int
get_container(ff_mp_reader_t *r, uint32_t *n, uint8_t fix, uint8_t t16, uint8_t t32)
{
    const uint8_t *t = take(r, 1);
    uint64_t v;

    if (t == NULL)
        return -1;
    if ((*t & 0xf0) == fix) {
        *n = *t & 0x0f;
        return 0;
    }
    if (*t != t16 && *t != t32)
        return fail(r);
    if (get_be(r, *t == t16 ? 2 : 4, &v) < 0)
        return -1;
    *n = (uint32_t)v;
    return 0;
}

int
ff_mp_get_array(ff_mp_reader_t *r, uint32_t *n)
{
    return get_container(r, n, 0x90, 0xdc, 0xdd);
}

int
ff_mp_get_map(ff_mp_reader_t *r, uint32_t *n)
{
    return get_container(r, n, 0x80, 0xde, 0xdf);
}

int
ff_mp_get_int(ff_mp_reader_t *r, int64_t *v)
{
    const uint8_t *t = take(r, 1);
    uint64_t u;

    if (t == NULL)
        return -1;
    if (*t < 0x80 || *t >= 0xe0) {
        *v = (int8_t)*t;
        if (*t < 0x80)
            *v = *t;
        return 0;
    }
    switch (*t) {
    case 0xcc:
    case 0xcd:
    case 0xce:
    case 0xcf:
        if (get_be(r, 1 << (*t - 0xcc), &u) < 0 || (*t == 0xcf && u > INT64_MAX))
            return fail(r);
        *v = (int64_t)u;
        return 0;
    case 0xd0:
    case 0xd1:
    case 0xd2:
    case 0xd3: {
        int n = 1 << (*t - 0xd0);
        if (get_be(r, n, &u) < 0)
            return -1;
        *v = n == 8 ? (int64_t)u : (int64_t)(u ^ (1ull << (n * 8 - 1))) - (1ll << (n * 8 - 1));
        return 0;
    }
    default:
        return fail(r);
    }
}

int
ff_mp_get_uint(ff_mp_reader_t *r, uint64_t *v)
{
    const uint8_t *t = r->err || r->p >= r->end ? NULL : r->p;
    int64_t s;

    if (t != NULL && *t == 0xcf) {
        r->p++;
        return get_be(r, 8, v);
    }
    if (ff_mp_get_int(r, &s) < 0 || s < 0)
        return fail(r);
    *v = (uint64_t)s;
    return 0;
}

int
ff_mp_get_bytes(ff_mp_reader_t *r, const uint8_t **p, uint32_t *len)
{
    const uint8_t *t = take(r, 1);
    uint64_t n;

    if (t == NULL)
        return -1;
    if ((*t & 0xe0) == 0xa0) {
        n = *t & 0x1f;
    } else if (*t == 0xc0) {
        n = 0;
    } else if (*t == 0xd9 || *t == 0xc4) {
        if (get_be(r, 1, &n) < 0)
            return -1;
    } else if (*t == 0xda || *t == 0xc5) {
        if (get_be(r, 2, &n) < 0)
            return -1;
    } else if (*t == 0xdb || *t == 0xc6) {
        if (get_be(r, 4, &n) < 0)
            return -1;
    } else {
        return fail(r);
    }
    *p = take(r, (size_t)n);
    *len = (uint32_t)n;
    return *p == NULL && n > 0 ? -1 : r->err;
}

/* Skips one scalar, or reads a container's header and adds its element count to *more. */
static int
skip_one(ff_mp_reader_t *r, uint64_t *more)
{
    const uint8_t *t = r->err || r->p >= r->end ? NULL : r->p;
    uint32_t n;
    int64_t i;
    const uint8_t *p;

    if (t == NULL)
        return fail(r);
    if ((*t & 0xf0) == 0x90 || *t == 0xdc || *t == 0xdd) {
        if (ff_mp_get_array(r, &n) < 0)
            return -1;
        *more += n;
        return 0;
    }
    if ((*t & 0xf0) == 0x80 || *t == 0xde || *t == 0xdf) {
        if (ff_mp_get_map(r, &n) < 0)
            return -1;
        *more += 2 * (uint64_t)n;
        return 0;
    }
    if (*t == 0xc2 || *t == 0xc3) {
        r->p++;
        return 0;
    }
    if ((*t & 0xe0) == 0xa0 || *t == 0xc0 || (*t >= 0xc4 && *t <= 0xc6) ||
        (*t >= 0xd9 && *t <= 0xdb))
        return ff_mp_get_bytes(r, &p, &n);
    if (*t == 0xcf) {
        uint64_t u;
        return ff_mp_get_uint(r, &u);
    }
    return ff_mp_get_int(r, &i);
}

/* Iterative, with a count of values still to skip instead of recursion, so that a peer's
 * million nested arrays cost a loop, not a stack. Every value takes at least one byte, so
 * a count past the bytes left fails at the first overrun. */
int
ff_mp_skip(ff_mp_reader_t *r)
{
    uint64_t left = 1;

    while (left > 0) {
        left--;
        if (skip_one(r, &left) < 0)
            return -1;
        if (left > (uint64_t)(r->end - r->p))
            return fail(r);
    }
    return 0;
}
