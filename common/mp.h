/* mp: the subset of msgpack the bus speaks (arrays, maps, ints, nil, bool, str, bin), written
 * straight into an ff_buf_t and read in place with a cursor, without allocating. */
#ifndef FF_MP_H
#define FF_MP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Writers: append one msgpack value in its smallest encoding. */
void ff_mp_put_array(ff_buf_t *b, uint32_t n);
void ff_mp_put_map(ff_buf_t *b, uint32_t n);
void ff_mp_put_uint(ff_buf_t *b, uint64_t v);
void ff_mp_put_int(ff_buf_t *b, int64_t v);
void ff_mp_put_nil(ff_buf_t *b);
void ff_mp_put_bool(ff_buf_t *b, bool v);
void ff_mp_put_str(ff_buf_t *b, const char *s, size_t len);
void ff_mp_put_bin(ff_buf_t *b, const void *p, size_t len);

/* A read cursor over [p, end). Any mismatch or overrun sets err and every later read
 * fails too, so a decoder may check err once at the end. */
typedef struct {
    const uint8_t *p, *end;
    int err;
} ff_mp_reader_t;

/* Starts a cursor over len bytes at p. */
void ff_mp_reader_init(ff_mp_reader_t *r, const void *p, size_t len);
/* Reads an array header; *n = element count. Returns 0 or -1. */
int ff_mp_get_array(ff_mp_reader_t *r, uint32_t *n);
/* Reads a map header; *n = pair count. */
int ff_mp_get_map(ff_mp_reader_t *r, uint32_t *n);
/* Reads a non-negative integer. */
int ff_mp_get_uint(ff_mp_reader_t *r, uint64_t *v);
/* Reads a signed integer (positive values too). */
int ff_mp_get_int(ff_mp_reader_t *r, int64_t *v);
/* Reads a str or bin in place (not NUL-terminated; nil reads as empty). */
int ff_mp_get_bytes(ff_mp_reader_t *r, const uint8_t **p, uint32_t *len);
/* Skips one value of any supported type (nested containers too). */
int ff_mp_skip(ff_mp_reader_t *r);

#endif
