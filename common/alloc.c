/* alloc: malloc wrappers that abort on OOM with the requested size. */
#include "alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
oom(size_t size)
{
    fprintf(stderr, "firefly: out of memory allocating %zu bytes\n", size);
    abort();
}

void *
ff_malloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (p == NULL)
        oom(size);
    return p;
}

void *
ff_calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (p == NULL)
        oom(n * size);
    return p;
}

void *
ff_realloc(void *p, size_t size)
{
    void *q = realloc(p, size ? size : 1);
    if (q == NULL)
        oom(size);
    return q;
}

char *
ff_strdup(const char *s)
{
    return s ? ff_strndup(s, strlen(s)) : NULL;
}

char *
ff_strndup(const char *s, size_t n)
{
    char *d = ff_malloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

void
ff_free(void *p)
{
    free(p);
}
