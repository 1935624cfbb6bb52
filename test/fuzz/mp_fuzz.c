/* mp_fuzz: the msgpack reader of the bus (common/mp.c) on inputs up to 1 MiB: ff_mp_skip
 * over every value (iterative: a million nested arrays must cost a loop, not the stack),
 * and a walk with the typed readers chosen by the input's first bytes. Nothing may be read
 * past the input, a cursor never moves backwards or past the end, an error sticks, and a
 * value read can be written back by ff_mp_put_* and read again as the same value. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "mp.h"

#define MAX_OPS 16

static void
check_cursor(const ff_mp_reader_t *r, const uint8_t *before, const uint8_t *start,
             const uint8_t *end)
{
    FUZZ_CHECK(r->p >= before && r->p >= start && r->p <= end && r->end == end);
}

/* Skips values until the end or an error; each skip moves forward by at least a byte. */
static void
skip_all(const uint8_t *p, size_t len)
{
    ff_mp_reader_t r;

    ff_mp_reader_init(&r, p, len);
    while (r.p < r.end) {
        const uint8_t *before = r.p;
        if (ff_mp_skip(&r) < 0) {
            FUZZ_CHECK(r.err == -1);
            FUZZ_CHECK(ff_mp_skip(&r) < 0); /* errors stick */
            break;
        }
        FUZZ_CHECK(r.err == 0 && r.p > before);
        check_cursor(&r, before, p, p + len);
    }
}

/* The value just read, written back and read again with the same reader. */
static void
roundtrip(int op, uint64_t u, int64_t i, const uint8_t *bytes, uint32_t blen, uint32_t n)
{
    ff_buf_t b = {0};
    ff_mp_reader_t r;
    uint64_t u2 = 0;
    int64_t i2 = 0;
    const uint8_t *bytes2 = NULL;
    uint32_t blen2 = 0, n2 = 0;

    switch (op) {
    case 0:
        ff_mp_put_array(&b, n);
        break;
    case 1:
        ff_mp_put_map(&b, n);
        break;
    case 2:
        ff_mp_put_uint(&b, u);
        break;
    case 3:
        ff_mp_put_int(&b, i);
        break;
    default:
        ff_mp_put_bin(&b, bytes, blen);
        break;
    }
    ff_mp_reader_init(&r, b.data, b.len);
    if (op == 0)
        FUZZ_CHECK(ff_mp_get_array(&r, &n2) == 0 && n2 == n);
    else if (op == 1)
        FUZZ_CHECK(ff_mp_get_map(&r, &n2) == 0 && n2 == n);
    else if (op == 2)
        FUZZ_CHECK(ff_mp_get_uint(&r, &u2) == 0 && u2 == u);
    else if (op == 3)
        FUZZ_CHECK(ff_mp_get_int(&r, &i2) == 0 && i2 == i);
    else
        FUZZ_CHECK(ff_mp_get_bytes(&r, &bytes2, &blen2) == 0 && blen2 == blen &&
                   (blen == 0 || memcmp(bytes2, bytes, blen) == 0));
    FUZZ_CHECK(r.p == r.end);
    ff_buf_free(&b);
}

/* Reads with the readers the ops name (one per op byte, repeated), checking each result. */
static void
walk(const uint8_t *ops, size_t nops, const uint8_t *p, size_t len)
{
    ff_mp_reader_t r;

    ff_mp_reader_init(&r, p, len);
    for (size_t k = 0; k < 4096 && r.p < r.end && !r.err; k++) {
        int op = ops[k % nops] % 6, rc;
        const uint8_t *before = r.p, *bytes = NULL;
        uint32_t n = 0, blen = 0;
        uint64_t u = 0;
        int64_t i = 0;

        if (op == 0)
            rc = ff_mp_get_array(&r, &n);
        else if (op == 1)
            rc = ff_mp_get_map(&r, &n);
        else if (op == 2)
            rc = ff_mp_get_uint(&r, &u);
        else if (op == 3)
            rc = ff_mp_get_int(&r, &i);
        else if (op == 4)
            rc = ff_mp_get_bytes(&r, &bytes, &blen);
        else
            rc = ff_mp_skip(&r);
        check_cursor(&r, before, p, p + len);
        FUZZ_CHECK((rc == 0) == (r.err == 0));
        if (rc < 0)
            break;
        FUZZ_CHECK(r.p > before);
        if (op == 4)
            FUZZ_CHECK(blen <= (size_t)(r.p - before) && (blen == 0 || bytes + blen == r.p));
        if (op < 5)
            roundtrip(op, u, i, bytes, blen, n);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t nops = size > 0 ? 1 + data[0] % MAX_OPS : 0;
    uint8_t *copy;

    if (size <= nops)
        return 0;
    /* An exact-size heap copy: a read past the input is an error ASan sees. */
    copy = fuzz_dup(data + nops, size - nops);
    skip_all(copy, size - nops);
    walk(data, nops, copy, size - nops);
    free(copy);
    return 0;
}
