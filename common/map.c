/* map: open addressing with linear probing; the table doubles past 50% load. */
#include "map.h"

#include "alloc.h"

static size_t
slot_of(const ff_map_t *m, uint64_t key)
{
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdull;
    key ^= key >> 33;
    return (size_t)key & m->mask;
}

void
ff_map_clear(ff_map_t *m)
{
    ff_free(m->slots);
    m->slots = NULL;
    m->mask = m->count = 0;
}

void *
ff_map_get(const ff_map_t *m, uint64_t key)
{
    if (m->slots == NULL)
        return NULL;
    for (size_t i = slot_of(m, key);; i = (i + 1) & m->mask) {
        if (m->slots[i].key == key)
            return m->slots[i].value;
        if (m->slots[i].key == 0)
            return NULL;
    }
}

static void
grow(ff_map_t *m)
{
    ff_map_slot_t *old = m->slots;
    size_t n = old ? m->mask + 1 : 0;

    m->mask = n ? n * 2 - 1 : 15;
    m->slots = ff_calloc(m->mask + 1, sizeof(*m->slots));
    m->count = 0;
    for (size_t i = 0; i < n; i++)
        if (old[i].key)
            ff_map_set(m, old[i].key, old[i].value);
    ff_free(old);
}

void
ff_map_set(ff_map_t *m, uint64_t key, void *value)
{
    size_t i;

    if (m->slots == NULL || (m->count + 1) * 2 > m->mask + 1)
        grow(m);
    for (i = slot_of(m, key); m->slots[i].key != 0; i = (i + 1) & m->mask) {
        if (m->slots[i].key == key) {
            m->slots[i].value = value;
            return;
        }
    }
    m->slots[i].key = key;
    m->slots[i].value = value;
    m->count++;
}

void *
ff_map_del(ff_map_t *m, uint64_t key)
{
    size_t i, j;
    void *value;

    if (m->slots == NULL)
        return NULL;
    for (i = slot_of(m, key); m->slots[i].key != key; i = (i + 1) & m->mask)
        if (m->slots[i].key == 0)
            return NULL;
    value = m->slots[i].value;
    /* Backward-shift: move later entries of the probe run into the hole so lookups
     * never stop early at it. */
    for (j = (i + 1) & m->mask; m->slots[j].key != 0; j = (j + 1) & m->mask) {
        size_t home = slot_of(m, m->slots[j].key);
        if (((j - home) & m->mask) >= ((j - i) & m->mask)) {
            m->slots[i] = m->slots[j];
            i = j;
        }
    }
    m->slots[i].key = 0;
    m->slots[i].value = NULL;
    m->count--;
    return value;
}
