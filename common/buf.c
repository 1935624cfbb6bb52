/* buf: growth and compaction of ff_buf_t. */
#include "buf.h"

#include "alloc.h"

void
ff_buf_reserve(ff_buf_t *b, size_t extra)
{
    size_t need = b->len + extra, cap = b->cap ? b->cap : 256;

    if (need <= b->cap)
        return;
    while (cap < need)
        cap *= 2;
    b->data = ff_realloc(b->data, cap);
    b->cap = cap;
}

void
ff_buf_consume(ff_buf_t *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

void
ff_buf_free(ff_buf_t *b)
{
    ff_free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
