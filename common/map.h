/* map: an open-addressing hash map from non-zero uint64_t keys to pointers (conn ids,
 * command ids), with linear probing and backward-shift deletion. */
#ifndef FF_MAP_H
#define FF_MAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t key; /* 0 = empty slot */
    void *value;
} ff_map_slot_t;

typedef struct {
    ff_map_slot_t *slots;
    size_t mask, count;
} ff_map_t;

/* Zeroed memory is an empty map; so is the map after ff_map_clear. */
void ff_map_clear(ff_map_t *m);
/* The value under key, or NULL. */
void *ff_map_get(const ff_map_t *m, uint64_t key);
/* Sets key (non-zero) to value, replacing any previous value. */
void ff_map_set(ff_map_t *m, uint64_t key, void *value);
/* Removes key and returns its value, or NULL when absent. */
void *ff_map_del(ff_map_t *m, uint64_t key);

/* Iterates: for (size_t i = 0; i <= m->mask && m->slots; i++) if (m->slots[i].key) ... */

#endif
