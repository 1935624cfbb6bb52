/* alloc: the one allocator. Every function aborts with the size on OOM, so callers never
 * check for NULL. */
#ifndef FF_ALLOC_H
#define FF_ALLOC_H

#include <stddef.h>

/* malloc that never returns NULL (aborts, logging the size). */
void *ff_malloc(size_t size);
/* calloc that never returns NULL. */
void *ff_calloc(size_t n, size_t size);
/* realloc that never returns NULL; ff_realloc(NULL, n) == ff_malloc(n). */
void *ff_realloc(void *p, size_t size);
/* strdup that never returns NULL; ff_strdup(NULL) returns NULL. */
char *ff_strdup(const char *s);
/* strndup that never returns NULL. */
char *ff_strndup(const char *s, size_t n);
/* free; ff_free(NULL) is a no-op. */
void ff_free(void *p);

#endif
