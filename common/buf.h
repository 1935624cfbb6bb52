/* buf: a growable byte buffer, the unit of I/O batching on streams and bus links. */
#ifndef FF_BUF_H
#define FF_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    uint8_t *data;
    size_t len, cap;
} ff_buf_t;

/* Makes room for `extra` more bytes past len. */
void ff_buf_reserve(ff_buf_t *b, size_t extra);
/* Drops the first n bytes, moving the rest to the front. */
void ff_buf_consume(ff_buf_t *b, size_t n);
/* Releases the memory; the buffer is empty and usable afterwards. */
void ff_buf_free(ff_buf_t *b);

/* Appends n bytes (none: p may be NULL). */
static inline void
ff_buf_put(ff_buf_t *b, const void *p, size_t n)
{
    if (n == 0)
        return;
    if (b->cap - b->len < n)
        ff_buf_reserve(b, n);
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

/* Appends a big-endian 32-bit value. */
static inline void
ff_buf_put_be32(ff_buf_t *b, uint32_t v)
{
    uint8_t p[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    ff_buf_put(b, p, 4);
}

/* Reads a big-endian 32-bit value. */
static inline uint32_t
ff_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

#endif
