/* list: an intrusive circular doubly-linked list (the Linux kernel's shape). */
#ifndef FF_LIST_H
#define FF_LIST_H

#include <stddef.h>

typedef struct ff_list_s {
    struct ff_list_s *prev, *next;
} ff_list_t;

#define ff_container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* Makes an empty list head (or an unlinked node). */
static inline void
ff_list_init(ff_list_t *h)
{
    h->prev = h->next = h;
}

static inline int
ff_list_empty(const ff_list_t *h)
{
    return h->next == h;
}

/* Appends n at the tail of h. */
static inline void
ff_list_push(ff_list_t *h, ff_list_t *n)
{
    n->prev = h->prev;
    n->next = h;
    h->prev->next = n;
    h->prev = n;
}

/* Unlinks n (harmless on an unlinked node) and leaves it unlinked. */
static inline void
ff_list_remove(ff_list_t *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->prev = n->next = n;
}

#endif
